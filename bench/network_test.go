package bench

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"slices"
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
	s, err := sync.New(sync.Config{Host: h, Chain: c, Pool: pool, OnBlockRelayed: onRelay})
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
	waitCond(b, time.Minute, "every peer connected to every other", func() bool {
		for _, p := range peers {
			if p.host.PeerCount() < n-1 {
				return false
			}
		}
		return true
	})
	// The first block makes its publisher a known author everywhere (it is
	// validated before relay once); it is not timed.
	pub := peers[0]
	publish := func(blk *types.Block) time.Time {
		if _, err := pub.chain.InsertBlock(blk); err != nil {
			b.Fatal(err)
		}
		sent := time.Now()
		pub.sync.Broadcast(blk)
		waitCond(b, 30*time.Second, "the block at every peer", func() bool {
			for _, p := range peers {
				if p.chain.CurrentBlock().Hash() != blk.Hash() {
					return false
				}
			}
			return true
		})
		return sent
	}
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
