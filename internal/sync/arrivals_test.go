package sync

import (
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/libp2p/go-libp2p/core/peer"
)

func inMesh(p *testPeer, other peer.ID) func() bool {
	return func() bool { return slices.Contains(p.host.Traffic(other).Mesh, topicBlocks) }
}

func lastArrival(p *testPeer, hash common.Hash) (Arrival, bool) {
	for _, a := range p.sync.Arrivals().Recent(MaxArrivals) {
		if a.Hash == hash {
			return a, true
		}
	}
	return Arrival{}, false
}

// A mined block gossiped to a peer: the miner records it as mined, the
// peer as gossip from the miner, bytes flow both ways and the two are in
// each other's mesh; a peer that joins later records the blocks as synced.
func TestArrivalsCreditTheGossipingPeer(t *testing.T) {
	miner := newPeer(t)
	victim := newPeer(t, miner.addr())
	base := genChain(t, miner.env.Gen, miner.env.Gen.Genesis(), 3)
	insertAll(t, miner, base)
	waitFor(t, 20*time.Second, "the victim to sync the base", headIs(victim, base[2]))
	waitFor(t, 20*time.Second, "the miner in the victim's blocks mesh", inMesh(victim, miner.host.ID()))

	b := genChain(t, miner.env.Gen, base[2], 1)[0]
	insertAll(t, miner, []*types.Block{b})
	before := victim.host.Traffic(miner.host.ID()).BytesIn
	miner.sync.Broadcast(b)
	waitFor(t, 20*time.Second, "the victim to take the gossiped block", headIs(victim, b))
	var got Arrival
	waitFor(t, 10*time.Second, "the victim to record the arrival", func() bool {
		var ok bool
		got, ok = lastArrival(victim, b.Hash())
		return ok
	})
	if got.Via != ViaGossip || got.From != miner.host.ID() {
		t.Fatalf("arrival via %s from %s, want gossip from the miner %s", got.Via, got.From, miner.host.ID())
	}
	if got.Number != b.NumberU64() || got.Time.Before(time.Unix(int64(b.Time()), 0).Add(-time.Second)) {
		t.Fatalf("arrival %+v does not match block %d", got, b.NumberU64())
	}
	if m, ok := lastArrival(miner, b.Hash()); !ok || m.Via != ViaMined || m.From != "" {
		t.Fatalf("the miner's arrival %+v, want mined with no sender", m)
	}
	for _, a := range victim.sync.Arrivals().Recent(MaxArrivals) {
		if a.Number <= 3 && (a.Via != ViaSync || a.From != miner.host.ID()) {
			t.Fatalf("base block %d recorded via %s from %s, want sync from the miner", a.Number, a.Via, a.From)
		}
	}
	size := uint64(b.Size())
	waitFor(t, 10*time.Second, "the block's bytes counted", func() bool {
		return victim.host.Traffic(miner.host.ID()).BytesIn >= before+size && miner.host.Traffic(victim.host.ID()).BytesOut >= size
	})
	if p := victim.sync.Arrivals().Propagation(); p.Blocks != 1 || p.P50 != p.P95 || p.Buckets[len(p.Buckets)-1] > 1 {
		t.Fatalf("propagation %+v, want the one gossiped block", p)
	}
	late := newPeer(t, victim.addr())
	waitFor(t, 20*time.Second, "a late peer to sync", headIs(late, b))
	waitFor(t, 10*time.Second, "the late peer's arrivals", func() bool { return len(late.sync.Arrivals().Recent(MaxArrivals)) >= 4 })
	for _, a := range late.sync.Arrivals().Recent(4) {
		if a.Via != ViaSync || (a.From != victim.host.ID() && a.From != miner.host.ID()) {
			t.Fatalf("late arrival of %d via %s from %s, want sync from a peer", a.Number, a.Via, a.From)
		}
	}
}

