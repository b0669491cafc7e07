package chaindb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/ethdb"
)

// StatePrefix namespaces everything go-ethereum's state layer writes.
const StatePrefix = "S"

// DB is the peer's database: the Pebble store plus the directory of the
// state-history freezer. It implements ethdb.Database so go-ethereum's
// triedb can use it; the ancient (freezer) chain store is not used, chain
// data lives in the key-value store under our own schema.
type DB struct {
	*KV
	ancientDir string
}

var _ ethdb.Database = (*DB)(nil)

// Open opens the database in dir (created if missing). The state history
// freezer goes to dir/ancient.
func Open(dir string, o KVOptions) (*DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	kv, err := OpenKV(filepath.Join(dir, "chaindata"), o)
	if err != nil {
		return nil, err
	}
	return &DB{KV: kv, ancientDir: filepath.Join(dir, "ancient")}, nil
}

// NewEphemeral wraps kv with an in-memory state-history freezer (for tests
// and benchmarks whose data dies with the process).
func NewEphemeral(kv *KV) *DB { return &DB{KV: kv} }

// StateDB returns the namespaced view go-ethereum's state layer writes to.
func (db *DB) StateDB() ethdb.Database { return rawdb.NewTable(db, StatePrefix) }

var errNoAncients = errors.New("chaindb: no ancient chain store (chain data is in the key-value store)")

// Ancient implements ethdb.AncientReader; there is no ancient chain store.
func (db *DB) Ancient(string, uint64) ([]byte, error) { return nil, errNoAncients }

// AncientRange implements ethdb.AncientReader.
func (db *DB) AncientRange(string, uint64, uint64, uint64) ([][]byte, error) {
	return nil, errNoAncients
}

// AncientBytes implements ethdb.AncientReader.
func (db *DB) AncientBytes(string, uint64, uint64, uint64) ([]byte, error) {
	return nil, errNoAncients
}

// Ancients implements ethdb.AncientReader: zero items.
func (db *DB) Ancients() (uint64, error) { return 0, nil }

// Tail implements ethdb.AncientReader: zero items.
func (db *DB) Tail(string) (uint64, error) { return 0, nil }

// AncientSize implements ethdb.AncientReader.
func (db *DB) AncientSize(string) (uint64, error) { return 0, errNoAncients }

// ReadAncients implements ethdb.AncientReader.
func (db *DB) ReadAncients(fn func(ethdb.AncientReaderOp) error) error { return fn(db) }

// ModifyAncients implements ethdb.AncientWriter.
func (db *DB) ModifyAncients(func(ethdb.AncientWriteOp) error) (int64, error) {
	return 0, errNoAncients
}

// SyncAncient implements ethdb.AncientWriter.
func (db *DB) SyncAncient() error { return nil }

// TruncateHead implements ethdb.AncientWriter.
func (db *DB) TruncateHead(uint64) (uint64, error) { return 0, errNoAncients }

// TruncateTail implements ethdb.AncientWriter.
func (db *DB) TruncateTail(string, uint64) (uint64, error) { return 0, errNoAncients }

// AncientDatadir is where go-ethereum's pathdb keeps its state-history
// freezer; empty means in memory.
func (db *DB) AncientDatadir() (string, error) { return db.ancientDir, nil }
