// Package devnet runs a network of peerchain peers on one machine: N
// processes of the same binary on 127.0.0.1, each with its own data dir,
// ports and peer key, bootstrapped to each other, some of them mining. It
// writes <dir>/devnet.json describing every peer and serves a control
// socket (<dir>/devnet.sock) through which `peerchain devnet kill`,
// `restart`, `partition` and `heal` act on the running devnet.
//
// A partition is made by the peers themselves: each is told (admin RPC,
// loopback only) to refuse the peer ids outside its group, so the devnet
// needs no privileges. The network-namespace tests cut real links instead.
//
// devnet imports params, wallet and p2p (for peer keys) of peerchain; it
// never imports node: peers are separate processes.
package devnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	lpeer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerchain/peerchain/internal/p2p"
	"github.com/peerchain/peerchain/internal/params"
	"github.com/peerchain/peerchain/internal/wallet"
)

// Config configures a devnet; zero fields take the defaults shown.
type Config struct {
	// Binary is the peerchain binary each peer runs. Default: this
	// process's executable.
	Binary string
	// Dir holds every peer's data dir, devnet.json and the control socket.
	// Required.
	Dir string
	// Nodes is the number of peers, 1 to 32. Default 4.
	Nodes int
	// Miners is how many of them mine (the first ones). Default 2 (or
	// Nodes if fewer).
	Miners int
	// Reset wipes Dir first; otherwise an existing devnet's chains are
	// kept and continued.
	Reset bool
	// NodeArgs are appended to every peer's command line.
	NodeArgs []string
	// Out receives the peer table and the live status lines.
	Out io.Writer
	// Quiet prints the table but no live status lines.
	Quiet bool
	// Interval is how often the live status line is printed. Default 3s.
	Interval time.Duration
	// Logger. Default: discarded.
	Logger *slog.Logger
}

// MaxNodes bounds the size of a devnet.
const MaxNodes = 32

