package devnet

import (
	"os"
	"path/filepath"
	"testing"
)

// A light peer's log is followed from where it ended when the devnet
// started: drop records are counted by source, a line is read once it
// ends, other records are not drops, and a truncated log is read again.
func TestDropLogFollowsALightPeersLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.log")
	const (
		earlier = `{"time":"2026-01-01T00:00:00Z","level":"WARN","msg":"Dropped a source","source":"http://old","evidence":"an earlier run"}` + "\n"
		liar    = `{"time":"2026-01-01T00:00:01Z","level":"WARN","msg":"Dropped a source","module":"lightsync","source":"http://liar","for":600000000000,"evidence":"http://liar lied about account 0x01"}` + "\n"
		other   = `{"time":"2026-01-01T00:00:02Z","level":"INFO","msg":"Imported headers","source":"http://liar"}` + "\n"
		quoted  = `{"time":"2026-01-01T00:00:03Z","level":"INFO","msg":"Note","text":"Dropped a source"}` + "\n"
		honest  = `{"time":"2026-01-01T00:00:04Z","level":"WARN","msg":"Dropped a source","source":"/p2p/12D3","evidence":"withheld a block"}` + "\n"
	)
	appendLog := func(s string) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	if d := newDropLog(path).poll(); d.total != 0 {
		t.Fatalf("a log not yet written: %+v", d)
	}
	appendLog(earlier)
	d := newDropLog(path)
	if got := d.poll(); got.total != 0 {
		t.Fatalf("an earlier run's drop counted: %+v", got)
	}
	appendLog(liar + other + quoted + honest[:40])
	got := d.poll()
	if got.total != 1 || got.bySource["http://liar"] != 1 || got.last == nil || got.last.Evidence != "http://liar lied about account 0x01" {
		t.Fatalf("after the liar's drop: %+v", got)
	}
	appendLog(honest[40:])
	got = d.poll()
	if got.total != 2 || got.bySource["/p2p/12D3"] != 1 || got.last.Source != "/p2p/12D3" {
		t.Fatalf("after a line completed: %+v", got)
	}
	if err := os.WriteFile(path, []byte(liar), 0o600); err != nil {
		t.Fatal(err)
	}
	if got = d.poll(); got.total != 3 || got.bySource["http://liar"] != 2 {
		t.Fatalf("after truncation: %+v", got)
	}
}
