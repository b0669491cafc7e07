package devnet

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// pageClient talks to a fake devnet's page API as its page does.
type pageClient struct {
	t    *testing.T
	base string
}

func (d *fakeDevnet) page() *pageClient {
	d.t.Helper()
	waitFor(d.t, 30*time.Second, "the peer table", func() bool { return strings.Contains(d.out.String(), "devnet.json:") })
	st := d.state()
	if st.PagePort == 0 || st.Page != fmt.Sprintf("http://127.0.0.1:%d/", st.PagePort) {
		d.t.Fatalf("devnet.json has no page: %+v", st)
	}
	if !strings.Contains(d.out.String(), "page:        "+st.Page) {
		d.t.Fatalf("the table lacks the page:\n%s", d.out.String())
	}
	return &pageClient{t: d.t, base: strings.TrimSuffix(st.Page, "/")}
}

// do sends a request with the given Host and Origin ("" for none).
func (c *pageClient) do(method, path, host, origin, body string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// post sends a command as the page itself does (its own Origin).
func (c *pageClient) post(path, body string) {
	c.t.Helper()
	if code, msg := c.do("POST", path, "", c.base, body); code != http.StatusNoContent {
		c.t.Fatalf("POST %s %s: %d %s", path, body, code, msg)
	}
}

func (c *pageClient) state() WebState {
	c.t.Helper()
	code, body := c.do("GET", "/api/state", "", "", "")
	if code != http.StatusOK {
		c.t.Fatalf("GET /api/state: %d %s", code, body)
	}
	var st WebState
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		c.t.Fatal(err)
	}
	return st
}

func (st WebState) peer(name string) PeerView {
	for _, p := range st.Peers {
		if p.Name == name {
			return p
		}
	}
	return PeerView{}
}

// events subscribes to /api/events and sends each event's type and data.
func (c *pageClient) events(ctx context.Context) <-chan [2]string {
	c.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"/api/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		c.t.Fatalf("events content type %q", ct)
	}
	out := make(chan [2]string, 1024)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 4<<20)
		var typ string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				typ = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				select {
				case out <- [2]string{typ, line[len("data: "):]}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

// waitEvent waits for an event of type typ whose data satisfies match.
func waitEvent(t *testing.T, ch <-chan [2]string, timeout time.Duration, typ string, match func(string) bool) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e := <-ch:
			if e[0] == typ && match(e[1]) {
				return e[1]
			}
		case <-deadline:
			t.Fatalf("no %q event within %s", typ, timeout)
		}
	}
}

