package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// newHealthCmd asks a node's GET /health: a container's HEALTHCHECK, where
// the image (FROM scratch) has no curl.
func newHealthCmd() *cobra.Command {
	var url string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Ask a node's GET /health; exit 0 when it answers 200, 1 otherwise",
		Long: `Ask a node's GET /health and print the answer: healthy (200) when no sync runs,
it has at least --provider.minpeers peers and its head is younger than
--provider.maxheadage; otherwise 503 with the reasons. Exits non-zero unless
the node answers 200 (a container's HEALTHCHECK).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(url, "/")+"/health", nil)
			if err != nil {
				return fmt.Errorf("--url %q: %w", url, err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("no node reachable at %s: %w", url, err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			if err != nil {
				return fmt.Errorf("health answer of %s: %w", url, err)
			}
			fmt.Fprint(cmd.OutOrStdout(), string(body))
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s/health answered %s", url, resp.Status)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "http://127.0.0.1:8545", "the node's RPC address")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "time limit of the request")
	return cmd
}
