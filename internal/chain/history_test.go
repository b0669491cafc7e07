package chain

import (
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethdb/memorydb"
	gparams "github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/ethereum/go-ethereum/trie"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/chaindb"
)

// historyAddr is the EIP-2935 contract: every block stores its parent's
// hash in slot (number-1) % 8191, so its storage changes in every block.
var historyAddr = gparams.HistoryStorageAddress

// proof is an account proof and a proof of one storage slot, as a light
// peer receives them.
type proof struct {
	account, storage *memorydb.Database
}

// proveAt builds the proofs of addr and slot in the state after h with
// the chain's tries.
func proveAt(c *Chain, h *types.Header, addr common.Address, slot common.Hash) (*proof, error) {
	tries, err := c.TriesAtBlock(h)
	if err != nil {
		return nil, err
	}
	tr, err := tries.OpenTrie(h.Root)
	if err != nil {
		return nil, err
	}
	p := &proof{account: memorydb.New(), storage: memorydb.New()}
	if err := tr.Prove(crypto.Keccak256(addr.Bytes()), p.account); err != nil {
		return nil, err
	}
	acc, err := tr.GetAccount(addr)
	if err != nil {
		return nil, err
	}
	if acc != nil && acc.Root != types.EmptyRootHash {
		st, err := tries.OpenStorageTrie(h.Root, addr, acc.Root, tr)
		if err != nil {
			return nil, err
		}
		if err := st.Prove(crypto.Keccak256(slot.Bytes()), p.storage); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// verify checks the proofs against a state root as a light peer would and
// returns the account (nil if absent) and the slot's value.
func (p *proof) verify(root common.Hash, addr common.Address, slot common.Hash) (*types.StateAccount, common.Hash, error) {
	val, err := trie.VerifyProof(root, crypto.Keccak256(addr.Bytes()), p.account)
	if err != nil || val == nil {
		return nil, common.Hash{}, err
	}
	acc := new(types.StateAccount)
	if err := rlp.DecodeBytes(val, acc); err != nil {
		return nil, common.Hash{}, err
	}
	if acc.Root == types.EmptyRootHash {
		return acc, common.Hash{}, nil
	}
	sval, err := trie.VerifyProof(acc.Root, crypto.Keccak256(slot.Bytes()), p.storage)
	if err != nil || sval == nil {
		return acc, common.Hash{}, err
	}
	_, content, _, err := rlp.Split(sval)
	return acc, common.BytesToHash(content), err
}

// waitHistory retries f while pathdb is still indexing its histories (it
// starts within 15 s of opening).
func waitHistory(t *testing.T, f func() error) error {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		err := f()
		if !errors.Is(err, ErrHistoryIndexing) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// slotOf is the EIP-2935 slot that block n writes (its parent's hash).
func slotOf(n uint64) common.Hash { return common.BigToHash(new(big.Int).SetUint64((n - 1) % 8191)) }

// checkState proves addr and the history contract at canonical block n and
// checks the answers: addr received 1000 wei in each of the blocks since
// base (so every block's balance differs), the contract holds the hash of
// block n-1 and not yet that of block n; StateAtBlock agrees, and the
// proof does not verify against the state root of block other.
func checkState(t *testing.T, e *env, n, other, base uint64, addr common.Address) {
	t.Helper()
	h := e.c.GetHeaderByNumber(n)
	if h == nil {
		t.Fatalf("no canonical block %d", n)
	}
	wantBal := big.NewInt(int64(n-base) * 1000)
	var p, hp *proof
	err := waitHistory(t, func() (err error) {
		p, err = proveAt(e.c, h, addr, common.Hash{})
		if err == nil {
			hp, err = proveAt(e.c, h, historyAddr, slotOf(n))
		}
		return err
	})
	if err != nil {
		t.Fatalf("proof at block %d (head %d): %v", n, e.c.CurrentBlock().NumberU64(), err)
	}
	acc, _, err := p.verify(h.Root, addr, common.Hash{})
	if err != nil || acc == nil {
		t.Fatalf("account proof at block %d does not verify against its state root: %v", n, err)
	}
	if acc.Balance.ToBig().Cmp(wantBal) != 0 {
		t.Fatalf("proven balance at block %d is %v, want %v", n, acc.Balance, wantBal)
	}
	_, v, err := hp.verify(h.Root, historyAddr, slotOf(n))
	if err != nil || v != h.ParentHash {
		t.Fatalf("storage proof at block %d: slot holds %s (%v), want the parent hash %s", n, v, err, h.ParentHash)
	}
	oh := e.c.GetHeaderByNumber(other)
	if _, _, err := p.verify(oh.Root, addr, common.Hash{}); err == nil {
		t.Fatalf("the proof of block %d verifies against the state root of block %d", n, other)
	}
	st, err := e.c.StateAtBlock(h)
	if err != nil {
		t.Fatalf("state at block %d: %v", n, err)
	}
	if b := st.GetBalance(addr).ToBig(); b.Cmp(wantBal) != 0 {
		t.Fatalf("state at block %d: balance %v, want %v", n, b, wantBal)
	}
	if v := st.GetState(historyAddr, slotOf(n)); v != h.ParentHash {
		t.Fatalf("state at block %d: history slot %s, want %s", n, v, h.ParentHash)
	}
	if next := st.GetState(historyAddr, slotOf(n+1)); next != (common.Hash{}) {
		t.Fatalf("state at block %d already holds the hash of block %d", n, n)
	}
	if len(st.GetCode(historyAddr)) == 0 {
		t.Fatalf("state at block %d: history contract has no code", n)
	}
	if err := st.Error(); err != nil {
		t.Fatalf("state at block %d: %v", n, err)
	}
}

func newWindowEnv(t *testing.T, window uint64, flush int) *env {
	e := newEnv(t, chaingen.GenesisOptions{})
	e.flushInterval, e.proofWindow = flush, window
	e.close()
	e.open()
	return e
}

// TestProofWindowServesOldStates: with a proof window, states far below
// the memory layers and the persisted state (flushed every 100 blocks)
// are proven against their headers' roots, and the window moves with the
// head.
func TestProofWindowServesOldStates(t *testing.T) {
	e := newWindowEnv(t, 1300, 100)
	e.insert(e.chain(e.gen.Genesis(), 1300, transfers(addrA))...)
	// 1 and 500 are far below the persisted state (1300), 1100 too, 1172
	// is the oldest memory layer's age, 1300 the head.
	for _, c := range [][2]uint64{{1, 500}, {500, 1100}, {1100, 500}, {1172, 1}, {1299, 1300}, {1300, 1}} {
		checkState(t, e, c[0], c[1], 0, addrA)
	}
	// StateAt reaches the history too.
	st, err := e.c.StateAt(e.c.GetHeaderByNumber(7).Root)
	if err != nil || st.GetBalance(addrA).Uint64() != 7000 {
		t.Fatalf("StateAt of block 7: %v", err)
	}
	// The window moves with the head: block 100 leaves it at head 1400.
	e.insert(e.chain(e.c.CurrentBlock(), 100, transfers(addrA))...)
	for _, n := range []uint64{1, 100} {
		_, err := e.c.StateAtBlock(e.c.GetHeaderByNumber(n))
		var we *WindowError
		if !errors.As(err, &we) || !errors.Is(err, ErrStateUnavailable) || we.Number != n || we.Window != 1300 || we.Head != 1400 {
			t.Fatalf("state of block %d at head 1400 with a window of 1300: %v, want a window error", n, err)
		}
		if _, err := e.c.TriesAtBlock(e.c.GetHeaderByNumber(n)); !errors.As(err, &we) {
			t.Fatalf("tries of block %d: %v, want a window error", n, err)
		}
	}
	checkState(t, e, 101, 1400, 0, addrA)
	checkState(t, e, 500, 1400, 0, addrA)
}

// TestProofWindowZeroKeepsBehaviour: without a window, only the memory
// layers and the persisted state are served, nothing is indexed and no
// trie node history is written.
func TestProofWindowZeroKeepsBehaviour(t *testing.T) {
	e := newWindowEnv(t, 0, 100)
	e.insert(e.chain(e.gen.Genesis(), 250, transfers(addrA))...)
	if e.c.ProofWindow() != 0 {
		t.Fatalf("window %d", e.c.ProofWindow())
	}
	for _, n := range []uint64{1, 150, 199} {
		h := e.c.GetHeaderByNumber(n)
		_, err := e.c.StateAtBlock(h)
		var we *WindowError
		if !errors.Is(err, ErrStateUnavailable) || errors.As(err, &we) || errors.Is(err, ErrHistoryIndexing) {
			t.Fatalf("state of block %d without a window: %v, want unavailable", n, err)
		}
		if _, err := e.c.StateAt(h.Root); !errors.Is(err, ErrStateUnavailable) {
			t.Fatalf("StateAt of block %d without a window: %v", n, err)
		}
	}
	// The persisted state (200) and the layers above it are served.
	for _, n := range []uint64{200, 201, 250} {
		checkState(t, e, n, 1, 0, addrA)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "ancient", rawdb.MerkleTrienodeFreezerName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("trie node history without a window: %v", err)
	}
	sdb := e.db.StateDB()
	if len(rawdb.ReadStateHistoryIndexMetadata(sdb)) != 0 || len(rawdb.ReadTrienodeHistoryIndexMetadata(sdb)) != 0 {
		t.Fatal("histories indexed without a window")
	}
}

// TestProofWindowReorg: a reorg below the persisted state (pathdb rolls it
// back and truncates the histories) and one within the memory layers keep
// every canonical state of the window provable, the new branch's once it
// reaches the history too; the dropped branch is not served.
func TestProofWindowReorg(t *testing.T) {
	e := newWindowEnv(t, 1024, 100)
	main := e.chain(e.gen.Genesis(), 260, transfers(addrA))
	e.insert(main...)
	checkState(t, e, 180, 100, 0, addrA)
	// A heavier branch from block 150, below the state flushed at 200.
	fork := e.chain(main[149], 120, func(b *chaingen.BlockGen) {
		b.SetExtra([]byte("fork"))
		b.Transfer(1, addrB, big.NewInt(1000))
	})
	e.insert(fork...)
	if e.c.CurrentBlock().Hash() != fork[len(fork)-1].Hash() {
		t.Fatal("the heavier branch did not become the head")
	}
	for _, c := range [][2]uint64{{20, 100}, {100, 20}, {150, 20}} {
		checkState(t, e, c[0], c[1], 0, addrA)
	}
	checkState(t, e, 180, 20, 150, addrB)
	checkState(t, e, 270, 20, 150, addrB)
	// The dropped block 180 is no longer served.
	if _, err := e.c.TriesAtBlock(main[179].Header()); !errors.Is(err, ErrStateUnavailable) {
		t.Fatalf("tries of the dropped block 180: %v", err)
	}
	// The branch's blocks reach the history as the chain grows.
	e.insert(e.chain(e.c.CurrentBlock(), 200, func(b *chaingen.BlockGen) { b.Transfer(1, addrB, big.NewInt(1000)) })...)
	for _, n := range []uint64{151, 180, 270, 300} {
		checkState(t, e, n, 20, 150, addrB)
	}
	checkState(t, e, 100, 300, 0, addrA)
	if _, err := e.c.TriesAtBlock(main[179].Header()); !errors.Is(err, ErrStateUnavailable) {
		t.Fatalf("tries of the dropped block 180: %v", err)
	}
	// A shallow reorg within the memory layers.
	head := e.c.CurrentBlock()
	parent := e.c.GetBlockByNumber(head.NumberU64() - 2)
	shallow := e.chain(parent, 3, func(b *chaingen.BlockGen) {
		b.SetExtra([]byte("shallow"))
		b.Transfer(1, addrB, big.NewInt(1000))
	})
	e.insert(shallow...)
	if e.c.CurrentBlock().Hash() != shallow[2].Hash() {
		t.Fatal("the shallow fork did not become the head")
	}
	for _, n := range []uint64{180, 300, head.NumberU64() + 1} {
		checkState(t, e, n, 20, 150, addrB)
	}
}

// TestProofWindowRestart: a clean restart, an unclean stop after a flush,
// a run without the window and a run with it again keep proofs working
// (the run without the window deletes the history and its indexes; the
// next run with it starts a new history instead of failing on the gap).
func TestProofWindowRestart(t *testing.T) {
	e := newWindowEnv(t, 1024, 100)
	e.insert(e.chain(e.gen.Genesis(), 250, transfers(addrA))...)
	e.close()
	e.open()
	for _, n := range []uint64{10, 120, 240} {
		checkState(t, e, n, 250, 0, addrA)
	}
	// Unclean stop: the memory layers are lost and the blocks above the
	// persisted state (or the last journal) are re-executed on start.
	e.insert(e.chain(e.c.CurrentBlock(), 60, transfers(addrA))...)
	e.crash()
	e.open()
	if e.c.CurrentBlock().NumberU64() != 310 {
		t.Fatalf("head %d after the crash, want 310", e.c.CurrentBlock().NumberU64())
	}
	for _, n := range []uint64{10, 120, 240, 299, 305} {
		checkState(t, e, n, 1, 0, addrA)
	}
	// A run without the window (as `peerchain export` opens a data dir)
	// leaves the history and its indexes alone.
	e.close()
	e.proofWindow = 0
	e.open()
	trienodes := filepath.Join(e.dir, "ancient", rawdb.MerkleTrienodeFreezerName)
	if _, err := os.Stat(trienodes); err != nil {
		t.Fatalf("trie node history deleted by a run without the window: %v", err)
	}
	if len(rawdb.ReadStateHistoryIndexMetadata(e.db.StateDB())) == 0 {
		t.Fatal("history indexes deleted by a run without the window")
	}
	// It imports blocks: the trie node history now stops short of the
	// state, a gap pathdb refuses to open with.
	e.insert(e.chain(e.c.CurrentBlock(), 150, transfers(addrA))...)
	// With the window again: the trie node history starts again at the
	// state on disk; older blocks of the window are not served. (Until the
	// first new history is written pathdb reports its index as not ready.)
	e.close()
	e.proofWindow = 1024
	e.open()
	var we *WindowError
	if _, err := e.c.StateAtBlock(e.c.GetHeaderByNumber(120)); !errors.Is(err, ErrStateUnavailable) || errors.As(err, &we) {
		t.Fatalf("state of block 120, before the history restarted: %v", err)
	}
	e.insert(e.chain(e.c.CurrentBlock(), 250, transfers(addrA))...)
	for _, n := range []uint64{480, 600, 700} {
		checkState(t, e, n, 10, 0, addrA)
	}
	_, err := e.c.StateAtBlock(e.c.GetHeaderByNumber(120))
	if !errors.Is(err, ErrStateUnavailable) || errors.As(err, &we) || errors.Is(err, ErrHistoryIndexing) {
		t.Fatalf("state of block 120, before the history restarted: %v", err)
	}
	t.Log(err)
}

// TestProofWindowAfterCrashWithoutFlush: a crash loses histories written
// past the persisted state (pathdb truncates them on start) while their
// index survives; re-executing the blocks writes them again and proofs
// work once the indexer has caught up.
func TestProofWindowAfterCrashWithoutFlush(t *testing.T) {
	e := newWindowEnv(t, 1024, -1)
	e.insert(e.chain(e.gen.Genesis(), 300, transfers(addrA))...)
	checkState(t, e, 50, 300, 0, addrA)
	e.crash()
	e.open()
	for _, n := range []uint64{10, 150, 171, 172, 290} {
		checkState(t, e, n, 300, 0, addrA)
	}
}

// TestProofWindowStaleIndexRebuilt: a deep reorg in a run without the
// window rolls the state history back under indexes that pathdb does not
// maintain then; the next run with the window rebuilds them instead of
// reading the dropped branch's index (which misplaces the new branch's
// changes: a balance read from the flat history came out wrong).
func TestProofWindowStaleIndexRebuilt(t *testing.T) {
	e := newWindowEnv(t, 1024, 100)
	main := e.chain(e.gen.Genesis(), 260, transfers(addrA))
	e.insert(main...)
	checkState(t, e, 150, 20, 0, addrA) // indexed
	e.close()
	e.proofWindow = 0
	e.open()
	// A heavier branch from block 150, below the state flushed at 200.
	e.insert(e.chain(main[149], 120, func(b *chaingen.BlockGen) {
		b.SetExtra([]byte("fork"))
		b.Transfer(1, addrB, big.NewInt(1000))
	})...)
	if stale, err := chaindb.ReadHistoryIndexStale(e.db); err != nil || !stale {
		t.Fatalf("rollback without the window not marked: %v %v", stale, err)
	}
	e.close()
	e.proofWindow = 1024
	e.open()
	if stale, err := chaindb.ReadHistoryIndexStale(e.db); err != nil || stale {
		t.Fatalf("stale marker kept after the rebuild: %v %v", stale, err)
	}
	e.insert(e.chain(e.c.CurrentBlock(), 200, func(b *chaingen.BlockGen) { b.Transfer(1, addrB, big.NewInt(1000)) })...)
	// The new history serves the branch.
	for _, n := range []uint64{280, 300, 350} {
		checkState(t, e, n, 20, 150, addrB)
	}
	// Older states are served right or not at all: addrB had nothing
	// before block 151, addrA its 1000 wei a block.
	for _, n := range []uint64{20, 100, 149, 200, 250} {
		h := e.c.GetHeaderByNumber(n)
		var st *state.StateDB
		err := waitHistory(t, func() (err error) { st, err = e.c.StateAtBlock(h); return err })
		if err != nil {
			if !errors.Is(err, ErrStateUnavailable) {
				t.Fatalf("state of block %d: %v", n, err)
			}
			continue
		}
		wantA, wantB := int64(min(n, 150))*1000, int64(max(n, 150)-150)*1000
		if a, b := st.GetBalance(addrA).ToBig().Int64(), st.GetBalance(addrB).ToBig().Int64(); a != wantA || b != wantB || st.Error() != nil {
			t.Fatalf("state of block %d: balances %d and %d, want %d and %d (%v)", n, a, b, wantA, wantB, st.Error())
		}
	}
}
