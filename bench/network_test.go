package bench

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/chaindb"
	"github.com/peerchain/peerchain/internal/p2p"
	"github.com/peerchain/peerchain/internal/params"
	"github.com/peerchain/peerchain/internal/sync"
	"github.com/peerchain/peerchain/internal/txpool"
)

var loopback = []string{"/ip4/127.0.0.1/tcp/0"}

// netPeer is a full in-process peer on loopback: chain, pool, libp2p host
// and syncer.
type netPeer struct {
	chain  *chain.Chain
	pool   *txpool.Pool
	host   *p2p.Host
	sync   *sync.Syncer
	cancel context.CancelFunc
	wg     gosync.WaitGroup
	close  func()
}

func newNetPeer(b *testing.B, g *params.Genesis, onRelay func(common.Hash), boot ...string) *netPeer {
	b.Helper()
	return newNetPeerWith(b, g, func(c *sync.Config) { c.OnBlockRelayed = onRelay }, boot...)
}

// newNetPeerWith is newNetPeer with the sync configuration set by mut.
func newNetPeerWith(b *testing.B, g *params.Genesis, mut func(*sync.Config), boot ...string) *netPeer {
	b.Helper()
	db, err := chaindb.Open(b.TempDir(), chaindb.KVOptions{CacheBytes: 16 << 20})
	if err != nil {
		b.Fatal(err)
	}
	c, err := chain.New(chain.Config{Genesis: g, DB: db})
	if err != nil {
		b.Fatal(err)
	}
	pool, err := txpool.New(txpool.Config{Chain: c})
	if err != nil {
		b.Fatal(err)
	}
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		b.Fatal(err)
	}
	h, err := p2p.New(p2p.Config{Network: sync.NetworkName(g.ChainID(), g.Hash()), Key: key, Listen: loopback, Bootnodes: boot, LowPeers: 32, HighPeers: 64})
	if err != nil {
		b.Fatal(err)
	}
	cfg := sync.Config{Host: h, Chain: c, Pool: pool}
	if mut != nil {
		mut(&cfg)
	}
	s, err := sync.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &netPeer{chain: c, pool: pool, host: h, sync: s, cancel: cancel}
	p.wg.Add(2)
	go func() { defer p.wg.Done(); _ = s.Run(ctx) }()
	go func() { defer p.wg.Done(); _ = pool.Run(ctx) }()
	if err := h.Start(); err != nil {
		b.Fatal(err)
	}
	p.close = func() { cancel(); p.wg.Wait(); h.Close(); c.Close(); db.Close() }
	b.Cleanup(p.close)
	return p
}

