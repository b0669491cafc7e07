package devnet

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fakeDevnet runs a supervisor whose peers are fake (see fakePeer).
type fakeDevnet struct {
	t      *testing.T
	dir    string
	out    *syncBuffer
	cancel context.CancelFunc
	ran    chan error
}

func startFakeDevnet(t *testing.T, nodes int, env ...string) *fakeDevnet {
	t.Helper()
	return startFakeDevnetWith(t, Config{Nodes: nodes, Miners: 1, Quiet: true}, env...)
}

// startFakeDevnetWith runs a supervisor of fake peers configured by cfg
// (its Binary, Dir, Out and StartTimeout are the test's).
func startFakeDevnetWith(t *testing.T, cfg Config, env ...string) *fakeDevnet {
	t.Helper()
	t.Setenv(fakePeerEnv, "1")
	for i := 0; i+1 < len(env); i += 2 {
		t.Setenv(env[i], env[i+1])
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDevnet{t: t, dir: t.TempDir(), out: new(syncBuffer), ran: make(chan error, 1)}
	cfg.Binary, cfg.Dir, cfg.Out, cfg.StartTimeout = exe, d.dir, d.out, 30*time.Second
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go func() { d.ran <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-d.ran:
		case <-time.After(30 * time.Second):
			t.Error("the supervisor did not stop")
		}
		if t.Failed() {
			t.Logf("supervisor output:\n%s", d.out.String())
		}
	})
	return d
}

func (d *fakeDevnet) state() *State {
	d.t.Helper()
	st, err := ReadState(d.dir)
	if err != nil {
		d.t.Fatal(err)
	}
	return st
}

func (d *fakeDevnet) blocked(name string) []string {
	d.t.Helper()
	data, err := os.ReadFile(filepath.Join(d.dir, name, "blocked.json"))
	if err != nil {
		d.t.Fatal(err)
	}
	var ids []string
	if err := json.Unmarshal(data, &ids); err != nil {
		d.t.Fatal(err)
	}
	return ids
}

func (d *fakeDevnet) ids(names ...string) []string {
	st := d.state()
	var out []string
	for _, n := range names {
		for _, p := range st.Peers {
			if p.Name == n {
				out = append(out, p.ID)
			}
		}
	}
	sort.Strings(out)
	return out
}

func (d *fakeDevnet) checkBlocked(name string, of ...string) {
	d.t.Helper()
	if got, want := d.blocked(name), d.ids(of...); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
		d.t.Fatalf("%s blocks %v, want the ids of %v", name, got, of)
	}
}

func processGone(pid int) bool {
	// A zombie still answers kill 0; its cmdline is empty.
	data, err := os.ReadFile(filepath.Join("/proc", itoa(pid), "cmdline"))
	return err != nil || len(data) == 0
}

