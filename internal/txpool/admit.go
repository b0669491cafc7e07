package txpool

import (
	"fmt"
	"math/big"
	"runtime"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	gparams "github.com/ethereum/go-ethereum/params"
	"github.com/holiman/uint256"
)

// Admission runs in three steps. Outside the lock, in parallel (across a
// call's transactions, and across callers since each runs in its own
// goroutine): the stateless rules, sender recovery and the rules of the
// head (block gas limit, intrinsic gas, fee cap against the base fee),
// against the head as it was read. Under the lock, only what needs the
// pool and the state: known, nonce, funds, replacement, limits, insert
// (the head rules again only if the head moved meanwhile). Then, for this
// peer's own users, the journal: the accepted transactions join the open
// group of the committer, and the caller waits for the one synced write
// that holds them.

// headView is the head as admission reads it outside the lock.
type headView struct {
	header  *types.Header
	baseFee *big.Int // of the next block
	rules   gparams.Rules
}

// candidate is what admission learns of a transaction outside the lock.
type candidate struct {
	from    common.Address
	cost    *big.Int
	view    *headView
	headErr error // the head rules' verdict at view
}

// Add validates and adds transactions submitted by this peer's users; each
// one accepted is journaled durably before Add returns. The result holds
// one error (or nil) per transaction.
func (p *Pool) Add(txs []*types.Transaction) []error {
	return p.Submit(txs).Wait()
}

// Submit admits txs as Add does but returns before the accepted ones are
// durable: Ack.Wait returns once they are, and nothing may acknowledge
// them before. It lets a caller that holds a scarce slot (an RPC request
// slot) give it back while it waits for the disk. Every Ack must be
// waited for.
func (p *Pool) Submit(txs []*types.Transaction) *Ack {
	res := p.admit(txs, true)
	ack := &Ack{pool: p, errs: res.errs, promoted: res.promoted}
	if p.commit != nil && len(res.accepted) > 0 {
		ack.journaled = res.accepted
		accepted := make([]*types.Transaction, len(res.accepted))
		for i, idx := range res.accepted {
			accepted[i] = txs[idx]
		}
		ack.group = p.commit.queue(accepted)
	}
	return ack
}

// Ack is the outcome of Submit.
type Ack struct {
	pool      *Pool
	errs      []error
	journaled []int // indexes of the transactions in group
	group     *commitGroup
	promoted  []*types.Transaction
}

// Wait returns once the accepted transactions are durable, with one error
// (or nil) per transaction; then the pool announces those that became
// executable.
func (a *Ack) Wait() []error {
	if a.group != nil {
		if err := a.pool.commit.wait(a.group); err != nil {
			for _, i := range a.journaled {
				a.errs[i] = fmt.Errorf("journal transaction: %w", err)
			}
		}
		a.group = nil
	}
	if len(a.promoted) > 0 {
		a.pool.feed.Send(NewTxsEvent{Txs: a.promoted})
		a.promoted = nil
	}
	return a.errs
}

// AddRemote adds transactions heard from other peers (not journaled).
func (p *Pool) AddRemote(txs []*types.Transaction) []error {
	return p.addUnjournaled(txs, false)
}

// addUnjournaled admits txs and announces those that became executable,
// without writing the journal: remote ones, and local ones that are in it
// already (loaded from it, or re-injected after a reorg whose batch the
// chain journaled them in).
func (p *Pool) addUnjournaled(txs []*types.Transaction, local bool) []error {
	res := p.admit(txs, local)
	if len(res.promoted) > 0 {
		p.feed.Send(NewTxsEvent{Txs: res.promoted})
	}
	return res.errs
}

type admitted struct {
	errs     []error
	accepted []int                // indexes of the transactions still pooled at the end
	promoted []*types.Transaction // what became executable
}

// admit validates and inserts txs, without the journal and without
// announcing them.
func (p *Pool) admit(txs []*types.Transaction, local bool) admitted {
	errs := make([]error, len(txs))
	cands := make([]candidate, len(txs))
	view := p.view.Load()
	forEach(len(txs), func(i int) {
		tx := txs[i]
		if err := p.checkStateless(tx); err != nil {
			errs[i] = err
			return
		}
		from, err := types.Sender(p.signer, tx)
		if err != nil {
			errs[i] = fmt.Errorf("%w: %v", ErrInvalidSender, err)
			return
		}
		cands[i] = candidate{from: from, cost: tx.Cost(), view: view, headErr: p.checkHead(tx, from, view)}
	})
	var (
		res       = admitted{errs: errs}
		displaced []common.Hash
	)
	p.mu.Lock()
	now := p.cfg.Now()
	for i, tx := range txs {
		if errs[i] != nil {
			continue
		}
		c := &cands[i]
		if cur := p.view.Load(); cur != c.view {
			c.view, c.headErr = cur, p.checkHead(tx, c.from, cur)
		}
		var dropped []common.Hash
		dropped, errs[i] = p.addLocked(tx, c, now, local)
		if errs[i] != nil {
			continue
		}
		displaced = append(displaced, dropped...)
		res.promoted = append(res.promoted, p.executableFromLocked(c.from, tx.Nonce())...)
	}
	for i, tx := range txs {
		// One of this call's may have displaced another of its own.
		if errs[i] == nil && p.mu.all[tx.Hash()] != nil {
			res.accepted = append(res.accepted, i)
		}
	}
	p.mu.Unlock()
	p.deleteJournal(displaced)
	return res
}

