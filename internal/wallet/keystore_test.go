package wallet

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/peerchain/peerchain/internal/params"
)

const (
	devAddr0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
	devAddr1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
	// devKey0 is the private key of devAddr0, as Hardhat and Anvil print it.
	devKey0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
)

// newTestKeystore is a light-KDF keystore in a fresh directory, its
// warnings in the returned buffer.
func newTestKeystore(t *testing.T) (*Keystore, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	ks, err := NewKeystore(KeystoreConfig{
		Dir:      filepath.Join(t.TempDir(), "keystore"),
		LightKDF: true,
		Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return ks, &logs
}

func TestKeystoreConfig(t *testing.T) {
	if _, err := NewKeystore(KeystoreConfig{}); err == nil {
		t.Error("NewKeystore without Dir: no error")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewKeystore(KeystoreConfig{Dir: file}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("NewKeystore on a file: error %v, want \"not a directory\"", err)
	}
	ks, err := NewKeystore(KeystoreConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if ks.scryptN != keystore.StandardScryptN || ks.scryptP != keystore.StandardScryptP {
		t.Errorf("default scrypt N=%d P=%d, want the standard N=%d P=%d", ks.scryptN, ks.scryptP, keystore.StandardScryptN, keystore.StandardScryptP)
	}
	light, _ := newTestKeystore(t)
	if light.scryptN != keystore.LightScryptN || light.scryptP != keystore.LightScryptP {
		t.Errorf("LightKDF scrypt N=%d P=%d, want N=%d P=%d", light.scryptN, light.scryptP, keystore.LightScryptN, keystore.LightScryptP)
	}
}

func TestKeystoreRoundTrip(t *testing.T) {
	ks, _ := newTestKeystore(t)
	if accts, err := ks.Accounts(); err != nil || len(accts) != 0 {
		t.Fatalf("Accounts of a missing directory = %v, %v; want none, no error", accts, err)
	}
	acct, err := ks.NewAccount("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(acct.File)
	if !regexp.MustCompile(`^UTC--\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{9}Z--[0-9a-f]{40}$`).MatchString(name) {
		t.Errorf("key file name %q is not geth's UTC--<time>--<address>", name)
	}
	if !strings.HasSuffix(name, strings.ToLower(acct.Address.Hex()[2:])) {
		t.Errorf("key file name %q does not end with the address %s", name, acct.Address.Hex())
	}
	fi, err := os.Stat(acct.File)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}

	// The file is go-ethereum's format: its own decoder opens it.
	data, err := os.ReadFile(acct.File)
	if err != nil {
		t.Fatal(err)
	}
	key, err := keystore.DecryptKey(data, "correct horse")
	if err != nil {
		t.Fatalf("go-ethereum cannot decrypt our key file: %v", err)
	}
	if key.Address != acct.Address || crypto.PubkeyToAddress(key.PrivateKey.PublicKey) != acct.Address {
		t.Errorf("decrypted key is for %s, want %s", key.Address.Hex(), acct.Address.Hex())
	}
	var parsed struct {
		Version int `json:"version"`
		Crypto  struct {
			KDF       string         `json:"kdf"`
			KDFParams map[string]any `json:"kdfparams"`
		} `json:"crypto"`
	}
	if err := json.Unmarshal(data, &parsed); err != nil {
		t.Fatal(err)
	}
	if parsed.Version != 3 || parsed.Crypto.KDF != "scrypt" || parsed.Crypto.KDFParams["n"] != float64(keystore.LightScryptN) {
		t.Errorf("key file version %d kdf %q n %v, want version 3, scrypt, n %d", parsed.Version, parsed.Crypto.KDF, parsed.Crypto.KDFParams["n"], keystore.LightScryptN)
	}

	accts, err := ks.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	if len(accts) != 1 || accts[0] != acct {
		t.Fatalf("Accounts = %v, want [%v]", accts, acct)
	}

	// Signing needs the passphrase, and the signature is the account's.
	to := common.HexToAddress(devAddr1)
	tx := types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(1337), Nonce: 3, Gas: 21000, To: &to, Value: big.NewInt(5), GasTipCap: big.NewInt(1), GasFeeCap: big.NewInt(2)})
	signed, err := ks.SignTx(acct.Address, "correct horse", tx, big.NewInt(1337))
	if err != nil {
		t.Fatal(err)
	}
	sender, err := types.Sender(types.LatestSignerForChainID(big.NewInt(1337)), signed)
	if err != nil || sender != acct.Address {
		t.Errorf("signed by %s (%v), want %s", sender.Hex(), err, acct.Address.Hex())
	}
	if _, err := ks.SignTx(acct.Address, "wrong horse", tx, big.NewInt(1337)); !errors.Is(err, ErrWrongPassphrase) || !strings.Contains(err.Error(), acct.Address.Hex()) {
		t.Errorf("SignTx with a wrong passphrase: error %v, want ErrWrongPassphrase naming the account", err)
	}
	if err := ks.CheckPassphrase(acct.Address, "correct horse"); err != nil {
		t.Errorf("CheckPassphrase with the right passphrase: %v", err)
	}
	if err := ks.CheckPassphrase(acct.Address, ""); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("CheckPassphrase with an empty passphrase: %v, want ErrWrongPassphrase", err)
	}
	other := common.HexToAddress(devAddr0)
	if _, err := ks.SignTx(other, "correct horse", tx, big.NewInt(1337)); !errors.Is(err, ErrUnknownAccount) || !strings.Contains(err.Error(), devAddr0) {
		t.Errorf("SignTx for an account not in the keystore: error %v, want ErrUnknownAccount naming %s", err, devAddr0)
	}
}

func TestImportKey(t *testing.T) {
	ks, _ := newTestKeystore(t)
	acct, err := ks.ImportKey(devKey0, "pw")
	if err != nil {
		t.Fatal(err)
	}
	if acct.Address.Hex() != devAddr0 {
		t.Errorf("imported key has address %s, want %s", acct.Address.Hex(), devAddr0)
	}
	_, err = ks.ImportKey(strings.TrimPrefix(devKey0, "0x"), "other")
	if !errors.Is(err, ErrAccountExists) || !strings.Contains(err.Error(), acct.File) {
		t.Errorf("importing the same key twice: error %v, want ErrAccountExists naming %s", err, acct.File)
	}
	bad := []struct{ in, rule string }{
		{"0x1234", "4 hex digits, want 64"},
		{"zz" + devKey0[4:], "not hexadecimal"},
		{"0x" + strings.Repeat("0", 64), "not a valid secp256k1 key"},
		{"0x" + strings.Repeat("f", 64), "not a valid secp256k1 key"},
	}
	for _, tt := range bad {
		_, err := ks.ImportKey(tt.in, "pw")
		if !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), tt.rule) {
			t.Errorf("ImportKey(%q) error = %v, want ErrBadKey and %q", tt.in, err, tt.rule)
		}
		if err != nil && len(tt.in) > 8 && strings.Contains(err.Error(), tt.in[4:]) {
			t.Errorf("ImportKey error %q contains the key", err)
		}
	}
	if accts, _ := ks.Accounts(); len(accts) != 1 {
		t.Errorf("%d accounts after failed imports, want 1", len(accts))
	}
}

