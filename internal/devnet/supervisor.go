package devnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/peerchain/peerchain/internal/params"
	"github.com/peerchain/peerchain/internal/wallet"
)

// stopGrace is how long a peer has to stop after SIGINT before SIGKILL.
const stopGrace = 20 * time.Second

// proc is one peer process, full or light: its fixed description and
// command line, and the process running it now (if any). info.PID,
// info.Alive and the fields below args are guarded by Supervisor.mu.
type proc struct {
	info Peer
	args []string
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	// stopping marks an exit the supervisor asked for.
	stopping bool
	// drops follows a light peer's log for the sources it drops; nil for
	// a full peer.
	drops *dropLog
}

// Supervisor runs a devnet: it starts, watches and stops the peers'
// processes, serves the liar, and carries out the control commands.
type Supervisor struct {
	cfg Config
	log *slog.Logger
	// probe is the account whose balance the live status asks every light
	// peer for (dev account 0), so that proofs are fetched, and the
	// liar asked, without anyone else asking.
	probe common.Address
	// pagePort is the devnet page's port (0 with Config.NoUI); web polls
	// the peers for the page and the status line.
	pagePort int
	// notes tell, in the table, the configured ports that were taken.
	notes []string
	web   *tracker
	// net is the network namespaces with Config.NetNS, else nil.
	net  *netnet
	page http.Handler // nil when the binary carries no page
	// ops serialises the control commands, so that, say, two restarts of
	// one peer cannot start it twice. Taken before mu.
	ops sync.Mutex
	mu  struct {
		sync.Mutex
		peers     []*proc // the full peers, then the light peers
		liar      *Peer   // nil without Config.Liar
		partition [][]string
		chainID   uint64
		// closing refuses new starts once the devnet is stopping.
		closing bool
	}
}

// New prepares a devnet (data dirs, peer keys, ports, command lines); Run
// starts it.
func New(cfg Config) (*Supervisor, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Supervisor{cfg: cfg, log: cfg.Logger}
	s.mu.chainID = params.DevChainID
	k, err := wallet.DevKey(params.DevMnemonic, 0)
	if err != nil {
		return nil, fmt.Errorf("dev account 0: %w", err)
	}
	s.probe = crypto.PubkeyToAddress(k.PublicKey)
	if cfg.NetNS {
		s.net = newNetnet(cfg.Dir, s.log)
	}
	if err := s.prepare(); err != nil {
		return nil, err
	}
	if !cfg.NoUI {
		s.web, s.page = newTracker(s), newPageHandler(s.log)
	}
	return s, nil
}

