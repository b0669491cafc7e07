package sim

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestTwoPeersExchangeABlock(t *testing.T) {
	fx, err := NewFixture(12*time.Second, 100<<10, DefaultCosts())
	if err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		res, err := Run(Scenario{Name: "two", Seed: 1, Peers: 2, Miners: 1, Blocks: 3, BlockTime: 12 * time.Second}, fx)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range res.Blocks {
			t.Logf("block %d miner %d canonical %v arrivals %v", b.Number, b.Miner, b.Canonical, b.Arrivals)
			for i, a := range b.Arrivals {
				if a < 0 {
					t.Errorf("peer %d never imported block %d", i, b.Number)
				}
			}
		}
	})
}