// A web page of another site cannot drive the devnet: neither by naming
// itself in Host (DNS rebinding) nor by posting from its own origin (CSRF).
func TestPageRefusesOtherSites(t *testing.T) {
	d := startFakeDevnet(t, 2)
	c := d.page()
	waitFor(t, 10*time.Second, "the page's first state", func() bool { return c.state().Seq > 0 })

	for _, tc := range []struct {
		method, path, host, origin string
		want                       int
	}{
		{"GET", "/api/state", "evil.example:80", "", http.StatusForbidden}, // rebinding
		{"GET", "/", "attacker.test", "", http.StatusForbidden},            // rebinding
		{"POST", "/api/kill", "evil.example", "http://evil.example", http.StatusForbidden},
		{"POST", "/api/kill", "", "http://evil.example", http.StatusForbidden}, // CSRF
		{"POST", "/api/kill", "", "null", http.StatusForbidden},                // sandboxed frame
		{"POST", "/api/heal", "", "https://127.0.0.1.evil.example", http.StatusForbidden},
		{"GET", "/api/state", "localhost" + c.base[len("http://127.0.0.1"):], "", http.StatusOK},
		{"GET", "/", "", "", http.StatusOK},
	} {
		code, body := c.do(tc.method, tc.path, tc.host, tc.origin, `{"name":"peer1"}`[:map[bool]int{true: 16, false: 0}[tc.method == "POST"]])
		if code != tc.want {
			t.Errorf("%s %s Host %q Origin %q: %d %s, want %d", tc.method, tc.path, tc.host, tc.origin, code, body, tc.want)
		}
	}
	if p := d.state().Peers[1]; !p.Alive {
		t.Fatalf("a refused kill killed peer1: %+v", p)
	}
	// The page is the web UI bundle's devnet.html, with its script.
	if code, body := c.do("GET", "/", "", "", ""); code != http.StatusOK || !strings.Contains(body, "<title>peerchain devnet</title>") || !strings.Contains(body, "assets/devnet.js") {
		t.Fatalf("GET /: %d %.300s", code, body)
	}
	if code, body := c.do("GET", "/assets/devnet.js", "", "", ""); code != http.StatusOK || !strings.Contains(body, "api/events") {
		t.Fatalf("GET /assets/devnet.js: %d %.100s", code, body)
	}
	// A form post (no JSON) is refused too: browsers send those cross-site
	// without asking.
	req, _ := http.NewRequest("POST", c.base+"/api/kill", strings.NewReader("name=peer1"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType || !d.state().Peers[1].Alive {
		t.Fatalf("form post: %d", resp.StatusCode)
	}
}

// Kill through the page: the peer is marked down, in the state and as an
// event, well within 2 s; restart brings it back with its head.
func TestPageKillRestart(t *testing.T) {
	d := startFakeDevnet(t, 3)
	c := d.page()
	waitFor(t, 10*time.Second, "every peer's head", func() bool {
		st := c.state()
		return len(st.Peers) == 3 && st.peer("peer2").HeadHash == common.HexToHash("0xabcdef") && len(st.peer("peer0").Connected) == 2
	})
	st := c.state()
	if got := st.peer("peer0").Connected; !slices.Equal(got, []string{"peer1", "peer2"}) {
		t.Fatalf("peer0 connected to %v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := c.events(ctx)
	start := time.Now()
	c.post("/api/kill", `{"name":"peer2"}`)
	waitEvent(t, events, 2*time.Second, "down", func(data string) bool { return strings.Contains(data, `"peer":"peer2"`) })
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("marked down after %s", took)
	}
	if p := c.state().peer("peer2"); p.Alive {
		t.Fatalf("killed peer2 still alive in the state: %+v", p)
	}
	if code, msg := c.do("POST", "/api/kill", "", c.base, `{"name":"peer2"}`); code != http.StatusBadRequest || !strings.Contains(msg, "not running") {
		t.Fatalf("second kill: %d %s", code, msg)
	}
	c.post("/api/restart", `{"name":"peer2"}`)
	waitEvent(t, events, 2*time.Second, "up", func(data string) bool { return strings.Contains(data, `"peer":"peer2"`) })
	waitFor(t, 5*time.Second, "peer2 back at the head", func() bool {
		p := c.state().peer("peer2")
		return p.Alive && p.HeadHash == common.HexToHash("0xabcdef") && p.PID == d.state().Peers[2].PID
	})
}

// fakeChain is blocks numbered on from parent, hashed with salt.
func fakeChain(parent fakeBlock, salt string, count int) []fakeBlock {
	var out []fakeBlock
	for i := 0; i < count; i++ {
		b := fakeBlock{Number: parent.Number + 1, ParentHash: parent.Hash}
		b.Hash = common.BytesToHash([]byte(fmt.Sprintf("%s-%d", salt, b.Number)))
		out = append(out, b)
		parent = b
	}
	return out
}

func setChain(t *testing.T, d *fakeDevnet, name string, blocks ...[]fakeBlock) {
	t.Helper()
	var all []fakeBlock
	for _, b := range blocks {
		all = append(all, b...)
	}
	for _, p := range d.state().Peers {
		if p.Name == name {
			var ok bool
			if err := call(context.Background(), p.RPC, &ok, "fake_setChain", all); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no peer %s", name)
}

// A partition through the page: the graph loses the cut edges, the block
// tree grows two branches; heal, and the side that lost reorganises with
// its depth.
func TestPagePartitionForkReorg(t *testing.T) {
	d := startFakeDevnet(t, 3)
	c := d.page()
	genesis := fakeBlock{Number: 7, Hash: common.HexToHash("0xabcdef")}
	shared := fakeChain(genesis, "a", 3) // 8, 9, 10
	for _, n := range []string{"peer0", "peer1", "peer2"} {
		setChain(t, d, n, shared)
	}
	waitFor(t, 10*time.Second, "every peer at block 10", func() bool {
		st := c.state()
		for _, p := range st.Peers {
			if p.HeadHash != shared[2].Hash {
				return false
			}
		}
		return true
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := c.events(ctx)

	c.post("/api/partition", `{"groups":[["peer0","peer1"],["peer2"]]}`)
	waitEvent(t, events, 2*time.Second, "partition", func(string) bool { return true })
	left := fakeChain(shared[2], "left", 2)   // 11, 12
	right := fakeChain(shared[2], "right", 3) // 11, 12, 13
	setChain(t, d, "peer0", left)
	setChain(t, d, "peer1", left)
	setChain(t, d, "peer2", right)
	waitFor(t, 10*time.Second, "two branches from block 10 and the cut edges gone", func() bool {
		st := c.state()
		children := map[common.Hash]int{}
		for _, b := range st.Blocks {
			children[b.Parent]++
		}
		p0 := st.peer("peer0")
		return children[shared[2].Hash] == 2 && p0.Group == 0 && st.peer("peer2").Group == 1 &&
			slices.Equal(p0.Connected, []string{"peer1"}) && len(st.peer("peer2").Connected) == 0
	})
	st := c.state()
	for _, b := range st.Blocks {
		if b.Hash == right[2].Hash && (b.FirstPeer != "peer2" || b.Arrivals["peer2"] == 0 || b.Arrivals["peer0"] != 0) {
			t.Fatalf("block 13 of the right branch: %+v", b)
		}
	}

	c.post("/api/heal", `{}`)
	waitEvent(t, events, 2*time.Second, "heal", func(string) bool { return true })
	setChain(t, d, "peer0", right)
	data := waitEvent(t, events, 5*time.Second, "reorg", func(data string) bool { return strings.Contains(data, `"peer":"peer0"`) })
	var ev WebEvent
	if err := json.Unmarshal([]byte(data), &ev); err != nil {
		t.Fatal(err)
	}
	if r := ev.Reorg; r == nil || r.Depth != 2 || r.Ancestor != 10 || r.From != left[1].Hash || r.To != right[2].Hash {
		t.Fatalf("reorg event %+v, want depth 2 over block 10", ev.Reorg)
	}
	waitFor(t, 5*time.Second, "the reorg in the state and the edges back", func() bool {
		st := c.state()
		return len(st.Reorgs) == 1 && st.Reorgs[0].Depth == 2 && st.Partition == nil && len(st.peer("peer2").Connected) == 2
	})
	// The status line reads the page's poller: peer0's head is the new one.
	status := d.supervisorStatus(t)
	if status[0].HeadHash != right[2].Hash || status[0].Head != uint64(right[2].Number) || status[0].Peers != 3 {
		t.Fatalf("status of peer0 %+v", status[0])
	}
}

func (d *fakeDevnet) supervisorStatus(t *testing.T) []PeerStatus {
	t.Helper()
	c, err := Dial(d.dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status()
	if err != nil {
		t.Fatal(err)
	}
	return st
}
