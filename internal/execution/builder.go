package execution

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	gparams "github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/trie"
)

// blockSizeReserve is room kept under the EIP-7934 block size cap for the
// header and the RLP list overhead.
const blockSizeReserve = 1 << 16

// ErrBlockFull means a transaction does not fit the block's gas or size.
var ErrBlockFull = errors.New("block is full")

// Builder assembles a new block on its parent's state, one transaction at a
// time; a transaction that fails leaves the state untouched.
type Builder struct {
	b    *builder
	txs  types.Transactions
	size uint64
}

// NewBuilder starts a block with header (number, parent, coinbase, time,
// difficulty, gas limit, base fee, mix digest and the post-London fields
// filled; roots are filled by Finish) on statedb, the parent's state.
func (p *Processor) NewBuilder(header *types.Header, statedb *state.StateDB, chain HeaderReader) *Builder {
	return &Builder{b: p.newBuilder(header, statedb, chain, common.Hash{}, nil)}
}

// GasLeft is the gas still available in the block.
func (b *Builder) GasLeft() uint64 { return b.b.header.GasLimit - b.b.gp.Used() }

// Count is how many transactions the block holds.
func (b *Builder) Count() int { return len(b.txs) }

// Add runs tx and includes it. ErrBlockFull (wrapped) means the block has no
// room left for it; any other error means the transaction itself cannot run
// on this state (nonce, funds, fee cap).
func (b *Builder) Add(tx *types.Transaction) (*types.Receipt, error) {
	if tx.Gas() > b.GasLeft() {
		return nil, fmt.Errorf("%w: gas %d, %d left", ErrBlockFull, tx.Gas(), b.GasLeft())
	}
	if b.size+tx.Size() > gparams.MaxBlockSize-blockSizeReserve {
		return nil, fmt.Errorf("%w: size %d bytes over the block size cap", ErrBlockFull, b.size+tx.Size())
	}
	r, err := b.b.apply(tx, len(b.txs))
	if errors.Is(err, core.ErrGasLimitReached) {
		return nil, fmt.Errorf("%w: %w", ErrBlockFull, err)
	}
	if err != nil {
		return nil, err
	}
	b.txs = append(b.txs, tx)
	b.size += tx.Size()
	return r, nil
}

// Finish credits the reward, fills the header's roots and returns the
// unsealed block with its result. The builder must not be used afterwards.
func (b *Builder) Finish() (*types.Block, *Result) {
	res := b.b.finish()
	b.b.release()
	h := types.CopyHeader(b.b.header)
	h.GasUsed = res.GasUsed
	h.Root = res.Root
	h.ReceiptHash = res.ReceiptHash
	h.Bloom = res.Bloom
	h.UncleHash = types.EmptyUncleHash
	h.TxHash = types.DeriveSha(b.txs, trie.NewStackTrie(nil))
	h.WithdrawalsHash = &types.EmptyWithdrawalsHash
	block := types.NewBlockWithHeader(h).WithBody(types.Body{Transactions: b.txs, Withdrawals: []*types.Withdrawal{}})
	return block, res
}

// Abort releases the builder without producing a block.
func (b *Builder) Abort() { b.b.release() }
