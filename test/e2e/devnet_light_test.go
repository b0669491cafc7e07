//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math/big"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/peerchain/peerchain/internal/devnet"
	"github.com/peerchain/peerchain/internal/params"
	"github.com/peerchain/peerchain/internal/wallet"
)

// startDevnetWith starts `peerchain devnet ARGS --dir <temp>` (live status
// lines on) and waits for its table.
func startDevnetWith(t *testing.T, args ...string) *runningDevnet {
	t.Helper()
	d := &runningDevnet{t: t, bin: binary(t), dir: t.TempDir(), out: new(bytes.Buffer), done: make(chan struct{})}
	d.cmd = exec.Command(d.bin, append(append([]string{"devnet"}, args...), "--dir", d.dir)...)
	w := &syncWriter{b: d.out}
	d.cmd.Stdout, d.cmd.Stderr = w, w
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("devnet output:\n%s", tail(d.out, 4<<10))
			if st, err := devnet.ReadState(d.dir); err == nil {
				for _, p := range st.Peers {
					if data, err := os.ReadFile(p.Log); err == nil {
						t.Logf("%s log (last 3 KiB):\n%s", p.Name, tail(bytes.NewBuffer(data), 3<<10))
					}
				}
			}
		}
	})
	waitUntil(t, 90*time.Second, "the devnet table", func() bool { return strings.Contains(d.out.String(), "devnet.json:") })
	return d
}

// out is the devnet's output so far.
func (d *runningDevnet) output() string {
	d.t.Helper()
	return tail(d.out, 1<<20)
}

// drops reads a light peer's JSON log for the sources it dropped: source
// → evidence of each drop.
func drops(t *testing.T, log string) map[string][]string {
	t.Helper()
	f, err := os.Open(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var rec struct {
			Level, Msg, Source, Evidence string
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "Dropped a source" {
			if rec.Level != "WARN" {
				t.Fatalf("a drop logged at %s: %s", rec.Level, sc.Text())
			}
			out[rec.Source] = append(out[rec.Source], rec.Evidence)
		}
	}
	return out
}

// deployer signs the creation of a contract whose code returns storage
// slot 1, from dev account 9.
func deployer(t *testing.T) (*types.Transaction, common.Address) {
	t.Helper()
	key, err := wallet.DevKey(params.DevMnemonic, 9)
	if err != nil {
		t.Fatal(err)
	}
	runtime := common.FromHex("60015460005260206000f3")
	// PUSH11 runtime, PUSH1 0, MSTORE; RETURN(21, 11): the runtime code.
	initCode := append(append([]byte{0x6a}, runtime...), common.FromHex("600052600b6015f3")...)
	tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{
		ChainID: big.NewInt(params.DevChainID), Nonce: 0, GasTipCap: big.NewInt(2e9), GasFeeCap: big.NewInt(200e9),
		Gas: 100_000, Data: initCode,
	}), types.LatestSignerForChainID(big.NewInt(params.DevChainID)), key)
	if err != nil {
		t.Fatal(err)
	}
	return tx, crypto.CreateAddress(crypto.PubkeyToAddress(key.PublicKey), 0)
}

