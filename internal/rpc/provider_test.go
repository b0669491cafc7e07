package rpc

// Provider mode under attack. Every attacker is a client of a public node:
// a greedy client past its budget, a caller of methods a provider must not
// run, a sender filling the pool from one account, proof and WebSocket
// hogs. Each test also shows an honest client (another address, another
// key) keeps its service.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/gorilla/websocket"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/chain/chaintest"
	"github.com/peerchain/peerchain/internal/txpool"
	"github.com/peerchain/peerchain/internal/wallet"
)

const (
	aliceKey = "alice-0123456789abcdef"
	bobKey   = "bob-0123456789abcdef-xyz"
)

// fakeClock is the time of the rate limits: tests move it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now()} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// providerEnv starts a provider whose rate limits run on clock (the real
// one when nil).
func providerEnv(t *testing.T, cfg Config, clock *fakeClock, with func(*Backend)) *env {
	t.Helper()
	cfg.Provider = true
	return newEnvHooked(t, cfg, with, func(s *Server) {
		if clock != nil {
			s.clients.now, s.eth.senders.now = clock.now, clock.now
		}
	})
}

// from is an HTTP client whose connections leave from ip: on Linux all of
// 127.0.0.0/8 reaches lo, so 127.0.0.2 is another client of the node.
func from(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

// send posts body to path over c with the given headers.
func (e *env) send(c *http.Client, path string, header map[string]string, body string) reply {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, raw}
}

// rpcErr is the error of a one-call answer; nil for a result.
func (r reply) rpcErr(t *testing.T) *jsonError {
	t.Helper()
	var a struct {
		Result json.RawMessage `json:"result"`
		Error  *jsonError      `json:"error"`
	}
	if err := json.Unmarshal(r.body, &a); err != nil || (a.Error == nil && a.Result == nil) {
		t.Fatalf("not a JSON-RPC answer (status %d): %s (%v)", r.status, r.body, err)
	}
	return a.Error
}

