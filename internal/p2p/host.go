// Package p2p is the peer-to-peer layer of a peer: a go-libp2p host (TCP and
// QUIC, Noise, yamux, resource and connection managers), a persistent peer
// key, discovery (bootnodes, a Kademlia DHT under peerchain's own protocol
// prefix, opt-in mDNS), gossipsub topics with flood publishing and peer
// scoring, request/response streams with size caps and timeouts, and peer
// bans.
//
// p2p moves bytes and knows nothing of blocks: the sync package gives it
// validators, handlers and payloads. It must never import chain, txpool,
// miner, rpc or sync.
package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// Config configures a Host; zero fields take the defaults shown.
type Config struct {
	// Network namespaces protocols, topics and the DHT rendezvous, so peers
	// of different chains never mix (e.g. "1337-9bc7405e"). Required.
	Network string
	// Key is the peer identity. Default: loaded from (or created in)
	// KeyFile.
	Key crypto.PrivKey
	// KeyFile holds the persistent key. Required when Key is nil.
	KeyFile string
	// Listen are the multiaddrs to listen on. Default TCP and QUIC on
	// 127.0.0.1 port 30333.
	Listen []string
	// Bootnodes are full multiaddrs (with /p2p/<id>) dialled at start and
	// whenever the peer has no connections.
	Bootnodes []string
	// NoDHT turns the Kademlia DHT off.
	NoDHT bool
	// MDNS turns local multicast discovery on (off by default: it
	// multicasts on every interface).
	MDNS bool
	// LowPeers and HighPeers are the connection manager's water marks.
	// Defaults 32 and 64.
	LowPeers, HighPeers int
	// MaxMessage bounds one gossip message in bytes. Default 10 MiB.
	MaxMessage int
	// BanDuration is how long a misbehaving peer stays banned. Default 1h.
	BanDuration time.Duration
	// Logger. Default: discarded.
	Logger *slog.Logger
	// Transports, when set, replace the real TCP and QUIC transports and
	// their sockets: internal/sim passes QUIC over a simulated network
	// (go-libp2p's simnet) in a testing/synctest bubble. Such a host also
	// runs without what never lets a bubble's clock advance or ties hosts
	// together through process globals: identify's address discovery,
	// libp2p's Prometheus metrics, the bandwidth counter (a process-wide
	// sweeper goroutine) and the resource manager's limits (the simulation
	// is one process holding every peer). Listen must then name addresses
	// of the simulated network. Default: real TCP and QUIC.
	Transports []libp2p.Option
}

func (c *Config) validate() error {
	if c.Network == "" {
		return errors.New("p2p config: Network is required")
	}
	if c.Key == nil && c.KeyFile == "" {
		return errors.New("p2p config: a Key or a KeyFile is required")
	}
	if c.Listen == nil {
		c.Listen = []string{"/ip4/127.0.0.1/tcp/30333", "/ip4/127.0.0.1/udp/30333/quic-v1"}
	}
	for _, a := range c.Listen {
		if _, err := ma.NewMultiaddr(a); err != nil {
			return fmt.Errorf("p2p listen address %q: %w", a, err)
		}
	}
	for _, b := range c.Bootnodes {
		if _, err := peer.AddrInfoFromString(b); err != nil {
			return fmt.Errorf("bootnode %q: want a multiaddr ending in /p2p/<peer id>: %w", b, err)
		}
	}
	if c.LowPeers == 0 {
		c.LowPeers = 32
	}
	if c.HighPeers == 0 {
		c.HighPeers = 64
	}
	if c.LowPeers < 1 || c.HighPeers < c.LowPeers {
		return fmt.Errorf("p2p config: peer water marks %d/%d: need 1 ≤ low ≤ high", c.LowPeers, c.HighPeers)
	}
	if c.MaxMessage == 0 {
		c.MaxMessage = 10 << 20
	}
	if c.BanDuration == 0 {
		c.BanDuration = time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Host is a running peer-to-peer endpoint.
type Host struct {
	cfg   Config
	log   *slog.Logger
	h     host.Host
	ps    *pubsub.PubSub
	dht   *dht.IpfsDHT
	gater *gater
	peers *peerSet
	stats *netStats // bytes per peer and protocol, gossip mesh
	// shaper delays and loses this peer's messages (the devnet's faults).
	shaper *shaper

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	kick chan struct{} // set by Start

	mu struct {
		sync.Mutex
		topics map[string]*Topic
		local  map[peer.ID]peer.AddrInfo // found by mDNS
	}
}

// LoadOrCreateKey reads a peer key from path, creating a new Ed25519 key
// there (mode 0600) when the file does not exist.
func LoadOrCreateKey(path string) (crypto.PrivKey, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		k, err := crypto.UnmarshalPrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("peer key %s: not a libp2p private key: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read peer key: %w", err)
	}
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, fmt.Errorf("generate peer key: %w", err)
	}
	data, err = crypto.MarshalPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encode peer key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create key dir: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return nil, fmt.Errorf("write peer key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("write peer key: %w", err)
	}
	return k, nil
}

