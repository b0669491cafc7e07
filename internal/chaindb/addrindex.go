package chaindb

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethdb"
)

// The address index (ots_ search, contract creator, sender and nonce).
// Entries are written with the block's receipts, in the same batch, for
// every executed block (side blocks too) and never deleted: the block hash
// prefix in each key lets a reader keep only the entries of canonical
// blocks, so a reorg needs no index change and a crash cannot tear one.
var (
	// "o" addr(20) num(8) hash[:8] index(4) → flags(1) [creator(20)]
	addrTouchPrefix = []byte("o")
	// "O" sender(20) nonce(8) hash[:8] → num(8) index(4)
	senderNoncePrefix = []byte("O")
	// first block number whose transactions the index holds
	addrIndexFromKey = []byte("peerchain-addrindex-from")
)

// HashPrefixLen is how many bytes of a block hash the index keys keep:
// enough that two blocks at one height cannot share them short of 2^64
// work.
const HashPrefixLen = 8

// AddrTouch is one address-index entry: a transaction of block (Number,
// HashPrefix) at Index touched Addr.
type AddrTouch struct {
	Addr       common.Address
	Number     uint64
	HashPrefix [HashPrefixLen]byte
	Index      uint32
	Flags      uint8
	Creator    common.Address // set when Flags has the creation bit
}

// TouchCreatedFlag must equal execution.TouchCreated: the creator follows
// the flags only then.
const touchCreatedFlag = 1 << 3

func addrTouchKey(a common.Address, num uint64, hash common.Hash, idx uint32) []byte {
	k := make([]byte, 0, 1+20+8+HashPrefixLen+4)
	k = append(k, addrTouchPrefix...)
	k = append(k, a[:]...)
	k = binary.BigEndian.AppendUint64(k, num)
	k = append(k, hash[:HashPrefixLen]...)
	return binary.BigEndian.AppendUint32(k, idx)
}

// WriteAddrTouch records that transaction idx of block (num, hash) touched
// a with flags (execution.Touch*); creator is kept for a created contract.
func WriteAddrTouch(w ethdb.KeyValueWriter, a common.Address, num uint64, hash common.Hash, idx uint32, flags uint8, creator common.Address) error {
	v := []byte{flags}
	if flags&touchCreatedFlag != 0 {
		v = append(v, creator[:]...)
	}
	if err := w.Put(addrTouchKey(a, num, hash, idx), v); err != nil {
		return fmt.Errorf("write address index entry %s of block %d: %w", a, num, err)
	}
	return nil
}

func decodeAddrTouch(k, v []byte) (AddrTouch, error) {
	var t AddrTouch
	if len(k) != 1+20+8+HashPrefixLen+4 || len(v) < 1 {
		return t, fmt.Errorf("%w: address index key of %d bytes, value of %d", ErrCorruption, len(k), len(v))
	}
	copy(t.Addr[:], k[1:21])
	t.Number = binary.BigEndian.Uint64(k[21:29])
	copy(t.HashPrefix[:], k[29:29+HashPrefixLen])
	t.Index = binary.BigEndian.Uint32(k[29+HashPrefixLen:])
	t.Flags = v[0]
	if t.Flags&touchCreatedFlag != 0 {
		if len(v) != 21 {
			return t, fmt.Errorf("%w: address index creation entry of %s has a %d-byte value", ErrCorruption, t.Addr, len(v))
		}
		copy(t.Creator[:], v[1:])
	}
	return t, nil
}

// IterAddrTouches calls fn with a's entries from block number from on,
// ascending, or from block from down, descending, until fn returns false
// or an error. Entries of one block come in transaction order (reversed
// when descending).
func (k *KV) IterAddrTouches(a common.Address, from uint64, descending bool, fn func(AddrTouch) (bool, error)) error {
	if err := k.rlock(); err != nil {
		return err
	}
	defer k.mu.RUnlock()
	prefix := append(bytes.Clone(addrTouchPrefix), a[:]...)
	opts := &pebble.IterOptions{LowerBound: prefix, UpperBound: upperBound(prefix)}
	if descending {
		if from < ^uint64(0) {
			opts.UpperBound = binary.BigEndian.AppendUint64(bytes.Clone(prefix), from+1)
		}
	} else {
		opts.LowerBound = binary.BigEndian.AppendUint64(bytes.Clone(prefix), from)
	}
	it, err := k.db.NewIter(opts)
	if err != nil {
		return fmt.Errorf("address index of %s: %w", a, err)
	}
	defer it.Close()
	valid, step := it.First, it.Next
	if descending {
		valid, step = it.Last, it.Prev
	}
	for ok := valid(); ok; ok = step() {
		t, err := decodeAddrTouch(it.Key(), it.Value())
		if err != nil {
			return err
		}
		more, err := fn(t)
		if err != nil || !more {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("address index of %s: %w", a, err)
	}
	return nil
}

// WriteSenderNonce records that sender's transaction with nonce is
// transaction idx of block (num, hash).
func WriteSenderNonce(w ethdb.KeyValueWriter, sender common.Address, nonce, num uint64, hash common.Hash, idx uint32) error {
	k := make([]byte, 0, 1+20+8+HashPrefixLen)
	k = append(k, senderNoncePrefix...)
	k = append(k, sender[:]...)
	k = binary.BigEndian.AppendUint64(k, nonce)
	k = append(k, hash[:HashPrefixLen]...)
	v := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(nil, num), idx)
	if err := w.Put(k, v); err != nil {
		return fmt.Errorf("write sender index %s nonce %d: %w", sender, nonce, err)
	}
	return nil
}

// TxPos is a transaction's place: transaction Index of the block at Number
// whose hash starts with HashPrefix.
type TxPos struct {
	Number     uint64
	HashPrefix [HashPrefixLen]byte
	Index      uint32
}

// ReadSenderNonce returns every recorded place of sender's transaction
// with nonce, on any branch; the caller keeps the canonical one.
func ReadSenderNonce(db ethdb.Iteratee, sender common.Address, nonce uint64) ([]TxPos, error) {
	prefix := append(bytes.Clone(senderNoncePrefix), sender[:]...)
	prefix = binary.BigEndian.AppendUint64(prefix, nonce)
	it := db.NewIterator(prefix, nil)
	defer it.Release()
	var out []TxPos
	for it.Next() {
		k, v := it.Key(), it.Value()
		if len(k) != len(prefix)+HashPrefixLen || len(v) != 12 {
			return nil, fmt.Errorf("%w: sender index entry of %s nonce %d", ErrCorruption, sender, nonce)
		}
		var p TxPos
		copy(p.HashPrefix[:], k[len(prefix):])
		p.Number = binary.BigEndian.Uint64(v)
		p.Index = binary.BigEndian.Uint32(v[8:])
		out = append(out, p)
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("sender index of %s: %w", sender, err)
	}
	return out, nil
}

// ReadAddrIndexFrom returns the first block number the address index
// holds (blocks imported before the index existed are not in it).
func ReadAddrIndexFrom(r ethdb.KeyValueReader) (uint64, error) {
	v, err := get(r, addrIndexFromKey, "address index start")
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: address index start has %d bytes", ErrCorruption, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// WriteAddrIndexFrom records the first block number the address index
// holds.
func WriteAddrIndexFrom(w ethdb.KeyValueWriter, num uint64) error {
	if err := w.Put(addrIndexFromKey, binary.BigEndian.AppendUint64(nil, num)); err != nil {
		return fmt.Errorf("write address index start: %w", err)
	}
	return nil
}
