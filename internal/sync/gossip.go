package sync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/p2p"
	"github.com/peerchain/peerchain/internal/txpool"
)

// validateBlock decides whether a gossiped block is relayed; see the
// package comment for the policy.
func (s *Syncer) validateBlock(ctx context.Context, from, author peer.ID, data []byte) p2p.Verdict {
	if from == s.host.ID() {
		return p2p.Accept // our own block, already imported
	}
	b := new(types.Block)
	if err := decode(data, b, "block"); err != nil {
		s.punish(from, err.Error())
		return p2p.Reject
	}
	hash, num := b.Hash(), b.NumberU64()
	if re, bad := s.chain.IsBad(hash); bad {
		s.blame(from, author, re)
		return p2p.Reject
	}
	if s.chain.HasBlock(hash, num) {
		return p2p.Ignore
	}
	if err := s.chain.VerifyHeader(b.Header()); err != nil {
		return s.verdict(from, author, err)
	}
	if ok, _ := s.trusted.Get(author); ok {
		// A known author: relay on the header and PoW alone, and import
		// right after (the import checks the body and runs the block).
		select {
		case s.importCh <- gossipBlock{block: b, from: from, author: author}:
		default:
			s.kick() // too far behind for gossip: sync will fetch it
		}
		s.relayed(hash)
		return p2p.Accept
	}
	// An author without a record: import (fully validate) before relaying.
	if _, err := s.chain.InsertBlock(b); err != nil {
		if errors.Is(err, chain.ErrKnownBlock) {
			return p2p.Ignore
		}
		return s.verdict(from, author, err)
	}
	s.trusted.Add(author, true)
	s.afterImport(from, b)
	s.relayed(hash)
	return p2p.Accept
}

func (s *Syncer) relayed(hash common.Hash) {
	if s.cfg.OnBlockRelayed != nil {
		s.cfg.OnBlockRelayed(hash)
	}
}

// verdict maps an import or check error to a gossip verdict, banning for
// permanent rule violations and asking for the parent's chain when the
// parent is missing.
func (s *Syncer) verdict(from, author peer.ID, err error) p2p.Verdict {
	var re *chain.RuleError
	switch {
	case errors.As(err, &re) && re.Permanent():
		s.blame(from, author, re)
		return p2p.Reject
	case errors.Is(err, chain.ErrUnknownParent):
		go s.checkPeer(from)
		return p2p.Ignore
	default:
		return p2p.Ignore
	}
}

// blame bans the author of an invalid block. A relayer is not blamed: it
// may have relayed on a record of the author that we do not share.
func (s *Syncer) blame(_, author peer.ID, re *chain.RuleError) {
	s.punish(author, fmt.Sprintf("invalid block %d: rule %s", re.Number, re.Rule))
}

// checkPeer refreshes a peer's status (it announced a block whose parent we
// lack) so the sync loop can fetch its chain.
func (s *Syncer) checkPeer(p peer.ID) {
	ctx, cancel := context.WithTimeout(context.Background(), p2p.StreamTimeout)
	defer cancel()
	st, err := s.requestStatus(ctx, p)
	if err != nil || s.checkStatus(st) != nil {
		return
	}
	s.peers.update(p, st.Head, st.Number, st.TD)
	s.kick()
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
					s.punish(g.author, fmt.Sprintf("invalid block %d: rule %s", re.Number, re.Rule))
				} else if errors.Is(err, chain.ErrUnknownParent) {
					go s.checkPeer(g.from)
				}
			}
		}
	}
}

// afterImport records that from has block b.
func (s *Syncer) afterImport(from peer.ID, b *types.Block) {
	if td := s.chain.GetTD(b.Hash(), b.NumberU64()); td != nil {
		s.peers.update(from, b.Hash(), b.NumberU64(), td)
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
				if seen, _ := s.fromNet.Get(tx.Hash()); seen {
					continue
				}
				s.fromNet.Add(tx.Hash(), true)
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
// never have heard of them.
func (s *Syncer) reannounce(ctx context.Context) {
	heads := make(chan chain.HeadEvent, 16)
	sub := s.chain.SubscribeHeads(heads)
	defer sub.Unsubscribe()
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
			// Give the pool a moment to take them back first.
			select {
			case <-time.After(500 * time.Millisecond):
			case <-ctx.Done():
				return
			}
			n := 0
			for _, b := range ev.Removed {
				for _, tx := range b.Transactions() {
					if included[tx.Hash()] || s.pool.Get(tx.Hash()) == nil {
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
			}
			if n > 0 {
				s.log.Info("Re-announced transactions of dropped blocks", "count", n)
			}
		}
	}
}
