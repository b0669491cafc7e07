package rpc

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	gparams "github.com/ethereum/go-ethereum/params"
	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/peerchain/peerchain/internal/params"
)

// Errors with go-ethereum's wording.
var (
	errHeaderNotFound   = errors.New("header not found")
	errNotCanonical     = errors.New("hash is not currently canonical")
	errUnprotectedTx    = errors.New("only replay-protected (EIP-155) transactions allowed over RPC")
	errBlockHashOrNum   = errors.New("invalid arguments; neither block nor hash specified")
	latest              = gethrpc.BlockNumberOrHashWithNumber(gethrpc.LatestBlockNumber)
	defaultTip          = big.NewInt(gparams.GWei)
	tipOracleBlocks     = 20
	tipOraclePercentile = 60
)

// ethAPI is the eth_ namespace.
type ethAPI struct {
	b       Backend
	cfg     *Config
	config  *gparams.ChainConfig
	tips    tipOracle
	events  *events
	gate    *gate    // heavy calls
	proofs  *gate    // eth_getProof
	senders *buckets // a provider's per-sender transaction limit; nil otherwise
	metrics *metrics
}

func newEthAPI(b Backend, cfg *Config) *ethAPI {
	api := &ethAPI{b: b, cfg: cfg, config: b.Chain.Config(),
		gate:   newGate(cfg.HeavyLimit, "slots for heavy calls (eth_call, eth_estimateGas, eth_getLogs)", "--rpc.heavylimit", cfg.RequestTimeout),
		proofs: newGate(cfg.ProofLimit, "slots for eth_getProof", "--rpc.proofs", cfg.RequestTimeout)}
	api.events = newEvents(api)
	return api
}

// ethService is the eth_ namespace as registered: ethAPI, with
// eth_getProof run in one of the proof slots.
type ethService struct{ *ethAPI }

// GetProof is eth_getProof (proof.go) in a proof slot.
func (s ethService) GetProof(ctx context.Context, addr common.Address, keys []string, bnh gethrpc.BlockNumberOrHash) (*accountProof, error) {
	return inSlot(ctx, s.ethAPI, s.proofs, "eth_getProof", func(ctx context.Context) (*accountProof, error) {
		return s.ethAPI.GetProof(ctx, addr, keys, bnh)
	})
}

// ChainId is eth_chainId.
func (api *ethAPI) ChainId() *hexutil.Big { return (*hexutil.Big)(api.config.ChainID) }

// BlockNumber is eth_blockNumber.
func (api *ethAPI) BlockNumber() hexutil.Uint64 {
	return hexutil.Uint64(api.b.Chain.CurrentHeader().Number.Uint64())
}

// Syncing is eth_syncing: false, or the progress of the running sync with
// go-ethereum's fields plus blocksPerSecond, txsPerSecond and etaSeconds.
func (api *ethAPI) Syncing() (any, error) {
	if api.b.Net == nil {
		return false, nil
	}
	st, ok := api.b.Net.Syncing()
	if !ok {
		return false, nil
	}
	return map[string]any{
		"startingBlock":   hexutil.Uint64(st.Starting),
		"currentBlock":    hexutil.Uint64(st.Current),
		"highestBlock":    hexutil.Uint64(st.Highest),
		"blocksPerSecond": st.BlocksSec,
		"txsPerSecond":    st.TxsSec,
		"etaSeconds":      st.ETA,
	}, nil
}

// Accounts is eth_accounts: the node's unlocked accounts (none unless it
// runs with --dev or --unlock).
func (api *ethAPI) Accounts() []common.Address {
	if api.b.Accounts == nil {
		return []common.Address{}
	}
	return api.b.Accounts.Accounts()
}

// Mining is eth_mining.
func (api *ethAPI) Mining() bool { return api.b.Miner != nil }

// Hashrate is eth_hashrate.
func (api *ethAPI) Hashrate() hexutil.Uint64 {
	if api.b.Miner == nil {
		return 0
	}
	return hexutil.Uint64(api.b.Miner.Hashrate())
}

