package rpc

import (
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/ethereum/go-ethereum/trie"
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
// account's storage root. States of the last 128 blocks are served.
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
	st, header, err := api.stateAt(&bnh)
	if err != nil {
		return nil, err
	}
	tdb := api.b.Chain.TrieDB()
	tr, err := trie.NewStateTrie(trie.StateTrieID(header.Root), tdb)
	if err != nil {
		return nil, fmt.Errorf("open state trie of block %d: %w", header.Number, err)
	}
	var accProof proofList
	if err := tr.Prove(crypto.Keccak256(addr.Bytes()), &accProof); err != nil {
		return nil, fmt.Errorf("prove account %s: %w", addr, err)
	}
	storageRoot := st.GetStorageRoot(addr)
	if storageRoot == (common.Hash{}) {
		storageRoot = types.EmptyRootHash
	}
	codeHash := st.GetCodeHash(addr)
	if codeHash == (common.Hash{}) {
		codeHash = types.EmptyCodeHash
	}
	out := &accountProof{
		Address: addr, AccountProof: accProof, Balance: (*hexutil.Big)(st.GetBalance(addr).ToBig()),
		CodeHash: codeHash, Nonce: hexutil.Uint64(st.GetNonce(addr)), StorageHash: storageRoot,
		StorageProof: make([]storageProof, len(keys)),
	}
	var stTrie *trie.StateTrie
	if storageRoot != types.EmptyRootHash {
		id := trie.StorageTrieID(header.Root, crypto.Keccak256Hash(addr.Bytes()), storageRoot)
		if stTrie, err = trie.NewStateTrie(id, tdb); err != nil {
			return nil, fmt.Errorf("open storage trie of %s: %w", addr, err)
		}
	}
	for i, slot := range slots {
		sp := storageProof{Key: keys[i], Value: (*hexutil.Big)(st.GetState(addr, slot).Big()), Proof: []string{}}
		if stTrie != nil {
			var p proofList
			if err := stTrie.Prove(crypto.Keccak256(slot.Bytes()), &p); err != nil {
				return nil, fmt.Errorf("prove slot %s of %s: %w", keys[i], addr, err)
			}
			sp.Proof = p
		}
		out.StorageProof[i] = sp
	}
	return out, nil
}
