package light

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/params"
	"github.com/peerchain/peerchain/internal/rpc"
	"github.com/peerchain/peerchain/internal/sync"
)

// The light peer's network view is the full peer's (the rpc package's
// NetView and StatusView, served by rpcNet): its sources stand for peers,
// the dropped ones for the ban list, verified headers for blocks.

// How a header reached the light peer (BlockArrival.Via).
const (
	// viaGossip: the header of a block a full peer gossiped over P2P.
	viaGossip = sync.ViaGossip
	// viaHeaders: a source's headers while following the head (a sync of
	// at most followRun headers): its delay says how fresh we are.
	viaHeaders = "headers"
	// viaSync: headers of a catch-up; their delay says nothing.
	viaSync = sync.ViaSync
)

// Network view limits.
const (
	// maxHeaderArrivals is how many recent headers' arrivals are kept.
	maxHeaderArrivals = sync.MaxArrivals
	// followRun is the most headers a sync may add and still count as
	// following the head.
	followRun = 2
	// rateWindow is the seconds of head samples behind the sync rate.
	rateWindow = 30
	// syncingGap is how far the best claim must be ahead of our head for
	// the light peer to call itself syncing.
	syncingGap = followRun
	// maxTips bounds the side tips reported.
	maxTips = 8
	// diskCacheFor is how long a walk of the data dir is reused.
	diskCacheFor = 10 * time.Second
	// maxPoolTop bounds the sent transactions listed.
	maxPoolTop = 20
)

// headerArrival is when and from where a verified header first reached
// this light peer.
type headerArrival struct {
	hash   common.Hash
	number uint64
	at     time.Time
	delay  time.Duration // at minus the header's timestamp
	via    string
	from   string // a provider's URL or a full peer's id
}

// netView records the light peer's header arrivals, follows its head
// events for reorgs and side tips, samples the head for the sync rate and
// measures the data dir. Every recorded header passed verification: the
// hooks that feed it run only after a header is stored.
type netView struct {
	now     func() time.Time
	started time.Time
	hc      *HeaderChain
	forks   *chain.ForkLog
	dataDir string
	feed    rpc.NetFeed // peerchain_subscribe("network")

	mu struct {
		gosync.Mutex
		ring    []headerArrival // oldest first, at most maxHeaderArrivals
		seen    map[common.Hash]bool
		rate    rateMeter
		syncing bool
		start   uint64 // head when the current catch-up began
		disk    rpc.DiskView
		diskAt  time.Time
	}
}

// newNetView returns a view over hc whose reorgs and tips come from src's
// head events (the RPC's form of hc's) once run.
func newNetView(hc *HeaderChain, src chain.HeadSource, dataDir string, now func() time.Time) *netView {
	v := &netView{now: now, started: now(), hc: hc, forks: chain.NewForkLog(src, now), dataDir: dataDir}
	v.mu.seen = make(map[common.Hash]bool)
	v.mu.rate.window = rateWindow * time.Second
	v.forks.SubscribeReorgs(func(r chain.Reorg) {
		ri := rpc.ReorgInfoOf(r)
		v.feed.Send(rpc.NetEvent{Type: "reorg", Reorg: &ri})
	})
	return v
}

// run follows head events and samples the head once a second until ctx
// ends; best reports the heaviest claim of the sources in good standing.
func (v *netView) run(ctx context.Context, best func() uint64) {
	var wg gosync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			v.sample(best())
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	_ = v.forks.Run(ctx) // ends with ctx; a feed's error ends it too
}

// sample notes the head for the sync rate and whether a catch-up runs.
func (v *netView) sample(highest uint64) {
	head := v.hc.CurrentHeader().Number.Uint64()
	v.mu.Lock()
	defer v.mu.Unlock()
	v.mu.rate.add(v.now(), head)
	syncing := highest > head+syncingGap
	if syncing && !v.mu.syncing {
		v.mu.start = head
	}
	v.mu.syncing = syncing
}

