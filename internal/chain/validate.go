package chain

import (
	"errors"
	"math/big"
	"slices"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/consensus/misc"
	"github.com/ethereum/go-ethereum/consensus/misc/eip1559"
	"github.com/ethereum/go-ethereum/core/types"
	gparams "github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/trie"

	"github.com/peerchain/peerchain/internal/params"
	"github.com/peerchain/peerchain/internal/pow"
)

// HeaderReader is the narrow view of stored headers validation needs.
type HeaderReader interface {
	// GetHeader returns the header with hash and number, or nil.
	GetHeader(hash common.Hash, number uint64) *types.Header
}

// Validator checks headers and bodies against the consensus rules. It is
// deterministic given its clock and safe for concurrent use.
type Validator struct {
	config *gparams.ChainConfig
	rule   pow.Rule
	now    func() time.Time
}

// NewValidator returns the validator of genesis's chain; now is the local
// clock used only by the future-timestamp rule.
func NewValidator(g *params.Genesis, now func() time.Time) *Validator {
	return &Validator{
		config: g.Config(),
		rule: pow.Rule{
			TargetBlockTime: g.Pow.TargetBlockTime,
			HalfLife:        g.Pow.DifficultyHalfLife,
			Minimum:         g.Pow.MinimumDifficulty,
			Anchor:          g.Spec.Difficulty,
		},
		now: now,
	}
}

// Rule returns the difficulty rule.
func (v *Validator) Rule() *pow.Rule { return &v.rule }

// NextDifficulty is the difficulty required of parent's child.
func (v *Validator) NextDifficulty(parent *types.Header, anchorTime uint64) *big.Int {
	return v.rule.Next(parent, anchorTime)
}

// ChildAnchor returns the anchor time of parent's child: block 1 anchors the
// difficulty schedule with its own timestamp.
func ChildAnchor(parentAnchor uint64, parentNumber uint64, childTime uint64) uint64 {
	if parentNumber == 0 {
		return childTime
	}
	return parentAnchor
}

// MedianTime returns the median timestamp of parent and its ancestors, up to
// MedianTimeSpan blocks.
func MedianTime(parent *types.Header, chain HeaderReader) uint64 {
	times := make([]uint64, 0, params.MedianTimeSpan)
	for h := parent; h != nil && len(times) < params.MedianTimeSpan; {
		times = append(times, h.Time)
		if h.Number.Sign() == 0 {
			break
		}
		h = chain.GetHeader(h.ParentHash, h.Number.Uint64()-1)
	}
	slices.Sort(times)
	return times[len(times)/2]
}

// VerifyHeader checks every header rule of h against its parent:
// everything except the body and execution. anchorTime is parent's
// schedule anchor (see ChildAnchor).
func (v *Validator) VerifyHeader(h, parent *types.Header, parentAnchor uint64, chain HeaderReader) *RuleError {
	if err := v.verifyHeaderFields(h, parent, pow.HeaderPowHash(parent)); err != nil {
		return err
	}
	num, hash := h.Number.Uint64(), h.Hash()
	if want := v.rule.Next(parent, parentAnchor); h.Difficulty.Cmp(want) != 0 {
		return ruleErr(RuleDifficulty, num, hash, "difficulty %v, the rule requires %v", h.Difficulty, want)
	}
	if err := pow.VerifySeal(h); err != nil {
		return &RuleError{Rule: RulePoW, Number: num, Hash: hash, Err: err}
	}
	if median := MedianTime(parent, chain); h.Time <= median {
		return ruleErr(RuleTimeMedian, num, hash, "timestamp %d not above the median %d of the last %d blocks", h.Time, median, params.MedianTimeSpan)
	}
	return nil
}

