// Package doctor checks a peer's data dir and a running peer and says in
// words what is wrong and how to fix it: version, RPC exposure, peer
// count and diversity, reachability of the announced P2P addresses, clock
// offset, disk space and growth, and sync progress.
//
// Each check is one function returning a Result; the checks read the
// peer through the small Peer interface (RPCPeer asks a peer's JSON-RPC),
// the data dir through Disk, announced addresses through Dialer and time
// through Clock, so a test can plant every fault. Run gathers two samples
// a Window apart (for rates) and runs every check.
//
// It imports only internal/params (for our version).
package doctor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/peerchain/peerchain/internal/params"
)

// Status is a check's verdict.
type Status string

// The verdicts.
const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Result is one check's finding.
type Result struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	// What says what was found, in words.
	What string `json:"what"`
	// Fix says what to do about it (empty when OK).
	Fix string `json:"fix,omitempty"`
}

// Peer is what the checks read from a running peer.
type Peer interface {
	// Info is the peer's identity: peerchain_nodeInfo.
	Info(ctx context.Context) (Info, error)
	// Status is the head and the sync's progress.
	Status(ctx context.Context) (SyncStatus, error)
	// Peers are the peer's connections: peerchain_peers.
	Peers(ctx context.Context) ([]Conn, error)
	// Blocks are the timestamps of the head and the n-1 blocks below it,
	// newest first.
	Blocks(ctx context.Context, n int) ([]BlockTime, error)
	// Arrivals are the recent gossiped blocks' arrival delays
	// (peerchain_blockArrivals); ErrUnsupported when not served.
	Arrivals(ctx context.Context) ([]Arrival, error)
	// Exposure is who can reach the RPC and what it lets them do.
	Exposure(ctx context.Context) (Exposure, error)
}

// ErrUnsupported is returned by a Peer that cannot answer a question.
var ErrUnsupported = errors.New("not served by this peer")

// Info is a peer's identity.
type Info struct {
	Client string   // "peerchain/v0.1.0"
	ID     string   // libp2p peer id; empty with P2P off
	Listen []string // announced multiaddrs, with /p2p/<id>
}

// SyncStatus is the head and the sync's progress at one instant.
type SyncStatus struct {
	At       time.Time // when it was read
	Current  uint64
	Highest  uint64 // = Current when not syncing
	Syncing  bool
	HeadTime time.Time // the head block's timestamp
}

// Conn is one connection of the peer.
type Conn struct {
	ID        string
	Addrs     []string
	Inbound   bool
	UserAgent string
	Light     bool
	Head      uint64 // the head it claims, 0 if unknown
}

// BlockTime is a block's number and timestamp.
type BlockTime struct {
	Number uint64
	Time   time.Time
}

// Arrival is when a gossiped block first reached the peer.
type Arrival struct {
	Number uint64
	At     time.Time
	Delay  time.Duration // At minus the block's timestamp
}

// Exposure is what an RPC lets whom do.
type Exposure struct {
	// URL is the address the doctor reached.
	URL string
	// Bound are the addresses the RPC's port is bound to on this machine
	// (0.0.0.0, ::, 127.0.0.1, ...); empty when not known (another
	// machine, no /proc).
	Bound []string
	// Public: the RPC is reachable beyond loopback (bound to a wildcard
	// or non-loopback address, or reached at one).
	Public bool
	// Signing: eth_sign and personal_ are served (not a provider).
	Signing bool
	// Accounts are the unlocked accounts (eth_accounts).
	Accounts []string
	// AnyOrigin: a browser page of any origin may call it (CORS).
	AnyOrigin bool
	// AnyHost: any Host header is answered (no DNS-rebinding guard).
	AnyHost bool
}

// Disk reads the filesystem of the data dir.
type Disk interface {
	// Space is the free (for unprivileged users) and total bytes of the
	// filesystem holding path.
	Space(path string) (free, total uint64, err error)
	// Size is the bytes of the files under path.
	Size(path string) (int64, error)
}

// Dialer dials one announced multiaddr (with /p2p/<id>).
type Dialer interface {
	Dial(ctx context.Context, addr string) error
}

// Clock is the time and the wait between the samples.
type Clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

