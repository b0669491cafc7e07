package pow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"sync"
	"sync/atomic"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

// Midstate hashes seal ‖ nonce repeatedly for one seal hash: the SHA-256
// state after the 32 constant bytes is saved once and restored per attempt.
// Not safe for concurrent use; give each worker its own.
type Midstate struct {
	saved []byte
	d     hash.Hash
	// restore is d's state loader, asserted once: asserting it on every
	// attempt cost about 2% of the hash rate.
	restore encoding.BinaryUnmarshaler
	nonce   [8]byte
	first   [32]byte
}

// NewMidstate prepares hashing for seal.
func NewMidstate(seal common.Hash) (*Midstate, error) {
	d := sha256.New()
	d.Write(seal[:])
	m, ok := d.(encoding.BinaryMarshaler)
	if !ok {
		return nil, errors.New("sha256 digest cannot save its state")
	}
	saved, err := m.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("save sha256 midstate: %w", err)
	}
	fresh := sha256.New()
	restore, ok := fresh.(encoding.BinaryUnmarshaler)
	if !ok {
		return nil, errors.New("sha256 digest cannot restore its state")
	}
	return &Midstate{saved: saved, d: fresh, restore: restore}, nil
}

// Hash returns PowHash(seal, nonce).
func (m *Midstate) Hash(nonce uint64) common.Hash {
	// Restoring a state this digest produced cannot fail.
	_ = m.restore.UnmarshalBinary(m.saved)
	binary.BigEndian.PutUint64(m.nonce[:], nonce)
	m.d.Write(m.nonce[:])
	m.d.Sum(m.first[:0])
	return sha256.Sum256(m.first[:])
}

// ErrSealAborted is returned when Seal's context ends before a nonce is found.
var ErrSealAborted = errors.New("sealing aborted")

// Sealer searches nonces on several threads. It is safe for concurrent use,
// though one Seal call at a time is what a miner needs.
type Sealer struct {
	threads int
	hashes  atomic.Uint64
}

// NewSealer returns a sealer using threads workers (at least 1).
func NewSealer(threads int) *Sealer {
	if threads < 1 {
		threads = 1
	}
	return &Sealer{threads: threads}
}

// Threads returns the number of workers.
func (s *Sealer) Threads() int { return s.threads }

// Hashes returns how many nonces the sealer has tried in total.
func (s *Sealer) Hashes() uint64 { return s.hashes.Load() }

// checkEvery is how many attempts a worker makes between looks at the stop
// flag and updates of the hash counter.
const checkEvery = 1 << 12

// Seal searches for a nonce that makes h meet its difficulty, starting at
// start (worker i starts i·2^64/threads further on). It returns a copy of h
// with the nonce set, or ErrSealAborted when ctx ends first.
func (s *Sealer) Seal(ctx context.Context, h *types.Header, start uint64) (*types.Header, error) {
	if h.Difficulty == nil || h.Difficulty.Sign() <= 0 {
		return nil, fmt.Errorf("seal: difficulty %v is not positive", h.Difficulty)
	}
	seal := SealHash(h)
	target := Target(h.Difficulty)
	var (
		stop  atomic.Bool
		found = make(chan uint64, s.threads)
		wg    sync.WaitGroup
	)
	stride := ^uint64(0)/uint64(s.threads) + 1
	for i := 0; i < s.threads; i++ {
		ms, err := NewMidstate(seal)
		if err != nil {
			stop.Store(true)
			wg.Wait()
			return nil, err
		}
		wg.Add(1)
		go func(nonce uint64) {
			defer wg.Done()
			s.search(ms, nonce, &target, &stop, found)
		}(start + uint64(i)*stride)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case nonce := <-found:
		stop.Store(true)
		<-done
		out := types.CopyHeader(h)
		out.Nonce = types.EncodeNonce(nonce)
		return out, nil
	case <-ctx.Done():
		stop.Store(true)
		<-done
		// A worker may have found a nonce while we were stopping: use it.
		select {
		case nonce := <-found:
			out := types.CopyHeader(h)
			out.Nonce = types.EncodeNonce(nonce)
			return out, nil
		default:
		}
		return nil, fmt.Errorf("%w: %w", ErrSealAborted, ctx.Err())
	}
}

func (s *Sealer) search(ms *Midstate, nonce uint64, target *[32]byte, stop *atomic.Bool, found chan<- uint64) {
	// The hot loop of Midstate.Hash, inlined: no call and no 32-byte
	// result copied per attempt.
	var (
		d       = ms.d
		restore = ms.restore
		saved   = ms.saved
		nb      [8]byte
		first   [32]byte
	)
	for {
		for i := 0; i < checkEvery; i++ {
			_ = restore.UnmarshalBinary(saved)
			binary.BigEndian.PutUint64(nb[:], nonce)
			d.Write(nb[:])
			d.Sum(first[:0])
			if ph := sha256.Sum256(first[:]); ph[0] <= target[0] && bytes.Compare(ph[:], target[:]) <= 0 {
				s.hashes.Add(uint64(i + 1))
				found <- nonce
				return
			}
			nonce++
		}
		s.hashes.Add(checkEvery)
		if stop.Load() {
			return
		}
	}
}
