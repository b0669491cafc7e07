package chain

import (
	"context"
	"math/big"
	"slices"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/event"
)

// ForkLog limits.
const (
	// MaxReorgs is how many recent reorgs a ForkLog keeps.
	MaxReorgs = 64
	// maxSideBlocks bounds the non-canonical blocks a ForkLog remembers.
	maxSideBlocks = 1024
	// maxForkWalk bounds the walk from a side tip back to the canonical
	// chain.
	maxForkWalk = 256
)

// HeadSource is what a ForkLog reads: a full peer's Chain or a light
// peer's header chain.
type HeadSource interface {
	SubscribeHeads(ch chan<- HeadEvent) event.Subscription
	GetHeaderByHash(hash common.Hash) *types.Header
	GetTD(hash common.Hash, number uint64) *big.Int
	IsCanonical(h *types.Header) bool
	CurrentHeader() *types.Header
}

// Reorg is one change of the canonical chain that dropped blocks.
type Reorg struct {
	Time     time.Time
	OldHead  *types.Header
	NewHead  *types.Header
	Ancestor common.Hash // the common ancestor
	// AncestorNumber is the common ancestor's number; Depth the blocks
	// removed from the canonical chain and Added those put on it.
	AncestorNumber uint64
	Depth, Added   int
}

// Tip is the head of a known side branch.
type Tip struct {
	Header *types.Header
	TD     *big.Int // nil when unknown (a light peer's pruned header)
	// ForkNumber and ForkHash are the canonical block the branch leaves
	// from; Length is the blocks from there to the tip. Unknown (Length 0)
	// when the walk back did not reach the canonical chain.
	ForkNumber uint64
	ForkHash   common.Hash
	Length     int
}

// ForkLog follows the head events of a chain: a ring of the last
// MaxReorgs reorgs, and the side branches it has seen (blocks a reorg
// dropped and side blocks noted by NoteSide), from which Tips derives the
// current fork tree. It reads the chain only when asked for tips, never
// while a head event is delivered.
type ForkLog struct {
	src HeadSource
	now func() time.Time

	mu struct {
		sync.Mutex
		reorgs []Reorg                       // oldest first
		side   map[common.Hash]*types.Header // non-canonical blocks seen
		order  []common.Hash                 // side blocks, oldest first
		subs   map[int]func(Reorg)
		next   int
	}
}

// NewForkLog returns a ForkLog over src; Run follows its head events.
// now is the clock (nil: time.Now).
func NewForkLog(src HeadSource, now func() time.Time) *ForkLog {
	if now == nil {
		now = time.Now
	}
	l := &ForkLog{src: src, now: now}
	l.mu.side = make(map[common.Hash]*types.Header)
	l.mu.subs = make(map[int]func(Reorg))
	return l
}

// Run follows the chain's head events until ctx ends.
func (l *ForkLog) Run(ctx context.Context) error {
	ch := make(chan HeadEvent, 64)
	sub := l.src.SubscribeHeads(ch)
	defer sub.Unsubscribe()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-sub.Err():
			return err
		case ev := <-ch:
			l.OnHead(ev)
		}
	}
}

// OnHead records a head event: a reorg when it removed blocks; removed
// blocks become side blocks, added ones leave the side set.
func (l *ForkLog) OnHead(ev HeadEvent) {
	if len(ev.Removed) == 0 {
		if len(ev.Added) > 0 {
			l.mu.Lock()
			for _, b := range ev.Added {
				delete(l.mu.side, b.Hash())
			}
			l.mu.Unlock()
		}
		return
	}
	// Removed is newest first, Added oldest first.
	r := Reorg{
		Time: l.now(), OldHead: ev.Removed[0].Header(), NewHead: ev.Block.Header(),
		Depth: len(ev.Removed), Added: len(ev.Added),
	}
	oldest := ev.Removed[len(ev.Removed)-1]
	r.Ancestor, r.AncestorNumber = oldest.ParentHash(), oldest.NumberU64()-1
	l.mu.Lock()
	for _, b := range ev.Added {
		delete(l.mu.side, b.Hash())
	}
	for _, b := range ev.Removed {
		l.noteSideLocked(b.Header())
	}
	if len(l.mu.reorgs) == MaxReorgs {
		l.mu.reorgs = append(l.mu.reorgs[:0], l.mu.reorgs[1:]...)
	}
	l.mu.reorgs = append(l.mu.reorgs, r)
	subs := make([]func(Reorg), 0, len(l.mu.subs))
	for _, f := range l.mu.subs {
		subs = append(subs, f)
	}
	l.mu.Unlock()
	for _, f := range subs {
		f(r)
	}
}

