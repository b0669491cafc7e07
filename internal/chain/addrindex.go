package chain

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethdb"

	"github.com/peerchain/peerchain/internal/chaindb"
	"github.com/peerchain/peerchain/internal/execution"
)

// The address index: for every executed block, which of its transactions
// touched each address (sender, recipient, created contract, and both ends
// of every inner call, create and selfdestruct), recorded by execution's
// tracing hooks while the block runs (no re-execution) and written in the
// batch that stores the block's receipts. It is never rewritten on a
// reorg: each entry names its block's hash, and readers keep only the
// entries of canonical blocks. Blocks executed before a data dir had the
// index are not in it (AddrIndexFrom).

// writeAddrIndex writes the index entries of an executed block to batch.
func (c *Chain) writeAddrIndex(batch ethdb.KeyValueWriter, block *types.Block, res *execution.Result) error {
	num, hash := block.NumberU64(), block.Hash()
	if len(res.Touched) != len(block.Transactions()) {
		return fmt.Errorf("address index of block %d: %d transactions traced, block has %d", num, len(res.Touched), len(block.Transactions()))
	}
	if _, err := chaindb.ReadAddrIndexFrom(c.db); errors.Is(err, chaindb.ErrNotFound) {
		if err := chaindb.WriteAddrIndexFrom(batch, num); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	for i, tx := range res.Touched {
		for _, t := range tx.Touches {
			if err := chaindb.WriteAddrTouch(batch, t.Addr, num, hash, uint32(i), t.Flags, t.Creator); err != nil {
				return err
			}
			if t.Flags&execution.TouchFrom != 0 {
				if err := chaindb.WriteSenderNonce(batch, t.Addr, tx.Nonce, num, hash, uint32(i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// AddrIndexFrom is the first block number the address index holds: 1 on a
// chain that always had it, later on a data dir from before it.
func (c *Chain) AddrIndexFrom() (uint64, error) {
	n, err := chaindb.ReadAddrIndexFrom(c.db)
	if errors.Is(err, chaindb.ErrNotFound) {
		return c.CurrentBlock().NumberU64() + 1, nil
	}
	return n, err
}

// AddrTx is a canonical transaction that touched an address.
type AddrTx struct {
	Number    uint64
	BlockHash common.Hash
	Index     uint32
	// Flags tell how (execution.Touch*).
	Flags uint8
	// Creator directly created the address (TouchCreated only).
	Creator common.Address
}

// canonicalCheck caches canonical hashes for one index walk.
type canonicalCheck struct {
	c    *Chain
	num  uint64
	hash common.Hash
	ok   bool
	set  bool
}

func (cc *canonicalCheck) of(num uint64, prefix [chaindb.HashPrefixLen]byte) (common.Hash, bool) {
	if !cc.set || cc.num != num {
		cc.num, cc.set = num, true
		cc.hash, cc.ok = cc.c.GetCanonicalHash(num)
	}
	return cc.hash, cc.ok && bytes.Equal(cc.hash[:chaindb.HashPrefixLen], prefix[:])
}

// SearchAddr walks the canonical transactions that touched addr, from
// block number from (inclusive) towards the head, or towards genesis when
// backward, and returns them in walk order. It stops at the end of the
// first block that brings the count to at least pageSize (Otterscan's
// rule: a block is never split); done reports that the walk reached the
// end of the index.
func (c *Chain) SearchAddr(addr common.Address, from uint64, backward bool, pageSize int) (txs []AddrTx, done bool, err error) {
	cc := canonicalCheck{c: c}
	stopAfter := ^uint64(0) // number of the block that filled the page
	done = true
	err = c.db.IterAddrTouches(addr, from, backward, func(t chaindb.AddrTouch) (bool, error) {
		if stopAfter != ^uint64(0) && t.Number != stopAfter {
			done = false
			return false, nil
		}
		hash, ok := cc.of(t.Number, t.HashPrefix)
		if !ok {
			return true, nil
		}
		txs = append(txs, AddrTx{Number: t.Number, BlockHash: hash, Index: t.Index, Flags: t.Flags, Creator: t.Creator})
		if len(txs) >= pageSize {
			stopAfter = t.Number
		}
		return true, nil
	})
	if err != nil {
		return nil, false, err
	}
	return txs, done, nil
}

// ContractCreator returns the canonical transaction that last created the
// contract at addr (a CREATE2 address can be created again after a
// selfdestruct in its creation transaction), or false when none did.
func (c *Chain) ContractCreator(addr common.Address) (AddrTx, bool, error) {
	cc := canonicalCheck{c: c}
	var found AddrTx
	var ok bool
	err := c.db.IterAddrTouches(addr, ^uint64(0), true, func(t chaindb.AddrTouch) (bool, error) {
		if t.Flags&execution.TouchCreated == 0 {
			return true, nil
		}
		hash, canon := cc.of(t.Number, t.HashPrefix)
		if !canon {
			return true, nil
		}
		found, ok = AddrTx{Number: t.Number, BlockHash: hash, Index: t.Index, Flags: t.Flags, Creator: t.Creator}, true
		return false, nil
	})
	return found, ok, err
}

// TxBySenderAndNonce returns the canonical transaction of sender with
// nonce, or false when the canonical chain has none.
func (c *Chain) TxBySenderAndNonce(sender common.Address, nonce uint64) (*TxLookup, bool, error) {
	places, err := chaindb.ReadSenderNonce(c.db, sender, nonce)
	if err != nil {
		return nil, false, err
	}
	cc := canonicalCheck{c: c}
	for _, p := range places {
		hash, ok := cc.of(p.Number, p.HashPrefix)
		if !ok {
			continue
		}
		b := c.GetBlock(hash, p.Number)
		if b == nil || int(p.Index) >= len(b.Transactions()) {
			return nil, false, fmt.Errorf("sender index of %s nonce %d names transaction %d of block %d, which it lacks", sender, nonce, p.Index, p.Number)
		}
		return &TxLookup{Tx: b.Transactions()[p.Index], BlockHash: hash, Number: p.Number, Index: uint64(p.Index)}, true, nil
	}
	return nil, false, nil
}
