package sim

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/peerchain/peerchain/internal/sync"
)

// Summary is a run's figures.
type Summary struct {
	Name       string
	Peers      int
	BlockTime  time.Duration
	BlockBytes int // encoded size of a block
	PoolsFull  bool
	Mined      int
	Canonical  int
	StaleRate  float64 // mined blocks that did not end canonical
	P50        time.Duration
	P95        time.Duration
	P99        time.Duration // over every (canonical block, peer) import
	LastP50    time.Duration
	LastP95    time.Duration
	LastP99    time.Duration // over canonical blocks: until the last peer has it
	LastMax    time.Duration
	Within4s   float64 // canonical blocks every peer had within 4 s
	Missing    int     // (canonical block, peer) pairs never imported
	BytesPerPB float64 // bytes sent per peer per mined block
	Heads      int
	DegreeMin  int
	DegreeAvg  float64
	DegreeMax  int
	Virtual    time.Duration
	Wall       time.Duration // set by the caller (real time)
	HeapMiB    float64       // set by the caller: peak RSS of the process
	// Bound is the propagation bound derived from the latency matrix
	// (Result.PropagationBound).
	Bound time.Duration
	// Compact is how the run relayed blocks ("compact", "full", or "" when
	// sync had no choice).
	Relay   string
	Compact sync.CompactStats
	Gossip  map[string]uint64
	Bans    map[string]uint64
	// CDFPoints is the distribution of imports (ms, share) for plots.
	CDFPoints   [][2]float64
	arrivals    []time.Duration
	lastByBlock []time.Duration
}

// Summarise computes the figures of a run.
func (r *Result) Summarise(fx *Fixture) Summary {
	s := Summary{Name: r.Scenario.Name, Peers: len(r.Region), BlockTime: r.Scenario.BlockTime,
		PoolsFull: r.Scenario.PoolsFull, Mined: len(r.Blocks), Heads: r.Heads, Virtual: r.Virtual,
		Compact: r.Compact, Gossip: r.Gossip, Bans: r.Bans}
	var bytes uint64
	for _, b := range r.BytesSent {
		bytes += b
	}
	if s.Mined > 0 {
		s.BytesPerPB = float64(bytes) / float64(s.Peers) / float64(s.Mined)
	}
	s.DegreeMin = math.MaxInt
	for _, d := range r.Degree {
		s.DegreeMin, s.DegreeMax = min(s.DegreeMin, d), max(s.DegreeMax, d)
		s.DegreeAvg += float64(d) / float64(len(r.Degree))
	}
	within := 0
	for _, b := range r.Blocks {
		if !b.Canonical {
			continue
		}
		s.Canonical++
		var last time.Duration
		for _, a := range b.Arrivals {
			if a < 0 {
				s.Missing++
				continue
			}
			s.arrivals = append(s.arrivals, a)
			last = max(last, a)
		}
		s.lastByBlock = append(s.lastByBlock, last)
		if last <= 4*time.Second {
			within++
		}
	}
	if s.Mined > 0 {
		s.StaleRate = float64(s.Mined-s.Canonical) / float64(s.Mined)
	}
	if s.Canonical > 0 {
		s.Within4s = float64(within) / float64(s.Canonical)
	}
	slices.Sort(s.arrivals)
	slices.Sort(s.lastByBlock)
	s.P50, s.P95, s.P99 = pct(s.arrivals, 50), pct(s.arrivals, 95), pct(s.arrivals, 99)
	s.LastP50, s.LastP95, s.LastP99 = pct(s.lastByBlock, 50), pct(s.lastByBlock, 95), pct(s.lastByBlock, 99)
	if n := len(s.lastByBlock); n > 0 {
		s.LastMax = s.lastByBlock[n-1]
	}
	if fx != nil && len(fx.txs) > 0 {
		s.BlockBytes = int(fx.txs[0].Size())*fx.perBlock + 600
		s.Bound = r.PropagationBound(s.BlockBytes, fx)
	}
	s.CDFPoints = s.CDF().Points
	return s
}

// pct is the p-th percentile of sorted (nearest rank).
func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/float64(time.Millisecond)) }

// WriteTable writes the summaries as a markdown table.
func WriteTable(w io.Writer, sums []Summary) error {
	var b strings.Builder
	b.WriteString("| scenario | peers | block | block time | relay, pools | mined | stale | import p50 / p95 / p99 (ms) | last peer p50 / p95 / p99 / max (ms) | all peers ≤ 4 s | missing | KiB sent per peer per block | degree min / avg / max | heads at end | virtual | wall | heap |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range sums {
		pools := "empty"
		if s.PoolsFull {
			pools = "full"
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %v | %s, %s | %d | %.1f %% | %s / %s / %s | %s / %s / %s / %s | %.0f %% | %d | %.0f | %d / %.1f / %d | %d | %v | %v | %.0f MiB |\n",
			s.Name, s.Peers, size(s.BlockBytes), s.BlockTime, s.Relay, pools, s.Mined, 100*s.StaleRate,
			ms(s.P50), ms(s.P95), ms(s.P99), ms(s.LastP50), ms(s.LastP95), ms(s.LastP99), ms(s.LastMax),
			100*s.Within4s, s.Missing, s.BytesPerPB/1024, s.DegreeMin, s.DegreeAvg, s.DegreeMax, s.Heads,
			s.Virtual.Round(time.Second), s.Wall.Round(time.Second), s.HeapMiB)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func size(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.0f KiB", float64(n)/1024)
}

// WriteCosts writes the charged CPU costs.
func WriteCosts(w io.Writer, c Costs, txsPerBlock map[string]int) error {
	var b strings.Builder
	b.WriteString("| charged work | virtual time | source (bench/README.md) |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| header check (PoW, difficulty, time, base fee), per header | %v | BenchmarkHeaderVerification, 147,288 headers/s (run 3) |\n", c.Header)
	fmt.Fprintf(&b, "| body check (transactions root), per transaction | %v | import profile: body rules ≈ 2 ms per 1,000-transfer block |\n", c.BodyPerTx)
	fmt.Fprintf(&b, "| block import, per transaction | %v | BenchmarkBlockImport after issues 13–14: 13,345 transfers/s (2 cores) |\n", c.ImportPerTx)
	keys := make([]string, 0, len(txsPerBlock))
	for k := range txsPerBlock {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		n := txsPerBlock[k]
		fmt.Fprintf(&b, "| %s block: %d transactions → import %v | | |\n", k, n, (time.Duration(n) * c.ImportPerTx).Round(time.Millisecond))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteDiagnostics writes, per run, the compact relay counters, the gossip
// outcomes and the bans summed over the peers.
func WriteDiagnostics(w io.Writer, sums []Summary) error {
	var b strings.Builder
	b.WriteString("| scenario | compact rebuilt / fallbacks | txs from pool / prefilled / fetched | gossip messages (topic outcome: count) | bans |\n|---|---|---|---|---|\n")
	for _, s := range sums {
		c := s.Compact
		fmt.Fprintf(&b, "| %s | %d / %d | %d / %d / %d | %s | %s |\n", s.Name, c.Rebuilt, c.Fallbacks, c.FromPool, c.Prefilled, c.Fetched, counts(s.Gossip), counts(s.Bans))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func counts(m map[string]uint64) string {
	if len(m) == 0 {
		return "—"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, "; ")
}
