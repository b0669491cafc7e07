package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/peerchain/peerchain/internal/pow"
)

// miningSize is how long each measurement hashes and how many times each
// is repeated (the best counts); -short makes a smoke run.
func miningSize() (window time.Duration, rounds int) {
	if testing.Short() {
		return 100 * time.Millisecond, 1
	}
	return time.Second, 3
}

// miningHeader is a header whose difficulty no nonce will meet in the
// window, so the sealer hashes for the whole window.
func miningHeader() *types.Header {
	zero := uint64(0)
	return &types.Header{
		ParentHash: common.HexToHash("0x01"), UncleHash: types.EmptyUncleHash, Root: common.HexToHash("0x02"),
		TxHash: types.EmptyTxsHash, ReceiptHash: types.EmptyReceiptsHash,
		Difficulty: new(big.Int).Lsh(big.NewInt(1), 200), Number: big.NewInt(1000), GasLimit: 30_000_000,
		Time: 1_700_000_000, BaseFee: big.NewInt(1e9), WithdrawalsHash: &types.EmptyWithdrawalsHash,
		BlobGasUsed: &zero, ExcessBlobGas: &zero, ParentBeaconRoot: &common.Hash{}, RequestsHash: &types.EmptyRequestsHash,
	}
}

// BenchmarkMining compares pow.Sealer's hash rate with a bare SHA-256d
// midstate loop written here on crypto/sha256, both run for the same
// time: per thread (goal ≥ 0.9×) and on 2 threads against 1 bare thread
// (goal ≥ 1.8×).
func BenchmarkMining(b *testing.B) {
	load := loadAverage() // before this benchmark adds its own
	header := miningHeader()
	seal := pow.SealHash(header)
	target := bareTarget(header.Difficulty)
	window, rounds := miningSize()
	var bare1, bare2, ours1, ours2 float64
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			bare1 = max(bare1, bareHashRate(seal, &target, 1, window))
			o, err := sealerHashRate(header, 1, window)
			if err != nil {
				b.Fatal(err)
			}
			ours1 = max(ours1, o)
			bare2 = max(bare2, bareHashRate(seal, &target, 2, window))
			if o, err = sealerHashRate(header, 2, window); err != nil {
				b.Fatal(err)
			}
			ours2 = max(ours2, o)
		}
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(bare1/1e6, "bare-1t-MH/s")
	b.ReportMetric(ours1/1e6, "sealer-1t-MH/s")
	b.ReportMetric(ours2/1e6, "sealer-2t-MH/s")
	b.ReportMetric(ours1/bare1, "ratio-1t")
	b.ReportMetric(ours2/bare1, "ratio-2t-vs-bare-1t")
	fmt.Printf("mining, GOMAXPROCS=%d, load %s, %v windows, best of %d: bare SHA-256d midstate %.2f MH/s on 1 thread, %.2f MH/s on 2; "+
		"pow.Sealer %.2f MH/s on 1 thread, %.2f MH/s on 2; ratio per thread %.2f (goal ≥ 0.90), 2 threads vs 1 bare thread %.2f× (goal ≥ 1.80; bare itself %.2f×)\n",
		runtime.GOMAXPROCS(0), load, window, rounds, bare1/1e6, bare2/1e6, ours1/1e6, ours2/1e6,
		ours1/bare1, ours2/bare1, bare2/bare1)
}

// sealerHashRate runs pow.Sealer with threads workers until the window
// ends and returns hashes per second.
func sealerHashRate(h *types.Header, threads int, window time.Duration) (float64, error) {
	s := pow.NewSealer(threads)
	ctx, cancel := context.WithTimeout(context.Background(), window)
	defer cancel()
	start := time.Now()
	_, err := s.Seal(ctx, h, 0)
	elapsed := time.Since(start)
	if !errors.Is(err, pow.ErrSealAborted) {
		return 0, fmt.Errorf("seal at difficulty 2^200 returned %v, want %v", err, pow.ErrSealAborted)
	}
	return float64(s.Hashes()) / elapsed.Seconds(), nil
}

// bareTarget is 2^256 / difficulty as 32 big-endian bytes.
func bareTarget(difficulty *big.Int) (t [32]byte) {
	new(big.Int).Div(new(big.Int).Lsh(big.NewInt(1), 256), difficulty).FillBytes(t[:])
	return t
}

// bareHashRate is the baseline: on each of threads goroutines, the
// SHA-256 state after the 32-byte seal hash is marshalled once, then per
// attempt restored, the 8-byte nonce written, summed, and hashed again.
func bareHashRate(seal common.Hash, target *[32]byte, threads int, window time.Duration) float64 {
	var (
		stop  atomic.Bool
		total atomic.Uint64
		wins  atomic.Uint64 // hashes under the target, so the loop's work is used
		wg    sync.WaitGroup
	)
	start := time.Now()
	for w := 0; w < threads; w++ {
		wg.Add(1)
		go func(nonce uint64) {
			defer wg.Done()
			d := sha256.New()
			d.Write(seal[:])
			saved, err := d.(encoding.BinaryMarshaler).MarshalBinary()
			if err != nil {
				return
			}
			restore := d.(encoding.BinaryUnmarshaler)
			var (
				buf   [8]byte
				first [32]byte
				count uint64
				found uint64
			)
			for !stop.Load() {
				for i := 0; i < 4096; i++ {
					_ = restore.UnmarshalBinary(saved)
					binary.BigEndian.PutUint64(buf[:], nonce)
					d.Write(buf[:])
					d.Sum(first[:0])
					second := sha256.Sum256(first[:])
					if bytes.Compare(second[:], target[:]) <= 0 {
						found++
					}
					nonce++
				}
				count += 4096
			}
			total.Add(count)
			wins.Add(found)
		}(uint64(w) << 60)
	}
	timer := time.AfterFunc(window, func() { stop.Store(true) })
	defer timer.Stop()
	wg.Wait()
	return float64(total.Load()) / time.Since(start).Seconds()
}
