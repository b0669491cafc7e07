package chain

import (
	"fmt"
	"math/big"
	"runtime"
	"slices"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/peerchain/peerchain/internal/params"
	"github.com/peerchain/peerchain/internal/pow"
)

// VerifyHeader checks every header rule of h against its stored parent:
// what a peer checks before relaying a block. It returns ErrUnknownParent
// (wrapped) when the parent is not stored.
func (c *Chain) VerifyHeader(h *types.Header) error {
	if h.Number == nil || h.Number.Sign() == 0 {
		return ruleErr(RuleNumber, 0, h.Hash(), "block 0 is not this chain's genesis")
	}
	num := h.Number.Uint64()
	if re, ok := c.bad.Get(h.ParentHash); ok {
		return ruleErr(RuleBadAncestor, num, h.Hash(), "parent is invalid: %v", re)
	}
	parent := c.GetHeader(h.ParentHash, num-1)
	if parent == nil {
		return fmt.Errorf("%w %s of header %d", ErrUnknownParent, h.ParentHash, num)
	}
	m, err := c.getMeta(parent.Hash(), num-1)
	if err != nil {
		return err
	}
	if re := c.val.VerifyHeader(h, parent, m.AnchorTime, c); re != nil {
		return re
	}
	return nil
}

// CheckSeal checks what a header proves on its own, before anything else
// is looked at: its proof of work meets its difficulty, and that difficulty
// is at least the chain's minimum. A header without a known parent can be
// checked no further, so this is what makes every gossiped block cost its
// sender real work.
func (c *Chain) CheckSeal(h *types.Header) error {
	var num uint64
	if h.Number != nil {
		num = h.Number.Uint64()
	}
	if h.Difficulty == nil || h.Difficulty.Cmp(c.val.rule.Minimum) < 0 {
		return ruleErr(RuleDifficulty, num, h.Hash(), "difficulty %v below the chain's minimum %v", h.Difficulty, c.val.rule.Minimum)
	}
	if err := pow.VerifySeal(h); err != nil {
		return &RuleError{Rule: RulePoW, Number: num, Hash: h.Hash(), Err: err}
	}
	return nil
}

// VerifyBody checks a block's body against its header: what a peer checks
// before relaying a block, with VerifyHeader. A body that is not the one
// the header commits to (see [RuleError.BodyMismatch]) says nothing about
// the block; a matching body that breaks a rule marks the block bad.
func (c *Chain) VerifyBody(b *types.Block) error {
	if re := c.val.VerifyBody(b); re != nil {
		if !re.BodyMismatch() {
			c.markBad(re)
		}
		return re
	}
	return nil
}

// HeaderVerifier checks a run of headers that are not stored yet, as
// headers-first sync downloads them: each must follow the previous one by
// every header rule, starting from a stored block. It keeps the running
// total difficulty so sync can tell whether the run outweighs its head.
// It is not safe for concurrent use.
type HeaderVerifier struct {
	val      *Validator
	last     *types.Header
	lastHash common.Hash
	lastPow  common.Hash
	anchor   uint64
	td       *big.Int
	times    []uint64 // timestamps of the last MedianTimeSpan headers, oldest first
	count    int
}

// NewHeaderVerifier starts a run after the stored block hash.
func (c *Chain) NewHeaderVerifier(hash common.Hash) (*HeaderVerifier, error) {
	start := c.GetHeaderByHash(hash)
	if start == nil {
		return nil, fmt.Errorf("%w %s", ErrUnknownParent, hash)
	}
	m, err := c.getMeta(hash, start.Number.Uint64())
	if err != nil {
		return nil, err
	}
	var times []uint64
	for h := start; h != nil && len(times) < params.MedianTimeSpan; {
		times = append(times, h.Time)
		if h.Number.Sign() == 0 {
			break
		}
		h = c.GetHeader(h.ParentHash, h.Number.Uint64()-1)
	}
	slices.Reverse(times)
	return &HeaderVerifier{
		val: c.val, last: start, lastHash: hash, lastPow: pow.HeaderPowHash(start),
		anchor: m.AnchorTime, td: new(big.Int).Set(m.TD), times: times,
	}, nil
}

