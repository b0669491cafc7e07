package rpc

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/core/vm"
)

// replay runs the canonical transaction hash again on its block's parent
// state, after the transactions before it, with hooks on it alone, and
// returns its execution result. It runs in a heavy-call slot within the
// call's EVM budget; the parent's state must be served (the proof window).
func (o *otsAPI) replay(ctx context.Context, method string, hash common.Hash, hooks *tracing.Hooks) (*core.ExecutionResult, error) {
	if err := o.served(); err != nil {
		return nil, err
	}
	return heavy(ctx, o.eth, method, func(ctx context.Context) (*core.ExecutionResult, error) {
		api := o.eth
		lk, err := api.b.Data.Transaction(ctx, hash)
		if err != nil {
			return nil, err
		}
		if lk == nil {
			return nil, fmt.Errorf("transaction %s not found on the canonical chain", hash)
		}
		header := api.b.Chain.GetHeader(lk.BlockHash, lk.Number)
		if header == nil {
			return nil, fmt.Errorf("block %d (%s) of transaction %s is missing", lk.Number, lk.BlockHash, hash)
		}
		parent := api.b.Chain.GetHeader(header.ParentHash, lk.Number-1)
		block, err := api.b.Data.Block(ctx, header)
		if err != nil || block == nil || parent == nil {
			return nil, errors.Join(fmt.Errorf("block %d of transaction %s is not available", lk.Number, hash), err)
		}
		st, check, err := api.b.Data.State(ctx, parent)
		if err != nil {
			return nil, api.stateError(parent.Number.Uint64(), err)
		}
		ctx, cancel, budget := api.evmBudget(ctx)
		defer cancel()
		proc := api.b.Chain.Processor()
		signer := proc.Signer(header)
		gp := core.NewGasPool(header.GasLimit)
		evm := proc.NewEVM(header, st, api.b.Chain, vm.Config{})
		defer evm.Release()
		stop := context.AfterFunc(ctx, evm.Cancel)
		defer stop()
		core.ProcessParentBlockHash(header.ParentHash, evm, nil)
		for i, tx := range block.Transactions()[:lk.Index] {
			msg, err := core.TransactionToMessage(tx, signer, header.BaseFee)
			if err != nil {
				return nil, fmt.Errorf("replay transaction %d of block %d: %w", i, lk.Number, err)
			}
			st.SetTxContext(tx.Hash(), i, uint32(i+1))
			if _, _, err := core.ApplyTransactionWithEVM(ctx, msg, gp, st, header.Number, header.Hash(), header.Time, tx, evm); err != nil {
				if evm.Cancelled() {
					return nil, fmt.Errorf("%w (%s)", errExecutionAborted, budget)
				}
				return nil, fmt.Errorf("replay transaction %d of block %d: %w", i, lk.Number, err)
			}
		}
		msg, err := core.TransactionToMessage(lk.Tx, signer, header.BaseFee)
		if err != nil {
			return nil, err
		}
		traced := proc.NewEVM(header, st, api.b.Chain, vm.Config{Tracer: hooks})
		defer traced.Release()
		stopTraced := context.AfterFunc(ctx, traced.Cancel)
		defer stopTraced()
		st.SetTxContext(lk.Tx.Hash(), int(lk.Index), uint32(lk.Index+1))
		traced.SetTxContext(core.NewEVMTxContext(msg))
		res, err := core.ApplyMessage(traced, msg, gp)
		if evm.Cancelled() || traced.Cancelled() {
			return nil, fmt.Errorf("%w (%s)", errExecutionAborted, budget)
		}
		if err != nil {
			return nil, fmt.Errorf("replay transaction %s: %w", hash, err)
		}
		if err := check(); err != nil {
			return nil, api.stateError(parent.Number.Uint64(), err)
		}
		return res, nil
	})
}

