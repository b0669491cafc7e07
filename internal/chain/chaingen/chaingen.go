// Package chaingen builds deterministic test chains: valid sealed blocks
// with transactions, forks from any block, and headers re-sealed after a
// test breaks one rule on purpose. It keeps every generated state in
// memory. It is for tests and benchmarks only; it imports params, pow and
// execution, never chain.
package chaingen

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	gparams "github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/triedb"

	"github.com/peerchain/peerchain/internal/execution"
	"github.com/peerchain/peerchain/internal/params"
	"github.com/peerchain/peerchain/internal/pow"
)

// Key returns the i-th deterministic test key.
func Key(i int) *ecdsa.PrivateKey {
	seed := crypto.Keccak256([]byte(fmt.Sprintf("peerchain test key %d", i)))
	for {
		// A keccak output is a valid scalar with overwhelming probability;
		// hash again in the astronomically unlikely other case.
		if k, err := crypto.ToECDSA(seed); err == nil {
			return k
		}
		seed = crypto.Keccak256(seed)
	}
}

// Addr returns the address of Key(i).
func Addr(i int) common.Address { return crypto.PubkeyToAddress(Key(i).PublicKey) }

// Ether is 10^18 wei.
var Ether = big.NewInt(gparams.Ether)

// GenesisOptions shape a test genesis.
type GenesisOptions struct {
	Accounts   int      // funded test keys (default 4)
	Balance    *big.Int // per account (default 1,000 ether)
	Difficulty int64    // genesis difficulty (default 1024)
	Minimum    int64    // minimum difficulty (default 1)
	BlockTime  uint64   // target block time (default 10)
	HalfLife   uint64   // default 600
	GasLimit   uint64   // default 30,000,000
	Alloc      types.GenesisAlloc
}

// Genesis returns a checked test genesis: chain id 1337, cheap PoW.
func Genesis(o GenesisOptions) (*params.Genesis, error) {
	if o.Accounts == 0 {
		o.Accounts = 4
	}
	if o.Balance == nil {
		o.Balance = new(big.Int).Mul(big.NewInt(1000), Ether)
	}
	if o.Difficulty == 0 {
		o.Difficulty = 1024
	}
	if o.Minimum == 0 {
		o.Minimum = 1
	}
	if o.BlockTime == 0 {
		o.BlockTime = 10
	}
	if o.HalfLife == 0 {
		o.HalfLife = 600
	}
	if o.GasLimit == 0 {
		o.GasLimit = 30_000_000
	}
	alloc := types.GenesisAlloc{}
	for a, acc := range o.Alloc {
		alloc[a] = acc
	}
	for i := 0; i < o.Accounts; i++ {
		alloc[Addr(i)] = types.Account{Balance: new(big.Int).Set(o.Balance)}
	}
	spec := &core.Genesis{
		Config:     params.NewChainConfig(big.NewInt(1337)),
		Timestamp:  1_700_000_000,
		GasLimit:   o.GasLimit,
		Difficulty: big.NewInt(o.Difficulty),
		Alloc:      alloc,
	}
	pc := params.DefaultPowConfig()
	pc.TargetBlockTime, pc.DifficultyHalfLife, pc.MinimumDifficulty = o.BlockTime, o.HalfLife, big.NewInt(o.Minimum)
	return params.NewGenesis(spec, pc)
}

// Generator builds blocks on a genesis.
type Generator struct {
	genesis *params.Genesis
	proc    *execution.Processor
	rule    pow.Rule
	state   state.Database
	blocks  map[common.Hash]*types.Block
	anchors map[common.Hash]uint64
	sealer  *pow.Sealer
	signer  types.Signer
}

