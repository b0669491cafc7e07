package light

import (
	"context"
	"math/big"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/params"
	"github.com/peerchain/peerchain/internal/rpc"
)

// netEvents collects a light peer's network events.
type netEvents struct {
	mu  gosync.Mutex
	evs []rpc.NetEvent
}

func (e *netEvents) push(ev rpc.NetEvent) { e.mu.Lock(); e.evs = append(e.evs, ev); e.mu.Unlock() }

func (e *netEvents) of(typ string) []rpc.NetEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []rpc.NetEvent
	for _, ev := range e.evs {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

func arrivalsByHash(l *Light) map[common.Hash]rpc.BlockArrival {
	out := map[common.Hash]rpc.BlockArrival{}
	for _, a := range (rpcNet{l}).BlockArrivals(maxHeaderArrivals) {
		out[a.Hash] = a
	}
	return out
}

// The light peer records when each verified header first arrived and
// from which source, and its header chain's reorgs with their depth, the
// dropped branch as a side tip.
func TestLightNetViewArrivalsAndReorg(t *testing.T) {
	p := newProvider(t)
	gen := p.env.Gen
	blocks := p.extend(t, 5, nil)
	l := startLight(t, Config{Providers: []string{p.url}})
	var events netEvents
	stop := (rpcNet{l}).SubscribeNet(events.push)
	defer stop()
	waitFor(t, 20*time.Second, "the light peer to sync 5 headers", headIs(l, blocks[4]))
	got := arrivalsByHash(l)
	for _, b := range blocks {
		a, ok := got[b.Hash()]
		if !ok {
			t.Fatalf("no arrival of header %d", b.NumberU64())
		}
		if a.From != p.url || uint64(a.Number) != b.NumberU64() || a.TimeMs <= 0 {
			t.Fatalf("arrival of header %d: %+v, want from %s", b.NumberU64(), a, p.url)
		}
	}
	// Following the head: one header at a time, via "headers", counted
	// in the propagation histogram.
	next := p.extend(t, 1, nil)
	waitFor(t, 20*time.Second, "the light peer to follow", headIs(l, next[0]))
	if a := arrivalsByHash(l)[next[0].Hash()]; a.Via != viaHeaders || a.From != p.url {
		t.Fatalf("arrival of a header at the head: %+v", a)
	}
	if prop := (rpcNet{l}).Propagation(); prop.Blocks < 1 || prop.P50Ms == nil {
		t.Fatalf("propagation after following the head: %+v", prop)
	}

	// The provider reorganises to a heavier branch from block 2: headers
	// 3 to 6 leave the light peer's canonical chain.
	fork, err := gen.Chain(blocks[1], 6, func(b *chaingen.BlockGen) { b.SetExtra([]byte("fork")) })
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range fork {
		if _, err := p.env.Chain.InsertBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	if p.env.Chain.CurrentBlock().Hash() != fork[5].Hash() {
		t.Fatal("the provider did not take the heavier branch")
	}
	waitFor(t, 20*time.Second, "the light peer to reorganise", headIs(l, fork[5]))
	waitFor(t, 5*time.Second, "the reorg to be recorded", func() bool { return len((rpcNet{l}).Reorgs()) == 1 })
	r := (rpcNet{l}).Reorgs()[0]
	if r.Depth != 4 || r.Added != 6 || uint64(r.Ancestor.Number) != 2 || r.Ancestor.Hash != blocks[1].Hash() ||
		r.OldHead.Hash != next[0].Hash() || r.NewHead.Hash != fork[5].Hash() {
		t.Fatalf("reorg %+v: want depth 4, 6 added, ancestor #2 %s", r, blocks[1].Hash())
	}
	if evs := events.of("reorg"); len(evs) != 1 || evs[0].Reorg.Depth != 4 {
		t.Fatalf("reorg events %+v", evs)
	}
	tips := (rpcNet{l}).ChainTips()
	if tips.Head.Hash != fork[5].Hash() || len(tips.Tips) != 1 {
		t.Fatalf("chain tips %+v", tips)
	}
	if tip := tips.Tips[0]; tip.Hash != next[0].Hash() || tip.Fork == nil || uint64(tip.Fork.Number) != 2 || tip.Length != 4 {
		t.Fatalf("side tip %+v: want the old head, forked at #2, 4 long", tip)
	}
	got = arrivalsByHash(l)
	for _, b := range fork {
		if a, ok := got[b.Hash()]; !ok || a.From != p.url {
			t.Fatalf("arrival of fork header %d: %+v", b.NumberU64(), a)
		}
	}
	if n := len(events.of("arrival")); n < 6 {
		t.Fatalf("%d arrival events, want the fork's 6 at least", n)
	}
}

// A liar's headers that fail verification are never recorded as
// arrivals; it is dropped, listed as a banned source with the evidence,
// and the drop is pushed to subscribers; the honest provider keeps its
// standing with the work its headers proved.
func TestLightNetViewLiarIsNeverCredited(t *testing.T) {
	honest := newProvider(t)
	blocks := honest.extend(t, 40, nil)
	gen := honest.env.Gen
	// The liar shows the honest chain and ten more headers on it, the
	// fifth of which has no proof of work: the four before it verify, but
	// the chain they lead to does not.
	more, err := gen.Chain(blocks[39], 10, func(b *chaingen.BlockGen) { b.SetExtra([]byte("liar")) })
	if err != nil {
		t.Fatal(err)
	}
	evil := headersOf(gen, append(append([]*types.Block{}, blocks...), more...))
	bad := types.CopyHeader(evil[45])
	bad.Difficulty = new(big.Int).Lsh(big.NewInt(1), 50)
	evil[45] = bad
	lie := newLiar(t, claimOf(50, new(big.Int).Lsh(big.NewInt(1), 100)), func(_ context.Context, start, count uint64) ([]hexutil.Bytes, error) {
		return rawHeaders(evil, start, count), nil
	})
	l := startLight(t, Config{Providers: []string{lie.url, honest.url}, SourceTimeout: time.Second, StrikeBackoff: 100 * time.Millisecond})
	var events netEvents
	stop := (rpcNet{l}).SubscribeNet(events.push)
	defer stop()
	waitFor(t, 30*time.Second, "the light peer to follow the honest chain", headIs(l, blocks[39]))
	lie.armed.Store(true)
	waitFor(t, 30*time.Second, "the liar to be banned", func() bool { return len((rpcNet{l}).Bans()) == 1 })

	bans := (rpcNet{l}).Bans()
	if b := bans[0]; b.ID != lie.url || !strings.Contains(b.Reason, "invalid") || b.RemainingSec <= 0 || b.Until == "" {
		t.Fatalf("ban %+v: want the liar with the evidence and an end", b)
	}
	t.Logf("the liar's ban: %s", bans[0].Reason)
	if evs := events.of("ban"); len(evs) != 1 || evs[0].Peer.ID != lie.url || evs[0].Peer.Reason != bans[0].Reason {
		t.Fatalf("ban events %+v", evs)
	}
	for _, a := range (rpcNet{l}).BlockArrivals(maxHeaderArrivals) {
		if a.From != honest.url {
			t.Fatalf("arrival credited to %q: %+v", a.From, a)
		}
		if uint64(a.Number) > 40 {
			t.Fatalf("a header of the liar's chain was recorded: %+v", a)
		}
	}
	peers := map[string]rpc.PeerInfo{}
	for _, pi := range (rpcNet{l}).Peers() {
		peers[pi.ID] = pi
	}
	liar, good := peers[lie.url], peers[honest.url]
	if liar.Kind != "provider" || liar.Evidence != bans[0].Reason || liar.DroppedUntil == "" || liar.Head != nil {
		t.Fatalf("the liar as a peer: %+v", liar)
	}
	if good.Kind != "provider" || good.Evidence != "" || good.Strikes != 0 || good.Head == nil || good.Head.ProvenTotalDifficulty == nil ||
		good.Head.ProvenTotalDifficulty.ToInt().Cmp(honest.env.Chain.CurrentTD()) != 0 || good.LatencyMs <= 0 || good.BytesIn == 0 || good.BytesOut == 0 {
		t.Fatalf("the honest provider as a peer: %+v (head %+v)", good, good.Head)
	}
	// The liar's later lies change nothing; the honest provider's next
	// header is recorded as its arrival.
	next := honest.extend(t, 1, nil)
	waitFor(t, 20*time.Second, "the light peer to follow", headIs(l, next[0]))
	if a, ok := arrivalsByHash(l)[next[0].Hash()]; !ok || a.From != honest.url {
		t.Fatalf("arrival of the next honest header: %+v", a)
	}
}

// The sync rate is the head's moving rate over the window, the ETA the
// headers left at that rate, and unknown (nil) rather than a guess when
// there is no rate.
func TestSyncRateAndETA(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	m := rateMeter{window: 30 * time.Second}
	if r, _ := m.rate(); r != nil {
		t.Fatalf("rate without samples: %v", *r)
	}
	m.add(t0, 100)
	m.add(t0.Add(time.Second), 110)
	if r, el := m.rate(); r != nil || el != 1 {
		t.Fatalf("rate over 1 s: %v over %v s, want unknown", r, el)
	}
	for i := 2; i <= 60; i++ {
		m.add(t0.Add(time.Duration(i)*time.Second), 100+uint64(i)*10)
	}
	r, el := m.rate()
	if r == nil || *r != 10 || el < 29 || el > 31 {
		t.Fatalf("rate %v over %v s, want 10 headers/s over the 30 s window", r, el)
	}
	// The rate slows: the window forgets the fast start.
	for i := 61; i <= 91; i++ {
		m.add(t0.Add(time.Duration(i)*time.Second), 700+uint64(i-60))
	}
	if r, _ = m.rate(); r == nil || *r < 0.99 || *r > 1.2 {
		t.Fatalf("rate after slowing to 1/s: %v", r)
	}
	ten := 10.0
	zero := 0.0
	for _, c := range []struct {
		cur, high uint64
		rate      *float64
		want      *float64
	}{
		{cur: 100, high: 1100, rate: &ten, want: ptr(100)},
		{cur: 100, high: 100, rate: &ten, want: nil},
		{cur: 100, high: 1100, rate: &zero, want: nil},
		{cur: 100, high: 1100, rate: nil, want: nil},
	} {
		got := eta(c.cur, c.high, c.rate)
		if (got == nil) != (c.want == nil) || (got != nil && *got != *c.want) {
			t.Fatalf("eta(%d, %d, %v) = %v, want %v", c.cur, c.high, c.rate, got, c.want)
		}
	}
}

func ptr(f float64) *float64 { return &f }

// The node status: version, uptime, the header sync with its ETA while
// behind the sources' best claim, the transactions it sent, the data dir.
func TestLightNodeStatus(t *testing.T) {
	p := newProvider(t)
	blocks := p.extend(t, 3, nil)
	l := startLight(t, Config{Providers: []string{p.url}})
	waitFor(t, 20*time.Second, "the light peer to sync", headIs(l, blocks[2]))
	st := (rpcNet{l}).NodeStatus()
	if !st.Light || st.Version != params.Version || !strings.Contains(st.Client, "/v"+params.Version) || st.Peers != 1 ||
		st.Head.Hash != blocks[2].Hash() || st.Disk.Bytes <= 0 || st.Disk.Parts["headers"] <= 0 || st.Mining.Enabled || st.Sync.Syncing {
		t.Fatalf("node status %+v", st)
	}
	// A sent transaction is its pool until it is known mined.
	tx, err := p.env.Gen.Transfer(chaingen.Key(1), 0, common.HexToAddress("0x99"), big.NewInt(5), blocks[2].BaseFee())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.pool.Add(context.Background(), []*types.Transaction{tx})[0]; err != nil {
		t.Fatal(err)
	}
	st = (rpcNet{l}).NodeStatus()
	if st.Pool.Pending != 1 || len(st.Pool.Top) != 1 || st.Pool.Top[0].Hash != tx.Hash() || len(st.Pool.Senders) != 1 ||
		st.Pool.Senders[0].Address != chaingen.Addr(1) {
		t.Fatalf("pool %+v", st.Pool)
	}

	// Syncing: a view on its own clock, 100 headers behind the best
	// claim, stores 20 headers in 10 s: 2 headers/s, 40 s to go.
	now := time.Unix(1_800_000_000, 0)
	v := newNetView(l.hc, &rpcChain{hc: l.hc}, t.TempDir(), func() time.Time { return now })
	head := l.hc.CurrentHeader().Number.Uint64()
	v.sample(head + 100)
	s := v.syncView(head + 100)
	if !s.Syncing || s.Starting != head || s.EtaSec != nil || s.BlocksPerSec != nil {
		t.Fatalf("sync view before any progress: %+v", s)
	}
	more, err := p.env.Gen.Chain(blocks[2], 20, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.hc.Insert(headersOf(p.env.Gen, more)[1:]); err != nil {
		t.Fatal(err)
	}
	now = now.Add(10 * time.Second)
	v.sample(head + 100)
	s = v.syncView(head + 100)
	if !s.Syncing || s.Starting != head || s.Current != head+20 || s.BlocksPerSec == nil || *s.BlocksPerSec != 2 ||
		s.EtaSec == nil || *s.EtaSec != 40 {
		t.Fatalf("sync view after 20 headers in 10 s: %+v (rate %v, eta %v)", s, s.BlocksPerSec, s.EtaSec)
	}
	// Caught up: not syncing, no ETA.
	v.sample(head + 20)
	if s = v.syncView(head + 20); s.Syncing || s.EtaSec != nil {
		t.Fatalf("sync view when caught up: %+v", s)
	}
}
