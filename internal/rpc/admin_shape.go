package rpc

import (
	"errors"
	"fmt"
	"time"

	"github.com/peerchain/peerchain/internal/p2p"
)

// Shaper is the optional side of a Network that shapes the peer's own
// traffic (delay, loss, bandwidth at the libp2p layer): the devnet's
// `delay`, `loss`, `bandwidth` and `clear` commands.
type Shaper interface {
	SetShape(p2p.Shape) error
	ShapeStatus() p2p.ShapeStatus
}

// ShapeArgs is a traffic shape as admin_setShape takes it and admin_shape
// reports it; all zero clears it.
type ShapeArgs struct {
	DelayMs  float64 `json:"delayMs"`
	JitterMs float64 `json:"jitterMs"`
	// Loss is the fraction (0 to 1) of gossip messages lost.
	Loss float64 `json:"loss"`
	// RateBits is the link's bandwidth in bits per second, 0 unlimited.
	RateBits uint64 `json:"rateBits"`
}

// ShapeInfo is the shape in force and what it has done since it was set.
type ShapeInfo struct {
	ShapeArgs
	// Text is the shape as the devnet prints it ("-" for none).
	Text string `json:"text"`
	// Mode is where it is applied: "libp2p" (whole messages in this
	// process).
	Mode    string `json:"mode"`
	Since   string `json:"since,omitempty"`
	Delayed uint64 `json:"delayed"`
	LostIn  uint64 `json:"lostIn"`
	LostOut uint64 `json:"lostOut"`
}

var errNoShaper = errors.New("this peer cannot shape its traffic (a light peer, or no peer-to-peer networking)")

// adminShapeAPI is the admin_ methods of traffic shaping.
type adminShapeAPI struct{ b Backend }

func (api *adminShapeAPI) shaper() (Shaper, error) {
	if s, ok := api.b.Net.(Shaper); ok {
		return s, nil
	}
	return nil, errNoShaper
}

// SetShape is admin_setShape: put a delay (± jitter), a loss rate of
// gossip messages and a bandwidth on this peer's own traffic, replacing
// the shape in force; all zero clears it.
func (api *adminShapeAPI) SetShape(args ShapeArgs) (ShapeInfo, error) {
	s, err := api.shaper()
	if err != nil {
		return ShapeInfo{}, err
	}
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	sh := p2p.Shape{Delay: ms(args.DelayMs), Jitter: ms(args.JitterMs), Loss: args.Loss, Rate: args.RateBits}
	if err := s.SetShape(sh); err != nil {
		return ShapeInfo{}, fmt.Errorf("admin_setShape: %w", err)
	}
	return shapeInfo(s.ShapeStatus()), nil
}

// Shape is admin_shape: the shape in force and what it has done.
func (api *adminShapeAPI) Shape() (ShapeInfo, error) {
	s, err := api.shaper()
	if err != nil {
		return ShapeInfo{}, err
	}
	return shapeInfo(s.ShapeStatus()), nil
}

func shapeInfo(st p2p.ShapeStatus) ShapeInfo {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	out := ShapeInfo{
		ShapeArgs: ShapeArgs{DelayMs: ms(st.Delay), JitterMs: ms(st.Jitter), Loss: st.Loss, RateBits: st.Rate},
		Text:      st.Shape.String(), Mode: "libp2p",
		Delayed: st.Delayed, LostIn: st.LostIn, LostOut: st.LostOut,
	}
	if !st.Since.IsZero() {
		out.Since = st.Since.UTC().Format(time.RFC3339)
	}
	return out
}
