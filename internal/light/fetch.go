package light

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/lru"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethdb/memorydb"
	gparams "github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/ethereum/go-ethereum/trie"

	"github.com/peerchain/peerchain/internal/chain"
)

// withholdDepth is how many blocks below the head a block must be before
// a source that says it does not have it, while another source proves it,
// counts as withholding (a younger one may simply not have reached it).
const withholdDepth = 8

// ErrUnprovable says no source could prove an answer: the light peer
// answers with this error rather than with anything it could not check.
var ErrUnprovable = errors.New("no source could prove the answer")

// LieError is an answer that contradicts a verified header: the evidence
// against a source.
type LieError struct {
	Source string
	What   string
	Err    error
}

func (e *LieError) Error() string {
	return fmt.Sprintf("%s lied about %s: %v", e.Source, e.What, e.Err)
}
func (e *LieError) Unwrap() error { return e.Err }

// fetcher gets what a verified header commits to — a block's body and
// receipts, accounts, storage and code in its state — from the sources in
// turn, and returns only what checks against the header. A source whose
// answer fails its check is dropped with the evidence, and the next one is
// asked; a source that says it lacks something another proves is dropped
// for withholding.
type fetcher struct {
	hc      *HeaderChain
	val     *chain.Validator
	config  *gparams.ChainConfig
	sources *headerSyncer
	proven  *provenCache
}

// provenCache remembers what was proven: a state with a given root never
// changes and code is addressed by its hash, so a repeated read (a wallet
// polling a balance, a dApp repeating a call) needs no source.
type provenCache struct {
	accounts *lru.Cache[accountKey, *types.StateAccount]
	slots    *lru.Cache[slotKey, common.Hash]
	code     *lru.Cache[common.Hash, []byte]
}

type accountKey struct {
	root common.Hash
	addr common.Address
}

type slotKey struct {
	root common.Hash
	addr common.Address
	slot common.Hash
}

func newProvenCache() *provenCache {
	return &provenCache{
		accounts: lru.NewCache[accountKey, *types.StateAccount](8192),
		slots:    lru.NewCache[slotKey, common.Hash](32768),
		code:     lru.NewCache[common.Hash, []byte](1024),
	}
}

// lookup returns a cached account and slot values, if all are cached.
func (c *provenCache) lookup(root common.Hash, addr common.Address, slots []common.Hash) (*types.StateAccount, []common.Hash, bool) {
	acct, ok := c.accounts.Get(accountKey{root, addr})
	if !ok {
		return nil, nil, false
	}
	values := make([]common.Hash, len(slots))
	for i, slot := range slots {
		if v, ok := c.slots.Get(slotKey{root, addr, slot}); ok {
			values[i] = v
		} else if acct != nil && acct.Root != types.EmptyRootHash {
			return nil, nil, false
		}
	}
	return acct, values, true
}

func (c *provenCache) store(root common.Hash, addr common.Address, acct *types.StateAccount, slots, values []common.Hash) {
	c.accounts.Add(accountKey{root, addr}, acct)
	for i, slot := range slots {
		c.slots.Add(slotKey{root, addr, slot}, values[i])
	}
}

// try asks each usable source in turn until ask, which checks the
// source's answer, returns nil. A *LieError or a malformed answer drops
// the source; sources that answered "not found" are dropped for
// withholding when a later one proves the answer and its block (number,
// known once it is proven) is old enough; when every source says "not
// found", so does try.
func (f *fetcher) try(ctx context.Context, what string, number func() uint64, ask func(Source) error) error {
	var (
		notFound []Source
		errs     []string
	)
	for _, src := range f.sources.usable() {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := ask(src)
		var lie *LieError
		switch {
		case err == nil:
			if number()+withholdDepth <= f.hc.CurrentHeader().Number.Uint64() {
				for _, w := range notFound {
					f.sources.drop(w, fmt.Sprintf("withheld %s, which %s proved", what, src.Name()))
				}
			}
			return nil
		case errors.As(err, &lie), isMalformed(err):
			f.sources.drop(src, err.Error())
		case errors.Is(err, ErrNotFound):
			notFound = append(notFound, src)
		}
		errs = append(errs, err.Error())
	}
	if len(notFound) > 0 && len(notFound) == len(errs) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if len(errs) == 0 {
		return fmt.Errorf("%s: %w: no usable source", what, ErrUnprovable)
	}
	return fmt.Errorf("%s: %w: %s", what, ErrUnprovable, strings.Join(errs, "; "))
}

