package sync

import (
	"math/big"
	"slices"
	gosync "sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/libp2p/go-libp2p/core/peer"
)

// peerState is what sync knows of a connected peer's chain.
type peerState struct {
	head   common.Hash
	number uint64
	// td is what the peer claims: a status message costs nothing to send,
	// so it decides only whom to ask, never what we believe.
	td *big.Int
	// proven is the most work the peer has shown: a verified header chain
	// it served, or a block it relayed that we imported.
	proven  *big.Int
	updated time.Time
	// light marks a light peer: it serves no headers or bodies and is
	// never synced from.
	light bool
	// version is the sync protocol version of its handshake.
	version uint64
}

// record is a peer's standing in sync, kept across reconnections so that a
// peer cannot wipe its strikes by reconnecting.
type record struct {
	strikes   int       // failures since the last success
	until     time.Time // no sync with the peer before then
	lastCheck time.Time // last status request for an unknown parent
	seen      time.Time
}

// Limits of the peer table.
const (
	maxStrikes    = 3    // a peer failing this many syncs in a row is banned
	maxRecords    = 4096 // peers remembered across reconnections
	recordMaxAge  = 30 * time.Minute
	checkInterval = 5 * time.Second // least time between two unknown-parent status requests to one peer
)

type peerTable struct {
	backoff time.Duration // after the first strike; doubles with each
	now     func() time.Time

	mu      gosync.Mutex
	peers   map[peer.ID]*peerState
	records map[peer.ID]*record
}

func newPeerTable(backoff time.Duration, now func() time.Time) *peerTable {
	return &peerTable{backoff: backoff, now: now, peers: make(map[peer.ID]*peerState), records: make(map[peer.ID]*record)}
}

func (t *peerTable) state(p peer.ID) *peerState {
	st := t.peers[p]
	if st == nil {
		st = &peerState{td: new(big.Int), proven: new(big.Int)}
		t.peers[p] = st
	}
	return st
}

func (t *peerTable) record(p peer.ID) *record {
	r := t.records[p]
	if r == nil {
		r = &record{}
		t.records[p] = r
	}
	r.seen = t.now()
	return r
}

// claim records a peer's status: its head as it says it is.
func (t *peerTable) claim(p peer.ID, head common.Hash, number uint64, td *big.Int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.state(p)
	st.updated = t.now()
	st.head, st.number, st.td = head, number, new(big.Int).Set(td)
	t.record(p)
}

// claimStatus records a peer's status message.
func (t *peerTable) claimStatus(p peer.ID, st *Status) {
	t.claim(p, st.Head, st.Number, st.TD)
	t.mu.Lock()
	defer t.mu.Unlock()
	if ps := t.peers[p]; ps != nil {
		ps.light, ps.version = st.Light, st.Version
	}
}

// prove records work the peer has shown: a block it sent that we hold
// with total difficulty td, or a verified header chain reaching td.
func (t *peerTable) prove(p peer.ID, head common.Hash, number uint64, td *big.Int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.peers[p]
	if !ok {
		return // gone
	}
	if td.Cmp(st.proven) > 0 {
		st.proven = new(big.Int).Set(td)
	}
	if td.Cmp(st.td) >= 0 {
		st.head, st.number, st.td = head, number, new(big.Int).Set(td)
		st.updated = t.now()
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

// best returns the peer to sync from: among those claiming more work than
// ours and not backing off after a failure, those without strikes first,
// then those that have proven work before, then the biggest claim. A
// liar's claim is tried, fails, and the next peer gets its turn.
func (t *peerTable) best(ours *big.Int) (peer.ID, peerState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var (
		id   peer.ID
		top  *peerState
		topR *record
	)
	better := func(st *peerState, r *record) bool {
		if top == nil {
			return true
		}
		if r.strikes != topR.strikes {
			return r.strikes < topR.strikes
		}
		if ps, ts := st.proven.Sign() > 0, top.proven.Sign() > 0; ps != ts {
			return ps
		}
		return st.td.Cmp(top.td) > 0
	}
	for p, st := range t.peers {
		if st.td.Cmp(ours) <= 0 || st.light {
			continue
		}
		r := t.records[p]
		if r == nil {
			r = &record{}
		}
		if now.Before(r.until) {
			continue
		}
		if better(st, r) {
			id, top, topR = p, st, r
		}
	}
	if top == nil {
		return "", peerState{}, false
	}
	return id, *top, true
}

// fail records a failed sync with p (no headers in time, a chain lighter
// than claimed, a broken promise) and returns its strikes in a row. Each
// strike doubles the time before p is tried again.
func (t *peerTable) fail(p peer.ID) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.record(p)
	r.strikes++
	r.until = t.now().Add(t.backoff << min(r.strikes-1, 10))
	return r.strikes
}

// succeed clears p's strikes.
func (t *peerTable) succeed(p peer.ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.record(p)
	r.strikes, r.until = 0, time.Time{}
}

// strikes returns p's failures in a row.
func (t *peerTable) strikes(p peer.ID) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r := t.records[p]; r != nil {
		return r.strikes
	}
	return 0
}

