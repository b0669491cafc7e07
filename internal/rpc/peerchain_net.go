package rpc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
)

// NetView is an optional capability of Network: the network view of the
// peerchain_ methods below (peers are Network.Peers). A Network without it
// (or a node without peers) answers empty views.
type NetView interface {
	// Bans lists the peers banned now.
	Bans() []BanInfo
	// BlockArrivals returns the last n blocks' arrivals, newest first.
	BlockArrivals(n int) []BlockArrival
	// Propagation summarises how long recent gossiped blocks took to
	// arrive after their timestamps.
	Propagation() Propagation
	// ChainTips returns the canonical head and the heaviest side tips.
	ChainTips() ChainTips
	// Reorgs returns the recent reorgs, newest first.
	Reorgs() []ReorgInfo
	// SubscribeNet calls f with every network event (f must not block)
	// until the returned function is called.
	SubscribeNet(f func(NetEvent)) (unsubscribe func())
}

// StatusView is an optional capability of Network: the node page's
// status (peerchain_nodeStatus).
type StatusView interface {
	NodeStatus() NodeStatus
}

// BanInfo is one banned peer.
type BanInfo struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
	// Until is when the ban ends (RFC 3339); RemainingSec the seconds
	// left.
	Until        string  `json:"until"`
	RemainingSec float64 `json:"remainingSec"`
}

// BlockArrival is when and how a block first reached this peer.
type BlockArrival struct {
	Hash   common.Hash    `json:"hash"`
	Number hexutil.Uint64 `json:"number"`
	// TimeMs is the wall-clock arrival in Unix milliseconds; DelayMs is
	// that minus the block's timestamp.
	TimeMs  int64  `json:"timeMs"`
	DelayMs int64  `json:"delayMs"`
	Via     string `json:"via"` // gossip, sync, mined (or headers on a light peer)
	From    string `json:"from,omitempty"`
}

// Propagation is the histogram of recent gossiped blocks' delays.
type Propagation struct {
	Blocks int `json:"blocks"`
	// BoundsMs are the buckets' upper bounds; Counts has one more entry,
	// for delays at or above the last bound.
	BoundsMs []int64 `json:"boundsMs"`
	Counts   []int   `json:"counts"`
	P50Ms    *int64  `json:"p50Ms"` // null without blocks
	P95Ms    *int64  `json:"p95Ms"`
	MinMs    *int64  `json:"minMs"`
	MaxMs    *int64  `json:"maxMs"`
}

// BlockRef names a block.
type BlockRef struct {
	Number hexutil.Uint64 `json:"number"`
	Hash   common.Hash    `json:"hash"`
}

// ChainTip is the head of a side branch.
type ChainTip struct {
	BlockRef
	TotalDifficulty *hexutil.Big `json:"totalDifficulty"`
	// Fork is the canonical block the branch leaves from (null when the
	// walk back did not reach the canonical chain); Length the blocks from
	// there to the tip.
	Fork   *BlockRef `json:"fork"`
	Length int       `json:"length"`
}

// ChainTips is the fork tree: the canonical head and the side tips.
type ChainTips struct {
	Head struct {
		BlockRef
		TotalDifficulty *hexutil.Big `json:"totalDifficulty"`
	} `json:"head"`
	Tips []ChainTip `json:"tips"`
}

// ReorgInfo is one reorg: Depth blocks removed, Added blocks put on.
type ReorgInfo struct {
	TimeMs   int64    `json:"timeMs"`
	OldHead  BlockRef `json:"oldHead"`
	NewHead  BlockRef `json:"newHead"`
	Ancestor BlockRef `json:"ancestor"`
	Depth    int      `json:"depth"`
	Added    int      `json:"added"`
}

// NetEvent is one notification of peerchain_subscribe("network"): Type is
// "arrival", "reorg", "tip" (a side block arrived), "peer" (connected or
// gone) or "ban" (a light peer dropped a source; Peer.Reason is the
// evidence), with the matching field set; "lost" says events were dropped
// because the subscriber fell behind (refetch the views).
type NetEvent struct {
	Type    string        `json:"type"`
	Arrival *BlockArrival `json:"arrival,omitempty"`
	Reorg   *ReorgInfo    `json:"reorg,omitempty"`
	Tip     *ChainTip     `json:"tip,omitempty"`
	Peer    *PeerEvent    `json:"peer,omitempty"`
}

