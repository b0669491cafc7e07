package execution

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/consensus/misc/eip4844"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	gparams "github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/trie"
	"github.com/holiman/uint256"
)

// ErrBlobTx rejects type-3 (blob) transactions: peerchain has no blob
// market.
var ErrBlobTx = errors.New("blob transactions are not supported")

// HeaderReader looks up headers for the BLOCKHASH opcode.
type HeaderReader interface {
	// GetHeader returns the header with hash and number, or nil.
	GetHeader(hash common.Hash, number uint64) *types.Header
}

// Processor runs blocks of one chain.
type Processor struct {
	config *gparams.ChainConfig
	reward *uint256.Int
}

// NewProcessor returns a processor for the chain config and block reward.
func NewProcessor(config *gparams.ChainConfig, blockReward *big.Int) *Processor {
	return &Processor{config: config, reward: uint256.MustFromBig(blockReward)}
}

// Config returns the chain configuration.
func (p *Processor) Config() *gparams.ChainConfig { return p.config }

// Rules returns the fork rules of a block (always post-merge style: see the
// package comment).
func (p *Processor) Rules(h *types.Header) gparams.Rules {
	return p.config.Rules(h.Number, true, h.Time)
}

// Signer returns the transaction signer for a block.
func (p *Processor) Signer(h *types.Header) types.Signer {
	return types.MakeSigner(p.config, h.Number, h.Time)
}

// BlockContext builds the EVM block context of header.
func (p *Processor) BlockContext(h *types.Header, chain HeaderReader) vm.BlockContext {
	var blobBaseFee *big.Int
	if h.ExcessBlobGas != nil {
		blobBaseFee = eip4844.CalcBlobFee(p.config, h)
	} else {
		blobBaseFee = big.NewInt(1)
	}
	var baseFee *big.Int
	if h.BaseFee != nil {
		baseFee = new(big.Int).Set(h.BaseFee)
	}
	mix := h.MixDigest
	return vm.BlockContext{
		CanTransfer:      core.CanTransfer,
		Transfer:         core.Transfer,
		GetHash:          hashFn(h, chain),
		Coinbase:         h.Coinbase,
		BlockNumber:      new(big.Int).Set(h.Number),
		Time:             h.Time,
		Difficulty:       new(big.Int).Set(h.Difficulty),
		BaseFee:          baseFee,
		BlobBaseFee:      blobBaseFee,
		GasLimit:         h.GasLimit,
		Random:           &mix,
		CostPerStateByte: gparams.CostPerStateByte,
	}
}

// hashFn serves BLOCKHASH: the 256 ancestors of h by walking parent hashes.
func hashFn(h *types.Header, chain HeaderReader) vm.GetHashFunc {
	var cache []common.Hash // cache[i] = hash of block number-1-i
	return func(n uint64) common.Hash {
		num := h.Number.Uint64()
		if n >= num || chain == nil {
			return common.Hash{}
		}
		if len(cache) == 0 {
			cache = append(cache, h.ParentHash)
		}
		for idx := num - n - 1; idx >= uint64(len(cache)); {
			last := cache[len(cache)-1]
			hdr := chain.GetHeader(last, num-uint64(len(cache)))
			if hdr == nil {
				return common.Hash{}
			}
			cache = append(cache, hdr.ParentHash)
		}
		return cache[num-n-1]
	}
}

// NewEVM returns an EVM for header over statedb.
func (p *Processor) NewEVM(h *types.Header, statedb *state.StateDB, chain HeaderReader, cfg vm.Config) *vm.EVM {
	return vm.NewEVM(p.BlockContext(h, chain), statedb, p.config, cfg)
}

// RecoverSenders recovers and caches the sender of every transaction using
// all cores; TransactionToMessage then finds them cached. The first invalid
// signature is returned with its index.
func RecoverSenders(signer types.Signer, txs types.Transactions) error {
	workers := runtime.GOMAXPROCS(0)
	if workers > len(txs)/16 {
		workers = max(1, len(txs)/16)
	}
	if workers == 1 {
		for i, tx := range txs {
			if _, err := types.Sender(signer, tx); err != nil {
				return fmt.Errorf("transaction %d (%s): invalid sender: %w", i, tx.Hash(), err)
			}
		}
		return nil
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstIdx = len(txs)
		firstErr error
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(txs); i += workers {
				if _, err := types.Sender(signer, txs[i]); err != nil {
					mu.Lock()
					if i < firstIdx {
						firstIdx, firstErr = i, err
					}
					mu.Unlock()
					return
				}
			}
		}(w)
	}
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("transaction %d (%s): invalid sender: %w", firstIdx, txs[firstIdx].Hash(), firstErr)
	}
	return nil
}

