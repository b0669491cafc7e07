package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"
)

// newKeyCmd makes peer keys ahead of a start, so that a peer's id (and so
// its bootnode multiaddr) is known before it runs: the container compose
// file and the Kubernetes manifests mount such keys at <datadir>/p2p/key.
func newKeyCmd() *cobra.Command {
	key := &cobra.Command{
		Use:   "key",
		Short: "Create a peer key, or print the peer id of one",
		Long: `A peer's libp2p key lives in <datadir>/p2p/key (created at first start when
missing). Make one ahead to know the peer id of a bootnode before it starts:

  peerchain key new peer0.key      # writes the key (mode 0600), prints its peer id
  peerchain key id peer0.key       # prints the peer id of a key file`,
	}
	key.AddCommand(&cobra.Command{
		Use:   "new FILE",
		Short: "Write a new Ed25519 peer key to FILE (which must not exist) and print its peer id",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, _, err := crypto.GenerateEd25519Key(nil)
			if err != nil {
				return fmt.Errorf("generate peer key: %w", err)
			}
			data, err := crypto.MarshalPrivateKey(k)
			if err != nil {
				return fmt.Errorf("encode peer key: %w", err)
			}
			if err := os.MkdirAll(filepath.Dir(args[0]), 0o700); err != nil {
				return fmt.Errorf("key file %s: %w", args[0], err)
			}
			f, err := os.OpenFile(args[0], os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("key file %s (an existing key is never overwritten): %w", args[0], err)
			}
			if _, err := f.Write(data); err != nil {
				f.Close()
				return fmt.Errorf("key file %s: %w", args[0], err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("key file %s: %w", args[0], err)
			}
			return printPeerID(cmd, k)
		},
	})
	key.AddCommand(&cobra.Command{
		Use:   "id FILE",
		Short: "Print the peer id of the key in FILE (e.g. <datadir>/p2p/key)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("key file: %w", err)
			}
			k, err := crypto.UnmarshalPrivateKey(data)
			if err != nil {
				return fmt.Errorf("key file %s: not a libp2p private key: %w", args[0], err)
			}
			return printPeerID(cmd, k)
		},
	})
	return key
}

func printPeerID(cmd *cobra.Command, k crypto.PrivKey) error {
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		return fmt.Errorf("peer id of the key: %w", err)
	}
	fmt.Fprintln(cmd.OutOrStdout(), id)
	return nil
}
