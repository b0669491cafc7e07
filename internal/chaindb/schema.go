package chaindb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/rlp"
)

// ErrCorruption reports a stored value that does not decode.
var ErrCorruption = errors.New("chaindb: corrupt value")

var (
	headerPrefix    = []byte("h")
	bodyPrefix      = []byte("b")
	receiptsPrefix  = []byte("r")
	metaPrefix      = []byte("m")
	canonicalPrefix = []byte("n")
	numberPrefix    = []byte("H")
	lookupPrefix    = []byte("l")
	poolPrefix      = []byte("p")
	headKey         = []byte("peerchain-head")
	chainKey        = []byte("peerchain-chain")
)

func numKey(prefix []byte, num uint64) []byte {
	k := make([]byte, 0, len(prefix)+8)
	k = append(k, prefix...)
	return binary.BigEndian.AppendUint64(k, num)
}

func blockKey(prefix []byte, num uint64, hash common.Hash) []byte {
	return append(numKey(prefix, num), hash[:]...)
}

func hashKey(prefix []byte, hash common.Hash) []byte {
	return append(append(make([]byte, 0, len(prefix)+32), prefix...), hash[:]...)
}

// get reads key, mapping a missing key to ErrNotFound.
func get(r ethdb.KeyValueReader, key []byte, what string) ([]byte, error) {
	v, err := r.Get(key)
	if err != nil {
		if ok, herr := r.Has(key); herr == nil && !ok {
			return nil, fmt.Errorf("%s: %w", what, ErrNotFound)
		}
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	return v, nil
}

func decode(data []byte, v any, what string) error {
	if err := rlp.DecodeBytes(data, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorruption, what, err)
	}
	return nil
}

func put(w ethdb.KeyValueWriter, key []byte, v any, what string) error {
	enc, err := rlp.EncodeToBytes(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", what, err)
	}
	if err := w.Put(key, enc); err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	return nil
}

func del(w ethdb.KeyValueWriter, key []byte, what string) error {
	if err := w.Delete(key); err != nil {
		return fmt.Errorf("delete %s: %w", what, err)
	}
	return nil
}

// ReadHeader returns the header with hash at num.
func ReadHeader(r ethdb.KeyValueReader, hash common.Hash, num uint64) (*types.Header, error) {
	what := fmt.Sprintf("header %d %s", num, hash)
	data, err := get(r, blockKey(headerPrefix, num, hash), what)
	if err != nil {
		return nil, err
	}
	h := new(types.Header)
	if err := decode(data, h, what); err != nil {
		return nil, err
	}
	return h, nil
}

// ReadHeaderRLP returns the stored encoding of a header.
func ReadHeaderRLP(r ethdb.KeyValueReader, hash common.Hash, num uint64) ([]byte, error) {
	return get(r, blockKey(headerPrefix, num, hash), fmt.Sprintf("header %d %s", num, hash))
}

// ReadHeaderNumber returns the number of a known header.
func ReadHeaderNumber(r ethdb.KeyValueReader, hash common.Hash) (uint64, error) {
	data, err := get(r, hashKey(numberPrefix, hash), "header number of "+hash.Hex())
	if err != nil {
		return 0, err
	}
	if len(data) != 8 {
		return 0, fmt.Errorf("%w: header number of %s has %d bytes", ErrCorruption, hash, len(data))
	}
	return binary.BigEndian.Uint64(data), nil
}

// ReadBody returns the body of a block.
func ReadBody(r ethdb.KeyValueReader, hash common.Hash, num uint64) (*types.Body, error) {
	what := fmt.Sprintf("body %d %s", num, hash)
	data, err := get(r, blockKey(bodyPrefix, num, hash), what)
	if err != nil {
		return nil, err
	}
	b := new(types.Body)
	if err := decode(data, b, what); err != nil {
		return nil, err
	}
	return b, nil
}

