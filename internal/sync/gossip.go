package sync

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/p2p"
	"github.com/peerchain/peerchain/internal/txpool"
)

// sideBlockMargin is how far below the head's total difficulty, in blocks
// of the head's difficulty, an unrequested block's branch may be and still
// be stored: enough for the competing tips of a race at the same height,
// never for a cheap fork.
const sideBlockMargin = 4

// validateBlock decides whether a gossiped block is relayed; see the
// package comment for the policy. from is the peer that forwarded it,
// author the peer that signed it.
func (s *Syncer) validateBlock(ctx context.Context, from, author peer.ID, data []byte) p2p.Verdict {
	if from == s.host.ID() {
		return p2p.Accept // our own block, already imported
	}
	if !s.gossip.allow(from) {
		s.punish(from, fmt.Sprintf("flooding: more than %.0f gossiped blocks/s", s.cfg.GossipBlockRate))
		return p2p.Reject
	}
	b := new(types.Block)
	if err := decode(data, b, "block"); err != nil {
		s.punish(from, err.Error())
		return p2p.Reject
	}
	if v, ok := s.checkHeader(from, author, b.Header()); !ok {
		return v
	}
	// The body must be the one the header commits to before the block is
	// stored or relayed, whoever signed it; otherwise a relayer could send
	// an honest block's header with another body.
	if err := s.chain.VerifyBody(b); err != nil {
		var re *chain.RuleError
		if errors.As(err, &re) && !re.BodyMismatch() {
			s.blame(author, re) // a matching body that breaks a rule: a bad block
		} else {
			s.punishRelay(from, author, err)
		}
		return p2p.Reject
	}
	return s.admit(from, author, b)
}

// checkHeader runs the checks of a gossiped block that need its header
// only, cheapest first. When it returns false the message gets the
// verdict it returns.
func (s *Syncer) checkHeader(from, author peer.ID, h *types.Header) (p2p.Verdict, bool) {
	hash, num := h.Hash(), h.Number.Uint64()
	if re, bad := s.chain.IsBad(hash); bad {
		// Known bad by a rule the header commits to (its own or its
		// execution): the signer made it. A forwarder may have relayed it
		// on the author's record before running it.
		s.blame(author, re)
		return p2p.Reject, false
	}
	if s.chain.HasBlock(hash, num) {
		return p2p.Ignore, false
	}
	// Proof of work first: everything after it costs us more than the
	// message cost its sender.
	if err := s.chain.CheckSeal(h); err != nil {
		s.punishRelay(from, author, err)
		return p2p.Reject, false
	}
	if err := s.chain.VerifyHeader(h); err != nil {
		var re *chain.RuleError
		switch {
		case errors.As(err, &re) && re.Rule == chain.RuleBadAncestor:
			s.blame(author, re)
			return p2p.Reject, false
		case errors.As(err, &re) && re.Permanent():
			// Every honest forwarder checked the header against the
			// same parent before relaying it.
			s.punishRelay(from, author, err)
			return p2p.Reject, false
		case errors.Is(err, chain.ErrUnknownParent):
			s.checkPeer(from)
		}
		return p2p.Ignore, false // from the future, or not placeable yet
	}
	return p2p.Accept, true
}

