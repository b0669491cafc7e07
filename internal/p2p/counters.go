package p2p

import (
	"maps"
	"strings"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Ban reason classes: what BanCounts and GossipCounts key their counts by,
// so a metrics label has a bounded set of values whatever the free-text
// reason a ban gave.
const (
	BanFlooding    = "flooding"    // more requests or gossiped blocks per second than allowed
	BanOversized   = "oversized"   // a message over its protocol's size cap
	BanMalformed   = "malformed"   // undecodable or out-of-range message
	BanInvalid     = "invalid"     // an invalid block, transaction or chain
	BanUnresponded = "unresponded" // claimed work it failed to show, again and again
	BanOther       = "other"
)

// BanClasses lists every ban reason class.
var BanClasses = []string{BanFlooding, BanOversized, BanMalformed, BanInvalid, BanUnresponded, BanOther}

// BanClass sorts a ban's free-text reason into one of BanClasses by the
// words the sync layer's reasons use.
func BanClass(reason string) string {
	r := strings.ToLower(reason)
	switch {
	case strings.Contains(r, "flood"):
		return BanFlooding
	case strings.Contains(r, "malformed"):
		return BanMalformed
	case strings.Contains(r, "oversized") || strings.Contains(r, "size cap"):
		return BanOversized
	case strings.Contains(r, "failed") && strings.Contains(r, "in a row"):
		return BanUnresponded
	case strings.Contains(r, "invalid") || strings.Contains(r, "rule") || strings.Contains(r, "fails its checks"):
		return BanInvalid
	}
	return BanOther
}

// Gossip outcomes, the keys of GossipCounts.Messages.
const (
	GossipDelivered = "delivered" // accepted from a peer and handed to our handler
	GossipDuplicate = "duplicate" // a copy of a message already seen
	GossipRejected  = "rejected"  // refused: the sender is penalised (except "validation ignored")
)

// gossipRejectReasons are gossipsub's rejection reasons; any other counts
// as "other".
var gossipRejectReasons = map[string]bool{
	pubsub.RejectBlacklstedPeer: true, pubsub.RejectBlacklistedSource: true, pubsub.RejectMissingSignature: true,
	pubsub.RejectUnexpectedSignature: true, pubsub.RejectUnexpectedAuthInfo: true, pubsub.RejectInvalidSignature: true,
	pubsub.RejectValidationQueueFull: true, pubsub.RejectValidationThrottled: true, pubsub.RejectValidationFailed: true,
	pubsub.RejectValidationIgnored: true, pubsub.RejectSelfOrigin: true,
}

// GossipKey names one gossip counter: a topic's short name ("blocks/1";
// "other" for a topic not of this network) and an outcome or a reason.
type GossipKey struct{ Topic, What string }

// GossipCounts are the gossip counters since the host started.
type GossipCounts struct {
	// Messages counts messages by topic and outcome (GossipDelivered, …).
	Messages map[GossipKey]uint64
	// Rejections counts rejected messages by topic and gossipsub's reason
	// with spaces as underscores ("validation_failed": the sender's score
	// is penalised; "validation_ignored": dropped without a penalty).
	Rejections map[GossipKey]uint64
	// Throttled counts peers throttled by gossipsub's peer gater.
	Throttled uint64
}

// counters are the host's event counters for metrics: bans by reason
// class and gossip messages by outcome. Gossipsub calls the tracer
// methods on its event loop, so they only bump a map.
type counters struct {
	prefix string // the network's protocol prefix, trimmed from topics

	mu struct {
		sync.Mutex
		bans       map[string]uint64
		messages   map[GossipKey]uint64
		rejections map[GossipKey]uint64
		throttled  uint64
	}
}

func newCounters() *counters {
	c := &counters{}
	c.mu.bans = make(map[string]uint64)
	c.mu.messages = make(map[GossipKey]uint64)
	c.mu.rejections = make(map[GossipKey]uint64)
	return c
}

// tracer returns c as gossipsub's tracer of the network whose topics
// start with prefix; called before gossipsub starts.
func (c *counters) tracer(prefix string) *counters {
	c.prefix = prefix
	return c
}

func (c *counters) banned(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.bans[BanClass(reason)]++
}

func (c *counters) topic(m *pubsub.Message) string {
	t := m.GetTopic()
	if !strings.HasPrefix(t, c.prefix) {
		return "other"
	}
	return strings.TrimPrefix(t, c.prefix)
}

func (c *counters) message(m *pubsub.Message, outcome string) {
	k := GossipKey{Topic: c.topic(m), What: outcome}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.messages[k]++
}

// BanCounts returns the bans since the host started, by reason class.
func (h *Host) BanCounts() map[string]uint64 {
	c := h.stats.counters
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.mu.bans)
}

// GossipCounts returns the gossip counters since the host started.
func (h *Host) GossipCounts() GossipCounts {
	c := h.stats.counters
	c.mu.Lock()
	defer c.mu.Unlock()
	return GossipCounts{Messages: maps.Clone(c.mu.messages), Rejections: maps.Clone(c.mu.rejections), Throttled: c.mu.throttled}
}

func (c *counters) DeliverMessage(m *pubsub.Message)   { c.message(m, GossipDelivered) }
func (c *counters) DuplicateMessage(m *pubsub.Message) { c.message(m, GossipDuplicate) }

func (c *counters) RejectMessage(m *pubsub.Message, reason string) {
	if !gossipRejectReasons[reason] {
		reason = "other"
	}
	topic := c.topic(m)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.messages[GossipKey{Topic: topic, What: GossipRejected}]++
	c.mu.rejections[GossipKey{Topic: topic, What: strings.ReplaceAll(reason, " ", "_")}]++
}

func (c *counters) ThrottlePeer(peer.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.throttled++
}

// The rest of pubsub.RawTracer: nothing to count.
func (c *counters) AddPeer(peer.ID, protocol.ID)                         {}
func (c *counters) RemovePeer(peer.ID)                                   {}
func (c *counters) Join(string)                                          {}
func (c *counters) Leave(string)                                         {}
func (c *counters) Graft(peer.ID, string)                                {}
func (c *counters) Prune(peer.ID, string)                                {}
func (c *counters) ValidateMessage(*pubsub.Message)                      {}
func (c *counters) RecvRPC(*pubsub.RPC)                                  {}
func (c *counters) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (c *counters) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (c *counters) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (c *counters) UndeliverableMessage(*pubsub.Message)                 {}
func (c *counters) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (c *counters) OnClosedOutboundStream(peer.ID)                       {}

var _ pubsub.RawTracer = (*counters)(nil)
