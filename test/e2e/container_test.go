//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	lpeer "github.com/libp2p/go-libp2p/core/peer"
	"gopkg.in/yaml.v2"
)

// repoRoot is the repository's top directory.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// imageSpec is what the image's final stage says: user, volume, ports,
// environment. The Dockerfile and Containerfile.prebuilt must say the same.
type imageSpec struct {
	final []string // the final stage's lines, comments dropped
	user  string
	env   map[string]string
	vol   string
	ports []string
}

const finalMarker = "# --- final stage: identical in"

func readImageSpec(t *testing.T, path string) imageSpec {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte(finalMarker))
	if i < 0 {
		t.Fatalf("%s: no line %q before the final stage", path, finalMarker)
	}
	// Join continuation lines, drop comments and blank lines.
	var lines []string
	var cur string
	sc := bufio.NewScanner(bytes.NewReader(data[i:]))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cur += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		lines = append(lines, strings.Join(strings.Fields(cur+l), " "))
		cur = ""
	}
	s := imageSpec{final: lines, env: map[string]string{}}
	for _, l := range lines {
		word, rest, _ := strings.Cut(l, " ")
		switch word {
		case "USER":
			s.user = rest
		case "VOLUME":
			s.vol = rest
		case "EXPOSE":
			s.ports = strings.Fields(rest)
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("%s: ENV %q: want KEY=VALUE", path, kv)
				}
				s.env[k] = v
			}
		}
	}
	return s
}

// peerIDOfKey returns the peer id of a libp2p private key.
func peerIDOfKey(t *testing.T, data []byte, what string) string {
	t.Helper()
	k, err := lcrypto.UnmarshalPrivateKey(data)
	if err != nil {
		t.Fatalf("%s: not a libp2p private key: %v", what, err)
	}
	id, err := lpeer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

var dnsBootnode = regexp.MustCompile(`^/dns4/([a-z0-9.-]+)/tcp/(\d+)/p2p/(\w+)$`)

// nodeFlagNames returns the flags `peerchain node --help` lists.
func nodeFlagNames(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command(binary(t), "node", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("peerchain node --help: %v\n%s", err, out)
	}
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z0-9.-]+)`).FindAllStringSubmatch(string(out), -1) {
		names[m[1]] = true
	}
	if len(names) < 20 {
		t.Fatalf("peerchain node --help lists only %d flags", len(names))
	}
	return names
}

// checkArgs checks that every --flag of a node command line exists.
func checkArgs(t *testing.T, who string, args []string, flags map[string]bool) {
	t.Helper()
	if len(args) == 0 || args[0] != "node" {
		t.Errorf("%s: command %q does not start with \"node\"", who, args)
	}
	for _, a := range args {
		if name, ok := strings.CutPrefix(a, "--"); ok {
			name, _, _ = strings.Cut(name, "=")
			if !flags[name] {
				t.Errorf("%s: flag --%s is not a flag of peerchain node", who, name)
			}
		}
	}
}

// checkEnv checks that PEERCHAIN_* variables name node flags.
func checkEnv(t *testing.T, who string, env map[string]string, flags map[string]bool) {
	t.Helper()
	byEnv := map[string]bool{}
	for f := range flags {
		byEnv[envOf(f)] = true
	}
	for k := range env {
		if strings.HasPrefix(k, "PEERCHAIN_") && !byEnv[k] {
			t.Errorf("%s: %s names no flag of peerchain node", who, k)
		}
	}
}

func envOf(flag string) string {
	return "PEERCHAIN_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(flag))
}

// portOf returns the port of host:port.
func portOf(t *testing.T, addr string) int {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	p, err := strconv.Atoi(addr[i+1:])
	if i < 0 || err != nil {
		t.Fatalf("%q: not host:port", addr)
	}
	return p
}

// p2pTCPPort returns the TCP port of the first /tcp/ multiaddr of a --p2p list.
func p2pTCPPort(t *testing.T, list string) int {
	t.Helper()
	m := regexp.MustCompile(`/tcp/(\d+)`).FindStringSubmatch(list)
	if m == nil {
		t.Fatalf("--p2p %q has no TCP address", list)
	}
	p, _ := strconv.Atoi(m[1])
	return p
}

// TestContainerImageSpec: the Dockerfile (for registries) and the prebuilt
// Containerfile (built here) have the same final stage; it runs as a
// non-root user that /etc/passwd names, its volume is the data dir, and it
// exposes the RPC and P2P ports its environment sets; the environment
// names real flags.
func TestContainerImageSpec(t *testing.T) {
	root := repoRoot()
	docker := readImageSpec(t, filepath.Join(root, "Dockerfile"))
	pre := readImageSpec(t, filepath.Join(root, "deploy/container/Containerfile.prebuilt"))
	if !slices.Equal(docker.final, pre.final) {
		t.Fatalf("final stages differ:\nDockerfile:\n%s\nContainerfile.prebuilt:\n%s", strings.Join(docker.final, "\n"), strings.Join(pre.final, "\n"))
	}
	uid, _, _ := strings.Cut(docker.user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q: want a numeric non-root uid (Kubernetes' runAsNonRoot checks numbers)", docker.user)
	}
	passwd, err := os.ReadFile(filepath.Join(root, "deploy/container/passwd"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^\w+:x:` + uid + `:`).Match(passwd) {
		t.Errorf("deploy/container/passwd has no user %s", uid)
	}
	if docker.vol != docker.env["PEERCHAIN_DATADIR"] || docker.vol == "" {
		t.Errorf("VOLUME %q is not PEERCHAIN_DATADIR %q", docker.vol, docker.env["PEERCHAIN_DATADIR"])
	}
	rpc := strconv.Itoa(portOf(t, docker.env["PEERCHAIN_RPC"]))
	p2p := strconv.Itoa(p2pTCPPort(t, docker.env["PEERCHAIN_P2P"]))
	for _, want := range []string{rpc + "/tcp", p2p + "/tcp", p2p + "/udp"} {
		if !slices.Contains(docker.ports, want) {
			t.Errorf("EXPOSE %v lacks %s", docker.ports, want)
		}
	}
	checkEnv(t, "Dockerfile", docker.env, nodeFlagNames(t))
}

