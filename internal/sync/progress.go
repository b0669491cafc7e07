package sync

import (
	"log/slog"
	gosync "sync"
	"time"
)

// Progress is the state of a running sync, for eth_syncing and the logs.
type Progress struct {
	Starting  uint64  // head when the sync started
	Current   uint64  // head now
	Highest   uint64  // the peer's head
	Txs       uint64  // transactions imported by this sync
	BlocksSec float64 // import rate over the sync so far
	TxsSec    float64
	ETA       time.Duration
}

type progressTracker struct {
	mu      gosync.Mutex
	active  bool
	p       Progress
	started time.Time
	logged  time.Time
}

func (t *progressTracker) start(current, highest uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.active = true
	t.p = Progress{Starting: current, Current: current, Highest: highest}
	t.started = time.Now()
	t.logged = t.started
}

func (t *progressTracker) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.active = false
}

func (t *progressTracker) imported(number uint64, txs int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if number > t.p.Current {
		t.p.Current = number
	}
	if number > t.p.Highest {
		t.p.Highest = number
	}
	t.p.Txs += uint64(txs)
	if el := time.Since(t.started).Seconds(); el > 0 {
		t.p.BlocksSec = float64(t.p.Current-t.p.Starting) / el
		t.p.TxsSec = float64(t.p.Txs) / el
		if t.p.BlocksSec > 0 {
			t.p.ETA = time.Duration(float64(t.p.Highest-t.p.Current) / t.p.BlocksSec * float64(time.Second))
		}
	}
}

func (t *progressTracker) maybeLog(log *slog.Logger) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if time.Since(t.logged) < 5*time.Second {
		return
	}
	t.logged = time.Now()
	log.Info("Syncing", "current", t.p.Current, "highest", t.p.Highest,
		"blocks/s", int(t.p.BlocksSec), "txs/s", int(t.p.TxsSec), "eta", t.p.ETA.Round(time.Second))
}

// Progress returns the running sync's progress, or false when not syncing.
func (s *Syncer) Progress() (Progress, bool) {
	s.progress.mu.Lock()
	defer s.progress.mu.Unlock()
	if !s.progress.active {
		return Progress{}, false
	}
	return s.progress.p, true
}
