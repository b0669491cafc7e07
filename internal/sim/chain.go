package sim

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	gosync "sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/event"
	gparams "github.com/ethereum/go-ethereum/params"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/params"
	"github.com/peerchain/peerchain/internal/pow"
)

// Costs are the CPU times a real peer spends, charged as virtual sleeps
// (virtual time makes CPU work free otherwise).
type Costs struct {
	// Header is one header's checks (PoW, difficulty, median time, base
	// fee): BenchmarkHeaderVerification, 147,288 headers/s (6.8 µs), run 3
	// of bench/README.md (2 December 2026).
	Header time.Duration
	// BodyPerTx is the body check (transactions root) per transaction:
	// "body rules (transactions root) ≈ 2 ms" per 1,000-transfer block in
	// bench/README.md's import profile.
	BodyPerTx time.Duration
	// ImportPerTx is block import per transaction (sender recovery,
	// execution, state root, commit, synced write): BenchmarkBlockImport
	// after issues 13 and 14, 13,345 transfers/s on the 2-core bench
	// machine (the slower of the two runs at HEAD, bench/README.md).
	ImportPerTx time.Duration
}

// DefaultCosts are the figures of bench/README.md named in Costs.
func DefaultCosts() Costs {
	return Costs{
		Header:      time.Second / 147_288,
		BodyPerTx:   2 * time.Microsecond,
		ImportPerTx: time.Second / 13_345,
	}
}

// Chain is a peer's block tree in memory: sync.Chain with real header and
// body rules (chain.Validator: proof of work, difficulty, timestamps, base
// fee, transactions root) and no execution, whose cost is charged instead.
// Blocks are shared between peers through the Fixture's store, so a
// thousand peers hold one copy of each block.
type Chain struct {
	fx    *Fixture
	store *blockStore
	peer  int
	rec   *recorder
	// cpu serialises charged work: a peer imports one block at a time. A
	// channel, not a mutex: a goroutine waiting on a mutex is not durably
	// blocked, so synctest would not advance the clock for the holder's
	// charged sleep.
	cpu  chan struct{}
	feed event.Feed

	mu struct {
		gosync.Mutex
		blocks map[common.Hash]*types.Block
		td     map[common.Hash]*big.Int
		anchor map[common.Hash]uint64
		// times are each block's timestamp and its ancestors', oldest
		// first, up to the median-time span: what a header run needs.
		times map[common.Hash][]uint64
		canon []common.Hash // by number
		head  *types.Block
	}
}

func newChain(fx *Fixture, store *blockStore, peer int, rec *recorder) *Chain {
	c := &Chain{fx: fx, store: store, peer: peer, rec: rec, cpu: make(chan struct{}, 1)}
	g := fx.genesis.Block()
	c.mu.blocks = map[common.Hash]*types.Block{g.Hash(): g}
	c.mu.td = map[common.Hash]*big.Int{g.Hash(): new(big.Int).Set(g.Difficulty())}
	c.mu.anchor = map[common.Hash]uint64{g.Hash(): 0}
	c.mu.times = map[common.Hash][]uint64{g.Hash(): {g.Time()}}
	c.mu.canon = []common.Hash{g.Hash()}
	c.mu.head = g
	return c
}

func charge(d time.Duration) {
	if d > 0 {
		time.Sleep(d)
	}
}

// CurrentBlock is the head.
func (c *Chain) CurrentBlock() *types.Block {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.head
}

// CurrentHeader is the head's header.
func (c *Chain) CurrentHeader() *types.Header { return c.CurrentBlock().Header() }

// CurrentTD is the head's total difficulty.
func (c *Chain) CurrentTD() *big.Int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return new(big.Int).Set(c.mu.td[c.mu.head.Hash()])
}

// Genesis is block 0.
func (c *Chain) Genesis() *types.Block { return c.fx.genesis.Block() }

// Config is the chain configuration.
func (c *Chain) Config() *gparams.ChainConfig { return c.fx.genesis.Config() }

// GetHeaderByNumber returns the canonical header at number, or nil.
func (c *Chain) GetHeaderByNumber(number uint64) *types.Header {
	c.mu.Lock()
	defer c.mu.Unlock()
	if number >= uint64(len(c.mu.canon)) {
		return nil
	}
	return c.mu.blocks[c.mu.canon[number]].Header()
}

