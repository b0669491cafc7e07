package devnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
)

// listenControl opens the control socket (removing a stale one).
func (s *Supervisor) listenControl() (net.Listener, error) {
	path := SocketFile(s.cfg.Dir)
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return ln, nil
}

// serveControl answers the CLI's commands until ln closes.
func (s *Supervisor) serveControl(ln net.Listener) <-chan struct{} {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /kill/{name}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, s.Kill(r.PathValue("name")))
	})
	mux.HandleFunc("POST /restart/{name}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, s.Restart(r.Context(), r.PathValue("name")))
	})
	mux.HandleFunc("POST /partition", func(w http.ResponseWriter, r *http.Request) {
		var groups [][]string
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&groups); err != nil {
			reply(w, fmt.Errorf("partition request: %w", err))
			return
		}
		reply(w, s.Partition(r.Context(), groups))
	})
	mux.HandleFunc("POST /heal", func(w http.ResponseWriter, r *http.Request) {
		reply(w, s.Heal(r.Context()))
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Status(r.Context()))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	return done
}

func reply(w http.ResponseWriter, err error) {
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Kill stops a peer with SIGKILL; it stays down until Restart.
func (s *Supervisor) Kill(name string) error {
	p, err := s.peer(name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	alive := p.info.Alive
	s.mu.Unlock()
	if !alive {
		return fmt.Errorf("%s is not running", name)
	}
	s.stop(p, true)
	fmt.Fprintf(s.cfg.Out, "%s killed (SIGKILL)\n", name)
	return nil
}

// Restart stops a running peer cleanly and starts it again with the same
// data dir, key and ports; a partition in force is applied to it again.
func (s *Supervisor) Restart(ctx context.Context, name string) error {
	p, err := s.peer(name)
	if err != nil {
		return err
	}
	s.stop(p, false)
	s.mu.Lock()
	err = s.startLocked(p)
	s.writeStateLocked()
	groups := s.mu.partition
	s.mu.Unlock()
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := waitRPC(rctx, p.info.RPC); err != nil {
		return fmt.Errorf("%s restarted but its RPC does not answer: %w", name, err)
	}
	if groups != nil {
		if err := s.applyPartition(rctx, groups, p); err != nil {
			return err
		}
	}
	fmt.Fprintf(s.cfg.Out, "%s restarted (pid %d)\n", name, p.info.PID)
	return nil
}

// Partition splits the devnet: every peer must be in exactly one group,
// and refuses the peers of the other groups until Heal.
func (s *Supervisor) Partition(ctx context.Context, groups [][]string) error {
	if len(groups) < 2 {
		return fmt.Errorf("a partition needs at least two groups, got %d", len(groups))
	}
	seen := make(map[string]int)
	for gi, g := range groups {
		if len(g) == 0 {
			return fmt.Errorf("group %d is empty", gi+1)
		}
		for _, name := range g {
			if _, err := s.peer(name); err != nil {
				return err
			}
			if prev, ok := seen[name]; ok {
				return fmt.Errorf("%s is in group %d and group %d", name, prev+1, gi+1)
			}
			seen[name] = gi
		}
	}
	s.mu.Lock()
	var missing []string
	for _, p := range s.mu.peers {
		if _, ok := seen[p.info.Name]; !ok {
			missing = append(missing, p.info.Name)
		}
	}
	s.mu.Unlock()
	if len(missing) > 0 {
		return fmt.Errorf("every peer must be in a group; left out: %s", strings.Join(missing, ", "))
	}
	if err := s.applyPartition(ctx, groups, nil); err != nil {
		return err
	}
	s.mu.Lock()
	s.mu.partition = groups
	s.writeStateLocked()
	s.mu.Unlock()
	fmt.Fprintf(s.cfg.Out, "partitioned: %s\n", formatGroups(groups))
	return nil
}

// applyPartition tells each alive peer (or just only, when set) to refuse
// the peers outside its group.
func (s *Supervisor) applyPartition(ctx context.Context, groups [][]string, only *proc) error {
	group := make(map[string]int)
	for gi, g := range groups {
		for _, n := range g {
			group[n] = gi
		}
	}
	s.mu.Lock()
	peers := append([]*proc(nil), s.mu.peers...)
	s.mu.Unlock()
	for _, p := range peers {
		if (only != nil && p != only) || !p.info.Alive {
			continue
		}
		var others []string
		for _, o := range peers {
			if group[o.info.Name] != group[p.info.Name] {
				others = append(others, o.info.ID)
			}
		}
		var ok bool
		if err := call(ctx, p.info.RPC, &ok, "admin_blockPeers", others); err != nil {
			return fmt.Errorf("partition %s: %w", p.info.Name, err)
		}
	}
	return nil
}

// Heal lifts the partition: every alive peer accepts every other again and
// reconnects.
func (s *Supervisor) Heal(ctx context.Context) error {
	s.mu.Lock()
	peers := append([]*proc(nil), s.mu.peers...)
	s.mu.Unlock()
	var errs []error
	for _, p := range peers {
		if !p.info.Alive {
			continue
		}
		var ok bool
		if err := call(ctx, p.info.RPC, &ok, "admin_unblockPeers"); err != nil {
			errs = append(errs, fmt.Errorf("heal %s: %w", p.info.Name, err))
		}
	}
	s.mu.Lock()
	s.mu.partition = nil
	s.writeStateLocked()
	s.mu.Unlock()
	if len(errs) == 0 {
		fmt.Fprintln(s.cfg.Out, "healed: every peer accepts every other again")
	}
	return errors.Join(errs...)
}

// PeerStatus is one line of `peerchain devnet status`.
type PeerStatus struct {
	Peer
	Head     uint64      `json:"head"`
	HeadHash common.Hash `json:"headHash"`
	Peers    uint64      `json:"peers"`
	Err      string      `json:"error,omitempty"`
}

// Status asks every alive peer for its head and peer count.
func (s *Supervisor) Status(ctx context.Context) []PeerStatus {
	s.mu.Lock()
	peers := make([]Peer, 0, len(s.mu.peers))
	for _, p := range s.mu.peers {
		peers = append(peers, p.info)
	}
	s.mu.Unlock()
	out := make([]PeerStatus, len(peers))
	for i, p := range peers {
		out[i] = PeerStatus{Peer: p}
		if !p.Alive {
			continue
		}
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		var head struct {
			Number hexutil.Uint64 `json:"number"`
			Hash   common.Hash    `json:"hash"`
		}
		var count hexutil.Uint64
		if err := call(ctx, p.RPC, &head, "eth_getBlockByNumber", "latest", false); err != nil {
			out[i].Err = err.Error()
		} else if err := call(ctx, p.RPC, &count, "net_peerCount"); err != nil {
			out[i].Err = err.Error()
		}
		cancel()
		out[i].Head, out[i].HeadHash, out[i].Peers = uint64(head.Number), head.Hash, uint64(count)
	}
	return out
}

// call makes one JSON-RPC call to a peer.
func call(ctx context.Context, url string, out any, method string, args ...any) error {
	c, err := gethrpc.DialContext(ctx, url)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.CallContext(ctx, out, method, args...)
}

func waitRPC(ctx context.Context, url string) error {
	for {
		var n hexutil.Uint64
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		err := call(cctx, url, &n, "eth_blockNumber")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", url, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitReady waits until every peer's RPC answers.
func (s *Supervisor) waitReady(ctx context.Context) error {
	s.mu.Lock()
	peers := append([]*proc(nil), s.mu.peers...)
	s.mu.Unlock()
	for _, p := range peers {
		if err := waitRPC(ctx, p.info.RPC); err != nil {
			return fmt.Errorf("%s did not come up (see %s): %w", p.info.Name, p.info.Log, err)
		}
	}
	return nil
}

func (s *Supervisor) printTable() {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := tabwriter.NewWriter(s.cfg.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "NAME\tPID\tRPC\tMINER\tPEER ID\tP2P\n")
	for _, p := range s.mu.peers {
		miner := "-"
		if p.info.Miner {
			miner = p.info.Coinbase[:10] + "…"
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t…%s\t%s\n", p.info.Name, p.info.PID, p.info.RPC, miner, p.info.ID[len(p.info.ID)-8:], p.info.P2P[0])
	}
	w.Flush()
	fmt.Fprintf(s.cfg.Out, "devnet.json: %s\ncontrol:     peerchain devnet kill|restart NAME, partition A,B C,D, heal, status --dir %s\n", StateFile(s.cfg.Dir), s.cfg.Dir)
}

// printStatus prints one line: every peer's head, short hash and peers.
func (s *Supervisor) printStatus(ctx context.Context) {
	var b bytes.Buffer
	b.WriteString(time.Now().Format("15:04:05"))
	for _, st := range s.Status(ctx) {
		switch {
		case !st.Alive:
			fmt.Fprintf(&b, "  %s: down", st.Name)
		case st.Err != "":
			fmt.Fprintf(&b, "  %s: ?", st.Name)
		default:
			fmt.Fprintf(&b, "  %s: #%d %s p%d", st.Name, st.Head, st.HeadHash.Hex()[2:6], st.Peers)
		}
	}
	s.mu.Lock()
	if s.mu.partition != nil {
		fmt.Fprintf(&b, "  [partitioned %s]", formatGroups(s.mu.partition))
	}
	s.mu.Unlock()
	fmt.Fprintln(s.cfg.Out, b.String())
}

func formatGroups(groups [][]string) string {
	parts := make([]string, len(groups))
	for i, g := range groups {
		parts[i] = strings.Join(g, ",")
	}
	return strings.Join(parts, " | ")
}

// Client talks to a running devnet's control socket.
type Client struct {
	dir  string
	http *http.Client
}

// Dial connects to the devnet in dir.
func Dial(dir string) (*Client, error) {
	path := SocketFile(dir)
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("no running devnet in %s (%s): %w", dir, path, err)
	}
	conn.Close()
	return &Client{dir: dir, http: &http.Client{
		Timeout: 2 * time.Minute,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}}, nil
}

func (c *Client) post(path string, body any) error {
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(data)
	}
	resp, err := c.http.Post("http://devnet"+path, "application/json", r)
	if err != nil {
		return fmt.Errorf("devnet control: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return errors.New(strings.TrimSpace(string(msg)))
	}
	return nil
}

// Kill kills a peer of the devnet.
func (c *Client) Kill(name string) error { return c.post("/kill/"+name, nil) }

// Restart restarts a peer of the devnet.
func (c *Client) Restart(name string) error { return c.post("/restart/"+name, nil) }

// Partition splits the devnet into groups of peer names.
func (c *Client) Partition(groups [][]string) error { return c.post("/partition", groups) }

// Heal lifts a partition.
func (c *Client) Heal() error { return c.post("/heal", nil) }

// Status returns every peer's state and head.
func (c *Client) Status() ([]PeerStatus, error) {
	resp, err := c.http.Get("http://devnet/status")
	if err != nil {
		return nil, fmt.Errorf("devnet control: %w", err)
	}
	defer resp.Body.Close()
	var out []PeerStatus
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("devnet status: %w", err)
	}
	return out, nil
}
