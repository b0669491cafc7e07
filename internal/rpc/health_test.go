package rpc

import (
	"encoding/json"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// healthNet is a Network whose peers, sync and best peer's claim the test
// sets.
type healthNet struct {
	fakeNet
	mu      sync.Mutex
	peers   int
	syncing bool
	best    *big.Int
}

func (h *healthNet) set(peers int, syncing bool, best *big.Int) {
	h.mu.Lock()
	h.peers, h.syncing, h.best = peers, syncing, best
	h.mu.Unlock()
}

func (h *healthNet) PeerCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.peers
}

func (h *healthNet) Syncing() (SyncStatus, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return SyncStatus{Starting: 1, Current: 5, Highest: 10}, h.syncing
}

func (h *healthNet) BestPeerTD() *big.Int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.best
}

// The health rules: no sync running, enough peers, a fresh head; a
// peer's claim of more work is reported as lag and decides nothing.
func TestHealthRules(t *testing.T) {
	network := &healthNet{}
	e := newEnvWith(t, Config{HealthMinPeers: 2, HealthMaxHeadAge: time.Minute}, func(b *Backend) { b.Net = network })
	e.mine(3, nil)
	head := e.chain.CurrentBlock()
	td := e.chain.GetTD(head.Hash(), head.NumberU64())
	headTime := time.Unix(int64(head.Time()), 0)
	more := new(big.Int).Add(td, big.NewInt(1000))
	for _, c := range []struct {
		name    string
		peers   int
		syncing bool
		best    *big.Int
		age     time.Duration
		synced  bool
		reasons []string
		lag     int64
	}{
		{"healthy", 2, false, td, 10 * time.Second, true, nil, 0},
		{"a liar claims more work", 3, false, more, 10 * time.Second, true, nil, 1000},
		{"too few peers", 1, false, nil, 10 * time.Second, true, []string{"1 peers, fewer than 2 (--provider.minpeers)"}, 0},
		{"syncing", 2, true, more, 10 * time.Second, false, []string{"syncing: at block 5 of 10"}, 1000},
		{"stale head", 2, false, nil, 2 * time.Minute, false, []string{"head block 3 is 120s old, older than 1m0s (--provider.maxheadage)"}, 0},
		{"all wrong", 0, true, nil, time.Hour, false, []string{"syncing", "0 peers", "older than"}, 0},
	} {
		network.set(c.peers, c.syncing, c.best)
		rep := e.srv.health(headTime.Add(c.age))
		if rep.Healthy != (len(c.reasons) == 0) || rep.Synced != c.synced || rep.Syncing != c.syncing || rep.Peers != c.peers ||
			rep.Head != 3 || rep.HeadAge != c.age.Seconds() || rep.Lag.Int64() != c.lag || len(rep.Reasons) != len(c.reasons) {
			t.Errorf("%s: %+v", c.name, rep)
			continue
		}
		for i, want := range c.reasons {
			if !strings.Contains(rep.Reasons[i], want) {
				t.Errorf("%s: reason %q, want %q", c.name, rep.Reasons[i], want)
			}
		}
	}
}

// GET /health answers load balancers: 200 when healthy, 503 with the
// reasons otherwise, the report as JSON; behind the Host check.
func TestHealthEndpoint(t *testing.T) {
	network := &healthNet{}
	// The test chain's timestamps are not today's: no head is too old here.
	e := newEnvWith(t, Config{HealthMinPeers: 1, HealthMaxHeadAge: 100 * 365 * 24 * time.Hour}, func(b *Backend) { b.Net = network })
	get := func(host string) (int, healthReport) {
		status, body, h := e.rawRequest(http.MethodGet, host, nil, "")
		var rep healthReport
		if status != http.StatusForbidden {
			if err := json.Unmarshal([]byte(body), &rep); err != nil || h.Get("Content-Type") != "application/json" {
				t.Fatalf("GET /health: %d %q (%v)", status, body, err)
			}
		}
		return status, rep
	}
	host := e.srv.Addr().String()
	e.url += "/health"
	network.set(1, false, nil)
	if status, rep := get(host); status != http.StatusOK || !rep.Healthy || !rep.Synced || rep.Peers != 1 || rep.Lag.Sign() != 0 {
		t.Fatalf("healthy: %d %+v", status, rep)
	}
	network.set(0, true, big.NewInt(1<<40))
	if status, rep := get(host); status != http.StatusServiceUnavailable || rep.Healthy || len(rep.Reasons) != 2 || rep.Lag.Sign() <= 0 {
		t.Fatalf("syncing without peers: %d %+v", status, rep)
	}
	if status, _ := get("attacker.example"); status != http.StatusForbidden {
		t.Fatalf("GET /health with a foreign Host: %d", status)
	}
}
