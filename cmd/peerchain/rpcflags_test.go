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
)

// The RPC's defences are settings: flags, environment and TOML reach the
// node's rpc.Config, and --help shows each with its default.
func TestRPCDefenceFlags(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "peerchain.toml")
	if err := os.WriteFile(cfgFile, []byte(`
[rpc]
vhosts = ["node.example", "localhost"]
filters = 70
[rpc.ws]
origins = ["http://wallet.example"]
subscriptions = 4
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var f nodeFlags
	cmd := newNodeCmd()
	cmd.ResetFlags()
	f.register(cmd.Flags())
	if err := cmd.Flags().Parse([]string{"--config", cfgFile, "--rpc.timeout", "7s", "--rpc.heavylimit", "3", "--rpc.clientfilters", "6"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PEERCHAIN_RPC_MAXREQUESTS": "9", "PEERCHAIN_RPC_SUBSCRIPTIONS": "11"}
	if err := applySettings(cmd.Flags(), func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	cfg, err := f.nodeConfig(cmd)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.RPC
	if strings.Join(r.VirtualHosts, ",") != "node.example,localhost" || strings.Join(r.WSOrigins, ",") != "http://wallet.example" ||
		r.RequestTimeout != 7*time.Second || r.MaxRequests != 9 || r.HeavyLimit != 3 || r.Filters != 70 || r.FiltersPerClient != 6 ||
		r.Subscriptions != 11 || r.SubscriptionsPerConn != 4 {
		t.Fatalf("rpc config %+v", r)
	}

	var help bytes.Buffer
	root := newRootCmd()
	root.SetOut(&help)
	root.SetArgs([]string{"node", "--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	cpus := runtime.GOMAXPROCS(0)
	for _, want := range []string{
		"--rpc.vhosts strings", "(default [localhost,127.0.0.1,[::1]])",
		"--rpc.ws.origins strings",
		"--rpc.timeout duration", "(default 30s)",
		"--rpc.maxrequests int", "(default " + strconv.Itoa(cpus) + ")",
		"--rpc.heavylimit int", "(default " + strconv.Itoa(cpus) + ")",
		"--rpc.filters int", "(default 10000)",
		"--rpc.clientfilters int", "(default 1000)",
		"--rpc.subscriptions int",
		"--rpc.ws.subscriptions int", "(default 100)",
	} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("node --help lacks %q", want)
		}
	}
}

func TestBadRPCDefenceFlags(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--rpc.timeout", "0s"}, "--rpc.timeout 0s: must be positive"},
		{[]string{"--rpc.heavylimit", "0"}, "--rpc.maxrequests 4 and --rpc.heavylimit 0: must be at least 1"},
		{[]string{"--rpc.filters", "0"}, "--rpc.filters 0 and --rpc.clientfilters 1000: must be at least 1"},
		{[]string{"--rpc.ws.subscriptions", "-1"}, "--rpc.subscriptions 10000 and --rpc.ws.subscriptions -1: must be at least 1"},
	} {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append([]string{"node", "--rpc", "off", "--p2p", "off", "--datadir", dir, "--rpc.maxrequests", "4"}, c.args...))
		if err := root.Execute(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an error containing %q", c.args, err, c.want)
		}
	}
}
