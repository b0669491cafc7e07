package chaindb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/ethereum/go-ethereum/ethdb"
)

// KVOptions configures the Pebble key-value store.
type KVOptions struct {
	// CacheBytes is the block cache size. Default 64 MiB.
	CacheBytes int64
	// MemTableBytes is the size of one memtable. Default 32 MiB.
	MemTableBytes uint64
	// FS replaces the real file system (tests use an in-memory or
	// crash-simulating one). Default: the OS file system.
	FS vfs.FS
	// Logger receives Pebble's own messages. Default: discarded.
	Logger *slog.Logger
}

// KV is an ethdb.KeyValueStore over Pebble v2. Writes through Put, Delete
// and batches are not synced; SyncKeyValue makes everything before it
// durable, and WriteSync writes one batch durably.
type KV struct {
	db *pebble.DB

	mu struct {
		sync.RWMutex
		closed bool
	}
}

var _ ethdb.KeyValueStore = (*KV)(nil)

// errClosed is returned by every operation after Close.
var errClosed = errors.New("chaindb: database closed")

type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...), "module", "pebble")
}
func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...), "module", "pebble")
}

// Fatalf is called by Pebble on unrecoverable corruption; Pebble panics
// after it returns, so log it loudly first.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...), "module", "pebble", "fatal", true)
}

// OpenKV opens (creating if needed) the Pebble store in dir.
func OpenKV(dir string, o KVOptions) (*KV, error) {
	if o.CacheBytes == 0 {
		o.CacheBytes = 64 << 20
	}
	if o.MemTableBytes == 0 {
		o.MemTableBytes = 32 << 20
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cache := pebble.NewCache(o.CacheBytes)
	defer cache.Unref()
	opts := &pebble.Options{
		Cache:                       cache,
		MemTableSize:                o.MemTableBytes,
		MemTableStopWritesThreshold: 4,
		MaxOpenFiles:                1024,
		FormatMajorVersion:          pebble.FormatNewest,
		Logger:                      pebbleLogger{logger},
		FS:                          o.FS,
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open pebble at %s: %w", dir, err)
	}
	return &KV{db: db}, nil
}

func (k *KV) rlock() error {
	k.mu.RLock()
	if k.mu.closed {
		k.mu.RUnlock()
		return errClosed
	}
	return nil
}

// Close closes the store; later calls fail with an error.
func (k *KV) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.mu.closed {
		return nil
	}
	k.mu.closed = true
	return k.db.Close()
}

// Has reports whether key is present.
func (k *KV) Has(key []byte) (bool, error) {
	if err := k.rlock(); err != nil {
		return false, err
	}
	defer k.mu.RUnlock()
	_, closer, err := k.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, closer.Close()
}

// ErrNotFound is returned by Get for a missing key.
var ErrNotFound = errors.New("not found")

// Get returns a copy of key's value, or ErrNotFound.
func (k *KV) Get(key []byte) ([]byte, error) {
	if err := k.rlock(); err != nil {
		return nil, err
	}
	defer k.mu.RUnlock()
	v, closer, err := k.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	out := bytes.Clone(v)
	if out == nil {
		out = []byte{}
	}
	return out, closer.Close()
}

// Put stores key=value (not synced).
func (k *KV) Put(key, value []byte) error {
	if err := k.rlock(); err != nil {
		return err
	}
	defer k.mu.RUnlock()
	return k.db.Set(key, value, pebble.NoSync)
}

// Delete removes key (not synced).
func (k *KV) Delete(key []byte) error {
	if err := k.rlock(); err != nil {
		return err
	}
	defer k.mu.RUnlock()
	return k.db.Delete(key, pebble.NoSync)
}

// DeleteRange removes [start, end); nil bounds are open.
func (k *KV) DeleteRange(start, end []byte) error {
	if err := k.rlock(); err != nil {
		return err
	}
	defer k.mu.RUnlock()
	if start == nil {
		start = []byte{}
	}
	if end == nil {
		end = ethdb.MaximumKey
	}
	return k.db.DeleteRange(start, end, pebble.NoSync)
}

// Stat returns Pebble's metrics as text.
func (k *KV) Stat() (string, error) {
	if err := k.rlock(); err != nil {
		return "", err
	}
	defer k.mu.RUnlock()
	return k.db.Metrics().String(), nil
}

