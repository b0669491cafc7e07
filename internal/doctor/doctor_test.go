package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/peerchain/peerchain/internal/params"
)

// fakeClock advances only when slept on.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }
func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.t = c.t.Add(d)
	return nil
}

// fakePeer answers from fields; a test plants a fault by changing one.
type fakePeer struct {
	clk      *fakeClock
	info     Info
	infoErr  error
	statuses []SyncStatus // one per Status call; At is set from the clock
	calls    int
	conns    []Conn
	blocks   func(now time.Time) []BlockTime
	arrivals []Arrival
	exp      Exposure
	err      error // every call fails with it
}

func (p *fakePeer) Info(context.Context) (Info, error) {
	if p.err != nil {
		return Info{}, p.err
	}
	return p.info, p.infoErr
}

func (p *fakePeer) Status(context.Context) (SyncStatus, error) {
	if p.err != nil {
		return SyncStatus{}, p.err
	}
	s := p.statuses[min(p.calls, len(p.statuses)-1)]
	p.calls++
	s.At = p.clk.Now()
	return s, nil
}

func (p *fakePeer) Peers(context.Context) ([]Conn, error) { return p.conns, p.err }
func (p *fakePeer) Blocks(_ context.Context, n int) ([]BlockTime, error) {
	if p.err != nil {
		return nil, p.err
	}
	return p.blocks(p.clk.Now()), nil
}
func (p *fakePeer) Arrivals(context.Context) ([]Arrival, error) { return p.arrivals, p.err }
func (p *fakePeer) Exposure(context.Context) (Exposure, error)  { return p.exp, p.err }

type fakeDisk struct {
	free, total uint64
	sizes       []int64
	calls       int
}

func (d *fakeDisk) Space(string) (uint64, uint64, error) { return d.free, d.total, nil }
func (d *fakeDisk) Size(string) (int64, error) {
	s := d.sizes[min(d.calls, len(d.sizes)-1)]
	d.calls++
	return s, nil
}

type fakeDialer map[string]error

func (f fakeDialer) Dial(_ context.Context, a string) error { return f[a] }

// healthy is a peer in good order: in sync on a chain with 2-second
// blocks, 8 peers from 4 public networks both ways, a public address
// that answers, loopback RPC, no skew.
func healthy() (*fakePeer, *fakeDisk, Config) {
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	start := clk.t
	p := &fakePeer{clk: clk,
		info:     Info{Client: params.ClientName + "/v" + params.Version, ID: "12D3KooWpeer", Listen: []string{"/ip4/203.0.113.7/tcp/30333/p2p/12D3KooWpeer"}},
		statuses: []SyncStatus{{Current: 100, Highest: 100, HeadTime: start.Add(-time.Second)}, {Current: 105, Highest: 105, HeadTime: start.Add(9 * time.Second)}},
		exp:      Exposure{URL: "http://127.0.0.1:8545", Bound: []string{"127.0.0.1:8545"}},
	}
	for i := 0; i < 8; i++ {
		p.conns = append(p.conns, Conn{ID: fmt.Sprint("p", i), Addrs: []string{fmt.Sprintf("/ip4/%d.1.2.3/tcp/30333", 10+i%4*50)}, Inbound: i%2 == 0, Head: 105})
	}
	// Blocks every 2 s up to the clock, arriving 1.5 s after their stamps.
	p.blocks = func(now time.Time) []BlockTime {
		var out []BlockTime
		for i := 0; i < recentBlocks; i++ {
			out = append(out, BlockTime{Number: 105 - uint64(i), Time: now.Add(-time.Second - time.Duration(2*i)*time.Second)})
		}
		return out
	}
	for i := 0; i < 10; i++ {
		p.arrivals = append(p.arrivals, Arrival{Number: 95 + uint64(i), Delay: 1500 * time.Millisecond})
	}
	d := &fakeDisk{free: 500 << 30, total: 1 << 40, sizes: []int64{10 << 30, 10<<30 + 1<<20}}
	cfg := Config{Peer: p, PeerURL: "http://127.0.0.1:8545", DataDir: "/data", Disk: d, Dialer: fakeDialer{},
		Clock: clk, Window: 10 * time.Second}
	return p, d, cfg
}

func run(t *testing.T, cfg Config) map[string]Result {
	t.Helper()
	rs, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Result{}
	for _, r := range rs {
		if _, dup := out[r.Name]; dup {
			t.Fatalf("check %s reported twice", r.Name)
		}
		if r.What == "" || (r.Status != OK && r.Fix == "") {
			t.Errorf("check %s (%s) says too little: what %q, fix %q", r.Name, r.Status, r.What, r.Fix)
		}
		out[r.Name] = r
	}
	return out
}

