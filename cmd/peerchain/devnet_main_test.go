package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peerchain/peerchain/internal/devnet"
)

// runDevnet runs `peerchain devnet ARGS...` through newDevnetCmd.
func runDevnet(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newDevnetCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

// TestDevnetFlagErrors: bad flags fail before any peer starts.
func TestDevnetFlagErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--nodes", "0"}, "--nodes 0: a devnet has 1 to 32 peers"},
		{[]string{"--nodes", "33"}, "--nodes 33: a devnet has 1 to 32 peers"},
		{[]string{"--miners", "5"}, "--miners 5: must be between 0 and --nodes (4)"},
		{[]string{"--nodes", "3", "--miners", "-1"}, "--miners -1"},
		{[]string{"--nodes", "four"}, `invalid argument "four" for "--nodes"`},
		{[]string{"--providers", "5"}, "--providers 5: must be between 0 and --nodes (4)"},
		{[]string{"--light", "33"}, "--light 33: a devnet has 0 to 32 light peers"},
		{[]string{"--light", "-1"}, "--light -1: a devnet has 0 to 32 light peers"},
		{[]string{"--liar"}, "--liar without --light: the liar lies to light peers, and there are none; add --light 1 or more"},
		{[]string{"--nodes", "0", "--light", "1"}, "--light 1 with --nodes 0: a light peer needs at least one full peer to ask"},
		{[]string{"kill"}, "accepts 1 arg(s), received 0"},
		{[]string{"restart", "peer0", "peer1"}, "accepts 1 arg(s), received 2"},
		{[]string{"partition", "peer0,peer1"}, "requires at least 2 arg(s)"},
		{[]string{"heal", "now"}, `unknown command "now"`},
		{[]string{"kill", "peer0"}, "no running devnet in " + dir},
		{[]string{"status"}, "no running devnet in " + dir},
	} {
		out, err := runDevnet(t, append(c.args, "--dir", dir)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("devnet %v: got %v, want %q\n%s", c.args, err, c.want, out)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a rejected command left files in the devnet dir: %v", entries)
	}
}

func TestDevnetHelpShowsDefaults(t *testing.T) {
	out, err := runDevnet(t, "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--nodes int", "(default 4)", "--miners int", "(default 2)",
		filepath.Join(".peerchain", "devnet") + `")`, "--reset", "--quiet", "kill", "restart", "partition", "heal", "status",
		"--providers int", "--light int", "(0 to 32; default 0, none)", "--liar", "needs --light; default off", "--light-args",
		"peerchain devnet --nodes 3 --miners 1 --providers 1 --light 2 --liar"} {
		if !strings.Contains(out, want) {
			t.Errorf("devnet --help lacks %q:\n%s", want, out)
		}
	}
	for _, sub := range []string{"kill", "restart", "partition", "heal", "status"} {
		if out, err := runDevnet(t, sub, "--help"); err != nil || !strings.Contains(out, "--dir") {
			t.Errorf("devnet %s --help (%v) lacks --dir:\n%s", sub, err, out)
		}
	}
}

// TestDevnetControlCommands drives the subcommands against a supervisor
// whose peers are processes that never answer (a sleep): enough for the
// control socket, the partition rules, kill and status.
func TestDevnetControlCommands(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(t.TempDir(), "peer")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexec sleep 60\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := devnet.New(devnet.Config{Binary: bin, Dir: dir, Nodes: 4, Miners: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := devnet.Dial(dir); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no control socket after 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"partition", "peer0,peer9", "peer1,peer2,peer3"}, `no peer named "peer9"`},
		{[]string{"partition", "peer0,peer1", "peer1,peer2,peer3"}, "peer1 is in group 1 and group 2"},
		{[]string{"partition", "peer0", "peer1,peer2"}, "left out: peer3"},
		{[]string{"partition", "peer0,peer1", ",", "peer2,peer3"}, "group 2 is empty"},
		{[]string{"kill", "peer4"}, `no peer named "peer4"`},
	} {
		out, err := runDevnet(t, append(c.args, "--dir", dir)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("devnet %v: got %v, want %q\n%s", c.args, err, c.want, out)
		}
	}

	if out, err := runDevnet(t, "kill", "peer2", "--dir", dir); err != nil {
		t.Fatalf("kill: %v\n%s", err, out)
	}
	out, err := runDevnet(t, "status", "--json", "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	var st []devnet.PeerStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st) != 4 {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if st[2].Alive || !st[1].Alive || !st[1].Miner || st[3].Miner {
		t.Fatalf("status after kill peer2: %+v", st)
	}
	if out, err := runDevnet(t, "status", "--dir", dir); err != nil || !strings.Contains(out, "peer3") || !strings.Contains(out, "NAME") {
		t.Fatalf("status: %v\n%s", err, out)
	}
	if state, err := devnet.ReadState(dir); err != nil || state.Peers[2].Alive {
		t.Fatalf("devnet.json after kill: %+v %v", state, err)
	}
}
