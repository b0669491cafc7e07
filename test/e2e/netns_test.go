//go:build e2e

package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	lpeer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerchain/peerchain/internal/p2p"
	"github.com/peerchain/peerchain/internal/params"
	"github.com/peerchain/peerchain/internal/wallet"
)

// netLab is a set of network namespaces, one per peer, whose data links
// meet on two bridges (side A and side B) in a switch namespace; a veth
// trunk joins the bridges, and cutting it splits the network in two. Every
// address lives inside namespaces the test made (10.77.0.0/24); each
// peer's RPC listens on its own namespace's loopback and is reached with
// `ip netns exec`.
type netLab struct {
	t      *testing.T
	suffix string
	sw     string
	nodes  []*nsPeer
}

type nsPeer struct {
	lab     *netLab
	ns      string
	ip      string
	side    string
	datadir string
	addr    string // p2p multiaddr with /p2p/<id>
	args    []string
	cmd     *exec.Cmd
	logs    *bytes.Buffer
	done    chan struct{}
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func newNetLab(t *testing.T, sides []string) *netLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespace tests need root (CI runs as root)")
	}
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	lab := &netLab{t: t, suffix: hex.EncodeToString(b[:])}
	lab.sw = "pcsw" + lab.suffix
	if out, err := exec.Command("ip", "netns", "add", lab.sw).CombinedOutput(); err != nil {
		t.Skipf("cannot create network namespaces here: %v %s", err, out)
	}
	t.Cleanup(lab.teardown)
	sw := func(args ...string) { run(t, append([]string{"ip", "-n", lab.sw}, args...)...) }
	sw("link", "set", "lo", "up")
	for _, br := range []string{"bra", "brb"} {
		sw("link", "add", br, "type", "bridge")
		sw("link", "set", br, "up")
	}
	sw("link", "add", "ta", "type", "veth", "peer", "name", "tb")
	sw("link", "set", "ta", "master", "bra")
	sw("link", "set", "tb", "master", "brb")
	sw("link", "set", "ta", "up")
	sw("link", "set", "tb", "up")
	for i, side := range sides {
		p := &nsPeer{lab: lab, ns: fmt.Sprintf("pc%d%s", i, lab.suffix), ip: fmt.Sprintf("10.77.0.%d", 10+i), side: side, datadir: t.TempDir()}
		run(t, "ip", "netns", "add", p.ns)
		in, out := fmt.Sprintf("d%d%s", i, lab.suffix), fmt.Sprintf("e%d%s", i, lab.suffix)
		run(t, "ip", "link", "add", in, "type", "veth", "peer", "name", out)
		run(t, "ip", "link", "set", in, "netns", p.ns)
		run(t, "ip", "link", "set", out, "netns", lab.sw)
		run(t, "ip", "-n", p.ns, "link", "set", "lo", "up")
		run(t, "ip", "-n", p.ns, "addr", "add", p.ip+"/24", "dev", in)
		run(t, "ip", "-n", p.ns, "link", "set", in, "up")
		sw("link", "set", out, "master", "br"+side)
		sw("link", "set", out, "up")
		key, err := p2p.LoadOrCreateKey(filepath.Join(p.datadir, "p2p", "key"))
		if err != nil {
			t.Fatal(err)
		}
		id, err := lpeer.IDFromPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		p.addr = fmt.Sprintf("/ip4/%s/tcp/30333/p2p/%s", p.ip, id)
		lab.nodes = append(lab.nodes, p)
	}
	return lab
}

func (lab *netLab) teardown() {
	for _, p := range lab.nodes {
		p.stop()
		_ = exec.Command("ip", "netns", "del", p.ns).Run()
		if lab.t.Failed() && p.logs != nil {
			lab.t.Logf("logs of %s (side %s), last 4 KiB:\n%s", p.ns, p.side, tail(p.logs, 4<<10))
		}
	}
	_ = exec.Command("ip", "netns", "del", lab.sw).Run()
}

// cut takes the trunk between the two sides down; heal brings it back.
func (lab *netLab) cut()  { run(lab.t, "ip", "-n", lab.sw, "link", "set", "ta", "down") }
func (lab *netLab) heal() { run(lab.t, "ip", "-n", lab.sw, "link", "set", "ta", "up") }

