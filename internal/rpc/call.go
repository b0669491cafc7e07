package rpc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/crypto"
	gparams "github.com/ethereum/go-ethereum/params"
	"github.com/holiman/uint256"
)

// CallArgs are the arguments of eth_call and eth_estimateGas.
type CallArgs struct {
	From                 *common.Address              `json:"from"`
	To                   *common.Address              `json:"to"`
	Gas                  *hexutil.Uint64              `json:"gas"`
	GasPrice             *hexutil.Big                 `json:"gasPrice"`
	MaxFeePerGas         *hexutil.Big                 `json:"maxFeePerGas"`
	MaxPriorityFeePerGas *hexutil.Big                 `json:"maxPriorityFeePerGas"`
	Value                *hexutil.Big                 `json:"value"`
	Nonce                *hexutil.Uint64              `json:"nonce"`
	Data                 *hexutil.Bytes               `json:"data"`
	Input                *hexutil.Bytes               `json:"input"`
	AccessList           *types.AccessList            `json:"accessList"`
	ChainID              *hexutil.Big                 `json:"chainId"`
	AuthorizationList    []types.SetCodeAuthorization `json:"authorizationList"`
	BlobVersionedHashes  []common.Hash                `json:"blobVersionedHashes"`
	MaxFeePerBlobGas     *hexutil.Big                 `json:"maxFeePerBlobGas"`
}

func (a *CallArgs) data() []byte {
	if a.Input != nil {
		return *a.Input
	}
	if a.Data != nil {
		return *a.Data
	}
	return nil
}

// check rejects contradictory arguments with go-ethereum's messages.
func (a *CallArgs) check(chainID *big.Int) error {
	if a.Data != nil && a.Input != nil && !slices.Equal(*a.Data, *a.Input) {
		return errors.New(`both "data" and "input" are set and not equal. Please use "input" to pass transaction call data`)
	}
	if a.GasPrice != nil && (a.MaxFeePerGas != nil || a.MaxPriorityFeePerGas != nil) {
		return errors.New("both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified")
	}
	if a.MaxFeePerGas != nil && a.MaxPriorityFeePerGas != nil && a.MaxFeePerGas.ToInt().Cmp(a.MaxPriorityFeePerGas.ToInt()) < 0 {
		return fmt.Errorf("maxFeePerGas (%v) < maxPriorityFeePerGas (%v)", a.MaxFeePerGas, a.MaxPriorityFeePerGas)
	}
	if a.ChainID != nil && a.ChainID.ToInt().Cmp(chainID) != 0 {
		return fmt.Errorf("chainId does not match node's (have=%v, want=%v)", a.ChainID.ToInt(), chainID)
	}
	if len(a.BlobVersionedHashes) > 0 || a.MaxFeePerBlobGas != nil {
		return fmt.Errorf("%w: blob transactions are not supported on peerchain", core.ErrTxTypeNotSupported)
	}
	for _, v := range []*hexutil.Big{a.GasPrice, a.MaxFeePerGas, a.MaxPriorityFeePerGas, a.Value} {
		if v != nil && (v.ToInt().Sign() < 0 || v.ToInt().BitLen() > 256) {
			return fmt.Errorf("value %v out of range: must be between 0 and 2^256-1", v)
		}
	}
	return nil
}

// message builds the call message. A call with no fee fields runs with a
// zero gas price and the base fee check off, as in go-ethereum.
func (a *CallArgs) message(baseFee *big.Int, gas uint64) (*core.Message, bool) {
	var from common.Address
	if a.From != nil {
		from = *a.From
	}
	value := new(uint256.Int)
	if a.Value != nil {
		value = uint256.MustFromBig(a.Value.ToInt())
	}
	var (
		price, feeCap, tip = new(uint256.Int), new(uint256.Int), new(uint256.Int)
		noBaseFee          = false
	)
	switch {
	case a.GasPrice != nil:
		price = uint256.MustFromBig(a.GasPrice.ToInt())
		feeCap, tip = price, price
	case a.MaxFeePerGas != nil || a.MaxPriorityFeePerGas != nil:
		if a.MaxFeePerGas != nil {
			feeCap = uint256.MustFromBig(a.MaxFeePerGas.ToInt())
		}
		if a.MaxPriorityFeePerGas != nil {
			tip = uint256.MustFromBig(a.MaxPriorityFeePerGas.ToInt())
		}
		if a.MaxFeePerGas == nil {
			feeCap = new(uint256.Int).Add(tip, uint256.MustFromBig(baseFee))
		}
		// price = min(tip + baseFee, feeCap)
		price = new(uint256.Int).Add(tip, uint256.MustFromBig(baseFee))
		if price.Cmp(feeCap) > 0 {
			price = feeCap
		}
	default:
		noBaseFee = true
	}
	var al types.AccessList
	if a.AccessList != nil {
		al = *a.AccessList
	}
	msg := &core.Message{
		From: from, To: a.To, Value: value, GasLimit: gas,
		GasPrice: price, GasFeeCap: feeCap, GasTipCap: tip,
		Data: a.data(), AccessList: al, SetCodeAuthorizations: a.AuthorizationList,
	}
	msg.SkipNonceCheck()
	msg.SkipEOACheck()
	return msg, noBaseFee
}

