//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/ethclient"
)

// nsdevSkip skips unless this test can make network namespaces: root, ip
// and tc.
func nsdevSkip(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("devnet --netns needs root (network namespaces, veths, tc); CI runs as root")
	}
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("devnet --netns needs %s (iproute2): %v", tool, err)
		}
	}
}

// nsdevHasNetem reports whether the kernel has the netem qdisc, tried in
// a namespace this test makes (and removes).
func nsdevHasNetem(t *testing.T) bool {
	t.Helper()
	ns := fmt.Sprintf("pcnetemprobe-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", ns, err, out)
	}
	defer exec.Command("ip", "netns", "del", ns).Run()
	return exec.Command("tc", "-n", ns, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms").Run() == nil
}

// nsdevLeft lists what of the devnet's namespaces (prefix) and veths (tag)
// the host still has.
func nsdevLeft(t *testing.T, prefix, tag string) []string {
	t.Helper()
	var left []string
	for _, cmd := range [][]string{{"ip", "netns", "list"}, {"ip", "-o", "link", "show"}} {
		out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(cmd, " "), err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, prefix) || strings.Contains(line, tag) {
				left = append(left, strings.TrimSpace(line))
			}
		}
	}
	return left
}

// nsdevQdisc is the root qdisc on peer's veth in its namespace.
func nsdevQdisc(t *testing.T, ns string) string {
	t.Helper()
	out, err := exec.Command("tc", "-n", ns, "qdisc", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("tc -n %s qdisc show: %v\n%s", ns, err, out)
	}
	return string(out)
}

