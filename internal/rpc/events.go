package rpc

// How chain and pool events reach polling filters and WebSocket
// subscriptions, so that no client can hold up the chain:
//
//  1. receive takes every HeadEvent and NewTxsEvent off the chain's and the
//     pool's feeds and appends it to a bounded queue, and does nothing
//     else. The chain's Send waits for every subscriber (and InsertBlock
//     holds the chain's send lock meanwhile), so this goroutine must always
//     be ready.
//  2. deliver takes the queue. For a block, it tests each log filter's
//     addresses and topics against the block's bloom (hashed once per
//     filter) and reads the block's receipts once, only when some filter
//     may match. Matches go to polling filters and subscription buffers.
//  3. One goroutine per subscription writes its notifications to the
//     connection.
//
// What gives way under load, instead of the chain:
//   - deliver falls maxQueuedEvents behind: the queued events are dropped
//     and so is every filter and subscription of their kinds. A polling
//     filter's next poll answers "filter not found" (clients recreate
//     filters, which also expire); a subscriber's connection is closed.
//     Nobody is left believing it saw every event.
//   - a subscriber falls maxSubBacklog notifications behind (it does not
//     read its socket), or all subscribers together hold maxSubBuffered
//     and it holds the most: its WebSocket connection is closed, with a
//     warning in the log. The protocol has no message to end a
//     subscription, and a client that reconnects resubscribes.
//   - a polling filter holds maxPending undelivered events: the oldest go.
//   - all polling filters together hold maxBuffered events: the filters
//     holding the most (those polled least) are dropped until they hold
//     90% of it.

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/txpool"
)

const (
	// maxQueuedEvents bounds the chain and pool events waiting for deliver.
	maxQueuedEvents = 1024
	// maxPending bounds the undelivered events of one polling filter.
	maxPending = 10_000
	// maxBuffered bounds the undelivered events of all polling filters.
	maxBuffered = 250_000
	// maxSubBacklog bounds the notifications waiting for one subscriber
	// (go-ethereum's client buffers as many).
	maxSubBacklog = 20_000
	// maxSubBuffered bounds the notifications waiting for all subscribers.
	maxSubBuffered = 1_000_000
)

type eventKind int

const (
	kindBlocks eventKind = iota
	kindLogs
	kindPending
)

func (k eventKind) String() string {
	return [...]string{"blocks", "logs", "pending transactions"}[k]
}

// kindSet is a set of eventKinds.
type kindSet uint8

func (s kindSet) has(k eventKind) bool { return s&(1<<k) != 0 }

// queued is one chain or pool event waiting for deliver.
type queued struct {
	head *chain.HeadEvent
	txs  []*types.Transaction
}

func (q queued) kinds() kindSet {
	if q.head != nil {
		return 1<<kindBlocks | 1<<kindLogs
	}
	return 1 << kindPending
}

// filter is a polling filter (eth_newFilter and friends): events pile up
// until eth_getFilterChanges takes them.
type filter struct {
	id       gethrpc.ID
	kind     eventKind
	query    *FilterQuery
	bloom    *queryBloom
	fullTx   bool
	owner    string // clientKey of the request that installed it
	hashes   []common.Hash
	txs      []*types.Transaction
	logs     []*types.Log
	lastPoll time.Time
}

func (f *filter) size() int { return len(f.hashes) + len(f.txs) + len(f.logs) }

// liveSub is a WebSocket subscription.
type liveSub struct {
	kind    eventKind
	query   *FilterQuery
	bloom   *queryBloom
	fullTx  bool
	conn    string        // clientKey of its connection
	queue   []any         // notifications for its writer; guarded by events.mu
	wake    chan struct{} // a token when queue fills
	dropped chan struct{} // closed when the events loop drops it
}

// events fans chain and pool events out to polling filters and
// subscriptions; deliver is the only writer of what filters hold.
type events struct {
	api  *ethAPI
	cfg  *Config
	log  *slog.Logger
	wake chan struct{}
	q    struct {
		sync.Mutex
		items []queued
		lost  kindSet // kinds whose events were dropped, for deliver
	}
	mu struct {
		sync.Mutex
		filters   map[gethrpc.ID]*filter
		perClient map[string]int // filters per owner
		buffered  int            // events held by all filters
		subs      map[*liveSub]bool
		queued    int                 // notifications held by all subscriptions
		perConn   map[string]int      // subscriptions per connection
		conns     map[string]net.Conn // open WebSocket connections
	}
}

