package light

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rlp"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
)

// Claim is what a source says of its head: believed only as far as the
// headers it then serves prove it.
type Claim struct {
	Hash   common.Hash
	Number uint64
	TD     *big.Int
}

// Source is one place a light peer asks for chain data: a provider's
// JSON-RPC URL or a full peer over P2P. Nothing it answers is believed
// before it is checked against verified headers.
type Source interface {
	// Name identifies the source in logs and errors.
	Name() string
	// Head returns the source's claimed head.
	Head(ctx context.Context) (Claim, error)
	// Headers returns up to count canonical headers from start, numbered
	// from start; fewer at the source's head.
	Headers(ctx context.Context, start, count uint64) ([]*types.Header, error)
	// Body returns the body of the block hash, or ErrNotFound.
	Body(ctx context.Context, hash common.Hash) (*types.Body, error)
	// Receipts returns the receipts of the block hash in their consensus
	// fields, or ErrNotFound.
	Receipts(ctx context.Context, hash common.Hash) (types.Receipts, error)
	// Proof returns the Merkle proof nodes of an account and of storage
	// slots in the state of the block hash.
	Proof(ctx context.Context, hash common.Hash, addr common.Address, slots []common.Hash) (*Proof, error)
	// Code returns the code of addr in the state of the block hash.
	Code(ctx context.Context, hash common.Hash, addr common.Address) ([]byte, error)
	// TxLocation returns the block hash and index of a transaction on the
	// source's canonical chain, or ErrNotFound.
	TxLocation(ctx context.Context, txHash common.Hash) (common.Hash, uint64, error)
	// SendTransaction submits a signed transaction.
	SendTransaction(ctx context.Context, tx *types.Transaction) error
	// AccessList is the source's eth_createAccessList for a call at the
	// block hash: only a hint of what to prefetch (every read is proven
	// anyway), or ErrNotFound when the source cannot say.
	AccessList(ctx context.Context, hash common.Hash, call map[string]any) (types.AccessList, error)
	// PendingNonce is the source's view of an account's next nonce with
	// its pool (unprovable: the light peer takes a majority), or
	// ErrNotFound when the source cannot say.
	PendingNonce(ctx context.Context, addr common.Address) (uint64, error)
}

// ErrNotFound is a source saying it does not have something. For what a
// verified header commits to, another source proving it exists convicts
// the first of withholding.
var ErrNotFound = errors.New("not found")

// Proof is the Merkle proof nodes a source gave for an account and some of
// its storage slots; nothing in it is believed until it verifies against a
// header's state root.
type Proof struct {
	Account [][]byte
	Storage [][][]byte // one list of nodes per requested slot, in order
}

// maxHeadersPerCall is the most headers one call asks for.
const maxHeadersPerCall = 1024

// checkNumbering checks a headers answer: at most count, numbered from
// start.
func checkNumbering(hs []*types.Header, start, count uint64) error {
	if uint64(len(hs)) > count {
		return fmt.Errorf("%d headers for a request of %d", len(hs), count)
	}
	for i, h := range hs {
		if h == nil || h.Number == nil || !h.Number.IsUint64() || h.Number.Uint64() != start+uint64(i) {
			return fmt.Errorf("header %d of an answer from %d is numbered %v", i, start, h.Number)
		}
	}
	return nil
}

// RPCSource is a provider's JSON-RPC endpoint (a peerchain full peer).
type RPCSource struct {
	url     string
	client  *gethrpc.Client
	timeout time.Duration
	bytes   *byteCounter
}

// DialRPC connects to a provider's JSON-RPC URL (http(s) or ws(s)); calls
// time out after timeout.
func DialRPC(ctx context.Context, url string, timeout time.Duration) (*RPCSource, error) {
	counter := new(byteCounter)
	c, err := gethrpc.DialOptions(ctx, url, countingDialOptions(counter)...)
	if err != nil {
		return nil, fmt.Errorf("provider %s: %w", url, err)
	}
	return &RPCSource{url: url, client: c, timeout: timeout, bytes: counter}, nil
}

