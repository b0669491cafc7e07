package rpc

// The connection server: the port's listener is ours, and a connection
// whose requests are plain JSON-RPC POSTs is served here, a request at a
// time, without net/http's per-request machinery (a background read
// goroutine and deadline changes per request, header cloning, chunk
// writer): the head is parsed in place, the body read whole, and the
// answer written with one write. Every request still goes through the
// same Handler as net/http's, so Host, origin, API key, rate limits,
// slots, budget, metrics and both JSON-RPC paths are the same.
//
// Anything else, at any request of a connection (a GET for the UI,
// /health or /metrics, a WebSocket upgrade, OPTIONS, HTTP/1.0, chunked or
// large bodies, Expect, Connection options, a head this parser does not
// read with certainty), hands the connection to net/http, unread bytes
// included; it stays there for the rest of its life.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// connServer serves the listener; handoff feeds net/http.
type connServer struct {
	s       *Server
	handler http.Handler
	ln      net.Listener
	handoff *handoffListener
	// accepting is closed when accept returns.
	accepting chan struct{}
	common    commonHeaders
	date      dateCache
	wg        sync.WaitGroup
	served    atomic.Uint64 // requests served here
	handed    atomic.Uint64 // connections handed to net/http
	mu        struct {
		sync.Mutex
		closed bool
		conns  map[*fastConn]bool // true: between requests
	}
}

type fastConn struct {
	c  net.Conn
	br *bufio.Reader
}

// maxHead bounds the request head the connection server reads (Go's
// bufio default); a larger head goes to net/http.
const maxHead = 4096

func newConnServer(s *Server, ln net.Listener) *connServer {
	cs := &connServer{s: s, handler: s.http.Handler, ln: ln, accepting: make(chan struct{}),
		handoff: &handoffListener{addr: ln.Addr(), conns: make(chan net.Conn), done: make(chan struct{})}}
	cs.mu.conns = make(map[*fastConn]bool)
	cs.common = newCommonHeaders()
	return cs
}

// accept serves the listener until it is closed.
func (cs *connServer) accept() {
	defer close(cs.accepting)
	var backoff time.Duration
	for {
		c, err := cs.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			cs.mu.Lock()
			closing := cs.mu.closed
			cs.mu.Unlock()
			if !closing {
				// The listener failed: net/http stops too (on Close,
				// its Shutdown closes the handoff listener itself).
				cs.s.log.Error("RPC listener failed", "err", err)
				cs.handoff.Close()
			}
			return
		}
		backoff = 0
		fc := &fastConn{c: c, br: bufio.NewReaderSize(c, maxHead)}
		cs.mu.Lock()
		if cs.mu.closed {
			cs.mu.Unlock()
			c.Close()
			continue
		}
		cs.mu.conns[fc] = true
		cs.wg.Add(1)
		cs.mu.Unlock()
		go cs.serve(fc)
	}
}

