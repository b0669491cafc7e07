package rpc

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Handler serves HTTP JSON-RPC and upgrades WebSocket requests on the same
// path, and answers GET /health and GET /metrics. Before anything runs, a
// request must name this node in its Host (VirtualHosts), present a known
// API key if any (provider.go), and, when a browser sent it from another
// origin, that origin must be allowed (CORSOrigins over HTTP, WSOrigins
// for a WebSocket). An HTTP request then runs in a request slot under its
// budget (serveHTTP), once its client's rate limit admits it.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.hosts.check(r.Host); err != nil {
			s.metrics.reject(rejectHost)
			s.refuse(w, r, err)
			return
		}
		cl, err := s.identify(r)
		if err != nil {
			s.metrics.reject(rejectKey)
			s.log.Debug("RPC request refused", "remote", r.RemoteAddr, "err", err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			switch strings.TrimSuffix(r.URL.Path, "/") {
			case "/health":
				if err := s.charge(cl, nil); err != nil {
					s.tooMany(w, err, nil, false)
					return
				}
				s.serveHealth(w, r)
				return
			case "/metrics":
				if s.cfg.NoMetrics {
					http.NotFound(w, r)
					return
				}
				if err := s.charge(cl, nil); err != nil {
					s.tooMany(w, err, nil, false)
					return
				}
				s.metrics.handler.ServeHTTP(w, r)
				return
			}
			if s.cfg.UI != nil && !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
				if err := s.charge(cl, nil); err != nil {
					s.tooMany(w, err, nil, false)
					return
				}
				s.cfg.UI.ServeHTTP(w, r)
				return
			}
		}
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			if err := checkOrigin(r, s.cfg.WSOrigins, "--rpc.ws.origins"); err != nil {
				s.metrics.reject(rejectOrigin)
				s.refuse(w, r, err)
				return
			}
			s.serveWebSocket(w, r, cl)
			return
		}
		if err := checkOrigin(r, s.cfg.CORSOrigins, "--rpc.cors"); err != nil {
			s.metrics.reject(rejectOrigin)
			s.refuse(w, r, err)
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && !sameOrigin(origin, r.Host) {
			// Allowed cross-origin: tell the browser so.
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Allow-Methods", "POST, GET, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
			w.Header().Set("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		s.serveHTTP(w, r, cl)
	})
}

// serveHTTP runs one HTTP request within its budget: it reads the body,
// charges it to its client, waits for one of the request slots, runs the
// request into a buffer, gives the slot back, and only then writes the
// answer. Neither a slow upload nor a slow reader holds a slot, and at
// most MaxRequests requests compete for the CPU with block import.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request, cl client) {
	deadline := time.Now().Add(s.cfg.RequestTimeout)
	if r.ContentLength > int64(s.cfg.BodyLimit) || (r.Method == http.MethodGet && r.ContentLength == 0 && r.URL.RawQuery == "") {
		s.rpc.ServeHTTP(w, r) // answered at once: too large, or a health check
		return
	}
	if r.ContentLength < 0 || r.ContentLength > bigBody {
		// A client that cannot pay for the least request does not get a
		// large body read.
		if err := s.affordable(cl); err != nil {
			// Unread, the body makes the connection useless: close it, or
			// net/http would read the body before answering.
			w.Header().Set("Connection", "close")
			s.tooMany(w, err, nil, false)
			return
		}
	}
	req := s.reqs.Get().(*httpRequest)
	defer s.reqs.Put(req)
	body, err := readBody(r.Body, s.cfg.BodyLimit+1, req)
	if err != nil {
		http.Error(w, fmt.Sprintf("reading the request body: %v", err), http.StatusBadRequest)
		return
	}
	if len(body) > s.cfg.BodyLimit {
		http.Error(w, fmt.Sprintf("content length too large (%d>%d)", len(body), s.cfg.BodyLimit), http.StatusRequestEntityTooLarge)
		return
	}
	ops, calls, batch := s.fastPlan(r, body, req)
	if ops == nil {
		calls, batch = parseCalls(body)
	}
	if err := s.admit(cl, calls, "http"); err != nil {
		s.tooMany(w, err, calls, batch)
		return
	}
	start := time.Now()
	ctx := context.WithValue(r.Context(), budgetKey{}, deadline)
	since, err := s.requests.enter(ctx, "the request")
	if err != nil {
		if errors.Is(err, ErrLimit) {
			s.metrics.clientRej.WithLabelValues(cl.label()).Inc()
		}
		s.tooMany(w, err, calls, batch)
		return
	}
	slot := &requestSlot{gate: s.requests, held: true, since: since}
	defer slot.release()
	if ops != nil && s.serveFast(ctx, w, r, slot, req, batch, deadline, calls, start) {
		return
	}
	// go-ethereum's handler answers "request timed out" (-32002) for the
	// running call and every call of a batch it did not reach when its
	// timer fires, at its server's WriteTimeout less 100ms
	// (rpc.ContextRequestTimeout). It is shown a stand-in server that
	// puts the timer at the end of the budget. The context gets no
	// deadline: one that ended before the timer would stop a batch with
	// its unreached calls unanswered.
	ctx = context.WithValue(ctx, http.ServerContextKey, &http.Server{WriteTimeout: time.Until(deadline) + gethTimeoutMargin})
	ctx = context.WithValue(ctx, slotKey{}, slot)
	r = r.WithContext(ctx)
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	if proxied := clientRemote(cl, r.RemoteAddr); proxied != "" {
		// Behind a trusted proxy: per-client limits (filters) see the client.
		r.RemoteAddr = proxied
	}
	out := &bufferedResponse{header: w.Header()}
	s.rpc.ServeHTTP(out, r)
	slot.release()
	s.metrics.observe(calls, batch, start)
	answer := out.body.Bytes()
	if ctx.Err() != nil || !time.Now().Before(deadline) {
		answer = completeBatch(body, answer)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
	w.WriteHeader(cmp.Or(out.status, http.StatusOK))
	if _, err := w.Write(answer); err != nil {
		s.log.Debug("RPC answer not delivered", "remote", r.RemoteAddr, "bytes", out.body.Len(), "err", err)
	}
}

