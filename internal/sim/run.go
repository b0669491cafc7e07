package sim

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	gosync "sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerchain/peerchain/internal/p2p"
	"github.com/peerchain/peerchain/internal/sync"
)

// Window is a span of the run, from At after the first block is mined.
type Window struct {
	At, For time.Duration
}

// Scenario describes a run; zero fields take the defaults shown.
type Scenario struct {
	Name string
	// Seed drives everything random: regions, links, connections, miners,
	// block times, packet loss draws, peer keys.
	Seed uint64
	// Peers is the number of simulated peers. Required.
	Peers int
	// Miners is how many peers mine. Default: a tenth of the peers, at
	// least 2 and at most 20 (on Ethereum's proof-of-work chain a dozen
	// pools mined most blocks).
	Miners int
	// Blocks is how many blocks are mined. Required.
	Blocks int
	// BlockTime is the mean of the exponential time between blocks.
	// Required.
	BlockTime time.Duration
	// MinDials and MaxDials bound the peers each peer dials (inbound
	// connections come on top). Defaults 4 and 20: 8–50 connections.
	MinDials, MaxDials int
	// MinMbit and MaxMbit bound each peer's link (up and down). Defaults
	// 10 and 100.
	MinMbit, MaxMbit int
	// Loss is the share of packets lost on every link. Default 0.
	Loss float64
	// Partition cuts the Americas from the rest of the world for a time.
	Partition *Window
	// OfflineShare of the peers (never miners) drop off the network during
	// Offline.
	OfflineShare float64
	Offline      *Window
	// PoolsFull fills every peer's pool with the blocks' transactions
	// before the run (as if they had been gossiped earlier).
	PoolsFull bool
	// Warmup is the time given to connections and gossip meshes before the
	// first block. Default 15s.
	Warmup time.Duration
	// Drain bounds the wait, after the last block, for every online peer
	// to reach the same head. Default 2 minutes.
	Drain time.Duration
	// TuneSync, if set, changes each peer's sync configuration (compact
	// block relay on or off when sync has the knob).
	TuneSync func(*sync.Config) `json:"-"`
	// Logger for the peers' hosts and syncers. Default: discarded.
	Logger *slog.Logger `json:"-"`
	// Progress logs the run's own steps (blocks mined, faults, the end),
	// with virtual time. Default: discarded.
	Progress *slog.Logger `json:"-"`
}

func (sc *Scenario) validate() error {
	if sc.Peers < 2 || sc.Blocks < 1 || sc.BlockTime <= 0 {
		return fmt.Errorf("scenario %q: need ≥ 2 peers, ≥ 1 block and a block time, have %d, %d, %v", sc.Name, sc.Peers, sc.Blocks, sc.BlockTime)
	}
	if sc.Miners == 0 {
		sc.Miners = min(20, max(2, sc.Peers/10))
	}
	if sc.MinDials == 0 {
		sc.MinDials = 4
	}
	if sc.MaxDials == 0 {
		sc.MaxDials = 20
	}
	sc.MaxDials = min(sc.MaxDials, sc.Peers-1)
	sc.MinDials = min(sc.MinDials, sc.MaxDials)
	if sc.MinMbit == 0 {
		sc.MinMbit = 10
	}
	if sc.MaxMbit == 0 {
		sc.MaxMbit = 100
	}
	if sc.Warmup == 0 {
		sc.Warmup = 15 * time.Second
	}
	if sc.Drain == 0 {
		sc.Drain = 2 * time.Minute
	}
	if sc.Logger == nil {
		sc.Logger = slog.New(slog.DiscardHandler)
	}
	if sc.Progress == nil {
		sc.Progress = slog.New(slog.DiscardHandler)
	}
	if sc.Miners > sc.Peers || sc.MinMbit > sc.MaxMbit || sc.Loss < 0 || sc.Loss >= 1 || sc.OfflineShare < 0 || sc.OfflineShare > 1 {
		return fmt.Errorf("scenario %q: miners %d of %d peers, links %d–%d Mbit/s, loss %v, offline share %v out of range", sc.Name, sc.Miners, sc.Peers, sc.MinMbit, sc.MaxMbit, sc.Loss, sc.OfflineShare)
	}
	return nil
}

