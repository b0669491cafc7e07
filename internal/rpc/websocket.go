package rpc

// The WebSocket transport. go-ethereum's own WebSocket handler gives no
// hook between a message and its calls, and a provider must charge each
// message to its client's rate limit and answer a client over its limit
// with an error per call. So the connection is ours: a reader takes each
// message off the socket, admits it (rate limit, metrics), and passes it
// to go-ethereum's server through a stream codec (gethrpc.NewCodec) or
// answers it itself; the codec's answers go back as one message each.
// go-ethereum sees a stream connection, whose PeerInfo has transport
// "ipc" and, as its remote address, the WebSocket's (clientKey).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/gorilla/websocket"
)

const (
	// wsPingInterval is how often an idle connection is pinged; a client
	// that sends nothing, not even a pong, for wsPingInterval +
	// wsPongTimeout is disconnected (go-ethereum's figures).
	wsPingInterval = 30 * time.Second
	wsPongTimeout  = 30 * time.Second
	// wsWriteTimeout bounds a write the server gives no deadline.
	wsWriteTimeout = 10 * time.Second
	// wsTracked bounds the calls of one connection timed for metrics.
	wsTracked = 1024
)

var errWSConns = errors.New("too many WebSocket connections")

// wsCaps bounds the WebSocket connections open, in all and per client
// address (an IPv6 address by its /64).
type wsCaps struct {
	total, perIP int
	mu           struct {
		sync.Mutex
		open  int
		perIP map[string]int
	}
}

func newWSCaps(total, perIP int) *wsCaps {
	c := &wsCaps{total: total, perIP: perIP}
	c.mu.perIP = make(map[string]int)
	return c
}

// open counts a connection from ip; release uncounts it.
func (c *wsCaps) open(ip string) (release func(), err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.open >= c.total {
		return nil, fmt.Errorf("%w: %d open, the node's limit (--rpc.ws.conns); retry later", errWSConns, c.mu.open)
	}
	if n := c.mu.perIP[ip]; n >= c.perIP {
		return nil, fmt.Errorf("%w from %s: %d open, the limit per address (--rpc.ws.connsperip); close some first", errWSConns, ip, n)
	}
	c.mu.open++
	c.mu.perIP[ip]++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.mu.open--
			if c.mu.perIP[ip]--; c.mu.perIP[ip] <= 0 {
				delete(c.mu.perIP, ip)
			}
		})
	}, nil
}

// serveWebSocket upgrades r within the connection caps and serves the
// connection until either side closes it. The events loop knows it by
// its remote address for as long as it lasts.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request, cl client) {
	release, err := s.wsCaps.open(ipGroup(cl.addr))
	if err != nil {
		s.metrics.rejectClient(rejectWSConn, cl.label())
		s.log.Debug("WebSocket refused", "remote", r.RemoteAddr, "err", err)
		w.Header().Set("Retry-After", "1")
		http.Error(w, err.Error(), http.StatusTooManyRequests)
		return
	}
	defer release()
	// Charge the connection itself, so that reconnecting is no way around
	// the rate limit.
	if err := s.admit(cl, nil, "ws"); err != nil {
		s.tooMany(w, err, nil, false)
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.log.Debug("WebSocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return // the upgrader answered
	}
	ws.SetReadLimit(int64(s.cfg.BodyLimit))
	key := wsClientKey(r.RemoteAddr)
	s.eth.events.connOpened(key, ws.NetConn())
	defer s.eth.events.connClosed(key)
	s.metrics.wsConns.Inc()
	defer s.metrics.wsConns.Dec()

	in, toServer := io.Pipe()
	c := &wsConn{s: s, ws: ws, remote: r.RemoteAddr, cl: cl, in: in, done: make(chan struct{})}
	c.trk.calls = make(map[string]wsCall)
	var loops sync.WaitGroup
	loops.Add(2)
	go func() {
		defer loops.Done()
		defer toServer.Close() // the codec reads EOF and closes
		c.readLoop(toServer)
	}()
	go func() {
		defer loops.Done()
		c.pingLoop()
	}()
	s.rpc.ServeCodec(gethrpc.NewCodec(c), 0)
	c.Close()
	loops.Wait()
}

// wsConn is one WebSocket connection as go-ethereum's stream codec sees
// it: Read gives the admitted messages, Write sends each answer as one
// message.
type wsConn struct {
	s      *Server
	ws     *websocket.Conn
	remote string
	cl     client
	in     *io.PipeReader
	done   chan struct{}
	closed sync.Once
	wr     struct {
		sync.Mutex // one writer at a time: the codec, the reader's own answers
		deadline   time.Time
		pending    []byte // an answer not yet ended by its newline
	}
	trk struct {
		sync.Mutex
		calls map[string]wsCall // by id: calls answered yet to be timed
	}
}

type wsCall struct {
	calls []rpcCall
	batch bool
	since time.Time
}

// RemoteAddr names the connection in go-ethereum's PeerInfo.
func (c *wsConn) RemoteAddr() string { return c.remote }

