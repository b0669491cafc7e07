package rpc

import (
	"sync"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/peerchain/peerchain/internal/chain"
)

// NetFeed fans network view events (peerchain_subscribe("network")) out to
// their subscribers; a full peer's and a light peer's network views both
// send through one. Subscribers are called in the sender's goroutine and
// must not block (the RPC's subscription queues the event and returns).
// The zero value is ready to use.
type NetFeed struct {
	mu struct {
		sync.Mutex
		subs map[int]func(NetEvent)
		next int
	}
}

// Send gives ev to every subscriber.
func (f *NetFeed) Send(ev NetEvent) {
	f.mu.Lock()
	subs := make([]func(NetEvent), 0, len(f.mu.subs))
	for _, s := range f.mu.subs {
		subs = append(subs, s)
	}
	f.mu.Unlock()
	for _, s := range subs {
		s(ev)
	}
}

// Subscribe calls fn with every event sent until the returned function is
// called.
func (f *NetFeed) Subscribe(fn func(NetEvent)) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mu.subs == nil {
		f.mu.subs = make(map[int]func(NetEvent))
	}
	id := f.mu.next
	f.mu.next++
	f.mu.subs[id] = fn
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.mu.subs, id)
	}
}

// RefOf names a header's block.
func RefOf(h *types.Header) BlockRef {
	return BlockRef{Number: hexutil.Uint64(h.Number.Uint64()), Hash: h.Hash()}
}

// ReorgInfoOf is a chain's reorg record (a full peer's chain or a light
// peer's header chain) as peerchain_reorgs reports it.
func ReorgInfoOf(r chain.Reorg) ReorgInfo {
	return ReorgInfo{TimeMs: r.Time.UnixMilli(), OldHead: RefOf(r.OldHead), NewHead: RefOf(r.NewHead),
		Ancestor: BlockRef{Number: hexutil.Uint64(r.AncestorNumber), Hash: r.Ancestor},
		Depth:    r.Depth, Added: r.Added}
}