// Name is the provider's URL.
func (s *RPCSource) Name() string { return s.url }

// Close closes the connection.
func (s *RPCSource) Close() { s.client.Close() }

func (s *RPCSource) call(ctx context.Context, out any, method string, args ...any) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.client.CallContext(ctx, out, method, args...); err != nil {
		return fmt.Errorf("%s %s: %w", s.url, method, err)
	}
	return nil
}

// Head asks for the latest block's header fields and total difficulty.
func (s *RPCSource) Head(ctx context.Context) (Claim, error) {
	var head struct {
		Hash   common.Hash    `json:"hash"`
		Number hexutil.Uint64 `json:"number"`
		TD     *hexutil.Big   `json:"totalDifficulty"`
	}
	if err := s.call(ctx, &head, "eth_getBlockByNumber", "latest", false); err != nil {
		return Claim{}, err
	}
	if head.TD == nil || head.TD.ToInt().Sign() <= 0 {
		return Claim{}, fmt.Errorf("%s: latest block %d without a total difficulty", s.url, head.Number)
	}
	return Claim{Hash: head.Hash, Number: uint64(head.Number), TD: head.TD.ToInt()}, nil
}

// Headers asks for raw headers (peerchain_getRawHeaders).
func (s *RPCSource) Headers(ctx context.Context, start, count uint64) ([]*types.Header, error) {
	count = min(count, maxHeadersPerCall)
	var raw []hexutil.Bytes
	if err := s.call(ctx, &raw, "peerchain_getRawHeaders", hexutil.Uint64(start), hexutil.Uint64(count)); err != nil {
		return nil, err
	}
	hs := make([]*types.Header, len(raw))
	for i, enc := range raw {
		h := new(types.Header)
		if err := rlp.DecodeBytes(enc, h); err != nil {
			return nil, &MalformedError{Source: s.url, Err: fmt.Errorf("header %d of an answer from %d: %w", i, start, err)}
		}
		hs[i] = h
	}
	if err := checkNumbering(hs, start, count); err != nil {
		return nil, &MalformedError{Source: s.url, Err: err}
	}
	return hs, nil
}

// Body asks for the raw block (peerchain_getRawBlock).
func (s *RPCSource) Body(ctx context.Context, hash common.Hash) (*types.Body, error) {
	var raw hexutil.Bytes
	if err := s.call(ctx, &raw, "peerchain_getRawBlock", hash); err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("%s: block %s: %w", s.url, hash, ErrNotFound)
	}
	b := new(types.Block)
	if err := rlp.DecodeBytes(raw, b); err != nil {
		return nil, &MalformedError{Source: s.url, Err: fmt.Errorf("block %s: %w", hash, err)}
	}
	return b.Body(), nil
}

// Receipts asks for the raw receipts (peerchain_getRawReceipts).
func (s *RPCSource) Receipts(ctx context.Context, hash common.Hash) (types.Receipts, error) {
	var raw []hexutil.Bytes
	if err := s.call(ctx, &raw, "peerchain_getRawReceipts", hash); err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, fmt.Errorf("%s: receipts of block %s: %w", s.url, hash, ErrNotFound)
	}
	out := make(types.Receipts, len(raw))
	for i, enc := range raw {
		r := new(types.Receipt)
		if err := r.UnmarshalBinary(enc); err != nil {
			return nil, &MalformedError{Source: s.url, Err: fmt.Errorf("receipt %d of block %s: %w", i, hash, err)}
		}
		out[i] = r
	}
	return out, nil
}

