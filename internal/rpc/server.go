// Package rpc serves the Ethereum JSON-RPC API of a peer (eth_, net_,
// web3_) over HTTP and WebSocket on one port, with go-ethereum's rpc.Server
// underneath and go-ethereum-compatible results and errors, so wallets and
// tools work unchanged.
//
// It trusts no caller. A request runs only if its Host names the node (no
// DNS rebinding) and, from a browser, its origin is the node's own or an
// allowed one (guard.go). Everything a request may take is bounded: body
// and batch size, gas, one time budget per request and one per call or
// gas estimation, the HTTP requests, heavy calls and proofs running at
// once (limits.go), WebSocket connections in all and per address
// (websocket.go), the filters and subscriptions of each client and of
// all, and what they may hold undelivered (events.go), the fee of a
// transaction sent through it. Past a limit the answer is a -32005 error
// naming the limit and its flag; nothing waits on a slow client, and
// chain events reach filters without ever holding up block import.
//
// It listens on loopback unless it is a provider (provider.go; or it is
// told its network is private, InsecurePublic): a public
// endpoint that serves no unlocked account and no admin or signing
// method, and gives each client (an address, or an API key) a token
// bucket its calls spend by cost. Every node answers GET /health for load
// balancers (health.go) and GET /metrics in Prometheus's text format from
// the registry it is given (metrics.go).
//
// The methods are written here (go-ethereum's internal/ethapi cannot be
// imported); they read the chain through the narrow Backend interfaces
// below. rpc imports chain, txpool and execution; it must not import node,
// p2p or sync.
package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Server; zero fields take the defaults shown.
type Config struct {
	// Addr is the listen address of HTTP and WebSocket. Default 127.0.0.1:8545.
	Addr string
	// VirtualHosts are the names a request's Host header may carry (the
	// port is ignored, case is not significant); any other Host gets 403
	// before anything runs. This stops DNS rebinding: a web page whose own
	// domain name its owner re-points at 127.0.0.1 reaches the node with
	// that name as Host. "*" allows any Host. The host of Addr is always
	// allowed. Default localhost, 127.0.0.1 and [::1].
	VirtualHosts []string
	// CORSOrigins are the browser origins (scheme://host[:port]) allowed to
	// call over HTTP from another origin; they get Access-Control-* headers.
	// Any other cross-origin request gets 403 before anything runs. A
	// request without Origin (not a browser) or from the node's own origin
	// needs no entry. Default none; "*" allows all.
	CORSOrigins []string
	// WSOrigins are the browser origins allowed to open a WebSocket from
	// another origin; others get 403. No Origin (not a browser) and the
	// node's own origin are always allowed. Default none; "*" allows all.
	WSOrigins []string
	// BodyLimit is the largest HTTP request body and WebSocket message in
	// bytes. Default 5 MiB.
	BodyLimit int
	// BatchItems bounds the requests in one batch. Default 1000.
	BatchItems int
	// BatchResponseBytes bounds the response of one batch. Default 25 MB.
	BatchResponseBytes int
	// RequestTimeout is the time budget of one HTTP request, a whole batch
	// included, from its arrival: waits for slots count. Calls still
	// running when it ends are cancelled, and the answer holds error
	// -32002 "request timed out" for them and the calls it did not reach.
	// The HTTP server's write timeout is RequestTimeout + 2s, to write that
	// answer even under load. WebSocket requests have no budget of their
	// own (the connection is long-lived), but their heavy calls get one.
	// Default 30s, as go-ethereum's HTTP write timeout.
	RequestTimeout time.Duration
	// GasCap bounds the gas of eth_call and eth_estimateGas. Default 50,000,000.
	GasCap uint64
	// EVMTimeout bounds the run time of one eth_call, and of all the runs of
	// one eth_estimateGas together; both also stop when the request's
	// budget ends. Default 5s.
	EVMTimeout time.Duration
	// MaxRequests bounds the HTTP requests running at once (a batch is one
	// request), so that a flood of requests cannot take the CPU from block
	// import: others wait for a slot, parked, until shortly before their
	// budget ends (not at all when those already waiting would take
	// longer), then get HTTP 429 with error -32005 "server busy". Bodies
	// are read before and answers written after a request holds a slot,
	// and a heavy call gives its request's slot back while it waits for a
	// heavy-call slot. Default GOMAXPROCS: requests are CPU work, and each
	// slot more takes a share of the CPU from block import.
	MaxRequests int
	// HeavyLimit bounds the heavy calls (eth_call, eth_estimateGas,
	// eth_getLogs, eth_getFilterLogs) running at once, over HTTP (where
	// they also hold a request slot: cheap requests keep the others) and
	// WebSocket. Others wait for a slot until shortly before their budget
	// ends, then get -32005 "server busy". Default GOMAXPROCS: calls use
	// every core, and block import still gets its share of the CPU (a
	// flood at ten times capacity left it 0.5–0.8 of its quiet rate on 2
	// cores, against 0.7–0.8 with half the cores, which cost eth_call a
	// third of its throughput). A public endpoint that must leave cores to
	// import and mining sets it lower: a provider's default is half the
	// cores, at least one, because its clients together are not bounded
	// by their per-client rate limits.
	HeavyLimit int
	// LogRange bounds the blocks one eth_getLogs may scan. Default 10,000.
	LogRange uint64
	// LogResults bounds the logs one eth_getLogs may return. Default 20,000.
	LogResults int
	// Filters bounds the polling filters (eth_newFilter, eth_newBlockFilter,
	// eth_newPendingTransactionFilter) installed at once; one more gets
	// -32005. Each holds at most 10,000 undelivered events (the oldest go),
	// and all of them together at most 250,000: past that, the filters
	// holding the most are dropped (their next poll answers "filter not
	// found"). Default 10,000.
	Filters int
	// FiltersPerClient bounds the polling filters of one client: one remote
	// IP address over HTTP, one connection over WebSocket (a WebSocket's
	// filters go when it closes). Default 1,000.
	FiltersPerClient int
	// Subscriptions bounds the WebSocket subscriptions open at once, over
	// all connections. Default 10,000.
	Subscriptions int
	// SubscriptionsPerConn bounds the subscriptions of one WebSocket
	// connection. A subscriber that falls 20,000 notifications behind (or
	// is furthest behind when all of them hold 1,000,000) is disconnected.
	// Default 100.
	SubscriptionsPerConn int
	// FilterTimeout drops a polling filter nobody polled for this long.
	// Default 5 minutes.
	FilterTimeout time.Duration
	// TxFeeCap bounds, in ether, the fee (gas × fee cap) of a transaction
	// sent through eth_sendRawTransaction or eth_sendTransaction, or signed
	// by eth_signTransaction, as go-ethereum's --rpc.txfeecap: a typo in a
	// fee field must not burn a fortune. Default 1; negative: no cap.
	TxFeeCap float64
	// ProofLimit bounds the eth_getProof calls running at once; others wait
	// for a slot within their budget, then get -32005 "server busy".
	// Default GOMAXPROCS, at most 25 (reth's --rpc.proof-permits).
	ProofLimit int
	// WSConns bounds the WebSocket connections open at once; one more gets
	// HTTP 429. Default 500 (reth's --rpc.max-connections).
	WSConns int
	// WSConnsPerIP bounds the WebSocket connections of one client address
	// (an IPv6 address by its /64). Default 50.
	WSConnsPerIP int

	// Provider serves the RPC as a public provider (provider.go): no
	// unlocked accounts (NewServer refuses a Backend with Accounts); no
	// admin_, personal_, eth_sendTransaction, eth_signTransaction or
	// eth_sign; a rate limit per client (ClientRate, ClientBurst, Keys)
	// and per transaction sender (SendRate). Listening beyond loopback
	// needs it, or InsecurePublic. Default false.
	Provider bool
	// InsecurePublic lets a node that is not a provider listen beyond
	// loopback with its whole API, unlocked accounts included (admin_
	// stays loopback-only): for a private network only, such as a
	// container's port published to its host alone
	// (--allow-insecure-unlock). Default false.
	InsecurePublic bool
	// ClientRate is the cost units a second a provider's client may spend
	// (methodCosts: eth_blockNumber 1, eth_getBalance 2, eth_call 20, a
	// batch the sum of its calls). Default 100.
	ClientRate float64
	// ClientBurst is the most units a provider's client may spend at once.
	// A request that costs more waits for a full bucket and leaves it in
	// debt. Default 400.
	ClientBurst int
	// Keys are the API keys of a provider's clients (ParseAPIKeys); a
	// request that presents an unknown key gets 401. Default none: every
	// client is anonymous, known by its address.
	Keys []APIKey
	// MaxClients bounds the client buckets a provider remembers (a full
	// bucket is forgotten); past it, new clients share one bucket.
	// Default 100,000.
	MaxClients int
	// SendRate bounds the transactions one sender may submit through a
	// provider's eth_sendRawTransaction a minute: attempts with a valid
	// signature count, accepted or not. Default 60.
	SendRate int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// names the client (provider.go); from anyone else the header is
	// ignored. Default none.
	TrustedProxies []netip.Prefix
	// HealthMinPeers is the least peers for GET /health to answer 200.
	// Default 0.
	HealthMinPeers int
	// HealthMaxHeadAge is the oldest head (by its timestamp) for GET
	// /health to answer 200. Default 2 minutes.
	HealthMaxHeadAge time.Duration
	// Metrics is the registry GET /metrics serves, where the RPC registers
	// its metrics (metrics.go). Default a registry of the server's own.
	Metrics *prometheus.Registry
	// NoMetrics turns GET /metrics off (404). Default false: served, behind
	// the Host check like everything else.
	NoMetrics bool
	// UI serves the web UI at GET / and its assets: every GET or HEAD that
	// is neither a WebSocket upgrade nor /health or /metrics, behind the
	// same Host check. The page's own calls are same-origin and need no
	// --rpc.cors entry. Default nil: no UI.
	UI http.Handler
	// Logger. Default: discarded.
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8545"
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("rpc address %q: want host:port: %w", c.Addr, err)
	}
	if len(c.VirtualHosts) == 0 {
		c.VirtualHosts = []string{"localhost", "127.0.0.1", "[::1]"}
	}
	for _, h := range c.VirtualHosts {
		if h == "" || strings.ContainsAny(h, "/ ") {
			return fmt.Errorf("rpc virtual host %q: want a host name or address such as localhost (--rpc.vhosts)", h)
		}
	}
	for _, list := range []struct {
		flag    string
		origins []string
	}{{"--rpc.cors", c.CORSOrigins}, {"--rpc.ws.origins", c.WSOrigins}} {
		for _, o := range list.origins {
			if err := checkOriginRule(o); err != nil {
				return fmt.Errorf("%s: %w", list.flag, err)
			}
		}
	}
	defaults := []struct {
		v    *int
		def  int
		name string
	}{
		{&c.BodyLimit, 5 << 20, "body limit"},
		{&c.BatchItems, 1000, "batch items (--rpc.batchlimit)"},
		{&c.BatchResponseBytes, 25_000_000, "batch response bytes"},
		{&c.MaxRequests, runtime.GOMAXPROCS(0), "request limit (--rpc.maxrequests)"},
		{&c.HeavyLimit, heavyDefault(c.Provider), "heavy call limit (--rpc.heavylimit)"},
		{&c.LogResults, 20_000, "log results"},
		{&c.Filters, 10_000, "filter limit (--rpc.filters)"},
		{&c.FiltersPerClient, 1_000, "per-client filter limit (--rpc.clientfilters)"},
		{&c.Subscriptions, 10_000, "subscription limit (--rpc.subscriptions)"},
		{&c.SubscriptionsPerConn, 100, "per-connection subscription limit (--rpc.ws.subscriptions)"},
		{&c.ProofLimit, min(runtime.GOMAXPROCS(0), 25), "proof limit (--rpc.proofs)"},
		{&c.WSConns, 500, "WebSocket connection limit (--rpc.ws.conns)"},
		{&c.WSConnsPerIP, 50, "per-address WebSocket connection limit (--rpc.ws.connsperip)"},
		{&c.ClientBurst, 400, "client burst (--provider.burst)"},
		{&c.MaxClients, 100_000, "client limit"},
		{&c.SendRate, 60, "per-sender transaction rate (--provider.sendrate)"},
		{&c.HealthMinPeers, 0, "least peers for health (--provider.minpeers)"},
	}
	for _, d := range defaults {
		if *d.v < 0 {
			return fmt.Errorf("rpc %s %d: must not be negative (0 takes the default %d)", d.name, *d.v, d.def)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	durations := []struct {
		v    *time.Duration
		def  time.Duration
		name string
	}{
		{&c.RequestTimeout, 30 * time.Second, "request timeout (--rpc.timeout)"},
		{&c.EVMTimeout, 5 * time.Second, "EVM timeout (--rpc.evmtimeout)"},
		{&c.FilterTimeout, 5 * time.Minute, "filter timeout"},
		{&c.HealthMaxHeadAge, 2 * time.Minute, "oldest healthy head (--provider.maxheadage)"},
	}
	for _, d := range durations {
		if *d.v < 0 {
			return fmt.Errorf("rpc %s %v: must not be negative (0 takes the default %v)", d.name, *d.v, d.def)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.GasCap == 0 {
		c.GasCap = 50_000_000
	}
	if c.LogRange == 0 {
		c.LogRange = 10_000
	}
	if c.TxFeeCap == 0 {
		c.TxFeeCap = 1
	}
	if math.IsNaN(c.TxFeeCap) {
		return errors.New("rpc transaction fee cap NaN: want ether, 0 for the default 1, negative for none (--rpc.txfeecap)")
	}
	if c.ClientRate == 0 {
		c.ClientRate = 100
	}
	if !(c.ClientRate > 0) || math.IsInf(c.ClientRate, 0) {
		return fmt.Errorf("rpc client rate %v: want cost units a second above 0 (--provider.rate)", c.ClientRate)
	}
	if c.Metrics == nil {
		c.Metrics = prometheus.NewRegistry()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if !c.Provider && len(c.Keys) > 0 {
		return fmt.Errorf("rpc: %d API keys given to a node that is not a provider: API keys (--provider.keys) need --provider", len(c.Keys))
	}
	if !isLoopback(c.Addr) && !c.Provider && !c.InsecurePublic {
		return fmt.Errorf("rpc address %s listens beyond loopback: whoever reaches it could use the node's whole API; add --provider to serve a public endpoint (rate limits, no accounts, no admin methods), or --allow-insecure-unlock on a private network only", c.Addr)
	}
	// The keys are the caller's: fill in their defaults on a copy.
	keys := make([]APIKey, len(c.Keys))
	seen := make(map[string]bool, 2*len(c.Keys))
	for i, k := range c.Keys {
		if !validName(k.Name) || !validKey(k.Key) {
			return fmt.Errorf("rpc API key %d (%q): want a name of 1 to 64 of A-Z a-z 0-9 _ . - and a key of 16 to 128 of A-Z a-z 0-9 _ -", i, k.Name)
		}
		if seen["name "+k.Name] || seen["key "+k.Key] {
			return fmt.Errorf("rpc API key %d (%q): its name or its key is given twice", i, k.Name)
		}
		seen["name "+k.Name], seen["key "+k.Key] = true, true
		if k.Rate < 0 || math.IsNaN(k.Rate) || math.IsInf(k.Rate, 0) || k.Burst < 0 {
			return fmt.Errorf("rpc API key %q: rate %v and burst %d must not be negative (0 takes the default)", k.Name, k.Rate, k.Burst)
		}
		if k.Rate == 0 {
			k.Rate = c.ClientRate
		}
		if k.Burst == 0 {
			k.Burst = max(1, int(math.Round(float64(c.ClientBurst)*k.Rate/c.ClientRate)))
		}
		keys[i] = k
	}
	c.Keys = keys
	return nil
}

// heavyDefault is the default HeavyLimit: one slot per CPU, half of them
// on a provider.
func heavyDefault(provider bool) int {
	if provider {
		return max(1, runtime.GOMAXPROCS(0)/2)
	}
	return runtime.GOMAXPROCS(0)
}

// Server is the JSON-RPC endpoint of a peer.
type Server struct {
	cfg      Config
	log      *slog.Logger
	rpc      *gethrpc.Server
	eth      *ethAPI
	hosts    hostGuard
	upgrader websocket.Upgrader
	wsCaps   *wsCaps
	requests *gate    // HTTP requests running
	clients  *buckets // a provider's client rate limits; nil otherwise
	keys     keyring
	metrics  *metrics
	fast     *fastPath   // nil: every request takes go-ethereum's path
	reqs     sync.Pool   // *httpRequest
	conns    *connServer // nil before Start or with plainHTTP
	// plainHTTP serves every connection with net/http (tests compare).
	plainHTTP bool
	http      *http.Server
	ln        net.Listener
	done      chan struct{}
	stopEv    context.CancelFunc
	evDone    <-chan struct{}
}

// NewServer registers the APIs over backend; Start listens.
func NewServer(cfg Config, b Backend) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := b.validate(); err != nil {
		return nil, err
	}
	if cfg.Provider && b.Accounts != nil {
		return nil, errors.New("rpc: a provider serves no unlocked accounts: start it without --unlock and --dev")
	}
	srv := gethrpc.NewServer()
	srv.SetBatchLimits(cfg.BatchItems, cfg.BatchResponseBytes)
	srv.SetHTTPBodyLimit(cfg.BodyLimit)
	eth := newEthAPI(b, &cfg)
	apis := []service{
		{"eth", ethService{eth}},
		{"net", &netAPI{b: b}},
		{"web3", &web3API{}},
		{"peerchain", &peerchainAPI{b: b}},
		{"peerchain", &peerchainViewAPI{b: b}},
		{"ots", newOtsAPI(eth)},
		{"erigon", &erigonAPI{ots: newOtsAPI(eth)}},
	}
	// A provider's API is the list above and nothing else: a method that
	// is not registered cannot run.
	if !cfg.Provider {
		signer := &signerAPI{eth: eth}
		apis = append(apis, service{"eth", signer}, service{"personal", &personalAPI{signer: signer}})
		apis = append(apis, service{"peerchain", &peerchainNetAPI{b: b}}) // names peers: not for providers
		if isLoopback(cfg.Addr) {
			apis = append(apis, service{"admin", &adminAPI{b: b}}, service{"admin", &adminShapeAPI{b: b}})
		}
	}
	for _, a := range apis {
		if err := srv.RegisterName(a.ns, a.rcvr); err != nil {
			return nil, fmt.Errorf("register %s API: %w", a.ns, err)
		}
	}
	m, err := newMetrics(cfg.Metrics, servedMethods(apis), cfg.Keys)
	if err != nil {
		return nil, err
	}
	fast, err := newFastPath(eth)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, rpc: srv, eth: eth, metrics: m, fast: fast, done: make(chan struct{})}
	if cfg.Provider {
		s.clients = newBuckets(cfg.MaxClients, nil)
		s.keys = newKeyring(cfg.Keys)
		eth.senders = newBuckets(cfg.MaxClients, nil)
	}
	eth.metrics = m
	s.reqs.New = func() any { return new(httpRequest) }
	s.hosts = newHostGuard(cfg.VirtualHosts, cfg.Addr)
	s.requests = newGate(cfg.MaxRequests, "request slots", "--rpc.maxrequests", cfg.RequestTimeout)
	busy := func() { m.reject(rejectBusy) }
	s.requests.onBusy, eth.gate.onBusy, eth.proofs.onBusy = busy, busy, busy
	s.wsCaps = newWSCaps(cfg.WSConns, cfg.WSConnsPerIP)
	s.upgrader = websocket.Upgrader{
		ReadBufferSize:  1024,
		WriteBufferSize: 1024,
		// Origins are checked before the upgrade (checkOrigin), with the
		// same-origin rule go-ethereum's check lacks.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	s.http = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// A body arrives within the request's budget or not at all. (Past
		// ReadTimeout, net/http cancels a running request's context.)
		ReadTimeout: cfg.RequestTimeout + writeMargin,
		// Past the budget, to write the answer of a request that used it
		// all. A WebSocket is not cut by it (the upgrade clears the
		// connection's deadlines).
		WriteTimeout: cfg.RequestTimeout + writeMargin,
		IdleTimeout:  120 * time.Second,
		// The connection goes into the request context so a WebSocket
		// whose subscriber falls behind can be closed.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, netConnKey{}, c)
		},
	}
	return s, nil
}

const (
	// writeMargin is how far the HTTP write timeout lies past the request
	// budget: the time to write the answer of a request that used it all.
	writeMargin = 2 * time.Second
	// gethTimeoutMargin is how long before its server's write timeout
	// go-ethereum's handler answers "request timed out"
	// (rpc.ContextRequestTimeout).
	gethTimeoutMargin = 100 * time.Millisecond
)

type netConnKey struct{}

// Start listens on the configured address and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("rpc listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	evCtx, stop := context.WithCancel(context.Background())
	s.stopEv, s.evDone = stop, s.eth.events.start(evCtx)
	// The connection server (fastconn.go) takes the listener and hands
	// net/http the connections it does not serve itself.
	serve := ln
	if !s.plainHTTP {
		s.conns = newConnServer(s, ln)
		go s.conns.accept()
		serve = s.conns.handoff
	}
	go func() {
		defer close(s.done)
		if err := s.http.Serve(serve); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("RPC server stopped", "err", err)
		}
	}()
	s.log.Info("JSON-RPC listening", "http", "http://"+ln.Addr().String(), "ws", "ws://"+ln.Addr().String())
	return nil
}