// Coinbase is eth_coinbase.
func (api *ethAPI) Coinbase() (common.Address, error) {
	if api.b.Miner == nil {
		return common.Address{}, errors.New("this node is not mining: no coinbase (start with --mine)")
	}
	return api.b.Miner.Coinbase(), nil
}

// headerByNumber maps a block tag or number to a canonical header, or nil
// for a number above the head. safe and finalized are fixed depths below
// the head (params.SafeDepth, params.FinalizedDepth).
func (api *ethAPI) headerByNumber(n gethrpc.BlockNumber) *types.Header {
	c := api.b.Chain
	head := c.CurrentHeader()
	below := func(depth uint64) *types.Header {
		if head.Number.Uint64() < depth {
			return c.Genesis().Header()
		}
		return c.GetHeaderByNumber(head.Number.Uint64() - depth)
	}
	switch n {
	case gethrpc.LatestBlockNumber, gethrpc.PendingBlockNumber:
		return head
	case gethrpc.SafeBlockNumber:
		return below(params.SafeDepth)
	case gethrpc.FinalizedBlockNumber:
		return below(params.FinalizedDepth)
	case gethrpc.EarliestBlockNumber:
		return c.Genesis().Header()
	}
	if n < 0 {
		return nil
	}
	return c.GetHeaderByNumber(uint64(n))
}

// header resolves a block number or hash to a header; nil (no error) when
// unknown.
func (api *ethAPI) header(bnh gethrpc.BlockNumberOrHash) (*types.Header, error) {
	if n, ok := bnh.Number(); ok {
		return api.headerByNumber(n), nil
	}
	if h, ok := bnh.Hash(); ok {
		hd := api.b.Chain.GetHeaderByHash(h)
		if hd != nil && bnh.RequireCanonical && !api.b.Chain.IsCanonical(hd) {
			return nil, errNotCanonical
		}
		return hd, nil
	}
	return nil, errBlockHashOrNum
}

// blockOf returns the block of a header, nil for a nil header.
func (api *ethAPI) blockOf(ctx context.Context, h *types.Header) (*types.Block, error) {
	if h == nil {
		return nil, nil
	}
	return api.b.Data.Block(ctx, h)
}

// blockByNumber resolves a block tag or number to its block.
func (api *ethAPI) blockByNumber(ctx context.Context, n gethrpc.BlockNumber) (*types.Block, error) {
	return api.blockOf(ctx, api.headerByNumber(n))
}

// blockByHash returns the block with hash, nil when unknown.
func (api *ethAPI) blockByHash(ctx context.Context, hash common.Hash) (*types.Block, error) {
	return api.blockOf(ctx, api.b.Chain.GetHeaderByHash(hash))
}

// block resolves a block number or hash; nil (no error) when unknown.
func (api *ethAPI) block(ctx context.Context, bnh gethrpc.BlockNumberOrHash) (*types.Block, error) {
	h, err := api.header(bnh)
	if err != nil {
		return nil, err
	}
	return api.blockOf(ctx, h)
}

// stateAt resolves a block for a state query (an unknown block is an
// error) and returns its state with the check to call after reading it.
func (api *ethAPI) stateAt(ctx context.Context, bnh *gethrpc.BlockNumberOrHash) (*state.StateDB, *types.Header, func() error, error) {
	if bnh == nil {
		bnh = &latest
	}
	h, err := api.header(*bnh)
	if err != nil {
		return nil, nil, nil, err
	}
	if h == nil {
		return nil, nil, nil, errHeaderNotFound
	}
	st, check, err := api.b.Data.State(ctx, h)
	if err != nil {
		return nil, nil, nil, api.stateError(h.Number.Uint64(), err)
	}
	return st, h, check, nil
}

