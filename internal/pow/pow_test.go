package pow

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rlp"
)

func testHeader() *types.Header {
	zero := uint64(0)
	return &types.Header{
		ParentHash: common.HexToHash("0x01"), UncleHash: types.EmptyUncleHash, Root: common.HexToHash("0x02"),
		TxHash: types.EmptyTxsHash, ReceiptHash: types.EmptyReceiptsHash, Difficulty: big.NewInt(1000),
		Number: big.NewInt(7), GasLimit: 30_000_000, Time: 1_700_000_000, Extra: []byte("x"),
		BaseFee: big.NewInt(1e9), WithdrawalsHash: &types.EmptyWithdrawalsHash, BlobGasUsed: &zero,
		ExcessBlobGas: &zero, ParentBeaconRoot: &common.Hash{}, RequestsHash: &types.EmptyRequestsHash,
	}
}

func TestSealHashIgnoresNonceAndMix(t *testing.T) {
	h := testHeader()
	base := SealHash(h)
	h2 := types.CopyHeader(h)
	h2.Nonce = types.EncodeNonce(99)
	h2.MixDigest = common.HexToHash("0xff")
	if SealHash(h2) != base {
		t.Fatal("seal hash changed with nonce or mix digest")
	}
	h2.Time++
	if SealHash(h2) == base {
		t.Fatal("seal hash did not change with the timestamp")
	}
	h3 := types.CopyHeader(h)
	h3.RequestsHash = &common.Hash{1}
	if SealHash(h3) == base {
		t.Fatal("seal hash did not cover the requests hash")
	}
}

func TestHeaderRoundTripsWithEveryOptionalField(t *testing.T) {
	h := testHeader()
	enc, err := rlp.EncodeToBytes(h)
	if err != nil {
		t.Fatal(err)
	}
	var dec types.Header
	if err := rlp.DecodeBytes(enc, &dec); err != nil {
		t.Fatal(err)
	}
	if dec.Hash() != h.Hash() || SealHash(&dec) != SealHash(h) {
		t.Fatal("header did not round-trip")
	}
}

func TestMidstateMatchesPowHash(t *testing.T) {
	seal := common.HexToHash("0xabcdef")
	ms, err := NewMidstate(seal)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []uint64{0, 1, 1 << 40, ^uint64(0)} {
		if got, want := ms.Hash(n), PowHash(seal, n); got != want {
			t.Fatalf("nonce %d: midstate %x, direct %x", n, got, want)
		}
	}
}

func TestTarget(t *testing.T) {
	one := Target(big.NewInt(1))
	if !Meets(common.MaxHash, &one) {
		t.Fatal("difficulty 1 must accept every hash")
	}
	two := Target(big.NewInt(2))
	if two[0] != 0x80 || !Meets(common.HexToHash("0x7fff"), &two) {
		t.Fatalf("difficulty 2 target %x", two)
	}
	over := common.BytesToHash(append([]byte{0x80}, make([]byte, 31)...))
	over[31] = 1
	if Meets(over, &two) {
		t.Fatal("hash above 2^255 met difficulty 2")
	}
	zero := Target(big.NewInt(0))
	if Meets(common.HexToHash("0x01"), &zero) {
		t.Fatal("difficulty 0 must accept nothing useful")
	}
}

func TestSealAndVerify(t *testing.T) {
	h := testHeader()
	h.Difficulty = big.NewInt(5000)
	s := NewSealer(2)
	sealed, err := s.Seal(context.Background(), h, 12345)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifySeal(sealed); err != nil {
		t.Fatalf("sealed header does not verify: %v", err)
	}
	if s.Hashes() == 0 {
		t.Fatal("sealer counted no hashes")
	}
	// Find a nonce that fails, so the check is seen to reject.
	bad := types.CopyHeader(sealed)
	for n := uint64(0); ; n++ {
		bad.Nonce = types.EncodeNonce(n)
		if VerifySeal(bad) != nil {
			break
		}
	}
}