// Addr is the address the server listens on (after Start).
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close stops accepting requests and waits briefly for running ones.
func (s *Server) Close() error {
	if s.ln == nil {
		s.rpc.Stop()
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var err error
	if s.conns != nil {
		err = s.conns.close(ctx)
	}
	err = errors.Join(err, s.http.Shutdown(ctx))
	s.rpc.Stop()
	<-s.done
	s.stopEv()
	<-s.evDone
	return err
}

// service is a receiver registered under a namespace.
type service struct {
	ns   string
	rcvr any
}

// servedMethods lists the methods the server answers, named as
// go-ethereum names them (ns_lowerCamel; subscriptions go through
// eth_subscribe), and rpc_modules, which it adds itself.
func servedMethods(apis []service) map[string]bool {
	subscription := reflect.TypeFor[*gethrpc.Subscription]()
	served := map[string]bool{"rpc_modules": true}
	for _, a := range apis {
		t := reflect.TypeOf(a.rcvr)
		for i := 0; i < t.NumMethod(); i++ {
			m := t.Method(i)
			if m.Type.NumOut() > 0 && m.Type.Out(0) == subscription {
				served[a.ns+"_subscribe"], served[a.ns+"_unsubscribe"] = true, true
				continue
			}
			served[a.ns+"_"+strings.ToLower(m.Name[:1])+m.Name[1:]] = true
		}
	}
	return served
}

// isLoopback reports whether addr (host:port) listens on loopback only.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
