package sim

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/quicreuse"
	"github.com/marcopolo/simnet"
	"github.com/quic-go/quic-go"
	"go.uber.org/fx"
)

// Region is where a simulated peer is.
type Region int

// regionNames are AWS region codes.
var regionNames = [...]string{"us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1", "ap-southeast-1", "ap-southeast-2", "sa-east-1"}

// regionShare is the share of peers in each region, roughly the spread of
// public blockchain nodes (North America and Europe hold most).
var regionShare = [...]float64{0.25, 0.12, 0.15, 0.20, 0.10, 0.08, 0.05, 0.05}

// regionRTT is the round-trip time in milliseconds between regions: the
// average inter-region latencies measured between AWS regions, as
// published in "Latency Between AWS Global Regions" and tabulated at
// https://acomputerscientistlearnsaws.blogspot.com/2017/04/aws-regions.html
// (the two directions averaged, rounded to the millisecond). Within a
// region: 2 ms.
var regionRTT = [len(regionNames)][len(regionNames)]float64{
	//          use1 usw2 euw1 euc1 apne1 apse1 apse2 sae1
	/* use1  */ {2, 88, 81, 89, 145, 217, 230, 120},
	/* usw2  */ {88, 2, 137, 160, 89, 161, 162, 183},
	/* euw1  */ {81, 137, 2, 20, 212, 239, 310, 191},
	/* euc1  */ {89, 160, 20, 2, 237, 326, 324, 195},
	/* apne1 */ {145, 89, 212, 237, 2, 74, 104, 257},
	/* apse1 */ {217, 161, 239, 326, 74, 2, 175, 328},
	/* apse2 */ {230, 162, 310, 324, 104, 175, 2, 323},
	/* sae1  */ {120, 183, 191, 195, 257, 328, 323, 2},
}

func (r Region) String() string { return regionNames[r] }

// Americas reports whether r is in North or South America: the partition
// cuts the Americas from the rest of the world.
func (r Region) Americas() bool { return r == 0 || r == 1 || r == 7 }

// simPeer is what the network knows of one peer.
type simPeer struct {
	region Region
	// access is the one-way delay of the peer's own link (its last mile),
	// added to every packet it sends or receives.
	access time.Duration
	mbit   int
	sent   atomic.Uint64 // UDP payload bytes written
	// offline drops every packet to and from the peer.
	offline atomic.Bool
}

// Network is the simulated internet: simnet for bandwidth, queues and
// latency, plus what simnet v0.0.7 does not have — random packet loss, a
// partition and peers going offline — applied by the peers' packet
// connections.
type Network struct {
	sim   *simnet.Simnet
	peers []*simPeer
	loss  float64

	// cut is set while the network is partitioned: packets between the
	// Americas and the rest are dropped.
	cut atomic.Bool

	mu  sync.Mutex
	rng *rand.Rand // packet loss draws
}

// newNetwork places n peers in regions and gives them links, all from rng.
func newNetwork(n int, sc *Scenario, rng *rand.Rand) *Network {
	nw := &Network{loss: sc.Loss, rng: rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))}
	for i := 0; i < n; i++ {
		p := &simPeer{region: pickRegion(rng)}
		p.access = time.Duration(2+rng.IntN(19)) * time.Millisecond
		p.mbit = sc.MinMbit + rng.IntN(sc.MaxMbit-sc.MinMbit+1)
		nw.peers = append(nw.peers, p)
	}
	nw.sim = &simnet.Simnet{LatencyFunc: nw.latency}
	return nw
}

func pickRegion(rng *rand.Rand) Region {
	x := rng.Float64()
	for i, s := range regionShare {
		if x < s {
			return Region(i)
		}
		x -= s
	}
	return Region(len(regionShare) - 1)
}

// latency is the one-way delay of a packet: half the regions' round trip
// plus both peers' access links.
func (nw *Network) latency(p *simnet.Packet) time.Duration {
	a, b := nw.peerOf(p.From), nw.peerOf(p.To)
	if a == nil || b == nil {
		return 50 * time.Millisecond
	}
	rtt := regionRTT[a.region][b.region]
	return time.Duration(rtt/2*float64(time.Millisecond)) + a.access + b.access
}

