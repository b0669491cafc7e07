package node

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/chaindb"
	"github.com/peerchain/peerchain/internal/params"
)

// VerifyResult is what VerifyChain checked.
type VerifyResult struct {
	Head     uint64
	HeadHash common.Hash
	Blocks   uint64
	Txs      int
	Took     time.Duration
}

// VerifyChain re-verifies the canonical chain stored in dataDir from
// genesis: every block is validated and executed again in a fresh chain in
// a temporary directory, and the result must reach the same head. The peer
// using dataDir must be stopped.
func VerifyChain(ctx context.Context, dataDir string, g *params.Genesis, log *slog.Logger) (*VerifyResult, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if g == nil {
		var err error
		if g, err = params.DevGenesis(); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	srcDB, err := chaindb.Open(dataDir, chaindb.KVOptions{})
	if err != nil {
		return nil, fmt.Errorf("open %s (is a peer still running on it?): %w", dataDir, err)
	}
	defer srcDB.Close()
	src, err := chain.New(chain.Config{Genesis: g, DB: srcDB, Logger: log.With("chain", "stored")})
	if err != nil {
		return nil, err
	}
	defer src.Close()

	tmp, err := os.MkdirTemp("", "peerchain-verify-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	dstDB, err := chaindb.Open(tmp, chaindb.KVOptions{})
	if err != nil {
		return nil, err
	}
	defer dstDB.Close()
	dst, err := chain.New(chain.Config{Genesis: g, DB: dstDB, NoSync: true})
	if err != nil {
		return nil, err
	}
	defer dst.Close()

	head := src.CurrentBlock()
	res := &VerifyResult{Head: head.NumberU64(), HeadHash: head.Hash()}
	last := time.Now()
	for n := uint64(1); n <= head.NumberU64(); n++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b := src.GetBlockByNumber(n)
		if b == nil {
			return nil, fmt.Errorf("canonical block %d missing from %s", n, dataDir)
		}
		if _, err := dst.InsertBlock(b); err != nil {
			return nil, fmt.Errorf("block %d (%s) fails verification: %w", n, b.Hash(), err)
		}
		res.Blocks++
		res.Txs += len(b.Transactions())
		if time.Since(last) > 5*time.Second {
			log.Info("Verifying", "block", n, "of", head.NumberU64())
			last = time.Now()
		}
	}
	if got := dst.CurrentBlock().Hash(); got != head.Hash() {
		return nil, fmt.Errorf("re-verified head %s differs from stored head %s", got, head.Hash())
	}
	res.Took = time.Since(start)
	return res, nil
}
