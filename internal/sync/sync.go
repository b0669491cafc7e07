// Package sync bridges the peer-to-peer layer and the chain: the handshake
// (chain id, genesis, head, total difficulty), block and transaction relay
// over gossip, the request handlers other peers call, and headers-first
// sync with bodies fetched in parallel from several peers.
//
// Nothing a peer says is believed before it is checked, and every check is
// ordered so that the cheap ones come first:
//
//   - A gossiped block must carry valid proof of work at no less than the
//     chain's minimum difficulty before anything else is looked at; then
//     its header rules against a stored parent; then its body must be the
//     one the header commits to. A block is relayed only after all three.
//     A body that does not match its header bans the peers that signed and
//     forwarded it, and never marks the block itself bad: a relayer cannot
//     blacklist an honest block by pairing its header with another body.
//   - A peer publishes its blocks as compact blocks (compact.go): the
//     header, a short id per transaction and the transactions no peer
//     sent it. A receiver rebuilds the body from its pool and the
//     forwarder's answer to blocktxn/1, then runs the same checks. A
//     rebuilt body that does not match is a failed rebuild, never a bad
//     block: the receiver fetches the full body and only then judges who
//     lied — the message's signer and forwarder, or a forwarder that
//     served wrong transactions.
//   - A block nobody asked for is stored only if its branch's total
//     difficulty is near the head's (and above the configured minimum chain
//     work); a side block is never relayed.
//   - A block whose author (the peer that signed the gossip message) has
//     already given us a block that became canonical is relayed on those
//     checks and imported right after; a block from an author without that
//     record is imported — executed, state root and all — before it is
//     relayed. An author whose block fails import is banned.
//   - A peer's claimed total difficulty only chooses whom to sync from.
//     Work counts once a verified header chain shows it; a peer that does
//     not back its claim in time gets a strike, its turn passes to the next
//     peer, and three strikes in a row ban it.
//   - Headers-first sync holds a bounded number of headers: past that it
//     keeps only checkpoint hashes until the headers show more work than
//     ours, then downloads them again against the checkpoints, fetching
//     bodies and importing as it goes.
//
// Misbehaviour — an invalid block, a malformed or oversized message,
// flooding requests or gossip — bans the peer for a time; banned peers'
// messages are not relayed. sync imports p2p, chain, txpool, chaindb, pow and params; it
// must not import rpc, miner or node.
package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/lru"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/event"
	gparams "github.com/ethereum/go-ethereum/params"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/p2p"
	"github.com/peerchain/peerchain/internal/txpool"
)

// Chain is what sync needs of the chain.
type Chain interface {
	CurrentBlock() *types.Block
	CurrentHeader() *types.Header
	CurrentTD() *big.Int
	Genesis() *types.Block
	Config() *gparams.ChainConfig
	GetHeaderByNumber(number uint64) *types.Header
	GetHeaderByHash(hash common.Hash) *types.Header
	GetCanonicalHash(number uint64) (common.Hash, bool)
	GetBlock(hash common.Hash, number uint64) *types.Block
	GetBlockByHash(hash common.Hash) *types.Block
	HasBlock(hash common.Hash, number uint64) bool
	IsBad(hash common.Hash) (*chain.RuleError, bool)
	CheckSeal(h *types.Header) error
	VerifyHeader(h *types.Header) error
	VerifyBody(b *types.Block) error
	GetTD(hash common.Hash, number uint64) *big.Int
	NewHeaderVerifier(from common.Hash) (*chain.HeaderVerifier, error)
	InsertBlock(b *types.Block) (chain.InsertStatus, error)
	SubscribeHeads(ch chan<- chain.HeadEvent) event.Subscription
	// What the light-serving protocols read.
	GetReceipts(hash common.Hash, number uint64) types.Receipts
	GetTransaction(hash common.Hash) (*chain.TxLookup, bool)
	Prove(h *types.Header, addr common.Address, slots []common.Hash) (*chain.AccountProof, error)
	StateAtBlock(h *types.Header) (*state.StateDB, error)
}

// Pool is what sync needs of the transaction pool.
type Pool interface {
	AddRemote(txs []*types.Transaction) []error
	Get(hash common.Hash) *types.Transaction
	Pending(baseFee *big.Int) map[common.Address][]*types.Transaction
	SubscribeNewTxs(ch chan<- txpool.NewTxsEvent) event.Subscription
}

