package p2p

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Verdict is a gossip validator's decision.
type Verdict int

// Verdicts. Accept relays and delivers the message; Ignore drops it
// quietly (known, early, or not checkable yet); Reject drops it and counts
// against the peer that sent it.
const (
	Accept Verdict = iota
	Ignore
	Reject
)

// Validator decides on a gossip message before it is relayed. from is the
// peer that sent it to us, author the peer that signed it.
type Validator func(ctx context.Context, from, author peer.ID, data []byte) Verdict

// Handler receives messages the validator accepted (not our own).
type Handler func(from, author peer.ID, data []byte)

// Topic is a joined gossip topic.
type Topic struct {
	host *Host
	name string
	t    *pubsub.Topic
	sub  *pubsub.Subscription
}

// gossip message ids are the content hash: the same block published twice
// (by two peers) is one message.
func msgID(m *pb.Message) string {
	sum := sha256.Sum256(m.GetData())
	return string(sum[:])
}

func (h *Host) startPubSub() error {
	params := &pubsub.PeerScoreParams{
		SkipAtomicValidation: true,
		AppSpecificScore: func(p peer.ID) float64 {
			if h.gater.banned(p) {
				return -1000
			}
			return 0
		},
		AppSpecificWeight: 1,
		// Devnets run every peer on one address: no colocation penalty.
		IPColocationFactorWeight:  0,
		BehaviourPenaltyWeight:    -1,
		BehaviourPenaltyThreshold: 5,
		BehaviourPenaltyDecay:     pubsub.ScoreParameterDecay(10 * time.Minute),
		DecayInterval:             time.Second,
		DecayToZero:               0.01,
		RetainScore:               30 * time.Minute,
		Topics:                    map[string]*pubsub.TopicScoreParams{},
	}
	thresholds := &pubsub.PeerScoreThresholds{
		SkipAtomicValidation: true,
		GossipThreshold:      -100,
		PublishThreshold:     -200,
		GraylistThreshold:    -400,
		AcceptPXThreshold:    10,
	}
	ps, err := pubsub.NewGossipSub(h.ctx, h.h,
		pubsub.WithFloodPublish(true),
		pubsub.WithPeerScore(params, thresholds),
		pubsub.WithMaxMessageSize(h.cfg.MaxMessage),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithBlacklist(h.gater),
		pubsub.WithPeerExchange(true),
		pubsub.WithRawTracer(h.stats.mesh),
		pubsub.WithRawTracer(h.stats.counters.tracer(h.Proto(""))),
		pubsub.WithLogger(slog.New(minLevel{h.log.Handler(), slog.LevelWarn}).With("module", "gossipsub")),
	)
	if err != nil {
		return fmt.Errorf("start gossipsub: %w", err)
	}
	h.ps = ps
	return nil
}

// topicScore penalises invalid messages heavily: a few rejected messages
// push a peer under the graylist threshold.
func topicScore() *pubsub.TopicScoreParams {
	return &pubsub.TopicScoreParams{
		SkipAtomicValidation:           true,
		TopicWeight:                    1,
		TimeInMeshQuantum:              time.Second,
		InvalidMessageDeliveriesWeight: -100,
		InvalidMessageDeliveriesDecay:  pubsub.ScoreParameterDecay(time.Hour),
	}
}

// TopicOptions shape a topic.
type TopicOptions struct {
	// ContentIDs identifies messages by the hash of their data, so the
	// same payload published twice (by two peers) is one message. Without
	// it a message is identified by its author and sequence number, and a
	// payload can be published again (a transaction re-announced after a
	// reorg).
	ContentIDs bool
}

// JoinTopic joins the network-namespaced topic name, validating every
// message with validate and delivering accepted ones to handle. Messages
// this peer publishes are validated too (with from = author = self).
func (h *Host) JoinTopic(name string, opts TopicOptions, validate Validator, handle Handler) (*Topic, error) {
	full := h.Proto(name)
	err := h.ps.RegisterTopicValidator(full, func(ctx context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
		if from != h.ID() && h.gater.banned(from) {
			return pubsub.ValidationIgnore
		}
		if from != h.ID() && h.shaper.hold(ctx, dirIn, len(m.GetData()), true) != nil {
			return pubsub.ValidationIgnore // lost by the shape, or given up
		}
		switch validate(ctx, from, m.GetFrom(), m.GetData()) {
		case Accept:
			return pubsub.ValidationAccept
		case Reject:
			return pubsub.ValidationReject
		default:
			return pubsub.ValidationIgnore
		}
	}, pubsub.WithValidatorTimeout(30*time.Second))
	if err != nil {
		return nil, fmt.Errorf("register validator for %s: %w", full, err)
	}
	var topicOpts []pubsub.TopicOpt
	if opts.ContentIDs {
		topicOpts = append(topicOpts, pubsub.WithTopicMessageIdFn(msgID))
	}
	t, err := h.ps.Join(full, topicOpts...)
	if err != nil {
		return nil, fmt.Errorf("join topic %s: %w", full, err)
	}
	if err := t.SetScoreParams(topicScore()); err != nil {
		return nil, fmt.Errorf("score params for %s: %w", full, err)
	}
	sub, err := t.Subscribe(pubsub.WithBufferSize(256))
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", full, err)
	}
	topic := &Topic{host: h, name: full, t: t, sub: sub}
	h.mu.Lock()
	h.mu.topics[full] = topic
	h.mu.Unlock()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			m, err := sub.Next(h.ctx)
			if err != nil {
				return
			}
			if m.ReceivedFrom == h.ID() {
				continue
			}
			handle(m.ReceivedFrom, m.GetFrom(), m.GetData())
		}
	}()
	return topic, nil
}

// Publish sends data to every peer of the topic (flood publishing). Under
// a Shape it may be lost (nil is returned: the loss is the link's, not the
// caller's) or sent later, after Publish has returned.
func (t *Topic) Publish(ctx context.Context, data []byte) error {
	h := t.host
	wait, lost := h.shaper.plan(dirOut, len(data), true)
	if lost {
		return nil
	}
	if wait > 0 {
		if h.ctx.Err() != nil {
			return fmt.Errorf("publish on %s: %w", t.name, h.ctx.Err())
		}
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			timer := time.NewTimer(wait)
			defer timer.Stop()
			select {
			case <-timer.C:
			case <-h.ctx.Done():
				return
			}
			if err := t.t.Publish(h.ctx, data); err != nil {
				h.log.Debug("A delayed publication failed", "topic", t.name, "err", err)
			}
		}()
		return nil
	}
	if err := t.t.Publish(ctx, data); err != nil {
		return fmt.Errorf("publish on %s: %w", t.name, err)
	}
	return nil
}

// Peers returns the peers subscribed to the topic.
func (t *Topic) Peers() []peer.ID { return t.t.ListPeers() }

// minLevel drops records below min: gossipsub logs routine events at info.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.Handler.Enabled(ctx, l)
}

func (m minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{m.Handler.WithAttrs(a), m.min}
}
func (m minLevel) WithGroup(g string) slog.Handler { return minLevel{m.Handler.WithGroup(g), m.min} }