func waitCond(b *testing.B, timeout time.Duration, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkSync: a fresh peer syncs the import chain (30 blocks of 1,000
// transfers) from genesis from two loopback peers; its rate is compared
// with importing the same blocks locally (goal ≥ 0.6).
func BenchmarkSync(b *testing.B) {
	data, err := loadImportChain()
	if err != nil {
		b.Fatal(err)
	}
	blocks := make([]*types.Block, len(data.blocks))
	for i, enc := range data.blocks {
		blocks[i] = new(types.Block)
		if err := rlp.DecodeBytes(enc, blocks[i]); err != nil {
			b.Fatal(err)
		}
	}
	last := blocks[len(blocks)-1]
	load := loadAverage()
	var bestLocal, bestSync time.Duration
	_, rounds := importSize()
	for r := 0; r < rounds; r++ {
		local, err := importOurs(b.TempDir(), data)
		if err != nil {
			b.Fatal(err)
		}
		if bestLocal == 0 || local < bestLocal {
			bestLocal = local
		}
		srcA := newNetPeer(b, data.genesis, nil)
		srcB := newNetPeer(b, data.genesis, nil, srcA.host.Addrs()[0])
		for _, src := range []*netPeer{srcA, srcB} {
			for _, blk := range blocks {
				if _, err := src.chain.InsertBlock(blk); err != nil && !errors.Is(err, chain.ErrKnownBlock) {
					b.Fatal(err)
				}
			}
		}
		start := time.Now()
		fresh := newNetPeer(b, data.genesis, nil, srcA.host.Addrs()[0], srcB.host.Addrs()[0])
		waitCond(b, 5*time.Minute, "the fresh peer to sync", func() bool { return fresh.chain.CurrentBlock().Hash() == last.Hash() })
		took := time.Since(start)
		if bestSync == 0 || took < bestSync {
			bestSync = took
		}
		fresh.close()
		srcB.close()
		srcA.close()
	}
	localRate := float64(data.txs) / bestLocal.Seconds()
	syncRate := float64(data.txs) / bestSync.Seconds()
	ratio := syncRate / localRate
	b.ReportMetric(localRate, "import-tx/s")
	b.ReportMetric(syncRate, "sync-tx/s")
	b.ReportMetric(ratio, "sync/import")
	b.ReportMetric(0, "ns/op")
	fmt.Printf("BenchmarkSync: %d txs in %d blocks: local import %.0f tx/s (%v), sync from 2 loopback peers %.0f tx/s (%v, connect and handshake included): ratio %.2f (goal ≥ 0.60); load %s\n",
		data.txs, len(blocks), localRate, bestLocal.Round(time.Millisecond), syncRate, bestSync.Round(time.Millisecond), ratio, load)
}

// BenchmarkHeaderVerification checks a run of 20,000 headers as
// headers-first sync does (goal ≥ 100,000 headers/s).
func BenchmarkHeaderVerification(b *testing.B) {
	n := 20_000
	if testing.Short() {
		n = 200
	}
	g, err := chaingen.Genesis(chaingen.GenesisOptions{Accounts: 1, Difficulty: 256})
	if err != nil {
		b.Fatal(err)
	}
	gen, err := chaingen.New(g)
	if err != nil {
		b.Fatal(err)
	}
	blocks, err := gen.Chain(gen.Genesis(), n, nil)
	if err != nil {
		b.Fatal(err)
	}
	headers := make([]*types.Header, n)
	for i, blk := range blocks {
		headers[i] = blk.Header()
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
	var best time.Duration
	for r := 0; r < 3; r++ {
		v, err := c.NewHeaderVerifier(g.Hash())
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for i := 0; i < n; i += 1024 {
			if err := v.Verify(headers[i:min(i+1024, n)]); err != nil {
				b.Fatal(err)
			}
		}
		if took := time.Since(start); best == 0 || took < best {
			best = took
		}
	}
	rate := float64(n) / best.Seconds()
	b.ReportMetric(rate, "headers/s")
	b.ReportMetric(0, "ns/op")
	fmt.Printf("BenchmarkHeaderVerification: %d headers in %v: %.0f headers/s (goal ≥ 100000), %.1f µs each; load %s\n",
		n, best.Round(time.Millisecond), rate, best.Seconds()/float64(n)*1e6, loadAverage())
}

// BenchmarkPropagation publishes ~100 KiB blocks from one of N in-process
// peers and times their arrival at every other peer, against bare
// gossipsub hosts publishing payloads of the same size (goal: no slower).
func BenchmarkPropagation(b *testing.B) {
	for _, n := range []int{8, 16} {
		b.Run(fmt.Sprintf("peers=%d", n), func(b *testing.B) { benchPropagation(b, n) })
	}
}

const propPayload = 100 << 10

func benchPropagation(b *testing.B, n int) {
	rounds := 20
	if testing.Short() {
		rounds = 2
	}
	bare := bareGossip(b, n, rounds)
	relay, imported := peerchainGossip(b, n, rounds)
	pc := func(d []time.Duration, q float64) time.Duration {
		slices.Sort(d)
		return d[min(len(d)-1, int(float64(len(d))*q))]
	}
	bp50, bp99 := pc(bare, 0.5), pc(bare, 0.99)
	rp50, rp99 := pc(relay, 0.5), pc(relay, 0.99)
	ip50, ip99 := pc(imported, 0.5), pc(imported, 0.99)
	b.ReportMetric(float64(bp50.Microseconds())/1000, "bare-p50-ms")
	b.ReportMetric(float64(rp50.Microseconds())/1000, "relay-p50-ms")
	b.ReportMetric(float64(ip50.Microseconds())/1000, "import-p50-ms")
	b.ReportMetric(0, "ns/op")
	fmt.Printf("BenchmarkPropagation/peers=%d: %d blocks of ~%d KiB to %d peers: bare gossipsub p50 %v p99 %v; peerchain relay (header and PoW checked) p50 %v p99 %v (ratio p50 %.2f, p99 %.2f; goal ≤ 1); imported (head at every peer) p50 %v p99 %v; load %s\n",
		n, rounds, propPayload>>10, n-1, bp50.Round(10*time.Microsecond), bp99.Round(10*time.Microsecond),
		rp50.Round(10*time.Microsecond), rp99.Round(10*time.Microsecond), float64(rp50)/float64(bp50), float64(rp99)/float64(bp99),
		ip50.Round(10*time.Microsecond), ip99.Round(10*time.Microsecond), loadAverage())
}

// bareGossip times payload delivery among n raw gossipsub hosts.
func bareGossip(b *testing.B, n, rounds int) []time.Duration {
	type arrival struct {
		msg int
		at  time.Time
	}
	var (
		mu       gosync.Mutex
		arrivals []arrival
		hosts    []*p2p.Host
		topics   []*p2p.Topic
	)
	for i := 0; i < n; i++ {
		key, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			b.Fatal(err)
		}
		var boot []string
		if i > 0 {
			boot = []string{hosts[0].Addrs()[0]}
		}
		h, err := p2p.New(p2p.Config{Network: "bench-bare", Key: key, Listen: loopback, Bootnodes: boot})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { h.Close() })
		t, err := h.JoinTopic("payload", p2p.TopicOptions{ContentIDs: true},
			func(context.Context, peer.ID, peer.ID, []byte) p2p.Verdict { return p2p.Accept },
			func(_, _ peer.ID, data []byte) {
				mu.Lock()
				arrivals = append(arrivals, arrival{msg: int(data[0]), at: time.Now()})
				mu.Unlock()
			})
		if err != nil {
			b.Fatal(err)
		}
		if err := h.Start(); err != nil {
			b.Fatal(err)
		}
		hosts, topics = append(hosts, h), append(topics, t)
	}
	waitCond(b, time.Minute, "a full topic mesh", func() bool {
		for _, t := range topics {
			if len(t.Peers()) < n-1 {
				return false
			}
		}
		return true
	})
	var out []time.Duration
	for r := 0; r < rounds; r++ {
		payload := make([]byte, propPayload)
		if _, err := crand.Read(payload); err != nil {
			b.Fatal(err)
		}
		payload[0] = byte(r)
		mu.Lock()
		arrivals = arrivals[:0]
		mu.Unlock()
		sent := time.Now()
		if err := topics[r%n].Publish(context.Background(), payload); err != nil {
			b.Fatal(err)
		}
		waitCond(b, 30*time.Second, "the payload at every host", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(arrivals) >= n-1
		})
		mu.Lock()
		for _, a := range arrivals {
			out = append(out, a.at.Sub(sent))
		}
		mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	return out
}

// peerchainGossip times how long ~100 KiB blocks take to pass the relay
// checks and to become the head at every other peer.
func peerchainGossip(b *testing.B, n, rounds int) (relay, imported []time.Duration) {
	g, err := chaingen.Genesis(chaingen.GenesisOptions{Accounts: 8})
	if err != nil {
		b.Fatal(err)
	}
	gen, err := chaingen.New(g)
	if err != nil {
		b.Fatal(err)
	}
	// Each block: 6 transactions of 16 KiB calldata (~100 KiB in all).
	nonces := make(map[int]uint64)
	blocks, err := gen.Chain(gen.Genesis(), rounds+1, func(bg *chaingen.BlockGen) {
		for j := 0; j < 6; j++ {
			data := make([]byte, 16<<10)
			if _, err := crand.Read(data); err != nil {
				return
			}
			k := j
			to := common.HexToAddress("0xda7a")
			tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: g.ChainID(), Nonce: nonces[k], GasTipCap: big.NewInt(1e9),
				GasFeeCap: big.NewInt(100e9), Gas: 1_000_000, To: &to, Data: data}), gen.Signer(), chaingen.Key(k))
			if err != nil {
				return
			}
			nonces[k]++
			bg.AddTx(tx)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	type stamp struct {
		relayed, imported map[common.Hash]time.Time
	}
	var mu gosync.Mutex
	stamps := make([]stamp, n)
	peers := make([]*netPeer, n)
	for i := 0; i < n; i++ {
		i := i
		stamps[i] = stamp{relayed: map[common.Hash]time.Time{}, imported: map[common.Hash]time.Time{}}
		var boot []string
		if i > 0 {
			boot = []string{peers[0].host.Addrs()[0]}
		}
		peers[i] = newNetPeer(b, g, func(h common.Hash) {
			mu.Lock()
			stamps[i].relayed[h] = time.Now()
			mu.Unlock()
		}, boot...)
		heads := make(chan chain.HeadEvent, 64)
		sub := peers[i].chain.SubscribeHeads(heads)
		b.Cleanup(sub.Unsubscribe)
		go func() {
			for ev := range heads {
				mu.Lock()
				stamps[i].imported[ev.Block.Hash()] = time.Now()
				mu.Unlock()
			}
		}()
	}
	waitFullMesh(b, peers)
	// The first block makes its publisher a known author everywhere (it is
	// validated before relay once); it is not timed.
	publish := func(blk *types.Block) time.Time { return publishEverywhere(b, peers, blk) }
	publish(blocks[0])
	for _, blk := range blocks[1:] {
		sent := publish(blk)
		mu.Lock()
		for i := 1; i < n; i++ {
			if t, ok := stamps[i].relayed[blk.Hash()]; ok {
				relay = append(relay, t.Sub(sent))
			}
			if t, ok := stamps[i].imported[blk.Hash()]; ok {
				imported = append(imported, t.Sub(sent))
			}
		}
		mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	if len(relay) == 0 {
		b.Fatal("no relay timings recorded")
	}
	return relay, imported
}

// BenchmarkCompactRelay propagates blocks from one of 8 in-process peers
// (full mesh on loopback) as compact blocks and as full blocks, with the
// blocks' transactions already in every pool (heard by gossip first) and
// with empty pools, for ~100 KiB and ~1 MiB blocks. It prints, for each,
// the bytes sent per block per peer (gossip, blocktxn/1 and bodies/1), the
// time until each receiver accepted the block for relay (header, PoW and
// a body matching the header: what propagation waits for) and until it
// became each receiver's head (import included, which 8 peers on 2 cores
// do at once), with the compact/full ratios of the same run: full and
// compact alternate twice, times are the best of the two, bytes their
// mean. Goals: ≥ 90% fewer bytes with full pools; no slower with empty
// ones.
func BenchmarkCompactRelay(b *testing.B) {
	const n, reps = 8, 2
	sizes := []struct {
		name       string
		txs, bytes int // per block
		rounds     int
	}{
		{"100KiB", 100, 1000, 8},
		{"1MiB", 256, 4000, 3},
	}
	if testing.Short() {
		sizes = sizes[:1]
		sizes[0].rounds = 2
	}
	for _, size := range sizes {
		for _, poolsFull := range []bool{true, false} {
			pools := map[bool]string{true: "pools-full", false: "pools-empty"}[poolsFull]
			b.Run(size.name+"/"+pools, func(b *testing.B) {
				load := loadAverage()
				var full, compact relayCost
				for r := 0; r < reps; r++ {
					full.add(compactRun(b, n, size.txs, size.bytes, size.rounds, poolsFull, true), reps)
					compact.add(compactRun(b, n, size.txs, size.bytes, size.rounds, poolsFull, false), reps)
				}
				saved := 1 - compact.bytesPerPeer/full.bytesPerPeer
				ratio := func(c, f time.Duration) float64 { return float64(c) / float64(f) }
				ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
				r := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
				b.ReportMetric(full.bytesPerPeer, "full-B/block/peer")
				b.ReportMetric(compact.bytesPerPeer, "compact-B/block/peer")
				b.ReportMetric(100*saved, "%saved")
				b.ReportMetric(ms(full.relay50), "full-relay-p50-ms")
				b.ReportMetric(ms(compact.relay50), "compact-relay-p50-ms")
				b.ReportMetric(0, "ns/op")
				fmt.Printf("BenchmarkCompactRelay/%s/%s: %d peers, %d blocks of %d KiB (%d txs), best of %d: bytes per block per peer full %.0f, compact %.0f (%.1f%% fewer; goal ≥ 90%% with full pools); relay full p50 %v p99 %v, compact p50 %v p99 %v (ratio p50 %.2f, p99 %.2f; goal ≤ 1 with empty pools); head full p50 %v p99 %v, compact p50 %v p99 %v (ratio p50 %.2f, p99 %.2f); compact receivers: %d txs from pools, %d prefilled, %d fetched, %d fallbacks; load %s\n",
					size.name, pools, n, size.rounds, size.txs*size.bytes>>10, size.txs, reps, full.bytesPerPeer, compact.bytesPerPeer, 100*saved,
					r(full.relay50), r(full.relay99), r(compact.relay50), r(compact.relay99), ratio(compact.relay50, full.relay50), ratio(compact.relay99, full.relay99),
					r(full.head50), r(full.head99), r(compact.head50), r(compact.head99), ratio(compact.head50, full.head50), ratio(compact.head99, full.head99),
					compact.stats.FromPool, compact.stats.Prefilled, compact.stats.Fetched, compact.stats.Fallbacks, load)
			})
		}
	}
}

// relayCost is what propagating a run of blocks cost.
type relayCost struct {
	bytesPerPeer                     float64
	relay50, relay99, head50, head99 time.Duration
	stats                            sync.CompactStats // summed over the receivers
}

// add folds run into c: the mean of the bytes over reps runs, the best of
// the times, the sum of the counters.
func (c *relayCost) add(run relayCost, reps int) {
	c.bytesPerPeer += run.bytesPerPeer / float64(reps)
	for _, p := range []struct {
		best *time.Duration
		got  time.Duration
	}{
		{&c.relay50, run.relay50}, {&c.relay99, run.relay99}, {&c.head50, run.head50}, {&c.head99, run.head99},
	} {
		if *p.best == 0 || p.got < *p.best {
			*p.best = p.got
		}
	}
	c.stats.FromPool += run.stats.FromPool
	c.stats.Prefilled += run.stats.Prefilled
	c.stats.Fetched += run.stats.Fetched
	c.stats.Fallbacks += run.stats.Fallbacks
	c.stats.Rebuilt += run.stats.Rebuilt
}

// compactRun publishes rounds blocks (after one untimed block that makes
// the publisher a known author) from peer 0 of n and measures them.
func compactRun(b *testing.B, n, txsPerBlock, txBytes, rounds int, poolsFull, fullBlocks bool) relayCost {
	const senders = 16
	g, err := chaingen.Genesis(chaingen.GenesisOptions{Accounts: senders, GasLimit: 400_000_000})
	if err != nil {
		b.Fatal(err)
	}
	gen, err := chaingen.New(g)
	if err != nil {
		b.Fatal(err)
	}
	nonces := make([]uint64, senders)
	var all []*types.Transaction
	blocks, err := gen.Chain(gen.Genesis(), rounds+1, func(bg *chaingen.BlockGen) {
		for j := 0; j < txsPerBlock; j++ {
			data := make([]byte, txBytes)
			if _, err := crand.Read(data); err != nil {
				b.Error(err)
				return
			}
			k := j % senders
			to := common.HexToAddress("0xda7a")
			tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: g.ChainID(), Nonce: nonces[k], GasTipCap: big.NewInt(1e9),
				GasFeeCap: big.NewInt(100e9), Gas: 31_000 + 40*uint64(txBytes), To: &to, Data: data}), gen.Signer(), chaingen.Key(k))
			if err != nil {
				b.Error(err)
				return
			}
			nonces[k]++
			bg.AddTx(tx)
			if bg.Index() > 0 {
				all = append(all, tx)
			}
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	var (
		mu       gosync.Mutex
		relayed  = make([]map[common.Hash]time.Time, n)
		imported = make([]map[common.Hash]time.Time, n)
		peers    = make([]*netPeer, n)
	)
	for i := range peers {
		var boot []string
		for _, p := range peers[:i] {
			boot = append(boot, p.host.Addrs()[0])
		}
		relayed[i], imported[i] = make(map[common.Hash]time.Time), make(map[common.Hash]time.Time)
		peers[i] = newNetPeerWith(b, g, func(c *sync.Config) {
			c.FullBlocks = fullBlocks
			c.OnBlockRelayed = func(h common.Hash) {
				mu.Lock()
				relayed[i][h] = time.Now()
				mu.Unlock()
			}
		}, boot...)
		heads := make(chan chain.HeadEvent, 64)
		sub := peers[i].chain.SubscribeHeads(heads)
		b.Cleanup(sub.Unsubscribe)
		go func(i int) {
			for ev := range heads {
				mu.Lock()
				imported[i][ev.Block.Hash()] = time.Now()
				mu.Unlock()
			}
		}(i)
	}
	defer func() {
		for _, p := range peers {
			p.close()
		}
	}()
	waitFullMesh(b, peers)
	publish := func(blk *types.Block) time.Time { return publishEverywhere(b, peers, blk) }
	publish(blocks[0])
	if poolsFull {
		// Every transaction of the timed blocks reaches every pool by
		// gossip first, from a peer other than the publisher, a few at a
		// time: a burst of hundreds overflows gossipsub's validation
		// queue (32 messages) and loses some.
		const chunk = 16
		for start := 0; start < len(all); start += chunk {
			txs := all[start:min(start+chunk, len(all))]
			for i, err := range peers[1].pool.Add(txs) {
				if err != nil {
					b.Fatalf("pool refused transaction %d: %v", start+i, err)
				}
			}
			waitCond(b, time.Minute, "the transactions in every pool", func() bool {
				for _, p := range peers {
					for _, tx := range txs {
						if !p.pool.Has(tx.Hash()) {
							return false
						}
					}
				}
				return true
			})
		}
	}
	before := settledBytes(b, peers)
	st0 := compactStats(peers[1:])
	var relay, head []time.Duration
	for _, blk := range blocks[1:] {
		sent := publish(blk)
		mu.Lock()
		for i := 1; i < n; i++ {
			if t, ok := relayed[i][blk.Hash()]; ok {
				relay = append(relay, t.Sub(sent))
			}
			head = append(head, imported[i][blk.Hash()].Sub(sent))
		}
		mu.Unlock()
	}
	used := settledBytes(b, peers) - before
	st := compactStats(peers[1:])
	if len(relay) == 0 {
		b.Fatal("no relay timings recorded")
	}
	pc := func(d []time.Duration, q float64) time.Duration {
		slices.Sort(d)
		return d[min(len(d)-1, int(float64(len(d))*q))]
	}
	return relayCost{
		bytesPerPeer: float64(used) / float64(rounds) / float64(n),
		relay50:      pc(relay, 0.5), relay99: pc(relay, 0.99), head50: pc(head, 0.5), head99: pc(head, 0.99),
		stats: sync.CompactStats{Rebuilt: st.Rebuilt - st0.Rebuilt, Fallbacks: st.Fallbacks - st0.Fallbacks,
			FromPool: st.FromPool - st0.FromPool, Prefilled: st.Prefilled - st0.Prefilled, Fetched: st.Fetched - st0.Fetched},
	}
}

// waitFullMesh waits until every peer is connected to every other.
func waitFullMesh(b *testing.B, peers []*netPeer) {
	waitCond(b, time.Minute, "every peer connected to every other", func() bool {
		for _, p := range peers {
			if p.host.PeerCount() < len(peers)-1 {
				return false
			}
		}
		return true
	})
}

// publishEverywhere imports blk at peers[0], broadcasts it and waits until
// it is every peer's head; it returns when it was broadcast.
func publishEverywhere(b *testing.B, peers []*netPeer, blk *types.Block) time.Time {
	pub := peers[0]
	if _, err := pub.chain.InsertBlock(blk); err != nil {
		b.Fatal(err)
	}
	sent := time.Now()
	pub.sync.Broadcast(blk)
	waitCond(b, time.Minute, "the block at every peer", func() bool {
		for _, p := range peers {
			if p.chain.CurrentBlock().Hash() != blk.Hash() {
				return false
			}
		}
		return true
	})
	return sent
}

func compactStats(peers []*netPeer) (sum sync.CompactStats) {
	for _, p := range peers {
		st := p.sync.CompactStats()
		sum.Rebuilt += st.Rebuilt
		sum.Fallbacks += st.Fallbacks
		sum.FromPool += st.FromPool
		sum.Prefilled += st.Prefilled
		sum.Fetched += st.Fetched
	}
	return sum
}

// blockBytes sums the bytes the peers sent on gossip and on the block
// request protocols.
func blockBytes(peers []*netPeer) uint64 {
	var n uint64
	for _, p := range peers {
		for name, tr := range p.host.ProtocolTraffic() {
			if strings.Contains(name, "meshsub") || name == "blocktxn/1" || name == "bodies/1" {
				n += tr.BytesOut
			}
		}
	}
	return n
}

// settledBytes waits until the byte counters (libp2p updates them once a
// second) stop moving and returns them.
func settledBytes(b *testing.B, peers []*netPeer) uint64 {
	last, since := blockBytes(peers), time.Now()
	waitCond(b, time.Minute, "the byte counters to settle", func() bool {
		if now := blockBytes(peers); now != last {
			last, since = now, time.Now()
		}
		return time.Since(since) > 2500*time.Millisecond
	})
	return last
}