func TestMnemonicDevAccounts(t *testing.T) {
	// The Hardhat/Anvil dev accounts: the dev genesis funds these.
	tests := []struct {
		m    Mnemonic
		want string
	}{
		{Mnemonic{Phrase: params.DevMnemonic, Path: IndexPath(0)}, devAddr0},
		{Mnemonic{Phrase: params.DevMnemonic}, devAddr0}, // default path is index 0
		{Mnemonic{Phrase: params.DevMnemonic, Path: IndexPath(1)}, devAddr1},
		{Mnemonic{Phrase: params.DevMnemonic, Path: "m/44'/60'/0'/0/1"}, devAddr1},
		{Mnemonic{Phrase: params.DevMnemonic, Path: "m/44h/60h/0h/0/1"}, devAddr1},
		{Mnemonic{Phrase: "  test test test test test test\ttest test test test test junk\n", Path: IndexPath(1)}, devAddr1},
	}
	for _, tt := range tests {
		key, err := tt.m.Key()
		if err != nil {
			t.Errorf("Key(%q): %v", tt.m.Path, err)
			continue
		}
		if got := crypto.PubkeyToAddress(key.PublicKey).Hex(); got != tt.want {
			t.Errorf("Key(%q) address %s, want %s", tt.m.Path, got, tt.want)
		}
	}
	// The BIP-39 passphrase changes every key.
	key, err := Mnemonic{Phrase: params.DevMnemonic, Password: "x"}.Key()
	if err != nil {
		t.Fatal(err)
	}
	if got := crypto.PubkeyToAddress(key.PublicKey).Hex(); got == devAddr0 {
		t.Errorf("a BIP-39 passphrase did not change the derived key")
	}

	ks, _ := newTestKeystore(t)
	for i, want := range []string{devAddr0, devAddr1} {
		acct, err := ks.ImportMnemonic(Mnemonic{Phrase: params.DevMnemonic, Path: IndexPath(uint32(i))}, "pw")
		if err != nil {
			t.Fatal(err)
		}
		if acct.Address.Hex() != want {
			t.Errorf("ImportMnemonic index %d: address %s, want %s", i, acct.Address.Hex(), want)
		}
	}
}