// GetHeaderByHash returns a stored header, or nil.
func (c *Chain) GetHeaderByHash(hash common.Hash) *types.Header {
	if b := c.GetBlockByHash(hash); b != nil {
		return b.Header()
	}
	return nil
}

// GetHeader is GetHeaderByHash checking the number (chain.HeaderReader).
func (c *Chain) GetHeader(hash common.Hash, number uint64) *types.Header {
	if b := c.GetBlock(hash, number); b != nil {
		return b.Header()
	}
	return nil
}

// GetCanonicalHash returns the canonical hash at number.
func (c *Chain) GetCanonicalHash(number uint64) (common.Hash, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if number >= uint64(len(c.mu.canon)) {
		return common.Hash{}, false
	}
	return c.mu.canon[number], true
}

// GetBlock returns a stored block, or nil.
func (c *Chain) GetBlock(hash common.Hash, number uint64) *types.Block {
	b := c.GetBlockByHash(hash)
	if b == nil || b.NumberU64() != number {
		return nil
	}
	return b
}

// GetBlockByHash returns a stored block, or nil.
func (c *Chain) GetBlockByHash(hash common.Hash) *types.Block {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.blocks[hash]
}

// HasBlock reports whether the block is stored.
func (c *Chain) HasBlock(hash common.Hash, number uint64) bool {
	return c.GetBlock(hash, number) != nil
}

// IsBad reports no bad blocks: the simulation has no invalid ones.
func (c *Chain) IsBad(common.Hash) (*chain.RuleError, bool) { return nil, false }

// CheckSeal checks the proof of work and the minimum difficulty, charging
// one header check.
func (c *Chain) CheckSeal(h *types.Header) error {
	charge(c.fx.costs.Header)
	if h.Difficulty == nil || h.Difficulty.Cmp(c.fx.genesis.Pow.MinimumDifficulty) < 0 {
		return &chain.RuleError{Rule: chain.RuleDifficulty, Err: fmt.Errorf("difficulty %v below the minimum %v", h.Difficulty, c.fx.genesis.Pow.MinimumDifficulty)}
	}
	if err := pow.VerifySeal(h); err != nil {
		return &chain.RuleError{Rule: chain.RulePoW, Err: err}
	}
	return nil
}

// VerifyHeader checks every header rule against the stored parent,
// charging one header check.
func (c *Chain) VerifyHeader(h *types.Header) error {
	charge(c.fx.costs.Header)
	return c.verifyHeader(h)
}

func (c *Chain) verifyHeader(h *types.Header) error {
	if h.Number == nil || h.Number.Sign() == 0 {
		return &chain.RuleError{Rule: chain.RuleNumber, Err: errors.New("block 0 is not this chain's genesis")}
	}
	num := h.Number.Uint64()
	parent := c.GetHeader(h.ParentHash, num-1)
	if parent == nil {
		return fmt.Errorf("%w %s of header %d", chain.ErrUnknownParent, h.ParentHash, num)
	}
	c.mu.Lock()
	anchor := c.mu.anchor[h.ParentHash]
	c.mu.Unlock()
	if re := c.fx.validator.VerifyHeader(h, parent, anchor, c); re != nil {
		return re
	}
	return nil
}

// VerifyBody checks the body against the header (transactions root),
// charging the body check.
func (c *Chain) VerifyBody(b *types.Block) error {
	charge(time.Duration(len(b.Transactions())) * c.fx.costs.BodyPerTx)
	if re := c.fx.validator.VerifyBody(b); re != nil {
		return re
	}
	return nil
}

// GetTD returns a stored block's total difficulty, or nil.
func (c *Chain) GetTD(hash common.Hash, number uint64) *big.Int {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.mu.blocks[hash]
	if !ok || b.NumberU64() != number {
		return nil
	}
	return new(big.Int).Set(c.mu.td[hash])
}