// BlockResult is one mined block and when each peer first imported it.
type BlockResult struct {
	Number    uint64
	Hash      common.Hash
	Miner     int
	Canonical bool
	// Arrivals[i] is the time from sealing to peer i's import; negative
	// when peer i never imported it.
	Arrivals []time.Duration
}

// Result is what a run measured.
type Result struct {
	Scenario Scenario
	Blocks   []BlockResult
	// Region of each peer, and whether it went offline.
	Region  []Region
	Offline []bool
	// Degree is each peer's connection count when mining began.
	Degree []int
	// BytesSent is each peer's UDP bytes sent from the first block to the
	// end (QUIC, gossip, requests, pings).
	BytesSent []uint64
	// Heads is how many distinct heads the online peers had at the end.
	Heads int
	// Virtual is the simulated time from the first block to the end.
	Virtual time.Duration
	// MaxOneWay is the largest one-way latency between two peers (links
	// idle), and Diameter the most hops between two peers over the
	// connections dialled.
	MaxOneWay time.Duration
	Diameter  int
	// Compact sums the peers' compact block counters; Gossip the peers'
	// gossip messages by "topic outcome"; Bans the bans by reason class.
	Compact sync.CompactStats
	Gossip  map[string]uint64
	Bans    map[string]uint64
}

// PropagationBound is how long a block may take to reach every peer on
// this network: the miner's flood publish to all its peers over the
// slowest uplink, then, per hop of the diameter, a round trip (a gossip
// message and its IWANT, or a request and its answer) at the largest
// one-way latency, sending to gossipsub's upper mesh degree (12) over the
// slowest uplink, and the charged checks and import; plus, for a peer
// that gets the block by sync because gossip brought it while the peer
// was on a competing branch, sync's 1 s loop tick, ten round trips
// (status, common ancestor, headers, bodies) and the body over the
// slowest link.
func (r *Result) PropagationBound(blockBytes int, fx *Fixture) time.Duration {
	bitTime := time.Second / time.Duration(r.Scenario.MinMbit*1_000_000)
	send := func(copies int) time.Duration { return time.Duration(copies*blockBytes*8) * bitTime }
	maxDeg := slices.Max(r.Degree)
	c := fx.costs
	work := 3*c.Header + time.Duration(fx.perBlock)*(2*c.BodyPerTx+c.ImportPerTx)
	hop := 2*r.MaxOneWay + send(12) + work
	gossip := send(maxDeg) + work + time.Duration(r.Diameter)*hop
	return gossip + time.Second + 20*r.MaxOneWay + send(1) + work
}

// diameter is the most hops between two peers over the dialled links.
func diameter(dials [][]int) int {
	n := len(dials)
	adj := make([][]int, n)
	for i, ds := range dials {
		for _, j := range ds {
			adj[i] = append(adj[i], j)
			adj[j] = append(adj[j], i)
		}
	}
	worst := 0
	dist := make([]int, n)
	for s := 0; s < n; s++ {
		for i := range dist {
			dist[i] = -1
		}
		dist[s] = 0
		queue := []int{s}
		for len(queue) > 0 {
			u := queue[0]
			queue = queue[1:]
			for _, v := range adj[u] {
				if dist[v] < 0 {
					dist[v] = dist[u] + 1
					worst = max(worst, dist[v])
					queue = append(queue, v)
				}
			}
		}
	}
	return worst
}

// recorder notes when each peer first imported each mined block.
type recorder struct {
	peers int
	mu    gosync.Mutex
	recs  map[common.Hash]*blockRec
	order []common.Hash
}

type blockRec struct {
	number uint64
	miner  int
	mined  time.Time
	first  []time.Duration
}

func newRecorder(peers int) *recorder {
	return &recorder{peers: peers, recs: make(map[common.Hash]*blockRec)}
}

