package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/ethereum/go-ethereum/common"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/peerchain/peerchain/internal/node"
	"github.com/peerchain/peerchain/internal/params"
	"github.com/peerchain/peerchain/internal/ui"
	"github.com/peerchain/peerchain/internal/wallet"
)

// devCoinbase is the first account of the dev mnemonic: --dev mines to it.
const devCoinbase = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"

type nodeFlags struct {
	config, datadir, genesis string
	dev, mine                bool
	ui                       bool

	minerThreads  int
	minerCoinbase string
	minerGasLimit uint64
	minerExtra    string

	rpcAddr            string
	rpcVHosts          []string
	rpcCORS            []string
	rpcWSOrigins       []string
	rpcGasCap          uint64
	rpcEVMTimeout      time.Duration
	rpcTimeout         time.Duration
	rpcMaxRequests     int
	rpcHeavyLimit      int
	rpcBatchLimit      int
	rpcFilters         int
	rpcClientFilters   int
	rpcSubscriptions   int
	rpcWSSubscriptions int
	rpcLogRange        uint64
	rpcLogResults      int
	rpcUnprotected     bool
	rpcTxFeeCap        float64
	rpcProofs          int
	rpcWSConns         int
	rpcWSConnsPerIP    int
	rpcBodyLimit       int
	rpcBatchBytes      int

	provider               bool
	providerKeys           string
	providerRate           float64
	providerBurst          int
	providerSendRate       int
	providerTrustedProxies []string
	providerMinPeers       int
	providerMaxHeadAge     time.Duration
	providerProofWindow    uint64

	metrics bool

	poolPriceLimit   uint64
	poolPriceBump    uint64
	poolAccountSlots int
	poolGlobalSlots  int
	poolLifetime     time.Duration

	cacheMB      int
	stateHistory uint64

	p2pListen   []string
	bootnodes   []string
	noDHT       bool
	mdns        bool
	maxPeers    int
	banDuration time.Duration
	minWork     string
	fullBlocks  bool

	unlock, keystoreDir, passwordFile string
	insecureUnlock                    bool

	logLevel, logFormat string
}

