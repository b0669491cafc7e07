package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/peerchain/peerchain/internal/node"
	"github.com/peerchain/peerchain/internal/params"
)

func newVerifyCmd() *cobra.Command {
	var datadir, genesis, logLevel, logFormat string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Re-verify the stored chain from genesis (the peer must be stopped)",
		Long: `Re-verify the canonical chain in a data dir: every block is validated and
executed again from genesis in a fresh temporary database, and must reach the
same head. The peer using the data dir must be stopped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			prog := newJobProgress(cmd, logFormat, "verify", "blocks")
			log, err := newLogger(cmd.ErrOrStderr(), logLevel, logFormat)
			if err != nil {
				return err
			}
			rep := prog.reporter(log)
			var g *params.Genesis
			if genesis != "" {
				if g, err = params.LoadGenesis(genesis); err != nil {
					return err
				}
			}
			if _, err := os.Stat(datadir); err != nil {
				return fmt.Errorf("--datadir %s: %w", datadir, err)
			}
			res, err := node.VerifyChainProgress(cmd.Context(), datadir, g, log, rep.Update)
			rep.Finish()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "verified %d blocks (%d transactions) from genesis to head %d %s in %v\n",
				res.Blocks, res.Txs, res.Head, res.HeadHash, res.Took.Round(1e6))
			return nil
		},
	}
	cmd.Flags().StringVar(&datadir, "datadir", node.DefaultDataDir(), "data directory to verify")
	cmd.Flags().StringVar(&genesis, "genesis", "", "genesis JSON file; empty means the embedded dev genesis")
	cmd.Flags().StringVar(&logLevel, "log.level", "info", "log level: debug, info, warn or error (progress lines are info)")
	cmd.Flags().StringVar(&logFormat, "log.format", "text", "log format: text or json")
	return cmd
}
