package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every source shows: a flag, the environment, the file, the default; a
// flag beats the environment, which beats the file.
func TestConfigShowSources(t *testing.T) {
	file := filepath.Join(t.TempDir(), "peerchain.toml")
	if err := os.WriteFile(file, []byte("mine = true\ncache = 32\n[miner]\nthreads = 4\ncoinbase = \"0x70997970C51812dc3A010C7d01b50e0d17dc79C8\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PEERCHAIN_CACHE": "128", "PEERCHAIN_MINER_THREADS": "2"}
	var out bytes.Buffer
	err := configShow(&out, []string{"--config", file, "--miner.threads", "8", "--rpc.vhosts", "a,b", "--json"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	var got []setting
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	by := map[string]setting{}
	for _, s := range got {
		by[s.Name] = s
	}
	for name, want := range map[string][2]string{
		"miner.threads":  {"8", "flag"},
		"cache":          {"128", "env PEERCHAIN_CACHE"},
		"mine":           {"true", "file " + file},
		"miner.coinbase": {"0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "file " + file},
		"rpc.vhosts":     {"a,b", "flag"},
		"maxpeers":       {"64", "default"},
		"config":         {file, "flag"},
	} {
		if s := by[name]; s.Value != want[0] || s.Source != want[1] {
			t.Errorf("%s = %q from %q, want %q from %q", name, s.Value, s.Source, want[0], want[1])
		}
	}
	if len(got) < 60 {
		t.Errorf("%d settings, want every node flag", len(got))
	}
}

func TestConfigShowLightAndRedaction(t *testing.T) {
	var out bytes.Buffer
	err := configShow(&out, []string{"light", "--providers", "http://alice:hunter2@a:8545/Key_0123456789abcdef,http://b:8545"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if strings.Contains(s, "hunter2") || strings.Contains(s, "Key_0123456789abcdef") {
		t.Fatalf("secrets printed:\n%s", s)
	}
	if !strings.Contains(s, "http://alice:redacted@a:8545/redacted,http://b:8545") || !strings.Contains(s, "source.timeout") {
		t.Fatalf("light settings or redacted URL missing:\n%s", s)
	}
	if err := configShow(&out, []string{"--no-such-flag"}, func(string) string { return "" }); err == nil {
		t.Fatal("an unknown flag was accepted")
	}
	if err := configShow(&out, nil, func(k string) string { return map[string]string{"PEERCHAIN_MAXPEERS": "many"}[k] }); err == nil || !strings.Contains(err.Error(), "PEERCHAIN_MAXPEERS") {
		t.Fatalf("a bad environment value: %v", err)
	}
}