// SyncKeyValue makes every write before it durable.
func (k *KV) SyncKeyValue() error {
	if err := k.rlock(); err != nil {
		return err
	}
	defer k.mu.RUnlock()
	// An empty synced batch forces the WAL to disk; the WAL is ordered, so
	// every earlier write is durable once it returns.
	b := k.db.NewBatch()
	defer b.Close()
	return k.db.Apply(b, pebble.Sync)
}

// Compact compacts [start, limit); nil bounds are open.
func (k *KV) Compact(start, limit []byte) error {
	if err := k.rlock(); err != nil {
		return err
	}
	defer k.mu.RUnlock()
	if start == nil {
		start = []byte{}
	}
	if limit == nil {
		limit = ethdb.MaximumKey
	}
	return k.db.Compact(context.Background(), start, limit, true)
}

// NewBatch returns a write batch.
func (k *KV) NewBatch() ethdb.Batch { return &batch{kv: k, b: k.db.NewBatch()} }

// NewBatchWithSize returns a write batch with preallocated room.
func (k *KV) NewBatchWithSize(size int) ethdb.Batch {
	return &batch{kv: k, b: k.db.NewBatchWithSize(size)}
}

// NewIterator iterates keys with prefix, starting at prefix+start.
func (k *KV) NewIterator(prefix, start []byte) ethdb.Iterator {
	if err := k.rlock(); err != nil {
		return &errIterator{err: err}
	}
	defer k.mu.RUnlock()
	lower := append(bytes.Clone(prefix), start...)
	it, err := k.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upperBound(prefix)})
	if err != nil {
		return &errIterator{err: err}
	}
	return &iterator{it: it}
}

// upperBound is the smallest key greater than every key with prefix, or
// nil when there is none.
func upperBound(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

type batch struct {
	kv   *KV
	b    *pebble.Batch
	size int
}

func (b *batch) Put(key, value []byte) error {
	b.size += len(key) + len(value)
	return b.b.Set(key, value, nil)
}

func (b *batch) Delete(key []byte) error {
	b.size += len(key)
	return b.b.Delete(key, nil)
}

func (b *batch) DeleteRange(start, end []byte) error {
	if start == nil {
		start = []byte{}
	}
	if end == nil {
		end = ethdb.MaximumKey
	}
	b.size += len(start) + len(end)
	return b.b.DeleteRange(start, end, nil)
}

func (b *batch) ValueSize() int { return b.size }

func (b *batch) Write() error { return b.write(pebble.NoSync) }

// WriteSync writes the batch durably.
func (b *batch) WriteSync() error { return b.write(pebble.Sync) }

func (b *batch) write(o *pebble.WriteOptions) error {
	if err := b.kv.rlock(); err != nil {
		return err
	}
	defer b.kv.mu.RUnlock()
	return b.kv.db.Apply(b.b, o)
}

func (b *batch) Reset() {
	b.b.Reset()
	b.size = 0
}

func (b *batch) Close() { _ = b.b.Close() }

func (b *batch) Replay(w ethdb.KeyValueWriter) error {
	r := b.b.Reader()
	for {
		kind, k, v, ok, err := r.Next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		switch kind {
		case pebble.InternalKeyKindSet:
			err = w.Put(k, v)
		case pebble.InternalKeyKindDelete, pebble.InternalKeyKindSingleDelete:
			err = w.Delete(k)
		case pebble.InternalKeyKindRangeDelete:
			rd, ok := w.(ethdb.KeyValueRangeDeleter)
			if !ok {
				return fmt.Errorf("replay: writer %T cannot delete ranges", w)
			}
			err = rd.DeleteRange(k, v)
		default:
			err = fmt.Errorf("replay: unexpected batch entry kind %v", kind)
		}
		if err != nil {
			return err
		}
	}
}

type iterator struct {
	it    *pebble.Iterator
	moved bool
	valid bool
}

func (i *iterator) Next() bool {
	if !i.moved {
		i.moved = true
		i.valid = i.it.First()
	} else {
		i.valid = i.it.Next()
	}
	return i.valid
}

func (i *iterator) Error() error { return i.it.Error() }

func (i *iterator) Key() []byte {
	if !i.valid {
		return nil
	}
	return i.it.Key()
}

func (i *iterator) Value() []byte {
	if !i.valid {
		return nil
	}
	return i.it.Value()
}

func (i *iterator) Release() { _ = i.it.Close() }

type errIterator struct{ err error }

func (e *errIterator) Next() bool    { return false }
func (e *errIterator) Error() error  { return e.err }
func (e *errIterator) Key() []byte   { return nil }
func (e *errIterator) Value() []byte { return nil }
func (e *errIterator) Release()      {}