// NoteSide remembers a stored block that may be on a side branch (the
// caller need not know: canonical blocks are left out when tips are
// computed).
func (l *ForkLog) NoteSide(h *types.Header) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.noteSideLocked(h)
}

func (l *ForkLog) noteSideLocked(h *types.Header) {
	hash := h.Hash()
	if _, ok := l.mu.side[hash]; ok {
		return
	}
	for len(l.mu.order) >= maxSideBlocks {
		delete(l.mu.side, l.mu.order[0])
		l.mu.order = l.mu.order[1:]
	}
	l.mu.side[hash] = h
	l.mu.order = append(l.mu.order, hash)
}

// Reorgs returns the recorded reorgs, newest first.
func (l *ForkLog) Reorgs() []Reorg {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(l.mu.reorgs)
	slices.Reverse(out)
	return out
}

// SubscribeReorgs calls f with every new reorg, on the head-event
// goroutine (f must not block), until the returned function is called.
func (l *ForkLog) SubscribeReorgs(f func(Reorg)) (unsubscribe func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	id := l.mu.next
	l.mu.next++
	l.mu.subs[id] = f
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(l.mu.subs, id)
	}
}

// Tips returns the heads of the known side branches that are not
// canonical now, heaviest first, at most n, and only those whose fork
// point is within depth blocks of the head (0: any).
func (l *ForkLog) Tips(n int, depth uint64) []Tip {
	l.mu.Lock()
	side := make([]*types.Header, 0, len(l.mu.side))
	for _, h := range l.mu.side {
		side = append(side, h)
	}
	l.mu.Unlock()
	// A tip is a non-canonical block no other non-canonical block builds on.
	var nonCanon []*types.Header
	for _, h := range side {
		if !l.src.IsCanonical(h) {
			nonCanon = append(nonCanon, h)
		}
	}
	parents := make(map[common.Hash]bool, len(nonCanon))
	for _, h := range nonCanon {
		parents[h.ParentHash] = true
	}
	head := l.src.CurrentHeader().Number.Uint64()
	var tips []Tip
	for _, h := range nonCanon {
		if parents[h.Hash()] {
			continue
		}
		t := Tip{Header: h, TD: l.src.GetTD(h.Hash(), h.Number.Uint64())}
		if fork := l.forkPoint(h); fork != nil {
			t.ForkNumber, t.ForkHash = fork.Number.Uint64(), fork.Hash()
			t.Length = int(h.Number.Uint64() - t.ForkNumber)
		}
		if depth > 0 && t.Length > 0 && head > t.ForkNumber && head-t.ForkNumber > depth {
			continue
		}
		tips = append(tips, t)
	}
	slices.SortFunc(tips, func(a, b Tip) int {
		switch {
		case a.TD == nil && b.TD == nil:
			return b.Header.Number.Cmp(a.Header.Number)
		case a.TD == nil:
			return 1
		case b.TD == nil:
			return -1
		}
		return b.TD.Cmp(a.TD)
	})
	if n > 0 && len(tips) > n {
		tips = tips[:n]
	}
	return tips
}

// forkPoint walks from h back to the first canonical ancestor, or nil.
func (l *ForkLog) forkPoint(h *types.Header) *types.Header {
	for i := 0; i < maxForkWalk && h != nil && h.Number.Sign() > 0; i++ {
		p := l.src.GetHeaderByHash(h.ParentHash)
		if p == nil {
			return nil
		}
		if l.src.IsCanonical(p) {
			return p
		}
		h = p
	}
	return nil
}