// NewHeaderVerifier starts a run of header checks after start for a store
// of headers other than a Chain (a light peer's): the caller gives start's
// schedule anchor (see ChildAnchor), its total difficulty and the
// timestamps of start and its ancestors, oldest first, at most
// params.MedianTimeSpan of them and ending with start's.
func (v *Validator) NewHeaderVerifier(start *types.Header, anchor uint64, td *big.Int, times []uint64) (*HeaderVerifier, error) {
	if len(times) == 0 || len(times) > params.MedianTimeSpan || times[len(times)-1] != start.Time {
		return nil, fmt.Errorf("header verifier after block %v: %d ancestor timestamps, want 1 to %d ending with the block's own", start.Number, len(times), params.MedianTimeSpan)
	}
	return &HeaderVerifier{
		val: v, last: start, lastHash: start.Hash(), lastPow: pow.HeaderPowHash(start),
		anchor: anchor, td: new(big.Int).Set(td), times: slices.Clone(times),
	}, nil
}

// Anchor is the schedule anchor after the last verified header.
func (v *HeaderVerifier) Anchor() uint64 { return v.anchor }

// Verify checks the next headers of the run, in order. On error the run
// stops at the last good header.
func (v *HeaderVerifier) Verify(headers []*types.Header) error {
	_, err := v.VerifyHashes(headers)
	return err
}

// VerifyHashes is Verify returning each header's hash: hashing is most of
// the cost of a check, so a caller that stores the headers need not hash
// them again. The hashes and proof-of-work hashes of a long run are
// computed on every core first; the checks that link each header to the
// one before then run in order.
func (v *HeaderVerifier) VerifyHashes(headers []*types.Header) ([]common.Hash, error) {
	hashes, pows := hashHeaders(headers)
	for i, h := range headers {
		if err := v.next(h, hashes[i], pows[i]); err != nil {
			return nil, err
		}
	}
	return hashes, nil
}

// parallelHashing is the run length from which headers are hashed on
// every core.
const parallelHashing = 64

// hashHeaders returns the hash and the PoW hash of each header.
func hashHeaders(headers []*types.Header) (hashes, pows []common.Hash) {
	hashes, pows = make([]common.Hash, len(headers)), make([]common.Hash, len(headers))
	one := func(i int) {
		hashes[i], pows[i] = headers[i].Hash(), pow.HeaderPowHash(headers[i])
	}
	workers := min(runtime.GOMAXPROCS(0), len(headers)/parallelHashing)
	if workers < 2 {
		for i := range headers {
			one(i)
		}
		return hashes, pows
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(headers); i += workers {
				one(i)
			}
		}(w)
	}
	wg.Wait()
	return hashes, pows
}

func (v *HeaderVerifier) next(h *types.Header, hash, ph common.Hash) error {
	if h.ParentHash != v.lastHash || h.Number == nil || h.Number.Uint64() != v.last.Number.Uint64()+1 {
		return fmt.Errorf("header %v (parent %s) does not follow header %d (%s)", h.Number, h.ParentHash, v.last.Number, v.lastHash)
	}
	if re := v.val.verifyHeaderFields(h, v.last, v.lastPow); re != nil {
		return re
	}
	num := h.Number.Uint64()
	if want := v.val.rule.Next(v.last, v.anchor); h.Difficulty.Cmp(want) != 0 {
		return ruleErr(RuleDifficulty, num, h.Hash(), "difficulty %v, the rule requires %v", h.Difficulty, want)
	}
	target := pow.Target(h.Difficulty)
	if !pow.Meets(ph, &target) {
		return &RuleError{Rule: RulePoW, Number: num, Hash: hash, Err: fmt.Errorf("%w: pow hash %x for difficulty %v", pow.ErrInvalidPoW, ph, h.Difficulty)}
	}
	var buf [params.MedianTimeSpan]uint64
	sorted := append(buf[:0], v.times...)
	slices.Sort(sorted)
	if median := sorted[len(sorted)/2]; h.Time <= median {
		return ruleErr(RuleTimeMedian, num, h.Hash(), "timestamp %d not above the median %d of the last %d blocks", h.Time, median, len(sorted))
	}
	v.anchor = ChildAnchor(v.anchor, v.last.Number.Uint64(), h.Time)
	v.td.Add(v.td, h.Difficulty)
	v.times = append(v.times, h.Time)
	if len(v.times) > params.MedianTimeSpan {
		v.times = v.times[1:]
	}
	v.last, v.lastHash, v.lastPow = h, hash, ph
	v.count++
	return nil
}

// TD is the total difficulty at the last verified header.
func (v *HeaderVerifier) TD() *big.Int { return new(big.Int).Set(v.td) }

// Last is the last verified header.
func (v *HeaderVerifier) Last() *types.Header { return v.last }