func (f *nodeFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "TOML file of settings; keys are flag names (e.g. \"miner.threads = 2\"); flags and PEERCHAIN_* environment variables override it")
	fs.StringVar(&f.datadir, "datadir", node.DefaultDataDir(), "data directory: chain database, state and keys")
	fs.StringVar(&f.genesis, "genesis", "", "genesis JSON file (go-ethereum format); empty runs the embedded dev genesis (chain id 1337)")
	fs.BoolVar(&f.dev, "dev", false, "developer mode: mine at once on the dev genesis, rewards to the first dev account")
	fs.BoolVar(&f.mine, "mine", false, "mine blocks")
	fs.IntVar(&f.minerThreads, "miner.threads", 1, "proof-of-work sealing threads")
	fs.StringVar(&f.minerCoinbase, "miner.coinbase", "", "address that receives block rewards and fees (--dev: "+devCoinbase+")")
	fs.Uint64Var(&f.minerGasLimit, "miner.gaslimit", 30_000_000, "block gas limit the miner steers toward")
	fs.StringVar(&f.minerExtra, "miner.extradata", params.ClientName, "block extra data (at most 32 bytes)")
	fs.StringVar(&f.rpcAddr, "rpc", "127.0.0.1:8545", "JSON-RPC listen address for HTTP and WebSocket; \"off\" disables it")
	fs.StringSliceVar(&f.rpcVHosts, "rpc.vhosts", []string{"localhost", "127.0.0.1", "[::1]"}, "host names the RPC answers to in a request's Host header (comma separated, \"*\" for any; the --rpc host is always allowed): stops web pages from reaching the node by DNS rebinding")
	fs.StringSliceVar(&f.rpcCORS, "rpc.cors", nil, "browser origins allowed to call the RPC over HTTP from another origin (comma separated, \"*\" for any); other cross-origin calls get 403")
	fs.StringSliceVar(&f.rpcWSOrigins, "rpc.ws.origins", nil, "browser origins allowed to open a WebSocket from another origin (comma separated, \"*\" for any); clients that send no Origin and the node's own origin need no entry")
	fs.Uint64Var(&f.rpcGasCap, "rpc.gascap", 50_000_000, "gas cap of eth_call and eth_estimateGas")
	fs.DurationVar(&f.rpcEVMTimeout, "rpc.evmtimeout", 5*time.Second, "time limit of one eth_call, and of all the runs of one eth_estimateGas together")
	fs.DurationVar(&f.rpcTimeout, "rpc.timeout", 30*time.Second, "time budget of one HTTP request, a whole batch included (calls past it answer -32002 \"request timed out\")")
	fs.IntVar(&f.rpcMaxRequests, "rpc.maxrequests", runtime.GOMAXPROCS(0), "most HTTP requests (a batch is one) running at once, one per CPU by default; others wait, then get HTTP 429 \"server busy\"")
	fs.IntVar(&f.rpcHeavyLimit, "rpc.heavylimit", runtime.GOMAXPROCS(0), "most eth_call, eth_estimateGas and eth_getLogs running at once, one per CPU by default, half of them (at least 1) with --provider (lower it to keep cores for block import and mining); others wait, then get \"server busy\"")
	fs.IntVar(&f.rpcBatchLimit, "rpc.batchlimit", 1000, "most requests in one JSON-RPC batch")
	fs.IntVar(&f.rpcFilters, "rpc.filters", 10_000, "most polling filters (eth_newFilter and friends) installed at once")
	fs.IntVar(&f.rpcClientFilters, "rpc.clientfilters", 1_000, "most polling filters of one client (one IP address over HTTP, one WebSocket connection)")
	fs.IntVar(&f.rpcSubscriptions, "rpc.subscriptions", 10_000, "most WebSocket subscriptions open at once")
	fs.IntVar(&f.rpcWSSubscriptions, "rpc.ws.subscriptions", 100, "most subscriptions of one WebSocket connection")
	fs.Uint64Var(&f.rpcLogRange, "rpc.logrange", 10_000, "most blocks one eth_getLogs (or eth_getFilterLogs) may scan")
	fs.IntVar(&f.rpcLogResults, "rpc.logresults", 20_000, "most logs one eth_getLogs may return")
	fs.BoolVar(&f.rpcUnprotected, "rpc.allow-unprotected-txs", false, "accept transactions without EIP-155 replay protection")
	fs.Float64Var(&f.rpcTxFeeCap, "rpc.txfeecap", 1, "most fee in ether (gas × fee cap) of a transaction sent through eth_sendRawTransaction or eth_sendTransaction, or signed by eth_signTransaction; 0 for no cap")
	fs.IntVar(&f.rpcProofs, "rpc.proofs", min(runtime.GOMAXPROCS(0), 25), "most eth_getProof running at once, one per CPU (at most 25) by default; others wait, then get \"server busy\"")
	fs.IntVar(&f.rpcWSConns, "rpc.ws.conns", 500, "most WebSocket connections open at once; more get HTTP 429")
	fs.IntVar(&f.rpcWSConnsPerIP, "rpc.ws.connsperip", 50, "most WebSocket connections of one client address (an IPv6 address by its /64)")
	fs.IntVar(&f.rpcBodyLimit, "rpc.bodylimit", 5<<20, "largest HTTP request body and WebSocket message, in bytes")
	fs.IntVar(&f.rpcBatchBytes, "rpc.batchbytes", 25_000_000, "largest answer of one JSON-RPC batch, in bytes")
	fs.BoolVar(&f.provider, "provider", false, "serve the RPC as a public provider, as needed for an --rpc address beyond loopback: no admin_, personal_ or signing methods and no unlocked accounts (refused with --unlock and --dev), a rate limit per client and per transaction sender")
	fs.StringVar(&f.providerKeys, "provider.keys", "", "file of API keys, one \"name key [rate [burst]]\" a line (rate in cost units a second, or \"unlimited\"); a client sends its key as \"Authorization: Bearer KEY\" or as the URL path (http://node:8545/KEY); an unknown key gets 401; clients without one are limited by address (default: no keys)")
	fs.Float64Var(&f.providerRate, "provider.rate", 100, "cost units a second one client may spend (eth_blockNumber 1, eth_getBalance 2, eth_call 20, eth_estimateGas 40, a batch the sum); past it HTTP 429 with Retry-After, or -32005 per call over a WebSocket")
	fs.IntVar(&f.providerBurst, "provider.burst", 400, "most cost units one client may spend at once")
	fs.IntVar(&f.providerSendRate, "provider.sendrate", 60, "most transactions one sender may submit through eth_sendRawTransaction a minute")
	fs.StringSliceVar(&f.providerTrustedProxies, "provider.trustedproxies", nil, "reverse proxies (addresses or CIDR prefixes, comma separated) whose X-Forwarded-For header names the client; from anyone else the header is ignored (default: none)")
	fs.IntVar(&f.providerMinPeers, "provider.minpeers", 1, "least peers for GET /health to answer 200 (none needed with --p2p off)")
	fs.DurationVar(&f.providerMaxHeadAge, "provider.maxheadage", 2*time.Minute, "oldest head block (by its timestamp) for GET /health to answer 200")
	fs.Uint64Var(&f.providerProofWindow, "provider.proofwindow", 0, "blocks whose state eth_getProof can prove and reads can reach (default: 1024 with --provider, otherwise 0, the last 128)")
	fs.BoolVar(&f.ui, "ui", true, "serve the web UI (wallet, explorer, network view) at GET / on the RPC address; --ui=false turns it off")
	fs.BoolVar(&f.metrics, "metrics", true, "serve Prometheus metrics at GET /metrics on the RPC address (behind its Host check)")
	fs.Uint64Var(&f.poolPriceLimit, "txpool.pricelimit", 1, "lowest priority fee (wei per gas) the pool accepts")
	fs.Uint64Var(&f.poolPriceBump, "txpool.pricebump", 10, "fee increase (percent) needed to replace a pending transaction")
	fs.IntVar(&f.poolAccountSlots, "txpool.accountslots", 128, "most transactions one account may have in the pool")
	fs.IntVar(&f.poolGlobalSlots, "txpool.globalslots", 8192, "most transactions in the pool")
	fs.DurationVar(&f.poolLifetime, "txpool.lifetime", 3*time.Hour, "how long a transaction that cannot run yet is kept")
	fs.StringSliceVar(&f.p2pListen, "p2p", []string{"/ip4/127.0.0.1/tcp/30333", "/ip4/127.0.0.1/udp/30333/quic-v1"}, "peer-to-peer listen multiaddrs (comma separated); \"off\" runs the peer alone")
	fs.StringSliceVar(&f.bootnodes, "bootnodes", nil, "peers to join at start: multiaddrs ending in /p2p/<peer id> (comma separated)")
	fs.BoolVar(&f.noDHT, "p2p.nodht", false, "do not discover peers through the Kademlia DHT")
	fs.BoolVar(&f.mdns, "p2p.mdns", false, "discover peers on the local network by mDNS multicast (off by default)")
	fs.IntVar(&f.maxPeers, "maxpeers", 64, "most peers to stay connected to")
	fs.DurationVar(&f.banDuration, "p2p.banduration", time.Hour, "how long a misbehaving peer is banned")
	fs.BoolVar(&f.fullBlocks, "sync.fullblocks", false, "publish blocks whole instead of as compact blocks (header, short transaction ids, and the transactions peers likely lack); every peer still takes both")
	fs.StringVar(&f.minWork, "sync.minchainwork", "0", "least total difficulty (decimal or 0x hex) a chain needs before its blocks are downloaded or stored: set it to a known honest chain's work so a new peer spends nothing on cheap forks")
	fs.IntVar(&f.cacheMB, "cache", 64, "database block cache in MiB")
	fs.Uint64Var(&f.stateHistory, "state.history", 90_000, "blocks of state history kept: the deepest reorg the peer can follow")
	fs.StringVar(&f.unlock, "unlock", "", "keystore accounts to unlock for eth_accounts, eth_sendTransaction and eth_sign (comma-separated addresses or indexes; --dev unlocks the 20 dev accounts)")
	fs.StringVar(&f.keystoreDir, "keystore", "", "keystore of --unlock (default <datadir>/keystore)")
	fs.StringVar(&f.passwordFile, "password-file", "", "file whose first line is the passphrase of the --unlock accounts")
	fs.BoolVar(&f.insecureUnlock, "allow-insecure-unlock", false, "serve the whole API, --unlock accounts included, on an --rpc address beyond loopback without --provider: for a private network only")
	fs.StringVar(&f.logLevel, "log.level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log.format", "text", "log format: text or json")
}

