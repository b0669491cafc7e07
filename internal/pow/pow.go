package pow

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
)

// ErrInvalidPoW reports a header whose PoW hash is above its target.
var ErrInvalidPoW = errors.New("proof of work above target")

// sealFields is the header without nonce and mix digest, in header order.
// The optional fields keep go-ethereum's positional RLP encoding.
type sealFields struct {
	ParentHash       common.Hash
	UncleHash        common.Hash
	Coinbase         common.Address
	Root             common.Hash
	TxHash           common.Hash
	ReceiptHash      common.Hash
	Bloom            types.Bloom
	Difficulty       *big.Int
	Number           *big.Int
	GasLimit         uint64
	GasUsed          uint64
	Time             uint64
	Extra            []byte
	BaseFee          *big.Int     `rlp:"optional"`
	WithdrawalsHash  *common.Hash `rlp:"optional"`
	BlobGasUsed      *uint64      `rlp:"optional"`
	ExcessBlobGas    *uint64      `rlp:"optional"`
	ParentBeaconRoot *common.Hash `rlp:"optional"`
	RequestsHash     *common.Hash `rlp:"optional"`
}

// SealHash is keccak256 of the RLP of the header without nonce and mix
// digest: what the proof of work commits to.
func SealHash(h *types.Header) common.Hash {
	enc, err := rlp.EncodeToBytes(&sealFields{
		ParentHash: h.ParentHash, UncleHash: h.UncleHash, Coinbase: h.Coinbase, Root: h.Root,
		TxHash: h.TxHash, ReceiptHash: h.ReceiptHash, Bloom: h.Bloom, Difficulty: bigOrZero(h.Difficulty),
		Number: bigOrZero(h.Number), GasLimit: h.GasLimit, GasUsed: h.GasUsed, Time: h.Time, Extra: h.Extra,
		BaseFee: h.BaseFee, WithdrawalsHash: h.WithdrawalsHash, BlobGasUsed: h.BlobGasUsed,
		ExcessBlobGas: h.ExcessBlobGas, ParentBeaconRoot: h.ParentBeaconRoot, RequestsHash: h.RequestsHash,
	})
	if err != nil {
		// Only a negative big.Int fails to encode; such a header can never
		// be valid, so give it a hash no nonce can satisfy.
		return common.MaxHash
	}
	return crypto.Keccak256Hash(enc)
}

func bigOrZero(b *big.Int) *big.Int {
	if b == nil || b.Sign() < 0 {
		return new(big.Int)
	}
	return b
}

// PowHash is SHA-256(SHA-256(seal ‖ nonce big-endian)).
func PowHash(seal common.Hash, nonce uint64) common.Hash {
	var buf [40]byte
	copy(buf[:32], seal[:])
	binary.BigEndian.PutUint64(buf[32:], nonce)
	first := sha256.Sum256(buf[:])
	return sha256.Sum256(first[:])
}

// HeaderPowHash is the PoW hash of a sealed header.
func HeaderPowHash(h *types.Header) common.Hash {
	return PowHash(SealHash(h), h.Nonce.Uint64())
}

var two256 = new(big.Int).Lsh(big.NewInt(1), 256)

// Target returns 2^256 / difficulty as 32 big-endian bytes, saturated at
// 2^256-1 (difficulty 1 accepts every hash). A powHash is valid when it is
// byte-wise ≤ the target.
func Target(difficulty *big.Int) (out [32]byte) {
	if difficulty == nil || difficulty.Sign() <= 0 {
		return out // impossible target: only the zero hash
	}
	t := new(big.Int).Div(two256, difficulty)
	if t.BitLen() > 256 {
		for i := range out {
			out[i] = 0xff
		}
		return out
	}
	t.FillBytes(out[:])
	return out
}

// Meets reports whether powHash satisfies target.
func Meets(powHash common.Hash, target *[32]byte) bool {
	return bytes.Compare(powHash[:], target[:]) <= 0
}

// VerifySeal checks a header's proof of work against its own difficulty.
func VerifySeal(h *types.Header) error {
	if h.Difficulty == nil || h.Difficulty.Sign() <= 0 {
		return fmt.Errorf("%w: difficulty %v is not positive", ErrInvalidPoW, h.Difficulty)
	}
	target := Target(h.Difficulty)
	ph := HeaderPowHash(h)
	if !Meets(ph, &target) {
		return fmt.Errorf("%w: pow hash %x for difficulty %v", ErrInvalidPoW, ph, h.Difficulty)
	}
	return nil
}
