package light

import (
	"context"
	"errors"
	"math/big"
	"net/http/httptest"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rlp"
	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/chain/chaintest"
	"github.com/peerchain/peerchain/internal/params"
	"github.com/peerchain/peerchain/internal/rpc"
	"github.com/peerchain/peerchain/internal/txpool"
)

var genesisOpts = chaingen.GenesisOptions{Accounts: 4}

// provider is a real full peer's chain behind a real JSON-RPC server.
type provider struct {
	env  *chaintest.Env
	pool *txpool.Pool
	url  string
}

func newProvider(t *testing.T, opts ...chaingen.GenesisOptions) *provider {
	t.Helper()
	o := genesisOpts
	if len(opts) > 0 {
		o = opts[0]
	}
	env := chaintest.New(t, o)
	pool, err := txpool.New(txpool.Config{Chain: env.Chain})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := rpc.NewServer(rpc.Config{Addr: "127.0.0.1:0"}, rpc.Backend{Chain: env.Chain, Pool: rpc.LocalPool(pool)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &provider{env: env, pool: pool, url: "http://" + srv.Addr().String()}
}

func (p *provider) extend(t *testing.T, n int, mut func(*chaingen.BlockGen)) []*types.Block {
	t.Helper()
	blocks, err := p.env.Gen.Chain(p.env.Chain.CurrentBlock(), n, mut)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if _, err := p.env.Chain.InsertBlock(b); err != nil && !errors.Is(err, chain.ErrKnownBlock) {
			t.Fatal(err)
		}
	}
	return blocks
}

func mustGenesis(t *testing.T, o chaingen.GenesisOptions) *params.Genesis {
	t.Helper()
	g, err := chaingen.Genesis(o)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startLight runs a light peer until the test ends.
func startLight(t *testing.T, cfg Config) *Light {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Genesis == nil {
		g, err := chaingen.Genesis(genesisOpts)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Genesis = g
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 100 * time.Millisecond
	}
	if cfg.RPC.Addr == "" {
		cfg.RPC.Addr = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	l, err := New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var wg gosync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = l.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return l
}

func headIs(l *Light, b *types.Block) func() bool {
	return func() bool { return l.Headers().CurrentHeader().Hash() == b.Hash() }
}

func TestLightFollowsAProviderAndRestarts(t *testing.T) {
	p := newProvider(t)
	blocks := p.extend(t, 300, func(b *chaingen.BlockGen) { b.Transfer(b.Index()%4, common.HexToAddress("0x77"), big.NewInt(1)) })
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	g, err := chaingen.Genesis(genesisOpts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(ctx, Config{DataDir: dir, Genesis: g, Providers: []string{p.url}, PollInterval: 100 * time.Millisecond, RPCDisabled: true})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = l.Run(ctx) }()
	waitFor(t, 30*time.Second, "the light peer to sync 300 headers", headIs(l, blocks[299]))
	if td, want := l.Headers().CurrentTD(), p.env.Chain.CurrentTD(); td.Cmp(want) != 0 {
		t.Fatalf("total difficulty %v, the provider's %v", td, want)
	}
	more := p.extend(t, 3, nil)
	waitFor(t, 10*time.Second, "the light peer to follow the head", headIs(l, more[2]))
	cancel()
	<-done
	// A restart does not resync: the head is there at once.
	l2, err := New(context.Background(), Config{DataDir: dir, Genesis: g, Providers: []string{p.url}, RPCDisabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if !headIs(l2, more[2])() {
		t.Fatalf("after a restart the head is %v, want %v", l2.Headers().CurrentHeader().Number, more[2].Number())
	}
	if h := l2.Headers().GetHeaderByNumber(150); h == nil || h.Hash() != blocks[149].Hash() {
		t.Fatal("canonical header 150 lost across the restart")
	}
	l2.Close()
	// Another chain's data dir is refused.
	other, err := chaingen.Genesis(chaingen.GenesisOptions{Accounts: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), Config{DataDir: dir, Genesis: other, Providers: []string{p.url}, RPCDisabled: true}); err == nil || !strings.Contains(err.Error(), "use another --datadir") {
		t.Fatalf("a data dir of another chain: %v", err)
	}
}

// liar is a JSON-RPC endpoint that answers like a provider from a script.
type liar struct {
	url     string
	armed   atomic.Bool // it answers heads only once armed
	mu      gosync.Mutex
	head    func() map[string]any
	headers func(ctx context.Context, start, count uint64) ([]hexutil.Bytes, error)
	calls   map[string]int
}

type liarEth struct{ l *liar }
type liarPeerchain struct{ l *liar }

func (e *liarEth) GetBlockByNumber(_ string, _ bool) (map[string]any, error) {
	e.l.count("eth_getBlockByNumber")
	if !e.l.armed.Load() {
		return nil, errors.New("not yet")
	}
	return e.l.head(), nil
}

func (p *liarPeerchain) GetRawHeaders(ctx context.Context, start, count hexutil.Uint64) ([]hexutil.Bytes, error) {
	p.l.count("peerchain_getRawHeaders")
	return p.l.headers(ctx, uint64(start), uint64(count))
}

func (l *liar) count(m string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls[m]++
}

func newLiar(t *testing.T, head func() map[string]any, headers func(ctx context.Context, start, count uint64) ([]hexutil.Bytes, error)) *liar {
	t.Helper()
	l := &liar{head: head, headers: headers, calls: make(map[string]int)}
	srv := gethrpc.NewServer()
	if err := srv.RegisterName("eth", &liarEth{l}); err != nil {
		t.Fatal(err)
	}
	if err := srv.RegisterName("peerchain", &liarPeerchain{l}); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Stop() })
	l.url = hs.URL
	return l
}

func claimOf(n uint64, td *big.Int) func() map[string]any {
	return func() map[string]any {
		return map[string]any{"number": hexutil.Uint64(n), "hash": common.Hash{0x42}, "totalDifficulty": (*hexutil.Big)(td)}
	}
}

func rawHeaders(hs []*types.Header, start, count uint64) []hexutil.Bytes {
	var out []hexutil.Bytes
	for n := start; n < start+count && n < uint64(len(hs)); n++ {
		enc, _ := rlp.EncodeToBytes(hs[n])
		out = append(out, enc)
	}
	return out
}

func headersOf(g *chaingen.Generator, blocks []*types.Block) []*types.Header {
	out := []*types.Header{g.Genesis().Header()}
	for _, b := range blocks {
		out = append(out, b.Header())
	}
	return out
}

// Each liar is caught every time and dropped with the evidence, and the
// light peer follows the honest provider all the same.
func TestLightCatchesLyingProviders(t *testing.T) {
	honest := newProvider(t)
	blocks := honest.extend(t, 40, nil)
	gen := honest.env.Gen
	canon := headersOf(gen, blocks)
	huge := new(big.Int).Lsh(big.NewInt(1), 100)
	fork, err := gen.Chain(gen.Genesis(), 20, func(b *chaingen.BlockGen) { b.SetExtra([]byte("lighter fork")) })
	if err != nil {
		t.Fatal(err)
	}
	forkHeaders := headersOf(gen, fork)
	for _, c := range []struct {
		name    string
		head    func() map[string]any
		headers func(ctx context.Context, start, count uint64) ([]hexutil.Bytes, error)
	}{
		{"a lighter chain behind a huge claim", claimOf(20, huge), func(_ context.Context, start, count uint64) ([]hexutil.Bytes, error) {
			return rawHeaders(forkHeaders, start, count), nil
		}},
		{"a header without proof of work", claimOf(40, huge), func(_ context.Context, start, count uint64) ([]hexutil.Bytes, error) {
			hs := append([]*types.Header{}, canon...)
			bad := types.CopyHeader(hs[10])
			bad.Difficulty = new(big.Int).Lsh(big.NewInt(1), 50)
			hs[10] = bad
			return rawHeaders(hs, start, count), nil
		}},
		{"malformed headers", claimOf(40, huge), func(_ context.Context, start, count uint64) ([]hexutil.Bytes, error) {
			return []hexutil.Bytes{{0xde, 0xad}}, nil
		}},
		{"headers numbered wrong", claimOf(40, huge), func(_ context.Context, start, count uint64) ([]hexutil.Bytes, error) {
			return rawHeaders(canon, start+1, count), nil
		}},
		{"a staller", claimOf(40, huge), func(ctx context.Context, _, _ uint64) ([]hexutil.Bytes, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			lie := newLiar(t, c.head, c.headers)
			l := startLight(t, Config{
				Providers:     []string{lie.url, honest.url},
				SourceTimeout: 500 * time.Millisecond,
				StrikeBackoff: 100 * time.Millisecond,
			})
			waitFor(t, 30*time.Second, "the light peer to follow the honest chain", headIs(l, blocks[39]))
			lie.armed.Store(true) // its lie now meets a peer that has the honest chain
			waitFor(t, 30*time.Second, "the liar to be dropped", func() bool {
				for _, s := range l.Sources() {
					if s.Name == lie.url && s.Dropped != "" {
						t.Logf("evidence: %s", s.Dropped)
						return true
					}
				}
				return false
			})
			for _, s := range l.Sources() {
				if s.Name == honest.url && (s.Dropped != "" || s.Strikes > 0) {
					t.Fatalf("the honest provider was penalised: %+v", s)
				}
			}
			if !headIs(l, blocks[39])() {
				t.Fatal("the light peer left the honest chain")
			}
			for _, f := range fork[:3] {
				if l.Headers().GetHeader(f.Hash(), f.NumberU64()) != nil {
					t.Fatal("a header of the lighter fork was stored")
				}
			}
		})
	}
}

// A long cheap chain behind a huge claim is verified holding a bounded
// number of headers, never stored, and its source dropped.
func TestLightBoundsHeldHeaders(t *testing.T) {
	honest := newProvider(t)
	blocks := honest.extend(t, 30, nil)
	gen := honest.env.Gen
	cheap, err := gen.Chain(gen.Genesis(), 1500, func(b *chaingen.BlockGen) { b.Header().Time += 3600 })
	if err != nil {
		t.Fatal(err)
	}
	cheapHeaders := headersOf(gen, cheap)
	lie := newLiar(t, claimOf(1500, new(big.Int).Lsh(big.NewInt(1), 100)), func(_ context.Context, start, count uint64) ([]hexutil.Bytes, error) {
		return rawHeaders(cheapHeaders, start, count), nil
	})
	l := startLight(t, Config{Providers: []string{lie.url, honest.url}, MaxHeldHeaders: 100, StrikeBackoff: 50 * time.Millisecond})
	waitFor(t, 30*time.Second, "the light peer to follow the honest chain", headIs(l, blocks[29]))
	lie.armed.Store(true)
	waitFor(t, 30*time.Second, "the liar to be dropped", func() bool {
		for _, s := range l.Sources() {
			if s.Name == lie.url && s.Dropped != "" {
				return true
			}
		}
		return false
	})
	l.sync.mu.Lock()
	held := l.sync.held
	l.sync.mu.Unlock()
	if held > 100 {
		t.Fatalf("held %d headers, the bound is 100", held)
	}
	if l.Headers().GetHeader(cheap[0].Hash(), 1) != nil {
		t.Fatal("a header of the cheap chain was stored")
	}
}

// Headers inserted directly (gossip) are verified: a bad one is refused
// with its rule, a sibling is stored and a heavier branch reorganises.
func TestHeaderChainInsertAndReorg(t *testing.T) {
	p := newProvider(t)
	gen := p.env.Gen
	l := startLight(t, Config{Providers: []string{p.url}, PollInterval: time.Hour})
	hc := l.Headers()
	a, err := gen.Chain(gen.Genesis(), 5, func(b *chaingen.BlockGen) { b.SetExtra([]byte("a")) })
	if err != nil {
		t.Fatal(err)
	}
	if err := hc.Insert(headersOf(gen, a)[1:]); err != nil {
		t.Fatal(err)
	}
	if hc.CurrentHeader().Hash() != a[4].Hash() {
		t.Fatal("head is not the inserted chain's tip")
	}
	bad := types.CopyHeader(a[4].Header())
	bad.Extra = []byte("changed after sealing")
	var re *chain.RuleError
	if err := hc.Insert([]*types.Header{bad}); !errors.As(err, &re) {
		t.Fatalf("a header changed after sealing: %v, want a rule error", err)
	}
	events := make(chan HeadEvent, 4)
	sub := hc.SubscribeHeads(events)
	defer sub.Unsubscribe()
	b, err := gen.Chain(a[1], 5, func(bg *chaingen.BlockGen) { bg.SetExtra([]byte("b")) })
	if err != nil {
		t.Fatal(err)
	}
	if err := hc.Insert(headersOf(gen, b)[1:]); err != nil {
		t.Fatal(err)
	}
	if hc.CurrentHeader().Hash() != b[4].Hash() {
		t.Fatal("the heavier branch did not become the head")
	}
	ev := <-events
	if len(ev.Removed) != 3 || len(ev.Added) != 5 || ev.Added[4].Hash() != b[4].Hash() {
		t.Fatalf("reorg event: %d removed, %d added", len(ev.Removed), len(ev.Added))
	}
	if h := hc.GetHeaderByNumber(3); h == nil || h.Hash() != b[0].Hash() {
		t.Fatal("canonical header 3 is not the new branch's")
	}
}
