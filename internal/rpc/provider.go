package rpc

// Provider mode: the RPC of a full peer that many users reach (Config.
// Provider). It serves no unlocked account and no admin_, personal_ or
// signing method: those are never registered, so they answer "the method
// X does not exist/is not available" and cannot run. Every client gets a
// token bucket: a request spends the cost of its calls (costs below; a
// batch the sum), the bucket refills at ClientRate units a second up to
// ClientBurst, and a client over its budget gets HTTP 429 with
// Retry-After, or over a WebSocket a -32005 error per call. A client is
// its API key when it presents one (Keys), otherwise its IP address (an
// IPv6 address by its /64, what one subscriber usually holds). Behind a
// reverse proxy, the address comes from X-Forwarded-For only when the
// proxy is listed in TrustedProxies: anyone can write that header.

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// APIKey is a client of a provider known by a secret key, presented as
// "Authorization: Bearer KEY" or as the URL path (http://node:8545/KEY,
// ws://node:8545/KEY, as Infura's URLs; a browser's WebSocket cannot set
// headers).
type APIKey struct {
	// Name labels the client in /metrics and logs (the key never appears
	// there): 1 to 64 of A-Z a-z 0-9 _ . -, not "anonymous".
	Name string
	// Key is the secret: 16 to 128 of A-Z a-z 0-9 _ - (safe in a URL
	// path).
	Key string
	// Rate is the cost units a second the key may spend. Default the
	// node's ClientRate.
	Rate float64
	// Burst is the most units the key may spend at once. Default the
	// node's ClientBurst scaled by Rate / ClientRate (as many seconds of
	// its rate as anonymous clients get).
	Burst int
	// Unlimited exempts the key from rate limits (the operator's own
	// services).
	Unlimited bool
}

// anonymous labels the clients without a key in /metrics: one label for
// all, so the metrics of a public node do not grow with its clients.
const anonymous = "anonymous"

// ParseAPIKeys reads a keys file (--provider.keys): one key a line,
//
//	name key [rate [burst]]
//
// name and key as in APIKey, rate in cost units a second or "unlimited",
// burst in units; "#" starts a comment. source names the file in errors.
func ParseAPIKeys(r io.Reader, source string) ([]APIKey, error) {
	var (
		keys  []APIKey
		names = make(map[string]int)
		seen  = make(map[string]int)
		sc    = bufio.NewScanner(r)
		line  = 0
	)
	for sc.Scan() {
		line++
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%s line %d: %s (want: name key [rate [burst]])", source, line, fmt.Sprintf(format, args...))
		}
		if len(fields) < 2 || len(fields) > 4 {
			return nil, bad("%d fields", len(fields))
		}
		k := APIKey{Name: fields[0], Key: fields[1]}
		if !validName(k.Name) {
			return nil, bad("name %q: want 1 to 64 of A-Z a-z 0-9 _ . - and not %q", k.Name, anonymous)
		}
		if !validKey(k.Key) {
			return nil, bad("the key of %q has %d characters: want 16 to 128 of A-Z a-z 0-9 _ -", k.Name, len(k.Key))
		}
		if prev, ok := names[k.Name]; ok {
			return nil, bad("name %q is also on line %d", k.Name, prev)
		}
		if prev, ok := seen[k.Key]; ok {
			return nil, bad("the key of %q is also on line %d", k.Name, prev)
		}
		names[k.Name], seen[k.Key] = line, line
		if len(fields) > 2 {
			if fields[2] == "unlimited" {
				if len(fields) > 3 {
					return nil, bad("an unlimited key takes no burst")
				}
				k.Unlimited = true
			} else {
				rate, err := strconv.ParseFloat(fields[2], 64)
				if err != nil || !(rate > 0) || math.IsInf(rate, 0) {
					return nil, bad("rate %q of %q: want cost units a second above 0, or unlimited", fields[2], k.Name)
				}
				k.Rate = rate
			}
		}
		if len(fields) > 3 {
			burst, err := strconv.Atoi(fields[3])
			if err != nil || burst < 1 {
				return nil, bad("burst %q of %q: want a whole number of cost units, at least 1", fields[3], k.Name)
			}
			k.Burst = burst
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return keys, nil
}

// LoadAPIKeys reads the keys file at path (see ParseAPIKeys).
func LoadAPIKeys(path string) ([]APIKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("API keys: %w", err)
	}
	defer f.Close()
	return ParseAPIKeys(f, path)
}

func validName(s string) bool {
	return len(s) >= 1 && len(s) <= 64 && s != anonymous && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == ""
}

func validKey(s string) bool {
	return len(s) >= 16 && len(s) <= 128 && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == ""
}

// client is who sent a request: for rate limits, WebSocket caps and
// per-client counters.
type client struct {
	addr netip.Addr // after trusted proxies
	key  *APIKey    // nil: anonymous
}

// group names the client's rate bucket: its key, or its address (an IPv6
// address by its /64).
func (c client) group() string {
	if c.key != nil {
		return "key " + c.key.Name
	}
	return "ip " + ipGroup(c.addr)
}

// label is the client's label in /metrics.
func (c client) label() string {
	if c.key != nil {
		return c.key.Name
	}
	return anonymous
}

func (c client) String() string {
	if c.key != nil {
		return fmt.Sprintf("API key %q", c.key.Name)
	}
	return "client " + ipGroup(c.addr)
}

// ipGroup is an address as one client: an IPv4 address, or the /64 of an
// IPv6 address (one subscriber usually holds a whole /64).
func ipGroup(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}

var errUnknownKey = errors.New("unknown API key")

// keyring holds a provider's API keys by the hash of the key.
type keyring map[[32]byte]*APIKey

