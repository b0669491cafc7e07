package execution

import (
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
)

// Touch flags: how a transaction touched an address.
const (
	// TouchFrom: the transaction's sender.
	TouchFrom uint8 = 1 << iota
	// TouchTo: the transaction's recipient, or the contract it creates
	// (when the creation succeeds).
	TouchTo
	// TouchInternal: the caller or callee of an inner call, create or
	// selfdestruct (a precompile too, as go-ethereum's callTracer shows).
	TouchInternal
	// TouchCreated: a contract created by the transaction, at any depth,
	// whose creation and every enclosing frame succeeded.
	TouchCreated
)

// Touch is one address a transaction touched.
type Touch struct {
	Addr  common.Address
	Flags uint8
	// Creator is the address that directly created the contract
	// (TouchCreated only).
	Creator common.Address
}

// TxTouches are the addresses one transaction touched, in the order first
// touched, and its sender's nonce.
type TxTouches struct {
	Nonce   uint64
	Touches []Touch
}

// touchRecorder collects, through go-ethereum's tracing hooks, every address
// a block's transactions touch: the sender, the recipient and every from/to
// of the call frames (what Erigon's call-traces index holds, and what a
// callTracer replay shows). It costs a map insert per call frame; no
// opcode hook is set, so the interpreter runs its fast path.
type touchRecorder struct {
	txs []TxTouches
	cur *txTouches
}

type txTouches struct {
	nonce  uint64
	order  []common.Address
	flags  map[common.Address]*Touch
	frames []frame
}

func (r *touchRecorder) hooks() *tracing.Hooks {
	return &tracing.Hooks{
		OnTxStart: r.onTxStart,
		OnTxEnd:   r.onTxEnd,
		OnEnter:   r.onEnter,
		OnExit:    r.onExit,
	}
}

func (r *touchRecorder) onTxStart(_ *tracing.VMContext, tx *types.Transaction, from common.Address) {
	r.cur = &txTouches{nonce: tx.Nonce(), flags: make(map[common.Address]*Touch, 4)}
	r.cur.add(from, TouchFrom)
	if to := tx.To(); to != nil {
		r.cur.add(*to, TouchTo)
	}
}

func (r *touchRecorder) onTxEnd(_ *types.Receipt, err error) {
	cur := r.cur
	r.cur = nil
	if cur == nil || err != nil {
		return // not included: the block fails or the builder skips it
	}
	out := TxTouches{Nonce: cur.nonce, Touches: make([]Touch, 0, len(cur.order))}
	for _, a := range cur.order {
		out.Touches = append(out.Touches, *cur.flags[a])
	}
	r.txs = append(r.txs, out)
}

func (t *txTouches) add(a common.Address, f uint8) *Touch {
	if e, ok := t.flags[a]; ok {
		e.Flags |= f
		return e
	}
	e := &Touch{Addr: a, Flags: f}
	t.flags[a] = e
	t.order = append(t.order, a)
	return e
}

func (r *touchRecorder) onEnter(depth int, typ byte, from, to common.Address, _ []byte, _ uint64, _ *big.Int) {
	t := r.cur
	if t == nil {
		return // a system call outside any transaction
	}
	op := vm.OpCode(typ)
	isCreate := op == vm.CREATE || op == vm.CREATE2
	if depth > 0 {
		t.add(from, TouchInternal)
		if !isCreate {
			t.add(to, TouchInternal)
		}
	}
	f := frame{}
	if isCreate {
		// A creation's address counts once it succeeded, as a callTracer
		// drops the "to" of a failed one.
		f.create = &Touch{Addr: to, Creator: from}
	}
	t.frames = append(t.frames, f)
}

// frame is an open call frame: the contract it creates, and the contracts
// its successful children created (they count only if no enclosing frame
// fails).
type frame struct {
	create  *Touch
	created []Touch
}

func (r *touchRecorder) onExit(depth int, _ []byte, _ uint64, err error, _ bool) {
	t := r.cur
	if t == nil || len(t.frames) == 0 {
		return
	}
	f := t.frames[len(t.frames)-1]
	t.frames = t.frames[:len(t.frames)-1]
	if err != nil {
		return
	}
	if c := f.create; c != nil {
		if depth == 0 {
			t.add(c.Addr, TouchTo)
		} else {
			t.add(c.Addr, TouchInternal)
		}
		f.created = append(f.created, *c)
	}
	if len(t.frames) > 0 {
		parent := &t.frames[len(t.frames)-1]
		parent.created = append(parent.created, f.created...)
		return
	}
	for _, c := range f.created {
		e := t.add(c.Addr, TouchCreated)
		e.Creator = c.Creator
	}
}
