package devnet

import (
	"net"
	"strings"
	"testing"
)

// freeRun finds n consecutive TCP ports free on 127.0.0.1 (at the time of
// asking), below the ephemeral range the kernel hands out for port 0.
func freeRun(t *testing.T, n int) int {
	t.Helper()
	for base := 20000; base < 30000; base += 97 {
		ok := true
		var held []net.Listener
		for i := range n {
			l, err := net.Listen("tcp", "127.0.0.1:"+itoa(base+i))
			if err != nil {
				ok = false
				break
			}
			held = append(held, l)
		}
		for _, l := range held {
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Skip("no run of free ports on 127.0.0.1 between 20000 and 30000")
	return 0
}

// The configured ports are taken in order, a taken one is replaced and
// said so, and a second devnet in the same dir gets the same ports.
func TestConfiguredPorts(t *testing.T) {
	base := freeRun(t, 12)
	rpc, p2p := base, base+6
	taken, err := net.Listen("tcp", "127.0.0.1:"+itoa(rpc+1)) // peer1's RPC port
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	cfg := Config{Binary: "/bin/true", Dir: dir, Nodes: 3, Miners: 1, Light: 1, RPCPort: rpc, P2PPort: p2p, NoUI: true}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ports := func(s *Supervisor) (out [][2]int) {
		for _, p := range s.mu.peers {
			out = append(out, [2]int{p.info.RPCPort, p.info.P2PPort})
		}
		return out
	}
	got := ports(s)
	if got[0] != [2]int{rpc, p2p} || got[2] != [2]int{rpc + 2, p2p + 2} || got[3] != [2]int{rpc + 3, p2p + 3} {
		t.Fatalf("ports %v, want peer0 on %d/%d, peer2 and light0 following", got, rpc, p2p)
	}
	if got[1][0] == rpc+1 || got[1][1] != p2p+1 {
		t.Fatalf("peer1 got %v with RPC port %d taken", got[1], rpc+1)
	}
	want := "127.0.0.1:" + itoa(rpc+1) + " is taken (another program listens there): peer1's RPC is on port " + itoa(got[1][0]) + " instead"
	if len(s.notes) != 1 || s.notes[0] != want {
		t.Fatalf("notes %q, want [%q]", s.notes, want)
	}
	if !strings.Contains(strings.Join(s.mu.peers[0].args, " "), "--rpc 127.0.0.1:"+itoa(rpc)) {
		t.Fatalf("peer0's command line %q", s.mu.peers[0].args)
	}
	s.mu.Lock()
	s.writeStateLocked()
	s.mu.Unlock()

	// Again in the same dir, 8545's stand-in still taken: every peer keeps
	// its port, peer1 the one it got instead.
	s2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if again := ports(s2); again[1] != got[1] || again[0] != got[0] || again[3] != got[3] {
		t.Fatalf("second run ports %v, first %v", again, got)
	}
	// With no configured port, the earlier run's ports are kept.
	cfg.RPCPort, cfg.P2PPort = 0, 0
	s3, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if again := ports(s3); again[2] != got[2] || len(s3.notes) != 0 {
		t.Fatalf("unconfigured run ports %v notes %q, first %v", again, s3.notes, got)
	}
	if _, err := New(Config{Dir: t.TempDir(), Nodes: 1, RPCPort: 70000}); err == nil || !strings.Contains(err.Error(), "--rpc.port 70000: a TCP port is 0 (pick free ones) to 65535") {
		t.Fatalf("a bad port: %v", err)
	}
}
