package devnet

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// printTable prints every peer once all of them answer, then how to
// drive the devnet and, with light peers or the liar, where to watch them.
func (s *Supervisor) printTable() {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := tabwriter.NewWriter(s.cfg.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "NAME\tKIND\tPID\tRPC\tMINER\tPEER ID\tP2P\n")
	var light []string
	for _, p := range s.mu.peers {
		miner := "-"
		if p.info.Miner {
			miner = p.info.Coinbase[:10] + "…"
		}
		if p.info.Kind == KindLight {
			light = append(light, p.info.Name)
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t…%s\t%s\n", p.info.Name, p.info.Kind, p.info.PID, p.info.RPC, miner, shortID(p.info.ID), p.info.P2P[0])
	}
	if l := s.mu.liar; l != nil {
		fmt.Fprintf(w, "%s\t%s\t-\t%s\t-\t-\tfronts %s (served by this supervisor)\n", l.Name, l.Kind, l.RPC, l.Fronts)
	}
	w.Flush()
	for _, n := range s.notes {
		fmt.Fprintf(s.cfg.Out, "note:        %s\n", n)
	}
	if first := s.mu.peers[0].info; first.full() {
		where := "a wallet or tool"
		if s.cfg.RPCPort != 0 && first.RPCPort == s.cfg.RPCPort {
			where = "a wallet or tool left at its default"
		}
		fmt.Fprintf(s.cfg.Out, "wallets:     %s finds %s at %s (WebSocket %s), chain id %d\n", where, first.Name, first.RPC, first.WS, s.mu.chainID)
	}
	if s.web != nil {
		fmt.Fprintf(s.cfg.Out, "page:        %s\n", s.pageURL())
	}
	fmt.Fprintf(s.cfg.Out, "devnet.json: %s (chain id %d)\n", StateFile(s.cfg.Dir), s.mu.chainID)
	fmt.Fprintf(s.cfg.Out, "control:     peerchain devnet kill|restart NAME, partition A,B C,D, heal, status --dir %s\n", s.cfg.Dir)
	fmt.Fprintf(s.cfg.Out, "faults:      peerchain devnet delay NAME 200ms [20ms], loss NAME 5%%, bandwidth NAME 1mbit, clear NAME\n")
	if len(light) > 0 {
		s.printLightLocked(light)
	}
	if !s.cfg.Quiet {
		fmt.Fprintln(s.cfg.Out, "live:        name (* mines, + provider): #head hash pN = connected peers; light: sN = sources in use, drops; liar: times caught; Ctrl-C stops every peer")
	}
}

// printLightLocked says whom the light peers ask and, with the liar, how
// to see its lies caught.
func (s *Supervisor) printLightLocked(light []string) {
	first := s.mu.peers[len(s.mu.peers)-len(light)].info
	verb := "asks"
	if len(light) > 1 {
		verb = "ask"
	}
	fmt.Fprintf(s.cfg.Out, "light:       %s %s %s (in this order), and every full peer over P2P\n", strings.Join(light, ", "), verb, strings.Join(first.Providers, ", "))
	l := s.mu.liar
	if l == nil {
		return
	}
	fmt.Fprintf(s.cfg.Out, "liar:        %s, asked first by every light peer, forwards to %s but alters eth_getProof, eth_getCode, peerchain_getRawReceipts, eth_getTransactionByHash and peerchain_getRawBlock; each lie told: %s\n", l.RPC, l.Fronts, l.Log)
	logs := first.Log
	if len(light) > 1 {
		logs = filepath.Join(s.cfg.Dir, "light*", filepath.Base(first.Log))
	}
	fmt.Fprintf(s.cfg.Out, "evidence:    a light peer that catches it logs \"%s\" at WARN with the evidence: grep '%s' %s\n", dropMsg, dropMsg, logs)
	fmt.Fprintf(s.cfg.Out, "             peerchain rpc --url %s peerchain_peers   # its sources and their claims (a dropped one has none)\n", first.RPC)
	fmt.Fprintf(s.cfg.Out, "             peerchain rpc --url %s eth_getBalance %s latest   # still the full peers' answer\n", first.RPC, s.probe.Hex())
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[len(id)-8:]
	}
	return id
}

// printStatus prints one line: every peer's head number, short head hash
// and peer count (a light peer's sources in use and drops), or that it is
// down, and how often the liar was caught. The light peers are first asked
// to prove a balance, so the liar is asked without anyone else asking.
func (s *Supervisor) printStatus(ctx context.Context) {
	var b bytes.Buffer
	b.WriteString(time.Now().Format("15:04:05"))
	for _, st := range s.status(ctx, true) {
		name := st.Name
		if st.Miner {
			name += "*"
		}
		if st.Kind == KindProvider {
			name += "+"
		}
		switch {
		case st.Kind == KindLiar && !st.Alive:
			fmt.Fprintf(&b, "  %s: down", name)
		case st.Kind == KindLiar && st.Caught == 0:
			fmt.Fprintf(&b, "  %s→%s: not caught yet", name, st.Fronts)
		case st.Kind == KindLiar:
			fmt.Fprintf(&b, "  %s→%s: caught %d×", name, st.Fronts, st.Caught)
		case !st.Alive:
			fmt.Fprintf(&b, "  %s: down", name)
		case st.Err != "":
			fmt.Fprintf(&b, "  %s: no answer", name)
		case st.Kind == KindLight:
			fmt.Fprintf(&b, "  %s: #%d %s s%d", name, st.Head, st.HeadHash.Hex()[2:6], st.Peers)
			if st.Dropped > 0 {
				fmt.Fprintf(&b, " dropped %d", st.Dropped)
			}
		default:
			fmt.Fprintf(&b, "  %s: #%d %s p%d", name, st.Head, st.HeadHash.Hex()[2:6], st.Peers)
		}
		if st.Fault != nil && st.Alive {
			fmt.Fprintf(&b, " [%s]", st.Fault.Text)
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

// logTail returns the last n lines of the file at path (at most 4 KiB).
func logTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer f.Close()
	const most = 4 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > most {
		_, _ = f.Seek(fi.Size()-most, io.SeekStart)
	}
	data, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
