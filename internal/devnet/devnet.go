// Package devnet runs a network of peerchain peers on one machine: N
// processes of the same binary on 127.0.0.1, each with its own data dir,
// ports and peer key, bootstrapped to each other, the first M of them
// mining. The last P of them may serve as public providers (`--provider`),
// L light peers (`peerchain light`) may ask the providers and every full
// peer, and a liar (a JSON-RPC proxy the supervisor serves itself, in
// front of an honest provider, altering what light peers check) may be
// asked first by every light peer, so that its lies are seen caught. It
// owns the peers' processes, the liar, <dir>/devnet.json (what runs where)
// and the control socket <dir>/devnet.sock through which `peerchain devnet
// kill`, `restart`, `partition`, `heal` and `status` act on a running devnet.
//
// Using it:
//
//  1. New(Config) prepares the peers: data dirs, peer keys (so every peer
//     id is known before any process starts), ports, command lines.
//  2. Run starts them, serves the control socket, prints the peer table
//     once every RPC answers and a live status line every few seconds, and
//     stops every peer cleanly when its context ends.
//  3. Meanwhile, Dial(dir) gives a Client for the control commands.
//
// A partition is made by the peers themselves: each is told (admin_ RPC,
// served on loopback only) to refuse the peer ids outside its group, so the
// devnet needs no privileges. The network-namespace tests cut real links.
// A partition splits the full peers only: providers serve no admin_ RPC, so
// the peers of the other groups refuse them (and two providers must share a
// group); light peers keep every source and follow the heaviest chain any
// of them shows.
//
// devnet imports only params, wallet and p2p (for peer keys) of peerchain;
// it never imports node: peers are separate processes, driven through their
// command line and JSON-RPC.
package devnet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Defaults of the CLI and bounds of Config.
const (
	DefaultNodes  = 4
	DefaultMiners = 2
	MaxNodes      = 32
	MaxLight      = 32
	// DefaultRPCPort is where wallets and tools look (Anvil, Hardhat and
	// geth --dev answer there): the first peer's RPC port.
	DefaultRPCPort = 8545
	// DefaultP2PPort is `peerchain node`'s P2P port: the first peer's.
	DefaultP2PPort = 30333
)

// The kinds of peer in devnet.json.
const (
	// KindFull is a full peer (`peerchain node`) on loopback with the
	// whole API.
	KindFull = "full"
	// KindProvider is a full peer run with --provider: the public RPC
	// (method allow-list, rate limits, no admin_), here on loopback.
	KindProvider = "provider"
	// KindLight is a light peer (`peerchain light`).
	KindLight = "light"
	// KindLiar is the lying JSON-RPC proxy the supervisor serves itself.
	KindLiar = "liar"
)

// LiarName is the liar's name in the table, devnet.json and the status.
const LiarName = "liar"

// maxSocketPath is the longest path a unix socket can be bound to on Linux
// (108 bytes of sun_path, one of them the terminating NUL).
const maxSocketPath = 107

