// Package node is the one place that wires a peer together: it opens the
// database, the chain, the transaction pool, the miner and the JSON-RPC
// server from a Config, and owns their start and stop order.
//
// Start order: database → chain (rebuilds the head state after a crash) →
// pool (reloads its journal) → RPC → pool and miner loops. Stop order is
// the reverse: the RPC stops taking requests, the loops end, the chain
// journals its in-memory state, the database closes.
//
// node may import every internal package; only cmd/peerchain imports node.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/chaindb"
	"github.com/peerchain/peerchain/internal/miner"
	"github.com/peerchain/peerchain/internal/p2p"
	"github.com/peerchain/peerchain/internal/params"
	"github.com/peerchain/peerchain/internal/rpc"
	"github.com/peerchain/peerchain/internal/sync"
	"github.com/peerchain/peerchain/internal/txpool"
)

// Config is everything a peer needs; see cmd/peerchain for the flags that
// fill it.
type Config struct {
	// DataDir holds the database and keys. Required.
	DataDir string
	// Genesis is the chain to run. Default: the embedded dev genesis.
	Genesis *params.Genesis
	// Logger. Default: discarded.
	Logger *slog.Logger

	// Chain tuning; zero values take chain.Config's defaults.
	StateHistory     uint64
	CacheBytes       int64 // Pebble block cache
	TrieCacheBytes   int
	WriteBufferBytes int

	// RPC is the JSON-RPC server; RPCDisabled turns it off. The node sets
	// its Provider, InsecurePublic and Metrics from the fields below, and
	// drops HealthMinPeers to 0 when P2P is disabled.
	RPC                 rpc.Config
	RPCDisabled         bool
	AllowUnprotectedTxs bool
	// Provider serves the RPC as a public provider (rpc.Config.Provider):
	// rate limits per client and per transaction sender, no admin_,
	// personal_ or signing methods, no unlocked Accounts (refused). It is
	// what lets the RPC listen beyond loopback. Default false.
	Provider bool
	// ProviderKeys is a file of API keys for the provider's clients, added
	// to RPC.Keys (rpc.ParseAPIKeys tells its format). Default none.
	ProviderKeys string
	// TrustedProxies are the addresses or CIDR prefixes of reverse
	// proxies whose X-Forwarded-For names the client, added to
	// RPC.TrustedProxies. Default none.
	TrustedProxies []string
	// AllowInsecureUnlock lets the RPC listen beyond loopback without
	// Provider, with the whole API and the unlocked Accounts: for a
	// private network only (--allow-insecure-unlock). Default false.
	AllowInsecureUnlock bool
	// ProofWindow is the number of blocks whose state can be proven
	// (eth_getProof) and read; 0: the last 128 (chain.Config.ProofWindow).
	ProofWindow uint64
	// Metrics is the registry served at GET /metrics on the RPC address,
	// where the node registers the Go runtime and process collectors and
	// its own metrics (metrics.go) beside the RPC's. Default: a new
	// registry (never the global one).
	Metrics *prometheus.Registry

	// Pool is the transaction pool configuration (Chain, Journal, Logger
	// are filled in by the node).
	Pool txpool.Config

	// Mine turns mining on; Miner configures it (Chain, Pool, Logger are
	// filled in by the node).
	Mine  bool
	Miner miner.Config

	// P2P is the peer-to-peer configuration.
	P2P P2PConfig

	// Accounts are keys unlocked for the RPC's eth_accounts,
	// eth_sendTransaction and eth_sign. Optional.
	Accounts rpc.Accounts
}

func (c *Config) validate() error {
	if c.DataDir == "" {
		return errors.New("node config: a data dir is required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Genesis == nil {
		g, err := params.DevGenesis()
		if err != nil {
			return err
		}
		c.Genesis = g
	}
	if c.Mine && c.Miner.Coinbase == (common.Address{}) {
		return errors.New("mining needs a coinbase: set --miner.coinbase (or use --dev, which mines to the first dev account)")
	}
	if c.Provider && c.Accounts != nil {
		return errors.New("--provider with unlocked accounts (--unlock, or --dev's dev accounts): a public provider must sign for nobody; start it without them")
	}
	return nil
}

// Node is a running peer.
type Node struct {
	cfg    Config
	log    *slog.Logger
	db     *chaindb.DB
	chain  *chain.Chain
	pool   *txpool.Pool
	miner  *miner.Miner
	rpc    *rpc.Server
	host   *p2p.Host
	syncer *sync.Syncer
	view   *netView     // the network view (network.go)
	met    *nodeMetrics // Prometheus metrics (metrics.go)
}

// New opens every part of the peer; Run starts it.
func New(cfg Config) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger, met: newNodeMetrics()}
	if err := n.open(); err != nil {
		n.close()
		return nil, err
	}
	return n, nil
}

