package sync

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/p2p"
)

// maxBodyTries is how many peers besides the forwarder are asked for the
// full body of a compact block that did not rebuild.
const maxBodyTries = 3

// encodeCompact encodes one of our blocks for the compact topic: the
// transactions a peer sent us go as short ids, the others (ours, or ones
// we never heard of before the block) whole, since peers likely lack them.
func (s *Syncer) encodeCompact(b *types.Block) ([]byte, error) {
	cb, err := newCompactBlock(b, rand.Uint64(), func(tx *types.Transaction) bool {
		heard, _ := s.fromNet.Get(tx.Hash())
		return !heard
	})
	if err != nil {
		return nil, err
	}
	return encode(cb)
}

// validateCompact decides on a gossiped compact block as validateBlock
// does on a full one, once its body is rebuilt.
func (s *Syncer) validateCompact(ctx context.Context, from, author peer.ID, data []byte) p2p.Verdict {
	if from == s.host.ID() {
		return p2p.Accept
	}
	if !s.gossip.allow(from) {
		s.punish(from, fmt.Sprintf("flooding: more than %.0f gossiped blocks/s", s.cfg.GossipBlockRate))
		return p2p.Reject
	}
	plan, err := parseCompact(data)
	if err != nil {
		s.punish(from, err.Error())
		return p2p.Reject
	}
	if v, ok := s.checkHeader(from, author, plan.cb.Header); !ok {
		return v
	}
	b, v := s.rebuild(ctx, from, author, plan)
	if b == nil {
		return v
	}
	return s.admit(from, author, b)
}

// rebuild returns the block a compact block names with the body its
// header commits to, or nil and the message's verdict. Transactions come
// from the message, the pool, then the forwarder; when that body does not
// match the header (a short-id collision, a forwarder's wrong answer, a
// forged message) the full body is fetched, and only with it in hand is
// anyone blamed: the signer and forwarder of a message that is not the
// block's, or a forwarder whose transactions were not the block's.
func (s *Syncer) rebuild(ctx context.Context, from, author peer.ID, plan *compactPlan) (*types.Block, p2p.Verdict) {
	missing := plan.fill(s.poolTxs())
	served, forwarderFailed := s.fetchMissing(ctx, from, plan, missing)
	if !forwarderFailed {
		b := plan.block()
		err := s.chain.VerifyBody(b)
		if err == nil {
			if err := plan.checkFetched(missing); err != nil {
				return s.forged(from, author, b, err)
			}
			c := &s.compactStats
			c.rebuilt.Add(1)
			c.prefilled.Add(uint64(len(plan.cb.Prefilled)))
			c.fetched.Add(uint64(len(missing)))
			c.fromPool.Add(uint64(len(plan.txs) - len(plan.cb.Prefilled) - len(missing)))
			return b, p2p.Accept
		}
		var re *chain.RuleError
		if errors.As(err, &re) && !re.BodyMismatch() {
			s.blame(author, re) // the header's own body breaks a rule
			return nil, p2p.Reject
		}
		s.log.Debug("A compact block did not rebuild: fetching its body", "number", plan.cb.Header.Number, "hash", plan.hash, "from", from, "err", err)
	}
	s.compactStats.fallbacks.Add(1)
	full, err := s.fetchBody(ctx, plan.cb.Header, from, forwarderFailed)
	if err != nil {
		var re *chain.RuleError
		if errors.As(err, &re) {
			s.blame(author, re)
			return nil, p2p.Reject
		}
		s.log.Debug("No peer served the body of a compact block", "number", plan.cb.Header.Number, "hash", plan.hash, "err", err)
		return nil, p2p.Ignore // sync fetches it when a later block names it
	}
	if err := plan.checkAgainst(full); err != nil {
		return s.forged(from, author, full, err)
	}
	txs := full.Transactions()
	for i, h := range served {
		if txs[i].Hash() != h {
			s.punish(from, fmt.Sprintf("invalid answer: blocktxn/1 served transaction %s at position %d of block %s, the block's is %s", h, i, plan.hash, txs[i].Hash()))
			break
		}
	}
	return full, p2p.Accept
}

