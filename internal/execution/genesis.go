package execution

import (
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/consensus/misc/eip1559"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/core/types"
	gparams "github.com/ethereum/go-ethereum/params"
	"github.com/holiman/uint256"

	"github.com/peerchain/peerchain/internal/pow"
)

// ApplyGenesis writes a genesis allocation into an empty state and commits
// it, returning the state root (go-ethereum's genesis rules: empty
// accounts are kept).
func ApplyGenesis(st *state.StateDB, alloc types.GenesisAlloc) (common.Hash, error) {
	for addr, acc := range alloc {
		if acc.Balance != nil {
			st.AddBalance(addr, uint256.MustFromBig(acc.Balance), tracing.BalanceIncreaseGenesisBalance)
		}
		st.SetCode(addr, acc.Code, tracing.CodeChangeGenesis)
		st.SetNonce(addr, acc.Nonce, tracing.NonceChangeGenesis)
		for k, v := range acc.Storage {
			st.SetState(addr, k, v)
		}
	}
	return st.Commit(gparams.Rules{}, 0)
}

// ChildOptions are the fields of a new block a block producer chooses.
type ChildOptions struct {
	Coinbase   common.Address
	Time       uint64
	Difficulty *big.Int
	GasLimit   uint64
	Extra      []byte
}

// ChildHeader returns the header of a new block on parent with every field
// the rules fix filled in: number, parent hash, base fee, the mix digest
// (the parent's PoW hash) and the post-London fields. Roots, gas used and
// the nonce are left for the builder and the sealer.
func ChildHeader(config *gparams.ChainConfig, parent *types.Header, o ChildOptions) *types.Header {
	zero := uint64(0)
	return &types.Header{
		ParentHash:       parent.Hash(),
		Coinbase:         o.Coinbase,
		Number:           new(big.Int).Add(parent.Number, common.Big1),
		Time:             o.Time,
		Difficulty:       o.Difficulty,
		GasLimit:         o.GasLimit,
		BaseFee:          eip1559.CalcBaseFee(config, parent),
		Extra:            o.Extra,
		MixDigest:        pow.HeaderPowHash(parent),
		UncleHash:        types.EmptyUncleHash,
		WithdrawalsHash:  &types.EmptyWithdrawalsHash,
		BlobGasUsed:      &zero,
		ExcessBlobGas:    &zero,
		ParentBeaconRoot: &common.Hash{},
		RequestsHash:     &types.EmptyRequestsHash,
	}
}
