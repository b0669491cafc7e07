//go:build e2e

package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// promScrape is one parse of a peer's /metrics.
type promScrape map[string]*dto.MetricFamily

// scrapeMetrics fetches url's /metrics and parses it with Prometheus's
// text parser.
func scrapeMetrics(t *testing.T, url string) promScrape {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s/metrics: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/metrics: status %d", url, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("%s/metrics does not parse as Prometheus text: %v", url, err)
	}
	return fams
}

// get sums the samples of a family that carry the given label pairs (a
// histogram counts its observations); -1 when the family is missing.
func (s promScrape) get(name string, labels ...string) float64 {
	f, ok := s[name]
	if !ok {
		return -1
	}
	sum := 0.0
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// TestDevnetMetrics: `peerchain devnet --nodes 2 --miners 1`; each peer's
// /metrics, scraped twice as blocks arrive, parses with Prometheus's text
// parser and moves: head, total difficulty, imports and their timings,
// bytes per protocol; the follower's gossip deliveries and gossiped
// arrivals, the miner's mined blocks; JSON-RPC calls are counted per
// method.
func TestDevnetMetrics(t *testing.T) {
	d := startDevnetIn(t, t.TempDir(), 2, 1)
	urls := map[string]string{}
	for _, p := range d.state().Peers {
		urls[p.Name] = p.RPC
	}
	if len(urls) != 2 {
		t.Fatalf("devnet peers %v, want peer0 and peer1", urls)
	}
	first := map[string]promScrape{}
	for name, url := range urls {
		waitUntil(t, 90*time.Second, name+" past block 1", func() bool {
			first[name] = scrapeMetrics(t, url)
			return first[name].get("peerchain_chain_head_number") >= 1
		})
	}
	second := map[string]promScrape{}
	for name, url := range urls {
		h0 := first[name].get("peerchain_chain_head_number")
		b0 := first[name].get("peerchain_p2p_bytes_total")
		// libp2p's byte counters are summed by a sweeper about once a
		// second: wait for them too, not only for the head.
		waitUntil(t, 90*time.Second, name+"'s head and bytes moving", func() bool {
			second[name] = scrapeMetrics(t, url)
			return second[name].get("peerchain_chain_head_number") >= h0+2 && second[name].get("peerchain_p2p_bytes_total") > b0
		})
	}
	type series struct {
		name   string
		labels []string
	}
	every := []series{
		{"peerchain_chain_head_number", nil},
		{"peerchain_chain_total_difficulty", nil},
		{"peerchain_chain_block_inserts_total", []string{"outcome", "head"}},
		{"peerchain_chain_block_import_seconds", nil},
		{"peerchain_chain_block_validation_seconds", nil},
		{"peerchain_chain_block_execution_seconds", nil},
		{"peerchain_p2p_bytes_total", nil},
	}
	only := map[string][]series{
		// With two peers gossip flows one way: the miner sends, the
		// follower receives and relays to nobody.
		"peer0": {
			{"peerchain_sync_block_arrivals_total", []string{"via", "mined"}},
			{"peerchain_p2p_bytes_total", []string{"direction", "out"}},
		},
		"peer1": {
			{"peerchain_p2p_bytes_total", []string{"direction", "in"}},
			{"peerchain_p2p_gossip_messages_total", []string{"topic", "cblocks/1", "outcome", "delivered"}},
			{"peerchain_sync_block_arrivals_total", []string{"via", "gossip"}},
		},
	}
	for name := range urls {
		for _, s := range append(append([]series{}, every...), only[name]...) {
			a, b := first[name].get(s.name, s.labels...), second[name].get(s.name, s.labels...)
			if a < 0 || b <= a {
				t.Errorf("%s: %s%v did not move as blocks arrived: %v then %v", name, s.name, s.labels, a, b)
			}
		}
		if v := second[name].get("peerchain_p2p_peers"); v != 1 {
			t.Errorf("%s: %v peers, want 1", name, v)
		}
		if v := second[name].get("peerchain_p2p_banned_peers"); v != 0 {
			t.Errorf("%s: %v banned peers in an honest devnet", name, v)
		}
	}

	for name, url := range urls {
		c := d.client(name)
		before := max(scrapeMetrics(t, url).get("peerchain_rpc_requests_total", "method", "eth_chainId"), 0)
		for range 3 {
			if _, err := c.ChainID(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		after := scrapeMetrics(t, url)
		if got := after.get("peerchain_rpc_requests_total", "method", "eth_chainId") - before; got < 3 {
			t.Errorf("%s: eth_chainId counted %v times after 3 calls", name, got)
		}
		if after.get("peerchain_rpc_request_duration_seconds", "method", "eth_chainId") < 3 {
			t.Errorf("%s: eth_chainId's latency not observed", name)
		}
	}
}
