package sync

import (
	"math"
	"slices"
	gosync "sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/lru"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/libp2p/go-libp2p/core/peer"
)

// How a block reached this peer.
const (
	ViaGossip = "gossip" // a gossiped block, from the peer that forwarded it
	ViaSync   = "sync"   // downloaded by headers-first sync, from the sync peer
	ViaMined  = "mined"  // sealed by this peer's miner
)

// Arrival limits.
const (
	// MaxArrivals is how many recent blocks' arrivals are kept.
	MaxArrivals = 256
	// maxHeard bounds the blocks heard but not yet imported.
	maxHeard = 1024
)

// Arrival is when and how a block first reached this peer. Only blocks
// that were imported (passed every check) are recorded, once each, with
// the time the first copy of it was heard.
type Arrival struct {
	Hash   common.Hash
	Number uint64
	// Time is when the block first reached this peer; Delay is Time minus
	// the block's timestamp (negative when the miner's clock runs ahead).
	Time  time.Time
	Delay time.Duration
	Via   string
	From  peer.ID // empty for a block mined here
}

type heard struct {
	at   time.Time
	from peer.ID
}

// ArrivalLog is a ring of the last MaxArrivals blocks' arrivals. A peer
// can only be credited with a block that passed validation and that it
// delivered before anyone else: the time is our own clock's, taken when
// its copy (whose body matched its header) arrived.
type ArrivalLog struct {
	now   func() time.Time
	heard *lru.Cache[common.Hash, heard] // first copy heard, not yet imported

	mu struct {
		gosync.Mutex
		ring []Arrival // oldest first, at most MaxArrivals
		seen map[common.Hash]bool
		subs map[int]func(Arrival)
		next int
	}
}

// NewArrivalLog returns an empty log on the given clock (nil: time.Now).
func NewArrivalLog(now func() time.Time) *ArrivalLog {
	if now == nil {
		now = time.Now
	}
	l := &ArrivalLog{now: now, heard: lru.NewCache[common.Hash, heard](maxHeard)}
	l.mu.seen = make(map[common.Hash]bool)
	l.mu.subs = make(map[int]func(Arrival))
	return l
}

// Heard notes the first time a copy of a block (checked against its
// header) came from a peer; Imported uses it once the block is stored.
func (l *ArrivalLog) Heard(hash common.Hash, from peer.ID) {
	if _, ok := l.heard.Get(hash); ok {
		return
	}
	l.heard.Add(hash, heard{at: l.now(), from: from})
}

// Imported records the arrival of a block that was imported, credited to
// the first peer whose gossiped copy was heard (else from, by via). A
// block already recorded is ignored.
func (l *ArrivalLog) Imported(h *types.Header, from peer.ID, via string) {
	hash := h.Hash()
	at := l.now()
	if first, ok := l.heard.Get(hash); ok {
		at, from, via = first.at, first.from, ViaGossip
		l.heard.Remove(hash)
	}
	if via == ViaMined {
		from = ""
	}
	a := Arrival{
		Hash: hash, Number: h.Number.Uint64(), Time: at, Via: via, From: from,
		Delay: at.Sub(time.Unix(int64(h.Time), 0)),
	}
	l.mu.Lock()
	if l.mu.seen[hash] {
		l.mu.Unlock()
		return
	}
	if len(l.mu.ring) == MaxArrivals {
		delete(l.mu.seen, l.mu.ring[0].Hash)
		l.mu.ring = append(l.mu.ring[:0], l.mu.ring[1:]...)
	}
	l.mu.ring = append(l.mu.ring, a)
	l.mu.seen[hash] = true
	subs := make([]func(Arrival), 0, len(l.mu.subs))
	for _, f := range l.mu.subs {
		subs = append(subs, f)
	}
	l.mu.Unlock()
	for _, f := range subs {
		f(a)
	}
}

// Recent returns the last n arrivals, newest first.
func (l *ArrivalLog) Recent(n int) []Arrival {
	l.mu.Lock()
	defer l.mu.Unlock()
	n = min(max(n, 0), len(l.mu.ring))
	out := make([]Arrival, 0, n)
	for i := len(l.mu.ring) - 1; i >= len(l.mu.ring)-n; i-- {
		out = append(out, l.mu.ring[i])
	}
	return out
}

// Subscribe calls f with every new arrival, on the recording goroutine
// (f must not block), until the returned function is called.
func (l *ArrivalLog) Subscribe(f func(Arrival)) (unsubscribe func()) {
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

// Propagation summarises how long the recent blocks took to reach this
// peer after their timestamps (blocks that came by gossip; mined and
// synced blocks say nothing of propagation).
type Propagation struct {
	Blocks int
	// Buckets count blocks by delay: Buckets[i] counts delays below
	// Bounds[i] (and at least Bounds[i-1]); the last bucket has no upper
	// bound.
	Bounds  []time.Duration
	Buckets []int
	P50     time.Duration
	P95     time.Duration
	Min     time.Duration
	Max     time.Duration
}

// PropagationBounds are the histogram's upper bounds. Block timestamps
// have one-second resolution, so a delay is known only to within a
// second; the fine buckets at the low end still show a peer's relays.
var PropagationBounds = []time.Duration{
	250 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond, time.Second,
	1500 * time.Millisecond, 2 * time.Second, 3 * time.Second, 5 * time.Second, 10 * time.Second,
}

// Propagation computes the histogram and percentiles of the gossiped
// blocks among the recent arrivals.
func (l *ArrivalLog) Propagation() Propagation {
	var delays []time.Duration
	for _, a := range l.Recent(MaxArrivals) {
		if a.Via == ViaGossip {
			delays = append(delays, max(a.Delay, 0))
		}
	}
	return PropagationOf(delays)
}

// PropagationOf computes the histogram and percentiles of delays.
func PropagationOf(delays []time.Duration) Propagation {
	p := Propagation{Blocks: len(delays), Bounds: PropagationBounds, Buckets: make([]int, len(PropagationBounds)+1)}
	if len(delays) == 0 {
		return p
	}
	s := slices.Clone(delays)
	slices.Sort(s)
	for _, d := range s {
		i, _ := slices.BinarySearch(PropagationBounds, d+1) // first bound > d
		p.Buckets[i]++
	}
	p.P50, p.P95 = percentile(s, 0.50), percentile(s, 0.95)
	p.Min, p.Max = s[0], s[len(s)-1]
	return p
}

// percentile is the nearest-rank percentile of sorted s.
func percentile(s []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

// Arrivals is the log of when and from whom recent blocks arrived.
func (s *Syncer) Arrivals() *ArrivalLog { return s.arrivals }
