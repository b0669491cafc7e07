package rpc

import (
	"math"
	"sync"
	"time"
)

// buckets are token buckets by key (a client, a transaction sender),
// bounded in number. A bucket fills at its rate up to its burst; a
// request takes its cost, and may take the bucket below zero when it
// costs more than the burst (a large batch), so that the client then waits
// for the debt to refill. A bucket that has filled up again holds nothing
// worth remembering and is forgotten; when max buckets are in use even
// so, new keys share one overflow bucket, so that memory stays bounded
// whatever number of addresses an attacker has.
type buckets struct {
	max int
	now func() time.Time
	mu  struct {
		sync.Mutex
		m     map[string]*bucket
		swept time.Time
	}
}

type bucket struct {
	tokens      float64
	last        time.Time
	rate, burst float64
}

// overflowKey names the bucket that keys past max share.
const overflowKey = "\x00overflow"

const (
	// sweepEvery is how often full buckets are forgotten.
	sweepEvery = 10 * time.Second
	// sweepFullEvery is how often a full map is swept at most: a sweep
	// walks every bucket, which new keys must not make them pay for on
	// every request.
	sweepFullEvery = time.Second
)

func newBuckets(max int, now func() time.Time) *buckets {
	if now == nil {
		now = time.Now
	}
	b := &buckets{max: max, now: now}
	b.mu.m = make(map[string]*bucket)
	b.mu.swept = now()
	return b
}

// take spends cost from key's bucket of the given rate (per second) and
// burst. It fails when the bucket holds less than the cost (or, for a cost
// above the burst, less than a full burst), and then says how long until
// it will hold enough.
func (b *buckets) take(key string, rate, burst, cost float64) (ok bool, retry time.Duration) {
	return b.spend(key, rate, burst, cost, true)
}

// allow is take without spending: whether the bucket holds cost now.
func (b *buckets) allow(key string, rate, burst, cost float64) (ok bool, retry time.Duration) {
	return b.spend(key, rate, burst, cost, false)
}

func (b *buckets) spend(key string, rate, burst, cost float64, spend bool) (ok bool, retry time.Duration) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	since := now.Sub(b.mu.swept)
	if since >= sweepEvery || (len(b.mu.m) >= b.max && since >= sweepFullEvery) {
		b.sweepLocked(now)
	}
	bk := b.mu.m[key]
	if bk == nil {
		if len(b.mu.m) >= b.max {
			key = overflowKey
			bk = b.mu.m[key]
		}
		if bk == nil {
			bk = &bucket{tokens: burst, last: now}
			b.mu.m[key] = bk
		}
	}
	bk.rate, bk.burst = rate, burst
	bk.fill(now)
	need := min(cost, burst)
	if bk.tokens < need {
		return false, time.Duration(math.Ceil((need - bk.tokens) / rate * float64(time.Second)))
	}
	if spend {
		bk.tokens -= cost
	}
	return true, 0
}

func (bk *bucket) fill(now time.Time) {
	if d := now.Sub(bk.last); d > 0 {
		bk.tokens = min(bk.burst, bk.tokens+bk.rate*d.Seconds())
		bk.last = now
	}
}

// sweepLocked forgets the buckets that are full again.
func (b *buckets) sweepLocked(now time.Time) {
	b.mu.swept = now
	for k, bk := range b.mu.m {
		if bk.fill(now); bk.tokens >= bk.burst {
			delete(b.mu.m, k)
		}
	}
}

// size is the number of buckets remembered.
func (b *buckets) size() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.mu.m)
}
