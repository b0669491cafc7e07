package txpool

import (
	"crypto/ecdsa"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/holiman/uint256"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/chain/chaintest"
	"github.com/peerchain/peerchain/internal/chaindb"
)

type env struct {
	t     *testing.T
	gen   *chaingen.Generator
	db    *chaindb.DB
	chain *chain.Chain
	pool  *Pool
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	ce := chaintest.New(t, chaingen.GenesisOptions{Accounts: 8})
	cfg.Chain = ce.Chain
	if cfg.Journal == nil {
		cfg.Journal = DBJournal{DB: ce.DB}
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, gen: ce.Gen, db: ce.DB, chain: ce.Chain, pool: p}
}

var (
	recipient = common.HexToAddress("0x1111111111111111111111111111111111111111")
	gwei      = big.NewInt(1e9)
)

// tx signs a dynamic-fee transfer from test key i.
func (e *env) tx(i int, nonce uint64, tip, feeCap *big.Int, mutate ...func(*types.DynamicFeeTx)) *types.Transaction {
	e.t.Helper()
	inner := &types.DynamicFeeTx{ChainID: big.NewInt(1337), Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap,
		Gas: 21000, To: &recipient, Value: big.NewInt(1)}
	for _, m := range mutate {
		m(inner)
	}
	return e.sign(chaingen.Key(i), inner)
}

func (e *env) sign(key *ecdsa.PrivateKey, inner types.TxData) *types.Transaction {
	e.t.Helper()
	tx, err := types.SignTx(types.NewTx(inner), types.LatestSignerForChainID(big.NewInt(1337)), key)
	if err != nil {
		e.t.Fatal(err)
	}
	return tx
}

func (e *env) add(tx *types.Transaction) error { return e.pool.Add([]*types.Transaction{tx})[0] }

func (e *env) mustAdd(txs ...*types.Transaction) {
	e.t.Helper()
	for i, err := range e.pool.Add(txs) {
		if err != nil {
			e.t.Fatalf("tx %d: %v", i, err)
		}
	}
}

func fee(g int64) *big.Int { return new(big.Int).Mul(big.NewInt(g), gwei) }

func TestRejections(t *testing.T) {
	e := newEnv(t, Config{MinTip: big.NewInt(100), AccountSlots: 16})
	e.mustAdd(e.tx(0, 0, gwei, fee(10)))
	baseFee := e.pool.mu.baseFee
	cases := []struct {
		name string
		tx   *types.Transaction
		want error
	}{
		{"already known", e.tx(0, 0, gwei, fee(10)), ErrAlreadyKnown},
		{"other chain id", func() *types.Transaction {
			tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(1), GasTipCap: gwei, GasFeeCap: fee(10), Gas: 21000, To: &recipient}),
				types.LatestSignerForChainID(big.NewInt(1)), chaingen.Key(1))
			if err != nil {
				t.Fatal(err)
			}
			return tx
		}(), ErrInvalidSender},
		{"bad signature", func() *types.Transaction {
			tx, err := e.tx(1, 0, gwei, fee(10)).WithSignature(types.LatestSignerForChainID(big.NewInt(1337)), append(make([]byte, 64), 0))
			if err != nil {
				t.Fatal(err)
			}
			return tx
		}(), ErrInvalidSender},
		{"nonce too low", func() *types.Transaction {
			blocks, err := e.gen.Chain(e.gen.Genesis(), 1, func(b *chaingen.BlockGen) { b.Transfer(2, recipient, big.NewInt(1)) })
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.chain.InsertBlock(blocks[0]); err != nil {
				t.Fatal(err)
			}
			if err := e.pool.Reset(chain.HeadEvent{Block: blocks[0], Added: blocks}); err != nil {
				t.Fatal(err)
			}
			baseFee = e.pool.mu.baseFee
			return e.tx(2, 0, gwei, fee(10))
		}(), core.ErrNonceTooLow},
		{"value above the balance", e.tx(1, 0, gwei, fee(10), func(d *types.DynamicFeeTx) { d.Value = new(big.Int).Mul(big.NewInt(2000), chaingen.Ether) }), core.ErrInsufficientFunds},
		{"gas below intrinsic", e.tx(1, 0, gwei, fee(10), func(d *types.DynamicFeeTx) { d.Gas = 20000 }), core.ErrIntrinsicGas},
		{"gas below the EIP-7623 calldata floor", e.tx(1, 0, gwei, fee(10), func(d *types.DynamicFeeTx) { d.Gas = 26000; d.Data = make([]byte, 1000) }), core.ErrFloorDataGas},
		{"fee cap below base fee", e.tx(1, 0, big.NewInt(100), new(big.Int).Sub(baseFee, common.Big1)), core.ErrFeeCapTooLow},
		{"tip below the pool minimum", e.tx(1, 0, big.NewInt(99), fee(10)), ErrTipBelowMinimum},
		{"tip above fee cap", e.tx(1, 0, fee(11), fee(10)), core.ErrTipAboveFeeCap},
		{"oversized", e.tx(1, 0, gwei, fee(10), func(d *types.DynamicFeeTx) { d.Data = make([]byte, 130<<10); d.Gas = 10_000_000 }), ErrOversizedData},
		{"gas above the EIP-7825 cap", e.tx(1, 0, gwei, fee(10), func(d *types.DynamicFeeTx) { d.Gas = 1<<24 + 1 }), core.ErrGasLimitTooHigh},
		{"nonce too far ahead", e.tx(1, 16, gwei, fee(10)), ErrAccountLimitExceeded},
		{"blob transaction", e.sign(chaingen.Key(1), &types.BlobTx{ChainID: uint256.NewInt(1337), GasTipCap: uint256.NewInt(1e9),
			GasFeeCap: uint256.NewInt(10e9), Gas: 21000, To: recipient, BlobFeeCap: uint256.NewInt(1), BlobHashes: []common.Hash{{1}}}), ErrTxTypeNotSupported},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := e.add(c.tx)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			t.Log(err)
		})
	}
	// A gas limit above the block's: a pool over a low-gas-limit chain.
	low := newLowGasEnv(t)
	if err := low.add(low.tx(0, 0, gwei, fee(10), func(d *types.DynamicFeeTx) { d.Gas = 200_000 })); !errors.Is(err, ErrGasLimit) {
		t.Fatalf("gas over the block limit: %v", err)
	}
}

