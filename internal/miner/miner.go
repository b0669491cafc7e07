// Package miner builds block templates from the transaction pool (highest
// priority fee first, each account in nonce order), seals them with the
// proof-of-work sealer on several threads, and hands sealed blocks to the
// chain. A template is rebuilt when the head changes or new transactions
// arrive; restarting the nonce search loses nothing, since a PoW search has
// no memory.
//
// Run is the miner's only event loop; sealing runs in one goroutine per
// template, which inserts its block itself so the loop never waits on the
// chain. miner imports chain, txpool (through an interface), execution,
// pow and params; never rpc, p2p, sync or node.
package miner

import (
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/event"
	gparams "github.com/ethereum/go-ethereum/params"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/execution"
	"github.com/peerchain/peerchain/internal/params"
	"github.com/peerchain/peerchain/internal/pow"
	"github.com/peerchain/peerchain/internal/txpool"
)

// Chain is what the miner needs of the chain.
type Chain interface {
	CurrentBlock() *types.Block
	StateAt(root common.Hash) (*state.StateDB, error)
	NextDifficulty(parent *types.Header) (*big.Int, error)
	Processor() *execution.Processor
	GetHeader(hash common.Hash, number uint64) *types.Header
	InsertBlock(block *types.Block) (chain.InsertStatus, error)
	SubscribeHeads(ch chan<- chain.HeadEvent) event.Subscription
	Config() *gparams.ChainConfig
}

// Pool is what the miner needs of the transaction pool.
type Pool interface {
	Pending(baseFee *big.Int) map[common.Address][]*types.Transaction
	SubscribeNewTxs(ch chan<- txpool.NewTxsEvent) event.Subscription
}

// Config configures a Miner.
type Config struct {
	Chain Chain // required
	Pool  Pool  // required
	// Coinbase receives block rewards and fees. Required.
	Coinbase common.Address
	// Threads is the number of sealing threads. Default 1.
	Threads int
	// GasCeil is the gas limit the miner steers toward (by at most 1/1024
	// of the parent's per block). Default 30,000,000.
	GasCeil uint64
	// Extra is the header extra data (at most 32 bytes). Default "peerchain".
	Extra []byte
	// Debounce groups bursts of new transactions into one template
	// rebuild. Default 50ms.
	Debounce time.Duration
	// Broadcast, if set, is given every block this miner sealed and the
	// chain accepted (to publish it to other peers).
	Broadcast func(*types.Block)
	// Logger. Default: discarded.
	Logger *slog.Logger
	// Now is the clock for block timestamps. Default time.Now.
	Now func() time.Time
}

