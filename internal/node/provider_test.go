package node

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/rpc"
	"github.com/peerchain/peerchain/internal/wallet"
)

// A provider is refused with unlocked accounts, and a node that is not a
// provider is refused an RPC address beyond loopback; keys files and
// trusted proxies are checked at start.
func TestProviderStartRules(t *testing.T) {
	dir := t.TempDir()
	accounts := wallet.NewUnlocked()
	accounts.Add(chaingen.Key(0))
	keys := filepath.Join(dir, "keys")
	if err := os.WriteFile(keys, []byte("alice short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"provider with accounts", Config{Provider: true, Accounts: accounts}, "--provider with unlocked accounts (--unlock, or --dev's dev accounts)"},
		{"public address", Config{RPC: rpc.Config{Addr: "0.0.0.0:0"}}, "listens beyond loopback"},
		{"bad keys file", Config{Provider: true, ProviderKeys: keys}, `--provider.keys: ` + keys + ` line 1: the key of "alice"`},
		{"missing keys file", Config{Provider: true, ProviderKeys: filepath.Join(dir, "none")}, "--provider.keys: API keys: open"},
		{"bad proxy", Config{Provider: true, TrustedProxies: []string{"proxy.example"}}, `--provider.trustedproxies: trusted proxy "proxy.example"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.DataDir = filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
			cfg.P2P.Disabled = true
			if cfg.RPC.Addr == "" {
				cfg.RPC.Addr = "127.0.0.1:0"
			}
			n, err := New(cfg)
			if err == nil {
				n.close()
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// A provider node mines alone: its /health turns 200 once the head is
// fresh (no peers are needed with P2P off, although RPC.HealthMinPeers
// asks one), its /metrics has the node's collectors in the registry it
// was given, and it serves no signing method.
func TestProviderNode(t *testing.T) {
	g, err := chaingen.Genesis(chaingen.GenesisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cfg := Config{DataDir: t.TempDir(), Genesis: g, Mine: true, Provider: true, Metrics: reg, ProofWindow: 256,
		RPC: rpc.Config{Addr: "127.0.0.1:0", HealthMinPeers: 1, HealthMaxHeadAge: time.Minute}, P2P: P2PConfig{Disabled: true}}
	cfg.Miner.Coinbase = common.HexToAddress("0xc0ffee0000000000000000000000000000000002")
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx, ready) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node run: %v", err)
		}
	}()
	<-ready
	url := "http://" + n.RPCAddr()
	get := func(path string) (int, string) {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, body := get("/health")
		var rep struct {
			Healthy bool `json:"healthy"`
			Head    int  `json:"headNumber"`
		}
		if err := json.Unmarshal([]byte(body), &rep); err != nil {
			t.Fatalf("/health: %d %q", status, body)
		}
		if status == http.StatusOK && rep.Healthy && rep.Head > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/health never turned 200: %d %s", status, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	status, body := get("/metrics")
	for _, want := range []string{"go_goroutines", "process_cpu_seconds_total", "peerchain_chain_head_number", "peerchain_rpc_rejections_total"} {
		if status != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("/metrics (status %d) lacks %s", status, want)
		}
	}
	if families, err := reg.Gather(); err != nil || len(families) == 0 {
		t.Errorf("the registry given to the node holds nothing: %v", err)
	}
	resp, err := http.Post(url, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"eth_sendTransaction","params":[{}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(out), "the method eth_sendTransaction does not exist/is not available") {
		t.Fatalf("eth_sendTransaction on a provider: %s", out)
	}
}