// readState runs read on the state of a block and fails when any of its
// reads failed (a light peer's reads are fetched and proven on demand; a
// full peer's fail only when the state went away underneath).
func readState[T any](ctx context.Context, api *ethAPI, bnh *gethrpc.BlockNumberOrHash, read func(st *state.StateDB) T) (T, error) {
	var zero T
	st, h, check, err := api.stateAt(ctx, bnh)
	if err != nil {
		return zero, err
	}
	v := read(st)
	if err := check(); err != nil {
		return zero, api.stateError(h.Number.Uint64(), err)
	}
	return v, nil
}

// GetBalance is eth_getBalance.
func (api *ethAPI) GetBalance(ctx context.Context, addr common.Address, bnh *gethrpc.BlockNumberOrHash) (*hexutil.Big, error) {
	return readState(ctx, api, bnh, func(st *state.StateDB) *hexutil.Big { return (*hexutil.Big)(st.GetBalance(addr).ToBig()) })
}

// GetTransactionCount is eth_getTransactionCount; "pending" counts the
// pool's executable transactions.
func (api *ethAPI) GetTransactionCount(ctx context.Context, addr common.Address, bnh *gethrpc.BlockNumberOrHash) (*hexutil.Uint64, error) {
	if bnh != nil {
		if n, ok := bnh.Number(); ok && n == gethrpc.PendingBlockNumber {
			nonce, err := api.b.Pool.PendingNonce(ctx, addr)
			if err != nil {
				return nil, err
			}
			return (*hexutil.Uint64)(&nonce), nil
		}
	}
	return readState(ctx, api, bnh, func(st *state.StateDB) *hexutil.Uint64 {
		nonce := st.GetNonce(addr)
		return (*hexutil.Uint64)(&nonce)
	})
}

// GetCode is eth_getCode.
func (api *ethAPI) GetCode(ctx context.Context, addr common.Address, bnh *gethrpc.BlockNumberOrHash) (hexutil.Bytes, error) {
	return readState(ctx, api, bnh, func(st *state.StateDB) hexutil.Bytes { return st.GetCode(addr) })
}

// GetStorageAt is eth_getStorageAt.
func (api *ethAPI) GetStorageAt(ctx context.Context, addr common.Address, slot string, bnh *gethrpc.BlockNumberOrHash) (hexutil.Bytes, error) {
	key, err := decodeSlot(slot)
	if err != nil {
		return nil, err
	}
	return readState(ctx, api, bnh, func(st *state.StateDB) hexutil.Bytes {
		v := st.GetState(addr, key)
		return v[:]
	})
}

// decodeSlot accepts a storage slot of up to 32 bytes as hex.
func decodeSlot(s string) (common.Hash, error) {
	b, err := hexutil.Decode(s)
	if err != nil {
		// Accept odd-length or unpadded hex as go-ethereum does.
		var n hexutil.Big
		if jerr := n.UnmarshalText([]byte(s)); jerr != nil {
			return common.Hash{}, fmt.Errorf("storage slot %q: %w", s, err)
		}
		return common.BigToHash((*big.Int)(&n)), nil
	}
	if len(b) > 32 {
		return common.Hash{}, fmt.Errorf("storage slot %q: %d bytes, at most 32", s, len(b))
	}
	return common.BytesToHash(b), nil
}

// GetBlockByNumber is eth_getBlockByNumber.
func (api *ethAPI) GetBlockByNumber(ctx context.Context, n gethrpc.BlockNumber, fullTx bool) (map[string]any, error) {
	b, err := api.blockByNumber(ctx, n)
	if err != nil || b == nil {
		return nil, err
	}
	return marshalBlock(b, api.b.Chain.GetTD(b.Hash(), b.NumberU64()), fullTx, api.config), nil
}

// GetBlockByHash is eth_getBlockByHash.
func (api *ethAPI) GetBlockByHash(ctx context.Context, hash common.Hash, fullTx bool) (map[string]any, error) {
	b, err := api.blockByHash(ctx, hash)
	if err != nil || b == nil {
		return nil, err
	}
	return marshalBlock(b, api.b.Chain.GetTD(b.Hash(), b.NumberU64()), fullTx, api.config), nil
}

