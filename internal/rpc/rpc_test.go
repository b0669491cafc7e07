package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/chain/chaintest"
	"github.com/peerchain/peerchain/internal/txpool"
	"github.com/peerchain/peerchain/internal/wallet"
)

var (
	// returns 42: PUSH1 42 PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
	answerCode = common.FromHex("602a60005260206000f3")
	answerAddr = common.HexToAddress("0x00000000000000000000000000000000000a2a2a")
	// reverts with Error("nope"): CODECOPY the 100-byte payload after the
	// 12-byte prefix into memory and REVERT with it.
	revertCode = common.FromHex("6064600c60003960646000fd" +
		"08c379a0" +
		"0000000000000000000000000000000000000000000000000000000000000020" +
		"0000000000000000000000000000000000000000000000000000000000000004" +
		"6e6f706500000000000000000000000000000000000000000000000000000000")
	revertAddr = common.HexToAddress("0x000000000000000000000000000000000000dead")
	// logAddr runs logCode (see logs_test.go).
	logAddr = common.HexToAddress("0x000000000000000000000000000000000000106c")
	// emits 2,000 empty LOG0s: PUSH2 2000 ‖ JUMPDEST PUSH0 PUSH0 LOG0
	// PUSH1 1 SWAP1 SUB DUP1 PUSH1 3 JUMPI ‖ STOP
	logSpamCode = common.FromHex("6107d0" + "5b5f5fa0600190038060035700")
	logSpamAddr = common.HexToAddress("0x0000000000000000000000000000000000005ba3")
	// loops until the gas or the time runs out: JUMPDEST PUSH1 0 JUMP
	loopCode = common.FromHex("5b600056")
)

type env struct {
	t     *testing.T
	gen   *chaingen.Generator
	chain *chain.Chain
	pool  *txpool.Pool
	srv   *Server
	url   string
	ec    *ethclient.Client
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	return newEnvWith(t, cfg, nil)
}

// newEnvWith is newEnv with the backend's optional parts set by with.
func newEnvWith(t *testing.T, cfg Config, with func(*Backend)) *env {
	t.Helper()
	return newEnvHooked(t, cfg, with, nil)
}

// newEnvHooked is newEnvWith with before run on the server before it
// starts (to set its clocks).
func newEnvHooked(t *testing.T, cfg Config, with func(*Backend), before func(*Server)) *env {
	t.Helper()
	ce := chaintest.New(t, chaingen.GenesisOptions{Alloc: types.GenesisAlloc{
		answerAddr:  {Code: answerCode, Balance: new(big.Int)},
		revertAddr:  {Code: revertCode, Balance: new(big.Int)},
		logAddr:     {Code: logCode, Balance: new(big.Int)},
		logSpamAddr: {Code: logSpamCode, Balance: new(big.Int)},
	}})
	gen, c := ce.Gen, ce.Chain
	p, err := txpool.New(txpool.Config{Chain: c})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = "127.0.0.1:0"
	b := Backend{Chain: c, Pool: LocalPool(p)}
	if with != nil {
		with(&b)
	}
	srv, err := NewServer(cfg, b)
	if err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(srv)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	url := "http://" + srv.Addr().String()
	ec, err := ethclient.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ec.Close(); srv.Close() })
	return &env{t: t, gen: gen, chain: c, pool: p, srv: srv, url: url, ec: ec}
}