func TestMnemonicErrors(t *testing.T) {
	tests := []struct {
		m        Mnemonic
		sentinel error
		rule     string
	}{
		{Mnemonic{Phrase: "test test test"}, ErrBadMnemonic, "3 words"},
		{Mnemonic{Phrase: "test test test test test test test test test test test test"}, ErrBadMnemonic, "checksum"},
		{Mnemonic{Phrase: "test test test test test test test test test test test jnuk"}, ErrBadMnemonic, "word 12 is not in the BIP-39"},
		{Mnemonic{Phrase: "Test test test test test test test test test test test junk"}, ErrBadMnemonic, "word 1 is not in the BIP-39"},
		{Mnemonic{Phrase: params.DevMnemonic, Path: "44'/60'/0'/0/0"}, ErrBadPath, `must start with "m/"`},
		{Mnemonic{Phrase: params.DevMnemonic, Path: "m/44'/60'/x/0/0"}, ErrBadPath, `component "x"`},
		{Mnemonic{Phrase: params.DevMnemonic, Path: "m/44'/60'/0'/0/2147483648"}, ErrBadPath, "below 2^31"},
		{Mnemonic{Phrase: params.DevMnemonic, Path: IndexPath(1 << 31)}, ErrBadPath, "below 2^31"},
		{Mnemonic{Phrase: params.DevMnemonic, Path: "m/44'/60'//0"}, ErrBadPath, `component ""`},
	}
	ks, _ := newTestKeystore(t)
	for _, tt := range tests {
		_, err := ks.ImportMnemonic(tt.m, "pw")
		if !errors.Is(err, tt.sentinel) || !strings.Contains(err.Error(), tt.rule) {
			t.Errorf("ImportMnemonic(path %q) error = %v, want %v and %q", tt.m.Path, err, tt.sentinel, tt.rule)
		}
		if err != nil && strings.Contains(err.Error(), "test test") {
			t.Errorf("error %q contains the mnemonic", err)
		}
	}
	if accts, _ := ks.Accounts(); len(accts) != 0 {
		t.Errorf("%d accounts after failed imports, want 0", len(accts))
	}
}

