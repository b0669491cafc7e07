package rpc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/txpool"
)

var errFilterNotFound = errors.New("filter not found")

type eventKind int

const (
	kindBlocks eventKind = iota
	kindLogs
	kindPending
)

// filter is a polling filter (eth_newFilter and friends): events pile up
// until eth_getFilterChanges takes them.
type filter struct {
	kind     eventKind
	query    *FilterQuery
	fullTx   bool
	hashes   []common.Hash
	txs      []*types.Transaction
	logs     []*types.Log
	lastPoll time.Time
}

// liveSub is a WebSocket subscription.
type liveSub struct {
	kind   eventKind
	query  *FilterQuery
	fullTx bool
	ch     chan any
}

// maxPending bounds what a polling filter or a subscription holds before
// the oldest events are dropped.
const maxPending = 10_000

// events fans chain and pool events out to polling filters and
// subscriptions; its run loop is the only writer.
type events struct {
	api *ethAPI
	mu  struct {
		sync.Mutex
		filters map[gethrpc.ID]*filter
		subs    map[*liveSub]bool
	}
}

func newEvents(api *ethAPI) *events {
	e := &events{api: api}
	e.mu.filters = make(map[gethrpc.ID]*filter)
	e.mu.subs = make(map[*liveSub]bool)
	return e
}

// run follows the chain and the pool until ctx ends.
func (e *events) run(ctx context.Context) {
	heads := make(chan chain.HeadEvent, 64)
	hsub := e.api.b.Chain.SubscribeHeads(heads)
	defer hsub.Unsubscribe()
	txs := make(chan txpool.NewTxsEvent, 256)
	tsub := e.api.b.Pool.SubscribeNewTxs(txs)
	defer tsub.Unsubscribe()
	janitor := time.NewTicker(time.Minute)
	defer janitor.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-heads:
			e.onHead(ev)
		case ev := <-txs:
			e.onTxs(ev.Txs)
		case <-janitor.C:
			e.expire()
		}
	}
}

func (e *events) onHead(ev chain.HeadEvent) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.mu.filters) == 0 && len(e.mu.subs) == 0 {
		return
	}
	// Logs of dropped blocks go out first, marked removed, as in go-ethereum.
	type batch struct {
		block   *types.Block
		removed bool
	}
	var blocks []batch
	for _, b := range ev.Removed {
		blocks = append(blocks, batch{b, true})
	}
	for _, b := range ev.Added {
		blocks = append(blocks, batch{b, false})
	}
	for _, f := range e.mu.filters {
		switch f.kind {
		case kindBlocks:
			for _, b := range ev.Added {
				f.hashes = appendCapped(f.hashes, b.Hash())
			}
		case kindLogs:
			for _, bb := range blocks {
				for _, l := range e.api.blockLogs(bb.block, f.query, bb.removed) {
					f.logs = appendCapped(f.logs, l)
				}
			}
		}
	}
	for s := range e.mu.subs {
		switch s.kind {
		case kindBlocks:
			for _, b := range ev.Added {
				s.send(marshalHeader(b.Header(), nil))
			}
		case kindLogs:
			for _, bb := range blocks {
				for _, l := range e.api.blockLogs(bb.block, s.query, bb.removed) {
					s.send(l)
				}
			}
		}
	}
}

func (e *events) onTxs(txs []*types.Transaction) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, f := range e.mu.filters {
		if f.kind != kindPending {
			continue
		}
		for _, tx := range txs {
			if f.fullTx {
				f.txs = appendCapped(f.txs, tx)
			} else {
				f.hashes = appendCapped(f.hashes, tx.Hash())
			}
		}
	}
	for s := range e.mu.subs {
		if s.kind != kindPending {
			continue
		}
		for _, tx := range txs {
			if s.fullTx {
				s.send(newRPCTransaction(tx, common.Hash{}, 0, 0, 0, nil, e.api.config))
			} else {
				s.send(tx.Hash())
			}
		}
	}
}

// send delivers without blocking the event loop; a subscriber that does
// not keep up loses events.
func (s *liveSub) send(v any) {
	select {
	case s.ch <- v:
	default:
	}
}

func appendCapped[T any](s []T, v T) []T {
	if len(s) >= maxPending {
		s = s[1:]
	}
	return append(s, v)
}

func (e *events) expire() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, f := range e.mu.filters {
		if time.Since(f.lastPoll) > e.api.cfg.FilterTimeout {
			delete(e.mu.filters, id)
		}
	}
}

func (e *events) install(f *filter) gethrpc.ID {
	id := gethrpc.NewID()
	f.lastPoll = time.Now()
	e.mu.Lock()
	e.mu.filters[id] = f
	e.mu.Unlock()
	return id
}

