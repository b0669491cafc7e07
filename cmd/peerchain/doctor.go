package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/peerchain/peerchain/internal/doctor"
	"github.com/peerchain/peerchain/internal/node"
)

func newDoctorCmd() *cobra.Command {
	var (
		url, datadir string
		window       time.Duration
		asJSON, dial bool
	)
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check a data dir and a running peer, and say what is wrong and how to fix it",
		Long: `Check a running peer (through its JSON-RPC) and its data dir, and say in words
what is wrong and how to fix it: the version, who can reach the RPC and what
they can do with it (a public address without --provider, unlocked accounts,
open CORS or Host checks), the number of peers and how many networks they come
from, whether the announced P2P addresses answer a dial, the clock against the
network's block timestamps, free disk space against the data dir's growth,
and whether sync progresses (with an ETA from the rate measured during the
check). It samples twice, --window apart.

Exits with an error when a check fails (warnings do not).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDoctor(cmd.Context(), cmd.OutOrStdout(), url, datadir, window, asJSON, dial)
		},
	}
	cmd.Flags().StringVar(&url, "rpc", "http://127.0.0.1:8545", "JSON-RPC URL of the running peer (\"off\": check the data dir only)")
	cmd.Flags().StringVar(&datadir, "datadir", node.DefaultDataDir(), "data dir of the peer (\"\": skip the disk check)")
	cmd.Flags().DurationVar(&window, "window", 10*time.Second, "time between the two samples of sync progress and disk growth (longer is more accurate)")
	cmd.Flags().BoolVar(&dial, "p2p.dial", true, "dial the peer's announced P2P addresses from a fresh libp2p host")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the findings as JSON: [{name, status, what, fix}]")
	return cmd
}

func runDoctor(ctx context.Context, w io.Writer, url, datadir string, window time.Duration, asJSON, dial bool) error {
	if window <= 0 {
		return fmt.Errorf("--window %v: must be positive", window)
	}
	cfg := doctor.Config{DataDir: datadir, Window: window}
	if url != "off" && url != "" {
		cfg.PeerURL = url
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		p, err := doctor.DialRPC(dctx, url)
		cancel()
		if err != nil {
			cfg.PeerErr = err
		} else {
			defer p.Close()
			cfg.Peer = p
			if dial {
				d, err := doctor.NewP2PDialer()
				if err != nil {
					return err
				}
				defer d.Close()
				cfg.Dialer = d
			}
		}
	}
	if !asJSON {
		fmt.Fprintf(w, "peerchain doctor: peer %s, data dir %s; sampling for %v…\n\n", orNone(cfg.PeerURL), orNone(datadir), window)
	}
	rs, err := doctor.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rs); err != nil {
			return err
		}
	} else {
		printFindings(w, rs)
	}
	var failed []string
	for _, r := range rs {
		if r.Status == doctor.Fail {
			failed = append(failed, r.Name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("doctor: %d check(s) failed: %s", len(failed), strings.Join(failed, ", "))
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// printFindings writes one block per check: the verdict, the name, what
// was found and, unless it is fine, the fix.
func printFindings(w io.Writer, rs []doctor.Result) {
	label := map[doctor.Status]string{doctor.OK: "ok", doctor.Warn: "WARN", doctor.Fail: "FAIL"}
	for _, r := range rs {
		fmt.Fprintf(w, "%-5s %-17s %s\n", label[r.Status], r.Name, r.What)
		if r.Fix != "" {
			fmt.Fprintf(w, "%-5s %-17s fix: %s\n", "", "", r.Fix)
		}
	}
	counts := map[doctor.Status]int{}
	for _, r := range rs {
		counts[r.Status]++
	}
	fmt.Fprintf(w, "\n%d ok, %d warning(s), %d failure(s)\n", counts[doctor.OK], counts[doctor.Warn], counts[doctor.Fail])
}
