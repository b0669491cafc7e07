package devnet

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	lpeer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerchain/peerchain/internal/p2p"
	"github.com/peerchain/peerchain/internal/params"
	"github.com/peerchain/peerchain/internal/wallet"
)

// prepare creates every peer's data dir and key and picks its ports,
// keeping the ports of an earlier devnet in the same dir when they are free.
func (s *Supervisor) prepare() error {
	dir := s.cfg.Dir
	if conn, err := net.Dial("unix", SocketFile(dir)); err == nil {
		conn.Close()
		return fmt.Errorf("a devnet is already running in %s (stop it, or use another --dir)", dir)
	}
	old, _ := ReadState(dir)
	if old != nil {
		if err := s.waitOldPeers(old, stopGrace); err != nil {
			return err
		}
	}
	if s.cfg.Reset {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("reset %s: %w", dir, err)
		}
		old = nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	// Two ports (RPC, P2P) for each process, one (RPC) for the liar, one
	// for the devnet page: each the configured one (RPCPort+i, P2PPort+i)
	// when free, else the earlier devnet's when free, else any.
	oldPorts := map[string][2]int{}
	if old != nil {
		for _, p := range old.Peers {
			oldPorts[p.Name] = [2]int{p.RPCPort, p.P2PPort}
		}
	}
	var want [][]int
	k := 0 // the processes' index in the run of configured ports
	for i := 0; i < s.cfg.Nodes; i++ {
		old := oldPorts[peerName(i)]
		want = append(want, s.wanted(s.cfg.RPCPort, k, old[0]), s.wanted(s.cfg.P2PPort, k, old[1]))
		k++
	}
	for i := 0; i < s.cfg.Light; i++ {
		old := oldPorts[lightName(i)]
		want = append(want, s.wanted(s.cfg.RPCPort, k, old[0]), s.wanted(s.cfg.P2PPort, k, old[1]))
		k++
	}
	if s.cfg.Liar {
		want = append(want, s.wanted(s.cfg.RPCPort, k, oldPorts[LiarName][0]))
	}
	if !s.cfg.NoUI {
		page := s.cfg.UIPort
		if page == 0 && old != nil {
			page = old.PagePort
		}
		want = append(want, []int{page})
	}
	ports, err := pickPorts(want)
	if err != nil {
		return err
	}
	s.portNotes(want, ports)
	if !s.cfg.NoUI {
		s.pagePort = ports[len(ports)-1]
		if s.cfg.UIPort != 0 && s.pagePort != s.cfg.UIPort {
			return fmt.Errorf("--ui.port %d: the port is in use; pick another or 0 for any", s.cfg.UIPort)
		}
	}
	for i := 0; i < s.cfg.Nodes; i++ {
		p, err := s.newPeer(i, ports[2*i], ports[2*i+1])
		if err != nil {
			return err
		}
		if s.net != nil {
			p.info.NetNS, p.info.Addr = s.net.ns(p.info.Name), netnsAddr(i)
			p.info.P2P = []string{fmt.Sprintf("/ip4/%s/tcp/%d/p2p/%s", p.info.Addr, p.info.P2PPort, p.info.ID)}
		}
		s.mu.peers = append(s.mu.peers, p)
	}
	ports = ports[2*s.cfg.Nodes:]
	for i := 0; i < s.cfg.Light; i++ {
		p, err := s.newLight(i, ports[2*i], ports[2*i+1])
		if err != nil {
			return err
		}
		s.mu.peers = append(s.mu.peers, p)
	}
	ports = ports[2*s.cfg.Light:]
	providers, fronts := s.providerURLs()
	if s.cfg.Liar {
		url := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
		s.mu.liar = &Peer{Name: LiarName, Kind: KindLiar, RPC: url, RPCPort: ports[0],
			Log: filepath.Join(dir, "liar.log"), Fronts: fronts}
		providers = append([]string{url}, providers...)
	}
	for _, p := range s.mu.peers {
		if p.info.Kind == KindLight {
			p.info.Providers = providers
			p.args = s.lightArgs(p)
		} else {
			p.args = s.nodeArgs(p)
		}
	}
	return nil
}

func peerName(i int) string  { return fmt.Sprintf("peer%d", i) }
func lightName(i int) string { return fmt.Sprintf("light%d", i) }

