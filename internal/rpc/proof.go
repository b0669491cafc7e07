package rpc

import (
	"context"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/params"
)

// maxProofKeys bounds the storage keys of one eth_getProof.
const maxProofKeys = 1024

// proofList collects the nodes of a Merkle proof in order.
type proofList []string

func (p *proofList) Put(_ []byte, value []byte) error {
	*p = append(*p, hexutil.Encode(value))
	return nil
}

func (p *proofList) Delete([]byte) error { return nil }

type storageProof struct {
	Key   string       `json:"key"`
	Value *hexutil.Big `json:"value"`
	Proof []string     `json:"proof"`
}

type accountProof struct {
	Address      common.Address `json:"address"`
	AccountProof []string       `json:"accountProof"`
	Balance      *hexutil.Big   `json:"balance"`
	CodeHash     common.Hash    `json:"codeHash"`
	Nonce        hexutil.Uint64 `json:"nonce"`
	StorageHash  common.Hash    `json:"storageHash"`
	StorageProof []storageProof `json:"storageProof"`
}

// GetProof is eth_getProof (EIP-1186): the account's Merkle proof against
// the block's state root, and a proof of each storage key against the
// account's storage root; the values answered are read from the same
// tries. States of the last 128 blocks are served, or of the last
// --provider.proofwindow blocks (chain.Config.ProofWindow), older ones
// from pathdb's trie node history.
func (api *ethAPI) GetProof(ctx context.Context, addr common.Address, keys []string, bnh gethrpc.BlockNumberOrHash) (*accountProof, error) {
	if len(keys) > maxProofKeys {
		return nil, fmt.Errorf("%d storage keys, at most %d per proof", len(keys), maxProofKeys)
	}
	slots := make([]common.Hash, len(keys))
	for i, k := range keys {
		h, err := decodeSlot(k)
		if err != nil {
			return nil, err
		}
		slots[i] = h
	}
	h, err := api.header(bnh)
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errHeaderNotFound
	}
	p, err := api.b.Data.Proof(ctx, h, addr, slots)
	if err != nil {
		if errors.Is(err, chain.ErrStateUnavailable) {
			return nil, api.stateError(h.Number.Uint64(), err)
		}
		return nil, err
	}
	acc := p.Account
	if acc == nil {
		acc = types.NewEmptyStateAccount()
	}
	out := &accountProof{
		Address: addr, AccountProof: hexNodes(p.AccountNodes), Balance: (*hexutil.Big)(acc.Balance.ToBig()),
		CodeHash: common.BytesToHash(acc.CodeHash), Nonce: hexutil.Uint64(acc.Nonce), StorageHash: acc.Root,
		StorageProof: make([]storageProof, len(keys)),
	}
	for i := range slots {
		out.StorageProof[i] = storageProof{Key: keys[i], Value: (*hexutil.Big)(p.Values[i].Big()), Proof: hexNodes(p.StorageNodes[i])}
	}
	return out, nil
}

func hexNodes(nodes [][]byte) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = hexutil.Encode(n)
	}
	return out
}

// stateError words why the state after block n is not served: outside the
// proof window (naming it and the flag that sets it), still being indexed,
// or gone from memory on a node without a window.
func (api *ethAPI) stateError(n uint64, err error) error {
	var we *chain.WindowError
	switch {
	case errors.As(err, &we):
		return fmt.Errorf("%w; --provider.proofwindow sets how many recent blocks a node serves", err)
	case errors.Is(err, chain.ErrHistoryIndexing):
		return fmt.Errorf("%w; retry shortly", err)
	case api.b.Data.ProofWindow() == 0:
		return fmt.Errorf("state of block %d is not available: this node keeps the state of the last %d blocks only (--provider.proofwindow N serves the last N): %w",
			n, params.StateRetention, err)
	default:
		return fmt.Errorf("state of block %d is not available: %w", n, err)
	}
}