func newEvents(api *ethAPI) *events {
	e := &events{api: api, cfg: api.cfg, log: api.cfg.Logger, wake: make(chan struct{}, 1)}
	e.mu.filters = make(map[gethrpc.ID]*filter)
	e.mu.perClient = make(map[string]int)
	e.mu.subs = make(map[*liveSub]bool)
	e.mu.perConn = make(map[string]int)
	e.mu.conns = make(map[string]net.Conn)
	return e
}

// start subscribes to the chain and the pool and runs receive and deliver
// until ctx ends; the returned channel closes when both have returned.
func (e *events) start(ctx context.Context) <-chan struct{} {
	heads := make(chan chain.HeadEvent, 64)
	hsub := e.api.b.Chain.SubscribeHeads(heads)
	txs := make(chan txpool.NewTxsEvent, 256)
	tsub := e.api.b.Pool.SubscribeNewTxs(txs)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer hsub.Unsubscribe()
		defer tsub.Unsubscribe()
		e.receive(ctx, heads, txs)
	}()
	go func() {
		defer wg.Done()
		e.deliverLoop(ctx)
	}()
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

// receive only queues: it must be ready for the next event at once.
func (e *events) receive(ctx context.Context, heads <-chan chain.HeadEvent, txs <-chan txpool.NewTxsEvent) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-heads:
			e.enqueue(queued{head: &ev})
		case ev := <-txs:
			e.enqueue(queued{txs: ev.Txs})
		}
	}
}

func (e *events) enqueue(it queued) {
	e.q.Lock()
	if len(e.q.items) >= maxQueuedEvents {
		for _, old := range e.q.items {
			e.q.lost |= old.kinds()
		}
		e.q.lost |= it.kinds()
		e.q.items = nil
	} else {
		e.q.items = append(e.q.items, it)
	}
	e.q.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *events) take() ([]queued, kindSet) {
	e.q.Lock()
	defer e.q.Unlock()
	items, lost := e.q.items, e.q.lost
	e.q.items, e.q.lost = nil, 0
	return items, lost
}

func (e *events) deliverLoop(ctx context.Context) {
	janitor := time.NewTicker(time.Minute)
	defer janitor.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
			e.drain(ctx)
		case now := <-janitor.C:
			e.expire(now)
		}
	}
}

// drain delivers what is queued until the queue is empty.
func (e *events) drain(ctx context.Context) {
	for ctx.Err() == nil {
		items, lost := e.take()
		if len(items) == 0 && lost == 0 {
			return
		}
		if lost != 0 {
			e.dropKinds(lost)
		}
		for _, it := range items {
			if ctx.Err() != nil {
				return
			}
			if it.head != nil {
				e.onHead(*it.head)
			} else {
				e.onTxs(it.txs)
			}
		}
	}
}

// logTarget is a logs filter or subscription and what matched it.
type logTarget struct {
	f       *filter
	s       *liveSub
	query   *FilterQuery
	bloom   *queryBloom
	matched []*types.Log
}

func (e *events) onHead(ev chain.HeadEvent) {
	var (
		blockFilters []*filter
		blockSubs    []*liveSub
		targets      []*logTarget
	)
	e.mu.Lock()
	for _, f := range e.mu.filters {
		switch f.kind {
		case kindBlocks:
			blockFilters = append(blockFilters, f)
		case kindLogs:
			targets = append(targets, &logTarget{f: f, query: f.query, bloom: f.bloom})
		}
	}
	for s := range e.mu.subs {
		switch s.kind {
		case kindBlocks:
			blockSubs = append(blockSubs, s)
		case kindLogs:
			targets = append(targets, &logTarget{s: s, query: s.query, bloom: s.bloom})
		}
	}
	e.mu.Unlock()
	if len(blockFilters)+len(blockSubs)+len(targets) == 0 {
		return
	}
	var headers []any
	if len(blockSubs) > 0 {
		for _, b := range ev.Added {
			headers = append(headers, marshalHeader(b.Header(), nil))
		}
	}
	// Logs of dropped blocks go out first, marked removed, as in go-ethereum.
	for _, b := range ev.Removed {
		e.matchBlock(b, true, targets)
	}
	for _, b := range ev.Added {
		e.matchBlock(b, false, targets)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	hashes := make([]common.Hash, len(ev.Added))
	for i, b := range ev.Added {
		hashes[i] = b.Hash()
	}
	for _, f := range blockFilters {
		e.fillLocked(f, func() { f.hashes = appendBounded(f.hashes, hashes...) })
	}
	for _, s := range blockSubs {
		e.sendLocked(s, headers...)
	}
	for _, t := range targets {
		if len(t.matched) == 0 {
			continue
		}
		if t.f != nil {
			e.fillLocked(t.f, func() { t.f.logs = appendBounded(t.f.logs, t.matched...) })
			continue
		}
		notes := make([]any, len(t.matched))
		for i, l := range t.matched {
			notes[i] = l
		}
		e.sendLocked(t.s, notes...)
	}
	e.enforceBudgetLocked()
}

// matchBlock adds the logs of b that match each target to it, reading the
// block's receipts once and only if some target's bloom may match. The
// logs are shared by every target: nobody changes them.
func (e *events) matchBlock(b *types.Block, removed bool, targets []*logTarget) {
	bloom := b.Bloom()
	var candidates []*logTarget
	for _, t := range targets {
		if t.bloom.matches(&bloom) {
			candidates = append(candidates, t)
		}
	}
	if len(candidates) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.RequestTimeout)
	defer cancel()
	receipts, err := e.api.b.Data.Receipts(ctx, b)
	if err != nil {
		// The logs cannot be read (a light peer's sources failed): drop the
		// log filters and subscriptions rather than let them miss logs.
		e.log.Warn("Logs of a new block unavailable; dropping log filters and subscriptions", "number", b.NumberU64(), "err", err)
		e.dropKinds(1 << kindLogs)
		return
	}
	var logs []*types.Log
	for _, r := range receipts {
		for _, l := range r.Logs {
			if removed {
				cp := *l
				cp.Removed = true
				l = &cp
			}
			logs = append(logs, l)
		}
	}
	for _, t := range candidates {
		for _, l := range logs {
			if t.query.matches(l) {
				t.matched = append(t.matched, l)
			}
		}
	}
}