// oneWay is the latency between peers i and j without queueing.
func (nw *Network) oneWay(i, j int) time.Duration {
	a, b := nw.peers[i], nw.peers[j]
	return time.Duration(regionRTT[a.region][b.region]/2*float64(time.Millisecond)) + a.access + b.access
}

// addr is peer i's UDP address: 1.x.y.z with i in the low 24 bits.
func addr(i int) *net.UDPAddr {
	return &net.UDPAddr{IP: net.IPv4(1, byte(i>>16), byte(i>>8), byte(i)), Port: 8000}
}

func multiaddr(i int) string {
	a := addr(i)
	return fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", a.IP, a.Port)
}

func (nw *Network) peerOf(a net.Addr) *simPeer {
	u, ok := a.(*net.UDPAddr)
	if !ok {
		return nil
	}
	ip := u.IP.To4()
	if ip == nil || ip[0] != 1 {
		return nil
	}
	i := int(ip[1])<<16 | int(ip[2])<<8 | int(ip[3])
	if i >= len(nw.peers) {
		return nil
	}
	return nw.peers[i]
}

// drops reports whether a packet from a to b is lost: offline peers, the
// partition, and random loss.
func (nw *Network) drops(a, b *simPeer) bool {
	if a.offline.Load() || b.offline.Load() {
		return true
	}
	if nw.cut.Load() && a.region.Americas() != b.region.Americas() {
		return true
	}
	if nw.loss == 0 {
		return false
	}
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.rng.Float64() < nw.loss
}

// conn is a peer's UDP socket on the simulated network: simnet's, with
// loss, cuts and byte accounting on the way out.
type conn struct {
	*simnet.SimConn
	nw   *Network
	self *simPeer
}

func (c *conn) WriteTo(p []byte, to net.Addr) (int, error) {
	c.self.sent.Add(uint64(len(p)))
	if dst := c.nw.peerOf(to); dst != nil && c.nw.drops(c.self, dst) {
		return len(p), nil
	}
	return c.SimConn.WriteTo(p, to)
}

// sourceIP answers quic-go's question of which local address reaches a
// destination: the peer's only one.
type sourceIP struct{ ip net.IP }

func (s sourceIP) PreferredSourceIPForDestination(*net.UDPAddr) (net.IP, error) { return s.ip, nil }

// transports are the libp2p options that put peer i on the network: QUIC
// over its simulated socket (what go-libp2p's x/simlibp2p.QUICSimnet does,
// with the socket wrapped). libp2p takes only QUIC, so no real socket is
// ever opened.
func (nw *Network) transports(i int) []libp2p.Option {
	self := nw.peers[i]
	bps := self.mbit * 1_000_000
	link := simnet.NodeBiDiLinkSettings{
		Downlink: simnet.LinkSettings{BitsPerSecond: bps},
		Uplink:   simnet.LinkSettings{BitsPerSecond: bps},
	}
	src := sourceIP{ip: addr(i).IP}
	reuse := []quicreuse.Option{
		quicreuse.OverrideSourceIPSelector(func() (quicreuse.SourceIPSelector, error) { return src, nil }),
		quicreuse.OverrideListenUDP(func(_ string, a *net.UDPAddr) (net.PacketConn, error) {
			return &conn{SimConn: nw.sim.NewEndpoint(a, link), nw: nw, self: self}, nil
		}),
	}
	return []libp2p.Option{
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.QUICReuse(func(l fx.Lifecycle, reset quic.StatelessResetKey, token quic.TokenGeneratorKey, opts ...quicreuse.Option) (*quicreuse.ConnManager, error) {
			cm, err := quicreuse.NewConnManager(reset, token, opts...)
			if err != nil {
				return nil, err
			}
			// libp2p does not close a connection manager it was given.
			l.Append(fx.StopHook(cm.Close))
			return cm, nil
		}, reuse...),
	}
}
