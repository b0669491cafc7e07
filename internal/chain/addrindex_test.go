package chain

import (
	"context"
	"encoding/json"
	"math/big"
	"slices"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/tracers"
	_ "github.com/ethereum/go-ethereum/eth/tracers/native" // registers callTracer
	gparams "github.com/ethereum/go-ethereum/params"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/execution"
)

// Hand-written contracts for the index tests.
var (
	// fwdAddr forwards its value to the address in its calldata, then
	// creates an empty contract.
	fwdAddr = common.HexToAddress("0x00000000000000000000000000000000000000f1")
	fwdCode = common.FromHex("6000600060006000346000355af150600160006000f05000")
	// revAddr creates a contract, then reverts with 0xdeadbeef.
	revAddr = common.HexToAddress("0x00000000000000000000000000000000000000f2")
	revCode = common.FromHex("600160006000f05063deadbeef6000526004601cfd")
	// sdAddr selfdestructs to its caller.
	sdAddr = common.HexToAddress("0x00000000000000000000000000000000000000f3")
	sdCode = common.FromHex("33ff")
	// deployInit creates a child contract and deploys a one-byte STOP.
	deployInit = common.FromHex("600160006000f05060016000f3")
	// failInit reverts.
	failInit = common.FromHex("60006000fd")
)

func indexGenesis() chaingen.GenesisOptions {
	eth := new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)
	return chaingen.GenesisOptions{Alloc: types.GenesisAlloc{
		fwdAddr: {Code: fwdCode, Balance: new(big.Int)},
		revAddr: {Code: revCode, Balance: new(big.Int)},
		sdAddr:  {Code: sdCode, Balance: eth},
	}}
}

func (e *env) contractTx(b *chaingen.BlockGen, from int, to *common.Address, value int64, data []byte) *types.Transaction {
	e.t.Helper()
	tip := big.NewInt(gparams.GWei)
	tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{
		ChainID: e.g.ChainID(), Nonce: b.Nonce(chaingen.Addr(from)), GasTipCap: tip,
		GasFeeCap: new(big.Int).Add(new(big.Int).Mul(b.BaseFee(), big.NewInt(2)), tip),
		Gas:       300_000, To: to, Value: big.NewInt(value), Data: data,
	}), e.gen.Signer(), chaingen.Key(from))
	if err != nil {
		e.t.Fatal(err)
	}
	b.AddTx(tx)
	return tx
}

// busy fills a block with every kind of touch: transfers, a forwarded
// value to a selfdestructing contract, inner creates, a reverted inner
// create, a deployment whose constructor creates, a failed deployment.
func (e *env) busy(tag byte) func(*chaingen.BlockGen) {
	return func(b *chaingen.BlockGen) {
		b.SetExtra([]byte{tag})
		b.Transfer(0, chaingen.Addr(1+int(tag)%3), big.NewInt(1000))
		e.contractTx(b, 1, &fwdAddr, 5, common.LeftPadBytes(sdAddr[:], 32))
		e.contractTx(b, 2, &fwdAddr, 7, common.LeftPadBytes(chaingen.Addr(3).Bytes(), 32))
		e.contractTx(b, 3, &revAddr, 0, nil)
		e.contractTx(b, 0, nil, 0, deployInit)
		e.contractTx(b, 2, nil, 0, failInit)
	}
}

