//go:build e2e

package e2e

import (
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// staticBuildArgs are the flags of the image's binary (Dockerfile, make
// image): Go's own resolver and user lookup, libsecp256k1 and libc linked in.
var staticBuildArgs = []string{"build", "-trimpath", "-tags", "netgo,osusergo",
	"-ldflags", `-s -w -linkmode external -extldflags "-static"`}

// podman runs podman with CONTAINERS_CONF set when the machine needs it.
type podman struct {
	t    *testing.T
	conf string // CONTAINERS_CONF, or ""
	ns   string // network namespace the containers' network lives in, or ""
}

func (p *podman) cmd(args ...string) *exec.Cmd {
	var c *exec.Cmd
	if p.ns != "" {
		c = exec.Command("nsenter", append([]string{"--net=/run/netns/" + p.ns, "podman"}, args...)...)
	} else {
		c = exec.Command("podman", args...)
	}
	c.Env = os.Environ()
	if p.conf != "" {
		c.Env = append(c.Env, "CONTAINERS_CONF="+p.conf)
	}
	return c
}

func (p *podman) run(args ...string) (string, error) {
	out, err := p.cmd(args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func (p *podman) must(args ...string) string {
	p.t.Helper()
	out, err := p.run(args...)
	if err != nil {
		p.t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// staticBinary returns $PEERCHAIN_STATIC_BIN or builds the image's binary,
// and checks that it is static (no program interpreter).
func staticBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("PEERCHAIN_STATIC_BIN")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "peerchain")
		start := time.Now()
		cmd := exec.Command("go", append(staticBuildArgs, "-o", bin, "./cmd/peerchain")...)
		cmd.Dir = repoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("static build: %v\n%s", err, out)
		}
		t.Logf("static build: %v", time.Since(start).Round(time.Second))
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("%s is dynamically linked (it has a program interpreter): a FROM scratch image cannot run it", bin)
		}
	}
	if st, err := os.Stat(bin); err == nil {
		t.Logf("static binary: %.1f MB", float64(st.Size())/1e6)
	}
	return bin
}

