package devnet

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/peerchain/peerchain/internal/p2p"
)

// The kinds of fault a peer's link can be given.
const (
	FaultDelay     = "delay"
	FaultLoss      = "loss"
	FaultBandwidth = "bandwidth"
	FaultClear     = "clear"
)

// Fault is the shape a full peer puts on its own traffic (admin_setShape;
// the JSON names are its parameters): delay ± jitter on every message in
// and out, a fraction of gossip messages lost, a bandwidth. It is applied
// at the libp2p layer, to whole messages, by the peer itself: see
// p2p.Shape for exactly what each part does.
type Fault struct {
	DelayMs  float64 `json:"delayMs,omitempty"`
	JitterMs float64 `json:"jitterMs,omitempty"`
	// Loss is a fraction, 0 to 1.
	Loss     float64 `json:"loss,omitempty"`
	RateBits uint64  `json:"rateBits,omitempty"`
	// Text is the fault as the status prints it: "delay 200ms±20ms,
	// loss 5%, bandwidth 1mbit".
	Text string `json:"text,omitempty"`
	// Mode is where it is applied: "libp2p" (by the peer), or "netem" or
	// "tbf" (the qdisc tc puts on the peer's veth, both ends, with
	// Config.NetNS).
	Mode string `json:"mode,omitempty"`
}

func (f Fault) shape() p2p.Shape {
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	return p2p.Shape{Delay: ms(f.DelayMs), Jitter: ms(f.JitterMs), Loss: f.Loss, Rate: f.RateBits}
}

// FaultRequest is a fault command: `peerchain devnet delay peer2 200ms
// 20ms` is {Name: "peer2", Kind: "delay", Args: ["200ms", "20ms"]}.
type FaultRequest struct {
	Name string   `json:"name"`
	Kind string   `json:"kind"`
	Args []string `json:"args"`
}

// apply returns f with the request's part set (a delay, loss or bandwidth
// of 0 removes that part; clear removes all).
func (r FaultRequest) apply(f Fault) (Fault, error) {
	argc := func(lo, hi int, usage string) error {
		if len(r.Args) < lo || len(r.Args) > hi {
			return fmt.Errorf("%s: want %s, got %d arguments %q", r.Kind, usage, len(r.Args), r.Args)
		}
		return nil
	}
	switch r.Kind {
	case FaultDelay:
		if err := argc(1, 2, "a delay and an optional jitter, e.g. 200ms 20ms"); err != nil {
			return f, err
		}
		d, err := parseDelay("delay", r.Args[0])
		if err != nil {
			return f, err
		}
		var j time.Duration
		if len(r.Args) == 2 {
			if j, err = parseDelay("jitter", r.Args[1]); err != nil {
				return f, err
			}
		}
		f.DelayMs, f.JitterMs = float64(d)/float64(time.Millisecond), float64(j)/float64(time.Millisecond)
	case FaultLoss:
		if err := argc(1, 1, "a percentage, e.g. 5%"); err != nil {
			return f, err
		}
		loss, err := ParseLoss(r.Args[0])
		if err != nil {
			return f, err
		}
		f.Loss = loss
	case FaultBandwidth:
		if err := argc(1, 1, "a rate as tc writes it, e.g. 1mbit"); err != nil {
			return f, err
		}
		rate, err := ParseRate(r.Args[0])
		if err != nil {
			return f, err
		}
		f.RateBits = rate
	case FaultClear:
		if err := argc(0, 0, "no argument"); err != nil {
			return f, err
		}
		return Fault{}, nil
	default:
		return f, fmt.Errorf("fault %q: want delay, loss, bandwidth or clear", r.Kind)
	}
	sh := f.shape()
	if err := sh.Validate(); err != nil {
		return f, err
	}
	f.Text, f.Mode = sh.String(), "libp2p"
	if sh.Zero() {
		return Fault{}, nil
	}
	return f, nil
}

func parseDelay(what, s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q: want a duration such as 200ms or 1s: %w", what, s, err)
	}
	if d < 0 || d > p2p.MaxShapeDelay {
		return 0, fmt.Errorf("%s %s: must be between 0 and %s", what, d, p2p.MaxShapeDelay)
	}
	return d, nil
}

