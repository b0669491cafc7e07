//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUI drives the web UI served by the peers of a 3-peer devnet in
// headless Chromium (js/ui.mjs): a wallet created in the browser gets coins
// from a dev account and sends some on, peer1's UI shows that transaction
// mined, a contract compiled with solc is deployed from its artifact and
// called through its forms (a revert string and a custom error decoded).
// Every page is screenshot at 1280×800 and 390×844 (the directory is
// logged; UI_SCREENSHOTS overrides it) and checked by axe-core; console
// errors fail it.
func TestUI(t *testing.T) {
	if _, err := exec.LookPath("/usr/bin/chromium"); err != nil {
		t.Fatalf("Debian's chromium is needed for the UI test (make deps installs it): %v", err)
	}
	d := startDevnet(t, 3, 1)
	st := d.state()
	peer0, peer1 := st.Peers[0].RPC, st.Peers[1].RPC

	// The page and its assets come from the peer itself.
	for _, p := range []struct{ path, ctype string }{{"/", "text/html"}, {"/assets/app.js", "text/javascript"}, {"/assets/app.css", "text/css"}} {
		res, err := http.Get(peer0 + p.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), p.ctype) || len(body) == 0 {
			t.Fatalf("GET %s%s: %d %q, %d bytes", peer0, p.path, res.StatusCode, res.Header.Get("Content-Type"), len(body))
		}
	}

	shots := os.Getenv("UI_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(npmDir(t), "screenshots")
	}
	t.Logf("screenshots in %s", shots)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(npmDir(t), "js", "ui.mjs"), peer0, peer1, shots)
	cmd.Dir = npmDir(t)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Logf("ui.mjs log:\n%s", stderr.String())
	var res struct {
		Alice, Send, Box, Value, CustomError, RevertString, Peer1Block string
		Screenshots                                                    int
		Problems                                                       []string
	}
	if jerr := json.Unmarshal([]byte(strings.TrimSpace(string(out))), &res); jerr != nil {
		t.Fatalf("ui.mjs: %v (%v): %s", err, jerr, out)
	}
	for _, p := range res.Problems {
		t.Error(p)
	}
	if err != nil && len(res.Problems) == 0 {
		t.Fatalf("ui.mjs: %v", err)
	}
	if t.Failed() {
		return
	}
	if res.Screenshots != 20 {
		t.Errorf("%d screenshots, want 10 pages × 2 widths", res.Screenshots)
	}
	t.Logf("wallet %s sent %s, mined on peer1 in %s; Box at %s: %q, %q, %q", res.Alice, res.Send, res.Peer1Block, res.Box, res.Value, res.CustomError, res.RevertString)
}
