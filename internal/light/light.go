package light

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/chaindb"
	"github.com/peerchain/peerchain/internal/params"
)

// Config configures a light peer; zero fields take the defaults shown.
type Config struct {
	// DataDir holds the header store. Required.
	DataDir string
	// Genesis is the chain. Default: the embedded dev genesis.
	Genesis *params.Genesis
	// Providers are JSON-RPC URLs of provider peers.
	Providers []string
	// Sources are further sources (tests; P2P peers).
	Sources []Source
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
	if len(c.Providers) == 0 && len(c.Sources) == 0 {
		return errors.New("light config: no sources: give provider URLs (--providers) or peers")
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
	l.fetch = &fetcher{hc: l.hc, val: val, config: cfg.Genesis.Config(), sources: l.sync}
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
	l.sync.run(ctx)
	return nil
}

// Close releases the sources and the header store.
func (l *Light) Close() {
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
