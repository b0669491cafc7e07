package p2p

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Shape is a fault a peer puts on its own traffic, as a slow or lossy
// internet link would: the devnet's `delay`, `loss` and `bandwidth`
// commands set it through admin_setShape. It is applied at the libp2p
// layer, to whole messages, not to packets (no privileges needed):
//
//   - Delay (± Jitter, uniform) is added to every message crossing the
//     peer's link, in either direction: a gossip message it receives
//     waits before it is validated, delivered and relayed; one it
//     publishes waits before it is sent; a request it sends or answers
//     waits before it goes out, and the response it reads waits before
//     it is used. A request/response exchange thus costs two delays, a
//     round trip, as netem on both ends of the link would.
//   - Rate (bits per second) makes the link a queue: a message waits for
//     the ones before it in the same direction, then len×8/Rate.
//   - Loss is the probability that one gossip message (a block or a
//     transaction) is lost, received or published: a lost received
//     message is neither delivered nor relayed (gossipsub has marked it
//     seen, so other copies are dropped too), a lost published one is
//     not sent. The peer learns a lost block later, by sync, when a
//     child or a peer's head names it. Request/response streams are
//     not lost (TCP and QUIC would retransmit them): they see the delay
//     and the rate only.
//
// Connection set-up, pings, identify and the DHT are not shaped.
type Shape struct {
	Delay  time.Duration `json:"delay"`
	Jitter time.Duration `json:"jitter"`
	Loss   float64       `json:"loss"`
	Rate   uint64        `json:"rate"`
}

// Bounds of a Shape.
const (
	MaxShapeDelay = 10 * time.Second
	// MinShapeRate is the slowest link: 8 kbit/s (a 1 MB block takes
	// 1000 s, the stream timeout is 30 s: slower is only a cut).
	MinShapeRate = 8_000
)

// Zero reports whether s shapes nothing.
func (s Shape) Zero() bool { return s == Shape{} }

// Validate checks s against the bounds.
func (s Shape) Validate() error {
	switch {
	case s.Delay < 0 || s.Delay > MaxShapeDelay:
		return fmt.Errorf("delay %s: must be between 0 and %s", s.Delay, MaxShapeDelay)
	case s.Jitter < 0 || s.Jitter > MaxShapeDelay:
		return fmt.Errorf("jitter %s: must be between 0 and %s", s.Jitter, MaxShapeDelay)
	case s.Loss < 0 || s.Loss > 1 || s.Loss != s.Loss:
		return fmt.Errorf("loss %v: must be a fraction between 0 and 1", s.Loss)
	case s.Rate != 0 && s.Rate < MinShapeRate:
		return fmt.Errorf("rate %d bit/s: must be 0 (unlimited) or at least %d bit/s", s.Rate, MinShapeRate)
	}
	return nil
}

// String is the shape as the devnet prints it, "-" when zero.
func (s Shape) String() string {
	if s.Zero() {
		return "-"
	}
	var parts []string
	if s.Delay > 0 || s.Jitter > 0 {
		d := "delay " + s.Delay.String()
		if s.Jitter > 0 {
			d += "±" + s.Jitter.String()
		}
		parts = append(parts, d)
	}
	if s.Loss > 0 {
		parts = append(parts, fmt.Sprintf("loss %g%%", s.Loss*100))
	}
	if s.Rate > 0 {
		parts = append(parts, "bandwidth "+FormatRate(s.Rate))
	}
	out := parts[0]
	for _, p := range parts[1:] {
		out += ", " + p
	}
	return out
}

// FormatRate prints bits per second as tc does: 1mbit, 512kbit, 9600bit.
func FormatRate(r uint64) string {
	switch {
	case r%1_000_000_000 == 0:
		return fmt.Sprintf("%dgbit", r/1_000_000_000)
	case r%1_000_000 == 0:
		return fmt.Sprintf("%dmbit", r/1_000_000)
	case r%1_000 == 0:
		return fmt.Sprintf("%dkbit", r/1_000)
	}
	return fmt.Sprintf("%dbit", r)
}

// ShapeStatus is a Shape in force and what it has done since it was set.
type ShapeStatus struct {
	Shape
	// Since is when the shape was set (zero when none is).
	Since time.Time `json:"since"`
	// Delayed counts messages held back; LostIn and LostOut gossip
	// messages lost on receipt and on publication.
	Delayed uint64 `json:"delayed"`
	LostIn  uint64 `json:"lostIn"`
	LostOut uint64 `json:"lostOut"`
}

// shaper applies a Shape; the zero Shape costs one mutex per message.
type shaper struct {
	mu    sync.Mutex
	st    ShapeStatus
	rng   *rand.Rand
	busy  [2]time.Time // when the link is free again, per direction
	clock func() time.Time
}

// The link's directions.
const (
	dirIn  = 0
	dirOut = 1
)

func newShaper(seed uint64, clock func() time.Time) *shaper {
	return &shaper{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), clock: clock}
}

func (s *shaper) set(sh Shape) error {
	if err := sh.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st = ShapeStatus{Shape: sh}
	if !sh.Zero() {
		s.st.Since = s.clock()
	}
	s.busy = [2]time.Time{}
	return nil
}

func (s *shaper) status() ShapeStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

// plan decides the fate of a message of size bytes crossing the link in
// direction dir: lost (only when lossy, i.e. gossip), or held back wait.
func (s *shaper) plan(dir, size int, lossy bool) (wait time.Duration, lost bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.st.Shape
	if sh.Zero() {
		return 0, false
	}
	if lossy && sh.Loss > 0 && s.rng.Float64() < sh.Loss {
		if dir == dirIn {
			s.st.LostIn++
		} else {
			s.st.LostOut++
		}
		return 0, true
	}
	now := s.clock()
	if sh.Rate > 0 {
		start := now
		if s.busy[dir].After(start) {
			start = s.busy[dir]
		}
		s.busy[dir] = start.Add(time.Duration(float64(size) * 8 / float64(sh.Rate) * float64(time.Second)))
		wait = s.busy[dir].Sub(now)
	}
	d := sh.Delay
	if sh.Jitter > 0 {
		d += time.Duration((s.rng.Float64()*2 - 1) * float64(sh.Jitter))
	}
	wait += max(d, 0)
	if wait > 0 {
		s.st.Delayed++
	}
	return wait, false
}

// errLost is a message the shape lost.
var errLost = errors.New("lost by the link's shape")

// hold waits out the fate plan gives a message: nil when it may go on,
// errLost when the shape lost it, ctx's error when ctx ends first.
func (s *shaper) hold(ctx context.Context, dir, size int, lossy bool) error {
	wait, lost := s.plan(dir, size, lossy)
	if lost {
		return errLost
	}
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SetShape puts sh on this peer's traffic from now on, replacing the one
// in force; the zero Shape clears it.
func (h *Host) SetShape(sh Shape) error {
	if err := h.shaper.set(sh); err != nil {
		return fmt.Errorf("shape: %w", err)
	}
	if sh.Zero() {
		h.log.Info("Traffic shape cleared")
	} else {
		h.log.Info("Traffic shaped", "shape", sh.String())
	}
	return nil
}

// ShapeStatus returns the shape in force and what it has done.
func (h *Host) ShapeStatus() ShapeStatus { return h.shaper.status() }
