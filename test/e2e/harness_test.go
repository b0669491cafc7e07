//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/ethclient"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// binary returns the peerchain binary: $PEERCHAIN_BIN, or one built once.
func binary(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("PEERCHAIN_BIN"); b != "" {
		return b
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "peerchain-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "peerchain")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("go", "build", "-o", builtBin, "./cmd/peerchain")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// freePort returns a TCP port free on 127.0.0.1 at the time of the call.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// peer is one peerchain process.
type peer struct {
	t       *testing.T
	bin     string
	datadir string
	rpcPort int
	args    []string
	command string // "node" (default) or "light"
	cmd     *exec.Cmd
	logs    *bytes.Buffer
	exited  chan struct{}
	starts  int
}

func newPeer(t *testing.T, args ...string) *peer {
	t.Helper()
	p := &peer{t: t, bin: binary(t), datadir: t.TempDir(), rpcPort: freePort(t), args: args}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("peer logs (last 6 KiB):\n%s", tail(p.logs, 6<<10))
		}
	})
	return p
}

func tail(b *bytes.Buffer, n int) string {
	if b == nil {
		return ""
	}
	s := b.String()
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}

func (p *peer) url() string { return fmt.Sprintf("http://127.0.0.1:%d", p.rpcPort) }

// start runs the peer and waits until its RPC answers.
func (p *peer) start() {
	p.t.Helper()
	command := p.command
	if command == "" {
		command = "node"
	}
	args := []string{command, "--datadir", p.datadir, "--rpc", fmt.Sprintf("127.0.0.1:%d", p.rpcPort)}
	if !hasFlag(p.args, "--p2p") {
		args = append(args, "--p2p", "off")
	}
	args = append(args, p.args...)
	p.cmd = exec.Command(p.bin, args...)
	if p.logs == nil {
		p.logs = new(bytes.Buffer)
	}
	fmt.Fprintf(p.logs, "---- start %d: %s\n", p.starts, strings.Join(args, " "))
	p.starts++
	w := &syncWriter{b: p.logs}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(p.cmd, p.exited)
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := ethclient.Dial(p.url())
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err = c.BlockNumber(ctx)
			cancel()
			c.Close()
			if err == nil {
				return
			}
		}
		select {
		case <-p.exited:
			p.t.Fatalf("peer exited during start: %v\n%s", p.cmd.ProcessState, tail(p.logs, 4<<10))
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("peer RPC not up after 60s\n%s", tail(p.logs, 4<<10))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to go.
func (p *peer) kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	p.cmd = nil
}

// stop sends SIGINT and waits up to 20s for a clean exit.
func (p *peer) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		p.t.Errorf("peer did not stop within 20s of SIGINT")
		p.kill()
	}
	p.cmd = nil
}

func (p *peer) client() *ethclient.Client {
	p.t.Helper()
	c, err := ethclient.Dial(p.url())
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(c.Close)
	return c
}

type syncWriter struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// npmDir is test/e2e, where package.json pins the JS clients.
func npmDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ethers")); err != nil {
		t.Fatalf("ethers is not installed in %s: run `make deps` (npm ci): %v", dir, err)
	}
	return dir
}

// runNode runs a JS script under test/e2e/js with node.
func runNode(t *testing.T, timeout time.Duration, script string, args ...string) string {
	t.Helper()
	dir := npmDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{filepath.Join(dir, "js", script)}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", script, err, out)
	}
	return string(out)
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}
