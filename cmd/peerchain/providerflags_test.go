package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/peerchain/peerchain/internal/node"
)

// parseNode parses args, env and the TOML file as `peerchain node` does and
// returns the node configuration.
func parseNode(t *testing.T, args []string, env map[string]string) (*node.Config, error) {
	t.Helper()
	var f nodeFlags
	cmd := newNodeCmd()
	cmd.ResetFlags()
	f.register(cmd.Flags())
	if err := cmd.Flags().Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := applySettings(cmd.Flags(), func(k string) string { return env[k] }); err != nil {
		return nil, err
	}
	return f.nodeConfig(cmd)
}

// Provider mode and its limits are settings: flags, environment and TOML
// reach the node's configuration.
func TestProviderFlags(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "peerchain.toml")
	// A flag that is also a table ("provider" and "provider.rate") takes
	// a quoted dotted key in TOML.
	if err := os.WriteFile(cfgFile, []byte(`
provider = true
"provider.rate" = 50.5
"provider.trustedproxies" = ["10.0.0.0/8", "192.168.1.1"]
metrics = false
[rpc]
txfeecap = 0
proofs = 3
[rpc.ws]
connsperip = 7
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseNode(t, []string{"--config", cfgFile, "--rpc", "0.0.0.0:8545", "--provider.burst", "900", "--provider.keys", "/etc/keys",
		"--provider.maxheadage", "45s", "--rpc.bodylimit", "1000", "--rpc.batchbytes", "2000"},
		map[string]string{"PEERCHAIN_PROVIDER_SENDRATE": "12", "PEERCHAIN_PROVIDER_MINPEERS": "3", "PEERCHAIN_RPC_WS_CONNS": "99"})
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.RPC
	switch {
	case !cfg.Provider || cfg.ProviderKeys != "/etc/keys" || strings.Join(cfg.TrustedProxies, ",") != "10.0.0.0/8,192.168.1.1":
		t.Errorf("provider %v, keys %q, proxies %v", cfg.Provider, cfg.ProviderKeys, cfg.TrustedProxies)
	case r.ClientRate != 50.5 || r.ClientBurst != 900 || r.SendRate != 12 || r.HealthMinPeers != 3 || r.HealthMaxHeadAge != 45*time.Second:
		t.Errorf("limits: rate %v burst %d sendrate %d minpeers %d maxheadage %v", r.ClientRate, r.ClientBurst, r.SendRate, r.HealthMinPeers, r.HealthMaxHeadAge)
	case r.TxFeeCap != -1 || r.ProofLimit != 3 || r.WSConns != 99 || r.WSConnsPerIP != 7 || r.BodyLimit != 1000 || r.BatchResponseBytes != 2000 || !r.NoMetrics:
		t.Errorf("caps: txfeecap %v proofs %d ws %d/%d body %d batch bytes %d no metrics %v", r.TxFeeCap, r.ProofLimit, r.WSConns, r.WSConnsPerIP, r.BodyLimit, r.BatchResponseBytes, r.NoMetrics)
	case r.HeavyLimit != 0:
		t.Errorf("a provider's heavy limit %d: want 0, the provider default", r.HeavyLimit)
	case cfg.ProofWindow != 1024:
		t.Errorf("a provider's proof window %d, want 1024", cfg.ProofWindow)
	}

	cfg, err = parseNode(t, []string{"--provider", "--provider.proofwindow", "300", "--rpc.heavylimit", "4", "--rpc.txfeecap", "2.5"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ProofWindow != 300 || cfg.RPC.HeavyLimit != 4 || cfg.RPC.TxFeeCap != 2.5 {
		t.Errorf("explicit: proof window %d, heavy limit %d, txfeecap %v", cfg.ProofWindow, cfg.RPC.HeavyLimit, cfg.RPC.TxFeeCap)
	}
	cfg, err = parseNode(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Provider || cfg.ProofWindow != 0 || cfg.RPC.TxFeeCap != 1 || cfg.RPC.HeavyLimit != runtime.GOMAXPROCS(0) || cfg.RPC.NoMetrics {
		t.Errorf("defaults: provider %v, proof window %d, txfeecap %v, heavy limit %d, no metrics %v", cfg.Provider, cfg.ProofWindow, cfg.RPC.TxFeeCap, cfg.RPC.HeavyLimit, cfg.RPC.NoMetrics)
	}
}

// --help shows every provider, cap and metrics flag with its default.
func TestProviderFlagsHelp(t *testing.T) {
	var help bytes.Buffer
	root := newRootCmd()
	root.SetOut(&help)
	root.SetArgs([]string{"node", "--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	proofs := strconv.Itoa(min(runtime.GOMAXPROCS(0), 25))
	for _, want := range []string{
		"--provider ", "serve the RPC as a public provider",
		"--provider.keys string", "(default: no keys)",
		"--provider.rate float", "(default 100)",
		"--provider.burst int", "(default 400)",
		"--provider.sendrate int", "(default 60)",
		"--provider.trustedproxies strings", "(default: none)",
		"--provider.minpeers int", "(default 1)",
		"--provider.maxheadage duration", "(default 2m0s)",
		"--provider.proofwindow uint", "(default: 1024 with --provider, otherwise 0, the last 128)",
		"--rpc.txfeecap float", "0 for no cap (default 1)",
		"--rpc.proofs int", "(default " + proofs + ")",
		"--rpc.ws.conns int", "(default 500)",
		"--rpc.ws.connsperip int", "(default 50)",
		"--rpc.bodylimit int", "(default 5242880)",
		"--rpc.batchbytes int", "(default 25000000)",
		"--rpc.batchlimit int", "(default 1000)",
		"--rpc.gascap uint", "(default 50000000)",
		"--rpc.evmtimeout duration", "(default 5s)",
		"--rpc.logrange uint", "(default 10000)",
		"--rpc.logresults int", "(default 20000)",
		"--metrics ", "GET /metrics", "(default true)",
	} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("node --help lacks %q", want)
		}
	}
}

func TestBadProviderSettings(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if err := os.WriteFile(keys, []byte("alice tooshort\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--rpc", "0.0.0.0:8545"}, "--rpc 0.0.0.0:8545 listens beyond loopback: whoever reaches it could use the node's whole API; add --provider"},
		{[]string{"--rpc", ":8545"}, "add --provider"},
		{[]string{"--provider", "--unlock", "0", "--password-file", "pw"}, "--provider with --unlock: a public provider must sign for nobody"},
		{[]string{"--provider", "--dev"}, "--provider with --dev: --dev unlocks the 20 dev accounts"},
		{[]string{"--provider.keys", keys}, "API keys need --provider"},
		{[]string{"--rpc.txfeecap", "-1"}, "--rpc.txfeecap -1: want ether, at least 0 (0: no cap)"},
		{[]string{"--provider.rate", "0"}, "--provider.rate 0: want cost units a second above 0"},
		{[]string{"--provider.burst", "0"}, "--provider.burst 0 and --provider.sendrate 60: must be at least 1"},
		{[]string{"--provider.minpeers", "-1"}, "--provider.minpeers -1: must not be negative"},
		{[]string{"--provider.maxheadage", "0s"}, "--provider.maxheadage 0s: must be positive"},
		{[]string{"--rpc.ws.conns", "0"}, "--rpc.proofs"},
		{[]string{"--rpc.bodylimit", "0"}, "--rpc.bodylimit 0 and --rpc.batchbytes 25000000: must be at least 1 byte"},
		{[]string{"--rpc", "127.0.0.1:0", "--provider", "--provider.keys", keys}, `line 1: the key of "alice" has 8 characters`},
		{[]string{"--rpc", "127.0.0.1:0", "--provider", "--provider.trustedproxies", "proxy.example"}, `trusted proxy "proxy.example"`},
	} {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append([]string{"node", "--rpc", "off", "--p2p", "off", "--datadir", filepath.Join(dir, "dd")}, c.args...))
		if err := root.Execute(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an error containing %q", c.args, err, c.want)
		}
	}
}
