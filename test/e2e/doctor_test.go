//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
)

type finding struct {
	Name, Status, What, Fix string
}

// runDoctor runs `peerchain doctor --json` and returns its findings by
// name and whether it exited with an error.
func runDoctor(t *testing.T, args ...string) (map[string]finding, bool) {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"doctor", "--json", "--window", "2s"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var fs []finding
	if jerr := json.Unmarshal(stdout.Bytes(), &fs); jerr != nil {
		t.Fatalf("doctor %v: %v (exit %v)\nstdout: %s\nstderr: %s", args, jerr, err, stdout.String(), stderr.String())
	}
	out := map[string]finding{}
	for _, f := range fs {
		out[f.Name] = f
		t.Logf("%-5s %-16s %s", f.Status, f.Name, f.What)
	}
	failed := err != nil
	if failed && !strings.Contains(stderr.String(), "check(s) failed") {
		t.Fatalf("doctor exited with %v, not for a failed check:\n%s", err, stderr.String())
	}
	return out, failed
}

func wantFinding(t *testing.T, fs map[string]finding, name, status, says string) {
	t.Helper()
	f, ok := fs[name]
	if !ok || f.Status != status || !strings.Contains(f.What, says) {
		t.Fatalf("%s: got %+v; want %s saying %q", name, f, status, says)
	}
}

// TestDoctor plants each fault in real peers and checks that the doctor
// names it: a lone peer (no peers) whose RPC listens on every interface
// with the dev accounts unlocked (exposed publicly; bound only, the
// doctor connects over loopback); then a second peer joined to it, which
// must not be blamed for either; a full disk (a 2 MiB tmpfs); and a
// clock skew (an RPC whose blocks are stamped five minutes ahead).
func TestDoctor(t *testing.T) {
	a := newDevP2PPeer(t, "--allow-insecure-unlock")
	a.args = append(a.args, "--rpc", fmt.Sprintf("0.0.0.0:%d", a.rpcPort))
	a.start()

	fs, failed := runDoctor(t, "--rpc", a.url(), "--datadir", a.datadir)
	if !failed {
		t.Fatal("doctor passed a lone, publicly exposed peer")
	}
	wantFinding(t, fs, "peers", "fail", "no full peers")
	wantFinding(t, fs, "rpc-exposure", "fail", "20 unlocked account(s)")
	wantFinding(t, fs, "rpc-exposure", "fail", fmt.Sprintf("reachable beyond loopback (bound to [::]:%d)", a.rpcPort)) // Go binds 0.0.0.0 dual-stack
	wantFinding(t, fs, "p2p-reachability", "warn", "loopback only")                                                    // its address answers a dial
	wantFinding(t, fs, "version", "ok", "peerchain")
	wantFinding(t, fs, "clock", "ok", "")

	b := newKeyedPeer(t, "--p2p.nodht", "--bootnodes", a.p2pAddr)
	b.start()
	waitPeers(t, b.url(), 1)
	fs, _ = runDoctor(t, "--rpc", b.url(), "--datadir", b.datadir)
	wantFinding(t, fs, "peers", "warn", "only 1 full peer")
	wantFinding(t, fs, "rpc-exposure", "ok", "loopback only")
	wantFinding(t, fs, "p2p-reachability", "warn", "answered")
	if f := fs["sync"]; f.Status == "fail" {
		t.Fatalf("a joined peer's sync judged failed: %s", f.What)
	}

	t.Run("full disk", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("mounting a tmpfs needs root: run as root to test a full disk")
		}
		dir := t.TempDir()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
			t.Skipf("mount -t tmpfs: %v: %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
		f, err := os.Create(filepath.Join(dir, "fill"))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(f, io.LimitReader(zeros{}, 4<<20)) // stops at ENOSPC
		f.Close()
		fs, failed := runDoctor(t, "--rpc", "off", "--datadir", dir)
		if !failed {
			t.Fatal("doctor passed a full disk")
		}
		wantFinding(t, fs, "disk", "fail", "only 0 B free of 2.0 MiB")
	})

	t.Run("clock skew", func(t *testing.T) {
		skewed := skewedRPC(t, 5*time.Minute)
		fs, failed := runDoctor(t, "--rpc", skewed, "--datadir", "", "--p2p.dial=false")
		if !failed {
			t.Fatal("doctor passed a 5-minute clock skew")
		}
		wantFinding(t, fs, "clock", "fail", "ahead of this machine's clock")
	})
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func waitPeers(t *testing.T, url string, n int) {
	t.Helper()
	c, err := gethrpc.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var peers []json.RawMessage
		if err := c.Call(&peers, "peerchain_peers"); err == nil && len(peers) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: fewer than %d peers after 30s", url, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// skewedRPC is a JSON-RPC on loopback whose chain's blocks are stamped
// skew ahead of the clock (a peer on a network whose clocks run ahead of
// ours): block 100 at now+skew, one block every 2 s below it.
func skewedRPC(t *testing.T, skew time.Duration) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hex := func(n int64) string { return fmt.Sprintf("0x%x", n) }
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var reqs []struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params []any           `json:"params"`
		}
		body, _ := io.ReadAll(r.Body)
		batch := len(body) > 0 && body[0] == '['
		if !batch {
			body = append(append([]byte{'['}, body...), ']')
		}
		if err := json.Unmarshal(body, &reqs); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		head := time.Now().Add(skew).Unix()
		var resps []map[string]any
		for _, q := range reqs {
			var res any
			switch q.Method {
			case "eth_blockNumber":
				res = hex(100)
			case "eth_syncing":
				res = false
			case "eth_getBlockByNumber":
				n := int64(100)
				if s, ok := q.Params[0].(string); ok && s != "latest" {
					fmt.Sscanf(s, "0x%x", &n)
				}
				res = map[string]any{"number": hex(n), "timestamp": hex(head - 2*(100-n))}
			case "peerchain_nodeInfo":
				res = map[string]any{"client": "peerchain/v0.1.0", "id": "", "listenAddrs": []string{}}
			case "peerchain_peers", "eth_accounts", "peerchain_blockArrivals":
				res = []any{}
			case "eth_chainId":
				res = "0x539"
			default:
				resps = append(resps, map[string]any{"jsonrpc": "2.0", "id": q.ID,
					"error": map[string]any{"code": -32601, "message": "the method " + q.Method + " does not exist/is not available"}})
				continue
			}
			resps = append(resps, map[string]any{"jsonrpc": "2.0", "id": q.ID, "result": res})
		}
		w.Header().Set("Content-Type", "application/json")
		if r.Host != l.Addr().String() {
			w.WriteHeader(http.StatusForbidden) // a Host check, as a peer has
			return
		}
		if batch {
			json.NewEncoder(w).Encode(resps)
		} else {
			json.NewEncoder(w).Encode(resps[0])
		}
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}