func randSuffix() string {
	b := make([]byte, 3)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// TestContainerNetwork builds the image from scratch (nothing pulled) and
// runs the compose file's four peers with podman, as its services say
// (command, data volume, key mount, DNS name), on a podman network whose
// bridge lives in a network namespace the test makes: the two miners mine,
// all four agree on the chain, both coinbases are paid, every peer is
// healthy by `peerchain health` (the image's HEALTHCHECK), runs as the
// image's non-root user, and a peer restarted on its volume keeps its chain.
// Skipped where podman is missing or cannot run a container.
func TestContainerNetwork(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("the container test needs root (podman's bridge in a network namespace of its own)")
	}
	if _, err := exec.LookPath("podman"); err != nil {
		t.Skip("podman is not installed (Debian: apt-get install podman runc); the image, compose and Kubernetes files are checked by the other Container tests")
	}
	root := repoRoot()
	pm := &podman{t: t}
	bin := staticBinary(t)
	ctx := t.TempDir()
	for _, d := range []string{"etc", "data"} {
		if err := os.MkdirAll(filepath.Join(ctx, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for src, dst := range map[string]string{bin: "peerchain", filepath.Join(root, "deploy/container/passwd"): "etc/passwd", filepath.Join(root, "deploy/container/group"): "etc/group"} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ctx, dst), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sfx := randSuffix()
	image := "localhost/peerchain:e2e-" + sfx
	start := time.Now()
	if out, err := pm.run("build", "-q", "--format", "docker", "-f", filepath.Join(root, "deploy/container/Containerfile.prebuilt"), "-t", image, ctx); err != nil {
		t.Skipf("podman cannot build an image here: %v\n%s", err, out)
	}
	t.Cleanup(func() { pm.run("rmi", "-f", image) })
	size, _ := pm.run("image", "inspect", "--format", "{{.Size}}", image)
	t.Logf("image built in %v, size %s bytes", time.Since(start).Round(100*time.Millisecond), size)

	// Podman here may need runc and lower limits (see podman-sandbox.conf).
	if out, err := pm.run("run", "--rm", "--network", "none", image, "version"); err != nil {
		pm.conf = filepath.Join(root, "deploy/container/podman-sandbox.conf")
		if out2, err2 := pm.run("run", "--rm", "--network", "none", image, "version"); err2 != nil {
			t.Skipf("podman cannot run a container here: %v\n%s\nwith %s: %v\n%s", err, out, pm.conf, err2, out2)
		}
		t.Logf("podman runs containers with CONTAINERS_CONF=%s (plain: %s)", pm.conf, out)
	}

	// The network's bridge lives in a namespace of the test's own.
	ns := "pcct" + sfx
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v %s", err, out)
	}
	pm.ns = ns
	network := "pcnet" + sfx
	pm.must("network", "create", "--subnet", "10.89.77.0/24", network)
	t.Cleanup(func() { pm.run("network", "rm", "-f", network) })

	c := readCompose(t)
	names := []string{"peer0", "peer1", "peer2", "peer3"}
	containers := map[string]string{}
	runPeer := func(name string) {
		s := c.Services[name]
		args := []string{"run", "-d", "--name", name + "-" + sfx, "--no-healthcheck", "--network", network,
			"--network-alias", name, "--hostname", s.Hostname}
		for _, v := range s.Volumes {
			src, rest, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				src = filepath.Join(root, "deploy/compose", src)
			} else {
				src += "-" + sfx
			}
			args = append(args, "-v", src+":"+rest)
		}
		args = append(args, image)
		args = append(args, s.Command...)
		pm.must(args...)
		containers[name] = name + "-" + sfx
	}
	t.Cleanup(func() {
		for _, n := range names {
			if id := containers[n]; id != "" {
				if t.Failed() {
					logs, _ := pm.run("logs", "--tail", "30", id)
					t.Logf("%s's last log lines:\n%s", n, logs)
				}
				pm.run("rm", "-f", "-t", "5", id)
			}
			pm.run("volume", "rm", "-f", n+"-data-"+sfx)
		}
	})
	for _, n := range names {
		if _, ok := c.Services[n]; !ok {
			t.Fatalf("compose.yaml has no service %s", n)
		}
		runPeer(n)
	}
	rpc := func(name, method string, params ...string) (string, error) {
		args := append([]string{"exec", containers[name], "/peerchain", "rpc", "--timeout", "5s", method}, params...)
		return pm.run(args...)
	}
	head := func(name string) uint64 {
		out, err := rpc(name, "eth_blockNumber")
		if err != nil {
			return 0
		}
		n, _ := strconv.ParseUint(strings.Trim(out, `"`)[2:], 16, 64)
		return n
	}
	type block struct {
		Hash  string `json:"hash"`
		Miner string `json:"miner"`
	}
	blockAt := func(name string, n uint64) (block, error) {
		var b block
		out, err := rpc(name, "eth_getBlockByNumber", fmt.Sprintf("0x%x", n), "false")
		if err == nil {
			err = json.Unmarshal([]byte(out), &b)
		}
		return b, err
	}

	// All four reach block 6 with three peers each, agree on block 4, and
	// the chain pays both miners.
	deadline := time.Now().Add(150 * time.Second)
	var status string
	for {
		ok := true
		var parts []string
		var low uint64 = 1 << 62
		for _, n := range names {
			h := head(n)
			peers, _ := rpc(n, "net_peerCount")
			parts = append(parts, fmt.Sprintf("%s head %d peers %s", n, h, peers))
			low = min(low, h)
			if h < 6 || peers != `"0x3"` {
				ok = false
			}
		}
		status = strings.Join(parts, "; ")
		if ok {
			b0, err := blockAt(names[0], 4)
			for _, n := range names[1:] {
				b, err2 := blockAt(n, 4)
				if err != nil || err2 != nil || b.Hash != b0.Hash {
					ok = false
				}
			}
			paid := map[string]bool{}
			for i := uint64(1); i <= low; i++ {
				if b, err := blockAt(names[3], i); err == nil {
					paid[strings.ToLower(b.Miner)] = true
				}
			}
			if len(paid) < 2 {
				ok = false
				status += fmt.Sprintf("; coinbases paid so far: %d", len(paid))
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the compose network did not converge within 150 s: %s", status)
		}
		time.Sleep(time.Second)
	}
	t.Logf("converged after %v: %s", time.Since(start).Round(time.Second), status)

	for _, n := range names {
		if out, err := pm.run("exec", containers[n], "/peerchain", "health"); err != nil {
			t.Errorf("%s: peerchain health: %v\n%s", n, err, out)
		}
		// The process runs as the image's user, not root.
		if out, err := pm.run("top", containers[n], "user"); err != nil || strings.Contains(out, "root") {
			t.Errorf("%s runs as %q (%v), want the image's non-root user", n, out, err)
		}
	}

	// A peer restarted on its volume keeps its chain and rejoins.
	before := head("peer3")
	pm.must("restart", "-t", "10", containers["peer3"])
	deadline = time.Now().Add(60 * time.Second)
	for {
		h := head("peer3")
		if h > 0 && h < before {
			t.Fatalf("peer3 restarted at head %d, below %d: its volume lost blocks", h, before)
		}
		peers, _ := rpc("peer3", "net_peerCount")
		if h > 0 && peers != `"0x0"` && peers != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("peer3 did not come back with its chain (head %d, was %d; peers %s) within 60 s", h, before, peers)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