// TestContainerEnvServesHealth runs the binary with the image's environment
// (on loopback ports and a temporary data dir instead of the container's):
// the node accepts it, and GET /health (the Kubernetes readiness probe, with
// its Host header) answers a health report.
func TestContainerEnvServesHealth(t *testing.T) {
	spec := readImageSpec(t, filepath.Join(repoRoot(), "Dockerfile"))
	rpcPort, p2pPort := freePort(t), freePort(t)
	cmd := exec.Command(binary(t), "node", "--miner.threads", "1")
	cmd.Env = os.Environ()
	for k, v := range spec.env {
		switch k {
		case "PEERCHAIN_DATADIR":
			v = t.TempDir()
		case "PEERCHAIN_RPC":
			v = fmt.Sprintf("127.0.0.1:%d", rpcPort)
		case "PEERCHAIN_P2P":
			v = fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", p2pPort)
		}
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("node with the image's environment exited: %v\n%s", err, out.String())
		default:
		}
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/health", rpcPort), nil)
		req.Host = "localhost" // the readiness probe's Host header
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var rep struct {
				Healthy *bool    `json:"healthy"`
				Reasons []string `json:"reasons"`
			}
			if err := json.Unmarshal(body, &rep); err != nil || rep.Healthy == nil {
				t.Fatalf("GET /health: %s %q is not a health report", resp.Status, body)
			}
			// Alone, the provider has no peer: 503 with that reason.
			if resp.StatusCode != http.StatusServiceUnavailable || *rep.Healthy || !strings.Contains(strings.Join(rep.Reasons, ";"), "peers") {
				t.Fatalf("GET /health of a provider without peers: %s %s, want 503 naming the peers", resp.Status, body)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer on /health within 60 s: %v\n%s", err, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type composeFile struct {
	Services map[string]struct {
		Image    string   `yaml:"image"`
		Hostname string   `yaml:"hostname"`
		Command  []string `yaml:"command"`
		Ports    []string `yaml:"ports"`
		Volumes  []string `yaml:"volumes"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(), "deploy/compose/compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return c
}

// flagValue returns the value after --name in args.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == "--"+name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// checkBootnodes checks a bootnode list: each names a known host, the P2P
// port, and the peer id of that host's key.
func checkBootnodes(t *testing.T, who, list string, p2pPort int, idOf func(host string) (string, bool)) int {
	t.Helper()
	n := 0
	for _, b := range strings.Split(list, ",") {
		m := dnsBootnode.FindStringSubmatch(b)
		if m == nil {
			t.Errorf("%s: bootnode %q: want /dns4/HOST/tcp/PORT/p2p/ID", who, b)
			continue
		}
		id, ok := idOf(m[1])
		if !ok {
			t.Errorf("%s: bootnode %q: no peer is named %s", who, b, m[1])
			continue
		}
		if m[2] != strconv.Itoa(p2pPort) {
			t.Errorf("%s: bootnode %q: port %s, the peers listen on %d", who, b, m[2], p2pPort)
		}
		if m[3] != id {
			t.Errorf("%s: bootnode %q: %s's key has peer id %s", who, b, m[1], id)
		}
		n++
	}
	return n
}

// TestComposeFile: four peers, two miners with distinct valid coinbases,
// every data volume at the image's data dir, every key mounted at
// <datadir>/p2p/key and the bootnodes naming those keys' peer ids on the
// image's P2P port, RPC published on the host's loopback only, and every
// flag a flag of peerchain node.
func TestComposeFile(t *testing.T) {
	root := repoRoot()
	spec := readImageSpec(t, filepath.Join(root, "Dockerfile"))
	datadir, p2pPort := spec.env["PEERCHAIN_DATADIR"], p2pTCPPort(t, spec.env["PEERCHAIN_P2P"])
	rpcPort := portOf(t, spec.env["PEERCHAIN_RPC"])
	flags := nodeFlagNames(t)
	c := readCompose(t)
	if len(c.Services) != 4 {
		t.Fatalf("compose.yaml has %d services, want 4 peers", len(c.Services))
	}
	ids := map[string]string{}
	for name, s := range c.Services {
		keyMount := ""
		dataVol := false
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			switch {
			case len(parts) >= 2 && parts[1] == datadir:
				if c.Volumes == nil || !hasKey(c.Volumes, parts[0]) {
					t.Errorf("%s: volume %q is not a named volume of the file", name, parts[0])
				}
				dataVol = true
			case len(parts) == 3 && parts[1] == datadir+"/p2p/key" && parts[2] == "ro":
				keyMount = parts[0]
			}
		}
		if !dataVol {
			t.Errorf("%s: no named volume at the data dir %s", name, datadir)
		}
		if keyMount == "" {
			t.Errorf("%s: no key mounted read-only at %s/p2p/key", name, datadir)
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, "deploy/compose", keyMount))
		if err != nil {
			t.Fatalf("%s: key %s: %v", name, keyMount, err)
		}
		ids[name] = peerIDOfKey(t, data, keyMount)
		if s.Hostname != name {
			t.Errorf("%s: hostname %q, want the service name", name, s.Hostname)
		}
	}
	miners := map[string]bool{}
	published := map[string]bool{}
	for name, s := range c.Services {
		checkArgs(t, name, s.Command, flags)
		boot, ok := flagValue(s.Command, "bootnodes")
		if !ok {
			t.Errorf("%s: no --bootnodes", name)
		} else if n := checkBootnodes(t, name, boot, p2pPort, func(h string) (string, bool) { id, ok := ids[h]; return id, ok }); n < 2 {
			t.Errorf("%s: %d bootnodes, want at least 2", name, n)
		}
		if slices.Contains(s.Command, "--mine") {
			cb, _ := flagValue(s.Command, "miner.coinbase")
			if !common.IsHexAddress(cb) || miners[cb] {
				t.Errorf("%s: --miner.coinbase %q: want a distinct address per miner", name, cb)
			}
			miners[cb] = true
		}
		for _, p := range s.Ports {
			parts := strings.Split(p, ":")
			if len(parts) != 3 || parts[0] != "127.0.0.1" || parts[2] != strconv.Itoa(rpcPort) || published[parts[1]] {
				t.Errorf("%s: port %q: want 127.0.0.1:HOSTPORT:%d, a host port of its own", name, p, rpcPort)
			}
			published[parts[1]] = true
		}
	}
	if len(miners) != 2 {
		t.Errorf("%d miners, want 2", len(miners))
	}
}

func hasKey(m map[string]any, k string) bool { _, ok := m[k]; return ok }

// k8sObject is the part of a Kubernetes object the checks read.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		ClusterIP                string `yaml:"clusterIP"`
		PublishNotReadyAddresses bool   `yaml:"publishNotReadyAddresses"`
		ServiceName              string `yaml:"serviceName"`
		Replicas                 int    `yaml:"replicas"`
		Template                 struct {
			Spec k8sPodSpec `yaml:"spec"`
		} `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
	} `yaml:"spec"`
}

type k8sPodSpec struct {
	SecurityContext struct {
		RunAsNonRoot *bool `yaml:"runAsNonRoot"`
		RunAsUser    int   `yaml:"runAsUser"`
		FSGroup      int   `yaml:"fsGroup"`
	} `yaml:"securityContext"`
	Containers []struct {
		Args    []string `yaml:"args"`
		EnvFrom []struct {
			ConfigMapRef struct {
				Name string `yaml:"name"`
			} `yaml:"configMapRef"`
		} `yaml:"envFrom"`
		Env []struct {
			Name      string `yaml:"name"`
			ValueFrom struct {
				FieldRef struct {
					FieldPath string `yaml:"fieldPath"`
				} `yaml:"fieldRef"`
			} `yaml:"valueFrom"`
		} `yaml:"env"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
			Protocol      string `yaml:"protocol"`
		} `yaml:"ports"`
		ReadinessProbe struct {
			HTTPGet struct {
				Path        string `yaml:"path"`
				Port        string `yaml:"port"`
				HTTPHeaders []struct {
					Name  string `yaml:"name"`
					Value string `yaml:"value"`
				} `yaml:"httpHeaders"`
			} `yaml:"httpGet"`
		} `yaml:"readinessProbe"`
		SecurityContext struct {
			ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		} `yaml:"securityContext"`
		VolumeMounts []struct {
			Name        string `yaml:"name"`
			MountPath   string `yaml:"mountPath"`
			SubPathExpr string `yaml:"subPathExpr"`
			ReadOnly    bool   `yaml:"readOnly"`
		} `yaml:"volumeMounts"`
	} `yaml:"containers"`
	Volumes []struct {
		Name   string `yaml:"name"`
		Secret struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

func readK8s(t *testing.T) []k8sObject {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(), "deploy/k8s/peerchain.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var objs []k8sObject
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("peerchain.yaml: %v", err)
		}
		objs = append(objs, o)
	}
	return objs
}

// TestKubernetesManifests: StatefulSets whose volume claim is mounted at the
// data dir, whose readiness is GET /health on the RPC port (with a Host the
// node answers), run as non-root on a read-only root filesystem, each pod
// with its own key from the Secret at <datadir>/p2p/key; a headless Service
// that publishes pods before they are ready; bootnodes naming pods of the
// StatefulSets by that Service with their keys' peer ids; two miners in all.
func TestKubernetesManifests(t *testing.T) {
	flags := nodeFlagNames(t)
	objs := readK8s(t)
	byKind := map[string]map[string]k8sObject{}
	for _, o := range objs {
		if byKind[o.Kind] == nil {
			byKind[o.Kind] = map[string]k8sObject{}
		}
		byKind[o.Kind][o.Metadata.Name] = o
	}
	sets := byKind["StatefulSet"]
	if len(sets) == 0 {
		t.Fatal("no StatefulSet")
	}
	pods := map[string]bool{}
	miners := 0
	var cm k8sObject
	for name, s := range sets {
		svc, ok := byKind["Service"][s.Spec.ServiceName]
		if !ok || svc.Spec.ClusterIP != "None" || !svc.Spec.PublishNotReadyAddresses {
			t.Errorf("%s: serviceName %q: want a headless Service (clusterIP: None) with publishNotReadyAddresses, so peers find bootnodes before they are ready", name, s.Spec.ServiceName)
		}
		pod := s.Spec.Template.Spec
		if pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.RunAsUser == 0 {
			t.Errorf("%s: want runAsNonRoot and a non-zero runAsUser", name)
		}
		if len(pod.Containers) != 1 {
			t.Fatalf("%s: %d containers, want 1", name, len(pod.Containers))
		}
		ct := pod.Containers[0]
		if len(ct.EnvFrom) != 1 {
			t.Fatalf("%s: want its settings from one ConfigMap", name)
		}
		cm, ok = byKind["ConfigMap"][ct.EnvFrom[0].ConfigMapRef.Name]
		if !ok {
			t.Fatalf("%s: ConfigMap %q not in the file", name, ct.EnvFrom[0].ConfigMapRef.Name)
		}
		checkEnv(t, "ConfigMap "+cm.Metadata.Name, cm.Data, flags)
		checkArgs(t, name, ct.Args, flags)
		if cm.Data["PEERCHAIN_PROVIDER"] != "true" {
			t.Errorf("ConfigMap: an RPC on %s needs PEERCHAIN_PROVIDER=true", cm.Data["PEERCHAIN_RPC"])
		}
		datadir := cm.Data["PEERCHAIN_DATADIR"]
		rpcPort, p2pPort := portOf(t, cm.Data["PEERCHAIN_RPC"]), p2pTCPPort(t, cm.Data["PEERCHAIN_P2P"])
		if !ct.SecurityContext.ReadOnlyRootFilesystem || ct.SecurityContext.AllowPrivilegeEscalation == nil || *ct.SecurityContext.AllowPrivilegeEscalation {
			t.Errorf("%s: want readOnlyRootFilesystem and no privilege escalation", name)
		}
		ports := map[string]int{}
		for _, p := range ct.Ports {
			ports[p.Name] = p.ContainerPort
		}
		if ports["rpc"] != rpcPort || ports["p2p"] != p2pPort || ports["p2p-quic"] != p2pPort {
			t.Errorf("%s: container ports %v, want rpc %d, p2p and p2p-quic %d (the ConfigMap's)", name, ports, rpcPort, p2pPort)
		}
		probe := ct.ReadinessProbe.HTTPGet
		host := ""
		for _, h := range probe.HTTPHeaders {
			if strings.EqualFold(h.Name, "Host") {
				host = h.Value
			}
		}
		if probe.Path != "/health" || ports[probe.Port] != rpcPort || (host != "localhost" && cm.Data["PEERCHAIN_RPC_VHOSTS"] != "*") {
			t.Errorf("%s: readiness %+v: want GET /health on the RPC port with a Host the node answers", name, probe)
		}
		mounts := map[string]string{}
		for _, m := range ct.VolumeMounts {
			mounts[m.MountPath] = m.Name
			if m.MountPath == datadir+"/p2p/key" && (m.SubPathExpr != "$(POD_NAME)" || !m.ReadOnly) {
				t.Errorf("%s: key mount %+v: want subPathExpr $(POD_NAME), read-only", name, m)
			}
		}
		if len(s.Spec.VolumeClaimTemplates) != 1 || mounts[datadir] != s.Spec.VolumeClaimTemplates[0].Metadata.Name {
			t.Errorf("%s: the volume claim template must be mounted at the data dir %s (mounts %v)", name, datadir, mounts)
		}
		keyVol := mounts[datadir+"/p2p/key"]
		secret := ""
		for _, v := range pod.Volumes {
			if v.Name == keyVol {
				secret = v.Secret.SecretName
			}
		}
		podName := false
		for _, e := range ct.Env {
			podName = podName || (e.Name == "POD_NAME" && e.ValueFrom.FieldRef.FieldPath == "metadata.name")
		}
		if !podName {
			t.Errorf("%s: no POD_NAME from metadata.name for the key's subPathExpr", name)
		}
		keys, ok := byKind["Secret"][secret]
		if !ok {
			t.Fatalf("%s: key volume %q: no Secret in the file", name, keyVol)
		}
		for i := 0; i < s.Spec.Replicas; i++ {
			pod := fmt.Sprintf("%s-%d", name, i)
			pods[pod] = true
			if _, ok := keys.Data[pod]; !ok {
				t.Errorf("Secret %s has no key for pod %s", secret, pod)
			}
		}
		if slices.Contains(ct.Args, "--mine") {
			if cb, _ := flagValue(ct.Args, "miner.coinbase"); !common.IsHexAddress(cb) {
				t.Errorf("%s: --miner.coinbase %q: not an address", name, cb)
			}
			miners += s.Spec.Replicas
		}
	}
	if miners != 2 || len(pods) != 4 {
		t.Errorf("%d pods, %d miners: want 4 and 2", len(pods), miners)
	}
	keys := byKind["Secret"]["peerchain-keys"]
	idOf := func(host string) (string, bool) {
		pod, svc, _ := strings.Cut(host, ".")
		if _, ok := byKind["Service"][svc]; !ok || !pods[pod] {
			return "", false
		}
		raw, err := base64.StdEncoding.DecodeString(keys.Data[pod])
		if err != nil {
			t.Fatalf("Secret key %s: %v", pod, err)
		}
		return peerIDOfKey(t, raw, "Secret key "+pod), true
	}
	if n := checkBootnodes(t, "ConfigMap", cm.Data["PEERCHAIN_BOOTNODES"], p2pTCPPort(t, cm.Data["PEERCHAIN_P2P"]), idOf); n < 2 {
		t.Errorf("ConfigMap: %d bootnodes, want at least 2", n)
	}
}
