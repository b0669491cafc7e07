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
}

// DialRPC connects to a provider's JSON-RPC URL (http(s) or ws(s)); calls
// time out after timeout.
func DialRPC(ctx context.Context, url string, timeout time.Duration) (*RPCSource, error) {
	c, err := gethrpc.DialContext(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("provider %s: %w", url, err)
	}
	return &RPCSource{url: url, client: c, timeout: timeout}, nil
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