func TestHealthyPeerAllOK(t *testing.T) {
	_, _, cfg := healthy()
	rs := run(t, cfg)
	for _, name := range []string{"version", "rpc-exposure", "peers", "p2p-reachability", "clock", "disk", "sync"} {
		r, ok := rs[name]
		if !ok {
			t.Errorf("check %s missing", name)
			continue
		}
		if r.Status != OK {
			t.Errorf("healthy peer: %s is %s: %s", name, r.Status, r.What)
		}
	}
}

// Each planted fault is found by its check and only that check fails.
func TestPlantedFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		plant  func(p *fakePeer, d *fakeDisk, cfg *Config)
		check  string
		status Status
		says   string
	}{
		{"clock behind: head from the future", func(p *fakePeer, _ *fakeDisk, _ *Config) {
			p.blocks = func(now time.Time) []BlockTime {
				return []BlockTime{{Number: 105, Time: now.Add(2 * time.Minute)}, {Number: 104, Time: now.Add(118 * time.Second)}}
			}
		}, "clock", Fail, "ahead of this machine's clock"},
		{"clock ahead: blocks arrive a minute after their stamps", func(p *fakePeer, _ *fakeDisk, _ *Config) {
			for i := range p.arrivals {
				p.arrivals[i].Delay = time.Minute
			}
		}, "clock", Fail, "this clock is ahead of the network's"},
		{"clock ahead, no arrivals: fresh blocks stamped in the past", func(p *fakePeer, _ *fakeDisk, _ *Config) {
			p.arrivals = nil
			p.blocks = func(now time.Time) []BlockTime {
				var out []BlockTime
				for i := 0; i < recentBlocks; i++ {
					out = append(out, BlockTime{Number: 105 - uint64(i), Time: now.Add(-90*time.Second - time.Duration(2*i)*time.Second)})
				}
				return out
			}
		}, "clock", Fail, "blocks imported during the check"},
		{"slight skew", func(p *fakePeer, _ *fakeDisk, _ *Config) {
			p.blocks = func(now time.Time) []BlockTime { return []BlockTime{{Number: 105, Time: now.Add(8 * time.Second)}} }
		}, "clock", Warn, "seems behind"},
		{"no peers", func(p *fakePeer, _ *fakeDisk, _ *Config) { p.conns = nil }, "peers", Fail, "no full peers"},
		{"two peers", func(p *fakePeer, _ *fakeDisk, _ *Config) { p.conns = p.conns[:2] }, "peers", Warn, "only 2 full peer"},
		{"all inbound", func(p *fakePeer, _ *fakeDisk, _ *Config) {
			for i := range p.conns {
				p.conns[i].Inbound = true
			}
		}, "peers", Warn, "dialled in"},
		{"one network", func(p *fakePeer, _ *fakeDisk, _ *Config) {
			for i := range p.conns {
				p.conns[i].Addrs = []string{fmt.Sprintf("/ip4/198.51.%d.1/tcp/1", i)}
			}
		}, "peers", Warn, "198.51.0.0/16"},
		{"disk full", func(_ *fakePeer, d *fakeDisk, _ *Config) { d.free = 300 << 20 }, "disk", Fail, "only 300.0 MiB free"},
		{"disk fills in hours", func(_ *fakePeer, d *fakeDisk, _ *Config) {
			d.sizes = []int64{10 << 30, 10<<30 + 100<<20} // 10 MiB/s against 500 GiB: ~14 h
		}, "disk", Fail, "full in about 0.6 days"},
		{"disk fills in days", func(_ *fakePeer, d *fakeDisk, _ *Config) {
			d.sizes = []int64{10 << 30, 10<<30 + 10<<20} // 1 MiB/s: ~6 days
		}, "disk", Warn, "full in about 5.9 days"},
		{"data dir missing", func(_ *fakePeer, _ *fakeDisk, cfg *Config) {
			cfg.Disk = OSDisk{}
			cfg.DataDir = "/nonexistent/peerchain"
		}, "disk", Fail, "/nonexistent/peerchain"},
		{"rpc public with unlocked accounts", func(p *fakePeer, _ *fakeDisk, _ *Config) {
			p.exp = Exposure{URL: "http://127.0.0.1:8545", Bound: []string{"0.0.0.0:8545"}, Public: true, Signing: true, Accounts: []string{"0xf39F"}}
		}, "rpc-exposure", Fail, "unlocked account"},
		{"rpc public without provider", func(p *fakePeer, _ *fakeDisk, _ *Config) {
			p.exp = Exposure{URL: "http://127.0.0.1:8545", Bound: []string{"0.0.0.0:8545"}, Public: true, Signing: true}
		}, "rpc-exposure", Fail, "no --provider"},
		{"rpc cors open with accounts", func(p *fakePeer, _ *fakeDisk, _ *Config) {
			p.exp = Exposure{URL: "http://127.0.0.1:8545", AnyOrigin: true, Signing: true, Accounts: []string{"0xf39F"}}
		}, "rpc-exposure", Fail, "any web page"},
		{"rpc any host", func(p *fakePeer, _ *fakeDisk, _ *Config) { p.exp.AnyHost = true }, "rpc-exposure", Warn, "DNS rebinding"},
		{"sync stalled", func(p *fakePeer, _ *fakeDisk, _ *Config) {
			p.statuses = []SyncStatus{{Syncing: true, Current: 500, Highest: 9_000}, {Syncing: true, Current: 500, Highest: 9_000}}
		}, "sync", Fail, "stalled at block 500 of 9000"},
		{"behind peers, not syncing", func(p *fakePeer, _ *fakeDisk, _ *Config) { p.conns[3].Head = 400 }, "sync", Warn, "claims block 400"},
		{"head stale", func(p *fakePeer, _ *fakeDisk, _ *Config) {
			old := p.clk.t.Add(-time.Hour)
			p.statuses = []SyncStatus{{Current: 105, Highest: 105, HeadTime: old}}
			p.blocks = func(time.Time) []BlockTime { return []BlockTime{{105, old}, {104, old.Add(-2 * time.Second)}} }
			p.arrivals = nil
		}, "sync", Warn, "head is 1h0m10s old"},
		{"unreachable address", func(_ *fakePeer, _ *fakeDisk, cfg *Config) {
			cfg.Dialer = fakeDialer{"/ip4/203.0.113.7/tcp/30333/p2p/12D3KooWpeer": errors.New("connection refused")}
		}, "p2p-reachability", Fail, "connection refused"},
		{"loopback only", func(p *fakePeer, _ *fakeDisk, _ *Config) {
			p.info.Listen = []string{"/ip4/127.0.0.1/tcp/30333/p2p/x"}
		}, "p2p-reachability", Warn, "loopback only"},
		{"old version", func(p *fakePeer, _ *fakeDisk, _ *Config) { p.info.Client = "peerchain/v0.0.1" }, "version", Warn, "0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, d, cfg := healthy()
			tc.plant(p, d, &cfg)
			rs := run(t, cfg)
			r := rs[tc.check]
			if r.Status != tc.status || !strings.Contains(r.What, tc.says) {
				t.Fatalf("%s: got %s %q; want %s saying %q", tc.check, r.Status, r.What, tc.status, tc.says)
			}
			for name, o := range rs {
				if name != tc.check && o.Status == Fail {
					t.Errorf("fault in %s also failed %s: %s", tc.check, name, o.What)
				}
			}
		})
	}
}

