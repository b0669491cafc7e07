package chain

import (
	"errors"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/chaindb"
	"github.com/peerchain/peerchain/internal/params"
)

type env struct {
	t   testing.TB
	g   *params.Genesis
	gen *chaingen.Generator
	dir string
	db  *chaindb.DB
	c   *Chain

	flushInterval int
	proofWindow   uint64
}

func newEnv(t testing.TB, o chaingen.GenesisOptions) *env {
	t.Helper()
	g, err := chaingen.Genesis(o)
	if err != nil {
		t.Fatal(err)
	}
	gen, err := chaingen.New(g)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, g: g, gen: gen, dir: t.TempDir()}
	e.open()
	t.Cleanup(func() { e.close() })
	return e
}

func (e *env) open() {
	e.t.Helper()
	db, err := chaindb.Open(e.dir, chaindb.KVOptions{CacheBytes: 8 << 20, MemTableBytes: 4 << 20})
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := New(Config{Genesis: e.g, DB: db, Logger: testLogger(e.t), FlushInterval: e.flushInterval, ProofWindow: e.proofWindow})
	if err != nil {
		db.Close()
		e.t.Fatal(err)
	}
	e.db, e.c = db, c
}

func (e *env) close() {
	if e.c != nil {
		if err := e.c.Close(); err != nil {
			e.t.Error(err)
		}
		e.db.Close()
		e.c = nil
	}
}

// crash drops the in-memory state layers without journaling them, as a
// kill -9 would, and closes the store.
func (e *env) crash() {
	e.c.mu.Lock()
	e.c.mu.closed = true
	e.c.mu.Unlock()
	if err := e.c.triedb.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.db.Close()
	e.c = nil
}

func (e *env) chain(parent *types.Block, n int, f func(*chaingen.BlockGen)) []*types.Block {
	e.t.Helper()
	blocks, err := e.gen.Chain(parent, n, f)
	if err != nil {
		e.t.Fatal(err)
	}
	return blocks
}

func (e *env) insert(blocks ...*types.Block) {
	e.t.Helper()
	for _, b := range blocks {
		if _, err := e.c.InsertBlock(b); err != nil {
			e.t.Fatalf("insert block %d: %v", b.NumberU64(), err)
		}
	}
}

func (e *env) balance(a common.Address) *big.Int {
	e.t.Helper()
	st, err := e.c.State()
	if err != nil {
		e.t.Fatal(err)
	}
	return st.GetBalance(a).ToBig()
}

func transfers(to common.Address) func(*chaingen.BlockGen) {
	return func(b *chaingen.BlockGen) { b.Transfer(0, to, big.NewInt(1000)) }
}

func TestInsertLinearChain(t *testing.T) {
	e := newEnv(t, chaingen.GenesisOptions{})
	heads := make(chan HeadEvent, 32)
	sub := e.c.SubscribeHeads(heads)
	defer sub.Unsubscribe()

	dest := common.HexToAddress("0xdead")
	blocks := e.chain(e.gen.Genesis(), 10, transfers(dest))
	e.insert(blocks...)

	if got := e.c.CurrentBlock().Hash(); got != blocks[9].Hash() {
		t.Fatalf("head %s, want %s", got, blocks[9].Hash())
	}
	if got := e.balance(dest); got.Int64() != 10_000 {
		t.Fatalf("destination balance %v, want 10000", got)
	}
	for i := 0; i < 10; i++ {
		ev := <-heads
		if ev.Block.Hash() != blocks[i].Hash() || len(ev.Removed) != 0 || len(ev.Added) != 1 {
			t.Fatalf("event %d: head %d, added %d, removed %d", i, ev.Block.NumberU64(), len(ev.Added), len(ev.Removed))
		}
	}
	tx := blocks[4].Transactions()[0]
	lookup, ok := e.c.GetTransaction(tx.Hash())
	if !ok || lookup.Number != 5 || lookup.Index != 0 {
		t.Fatalf("lookup of %s: %+v %v", tx.Hash(), lookup, ok)
	}
	receipts := e.c.GetReceipts(blocks[4].Hash(), 5)
	if len(receipts) != 1 || receipts[0].Status != types.ReceiptStatusSuccessful || receipts[0].GasUsed != 21000 ||
		receipts[0].BlockHash != blocks[4].Hash() || receipts[0].TxHash != tx.Hash() {
		t.Fatalf("receipt %+v", receipts[0])
	}
	if _, err := e.c.InsertBlock(blocks[3]); !errors.Is(err, ErrKnownBlock) {
		t.Fatalf("re-insert: %v, want ErrKnownBlock", err)
	}
	orphan := e.chain(blocks[9], 2, nil)[1]
	if _, err := e.c.InsertBlock(orphan); !errors.Is(err, ErrUnknownParent) {
		t.Fatalf("orphan: %v, want ErrUnknownParent", err)
	}
	// Rewards: 10 blocks of 2 ether plus tips went to the zero coinbase.
	if got := e.balance(common.Address{}); got.Cmp(new(big.Int).Mul(big.NewInt(20), chaingen.Ether)) <= 0 {
		t.Fatalf("coinbase balance %v, want more than 20 ether", got)
	}
}