// ReadBlock returns a whole block.
func ReadBlock(r ethdb.KeyValueReader, hash common.Hash, num uint64) (*types.Block, error) {
	h, err := ReadHeader(r, hash, num)
	if err != nil {
		return nil, err
	}
	b, err := ReadBody(r, hash, num)
	if err != nil {
		return nil, err
	}
	return types.NewBlockWithHeader(h).WithBody(*b), nil
}

// WriteBlock stores a block's header, body and number lookup.
func WriteBlock(w ethdb.KeyValueWriter, block *types.Block) error {
	hash, num := block.Hash(), block.NumberU64()
	if err := put(w, blockKey(headerPrefix, num, hash), block.Header(), "header"); err != nil {
		return err
	}
	if err := put(w, blockKey(bodyPrefix, num, hash), block.Body(), "body"); err != nil {
		return err
	}
	if err := w.Put(hashKey(numberPrefix, hash), binary.BigEndian.AppendUint64(nil, num)); err != nil {
		return fmt.Errorf("write header number: %w", err)
	}
	return nil
}

// WriteHeader stores a header (whose hash the caller knows) and its number
// lookup without a body (a light peer's header chain).
func WriteHeader(w ethdb.KeyValueWriter, h *types.Header, hash common.Hash) error {
	num := h.Number.Uint64()
	if err := put(w, blockKey(headerPrefix, num, hash), h, "header"); err != nil {
		return err
	}
	if err := w.Put(hashKey(numberPrefix, hash), binary.BigEndian.AppendUint64(nil, num)); err != nil {
		return fmt.Errorf("write header number: %w", err)
	}
	return nil
}

// WriteHeaderEncoded stores a header given as its RLP encoding, with its
// number lookup: for a caller that encodes many headers at once.
func WriteHeaderEncoded(w ethdb.KeyValueWriter, hash common.Hash, num uint64, enc []byte) error {
	if err := w.Put(blockKey(headerPrefix, num, hash), enc); err != nil {
		return fmt.Errorf("write header %d: %w", num, err)
	}
	if err := w.Put(hashKey(numberPrefix, hash), binary.BigEndian.AppendUint64(nil, num)); err != nil {
		return fmt.Errorf("write header number: %w", err)
	}
	return nil
}

// WriteBlockMetaEncoded stores a block meta record given as its RLP
// encoding.
func WriteBlockMetaEncoded(w ethdb.KeyValueWriter, hash common.Hash, num uint64, enc []byte) error {
	if err := w.Put(blockKey(metaPrefix, num, hash), enc); err != nil {
		return fmt.Errorf("write block meta %d: %w", num, err)
	}
	return nil
}

// ReadRawReceipts returns a block's receipts in storage form (status,
// cumulative gas, logs); the caller derives the other fields.
func ReadRawReceipts(r ethdb.KeyValueReader, hash common.Hash, num uint64) (types.Receipts, error) {
	what := fmt.Sprintf("receipts %d %s", num, hash)
	data, err := get(r, blockKey(receiptsPrefix, num, hash), what)
	if err != nil {
		return nil, err
	}
	var stored []*types.ReceiptForStorage
	if err := decode(data, &stored, what); err != nil {
		return nil, err
	}
	out := make(types.Receipts, len(stored))
	for i, s := range stored {
		out[i] = (*types.Receipt)(s)
	}
	return out, nil
}

// WriteReceipts stores a block's receipts in storage form.
func WriteReceipts(w ethdb.KeyValueWriter, hash common.Hash, num uint64, receipts types.Receipts) error {
	stored := make([]*types.ReceiptForStorage, len(receipts))
	for i, r := range receipts {
		stored[i] = (*types.ReceiptForStorage)(r)
	}
	return put(w, blockKey(receiptsPrefix, num, hash), stored, "receipts")
}

// BlockMeta is what the chain keeps about every stored block beside the
// block itself.
type BlockMeta struct {
	// TD is the total difficulty of the chain ending in this block.
	TD *big.Int
	// AnchorTime is the timestamp of block 1 on this block's branch (the
	// difficulty schedule's anchor); 0 for genesis.
	AnchorTime uint64
	// Executed is true once the block has been fully validated by running
	// it; side-branch blocks may be stored with only their header and body
	// checked, and run when their branch becomes the heaviest.
	Executed bool
}

