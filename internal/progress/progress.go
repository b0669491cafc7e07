// Package progress reports the progress of a long job (a sync, an import,
// a verification): on a terminal as a bar redrawn in place with the rate
// and an ETA, otherwise as structured log lines at a fixed interval, so a
// log collector gets the same figures as fields. The rate is measured over
// a moving window, so the ETA follows what the job does now and not its
// average since the start; with no progress in the window there is no ETA.
//
// It imports no peerchain package.
package progress

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	gosync "sync"
	"time"

	"golang.org/x/term"
)

// Config configures a Reporter.
type Config struct {
	// Job names the work in the bar and the log lines: "sync", "import".
	Job string
	// Unit is what is counted: "blocks" (default) or "bytes" (printed in
	// KiB, MiB, GiB).
	Unit string
	// Terminal draws a bar on Out; otherwise lines go to Logger.
	Terminal bool
	// Out is the terminal (Terminal only).
	Out io.Writer
	// Logger receives the progress lines (not Terminal). Default: none.
	Logger *slog.Logger
	// Every is the interval of the log lines. Default 5 s.
	Every time.Duration
	// Redraw is the shortest interval between two bars. Default 200 ms.
	Redraw time.Duration
	// Window is how far back the rate looks. Default 30 s.
	Window time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// IsTerminal reports whether w is a terminal: a file whose descriptor is
// a TTY.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Snapshot is the state of a job.
type Snapshot struct {
	Done, Total uint64
	// Rate is units a second over the window; Known is false until the
	// window spans a second.
	Rate  float64
	Known bool
	// ETA is the time left at Rate; HasETA is false when the rate is
	// unknown or zero, or the total is unknown (0).
	ETA    time.Duration
	HasETA bool
}

// Percent is Done of Total in percent, 0 when the total is unknown.
func (s Snapshot) Percent() float64 {
	if s.Total == 0 {
		return 0
	}
	return 100 * float64(min(s.Done, s.Total)) / float64(s.Total)
}

// Reporter follows one job. Its methods are safe for concurrent use.
type Reporter struct {
	cfg Config

	mu struct {
		gosync.Mutex
		samples  []sample
		done     uint64
		total    uint64
		logged   time.Time
		drawn    time.Time
		barShown bool   // a bar is on the terminal's last line
		bar      string // the last bar drawn
		finished bool
	}
}

type sample struct {
	at   time.Time
	done uint64
}

// New returns a Reporter for cfg.
func New(cfg Config) *Reporter {
	if cfg.Unit == "" {
		cfg.Unit = "blocks"
	}
	if cfg.Every <= 0 {
		cfg.Every = 5 * time.Second
	}
	if cfg.Redraw <= 0 {
		cfg.Redraw = 200 * time.Millisecond
	}
	if cfg.Window <= 0 {
		cfg.Window = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Out == nil {
		cfg.Terminal = false
	}
	r := &Reporter{cfg: cfg}
	r.mu.logged = cfg.Now()
	return r
}

// Update records that done of total units are finished (total 0: not
// known) and draws or logs when it is time to.
func (r *Reporter) Update(done, total uint64) {
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if done < r.mu.done || r.mu.finished { // a new run: the old rate means nothing
		r.mu.samples = r.mu.samples[:0]
	}
	r.mu.finished = false
	r.mu.done, r.mu.total = done, total
	r.mu.samples = append(r.mu.samples, sample{now, done})
	cut := 0
	for cut < len(r.mu.samples)-2 && now.Sub(r.mu.samples[cut+1].at) >= r.cfg.Window {
		cut++
	}
	r.mu.samples = r.mu.samples[cut:]
	if r.cfg.Terminal {
		if now.Sub(r.mu.drawn) >= r.cfg.Redraw {
			r.drawLocked(now)
		}
		return
	}
	if now.Sub(r.mu.logged) >= r.cfg.Every {
		r.logLocked(now)
	}
}

// Snapshot returns the job's state now.
func (r *Reporter) Snapshot() Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snapshotLocked()
}

func (r *Reporter) snapshotLocked() Snapshot {
	s := Snapshot{Done: r.mu.done, Total: r.mu.total}
	s.Rate, s.Known = rate(r.mu.samples)
	if s.Total > 0 {
		s.ETA, s.HasETA = ETA(s.Total-min(s.Done, s.Total), s.Rate)
		s.HasETA = s.HasETA && s.Known
	}
	return s
}

// Finish ends the job: the bar is drawn a last time and left on its own
// line, or a last log line is written.
func (r *Reporter) Finish() {
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.finished {
		return
	}
	r.mu.finished = true
	if r.cfg.Terminal {
		if r.mu.done > 0 || r.mu.barShown {
			r.drawLocked(now)
			fmt.Fprint(r.cfg.Out, "\n")
		}
		r.mu.barShown = false
		return
	}
	if len(r.mu.samples) > 0 {
		r.logLocked(now)
	}
}

// rate is the units a second between the first and the last sample, and
// whether they span at least a second.
func rate(samples []sample) (float64, bool) {
	if len(samples) < 2 {
		return 0, false
	}
	first, last := samples[0], samples[len(samples)-1]
	el := last.at.Sub(first.at).Seconds()
	if el < 1 {
		return 0, false
	}
	return float64(last.done-min(first.done, last.done)) / el, true
}

// ETA is the time to do remaining units at rate units a second; false
// when the rate is zero (a stalled job has no ETA).
func ETA(remaining uint64, rate float64) (time.Duration, bool) {
	if remaining == 0 {
		return 0, true
	}
	if !(rate > 0) {
		return 0, false
	}
	secs := float64(remaining) / rate
	if secs > float64(1<<62)/float64(time.Second) {
		return 0, false
	}
	return time.Duration(secs * float64(time.Second)).Round(time.Second), true
}

func (r *Reporter) logLocked(now time.Time) {
	r.mu.logged = now
	s := r.snapshotLocked()
	attrs := []any{"job", r.cfg.Job, "done", s.Done, "total", s.Total, "unit", r.cfg.Unit,
		"percent", fmt.Sprintf("%.1f", s.Percent())}
	if s.Known {
		attrs = append(attrs, "rate", fmt.Sprintf("%.2f", s.Rate))
	}
	if s.HasETA {
		attrs = append(attrs, "eta", s.ETA.String())
	} else if s.Known && s.Rate == 0 && s.Done < s.Total {
		attrs = append(attrs, "eta", "stalled")
	}
	r.cfg.Logger.Info("Progress", attrs...)
}

const barWidth = 24

func (r *Reporter) drawLocked(now time.Time) {
	r.mu.drawn = now
	r.mu.bar = r.Line(r.snapshotLocked())
	fmt.Fprint(r.cfg.Out, "\r\x1b[K"+r.mu.bar)
	r.mu.barShown = true
}

// Line renders s as one bar line: job, bar, percent, counts, rate, ETA.
func (r *Reporter) Line(s Snapshot) string {
	var b strings.Builder
	b.WriteString(r.cfg.Job)
	b.WriteString(" [")
	fill := 0
	if s.Total > 0 {
		fill = int(float64(barWidth) * s.Percent() / 100)
	}
	b.WriteString(strings.Repeat("=", fill))
	if fill < barWidth {
		b.WriteString(">")
		b.WriteString(strings.Repeat(" ", barWidth-fill-1))
	}
	b.WriteString("] ")
	if s.Total > 0 {
		fmt.Fprintf(&b, "%5.1f%% %s/%s", s.Percent(), r.amount(s.Done), r.amount(s.Total))
	} else {
		b.WriteString(r.amount(s.Done))
	}
	switch {
	case !s.Known:
		b.WriteString("  rate …")
	default:
		fmt.Fprintf(&b, "  %s/s", r.amount(uint64(s.Rate)))
	}
	switch {
	case s.HasETA:
		fmt.Fprintf(&b, "  ETA %s", s.ETA)
	case s.Known && s.Total > s.Done:
		b.WriteString("  stalled")
	}
	return b.String()
}

func (r *Reporter) amount(n uint64) string {
	if r.cfg.Unit != "bytes" {
		return fmt.Sprintf("%d %s", n, r.cfg.Unit)
	}
	return Bytes(n)
}

// Bytes prints n bytes in B, KiB, MiB or GiB.
func Bytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// LogWriter returns a writer for the logger that shares the terminal
// with the bar: each write clears the bar's line first and draws the bar
// again after, so log lines scroll above it. Without a terminal it is w.
func (r *Reporter) LogWriter(w io.Writer) io.Writer {
	if !r.cfg.Terminal {
		return w
	}
	return logWriter{r: r, w: w}
}

type logWriter struct {
	r *Reporter
	w io.Writer
}

func (l logWriter) Write(p []byte) (int, error) {
	l.r.mu.Lock()
	defer l.r.mu.Unlock()
	if l.r.mu.barShown {
		fmt.Fprint(l.w, "\r\x1b[K")
	}
	n, err := l.w.Write(p)
	if l.r.mu.barShown && !l.r.mu.finished {
		fmt.Fprint(l.w, l.r.mu.bar)
	}
	return n, err
}