// stored records the arrival of headers a source served, verified and
// stored: the first arrival of each is kept. at is when they arrived;
// catchUp says the sync added more than followRun headers.
func (v *netView) stored(from string, headers []*types.Header, hashes []common.Hash, at time.Time, catchUp bool) {
	via := viaHeaders
	if catchUp {
		via = viaSync
	}
	// Only the newest can stay in the ring: a long sync records its tail.
	first := max(0, len(headers)-maxHeaderArrivals)
	for i := first; i < len(headers); i++ {
		v.record(headers[i], hashes[i], at, via, from)
	}
}

// record keeps the first arrival of a verified, stored header and tells
// the subscribers; a header off the canonical chain is a side tip.
func (v *netView) record(h *types.Header, hash common.Hash, at time.Time, via, from string) {
	a := headerArrival{hash: hash, number: h.Number.Uint64(), at: at, via: via, from: from,
		delay: at.Sub(time.Unix(int64(h.Time), 0))}
	v.mu.Lock()
	if v.mu.seen[hash] {
		v.mu.Unlock()
		return
	}
	if len(v.mu.ring) == maxHeaderArrivals {
		delete(v.mu.seen, v.mu.ring[0].hash)
		v.mu.ring = slices.Delete(v.mu.ring, 0, 1)
	}
	v.mu.ring = append(v.mu.ring, a)
	v.mu.seen[hash] = true
	v.mu.Unlock()
	ba := blockArrival(a)
	v.feed.Send(rpc.NetEvent{Type: "arrival", Arrival: &ba})
	if !v.hc.IsCanonical(h) {
		v.forks.NoteSide(h)
		tip := rpc.ChainTip{BlockRef: rpc.RefOf(h), TotalDifficulty: (*hexutil.Big)(v.hc.GetTD(hash, a.number))}
		v.feed.Send(rpc.NetEvent{Type: "tip", Tip: &tip})
	}
}

// recent returns the last n arrivals, newest first.
func (v *netView) recent(n int) []headerArrival {
	v.mu.Lock()
	defer v.mu.Unlock()
	n = min(max(n, 0), len(v.mu.ring))
	out := make([]headerArrival, 0, n)
	for i := len(v.mu.ring) - 1; i >= len(v.mu.ring)-n; i-- {
		out = append(out, v.mu.ring[i])
	}
	return out
}

// dropped tells the subscribers that a source was dropped.
func (v *netView) dropped(id, why string) {
	v.feed.Send(rpc.NetEvent{Type: "ban", Peer: &rpc.PeerEvent{ID: id, Reason: why}})
}

// peer tells the subscribers that a source joined or left.
func (v *netView) peer(id string, connected bool) {
	v.feed.Send(rpc.NetEvent{Type: "peer", Peer: &rpc.PeerEvent{ID: id, Connected: connected}})
}

// rateMeter is the head's moving rate: samples over the last window.
type rateMeter struct {
	window  time.Duration
	samples []headSample // oldest first
}

type headSample struct {
	at     time.Time
	number uint64
}

func (m *rateMeter) add(at time.Time, number uint64) {
	m.samples = append(m.samples, headSample{at, number})
	for len(m.samples) > 2 && at.Sub(m.samples[1].at) >= m.window {
		m.samples = m.samples[1:]
	}
}

// rate is the headers stored per second over the samples, and the
// seconds they span; nil when they span less than two seconds.
func (m *rateMeter) rate() (*float64, float64) {
	if len(m.samples) < 2 {
		return nil, 0
	}
	first, last := m.samples[0], m.samples[len(m.samples)-1]
	el := last.at.Sub(first.at).Seconds()
	if el < 2 {
		return nil, el
	}
	r := float64(last.number-min(first.number, last.number)) / el
	return &r, el
}

// eta is the seconds to reach highest from current at rate, nil when the
// rate is unknown or zero (an honest "unknown" rather than a guess).
func eta(current, highest uint64, rate *float64) *float64 {
	if rate == nil || *rate <= 0 || highest <= current {
		return nil
	}
	s := float64(highest-current) / *rate
	return &s
}

