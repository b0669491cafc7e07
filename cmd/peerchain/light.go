package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/peerchain/peerchain/internal/light"
	"github.com/peerchain/peerchain/internal/node"
	"github.com/peerchain/peerchain/internal/params"
)

// lightFlags are `peerchain light`'s flags: `peerchain node`'s where they
// mean the same.
type lightFlags struct {
	config, datadir, genesis string
	dev                      bool
	ui                       bool

	providers []string
	bootnodes []string
	p2pListen []string
	noDHT     bool

	rpcAddr       string
	rpcVHosts     []string
	rpcCORS       []string
	rpcWSOrigins  []string
	rpcGasCap     uint64
	rpcEVMTimeout time.Duration
	rpcTimeout    time.Duration

	sourceTimeout time.Duration
	dropFor       time.Duration
	minWork       string

	logLevel, logFormat string
}

func (f *lightFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "TOML file of settings; keys are flag names; flags and PEERCHAIN_* environment variables override it")
	fs.StringVar(&f.datadir, "datadir", filepath.Join(node.DefaultDataDir(), "light"), "data directory: the verified header store and the peer key")
	fs.StringVar(&f.genesis, "genesis", "", "genesis JSON file (go-ethereum format); empty runs the embedded dev genesis (chain id 1337)")
	fs.BoolVar(&f.dev, "dev", false, "the embedded dev chain (the default when --genesis is empty)")
	fs.StringSliceVar(&f.providers, "providers", nil, "JSON-RPC URLs of provider peers to ask (comma separated); every answer is checked, none is believed")
	fs.StringSliceVar(&f.bootnodes, "bootnodes", nil, "full peers to ask over P2P: multiaddrs ending in /p2p/<peer id> (comma separated)")
	fs.StringSliceVar(&f.p2pListen, "p2p", []string{"/ip4/127.0.0.1/tcp/0"}, "peer-to-peer listen multiaddrs, used with --bootnodes; \"off\" for providers only")
	fs.BoolVar(&f.noDHT, "p2p.nodht", false, "do not discover full peers through the Kademlia DHT")
	fs.StringVar(&f.rpcAddr, "rpc", "127.0.0.1:8545", "JSON-RPC listen address for HTTP and WebSocket: wallets point here unchanged")
	fs.StringSliceVar(&f.rpcVHosts, "rpc.vhosts", []string{"localhost", "127.0.0.1", "[::1]"}, "host names the RPC answers to in a request's Host header (\"*\" for any; the --rpc host is always allowed)")
	fs.StringSliceVar(&f.rpcCORS, "rpc.cors", nil, "browser origins allowed to call the RPC over HTTP from another origin (\"*\" for any)")
	fs.StringSliceVar(&f.rpcWSOrigins, "rpc.ws.origins", nil, "browser origins allowed to open a WebSocket from another origin (\"*\" for any)")
	fs.Uint64Var(&f.rpcGasCap, "rpc.gascap", 50_000_000, "gas cap of eth_call and eth_estimateGas (run locally)")
	fs.DurationVar(&f.rpcEVMTimeout, "rpc.evmtimeout", 5*time.Second, "time limit of one eth_call, and of all the runs of one eth_estimateGas together")
	fs.BoolVar(&f.ui, "ui", true, "serve the web UI (wallet, explorer, network view) at GET / on the RPC address; --ui=false turns it off")
	fs.DurationVar(&f.rpcTimeout, "rpc.timeout", 30*time.Second, "time budget of one HTTP request, a whole batch included")
	fs.DurationVar(&f.sourceTimeout, "source.timeout", 10*time.Second, "time limit of one request to a source")
	fs.DurationVar(&f.dropFor, "source.dropduration", 10*time.Minute, "how long a source caught lying, withholding or failing three times in a row is not asked")
	fs.StringVar(&f.minWork, "sync.minchainwork", "0", "least total difficulty (decimal or 0x hex) a chain needs before its headers are stored")
	fs.StringVar(&f.logLevel, "log.level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log.format", "text", "log format: text or json")
}

