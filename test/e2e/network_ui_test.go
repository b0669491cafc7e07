//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestNetworkUI opens the Network and Node pages of the follower of a
// 2-peer devnet (one miner) in headless Chromium (js/network_ui.mjs): the
// miner is listed with bytes moved both ways, the propagation histogram
// counts the blocks it gossiped, with p50/p95; the Node page shows
// version, uptime and disk use. Screenshots at 1280 and 390 wide (the
// directory is logged; UI_SCREENSHOTS overrides it), axe-core finds
// nothing serious or critical, and the console shows no error.
func TestNetworkUI(t *testing.T) {
	if _, err := exec.LookPath("/usr/bin/chromium"); err != nil {
		t.Fatalf("Debian's chromium is needed for the UI test (make deps installs it): %v", err)
	}
	d := startDevnet(t, 2, 1)
	st := d.state()
	miner, follower := st.Peers[0], st.Peers[1]
	if miner.ID == "" || follower.RPC == "" {
		t.Fatalf("devnet state lacks the miner's id or the follower's RPC: %+v", st.Peers)
	}
	shots := os.Getenv("UI_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(npmDir(t), "screenshots")
	}
	t.Logf("screenshots in %s", shots)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(npmDir(t), "js", "network_ui.mjs"), follower.RPC, miner.ID, shots)
	cmd.Dir = npmDir(t)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Logf("network_ui.mjs log:\n%s", stderr.String())
	var res struct {
		BytesIn, BytesOut, Propagated, P50, P95, Direction string
		Version, Uptime, Disk, Peers, Eta                  string
		Bars, Screenshots                                  int
		Problems                                           []string
	}
	if jerr := json.Unmarshal([]byte(strings.TrimSpace(string(out))), &res); jerr != nil {
		t.Fatalf("network_ui.mjs: %v (%v): %s", err, jerr, out)
	}
	for _, p := range res.Problems {
		t.Error(p)
	}
	if err != nil && len(res.Problems) == 0 {
		t.Fatalf("network_ui.mjs: %v", err)
	}
	if t.Failed() {
		return
	}
	in, _ := strconv.ParseUint(res.BytesIn, 10, 64)
	outB, _ := strconv.ParseUint(res.BytesOut, 10, 64)
	blocks, _ := strconv.Atoi(res.Propagated)
	switch {
	case in == 0 || outB == 0:
		t.Errorf("bytes in/out %s/%s, want both above zero", res.BytesIn, res.BytesOut)
	case blocks < 2 || res.Bars < 2 || res.P50 == "–" || res.P95 == "–":
		t.Errorf("propagation: %d blocks in %d bars, p50 %q p95 %q", blocks, res.Bars, res.P50, res.P95)
	case !strings.Contains(res.Version, "peerchain/v") || res.Uptime == "" || res.Disk == "" || res.Peers != "1":
		t.Errorf("node page: version %q uptime %q disk %q peers %q", res.Version, res.Uptime, res.Disk, res.Peers)
	case res.Screenshots != 4:
		t.Errorf("%d screenshots, want 2 pages × 2 widths", res.Screenshots)
	}
	t.Logf("follower sees the miner (%s) with %d B in, %d B out; %d blocks propagated, p50 %s, p95 %s; node %s up %s, disk %s, ETA %s",
		res.Direction, in, outB, blocks, res.P50, res.P95, res.Version, res.Uptime, res.Disk, res.Eta)
}