func TestSupervisorCommandsOnFakePeers(t *testing.T) {
	d := startFakeDevnet(t, 4)
	waitFor(t, 30*time.Second, "the peer table", func() bool { return strings.Contains(d.out.String(), "devnet.json:") })
	st := d.state()
	if st.ChainID != fakeChainID || st.Control != SocketFile(d.dir) || st.Dir != d.dir || len(st.Peers) != 4 {
		t.Fatalf("devnet.json: %+v", st)
	}
	for _, p := range st.Peers {
		if !p.Alive || p.PID == 0 || processGone(p.PID) || p.WS != strings.Replace(p.RPC, "http", "ws", 1) || p.Miner != (p.Name == "peer0") {
			t.Fatalf("devnet.json entry: %+v", p)
		}
		if !strings.Contains(d.out.String(), p.RPC) {
			t.Fatalf("the table lacks %s:\n%s", p.RPC, d.out.String())
		}
	}
	if _, err := New(Config{Dir: d.dir, Nodes: 4}); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("a second devnet in the same dir: %v", err)
	}
	c, err := Dial(d.dir)
	if err != nil {
		t.Fatal(err)
	}
	status, err := c.Status()
	if err != nil || len(status) != 4 || status[2].Head != 7 || status[2].Peers != 3 || status[2].Err != "" {
		t.Fatalf("status %+v %v", status, err)
	}

	// Partition, then a second partition over it: only the new cuts hold.
	if err := c.Partition([][]string{{"peer0", "peer2"}, {"peer1", "peer3"}}); err != nil {
		t.Fatal(err)
	}
	d.checkBlocked("peer0", "peer1", "peer3")
	d.checkBlocked("peer3", "peer0", "peer2")
	groups := [][]string{{"peer0"}, {"peer1", "peer2", "peer3"}}
	if err := c.Partition(groups); err != nil {
		t.Fatal(err)
	}
	d.checkBlocked("peer0", "peer1", "peer2", "peer3")
	d.checkBlocked("peer1", "peer0")
	if got := d.state().Partition; !reflect.DeepEqual(got, groups) {
		t.Fatalf("devnet.json partition %v, want %v", got, groups)
	}
	if err := c.Partition([][]string{{"peer0"}, {"peer1", "peer9"}}); err == nil || !strings.Contains(err.Error(), `no peer named "peer9"`) {
		t.Fatalf("partition with an unknown peer: %v", err)
	}

	// Kill: SIGKILL, stays down; restart: a new process, partition again.
	old := d.state().Peers[3]
	if err := c.Kill("peer3"); err != nil {
		t.Fatal(err)
	}
	if p := d.state().Peers[3]; p.Alive || !processGone(old.PID) {
		t.Fatalf("after kill: %+v", p)
	}
	if err := c.Kill("peer3"); err == nil || !strings.Contains(err.Error(), "peer3: it is not running") {
		t.Fatalf("second kill: %v", err)
	}
	status, _ = c.Status()
	if status[3].Alive || status[3].Head != 0 {
		t.Fatalf("status of a killed peer: %+v", status[3])
	}
	if err := c.Restart("peer3"); err != nil {
		t.Fatal(err)
	}
	p3 := d.state().Peers[3]
	if !p3.Alive || p3.PID == old.PID || p3.RPCPort != old.RPCPort {
		t.Fatalf("after restart: %+v (was %+v)", p3, old)
	}
	d.checkBlocked("peer3", "peer0")
	// Restart of a running peer: stopped with SIGINT, started again.
	if err := c.Restart("peer1"); err != nil {
		t.Fatal(err)
	}
	d.checkBlocked("peer1", "peer0")

	if err := c.Heal(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"peer0", "peer1", "peer2", "peer3"} {
		d.checkBlocked(n)
	}
	if d.state().Partition != nil {
		t.Fatal("devnet.json keeps the partition after heal")
	}

	// A peer that dies on its own is reported and stays down.
	p2 := d.state().Peers[2]
	if err := syscall.Kill(p2.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "peer2 marked down", func() bool { return !d.state().Peers[2].Alive })
	if !strings.Contains(d.out.String(), "peer2 (pid "+itoa(p2.PID)+") exited on its own") {
		t.Fatalf("no report of peer2's exit:\n%s", d.out.String())
	}

	// Ctrl-C: every peer stops, the socket goes, devnet.json says so.
	pids := []int{}
	for _, p := range d.state().Peers {
		pids = append(pids, p.PID)
	}
	d.cancel()
	select {
	case err := <-d.ran:
		d.ran <- err // for the cleanup
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	for _, pid := range pids {
		if !processGone(pid) {
			t.Errorf("pid %d still runs after the devnet stopped", pid)
		}
	}
	if _, err := os.Stat(SocketFile(d.dir)); !os.IsNotExist(err) {
		t.Errorf("control socket left behind: %v", err)
	}
	for _, p := range d.state().Peers {
		if p.Alive {
			t.Errorf("devnet.json says %s is alive after the stop", p.Name)
		}
	}
}

func TestRunFailsFastWhenAPeerExits(t *testing.T) {
	d := startFakeDevnet(t, 3, fakeFailEnv, "peer1")
	select {
	case err := <-d.ran:
		d.ran <- err
		if err == nil || !strings.Contains(err.Error(), "peer1 did not come up: the process exited") || !strings.Contains(err.Error(), "fake failure: unknown flag --bogus") {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run still waits for a peer that exited")
	}
	for _, p := range d.state().Peers {
		if p.Alive || (p.PID > 0 && !processGone(p.PID)) {
			t.Errorf("%s (pid %d) still runs after a failed start", p.Name, p.PID)
		}
	}
}
