package rpc

import (
	"context"
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

// Chain is what the API reads of the chain's headers: every peer holds
// them (a light peer has verified them itself), so these reads are local
// and cannot fail. What the headers commit to comes through Data.
type Chain interface {
	CurrentHeader() *types.Header
	Genesis() *types.Block
	GetHeader(hash common.Hash, number uint64) *types.Header
	GetHeaderByHash(hash common.Hash) *types.Header
	GetHeaderByNumber(number uint64) *types.Header
	GetTD(hash common.Hash, number uint64) *big.Int
	IsCanonical(h *types.Header) bool
	Config() *gparams.ChainConfig
	Processor() *execution.Processor
	// SubscribeHeads delivers head changes. A light peer's events carry
	// blocks with headers only; their bodies come through Data.
	SubscribeHeads(ch chan<- chain.HeadEvent) event.Subscription
}

// Data is where the API gets what a header commits to: a block's body and
// receipts, a transaction's place, the state after a block and its
// proofs. A full peer reads its own database; a light peer asks its
// sources and checks every answer against its verified headers, so each
// read takes a context and may fail. (nil, nil) means "does not exist".
type Data interface {
	// Block returns the block of h (header and body).
	Block(ctx context.Context, h *types.Header) (*types.Block, error)
	// Receipts returns the receipts of b with every field derived.
	Receipts(ctx context.Context, b *types.Block) (types.Receipts, error)
	// Transaction finds a transaction on the canonical chain.
	Transaction(ctx context.Context, hash common.Hash) (*chain.TxLookup, error)
	// State returns a private state after block h for queries, and a check
	// to call after reading it: a light peer's reads are fetched on demand
	// and a failed one must fail the answer.
	State(ctx context.Context, h *types.Header) (*state.StateDB, func() error, error)
	// Proof proves an account and storage slots in the state after h.
	Proof(ctx context.Context, h *types.Header, addr common.Address, slots []common.Hash) (*chain.AccountProof, error)
	// ProofWindow is how many recent blocks' states are served (0: the
	// last 128), for error messages.
	ProofWindow() uint64
}

// CallPrefetcher is an optional capability of Data: before a call runs on
// st (from Data.State), fetch at once what it will read. A light peer
// otherwise proves each read on demand, one round trip at a time.
type CallPrefetcher interface {
	PrefetchCall(ctx context.Context, st *state.StateDB, h *types.Header, args CallArgs)
}

// FullChain is a full peer's chain: headers, and all the data in its own
// database.
type FullChain interface {
	Chain
	GetBlock(hash common.Hash, number uint64) *types.Block
	GetReceipts(hash common.Hash, number uint64) types.Receipts
	GetTransaction(hash common.Hash) (*chain.TxLookup, bool)
	StateAtBlock(h *types.Header) (*state.StateDB, error)
	Prove(h *types.Header, addr common.Address, slots []common.Hash) (*chain.AccountProof, error)
	ProofWindow() uint64
}

// LocalData is Data over a full peer's own chain.
func LocalData(c FullChain) Data { return localData{c} }

type localData struct{ c FullChain }

func (d localData) Block(_ context.Context, h *types.Header) (*types.Block, error) {
	return d.c.GetBlock(h.Hash(), h.Number.Uint64()), nil
}

func (d localData) Receipts(_ context.Context, b *types.Block) (types.Receipts, error) {
	return d.c.GetReceipts(b.Hash(), b.NumberU64()), nil
}

func (d localData) Transaction(_ context.Context, hash common.Hash) (*chain.TxLookup, error) {
	l, ok := d.c.GetTransaction(hash)
	if !ok {
		return nil, nil
	}
	return l, nil
}

func (d localData) State(_ context.Context, h *types.Header) (*state.StateDB, func() error, error) {
	st, err := d.c.StateAtBlock(h)
	if err != nil {
		return nil, nil, err
	}
	return st, st.Error, nil
}

func (d localData) Proof(_ context.Context, h *types.Header, addr common.Address, slots []common.Hash) (*chain.AccountProof, error) {
	return d.c.Prove(h, addr, slots)
}

func (d localData) ProofWindow() uint64 { return d.c.ProofWindow() }

// Pool is where the API sends transactions and asks about pending ones.
// A full peer's is its transaction pool (LocalPool); a light peer's
// forwards to its sources, so sending and the pending nonce may fail.
type Pool interface {
	// Add submits transactions; one error (or nil) per transaction.
	Add(ctx context.Context, txs []*types.Transaction) []error
	// Get returns a pending transaction, or nil.
	Get(hash common.Hash) *types.Transaction
	// PendingNonce is the nonce an account's next transaction should use.
	PendingNonce(ctx context.Context, addr common.Address) (uint64, error)
	SubscribeNewTxs(ch chan<- txpool.NewTxsEvent) event.Subscription
}

// TxPool is a full peer's transaction pool.
type TxPool interface {
	Add(txs []*types.Transaction) []error
	Get(hash common.Hash) *types.Transaction
	PendingNonce(addr common.Address) uint64
	SubscribeNewTxs(ch chan<- txpool.NewTxsEvent) event.Subscription
}

// LocalPool is Pool over a full peer's own transaction pool.
func LocalPool(p TxPool) Pool { return localPool{p} }

type localPool struct{ p TxPool }

// Add admits txs holding the request's slot and waits for the journal's
// synced write without it: the disk needs no CPU, and concurrent senders
// then share one synced write in the pool.
func (l localPool) Add(ctx context.Context, txs []*types.Transaction) []error {
	sub, ok := l.p.(interface {
		Submit(txs []*types.Transaction) *txpool.Ack
	})
	if !ok {
		return l.p.Add(txs)
	}
	ack := sub.Submit(txs)
	slot, _ := ctx.Value(slotKey{}).(*requestSlot)
	if slot == nil {
		return ack.Wait()
	}
	slot.release()
	errs := ack.Wait()
	// The rest of a batch runs in a slot again; these transactions are
	// durable whether or not one comes back in time.
	_ = slot.reacquire(ctx)
	return errs
}
func (l localPool) Get(hash common.Hash) *types.Transaction { return l.p.Get(hash) }
func (l localPool) PendingNonce(_ context.Context, addr common.Address) (uint64, error) {
	return l.p.PendingNonce(addr), nil
}
func (l localPool) SubscribeNewTxs(ch chan<- txpool.NewTxsEvent) event.Subscription {
	return l.p.SubscribeNewTxs(ch)
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
	// What the network view adds, where the Network measures it:
	// libp2p's identify protocol version, our handshake's sync protocol
	// version, a light peer's mark, bytes moved (totals and moving rates
	// in bytes/s) and the gossip topics whose mesh holds the peer.
	Protocol    string   `json:"protocol,omitempty"`
	SyncVersion uint64   `json:"syncVersion,omitempty"`
	Light       bool     `json:"light,omitempty"`
	BytesIn     uint64   `json:"bytesIn"`
	BytesOut    uint64   `json:"bytesOut"`
	RateIn      float64  `json:"rateIn"`
	RateOut     float64  `json:"rateOut"`
	Mesh        []string `json:"mesh,omitempty"`
	// What a light peer adds of its sources: the kind ("provider", a
	// JSON-RPC URL, or "p2p", a full peer), its strikes in a row, and
	// while it is dropped the evidence against it and when the drop ends
	// (RFC 3339).
	Kind         string `json:"kind,omitempty"`
	Strikes      int    `json:"strikes,omitempty"`
	Evidence     string `json:"evidence,omitempty"`
	DroppedUntil string `json:"droppedUntil,omitempty"`
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
	Chain Chain // required
	// Data serves what the headers commit to. Default: LocalData(Chain),
	// which needs Chain to be a FullChain.
	Data     Data
	Pool     Pool // required
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
	if b.Data == nil {
		fc, ok := b.Chain.(FullChain)
		if !ok {
			return errors.New("rpc backend: Data is required when Chain is not a full chain")
		}
		b.Data = LocalData(fc)
	}
	if b.Pool == nil {
		return errors.New("rpc backend: Pool is required")
	}
	return nil
}
