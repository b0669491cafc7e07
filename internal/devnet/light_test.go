package devnet

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// flagValue is the value after name in args, and whether name is there.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == name {
			if i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
				return args[i+1], true
			}
			return "", true
		}
	}
	return "", false
}

// byName returns the prepared processes by name.
func byName(s *Supervisor) map[string]*proc {
	out := map[string]*proc{}
	for _, p := range s.mu.peers {
		out[p.info.Name] = p
	}
	return out
}

// Three full peers (peer0 mining), the last a provider, two light peers
// and the liar: every command line says who asks whom.
func TestPrepareLightProvidersAndLiar(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Nodes: 3, Miners: 1, Providers: 1, Light: 2, Liar: true, Binary: "/bin/true",
		NodeArgs: []string{"--genesis", "g.json"}, LightArgs: []string{"--genesis", "g.json", "--source.timeout", "3s"}}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	peers := byName(s)
	if len(s.mu.peers) != 5 {
		t.Fatalf("%d processes, want 3 full and 2 light", len(s.mu.peers))
	}
	liar := s.mu.liar
	if liar == nil || liar.Kind != KindLiar || liar.Fronts != "peer2" || liar.PID != 0 || liar.RPC == "" || liar.ID != "" {
		t.Fatalf("liar: %+v, want one fronting peer2, the provider", liar)
	}
	wantKind := map[string]string{"peer0": KindFull, "peer1": KindFull, "peer2": KindProvider, "light0": KindLight, "light1": KindLight}
	full := []string{peers["peer0"].info.P2P[0], peers["peer1"].info.P2P[0], peers["peer2"].info.P2P[0]}
	ports := map[int]string{liar.RPCPort: "liar"}
	for name, kind := range wantKind {
		p := peers[name]
		if p == nil || p.info.Kind != kind {
			t.Fatalf("%s: %+v, want kind %s", name, p, kind)
		}
		for _, port := range []int{p.info.RPCPort, p.info.P2PPort} {
			if other, dup := ports[port]; dup {
				t.Fatalf("%s and %s share port %d", name, other, port)
			}
			ports[port] = name
		}
		args := p.args
		if v, _ := flagValue(args, "--datadir"); v != p.info.DataDir || !strings.HasPrefix(v, dir+"/"+name) {
			t.Fatalf("%s: --datadir %q", name, v)
		}
		if v, _ := flagValue(args, "--genesis"); v != "g.json" {
			t.Fatalf("%s: the extra args are missing: %q", name, args)
		}
		_, provider := flagValue(args, "--provider")
		if provider != (kind == KindProvider) {
			t.Fatalf("%s (%s): --provider %v: %q", name, kind, provider, args)
		}
		boot, _ := flagValue(args, "--bootnodes")
		if kind == KindLight {
			if args[0] != "light" || p.info.full() {
				t.Fatalf("%s: %q", name, args)
			}
			// Every full peer over P2P, no DHT; the liar first, then
			// the provider.
			if boot != strings.Join(full, ",") {
				t.Fatalf("%s: --bootnodes %s, want every full peer %v", name, boot, full)
			}
			if _, ok := flagValue(args, "--p2p.nodht"); !ok {
				t.Fatalf("%s: no --p2p.nodht: %q", name, args)
			}
			want := []string{liar.RPC, peers["peer2"].info.RPC}
			if v, _ := flagValue(args, "--providers"); v != strings.Join(want, ",") || !reflect.DeepEqual(p.info.Providers, want) {
				t.Fatalf("%s: --providers %s (devnet.json %v), want %v", name, v, p.info.Providers, want)
			}
			if v, _ := flagValue(args, "--source.timeout"); v != "3s" {
				t.Fatalf("%s: the light args are missing: %q", name, args)
			}
			if _, ok := flagValue(args, "--mine"); ok || p.drops == nil {
				t.Fatalf("%s: %q (drops followed: %v)", name, args, p.drops != nil)
			}
			continue
		}
		if args[0] != "node" {
			t.Fatalf("%s: %q", name, args)
		}
		if _, ok := flagValue(args, "--source.timeout"); ok {
			t.Fatalf("%s is given the light args: %q", name, args)
		}
		for _, l := range []string{"light0", "light1"} {
			if strings.Contains(boot, peers[l].info.ID) {
				t.Fatalf("%s bootstraps to %s: a light peer serves no one", name, l)
			}
		}
		if _, mines := flagValue(args, "--mine"); mines != (name == "peer0") {
			t.Fatalf("%s: --mine %v", name, mines)
		}
	}

	// devnet.json lists the liar last; a second run keeps every port.
	s.mu.Lock()
	s.writeStateLocked()
	s.mu.Unlock()
	st, err := ReadState(dir)
	if err != nil || len(st.Peers) != 6 || st.Peers[5].Name != LiarName || st.Peers[3].Kind != KindLight || st.Peers[2].Kind != KindProvider {
		t.Fatalf("devnet.json: %+v %v", st, err)
	}
	s2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range byName(s2) {
		old := peers[name].info
		if p.info.ID != old.ID || p.info.RPCPort != old.RPCPort || p.info.P2PPort != old.P2PPort {
			t.Fatalf("%s changed across runs: %+v, was %+v", name, p.info, old)
		}
	}
	if s2.mu.liar.RPCPort != liar.RPCPort {
		t.Fatalf("the liar's port changed across runs: %d, was %d", s2.mu.liar.RPCPort, liar.RPCPort)
	}
}

