package rpc

import (
	"testing"
)

// A provider serves the parts of the network view that name no peer;
// the operator's node serves all of it.
func TestNetworkViewMethodSets(t *testing.T) {
	public := []string{"peerchain_propagation", "peerchain_chainTips", "peerchain_reorgs"}
	private := []string{"peerchain_bans", "peerchain_blockArrivals", "peerchain_nodeStatus", "peerchain_subscribe"}
	p := providerEnv(t, Config{}, nil, nil)
	for _, m := range public {
		if !p.srv.metrics.served[m] {
			t.Errorf("a provider does not serve %s", m)
		}
	}
	for _, m := range private {
		if p.srv.metrics.served[m] {
			t.Errorf("a provider serves %s, which names peers or the operator's node", m)
		}
	}
	local := newEnv(t, Config{})
	for _, m := range append(public, private...) {
		if !local.srv.metrics.served[m] {
			t.Errorf("a local node does not serve %s", m)
		}
	}
}

// Subscribers never hold up the producer: past the backlog the events
// are replaced by one "lost" event.
func TestNetQueueDropsToLost(t *testing.T) {
	q := &netQueue{wake: make(chan struct{}, 1)}
	for i := 0; i < netSubBacklog+10; i++ {
		q.push(NetEvent{Type: "arrival"})
	}
	got := q.take()
	if len(got) != 11 || got[0].Type != "lost" {
		t.Fatalf("took %d events starting with %q, want a lost event and the 10 after the overflow", len(got), got[0].Type)
	}
	if again := q.take(); len(again) != 0 {
		t.Fatalf("%d events left", len(again))
	}
}
