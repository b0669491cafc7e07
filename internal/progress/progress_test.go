package progress

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestETA(t *testing.T) {
	for _, tc := range []struct {
		remaining uint64
		rate      float64
		want      time.Duration
		ok        bool
	}{
		{0, 0, 0, true},                   // done: nothing left, whatever the rate
		{100, 0, 0, false},                // stalled: no ETA
		{100, 10, 10 * time.Second, true}, // 100 at 10/s
		{1000, 3, 333 * time.Second, true},
		{90_000, 25, time.Hour, true},
		{1 << 62, 1e-9, 0, false}, // beyond a Duration: no ETA, not an overflow
	} {
		got, ok := ETA(tc.remaining, tc.rate)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ETA(%d, %v) = %v, %v; want %v, %v", tc.remaining, tc.rate, got, ok, tc.want, tc.ok)
		}
	}
}

// The rate follows the window: after a fast start and a slow minute, the
// ETA is the slow rate's, not the average since the start.
func TestRateFollowsWindow(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	r := New(Config{Job: "sync", Window: 30 * time.Second, Now: clk.now})
	r.Update(0, 10_000)
	clk.advance(10 * time.Second)
	r.Update(5_000, 10_000) // 500 blocks/s for 10 s
	for i := 0; i < 60; i++ {
		clk.advance(time.Second)
		r.Update(5_000+uint64(i+1)*10, 10_000) // then 10 blocks/s
	}
	s := r.Snapshot()
	if !s.Known || s.Rate < 9.9 || s.Rate > 10.1 {
		t.Fatalf("rate %v (known %v), want 10 blocks/s over the 30 s window", s.Rate, s.Known)
	}
	if !s.HasETA || s.ETA != time.Duration(float64(10_000-5_600)/s.Rate*float64(time.Second)).Round(time.Second) {
		t.Fatalf("ETA %v (has %v), want 440s", s.ETA, s.HasETA)
	}
	// No progress for a whole window: stalled, no ETA.
	for i := 0; i < 31; i++ {
		clk.advance(time.Second)
		r.Update(5_600, 10_000)
	}
	if s := r.Snapshot(); s.HasETA || s.Rate != 0 {
		t.Fatalf("after a stalled window: rate %v, ETA %v (has %v); want 0 and none", s.Rate, s.ETA, s.HasETA)
	}
}

// Without a terminal the reporter writes one structured line per
// interval, with the figures as fields.
func TestLogLines(t *testing.T) {
	var buf bytes.Buffer
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	r := New(Config{Job: "import", Logger: log, Every: 5 * time.Second, Now: clk.now, Out: &buf})
	for i := 0; i <= 20; i++ { // 20 s at 100 blocks/s
		r.Update(uint64(i)*100, 4_000)
		clk.advance(time.Second)
	}
	r.Finish()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 5 { // at 5, 10, 15, 20 s, and the last
		t.Fatalf("%d lines, want 5:\n%s", len(lines), buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[3]), &rec); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"msg": "Progress", "job": "import", "done": 2000.0, "total": 4000.0,
		"unit": "blocks", "percent": "50.0", "rate": "100.00", "eta": "20s"}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("line 4 field %s = %v, want %v (%s)", k, rec[k], v, lines[3])
		}
	}
	if strings.Contains(buf.String(), "\r") || strings.Contains(buf.String(), "[=") {
		t.Errorf("a bar was drawn without a terminal:\n%s", buf.String())
	}
}

// A stalled job says so in its line instead of an ETA.
func TestLogLineStalled(t *testing.T) {
	var buf bytes.Buffer
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	r := New(Config{Job: "sync", Logger: slog.New(slog.NewJSONHandler(&buf, nil)), Now: clk.now})
	for i := 0; i < 6; i++ {
		r.Update(700, 1_000)
		clk.advance(time.Second)
	}
	if !strings.Contains(buf.String(), `"eta":"stalled"`) {
		t.Fatalf("want eta stalled, got %s", buf.String())
	}
}

// On a terminal: a bar redrawn in place, log lines scroll above it, the
// last bar stays on its own line.
func TestTerminalBar(t *testing.T) {
	var term bytes.Buffer
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	r := New(Config{Job: "verify", Terminal: true, Out: &term, Now: clk.now})
	log := slog.New(slog.NewTextHandler(r.LogWriter(&term), nil))
	r.Update(0, 200)
	clk.advance(2 * time.Second)
	r.Update(100, 200)
	log.Info("hello")
	r.Finish()
	out := term.String()
	bar := "verify [============>           ]  50.0% 100 blocks/200 blocks  50 blocks/s  ETA 2s"
	if !strings.Contains(out, "\r\x1b[K"+bar) {
		t.Fatalf("bar missing: %q", out)
	}
	// The log line clears the bar, prints, then the bar comes back.
	i := strings.Index(out, "msg=hello")
	if i < 0 || !strings.HasSuffix(out[:strings.LastIndex(out[:i], "time=")], bar+"\r\x1b[K") {
		t.Fatalf("log line not after a cleared line: %q", out)
	}
	if !strings.Contains(out[i:], "\n"+bar) {
		t.Fatalf("bar not redrawn after the log line: %q", out[i:])
	}
	if !strings.HasSuffix(out, bar+"\n") {
		t.Fatalf("Finish left no final bar line: %q", out)
	}
}

func TestBytesUnit(t *testing.T) {
	r := New(Config{Job: "import", Unit: "bytes"})
	got := r.Line(Snapshot{Done: 3 << 20, Total: 12 << 20, Rate: 1 << 20, Known: true, ETA: 9 * time.Second, HasETA: true})
	want := "import [======>                 ]  25.0% 3.0 MiB/12.0 MiB  1.0 MiB/s  ETA 9s"
	if got != want {
		t.Fatalf("line\n%q\nwant\n%q", got, want)
	}
}
