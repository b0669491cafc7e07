package devnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"net"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/ethereum/go-ethereum/trie"
)

// The honest peer behind the liar: fixed answers, a block of two
// transactions and an empty one, two receipts, a contract and an account
// without code.
var (
	contractAddr = common.HexToAddress("0xc0de")
	plainAddr    = common.HexToAddress("0x0a11ce")
	brokenAddr   = common.HexToAddress("0xbad")
	knownTx      = common.HexToHash("0x7a")
	contractCode = common.FromHex("60015460005260206000f3")
)

type honest struct {
	full, empty *types.Block
	receipts    []hexutil.Bytes
}

func newHonest(t *testing.T) *honest {
	t.Helper()
	to := common.HexToAddress("0x77")
	var txs types.Transactions
	for n := uint64(0); n < 2; n++ {
		txs = append(txs, types.NewTx(&types.LegacyTx{Nonce: n, To: &to, Value: big.NewInt(1), Gas: 21000, GasPrice: big.NewInt(1)}))
	}
	h := &honest{
		full:  types.NewBlock(&types.Header{Number: big.NewInt(5), Difficulty: big.NewInt(1)}, &types.Body{Transactions: txs}, nil, trie.NewStackTrie(nil)),
		empty: types.NewBlock(&types.Header{Number: big.NewInt(6), Difficulty: big.NewInt(1)}, &types.Body{}, nil, trie.NewStackTrie(nil)),
	}
	for i := range txs {
		r := &types.Receipt{Status: types.ReceiptStatusSuccessful, CumulativeGasUsed: uint64(21000 * (i + 1)), Logs: []*types.Log{}}
		enc, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		h.receipts = append(h.receipts, enc)
	}
	return h
}

// codedError is an error with a JSON-RPC code, as a peer answers.
type codedError struct{}

func (codedError) Error() string  { return "state of block 9 is not available" }
func (codedError) ErrorCode() int { return -32099 }

type honestEth struct{ h *honest }

func (e honestEth) BlockNumber() hexutil.Uint64 { return 6 }
func (e honestEth) ChainId() hexutil.Uint64     { return 1337 }
func (e honestEth) GetBlockByNumber(n string, full bool) map[string]any {
	return map[string]any{"number": "0x6", "hash": e.h.empty.Hash(), "totalDifficulty": "0xc"}
}
func (e honestEth) GetProof(addr common.Address, keys []string, block json.RawMessage) map[string]any {
	return map[string]any{"address": addr, "balance": "0x7", "nonce": "0x1", "codeHash": crypto.Keccak256Hash(contractCode),
		"storageHash": types.EmptyRootHash, "accountProof": []hexutil.Bytes{{0xf8, 0x51, 0x80}, {0xe2, 0x10, 0x20}},
		"storageProof": []map[string]any{{"key": "0x1", "value": "0x2", "proof": []hexutil.Bytes{{0xaa, 0xbb}}}}}
}
func (e honestEth) GetCode(addr common.Address, block json.RawMessage) (hexutil.Bytes, error) {
	switch addr {
	case contractAddr:
		return contractCode, nil
	case brokenAddr:
		return nil, codedError{}
	}
	return hexutil.Bytes{}, nil
}
func (e honestEth) GetTransactionByHash(h common.Hash) map[string]any {
	if h != knownTx {
		return nil
	}
	return map[string]any{"hash": h, "blockHash": e.h.full.Hash(), "transactionIndex": "0x1"}
}
func (e honestEth) SendRawTransaction(data hexutil.Bytes) common.Hash {
	return crypto.Keccak256Hash(data)
}

type honestPeerchain struct{ h *honest }

func (p honestPeerchain) GetRawHeaders(start, count hexutil.Uint64) []hexutil.Bytes {
	enc, _ := rlp.EncodeToBytes(p.h.full.Header())
	return []hexutil.Bytes{enc}
}
func (p honestPeerchain) GetRawBlock(h common.Hash) hexutil.Bytes {
	for _, b := range []*types.Block{p.h.full, p.h.empty} {
		if b.Hash() == h {
			enc, _ := rlp.EncodeToBytes(b)
			return enc
		}
	}
	return nil
}
func (p honestPeerchain) GetRawReceipts(h common.Hash) []hexutil.Bytes {
	switch h {
	case p.h.full.Hash():
		return p.h.receipts
	case p.h.empty.Hash():
		return []hexutil.Bytes{}
	}
	return nil
}