func TestReorgDepthOne(t *testing.T) {
	e := newEnv(t, chaingen.GenesisOptions{})
	main := e.chain(e.gen.Genesis(), 5, transfers(addrA))
	e.insert(main...)
	heads := make(chan HeadEvent, 8)
	sub := e.c.SubscribeHeads(heads)
	defer sub.Unsubscribe()

	fork := e.chain(main[3], 2, func(b *chaingen.BlockGen) {
		b.SetExtra([]byte("fork"))
		b.Transfer(1, addrB, big.NewInt(7))
	})
	st, err := e.c.InsertBlock(fork[0]) // equal work: first seen stays
	if err != nil || st != StatusSide {
		t.Fatalf("fork block 5: status %v, err %v", st, err)
	}
	if e.c.CurrentBlock().Hash() != main[4].Hash() {
		t.Fatal("a tie replaced the first-seen head")
	}
	if st, err := e.c.InsertBlock(fork[1]); err != nil || st != StatusHead {
		t.Fatalf("fork block 6: status %v, err %v", st, err)
	}
	ev := <-heads
	if len(ev.Removed) != 1 || ev.Removed[0].Hash() != main[4].Hash() || len(ev.Added) != 2 {
		t.Fatalf("reorg event: removed %d added %d", len(ev.Removed), len(ev.Added))
	}
	dropped := main[4].Transactions()[0].Hash()
	if _, ok := e.c.GetTransaction(dropped); ok {
		t.Fatal("transaction of the dropped block is still indexed")
	}
	if got := e.balance(addrA).Int64(); got != 4000 {
		t.Fatalf("balance of 0xa %d, want 4000 (4 canonical transfers)", got)
	}
	if got := e.balance(addrB).Int64(); got != 14 {
		t.Fatalf("balance of 0xb %d, want 14", got)
	}
	if h := e.c.GetHeaderByNumber(5); h.Hash() != fork[0].Hash() {
		t.Fatal("canonical index not switched at 5")
	}
}

func TestReorgDepth200(t *testing.T) {
	e := newEnv(t, chaingen.GenesisOptions{})
	base := e.chain(e.gen.Genesis(), 50, nil)
	e.insert(base...)
	main := e.chain(base[49], 200, transfers(addrA))
	e.insert(main...)
	fork := e.chain(base[49], 201, func(b *chaingen.BlockGen) {
		b.SetExtra([]byte("fork"))
		b.Transfer(1, addrB, big.NewInt(3))
	})
	heads := make(chan HeadEvent, 8)
	sub := e.c.SubscribeHeads(heads)
	defer sub.Unsubscribe()
	e.insert(fork[:200]...)
	if e.c.CurrentBlock().Hash() != main[199].Hash() {
		t.Fatal("head moved before the fork was heavier")
	}
	e.insert(fork[200])
	ev := <-heads
	if len(ev.Removed) != 200 || len(ev.Added) != 201 {
		t.Fatalf("reorg removed %d added %d, want 200 and 201", len(ev.Removed), len(ev.Added))
	}
	if got := e.balance(addrA).Int64(); got != 0 {
		t.Fatalf("balance of 0xa %d after the reorg, want 0", got)
	}
	if got := e.balance(addrB).Int64(); got != 603 {
		t.Fatalf("balance of 0xb %d, want 603", got)
	}
	// And back: the old branch grows heavier again.
	more := e.chain(main[199], 2, transfers(addrA))
	e.insert(more...)
	if e.c.CurrentBlock().Hash() != more[1].Hash() {
		t.Fatal("did not reorg back to the heavier original branch")
	}
	if got := e.balance(addrA).Int64(); got != 202_000 {
		t.Fatalf("balance of 0xa %d, want 202000", got)
	}
	// The reorganised chain survives a restart with state readable.
	e.close()
	e.open()
	if e.c.CurrentBlock().Hash() != more[1].Hash() {
		t.Fatal("head lost across restart")
	}
	if got := e.balance(addrA).Int64(); got != 202_000 {
		t.Fatalf("balance of 0xa %d after restart, want 202000", got)
	}
}