// A devnet with --netns: every full peer in a namespace of its own, P2P
// over the bridge, RPC forwarded to 127.0.0.1 on the host; faults put on
// the veths by tc. Delay and loss (netem) on peer2 slow its block arrival,
// clear restores it. On a kernel without netem the delay is refused with
// the reason, and a bandwidth (tbf) is put on the link instead. After stop
// the host has none of the devnet's namespaces or veths.
func TestDevnetNetnsFaults(t *testing.T) {
	nsdevSkip(t)
	netem := nsdevHasNetem(t)
	d := startDevnetArgs(t, t.TempDir(), "--netns", "--nodes", "3", "--miners", "1", "--quiet", "--ui=false")
	st := d.state()
	for i, p := range st.Peers {
		addr := fmt.Sprintf("10.213.0.%d", i+2)
		if p.NetNS == "" || p.Addr != addr || !strings.HasPrefix(p.P2P[0], "/ip4/"+addr+"/tcp/") || !strings.HasPrefix(p.RPC, "http://127.0.0.1:") {
			t.Fatalf("%s in devnet.json: netns %q addr %q p2p %v rpc %s; want a namespace, %s, and RPC on 127.0.0.1", p.Name, p.NetNS, p.Addr, p.P2P, p.RPC, addr)
		}
	}
	prefix := strings.TrimSuffix(st.Peers[0].NetNS, "peer0")
	tag := "pc" + strings.TrimSuffix(strings.TrimPrefix(prefix, "pcdev-"), "-")
	t.Cleanup(func() { // after a failure: this devnet's namespaces, nothing else
		out, _ := exec.Command("ip", "netns", "list").Output()
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
				_ = exec.Command("ip", "netns", "del", f[0]).Run()
			}
		}
	})
	if left := nsdevLeft(t, prefix, tag); len(left) < 4 {
		t.Fatalf("want the bridge's and 3 peers' namespaces, the host has %q", left)
	}
	miner, control, shaped := st.Peers[0].RPC, st.Peers[1].RPC, st.Peers[2].RPC
	c := d.client("peer2")
	waitUntil(t, 60*time.Second, "peer2 at block 2", func() bool { n, _, err := head(c); return err == nil && n >= 2 })
	const blocks = 5
	extra := func(f phaseFigures) int64 { return median(f.shaped) - median(f.control) }
	base := measurePhase(t, "baseline", miner, shaped, control, blocks)
	if e := extra(base); e > 150 {
		t.Errorf("baseline: peer2 already %d ms behind peer1", e)
	}

	if netem {
		d.ctl("delay", "peer2", "300ms")
		if q := nsdevQdisc(t, st.Peers[2].NetNS); !strings.Contains(q, "netem") || !strings.Contains(q, "delay 300ms") {
			t.Fatalf("peer2's veth after delay 300ms:\n%s", q)
		}
		if s := d.ctl("status"); !strings.Contains(s, "delay 300ms") {
			t.Fatalf("devnet status does not show the delay:\n%s", s)
		}
		// Both ends of the veth delay: a block is 300 ms late at least,
		// more when its gossip takes a round trip.
		delayed := measurePhase(t, "delay 300ms (netem)", miner, shaped, control, blocks)
		if e := extra(delayed); median(delayed.shaped) < 300 || e < 250 {
			t.Errorf("delay 300ms: peer2's median arrival %d ms, %d ms behind peer1; want at least 300 and 250", median(delayed.shaped), e)
		}
		d.ctl("delay", "peer2", "0")
		d.ctl("loss", "peer2", "30%")
		// TCP retransmits what netem drops: blocks arrive late (or by
		// sync), never lost.
		lossy := measurePhase(t, "loss 30% (netem)", miner, shaped, control, blocks)
		if mean(lossy.shaped)-mean(lossy.control) < 100 {
			t.Errorf("loss 30%%: peer2's mean arrival %d ms vs %d ms at peer1; want 100 ms more", mean(lossy.shaped), mean(lossy.control))
		}
	} else {
		out, err := exec.Command(d.bin, "devnet", "delay", "peer2", "300ms", "--dir", d.dir).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "no netem qdisc") {
			t.Fatalf("delay on a kernel without netem: %v\n%s\nwant it refused for the missing netem", err, out)
		}
		t.Log("the kernel has no netem qdisc (CONFIG_NET_SCH_NETEM): delay and loss refused as they should be; bandwidth (tbf) measured instead")
		d.ctl("bandwidth", "peer2", "24kbit")
		if q := nsdevQdisc(t, st.Peers[2].NetNS); !strings.Contains(q, "tbf") || !strings.Contains(q, "rate 24Kbit") {
			t.Fatalf("peer2's veth after bandwidth 24kbit:\n%s", q)
		}
		// Blocks are small: at 24 kbit/s a block waits behind the
		// gossip in the bucket for some hundreds of ms (measured: 3 to
		// 980 ms, mean 325); 20 kbit/s stalls the link for seconds.
		slow := measurePhase(t, "bandwidth 24kbit (tbf)", miner, shaped, control, 8)
		if slices.Max(slow.shaped)-slices.Max(slow.control) < 200 {
			t.Errorf("bandwidth 24kbit: peer2's latest arrival %d ms vs %d ms at peer1; want 200 ms more", slices.Max(slow.shaped), slices.Max(slow.control))
		}
	}

	d.ctl("clear", "peer2")
	if q := nsdevQdisc(t, st.Peers[2].NetNS); strings.Contains(q, "netem") || strings.Contains(q, "tbf") {
		t.Fatalf("peer2's veth after clear:\n%s", q)
	}
	// A link the bucket stalled leaves peer2 catching up by sync: wait
	// for it to hold the miner's head before measuring the plain link.
	waitAtHead(t, miner, shaped, "peer2 back at the miner's head after clear")
	cleared := measurePhase(t, "cleared", miner, shaped, control, blocks)
	if e := extra(cleared); e > 150 {
		t.Errorf("after clear: peer2 %d ms behind peer1; want the baseline back", e)
	}

	d.stop()
	if left := nsdevLeft(t, prefix, tag); len(left) > 0 {
		t.Fatalf("after stop the host still has the devnet's %q", left)
	}
}

// dialEth connects an ethclient to url for the test's life.
func dialEth(t *testing.T, url string) *ethclient.Client {
	t.Helper()
	c, err := ethclient.Dial(url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(c.Close)
	return c
}
