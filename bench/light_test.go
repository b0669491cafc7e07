package bench

import (
	"context"
	"fmt"
	"io/fs"
	"math/big"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/chaindb"
	"github.com/peerchain/peerchain/internal/light"
	"github.com/peerchain/peerchain/internal/rpc"
	"github.com/peerchain/peerchain/internal/txpool"
)

// memSource serves a prepared header chain from memory: the light peer's
// work (download algorithm, verification, storage) without a network.
type memSource struct {
	headers []*types.Header // index = number
	td      *big.Int
}

func (m *memSource) Name() string { return "memory" }
func (m *memSource) Head(context.Context) (light.Claim, error) {
	h := m.headers[len(m.headers)-1]
	return light.Claim{Hash: h.Hash(), Number: h.Number.Uint64(), TD: m.td}, nil
}
func (m *memSource) Headers(_ context.Context, start, count uint64) ([]*types.Header, error) {
	end := min(start+count, uint64(len(m.headers)))
	if start >= end {
		return nil, nil
	}
	return m.headers[start:end], nil
}
func (m *memSource) Body(context.Context, common.Hash) (*types.Body, error) {
	return nil, light.ErrNotFound
}
func (m *memSource) Receipts(context.Context, common.Hash) (types.Receipts, error) {
	return nil, light.ErrNotFound
}
func (m *memSource) Proof(context.Context, common.Hash, common.Address, []common.Hash) (*light.Proof, error) {
	return nil, light.ErrNotFound
}
func (m *memSource) Code(context.Context, common.Hash, common.Address) ([]byte, error) {
	return nil, light.ErrNotFound
}
func (m *memSource) TxLocation(context.Context, common.Hash) (common.Hash, uint64, error) {
	return common.Hash{}, 0, light.ErrNotFound
}
func (m *memSource) SendTransaction(context.Context, *types.Transaction) error { return nil }
func (m *memSource) AccessList(context.Context, common.Hash, map[string]any) (types.AccessList, error) {
	return nil, light.ErrNotFound
}
func (m *memSource) PendingNonce(context.Context, common.Address) (uint64, error) {
	return 0, light.ErrNotFound
}

