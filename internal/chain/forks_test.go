package chain

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
)

// Two branches off block 2: the lighter one (3 blocks) first, then the
// heavier one (5 blocks) delivered block by block. The log records one
// reorg of depth 3, with the fork point, and the dropped
// branch becomes a side tip of length 3.
func TestForkLogRecordsReorgDepthAndTips(t *testing.T) {
	e := newEnv(t, chaingen.GenesisOptions{Accounts: 4})
	fl := NewForkLog(e.c, nil)
	var mu sync.Mutex
	var pushed []Reorg
	fl.SubscribeReorgs(func(r Reorg) { mu.Lock(); pushed = append(pushed, r); mu.Unlock() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fl.Run(ctx) }()
	defer func() { cancel(); <-done }()

	base := e.chain(e.gen.Genesis(), 2, nil)
	e.insert(base...)
	light := e.chain(base[1], 3, func(b *chaingen.BlockGen) { b.SetCoinbase(common.HexToAddress("0xaa")) })
	heavy := e.chain(base[1], 5, func(b *chaingen.BlockGen) { b.SetCoinbase(common.HexToAddress("0xbb")) })
	e.insert(light...)
	e.insert(heavy...)
	if e.c.CurrentBlock().Hash() != heavy[4].Hash() {
		t.Fatal("the heavier branch did not become the head")
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(fl.Reorgs()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no reorg recorded")
		}
		time.Sleep(10 * time.Millisecond)
	}
	rs := fl.Reorgs()
	if len(rs) != 1 {
		t.Fatalf("%d reorgs recorded, want 1: %+v", len(rs), rs)
	}
	r := rs[0]
	// The heavy branch outweighs the light one at its 4th block (a tie at
	// the 3rd keeps the first seen); its 5th extends the new head.
	if r.Depth != 3 || r.Added != 4 {
		t.Fatalf("reorg depth %d added %d, want depth 3 added 4", r.Depth, r.Added)
	}
	if r.Ancestor != base[1].Hash() || r.AncestorNumber != 2 {
		t.Fatalf("ancestor %d %s, want block 2 %s", r.AncestorNumber, r.Ancestor, base[1].Hash())
	}
	if r.OldHead.Hash() != light[2].Hash() {
		t.Fatalf("old head %s, want %s", r.OldHead.Hash(), light[2].Hash())
	}
	mu.Lock()
	if len(pushed) != 1 || pushed[0].Depth != 3 {
		t.Fatalf("subscribers got %+v", pushed)
	}
	mu.Unlock()
	tips := fl.Tips(8, 0)
	if len(tips) != 1 {
		t.Fatalf("%d tips, want the dropped branch's: %+v", len(tips), tips)
	}
	tip := tips[0]
	if tip.Header.Hash() != light[2].Hash() || tip.Length != 3 || tip.ForkNumber != 2 || tip.ForkHash != base[1].Hash() {
		t.Fatalf("tip %d (length %d, fork %d), want block 5 of the light branch, length 3, fork at 2",
			tip.Header.Number, tip.Length, tip.ForkNumber)
	}
	if tip.TD == nil || tip.TD.Cmp(e.c.CurrentTD()) >= 0 {
		t.Fatalf("tip td %v, want below the head's %v", tip.TD, e.c.CurrentTD())
	}
}

// The reorg ring and the side set stay bounded however many reorgs and
// side blocks pass.
func TestForkLogIsBounded(t *testing.T) {
	e := newEnv(t, chaingen.GenesisOptions{Accounts: 4})
	fl := NewForkLog(e.c, nil)
	blocks := e.chain(e.gen.Genesis(), 3, nil)
	for i := 0; i < MaxReorgs+40; i++ {
		fl.OnHead(HeadEvent{Block: blocks[2], Added: blocks[1:3], Removed: blocks[1:2]})
	}
	if n := len(fl.Reorgs()); n != MaxReorgs {
		t.Fatalf("%d reorgs kept, want %d", n, MaxReorgs)
	}
	for i := 0; i < maxSideBlocks*2; i++ {
		h := *blocks[0].Header()
		h.Extra = []byte{byte(i), byte(i >> 8)}
		fl.NoteSide(&h)
	}
	fl.mu.Lock()
	n, o := len(fl.mu.side), len(fl.mu.order)
	fl.mu.Unlock()
	if n > maxSideBlocks || o > maxSideBlocks {
		t.Fatalf("side set holds %d (order %d), want at most %d", n, o, maxSideBlocks)
	}
}