// Config is what Run checks and with what.
type Config struct {
	// Peer is the running peer; nil checks the data dir only.
	Peer Peer
	// PeerErr is why there is no Peer (it could not be reached).
	PeerErr error
	// PeerURL names the peer in the findings.
	PeerURL string
	// DataDir is the data dir; empty skips the disk check.
	DataDir string
	Disk    Disk
	// Dialer dials the announced addresses; nil skips reachability.
	Dialer Dialer
	// Clock; default the system clock.
	Clock Clock
	// Window is the time between the two samples. Default 10 s.
	Window time.Duration
	// DialTimeout bounds one dial. Default 5 s.
	DialTimeout time.Duration
	// MinFree fails the disk check below it. Default 1 GiB.
	MinFree uint64
	// WarnFree warns below it. Default 10 GiB.
	WarnFree uint64
	// Version is ours. Default params.Version.
	Version string
}

func (c *Config) defaults() {
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.Window <= 0 {
		c.Window = 10 * time.Second
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.MinFree == 0 {
		c.MinFree = 1 << 30
	}
	if c.WarnFree == 0 {
		c.WarnFree = 10 << 30
	}
	if c.Version == "" {
		c.Version = params.Version
	}
	if c.Disk == nil {
		c.Disk = OSDisk{}
	}
}

// SystemClock is the machine's clock.
type SystemClock struct{}

// Now is time.Now.
func (SystemClock) Now() time.Time { return time.Now() }

// Sleep waits d or until ctx ends.
func (SystemClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// recentBlocks is how many blocks the clock check reads.
const recentBlocks = 11

// Run samples the peer and the data dir twice, Window apart, and runs
// every check. It fails only when ctx ends; every other problem is a
// Result.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	cfg.defaults()
	var out []Result
	var disk1 diskSample
	if cfg.DataDir != "" {
		disk1 = sampleDisk(cfg.Disk, cfg.DataDir, cfg.Clock.Now())
	}
	if cfg.Peer == nil {
		if cfg.PeerURL != "" {
			err := cfg.PeerErr
			if err == nil {
				err = errors.New("no peer")
			}
			out = append(out, Result{Name: "peer", Status: Fail,
				What: fmt.Sprintf("no peer answers at %s: %v", cfg.PeerURL, err),
				Fix:  "start the peer (peerchain node), or point the doctor at its RPC with --rpc URL"})
		}
		if cfg.DataDir != "" {
			if err := cfg.Clock.Sleep(ctx, cfg.Window); err != nil {
				return nil, err
			}
			out = append(out, CheckDisk(cfg, disk1, sampleDisk(cfg.Disk, cfg.DataDir, cfg.Clock.Now())))
		}
		return out, nil
	}
	p := cfg.Peer
	info, infoErr := p.Info(ctx)
	st1, st1Err := p.Status(ctx)
	if err := cfg.Clock.Sleep(ctx, cfg.Window); err != nil {
		return nil, err
	}
	st2, st2Err := p.Status(ctx)
	blocks, blocksErr := p.Blocks(ctx, recentBlocks)
	arrivals, _ := p.Arrivals(ctx)
	conns, connsErr := p.Peers(ctx)
	exp, expErr := p.Exposure(ctx)

	out = append(out, CheckVersion(cfg.Version, info, infoErr))
	out = append(out, CheckExposure(exp, expErr))
	out = append(out, CheckPeers(info, conns, connsErr))
	if cfg.Dialer != nil {
		out = append(out, CheckReachability(ctx, cfg.Dialer, cfg.DialTimeout, info, infoErr))
	}
	out = append(out, CheckClock(cfg.Clock.Now(), blocks, blocksErr, arrivals, st1))
	if cfg.DataDir != "" {
		out = append(out, CheckDisk(cfg, disk1, sampleDisk(cfg.Disk, cfg.DataDir, cfg.Clock.Now())))
	}
	syncErr := st1Err
	if syncErr == nil {
		syncErr = st2Err
	}
	out = append(out, CheckSync(st1, st2, syncErr, blocks, conns))
	return out, ctx.Err()
}

// Worst is the worst status among rs.
func Worst(rs []Result) Status {
	w := OK
	for _, r := range rs {
		switch {
		case r.Status == Fail:
			return Fail
		case r.Status == Warn:
			w = Warn
		}
	}
	return w
}
