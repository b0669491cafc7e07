package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/chaindb"
	"github.com/peerchain/peerchain/internal/rpc"
	"github.com/peerchain/peerchain/internal/txpool"
)

// returns 42: PUSH1 42 PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
var (
	answerCode = common.FromHex("602a60005260206000f3")
	answerAddr = common.HexToAddress("0x00000000000000000000000000000000000a2a2a")
	richAddr   = common.HexToAddress("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
)

const (
	rpcClients = 16
)

func rpcDuration() time.Duration {
	if testing.Short() {
		return 300 * time.Millisecond
	}
	return 3 * time.Second
}

// bareAPI is the baseline: the same methods written directly on
// go-ethereum's rpc.Server, state and EVM, with none of peerchain's layers.
type bareAPI struct{ c *chain.Chain }

func (a *bareAPI) BlockNumber() hexutil.Uint64 { return hexutil.Uint64(a.c.CurrentBlock().NumberU64()) }

func (a *bareAPI) GetBalance(addr common.Address, _ gethrpc.BlockNumberOrHash) (*hexutil.Big, error) {
	st, err := a.c.StateAt(a.c.CurrentBlock().Root())
	if err != nil {
		return nil, err
	}
	return (*hexutil.Big)(st.GetBalance(addr).ToBig()), nil
}

type bareCall struct {
	To   *common.Address `json:"to"`
	Data hexutil.Bytes   `json:"data"`
}

func (a *bareAPI) Call(args bareCall, _ gethrpc.BlockNumberOrHash) (hexutil.Bytes, error) {
	h := a.c.CurrentHeader()
	st, err := a.c.StateAt(h.Root)
	if err != nil {
		return nil, err
	}
	evm := vm.NewEVM(a.c.Processor().BlockContext(h, a.c), st, a.c.Config(), vm.Config{NoBaseFee: true})
	defer evm.Release()
	msg := &core.Message{To: args.To, Value: new(uint256.Int), GasLimit: 50_000_000, GasPrice: new(uint256.Int),
		GasFeeCap: new(uint256.Int), GasTipCap: new(uint256.Int), Data: args.Data}
	msg.SkipNonceCheck()
	msg.SkipGasLimitCapCheck()
	evm.SetTxContext(core.NewEVMTxContext(msg))
	res, err := core.ApplyMessage(evm, msg, core.NewGasPool(math.MaxUint64))
	if err != nil {
		return nil, err
	}
	return res.Return(), res.Err
}

type load struct {
	Rate float64       `json:"rate"`
	P99  time.Duration `json:"p99"`
	OK   int64         `json:"ok"`
	Bad  int64         `json:"bad"`
}

// hammer loads url with body from a separate process (this test binary run
// as TestLoadGen), so the load generator never shares a process, a garbage
// collector or a scheduler with any server measured; check is the
// expected "result" JSON ("" accepts any result).
func hammer(b *testing.B, url string, body []byte, want string) load {
	b.Helper()
	if wrk, err := exec.LookPath("wrk"); err == nil {
		return hammerWrk(b, wrk, url, body, want)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadGen$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PEERCHAIN_LOADGEN_URL="+url, "PEERCHAIN_LOADGEN_BODY="+string(body),
		"PEERCHAIN_LOADGEN_WANT="+want, "PEERCHAIN_LOADGEN_SECONDS="+fmt.Sprint(rpcDuration().Seconds()))
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("load generator: %v\n%s", err, out)
	}
	for _, line := range bytes.Split(out, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("LOADGEN ")) {
			var l load
			if err := json.Unmarshal(line[len("LOADGEN "):], &l); err != nil {
				b.Fatal(err)
			}
			if l.Bad > l.OK/100 {
				b.Fatalf("%d of %d requests to %s failed", l.Bad, l.Bad+l.OK, url)
			}
			return l
		}
	}
	b.Fatalf("load generator printed no result:\n%s", out)
	return load{}
}

// hammerWrk loads url with wrk (C, epoll: far less load-generator CPU than
// a Go client on a 2-core machine), after checking one answer.
func hammerWrk(b *testing.B, wrk, url string, body []byte, want string) load {
	b.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	check := hasResult
	if want != "" {
		check = resultIs(want)
	}
	if !check(out) {
		b.Fatalf("%s answered %s", url, out)
	}
	script := filepath.Join(b.TempDir(), "post.lua")
	lua := fmt.Sprintf("wrk.method = \"POST\"\nwrk.body = %q\nwrk.headers[\"Content-Type\"] = \"application/json\"\n", body)
	if err := os.WriteFile(script, []byte(lua), 0o600); err != nil {
		b.Fatal(err)
	}
	res, err := exec.Command(wrk, "-t2", fmt.Sprintf("-c%d", rpcClients), fmt.Sprintf("-d%ds", max(1, int(rpcDuration().Seconds()))),
		"--latency", "-s", script, url).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, res)
	}
	var l load
	for _, line := range strings.Split(string(res), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			fmt.Sscan(f[1], &l.Rate)
		case len(f) == 2 && f[0] == "99%":
			l.P99, _ = time.ParseDuration(f[1])
		case len(f) >= 4 && f[0] == "Non-2xx":
			b.Fatalf("wrk saw failed requests: %s", line)
		}
	}
	if l.Rate == 0 {
		b.Fatalf("wrk printed no rate:\n%s", res)
	}
	return l
}