// ReadBlockMeta returns a block's meta record.
func ReadBlockMeta(r ethdb.KeyValueReader, hash common.Hash, num uint64) (*BlockMeta, error) {
	what := fmt.Sprintf("block meta %d %s", num, hash)
	data, err := get(r, blockKey(metaPrefix, num, hash), what)
	if err != nil {
		return nil, err
	}
	m := new(BlockMeta)
	if err := decode(data, m, what); err != nil {
		return nil, err
	}
	return m, nil
}

// WriteBlockMeta stores a block's meta record.
func WriteBlockMeta(w ethdb.KeyValueWriter, hash common.Hash, num uint64, m *BlockMeta) error {
	return put(w, blockKey(metaPrefix, num, hash), m, "block meta")
}

// ReadCanonicalHash returns the canonical block hash at num.
func ReadCanonicalHash(r ethdb.KeyValueReader, num uint64) (common.Hash, error) {
	data, err := get(r, numKey(canonicalPrefix, num), fmt.Sprintf("canonical hash %d", num))
	if err != nil {
		return common.Hash{}, err
	}
	if len(data) != 32 {
		return common.Hash{}, fmt.Errorf("%w: canonical hash %d has %d bytes", ErrCorruption, num, len(data))
	}
	return common.BytesToHash(data), nil
}

// WriteCanonicalHash marks hash canonical at num.
func WriteCanonicalHash(w ethdb.KeyValueWriter, num uint64, hash common.Hash) error {
	if err := w.Put(numKey(canonicalPrefix, num), hash[:]); err != nil {
		return fmt.Errorf("write canonical hash %d: %w", num, err)
	}
	return nil
}

// DeleteCanonicalHash removes the canonical mark at num.
func DeleteCanonicalHash(w ethdb.KeyValueWriter, num uint64) error {
	return del(w, numKey(canonicalPrefix, num), fmt.Sprintf("canonical hash %d", num))
}

// TxLocation is where a canonical transaction is.
type TxLocation struct {
	Number uint64
	Index  uint64
}

// ReadTxLocation returns the canonical location of a transaction.
func ReadTxLocation(r ethdb.KeyValueReader, txHash common.Hash) (TxLocation, error) {
	data, err := get(r, hashKey(lookupPrefix, txHash), "tx location of "+txHash.Hex())
	if err != nil {
		return TxLocation{}, err
	}
	if len(data) != 12 {
		return TxLocation{}, fmt.Errorf("%w: tx location of %s has %d bytes", ErrCorruption, txHash, len(data))
	}
	return TxLocation{Number: binary.BigEndian.Uint64(data), Index: uint64(binary.BigEndian.Uint32(data[8:]))}, nil
}

// WriteTxLocations indexes every transaction of a canonical block.
func WriteTxLocations(w ethdb.KeyValueWriter, block *types.Block) error {
	num := block.NumberU64()
	for i, tx := range block.Transactions() {
		v := binary.BigEndian.AppendUint64(make([]byte, 0, 12), num)
		v = binary.BigEndian.AppendUint32(v, uint32(i))
		if err := w.Put(hashKey(lookupPrefix, tx.Hash()), v); err != nil {
			return fmt.Errorf("write tx location %s: %w", tx.Hash(), err)
		}
	}
	return nil
}

// DeleteTxLocations removes the index entries of a block leaving the
// canonical chain.
func DeleteTxLocations(w ethdb.KeyValueWriter, block *types.Block) error {
	for _, tx := range block.Transactions() {
		if err := del(w, hashKey(lookupPrefix, tx.Hash()), "tx location "+tx.Hash().Hex()); err != nil {
			return err
		}
	}
	return nil
}

// ReadHead returns the hash of the head block.
func ReadHead(r ethdb.KeyValueReader) (common.Hash, error) {
	data, err := get(r, headKey, "head block hash")
	if err != nil {
		return common.Hash{}, err
	}
	if len(data) != 32 {
		return common.Hash{}, fmt.Errorf("%w: head hash has %d bytes", ErrCorruption, len(data))
	}
	return common.BytesToHash(data), nil
}

