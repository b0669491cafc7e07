package chain

import (
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethdb"

	"github.com/peerchain/peerchain/internal/chaindb"
	"github.com/peerchain/peerchain/internal/execution"
	"github.com/peerchain/peerchain/internal/params"
)

// maxEagerSideDepth bounds how far past its fork point a lighter side
// branch is executed as its blocks arrive. Deeper side branches are stored
// with header and body checked and executed only when they become the
// heaviest: executing them would push their state into the persisted layer
// underneath the canonical chain's memory layers.
const maxEagerSideDepth = params.StateRetention / 2

// InsertStatus says what InsertBlock did with a valid block.
type InsertStatus int

// Insert outcomes.
const (
	// StatusHead: the block became the head (its branch is the heaviest).
	StatusHead InsertStatus = iota
	// StatusSide: the block was stored on a lighter branch.
	StatusSide
)

func (s InsertStatus) String() string {
	if s == StatusHead {
		return "head"
	}
	return "side"
}

// InsertBlock validates block fully and stores it; see the package comment.
// It returns ErrKnownBlock, ErrUnknownParent (wrapped), a *RuleError for an
// invalid block, or another error for a storage failure.
func (c *Chain) InsertBlock(block *types.Block) (InsertStatus, error) {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return 0, ErrClosed
	}
	start := time.Now()
	c.mu.timing = insertTiming{}
	status, ev, err := c.insertLocked(block)
	stats := c.insertStats(block, start, c.mu.timing, status, ev, err)
	if ev == nil {
		c.mu.Unlock()
	} else {
		c.sendMu.Lock()
		c.mu.Unlock()
		c.heads.Send(*ev)
		c.sendMu.Unlock()
	}
	if c.cfg.OnInsert != nil {
		c.cfg.OnInsert(stats)
	}
	return status, err
}

// IsBad returns the rule error of a block known to be invalid.
func (c *Chain) IsBad(hash common.Hash) (*RuleError, bool) {
	return c.bad.Get(hash)
}

func (c *Chain) markBad(err *RuleError) {
	if err.Permanent() {
		c.bad.Add(err.Hash, err)
	}
}

func (c *Chain) insertLocked(block *types.Block) (InsertStatus, *HeadEvent, error) {
	hash, num := block.Hash(), block.NumberU64()
	if re, ok := c.bad.Get(hash); ok {
		return 0, nil, re
	}
	if c.HasBlock(hash, num) {
		return 0, nil, ErrKnownBlock
	}
	if num == 0 {
		return 0, nil, ruleErr(RuleNumber, 0, hash, "block 0 is not this chain's genesis %s", c.genesis.Hash())
	}
	if re, ok := c.bad.Get(block.ParentHash()); ok {
		err := ruleErr(RuleBadAncestor, num, hash, "parent is invalid: %v", re)
		c.markBad(err)
		return 0, nil, err
	}
	parent := c.GetHeader(block.ParentHash(), num-1)
	if parent == nil {
		return 0, nil, fmt.Errorf("%w %s of block %d (%s)", ErrUnknownParent, block.ParentHash(), num, hash)
	}
	pmeta, err := c.getMeta(parent.Hash(), num-1)
	if err != nil {
		return 0, nil, fmt.Errorf("parent meta: %w", err)
	}
	header := block.Header()
	vstart := time.Now()
	if re := c.val.VerifyHeader(header, parent, pmeta.AnchorTime, c); re != nil {
		c.markBad(re)
		return 0, nil, re
	}
	if re := c.val.VerifyBody(block); re != nil {
		// The header passed, so a body that does not match it must not
		// condemn the hash: anyone could pair a fresh block's header with
		// a wrong body and so blacklist the genuine block.
		if !re.BodyMismatch() {
			c.markBad(re)
		}
		return 0, nil, re
	}
	c.mu.timing.validation = time.Since(vstart)
	meta := &chaindb.BlockMeta{
		TD:         new(big.Int).Add(pmeta.TD, header.Difficulty),
		AnchorTime: ChildAnchor(pmeta.AnchorTime, num-1, header.Time),
	}
	if meta.TD.Cmp(c.head.Load().td) > 0 {
		ev, err := c.setHead(block, meta)
		if err != nil {
			return 0, nil, err
		}
		return StatusHead, ev, nil
	}
	// A lighter branch: keep the block, executing it now when its parent's
	// state is at hand so it is fully validated before anyone builds on it.
	batch := c.db.NewBatch()
	defer batch.Close()
	if pmeta.Executed && c.HasState(parent.Root) && c.sideDepth(parent) < maxEagerSideDepth {
		res, err := c.execute(block, parent)
		if err != nil {
			return 0, nil, err
		}
		meta.Executed = true
		if err := chaindb.WriteReceipts(batch, hash, num, res.Receipts); err != nil {
			return 0, nil, err
		}
		if err := c.writeAddrIndex(batch, block, res); err != nil {
			return 0, nil, err
		}
	}
	if err := chaindb.WriteBlock(batch, block); err != nil {
		return 0, nil, err
	}
	if err := chaindb.WriteBlockMeta(batch, hash, num, meta); err != nil {
		return 0, nil, err
	}
	if err := c.writeBatch(batch, false); err != nil {
		return 0, nil, err
	}
	c.metas.Add(hash, meta)
	c.log.Debug("Stored side block", "number", num, "hash", hash, "td", meta.TD, "executed", meta.Executed)
	return StatusSide, nil, nil
}