func newNodeCmd() *cobra.Command {
	var f nodeFlags
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a full peer",
		Long: `Run a full peer: it holds the whole chain and state, validates every block and
transaction, mines when asked, and serves the Ethereum JSON-RPC API.

Settings come from flags, then PEERCHAIN_<FLAG> environment variables (dots and
dashes become underscores, e.g. PEERCHAIN_MINER_THREADS=2), then the --config
TOML file, then the defaults shown below.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applySettings(cmd.Flags(), os.Getenv); err != nil {
				return err
			}
			prog := newJobProgress(cmd, f.logFormat, "sync", "blocks")
			cfg, err := f.nodeConfig(cmd)
			if err != nil {
				return err
			}
			n, err := node.New(*cfg)
			if err != nil {
				return err
			}
			ctx, stop := context.WithCancel(cmd.Context())
			defer stop()
			go followSync(ctx, n, prog.reporter(cfg.Logger))
			return n.Run(ctx, nil)
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().SortFlags = false
	return cmd
}

// nodeConfig checks the flags and builds the node configuration.
func (f *nodeFlags) nodeConfig(cmd *cobra.Command) (*node.Config, error) {
	log, err := newLogger(cmd.ErrOrStderr(), f.logLevel, f.logFormat)
	if err != nil {
		return nil, err
	}
	cfg := &node.Config{DataDir: f.datadir, Logger: log}
	if f.genesis != "" {
		if cfg.Genesis, err = params.LoadGenesis(f.genesis); err != nil {
			return nil, err
		}
	}
	switch {
	case f.minerThreads < 1:
		return nil, fmt.Errorf("--miner.threads %d: must be at least 1", f.minerThreads)
	case len(f.minerExtra) > params.MaxExtraDataSize:
		return nil, fmt.Errorf("--miner.extradata %q: %d bytes, at most %d", f.minerExtra, len(f.minerExtra), params.MaxExtraDataSize)
	case f.cacheMB < 1:
		return nil, fmt.Errorf("--cache %d: must be at least 1 MiB", f.cacheMB)
	case f.rpcBatchLimit < 1:
		return nil, fmt.Errorf("--rpc.batchlimit %d: must be at least 1", f.rpcBatchLimit)
	case f.poolAccountSlots < 1 || f.poolGlobalSlots < f.poolAccountSlots:
		return nil, fmt.Errorf("--txpool.accountslots %d and --txpool.globalslots %d: need 1 ≤ accountslots ≤ globalslots", f.poolAccountSlots, f.poolGlobalSlots)
	case f.rpcEVMTimeout <= 0:
		return nil, fmt.Errorf("--rpc.evmtimeout %v: must be positive", f.rpcEVMTimeout)
	case f.rpcTimeout <= 0:
		return nil, fmt.Errorf("--rpc.timeout %v: must be positive", f.rpcTimeout)
	case f.rpcHeavyLimit < 1 || f.rpcMaxRequests < 1:
		return nil, fmt.Errorf("--rpc.maxrequests %d and --rpc.heavylimit %d: must be at least 1", f.rpcMaxRequests, f.rpcHeavyLimit)
	case f.rpcFilters < 1 || f.rpcClientFilters < 1:
		return nil, fmt.Errorf("--rpc.filters %d and --rpc.clientfilters %d: must be at least 1", f.rpcFilters, f.rpcClientFilters)
	case f.rpcLogRange < 1 || f.rpcLogResults < 1:
		return nil, fmt.Errorf("--rpc.logrange %d and --rpc.logresults %d: must be at least 1", f.rpcLogRange, f.rpcLogResults)
	case f.rpcSubscriptions < 1 || f.rpcWSSubscriptions < 1:
		return nil, fmt.Errorf("--rpc.subscriptions %d and --rpc.ws.subscriptions %d: must be at least 1", f.rpcSubscriptions, f.rpcWSSubscriptions)
	case f.rpcProofs < 1 || f.rpcWSConns < 1 || f.rpcWSConnsPerIP < 1:
		return nil, fmt.Errorf("--rpc.proofs %d, --rpc.ws.conns %d and --rpc.ws.connsperip %d: must be at least 1", f.rpcProofs, f.rpcWSConns, f.rpcWSConnsPerIP)
	case f.rpcBodyLimit < 1 || f.rpcBatchBytes < 1:
		return nil, fmt.Errorf("--rpc.bodylimit %d and --rpc.batchbytes %d: must be at least 1 byte", f.rpcBodyLimit, f.rpcBatchBytes)
	case !(f.rpcTxFeeCap >= 0) || math.IsInf(f.rpcTxFeeCap, 0):
		return nil, fmt.Errorf("--rpc.txfeecap %v: want ether, at least 0 (0: no cap)", f.rpcTxFeeCap)
	case !(f.providerRate > 0) || math.IsInf(f.providerRate, 0):
		return nil, fmt.Errorf("--provider.rate %v: want cost units a second above 0", f.providerRate)
	case f.providerBurst < 1 || f.providerSendRate < 1:
		return nil, fmt.Errorf("--provider.burst %d and --provider.sendrate %d: must be at least 1", f.providerBurst, f.providerSendRate)
	case f.providerMinPeers < 0:
		return nil, fmt.Errorf("--provider.minpeers %d: must not be negative", f.providerMinPeers)
	case f.providerMaxHeadAge <= 0:
		return nil, fmt.Errorf("--provider.maxheadage %v: must be positive", f.providerMaxHeadAge)
	case f.providerKeys != "" && !f.provider:
		return nil, fmt.Errorf("--provider.keys %s: API keys need --provider", f.providerKeys)
	case f.provider && f.unlock != "":
		return nil, errors.New("--provider with --unlock: a public provider must sign for nobody; start it without --unlock (a wallet signs on the user's side and sends with eth_sendRawTransaction)")
	case f.provider && f.dev:
		return nil, errors.New("--provider with --dev: --dev unlocks the 20 dev accounts, and a public provider must sign for nobody; start it without --dev (to mine, --mine --miner.coinbase ADDRESS)")
	case f.maxPeers < 1:
		return nil, fmt.Errorf("--maxpeers %d: must be at least 1", f.maxPeers)
	case f.banDuration <= 0:
		return nil, fmt.Errorf("--p2p.banduration %v: must be positive", f.banDuration)
	}
	work, err := parseWork(f.minWork)
	if err != nil {
		return nil, err
	}
	if len(f.p2pListen) == 1 && f.p2pListen[0] == "off" {
		cfg.P2P.Disabled = true
	} else {
		for _, a := range f.p2pListen {
			if _, err := multiaddr.NewMultiaddr(a); err != nil {
				return nil, fmt.Errorf("--p2p %q: not a multiaddr (e.g. /ip4/127.0.0.1/tcp/30333): %w", a, err)
			}
		}
		for _, b := range f.bootnodes {
			if _, err := peer.AddrInfoFromString(b); err != nil {
				return nil, fmt.Errorf("--bootnodes %q: want a multiaddr ending in /p2p/<peer id>: %w", b, err)
			}
		}
		cfg.P2P.Listen = f.p2pListen
		cfg.P2P.Bootnodes = f.bootnodes
		cfg.P2P.NoDHT = f.noDHT
		cfg.P2P.MDNS = f.mdns
		cfg.P2P.MaxPeers = f.maxPeers
		cfg.P2P.BanDuration = f.banDuration
		cfg.P2P.MinChainWork = work
		cfg.P2P.FullBlocks = f.fullBlocks
	}
	coinbase := f.minerCoinbase
	if f.dev {
		f.mine = true
		if coinbase == "" {
			coinbase = devCoinbase
		}
	}
	if coinbase != "" {
		if !common.IsHexAddress(coinbase) {
			return nil, fmt.Errorf("--miner.coinbase %q: not a 20-byte hex address", coinbase)
		}
		cfg.Miner.Coinbase = common.HexToAddress(coinbase)
	}
	cfg.Mine = f.mine
	cfg.Miner.Threads = f.minerThreads
	cfg.Miner.GasCeil = f.minerGasLimit
	cfg.Miner.Extra = []byte(f.minerExtra)
	if f.rpcAddr == "off" || f.rpcAddr == "" {
		cfg.RPCDisabled = true
	} else if !f.provider && !f.insecureUnlock && !loopbackAddr(f.rpcAddr) {
		return nil, fmt.Errorf("--rpc %s listens beyond loopback: whoever reaches it could use the node's whole API; add --provider to serve a public endpoint (rate limits, no accounts, no admin methods), or --allow-insecure-unlock on a private network only", f.rpcAddr)
	}
	f.providerConfig(cmd, cfg)
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
	cfg.RPC.MaxRequests = f.rpcMaxRequests
	cfg.RPC.HeavyLimit = f.rpcHeavyLimit
	cfg.RPC.BatchItems = f.rpcBatchLimit
	cfg.RPC.Filters = f.rpcFilters
	cfg.RPC.FiltersPerClient = f.rpcClientFilters
	cfg.RPC.Subscriptions = f.rpcSubscriptions
	cfg.RPC.SubscriptionsPerConn = f.rpcWSSubscriptions
	cfg.RPC.LogRange = f.rpcLogRange
	cfg.RPC.LogResults = f.rpcLogResults
	cfg.RPC.TxFeeCap = f.rpcTxFeeCap
	if f.rpcTxFeeCap == 0 {
		cfg.RPC.TxFeeCap = -1 // none (rpc.Config takes 0 for its default)
	}
	if f.provider && !cmd.Flags().Changed("rpc.heavylimit") {
		cfg.RPC.HeavyLimit = 0 // a provider's default: half the cores
	}
	cfg.RPC.ProofLimit = f.rpcProofs
	cfg.RPC.WSConns = f.rpcWSConns
	cfg.RPC.WSConnsPerIP = f.rpcWSConnsPerIP
	cfg.RPC.BodyLimit = f.rpcBodyLimit
	cfg.RPC.BatchResponseBytes = f.rpcBatchBytes
	cfg.RPC.NoMetrics = !f.metrics
	cfg.AllowUnprotectedTxs = f.rpcUnprotected
	cfg.Pool.MinTip = new(big.Int).SetUint64(f.poolPriceLimit)
	cfg.Pool.PriceBump = f.poolPriceBump
	cfg.Pool.AccountSlots = f.poolAccountSlots
	cfg.Pool.GlobalSlots = f.poolGlobalSlots
	cfg.Pool.Lifetime = f.poolLifetime
	cfg.CacheBytes = int64(f.cacheMB) << 20
	cfg.StateHistory = f.stateHistory
	accounts, err := f.unlockAccounts()
	if err != nil {
		return nil, err
	}
	if accounts != nil {
		cfg.Accounts = accounts
	}
	return cfg, nil
}

// providerConfig fills the provider settings: the switch, API keys,
// limits, trusted proxies, health thresholds and the proof window.
func (f *nodeFlags) providerConfig(cmd *cobra.Command, cfg *node.Config) {
	cfg.Provider = f.provider
	cfg.AllowInsecureUnlock = f.insecureUnlock
	cfg.ProviderKeys = f.providerKeys
	cfg.TrustedProxies = f.providerTrustedProxies
	cfg.RPC.ClientRate = f.providerRate
	cfg.RPC.ClientBurst = f.providerBurst
	cfg.RPC.SendRate = f.providerSendRate
	cfg.RPC.HealthMinPeers = f.providerMinPeers
	cfg.RPC.HealthMaxHeadAge = f.providerMaxHeadAge
	cfg.ProofWindow = f.providerProofWindow
	if f.provider && !cmd.Flags().Changed("provider.proofwindow") {
		cfg.ProofWindow = 1024
	}
}

// parseWork parses --sync.minchainwork.
func parseWork(s string) (*big.Int, error) {
	work, ok := new(big.Int).SetString(s, 0)
	if !ok || work.Sign() < 0 || work.BitLen() > 256 {
		return nil, fmt.Errorf("--sync.minchainwork %q: want a total difficulty between 0 and 2^256, decimal or 0x hex", s)
	}
	return work, nil
}

// loopbackAddr reports whether host:port listens on loopback only.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// unlockAccounts builds the node's unlocked accounts: the dev accounts
// with --dev, and the --unlock keystore accounts.
func (f *nodeFlags) unlockAccounts() (*wallet.Unlocked, error) {
	if !f.dev && f.unlock == "" {
		return nil, nil
	}
	u := wallet.NewUnlocked()
	if f.dev {
		if err := u.AddDev(params.DevMnemonic, params.DevAccounts); err != nil {
			return nil, err
		}
	}
	if f.unlock == "" {
		return u, nil
	}
	if f.rpcAddr != "off" && f.rpcAddr != "" && !f.insecureUnlock && !loopbackAddr(f.rpcAddr) {
		return nil, fmt.Errorf("--unlock with --rpc %s: unlocked accounts would sign for anyone who reaches that address; listen on loopback or add --allow-insecure-unlock", f.rpcAddr)
	}
	if f.passwordFile == "" {
		return nil, errors.New("--unlock needs --password-file (the passphrase of the accounts)")
	}
	data, err := os.ReadFile(f.passwordFile)
	if err != nil {
		return nil, fmt.Errorf("--password-file: %w", err)
	}
	pass := strings.SplitN(string(data), "\n", 2)[0]
	dir := f.keystoreDir
	if dir == "" {
		dir = filepath.Join(f.datadir, "keystore")
	}
	ks, err := wallet.NewKeystore(wallet.KeystoreConfig{Dir: dir})
	if err != nil {
		return nil, err
	}
	for _, ref := range strings.Split(f.unlock, ",") {
		acct, err := ks.Resolve(strings.TrimSpace(ref))
		if err != nil {
			return nil, fmt.Errorf("--unlock %q: %w", ref, err)
		}
		if err := u.Unlock(ks, acct.Address, strings.TrimRight(pass, "\r")); err != nil {
			return nil, fmt.Errorf("--unlock %s: %w", acct.Address.Hex(), err)
		}
	}
	return u, nil
}

// envName is the environment variable of a flag: PEERCHAIN_MINER_THREADS.
func envName(flag string) string {
	return "PEERCHAIN_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(flag))
}

// applySettings fills the flags not given on the command line from the
// environment, then from the --config TOML file.
func applySettings(fs *pflag.FlagSet, getenv func(string) string) error {
	return applySettingsFrom(fs, getenv, nil)
}

// applySettingsFrom is applySettings telling source, if not nil, where
// each flag's value came from (`config show`).
func applySettingsFrom(fs *pflag.FlagSet, getenv func(string) string, source func(flag, from string)) error {
	if source == nil {
		source = func(string, string) {}
	}
	var envErr error
	fs.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed {
			source(fl.Name, "flag")
		}
		if fl.Changed || envErr != nil {
			return
		}
		if v := getenv(envName(fl.Name)); v != "" {
			if err := fs.Set(fl.Name, v); err != nil {
				envErr = fmt.Errorf("environment %s=%q: %w", envName(fl.Name), v, err)
			}
			source(fl.Name, "env "+envName(fl.Name))
		}
	})
	if envErr != nil {
		return envErr
	}
	path, err := fs.GetString("config")
	if err != nil || path == "" {
		return nil
	}
	var raw map[string]any
	if _, err := toml.DecodeFile(path, &raw); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	settings := make(map[string]any)
	flatten("", raw, settings)
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fl := fs.Lookup(k)
		if fl == nil || k == "config" {
			return fmt.Errorf("config file %s: unknown setting %q (settings are the flag names of 'peerchain node --help')", path, k)
		}
		if fl.Changed {
			continue
		}
		if err := fs.Set(k, settingString(settings[k])); err != nil {
			return fmt.Errorf("config file %s: setting %q: %w", path, k, err)
		}
		source(k, "file "+path)
	}
	return nil
}

// flatten turns nested TOML tables into dotted keys: [miner] threads → miner.threads.
func flatten(prefix string, in map[string]any, out map[string]any) {
	for k, v := range in {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		if sub, ok := v.(map[string]any); ok {
			flatten(key, sub, out)
			continue
		}
		out[key] = v
	}
}

func settingString(v any) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ",")
	default:
		return fmt.Sprint(x)
	}
}

// webUI is the embedded web UI's handler, served at GET / on the RPC
// address of `node` and `light` (--ui).
func webUI() (http.Handler, error) {
	h, err := ui.New()
	if err != nil {
		return nil, fmt.Errorf("--ui: %w", err)
	}
	return h, nil
}
