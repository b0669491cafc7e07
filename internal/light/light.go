package light

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	gosync "sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/lru"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/chaindb"
	"github.com/peerchain/peerchain/internal/execution"
	"github.com/peerchain/peerchain/internal/p2p"
	"github.com/peerchain/peerchain/internal/params"
	"github.com/peerchain/peerchain/internal/rpc"
	"github.com/peerchain/peerchain/internal/sync"
)

// Config configures a light peer; zero fields take the defaults shown.
type Config struct {
	// DataDir holds the header store. Required.
	DataDir string
	// Genesis is the chain. Default: the embedded dev genesis.
	Genesis *params.Genesis
	// Providers are JSON-RPC URLs of provider peers.
	Providers []string
	// Sources are further sources (tests, benchmarks).
	Sources []Source
	// RPC is the JSON-RPC server: the full peer's methods, every answer
	// checked. Default 127.0.0.1:8545; RPCDisabled turns it off.
	RPC         rpc.Config
	RPCDisabled bool
	// P2P, if set, runs a libp2p host: the full peers it finds through its
	// bootnodes and the DHT become sources, and their gossiped blocks bring
	// new headers at once.
	P2P *P2PConfig
	// Logger. Default: discarded.
	Logger *slog.Logger
	// SourceTimeout bounds one call to a source. Default 10s.
	SourceTimeout time.Duration
	// StrikeBackoff is how long a source that failed to back its claim
	// waits before it is asked again; it doubles with each strike in a
	// row. Default 5s.
	StrikeBackoff time.Duration
	// DropDuration is how long a source caught serving an invalid or
	// malformed answer (or failing three syncs in a row) is not asked.
	// Default 10 minutes.
	DropDuration time.Duration
	// MaxHeldHeaders bounds the headers held while a source's chain has
	// not yet shown more work than ours. Default 8192.
	MaxHeldHeaders int
	// MinChainWork is the least total difficulty a chain must show before
	// its headers are stored. Default 0.
	MinChainWork *big.Int
	// PollInterval is how often sources are asked for their heads.
	// Default 1s.
	PollInterval time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// P2PConfig configures a light peer's libp2p host.
type P2PConfig struct {
	// Listen are the multiaddrs to listen on. Default TCP and QUIC on
	// 127.0.0.1, a free port.
	Listen []string
	// Bootnodes are full multiaddrs (with /p2p/<id>) of full peers.
	Bootnodes []string
	// NoDHT turns peer discovery through the DHT off.
	NoDHT bool
	// KeyFile holds the peer key. Default <datadir>/p2p/key.
	KeyFile string
}

func (c *Config) validate() error {
	if c.DataDir == "" {
		return errors.New("light config: a data dir is required")
	}
	if c.Genesis == nil {
		g, err := params.DevGenesis()
		if err != nil {
			return err
		}
		c.Genesis = g
	}
	if len(c.Providers) == 0 && len(c.Sources) == 0 && (c.P2P == nil || (len(c.P2P.Bootnodes) == 0 && c.P2P.NoDHT)) {
		return errors.New("light config: no sources: give provider URLs (--providers) or full peers (--bootnodes)")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.SourceTimeout == 0 {
		c.SourceTimeout = 10 * time.Second
	}
	if c.StrikeBackoff == 0 {
		c.StrikeBackoff = 5 * time.Second
	}
	if c.DropDuration == 0 {
		c.DropDuration = 10 * time.Minute
	}
	if c.MaxHeldHeaders == 0 {
		c.MaxHeldHeaders = 8192
	}
	if c.MinChainWork == nil {
		c.MinChainWork = new(big.Int)
	}
	if c.PollInterval == 0 {
		c.PollInterval = time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SourceTimeout < 0 || c.StrikeBackoff < 0 || c.DropDuration < 0 || c.MaxHeldHeaders < 0 || c.PollInterval < 0 || c.MinChainWork.Sign() < 0 {
		return errors.New("light config: durations, bounds and the minimum chain work must not be negative")
	}
	return nil
}

// Light is a running light peer.
type Light struct {
	cfg     Config
	log     *slog.Logger
	kv      *chaindb.KV
	hc      *HeaderChain
	sync    *headerSyncer
	fetch   *fetcher
	host    *p2p.Host
	client  *sync.Client
	rpc     *rpc.Server
	view    *netView
	pool    *rpcPool
	closers []func()
}

// New opens the header store and dials the providers; Run starts it.
func New(ctx context.Context, cfg Config) (*Light, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	l := &Light{cfg: cfg, log: cfg.Logger}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", cfg.DataDir, err)
	}
	kv, err := chaindb.OpenKV(filepath.Join(cfg.DataDir, "headers"), chaindb.KVOptions{CacheBytes: 16 << 20, MemTableBytes: 16 << 20, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	l.kv = kv
	val := chain.NewValidator(cfg.Genesis, cfg.Now)
	if l.hc, err = OpenHeaderChain(kv, cfg.Genesis, val, cfg.Logger.With("module", "headers")); err != nil {
		l.Close()
		return nil, err
	}
	sources := append([]Source{}, cfg.Sources...)
	for _, url := range cfg.Providers {
		src, err := DialRPC(ctx, url, cfg.SourceTimeout)
		if err != nil {
			l.Close()
			return nil, err
		}
		l.closers = append(l.closers, src.Close)
		sources = append(sources, src)
	}
	l.sync = &headerSyncer{
		hc: l.hc, log: cfg.Logger.With("module", "lightsync"), now: cfg.Now,
		backoff: cfg.StrikeBackoff, dropFor: cfg.DropDuration, maxHeld: cfg.MaxHeldHeaders,
		minWork: cfg.MinChainWork, interval: cfg.PollInterval,
	}
	for _, src := range sources {
		l.sync.sources = append(l.sync.sources, &sourceState{src: src})
	}
	l.fetch = &fetcher{hc: l.hc, val: val, config: cfg.Genesis.Config(), sources: l.sync, proven: newProvenCache()}
	g := cfg.Genesis
	rchain := &rpcChain{hc: l.hc, genesis: g.Block(), config: g.Config(), proc: execution.NewProcessor(g.Config(), g.Pow.BlockReward)}
	l.view = newNetView(l.hc, rchain, cfg.DataDir, cfg.Now)
	l.sync.onStored = func(src Source, hs []*types.Header, hashes []common.Hash, at time.Time, catchUp bool) {
		l.view.stored(sourceID(src), hs, hashes, at, catchUp)
	}
	l.sync.onDrop = func(src Source, why string) { l.view.dropped(sourceID(src), why) }
	l.pool = &rpcPool{f: l.fetch, timeout: cfg.SourceTimeout, sent: make(map[common.Hash]sentTx)}
	if cfg.P2P != nil {
		if err := l.openP2P(); err != nil {
			l.Close()
			return nil, err
		}
	}
	if !cfg.RPCDisabled {
		rcfg := cfg.RPC
		rcfg.Logger = cfg.Logger.With("module", "rpc")
		if rcfg.Metrics, err = l.metrics(rcfg.Metrics); err != nil {
			l.Close()
			return nil, err
		}
		backend := rpc.Backend{
			Chain: rchain,
			Data:  &rpcData{f: l.fetch, hints: lru.NewCache[string, types.AccessList](1024)},
			Pool:  l.pool,
			Net:   rpcNet{l},
		}
		if l.rpc, err = rpc.NewServer(rcfg, backend); err != nil {
			l.Close()
			return nil, err
		}
	}
	head := l.hc.CurrentHeader()
	l.log.Info("Light peer opened", "datadir", cfg.DataDir, "chainid", cfg.Genesis.ChainID(), "head", head.Number, "sources", len(sources))
	return l, nil
}

// Headers returns the verified header chain.
func (l *Light) Headers() *HeaderChain { return l.hc }

// Sources lists the sources with their claims, strikes and drops.
func (l *Light) Sources() []SourceStatus { return l.sync.sourceStatus() }

// Run follows the sources until ctx ends, then closes the light peer.
func (l *Light) Run(ctx context.Context) error {
	defer l.Close()
	if l.rpc != nil {
		if err := l.rpc.Start(); err != nil {
			return err
		}
	}
	if l.host != nil {
		if err := l.host.Start(); err != nil {
			return err
		}
	}
	var wg gosync.WaitGroup
	defer wg.Wait() // before Close: the view reads the header store
	wg.Add(1)
	go func() { defer wg.Done(); l.view.run(ctx, l.sync.bestClaim) }()
	l.sync.run(ctx)
	return nil
}

// openP2P starts the libp2p host and the sync protocols' client side.
func (l *Light) openP2P() error {
	cfg := l.cfg.P2P
	keyFile := cfg.KeyFile
	if keyFile == "" {
		keyFile = filepath.Join(l.cfg.DataDir, "p2p", "key")
	}
	listen := cfg.Listen
	if listen == nil {
		listen = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
	}
	g := l.cfg.Genesis
	h, err := p2p.New(p2p.Config{
		Network: sync.NetworkName(g.ChainID(), g.Hash()), KeyFile: keyFile, Listen: listen,
		Bootnodes: cfg.Bootnodes, NoDHT: cfg.NoDHT, Logger: l.log.With("module", "p2p"),
	})
	if err != nil {
		return err
	}
	l.host = h
	l.closers = append(l.closers, func() { _ = h.Close() })
	l.client, err = sync.NewClient(sync.ClientConfig{
		Host: h, Timeout: l.cfg.SourceTimeout,
		Status: func() *sync.Status {
			head := l.hc.CurrentHeader()
			return &sync.Status{ChainID: g.ChainID().Uint64(), Genesis: g.Hash(), Head: head.Hash(), Number: head.Number.Uint64(), TD: l.hc.CurrentTD()}
		},
		OnPeer: func(p peer.ID, _ *sync.Status) {
			l.sync.add(&p2pSource{c: l.client, p: p})
			l.view.peer(p.String(), true)
			l.log.Debug("Full peer joined as a source", "peer", p)
		},
		OnGone: func(p peer.ID) {
			l.sync.remove(func(s Source) bool { ps, ok := s.(*p2pSource); return ok && ps.p == p })
			l.view.peer(p.String(), false)
		},
		OnBlock: l.onGossip,
	})
	return err
}

// onGossip takes the header of a gossiped block when its parent is known
// and its branch is near the head's work (as a full peer stores an
// unrequested block); the header rules are checked by Insert.
func (l *Light) onGossip(from peer.ID, b *types.Block) {
	at := l.cfg.Now()
	h := b.Header()
	if h.Number == nil || h.Number.Sign() == 0 || l.hc.GetHeader(b.Hash(), b.NumberU64()) != nil {
		return
	}
	ptd := l.hc.GetTD(h.ParentHash, h.Number.Uint64()-1)
	if ptd == nil {
		return // the next poll finds the chain it belongs to
	}
	head := l.hc.CurrentHeader()
	td := new(big.Int).Add(ptd, h.Difficulty)
	margin := new(big.Int).Mul(head.Difficulty, big.NewInt(4))
	if td.Cmp(l.cfg.MinChainWork) < 0 || new(big.Int).Add(td, margin).Cmp(l.hc.CurrentTD()) <= 0 {
		return
	}
	if err := l.hc.Insert([]*types.Header{h}); err != nil {
		l.log.Debug("Gossiped header refused", "number", h.Number, "err", err)
		return
	}
	l.sync.credit(from.String(), l.hc.GetTD(b.Hash(), b.NumberU64()))
	l.view.record(h, b.Hash(), at, viaGossip, from.String())
}

// RPCAddr is the JSON-RPC listen address once Run has started it.
func (l *Light) RPCAddr() string {
	if l.rpc == nil || l.rpc.Addr() == nil {
		return ""
	}
	return l.rpc.Addr().String()
}

// addPeer dials a full peer (admin_addPeer).
func (l *Light) addPeer(addr string) error {
	ai, err := peer.AddrInfoFromString(addr)
	if err != nil {
		return fmt.Errorf("peer address %q: want a multiaddr ending in /p2p/<id>: %w", addr, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.SourceTimeout)
	defer cancel()
	return l.host.Connect(ctx, *ai)
}

// Close releases the RPC, the sources and the header store.
func (l *Light) Close() {
	if l.rpc != nil {
		if err := l.rpc.Close(); err != nil {
			l.log.Warn("RPC close", "err", err)
		}
		l.rpc = nil
	}
	for _, c := range l.closers {
		c()
	}
	l.closers = nil
	if l.kv != nil {
		if err := l.kv.Close(); err != nil {
			l.log.Error("Close the header store", "err", err)
		}
		l.kv = nil
	}
}
