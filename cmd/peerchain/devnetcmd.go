package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/peerchain/peerchain/internal/devnet"
)

func defaultDevnetDir() string { return devnet.DefaultDir() }

// devnetPortsEnv set to "random" makes the devnet's default ports 0 (free
// ones), so that devnets run by tests at once never contend for 8545.
const devnetPortsEnv = "PEERCHAIN_DEVNET_PORTS"

func newDevnetCmd() *cobra.Command {
	var (
		cfg       devnet.Config
		logLevel  string
		logFormat string
		dir       string
		ui        bool
	)
	cmd := &cobra.Command{
		Use:   "devnet",
		Short: "Run N peers on this machine and watch the network work, fail and heal",
		Long: `Run a network of peerchain peers on this machine: N processes of this binary on
127.0.0.1, each with its own data dir, ports and peer key, bootstrapped to each
other; the first M mine (rewards to the first dev accounts). The command prints
a table of the peers and a live status line, writes <dir>/devnet.json, and stops
every peer cleanly on Ctrl-C. An existing devnet in <dir> is continued (use
--reset for a fresh one). peer0's RPC is http://127.0.0.1:8545 (WebSocket on
the same port), where wallets look; peer1 is on 8546, and so on (--rpc.port,
--p2p.port; a port in use is replaced by a free one and the table says so).

While it runs, from another terminal:

  peerchain devnet kill peer2          # SIGKILL a peer
  peerchain devnet restart peer2       # start it again (it catches up)
  peerchain devnet partition peer0,peer1 peer2,peer3   # cut the network in two
  peerchain devnet heal                # join it again: the heaviest chain wins
  peerchain devnet status              # every peer's head and fault
  peerchain devnet delay peer2 200ms 20ms   # a slow link: watch forks grow
  peerchain devnet loss peer2 5%       # lose 5% of its gossip messages
  peerchain devnet bandwidth peer2 1mbit
  peerchain devnet clear peer2

Each peer's JSON-RPC URL is in the table and in devnet.json, and so is the
devnet page (page: http://127.0.0.1:PORT/): the graph of the peers and their
connections, each peer's head, blocks travelling as they propagate, forks drawn
as branches until they resolve, and buttons for kill, restart, partition and
heal.

Light peers and lies (--light, --providers, --liar):

  peerchain devnet --nodes 3 --miners 1 --providers 1 --light 2 --liar

runs peer2 as a public provider (--provider: method allow-list, rate limits;
the last --providers full peers are the providers), two light peers (light0,
light1: peerchain light asking the providers' RPC URLs, or every full peer's
when --providers is 0, and every full peer over P2P) and a liar: a JSON-RPC
proxy this command serves on 127.0.0.1, in front of the first provider, that
alters proofs, code, receipts, transactions and block bodies. Every light peer
asks the liar first, catches its lies against its verified headers, drops it
(logging "Dropped a source" with the evidence) and answers from an honest
source. The live status line asks each light peer for a balance, so the liar
is asked, and caught, without you doing anything.

kill and restart work on light peers too. A partition splits the full peers
only: light peers keep asking every source, and providers (no admin_ RPC) are
refused by the peers of the other groups, so the providers must share a group.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(cmd.ErrOrStderr(), logLevel, logFormat)
			if err != nil {
				return err
			}
			cfg.Dir, cfg.Logger, cfg.Out, cfg.NoUI = dir, log, cmd.OutOrStdout(), !ui
			if os.Getenv(devnetPortsEnv) == "random" {
				if !cmd.Flags().Changed("rpc.port") {
					cfg.RPCPort = 0
				}
				if !cmd.Flags().Changed("p2p.port") {
					cfg.P2PPort = 0
				}
			}
			if !cmd.Flags().Changed("miners") {
				cfg.Miners = min(cfg.Miners, cfg.Nodes) // --nodes 1 mines on its one peer
			}
			s, err := devnet.New(cfg)
			if err != nil {
				return err
			}
			return s.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Nodes, "nodes", devnet.DefaultNodes, fmt.Sprintf("number of full peers (1 to %d)", devnet.MaxNodes))
	f.IntVar(&cfg.Miners, "miners", devnet.DefaultMiners, "how many of the peers mine (at most --nodes)")
	f.IntVar(&cfg.Providers, "providers", 0, "how many full peers run as public providers (--provider): the last ones; their RPC URLs are the light peers' providers (0 to --nodes; default 0, none)")
	f.IntVar(&cfg.Light, "light", 0, fmt.Sprintf("number of light peers, asking the providers (every full peer when --providers is 0) and every full peer over P2P (0 to %d; default 0, none)", devnet.MaxLight))
	f.BoolVar(&cfg.Liar, "liar", false, "serve a lying provider in front of the first provider, asked first by every light peer, to watch its lies caught (needs --light; default off)")
	f.BoolVar(&cfg.NetNS, "netns", false, "run each full peer in a network namespace of its own, on a bridge (10.213.0.0/24), so that delay, loss and bandwidth are put on its link by the kernel (tc netem; tbf for bandwidth alone) instead of at the libp2p layer; RPC stays on 127.0.0.1 (forwarded); needs root, ip and tc; no --light or --liar (default off)")
	f.BoolVar(&cfg.Reset, "reset", false, "wipe the devnet directory first")
	f.BoolVar(&ui, "ui", true, "serve the devnet page (the graph of peers, blocks propagating, forks; kill, restart, partition, heal) on 127.0.0.1")
	f.IntVar(&cfg.UIPort, "ui.port", 0, "port of the devnet page on 127.0.0.1 (default 0: the port of the earlier run in --dir, else a free one)")
	f.IntVar(&cfg.RPCPort, "rpc.port", devnet.DefaultRPCPort, "RPC port (HTTP and WebSocket) of peer0 on 127.0.0.1, where wallets look; the other peers take the next ones; a port in use is replaced by a free one (said in the table); 0 picks free ports (environment "+devnetPortsEnv+"=random sets both ports to 0)")
	f.IntVar(&cfg.P2PPort, "p2p.port", devnet.DefaultP2PPort, "P2P (TCP) port of peer0 on 127.0.0.1; the other peers take the next ones; 0 picks free ports")
	f.BoolVar(&cfg.Quiet, "quiet", false, "print the peer table but no live status lines")
	f.StringSliceVar(&cfg.NodeArgs, "node-args", nil, "extra flags for every full peer, e.g. --node-args=--miner.threads=2")
	f.StringSliceVar(&cfg.LightArgs, "light-args", nil, "extra flags for every light peer, e.g. --light-args=--source.dropduration=1m")
	f.StringVar(&logLevel, "log.level", "warn", "log level of the supervisor: debug, info, warn or error")
	f.StringVar(&logFormat, "log.format", "text", "log format of the supervisor: text or json (each peer logs JSON to <dir>/<peer>/node.log)")
	cmd.PersistentFlags().StringVar(&dir, "dir", defaultDevnetDir(), "devnet directory: peers' data dirs, devnet.json, control socket")

	dial := func() (*devnet.Client, error) { return devnet.Dial(dir) }
	one := func(use, short string, fn func(*devnet.Client, string) error) *cobra.Command {
		return &cobra.Command{
			Use: use + " NAME", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := dial()
				if err != nil {
					return err
				}
				return fn(c, args[0])
			},
		}
	}
	cmd.AddCommand(
		one("kill", "Kill a peer of the running devnet (SIGKILL)", (*devnet.Client).Kill),
		one("restart", "Restart a peer of the running devnet", (*devnet.Client).Restart),
		&cobra.Command{
			Use:   "partition GROUP GROUP...",
			Short: "Cut the running devnet into groups (comma-separated peer names) until heal",
			Args:  cobra.MinimumNArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				groups := make([][]string, len(args))
				for i, a := range args {
					for _, n := range strings.Split(a, ",") {
						if n = strings.TrimSpace(n); n != "" {
							groups[i] = append(groups[i], n)
						}
					}
				}
				c, err := dial()
				if err != nil {
					return err
				}
				return c.Partition(groups)
			},
		},
		&cobra.Command{
			Use: "heal", Short: "Join a partitioned devnet again", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				c, err := dial()
				if err != nil {
					return err
				}
				return c.Heal()
			},
		},
		newDevnetStatusCmd(dial),
	)
	cmd.AddCommand(newDevnetFaultCmds(dial)...)
	return cmd
}

// newDevnetFaultCmds are delay, loss, bandwidth and clear: faults on one
// full peer's link, applied by the peer itself at the libp2p layer.
func newDevnetFaultCmds(dial func() (*devnet.Client, error)) []*cobra.Command {
	fault := func(use, short, long string, args cobra.PositionalArgs) *cobra.Command {
		kind, _, _ := strings.Cut(use, " ")
		return &cobra.Command{
			Use: use, Short: short, Long: long, Args: args,
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := dial()
				if err != nil {
					return err
				}
				return c.Fault(devnet.FaultRequest{Name: args[0], Kind: kind, Args: args[1:]})
			},
		}
	}
	const how = `The peer shapes its own traffic (admin_setShape), at the libp2p layer, whole
messages at a time: every gossip message it receives or publishes and every
request or response it sends or receives crosses its link. Faults add up
(delay, loss and bandwidth at once); "clear" removes them all, and a restarted
peer gets its faults again. Providers and light peers cannot be given one.
` + "`peerchain devnet status`" + ` and the devnet page show them.`
	return []*cobra.Command{
		fault("delay NAME DELAY [JITTER]", "Delay every message in and out of a peer (e.g. 200ms 20ms; 0 removes it)",
			`Delay every message crossing the peer's link, in either direction, by DELAY
± JITTER (uniform): a request/response round trip costs two delays, as netem
on both ends of a link would.

`+how, cobra.RangeArgs(2, 3)),
		fault("loss NAME PERCENT", "Lose a share of a peer's gossip messages (e.g. 5%; 0 removes it)",
			`Lose PERCENT of the gossip messages (blocks, transactions) the peer receives
or publishes. A lost block is learnt later by sync, when a child or a peer's
head names it. Requests and responses are not lost (TCP and QUIC would
retransmit them): they see the delay and the bandwidth only.

`+how, cobra.ExactArgs(2)),
		fault("bandwidth NAME RATE", "Limit a peer's link (tc units: 1mbit, 512kbit, 100kbps; 0 removes it)",
			`Make the peer's link a queue of RATE in each direction: a message waits for
the ones before it, then its size over RATE.

`+how, cobra.ExactArgs(2)),
		fault("clear NAME", "Remove every fault from a peer's link", how, cobra.ExactArgs(1)),
	}
}

func newDevnetStatusCmd(dial func() (*devnet.Client, error)) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use: "status", Short: "Show every peer of the running devnet and its head", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := dial()
			if err != nil {
				return err
			}
			st, err := c.Status()
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tKIND\tALIVE\tPID\tHEAD\tHASH\tPEERS\tMINER\tRPC\tFAULT\tLIES")
			for _, p := range st {
				if p.Kind == devnet.KindLiar {
					fmt.Fprintf(w, "%s\t%s\t%v\t-\t-\t-\t-\t-\t%s\t-\tfronts %s, caught %d×\n", p.Name, p.Kind, p.Alive, p.RPC, p.Fronts, p.Caught)
					continue
				}
				fault := "-"
				if p.Fault != nil {
					fault = p.Fault.Text
				}
				fmt.Fprintf(w, "%s\t%s\t%v\t%d\t%d\t%s\t%d\t%v\t%s\t%s\t%s\n", p.Name, p.Kind, p.Alive, p.PID, p.Head, p.HeadHash.TerminalString(), p.Peers, p.Miner, p.RPC, fault, dropsNote(p))
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// dropsNote tells, for a light peer, the sources it dropped and the latest
// evidence; "-" for a full peer.
func dropsNote(p devnet.PeerStatus) string {
	switch {
	case p.Kind != devnet.KindLight:
		return "-"
	case p.LastDrop == nil:
		return "dropped none"
	default:
		return fmt.Sprintf("dropped %d, last %s: %s", p.Dropped, p.LastDrop.Source, p.LastDrop.Evidence)
	}
}