func txCount(b *types.Block, err error) (*hexutil.Uint, error) {
	if err != nil || b == nil {
		return nil, err
	}
	c := hexutil.Uint(len(b.Transactions()))
	return &c, nil
}

// GetBlockTransactionCountByNumber is eth_getBlockTransactionCountByNumber.
func (api *ethAPI) GetBlockTransactionCountByNumber(ctx context.Context, n gethrpc.BlockNumber) (*hexutil.Uint, error) {
	return txCount(api.blockByNumber(ctx, n))
}

// GetBlockTransactionCountByHash is eth_getBlockTransactionCountByHash.
func (api *ethAPI) GetBlockTransactionCountByHash(ctx context.Context, hash common.Hash) (*hexutil.Uint, error) {
	return txCount(api.blockByHash(ctx, hash))
}

// GetUncleCountByBlockNumber is eth_getUncleCountByBlockNumber: always 0.
func (api *ethAPI) GetUncleCountByBlockNumber(n gethrpc.BlockNumber) *hexutil.Uint {
	if api.headerByNumber(n) == nil {
		return nil
	}
	zero := hexutil.Uint(0)
	return &zero
}

// GetTransactionByHash is eth_getTransactionByHash: mined or pending.
func (api *ethAPI) GetTransactionByHash(ctx context.Context, hash common.Hash) (*rpcTransaction, error) {
	l, err := api.b.Data.Transaction(ctx, hash)
	if err != nil {
		return nil, err
	}
	if l != nil {
		h := api.b.Chain.GetHeader(l.BlockHash, l.Number)
		if h == nil {
			return nil, nil
		}
		return newRPCTransaction(l.Tx, l.BlockHash, l.Number, h.Time, l.Index, h.BaseFee, api.config), nil
	}
	if tx := api.b.Pool.Get(hash); tx != nil {
		return newRPCTransaction(tx, common.Hash{}, 0, 0, 0, nil, api.config), nil
	}
	return nil, nil
}

// GetTransactionByBlockNumberAndIndex is eth_getTransactionByBlockNumberAndIndex.
func (api *ethAPI) GetTransactionByBlockNumberAndIndex(ctx context.Context, n gethrpc.BlockNumber, index hexutil.Uint) (*rpcTransaction, error) {
	b, err := api.blockByNumber(ctx, n)
	if err != nil {
		return nil, err
	}
	return api.txAt(b, uint64(index)), nil
}

// GetTransactionByBlockHashAndIndex is eth_getTransactionByBlockHashAndIndex.
func (api *ethAPI) GetTransactionByBlockHashAndIndex(ctx context.Context, hash common.Hash, index hexutil.Uint) (*rpcTransaction, error) {
	b, err := api.blockByHash(ctx, hash)
	if err != nil {
		return nil, err
	}
	return api.txAt(b, uint64(index)), nil
}

func (api *ethAPI) txAt(b *types.Block, index uint64) *rpcTransaction {
	if b == nil || index >= uint64(len(b.Transactions())) {
		return nil
	}
	return newRPCTransaction(b.Transactions()[index], b.Hash(), b.NumberU64(), b.Time(), index, b.BaseFee(), api.config)
}

// GetRawTransactionByHash is eth_getRawTransactionByHash.
func (api *ethAPI) GetRawTransactionByHash(ctx context.Context, hash common.Hash) (hexutil.Bytes, error) {
	tx := api.b.Pool.Get(hash)
	l, err := api.b.Data.Transaction(ctx, hash)
	if err != nil {
		return nil, err
	}
	if l != nil {
		tx = l.Tx
	}
	if tx == nil {
		return nil, nil
	}
	return tx.MarshalBinary()
}

// GetTransactionReceipt is eth_getTransactionReceipt.
func (api *ethAPI) GetTransactionReceipt(ctx context.Context, hash common.Hash) (map[string]any, error) {
	l, err := api.b.Data.Transaction(ctx, hash)
	if err != nil || l == nil {
		return nil, err
	}
	b, err := api.blockByHash(ctx, l.BlockHash)
	if err != nil || b == nil {
		return nil, err
	}
	receipts, err := api.b.Data.Receipts(ctx, b)
	if err != nil {
		return nil, err
	}
	if l.Index >= uint64(len(receipts)) {
		return nil, nil
	}
	return marshalReceipt(receipts[l.Index], l.Tx, api.config), nil
}

