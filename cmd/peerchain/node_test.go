package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

func TestSettingsPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "peerchain.toml")
	if err := os.WriteFile(cfgFile, []byte(`
datadir = "/from/config"
mine = true
[miner]
threads = 3
coinbase = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
[rpc]
cors = ["http://a.example", "http://b.example"]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var f nodeFlags
	cmd := newNodeCmd()
	cmd.ResetFlags()
	f.register(cmd.Flags())
	if err := cmd.Flags().Parse([]string{"--config", cfgFile, "--miner.threads", "5"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PEERCHAIN_DATADIR": "/from/env", "PEERCHAIN_LOG_LEVEL": "debug"}
	if err := applySettings(cmd.Flags(), func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	switch {
	case f.minerThreads != 5:
		t.Errorf("flag lost to config: threads %d", f.minerThreads)
	case f.datadir != "/from/env":
		t.Errorf("env lost to config: datadir %s", f.datadir)
	case f.logLevel != "debug":
		t.Errorf("env ignored: log level %s", f.logLevel)
	case !f.mine || f.minerCoinbase != "0x70997970C51812dc3A010C7d01b50e0d17dc79C8":
		t.Errorf("config ignored: mine %v coinbase %s", f.mine, f.minerCoinbase)
	case strings.Join(f.rpcCORS, ",") != "http://a.example,http://b.example":
		t.Errorf("config list: %v", f.rpcCORS)
	}
	cfg, err := f.nodeConfig(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Mine || cfg.Miner.Coinbase != common.HexToAddress("0x70997970C51812dc3A010C7d01b50e0d17dc79C8") || cfg.Miner.Threads != 5 {
		t.Fatalf("node config %+v", cfg.Miner)
	}
}

func TestBadSettings(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown config key", []string{"--config", write("a.toml", "minr.threads = 2\n")}, nil, `unknown setting "minr.threads"`},
		{"config value of the wrong type", []string{"--config", write("b.toml", "[miner]\nthreads = \"many\"\n")}, nil, `setting "miner.threads"`},
		{"broken TOML", []string{"--config", write("c.toml", "mine = \n")}, nil, "c.toml"},
		{"bad env value", nil, map[string]string{"PEERCHAIN_MINE": "perhaps"}, "PEERCHAIN_MINE"},
		{"bad coinbase", []string{"--miner.coinbase", "0x1234"}, nil, `--miner.coinbase "0x1234": not a 20-byte hex address`},
		{"zero threads", []string{"--miner.threads", "0"}, nil, "--miner.threads 0: must be at least 1"},
		{"long extra data", []string{"--miner.extradata", strings.Repeat("x", 33)}, nil, "at most 32"},
		{"bad log level", []string{"--log.level", "loud"}, nil, `--log.level "loud"`},
		{"mine without coinbase", []string{"--mine", "--datadir", dir}, nil, "coinbase"},
		{"missing genesis file", []string{"--genesis", filepath.Join(dir, "none.json")}, nil, "none.json"},
		{"unlock on a public RPC", []string{"--unlock", "0", "--password-file", "pw", "--rpc", "0.0.0.0:8545"}, nil, "--allow-insecure-unlock"},
		{"unlock without a password file", []string{"--unlock", "0"}, nil, "--unlock needs --password-file"},
		{"zero log range", []string{"--rpc.logrange", "0"}, nil, "--rpc.logrange 0"},
		{"bad minimum chain work", []string{"--sync.minchainwork", "lots"}, nil, `--sync.minchainwork "lots"`},
		{"negative minimum chain work", []string{"--sync.minchainwork", "-5"}, nil, "between 0 and 2^256"},
		{"bad genesis", []string{"--genesis", write("g.json", `{"config":{"chainId":5,"londonBlock":7},"difficulty":"0x100","gasLimit":"0x1000000","alloc":{}}`)}, nil, "config.londonBlock 7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := newRootCmd()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&out)
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			root.SetArgs(append([]string{"node", "--rpc", "off", "--p2p", "off", "--datadir", filepath.Join(dir, "dd-"+strings.ReplaceAll(c.name, " ", "-"))}, c.args...))
			err := root.Execute()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			t.Log(err)
		})
	}
}

func TestBadLightSettings(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no sources", nil, "no sources"},
		{"a provider that is not a URL", []string{"--providers", "127.0.0.1:8545"}, `--providers "127.0.0.1:8545": want an http(s)://`},
		{"a bad bootnode", []string{"--bootnodes", "/ip4/1.2.3.4/tcp/1"}, "--bootnodes"},
		{"bootnodes without P2P", []string{"--p2p", "off", "--bootnodes", "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWEwtDbRF5PkQN78wnzDpbsq9ah9zDJzh1bSw3s2Uuap7C"}, "--bootnodes with --p2p off"},
		{"a public RPC", []string{"--providers", "http://127.0.0.1:1", "--rpc", "0.0.0.0:8545"}, "listens on loopback only"},
		{"zero source timeout", []string{"--providers", "http://127.0.0.1:1", "--source.timeout", "0s"}, "--source.timeout 0s"},
		{"bad minimum chain work", []string{"--providers", "http://127.0.0.1:1", "--sync.minchainwork", "x"}, "--sync.minchainwork"},
		{"dev and genesis", []string{"--providers", "http://127.0.0.1:1", "--dev", "--genesis", "g.json"}, "--dev and --genesis"},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := newRootCmd()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs(append([]string{"light", "--datadir", filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))}, c.args...))
			err := root.Execute()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}