// tryCheck reports whether p may be asked for its status now because it
// announced a block we cannot place; at most once per checkInterval.
func (t *peerTable) tryCheck(p peer.ID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.record(p)
	now := t.now()
	if now.Sub(r.lastCheck) < checkInterval {
		return false
	}
	r.lastCheck = now
	return true
}

// withAtLeast returns peers whose claimed head is at or above number.
func (t *peerTable) withAtLeast(number uint64) []peer.ID {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []peer.ID
	for p, st := range t.peers {
		if st.number >= number && !st.light {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// stale returns peers whose status is older than age.
func (t *peerTable) stale(age time.Duration) []peer.ID {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []peer.ID
	now := t.now()
	for p, st := range t.peers {
		if now.Sub(st.updated) > age {
			out = append(out, p)
		}
	}
	return out
}

// prune forgets records of peers neither connected nor seen for a while,
// and the oldest records beyond maxRecords.
func (t *peerTable) prune() {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for p, r := range t.records {
		if _, on := t.peers[p]; !on && now.Sub(r.seen) > recordMaxAge && now.After(r.until) {
			delete(t.records, p)
		}
	}
	if over := len(t.records) - maxRecords; over > 0 {
		type aged struct {
			p    peer.ID
			seen time.Time
		}
		all := make([]aged, 0, len(t.records))
		for p, r := range t.records {
			all = append(all, aged{p, r.seen})
		}
		slices.SortFunc(all, func(a, b aged) int { return a.seen.Compare(b.seen) })
		for _, a := range all[:over] {
			delete(t.records, a.p)
		}
	}
}

// size returns the connected peers and the records held (tests).
func (t *peerTable) size() (peers, records int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.peers), len(t.records)
}

// PeerHead is a peer's known head, for the RPC.
type PeerHead struct {
	Head   common.Hash
	Number uint64
	// TD is the total difficulty the peer claims; ProvenTD the most it
	// has shown with headers or blocks.
	TD       *big.Int
	ProvenTD *big.Int
	// Version is the sync protocol version of its handshake; Light says
	// it keeps headers only.
	Version uint64
	Light   bool
}

// PeerHead returns what sync knows of a peer's head.
func (s *Syncer) PeerHead(p peer.ID) (PeerHead, bool) {
	st, ok := s.peers.get(p)
	if !ok {
		return PeerHead{}, false
	}
	return PeerHead{Head: st.head, Number: st.number, TD: st.td, ProvenTD: st.proven, Version: st.version, Light: st.light}, true
}

// rateLimiter is a token bucket per peer: rate tokens a second, a burst of
// twice the rate. Buckets of peers idle long enough to be full again are
// forgotten, so the map does not grow with every peer ever seen.
type rateLimiter struct {
	rate  float64
	burst float64
	now   func() time.Time
	mu    gosync.Mutex
	b     map[peer.ID]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(rate, burst float64, now func() time.Time) *rateLimiter {
	return &rateLimiter{rate: rate, burst: burst, now: now, b: make(map[peer.ID]*bucket)}
}

// take takes n tokens for p; false means p is over its rate (and nothing
// was taken).
func (r *rateLimiter) take(p peer.ID, n float64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refill(p) < n {
		return false
	}
	r.b[p].tokens -= n
	return true
}

// available returns the tokens p has now (negative: in debt).
func (r *rateLimiter) available(p peer.ID) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refill(p)
}

// spend takes n tokens from p, running into debt if needed: a response is
// sent whole, and the debt delays the next one.
func (r *rateLimiter) spend(p peer.ID, n float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refill(p)
	r.b[p].tokens -= n
}

func (r *rateLimiter) refill(p peer.ID) float64 {
	now := r.now()
	b := r.b[p]
	if b == nil {
		b = &bucket{tokens: r.burst, last: now}
		r.b[p] = b
	}
	b.tokens = min(r.burst, b.tokens+now.Sub(b.last).Seconds()*r.rate)
	b.last = now
	return b.tokens
}

// allow takes one token for p.
func (r *rateLimiter) allow(p peer.ID) bool { return r.take(p, 1) }

// prune forgets buckets that have refilled.
func (r *rateLimiter) prune() {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for p, b := range r.b {
		if b.tokens+now.Sub(b.last).Seconds()*r.rate >= r.burst {
			delete(r.b, p)
		}
	}
}

// size returns the buckets held (tests).
func (r *rateLimiter) size() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.b)
}
