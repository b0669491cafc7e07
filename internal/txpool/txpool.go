// Package txpool holds the pending transactions of a peer: it checks every
// transaction (chain id, signature, nonce, balance, intrinsic gas, fee cap
// against the base fee, size, gas caps), keeps each account's transactions
// in nonce order, replaces one only for a fee bump of at least 10%, bounds
// the pool per account and globally by evicting the cheapest, re-injects
// the transactions of blocks a reorg dropped, and hands the miner the
// executable ones. Every rejection is an error that names the value and the
// rule, with go-ethereum's messages so wallets recognise them.
//
// Accepted transactions submitted by this peer's users are journaled
// durably (synced) before Add returns, so an acknowledged transaction
// survives a crash; concurrent callers share one synced write (group
// commit, journal.go), and admission checks everything it can outside the
// pool's lock, in parallel (admit.go). The chain keeps that journal in
// step with the canonical chain in its own batches.
//
// The pool's state is guarded by one mutex; Run is the only goroutine it
// owns, following head events (the journal's writer is always one of the
// callers waiting for it). txpool imports chain, chaindb and params;
// it must not import miner, rpc, p2p, sync or node.
package txpool

import (
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/consensus/misc/eip1559"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/state"
	gtxpool "github.com/ethereum/go-ethereum/core/txpool"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/event"
	gparams "github.com/ethereum/go-ethereum/params"

	"github.com/peerchain/peerchain/internal/chain"
)

// Errors a transaction is rejected with (go-ethereum's, so clients that
// match on the text keep working).
var (
	ErrAlreadyKnown         = gtxpool.ErrAlreadyKnown
	ErrInvalidSender        = gtxpool.ErrInvalidSender
	ErrUnderpriced          = gtxpool.ErrUnderpriced
	ErrReplaceUnderpriced   = gtxpool.ErrReplaceUnderpriced
	ErrTipBelowMinimum      = gtxpool.ErrTxGasPriceTooLow
	ErrAccountLimitExceeded = gtxpool.ErrAccountLimitExceeded
	ErrGasLimit             = gtxpool.ErrGasLimit
	ErrOversizedData        = gtxpool.ErrOversizedData
	ErrTxTypeNotSupported   = core.ErrTxTypeNotSupported
)

// Chain is what the pool needs of the chain.
type Chain interface {
	CurrentBlock() *types.Block
	StateAt(root common.Hash) (*state.StateDB, error)
	SubscribeHeads(ch chan<- chain.HeadEvent) event.Subscription
	Config() *gparams.ChainConfig
}