// forged handles a compact message that is not the block its header names
// (b, whose body matches the header): its signer and forwarder are
// punished as for a full block with a swapped body, and the block itself,
// valid as far as we know, is imported without relaying the message.
func (s *Syncer) forged(from, author peer.ID, b *types.Block, why error) (*types.Block, p2p.Verdict) {
	s.punishRelay(from, author, why)
	if td := s.chain.GetTD(b.ParentHash(), b.NumberU64()-1); td != nil && s.worthStoring(td.Add(td, b.Difficulty()), s.chain.CurrentTD()) {
		if _, err := s.chain.InsertBlock(b); err == nil {
			s.afterImport(from, b)
		}
	}
	return nil, p2p.Reject
}

// poolTxs lists the pool's executable transactions, the candidates for a
// compact block's short ids.
func (s *Syncer) poolTxs() []*types.Transaction {
	var out []*types.Transaction
	for _, txs := range s.pool.Pending(nil) {
		out = append(out, txs...)
	}
	return out
}

// txFetchPerTx is what a compact block's transaction fetch may take per
// transaction beyond TxFetchTimeout: a 1 KiB transaction at 4 Mbit/s, the
// slow end of a home uplink. Without it the simulation's 1 MiB blocks over
// 10 Mbit/s links struck honest forwarders until they were banned.
const txFetchPerTx = 2 * time.Millisecond

// fetchMissing asks the forwarder for the transactions at the positions
// missing and fills them in. It returns what the forwarder served by
// position, and whether it failed to serve: a forwarder validated the
// block before relaying it, so it holds every transaction. A stall or a
// refusal is a strike; a malformed answer bans it.
func (s *Syncer) fetchMissing(ctx context.Context, from peer.ID, plan *compactPlan, missing []uint64) (map[uint64]common.Hash, bool) {
	if len(missing) == 0 {
		return nil, false
	}
	if len(missing) > maxBlockTxnIndexes {
		return nil, true // the full body is the cheaper request
	}
	req, err := encode(&BlockTxnRequest{Hash: plan.hash, Indexes: missing})
	if err != nil {
		return nil, true
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.TxFetchTimeout+time.Duration(len(missing))*txFetchPerTx)
	defer cancel()
	resp, err := s.host.Request(rctx, from, protoBlockTxn, req, maxBlockMessage)
	if err == nil {
		var txs []*types.Transaction
		if txs, err = parseTxs(resp, len(missing)); err == nil && len(txs) < len(missing) {
			err = fmt.Errorf("%d of %d transactions of block %s", len(txs), len(missing), plan.hash)
		}
		if err == nil {
			served := make(map[uint64]common.Hash, len(missing))
			for i, pos := range missing {
				plan.txs[pos] = txs[i]
				served[pos] = txs[i].Hash()
			}
			return served, false
		}
	}
	if IsMalformed(err) || errors.Is(err, p2p.ErrOversized) {
		s.punish(from, err.Error())
	} else {
		s.strike(from, "transaction fetches for a compact block it relayed", err)
	}
	return nil, true
}