func newLowGasEnv(t *testing.T) *env {
	ce := chaintest.New(t, chaingen.GenesisOptions{GasLimit: 100_000})
	p, err := New(Config{Chain: ce.Chain})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, db: ce.DB, chain: ce.Chain, pool: p}
}

func TestReplacementNeedsTenPercent(t *testing.T) {
	e := newEnv(t, Config{})
	first := e.tx(0, 0, fee(1), fee(10))
	e.mustAdd(first)
	if err := e.add(e.tx(0, 0, fee(1), fee(11))); !errors.Is(err, ErrReplaceUnderpriced) {
		t.Fatalf("tip unchanged: %v", err)
	}
	if err := e.add(e.tx(0, 0, new(big.Int).Div(fee(109), big.NewInt(100)), fee(11))); !errors.Is(err, ErrReplaceUnderpriced) {
		t.Fatalf("tip +9%%: %v", err)
	}
	second := e.tx(0, 0, new(big.Int).Div(fee(110), big.NewInt(100)), fee(11))
	e.mustAdd(second)
	if e.pool.Has(first.Hash()) || !e.pool.Has(second.Hash()) {
		t.Fatal("replacement did not swap the transactions")
	}
	txs, err := e.db.LoadPoolTxs()
	if err != nil {
		t.Fatal(err)
	}
	if len(txs) != 1 || txs[0].Hash() != second.Hash() {
		t.Fatalf("journal holds %d transactions, want only the replacement", len(txs))
	}
}

func TestEvictsCheapestWhenFull(t *testing.T) {
	e := newEnv(t, Config{AccountSlots: 2, GlobalSlots: 4})
	for i := 0; i < 4; i++ {
		e.mustAdd(e.tx(i, 0, fee(int64(i+1)), fee(20)))
	}
	if err := e.add(e.tx(4, 0, fee(1), fee(20))); !errors.Is(err, ErrUnderpriced) {
		t.Fatalf("cheapest into a full pool: %v", err)
	}
	rich := e.tx(4, 0, fee(5), fee(20))
	e.mustAdd(rich)
	if e.pool.Has(e.tx(0, 0, fee(1), fee(20)).Hash()) {
		t.Fatal("the cheapest transaction was not evicted")
	}
	if pending, queued := e.pool.Stats(); pending != 4 || queued != 0 {
		t.Fatalf("stats %d pending %d queued, want 4 and 0", pending, queued)
	}
	if err := e.add(e.tx(5, 0, fee(1), fee(20))); !errors.Is(err, ErrUnderpriced) {
		t.Fatalf("evicted price into a full pool: %v", err)
	}
	e.mustAdd(e.tx(1, 1, fee(9), fee(20)))
	if err := e.add(e.tx(1, 2, fee(9), fee(20))); !errors.Is(err, ErrAccountLimitExceeded) {
		t.Fatalf("third tx of a 2-slot account: %v", err)
	}
}

func TestNonceOrderAndGaps(t *testing.T) {
	e := newEnv(t, Config{})
	sub := make(chan NewTxsEvent, 4)
	defer e.pool.SubscribeNewTxs(sub).Unsubscribe()
	t2, t1, t0 := e.tx(0, 2, gwei, fee(10)), e.tx(0, 1, gwei, fee(10)), e.tx(0, 0, gwei, fee(10))
	e.mustAdd(t2, t1)
	if p, q := e.pool.Stats(); p != 0 || q != 2 {
		t.Fatalf("with a gap: %d pending %d queued", p, q)
	}
	if n := e.pool.PendingNonce(chaingen.Addr(0)); n != 0 {
		t.Fatalf("pending nonce %d with a gap at 0", n)
	}
	e.mustAdd(t0)
	ev := <-sub
	if len(ev.Txs) != 3 || ev.Txs[0] != t0 || ev.Txs[2] != t2 {
		t.Fatalf("promotion event: %d txs", len(ev.Txs))
	}
	pending := e.pool.Pending(nil)[chaingen.Addr(0)]
	if len(pending) != 3 || pending[0].Nonce() != 0 || pending[2].Nonce() != 2 {
		t.Fatal("pending not in nonce order")
	}
	if n := e.pool.PendingNonce(chaingen.Addr(0)); n != 3 {
		t.Fatalf("pending nonce %d, want 3", n)
	}
}

