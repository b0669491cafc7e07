package node

import (
	"context"
	"fmt"
	"math/big"
	"path/filepath"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/p2p"
	"github.com/peerchain/peerchain/internal/rpc"
	"github.com/peerchain/peerchain/internal/sync"
)

// P2PConfig configures the peer-to-peer side of a node.
type P2PConfig struct {
	// Disabled runs the node alone.
	Disabled bool
	// Listen are multiaddrs to listen on. Default TCP and QUIC on
	// 127.0.0.1:30333.
	Listen []string
	// Bootnodes are multiaddrs ending in /p2p/<id>.
	Bootnodes []string
	// NoDHT turns peer discovery through the Kademlia DHT off.
	NoDHT bool
	// MDNS turns local multicast discovery on.
	MDNS bool
	// MaxPeers is the connection manager's high water mark. Default 64.
	MaxPeers int
	// KeyFile holds the peer key. Default <datadir>/p2p/key.
	KeyFile string
	// BanDuration is how long a misbehaving peer is banned. Default 1h.
	BanDuration time.Duration
	// MinChainWork is the least total difficulty a chain needs before its
	// blocks are downloaded or stored. Default 0.
	MinChainWork *big.Int
	// FullBlocks publishes blocks whole instead of as compact blocks
	// (header, short transaction ids and the transactions peers likely
	// lack). Default false.
	FullBlocks bool
}

// openNetwork starts the libp2p host and the syncer.
func (n *Node) openNetwork() error {
	cfg := n.cfg.P2P
	if cfg.KeyFile == "" {
		cfg.KeyFile = filepath.Join(n.cfg.DataDir, "p2p", "key")
	}
	low := 0
	if cfg.MaxPeers > 0 {
		low = max(1, cfg.MaxPeers/2)
	}
	g := n.cfg.Genesis
	h, err := p2p.New(p2p.Config{
		Network:     sync.NetworkName(g.ChainID(), g.Hash()),
		KeyFile:     cfg.KeyFile,
		Listen:      cfg.Listen,
		Bootnodes:   cfg.Bootnodes,
		NoDHT:       cfg.NoDHT,
		MDNS:        cfg.MDNS,
		LowPeers:    low,
		HighPeers:   cfg.MaxPeers,
		BanDuration: cfg.BanDuration,
		Logger:      n.log.With("module", "p2p"),
	})
	if err != nil {
		return err
	}
	n.host = h
	n.syncer, err = sync.New(sync.Config{Host: h, Chain: n.chain, Pool: n.pool, Logger: n.log.With("module", "sync"), MinChainWork: cfg.MinChainWork, FullBlocks: cfg.FullBlocks})
	return err
}

// network adapts the host and syncer to what the RPC reports.
var _ rpc.PeerWork = network{}

type network struct {
	host   *p2p.Host
	syncer *sync.Syncer
	view   *netView
}

func (w network) PeerCount() int  { return w.host.PeerCount() }
func (w network) Listening() bool { return true }

func (w network) Peers() []rpc.PeerInfo {
	var out []rpc.PeerInfo
	for _, p := range w.host.Peers() {
		info := rpc.PeerInfo{
			ID: p.ID.String(), Addrs: p.Addrs, Direction: "outbound",
			LatencyMs: float64(p.Latency.Microseconds()) / 1000, UserAgent: p.UserAgent,
			Protocol: w.host.ProtocolVersion(p.ID),
		}
		t := w.host.Traffic(p.ID)
		info.BytesIn, info.BytesOut, info.RateIn, info.RateOut, info.Mesh = t.BytesIn, t.BytesOut, t.RateIn, t.RateOut, t.Mesh
		if p.Inbound {
			info.Direction = "inbound"
		}
		if !p.Since.IsZero() {
			info.Since = p.Since.UTC().Format(time.RFC3339)
		}
		if h, ok := w.syncer.PeerHead(p.ID); ok {
			info.Head = &rpc.PeerHeadInfo{Hash: h.Head, Number: hexutil.Uint64(h.Number),
				TotalDifficulty: (*hexutil.Big)(h.TD), ProvenTotalDifficulty: (*hexutil.Big)(h.ProvenTD)}
			info.SyncVersion, info.Light = h.Version, h.Light
		}
		out = append(out, info)
	}
	return out
}

// BestPeerTD is the most total difficulty a connected peer claims (a
// claim: /health reports it and decides nothing by it), nil without one.
func (w network) BestPeerTD() *big.Int {
	var best *big.Int
	for _, p := range w.host.Peers() {
		if h, ok := w.syncer.PeerHead(p.ID); ok && h.TD != nil && (best == nil || h.TD.Cmp(best) > 0) {
			best = h.TD
		}
	}
	if best == nil {
		return nil
	}
	return new(big.Int).Set(best)
}

func (w network) NodeInfo() rpc.NodeInfo {
	return rpc.NodeInfo{ID: w.host.ID().String(), Listen: w.host.Addrs(), Banned: len(w.host.Bans())}
}

func (w network) Syncing() (rpc.SyncStatus, bool) {
	p, ok := w.syncer.Progress()
	if !ok {
		return rpc.SyncStatus{}, false
	}
	return rpc.SyncStatus{Starting: p.Starting, Current: p.Current, Highest: p.Highest,
		BlocksSec: p.BlocksSec, TxsSec: p.TxsSec, ETA: p.ETA.Seconds()}, true
}

func (w network) AddPeer(addr string) error {
	ai, err := peer.AddrInfoFromString(addr)
	if err != nil {
		return fmt.Errorf("peer address %q: want a multiaddr ending in /p2p/<id>: %w", addr, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return w.host.Connect(ctx, *ai)
}

func (w network) BlockPeers(ids []string) error {
	parsed := make([]peer.ID, 0, len(ids))
	for _, s := range ids {
		id, err := peer.Decode(s)
		if err != nil {
			return fmt.Errorf("peer id %q: %w", s, err)
		}
		parsed = append(parsed, id)
	}
	w.host.Block(parsed)
	return nil
}

func (w network) UnblockPeers() { w.host.Unblock() }

// The chain serves the RPC's reads directly.
var _ rpc.FullChain = (*chain.Chain)(nil)