// checkHead applies the rules that depend on the head only: the block gas
// limit, intrinsic gas (and the calldata floor) under the next block's
// rules, and the fee cap against the next base fee.
func (p *Pool) checkHead(tx *types.Transaction, from common.Address, v *headView) error {
	if tx.Gas() > v.header.GasLimit {
		return fmt.Errorf("%w: transaction gas %d, block gas limit %d", ErrGasLimit, tx.Gas(), v.header.GasLimit)
	}
	if err := p.checkIntrinsic(tx, from, v.rules); err != nil {
		return err
	}
	if tx.GasFeeCapIntCmp(v.baseFee) < 0 {
		return fmt.Errorf("%w: address %v, maxFeePerGas: %v, baseFee: %v", core.ErrFeeCapTooLow, from, tx.GasFeeCap(), v.baseFee)
	}
	return nil
}

// checkStateless applies the rules that need no state.
func (p *Pool) checkStateless(tx *types.Transaction) error {
	switch tx.Type() {
	case types.LegacyTxType, types.AccessListTxType, types.DynamicFeeTxType, types.SetCodeTxType:
	case types.BlobTxType:
		return fmt.Errorf("%w: blob transactions (type 3) are not supported on peerchain", ErrTxTypeNotSupported)
	default:
		return fmt.Errorf("%w: type %d", ErrTxTypeNotSupported, tx.Type())
	}
	if size := tx.Size(); size > p.cfg.MaxTxSize {
		return fmt.Errorf("%w: transaction size %d, limit %d", ErrOversizedData, size, p.cfg.MaxTxSize)
	}
	if tx.Gas() > gparams.MaxTxGas {
		return fmt.Errorf("%w (cap: %d, tx: %d)", core.ErrGasLimitTooHigh, gparams.MaxTxGas, tx.Gas())
	}
	if tx.GasFeeCap().BitLen() > 256 {
		return core.ErrFeeCapVeryHigh
	}
	if tx.GasTipCap().BitLen() > 256 {
		return core.ErrTipVeryHigh
	}
	if tx.GasFeeCapIntCmp(tx.GasTipCap()) < 0 {
		return fmt.Errorf("%w: maxPriorityFeePerGas %v, maxFeePerGas %v", core.ErrTipAboveFeeCap, tx.GasTipCap(), tx.GasFeeCap())
	}
	if tx.Protected() && tx.ChainId().Cmp(p.config.ChainID) != 0 {
		return fmt.Errorf("%w: transaction chain id %v, this chain is %v", ErrInvalidSender, tx.ChainId(), p.config.ChainID)
	}
	if tx.Type() == types.SetCodeTxType {
		if len(tx.SetCodeAuthorizations()) == 0 {
			return core.ErrEmptyAuthList
		}
		if tx.To() == nil {
			return core.ErrSetCodeTxCreate
		}
	}
	if tx.GasTipCapIntCmp(p.cfg.MinTip) < 0 {
		return fmt.Errorf("%w: gas tip cap %v, minimum needed %v", ErrTipBelowMinimum, tx.GasTipCap(), p.cfg.MinTip)
	}
	return nil
}

// checkIntrinsic checks the gas covers the intrinsic and floor data costs.
func (p *Pool) checkIntrinsic(tx *types.Transaction, from common.Address, rules gparams.Rules) error {
	value := uint256.MustFromBig(tx.Value())
	intr, err := core.IntrinsicGas(tx.Data(), tx.AccessList(), tx.SetCodeAuthorizations(), from, tx.To(), value, rules)
	if err != nil {
		return err
	}
	if tx.Gas() < intr {
		return fmt.Errorf("%w: gas %v, minimum needed %v", core.ErrIntrinsicGas, tx.Gas(), intr)
	}
	if rules.IsPrague {
		floor, err := core.FloorDataGas(rules, from, tx.To(), value, tx.Data(), tx.AccessList())
		if err != nil {
			return err
		}
		if tx.Gas() < floor {
			return fmt.Errorf("%w: gas %v, minimum needed %v", core.ErrFloorDataGas, tx.Gas(), floor)
		}
	}
	return nil
}

// forEach runs f(0..n-1) on every core when n is large enough to pay for
// the goroutines.
func forEach(n int, f func(int)) {
	if n < 8 {
		for i := range n {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	workers := min(n/4, runtime.GOMAXPROCS(0))
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				f(i)
			}
		}()
	}
	wg.Wait()
}