// BenchmarkLightHeaderSync: a light peer syncs 100,000 headers from
// genesis (download algorithm, every header rule, proof of work, storage
// on disk), against the full peer's bare header verification of the same
// headers in the same run (goal: at least that rate); and its memory after
// following them (goal: tens of MB).
func BenchmarkLightHeaderSync(b *testing.B) {
	n := 100_000
	if testing.Short() {
		n = 2_000
	}
	g, err := chaingen.Genesis(chaingen.GenesisOptions{Accounts: 1, Difficulty: 16})
	if err != nil {
		b.Fatal(err)
	}
	gen, err := chaingen.New(g)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	headers, err := gen.Headers(n)
	if err != nil {
		b.Fatal(err)
	}
	built := time.Since(start)
	src := &memSource{headers: append([]*types.Header{gen.Genesis().Header()}, headers...), td: new(big.Int)}
	for _, h := range src.headers {
		src.td.Add(src.td, h.Difficulty)
	}
	load := loadAverage()

	// Baseline: the full peer's header verifier over the same headers.
	db, err := chaindb.Open(b.TempDir(), chaindb.KVOptions{})
	if err != nil {
		b.Fatal(err)
	}
	c, err := chain.New(chain.Config{Genesis: g, DB: db})
	if err != nil {
		b.Fatal(err)
	}
	var bare time.Duration
	for r := 0; r < 2; r++ {
		v, err := c.NewHeaderVerifier(g.Hash())
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		for i := 0; i < n; i += 1024 {
			if err := v.Verify(headers[i:min(i+1024, n)]); err != nil {
				b.Fatal(err)
			}
		}
		if took := time.Since(t0); bare == 0 || took < bare {
			bare = took
		}
	}
	c.Close()
	db.Close()

	// The light peer, from genesis, twice; the best counts.
	var (
		best     time.Duration
		heap     uint64
		sys      uint64
		diskSize int64
	)
	for r := 0; r < 2; r++ {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		dir := b.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		l, err := light.New(ctx, light.Config{DataDir: dir, Genesis: g, Sources: []light.Source{src}, PollInterval: 10 * time.Millisecond, RPCDisabled: true})
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		t0 := time.Now()
		go func() { defer close(done); _ = l.Run(ctx) }()
		for l.Headers().CurrentHeader().Number.Uint64() < uint64(n) {
			time.Sleep(5 * time.Millisecond)
		}
		if took := time.Since(t0); best == 0 || took < best {
			best = took
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap, sys = ms.HeapInuse-min(ms.HeapInuse, before.HeapInuse), ms.Sys
		cancel()
		<-done
		diskSize = dirSize(dir)
	}
	bareRate := float64(n) / bare.Seconds()
	lightRate := float64(n) / best.Seconds()
	b.ReportMetric(lightRate, "light-headers/s")
	b.ReportMetric(bareRate, "verify-headers/s")
	b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
	b.ReportMetric(0, "ns/op")
	fmt.Printf("BenchmarkLightHeaderSync: %d headers (built in %v): light peer sync %.0f headers/s (%v), bare header verification %.0f headers/s: ratio %.2f (goal ≥ 1); the light peer's heap after following them %.1f MiB (process runtime total %.1f MiB, with the benchmark's own copy of the headers; goal: tens of MB), header store %.1f MiB on disk; load %s\n",
		n, built.Round(time.Millisecond), lightRate, best.Round(time.Millisecond), bareRate, lightRate/bareRate,
		float64(heap)/(1<<20), float64(sys)/(1<<20), float64(diskSize)/(1<<20), load)
}

// dirSize is the bytes of the files under dir.
func dirSize(dir string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}

// BenchmarkLightRPCLatency: eth_getBalance and eth_call through a light
// peer (which fetches Merkle proofs and code from its provider and checks
// them, running the call in its own EVM) against the provider directly,
// sequential calls from one client in the same run.
func BenchmarkLightRPCLatency(b *testing.B) {
	n := 300
	if testing.Short() {
		n = 20
	}
	slotCode := common.FromHex("60015460005260206000f3") // returns storage slot 1
	slotAddr := common.HexToAddress("0x5107")
	o := chaingen.GenesisOptions{Accounts: 2, Alloc: types.GenesisAlloc{
		slotAddr: {Code: slotCode, Balance: big.NewInt(7), Storage: map[common.Hash]common.Hash{common.BigToHash(big.NewInt(1)): common.HexToHash("0xbeef")}},
	}}
	g, err := chaingen.Genesis(o)
	if err != nil {
		b.Fatal(err)
	}
	gen, err := chaingen.New(g)
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
	blocks, err := gen.Chain(gen.Genesis(), 20, func(bg *chaingen.BlockGen) { bg.Transfer(0, common.HexToAddress("0x77"), big.NewInt(1)) })
	if err != nil {
		b.Fatal(err)
	}
	for _, blk := range blocks {
		if _, err := c.InsertBlock(blk); err != nil {
			b.Fatal(err)
		}
	}
	pool, err := txpool.New(txpool.Config{Chain: c})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := rpc.NewServer(rpc.Config{Addr: "127.0.0.1:0"}, rpc.Backend{Chain: c, Pool: rpc.LocalPool(pool)})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	providerURL := "http://" + srv.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := light.New(ctx, light.Config{DataDir: b.TempDir(), Genesis: g, Providers: []string{providerURL}, RPC: rpc.Config{Addr: "127.0.0.1:0"}, PollInterval: 50 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = l.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for l.Headers().CurrentHeader().Number.Uint64() < 20 || l.RPCAddr() == "" {
		time.Sleep(10 * time.Millisecond)
	}
	// measure returns the p50 latency of k sequential calls, args(i) giving
	// the i-th call's parameters.
	measure := func(url, method string, k int, args func(i int) []any) time.Duration {
		cl, err := gethrpc.Dial(url)
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		lat := make([]time.Duration, k)
		for i := range lat {
			var out any
			t0 := time.Now()
			if err := cl.Call(&out, method, args(i)...); err != nil {
				b.Fatalf("%s via %s: %v", method, url, err)
			}
			lat[i] = time.Since(t0)
		}
		slices.Sort(lat)
		return lat[k/2]
	}
	load := loadAverage()
	call := map[string]any{"to": slotAddr, "data": "0x"}
	same := func(a ...any) func(int) []any { return func(int) []any { return a } }
	var line []string
	for _, m := range []struct {
		name, method string
		k            int
		args         func(i int) []any
	}{
		// Cold: every call reads something the light peer has not proven yet.
		{"eth_getBalance cold", "eth_getBalance", n, func(i int) []any { return []any{common.BigToAddress(big.NewInt(int64(0x10000 + i))), "latest"} }},
		{"eth_call cold", "eth_call", 20, func(i int) []any { return []any{call, hexutil.Uint64(i + 1)} }},
		// Warm: the same read at the same block, answered from what was proven.
		{"eth_getBalance warm", "eth_getBalance", n, same(common.HexToAddress("0x77"), "latest")},
		{"eth_call warm", "eth_call", n, same(call, "latest")},
	} {
		direct := measure(providerURL, m.method, m.k, m.args)
		through := measure("http://"+l.RPCAddr(), m.method, m.k, m.args)
		metric := strings.ReplaceAll(m.name, " ", "-")
		b.ReportMetric(float64(direct.Microseconds()), metric+"-direct-µs")
		b.ReportMetric(float64(through.Microseconds()), metric+"-light-µs")
		line = append(line, fmt.Sprintf("%s p50 %v direct, %v through the light peer (%.1f×)", m.name, direct.Round(time.Microsecond), through.Round(time.Microsecond), float64(through)/float64(direct)))
	}
	b.ReportMetric(0, "ns/op")
	fmt.Printf("BenchmarkLightRPCLatency: sequential calls (%d each, 20 for cold eth_call), provider on loopback: %s; load %s\n", n, strings.Join(line, "; "), load)
}
