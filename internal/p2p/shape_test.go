package p2p

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// fakeClock is a clock the test moves.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func TestShapePlan(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	s := newShaper(7, clock.Now)
	if w, lost := s.plan(dirIn, 1000, true); w != 0 || lost {
		t.Fatalf("no shape: wait %s lost %v, want nothing", w, lost)
	}

	// Delay with jitter: every wait within delay ± jitter, both ends seen.
	if err := s.set(Shape{Delay: 200 * time.Millisecond, Jitter: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	lo, hi := time.Hour, time.Duration(0)
	for range 2000 {
		w, lost := s.plan(dirIn, 100, true)
		if lost {
			t.Fatal("a message lost without loss")
		}
		lo, hi = min(lo, w), max(hi, w)
	}
	if lo < 150*time.Millisecond || hi > 250*time.Millisecond || lo > 160*time.Millisecond || hi < 240*time.Millisecond {
		t.Fatalf("waits within [%s, %s], want spread over [150ms, 250ms]", lo, hi)
	}

	// Rate: 1 mbit/s makes a queue; 125,000 bytes take a second each, and
	// the second message waits for the first. The other direction is free.
	if err := s.set(Shape{Rate: 1_000_000}); err != nil {
		t.Fatal(err)
	}
	w1, _ := s.plan(dirOut, 125_000, true)
	w2, _ := s.plan(dirOut, 125_000, true)
	w3, _ := s.plan(dirIn, 125_000, true)
	if w1 != time.Second || w2 != 2*time.Second || w3 != time.Second {
		t.Fatalf("1 mbit/s queue: waits %s, %s (out) and %s (in), want 1s, 2s and 1s", w1, w2, w3)
	}
	clock.now = clock.now.Add(5 * time.Second) // the link drained
	if w, _ := s.plan(dirOut, 12_500, true); w != 100*time.Millisecond {
		t.Fatalf("drained link: wait %s, want 100ms", w)
	}

	// Loss: about the fraction asked, only on lossy (gossip) messages.
	if err := s.set(Shape{Loss: 0.05}); err != nil {
		t.Fatal(err)
	}
	lostN := 0
	for range 20_000 {
		if _, lost := s.plan(dirIn, 10, true); lost {
			lostN++
		}
		if _, lost := s.plan(dirIn, 10, false); lost {
			t.Fatal("a stream message lost")
		}
	}
	if lostN < 800 || lostN > 1200 {
		t.Fatalf("5%% loss lost %d of 20000, want about 1000", lostN)
	}
	if st := s.status(); st.LostIn != uint64(lostN) || st.Since.IsZero() {
		t.Fatalf("status %+v, want %d lost in and a start time", st, lostN)
	}
	if err := s.set(Shape{}); err != nil {
		t.Fatal(err)
	}
	if st := s.status(); !st.Since.IsZero() || st.LostIn != 0 {
		t.Fatalf("cleared status %+v, want empty", st)
	}
}

func TestShapeValidate(t *testing.T) {
	for _, c := range []struct {
		s    Shape
		want string
	}{
		{Shape{Delay: -time.Second}, "delay -1s: must be between 0 and 10s"},
		{Shape{Delay: time.Minute}, "delay 1m0s: must be between 0 and 10s"},
		{Shape{Jitter: 11 * time.Second}, "jitter 11s"},
		{Shape{Loss: 1.5}, "loss 1.5: must be a fraction between 0 and 1"},
		{Shape{Loss: -0.1}, "loss -0.1"},
		{Shape{Rate: 100}, "rate 100 bit/s: must be 0 (unlimited) or at least 8000 bit/s"},
	} {
		err := c.s.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want %q", c.s, err, c.want)
		}
	}
	if err := (Shape{Delay: time.Second, Jitter: 2 * time.Second, Loss: 1, Rate: MinShapeRate}).Validate(); err != nil {
		t.Errorf("a shape within bounds refused: %v", err)
	}
	got := Shape{Delay: 200 * time.Millisecond, Jitter: 20 * time.Millisecond, Loss: 0.05, Rate: 1_000_000}.String()
	if got != "delay 200ms±20ms, loss 5%, bandwidth 1mbit" {
		t.Errorf("String = %q", got)
	}
}

// A shaped peer hears gossip late, loses it all at 100% loss, and hears it
// at once again after the shape is cleared; its own publications and
// requests are held back too.
func TestShapeOnRealHosts(t *testing.T) {
	a := newHost(t)
	b := newHost(t, a.Addrs()[0])
	type arrival struct {
		data string
		at   time.Time
	}
	var (
		mu  sync.Mutex
		got = map[*Host][]arrival{}
	)
	topics := map[*Host]*Topic{}
	for _, h := range []*Host{a, b} {
		tp, err := h.JoinTopic("shape", TopicOptions{}, func(context.Context, peer.ID, peer.ID, []byte) Verdict { return Accept },
			func(_, _ peer.ID, data []byte) {
				mu.Lock()
				got[h] = append(got[h], arrival{string(data), time.Now()})
				mu.Unlock()
			})
		if err != nil {
			t.Fatal(err)
		}
		topics[h] = tp
		h.Handle("echo", 64, func(_ context.Context, _ peer.ID, req []byte) ([]byte, error) { return req, nil })
		if err := h.Start(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "topic peers", func() bool { return len(topics[a].Peers()) == 1 && len(topics[b].Peers()) == 1 })
	received := func(h *Host, data string) (time.Time, bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range got[h] {
			if r.data == data {
				return r.at, true
			}
		}
		return time.Time{}, false
	}
	// sendTo publishes data on from and returns how long to reach to.
	sendTo := func(from, to *Host, data string) time.Duration {
		t.Helper()
		start := time.Now()
		if err := topics[from].Publish(context.Background(), []byte(data)); err != nil {
			t.Fatal(err)
		}
		var at time.Time
		waitFor(t, data+" to arrive", func() bool {
			var ok bool
			at, ok = received(to, data)
			return ok
		})
		return at.Sub(start)
	}

	if d := sendTo(a, b, "plain"); d > 150*time.Millisecond {
		t.Fatalf("unshaped gossip took %s", d)
	}
	const delay = 300 * time.Millisecond
	if err := b.SetShape(Shape{Delay: delay}); err != nil {
		t.Fatal(err)
	}
	if d := sendTo(a, b, "in"); d < delay {
		t.Fatalf("gossip into the shaped peer took %s, want at least %s", d, delay)
	}
	if d := sendTo(b, a, "out"); d < delay {
		t.Fatalf("gossip out of the shaped peer took %s, want at least %s", d, delay)
	}
	start := time.Now()
	if _, err := a.Request(context.Background(), b.ID(), "echo", []byte("x"), 64); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 2*delay {
		t.Fatalf("a request answered by the shaped peer took %s, want at least 2×%s", d, delay)
	}

	if err := b.SetShape(Shape{Loss: 1}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"lost1", "lost2", "lost3"} {
		if err := topics[a].Publish(context.Background(), []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "3 messages lost on receipt", func() bool { return b.ShapeStatus().LostIn == 3 })
	if _, ok := received(b, "lost1"); ok {
		t.Fatal("a message arrived through 100% loss")
	}

	if err := b.SetShape(Shape{}); err != nil {
		t.Fatal(err)
	}
	if d := sendTo(a, b, "cleared"); d > 150*time.Millisecond {
		t.Fatalf("after clear, gossip took %s", d)
	}
	if err := b.SetShape(Shape{Loss: 2}); err == nil || !strings.Contains(err.Error(), "loss 2") {
		t.Fatalf("a bad shape: %v", err)
	}
}
