package light

import (
	"context"
	"fmt"
	gosync "sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/triedb"
)

// proofReader is a state.Reader over the state of one verified header:
// every account, storage slot and code it returns was proven against the
// header's state root (code against the proven code hash) by some source,
// fetched when the EVM first touches it. A fetch that no source can prove
// is remembered in err: the caller must check it before trusting a result,
// because go-ethereum's code reader has no way to fail.
type proofReader struct {
	ctx    context.Context
	f      *fetcher
	header *types.Header

	mu       gosync.Mutex
	accounts map[common.Address]*types.StateAccount
	storage  map[common.Address]map[common.Hash]common.Hash
	code     map[common.Hash][]byte
	err      error
}

func newProofReader(ctx context.Context, f *fetcher, h *types.Header) *proofReader {
	return &proofReader{
		ctx: ctx, f: f, header: h,
		accounts: make(map[common.Address]*types.StateAccount),
		storage:  make(map[common.Address]map[common.Hash]common.Hash),
		code:     make(map[common.Hash][]byte),
	}
}

func (r *proofReader) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = err
	}
}

// Err is the first fetch that failed, if any.
func (r *proofReader) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Account implements state.StateReader.
func (r *proofReader) Account(addr common.Address) (*types.StateAccount, error) {
	r.mu.Lock()
	acct, ok := r.accounts[addr]
	r.mu.Unlock()
	if !ok {
		var err error
		acct, _, err = r.f.Account(r.ctx, r.header, addr, nil)
		if err != nil {
			r.fail(err)
			return nil, err
		}
		r.mu.Lock()
		r.accounts[addr] = acct
		r.mu.Unlock()
	}
	if acct == nil {
		return nil, nil
	}
	cp := *acct
	if acct.Balance != nil {
		cp.Balance = acct.Balance.Clone()
	}
	return &cp, nil
}

// Storage implements state.StateReader.
func (r *proofReader) Storage(addr common.Address, slot common.Hash) (common.Hash, error) {
	r.mu.Lock()
	if v, ok := r.storage[addr][slot]; ok {
		r.mu.Unlock()
		return v, nil
	}
	r.mu.Unlock()
	acct, values, err := r.f.Account(r.ctx, r.header, addr, []common.Hash{slot})
	if err != nil {
		r.fail(err)
		return common.Hash{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.accounts[addr] = acct
	if r.storage[addr] == nil {
		r.storage[addr] = make(map[common.Hash]common.Hash)
	}
	r.storage[addr][slot] = values[0]
	return values[0], nil
}

// prefetch proves the given slots of accounts, one request per account,
// up to eight at a time (an access list's hint), so a call does not fetch
// them one by one.
func (r *proofReader) prefetch(list types.AccessList) {
	merged := make(map[common.Address][]common.Hash)
	var order []common.Address
	for _, t := range list {
		if _, ok := merged[t.Address]; !ok {
			order = append(order, t.Address)
		}
		merged[t.Address] = append(merged[t.Address], t.StorageKeys...)
	}
	var wg gosync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, addr := range order {
		slots := merged[addr]
		if len(slots) > maxPrefetchSlots {
			slots = slots[:maxPrefetchSlots]
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(addr common.Address, slots []common.Hash) {
			defer func() { <-sem; wg.Done() }()
			acct, values, err := r.f.Account(r.ctx, r.header, addr, slots)
			if err != nil {
				return // a hint only: the call fetches what it needs
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			r.accounts[addr] = acct
			if r.storage[addr] == nil {
				r.storage[addr] = make(map[common.Hash]common.Hash)
			}
			for i, k := range slots {
				r.storage[addr][k] = values[i]
			}
		}(addr, slots)
	}
	wg.Wait()
}

// maxPrefetchSlots bounds the slots proven in one prefetch request.
const maxPrefetchSlots = 256

// Code implements state.ContractCodeReader.
func (r *proofReader) Code(addr common.Address, codeHash common.Hash) []byte {
	r.mu.Lock()
	code, ok := r.code[codeHash]
	r.mu.Unlock()
	if ok {
		return code
	}
	code, err := r.f.Code(r.ctx, r.header, addr, codeHash)
	if err != nil {
		r.fail(err)
		return nil
	}
	r.mu.Lock()
	r.code[codeHash] = code
	r.mu.Unlock()
	return code
}

// CodeSize implements state.ContractCodeReader.
func (r *proofReader) CodeSize(addr common.Address, codeHash common.Hash) int {
	return len(r.Code(addr, codeHash))
}

// Has implements state.ContractCodeReader.
func (r *proofReader) Has(addr common.Address, codeHash common.Hash) bool {
	return len(r.Code(addr, codeHash)) > 0
}

// stateAt returns a mutable state of a verified header whose reads are
// proven on demand, and the reader to check for failed fetches afterwards.
func (f *fetcher) stateAt(ctx context.Context, h *types.Header) (*state.StateDB, *proofReader, error) {
	r := newProofReader(ctx, f, h)
	mem := rawdb.NewMemoryDatabase()
	db := state.NewDatabase(triedb.NewDatabase(mem, triedb.HashDefaults), state.NewCodeDB(mem))
	st, err := state.NewWithReader(h.Root, db, r)
	if err != nil {
		return nil, nil, fmt.Errorf("state of block %d: %w", h.Number, err)
	}
	return st, r, nil
}
