package devnet

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// testChain builds blocks from parent: count blocks, numbered on from
// parent's number, hashed with salt so that two branches differ.
func testChain(parent blockRef, salt string, count int) []blockRef {
	out := make([]blockRef, 0, count)
	for i := 0; i < count; i++ {
		n := parent.Number + 1
		b := blockRef{Number: n, Parent: parent.Hash, Hash: crypto.Keccak256Hash([]byte(fmt.Sprintf("%s/%d/%x", salt, n, parent.Hash)))}
		out = append(out, b)
		parent = b
	}
	return out
}

// fetcher serves the blocks of the given chains by hash, counting calls.
type fetcher struct {
	blocks map[common.Hash]blockRef
	calls  int
}

func newFetcher(chains ...[]blockRef) *fetcher {
	f := &fetcher{blocks: map[common.Hash]blockRef{}}
	for _, c := range chains {
		for _, b := range c {
			f.blocks[b.Hash] = b
		}
	}
	return f
}

func (f *fetcher) fetch(h common.Hash) (blockRef, error) {
	f.calls++
	if b, ok := f.blocks[h]; ok {
		return b, nil
	}
	return blockRef{}, errors.New("unknown")
}

func TestBlockTreePropagationForkAndReorg(t *testing.T) {
	genesis := blockRef{Number: 0, Hash: common.HexToHash("0x01")}
	common5 := append([]blockRef{genesis}, testChain(genesis, "a", 5)...)
	branchB := testChain(common5[5], "b", 2) // 6, 7
	branchC := testChain(common5[5], "c", 3) // 6, 7, 8
	f := newFetcher(common5, branchB, branchC)
	tree := newBlockTree()
	t0 := time.UnixMilli(1_000_000)

	// peer0 shows block 5 first: its ancestors are fetched, down to genesis.
	move, reorg := tree.observe("peer0", common5[5], t0, f.fetch)
	if move == nil || reorg != nil || move.From != "peer0" || move.Delay != 0 {
		t.Fatalf("first head: %+v %+v", move, reorg)
	}
	if len(tree.nodes) != 6 {
		t.Fatalf("tree has %d blocks, want 6 (genesis to 5)", len(tree.nodes))
	}
	// peer1 reaches it 300 ms later: an arrival, no fetch.
	calls := f.calls
	move, _ = tree.observe("peer1", common5[5], t0.Add(300*time.Millisecond), f.fetch)
	if move.From != "peer0" || move.Delay != 300 || f.calls != calls {
		t.Fatalf("propagation: %+v, %d fetches", move, f.calls-calls)
	}
	if got := tree.nodes[common5[3].Hash].Arrivals["peer1"]; got != t0.UnixMilli()+300 {
		t.Fatalf("block 3 reached peer1 at %d", got)
	}
	// Observing the same head again is nothing.
	if m, r := tree.observe("peer1", common5[5], t0.Add(time.Second), f.fetch); m != nil || r != nil {
		t.Fatalf("same head: %+v %+v", m, r)
	}

	// A partition: peer0 mines B, peer1 mines C; both branches are drawn.
	tree.observe("peer0", branchB[1], t0.Add(2*time.Second), f.fetch)
	tree.observe("peer1", branchC[2], t0.Add(2*time.Second), f.fetch)
	blocks, _ := tree.snapshot()
	children := map[common.Hash]int{}
	for _, b := range blocks {
		children[b.Parent]++
	}
	if children[common5[5].Hash] != 2 {
		t.Fatalf("block 5 has %d children, want 2 branches", children[common5[5].Hash])
	}

	// Heal: peer0 moves to C, a reorg of depth 2 (6 and 7 of B dropped).
	_, reorg = tree.observe("peer0", branchC[2], t0.Add(3*time.Second), f.fetch)
	if reorg == nil || reorg.Depth != 2 || reorg.Ancestor != 5 || reorg.FromNumber != 7 || reorg.ToNumber != 8 {
		t.Fatalf("reorg %+v, want depth 2 from 7 to 8 over 5", reorg)
	}
	if _, reorgs := tree.snapshot(); len(reorgs) != 1 || reorgs[0].Peer != "peer0" {
		t.Fatalf("reorgs %+v", reorgs)
	}
	// A head moving forward on its own chain is no reorg.
	next := testChain(branchC[2], "c", 1)
	f = newFetcher(common5, branchB, branchC, next)
	if _, r := tree.observe("peer0", next[0], t0.Add(4*time.Second), f.fetch); r != nil {
		t.Fatalf("extension seen as reorg: %+v", r)
	}
}

func TestBlockTreeWindow(t *testing.T) {
	genesis := blockRef{Number: 0, Hash: common.HexToHash("0x01")}
	chain := append([]blockRef{genesis}, testChain(genesis, "a", 3*treeWindow)...)
	f := newFetcher(chain)
	tree := newBlockTree()
	now := time.UnixMilli(0)
	tree.observe("peer0", chain[10], now, f.fetch)
	tree.observe("peer0", chain[3*treeWindow], now, f.fetch)
	floor := uint64(2 * treeWindow)
	for _, n := range tree.nodes {
		if n.Number < floor {
			t.Fatalf("block %d kept below the window's floor %d", n.Number, floor)
		}
	}
	if len(tree.nodes) != treeWindow+1 {
		t.Fatalf("%d blocks kept, want %d", len(tree.nodes), treeWindow+1)
	}
	// An unknown parent (the peer cannot serve it) leaves the branch cut,
	// not an error.
	orphan := blockRef{Number: 3*treeWindow + 1, Hash: common.HexToHash("0x99"), Parent: common.HexToHash("0x98")}
	if m, r := tree.observe("peer1", orphan, now, f.fetch); m == nil || r != nil {
		t.Fatalf("orphan head: %+v %+v", m, r)
	}
}
