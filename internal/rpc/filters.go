package rpc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
)

var errFilterNotFound = errors.New("filter not found")

// install adds f for the client of ctx, within the filter limits.
func (e *events) install(ctx context.Context, f *filter) (gethrpc.ID, error) {
	f.owner = clientKey(ctx)
	if f.query != nil {
		f.bloom = f.query.bloom()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if n := len(e.mu.filters); n >= e.cfg.Filters {
		return "", limitf("too many filters: %d installed, the node's limit (--rpc.filters); uninstall unused ones with eth_uninstallFilter", n)
	}
	if n := e.mu.perClient[f.owner]; n >= e.cfg.FiltersPerClient {
		return "", limitf("too many filters for client %s: %d installed, the limit per client (--rpc.clientfilters); uninstall unused ones with eth_uninstallFilter",
			strings.TrimPrefix(strings.TrimPrefix(f.owner, "ip "), "ws "), n)
	}
	f.id = gethrpc.NewID()
	f.lastPoll = time.Now()
	e.mu.filters[f.id] = f
	e.mu.perClient[f.owner]++
	return f.id, nil
}

// NewFilter is eth_newFilter.
func (api *ethAPI) NewFilter(ctx context.Context, q FilterQuery) (gethrpc.ID, error) {
	if q.BlockHash != nil {
		return "", errors.New("a filter cannot be bound to one block hash: use eth_getLogs")
	}
	return api.events.install(ctx, &filter{kind: kindLogs, query: &q})
}

// NewBlockFilter is eth_newBlockFilter.
func (api *ethAPI) NewBlockFilter(ctx context.Context) (gethrpc.ID, error) {
	return api.events.install(ctx, &filter{kind: kindBlocks})
}

// NewPendingTransactionFilter is eth_newPendingTransactionFilter.
func (api *ethAPI) NewPendingTransactionFilter(ctx context.Context, fullTx *bool) (gethrpc.ID, error) {
	return api.events.install(ctx, &filter{kind: kindPending, fullTx: fullTx != nil && *fullTx})
}

// UninstallFilter is eth_uninstallFilter.
func (api *ethAPI) UninstallFilter(id gethrpc.ID) bool {
	e := api.events
	e.mu.Lock()
	defer e.mu.Unlock()
	f, ok := e.mu.filters[id]
	if ok {
		e.removeFilterLocked(f)
	}
	return ok
}

// GetFilterChanges is eth_getFilterChanges: what happened since the last
// poll.
func (api *ethAPI) GetFilterChanges(id gethrpc.ID) (any, error) {
	e := api.events
	e.mu.Lock()
	defer e.mu.Unlock()
	f, ok := e.mu.filters[id]
	if !ok {
		return nil, errFilterNotFound
	}
	f.lastPoll = time.Now()
	e.mu.buffered -= f.size()
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
func (api *ethAPI) GetFilterLogs(ctx context.Context, id gethrpc.ID) ([]*types.Log, error) {
	e := api.events
	e.mu.Lock()
	f, ok := e.mu.filters[id]
	if ok {
		f.lastPoll = time.Now()
	}
	e.mu.Unlock()
	if !ok {
		return nil, errFilterNotFound
	}
	if f.kind != kindLogs {
		return nil, fmt.Errorf("filter %s is not a logs filter", id)
	}
	return heavy(ctx, api, "eth_getFilterLogs", func(ctx context.Context) ([]*types.Log, error) {
		return api.getLogs(ctx, f.query)
	})
}

// subscribe starts a WebSocket subscription fed by the events loop, within
// the subscription limits.
func (api *ethAPI) subscribe(ctx context.Context, s *liveSub) (*gethrpc.Subscription, error) {
	notifier, ok := gethrpc.NotifierFromContext(ctx)
	if !ok {
		return nil, gethrpc.ErrNotificationsUnsupported
	}
	s.conn = clientKey(ctx)
	s.wake = make(chan struct{}, 1)
	s.dropped = make(chan struct{})
	if s.query != nil {
		s.bloom = s.query.bloom()
	}
	e := api.events
	e.mu.Lock()
	if n := len(e.mu.subs); n >= e.cfg.Subscriptions {
		e.mu.Unlock()
		return nil, limitf("too many subscriptions: %d open, the node's limit (--rpc.subscriptions)", n)
	}
	if n := e.mu.perConn[s.conn]; n >= e.cfg.SubscriptionsPerConn {
		e.mu.Unlock()
		return nil, limitf("too many subscriptions on this connection: %d open, the limit per WebSocket connection (--rpc.ws.subscriptions); unsubscribe unused ones with eth_unsubscribe", n)
	}
	e.mu.subs[s] = true
	e.mu.perConn[s.conn]++
	e.mu.Unlock()
	rs := notifier.CreateSubscription()
	go func() {
		defer func() {
			e.mu.Lock()
			e.removeSubLocked(s)
			e.mu.Unlock()
		}()
		for {
			select {
			case <-s.wake:
				for _, v := range e.takeQueue(s) {
					if err := notifier.Notify(rs.ID, v); err != nil {
						return
					}
				}
			case <-s.dropped:
				return
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