// call makes one raw JSON-RPC request and returns result or error object.
func (e *env) call(method string, params ...any) (json.RawMessage, *jsonError) {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	raw := e.post(body)
	var resp struct {
		Result json.RawMessage `json:"result"`
		Error  *jsonError      `json:"error"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		e.t.Fatalf("%s: bad response %s: %v", method, raw, err)
	}
	return resp.Result, resp.Error
}

func (e *env) post(body []byte) []byte {
	e.t.Helper()
	resp, err := http.Post(e.url, "application/json", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return raw
}

type jsonError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data"`
}

func (e *env) mine(n int, f func(*chaingen.BlockGen)) []*types.Block {
	e.t.Helper()
	blocks, err := e.gen.Chain(e.chain.CurrentBlock(), n, f)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, b := range blocks {
		if _, err := e.chain.InsertBlock(b); err != nil {
			e.t.Fatal(err)
		}
	}
	return blocks
}

func TestIdentity(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	id, err := e.ec.ChainID(ctx)
	if err != nil || id.Int64() != 1337 {
		t.Fatalf("chain id %v %v", id, err)
	}
	if res, jerr := e.call("net_version"); jerr != nil || string(res) != `"1337"` {
		t.Fatalf("net_version %s %v", res, jerr)
	}
	if res, jerr := e.call("web3_clientVersion"); jerr != nil || !strings.Contains(string(res), "peerchain/v") {
		t.Fatalf("web3_clientVersion %s %v", res, jerr)
	}
	e.mine(3, nil)
	if n, err := e.ec.BlockNumber(ctx); err != nil || n != 3 {
		t.Fatalf("block number %d %v", n, err)
	}
}

func TestBlocksAndTags(t *testing.T) {
	e := newEnv(t, Config{})
	blocks := e.mine(40, func(b *chaingen.BlockGen) { b.Transfer(0, common.HexToAddress("0x77"), big.NewInt(1)) })
	ctx := context.Background()
	for _, c := range []struct {
		tag  string
		want uint64
	}{{"latest", 40}, {"pending", 40}, {"earliest", 0}, {"safe", 40 - 6}, {"finalized", 40 - 32}, {"0x5", 5}} {
		res, jerr := e.call("eth_getBlockByNumber", c.tag, false)
		if jerr != nil {
			t.Fatalf("%s: %v", c.tag, jerr)
		}
		var b struct {
			Number          hexutil.Uint64 `json:"number"`
			Difficulty      *hexutil.Big   `json:"difficulty"`
			TotalDifficulty *hexutil.Big   `json:"totalDifficulty"`
			Transactions    []common.Hash  `json:"transactions"`
		}
		if err := json.Unmarshal(res, &b); err != nil {
			t.Fatal(err)
		}
		if uint64(b.Number) != c.want || b.Difficulty.ToInt().Sign() <= 0 || b.TotalDifficulty == nil {
			t.Fatalf("%s: block %d (difficulty %v)", c.tag, b.Number, b.Difficulty)
		}
	}
	if res, jerr := e.call("eth_getBlockByNumber", "0x1000", false); jerr != nil || string(res) != "null" {
		t.Fatalf("block above head: %s %v", res, jerr)
	}
	// ethclient decodes and checks the full block including its hash.
	full, err := e.ec.BlockByNumber(ctx, big.NewInt(7))
	if err != nil {
		t.Fatal(err)
	}
	if full.Hash() != blocks[6].Hash() || len(full.Transactions()) != 1 {
		t.Fatalf("block 7: %s with %d txs", full.Hash(), len(full.Transactions()))
	}
	byHash, err := e.ec.BlockByHash(ctx, blocks[6].Hash())
	if err != nil || byHash.Hash() != blocks[6].Hash() {
		t.Fatalf("by hash: %v", err)
	}
	tx := blocks[6].Transactions()[0]
	got, pending, err := e.ec.TransactionByHash(ctx, tx.Hash())
	if err != nil || pending || got.Hash() != tx.Hash() {
		t.Fatalf("tx by hash: %v pending=%v", err, pending)
	}
	r, err := e.ec.TransactionReceipt(ctx, tx.Hash())
	if err != nil || r.Status != 1 || r.BlockNumber.Uint64() != 7 || r.GasUsed != 21000 || r.EffectiveGasPrice.Sign() <= 0 {
		t.Fatalf("receipt %+v %v", r, err)
	}
	if _, err := e.ec.TransactionReceipt(ctx, common.Hash{1}); !errors.Is(err, ethereum.NotFound) {
		t.Fatalf("unknown receipt: %v", err)
	}
	// State at an old block and an unknown one.
	bal, err := e.ec.BalanceAt(ctx, common.HexToAddress("0x77"), big.NewInt(10))
	if err != nil || bal.Int64() != 10 {
		t.Fatalf("balance at 10: %v %v", bal, err)
	}
	if _, jerr := e.call("eth_getBalance", "0x0000000000000000000000000000000000000077", "0x1000"); jerr == nil || jerr.Message != "header not found" {
		t.Fatalf("balance at an unknown block: %+v", jerr)
	}
	code, err := e.ec.CodeAt(ctx, answerAddr, nil)
	if err != nil || !bytes.Equal(code, answerCode) {
		t.Fatalf("code %x %v", code, err)
	}
	nonce, err := e.ec.NonceAt(ctx, chaingen.Addr(0), nil)
	if err != nil || nonce != 40 {
		t.Fatalf("nonce %d %v", nonce, err)
	}
}

func TestSendRawTransaction(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	to := common.HexToAddress("0x99")
	tx, err := e.gen.Transfer(chaingen.Key(1), 0, to, big.NewInt(5), e.chain.CurrentBlock().BaseFee())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ec.SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if _, pending, err := e.ec.TransactionByHash(ctx, tx.Hash()); err != nil || !pending {
		t.Fatalf("pending tx: %v %v", pending, err)
	}
	if n, err := e.ec.PendingNonceAt(ctx, chaingen.Addr(1)); err != nil || n != 1 {
		t.Fatalf("pending nonce %d %v", n, err)
	}
	err = e.ec.SendTransaction(ctx, tx)
	if err == nil || err.Error() != "already known" {
		t.Fatalf("resend: %v", err)
	}
	raw, _ := tx.MarshalBinary()
	if _, jerr := e.call("eth_sendRawTransaction", hexutil.Encode(raw[:len(raw)-3])); jerr == nil || jerr.Code != -32000 {
		t.Fatalf("truncated transaction: %+v", jerr)
	}
	legacy, err := types.SignTx(types.NewTx(&types.LegacyTx{Nonce: 1, GasPrice: big.NewInt(10e9), Gas: 21000, To: &to}), types.HomesteadSigner{}, chaingen.Key(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ec.SendTransaction(ctx, legacy); err == nil || !strings.Contains(err.Error(), "replay-protected") {
		t.Fatalf("unprotected: %v", err)
	}
	low, err := e.gen.Transfer(chaingen.Key(2), 0, to, new(big.Int).Mul(big.NewInt(2000), chaingen.Ether), e.chain.CurrentBlock().BaseFee())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ec.SendTransaction(ctx, low); err == nil || !strings.HasPrefix(err.Error(), "insufficient funds for gas * price + value") {
		t.Fatalf("overspend: %v", err)
	}
}

func TestCallAndEstimate(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	out, err := e.ec.CallContract(ctx, ethereum.CallMsg{To: &answerAddr}, nil)
	if err != nil || new(big.Int).SetBytes(out).Int64() != 42 {
		t.Fatalf("call: %x %v", out, err)
	}
	_, jerr := e.call("eth_call", map[string]any{"to": revertAddr}, "latest")
	if jerr == nil || jerr.Code != 3 || jerr.Message != "execution reverted: nope" || !strings.HasPrefix(fmt.Sprint(jerr.Data), "0x08c379a0") {
		t.Fatalf("revert: %+v", jerr)
	}
	gas, err := e.ec.EstimateGas(ctx, ethereum.CallMsg{From: chaingen.Addr(0), To: &answerAddr})
	if err != nil || gas < 21000 || gas > 21400 { // within the 1.5% search tolerance
		t.Fatalf("estimate of a tiny call: %d %v", gas, err)
	}
	gas, err = e.ec.EstimateGas(ctx, ethereum.CallMsg{From: chaingen.Addr(0), To: &answerAddr, Value: big.NewInt(1)})
	if err != nil {
		t.Fatal(err)
	}
	if _, jerr := e.call("eth_estimateGas", map[string]any{"to": revertAddr}); jerr == nil || jerr.Code != 3 {
		t.Fatalf("estimate of a revert: %+v", jerr)
	}
	poor := common.HexToAddress("0x1234")
	if _, jerr := e.call("eth_estimateGas", map[string]any{"from": poor, "to": answerAddr, "value": "0x1", "maxFeePerGas": "0x3b9aca00"}); jerr == nil || !strings.Contains(jerr.Message, "insufficient funds") {
		t.Fatalf("estimate beyond balance: %+v", jerr)
	}
	if _, jerr := e.call("eth_call", map[string]any{"to": answerAddr, "data": "0x01", "input": "0x02"}); jerr == nil || !strings.Contains(jerr.Message, `both "data" and "input"`) {
		t.Fatalf("data and input: %+v", jerr)
	}
	if _, jerr := e.call("eth_call", map[string]any{"to": answerAddr, "gasPrice": "0x1", "maxFeePerGas": "0x2"}); jerr == nil || !strings.Contains(jerr.Message, "both gasPrice and") {
		t.Fatalf("gasPrice and maxFeePerGas: %+v", jerr)
	}
	tip, err := e.ec.SuggestGasTipCap(ctx)
	if err != nil || tip.Cmp(big.NewInt(1e9)) != 0 {
		t.Fatalf("tip suggestion on an empty chain: %v %v", tip, err)
	}
	price, err := e.ec.SuggestGasPrice(ctx)
	if err != nil || price.Cmp(new(big.Int).Add(tip, e.chain.CurrentBlock().BaseFee())) != 0 {
		t.Fatalf("gas price %v %v", price, err)
	}
}

func TestLimits(t *testing.T) {
	e := newEnv(t, Config{BatchItems: 3, BodyLimit: 1 << 10})
	batch := `[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","id":2,"method":"eth_chainId"},{"jsonrpc":"2.0","id":3,"method":"eth_chainId"},{"jsonrpc":"2.0","id":4,"method":"eth_chainId"}]`
	if out := string(e.post([]byte(batch))); !strings.Contains(out, "batch too large") {
		t.Fatalf("oversized batch: %s", out)
	}
	big := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{"data":"0x%s"}]}`, strings.Repeat("00", 1<<10))
	resp, err := http.Post(e.url, "application/json", strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: status %d", resp.StatusCode)
	}
	if _, jerr := e.call("eth_getBalance", "0xnothex", "latest"); jerr == nil || jerr.Code != -32602 {
		t.Fatalf("bad address: %+v", jerr)
	}
	if _, jerr := e.call("eth_noSuchMethod"); jerr == nil || jerr.Code != -32601 {
		t.Fatalf("unknown method: %+v", jerr)
	}
}

func TestWebSocket(t *testing.T) {
	e := newEnv(t, Config{})
	c, err := gethrpc.Dial("ws://" + e.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var n hexutil.Uint64
	if err := c.Call(&n, "eth_blockNumber"); err != nil || n != 0 {
		t.Fatalf("ws block number %d %v", n, err)
	}
}

func TestEstimatePlainTransfer(t *testing.T) {
	e := newEnv(t, Config{})
	to := common.HexToAddress("0x5555555555555555555555555555555555555555")
	gas, err := e.ec.EstimateGas(context.Background(), ethereum.CallMsg{From: chaingen.Addr(0), To: &to, Value: big.NewInt(7)})
	if err != nil || gas != 21000 {
		t.Fatalf("plain transfer estimate %d %v, want exactly 21000", gas, err)
	}
	if _, jerr := e.call("eth_estimateGas", map[string]any{"from": "0x0000000000000000000000000000000000001234", "to": to, "value": "0x1"}); jerr == nil || !strings.Contains(jerr.Message, "insufficient funds for transfer") {
		t.Fatalf("transfer beyond balance: %+v", jerr)
	}
}

type fakeNet struct {
	syncing bool
	blocked []string
}

func (f *fakeNet) PeerCount() int  { return 1 }
func (f *fakeNet) Listening() bool { return true }
func (f *fakeNet) Peers() []PeerInfo {
	return []PeerInfo{{ID: "12D3KooWtest", Addrs: []string{"/ip4/127.0.0.1/tcp/1"}, Direction: "inbound", LatencyMs: 1.5}}
}
func (f *fakeNet) NodeInfo() NodeInfo {
	return NodeInfo{ID: "12D3KooWself", Listen: []string{"/ip4/127.0.0.1/tcp/2"}}
}
func (f *fakeNet) Syncing() (SyncStatus, bool) {
	return SyncStatus{Starting: 1, Current: 5, Highest: 10, BlocksSec: 2.5, ETA: 2}, f.syncing
}
func (f *fakeNet) AddPeer(addr string) error {
	if !strings.Contains(addr, "/p2p/") {
		return fmt.Errorf("peer address %q: want a multiaddr ending in /p2p/<id>", addr)
	}
	return nil
}
func (f *fakeNet) BlockPeers(ids []string) error { f.blocked = ids; return nil }
func (f *fakeNet) UnblockPeers()                 { f.blocked = nil }

func TestNetworkMethods(t *testing.T) {
	ce := chaintest.New(t, chaingen.GenesisOptions{})
	p, err := txpool.New(txpool.Config{Chain: ce.Chain})
	if err != nil {
		t.Fatal(err)
	}
	net := &fakeNet{}
	srv, err := NewServer(Config{Addr: "127.0.0.1:0"}, Backend{Chain: ce.Chain, Pool: LocalPool(p), Net: net})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	e := &env{t: t, url: "http://" + srv.Addr().String()}
	if res, jerr := e.call("eth_syncing"); jerr != nil || string(res) != "false" {
		t.Fatalf("eth_syncing idle: %s %v", res, jerr)
	}
	net.syncing = true
	res, jerr := e.call("eth_syncing")
	if jerr != nil || !strings.Contains(string(res), `"highestBlock":"0xa"`) || !strings.Contains(string(res), `"blocksPerSecond":2.5`) {
		t.Fatalf("eth_syncing while syncing: %s %v", res, jerr)
	}
	if res, jerr := e.call("peerchain_peers"); jerr != nil || !strings.Contains(string(res), `"direction":"inbound"`) {
		t.Fatalf("peerchain_peers: %s %v", res, jerr)
	}
	if res, jerr := e.call("peerchain_nodeInfo"); jerr != nil || !strings.Contains(string(res), `"id":"12D3KooWself"`) || !strings.Contains(string(res), `"chainId":"0x539"`) {
		t.Fatalf("peerchain_nodeInfo: %s %v", res, jerr)
	}
	if res, jerr := e.call("net_peerCount"); jerr != nil || string(res) != `"0x1"` {
		t.Fatalf("net_peerCount: %s %v", res, jerr)
	}
	if _, jerr := e.call("admin_blockPeers", []string{"a", "b"}); jerr != nil || len(net.blocked) != 2 {
		t.Fatalf("admin_blockPeers: %v %v", jerr, net.blocked)
	}
	if _, jerr := e.call("admin_addPeer", "/ip4/127.0.0.1/tcp/1"); jerr == nil || !strings.Contains(jerr.Message, "/p2p/") {
		t.Fatalf("admin_addPeer without an id: %+v", jerr)
	}
	// Off loopback the admin namespace is not served.
	if isLoopback("0.0.0.0:8545") || !isLoopback("127.0.0.1:8545") || !isLoopback("[::1]:8545") || !isLoopback("localhost:1") {
		t.Fatal("isLoopback misjudges")
	}
}

func TestUnlockedAccounts(t *testing.T) {
	ce := chaintest.New(t, chaingen.GenesisOptions{})
	p, err := txpool.New(txpool.Config{Chain: ce.Chain})
	if err != nil {
		t.Fatal(err)
	}
	u := wallet.NewUnlocked()
	me := u.Add(chaingen.Key(3))
	srv, err := NewServer(Config{Addr: "127.0.0.1:0"}, Backend{Chain: ce.Chain, Pool: LocalPool(p), Accounts: u})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	e := &env{t: t, url: "http://" + srv.Addr().String()}
	if res, jerr := e.call("eth_accounts"); jerr != nil || !strings.Contains(strings.ToLower(string(res)), strings.ToLower(me.Hex())) {
		t.Fatalf("eth_accounts: %s %v", res, jerr)
	}
	to := common.HexToAddress("0x0000000000000000000000000000000000005e4d")
	res, jerr := e.call("eth_sendTransaction", map[string]any{"from": me, "to": to, "value": "0x10"})
	if jerr != nil {
		t.Fatal(jerr)
	}
	var hash common.Hash
	if err := json.Unmarshal(res, &hash); err != nil {
		t.Fatal(err)
	}
	tx := p.Get(hash)
	if tx == nil || tx.Gas() != 21000 || tx.Value().Int64() != 16 || tx.Type() != types.DynamicFeeTxType {
		t.Fatalf("pooled transaction %+v", tx)
	}
	if from, _ := types.Sender(types.LatestSignerForChainID(big.NewInt(1337)), tx); from != me {
		t.Fatalf("signed by %s, want %s", from, me)
	}
	msg := []byte("hello peerchain")
	res, jerr = e.call("personal_sign", hexutil.Encode(msg), me)
	if jerr != nil {
		t.Fatal(jerr)
	}
	var sig hexutil.Bytes
	if err := json.Unmarshal(res, &sig); err != nil || len(sig) != 65 {
		t.Fatalf("signature %s", res)
	}
	sig[64] -= 27
	pub, err := crypto.SigToPub(accounts.TextHash(msg), sig)
	if err != nil || crypto.PubkeyToAddress(*pub) != me {
		t.Fatalf("signature recovers %v (%v), want %s", pub, err, me)
	}
	if _, jerr := e.call("eth_sendTransaction", map[string]any{"from": chaingen.Addr(0), "to": to}); jerr == nil || !strings.Contains(jerr.Message, "unknown account") {
		t.Fatalf("send from a locked account: %+v", jerr)
	}
}