// syncView is the header sync's progress: highest is the best claim of
// the sources in good standing.
func (v *netView) syncView(highest uint64) rpc.SyncView {
	head := v.hc.CurrentHeader().Number.Uint64()
	v.mu.Lock()
	rate, window := v.mu.rate.rate()
	syncing, start := v.mu.syncing, v.mu.start
	v.mu.Unlock()
	s := rpc.SyncView{Current: head, Highest: max(highest, head), BlocksPerSec: rate, WindowSec: window}
	if syncing && highest > head {
		s.Syncing, s.Starting = true, min(start, head)
		s.EtaSec = eta(head, highest, rate)
	}
	return s
}

// diskUse returns the data dir's size, walking it at most every
// diskCacheFor (callers meanwhile get the last walk).
func (v *netView) diskUse() rpc.DiskView {
	v.mu.Lock()
	if !v.mu.diskAt.IsZero() && v.now().Sub(v.mu.diskAt) < diskCacheFor {
		d := v.mu.disk
		v.mu.Unlock()
		return d
	}
	v.mu.Unlock()
	d := rpc.DiskView{Parts: make(map[string]int64), MeasuredAt: v.now().UTC().Format(time.RFC3339)}
	_ = filepath.WalkDir(v.dataDir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil // a file removed during the walk (Pebble compacts)
		}
		info, err := e.Info()
		if err != nil {
			return nil
		}
		d.Bytes += info.Size()
		if rel, err := filepath.Rel(v.dataDir, path); err == nil {
			d.Parts[strings.SplitN(rel, string(os.PathSeparator), 2)[0]] += info.Size()
		}
		return nil
	})
	v.mu.Lock()
	v.mu.disk, v.mu.diskAt = d, v.now()
	v.mu.Unlock()
	return d
}

func blockArrival(a headerArrival) rpc.BlockArrival {
	return rpc.BlockArrival{Hash: a.hash, Number: hexutil.Uint64(a.number), TimeMs: a.at.UnixMilli(),
		DelayMs: a.delay.Milliseconds(), Via: a.via, From: a.from}
}

// The network view, for the RPC.
var (
	_ rpc.NetView    = rpcNet{}
	_ rpc.StatusView = rpcNet{}
)