// bigBody is the size past which a body is read only for a client that
// can pay for a request.
const bigBody = 64 << 10

// clientRemote is the remote address to show go-ethereum for a client
// behind a trusted proxy, "" when it is the connection's own.
func clientRemote(cl client, remote string) string {
	if ap, err := netip.ParseAddrPort(remote); err == nil && ap.Addr().Unmap() == cl.addr {
		return ""
	}
	return netip.AddrPortFrom(cl.addr, 0).String()
}

// completeBatch adds -32002 "request timed out" answers for the calls of
// a batch that its answer lacks. go-ethereum's handler leaves them out
// when the batch ends (its context cancelled by the handler's timer)
// before the timer has written those answers.
func completeBatch(request, answer []byte) []byte {
	request, answer = bytes.TrimSpace(request), bytes.TrimSpace(answer)
	if len(request) == 0 || request[0] != '[' || len(answer) == 0 || answer[0] != '[' {
		return answer
	}
	type message struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	var calls, answers []message
	if json.Unmarshal(request, &calls) != nil || json.Unmarshal(answer, &answers) != nil {
		return answer
	}
	answered := make(map[string]bool, len(answers))
	for _, a := range answers {
		answered[string(a.ID)] = true
	}
	var missing []byte
	for _, c := range calls {
		// As go-ethereum: a call without a valid id is a notification.
		if c.Method == "" || len(c.ID) == 0 || c.ID[0] == '{' || c.ID[0] == '[' || answered[string(c.ID)] {
			continue
		}
		missing = fmt.Appendf(missing, `,{"jsonrpc":"2.0","id":%s,"error":{"code":-32002,"message":"request timed out"}}`, c.ID)
	}
	if len(missing) == 0 {
		return answer
	}
	if len(answers) == 0 {
		missing = missing[1:]
	}
	out := append(slices.Clip(answer[:len(answer)-1]), missing...)
	return append(out, ']')
}

// bufferedResponse holds an answer until the request's slot is free.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Debug("RPC request refused", "remote", r.RemoteAddr, "host", r.Host, "origin", r.Header.Get("Origin"), "err", err)
	http.Error(w, err.Error(), http.StatusForbidden)
}

// hostGuard holds the Host names a request may carry.
type hostGuard struct {
	any   bool
	names map[string]bool
	list  string
}

func newHostGuard(vhosts []string, listenAddr string) hostGuard {
	g := hostGuard{names: make(map[string]bool), list: strings.Join(vhosts, ",")}
	for _, h := range vhosts {
		if h == "*" {
			g.any = true
		}
		g.names[hostOnly(h)] = true
	}
	// The address the node listens on names it, whatever the list says.
	if host, _, err := net.SplitHostPort(listenAddr); err == nil {
		if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
			g.names[hostOnly(host)] = true
		}
	}
	return g
}

var errBadHost = errors.New("host not allowed")

// check accepts an empty Host (an HTTP/1.0 client: browsers always send
// one), a listed name, or anything when "*" is listed.
func (g hostGuard) check(host string) error {
	if host == "" || g.any || g.names[hostOnly(host)] {
		return nil
	}
	return fmt.Errorf("%w: %q is not one of this node's names (--rpc.vhosts %s): a web page must not reach the node through its own domain name", errBadHost, hostOnly(host), g.list)
}

// hostOnly lowercases a Host value and drops its port and IPv6 brackets.
func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
}

var errBadOrigin = errors.New("origin not allowed")

// checkOrigin accepts a request without Origin (not a browser), from the
// node's own origin, or from an origin in allowed ("*" allows all).
func checkOrigin(r *http.Request, allowed []string, flag string) error {
	origin := r.Header.Get("Origin")
	if origin == "" || sameOrigin(origin, r.Host) {
		return nil
	}
	for _, o := range allowed {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return nil
		}
	}
	return fmt.Errorf("%w: a page from %q may not call this node: it is not the node's own origin and not in %s", errBadOrigin, origin, flag)
}

// sameOrigin reports whether origin (scheme://host[:port]) has the
// host:port of the request's Host, which passed the virtual host check:
// a page the node itself serves. A Host without a port takes the default
// port of the origin's scheme, as behind a TLS proxy.
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	def := "80"
	if u.Scheme == "https" {
		def = "443"
	}
	withPort := func(hp string) string {
		if _, _, err := net.SplitHostPort(hp); err == nil {
			return strings.ToLower(hp)
		}
		return strings.ToLower(net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(hp, "["), "]"), def))
	}
	return withPort(u.Host) == withPort(host)
}

// checkOriginRule rejects an origin entry a browser can never send.
func checkOriginRule(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || u.Scheme == "" || strings.TrimSuffix(u.Path, "/") != "" {
		return fmt.Errorf("origin %q: want scheme://host[:port] such as http://localhost:3000, or *", o)
	}
	return nil
}
