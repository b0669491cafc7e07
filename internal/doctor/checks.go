package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// askFix is the fix of a check whose question the peer did not answer.
const askFix = "check that the peer's RPC answers (peerchain rpc --url URL eth_blockNumber) and is a full peerchain node"

// MaxFuture is how far ahead of the local clock a block's timestamp may
// be: the chain refuses blocks further in the future.
const MaxFuture = 15 * time.Second

// clockWarn is the skew that is reported before it breaks anything.
const clockWarn = 5 * time.Second

// CheckVersion compares our version with the peer's.
func CheckVersion(ours string, info Info, err error) Result {
	r := Result{Name: "version"}
	if err != nil {
		r.Status, r.What = Fail, fmt.Sprintf("peerchain_nodeInfo failed: %v (is this a peerchain peer?)", err)
		r.Fix = "point --rpc at a peerchain node's JSON-RPC"
		return r
	}
	theirs := strings.TrimPrefix(info.Client[strings.LastIndex(info.Client, "/")+1:], "v")
	if theirs == ours {
		r.Status, r.What = OK, fmt.Sprintf("peerchain %s here and on the peer (%s)", ours, info.Client)
		return r
	}
	r.Status = Warn
	r.What = fmt.Sprintf("the peer runs %q, this doctor is peerchain %s", info.Client, ours)
	r.Fix = "restart the peer with the binary you installed (or run the doctor of the peer's version): checks assume the same version"
	return r
}

// CheckExposure judges who can reach the RPC and what they can do with it.
func CheckExposure(e Exposure, err error) Result {
	r := Result{Name: "rpc-exposure"}
	if err != nil {
		r.Status, r.What, r.Fix = Warn, fmt.Sprintf("could not probe the RPC: %v", err), askFix
		return r
	}
	where := e.URL
	if len(e.Bound) > 0 {
		where = "bound to " + strings.Join(e.Bound, ", ")
	}
	switch {
	case e.Public && len(e.Accounts) > 0:
		r.Status = Fail
		r.What = fmt.Sprintf("the RPC is reachable beyond loopback (%s) with %d unlocked account(s) (%s): anyone who reaches it can spend them", where, len(e.Accounts), accountList(e.Accounts))
		r.Fix = "listen on loopback (--rpc 127.0.0.1:8545), or serve the public with --provider and without --unlock/--dev"
	case e.Public && e.Signing:
		r.Status = Fail
		r.What = fmt.Sprintf("the RPC is reachable beyond loopback (%s) with its whole API (signing, personal_) and no --provider: no rate limits, and any account unlocked later is open to all", where)
		r.Fix = "add --provider (rate limits, no signing, no accounts) or listen on loopback (--rpc 127.0.0.1:8545); --allow-insecure-unlock is for private networks only"
	case e.AnyOrigin && len(e.Accounts) > 0:
		r.Status = Fail
		r.What = fmt.Sprintf("any web page may call the RPC (CORS allows every origin) and it has %d unlocked account(s)", len(e.Accounts))
		r.Fix = "drop \"*\" from --rpc.cors: list only the origins of your own pages"
	case e.AnyHost:
		r.Status = Warn
		r.What = fmt.Sprintf("the RPC (%s) answers requests for any host name (--rpc.vhosts *): a web page can reach it by DNS rebinding", where)
		r.Fix = "list the names the RPC is reached by in --rpc.vhosts instead of \"*\""
	case e.AnyOrigin:
		r.Status = Warn
		r.What = fmt.Sprintf("any web page may call the RPC (%s): CORS allows every origin", where)
		r.Fix = "list only your own pages' origins in --rpc.cors"
	case e.Public:
		r.Status, r.What = OK, fmt.Sprintf("a public provider (%s): no unlocked accounts, no signing methods", where)
	default:
		r.Status, r.What = OK, fmt.Sprintf("the RPC listens on loopback only (%s); %d unlocked account(s); foreign Host names and origins are refused", where, len(e.Accounts))
	}
	return r
}