// PeerEvent is a peer connecting or going.
type PeerEvent struct {
	ID        string `json:"id"`
	Connected bool   `json:"connected"`
	Reason    string `json:"reason,omitempty"`
}

// NodeStatus is the node page: peerchain_nodeStatus.
type NodeStatus struct {
	Client  string `json:"client"`
	Version string `json:"version"`
	// Light marks a light peer: its peers are its sources, its blocks
	// headers, its pool the transactions it sent itself.
	Light     bool    `json:"light,omitempty"`
	StartedAt string  `json:"startedAt"` // RFC 3339
	UptimeSec float64 `json:"uptimeSec"`
	Peers     int     `json:"peers"`
	Head      struct {
		BlockRef
		AgeSec float64 `json:"ageSec"`
	} `json:"head"`
	Sync   SyncView   `json:"sync"`
	Pool   PoolView   `json:"pool"`
	Disk   DiskView   `json:"disk"`
	Mining MiningView `json:"mining"`
}

// SyncView is sync progress with an honest ETA: from the import rate of
// the last WindowSec seconds, null when that rate is unknown or zero.
type SyncView struct {
	Syncing      bool     `json:"syncing"`
	Starting     uint64   `json:"starting"`
	Current      uint64   `json:"current"`
	Highest      uint64   `json:"highest"`
	BlocksPerSec *float64 `json:"blocksPerSec"`
	EtaSec       *float64 `json:"etaSec"`
	WindowSec    float64  `json:"windowSec"`
}

// PoolView summarises the transaction pool.
type PoolView struct {
	Pending int          `json:"pending"`
	Queued  int          `json:"queued"`
	Senders []PoolSender `json:"senders"` // most transactions first, at most 50
	Top     []PoolTx     `json:"top"`     // highest tip first, at most 20
}

// PoolSender is one account's transactions in the pool.
type PoolSender struct {
	Address common.Address `json:"address"`
	Pending int            `json:"pending"`
	Queued  int            `json:"queued"`
}

// PoolTx is one pooled transaction.
type PoolTx struct {
	Hash   common.Hash     `json:"hash"`
	From   common.Address  `json:"from"`
	To     *common.Address `json:"to"`
	Nonce  hexutil.Uint64  `json:"nonce"`
	Tip    *hexutil.Big    `json:"tip"` // max priority fee per gas
	Value  *hexutil.Big    `json:"value"`
	Queued bool            `json:"queued"`
}

// DiskView is the data dir's size.
type DiskView struct {
	Bytes      int64  `json:"bytes"`
	MeasuredAt string `json:"measuredAt"`
	// Parts are the sizes of the data dir's top-level entries.
	Parts map[string]int64 `json:"parts"`
}

// MiningView is the miner's status.
type MiningView struct {
	Enabled  bool            `json:"enabled"`
	Hashrate float64         `json:"hashrate"`
	Coinbase *common.Address `json:"coinbase,omitempty"`
}

// Limits of the network view's API.
const (
	// maxArrivalsAnswer bounds peerchain_blockArrivals' count.
	maxArrivalsAnswer = 256
	// maxNetSubs bounds peerchain_subscribe("network") subscriptions.
	maxNetSubs = 1000
	// netSubBacklog is how many events one subscriber may have waiting;
	// past it the events are dropped and it gets a "lost" event.
	netSubBacklog = 256
)

// peerchainViewAPI is the part of the network view a public provider may
// serve: nothing in it names a peer.
type peerchainViewAPI struct{ b Backend }

// peerchainNetAPI is the part that names peers (ids, addresses, bans), or
// reports on the operator's node; a provider does not serve it.
type peerchainNetAPI struct {
	b    Backend
	subs atomic.Int64
}

func (b Backend) netView() NetView {
	v, _ := b.Net.(NetView)
	return v
}