// TestLoadGen is the load generator hammer runs in its own process; it does
// nothing in a normal test run.
func TestLoadGen(t *testing.T) {
	url := os.Getenv("PEERCHAIN_LOADGEN_URL")
	if url == "" {
		t.Skip("only run as the benchmarks' load generator")
	}
	body := []byte(os.Getenv("PEERCHAIN_LOADGEN_BODY"))
	want := os.Getenv("PEERCHAIN_LOADGEN_WANT")
	var secs float64
	fmt.Sscan(os.Getenv("PEERCHAIN_LOADGEN_SECONDS"), &secs)
	check := hasResult
	if want != "" {
		check = resultIs(want)
	}
	var (
		ok, bad atomic.Int64
		mu      gosync.Mutex
		lats    []time.Duration
		wg      gosync.WaitGroup
	)
	dur := time.Duration(secs * float64(time.Second))
	deadline := time.Now().Add(dur)
	for i := 0; i < rpcClients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
			var local []time.Duration
			for time.Now().Before(deadline) {
				start := time.Now()
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					bad.Add(1)
					continue
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !check(out) {
					bad.Add(1)
					continue
				}
				local = append(local, time.Since(start))
				ok.Add(1)
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(lats)
	l := load{Rate: float64(ok.Load()) / dur.Seconds(), OK: ok.Load(), Bad: bad.Load()}
	if len(lats) > 0 {
		l.P99 = lats[len(lats)*99/100]
	}
	data, _ := json.Marshal(l)
	fmt.Printf("LOADGEN %s\n", data)
}

func resultIs(want string) func([]byte) bool {
	return func(out []byte) bool {
		var r struct {
			Result json.RawMessage `json:"result"`
		}
		return json.Unmarshal(out, &r) == nil && string(r.Result) == want
	}
}

func hasResult(out []byte) bool {
	type answer struct {
		Result json.RawMessage `json:"result"`
		Error  any             `json:"error"`
	}
	if out = bytes.TrimSpace(out); len(out) > 0 && out[0] == '[' {
		var rs []answer
		if json.Unmarshal(out, &rs) != nil || len(rs) == 0 {
			return false
		}
		for _, r := range rs {
			if r.Error != nil || len(r.Result) == 0 {
				return false
			}
		}
		return true
	}
	var r answer
	return json.Unmarshal(out, &r) == nil && r.Error == nil && len(r.Result) > 0
}

// BenchmarkRPC measures the throughput of peerchain's JSON-RPC for the hot
// methods (eth_blockNumber, eth_getBalance, eth_call, and with -short only
// those: eth_chainId, eth_getTransactionCount, eth_getBlockByNumber, a
// batch of four) against a bare go-ethereum rpc.Server serving
// eth_blockNumber, eth_getBalance and eth_call over the same chain (goal ≥
// 0.7×), and against Anvil when it can be installed from npm (goal: at
// least Anvil's rate).
func BenchmarkRPC(b *testing.B) {
	g, err := chaingen.Genesis(chaingen.GenesisOptions{Alloc: types.GenesisAlloc{
		answerAddr: {Code: answerCode, Balance: new(big.Int)},
		richAddr:   {Balance: big.NewInt(1e18)},
	}})
	if err != nil {
		b.Fatal(err)
	}
	db, err := chaindb.Open(b.TempDir(), chaindb.KVOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	c, err := chain.New(chain.Config{Genesis: g, DB: db})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	pool, err := txpool.New(txpool.Config{Chain: c})
	if err != nil {
		b.Fatal(err)
	}
	ours, err := rpc.NewServer(rpc.Config{Addr: "127.0.0.1:0"}, rpc.Backend{Chain: c, Pool: rpc.LocalPool(pool)})
	if err != nil {
		b.Fatal(err)
	}
	if err := ours.Start(); err != nil {
		b.Fatal(err)
	}
	defer ours.Close()
	bare := gethrpc.NewServer()
	if err := bare.RegisterName("eth", &bareAPI{c: c}); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	bareSrv := &http.Server{Handler: bare}
	go func() { _ = bareSrv.Serve(ln) }()
	defer bareSrv.Close()
	anvil := startAnvil(b)

	methods := []struct {
		name string
		body string
		want string
	}{
		{"eth_blockNumber", `{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}`, ""},
		{"eth_getBalance", `{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["` + richAddr.Hex() + `","latest"]}`, `"0xde0b6b3a7640000"`},
		{"eth_call", `{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{"to":"` + answerAddr.Hex() + `","data":"0x"},"latest"]}`,
			`"0x000000000000000000000000000000000000000000000000000000000000002a"`},
	}
	// The bare server serves the three above; these are measured against
	// Anvil only.
	more := []struct {
		name string
		body string
		want string
	}{
		{"eth_chainId", `{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}`, `"0x539"`},
		{"eth_getTransactionCount", `{"jsonrpc":"2.0","id":1,"method":"eth_getTransactionCount","params":["` + richAddr.Hex() + `","latest"]}`, `"0x0"`},
		{"eth_getBlockByNumber", `{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["latest",false]}`, ""},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"},{"jsonrpc":"2.0","id":2,"method":"eth_getBalance","params":["` + richAddr.Hex() +
			`","latest"]},{"jsonrpc":"2.0","id":3,"method":"eth_call","params":[{"to":"` + answerAddr.Hex() + `"},"latest"]},` +
			`{"jsonrpc":"2.0","id":4,"method":"eth_getBlockByNumber","params":["latest",false]}]`, ""},
	}
	load := loadAverage()
	for _, m := range methods {
		o := hammer(b, "http://"+ours.Addr().String(), []byte(m.body), m.want)
		base := hammer(b, "http://"+ln.Addr().String(), []byte(m.body), m.want)
		ratio := o.Rate / base.Rate
		b.ReportMetric(o.Rate, m.name+"-req/s")
		b.ReportMetric(ratio, m.name+"/bare")
		line := fmt.Sprintf("BenchmarkRPC %s: peerchain %.0f req/s (p99 %v), bare rpc.Server %.0f req/s (p99 %v): ratio %.2f (goal ≥ 0.70)",
			m.name, o.Rate, o.P99.Round(10*time.Microsecond), base.Rate, base.P99.Round(10*time.Microsecond), ratio)
		if anvil != "" {
			a := hammer(b, anvil, []byte(m.body), m.want)
			line += fmt.Sprintf("; Anvil %.0f req/s (p99 %v): peerchain/Anvil %.2f (goal ≥ 1)", a.Rate, a.P99.Round(10*time.Microsecond), o.Rate/a.Rate)
			b.ReportMetric(o.Rate/a.Rate, m.name+"/anvil")
		}
		gen := "Go load generator"
		if _, err := exec.LookPath("wrk"); err == nil {
			gen = "wrk"
		}
		fmt.Printf("%s; %d keep-alive clients (%s), %v each; load %s\n", line, rpcClients, gen, rpcDuration(), load)
	}
	if testing.Short() || anvil == "" {
		b.ReportMetric(0, "ns/op")
		return
	}
	for _, m := range more {
		o := hammer(b, "http://"+ours.Addr().String(), []byte(m.body), m.want)
		a := hammer(b, anvil, []byte(m.body), m.want)
		b.ReportMetric(o.Rate, m.name+"-req/s")
		b.ReportMetric(o.Rate/a.Rate, m.name+"/anvil")
		fmt.Printf("BenchmarkRPC %s: peerchain %.0f req/s (p99 %v); Anvil %.0f req/s (p99 %v): peerchain/Anvil %.2f (goal ≥ 1)\n",
			m.name, o.Rate, o.P99.Round(10*time.Microsecond), a.Rate, a.P99.Round(10*time.Microsecond), o.Rate/a.Rate)
	}
	b.ReportMetric(0, "ns/op")
}

// startAnvil runs Anvil (from $ANVIL_BIN, or npm's @foundry-rs/anvil
// installed into the user cache) with the answer contract and the rich
// account in place, and returns its URL; "" when it is not available.
func startAnvil(b *testing.B) string {
	bin := os.Getenv("ANVIL_BIN")
	if bin == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		dir := filepath.Join(cache, "peerchain-bench", "anvil")
		bin = filepath.Join(dir, "node_modules", "@foundry-rs", "anvil-linux-amd64", "bin", "anvil")
		if _, err := os.Stat(bin); err != nil {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return ""
			}
			cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", dir, "@foundry-rs/anvil@1.7.1")
			if out, err := cmd.CombinedOutput(); err != nil {
				fmt.Printf("BenchmarkRPC: Anvil not available (npm install: %v: %s); comparing with the bare server only\n", err, bytes.TrimSpace(out))
				return ""
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return ""
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--host", "127.0.0.1", "--port", fmt.Sprint(port), "--silent", "--chain-id", "1337")
	if err := cmd.Start(); err != nil {
		fmt.Printf("BenchmarkRPC: Anvil did not start: %v\n", err)
		return ""
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	c, err := gethrpc.Dial(url)
	if err != nil {
		return ""
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		var n hexutil.Uint64
		if err := c.CallContext(ctx, &n, "eth_blockNumber"); err == nil {
			break
		}
		if ctx.Err() != nil {
			return ""
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := c.CallContext(ctx, nil, "anvil_setCode", answerAddr, hexutil.Encode(answerCode)); err != nil {
		return ""
	}
	if err := c.CallContext(ctx, nil, "anvil_setBalance", richAddr, "0xde0b6b3a7640000"); err != nil {
		return ""
	}
	return url
}
