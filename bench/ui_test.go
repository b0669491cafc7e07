package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/node"
	"github.com/peerchain/peerchain/internal/ui"
)

// uiBlocksPerSec and uiPoolTxs are PERF.md's load for the web UI.
const (
	uiBlocksPerSec = 20
	uiPoolTxs      = 1000
	uiPoolSenders  = 10
)

// uiFrames is one page's frame figures as ui_bench.mjs reports them.
type uiFrames struct {
	NavMs     float64 `json:"navMs"`
	Frames    int     `json:"frames"`
	P50       float64 `json:"p50"`
	P95       float64 `json:"p95"`
	Max       float64 `json:"max"`
	Janky     int     `json:"janky"`
	LongTasks int     `json:"longTasks"`
	BlockedMs float64 `json:"blockedMs"`
}

type uiResult struct {
	Idle    map[string]uiFrames `json:"idle"`
	Load    map[string]uiFrames `json:"load"`
	Samples []struct {
		T         float64 `json:"t"`
		UsedMB    float64 `json:"usedMB"`
		Nodes     float64 `json:"nodes"`
		Live      float64 `json:"live"`
		Listeners float64 `json:"listeners"`
	} `json:"samples"`
	End    uiFrames `json:"end"`
	Head   string   `json:"head"`
	Errors []string `json:"errors"`
}

// BenchmarkUI: the web UI of a real peer (in-process node, RPC and UI on
// loopback) in headless Chromium. Baseline: the live pages on a quiet
// chain. Load: the same pages while the peer imports 20 blocks/s (each
// with transfers) and holds 1,000 transactions in its pool. Ratios: frame
// interval p95 and nav latency under load against the baseline (goal:
// responsive, ≈ 1); JS heap after UI_BENCH_DURATION (default 10m; -short
// 1m) against its first sample (goal: flat, ≈ 1).
//
// It needs Debian's chromium and test/e2e's npm packages (make deps).
func BenchmarkUI(b *testing.B) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		b.Skip("BenchmarkUI: no chromium (apt-get install chromium, or make deps)")
	}
	script, err := filepath.Abs("../test/e2e/js/ui_bench.mjs")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat("../test/e2e/node_modules/playwright-core"); err != nil {
		b.Skip("BenchmarkUI: no playwright-core in test/e2e/node_modules (make deps)")
	}
	duration := 10 * time.Minute
	if testing.Short() {
		duration = time.Minute
	}
	if s := os.Getenv("UI_BENCH_DURATION"); s != "" {
		if duration, err = time.ParseDuration(s); err != nil {
			b.Fatalf("UI_BENCH_DURATION=%q: %v", s, err)
		}
	}

	// A chain of transfer blocks, made before the clock starts: enough
	// for the whole run at 20 blocks/s.
	g, err := chaingen.Genesis(chaingen.GenesisOptions{Accounts: 4 + uiPoolSenders, BlockTime: 1, HalfLife: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	gen, err := chaingen.New(g)
	if err != nil {
		b.Fatal(err)
	}
	nblocks := int((duration + time.Minute).Seconds()) * uiBlocksPerSec
	sink := common.HexToAddress("0x00000000000000000000000000000000000051c4")
	blocks, err := gen.Chain(gen.Genesis(), nblocks, func(bg *chaingen.BlockGen) {
		for k := 0; k < 4; k++ {
			if bg.Index()%4 == k {
				bg.Transfer(k, sink, big.NewInt(int64(bg.Index()+1)))
			}
		}
		bg.Transfer(bg.Index()%4, common.BigToAddress(big.NewInt(int64(bg.Index()))), big.NewInt(1))
	})
	if err != nil {
		b.Fatal(err)
	}

	h, err := ui.New()
	if err != nil {
		b.Fatal(err)
	}
	cfg := node.Config{DataDir: b.TempDir(), Genesis: g}
	cfg.RPC.Addr = "127.0.0.1:0"
	cfg.RPC.UI = h
	cfg.P2P.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.P2P.NoDHT = true
	n, err := node.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- n.Run(ctx, ready) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("node: %v", err)
		}
	}()
	select {
	case <-ready:
	case err := <-done:
		b.Fatalf("node: %v", err)
	}
	// A few blocks so the pages have something before the baseline.
	for _, blk := range blocks[:10] {
		if _, err := n.Chain().InsertBlock(blk); err != nil {
			b.Fatal(err)
		}
	}
	blocks = blocks[10:]

	shots := filepath.Join(os.TempDir(), "peerchain-ui-bench")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		b.Fatal(err)
	}
	url := "http://" + n.RPCAddr()
	cmd := exec.Command("node", script, url, strconv.Itoa(int(duration.Seconds())), shots)
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var (
		res      uiResult
		feedStop = make(chan struct{})
		fed      = make(chan feedStats, 1)
	)
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "IDLE_DONE":
			if err := fillPool(n, gen, uiPoolTxs); err != nil {
				b.Fatal(err)
			}
			go func() { fed <- feedBlocks(n, blocks, uiBlocksPerSec, feedStop) }()
		case strings.HasPrefix(line, "RESULT "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "RESULT ")), &res); err != nil {
				b.Fatalf("ui_bench.mjs result: %v", err)
			}
		}
	}
	close(feedStop)
	if err := cmd.Wait(); err != nil {
		b.Fatalf("ui_bench.mjs: %v", err)
	}
	fs := <-fed
	if fs.err != nil {
		b.Fatalf("feeding blocks: %v", fs.err)
	}
	if len(res.Samples) < 2 {
		b.Fatalf("ui_bench.mjs gave %d heap samples", len(res.Samples))
	}

	pending, queued := n.Pool().Stats()
	fmt.Printf("BenchmarkUI: %d blocks imported at %.1f/s (goal %d/s), pool %d pending %d queued; page open %v; Chromium %s, GOMAXPROCS %d\n",
		fs.blocks, fs.rate, uiBlocksPerSec, pending, queued, duration, chromiumVersion(chromium), runtime.GOMAXPROCS(0))
	for _, name := range []string{"home", "node", "network", "charts"} {
		i, l := res.Idle[name], res.Load[name]
		fmt.Printf("  %-8s frame p50 %5.1f→%5.1f ms, p95 %5.1f→%5.1f ms (ratio %.2f), max %5.0f→%5.0f ms, long tasks %d→%d (blocked %.0f→%.0f ms), nav %4.0f→%4.0f ms (ratio %.2f)\n",
			name, i.P50, l.P50, i.P95, l.P95, l.P95/i.P95, i.Max, l.Max, i.LongTasks, l.LongTasks, i.BlockedMs, l.BlockedMs, i.NavMs, l.NavMs, l.NavMs/max(i.NavMs, 1))
		b.ReportMetric(l.P95/i.P95, name+"-p95/idle")
	}
	first, last := res.Samples[0], res.Samples[len(res.Samples)-1]
	peak := 0.0
	for _, s := range res.Samples {
		peak = max(peak, s.UsedMB)
	}
	fmt.Printf("  heap after GC %.1f MiB → %.1f MiB after %.0f s (ratio %.2f, peak %.1f MiB); DOM nodes %.0f → %.0f; frame p95 at the end %.1f ms; head shown %s; console errors %d\n",
		first.UsedMB, last.UsedMB, last.T, last.UsedMB/first.UsedMB, peak, first.Nodes, last.Nodes, res.End.P95, strings.TrimSpace(res.Head), len(res.Errors))
	fmt.Printf("  samples (s: heap MiB, DOM nodes, of them in the document, JS listeners):")
	for _, s := range res.Samples {
		fmt.Printf(" %.0f: %.1f/%.0f/%.0f/%.0f", s.T, s.UsedMB, s.Nodes, s.Live, s.Listeners)
	}
	fmt.Println()
	for _, e := range res.Errors {
		fmt.Printf("  console error: %s\n", e)
	}
	fmt.Printf("  screenshots: %s\n", shots)
	b.ReportMetric(last.UsedMB/first.UsedMB, "heap-end/start")
	b.ReportMetric(0, "ns/op")
}

