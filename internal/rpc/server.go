// Package rpc serves the Ethereum JSON-RPC API of a peer (eth_, net_,
// web3_) over HTTP and WebSocket on one port, with go-ethereum's rpc.Server
// underneath and go-ethereum-compatible results and errors, so wallets and
// tools work unchanged.
//
// It trusts no caller. A request runs only if its Host names the node (no
// DNS rebinding) and, from a browser, its origin is the node's own or an
// allowed one (guard.go). Everything a request may take is bounded: body
// and batch size, gas, one time budget per request and one per call or
// gas estimation, the HTTP requests and the heavy calls running at once
// (limits.go), the filters and subscriptions of each client and of all,
// and what they may hold undelivered (events.go). Past a limit the answer
// is a -32005 error naming the limit and its flag; nothing waits on a
// slow client, and chain events reach filters without ever holding up
// block import.
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
	"net"
	"net/http"
	"runtime"
	"strings"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
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
	// import and mining sets it lower.
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
		{&c.HeavyLimit, runtime.GOMAXPROCS(0), "heavy call limit (--rpc.heavylimit)"},
		{&c.LogResults, 20_000, "log results"},
		{&c.Filters, 10_000, "filter limit (--rpc.filters)"},
		{&c.FiltersPerClient, 1_000, "per-client filter limit (--rpc.clientfilters)"},
		{&c.Subscriptions, 10_000, "subscription limit (--rpc.subscriptions)"},
		{&c.SubscriptionsPerConn, 100, "per-connection subscription limit (--rpc.ws.subscriptions)"},
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
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Server is the JSON-RPC endpoint of a peer.
type Server struct {
	cfg      Config
	log      *slog.Logger
	rpc      *gethrpc.Server
	eth      *ethAPI
	hosts    hostGuard
	ws       http.Handler
	requests *gate // HTTP requests running
	http     *http.Server
	ln       net.Listener
	done     chan struct{}
	stopEv   context.CancelFunc
	evDone   <-chan struct{}
}

// NewServer registers the APIs over backend; Start listens.
func NewServer(cfg Config, b Backend) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := b.validate(); err != nil {
		return nil, err
	}
	srv := gethrpc.NewServer()
	srv.SetBatchLimits(cfg.BatchItems, cfg.BatchResponseBytes)
	srv.SetHTTPBodyLimit(cfg.BodyLimit)
	srv.SetWebsocketReadLimit(int64(cfg.BodyLimit))
	eth := newEthAPI(b, &cfg)
	apis := map[string]any{
		"eth":       eth,
		"net":       &netAPI{b: b},
		"web3":      &web3API{},
		"peerchain": &peerchainAPI{b: b},
		"personal":  &personalAPI{eth: eth},
	}
	if isLoopback(cfg.Addr) {
		apis["admin"] = &adminAPI{b: b}
	}
	for ns, api := range apis {
		if err := srv.RegisterName(ns, api); err != nil {
			return nil, fmt.Errorf("register %s API: %w", ns, err)
		}
	}
	s := &Server{cfg: cfg, log: cfg.Logger, rpc: srv, eth: eth, done: make(chan struct{})}
	s.hosts = newHostGuard(cfg.VirtualHosts, cfg.Addr)
	s.requests = newGate(cfg.MaxRequests, "request slots", "--rpc.maxrequests", cfg.RequestTimeout)
	// Origins are checked before the upgrade (checkOrigin), with the
	// same-origin rule go-ethereum's check lacks.
	s.ws = srv.WebsocketHandler([]string{"*"})
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
	go func() {
		defer close(s.done)
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
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
	err := s.http.Shutdown(ctx)
	s.rpc.Stop()
	<-s.done
	s.stopEv()
	<-s.evDone
	return err
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