func (e *events) onTxs(txs []*types.Transaction) {
	var (
		filters []*filter
		subs    []*liveSub
		full    bool
	)
	e.mu.Lock()
	for _, f := range e.mu.filters {
		if f.kind == kindPending {
			filters = append(filters, f)
		}
	}
	for s := range e.mu.subs {
		if s.kind == kindPending {
			subs = append(subs, s)
			full = full || s.fullTx
		}
	}
	e.mu.Unlock()
	if len(filters)+len(subs) == 0 {
		return
	}
	hashes := make([]common.Hash, len(txs))
	for i, tx := range txs {
		hashes[i] = tx.Hash()
	}
	var rpcTxs []*rpcTransaction
	if full {
		for _, tx := range txs {
			rpcTxs = append(rpcTxs, newRPCTransaction(tx, common.Hash{}, 0, 0, 0, nil, e.api.config))
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, f := range filters {
		if f.fullTx {
			e.fillLocked(f, func() { f.txs = appendBounded(f.txs, txs...) })
		} else {
			e.fillLocked(f, func() { f.hashes = appendBounded(f.hashes, hashes...) })
		}
	}
	for _, s := range subs {
		notes := make([]any, len(txs))
		for i := range txs {
			if s.fullTx {
				notes[i] = rpcTxs[i]
			} else {
				notes[i] = hashes[i]
			}
		}
		e.sendLocked(s, notes...)
	}
	e.enforceBudgetLocked()
}

// fillLocked runs add on f, if f is still installed, and keeps the count
// of buffered events.
func (e *events) fillLocked(f *filter, add func()) {
	if e.mu.filters[f.id] != f {
		return
	}
	before := f.size()
	add()
	e.mu.buffered += f.size() - before
}

// appendBounded appends vs to s and keeps the newest maxPending.
func appendBounded[T any](s []T, vs ...T) []T {
	s = append(s, vs...)
	if over := len(s) - maxPending; over > 0 {
		s = s[over:] // the next growth copies only what is left
	}
	return s
}

// sendLocked queues notes for s's writer without waiting. A subscriber
// that would hold more than maxSubBacklog is dropped instead.
func (e *events) sendLocked(s *liveSub, notes ...any) {
	if len(notes) == 0 || !e.mu.subs[s] {
		return
	}
	if n := len(s.queue) + len(notes); n > maxSubBacklog {
		e.dropSubLocked(s, "it fell behind: it did not read its notifications", "waiting", n, "limit", maxSubBacklog)
		return
	}
	s.queue = append(s.queue, notes...)
	e.mu.queued += len(notes)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// takeQueue hands s's writer what is queued for it.
func (e *events) takeQueue(s *liveSub) []any {
	e.mu.Lock()
	defer e.mu.Unlock()
	notes := s.queue
	s.queue = nil
	e.mu.queued -= len(notes)
	return notes
}

// dropSubLocked ends s and closes its connection, so the client learns
// it missed events (the protocol cannot tell it otherwise).
func (e *events) dropSubLocked(s *liveSub, why string, attrs ...any) {
	if !e.mu.subs[s] {
		return
	}
	e.removeSubLocked(s)
	close(s.dropped)
	attrs = append(attrs, "remote", s.conn, "kind", s.kind)
	conn := e.mu.conns[s.conn]
	if conn == nil {
		e.log.Warn("Subscription ended: "+why, attrs...)
		return
	}
	e.log.Warn("WebSocket client disconnected: a subscription ended because "+why, attrs...)
	conn.Close()
	delete(e.mu.conns, s.conn)
}

func (e *events) removeSubLocked(s *liveSub) {
	if !e.mu.subs[s] {
		return
	}
	delete(e.mu.subs, s)
	e.mu.queued -= len(s.queue)
	s.queue = nil
	if e.mu.perConn[s.conn]--; e.mu.perConn[s.conn] <= 0 {
		delete(e.mu.perConn, s.conn)
	}
}

func (e *events) removeFilterLocked(f *filter) {
	if e.mu.filters[f.id] != f {
		return
	}
	delete(e.mu.filters, f.id)
	e.mu.buffered -= f.size()
	if e.mu.perClient[f.owner]--; e.mu.perClient[f.owner] <= 0 {
		delete(e.mu.perClient, f.owner)
	}
}

// dropKinds drops the filters and subscriptions of kinds whose events the
// queue lost.
func (e *events) dropKinds(lost kindSet) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var filters, subs int
	for _, f := range e.mu.filters {
		if lost.has(f.kind) {
			e.removeFilterLocked(f)
			filters++
		}
	}
	for s := range e.mu.subs {
		if lost.has(s.kind) {
			e.dropSubLocked(s, "the node's event queue overflowed")
			subs++
		}
	}
	e.log.Warn("Event delivery fell behind: dropped the filters and subscriptions that missed events",
		"queue", maxQueuedEvents, "filters", filters, "subscriptions", subs)
}

// enforceBudgetLocked bounds what filters and subscriptions hold in all:
// past the bound, the filters holding the most undelivered events (ties:
// the one polled least recently) are dropped, and the subscribers furthest
// behind are disconnected, until they hold 90% of it.
func (e *events) enforceBudgetLocked() {
	if e.mu.buffered > maxBuffered {
		all := make([]*filter, 0, len(e.mu.filters))
		for _, f := range e.mu.filters {
			all = append(all, f)
		}
		slices.SortFunc(all, func(a, b *filter) int {
			if a.size() != b.size() {
				return b.size() - a.size()
			}
			return a.lastPoll.Compare(b.lastPoll)
		})
		dropped := 0
		for _, f := range all {
			if e.mu.buffered <= maxBuffered*9/10 {
				break
			}
			e.removeFilterLocked(f)
			dropped++
		}
		e.log.Warn("Polling filters hold too many undelivered events: dropped the ones holding the most",
			"limit", maxBuffered, "dropped", dropped, "left", len(e.mu.filters))
	}
	if e.mu.queued > maxSubBuffered {
		all := make([]*liveSub, 0, len(e.mu.subs))
		for s := range e.mu.subs {
			all = append(all, s)
		}
		slices.SortFunc(all, func(a, b *liveSub) int { return len(b.queue) - len(a.queue) })
		for _, s := range all {
			if e.mu.queued <= maxSubBuffered*9/10 {
				break
			}
			e.dropSubLocked(s, "subscribers hold too many notifications and it is furthest behind", "waiting", len(s.queue), "limit", maxSubBuffered)
		}
	}
}

func (e *events) expire(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, f := range e.mu.filters {
		if now.Sub(f.lastPoll) > e.cfg.FilterTimeout {
			e.removeFilterLocked(f)
		}
	}
}

// connOpened records a WebSocket connection (conn may be nil when the
// server did not provide it): a subscriber that falls behind closes it.
func (e *events) connOpened(key string, conn net.Conn) {
	if conn == nil {
		return
	}
	e.mu.Lock()
	e.mu.conns[key] = conn
	e.mu.Unlock()
}

// connClosed forgets a WebSocket connection and uninstalls the polling
// filters it installed. Its subscriptions end on their own.
func (e *events) connClosed(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.mu.conns, key)
	for _, f := range e.mu.filters {
		if f.owner == key {
			e.removeFilterLocked(f)
		}
	}
}

// counts reports the installed filters and subscriptions.
func (e *events) counts() (filters, subs int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.mu.filters), len(e.mu.subs)
}
