package execution_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/crypto"
	gparams "github.com/ethereum/go-ethereum/params"
	"github.com/holiman/uint256"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/execution"
	"github.com/peerchain/peerchain/internal/params"
	"github.com/peerchain/peerchain/internal/pow"
)

// These tests run hand-assembled EVM bytecode through the block processor
// on real PoW headers (positive difficulty, sealed nonce, mix digest = the
// parent's PoW hash). go-ethereum enables Shanghai and later rules only when
// the EVM block context has Random set; the Shanghai-and-later opcodes and
// precompiles below fail or go missing when it does not
// (TestPostMergeRulesNeedRandom shows it on PUSH0).

var gwei = big.NewInt(gparams.GWei)

// asm joins hex fragments into bytecode. One fragment per instruction keeps
// room for a comment saying what it does.
func asm(t testing.TB, frags ...string) []byte {
	t.Helper()
	code, err := hex.DecodeString(strings.Join(frags, ""))
	if err != nil {
		t.Fatalf("bad bytecode: %v", err)
	}
	return code
}

// initcode returns creation code that deploys runtime unchanged.
func initcode(t testing.TB, runtime []byte) []byte {
	t.Helper()
	if len(runtime) > 0xffff {
		t.Fatalf("runtime code of %d bytes does not fit PUSH2", len(runtime))
	}
	n := hex.EncodeToString([]byte{byte(len(runtime) >> 8), byte(len(runtime))})
	head := asm(t,
		"61"+n, // PUSH2 len(runtime)   size
		"80",   // DUP1                 size (kept for RETURN)
		"600c", // PUSH1 12             offset of runtime in this code (= length of this header)
		"6000", // PUSH1 0              memory destination
		"39",   // CODECOPY             memory[0:size] = runtime
		"6000", // PUSH1 0              memory offset
		"f3",   // RETURN               memory[0:size] becomes the contract's code
	)
	if len(head) != 12 {
		t.Fatalf("initcode header is %d bytes, PUSH1 12 assumes 12", len(head))
	}
	return append(head, runtime...)
}

// signTx signs a dynamic-fee transaction from chaingen.Key(key); value may
// be nil.
func signTx(t testing.TB, gen *chaingen.Generator, key int, nonce uint64, to *common.Address, value *big.Int, data []byte, gas uint64, tip, feeCap *big.Int) *types.Transaction {
	t.Helper()
	tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{
		ChainID: big.NewInt(1337), Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap,
		Gas: gas, To: to, Value: value, Data: data,
	}), gen.Signer(), chaingen.Key(key))
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// feeCapFor is a fee cap that covers baseFee with room, plus a 1 gwei tip.
func feeCapFor(baseFee *big.Int) *big.Int {
	return new(big.Int).Add(new(big.Int).Mul(baseFee, big.NewInt(2)), gwei)
}

func newGenerator(t testing.TB, o chaingen.GenesisOptions) (*params.Genesis, *chaingen.Generator) {
	t.Helper()
	g, err := chaingen.Genesis(o)
	if err != nil {
		t.Fatal(err)
	}
	gen, err := chaingen.New(g)
	if err != nil {
		t.Fatal(err)
	}
	return g, gen
}

func stateOf(t testing.TB, gen *chaingen.Generator, b *types.Block) *state.StateDB {
	t.Helper()
	st, err := gen.State(b)
	if err != nil {
		t.Fatalf("state of block %d: %v", b.NumberU64(), err)
	}
	return st
}

