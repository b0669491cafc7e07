package devnet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// With Config.NetNS every full peer runs in a network namespace of its own
// (pcdev-<h>-peerN, h a hash of the devnet's dir), joined by a veth pair
// to a bridge that lives in one more namespace (pcdev-<h>-br): the peers
// speak P2P over 10.213.0.0/24 (peerN is 10.213.0.N+2), so the kernel can
// shape each peer's link with tc. The subnet is inside namespaces the host
// never routes to, so it collides with nothing. A peer's RPC stays on
// 127.0.0.1 inside its namespace (admin_ is served on loopback only), and
// the supervisor forwards 127.0.0.1:<its RPC port> on the host to it, so
// every URL in devnet.json, the table, the status and the page is the
// same as without namespaces.

// netnsPrefix is the start of every namespace name of devnets.
const netnsPrefix = "pcdev-"

// netnsSubnet is the peers' /24, without its last byte.
const netnsSubnet = "10.213.0."

// netnsDir is where `ip netns` keeps its namespaces.
const netnsDir = "/run/netns/"

// netnet is the namespaces, veth pairs and RPC forwarders of one devnet.
type netnet struct {
	log *slog.Logger
	// prefix starts each of this devnet's namespace names: pcdev-<h>-.
	prefix string
	// tag starts each of its veth names: pc<h> (a name has at most 15
	// bytes).
	tag string
	// netem reports whether the kernel has the netem qdisc (probed at
	// setup); without it only bandwidth can be shaped (tbf).
	netem bool
	mu    sync.Mutex
	fwds  []net.Listener
	wg    sync.WaitGroup
}

// CheckNetNS reports why this process cannot run a devnet in network
// namespaces, or nil when it can: it must be root, with ip and tc.
func CheckNetNS() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("--netns needs root (euid %d): it creates network namespaces, veth pairs and a bridge; run as root, or drop --netns for faults at the libp2p layer", os.Geteuid())
	}
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("--netns needs %s (iproute2) on the PATH: %w", tool, err)
		}
	}
	return nil
}

func newNetnet(dir string, log *slog.Logger) *netnet {
	sum := sha256.Sum256([]byte(dir))
	h := hex.EncodeToString(sum[:3])
	return &netnet{log: log, prefix: netnsPrefix + h + "-", tag: "pc" + h}
}

// ns is the namespace of the peer named name ("br" is the bridge's).
func (n *netnet) ns(name string) string { return n.prefix + name }

// addr is the namespace address of full peer i.
func netnsAddr(i int) string { return netnsSubnet + strconv.Itoa(i+2) }

// vethPeer and vethBridge are the two ends of peer i's veth pair: the one
// in its namespace and the one on the bridge.
func (n *netnet) vethPeer(i int) string   { return fmt.Sprintf("%si%d", n.tag, i) }
func (n *netnet) vethBridge(i int) string { return fmt.Sprintf("%sb%d", n.tag, i) }

