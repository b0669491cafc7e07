package devnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
)

// controlHandler is the HTTP API of the control socket:
//
//	POST /kill/{name}      SIGKILL a peer; it stays down
//	POST /restart/{name}   stop a peer (SIGINT) if it runs, start it again
//	POST /partition        body: JSON [["peer0","peer1"],["peer2","peer3"]]
//	POST /heal             lift the partition
//	POST /fault            body: JSON FaultRequest (delay, loss, bandwidth, clear)
//	GET  /status           JSON []PeerStatus
//
// A command answers 204, or 400 with the error as plain text.
func (s *Supervisor) controlHandler() http.Handler {
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
			reply(w, fmt.Errorf("partition request: want a JSON list of lists of peer names: %w", err))
			return
		}
		reply(w, s.Partition(r.Context(), groups))
	})
	mux.HandleFunc("POST /heal", func(w http.ResponseWriter, r *http.Request) {
		reply(w, s.Heal(r.Context()))
	})
	mux.HandleFunc("POST /fault", func(w http.ResponseWriter, r *http.Request) {
		var req FaultRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
			reply(w, fmt.Errorf("fault request: want a JSON object {name, kind, args}: %w", err))
			return
		}
		reply(w, s.SetFault(r.Context(), req))
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Status(r.Context()))
	})
	return mux
}

func reply(w http.ResponseWriter, err error) {
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Kill stops a peer with SIGKILL, as a crash would; it stays down until
// Restart.
func (s *Supervisor) Kill(name string) error {
	p, err := s.peer(name)
	if err != nil {
		return err
	}
	s.ops.Lock()
	defer s.ops.Unlock()
	if !s.infoOf(p).Alive {
		return fmt.Errorf("cannot kill %s: it is not running", name)
	}
	s.stop(p, true)
	fmt.Fprintf(s.cfg.Out, "%s killed (SIGKILL)\n", name)
	return nil
}

// Restart stops a running peer cleanly (SIGINT) and starts it again with
// the same data dir, key, ports and flags, and waits for its RPC; a
// partition in force is applied to it again (a peer forgets its blocked
// peers when it stops).
func (s *Supervisor) Restart(ctx context.Context, name string) error {
	p, err := s.peer(name)
	if err != nil {
		return err
	}
	s.ops.Lock()
	defer s.ops.Unlock()
	s.stop(p, false)
	s.mu.Lock()
	err = s.startLocked(p)
	s.writeStateLocked()
	groups, info, done := s.mu.partition, p.info, p.done
	s.mu.Unlock()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StartTimeout)
	defer cancel()
	if err := waitRPC(ctx, info.RPC, done); err != nil {
		return fmt.Errorf("%s restarted (pid %d) but did not come up: %w; see %s", name, info.PID, err, info.Log)
	}
	if groups != nil {
		if err := s.applyPartition(ctx, groups, []*proc{p}, false); err != nil {
			return fmt.Errorf("%s restarted, but the partition in force could not be applied to it again: %w", name, err)
		}
	}
	if info.Fault != nil { // a peer forgets its shape when it stops
		if err := tellFault(ctx, info, *info.Fault); err != nil {
			return fmt.Errorf("%s restarted, but its fault (%s) could not be given to it again: %w", name, info.Fault.Text, err)
		}
	}
	fmt.Fprintf(s.cfg.Out, "%s restarted (pid %d)\n", name, info.PID)
	return nil
}

// Partition splits the devnet: every peer must be in exactly one group,
// and refuses the peers of the other groups until Heal. A partition may
// replace one in force.
func (s *Supervisor) Partition(ctx context.Context, groups [][]string) error {
	if err := s.checkGroups(groups); err != nil {
		return err
	}
	s.ops.Lock()
	defer s.ops.Unlock()
	s.mu.Lock()
	replace := s.mu.partition != nil
	// Recorded before it is applied: if some peer cannot be told, the
	// others are cut anyway, and heal (or a restart) must know.
	s.mu.partition = groups
	s.writeStateLocked()
	s.mu.Unlock()
	if err := s.applyPartition(ctx, groups, s.procs(), replace); err != nil {
		return err
	}
	fmt.Fprintf(s.cfg.Out, "partitioned: %s\n", formatGroups(groups))
	return nil
}

