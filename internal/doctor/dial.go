package doctor

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// P2PDialer dials announced addresses from a fresh libp2p host that
// listens nowhere, as a stranger would: TCP and QUIC, Noise, yamux.
type P2PDialer struct {
	h host.Host
}

// NewP2PDialer starts the dialing host.
func NewP2PDialer() (*P2PDialer, error) {
	h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.DisableRelay(), libp2p.Ping(false))
	if err != nil {
		return nil, fmt.Errorf("libp2p host for dialing: %w", err)
	}
	return &P2PDialer{h: h}, nil
}

// Close stops the host.
func (d *P2PDialer) Close() error { return d.h.Close() }

// Dial connects to addr (a multiaddr ending in /p2p/<id>) through that
// address alone, and disconnects.
func (d *P2PDialer) Dial(ctx context.Context, addr string) error {
	ai, err := peer.AddrInfoFromString(addr)
	if err != nil {
		return fmt.Errorf("announced address %q: want a multiaddr ending in /p2p/<peer id>: %w", addr, err)
	}
	defer func() {
		_ = d.h.Network().ClosePeer(ai.ID)
		d.h.Peerstore().ClearAddrs(ai.ID)
	}()
	d.h.Peerstore().ClearAddrs(ai.ID)
	if err := d.h.Connect(ctx, *ai); err != nil {
		return err
	}
	return nil
}