func TestJournalSurvivesRestartAndFollowsTheChain(t *testing.T) {
	e := newEnv(t, Config{})
	a, b := e.tx(0, 0, gwei, fee(10)), e.tx(1, 0, gwei, fee(10))
	e.mustAdd(a, b)
	// A block includes a: the chain drops it from the journal itself.
	blocks, err := e.gen.Chain(e.gen.Genesis(), 1, func(g *chaingen.BlockGen) { g.AddTx(a) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.chain.InsertBlock(blocks[0]); err != nil {
		t.Fatal(err)
	}
	p2, err := New(Config{Chain: e.chain, Journal: DBJournal{DB: e.db}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p2.Load(); err != nil {
		t.Fatal(err)
	}
	if p2.Has(a.Hash()) || !p2.Has(b.Hash()) {
		t.Fatalf("after restart: has included a=%v, pending b=%v", p2.Has(a.Hash()), p2.Has(b.Hash()))
	}
}

func TestReorgReinjects(t *testing.T) {
	e := newEnv(t, Config{})
	main, err := e.gen.Chain(e.gen.Genesis(), 2, func(g *chaingen.BlockGen) { g.Transfer(g.Index(), recipient, big.NewInt(5)) })
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range main {
		if _, err := e.chain.InsertBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.pool.Reset(chain.HeadEvent{Block: main[1], Added: main}); err != nil {
		t.Fatal(err)
	}
	heads := make(chan chain.HeadEvent, 1)
	defer e.chain.SubscribeHeads(heads).Unsubscribe()
	fork, err := e.gen.Chain(main[0], 2, func(g *chaingen.BlockGen) { g.SetExtra([]byte("fork")) })
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range fork {
		if _, err := e.chain.InsertBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	ev := <-heads
	if err := e.pool.Reset(ev); err != nil {
		t.Fatal(err)
	}
	dropped := main[1].Transactions()[0]
	if !e.pool.Has(dropped.Hash()) {
		t.Fatal("transaction of the dropped block is not back in the pool")
	}
	if e.pool.Has(main[0].Transactions()[0].Hash()) {
		t.Fatal("transaction still on the canonical chain was re-injected")
	}
	txs, err := e.db.LoadPoolTxs()
	if err != nil {
		t.Fatal(err)
	}
	if len(txs) != 1 || txs[0].Hash() != dropped.Hash() {
		t.Fatalf("journal holds %d transactions after the reorg, want the dropped one", len(txs))
	}
}

// An account cannot queue more than its balance pays for: before this rule
// one account held 128 transactions costing 115× its balance, all pending
// and all relayed to every peer.
func TestPendingCostCannotOvershootBalance(t *testing.T) {
	e := newEnv(t, Config{})
	// 1,000 ether each; 400 ether per transaction: two fit, a third does not.
	big400 := new(big.Int).Mul(big.NewInt(400), chaingen.Ether)
	value := func(d *types.DynamicFeeTx) { d.Value = new(big.Int).Set(big400) }
	e.mustAdd(e.tx(3, 0, gwei, fee(10), value), e.tx(3, 1, gwei, fee(10), value))
	err := e.add(e.tx(3, 2, gwei, fee(10), value))
	if !errors.Is(err, core.ErrInsufficientFunds) || !strings.Contains(err.Error(), "queued cost") || !strings.Contains(err.Error(), "overshot") {
		t.Fatalf("third transaction: %v, want insufficient funds with queued cost and overshot", err)
	}
	// A gapped nonce counts too: it may become executable.
	if err := e.add(e.tx(3, 5, gwei, fee(10), value)); !errors.Is(err, core.ErrInsufficientFunds) {
		t.Fatalf("gapped transaction: %v, want insufficient funds", err)
	}
	// A replacement counts only what it adds: a fee bump fits, a bigger
	// value that would overshoot does not.
	e.mustAdd(e.tx(3, 1, fee(2), fee(20), value))
	more := func(d *types.DynamicFeeTx) { d.Value = new(big.Int).Mul(big.NewInt(700), chaingen.Ether) }
	if err := e.add(e.tx(3, 1, fee(3), fee(30), more)); !errors.Is(err, core.ErrInsufficientFunds) || !strings.Contains(err.Error(), "tx bumped") {
		t.Fatalf("replacement that overshoots: %v", err)
	}
	if pending, queued := e.pool.Stats(); pending != 2 || queued != 0 {
		t.Fatalf("pool holds %d pending and %d queued, want 2 and 0", pending, queued)
	}
	// Another account is not affected.
	e.mustAdd(e.tx(4, 0, gwei, fee(10), value))
}
