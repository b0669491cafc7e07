// Command peerchain is a peer-to-peer proof-of-work blockchain node with the
// Ethereum execution layer: a full peer (node), a CLI wallet (wallet) and,
// later, a devnet supervisor and a light client. This package only parses
// flags and configuration and hands a node.Config to internal/node.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	gethlog "github.com/ethereum/go-ethereum/log"
	"github.com/spf13/cobra"

	"github.com/peerchain/peerchain/internal/params"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "peerchain",
		Short: "A peer-to-peer proof-of-work blockchain with the Ethereum execution layer",
		Long: `peerchain runs a full peer of a proof-of-work blockchain that executes Ethereum
transactions and contracts, serves the Ethereum JSON-RPC API, and comes with a
CLI wallet.

Start a mining peer on the embedded dev genesis (20 funded accounts of the
"test test ... junk" mnemonic, chain id 1337):

  peerchain node --dev`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newNodeCmd(), newLightCmd(), newDevnetCmd(), newWalletCmd(), newRPCCmd(), newVerifyCmd(), newExportCmd(), newImportCmd(), newDoctorCmd(), newConfigCmd(), newKeyCmd(), newHealthCmd(), newVersionCmd())
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s (%s, %s/%s)\n", params.ClientName, params.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	}
}

// newLogger builds the process logger and routes go-ethereum's own log
// (state database messages) through it at warning level and above.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log.level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	switch strings.ToLower(format) {
	case "text", "":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("--log.format %q: want text or json", format)
	}
	gethLevel := max(lvl, slog.LevelWarn)
	gethlog.SetDefault(gethlog.NewLogger(levelFilter{h.WithAttrs([]slog.Attr{slog.String("module", "geth")}), gethLevel}))
	return slog.New(h), nil
}

// levelFilter drops records below min.
type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}

func (f levelFilter) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFilter{f.Handler.WithAttrs(a), f.min}
}

func (f levelFilter) WithGroup(name string) slog.Handler {
	return levelFilter{f.Handler.WithGroup(name), f.min}
}

var errUsage = errors.New("usage")
