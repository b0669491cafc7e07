package rpc

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/consensus/misc/eip1559"
	"github.com/ethereum/go-ethereum/core/forkid"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	gparams "github.com/ethereum/go-ethereum/params"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
)

// maxFeeHistory bounds the blocks of one eth_feeHistory.
const maxFeeHistory = 1024

// maxRewardPercentiles bounds the reward percentiles of one eth_feeHistory
// (go-ethereum's maxQueryLimit): the answer grows with blocks × percentiles.
const maxRewardPercentiles = 100

var errInvalidPercentile = errors.New("invalid reward percentile")

type feeHistoryResult struct {
	OldestBlock      *hexutil.Big     `json:"oldestBlock"`
	Reward           [][]*hexutil.Big `json:"reward,omitempty"`
	BaseFee          []*hexutil.Big   `json:"baseFeePerGas,omitempty"`
	GasUsedRatio     []float64        `json:"gasUsedRatio"`
	BlobBaseFee      []*hexutil.Big   `json:"baseFeePerBlobGas,omitempty"`
	BlobGasUsedRatio []float64        `json:"blobGasUsedRatio,omitempty"`
}

// FeeHistory is eth_feeHistory: base fees (and the next block's), gas used
// ratios and, per requested percentile, the priority fee paid at that
// percentile of each block's gas.
func (api *ethAPI) FeeHistory(ctx context.Context, count math.HexOrDecimal64, last gethrpc.BlockNumber, percentiles []float64) (*feeHistoryResult, error) {
	if count < 1 {
		return &feeHistoryResult{OldestBlock: (*hexutil.Big)(new(big.Int)), GasUsedRatio: []float64{}}, nil
	}
	if count > maxFeeHistory {
		count = maxFeeHistory
	}
	if len(percentiles) > maxRewardPercentiles {
		return nil, fmt.Errorf("%w: over the query limit %d (%d requested)", errInvalidPercentile, maxRewardPercentiles, len(percentiles))
	}
	for i, p := range percentiles {
		if p < 0 || p > 100 {
			return nil, fmt.Errorf("%w: %f (must be within 0 and 100)", errInvalidPercentile, p)
		}
		if i > 0 && p <= percentiles[i-1] {
			return nil, fmt.Errorf("%w: #%d:%f >= #%d:%f (must be ascending)", errInvalidPercentile, i-1, percentiles[i-1], i, p)
		}
	}
	newest := api.headerByNumber(last)
	if newest == nil {
		return nil, errHeaderNotFound
	}
	n := min(uint64(count), newest.Number.Uint64()+1)
	oldest := newest.Number.Uint64() + 1 - n
	res := &feeHistoryResult{OldestBlock: (*hexutil.Big)(new(big.Int).SetUint64(oldest))}
	for num := oldest; num <= newest.Number.Uint64(); num++ {
		h := api.b.Chain.GetHeaderByNumber(num)
		if h == nil {
			return nil, fmt.Errorf("block %d missing", num)
		}
		res.BaseFee = append(res.BaseFee, (*hexutil.Big)(h.BaseFee))
		res.GasUsedRatio = append(res.GasUsedRatio, float64(h.GasUsed)/float64(h.GasLimit))
		res.BlobBaseFee = append(res.BlobBaseFee, (*hexutil.Big)(big.NewInt(1)))
		res.BlobGasUsedRatio = append(res.BlobGasUsedRatio, 0)
		if len(percentiles) > 0 {
			r, err := api.rewards(ctx, h, percentiles)
			if err != nil {
				return nil, err
			}
			res.Reward = append(res.Reward, r)
		}
	}
	next := eip1559.CalcBaseFee(api.config, newest)
	res.BaseFee = append(res.BaseFee, (*hexutil.Big)(next))
	res.BlobBaseFee = append(res.BlobBaseFee, (*hexutil.Big)(big.NewInt(1)))
	return res, nil
}

// rewards returns, for each percentile, the effective tip at which that
// share of the block's gas was paid (transactions sorted by tip).
func (api *ethAPI) rewards(ctx context.Context, h *types.Header, percentiles []float64) ([]*hexutil.Big, error) {
	out := make([]*hexutil.Big, len(percentiles))
	if h.TxHash == types.EmptyTxsHash {
		for i := range out {
			out[i] = (*hexutil.Big)(new(big.Int))
		}
		return out, nil
	}
	b, err := api.b.Data.Block(ctx, h)
	if err != nil || b == nil {
		return nil, fmt.Errorf("fee history: block %d: %w", h.Number, orMissing(err))
	}
	txs := b.Transactions()
	receipts, err := api.b.Data.Receipts(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("fee history: receipts of block %d: %w", h.Number, err)
	}
	type paid struct {
		tip *big.Int
		gas uint64
	}
	sorted := make([]paid, len(txs))
	for i, tx := range txs {
		var gas uint64
		if i < len(receipts) {
			gas = receipts[i].GasUsed
		}
		sorted[i] = paid{tx.EffectiveGasTipValue(b.BaseFee()), gas}
	}
	slices.SortStableFunc(sorted, func(a, b paid) int { return a.tip.Cmp(b.tip) })
	var (
		idx  int
		sum  = sorted[0].gas
		used = b.GasUsed()
	)
	for i, p := range percentiles {
		threshold := uint64(float64(used) * p / 100)
		for sum < threshold && idx < len(sorted)-1 {
			idx++
			sum += sorted[idx].gas
		}
		out[i] = (*hexutil.Big)(sorted[idx].tip)
	}
	return out, nil
}

// orMissing turns a nil error (a block that should be there but is not)
// into one.
func orMissing(err error) error {
	if err == nil {
		return errors.New("block body missing")
	}
	return err
}

type chainConfigEntry struct {
	ActivationTime  uint64                    `json:"activationTime"`
	BlobSchedule    *gparams.BlobConfig       `json:"blobSchedule"`
	ChainID         *hexutil.Big              `json:"chainId"`
	ForkID          hexutil.Bytes             `json:"forkId"`
	Precompiles     map[string]common.Address `json:"precompiles"`
	SystemContracts map[string]common.Address `json:"systemContracts"`
}

type configResult struct {
	Current *chainConfigEntry `json:"current"`
	Next    *chainConfigEntry `json:"next"`
	Last    *chainConfigEntry `json:"last"`
}

// Config is eth_config (EIP-7910): the fork the chain runs (Osaka, active
// from genesis), with no next fork scheduled. The only system contract is
// the EIP-2935 block-hash history; peerchain has no beacon chain, so the
// beacon-root and request contracts are absent.
func (api *ethAPI) Config() (*configResult, error) {
	c := api.config
	genesis := api.b.Chain.Genesis()
	if genesis == nil {
		return nil, errors.New("genesis unavailable")
	}
	rules := c.Rules(c.LondonBlock, true, 0)
	pre := make(map[string]common.Address)
	for addr, p := range vm.ActivePrecompiledContracts(rules) {
		pre[p.Name()] = addr
	}
	fid := forkid.NewID(c, genesis, ^uint64(0), genesis.Time())
	return &configResult{Current: &chainConfigEntry{
		ActivationTime:  0,
		BlobSchedule:    c.BlobConfig(c.LatestFork(genesis.Time())),
		ChainID:         (*hexutil.Big)(c.ChainID),
		ForkID:          fid.Hash[:],
		Precompiles:     pre,
		SystemContracts: map[string]common.Address{"HISTORY_STORAGE_ADDRESS": gparams.HistoryStorageAddress},
	}}, nil
}