// providerURLs returns the honest providers of the light peers: the
// providers' RPC URLs, or every full peer's when there is no provider;
// and the name of the first, whom the liar fronts.
func (s *Supervisor) providerURLs() ([]string, string) {
	for _, kind := range []string{KindProvider, KindFull} {
		var urls []string
		first := ""
		for _, p := range s.mu.peers {
			if p.info.Kind == kind {
				if first == "" {
					first = p.info.Name
				}
				urls = append(urls, p.info.RPC)
			}
		}
		if len(urls) > 0 {
			return urls, first
		}
	}
	return nil, ""
}

// identity returns the peer key in dir/p2p/key (created if missing) and
// its peer id: the key is made up front so that every peer id is known
// before any process starts.
func identity(name, dir string) (string, error) {
	key, err := p2p.LoadOrCreateKey(filepath.Join(dir, "p2p", "key"))
	if err != nil {
		return "", fmt.Errorf("peer key of %s: %w", name, err)
	}
	id, err := lpeer.IDFromPrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("peer id of %s: %w", name, err)
	}
	return id.String(), nil
}

// describe is the part of a process's description both kinds share.
func describe(name, kind, dir, id string, rpcPort, p2pPort int) Peer {
	return Peer{
		Name: name, Kind: kind, ID: id, DataDir: dir, Log: filepath.Join(dir, "node.log"),
		RPCPort: rpcPort, P2PPort: p2pPort,
		RPC: fmt.Sprintf("http://127.0.0.1:%d", rpcPort), WS: fmt.Sprintf("ws://127.0.0.1:%d", rpcPort),
		P2P: []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", p2pPort, id)},
	}
}

// newPeer describes full peer i: a provider when it is one of the last
// Config.Providers, a miner when one of the first Config.Miners.
func (s *Supervisor) newPeer(i, rpcPort, p2pPort int) (*proc, error) {
	name := peerName(i)
	dir := filepath.Join(s.cfg.Dir, name)
	id, err := identity(name, dir)
	if err != nil {
		return nil, err
	}
	kind := KindFull
	if i >= s.cfg.Nodes-s.cfg.Providers {
		kind = KindProvider
	}
	info := describe(name, kind, dir, id, rpcPort, p2pPort)
	if i < s.cfg.Miners {
		k, err := wallet.DevKey(params.DevMnemonic, i)
		if err != nil {
			return nil, fmt.Errorf("coinbase of %s (dev account %d): %w", name, i, err)
		}
		info.Miner, info.Coinbase = true, crypto.PubkeyToAddress(k.PublicKey).Hex()
	}
	return &proc{info: info}, nil
}

// newLight describes light peer i; it follows its log for the sources it
// drops from now on (the lines of earlier runs do not count).
func (s *Supervisor) newLight(i, rpcPort, p2pPort int) (*proc, error) {
	name := lightName(i)
	dir := filepath.Join(s.cfg.Dir, name)
	id, err := identity(name, dir)
	if err != nil {
		return nil, err
	}
	info := describe(name, KindLight, dir, id, rpcPort, p2pPort)
	return &proc{info: info, drops: newDropLog(info.Log)}, nil
}

// fullPeersLocked returns the full peers (providers included), in order.
func (s *Supervisor) fullPeersLocked() []*proc {
	var out []*proc
	for _, p := range s.mu.peers {
		if p.info.full() {
			out = append(out, p)
		}
	}
	return out
}

// nodeArgs is full peer p's command line: its own ports, bootstrapped to
// every other full peer; --provider for a provider.
func (s *Supervisor) nodeArgs(p *proc) []string {
	var boot []string
	for _, o := range s.fullPeersLocked() {
		if o != p {
			boot = append(boot, o.info.P2P...)
		}
	}
	p2pHost := "127.0.0.1"
	if p.info.Addr != "" {
		p2pHost = p.info.Addr // its namespace's; its RPC stays on its loopback
	}
	args := []string{"node", "--datadir", p.info.DataDir,
		"--rpc", fmt.Sprintf("127.0.0.1:%d", p.info.RPCPort),
		"--p2p", fmt.Sprintf("/ip4/%s/tcp/%d", p2pHost, p.info.P2PPort),
		"--log.format", "json"}
	if len(boot) > 0 {
		args = append(args, "--bootnodes", strings.Join(boot, ","))
	}
	if p.info.Miner {
		args = append(args, "--mine", "--miner.coinbase", p.info.Coinbase)
	}
	if p.info.Kind == KindProvider {
		args = append(args, "--provider")
		if rate := providerRate(s.cfg.Light); rate > defaultProviderRate {
			args = append(args, "--provider.rate", strconv.Itoa(rate), "--provider.burst", strconv.Itoa(4*rate))
		}
	}
	return append(args, s.cfg.NodeArgs...)
}

