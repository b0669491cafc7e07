//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/peerchain/peerchain/internal/devnet"
)

// TestLightUI opens a light peer's Network and Node pages in headless
// Chromium (js/light_ui.mjs) on a devnet of a miner, a provider, the
// light peer and the liar in front of the provider: the Network page
// lists the sources with their kind — the provider in use with a head,
// the liar dropped with the evidence it was caught with, also in the
// dropped-sources list — and the verified headers' arrivals with their
// source, pushed live; the Node page shows version, uptime, the header
// sync's state and disk use. Screenshots at 1280 and 390 wide (the
// directory is logged; UI_SCREENSHOTS overrides it), axe-core finds
// nothing serious or critical, and the console shows no error.
func TestLightUI(t *testing.T) {
	if _, err := exec.LookPath("/usr/bin/chromium"); err != nil {
		t.Fatalf("Debian's chromium is needed for the UI test (make deps installs it): %v", err)
	}
	d := startDevnetWith(t, "--nodes", "2", "--miners", "1", "--providers", "1", "--light", "1", "--liar")
	st := d.state()
	kinds := map[string]devnet.Peer{}
	for _, p := range st.Peers {
		kinds[p.Kind] = p
	}
	full, provider, light, liar := kinds[devnet.KindFull], kinds[devnet.KindProvider], kinds[devnet.KindLight], kinds[devnet.KindLiar]
	if light.RPC == "" || liar.RPC == "" || provider.RPC == "" || full.Coinbase == "" {
		t.Fatalf("devnet.json lacks the light peer, the liar, the provider or the miner: %+v", st.Peers)
	}
	lc := d.client(light.Name)
	waitUntil(t, 60*time.Second, "the light peer to follow the chain", func() bool { n, _, err := head(lc); return err == nil && n >= 2 })
	// Balances are proven through the sources, the liar first: it lies and
	// is dropped (the devnet's status line asks too).
	waitUntil(t, 60*time.Second, "the light peer to drop the liar", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = lc.BalanceAt(ctx, common.HexToAddress(full.Coinbase), nil)
		var bans []struct{ ID string }
		return lc.Client().CallContext(ctx, &bans, "peerchain_bans") == nil && len(bans) == 1 && bans[0].ID == liar.RPC
	})

	shots := os.Getenv("UI_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(npmDir(t), "screenshots")
	}
	t.Logf("screenshots in %s", shots)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(npmDir(t), "js", "light_ui.mjs"), light.RPC, liar.RPC, provider.RPC, shots)
	cmd.Dir = npmDir(t)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Logf("light_ui.mjs log:\n%s", stderr.String())
	var res struct {
		LiarKind, LiarEvidence, ProviderKind, ProviderHead, BanReason string
		Kinds, ArrivalFrom, ArrivalVia                                []string
		Arrivals, Screenshots                                         int
		Live, Version, Uptime, Disk, Sources, Kind, SyncState, Eta    string
		Problems                                                      []string
	}
	if jerr := json.Unmarshal([]byte(strings.TrimSpace(string(out))), &res); jerr != nil {
		t.Fatalf("light_ui.mjs: %v (%v): %s", err, jerr, out)
	}
	for _, p := range res.Problems {
		t.Error(p)
	}
	if err != nil && len(res.Problems) == 0 {
		t.Fatalf("light_ui.mjs: %v", err)
	}
	if t.Failed() {
		return
	}
	switch {
	case res.LiarKind != "provider" || !strings.Contains(res.LiarEvidence, "lied about") || res.BanReason != res.LiarEvidence:
		t.Errorf("the liar on the page: kind %q, evidence %q, ban %q", res.LiarKind, res.LiarEvidence, res.BanReason)
	case res.ProviderKind != "provider" || !strings.HasPrefix(res.ProviderHead, "#"):
		t.Errorf("the provider on the page: kind %q head %q", res.ProviderKind, res.ProviderHead)
	case !slices.Contains(res.Kinds, "p2p"):
		t.Errorf("source kinds %v: want the full peers over P2P too", res.Kinds)
	case res.Arrivals < 2 || len(res.ArrivalFrom) != res.Arrivals:
		t.Errorf("%d arrivals, %d with a source", res.Arrivals, len(res.ArrivalFrom))
	case !strings.Contains(res.Version, "peerchain/v") || res.Uptime == "" || res.Disk == "" || res.Kind != "light peer" ||
		!strings.Contains(res.SyncState, "header"):
		t.Errorf("node page: version %q uptime %q disk %q kind %q sync %q", res.Version, res.Uptime, res.Disk, res.Kind, res.SyncState)
	case res.Screenshots != 4:
		t.Errorf("%d screenshots, want 2 pages × 2 widths", res.Screenshots)
	}
	// Every arrival names a source of the light peer: a provider's URL
	// or a full peer's id (the liar's only while it served honest
	// headers: every recorded header was verified).
	ids := map[string]bool{provider.RPC: true, liar.RPC: true}
	for _, p := range st.Peers {
		if p.ID != "" {
			ids[p.ID] = true
		}
	}
	var arrivals []struct {
		Number, Via, From string
	}
	if err := lc.Client().CallContext(ctx, &arrivals, "peerchain_blockArrivals", 256); err != nil || len(arrivals) < 2 {
		t.Fatalf("peerchain_blockArrivals: %d, %v", len(arrivals), err)
	}
	for _, a := range arrivals {
		if !ids[a.From] {
			t.Errorf("header %s arrived via %s from %q, not a source of the light peer", a.Number, a.Via, a.From)
		}
	}
	t.Logf("light0's sources %v; the liar dropped: %s; %d arrivals (via %v); %s; node %s up %s, disk %s, %s, ETA %s",
		res.Kinds, res.LiarEvidence, res.Arrivals, compact(res.ArrivalVia), res.Live, res.Version, res.Uptime, res.Disk, res.SyncState, res.Eta)
}

// compact counts repeated values: [a a b] → map[a:2 b:1].
func compact(s []string) map[string]int {
	out := map[string]int{}
	for _, x := range s {
		out[x]++
	}
	return out
}
