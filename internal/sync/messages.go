package sync

import (
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
	topicBlocks  = "blocks/1"
	topicTxs     = "txs/1"
)

// Caps of requests and responses.
const (
	maxHeadersPerRequest = 1024
	maxBodiesPerRequest  = 128
	maxTxsPerRequest     = 256
	maxPooledHashes      = 4096
	softResponseBytes    = 8 << 20  // a response stops growing past this
	maxRequestBytes      = 64 << 10 // every request is small
	maxStatusBytes       = 1 << 10  // a status message
	maxHeadersResponse   = 2 << 20  // 1024 headers of ~600 bytes, with room
	maxBodiesResponse    = softResponseBytes + gparams.MaxBlockSize + 1<<20
	maxTxsResponse       = softResponseBytes + 256<<10
	maxPooledResponse    = maxPooledHashes*33 + 64
	maxBlockMessage      = gparams.MaxBlockSize + 1<<20
	maxTxMessage         = 256 << 10
)

// Status is what two peers exchange when they connect.
type Status struct {
	Version uint64
	ChainID uint64
	Genesis common.Hash
	Head    common.Hash
	Number  uint64
	TD      *big.Int
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