// GetTransactionError is ots_getTransactionError: the revert data of a
// failed transaction, "0x" for a successful one (or one that failed
// without data, out of gas say).
func (o *otsAPI) GetTransactionError(ctx context.Context, hash common.Hash) (hexutil.Bytes, error) {
	res, err := o.replay(ctx, "ots_getTransactionError", hash, nil)
	if err != nil {
		return nil, err
	}
	if out := res.Revert(); out != nil {
		return out, nil
	}
	return hexutil.Bytes{}, nil
}

// otsTrace is one call frame of ots_traceTransaction.
type otsTrace struct {
	Type   string         `json:"type"`
	Depth  int            `json:"depth"`
	From   common.Address `json:"from"`
	To     common.Address `json:"to"`
	Value  *hexutil.Big   `json:"value"`
	Input  hexutil.Bytes  `json:"input"`
	Output *hexutil.Bytes `json:"output"`
	op     vm.OpCode
}

// TraceTransaction is ots_traceTransaction: every call frame of a
// transaction in the order entered (calls, creates, selfdestructs), with
// its depth, value (null for a static or delegate call, which move none),
// input and output.
func (o *otsAPI) TraceTransaction(ctx context.Context, hash common.Hash) ([]*otsTrace, error) {
	var (
		frames []*otsTrace
		stack  []*otsTrace
	)
	hooks := &tracing.Hooks{
		OnEnter: func(depth int, typ byte, from, to common.Address, input []byte, _ uint64, value *big.Int) {
			op := vm.OpCode(typ)
			f := &otsTrace{Type: op.String(), Depth: depth, From: from, To: to, Input: common.CopyBytes(input), op: op}
			if op != vm.STATICCALL && op != vm.DELEGATECALL && value != nil {
				f.Value = (*hexutil.Big)(new(big.Int).Set(value))
			}
			frames = append(frames, f)
			stack = append(stack, f)
		},
		OnExit: func(_ int, output []byte, _ uint64, _ error, _ bool) {
			if len(stack) == 0 {
				return
			}
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if f.op != vm.SELFDESTRUCT {
				out := hexutil.Bytes(common.CopyBytes(output))
				f.Output = &out
			}
		},
	}
	if _, err := o.replay(ctx, "ots_traceTransaction", hash, hooks); err != nil {
		return nil, err
	}
	if frames == nil {
		frames = []*otsTrace{}
	}
	return frames, nil
}

// otsOperation is one internal operation of ots_getInternalOperations.
type otsOperation struct {
	Type  int            `json:"type"`
	From  common.Address `json:"from"`
	To    common.Address `json:"to"`
	Value *hexutil.Big   `json:"value"`
}

// Internal operation types.
const (
	otsOpTransfer     = 0
	otsOpSelfDestruct = 1
	otsOpCreate       = 2
	otsOpCreate2      = 3
)

// GetInternalOperations is ots_getInternalOperations: the value transfers
// of inner calls, and every create, create2 and selfdestruct below the
// top call, in the order they happened.
func (o *otsAPI) GetInternalOperations(ctx context.Context, hash common.Hash) ([]otsOperation, error) {
	ops := []otsOperation{}
	hooks := &tracing.Hooks{
		OnEnter: func(depth int, typ byte, from, to common.Address, _ []byte, _ uint64, value *big.Int) {
			if depth == 0 {
				return
			}
			v := new(big.Int)
			if value != nil {
				v.Set(value)
			}
			op := otsOperation{From: from, To: to, Value: (*hexutil.Big)(v)}
			switch vm.OpCode(typ) {
			case vm.CALL:
				if v.Sign() == 0 {
					return
				}
				op.Type = otsOpTransfer
			case vm.CREATE:
				op.Type = otsOpCreate
			case vm.CREATE2:
				op.Type = otsOpCreate2
			case vm.SELFDESTRUCT:
				op.Type = otsOpSelfDestruct
			default:
				return
			}
			ops = append(ops, op)
		},
	}
	if _, err := o.replay(ctx, "ots_getInternalOperations", hash, hooks); err != nil {
		return nil, err
	}
	return ops, nil
}