// TestDevnetLightPeerCatchesTheLiar: two full peers (peer0 mining, peer1 a
// provider), a light peer and the liar in front of peer1, asked first. The
// light peer follows the head; its balances and code, read through the
// liar first, equal the full peer's; it dropped the liar with the evidence
// and never the honest provider; the devnet's status says the liar was
// caught; a restarted light peer comes back on its port and follows again.
func TestDevnetLightPeerCatchesTheLiar(t *testing.T) {
	d := startDevnetWith(t, "--nodes", "2", "--miners", "1", "--providers", "1", "--light", "1", "--liar", "--log.level", "info")
	st := d.state()
	kinds := map[string]devnet.Peer{}
	for _, p := range st.Peers {
		kinds[p.Kind] = p
	}
	full, provider, light, liar := st.Peers[0], kinds[devnet.KindProvider], kinds[devnet.KindLight], kinds[devnet.KindLiar]
	if len(st.Peers) != 4 || full.Kind != devnet.KindFull || !full.Miner || provider.Name != "peer1" || provider.Miner ||
		light.Name != "light0" || liar.Name != devnet.LiarName || liar.Fronts != "peer1" || !liar.Alive {
		t.Fatalf("devnet.json peers: %+v", st.Peers)
	}
	if len(light.Providers) != 2 || light.Providers[0] != liar.RPC || light.Providers[1] != provider.RPC {
		t.Fatalf("light0 asks %v, want the liar %s first, then the provider %s", light.Providers, liar.RPC, provider.RPC)
	}
	fc := d.client("peer0")
	lc := d.client("light0")
	follows := func() bool {
		ln, _, err1 := head(lc)
		fn, _, err2 := head(fc)
		return err1 == nil && err2 == nil && ln >= 2 && ln+2 >= fn
	}
	waitUntil(t, 30*time.Second, "the light peer to follow the head", follows)

	tx, contract := deployer(t)
	if err := fc.SendTransaction(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	mined := receiptEverywhere(t, []*ethclient.Client{fc}, tx.Hash(), 30*time.Second)
	r, err := fc.TransactionReceipt(context.Background(), tx.Hash())
	if err != nil || r.BlockHash != mined || r.ContractAddress != contract {
		t.Fatalf("deploy receipt %+v %v", r, err)
	}
	at := r.BlockNumber
	waitUntil(t, 30*time.Second, "the light peer past the deploy", func() bool { n, _, err := head(lc); return err == nil && n >= at.Uint64() })

	// Answers through the light peer (which asks the liar first) equal
	// the full peer's.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	coinbase := common.HexToAddress(full.Coinbase)
	for _, addr := range []common.Address{coinbase, contract, common.HexToAddress("0x0000000000000000000000000000000000000bad")} {
		want, err := fc.BalanceAt(ctx, addr, at)
		if err != nil {
			t.Fatal(err)
		}
		got, err := lc.BalanceAt(ctx, addr, at)
		if err != nil || got.Cmp(want) != 0 {
			t.Fatalf("balance of %s at %d through the light peer: %v (%v), the full peer says %v", addr, at, got, err, want)
		}
	}
	wantCode, err := fc.CodeAt(ctx, contract, at)
	if err != nil || len(wantCode) == 0 {
		t.Fatalf("code on the full peer: %x %v", wantCode, err)
	}
	if got, err := lc.CodeAt(ctx, contract, at); err != nil || !bytes.Equal(got, wantCode) {
		t.Fatalf("code through the light peer: %x (%v), the full peer says %x", got, err, wantCode)
	}
	if got, err := lc.CodeAt(ctx, contract, nil); err != nil || !bytes.Equal(got, wantCode) {
		t.Fatalf("code at latest through the light peer: %x (%v)", got, err)
	}

	// The liar was caught and dropped with the evidence; the honest
	// provider never was.
	dropped := drops(t, light.Log)
	if len(dropped[liar.RPC]) == 0 {
		t.Fatalf("light0 did not drop the liar; its drops: %v", dropped)
	}
	if len(dropped[provider.RPC]) > 0 {
		t.Fatalf("light0 dropped the honest provider: %v", dropped[provider.RPC])
	}
	if !strings.Contains(dropped[liar.RPC][0], "lied about") {
		t.Fatalf("evidence against the liar: %q", dropped[liar.RPC][0])
	}
	t.Logf("light0 dropped the liar: %s", dropped[liar.RPC][0])
	var sources []struct {
		ID   string          `json:"id"`
		Head json.RawMessage `json:"head"`
	}
	if err := lc.Client().CallContext(ctx, &sources, "peerchain_peers"); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range sources {
		seen[s.ID] = true
		if s.ID == liar.RPC && len(s.Head) > 0 {
			t.Fatalf("the dropped liar still has a head claim: %s", s.Head)
		}
		if s.ID == provider.RPC && len(s.Head) == 0 {
			t.Fatal("the honest provider has no head claim")
		}
	}
	if !seen[liar.RPC] || !seen[provider.RPC] {
		t.Fatalf("light0's sources %+v lack the liar or the provider", sources)
	}

	// The devnet says so too: the status line and `devnet status`.
	waitUntil(t, 10*time.Second, "the live status to show the liar caught", func() bool {
		return strings.Contains(d.output(), "liar→peer1: caught ")
	})
	var status []devnet.PeerStatus
	if err := json.Unmarshal([]byte(d.ctl("status", "--json")), &status); err != nil || len(status) != 4 {
		t.Fatalf("status --json: %v", err)
	}
	if s := status[3]; s.Name != devnet.LiarName || s.Caught == 0 {
		t.Fatalf("status of the liar: %+v", s)
	}
	if s := status[2]; s.Dropped == 0 || s.LastDrop == nil || s.LastDrop.Source != liar.RPC {
		t.Fatalf("status of light0: %+v", s)
	}
	if out := d.ctl("status"); !strings.Contains(out, "caught") || !strings.Contains(out, "light0") {
		t.Fatalf("status:\n%s", out)
	}

	// Restart: the light peer keeps its port and follows again.
	d.ctl("restart", "light0")
	after := d.state().Peers[2]
	if !after.Alive || after.PID == light.PID || after.RPCPort != light.RPCPort {
		t.Fatalf("light0 after restart: %+v, was %+v", after, light)
	}
	waitUntil(t, 20*time.Second, "the restarted light peer to follow the head", follows)
}
