package rpc

// The fast path answers the hot methods of an HTTP request without
// go-ethereum's rpc.Server: no reflection, no codec, no goroutine per
// call, and cached answers for what a block fixes. It takes a request
// only when it is sure to answer byte for byte as go-ethereum would:
//
//   - the request is a POST whose Content-Type go-ethereum accepts;
//   - the body is one call or a batch the strict scanner (fastjson.go)
//     reads, and every call is one of the hot methods with its parameters
//     in a plain shape (an address as "0x" and 40 hex digits, a block as
//     a tag or a hex number, no state overrides, ...);
//   - every call succeeds: a method that returns an error, panics, or runs
//     past the request's budget sends the whole request to go-ethereum's
//     path, which answers it (running its calls again: they read, and
//     eth_call takes its heavy-call slot again).
//
// Everything else takes go-ethereum's path. The request's defences come
// before either path and are the same for both (serveHTTP): Host, origin,
// API key, body and batch caps, the client's rate limit at the same cost,
// a request slot under the budget, the metrics; eth_call takes a
// heavy-call slot through the same ethAPI.Call.
//
// The methods run the same ethAPI code as go-ethereum's path. The answers
// that only the block fixes are cached by what fixes them: balances and
// nonces by state root, blocks by hash (with their total difficulty known),
// receipts by block hash and index. A new head or a reorg changes which
// block a tag or number names, and the block is resolved on every call,
// so no cached answer outlives the head it was read at.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
)

// fastKind is a hot method.
type fastKind uint8

const (
	fastBlockNumber fastKind = iota + 1
	fastChainID
	fastBalance
	fastNonce
	fastEthCall
	fastBlock
	fastReceipt
)

var fastMethods = map[string]fastKind{
	"eth_blockNumber":           fastBlockNumber,
	"eth_chainId":               fastChainID,
	"eth_getBalance":            fastBalance,
	"eth_getTransactionCount":   fastNonce,
	"eth_call":                  fastEthCall,
	"eth_getBlockByNumber":      fastBlock,
	"eth_getTransactionReceipt": fastReceipt,
}

// fastOp is one call, its parameters decoded.
type fastOp struct {
	kind   fastKind
	id     []byte
	addr   common.Address
	hash   common.Hash
	block  gethrpc.BlockNumber
	bnh    *gethrpc.BlockNumberOrHash // nil: latest, as go-ethereum's nil
	fullTx bool
	args   CallArgs
	raw    []byte // the call object as sent
}

// The caches are bounded: each to fastCacheSize entries, all together to
// fastCacheBytes of answers (a full cache, or all of them past the bytes,
// are emptied), and no answer above maxCachedAnswer is kept (a block
// with its transactions may take megabytes).
const (
	fastCacheSize   = 4096
	fastCacheBytes  = 64 << 20
	maxCachedAnswer = 1 << 20
)

type stateKey struct {
	root  common.Hash
	addr  common.Address
	nonce bool
}

type blockKey struct {
	hash   common.Hash
	fullTx bool
}

type callKey struct {
	block common.Hash
	args  string
}

type receiptKey struct {
	block common.Hash
	index uint64
}

// fastPath answers hot calls (see above).
type fastPath struct {
	api      *ethAPI
	chainID  []byte        // the answer of eth_chainId
	answered atomic.Uint64 // requests answered
	// contentType is the Content-Type header of every answer, shared:
	// net/http only reads it.
	contentType []string
	mu          struct {
		sync.RWMutex
		states   map[stateKey][]byte
		blocks   map[blockKey][]byte
		receipts map[receiptKey][]byte
		calls    map[callKey][]byte
		bytes    int // of the answers in all of them
	}
}

func newFastPath(api *ethAPI) (*fastPath, error) {
	id, err := encodeResult(api.ChainId())
	if err != nil {
		return nil, err
	}
	f := &fastPath{api: api, chainID: id, contentType: []string{"application/json"}}
	f.mu.states = make(map[stateKey][]byte)
	f.mu.blocks = make(map[blockKey][]byte)
	f.mu.receipts = make(map[receiptKey][]byte)
	f.mu.calls = make(map[callKey][]byte)
	return f, nil
}