// admit decides on a gossiped block whose header passed checkHeader and
// whose body matches it: store it, import it, relay it, or let it go.
func (s *Syncer) admit(from, author peer.ID, b *types.Block) p2p.Verdict {
	hash, num := b.Hash(), b.NumberU64()
	s.arrivals.Heard(hash, from)
	// A block nobody asked for is stored only when its branch is about as
	// heavy as ours, and relayed only when it would be our new head.
	td := s.chain.GetTD(b.ParentHash(), num-1)
	if td == nil {
		return p2p.Ignore // parent gone since VerifyHeader: a race
	}
	td.Add(td, b.Difficulty())
	headTD := s.chain.CurrentTD()
	if !s.worthStoring(td, headTD) {
		s.log.Debug("Ignored a light side block", "number", num, "hash", hash, "td", td, "head td", headTD, "from", from)
		return p2p.Ignore
	}
	heavier := td.Cmp(headTD) > 0
	if ok, _ := s.trusted.Get(author); ok && heavier {
		// An author whose blocks became canonical: relay on the header,
		// PoW and body match, and import right after (the import runs
		// the block).
		select {
		case s.importCh <- gossipBlock{block: b, from: from, author: author}:
		default:
			s.kick() // too far behind for gossip: sync will fetch it
		}
		s.relayed(b)
		return p2p.Accept
	}
	// An author without that record, or a side block: import (fully
	// validate) first.
	status, err := s.chain.InsertBlock(b)
	if err != nil {
		if errors.Is(err, chain.ErrKnownBlock) {
			return p2p.Ignore
		}
		var re *chain.RuleError
		if errors.As(err, &re) && re.Permanent() {
			s.blame(author, re)
			return p2p.Reject
		}
		return p2p.Ignore
	}
	s.afterImport(from, b)
	if status != chain.StatusHead {
		return p2p.Ignore // stored, never relayed
	}
	s.trusted.Add(author, true)
	s.relayed(b)
	return p2p.Accept
}

// worthStoring reports whether an unrequested block whose branch has total
// difficulty td may be stored next to a head of headTD: near the head's
// work, and at least the minimum chain work.
func (s *Syncer) worthStoring(td, headTD *big.Int) bool {
	if td.Cmp(s.cfg.MinChainWork) < 0 {
		return false
	}
	margin := new(big.Int).Mul(s.chain.CurrentBlock().Difficulty(), big.NewInt(sideBlockMargin))
	return new(big.Int).Add(td, margin).Cmp(headTD) > 0
}

// relayed keeps a block we relay for the peers we relay it to (they ask
// blocktxn/1 or bodies/1 for what they lack) and reports it.
func (s *Syncer) relayed(b *types.Block) {
	s.recent.Add(b.Hash(), b)
	if s.cfg.OnBlockRelayed != nil {
		s.cfg.OnBlockRelayed(b.Hash())
	}
}

// blame bans the author of an invalid block. A forwarder is not blamed: it
// may have relayed the block on a record of the author we do not share.
func (s *Syncer) blame(author peer.ID, re *chain.RuleError) {
	s.punish(author, fmt.Sprintf("invalid block %d: rule %s", re.Number, re.Rule))
}

// punishRelay bans the author and the forwarder of a block that fails a
// check every honest peer makes before relaying: proof of work, header
// rules, and a body that matches its header. The block itself may still
// be valid (with its own body): only the senders are at fault.
func (s *Syncer) punishRelay(from, author peer.ID, err error) {
	reason := fmt.Sprintf("relayed a block that fails the relay checks: %v", err)
	s.punish(author, reason)
	if from != author {
		s.punish(from, reason)
	}
}

// checkPeer asks a peer for its status because it forwarded a block whose
// parent we lack, so the sync loop can fetch its chain: at most once per
// peer every few seconds, and a bounded number at a time.
func (s *Syncer) checkPeer(p peer.ID) {
	const maxChecks = 16
	if !s.peers.tryCheck(p) {
		return
	}
	if s.checks.Add(1) > maxChecks {
		s.checks.Add(-1)
		return
	}
	go func() {
		defer s.checks.Add(-1)
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HeaderTimeout)
		defer cancel()
		st, err := s.requestStatus(ctx, p)
		if err != nil || s.checkStatus(st) != nil {
			return
		}
		s.peers.claimStatus(p, st)
		s.kick()
	}()
}

// onBlock is called for accepted blocks; the validator has already
// imported them or queued them for import.
func (s *Syncer) onBlock(peer.ID, peer.ID, []byte) {}

func (s *Syncer) importLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case g := <-s.importCh:
			_, err := s.chain.InsertBlock(g.block)
			switch {
			case err == nil || errors.Is(err, chain.ErrKnownBlock):
				s.afterImport(g.from, g.block)
			default:
				var re *chain.RuleError
				if errors.As(err, &re) && re.Permanent() {
					s.log.Warn("Gossiped block failed import", "number", g.block.NumberU64(), "author", g.author, "err", err)
					s.trusted.Remove(g.author)
					s.blame(g.author, re)
				} else if errors.Is(err, chain.ErrUnknownParent) {
					s.checkPeer(g.from)
				}
			}
		}
	}
}