// sideDepth counts the non-canonical ancestors of h, h included, stopping
// at maxEagerSideDepth.
func (c *Chain) sideDepth(h *types.Header) int {
	depth := 0
	for depth < maxEagerSideDepth && !c.IsCanonical(h) {
		depth++
		h = c.GetHeader(h.ParentHash, h.Number.Uint64()-1)
		if h == nil {
			break
		}
	}
	return depth
}

// execute runs block on parent's state, checks the execution results
// against the header and commits the new state as a memory layer.
func (c *Chain) execute(block *types.Block, parent *types.Header) (*execution.Result, error) {
	defer c.timeExecution(time.Now())
	statedb, err := c.liveStateAt(parent.Root)
	if err != nil {
		return nil, err
	}
	num, hash := block.NumberU64(), block.Hash()
	res, err := c.proc.Process(block, statedb, c)
	if err != nil {
		re := &RuleError{Rule: RuleTransaction, Number: num, Hash: hash, Err: err}
		c.markBad(re)
		return nil, re
	}
	h := block.Header()
	var re *RuleError
	switch {
	case res.GasUsed != h.GasUsed:
		re = ruleErr(RuleGasUsed, num, hash, "header gas used %d, execution used %d", h.GasUsed, res.GasUsed)
	case res.ReceiptHash != h.ReceiptHash:
		re = ruleErr(RuleReceiptRoot, num, hash, "header receipts root %s, execution gives %s", h.ReceiptHash, res.ReceiptHash)
	case res.Bloom != h.Bloom:
		re = ruleErr(RuleBloom, num, hash, "header logs bloom differs from the receipts' bloom")
	case res.Root != h.Root:
		re = ruleErr(RuleStateRoot, num, hash, "header state root %s, execution gives %s", h.Root, res.Root)
	}
	if re != nil {
		c.markBad(re)
		return nil, re
	}
	if _, err := statedb.Commit(c.proc.Rules(h), num); err != nil {
		return nil, fmt.Errorf("commit state of block %d: %w", num, err)
	}
	return res, nil
}

