package chain

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
)

// AccountProof is the Merkle proof of an account and some of its storage
// slots in one state, with what it proves.
type AccountProof struct {
	// Account is the proven account, nil when it does not exist.
	Account *types.StateAccount
	// AccountNodes are the proof nodes from the state root to the account.
	AccountNodes [][]byte
	// Values are the proven slot values, in the order asked.
	Values []common.Hash
	// StorageNodes are, per slot, the proof nodes from the account's
	// storage root.
	StorageNodes [][][]byte
}

// nodeList collects proof nodes in order.
type nodeList [][]byte

func (l *nodeList) Put(_ []byte, value []byte) error {
	*l = append(*l, common.CopyBytes(value))
	return nil
}

func (l *nodeList) Delete([]byte) error { return nil }

// Prove builds the proof of addr and slots in the state after block h,
// within the states TriesAtBlock serves. A memory layer flattened into the
// history while the proof is being built fails it; one retry reads the
// history.
func (c *Chain) Prove(h *types.Header, addr common.Address, slots []common.Hash) (*AccountProof, error) {
	for try := 0; ; try++ {
		p, err := c.prove(h, addr, slots)
		if err == nil || try == 1 || errors.Is(err, ErrStateUnavailable) {
			return p, err
		}
	}
}

func (c *Chain) prove(h *types.Header, addr common.Address, slots []common.Hash) (*AccountProof, error) {
	tries, err := c.TriesAtBlock(h)
	if err != nil {
		return nil, err
	}
	tr, err := tries.OpenTrie(h.Root)
	if err != nil {
		return nil, fmt.Errorf("open state trie of block %d: %w", h.Number, err)
	}
	var nodes nodeList
	if err := tr.Prove(crypto.Keccak256(addr.Bytes()), &nodes); err != nil {
		return nil, fmt.Errorf("prove account %s at block %d: %w", addr, h.Number, err)
	}
	acc, err := tr.GetAccount(addr)
	if err != nil {
		return nil, fmt.Errorf("read account %s at block %d: %w", addr, h.Number, err)
	}
	out := &AccountProof{Account: acc, AccountNodes: nodes, Values: make([]common.Hash, len(slots)), StorageNodes: make([][][]byte, len(slots))}
	if acc == nil || acc.Root == types.EmptyRootHash {
		for i := range slots {
			out.StorageNodes[i] = [][]byte{}
		}
		return out, nil
	}
	var st state.Trie
	if st, err = tries.OpenStorageTrie(h.Root, addr, acc.Root, tr); err != nil {
		return nil, fmt.Errorf("open storage trie of %s at block %d: %w", addr, h.Number, err)
	}
	for i, slot := range slots {
		v, err := st.GetStorage(addr, slot.Bytes())
		if err != nil {
			return nil, fmt.Errorf("read slot %s of %s at block %d: %w", slot, addr, h.Number, err)
		}
		out.Values[i] = common.BytesToHash(v)
		var sn nodeList
		if err := st.Prove(crypto.Keccak256(slot.Bytes()), &sn); err != nil {
			return nil, fmt.Errorf("prove slot %s of %s at block %d: %w", slot, addr, h.Number, err)
		}
		out.StorageNodes[i] = sn
	}
	return out, nil
}