// Proof asks eth_getProof at the block hash.
func (s *RPCSource) Proof(ctx context.Context, hash common.Hash, addr common.Address, slots []common.Hash) (*Proof, error) {
	var res struct {
		AccountProof []hexutil.Bytes `json:"accountProof"`
		StorageProof []struct {
			Proof []hexutil.Bytes `json:"proof"`
		} `json:"storageProof"`
	}
	keys := make([]string, len(slots))
	for i, k := range slots {
		keys[i] = k.Hex()
	}
	if err := s.call(ctx, &res, "eth_getProof", addr, keys, gethrpc.BlockNumberOrHashWithHash(hash, true)); err != nil {
		return nil, err
	}
	if len(res.StorageProof) != len(slots) {
		return nil, &MalformedError{Source: s.url, Err: fmt.Errorf("%d storage proofs for %d slots", len(res.StorageProof), len(slots))}
	}
	p := &Proof{Account: toBytes(res.AccountProof), Storage: make([][][]byte, len(slots))}
	for i, sp := range res.StorageProof {
		p.Storage[i] = toBytes(sp.Proof)
	}
	return p, nil
}

func toBytes(in []hexutil.Bytes) [][]byte {
	out := make([][]byte, len(in))
	for i, b := range in {
		out[i] = b
	}
	return out
}

// Code asks eth_getCode at the block hash.
func (s *RPCSource) Code(ctx context.Context, hash common.Hash, addr common.Address) ([]byte, error) {
	var code hexutil.Bytes
	if err := s.call(ctx, &code, "eth_getCode", addr, gethrpc.BlockNumberOrHashWithHash(hash, true)); err != nil {
		return nil, err
	}
	return code, nil
}

// TxLocation asks eth_getTransactionByHash where a transaction is.
func (s *RPCSource) TxLocation(ctx context.Context, txHash common.Hash) (common.Hash, uint64, error) {
	var tx *struct {
		BlockHash *common.Hash    `json:"blockHash"`
		Index     *hexutil.Uint64 `json:"transactionIndex"`
	}
	if err := s.call(ctx, &tx, "eth_getTransactionByHash", txHash); err != nil {
		return common.Hash{}, 0, err
	}
	if tx == nil || tx.BlockHash == nil || tx.Index == nil {
		return common.Hash{}, 0, fmt.Errorf("%s: transaction %s: %w", s.url, txHash, ErrNotFound)
	}
	return *tx.BlockHash, uint64(*tx.Index), nil
}

// SendTransaction forwards a signed transaction (eth_sendRawTransaction).
func (s *RPCSource) SendTransaction(ctx context.Context, tx *types.Transaction) error {
	data, err := tx.MarshalBinary()
	if err != nil {
		return fmt.Errorf("encode transaction: %w", err)
	}
	var hash common.Hash
	return s.call(ctx, &hash, "eth_sendRawTransaction", hexutil.Bytes(data))
}

// AccessList asks eth_createAccessList.
func (s *RPCSource) AccessList(ctx context.Context, hash common.Hash, call map[string]any) (types.AccessList, error) {
	var res struct {
		AccessList types.AccessList `json:"accessList"`
	}
	if err := s.call(ctx, &res, "eth_createAccessList", call, gethrpc.BlockNumberOrHashWithHash(hash, true)); err != nil {
		return nil, err
	}
	return res.AccessList, nil
}

// PendingNonce asks eth_getTransactionCount(addr, "pending").
func (s *RPCSource) PendingNonce(ctx context.Context, addr common.Address) (uint64, error) {
	var n hexutil.Uint64
	if err := s.call(ctx, &n, "eth_getTransactionCount", addr, "pending"); err != nil {
		return 0, err
	}
	return uint64(n), nil
}

// MalformedError is an answer that does not decode or breaks the form of
// its request: the source misbehaves.
type MalformedError struct {
	Source string
	Err    error
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("malformed answer from %s: %v", e.Source, e.Err)
}
func (e *MalformedError) Unwrap() error { return e.Err }

// isMalformed reports whether err is a malformed answer.
func isMalformed(err error) bool {
	var m *MalformedError
	return errors.As(err, &m)
}
