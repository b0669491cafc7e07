package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/spf13/cobra"

	"github.com/peerchain/peerchain/internal/params"
	"github.com/peerchain/peerchain/internal/wallet"
)

const (
	walletTestAddr0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
	walletTestAddr1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
)

// walletTestNode is a fake node: the eth_ methods "wallet balance" and
// "wallet send" call, answered from fixed values; it keeps the raw
// transactions it is sent.
type walletTestNode struct {
	mu  sync.Mutex
	raw [][]byte
}

func (n *walletTestNode) ChainId() *hexutil.Big { return (*hexutil.Big)(big.NewInt(params.DevChainID)) }

func (n *walletTestNode) GetBalance(common.Address, string) *hexutil.Big {
	return (*hexutil.Big)(new(big.Int).Mul(big.NewInt(10000), big.NewInt(1e18)))
}

func (n *walletTestNode) GetTransactionCount(common.Address, string) hexutil.Uint64 { return 3 }

func (n *walletTestNode) MaxPriorityFeePerGas() *hexutil.Big {
	return (*hexutil.Big)(big.NewInt(1_000_000_000))
}

func (n *walletTestNode) GetBlockByNumber(string, bool) *types.Header {
	return &types.Header{Number: big.NewInt(9), Difficulty: big.NewInt(1), GasLimit: 30_000_000, BaseFee: big.NewInt(500_000_000)}
}

func (n *walletTestNode) EstimateGas(map[string]any) hexutil.Uint64 { return 21000 }

func (n *walletTestNode) SendRawTransaction(raw hexutil.Bytes) (common.Hash, error) {
	var tx types.Transaction
	if err := tx.UnmarshalBinary(raw); err != nil {
		return common.Hash{}, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.raw = append(n.raw, raw)
	return tx.Hash(), nil
}

func (n *walletTestNode) GetTransactionReceipt(hash common.Hash) (json.RawMessage, error) {
	return json.Marshal(&types.Receipt{
		Type: types.DynamicFeeTxType, Status: types.ReceiptStatusSuccessful, CumulativeGasUsed: 21000,
		Logs: []*types.Log{}, TxHash: hash, GasUsed: 21000, EffectiveGasPrice: big.NewInt(1_500_000_000),
		BlockHash: common.HexToHash("0xb10c"), BlockNumber: big.NewInt(10),
	})
}

func (n *walletTestNode) serve(t *testing.T) string {
	t.Helper()
	srv := rpc.NewServer()
	if err := srv.RegisterName("eth", n); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { ts.Close(); srv.Stop() })
	return ts.URL
}

// runWallet runs "wallet args..." with standard input that is not a
// terminal, and returns what it wrote.
func runWallet(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newWalletCmd()
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader("not a terminal\n"))
	cmd.SilenceErrors = true
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