func newLightCmd() *cobra.Command {
	var f lightFlags
	cmd := &cobra.Command{
		Use:   "light",
		Short: "Run a light peer: headers only, every answer checked",
		Long: `Run a light peer. It keeps only the header chain, which it downloads and
verifies itself (links, every header rule, difficulty, proof of work),
following the heaviest chain any source shows. It serves the full peer's
JSON-RPC (on 127.0.0.1:8545 by default, so wallets work unchanged) and checks
every answer its sources give against its headers: blocks against the
transactions root, receipts against the receipts root, balances, nonces, code
and storage against the state root by Merkle proofs; eth_call runs locally
over proven state. A source caught lying is dropped and another is asked; when
none can prove an answer, the caller gets an error, never an unchecked answer.

Sources are provider URLs (--providers) and full peers over P2P (--bootnodes,
the DHT).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applySettings(cmd.Flags(), os.Getenv); err != nil {
				return err
			}
			cfg, err := f.lightConfig(cmd)
			if err != nil {
				return err
			}
			l, err := light.New(cmd.Context(), *cfg)
			if err != nil {
				return err
			}
			return l.Run(cmd.Context())
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().SortFlags = false
	return cmd
}

// lightConfig checks the flags and builds the light peer's configuration.
func (f *lightFlags) lightConfig(cmd *cobra.Command) (*light.Config, error) {
	log, err := newLogger(cmd.ErrOrStderr(), f.logLevel, f.logFormat)
	if err != nil {
		return nil, err
	}
	cfg := &light.Config{DataDir: f.datadir, Logger: log, Providers: f.providers,
		SourceTimeout: f.sourceTimeout, DropDuration: f.dropFor}
	if f.genesis != "" {
		if f.dev {
			return nil, fmt.Errorf("--dev and --genesis %s: choose one", f.genesis)
		}
		if cfg.Genesis, err = params.LoadGenesis(f.genesis); err != nil {
			return nil, err
		}
	}
	for _, u := range f.providers {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "ws://") && !strings.HasPrefix(u, "wss://") {
			return nil, fmt.Errorf("--providers %q: want an http(s):// or ws(s):// URL", u)
		}
	}
	switch {
	case f.sourceTimeout <= 0:
		return nil, fmt.Errorf("--source.timeout %v: must be positive", f.sourceTimeout)
	case f.dropFor <= 0:
		return nil, fmt.Errorf("--source.dropduration %v: must be positive", f.dropFor)
	case f.rpcEVMTimeout <= 0 || f.rpcTimeout <= 0:
		return nil, fmt.Errorf("--rpc.evmtimeout %v and --rpc.timeout %v: must be positive", f.rpcEVMTimeout, f.rpcTimeout)
	}
	if cfg.MinChainWork, err = parseWork(f.minWork); err != nil {
		return nil, err
	}
	if !(len(f.p2pListen) == 1 && f.p2pListen[0] == "off") {
		for _, a := range f.p2pListen {
			if _, err := multiaddr.NewMultiaddr(a); err != nil {
				return nil, fmt.Errorf("--p2p %q: not a multiaddr (e.g. /ip4/127.0.0.1/tcp/30334): %w", a, err)
			}
		}
		for _, b := range f.bootnodes {
			if _, err := peer.AddrInfoFromString(b); err != nil {
				return nil, fmt.Errorf("--bootnodes %q: want a multiaddr ending in /p2p/<peer id>: %w", b, err)
			}
		}
		if len(f.bootnodes) > 0 { // the DHT is joined through them
			cfg.P2P = &light.P2PConfig{Listen: f.p2pListen, Bootnodes: f.bootnodes, NoDHT: f.noDHT}
		}
	} else if len(f.bootnodes) > 0 {
		return nil, fmt.Errorf("--bootnodes with --p2p off: full peers over P2P need a listen address")
	}
	if len(f.providers) == 0 && len(f.bootnodes) == 0 {
		return nil, fmt.Errorf("no sources: give provider URLs (--providers http://…) or full peers (--bootnodes /ip4/…/p2p/…)")
	}
	if f.rpcAddr == "off" || f.rpcAddr == "" {
		cfg.RPCDisabled = true
	} else if !loopbackAddr(f.rpcAddr) {
		return nil, fmt.Errorf("--rpc %s: a light peer serves its own user; it listens on loopback only", f.rpcAddr)
	}
	cfg.RPC.Addr = f.rpcAddr
	if f.ui && !cfg.RPCDisabled {
		if cfg.RPC.UI, err = webUI(); err != nil {
			return nil, err
		}
	}
	cfg.RPC.VirtualHosts = f.rpcVHosts
	cfg.RPC.CORSOrigins = f.rpcCORS
	cfg.RPC.WSOrigins = f.rpcWSOrigins
	cfg.RPC.GasCap = f.rpcGasCap
	cfg.RPC.EVMTimeout = f.rpcEVMTimeout
	cfg.RPC.RequestTimeout = f.rpcTimeout
	return cfg, nil
}
