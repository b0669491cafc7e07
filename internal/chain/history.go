package chain

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/triedb/pathdb"

	"github.com/peerchain/peerchain/internal/chaindb"
)

// maxProofWindow bounds Config.ProofWindow (pathdb counts it in an int64).
const maxProofWindow = math.MaxInt64

// ErrHistoryIndexing: the state is inside the proof window but pathdb is
// still indexing its histories (at start, and after the window is turned
// on); retrying shortly succeeds. It wraps ErrStateUnavailable.
var ErrHistoryIndexing = fmt.Errorf("%w: state history still being indexed", ErrStateUnavailable)

// WindowError is a state query for a block older than Config.ProofWindow.
// It wraps ErrStateUnavailable.
type WindowError struct {
	Number uint64 // the block asked for
	Head   uint64 // the head when asked
	Window uint64 // Config.ProofWindow
}

func (e *WindowError) Error() string {
	return fmt.Sprintf("state of block %d is outside the proof window: this node serves the state of the last %d blocks (%d to %d)",
		e.Number, e.Window, e.Head+1-e.Window, e.Head)
}

func (e *WindowError) Unwrap() error { return ErrStateUnavailable }

// StateTries opens the tries of a state for Merkle proofs; a
// state.Database is one.
type StateTries interface {
	// OpenTrie opens the account trie of the state with root.
	OpenTrie(root common.Hash) (state.Trie, error)
	// OpenStorageTrie opens the storage trie, with root, of address in the
	// state with stateRoot; self is the account trie (may be nil).
	OpenStorageTrie(stateRoot common.Hash, address common.Address, root common.Hash, self state.Trie) (state.Trie, error)
}

// ProofWindow returns Config.ProofWindow after defaults: 0, or how many
// recent blocks StateAtBlock and TriesAtBlock serve.
func (c *Chain) ProofWindow() uint64 { return c.cfg.ProofWindow }

// StateAtBlock returns a private, mutable state after block h for queries
// (never commit it: a historical one cannot be). Without a ProofWindow it is StateAt(h.Root).
// With one, the block must be one of the last ProofWindow blocks
// (*WindowError otherwise); its state comes from the memory layers or, for a
// canonical block below them, from pathdb's histories (ErrHistoryIndexing
// while they are being indexed).
func (c *Chain) StateAtBlock(h *types.Header) (*state.StateDB, error) {
	db, err := c.stateDBAt(h)
	if err != nil {
		return nil, err
	}
	st, err := state.New(h.Root, db)
	if err != nil && db == c.state && c.historic != nil {
		// The layer was flattened into the history since stateDBAt.
		if db, err = c.stateDBAt(h); err != nil {
			return nil, err
		}
		st, err = state.New(h.Root, db)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: state of block %d (root %s): %v", ErrStateUnavailable, h.Number, h.Root, err)
	}
	return st, nil
}

// TriesAtBlock returns an opener of the tries of the state after block h,
// for Merkle proofs, with the rules and errors of StateAtBlock. A memory
// layer can be flattened into the history while a proof is being built:
// the proof then fails, and a second call serves it from the history.
func (c *Chain) TriesAtBlock(h *types.Header) (StateTries, error) {
	return c.stateDBAt(h)
}

// stateDBAt picks the state database that reads the state after h.
func (c *Chain) stateDBAt(h *types.Header) (state.Database, error) {
	n := h.Number.Uint64()
	if w := c.cfg.ProofWindow; w > 0 {
		if head := c.CurrentBlock().NumberU64(); n+w <= head {
			return nil, &WindowError{Number: n, Head: head, Window: w}
		}
	}
	if c.HasState(h.Root) {
		return c.state, nil
	}
	if c.historic == nil {
		return nil, fmt.Errorf("%w: state of block %d (root %s) is neither in the memory layers nor the persisted state", ErrStateUnavailable, n, h.Root)
	}
	if !c.IsCanonical(h) {
		return nil, fmt.Errorf("%w: block %d (%s) is not canonical and its state is no longer in memory (history keeps canonical states only)", ErrStateUnavailable, n, h.Hash())
	}
	if _, err := c.triedb.HistoricNodeReader(h.Root); err != nil {
		return nil, c.historyError(n, h.Root, err)
	}
	return c.historic, nil
}

// historicStateAt opens the state with root from pathdb's histories.
func (c *Chain) historicStateAt(root common.Hash) (*state.StateDB, error) {
	if _, err := c.triedb.HistoricNodeReader(root); err != nil {
		return nil, err
	}
	return state.New(root, c.historic)
}

// historyError explains why pathdb's history does not serve root.
func (c *Chain) historyError(n uint64, root common.Hash, err error) error {
	if strings.Contains(err.Error(), "indexed") {
		// pathdb indexes the histories after it opens, and after the window
		// is turned on waits for the first new history before it calls its
		// index ready.
		left := ""
		if states, nodes, perr := c.triedb.IndexProgress(); perr == nil && states+nodes > 0 {
			left = fmt.Sprintf(" (%d state and %d trie node histories left)", states, nodes)
		}
		return fmt.Errorf("%w%s: state of block %d (root %s): %v", ErrHistoryIndexing, left, n, root, err)
	}
	return fmt.Errorf("%w: state of block %d (root %s) is not in the trie node history (it begins where the proof window was turned on, enlarged or restarted): %v",
		ErrStateUnavailable, n, root, err)
}