func TestRestartAfterCrashRebuildsState(t *testing.T) {
	e := newEnv(t, chaingen.GenesisOptions{})
	e.flushInterval = 16
	e.close()
	e.open()
	blocks := e.chain(e.gen.Genesis(), 40, transfers(addrA))
	e.insert(blocks...)
	e.crash()
	e.open()
	// The last flush was at block 32: only the 8 blocks above it run again.
	if n := e.c.reexecuted.Load(); n != 8 {
		t.Fatalf("re-executed %d blocks after the crash, want 8", n)
	}
	if e.c.CurrentBlock().Hash() != blocks[39].Hash() {
		t.Fatalf("head after crash %d, want 40", e.c.CurrentBlock().NumberU64())
	}
	if got := e.balance(addrA).Int64(); got != 40_000 {
		t.Fatalf("balance %d after crash recovery, want 40000", got)
	}
	more := e.chain(blocks[39], 3, nil)
	e.insert(more...)
}

func TestDataDirOfAnotherChain(t *testing.T) {
	e := newEnv(t, chaingen.GenesisOptions{})
	e.close()
	other, err := chaingen.Genesis(chaingen.GenesisOptions{Accounts: 2})
	if err != nil {
		t.Fatal(err)
	}
	db, err := chaindb.Open(e.dir, chaindb.KVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = New(Config{Genesis: other, DB: db})
	if err == nil {
		t.Fatal("opened a data dir of another chain")
	}
	t.Log(err)
}

func TestFutureBlockIsNotBanned(t *testing.T) {
	e := newEnv(t, chaingen.GenesisOptions{})
	e.c.val.now = func() time.Time { return time.Unix(1_699_999_000, 0) }
	b := e.chain(e.gen.Genesis(), 1, nil)[0]
	_, err := e.c.InsertBlock(b)
	re, ok := asRuleError(err)
	if !ok || re.Rule != RuleTimeFuture || re.Permanent() {
		t.Fatalf("got %v, want a temporary %s error", err, RuleTimeFuture)
	}
	e.c.val.now = time.Now
	e.insert(b)
}

var (
	addrA = common.HexToAddress("0xaaaa0000000000000000000000000000000000aa")
	addrB = common.HexToAddress("0xbbbb0000000000000000000000000000000000bb")
)

type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// testLogger logs through t (shown with -v or on failure).
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// newFuzzEnv is newEnv for a fuzz target (quiet: no per-block logs).
func newFuzzEnv(f *testing.F) *env {
	return newEnv(f, chaingen.GenesisOptions{})
}

// TestShallowReorgAfterFlush: after a periodic flush the memory layers are
// gone, so even a shallow reorg rolls the disk state back.
func TestShallowReorgAfterFlush(t *testing.T) {
	e := newEnv(t, chaingen.GenesisOptions{})
	e.flushInterval = 4
	e.close()
	e.open()
	main := e.chain(e.gen.Genesis(), 10, transfers(addrA))
	e.insert(main...)
	fork := e.chain(main[5], 6, func(b *chaingen.BlockGen) {
		b.SetExtra([]byte("fork"))
		b.Transfer(1, addrB, big.NewInt(1))
	})
	e.insert(fork...)
	if e.c.CurrentBlock().Hash() != fork[5].Hash() {
		t.Fatal("fork did not become the head")
	}
	if a, b := e.balance(addrA).Int64(), e.balance(addrB).Int64(); a != 6000 || b != 6 {
		t.Fatalf("balances after the reorg: a=%d b=%d, want 6000 and 6", a, b)
	}
}