// Config configures a Pool; zero fields take the defaults shown.
type Config struct {
	// Chain is the chain the pool follows. Required.
	Chain Chain
	// Journal keeps local transactions across restarts. Optional.
	Journal Journal
	// Logger. Default: discarded.
	Logger *slog.Logger
	// MinTip is the lowest priority fee accepted. Default 1 wei.
	MinTip *big.Int
	// PriceBump is the fee increase (percent) a replacement needs. Default 10.
	PriceBump uint64
	// AccountSlots bounds the transactions of one account (and how far
	// ahead of its nonce one may be). Default 128.
	AccountSlots int
	// GlobalSlots bounds the whole pool. Default 8192.
	GlobalSlots int
	// MaxTxSize is the largest transaction accepted, in bytes. Default 128 KiB.
	MaxTxSize uint64
	// Lifetime is how long a transaction that cannot run yet (a nonce gap,
	// too little balance) is kept. Default 3h.
	Lifetime time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c *Config) validate() error {
	if c.Chain == nil {
		return errors.New("txpool config: Chain is required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MinTip == nil {
		c.MinTip = big.NewInt(1)
	}
	if c.MinTip.Sign() < 0 {
		return fmt.Errorf("txpool config: MinTip %v is negative", c.MinTip)
	}
	if c.PriceBump == 0 {
		c.PriceBump = 10
	}
	if c.AccountSlots == 0 {
		c.AccountSlots = 128
	}
	if c.GlobalSlots == 0 {
		c.GlobalSlots = 8192
	}
	if c.AccountSlots < 1 || c.GlobalSlots < c.AccountSlots {
		return fmt.Errorf("txpool config: AccountSlots %d and GlobalSlots %d must satisfy 1 ≤ account ≤ global", c.AccountSlots, c.GlobalSlots)
	}
	if c.MaxTxSize == 0 {
		c.MaxTxSize = 128 << 10
	}
	if c.Lifetime == 0 {
		c.Lifetime = 3 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// NewTxsEvent announces transactions that became executable.
type NewTxsEvent struct{ Txs []*types.Transaction }

type entry struct {
	tx    *types.Transaction
	from  common.Address
	cost  *big.Int // tx.Cost(), computed once at admission
	added time.Time
	local bool
}

type account struct {
	txs map[uint64]*entry
}

// Pool is the transaction pool.
type Pool struct {
	cfg    Config
	log    *slog.Logger
	config *gparams.ChainConfig
	signer types.Signer
	commit *committer // nil without a journal

	// view is the head as admission reads it outside the lock; it is
	// stored under the lock, with mu.head.
	view atomic.Pointer[headView]

	mu struct {
		sync.Mutex
		head     *types.Header
		baseFee  *big.Int // of the next block
		state    *state.StateDB
		accounts map[common.Address]*account
		all      map[common.Hash]*entry
	}
	feed event.FeedOf[NewTxsEvent]
}

// New returns a pool at the chain's current head. Call Load to bring back
// journaled transactions and Run to follow the chain.
func New(cfg Config) (*Pool, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p := &Pool{
		cfg:    cfg,
		log:    cfg.Logger,
		config: cfg.Chain.Config(),
		signer: types.LatestSigner(cfg.Chain.Config()),
	}
	if cfg.Journal != nil {
		p.commit = newCommitter(cfg.Journal)
	}
	p.mu.accounts = make(map[common.Address]*account)
	p.mu.all = make(map[common.Hash]*entry)
	if err := p.setHeadLocked(cfg.Chain.CurrentBlock().Header()); err != nil {
		return nil, err
	}
	return p, nil
}

// SubscribeNewTxs delivers transactions as they become executable.
func (p *Pool) SubscribeNewTxs(ch chan<- NewTxsEvent) event.Subscription {
	return p.feed.Subscribe(ch)
}

func (p *Pool) setHeadLocked(h *types.Header) error {
	st, err := p.cfg.Chain.StateAt(h.Root)
	if err != nil {
		return fmt.Errorf("txpool: head state: %w", err)
	}
	p.mu.head = h
	p.mu.state = st
	p.mu.baseFee = eip1559.CalcBaseFee(p.config, h)
	p.view.Store(&headView{
		header:  h,
		baseFee: p.mu.baseFee,
		rules:   p.config.Rules(new(big.Int).Add(h.Number, big.NewInt(1)), true, h.Time),
	})
	return nil
}

// Load re-adds the journaled transactions; those no longer valid are
// dropped from the journal.
func (p *Pool) Load() error {
	if p.cfg.Journal == nil {
		return nil
	}
	txs, err := p.cfg.Journal.Load()
	if err != nil {
		return fmt.Errorf("load tx journal: %w", err)
	}
	var drop []common.Hash
	added := 0
	for i, err := range p.addUnjournaled(txs, true) {
		switch {
		case err == nil:
			added++
		case errors.Is(err, ErrAlreadyKnown):
		default:
			drop = append(drop, txs[i].Hash())
			p.log.Debug("Dropped journaled transaction", "hash", txs[i].Hash(), "err", err)
		}
	}
	if len(drop) > 0 {
		if err := p.cfg.Journal.Delete(drop); err != nil {
			return err
		}
	}
	p.log.Info("Loaded transaction journal", "transactions", len(txs), "kept", added, "dropped", len(drop))
	return nil
}

// addLocked applies the stateful rules and inserts tx; c holds what
// admission found outside the lock, its head rules' verdict for the
// current head. It returns the hashes of transactions it displaced
// (replaced or evicted).
func (p *Pool) addLocked(tx *types.Transaction, c *candidate, now time.Time, local bool) ([]common.Hash, error) {
	hash := tx.Hash()
	if _, ok := p.mu.all[hash]; ok {
		return nil, ErrAlreadyKnown
	}
	if c.headErr != nil {
		return nil, c.headErr
	}
	from := c.from
	next := p.mu.state.GetNonce(from)
	if tx.Nonce() < next {
		return nil, fmt.Errorf("%w: next nonce %v, tx nonce %v", core.ErrNonceTooLow, next, tx.Nonce())
	}
	if tx.Nonce() >= next+uint64(p.cfg.AccountSlots) {
		return nil, fmt.Errorf("%w: tx nonce %d is %d ahead of the account's next nonce %d, the pool keeps at most %d per account",
			ErrAccountLimitExceeded, tx.Nonce(), tx.Nonce()-next, next, p.cfg.AccountSlots)
	}
	if err := p.checkFundsLocked(tx, from, c.cost); err != nil {
		return nil, err
	}
	acc := p.mu.accounts[from]
	var displaced []common.Hash
	if acc != nil {
		if old, ok := acc.txs[tx.Nonce()]; ok {
			if err := p.checkReplacement(old.tx, tx); err != nil {
				return nil, err
			}
			p.removeLocked(from, old.tx)
			displaced = append(displaced, old.tx.Hash())
		} else if len(acc.txs) >= p.cfg.AccountSlots {
			return nil, fmt.Errorf("%w: account %s already has %d transactions in the pool", ErrAccountLimitExceeded, from, len(acc.txs))
		}
	}
	if len(p.mu.all) >= p.cfg.GlobalSlots {
		victim, vfrom := p.cheapestLocked()
		if victim == nil || p.tipAt(victim).Cmp(p.tipAt(tx)) >= 0 {
			return nil, fmt.Errorf("%w: the pool is full (%d transactions) and its cheapest pays a tip of %v wei per gas, this one %v",
				ErrUnderpriced, len(p.mu.all), p.tipAtOrNil(victim), p.tipAt(tx))
		}
		p.removeLocked(vfrom, victim)
		displaced = append(displaced, victim.Hash())
		p.log.Debug("Evicted cheapest transaction", "hash", victim.Hash(), "from", vfrom)
	}
	if acc = p.mu.accounts[from]; acc == nil {
		acc = &account{txs: make(map[uint64]*entry)}
		p.mu.accounts[from] = acc
	}
	e := &entry{tx: tx, from: from, cost: c.cost, added: now, local: local}
	acc.txs[tx.Nonce()] = e
	p.mu.all[hash] = e
	return displaced, nil
}

// checkFundsLocked requires the balance to cover tx together with what the
// account's transactions already in the pool may spend (a replacement
// counts only its increase), so one account cannot fill the pool, and
// every peer's pool by relay, with transactions it could never pay for.
// The messages are go-ethereum's.
func (p *Pool) checkFundsLocked(tx *types.Transaction, from common.Address, cost *big.Int) error {
	balance := p.mu.state.GetBalance(from).ToBig()
	if balance.Cmp(cost) < 0 {
		return fmt.Errorf("%w: balance %v, tx cost %v, overshot %v", core.ErrInsufficientFunds, balance, cost, new(big.Int).Sub(cost, balance))
	}
	spent := new(big.Int)
	var prev *big.Int
	if acc := p.mu.accounts[from]; acc != nil {
		for nonce, e := range acc.txs {
			if nonce == tx.Nonce() {
				prev = e.cost
			}
			spent.Add(spent, e.cost)
		}
	}
	if prev != nil {
		bump := new(big.Int).Sub(cost, prev)
		if need := new(big.Int).Add(spent, bump); balance.Cmp(need) < 0 {
			return fmt.Errorf("%w: balance %v, queued cost %v, tx bumped %v, overshot %v", core.ErrInsufficientFunds, balance, spent, bump, new(big.Int).Sub(need, balance))
		}
		return nil
	}
	if need := new(big.Int).Add(spent, cost); balance.Cmp(need) < 0 {
		return fmt.Errorf("%w: balance %v, queued cost %v, tx cost %v, overshot %v", core.ErrInsufficientFunds, balance, spent, cost, new(big.Int).Sub(need, balance))
	}
	return nil
}

// checkReplacement requires both fee fields to rise by PriceBump percent.
func (p *Pool) checkReplacement(old, tx *types.Transaction) error {
	bump := func(v *big.Int) *big.Int {
		out := new(big.Int).Mul(v, big.NewInt(int64(100+p.cfg.PriceBump)))
		return out.Div(out, big.NewInt(100))
	}
	needCap, needTip := bump(old.GasFeeCap()), bump(old.GasTipCap())
	if tx.GasFeeCapIntCmp(needCap) < 0 || tx.GasTipCapIntCmp(needTip) < 0 {
		return fmt.Errorf("%w: replacing nonce %d needs maxFeePerGas ≥ %v and maxPriorityFeePerGas ≥ %v (+%d%%), have %v and %v",
			ErrReplaceUnderpriced, tx.Nonce(), needCap, needTip, p.cfg.PriceBump, tx.GasFeeCap(), tx.GasTipCap())
	}
	return nil
}

func (p *Pool) tipAt(tx *types.Transaction) *big.Int {
	tip := tx.EffectiveGasTipValue(p.mu.baseFee)
	if tip.Sign() < 0 {
		return new(big.Int)
	}
	return tip
}

func (p *Pool) tipAtOrNil(tx *types.Transaction) any {
	if tx == nil {
		return "none"
	}
	return p.tipAt(tx)
}

// cheapestLocked finds the eviction victim: the lowest-paying transaction
// among each account's highest nonce (evicting a tail keeps the rest of the
// account executable).
func (p *Pool) cheapestLocked() (*types.Transaction, common.Address) {
	var (
		victim *types.Transaction
		vfrom  common.Address
		vtip   *big.Int
	)
	for from, acc := range p.mu.accounts {
		var tail *entry
		for _, e := range acc.txs {
			if tail == nil || e.tx.Nonce() > tail.tx.Nonce() {
				tail = e
			}
		}
		if tail == nil {
			continue
		}
		if tip := p.tipAt(tail.tx); vtip == nil || tip.Cmp(vtip) < 0 {
			victim, vfrom, vtip = tail.tx, from, tip
		}
	}
	return victim, vfrom
}

func (p *Pool) removeLocked(from common.Address, tx *types.Transaction) {
	delete(p.mu.all, tx.Hash())
	if acc := p.mu.accounts[from]; acc != nil {
		if e, ok := acc.txs[tx.Nonce()]; ok && e.tx.Hash() == tx.Hash() {
			delete(acc.txs, tx.Nonce())
		}
		if len(acc.txs) == 0 {
			delete(p.mu.accounts, from)
		}
	}
}

// executableFromLocked returns the run of transactions that became
// executable by adding nonce: empty when nonce is not reachable.
func (p *Pool) executableFromLocked(from common.Address, nonce uint64) []*types.Transaction {
	run := p.executableLocked(from, nil)
	for i, tx := range run {
		if tx.Nonce() == nonce {
			return slices.Clone(run[i:])
		}
	}
	return nil
}

// executableLocked is the account's run of consecutive nonces from its
// state nonce that the balance can pay for together; with baseFee set, it also stops at the
// first transaction whose fee cap is below it.
func (p *Pool) executableLocked(from common.Address, baseFee *big.Int) []*types.Transaction {
	acc := p.mu.accounts[from]
	if acc == nil {
		return nil
	}
	nonce := p.mu.state.GetNonce(from)
	left := p.mu.state.GetBalance(from).ToBig() // what the run so far leaves
	var out []*types.Transaction
	for {
		e, ok := acc.txs[nonce]
		if !ok || e.cost.Cmp(left) > 0 || (baseFee != nil && e.tx.GasFeeCapIntCmp(baseFee) < 0) {
			return out
		}
		left.Sub(left, e.cost)
		out = append(out, e.tx)
		nonce++
	}
}

// Pending returns every account's executable transactions in nonce order,
// for a block whose base fee is baseFee.
func (p *Pool) Pending(baseFee *big.Int) map[common.Address][]*types.Transaction {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[common.Address][]*types.Transaction, len(p.mu.accounts))
	for from := range p.mu.accounts {
		if run := p.executableLocked(from, baseFee); len(run) > 0 {
			out[from] = run
		}
	}
	return out
}

// Get returns a pooled transaction.
func (p *Pool) Get(hash common.Hash) *types.Transaction {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.mu.all[hash]; ok {
		return e.tx
	}
	return nil
}

// Has reports whether the pool holds hash.
func (p *Pool) Has(hash common.Hash) bool { return p.Get(hash) != nil }

// PendingNonce is the nonce the account's next transaction should use:
// its state nonce plus its executable run in the pool.
func (p *Pool) PendingNonce(addr common.Address) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.state.GetNonce(addr) + uint64(len(p.executableLocked(addr, nil)))
}

// Stats returns how many transactions are executable and how many wait.
func (p *Pool) Stats() (pending, queued int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for from := range p.mu.accounts {
		pending += len(p.executableLocked(from, nil))
	}
	return pending, len(p.mu.all) - pending
}

// Content returns every pooled transaction by sender, split into
// executable and waiting, each in nonce order.
func (p *Pool) Content() (pending, queued map[common.Address][]*types.Transaction) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pending = make(map[common.Address][]*types.Transaction)
	queued = make(map[common.Address][]*types.Transaction)
	for from, acc := range p.mu.accounts {
		run := p.executableLocked(from, nil)
		if len(run) > 0 {
			pending[from] = run
		}
		exec := make(map[common.Hash]bool, len(run))
		for _, tx := range run {
			exec[tx.Hash()] = true
		}
		for _, e := range acc.txs {
			if !exec[e.tx.Hash()] {
				queued[from] = append(queued[from], e.tx)
			}
		}
		slices.SortFunc(queued[from], func(a, b *types.Transaction) int { return int(a.Nonce()) - int(b.Nonce()) })
		if len(queued[from]) == 0 {
			delete(queued, from)
		}
	}
	return pending, queued
}