// CheckPeers judges the peer's connections: how many, which way, from
// how many networks.
func CheckPeers(info Info, conns []Conn, err error) Result {
	r := Result{Name: "peers"}
	if err != nil {
		r.Status, r.What, r.Fix = Fail, fmt.Sprintf("peerchain_peers failed: %v", err), askFix
		return r
	}
	if info.ID == "" && len(conns) == 0 {
		r.Status, r.What = Warn, "P2P is off (--p2p off): the peer runs alone and follows no network"
		r.Fix = "start it with --p2p and --bootnodes to join a network"
		return r
	}
	var full, in, out, light int
	groups := map[string]bool{}
	local := true
	for _, c := range conns {
		if c.Light {
			light++
			continue
		}
		full++
		if c.Inbound {
			in++
		} else {
			out++
		}
		g, isLocal := addrGroup(c.Addrs)
		groups[g] = true
		local = local && isLocal
	}
	bootFix := "give --bootnodes (multiaddrs ending in /p2p/<id>, from peerchain_nodeInfo on peers of the network) and make sure the P2P port is reachable (see p2p-reachability)"
	switch {
	case full == 0:
		r.Status = Fail
		r.What = fmt.Sprintf("no full peers (%d light): this peer sees no chain but its own and relays nothing", light)
		r.Fix = bootFix
		return r
	case full < 3:
		r.Status = Warn
		r.What = fmt.Sprintf("only %d full peer(s) (%d in, %d out): one peer can hide the network's chain from this one", full, in, out)
		r.Fix = bootFix
		return r
	case out == 0:
		r.Status = Warn
		r.What = fmt.Sprintf("%d peers, all of which dialled in: none was chosen by this peer, so they could all be one party's", full)
		r.Fix = "give --bootnodes of peers you trust, and keep the DHT on (no --p2p.nodht)"
		return r
	case !local && len(groups) == 1 && full >= 4:
		r.Status = Warn
		r.What = fmt.Sprintf("%d peers, all in one network (%s): one operator could control them all", full, keys(groups)[0])
		r.Fix = "add --bootnodes in other networks"
		return r
	}
	r.Status = OK
	r.What = fmt.Sprintf("%d full peers (%d in, %d out) from %d network(s)", full, in, out, len(groups))
	if local {
		r.What += ", all on this machine or a private network"
	}
	if light > 0 {
		r.What += fmt.Sprintf("; %d light peers", light)
	}
	return r
}

// addrGroup is the network of a peer's first address (an IPv4 /16, an
// IPv6 /32, or a DNS name) and whether it is loopback or private.
func addrGroup(addrs []string) (string, bool) {
	for _, a := range addrs {
		parts := strings.Split(a, "/")
		if len(parts) < 3 {
			continue
		}
		switch parts[1] {
		case "ip4", "ip6":
			ip, err := netip.ParseAddr(parts[2])
			if err != nil {
				continue
			}
			bits := 16
			if ip.Is6() && !ip.Is4In6() {
				bits = 32
			}
			p, _ := ip.Prefix(bits)
			return p.String(), ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast()
		case "dns", "dns4", "dns6":
			return parts[2], parts[2] == "localhost"
		}
	}
	return "unknown", false
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// CheckReachability dials every announced address from a fresh host.
func CheckReachability(ctx context.Context, d Dialer, timeout time.Duration, info Info, infoErr error) Result {
	r := Result{Name: "p2p-reachability"}
	if infoErr != nil {
		r.Status, r.What, r.Fix = Warn, fmt.Sprintf("announced addresses unknown: %v", infoErr), askFix
		return r
	}
	if len(info.Listen) == 0 {
		r.Status, r.What = Warn, "the peer announces no P2P address (--p2p off): nobody can dial it"
		r.Fix = "start it with --p2p to take part in a network"
		return r
	}
	var okAddrs, failed []string
	allLoopback := true
	for _, a := range info.Listen {
		dctx, cancel := context.WithTimeout(ctx, timeout)
		err := d.Dial(dctx, a)
		cancel()
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s (%v)", a, err))
			continue
		}
		okAddrs = append(okAddrs, a)
		_, isLocal := addrGroup([]string{a})
		allLoopback = allLoopback && isLocal && isLoopbackAddr(a)
	}
	n := len(info.Listen)
	switch {
	case len(okAddrs) == 0:
		r.Status = Fail
		r.What = fmt.Sprintf("none of the %d announced addresses answered a dial from this machine: %s", n, strings.Join(failed, "; "))
		r.Fix = "check --p2p listens on an address of this machine and that no firewall drops its port; behind NAT, forward the port"
	case len(failed) > 0:
		r.Status = Warn
		r.What = fmt.Sprintf("%d of %d announced addresses answered; these did not: %s", len(okAddrs), n, strings.Join(failed, "; "))
		r.Fix = "peers that try the dead addresses waste dials: listen only where the peer is reachable (--p2p)"
	case allLoopback:
		r.Status = Warn
		r.What = fmt.Sprintf("all %d announced addresses answered, but they are loopback only: peers on other machines cannot reach this peer (fine for a devnet on one machine)", n)
		r.Fix = "to join peers elsewhere: --p2p /ip4/0.0.0.0/tcp/30333,/ip4/0.0.0.0/udp/30333/quic-v1"
	default:
		r.Status = OK
		r.What = fmt.Sprintf("all %d announced addresses answered a dial (from this machine: a firewall between other machines and this one is not tested)", n)
	}
	return r
}

