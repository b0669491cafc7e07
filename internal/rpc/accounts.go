package rpc

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/consensus/misc/eip1559"
	"github.com/ethereum/go-ethereum/core/types"
)

// Accounts are keys the node holds unlocked for its user (the dev
// accounts of --dev, or keystore accounts unlocked at start); optional.
type Accounts interface {
	Accounts() []common.Address
	SignTx(from common.Address, tx *types.Transaction, chainID *big.Int) (*types.Transaction, error)
	SignText(from common.Address, text []byte) ([]byte, error)
}

var errUnknownAccount = errors.New("unknown account")

func (api *ethAPI) unlocked(addr common.Address) error {
	if api.b.Accounts == nil {
		return fmt.Errorf("%w %s: this node holds no unlocked accounts (start it with --dev or --unlock)", errUnknownAccount, addr.Hex())
	}
	for _, a := range api.b.Accounts.Accounts() {
		if a == addr {
			return nil
		}
	}
	return fmt.Errorf("%w %s: not unlocked on this node", errUnknownAccount, addr.Hex())
}

// toTransaction fills the missing fields of args the way go-ethereum does
// for eth_sendTransaction: the pending nonce, an estimated gas, and fees
// (a legacy transaction when gasPrice is given, EIP-1559 otherwise with
// fee cap = tip + 2 × the next base fee).
func (api *ethAPI) toTransaction(ctx context.Context, args CallArgs) (*types.Transaction, error) {
	if args.From == nil {
		return nil, errors.New("from: an unlocked account is required")
	}
	if err := api.unlocked(*args.From); err != nil {
		return nil, err
	}
	if err := args.check(api.config.ChainID); err != nil {
		return nil, err
	}
	head := api.b.Chain.CurrentHeader()
	var nonce uint64
	if args.Nonce != nil {
		nonce = uint64(*args.Nonce)
	} else {
		n, err := api.b.Pool.PendingNonce(ctx, *args.From)
		if err != nil {
			return nil, err
		}
		nonce = n
	}
	value := new(big.Int)
	if args.Value != nil {
		value = args.Value.ToInt()
	}
	gas := uint64(0)
	if args.Gas != nil {
		gas = uint64(*args.Gas)
	} else {
		st, check, err := api.b.Data.State(ctx, head)
		if err != nil {
			return nil, err
		}
		if gas, err = api.estimateGas(ctx, args, st, head); err != nil {
			return nil, err
		}
		if err := check(); err != nil {
			return nil, err
		}
	}
	var al types.AccessList
	if args.AccessList != nil {
		al = *args.AccessList
	}
	if args.GasPrice != nil {
		if al != nil {
			return types.NewTx(&types.AccessListTx{ChainID: api.config.ChainID, Nonce: nonce, GasPrice: args.GasPrice.ToInt(),
				Gas: gas, To: args.To, Value: value, Data: args.data(), AccessList: al}), nil
		}
		return types.NewTx(&types.LegacyTx{Nonce: nonce, GasPrice: args.GasPrice.ToInt(), Gas: gas, To: args.To, Value: value, Data: args.data()}), nil
	}
	var tip *big.Int
	if args.MaxPriorityFeePerGas != nil {
		tip = args.MaxPriorityFeePerGas.ToInt()
	} else {
		t, err := api.tips.suggest(ctx, api.b)
		if err != nil {
			return nil, err
		}
		tip = t
	}
	feeCap := new(big.Int).Add(tip, new(big.Int).Mul(eip1559.CalcBaseFee(api.config, head), big.NewInt(2)))
	if args.MaxFeePerGas != nil {
		feeCap = args.MaxFeePerGas.ToInt()
	}
	if feeCap.Cmp(tip) < 0 {
		return nil, fmt.Errorf("maxFeePerGas (%v) < maxPriorityFeePerGas (%v)", feeCap, tip)
	}
	return types.NewTx(&types.DynamicFeeTx{ChainID: api.config.ChainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap,
		Gas: gas, To: args.To, Value: value, Data: args.data(), AccessList: al}), nil
}

// signerAPI holds the eth_ methods that sign with the node's unlocked
// accounts. A provider does not register it.
type signerAPI struct{ eth *ethAPI }

// SendTransaction is eth_sendTransaction: signs with an unlocked account
// and submits.
func (s *signerAPI) SendTransaction(ctx context.Context, args CallArgs) (common.Hash, error) {
	api := s.eth
	tx, err := api.toTransaction(ctx, args)
	if err != nil {
		return common.Hash{}, err
	}
	if err := checkTxFee(tx.GasPrice(), tx.Gas(), api.cfg.TxFeeCap); err != nil {
		return common.Hash{}, err
	}
	signed, err := api.b.Accounts.SignTx(*args.From, tx, api.config.ChainID)
	if err != nil {
		return common.Hash{}, err
	}
	if err := api.b.Pool.Add(ctx, []*types.Transaction{signed})[0]; err != nil {
		return common.Hash{}, err
	}
	return signed.Hash(), nil
}

type signTxResult struct {
	Raw hexutil.Bytes   `json:"raw"`
	Tx  *rpcTransaction `json:"tx"`
}

// SignTransaction is eth_signTransaction: signs without submitting.
func (s *signerAPI) SignTransaction(ctx context.Context, args CallArgs) (*signTxResult, error) {
	api := s.eth
	tx, err := api.toTransaction(ctx, args)
	if err != nil {
		return nil, err
	}
	if err := checkTxFee(tx.GasPrice(), tx.Gas(), api.cfg.TxFeeCap); err != nil {
		return nil, err
	}
	signed, err := api.b.Accounts.SignTx(*args.From, tx, api.config.ChainID)
	if err != nil {
		return nil, err
	}
	raw, err := signed.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return &signTxResult{Raw: raw, Tx: newRPCTransaction(signed, common.Hash{}, 0, 0, 0, nil, api.config)}, nil
}

// Sign is eth_sign: an EIP-191 signature of data by an unlocked account.
func (s *signerAPI) Sign(addr common.Address, data hexutil.Bytes) (hexutil.Bytes, error) {
	if err := s.eth.unlocked(addr); err != nil {
		return nil, err
	}
	return s.eth.b.Accounts.SignText(addr, data)
}

// personalAPI is the personal_ namespace wallets still call. A provider
// does not register it.
type personalAPI struct{ signer *signerAPI }

// Sign is personal_sign(data, address[, password]): the password, if sent,
// is ignored (the account is unlocked already).
func (api *personalAPI) Sign(data hexutil.Bytes, addr common.Address, _ *string) (hexutil.Bytes, error) {
	return api.signer.Sign(addr, data)
}