// afterImport records that from has block b, which we hold: work proven.
func (s *Syncer) afterImport(from peer.ID, b *types.Block) {
	s.arrivals.Imported(b.Header(), from, ViaGossip)
	if td := s.chain.GetTD(b.Hash(), b.NumberU64()); td != nil {
		s.peers.prove(from, b.Hash(), b.NumberU64(), td)
	}
}

// validateTx admits a gossiped transaction into the pool before relaying
// it; a peer whose transaction cannot even be decoded or signed is banned.
func (s *Syncer) validateTx(_ context.Context, from, author peer.ID, data []byte) p2p.Verdict {
	if from == s.host.ID() {
		return p2p.Accept
	}
	if len(data) > maxTxMessage {
		s.punish(from, fmt.Sprintf("oversized transaction message: %d bytes", len(data)))
		return p2p.Reject
	}
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(data); err != nil {
		s.punish(from, fmt.Sprintf("malformed transaction: %v", err))
		return p2p.Reject
	}
	if s.pool.Get(tx.Hash()) != nil {
		return p2p.Ignore
	}
	s.fromNet.Add(tx.Hash(), true)
	err := s.pool.AddRemote([]*types.Transaction{tx})[0]
	switch {
	case err == nil:
		return p2p.Accept
	case errors.Is(err, txpool.ErrInvalidSender), errors.Is(err, txpool.ErrTxTypeNotSupported), errors.Is(err, txpool.ErrOversizedData):
		s.punish(author, fmt.Sprintf("invalid transaction %s: %v", tx.Hash(), err))
		return p2p.Reject
	default:
		return p2p.Ignore // stale nonce, underpriced, known: not misbehaviour
	}
}

// relayTxs publishes transactions that became executable in the pool and
// did not come from the network.
func (s *Syncer) relayTxs(ctx context.Context) {
	ch := make(chan txpool.NewTxsEvent, 256)
	sub := s.pool.SubscribeNewTxs(ch)
	defer sub.Unsubscribe()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-ch:
			for _, tx := range ev.Txs {
				if s.fromNet.Contains(tx.Hash()) {
					continue
				}
				s.fromNet.Add(tx.Hash(), false) // ours: prefilled in our compact blocks
				data, err := tx.MarshalBinary()
				if err != nil {
					continue
				}
				if err := s.txs.Publish(ctx, data); err != nil {
					s.log.Debug("Transaction broadcast failed", "hash", tx.Hash(), "err", err)
				}
			}
		}
	}
}

// reannounce publishes again the transactions a reorg put back in the
// pool: peers on the winning branch (say, across a healed partition) may
// never have heard of them. It waits a moment for the pool to take them
// back, without ever holding up the chain's head events.
func (s *Syncer) reannounce(ctx context.Context) {
	heads := make(chan chain.HeadEvent, 16)
	sub := s.chain.SubscribeHeads(heads)
	defer sub.Unsubscribe()
	var (
		pending []*types.Transaction
		timer   = time.NewTimer(time.Hour)
	)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-heads:
			if len(ev.Removed) == 0 {
				continue
			}
			included := make(map[common.Hash]bool)
			for _, b := range ev.Added {
				for _, tx := range b.Transactions() {
					included[tx.Hash()] = true
				}
			}
			for _, b := range ev.Removed {
				for _, tx := range b.Transactions() {
					if !included[tx.Hash()] && len(pending) < maxReannounce {
						pending = append(pending, tx)
					}
				}
			}
			timer.Reset(500 * time.Millisecond)
		case <-timer.C:
			n := 0
			for _, tx := range pending {
				if s.pool.Get(tx.Hash()) == nil {
					continue
				}
				data, err := tx.MarshalBinary()
				if err != nil {
					continue
				}
				if err := s.txs.Publish(ctx, data); err == nil {
					n++
				}
			}
			pending = nil
			if n > 0 {
				s.log.Info("Re-announced transactions of dropped blocks", "count", n)
			}
		}
	}
}

// maxReannounce bounds the transactions held for re-announcement.
const maxReannounce = 8192
