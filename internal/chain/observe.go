package chain

import (
	"time"

	"github.com/ethereum/go-ethereum/core/types"
)

// InsertStats is what one InsertBlock did and what it cost, for
// Config.OnInsert (the node's metrics).
type InsertStats struct {
	Number uint64
	Status InsertStatus // meaningful when Err is nil
	// Err is InsertBlock's error: nil when the block was stored.
	Err error
	// Total is the time InsertBlock held the chain's lock (waiting for it
	// and delivering the head event excluded).
	Total time.Duration
	// Validation is the time the block's header and body rules took (PoW
	// included), zero when they failed.
	Validation time.Duration
	// Execution is the time spent executing blocks, and Executed their
	// number: the block itself, a branch's blocks on a reorg, and blocks
	// run again to rebuild a lost state.
	Execution time.Duration
	Executed  int
	// Dropped and Added are the blocks a head change took off and put on
	// the canonical chain (Dropped > 0: a reorg of that depth).
	Dropped, Added int
}

// insertTiming accumulates the current insert's timings; guarded by the
// chain's mu (every insert holds it; the start-up state rebuild runs
// before anyone else can).
type insertTiming struct {
	validation time.Duration
	execution  time.Duration
	executed   int
}

// timeExecution adds the time since start to the current insert's
// execution time: `defer c.timeExecution(time.Now())`.
func (c *Chain) timeExecution(start time.Time) {
	c.mu.timing.execution += time.Since(start)
	c.mu.timing.executed++
}

// insertStats gathers the stats of an insert that started at start.
func (c *Chain) insertStats(block *types.Block, start time.Time, t insertTiming, status InsertStatus, ev *HeadEvent, err error) InsertStats {
	s := InsertStats{
		Number: block.NumberU64(), Status: status, Err: err, Total: time.Since(start),
		Validation: t.validation, Execution: t.execution, Executed: t.executed,
	}
	if ev != nil {
		s.Dropped, s.Added = len(ev.Removed), len(ev.Added)
	}
	return s
}