// bruteTouches replays every canonical transaction with go-ethereum's
// callTracer and collects, per address, the (block, index) of every
// transaction whose call tree names it.
func bruteTouches(t *testing.T, c *Chain) map[common.Address][][2]uint64 {
	t.Helper()
	out := make(map[common.Address][][2]uint64)
	head := c.CurrentBlock().NumberU64()
	for n := uint64(1); n <= head; n++ {
		block := c.GetBlockByNumber(n)
		parent := c.GetHeader(block.ParentHash(), n-1)
		st, err := c.StateAtBlock(parent)
		if err != nil {
			t.Fatal(err)
		}
		h := block.Header()
		core.ProcessParentBlockHash(h.ParentHash, c.proc.NewEVM(h, st, c, vm.Config{}), nil)
		gp := core.NewGasPool(h.GasLimit)
		signer := c.proc.Signer(h)
		for i, tx := range block.Transactions() {
			tracer, err := tracers.DefaultDirectory.New("callTracer", &tracers.Context{}, nil, c.Config())
			if err != nil {
				t.Fatal(err)
			}
			evm := c.proc.NewEVM(h, st, c, vm.Config{Tracer: tracer.Hooks})
			msg, err := core.TransactionToMessage(tx, signer, h.BaseFee)
			if err != nil {
				t.Fatal(err)
			}
			st.SetTxContext(tx.Hash(), i, uint32(i+1))
			if _, _, err := core.ApplyTransactionWithEVM(context.Background(), msg, gp, st, h.Number, block.Hash(), h.Time, tx, evm); err != nil {
				t.Fatalf("replay tx %d of block %d: %v", i, n, err)
			}
			raw, err := tracer.GetResult()
			if err != nil {
				t.Fatal(err)
			}
			var top callFrame
			if err := json.Unmarshal(raw, &top); err != nil {
				t.Fatal(err)
			}
			seen := make(map[common.Address]bool)
			top.walk(func(a common.Address) {
				if !seen[a] {
					seen[a] = true
					out[a] = append(out[a], [2]uint64{n, uint64(i)})
				}
			})
		}
	}
	return out
}

type callFrame struct {
	From  common.Address  `json:"from"`
	To    *common.Address `json:"to"`
	Calls []callFrame     `json:"calls"`
}

func (f *callFrame) walk(fn func(common.Address)) {
	fn(f.From)
	if f.To != nil {
		fn(*f.To)
	}
	for i := range f.Calls {
		f.Calls[i].walk(fn)
	}
}

// indexTouches reads every address in the raw index and searches each on
// the canonical chain, forward in pages of one block, and checks the
// backward walk gives the same list reversed.
func indexTouches(t *testing.T, c *Chain) map[common.Address][][2]uint64 {
	t.Helper()
	addrs := make(map[common.Address]bool)
	it := c.db.NewIterator([]byte("o"), nil)
	for it.Next() {
		addrs[common.BytesToAddress(it.Key()[1:21])] = true
	}
	it.Release()
	out := make(map[common.Address][][2]uint64)
	for a := range addrs {
		var fwd [][2]uint64
		for from := uint64(0); ; {
			txs, done, err := c.SearchAddr(a, from, false, 1)
			if err != nil {
				t.Fatal(err)
			}
			for _, tx := range txs {
				fwd = append(fwd, [2]uint64{tx.Number, uint64(tx.Index)})
				from = tx.Number + 1
			}
			if done {
				break
			}
		}
		all, done, err := c.SearchAddr(a, ^uint64(0), true, 1<<30)
		if err != nil || !done {
			t.Fatalf("backward search of %s: done %v, %v", a, done, err)
		}
		var back [][2]uint64
		for _, tx := range slices.Backward(all) {
			back = append(back, [2]uint64{tx.Number, uint64(tx.Index)})
		}
		if !slices.Equal(fwd, back) {
			t.Fatalf("%s: forward pages %v, backward %v", a, fwd, back)
		}
		if len(fwd) > 0 {
			out[a] = fwd
		}
	}
	return out
}

func checkIndex(t *testing.T, c *Chain) {
	t.Helper()
	brute, index := bruteTouches(t, c), indexTouches(t, c)
	for a, want := range brute {
		if got := index[a]; !slices.Equal(got, want) {
			t.Errorf("address %s: index %v, traces %v", a, got, want)
		}
	}
	for a, got := range index {
		if _, ok := brute[a]; !ok {
			t.Errorf("address %s: index %v, traces none", a, got)
		}
	}
	if len(brute) < 10 {
		t.Fatalf("only %d addresses touched: the scenario lost its contracts", len(brute))
	}
}

