package node

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
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/params"
	"github.com/peerchain/peerchain/internal/rpc"
	"github.com/peerchain/peerchain/internal/sync"
)

// Network view limits.
const (
	maxTips        = 8                // side tips reported
	diskCacheFor   = 10 * time.Second // a data dir walk is reused this long
	rateWindow     = 30               // seconds of head samples behind the sync rate
	maxPoolSenders = 50
	maxPoolTop     = 20
)

// netView is the node's network and status view for the RPC: the fork
// log over the chain's head events, the arrivals the syncer records, the
// sync rate over a moving window, and the data dir's size.
type netView struct {
	n       *Node
	forks   *chain.ForkLog
	started time.Time
	feed    rpc.NetFeed // peerchain_subscribe("network")

	mu struct {
		gosync.Mutex
		samples []headSample // one a second, the last rateWindow+1
		disk    rpc.DiskView
		diskAt  time.Time
	}
}

type headSample struct {
	at     time.Time
	number uint64
}

// newNetView follows the syncer's arrivals, the host's peers and (once
// run) the chain's head events.
func newNetView(n *Node) *netView {
	v := &netView{n: n, forks: chain.NewForkLog(n.chain, nil), started: time.Now()}
	if n.syncer != nil {
		n.syncer.Arrivals().Subscribe(v.onArrival)
	}
	if n.host != nil {
		n.host.OnPeer(
			func(p peer.ID) {
				v.feed.Send(rpc.NetEvent{Type: "peer", Peer: &rpc.PeerEvent{ID: p.String(), Connected: true}})
			},
			func(p peer.ID) { v.feed.Send(rpc.NetEvent{Type: "peer", Peer: &rpc.PeerEvent{ID: p.String()}}) })
	}
	v.forks.SubscribeReorgs(func(r chain.Reorg) {
		ri := rpc.ReorgInfoOf(r)
		v.feed.Send(rpc.NetEvent{Type: "reorg", Reorg: &ri})
	})
	return v
}

// run follows head events and samples the head for the sync rate until
// ctx ends.
func (v *netView) run(ctx context.Context) error {
	var wg gosync.WaitGroup
	defer wg.Wait() // the node closes the chain after run returns
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			v.sample()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return v.forks.Run(ctx)
}

func (v *netView) sample() {
	s := headSample{at: time.Now(), number: v.n.chain.CurrentBlock().NumberU64()}
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.mu.samples) > rateWindow {
		v.mu.samples = slices.Delete(v.mu.samples, 0, 1)
	}
	v.mu.samples = append(v.mu.samples, s)
}

// rate is the blocks imported per second over the sample window, or nil
// when the window is shorter than two seconds.
func (v *netView) rate() (*float64, float64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.mu.samples) < 2 {
		return nil, 0
	}
	first, last := v.mu.samples[0], v.mu.samples[len(v.mu.samples)-1]
	el := last.at.Sub(first.at).Seconds()
	if el < 2 {
		return nil, el
	}
	r := float64(last.number-min(first.number, last.number)) / el
	return &r, el
}

func (v *netView) onArrival(a sync.Arrival) {
	ba := blockArrival(a)
	v.feed.Send(rpc.NetEvent{Type: "arrival", Arrival: &ba})
	h := v.n.chain.GetHeaderByHash(a.Hash)
	if h == nil || v.n.chain.IsCanonical(h) {
		return
	}
	v.forks.NoteSide(h)
	tip := rpc.ChainTip{BlockRef: rpc.BlockRef{Number: hexutil.Uint64(a.Number), Hash: a.Hash},
		TotalDifficulty: (*hexutil.Big)(v.n.chain.GetTD(a.Hash, a.Number))}
	v.feed.Send(rpc.NetEvent{Type: "tip", Tip: &tip})
}

func blockArrival(a sync.Arrival) rpc.BlockArrival {
	return rpc.BlockArrival{Hash: a.Hash, Number: hexutil.Uint64(a.Number), TimeMs: a.Time.UnixMilli(),
		DelayMs: a.Delay.Milliseconds(), Via: a.Via, From: a.From.String()}
}

// The network view, for the RPC.
var (
	_ rpc.NetView    = network{}
	_ rpc.StatusView = network{}
)