// verifyHeaderFields checks the rules that need only h, its parent and the
// parent's PoW hash.
func (v *Validator) verifyHeaderFields(h, parent *types.Header, parentPowHash common.Hash) *RuleError {
	// The hash is computed only for an error: hashing is most of the cost
	// of checking a valid header.
	fail := func(rule Rule, format string, args ...any) *RuleError {
		var num uint64
		if h.Number != nil {
			num = h.Number.Uint64()
		}
		return ruleErr(rule, num, h.Hash(), format, args...)
	}
	switch {
	case h.Number.Cmp(new(big.Int).Add(parent.Number, common.Big1)) != 0:
		return fail(RuleNumber, "number %v, parent is %v", h.Number, parent.Number)
	case len(h.Extra) > params.MaxExtraDataSize:
		return fail(RuleExtraData, "extra data is %d bytes, at most %d", len(h.Extra), params.MaxExtraDataSize)
	case h.Time > uint64(v.now().Unix())+params.MaxFutureBlockTime:
		return fail(RuleTimeFuture, "timestamp %d is more than %ds ahead of local time %d", h.Time, params.MaxFutureBlockTime, v.now().Unix())
	case h.Difficulty == nil || h.Difficulty.Sign() <= 0:
		return fail(RuleDifficulty, "difficulty %v is not positive", h.Difficulty)
	case h.UncleHash != types.EmptyUncleHash:
		return fail(RuleUncles, "uncle hash %s, peerchain blocks have no uncles", h.UncleHash)
	case h.WithdrawalsHash == nil || *h.WithdrawalsHash != types.EmptyWithdrawalsHash:
		return fail(RuleWithdrawals, "withdrawals root %v, must be the empty list's %s", h.WithdrawalsHash, types.EmptyWithdrawalsHash)
	case h.BlobGasUsed == nil || *h.BlobGasUsed != 0 || h.ExcessBlobGas == nil || *h.ExcessBlobGas != 0:
		return fail(RuleBlobGas, "blob gas used %v, excess blob gas %v: both must be present and 0", ptrStr(h.BlobGasUsed), ptrStr(h.ExcessBlobGas))
	case h.ParentBeaconRoot == nil || *h.ParentBeaconRoot != (common.Hash{}):
		return fail(RuleBeaconRoot, "parent beacon root %v, must be present and zero", h.ParentBeaconRoot)
	case h.RequestsHash == nil || *h.RequestsHash != types.EmptyRequestsHash:
		return fail(RuleRequestsHash, "requests hash %v, must be the empty requests hash", h.RequestsHash)
	case h.BlockAccessListHash != nil || h.SlotNumber != nil:
		return fail(RuleLaterFork, "block access list hash or slot number present (Amsterdam fields)")
	case h.GasUsed > h.GasLimit:
		return fail(RuleGasUsed, "gas used %d above gas limit %d", h.GasUsed, h.GasLimit)
	case h.GasLimit > gparams.MaxGasLimit:
		return fail(RuleGasLimit, "gas limit %d above the maximum %d", h.GasLimit, gparams.MaxGasLimit)
	}
	if err := misc.VerifyGaslimit(parent.GasLimit, h.GasLimit); err != nil {
		return fail(RuleGasLimit, "%v", err)
	}
	if h.BaseFee == nil {
		return fail(RuleBaseFee, "base fee missing")
	}
	if want := eip1559.CalcBaseFee(v.config, parent); h.BaseFee.Cmp(want) != 0 {
		return fail(RuleBaseFee, "base fee %v, parent (base fee %v, gas used %d of %d) requires %v", h.BaseFee, parent.BaseFee, parent.GasUsed, parent.GasLimit, want)
	}
	if h.MixDigest != parentPowHash {
		return fail(RuleMixDigest, "mix digest %s, must be the parent's PoW hash %s", h.MixDigest, parentPowHash)
	}
	return nil
}

// VerifyBody checks a block's body against its (already verified) header:
// everything that needs no execution. It first checks that the body is the
// one the header commits to (no uncles, an empty withdrawals list, the
// transactions root); a failure there, see [RuleError.BodyMismatch], says
// nothing about the block the header names.
func (v *Validator) VerifyBody(b *types.Block) *RuleError {
	h := b.Header()
	num, hash := b.NumberU64(), b.Hash()
	if len(b.Uncles()) != 0 {
		return ruleErr(RuleUncles, num, hash, "%d uncles, peerchain blocks have none", len(b.Uncles()))
	}
	if b.Withdrawals() == nil || len(b.Withdrawals()) != 0 {
		return ruleErr(RuleWithdrawals, num, hash, "body withdrawals must be an empty list, have %d", len(b.Withdrawals()))
	}
	if root := types.DeriveSha(b.Transactions(), trie.NewStackTrie(nil)); root != h.TxHash {
		return ruleErr(RuleTxRoot, num, hash, "transactions root %s, body hashes to %s", h.TxHash, root)
	}
	// From here on the body is the one the header commits to: what is
	// wrong with it is wrong with the block.
	for i, tx := range b.Transactions() {
		if tx.Type() == types.BlobTxType {
			return ruleErr(RuleBlobTx, num, hash, "transaction %d (%s) is a blob transaction, not supported", i, tx.Hash())
		}
	}
	if size := b.Size(); size > gparams.MaxBlockSize {
		return ruleErr(RuleBlockSize, num, hash, "block is %d bytes, the cap is %d", size, gparams.MaxBlockSize)
	}
	return nil
}

func ptrStr(p *uint64) any {
	if p == nil {
		return "missing"
	}
	return *p
}

// asRuleError returns err as a *RuleError when it is one.
func asRuleError(err error) (*RuleError, bool) {
	var re *RuleError
	ok := errors.As(err, &re)
	return re, ok
}