// Bans lists the sources dropped now, with the evidence and the drop's
// end.
func (n rpcNet) Bans() []rpc.BanInfo {
	now := n.l.cfg.Now()
	out := []rpc.BanInfo{}
	for _, s := range n.l.Sources() {
		if s.Dropped == "" {
			continue
		}
		out = append(out, rpc.BanInfo{ID: s.ID, Reason: s.Dropped, Until: s.Until.UTC().Format(time.RFC3339),
			RemainingSec: s.Until.Sub(now).Seconds()})
	}
	slices.SortFunc(out, func(a, b rpc.BanInfo) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// BlockArrivals returns the last n verified headers' first arrivals.
func (n rpcNet) BlockArrivals(count int) []rpc.BlockArrival {
	out := []rpc.BlockArrival{}
	for _, a := range n.l.view.recent(count) {
		out = append(out, blockArrival(a))
	}
	return out
}

// Propagation is the histogram of the delays of the headers that came by
// gossip or while following the head (a catch-up's say nothing).
func (n rpcNet) Propagation() rpc.Propagation {
	var delays []time.Duration
	for _, a := range n.l.view.recent(maxHeaderArrivals) {
		if a.via == viaGossip || a.via == viaHeaders {
			delays = append(delays, max(a.delay, 0))
		}
	}
	p := sync.PropagationOf(delays)
	out := rpc.Propagation{Blocks: p.Blocks, Counts: p.Buckets, BoundsMs: []int64{}}
	for _, b := range p.Bounds {
		out.BoundsMs = append(out.BoundsMs, b.Milliseconds())
	}
	if p.Blocks > 0 {
		ms := func(d time.Duration) *int64 { v := d.Milliseconds(); return &v }
		out.P50Ms, out.P95Ms, out.MinMs, out.MaxMs = ms(p.P50), ms(p.P95), ms(p.Min), ms(p.Max)
	}
	return out
}

// ChainTips returns the head and the side branches seen (headers a reorg
// dropped, side headers stored).
func (n rpcNet) ChainTips() rpc.ChainTips {
	var out rpc.ChainTips
	head := n.l.hc.CurrentHeader()
	out.Head.BlockRef = rpc.RefOf(head)
	out.Head.TotalDifficulty = (*hexutil.Big)(n.l.hc.CurrentTD())
	out.Tips = []rpc.ChainTip{}
	for _, t := range n.l.view.forks.Tips(maxTips, 0) {
		ct := rpc.ChainTip{BlockRef: rpc.RefOf(t.Header), TotalDifficulty: (*hexutil.Big)(t.TD), Length: t.Length}
		if t.Length > 0 {
			ct.Fork = &rpc.BlockRef{Number: hexutil.Uint64(t.ForkNumber), Hash: t.ForkHash}
		}
		out.Tips = append(out.Tips, ct)
	}
	return out
}

// Reorgs returns the header chain's recent reorgs, newest first.
func (n rpcNet) Reorgs() []rpc.ReorgInfo {
	out := []rpc.ReorgInfo{}
	for _, r := range n.l.view.forks.Reorgs() {
		out = append(out, rpc.ReorgInfoOf(r))
	}
	return out
}

// SubscribeNet delivers arrivals, reorgs, side tips, sources joining or
// leaving and sources dropped.
func (n rpcNet) SubscribeNet(f func(rpc.NetEvent)) func() { return n.l.view.feed.Subscribe(f) }

// NodeStatus is the node page: version, uptime, header sync with its
// moving-rate ETA, the sources in use, the transactions this light peer
// sent that are not known mined, and the data dir's size.
func (n rpcNet) NodeStatus() rpc.NodeStatus {
	v := n.l.view
	now := v.now()
	var st rpc.NodeStatus
	st.Client, st.Version, st.Light = params.ClientName+"/v"+params.Version, params.Version, true
	st.StartedAt, st.UptimeSec = v.started.UTC().Format(time.RFC3339), now.Sub(v.started).Seconds()
	st.Peers = len(n.l.sync.usable())
	head := n.l.hc.CurrentHeader()
	st.Head.BlockRef = rpc.RefOf(head)
	st.Head.AgeSec = now.Sub(time.Unix(int64(head.Time), 0)).Seconds()
	st.Sync = v.syncView(n.l.sync.bestClaim())
	st.Pool = rpc.PoolView{Senders: []rpc.PoolSender{}, Top: []rpc.PoolTx{}}
	if n.l.pool != nil {
		st.Pool = n.l.pool.view()
	}
	st.Disk = v.diskUse()
	return st
}

// view lists the transactions this light peer sent that are not known
// mined (PendingNonce forgets those below the proven nonce, remember those
// older than sentLifetime), as the pool: a light peer has none of its own.
func (p *rpcPool) view() rpc.PoolView {
	p.mu.Lock()
	txs := make([]sentTx, 0, len(p.sent))
	for _, s := range p.sent {
		txs = append(txs, s)
	}
	p.mu.Unlock()
	out := rpc.PoolView{Pending: len(txs), Senders: []rpc.PoolSender{}, Top: []rpc.PoolTx{}}
	senders := make(map[common.Address]int)
	for _, s := range txs {
		senders[s.from]++
	}
	for a, c := range senders {
		out.Senders = append(out.Senders, rpc.PoolSender{Address: a, Pending: c})
	}
	slices.SortFunc(out.Senders, func(a, b rpc.PoolSender) int {
		if a.Pending != b.Pending {
			return b.Pending - a.Pending
		}
		return strings.Compare(a.Address.Hex(), b.Address.Hex())
	})
	slices.SortFunc(txs, func(a, b sentTx) int { // highest tip first, as a pool's
		if c := b.tx.GasTipCap().Cmp(a.tx.GasTipCap()); c != 0 {
			return c
		}
		return strings.Compare(a.tx.Hash().Hex(), b.tx.Hash().Hex())
	})
	for _, s := range txs[:min(len(txs), maxPoolTop)] {
		out.Top = append(out.Top, rpc.PoolTx{Hash: s.tx.Hash(), From: s.from, To: s.tx.To(), Nonce: hexutil.Uint64(s.tx.Nonce()),
			Tip: (*hexutil.Big)(s.tx.GasTipCap()), Value: (*hexutil.Big)(s.tx.Value())})
	}
	return out
}
