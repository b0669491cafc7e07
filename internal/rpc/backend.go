package rpc

import (
	"errors"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/event"
	gparams "github.com/ethereum/go-ethereum/params"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/execution"
	"github.com/peerchain/peerchain/internal/txpool"
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
	// StateAtBlock and TriesAtBlock serve the state after a block for
	// queries and for proofs, within ProofWindow blocks of the head when
	// that is not 0 (see chain.Config.ProofWindow).
	StateAtBlock(h *types.Header) (*state.StateDB, error)
	TriesAtBlock(h *types.Header) (chain.StateTries, error)
	ProofWindow() uint64
	Config() *gparams.ChainConfig
	Processor() *execution.Processor
	SubscribeHeads(ch chan<- chain.HeadEvent) event.Subscription
}

// Pool is what the API needs of the transaction pool.
type Pool interface {
	Add(txs []*types.Transaction) []error
	Get(hash common.Hash) *types.Transaction
	PendingNonce(addr common.Address) uint64
	SubscribeNewTxs(ch chan<- txpool.NewTxsEvent) event.Subscription
}

// Miner reports mining status; optional.
type Miner interface {
	Hashrate() float64
	Coinbase() common.Address
}

// Network is the peer-to-peer side of the node; optional (a node without
// peers answers as alone).
type Network interface {
	PeerCount() int
	Listening() bool
	Peers() []PeerInfo
	NodeInfo() NodeInfo
	Syncing() (SyncStatus, bool)
	// AddPeer dials a multiaddr ending in /p2p/<id>.
	AddPeer(addr string) error
	// BlockPeers refuses the given peer ids until UnblockPeers.
	BlockPeers(ids []string) error
	UnblockPeers()
}

// PeerInfo is one connected peer as peerchain_peers reports it.
type PeerInfo struct {
	ID        string        `json:"id"`
	Addrs     []string      `json:"addrs"`
	Direction string        `json:"direction"`
	Since     string        `json:"connectedSince,omitempty"`
	LatencyMs float64       `json:"latencyMs"`
	UserAgent string        `json:"userAgent,omitempty"`
	Head      *PeerHeadInfo `json:"head,omitempty"`
}

// PeerHeadInfo is what a peer told us of its head, and how much of it we
// have checked.
type PeerHeadInfo struct {
	Hash            common.Hash    `json:"hash"`
	Number          hexutil.Uint64 `json:"number"`
	TotalDifficulty *hexutil.Big   `json:"totalDifficulty"`
	// ProvenTotalDifficulty is the most work the peer has shown with
	// headers or blocks we verified; TotalDifficulty is only its claim.
	ProvenTotalDifficulty *hexutil.Big `json:"provenTotalDifficulty"`
}

// NodeInfo is this node's peer-to-peer identity.
type NodeInfo struct {
	ID     string   `json:"id"`
	Listen []string `json:"listenAddrs"`
	Banned int      `json:"banned"`
}

// SyncStatus is a running sync.
type SyncStatus struct {
	Starting  uint64
	Current   uint64
	Highest   uint64
	BlocksSec float64
	TxsSec    float64
	ETA       float64 // seconds
}

// Backend is everything the API reads.
type Backend struct {
	Chain    Chain // required
	Pool     Pool  // required
	Miner    Miner
	Net      Network
	Accounts Accounts
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
