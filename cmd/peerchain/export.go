package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/peerchain/peerchain/internal/node"
	"github.com/peerchain/peerchain/internal/params"
)

func loadGenesisFlag(path string) (*params.Genesis, error) {
	if path == "" {
		return nil, nil
	}
	return params.LoadGenesis(path)
}

func newExportCmd() *cobra.Command {
	var datadir, genesis string
	var from, to uint64
	cmd := &cobra.Command{
		Use:   "export FILE",
		Short: "Write the canonical chain of a stopped peer to FILE (RLP blocks)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g, err := loadGenesisFlag(genesis)
			if err != nil {
				return err
			}
			f, err := os.Create(args[0])
			if err != nil {
				return fmt.Errorf("create %s: %w", args[0], err)
			}
			n, err := node.ExportChain(cmd.Context(), datadir, g, f, from, to, nil)
			if cerr := f.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("close %s: %w", args[0], cerr)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "exported %d blocks to %s\n", n, args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&datadir, "datadir", node.DefaultDataDir(), "data directory of the (stopped) peer")
	cmd.Flags().StringVar(&genesis, "genesis", "", "genesis JSON file; empty means the embedded dev genesis")
	cmd.Flags().Uint64Var(&from, "from", 0, "first block to export")
	cmd.Flags().Uint64Var(&to, "to", 0, "last block to export (0: the head)")
	return cmd
}

func newImportCmd() *cobra.Command {
	var datadir, genesis string
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Validate and import RLP blocks from FILE into a stopped peer's data dir",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g, err := loadGenesisFlag(genesis)
			if err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("open %s: %w", args[0], err)
			}
			defer f.Close()
			res, err := node.ImportChain(cmd.Context(), datadir, g, f, nil)
			if res != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "imported %d blocks (%d already known), head %d\n", res.Imported, res.Known, res.Head)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&datadir, "datadir", node.DefaultDataDir(), "data directory of the (stopped) peer")
	cmd.Flags().StringVar(&genesis, "genesis", "", "genesis JSON file; empty means the embedded dev genesis")
	return cmd
}
