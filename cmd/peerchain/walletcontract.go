package main

import (
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/spf13/cobra"

	"github.com/peerchain/peerchain/internal/wallet"
)

// contractFlags are shared by wallet deploy and wallet call.
type contractFlags struct {
	from, abiFile, value, passwordFile string
	args                               []string
	wait                               time.Duration
}

func (c *contractFlags) register(cmd *cobra.Command, fromUsage string) {
	fl := cmd.Flags()
	fl.StringVar(&c.from, "from", "", fromUsage)
	fl.StringVar(&c.abiFile, "abi", "", "JSON ABI file, or a compiler artifact with \"abi\" and bytecode (default: none; required by call)")
	fl.StringArrayVar(&c.args, "arg", nil, "an argument, in order; repeat the flag for each, arrays as JSON: --arg '[1,2]' (default: none)")
	fl.StringVar(&c.value, "value", "0", "ether sent with the transaction: ether, or with a unit wei, gwei or ether")
	fl.StringVar(&c.passwordFile, "password-file", "", passwordFileUsage)
	fl.DurationVar(&c.wait, "wait", time.Minute, "how long to wait for the receipt; 0 returns once the node accepts the transaction")
}

// sendTx prepares, signs, sends and (unless wait is 0) waits for a
// transaction, printing its fields; it returns the receipt (nil when not
// waiting).
func sendTx(cmd *cobra.Command, f *walletFlags, c *contractFlags, to *common.Address, data []byte) (*wallet.Receipt, error) {
	if c.wait < 0 {
		return nil, fmt.Errorf("--wait %v: must not be negative", c.wait)
	}
	ks, err := f.openKeystore(cmd, false)
	if err != nil {
		return nil, err
	}
	sender, err := ks.Resolve(c.from)
	if err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	}
	value, err := wallet.ParseAmount(c.value)
	if err != nil {
		return nil, fmt.Errorf("--value: %w", err)
	}
	cl, err := f.dial(cmd)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, out := cmd.Context(), cmd.OutOrStdout()
	tx, err := cl.PrepareTx(ctx, wallet.TxRequest{From: sender.Address, To: to, Value: value, Data: data})
	if err != nil {
		return nil, err
	}
	field(out, "From", sender.Address.Hex())
	if to != nil {
		field(out, "To", to.Hex())
	}
	field(out, "Value", wallet.FormatEther(value)+" ether")
	field(out, "Nonce", fmt.Sprint(tx.Nonce()))
	field(out, "Gas", fmt.Sprint(tx.Gas()))
	field(out, "Max fee", fmt.Sprintf("%s gwei per gas (tip %s gwei)", wallet.FormatGwei(tx.GasFeeCap()), wallet.FormatGwei(tx.GasTipCap())))
	pass, err := readPassphrase(cmd, c.passwordFile, fmt.Sprintf("Passphrase for %s: ", sender.Address.Hex()))
	if err != nil {
		return nil, err
	}
	signed, err := ks.SignTx(sender.Address, pass, tx, tx.ChainId())
	if err != nil {
		return nil, err
	}
	if err := cl.Send(ctx, signed); err != nil {
		return nil, err
	}
	field(out, "Tx hash", signed.Hash().Hex())
	if c.wait == 0 {
		return nil, nil
	}
	r, err := cl.WaitReceipt(ctx, signed.Hash(), c.wait)
	if err != nil {
		return nil, err
	}
	status := "success"
	if !r.Succeeded() {
		status = "failed (reverted)"
	}
	field(out, "Status", status)
	field(out, "Block", fmt.Sprint(r.BlockNumber))
	field(out, "Gas used", fmt.Sprint(r.GasUsed))
	field(out, "Fee", wallet.FormatEther(r.Fee())+" ether")
	if !r.Succeeded() {
		return r, fmt.Errorf("transaction %s failed in block %d", r.TxHash.Hex(), r.BlockNumber)
	}
	return r, nil
}

