package rpc

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// plainHTTP serves every connection of a server with net/http alone.
func plainHTTP(s *Server) { s.plainHTTP = true }

// exchange writes raw to a new connection to addr and reads n answers;
// an answer is its status, headers but Date, and body, or how reading it
// ended.
func exchange(t *testing.T, addr, raw string, n int) []string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var out []string
	for i := 0; i < n; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			out = append(out, "read: "+err.Error())
			break
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			out = append(out, "body: "+err.Error())
			break
		}
		var lines []string
		for k, v := range resp.Header {
			if k != "Date" {
				lines = append(lines, k+": "+strings.Join(v, ", "))
			}
		}
		slices.Sort(lines)
		if _, ok := resp.Header["Date"]; !ok {
			lines = append(lines, "(no Date)")
		}
		out = append(out, fmt.Sprintf("%s %s\n%s\n\n%s", resp.Proto, resp.Status, strings.Join(lines, "\n"), body))
	}
	return out
}

func post(path, host string, headers []string, body string) string {
	h := ""
	for _, x := range headers {
		h += x + "\r\n"
	}
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s", path, host, h, len(body), body)
}

// TestConnServerMatchesNetHTTP sends the same bytes to a server with the
// connection server and to one served by net/http alone: every answer
// must be the same (but its Date), whether the connection server serves
// the request or hands the connection to net/http.
func TestConnServerMatchesNetHTTP(t *testing.T) {
	cfg := Config{CORSOrigins: []string{"http://good.example"}}
	e := newEnv(t, cfg)
	e.mine(3, nil)
	plain := twin(t, e, cfg, plainHTTP)
	host := e.srv.Addr().String()
	bn := `{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}`
	bal := `{"jsonrpc":"2.0","id":2,"method":"eth_getBalance","params":["0x0000000000000000000000000000000000000077","latest"]}`
	cold := `{"jsonrpc":"2.0","id":3,"method":"net_version"}`
	bad := `{"jsonrpc":"2.0","id":4,"method":"eth_getBalance","params":["0x12"]}`
	big := `{"jsonrpc":"2.0","id":5,"method":"eth_blockNumber","params":[],"pad":"` + strings.Repeat("x", 70<<10) + `"}`
	cases := []struct {
		name    string
		raw     string
		answers int
		served  bool // the connection server answers (at least the first)
	}{
		{"hot", post("/", host, nil, bn), 1, true},
		{"cold", post("/", host, nil, cold), 1, true},
		{"error", post("/", host, nil, bad), 1, true},
		{"batch", post("/", host, nil, "["+bn+","+bal+","+cold+"]"), 1, true},
		{"keep-alive, pipelined", post("/", host, nil, bn) + post("/", host, nil, bal) + post("/", host, nil, cold), 3, true},
		{"path and query", post("/some/path?x=1", host, nil, bn), 1, true},
		{"lower-case names", strings.ReplaceAll(post("/", host, nil, bn), "Content-Type", "content-type"), 1, true},
		{"odd header", post("/", host, []string{"X-Thing:  spaced  ", "accept: */*"}, bn), 1, true},
		{"bad host", post("/", "evil.example", nil, bn), 1, true},
		{"allowed origin", post("/", host, []string{"Origin: http://good.example"}, bn), 1, true},
		{"foreign origin", post("/", host, []string{"Origin: http://evil.example"}, bn), 1, true},
		{"own origin", post("/", host, []string{"Origin: http://" + host}, bn), 1, true},
		{"text/plain", strings.Replace(post("/", host, nil, bn), "application/json", "text/plain", 1), 1, true},
		{"empty body", post("/", host, nil, ""), 1, true},
		{"then a GET", post("/", host, nil, bn) + "GET /nohealth HTTP/1.1\r\nHost: " + host + "\r\n\r\n" + post("/", host, nil, bal), 3, true},
		{"then metrics", post("/", host, nil, bn) + "GET /nometrics HTTP/1.1\r\nHost: " + host + "\r\n\r\n", 2, true},
		{"GET", "GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n", 1, false},
		{"OPTIONS", "OPTIONS / HTTP/1.1\r\nHost: " + host + "\r\nOrigin: http://good.example\r\nAccess-Control-Request-Method: POST\r\n\r\n", 1, false},
		{"HTTP/1.0", strings.Replace(post("/", host, nil, bn), "HTTP/1.1", "HTTP/1.0", 1), 1, false},
		{"chunked", "POST / HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
			fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(bn), bn), 1, false},
		{"expect", post("/", host, []string{"Expect: 100-continue"}, bn), 1, false},
		{"connection close", post("/", host, []string{"Connection: close"}, bn), 1, false},
		{"no host", strings.Replace(post("/", host, nil, bn), "Host: "+host+"\r\n", "", 1), 1, false},
		{"two hosts", post("/", host, []string{"Host: " + host}, bn), 1, false},
		{"folded header", post("/", host, []string{"X-A: b", " c"}, bn), 1, false},
		{"bad header name", post("/", host, []string{"X A: b"}, bn), 1, false},
		{"no colon", post("/", host, []string{"XA"}, bn), 1, false},
		{"large body", post("/", host, nil, big), 1, false},
		{"two lengths", post("/", host, []string{"Content-Length: 3"}, bn), 1, false},
		{"signed length", strings.Replace(post("/", host, nil, bn), fmt.Sprintf("Content-Length: %d", len(bn)), fmt.Sprintf("Content-Length: +%d", len(bn)), 1), 1, false},
		{"body past its length", post("/", host, nil, bn) + "garbage\r\n\r\n", 2, true},
		{"long head", post("/", host, []string{"X-Pad: " + strings.Repeat("p", 5000)}, bn), 1, false},
		{"absolute target", strings.Replace(post("/", host, nil, bn), "POST / ", "POST http://"+host+"/ ", 1), 1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			served, handed := e.srv.conns.served.Load(), e.srv.conns.handed.Load()
			got := exchange(t, e.srv.Addr().String(), c.raw, c.answers)
			want := exchange(t, plain.Addr().String(), strings.ReplaceAll(c.raw, host, plain.Addr().String()), c.answers)
			for i := range want {
				want[i] = strings.ReplaceAll(want[i], plain.Addr().String(), host)
			}
			if !slices.Equal(got, want) {
				t.Errorf("connection server:\n%s\nnet/http:\n%s", strings.Join(got, "\n----\n"), strings.Join(want, "\n----\n"))
			}
			if len(want) != c.answers {
				t.Errorf("%d answers, want %d: %q", len(want), c.answers, want)
			}
			if took := e.srv.conns.served.Load() > served; took != c.served {
				t.Errorf("served by the connection server: %v, want %v (handed to net/http: %d)", took, c.served, e.srv.conns.handed.Load()-handed)
			}
		})
	}
}