// The liar tries to take the credit for a block it did not deliver first
// (an altered copy ahead of the miner's, a replay after it) and to fill
// the ring with junk (orphans with cheap valid work). Only the miner is
// credited, and only imported blocks are recorded.
func TestArrivalLiarGetsNoCreditAndNoRoom(t *testing.T) {
	miner := newPeer(t)
	victim := newPeer(t, miner.addr())
	gen := miner.env.Gen
	base := genChain(t, gen, gen.Genesis(), 3)
	insertAll(t, miner, base)
	waitFor(t, 20*time.Second, "the victim to sync the base", headIs(victim, base[2]))
	liar := newAdversary(t, victim, canonOf(victim, base))
	liar.joined()

	// Junk: orphans whose work is valid but whose parents nobody has.
	for i := 0; i < 30; i++ {
		h := types.CopyHeader(base[2].Header())
		h.ParentHash = common.BigToHash(big.NewInt(int64(5000 + i)))
		h.Number = big.NewInt(int64(60 + i))
		sealed, err := gen.Seal(h)
		if err != nil {
			t.Fatal(err)
		}
		liar.publishBlock(types.NewBlockWithHeader(sealed).WithBody(types.Body{Withdrawals: []*types.Withdrawal{}}))
	}
	// An altered copy of the miner's next block, ahead of the miner's.
	mined := genChain(t, gen, base[2], 1)[0]
	if len(mined.Transactions()) == 0 {
		t.Fatal("the block needs transactions to alter")
	}
	liar.publishBlock(swapBody(mined, types.Body{Withdrawals: []*types.Withdrawal{}}))
	waitFor(t, 20*time.Second, "the victim to ban the liar", func() bool { return victim.host.IsBanned(liar.ID()) })
	insertAll(t, miner, []*types.Block{mined})
	miner.sync.Broadcast(mined)
	waitFor(t, 20*time.Second, "the victim to take the honest block", headIs(victim, mined))
	var got Arrival
	waitFor(t, 10*time.Second, "the arrival recorded", func() bool {
		var ok bool
		got, ok = lastArrival(victim, mined.Hash())
		return ok
	})
	if got.From != miner.host.ID() || got.Via != ViaGossip {
		t.Fatalf("the block is credited to %s via %s, want the miner %s by gossip", got.From, got.Via, miner.host.ID())
	}
	// A replay afterwards changes nothing.
	victim.sync.Arrivals().Imported(mined.Header(), liar.ID(), ViaGossip)
	if again, _ := lastArrival(victim, mined.Hash()); again != got {
		t.Fatalf("a replay changed the arrival to %+v", again)
	}
	for _, a := range victim.sync.Arrivals().Recent(MaxArrivals) {
		if a.From == liar.ID() {
			t.Fatalf("block %d credited to the liar", a.Number)
		}
		if !victim.env.Chain.HasBlock(a.Hash, a.Number) {
			t.Fatalf("arrival of block %d that the victim does not hold", a.Number)
		}
	}
	if victim.host.IsBanned(miner.host.ID()) {
		t.Fatal("the honest miner was banned")
	}
}

// The first copy heard keeps the credit; the ring and the heard set stay
// bounded whatever is sent.
func TestArrivalLogCreditAndBounds(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := NewArrivalLog(func() time.Time { return now })
	hdr := func(i int) *types.Header {
		return &types.Header{Number: big.NewInt(int64(i)), Time: uint64(now.Unix()) - 1, Difficulty: big.NewInt(1), Extra: []byte{byte(i), byte(i >> 8)}}
	}
	h := hdr(1)
	l.Heard(h.Hash(), "honest")
	now = now.Add(300 * time.Millisecond)
	l.Heard(h.Hash(), "liar")
	l.Imported(h, "liar", ViaGossip)
	a := l.Recent(1)[0]
	if a.From != "honest" || a.Delay != time.Second {
		t.Fatalf("arrival %+v, want the first copy's sender and time (1s after the timestamp)", a)
	}
	for i := 0; i < 10*MaxArrivals; i++ {
		l.Heard(hdr(10_000+i).Hash(), "liar")
		l.Imported(hdr(100+i), "p", ViaSync)
	}
	if n := len(l.Recent(10 * MaxArrivals)); n != MaxArrivals {
		t.Fatalf("%d arrivals kept, want %d", n, MaxArrivals)
	}
	if n := l.heard.Len(); n > maxHeard {
		t.Fatalf("%d heard blocks kept, want at most %d", n, maxHeard)
	}
	l.mu.Lock()
	seen := len(l.mu.seen)
	l.mu.Unlock()
	if seen != MaxArrivals {
		t.Fatalf("dedup set holds %d, want %d", seen, MaxArrivals)
	}
}

func TestPropagationPercentiles(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*100*time.Millisecond) // 0.1 s … 10 s
	}
	p := PropagationOf(ds)
	if p.Blocks != 100 || p.P50 != 5*time.Second || p.P95 != 9500*time.Millisecond {
		t.Fatalf("p50 %v p95 %v of %d, want 5s and 9.5s of 100", p.P50, p.P95, p.Blocks)
	}
	sum := 0
	for _, c := range p.Buckets {
		sum += c
	}
	if sum != 100 || p.Buckets[0] != 2 || p.Buckets[len(p.Buckets)-1] != 1 {
		t.Fatalf("buckets %v: want 100 in all, 2 below 250ms, 1 at 10s or more", p.Buckets)
	}
	if e := PropagationOf(nil); e.Blocks != 0 || len(e.Buckets) != len(PropagationBounds)+1 {
		t.Fatalf("empty propagation %+v", e)
	}
}
