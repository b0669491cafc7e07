//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peerchain/peerchain/internal/devnet"
)

// TestDevnetPage drives the devnet page in headless Chromium against a
// 3-peer devnet whose peers all mine (so that both sides of the partition
// mine): kill peer2 through its button and see it down within 2 s, restart
// it and see it back at the head, partition {peer0, peer1} | {peer2} and
// see the fork drawn, heal and see the reorg with its depth (the same the
// supervisor's API reports). Screenshots at 1280 and 390 wide (the
// directory is logged; UI_SCREENSHOTS overrides it), axe-core and no
// console errors are checked by the script.
func TestDevnetPage(t *testing.T) {
	d := startDevnetIn(t, t.TempDir(), 3, 3)
	st := d.state()
	if st.Page == "" || !strings.Contains(d.out.String(), "page:        "+st.Page) {
		t.Fatalf("no page in devnet.json or the table: %+v", st)
	}
	shots := os.Getenv("UI_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(npmDir(t), "screenshots")
	}
	t.Logf("screenshots in %s", shots)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(npmDir(t), "js", "devnet_ui.mjs"), st.Page, shots)
	cmd.Dir = npmDir(t)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Logf("devnet_ui.mjs log:\n%s", stderr.String())
	var res struct {
		DownMs        int64    `json:"downMs"`
		RestartBackMs int64    `json:"restartBackMs"`
		Forks         int      `json:"forks"`
		Lanes         int      `json:"lanes"`
		Screenshots   []string `json:"screenshots"`
		Reorg         *struct {
			Peer  string `json:"peer"`
			Depth uint64 `json:"depth"`
			Text  string `json:"text"`
		} `json:"reorg"`
		Problems []string `json:"problems"`
	}
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		t.Fatalf("devnet_ui.mjs: %v (%v)\n%s", err, jerr, out)
	}
	for _, p := range res.Problems {
		t.Error(p)
	}
	if err != nil {
		t.Fatalf("devnet_ui.mjs: %v", err)
	}
	t.Logf("marked down after %d ms; back at the head %d ms after the restart; fork of %d branches (%d lanes); %+v", res.DownMs, res.RestartBackMs, res.Forks, res.Lanes, res.Reorg)
	if res.DownMs <= 0 || res.DownMs > 2000 {
		t.Errorf("peer2 marked down after %d ms, want within 2 s", res.DownMs)
	}
	if res.Forks < 2 || res.Lanes < 2 {
		t.Errorf("the fork drawn with %d branches in %d lanes, want 2", res.Forks, res.Lanes)
	}
	if len(res.Screenshots) != 8 {
		t.Errorf("%d screenshots, want 4 moments × 2 widths", len(res.Screenshots))
	}
	if res.Reorg == nil || res.Reorg.Depth < 1 {
		t.Fatalf("no reorg shown: %+v", res.Reorg)
	}
	// The page shows what the supervisor measured.
	resp, err := http.Get(st.Page + "api/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ws devnet.WebState
	if err := json.NewDecoder(resp.Body).Decode(&ws); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range ws.Reorgs {
		if r.Peer == res.Reorg.Peer && r.Depth == res.Reorg.Depth && r.Depth == r.FromNumber-r.Ancestor {
			found = true
		}
	}
	if !found {
		t.Fatalf("the page shows %+v, the supervisor has %+v", res.Reorg, ws.Reorgs)
	}
}
