package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/peerchain/peerchain/internal/wallet"
)

// defaultKeystoreDir is shown as is in --help; a leading ~ is expanded when
// the keystore is opened.
const defaultKeystoreDir = "~/.peerchain/keystore"

// walletFlags are the flags all wallet subcommands share.
type walletFlags struct {
	keystore string
	rpc      string
}

func newWalletCmd() *cobra.Command {
	var f walletFlags
	cmd := &cobra.Command{
		Use:   "wallet",
		Short: "Manage keys and send ether through a node",
		Long: `Manage the keys of a keystore directory and use them through a node's JSON-RPC.

Key files are go-ethereum's encrypted format (scrypt), so geth and clef read
them and this wallet reads theirs. An account is named by its address or by
its index in "peerchain wallet list".

The embedded dev genesis funds the accounts of the well-known test mnemonic;
to spend them on a "peerchain node --dev":

  peerchain wallet import --mnemonic "test test test test test test test test test test test junk" --index 0
  peerchain wallet send --from 0 --to 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 --value 1.5`,
		Args: cobra.NoArgs,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.keystore, "keystore", defaultKeystoreDir, "directory of encrypted key files")
	pf.StringVar(&f.rpc, "rpc", wallet.DefaultRPCURL, "JSON-RPC URL of the node (http, https, ws or wss)")
	cmd.AddCommand(
		newWalletNewCmd(&f),
		newWalletImportCmd(&f),
		newWalletListCmd(&f),
		newWalletBalanceCmd(&f),
		newWalletSendCmd(&f),
		newWalletDeployCmd(&f),
		newWalletCallCmd(&f),
	)
	return cmd
}

// logger writes the wallet's warnings (junk in the keystore, say) to the
// command's standard error.
func walletLogger(cmd *cobra.Command) *slog.Logger {
	return slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func (f *walletFlags) openKeystore(cmd *cobra.Command, lightKDF bool) (*wallet.Keystore, error) {
	dir, err := expandHome(f.keystore)
	if err != nil {
		return nil, fmt.Errorf("--keystore %q: %w", f.keystore, err)
	}
	return wallet.NewKeystore(wallet.KeystoreConfig{Dir: dir, LightKDF: lightKDF, Logger: walletLogger(cmd)})
}

func (f *walletFlags) dial(cmd *cobra.Command) (*wallet.Client, error) {
	return wallet.Dial(cmd.Context(), wallet.ClientConfig{URL: f.rpc, Logger: walletLogger(cmd)})
}

// expandHome replaces a leading "~" with the user's home directory: the
// default keystore is given that way, and a shell does not expand
// --keystore=~/dir.
func expandHome(path string) (string, error) {
	if path != "~" && !strings.HasPrefix(path, "~/") {
		return path, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("expand ~: %w", err)
	}
	return filepath.Join(home, path[1:]), nil
}

const (
	passwordFileUsage = "file whose first line is the passphrase (default: prompt on the terminal)"
	lightKDFUsage     = "encrypt with light scrypt parameters (4 MB, fast, weak): for tests and devnets only (default false)"
)

func newWalletNewCmd(f *walletFlags) *cobra.Command {
	var passwordFile string
	var lightKDF bool
	cmd := &cobra.Command{
		Use:   "new",
		Short: "Create a random key and store it encrypted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			ks, err := f.openKeystore(cmd, lightKDF)
			if err != nil {
				return err
			}
			pass, err := newPassphrase(cmd, passwordFile)
			if err != nil {
				return err
			}
			acct, err := ks.NewAccount(pass)
			if err != nil {
				return err
			}
			printAccount(cmd.OutOrStdout(), acct)
			fmt.Fprintln(cmd.ErrOrStderr(), "Back up the key file and remember the passphrase: without both, the account's funds are lost.")
			return nil
		},
	}
	cmd.Flags().StringVar(&passwordFile, "password-file", "", passwordFileUsage+"; asked twice")
	cmd.Flags().BoolVar(&lightKDF, "lightkdf", false, lightKDFUsage)
	return cmd
}