func newKeyring(keys []APIKey) keyring {
	ring := make(keyring, len(keys))
	for i := range keys {
		ring[sha256.Sum256([]byte(keys[i].Key))] = &keys[i]
	}
	return ring
}

// identify finds the client of r: its address (through trusted proxies)
// and, on a node with API keys, the key it presents in an Authorization
// header or as the URL path. A presented key must be known.
func (s *Server) identify(r *http.Request) (client, error) {
	c := client{addr: remoteAddr(r, s.cfg.TrustedProxies)}
	if len(s.keys) == 0 {
		return c, nil
	}
	var presented string
	if auth := r.Header.Get("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		presented = strings.TrimSpace(auth[7:])
	}
	if p := strings.Trim(r.URL.Path, "/"); p != "" && p != "health" && p != "metrics" {
		if presented != "" && presented != p {
			return c, fmt.Errorf("%w: the key in the Authorization header and the one in the URL path differ", errUnknownKey)
		}
		presented = p
	}
	if presented == "" {
		return c, nil
	}
	k, ok := s.keys[sha256.Sum256([]byte(presented))]
	if !ok {
		return c, fmt.Errorf("%w: the key presented is not in the node's --provider.keys file; send a known key as \"Authorization: Bearer KEY\" or as the URL path /KEY, or none", errUnknownKey)
	}
	c.key = k
	return c, nil
}

// remoteAddr is the address of r's client. X-Forwarded-For is believed
// only from a trusted proxy, and only as far as its entries are trusted
// proxies themselves: walking it from the right (the nearest hop), the
// first address that is not a trusted proxy is the client.
func remoteAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	addr := netip.IPv4Unspecified()
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		addr = ap.Addr().Unmap()
	} else if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if a, err := netip.ParseAddr(host); err == nil {
			addr = a.Unmap()
		}
	}
	if !trustedProxy(addr, trusted) {
		return addr
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		addr = a.Unmap()
		if !trustedProxy(addr, trusted) {
			break
		}
	}
	return addr
}

func trustedProxy(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseTrustedProxies parses --provider.trustedproxies entries: addresses
// or CIDR prefixes.
func ParseTrustedProxies(entries []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if p, err := netip.ParsePrefix(e); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: want an address or a CIDR prefix such as 10.0.0.0/8: %w", e, err)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// methodCosts are the costs of methods in rate-limit units: about the CPU
// and disk a call takes against eth_blockNumber's 1. A method not listed
// costs defaultCost.
var methodCosts = costTable(map[int][]string{
	1: {"eth_chainId", "eth_blockNumber", "eth_syncing", "eth_accounts", "eth_mining", "eth_hashrate",
		"eth_coinbase", "eth_gasPrice", "eth_maxPriorityFeePerGas", "eth_uninstallFilter", "eth_unsubscribe",
		"eth_config", "eth_getBlockTransactionCountByNumber", "eth_getBlockTransactionCountByHash",
		"eth_getUncleCountByBlockNumber", "net_version", "net_listening", "net_peerCount",
		"web3_clientVersion", "web3_sha3", "rpc_modules", "peerchain_nodeInfo",
		"ots_getApiLevel"},
	2: {"eth_getBalance", "eth_getTransactionCount", "eth_getTransactionByHash",
		"eth_getTransactionByBlockNumberAndIndex", "eth_getTransactionByBlockHashAndIndex",
		"eth_getRawTransactionByHash", "eth_getFilterChanges", "eth_getBlockByNumber", "eth_getBlockByHash",
		"peerchain_peers", "peerchain_getRawBlock", "peerchain_propagation", "peerchain_chainTips", "peerchain_reorgs",
		"erigon_getHeaderByNumber"},
	3: {"eth_getCode", "eth_getStorageAt", "eth_getTransactionReceipt",
		"ots_hasCode", "ots_getTransactionBySenderAndNonce"},
	5: {"eth_getBlockReceipts", "eth_feeHistory", "eth_newFilter", "eth_newBlockFilter",
		"eth_newPendingTransactionFilter", "eth_subscribe", "peerchain_getRawReceipts",
		"ots_getBlockDetails", "ots_getBlockDetailsByHash", "ots_getBlockTransactions", "ots_getContractCreator"},
	10: {"eth_sendRawTransaction", "peerchain_getRawHeaders"},
	20: {"eth_call", "eth_getProof", "eth_getLogs", "eth_getFilterLogs",
		"ots_searchTransactionsBefore", "ots_searchTransactionsAfter"},
	40: {"eth_estimateGas", "eth_createAccessList",
		// each replays its block up to the transaction
		"ots_traceTransaction", "ots_getInternalOperations", "ots_getTransactionError"},
})

func costTable(tiers map[int][]string) map[string]int {
	costs := make(map[string]int)
	for cost, methods := range tiers {
		for _, m := range methods {
			costs[m] = cost
		}
	}
	return costs
}

// defaultCost is the cost of a method the table does not list.
const defaultCost = 5

// methodCost is the cost of one call.
func methodCost(method string) int {
	if c, ok := methodCosts[method]; ok {
		return c
	}
	return defaultCost
}

// deniedToProviders tells the methods a provider never serves: they act
// for the node's operator (admin_, miner_, debug_) or sign with its keys.
// It is used to count refusals; what stops them is that a provider does
// not register them.
func deniedToProviders(method string) bool {
	switch method {
	case "eth_sendTransaction", "eth_signTransaction", "eth_sign":
		return true
	}
	for _, ns := range []string{"admin_", "personal_", "debug_", "miner_"} {
		if strings.HasPrefix(method, ns) {
			return true
		}
	}
	return false
}