func newWalletDeployCmd(f *walletFlags) *cobra.Command {
	var (
		c        contractFlags
		bytecode string
	)
	cmd := &cobra.Command{
		Use:   "deploy --from ACCOUNT (--abi ARTIFACT | --bytecode HEX|FILE [--abi ABI]) [--arg V]...",
		Short: "Deploy a contract and wait for its address",
		Example: `  peerchain wallet deploy --from 0 --abi Token.json --arg 1000000000000000000000000
  peerchain wallet deploy --from 0 --bytecode 0x6080… --abi Token.abi --arg 1000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			con, err := wallet.LoadContract(c.abiFile, bytecode)
			if err != nil {
				return err
			}
			data, err := con.DeployData(c.args)
			if err != nil {
				return err
			}
			r, err := sendTx(cmd, f, &c, nil, data)
			if err != nil || r == nil {
				return err
			}
			field(cmd.OutOrStdout(), "Contract", r.ContractAddress.Hex())
			return nil
		},
	}
	c.register(cmd, "deploying account: address or index in the keystore (required)")
	cmd.Flags().StringVar(&bytecode, "bytecode", "", "init code: hex, or a file holding it (default: the artifact's)")
	_ = cmd.MarkFlagRequired("from")
	return cmd
}

func newWalletCallCmd(f *walletFlags) *cobra.Command {
	var (
		c      contractFlags
		to     string
		method string
		send   bool
	)
	cmd := &cobra.Command{
		Use:   "call --to ADDRESS --abi ABI --method NAME [--arg V]... [--from ACCOUNT] [--send]",
		Short: "Call a contract method: read it (view/pure) or send a transaction",
		Long: `Call a contract method. A view or pure method is read with eth_call and its
outputs are printed; any other method (or one called with --send) is sent as a
transaction from the --from account, signed here, and the events it emitted
are decoded with the ABI.`,
		Example: `  peerchain wallet call --to 0x5FbDB2315678afecb367f032d93F642f64180aa3 --abi Token.json --method balanceOf --arg 0x70997970C51812dc3A010C7d01b50e0d17dc79C8
  peerchain wallet call --to 0x5FbDB2315678afecb367f032d93F642f64180aa3 --abi Token.json --method transfer --arg 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 --arg 1000 --from 0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			addr, err := wallet.ParseAddress(to)
			if err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			con, err := wallet.LoadContract(c.abiFile, "")
			if err != nil {
				return err
			}
			m, err := con.Method(method)
			if err != nil {
				return err
			}
			data, err := con.CallData(method, c.args)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if m.IsConstant() && !send {
				cl, err := f.dial(cmd)
				if err != nil {
					return err
				}
				defer cl.Close()
				var from common.Address
				if c.from != "" {
					if from, err = f.resolveAddress(cmd, c.from); err != nil {
						return fmt.Errorf("--from: %w", err)
					}
				}
				res, err := cl.Call(cmd.Context(), from, addr, data)
				if err != nil {
					return err
				}
				lines, err := con.FormatOutput(method, res)
				if err != nil {
					return err
				}
				for _, l := range lines {
					fmt.Fprintln(out, l)
				}
				return nil
			}
			if c.from == "" {
				return fmt.Errorf("%s changes state: --from is required to send it as a transaction", method)
			}
			r, err := sendTx(cmd, f, &c, &addr, data)
			if r != nil {
				for _, l := range r.Logs {
					if len(l.Topics) == 0 {
						continue
					}
					ev, evErr := con.ABI.EventByID(l.Topics[0])
					if evErr != nil {
						continue
					}
					vals := map[string]any{}
					if uerr := con.ABI.UnpackIntoMap(vals, ev.Name, l.Data); uerr == nil {
						field(out, "Event", fmt.Sprintf("%s %v (%d indexed topics)", ev.Name, vals, len(l.Topics)-1))
					} else {
						field(out, "Event", ev.Name)
					}
				}
			}
			return err
		},
	}
	c.register(cmd, "calling account: needed to send a transaction, optional for a read (default: none)")
	cmd.Flags().StringVar(&to, "to", "", "contract address (required)")
	cmd.Flags().StringVar(&method, "method", "", "method name in the ABI (required)")
	cmd.Flags().BoolVar(&send, "send", false, "send a transaction even for a view or pure method (default false)")
	_ = cmd.MarkFlagRequired("to")
	_ = cmd.MarkFlagRequired("method")
	_ = cmd.MarkFlagRequired("abi")
	return cmd
}
