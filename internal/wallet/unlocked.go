package wallet

import (
	"crypto/ecdsa"
	"fmt"
	"math/big"
	"sync"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
)

// Unlocked holds decrypted keys in memory so a node can sign for its user
// (eth_accounts, eth_sendTransaction, eth_sign): the dev accounts of --dev,
// or keystore accounts unlocked with their passphrase. It is safe for
// concurrent use.
type Unlocked struct {
	mu    sync.RWMutex
	keys  map[common.Address]*ecdsa.PrivateKey
	order []common.Address
}

// NewUnlocked returns an empty key set.
func NewUnlocked() *Unlocked { return &Unlocked{keys: make(map[common.Address]*ecdsa.PrivateKey)} }

// Add keeps key unlocked.
func (u *Unlocked) Add(key *ecdsa.PrivateKey) common.Address {
	addr := crypto.PubkeyToAddress(key.PublicKey)
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.keys[addr]; !ok {
		u.order = append(u.order, addr)
	}
	u.keys[addr] = key
	return addr
}

// AddDev unlocks the first n accounts of a mnemonic (m/44'/60'/0'/0/i).
func (u *Unlocked) AddDev(mnemonic string, n int) error {
	for i := 0; i < n; i++ {
		k, err := DevKey(mnemonic, i)
		if err != nil {
			return err
		}
		u.Add(k)
	}
	return nil
}

// Unlock decrypts a keystore account with its passphrase and keeps it.
func (u *Unlocked) Unlock(ks *Keystore, addr common.Address, passphrase string) error {
	key, err := ks.decrypt(addr, passphrase)
	if err != nil {
		return err
	}
	u.Add(key)
	return nil
}

// Accounts lists the unlocked addresses in the order they were added.
func (u *Unlocked) Accounts() []common.Address {
	u.mu.RLock()
	defer u.mu.RUnlock()
	return append([]common.Address{}, u.order...)
}

func (u *Unlocked) key(addr common.Address) (*ecdsa.PrivateKey, error) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	k, ok := u.keys[addr]
	if !ok {
		return nil, fmt.Errorf("%w: %s is not unlocked on this node", ErrUnknownAccount, addr.Hex())
	}
	return k, nil
}

// SignTx signs tx as from for chainID.
func (u *Unlocked) SignTx(from common.Address, tx *types.Transaction, chainID *big.Int) (*types.Transaction, error) {
	k, err := u.key(from)
	if err != nil {
		return nil, err
	}
	signed, err := types.SignTx(tx, types.LatestSignerForChainID(chainID), k)
	if err != nil {
		return nil, fmt.Errorf("sign transaction from %s: %w", from.Hex(), err)
	}
	return signed, nil
}

// SignText signs an EIP-191 personal message; v is 27 or 28, as wallets
// return it.
func (u *Unlocked) SignText(from common.Address, text []byte) ([]byte, error) {
	k, err := u.key(from)
	if err != nil {
		return nil, err
	}
	sig, err := crypto.Sign(accounts.TextHash(text), k)
	if err != nil {
		return nil, fmt.Errorf("sign message as %s: %w", from.Hex(), err)
	}
	sig[crypto.RecoveryIDOffset] += 27
	return sig, nil
}
