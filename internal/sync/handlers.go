package sync

import (
	"context"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerchain/peerchain/internal/p2p"
)

var errFlooding = errors.New("too many requests")

// registerHandlers serves the request/response protocols.
func (s *Syncer) registerHandlers() {
	s.serve(protoStatus, maxStatusBytes, s.handleStatus)
	s.serve(protoHeaders, maxRequestBytes, s.handleHeaders)
	s.serve(protoBodies, maxRequestBytes, s.handleBodies)
	s.serve(protoTxs, maxRequestBytes, s.handleTxs)
	s.serve(protoPooled, maxRequestBytes, s.handlePooled)
	s.serve(protoBlockTxn, maxRequestBytes, s.handleBlockTxn)
}

// serve wraps a handler with flood protection and bans peers that send
// malformed requests.
func (s *Syncer) serve(name string, maxReq int, h p2p.RequestHandler) {
	s.host.Handle(name, maxReq, func(ctx context.Context, from peer.ID, req []byte) ([]byte, error) {
		if !s.limiter.allow(from) {
			s.punish(from, fmt.Sprintf("flooding: more than %.0f requests/s", s.cfg.RequestRate))
			return nil, errFlooding
		}
		resp, err := h(ctx, from, req)
		var mal *errMalformed
		if errors.As(err, &mal) {
			s.punish(from, err.Error())
		}
		return resp, err
	})
}

func (s *Syncer) handleStatus(_ context.Context, from peer.ID, req []byte) ([]byte, error) {
	st := new(Status)
	if err := decode(req, st, "status"); err != nil {
		return nil, err
	}
	if err := s.checkStatus(st); err == nil {
		s.peers.claimStatus(from, st)
		if st.TD.Cmp(s.chain.CurrentTD()) > 0 {
			s.kick()
		}
	}
	return encode(s.status())
}

// budget returns how many bytes of bodies or transactions p may have now:
// its share of ServeBytesRate, at most the soft response cap. Zero or less
// means it must wait (it gets an empty answer and asks another peer).
func (s *Syncer) budget(p peer.ID) int {
	return int(min(s.outBytes.available(p), softResponseBytes))
}

func (s *Syncer) handleHeaders(_ context.Context, _ peer.ID, req []byte) ([]byte, error) {
	var r HeadersRequest
	if err := decode(req, &r, "headers request"); err != nil {
		return nil, err
	}
	if r.Count > maxHeadersPerRequest {
		r.Count = maxHeadersPerRequest
	}
	// Headers are not charged to the byte budget: a request is at most
	// 1,024 of them (about 600 KB) and requests are rate limited, while
	// sync verifies headers faster than the budget would let them come.
	headers := make([]*types.Header, 0, min(r.Count, 64))
	for n := r.Start; n < r.Start+r.Count && n >= r.Start; n++ {
		h := s.chain.GetHeaderByNumber(n)
		if h == nil {
			break
		}
		headers = append(headers, h)
	}
	return encode(headers)
}

func (s *Syncer) handleBodies(_ context.Context, from peer.ID, req []byte) ([]byte, error) {
	var r HashesRequest
	if err := decode(req, &r, "bodies request"); err != nil {
		return nil, err
	}
	if len(r.Hashes) > maxBodiesPerRequest {
		return nil, &errMalformed{what: "bodies request", err: fmt.Errorf("%d hashes, at most %d", len(r.Hashes), maxBodiesPerRequest)}
	}
	var (
		out   BodiesResponse
		size  int
		limit = s.budget(from)
	)
	for _, h := range r.Hashes {
		if size >= limit {
			break
		}
		b := s.block(h)
		if b == nil {
			break
		}
		out.Bodies = append(out.Bodies, b.Body())
		size += int(b.Size())
	}
	s.outBytes.spend(from, float64(size))
	s.bodiesServed.Add(uint64(len(out.Bodies)))
	return encode(&out)
}

func (s *Syncer) handleTxs(_ context.Context, from peer.ID, req []byte) ([]byte, error) {
	var r HashesRequest
	if err := decode(req, &r, "transactions request"); err != nil {
		return nil, err
	}
	if len(r.Hashes) > maxTxsPerRequest {
		return nil, &errMalformed{what: "transactions request", err: fmt.Errorf("%d hashes, at most %d", len(r.Hashes), maxTxsPerRequest)}
	}
	var (
		out   TxsResponse
		size  int
		limit = s.budget(from)
	)
	for _, h := range r.Hashes {
		if size >= limit {
			break
		}
		tx := s.pool.Get(h)
		if tx == nil {
			continue
		}
		enc, err := tx.MarshalBinary()
		if err != nil {
			continue
		}
		size += len(enc)
		out.Txs = append(out.Txs, enc)
	}
	s.outBytes.spend(from, float64(size))
	return encode(&out)
}

func (s *Syncer) handlePooled(_ context.Context, _ peer.ID, req []byte) ([]byte, error) {
	var hashes []common.Hash
	for _, txs := range s.pool.Pending(nil) {
		for _, tx := range txs {
			if len(hashes) == maxPooledHashes {
				return encode(hashes)
			}
			hashes = append(hashes, tx.Hash())
		}
	}
	return encode(hashes)
}

// pullPool fetches a new peer's pending transactions this pool lacks.
func (s *Syncer) pullPool(ctx context.Context, p peer.ID) {
	resp, err := s.host.Request(ctx, p, protoPooled, nil, maxPooledResponse)
	if err != nil {
		return
	}
	hashes, err := parsePooled(resp)
	if err != nil {
		s.punish(p, err.Error())
		return
	}
	var want []common.Hash
	for _, h := range hashes {
		if s.pool.Get(h) == nil {
			want = append(want, h)
		}
	}
	for len(want) > 0 {
		n := min(len(want), maxTxsPerRequest)
		batch := want[:n]
		want = want[n:]
		req, err := encode(&HashesRequest{Hashes: batch})
		if err != nil {
			return
		}
		resp, err := s.host.Request(ctx, p, protoTxs, req, maxTxsResponse)
		if err != nil {
			return
		}
		txs, err := parseTxs(resp, len(batch))
		if err != nil {
			s.punish(p, err.Error())
			return
		}
		for _, tx := range txs {
			s.fromNet.Add(tx.Hash(), true)
		}
		s.pool.AddRemote(txs)
	}
}
