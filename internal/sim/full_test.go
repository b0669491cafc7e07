//go:build !race

package sim

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/peerchain/peerchain/internal/sync"
)

var (
	fullRuns = flag.Bool("sim.full", false, "run the large simulation scenarios (make sim) and write bench/sim")
	onlyRuns = flag.String("sim.only", "", "run only the scenarios whose name matches this regexp")
	outDir   = flag.String("sim.out", "../../bench/sim", "where the scenario results and the report go")
)

// bigRun is a large scenario and its block size.
type bigRun struct {
	sc    Scenario
	bytes int
}

// scenarios are the large runs of make sim.
func scenarios() []bigRun {
	var out []bigRun
	add := func(name string, peers, blocks int, bt time.Duration, bytes int, mut func(*Scenario)) {
		sc := Scenario{Name: name, Seed: 15, Peers: peers, Blocks: blocks, BlockTime: bt, Loss: 0.001, PoolsFull: true, Warmup: 30 * time.Second}
		if mut != nil {
			mut(&sc)
		}
		out = append(out, bigRun{sc, bytes})
	}
	for _, n := range []int{100, 300, 1000} {
		blocks := 20
		if n == 1000 {
			blocks = 10
		}
		add(fmt.Sprintf("n%d-100k-12s", n), n, blocks, 12*time.Second, 100<<10, nil)
		add(fmt.Sprintf("n%d-1m-12s", n), n, blocks, 12*time.Second, 1<<20, nil)
	}
	// Compact block relay against full blocks, pools full and empty.
	fullBlocks := func(sc *Scenario) { sc.TuneSync = func(c *sync.Config) { c.FullBlocks = true } }
	emptyPools := func(sc *Scenario) { sc.PoolsFull = false }
	for _, n := range []int{30, 100, 1000} {
		blocks := map[int]int{30: 8, 100: 20, 1000: 10}[n]
		if n == 30 {
			add("n30-1m-12s", n, blocks, 12*time.Second, 1<<20, nil)
		}
		add(fmt.Sprintf("n%d-1m-12s-fullblocks", n), n, blocks, 12*time.Second, 1<<20, fullBlocks)
		add(fmt.Sprintf("n%d-1m-12s-emptypools", n), n, blocks, 12*time.Second, 1<<20, emptyPools)
		add(fmt.Sprintf("n%d-1m-12s-emptypools-fullblocks", n), n, blocks, 12*time.Second, 1<<20, func(sc *Scenario) { emptyPools(sc); fullBlocks(sc) })
	}
	add("n100-1m-2s", 100, 30, 2*time.Second, 1<<20, nil)
	add("n100-1m-60s", 100, 8, 60*time.Second, 1<<20, nil)
	for _, n := range []int{100, 300} {
		add(fmt.Sprintf("n%d-faults-100k-12s", n), n, 20, 12*time.Second, 100<<10, func(sc *Scenario) {
			sc.Loss, sc.Miners = 0.005, 20
			sc.Partition = &Window{At: 30 * time.Second, For: 90 * time.Second}
			sc.OfflineShare, sc.Offline = 0.1, &Window{At: 150 * time.Second, For: 60 * time.Second}
		})
	}
	return out
}

// TestSimScenarios runs the large scenarios (-sim.full) one by one, each
// in its own bubble, saves each summary as JSON under -sim.out/runs and
// rewrites the report from every saved summary.
func TestSimScenarios(t *testing.T) {
	if !*fullRuns {
		t.Skip("large scenarios run with -sim.full (make sim)")
	}
	var filter *regexp.Regexp
	if *onlyRuns != "" {
		filter = regexp.MustCompile(*onlyRuns)
	}
	progress := slog.New(slog.NewTextHandler(os.Stderr, nil))
	fixtures := make(map[string]*Fixture)
	for _, run := range scenarios() {
		sc, name := run.sc, run.sc.Name
		if filter != nil && !filter.MatchString(name) {
			continue
		}
		sc.Progress = progress
		key := fmt.Sprint(sc.BlockTime, run.bytes)
		if fixtures[key] == nil {
			fx, err := NewFixture(sc.BlockTime, run.bytes, DefaultCosts())
			if err != nil {
				t.Fatal(err)
			}
			fixtures[key] = fx
		}
		fx := fixtures[key]
		t.Run(name, func(t *testing.T) {
			wall := time.Now()
			var s Summary
			synctest.Test(t, func(t *testing.T) {
				res, err := Run(sc, fx)
				if err != nil {
					t.Fatal(err)
				}
				s = res.Summarise(fx)
			})
			s.Wall, s.HeapMiB = time.Since(wall), peakRSSMiB()
			s.Relay = "compact"
			if sc.TuneSync != nil {
				var c sync.Config
				sc.TuneSync(&c)
				if c.FullBlocks {
					s.Relay = "full"
				}
			}
			if err := saveSummary(s); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: compact %+v; gossip %s; bans %s", name, s.Compact, counts(s.Gossip), counts(s.Bans))
			t.Logf("%s: import p50 %v p99 %v, last peer p99 %v, stale %.1f %%, %.0f KiB/peer/block, wall %v, peak RSS %.0f MiB",
				name, s.P50, s.P99, s.LastP99, 100*s.StaleRate, s.BytesPerPB/1024, s.Wall, s.HeapMiB)
		})
	}
	if err := writeReport(*outDir, DefaultCosts()); err != nil {
		t.Fatal(err)
	}
}

