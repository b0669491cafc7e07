package node

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/sync"
)

// Block insert outcomes, the values of peerchain_chain_block_inserts_total's
// outcome label.
const (
	insertHead          = "head"           // became the head
	insertSide          = "side"           // stored on a lighter branch
	insertKnown         = "known"          // already stored
	insertInvalid       = "invalid"        // broke a rule (chain.RuleError)
	insertUnknownParent = "unknown_parent" // parent not stored
	insertError         = "error"          // storage or other failure
)

var insertOutcomes = []string{insertHead, insertSide, insertKnown, insertInvalid, insertUnknownParent, insertError}

// nodeMetrics are the node's Prometheus metrics beyond the RPC's own
// (internal/rpc/metrics.go). Events are counted as they happen (inserts
// through chain.Config.OnInsert, block arrivals through the syncer's
// arrival log); everything else is read at scrape time by nodeCollector
// (metrics_collect.go) from the stats the parts already keep, so nothing
// is added to a hot path but two clock reads per block. Every label has
// a bounded set of values; none names a peer.
type nodeMetrics struct {
	inserts     *prometheus.CounterVec
	importTime  prometheus.Histogram
	validation  prometheus.Histogram
	execution   prometheus.Histogram
	executed    prometheus.Counter
	reorgs      prometheus.Counter
	reorgDepth  prometheus.Histogram
	arrivals    *prometheus.CounterVec
	propagation prometheus.Histogram
}

func newNodeMetrics() *nodeMetrics {
	return &nodeMetrics{
		inserts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peerchain_chain_block_inserts_total",
			Help: "Blocks handed to the chain, by outcome: head, side, known, invalid, unknown_parent, error.",
		}, []string{"outcome"}),
		importTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "peerchain_chain_block_import_seconds",
			Help:    "Time to import a block that was stored (head or side): rules, execution, the synced batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15),
		}),
		validation: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "peerchain_chain_block_validation_seconds",
			Help:    "Time a block's header and body rules took (proof of work included), for blocks that passed them.",
			Buckets: prometheus.ExponentialBuckets(0.00001, 4, 10),
		}),
		execution: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "peerchain_chain_block_execution_seconds",
			Help:    "Time spent executing blocks during one insert (the block, or a branch's blocks on a reorg).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15),
		}),
		executed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "peerchain_chain_blocks_executed_total",
			Help: "Blocks executed by inserts, reorgs and state rebuilds included.",
		}),
		reorgs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "peerchain_chain_reorgs_total",
			Help: "Head changes that took blocks off the canonical chain.",
		}),
		reorgDepth: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "peerchain_chain_reorg_depth_blocks",
			Help:    "Blocks a reorg took off the canonical chain.",
			Buckets: []float64{1, 2, 3, 4, 6, 8, 16, 32, 64, 128, 1024},
		}),
		arrivals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peerchain_sync_block_arrivals_total",
			Help: "Imported blocks by how they first reached this peer: gossip, sync or mined.",
		}, []string{"via"}),
		propagation: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "peerchain_sync_block_propagation_seconds",
			Help:    "Gossiped blocks' delay from their timestamp to their first copy here (timestamps have one-second resolution).",
			Buckets: durationsSeconds(sync.PropagationBounds),
		}),
	}
}

func durationsSeconds(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = d.Seconds()
	}
	return out
}

// observeInsert is chain.Config.OnInsert.
func (m *nodeMetrics) observeInsert(s chain.InsertStats) {
	var re *chain.RuleError
	outcome := insertError
	switch {
	case s.Err == nil && s.Status == chain.StatusHead:
		outcome = insertHead
	case s.Err == nil:
		outcome = insertSide
	case errors.Is(s.Err, chain.ErrKnownBlock):
		outcome = insertKnown
	case errors.Is(s.Err, chain.ErrUnknownParent):
		outcome = insertUnknownParent
	case errors.Is(s.Err, chain.ErrClosed):
		return
	case errors.As(s.Err, &re):
		outcome = insertInvalid
	}
	m.inserts.WithLabelValues(outcome).Inc()
	if s.Err == nil {
		m.importTime.Observe(s.Total.Seconds())
		m.validation.Observe(s.Validation.Seconds())
	}
	if s.Executed > 0 {
		m.execution.Observe(s.Execution.Seconds())
		m.executed.Add(float64(s.Executed))
	}
	if s.Dropped > 0 {
		m.reorgs.Inc()
		m.reorgDepth.Observe(float64(s.Dropped))
	}
}

// onArrival counts an imported block's arrival (sync.ArrivalLog).
func (m *nodeMetrics) onArrival(a sync.Arrival) {
	m.arrivals.WithLabelValues(a.Via).Inc()
	if a.Via == sync.ViaGossip {
		m.propagation.Observe(max(a.Delay, 0).Seconds())
	}
}

// metrics is the registry the RPC serves: the configured one or a new
// one (never the global one), with the Go runtime and process
// collectors, the node's metrics and its scrape-time collector.
func (n *Node) metrics() (*prometheus.Registry, error) {
	reg := n.cfg.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := n.met
	// Every series that can exist is there from the start, at zero.
	for _, o := range insertOutcomes {
		m.inserts.WithLabelValues(o)
	}
	for _, via := range []string{sync.ViaGossip, sync.ViaSync, sync.ViaMined} {
		m.arrivals.WithLabelValues(via)
	}
	cs := []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.inserts, m.importTime, m.validation, m.execution, m.executed, m.reorgs, m.reorgDepth,
		m.arrivals, m.propagation,
		&nodeCollector{n: n},
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("node metrics: %w", err)
		}
	}
	if n.syncer != nil {
		n.syncer.Arrivals().Subscribe(m.onArrival)
	}
	return reg, nil
}