func isLoopbackAddr(ma string) bool {
	parts := strings.Split(ma, "/")
	if len(parts) < 3 {
		return false
	}
	ip, err := netip.ParseAddr(parts[2])
	return err == nil && ip.IsLoopback()
}

// CheckClock compares this machine's clock with the timestamps of the
// network's blocks: a head from the future means this clock is behind;
// blocks that keep arriving long after their timestamps mean it is ahead.
func CheckClock(now time.Time, blocks []BlockTime, err error, arrivals []Arrival, before SyncStatus) Result {
	r := Result{Name: "clock"}
	if err != nil {
		r.Status, r.What, r.Fix = Warn, fmt.Sprintf("could not read recent blocks: %v", err), askFix
		return r
	}
	if len(blocks) == 0 {
		r.Status, r.What, r.Fix = Warn, "no blocks to compare the clock with", askFix
		return r
	}
	fix := "synchronise this machine's clock (timedatectl set-ntp true, or chrony/ntpd) and keep it synchronised"
	var ahead time.Duration
	newest := blocks[0]
	for _, b := range blocks {
		if d := b.Time.Sub(now); d > ahead {
			ahead, newest = d, b
		}
	}
	switch {
	case ahead > MaxFuture:
		r.Status, r.Fix = Fail, fix
		r.What = fmt.Sprintf("block %d's timestamp is %v ahead of this machine's clock: this clock is behind the network's, and blocks more than %v ahead are refused, so new blocks from others are ignored", newest.Number, ahead.Round(time.Second), MaxFuture)
		return r
	case ahead > clockWarn:
		r.Status, r.Fix = Warn, fix
		r.What = fmt.Sprintf("block %d's timestamp is %v ahead of this machine's clock: this clock seems behind; past %v blocks are refused", newest.Number, ahead.Round(time.Second), MaxFuture)
		return r
	}
	interval := meanInterval(blocks)
	// How late blocks arrive after their timestamps, less the usual
	// sealing time (about one block interval).
	var lags []time.Duration
	source := "gossiped blocks' arrival"
	for _, a := range arrivals {
		lags = append(lags, a.Delay)
	}
	if len(lags) < 3 { // fall back on the blocks imported during the check
		lags, source = lags[:0], "blocks imported during the check"
		for _, b := range blocks {
			if b.Number > before.Current && !before.At.IsZero() {
				lags = append(lags, now.Sub(b.Time)-now.Sub(before.At)/2)
			}
		}
	}
	if len(lags) == 0 {
		r.Status = OK
		r.What = fmt.Sprintf("the newest block's timestamp is not in the future (head %v old); no new block arrived during the check to tell whether this clock runs ahead", now.Sub(blocks[0].Time).Round(time.Second))
		return r
	}
	slices.Sort(lags)
	med := lags[len(lags)/2]
	behind := med - interval
	switch {
	case behind > MaxFuture:
		r.Status, r.Fix = Fail, fix
		r.What = fmt.Sprintf("%s comes a median %v after their timestamps (blocks every ~%v): this clock is ahead of the network's by about %v, so blocks it mines are refused by others as from the future", source, med.Round(time.Second), interval.Round(time.Second), behind.Round(time.Second))
	case behind > clockWarn:
		r.Status, r.Fix = Warn, fix
		r.What = fmt.Sprintf("%s comes a median %v after their timestamps (blocks every ~%v): this clock may be ahead by about %v", source, med.Round(time.Second), interval.Round(time.Second), behind.Round(time.Second))
	default:
		r.Status = OK
		r.What = fmt.Sprintf("agrees with the network: no block from the future, %s a median %v after the timestamp (%d blocks)", source, med.Round(100*time.Millisecond), len(lags))
	}
	return r
}

