package devnet

import (
	"sort"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// treeWindow is how many heights below the highest head seen the block
// tree keeps: the page draws the branches of the last treeWindow blocks.
const treeWindow = 64

// maxReorgs is how many reorgs the tree remembers for the page.
const maxReorgs = 32

// blockRef is what a peer's RPC says of one block: enough to place it in
// the tree.
type blockRef struct {
	Number uint64
	Hash   common.Hash
	Parent common.Hash
	Miner  common.Address
}

// BlockNode is one block of the recent block tree: a block that was at the
// head of some peer, or an ancestor of one, with when it reached each peer.
type BlockNode struct {
	Hash   common.Hash    `json:"hash"`
	Number uint64         `json:"number"`
	Parent common.Hash    `json:"parent"`
	Miner  common.Address `json:"miner"`
	// FirstSeen is when the supervisor first saw the block (unix ms), at
	// the head of FirstPeer (or as the ancestor of its head).
	FirstSeen int64  `json:"firstSeen"`
	FirstPeer string `json:"firstPeer"`
	// Arrivals is, per peer, when its head first was this block or a
	// descendant of it (unix ms): how the block propagated.
	Arrivals map[string]int64 `json:"arrivals"`
}

// Reorg is a peer's head moving to a block that does not descend from its
// previous head: Depth blocks of its chain (from Ancestor+1 to FromNumber)
// were dropped.
type Reorg struct {
	Peer       string      `json:"peer"`
	At         int64       `json:"at"`
	Depth      uint64      `json:"depth"`
	From       common.Hash `json:"from"`
	FromNumber uint64      `json:"fromNumber"`
	To         common.Hash `json:"to"`
	ToNumber   uint64      `json:"toNumber"`
	Ancestor   uint64      `json:"ancestor"`
}

// HeadMove is a peer's head moving to a new block; From is the peer the
// block was first seen at, Delay how long after that (ms) it reached Peer.
type HeadMove struct {
	Peer   string      `json:"peer"`
	Number uint64      `json:"number"`
	Hash   common.Hash `json:"hash"`
	From   string      `json:"from"`
	Delay  int64       `json:"delayMs"`
}

// blockTree is the recent block tree built from the peers' heads. It is
// synchronous and owned by one goroutine (the tracker): time comes in as a
// value and unknown blocks through the fetch function given to observe.
type blockTree struct {
	nodes  map[common.Hash]*BlockNode
	heads  map[string]blockRef // each peer's head as last observed
	top    uint64              // the highest head number seen
	reorgs []Reorg
}

func newBlockTree() *blockTree {
	return &blockTree{nodes: make(map[common.Hash]*BlockNode), heads: make(map[string]blockRef)}
}

// fetchFunc returns the block with the given hash, from the peer that
// showed its descendant.
type fetchFunc func(common.Hash) (blockRef, error)

// observe records that peer's head is h at now. It adds h and the
// ancestors the tree lacks (down to the window, through fetch), records
// the block's arrival at peer, and returns the head move and, when h does
// not descend from the peer's previous head, the reorg.
func (t *blockTree) observe(peer string, h blockRef, now time.Time, fetch fetchFunc) (*HeadMove, *Reorg) {
	prev, had := t.heads[peer]
	if had && prev.Hash == h.Hash {
		return nil, nil
	}
	ms := now.UnixMilli()
	t.heads[peer] = h
	t.top = max(t.top, h.Number)
	t.add(h, peer, ms)
	t.fillAncestors(h, peer, ms, fetch)
	// The peer has h and every ancestor of it it had not shown yet.
	for n := t.nodes[h.Hash]; n != nil; n = t.nodes[n.Parent] {
		if _, ok := n.Arrivals[peer]; ok {
			break
		}
		n.Arrivals[peer] = ms
	}
	node := t.nodes[h.Hash]
	move := &HeadMove{Peer: peer, Number: h.Number, Hash: h.Hash, From: node.FirstPeer, Delay: ms - node.FirstSeen}
	var reorg *Reorg
	if had {
		if anc, ok := t.ancestor(prev, h, fetch); ok && anc.Hash != prev.Hash {
			reorg = &Reorg{Peer: peer, At: ms, Depth: prev.Number - anc.Number, From: prev.Hash, FromNumber: prev.Number,
				To: h.Hash, ToNumber: h.Number, Ancestor: anc.Number}
			t.reorgs = append(t.reorgs, *reorg)
			if len(t.reorgs) > maxReorgs {
				t.reorgs = t.reorgs[len(t.reorgs)-maxReorgs:]
			}
		}
	}
	t.prune()
	return move, reorg
}

// add puts b in the tree if it is not there, first seen now at peer.
func (t *blockTree) add(b blockRef, peer string, ms int64) {
	if _, ok := t.nodes[b.Hash]; ok {
		return
	}
	t.nodes[b.Hash] = &BlockNode{Hash: b.Hash, Number: b.Number, Parent: b.Parent, Miner: b.Miner,
		FirstSeen: ms, FirstPeer: peer, Arrivals: make(map[string]int64)}
}

// fillAncestors fetches the ancestors of h the tree lacks, down to the
// window's floor, so that every branch reaches the block it forks from.
func (t *blockTree) fillAncestors(h blockRef, peer string, ms int64, fetch fetchFunc) {
	floor := t.floor()
	cur := h
	for cur.Number > floor && cur.Number > 0 {
		if _, ok := t.nodes[cur.Parent]; ok {
			return
		}
		parent, err := fetch(cur.Parent)
		if err != nil || parent.Hash != cur.Parent || parent.Number+1 != cur.Number {
			return // the branch stays cut here; the next head may fill it
		}
		t.add(parent, peer, ms)
		cur = parent
	}
}

// ancestor returns the common ancestor of a and b, walking the tree (and
// fetching what it lacks); ok is false when the walk leaves the window.
func (t *blockTree) ancestor(a, b blockRef, fetch fetchFunc) (blockRef, bool) {
	step := func(r blockRef) (blockRef, bool) {
		if n, ok := t.nodes[r.Parent]; ok {
			return blockRef{Number: n.Number, Hash: n.Hash, Parent: n.Parent, Miner: n.Miner}, true
		}
		if r.Number == 0 {
			return blockRef{}, false
		}
		p, err := fetch(r.Parent)
		if err != nil || p.Hash != r.Parent {
			return blockRef{}, false
		}
		return p, true
	}
	for i := 0; a.Hash != b.Hash; i++ {
		if i > 2*treeWindow+2 {
			return blockRef{}, false
		}
		var ok bool
		if a.Number >= b.Number {
			a, ok = step(a)
		} else {
			b, ok = step(b)
		}
		if !ok {
			return blockRef{}, false
		}
	}
	return a, true
}

func (t *blockTree) floor() uint64 {
	if t.top > treeWindow {
		return t.top - treeWindow
	}
	return 0
}

// prune drops the blocks below the window.
func (t *blockTree) prune() {
	floor := t.floor()
	for h, n := range t.nodes {
		if n.Number < floor {
			delete(t.nodes, h)
		}
	}
}

// forget drops peer's head: a peer that went down, so that its head when
// it comes back is no reorg of the head it had.
func (t *blockTree) forget(peer string) { delete(t.heads, peer) }

// snapshot copies the tree for readers, in height order.
func (t *blockTree) snapshot() ([]BlockNode, []Reorg) {
	out := make([]BlockNode, 0, len(t.nodes))
	for _, n := range t.nodes {
		c := *n
		c.Arrivals = make(map[string]int64, len(n.Arrivals))
		for k, v := range n.Arrivals {
			c.Arrivals[k] = v
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Number != out[j].Number {
			return out[i].Number < out[j].Number
		}
		return out[i].FirstSeen < out[j].FirstSeen || (out[i].FirstSeen == out[j].FirstSeen && out[i].Hash.Cmp(out[j].Hash) < 0)
	})
	return out, append([]Reorg{}, t.reorgs...)
}
