package p2p

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// gater refuses banned and blocked peers at every stage of a connection,
// and is gossipsub's blacklist.
type gater struct {
	mu struct {
		sync.RWMutex
		bans    map[peer.ID]ban
		blocked map[peer.ID]bool
	}
}

type ban struct {
	until  time.Time
	reason string
}

func newGater() *gater {
	g := &gater{}
	g.mu.bans = make(map[peer.ID]ban)
	g.mu.blocked = make(map[peer.ID]bool)
	return g
}

func (g *gater) banned(p peer.ID) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.mu.blocked[p] {
		return true
	}
	b, ok := g.mu.bans[p]
	return ok && time.Now().Before(b.until)
}

func (g *gater) InterceptPeerDial(p peer.ID) bool                 { return !g.banned(p) }
func (g *gater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return !g.banned(p) }
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool      { return true }
func (g *gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !g.banned(p)
}
func (g *gater) InterceptUpgraded(c network.Conn) (bool, control.DisconnectReason) {
	return !g.banned(c.RemotePeer()), 0
}

// pruneLocked forgets bans that have ended, so the map holds only the
// peers banned now.
func (g *gater) pruneLocked(now time.Time) {
	for p, b := range g.mu.bans {
		if !now.Before(b.until) {
			delete(g.mu.bans, p)
		}
	}
}

// Add and Contains make the gater gossipsub's blacklist.
func (g *gater) Add(p peer.ID) bool      { return true }
func (g *gater) Contains(p peer.ID) bool { return g.banned(p) }

// BanInfo describes a banned peer.
type BanInfo struct {
	ID     peer.ID
	Until  time.Time
	Reason string
}

// Ban disconnects p and refuses it for the configured ban duration.
func (h *Host) Ban(p peer.ID, reason string) {
	if p == h.ID() || p == "" {
		return
	}
	h.gater.mu.Lock()
	h.gater.pruneLocked(time.Now())
	h.gater.mu.bans[p] = ban{until: time.Now().Add(h.cfg.BanDuration), reason: reason}
	h.gater.mu.Unlock()
	h.stats.counters.banned(reason)
	h.log.Warn("Banned peer", "peer", p, "reason", reason, "for", h.cfg.BanDuration)
	_ = h.h.Network().ClosePeer(p)
	h.h.Peerstore().RemovePeer(p)
}

// Bans lists the peers banned now.
func (h *Host) Bans() []BanInfo {
	h.gater.mu.Lock()
	defer h.gater.mu.Unlock()
	var out []BanInfo
	now := time.Now()
	h.gater.pruneLocked(now)
	for p, b := range h.gater.mu.bans {
		if now.Before(b.until) {
			out = append(out, BanInfo{ID: p, Until: b.until, Reason: b.reason})
		}
	}
	return out
}

// IsBanned reports whether p is banned or blocked.
func (h *Host) IsBanned(p peer.ID) bool { return h.gater.banned(p) }

// Block refuses connections with the given peers until Unblock (used to
// cut a devnet in two); existing connections are closed.
func (h *Host) Block(ids []peer.ID) {
	h.gater.mu.Lock()
	for _, p := range ids {
		if p != h.ID() {
			h.gater.mu.blocked[p] = true
		}
	}
	h.gater.mu.Unlock()
	for _, p := range ids {
		if p != h.ID() {
			_ = h.h.Network().ClosePeer(p)
		}
	}
}

// Unblock lifts every Block and reconnects to the bootnodes.
func (h *Host) Unblock() {
	h.gater.mu.Lock()
	h.gater.mu.blocked = make(map[peer.ID]bool)
	h.gater.mu.Unlock()
	h.kickDiscovery()
}

// Blocked lists the peers blocked now.
func (h *Host) Blocked() []peer.ID {
	h.gater.mu.RLock()
	defer h.gater.mu.RUnlock()
	out := make([]peer.ID, 0, len(h.gater.mu.blocked))
	for p := range h.gater.mu.blocked {
		out = append(out, p)
	}
	return out
}

// PeerInfo describes a connected peer.
type PeerInfo struct {
	ID        peer.ID
	Addrs     []string
	Inbound   bool
	Since     time.Time
	Latency   time.Duration
	UserAgent string
}

type peerSet struct {
	host *Host
	mu   struct {
		sync.Mutex
		since     map[peer.ID]time.Time
		onConnect []func(peer.ID)
		onGone    []func(peer.ID)
	}
}

func newPeerSet(h *Host) *peerSet {
	s := &peerSet{host: h}
	s.mu.since = make(map[peer.ID]time.Time)
	return s
}

func (s *peerSet) notifiee() network.Notifiee {
	return &network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			p := c.RemotePeer()
			s.mu.Lock()
			_, known := s.mu.since[p]
			if !known {
				s.mu.since[p] = time.Now()
			}
			cbs := append([]func(peer.ID){}, s.mu.onConnect...)
			s.mu.Unlock()
			if !known {
				for _, cb := range cbs {
					go cb(p)
				}
			}
		},
		DisconnectedF: func(n network.Network, c network.Conn) {
			p := c.RemotePeer()
			if n.Connectedness(p) == network.Connected {
				return // another connection remains
			}
			s.mu.Lock()
			_, known := s.mu.since[p]
			delete(s.mu.since, p)
			cbs := append([]func(peer.ID){}, s.mu.onGone...)
			s.mu.Unlock()
			if known {
				for _, cb := range cbs {
					go cb(p)
				}
			}
		},
	}
}

// OnPeer registers callbacks for a peer's first connection and for its
// last disconnection. They run on their own goroutines.
func (h *Host) OnPeer(connected, gone func(peer.ID)) {
	h.peers.mu.Lock()
	defer h.peers.mu.Unlock()
	if connected != nil {
		h.peers.mu.onConnect = append(h.peers.mu.onConnect, connected)
	}
	if gone != nil {
		h.peers.mu.onGone = append(h.peers.mu.onGone, gone)
	}
}

// Peers lists the connected peers, sorted by id.
func (h *Host) Peers() []PeerInfo {
	var out []PeerInfo
	ps := h.h.Peerstore()
	for _, p := range h.h.Network().Peers() {
		info := PeerInfo{ID: p, Latency: ps.LatencyEWMA(p)}
		for _, c := range h.h.Network().ConnsToPeer(p) {
			info.Addrs = append(info.Addrs, c.RemoteMultiaddr().String())
			if c.Stat().Direction == network.DirInbound {
				info.Inbound = true
			}
		}
		if ua, err := ps.Get(p, "AgentVersion"); err == nil {
			info.UserAgent, _ = ua.(string)
		}
		h.peers.mu.Lock()
		info.Since = h.peers.mu.since[p]
		h.peers.mu.Unlock()
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// PeerCount is the number of connected peers.
func (h *Host) PeerCount() int { return len(h.h.Network().Peers()) }

// Disconnect closes every connection to p.
func (h *Host) Disconnect(p peer.ID) { _ = h.h.Network().ClosePeer(p) }

// Connect dials a peer.
func (h *Host) Connect(ctx context.Context, ai peer.AddrInfo) error {
	if h.gater.banned(ai.ID) {
		return fmt.Errorf("peer %s is banned or blocked", ai.ID)
	}
	if err := h.h.Connect(ctx, ai); err != nil {
		return fmt.Errorf("connect to %s: %w", ai.ID, err)
	}
	return nil
}
