//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestEthersTransfer sends coins between two dev accounts with ethers v6 on
// a running `peerchain node --dev` and checks balances and receipts.
func TestEthersTransfer(t *testing.T) {
	p := newPeer(t, "--dev")
	p.start()
	out := runNode(t, 3*time.Minute, "transfer.mjs", p.url())
	if !strings.Contains(out, `"ok":true`) {
		t.Fatalf("ethers script did not report success:\n%s", out)
	}
	t.Log(strings.TrimSpace(out))
}
