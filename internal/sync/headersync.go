package sync

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/peerchain/peerchain/internal/chain"
)

// Headers-first download, shared by the full peer's sync and the light
// peer: find the common ancestor with a source, prove that its chain
// outweighs ours while holding a bounded number of headers, then stream its
// headers in order. Nothing the source says is believed before it is
// checked: a claimed head only says where to look.

// HeaderFetcher returns up to count canonical headers of one source from
// start, numbered from start; fewer (or none) at the end of its chain.
type HeaderFetcher func(ctx context.Context, start, count uint64) ([]*types.Header, error)

// HeaderBase is the header chain a download extends: ours.
type HeaderBase interface {
	CurrentHeader() *types.Header
	CurrentTD() *big.Int
	GetCanonicalHash(number uint64) (common.Hash, bool)
	GetHeaderByNumber(number uint64) *types.Header
	NewHeaderVerifier(from common.Hash) (*chain.HeaderVerifier, error)
}

// SourceFault marks a download that failed by the source's doing: it did
// not back the work it claimed (no answer in time, a chain lighter than
// claimed, a different chain on the second download, a lie about the
// common ancestor). The caller counts it against the source.
type SourceFault struct{ Err error }

func (e *SourceFault) Error() string { return e.Err.Error() }
func (e *SourceFault) Unwrap() error { return e.Err }

func fault(err error) error {
	if err == nil {
		return nil
	}
	var sf *SourceFault
	var ic *InvalidChainError
	if errors.As(err, &sf) || errors.As(err, &ic) {
		return err
	}
	return &SourceFault{err}
}

// InvalidChainError says a source served headers that break a consensus
// rule: not a claim it failed to back but an invalid chain, which only a
// misbehaving source sends.
type InvalidChainError struct{ Err error }

func (e *InvalidChainError) Error() string { return "invalid header chain: " + e.Err.Error() }
func (e *InvalidChainError) Unwrap() error { return e.Err }

// FindAncestor finds the highest header the source and base both have on
// their canonical chains, by binary search; theirs is the source's claimed
// head number. Only a match is believed (a hash cannot be forged): a source
// that lies about a mismatch only lowers the ancestor, and ProveWork
// catches it when it then serves our own header after it.
func FindAncestor(ctx context.Context, base HeaderBase, fetch HeaderFetcher, theirs uint64) (*types.Header, error) {
	hi := min(base.CurrentHeader().Number.Uint64(), theirs)
	common := func(n uint64) (bool, error) {
		hs, err := fetch(ctx, n, 1)
		if err != nil {
			return false, fault(err)
		}
		if len(hs) == 0 {
			return false, fault(fmt.Errorf("the source claims head %d but has no header %d", theirs, n))
		}
		ours, ok := base.GetCanonicalHash(n)
		return ok && ours == hs[0].Hash(), nil
	}
	ok, err := common(hi)
	if err != nil {
		return nil, err
	}
	if !ok {
		lo := uint64(0) // genesis: checked by the handshake
		for lo+1 < hi {
			mid := lo + (hi-lo)/2
			c, err := common(mid)
			if err != nil {
				return nil, err
			}
			if c {
				lo = mid
			} else {
				hi = mid
			}
		}
		hi = lo
	}
	h := base.GetHeaderByNumber(hi)
	if h == nil {
		return nil, fmt.Errorf("canonical header %d missing", hi)
	}
	return h, nil
}

// WorkProof is what ProveWork learnt of a source's chain.
type WorkProof struct {
	// kept holds every header from the ancestor on when they fit in the
	// bound, nil otherwise.
	kept []*types.Header
	// checkpoints maps the number of the last header of each response to
	// its hash, up to the proof point: the second download must match.
	checkpoints map[uint64]common.Hash
	number      uint64
	hash        common.Hash
	td          *big.Int
}

// Number, Hash and TD are the header where the source's chain passed our
// total difficulty and the minimum chain work.
func (p *WorkProof) Number() uint64    { return p.number }
func (p *WorkProof) Hash() common.Hash { return p.hash }
func (p *WorkProof) TD() *big.Int      { return new(big.Int).Set(p.td) }