func (r *recorder) mined(b *types.Block, miner int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	first := make([]time.Duration, r.peers)
	for i := range first {
		first[i] = -1
	}
	r.recs[b.Hash()] = &blockRec{number: b.NumberU64(), miner: miner, mined: time.Now(), first: first}
	r.order = append(r.order, b.Hash())
}

func (r *recorder) imported(peer int, hash common.Hash) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rec, ok := r.recs[hash]; ok && rec.first[peer] < 0 {
		rec.first[peer] = time.Since(rec.mined)
	}
}

// simNode is one simulated peer.
type simNode struct {
	host  *p2p.Host
	chain *Chain
	sync  *sync.Syncer
	pool  *Pool
}

// Run runs the scenario. It must be called inside a testing/synctest
// bubble: every timer and sleep of the run is virtual.
func Run(sc Scenario, fx *Fixture) (*Result, error) {
	if err := sc.validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(sc.Seed, sc.Seed^0x5eed))
	nw := newNetwork(sc.Peers, &sc, rng)
	nw.sim.Logger = sc.Logger
	nw.sim.Start()
	defer nw.sim.Close()

	keys, ids, err := peerKeys(sc.Peers, rng)
	if err != nil {
		return nil, err
	}
	dials := pickDials(sc, rng)
	rec := newRecorder(sc.Peers)
	store := newBlockStore()
	network := sync.NetworkName(fx.genesis.Config().ChainID, fx.genesis.Block().Hash())

	miners := rng.Perm(sc.Peers)[:sc.Miners]
	isMiner := make(map[int]bool)
	for _, m := range miners {
		isMiner[m] = true
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg gosync.WaitGroup
	nodes := make([]*simNode, sc.Peers)
	defer func() {
		cancel()
		wg.Wait()
		closeHosts(nodes)
	}()
	for i := range nodes {
		var boot []string
		for _, j := range dials[i] {
			boot = append(boot, multiaddr(j)+"/p2p/"+ids[j].String())
		}
		h, err := p2p.New(p2p.Config{
			Network: network, Key: keys[i], Listen: []string{multiaddr(i)}, Bootnodes: boot,
			NoDHT: true, LowPeers: 40, HighPeers: 50, Transports: nw.transports(i),
			Logger: sc.Logger.With("peer", i),
		})
		if err != nil {
			return nil, fmt.Errorf("sim peer %d: %w", i, err)
		}
		c := newChain(fx, store, i, rec)
		pool := newPool(fx, sc.PoolsFull && !isMiner[i])
		cfg := sync.Config{Host: h, Chain: c, Pool: pool, Logger: sc.Logger.With("peer", i)}
		if sc.TuneSync != nil {
			sc.TuneSync(&cfg)
		}
		s, err := sync.New(cfg)
		if err != nil {
			_ = h.Close()
			return nil, fmt.Errorf("sim peer %d: %w", i, err)
		}
		nodes[i] = &simNode{host: h, chain: c, sync: s, pool: pool}
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.Run(ctx) }()
		if err := h.Start(); err != nil {
			return nil, fmt.Errorf("sim peer %d: %w", i, err)
		}
	}
	sc.Progress.Info("Peers started", "scenario", sc.Name, "peers", sc.Peers)
	time.Sleep(sc.Warmup)
	if sc.PoolsFull {
		// A miner that has not heard the transactions would prefill them
		// all in its compact blocks.
		for _, m := range miners {
			if heard := nodes[m].pool.Heard(); heard < len(fx.txs) {
				sc.Progress.Warn("A miner has not heard every transaction by the end of the warm-up", "miner", m, "heard", heard, "of", len(fx.txs))
			}
		}
	}

	res := &Result{Scenario: sc, Region: make([]Region, sc.Peers), Offline: make([]bool, sc.Peers),
		Degree: make([]int, sc.Peers), BytesSent: make([]uint64, sc.Peers)}
	base := make([]uint64, sc.Peers)
	for i, n := range nodes {
		res.Region[i] = nw.peers[i].region
		res.Degree[i] = n.host.PeerCount()
		base[i] = nw.peers[i].sent.Load()
		for j := range nodes {
			res.MaxOneWay = max(res.MaxOneWay, nw.oneWay(i, j))
		}
	}
	res.Diameter = diameter(dials)
	start := time.Now()
	offline := pickOffline(sc, miners, rng)
	for _, i := range offline {
		res.Offline[i] = true
	}
	wg.Add(1)
	go func() { defer wg.Done(); runFaults(ctx, sc, nw, offline) }()

	if res.Heads, err = mineBlocks(ctx, sc, fx, nodes, miners, res.Offline, rec, rng); err != nil {
		return nil, err
	}
	sc.Progress.Info("Run over", "scenario", sc.Name, "heads", res.Heads, "at", time.Now().UTC().Format("15:04:05.000"))
	res.Virtual = time.Since(start)
	for i := range nodes {
		res.BytesSent[i] = nw.peers[i].sent.Load() - base[i]
	}
	res.Blocks = collect(rec, canonicalSet(nodes, store))
	res.Gossip, res.Bans = make(map[string]uint64), make(map[string]uint64)
	for _, n := range nodes {
		c := n.sync.CompactStats()
		res.Compact.Rebuilt += c.Rebuilt
		res.Compact.Fallbacks += c.Fallbacks
		res.Compact.FromPool += c.FromPool
		res.Compact.Prefilled += c.Prefilled
		res.Compact.Fetched += c.Fetched
		for k, v := range n.host.GossipCounts().Messages {
			res.Gossip[k.Topic+" "+k.What] += v
		}
		for k, v := range n.host.BanCounts() {
			res.Bans[k] += v
		}
	}
	return res, nil
}

