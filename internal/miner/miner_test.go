package miner

import (
	"context"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/chain/chaintest"
	"github.com/peerchain/peerchain/internal/txpool"
)

type env struct {
	t     *testing.T
	gen   *chaingen.Generator
	chain *chain.Chain
	pool  *txpool.Pool
	miner *Miner
}

var coinbase = common.HexToAddress("0xc0ffee0000000000000000000000000000000001")

func newEnv(t *testing.T) *env {
	t.Helper()
	ce := chaintest.New(t, chaingen.GenesisOptions{Accounts: 6})
	p, err := txpool.New(txpool.Config{Chain: ce.Chain})
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{Chain: ce.Chain, Pool: p, Coinbase: coinbase, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, gen: ce.Gen, chain: ce.Chain, pool: p, miner: m}
}

func (e *env) transfer(key int, nonce uint64, tipGwei int64) *types.Transaction {
	e.t.Helper()
	to := common.HexToAddress("0x2222222222222222222222222222222222222222")
	tip := new(big.Int).Mul(big.NewInt(tipGwei), big.NewInt(1e9))
	tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{
		ChainID: big.NewInt(1337), Nonce: nonce, GasTipCap: tip, GasFeeCap: new(big.Int).Add(tip, big.NewInt(100e9)),
		Gas: 21000, To: &to, Value: big.NewInt(1),
	}), types.LatestSignerForChainID(big.NewInt(1337)), chaingen.Key(key))
	if err != nil {
		e.t.Fatal(err)
	}
	return tx
}

func TestTemplateOrdersByTipThenNonce(t *testing.T) {
	e := newEnv(t)
	// Account 0: tips 1 then 9 (the 9 cannot jump its own nonce 0).
	// Account 1: tip 5. Account 2: tip 3, then 4.
	txs := []*types.Transaction{
		e.transfer(0, 0, 1), e.transfer(0, 1, 9),
		e.transfer(1, 0, 5),
		e.transfer(2, 0, 3), e.transfer(2, 1, 4),
	}
	for i, err := range e.pool.Add(txs) {
		if err != nil {
			t.Fatalf("tx %d: %v", i, err)
		}
	}
	tmpl, err := e.miner.buildTemplate()
	if err != nil {
		t.Fatal(err)
	}
	got := tmpl.block.Transactions()
	want := []*types.Transaction{txs[2], txs[3], txs[4], txs[0], txs[1]}
	if len(got) != len(want) {
		t.Fatalf("template has %d transactions, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Hash() != want[i].Hash() {
			t.Fatalf("position %d: nonce %d tip %v, want nonce %d tip %v", i, got[i].Nonce(), got[i].GasTipCap(), want[i].Nonce(), want[i].GasTipCap())
		}
	}
	// The template, sealed, is a valid block.
	sealed, err := e.miner.sealer.Seal(context.Background(), tmpl.block.Header(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.chain.InsertBlock(tmpl.block.WithSeal(sealed)); err != nil {
		t.Fatalf("sealed template rejected: %v", err)
	}
}

// runMiner runs the miner and the pool's head loop until the test ends.
func (e *env) runMiner() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = e.pool.Run(ctx) }()
	go func() { defer wg.Done(); _ = e.miner.Run(ctx) }()
	e.t.Cleanup(func() { cancel(); wg.Wait() })
}

func (e *env) waitMined(hash common.Hash) uint64 {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if l, ok := e.chain.GetTransaction(hash); ok {
			return l.Number
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("transaction %s not mined within 20s", hash)
	return 0
}

func TestMinesPoolTransactions(t *testing.T) {
	e := newEnv(t)
	e.runMiner()
	tx := e.transfer(0, 0, 2)
	if err := e.pool.Add([]*types.Transaction{tx})[0]; err != nil {
		t.Fatal(err)
	}
	n := e.waitMined(tx.Hash())
	if b := e.chain.GetBlockByNumber(n); b.Coinbase() != coinbase {
		t.Fatalf("block %d coinbase %s", n, b.Coinbase())
	}
	if e.miner.Mined() == 0 {
		t.Fatal("miner counted no blocks")
	}
}

// TestDroppedBranchTransactionIsMinedAgain: a transaction mined on a branch
// that a heavier branch replaces returns to the pool and is mined again.
func TestDroppedBranchTransactionIsMinedAgain(t *testing.T) {
	e := newEnv(t)
	tx := e.transfer(3, 0, 2)
	main, err := e.gen.Chain(e.gen.Genesis(), 2, func(b *chaingen.BlockGen) {
		if b.Index() == 1 {
			b.AddTx(tx)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range main {
		if _, err := e.chain.InsertBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	fork, err := e.gen.Chain(main[0], 3, func(b *chaingen.BlockGen) { b.SetExtra([]byte("fork")) })
	if err != nil {
		t.Fatal(err)
	}
	heads := make(chan chain.HeadEvent, 4)
	sub := e.chain.SubscribeHeads(heads)
	for _, b := range fork {
		if _, err := e.chain.InsertBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	sub.Unsubscribe()
	if _, ok := e.chain.GetTransaction(tx.Hash()); ok {
		t.Fatal("the reorg did not drop the block")
	}
	for len(heads) > 0 {
		if err := e.pool.Reset(<-heads); err != nil {
			t.Fatal(err)
		}
	}
	if !e.pool.Has(tx.Hash()) {
		t.Fatal("the dropped transaction is not back in the pool")
	}
	e.runMiner()
	n := e.waitMined(tx.Hash())
	if n < 2 {
		t.Fatalf("mined again at %d", n)
	}
	if b := e.chain.GetBlockByNumber(n); b.Coinbase() != coinbase {
		t.Fatalf("re-mined in block %d with coinbase %s, want this miner's", n, b.Coinbase())
	}
}

func TestConfigErrors(t *testing.T) {
	e := newEnv(t)
	for _, c := range []Config{
		{Chain: e.chain, Pool: e.pool},
		{Chain: e.chain, Pool: e.pool, Coinbase: coinbase, Extra: make([]byte, 33)},
		{Chain: e.chain, Pool: e.pool, Coinbase: coinbase, GasCeil: 100},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("config %+v accepted", c)
		} else {
			t.Log(err)
		}
	}
}