// ParseLoss reads a loss percentage ("5%" or "5") as a fraction.
func ParseLoss(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || math.IsNaN(v) || v < 0 || v > 100 {
		return 0, fmt.Errorf("loss %q: want a percentage from 0%% to 100%%, e.g. 5%%", s)
	}
	return v / 100, nil
}

// rateUnits are tc's: bit, kbit, mbit, gbit (bits per second, SI) and
// bps, kbps, mbps, gbps (bytes per second).
var rateUnits = []struct {
	suffix string
	bits   float64
}{
	{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1},
	{"gbps", 8e9}, {"mbps", 8e6}, {"kbps", 8e3}, {"bps", 8},
}

// ParseRate reads a rate as tc writes it (1mbit, 512kbit, 100kbps) in bits
// per second; "0" is unlimited.
func ParseRate(s string) (uint64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "0" {
		return 0, nil
	}
	for _, u := range rateUnits {
		if num, ok := strings.CutSuffix(t, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || math.IsNaN(v) || v < 0 || v*u.bits > 1e12 {
				break
			}
			return uint64(math.Round(v * u.bits)), nil
		}
	}
	return 0, fmt.Errorf("bandwidth %q: want a rate with tc's units, e.g. 1mbit, 512kbit or 100kbps (bytes), or 0 for unlimited", s)
}

// SetFault changes a full peer's fault and tells the peer (admin_setShape);
// a restart gives it to the peer again. Providers (no admin_ RPC) and
// light peers cannot be given one.
func (s *Supervisor) SetFault(ctx context.Context, req FaultRequest) error {
	p, err := s.peer(req.Name)
	if err != nil {
		return err
	}
	s.ops.Lock()
	defer s.ops.Unlock()
	info := s.infoOf(p)
	switch {
	case s.net != nil && info.Kind != KindLight:
		// tc shapes the link; the peer needs neither admin_ nor to run.
	case info.Kind == KindProvider:
		return fmt.Errorf("%s is a provider: it serves no admin_ RPC, so it cannot be told to shape its traffic; give the fault to a full peer", req.Name)
	case info.Kind == KindLight:
		return fmt.Errorf("%s is a light peer: faults shape a full peer's libp2p traffic", req.Name)
	case !info.Alive:
		return fmt.Errorf("cannot shape %s: it is not running (restart it first)", req.Name)
	}
	var cur Fault
	if info.Fault != nil {
		cur = *info.Fault
	}
	next, err := req.apply(cur)
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Kind, req.Name, err)
	}
	if s.net != nil {
		if err := s.shapeNetNS(info, &next); err != nil {
			return err
		}
	} else if err := tellFault(ctx, info, next); err != nil {
		return err
	}
	s.mu.Lock()
	if next == (Fault{}) {
		p.info.Fault = nil
	} else {
		p.info.Fault = &next
	}
	s.writeStateLocked()
	s.mu.Unlock()
	if s.web != nil {
		s.web.poke()
	}
	if next == (Fault{}) {
		fmt.Fprintf(s.cfg.Out, "%s: link cleared\n", req.Name)
	} else {
		fmt.Fprintf(s.cfg.Out, "%s: %s (%s)\n", req.Name, next.Text, modeText(next.Mode))
	}
	return nil
}

func modeText(mode string) string {
	if mode == "libp2p" {
		return "at the libp2p layer"
	}
	return "tc " + mode + " on its veth, both ends"
}

// tellFault gives a peer its fault (the zero Fault clears it). A fault put
// on a link by tc (Config.NetNS) is not the peer's: the veth keeps it
// across the peer's restarts, and there is nothing to tell.
func tellFault(ctx context.Context, info Peer, f Fault) error {
	if f.Mode != "" && f.Mode != "libp2p" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var out struct {
		Text string `json:"text"`
	}
	if err := call(ctx, info.RPC, &out, "admin_setShape", f); err != nil {
		return fmt.Errorf("shape %s (admin_setShape at %s): %w", info.Name, info.RPC, err)
	}
	return nil
}