// Config configures a devnet.
type Config struct {
	// Binary is the peerchain binary each peer runs. Default: this
	// process's executable (os.Executable).
	Binary string
	// Dir holds every peer's data dir (Dir/peerN), devnet.json and the
	// control socket. Default: DefaultDir(), ~/.peerchain/devnet. It is
	// made absolute, so devnet.json reads the same from any directory.
	Dir string
	// Nodes is the number of peers, 1 to MaxNodes. Required: the CLI's
	// default is DefaultNodes; 0 is an error, not "the default".
	Nodes int
	// Miners is how many peers mine, 0 to Nodes: peer0 … peer{Miners-1},
	// each paying dev account i of params.DevMnemonic. The CLI's default
	// is DefaultMiners.
	Miners int
	// Providers is how many full peers run with --provider, 0 to Nodes:
	// the last ones, peer{Nodes-Providers} … peer{Nodes-1}, so that with
	// Providers ≤ Nodes-Miners none of them mines (one that does still
	// works: a provider may mine). Their RPC URLs are the light peers'
	// providers. Default 0.
	Providers int
	// Light is how many light peers run, 0 to MaxLight, each named
	// lightI, asking the providers (every full peer's RPC when Providers
	// is 0) and every full peer over P2P (--bootnodes, no DHT). It needs
	// at least one full peer. Default 0.
	Light int
	// Liar serves a lying provider on 127.0.0.1: a JSON-RPC proxy in
	// front of the light peers' first provider that alters what it
	// forwards (see Liar). Every light peer asks it first. It needs
	// Light ≥ 1.
	Liar bool
	// Reset wipes Dir first; otherwise the chains, keys and ports of an
	// earlier devnet in Dir are kept and continued.
	Reset bool
	// NodeArgs are appended to every full peer's command line (e.g.
	// --genesis FILE in tests).
	NodeArgs []string
	// LightArgs are appended to every light peer's command line (e.g. the
	// same --genesis FILE).
	LightArgs []string
	// Out receives the peer table and the live status lines. Default:
	// discarded.
	Out io.Writer
	// RPCPort is full peer 0's RPC port (HTTP and WebSocket): peer i gets
	// RPCPort+i, the light peers and the liar the ports after the full
	// peers'. A port that is taken is replaced by the earlier devnet's
	// port for that peer or a free one, and the table says so. 0: no
	// fixed port (the earlier devnet's, else a free one). The CLI's
	// default is DefaultRPCPort, where wallets look.
	RPCPort int
	// P2PPort is full peer 0's P2P (TCP) port, the others following as
	// for RPCPort. The CLI's default is DefaultP2PPort.
	P2PPort int
	// NetNS runs every full peer in a network namespace of its own, on a
	// bridge, so that faults are put on its link by the kernel (tc netem)
	// rather than by the peer at the libp2p layer (see netns.go). It
	// needs root, ip and tc, and takes no light peers or liar. Default
	// false.
	NetNS bool
	// NoUI serves no devnet page.
	NoUI bool
	// UIPort is the devnet page's port on 127.0.0.1. Default (0): the
	// port of an earlier devnet in Dir when it is free, else a free one.
	UIPort int
	// Quiet prints the table but no live status lines.
	Quiet bool
	// Interval is how often the live status line is printed. Default 3s.
	Interval time.Duration
	// StartTimeout bounds the wait for every peer's RPC at start. Default
	// 90s.
	StartTimeout time.Duration
	// Logger receives the supervisor's own log. Default: discarded.
	Logger *slog.Logger
}

// DefaultDir is ~/.peerchain/devnet (.peerchain/devnet when there is no
// home directory).
func DefaultDir() string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return filepath.Join(".peerchain", "devnet")
	}
	return filepath.Join(home, ".peerchain", "devnet")
}