func newWalletImportCmd(f *walletFlags) *cobra.Command {
	var (
		mnemonic, path, key, passwordFile string
		index                             uint32
		lightKDF                          bool
	)
	cmd := &cobra.Command{
		Use:   "import (--mnemonic WORDS [--index N | --path m/...] | --key HEX)",
		Short: "Store a key from a BIP-39 mnemonic or a hex private key, encrypted",
		Long: `Store one key, encrypted with a new passphrase: the key at --index (or --path)
of a BIP-39 mnemonic, or a raw private key.

The mnemonic and the key are secrets: a command line can be seen by other users
of the machine (ps) and stays in the shell's history.`,
		Example: `  peerchain wallet import --mnemonic "test test test test test test test test test test test junk" --index 1
  peerchain wallet import --mnemonic "..." --path "m/44'/60'/1'/0/0"
  peerchain wallet import --key 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fl := cmd.Flags()
			useKey := fl.Changed("key")
			if useKey && (fl.Changed("index") || fl.Changed("path")) {
				return errors.New("--index and --path choose a key of --mnemonic; they do not go with --key")
			}
			cmd.SilenceUsage = true
			ks, err := f.openKeystore(cmd, lightKDF)
			if err != nil {
				return err
			}
			// Check the key before asking for a passphrase for it.
			var m wallet.Mnemonic
			if useKey {
				if _, err := wallet.ParsePrivateKey(key); err != nil {
					return fmt.Errorf("--key: %w", err)
				}
			} else {
				m = wallet.Mnemonic{Phrase: mnemonic, Path: path}
				if m.Path == "" {
					m.Path = wallet.IndexPath(index)
				}
				if _, err := m.Key(); err != nil {
					return err
				}
			}
			pass, err := newPassphrase(cmd, passwordFile)
			if err != nil {
				return err
			}
			var acct wallet.Account
			if useKey {
				acct, err = ks.ImportKey(key, pass)
			} else {
				acct, err = ks.ImportMnemonic(m, pass)
			}
			if err != nil {
				return err
			}
			printAccount(cmd.OutOrStdout(), acct)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&mnemonic, "mnemonic", "", "BIP-39 mnemonic (12 to 24 words, quoted) to derive the key from (default none)")
	fl.Uint32Var(&index, "index", 0, "account index of the mnemonic: path m/44'/60'/0'/0/INDEX, as Hardhat, Anvil and MetaMask count (default 0)")
	fl.StringVar(&path, "path", "", "BIP-32 derivation path of the mnemonic's key, e.g. m/44'/60'/0'/0/0 (default: from --index)")
	fl.StringVar(&key, "key", "", "private key to import: 64 hex digits, 0x optional (default none)")
	fl.StringVar(&passwordFile, "password-file", "", passwordFileUsage+"; asked twice")
	fl.BoolVar(&lightKDF, "lightkdf", false, lightKDFUsage)
	cmd.MarkFlagsOneRequired("mnemonic", "key")
	cmd.MarkFlagsMutuallyExclusive("mnemonic", "key")
	cmd.MarkFlagsMutuallyExclusive("index", "path")
	return cmd
}

func printAccount(w io.Writer, a wallet.Account) {
	fmt.Fprintf(w, "Address:   %s\nKey file:  %s\n", a.Address.Hex(), a.File)
}

func newWalletListCmd(f *walletFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the keystore's accounts: index, address, key file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			ks, err := f.openKeystore(cmd, false)
			if err != nil {
				return err
			}
			accts, err := ks.Accounts()
			if err != nil {
				return err
			}
			if len(accts) == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "No accounts in %s: create one with \"peerchain wallet new\" or \"peerchain wallet import\".\n", ks.Dir())
				return nil
			}
			for i, a := range accts {
				fmt.Fprintf(cmd.OutOrStdout(), "%d  %s  %s\n", i, a.Address.Hex(), a.File)
			}
			return nil
		},
	}
}

func newWalletBalanceCmd(f *walletFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "balance ADDRESS|INDEX",
		Short: "Show an account's balance at the node's latest block",
		Long: `Show an account's balance at the node's latest block, in ether and in wei.
ADDRESS is any address; INDEX is an account of the keystore, as "list" numbers them.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SilenceUsage = true
			addr, err := f.resolveAddress(cmd, args[0])
			if err != nil {
				return err
			}
			c, err := f.dial(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			b, err := c.Balance(cmd.Context(), addr)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s ether (%s wei)\n", b.Address.Hex(), b.Ether(), b.Wei)
			return nil
		},
	}
}

