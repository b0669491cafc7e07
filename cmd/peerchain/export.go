package main

import (
	"context"
	"fmt"
	"os"
	"time"

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
	var datadir, genesis, logLevel, logFormat string
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Validate and import RLP blocks from FILE into a stopped peer's data dir",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			prog := newJobProgress(cmd, logFormat, "import", "bytes")
			log, err := newLogger(cmd.ErrOrStderr(), logLevel, logFormat)
			if err != nil {
				return err
			}
			g, err := loadGenesisFlag(genesis)
			if err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("open %s: %w", args[0], err)
			}
			defer f.Close()
			var size uint64
			if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
				size = uint64(st.Size())
			}
			// Progress is the share of the file read: blocks are not
			// counted before they are decoded.
			cr := &countingReader{r: f}
			rep := prog.reporter(log)
			ctx, stop := context.WithCancel(cmd.Context())
			done := make(chan struct{})
			go func() {
				defer close(done)
				every(ctx, time.Second, func() { rep.Update(cr.n.Load(), size) })
			}()
			res, err := node.ImportChain(cmd.Context(), datadir, g, cr, log)
			stop()
			<-done
			rep.Finish()
			if res != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "imported %d blocks (%d already known), head %d\n", res.Imported, res.Known, res.Head)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&datadir, "datadir", node.DefaultDataDir(), "data directory of the (stopped) peer")
	cmd.Flags().StringVar(&genesis, "genesis", "", "genesis JSON file; empty means the embedded dev genesis")
	cmd.Flags().StringVar(&logLevel, "log.level", "info", "log level: debug, info, warn or error (progress lines are info)")
	cmd.Flags().StringVar(&logFormat, "log.format", "text", "log format: text or json")
	return cmd
}
