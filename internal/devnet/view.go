package devnet

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// printTable prints every peer once all of them answer.
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
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t…%s\t%s\n", p.info.Name, p.info.PID, p.info.RPC, miner, shortID(p.info.ID), p.info.P2P[0])
	}
	w.Flush()
	fmt.Fprintf(s.cfg.Out, "devnet.json: %s (chain id %d)\n", StateFile(s.cfg.Dir), s.mu.chainID)
	fmt.Fprintf(s.cfg.Out, "control:     peerchain devnet kill|restart NAME, partition A,B C,D, heal, status --dir %s\n", s.cfg.Dir)
	if !s.cfg.Quiet {
		fmt.Fprintln(s.cfg.Out, "live:        name (* mines): #head hash pN = connected peers; Ctrl-C stops every peer")
	}
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[len(id)-8:]
	}
	return id
}

// printStatus prints one line: every peer's head number, short head hash
// and peer count, or that it is down.
func (s *Supervisor) printStatus(ctx context.Context) {
	var b bytes.Buffer
	b.WriteString(time.Now().Format("15:04:05"))
	for _, st := range s.Status(ctx) {
		name := st.Name
		if st.Miner {
			name += "*"
		}
		switch {
		case !st.Alive:
			fmt.Fprintf(&b, "  %s: down", name)
		case st.Err != "":
			fmt.Fprintf(&b, "  %s: no answer", name)
		default:
			fmt.Fprintf(&b, "  %s: #%d %s p%d", name, st.Head, st.HeadHash.Hex()[2:6], st.Peers)
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
