package rpc

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/peerchain/peerchain/internal/p2p"
)

// shapingNet is a fakeNet whose traffic can be shaped.
type shapingNet struct {
	fakeNet
	shape p2p.Shape
}

func (s *shapingNet) SetShape(sh p2p.Shape) error {
	if err := sh.Validate(); err != nil {
		return err
	}
	s.shape = sh
	return nil
}

func (s *shapingNet) ShapeStatus() p2p.ShapeStatus {
	return p2p.ShapeStatus{Shape: s.shape, LostIn: 3, Since: time.Unix(1_700_000_000, 0)}
}

func TestAdminShape(t *testing.T) {
	net := &shapingNet{}
	e := newEnvWith(t, Config{}, func(b *Backend) { b.Net = net })
	raw, jerr := e.call("admin_setShape", map[string]any{"delayMs": 200, "jitterMs": 20, "loss": 0.05, "rateBits": 1_000_000})
	if jerr != nil {
		t.Fatalf("admin_setShape: %+v", jerr)
	}
	want := p2p.Shape{Delay: 200 * time.Millisecond, Jitter: 20 * time.Millisecond, Loss: 0.05, Rate: 1_000_000}
	if net.shape != want {
		t.Fatalf("the network got %+v, want %+v", net.shape, want)
	}
	var info ShapeInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		t.Fatal(err)
	}
	if info.Text != "delay 200ms±20ms, loss 5%, bandwidth 1mbit" || info.DelayMs != 200 || info.LostIn != 3 || info.Mode != "libp2p" || info.Since == "" {
		t.Fatalf("admin_setShape answered %+v", info)
	}
	if _, jerr := e.call("admin_setShape", map[string]any{"loss": 7}); jerr == nil || !strings.Contains(jerr.Message, "loss 7: must be a fraction between 0 and 1") {
		t.Fatalf("a bad loss: %+v", jerr)
	}
	if net.shape != want {
		t.Fatalf("a refused shape changed the one in force: %+v", net.shape)
	}
	if _, jerr := e.call("admin_setShape", map[string]any{}); jerr != nil || !net.shape.Zero() {
		t.Fatalf("clear: %+v, shape %+v", jerr, net.shape)
	}
	raw, jerr = e.call("admin_shape")
	if jerr != nil || !strings.Contains(string(raw), `"text":"-"`) {
		t.Fatalf("admin_shape after clear: %s %+v", raw, jerr)
	}

	// A network that cannot shape (a light peer's) says so.
	plain := newEnvWith(t, Config{}, func(b *Backend) { b.Net = &fakeNet{} })
	if _, jerr := plain.call("admin_shape"); jerr == nil || !strings.Contains(jerr.Message, "cannot shape its traffic") {
		t.Fatalf("admin_shape without a shaper: %+v", jerr)
	}
	// A provider serves no admin_ method.
	prov := providerEnv(t, Config{}, nil, func(b *Backend) { b.Net = &shapingNet{} })
	if _, jerr := prov.call("admin_setShape", map[string]any{"delayMs": 1}); jerr == nil || jerr.Code != -32601 {
		t.Fatalf("a provider's admin_setShape: %+v", jerr)
	}
}