// WriteHead records the head block.
func WriteHead(w ethdb.KeyValueWriter, hash common.Hash) error {
	if err := w.Put(headKey, hash[:]); err != nil {
		return fmt.Errorf("write head: %w", err)
	}
	return nil
}

// ChainInfo identifies the chain a data dir belongs to.
type ChainInfo struct {
	Genesis common.Hash
	ChainID *big.Int
}

// ReadChainInfo returns the chain identity stored at initialisation.
func ReadChainInfo(r ethdb.KeyValueReader) (*ChainInfo, error) {
	data, err := get(r, chainKey, "chain info")
	if err != nil {
		return nil, err
	}
	ci := new(ChainInfo)
	if err := decode(data, ci, "chain info"); err != nil {
		return nil, err
	}
	return ci, nil
}

// WriteChainInfo records the chain identity.
func WriteChainInfo(w ethdb.KeyValueWriter, ci *ChainInfo) error {
	return put(w, chainKey, ci, "chain info")
}

// WritePoolTx journals an acknowledged pending transaction.
func WritePoolTx(w ethdb.KeyValueWriter, tx *types.Transaction) error {
	enc, err := tx.MarshalBinary()
	if err != nil {
		return fmt.Errorf("encode pool tx %s: %w", tx.Hash(), err)
	}
	if err := w.Put(hashKey(poolPrefix, tx.Hash()), enc); err != nil {
		return fmt.Errorf("write pool tx %s: %w", tx.Hash(), err)
	}
	return nil
}

// DeletePoolTx removes a transaction from the pool journal.
func DeletePoolTx(w ethdb.KeyValueWriter, hash common.Hash) error {
	return del(w, hashKey(poolPrefix, hash), "pool tx "+hash.Hex())
}

// ReadPoolTxs returns every journaled pool transaction. Entries that do not
// decode are returned as errors in bad, keyed by hash, and skipped.
func ReadPoolTxs(db ethdb.Iteratee) (txs []*types.Transaction, bad map[common.Hash]error, err error) {
	it := db.NewIterator(poolPrefix, nil)
	defer it.Release()
	for it.Next() {
		key := it.Key()
		if len(key) != len(poolPrefix)+32 {
			continue
		}
		tx := new(types.Transaction)
		if derr := tx.UnmarshalBinary(it.Value()); derr != nil {
			if bad == nil {
				bad = make(map[common.Hash]error)
			}
			bad[common.BytesToHash(key[len(poolPrefix):])] = fmt.Errorf("%w: %v", ErrCorruption, derr)
			continue
		}
		txs = append(txs, tx)
	}
	return txs, bad, it.Error()
}

// WritePoolTxsSync journals acknowledged transactions durably, in one
// synced batch (the pool's group commit shares it among its callers).
func (db *DB) WritePoolTxsSync(txs []*types.Transaction) error {
	b := db.NewBatch()
	defer b.Close()
	for _, tx := range txs {
		if err := WritePoolTx(b, tx); err != nil {
			return err
		}
	}
	return b.(*batch).WriteSync()
}

// DeletePoolTxs removes transactions from the pool journal (not synced).
func (db *DB) DeletePoolTxs(hashes []common.Hash) error {
	b := db.NewBatch()
	defer b.Close()
	for _, h := range hashes {
		if err := DeletePoolTx(b, h); err != nil {
			return err
		}
	}
	return b.Write()
}

// LoadPoolTxs returns the journaled transactions, deleting entries that do
// not decode.
func (db *DB) LoadPoolTxs() ([]*types.Transaction, error) {
	txs, bad, err := ReadPoolTxs(db)
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		hashes := make([]common.Hash, 0, len(bad))
		for h := range bad {
			hashes = append(hashes, h)
		}
		if err := db.DeletePoolTxs(hashes); err != nil {
			return nil, err
		}
	}
	return txs, nil
}
