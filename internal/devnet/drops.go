package devnet

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"sync"
	"time"
)

// dropMsg is what a light peer logs (at WARN) when it drops a source, with
// the attributes source and evidence.
const dropMsg = "Dropped a source"

// Drop is a source a light peer dropped, as its log tells it.
type Drop struct {
	Time     time.Time `json:"time"`
	Source   string    `json:"source"`
	Evidence string    `json:"evidence"`
}

// maxLogRead bounds what one poll reads of a log; the rest waits for the
// next poll.
const maxLogRead = 4 << 20

// dropLog follows a light peer's JSON log for the sources it drops. It
// starts at the log's end when made, so an earlier run's drops do not
// count, and keeps its place across the peer's restarts (the log is
// appended to).
type dropLog struct {
	path string
	mu   struct {
		sync.Mutex
		offset   int64
		partial  []byte         // a line not yet ended
		bySource map[string]int // drops, by source
		total    int
		last     *Drop
	}
}

func newDropLog(path string) *dropLog {
	d := &dropLog{path: path}
	d.mu.bySource = make(map[string]int)
	if fi, err := os.Stat(path); err == nil {
		d.mu.offset = fi.Size()
	}
	return d
}

// dropCounts is what a dropLog has read so far.
type dropCounts struct {
	total    int
	bySource map[string]int
	last     *Drop
}

// poll reads what the log gained since the last poll and returns the drops
// read so far. A log that cannot be read (not yet written) reads as no
// drops.
func (d *dropLog) poll() dropCounts {
	d.mu.Lock()
	defer d.mu.Unlock()
	// A log not written yet, or unreadable now, adds nothing: the drops
	// read so far stand.
	_ = d.readLocked()
	by := make(map[string]int, len(d.mu.bySource))
	for s, n := range d.mu.bySource {
		by[s] = n
	}
	out := dropCounts{total: d.mu.total, bySource: by}
	if d.mu.last != nil {
		last := *d.mu.last
		out.last = &last
	}
	return out
}

func (d *dropLog) readLocked() error {
	f, err := os.Open(d.path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() < d.mu.offset { // truncated: start again
		d.mu.offset, d.mu.partial = 0, nil
	}
	if _, err := f.Seek(d.mu.offset, io.SeekStart); err != nil {
		return err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxLogRead))
	if err != nil {
		return err
	}
	d.mu.offset += int64(len(data))
	data = append(d.mu.partial, data...)
	end := bytes.LastIndexByte(data, '\n')
	if end < 0 {
		d.mu.partial = boundPartial(data)
		return nil
	}
	d.mu.partial = boundPartial(append([]byte(nil), data[end+1:]...))
	sc := bufio.NewScanner(bytes.NewReader(data[:end+1]))
	sc.Buffer(make([]byte, 0, 64<<10), maxLogRead)
	for sc.Scan() {
		if drop, ok := parseDrop(sc.Bytes()); ok {
			d.mu.total++
			d.mu.bySource[drop.Source]++
			d.mu.last = &drop
		}
	}
	return sc.Err()
}

// boundPartial forgets a line that grows past maxLogRead without ending:
// it is no drop record.
func boundPartial(b []byte) []byte {
	if len(b) > maxLogRead {
		return nil
	}
	return b
}

// parseDrop reads one JSON log line: a drop record, or not.
func parseDrop(line []byte) (Drop, bool) {
	if !bytes.Contains(line, []byte(dropMsg)) {
		return Drop{}, false
	}
	var rec struct {
		Time     time.Time `json:"time"`
		Msg      string    `json:"msg"`
		Source   string    `json:"source"`
		Evidence string    `json:"evidence"`
	}
	if err := json.Unmarshal(line, &rec); err != nil || rec.Msg != dropMsg || rec.Source == "" {
		return Drop{}, false
	}
	return Drop{Time: rec.Time, Source: rec.Source, Evidence: rec.Evidence}, true
}
