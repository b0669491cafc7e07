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
	return VerifyChainProgress(ctx, dataDir, g, log, nil)
}

// VerifyChainProgress is VerifyChain calling progress, if not nil, after
// each verified block with the blocks done and the blocks to verify.
func VerifyChainProgress(ctx context.Context, dataDir string, g *params.Genesis, log *slog.Logger, progress func(done, total uint64)) (*VerifyResult, error) {
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
	// The stored chain is read block by block, without opening its state:
	// a data dir left by a crash is verified as it is.
	srcDB, err := chaindb.Open(dataDir, chaindb.KVOptions{})
	if err != nil {
		return nil, fmt.Errorf("open %s (is a peer still running on it?): %w", dataDir, err)
	}
	defer srcDB.Close()
	info, err := chaindb.ReadChainInfo(srcDB)
	if err != nil {
		return nil, fmt.Errorf("%s holds no chain: %w", dataDir, err)
	}
	if info.Genesis != g.Hash() {
		return nil, fmt.Errorf("%s holds chain id %v with genesis %s, not %s", dataDir, info.ChainID, info.Genesis, g.Hash())
	}
	headHash, err := chaindb.ReadHead(srcDB)
	if err != nil {
		return nil, err
	}
	headNum, err := chaindb.ReadHeaderNumber(srcDB, headHash)
	if err != nil {
		return nil, err
	}

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

	res := &VerifyResult{Head: headNum, HeadHash: headHash}
	last := time.Now()
	for n := uint64(1); n <= headNum; n++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hash, err := chaindb.ReadCanonicalHash(srcDB, n)
		if err != nil {
			return nil, fmt.Errorf("canonical block %d: %w", n, err)
		}
		b, err := chaindb.ReadBlock(srcDB, hash, n)
		if err != nil {
			return nil, fmt.Errorf("canonical block %d: %w", n, err)
		}
		if _, err := dst.InsertBlock(b); err != nil {
			return nil, fmt.Errorf("block %d (%s) fails verification: %w", n, b.Hash(), err)
		}
		res.Blocks++
		res.Txs += len(b.Transactions())
		if progress != nil {
			progress(res.Blocks, headNum)
		}
		if progress == nil && time.Since(last) > 5*time.Second {
			log.Info("Verifying", "block", n, "of", headNum)
			last = time.Now()
		}
	}
	if got := dst.CurrentBlock().Hash(); got != headHash {
		return nil, fmt.Errorf("re-verified head %s differs from stored head %s", got, headHash)
	}
	res.Took = time.Since(start)
	return res, nil
}
