package sync

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	gparams "github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rlp"
)

// Protocol and topic names (namespaced by the p2p host with the network).
const (
	protoStatus  = "status/1"
	protoHeaders = "headers/1"
	protoBodies  = "bodies/1"
	protoTxs     = "txs/1"
	protoPooled  = "pooled/1"
	// protoBlockTxn asks the peer that forwarded a compact block for the
	// transactions of it this pool lacks.
	protoBlockTxn = "blocktxn/1"
	// Light-serving protocols: what a light peer needs to check answers
	// against its verified headers.
	protoReceipts = "receipts/1"
	protoProof    = "proof/1"
	protoCode     = "code/1"
	protoTxLoc    = "txloc/1"
	topicBlocks   = "blocks/1"
	topicCompact  = "cblocks/1"
	topicTxs      = "txs/1"
)

// Caps of requests and responses.
const (
	maxHeadersPerRequest  = 1024
	maxBodiesPerRequest   = 128
	maxTxsPerRequest      = 256
	maxPooledHashes       = 4096
	softResponseBytes     = 8 << 20  // a response stops growing past this
	maxRequestBytes       = 64 << 10 // every request is small
	maxStatusBytes        = 1 << 10  // a status message
	maxHeadersResponse    = 2 << 20  // 1024 headers of ~600 bytes, with room
	maxBodiesResponse     = softResponseBytes + gparams.MaxBlockSize + 1<<20
	maxTxsResponse        = softResponseBytes + 256<<10
	maxPooledResponse     = maxPooledHashes*33 + 64
	maxBlockMessage       = gparams.MaxBlockSize + 1<<20
	maxTxMessage          = 256 << 10
	maxReceiptsPerRequest = 64
	maxReceiptsResponse   = softResponseBytes + 4<<20
	maxProofSlots         = 256
	maxProofResponse      = 4 << 20
	maxCodeResponse       = 1 << 20
	maxRecentBlocks       = 16 // blocks kept to serve the peers we relayed them to
)

// Status is what two peers exchange when they connect.
type Status struct {
	Version uint64
	ChainID uint64
	Genesis common.Hash
	Head    common.Hash
	Number  uint64
	TD      *big.Int
	// Light says the peer keeps headers only: it serves no headers or
	// bodies and is never synced from.
	Light bool `rlp:"optional"`
}

// protocolVersion is the sync protocol this peer speaks.
const protocolVersion = 1

// HeadersRequest asks for Count canonical headers from Start upward.
type HeadersRequest struct {
	Start uint64
	Count uint64
}

// HashesRequest asks for bodies or transactions by hash.
type HashesRequest struct {
	Hashes []common.Hash
}

// BodiesResponse holds bodies in request order; a peer that lacks one
// stops there.
type BodiesResponse struct {
	Bodies []*types.Body
}

// ReceiptsResponse holds, per requested block in order, its receipts in
// their consensus encoding; a peer that lacks a block stops there.
type ReceiptsResponse struct {
	Receipts [][][]byte
}

// ProofRequest asks for the Merkle proofs of an account and some of its
// storage slots in the state after a block.
type ProofRequest struct {
	Block   common.Hash
	Address common.Address
	Slots   []common.Hash
}

// ProofResponse holds the proof nodes: the account's, then one list per
// requested slot.
type ProofResponse struct {
	Account [][]byte
	Storage [][][]byte
}

// CodeRequest asks for an account's code in the state after a block.
type CodeRequest struct {
	Block   common.Hash
	Address common.Address
}

// TxLocation says where a transaction is on the peer's canonical chain.
type TxLocation struct {
	Found bool
	Block common.Hash
	Index uint64
}

// TxsResponse holds transactions in their binary (EIP-2718) encoding.
type TxsResponse struct {
	Txs [][]byte
}