// Block returns the block of a verified header, its body checked against
// the header's transactions root, uncles and withdrawals hashes.
func (f *fetcher) Block(ctx context.Context, h *types.Header) (*types.Block, error) {
	var out *types.Block
	hash := h.Hash()
	err := f.try(ctx, fmt.Sprintf("the body of block %d (%s)", h.Number, hash), numberOf(h), func(src Source) error {
		body, err := src.Body(ctx, hash)
		if err != nil {
			return err
		}
		b := types.NewBlockWithHeader(h).WithBody(*body)
		if re := f.val.VerifyBody(b); re != nil {
			return &LieError{Source: src.Name(), What: fmt.Sprintf("the body of block %d", h.Number), Err: re}
		}
		out = b
		return nil
	})
	return out, err
}

// Receipts returns the receipts of a block whose body is verified,
// checked against the header's receipts root, with every field derived.
func (f *fetcher) Receipts(ctx context.Context, b *types.Block) (types.Receipts, error) {
	var out types.Receipts
	hash := b.Hash()
	err := f.try(ctx, fmt.Sprintf("the receipts of block %d (%s)", b.Number(), hash), numberOf(b.Header()), func(src Source) error {
		rs, err := src.Receipts(ctx, hash)
		if err != nil {
			return err
		}
		lie := func(format string, args ...any) error {
			return &LieError{Source: src.Name(), What: fmt.Sprintf("the receipts of block %d", b.Number()), Err: fmt.Errorf(format, args...)}
		}
		if len(rs) != len(b.Transactions()) {
			return lie("%d receipts for %d transactions", len(rs), len(b.Transactions()))
		}
		if root := types.DeriveSha(rs, trie.NewStackTrie(nil)); root != b.ReceiptHash() {
			return lie("receipts hash to %s, the header's receipts root is %s", root, b.ReceiptHash())
		}
		if err := rs.DeriveFields(f.config, hash, b.NumberU64(), b.Time(), b.BaseFee(), big.NewInt(1), b.Transactions()); err != nil {
			return lie("%v", err)
		}
		out = rs
		return nil
	})
	return out, err
}

// proofDB holds proof nodes by hash for trie.VerifyProof.
func proofDB(nodes [][]byte) *memorydb.Database {
	db := memorydb.New()
	for _, n := range nodes {
		_ = db.Put(crypto.Keccak256(n), n)
	}
	return db
}

// Account returns addr's account in the state of a verified header (nil
// when it does not exist) and the values of slots in its storage, each
// proven against the header's state root.
func (f *fetcher) Account(ctx context.Context, h *types.Header, addr common.Address, slots []common.Hash) (*types.StateAccount, []common.Hash, error) {
	if acct, values, ok := f.proven.lookup(h.Root, addr, slots); ok {
		return copyAccount(acct), values, nil
	}
	p, err := f.Proof(ctx, h, addr, slots)
	if err != nil {
		return nil, nil, err
	}
	return copyAccount(p.Account), p.Values, nil
}

func copyAccount(a *types.StateAccount) *types.StateAccount {
	if a == nil {
		return nil
	}
	cp := *a
	if a.Balance != nil {
		cp.Balance = a.Balance.Clone()
	}
	return &cp
}

// Proof returns the proof of addr and slots in the state of a verified
// header, with what it proves, after checking it against the header's
// state root.
func (f *fetcher) Proof(ctx context.Context, h *types.Header, addr common.Address, slots []common.Hash) (*chain.AccountProof, error) {
	var out *chain.AccountProof
	hash := h.Hash()
	err := f.try(ctx, fmt.Sprintf("account %s at block %d", addr, h.Number), numberOf(h), func(src Source) error {
		p, err := src.Proof(ctx, hash, addr, slots)
		if err != nil {
			return err
		}
		a, vs, err := verifyProof(h.Root, addr, slots, p)
		if err != nil {
			return &LieError{Source: src.Name(), What: fmt.Sprintf("account %s at block %d", addr, h.Number), Err: err}
		}
		out = &chain.AccountProof{Account: a, AccountNodes: p.Account, Values: vs, StorageNodes: p.Storage}
		f.proven.store(h.Root, addr, copyAccount(a), slots, vs)
		return nil
	})
	return out, err
}