// fastContentType accepts the Content-Types go-ethereum does
// (validateRequest in its http.go).
func fastContentType(h http.Header) bool {
	v := h.Get("Content-Type")
	if v == "application/json" {
		return true
	}
	mt, _, err := mime.ParseMediaType(v)
	return err == nil && (mt == "application/json" || mt == "application/json-rpc" || mt == "application/jsonrequest")
}

// plan decodes the calls of a request for the fast path; ok is false when
// any call is not for it.
func (f *fastPath) plan(calls []fastCall, ops []fastOp) ([]fastOp, bool) {
	var params [3][]byte
	for i, c := range calls {
		ops = append(ops, fastOp{})
		kind := fastMethods[c.method]
		if kind == 0 {
			return nil, false
		}
		p, ok := paramList(c.params, params[:0])
		if !ok {
			return nil, false
		}
		op := &ops[i]
		op.kind, op.id = kind, c.id
		switch kind {
		case fastBlockNumber, fastChainID:
			ok = len(p) == 0
		case fastBalance, fastNonce:
			ok = (len(p) == 1 || len(p) == 2) && decodeAddress(p[0], &op.addr)
			if ok && len(p) == 2 {
				op.bnh, ok = decodeBlockRef(p[1])
			}
		case fastEthCall:
			ok = (len(p) == 1 || len(p) == 2) && len(p[0]) > 0 && p[0][0] == '{' &&
				json.Unmarshal(p[0], &op.args) == nil
			if ok {
				op.raw = p[0]
			}
			if ok && len(p) == 2 {
				op.bnh, ok = decodeBlockRef(p[1])
			}
		case fastBlock:
			ok = len(p) == 2 && decodeBlockNumber(p[0], &op.block)
			if ok {
				switch string(p[1]) {
				case "true":
					op.fullTx = true
				case "false":
				default:
					ok = false
				}
			}
		case fastReceipt:
			ok = len(p) == 1 && decodeHash(p[0], &op.hash)
		}
		if !ok {
			return nil, false
		}
	}
	return ops, true
}

func decodeAddress(v []byte, a *common.Address) bool {
	digits, ok := hexString(v, 2*common.AddressLength)
	return ok && decodeHex(digits, a[:])
}

func decodeHash(v []byte, h *common.Hash) bool {
	digits, ok := hexString(v, 2*common.HashLength)
	return ok && decodeHex(digits, h[:])
}

