package sync

import (
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/libp2p/go-libp2p/core/peer"
)

// fakeClock is a clock the test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func testID(i int) peer.ID { return peer.ID(fmt.Sprintf("peer-%04d", i)) }

// A liar's claim is tried, then backs off with each strike, and the next
// claim gets its turn; peers with strikes come after those without.
func TestPeerTableRotatesAwayFromFailures(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	tab := newPeerTable(time.Second, clock.now)
	ours := big.NewInt(100)
	liar, honest := testID(1), testID(2)
	tab.claim(liar, common.Hash{1}, 1_000_000, new(big.Int).Lsh(big.NewInt(1), 200))
	tab.claim(honest, common.Hash{2}, 40, big.NewInt(150))
	if p, _, _ := tab.best(ours); p != liar {
		t.Fatalf("first pick %s, want the biggest claim", p)
	}
	if n := tab.fail(liar); n != 1 {
		t.Fatalf("strikes %d", n)
	}
	if p, _, _ := tab.best(ours); p != honest {
		t.Fatalf("after a failure the pick is %s, want the next peer", p)
	}
	clock.advance(1100 * time.Millisecond)
	// Backed off no more, but a peer without strikes still comes first.
	if p, _, _ := tab.best(ours); p != honest {
		t.Fatalf("pick %s, want the peer without strikes", p)
	}
	tab.remove(honest)
	if p, _, ok := tab.best(ours); !ok || p != liar {
		t.Fatalf("pick %s (%v), want the liar's turn again", p, ok)
	}
	tab.fail(liar)
	clock.advance(1500 * time.Millisecond)
	if _, _, ok := tab.best(ours); ok {
		t.Fatal("the second strike must back off twice as long")
	}
	clock.advance(time.Second)
	if _, _, ok := tab.best(ours); !ok {
		t.Fatal("back-off never ends")
	}
	// Strikes survive a reconnection; a success clears them.
	tab.remove(liar)
	tab.claim(liar, common.Hash{1}, 1_000_000, big.NewInt(200))
	if n := tab.strikes(liar); n != 2 {
		t.Fatalf("strikes after reconnecting: %d, want 2", n)
	}
	tab.succeed(liar)
	if n := tab.strikes(liar); n != 0 {
		t.Fatalf("strikes after a success: %d", n)
	}
}

// Claimed work is not proven work.
func TestClaimsAreNotProof(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	tab := newPeerTable(time.Second, clock.now)
	p := testID(1)
	tab.claim(p, common.Hash{1}, 10, big.NewInt(1000))
	st, _ := tab.get(p)
	if st.proven.Sign() != 0 {
		t.Fatalf("a status proved %v", st.proven)
	}
	tab.prove(p, common.Hash{2}, 8, big.NewInt(800))
	st, _ = tab.get(p)
	if st.proven.Int64() != 800 || st.td.Int64() != 1000 {
		t.Fatalf("proven %v claimed %v, want 800 and 1000", st.proven, st.td)
	}
}

// Records and rate-limit buckets of peers long gone are forgotten: the
// maps do not grow with every peer id ever seen.
func TestPeerRecordsAndBucketsArePruned(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	tab := newPeerTable(time.Second, clock.now)
	rl := newRateLimiter(10, 20, clock.now)
	for i := 0; i < maxRecords+500; i++ {
		p := testID(i)
		tab.claim(p, common.Hash{}, 1, big.NewInt(1))
		tab.fail(p)
		tab.remove(p) // disconnected
		rl.allow(p)
		clock.advance(time.Millisecond)
	}
	tab.prune()
	if _, records := tab.size(); records > maxRecords {
		t.Fatalf("%d records held, the bound is %d", records, maxRecords)
	}
	clock.advance(recordMaxAge + time.Minute)
	tab.prune()
	rl.prune()
	if _, records := tab.size(); records != 0 {
		t.Fatalf("%d records of long-gone peers held", records)
	}
	if n := rl.size(); n != 0 {
		t.Fatalf("%d full buckets held", n)
	}
	// A connected peer's record stays.
	tab.claim(testID(1), common.Hash{}, 1, big.NewInt(1))
	clock.advance(2 * recordMaxAge)
	tab.prune()
	if _, records := tab.size(); records != 1 {
		t.Fatalf("a connected peer's record was dropped")
	}
}

// Unknown-parent status requests to one peer are spaced out.
func TestUnknownParentChecksAreRateLimited(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	tab := newPeerTable(time.Second, clock.now)
	p := testID(1)
	if !tab.tryCheck(p) {
		t.Fatal("first check refused")
	}
	for i := 0; i < 100; i++ {
		if tab.tryCheck(p) {
			t.Fatal("a second check within the interval")
		}
	}
	clock.advance(checkInterval)
	if !tab.tryCheck(p) {
		t.Fatal("check refused after the interval")
	}
}

// The byte budget runs into debt for a large answer and refills at its
// rate.
func TestServeBudget(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	rl := newRateLimiter(1000, 2000, clock.now)
	p := testID(1)
	if got := rl.available(p); got != 2000 {
		t.Fatalf("a new peer has %v, want the burst", got)
	}
	rl.spend(p, 5000)
	if got := rl.available(p); got != -3000 {
		t.Fatalf("after a large answer %v, want a debt of 3000", got)
	}
	clock.advance(4 * time.Second)
	if got := rl.available(p); got != 1000 {
		t.Fatalf("after 4 s %v, want 1000", got)
	}
}
