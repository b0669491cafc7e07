package light

import (
	"fmt"
	"math/big"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// A light peer's /metrics: the same head metrics as a full peer (of its
// verified header chain, so a dashboard's chain panels read both), its
// sources by kind and state, and its libp2p peers. Read at scrape time.
var (
	lightHeadNumber = prometheus.NewDesc("peerchain_chain_head_number", "Number of the head of the verified header chain.", nil, nil)
	lightHeadAge    = prometheus.NewDesc("peerchain_chain_head_age_seconds", "Age of the head header by its timestamp.", nil, nil)
	lightTD         = prometheus.NewDesc("peerchain_chain_total_difficulty", "Total difficulty of the head header (a float: exact to 53 bits).", nil, nil)
	lightSources    = prometheus.NewDesc("peerchain_light_sources",
		"Sources by kind (provider, p2p) and state (ok; dropped: caught serving an invalid answer or failing syncs, not asked until the drop ends).",
		[]string{"kind", "state"}, nil)
	lightStrikes = prometheus.NewDesc("peerchain_light_source_strikes", "Strikes in a row of the sources, summed by kind (a claim of work not backed by headers).", []string{"kind"}, nil)
	lightPeers   = prometheus.NewDesc("peerchain_p2p_peers", "Connected libp2p peers by the direction of their first connection.", []string{"direction"}, nil)
)

var sourceKinds = []string{"provider", "p2p"}

// metrics registers the light peer's collectors (with the Go runtime and
// process collectors) in reg, a new registry when nil, and returns it.
func (l *Light) metrics(reg *prometheus.Registry) (*prometheus.Registry, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		lightCollector{l},
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("light metrics: %w", err)
		}
	}
	return reg, nil
}

type lightCollector struct{ l *Light }

func (c lightCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{lightHeadNumber, lightHeadAge, lightTD, lightSources, lightStrikes, lightPeers} {
		ch <- d
	}
}

func (c lightCollector) Collect(ch chan<- prometheus.Metric) {
	l := c.l
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	head := l.hc.CurrentHeader()
	gauge(lightHeadNumber, float64(head.Number.Uint64()))
	gauge(lightHeadAge, time.Since(time.Unix(int64(head.Time), 0)).Seconds())
	td, _ := new(big.Float).SetInt(l.hc.CurrentTD()).Float64()
	gauge(lightTD, td)
	count := map[[2]string]float64{}
	strikes := map[string]float64{}
	for _, k := range sourceKinds {
		count[[2]string{k, "ok"}], count[[2]string{k, "dropped"}], strikes[k] = 0, 0, 0
	}
	for _, s := range l.Sources() {
		kind := s.Kind
		if kind != "p2p" {
			kind = "provider"
		}
		state := "ok"
		if s.Dropped != "" {
			state = "dropped"
		}
		count[[2]string{kind, state}]++
		strikes[kind] += float64(s.Strikes)
	}
	for k, v := range count {
		gauge(lightSources, v, k[0], k[1])
	}
	for k, v := range strikes {
		gauge(lightStrikes, v, k)
	}
	if l.host != nil {
		var in, out float64
		for _, p := range l.host.Peers() {
			if p.Inbound {
				in++
			} else {
				out++
			}
		}
		gauge(lightPeers, in, "inbound")
		gauge(lightPeers, out, "outbound")
	}
}