func TestSealAborts(t *testing.T) {
	h := testHeader()
	h.Difficulty = new(big.Int).Lsh(big.NewInt(1), 200) // unreachable
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := NewSealer(2).Seal(ctx, h, 0); err == nil {
		t.Fatal("seal of an unreachable target returned no error")
	}
}

func testRule() *Rule {
	return &Rule{TargetBlockTime: 10, HalfLife: 600, Minimum: big.NewInt(1000), Anchor: big.NewInt(1 << 30)}
}

func TestDifficultyRule(t *testing.T) {
	r := testRule()
	anchor := uint64(1_000_000)
	parentAt := func(number, time uint64) *types.Header {
		return &types.Header{Number: new(big.Int).SetUint64(number), Time: time}
	}
	cases := []struct {
		name   string
		parent *types.Header
		want   *big.Int
	}{
		{"block 1 mines at the anchor", parentAt(0, 5), big.NewInt(1 << 30)},
		{"on schedule keeps the anchor", parentAt(101, anchor+1000), big.NewInt(1 << 30)},
		{"one half-life ahead doubles", parentAt(101, anchor+400), big.NewInt(1 << 31)},
		{"one half-life behind halves", parentAt(101, anchor+1600), big.NewInt(1 << 29)},
		{"two half-lives behind quarters", parentAt(101, anchor+2200), big.NewInt(1 << 28)},
		{"far behind hits the floor", parentAt(101, anchor+1_000_000), big.NewInt(1000)},
	}
	for _, c := range cases {
		if got := r.Next(c.parent, anchor); got.Cmp(c.want) != 0 {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	// Half a half-life ahead: ×√2 within the approximation's error.
	got := r.Next(parentAt(101, anchor+700), anchor)
	want := 1.4142135 * float64(1<<30)
	if f, _ := new(big.Float).SetInt(got).Float64(); f < want*0.9999 || f > want*1.0001 {
		t.Errorf("half a half-life ahead: got %v, want ≈%v", got, want)
	}
	// Monotonic: earlier parents never get a lower difficulty.
	prev := r.Next(parentAt(50, anchor+10_000), anchor)
	for ts := uint64(anchor + 9_990); ts > anchor; ts -= 10 {
		d := r.Next(parentAt(50, ts), anchor)
		if d.Cmp(prev) < 0 {
			t.Fatalf("difficulty fell from %v to %v as the parent got earlier (t=%d)", prev, d, ts)
		}
		prev = d
	}
	// Absurdly early timestamps saturate instead of overflowing.
	if d := r.Next(parentAt(1<<40, anchor), anchor); d.Cmp(maxDifficulty) != 0 {
		t.Errorf("far ahead: got %v, want the cap", d)
	}
}

// TestDifficultyConverges simulates miners with a fixed hash rate and checks
// the mean block time settles on the target.
func TestDifficultyConverges(t *testing.T) {
	r := &Rule{TargetBlockTime: 2, HalfLife: 60, Minimum: big.NewInt(1 << 16), Anchor: big.NewInt(1 << 22)}
	const hashrate = 5e6 // hashes per second
	var (
		now    = float64(1_000_000)
		anchor uint64
		parent = &types.Header{Number: big.NewInt(0), Time: uint64(now)}
		start  float64
	)
	for n := uint64(1); n <= 3000; n++ {
		d, _ := new(big.Float).SetInt(r.Next(parent, anchor)).Float64()
		now += d / hashrate // expected time to find a block
		if n == 1 {
			anchor = uint64(now)
		}
		if n == 1000 {
			start = now
		}
		parent = &types.Header{Number: new(big.Int).SetUint64(n), Time: uint64(now)}
	}
	if mean := (now - start) / 2000; mean < 1.8 || mean > 2.2 {
		t.Fatalf("mean block time %.2fs after convergence, want ≈2s", mean)
	}
}
