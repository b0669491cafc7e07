package wallet

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/tyler-smith/go-bip39"
)

// DefaultBasePath is the BIP-44 path of Ethereum accounts; the account index
// is appended: m/44'/60'/0'/0/i, as Hardhat, Anvil, MetaMask and ethers do.
const DefaultBasePath = "m/44'/60'/0'/0"

const hardened = 0x80000000

// DeriveKey derives the private key at path (for example "m/44'/60'/0'/0/3")
// from a BIP-39 mnemonic and optional passphrase. The mnemonic's words and
// checksum are checked.
func DeriveKey(mnemonic, passphrase, path string) (*ecdsa.PrivateKey, error) {
	mnemonic = strings.Join(strings.Fields(mnemonic), " ")
	if !bip39.IsMnemonicValid(mnemonic) {
		return nil, errors.New("mnemonic: not a valid BIP-39 English mnemonic (unknown word or bad checksum)")
	}
	indexes, err := parsePath(path)
	if err != nil {
		return nil, err
	}
	seed := bip39.NewSeed(mnemonic, passphrase)
	mac := hmac.New(sha512.New, []byte("Bitcoin seed"))
	mac.Write(seed)
	sum := mac.Sum(nil)
	key, chain := sum[:32], sum[32:]
	for _, idx := range indexes {
		key, chain, err = deriveChild(key, chain, idx)
		if err != nil {
			return nil, fmt.Errorf("derive %s: %w", path, err)
		}
	}
	return crypto.ToECDSA(key)
}

// DevKey returns the i-th account key of the well-known dev mnemonic.
func DevKey(mnemonic string, i int) (*ecdsa.PrivateKey, error) {
	return DeriveKey(mnemonic, "", fmt.Sprintf("%s/%d", DefaultBasePath, i))
}

// deriveChild is BIP-32 CKDpriv.
func deriveChild(key, chain []byte, index uint32) ([]byte, []byte, error) {
	data := make([]byte, 0, 37)
	if index >= hardened {
		data = append(data, 0)
		data = append(data, key...)
	} else {
		priv := secp256k1.PrivKeyFromBytes(key)
		data = append(data, priv.PubKey().SerializeCompressed()...)
	}
	data = binary.BigEndian.AppendUint32(data, index)
	mac := hmac.New(sha512.New, chain)
	mac.Write(data)
	sum := mac.Sum(nil)
	var il, parent secp256k1.ModNScalar
	if overflow := il.SetByteSlice(sum[:32]); overflow {
		return nil, nil, fmt.Errorf("child %d: derived scalar out of range", index)
	}
	parent.SetByteSlice(key)
	il.Add(&parent)
	if il.IsZero() {
		return nil, nil, fmt.Errorf("child %d: derived key is zero", index)
	}
	out := il.Bytes()
	return out[:], sum[32:], nil
}

// parsePath parses "m/44'/60'/0'/0/1" into BIP-32 child indexes.
func parsePath(path string) ([]uint32, error) {
	parts := strings.Split(strings.TrimSpace(path), "/")
	if len(parts) == 0 || parts[0] != "m" {
		return nil, fmt.Errorf("derivation path %q: must start with \"m/\"", path)
	}
	var out []uint32
	for _, p := range parts[1:] {
		h := strings.HasSuffix(p, "'") || strings.HasSuffix(p, "h")
		p = strings.TrimRight(p, "'h")
		n, err := strconv.ParseUint(p, 10, 31)
		if err != nil {
			return nil, fmt.Errorf("derivation path %q: component %q is not an index below 2^31", path, p)
		}
		idx := uint32(n)
		if h {
			idx += hardened
		}
		out = append(out, idx)
	}
	return out, nil
}
