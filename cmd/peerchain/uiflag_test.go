package main

import (
	"testing"
)

// --ui (default on) puts the embedded web UI in the RPC configuration of
// `peerchain node` and `peerchain light`; --ui=false and --rpc off leave it out.
func TestUIFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
		want bool
	}{
		{nil, nil, true},
		{[]string{"--ui=false"}, nil, false},
		{nil, map[string]string{"PEERCHAIN_UI": "false"}, false},
		{[]string{"--rpc", "off"}, nil, false},
	} {
		cfg, err := parseNode(t, c.args, c.env)
		if err != nil {
			t.Fatalf("node %v %v: %v", c.args, c.env, err)
		}
		if got := cfg.RPC.UI != nil; got != c.want {
			t.Errorf("node %v %v: UI served %v, want %v", c.args, c.env, got, c.want)
		}
	}
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"--providers", "http://127.0.0.1:1"}, true},
		{[]string{"--providers", "http://127.0.0.1:1", "--ui=false"}, false},
	} {
		var f lightFlags
		cmd := newLightCmd()
		cmd.ResetFlags()
		f.register(cmd.Flags())
		if err := cmd.Flags().Parse(append(c.args, "--datadir", t.TempDir())); err != nil {
			t.Fatal(err)
		}
		cfg, err := f.lightConfig(cmd)
		if err != nil {
			t.Fatalf("light %v: %v", c.args, err)
		}
		if got := cfg.RPC.UI != nil; got != c.want {
			t.Errorf("light %v: UI served %v, want %v", c.args, got, c.want)
		}
	}
}
