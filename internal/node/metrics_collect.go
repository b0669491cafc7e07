package node

import (
	"math/big"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/peerchain/peerchain/internal/p2p"
	"github.com/peerchain/peerchain/internal/sync"
)

// Descriptions of the metrics nodeCollector reads at scrape time.
var (
	descHeadNumber = prometheus.NewDesc("peerchain_chain_head_number", "Number of the head block.", nil, nil)
	descHeadAge    = prometheus.NewDesc("peerchain_chain_head_age_seconds", "Age of the head block by its timestamp.", nil, nil)
	descTD         = prometheus.NewDesc("peerchain_chain_total_difficulty", "Total difficulty of the head (a float: exact to 53 bits).", nil, nil)
	descDifficulty = prometheus.NewDesc("peerchain_chain_head_difficulty", "Difficulty of the head block.", nil, nil)
	descHeadGas    = prometheus.NewDesc("peerchain_chain_head_gas_used", "Gas used by the head block.", nil, nil)
	descPool       = prometheus.NewDesc("peerchain_txpool_transactions", "Transactions in the pool: pending (executable) or queued.", []string{"state"}, nil)
	descPeers      = prometheus.NewDesc("peerchain_p2p_peers", "Connected peers by the direction of their first connection: inbound or outbound.", []string{"direction"}, nil)
	descBytes      = prometheus.NewDesc("peerchain_p2p_bytes_total",
		"Bytes moved with peers by protocol (our protocols by short name, libp2p's by their id, none before one is agreed; a set bounded by the protocols this host speaks) and direction (in, out).",
		[]string{"protocol", "direction"}, nil)
	descBanned    = prometheus.NewDesc("peerchain_p2p_banned_peers", "Peers banned now.", nil, nil)
	descBans      = prometheus.NewDesc("peerchain_p2p_bans_total", "Bans since start by reason class: flooding, oversized, malformed, invalid, unresponded, other.", []string{"reason"}, nil)
	descGossip    = prometheus.NewDesc("peerchain_p2p_gossip_messages_total", "Gossip messages from peers by topic and outcome: delivered (accepted), duplicate, rejected.", []string{"topic", "outcome"}, nil)
	descGossipRej = prometheus.NewDesc("peerchain_p2p_gossip_rejections_total",
		"Gossip messages refused by topic and gossipsub's reason (validation_failed costs the sender score; validation_ignored does not).",
		[]string{"topic", "reason"}, nil)
	descThrottled = prometheus.NewDesc("peerchain_p2p_gossip_throttled_total", "Peers throttled by gossipsub's peer gater.", nil, nil)
	descMesh      = prometheus.NewDesc("peerchain_p2p_gossip_mesh_peers", "Peers in this peer's gossip mesh by topic.", []string{"topic"}, nil)
	descSyncing   = prometheus.NewDesc("peerchain_sync_active", "1 while headers-first sync runs, else 0.", nil, nil)
	descHighest   = prometheus.NewDesc("peerchain_sync_highest_block", "Highest block known: the sync peer's head while syncing, else the head.", nil, nil)
	descSyncRate  = prometheus.NewDesc("peerchain_sync_blocks_per_second", "Head blocks gained per second over the last 30 seconds (0 in the first 2 s).", nil, nil)
	descSyncETA   = prometheus.NewDesc("peerchain_sync_eta_seconds", "Estimated time to reach the highest block at the current rate (0 when not syncing).", nil, nil)
	descHashrate  = prometheus.NewDesc("peerchain_miner_hashes_per_second", "Proof-of-work hashes per second over the last few seconds.", nil, nil)
	descDisk      = prometheus.NewDesc("peerchain_datadir_bytes", "Size of the data dir (walked at most every 10 s).", nil, nil)
	descCompact   = prometheus.NewDesc("peerchain_sync_compact_blocks_total",
		"Compact blocks received by outcome: rebuilt (from the message, the pool and the forwarder's answer) or fallback (the full body fetched instead).",
		[]string{"outcome"}, nil)
	descCompactTx = prometheus.NewDesc("peerchain_sync_compact_transactions_total",
		"Transactions of rebuilt compact blocks by where they came from: pool, prefilled (sent whole in the message) or fetched (asked of the forwarder).",
		[]string{"source"}, nil)
)