func encode(v any) ([]byte, error) {
	b, err := rlp.EncodeToBytes(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return b, nil
}

// errMalformed marks data a peer sent that does not decode: misbehaviour.
type errMalformed struct {
	what string
	err  error
}

func (e *errMalformed) Error() string { return fmt.Sprintf("malformed %s: %v", e.what, e.err) }
func (e *errMalformed) Unwrap() error { return e.err }

func decode(data []byte, v any, what string) error {
	if err := rlp.DecodeBytes(data, v); err != nil {
		return &errMalformed{what: what, err: err}
	}
	return nil
}

// The parsers below turn a peer's response into what the request asked
// for, or an *errMalformed: a response that breaks them is misbehaviour.

// parseStatus decodes a status message (the caller checks it against ours).
func parseStatus(data []byte) (*Status, error) {
	st := new(Status)
	if err := decode(data, st, "status"); err != nil {
		return nil, err
	}
	return st, nil
}

// parseHeaders decodes the answer to a request of count headers from
// start: at most count, numbered from start.
func parseHeaders(data []byte, start, count uint64) ([]*types.Header, error) {
	var hs []*types.Header
	if err := decode(data, &hs, "headers"); err != nil {
		return nil, err
	}
	if uint64(len(hs)) > count {
		return nil, &errMalformed{what: "headers", err: fmt.Errorf("%d headers for a request of %d", len(hs), count)}
	}
	for i, h := range hs {
		if h.Number == nil || !h.Number.IsUint64() || h.Number.Uint64() != start+uint64(i) {
			return nil, &errMalformed{what: "headers", err: fmt.Errorf("header %d of a response from %d is numbered %v", i, start, h.Number)}
		}
	}
	return hs, nil
}

// parseBodies decodes the answer to a bodies request for headers and pairs
// each body with its header, in order; a peer that lacks one stops there.
// Whether a body matches its header is the chain's check.
func parseBodies(data []byte, headers []*types.Header) ([]*types.Block, error) {
	var r BodiesResponse
	if err := decode(data, &r, "bodies"); err != nil {
		return nil, err
	}
	if len(r.Bodies) > len(headers) {
		return nil, &errMalformed{what: "bodies", err: fmt.Errorf("%d bodies for %d hashes", len(r.Bodies), len(headers))}
	}
	out := make([]*types.Block, 0, len(r.Bodies))
	for i, body := range r.Bodies {
		if body == nil {
			break
		}
		out = append(out, types.NewBlockWithHeader(headers[i]).WithBody(*body))
	}
	return out, nil
}

// parseTxs decodes the answer to a transactions request for want hashes:
// transactions in their binary encoding, at most one per hash.
func parseTxs(data []byte, want int) ([]*types.Transaction, error) {
	var r TxsResponse
	if err := decode(data, &r, "transactions response"); err != nil {
		return nil, err
	}
	if len(r.Txs) > want {
		return nil, &errMalformed{what: "transactions response", err: fmt.Errorf("%d transactions for %d hashes", len(r.Txs), want)}
	}
	txs := make([]*types.Transaction, 0, len(r.Txs))
	for i, enc := range r.Txs {
		tx := new(types.Transaction)
		if err := tx.UnmarshalBinary(enc); err != nil {
			return nil, &errMalformed{what: "transactions response", err: fmt.Errorf("transaction %d: %w", i, err)}
		}
		txs = append(txs, tx)
	}
	return txs, nil
}

// parsePooled decodes a list of pooled transaction hashes.
func parsePooled(data []byte) ([]common.Hash, error) {
	var hashes []common.Hash
	if err := decode(data, &hashes, "pooled hashes"); err != nil {
		return nil, err
	}
	if len(hashes) > maxPooledHashes {
		return nil, &errMalformed{what: "pooled hashes", err: fmt.Errorf("%d hashes, at most %d", len(hashes), maxPooledHashes)}
	}
	return hashes, nil
}

// IsMalformed reports whether err is a peer's answer that does not decode
// or breaks the form of its request: misbehaviour.
func IsMalformed(err error) bool {
	var m *errMalformed
	return errors.As(err, &m)
}
