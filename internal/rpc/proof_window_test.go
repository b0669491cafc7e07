package rpc

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethdb/memorydb"
	gparams "github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/ethereum/go-ethereum/trie"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/chaindb"
	"github.com/peerchain/peerchain/internal/txpool"
)

// windowPayee receives 1000 wei in every block of these tests, so its
// balance differs at every block.
var windowPayee = common.HexToAddress("0x00000000000000000000000000000000000fee01")

// newWindowEnv is newEnv on a chain with a proof window and a short flush
// interval (states soon fall below the persisted one).
func newWindowEnv(t *testing.T, window uint64, flush int) *env {
	t.Helper()
	var c *chain.Chain
	var pool *txpool.Pool
	e := newEnvWith(t, Config{}, func(b *Backend) {
		g := b.Chain.(*chain.Chain).GenesisSpec()
		db, err := chaindb.Open(t.TempDir(), chaindb.KVOptions{CacheBytes: 4 << 20, MemTableBytes: 2 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if c, err = chain.New(chain.Config{Genesis: g, DB: db, ProofWindow: window, FlushInterval: flush}); err != nil {
			db.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := c.Close(); err != nil {
				t.Error(err)
			}
			db.Close()
		})
		if pool, err = txpool.New(txpool.Config{Chain: c}); err != nil {
			t.Fatal(err)
		}
		b.Chain, b.Pool = c, LocalPool(pool)
	})
	e.chain, e.pool = c, pool
	return e
}

func payWindowPayee(b *chaingen.BlockGen) { b.Transfer(0, windowPayee, big.NewInt(1000)) }

// getProof calls eth_getProof, retrying while the node's history index is
// still being built (the first seconds after the chain opens).
func (e *env) getProof(addr common.Address, keys []string, block any) (*accountProof, *jsonError) {
	e.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		res, jerr := e.call("eth_getProof", addr, keys, block)
		if jerr != nil && strings.Contains(jerr.Message, "indexed") && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if jerr != nil {
			return nil, jerr
		}
		var p accountProof
		if err := json.Unmarshal(res, &p); err != nil {
			e.t.Fatalf("eth_getProof answer %s: %v", res, err)
		}
		return &p, nil
	}
}

func proofDB(nodes []string) *memorydb.Database {
	db := memorydb.New()
	for _, n := range nodes {
		b := hexutil.MustDecode(n)
		if err := db.Put(crypto.Keccak256(b), b); err != nil {
			panic(err)
		}
	}
	return db
}

// verifyAccountProof checks p's account proof against root as a light peer
// does, and that the proven account is the one answered.
func verifyAccountProof(root common.Hash, p *accountProof) error {
	val, err := trie.VerifyProof(root, crypto.Keccak256(p.Address.Bytes()), proofDB(p.AccountProof))
	if err != nil {
		return err
	}
	if val == nil {
		return fmt.Errorf("proof says %s does not exist", p.Address)
	}
	var acc types.StateAccount
	if err := rlp.DecodeBytes(val, &acc); err != nil {
		return err
	}
	if acc.Balance.ToBig().Cmp(p.Balance.ToInt()) != 0 || acc.Nonce != uint64(p.Nonce) || acc.Root != p.StorageHash || common.BytesToHash(acc.CodeHash) != p.CodeHash {
		return fmt.Errorf("proven account %+v differs from the answer %+v", acc, p)
	}
	return nil
}

// verifySlot checks storage proof i of p against p's storage hash and
// returns the proven value (zero when the proof shows the slot empty).
func verifySlot(p *accountProof, i int) (common.Hash, error) {
	sp := p.StorageProof[i]
	val, err := trie.VerifyProof(p.StorageHash, crypto.Keccak256(common.HexToHash(sp.Key).Bytes()), proofDB(sp.Proof))
	if err != nil {
		return common.Hash{}, err
	}
	var v common.Hash
	if val != nil {
		_, content, _, err := rlp.Split(val)
		if err != nil {
			return common.Hash{}, err
		}
		v = common.BytesToHash(content)
	}
	if v.Big().Cmp(sp.Value.ToInt()) != 0 {
		return common.Hash{}, fmt.Errorf("slot %s: proven %s, answered %v", sp.Key, v, sp.Value)
	}
	return v, nil
}

func windowSlot(n uint64) string { return hexutil.EncodeUint64(n) }