func (p *nsPeer) start(bin string) {
	t := p.lab.t
	var boot []string
	for _, o := range p.lab.nodes {
		if o != p {
			boot = append(boot, o.addr)
		}
	}
	args := append([]string{"netns", "exec", p.ns, bin, "node", "--datadir", p.datadir, "--rpc", "127.0.0.1:8545",
		"--p2p", "/ip4/" + p.ip + "/tcp/30333", "--bootnodes", strings.Join(boot, ",")}, p.args...)
	p.cmd = exec.Command("ip", args...)
	p.logs = new(bytes.Buffer)
	w := &syncWriter{b: p.logs}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.done = make(chan struct{})
	go func(c *exec.Cmd, d chan struct{}) { _ = c.Wait(); close(d) }(p.cmd, p.done)
}

func (p *nsPeer) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}

// rpc calls a method on the peer's RPC inside its namespace.
func (p *nsPeer) rpc(bin string, out any, method string, params ...string) error {
	args := append([]string{"netns", "exec", p.ns, bin, "rpc", "--timeout", "5s", method}, params...)
	res, err := exec.Command("ip", args...).Output()
	if err != nil {
		return fmt.Errorf("%s on %s: %w", method, p.ns, err)
	}
	return json.Unmarshal(res, out)
}

type headInfo struct {
	Number hexutil.Uint64 `json:"number"`
	Hash   common.Hash    `json:"hash"`
}

func (p *nsPeer) head(bin string) (headInfo, error) {
	var h headInfo
	err := p.rpc(bin, &h, "eth_getBlockByNumber", `"latest"`, "false")
	return h, err
}

type receiptInfo struct {
	BlockHash   common.Hash    `json:"blockHash"`
	BlockNumber hexutil.Uint64 `json:"blockNumber"`
	Status      hexutil.Uint64 `json:"status"`
}

func (p *nsPeer) receipt(bin string, h common.Hash) *receiptInfo {
	var r *receiptInfo
	if err := p.rpc(bin, &r, "eth_getTransactionReceipt", `"`+h.Hex()+`"`); err != nil {
		return nil
	}
	return r
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %s", timeout, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func signTransfer(t *testing.T, account int, nonce uint64, to common.Address) *types.Transaction {
	t.Helper()
	key, err := wallet.DevKey(params.DevMnemonic, account)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{
		ChainID: big.NewInt(params.DevChainID), Nonce: nonce, GasTipCap: big.NewInt(2e9), GasFeeCap: big.NewInt(200e9),
		Gas: 21000, To: &to, Value: big.NewInt(1e15),
	}), types.LatestSignerForChainID(big.NewInt(params.DevChainID)), key)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// TestPartitionAndHealAcrossNamespaces runs four peers in four network
