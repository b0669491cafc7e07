package rpc

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scraped is a parsed GET /metrics.
type scraped map[string]*dto.MetricFamily

// scrape reads /metrics over c and parses it with Prometheus's own text
// parser.
func (e *env) scrape(c *http.Client) scraped {
	e.t.Helper()
	resp, err := c.Get(e.url + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET /metrics: status %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		e.t.Fatalf("GET /metrics does not parse: %v", err)
	}
	return families
}

// metric finds the series of name with the given label pairs; nil if
// none.
func (s scraped) metric(name string, labels ...string) *dto.Metric {
	f := s[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	return nil
}

// counter is a counter's value, -1 when the series is missing.
func (s scraped) counter(name string, labels ...string) float64 {
	if m := s.metric(name, labels...); m != nil && m.Counter != nil {
		return m.Counter.GetValue()
	}
	return -1
}

func (s scraped) gauge(name string, labels ...string) float64 {
	if m := s.metric(name, labels...); m != nil && m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return -1
}

func (s scraped) histogramCount(name string, labels ...string) int {
	if m := s.metric(name, labels...); m != nil && m.Histogram != nil {
		return int(m.Histogram.GetSampleCount())
	}
	return -1
}

// /metrics serves the registry the node passed in, in Prometheus's text
// format; the counters move with calls, refusals by reason, clients by
// key name, and open WebSockets.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	extra := prometheus.NewCounter(prometheus.CounterOpts{Name: "node_extra_total", Help: "A metric of the node's own."})
	if err := reg.Register(extra); err != nil {
		t.Fatal(err)
	}
	extra.Add(7)
	e := providerEnv(t, Config{Metrics: reg, ClientRate: 1, ClientBurst: 25, Keys: []APIKey{{Name: "alice", Key: aliceKey, Rate: 1000}}}, newFakeClock(), nil)
	anon, scraper := from(t, "127.0.0.1"), from(t, "127.0.0.2")
	alice := map[string]string{"Authorization": "Bearer " + aliceKey}

	before := e.scrape(scraper)
	if before.counter("node_extra_total") != 7 || before.counter("peerchain_rpc_rejections_total", "reason", "rate") != 0 ||
		before.counter("peerchain_rpc_client_requests_total", "client", "alice") != 0 {
		t.Fatalf("first scrape: extra %v, rate refusals %v, alice %v", before.counter("node_extra_total"),
			before.counter("peerchain_rpc_rejections_total", "reason", "rate"), before.counter("peerchain_rpc_client_requests_total", "client", "alice"))
	}
	for i := 0; i < 3; i++ {
		e.send(anon, "/", nil, callBody("eth_blockNumber"))
	}
	e.send(anon, "/", nil, answerCall)
	if r := e.send(anon, "/", nil, answerCall); r.status != http.StatusTooManyRequests { // 23 of 25 spent
		t.Fatalf("over the budget: %d %s", r.status, r.body)
	}
	for i := 0; i < 5; i++ {
		e.send(anon, "/", alice, callBody("eth_chainId"))
	}
	e.send(anon, "/", alice, callBody("admin_addPeer", "/ip4/10.0.0.1/tcp/1/p2p/12D3KooWx"))
	e.rawRequest(http.MethodPost, "attacker.example", nil, chainIDRequest)
	e.rawRequest(http.MethodPost, e.srv.Addr().String(), map[string]string{"Origin": "http://attacker.example"}, chainIDRequest)
	e.send(anon, "/", map[string]string{"Authorization": "Bearer nobody-0123456789abcdef"}, chainIDRequest)
	ws, err := e.dialWSFrom("127.0.0.3", "/"+aliceKey)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	if err := ws.Call(&id, "eth_chainId"); err != nil {
		t.Fatal(err)
	}

	after := e.scrape(scraper)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"peerchain_rpc_requests_total", []string{"method", "eth_blockNumber", "transport", "http"}, 3},
		{"peerchain_rpc_requests_total", []string{"method", "eth_call", "transport", "http"}, 2},
		{"peerchain_rpc_requests_total", []string{"method", "eth_chainId", "transport", "http"}, 5},
		{"peerchain_rpc_requests_total", []string{"method", "eth_chainId", "transport", "ws"}, 1},
		{"peerchain_rpc_requests_total", []string{"method", "other", "transport", "http"}, 1},
		{"peerchain_rpc_rejections_total", []string{"reason", "rate"}, 1},
		{"peerchain_rpc_rejections_total", []string{"reason", "host"}, 1},
		{"peerchain_rpc_rejections_total", []string{"reason", "origin"}, 1},
		{"peerchain_rpc_rejections_total", []string{"reason", "method"}, 1},
		{"peerchain_rpc_rejections_total", []string{"reason", "key"}, 1},
		{"peerchain_rpc_rejections_total", []string{"reason", "busy"}, 0},
		{"peerchain_rpc_client_requests_total", []string{"client", "alice"}, 7},
		{"peerchain_rpc_client_requests_total", []string{"client", "anonymous"}, 5},
		{"peerchain_rpc_client_cost_total", []string{"client", "anonymous"}, 23 + 2}, // and the two scrapes
		{"peerchain_rpc_client_rejections_total", []string{"client", "anonymous"}, 1},
		{"node_extra_total", nil, 7},
	} {
		if got := after.counter(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := after.gauge("peerchain_rpc_websocket_connections"); got != 1 {
		t.Errorf("websocket connections %v, want 1", got)
	}
	if n := after.histogramCount("peerchain_rpc_request_duration_seconds", "method", "eth_blockNumber"); n != 3 {
		t.Errorf("eth_blockNumber timed %d times, want 3", n)
	}
	waitFor(t, 10*time.Second, "the WebSocket call is not timed", func() bool {
		return e.scrape(scraper).histogramCount("peerchain_rpc_request_duration_seconds", "method", "eth_chainId") == 6
	})
	ws.Close()
	waitFor(t, 10*time.Second, "the closed WebSocket still counts", func() bool {
		return e.scrape(scraper).gauge("peerchain_rpc_websocket_connections") == 0
	})
	// Behind the Host check, like everything else.
	if status, _, _ := e.rawRequest(http.MethodGet, "attacker.example", nil, ""); status != http.StatusForbidden {
		t.Errorf("GET /metrics with a foreign Host: %d", status)
	}

	// Another node with the same registry: the names are taken.
	ce := e.chain
	if _, err := NewServer(Config{Addr: "127.0.0.1:0", Metrics: reg}, Backend{Chain: ce, Pool: LocalPool(e.pool)}); err == nil {
		t.Error("a second server registered its metrics in a registry that has them")
	}
	off := newEnv(t, Config{NoMetrics: true})
	if resp, err := http.Get(off.url + "/metrics"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics with metrics off: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

// The metrics text is what Prometheus expects, on a node that is not a
// provider too.
func TestMetricsFormat(t *testing.T) {
	e := newEnv(t, Config{})
	e.call("eth_blockNumber")
	resp, err := http.Get(e.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !bytes.Contains([]byte(ct), []byte("text/plain")) {
		t.Fatalf("Content-Type %q", ct)
	}
	for _, want := range []string{
		"# TYPE peerchain_rpc_requests_total counter",
		`peerchain_rpc_requests_total{method="eth_blockNumber",transport="http"} 1`,
		"# TYPE peerchain_rpc_request_duration_seconds histogram",
		`peerchain_rpc_rejections_total{reason="rate"} 0`,
		`peerchain_rpc_client_requests_total{client="anonymous"} 1`,
	} {
		if !bytes.Contains(body.Bytes(), []byte(want)) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
