//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/peerchain/peerchain/internal/devnet"
)

// These tests use the runningDevnet helpers of devnet_e2e_test.go; they
// cover what the tests there do not: peers restarted while a partition is
// in force stay on their side, a peer that dies outside the devnet's
// commands is reported down, the fork made by a partition is resolved to
// one canonical chain, and a devnet run again in the same dir continues
// with the same peers, ports and chain.

// startDevnetIn starts `peerchain devnet` on dir (kept across runs).
func startDevnetIn(t *testing.T, dir string, nodes, miners int) *runningDevnet {
	t.Helper()
	d := &runningDevnet{t: t, bin: binary(t), dir: dir, out: new(bytes.Buffer), done: make(chan struct{})}
	d.cmd = exec.Command(d.bin, "devnet", "--nodes", fmt.Sprint(nodes), "--miners", fmt.Sprint(miners), "--dir", dir, "--quiet")
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
		}
	})
	waitUntil(t, 90*time.Second, "the devnet table", func() bool { return strings.Contains(d.out.String(), "devnet.json:") })
	return d
}

// blockHash is the hash of block n on c, or the zero hash.
func blockHash(c *ethclient.Client, n uint64) common.Hash {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	h, err := c.HeaderByNumber(ctx, new(big.Int).SetUint64(n))
	if err != nil {
		return common.Hash{}
	}
	return h.Hash()
}

// connectedIDs lists the peer ids c is connected to (peerchain_peers).
func connectedIDs(t *testing.T, c *ethclient.Client) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var peers []struct {
		ID string `json:"id"`
	}
	if err := c.Client().CallContext(ctx, &peers, "peerchain_peers"); err != nil {
		t.Fatalf("peerchain_peers: %v", err)
	}
	ids := make([]string, len(peers))
	for i, p := range peers {
		ids[i] = p.ID
	}
	return ids
}