// GetBlockReceipts is eth_getBlockReceipts.
func (api *ethAPI) GetBlockReceipts(ctx context.Context, bnh gethrpc.BlockNumberOrHash) ([]map[string]any, error) {
	b, err := api.block(ctx, bnh)
	if err != nil || b == nil {
		return nil, err
	}
	receipts, err := api.b.Data.Receipts(ctx, b)
	if err != nil {
		return nil, err
	}
	txs := b.Transactions()
	if len(receipts) != len(txs) {
		return nil, fmt.Errorf("receipts of block %d unavailable", b.NumberU64())
	}
	out := make([]map[string]any, len(txs))
	for i, r := range receipts {
		out[i] = marshalReceipt(r, txs[i], api.config)
	}
	return out, nil
}

// SendRawTransaction is eth_sendRawTransaction. The transaction is
// journaled durably before its hash is returned.
func (api *ethAPI) SendRawTransaction(ctx context.Context, input hexutil.Bytes) (common.Hash, error) {
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(input); err != nil {
		return common.Hash{}, fmt.Errorf("decode raw transaction: %w", err)
	}
	if err := checkTxFee(tx.GasPrice(), tx.Gas(), api.cfg.TxFeeCap); err != nil {
		return common.Hash{}, err
	}
	if !tx.Protected() && !api.b.AllowUnprotectedTxs {
		return common.Hash{}, errUnprotectedTx
	}
	if err := api.senderLimit(tx); err != nil {
		return common.Hash{}, err
	}
	if err := api.b.Pool.Add(ctx, []*types.Transaction{tx})[0]; err != nil {
		return common.Hash{}, err
	}
	api.cfg.Logger.Debug("Transaction accepted", "hash", tx.Hash(), "nonce", tx.Nonce())
	return tx.Hash(), nil
}

// checkTxFee refuses a transaction whose gas × fee cap (gas price for a
// legacy one) exceeds feeCap ether, with go-ethereum's message. A cap of
// 0 or less is none.
func checkTxFee(gasPrice *big.Int, gas uint64, feeCap float64) error {
	if feeCap <= 0 {
		return nil
	}
	fee := new(big.Int).Mul(gasPrice, new(big.Int).SetUint64(gas))
	feeEth, _ := new(big.Float).Quo(new(big.Float).SetInt(fee), new(big.Float).SetInt(big.NewInt(gparams.Ether))).Float64()
	if feeEth > feeCap {
		return fmt.Errorf("tx fee (%.2f ether) exceeds the configured cap (%.2f ether)", feeEth, feeCap)
	}
	return nil
}

// senderLimit charges a transaction to its sender's bucket on a provider:
// SendRate a minute, as many at once, so that one account cannot fill the
// pool through one provider. A transaction whose sender cannot be
// recovered is left to the pool, which refuses it with its own error.
func (api *ethAPI) senderLimit(tx *types.Transaction) error {
	if api.senders == nil {
		return nil
	}
	from, err := types.Sender(types.LatestSigner(api.config), tx) // the pool's signer: its cache serves the pool
	if err != nil {
		return nil
	}
	n := float64(api.cfg.SendRate)
	if ok, retry := api.senders.take(from.Hex(), n/60, n, 1); !ok {
		api.metrics.reject(rejectSender)
		return &rateError{retry: retry, msg: fmt.Sprintf("too many transactions from %s: at most %d a minute from one sender through this node (--provider.sendrate); retry in %ds",
			from.Hex(), api.cfg.SendRate, retrySeconds(retry))}
	}
	return nil
}