// Run starts every peer and the control socket, prints the peer table once
// every RPC answers and then a live status line every Interval, and stops
// every peer cleanly when ctx ends. It returns nil after a stop asked for
// by ctx, and an error when the devnet could not start.
func (s *Supervisor) Run(ctx context.Context) error {
	ln, err := s.listenControl()
	if err != nil {
		return err
	}
	var pageLn net.Listener
	if s.web != nil {
		if pageLn, err = listenPage(s.pagePort); err != nil {
			ln.Close()
			return err
		}
	}
	ctlCtx, cancelCtl := context.WithCancel(ctx)
	srv, served := s.serveControl(ctlCtx, ln)
	stopPage := func() {}
	if pageLn != nil {
		stopPage = s.servePageAPI(ctlCtx, pageLn, s.web)
	}
	stopLiar := func() {}
	defer func() {
		s.mu.Lock()
		s.mu.closing = true
		s.mu.Unlock()
		cancelCtl()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
		<-served
		stopPage()
		s.stopAll()
		stopLiar()
		if s.net != nil {
			s.net.stopForwarding()
			if err := s.net.teardown(); err != nil {
				s.log.Error("Could not remove the devnet's network namespaces", "err", err)
				fmt.Fprintf(s.cfg.Out, "could not remove the network namespaces: %v\n", err)
			}
		}
		_ = os.Remove(SocketFile(s.cfg.Dir))
		if ctx.Err() != nil {
			fmt.Fprintln(s.cfg.Out, "Every peer has stopped.")
		}
	}()

	// The liar first: the light peers ask it from their start.
	if stopLiar, err = s.startLiar(); err != nil {
		stopLiar = func() {}
		return err
	}
	if err := s.startNetNS(); err != nil {
		return err
	}
	s.mu.Lock()
	for _, p := range s.mu.peers {
		if err := s.startLocked(p); err != nil {
			s.mu.Unlock()
			return err
		}
	}
	s.writeStateLocked()
	s.mu.Unlock()

	if err := s.waitReady(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	s.learnChainID(ctx)
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

// startLiar serves the liar on its port, in front of the peer it fronts,
// each lie it tells logged to its log; the function it returns stops it.
func (s *Supervisor) startLiar() (func(), error) {
	s.mu.Lock()
	liar := s.mu.liar
	var honest string
	for _, p := range s.mu.peers {
		if liar != nil && p.info.Name == liar.Fronts {
			honest = p.info.RPC
		}
	}
	s.mu.Unlock()
	if liar == nil {
		return func() {}, nil
	}
	f, err := os.OpenFile(liar.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the liar's log: %w", err)
	}
	l, err := NewLiar(LiarConfig{Honest: honest, Logger: slog.New(slog.NewJSONHandler(f, nil))})
	if err != nil {
		f.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", liar.RPCPort))
	if err != nil {
		l.Close()
		f.Close()
		return nil, fmt.Errorf("the liar cannot listen on 127.0.0.1:%d: %w", liar.RPCPort, err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := l.Serve(ln); err != nil {
			s.log.Error("The liar stopped serving", "err", err)
		}
	}()
	s.mu.Lock()
	s.mu.liar.Alive = true
	s.mu.Unlock()
	s.log.Info("Serving the liar", "rpc", liar.RPC, "fronts", liar.Fronts)
	return func() {
		l.Close()
		<-served
		f.Close()
		s.mu.Lock()
		s.mu.liar.Alive = false
		s.writeStateLocked()
		s.mu.Unlock()
	}, nil
}

// startLocked launches p's process, its output appended to its log.
func (s *Supervisor) startLocked(p *proc) error {
	if s.mu.closing {
		return fmt.Errorf("cannot start %s: the devnet is stopping", p.info.Name)
	}
	f, err := os.OpenFile(p.info.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open the log of %s: %w", p.info.Name, err)
	}
	cmd := exec.Command(s.cfg.Binary, p.args...)
	if p.info.NetNS != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", p.info.NetNS, s.cfg.Binary}, p.args...)...)
	}
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group: a Ctrl-C in the terminal reaches only the
	// supervisor, which then stops the peers itself; if the supervisor
	// dies, the kernel sends its peers SIGTERM (a clean stop).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s (%s): %w", p.info.Name, s.cfg.Binary, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.stopping = cmd, done, false
	p.info.PID, p.info.Alive = cmd.Process.Pid, true
	s.log.Info("Started peer", "name", p.info.Name, "pid", p.info.PID, "rpc", p.info.RPC)
	go s.watch(p, cmd, f, done)
	return nil
}

// watch waits for p's process to exit and records it; an exit nobody
// asked for is reported, and the peer stays down (no automatic restart).
func (s *Supervisor) watch(p *proc, cmd *exec.Cmd, log *os.File, done chan struct{}) {
	err := cmd.Wait()
	log.Close()
	s.mu.Lock()
	if p.cmd == cmd {
		p.info.Alive = false
		if !p.stopping {
			s.log.Warn("Peer exited on its own", "name", p.info.Name, "pid", p.info.PID, "err", err)
			fmt.Fprintf(s.cfg.Out, "%s (pid %d) exited on its own (%v); see %s\n", p.info.Name, p.info.PID, err, p.info.Log)
		}
		s.writeStateLocked()
	}
	s.mu.Unlock()
	close(done)
	if s.web != nil {
		s.web.poke()
	}
}

// stop ends p's process: SIGKILL with kill set, otherwise SIGINT and, after
// stopGrace, SIGKILL. It returns once the process is gone.
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
	t := time.NewTimer(stopGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.log.Warn("Peer did not stop after SIGINT; killing it", "name", p.info.Name, "grace", stopGrace)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
}

// stopAll stops every peer at once, cleanly.
func (s *Supervisor) stopAll() {
	var wg sync.WaitGroup
	for _, p := range s.procs() {
		wg.Add(1)
		go func() { defer wg.Done(); s.stop(p, false) }()
	}
	wg.Wait()
	s.mu.Lock()
	s.writeStateLocked()
	s.mu.Unlock()
}

// writeStateLocked rewrites devnet.json from the peers' state now.
func (s *Supervisor) writeStateLocked() {
	st := &State{Dir: s.cfg.Dir, ChainID: s.mu.chainID, Control: SocketFile(s.cfg.Dir), Partition: s.mu.partition}
	if s.web != nil {
		st.Page, st.PagePort = s.pageURL(), s.pagePort
	}
	for _, p := range s.mu.peers {
		st.Peers = append(st.Peers, p.info)
	}
	if s.mu.liar != nil {
		st.Peers = append(st.Peers, *s.mu.liar)
	}
	if err := writeState(st); err != nil {
		s.log.Error("Cannot write devnet.json", "err", err)
	}
}

// pageURL is the devnet page's address.
func (s *Supervisor) pageURL() string { return fmt.Sprintf("http://127.0.0.1:%d/", s.pagePort) }

// procs returns the peers, in order.
func (s *Supervisor) procs() []*proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*proc(nil), s.mu.peers...)
}

// infoOf returns p's description now.
func (s *Supervisor) infoOf(p *proc) Peer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return p.info
}