// run runs a command (ip or tc), its output in the error.
func run(tool string, args ...string) error {
	out, err := exec.Command(tool, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", tool, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// owned lists the namespaces whose names start with prefix.
func ownedNamespaces(prefix string) ([]string, error) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil, fmt.Errorf("ip netns list: %w", err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// teardown deletes every namespace of this devnet (their veths and the
// bridge go with them), a crashed run's included.
func (n *netnet) teardown() error {
	names, err := ownedNamespaces(n.prefix)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		if err := run("ip", "netns", "del", name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// setup removes what a crashed run left and creates the bridge and one
// namespace per peer named in peers (peer i at netnsAddr(i)).
func (n *netnet) setup(peers []string) error {
	if err := n.teardown(); err != nil {
		return fmt.Errorf("remove the namespaces of an earlier devnet: %w", err)
	}
	br := n.ns("br")
	steps := [][]string{
		{"netns", "add", br},
		{"-n", br, "link", "set", "lo", "up"},
		{"-n", br, "link", "add", "br0", "type", "bridge"},
		{"-n", br, "link", "set", "br0", "up"},
	}
	for i, name := range peers {
		ns := n.ns(name)
		steps = append(steps,
			[]string{"netns", "add", ns},
			[]string{"-n", ns, "link", "set", "lo", "up"},
			[]string{"link", "add", n.vethPeer(i), "netns", ns, "type", "veth", "peer", "name", n.vethBridge(i), "netns", br},
			[]string{"-n", ns, "addr", "add", netnsAddr(i) + "/24", "dev", n.vethPeer(i)},
			[]string{"-n", ns, "link", "set", n.vethPeer(i), "up"},
			[]string{"-n", br, "link", "set", n.vethBridge(i), "master", "br0", "up"},
		)
	}
	for _, st := range steps {
		if err := run("ip", st...); err != nil {
			_ = n.teardown()
			return fmt.Errorf("set up the devnet's network namespaces: %w", err)
		}
	}
	// Probe netem on the bridge's loopback, where it shapes nothing.
	n.netem = run("tc", "-n", br, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms") == nil
	if n.netem {
		_ = run("tc", "-n", br, "qdisc", "del", "dev", "lo", "root")
	} else {
		n.log.Warn("The kernel has no netem qdisc: delay and loss cannot be put on links, bandwidth can (tbf)")
	}
	return nil
}

// inNetns runs fn on a thread that is in namespace ns for the call: a
// socket fn creates stays in ns.
func inNetns(ns string, fn func() error) error {
	target, err := os.Open(netnsDir + ns)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	defer target.Close()
	runtime.LockOSThread()
	own, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("this thread's namespace: %w", err)
	}
	defer own.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter namespace %s: %w", ns, err)
	}
	fnErr := fn()
	if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays locked: it ends with this goroutine, so no
		// other goroutine runs in ns.
		return errors.Join(fnErr, fmt.Errorf("return from namespace %s: %w", ns, err))
	}
	runtime.UnlockOSThread()
	return fnErr
}

// dialIn connects to addr from inside namespace ns.
func dialIn(ctx context.Context, ns, addr string) (net.Conn, error) {
	var conn net.Conn
	err := inNetns(ns, func() error {
		var d net.Dialer
		var err error
		conn, err = d.DialContext(ctx, "tcp", addr)
		return err
	})
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		return nil, fmt.Errorf("dial %s in namespace %s: %w", addr, ns, err)
	}
	return conn, nil
}

// forward serves 127.0.0.1:port on the host, each connection joined to
// 127.0.0.1:port in namespace ns (the peer's RPC).
func (n *netnet) forward(ns string, port int) error {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("forward %s to namespace %s: %w", addr, ns, err)
	}
	n.mu.Lock()
	n.fwds = append(n.fwds, ln)
	n.mu.Unlock()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				defer c.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				up, err := dialIn(ctx, ns, addr)
				cancel()
				if err != nil {
					return // the peer is not listening (yet): the client retries
				}
				defer up.Close()
				done := make(chan struct{})
				go func() {
					_, _ = io.Copy(up, c)
					_ = up.(*net.TCPConn).CloseWrite()
					close(done)
				}()
				_, _ = io.Copy(c, up)
				_ = c.(*net.TCPConn).CloseWrite()
				<-done
			}()
		}
	}()
	return nil
}

// stopForwarding closes the forwarders and waits for their connections
// (the peers have stopped by then, so they end).
func (n *netnet) stopForwarding() {
	n.mu.Lock()
	for _, ln := range n.fwds {
		ln.Close()
	}
	n.fwds = nil
	n.mu.Unlock()
	n.wg.Wait()
}

