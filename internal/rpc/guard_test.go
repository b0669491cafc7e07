package rpc

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/wallet"
)

// rawRequest sends one JSON-RPC request over HTTP with the given Host
// and headers, and returns the status, the body and the response headers.
func (e *env) rawRequest(method, host string, header map[string]string, body string) (int, string, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, string(out), resp.Header
}

// wsUpgrade sends a WebSocket upgrade request with the given Host and
// Origin over a raw connection and returns the status code.
func (e *env) wsUpgrade(host, origin string) int {
	e.t.Helper()
	conn, err := net.Dial("tcp", e.srv.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close()
	req := "GET / HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	if origin != "" {
		req += "Origin: " + origin + "\r\n"
	}
	if _, err := conn.Write([]byte(req + "\r\n")); err != nil {
		e.t.Fatal(err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

const chainIDRequest = `{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}`

// A web page that rebinds its own name (attacker.example) to 127.0.0.1
// sends that name as Host: refused before any method runs, over HTTP and
// WebSocket; the node's own names pass with any port.
func TestVirtualHosts(t *testing.T) {
	e := newEnv(t, Config{})
	_, port, _ := net.SplitHostPort(e.srv.Addr().String())
	for _, host := range []string{"evil.example", "evil.example:" + port, "EVIL.example", "localhost.evil.example", "127.0.0.1.nip.io:" + port} {
		status, body, _ := e.rawRequest(http.MethodPost, host, nil, chainIDRequest)
		if status != http.StatusForbidden || !strings.Contains(body, hostOnly(host)) || !strings.Contains(body, "--rpc.vhosts") {
			t.Errorf("Host %s over HTTP: status %d, body %q; want 403 naming the host and --rpc.vhosts", host, status, body)
		}
		if status := e.wsUpgrade(host, ""); status != http.StatusForbidden {
			t.Errorf("Host %s over WebSocket: status %d, want 403", host, status)
		}
	}
	for _, host := range []string{"localhost:" + port, "LocalHost:" + port, "127.0.0.1:" + port, "[::1]:" + port, "localhost"} {
		status, body, _ := e.rawRequest(http.MethodPost, host, nil, chainIDRequest)
		if status != http.StatusOK || !strings.Contains(body, `"result":"0x539"`) {
			t.Errorf("Host %s over HTTP: status %d, body %q; want the chain id", host, status, body)
		}
		if status := e.wsUpgrade(host, ""); status != http.StatusSwitchingProtocols {
			t.Errorf("Host %s over WebSocket: status %d, want 101", host, status)
		}
	}

	any := newEnv(t, Config{VirtualHosts: []string{"*"}})
	if status, body, _ := any.rawRequest(http.MethodPost, "node.example:1", nil, chainIDRequest); status != http.StatusOK {
		t.Errorf(`--rpc.vhosts "*": status %d, body %q`, status, body)
	}
	named := newEnv(t, Config{VirtualHosts: []string{"Node.Example"}})
	if status, body, _ := named.rawRequest(http.MethodPost, "node.example:8545", nil, chainIDRequest); status != http.StatusOK {
		t.Errorf("listed name: status %d, body %q", status, body)
	}
	if status, _, _ := named.rawRequest(http.MethodPost, "localhost", nil, chainIDRequest); status != http.StatusForbidden {
		t.Errorf("localhost with --rpc.vhosts node.example: status %d, want 403", status)
	}
	// The address the node listens on always names it.
	if status, body, _ := named.rawRequest(http.MethodPost, named.srv.Addr().String(), nil, chainIDRequest); status != http.StatusOK {
		t.Errorf("the listen address as Host: status %d, body %q", status, body)
	}
}

// recordingNet is a Network that records the peers it was asked to dial.
type recordingNet struct {
	fakeNet
	dialed []string
}

func (r *recordingNet) AddPeer(addr string) error {
	r.dialed = append(r.dialed, addr)
	return nil
}

// The attacker is a page whose name rebinds to 127.0.0.1: with unlocked
// accounts and the admin namespace served on loopback, its requests
// must never reach a method. The honest caller on localhost is served.
func TestRebindingNeverReachesMethods(t *testing.T) {
	network := &recordingNet{}
	accounts := wallet.NewUnlocked()
	me := accounts.Add(chaingen.Key(3))
	e := newEnvWith(t, Config{}, func(b *Backend) { b.Net, b.Accounts = network, accounts })
	_, port, _ := net.SplitHostPort(e.srv.Addr().String())
	attacker := "attacker.example:" + port
	page := map[string]string{"Origin": "http://attacker.example:" + port}
	peer := "/ip4/10.0.0.1/tcp/30333/p2p/12D3KooWattacker"
	send := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"eth_sendTransaction","params":[{"from":"%s","to":"%s","value":"0x1"}]}`, me, common.HexToAddress("0xa77ac4e5"))
	addPeer := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"admin_addPeer","params":["%s"]}`, peer)
	sign := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"personal_sign","params":["0x68656c6c6f","%s"]}`, me)
	for _, body := range []string{send, addPeer, sign, "[" + send + "," + addPeer + "]"} {
		for _, header := range []map[string]string{nil, page} {
			if status, out, _ := e.rawRequest(http.MethodPost, attacker, header, body); status != http.StatusForbidden || strings.Contains(out, "result") {
				t.Errorf("rebinding request %s: status %d, body %q; want 403", body, status, out)
			}
		}
	}
	if len(network.dialed) != 0 {
		t.Fatalf("admin_addPeer ran for the attacker: dialed %v", network.dialed)
	}
	if n := e.pool.PendingNonce(me); n != 0 {
		t.Fatalf("eth_sendTransaction ran for the attacker: pending nonce %d", n)
	}
	// The honest user on the node's own address.
	if status, out, _ := e.rawRequest(http.MethodPost, "localhost:"+port, nil, addPeer); status != http.StatusOK || !strings.Contains(out, `"result":true`) {
		t.Fatalf("admin_addPeer on localhost: status %d, body %q", status, out)
	}
	if len(network.dialed) != 1 || network.dialed[0] != peer {
		t.Fatalf("admin_addPeer on localhost dialed %v", network.dialed)
	}
}

// Browser origins: no CORS headers unless configured, cross-origin calls
// refused (not executed), the node's own origin and listed origins
// served; WebSocket origins the same way with their own list.
func TestOrigins(t *testing.T) {
	e := newEnv(t, Config{})
	own := "http://" + e.srv.Addr().String()
	host := e.srv.Addr().String()
	status, body, h := e.rawRequest(http.MethodPost, host, map[string]string{"Origin": "http://evil.example"}, chainIDRequest)
	if status != http.StatusForbidden || !strings.Contains(body, "http://evil.example") || !strings.Contains(body, "--rpc.cors") {
		t.Errorf("cross-origin call: status %d, body %q; want 403 naming the origin and --rpc.cors", status, body)
	}
	if status, _, _ := e.rawRequest(http.MethodPost, host, map[string]string{"Origin": "null"}, chainIDRequest); status != http.StatusForbidden {
		t.Errorf(`Origin "null" (a sandboxed page): status %d, want 403`, status)
	}
	for k := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("CORS header %s sent by default", k)
		}
	}
	if status, _, _ := e.rawRequest(http.MethodOptions, host, map[string]string{"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}, ""); status != http.StatusForbidden {
		t.Errorf("preflight from a foreign origin: status %d, want 403", status)
	}
	status, body, h = e.rawRequest(http.MethodPost, host, map[string]string{"Origin": own}, chainIDRequest)
	if status != http.StatusOK || !strings.Contains(body, "0x539") || h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("same-origin call: status %d, body %q, CORS %q", status, body, h.Get("Access-Control-Allow-Origin"))
	}
	if status, _, _ := e.rawRequest(http.MethodPost, host, map[string]string{"Origin": own, "Content-Type": "text/plain"}, chainIDRequest); status != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain body (no preflight): status %d, want 415", status)
	}
	if status := e.wsUpgrade(host, "http://evil.example"); status != http.StatusForbidden {
		t.Errorf("WebSocket from a foreign origin: status %d, want 403", status)
	}
	if status := e.wsUpgrade(host, own); status != http.StatusSwitchingProtocols {
		t.Errorf("WebSocket from the node's own origin: status %d, want 101", status)
	}
	if status := e.wsUpgrade(host, ""); status != http.StatusSwitchingProtocols {
		t.Errorf("WebSocket without Origin: status %d, want 101", status)
	}

	listed := newEnv(t, Config{CORSOrigins: []string{"http://dapp.example"}, WSOrigins: []string{"https://wallet.example"}})
	host = listed.srv.Addr().String()
	status, body, h = listed.rawRequest(http.MethodPost, host, map[string]string{"Origin": "http://dapp.example"}, chainIDRequest)
	if status != http.StatusOK || !strings.Contains(body, "0x539") || h.Get("Access-Control-Allow-Origin") != "http://dapp.example" {
		t.Errorf("listed CORS origin: status %d, body %q, CORS %q", status, body, h.Get("Access-Control-Allow-Origin"))
	}
	status, _, h = listed.rawRequest(http.MethodOptions, host, map[string]string{"Origin": "http://dapp.example", "Access-Control-Request-Method": "POST"}, "")
	if status != http.StatusNoContent || h.Get("Access-Control-Allow-Headers") != "Content-Type, Authorization" {
		t.Errorf("preflight from a listed origin: status %d, headers %v", status, h)
	}
	if status := listed.wsUpgrade(host, "https://wallet.example"); status != http.StatusSwitchingProtocols {
		t.Errorf("WebSocket from a listed origin: status %d, want 101", status)
	}
	if status := listed.wsUpgrade(host, "http://dapp.example"); status != http.StatusForbidden {
		t.Errorf("WebSocket from an origin listed only in --rpc.cors: status %d, want 403", status)
	}
	// A real client through the node's own origin.
	c, err := gethrpc.DialOptions(t.Context(), "ws://"+host, gethrpc.WithHeader("Origin", "http://"+host))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var id string
	if err := c.Call(&id, "eth_chainId"); err != nil || id != "0x539" {
		t.Fatalf("eth_chainId over a same-origin WebSocket: %s %v", id, err)
	}
}

func TestSameOrigin(t *testing.T) {
	for _, c := range []struct {
		origin, host string
		want         bool
	}{
		{"http://127.0.0.1:8545", "127.0.0.1:8545", true},
		{"http://LOCALHOST:8545", "localhost:8545", true},
		{"http://[::1]:8545", "[::1]:8545", true},
		{"http://localhost", "localhost:80", true},
		{"https://node.example", "node.example", true},
		{"http://localhost:3000", "localhost:8545", false},
		{"http://evil.example:8545", "localhost:8545", false},
		{"null", "localhost:8545", false},
		{"file://", "localhost:8545", false},
		{"ws://localhost:8545", "localhost:8545", false},
	} {
		if got := sameOrigin(c.origin, c.host); got != c.want {
			t.Errorf("sameOrigin(%q, %q) = %v, want %v", c.origin, c.host, got, c.want)
		}
	}
}

func TestConfigRejectsBadLimits(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Filters: -1}, "rpc filter limit (--rpc.filters) -1: must not be negative"},
		{Config{RequestTimeout: -time.Second}, "rpc request timeout (--rpc.timeout) -1s"},
		{Config{CORSOrigins: []string{"dapp.example"}}, `--rpc.cors: origin "dapp.example": want scheme://host[:port]`},
		{Config{WSOrigins: []string{"http://a.example/path"}}, `--rpc.ws.origins: origin "http://a.example/path"`},
		{Config{VirtualHosts: []string{"http://localhost"}}, `rpc virtual host "http://localhost"`},
	} {
		err := c.cfg.validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.cfg, err, c.want)
		}
	}
}

