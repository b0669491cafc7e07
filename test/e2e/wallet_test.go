//go:build e2e

package e2e

import (
	"context"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/peerchain/peerchain/internal/params"
)

// TestWalletCLI imports a dev account into a keystore with the CLI and
// sends ether through a running peer, checking the balance moved.
func TestWalletCLI(t *testing.T) {
	p := newPeer(t, "--dev")
	p.start()
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("correct horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ks := filepath.Join(dir, "keys")
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(p.bin, append([]string{"wallet", "--keystore", ks, "--rpc", p.url()}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("wallet %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("import", "--mnemonic", params.DevMnemonic, "--index", "5", "--password-file", pw, "--lightkdf")
	if out := run("list"); !strings.Contains(out, "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc") {
		t.Fatalf("list does not show dev account 5:\n%s", out)
	}
	to := common.HexToAddress("0x000000000000000000000000000000000000bEEF")
	out := run("send", "--from", "0", "--to", to.Hex(), "--value", "1.5", "--password-file", pw)
	t.Log(strings.TrimSpace(out))
	bal, err := p.client().BalanceAt(context.Background(), to, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := new(big.Int).Mul(big.NewInt(15), big.NewInt(1e17)); bal.Cmp(want) != 0 {
		t.Fatalf("recipient balance %v, want %v", bal, want)
	}
	if out := run("balance", to.Hex()); !strings.Contains(out, "1.5 ether") {
		t.Fatalf("balance output:\n%s", out)
	}
}
