package p2p

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
)

// pingInterval is how often every connected peer is pinged, so its
// latency (the peerstore's moving average) stays current.
const pingInterval = 15 * time.Second

// netStats is what the host measures of its peers for the network view:
// bytes per peer and protocol, and gossipsub mesh membership per topic.
type netStats struct {
	bw       *metrics.BandwidthCounter
	mesh     *meshTracer
	counters *counters // bans and gossip outcomes (counters.go)
}

func newNetStats() *netStats {
	return &netStats{bw: metrics.NewBandwidthCounter(), mesh: newMeshTracer(), counters: newCounters()}
}

// PeerTraffic is the traffic with one peer since it was first seen.
type PeerTraffic struct {
	BytesIn, BytesOut uint64
	// RateIn and RateOut are moving averages in bytes per second.
	RateIn, RateOut float64
	// Mesh lists the gossip topics (short names, e.g. "blocks/1") whose
	// mesh holds the peer.
	Mesh []string
}

// Traffic returns the bytes exchanged with p and its gossip mesh topics.
func (h *Host) Traffic(p peer.ID) PeerTraffic {
	st := h.stats.bw.GetBandwidthForPeer(p)
	return PeerTraffic{
		BytesIn: uint64(st.TotalIn), BytesOut: uint64(st.TotalOut),
		RateIn: st.RateIn, RateOut: st.RateOut,
		Mesh: h.stats.mesh.topicsOf(p, h.Proto("")),
	}
}

// ProtocolTraffic returns the bytes moved per protocol, keyed by the
// protocol's short name where it is one of ours.
func (h *Host) ProtocolTraffic() map[string]PeerTraffic {
	out := make(map[string]PeerTraffic)
	prefix := h.Proto("")
	for proto, st := range h.stats.bw.GetBandwidthByProtocol() {
		name := strings.TrimPrefix(string(proto), prefix)
		out[name] = PeerTraffic{BytesIn: uint64(st.TotalIn), BytesOut: uint64(st.TotalOut), RateIn: st.RateIn, RateOut: st.RateOut}
	}
	return out
}

// TotalTraffic returns the bytes moved with every peer.
func (h *Host) TotalTraffic() PeerTraffic {
	st := h.stats.bw.GetBandwidthTotals()
	return PeerTraffic{BytesIn: uint64(st.TotalIn), BytesOut: uint64(st.TotalOut), RateIn: st.RateIn, RateOut: st.RateOut}
}

// ProtocolVersion returns the libp2p protocol version the peer's identify
// message gave, or "".
func (h *Host) ProtocolVersion(p peer.ID) string {
	v, err := h.h.Peerstore().Get(p, "ProtocolVersion")
	if err != nil {
		return ""
	}
	s, _ := v.(string)
	return s
}

// startPinger pings every connected peer every pingInterval (the
// peerstore records the round trip) until Close, and forgets the counters
// of peers idle for an hour and the mesh places of peers gone, so what is
// kept is bounded by the peers connected lately.
func (h *Host) startPinger() {
	h.OnPeer(nil, h.stats.mesh.forget)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(pingInterval)
		defer t.Stop()
		h.pingAll()
		for {
			select {
			case <-h.ctx.Done():
				return
			case <-t.C:
			}
			h.stats.bw.TrimIdle(time.Now().Add(-time.Hour))
			h.pingAll()
		}
	}()
}

func (h *Host) pingAll() {
	var wg sync.WaitGroup
	for _, p := range h.h.Network().Peers() {
		wg.Add(1)
		go func(p peer.ID) {
			defer wg.Done()
			h.pingOnce(p)
		}(p)
	}
	wg.Wait()
}

// pingOnce measures one round trip to p; the ping service records it in
// the peerstore's latency average.
func (h *Host) pingOnce(p peer.ID) {
	ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
	defer cancel()
	select {
	case <-ping.Ping(ctx, h.h, p):
	case <-ctx.Done():
	}
}

// meshTracer follows gossipsub's GRAFT and PRUNE events: which peers are
// in this peer's mesh of each topic. It is called on gossipsub's event
// loop, so it only updates a map.
type meshTracer struct {
	mu   sync.Mutex
	mesh map[string]map[peer.ID]bool
}

func newMeshTracer() *meshTracer { return &meshTracer{mesh: make(map[string]map[peer.ID]bool)} }

func (m *meshTracer) Graft(p peer.ID, topic string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mesh[topic] == nil {
		m.mesh[topic] = make(map[peer.ID]bool)
	}
	m.mesh[topic][p] = true
}

func (m *meshTracer) Prune(p peer.ID, topic string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.mesh[topic], p)
}

func (m *meshTracer) Leave(topic string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.mesh, topic)
}

// forget drops a disconnected peer from every mesh: gossipsub removes it
// without a PRUNE event.
func (m *meshTracer) forget(p peer.ID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ps := range m.mesh {
		delete(ps, p)
	}
}

// topicsOf lists the topics whose mesh holds p, without prefix.
func (m *meshTracer) topicsOf(p peer.ID, prefix string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for t, ps := range m.mesh {
		if ps[p] {
			out = append(out, strings.TrimPrefix(t, prefix))
		}
	}
	sort.Strings(out)
	return out
}

// The rest of pubsub.RawTracer: nothing to record.
func (m *meshTracer) AddPeer(peer.ID, protocol.ID)                         {}
func (m *meshTracer) RemovePeer(peer.ID)                                   {}
func (m *meshTracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (m *meshTracer) OnClosedOutboundStream(peer.ID)                       {}
func (m *meshTracer) Join(string)                                          {}
func (m *meshTracer) ValidateMessage(*pubsub.Message)                      {}
func (m *meshTracer) DeliverMessage(*pubsub.Message)                       {}
func (m *meshTracer) RejectMessage(*pubsub.Message, string)                {}
func (m *meshTracer) DuplicateMessage(*pubsub.Message)                     {}
func (m *meshTracer) ThrottlePeer(peer.ID)                                 {}
func (m *meshTracer) RecvRPC(*pubsub.RPC)                                  {}
func (m *meshTracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (m *meshTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (m *meshTracer) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (m *meshTracer) UndeliverableMessage(*pubsub.Message)                 {}

var _ pubsub.RawTracer = (*meshTracer)(nil)