// verifyProof checks an account proof against root and each storage proof
// against the proven account's storage root.
func verifyProof(root common.Hash, addr common.Address, slots []common.Hash, p *Proof) (*types.StateAccount, []common.Hash, error) {
	if len(p.Storage) != len(slots) {
		return nil, nil, fmt.Errorf("%d storage proofs for %d slots", len(p.Storage), len(slots))
	}
	val, err := trie.VerifyProof(root, crypto.Keccak256(addr[:]), proofDB(p.Account))
	if err != nil {
		return nil, nil, fmt.Errorf("account proof against state root %s: %w", root, err)
	}
	values := make([]common.Hash, len(slots))
	if val == nil { // proven absent: no account, no storage
		return nil, values, nil
	}
	acct := new(types.StateAccount)
	if err := rlp.DecodeBytes(val, acct); err != nil {
		return nil, nil, fmt.Errorf("proven account does not decode: %w", err)
	}
	if acct.Root == types.EmptyRootHash {
		return acct, values, nil // an empty storage trie holds nothing: no proof needed
	}
	for i, slot := range slots {
		v, err := trie.VerifyProof(acct.Root, crypto.Keccak256(slot[:]), proofDB(p.Storage[i]))
		if err != nil {
			return nil, nil, fmt.Errorf("storage proof of slot %s against storage root %s: %w", slot, acct.Root, err)
		}
		if v == nil {
			continue
		}
		_, content, _, err := rlp.Split(v)
		if err != nil {
			return nil, nil, fmt.Errorf("proven slot %s does not decode: %w", slot, err)
		}
		values[i] = common.BytesToHash(content)
	}
	return acct, values, nil
}

// Code returns the code whose hash a proven account holds.
func (f *fetcher) Code(ctx context.Context, h *types.Header, addr common.Address, codeHash common.Hash) ([]byte, error) {
	if codeHash == types.EmptyCodeHash || codeHash == (common.Hash{}) {
		return nil, nil
	}
	if code, ok := f.proven.code.Get(codeHash); ok {
		return code, nil
	}
	var out []byte
	hash := h.Hash()
	err := f.try(ctx, fmt.Sprintf("the code of %s at block %d", addr, h.Number), numberOf(h), func(src Source) error {
		code, err := src.Code(ctx, hash, addr)
		if err != nil {
			return err
		}
		if got := crypto.Keccak256Hash(code); got != codeHash {
			return &LieError{Source: src.Name(), What: fmt.Sprintf("the code of %s", addr), Err: fmt.Errorf("code hashes to %s, the proven account's code hash is %s", got, codeHash)}
		}
		out = bytes.Clone(code)
		f.proven.code.Add(codeHash, out)
		return nil
	})
	return out, err
}

// TxLookup is a transaction found on the verified canonical chain.
type TxLookup struct {
	Tx    *types.Transaction
	Block *types.Block
	Index uint64
}

// Transaction finds a transaction by hash: a source says where it is, and
// the block's verified body must hold it there on the canonical chain. A
// source whose location does not check is dropped; one that says "not
// found" while another proves the transaction is dropped for withholding.
func (f *fetcher) Transaction(ctx context.Context, txHash common.Hash) (*TxLookup, error) {
	var out *TxLookup
	found := func() uint64 { return out.Block.NumberU64() }
	err := f.try(ctx, fmt.Sprintf("transaction %s", txHash), found, func(src Source) error {
		blockHash, index, err := src.TxLocation(ctx, txHash)
		if err != nil {
			return err
		}
		lie := func(format string, args ...any) error {
			return &LieError{Source: src.Name(), What: fmt.Sprintf("transaction %s", txHash), Err: fmt.Errorf(format, args...)}
		}
		h := f.hc.GetHeaderByHash(blockHash)
		if h == nil || !f.hc.IsCanonical(h) {
			// Not on our verified canonical chain (yet): not evidence.
			return fmt.Errorf("%s places transaction %s in block %s, not on the verified canonical chain: %w", src.Name(), txHash, blockHash, ErrNotFound)
		}
		b, err := f.Block(ctx, h)
		if err != nil {
			return err
		}
		if index >= uint64(len(b.Transactions())) || b.Transactions()[index].Hash() != txHash {
			return lie("block %d has no such transaction at index %d", h.Number, index)
		}
		out = &TxLookup{Tx: b.Transactions()[index], Block: b, Index: index}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func numberOf(h *types.Header) func() uint64 { return h.Number.Uint64 }