// fetchBody asks the forwarder (unless it already failed us) and then a
// few other peers of the compact topic for the body of h, and returns the
// first block whose body matches h. A peer that serves another body is
// banned. An error that is a *chain.RuleError says h's own body breaks a
// rule.
func (s *Syncer) fetchBody(ctx context.Context, h *types.Header, from peer.ID, skipFrom bool) (*types.Block, error) {
	var ask []peer.ID
	if !skipFrom {
		ask = append(ask, from)
	}
	others := s.compact.Peers()
	rand.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	for _, p := range others {
		if len(ask) >= maxBodyTries+1 {
			break
		}
		if p != from && !s.host.IsBanned(p) {
			ask = append(ask, p)
		}
	}
	req, err := encode(&HashesRequest{Hashes: []common.Hash{h.Hash()}})
	if err != nil {
		return nil, err
	}
	for _, p := range ask {
		rctx, cancel := context.WithTimeout(ctx, s.cfg.BodyTimeout)
		resp, err := s.host.Request(rctx, p, protoBodies, req, maxBodiesResponse)
		cancel()
		if err != nil {
			continue
		}
		blocks, err := parseBodies(resp, []*types.Header{h})
		if err != nil {
			s.punish(p, err.Error())
			continue
		}
		if len(blocks) == 0 {
			continue // it does not have it (yet)
		}
		err = s.chain.VerifyBody(blocks[0])
		var re *chain.RuleError
		switch {
		case err == nil:
			return blocks[0], nil
		case errors.As(err, &re) && !re.BodyMismatch():
			return nil, re
		default:
			s.punish(p, fmt.Sprintf("invalid answer: bodies/1 served a body that does not match block %s: %v", h.Hash(), err))
		}
	}
	return nil, fmt.Errorf("none of %d peers served the body of block %s", len(ask), h.Hash())
}

// strike counts a failed answer of p; maxStrikes in a row ban it.
func (s *Syncer) strike(p peer.ID, what string, err error) {
	if n := s.peers.fail(p); n >= maxStrikes {
		s.punish(p, fmt.Sprintf("failed %d %s in a row; last: %v", n, what, err))
	}
}

// block returns a block we hold: one recently relayed, or a stored one.
func (s *Syncer) block(hash common.Hash) *types.Block {
	if b, ok := s.recent.Get(hash); ok {
		return b
	}
	return s.chain.GetBlockByHash(hash)
}

// handleBlockTxn serves the transactions of a block we relayed (or hold)
// at the positions asked for, all of them or none.
func (s *Syncer) handleBlockTxn(_ context.Context, from peer.ID, req []byte) ([]byte, error) {
	var r BlockTxnRequest
	if err := decode(req, &r, "blocktxn request"); err != nil {
		return nil, err
	}
	if len(r.Indexes) > maxBlockTxnIndexes {
		return nil, &errMalformed{what: "blocktxn request", err: fmt.Errorf("%d positions, at most %d", len(r.Indexes), maxBlockTxnIndexes)}
	}
	b := s.block(r.Hash)
	if b == nil {
		return encode(&TxsResponse{})
	}
	txs := b.Transactions()
	out := TxsResponse{Txs: make([][]byte, 0, len(r.Indexes))}
	size := 0
	for _, i := range r.Indexes {
		if i >= uint64(len(txs)) {
			return nil, &errMalformed{what: "blocktxn request", err: fmt.Errorf("position %d of a block of %d transactions", i, len(txs))}
		}
		enc, err := txs[i].MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("encode transaction %d of block %s: %w", i, r.Hash, err)
		}
		size += len(enc)
		out.Txs = append(out.Txs, enc)
	}
	if size > s.budget(from) {
		return nil, fmt.Errorf("%d bytes of transactions over the serving budget of %s", size, from)
	}
	s.outBytes.spend(from, float64(size))
	return encode(&out)
}

// CompactStats counts what compact blocks cost this peer since it started.
type CompactStats struct {
	// Rebuilt counts compact blocks rebuilt from the message, the pool
	// and the forwarder's answer; Fallbacks those whose full body had to
	// be fetched instead.
	Rebuilt, Fallbacks uint64
	// FromPool, Prefilled and Fetched count their transactions by where
	// they came from.
	FromPool, Prefilled, Fetched uint64
}

type compactCounters struct {
	rebuilt, fallbacks, fromPool, prefilled, fetched atomic.Uint64
}

// CompactStats returns the compact block counters (metrics, benchmarks).
func (s *Syncer) CompactStats() CompactStats {
	c := &s.compactStats
	return CompactStats{Rebuilt: c.rebuilt.Load(), Fallbacks: c.fallbacks.Load(),
		FromPool: c.fromPool.Load(), Prefilled: c.prefilled.Load(), Fetched: c.fetched.Load()}
}