// open opens the parts in start order; on error the caller closes what
// was opened.
func (n *Node) open() error {
	cfg := n.cfg
	var err error
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir %s: %w", cfg.DataDir, err)
	}
	n.db, err = chaindb.Open(cfg.DataDir, chaindb.KVOptions{CacheBytes: cfg.CacheBytes, Logger: cfg.Logger.With("module", "db")})
	if err != nil {
		if strings.Contains(err.Error(), "lock") {
			return fmt.Errorf("data dir %s is in use by another peerchain process: %w", cfg.DataDir, err)
		}
		return err
	}
	n.chain, err = chain.New(chain.Config{
		Genesis:          cfg.Genesis,
		DB:               n.db,
		Logger:           cfg.Logger.With("module", "chain"),
		StateHistory:     cfg.StateHistory,
		TrieCacheBytes:   cfg.TrieCacheBytes,
		WriteBufferBytes: cfg.WriteBufferBytes,
		ProofWindow:      cfg.ProofWindow,
		OnInsert:         n.met.observeInsert,
	})
	if err != nil {
		return err
	}
	pcfg := cfg.Pool
	pcfg.Chain = n.chain
	pcfg.Journal = txpool.DBJournal{DB: n.db}
	pcfg.Logger = cfg.Logger.With("module", "txpool")
	if n.pool, err = txpool.New(pcfg); err != nil {
		return err
	}
	if err := n.pool.Load(); err != nil {
		return err
	}
	var netInfo rpc.Network
	if !cfg.P2P.Disabled {
		if err := n.openNetwork(); err != nil {
			return err
		}
		n.view = newNetView(n)
		netInfo = network{host: n.host, syncer: n.syncer, view: n.view}
	}
	var minerInfo rpc.Miner
	if cfg.Mine {
		mcfg := cfg.Miner
		mcfg.Chain, mcfg.Pool, mcfg.Logger = n.chain, n.pool, cfg.Logger.With("module", "miner")
		if n.syncer != nil {
			mcfg.Broadcast = n.syncer.Broadcast
		}
		if n.miner, err = miner.New(mcfg); err != nil {
			return err
		}
		minerInfo = n.miner
	}
	if !cfg.RPCDisabled {
		rcfg := cfg.RPC
		rcfg.Logger = cfg.Logger.With("module", "rpc")
		rcfg.Provider = cfg.Provider
		rcfg.InsecurePublic = cfg.AllowInsecureUnlock
		if cfg.ProviderKeys != "" {
			keys, err := rpc.LoadAPIKeys(cfg.ProviderKeys)
			if err != nil {
				return fmt.Errorf("--provider.keys: %w", err)
			}
			rcfg.Keys = append(slices.Clip(rcfg.Keys), keys...)
		}
		proxies, err := rpc.ParseTrustedProxies(cfg.TrustedProxies)
		if err != nil {
			return fmt.Errorf("--provider.trustedproxies: %w", err)
		}
		rcfg.TrustedProxies = append(slices.Clip(rcfg.TrustedProxies), proxies...)
		if cfg.P2P.Disabled {
			rcfg.HealthMinPeers = 0 // a peer run alone has none by design
		}
		if rcfg.Metrics, err = n.metrics(); err != nil {
			return err
		}
		n.rpc, err = rpc.NewServer(rcfg, rpc.Backend{
			Chain: n.chain, Pool: rpc.LocalPool(n.pool), Miner: minerInfo, Net: netInfo, Accounts: cfg.Accounts,
			AllowUnprotectedTxs: cfg.AllowUnprotectedTxs,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Chain returns the chain (for tests and tools).
func (n *Node) Chain() *chain.Chain { return n.chain }

// Pool returns the transaction pool.
func (n *Node) Pool() *txpool.Pool { return n.pool }

// P2PAddrs returns the multiaddrs (with /p2p/<id>) other peers can dial.
func (n *Node) P2PAddrs() []string {
	if n.host == nil {
		return nil
	}
	return n.host.Addrs()
}

// RPCAddr returns the JSON-RPC listen address once Run has started it.
func (n *Node) RPCAddr() string {
	if n.rpc == nil || n.rpc.Addr() == nil {
		return ""
	}
	return n.rpc.Addr().String()
}

// Run starts the peer and blocks until ctx ends or a part fails, then stops
// everything in order. ready, if not nil, is closed once the RPC listens.
func (n *Node) Run(ctx context.Context, ready chan<- struct{}) error {
	defer n.close()
	if n.rpc != nil {
		if err := n.rpc.Start(); err != nil {
			return err
		}
	}
	head := n.chain.CurrentBlock()
	n.log.Info("Peer started", "datadir", n.cfg.DataDir, "chainid", n.cfg.Genesis.ChainID(),
		"head", head.NumberU64(), "hash", head.Hash(), "mining", n.miner != nil, "p2p", n.P2PAddrs())
	if ready != nil {
		close(ready)
	}
	if n.host != nil {
		if err := n.host.Start(); err != nil {
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return n.pool.Run(gctx) })
	if n.syncer != nil {
		g.Go(func() error { return n.syncer.Run(gctx) })
	}
	if n.view != nil {
		g.Go(func() error { return n.view.run(gctx) })
	}
	if n.miner != nil {
		g.Go(func() error { return n.miner.Run(gctx) })
	}
	err := g.Wait()
	if ctx.Err() != nil {
		n.log.Info("Peer stopping")
	}
	return err
}

// close stops the parts that were opened, in reverse order.
func (n *Node) close() {
	if n.rpc != nil {
		if err := n.rpc.Close(); err != nil {
			n.log.Warn("RPC close", "err", err)
		}
		n.rpc = nil
	}
	if n.host != nil {
		if err := n.host.Close(); err != nil {
			n.log.Warn("P2P close", "err", err)
		}
		n.host = nil
	}
	if n.chain != nil {
		if err := n.chain.Close(); err != nil {
			n.log.Error("Chain close", "err", err)
		}
		n.chain = nil
	}
	if n.db != nil {
		if err := n.db.Close(); err != nil {
			n.log.Error("Database close", "err", err)
		}
		n.db = nil
	}
}

// DefaultDataDir is ~/.peerchain.
func DefaultDataDir() string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ".peerchain"
	}
	return filepath.Join(home, ".peerchain")
}