// Result is what running a block produced.
type Result struct {
	Receipts    types.Receipts
	Logs        []*types.Log
	GasUsed     uint64
	Bloom       types.Bloom
	ReceiptHash common.Hash
	// Root is the state root after the block (statedb is not committed).
	Root common.Hash
	// Touched lists, per transaction, the addresses it touched (Process
	// only; the address index is built from it).
	Touched []TxTouches
}

// TxError is a transaction a block cannot include.
type TxError struct {
	Index int
	Hash  common.Hash
	Err   error
}

func (e *TxError) Error() string {
	return fmt.Sprintf("transaction %d (%s): %v", e.Index, e.Hash, e.Err)
}

func (e *TxError) Unwrap() error { return e.Err }

// Process runs block on statedb (the parent's state) and returns receipts
// and roots. It does not compare them with the header: the caller does, so
// it can name the rule a bad block breaks. statedb is left holding the
// post-state, uncommitted.
func (p *Processor) Process(block *types.Block, statedb *state.StateDB, chain HeaderReader) (*Result, error) {
	header := block.Header()
	signer := p.Signer(header)
	txs := block.Transactions()
	if err := RecoverSenders(signer, txs); err != nil {
		return nil, err
	}
	rec := &touchRecorder{txs: make([]TxTouches, 0, len(txs))}
	b := p.newBuilder(header, statedb, chain, header.Hash(), rec.hooks())
	defer b.release()
	for i, tx := range txs {
		if _, err := b.apply(tx, i); err != nil {
			return nil, &TxError{Index: i, Hash: tx.Hash(), Err: err}
		}
	}
	res := b.finish()
	res.Touched = rec.txs
	return res, nil
}

// builder runs transactions one by one on top of a block's pre-state.
type builder struct {
	p        *Processor
	header   *types.Header
	hash     common.Hash
	statedb  *state.StateDB
	evm      *vm.EVM
	gp       *core.GasPool
	signer   types.Signer
	rules    gparams.Rules
	receipts types.Receipts
	logs     []*types.Log
}

func (p *Processor) newBuilder(header *types.Header, statedb *state.StateDB, chain HeaderReader, hash common.Hash, hooks *tracing.Hooks) *builder {
	evm := p.NewEVM(header, statedb, chain, vm.Config{Tracer: hooks})
	b := &builder{
		p: p, header: header, hash: hash, statedb: statedb, evm: evm,
		gp: core.NewGasPool(header.GasLimit), signer: p.Signer(header), rules: evm.GetRules(),
	}
	// EIP-2935: record the parent hash before any transaction.
	core.ProcessParentBlockHash(header.ParentHash, evm, nil)
	return b
}

func (b *builder) release() { b.evm.Release() }

// apply runs tx at index i. On error the state is as before the call.
func (b *builder) apply(tx *types.Transaction, i int) (*types.Receipt, error) {
	if tx.Type() == types.BlobTxType {
		return nil, ErrBlobTx
	}
	msg, err := core.TransactionToMessage(tx, b.signer, b.header.BaseFee)
	if err != nil {
		return nil, err
	}
	snap := b.statedb.Snapshot()
	// go-ethereum reserves the gas limit in the pool before checks that can
	// still refuse the transaction (funds, intrinsic gas, calldata floor) and
	// does not give it back: restore the pool too, or the header's gas used
	// would count a transaction the block does not hold.
	gas := *b.gp
	b.statedb.SetTxContext(tx.Hash(), i, uint32(i+1))
	receipt, _, err := core.ApplyTransactionWithEVM(context.Background(), msg, b.gp, b.statedb, b.header.Number, b.hash, b.header.Time, tx, b.evm)
	if err != nil {
		b.statedb.RevertToSnapshot(snap)
		*b.gp = gas
		return nil, err
	}
	b.receipts = append(b.receipts, receipt)
	b.logs = append(b.logs, receipt.Logs...)
	return receipt, nil
}

// finish credits the block reward and computes the roots.
func (b *builder) finish() *Result {
	if !b.p.reward.IsZero() {
		b.statedb.AddBalance(b.header.Coinbase, b.p.reward, tracing.BalanceIncreaseRewardMineBlock)
	}
	root := b.statedb.IntermediateRoot(b.rules)
	return &Result{
		Receipts:    b.receipts,
		Logs:        b.logs,
		GasUsed:     b.gp.Used(),
		Bloom:       types.MergeBloom(b.receipts),
		ReceiptHash: types.DeriveSha(b.receipts, trie.NewStackTrie(nil)),
		Root:        root,
	}
}
