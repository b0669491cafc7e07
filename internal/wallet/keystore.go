package wallet

import (
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/google/uuid"
	"github.com/tyler-smith/go-bip39"
)

// maxKeyFileSize bounds what Accounts reads of a file that claims to be a
// key: a version-3 key file is about 500 bytes.
const maxKeyFileSize = 64 << 10

// KeystoreConfig says where a keystore lives and how it encrypts new keys.
type KeystoreConfig struct {
	// Dir is the keystore directory. Required. It is created, mode 0700,
	// when the first key is written; a missing directory holds no accounts.
	Dir string
	// LightKDF encrypts new key files with go-ethereum's light scrypt
	// parameters (N=2^12, P=6: 4 MB and milliseconds) instead of the
	// standard ones (N=2^18, P=1: 256 MB and about a second). Default false.
	// Light files are far cheaper to brute-force: for tests and devnets.
	// Decryption uses whatever parameters a file was written with.
	LightKDF bool
	// Logger receives warnings about files in Dir that are not key files.
	// Default: discard.
	Logger *slog.Logger
	// Now stamps the names of new key files. Default: time.Now.
	Now func() time.Time
}

// Keystore is a directory of encrypted key files in go-ethereum's format.
// It holds no keys in memory and re-reads the directory on every call.
type Keystore struct {
	dir              string
	scryptN, scryptP int
	log              *slog.Logger
	now              func() time.Time
}

// Account is one key file of a keystore.
type Account struct {
	Address common.Address
	File    string // path of the key file
}

// NewKeystore returns the keystore in cfg.Dir.
func NewKeystore(cfg KeystoreConfig) (*Keystore, error) {
	if cfg.Dir == "" {
		return nil, errors.New("keystore: Dir is required")
	}
	if fi, err := os.Stat(cfg.Dir); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("keystore %s: not a directory", cfg.Dir)
	}
	ks := &Keystore{
		dir:     cfg.Dir,
		scryptN: keystore.StandardScryptN,
		scryptP: keystore.StandardScryptP,
		log:     cfg.Logger,
		now:     cfg.Now,
	}
	if cfg.LightKDF {
		ks.scryptN, ks.scryptP = keystore.LightScryptN, keystore.LightScryptP
	}
	if ks.log == nil {
		ks.log = slog.New(slog.DiscardHandler)
	}
	if ks.now == nil {
		ks.now = time.Now
	}
	return ks, nil
}

// Dir returns the keystore directory.
func (ks *Keystore) Dir() string { return ks.dir }

// Accounts lists the key files, sorted by file name: geth's names start with
// the creation time, so the order is creation order and an account's index
// in it is stable while no file is removed. Files that are not key files are
// skipped with a warning; hidden files and editor backups (name ending in ~)
// silently.
func (ks *Keystore) Accounts() ([]Account, error) {
	entries, err := os.ReadDir(ks.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("keystore %s: %w", ks.dir, err)
	}
	var out []Account
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") {
			continue
		}
		path := filepath.Join(ks.dir, name)
		addr, err := readKeyFileAddress(path)
		if err != nil {
			ks.log.Warn("Skipping file in keystore that is not a key file", "file", path, "err", err)
			continue
		}
		out = append(out, Account{Address: addr, File: path})
	}
	slices.SortFunc(out, func(a, b Account) int { return strings.Compare(a.File, b.File) })
	return out, nil
}

// readKeyFileAddress reads the address a key file declares, without
// decrypting it.
func readKeyFileAddress(path string) (common.Address, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return common.Address{}, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxKeyFileSize {
		return common.Address{}, fmt.Errorf("not a regular file of at most %d bytes", maxKeyFileSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return common.Address{}, err
	}
	var head struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return common.Address{}, fmt.Errorf("not JSON: %w", err)
	}
	if !common.IsHexAddress(head.Address) {
		return common.Address{}, fmt.Errorf("\"address\" %q is not a 20-byte hex address", head.Address)
	}
	return common.HexToAddress(head.Address), nil
}

// Find returns the key file of addr.
func (ks *Keystore) Find(addr common.Address) (Account, error) {
	all, err := ks.Accounts()
	if err != nil {
		return Account{}, err
	}
	var found []Account
	for _, a := range all {
		if a.Address == addr {
			found = append(found, a)
		}
	}
	switch len(found) {
	case 0:
		return Account{}, fmt.Errorf("%w %s: no key file for it in keystore %s", ErrUnknownAccount, addr.Hex(), ks.dir)
	case 1:
		return found[0], nil
	}
	files := make([]string, len(found))
	for i, a := range found {
		files[i] = filepath.Base(a.File)
	}
	return Account{}, fmt.Errorf("%w: account %s has %d key files in %s (%s): keep one", ErrBadKeyFile, addr.Hex(), len(found), ks.dir, strings.Join(files, ", "))
}