// namespaces, two on each side of a trunk link with one miner per side;
// it cuts the trunk, lets both sides mine and include a transaction each,
// heals, and checks every peer converges on one chain that includes both
// transactions.
func TestPartitionAndHealAcrossNamespaces(t *testing.T) {
	lab := newNetLab(t, []string{"a", "a", "b", "b"})
	bin := binary(t)
	coinbase := func(i int) string {
		k, err := wallet.DevKey(params.DevMnemonic, i)
		if err != nil {
			t.Fatal(err)
		}
		return crypto0(k)
	}
	lab.nodes[0].args = []string{"--mine", "--miner.coinbase", coinbase(10)}
	lab.nodes[2].args = []string{"--mine", "--miner.coinbase", coinbase(11)}
	for _, p := range lab.nodes {
		p.start(bin)
	}
	agree := func(nodes []*nsPeer) bool {
		var first common.Hash
		for i, p := range nodes {
			h, err := p.head(bin)
			if err != nil || h.Number < 2 {
				return false
			}
			if i == 0 {
				first = h.Hash
			} else if h.Hash != first {
				return false
			}
		}
		return true
	}
	waitUntil(t, 90*time.Second, "all four peers on one chain before the cut", func() bool { return agree(lab.nodes) })

	lab.cut()
	t.Log("trunk cut")
	time.Sleep(3 * time.Second)
	// One transaction on each side.
	txs := map[string]*types.Transaction{
		"a": signTransfer(t, 12, 0, common.HexToAddress("0x00000000000000000000000000000000000aaaaa")),
		"b": signTransfer(t, 13, 0, common.HexToAddress("0x00000000000000000000000000000000000bbbbb")),
	}
	sender := map[string]*nsPeer{"a": lab.nodes[1], "b": lab.nodes[3]}
	for side, tx := range txs {
		raw, err := tx.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var h common.Hash
		if err := sender[side].rpc(bin, &h, "eth_sendRawTransaction", `"`+hexutil.Encode(raw)+`"`); err != nil || h != tx.Hash() {
			t.Fatalf("send on side %s: %v", side, err)
		}
	}
	for side, tx := range txs {
		waitUntil(t, 60*time.Second, "transaction mined on side "+side, func() bool { return sender[side].receipt(bin, tx.Hash()) != nil })
	}
	waitUntil(t, 60*time.Second, "both sides to mine apart", func() bool {
		ha, err1 := lab.nodes[0].head(bin)
		hb, err2 := lab.nodes[2].head(bin)
		return err1 == nil && err2 == nil && ha.Hash != hb.Hash && ha.Number > 5 && hb.Number > 5
	})
	time.Sleep(8 * time.Second)
	ha, _ := lab.nodes[0].head(bin)
	hb, _ := lab.nodes[2].head(bin)
	t.Logf("before heal: side a at %d (%s), side b at %d (%s)", ha.Number, ha.Hash.TerminalString(), hb.Number, hb.Hash.TerminalString())

	lab.heal()
	t.Log("trunk healed")
	waitUntil(t, 2*time.Minute, "all four peers on one chain after the heal", func() bool { return agree(lab.nodes) })
	var mu sync.Mutex
	for side, tx := range txs {
		waitUntil(t, 90*time.Second, "transaction of side "+side+" on the winning chain at every peer", func() bool {
			mu.Lock()
			defer mu.Unlock()
			var where common.Hash
			for i, p := range lab.nodes {
				r := p.receipt(bin, tx.Hash())
				if r == nil || r.Status != 1 {
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
	}
	h, _ := lab.nodes[0].head(bin)
	t.Logf("converged at %d (%s) with both transactions included", h.Number, h.Hash.TerminalString())
}

func crypto0(k *ecdsa.PrivateKey) string { return crypto.PubkeyToAddress(k.PublicKey).Hex() }

// TestMDNSDiscoveryInsideANamespace: two peers with no bootnodes and no
// DHT find each other by mDNS. Multicast stays inside a namespace the test
// made, whose loopback is the only interface (set multicast, with a route
// for 224.0.0.0/4): no packet leaves it.
func TestMDNSDiscoveryInsideANamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespace tests need root (CI runs as root)")
	}
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	ns := "pcm" + hex.EncodeToString(b[:])
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot create network namespaces here: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	run(t, "ip", "-n", ns, "link", "set", "lo", "multicast", "on")
	run(t, "ip", "-n", ns, "route", "add", "224.0.0.0/4", "dev", "lo")
	bin := binary(t)
	lab := &netLab{t: t}
	for i, extra := range [][]string{{"--dev"}, nil} {
		p := &nsPeer{lab: lab, ns: ns, datadir: t.TempDir()}
		port := 30350 + i
		p.args = append([]string{"--rpc", fmt.Sprintf("127.0.0.1:%d", 18550+i), "--p2p", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port), "--p2p.mdns", "--p2p.nodht"}, extra...)
		cmd := exec.Command("ip", append([]string{"netns", "exec", ns, bin, "node", "--datadir", p.datadir}, p.args...)...)
		p.logs = new(bytes.Buffer)
		w := &syncWriter{b: p.logs}
		cmd.Stdout, cmd.Stderr = w, w
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p.cmd, p.done = cmd, make(chan struct{})
		go func(c *exec.Cmd, d chan struct{}) { _ = c.Wait(); close(d) }(cmd, p.done)
		lab.nodes = append(lab.nodes, p)
	}
	t.Cleanup(func() {
		for _, p := range lab.nodes {
			p.stop()
			if t.Failed() {
				t.Logf("logs:\n%s", tail(p.logs, 3<<10))
			}
		}
	})
	call := func(i int, out any, method string, params ...string) error {
		args := append([]string{"netns", "exec", ns, bin, "rpc", "--url", fmt.Sprintf("http://127.0.0.1:%d", 18550+i), "--timeout", "5s", method}, params...)
		res, err := exec.Command("ip", args...).Output()
		if err != nil {
			return err
		}
		return json.Unmarshal(res, out)
	}
	waitUntil(t, 60*time.Second, "the two peers to find each other by mDNS", func() bool {
		for i := range lab.nodes {
			var peers []map[string]any
			if call(i, &peers, "peerchain_peers") != nil || len(peers) == 0 {
				return false
			}
		}
		return true
	})
	waitUntil(t, 60*time.Second, "the follower to get the miner's blocks", func() bool {
		var h headInfo
		return call(1, &h, "eth_getBlockByNumber", `"latest"`, "false") == nil && h.Number >= 2
	})
}