// peer returns the process named name; the liar is none (the supervisor
// serves it).
func (s *Supervisor) peer(name string) (*proc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.liar != nil && name == s.mu.liar.Name {
		return nil, fmt.Errorf("%s is the supervisor's own lying proxy, not a peer process: it runs as long as the devnet", name)
	}
	names := make([]string, 0, len(s.mu.peers))
	for _, p := range s.mu.peers {
		if p.info.Name == name {
			return p, nil
		}
		names = append(names, p.info.Name)
	}
	return nil, fmt.Errorf("no peer named %q (peers: %s)", name, strings.Join(names, ", "))
}

// waitReady waits until every peer's RPC answers; a peer that exits first
// fails the start at once, with the end of its log.
func (s *Supervisor) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StartTimeout)
	defer cancel()
	for _, p := range s.procs() {
		s.mu.Lock()
		info, done := p.info, p.done
		s.mu.Unlock()
		if err := waitRPC(ctx, info.RPC, done); err != nil {
			return fmt.Errorf("%s did not come up: %w; last lines of %s:\n%s", info.Name, err, info.Log, logTail(info.Log, 12))
		}
	}
	return nil
}

// waitRPC polls url until it answers, exited is closed or ctx ends.
func waitRPC(ctx context.Context, url string, exited <-chan struct{}) error {
	for {
		var n hexutil.Uint64
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		err := call(cctx, url, &n, "eth_blockNumber")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("the process exited before its RPC %s answered", url)
		case <-ctx.Done():
			return fmt.Errorf("RPC %s: %w (last error: %v)", url, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// learnChainID records the chain id the peers report (NodeArgs may name
// another genesis than the dev one).
func (s *Supervisor) learnChainID(ctx context.Context) {
	p := s.infoOf(s.procs()[0])
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var id hexutil.Uint64
	if err := call(ctx, p.RPC, &id, "eth_chainId"); err != nil {
		s.log.Warn("Cannot read the chain id", "peer", p.Name, "err", err)
		return
	}
	s.mu.Lock()
	s.mu.chainID = uint64(id)
	s.writeStateLocked()
	s.mu.Unlock()
}

// listenControl opens the control socket; a socket file left by a devnet
// that died is removed first (New has checked that nothing answers on it).
func (s *Supervisor) listenControl() (net.Listener, error) {
	path := SocketFile(s.cfg.Dir)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove the stale control socket %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return ln, nil
}

// serveControl answers the control commands on ln until srv is shut down;
// every request's context ends with ctx.
func (s *Supervisor) serveControl(ctx context.Context, ln net.Listener) (*http.Server, <-chan struct{}) {
	srv := &http.Server{
		Handler:           s.controlHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("Control socket", "err", err)
		}
	}()
	return srv, done
}
