package devnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rlp"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
)

// Liar is a lying provider: a JSON-RPC server that forwards the calls a
// light peer makes to an honest peer and alters the answers the light peer
// checks against its headers — the relayer who alters what it forwards.
// Every lie is one a verified header contradicts, so a light peer that
// asks it catches it, drops it with the evidence and asks the next source:
//
//	eth_getProof               a byte of the last account proof node flipped
//	eth_getCode                other code (its last byte flipped; 0xfe for none)
//	peerchain_getRawReceipts   the last receipt dropped
//	eth_getTransactionByHash   null for a transaction the peer has
//	peerchain_getRawBlock      another body (the last transaction dropped, or
//	                           one added to an empty body)
//
// eth_getBlockByNumber, peerchain_getRawHeaders, eth_sendRawTransaction,
// eth_blockNumber and eth_chainId are forwarded unaltered (headers cannot
// be forged: they carry their work). Other methods do not exist here.
type Liar struct {
	honest *gethrpc.Client
	srv    *gethrpc.Server
	http   *http.Server
	log    *slog.Logger
	mu     struct {
		sync.Mutex
		told map[string]int // lies told, by method
	}
}

// LiarConfig configures a Liar.
type LiarConfig struct {
	// Honest is the JSON-RPC URL of the peer whose answers are forwarded.
	// Required.
	Honest string
	// Logger receives one record per lie told. Default: discarded.
	Logger *slog.Logger
}

// NewLiar prepares a liar in front of cfg.Honest; Serve serves it.
func NewLiar(cfg LiarConfig) (*Liar, error) {
	if cfg.Honest == "" {
		return nil, errors.New("the liar needs the URL of an honest peer to forward to")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// Over HTTP, dialing connects to nothing yet: the honest peer may
	// start after the liar.
	c, err := gethrpc.DialContext(context.Background(), cfg.Honest)
	if err != nil {
		return nil, fmt.Errorf("the liar's honest peer %s: %w", cfg.Honest, err)
	}
	l := &Liar{honest: c, srv: gethrpc.NewServer(), log: cfg.Logger}
	l.mu.told = make(map[string]int)
	for ns, api := range map[string]any{"eth": &liarEth{l}, "peerchain": &liarPeerchain{l}} {
		if err := l.srv.RegisterName(ns, api); err != nil {
			c.Close()
			return nil, fmt.Errorf("the liar's %s_ methods: %w", ns, err)
		}
	}
	l.http = &http.Server{Handler: l.srv, ReadHeaderTimeout: 5 * time.Second}
	return l, nil
}

// Serve answers JSON-RPC over HTTP on ln until Close.
func (l *Liar) Serve(ln net.Listener) error {
	if err := l.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close stops serving and closes the connection to the honest peer.
func (l *Liar) Close() {
	_ = l.http.Close()
	l.srv.Stop()
	l.honest.Close()
}

// Told returns how many lies the liar has told, by method.
func (l *Liar) Told() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.mu.told))
	for m, n := range l.mu.told {
		out[m] = n
	}
	return out
}

// forward calls method on the honest peer and alters its answer when the
// method is one the liar lies about.
func (l *Liar) forward(ctx context.Context, method string, args ...any) (json.RawMessage, error) {
	var raw json.RawMessage
	if err := l.honest.CallContext(ctx, &raw, method, args...); err != nil {
		return nil, err
	}
	out, lie := alter(method, raw)
	if lie != "" {
		l.mu.Lock()
		l.mu.told[method]++
		l.mu.Unlock()
		l.log.Info("Told a lie", "method", method, "lie", lie)
	}
	return out, nil
}

// alter returns the lie the liar tells in answer to method instead of
// the honest answer raw, and what it changed; raw itself and "" when it
// tells the truth (a method it does not lie about, or an answer it cannot
// alter into a detectable lie, such as an empty receipt list).
func alter(method string, raw json.RawMessage) (json.RawMessage, string) {
	var (
		out json.RawMessage
		lie string
		err error
	)
	switch method {
	case "eth_getProof":
		out, lie, err = flipProofNode(raw)
	case "eth_getCode":
		out, lie, err = otherCode(raw)
	case "peerchain_getRawReceipts":
		out, lie, err = dropReceipt(raw)
	case "eth_getTransactionByHash":
		if string(raw) != "null" {
			out, lie = json.RawMessage("null"), "answered null for a transaction it has"
		}
	case "peerchain_getRawBlock":
		out, lie, err = otherBody(raw)
	}
	if err != nil || lie == "" {
		return raw, ""
	}
	return out, lie
}

// flipProofNode flips the last byte of the last account proof node of an
// eth_getProof answer: the proof no longer hashes to the state root.
func flipProofNode(raw json.RawMessage) (json.RawMessage, string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, "", err
	}
	var nodes []hexutil.Bytes
	if err := json.Unmarshal(m["accountProof"], &nodes); err != nil {
		return nil, "", err
	}
	if len(nodes) == 0 || len(nodes[len(nodes)-1]) == 0 {
		return nil, "", nil
	}
	last := nodes[len(nodes)-1]
	last[len(last)-1] ^= 1
	enc, err := json.Marshal(nodes)
	if err != nil {
		return nil, "", err
	}
	m["accountProof"] = enc
	out, err := json.Marshal(m)
	return out, fmt.Sprintf("flipped a byte of account proof node %d of %d", len(nodes)-1, len(nodes)), err
}