type feedStats struct {
	blocks int
	rate   float64
	err    error
}

// feedBlocks imports blocks at perSec, as if they arrived from peers,
// until stop or the blocks run out.
func feedBlocks(n *node.Node, blocks []*types.Block, perSec int, stop <-chan struct{}) feedStats {
	tick := time.NewTicker(time.Second / time.Duration(perSec))
	defer tick.Stop()
	start := time.Now()
	i := 0
	for ; i < len(blocks); i++ {
		select {
		case <-stop:
			return feedStats{blocks: i, rate: float64(i) / time.Since(start).Seconds()}
		case <-tick.C:
		}
		if _, err := n.Chain().InsertBlock(blocks[i]); err != nil {
			return feedStats{blocks: i, err: fmt.Errorf("block %d: %w", blocks[i].NumberU64(), err)}
		}
	}
	return feedStats{blocks: i, rate: float64(i) / time.Since(start).Seconds()}
}

// fillPool adds count transfers from the pool senders (keys 4…), which
// the imported blocks never spend from, so they stay pending.
func fillPool(n *node.Node, gen *chaingen.Generator, count int) error {
	base := n.Chain().CurrentHeader().BaseFee
	// Fees far above any base fee the run reaches.
	fee := new(big.Int).Mul(base, big.NewInt(100))
	var txs []*types.Transaction
	for i := 0; i < count; i++ {
		sender := 4 + i%uiPoolSenders
		tx, err := gen.Transfer(chaingen.Key(sender), uint64(i/uiPoolSenders), chaingen.Addr(i%4), big.NewInt(1), fee)
		if err != nil {
			return err
		}
		txs = append(txs, tx)
	}
	for i, err := range n.Pool().Add(txs) {
		if err != nil {
			return fmt.Errorf("pool transaction %d: %w", i, err)
		}
	}
	return nil
}

func chromiumVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(out))
	if len(f) >= 2 {
		return f[1]
	}
	return strings.TrimSpace(string(out))
}