func (c *Config) validate() error {
	if c.Light > 0 && c.Nodes < 1 {
		return fmt.Errorf("--light %d with --nodes %d: a light peer needs at least one full peer to ask", c.Light, c.Nodes)
	}
	if c.Nodes < 1 || c.Nodes > MaxNodes {
		return fmt.Errorf("--nodes %d: a devnet has 1 to %d peers", c.Nodes, MaxNodes)
	}
	if c.Miners < 0 || c.Miners > c.Nodes {
		return fmt.Errorf("--miners %d: must be between 0 and --nodes (%d)", c.Miners, c.Nodes)
	}
	if c.Providers < 0 || c.Providers > c.Nodes {
		return fmt.Errorf("--providers %d: must be between 0 and --nodes (%d): providers are full peers run with --provider", c.Providers, c.Nodes)
	}
	if c.Light < 0 || c.Light > MaxLight {
		return fmt.Errorf("--light %d: a devnet has 0 to %d light peers", c.Light, MaxLight)
	}
	if c.NetNS {
		if c.Light > 0 || c.Liar {
			return fmt.Errorf("--netns with --light %d or --liar: only full peers run in namespaces (light peers in namespaces are not built)", c.Light)
		}
		if err := CheckNetNS(); err != nil {
			return err
		}
	}
	if c.Liar && c.Light == 0 {
		return errors.New("--liar without --light: the liar lies to light peers, and there are none; add --light 1 or more")
	}
	for _, p := range []struct {
		flag string
		port int
	}{{"--rpc.port", c.RPCPort}, {"--p2p.port", c.P2PPort}} {
		if p.port < 0 || p.port > 65535 {
			return fmt.Errorf("%s %d: a TCP port is 0 (pick free ones) to 65535", p.flag, p.port)
		}
	}
	if c.UIPort < 0 || c.UIPort > 65535 {
		return fmt.Errorf("--ui.port %d: a TCP port is 0 (pick one) to 65535", c.UIPort)
	}
	if c.Dir == "" {
		c.Dir = DefaultDir()
	}
	abs, err := filepath.Abs(c.Dir)
	if err != nil {
		return fmt.Errorf("--dir %s: %w", c.Dir, err)
	}
	c.Dir = abs
	if n := len(SocketFile(c.Dir)); n > maxSocketPath {
		return fmt.Errorf("--dir %s: the control socket path would be %d bytes, over the %d a unix socket allows; use a shorter directory", c.Dir, n, maxSocketPath)
	}
	if c.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find the peerchain binary (os.Executable): %w", err)
		}
		c.Binary = exe
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Interval <= 0 {
		c.Interval = 3 * time.Second
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 90 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Peer describes one peer in devnet.json: the full peers (peer0 …), then
// the light peers (light0 …), then the liar.
type Peer struct {
	Name string `json:"name"`
	// Kind is KindFull, KindProvider, KindLight or KindLiar (a devnet.json
	// written before kinds existed has none: every peer was full).
	Kind string `json:"kind"`
	// PID is 0 for the liar: the supervisor serves it.
	PID      int      `json:"pid"`
	Alive    bool     `json:"alive"`
	RPC      string   `json:"rpc"`
	WS       string   `json:"ws,omitempty"`
	ID       string   `json:"peerId,omitempty"`
	P2P      []string `json:"p2p,omitempty"`
	DataDir  string   `json:"dataDir,omitempty"`
	Log      string   `json:"log"`
	Miner    bool     `json:"miner"`
	Coinbase string   `json:"coinbase,omitempty"`
	RPCPort  int      `json:"rpcPort"`
	P2PPort  int      `json:"p2pPort,omitempty"`
	// Providers are the URLs a light peer asks, in order (the liar first).
	Providers []string `json:"providers,omitempty"`
	// Fronts names the peer whose answers the liar forwards, altered.
	Fronts string `json:"fronts,omitempty"`
	// NetNS is the network namespace the peer runs in (Config.NetNS),
	// Addr its address there.
	NetNS string `json:"netns,omitempty"`
	Addr  string `json:"addr,omitempty"`
	// Fault is the delay, loss and bandwidth the peer puts on its own
	// traffic (`peerchain devnet delay|loss|bandwidth|clear`), nil for
	// none.
	Fault *Fault `json:"fault,omitempty"`
}

// full reports whether p is a full peer (a provider is one).
func (p *Peer) full() bool { return p.Kind == KindFull || p.Kind == KindProvider || p.Kind == "" }

// State is the content of devnet.json.
type State struct {
	Dir     string `json:"dir"`
	ChainID uint64 `json:"chainId"`
	// Control is the control socket's path.
	Control string `json:"control"`
	Peers   []Peer `json:"peers"`
	// Page is the devnet page's URL, PagePort its port (none with NoUI).
	Page     string `json:"page,omitempty"`
	PagePort int    `json:"pagePort,omitempty"`
	// Partition lists the groups of the partition in force, if any.
	Partition [][]string `json:"partition,omitempty"`
}

// StateFile is the path of devnet.json in dir.
func StateFile(dir string) string { return filepath.Join(dir, "devnet.json") }

// SocketFile is the path of the control socket in dir.
func SocketFile(dir string) string { return filepath.Join(dir, "devnet.sock") }

// ReadState reads a devnet's devnet.json.
func ReadState(dir string) (*State, error) {
	data, err := os.ReadFile(StateFile(dir))
	if err != nil {
		return nil, fmt.Errorf("no devnet in %s: %w", dir, err)
	}
	st := new(State)
	if err := json.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("%s: %w", StateFile(dir), err)
	}
	return st, nil
}

// writeState writes devnet.json atomically: a reader sees the old file or
// the new one, never a part.
func writeState(st *State) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode devnet.json: %w", err)
	}
	path := StateFile(st.Dir)
	tmp, err := os.CreateTemp(st.Dir, ".devnet.json.*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = tmp.Write(append(data, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
