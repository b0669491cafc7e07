package chain

import (
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/chaindb"
)

// OnInsert sees every InsertBlock: a head block with its validation and
// execution times, a side block, a reorg with its depth, a known block
// and an invalid one, each with its outcome.
func TestOnInsertReportsOutcomesAndTimings(t *testing.T) {
	e := newEnv(t, chaingen.GenesisOptions{Accounts: 4})
	e.close() // reopened below with an observer on the same data dir
	db, err := chaindb.Open(e.dir, chaindb.KVOptions{CacheBytes: 8 << 20, MemTableBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var got []InsertStats
	c, err := New(Config{Genesis: e.g, DB: db, Logger: testLogger(t), OnInsert: func(s InsertStats) { got = append(got, s) }})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	e.db, e.c = db, c
	insert := func(b *types.Block) InsertStats {
		t.Helper()
		n := len(got)
		_, _ = c.InsertBlock(b)
		if len(got) != n+1 {
			t.Fatalf("block %d: %d calls of OnInsert, want 1", b.NumberU64(), len(got)-n)
		}
		return got[n]
	}

	base := e.chain(e.gen.Genesis(), 2, transfers(common.HexToAddress("0x01")))
	for _, b := range base {
		s := insert(b)
		if s.Err != nil || s.Status != StatusHead || s.Number != b.NumberU64() {
			t.Fatalf("block %d: %+v, want a new head", b.NumberU64(), s)
		}
		if s.Validation <= 0 || s.Execution <= 0 || s.Executed != 1 || s.Total < s.Validation+s.Execution {
			t.Fatalf("block %d timings %+v: want validation and one execution within the total", b.NumberU64(), s)
		}
		if s.Dropped != 0 || s.Added != 1 {
			t.Fatalf("block %d: dropped %d added %d, want 0 and 1", b.NumberU64(), s.Dropped, s.Added)
		}
	}
	if s := insert(base[1]); !errors.Is(s.Err, ErrKnownBlock) || s.Executed != 0 {
		t.Fatalf("known block: %+v, want ErrKnownBlock and nothing executed", s)
	}

	light := e.chain(base[1], 3, func(b *chaingen.BlockGen) { b.SetCoinbase(common.HexToAddress("0xaa")) })
	heavy := e.chain(base[1], 5, func(b *chaingen.BlockGen) { b.SetCoinbase(common.HexToAddress("0xbb")) })
	for _, b := range light {
		insert(b)
	}
	for i, b := range heavy {
		s := insert(b)
		switch {
		case i < 3 && (s.Err != nil || s.Status != StatusSide || s.Executed != 1):
			t.Fatalf("heavy block %d: %+v, want a side block executed at once", b.NumberU64(), s)
		case i == 3 && (s.Err != nil || s.Status != StatusHead || s.Dropped != 3 || s.Added != 4):
			t.Fatalf("heavy block %d: %+v, want the head after a reorg of depth 3 adding 4", b.NumberU64(), s)
		case i == 4 && (s.Dropped != 0 || s.Added != 1):
			t.Fatalf("heavy block %d: %+v, want one block added", b.NumberU64(), s)
		}
	}

	// A block whose header no longer matches its seal: invalid, not timed
	// as a validation that passed, nothing executed.
	next := e.chain(heavy[4], 1, nil)[0]
	h := next.Header()
	h.Extra = []byte("tampered")
	s := insert(next.WithSeal(h))
	var re *RuleError
	if !errors.As(s.Err, &re) || s.Validation != 0 || s.Executed != 0 {
		t.Fatalf("tampered block: %+v, want a rule error, no validation time, nothing executed", s)
	}
}
