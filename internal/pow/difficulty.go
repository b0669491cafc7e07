package pow

import (
	"math/big"

	"github.com/ethereum/go-ethereum/core/types"
)

// Rule is the ASERT difficulty rule of one chain.
type Rule struct {
	// TargetBlockTime is the scheduled block interval in seconds (≥ 1).
	TargetBlockTime uint64
	// HalfLife is the ASERT half-life in seconds (≥ TargetBlockTime).
	HalfLife uint64
	// Minimum is the difficulty floor (≥ 1).
	Minimum *big.Int
	// Anchor is the difficulty of block 1 and of the schedule: the genesis
	// difficulty.
	Anchor *big.Int
}

// maxDifficulty caps the rule's output: a target of 2 still leaves one
// valid hash in 2^255.
var maxDifficulty = new(big.Int).Lsh(big.NewInt(1), 255)

// Next returns the difficulty required of the child of parent. anchorTime is
// the timestamp of block 1 on parent's branch; it is ignored when parent is
// the genesis block (block 1 itself mines at the anchor difficulty).
func (r *Rule) Next(parent *types.Header, anchorTime uint64) *big.Int {
	number := parent.Number.Uint64()
	if number == 0 {
		return r.clamp(new(big.Int).Set(r.Anchor))
	}
	// The parent (block number) was scheduled at anchorTime + (number-1)·T.
	// A parent that came early raises the difficulty, a late one lowers it.
	scheduled := new(big.Int).SetUint64(number - 1)
	scheduled.Mul(scheduled, new(big.Int).SetUint64(r.TargetBlockTime))
	actual := new(big.Int).SetUint64(parent.Time)
	actual.Sub(actual, new(big.Int).SetUint64(anchorTime))
	ahead := scheduled.Sub(scheduled, actual) // seconds ahead of schedule

	// exponent in 16.16 fixed point, floored toward -inf.
	exp := new(big.Int).Lsh(ahead, 16)
	exp = floorDiv(exp, new(big.Int).SetUint64(r.HalfLife))

	shifts := new(big.Int).Rsh(exp, 16) // arithmetic shift = floor
	frac := new(big.Int).Sub(exp, new(big.Int).Lsh(shifts, 16)).Uint64()

	// aserti3-2d: 2^(frac/65536)·65536 ≈ 65536 + cubic(frac).
	f := new(big.Int).SetUint64(frac)
	poly := new(big.Int).Mul(big.NewInt(195766423245049), f)
	f2 := new(big.Int).Mul(f, f)
	poly.Add(poly, new(big.Int).Mul(big.NewInt(971821376), f2))
	poly.Add(poly, new(big.Int).Mul(big.NewInt(5127), new(big.Int).Mul(f2, f)))
	poly.Add(poly, new(big.Int).Lsh(big.NewInt(1), 47))
	factor := poly.Rsh(poly, 48)
	factor.Add(factor, big.NewInt(65536))

	d := new(big.Int).Mul(r.Anchor, factor)
	s := shifts.Int64() - 16
	switch {
	case !shifts.IsInt64() || shifts.Int64() > 512:
		if shifts.Sign() > 0 {
			return new(big.Int).Set(maxDifficulty)
		}
		return new(big.Int).Set(r.Minimum)
	case shifts.Int64() < -512:
		return new(big.Int).Set(r.Minimum)
	case s >= 0:
		d.Lsh(d, uint(s))
	default:
		d.Rsh(d, uint(-s))
	}
	return r.clamp(d)
}

func (r *Rule) clamp(d *big.Int) *big.Int {
	if d.Cmp(r.Minimum) < 0 {
		return d.Set(r.Minimum)
	}
	if d.Cmp(maxDifficulty) > 0 {
		return d.Set(maxDifficulty)
	}
	return d
}

// floorDiv divides rounding toward negative infinity.
func floorDiv(a, b *big.Int) *big.Int {
	q, m := new(big.Int).DivMod(a, b, new(big.Int)) // Euclidean: m ≥ 0
	_ = m
	return q // b > 0, so Euclidean division is floor division
}