// TestGetProofInWindow: with a proof window, eth_getProof at blocks far
// below the memory layers and the persisted state verifies against each
// block's state root (and not against another's), and the account
// queries and eth_call answer at those blocks; a block outside the window
// answers an error naming it, the window and the flag.
func TestGetProofInWindow(t *testing.T) {
	e := newWindowEnv(t, 1300, 100)
	e.mine(1300, payWindowPayee)
	hist := gparams.HistoryStorageAddress
	for _, c := range []struct{ n, other uint64 }{{1, 500}, {500, 1100}, {1100, 500}} {
		h := e.chain.GetHeaderByNumber(c.n)
		block := hexutil.EncodeUint64(c.n)
		p, jerr := e.getProof(windowPayee, []string{}, block)
		if jerr != nil {
			t.Fatalf("eth_getProof at block %d: %+v", c.n, jerr)
		}
		if err := verifyAccountProof(h.Root, p); err != nil {
			t.Fatalf("account proof at block %d: %v", c.n, err)
		}
		if p.Balance.ToInt().Int64() != int64(c.n)*1000 {
			t.Fatalf("balance at block %d: %v", c.n, p.Balance)
		}
		if err := verifyAccountProof(e.chain.GetHeaderByNumber(c.other).Root, p); err == nil {
			t.Fatalf("the proof of block %d verifies against the state root of block %d", c.n, c.other)
		}
		// The history contract: block n stored its parent's hash at slot
		// n-1; slot 600 holds block 600's hash from block 601 on.
		hp, jerr := e.getProof(hist, []string{windowSlot(c.n - 1), windowSlot(600)}, block)
		if jerr != nil {
			t.Fatalf("eth_getProof of the history contract at block %d: %+v", c.n, jerr)
		}
		if err := verifyAccountProof(h.Root, hp); err != nil {
			t.Fatalf("history contract proof at block %d: %v", c.n, err)
		}
		if v, err := verifySlot(hp, 0); err != nil || v != h.ParentHash {
			t.Fatalf("slot %d at block %d: %s %v, want %s", c.n-1, c.n, v, err, h.ParentHash)
		}
		want600 := common.Hash{}
		if c.n > 600 {
			want600 = e.chain.GetHeaderByNumber(600).Hash()
		}
		if v, err := verifySlot(hp, 1); err != nil || v != want600 {
			t.Fatalf("slot 600 at block %d: %s %v, want %s", c.n, v, err, want600)
		}
		// The account queries and eth_call at the block, by number and hash.
		for _, b := range []any{block, map[string]any{"blockHash": h.Hash()}} {
			if res, jerr := e.call("eth_getBalance", windowPayee, b); jerr != nil || string(res) != fmt.Sprintf("%q", hexutil.EncodeUint64(c.n*1000)) {
				t.Fatalf("eth_getBalance at block %d (%v): %s %+v", c.n, b, res, jerr)
			}
		}
		if res, jerr := e.call("eth_getTransactionCount", chaingen.Addr(0), block); jerr != nil || string(res) != fmt.Sprintf("%q", hexutil.EncodeUint64(c.n)) {
			t.Fatalf("eth_getTransactionCount at block %d: %s %+v", c.n, res, jerr)
		}
		if res, jerr := e.call("eth_getStorageAt", hist, windowSlot(c.n-1), block); jerr != nil || string(res) != fmt.Sprintf("%q", h.ParentHash.Hex()) {
			t.Fatalf("eth_getStorageAt at block %d: %s %+v", c.n, res, jerr)
		}
		if res, jerr := e.call("eth_getCode", hist, block); jerr != nil || len(res) < 10 {
			t.Fatalf("eth_getCode at block %d: %s %+v", c.n, res, jerr)
		}
		// get(n-1) on the history contract returns block n-1's hash.
		input := hexutil.Encode(common.BigToHash(new(big.Int).SetUint64(c.n - 1)).Bytes())
		if res, jerr := e.call("eth_call", map[string]any{"to": hist, "input": input}, block); jerr != nil || string(res) != fmt.Sprintf("%q", h.ParentHash.Hex()) {
			t.Fatalf("eth_call at block %d: %s %+v", c.n, res, jerr)
		}
	}
	// The window moves with the head: at head 1350, blocks 1 to 50 are out.
	e.mine(50, payWindowPayee)
	for _, c := range []struct {
		method string
		params []any
	}{
		{"eth_getProof", []any{windowPayee, []string{}, "0x32"}},
		{"eth_getBalance", []any{windowPayee, "0x32"}},
		{"eth_getStorageAt", []any{hist, "0x0", "0x32"}},
		{"eth_getCode", []any{hist, "0x32"}},
		{"eth_getTransactionCount", []any{chaingen.Addr(0), "0x32"}},
		{"eth_call", []any{map[string]any{"to": hist, "input": hexutil.Encode(make([]byte, 32))}, "0x32"}},
	} {
		_, jerr := e.call(c.method, c.params...)
		if jerr == nil || !strings.Contains(jerr.Message, "block 50 ") || !strings.Contains(jerr.Message, "last 1300 blocks") ||
			!strings.Contains(jerr.Message, "51 to 1350") || !strings.Contains(jerr.Message, "--provider.proofwindow") {
			t.Fatalf("%s outside the window: %+v", c.method, jerr)
		}
	}
	p, jerr := e.getProof(windowPayee, []string{}, "0x33")
	if jerr != nil || verifyAccountProof(e.chain.GetHeaderByNumber(51).Root, p) != nil || p.Balance.ToInt().Int64() != 51_000 {
		t.Fatalf("eth_getProof at block 51, the oldest of the window: %+v", jerr)
	}
}

// TestGetProofWithoutWindow: without a window, old states answer an
// error naming the block and the flag, recent ones prove as before.
func TestGetProofWithoutWindow(t *testing.T) {
	e := newEnv(t, Config{})
	e.mine(200, payWindowPayee)
	for _, m := range []struct {
		method string
		params []any
	}{
		{"eth_getProof", []any{windowPayee, []string{}, "0xa"}},
		{"eth_getBalance", []any{windowPayee, "0xa"}},
	} {
		_, jerr := e.call(m.method, m.params...)
		if jerr == nil || !strings.Contains(jerr.Message, "state of block 10 is not available") || !strings.Contains(jerr.Message, "last 128 blocks") ||
			!strings.Contains(jerr.Message, "--provider.proofwindow") {
			t.Fatalf("%s at block 10 without a window: %+v", m.method, jerr)
		}
	}
	for _, n := range []uint64{100, 200} {
		p, jerr := e.getProof(windowPayee, []string{}, hexutil.EncodeUint64(n))
		if jerr != nil {
			t.Fatalf("eth_getProof at block %d: %+v", n, jerr)
		}
		if err := verifyAccountProof(e.chain.GetHeaderByNumber(n).Root, p); err != nil || p.Balance.ToInt().Int64() != int64(n)*1000 {
			t.Fatalf("proof at block %d: %v %v", n, err, p.Balance)
		}
	}
}