// defaultProviderRate is `peerchain node`'s --provider.rate.
const defaultProviderRate = 100

// providerRate is the --provider.rate (cost units a second per client) a
// provider needs for n light peers. On the devnet they all come from
// 127.0.0.1 (the liar, forwarding, too), one client to the provider where
// the world would have many; each spends about 12 units a second (heads
// from two sources every second, a proof every live status), so 25 each
// leaves room for header downloads. Below 5 light peers it is the
// default.
func providerRate(n int) int { return max(defaultProviderRate, 25*n) }

// lightArgs is light peer p's command line: its own ports, its providers
// (the liar first), every full peer over P2P and no DHT (the full peers are
// all there is to find).
func (s *Supervisor) lightArgs(p *proc) []string {
	var boot []string
	for _, o := range s.fullPeersLocked() {
		boot = append(boot, o.info.P2P...)
	}
	args := []string{"light", "--datadir", p.info.DataDir,
		"--rpc", fmt.Sprintf("127.0.0.1:%d", p.info.RPCPort),
		"--p2p", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", p.info.P2PPort),
		"--providers", strings.Join(p.info.Providers, ","),
		"--bootnodes", strings.Join(boot, ","), "--p2p.nodht",
		"--log.format", "json"}
	return append(args, s.cfg.LightArgs...)
}

// wanted lists the ports to try, in order, for process k's RPC or P2P
// port: base+k when base is set, then the earlier devnet's port.
func (s *Supervisor) wanted(base, k, old int) []int {
	var out []int
	if base != 0 && base+k <= 65535 {
		out = append(out, base+k)
	}
	if old != 0 {
		out = append(out, old)
	}
	return out
}

// portNotes records, for the table, each configured port that was taken
// and the port used instead.
func (s *Supervisor) portNotes(want [][]int, got []int) {
	names := []string{}
	for i := 0; i < s.cfg.Nodes; i++ {
		names = append(names, peerName(i)+"'s RPC", peerName(i)+"'s P2P")
	}
	for i := 0; i < s.cfg.Light; i++ {
		names = append(names, lightName(i)+"'s RPC", lightName(i)+"'s P2P")
	}
	if s.cfg.Liar {
		names = append(names, "the liar's RPC")
	}
	configured := func(i int) (int, bool) {
		if i >= len(names) || len(want[i]) == 0 {
			return 0, false
		}
		base := s.cfg.P2PPort
		if strings.HasSuffix(names[i], "RPC") {
			base = s.cfg.RPCPort
		}
		return want[i][0], base != 0
	}
	for i := range names {
		if port, ok := configured(i); ok && got[i] != port {
			s.notes = append(s.notes, fmt.Sprintf("127.0.0.1:%d is taken (another program listens there): %s is on port %d instead", port, names[i], got[i]))
		}
	}
}

// pickPorts returns one TCP port free on 127.0.0.1 for each entry of want:
// the first of the entry's ports that is free, otherwise (or for none) a
// new one. It holds every port until all are picked, so they are
// distinct.
func pickPorts(want [][]int) ([]int, error) {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	out := make([]int, len(want))
	for i, ports := range want {
		for _, port := range ports {
			if port == 0 {
				continue
			}
			if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				held, out[i] = append(held, l), port
				break
			}
		}
	}
	for i := range want {
		if out[i] != 0 {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free TCP port on 127.0.0.1: %w", err)
		}
		held, out[i] = append(held, l), l.Addr().(*net.TCPAddr).Port
	}
	return out, nil
}

// waitOldPeers waits for peers of an earlier devnet in the same dir that
// still run: their supervisor died and they are stopping (SIGTERM from the
// kernel), but still hold their databases and ports.
func (s *Supervisor) waitOldPeers(old *State, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for logged := false; ; logged = true {
		var running []string
		for _, p := range old.Peers {
			if p.PID > 0 && p.DataDir != "" && runsIn(p.PID, p.DataDir) {
				running = append(running, fmt.Sprintf("%s (pid %d)", p.Name, p.PID))
			}
		}
		if len(running) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("peers of an earlier devnet in %s still run after %s: %s; stop them first", s.cfg.Dir, limit, strings.Join(running, ", "))
		}
		if !logged {
			s.log.Warn("Waiting for the peers of an earlier devnet to stop", "peers", strings.Join(running, ", "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// runsIn reports whether process pid is a peer with dataDir on its command
// line (and not a process that reused the pid).
func runsIn(pid int, dataDir string) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && bytes.Contains(cmdline, []byte("\x00"+dataDir+"\x00"))
}