// Without providers, the light peers ask every full peer's RPC, and the
// liar fronts the first; without the liar, no one lies.
func TestLightWithoutProviders(t *testing.T) {
	s, err := New(Config{Dir: t.TempDir(), Nodes: 2, Miners: 1, Light: 1, Liar: true, Binary: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	peers := byName(s)
	want := []string{s.mu.liar.RPC, peers["peer0"].info.RPC, peers["peer1"].info.RPC}
	if got := peers["light0"].info.Providers; !reflect.DeepEqual(got, want) || s.mu.liar.Fronts != "peer0" {
		t.Fatalf("providers %v, want %v; the liar fronts %s, want peer0", got, want, s.mu.liar.Fronts)
	}
	for _, p := range s.mu.peers {
		if _, ok := flagValue(p.args, "--provider"); ok {
			t.Fatalf("%s runs with --provider: %q", p.info.Name, p.args)
		}
	}
	s, err = New(Config{Dir: t.TempDir(), Nodes: 1, Providers: 1, Light: 1, Binary: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	peers = byName(s)
	if got := peers["light0"].info.Providers; s.mu.liar != nil || !reflect.DeepEqual(got, []string{peers["peer0"].info.RPC}) {
		t.Fatalf("providers %v, liar %+v: want only peer0 and no liar", got, s.mu.liar)
	}
}

// A devnet of fake peers with a provider, a light peer and the liar: the
// light peer, probed by the live status, catches the liar (its proof
// differs from the provider's), and the status and devnet.json say so;
// kill and restart work on the light peer; the liar is no process to kill;
// a partition splits the full peers only, and the provider is refused by
// the other side rather than told.
func TestSupervisorLightAndLiarOnFakePeers(t *testing.T) {
	d := startFakeDevnetWith(t, Config{Nodes: 3, Miners: 1, Providers: 1, Light: 1, Liar: true, Interval: 50 * time.Millisecond})
	waitFor(t, 30*time.Second, "the liar caught in the live status", func() bool {
		return strings.Contains(d.out.String(), "liar→peer2: caught ")
	})
	out := d.out.String()
	for _, want := range []string{"light0  light", "peer2   provider", "liar    liar", "fronts peer2", "Dropped a source", "peerchain_peers", "light0: #7 "} {
		if !strings.Contains(out, want) {
			t.Fatalf("the supervisor's output lacks %q:\n%s", want, out)
		}
	}
	st := d.state()
	liar := st.Peers[len(st.Peers)-1]
	if liar.Kind != KindLiar || !liar.Alive || liar.PID != 0 || liar.Fronts != "peer2" {
		t.Fatalf("devnet.json liar: %+v", liar)
	}
	c, err := Dial(d.dir)
	if err != nil {
		t.Fatal(err)
	}
	status, err := c.Status()
	if err != nil || len(status) != 5 {
		t.Fatalf("status %+v %v", status, err)
	}
	light, sl := status[3], status[4]
	if light.Name != "light0" || light.Dropped == 0 || light.LastDrop == nil || light.LastDrop.Source != liar.RPC ||
		!strings.Contains(light.LastDrop.Evidence, "lied about account") {
		t.Fatalf("light0 status: %+v (last drop %+v), want the liar dropped", light, light.LastDrop)
	}
	if sl.Name != LiarName || sl.Caught == 0 || sl.Caught > light.Dropped {
		t.Fatalf("liar status: %+v", sl)
	}

	// Kill and restart a light peer: a new process on the same port, and
	// it keeps counting its drops.
	old := st.Peers[3]
	if err := c.Kill("light0"); err != nil {
		t.Fatal(err)
	}
	if p := d.state().Peers[3]; p.Alive || !processGone(old.PID) {
		t.Fatalf("light0 after kill: %+v", p)
	}
	if err := c.Restart("light0"); err != nil {
		t.Fatal(err)
	}
	if p := d.state().Peers[3]; !p.Alive || p.PID == old.PID || p.RPCPort != old.RPCPort {
		t.Fatalf("light0 after restart: %+v (was %+v)", p, old)
	}
	for _, err := range []error{c.Kill(LiarName), c.Restart(LiarName)} {
		if err == nil || !strings.Contains(err.Error(), "liar is the supervisor's own lying proxy") {
			t.Fatalf("kill or restart of the liar: %v", err)
		}
	}

	for _, bad := range []struct {
		groups [][]string
		want   string
	}{
		{[][]string{{"peer0", "light0"}, {"peer1", "peer2"}}, "light0 is a light peer: a partition splits the full peers"},
		{[][]string{{"peer0", "liar"}, {"peer1", "peer2"}}, "liar is the supervisor's own lying proxy"},
		{[][]string{{"peer0"}, {"peer1"}}, "every full peer must be in a group; left out: peer2"},
	} {
		if err := c.Partition(bad.groups); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("partition %v: %v, want %q", bad.groups, err, bad.want)
		}
	}
	if err := c.Partition([][]string{{"peer0"}, {"peer1", "peer2"}}); err != nil {
		t.Fatal(err)
	}
	d.checkBlocked("peer0", "peer1", "peer2")
	d.checkBlocked("peer1", "peer0")
	d.checkBlocked("peer2") // a provider serves no admin_: the others refuse it
	if err := c.Restart("peer2"); err != nil {
		t.Fatal(err)
	}
	if err := c.Heal(); err != nil {
		t.Fatal(err)
	}
	d.checkBlocked("peer0")
}

// Two providers on different sides would stay connected: refused.
func TestPartitionKeepsProvidersTogether(t *testing.T) {
	s, err := New(Config{Dir: t.TempDir(), Nodes: 4, Miners: 2, Providers: 2, Binary: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Partition(context.Background(), [][]string{{"peer0", "peer2"}, {"peer1", "peer3"}})
	if err == nil || !strings.Contains(err.Error(), "providers peer2 (group 1) and peer3 (group 2) are on different sides") {
		t.Fatalf("partition splitting the providers: %v", err)
	}
}

// All light peers reach a provider from 127.0.0.1, as one client: past 4
// of them the provider's rate grows with them (NodeArgs, later on the
// command line, still win).
func TestProviderRateGrowsWithLightPeers(t *testing.T) {
	for _, c := range []struct {
		light       int
		rate, burst string
	}{{0, "", ""}, {4, "", ""}, {8, "200", "800"}, {32, "800", "3200"}} {
		s, err := New(Config{Dir: t.TempDir(), Nodes: 2, Miners: 1, Providers: 1, Light: c.light, Binary: "/bin/true", NodeArgs: []string{"--provider.rate", "1000"}})
		if err != nil {
			t.Fatal(err)
		}
		args := byName(s)["peer1"].args
		own := args[:len(args)-2] // without NodeArgs
		rate, _ := flagValue(own, "--provider.rate")
		burst, _ := flagValue(own, "--provider.burst")
		if rate != c.rate || burst != c.burst {
			t.Errorf("%d light peers: --provider.rate %q --provider.burst %q, want %q %q", c.light, rate, burst, c.rate, c.burst)
		}
		if last := args[len(args)-2:]; last[0] != "--provider.rate" || last[1] != "1000" {
			t.Errorf("%d light peers: the extra args are not last: %q", c.light, args)
		}
		if p0 := byName(s)["peer0"].args; slices.Contains(p0[:len(p0)-2], "--provider.rate") {
			t.Errorf("%d light peers: peer0, not a provider, is given a rate", c.light)
		}
	}
}
