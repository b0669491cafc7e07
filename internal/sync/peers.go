package sync

import (
	"math/big"
	gosync "sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/libp2p/go-libp2p/core/peer"
)

// peerState is what sync knows of a peer's chain.
type peerState struct {
	head    common.Hash
	number  uint64
	td      *big.Int
	updated time.Time
}

type peerTable struct {
	mu    gosync.Mutex
	peers map[peer.ID]*peerState
}

func newPeerTable() *peerTable { return &peerTable{peers: make(map[peer.ID]*peerState)} }

// update records a peer's head when it is heavier than what we knew.
func (t *peerTable) update(p peer.ID, head common.Hash, number uint64, td *big.Int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.peers[p]
	if st == nil {
		st = &peerState{td: new(big.Int)}
		t.peers[p] = st
	}
	st.updated = time.Now()
	if td != nil && td.Cmp(st.td) >= 0 {
		st.head, st.number, st.td = head, number, new(big.Int).Set(td)
	}
}

func (t *peerTable) remove(p peer.ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.peers, p)
}

func (t *peerTable) get(p peer.ID) (peerState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.peers[p]
	if !ok {
		return peerState{}, false
	}
	return *st, true
}

// best returns the peer with the most total difficulty.
func (t *peerTable) best() (peer.ID, peerState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var (
		id  peer.ID
		top *peerState
	)
	for p, st := range t.peers {
		if top == nil || st.td.Cmp(top.td) > 0 {
			id, top = p, st
		}
	}
	if top == nil {
		return "", peerState{}, false
	}
	return id, *top, true
}

// withAtLeast returns peers whose head is at or above number.
func (t *peerTable) withAtLeast(number uint64) []peer.ID {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []peer.ID
	for p, st := range t.peers {
		if st.number >= number {
			out = append(out, p)
		}
	}
	return out
}

// stale returns peers whose status is older than age.
func (t *peerTable) stale(age time.Duration) []peer.ID {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []peer.ID
	for p, st := range t.peers {
		if time.Since(st.updated) > age {
			out = append(out, p)
		}
	}
	return out
}

// PeerHead is a peer's known head, for the RPC.
type PeerHead struct {
	Head   common.Hash
	Number uint64
	TD     *big.Int
}

// PeerHead returns what sync knows of a peer's head.
func (s *Syncer) PeerHead(p peer.ID) (PeerHead, bool) {
	st, ok := s.peers.get(p)
	if !ok {
		return PeerHead{}, false
	}
	return PeerHead{Head: st.head, Number: st.number, TD: st.td}, true
}

// rateLimiter is a token bucket per peer: requests beyond the rate (with a
// burst of twice the rate) count as flooding.
type rateLimiter struct {
	rate float64
	mu   gosync.Mutex
	b    map[peer.ID]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(rate float64) *rateLimiter {
	return &rateLimiter{rate: rate, b: make(map[peer.ID]*bucket)}
}

// allow takes one token for p; false means p is flooding.
func (r *rateLimiter) allow(p peer.ID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	b := r.b[p]
	if b == nil {
		b = &bucket{tokens: 2 * r.rate, last: now}
		r.b[p] = b
	}
	b.tokens = min(2*r.rate, b.tokens+now.Sub(b.last).Seconds()*r.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