// TestConnServerProvider compares a provider's answers over the
// connection server and net/http: API keys in the path and header, the
// rate limit's 429 with Retry-After, unknown keys.
func TestConnServerProvider(t *testing.T) {
	cfg := Config{Provider: true, ClientRate: 1, ClientBurst: 5, Keys: []APIKey{{Name: "alice", Key: "alice-key-0123456789"}}}
	e := newEnv(t, cfg)
	plain := twin(t, e, cfg, plainHTTP)
	host := e.srv.Addr().String()
	bn := `{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}`
	call := `{"jsonrpc":"2.0","id":2,"method":"eth_call","params":[{"to":"0x00000000000000000000000000000000000a2a2a"}]}`
	raw := post("/", host, nil, bn) + post("/", host, nil, "["+bn+","+bn+","+bn+","+bn+"]") + post("/", host, nil, bn) +
		post("/alice-key-0123456789", host, nil, call) + post("/", host, []string{"Authorization: Bearer alice-key-0123456789"}, bn) +
		post("/", host, []string{"Authorization: Bearer wrong-key-0123456789"}, bn) + post("/", host, nil, `{"jsonrpc":"2.0","id":3,"method":"admin_peers"}`)
	got := exchange(t, host, raw, 7)
	want := exchange(t, plain.Addr().String(), strings.ReplaceAll(raw, host, plain.Addr().String()), 7)
	if !slices.Equal(got, want) {
		t.Fatalf("connection server:\n%s\nnet/http:\n%s", strings.Join(got, "\n----\n"), strings.Join(want, "\n----\n"))
	}
	if !strings.Contains(got[2], "429") || !strings.Contains(got[2], "Retry-After") {
		t.Errorf("the client over its burst got %s, want 429 with Retry-After", got[2])
	}
}

// lockedBuffer is a log destination for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestConnServerClose: Close ends idle keep-alive connections at once,
// and logs no error.
func TestConnServerClose(t *testing.T) {
	var logs lockedBuffer
	e := newEnv(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	c, err := net.Dial("tcp", e.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, post("/", e.srv.Addr().String(), nil, `{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}`))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	start := time.Now()
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v with an idle connection", d)
	}
	if logs.String() != "" {
		t.Errorf("Close logged:\n%s", logs.String())
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := br.Read(make([]byte, 1)); err == nil || bytes.Contains([]byte(err.Error()), []byte("timeout")) {
		t.Errorf("the idle connection is still open after Close (read %d, %v)", n, err)
	}
}