// A syncing peer gets an ETA from the rate measured over the window.
func TestSyncETA(t *testing.T) {
	p, _, cfg := healthy()
	p.statuses = []SyncStatus{{Syncing: true, Current: 1_000, Highest: 11_000}, {Syncing: true, Current: 1_500, Highest: 11_000}}
	r := run(t, cfg)["sync"]
	// 500 blocks in 10 s = 50/s; 9,500 left = 190 s.
	if r.Status != OK || !strings.Contains(r.What, "50.0 blocks/s") || !strings.Contains(r.What, "about 3m10s left") {
		t.Fatalf("sync: %s %q", r.Status, r.What)
	}
}

// A peer that answers nothing, or garbage errors, yields findings, not a
// crash.
func TestBrokenPeer(t *testing.T) {
	p, _, cfg := healthy()
	p.err = errors.New("connection reset")
	rs := run(t, cfg)
	for _, name := range []string{"version", "peers", "sync"} {
		if rs[name].Status != Fail || !strings.Contains(rs[name].What, "connection reset") {
			t.Errorf("%s: %s %q; want fail naming the error", name, rs[name].Status, rs[name].What)
		}
	}
	// No peer at all: one finding for it, the disk still checked.
	cfg.Peer, cfg.PeerErr = nil, errors.New("connection refused")
	rs = run(t, cfg)
	if rs["peer"].Status != Fail || !strings.Contains(rs["peer"].What, "connection refused") || rs["disk"].Status != OK {
		t.Fatalf("no peer: %+v", rs)
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 2 << 20: "2.0 MiB", 3 << 30: "3.0 GiB", 5 << 40: "5.0 TiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}