// Resolve finds an account by address ("0x...") or by its index in
// Accounts ("0", "1", ...), as a user names it on a command line.
func (ks *Keystore) Resolve(ref string) (Account, error) {
	ref = strings.TrimSpace(ref)
	if strings.HasPrefix(ref, "0x") || strings.HasPrefix(ref, "0X") {
		addr, err := ParseAddress(ref)
		if err != nil {
			return Account{}, err
		}
		return ks.Find(addr)
	}
	idx, err := strconv.ParseUint(ref, 10, 31)
	if err != nil {
		return Account{}, fmt.Errorf("%w: account %q: want an address (0x...) or an account index from the list", ErrUnknownAccount, ref)
	}
	all, err := ks.Accounts()
	if err != nil {
		return Account{}, err
	}
	if idx >= uint64(len(all)) {
		return Account{}, fmt.Errorf("%w: account index %d: keystore %s holds %d accounts", ErrUnknownAccount, idx, ks.dir, len(all))
	}
	return all[idx], nil
}

// NewAccount creates a random key and stores it encrypted with passphrase.
func (ks *Keystore) NewAccount(passphrase string) (Account, error) {
	key, err := crypto.GenerateKey()
	if err != nil {
		return Account{}, fmt.Errorf("generate key: %w", err)
	}
	defer zeroKey(key)
	return ks.ImportECDSA(key, passphrase)
}

// ImportKey stores a private key given as 64 hex digits (0x optional),
// encrypted with passphrase.
func (ks *Keystore) ImportKey(hexKey, passphrase string) (Account, error) {
	key, err := ParsePrivateKey(hexKey)
	if err != nil {
		return Account{}, err
	}
	defer zeroKey(key)
	return ks.ImportECDSA(key, passphrase)
}

// ParsePrivateKey parses a secp256k1 private key of 64 hex digits, 0x
// optional. The error never contains the key.
func ParsePrivateKey(hexKey string) (*ecdsa.PrivateKey, error) {
	s := strings.TrimSpace(hexKey)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(s) != 64 {
		return nil, fmt.Errorf("%w: %d hex digits, want 64 (32 bytes, 0x optional)", ErrBadKey, len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: not hexadecimal", ErrBadKey)
	}
	defer clear(b)
	key, err := crypto.ToECDSA(b)
	if err != nil {
		return nil, fmt.Errorf("%w: not a valid secp256k1 key (zero or not below the curve order)", ErrBadKey)
	}
	return key, nil
}

// Mnemonic names one key of a BIP-39 mnemonic.
type Mnemonic struct {
	// Phrase is the mnemonic's words, separated by white space. Required.
	Phrase string
	// Password is the optional BIP-39 passphrase (the "25th word"); empty
	// for the keys Hardhat, Anvil and most wallets derive.
	Password string
	// Path is the BIP-32 derivation path. Default: IndexPath(0),
	// m/44'/60'/0'/0/0.
	Path string
}

// IndexPath is the derivation path of account i of a mnemonic, as
// Hardhat, Anvil and MetaMask number them: m/44'/60'/0'/0/i.
func IndexPath(i uint32) string { return fmt.Sprintf("%s/%d", DefaultBasePath, i) }

// Key derives the private key m names. The error says whether the mnemonic
// or the path is at fault, and never contains the mnemonic.
func (m Mnemonic) Key() (*ecdsa.PrivateKey, error) {
	path := m.Path
	if path == "" {
		path = IndexPath(0)
	}
	if _, err := parsePath(path); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPath, err)
	}
	if err := checkMnemonic(m.Phrase); err != nil {
		return nil, err
	}
	key, err := DeriveKey(m.Phrase, m.Password, path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadMnemonic, err)
	}
	return key, nil
}

// checkMnemonic says what is wrong with a mnemonic by word count and word
// position, never by word: a mnemonic is a secret.
func checkMnemonic(phrase string) error {
	words := strings.Fields(phrase)
	switch len(words) {
	case 12, 15, 18, 21, 24:
	default:
		return fmt.Errorf("%w: %d words, a BIP-39 mnemonic has 12, 15, 18, 21 or 24", ErrBadMnemonic, len(words))
	}
	for i, w := range words {
		if _, ok := bip39.GetWordIndex(w); !ok {
			return fmt.Errorf("%w: word %d is not in the BIP-39 English word list (lowercase)", ErrBadMnemonic, i+1)
		}
	}
	if !bip39.IsMnemonicValid(strings.Join(words, " ")) {
		return fmt.Errorf("%w: checksum does not match (a word mistyped or out of order?)", ErrBadMnemonic)
	}
	return nil
}

