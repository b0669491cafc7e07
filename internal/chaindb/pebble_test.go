package chaindb

import (
	"testing"

	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/ethdb/dbtest"
)

// TestKVConformance runs go-ethereum's key-value store suite against our
// Pebble adapter: the same contract triedb and rawdb rely on.
func TestKVConformance(t *testing.T) {
	dbtest.TestDatabaseSuite(t, func() ethdb.KeyValueStore {
		kv, err := OpenKV(t.TempDir(), KVOptions{CacheBytes: 1 << 20, MemTableBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { kv.Close() })
		return kv
	})
}