// NewHeaderVerifier starts a header run after a stored block.
func (c *Chain) NewHeaderVerifier(from common.Hash) (*chain.HeaderVerifier, error) {
	start := c.GetHeaderByHash(from)
	if start == nil {
		return nil, fmt.Errorf("%w %s", chain.ErrUnknownParent, from)
	}
	c.mu.Lock()
	anchor, td, times := c.mu.anchor[from], new(big.Int).Set(c.mu.td[from]), c.mu.times[from]
	c.mu.Unlock()
	return c.fx.validator.NewHeaderVerifier(start, anchor, td, times)
}

// InsertBlock checks the header and body rules, charges the import, stores
// the block and moves the head to the heaviest branch (the first seen on a
// tie), recording when this peer first had the block.
func (c *Chain) InsertBlock(b *types.Block) (chain.InsertStatus, error) {
	c.cpu <- struct{}{}
	defer func() { <-c.cpu }()
	hash := b.Hash()
	if c.HasBlock(hash, b.NumberU64()) {
		return 0, chain.ErrKnownBlock
	}
	charge(c.fx.costs.Header)
	if err := c.verifyHeader(b.Header()); err != nil {
		return 0, err
	}
	if err := c.VerifyBody(b); err != nil {
		return 0, err
	}
	charge(time.Duration(len(b.Transactions())) * c.fx.costs.ImportPerTx)
	b = c.store.intern(b)

	c.mu.Lock()
	if _, ok := c.mu.blocks[hash]; ok {
		c.mu.Unlock()
		return 0, chain.ErrKnownBlock
	}
	parent := c.mu.blocks[b.ParentHash()]
	c.mu.blocks[hash] = b
	td := new(big.Int).Add(c.mu.td[b.ParentHash()], b.Difficulty())
	c.mu.td[hash] = td
	c.mu.anchor[hash] = chain.ChildAnchor(c.mu.anchor[b.ParentHash()], parent.NumberU64(), b.Time())
	times := append(slices.Clone(c.mu.times[b.ParentHash()]), b.Time())
	c.mu.times[hash] = times[max(0, len(times)-params.MedianTimeSpan):]
	if td.Cmp(c.mu.td[c.mu.head.Hash()]) <= 0 {
		c.mu.Unlock()
		c.rec.imported(c.peer, hash)
		return chain.StatusSide, nil
	}
	ev := c.setHeadLocked(b, td)
	c.mu.Unlock()
	c.rec.imported(c.peer, hash)
	c.feed.Send(ev)
	return chain.StatusHead, nil
}

// setHeadLocked makes b the head, rewriting the canonical index from the
// fork point, and returns the head event.
func (c *Chain) setHeadLocked(b *types.Block, td *big.Int) chain.HeadEvent {
	var added, removed []*types.Block
	n := b.NumberU64()
	for x := b; ; x = c.mu.blocks[x.ParentHash()] {
		num := x.NumberU64()
		if num < uint64(len(c.mu.canon)) && c.mu.canon[num] == x.Hash() {
			break
		}
		added = append(added, x)
	}
	slices.Reverse(added)
	fork := n - uint64(len(added))
	for num := fork + 1; num < uint64(len(c.mu.canon)); num++ {
		removed = append(removed, c.mu.blocks[c.mu.canon[num]])
	}
	c.mu.canon = c.mu.canon[:fork+1]
	for _, x := range added {
		c.mu.canon = append(c.mu.canon, x.Hash())
	}
	c.mu.head = b
	return chain.HeadEvent{Block: b, TD: new(big.Int).Set(td), Added: added, Removed: removed}
}

// SubscribeHeads delivers head events.
func (c *Chain) SubscribeHeads(ch chan<- chain.HeadEvent) event.Subscription {
	return c.feed.Subscribe(ch)
}

// GetReceipts has no receipts: blocks are not executed.
func (c *Chain) GetReceipts(common.Hash, uint64) types.Receipts { return nil }

// GetTransaction has no transaction index.
func (c *Chain) GetTransaction(common.Hash) (*chain.TxLookup, bool) { return nil, false }

// errNoState answers the light-serving protocols: no state is kept.
var errNoState = errors.New("simulated chain keeps no state")

// Prove has no state to prove.
func (c *Chain) Prove(*types.Header, common.Address, []common.Hash) (*chain.AccountProof, error) {
	return nil, errNoState
}

// StateAtBlock has no state.
func (c *Chain) StateAtBlock(*types.Header) (*state.StateDB, error) { return nil, errNoState }