func (w network) Bans() []rpc.BanInfo {
	now := time.Now()
	out := []rpc.BanInfo{}
	for _, b := range w.host.Bans() {
		out = append(out, rpc.BanInfo{ID: b.ID.String(), Reason: b.Reason, Until: b.Until.UTC().Format(time.RFC3339),
			RemainingSec: b.Until.Sub(now).Seconds()})
	}
	slices.SortFunc(out, func(a, b rpc.BanInfo) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (w network) BlockArrivals(n int) []rpc.BlockArrival {
	out := []rpc.BlockArrival{}
	for _, a := range w.syncer.Arrivals().Recent(n) {
		out = append(out, blockArrival(a))
	}
	return out
}

func (w network) Propagation() rpc.Propagation {
	p := w.syncer.Arrivals().Propagation()
	out := rpc.Propagation{Blocks: p.Blocks, Counts: p.Buckets}
	for _, b := range p.Bounds {
		out.BoundsMs = append(out.BoundsMs, b.Milliseconds())
	}
	if p.Blocks > 0 {
		ms := func(d time.Duration) *int64 { v := d.Milliseconds(); return &v }
		out.P50Ms, out.P95Ms, out.MinMs, out.MaxMs = ms(p.P50), ms(p.P95), ms(p.Min), ms(p.Max)
	}
	return out
}

func (w network) ChainTips() rpc.ChainTips {
	c := w.view.n.chain
	var out rpc.ChainTips
	head := c.CurrentBlock().Header()
	out.Head.BlockRef = rpc.RefOf(head)
	out.Head.TotalDifficulty = (*hexutil.Big)(c.CurrentTD())
	out.Tips = []rpc.ChainTip{}
	for _, t := range w.view.forks.Tips(maxTips, 0) {
		ct := rpc.ChainTip{BlockRef: rpc.RefOf(t.Header), TotalDifficulty: (*hexutil.Big)(t.TD), Length: t.Length}
		if t.Length > 0 {
			ct.Fork = &rpc.BlockRef{Number: hexutil.Uint64(t.ForkNumber), Hash: t.ForkHash}
		}
		out.Tips = append(out.Tips, ct)
	}
	return out
}

func (w network) Reorgs() []rpc.ReorgInfo {
	out := []rpc.ReorgInfo{}
	for _, r := range w.view.forks.Reorgs() {
		out = append(out, rpc.ReorgInfoOf(r))
	}
	return out
}

func (w network) SubscribeNet(f func(rpc.NetEvent)) func() { return w.view.feed.Subscribe(f) }

func (w network) NodeStatus() rpc.NodeStatus {
	v, n := w.view, w.view.n
	now := time.Now()
	var st rpc.NodeStatus
	st.Client, st.Version = params.ClientName+"/v"+params.Version, params.Version
	st.StartedAt, st.UptimeSec = v.started.UTC().Format(time.RFC3339), now.Sub(v.started).Seconds()
	st.Peers = w.host.PeerCount()
	head := n.chain.CurrentBlock().Header()
	st.Head.BlockRef = rpc.RefOf(head)
	st.Head.AgeSec = now.Sub(time.Unix(int64(head.Time), 0)).Seconds()
	rate, window := v.rate()
	st.Sync = rpc.SyncView{Current: head.Number.Uint64(), Highest: head.Number.Uint64(), BlocksPerSec: rate, WindowSec: window}
	if p, ok := w.syncer.Progress(); ok {
		st.Sync.Syncing, st.Sync.Starting = true, p.Starting
		st.Sync.Highest = max(p.Highest, st.Sync.Current)
		if rate != nil && *rate > 0 {
			eta := float64(st.Sync.Highest-st.Sync.Current) / *rate
			st.Sync.EtaSec = &eta
		}
	}
	st.Pool = poolView(n)
	st.Disk = v.diskUse(n.cfg.DataDir)
	if n.miner != nil {
		cb := n.miner.Coinbase()
		st.Mining = rpc.MiningView{Enabled: true, Hashrate: n.miner.Hashrate(), Coinbase: &cb}
	}
	return st
}

func poolView(n *Node) rpc.PoolView {
	pending, queued := n.pool.Content()
	out := rpc.PoolView{Senders: []rpc.PoolSender{}, Top: []rpc.PoolTx{}}
	senders := make(map[common.Address]*rpc.PoolSender)
	var all []rpc.PoolTx
	add := func(m map[common.Address][]*types.Transaction, isQueued bool) {
		for from, txs := range m {
			s := senders[from]
			if s == nil {
				s = &rpc.PoolSender{Address: from}
				senders[from] = s
			}
			for _, tx := range txs {
				if isQueued {
					s.Queued++
					out.Queued++
				} else {
					s.Pending++
					out.Pending++
				}
				all = append(all, rpc.PoolTx{Hash: tx.Hash(), From: from, To: tx.To(), Nonce: hexutil.Uint64(tx.Nonce()),
					Tip: (*hexutil.Big)(tx.GasTipCap()), Value: (*hexutil.Big)(tx.Value()), Queued: isQueued})
			}
		}
	}
	add(pending, false)
	add(queued, true)
	for _, s := range senders {
		out.Senders = append(out.Senders, *s)
	}
	slices.SortFunc(out.Senders, func(a, b rpc.PoolSender) int {
		if d := (b.Pending + b.Queued) - (a.Pending + a.Queued); d != 0 {
			return d
		}
		return strings.Compare(a.Address.Hex(), b.Address.Hex())
	})
	out.Senders = out.Senders[:min(len(out.Senders), maxPoolSenders)]
	slices.SortFunc(all, func(a, b rpc.PoolTx) int {
		if c := b.Tip.ToInt().Cmp(a.Tip.ToInt()); c != 0 {
			return c
		}
		return strings.Compare(a.Hash.Hex(), b.Hash.Hex())
	})
	out.Top = append(out.Top, all[:min(len(all), maxPoolTop)]...)
	return out
}

// diskUse returns the data dir's size, walking it at most every
// diskCacheFor (callers meanwhile get the last walk).
func (v *netView) diskUse(dir string) rpc.DiskView {
	v.mu.Lock()
	if !v.mu.diskAt.IsZero() && time.Since(v.mu.diskAt) < diskCacheFor {
		d := v.mu.disk
		v.mu.Unlock()
		return d
	}
	v.mu.Unlock()
	d := rpc.DiskView{Parts: make(map[string]int64), MeasuredAt: time.Now().UTC().Format(time.RFC3339)}
	_ = filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil // a file removed during the walk (Pebble compacts)
		}
		if e.IsDir() {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return nil
		}
		d.Bytes += info.Size()
		if rel, err := filepath.Rel(dir, path); err == nil {
			top := strings.SplitN(rel, string(os.PathSeparator), 2)[0]
			d.Parts[top] += info.Size()
		}
		return nil
	})
	v.mu.Lock()
	v.mu.disk, v.mu.diskAt = d, time.Now()
	v.mu.Unlock()
	return d
}