// Config configures a Syncer; zero fields take the defaults shown.
type Config struct {
	Host   *p2p.Host // required
	Chain  Chain     // required
	Pool   Pool      // required
	Logger *slog.Logger
	// RequestRate bounds the requests one peer may make per second before
	// it counts as flooding. Default 100.
	RequestRate float64
	// GossipBlockRate bounds the gossiped blocks one peer may forward per
	// second (burst twice that) before it counts as flooding. Default 20.
	GossipBlockRate float64
	// ServeBytesRate bounds the bytes of headers, bodies and transactions
	// served to one peer per second (burst twice that); a peer over it
	// gets short answers until it waits. Default 32 MiB.
	ServeBytesRate float64
	// MinChainWork is the least total difficulty a chain must have before
	// its blocks are downloaded or stored: the work of a known honest
	// chain, so that a fresh peer on a real network spends nothing on
	// cheap forks. Default 0 (no minimum).
	MinChainWork *big.Int
	// HeaderTimeout bounds one headers (or status) request in sync: a peer
	// that claims more work must start backing it within this time.
	// Default 10s.
	HeaderTimeout time.Duration
	// BodyTimeout bounds one bodies request. Default 20s.
	BodyTimeout time.Duration
	// MaxHeldHeaders bounds the headers held in memory while a peer's
	// chain has not yet shown more work than ours; a longer chain is
	// verified keeping one checkpoint hash per response, then downloaded
	// again. Default 8192 (about 5 MB).
	MaxHeldHeaders int
	// StrikeBackoff is how long a peer that failed a sync waits before it
	// is asked again; it doubles with each strike in a row. Default 5s.
	StrikeBackoff time.Duration
	// Now is the clock of the peer table and rate limits. Default time.Now.
	Now func() time.Time
	// OnBlockRelayed, if set, is called with the hash of every gossiped
	// block this peer accepts for relay (metrics and benchmarks).
	OnBlockRelayed func(hash common.Hash)
	// FullBlocks publishes this peer's blocks whole on the block topic
	// instead of as compact blocks (header, short transaction ids and the
	// transactions peers are unlikely to hold). Either kind is received
	// and relayed whatever this says. Default false: compact relay.
	FullBlocks bool
	// TxFetchTimeout bounds fetching the transactions a compact block
	// names but this pool lacks, plus txFetchPerTx for each of them (a
	// slow honest uplink must not earn strikes for a large fetch); each
	// try at its full body after that gets BodyTimeout. Default 3s.
	TxFetchTimeout time.Duration
}

