//go:build !race

// The scenarios here move tens of thousands of QUIC packets: minutes under
// the race detector. make test runs them without it (make sim-small); the
// harness itself is raced by TestTwoPeersExchangeABlock.

package sim

import (
	"testing"
	"testing/synctest"
	"time"
)

// checkEveryPeerHasEveryCanonicalBlock fails for each (canonical block,
// peer) pair never imported, and for each import later than bound.
func checkEveryPeerHasEveryCanonicalBlock(t *testing.T, res *Result, bound time.Duration) {
	t.Helper()
	for _, b := range res.Blocks {
		if !b.Canonical {
			continue
		}
		for i, a := range b.Arrivals {
			switch {
			case a < 0:
				t.Errorf("peer %d never imported canonical block %d (%s)", i, b.Number, b.Hash)
			case bound > 0 && a > bound:
				t.Errorf("peer %d imported block %d after %v, over the bound %v", i, b.Number, a, bound)
			}
		}
	}
}

func TestSmallScenario(t *testing.T) {
	fx, err := NewFixture(4*time.Second, 100<<10, DefaultCosts())
	if err != nil {
		t.Fatal(err)
	}
	wall := time.Now()
	synctest.Test(t, func(t *testing.T) {
		res, err := Run(Scenario{Name: "small", Seed: 7, Peers: 50, Blocks: 16, BlockTime: 4 * time.Second, Loss: 0.001, PoolsFull: true}, fx)
		if err != nil {
			t.Fatal(err)
		}
		s := res.Summarise(fx)
		t.Logf("%d peers, degree %d–%d, diameter %d, max one-way %v: mined %d, canonical %d; import p50 %v p99 %v; last peer p99 %v max %v; bound %v; %.0f KiB sent per peer per block",
			s.Peers, s.DegreeMin, s.DegreeMax, res.Diameter, res.MaxOneWay, s.Mined, s.Canonical, s.P50, s.P99, s.LastP99, s.LastMax, s.Bound, s.BytesPerPB/1024)
		if res.Heads != 1 {
			t.Errorf("%d heads at the end, want 1", res.Heads)
		}
		if s.Canonical < 10 {
			t.Errorf("only %d of %d mined blocks canonical", s.Canonical, s.Mined)
		}
		checkEveryPeerHasEveryCanonicalBlock(t, res, s.Bound)
	})
	t.Logf("wall time %v", time.Since(wall))
}

// TestPartitionHeals cuts the Americas from the rest while both sides mine,
// heals, and wants every peer on one chain: the heavier side's, which every
// peer of the other side reorganises to.
func TestPartitionHeals(t *testing.T) {
	fx, err := NewFixture(2*time.Second, 20<<10, DefaultCosts())
	if err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		res, err := Run(Scenario{Name: "partition", Seed: 3, Peers: 40, Miners: 12, Blocks: 30, BlockTime: 2 * time.Second,
			Partition: &Window{At: 5 * time.Second, For: 30 * time.Second}}, fx)
		if err != nil {
			t.Fatal(err)
		}
		s := res.Summarise(fx)
		t.Logf("mined %d, canonical %d, stale %.0f %%, heads %d, virtual %v", s.Mined, s.Canonical, 100*s.StaleRate, res.Heads, res.Virtual)
		if res.Heads != 1 {
			t.Fatalf("%d heads after the heal, want 1", res.Heads)
		}
		// Both sides mined while cut: one side's blocks were dropped.
		if s.Mined-s.Canonical == 0 {
			t.Errorf("no block was left off the chain: the partition did not split the network")
		}
		checkEveryPeerHasEveryCanonicalBlock(t, res, 0)
	})
}