// ImportMnemonic stores the key m names, encrypted with passphrase.
func (ks *Keystore) ImportMnemonic(m Mnemonic, passphrase string) (Account, error) {
	key, err := m.Key()
	if err != nil {
		return Account{}, err
	}
	defer zeroKey(key)
	return ks.ImportECDSA(key, passphrase)
}

// ImportECDSA stores key encrypted with passphrase in a new key file. A key
// already in the keystore is refused with ErrAccountExists.
func (ks *Keystore) ImportECDSA(key *ecdsa.PrivateKey, passphrase string) (Account, error) {
	addr := crypto.PubkeyToAddress(key.PublicKey)
	switch existing, err := ks.Find(addr); {
	case err == nil:
		return Account{}, fmt.Errorf("%w: %s is in %s", ErrAccountExists, addr.Hex(), existing.File)
	case !errors.Is(err, ErrUnknownAccount):
		return Account{}, err
	}
	id, err := uuid.NewRandom()
	if err != nil {
		return Account{}, fmt.Errorf("key id: %w", err)
	}
	k := &keystore.Key{Id: id, Address: addr, PrivateKey: key}
	data, err := keystore.EncryptKey(k, passphrase, ks.scryptN, ks.scryptP)
	if err != nil {
		return Account{}, fmt.Errorf("encrypt key of %s: %w", addr.Hex(), err)
	}
	path := filepath.Join(ks.dir, keyFileName(addr, ks.now()))
	if err := writeFileAtomic(path, data); err != nil {
		return Account{}, fmt.Errorf("write key file of %s: %w", addr.Hex(), err)
	}
	return Account{Address: addr, File: path}, nil
}

// keyFileName is geth's name for a key file: UTC--<ISO 8601 time>--<address>.
func keyFileName(addr common.Address, now time.Time) string {
	t := now.UTC()
	return fmt.Sprintf("UTC--%04d-%02d-%02dT%02d-%02d-%02d.%09dZ--%s",
		t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), hex.EncodeToString(addr[:]))
}

// writeFileAtomic writes a new mode-0600 file through a hidden temporary
// file, so a crash leaves either no key file or a whole one.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-key-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// SignTx decrypts the key of from with passphrase and signs tx for chainID
// with the latest signer (EIP-1559 and earlier transaction types). The key
// is wiped from memory before SignTx returns.
func (ks *Keystore) SignTx(from common.Address, passphrase string, tx *types.Transaction, chainID *big.Int) (*types.Transaction, error) {
	key, err := ks.decrypt(from, passphrase)
	if err != nil {
		return nil, err
	}
	defer zeroKey(key)
	signed, err := types.SignTx(tx, types.LatestSignerForChainID(chainID), key)
	if err != nil {
		return nil, fmt.Errorf("sign transaction from %s for chain %v: %w", from.Hex(), chainID, err)
	}
	return signed, nil
}

// CheckPassphrase reports whether passphrase decrypts the key of addr,
// with the error SignTx would return if it does not.
func (ks *Keystore) CheckPassphrase(addr common.Address, passphrase string) error {
	key, err := ks.decrypt(addr, passphrase)
	if err != nil {
		return err
	}
	zeroKey(key)
	return nil
}

func (ks *Keystore) decrypt(addr common.Address, passphrase string) (*ecdsa.PrivateKey, error) {
	acct, err := ks.Find(addr)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(acct.File)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrBadKeyFile, acct.File, err)
	}
	key, err := keystore.DecryptKey(data, passphrase)
	if errors.Is(err, keystore.ErrDecrypt) {
		return nil, fmt.Errorf("%w for account %s (key file %s)", ErrWrongPassphrase, addr.Hex(), acct.File)
	}
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrBadKeyFile, acct.File, err)
	}
	if key.Address != addr {
		zeroKey(key.PrivateKey)
		return nil, fmt.Errorf("%w %s: declares address %s but holds the key of %s", ErrBadKeyFile, acct.File, addr.Hex(), key.Address.Hex())
	}
	return key.PrivateKey, nil
}

// zeroKey overwrites a private key's secret scalar.
func zeroKey(k *ecdsa.PrivateKey) {
	if k != nil && k.D != nil {
		clear(k.D.Bits())
	}
}
