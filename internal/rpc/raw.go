package rpc

import (
	"context"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rlp"
)

// The raw methods serve chain data in its consensus encoding, for light
// peers that check it themselves against verified headers (go-ethereum
// has them as debug_getRawHeader and friends; a provider serves no debug_
// namespace, so they live under peerchain_).

// maxRawHeaders bounds the headers of one peerchain_getRawHeaders, as the
// P2P headers protocol does.
const maxRawHeaders = 1024

// GetRawHeaders is peerchain_getRawHeaders: up to count canonical headers
// from start (at most 1,024), each RLP-encoded; fewer at the head.
func (api *peerchainAPI) GetRawHeaders(start, count hexutil.Uint64) ([]hexutil.Bytes, error) {
	if count > maxRawHeaders {
		return nil, fmt.Errorf("%d headers asked, at most %d per call", count, maxRawHeaders)
	}
	out := make([]hexutil.Bytes, 0, min(uint64(count), 64))
	for n := uint64(start); n < uint64(start)+uint64(count) && n >= uint64(start); n++ {
		h := api.b.Chain.GetHeaderByNumber(n)
		if h == nil {
			break
		}
		enc, err := rlp.EncodeToBytes(h)
		if err != nil {
			return nil, fmt.Errorf("encode header %d: %w", n, err)
		}
		out = append(out, enc)
	}
	return out, nil
}

// GetRawBlock is peerchain_getRawBlock: the RLP encoding of a stored
// block (header and body), or null.
func (api *peerchainAPI) GetRawBlock(ctx context.Context, hash common.Hash) (hexutil.Bytes, error) {
	h := api.b.Chain.GetHeaderByHash(hash)
	if h == nil {
		return nil, nil
	}
	b, err := api.b.Data.Block(ctx, h)
	if err != nil || b == nil {
		return nil, err
	}
	enc, err := rlp.EncodeToBytes(b)
	if err != nil {
		return nil, fmt.Errorf("encode block %s: %w", hash, err)
	}
	return enc, nil
}

// GetRawReceipts is peerchain_getRawReceipts: a block's receipts in their
// consensus encoding (what its receipts root commits to), or null when the
// block or its receipts are not stored.
func (api *peerchainAPI) GetRawReceipts(ctx context.Context, hash common.Hash) ([]hexutil.Bytes, error) {
	h := api.b.Chain.GetHeaderByHash(hash)
	if h == nil {
		return nil, nil
	}
	b, err := api.b.Data.Block(ctx, h)
	if err != nil || b == nil {
		return nil, err
	}
	receipts, err := api.b.Data.Receipts(ctx, b)
	if err != nil || receipts == nil {
		return nil, err
	}
	out := make([]hexutil.Bytes, len(receipts))
	for i, r := range receipts {
		enc, err := r.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("encode receipt %d of block %s: %w", i, hash, err)
		}
		out[i] = enc
	}
	return out, nil
}