// TestDevnetRestartsInAPartitionAndRerun: four peers, peer0 and peer1
// mining. Cut in two (peer0,peer2 | peer1,peer3); a peer of each side is
// restarted, and peer3 dies by a SIGKILL from outside and is restarted:
// all stay on their side and the sides fork at the same height. A
// transfer mined on side A before heal is, after heal, in the one chain
// every peer agrees on. A second run in the same dir has the same peers,
// ports and chain.
func TestDevnetRestartsInAPartitionAndRerun(t *testing.T) {
	dir := t.TempDir()
	d := startDevnetIn(t, dir, 4, 2)
	names := []string{"peer0", "peer1", "peer2", "peer3"}
	side := map[string]int{"peer0": 0, "peer2": 0, "peer1": 1, "peer3": 1}
	c := map[string]*ethclient.Client{}
	var all []*ethclient.Client
	for _, n := range names {
		c[n] = d.client(n)
		all = append(all, c[n])
	}
	waitUntil(t, 60*time.Second, "one chain at start", func() bool { return sameHead(all) })
	first := d.state()

	d.ctl("partition", "peer0,peer2", "peer1,peer3")
	var cut uint64
	for _, cl := range all {
		if n, _, err := head(cl); err == nil && n > cut {
			cut = n
		}
	}
	d.ctl("restart", "peer2")
	d.ctl("restart", "peer1")
	st := d.state()
	if st.Peers[1].PID == first.Peers[1].PID || st.Peers[2].PID == first.Peers[2].PID || !st.Peers[1].Alive || !st.Peers[2].Alive {
		t.Fatalf("restart did not start new processes: %+v", st.Peers)
	}

	// A peer killed from outside the devnet is reported down, not restarted.
	pid3 := st.Peers[3].PID
	if err := syscall.Kill(pid3, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "devnet.json to mark peer3 down", func() bool { return !d.state().Peers[3].Alive })
	if out := d.ctl("status", "--json"); !strings.Contains(out, `"alive": false`) {
		t.Fatalf("status after peer3 died:\n%s", out)
	}
	d.ctl("restart", "peer3")

	// Side A takes a transfer, sent to its non-mining peer.
	to := common.HexToAddress("0x00000000000000000000000000000000000a11ce")
	tx := signTransfer(t, 7, 0, to)
	if err := c["peer2"].SendTransaction(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	receiptEverywhere(t, []*ethclient.Client{c["peer0"], c["peer2"]}, tx.Hash(), 60*time.Second)

	// Both sides mine apart: at one height, each side agrees within
	// itself and differs from the other.
	fork := cut + 3
	waitUntil(t, 90*time.Second, fmt.Sprintf("both sides past block %d", fork+1), func() bool {
		for _, cl := range all {
			if n, _, err := head(cl); err != nil || n <= fork+1 {
				return false
			}
		}
		return true
	})
	hA, hB := blockHash(c["peer0"], fork), blockHash(c["peer1"], fork)
	if hA == (common.Hash{}) || hA == hB || blockHash(c["peer2"], fork) != hA || blockHash(c["peer3"], fork) != hB {
		t.Fatalf("block %d: peer0 %s peer2 %s | peer1 %s peer3 %s: want one hash per side, different sides different",
			fork, hA.TerminalString(), blockHash(c["peer2"], fork).TerminalString(), hB.TerminalString(), blockHash(c["peer3"], fork).TerminalString())
	}
	for _, n := range names {
		st := d.state()
		for _, id := range connectedIDs(t, c[n]) {
			for i, p := range st.Peers {
				if p.ID == id && side[names[i]] != side[n] {
					t.Fatalf("%s is connected to %s across the partition", n, names[i])
				}
			}
		}
	}
	t.Logf("block %d: side A %s, side B %s", fork, hA.TerminalString(), hB.TerminalString())

	d.ctl("heal")
	if d.state().Partition != nil {
		t.Fatal("devnet.json keeps the partition after heal")
	}
	waitUntil(t, 90*time.Second, "every peer on one chain after heal", func() bool {
		h := blockHash(all[0], fork)
		for _, cl := range all[1:] {
			if blockHash(cl, fork) != h {
				return false
			}
		}
		return sameHead(all)
	})
	winner := map[common.Hash]string{hA: "A", hB: "B"}[blockHash(all[0], fork)]
	if winner == "" {
		t.Fatalf("block %d after heal is from neither side", fork)
	}
	block := receiptEverywhere(t, all, tx.Hash(), 90*time.Second)
	r, err := c["peer3"].TransactionReceipt(context.Background(), tx.Hash())
	if err != nil || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("receipt on peer3: %+v %v", r, err)
	}
	n := r.BlockNumber.Uint64()
	waitUntil(t, 60*time.Second, fmt.Sprintf("blocks %d..%d the same on every peer", n, n+3), func() bool {
		for k := n; k <= n+3; k++ {
			h := blockHash(all[0], k)
			if h == (common.Hash{}) || (k == n && h != block) {
				return false
			}
			for _, cl := range all[1:] {
				if blockHash(cl, k) != h {
					return false
				}
			}
		}
		return true
	})
	t.Logf("side %s won; the side-A transfer is in block %d %s on every peer", winner, n, block.TerminalString())

	before := d.state()
	height, _, err := head(c["peer0"])
	if err != nil {
		t.Fatal(err)
	}
	d.stop()
	if t.Failed() {
		return
	}
	for _, p := range d.state().Peers {
		if p.Alive {
			t.Fatalf("devnet.json says %s is alive after the devnet stopped", p.Name)
		}
	}
	if _, err := os.Stat(devnet.SocketFile(dir)); !os.IsNotExist(err) {
		t.Fatalf("control socket left behind: %v", err)
	}

	d2 := startDevnetIn(t, dir, 4, 2)
	after := d2.state()
	for i, p := range after.Peers {
		b := before.Peers[i]
		if p.ID != b.ID || p.RPCPort != b.RPCPort || p.P2PPort != b.P2PPort || p.PID == b.PID {
			t.Fatalf("second run: %s is %+v, was %+v", p.Name, p, b)
		}
	}
	c0 := d2.client("peer0")
	if n, _, err := head(c0); err != nil || n < height {
		t.Fatalf("second run: head %d (%v), was %d: the chain was not continued", n, err, height)
	}
	if r, err := c0.TransactionReceipt(context.Background(), tx.Hash()); err != nil || r.BlockHash != block {
		t.Fatalf("second run: receipt %+v %v", r, err)
	}
	d2.stop()
}

// TestDevnetJSON checks every field devnet.json promises, for a devnet
// of one peer that does not mine.
func TestDevnetJSON(t *testing.T) {
	d := startDevnetIn(t, t.TempDir(), 1, 0)
	raw, err := os.ReadFile(devnet.StateFile(d.dir))
	if err != nil {
		t.Fatal(err)
	}
	var st devnet.State
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	p := st.Peers[0]
	if st.Dir != d.dir || st.ChainID != 1337 || st.Control != devnet.SocketFile(d.dir) || len(st.Peers) != 1 || st.Partition != nil {
		t.Fatalf("devnet.json: %s", raw)
	}
	if p.Name != "peer0" || p.PID == 0 || !p.Alive || p.Miner || p.Coinbase != "" ||
		p.RPC != fmt.Sprintf("http://127.0.0.1:%d", p.RPCPort) || p.WS != fmt.Sprintf("ws://127.0.0.1:%d", p.RPCPort) ||
		len(p.P2P) != 1 || p.P2P[0] != fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", p.P2PPort, p.ID) {
		t.Fatalf("devnet.json peer: %s", raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var info struct {
		ID     string `json:"id"`
		Mining bool   `json:"mining"`
	}
	if err := d.client("peer0").Client().CallContext(ctx, &info, "peerchain_nodeInfo"); err != nil || info.ID != p.ID || info.Mining {
		t.Fatalf("peerchain_nodeInfo %+v %v, want id %s and not mining", info, err, p.ID)
	}
	for _, f := range []string{p.DataDir, p.Log} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("devnet.json names %s: %v", f, err)
		}
	}
}
