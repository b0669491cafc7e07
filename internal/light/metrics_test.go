package light

import (
	"context"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// A light peer following an honest provider and a liar that serves
// malformed headers: its /metrics parses and shows the verified head, its
// total difficulty, and the liar dropped, the honest provider ok.
func TestLightMetrics(t *testing.T) {
	honest := newProvider(t)
	blocks := honest.extend(t, 12, nil)
	lie := newLiar(t, claimOf(40, new(big.Int).Lsh(big.NewInt(1), 100)), func(_ context.Context, _, _ uint64) ([]hexutil.Bytes, error) {
		return []hexutil.Bytes{{0xde, 0xad}}, nil
	})
	l := startLight(t, Config{Providers: []string{lie.url, honest.url}, SourceTimeout: 500 * time.Millisecond, StrikeBackoff: 100 * time.Millisecond})
	waitFor(t, 30*time.Second, "the light peer to follow the honest chain", headIs(l, blocks[11]))
	lie.armed.Store(true)
	var fams map[string]*dto.MetricFamily
	gauge := func(name string, labels ...string) float64 {
		for _, m := range fams[name].GetMetric() {
			ok := true
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
				}
				ok = ok && found
			}
			if ok {
				return m.GetGauge().GetValue()
			}
		}
		return -1
	}
	waitFor(t, 30*time.Second, "the liar dropped in /metrics", func() bool {
		resp, err := http.Get("http://" + l.RPCAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		p := expfmt.NewTextParser(model.UTF8Validation)
		if fams, err = p.TextToMetricFamilies(resp.Body); err != nil {
			t.Fatalf("/metrics does not parse: %v", err)
		}
		return gauge("peerchain_light_sources", "kind", "provider", "state", "dropped") == 1
	})
	if v := gauge("peerchain_light_sources", "kind", "provider", "state", "ok"); v != 1 {
		t.Errorf("%v providers ok, want the honest one", v)
	}
	if v := gauge("peerchain_chain_head_number"); v != 12 {
		t.Errorf("head %v, want 12", v)
	}
	if v := gauge("peerchain_chain_total_difficulty"); v <= 0 {
		t.Errorf("total difficulty %v", v)
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	if _, ok := fams["peerchain_rpc_rejections_total"]; !ok {
		t.Error("no RPC metrics beside the light peer's")
	}
}
