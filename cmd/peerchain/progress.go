package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/peerchain/peerchain/internal/node"
	"github.com/peerchain/peerchain/internal/progress"
)

// jobProgress shows a command's long job: a bar when stderr is a terminal
// and the log format is text (log lines then scroll above the bar), else
// structured "Progress" lines through the command's logger.
type jobProgress struct {
	job, unit string
	rep       *progress.Reporter
}

// newJobProgress decides between bar and lines. With a bar it routes the
// command's stderr, where the logger writes, through the bar, so it must
// be called before the logger is made.
func newJobProgress(cmd *cobra.Command, logFormat, job, unit string) *jobProgress {
	j := &jobProgress{job: job, unit: unit}
	stderr := cmd.ErrOrStderr()
	if progress.IsTerminal(stderr) && !strings.EqualFold(logFormat, "json") {
		j.rep = progress.New(progress.Config{Job: job, Unit: unit, Terminal: true, Out: stderr})
		cmd.SetErr(j.rep.LogWriter(stderr))
	}
	return j
}

// reporter is the job's reporter; without a terminal its lines go to log.
func (j *jobProgress) reporter(log *slog.Logger) *progress.Reporter {
	if j.rep == nil {
		j.rep = progress.New(progress.Config{Job: j.job, Unit: j.unit, Logger: log})
	}
	return j.rep
}

// followSync shows each sync of n, polled every second, until ctx ends.
func followSync(ctx context.Context, n *node.Node, rep *progress.Reporter) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	active := false
	for {
		select {
		case <-ctx.Done():
			if active {
				rep.Finish()
			}
			return
		case <-t.C:
		}
		cur, hi, syncing := n.SyncProgress()
		switch {
		case syncing:
			active = true
			rep.Update(cur, hi)
		case active:
			active = false
			rep.Update(cur, max(hi, cur))
			rep.Finish()
		}
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Uint64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(uint64(n))
	return n, err
}

// every calls f every d until ctx ends, then once more.
func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			f()
			return
		case <-t.C:
			f()
		}
	}
}
