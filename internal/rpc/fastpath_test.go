package rpc

import (
	"bytes"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
)

// twin is a second server, started, on e's chain with cfg; adjust turns
// off what the test compares against (the fast path, the connection
// server).
func twin(t *testing.T, e *env, cfg Config, adjust func(*Server)) *Server {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	s, err := NewServer(cfg, Backend{Chain: e.chain, Pool: LocalPool(e.pool)})
	if err != nil {
		t.Fatal(err)
	}
	adjust(s)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// noFast turns a server's fast path off: every request takes
// go-ethereum's rpc.Server path.
func noFast(s *Server) { s.fast = nil }

// answer is what a client sees of an HTTP answer.
type answer struct {
	status int
	header http.Header
	body   string
}

func ask(h http.Handler, contentType, body string) answer {
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8545/", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	r.RemoteAddr = "127.0.0.1:40000"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return answer{w.Code, w.Header(), w.Body.String()}
}

// fastChain mines blocks with transfers and calls for the comparison
// tests and returns the transactions' hashes.
func fastChain(t *testing.T, e *env) []common.Hash {
	t.Helper()
	var txs []common.Hash
	e.mine(40, func(b *chaingen.BlockGen) {
		if b.Number()%3 == 0 {
			tx := b.Transfer(int(b.Number()%3), common.HexToAddress("0x77"), big.NewInt(int64(b.Number())))
			txs = append(txs, tx.Hash())
		}
		if b.Number()%7 == 0 {
			tx := callTx(t, e, 3, b.Nonce(chaingen.Addr(3)), logAddr, 100_000, []byte("x"))
			b.AddTx(tx)
			txs = append(txs, tx.Hash())
		}
	})
	return txs
}

// comparisonBodies are requests of every hot method in many shapes, with
// errors, odd ids, whitespace and casing, and batches mixing hot and cold
// methods. fast lists those the fast path must answer itself.
func comparisonBodies(e *env, txs []common.Hash) (bodies []string, fast map[string]bool) {
	fast = make(map[string]bool)
	call := func(id, method, params string) string {
		if params == "" {
			return fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"method":%q}`, id, method)
		}
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"method":%q,"params":%s}`, id, method, params)
	}
	add := func(isFast bool, b ...string) {
		bodies = append(bodies, b...)
		for _, x := range b {
			if isFast {
				fast[x] = true
			}
		}
	}
	head := e.chain.CurrentBlock()
	headHex := fmt.Sprintf(`"0x%x"`, head.NumberU64())
	headHash := fmt.Sprintf("%q", head.Hash().Hex())
	genesisHash := fmt.Sprintf("%q", e.chain.Genesis().Hash().Hex())
	fastBlocks := []string{`"latest"`, `"pending"`, `"earliest"`, `"safe"`, `"finalized"`, `"0x0"`, `"0x1"`, `"0xa"`, `"0xA"`, headHex, `"0x3e8"`, `"0xfffffffffffffff"`}
	slowBlocks := []string{`"0x00"`, `"0x"`, `"1"`, `1`, `null`, `"LATEST"`, `"0X1"`, `"0xffffffffffffffff"`, `"0x8000000000000000"`, `"-0x1"`, `" latest"`,
		`{"blockNumber":"0x1"}`, `{"blockNumber":"latest"}`, `{"blockHash":` + headHash + `}`, `{"blockHash":` + genesisHash + `,"requireCanonical":true}`,
		`{"blockHash":"0x0000000000000000000000000000000000000000000000000000000000000001"}`, `{}`, headHash, `true`, `[]`}
	addrs := []string{fmt.Sprintf("%q", chaingen.Addr(0).Hex()), fmt.Sprintf("%q", strings.ToLower(chaingen.Addr(1).Hex())),
		`"0x00000000000000000000000000000000000a2a2a"`, `"0x0000000000000000000000000000000000001234"`, `"0x0000000000000000000000000000000000000077"`,
		`"0xF39FD6E51AAD88F6F4CE6AB8827279CFFFB92266"`}
	slowAddrs := []string{`"0x1234"`, `"f39fd6e51aad88f6f4ce6ab8827279cfffb92266"`, `"0Xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"`, `null`, `1`, `"0xzz9fd6e51aad88f6f4ce6ab8827279cfffb92266"`}

	for _, m := range []string{"eth_blockNumber", "eth_chainId"} {
		add(true, call("1", m, ""), call("1", m, "[]"), call("1", m, "null"), call("1", m, " [ ] "))
		add(false, call("1", m, "[1]"), call("1", m, "{}"), call("1", m, `"x"`), call("1", m, `[null]`))
	}
	for _, m := range []string{"eth_getBalance", "eth_getTransactionCount"} {
		for _, a := range addrs {
			add(true, call("1", m, "["+a+"]"))
			for _, b := range fastBlocks {
				// Past the head: "header not found", an error.
				add(b != `"0x3e8"` && b != `"0xfffffffffffffff"`, call("7", m, "["+a+","+b+"]"))
			}
			for _, b := range slowBlocks {
				add(false, call("7", m, "["+a+","+b+"]"))
			}
			add(false, call("1", m, "["+a+`,"latest",1]`))
		}
		for _, a := range slowAddrs {
			add(false, call("1", m, "["+a+`,"latest"]`))
		}
		add(false, call("1", m, "[]"), call("1", m, ""), call("1", m, "{}"), call("1", m, `"0x0000000000000000000000000000000000000077"`))
	}
	calls := []string{`{"to":"0x00000000000000000000000000000000000a2a2a","data":"0x"}`, `{"to":"0x00000000000000000000000000000000000a2a2a"}`,
		`{"to":"0x00000000000000000000000000000000000a2a2a","input":"0x1234","gas":"0x7530"}`,
		fmt.Sprintf(`{"from":%q,"to":"0x0000000000000000000000000000000000000077","value":"0x1"}`, chaingen.Addr(0).Hex()),
		`{"to":"0x000000000000000000000000000000000000106c","data":"0x6869"}`, `{}`, `{"to":null}`}
	for _, c := range calls {
		add(true, call("1", "eth_call", "["+c+"]"))
		for _, b := range fastBlocks {
			if b == `"0x3e8"` || b == `"0xfffffffffffffff"` {
				add(false, call("2", "eth_call", "["+c+","+b+"]")) // header not found: an error
				continue
			}
			add(true, call("2", "eth_call", "["+c+","+b+"]"))
		}
		for _, b := range slowBlocks[:8] {
			add(false, call("2", "eth_call", "["+c+","+b+"]"))
		}
		add(false, call("3", "eth_call", "["+c+`,"latest",{"0x0000000000000000000000000000000000000077":{"balance":"0x1"}}]`))
	}
	add(false, call("1", "eth_call", `[{"to":"0x000000000000000000000000000000000000dead"}]`), // reverts
		call("1", "eth_call", `[{"to":"0x00000000000000000000000000000000000a2a2a","data":"0x","input":"0x12"}]`),
		call("1", "eth_call", `[{"to":"bad"}]`), call("1", "eth_call", `[null]`), call("1", "eth_call", `[]`),
		call("1", "eth_call", `[{"to":"0x00000000000000000000000000000000000a2a2a","gas":"0x5208","data":"0x12"}]`))
	// go-ethereum decodes the call object with encoding/json too: its
	// keys match without regard to case.
	add(true, call("1", "eth_call", `[{"to":"0x00000000000000000000000000000000000a2a2a","Data":"0x"}]`))
	add(false, call("1", "eth_call", `[{"to":"0x00000000000000000000000000000000000a2a2a","gas":"0xffffffffffffffff"}]`)) // over the gas cap
	for _, b := range fastBlocks {
		add(true, call("1", "eth_getBlockByNumber", "["+b+",true]"), call("1", "eth_getBlockByNumber", "["+b+",false]"))
	}
	for _, b := range slowBlocks {
		add(false, call("1", "eth_getBlockByNumber", "["+b+",false]"))
	}
	add(false, call("1", "eth_getBlockByNumber", `["latest"]`), call("1", "eth_getBlockByNumber", `["latest","true"]`),
		call("1", "eth_getBlockByNumber", `["latest",1]`), call("1", "eth_getBlockByNumber", `["latest",false,1]`),
		call("1", "eth_getBlockByNumber", `["latest",null]`))
	for _, h := range txs {
		add(true, call("1", "eth_getTransactionReceipt", fmt.Sprintf("[%q]", h.Hex())),
			call("1", "eth_getTransactionReceipt", fmt.Sprintf("[%q]", "0x"+strings.ToUpper(h.Hex()[2:]))))
	}
	add(true, call("1", "eth_getTransactionReceipt", `["0x0000000000000000000000000000000000000000000000000000000000000001"]`))
	add(false, call("1", "eth_getTransactionReceipt", `["0x01"]`), call("1", "eth_getTransactionReceipt", `[]`),
		call("1", "eth_getTransactionReceipt", `[null]`), call("1", "eth_getTransactionReceipt", fmt.Sprintf("[%q,1]", txs[0].Hex())))

	// ids of every JSON type, and the envelope's variants.
	for _, id := range []string{`0`, `-1`, `1.5`, `1e3`, `-0.0e+5`, `18446744073709551616123`, `"abc"`, `""`, `"a b/c"`, `"{<&>}"`} {
		add(true, call(id, "eth_blockNumber", "[]"))
	}
	for _, id := range []string{`"a\"b"`, `"\u00e9"`, `"é"`, `null`, `true`, `false`, `{}`, `[]`, `{"a":1}`, `01`, `1.`, `+1`} {
		add(false, call(id, "eth_blockNumber", "[]"))
	}
	add(false, `{"jsonrpc":"2.0","method":"eth_blockNumber"}`, // a notification
		`{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[],"id":2}`,
		`{"jsonrpc":"2.0","ID":1,"method":"eth_blockNumber"}`, `{"jsonrpc":"2.0","id":1,"Method":"eth_blockNumber"}`,
		`{"JSONRPC":"2.0","id":1,"method":"eth_blockNumber"}`, `{"jsonrpc":"1.0","id":1,"method":"eth_blockNumber"}`,
		`{"id":1,"method":"eth_blockNumber"}`, `{"jsonrpc":"2.0","id":1,"method":"ETH_BLOCKNUMBER"}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","extra":true}`, `{"jsonrpc":"2.0","id":1,"method":"eth_block\u004eumber"}`,
		`{"jsonrpc":"2.0","id":1,"method":""}`, `{"jsonrpc":"2.0","id":1,"method":1}`, `{"jsonrpc":2.0,"id":1,"method":"eth_blockNumber"}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"`, `{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}x`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}{}`, `{}`, `null`, ``, `   `, `[]`, `[1,2]`, `[null]`, `"x"`, `[[]]`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_gasPrice"}`, `{"jsonrpc":"2.0","id":1,"method":"net_version"}`,
		`{"jsonrpc":"2.0","id":1,"method":"no_such"}`)
	add(true, " \n\t{ \"jsonrpc\" : \"2.0\" ,\r\n \"id\" : 1 , \"method\" : \"eth_blockNumber\" , \"params\" : [ ] } \n",
		`{"method":"eth_chainId","params":[],"id":"x","jsonrpc":"2.0"}`,
		`{"jsonrpc":"2.0","id":3,"method":"eth_getBalance","params":[ "0x0000000000000000000000000000000000000077" , "latest" ]}`)

	// batches
	bn := call("1", "eth_blockNumber", "[]")
	bal := call(`"b"`, "eth_getBalance", `["0x0000000000000000000000000000000000000077","latest"]`)
	blk := call("3", "eth_getBlockByNumber", `["0x2",true]`)
	rcpt := call("4", "eth_getTransactionReceipt", fmt.Sprintf("[%q]", txs[1].Hex()))
	cl := call("5", "eth_call", `[{"to":"0x00000000000000000000000000000000000a2a2a"},"latest"]`)
	add(true, "["+bn+"]", "["+bn+","+bal+","+blk+","+rcpt+","+cl+"]", "[ "+bn+" ,\n"+bn+" ]", "["+strings.Repeat(bn+",", 19)+bn+"]")
	add(false, "["+bn+","+call("6", "net_version", "")+"]", "["+bn+`,{"jsonrpc":"2.0","method":"eth_blockNumber"}]`,
		"["+bn+",1]", "["+bn+",]", "["+bn+","+call("7", "eth_getBalance", `["0x1","latest"]`)+"]",
		"["+strings.Repeat(bn+",", 20)+bn+"]", // over the batch limit
		"["+bn+","+call("8", "eth_call", `[{"to":"0x000000000000000000000000000000000000dead"}]`)+"]")
	return bodies, fast
}