// peakRSSMiB is the process's peak resident set (VmHWM).
func peakRSSMiB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func saveSummary(s Summary) error {
	dir := filepath.Join(*outDir, "runs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, s.Name+".json"), data, 0o644)
}

func loadSummaries(dir string) ([]Summary, error) {
	files, err := filepath.Glob(filepath.Join(dir, "runs", "*.json"))
	if err != nil {
		return nil, err
	}
	var out []Summary
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var s Summary
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Summary) int {
		if c := strings.Compare(a.Name[strings.IndexByte(a.Name, '-'):], b.Name[strings.IndexByte(b.Name, '-'):]); c != 0 {
			return c
		}
		return a.Peers - b.Peers
	})
	return out, nil
}

// writeReport writes report.md and the plots from every saved summary.
func writeReport(dir string, costs Costs) error {
	sums, err := loadSummaries(dir)
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString(reportIntro)
	b.WriteString("\n## Results\n\n")
	if err := WriteTable(&b, sums); err != nil {
		return err
	}
	b.WriteString("\n## What the peers counted\n\n")
	if err := WriteDiagnostics(&b, sums); err != nil {
		return err
	}
	b.WriteString("\n## Charged CPU time\n\n")
	perBlock := map[string]int{}
	for _, size := range []int{100 << 10, 1 << 20} {
		perBlock[fmt.Sprintf("%d KiB", size>>10)] = max(1, size/(txData+110))
	}
	if err := WriteCosts(&b, costs, perBlock); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	return writePlots(dir, sums)
}

// writePlots draws the propagation CDF of each block size and p50/p99
// against the number of peers.
func writePlots(dir string, sums []Summary) error {
	groups := map[string][]Series{}
	vsN := map[string]*Series{}
	var vsNOrder []string
	for _, s := range sums {
		size := size(s.BlockBytes)
		groups[size] = append(groups[size], Series{Name: s.Name, Points: s.CDFPoints})
		if s.BlockTime != 12*time.Second || strings.Contains(s.Name, "faults") || s.Relay != "compact" || !s.PoolsFull {
			continue
		}
		for _, q := range []string{"p50", "p99", "last-peer p99"} {
			key := size + " " + q
			if vsN[key] == nil {
				vsN[key] = &Series{Name: key}
				vsNOrder = append(vsNOrder, key)
			}
			v := map[string]time.Duration{"p50": s.P50, "p99": s.P99, "last-peer p99": s.LastP99}[q]
			vsN[key].Points = append(vsN[key].Points, [2]float64{float64(s.Peers), msf(v)})
		}
	}
	for size, series := range groups {
		name := "cdf-" + strings.NewReplacer(" ", "", ".", "_").Replace(strings.ToLower(size)) + ".svg"
		if err := writeSVG(filepath.Join(dir, name), func(f *os.File) error {
			return WritePlot(f, "Block propagation, "+size+" blocks: share of (block, peer) imports", "ms after sealing", "share of imports", series, false)
		}); err != nil {
			return err
		}
	}
	var series []Series
	for _, k := range vsNOrder {
		slices.SortFunc(vsN[k].Points, func(a, b [2]float64) int { return int(a[0] - b[0]) })
		series = append(series, *vsN[k])
	}
	return writeSVG(filepath.Join(dir, "propagation-vs-peers.svg"), func(f *os.File) error {
		return WritePlot(f, "Propagation against the number of peers (12 s blocks)", "peers", "ms after sealing", series, true)
	})
}

func writeSVG(path string, draw func(*os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := draw(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

const reportIntro = `# Block propagation through simulated peers

Written by ` + "`make sim`" + ` (internal/sim, TestSimScenarios -sim.full); do not edit by
hand. Each run is peerchain's real p2p host and Syncer on every simulated peer,
over QUIC on go-libp2p's simnet, in testing/synctest virtual time; see
docs/architecture.md ("Simulation") for what is real and what is charged.

Columns: **import p50/p95/p99** over every (canonical block, peer) pair, the
time from sealing to that peer's import; **last peer** over canonical blocks,
the time until the last peer had it; **all peers ≤ 4 s**, the share of
canonical blocks every peer had within 4 s (Ethereum's figure: 98 % of blocks
within 4 s); **KiB sent per peer per block**, every UDP byte a peer sent while
the run mined (QUIC headers, gossip, requests, pings) divided by peers and
mined blocks; **stale**, mined blocks that did not end canonical; **heap**,
the test process's peak RSS so far.
`
