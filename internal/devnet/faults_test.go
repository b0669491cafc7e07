package devnet

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFaultRequests(t *testing.T) {
	var f Fault
	steps := []struct {
		req  FaultRequest
		want string // the fault's text after it, or the error
		err  bool
	}{
		{FaultRequest{Kind: "delay", Args: []string{"200ms"}}, "delay 200ms", false},
		{FaultRequest{Kind: "delay", Args: []string{"200ms", "20ms"}}, "delay 200ms±20ms", false},
		{FaultRequest{Kind: "loss", Args: []string{"5%"}}, "delay 200ms±20ms, loss 5%", false},
		{FaultRequest{Kind: "bandwidth", Args: []string{"1mbit"}}, "delay 200ms±20ms, loss 5%, bandwidth 1mbit", false},
		{FaultRequest{Kind: "delay", Args: []string{"0"}}, "loss 5%, bandwidth 1mbit", false},
		{FaultRequest{Kind: "bandwidth", Args: []string{"100kbps"}}, "loss 5%, bandwidth 800kbit", false},
		{FaultRequest{Kind: "loss", Args: []string{"120%"}}, `loss "120%": want a percentage from 0% to 100%`, true},
		{FaultRequest{Kind: "bandwidth", Args: []string{"fast"}}, `bandwidth "fast": want a rate with tc's units`, true},
		{FaultRequest{Kind: "bandwidth", Args: []string{"100bit"}}, "rate 100 bit/s: must be 0 (unlimited) or at least 8000 bit/s", true},
		{FaultRequest{Kind: "delay", Args: []string{"soon"}}, `delay "soon": want a duration such as 200ms`, true},
		{FaultRequest{Kind: "delay", Args: []string{"1m"}}, "delay 1m0s: must be between 0 and 10s", true},
		{FaultRequest{Kind: "delay"}, "delay: want a delay and an optional jitter", true},
		{FaultRequest{Kind: "clear", Args: []string{"now"}}, "clear: want no argument", true},
		{FaultRequest{Kind: "reorder", Args: []string{"1"}}, `fault "reorder": want delay, loss, bandwidth or clear`, true},
		{FaultRequest{Kind: "clear"}, "", false},
	}
	for i, s := range steps {
		next, err := s.req.apply(f)
		switch {
		case s.err && (err == nil || !strings.Contains(err.Error(), s.want)):
			t.Fatalf("step %d %+v: error %v, want %q", i, s.req, err, s.want)
		case s.err:
			continue // f unchanged
		case err != nil || next.Text != s.want:
			t.Fatalf("step %d %+v: %q %v, want %q", i, s.req, next.Text, err, s.want)
		}
		f = next
	}
	if f != (Fault{}) {
		t.Fatalf("after clear: %+v", f)
	}
	for in, want := range map[string]uint64{"1mbit": 1_000_000, "512kbit": 512_000, "1.5mbit": 1_500_000, "1gbit": 1_000_000_000, "9600bit": 9600, "1kbps": 8000, "0": 0, "2MBIT": 2_000_000} {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %d %v, want %d", in, got, err, want)
		}
	}
}

// shapeOf is what fake peer name was last told by admin_setShape.
func (d *fakeDevnet) shapeOf(name string) map[string]any {
	d.t.Helper()
	data, err := os.ReadFile(filepath.Join(d.dir, name, "shape.json"))
	if err != nil {
		d.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		d.t.Fatal(err)
	}
	return m
}