// shape puts f on peer i's link, both ways: on its veth's end in its
// namespace (what it sends) and on the bridge's end (what it receives).
// netem does delay, jitter, loss and rate; a rate alone is tbf's, so that
// a kernel without netem can still shape bandwidth. The zero Fault clears
// the link. It returns the qdisc used.
func (n *netnet) shape(name string, i int, f Fault) (string, error) {
	ends := [][2]string{{n.ns(name), n.vethPeer(i)}, {n.ns("br"), n.vethBridge(i)}}
	if f == (Fault{}) {
		for _, e := range ends {
			// "No such file": nothing to clear.
			if err := run("tc", "-n", e[0], "qdisc", "del", "dev", e[1], "root"); err != nil && !strings.Contains(err.Error(), "No such file") && !strings.Contains(err.Error(), "handle of zero") {
				return "", err
			}
		}
		return "", nil
	}
	kind, params, err := qdiscArgs(f, n.netem)
	if err != nil {
		return "", err
	}
	for _, e := range ends {
		args := append([]string{"-n", e[0], "qdisc", "replace", "dev", e[1], "root", kind}, params...)
		if err := run("tc", args...); err != nil {
			return "", fmt.Errorf("shape %s's link: %w", name, err)
		}
	}
	return kind, nil
}

// startNetNS creates the namespaces and the RPC forwarders (nothing
// without Config.NetNS).
func (s *Supervisor) startNetNS() error {
	if s.net == nil {
		return nil
	}
	s.mu.Lock()
	var names []string
	var peers []Peer
	for _, p := range s.mu.peers {
		names, peers = append(names, p.info.Name), append(peers, p.info)
	}
	s.mu.Unlock()
	if err := s.net.setup(names); err != nil {
		return err
	}
	for _, p := range peers {
		if err := s.net.forward(p.NetNS, p.RPCPort); err != nil {
			return err
		}
	}
	s.log.Info("Created the devnet's network namespaces", "bridge", s.net.ns("br"), "peers", len(names), "netem", s.net.netem)
	return nil
}

// shapeNetNS puts next on p's link with tc; next.Mode is set to the qdisc.
func (s *Supervisor) shapeNetNS(info Peer, next *Fault) error {
	i := -1
	s.mu.Lock()
	for k, p := range s.mu.peers {
		if p.info.Name == info.Name {
			i = k
		}
	}
	s.mu.Unlock()
	if i < 0 {
		return fmt.Errorf("no peer %s in the namespaces", info.Name)
	}
	kind, err := s.net.shape(info.Name, i, *next)
	if err != nil {
		return fmt.Errorf("%s: %w", info.Name, err)
	}
	if *next != (Fault{}) {
		next.Mode = kind
	}
	return nil
}

// qdiscArgs is the qdisc (netem, or tbf for a rate alone) and its
// parameters for f; without netem only a rate can be had.
func qdiscArgs(f Fault, netem bool) (string, []string, error) {
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	if f.DelayMs == 0 && f.Loss == 0 {
		// A bucket of 10 ms at the rate (at least 1600 bytes, a full
		// frame), a queue of up to 500 ms.
		burst := max(1600, f.RateBits/8/100)
		return "tbf", []string{"rate", fmt.Sprintf("%dbit", f.RateBits), "burst", strconv.FormatUint(burst, 10), "latency", "500ms"}, nil
	}
	if !netem {
		return "", nil, errors.New("the kernel has no netem qdisc (CONFIG_NET_SCH_NETEM), so delay and loss cannot be put on a link in the namespaces (bandwidth alone can: tbf); run the devnet without --netns for faults at the libp2p layer")
	}
	var params []string
	if f.DelayMs > 0 {
		params = append(params, "delay", num(math.Round(f.DelayMs*1000)/1000)+"ms")
		if f.JitterMs > 0 {
			params = append(params, num(math.Round(f.JitterMs*1000)/1000)+"ms")
		}
	}
	if f.Loss > 0 {
		params = append(params, "loss", num(math.Round(f.Loss*1e6)/1e4)+"%")
	}
	if f.RateBits > 0 {
		params = append(params, "rate", fmt.Sprintf("%dbit", f.RateBits))
	}
	// Room for the packets a long delay holds.
	return "netem", append(params, "limit", "10000"), nil
}
