package txpool

import (
	"fmt"
	"slices"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

// Journal keeps acknowledged transactions across restarts.
type Journal interface {
	// Write stores txs durably (synced) before returning.
	Write(txs []*types.Transaction) error
	// Delete forgets transactions (need not be synced).
	Delete(hashes []common.Hash) error
	// Load returns every journaled transaction.
	Load() ([]*types.Transaction, error)
}

// committer shares the journal's synced writes among concurrent callers
// (group commit). A caller queues its records in the open group and
// waits; whoever takes the writer's token first writes every record
// queued so far in one synced Journal.Write and releases all their
// waiters, while the records arriving meanwhile gather in the next group.
// No goroutine of its own: the writer is always one of the waiters.
type committer struct {
	journal Journal
	// write is the writer's token: held while a group is written, and by
	// delete, so that a delete never overtakes a queued write of the same
	// transaction.
	write chan struct{}
	mu    struct {
		sync.Mutex
		open *commitGroup // records waiting for the next write; nil if none
	}
}

// commitGroup is the records of one synced write and its outcome.
type commitGroup struct {
	txs  []*types.Transaction
	done chan struct{} // closed once written; err is set before
	err  error
}

func newCommitter(j Journal) *committer {
	return &committer{journal: j, write: make(chan struct{}, 1)}
}

// queue adds txs to the open group and returns it; wait(group) returns
// once they are durable.
func (c *committer) queue(txs []*types.Transaction) *commitGroup {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.open == nil {
		c.mu.open = &commitGroup{done: make(chan struct{})}
	}
	c.mu.open.txs = append(c.mu.open.txs, txs...)
	return c.mu.open
}

// wait returns the outcome of g's write, writing the open group itself
// when no write is under way.
func (c *committer) wait(g *commitGroup) error {
	select {
	case <-g.done:
		return g.err
	case c.write <- struct{}{}:
	}
	// The previous writer finished before giving the token back: g is
	// either written already or still open, and then this write takes it.
	c.mu.Lock()
	w := c.mu.open
	c.mu.open = nil
	c.mu.Unlock()
	if w != nil {
		if len(w.txs) > 0 {
			w.err = c.journal.Write(w.txs)
		}
		close(w.done)
	}
	<-c.write
	<-g.done
	return g.err
}

// delete forgets hashes: a record still queued is taken out of its group
// (the transaction left the pool before it was written; its waiter is
// still acknowledged, it was accepted), the others are deleted from the
// journal after any write under way. The chain deletes included
// transactions in its own batches, not through here: one included in the
// instant between its admission and its write stays in the journal, and
// Load drops it (nonce too low).
func (c *committer) delete(hashes []common.Hash) error {
	if len(hashes) == 0 {
		return nil
	}
	c.write <- struct{}{}
	defer func() { <-c.write }()
	c.mu.Lock()
	if g := c.mu.open; g != nil {
		g.txs = slices.DeleteFunc(g.txs, func(tx *types.Transaction) bool { return slices.Contains(hashes, tx.Hash()) })
	}
	c.mu.Unlock()
	return c.journal.Delete(hashes)
}

func (p *Pool) deleteJournal(hashes []common.Hash) {
	if len(hashes) == 0 || p.commit == nil {
		return
	}
	if err := p.commit.delete(hashes); err != nil {
		p.log.Warn("Tx journal delete failed", "err", err)
	}
}

// DBJournal is a Journal over the peer's database.
type DBJournal struct {
	DB journalDB
}

type journalDB interface {
	WritePoolTxsSync(txs []*types.Transaction) error
	DeletePoolTxs(hashes []common.Hash) error
	LoadPoolTxs() ([]*types.Transaction, error)
}

// Write implements Journal: one synced batch.
func (j DBJournal) Write(txs []*types.Transaction) error { return j.DB.WritePoolTxsSync(txs) }

// Delete implements Journal.
func (j DBJournal) Delete(hashes []common.Hash) error { return j.DB.DeletePoolTxs(hashes) }

// Load implements Journal.
func (j DBJournal) Load() ([]*types.Transaction, error) {
	txs, err := j.DB.LoadPoolTxs()
	if err != nil {
		return nil, fmt.Errorf("load pool journal: %w", err)
	}
	return txs, nil
}