// reprocess runs block again with Processor.Process (the import path) on
// its parent's state, checks it reproduces the header the builder made, and
// returns the receipts.
func reprocess(t testing.TB, g *params.Genesis, gen *chaingen.Generator, parent, block *types.Block) types.Receipts {
	t.Helper()
	if block.Difficulty().Sign() <= 0 {
		t.Fatalf("block %d: difficulty %v, want a PoW header", block.NumberU64(), block.Difficulty())
	}
	if err := pow.VerifySeal(block.Header()); err != nil {
		t.Fatalf("block %d: %v", block.NumberU64(), err)
	}
	if want := pow.HeaderPowHash(parent.Header()); block.MixDigest() != want {
		t.Fatalf("block %d: mix digest %s, want the parent's PoW hash %s", block.NumberU64(), block.MixDigest(), want)
	}
	proc := execution.NewProcessor(g.Config(), g.Pow.BlockReward)
	res, err := proc.Process(block, stateOf(t, gen, parent), gen)
	if err != nil {
		t.Fatalf("process block %d: %v", block.NumberU64(), err)
	}
	h := block.Header()
	if res.Root != h.Root || res.ReceiptHash != h.ReceiptHash || res.GasUsed != h.GasUsed || res.Bloom != h.Bloom {
		t.Fatalf("block %d: Process gives root %s receipts %s gas %d, the builder made %s %s %d",
			block.NumberU64(), res.Root, res.ReceiptHash, res.GasUsed, h.Root, h.ReceiptHash, h.GasUsed)
	}
	if len(res.Receipts) != len(block.Transactions()) {
		t.Fatalf("block %d: %d receipts for %d transactions", block.NumberU64(), len(res.Receipts), len(block.Transactions()))
	}
	var cumulative uint64
	for i, r := range res.Receipts {
		cumulative += r.GasUsed
		if r.CumulativeGasUsed != cumulative {
			t.Fatalf("block %d receipt %d: cumulative gas %d, want %d", block.NumberU64(), i, r.CumulativeGasUsed, cumulative)
		}
	}
	if cumulative != h.GasUsed {
		t.Fatalf("block %d: receipts use %d gas, header says %d", block.NumberU64(), cumulative, h.GasUsed)
	}
	return res.Receipts
}

// word is a 32-byte big-endian storage value.
func word(v uint64) common.Hash { return common.BigToHash(new(big.Int).SetUint64(v)) }

// p256Good is go-ethereum's "CallP256Verify" vector for the P-256 verifier
// precompile (RIP-7212 / EIP-7951): message hash ‖ r ‖ s ‖ x ‖ y.
const p256Good = "4cee90eb86eaa050036147a12d49004b6b9c72bd725d39d4785011fe190f0b4d" + // hash
	"a73bd4903f0ce3b639bbbf6e8e80d16931ff4bcf5993d58468e8fb19086e8cac" + // r
	"36dbcd03009df8c59286b162af3bd7fcc0450c9aa81be5d10d312af6c66b1d60" + // s
	"4aebd3099c618202fcfe16ae7770b0c49ab5eadf74b754204a3bb6060e44eff3" + // x
	"7618b065f9832de4ca6ca971a7a1adc826d0f7c00181a5fb2ddf79ae00b4e10e" // y

// p256Inputs returns the good vector (checked with crypto/ecdsa, so the test
// does not trust go-ethereum for it) and the same with the hash altered.
func p256Inputs(t *testing.T) (good, bad []byte) {
	t.Helper()
	good, err := hex.DecodeString(p256Good)
	if err != nil || len(good) != 160 {
		t.Fatalf("p256 vector: %d bytes, %v", len(good), err)
	}
	pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(good[96:128]), Y: new(big.Int).SetBytes(good[128:160])}
	r, s := new(big.Int).SetBytes(good[32:64]), new(big.Int).SetBytes(good[64:96])
	if !ecdsa.Verify(pub, good[:32], r, s) {
		t.Fatal("p256 vector does not verify with crypto/ecdsa")
	}
	bad = append([]byte(nil), good...)
	bad[0] ^= 1
	if ecdsa.Verify(pub, bad[:32], r, s) {
		t.Fatal("altered p256 vector still verifies with crypto/ecdsa")
	}
	return good, bad
}

// opcodeEnv is what an opcode case's expectations may depend on: the
// deploying block 1 and the calling block 2.
type opcodeEnv struct {
	genesis, block1, block2 *types.Block
}

type opcodeCase struct {
	name  string
	code  []byte   // runtime code, deployed in block 1
	calls [][]byte // calldata of each call in block 2, in order; nil: one empty call
	fails bool     // every call is expected to fail (status 0)
	gas   []uint64 // exact gas used by each call; nil: not checked
	// want is the contract's storage after block 2 (slots not listed are
	// checked to be zero up to slot 3).
	want func(e opcodeEnv) map[uint64]common.Hash
}

