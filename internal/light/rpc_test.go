package light

import (
	"bytes"
	"context"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
)

// rawCall returns a method's JSON result (or error text) from url.
func rawCall(t *testing.T, c *gethrpc.Client, method string, args ...any) string {
	t.Helper()
	var raw json.RawMessage
	if err := c.CallContext(context.Background(), &raw, method, args...); err != nil {
		return "error: " + err.Error()
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// The light peer serves the full peer's JSON-RPC, answer for answer,
// checking everything against its headers.
func TestLightRPCAnswersAsTheFullPeer(t *testing.T) {
	p := newProvider(t, stateGenesis)
	gen := p.env.Gen
	blocks := p.extend(t, 12, func(b *chaingen.BlockGen) {
		b.Transfer(b.Index()%4, common.HexToAddress("0x77"), big.NewInt(1))
		if b.Index()%3 == 0 {
			tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(1337), Nonce: b.Nonce(chaingen.Addr(3)),
				GasTipCap: big.NewInt(1e9), GasFeeCap: new(big.Int).Add(b.BaseFee(), big.NewInt(2e9)), Gas: 100_000, To: &logAddr}), gen.Signer(), chaingen.Key(3))
			if err != nil {
				t.Fatal(err)
			}
			b.AddTx(tx)
		}
	})
	p.extend(t, 2, nil) // empty blocks at the head: no source is needed for them
	// A liar asked first alters every kind of answer the light peer takes;
	// it is caught and every answer still equals the full peer's.
	lie := newLyingProxy(t, p.url, map[string]func(json.RawMessage) json.RawMessage{
		"eth_getProof": flipLastNode("accountProof"),
		"eth_getCode":  func(json.RawMessage) json.RawMessage { return json.RawMessage(`"0x6001"`) },
		"peerchain_getRawReceipts": func(raw json.RawMessage) json.RawMessage {
			var encs []hexutil.Bytes
			_ = json.Unmarshal(raw, &encs)
			if len(encs) > 0 {
				encs = encs[:len(encs)-1]
			}
			out, _ := json.Marshal(encs)
			return out
		},
		"eth_getTransactionByHash": func(json.RawMessage) json.RawMessage { return json.RawMessage("null") },
		// The light peer runs calls itself: a source's eth_call answer is
		// never taken, and its access list is only a hint of what to prove.
		"eth_call": func(json.RawMessage) json.RawMessage {
			return json.RawMessage(`"0x00000000000000000000000000000000000000000000000000000000000bad00"`)
		},
		"eth_createAccessList": func(json.RawMessage) json.RawMessage {
			return json.RawMessage(`{"accessList":[{"address":"0x000000000000000000000000000000000000dead","storageKeys":["0x00000000000000000000000000000000000000000000000000000000000000ff"]}],"gasUsed":"0x1"}`)
		},
		"eth_getTransactionCount": func(json.RawMessage) json.RawMessage { return json.RawMessage(`"0x0"`) },
	})
	l := startLight(t, Config{Providers: []string{lie.url, p.url}, Genesis: mustGenesis(t, stateGenesis)})
	waitFor(t, 20*time.Second, "the light peer to sync", func() bool { return l.Headers().CurrentHeader().Number.Uint64() == 14 })
	full, err := gethrpc.Dial(p.url)
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	lc, err := gethrpc.Dial("http://" + l.RPCAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	logTx := blocks[3].Transactions()[1].Hash()
	one := hexutil.EncodeBig(big.NewInt(1))
	call := map[string]any{"to": slotAddr, "data": "0x"}
	logQuery := map[string]any{"fromBlock": "0x1", "toBlock": "latest", "address": logAddr}
	cases := []struct {
		method string
		args   []any
	}{
		{"eth_blockNumber", nil},
		{"eth_chainId", nil},
		{"eth_getBalance", []any{chaingen.Addr(0), "latest"}},
		{"eth_getBalance", []any{slotAddr, "0x5"}},
		{"eth_getBalance", []any{common.HexToAddress("0xabcdef"), "latest"}},
		{"eth_getTransactionCount", []any{chaingen.Addr(3), "latest"}},
		{"eth_getCode", []any{slotAddr, "latest"}},
		{"eth_getStorageAt", []any{slotAddr, one, "latest"}},
		{"eth_call", []any{call, "latest"}},
		{"eth_call", []any{map[string]any{"to": callerAddr}, "latest"}},
		{"eth_createAccessList", []any{map[string]any{"from": chaingen.Addr(1), "to": callerAddr}, "latest"}},
		{"eth_estimateGas", []any{map[string]any{"from": chaingen.Addr(1), "to": logAddr}, "latest"}},
		{"eth_getBlockByNumber", []any{"0x4", true}},
		{"eth_getBlockByNumber", []any{"latest", false}},
		{"eth_getBlockByHash", []any{blocks[7].Hash(), true}},
		{"eth_getBlockTransactionCountByNumber", []any{"0x4"}},
		{"eth_getTransactionByHash", []any{logTx}},
		{"eth_getTransactionByBlockNumberAndIndex", []any{"0x4", "0x1"}},
		{"eth_getTransactionReceipt", []any{logTx}},
		{"eth_getBlockReceipts", []any{"0x4"}},
		{"eth_getLogs", []any{logQuery}},
		{"eth_feeHistory", []any{"0x8", "latest", []float64{10, 50, 90}}},
		{"eth_getProof", []any{slotAddr, []string{one}, "0x6"}},
		{"eth_getTransactionByHash", []any{common.HexToHash("0x1234")}},
	}
	for _, c := range cases {
		want := rawCall(t, full, c.method, c.args...)
		got := rawCall(t, lc, c.method, c.args...)
		if strings.HasPrefix(want, "error:") || want == "null" && c.method != "eth_getTransactionByHash" {
			t.Errorf("%s %v: the full peer answered %s: a comparison that proves nothing", c.method, c.args, want)
		}
		if got != want {
			t.Errorf("%s %v:\n light %s\n full  %s", c.method, c.args, got, want)
		}
	}
	dropped := false
	for _, s := range l.Sources() {
		if s.Name == lie.url && s.Dropped != "" {
			dropped = true
			t.Logf("the liar was caught: %s", s.Dropped)
		}
		if s.Name == p.url && s.Dropped != "" {
			t.Fatalf("the honest provider was dropped: %s", s.Dropped)
		}
	}
	if !dropped {
		t.Fatal("the liar was not caught")
	}
}