// setHistoryConfig turns on what a proof window needs in pathdb: trie node
// history for the window and the indexes of both histories. Indexing
// starts at once (NoHistoryIndexDelay): pathdb would otherwise wait until
// it saw go-ethereum's own chain head, which our schema never writes.
func setHistoryConfig(pcfg *pathdb.Config, window uint64) {
	pcfg.TrienodeHistory = int64(window)
	pcfg.EnableStateIndexing = true
	pcfg.NoHistoryIndexDelay = true
}

// prepareHistory keeps pathdb's optional histories consistent with the
// proof window before the trie database opens; pathdb maintains them only
// while the window is on and cannot repair what happened in between. A
// run without the window leaves them on disk (a tool such as export opens
// a provider's data dir without one), and with the window:
//   - indexes marked stale (markHistoryStale: the state history was rolled
//     back while they were off, so they would now misplace changes) are
//     deleted with the trie node history, and rebuilt;
//   - a trie node history that stops short of the persisted state (blocks
//     were imported without the window) is deleted with its index: pathdb
//     refuses to open with such a gap, and starts a new one instead.
func prepareHistory(db *chaindb.DB, sdb ethdb.Database, window uint64, log *slog.Logger) error {
	if window == 0 {
		return nil
	}
	ancient, err := sdb.AncientDatadir()
	if err != nil {
		return fmt.Errorf("state history dir: %w", err)
	}
	dir := ""
	if ancient != "" {
		dir = filepath.Join(ancient, rawdb.MerkleTrienodeFreezerName)
	}
	stale, err := chaindb.ReadHistoryIndexStale(db)
	if err != nil {
		return err
	}
	if stale {
		log.Warn("State history was rolled back while the proof window was off; rebuilding its indexes and trie node history")
		if err := deleteIndexes(sdb, true); err != nil {
			return err
		}
		if dir != "" {
			if err := os.RemoveAll(dir); err != nil {
				return fmt.Errorf("delete stale trie node history %s: %w", dir, err)
			}
		}
		return chaindb.DeleteHistoryIndexStale(db)
	}
	if dir == "" {
		return nil
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("trie node history %s: %w", dir, err)
	}
	persisted := rawdb.ReadPersistentStateID(sdb)
	head, err := trienodeHistoryHead(ancient)
	if err == nil && (head == 0 || head >= persisted) {
		return nil
	}
	log.Warn("Trie node history stops short of the persisted state (blocks were imported without the proof window); starting it again",
		"historyhead", head, "state", persisted, "err", err)
	// The index first: a crash in between leaves only the history, which
	// the next start deletes.
	if err := deleteIndexes(sdb, false); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("delete trie node history %s (it stops at state %d, before the persisted state %d): %w", dir, head, persisted, err)
	}
	return nil
}

// markHistoryStale is called before the state history is rolled back
// without the proof window: pathdb then truncates the state history but
// not the indexes built by an earlier run with the window, so the next run
// with it must rebuild them (prepareHistory).
func (c *Chain) markHistoryStale() error {
	if c.historic != nil {
		return nil // pathdb unindexes what it rolls back
	}
	sdb := c.db.StateDB()
	if len(rawdb.ReadStateHistoryIndexMetadata(sdb)) == 0 && len(rawdb.ReadTrienodeHistoryIndexMetadata(sdb)) == 0 {
		return nil
	}
	if err := chaindb.WriteHistoryIndexStale(c.db); err != nil {
		return fmt.Errorf("mark history indexes stale before a rollback: %w", err)
	}
	return nil
}

// trienodeHistoryHead opens the trie node history read-only for its head.
func trienodeHistoryHead(ancient string) (uint64, error) {
	f, err := rawdb.NewTrienodeFreezer(ancient, false, true)
	if err != nil {
		return 0, fmt.Errorf("open trie node history: %w", err)
	}
	head, err := f.Ancients()
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("read trie node history head: %w", err)
	}
	return head, nil
}

// deleteIndexes deletes the trie node history index, and the state
// history index too when states is set, metadata and entries in one batch
// (entries without metadata would be appended to; metadata without entries
// would claim histories indexed).
func deleteIndexes(sdb ethdb.Database, states bool) error {
	batch := sdb.NewBatch()
	defer batch.Close()
	rawdb.DeleteTrienodeHistoryIndexMetadata(batch)
	rawdb.DeleteTrienodeHistoryIndexes(batch)
	if states {
		rawdb.DeleteStateHistoryIndexMetadata(batch)
		rawdb.DeleteStateHistoryIndexes(batch)
	}
	if err := batch.Write(); err != nil {
		return fmt.Errorf("delete history indexes: %w", err)
	}
	return nil
}
