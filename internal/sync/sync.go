// Package sync bridges the peer-to-peer layer and the chain: the handshake
// (chain id, genesis, head, total difficulty), block and transaction relay
// over gossip, the request handlers other peers call, and headers-first
// sync with bodies fetched in parallel from several peers.
//
// Relay policy. A block is relayed only after its header rules and proof
// of work pass. A block whose author (the peer that signed the gossip
// message) has already given us a block that imported cleanly is relayed
// on those checks alone and imported right after (the import checks the
// body and runs the block); a block from an author we have no such record
// of is imported — fully validated — before it is relayed. So a peer that spends real work on a block with a wrong state
// root reaches nobody, while blocks of known miners travel at the speed of
// a header check. An author whose block fails import loses that standing
// and is banned.
//
// Misbehaviour — an invalid block, a malformed or oversized message,
// flooding requests — bans the peer for a time; banned peers' messages are
// not relayed. sync imports p2p, chain, txpool, chaindb, pow and params; it
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
	VerifyHeader(h *types.Header) error
	VerifyBody(b *types.Block) error
	GetTD(hash common.Hash, number uint64) *big.Int
	NewHeaderVerifier(from common.Hash) (*chain.HeaderVerifier, error)
	InsertBlock(b *types.Block) (chain.InsertStatus, error)
	SubscribeHeads(ch chan<- chain.HeadEvent) event.Subscription
}

// Pool is what sync needs of the transaction pool.
type Pool interface {
	AddRemote(txs []*types.Transaction) []error
	Get(hash common.Hash) *types.Transaction
	Pending(baseFee *big.Int) map[common.Address][]*types.Transaction
	SubscribeNewTxs(ch chan<- txpool.NewTxsEvent) event.Subscription
}

// Config configures a Syncer.
type Config struct {
	Host   *p2p.Host // required
	Chain  Chain     // required
	Pool   Pool      // required
	Logger *slog.Logger
	// RequestRate bounds the requests one peer may make per second before
	// it counts as flooding. Default 100.
	RequestRate float64
	// OnBlockRelayed, if set, is called with the hash of every gossiped
	// block this peer accepts for relay (metrics and benchmarks).
	OnBlockRelayed func(hash common.Hash)
}

// Syncer runs the chain protocol over a p2p host.
type Syncer struct {
	cfg    Config
	log    *slog.Logger
	host   *p2p.Host
	chain  Chain
	pool   Pool
	blocks *p2p.Topic
	txs    *p2p.Topic

	peers   *peerTable
	limiter *rateLimiter

	// trusted authors: peers whose gossiped block imported cleanly.
	trusted *lru.Cache[peer.ID, bool]
	// fromNet marks transactions heard from peers (not re-published).
	fromNet *lru.Cache[common.Hash, bool]

	importCh chan gossipBlock
	wake     chan struct{}

	progress     progressTracker
	bodiesServed atomic.Uint64

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
	switch {
	case cfg.Host == nil:
		return nil, errors.New("sync config: Host is required")
	case cfg.Chain == nil:
		return nil, errors.New("sync config: Chain is required")
	case cfg.Pool == nil:
		return nil, errors.New("sync config: Pool is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RequestRate == 0 {
		cfg.RequestRate = 100
	}
	s := &Syncer{
		cfg: cfg, log: cfg.Logger, host: cfg.Host, chain: cfg.Chain, pool: cfg.Pool,
		peers:    newPeerTable(),
		limiter:  newRateLimiter(cfg.RequestRate),
		trusted:  lru.NewCache[peer.ID, bool](1024),
		fromNet:  lru.NewCache[common.Hash, bool](1 << 16),
		importCh: make(chan gossipBlock, 256),
		wake:     make(chan struct{}, 1),
	}
	s.registerHandlers()
	var err error
	if s.blocks, err = s.host.JoinTopic(topicBlocks, p2p.TopicOptions{ContentIDs: true}, s.validateBlock, s.onBlock); err != nil {
		return nil, err
	}
	if s.txs, err = s.host.JoinTopic(topicTxs, p2p.TopicOptions{}, s.validateTx, func(peer.ID, peer.ID, []byte) {}); err != nil {
		return nil, err
	}
	s.host.OnPeer(s.onConnect, s.onGone)
	return s, nil
}

// Run drives sync until ctx ends: the handshake results, the sync loop,
// gossip imports and transaction relay.
func (s *Syncer) Run(ctx context.Context) error {
	var wg gosync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(3)
	go func() { defer wg.Done(); s.importLoop(ctx) }()
	go func() { defer wg.Done(); s.relayTxs(ctx) }()
	go func() { defer wg.Done(); s.reannounce(ctx) }()
	// Peers that connected before Run get their handshake now.
	for _, p := range s.host.Peers() {
		go s.onConnect(p.ID)
	}
	tick := time.NewTicker(3 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			s.refreshStatuses(ctx)
		case <-s.wake:
		}
		s.maybeSync(ctx)
	}
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
	ctx, cancel := context.WithTimeout(context.Background(), p2p.StreamTimeout)
	defer cancel()
	st, err := s.requestStatus(ctx, p)
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
	s.peers.update(p, st.Head, st.Number, st.TD)
	s.log.Debug("Handshake done", "peer", p, "head", st.Number, "td", st.TD)
	if st.TD.Cmp(s.chain.CurrentTD()) > 0 {
		s.kick()
	}
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
	st := new(Status)
	if err := decode(resp, st, "status"); err != nil {
		return nil, err
	}
	return st, nil
}

// refreshStatuses polls peers whose status is old, to notice heavier
// chains that gossip did not bring.
func (s *Syncer) refreshStatuses(ctx context.Context) {
	for _, p := range s.peers.stale(6 * time.Second) {
		st, err := s.requestStatus(ctx, p)
		if err != nil {
			continue
		}
		if s.checkStatus(st) == nil {
			s.peers.update(p, st.Head, st.Number, st.TD)
		}
	}
}

// Broadcast publishes a block this peer produced.
func (s *Syncer) Broadcast(b *types.Block) {
	data, err := encode(b)
	if err != nil {
		s.log.Error("Encode block for gossip", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.blocks.Publish(ctx, data); err != nil {
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