// resolveAddress reads an address, or the address of a keystore account
// given by index.
func (f *walletFlags) resolveAddress(cmd *cobra.Command, ref string) (common.Address, error) {
	if strings.HasPrefix(ref, "0x") || strings.HasPrefix(ref, "0X") {
		return wallet.ParseAddress(ref)
	}
	ks, err := f.openKeystore(cmd, false)
	if err != nil {
		return common.Address{}, err
	}
	acct, err := ks.Resolve(ref)
	if err != nil {
		return common.Address{}, err
	}
	return acct.Address, nil
}

func newWalletSendCmd(f *walletFlags) *cobra.Command {
	var (
		from, to, value, passwordFile string
		wait                          time.Duration
	)
	cmd := &cobra.Command{
		Use:   "send --from ADDRESS|INDEX --to ADDRESS --value AMOUNT",
		Short: "Send ether in an EIP-1559 transaction and wait for its receipt",
		Long: `Send ether from a keystore account in an EIP-1559 transaction signed here and
submitted through the node.

The node supplies the chain id, the pending nonce, the tip
(eth_maxPriorityFeePerGas) and the gas (eth_estimateGas); the fee cap is the tip
plus twice the latest base fee. AMOUNT is a decimal number of ether, or has a
unit: 1.5, 1.5ether, 2gwei, 1000wei.`,
		Example: `  peerchain wallet send --from 0 --to 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 --value 1.5
  peerchain wallet send --from 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 --to 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 --value 20gwei --wait 0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if wait < 0 {
				return fmt.Errorf("--wait %v: must not be negative", wait)
			}
			cmd.SilenceUsage = true
			ks, err := f.openKeystore(cmd, false)
			if err != nil {
				return err
			}
			sender, err := ks.Resolve(from)
			if err != nil {
				return fmt.Errorf("--from: %w", err)
			}
			toAddr, err := wallet.ParseAddress(to)
			if err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			amount, err := wallet.ParseAmount(value)
			if err != nil {
				return fmt.Errorf("--value: %w", err)
			}
			c, err := f.dial(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			return sendTransfer(cmd, ks, c, wallet.Transfer{From: sender.Address, To: toAddr, Value: amount}, passwordFile, wait)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&from, "from", "", "sending account: address or index in the keystore (required)")
	fl.StringVar(&to, "to", "", "receiving address, 0x-prefixed (required)")
	fl.StringVar(&value, "value", "", "amount to send: ether, or with a unit wei, gwei or ether (required)")
	fl.StringVar(&passwordFile, "password-file", "", passwordFileUsage)
	fl.DurationVar(&wait, "wait", time.Minute, "how long to wait for the receipt; 0 returns once the node accepts the transaction")
	// MarkFlagRequired fails only for a flag not defined above.
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	_ = cmd.MarkFlagRequired("value")
	return cmd
}

func sendTransfer(cmd *cobra.Command, ks *wallet.Keystore, c *wallet.Client, t wallet.Transfer, passwordFile string, wait time.Duration) error {
	ctx, out := cmd.Context(), cmd.OutOrStdout()
	tx, err := c.PrepareTransfer(ctx, t)
	if err != nil {
		return err
	}
	field(out, "From", t.From.Hex())
	field(out, "To", t.To.Hex())
	field(out, "Value", wallet.FormatEther(t.Value)+" ether")
	field(out, "Chain id", tx.ChainId().String())
	field(out, "Nonce", fmt.Sprint(tx.Nonce()))
	field(out, "Gas", fmt.Sprint(tx.Gas()))
	field(out, "Max fee", fmt.Sprintf("%s gwei per gas (tip %s gwei)", wallet.FormatGwei(tx.GasFeeCap()), wallet.FormatGwei(tx.GasTipCap())))
	pass, err := readPassphrase(cmd, passwordFile, fmt.Sprintf("Passphrase for %s: ", t.From.Hex()))
	if err != nil {
		return err
	}
	signed, err := ks.SignTx(t.From, pass, tx, tx.ChainId())
	if err != nil {
		return err
	}
	if err := c.Send(ctx, signed); err != nil {
		return err
	}
	field(out, "Tx hash", signed.Hash().Hex())
	if wait == 0 {
		return nil
	}
	r, err := c.WaitReceipt(ctx, signed.Hash(), wait)
	if err != nil {
		return err
	}
	status := "success"
	if !r.Succeeded() {
		status = "failed (reverted)"
	}
	field(out, "Status", status)
	field(out, "Block", fmt.Sprint(r.BlockNumber))
	field(out, "Gas used", fmt.Sprint(r.GasUsed))
	field(out, "Gas price", wallet.FormatGwei(r.EffectiveGasPrice)+" gwei")
	field(out, "Fee", wallet.FormatEther(r.Fee())+" ether")
	if !r.Succeeded() {
		return fmt.Errorf("transaction %s failed in block %d", r.TxHash.Hex(), r.BlockNumber)
	}
	return nil
}

func field(w io.Writer, name, value string) { fmt.Fprintf(w, "%-10s %s\n", name+":", value) }

// newPassphrase reads the passphrase for a new key file: the first line of
// file, or typed twice on the terminal.
func newPassphrase(cmd *cobra.Command, file string) (string, error) {
	pass, err := readPassphrase(cmd, file, "Passphrase for the new key file: ")
	if err != nil || file != "" {
		return pass, err
	}
	again, err := readPassphrase(cmd, "", "Repeat the passphrase: ")
	if err != nil {
		return "", err
	}
	if again != pass {
		return "", errors.New("the two passphrases differ")
	}
	if pass == "" {
		fmt.Fprintln(cmd.ErrOrStderr(), "Warning: empty passphrase: whoever gets the key file gets the key.")
	}
	return pass, nil
}

// readPassphrase returns the first line of file, or, without a file, what
// the user types on the terminal after prompt, not echoed.
func readPassphrase(cmd *cobra.Command, file, prompt string) (string, error) {
	if file != "" {
		path, err := expandHome(file)
		if err != nil {
			return "", fmt.Errorf("--password-file %q: %w", file, err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		line, _, _ := strings.Cut(string(data), "\n")
		return strings.TrimSuffix(line, "\r"), nil
	}
	in, ok := cmd.InOrStdin().(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return "", errors.New("no passphrase: standard input is not a terminal to prompt on; give --password-file FILE")
	}
	fmt.Fprint(cmd.ErrOrStderr(), prompt)
	pass, err := readPasswordCtx(cmd.Context(), int(in.Fd()))
	fmt.Fprintln(cmd.ErrOrStderr())
	if err != nil {
		return "", fmt.Errorf("read passphrase: %w", err)
	}
	return pass, nil
}

// readPasswordCtx is term.ReadPassword that also returns when ctx ends:
// Ctrl-C reaches the process as a signal while echo is off, and the read
// would otherwise block until Enter. The terminal's state (echo) is restored
// on either path.
func readPasswordCtx(ctx context.Context, fd int) (string, error) {
	saved, err := term.GetState(fd)
	if err != nil {
		return "", err
	}
	type result struct {
		pass []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		p, err := term.ReadPassword(fd)
		done <- result{p, err}
	}()
	select {
	case r := <-done:
		return string(r.pass), r.err
	case <-ctx.Done():
		if err := term.Restore(fd, saved); err != nil {
			return "", fmt.Errorf("%w (and restoring the terminal: %w)", context.Cause(ctx), err)
		}
		return "", context.Cause(ctx)
	}
}
