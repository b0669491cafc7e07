package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/spf13/cobra"
)

func newRPCCmd() *cobra.Command {
	var url string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "rpc METHOD [PARAM...]",
		Short: "Call a JSON-RPC method of a node and print the result",
		Long: `Call a JSON-RPC method of a node and print its JSON result. Each PARAM is
taken as JSON when it parses as JSON, otherwise as a string:

  peerchain rpc eth_blockNumber
  peerchain rpc eth_getBalance 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 latest
  peerchain rpc peerchain_peers`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			c, err := gethrpc.DialContext(ctx, url)
			if err != nil {
				return fmt.Errorf("no node reachable at %s: %w", url, err)
			}
			defer c.Close()
			params := make([]any, 0, len(args)-1)
			for _, a := range args[1:] {
				var v json.RawMessage
				if json.Valid([]byte(a)) {
					v = json.RawMessage(a)
					params = append(params, v)
				} else {
					params = append(params, a)
				}
			}
			var res json.RawMessage
			if err := c.CallContext(ctx, &res, args[0], params...); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			out, err := json.MarshalIndent(res, "", "  ")
			if err != nil {
				out = res
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(out))
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "http://127.0.0.1:8545", "JSON-RPC endpoint (http, https, ws or wss)")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "time limit of the call")
	return cmd
}
