package rpc

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Rejection reasons, the values of peerchain_rpc_rejections_total's
// reason label.
const (
	rejectRate   = "rate"   // a client over its rate limit (HTTP 429, -32005)
	rejectBusy   = "busy"   // no request, heavy-call or proof slot in time (429, -32005)
	rejectHost   = "host"   // Host not one of the node's names (403)
	rejectOrigin = "origin" // a browser origin not allowed (403)
	rejectMethod = "method" // a method a provider does not serve (-32601)
	rejectKey    = "key"    // an unknown API key (401)
	rejectWSConn = "wsconn" // WebSocket connections over their caps (429)
	rejectSender = "sender" // a transaction sender over --provider.sendrate (-32005)
)

var rejectReasons = []string{rejectRate, rejectBusy, rejectHost, rejectOrigin, rejectMethod, rejectKey, rejectWSConn, rejectSender}

// metrics are the RPC's Prometheus metrics. Every label has a bounded set
// of values: methods this node serves (others count as "other"), the
// rejection reasons above, and the names of API keys ("anonymous" for
// every client without one: per-address series would grow with the
// clients of a public node).
type metrics struct {
	served     map[string]bool
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	rejections *prometheus.CounterVec
	clientReqs *prometheus.CounterVec
	clientCost *prometheus.CounterVec
	clientRej  *prometheus.CounterVec
	wsConns    prometheus.Gauge
	handler    http.Handler
	// The series of the counters and histograms above by label values,
	// found once (WithLabelValues hashes the labels on every call).
	series sync.Map // seriesKey -> prometheus.Counter or prometheus.Observer
}

type seriesKey struct {
	vec           any // the vector
	label, label2 string
}

// counter is vec.WithLabelValues(labels...), remembered.
func (m *metrics) counter(vec *prometheus.CounterVec, label, label2 string) prometheus.Counter {
	key := seriesKey{vec, label, label2}
	if c, ok := m.series.Load(key); ok {
		return c.(prometheus.Counter)
	}
	var c prometheus.Counter
	if label2 == "" {
		c = vec.WithLabelValues(label)
	} else {
		c = vec.WithLabelValues(label, label2)
	}
	m.series.Store(key, c)
	return c
}

// observer is vec.WithLabelValues(label), remembered.
func (m *metrics) observer(vec *prometheus.HistogramVec, label string) prometheus.Observer {
	key := seriesKey{vec: vec, label: label}
	if o, ok := m.series.Load(key); ok {
		return o.(prometheus.Observer)
	}
	o := vec.WithLabelValues(label)
	m.series.Store(key, o)
	return o
}

func newMetrics(reg *prometheus.Registry, served map[string]bool, keys []APIKey) (*metrics, error) {
	m := &metrics{
		served: served,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peerchain_rpc_requests_total",
			Help: "JSON-RPC calls received, a batch's calls one by one, by method (\"other\": not served) and transport.",
		}, []string{"method", "transport"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "peerchain_rpc_request_duration_seconds",
			Help:    "Time to answer a request, from its admission to its answer, by method (\"batch\" for a batch).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9),
		}, []string{"method"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peerchain_rpc_rejections_total",
			Help: "Requests and calls refused, by reason: rate, busy, host, origin, method (not served to providers' clients), key (unknown API key), wsconn (WebSocket caps), sender (per-sender transaction limit).",
		}, []string{"reason"}),
		clientReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peerchain_rpc_client_requests_total",
			Help: "JSON-RPC calls by client: the name of its API key, or \"anonymous\".",
		}, []string{"client"}),
		clientCost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peerchain_rpc_client_cost_total",
			Help: "Rate-limit units spent by client (provider mode).",
		}, []string{"client"}),
		clientRej: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peerchain_rpc_client_rejections_total",
			Help: "Requests refused by client, any reason.",
		}, []string{"client"}),
		wsConns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "peerchain_rpc_websocket_connections",
			Help: "WebSocket connections open.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.rejections, m.clientReqs, m.clientCost, m.clientRej, m.wsConns} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("rpc metrics: %w", err)
		}
	}
	// Every series that can exist is there from the start, at zero.
	for _, r := range rejectReasons {
		m.rejections.WithLabelValues(r)
	}
	for _, name := range append([]string{anonymous}, keyNames(keys)...) {
		m.clientReqs.WithLabelValues(name)
		m.clientCost.WithLabelValues(name)
		m.clientRej.WithLabelValues(name)
	}
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return m, nil
}

func keyNames(keys []APIKey) []string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.Name
	}
	return names
}

// label is the method label of a call.
func (m *metrics) label(method string) string {
	if m.served[method] {
		return method
	}
	return "other"
}

// count counts a request's calls; on a provider, calls of methods it
// does not serve also count as rejections.
func (m *metrics) count(calls []rpcCall, transport, client string, provider bool) {
	for _, c := range calls {
		m.counter(m.requests, m.label(c.Method), transport).Inc()
		if provider && deniedToProviders(c.Method) {
			m.rejections.WithLabelValues(rejectMethod).Inc()
		}
	}
	m.counter(m.clientReqs, client, "").Add(float64(len(calls)))
}

// observe records the time a request took: under its method for one
// call, "batch" for a batch.
func (m *metrics) observe(calls []rpcCall, batch bool, since time.Time) {
	label := "batch"
	if !batch && len(calls) == 1 {
		label = m.label(calls[0].Method)
	}
	m.observer(m.duration, label).Observe(time.Since(since).Seconds())
}

func (m *metrics) reject(reason string) { m.rejections.WithLabelValues(reason).Inc() }

func (m *metrics) rejectClient(reason, client string) {
	m.rejections.WithLabelValues(reason).Inc()
	m.clientRej.WithLabelValues(client).Inc()
}

func (m *metrics) spend(client string, cost int) {
	m.clientCost.WithLabelValues(client).Add(float64(cost))
}
