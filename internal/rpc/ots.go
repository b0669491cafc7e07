package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/params"
)

// otsAPILevel is the Otterscan API level served: Otterscan 2 asks for 8.
const otsAPILevel = 8

// maxOtsPageSize bounds the page size of the ots_ searches and of
// ots_getBlockTransactions.
const maxOtsPageSize = 1000

// AddrIndex is the address index of a full peer (chain.Chain): which
// canonical transactions touched an address. The ots_ namespace needs it;
// a peer without it (a light peer) answers every ots_ method with
// errNoAddrIndex.
type AddrIndex interface {
	SearchAddr(addr common.Address, from uint64, backward bool, pageSize int) ([]chain.AddrTx, bool, error)
	ContractCreator(addr common.Address) (chain.AddrTx, bool, error)
	TxBySenderAndNonce(sender common.Address, nonce uint64) (*chain.TxLookup, bool, error)
	AddrIndexFrom() (uint64, error)
}

// genesisSpec is an optional capability of Chain: the block reward comes
// from the genesis's PoW parameters.
type genesisSpec interface {
	GenesisSpec() *params.Genesis
}

var errNoAddrIndex = errors.New("the ots_ namespace needs a full peer's address index and transaction replay: this peer is a light peer; ask a full peer")

// otsBlock is a block number as Otterscan sends it: a JSON number, or a
// hex quantity or tag as eth_ methods take.
type otsBlock struct{ gethrpc.BlockNumber }

func (b *otsBlock) UnmarshalJSON(data []byte) error {
	var n uint64
	if err := json.Unmarshal(data, &n); err == nil {
		if n > math.MaxInt64 {
			return fmt.Errorf("block number %d above the largest, %d", n, int64(math.MaxInt64))
		}
		b.BlockNumber = gethrpc.BlockNumber(n)
		return nil
	}
	return b.BlockNumber.UnmarshalJSON(data)
}

// otsUint is a count or number as Otterscan sends it: a JSON number, or
// a hex quantity.
type otsUint uint64

func (u *otsUint) UnmarshalJSON(data []byte) error {
	var n uint64
	if err := json.Unmarshal(data, &n); err == nil {
		*u = otsUint(n)
		return nil
	}
	var h hexutil.Uint64
	if err := h.UnmarshalJSON(data); err != nil {
		return fmt.Errorf("want a number or a hex quantity: %w", err)
	}
	*u = otsUint(h)
	return nil
}

// otsAPI is Otterscan's ots_ namespace (API level 8), over the same
// backend as eth_; see docs/custom-jsonrpc.md in otterscan/otterscan.
type otsAPI struct {
	eth *ethAPI
	idx AddrIndex // nil: not served
}

func newOtsAPI(eth *ethAPI) *otsAPI {
	idx, _ := eth.b.Chain.(AddrIndex)
	return &otsAPI{eth: eth, idx: idx}
}

func (o *otsAPI) served() error {
	if o.idx == nil {
		return errNoAddrIndex
	}
	return nil
}

// GetApiLevel is ots_getApiLevel.
func (o *otsAPI) GetApiLevel() (uint64, error) {
	if err := o.served(); err != nil {
		return 0, err
	}
	return otsAPILevel, nil
}

// HasCode is ots_hasCode.
func (o *otsAPI) HasCode(ctx context.Context, addr common.Address, bnh gethrpc.BlockNumberOrHash) (bool, error) {
	if err := o.served(); err != nil {
		return false, err
	}
	return readState(ctx, o.eth, &bnh, func(st *state.StateDB) bool { return st.GetCodeSize(addr) > 0 })
}

// GetBlockDetails is ots_getBlockDetails.
func (o *otsAPI) GetBlockDetails(ctx context.Context, n otsBlock) (map[string]any, error) {
	if err := o.served(); err != nil {
		return nil, err
	}
	b, err := o.eth.blockByNumber(ctx, n.BlockNumber)
	if err != nil {
		return nil, err
	}
	return o.blockDetails(ctx, b)
}

// GetBlockDetailsByHash is ots_getBlockDetailsByHash.
func (o *otsAPI) GetBlockDetailsByHash(ctx context.Context, hash common.Hash) (map[string]any, error) {
	if err := o.served(); err != nil {
		return nil, err
	}
	b, err := o.eth.blockByHash(ctx, hash)
	if err != nil {
		return nil, err
	}
	return o.blockDetails(ctx, b)
}

func (o *otsAPI) blockDetails(ctx context.Context, b *types.Block) (map[string]any, error) {
	if b == nil {
		return nil, errHeaderNotFound
	}
	receipts, err := o.eth.b.Data.Receipts(ctx, b)
	if err != nil {
		return nil, err
	}
	fees := new(big.Int)
	for _, r := range receipts {
		if r.EffectiveGasPrice != nil {
			fees.Add(fees, new(big.Int).Mul(new(big.Int).SetUint64(r.GasUsed), r.EffectiveGasPrice))
		}
	}
	reward := new(big.Int)
	if g, ok := o.eth.b.Chain.(genesisSpec); ok && b.NumberU64() > 0 {
		reward.Set(g.GenesisSpec().Pow.BlockReward)
	}
	blk := o.blockJSON(b, false)
	delete(blk, "transactions")
	return map[string]any{
		"block": blk,
		"issuance": map[string]any{
			"blockReward": (*hexutil.Big)(reward),
			"uncleReward": (*hexutil.Big)(new(big.Int)),
			"issuance":    (*hexutil.Big)(reward),
		},
		"totalFees": (*hexutil.Big)(fees),
	}, nil
}

// blockJSON is a block as eth_getBlockByHash gives it, with
// transactionCount and without the logs bloom (Otterscan's shape).
func (o *otsAPI) blockJSON(b *types.Block, fullTx bool) map[string]any {
	out := marshalBlock(b, o.eth.b.Chain.GetTD(b.Hash(), b.NumberU64()), fullTx, o.eth.config)
	out["logsBloom"] = nil
	out["transactionCount"] = len(b.Transactions())
	return out
}

// GetBlockTransactions is ots_getBlockTransactions: page pageNumber (from
// 0) of pageSize transactions of a block, in block order, with their
// receipts; inputs are cut to the 4-byte selector, logs left out.
func (o *otsAPI) GetBlockTransactions(ctx context.Context, n otsBlock, page, size otsUint) (map[string]any, error) {
	if err := o.served(); err != nil {
		return nil, err
	}
	pageNumber, pageSize := uint64(page), uint64(size)
	if err := checkPageSize(pageSize); err != nil {
		return nil, err
	}
	b, err := o.eth.blockByNumber(ctx, n.BlockNumber)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, errHeaderNotFound
	}
	receipts, err := o.eth.b.Data.Receipts(ctx, b)
	if err != nil {
		return nil, err
	}
	txs := b.Transactions()
	start := min(pageNumber*pageSize, uint64(len(txs)))
	end := min(start+pageSize, uint64(len(txs)))
	blk := o.blockJSON(b, false)
	list := make([]any, 0, end-start)
	rcpts := make([]any, 0, end-start)
	for i := start; i < end; i++ {
		tx := newRPCTransaction(txs[i], b.Hash(), b.NumberU64(), b.Time(), i, b.BaseFee(), o.eth.config)
		if len(tx.Input) > 4 {
			tx.Input = tx.Input[:4]
		}
		list = append(list, tx)
		if int(i) < len(receipts) {
			r := marshalReceipt(receipts[i], txs[i], o.eth.config)
			r["logs"], r["logsBloom"] = nil, nil
			r["timestamp"] = hexutil.Uint64(b.Time())
			rcpts = append(rcpts, r)
		}
	}
	blk["transactions"] = list
	return map[string]any{"fullblock": blk, "receipts": rcpts}, nil
}

// otsSearch is the answer of ots_searchTransactionsBefore/After.
type otsSearch struct {
	Txs       []*rpcTransaction `json:"txs"`
	Receipts  []map[string]any  `json:"receipts"`
	FirstPage bool              `json:"firstPage"`
	LastPage  bool              `json:"lastPage"`
}

// SearchTransactionsBefore is ots_searchTransactionsBefore: transactions
// that touched addr in blocks below blockNumber (0: from the head), newest
// first, at least pageSize unless the history ends (whole blocks).
func (o *otsAPI) SearchTransactionsBefore(ctx context.Context, addr common.Address, block, size otsUint) (*otsSearch, error) {
	if err := o.served(); err != nil {
		return nil, err
	}
	blockNumber, pageSize := uint64(block), uint64(size)
	if err := checkPageSize(pageSize); err != nil {
		return nil, err
	}
	from := o.eth.b.Chain.CurrentHeader().Number.Uint64()
	if blockNumber > 0 {
		if blockNumber-1 < from {
			from = blockNumber - 1
		}
	}
	found, done, err := o.idx.SearchAddr(addr, from, true, int(pageSize))
	if err != nil {
		return nil, err
	}
	return o.searchResult(ctx, found, blockNumber == 0, done)
}

// SearchTransactionsAfter is ots_searchTransactionsAfter: transactions
// that touched addr in blocks above blockNumber (0: from genesis), newest
// first, at least pageSize unless the head is reached (whole blocks).
func (o *otsAPI) SearchTransactionsAfter(ctx context.Context, addr common.Address, block, size otsUint) (*otsSearch, error) {
	if err := o.served(); err != nil {
		return nil, err
	}
	blockNumber, pageSize := uint64(block), uint64(size)
	if err := checkPageSize(pageSize); err != nil {
		return nil, err
	}
	found, done, err := o.idx.SearchAddr(addr, blockNumber+1, false, int(pageSize))
	if err != nil {
		return nil, err
	}
	slices.Reverse(found)
	return o.searchResult(ctx, found, done, blockNumber == 0)
}

func checkPageSize(n uint64) error {
	if n == 0 || n > maxOtsPageSize {
		return fmt.Errorf("page size %d: want 1 to %d", n, maxOtsPageSize)
	}
	return nil
}

func (o *otsAPI) searchResult(ctx context.Context, found []chain.AddrTx, first, last bool) (*otsSearch, error) {
	out := &otsSearch{Txs: []*rpcTransaction{}, Receipts: []map[string]any{}, FirstPage: first, LastPage: last}
	var (
		block    *types.Block
		receipts types.Receipts
	)
	for _, f := range found {
		if block == nil || block.Hash() != f.BlockHash {
			h := o.eth.b.Chain.GetHeader(f.BlockHash, f.Number)
			if h == nil {
				return nil, fmt.Errorf("block %d (%s) of the address index is missing", f.Number, f.BlockHash)
			}
			var err error
			if block, err = o.eth.b.Data.Block(ctx, h); err != nil {
				return nil, err
			}
			if receipts, err = o.eth.b.Data.Receipts(ctx, block); err != nil {
				return nil, err
			}
		}
		txs := block.Transactions()
		if int(f.Index) >= len(txs) || int(f.Index) >= len(receipts) {
			return nil, fmt.Errorf("address index names transaction %d of block %d, which has %d", f.Index, f.Number, len(txs))
		}
		tx := txs[f.Index]
		out.Txs = append(out.Txs, newRPCTransaction(tx, block.Hash(), block.NumberU64(), block.Time(), uint64(f.Index), block.BaseFee(), o.eth.config))
		r := marshalReceipt(receipts[f.Index], tx, o.eth.config)
		r["timestamp"] = hexutil.Uint64(block.Time())
		out.Receipts = append(out.Receipts, r)
	}
	return out, nil
}

// GetTransactionBySenderAndNonce is ots_getTransactionBySenderAndNonce:
// the hash of sender's canonical transaction with nonce, or null.
func (o *otsAPI) GetTransactionBySenderAndNonce(sender common.Address, nonce otsUint) (*common.Hash, error) {
	if err := o.served(); err != nil {
		return nil, err
	}
	lk, ok, err := o.idx.TxBySenderAndNonce(sender, uint64(nonce))
	if err != nil || !ok {
		return nil, err
	}
	h := lk.Tx.Hash()
	return &h, nil
}

// otsCreator is the answer of ots_getContractCreator.
type otsCreator struct {
	Hash    common.Hash    `json:"hash"`
	Creator common.Address `json:"creator"`
}

// GetContractCreator is ots_getContractCreator: the transaction that
// (last) created the contract at addr and the address that directly
// created it, or null for an account no transaction created.
func (o *otsAPI) GetContractCreator(ctx context.Context, addr common.Address) (*otsCreator, error) {
	if err := o.served(); err != nil {
		return nil, err
	}
	found, ok, err := o.idx.ContractCreator(addr)
	if err != nil || !ok {
		return nil, err
	}
	h := o.eth.b.Chain.GetHeader(found.BlockHash, found.Number)
	if h == nil {
		return nil, fmt.Errorf("block %d (%s) of the address index is missing", found.Number, found.BlockHash)
	}
	b, err := o.eth.b.Data.Block(ctx, h)
	if err != nil {
		return nil, err
	}
	if b == nil || int(found.Index) >= len(b.Transactions()) {
		return nil, fmt.Errorf("address index names transaction %d of block %d, which it lacks", found.Index, found.Number)
	}
	return &otsCreator{Hash: b.Transactions()[found.Index].Hash(), Creator: found.Creator}, nil
}

// erigonAPI serves the one erigon_ method Otterscan calls.
type erigonAPI struct{ ots *otsAPI }

// GetHeaderByNumber is erigon_getHeaderByNumber: the header of a block as
// eth_getBlockByNumber renders it, without transactions.
func (e *erigonAPI) GetHeaderByNumber(n otsBlock) (map[string]any, error) {
	if err := e.ots.served(); err != nil {
		return nil, err
	}
	h := e.ots.eth.headerByNumber(n.BlockNumber)
	if h == nil {
		return nil, nil
	}
	return marshalHeader(h, e.ots.eth.b.Chain.GetTD(h.Hash(), h.Number.Uint64())), nil
}
