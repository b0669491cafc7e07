package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/chaindb"
	"github.com/peerchain/peerchain/internal/params"
)

// openStopped opens the chain of a stopped peer's data dir.
func openStopped(dataDir string, g *params.Genesis, log *slog.Logger) (*chain.Chain, func(), error) {
	if g == nil {
		var err error
		if g, err = params.DevGenesis(); err != nil {
			return nil, nil, err
		}
	}
	db, err := chaindb.Open(dataDir, chaindb.KVOptions{Logger: log})
	if err != nil {
		return nil, nil, fmt.Errorf("open %s (is a peer still running on it?): %w", dataDir, err)
	}
	c, err := chain.New(chain.Config{Genesis: g, DB: db, Logger: log})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return c, func() { c.Close(); db.Close() }, nil
}

// ExportChain writes the canonical blocks from..to (to = 0: the head) of a
// stopped peer's data dir to w as a stream of RLP blocks, the format
// ImportChain and go-ethereum's import read. It returns how many it wrote.
func ExportChain(ctx context.Context, dataDir string, g *params.Genesis, w io.Writer, from, to uint64, log *slog.Logger) (uint64, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c, closeFn, err := openStopped(dataDir, g, log)
	if err != nil {
		return 0, err
	}
	defer closeFn()
	head := c.CurrentBlock().NumberU64()
	if to == 0 || to > head {
		to = head
	}
	if from > to {
		return 0, fmt.Errorf("export range %d..%d: the start is above the end (head %d)", from, to, head)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var n uint64
	for i := from; i <= to; i++ {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		b := c.GetBlockByNumber(i)
		if b == nil {
			return n, fmt.Errorf("canonical block %d missing", i)
		}
		if err := rlp.Encode(bw, b); err != nil {
			return n, fmt.Errorf("write block %d: %w", i, err)
		}
		n++
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("write export: %w", err)
	}
	return n, nil
}

// ImportResult is what ImportChain did.
type ImportResult struct {
	Imported, Known uint64
	Head            uint64
	Took            time.Duration
}

// ImportChain reads RLP blocks from r into a stopped peer's data dir,
// validating each fully. Blocks already stored are skipped; the first
// invalid block stops the import with its rule named.
func ImportChain(ctx context.Context, dataDir string, g *params.Genesis, r io.Reader, log *slog.Logger) (*ImportResult, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c, closeFn, err := openStopped(dataDir, g, log)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	start, last := time.Now(), time.Now()
	res := &ImportResult{}
	s := rlp.NewStream(bufio.NewReaderSize(r, 1<<20), 0)
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		b := new(types.Block)
		if err := s.Decode(b); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return res, fmt.Errorf("block %d of the file: %w", i, err)
		}
		if b.NumberU64() == 0 {
			if b.Hash() != c.Genesis().Hash() {
				return res, fmt.Errorf("the file starts from genesis %s, this chain's is %s", b.Hash(), c.Genesis().Hash())
			}
			continue
		}
		switch _, err := c.InsertBlock(b); {
		case err == nil:
			res.Imported++
		case errors.Is(err, chain.ErrKnownBlock):
			res.Known++
		default:
			return res, fmt.Errorf("import block %d: %w", b.NumberU64(), err)
		}
		if time.Since(last) > 5*time.Second {
			log.Info("Importing", "block", b.NumberU64())
			last = time.Now()
		}
	}
	res.Head = c.CurrentBlock().NumberU64()
	res.Took = time.Since(start)
	return res, nil
}
