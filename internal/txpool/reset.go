package txpool

import (
	"context"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/peerchain/peerchain/internal/chain"
)

// Run follows the chain's head until ctx ends: transactions included by
// new blocks leave the pool, those of blocks a reorg dropped come back.
func (p *Pool) Run(ctx context.Context) error {
	heads := make(chan chain.HeadEvent, 64)
	sub := p.cfg.Chain.SubscribeHeads(heads)
	defer sub.Unsubscribe()
	for {
		select {
		case ev := <-heads:
			if err := p.Reset(ev); err != nil {
				p.log.Error("Pool reset failed", "head", ev.Block.NumberU64(), "err", err)
			}
		case err := <-sub.Err():
			return err
		case <-ctx.Done():
			return nil
		}
	}
}

// Reset moves the pool to the head of ev. Transactions of ev.Removed that
// ev.Added does not hold are re-validated and re-added.
func (p *Pool) Reset(ev chain.HeadEvent) error {
	included := make(map[common.Hash]bool)
	for _, b := range ev.Added {
		for _, tx := range b.Transactions() {
			included[tx.Hash()] = true
		}
	}
	var reinject []*types.Transaction
	for _, b := range ev.Removed {
		for _, tx := range b.Transactions() {
			if !included[tx.Hash()] {
				reinject = append(reinject, tx)
			}
		}
	}
	p.mu.Lock()
	if err := p.setHeadLocked(ev.Block.Header()); err != nil {
		p.mu.Unlock()
		return err
	}
	var (
		drop []common.Hash
		now  = p.cfg.Now()
	)
	for from, acc := range p.mu.accounts {
		next := p.mu.state.GetNonce(from)
		for nonce, e := range acc.txs {
			stale := nonce < next
			expired := !stale && now.Sub(e.added) > p.cfg.Lifetime && !p.isExecutableLocked(from, nonce)
			if stale || expired {
				p.removeLocked(from, e.tx)
				if !included[e.tx.Hash()] {
					drop = append(drop, e.tx.Hash())
				}
			}
		}
	}
	p.mu.Unlock()
	p.deleteJournal(drop)
	if len(reinject) > 0 {
		// The chain journaled these again in its reorg batch: add, do not
		// journal twice.
		back := 0
		for i, err := range p.addUnjournaled(reinject, true) {
			if err == nil {
				back++
			} else {
				p.log.Debug("Dropped transaction of a reorganised block", "hash", reinject[i].Hash(), "err", err)
			}
		}
		p.log.Info("Re-injected transactions of dropped blocks", "dropped", len(reinject), "back", back)
	}
	return nil
}

func (p *Pool) isExecutableLocked(from common.Address, nonce uint64) bool {
	for _, tx := range p.executableLocked(from, nil) {
		if tx.Nonce() == nonce {
			return true
		}
	}
	return false
}