// peerKeys derives every peer's key from rng.
func peerKeys(n int, rng *rand.Rand) ([]crypto.PrivKey, []peer.ID, error) {
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(rng.Uint64())
	}
	src := rand.NewChaCha8(seed)
	keys, ids := make([]crypto.PrivKey, n), make([]peer.ID, n)
	for i := range keys {
		k, _, err := crypto.GenerateEd25519Key(src)
		if err != nil {
			return nil, nil, fmt.Errorf("sim peer key: %w", err)
		}
		id, err := peer.IDFromPrivateKey(k)
		if err != nil {
			return nil, nil, err
		}
		keys[i], ids[i] = k, id
	}
	return keys, ids, nil
}

// pickDials chooses, for each peer, the distinct random peers it dials.
func pickDials(sc Scenario, rng *rand.Rand) [][]int {
	out := make([][]int, sc.Peers)
	for i := range out {
		k := sc.MinDials + rng.IntN(sc.MaxDials-sc.MinDials+1)
		seen := map[int]bool{i: true}
		for len(out[i]) < k {
			j := rng.IntN(sc.Peers)
			if !seen[j] {
				seen[j] = true
				out[i] = append(out[i], j)
			}
		}
	}
	return out
}

func pickOffline(sc Scenario, miners []int, rng *rand.Rand) []int {
	if sc.Offline == nil || sc.OfflineShare == 0 {
		return nil
	}
	isMiner := make(map[int]bool)
	for _, m := range miners {
		isMiner[m] = true
	}
	var out []int
	for _, i := range rng.Perm(sc.Peers) {
		if len(out) >= int(math.Round(sc.OfflineShare*float64(sc.Peers))) {
			break
		}
		if !isMiner[i] {
			out = append(out, i)
		}
	}
	return out
}