// close stops accepting, closes the connections between requests, and
// waits for the others to finish their request, at most until ctx ends.
func (cs *connServer) close(ctx context.Context) error {
	cs.mu.Lock()
	cs.mu.closed = true
	err := cs.ln.Close()
	for fc, idle := range cs.mu.conns {
		if idle {
			fc.c.Close()
		}
	}
	cs.mu.Unlock()
	<-cs.accepting
	done := make(chan struct{})
	go func() { cs.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		cs.mu.Lock()
		for fc := range cs.mu.conns {
			fc.c.Close()
		}
		cs.mu.Unlock()
		<-done
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// setIdle marks a connection between requests or not; false when the
// server is closing (the connection must go).
func (cs *connServer) setIdle(fc *fastConn, idle bool) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.mu.conns[fc] = idle
	return !cs.mu.closed
}

func (cs *connServer) serve(fc *fastConn) {
	handedOff := false
	defer func() {
		cs.mu.Lock()
		delete(cs.mu.conns, fc)
		cs.mu.Unlock()
		if !handedOff {
			fc.c.Close()
		}
		cs.wg.Done()
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx = context.WithValue(ctx, http.ServerContextKey, cs.s.http)
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, fc.c.LocalAddr())
	// Requests are copies of base: its context is the connection's.
	base := (&http.Request{}).WithContext(context.WithValue(ctx, netConnKey{}, fc.c))
	cfg := cs.s.http
	var (
		body   []byte
		out    []byte
		remote = fc.c.RemoteAddr().String()
		w      = &bufferedResponse{header: make(http.Header, 4)}
	)
	for {
		if !cs.setIdle(fc, true) {
			return
		}
		fc.c.SetReadDeadline(time.Now().Add(cfg.IdleTimeout))
		if _, err := fc.br.Peek(1); err != nil {
			return
		}
		if !cs.setIdle(fc, false) {
			return
		}
		head, n, ok := readHead(fc.br, fc.c, cfg.ReadHeaderTimeout)
		if !ok {
			handedOff = cs.give(fc)
			return
		}
		r, ok := parseHead(base, head, remote, cs.common)
		if !ok {
			handedOff = cs.give(fc)
			return
		}
		fc.br.Discard(n)
		if cap(body) < int(r.ContentLength) {
			body = make([]byte, r.ContentLength)
		}
		body = body[:r.ContentLength]
		if fc.br.Buffered() < len(body) {
			// Only a body not here yet needs a deadline of its own.
			fc.c.SetReadDeadline(time.Now().Add(cfg.ReadTimeout))
		}
		if _, err := io.ReadFull(fc.br, body); err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		w.status = 0
		w.body.Reset()
		clear(w.header)
		fc.c.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
		cs.handler.ServeHTTP(w, r)
		cs.served.Add(1)
		var keep bool
		out, keep = appendResponse(out[:0], w, cs.date.now())
		if _, err := fc.c.Write(out); err != nil || !keep {
			return
		}
		if cap(out) > keptBuffer {
			out = nil
		}
		if cap(body) > keptBuffer {
			body = nil
		}
	}
}

func (cs *connServer) give(fc *fastConn) bool {
	cs.handed.Add(1)
	return cs.handoff.give(&prefixConn{Conn: fc.c, r: fc.br})
}

// readHead returns the request head buffered in br (through the blank
// line) and its length, without consuming it; ok false when it does not
// come whole within maxHead bytes. Reading more sets c's read deadline
// (c nil: none).
func readHead(br *bufio.Reader, c net.Conn, timeout time.Duration) (head []byte, n int, ok bool) {
	deadline := false
	for {
		buf, _ := br.Peek(br.Buffered())
		if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
			return buf[:i+2], i + 4, true
		}
		if br.Buffered() >= maxHead {
			return nil, 0, false
		}
		if !deadline && c != nil {
			// Only a head not here whole needs a deadline of its own.
			c.SetReadDeadline(time.Now().Add(timeout))
			deadline = true
		}
		if _, err := br.Peek(br.Buffered() + 1); err != nil {
			return nil, 0, false
		}
	}
}

// parseHead reads a head this server serves: "POST <path> HTTP/1.1", a
// Host, a Content-Length of at most bigBody, and no Transfer-Encoding,
// Expect, Upgrade or Connection; every line well-formed. Anything else is
// not ok (net/http serves it).
func parseHead(base *http.Request, head []byte, remote string, common commonHeaders) (*http.Request, bool) {
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	method, line, ok1 := bytes.Cut(line, []byte(" "))
	target, proto, ok2 := bytes.Cut(line, []byte(" "))
	if !ok1 || !ok2 || string(method) != http.MethodPost || string(proto) != "HTTP/1.1" || len(target) == 0 || target[0] != '/' {
		return nil, false
	}
	u := &url.URL{Path: "/"}
	if string(target) != "/" {
		var err error
		if u, err = url.ParseRequestURI(string(target)); err != nil {
			return nil, false
		}
	}
	h := make(http.Header, 8)
	var host, length string
	seenHost, seenLength := false, false
	for len(rest) > 0 {
		var l []byte
		l, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(l, []byte(":"))
		if !ok || len(name) == 0 || !validHeaderValue(value) {
			return nil, false
		}
		key, ok := common.canonicalHeader(name)
		if !ok {
			return nil, false
		}
		v := string(bytes.Trim(value, " \t"))
		switch key {
		case "Host":
			if seenHost || !validHost(v) {
				return nil, false
			}
			seenHost, host = true, v
			continue // net/http keeps it in Request.Host only
		case "Content-Length":
			if seenLength {
				return nil, false
			}
			seenLength, length = true, v
		case "Transfer-Encoding", "Expect", "Upgrade", "Connection", "Te", "Trailer":
			return nil, false
		}
		h[key] = append(h[key], v)
	}
	if !seenHost || !seenLength || len(length) == 0 || len(length) > 6 {
		return nil, false
	}
	n, err := strconv.Atoi(length)
	if err != nil || n < 0 || n > bigBody || strconv.Itoa(n) != length {
		return nil, false
	}
	r := new(http.Request)
	*r = *base
	r.Method, r.URL, r.Proto, r.ProtoMajor, r.ProtoMinor = http.MethodPost, u, "HTTP/1.1", 1, 1
	r.Header, r.ContentLength, r.Host, r.RemoteAddr, r.RequestURI = h, int64(n), host, remote, string(target)
	return r, true
}