func walletTestPasswordFile(t *testing.T, pass string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(path, []byte(pass+"\nsecond line is ignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestWalletImportListSend(t *testing.T) {
	node := &walletTestNode{}
	url := node.serve(t)
	ks := filepath.Join(t.TempDir(), "keystore")
	pw := walletTestPasswordFile(t, "s3cret")

	out, _, err := runWallet(t, "--keystore", ks, "import", "--mnemonic", params.DevMnemonic, "--index", "0", "--password-file", pw, "--lightkdf")
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if !strings.Contains(out, "Address:   "+walletTestAddr0) || !strings.Contains(out, "Key file:  "+ks+string(filepath.Separator)+"UTC--") {
		t.Errorf("import output:\n%s\nwant the address %s and a key file in %s", out, walletTestAddr0, ks)
	}

	out, _, err = runWallet(t, "--keystore", ks, "list")
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if !regexp.MustCompile(`^0  ` + walletTestAddr0 + `  ` + regexp.QuoteMeta(ks) + `/UTC--\S+\n$`).MatchString(out) {
		t.Errorf("list output:\n%q\nwant one line: 0, %s, its key file", out, walletTestAddr0)
	}

	out, _, err = runWallet(t, "--keystore", ks, "--rpc", url, "send", "--from", "0", "--to", walletTestAddr1, "--value", "1.5", "--password-file", pw, "--wait", "10s")
	if err != nil {
		t.Fatalf("send: %v\noutput:\n%s", err, out)
	}
	node.mu.Lock()
	raws := node.raw
	node.mu.Unlock()
	if len(raws) != 1 {
		t.Fatalf("node received %d transactions, want 1", len(raws))
	}
	var tx types.Transaction
	if err := tx.UnmarshalBinary(raws[0]); err != nil {
		t.Fatal(err)
	}
	sender, err := types.Sender(types.LatestSignerForChainID(big.NewInt(params.DevChainID)), &tx)
	if err != nil || sender.Hex() != walletTestAddr0 {
		t.Errorf("transaction signed by %s (%v), want %s", sender.Hex(), err, walletTestAddr0)
	}
	if tx.ChainId().Int64() != params.DevChainID || tx.Nonce() != 3 || tx.Value().String() != "1500000000000000000" ||
		tx.GasFeeCap().Int64() != 2_000_000_000 || tx.GasTipCap().Int64() != 1_000_000_000 || tx.To().Hex() != walletTestAddr1 {
		t.Errorf("transaction chain %v nonce %d value %v fee cap %v tip %v to %v; want 1337, 3, 1.5 ether, 2 gwei, 1 gwei, %s",
			tx.ChainId(), tx.Nonce(), tx.Value(), tx.GasFeeCap(), tx.GasTipCap(), tx.To(), walletTestAddr1)
	}
	want := strings.Join([]string{
		"From:      " + walletTestAddr0,
		"To:        " + walletTestAddr1,
		"Value:     1.5 ether",
		"Chain id:  1337",
		"Nonce:     3",
		"Gas:       21000",
		"Max fee:   2 gwei per gas (tip 1 gwei)",
		"Tx hash:   " + tx.Hash().Hex(),
		"Status:    success",
		"Block:     10",
		"Gas used:  21000",
		"Gas price: 1.5 gwei",
		"Fee:       0.0000315 ether",
		"",
	}, "\n")
	if out != want {
		t.Errorf("send output:\n%s\nwant:\n%s", out, want)
	}

	out, _, err = runWallet(t, "--keystore", ks, "--rpc", url, "balance", "0")
	if err != nil {
		t.Fatalf("balance: %v", err)
	}
	if want := walletTestAddr0 + ": 10000 ether (10000000000000000000000 wei)\n"; out != want {
		t.Errorf("balance output %q, want %q", out, want)
	}
}

func TestWalletNew(t *testing.T) {
	ks := filepath.Join(t.TempDir(), "keystore")
	pw := walletTestPasswordFile(t, "pw")
	out, stderr, err := runWallet(t, "--keystore", ks, "new", "--password-file", pw, "--lightkdf")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`Address:   (0x[0-9a-fA-F]{40})\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("new output:\n%s\nwant an address", out)
	}
	if !strings.Contains(stderr, "Back up the key file") {
		t.Errorf("new stderr %q, want a backup reminder", stderr)
	}
	out, _, err = runWallet(t, "--keystore", ks, "list")
	if err != nil || !strings.HasPrefix(out, "0  "+m[1]+"  ") {
		t.Errorf("list after new: %q, %v; want account 0 to be %s", out, err, m[1])
	}
	// The file is encrypted with the first line of the password file.
	k, err := wallet.NewKeystore(wallet.KeystoreConfig{Dir: ks})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.CheckPassphrase(common.HexToAddress(m[1]), "pw"); err != nil {
		t.Errorf("key file does not open with the password file's first line: %v", err)
	}

	_, stderr, err = runWallet(t, "--keystore", filepath.Join(t.TempDir(), "empty"), "list")
	if err != nil || !strings.Contains(stderr, "No accounts in") {
		t.Errorf("list of an empty keystore: %q, %v; want \"No accounts in\"", stderr, err)
	}
}

func TestWalletErrors(t *testing.T) {
	node := &walletTestNode{}
	url := node.serve(t)
	ks := filepath.Join(t.TempDir(), "keystore")
	pw := walletTestPasswordFile(t, "right")
	if _, _, err := runWallet(t, "--keystore", ks, "import", "--key", "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80", "--password-file", pw, "--lightkdf"); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + l.Addr().String()
	l.Close()

	send := func(extra ...string) []string {
		return append([]string{"--keystore", ks, "--rpc", url, "send", "--from", "0", "--to", walletTestAddr1, "--value", "1"}, extra...)
	}
	tests := []struct {
		name     string
		args     []string
		sentinel error
		text     string
	}{
		{"wrong passphrase", send("--password-file", walletTestPasswordFile(t, "wrong")), wallet.ErrWrongPassphrase, "wrong passphrase for account " + walletTestAddr0},
		{"no terminal", send(), nil, "standard input is not a terminal to prompt on; give --password-file"},
		{"missing password file", send("--password-file", filepath.Join(t.TempDir(), "nope")), os.ErrNotExist, "--password-file"},
		{"unknown index", append(send("--password-file", pw), "--from", "5"), wallet.ErrUnknownAccount, "--from: unknown account: account index 5"},
		{"bad to", append(send("--password-file", pw), "--to", "0x1234"), wallet.ErrBadAddress, `--to: bad address "0x1234": 4 hex digits`},
		{"bad value", append(send("--password-file", pw), "--value", "1.5wei"), wallet.ErrBadAmount, `--value: bad amount "1.5wei": wei amounts are whole numbers`},
		{"negative wait", send("--password-file", pw, "--wait", "-1s"), nil, "--wait -1s: must not be negative"},
		{"missing flags", []string{"--keystore", ks, "send", "--from", "0"}, nil, `required flag(s) "to", "value" not set`},
		{"node down", []string{"--keystore", ks, "--rpc", deadURL, "balance", walletTestAddr0}, wallet.ErrNodeUnreachable, "no node reachable at " + deadURL},
		{"bad rpc url", []string{"--rpc", "127.0.0.1:8545", "balance", walletTestAddr0}, nil, `rpc URL "127.0.0.1:8545": no scheme`},
		{"balance bad address", []string{"--rpc", url, "balance", "0xzz"}, wallet.ErrBadAddress, `"0xzz"`},
		{"balance no arg", []string{"balance"}, nil, "accepts 1 arg(s), received 0"},
		{"import both", []string{"--keystore", ks, "import", "--mnemonic", params.DevMnemonic, "--key", "0x01"}, nil, "[key mnemonic] were all set"},
		{"import neither", []string{"--keystore", ks, "import"}, nil, "at least one of the flags in the group [mnemonic key] is required"},
		{"import key with index", []string{"--keystore", ks, "import", "--key", "0x01", "--index", "2"}, nil, "do not go with --key"},
		{"import index and path", []string{"--keystore", ks, "import", "--mnemonic", params.DevMnemonic, "--index", "2", "--path", "m/0"}, nil, "[index path] were all set"},
		{"import empty key", []string{"--keystore", ks, "import", "--key", "", "--password-file", pw}, wallet.ErrBadKey, "--key: bad private key: 0 hex digits"},
		{"import bad key", []string{"--keystore", ks, "import", "--key", "0x01", "--password-file", pw}, wallet.ErrBadKey, "--key: bad private key: 2 hex digits"},
		{"import bad mnemonic", []string{"--keystore", ks, "import", "--mnemonic", "test test test", "--password-file", pw}, wallet.ErrBadMnemonic, "3 words"},
		{"import bad path", []string{"--keystore", ks, "import", "--mnemonic", params.DevMnemonic, "--path", "44/60", "--password-file", pw}, wallet.ErrBadPath, `"44/60": must start with "m/"`},
		{"import twice", []string{"--keystore", ks, "import", "--mnemonic", params.DevMnemonic, "--password-file", pw, "--lightkdf"}, wallet.ErrAccountExists, walletTestAddr0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runWallet(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.text) || (tt.sentinel != nil && !errors.Is(err, tt.sentinel)) {
				t.Errorf("error = %v, want %v and %q", err, tt.sentinel, tt.text)
			}
		})
	}
	node.mu.Lock()
	defer node.mu.Unlock()
	if len(node.raw) != 0 {
		t.Errorf("node received %d transactions from failed sends", len(node.raw))
	}
}

// TestWalletHelp checks every flag's help says its default.
func TestWalletHelp(t *testing.T) {
	root := newWalletCmd()
	cmds := append([]*cobra.Command{root}, root.Commands()...)
	for _, c := range cmds {
		name := strings.TrimSpace(strings.TrimPrefix(c.CommandPath(), "wallet"))
		args := []string{"--help"}
		if name != "" {
			args = []string{name, "--help"}
		}
		out, _, err := runWallet(t, args...)
		if err != nil {
			t.Fatalf("wallet %v: %v", args, err)
		}
		flags := 0
		for _, line := range strings.Split(out, "\n") {
			trimmed := strings.TrimSpace(line)
			if !strings.HasPrefix(trimmed, "--") && !strings.HasPrefix(trimmed, "-h, --help") {
				continue
			}
			flags++
			if strings.Contains(trimmed, "--help") {
				continue
			}
			if !strings.Contains(trimmed, "default") && !strings.Contains(trimmed, "(required)") {
				t.Errorf("wallet %s --help: flag line without its default: %q", name, trimmed)
			}
		}
		if flags < 3 { // --keystore, --rpc, --help at least
			t.Errorf("wallet %s --help lists %d flags, want at least 3:\n%s", name, flags, out)
		}
	}
	out, _, _ := runWallet(t, "send", "--help")
	for _, want := range []string{`--keystore string   directory of encrypted key files (default "~/.peerchain/keystore")`, `(default "http://127.0.0.1:8545")`, "(default 1m0s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("wallet send --help does not contain %q:\n%s", want, out)
		}
	}
}

func TestExpandHome(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skip("no home directory:", err)
	}
	for in, want := range map[string]string{
		"~/.peerchain/keystore": filepath.Join(home, ".peerchain/keystore"),
		"~":                     home,
		"/abs/dir":              "/abs/dir",
		"rel/~/dir":             "rel/~/dir",
		"~other/dir":            "~other/dir",
	} {
		if got, err := expandHome(in); err != nil || got != want {
			t.Errorf("expandHome(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