// meanInterval is the mean time between the blocks (newest first), 0 if
// unknown.
func meanInterval(blocks []BlockTime) time.Duration {
	if len(blocks) < 2 {
		return 0
	}
	first, last := blocks[len(blocks)-1], blocks[0]
	if last.Number <= first.Number || !last.Time.After(first.Time) {
		return 0
	}
	return last.Time.Sub(first.Time) / time.Duration(last.Number-first.Number)
}

// diskSample is one look at the data dir.
type diskSample struct {
	at          time.Time
	free, total uint64
	size        int64
	err         error
}

func sampleDisk(d Disk, dir string, now time.Time) diskSample {
	s := diskSample{at: now}
	if s.size, s.err = d.Size(dir); s.err != nil {
		return s
	}
	s.free, s.total, s.err = d.Space(dir)
	return s
}

// CheckDisk judges the free space of the data dir's filesystem against
// the data dir's growth over the window.
func CheckDisk(cfg Config, d1, d2 diskSample) Result {
	cfg.defaults()
	r := Result{Name: "disk"}
	if err := errors.Join(d1.err, d2.err); err != nil {
		r.Status, r.What = Fail, fmt.Sprintf("data dir %s: %v", cfg.DataDir, err)
		r.Fix = "point --datadir at the peer's data dir"
		return r
	}
	free := Bytes(d2.free)
	where := fmt.Sprintf("%s free of %s on the filesystem of %s (the data dir holds %s)", free, Bytes(d2.total), cfg.DataDir, Bytes(uint64(max(d2.size, 0))))
	dt := d2.at.Sub(d1.at)
	growth := d2.size - d1.size
	var perSec float64
	if dt > 0 && growth > 0 {
		perSec = float64(growth) / dt.Seconds()
	}
	growthText := fmt.Sprintf("it did not grow in the last %v", dt.Round(time.Second))
	var daysLeft float64
	if perSec > 0 {
		daysLeft = float64(d2.free) / perSec / 86400
		growthText = fmt.Sprintf("it grew %s in %v (%s a day at that rate): full in about %.1f days", Bytes(uint64(growth)), dt.Round(time.Second), Bytes(uint64(perSec*86400)), daysLeft)
	}
	fix := "free space on that filesystem, or stop the peer, move the data dir to a larger disk and start it with --datadir there"
	switch {
	case d2.free < cfg.MinFree:
		r.Status, r.Fix = Fail, fix
		r.What = fmt.Sprintf("only %s; below %s the database cannot write and the peer stops; %s", where, Bytes(cfg.MinFree), growthText)
	case perSec > 0 && daysLeft < 1:
		r.Status, r.Fix = Fail, fix
		r.What = fmt.Sprintf("%s; %s", where, growthText)
	case perSec > 0 && daysLeft < 7:
		r.Status, r.Fix = Warn, fix
		r.What = fmt.Sprintf("%s; %s", where, growthText)
	case d2.free < cfg.WarnFree:
		r.Status, r.Fix = Warn, fix
		r.What = fmt.Sprintf("%s, less than %s; %s", where, Bytes(cfg.WarnFree), growthText)
	default:
		r.Status = OK
		r.What = fmt.Sprintf("%s; %s (a short window is a rough measure: --window 10m for a better one)", where, growthText)
	}
	return r
}

