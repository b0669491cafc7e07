package node

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/ethclient"
	dto "github.com/prometheus/client_model/go"
)

const dashboardFile = "../../deploy/grafana/peerchain-dashboard.json"

// promqlWords are PromQL's functions, aggregations and keywords: every
// other identifier in an expression is a metric name.
var promqlWords = map[string]bool{
	"sum": true, "avg": true, "min": true, "max": true, "count": true, "topk": true, "bottomk": true, "quantile": true,
	"stddev": true, "stdvar": true, "group": true, "count_values": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"and": true, "or": true, "unless": true, "bool": true, "offset": true,
	"rate": true, "irate": true, "increase": true, "delta": true, "idelta": true, "deriv": true, "resets": true, "changes": true,
	"histogram_quantile": true, "clamp_min": true, "clamp_max": true, "clamp": true, "abs": true, "round": true,
	"avg_over_time": true, "max_over_time": true, "min_over_time": true, "sum_over_time": true, "last_over_time": true,
	"label_replace": true, "label_join": true, "vector": true, "scalar": true, "time": true, "absent": true, "label_values": true,
}

var (
	reMatchers = regexp.MustCompile(`\{[^}]*\}`)
	reRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	reLabelVal = regexp.MustCompile(`label_values\(([^,()]+),[^)]*\)`)
	reGrouping = regexp.MustCompile(`\b(by|without|on|ignoring)\s*\([^)]*\)`)
	reStrings  = regexp.MustCompile(`"[^"]*"`)
	reIdent    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	reNumber   = regexp.MustCompile(`^[0-9.e+-]+$`)
)

// metricNames lists the metric names a PromQL expression reads.
func metricNames(expr string) []string {
	e := reLabelVal.ReplaceAllString(expr, " $1 ") // Grafana's: its second argument is a label
	e = reMatchers.ReplaceAllString(e, " ")
	e = reRanges.ReplaceAllString(e, " ")
	e = reGrouping.ReplaceAllString(e, " ")
	e = reStrings.ReplaceAllString(e, " ")
	var out []string
	for _, id := range reIdent.FindAllString(e, -1) {
		if !promqlWords[id] && !reNumber.MatchString(id) {
			out = append(out, id)
		}
	}
	return out
}

// exists says whether a metric name is in the scrape: a family, or a
// histogram's _bucket, _sum or _count series.
func exists(fams map[string]*dto.MetricFamily, name string) bool {
	if _, ok := fams[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if f, ok := fams[base]; ok && f.GetType() == dto.MetricType_HISTOGRAM {
				return true
			}
		}
	}
	return false
}

type dashboard struct {
	Panels []struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// The extractor finds the metric names of an expression and nothing else.
func TestMetricNamesOfPromQL(t *testing.T) {
	got := metricNames(`histogram_quantile(0.95, sum by (le, method) (rate(peerchain_rpc_request_duration_seconds_bucket{instance=~"$instance",x="a b"}[$__rate_interval]))) / clamp_min(go_goroutines, 1) + label_values(process_open_fds, instance)`)
	if strings.Join(got, ",") != "peerchain_rpc_request_duration_seconds_bucket,go_goroutines,process_open_fds" {
		t.Fatalf("names %v", got)
	}
}

// Every PromQL expression of the Grafana dashboard reads only metrics a
// real miner and follower serve, so the dashboard cannot drift from the
// code; every panel has an expression.
func TestDashboardMetricsExist(t *testing.T) {
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	miner, follower := runPair(t)
	waitScrape(t, follower, "the follower imported no gossiped block", func(s scrape) bool {
		return s.value("peerchain_sync_block_arrivals_total", "via", "gossip") >= 1
	})
	c, err := ethclient.Dial("http://" + follower.RPCAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.BlockNumber(context.Background()); err != nil {
		t.Fatal(err)
	}
	fams := scrapeNode(t, follower)
	for name, f := range scrapeNode(t, miner) {
		if _, ok := fams[name]; !ok {
			fams[name] = f
		}
	}
	var exprs []string
	panels := 0
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		panels++
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(map[string]any); ok {
			if s, ok := q["query"].(string); ok {
				exprs = append(exprs, s)
			}
		}
	}
	if panels < 10 {
		t.Fatalf("%d panels: the dashboard did not parse as expected", panels)
	}
	for _, e := range exprs {
		names := metricNames(e)
		if len(names) == 0 {
			t.Errorf("expression %q reads no metric", e)
		}
		for _, n := range names {
			if !exists(fams, n) {
				t.Errorf("expression %q reads %s, which a running node does not serve", e, n)
			}
		}
	}
}