func (c *Config) validate() error {
	switch {
	case c.Host == nil:
		return errors.New("sync config: Host is required")
	case c.Chain == nil:
		return errors.New("sync config: Chain is required")
	case c.Pool == nil:
		return errors.New("sync config: Pool is required")
	case c.MinChainWork != nil && c.MinChainWork.Sign() < 0:
		return fmt.Errorf("sync config: MinChainWork %v is negative", c.MinChainWork)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.RequestRate == 0 {
		c.RequestRate = 100
	}
	if c.GossipBlockRate == 0 {
		c.GossipBlockRate = 20
	}
	if c.ServeBytesRate == 0 {
		c.ServeBytesRate = 32 << 20
	}
	if c.MinChainWork == nil {
		c.MinChainWork = new(big.Int)
	}
	if c.HeaderTimeout == 0 {
		c.HeaderTimeout = 10 * time.Second
	}
	if c.BodyTimeout == 0 {
		c.BodyTimeout = 20 * time.Second
	}
	if c.MaxHeldHeaders == 0 {
		c.MaxHeldHeaders = 8192
	}
	if c.StrikeBackoff == 0 {
		c.StrikeBackoff = 5 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.TxFetchTimeout == 0 {
		c.TxFetchTimeout = 3 * time.Second
	}
	if c.TxFetchTimeout < 0 || c.RequestRate < 0 || c.GossipBlockRate < 0 || c.ServeBytesRate < 0 || c.HeaderTimeout < 0 || c.BodyTimeout < 0 || c.StrikeBackoff < 0 || c.MaxHeldHeaders < 0 {
		return errors.New("sync config: rates, timeouts and backoff must not be negative")
	}
	return nil
}

// Syncer runs the chain protocol over a p2p host.
type Syncer struct {
	cfg     Config
	log     *slog.Logger
	host    *p2p.Host
	chain   Chain
	pool    Pool
	blocks  *p2p.Topic // full blocks
	compact *p2p.Topic // compact blocks
	txs     *p2p.Topic

	peers    *peerTable
	limiter  *rateLimiter // requests per peer
	gossip   *rateLimiter // gossiped blocks per peer
	outBytes *rateLimiter // bytes served per peer
	checks   atomic.Int64 // unknown-parent status requests in flight
	// maxHeld is the most headers a sync has held before their work was
	// proven (the memory bound; tests and metrics).
	maxHeld atomic.Int64

	// trusted authors: peers whose gossiped block imported cleanly.
	trusted *lru.Cache[peer.ID, bool]
	// fromNet holds the transactions heard from peers (true) or already
	// published by us (false): neither is published again, and the first
	// kind is left out of the prefilled transactions of our compact blocks.
	fromNet *lru.Cache[common.Hash, bool]
	// recent holds the last blocks we relayed or published, for the peers
	// we sent them to: they ask for what their pools lack. Only a block
	// that would be our new head is relayed, so filling it costs real work.
	recent       *lru.Cache[common.Hash, *types.Block]
	compactStats compactCounters

	importCh chan gossipBlock
	wake     chan struct{}

	progress     progressTracker
	bodiesServed atomic.Uint64
	arrivals     *ArrivalLog // when and from whom recent blocks arrived

	mu struct {
		gosync.Mutex
		syncing bool
	}
}

type gossipBlock struct {
	block  *types.Block
	from   peer.ID
	author peer.ID
}

// New registers the protocol handlers and gossip topics on the host.
func New(cfg Config) (*Syncer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Syncer{
		cfg: cfg, log: cfg.Logger, host: cfg.Host, chain: cfg.Chain, pool: cfg.Pool,
		peers:    newPeerTable(cfg.StrikeBackoff, cfg.Now),
		limiter:  newRateLimiter(cfg.RequestRate, 2*cfg.RequestRate, cfg.Now),
		gossip:   newRateLimiter(cfg.GossipBlockRate, 2*cfg.GossipBlockRate, cfg.Now),
		outBytes: newRateLimiter(cfg.ServeBytesRate, 2*cfg.ServeBytesRate, cfg.Now),
		trusted:  lru.NewCache[peer.ID, bool](1024),
		fromNet:  lru.NewCache[common.Hash, bool](1 << 16),
		recent:   lru.NewCache[common.Hash, *types.Block](maxRecentBlocks),
		importCh: make(chan gossipBlock, 256),
		wake:     make(chan struct{}, 1),
		arrivals: NewArrivalLog(cfg.Now),
	}
	s.registerHandlers()
	s.registerLightHandlers()
	var err error
	if s.blocks, err = s.host.JoinTopic(topicBlocks, p2p.TopicOptions{ContentIDs: true}, s.validateBlock, s.onBlock); err != nil {
		return nil, err
	}
	if s.compact, err = s.host.JoinTopic(topicCompact, p2p.TopicOptions{ContentIDs: true}, s.validateCompact, s.onBlock); err != nil {
		return nil, err
	}
	if s.txs, err = s.host.JoinTopic(topicTxs, p2p.TopicOptions{}, s.validateTx, func(peer.ID, peer.ID, []byte) {}); err != nil {
		return nil, err
	}
	s.host.OnPeer(s.onConnect, s.onGone)
	return s, nil
}

// Run drives sync until ctx ends: the handshake results, the sync loop,
// status refreshes, gossip imports and transaction relay.
func (s *Syncer) Run(ctx context.Context) error {
	var wg gosync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(4)
	go func() { defer wg.Done(); s.importLoop(ctx) }()
	go func() { defer wg.Done(); s.relayTxs(ctx) }()
	go func() { defer wg.Done(); s.reannounce(ctx) }()
	go func() { defer wg.Done(); s.refreshLoop(ctx) }()
	// Peers that connected before Run get their handshake now.
	for _, p := range s.host.Peers() {
		go s.onConnect(p.ID)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-s.wake:
		}
		s.maybeSync(ctx)
	}
}

// refreshLoop polls, in parallel, the peers whose status is old, to notice
// heavier chains that gossip did not bring, and forgets what the rate
// limits and the peer table no longer need.
func (s *Syncer) refreshLoop(ctx context.Context) {
	tick := time.NewTicker(3 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s.refreshStatuses(ctx)
		s.peers.prune()
		s.limiter.prune()
		s.gossip.prune()
		s.outBytes.prune()
	}
}

// refreshStatuses asks every stale peer for its status at once (a few at a
// time), each within the header timeout.
func (s *Syncer) refreshStatuses(ctx context.Context) {
	const parallel = 8
	var (
		wg  gosync.WaitGroup
		sem = make(chan struct{}, parallel)
	)
	for _, p := range s.peers.stale(6 * time.Second) {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func(p peer.ID) {
			defer func() { <-sem; wg.Done() }()
			rctx, cancel := context.WithTimeout(ctx, s.cfg.HeaderTimeout)
			defer cancel()
			st, err := s.requestStatus(rctx, p)
			if err != nil || s.checkStatus(st) != nil {
				return
			}
			s.peers.claimStatus(p, st)
			if st.TD.Cmp(s.chain.CurrentTD()) > 0 {
				s.kick()
			}
		}(p)
	}
	wg.Wait()
}

// kick asks the loop to look for a better chain now.
func (s *Syncer) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// status is this peer's handshake message.
func (s *Syncer) status() *Status {
	head := s.chain.CurrentBlock()
	return &Status{
		Version: protocolVersion,
		ChainID: s.chain.Config().ChainID.Uint64(),
		Genesis: s.chain.Genesis().Hash(),
		Head:    head.Hash(),
		Number:  head.NumberU64(),
		TD:      s.chain.CurrentTD(),
	}
}

// onConnect runs the handshake with a new peer, then pulls its pending
// transactions.
func (s *Syncer) onConnect(p peer.ID) {
	hctx, hcancel := context.WithTimeout(context.Background(), s.cfg.HeaderTimeout)
	st, err := s.requestStatus(hctx, p)
	hcancel()
	if err != nil {
		s.log.Debug("Handshake failed", "peer", p, "err", err)
		var mal *errMalformed
		if errors.As(err, &mal) || errors.Is(err, p2p.ErrOversized) {
			s.host.Ban(p, err.Error())
		} else {
			s.host.Disconnect(p)
		}
		return
	}
	if err := s.checkStatus(st); err != nil {
		s.log.Info("Disconnecting a peer of another chain", "peer", p, "err", err)
		s.host.Disconnect(p)
		return
	}
	s.peers.claimStatus(p, st)
	s.log.Debug("Handshake done", "peer", p, "head", st.Number, "td", st.TD)
	if st.TD.Cmp(s.chain.CurrentTD()) > 0 {
		s.kick()
	}
	ctx, cancel := context.WithTimeout(context.Background(), p2p.StreamTimeout)
	defer cancel()
	s.pullPool(ctx, p)
}

func (s *Syncer) onGone(p peer.ID) { s.peers.remove(p) }

func (s *Syncer) checkStatus(st *Status) error {
	ours := s.status()
	switch {
	case st.ChainID != ours.ChainID:
		return fmt.Errorf("chain id %d, ours is %d", st.ChainID, ours.ChainID)
	case st.Genesis != ours.Genesis:
		return fmt.Errorf("genesis %s, ours is %s", st.Genesis, ours.Genesis)
	case st.TD == nil || st.TD.Sign() <= 0 || st.TD.BitLen() > 512:
		return fmt.Errorf("total difficulty %v out of range", st.TD)
	}
	return nil
}

func (s *Syncer) requestStatus(ctx context.Context, p peer.ID) (*Status, error) {
	req, err := encode(s.status())
	if err != nil {
		return nil, err
	}
	resp, err := s.host.Request(ctx, p, protoStatus, req, maxStatusBytes)
	if err != nil {
		return nil, err
	}
	return parseStatus(resp)
}

// Broadcast publishes a block this peer produced: as a compact block
// whose prefilled transactions are those no peer sent us, or whole when
// Config.FullBlocks says so.
func (s *Syncer) Broadcast(b *types.Block) {
	s.arrivals.Imported(b.Header(), "", ViaMined)
	s.recent.Add(b.Hash(), b)
	topic, data, err := s.blocks, []byte(nil), error(nil)
	if s.cfg.FullBlocks {
		data, err = encode(b)
	} else {
		topic = s.compact
		data, err = s.encodeCompact(b)
	}
	if err != nil {
		s.log.Error("Encode block for gossip", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := topic.Publish(ctx, data); err != nil {
		s.log.Warn("Block broadcast failed", "number", b.NumberU64(), "err", err)
	}
}

// punish bans a peer for misbehaviour, with the reason logged.
func (s *Syncer) punish(p peer.ID, reason string) {
	if p == s.host.ID() || p == "" {
		return
	}
	s.trusted.Remove(p)
	s.host.Ban(p, reason)
	s.peers.remove(p)
}

// NetworkName is the p2p namespace of a chain: peers of different chains
// never share a topic or protocol.
func NetworkName(chainID *big.Int, genesis common.Hash) string {
	return fmt.Sprintf("%s-%x", chainID, genesis[:4])
}