// checkGroups enforces the partition rules: two groups or more, none
// empty, every full peer named once, no light peer or liar, and the
// providers in one group (they serve no admin_ RPC, so only the others can
// refuse them: two providers on different sides would stay connected).
func (s *Supervisor) checkGroups(groups [][]string) error {
	if len(groups) < 2 {
		return fmt.Errorf("a partition needs at least two groups, got %d", len(groups))
	}
	seen := make(map[string]int)
	providerGroup, provider := -1, ""
	for gi, g := range groups {
		if len(g) == 0 {
			return fmt.Errorf("group %d is empty: every group needs at least one peer", gi+1)
		}
		for _, name := range g {
			p, err := s.peer(name)
			if err != nil {
				return fmt.Errorf("group %d: %w", gi+1, err)
			}
			info := s.infoOf(p)
			if !info.full() {
				return fmt.Errorf("group %d: %s is a light peer: a partition splits the full peers, and light peers keep asking every source", gi+1, name)
			}
			if prev, ok := seen[name]; ok {
				if prev == gi {
					return fmt.Errorf("%s appears twice in group %d", name, gi+1)
				}
				return fmt.Errorf("%s is in group %d and group %d: a peer belongs to exactly one group", name, prev+1, gi+1)
			}
			seen[name] = gi
			if info.Kind == KindProvider {
				if providerGroup >= 0 && providerGroup != gi {
					return fmt.Errorf("providers %s (group %d) and %s (group %d) are on different sides: a provider serves no admin_ RPC, so only the other peers can refuse it, and two providers would stay connected; put the providers in one group", provider, providerGroup+1, name, gi+1)
				}
				providerGroup, provider = gi, name
			}
		}
	}
	var missing []string
	for _, p := range s.procs() {
		if info := s.infoOf(p); info.full() {
			if _, ok := seen[info.Name]; !ok {
				missing = append(missing, info.Name)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("every full peer must be in a group; left out: %s", strings.Join(missing, ", "))
	}
	return nil
}

// applyPartition tells each alive full peer of targets that is not a
// provider to refuse the full peers (providers included) outside its
// group; with replace, to forget the blocks of an earlier partition first.
// admin_blockPeers adds to a peer's blocked set, so a new partition over an
// old one would otherwise keep the old cuts too. Each peer is unblocked and
// blocked again in turn, so that no pair cut by both partitions is ever
// allowed by both sides at once. Light peers and providers are told
// nothing: neither serves admin_blockPeers.
func (s *Supervisor) applyPartition(ctx context.Context, groups [][]string, targets []*proc, replace bool) error {
	group := make(map[string]int)
	for gi, g := range groups {
		for _, n := range g {
			group[n] = gi
		}
	}
	var full []Peer
	for _, p := range s.procs() {
		if info := s.infoOf(p); info.full() {
			full = append(full, info)
		}
	}
	var errs []error
	for _, p := range targets {
		info := s.infoOf(p)
		if !info.Alive || info.Kind != KindFull {
			continue // a restart applies the partition to it
		}
		others := []string{}
		for _, o := range full {
			if group[o.Name] != group[info.Name] {
				others = append(others, o.ID)
			}
		}
		var ok bool
		if replace {
			if err := call(ctx, info.RPC, &ok, "admin_unblockPeers"); err != nil {
				errs = append(errs, fmt.Errorf("lift the earlier partition on %s: %w", info.Name, err))
				continue
			}
		}
		if err := call(ctx, info.RPC, &ok, "admin_blockPeers", others); err != nil {
			errs = append(errs, fmt.Errorf("partition %s (admin_blockPeers at %s): %w", info.Name, info.RPC, err))
		}
	}
	return errors.Join(errs...)
}

// Heal lifts the partition: every alive full peer accepts every other
// again and reconnects to its bootnodes (providers among them, which were
// told nothing). A peer that is down has forgotten its blocks.
func (s *Supervisor) Heal(ctx context.Context) error {
	s.ops.Lock()
	defer s.ops.Unlock()
	var errs []error
	for _, p := range s.procs() {
		info := s.infoOf(p)
		if !info.Alive || info.Kind != KindFull {
			continue
		}
		var ok bool
		if err := call(ctx, info.RPC, &ok, "admin_unblockPeers"); err != nil {
			errs = append(errs, fmt.Errorf("heal %s (admin_unblockPeers at %s): %w", info.Name, info.RPC, err))
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

// PeerStatus is one peer in `peerchain devnet status`.
type PeerStatus struct {
	Peer
	Head     uint64      `json:"head"`
	HeadHash common.Hash `json:"headHash"`
	// Peers is a full peer's connected peers, a light peer's sources in
	// use (net_peerCount).
	Peers uint64 `json:"peers"`
	Err   string `json:"error,omitempty"`
	// Dropped is how many times a light peer dropped a source since the
	// devnet started (its log says so, with the evidence), LastDrop the
	// latest.
	Dropped  int   `json:"dropped,omitempty"`
	LastDrop *Drop `json:"lastDrop,omitempty"`
	// Caught is, for the liar, how many times the light peers dropped it.
	Caught int `json:"caught,omitempty"`
}

// Status asks every alive peer, at once, for its head (eth_getBlockByNumber
// "latest") and its peer count (net_peerCount), and reads the light peers'
// logs for the sources they dropped; the liar, last, is asked nothing: it
// is counted as caught from those logs.
func (s *Supervisor) Status(ctx context.Context) []PeerStatus {
	return s.status(ctx, false)
}

// status is Status; with probe, each light peer is first asked for a dev
// account's balance, which it proves through its sources (the liar first).
func (s *Supervisor) status(ctx context.Context, probe bool) []PeerStatus {
	procs := s.procs()
	out := make([]PeerStatus, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		out[i] = PeerStatus{Peer: s.infoOf(p)}
		if !out[i].Alive {
			continue
		}
		wg.Add(1)
		go func(st *PeerStatus) {
			defer wg.Done()
			if probe && st.Kind == KindLight {
				s.probeLight(ctx, st.Name, st.RPC)
			}
			if s.web != nil { // the page's poller has just asked it
				if v, ok := s.web.fresh(st.Name, st.PID, time.Now()); ok {
					st.Head, st.HeadHash, st.Peers = v.Head, v.HeadHash, v.PeerCount
					return
				}
			}
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			var head struct {
				Number hexutil.Uint64 `json:"number"`
				Hash   common.Hash    `json:"hash"`
			}
			var count hexutil.Uint64
			err := call(ctx, st.RPC, &head, "eth_getBlockByNumber", "latest", false)
			if err == nil {
				err = call(ctx, st.RPC, &count, "net_peerCount")
			}
			if err != nil {
				st.Err = err.Error()
				return
			}
			st.Head, st.HeadHash, st.Peers = uint64(head.Number), head.Hash, uint64(count)
		}(&out[i])
	}
	wg.Wait()
	s.mu.Lock()
	var liar *PeerStatus
	if s.mu.liar != nil {
		liar = &PeerStatus{Peer: *s.mu.liar}
	}
	s.mu.Unlock()
	for i, p := range procs {
		if p.drops == nil {
			continue
		}
		d := p.drops.poll()
		out[i].Dropped, out[i].LastDrop = d.total, d.last
		if liar != nil {
			liar.Caught += d.bySource[liar.RPC]
		}
	}
	if liar != nil {
		out = append(out, *liar)
	}
	return out
}

// probeLight asks a light peer for dev account 0's balance, which it
// proves through its sources in turn, the liar first: the answer does not
// matter, being asked does. A light peer that cannot prove it in time is
// no news (its head call says whether it answers at all).
func (s *Supervisor) probeLight(ctx context.Context, name, url string) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var bal hexutil.Big
	if err := call(ctx, url, &bal, "eth_getBalance", s.probe, "latest"); err != nil {
		s.log.Debug("A light peer could not prove a balance", "name", name, "err", err)
	}
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