func (c *Config) validate() error {
	if c.Dir == "" {
		return errors.New("devnet: a directory is required (--dir)")
	}
	if c.Nodes == 0 {
		c.Nodes = 4
	}
	if c.Nodes < 1 || c.Nodes > MaxNodes {
		return fmt.Errorf("--nodes %d: a devnet has 1 to %d peers", c.Nodes, MaxNodes)
	}
	if c.Miners == 0 {
		c.Miners = min(2, c.Nodes)
	}
	if c.Miners < 0 || c.Miners > c.Nodes {
		return fmt.Errorf("--miners %d: between 0 and --nodes (%d)", c.Miners, c.Nodes)
	}
	if c.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("devnet: find the peerchain binary: %w", err)
		}
		c.Binary = exe
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Interval == 0 {
		c.Interval = 3 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Peer describes one peer in devnet.json.
type Peer struct {
	Name     string   `json:"name"`
	PID      int      `json:"pid"`
	Alive    bool     `json:"alive"`
	RPC      string   `json:"rpc"`
	WS       string   `json:"ws"`
	ID       string   `json:"peerId"`
	P2P      []string `json:"p2p"`
	DataDir  string   `json:"dataDir"`
	Log      string   `json:"log"`
	Miner    bool     `json:"miner"`
	Coinbase string   `json:"coinbase,omitempty"`
	RPCPort  int      `json:"rpcPort"`
	P2PPort  int      `json:"p2pPort"`
}

// State is the content of devnet.json.
type State struct {
	Dir       string     `json:"dir"`
	ChainID   uint64     `json:"chainId"`
	Control   string     `json:"control"`
	Peers     []Peer     `json:"peers"`
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

// proc is one running (or stopped) peer process.
type proc struct {
	info Peer
	args []string
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
	// stopping marks an exit the supervisor asked for.
	stopping bool
}

// Supervisor runs a devnet.
type Supervisor struct {
	cfg Config
	log *slog.Logger
	mu  struct {
		sync.Mutex
		peers     []*proc
		partition [][]string
	}
}

// New prepares a devnet (data dirs, keys, ports); Run starts it.
func New(cfg Config) (*Supervisor, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Supervisor{cfg: cfg, log: cfg.Logger}
	if err := s.prepare(); err != nil {
		return nil, err
	}
	return s, nil
}

// prepare creates every peer's data dir and key and picks its ports,
// keeping the ports of an existing devnet in the same dir.
func (s *Supervisor) prepare() error {
	if s.cfg.Reset {
		if err := os.RemoveAll(s.cfg.Dir); err != nil {
			return fmt.Errorf("reset %s: %w", s.cfg.Dir, err)
		}
	}
	if err := os.MkdirAll(s.cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", s.cfg.Dir, err)
	}
	if conn, err := net.Dial("unix", SocketFile(s.cfg.Dir)); err == nil {
		conn.Close()
		return fmt.Errorf("a devnet is already running in %s (stop it, or use another --dir)", s.cfg.Dir)
	}
	old, _ := ReadState(s.cfg.Dir)
	for i := 0; i < s.cfg.Nodes; i++ {
		name := fmt.Sprintf("peer%d", i)
		dir := filepath.Join(s.cfg.Dir, name)
		key, err := p2p.LoadOrCreateKey(filepath.Join(dir, "p2p", "key"))
		if err != nil {
			return err
		}
		id, err := lpeer.IDFromPrivateKey(key)
		if err != nil {
			return fmt.Errorf("peer id of %s: %w", name, err)
		}
		rpcPort, p2pPort := 0, 0
		if old != nil && i < len(old.Peers) && old.Peers[i].Name == name {
			rpcPort, p2pPort = old.Peers[i].RPCPort, old.Peers[i].P2PPort
		}
		if rpcPort == 0 || !portFree(rpcPort) {
			if rpcPort, err = freePort(); err != nil {
				return err
			}
		}
		if p2pPort == 0 || !portFree(p2pPort) {
			if p2pPort, err = freePort(); err != nil {
				return err
			}
		}
		info := Peer{
			Name: name, ID: id.String(), DataDir: dir, Log: filepath.Join(dir, "node.log"),
			RPCPort: rpcPort, P2PPort: p2pPort,
			RPC: fmt.Sprintf("http://127.0.0.1:%d", rpcPort), WS: fmt.Sprintf("ws://127.0.0.1:%d", rpcPort),
			P2P: []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", p2pPort, id)},
		}
		if i < s.cfg.Miners {
			k, err := wallet.DevKey(params.DevMnemonic, i)
			if err != nil {
				return err
			}
			info.Miner, info.Coinbase = true, crypto.PubkeyToAddress(k.PublicKey).Hex()
		}
		s.mu.peers = append(s.mu.peers, &proc{info: info})
	}
	for _, p := range s.mu.peers {
		var boot []string
		for _, o := range s.mu.peers {
			if o != p {
				boot = append(boot, o.info.P2P...)
			}
		}
		p.args = []string{"node", "--datadir", p.info.DataDir,
			"--rpc", fmt.Sprintf("127.0.0.1:%d", p.info.RPCPort),
			"--p2p", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", p.info.P2PPort),
			"--log.format", "json"}
		if len(boot) > 0 {
			p.args = append(p.args, "--bootnodes", strings.Join(boot, ","))
		}
		if p.info.Miner {
			p.args = append(p.args, "--mine", "--miner.coinbase", p.info.Coinbase)
		}
		p.args = append(p.args, s.cfg.NodeArgs...)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// Run starts every peer and the control socket, prints the peer table and
// live status lines, and stops every peer cleanly when ctx ends.
func (s *Supervisor) Run(ctx context.Context) error {
	ln, err := s.listenControl()
	if err != nil {
		return err
	}
	defer os.Remove(SocketFile(s.cfg.Dir))
	srvDone := s.serveControl(ln)
	defer func() { ln.Close(); <-srvDone }()
	defer s.stopAll()

	s.mu.Lock()
	for _, p := range s.mu.peers {
		if err := s.startLocked(p); err != nil {
			s.mu.Unlock()
			return err
		}
	}
	s.writeStateLocked()
	s.mu.Unlock()

	readyCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
	err = s.waitReady(readyCtx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	s.printTable()
	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(s.cfg.Out, "Stopping the devnet…")
			return nil
		case <-tick.C:
			if !s.cfg.Quiet {
				s.printStatus(ctx)
			}
		}
	}
}

// startLocked launches p's process.
func (s *Supervisor) startLocked(p *proc) error {
	f, err := os.OpenFile(p.info.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open log of %s: %w", p.info.Name, err)
	}
	cmd := exec.Command(s.cfg.Binary, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group: a Ctrl-C in the terminal reaches only the
	// supervisor, which then stops the peers in order; if the supervisor
	// dies, the kernel sends its peers SIGTERM (a clean stop).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.info.Name, err)
	}
	p.cmd, p.log, p.done, p.stopping = cmd, f, make(chan struct{}), false
	p.info.PID, p.info.Alive = cmd.Process.Pid, true
	s.log.Info("Started peer", "name", p.info.Name, "pid", p.info.PID, "rpc", p.info.RPC)
	go func(p *proc, cmd *exec.Cmd, done chan struct{}) {
		err := cmd.Wait()
		s.mu.Lock()
		if p.cmd == cmd {
			p.info.Alive = false
			if !p.stopping {
				s.log.Warn("Peer exited on its own", "name", p.info.Name, "err", err)
				fmt.Fprintf(s.cfg.Out, "%s exited on its own (%v); see %s\n", p.info.Name, err, p.info.Log)
			}
			s.writeStateLocked()
		}
		s.mu.Unlock()
		p.log.Close()
		close(done)
	}(p, cmd, p.done)
	return nil
}

// stop ends p's process: SIGINT, then SIGKILL after 20 s (or at once with
// kill set).
func (s *Supervisor) stop(p *proc, kill bool) {
	s.mu.Lock()
	cmd, done := p.cmd, p.done
	if cmd == nil || !p.info.Alive {
		s.mu.Unlock()
		return
	}
	p.stopping = true
	s.mu.Unlock()
	if kill {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
		return
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		s.log.Warn("Peer did not stop in 20s; killing it", "name", p.info.Name)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
}

// stopAll stops every peer at once, cleanly.
func (s *Supervisor) stopAll() {
	s.mu.Lock()
	peers := append([]*proc(nil), s.mu.peers...)
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Add(1)
		go func(p *proc) { defer wg.Done(); s.stop(p, false) }(p)
	}
	wg.Wait()
	s.mu.Lock()
	s.writeStateLocked()
	s.mu.Unlock()
}

// writeStateLocked writes devnet.json atomically.
func (s *Supervisor) writeStateLocked() {
	st := State{Dir: s.cfg.Dir, ChainID: params.DevChainID, Control: SocketFile(s.cfg.Dir), Partition: s.mu.partition}
	for _, p := range s.mu.peers {
		st.Peers = append(st.Peers, p.info)
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		s.log.Error("Encode devnet.json", "err", err)
		return
	}
	tmp := StateFile(s.cfg.Dir) + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		s.log.Error("Write devnet.json", "err", err)
		return
	}
	if err := os.Rename(tmp, StateFile(s.cfg.Dir)); err != nil {
		s.log.Error("Write devnet.json", "err", err)
	}
}

func (s *Supervisor) peer(name string) (*proc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.mu.peers {
		if p.info.Name == name {
			return p, nil
		}
	}
	names := make([]string, 0, len(s.mu.peers))
	for _, p := range s.mu.peers {
		names = append(names, p.info.Name)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("no peer named %q (peers: %s)", name, strings.Join(names, ", "))
}