// NewFilter is eth_newFilter.
func (api *ethAPI) NewFilter(q FilterQuery) (gethrpc.ID, error) {
	if q.BlockHash != nil {
		return "", errors.New("a filter cannot be bound to one block hash: use eth_getLogs")
	}
	return api.events.install(&filter{kind: kindLogs, query: &q}), nil
}

// NewBlockFilter is eth_newBlockFilter.
func (api *ethAPI) NewBlockFilter() gethrpc.ID {
	return api.events.install(&filter{kind: kindBlocks})
}

// NewPendingTransactionFilter is eth_newPendingTransactionFilter.
func (api *ethAPI) NewPendingTransactionFilter(fullTx *bool) gethrpc.ID {
	return api.events.install(&filter{kind: kindPending, fullTx: fullTx != nil && *fullTx})
}

// UninstallFilter is eth_uninstallFilter.
func (api *ethAPI) UninstallFilter(id gethrpc.ID) bool {
	api.events.mu.Lock()
	defer api.events.mu.Unlock()
	_, ok := api.events.mu.filters[id]
	delete(api.events.mu.filters, id)
	return ok
}

// GetFilterChanges is eth_getFilterChanges: what happened since the last
// poll.
func (api *ethAPI) GetFilterChanges(id gethrpc.ID) (any, error) {
	api.events.mu.Lock()
	defer api.events.mu.Unlock()
	f, ok := api.events.mu.filters[id]
	if !ok {
		return nil, errFilterNotFound
	}
	f.lastPoll = time.Now()
	switch {
	case f.kind == kindLogs:
		out := nonNil(f.logs)
		f.logs = nil
		return out, nil
	case f.kind == kindPending && f.fullTx:
		out := make([]*rpcTransaction, 0, len(f.txs))
		for _, tx := range f.txs {
			out = append(out, newRPCTransaction(tx, common.Hash{}, 0, 0, 0, nil, api.config))
		}
		f.txs = nil
		return out, nil
	default:
		out := f.hashes
		if out == nil {
			out = []common.Hash{}
		}
		f.hashes = nil
		return out, nil
	}
}

// GetFilterLogs is eth_getFilterLogs: every log of a logs filter's range.
func (api *ethAPI) GetFilterLogs(id gethrpc.ID) ([]*types.Log, error) {
	api.events.mu.Lock()
	f, ok := api.events.mu.filters[id]
	if ok {
		f.lastPoll = time.Now()
	}
	api.events.mu.Unlock()
	if !ok {
		return nil, errFilterNotFound
	}
	if f.kind != kindLogs {
		return nil, fmt.Errorf("filter %s is not a logs filter", id)
	}
	return api.GetLogs(*f.query)
}

// subscribe starts a WebSocket subscription fed by the event loop.
func (api *ethAPI) subscribe(ctx context.Context, s *liveSub) (*gethrpc.Subscription, error) {
	notifier, ok := gethrpc.NotifierFromContext(ctx)
	if !ok {
		return nil, gethrpc.ErrNotificationsUnsupported
	}
	rs := notifier.CreateSubscription()
	s.ch = make(chan any, 1024)
	api.events.mu.Lock()
	api.events.mu.subs[s] = true
	api.events.mu.Unlock()
	go func() {
		defer func() {
			api.events.mu.Lock()
			delete(api.events.mu.subs, s)
			api.events.mu.Unlock()
		}()
		for {
			select {
			case v := <-s.ch:
				if err := notifier.Notify(rs.ID, v); err != nil {
					return
				}
			case <-rs.Err():
				return
			}
		}
	}()
	return rs, nil
}

// NewHeads is eth_subscribe("newHeads").
func (api *ethAPI) NewHeads(ctx context.Context) (*gethrpc.Subscription, error) {
	return api.subscribe(ctx, &liveSub{kind: kindBlocks})
}

// Logs is eth_subscribe("logs", filter). It follows new blocks: a block
// range in the filter is ignored (clients send one by default), a block
// hash is refused.
func (api *ethAPI) Logs(ctx context.Context, q FilterQuery) (*gethrpc.Subscription, error) {
	if q.BlockHash != nil {
		return nil, errors.New("a logs subscription follows new blocks: it takes no block hash")
	}
	return api.subscribe(ctx, &liveSub{kind: kindLogs, query: &q})
}

// NewPendingTransactions is eth_subscribe("newPendingTransactions"[, true]).
func (api *ethAPI) NewPendingTransactions(ctx context.Context, fullTx *bool) (*gethrpc.Subscription, error) {
	return api.subscribe(ctx, &liveSub{kind: kindPending, fullTx: fullTx != nil && *fullTx})
}