// nodeCollector reads the node's head, pool, network and sync state at
// scrape time.
type nodeCollector struct{ n *Node }

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descHeadNumber, descHeadAge, descTD, descDifficulty, descHeadGas, descPool,
		descPeers, descBytes, descBanned, descBans, descGossip, descGossipRej, descThrottled, descMesh,
		descSyncing, descHighest, descSyncRate, descSyncETA, descHashrate, descDisk, descCompact, descCompactTx} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	head := n.chain.CurrentBlock()
	gauge(descHeadNumber, float64(head.NumberU64()))
	gauge(descHeadAge, time.Since(time.Unix(int64(head.Time()), 0)).Seconds())
	gauge(descTD, bigFloat(n.chain.CurrentTD()))
	gauge(descDifficulty, bigFloat(head.Difficulty()))
	gauge(descHeadGas, float64(head.GasUsed()))
	pending, queued := n.pool.Stats()
	gauge(descPool, float64(pending), "pending")
	gauge(descPool, float64(queued), "queued")
	if n.miner != nil {
		gauge(descHashrate, n.miner.Hashrate())
	}
	if n.host != nil {
		c.collectNetwork(gauge, counter)
	}
	if n.view != nil {
		c.collectSync(gauge, counter)
		gauge(descDisk, float64(n.view.diskUse(n.cfg.DataDir).Bytes))
	}
}

type emit func(d *prometheus.Desc, v float64, labels ...string)

func (c *nodeCollector) collectNetwork(gauge, counter emit) {
	h := c.n.host
	var in, out float64
	mesh := make(map[string]float64)
	for _, t := range sync.Topics() {
		mesh[t] = 0
	}
	for _, p := range h.Peers() {
		if p.Inbound {
			in++
		} else {
			out++
		}
		for _, t := range h.Traffic(p.ID).Mesh {
			mesh[t]++
		}
	}
	gauge(descPeers, in, "inbound")
	gauge(descPeers, out, "outbound")
	for t, v := range mesh {
		gauge(descMesh, v, t)
	}
	for proto, t := range h.ProtocolTraffic() {
		if proto == "" {
			proto = "none"
		}
		counter(descBytes, float64(t.BytesIn), proto, "in")
		counter(descBytes, float64(t.BytesOut), proto, "out")
	}
	gauge(descBanned, float64(len(h.Bans())))
	bans := h.BanCounts()
	for _, class := range p2p.BanClasses {
		counter(descBans, float64(bans[class]), class)
	}
	g := h.GossipCounts()
	for _, t := range sync.Topics() {
		for _, o := range []string{p2p.GossipDelivered, p2p.GossipDuplicate, p2p.GossipRejected} {
			k := p2p.GossipKey{Topic: t, What: o}
			if _, ok := g.Messages[k]; !ok {
				g.Messages[k] = 0 // every topic and outcome from the start, at zero
			}
		}
	}
	for k, v := range g.Messages {
		counter(descGossip, float64(v), k.Topic, k.What)
	}
	for k, v := range g.Rejections {
		counter(descGossipRej, float64(v), k.Topic, k.What)
	}
	if len(g.Rejections) == 0 {
		counter(descGossipRej, 0, sync.Topics()[0], "validation_failed")
	}
	counter(descThrottled, float64(g.Throttled))
}

func (c *nodeCollector) collectSync(gauge, counter emit) {
	n, v := c.n, c.n.view
	cs := n.syncer.CompactStats()
	counter(descCompact, float64(cs.Rebuilt), "rebuilt")
	counter(descCompact, float64(cs.Fallbacks), "fallback")
	counter(descCompactTx, float64(cs.FromPool), "pool")
	counter(descCompactTx, float64(cs.Prefilled), "prefilled")
	counter(descCompactTx, float64(cs.Fetched), "fetched")
	current := n.chain.CurrentBlock().NumberU64()
	highest, active := current, 0.0
	p, syncing := n.syncer.Progress()
	if syncing {
		active, highest = 1, max(p.Highest, current)
	}
	gauge(descSyncing, active)
	gauge(descHighest, float64(highest))
	rate, _ := v.rate()
	if rate != nil {
		gauge(descSyncRate, *rate)
	} else {
		gauge(descSyncRate, 0) // the first 2 s after start
	}
	eta := 0.0
	if syncing && rate != nil && *rate > 0 {
		eta = float64(highest-current) / *rate
	}
	gauge(descSyncETA, eta)
}

// bigFloat is x as a float64 (nearest).
func bigFloat(x *big.Int) float64 {
	if x == nil {
		return 0
	}
	f, _ := new(big.Float).SetInt(x).Float64()
	return f
}