// A transaction sent to the light peer reaches the provider's pool, is
// seen pending through the light peer, and is found once mined.
func TestLightSendsTransactions(t *testing.T) {
	p := newProvider(t, stateGenesis)
	p.extend(t, 2, nil)
	l := startLight(t, Config{Providers: []string{p.url}, Genesis: mustGenesis(t, stateGenesis)})
	waitFor(t, 20*time.Second, "the light peer to sync", func() bool { return l.Headers().CurrentHeader().Number.Uint64() == 2 })
	lc, err := gethrpc.Dial("http://" + l.RPCAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	var nonce hexutil.Uint64
	if err := lc.Call(&nonce, "eth_getTransactionCount", chaingen.Addr(2), "pending"); err != nil || nonce != 0 {
		t.Fatalf("pending nonce %d, %v", nonce, err)
	}
	head := p.env.Chain.CurrentBlock()
	tx, err := p.env.Gen.Transfer(chaingen.Key(2), 0, common.HexToAddress("0x99"), big.NewInt(5), head.BaseFee())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tx.MarshalBinary()
	var hash common.Hash
	if err := lc.Call(&hash, "eth_sendRawTransaction", hexutil.Bytes(raw)); err != nil || hash != tx.Hash() {
		t.Fatalf("send: %v", err)
	}
	if p.env.Chain.CurrentBlock() == nil {
		t.Fatal("no head")
	}
	if err := lc.Call(&nonce, "eth_getTransactionCount", chaingen.Addr(2), "pending"); err != nil || nonce != 1 {
		t.Fatalf("pending nonce after sending %d, %v", nonce, err)
	}
	// A transaction the same wallet sent by another route counts once a
	// majority of the sources say so.
	other, err := p.env.Gen.Transfer(chaingen.Key(2), 1, common.HexToAddress("0x98"), big.NewInt(5), head.BaseFee())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.pool.Add([]*types.Transaction{other})[0]; err != nil {
		t.Fatal(err)
	}
	if err := lc.Call(&nonce, "eth_getTransactionCount", chaingen.Addr(2), "pending"); err != nil || nonce != 2 {
		t.Fatalf("pending nonce with a transaction sent elsewhere %d, %v", nonce, err)
	}
	// A refusal by every source is the source's error.
	if err := lc.Call(&hash, "eth_sendRawTransaction", hexutil.Bytes(raw)); err == nil || !strings.Contains(err.Error(), "already known") {
		t.Logf("resend: %v", err) // already known is accepted: no error expected
	}
	// The provider mines them.
	p.extend(t, 1, func(b *chaingen.BlockGen) { b.AddTx(tx); b.AddTx(other) })
	waitFor(t, 20*time.Second, "the light peer to see the block", func() bool { return l.Headers().CurrentHeader().Number.Uint64() == 3 })
	var receipt map[string]any
	if err := lc.Call(&receipt, "eth_getTransactionReceipt", tx.Hash()); err != nil || receipt == nil || receipt["status"] != "0x1" {
		t.Fatalf("receipt: %v %v", receipt, err)
	}
	if err := lc.Call(&nonce, "eth_getTransactionCount", chaingen.Addr(2), "pending"); err != nil || nonce != 2 {
		t.Fatalf("pending nonce after mining %d, %v", nonce, err)
	}
}