// commonHeaders are the canonical names of the headers clients send
// most, by the spellings they send them in.
type commonHeaders map[string]string

func newCommonHeaders() commonHeaders {
	m := make(commonHeaders)
	for _, name := range []string{"Host", "Content-Type", "Content-Length", "User-Agent", "Accept", "Accept-Encoding",
		"Origin", "Authorization", "X-Forwarded-For", "Connection"} {
		m[name] = name
		m[strings.ToLower(name)] = name
	}
	return m
}

// canonicalHeader is a header name in net/http's canonical form; ok
// false for a name with characters outside a token.
func (common commonHeaders) canonicalHeader(name []byte) (string, bool) {
	if c, ok := common[string(name)]; ok {
		return c, true
	}
	upper := true
	buf := make([]byte, len(name))
	for i, c := range name {
		if !isTokenChar(c) {
			return "", false
		}
		switch {
		case upper && c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case !upper && c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		buf[i] = c
		upper = c == '-'
	}
	return string(buf), true
}

func isTokenChar(c byte) bool {
	return c < 0x7f && c > 0x20 && !bytes.ContainsRune([]byte(`"(),/:;<=>?@[\]{}`), rune(c))
}

// validHeaderValue refuses control characters but tab, and bytes past
// ASCII (net/http's rules for them need not be repeated here).
func validHeaderValue(v []byte) bool {
	for _, c := range v {
		if (c < 0x20 && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return true
}

// validHost accepts host[:port] of letters, digits and . - _ : [ ].
func validHost(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}

// appendResponse writes an answer as net/http writes it for a handler
// that wrote it all at once: status line, the handler's headers sorted by
// name, Date, Content-Length (the body's), a sniffed Content-Type when
// none is set. keep is false when the handler asked to close the
// connection.
func appendResponse(out []byte, w *bufferedResponse, date string) ([]byte, bool) {
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	h := w.header
	body := w.body.Bytes()
	delete(h, "Transfer-Encoding")
	if status == http.StatusNoContent || status == http.StatusNotModified || status < 200 {
		delete(h, "Content-Length")
		body = nil
	} else {
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
		if _, ok := h["Content-Type"]; !ok && len(body) > 0 {
			h["Content-Type"] = []string{http.DetectContentType(body)}
		}
	}
	if _, ok := h["Date"]; !ok {
		h["Date"] = []string{date}
	}
	out = append(out, "HTTP/1.1 "...)
	out = strconv.AppendInt(out, int64(status), 10)
	out = append(out, ' ')
	out = append(out, http.StatusText(status)...)
	out = append(out, "\r\n"...)
	var names [16]string
	keys := names[:0]
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	keep := true
	for _, k := range keys {
		for _, v := range h[k] {
			// As http.Header.Write: no line breaks, no outer space.
			if strings.ContainsAny(v, "\r\n") {
				v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
			}
			v = strings.TrimSpace(v)
			out = append(out, k...)
			out = append(out, ": "...)
			out = append(out, v...)
			out = append(out, "\r\n"...)
			if k == "Connection" && strings.EqualFold(v, "close") {
				keep = false
			}
		}
	}
	out = append(out, "\r\n"...)
	return append(out, body...), keep
}

// dateCache is the Date header's value, formatted once a second.
type dateCache struct {
	v atomic.Pointer[dateValue]
}

type dateValue struct {
	sec  int64
	text string
}

func (d *dateCache) now() string {
	now := time.Now()
	if v := d.v.Load(); v != nil && v.sec == now.Unix() {
		return v.text
	}
	v := &dateValue{sec: now.Unix(), text: now.UTC().Format(http.TimeFormat)}
	d.v.Store(v)
	return v.text
}

// prefixConn is a connection whose first bytes were read into r.
type prefixConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if c.r.Buffered() > 0 {
		return c.r.Read(p)
	}
	return c.Conn.Read(p)
}

// handoffListener is the listener net/http serves: the connections the
// connection server hands it.
type handoffListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// give hands c to net/http; false (c not taken) once it is closed.
func (l *handoffListener) give(c net.Conn) bool {
	c.SetDeadline(time.Time{})
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }
