package rpc

import (
	"errors"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	gparams "github.com/ethereum/go-ethereum/params"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/execution"
)

// Chain is what the API reads of the chain.
type Chain interface {
	CurrentBlock() *types.Block
	Genesis() *types.Block
	SafeBlock() *types.Block
	FinalizedBlock() *types.Block
	GetBlockByNumber(number uint64) *types.Block
	GetBlockByHash(hash common.Hash) *types.Block
	GetHeader(hash common.Hash, number uint64) *types.Header
	GetHeaderByHash(hash common.Hash) *types.Header
	GetHeaderByNumber(number uint64) *types.Header
	GetReceipts(hash common.Hash, number uint64) types.Receipts
	GetTransaction(hash common.Hash) (*chain.TxLookup, bool)
	GetTD(hash common.Hash, number uint64) *big.Int
	IsCanonical(h *types.Header) bool
	StateAt(root common.Hash) (*state.StateDB, error)
	Config() *gparams.ChainConfig
	Processor() *execution.Processor
}

// Pool is what the API needs of the transaction pool.
type Pool interface {
	Add(txs []*types.Transaction) []error
	Get(hash common.Hash) *types.Transaction
	PendingNonce(addr common.Address) uint64
}

// Miner reports mining status; optional.
type Miner interface {
	Hashrate() float64
	Coinbase() common.Address
}

// Network reports the peer-to-peer side; optional until peers exist.
type Network interface {
	PeerCount() int
	Listening() bool
}

// Backend is everything the API reads.
type Backend struct {
	Chain Chain // required
	Pool  Pool  // required
	Miner Miner
	Net   Network
	// AllowUnprotectedTxs accepts transactions without EIP-155 replay
	// protection through eth_sendRawTransaction.
	AllowUnprotectedTxs bool
}

func (b *Backend) validate() error {
	if b.Chain == nil {
		return errors.New("rpc backend: Chain is required")
	}
	if b.Pool == nil {
		return errors.New("rpc backend: Pool is required")
	}
	return nil
}