func callBody(method string, params ...any) string {
	if params == nil {
		params = []any{}
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	return string(b)
}

var answerCall = callBody("eth_call", map[string]any{"to": answerAddr}, "latest")

// dialWSFrom opens a WebSocket client from ip (a loopback address) to
// path.
func (e *env) dialWSFrom(ip, path string) (*gethrpc.Client, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c, err := gethrpc.DialOptions(context.Background(), "ws://"+e.srv.Addr().String()+path,
		gethrpc.WithWebsocketDialer(websocket.Dialer{NetDialContext: d.DialContext}))
	if err == nil {
		e.t.Cleanup(c.Close)
	}
	return c, err
}

// A greedy client spends its budget: its next request gets HTTP 429 with
// Retry-After and -32005 naming the limit, a batch an error per call,
// until time refills its bucket; meanwhile another address and another
// key, even from the greedy client's own address, are served in full.
func TestProviderRateLimit(t *testing.T) {
	clock := newFakeClock()
	e := providerEnv(t, Config{ClientRate: 1, ClientBurst: 40, Keys: []APIKey{{Name: "alice", Key: aliceKey, Rate: 1000, Burst: 1000}}}, clock, nil)
	greedy, other := from(t, "127.0.0.1"), from(t, "127.0.0.2")
	for i := 0; i < 2; i++ { // 20 units each: the whole burst
		if r := e.send(greedy, "/", nil, answerCall); r.status != http.StatusOK || r.rpcErr(t) != nil {
			t.Fatalf("eth_call %d within the budget: %d %s", i, r.status, r.body)
		}
	}
	r := e.send(greedy, "/", nil, answerCall)
	jerr := r.rpcErr(t)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "20" || jerr == nil || jerr.Code != errcodeLimit ||
		!strings.Contains(jerr.Message, "rate limit exceeded: client 127.0.0.1 may spend 1 units a second, 40 at once (--provider.rate, --provider.burst)") {
		t.Fatalf("eth_call over the budget: status %d, Retry-After %q, %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	if data, _ := jerr.Data.(map[string]any); data["retryAfter"] != float64(20) {
		t.Fatalf("error data %v, want retryAfter 20", jerr.Data)
	}
	r = e.send(greedy, "/", nil, "["+callBody("eth_blockNumber")+","+strings.Replace(callBody("eth_chainId"), `"id":1`, `"id":2`, 1)+"]")
	var answers []batchAnswer
	if r.status != http.StatusTooManyRequests || json.Unmarshal(r.body, &answers) != nil || len(answers) != 2 ||
		answers[0].Error == nil || answers[0].Error.Code != errcodeLimit || answers[1].Error == nil || answers[1].Error.Code != errcodeLimit {
		t.Fatalf("batch over the budget: %d %s", r.status, r.body)
	}

	// A large body from a client that cannot pay is not even read: this
	// one never ends.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	body, feed := io.Pipe()
	go func() {
		feed.Write([]byte("[" + strings.Repeat(answerCall+",", 2000)))
		<-ctx.Done()
		feed.CloseWithError(ctx.Err())
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := greedy.Do(req)
	if err != nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("an endless body over the budget: %v %v", resp, err)
	}
	resp.Body.Close()

	for i := 0; i < 2; i++ {
		if r := e.send(other, "/", nil, answerCall); r.status != http.StatusOK || r.rpcErr(t) != nil {
			t.Fatalf("another address, eth_call %d: %d %s", i, r.status, r.body)
		}
	}
	for i := 0; i < 10; i++ {
		if r := e.send(greedy, "/", map[string]string{"Authorization": "Bearer " + aliceKey}, answerCall); r.status != http.StatusOK || r.rpcErr(t) != nil {
			t.Fatalf("a key from the greedy address, eth_call %d: %d %s", i, r.status, r.body)
		}
	}
	if r := e.send(greedy, "/"+aliceKey, nil, answerCall); r.status != http.StatusOK || r.rpcErr(t) != nil {
		t.Fatalf("the key in the URL path: %d %s", r.status, r.body)
	}
	if r := e.send(greedy, "/", map[string]string{"Authorization": "Bearer nobody-0123456789abcdef"}, answerCall); r.status != http.StatusUnauthorized ||
		!strings.Contains(string(r.body), "unknown API key") || strings.Contains(string(r.body), "0x") {
		t.Fatalf("an unknown key: %d %s", r.status, r.body)
	}
	if r := e.send(greedy, "/not-a-key-0123456789", nil, answerCall); r.status != http.StatusUnauthorized {
		t.Fatalf("an unknown key in the path: %d %s", r.status, r.body)
	}

	clock.advance(20 * time.Second)
	if r := e.send(greedy, "/", nil, answerCall); r.status != http.StatusOK || r.rpcErr(t) != nil {
		t.Fatalf("after Retry-After: %d %s", r.status, r.body)
	}
	if r := e.send(greedy, "/", nil, answerCall); r.status != http.StatusTooManyRequests {
		t.Fatalf("over the budget again: %d %s", r.status, r.body)
	}
}

// Over a WebSocket the greedy client gets -32005 for each call (a batch
// for each of its calls) and keeps its connection; its next connection is
// refused while its bucket is empty; a client at another address is
// served meanwhile.
func TestProviderRateLimitWebSocket(t *testing.T) {
	clock := newFakeClock()
	e := providerEnv(t, Config{ClientRate: 1, ClientBurst: 41}, clock, nil)
	greedy, err := e.dialWSFrom("127.0.0.1", "/") // the connection costs 1
	if err != nil {
		t.Fatal(err)
	}
	args := map[string]any{"to": answerAddr}
	var out hexutil.Bytes
	for i := 0; i < 2; i++ {
		if err := greedy.Call(&out, "eth_call", args, "latest"); err != nil {
			t.Fatalf("eth_call %d within the budget: %v", i, err)
		}
	}
	if err := greedy.Call(&out, "eth_call", args, "latest"); !isLimit(err, "rate limit exceeded: client 127.0.0.1", "--provider.rate") {
		t.Fatalf("eth_call over the budget: %v", err)
	}
	var n, id hexutil.Uint64
	batch := []gethrpc.BatchElem{{Method: "eth_blockNumber", Result: &n}, {Method: "eth_chainId", Result: &id}}
	if err := greedy.BatchCall(batch); err != nil || !isLimit(batch[0].Error, "rate limit exceeded") || !isLimit(batch[1].Error, "rate limit exceeded") {
		t.Fatalf("batch over the budget: %v, %v, %v", err, batch[0].Error, batch[1].Error)
	}
	if _, err := e.dialWSFrom("127.0.0.1", "/"); err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("a new connection with an empty bucket: %v", err)
	}
	other, err := e.dialWSFrom("127.0.0.2", "/")
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Call(&out, "eth_call", args, "latest"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	clock.advance(time.Second)
	if err := greedy.Call(&n, "eth_blockNumber"); err != nil {
		t.Fatalf("the greedy connection after a second: %v", err)
	}
}

// A provider serves no method that signs with the node's keys or acts for
// its operator: over HTTP and WebSocket each answers go-ethereum's "does
// not exist" and has no effect. The same node without provider mode runs
// them.
func TestProviderServesNoSigningOrAdmin(t *testing.T) {
	me, to := chaingen.Addr(3), common.HexToAddress("0x5e4d")
	tx := map[string]any{"from": me, "to": to, "value": "0x1"}
	calls := []struct {
		method string
		params []any
	}{
		{"eth_sendTransaction", []any{tx}},
		{"eth_signTransaction", []any{tx}},
		{"eth_sign", []any{me, "0x68656c6c6f"}},
		{"personal_sign", []any{"0x68656c6c6f", me}},
		{"admin_addPeer", []any{"/ip4/10.0.0.1/tcp/30333/p2p/12D3KooWattacker"}},
		{"admin_blockPeers", []any{[]string{"12D3KooWhonest"}}},
		{"admin_unblockPeers", nil},
		{"debug_traceTransaction", []any{common.Hash{}}},
		{"miner_start", nil},
	}
	network := &recordingNet{}
	e := providerEnv(t, Config{}, nil, func(b *Backend) { b.Net = network })
	ws := e.dialWS()
	for _, c := range calls {
		want := fmt.Sprintf("the method %s does not exist/is not available", c.method)
		if _, jerr := e.call(c.method, c.params...); jerr == nil || jerr.Code != -32601 || jerr.Message != want {
			t.Errorf("%s over HTTP: %+v", c.method, jerr)
		}
		var rerr gethrpc.Error
		if err := ws.Call(nil, c.method, c.params...); !errors.As(err, &rerr) || rerr.ErrorCode() != -32601 || err.Error() != want {
			t.Errorf("%s over WebSocket: %v", c.method, err)
		}
	}
	if len(network.dialed) != 0 || network.blocked != nil || e.pool.PendingNonce(me) != 0 {
		t.Fatalf("a method ran: dialed %v, blocked %v, pending nonce %d", network.dialed, network.blocked, e.pool.PendingNonce(me))
	}
	if res, jerr := e.call("eth_accounts"); jerr != nil || string(res) != "[]" {
		t.Fatalf("eth_accounts: %s %+v", res, jerr)
	}
	if got := e.scrape(from(t, "127.0.0.1")).counter("peerchain_rpc_rejections_total", "reason", "method"); got != float64(2*len(calls)) {
		t.Fatalf("%v refusals counted, want %d", got, 2*len(calls))
	}

	// Not a provider: the same calls run.
	accounts := wallet.NewUnlocked()
	accounts.Add(chaingen.Key(3))
	local := newEnvWith(t, Config{}, func(b *Backend) { b.Net, b.Accounts = network, accounts })
	for _, c := range calls[:6] {
		if _, jerr := local.call(c.method, c.params...); jerr != nil {
			t.Errorf("%s on a local node: %+v", c.method, jerr)
		}
	}
	if len(network.dialed) != 1 || network.blocked == nil || local.pool.PendingNonce(me) != 1 {
		t.Fatalf("on a local node: dialed %v, blocked %v, pending nonce %d", network.dialed, network.blocked, local.pool.PendingNonce(me))
	}
}

// Every method a provider serves has a rate-limit cost, and none of them
// signs or acts for the operator.
func TestProviderMethodSet(t *testing.T) {
	e := providerEnv(t, Config{}, nil, nil)
	for m := range e.srv.metrics.served {
		if _, ok := methodCosts[m]; !ok {
			t.Errorf("%s is served and has no cost in methodCosts", m)
		}
		if deniedToProviders(m) {
			t.Errorf("a provider serves %s", m)
		}
	}
	for _, m := range []string{"eth_call", "eth_getProof", "eth_sendRawTransaction", "eth_accounts", "eth_subscribe", "peerchain_peers"} {
		if !e.srv.metrics.served[m] {
			t.Errorf("a provider does not serve %s", m)
		}
	}
	local := newEnv(t, Config{})
	for _, m := range []string{"eth_sendTransaction", "eth_sign", "personal_sign", "admin_addPeer"} {
		if !local.srv.metrics.served[m] {
			t.Errorf("a local node does not serve %s", m)
		}
	}
}

// A provider holds no unlocked accounts; a node listens beyond loopback
// only as a provider (or when told the network is private); API keys need
// provider mode.
func TestProviderConfigRules(t *testing.T) {
	ce := chaintest.New(t, chaingen.GenesisOptions{})
	pool, err := txpool.New(txpool.Config{Chain: ce.Chain})
	if err != nil {
		t.Fatal(err)
	}
	b := Backend{Chain: ce.Chain, Pool: LocalPool(pool)}
	accounts := wallet.NewUnlocked()
	accounts.Add(chaingen.Key(3))
	withAccounts := b
	withAccounts.Accounts = accounts
	for _, c := range []struct {
		cfg     Config
		backend Backend
		want    string
	}{
		{Config{Addr: "127.0.0.1:0", Provider: true}, withAccounts, "a provider serves no unlocked accounts"},
		{Config{Addr: "0.0.0.0:0"}, b, "listens beyond loopback"},
		{Config{Addr: ":8545"}, b, "add --provider"},
		{Config{Addr: "127.0.0.1:0", Keys: []APIKey{{Name: "alice", Key: aliceKey}}}, b, "need --provider"},
		{Config{Addr: "127.0.0.1:0", Provider: true, Keys: []APIKey{{Name: "alice", Key: "short"}}}, b, "a key of 16 to 128"},
		{Config{Addr: "127.0.0.1:0", Provider: true, ClientRate: -1}, b, "--provider.rate"},
		{Config{Addr: "127.0.0.1:0", Provider: true, Keys: []APIKey{{Name: "alice", Key: aliceKey}, {Name: "bob", Key: aliceKey}}}, b, "given twice"},
		{Config{Addr: "0.0.0.0:0", Provider: true}, b, ""},
		{Config{Addr: "0.0.0.0:0", InsecurePublic: true}, withAccounts, ""},
	} {
		_, err := NewServer(c.cfg, c.backend)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: got %v, want %q", c.cfg, err, c.want)
		}
	}
}

// eth_sendRawTransaction refuses a fee (gas × fee cap) above
// --rpc.txfeecap with go-ethereum's message, on every node; so does
// eth_sendTransaction.
func TestTxFeeCap(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	sign := func(k int, nonce uint64, tx types.TxData) *types.Transaction {
		signed, err := types.SignNewTx(chaingen.Key(k), e.gen.Signer(), tx)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	to := common.HexToAddress("0x77")
	gwei := big.NewInt(1e9)
	dynamic := func(nonce uint64, feeCapGwei int64) *types.Transaction {
		return sign(0, nonce, &types.DynamicFeeTx{ChainID: big.NewInt(1337), Nonce: nonce, GasTipCap: gwei,
			GasFeeCap: new(big.Int).Mul(big.NewInt(feeCapGwei), gwei), Gas: 21000, To: &to})
	}
	if err := e.ec.SendTransaction(ctx, dynamic(0, 100_000)); err == nil || err.Error() != "tx fee (2.10 ether) exceeds the configured cap (1.00 ether)" {
		t.Fatalf("2.1 ether of fees: %v", err)
	}
	legacy := sign(0, 0, &types.LegacyTx{Nonce: 0, GasPrice: new(big.Int).Mul(big.NewInt(50_000), gwei), Gas: 21000, To: &to})
	if err := e.ec.SendTransaction(ctx, legacy); err == nil || !strings.Contains(err.Error(), "tx fee (1.05 ether) exceeds the configured cap (1.00 ether)") {
		t.Fatalf("a legacy transaction with 1.05 ether of fees: %v", err)
	}
	if e.pool.PendingNonce(chaingen.Addr(0)) != 0 {
		t.Fatal("a refused transaction reached the pool")
	}
	if err := e.ec.SendTransaction(ctx, dynamic(0, 40_000)); err != nil {
		t.Fatalf("0.84 ether of fees: %v", err)
	}
	uncapped := newEnv(t, Config{TxFeeCap: -1})
	if err := uncapped.ec.SendTransaction(ctx, dynamic(0, 100_000)); err != nil {
		t.Fatalf("no cap: %v", err)
	}

	accounts := wallet.NewUnlocked()
	me := accounts.Add(chaingen.Key(3))
	signer := newEnvWith(t, Config{TxFeeCap: 0.5}, func(b *Backend) { b.Accounts = accounts })
	args := map[string]any{"from": me, "to": to, "gas": "0x5208", "maxFeePerGas": hexutil.EncodeBig(new(big.Int).Mul(big.NewInt(30_000), gwei)), "maxPriorityFeePerGas": "0x1"}
	for _, method := range []string{"eth_sendTransaction", "eth_signTransaction"} {
		if _, jerr := signer.call(method, args); jerr == nil || jerr.Message != "tx fee (0.63 ether) exceeds the configured cap (0.50 ether)" {
			t.Fatalf("%s with 0.63 ether of fees: %+v", method, jerr)
		}
	}
}

// One sender may submit --provider.sendrate transactions a minute through
// a provider; then it waits, and other senders are not held up.
func TestProviderSenderLimit(t *testing.T) {
	clock := newFakeClock()
	e := providerEnv(t, Config{SendRate: 3}, clock, nil)
	ctx := context.Background()
	transfer := func(k int, nonce uint64) *types.Transaction {
		return callTx(t, e, k, nonce, common.HexToAddress("0x77"), 21000, nil)
	}
	for nonce := uint64(0); nonce < 3; nonce++ {
		if err := e.ec.SendTransaction(ctx, transfer(0, nonce)); err != nil {
			t.Fatalf("transaction %d: %v", nonce, err)
		}
	}
	want := fmt.Sprintf("too many transactions from %s: at most 3 a minute from one sender through this node (--provider.sendrate); retry in 20s", chaingen.Addr(0).Hex())
	if err := e.ec.SendTransaction(ctx, transfer(0, 3)); !isLimit(err, want) {
		t.Fatalf("the fourth transaction of a minute: %v", err)
	}
	if err := e.ec.SendTransaction(ctx, transfer(1, 0)); err != nil {
		t.Fatalf("another sender: %v", err)
	}
	clock.advance(20 * time.Second)
	if err := e.ec.SendTransaction(ctx, transfer(0, 3)); err != nil {
		t.Fatalf("after 20s: %v", err)
	}
	if got := e.scrape(from(t, "127.0.0.1")).counter("peerchain_rpc_rejections_total", "reason", "sender"); got != 1 {
		t.Fatalf("%v sender refusals counted, want 1", got)
	}

	local := newEnv(t, Config{SendRate: 3})
	for nonce := uint64(0); nonce < 5; nonce++ {
		if err := local.ec.SendTransaction(ctx, callTx(t, local, 0, nonce, common.HexToAddress("0x77"), 21000, nil)); err != nil {
			t.Fatalf("a local node, transaction %d: %v", nonce, err)
		}
	}
}

// eth_getProof runs in its own slots: with them all taken, a proof waits
// until shortly before its budget ends, then gets "server busy", while
// calls of other kinds are answered.
func TestProofSlots(t *testing.T) {
	e := newEnv(t, Config{ProofLimit: 1, RequestTimeout: time.Second})
	e.srv.eth.proofs.slots <- struct{}{} // a long proof holds the only slot
	start := time.Now()
	_, jerr := e.call("eth_getProof", chaingen.Addr(0), []string{}, "latest")
	waited := time.Since(start)
	if jerr == nil || jerr.Code != errcodeLimit || !strings.Contains(jerr.Message, "server busy: eth_getProof waited") || !strings.Contains(jerr.Message, "--rpc.proofs") {
		t.Fatalf("eth_getProof with every slot taken: %+v", jerr)
	}
	if waited < 800*time.Millisecond || waited > 3*time.Second {
		t.Fatalf("eth_getProof gave up after %v; want about the 1s budget", waited)
	}
	if _, jerr := e.call("eth_call", map[string]any{"to": answerAddr}, "latest"); jerr != nil {
		t.Fatalf("eth_call while proofs wait: %+v", jerr)
	}
	<-e.srv.eth.proofs.slots
	if res, jerr := e.call("eth_getProof", chaingen.Addr(0), []string{}, "latest"); jerr != nil || !strings.Contains(string(res), "accountProof") {
		t.Fatalf("eth_getProof with a free slot: %.100s %+v", res, jerr)
	}
	if got := e.scrape(from(t, "127.0.0.1")).counter("peerchain_rpc_rejections_total", "reason", "busy"); got != 1 {
		t.Fatalf("%v busy refusals counted, want 1", got)
	}
}

// wsOpen upgrades a raw connection from ip and returns the status, the
// body of a refusal and the connection (open on success).
func (e *env) wsOpen(ip string) (int, string, net.Conn) {
	e.t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	conn, err := d.Dial("tcp", e.srv.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	req := "GET / HTTP/1.1\r\nHost: " + e.srv.Addr().String() + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		e.t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
	}
	return resp.StatusCode, string(body), conn
}

// WebSocket connections are capped per address and in all, on every
// node; a closed connection frees its place.
func TestWebSocketConnectionCaps(t *testing.T) {
	e := newEnv(t, Config{WSConns: 3, WSConnsPerIP: 2})
	var hog []net.Conn
	for i := 0; i < 2; i++ {
		status, body, conn := e.wsOpen("127.0.0.1")
		if status != http.StatusSwitchingProtocols {
			t.Fatalf("connection %d: %d %s", i, status, body)
		}
		hog = append(hog, conn)
	}
	if status, body, _ := e.wsOpen("127.0.0.1"); status != http.StatusTooManyRequests || !strings.Contains(body, "from 127.0.0.1: 2 open, the limit per address (--rpc.ws.connsperip)") {
		t.Fatalf("a third connection from one address: %d %s", status, body)
	}
	if status, body, _ := e.wsOpen("127.0.0.2"); status != http.StatusSwitchingProtocols {
		t.Fatalf("another address: %d %s", status, body)
	}
	if status, body, _ := e.wsOpen("127.0.0.3"); status != http.StatusTooManyRequests || !strings.Contains(body, "3 open, the node's limit (--rpc.ws.conns)") {
		t.Fatalf("a fourth connection: %d %s", status, body)
	}
	// The gauge moves when a connection's serving goroutine starts, just
	// after the upgrade answer.
	waitFor(t, 10*time.Second, "the websocket gauge to read 3", func() bool {
		return e.scrape(from(t, "127.0.0.9")).gauge("peerchain_rpc_websocket_connections") == 3
	})
	hog[0].Close()
	waitFor(t, 10*time.Second, "a closed connection still counts", func() bool {
		status, _, conn := e.wsOpen("127.0.0.1")
		if status == http.StatusSwitchingProtocols {
			conn.Close()
		}
		return status == http.StatusSwitchingProtocols
	})
}

func TestAPIKeysFile(t *testing.T) {
	keys, err := ParseAPIKeys(strings.NewReader(`
# name   key                        rate   burst
alice    `+aliceKey+`     500    2000
bob      `+bobKey+`   # defaults
ops      ops-0123456789abcdef      unlimited
`), "keys.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 || keys[0] != (APIKey{Name: "alice", Key: aliceKey, Rate: 500, Burst: 2000}) ||
		keys[1] != (APIKey{Name: "bob", Key: bobKey}) || !keys[2].Unlimited {
		t.Fatalf("keys %+v", keys)
	}
	for _, c := range []struct{ in, want string }{
		{"alice", "line 1: 1 fields"},
		{"alice short", `line 1: the key of "alice" has 5 characters`},
		{"anonymous " + aliceKey, `name "anonymous"`},
		{"alice " + aliceKey + " fast", `rate "fast" of "alice"`},
		{"alice " + aliceKey + " 0", `rate "0"`},
		{"alice " + aliceKey + " 5 -1", `burst "-1"`},
		{"alice " + aliceKey + " unlimited 5", "an unlimited key takes no burst"},
		{"alice " + aliceKey + "\nalice " + bobKey, `line 2: name "alice" is also on line 1`},
		{"alice " + aliceKey + "\nbob " + aliceKey, `line 2: the key of "bob" is also on line 1`},
		{"al/ice " + aliceKey, `name "al/ice"`},
	} {
		if _, err := ParseAPIKeys(strings.NewReader(c.in), "keys.txt"); err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "keys.txt line") {
			t.Errorf("%q: got %v, want %q", c.in, err, c.want)
		}
	}
}

// X-Forwarded-For names the client only when a trusted proxy sent it,
// and only as far as its entries are trusted proxies themselves.
func TestClientAddress(t *testing.T) {
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", "192.168.1.1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseTrustedProxies([]string{"proxy.example"}); err == nil || !strings.Contains(err.Error(), `trusted proxy "proxy.example"`) {
		t.Fatalf("a host name: %v", err)
	}
	for _, c := range []struct {
		remote, xff, want string
	}{
		{"203.0.113.5:4000", "", "203.0.113.5"},
		{"203.0.113.5:4000", "1.2.3.4", "203.0.113.5"}, // not a proxy: its header is a lie
		{"10.1.2.3:4000", "1.2.3.4", "1.2.3.4"},
		{"10.1.2.3:4000", "6.6.6.6, 1.2.3.4, 192.168.1.1", "1.2.3.4"}, // the client wrote 6.6.6.6
		{"10.1.2.3:4000", "garbage, 1.2.3.4", "1.2.3.4"},
		{"10.1.2.3:4000", "garbage", "10.1.2.3"},
		{"10.1.2.3:4000", "10.9.9.9", "10.9.9.9"}, // all trusted: the farthest
		{"[::ffff:203.0.113.5]:4000", "", "203.0.113.5"},
	} {
		r := &http.Request{RemoteAddr: c.remote, Header: http.Header{}}
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := remoteAddr(r, trusted); got != netip.MustParseAddr(c.want) {
			t.Errorf("%s with X-Forwarded-For %q: %v, want %s", c.remote, c.xff, got, c.want)
		}
	}
	if g := ipGroup(netip.MustParseAddr("2001:db8:1:2:3:4:5:6")); g != "2001:db8:1:2::/64" {
		t.Errorf("IPv6 group %s", g)
	}
}

// The buckets: refill, debt after a large request, forgetting full
// buckets, and a bound on how many are kept.
func TestBuckets(t *testing.T) {
	clock := newFakeClock()
	b := newBuckets(3, clock.now)
	if ok, _ := b.take("a", 10, 20, 20); !ok {
		t.Fatal("a full bucket refused its burst")
	}
	if ok, retry := b.take("a", 10, 20, 5); ok || retry != 500*time.Millisecond {
		t.Fatalf("an empty bucket: %v, retry %v", ok, retry)
	}
	clock.advance(time.Second)
	if ok, retry := b.take("a", 10, 20, 100); ok || retry != time.Second {
		t.Fatalf("a request above the burst needs a full bucket: %v, retry %v", ok, retry)
	}
	clock.advance(time.Second)
	if ok, _ := b.take("a", 10, 20, 100); !ok {
		t.Fatal("a request above the burst was refused a full bucket")
	}
	if ok, retry := b.take("a", 10, 20, 1); ok || retry != 8100*time.Millisecond {
		t.Fatalf("after a debt of 80: %v, retry %v", ok, retry)
	}
	b.take("b", 10, 20, 1)
	b.take("c", 10, 20, 1)
	b.take("d", 10, 20, 1) // past max: the overflow bucket
	b.take("e", 10, 20, 1) // shares it
	if n := b.size(); n != 4 {
		t.Fatalf("%d buckets, want 3 and the overflow", n)
	}
	clock.advance(5 * time.Second) // the full map is swept at most once a second
	b.take("b", 10, 20, 1)
	if n := b.size(); n != 2 { // a (still in debt) and b
		t.Fatalf("%d buckets after the sweep, want 2", n)
	}
}