func decodeHex(digits, into []byte) bool {
	for i := range into {
		into[i] = unhex(digits[2*i])<<4 | unhex(digits[2*i+1])
	}
	return true
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// decodeBlockNumber reads a block tag or a hex number without leading
// zeros up to 2^60 (go-ethereum's BlockNumber reads more; the rest is not
// fast).
func decodeBlockNumber(v []byte, n *gethrpc.BlockNumber) bool {
	switch string(v) {
	case `"latest"`:
		*n = gethrpc.LatestBlockNumber
	case `"pending"`:
		*n = gethrpc.PendingBlockNumber
	case `"earliest"`:
		*n = gethrpc.EarliestBlockNumber
	case `"safe"`:
		*n = gethrpc.SafeBlockNumber
	case `"finalized"`:
		*n = gethrpc.FinalizedBlockNumber
	default:
		digits, ok := hexString(v, 0)
		if !ok || len(digits) > 15 || (len(digits) > 1 && digits[0] == '0') {
			return false
		}
		u, err := strconv.ParseUint(string(digits), 16, 64)
		if err != nil {
			return false
		}
		*n = gethrpc.BlockNumber(u)
	}
	return true
}

// decodeBlockRef reads a block tag or number as a BlockNumberOrHash
// (hashes and EIP-1898 objects are not fast).
func decodeBlockRef(v []byte) (*gethrpc.BlockNumberOrHash, bool) {
	var n gethrpc.BlockNumber
	if !decodeBlockNumber(v, &n) {
		return nil, false
	}
	ref := gethrpc.BlockNumberOrHashWithNumber(n)
	return &ref, true
}

// serve answers planned calls into buf, or returns ok false when any call
// failed (the request then takes go-ethereum's path). ctx holds the
// request's budget and slot.
func (f *fastPath) serve(ctx context.Context, ops []fastOp, batch bool, deadline time.Time, buf []byte) (out []byte, ok bool) {
	defer func() {
		if recover() != nil {
			out, ok = nil, false
		}
	}()
	if batch {
		buf = append(buf, '[')
	}
	for i := range ops {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"jsonrpc":"2.0","id":`...)
		buf = append(buf, ops[i].id...)
		buf = append(buf, `,"result":`...)
		if buf, ok = f.answer(ctx, &ops[i], deadline, buf); !ok {
			return nil, false
		}
		buf = append(buf, '}')
	}
	if batch {
		buf = append(buf, ']')
	}
	if !time.Now().Before(deadline) {
		return nil, false // go-ethereum's path answers "request timed out"
	}
	return buf, true
}

// answer appends the result of one call.
func (f *fastPath) answer(ctx context.Context, op *fastOp, deadline time.Time, buf []byte) ([]byte, bool) {
	api := f.api
	switch op.kind {
	case fastBlockNumber:
		if hb, ok := api.b.Chain.(headBlock); ok {
			return appendQuantity(buf, hb.CurrentBlock().NumberU64()), true
		}
		return appendQuantity(buf, uint64(api.BlockNumber())), true
	case fastChainID:
		return append(buf, f.chainID...), true
	case fastBalance, fastNonce:
		if op.kind == fastNonce && op.bnh != nil {
			if n, _ := op.bnh.Number(); n == gethrpc.PendingBlockNumber {
				nonce, err := api.GetTransactionCount(ctx, op.addr, op.bnh)
				if err != nil {
					return nil, false
				}
				return appendQuantity(buf, uint64(*nonce)), true
			}
		}
		return f.stateRead(ctx, op, buf)
	case fastEthCall:
		// In a heavy-call slot like any eth_call, cached or not.
		cctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		res, err := heavy(cctx, api, "eth_call", func(ctx context.Context) ([]byte, error) { return f.call(ctx, op) })
		if err != nil {
			return nil, false
		}
		return append(buf, res...), true
	case fastBlock:
		return f.block(ctx, op, buf)
	case fastReceipt:
		return f.receipt(ctx, op, buf)
	}
	return nil, false
}

// stateRead answers eth_getBalance and eth_getTransactionCount as
// readState does, cached by state root.
func (f *fastPath) stateRead(ctx context.Context, op *fastOp, buf []byte) ([]byte, bool) {
	bnh := op.bnh
	if bnh == nil {
		bnh = &latest
	}
	key := stateKey{addr: op.addr, nonce: op.kind == fastNonce}
	var h *types.Header
	if head := f.head(bnh); head != nil {
		key.root = head.Root()
		if v, ok := cached(f, f.mu.states, key); ok {
			return append(buf, v...), true
		}
		h = head.Header()
	}
	if h == nil {
		var err error
		if h, err = f.api.header(*bnh); err != nil || h == nil {
			return nil, false
		}
		key.root = h.Root
		if v, ok := cached(f, f.mu.states, key); ok {
			return append(buf, v...), true
		}
	}
	st, check, err := f.api.b.Data.State(ctx, h)
	if err != nil {
		return nil, false
	}
	start := len(buf)
	if op.kind == fastNonce {
		buf = appendQuantity(buf, st.GetNonce(op.addr))
	} else {
		buf = appendBig(buf, st.GetBalance(op.addr).ToBig())
	}
	if check() != nil {
		return nil, false
	}
	store(f, f.mu.states, key, buf[start:])
	return buf, true
}

// errNotFast sends a request to go-ethereum's path.
var errNotFast = errors.New("not for the fast path")

// call answers eth_call as ethAPI.call does on the block the tag or
// number names now, cached by that block's hash and the call object as
// sent: the block fixes the state and the EVM's block context, and the
// gas cap and EVM timeout are the node's (a run past the timeout fails,
// and failures are not cached).
func (f *fastPath) call(ctx context.Context, op *fastOp) ([]byte, error) {
	bnh := op.bnh
	if bnh == nil {
		bnh = &latest
	}
	key := callKey{args: string(op.raw)}
	if head := f.head(bnh); head != nil {
		key.block = head.Hash() // remembered by the block
	} else {
		h, err := f.api.header(*bnh)
		if err != nil || h == nil {
			return nil, errNotFast
		}
		key.block = h.Hash()
	}
	if v, ok := cached(f, f.mu.calls, key); ok {
		return v, nil
	}
	at := gethrpc.BlockNumberOrHashWithHash(key.block, false)
	res, err := f.api.call(ctx, op.args, &at, nil)
	if err != nil {
		return nil, err
	}
	v := appendHexBytes(nil, res)
	if len(v) <= maxCachedCall {
		store(f, f.mu.calls, key, v)
	}
	return v, nil
}

// maxCachedCall bounds the size of an eth_call answer the cache keeps.
const maxCachedCall = 4 << 10

// block answers eth_getBlockByNumber as GetBlockByNumber does, cached by
// block hash once its total difficulty is known.
func (f *fastPath) block(ctx context.Context, op *fastOp, buf []byte) ([]byte, bool) {
	h := f.api.headerByNumber(op.block)
	if h == nil {
		return append(buf, "null"...), true
	}
	key := blockKey{hash: h.Hash(), fullTx: op.fullTx}
	if v, ok := cached(f, f.mu.blocks, key); ok {
		return append(buf, v...), true
	}
	b, err := f.api.blockOf(ctx, h)
	if err != nil {
		return nil, false
	}
	if b == nil {
		return append(buf, "null"...), true
	}
	td := f.api.b.Chain.GetTD(b.Hash(), b.NumberU64())
	v, err := encodeResult(marshalBlock(b, td, op.fullTx, f.api.config))
	if err != nil {
		return nil, false
	}
	if td != nil {
		store(f, f.mu.blocks, key, v)
	}
	return append(buf, v...), true
}

// receipt answers eth_getTransactionReceipt as GetTransactionReceipt
// does: the transaction is looked up on every call (a reorg moves it),
// its receipt is cached by block hash and index.
func (f *fastPath) receipt(ctx context.Context, op *fastOp, buf []byte) ([]byte, bool) {
	api := f.api
	l, err := api.b.Data.Transaction(ctx, op.hash)
	if err != nil {
		return nil, false
	}
	if l == nil {
		return append(buf, "null"...), true
	}
	key := receiptKey{block: l.BlockHash, index: l.Index}
	if v, ok := cached(f, f.mu.receipts, key); ok {
		return append(buf, v...), true
	}
	b, err := api.blockByHash(ctx, l.BlockHash)
	if err != nil {
		return nil, false
	}
	if b == nil {
		return append(buf, "null"...), true
	}
	receipts, err := api.b.Data.Receipts(ctx, b)
	if err != nil {
		return nil, false
	}
	if l.Index >= uint64(len(receipts)) {
		return append(buf, "null"...), true
	}
	v, err := encodeResult(marshalReceipt(receipts[l.Index], l.Tx, api.config))
	if err != nil {
		return nil, false
	}
	store(f, f.mu.receipts, key, v)
	return append(buf, v...), true
}

// headBlock is a chain that gives its head block without copying its
// header (a full peer's chain.Chain).
type headBlock interface{ CurrentBlock() *types.Block }

// head is the head block when bnh names it (latest, pending: as
// headerByNumber resolves them) and the chain gives it without copying
// its header (CurrentHeader copies); nil otherwise.
func (f *fastPath) head(bnh *gethrpc.BlockNumberOrHash) *types.Block {
	if n, ok := bnh.Number(); !ok || (n != gethrpc.LatestBlockNumber && n != gethrpc.PendingBlockNumber) {
		return nil
	}
	if hb, ok := f.api.b.Chain.(headBlock); ok {
		return hb.CurrentBlock()
	}
	return nil
}

func cached[K comparable](f *fastPath, m map[K][]byte, key K) ([]byte, bool) {
	f.mu.RLock()
	v, ok := m[key]
	f.mu.RUnlock()
	return v, ok
}

func store[K comparable](f *fastPath, m map[K][]byte, key K, v []byte) {
	if len(v) > maxCachedAnswer {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(m) >= fastCacheSize {
		for _, old := range m {
			f.mu.bytes -= len(old)
		}
		clear(m)
	}
	if f.mu.bytes+len(v) > fastCacheBytes {
		clear(f.mu.states)
		clear(f.mu.blocks)
		clear(f.mu.receipts)
		clear(f.mu.calls)
		f.mu.bytes = 0
	}
	if old, ok := m[key]; ok {
		f.mu.bytes -= len(old)
	}
	m[key] = append([]byte(nil), v...)
	f.mu.bytes += len(v)
}

// encodeResult encodes a result as go-ethereum's handler does
// (jsonrpcMessage.response): MarshalJSON when it has one, json.Marshal
// otherwise.
func encodeResult(v any) ([]byte, error) {
	if m, ok := v.(json.Marshaler); ok {
		return m.MarshalJSON()
	}
	return json.Marshal(v)
}

// appendQuantity appends n as hexutil.Uint64 encodes it: "0x" and hex
// digits without leading zeros.
func appendQuantity(buf []byte, n uint64) []byte {
	buf = append(buf, `"0x`...)
	buf = strconv.AppendUint(buf, n, 16)
	return append(buf, '"')
}

// appendBig appends a non-negative n as hexutil.Big encodes it.
func appendBig(buf []byte, n *big.Int) []byte {
	if n.IsUint64() {
		return appendQuantity(buf, n.Uint64())
	}
	buf = append(buf, `"0x`...)
	buf = n.Append(buf, 16)
	return append(buf, '"')
}

// appendHexBytes appends b as hexutil.Bytes encodes it: "0x" and two hex
// digits a byte.
func appendHexBytes(buf []byte, b []byte) []byte {
	const digits = "0123456789abcdef"
	buf = append(buf, `"0x`...)
	for _, c := range b {
		buf = append(buf, digits[c>>4], digits[c&15])
	}
	return append(buf, '"')
}

// httpRequest holds what serving one HTTP request needs, reused from
// request to request (Server.reqs).
type httpRequest struct {
	body   []byte
	fcalls []fastCall
	ops    []fastOp
	calls  []rpcCall
	out    []byte
}

// keptBuffer is the largest body or answer buffer kept for reuse.
const keptBuffer = 64 << 10

// readBody reads at most limit bytes of r into req's body buffer.
func readBody(r io.Reader, limit int, req *httpRequest) ([]byte, error) {
	buf := req.body[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), limit)])
		buf = buf[:len(buf)+n]
		if cap(buf) <= keptBuffer {
			req.body = buf[:0]
		}
		if err == io.EOF || len(buf) >= limit {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// fastPlan reads a request for the fast path: its planned calls (in
// req.ops) and the calls admission reads (as parseCalls would), or nil
// ops when the request takes go-ethereum's path.
func (s *Server) fastPlan(r *http.Request, body []byte, req *httpRequest) (ops []fastOp, calls []rpcCall, batch bool) {
	if s.fast == nil || r.Method != http.MethodPost || !fastContentType(r.Header) {
		return nil, nil, false
	}
	fcalls, batch, ok := scanRequest(body, s.cfg.BatchItems, req.fcalls[:0])
	if !ok {
		return nil, nil, false
	}
	req.fcalls = fcalls
	if ops, ok = s.fast.plan(fcalls, req.ops[:0]); !ok {
		return nil, nil, false
	}
	req.ops = ops
	calls = req.calls[:0]
	for _, c := range fcalls {
		calls = append(calls, rpcCall{ID: c.id, Method: c.method})
	}
	req.calls = calls
	return ops, calls, batch
}

// serveFast answers a planned request holding its slot, as serveHTTP
// answers from go-ethereum's path; false when go-ethereum's path must
// answer it (nothing is written then).
func (s *Server) serveFast(ctx context.Context, w http.ResponseWriter, r *http.Request, slot *requestSlot, req *httpRequest, batch bool, deadline time.Time, calls []rpcCall, start time.Time) bool {
	ctx = context.WithValue(ctx, slotKey{}, slot)
	answer, ok := s.fast.serve(ctx, req.ops, batch, deadline, req.out[:0])
	if cap(answer) <= keptBuffer {
		req.out = answer[:0]
	}
	if !ok || (batch && len(answer) > s.cfg.BatchResponseBytes) {
		return false
	}
	slot.release()
	s.fast.answered.Add(1)
	s.metrics.observe(calls, batch, start)
	h := w.Header()
	h["Content-Type"] = s.fast.contentType
	h["Content-Length"] = []string{strconv.Itoa(len(answer))}
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(answer); err != nil {
		s.log.Debug("RPC answer not delivered", "remote", r.RemoteAddr, "bytes", len(answer), "err", err)
	}
	return true
}