// Propagation is peerchain_propagation: the histogram of how long recent
// gossiped blocks took to arrive, with p50 and p95.
func (api *peerchainViewAPI) Propagation() Propagation {
	if v := api.b.netView(); v != nil {
		return v.Propagation()
	}
	return Propagation{BoundsMs: []int64{}, Counts: []int{}}
}

// ChainTips is peerchain_chainTips: the head and the heaviest side tips.
func (api *peerchainViewAPI) ChainTips() ChainTips {
	if v := api.b.netView(); v != nil {
		return v.ChainTips()
	}
	var t ChainTips
	h := api.b.Chain.CurrentHeader()
	t.Head.Number, t.Head.Hash = hexutil.Uint64(h.Number.Uint64()), h.Hash()
	t.Head.TotalDifficulty = (*hexutil.Big)(api.b.Chain.GetTD(h.Hash(), h.Number.Uint64()))
	t.Tips = []ChainTip{}
	return t
}

// Reorgs is peerchain_reorgs: the recent reorgs, newest first.
func (api *peerchainViewAPI) Reorgs() []ReorgInfo {
	if v := api.b.netView(); v != nil {
		return v.Reorgs()
	}
	return []ReorgInfo{}
}

// Bans is peerchain_bans: the peers banned now, with reason and expiry.
func (api *peerchainNetAPI) Bans() []BanInfo {
	if v := api.b.netView(); v != nil {
		return v.Bans()
	}
	return []BanInfo{}
}

// BlockArrivals is peerchain_blockArrivals(count): when and from whom the
// last count blocks (default 64, at most 256) first arrived.
func (api *peerchainNetAPI) BlockArrivals(count *int) ([]BlockArrival, error) {
	n := 64
	if count != nil {
		n = *count
	}
	if n < 0 || n > maxArrivalsAnswer {
		return nil, fmt.Errorf("count %d: want 0 to %d", n, maxArrivalsAnswer)
	}
	if v := api.b.netView(); v != nil {
		return v.BlockArrivals(n), nil
	}
	return []BlockArrival{}, nil
}

// NodeStatus is peerchain_nodeStatus: version, uptime, sync progress,
// pool, disk use, peers and mining.
func (api *peerchainNetAPI) NodeStatus() (NodeStatus, error) {
	if v, ok := api.b.Net.(StatusView); ok {
		return v.NodeStatus(), nil
	}
	return NodeStatus{}, errors.New("this node does not report its status")
}

// Network is peerchain_subscribe("network"): every arrival, reorg, side
// tip and peer change as it happens.
func (api *peerchainNetAPI) Network(ctx context.Context) (*gethrpc.Subscription, error) {
	notifier, ok := gethrpc.NotifierFromContext(ctx)
	if !ok {
		return nil, gethrpc.ErrNotificationsUnsupported
	}
	v := api.b.netView()
	if v == nil {
		return nil, errNoNetwork
	}
	if n := api.subs.Add(1); n > maxNetSubs {
		api.subs.Add(-1)
		return nil, limitf("too many network subscriptions: %d open, the limit is %d", n-1, maxNetSubs)
	}
	q := &netQueue{wake: make(chan struct{}, 1)}
	unsubscribe := v.SubscribeNet(q.push)
	rs := notifier.CreateSubscription()
	go func() {
		defer api.subs.Add(-1)
		defer unsubscribe()
		for {
			select {
			case <-q.wake:
				for _, ev := range q.take() {
					if err := notifier.Notify(rs.ID, ev); err != nil {
						return
					}
				}
			case <-rs.Err():
				return
			}
		}
	}()
	return rs, nil
}

// netQueue holds one subscriber's events: pushing never blocks the
// producer; past netSubBacklog the backlog is replaced by one "lost"
// event.
type netQueue struct {
	mu    sync.Mutex
	items []NetEvent
	lost  bool
	wake  chan struct{}
}

func (q *netQueue) push(ev NetEvent) {
	q.mu.Lock()
	if len(q.items) >= netSubBacklog {
		q.items, q.lost = q.items[:0], true
	}
	q.items = append(q.items, ev)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *netQueue) take() []NetEvent {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.items
	if q.lost {
		out = append([]NetEvent{{Type: "lost"}}, out...)
		q.lost = false
	}
	q.items = nil
	return out
}