func TestFaultsOnFakePeers(t *testing.T) {
	d := startFakeDevnetWith(t, Config{Nodes: 3, Miners: 1, Providers: 1, Light: 1, Interval: 50 * time.Millisecond})
	waitFor(t, 30*time.Second, "the peer table", func() bool { return strings.Contains(d.out.String(), "devnet.json:") })
	if !strings.Contains(d.out.String(), "faults:      peerchain devnet delay NAME 200ms") {
		t.Fatalf("the table does not tell the fault commands:\n%s", d.out.String())
	}
	c, err := Dial(d.dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Fault(FaultRequest{Name: "peer1", Kind: "delay", Args: []string{"200ms", "20ms"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Fault(FaultRequest{Name: "peer1", Kind: "loss", Args: []string{"5%"}}); err != nil {
		t.Fatal(err)
	}
	if got := d.shapeOf("peer1"); got["delayMs"] != 200.0 || got["jitterMs"] != 20.0 || got["loss"] != 0.05 {
		t.Fatalf("peer1 was told %v, want the delay kept and the loss added", got)
	}
	if got := d.shapeOf("peer0"); len(got) != 0 {
		t.Fatalf("peer0 was shaped too: %v", got)
	}
	const text = "delay 200ms±20ms, loss 5%"
	if p := d.state().Peers[1]; p.Fault == nil || p.Fault.Text != text || p.Fault.Mode != "libp2p" {
		t.Fatalf("devnet.json peer1: %+v", p.Fault)
	}
	status, err := c.Status()
	if err != nil || status[1].Fault == nil || status[1].Fault.Text != text || status[0].Fault != nil {
		t.Fatalf("status: %+v %v", status, err)
	}
	waitFor(t, 10*time.Second, "the live status line to show the fault", func() bool {
		return strings.Contains(d.out.String(), "p3 ["+text+"]")
	})

	// Providers and light peers cannot be shaped; bad values change nothing.
	for _, c2 := range []struct {
		req  FaultRequest
		want string
	}{
		{FaultRequest{Name: "peer2", Kind: "delay", Args: []string{"1s"}}, "peer2 is a provider: it serves no admin_ RPC"},
		{FaultRequest{Name: "light0", Kind: "loss", Args: []string{"1%"}}, "light0 is a light peer"},
		{FaultRequest{Name: "peer9", Kind: "clear"}, `no peer named "peer9"`},
		{FaultRequest{Name: "peer1", Kind: "bandwidth", Args: []string{"lots"}}, `bandwidth peer1: bandwidth "lots"`},
	} {
		if err := c.Fault(c2.req); err == nil || !strings.Contains(err.Error(), c2.want) {
			t.Errorf("%+v: %v, want %q", c2.req, err, c2.want)
		}
	}
	if p := d.state().Peers[1]; p.Fault == nil || p.Fault.Text != text {
		t.Fatalf("a refused fault changed peer1's: %+v", p.Fault)
	}

	// A restarted peer is given its fault again; a killed one cannot get one.
	if err := c.Restart("peer1"); err != nil {
		t.Fatal(err)
	}
	if got := d.shapeOf("peer1"); got["delayMs"] != 200.0 || got["loss"] != 0.05 {
		t.Fatalf("after restart peer1 was told %v", got)
	}
	if err := c.Kill("peer0"); err != nil {
		t.Fatal(err)
	}
	if err := c.Fault(FaultRequest{Name: "peer0", Kind: "delay", Args: []string{"1s"}}); err == nil || !strings.Contains(err.Error(), "cannot shape peer0: it is not running") {
		t.Fatalf("a fault on a killed peer: %v", err)
	}

	// The page's API: the same command from the page's origin, and one
	// from another site's page refused.
	page := d.state().Page
	post := func(origin, body string) int {
		req, err := http.NewRequest("POST", page+"api/fault", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	body := `{"name":"peer1","kind":"bandwidth","args":["1mbit"]}`
	if code := post("http://evil.example", body); code != http.StatusForbidden {
		t.Fatalf("a fault from another site's page: HTTP %d, want 403", code)
	}
	if got := d.shapeOf("peer1"); got["rateBits"] != nil {
		t.Fatalf("a refused page request shaped peer1: %v", got)
	}
	if code := post(strings.TrimSuffix(page, "/"), body); code != http.StatusNoContent {
		t.Fatalf("a fault from the page: HTTP %d, want 204", code)
	}
	if got := d.shapeOf("peer1"); got["rateBits"] != 1e6 {
		t.Fatalf("after the page's bandwidth peer1 was told %v", got)
	}
	waitFor(t, 10*time.Second, "the page's state to show peer1's fault", func() bool {
		resp, err := http.Get(page + "api/state")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st WebState
		if json.NewDecoder(resp.Body).Decode(&st) != nil {
			return false
		}
		return st.Peers[1].Fault != nil && st.Peers[1].Fault.Text == "delay 200ms±20ms, loss 5%, bandwidth 1mbit" && st.Peers[0].Fault == nil
	})

	if err := c.Fault(FaultRequest{Name: "peer1", Kind: "clear"}); err != nil {
		t.Fatal(err)
	}
	if got := d.shapeOf("peer1"); len(got) != 0 {
		t.Fatalf("after clear peer1 was told %v, want an empty shape", got)
	}
	if p := d.state().Peers[1]; p.Fault != nil {
		t.Fatalf("devnet.json after clear: %+v", p.Fault)
	}
}