// otherCode answers code that does not hash to the proven code hash.
func otherCode(raw json.RawMessage) (json.RawMessage, string, error) {
	var code hexutil.Bytes
	if err := json.Unmarshal(raw, &code); err != nil {
		return nil, "", err
	}
	if len(code) == 0 {
		code = hexutil.Bytes{0xfe}
	} else {
		code[len(code)-1] ^= 1
	}
	out, err := json.Marshal(code)
	return out, "answered other code", err
}

// dropReceipt drops the last receipt of a peerchain_getRawReceipts answer.
func dropReceipt(raw json.RawMessage) (json.RawMessage, string, error) {
	var rs []hexutil.Bytes
	if err := json.Unmarshal(raw, &rs); err != nil {
		return nil, "", err
	}
	if len(rs) == 0 {
		return nil, "", nil
	}
	out, err := json.Marshal(rs[:len(rs)-1])
	return out, fmt.Sprintf("dropped receipt %d of %d", len(rs)-1, len(rs)), err
}

// otherBody answers the block with another body: without its last
// transaction, or with a made-up one when it has none.
func otherBody(raw json.RawMessage) (json.RawMessage, string, error) {
	var enc hexutil.Bytes
	if err := json.Unmarshal(raw, &enc); err != nil {
		return nil, "", err
	}
	if len(enc) == 0 {
		return nil, "", nil
	}
	b := new(types.Block)
	if err := rlp.DecodeBytes(enc, b); err != nil {
		return nil, "", err
	}
	txs, lie := b.Transactions(), ""
	if n := len(txs); n > 0 {
		txs, lie = txs[:n-1], fmt.Sprintf("dropped transaction %d of %d from the body", n-1, n)
	} else {
		to := common.HexToAddress("0x000000000000000000000000000000000000dead")
		txs, lie = types.Transactions{types.NewTx(&types.LegacyTx{To: &to, Value: big.NewInt(1), Gas: 21000, GasPrice: big.NewInt(1)})}, "added a transaction to an empty body"
	}
	other := types.NewBlockWithHeader(b.Header()).WithBody(types.Body{Transactions: txs, Uncles: b.Uncles(), Withdrawals: b.Withdrawals()})
	enc, err := rlp.EncodeToBytes(other)
	if err != nil {
		return nil, "", err
	}
	out, err := json.Marshal(hexutil.Bytes(enc))
	return out, lie, err
}

// liarEth and liarPeerchain are the methods a light peer calls on a
// provider (light.RPCSource), served through Liar.forward. Parameters are
// passed on as they came.
type liarEth struct{ l *Liar }

func (e *liarEth) BlockNumber(ctx context.Context) (json.RawMessage, error) {
	return e.l.forward(ctx, "eth_blockNumber")
}
func (e *liarEth) ChainId(ctx context.Context) (json.RawMessage, error) {
	return e.l.forward(ctx, "eth_chainId")
}
func (e *liarEth) GetBlockByNumber(ctx context.Context, n json.RawMessage, full *bool) (json.RawMessage, error) {
	return e.l.forward(ctx, "eth_getBlockByNumber", n, full != nil && *full)
}
func (e *liarEth) GetProof(ctx context.Context, addr, keys, block json.RawMessage) (json.RawMessage, error) {
	return e.l.forward(ctx, "eth_getProof", addr, keys, block)
}
func (e *liarEth) GetCode(ctx context.Context, addr, block json.RawMessage) (json.RawMessage, error) {
	return e.l.forward(ctx, "eth_getCode", addr, block)
}
func (e *liarEth) GetTransactionByHash(ctx context.Context, hash json.RawMessage) (json.RawMessage, error) {
	return e.l.forward(ctx, "eth_getTransactionByHash", hash)
}
func (e *liarEth) SendRawTransaction(ctx context.Context, data json.RawMessage) (json.RawMessage, error) {
	return e.l.forward(ctx, "eth_sendRawTransaction", data)
}

type liarPeerchain struct{ l *Liar }

func (p *liarPeerchain) GetRawHeaders(ctx context.Context, start, count json.RawMessage) (json.RawMessage, error) {
	return p.l.forward(ctx, "peerchain_getRawHeaders", start, count)
}
func (p *liarPeerchain) GetRawBlock(ctx context.Context, hash json.RawMessage) (json.RawMessage, error) {
	return p.l.forward(ctx, "peerchain_getRawBlock", hash)
}
func (p *liarPeerchain) GetRawReceipts(ctx context.Context, hash json.RawMessage) (json.RawMessage, error) {
	return p.l.forward(ctx, "peerchain_getRawReceipts", hash)
}
