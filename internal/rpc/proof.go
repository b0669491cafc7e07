package rpc

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
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
func (api *ethAPI) GetProof(addr common.Address, keys []string, bnh gethrpc.BlockNumberOrHash) (*accountProof, error) {
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
	b, err := api.block(bnh)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, errHeaderNotFound
	}
	// A memory layer flattened into the history while its proof is being
	// built fails the proof; the second try reads the history.
	for try := 0; ; try++ {
		out, err := api.prove(b.Header(), addr, keys, slots)
		if err == nil || try == 1 || errors.Is(err, chain.ErrStateUnavailable) {
			return out, err
		}
	}
}

// prove builds the proofs of addr and slots in the state after h.
func (api *ethAPI) prove(h *types.Header, addr common.Address, keys []string, slots []common.Hash) (*accountProof, error) {
	tries, err := api.b.Chain.TriesAtBlock(h)
	if err != nil {
		return nil, api.stateError(h.Number.Uint64(), err)
	}
	tr, err := tries.OpenTrie(h.Root)
	if err != nil {
		return nil, fmt.Errorf("open state trie of block %d: %w", h.Number, err)
	}
	var accProof proofList
	if err := tr.Prove(crypto.Keccak256(addr.Bytes()), &accProof); err != nil {
		return nil, fmt.Errorf("prove account %s at block %d: %w", addr, h.Number, err)
	}
	acc, err := tr.GetAccount(addr)
	if err != nil {
		return nil, fmt.Errorf("read account %s at block %d: %w", addr, h.Number, err)
	}
	if acc == nil {
		acc = types.NewEmptyStateAccount()
	}
	out := &accountProof{
		Address: addr, AccountProof: accProof, Balance: (*hexutil.Big)(acc.Balance.ToBig()),
		CodeHash: common.BytesToHash(acc.CodeHash), Nonce: hexutil.Uint64(acc.Nonce), StorageHash: acc.Root,
		StorageProof: make([]storageProof, len(keys)),
	}
	var stTrie state.Trie
	if acc.Root != types.EmptyRootHash {
		if stTrie, err = tries.OpenStorageTrie(h.Root, addr, acc.Root, tr); err != nil {
			return nil, fmt.Errorf("open storage trie of %s at block %d: %w", addr, h.Number, err)
		}
	}
	for i, slot := range slots {
		sp := storageProof{Key: keys[i], Value: new(hexutil.Big), Proof: []string{}}
		if stTrie != nil {
			v, err := stTrie.GetStorage(addr, slot.Bytes())
			if err != nil {
				return nil, fmt.Errorf("read slot %s of %s at block %d: %w", keys[i], addr, h.Number, err)
			}
			sp.Value = (*hexutil.Big)(new(big.Int).SetBytes(v))
			var p proofList
			if err := stTrie.Prove(crypto.Keccak256(slot.Bytes()), &p); err != nil {
				return nil, fmt.Errorf("prove slot %s of %s at block %d: %w", keys[i], addr, h.Number, err)
			}
			sp.Proof = p
		}
		out.StorageProof[i] = sp
	}
	return out, nil
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
	case api.b.Chain.ProofWindow() == 0:
		return fmt.Errorf("state of block %d is not available: this node keeps the state of the last %d blocks only (--provider.proofwindow N serves the last N): %w",
			n, params.StateRetention, err)
	default:
		return fmt.Errorf("state of block %d is not available: %w", n, err)
	}
}