// GasPrice is eth_gasPrice: a suggested tip plus the head's base fee.
func (api *ethAPI) GasPrice(ctx context.Context) (*hexutil.Big, error) {
	head := api.b.Chain.CurrentHeader()
	tip, err := api.tips.suggest(ctx, api.b)
	if err != nil {
		return nil, err
	}
	p := new(big.Int).Set(tip)
	if head.BaseFee != nil {
		p.Add(p, head.BaseFee)
	}
	return (*hexutil.Big)(p), nil
}

// MaxPriorityFeePerGas is eth_maxPriorityFeePerGas.
func (api *ethAPI) MaxPriorityFeePerGas(ctx context.Context) (*hexutil.Big, error) {
	tip, err := api.tips.suggest(ctx, api.b)
	if err != nil {
		return nil, err
	}
	return (*hexutil.Big)(new(big.Int).Set(tip)), nil
}

// Call is eth_call.
func (api *ethAPI) Call(ctx context.Context, args CallArgs, bnh *gethrpc.BlockNumberOrHash, overrides *StateOverride) (hexutil.Bytes, error) {
	return heavy(ctx, api, "eth_call", func(ctx context.Context) (hexutil.Bytes, error) {
		return api.call(ctx, args, bnh, overrides)
	})
}

// call is eth_call in its heavy-call slot.
func (api *ethAPI) call(ctx context.Context, args CallArgs, bnh *gethrpc.BlockNumberOrHash, overrides *StateOverride) (hexutil.Bytes, error) {
	st, header, check, err := api.stateAt(ctx, bnh)
	if err != nil {
		return nil, err
	}
	if err := overrides.apply(st); err != nil {
		return nil, err
	}
	api.prefetch(ctx, st, header, args)
	res, err := api.doCall(ctx, args, st, header, false)
	if cerr := check(); cerr != nil {
		return nil, api.stateError(header.Number.Uint64(), cerr)
	}
	if err != nil {
		return nil, err
	}
	if len(res.Revert()) > 0 {
		return nil, newRevertError(res.Revert())
	}
	return res.Return(), res.Err
}

// EstimateGas is eth_estimateGas.
func (api *ethAPI) EstimateGas(ctx context.Context, args CallArgs, bnh *gethrpc.BlockNumberOrHash, overrides *StateOverride) (hexutil.Uint64, error) {
	return heavy(ctx, api, "eth_estimateGas", func(ctx context.Context) (hexutil.Uint64, error) {
		st, header, check, err := api.stateAt(ctx, bnh)
		if err != nil {
			return 0, err
		}
		if err := overrides.apply(st); err != nil {
			return 0, err
		}
		api.prefetch(ctx, st, header, args)
		gas, err := api.estimateGas(ctx, args, st, header)
		if cerr := check(); cerr != nil {
			return 0, api.stateError(header.Number.Uint64(), cerr)
		}
		return hexutil.Uint64(gas), err
	})
}

// prefetch lets a Data that can (a light peer's) fetch what a call will
// read before it runs.
func (api *ethAPI) prefetch(ctx context.Context, st *state.StateDB, h *types.Header, args CallArgs) {
	if pf, ok := api.b.Data.(CallPrefetcher); ok {
		pf.PrefetchCall(ctx, st, h, args)
	}
}

// netAPI is the net_ namespace.
type netAPI struct{ b Backend }

// Version is net_version: the chain id in decimal.
func (n *netAPI) Version() string { return n.b.Chain.Config().ChainID.String() }

// Listening is net_listening.
func (n *netAPI) Listening() bool { return n.b.Net != nil && n.b.Net.Listening() }

// PeerCount is net_peerCount.
func (n *netAPI) PeerCount() hexutil.Uint {
	if n.b.Net == nil {
		return 0
	}
	return hexutil.Uint(n.b.Net.PeerCount())
}

// web3API is the web3_ namespace.
type web3API struct{}

// ClientVersion is web3_clientVersion.
func (web3API) ClientVersion() string {
	return params.ClientName + "/v" + params.Version
}

// Sha3 is web3_sha3.
func (web3API) Sha3(input hexutil.Bytes) hexutil.Bytes {
	return hexutil.Bytes(cryptoKeccak(input))
}