// CheckSync judges whether the peer keeps up: a running sync must import
// blocks between the two samples (its ETA comes from that rate); a peer
// not syncing must have a fresh head and no peer far ahead.
func CheckSync(s1, s2 SyncStatus, err error, blocks []BlockTime, conns []Conn) Result {
	r := Result{Name: "sync"}
	if err != nil {
		r.Status, r.What, r.Fix = Fail, fmt.Sprintf("could not read the sync status: %v", err), askFix
		return r
	}
	dt := s2.At.Sub(s1.At)
	gained := s2.Current - min(s1.Current, s2.Current)
	if s2.Syncing {
		pct := 100 * float64(s2.Current) / float64(max(s2.Highest, 1))
		if gained == 0 {
			r.Status = Fail
			r.What = fmt.Sprintf("sync stalled at block %d of %d (%.1f%%): no block imported in %v", s2.Current, s2.Highest, pct, dt.Round(time.Second))
			r.Fix = "check the peers (above) and the peer's log for \"Sync failed\" and bans: a peer that claims a chain it does not serve is struck and then banned; if all peers stall, add --bootnodes of others"
			return r
		}
		rate := float64(gained) / dt.Seconds()
		eta := time.Duration(float64(s2.Highest-min(s2.Current, s2.Highest)) / rate * float64(time.Second)).Round(time.Second)
		r.Status = OK
		r.What = fmt.Sprintf("syncing: block %d of %d (%.1f%%), %.1f blocks/s over the last %v: about %v left at that rate (the rate changes with block sizes and peers)", s2.Current, s2.Highest, pct, rate, dt.Round(time.Second), eta)
		return r
	}
	var best uint64
	for _, c := range conns {
		best = max(best, c.Head)
	}
	age := s2.At.Sub(s2.HeadTime)
	interval := meanInterval(blocks)
	stale := max(20*interval, 2*time.Minute)
	switch {
	case best > s2.Current+2:
		r.Status = Warn
		r.What = fmt.Sprintf("not syncing at block %d while a peer claims block %d (%d ahead)", s2.Current, best, best-s2.Current)
		r.Fix = "wait a minute and run the doctor again; if it stays, look in the log for blocks refused (clock, bans); a claim costs nothing, so one peer may simply be lying"
	case age > stale:
		r.Status = Warn
		every := ""
		if interval > 0 {
			every = fmt.Sprintf(" (blocks came every ~%v)", interval.Round(time.Second))
		}
		r.What = fmt.Sprintf("in sync at block %d, but the head is %v old%s: the network may have stopped mining, or this peer is cut off", s2.Current, age.Round(time.Second), every)
		r.Fix = "compare with another peer's head; check the peers and clock above"
	default:
		r.Status = OK
		when := fmt.Sprintf("head %v old", age.Round(time.Second))
		if age < 0 {
			when = fmt.Sprintf("head stamped %v in the future: see clock", (-age).Round(time.Second))
		}
		r.What = fmt.Sprintf("in sync at block %d (%s), %d new block(s) in the last %v", s2.Current, when, gained, dt.Round(time.Second))
	}
	return r
}

// Bytes prints n bytes in B, KiB, MiB, GiB or TiB.
func Bytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 3; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGT"[exp])
}

// accountList names the first three accounts.
func accountList(a []string) string {
	if len(a) <= 3 {
		return strings.Join(a, ", ")
	}
	return strings.Join(a[:3], ", ") + fmt.Sprintf(" and %d more", len(a)-3)
}
