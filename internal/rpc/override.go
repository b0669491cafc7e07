package rpc

import (
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/holiman/uint256"
)

// OverrideAccount replaces parts of an account for one eth_call or
// eth_estimateGas, as go-ethereum's state overrides do.
type OverrideAccount struct {
	Nonce     *hexutil.Uint64             `json:"nonce"`
	Code      *hexutil.Bytes              `json:"code"`
	Balance   *hexutil.Big                `json:"balance"`
	State     map[common.Hash]common.Hash `json:"state"`
	StateDiff map[common.Hash]common.Hash `json:"stateDiff"`
}

// StateOverride maps accounts to their overrides.
type StateOverride map[common.Address]OverrideAccount

// apply writes the overrides into st.
func (o *StateOverride) apply(st *state.StateDB) error {
	if o == nil {
		return nil
	}
	for addr, acc := range *o {
		if acc.State != nil && acc.StateDiff != nil {
			return fmt.Errorf("account %s has both 'state' and 'stateDiff'", addr.Hex())
		}
		if acc.Nonce != nil {
			st.SetNonce(addr, uint64(*acc.Nonce), tracing.NonceChangeUnspecified)
		}
		if acc.Code != nil {
			st.SetCode(addr, *acc.Code, tracing.CodeChangeUnspecified)
		}
		if acc.Balance != nil {
			b := acc.Balance.ToInt()
			if b.Sign() < 0 || b.BitLen() > 256 {
				return fmt.Errorf("account %s: balance %v out of range", addr.Hex(), b)
			}
			st.SetBalance(addr, uint256.MustFromBig(b), tracing.BalanceChangeUnspecified)
		}
		if acc.State != nil {
			st.SetStorage(addr, acc.State)
		}
		for k, v := range acc.StateDiff {
			st.SetState(addr, k, v)
		}
	}
	return nil
}
