package sync

import (
	"context"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The light-serving protocols: what a light peer asks a full peer so that
// it can check each answer against its own verified headers — receipts
// (against the receipts root), Merkle proofs of accounts and storage
// (against the state root), code (against the proven code hash) and where
// a transaction is (against the transactions root of the block's body).
// A full peer proves nothing by answering: the asker checks.

func (s *Syncer) registerLightHandlers() {
	s.serve(protoReceipts, maxRequestBytes, s.handleReceipts)
	s.serve(protoProof, maxRequestBytes, s.handleProof)
	s.serve(protoCode, maxRequestBytes, s.handleCode)
	s.serve(protoTxLoc, maxRequestBytes, s.handleTxLoc)
}

func (s *Syncer) handleReceipts(_ context.Context, from peer.ID, req []byte) ([]byte, error) {
	var r HashesRequest
	if err := decode(req, &r, "receipts request"); err != nil {
		return nil, err
	}
	if len(r.Hashes) > maxReceiptsPerRequest {
		return nil, &errMalformed{what: "receipts request", err: fmt.Errorf("%d hashes, at most %d", len(r.Hashes), maxReceiptsPerRequest)}
	}
	var (
		out   ReceiptsResponse
		size  int
		limit = s.budget(from)
	)
	for _, hash := range r.Hashes {
		if size >= limit {
			break
		}
		h := s.chain.GetHeaderByHash(hash)
		if h == nil {
			break
		}
		receipts := s.chain.GetReceipts(hash, h.Number.Uint64())
		if receipts == nil && h.Number.Sign() > 0 {
			break // not executed (a side block): we cannot serve it
		}
		encs := make([][]byte, len(receipts))
		for i, rc := range receipts {
			enc, err := rc.MarshalBinary()
			if err != nil {
				return nil, fmt.Errorf("encode receipt %d of block %s: %w", i, hash, err)
			}
			encs[i] = enc
			size += len(enc)
		}
		out.Receipts = append(out.Receipts, encs)
	}
	s.outBytes.spend(from, float64(size))
	return encode(&out)
}

func (s *Syncer) handleProof(_ context.Context, from peer.ID, req []byte) ([]byte, error) {
	var r ProofRequest
	if err := decode(req, &r, "proof request"); err != nil {
		return nil, err
	}
	if len(r.Slots) > maxProofSlots {
		return nil, &errMalformed{what: "proof request", err: fmt.Errorf("%d slots, at most %d", len(r.Slots), maxProofSlots)}
	}
	if s.budget(from) <= 0 {
		return nil, errors.New("over the serving budget: ask later")
	}
	h := s.chain.GetHeaderByHash(r.Block)
	if h == nil {
		return nil, fmt.Errorf("block %s unknown", r.Block)
	}
	p, err := s.chain.Prove(h, r.Address, r.Slots)
	if err != nil {
		return nil, err
	}
	out := ProofResponse{Account: p.AccountNodes, Storage: p.StorageNodes}
	enc, err := encode(&out)
	if err != nil {
		return nil, err
	}
	s.outBytes.spend(from, float64(len(enc)))
	return enc, nil
}

func (s *Syncer) handleCode(_ context.Context, from peer.ID, req []byte) ([]byte, error) {
	var r CodeRequest
	if err := decode(req, &r, "code request"); err != nil {
		return nil, err
	}
	if s.budget(from) <= 0 {
		return nil, errors.New("over the serving budget: ask later")
	}
	h := s.chain.GetHeaderByHash(r.Block)
	if h == nil {
		return nil, fmt.Errorf("block %s unknown", r.Block)
	}
	st, err := s.chain.StateAtBlock(h)
	if err != nil {
		return nil, err
	}
	code := st.GetCode(r.Address)
	s.outBytes.spend(from, float64(len(code)))
	return encode(code)
}

func (s *Syncer) handleTxLoc(_ context.Context, _ peer.ID, req []byte) ([]byte, error) {
	var hash common.Hash
	if err := decode(req, &hash, "transaction location request"); err != nil {
		return nil, err
	}
	l, ok := s.chain.GetTransaction(hash)
	if !ok {
		return encode(&TxLocation{})
	}
	return encode(&TxLocation{Found: true, Block: l.BlockHash, Index: l.Index})
}
