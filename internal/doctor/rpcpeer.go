package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
)

// RPCPeer is a Peer read over its JSON-RPC.
type RPCPeer struct {
	url    string
	c      *gethrpc.Client
	http   *http.Client
	listen func(port int) ([]string, error)
}

// DialRPC connects to the JSON-RPC at rawURL and checks that it answers.
func DialRPC(ctx context.Context, rawURL string) (*RPCPeer, error) {
	c, err := gethrpc.DialContext(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", rawURL, err)
	}
	var num hexutil.Uint64
	if err := c.CallContext(ctx, &num, "eth_blockNumber"); err != nil {
		c.Close()
		return nil, fmt.Errorf("eth_blockNumber at %s: %w", rawURL, err)
	}
	return &RPCPeer{url: rawURL, c: c, http: &http.Client{Timeout: 10 * time.Second}, listen: ListeningAddrs}, nil
}

// Close closes the connection.
func (p *RPCPeer) Close() { p.c.Close() }

// Info is peerchain_nodeInfo.
func (p *RPCPeer) Info(ctx context.Context) (Info, error) {
	var raw struct {
		Client string   `json:"client"`
		ID     string   `json:"id"`
		Listen []string `json:"listenAddrs"`
	}
	if err := p.c.CallContext(ctx, &raw, "peerchain_nodeInfo"); err != nil {
		return Info{}, err
	}
	return Info{Client: raw.Client, ID: raw.ID, Listen: raw.Listen}, nil
}

type rpcHeader struct {
	Number hexutil.Uint64 `json:"number"`
	Time   hexutil.Uint64 `json:"timestamp"`
}

// Status is eth_syncing with the latest header.
func (p *RPCPeer) Status(ctx context.Context) (SyncStatus, error) {
	var syncing json.RawMessage
	var head *rpcHeader
	batch := []gethrpc.BatchElem{
		{Method: "eth_syncing", Result: &syncing},
		{Method: "eth_getBlockByNumber", Args: []any{"latest", false}, Result: &head},
	}
	if err := p.c.BatchCallContext(ctx, batch); err != nil {
		return SyncStatus{}, err
	}
	for _, b := range batch {
		if b.Error != nil {
			return SyncStatus{}, fmt.Errorf("%s: %w", b.Method, b.Error)
		}
	}
	if head == nil {
		return SyncStatus{}, errors.New("eth_getBlockByNumber(latest): no block")
	}
	st := SyncStatus{At: time.Now(), Current: uint64(head.Number), Highest: uint64(head.Number),
		HeadTime: time.Unix(int64(head.Time), 0)}
	if !bytes.Equal(bytes.TrimSpace(syncing), []byte("false")) {
		var s struct {
			Current hexutil.Uint64 `json:"currentBlock"`
			Highest hexutil.Uint64 `json:"highestBlock"`
		}
		if err := json.Unmarshal(syncing, &s); err != nil {
			return SyncStatus{}, fmt.Errorf("eth_syncing answer %s: %w", syncing, err)
		}
		st.Syncing, st.Current, st.Highest = true, uint64(s.Current), max(uint64(s.Highest), uint64(s.Current))
	}
	return st, nil
}

// Peers is peerchain_peers.
func (p *RPCPeer) Peers(ctx context.Context) ([]Conn, error) {
	var raw []struct {
		ID        string   `json:"id"`
		Addrs     []string `json:"addrs"`
		Direction string   `json:"direction"`
		UserAgent string   `json:"userAgent"`
		Light     bool     `json:"light"`
		Head      *struct {
			Number hexutil.Uint64 `json:"number"`
		} `json:"head"`
	}
	if err := p.c.CallContext(ctx, &raw, "peerchain_peers"); err != nil {
		return nil, err
	}
	out := make([]Conn, 0, len(raw))
	for _, r := range raw {
		if r.Direction != "inbound" && r.Direction != "outbound" {
			continue // a light peer's sources (providers) are not connections
		}
		c := Conn{ID: r.ID, Addrs: r.Addrs, Inbound: r.Direction == "inbound", UserAgent: r.UserAgent, Light: r.Light}
		if r.Head != nil {
			c.Head = uint64(r.Head.Number)
		}
		out = append(out, c)
	}
	return out, nil
}

