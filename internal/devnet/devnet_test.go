package devnet

import (
	"context"
	"strings"
	"testing"
)

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "a directory is required"},
		{Config{Dir: t.TempDir(), Nodes: 33}, "--nodes 33"},
		{Config{Dir: t.TempDir(), Nodes: 3, Miners: 4}, "--miners 4"},
	} {
		if _, err := New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.cfg, err, c.want)
		}
	}
}

func TestPrepareAndPartitionRules(t *testing.T) {
	dir := t.TempDir()
	s, err := New(Config{Dir: dir, Nodes: 4, Miners: 2, Binary: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for i, p := range s.mu.peers {
		if p.info.Miner != (i < 2) || p.info.RPCPort == 0 || p.info.P2PPort == 0 || !strings.HasSuffix(p.info.P2P[0], p.info.ID) {
			t.Fatalf("peer %d: %+v", i, p.info)
		}
		ids[p.info.ID] = true
		if !strings.Contains(strings.Join(p.args, " "), "--bootnodes") {
			t.Fatalf("peer %d has no bootnodes: %v", i, p.args)
		}
	}
	if len(ids) != 4 {
		t.Fatal("peer ids are not distinct")
	}
	// A second supervisor on the same dir keeps the keys and ports.
	s2, err := New(Config{Dir: dir, Nodes: 4, Binary: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.writeStateLocked()
	s.mu.Unlock()
	if s2.mu.peers[0].info.ID != s.mu.peers[0].info.ID {
		t.Fatal("peer key changed across runs")
	}
	ctx := context.Background()
	for _, c := range []struct {
		groups [][]string
		want   string
	}{
		{[][]string{{"peer0", "peer1", "peer2", "peer3"}}, "at least two groups"},
		{[][]string{{"peer0", "peer1"}, {"peer1", "peer2", "peer3"}}, "peer1 is in group 1 and group 2"},
		{[][]string{{"peer0"}, {"peer1"}}, "left out: peer2, peer3"},
		{[][]string{{"peer0", "peer9"}, {"peer1", "peer2", "peer3"}}, `no peer named "peer9"`},
		{[][]string{{"peer0", "peer1"}, {}}, "group 2 is empty"},
	} {
		if err := s.Partition(ctx, c.groups); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want %q", c.groups, err, c.want)
		}
	}
	if err := s.Kill("peer0"); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("kill of a peer not started: %v", err)
	}
	st, err := ReadState(dir)
	if err != nil || len(st.Peers) != 4 || st.Control != SocketFile(dir) {
		t.Fatalf("devnet.json: %+v %v", st, err)
	}
}