func (c *wsConn) Read(p []byte) (int, error) { return c.in.Read(p) }

// SetWriteDeadline sets the deadline of the codec's next Write.
func (c *wsConn) SetWriteDeadline(t time.Time) error {
	c.wr.Lock()
	c.wr.deadline = t
	c.wr.Unlock()
	return nil
}

// Write takes the codec's output: answers, each ended by a newline (JSON
// has no raw newline inside a value), and sends each as one message.
func (c *wsConn) Write(p []byte) (int, error) {
	c.wr.Lock()
	defer c.wr.Unlock()
	c.wr.pending = append(c.wr.pending, p...)
	for {
		i := bytes.IndexByte(c.wr.pending, '\n')
		if i < 0 {
			break
		}
		msg := c.wr.pending[:i]
		if err := c.sendLocked(msg, c.wr.deadline); err != nil {
			return 0, err
		}
		c.answered(msg)
		c.wr.pending = c.wr.pending[i+1:]
	}
	if len(c.wr.pending) == 0 {
		c.wr.pending = nil
	}
	return len(p), nil
}

func (c *wsConn) sendLocked(msg []byte, deadline time.Time) error {
	if deadline.IsZero() {
		deadline = time.Now().Add(wsWriteTimeout)
	}
	if err := c.ws.SetWriteDeadline(deadline); err != nil {
		return err
	}
	return c.ws.WriteMessage(websocket.TextMessage, msg)
}

// reply sends an answer of the reader's own.
func (c *wsConn) reply(msg []byte) error {
	if msg == nil {
		return nil
	}
	c.wr.Lock()
	defer c.wr.Unlock()
	return c.sendLocked(msg, time.Time{})
}

// Close ends the connection: a close frame, then the socket.
func (c *wsConn) Close() error {
	c.closed.Do(func() {
		close(c.done)
		c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		c.ws.Close()
		c.in.Close()
	})
	return nil
}

// readLoop admits each message: a client over its rate limit gets an
// error per call, anything else goes on to the server. Invalid JSON gets
// go-ethereum's parse error and ends the connection, as there.
func (c *wsConn) readLoop(toServer io.Writer) {
	idle := func(string) error { return c.ws.SetReadDeadline(time.Now().Add(wsPingInterval + wsPongTimeout)) }
	c.ws.SetPongHandler(idle)
	for {
		idle("")
		_, msg, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		if !json.Valid(msg) {
			var raw json.RawMessage
			jerr := json.Unmarshal(msg, &raw)
			if jerr == nil {
				jerr = errors.New("invalid JSON request")
			}
			c.reply(nullIDError(-32700, jerr.Error(), nil))
			return
		}
		calls, batch := parseCalls(msg)
		if err := c.s.admit(c.cl, calls, "ws"); err != nil {
			var data any
			var re *rateError
			if errors.As(err, &re) {
				data = re.ErrorData()
			}
			if c.reply(errorAnswers(calls, batch, errcodeLimit, err.Error(), data)) != nil {
				return
			}
			continue
		}
		c.track(calls, batch)
		if _, err := toServer.Write(append(msg, '\n')); err != nil {
			return
		}
	}
}

// pingLoop pings the client so that a dead one is noticed.
func (c *wsConn) pingLoop() {
	t := time.NewTicker(wsPingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsWriteTimeout)); err != nil {
				c.Close()
				return
			}
		}
	}
}

// track remembers when a request was admitted, by the id of its first
// answered call, to time it when its answer goes out.
func (c *wsConn) track(calls []rpcCall, batch bool) {
	for _, call := range calls {
		if !call.answered() {
			continue
		}
		c.trk.Lock()
		if len(c.trk.calls) < wsTracked {
			c.trk.calls[string(call.ID)] = wsCall{calls: calls, batch: batch, since: time.Now()}
		}
		c.trk.Unlock()
		return
	}
}

// answered times the request an answer goes to.
func (c *wsConn) answered(msg []byte) {
	id, ok := responseID(msg)
	if !ok {
		return
	}
	c.trk.Lock()
	call, ok := c.trk.calls[string(id)]
	delete(c.trk.calls, string(id))
	c.trk.Unlock()
	if ok {
		c.s.metrics.observe(call.calls, call.batch, call.since)
	}
}

// tooMany answers a request refused by a limit: HTTP 429, Retry-After,
// and the error for each answered call.
func (s *Server) tooMany(w http.ResponseWriter, err error, calls []rpcCall, batch bool) {
	retry := time.Second
	var data any
	var le *limitError
	var re *rateError
	switch {
	case errors.As(err, &re):
		retry, data = re.retry, re.ErrorData()
	case errors.As(err, &le) && le.retry > 0:
		retry = le.retry
	}
	body := errorAnswers(calls, batch, errcodeLimit, err.Error(), data)
	if body == nil {
		body = nullIDError(errcodeLimit, err.Error(), data)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(retry)))
	w.WriteHeader(http.StatusTooManyRequests)
	w.Write(body)
}
