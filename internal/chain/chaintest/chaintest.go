// Package chaintest opens a real chain (Pebble in a test temp dir) on a
// chaingen test genesis, for the tests of the packages above chain. It is
// for tests only.
package chaintest

import (
	"testing"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/chaindb"
	"github.com/peerchain/peerchain/internal/params"
)

// Env is a chain with its database and a generator for its blocks.
type Env struct {
	Genesis *params.Genesis
	Gen     *chaingen.Generator
	DB      *chaindb.DB
	Chain   *chain.Chain
}

// New opens a chain on a test genesis shaped by o; it is closed when the
// test ends.
func New(t testing.TB, o chaingen.GenesisOptions) *Env {
	t.Helper()
	g, err := chaingen.Genesis(o)
	if err != nil {
		t.Fatal(err)
	}
	gen, err := chaingen.New(g)
	if err != nil {
		t.Fatal(err)
	}
	db, err := chaindb.Open(t.TempDir(), chaindb.KVOptions{CacheBytes: 4 << 20, MemTableBytes: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c, err := chain.New(chain.Config{Genesis: g, DB: db})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
		db.Close()
	})
	return &Env{Genesis: g, Gen: gen, DB: db, Chain: c}
}