// ProveWork downloads and verifies the source's headers after anc up to
// target until their total difficulty passes base's (and minWork), holding
// at most maxHeld of them (held reports each new high) and past that only a
// checkpoint hash per response. A chain that ends first is a claim not
// backed (*SourceFault); a header that breaks a rule is an
// *InvalidChainError.
func ProveWork(ctx context.Context, base HeaderBase, fetch HeaderFetcher, anc *types.Header, target uint64,
	minWork *big.Int, maxHeld int, held func(n int)) (*WorkProof, error) {
	v, err := base.NewHeaderVerifier(anc.Hash())
	if err != nil {
		return nil, err
	}
	ourTD := base.CurrentTD()
	proof := &WorkProof{checkpoints: make(map[uint64]common.Hash)}
	first := anc.Number.Uint64() + 1
	for next := first; next <= target; {
		batch, err := fetch(ctx, next, min(maxHeadersPerRequest, target-next+1))
		if err != nil {
			return nil, fault(err)
		}
		if len(batch) == 0 {
			break // its chain ends here
		}
		if next == first {
			// The ancestor search said the chains part after anc: our own
			// header right after it means the source lied to make us walk
			// back and download what we have.
			if ours, ok := base.GetCanonicalHash(first); ok && ours == batch[0].Hash() {
				return nil, fault(fmt.Errorf("the ancestor search said header %d differs from ours, then the source served our header %s", first, ours))
			}
		}
		if _, err := verifyBatch(v, batch); err != nil {
			return nil, err
		}
		last := batch[len(batch)-1]
		proof.checkpoints[last.Number.Uint64()] = last.Hash()
		if proof.kept != nil || next == first {
			if len(proof.kept)+len(batch) <= maxHeld {
				proof.kept = append(proof.kept, batch...)
				if held != nil {
					held(len(proof.kept))
				}
			} else {
				proof.kept = nil
			}
		}
		next += uint64(len(batch))
		if td := v.TD(); td.Cmp(ourTD) > 0 && td.Cmp(minWork) >= 0 {
			proof.number, proof.hash, proof.td = last.Number.Uint64(), last.Hash(), td
			return proof, nil
		}
	}
	return nil, fault(fmt.Errorf("%w: its headers to %d reach total difficulty %v; ours is %v, the minimum chain work %v",
		errNotHeavier, v.Last().Number, v.TD(), ourTD, minWork))
}

// verifyBatch checks the next headers of a source's chain: a header that
// breaks a rule is an *InvalidChainError; one from the future (clocks
// differ) a plain error.
func verifyBatch(v *chain.HeaderVerifier, batch []*types.Header) ([]common.Hash, error) {
	hashes, err := v.VerifyHashes(batch)
	if err == nil {
		return hashes, nil
	}
	var re *chain.RuleError
	if errors.As(err, &re) && !re.Permanent() {
		return nil, err
	}
	return nil, &InvalidChainError{err}
}

// StreamHeaders hands emit the source's verified headers from anc+1 to
// target in order, with their hashes, from memory when ProveWork kept them
// and fetched again otherwise. Up to the proof point they must be the
// chain ProveWork saw; past it the source's chain may end early (it moved
// since its claim). emit returns false to stop.
func StreamHeaders(ctx context.Context, base HeaderBase, fetch HeaderFetcher, anc *types.Header, target uint64,
	proof *WorkProof, emit func(headers []*types.Header, hashes []common.Hash) bool) error {
	v, err := base.NewHeaderVerifier(anc.Hash())
	if err != nil {
		return err
	}
	next := anc.Number.Uint64() + 1
	if proof.kept != nil {
		hashes, err := v.VerifyHashes(proof.kept)
		if err != nil {
			return err
		}
		if !emit(proof.kept, hashes) {
			return ctx.Err()
		}
		next += uint64(len(proof.kept))
	}
	for next <= target {
		batch, err := fetch(ctx, next, min(maxHeadersPerRequest, target-next+1))
		if err != nil {
			return fault(err)
		}
		if len(batch) == 0 {
			if next <= proof.number {
				return fault(fmt.Errorf("the source served headers to %d, then none from %d", proof.number, next))
			}
			return nil // its chain moved since its claim: we have the heavier part
		}
		hashes, err := verifyBatch(v, batch)
		if err != nil {
			return err
		}
		for i, h := range batch {
			if want, ok := proof.checkpoints[h.Number.Uint64()]; ok && want != hashes[i] {
				return fault(fmt.Errorf("header %d is %s now, the source served %s before", h.Number, hashes[i], want))
			}
		}
		if !emit(batch, hashes) {
			return ctx.Err()
		}
		next += uint64(len(batch))
	}
	return nil
}
