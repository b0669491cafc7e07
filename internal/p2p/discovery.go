package p2p

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
)

// discoveryInterval is how often the peer looks for more peers when it
// has fewer than its low water mark.
const discoveryInterval = 10 * time.Second

// Start begins discovery: bootnodes, the DHT rendezvous and, if enabled,
// mDNS. It returns at once; discovery runs until Close.
func (h *Host) Start() error {
	if h.cfg.MDNS {
		svc := mdns.NewMdnsService(h.h, "peerchain-"+h.cfg.Network, mdnsNotifee{h})
		if err := svc.Start(); err != nil {
			return err
		}
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			<-h.ctx.Done()
			_ = svc.Close()
		}()
	}
	h.kick = make(chan struct{}, 1)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.discoveryLoop()
	}()
	return nil
}

type mdnsNotifee struct{ h *Host }

// maxLocalPeers bounds the mDNS-found peers remembered for reconnection.
const maxLocalPeers = 256

// HandlePeerFound dials a peer mDNS found and remembers it: mDNS reports a
// peer once, so a failed dial (or a dropped connection) is retried by the
// discovery loop, as for bootnodes.
func (n mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	if ai.ID == n.h.ID() || n.h.gater.banned(ai.ID) {
		return
	}
	n.h.mu.Lock()
	if _, ok := n.h.mu.local[ai.ID]; ok || len(n.h.mu.local) < maxLocalPeers {
		n.h.mu.local[ai.ID] = ai
	}
	n.h.mu.Unlock()
	ctx, cancel := context.WithTimeout(n.h.ctx, 10*time.Second)
	defer cancel()
	if err := n.h.h.Connect(ctx, ai); err == nil {
		n.h.log.Debug("Connected to an mDNS peer", "peer", ai.ID)
	} else {
		n.h.log.Debug("mDNS peer unreachable, will retry", "peer", ai.ID, "err", err)
	}
}

// localPeers returns the peers mDNS found.
func (h *Host) localPeers() []peer.AddrInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]peer.AddrInfo, 0, len(h.mu.local))
	for _, ai := range h.mu.local {
		out = append(out, ai)
	}
	return out
}

// kickDiscovery runs a discovery round soon.
func (h *Host) kickDiscovery() {
	if h.kick == nil {
		return
	}
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

func (h *Host) discoveryLoop() {
	boot, _ := parseBootnodes(h.cfg.Bootnodes)
	var rd *drouting.RoutingDiscovery
	if h.dht != nil {
		rd = drouting.NewRoutingDiscovery(h.dht)
	}
	rendezvous := h.Proto("peers")
	lastAdvertise := time.Time{}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-timer.C:
		case <-h.kick:
		}
		h.connectBootnodes(boot)
		h.connectBootnodes(h.localPeers())
		if rd != nil {
			if err := h.dht.Bootstrap(h.ctx); err != nil {
				h.log.Debug("DHT bootstrap", "err", err)
			}
			if time.Since(lastAdvertise) > time.Minute && h.PeerCount() > 0 {
				ctx, cancel := context.WithTimeout(h.ctx, 20*time.Second)
				if _, err := rd.Advertise(ctx, rendezvous); err == nil {
					lastAdvertise = time.Now()
				}
				cancel()
			}
			if h.PeerCount() < h.cfg.LowPeers {
				h.findPeers(rd, rendezvous)
			}
		}
		timer.Reset(discoveryInterval)
	}
}

func (h *Host) connectBootnodes(boot []peer.AddrInfo) {
	for _, ai := range boot {
		if ai.ID == h.ID() || h.gater.banned(ai.ID) || h.h.Network().Connectedness(ai.ID) == network.Connected {
			continue
		}
		ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
		err := h.h.Connect(ctx, ai)
		cancel()
		if err != nil {
			h.log.Debug("Bootnode unreachable", "peer", ai.ID, "err", err)
		} else {
			h.log.Debug("Connected to bootnode", "peer", ai.ID)
		}
	}
}

func (h *Host) findPeers(rd *drouting.RoutingDiscovery, rendezvous string) {
	ctx, cancel := context.WithTimeout(h.ctx, 20*time.Second)
	defer cancel()
	found, err := rd.FindPeers(ctx, rendezvous)
	if err != nil {
		return
	}
	for ai := range found {
		if ai.ID == h.ID() || len(ai.Addrs) == 0 || h.gater.banned(ai.ID) ||
			h.h.Network().Connectedness(ai.ID) == network.Connected {
			continue
		}
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		if err := h.h.Connect(cctx, ai); err == nil {
			h.log.Debug("Connected to a DHT peer", "peer", ai.ID)
		}
		ccancel()
		if h.PeerCount() >= h.cfg.LowPeers {
			return
		}
	}
}
