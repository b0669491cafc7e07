package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
)

// errcodeLimit is EIP-1474's "limit exceeded".
const errcodeLimit = -32005

// ErrLimit classifies a request refused by one of the server's limits
// (filters, subscriptions, busy heavy-call slots); it is answered as
// JSON-RPC error -32005.
var ErrLimit = errors.New("limit exceeded")

// limitError is an ErrLimit with the message a client sees and, for a
// busy server, when to retry.
type limitError struct {
	msg   string
	retry time.Duration
}

func (e *limitError) Error() string        { return e.msg }
func (e *limitError) ErrorCode() int       { return errcodeLimit }
func (e *limitError) Is(target error) bool { return target == ErrLimit }

func limitf(format string, args ...any) error {
	return &limitError{msg: fmt.Sprintf(format, args...)}
}

// clientKey names the client of a request for per-client limits: its IP
// address over HTTP (one machine, however many connections), its
// connection over WebSocket (which go-ethereum sees as a stream, "ipc":
// websocket.go).
func clientKey(ctx context.Context) string {
	info := gethrpc.PeerInfoFromContext(ctx)
	switch info.Transport {
	case "http":
		if host, _, err := net.SplitHostPort(info.RemoteAddr); err == nil {
			return "ip " + host
		}
		return "ip " + info.RemoteAddr
	case "ws", "ipc":
		return wsClientKey(info.RemoteAddr)
	default:
		return info.Transport + " " + info.RemoteAddr
	}
}

func wsClientKey(remoteAddr string) string { return "ws " + remoteAddr }

// gate bounds how many of something run at once: heavy calls, HTTP
// requests. Waiters are parked goroutines: they cost no CPU. A request
// waits at most until shortly before its budget ends, and not at all when
// the requests already waiting would keep the slots longer than that.
type gate struct {
	slots  chan struct{}
	what   string        // the slots, for the busy error
	flag   string        // the flag that sizes it
	budget time.Duration // the longest wait of a request without a budget
	onBusy func()        // called when a request gives up; optional
	mu     struct {
		sync.Mutex
		waiting int           // requests waiting for a slot
		hold    time.Duration // moving average of how long a slot is held
	}
}

func newGate(n int, what, flag string, budget time.Duration) *gate {
	return &gate{slots: make(chan struct{}, n), what: what, flag: flag, budget: budget}
}

// busyMargin is how long before its budget ends a waiting request gives
// up, so that it is answered "server busy" rather than "request timed out".
const busyMargin = 100 * time.Millisecond

// enter takes a slot and returns when, for leave.
func (g *gate) enter(ctx context.Context, who string) (time.Time, error) {
	select {
	case g.slots <- struct{}{}:
		return time.Now(), nil
	default:
	}
	wait := g.budget
	if deadline, ok := budgetDeadline(ctx); ok {
		wait = time.Until(deadline)
	}
	wait -= min(busyMargin, wait/10)
	g.mu.Lock()
	ahead := g.mu.waiting
	// On average a slot comes free every hold / slots.
	if expect := time.Duration(ahead+1) * g.mu.hold / time.Duration(cap(g.slots)); expect > wait {
		g.mu.Unlock()
		g.busy()
		return time.Time{}, &limitError{retry: expect, msg: fmt.Sprintf("server busy: %d requests wait for the %d %s (%s), about %v, and %s can wait %v; retry later",
			ahead, cap(g.slots), g.what, g.flag, expect.Round(time.Millisecond), who, wait.Round(time.Millisecond))}
	}
	g.mu.waiting++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.mu.waiting--
		g.mu.Unlock()
	}()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case g.slots <- struct{}{}:
		return time.Now(), nil
	case <-timer.C:
		g.busy()
		return time.Time{}, limitf("server busy: %s waited %v for one of the %d %s (%s); retry later", who, wait.Round(time.Millisecond), cap(g.slots), g.what, g.flag)
	case <-ctx.Done():
		return time.Time{}, fmt.Errorf("%s cancelled while waiting for one of the %s: %w", who, g.what, ctx.Err())
	}
}

func (g *gate) busy() {
	if g.onBusy != nil {
		g.onBusy()
	}
}

// leave gives back the slot taken at since.
func (g *gate) leave(since time.Time) {
	d := time.Since(since)
	g.mu.Lock()
	g.mu.hold += (d - g.mu.hold) / 8
	g.mu.Unlock()
	<-g.slots
}

type budgetKey struct{}

// budgetDeadline is when the request's budget ends.
func budgetDeadline(ctx context.Context) (time.Time, bool) {
	if d, ok := ctx.Value(budgetKey{}).(time.Time); ok {
		return d, true
	}
	return ctx.Deadline()
}

// budget bounds ctx by the request budget when it has none (a WebSocket
// request).
func (api *ethAPI) budget(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := budgetDeadline(ctx); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, api.cfg.RequestTimeout)
}

// requestSlot is an HTTP request's hold on one of the request slots.
// Only the request's goroutine, then serveHTTP after it, touch it.
type requestSlot struct {
	gate  *gate
	held  bool
	since time.Time
}

type slotKey struct{}

func (s *requestSlot) release() {
	if s.held {
		s.gate.leave(s.since)
		s.held = false
	}
}

// reacquire takes a slot again, waiting at most until shortly before the
// budget ends.
func (s *requestSlot) reacquire(ctx context.Context) error {
	if s.held {
		return nil
	}
	since, err := s.gate.enter(ctx, "the request")
	if err != nil {
		return err
	}
	s.held, s.since = true, since
	return nil
}

// heavy runs f in a heavy-call slot under the request budget. An HTTP
// request waits for the heavy slot without its request slot, so that
// cheap requests go on meanwhile, and runs holding both: HeavyLimit
// bounds the request slots heavy calls take.
func heavy[T any](ctx context.Context, api *ethAPI, method string, f func(context.Context) (T, error)) (T, error) {
	return inSlot(ctx, api, api.gate, method, f)
}

// inSlot runs f in one of g's slots, as heavy does.
func inSlot[T any](ctx context.Context, api *ethAPI, g *gate, method string, f func(context.Context) (T, error)) (T, error) {
	var zero T
	ctx, cancel := api.budget(ctx)
	defer cancel()
	slot, _ := ctx.Value(slotKey{}).(*requestSlot)
	if slot != nil {
		slot.release()
	}
	since, err := g.enter(ctx, method)
	if err != nil {
		return zero, err
	}
	defer g.leave(since)
	if slot != nil {
		if err := slot.reacquire(ctx); err != nil {
			return zero, err
		}
	}
	return f(ctx)
}
