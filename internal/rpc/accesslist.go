package rpc

import (
	"context"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/tracers/logger"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
)

// maxAccessListRuns bounds the runs eth_createAccessList makes while the
// list still grows (each run can only add what the last one reached).
const maxAccessListRuns = 16

type accessListResult struct {
	AccessList *types.AccessList `json:"accessList"`
	Error      string            `json:"error,omitempty"`
	GasUsed    hexutil.Uint64    `json:"gasUsed"`
}

// CreateAccessList is eth_createAccessList: the addresses and storage
// slots a call touches (its sender, its receiver and the precompiles left
// out, as go-ethereum does), found by running it with the list so far
// until the list no longer grows, and the gas the last run used.
func (api *ethAPI) CreateAccessList(ctx context.Context, args CallArgs, bnh *gethrpc.BlockNumberOrHash) (*accessListResult, error) {
	return heavy(ctx, api, "eth_createAccessList", func(ctx context.Context) (*accessListResult, error) {
		if err := args.check(api.config.ChainID); err != nil {
			return nil, err
		}
		st, header, check, err := api.stateAt(ctx, bnh)
		if err != nil {
			return nil, err
		}
		res, err := api.accessList(ctx, args, st, header)
		if cerr := check(); cerr != nil {
			return nil, api.stateError(header.Number.Uint64(), cerr)
		}
		return res, err
	})
}

func (api *ethAPI) accessList(ctx context.Context, args CallArgs, st *state.StateDB, header *types.Header) (*accessListResult, error) {
	var from common.Address
	if args.From != nil {
		from = *args.From
	}
	to := crypto.CreateAddress(from, st.GetNonce(from))
	if args.To != nil {
		to = *args.To
	}
	exclude := map[common.Address]struct{}{from: {}, to: {}}
	for _, addr := range vm.ActivePrecompiles(api.config.Rules(header.Number, true, header.Time)) {
		exclude[addr] = struct{}{}
	}
	var start types.AccessList
	if args.AccessList != nil {
		start = *args.AccessList
	}
	gas := api.cfg.GasCap
	if args.Gas != nil {
		if uint64(*args.Gas) > api.cfg.GasCap {
			return nil, fmt.Errorf("gas %d above the node's call gas cap %d (--rpc.gascap)", uint64(*args.Gas), api.cfg.GasCap)
		}
		gas = uint64(*args.Gas)
	}
	ctx, cancel, rule := api.evmBudget(ctx)
	defer cancel()
	prev := logger.NewAccessListTracer(start, exclude)
	for run := 0; run < maxAccessListRuns; run++ {
		list := prev.AccessList()
		runArgs := args
		runArgs.AccessList = &list
		msg, noBaseFee := runArgs.message(header.BaseFee, gas)
		msg.SkipGasLimitCapCheck()
		tracer := logger.NewAccessListTracer(list, exclude)
		res, err := api.runWith(ctx, msg, vm.Config{Tracer: tracer.Hooks(), NoBaseFee: noBaseFee}, st.Copy(), header)
		if err == errExecutionAborted {
			return nil, fmt.Errorf("execution aborted (%s)", rule)
		}
		if err != nil {
			return nil, err
		}
		if tracer.Equal(prev) {
			out := &accessListResult{AccessList: &list, GasUsed: hexutil.Uint64(res.UsedGas)}
			if res.Err != nil {
				out.Error = res.Err.Error()
			}
			return out, nil
		}
		prev = tracer
	}
	return nil, fmt.Errorf("the access list still grew after %d runs", maxAccessListRuns)
}
