package light

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/gorilla/websocket"

	"github.com/peerchain/peerchain/internal/rpc"
)

// byteCounter counts the bytes moved with one provider, on the wire
// (headers and TLS included), over every connection to it.
type byteCounter struct{ in, out atomic.Uint64 }

// countingConn is a connection whose reads and writes are counted.
type countingConn struct {
	net.Conn
	c *byteCounter
}

func (cc countingConn) Read(p []byte) (int, error) {
	n, err := cc.Conn.Read(p)
	cc.c.in.Add(uint64(n))
	return n, err
}

func (cc countingConn) Write(p []byte) (int, error) {
	n, err := cc.Conn.Write(p)
	cc.c.out.Add(uint64(n))
	return n, err
}

// countingDialOptions are the JSON-RPC client options whose HTTP and
// WebSocket connections count their bytes in c.
func countingDialOptions(c *byteCounter) []gethrpc.ClientOption {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{conn, c}, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = dial
	return []gethrpc.ClientOption{
		gethrpc.WithHTTPClient(&http.Client{Transport: tr}),
		gethrpc.WithWebsocketDialer(websocket.Dialer{NetDialContext: dial, Proxy: http.ProxyFromEnvironment,
			HandshakeTimeout: 30 * time.Second}),
	}
}

// traffic fills in the bytes moved with a source: a provider's from its
// connections, a full peer's from the libp2p host's counters.
func (n rpcNet) traffic(src Source, info *rpc.PeerInfo) {
	switch s := src.(type) {
	case *RPCSource:
		info.BytesIn, info.BytesOut = s.bytes.in.Load(), s.bytes.out.Load()
	case *p2pSource:
		if n.l.host != nil {
			t := n.l.host.Traffic(s.p)
			info.BytesIn, info.BytesOut, info.RateIn, info.RateOut = t.BytesIn, t.BytesOut, t.RateIn, t.RateOut
		}
	}
}
