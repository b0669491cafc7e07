// Package rpc serves the Ethereum JSON-RPC API of a peer (eth_, net_,
// web3_) over HTTP and WebSocket on one port, with go-ethereum's rpc.Server
// underneath and go-ethereum-compatible results and errors, so wallets and
// tools work unchanged. Requests are bounded: body size, batch size, gas of
// calls, and the time one call may run.
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
	"strings"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
)

// Config configures a Server; zero fields take the defaults shown.
type Config struct {
	// Addr is the listen address of HTTP and WebSocket. Default 127.0.0.1:8545.
	Addr string
	// CORSOrigins are the browser origins allowed to call over HTTP and
	// WebSocket. Default none (WebSocket: same host only); "*" allows all.
	CORSOrigins []string
	// BodyLimit is the largest HTTP request body in bytes. Default 5 MiB.
	BodyLimit int
	// BatchItems bounds the requests in one batch. Default 1000.
	BatchItems int
	// BatchResponseBytes bounds the response of one batch. Default 25 MB.
	BatchResponseBytes int
	// GasCap bounds the gas of eth_call and eth_estimateGas. Default 50,000,000.
	GasCap uint64
	// EVMTimeout bounds the run time of one eth_call. Default 5s.
	EVMTimeout time.Duration
	// LogRange bounds the blocks one eth_getLogs may scan. Default 10,000.
	LogRange uint64
	// LogResults bounds the logs one eth_getLogs may return. Default 20,000.
	LogResults int
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
	if c.BodyLimit == 0 {
		c.BodyLimit = 5 << 20
	}
	if c.BatchItems == 0 {
		c.BatchItems = 1000
	}
	if c.BatchResponseBytes == 0 {
		c.BatchResponseBytes = 25_000_000
	}
	if c.GasCap == 0 {
		c.GasCap = 50_000_000
	}
	if c.EVMTimeout == 0 {
		c.EVMTimeout = 5 * time.Second
	}
	if c.LogRange == 0 {
		c.LogRange = 10_000
	}
	if c.LogResults == 0 {
		c.LogResults = 20_000
	}
	if c.FilterTimeout == 0 {
		c.FilterTimeout = 5 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Server is the JSON-RPC endpoint of a peer.
type Server struct {
	cfg    Config
	log    *slog.Logger
	rpc    *gethrpc.Server
	eth    *ethAPI
	http   *http.Server
	ln     net.Listener
	done   chan struct{}
	stopEv context.CancelFunc
	evDone chan struct{}
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
	s.http = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	return s, nil
}

// Handler serves HTTP JSON-RPC and upgrades WebSocket requests on the same
// path.
func (s *Server) Handler() http.Handler {
	ws := s.rpc.WebsocketHandler(s.cfg.CORSOrigins)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			ws.ServeHTTP(w, r)
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && s.allowed(origin) {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Allow-Methods", "POST, GET, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
			w.Header().Set("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		s.rpc.ServeHTTP(w, r)
	})
}

func (s *Server) allowed(origin string) bool {
	for _, o := range s.cfg.CORSOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// Start listens on the configured address and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("rpc listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	evCtx, stop := context.WithCancel(context.Background())
	s.stopEv, s.evDone = stop, make(chan struct{})
	go func() {
		defer close(s.evDone)
		s.eth.events.run(evCtx)
	}()
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