// Blocks reads the head and the n-1 blocks below it in one batch.
func (p *RPCPeer) Blocks(ctx context.Context, n int) ([]BlockTime, error) {
	var num hexutil.Uint64
	if err := p.c.CallContext(ctx, &num, "eth_blockNumber"); err != nil {
		return nil, err
	}
	count := min(uint64(n), uint64(num)+1)
	heads := make([]*rpcHeader, count)
	batch := make([]gethrpc.BatchElem, count)
	for i := range batch {
		batch[i] = gethrpc.BatchElem{Method: "eth_getBlockByNumber",
			Args: []any{hexutil.Uint64(uint64(num) - uint64(i)), false}, Result: &heads[i]}
	}
	if err := p.c.BatchCallContext(ctx, batch); err != nil {
		return nil, err
	}
	out := make([]BlockTime, 0, count)
	for i, b := range batch {
		if b.Error != nil || heads[i] == nil {
			continue // a reorg under us: fewer blocks
		}
		out = append(out, BlockTime{Number: uint64(heads[i].Number), Time: time.Unix(int64(heads[i].Time), 0)})
	}
	return out, nil
}

// Arrivals is the gossiped blocks among peerchain_blockArrivals.
func (p *RPCPeer) Arrivals(ctx context.Context) ([]Arrival, error) {
	var raw []struct {
		Number  hexutil.Uint64 `json:"number"`
		TimeMs  int64          `json:"timeMs"`
		DelayMs int64          `json:"delayMs"`
		Via     string         `json:"via"`
	}
	if err := p.c.CallContext(ctx, &raw, "peerchain_blockArrivals", 64); err != nil {
		if isMethodNotFound(err) {
			return nil, ErrUnsupported
		}
		return nil, err
	}
	var out []Arrival
	for _, a := range raw {
		if a.Via != "gossip" {
			continue // a synced block is old by design; a mined one used our clock
		}
		out = append(out, Arrival{Number: uint64(a.Number), At: time.UnixMilli(a.TimeMs), Delay: time.Duration(a.DelayMs) * time.Millisecond})
	}
	return out, nil
}

func isMethodNotFound(err error) bool {
	var e gethrpc.Error
	return errors.As(err, &e) && e.ErrorCode() == -32601
}

// Exposure probes the RPC: where its port is bound on this machine,
// whether it signs and holds unlocked accounts, and whether it answers a
// foreign Host or Origin.
func (p *RPCPeer) Exposure(ctx context.Context) (Exposure, error) {
	e := Exposure{URL: p.url}
	u, err := url.Parse(p.url)
	if err != nil {
		return e, fmt.Errorf("rpc url %q: %w", p.url, err)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "wss": "443"}[u.Scheme]
		if port == "" {
			port = "80"
		}
	}
	if ip := net.ParseIP(host); (ip != nil && !ip.IsLoopback()) || (ip == nil && host != "localhost") {
		e.Public = true // reached at an address beyond loopback
	}
	if pn, err := strconv.Atoi(port); err == nil && p.listen != nil {
		if bound, err := p.listen(pn); err == nil {
			for _, b := range bound {
				e.Bound = append(e.Bound, net.JoinHostPort(b, port))
				if ip := net.ParseIP(b); ip == nil || !ip.IsLoopback() {
					e.Public = true
				}
			}
		}
	}
	var accts []string
	if err := p.c.CallContext(ctx, &accts, "eth_accounts"); err != nil && !isMethodNotFound(err) {
		return e, fmt.Errorf("eth_accounts: %w", err)
	}
	e.Accounts = accts
	// A provider registers no signing method (no personal_ namespace).
	var modules map[string]string
	if err := p.c.CallContext(ctx, &modules, "rpc_modules"); err == nil {
		_, e.Signing = modules["personal"]
	} else {
		// Without rpc_modules: a provider answers eth_sign "not found",
		// others fail on the unknown account.
		var sig hexutil.Bytes
		err = p.c.CallContext(ctx, &sig, "eth_sign", "0x0000000000000000000000000000000000000000", "0x")
		e.Signing = err == nil || !isMethodNotFound(err)
	}

	httpURL := *u
	httpURL.Scheme = map[string]string{"ws": "http", "wss": "https"}[u.Scheme]
	if httpURL.Scheme == "" {
		httpURL.Scheme = u.Scheme
	}
	if code, _, err := p.probe(ctx, httpURL.String(), "doctor-probe.invalid", ""); err == nil {
		e.AnyHost = code == http.StatusOK
	} else {
		return e, err
	}
	if code, h, err := p.probe(ctx, httpURL.String(), "", "http://doctor-probe.invalid"); err == nil {
		acao := h.Get("Access-Control-Allow-Origin")
		e.AnyOrigin = code == http.StatusOK && (acao == "*" || acao == "http://doctor-probe.invalid")
	} else {
		return e, err
	}
	return e, nil
}

// probe posts eth_chainId with a chosen Host or Origin header.
func (p *RPCPeer) probe(ctx context.Context, u, host, origin string) (int, http.Header, error) {
	body := `{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if host != "" {
		req.Host = host
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("probe %s: %w", u, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, resp.Header, nil
}