// New returns a generator holding genesis's state.
func New(g *params.Genesis) (*Generator, error) {
	mem := rawdb.NewMemoryDatabase()
	sdb := state.NewDatabase(triedb.NewDatabase(mem, triedb.HashDefaults), state.NewCodeDB(mem))
	st, err := state.New(types.EmptyRootHash, sdb)
	if err != nil {
		return nil, err
	}
	root, err := execution.ApplyGenesis(st, g.Spec.Alloc)
	if err != nil {
		return nil, err
	}
	if root != g.Block().Root() {
		return nil, fmt.Errorf("genesis root %s, block says %s", root, g.Block().Root())
	}
	gen := &Generator{
		genesis: g,
		proc:    execution.NewProcessor(g.Config(), g.Pow.BlockReward),
		rule: pow.Rule{TargetBlockTime: g.Pow.TargetBlockTime, HalfLife: g.Pow.DifficultyHalfLife,
			Minimum: g.Pow.MinimumDifficulty, Anchor: g.Spec.Difficulty},
		state:   sdb,
		blocks:  map[common.Hash]*types.Block{g.Block().Hash(): g.Block()},
		anchors: map[common.Hash]uint64{g.Block().Hash(): 0},
		sealer:  pow.NewSealer(1),
		signer:  types.LatestSigner(g.Config()),
	}
	return gen, nil
}

// Genesis returns the genesis block.
func (g *Generator) Genesis() *types.Block { return g.genesis.Block() }

// Signer returns the signer for test transactions.
func (g *Generator) Signer() types.Signer { return g.signer }

// GetHeader implements execution.HeaderReader over generated blocks.
func (g *Generator) GetHeader(hash common.Hash, number uint64) *types.Header {
	b, ok := g.blocks[hash]
	if !ok || b.NumberU64() != number {
		return nil
	}
	return b.Header()
}

// State returns a copy of the state after block.
func (g *Generator) State(block *types.Block) (*state.StateDB, error) {
	return state.New(block.Root(), g.state)
}

// BlockGen is handed to the callback of Chain for each block.
type BlockGen struct {
	g       *Generator
	i       int
	parent  *types.Block
	header  *types.Header
	builder *execution.Builder
	state   *state.StateDB
	err     error
}

// Number is the number of the block being built.
func (b *BlockGen) Number() uint64 { return b.header.Number.Uint64() }

// Index is the position of the block in this Chain call.
func (b *BlockGen) Index() int { return b.i }

// Header gives access to the header before transactions are added (set the
// coinbase, time or extra data first).
func (b *BlockGen) Header() *types.Header { return b.header }

// SetCoinbase sets the block's beneficiary.
func (b *BlockGen) SetCoinbase(a common.Address) { b.header.Coinbase = a }

// SetExtra sets the extra data (distinguishes sibling blocks).
func (b *BlockGen) SetExtra(x []byte) { b.header.Extra = x }

// Nonce returns the next nonce of addr in the block being built.
func (b *BlockGen) Nonce(addr common.Address) uint64 { return b.state.GetNonce(addr) }

// BaseFee returns the block's base fee.
func (b *BlockGen) BaseFee() *big.Int { return b.header.BaseFee }

// AddTx includes tx; an error fails the whole Chain call.
func (b *BlockGen) AddTx(tx *types.Transaction) {
	if b.err != nil {
		return
	}
	if b.builder == nil {
		b.start()
	}
	if _, err := b.builder.Add(tx); err != nil {
		b.err = fmt.Errorf("block %d: add tx %s: %w", b.Number(), tx.Hash(), err)
	}
}

// Transfer adds a signed value transfer from Key(from) to to.
func (b *BlockGen) Transfer(from int, to common.Address, value *big.Int) *types.Transaction {
	tx, err := b.g.Transfer(Key(from), b.Nonce(Addr(from)), to, value, b.header.BaseFee)
	if err != nil {
		b.err = err
		return nil
	}
	b.AddTx(tx)
	return tx
}

// Transfer signs a dynamic-fee transfer paying 1 gwei of tip over baseFee.
func (g *Generator) Transfer(key *ecdsa.PrivateKey, nonce uint64, to common.Address, value, baseFee *big.Int) (*types.Transaction, error) {
	tip := big.NewInt(gparams.GWei)
	tx := types.NewTx(&types.DynamicFeeTx{
		ChainID: g.genesis.ChainID(), Nonce: nonce, GasTipCap: tip,
		GasFeeCap: new(big.Int).Add(new(big.Int).Mul(baseFee, big.NewInt(2)), tip),
		Gas:       21_000, To: &to, Value: value,
	})
	return types.SignTx(tx, g.signer, key)
}

