package p2p

import (
	"context"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

// The reasons the sync layer bans with, as it words them, fall in their
// classes.
func TestBanClass(t *testing.T) {
	for reason, want := range map[string]string{
		"flooding: more than 20 gossiped blocks/s":                              BanFlooding,
		"flooding: more than 100 requests/s":                                    BanFlooding,
		"oversized headers/1 request: message over the size cap":                BanOversized,
		"oversized transaction message: 200000 bytes":                           BanOversized,
		"read status/1 response: message over the size cap":                     BanOversized,
		"malformed block: rlp: value size exceeds available input length":       BanMalformed,
		"malformed transaction: rlp: expected input list":                       BanMalformed,
		"invalid block 12: rule pow":                                            BanInvalid,
		"invalid transaction 0xab: nonce too low":                               BanInvalid,
		"served an invalid chain: header 5: rule difficulty":                    BanInvalid,
		"served a body for block 9 that fails its checks: transactions root":    BanInvalid,
		"claimed total difficulty 1000 and failed 3 syncs in a row: no headers": BanUnresponded,
		"something new": BanOther,
	} {
		if got := BanClass(reason); got != want {
			t.Errorf("BanClass(%q) = %s, want %s", reason, got, want)
		}
	}
}

// Real hosts: a flooder banned for flooding is counted under "flooding";
// a gossiped message the validator rejects counts as rejected with
// gossipsub's reason, one it accepts as delivered, both under the
// topic's short name; the publisher counts nothing for its own messages.
func TestCountersCountBansAndGossip(t *testing.T) {
	a := newHost(t)
	b := newHost(t, a.Addrs()[0])
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	accept := func(_ context.Context, _, _ peer.ID, data []byte) Verdict {
		if string(data) == "bad" {
			return Reject
		}
		return Accept
	}
	ta, err := a.JoinTopic("t/1", TopicOptions{ContentIDs: true}, accept, func(peer.ID, peer.ID, []byte) {})
	if err != nil {
		t.Fatal(err)
	}
	tb, err := b.JoinTopic("t/1", TopicOptions{ContentIDs: true}, func(context.Context, peer.ID, peer.ID, []byte) Verdict { return Accept },
		func(peer.ID, peer.ID, []byte) {})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b in a's topic", func() bool { return len(ta.Peers()) == 1 && len(tb.Peers()) == 1 })
	for _, msg := range []string{"good", "bad"} {
		if err := tb.Publish(context.Background(), []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "a delivered one message and rejected one", func() bool {
		g := a.GossipCounts()
		return g.Messages[GossipKey{"t/1", GossipDelivered}] == 1 && g.Messages[GossipKey{"t/1", GossipRejected}] == 1
	})
	if g := a.GossipCounts(); g.Rejections[GossipKey{"t/1", "validation_failed"}] != 1 {
		t.Fatalf("rejections %v, want one validation_failed on t/1", g.Rejections)
	}
	if g := b.GossipCounts(); len(g.Messages) != 0 {
		t.Fatalf("the publisher counted its own messages: %v", g.Messages)
	}

	a.Ban(b.ID(), "flooding: more than 100 requests/s")
	a.Ban(b.ID(), "malformed block: rlp: expected input list")
	waitFor(t, "b disconnected", func() bool { return a.PeerCount() == 0 })
	if got := a.BanCounts(); got[BanFlooding] != 1 || got[BanMalformed] != 1 || len(got) != 2 {
		t.Fatalf("ban counts %v, want one flooding and one malformed", got)
	}
	if got := b.BanCounts(); len(got) != 0 {
		t.Fatalf("the banned peer counted bans: %v", got)
	}
}
