//go:build e2e

package e2e

import (
	"bytes"
	"context"
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

// runningDevnet is a `peerchain devnet` child process.
type runningDevnet struct {
	t    *testing.T
	bin  string
	dir  string
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan struct{}
}

func startDevnet(t *testing.T, nodes, miners int) *runningDevnet {
	t.Helper()
	d := &runningDevnet{t: t, bin: binary(t), dir: t.TempDir(), out: new(bytes.Buffer), done: make(chan struct{})}
	d.cmd = exec.Command(d.bin, "devnet", "--nodes", fmt.Sprint(nodes), "--miners", fmt.Sprint(miners), "--dir", d.dir, "--quiet")
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
						t.Logf("%s log (last 2 KiB):\n%s", p.Name, tail(bytes.NewBuffer(data), 2<<10))
					}
				}
			}
		}
	})
	waitUntil(t, 90*time.Second, "the devnet table", func() bool { return strings.Contains(d.out.String(), "devnet.json:") })
	return d
}

// stop sends SIGINT and checks the devnet exits 0 with every peer gone.
func (d *runningDevnet) stop() {
	if d.cmd == nil {
		return
	}
	st, _ := devnet.ReadState(d.dir)
	_ = d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.done:
	case <-time.After(40 * time.Second):
		d.t.Errorf("devnet did not stop within 40s of SIGINT")
		_ = d.cmd.Process.Kill()
		<-d.done
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		d.t.Errorf("devnet exited with %d", code)
	}
	if st != nil {
		for _, p := range st.Peers {
			if p.PID > 0 && syscall.Kill(p.PID, 0) == nil {
				d.t.Errorf("%s (pid %d) still running after the devnet stopped", p.Name, p.PID)
			}
		}
	}
	d.cmd = nil
}

func (d *runningDevnet) state() *devnet.State {
	d.t.Helper()
	st, err := devnet.ReadState(d.dir)
	if err != nil {
		d.t.Fatal(err)
	}
	return st
}

