package sync

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	gparams "github.com/ethereum/go-ethereum/params"
)

// Compact block relay, in the spirit of Bitcoin's BIP152: a block is
// gossiped as its header, a 6-byte short id per transaction and the
// transactions its sender predicts the receivers lack (prefilled). A
// receiver rebuilds the body from its pool, asks the peer that forwarded
// the message for the rest (blocktxn/1), and checks the rebuilt body
// against the header exactly as it checks a full block's. A rebuilt body
// that does not match is never held against the block: the receiver
// fetches the full body instead (bodies/1) and only then judges who lied.

// shortIDLen is the bytes of one short transaction id.
const shortIDLen = 6

// CompactBlock is a block as the compact topic carries it.
type CompactBlock struct {
	Header *types.Header
	// Nonce keys the short ids with the header hash, so ids cannot be
	// ground against every receiver before the block is sealed.
	Nonce uint64
	// ShortIDs holds shortIDLen bytes per transaction that is not
	// prefilled, in block order.
	ShortIDs    []byte
	Prefilled   []PrefilledTx
	Withdrawals []*types.Withdrawal
}

// PrefilledTx is a transaction sent whole, at its position in the block.
type PrefilledTx struct {
	Index uint64
	Tx    *types.Transaction // encoded as in a block body
}

// BlockTxnRequest asks the peer that forwarded a compact block for the
// transactions at some positions of that block.
type BlockTxnRequest struct {
	Hash    common.Hash
	Indexes []uint64
}

// maxBlockTxnIndexes bounds one blocktxn request (it fits maxRequestBytes);
// a receiver missing more fetches the whole body instead.
const maxBlockTxnIndexes = 4096

// maxCompactTxs bounds a compact block's transactions whatever its
// header's gas limit says.
const maxCompactTxs = 1 << 16

// shortIDKeys derives the SipHash key of a compact block's short ids from
// its header hash and nonce, as BIP152 does.
func shortIDKeys(hash common.Hash, nonce uint64) (k0, k1 uint64) {
	var buf [common.HashLength + 8]byte
	copy(buf[:], hash[:])
	binary.LittleEndian.PutUint64(buf[common.HashLength:], nonce)
	sum := sha256.Sum256(buf[:])
	return binary.LittleEndian.Uint64(sum[0:8]), binary.LittleEndian.Uint64(sum[8:16])
}

// shortID is the short id of a transaction hash under the keys: its
// SipHash-2-4, truncated to shortIDLen bytes.
func shortID(k0, k1 uint64, tx common.Hash) uint64 {
	return siphash24(k0, k1, tx[:]) & (1<<(8*shortIDLen) - 1)
}

// siphash24 is SipHash-2-4 (Aumasson and Bernstein) of msg.
func siphash24(k0, k1 uint64, msg []byte) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13) ^ v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16) ^ v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21) ^ v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17) ^ v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	n := len(msg)
	for len(msg) >= 8 {
		m := binary.LittleEndian.Uint64(msg)
		v3 ^= m
		round()
		round()
		v0 ^= m
		msg = msg[8:]
	}
	var last [8]byte
	copy(last[:], msg)
	last[7] = byte(n)
	m := binary.LittleEndian.Uint64(last[:])
	v3 ^= m
	round()
	round()
	v0 ^= m
	v2 ^= 0xff
	for range 4 {
		round()
	}
	return v0 ^ v1 ^ v2 ^ v3
}

// newCompactBlock describes b with the transactions prefill picks sent
// whole and the others as short ids under nonce.
func newCompactBlock(b *types.Block, nonce uint64, prefill func(tx *types.Transaction) bool) (*CompactBlock, error) {
	cb := &CompactBlock{Header: b.Header(), Nonce: nonce, Withdrawals: b.Withdrawals()}
	if cb.Withdrawals == nil && cb.Header.WithdrawalsHash != nil {
		cb.Withdrawals = []*types.Withdrawal{}
	}
	k0, k1 := shortIDKeys(b.Hash(), nonce)
	for i, tx := range b.Transactions() {
		if prefill(tx) {
			cb.Prefilled = append(cb.Prefilled, PrefilledTx{Index: uint64(i), Tx: tx})
			continue
		}
		id := shortID(k0, k1, tx.Hash())
		var buf [8]byte
		binary.LittleEndian.PutUint64(buf[:], id)
		cb.ShortIDs = append(cb.ShortIDs, buf[:shortIDLen]...)
	}
	return cb, nil
}

// compactPlan is a decoded compact block checked for form: per position,
// the prefilled transaction or the short id to look up.
type compactPlan struct {
	cb    *CompactBlock
	hash  common.Hash
	k0    uint64
	k1    uint64
	txs   []*types.Transaction // prefilled filled in, the rest nil
	ids   []uint64             // the short id at each non-prefilled position
	short []bool               // whether a position came as a short id
}