func (c *Config) validate() error {
	switch {
	case c.Chain == nil:
		return errors.New("miner config: Chain is required")
	case c.Pool == nil:
		return errors.New("miner config: Pool is required")
	case c.Coinbase == (common.Address{}):
		return errors.New("miner config: a coinbase address is required (--miner.coinbase)")
	case c.Threads < 0:
		return fmt.Errorf("miner config: threads %d is negative", c.Threads)
	case len(c.Extra) > params.MaxExtraDataSize:
		return fmt.Errorf("miner config: extra data is %d bytes, at most %d", len(c.Extra), params.MaxExtraDataSize)
	}
	if c.Threads == 0 {
		c.Threads = 1
	}
	if c.GasCeil == 0 {
		c.GasCeil = 30_000_000
	}
	if c.GasCeil < gparams.MinGasLimit {
		return fmt.Errorf("miner config: gas ceiling %d below the minimum %d", c.GasCeil, gparams.MinGasLimit)
	}
	if c.Extra == nil {
		c.Extra = []byte(params.ClientName)
	}
	if c.Debounce == 0 {
		c.Debounce = 50 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Miner mines blocks on the head of its chain.
type Miner struct {
	cfg    Config
	log    *slog.Logger
	sealer *pow.Sealer
	mined  atomic.Uint64

	rate struct {
		sync.Mutex
		hashes uint64
		at     time.Time
		perSec float64
	}
}

// New returns a miner; Run starts it.
func New(cfg Config) (*Miner, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Miner{cfg: cfg, log: cfg.Logger, sealer: pow.NewSealer(cfg.Threads)}, nil
}

// Coinbase returns the reward address.
func (m *Miner) Coinbase() common.Address { return m.cfg.Coinbase }

// Threads returns the sealing thread count.
func (m *Miner) Threads() int { return m.cfg.Threads }

// Mined is how many blocks this miner sealed and the chain accepted.
func (m *Miner) Mined() uint64 { return m.mined.Load() }

// Hashrate is the measured hashes per second over the last few seconds.
func (m *Miner) Hashrate() float64 {
	m.rate.Lock()
	defer m.rate.Unlock()
	now, h := time.Now(), m.sealer.Hashes()
	if el := now.Sub(m.rate.at); el >= 2*time.Second || m.rate.at.IsZero() {
		if !m.rate.at.IsZero() {
			m.rate.perSec = float64(h-m.rate.hashes) / el.Seconds()
		}
		m.rate.hashes, m.rate.at = h, now
	}
	return m.rate.perSec
}

// Run mines until ctx ends.
func (m *Miner) Run(ctx context.Context) error {
	heads := make(chan chain.HeadEvent, 16)
	hsub := m.cfg.Chain.SubscribeHeads(heads)
	defer hsub.Unsubscribe()
	// New transactions are only a hint to rebuild: a forwarder drains the
	// pool's feed at once, so senders never wait on the miner, and
	// collapses bursts into one signal.
	txs := make(chan txpool.NewTxsEvent, 16)
	tsub := m.cfg.Pool.SubscribeNewTxs(txs)
	defer tsub.Unsubscribe()
	hint := make(chan struct{}, 1)
	fwdCtx, fwdStop := context.WithCancel(ctx)
	defer fwdStop()
	go func() {
		for {
			select {
			case <-txs:
				select {
				case hint <- struct{}{}:
				default:
				}
			case <-fwdCtx.Done():
				return
			}
		}
	}()

	var (
		cancel   context.CancelFunc
		sealing  sync.WaitGroup
		debounce = time.NewTimer(time.Hour)
		retry    = time.NewTimer(time.Hour)
		pending  bool // a rebuild for new transactions is scheduled
	)
	debounce.Stop()
	retry.Stop()
	rejected := make(chan struct{}, 1)
	stop := func() {
		if cancel != nil {
			cancel()
			sealing.Wait()
			cancel = nil
		}
	}
	defer stop()
	start := func() {
		stop()
		// A child's timestamp is at least its parent's + 1 and at most 15 s
		// ahead of the clock: when the head has run that far ahead (blocks
		// found faster than one a second), wait for the clock.
		head := m.cfg.Chain.CurrentBlock().Header()
		earliest := time.Unix(int64(head.Time)+1-(params.MaxFutureBlockTime-1), 0)
		if wait := earliest.Sub(m.cfg.Now()); wait > 0 {
			retry.Reset(wait)
			return
		}
		tmpl, err := m.buildTemplate()
		if err != nil {
			m.log.Error("Cannot build a block template", "err", err)
			return
		}
		var sctx context.Context
		sctx, cancel = context.WithCancel(ctx)
		sealing.Add(1)
		go func() {
			defer sealing.Done()
			if !m.seal(sctx, tmpl) {
				select {
				case rejected <- struct{}{}:
				default:
				}
			}
		}()
	}
	start()
	for {
		select {
		case <-heads:
			// Drain a burst of heads (a sync) before rebuilding once.
			for len(heads) > 0 {
				<-heads
			}
			pending = false
			debounce.Stop()
			start()
		case <-hint:
			if !pending {
				pending = true
				debounce.Reset(m.cfg.Debounce)
			}
		case <-debounce.C:
			pending = false
			start()
		case <-rejected:
			retry.Reset(time.Second)
		case <-retry.C:
			start()
		case err := <-hsub.Err():
			return err
		case err := <-tsub.Err():
			return err
		case <-ctx.Done():
			return nil
		}
	}
}

type template struct {
	block *types.Block
	txs   int
}

// buildTemplate assembles a block on the current head from the pool.
func (m *Miner) buildTemplate() (*template, error) {
	parent := m.cfg.Chain.CurrentBlock().Header()
	st, err := m.cfg.Chain.StateAt(parent.Root)
	if err != nil {
		return nil, err
	}
	diff, err := m.cfg.Chain.NextDifficulty(parent)
	if err != nil {
		return nil, err
	}
	header := m.nextHeader(parent, diff)
	b := m.cfg.Chain.Processor().NewBuilder(header, st, m.cfg.Chain)
	fill(b, m.cfg.Pool.Pending(header.BaseFee), header.BaseFee, m.log)
	block, _ := b.Finish()
	return &template{block: block, txs: len(block.Transactions())}, nil
}

func (m *Miner) nextHeader(parent *types.Header, difficulty *big.Int) *types.Header {
	t := uint64(m.cfg.Now().Unix())
	if t <= parent.Time {
		t = parent.Time + 1
	}
	return execution.ChildHeader(m.cfg.Chain.Config(), parent, execution.ChildOptions{
		Coinbase:   m.cfg.Coinbase,
		Time:       t,
		Difficulty: difficulty,
		GasLimit:   core.CalcGasLimit(parent.GasLimit, m.cfg.GasCeil),
		Extra:      m.cfg.Extra,
	})
}

// fill adds pending transactions to b, best effective tip first, each
// account in nonce order. An account whose transaction fails is skipped
// for the rest of the block.
func fill(b *execution.Builder, pending map[common.Address][]*types.Transaction, baseFee *big.Int, log *slog.Logger) {
	h := &priceHeap{baseFee: baseFee}
	for from, txs := range pending {
		h.items = append(h.items, &account{from: from, txs: txs})
	}
	heap.Init(h)
	for h.Len() > 0 {
		if b.GasLeft() < gparams.TxGas {
			return
		}
		acc := h.items[0]
		tx := acc.txs[0]
		_, err := b.Add(tx)
		switch {
		case err == nil:
			acc.txs = acc.txs[1:]
			if len(acc.txs) == 0 {
				heap.Pop(h)
			} else {
				heap.Fix(h, 0)
			}
		default:
			if !errors.Is(err, execution.ErrBlockFull) {
				log.Debug("Skipping transaction", "hash", tx.Hash(), "from", acc.from, "err", err)
			}
			heap.Pop(h)
		}
	}
}

type account struct {
	from common.Address
	txs  []*types.Transaction
}

// priceHeap orders accounts by the effective tip of their next
// transaction, highest first; ties by address, for determinism.
type priceHeap struct {
	baseFee *big.Int
	items   []*account
}

func (h *priceHeap) Len() int { return len(h.items) }
func (h *priceHeap) Less(i, j int) bool {
	a, b := h.items[i].txs[0].EffectiveGasTipValue(h.baseFee), h.items[j].txs[0].EffectiveGasTipValue(h.baseFee)
	if c := a.Cmp(b); c != 0 {
		return c > 0
	}
	return h.items[i].from.Cmp(h.items[j].from) < 0
}
func (h *priceHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *priceHeap) Push(x any)    { h.items = append(h.items, x.(*account)) }
func (h *priceHeap) Pop() any {
	last := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return last
}

// seal searches a nonce for tmpl and inserts the sealed block. It returns
// false when the chain rejected the block (the loop retries later).
func (m *Miner) seal(ctx context.Context, tmpl *template) bool {
	var seed [8]byte
	if _, err := rand.Read(seed[:]); err != nil {
		m.log.Error("No randomness for the nonce start", "err", err)
	}
	start := time.Now()
	sealed, err := m.sealer.Seal(ctx, tmpl.block.Header(), binary.BigEndian.Uint64(seed[:]))
	if err != nil {
		return true // aborted: a new head or new transactions
	}
	block := tmpl.block.WithSeal(sealed)
	status, err := m.cfg.Chain.InsertBlock(block)
	if err != nil {
		m.log.Error("Mined block rejected", "number", block.NumberU64(), "err", err)
		return false
	}
	m.mined.Add(1)
	if m.cfg.Broadcast != nil {
		m.cfg.Broadcast(block)
	}
	m.log.Info("Mined block", "number", block.NumberU64(), "hash", block.Hash(), "txs", tmpl.txs,
		"gas", block.GasUsed(), "difficulty", block.Difficulty(), "status", status, "sealed", time.Since(start).Round(time.Millisecond))
	return true
}