// runFaults applies the partition and the offline window.
func runFaults(ctx context.Context, sc Scenario, nw *Network, offline []int) {
	type step struct {
		at time.Duration
		do func()
	}
	var steps []step
	if w := sc.Partition; w != nil {
		steps = append(steps, step{w.At, func() { nw.cut.Store(true) }}, step{w.At + w.For, func() { nw.cut.Store(false) }})
	}
	if w := sc.Offline; w != nil {
		set := func(v bool) func() {
			return func() {
				for _, i := range offline {
					nw.peers[i].offline.Store(v)
				}
			}
		}
		steps = append(steps, step{w.At, set(true)}, step{w.At + w.For, set(false)})
	}
	start := time.Now()
	for len(steps) > 0 {
		next := 0
		for i, s := range steps {
			if s.at < steps[next].at {
				next = i
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(steps[next].at - time.Since(start)):
		}
		steps[next].do()
		steps = append(steps[:next], steps[next+1:]...)
	}
}

// mineBlocks mines sc.Blocks blocks at exponential intervals, each by a
// random miner on its own head, imported there and broadcast; then it
// keeps mining (blocks not measured) until every online peer has the same
// head or sc.Drain has passed: two tips of equal work stay apart until a
// next block breaks the tie. It returns the number of distinct heads at the
// end.
func mineBlocks(ctx context.Context, sc Scenario, fx *Fixture, nodes []*simNode, miners []int, offline []bool, rec *recorder, rng *rand.Rand) (int, error) {
	var wg gosync.WaitGroup
	defer wg.Wait()
	var deadline time.Time
	for n := 0; ; n++ {
		tail := n >= sc.Blocks
		if tail {
			if deadline.IsZero() {
				deadline = time.Now().Add(sc.Drain)
			}
			if heads := waitAgreement(sc, nodes, offline, min(sc.BlockTime, time.Until(deadline))); heads == 1 || !time.Now().Before(deadline) {
				return heads, nil
			}
		} else {
			time.Sleep(time.Duration(rng.ExpFloat64() * float64(sc.BlockTime)))
		}
		m := miners[rng.IntN(len(miners))]
		node := nodes[m]
		b, err := fx.mine(ctx, node.chain, m, time.Now())
		if err != nil {
			return 0, err
		}
		if !tail {
			rec.mined(b, m)
		}
		if _, err := node.chain.InsertBlock(b); err != nil {
			return 0, fmt.Errorf("miner %d imports its own block %d: %w", m, b.NumberU64(), err)
		}
		sc.Progress.Info("Mined", "scenario", sc.Name, "number", b.NumberU64(), "block", n+1, "of", sc.Blocks, "miner", m, "tail", tail, "at", time.Now().UTC().Format("15:04:05.000"))
		wg.Add(1)
		go func() { defer wg.Done(); node.sync.Broadcast(b) }()
	}
}

// waitAgreement waits, up to wait, until every online peer has the same
// head, and returns the number of distinct heads at the end.
func waitAgreement(sc Scenario, nodes []*simNode, offline []bool, wait time.Duration) int {
	deadline := time.Now().Add(wait)
	for {
		heads := make(map[common.Hash]bool)
		for i, n := range nodes {
			if !offline[i] || sc.Offline == nil {
				heads[n.chain.CurrentBlock().Hash()] = true
			}
		}
		if len(heads) == 1 || !time.Now().Before(deadline) {
			return len(heads)
		}
		time.Sleep(min(time.Second, time.Until(deadline)))
	}
}

// canonicalSet is the chain of the heaviest head any peer holds.
func canonicalSet(nodes []*simNode, store *blockStore) map[common.Hash]bool {
	var best *Chain
	for _, n := range nodes {
		if best == nil || n.chain.CurrentTD().Cmp(best.CurrentTD()) > 0 {
			best = n.chain
		}
	}
	out := make(map[common.Hash]bool)
	for b := best.CurrentBlock(); b != nil && b.NumberU64() > 0; b = store.get(b.ParentHash()) {
		out[b.Hash()] = true
	}
	return out
}

func collect(rec *recorder, canon map[common.Hash]bool) []BlockResult {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []BlockResult
	for _, h := range rec.order {
		r := rec.recs[h]
		out = append(out, BlockResult{Number: r.number, Hash: h, Miner: r.miner, Canonical: canon[h], Arrivals: append([]time.Duration(nil), r.first...)})
	}
	return out
}

func closeHosts(nodes []*simNode) {
	var wg gosync.WaitGroup
	for _, n := range nodes {
		if n == nil {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = n.host.Close() }()
	}
	wg.Wait()
}