// setHead makes block (not yet stored, header and body verified) the head,
// executing it and any stored blocks of its branch that have not run or
// whose state is gone, and switching the canonical chain in one batch.
func (c *Chain) setHead(block *types.Block, meta *chaindb.BlockMeta) (*HeadEvent, error) {
	start := time.Now()
	old := c.head.Load()
	// The new branch, newest first, down to the canonical ancestor.
	branch := []*types.Block{block}
	anc := c.GetHeader(block.ParentHash(), block.NumberU64()-1)
	for !c.IsCanonical(anc) {
		b := c.GetBlock(anc.Hash(), anc.Number.Uint64())
		if b == nil {
			return nil, fmt.Errorf("branch block %d (%s) missing", anc.Number, anc.Hash())
		}
		branch = append(branch, b)
		anc = c.GetHeader(anc.ParentHash, anc.Number.Uint64()-1)
		if anc == nil {
			return nil, fmt.Errorf("branch of block %d leaves the stored tree", block.NumberU64())
		}
	}
	// Find where execution must start: after the newest branch block whose
	// state is readable.
	from := len(branch) // index into branch of the first block to run
	for i := 1; i < len(branch); i++ {
		if m, err := c.getMeta(branch[i].Hash(), branch[i].NumberU64()); err == nil && m.Executed && c.HasState(branch[i].Root()) {
			from = i
			break
		}
	}
	if from == len(branch) {
		if err := c.ensureState(anc); err != nil {
			return nil, err
		}
	}
	batch := c.db.NewBatch()
	defer batch.Close()
	for i := from - 1; i >= 0; i-- {
		b := branch[i]
		parent := anc
		if i+1 < len(branch) {
			parent = branch[i+1].Header()
		}
		res, err := c.execute(b, parent)
		if err != nil {
			if re, ok := asRuleError(err); ok {
				// Everything built on the bad block is bad too.
				for j := i - 1; j >= 0; j-- {
					c.markBad(ruleErr(RuleBadAncestor, branch[j].NumberU64(), branch[j].Hash(), "ancestor %d is invalid: %v", b.NumberU64(), re))
				}
				if serr := c.ensureState(old.block.Header()); serr != nil {
					return nil, errors.Join(err, fmt.Errorf("restore head state: %w", serr))
				}
			}
			return nil, err
		}
		if err := chaindb.WriteReceipts(batch, b.Hash(), b.NumberU64(), res.Receipts); err != nil {
			return nil, err
		}
		if err := c.writeAddrIndex(batch, b, res); err != nil {
			return nil, err
		}
		if i > 0 {
			m, err := c.getMeta(b.Hash(), b.NumberU64())
			if err != nil {
				return nil, err
			}
			done := *m
			done.Executed = true
			if err := chaindb.WriteBlockMeta(batch, b.Hash(), b.NumberU64(), &done); err != nil {
				return nil, err
			}
			c.metas.Add(b.Hash(), &done)
		}
	}
	meta.Executed = true
	if err := chaindb.WriteBlock(batch, block); err != nil {
		return nil, err
	}
	if err := chaindb.WriteBlockMeta(batch, block.Hash(), block.NumberU64(), meta); err != nil {
		return nil, err
	}
	// Leave the old branch: newest first.
	var removed []*types.Block
	for b := old.block; b.NumberU64() > anc.Number.Uint64(); {
		removed = append(removed, b)
		if err := chaindb.DeleteTxLocations(batch, b); err != nil {
			return nil, err
		}
		if b.NumberU64() > block.NumberU64() {
			if err := chaindb.DeleteCanonicalHash(batch, b.NumberU64()); err != nil {
				return nil, err
			}
		}
		if b = c.GetBlock(b.ParentHash(), b.NumberU64()-1); b == nil {
			return nil, fmt.Errorf("canonical block %d missing", len(removed))
		}
	}
	added := make([]*types.Block, 0, len(branch))
	for i := len(branch) - 1; i >= 0; i-- {
		b := branch[i]
		added = append(added, b)
		if err := chaindb.WriteCanonicalHash(batch, b.NumberU64(), b.Hash()); err != nil {
			return nil, err
		}
		if err := chaindb.WriteTxLocations(batch, b); err != nil {
			return nil, err
		}
	}
	if err := journalPoolChanges(batch, added, removed); err != nil {
		return nil, err
	}
	if err := chaindb.WriteHead(batch, block.Hash()); err != nil {
		return nil, err
	}
	if err := c.writeBatch(batch, true); err != nil {
		return nil, err
	}
	c.metas.Add(block.Hash(), meta)
	c.headers.Add(block.Hash(), block.Header())
	c.head.Store(&head{block: block, td: new(big.Int).Set(meta.TD)})
	c.maybeFlushLocked(block)
	if len(removed) > 0 {
		c.log.Warn("Chain reorganised", "depth", len(removed), "ancestor", anc.Number, "oldhead", old.block.NumberU64(),
			"newhead", block.NumberU64(), "dropped", len(removed), "added", len(added))
	}
	c.log.Debug("New head", "number", block.NumberU64(), "hash", block.Hash(), "txs", len(block.Transactions()),
		"gas", block.GasUsed(), "took", time.Since(start))
	return &HeadEvent{Block: block, TD: new(big.Int).Set(meta.TD), Added: added, Removed: removed}, nil
}