func (b *BlockGen) start() {
	b.builder = b.g.proc.NewBuilder(b.header, b.state, b.g)
}

// Chain builds n blocks on parent, calling gen (may be nil) for each before
// it is sealed. Blocks are deterministic for the same inputs.
func (g *Generator) Chain(parent *types.Block, n int, gen func(*BlockGen)) ([]*types.Block, error) {
	out := make([]*types.Block, 0, n)
	for i := 0; i < n; i++ {
		st, err := g.State(parent)
		if err != nil {
			return nil, fmt.Errorf("state of block %d: %w", parent.NumberU64(), err)
		}
		bg := &BlockGen{g: g, i: i, parent: parent, header: g.nextHeader(parent), state: st}
		if gen != nil {
			gen(bg)
		}
		if bg.err != nil {
			if bg.builder != nil {
				bg.builder.Abort()
			}
			return nil, bg.err
		}
		if bg.builder == nil {
			bg.start()
		}
		block, _ := bg.builder.Finish()
		if _, err := st.Commit(g.proc.Rules(block.Header()), block.NumberU64()); err != nil {
			return nil, err
		}
		sealed, err := g.Seal(block.Header())
		if err != nil {
			return nil, err
		}
		block = block.WithSeal(sealed)
		g.blocks[block.Hash()] = block
		g.anchors[block.Hash()] = anchorOf(g.anchors[parent.Hash()], parent.NumberU64(), block.Time())
		out = append(out, block)
		parent = block
	}
	return out, nil
}

// Headers builds n sealed headers of empty blocks on genesis, fast: no
// state is kept or executed (the state root is genesis's), for header-only
// tests and benchmarks (a light peer verifies headers, not execution).
func (g *Generator) Headers(n int) ([]*types.Header, error) {
	parent := g.genesis.Block().Header()
	anchor := uint64(0)
	out := make([]*types.Header, 0, n)
	for i := 0; i < n; i++ {
		h := execution.ChildHeader(g.genesis.Config(), parent, execution.ChildOptions{
			Time:       parent.Time + g.rule.TargetBlockTime,
			Difficulty: g.rule.Next(parent, anchor),
			GasLimit:   parent.GasLimit,
		})
		h.Root, h.TxHash, h.ReceiptHash = parent.Root, types.EmptyTxsHash, types.EmptyReceiptsHash
		sealed, err := g.Seal(h)
		if err != nil {
			return nil, err
		}
		anchor = anchorOf(anchor, parent.Number.Uint64(), sealed.Time)
		out = append(out, sealed)
		parent = sealed
	}
	return out, nil
}

func anchorOf(parentAnchor, parentNumber, time uint64) uint64 {
	if parentNumber == 0 {
		return time
	}
	return parentAnchor
}

func (g *Generator) nextHeader(parent *types.Block) *types.Header {
	ph := parent.Header()
	return execution.ChildHeader(g.genesis.Config(), ph, execution.ChildOptions{
		Time:       ph.Time + g.rule.TargetBlockTime,
		Difficulty: g.rule.Next(ph, g.anchors[parent.Hash()]),
		GasLimit:   ph.GasLimit,
	})
}

// Seal finds a nonce for h (deterministically, from nonce 0).
func (g *Generator) Seal(h *types.Header) (*types.Header, error) {
	return g.sealer.Seal(context.Background(), h, 0)
}

// Reseal returns block with header replaced by h re-sealed, for tests that
// break one rule and want every other rule to hold.
func (g *Generator) Reseal(block *types.Block, h *types.Header) (*types.Block, error) {
	sealed, err := g.Seal(h)
	if err != nil {
		return nil, err
	}
	return block.WithSeal(sealed), nil
}
