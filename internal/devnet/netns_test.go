package devnet

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestQdiscArgs(t *testing.T) {
	for _, c := range []struct {
		f     Fault
		netem bool
		kind  string
		args  string
		err   string
	}{
		{f: Fault{DelayMs: 200, JitterMs: 20}, netem: true, kind: "netem", args: "delay 200ms 20ms limit 10000"},
		{f: Fault{Loss: 0.3}, netem: true, kind: "netem", args: "loss 30% limit 10000"},
		{f: Fault{DelayMs: 0.5, Loss: 0.05, RateBits: 1e6}, netem: true, kind: "netem", args: "delay 0.5ms loss 5% rate 1000000bit limit 10000"},
		{f: Fault{RateBits: 1e6}, netem: true, kind: "tbf", args: "rate 1000000bit burst 1600 latency 500ms"},
		{f: Fault{RateBits: 1e9}, kind: "tbf", args: "rate 1000000000bit burst 1250000 latency 500ms"},
		{f: Fault{DelayMs: 200}, err: "no netem qdisc"},
		{f: Fault{Loss: 0.05, RateBits: 1e6}, err: "no netem qdisc"},
	} {
		kind, args, err := qdiscArgs(c.f, c.netem)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%+v without netem: err %v, want %q", c.f, err, c.err)
			}
			continue
		}
		if err != nil || kind != c.kind || strings.Join(args, " ") != c.args {
			t.Errorf("%+v: %s %q %v, want %s %q", c.f, kind, args, err, c.kind, c.args)
		}
	}
}

// skipUnlessNetns skips a test that makes namespaces unless it can.
func skipUnlessNetns(t *testing.T) {
	t.Helper()
	if err := CheckNetNS(); err != nil {
		t.Skipf("no network namespaces here: %v (CI runs as root)", err)
	}
}

func namespacesLeft(t *testing.T, prefix string) []string {
	t.Helper()
	names, err := ownedNamespaces(prefix)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// The namespaces of a devnet: two peers on the bridge reach each other,
// the host reaches a peer's loopback through the forwarder, a link is
// shaped and cleared, a crashed run's set is replaced, and teardown leaves
// nothing.
func TestNetnetBridgeForwardShape(t *testing.T) {
	skipUnlessNetns(t)
	n := newNetnet(t.TempDir(), slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = n.teardown() })
	if err := n.setup([]string{"peer0", "peer1"}); err != nil {
		t.Fatal(err)
	}
	// Again, as after a crash: the old set is removed first.
	if err := n.setup([]string{"peer0", "peer1"}); err != nil {
		t.Fatalf("setup over a crashed run's namespaces: %v", err)
	}
	if got := namespacesLeft(t, n.prefix); len(got) != 3 {
		t.Fatalf("namespaces %q, want the bridge's and two peers'", got)
	}

	// A server in peer0's namespace, on its bridge address and loopback.
	hostLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := hostLn.Addr().(*net.TCPAddr).Port
	hostLn.Close()
	var lns []net.Listener
	err = inNetns(n.ns("peer0"), func() error {
		for _, a := range []string{netnsAddr(0), "127.0.0.1"} {
			ln, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(port)))
			if err != nil {
				return err
			}
			lns = append(lns, ln)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, ln := range lns {
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
			}
		}()
	}
	echo := func(c net.Conn, msg string) {
		t.Helper()
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo %q: got %q, %v", msg, buf, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// peer1 → peer0 over the bridge.
	c, err := dialIn(ctx, n.ns("peer1"), net.JoinHostPort(netnsAddr(0), strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("peer1 cannot reach peer0 over the bridge: %v", err)
	}
	echo(c, "over the bridge")
	// The host cannot (the subnet is only inside the namespaces) …
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(netnsAddr(0), strconv.Itoa(port)), 300*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("the host reaches peer0's namespace address: the subnet leaked")
	}
	// … but 127.0.0.1:port on the host is forwarded to peer0's loopback.
	if err := n.forward(n.ns("peer0"), port); err != nil {
		t.Fatal(err)
	}
	c, err = net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	echo(c, "forwarded")

	// Nobody listening behind a forwarder: the connection is closed.
	free, _ := net.Listen("tcp", "127.0.0.1:0")
	port1 := free.Addr().(*net.TCPAddr).Port
	free.Close()
	if err := n.forward(n.ns("peer1"), port1); err != nil {
		t.Fatal(err)
	}
	c, err = net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port1)))
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a forwarder with no peer behind it answered")
	}
	c.Close()

	// A bandwidth on peer1's link: tbf on both ends; clear removes it.
	qdiscs := func() string {
		var out []string
		for _, e := range [][2]string{{n.ns("peer1"), n.vethPeer(1)}, {n.ns("br"), n.vethBridge(1)}} {
			b, err := exec.Command("tc", "-n", e[0], "qdisc", "show", "dev", e[1]).CombinedOutput()
			if err != nil {
				t.Fatalf("tc qdisc show: %v %s", err, b)
			}
			out = append(out, strings.TrimSpace(string(b)))
		}
		return strings.Join(out, "\n")
	}
	kind, err := n.shape("peer1", 1, Fault{RateBits: 1e6})
	if err != nil || kind != "tbf" {
		t.Fatalf("shape 1mbit: %s %v", kind, err)
	}
	if q := qdiscs(); strings.Count(q, "tbf") != 2 || strings.Count(q, "rate 1Mbit") != 2 {
		t.Fatalf("after bandwidth 1mbit:\n%s", q)
	}
	if n.netem {
		if _, err := n.shape("peer1", 1, Fault{DelayMs: 200, Loss: 0.05}); err != nil {
			t.Fatal(err)
		}
		if q := qdiscs(); strings.Count(q, "netem") != 2 || strings.Count(q, "delay 200ms") != 2 {
			t.Fatalf("after delay 200ms:\n%s", q)
		}
	} else if _, err := n.shape("peer1", 1, Fault{DelayMs: 200}); err == nil || !strings.Contains(err.Error(), "no netem") {
		t.Fatalf("delay without netem: %v, want refused", err)
	}
	for range 2 { // clearing a clear link is no error
		if _, err := n.shape("peer1", 1, Fault{}); err != nil {
			t.Fatal(err)
		}
	}
	if q := qdiscs(); strings.Contains(q, "tbf") || strings.Contains(q, "netem") {
		t.Fatalf("after clear:\n%s", q)
	}

	n.stopForwarding()
	if err := n.teardown(); err != nil {
		t.Fatal(err)
	}
	if got := namespacesLeft(t, n.prefix); len(got) > 0 {
		t.Fatalf("after teardown: %q", got)
	}
	out, _ := exec.Command("ip", "-o", "link", "show").Output()
	if strings.Contains(string(out), n.tag) {
		t.Fatalf("a veth of %s is left on the host:\n%s", n.tag, out)
	}
}