// errExecutionAborted is a call stopped by its time budget, go-ethereum's
// words.
var errExecutionAborted = errors.New("execution aborted")

// evmBudget bounds ctx by --rpc.evmtimeout and by what remains of the
// request's budget, and says which of the two it is, for the error.
func (api *ethAPI) evmBudget(ctx context.Context) (context.Context, context.CancelFunc, string) {
	d, rule := api.cfg.EVMTimeout, "--rpc.evmtimeout"
	if deadline, ok := budgetDeadline(ctx); ok && time.Until(deadline) < d {
		d, rule = time.Until(deadline), "the rest of the request's --rpc.timeout budget"
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	return ctx, cancel, fmt.Sprintf("timeout = %v, %s", d.Round(time.Millisecond), rule)
}

// run executes msg on st at header until ctx ends.
func (api *ethAPI) run(ctx context.Context, msg *core.Message, noBaseFee bool, st *state.StateDB, header *types.Header) (*core.ExecutionResult, error) {
	return api.runWith(ctx, msg, vm.Config{NoBaseFee: noBaseFee}, st, header)
}

// runWith is run with an EVM configuration (a tracer).
func (api *ethAPI) runWith(ctx context.Context, msg *core.Message, vmCfg vm.Config, st *state.StateDB, header *types.Header) (*core.ExecutionResult, error) {
	if ctx.Err() != nil {
		return nil, errExecutionAborted
	}
	proc := api.b.Chain.Processor()
	evm := vm.NewEVM(proc.BlockContext(header, api.b.Chain), st, api.config, vmCfg)
	defer evm.Release()
	evm.SetTxContext(core.NewEVMTxContext(msg))
	stop := context.AfterFunc(ctx, evm.Cancel)
	defer stop()
	res, err := core.ApplyMessage(evm, msg, core.NewGasPool(math.MaxUint64))
	if evm.Cancelled() {
		return nil, errExecutionAborted
	}
	if err != nil {
		return nil, fmt.Errorf("err: %w (supplied gas %d)", err, msg.GasLimit)
	}
	return res, nil
}

// doCall runs a call on a copy of st within the call's time budget.
func (api *ethAPI) doCall(ctx context.Context, args CallArgs, st *state.StateDB, header *types.Header, estimate bool) (*core.ExecutionResult, error) {
	if err := args.check(api.config.ChainID); err != nil {
		return nil, err
	}
	gas := api.cfg.GasCap
	if args.Gas != nil {
		if uint64(*args.Gas) > api.cfg.GasCap {
			return nil, fmt.Errorf("gas %d above the node's call gas cap %d (--rpc.gascap)", uint64(*args.Gas), api.cfg.GasCap)
		}
		gas = uint64(*args.Gas)
	}
	msg, noBaseFee := args.message(header.BaseFee, gas)
	if !estimate {
		msg.SkipGasLimitCapCheck()
	}
	ctx, cancel, budget := api.evmBudget(ctx)
	defer cancel()
	res, err := api.run(ctx, msg, noBaseFee, st, header)
	if errors.Is(err, errExecutionAborted) {
		return nil, fmt.Errorf("%w (%s)", err, budget)
	}
	return res, err
}

// revertError carries revert data as JSON-RPC error 3, as go-ethereum does.
type revertError struct {
	error
	data string
}

func (e *revertError) ErrorCode() int { return 3 }
func (e *revertError) ErrorData() any { return e.data }
func (e *revertError) Unwrap() error  { return e.error }
func newRevertError(revert []byte) *revertError {
	err := vm.ErrExecutionReverted
	if reason, uerr := abi.UnpackRevert(revert); uerr == nil {
		err = fmt.Errorf("%w: %v", vm.ErrExecutionReverted, reason)
	}
	return &revertError{error: err, data: hexutil.Encode(revert)}
}

// estimateErrorRatio is the precision at which the gas search stops.
const estimateErrorRatio = 0.015

// estimateGas finds the least gas the call succeeds with, by binary search
// between its used gas and the highest gas it may have. All its runs share
// one time budget.
func (api *ethAPI) estimateGas(ctx context.Context, args CallArgs, st *state.StateDB, header *types.Header) (uint64, error) {
	if err := args.check(api.config.ChainID); err != nil {
		return 0, err
	}
	ctx, cancel, budget := api.evmBudget(ctx)
	defer cancel()
	gas, err := api.searchGas(ctx, args, st, header)
	if errors.Is(err, errExecutionAborted) {
		return 0, fmt.Errorf("%w (%s, for all the runs of the gas estimation)", err, budget)
	}
	return gas, err
}

// searchGas is estimateGas's search; it stops at the first run ctx aborts.
func (api *ethAPI) searchGas(ctx context.Context, args CallArgs, st *state.StateDB, header *types.Header) (uint64, error) {
	hi := min(header.GasLimit, api.cfg.GasCap, gparams.MaxTxGas)
	if args.Gas != nil {
		if g := uint64(*args.Gas); g < hi {
			hi = g
		}
	}
	// With a fee set, the sender's balance bounds the gas it can buy.
	var feeCap *big.Int
	switch {
	case args.GasPrice != nil:
		feeCap = args.GasPrice.ToInt()
	case args.MaxFeePerGas != nil:
		feeCap = args.MaxFeePerGas.ToInt()
	}
	if feeCap != nil && feeCap.Sign() > 0 && args.From != nil {
		avail := st.GetBalance(*args.From).ToBig()
		if args.Value != nil {
			if args.Value.ToInt().Cmp(avail) > 0 {
				return 0, core.ErrInsufficientFundsForTransfer
			}
			avail.Sub(avail, args.Value.ToInt())
		}
		allowance := new(big.Int).Div(avail, feeCap)
		if allowance.IsUint64() && allowance.Uint64() < hi {
			hi = allowance.Uint64()
		}
	}
	// A plain transfer to an account without code costs exactly the base
	// transaction gas, as go-ethereum answers without running anything.
	if len(args.data()) == 0 && args.To != nil && len(st.GetCode(*args.To)) == 0 && len(args.AuthorizationList) == 0 &&
		(args.AccessList == nil || len(*args.AccessList) == 0) && hi >= gparams.TxGas {
		if args.Value != nil && args.From != nil && st.GetBalance(*args.From).ToBig().Cmp(args.Value.ToInt()) < 0 {
			return 0, core.ErrInsufficientFundsForTransfer
		}
		return gparams.TxGas, nil
	}
	try := func(gas uint64) (*core.ExecutionResult, error) {
		msg, noBaseFee := args.message(header.BaseFee, gas)
		return api.run(ctx, msg, noBaseFee, st.Copy(), header)
	}
	res, err := try(hi)
	if err != nil {
		if errors.Is(err, core.ErrIntrinsicGas) || errors.Is(err, core.ErrFloorDataGas) {
			return 0, fmt.Errorf("gas required exceeds allowance (%d)", hi)
		}
		return 0, err
	}
	if res.Failed() {
		if len(res.Revert()) > 0 {
			return 0, newRevertError(res.Revert())
		}
		if errors.Is(res.Err, vm.ErrOutOfGas) {
			return 0, fmt.Errorf("gas required exceeds allowance (%d)", hi)
		}
		return 0, res.Err
	}
	lo := res.MaxUsedGas - 1 // it cannot succeed with less than it consumed
	// Most calls succeed with what they used plus the 1/64 withheld from
	// inner calls; try that first.
	if opt := (res.MaxUsedGas + gparams.CallStipend) * 64 / 63; opt < hi {
		r, err := try(opt)
		switch {
		case errors.Is(err, errExecutionAborted):
			return 0, err
		case err == nil && !r.Failed():
			hi = opt
		default:
			lo = max(lo, opt)
		}
	}
	for lo+1 < hi {
		if float64(hi-lo)/float64(hi) < estimateErrorRatio {
			break
		}
		mid := lo + (hi-lo)/2
		if mid > lo*2 {
			mid = lo * 2 // skew toward the low end: most calls need little
		}
		r, err := try(mid)
		if err != nil && !errors.Is(err, core.ErrIntrinsicGas) && !errors.Is(err, core.ErrFloorDataGas) {
			return 0, err
		}
		if err != nil || r.Failed() {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi, nil
}

// tipOracle suggests a priority fee: a percentile of the tips paid in
// recent blocks, 1 gwei when they hold no transactions. Cached per head.
type tipOracle struct {
	mu   sync.Mutex
	head common.Hash
	tip  *big.Int
	at   time.Time
}

func (o *tipOracle) suggest(ctx context.Context, b Backend) (*big.Int, error) {
	head := b.Chain.CurrentHeader()
	hash := head.Hash()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.tip != nil && o.head == hash {
		return o.tip, nil
	}
	var tips []*big.Int
	for h, i := head, 0; h != nil && i < tipOracleBlocks; i++ {
		if h.TxHash != types.EmptyTxsHash {
			blk, err := b.Data.Block(ctx, h)
			if err != nil {
				return nil, fmt.Errorf("suggest a tip: %w", err)
			}
			if blk != nil {
				for _, tx := range blk.Transactions() {
					if t := tx.EffectiveGasTipValue(blk.BaseFee()); t.Sign() > 0 {
						tips = append(tips, t)
					}
				}
			}
		}
		if h.Number.Sign() == 0 {
			break
		}
		h = b.Chain.GetHeader(h.ParentHash, h.Number.Uint64()-1)
	}
	tip := new(big.Int).Set(defaultTip)
	if len(tips) > 0 {
		slices.SortFunc(tips, func(a, b *big.Int) int { return a.Cmp(b) })
		tip = tips[(len(tips)-1)*tipOraclePercentile/100]
	}
	o.head, o.tip, o.at = hash, tip, time.Now()
	return tip, nil
}

func cryptoKeccak(b []byte) []byte { return crypto.Keccak256(b) }