// New starts listening; Start begins discovery.
func New(cfg Config) (*Host, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	key := cfg.Key
	if key == nil {
		var err error
		if key, err = LoadOrCreateKey(cfg.KeyFile); err != nil {
			return nil, err
		}
	}
	cm, err := connmgr.NewConnManager(cfg.LowPeers, cfg.HighPeers, connmgr.WithGracePeriod(30*time.Second))
	if err != nil {
		return nil, fmt.Errorf("connection manager: %w", err)
	}
	g := newGater()
	stats := newNetStats()
	opts := []libp2p.Option{
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(cfg.Listen...),
		libp2p.ConnectionManager(cm),
		libp2p.ConnectionGater(g),
		libp2p.DisableRelay(),
		libp2p.UserAgent("peerchain"),
		libp2p.Ping(true),
	}
	if len(cfg.Transports) > 0 {
		opts = append(opts, cfg.Transports...)
		opts = append(opts,
			libp2p.DisableIdentifyAddressDiscovery(),
			libp2p.DisableMetrics(),
			libp2p.ResourceManager(&network.NullResourceManager{}))
	} else {
		rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(rcmgr.DefaultLimits.AutoScale()))
		if err != nil {
			return nil, fmt.Errorf("resource manager: %w", err)
		}
		opts = append(opts,
			libp2p.Transport(tcp.NewTCPTransport),
			libp2p.Transport(libp2pquic.NewTransport),
			libp2p.Security(noise.ID, noise.New),
			libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
			libp2p.ResourceManager(rm),
			libp2p.BandwidthReporter(stats.bw))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("start libp2p host on %v: %w", cfg.Listen, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	hst := &Host{cfg: cfg, log: cfg.Logger, h: h, gater: g, stats: stats, ctx: ctx, cancel: cancel,
		shaper: newShaper(uint64(time.Now().UnixNano()), time.Now)}
	hst.mu.topics = make(map[string]*Topic)
	hst.mu.local = make(map[peer.ID]peer.AddrInfo)
	hst.peers = newPeerSet(hst)
	h.Network().Notify(hst.peers.notifiee())
	if err := hst.startPubSub(); err != nil {
		hst.Close()
		return nil, err
	}
	if !cfg.NoDHT {
		boot, _ := parseBootnodes(cfg.Bootnodes)
		d, err := dht.New(h, dht.Mode(dht.ModeServer), dht.ProtocolPrefix("/peerchain"), dht.BootstrapPeers(boot...))
		if err != nil {
			hst.Close()
			return nil, fmt.Errorf("start DHT: %w", err)
		}
		hst.dht = d
	}
	hst.startPinger()
	hst.log.Info("P2P host listening", "id", h.ID(), "addrs", hst.Addrs())
	return hst, nil
}

// ID is this peer's id.
func (h *Host) ID() peer.ID { return h.h.ID() }

// Addrs returns the full multiaddrs other peers can dial (with /p2p/<id>).
func (h *Host) Addrs() []string {
	var out []string
	for _, a := range h.h.Addrs() {
		out = append(out, a.String()+"/p2p/"+h.h.ID().String())
	}
	return out
}

// Proto returns a protocol or topic name namespaced by the network.
func (h *Host) Proto(name string) string {
	return "/peerchain/" + h.cfg.Network + "/" + name
}

// Close stops discovery, gossip and the host.
func (h *Host) Close() error {
	h.cancel()
	h.wg.Wait()
	var errs []error
	if h.dht != nil {
		if err := h.dht.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close DHT: %w", err))
		}
	}
	if err := h.h.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close host: %w", err))
	}
	return errors.Join(errs...)
}

func parseBootnodes(addrs []string) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	for _, a := range addrs {
		ai, err := peer.AddrInfoFromString(a)
		if err != nil {
			return nil, fmt.Errorf("bootnode %q: %w", a, err)
		}
		out = append(out, *ai)
	}
	return out, nil
}