// parseCompact decodes a compact block message and checks its form: short
// ids in whole ids, no more transactions than the header's gas limit could
// hold, prefilled positions increasing and in range, each transaction
// decodable. What breaks it is an *errMalformed.
func parseCompact(data []byte) (*compactPlan, error) {
	cb := new(CompactBlock)
	if err := decode(data, cb, "compact block"); err != nil {
		return nil, err
	}
	malformed := func(format string, args ...any) error {
		return &errMalformed{what: "compact block", err: fmt.Errorf(format, args...)}
	}
	if len(cb.ShortIDs)%shortIDLen != 0 {
		return nil, malformed("%d bytes of short ids, not a multiple of %d", len(cb.ShortIDs), shortIDLen)
	}
	n := len(cb.ShortIDs)/shortIDLen + len(cb.Prefilled)
	if limit := min(cb.Header.GasLimit/gparams.TxGas, maxCompactTxs); uint64(n) > limit {
		return nil, malformed("%d transactions, a gas limit of %d holds at most %d", n, cb.Header.GasLimit, limit)
	}
	p := &compactPlan{cb: cb, hash: cb.Header.Hash(), txs: make([]*types.Transaction, n), ids: make([]uint64, n), short: make([]bool, n)}
	p.k0, p.k1 = shortIDKeys(p.hash, cb.Nonce)
	next := 0 // the first position a prefilled transaction may take
	for i, pf := range cb.Prefilled {
		if pf.Index < uint64(next) || pf.Index >= uint64(n) {
			return nil, malformed("prefilled transaction %d at position %d: want %d to %d", i, pf.Index, next, n-1)
		}
		p.txs[pf.Index] = pf.Tx // RLP decoding never leaves it nil
		next = int(pf.Index) + 1
	}
	ids := cb.ShortIDs
	for i := range p.txs {
		if p.txs[i] != nil {
			continue
		}
		var buf [8]byte
		copy(buf[:], ids[:shortIDLen])
		p.ids[i], p.short[i] = binary.LittleEndian.Uint64(buf[:]), true
		ids = ids[shortIDLen:]
	}
	return p, nil
}

// fill takes the transactions of pool whose short ids name a position
// still empty; an id two pool transactions share is left empty (fetched).
// It returns the positions still empty.
func (p *compactPlan) fill(pool []*types.Transaction) []uint64 {
	want := make(map[uint64]int, len(p.ids))
	for i, short := range p.short {
		if short {
			want[p.ids[i]] = i
		}
	}
	found := make(map[uint64]*types.Transaction, len(want))
	for _, tx := range pool {
		id := shortID(p.k0, p.k1, tx.Hash())
		if _, ok := want[id]; !ok {
			continue
		}
		switch prev, seen := found[id]; {
		case !seen:
			found[id] = tx
		case prev != nil && prev.Hash() != tx.Hash():
			found[id] = nil // two candidates: ask for it
		}
	}
	var missing []uint64
	for i, short := range p.short {
		if !short {
			continue
		}
		if tx := found[p.ids[i]]; tx != nil {
			p.txs[i] = tx
		} else {
			missing = append(missing, uint64(i))
		}
	}
	return missing
}

// block assembles the rebuilt block; every position must be filled.
func (p *compactPlan) block() *types.Block {
	return types.NewBlockWithHeader(p.cb.Header).WithBody(types.Body{Transactions: p.txs, Withdrawals: p.cb.Withdrawals})
}

// checkAgainst reports how the message differs from b, the block its
// header names with the body that header commits to: a prefilled
// transaction or a short id that is not b's. An honest sender's message
// never differs.
func (p *compactPlan) checkAgainst(b *types.Block) error {
	txs := b.Transactions()
	if len(txs) != len(p.txs) {
		return fmt.Errorf("compact block %s lists %d transactions, the block has %d", p.hash.TerminalString(), len(p.txs), len(txs))
	}
	for i, short := range p.short {
		switch {
		case !short && p.txs[i].Hash() != txs[i].Hash():
			return fmt.Errorf("compact block %s: prefilled transaction at position %d is not the block's", p.hash.TerminalString(), i)
		case short && shortID(p.k0, p.k1, txs[i].Hash()) != p.ids[i]:
			return fmt.Errorf("compact block %s: short id at position %d is not the block's transaction's", p.hash.TerminalString(), i)
		}
	}
	return nil
}

// checkFetched is checkAgainst for a rebuilt body that matched its header:
// only the transactions fetched (at the positions given) can belong to the
// block under ids that are not theirs.
func (p *compactPlan) checkFetched(fetched []uint64) error {
	for _, i := range fetched {
		if shortID(p.k0, p.k1, p.txs[i].Hash()) != p.ids[i] {
			return fmt.Errorf("compact block %s: short id at position %d is not the block's transaction's", p.hash.TerminalString(), i)
		}
	}
	return nil
}