// TestFastPathMatchesGeth sends the same requests through the fast path
// and through go-ethereum's rpc.Server path on the same chain: status,
// headers and bodies must be byte for byte the same, and the fast path
// must have answered the requests meant for it itself.
func TestFastPathMatchesGeth(t *testing.T) {
	cfg := Config{BatchItems: 20}
	e := newEnv(t, cfg)
	txs := fastChain(t, e)
	slow := twin(t, e, cfg, noFast)
	bodies, fast := comparisonBodies(e, txs)
	fh, sh := e.srv.Handler(), slow.Handler()
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "application/json-rpc", "text/plain", ""} {
		for _, body := range bodies {
			before := e.srv.fast.answered.Load()
			got, want := ask(fh, ct, body), ask(sh, ct, body)
			if got.status != want.status || got.body != want.body || !equalHeaders(got.header, want.header) {
				t.Errorf("Content-Type %q, request %s:\nfast path: %d %v %s\ngo-ethereum: %d %v %s", ct, body, got.status, got.header, got.body, want.status, want.header, want.body)
				continue
			}
			took := e.srv.fast.answered.Load() > before
			if wantFast := fast[body] && ct != "text/plain" && ct != ""; took != wantFast {
				t.Errorf("Content-Type %q, request %s: fast path answered %v, want %v (answer %s)", ct, body, took, wantFast, got.body)
			}
		}
	}
	n := e.srv.fast.answered.Load()
	if n < 800 {
		t.Errorf("fast path answered %d requests, want over 800", n)
	}
	t.Logf("%d bodies × 5 Content-Types compared; the fast path answered %d", len(bodies), n)
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestFastPathReorg checks that no cached answer survives the head it was
// read at: after a reorg, every hot read answers as go-ethereum's path
// does on the new chain.
func TestFastPathReorg(t *testing.T) {
	e := newEnv(t, Config{})
	to := common.HexToAddress("0x77")
	// A contract that returns the balance of 0x77, which the reorg changes:
	// PUSH20 0x77 BALANCE PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN, behind
	// code that copies it out.
	runtime := common.FromHex("73" + strings.Repeat("00", 19) + "77" + "3160005260206000f3")
	deploy := append(common.FromHex(fmt.Sprintf("60%02x600c60003960%02x6000f3", len(runtime), len(runtime))), runtime...)
	deployTx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(1337), GasTipCap: big.NewInt(1e9),
		GasFeeCap: big.NewInt(100e9), Gas: 200_000, Data: deploy}), e.gen.Signer(), chaingen.Key(3))
	if err != nil {
		t.Fatal(err)
	}
	contract := crypto.CreateAddress(chaingen.Addr(3), 0)
	base := e.mine(5, func(b *chaingen.BlockGen) {
		if b.Number() == 1 {
			b.AddTx(deployTx)
		}
	})
	oldBlocks := e.mine(3, func(b *chaingen.BlockGen) { b.Transfer(0, to, big.NewInt(100)) })
	slow := twin(t, e, Config{}, noFast)
	tx := oldBlocks[0].Transactions()[0].Hash()
	reads := []string{
		`{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0x0000000000000000000000000000000000000077","latest"]}`,
		fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"eth_getTransactionCount","params":[%q,"latest"]}`, chaingen.Addr(0).Hex()),
		`{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["latest",false]}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["0x6",true]}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0x0000000000000000000000000000000000000077","0x7"]}`,
		fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"eth_getTransactionReceipt","params":[%q]}`, tx.Hex()),
		fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{"to":%q}]}`, contract.Hex()),
		fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{"to":%q},"0x7"]}`, contract.Hex()),
	}
	fh, sh := e.srv.Handler(), slow.Handler()
	before := make([]string, len(reads))
	for i, r := range reads {
		before[i] = ask(fh, "application/json", r).body
		if want := ask(sh, "application/json", r).body; before[i] != want {
			t.Fatalf("before the reorg, %s: fast path %s, go-ethereum %s", r, before[i], want)
		}
	}
	// A longer fork from block 5 without the transfers takes over.
	fork, err := e.gen.Chain(base[len(base)-1], 5, func(b *chaingen.BlockGen) { b.SetExtra([]byte("fork")) })
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range fork {
		if _, err := e.chain.InsertBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	if e.chain.CurrentBlock().Hash() != fork[len(fork)-1].Hash() {
		t.Fatal("the fork did not become the canonical chain")
	}
	changed := 0
	for i, r := range reads {
		got, want := ask(fh, "application/json", r).body, ask(sh, "application/json", r).body
		if got != want {
			t.Errorf("after the reorg, %s: fast path %s (before: %s), go-ethereum %s", r, got, before[i], want)
		}
		if got != before[i] {
			changed++
		}
	}
	if changed != len(reads) {
		t.Errorf("%d of %d answers changed with the reorg, want all", changed, len(reads))
	}
	if got := ask(fh, "application/json", reads[6]).body; !strings.Contains(got, `"result":null`) {
		t.Errorf("the receipt of a transaction the reorg dropped: %s, want null", got)
	}
}

// TestFastPathHTTP checks the fast path over a real connection: the same
// headers and body as go-ethereum's path, and its calls in /metrics.
func TestFastPathHTTP(t *testing.T) {
	e := newEnv(t, Config{})
	slow := twin(t, e, Config{}, noFast)
	body := `[{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"},{"jsonrpc":"2.0","id":2,"method":"eth_chainId"}]`
	get := func(url string) (*http.Response, []byte) {
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out bytes.Buffer
		out.ReadFrom(resp.Body)
		return resp, out.Bytes()
	}
	before := e.srv.fast.answered.Load()
	fr, fb := get(e.url)
	sr, sb := get("http://" + slow.Addr().String())
	if e.srv.fast.answered.Load() == before {
		t.Fatal("the fast path did not answer")
	}
	if !bytes.Equal(fb, sb) || fr.StatusCode != sr.StatusCode || fr.Header.Get("Content-Type") != sr.Header.Get("Content-Type") ||
		fr.ContentLength != sr.ContentLength {
		t.Fatalf("fast path %d %v %s, go-ethereum %d %v %s", fr.StatusCode, fr.Header, fb, sr.StatusCode, sr.Header, sb)
	}
	resp, err := http.Get(e.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m bytes.Buffer
	m.ReadFrom(resp.Body)
	for _, want := range []string{`peerchain_rpc_requests_total{method="eth_blockNumber",transport="http"} 1`,
		`peerchain_rpc_requests_total{method="eth_chainId",transport="http"} 1`,
		`peerchain_rpc_request_duration_seconds_count{method="batch"} 1`} {
		if !strings.Contains(m.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestFastCacheBounds: the caches stay within their entries and bytes,
// and an answer too large to keep is not kept.
func TestFastCacheBounds(t *testing.T) {
	e := newEnv(t, Config{})
	f := e.srv.fast
	big := bytes.Repeat([]byte("x"), maxCachedAnswer+1)
	store(f, f.mu.blocks, blockKey{}, big)
	if len(f.mu.blocks) != 0 || f.mu.bytes != 0 {
		t.Fatalf("an answer of %d bytes was kept", len(big))
	}
	v := bytes.Repeat([]byte("y"), maxCachedAnswer)
	for i := 0; i < 2*fastCacheBytes/maxCachedAnswer; i++ {
		store(f, f.mu.blocks, blockKey{hash: common.Hash{byte(i), byte(i >> 8)}}, v)
		if f.mu.bytes > fastCacheBytes || f.mu.bytes != len(f.mu.blocks)*len(v) {
			t.Fatalf("after %d answers: %d bytes counted, %d entries, bound %d", i+1, f.mu.bytes, len(f.mu.blocks), fastCacheBytes)
		}
	}
	for i := 0; i < 2*fastCacheSize; i++ {
		store(f, f.mu.states, stateKey{root: common.Hash{byte(i), byte(i >> 8)}}, []byte(`"0x1"`))
		if len(f.mu.states) > fastCacheSize {
			t.Fatalf("%d state answers kept, bound %d", len(f.mu.states), fastCacheSize)
		}
	}
}
