package chain

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
)

// FuzzInsertBlock feeds arbitrary block encodings to a chain: each gets a
// typed error or is accepted, never a crash, and the chain keeps a valid
// head.
func FuzzInsertBlock(f *testing.F) {
	seedEnv := newFuzzEnv(f)
	blocks := seedEnv.chain(seedEnv.gen.Genesis(), 3, func(b *chaingen.BlockGen) { b.Transfer(0, addrA, big.NewInt(1)) })
	for _, b := range blocks {
		enc, err := rlp.EncodeToBytes(b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var b types.Block
		if err := rlp.DecodeBytes(data, &b); err != nil {
			return
		}
		_, _ = seedEnv.c.InsertBlock(&b)
		if head := seedEnv.c.CurrentBlock(); head == nil || !seedEnv.c.HasState(head.Root()) {
			t.Fatal("head lost its state")
		}
	})
}