func (d *runningDevnet) ctl(args ...string) string {
	d.t.Helper()
	out, err := exec.Command(d.bin, append(append([]string{"devnet"}, args...), "--dir", d.dir)...).CombinedOutput()
	if err != nil {
		d.t.Fatalf("devnet %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (d *runningDevnet) client(name string) *ethclient.Client {
	d.t.Helper()
	for _, p := range d.state().Peers {
		if p.Name == name {
			c, err := ethclient.Dial(p.RPC)
			if err != nil {
				d.t.Fatal(err)
			}
			d.t.Cleanup(c.Close)
			return c
		}
	}
	d.t.Fatalf("no peer %s", name)
	return nil
}

func head(c *ethclient.Client) (uint64, common.Hash, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	h, err := c.HeaderByNumber(ctx, nil)
	if err != nil {
		return 0, common.Hash{}, err
	}
	return h.Number.Uint64(), h.Hash(), nil
}

func sameHead(clients []*ethclient.Client) bool {
	var first common.Hash
	for i, c := range clients {
		n, h, err := head(c)
		if err != nil || n < 1 {
			return false
		}
		if i == 0 {
			first = h
		} else if h != first {
			return false
		}
	}
	return true
}

func sendTransfer(t *testing.T, c *ethclient.Client, account int, to common.Address) *types.Transaction {
	t.Helper()
	ctx := context.Background()
	tx := signTransfer(t, account, 0, to)
	if err := c.SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	return tx
}

// receiptEverywhere waits until tx has a successful receipt on every
// client, in the same block.
func receiptEverywhere(t *testing.T, clients []*ethclient.Client, tx common.Hash, timeout time.Duration) common.Hash {
	t.Helper()
	var where common.Hash
	waitUntil(t, timeout, "the receipt on every peer in the same block", func() bool {
		for i, c := range clients {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			r, err := c.TransactionReceipt(ctx, tx)
			cancel()
			if err != nil || r.Status != types.ReceiptStatusSuccessful {
				return false
			}
			if i == 0 {
				where = r.BlockHash
			} else if r.BlockHash != where {
				return false
			}
		}
		return true
	})
	return where
}

// TestDevnetTransactionReachesEveryPeer: five peers, two mining; a
// transfer sent to a non-mining peer is mined and its receipt reads the
// same on every peer; all heads agree.
func TestDevnetTransactionReachesEveryPeer(t *testing.T) {
	d := startDevnet(t, 5, 2)
	st := d.state()
	if len(st.Peers) != 5 || !st.Peers[0].Miner || !st.Peers[1].Miner || st.Peers[4].Miner {
		t.Fatalf("devnet.json: %+v", st.Peers)
	}
	var clients []*ethclient.Client
	for _, p := range st.Peers {
		if p.PID == 0 || !p.Alive || len(p.P2P) == 0 || p.DataDir == "" {
			t.Fatalf("devnet.json entry incomplete: %+v", p)
		}
		clients = append(clients, d.client(p.Name))
	}
	to := common.HexToAddress("0x0000000000000000000000000000000000d0d0d0")
	tx := sendTransfer(t, clients[4], 14, to)
	block := receiptEverywhere(t, clients, tx.Hash(), 90*time.Second)
	t.Logf("transfer %s mined in %s, readable on all five peers", tx.Hash().TerminalString(), block.TerminalString())
	waitUntil(t, 60*time.Second, "all five heads to agree", func() bool { return sameHead(clients) })
	for _, c := range clients {
		bal, err := c.BalanceAt(context.Background(), to, nil)
		if err != nil || bal.Cmp(big.NewInt(1e15)) != 0 {
			t.Fatalf("recipient balance %v (%v)", bal, err)
		}
	}
}

// TestDevnetKillRestartPartitionHeal drives the devnet's fault commands.
func TestDevnetKillRestartPartitionHeal(t *testing.T) {
	d := startDevnet(t, 4, 2)
	names := []string{"peer0", "peer1", "peer2", "peer3"}
	clients := map[string]*ethclient.Client{}
	var all []*ethclient.Client
	for _, n := range names {
		clients[n] = d.client(n)
		all = append(all, clients[n])
	}
	waitUntil(t, 60*time.Second, "one chain at start", func() bool { return sameHead(all) })

	d.ctl("kill", "peer3")
	if p := d.state().Peers[3]; p.Alive {
		t.Fatal("devnet.json still says peer3 is alive")
	}
	if _, _, err := head(clients["peer3"]); err == nil {
		t.Fatal("peer3 answers after kill")
	}
	n0, _, _ := head(clients["peer0"])
	waitUntil(t, 60*time.Second, "the others to keep mining", func() bool { n, _, _ := head(clients["peer0"]); return n >= n0+2 })
	d.ctl("restart", "peer3")
	waitUntil(t, 60*time.Second, "peer3 to catch up after restart", func() bool { return sameHead(all) })

	d.ctl("partition", "peer0,peer2", "peer1,peer3")
	if st := d.state(); len(st.Partition) != 2 {
		t.Fatalf("devnet.json partition %v", st.Partition)
	}
	sideA := []*ethclient.Client{clients["peer0"], clients["peer2"]}
	sideB := []*ethclient.Client{clients["peer1"], clients["peer3"]}
	tx := sendTransfer(t, clients["peer3"], 15, common.HexToAddress("0x0000000000000000000000000000000000e0e0e0"))
	receiptEverywhere(t, sideB, tx.Hash(), 60*time.Second)
	waitUntil(t, 60*time.Second, "the two sides to mine apart", func() bool {
		na, ha, err1 := head(clients["peer0"])
		nb, hb, err2 := head(clients["peer1"])
		return err1 == nil && err2 == nil && ha != hb && na > n0+4 && nb > n0+4 && sameHead(sideA) && sameHead(sideB)
	})
	d.ctl("heal")
	waitUntil(t, 90*time.Second, "every peer on one chain after heal", func() bool { return sameHead(all) })
	block := receiptEverywhere(t, all, tx.Hash(), 90*time.Second)
	t.Logf("transfer of side B included on the winning chain in %s", block.TerminalString())
	if out := d.ctl("status"); !strings.Contains(out, "peer3") {
		t.Fatalf("status output:\n%s", out)
	}
	for _, bad := range [][]string{{"kill", "peer9"}, {"partition", "peer0,peer1", "peer1,peer2,peer3"}, {"partition", "peer0", "peer1"}} {
		out, err := exec.Command(d.bin, append(append([]string{"devnet"}, bad...), "--dir", d.dir)...).CombinedOutput()
		if err == nil {
			t.Fatalf("devnet %v accepted: %s", bad, out)
		}
		t.Logf("devnet %v: %s", bad, strings.TrimSpace(string(out)))
	}
}