func TestCompleteBatch(t *testing.T) {
	timedOut := func(id string) string {
		return `{"jsonrpc":"2.0","id":` + id + `,"error":{"code":-32002,"message":"request timed out"}}`
	}
	calls := `[{"jsonrpc":"2.0","id":1,"method":"eth_call"},{"jsonrpc":"2.0","method":"eth_notify"},{"jsonrpc":"2.0","id":"x","method":"eth_call"},{"jsonrpc":"2.0","id":3,"method":"eth_call"}]`
	for _, c := range []struct{ request, answer, want string }{
		{calls, `[{"jsonrpc":"2.0","id":1,"result":"0x"}]`, `[{"jsonrpc":"2.0","id":1,"result":"0x"},` + timedOut(`"x"`) + `,` + timedOut("3") + `]`},
		{calls, `[]`, `[` + timedOut("1") + `,` + timedOut(`"x"`) + `,` + timedOut("3") + `]`},
		{calls, `[{"id":3},{"id":"x"},{"id":1}]`, `[{"id":3},{"id":"x"},{"id":1}]`},
		{`{"jsonrpc":"2.0","id":1,"method":"eth_call"}`, `{"jsonrpc":"2.0","id":1,"result":"0x"}`, `{"jsonrpc":"2.0","id":1,"result":"0x"}`},
		{calls, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"batch too large"}}`, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"batch too large"}}`},
	} {
		got := string(completeBatch([]byte(c.request), []byte(c.answer)))
		if got != c.want {
			t.Errorf("completeBatch(%s, %s)\n got %s\nwant %s", c.request, c.answer, got, c.want)
		}
	}
}