func TestResolveAndListing(t *testing.T) {
	ks, logs := newTestKeystore(t)
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ks.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	// Imported in the order 1, 0: the listing is in creation order.
	a1, err := ks.ImportMnemonic(Mnemonic{Phrase: params.DevMnemonic, Path: IndexPath(1)}, "pw")
	if err != nil {
		t.Fatal(err)
	}
	a0, err := ks.ImportKey(devKey0, "pw")
	if err != nil {
		t.Fatal(err)
	}
	// Files that are not keys are skipped; junk with a warning.
	for name, content := range map[string]string{
		"README":          "not a key",
		".hidden":         "{}",
		"backup~":         "{}",
		"UTC--0--nothing": `{"address":"nothex"}`,
	} {
		if err := os.WriteFile(filepath.Join(ks.Dir(), name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(ks.Dir(), "subdir"), 0o700); err != nil {
		t.Fatal(err)
	}
	accts, err := ks.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	if len(accts) != 2 || accts[0] != a1 || accts[1] != a0 {
		t.Fatalf("Accounts = %v, want [%v %v]", accts, a1, a0)
	}
	if !strings.Contains(logs.String(), "README") || !strings.Contains(logs.String(), "UTC--0--nothing") {
		t.Errorf("no warning about the junk files; log:\n%s", logs)
	}
	if strings.Contains(logs.String(), ".hidden") || strings.Contains(logs.String(), "backup~") {
		t.Errorf("warned about a hidden or backup file; log:\n%s", logs)
	}

	for ref, want := range map[string]Account{
		"0":                       a1,
		"1":                       a0,
		devAddr0:                  a0,
		strings.ToLower(devAddr1): a1,
		" " + devAddr1:            a1,
	} {
		got, err := ks.Resolve(ref)
		if err != nil || got != want {
			t.Errorf("Resolve(%q) = %v, %v; want %v", ref, got, err, want)
		}
	}
	bad := []struct {
		ref      string
		sentinel error
		rule     string
	}{
		{"2", ErrUnknownAccount, "account index 2: keystore " + ks.Dir() + " holds 2 accounts"},
		{"-1", ErrUnknownAccount, `want an address (0x...) or an account index`},
		{"alice", ErrUnknownAccount, `"alice"`},
		{"0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC", ErrUnknownAccount, "no key file for it in keystore"},
		{"0x3c44", ErrBadAddress, "4 hex digits"},
	}
	for _, tt := range bad {
		_, err := ks.Resolve(tt.ref)
		if !errors.Is(err, tt.sentinel) || !strings.Contains(err.Error(), tt.rule) {
			t.Errorf("Resolve(%q) error = %v, want %v and %q", tt.ref, err, tt.sentinel, tt.rule)
		}
	}

	// Two files for one address are an error, not a guess.
	data, err := os.ReadFile(a0.File)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a0.File+"-copy", data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Find(a0.Address); !errors.Is(err, ErrBadKeyFile) || !strings.Contains(err.Error(), "2 key files") {
		t.Errorf("Find with two key files: error %v, want ErrBadKeyFile and \"2 key files\"", err)
	}
}

func TestKeyFileMismatch(t *testing.T) {
	ks, _ := newTestKeystore(t)
	acct, err := ks.ImportKey(devKey0, "pw")
	if err != nil {
		t.Fatal(err)
	}
	// A file that claims another address than the key it holds.
	data, err := os.ReadFile(acct.File)
	if err != nil {
		t.Fatal(err)
	}
	lie := strings.Replace(string(data), strings.ToLower(devAddr0[2:]), strings.ToLower(devAddr1[2:]), 1)
	if lie == string(data) {
		t.Fatal("key file does not contain its address in lowercase hex")
	}
	if err := os.WriteFile(acct.File, []byte(lie), 0o600); err != nil {
		t.Fatal(err)
	}
	err = ks.CheckPassphrase(common.HexToAddress(devAddr1), "pw")
	if !errors.Is(err, ErrBadKeyFile) || !strings.Contains(err.Error(), "holds the key of "+devAddr0) {
		t.Errorf("CheckPassphrase on a lying key file: error %v, want ErrBadKeyFile naming %s", err, devAddr0)
	}
}