func opcodeCases(t *testing.T) []opcodeCase {
	good, bad := p256Inputs(t)
	p256Code := asm(t,
		"36",     // CALLDATASIZE          size
		"6000",   // PUSH1 0               calldata offset
		"6000",   // PUSH1 0               memory offset
		"37",     // CALLDATACOPY          memory[0:size] = calldata
		"6020",   // PUSH1 32              retSize
		"60c0",   // PUSH1 0xc0            retOffset (after the 160-byte input)
		"36",     // CALLDATASIZE          argsSize
		"6000",   // PUSH1 0               argsOffset
		"610100", // PUSH2 0x0100          the P256VERIFY precompile
		"5a",     // GAS
		"fa",     // STATICCALL            success
		"600101", // PUSH1 1, ADD          success+1
		"600255", // PUSH1 2, SSTORE       storage[2] = success+1
		"3d",     // RETURNDATASIZE
		"600101", // PUSH1 1, ADD
		"600155", // PUSH1 1, SSTORE       storage[1] = returndatasize+1
		"60c051", // PUSH1 0xc0, MLOAD     the returned word (0 if nothing was returned)
		"600055", // PUSH1 0, SSTORE       storage[0] = returned word
		"00",     // STOP
	)
	return []opcodeCase{
		{
			name: "PUSH0 (0x5f, Shanghai)",
			code: asm(t,
				"602a", // PUSH1 0x2a   value
				"5f",   // PUSH0        slot 0
				"55",   // SSTORE       storage[0] = 0x2a
				"00",   // STOP
			),
			// 21000 + PUSH1 3 + PUSH0 2 + SSTORE of a cold empty slot 22100.
			gas:  []uint64{43105},
			want: func(opcodeEnv) map[uint64]common.Hash { return map[uint64]common.Hash{0: word(0x2a)} },
		},
		{
			name: "MCOPY (0x5e, Cancun)",
			code: asm(t,
				"7f0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20", // PUSH32 0x0102…20
				"6000",   // PUSH1 0
				"52",     // MSTORE               memory[0:32] = 0x0102…20
				"6020",   // PUSH1 32             length
				"6000",   // PUSH1 0              source
				"6020",   // PUSH1 32             destination
				"5e",     // MCOPY                memory[32:64] = memory[0:32]
				"602051", // PUSH1 32, MLOAD
				"600055", // PUSH1 0, SSTORE      storage[0] = memory[32:64]
				"59",     // MSIZE                64
				"600155", // PUSH1 1, SSTORE      storage[1] = 64
				"6020",   // PUSH1 32             length
				"6000",   // PUSH1 0              source
				"6001",   // PUSH1 1              destination (overlaps the source)
				"5e",     // MCOPY                memmove: memory[1:33] = old memory[0:32]
				"600051", // PUSH1 0, MLOAD
				"600255", // PUSH1 2, SSTORE      storage[2] = 0x01 0x01 0x02 … 0x1f
				"00",     // STOP
			),
			want: func(opcodeEnv) map[uint64]common.Hash {
				return map[uint64]common.Hash{
					0: common.HexToHash("0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"),
					1: word(64),
					2: common.HexToHash("0x010102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
				}
			},
		},
		{
			name: "TSTORE/TLOAD (0x5d/0x5c, Cancun), not kept across transactions",
			code: asm(t,
				"36",     // CALLDATASIZE
				"6010",   // PUSH1 0x10           the JUMPDEST below
				"57",     // JUMPI                calldata given: second part
				"602a",   // PUSH1 0x2a           value
				"6000",   // PUSH1 0              key
				"5d",     // TSTORE               transient[0] = 0x2a
				"60005c", // PUSH1 0, TLOAD
				"600055", // PUSH1 0, SSTORE      storage[0] = transient[0]
				"00",     // STOP
				"5b",     // JUMPDEST (0x10)
				"60005c", // PUSH1 0, TLOAD       transient[0], fresh in this transaction
				"600101", // PUSH1 1, ADD
				"600155", // PUSH1 1, SSTORE      storage[1] = transient[0]+1
				"00",     // STOP
			),
			// The first call stores, the second (a later transaction in the
			// same block) must find transient storage empty again.
			calls: [][]byte{nil, {0x01}},
			// 21000 + 2+3+10+3+3+100(TSTORE)+3+100(TLOAD)+3+22100;
			// 21000 + 16 (one non-zero calldata byte) + 2+3+10+1+3+100+3+3+3+22100.
			gas: []uint64{43327, 43244},
			want: func(opcodeEnv) map[uint64]common.Hash {
				return map[uint64]common.Hash{0: word(0x2a), 1: word(1)}
			},
		},
		{
			name: "CLZ (0x1e, Osaka)",
			code: asm(t,
				"6001",   // PUSH1 1
				"1e",     // CLZ                  255
				"600055", // PUSH1 0, SSTORE      storage[0] = clz(1)
				"6000",   // PUSH1 0
				"1e",     // CLZ                  256
				"600155", // PUSH1 1, SSTORE      storage[1] = clz(0)
				"7f00000fffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // PUSH32 2^236-1
				"1e",     // CLZ                  20
				"600255", // PUSH1 2, SSTORE      storage[2] = clz(2^236-1)
				"00",     // STOP
			),
			want: func(opcodeEnv) map[uint64]common.Hash {
				return map[uint64]common.Hash{0: word(255), 1: word(256), 2: word(20)}
			},
		},
		{
			name:  "P256VERIFY precompile 0x100 (EIP-7951), valid signature",
			code:  p256Code,
			calls: [][]byte{good},
			want: func(opcodeEnv) map[uint64]common.Hash {
				return map[uint64]common.Hash{0: word(1), 1: word(33), 2: word(2)}
			},
		},
		{
			name:  "P256VERIFY precompile 0x100 (EIP-7951), altered hash",
			code:  p256Code,
			calls: [][]byte{bad},
			want: func(opcodeEnv) map[uint64]common.Hash {
				// The call succeeds and returns nothing.
				return map[uint64]common.Hash{1: word(1), 2: word(2)}
			},
		},
		{
			name:  "P256VERIFY precompile 0x100 (EIP-7951), 159-byte input",
			code:  p256Code,
			calls: [][]byte{good[:159]},
			want: func(opcodeEnv) map[uint64]common.Hash {
				return map[uint64]common.Hash{1: word(1), 2: word(2)}
			},
		},
		{
			name: "PREVRANDAO (0x44) is the mix digest",
			code: asm(t,
				"44",     // PREVRANDAO
				"600055", // PUSH1 0, SSTORE      storage[0] = prevrandao
				"00",     // STOP
			),
			gas: []uint64{43105},
			want: func(e opcodeEnv) map[uint64]common.Hash {
				return map[uint64]common.Hash{0: e.block2.MixDigest()}
			},
		},
		{
			name: "BASEFEE (0x48)",
			code: asm(t,
				"48",     // BASEFEE
				"600055", // PUSH1 0, SSTORE      storage[0] = basefee
				"00",     // STOP
			),
			want: func(e opcodeEnv) map[uint64]common.Hash {
				return map[uint64]common.Hash{0: common.BigToHash(e.block2.BaseFee())}
			},
		},
		{
			name: "BLOCKHASH (0x40) of the parent and grandparent",
			code: asm(t,
				"6001",   // PUSH1 1
				"43",     // NUMBER
				"03",     // SUB                  number-1
				"40",     // BLOCKHASH
				"600055", // PUSH1 0, SSTORE      storage[0] = parent hash
				"6002",   // PUSH1 2
				"43",     // NUMBER
				"03",     // SUB                  number-2
				"40",     // BLOCKHASH
				"600155", // PUSH1 1, SSTORE      storage[1] = grandparent hash
				"43",     // NUMBER
				"40",     // BLOCKHASH            0: the current block has no hash yet
				"600101", // PUSH1 1, ADD
				"600255", // PUSH1 2, SSTORE      storage[2] = 1
				"00",     // STOP
			),
			want: func(e opcodeEnv) map[uint64]common.Hash {
				return map[uint64]common.Hash{0: e.block1.Hash(), 1: e.genesis.Hash(), 2: word(1)}
			},
		},
		{
			name: "EIP-2935 history contract holds the parent hash",
			code: asm(t,
				"6001",   // PUSH1 1
				"43",     // NUMBER
				"03",     // SUB                  number-1
				"600052", // PUSH1 0, MSTORE      memory[0:32] = number-1 (the calldata)
				"6020",   // PUSH1 32             retSize
				"6000",   // PUSH1 0              retOffset
				"6020",   // PUSH1 32             argsSize
				"6000",   // PUSH1 0              argsOffset
				"730000f90827f1c53a10cb7a02335b175320002935", // PUSH20 the history contract
				"5a",     // GAS
				"fa",     // STATICCALL           success
				"600155", // PUSH1 1, SSTORE      storage[1] = success
				"600051", // PUSH1 0, MLOAD
				"600055", // PUSH1 0, SSTORE      storage[0] = returned hash
				"00",     // STOP
			),
			want: func(e opcodeEnv) map[uint64]common.Hash {
				return map[uint64]common.Hash{0: e.block1.Hash(), 1: word(1)}
			},
		},
		{
			name: "SLOTNUM (0x4b, Amsterdam) stays off",
			code: asm(t,
				"4b",     // SLOTNUM              invalid before Amsterdam
				"600055", // PUSH1 0, SSTORE
				"00",     // STOP
			),
			fails: true,
			want:  func(opcodeEnv) map[uint64]common.Hash { return nil },
		},
	}
}

// TestOpcodesOnPoWHeaders deploys each case's contract in block 1, calls it
// in block 2 and checks the receipts and the contract's storage.
func TestOpcodesOnPoWHeaders(t *testing.T) {
	cases := opcodeCases(t)
	g, gen := newGenerator(t, chaingen.GenesisOptions{})
	const deployer, caller = 0, 1

	addrs := make([]common.Address, len(cases))
	blocks, err := gen.Chain(gen.Genesis(), 1, func(bg *chaingen.BlockGen) {
		for i, c := range cases {
			nonce := bg.Nonce(chaingen.Addr(deployer))
			addrs[i] = crypto.CreateAddress(chaingen.Addr(deployer), nonce)
			bg.AddTx(signTx(t, gen, deployer, nonce, nil, nil, initcode(t, c.code), 500_000, gwei, feeCapFor(bg.BaseFee())))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	block1 := blocks[0]
	type callRef struct{ c, tx int }
	var callOrder []callRef
	blocks, err = gen.Chain(block1, 1, func(bg *chaingen.BlockGen) {
		for i, c := range cases {
			calls := c.calls
			if calls == nil {
				calls = [][]byte{nil}
			}
			for j, data := range calls {
				tx := signTx(t, gen, caller, bg.Nonce(chaingen.Addr(caller)), &addrs[i], nil, data, 200_000, gwei, feeCapFor(bg.BaseFee()))
				bg.AddTx(tx)
				callOrder = append(callOrder, callRef{i, j})
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	block2 := blocks[0]
	env := opcodeEnv{genesis: gen.Genesis(), block1: block1, block2: block2}

	deployReceipts := reprocess(t, g, gen, env.genesis, block1)
	callReceipts := reprocess(t, g, gen, block1, block2)
	st := stateOf(t, gen, block2)

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if r := deployReceipts[i]; r.Status != types.ReceiptStatusSuccessful || r.ContractAddress != addrs[i] {
				t.Fatalf("deployment: status %d, address %s, want success at %s", r.Status, r.ContractAddress, addrs[i])
			}
			if got := st.GetCode(addrs[i]); string(got) != string(c.code) {
				t.Fatalf("deployed code %x, want %x", got, c.code)
			}
			for k, ref := range callOrder {
				if ref.c != i {
					continue
				}
				r := callReceipts[k]
				want := uint64(types.ReceiptStatusSuccessful)
				if c.fails {
					want = types.ReceiptStatusFailed
				}
				if r.Status != want {
					t.Errorf("call %d: status %d, want %d", ref.tx, r.Status, want)
				}
				if c.gas != nil && r.GasUsed != c.gas[ref.tx] {
					t.Errorf("call %d: gas used %d, want %d", ref.tx, r.GasUsed, c.gas[ref.tx])
				}
			}
			want := c.want(env)
			for slot := uint64(0); slot <= 3; slot++ {
				if got := st.GetState(addrs[i], word(slot)); got != want[slot] {
					t.Errorf("storage[%d] = %s, want %s", slot, got, want[slot])
				}
			}
		})
	}

	// The history contract itself: slot (n-1) % 8191 holds block n-1's hash.
	for _, b := range []*types.Block{env.genesis, block1} {
		slot := word(b.NumberU64() % gparams.HistoryServeWindow)
		if got := st.GetState(gparams.HistoryStorageAddress, slot); got != b.Hash() {
			t.Errorf("history contract slot %d = %s, want block %d's hash %s", b.NumberU64(), got, b.NumberU64(), b.Hash())
		}
	}
	// 0x44 read DIFFICULTY before the merge rules: on our headers it must
	// not.
	if mix := block2.MixDigest(); mix == (common.Hash{}) || mix == common.BigToHash(block2.Difficulty()) {
		t.Errorf("block 2 mix digest %s: want the parent's PoW hash, not zero or the difficulty", mix)
	}
}

// TestPostMergeRulesNeedRandom is the control for every opcode test: the
// same PUSH0 code on the same PoW header fails as an invalid opcode when
// the block context's Random is nil (what core.NewEVMBlockContext gives a
// header with non-zero difficulty), and runs with our processor's context.
func TestPostMergeRulesNeedRandom(t *testing.T) {
	g, gen := newGenerator(t, chaingen.GenesisOptions{})
	blocks, err := gen.Chain(gen.Genesis(), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	header := blocks[0].Header()
	proc := execution.NewProcessor(g.Config(), g.Pow.BlockReward)
	code := asm(t,
		"602a", // PUSH1 0x2a
		"5f",   // PUSH0
		"55",   // SSTORE   storage[0] = 0x2a
		"00",   // STOP
	)
	contract := common.HexToAddress("0xc0de")
	cases := []struct {
		name   string
		random bool
		osaka  bool
	}{
		{"Random from the mix digest (our processor)", true, true},
		{"Random nil (go-ethereum's context for a PoW header)", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := stateOf(t, gen, gen.Genesis())
			st.SetCode(contract, code, tracing.CodeChangeUnspecified)
			ctx := proc.BlockContext(header, gen)
			if ctx.Random == nil || *ctx.Random != header.MixDigest {
				t.Fatalf("processor context Random %v, want the mix digest %s", ctx.Random, header.MixDigest)
			}
			if !c.random {
				ctx.Random = nil
			}
			evm := vm.NewEVM(ctx, st, g.Config(), vm.Config{})
			if got := evm.GetRules().IsOsaka; got != c.osaka {
				t.Fatalf("IsOsaka %v, want %v", got, c.osaka)
			}
			_, _, err := evm.Call(chaingen.Addr(0), contract, nil, vm.NewGasBudget(100_000, 0), new(uint256.Int))
			var invalid *vm.ErrInvalidOpCode
			switch {
			case c.random && err != nil:
				t.Fatalf("call failed: %v", err)
			case c.random && st.GetState(contract, word(0)) != word(0x2a):
				t.Fatalf("storage[0] = %s, want 0x2a", st.GetState(contract, word(0)))
			case !c.random && !errors.As(err, &invalid):
				t.Fatalf("call error %v, want an invalid opcode", err)
			}
		})
	}
}

// supply sums every balance in a state by walking its whole account trie.
type supply struct {
	total *big.Int
	bad   string
}

func (s *supply) OnRoot(common.Hash) {}

func (s *supply) OnAccount(_ *common.Address, a state.DumpAccount) {
	v, ok := new(big.Int).SetString(a.Balance, 10)
	if !ok {
		s.bad = a.Balance
		return
	}
	s.total.Add(s.total, v)
}

func totalSupply(t *testing.T, st *state.StateDB) *big.Int {
	t.Helper()
	s := &supply{total: new(big.Int)}
	if _, err := st.DumpToCollector(s, &state.DumpConfig{SkipCode: true, SkipStorage: true}); err != nil {
		t.Fatalf("walk state: %v", err)
	}
	if s.bad != "" {
		t.Fatalf("unparsable balance %q", s.bad)
	}
	return s.total
}

// TestFeesAndReward checks the money of a block to the wei: the base fee is
// burned, the priority fee (capped by the fee cap) and the fixed block
// reward go to the coinbase, senders pay value plus gas used times the
// effective gas price.
func TestFeesAndReward(t *testing.T) {
	g, gen := newGenerator(t, chaingen.GenesisOptions{})
	reward := g.Pow.BlockReward
	if want := new(big.Int).Mul(big.NewInt(2), chaingen.Ether); reward.Cmp(want) != 0 {
		t.Fatalf("genesis block reward %v, want the default 2 ether", reward)
	}
	coinbase := common.HexToAddress("0xc014ba5e")
	type transfer struct {
		from    int
		to      common.Address
		value   *big.Int
		tip     *big.Int
		overFee *big.Int // fee cap = base fee + overFee
		wantTip *big.Int // effective priority fee per gas
	}
	cases := []struct {
		name string
		txs  []transfer
	}{
		{name: "empty block: the reward only"},
		{name: "two transfers, the second's tip capped by its fee cap", txs: []transfer{
			{from: 0, to: chaingen.Addr(2), value: chaingen.Ether, tip: gwei, overFee: big.NewInt(5 * gparams.GWei), wantTip: gwei},
			{from: 1, to: chaingen.Addr(3), value: big.NewInt(12345), tip: big.NewInt(5 * gparams.GWei / 2), overFee: big.NewInt(2 * gparams.GWei), wantTip: big.NewInt(2 * gparams.GWei)},
		}},
		{name: "zero tip", txs: []transfer{
			{from: 0, to: chaingen.Addr(1), value: big.NewInt(1), tip: new(big.Int), overFee: gwei, wantTip: new(big.Int)},
		}},
	}
	genesis := gen.Genesis()
	before := stateOf(t, gen, genesis)
	supplyBefore := totalSupply(t, before)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			blocks, err := gen.Chain(genesis, 1, func(bg *chaingen.BlockGen) {
				bg.SetCoinbase(coinbase)
				for _, tr := range c.txs {
					to := tr.to
					feeCap := new(big.Int).Add(bg.BaseFee(), tr.overFee)
					bg.AddTx(signTx(t, gen, tr.from, bg.Nonce(chaingen.Addr(tr.from)), &to, tr.value, nil, 21_000, tr.tip, feeCap))
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			block := blocks[0]
			baseFee := block.BaseFee()
			receipts := reprocess(t, g, gen, genesis, block)
			after := stateOf(t, gen, block)

			var gasUsed uint64
			tips := new(big.Int)
			paid := map[common.Address]*big.Int{} // balance change per account, except the coinbase
			change := func(a common.Address, d *big.Int) {
				if paid[a] == nil {
					paid[a] = new(big.Int)
				}
				paid[a].Add(paid[a], d)
			}
			for i, tr := range c.txs {
				r := receipts[i]
				price := new(big.Int).Add(baseFee, tr.wantTip)
				if r.Status != types.ReceiptStatusSuccessful || r.GasUsed != 21_000 {
					t.Errorf("receipt %d: status %d gas %d, want success and 21000", i, r.Status, r.GasUsed)
				}
				gasUsed += 21_000
				tips.Add(tips, new(big.Int).Mul(big.NewInt(21_000), tr.wantTip))
				cost := new(big.Int).Mul(big.NewInt(21_000), price)
				change(chaingen.Addr(tr.from), new(big.Int).Neg(new(big.Int).Add(tr.value, cost)))
				change(tr.to, tr.value)
			}
			if block.GasUsed() != gasUsed {
				t.Errorf("header gas used %d, want %d", block.GasUsed(), gasUsed)
			}
			for a, d := range paid {
				got := new(big.Int).Sub(after.GetBalance(a).ToBig(), before.GetBalance(a).ToBig())
				if got.Cmp(d) != 0 {
					t.Errorf("%s: balance changed by %v, want %v", a, got, d)
				}
			}
			wantCoinbase := new(big.Int).Add(reward, tips)
			if got := after.GetBalance(coinbase).ToBig(); got.Cmp(wantCoinbase) != 0 {
				t.Errorf("coinbase holds %v, want reward %v + tips %v = %v", got, reward, tips, wantCoinbase)
			}
			burned := new(big.Int).Mul(baseFee, new(big.Int).SetUint64(gasUsed))
			wantSupply := new(big.Int).Sub(new(big.Int).Add(supplyBefore, reward), burned)
			if got := totalSupply(t, after); got.Cmp(wantSupply) != 0 {
				t.Errorf("total supply %v, want %v + reward %v - burned %v = %v", got, supplyBefore, reward, burned, wantSupply)
			}
		})
	}
}

// TestRefusedTransactions: a blob transaction and one over the EIP-7825
// gas cap are refused both by the builder (the miner's path) and by
// Process (the import path); one exactly at the cap is accepted.
func TestRefusedTransactions(t *testing.T) {
	g, gen := newGenerator(t, chaingen.GenesisOptions{})
	genesis := gen.Genesis()
	blocks, err := gen.Chain(genesis, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	template := blocks[0] // a valid block 1 header to build on
	proc := execution.NewProcessor(g.Config(), g.Pow.BlockReward)
	to := chaingen.Addr(3)
	feeCap := feeCapFor(template.BaseFee())

	blob, err := types.SignTx(types.NewTx(&types.BlobTx{
		ChainID: uint256.NewInt(1337), Nonce: 0, GasTipCap: uint256.MustFromBig(gwei),
		GasFeeCap: uint256.MustFromBig(feeCap), Gas: 21_000, To: to, Value: new(uint256.Int),
		BlobFeeCap: uint256.NewInt(1), BlobHashes: []common.Hash{{0x01}},
	}), gen.Signer(), chaingen.Key(0))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		tx      *types.Transaction
		wantErr error // nil: accepted
	}{
		{"blob (type-3) transaction", blob, execution.ErrBlobTx},
		{"gas limit 2^24+1, over the EIP-7825 cap", signTx(t, gen, 0, 0, &to, nil, nil, gparams.MaxTxGas+1, gwei, feeCap), core.ErrGasLimitTooHigh},
		{"gas limit 2^24, at the EIP-7825 cap", signTx(t, gen, 0, 0, &to, nil, nil, gparams.MaxTxGas, gwei, feeCap), nil},
	}
	if gparams.MaxTxGas != 1<<24 {
		t.Fatalf("go-ethereum's MaxTxGas is %d, the tests assume 2^24", gparams.MaxTxGas)
	}
	for _, c := range cases {
		t.Run(c.name+"/Builder.Add", func(t *testing.T) {
			st := stateOf(t, gen, genesis)
			b := proc.NewBuilder(types.CopyHeader(template.Header()), st, gen)
			_, err := b.Add(c.tx)
			if c.wantErr == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				b.Abort()
				return
			}
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("Add error %v, want %v", err, c.wantErr)
			}
			if b.Count() != 0 || st.GetNonce(chaingen.Addr(0)) != 0 || b.GasLeft() != template.GasLimit() {
				t.Fatalf("refused tx left a trace: count %d, nonce %d, gas left %d of %d", b.Count(), st.GetNonce(chaingen.Addr(0)), b.GasLeft(), template.GasLimit())
			}
			// The builder stays usable.
			if _, err := b.Add(signTx(t, gen, 0, 0, &to, nil, nil, 21_000, gwei, feeCap)); err != nil {
				t.Fatalf("valid transfer after the refused one: %v", err)
			}
			block, res := b.Finish()
			if len(block.Transactions()) != 1 || res.GasUsed != 21_000 {
				t.Fatalf("block has %d txs and %d gas, want 1 and 21000", len(block.Transactions()), res.GasUsed)
			}
		})
		t.Run(c.name+"/Processor.Process", func(t *testing.T) {
			first := signTx(t, gen, 1, 0, &to, nil, nil, 21_000, gwei, feeCap)
			block := template.WithBody(types.Body{Transactions: types.Transactions{first, c.tx}, Withdrawals: []*types.Withdrawal{}})
			res, err := proc.Process(block, stateOf(t, gen, genesis), gen)
			if c.wantErr == nil {
				if err != nil || res.GasUsed != 42_000 {
					t.Fatalf("Process: %v, gas %v; want success with 42000 gas", err, res)
				}
				return
			}
			var te *execution.TxError
			if !errors.As(err, &te) || te.Index != 1 || te.Hash != c.tx.Hash() || !errors.Is(err, c.wantErr) {
				t.Fatalf("Process error %v, want a TxError for transaction 1 (%s) wrapping %v", err, c.tx.Hash(), c.wantErr)
			}
		})
	}
}

// TestFailedTxLeavesBlockGas: a transaction the builder refuses after go-
// ethereum reserved its gas in the block's gas pool (here: the sender
// cannot pay for it) must give that gas back, or the header's gas used
// would count a transaction the block does not hold and every peer would
// reject the mined block.
func TestFailedTxLeavesBlockGas(t *testing.T) {
	g, gen := newGenerator(t, chaingen.GenesisOptions{Accounts: 2})
	genesis := gen.Genesis()
	poor := 7 // chaingen.Key(7) holds nothing
	blocks, err := gen.Chain(genesis, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	template := blocks[0]
	proc := execution.NewProcessor(g.Config(), g.Pow.BlockReward)
	feeCap := feeCapFor(template.BaseFee())
	to := chaingen.Addr(1)

	b := proc.NewBuilder(types.CopyHeader(template.Header()), stateOf(t, gen, genesis), gen)
	if _, err := b.Add(signTx(t, gen, poor, 0, &to, nil, nil, 100_000, gwei, feeCap)); !errors.Is(err, core.ErrInsufficientFunds) {
		t.Fatalf("Add from an empty account: %v, want %v", err, core.ErrInsufficientFunds)
	}
	if b.GasLeft() != template.GasLimit() {
		t.Errorf("gas left %d after a refused transaction, want the whole %d", b.GasLeft(), template.GasLimit())
	}
	if _, err := b.Add(signTx(t, gen, 0, 0, &to, nil, nil, 21_000, gwei, feeCap)); err != nil {
		t.Fatal(err)
	}
	block, res := b.Finish()
	if res.GasUsed != 21_000 || block.GasUsed() != 21_000 || res.Receipts[0].CumulativeGasUsed != 21_000 {
		t.Fatalf("gas used: result %d, header %d, receipt %d; want 21000 each", res.GasUsed, block.GasUsed(), res.Receipts[0].CumulativeGasUsed)
	}
	// The import path agrees with the builder.
	again, err := proc.Process(block, stateOf(t, gen, genesis), gen)
	if err != nil {
		t.Fatal(err)
	}
	if again.GasUsed != block.GasUsed() || again.Root != block.Root() {
		t.Fatalf("Process: gas %d root %s; builder: gas %d root %s", again.GasUsed, again.Root, block.GasUsed(), block.Root())
	}
}