func TestAddrIndexMatchesTracesThroughReorgs(t *testing.T) {
	e := newEnv(t, indexGenesis())
	main := e.chain(e.gen.Genesis(), 5, e.busy(1))
	e.insert(main...)
	checkIndex(t, e.c)

	// A heavier branch from block 2 replaces blocks 3–5 (the same senders
	// and nonces, other transactions).
	side := e.chain(main[1], 5, e.busy(2))
	e.insert(side...)
	if e.c.CurrentBlock().Hash() != side[4].Hash() {
		t.Fatal("side branch did not become the head")
	}
	checkIndex(t, e.c)
	// The sender index follows: nonce 2 of account 1 is now in block 3 of
	// the side branch.
	lk, ok, err := e.c.TxBySenderAndNonce(chaingen.Addr(1), 2)
	if err != nil || !ok || lk.BlockHash != side[0].Hash() || lk.Tx.Nonce() != 2 {
		t.Fatalf("sender 1 nonce 2: %+v %v %v, want block %s", lk, ok, err, side[0].Hash())
	}
	if _, ok, _ := e.c.TxBySenderAndNonce(chaingen.Addr(1), 99); ok {
		t.Fatal("nonce 99 found")
	}

	// And back: the first branch grows heavier again.
	more := e.chain(main[4], 3, e.busy(3))
	e.insert(more...)
	if e.c.CurrentBlock().Hash() != more[2].Hash() {
		t.Fatal("first branch did not become the head again")
	}
	checkIndex(t, e.c)

	// The contract deployed in block 1 and the child its constructor made.
	deployTx := main[0].Transactions()[4]
	deployed := crypto.CreateAddress(chaingen.Addr(0), deployTx.Nonce())
	cr, ok, err := e.c.ContractCreator(deployed)
	if err != nil || !ok || cr.Creator != chaingen.Addr(0) || cr.Number != 1 || cr.Index != 4 {
		t.Fatalf("creator of %s: %+v %v %v", deployed, cr, ok, err)
	}
	child := crypto.CreateAddress(deployed, 1)
	cr, ok, err = e.c.ContractCreator(child)
	if err != nil || !ok || cr.Creator != deployed || cr.Flags&execution.TouchCreated == 0 {
		t.Fatalf("creator of child %s: %+v %v %v", child, cr, ok, err)
	}
	// rev's inner create is reverted: touched, never created.
	revChild := crypto.CreateAddress(revAddr, 1)
	if _, ok, _ := e.c.ContractCreator(revChild); ok {
		t.Fatal("a reverted creation has a creator")
	}
	if _, ok, _ := e.c.ContractCreator(chaingen.Addr(3)); ok {
		t.Fatal("an account has a creator")
	}

	// A crash loses the state layers; re-execution must leave the index
	// as it was.
	e.crash()
	e.open()
	checkIndex(t, e.c)
	from, err := e.c.AddrIndexFrom()
	if err != nil || from != 1 {
		t.Fatalf("index from %d, %v; want 1", from, err)
	}
}

func TestAddrIndexPagesNeverSplitABlock(t *testing.T) {
	e := newEnv(t, indexGenesis())
	// Account 0 sends three transactions a block for four blocks.
	blocks := e.chain(e.gen.Genesis(), 4, func(b *chaingen.BlockGen) {
		for i := 0; i < 3; i++ {
			b.Transfer(0, chaingen.Addr(1), big.NewInt(1))
		}
	})
	e.insert(blocks...)
	txs, done, err := e.c.SearchAddr(chaingen.Addr(0), ^uint64(0), true, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(txs) != 6 || done || txs[0].Number != 4 || txs[0].Index != 2 || txs[5].Number != 3 {
		t.Fatalf("page of 4 backward: %d txs %+v, done %v; want blocks 4 and 3 whole", len(txs), txs, done)
	}
	txs, done, err = e.c.SearchAddr(chaingen.Addr(0), 2, false, 3)
	if err != nil || len(txs) != 3 || done || txs[0].Number != 2 {
		t.Fatalf("page of 3 forward from 2: %+v %v %v", txs, done, err)
	}
	txs, done, err = e.c.SearchAddr(chaingen.Addr(0), 4, false, 3)
	if err != nil || len(txs) != 3 || !done {
		t.Fatalf("last page: %+v %v %v", txs, done, err)
	}
}

func TestTouchFlagsMatchChaindb(t *testing.T) {
	// chaindb keeps a creator only for this bit.
	if execution.TouchCreated != 1<<3 {
		t.Fatalf("execution.TouchCreated = %d; chaindb stores creators for 8", execution.TouchCreated)
	}
}