// maybeFlushLocked writes the whole state to disk when FlushInterval blocks
// have passed since the last flush. The memory layers go with it: a later
// shallow reorg rolls the disk state back instead of switching layers.
func (c *Chain) maybeFlushLocked(block *types.Block) {
	n := block.NumberU64()
	if c.cfg.FlushInterval < 0 || n < c.mu.lastFlush+uint64(c.cfg.FlushInterval) {
		return
	}
	start := time.Now()
	if err := c.triedb.Commit(block.Root(), false); err != nil {
		c.log.Error("State flush failed", "number", n, "err", err)
		return
	}
	c.mu.lastFlush = n
	c.log.Debug("State flushed to disk", "number", n, "took", time.Since(start))
}

// ensureState makes the post-state of target readable: it walks back to the
// nearest ancestor whose state is in memory or can be restored from the
// persisted state's history, then re-runs the blocks above it. Every block
// re-run is fully validated.
func (c *Chain) ensureState(target *types.Header) error {
	var path []*types.Header // newest first: blocks to re-run
	h := target
	for !c.HasState(h.Root) {
		ok, err := c.triedb.Recoverable(h.Root)
		if err != nil {
			return fmt.Errorf("check state history: %w", err)
		}
		if ok {
			c.log.Info("Rolling persisted state back", "to", h.Number, "root", h.Root)
			if err := c.markHistoryStale(); err != nil {
				return err
			}
			if err := c.triedb.Recover(h.Root); err != nil {
				return fmt.Errorf("roll state back to block %d: %w", h.Number, err)
			}
			break
		}
		if h.Number.Sign() == 0 {
			return fmt.Errorf("%w: no ancestor of block %d has state on disk or in history", ErrStateUnavailable, target.Number)
		}
		path = append(path, h)
		if h = c.GetHeader(h.ParentHash, h.Number.Uint64()-1); h == nil {
			return fmt.Errorf("ancestor of block %d missing", target.Number)
		}
	}
	if len(path) == 0 {
		return nil
	}
	batch := c.db.NewBatch()
	defer batch.Close()
	last := time.Now()
	for i := len(path) - 1; i >= 0; i-- {
		hd := path[i]
		block := c.GetBlock(hd.Hash(), hd.Number.Uint64())
		if block == nil {
			return fmt.Errorf("block %d (%s) missing", hd.Number, hd.Hash())
		}
		res, err := c.execute(block, h)
		if err != nil {
			return fmt.Errorf("re-execute block %d: %w", hd.Number, err)
		}
		m, err := c.getMeta(hd.Hash(), hd.Number.Uint64())
		if err != nil {
			return err
		}
		if !m.Executed {
			done := *m
			done.Executed = true
			if err := chaindb.WriteReceipts(batch, hd.Hash(), hd.Number.Uint64(), res.Receipts); err != nil {
				return err
			}
			if err := c.writeAddrIndex(batch, block, res); err != nil {
				return err
			}
			if err := chaindb.WriteBlockMeta(batch, hd.Hash(), hd.Number.Uint64(), &done); err != nil {
				return err
			}
			c.metas.Add(hd.Hash(), &done)
		}
		h = hd
		c.reexecuted.Add(1)
		if time.Since(last) > 8*time.Second {
			c.log.Info("Re-executing blocks", "at", hd.Number, "target", target.Number)
			last = time.Now()
		}
	}
	return c.writeBatch(batch, false)
}

// journalPoolChanges keeps the pool journal (acknowledged transactions not
// on the canonical chain) in step with the canonical chain, in the same
// batch: transactions of blocks that became canonical leave it, those of
// dropped blocks that the new branch does not hold come back. A crash can
// then never lose an acknowledged transaction to a reorg.
func journalPoolChanges(batch ethdb.KeyValueWriter, added, removed []*types.Block) error {
	included := make(map[common.Hash]bool)
	for _, b := range added {
		for _, tx := range b.Transactions() {
			included[tx.Hash()] = true
			if err := chaindb.DeletePoolTx(batch, tx.Hash()); err != nil {
				return err
			}
		}
	}
	for _, b := range removed {
		for _, tx := range b.Transactions() {
			if included[tx.Hash()] {
				continue
			}
			if err := chaindb.WritePoolTx(batch, tx); err != nil {
				return err
			}
		}
	}
	return nil
}