// liarRig is an honest peer, the liar in front of it, and a client of
// each.
type liarRig struct {
	h            *honest
	liar         *Liar
	truth, lying *gethrpc.Client
}

func newLiarRig(t *testing.T) *liarRig {
	t.Helper()
	h := newHonest(t)
	srv := gethrpc.NewServer()
	for ns, api := range map[string]any{"eth": honestEth{h}, "peerchain": honestPeerchain{h}} {
		if err := srv.RegisterName(ns, api); err != nil {
			t.Fatal(err)
		}
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Stop() })
	liar, err := NewLiar(LiarConfig{Honest: hs.URL})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- liar.Serve(ln) }()
	t.Cleanup(func() {
		liar.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	r := &liarRig{h: h, liar: liar}
	for _, c := range []struct {
		url string
		to  **gethrpc.Client
	}{{hs.URL, &r.truth}, {"http://" + ln.Addr().String(), &r.lying}} {
		cl, err := gethrpc.Dial(c.url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		*c.to = cl
	}
	return r
}

// both returns the honest answer and the liar's to one call.
func (r *liarRig) both(t *testing.T, method string, args ...any) (truth, lie json.RawMessage) {
	t.Helper()
	ctx := context.Background()
	if err := r.truth.CallContext(ctx, &truth, method, args...); err != nil {
		t.Fatalf("%s (honest): %v", method, err)
	}
	if err := r.lying.CallContext(ctx, &lie, method, args...); err != nil {
		t.Fatalf("%s (liar): %v", method, err)
	}
	return truth, lie
}

// The liar alters exactly the answers it is meant to, in exactly the way
// documented, and forwards everything else byte for byte.
func TestLiarAltersWhatItShould(t *testing.T) {
	r := newLiarRig(t)
	full, empty := r.h.full, r.h.empty

	t.Run("eth_getProof: one byte of the last account proof node", func(t *testing.T) {
		truth, lie := r.both(t, "eth_getProof", contractAddr, []string{"0x1"}, "latest")
		var tm, lm map[string]json.RawMessage
		_ = json.Unmarshal(truth, &tm)
		_ = json.Unmarshal(lie, &lm)
		var tn, ln []hexutil.Bytes
		_ = json.Unmarshal(tm["accountProof"], &tn)
		_ = json.Unmarshal(lm["accountProof"], &ln)
		if len(tn) != 2 || len(ln) != 2 || !bytes.Equal(tn[0], ln[0]) || bytes.Equal(tn[1], ln[1]) {
			t.Fatalf("account proof %x, honest %x: want only the last node altered", ln, tn)
		}
		if diff := xorBytes(tn[1], ln[1]); !bytes.Equal(diff, []byte{0, 0, 1}) {
			t.Fatalf("last node %x, honest %x: want its last byte flipped", ln[1], tn[1])
		}
		delete(tm, "accountProof")
		delete(lm, "accountProof")
		if !reflect.DeepEqual(tm, lm) {
			t.Fatalf("other fields altered: %s, honest %s", lie, truth)
		}
	})
	t.Run("eth_getCode: other code", func(t *testing.T) {
		_, lie := r.both(t, "eth_getCode", contractAddr, "latest")
		var code hexutil.Bytes
		_ = json.Unmarshal(lie, &code)
		if len(code) != len(contractCode) || crypto.Keccak256Hash(code) == crypto.Keccak256Hash(contractCode) {
			t.Fatalf("code %x, honest %x: want other code of the same length", code, contractCode)
		}
		if _, lie := r.both(t, "eth_getCode", plainAddr, "latest"); string(lie) != `"0xfe"` {
			t.Fatalf("code of an account without any: %s, want 0xfe", lie)
		}
	})
	t.Run("peerchain_getRawReceipts: the last receipt dropped", func(t *testing.T) {
		_, lie := r.both(t, "peerchain_getRawReceipts", full.Hash())
		var rs []hexutil.Bytes
		_ = json.Unmarshal(lie, &rs)
		if len(rs) != 1 || !bytes.Equal(rs[0], r.h.receipts[0]) {
			t.Fatalf("receipts %x, want the first of %x", rs, r.h.receipts)
		}
	})
	t.Run("eth_getTransactionByHash: null", func(t *testing.T) {
		if truth, lie := r.both(t, "eth_getTransactionByHash", knownTx); string(lie) != "null" || string(truth) == "null" {
			t.Fatalf("transaction %s, honest %s: want null", lie, truth)
		}
	})
	t.Run("peerchain_getRawBlock: another body", func(t *testing.T) {
		for _, c := range []struct {
			block *types.Block
			txs   int
		}{{full, 1}, {empty, 1}} {
			_, lie := r.both(t, "peerchain_getRawBlock", c.block.Hash())
			var enc hexutil.Bytes
			_ = json.Unmarshal(lie, &enc)
			b := new(types.Block)
			if err := rlp.DecodeBytes(enc, b); err != nil {
				t.Fatalf("block %d: the lie does not decode: %v", c.block.Number(), err)
			}
			if b.Hash() != c.block.Hash() || len(b.Transactions()) != c.txs {
				t.Fatalf("block %d: header %s, %d transactions; want the same header and %d", c.block.Number(), b.Hash(), len(b.Transactions()), c.txs)
			}
			if types.DeriveSha(b.Transactions(), trie.NewStackTrie(nil)) == c.block.TxHash() {
				t.Fatalf("block %d: the other body still matches the transactions root", c.block.Number())
			}
		}
	})

	// Forwarded as they are: what cannot be altered into a lie, and what
	// the liar does not lie about.
	for _, c := range []struct {
		method string
		args   []any
	}{
		{"peerchain_getRawReceipts", []any{empty.Hash()}},
		{"peerchain_getRawReceipts", []any{common.HexToHash("0x404")}},
		{"peerchain_getRawBlock", []any{common.HexToHash("0x404")}},
		{"eth_getTransactionByHash", []any{common.HexToHash("0x404")}},
		{"eth_getBlockByNumber", []any{"latest", false}},
		{"peerchain_getRawHeaders", []any{"0x5", "0x1"}},
		{"eth_sendRawTransaction", []any{"0x01020304"}},
		{"eth_blockNumber", nil},
		{"eth_chainId", nil},
	} {
		if truth, lie := r.both(t, c.method, c.args...); !bytes.Equal(truth, lie) {
			t.Errorf("%s %v: the liar answered %s, the honest peer %s", c.method, c.args, lie, truth)
		}
	}
	// An error comes through with its code.
	var out json.RawMessage
	err := r.lying.CallContext(context.Background(), &out, "eth_getCode", brokenAddr, "latest")
	var re gethrpc.Error
	if !errors.As(err, &re) || re.ErrorCode() != -32099 || err.Error() != (codedError{}).Error() {
		t.Fatalf("an honest error through the liar: %v", err)
	}
	// What it does not serve does not exist.
	if err := r.lying.CallContext(context.Background(), &out, "eth_getBalance", plainAddr, "latest"); err == nil {
		t.Fatal("the liar serves eth_getBalance")
	}

	want := map[string]int{"eth_getProof": 1, "eth_getCode": 2, "peerchain_getRawReceipts": 1, "eth_getTransactionByHash": 1, "peerchain_getRawBlock": 2}
	if got := r.liar.Told(); !reflect.DeepEqual(got, want) {
		t.Fatalf("lies told %v, want %v", got, want)
	}
}

func xorBytes(a, b []byte) []byte {
	out := make([]byte, len(a))
	for i := range a {
		out[i] = a[i] ^ b[i]
	}
	return out
}

func TestNewLiarNeedsAnHonestPeer(t *testing.T) {
	if _, err := NewLiar(LiarConfig{}); err == nil {
		t.Fatal("a liar without an honest peer")
	}
}
