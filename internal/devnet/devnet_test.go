package devnet

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/peerchain/peerchain/internal/params"
	"github.com/peerchain/peerchain/internal/wallet"
)

func TestConfigErrors(t *testing.T) {
	long := filepath.Join(t.TempDir(), strings.Repeat("d", 120))
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Dir: t.TempDir()}, "--nodes 0: a devnet has 1 to 32 peers"},
		{Config{Dir: t.TempDir(), Nodes: 33}, "--nodes 33: a devnet has 1 to 32 peers"},
		{Config{Dir: t.TempDir(), Nodes: -1}, "--nodes -1"},
		{Config{Dir: t.TempDir(), Nodes: 3, Miners: 4}, "--miners 4: must be between 0 and --nodes (3)"},
		{Config{Dir: t.TempDir(), Nodes: 3, Miners: -1}, "--miners -1"},
		{Config{Dir: long, Nodes: 1}, "over the 107 a unix socket allows"},
		{Config{Dir: t.TempDir(), Light: 2}, "--light 2 with --nodes 0: a light peer needs at least one full peer to ask"},
		{Config{Dir: t.TempDir(), Nodes: 2, Providers: 3}, "--providers 3: must be between 0 and --nodes (2)"},
		{Config{Dir: t.TempDir(), Nodes: 2, Providers: -1}, "--providers -1: must be between 0 and --nodes (2)"},
		{Config{Dir: t.TempDir(), Nodes: 1, Light: 33}, "--light 33: a devnet has 0 to 32 light peers"},
		{Config{Dir: t.TempDir(), Nodes: 1, Light: -1}, "--light -1: a devnet has 0 to 32 light peers"},
		{Config{Dir: t.TempDir(), Nodes: 1, Liar: true}, "--liar without --light: the liar lies to light peers, and there are none"},
	} {
		if _, err := New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.cfg, err, c.want)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg := Config{Nodes: 1}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Dir != DefaultDir() || !filepath.IsAbs(cfg.Dir) || !strings.HasSuffix(cfg.Dir, filepath.Join(".peerchain", "devnet")) {
		t.Errorf("default dir %q, want %q (absolute)", cfg.Dir, DefaultDir())
	}
	if cfg.Binary == "" || cfg.Out == nil || cfg.Logger == nil || cfg.Interval <= 0 || cfg.StartTimeout <= 0 || cfg.Miners != 0 {
		t.Errorf("defaults not filled in: %+v", cfg)
	}
	rel := Config{Nodes: 1, Dir: "some/where"}
	if err := rel.validate(); err != nil || !filepath.IsAbs(rel.Dir) {
		t.Errorf("relative dir: %q %v", rel.Dir, err)
	}
}

func TestPrepareKeysPortsAndArgs(t *testing.T) {
	dir := t.TempDir()
	s, err := New(Config{Dir: dir, Nodes: 4, Miners: 2, Binary: "/bin/true", NodeArgs: []string{"--genesis", "g.json"}})
	if err != nil {
		t.Fatal(err)
	}
	ids, ports := map[string]bool{}, map[int]bool{}
	for i, p := range s.mu.peers {
		if p.info.Name != peerName(i) || p.info.Miner != (i < 2) || !strings.HasSuffix(p.info.P2P[0], "/p2p/"+p.info.ID) {
			t.Fatalf("peer %d: %+v", i, p.info)
		}
		ids[p.info.ID] = true
		ports[p.info.RPCPort], ports[p.info.P2PPort] = true, true
		args := strings.Join(p.args, " ")
		for _, o := range s.mu.peers {
			if (o == p) == strings.Contains(args, o.info.P2P[0]) {
				t.Fatalf("%s: bootnodes must be every other peer: %s", p.info.Name, args)
			}
		}
		for _, want := range []string{"node --datadir " + p.info.DataDir, "--log.format json", "--genesis g.json",
			"--p2p /ip4/127.0.0.1/tcp/" + itoa(p.info.P2PPort), "--rpc 127.0.0.1:" + itoa(p.info.RPCPort)} {
			if !strings.Contains(args, want) {
				t.Fatalf("%s: args %q lack %q", p.info.Name, args, want)
			}
		}
		if p.info.Miner {
			k, err := wallet.DevKey(params.DevMnemonic, i)
			if err != nil {
				t.Fatal(err)
			}
			if want := crypto.PubkeyToAddress(k.PublicKey).Hex(); p.info.Coinbase != want || !strings.Contains(args, "--mine --miner.coinbase "+want) {
				t.Fatalf("%s: coinbase %s, want dev account %d %s; args %s", p.info.Name, p.info.Coinbase, i, want, args)
			}
		} else if strings.Contains(args, "--mine") {
			t.Fatalf("%s mines: %s", p.info.Name, args)
		}
	}
	if len(ids) != 4 || len(ports) != 8 {
		t.Fatalf("peer ids or ports are not distinct: %v %v", ids, ports)
	}
	// A devnet in the same dir later keeps the keys and, when free, the
	// ports recorded in devnet.json.
	s.mu.Lock()
	s.writeStateLocked()
	s.mu.Unlock()
	s2, err := New(Config{Dir: dir, Nodes: 4, Binary: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range s2.mu.peers {
		old := s.mu.peers[i].info
		if p.info.ID != old.ID || p.info.RPCPort != old.RPCPort || p.info.P2PPort != old.P2PPort || p.info.Miner {
			t.Fatalf("%s changed across runs: %+v, was %+v", p.info.Name, p.info, old)
		}
	}
	// --reset makes new keys.
	s3, err := New(Config{Dir: dir, Nodes: 1, Reset: true, Binary: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	if s3.mu.peers[0].info.ID == s.mu.peers[0].info.ID {
		t.Fatal("--reset kept the peer key")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestPartitionRules(t *testing.T) {
	s, err := New(Config{Dir: t.TempDir(), Nodes: 4, Miners: 2, Binary: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		groups [][]string
		want   string
	}{
		{nil, "at least two groups, got 0"},
		{[][]string{{"peer0", "peer1", "peer2", "peer3"}}, "at least two groups, got 1"},
		{[][]string{{"peer0", "peer1"}, {"peer1", "peer2", "peer3"}}, "peer1 is in group 1 and group 2"},
		{[][]string{{"peer0", "peer0", "peer1"}, {"peer2", "peer3"}}, "peer0 appears twice in group 1"},
		{[][]string{{"peer0"}, {"peer1"}}, "left out: peer2, peer3"},
		{[][]string{{"peer0", "peer9"}, {"peer1", "peer2", "peer3"}}, `group 1: no peer named "peer9" (peers: peer0, peer1, peer2, peer3)`},
		{[][]string{{"peer0", "peer1"}, {}}, "group 2 is empty"},
	} {
		if err := s.Partition(ctx, c.groups); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want %q", c.groups, err, c.want)
		}
	}
	if err := s.Kill("peer0"); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("kill of a peer not started: %v", err)
	}
	if err := s.Kill("peer7"); err == nil || !strings.Contains(err.Error(), `no peer named "peer7"`) {
		t.Errorf("kill of an unknown peer: %v", err)
	}
}
