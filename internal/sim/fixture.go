package sim

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	gosync "sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/event"
	"github.com/ethereum/go-ethereum/trie"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/execution"
	"github.com/peerchain/peerchain/internal/params"
	"github.com/peerchain/peerchain/internal/pow"
	"github.com/peerchain/peerchain/internal/txpool"
)

// txData is the calldata of each pre-signed transaction: a 1 MiB block
// holds about 940 of them, near what an Ethereum block holds in count.
const txData = 1000

// txWindows is how many consecutive heights carry distinct transactions;
// blocks at the same height (competing miners) carry the same ones, as
// miners drawing on one mempool would. 4 windows of a 1 MiB block's
// transactions fit in one pooled-hashes answer (sync's limit: 4,096), so a
// miner can hear them all from one peer.
const txWindows = 4

// Fixture is what every run of a block size shares, built once outside
// the synctest bubble: the genesis, the validator and the pre-signed
// transactions.
type Fixture struct {
	genesis   *params.Genesis
	validator *chain.Validator
	costs     Costs
	txs       []*types.Transaction // txWindows × perBlock, signed once
	perBlock  int
	byHash    map[common.Hash]*types.Transaction
}

// NewFixture builds the genesis (target block time blockTime, a tiny
// difficulty so sealing is real and cheap) and signs enough 1 KB-calldata
// transactions for blocks of about blockBytes.
func NewFixture(blockTime time.Duration, blockBytes int, costs Costs) (*Fixture, error) {
	key, err := crypto.ToECDSA(crypto.Keccak256([]byte("peerchain sim")))
	if err != nil {
		return nil, err
	}
	from := crypto.PubkeyToAddress(key.PublicKey)
	spec := &core.Genesis{
		Config: params.NewChainConfig(big.NewInt(1337)),
		// Before synctest's virtual epoch (2000-01-01 UTC), so that block
		// timestamps taken from the bubble's clock are after genesis.
		Timestamp:  946_684_000,
		GasLimit:   100_000_000,
		Difficulty: big.NewInt(64),
		Alloc:      types.GenesisAlloc{from: {Balance: new(big.Int).Lsh(big.NewInt(1), 100)}},
	}
	pc := params.DefaultPowConfig()
	pc.TargetBlockTime = max(1, uint64(blockTime/time.Second))
	pc.DifficultyHalfLife = max(600, pc.TargetBlockTime)
	pc.MinimumDifficulty = big.NewInt(16)
	g, err := params.NewGenesis(spec, pc)
	if err != nil {
		return nil, fmt.Errorf("sim genesis: %w", err)
	}
	fx := &Fixture{genesis: g, costs: costs, byHash: make(map[common.Hash]*types.Transaction)}
	// time.Now is read at each check: inside the bubble it is virtual.
	fx.validator = chain.NewValidator(g, time.Now)
	signer := types.LatestSigner(g.Config())
	fx.perBlock = max(1, blockBytes/(txData+110))
	data := make([]byte, txData)
	for i := range data {
		data[i] = byte(i%251 + 1) // non-zero bytes: calldata at full price
	}
	to := common.HexToAddress("0x5151")
	for n := 0; n < txWindows*fx.perBlock; n++ {
		tx, err := types.SignNewTx(key, signer, &types.DynamicFeeTx{
			ChainID: g.Config().ChainID, Nonce: uint64(n), GasTipCap: big.NewInt(1),
			GasFeeCap: big.NewInt(1e12), Gas: 21_000 + 40*txData, To: &to, Value: big.NewInt(1), Data: data,
		})
		if err != nil {
			return nil, fmt.Errorf("sign sim transaction %d: %w", n, err)
		}
		fx.txs = append(fx.txs, tx)
		fx.byHash[tx.Hash()] = tx
	}
	return fx, nil
}

// TxsPerBlock is how many transactions each block carries.
func (fx *Fixture) TxsPerBlock() int { return fx.perBlock }

// Costs returns the charged CPU costs.
func (fx *Fixture) Costs() Costs { return fx.costs }

// txsAt are the transactions of blocks at height number.
func (fx *Fixture) txsAt(number uint64) []*types.Transaction {
	w := int(number % txWindows)
	return fx.txs[w*fx.perBlock : (w+1)*fx.perBlock]
}

// mine builds and seals a block on c's head, as peer miner would at now.
func (fx *Fixture) mine(ctx context.Context, c *Chain, miner int, now time.Time) (*types.Block, error) {
	c.mu.Lock()
	parent, anchor := c.mu.head, c.mu.anchor[c.mu.head.Hash()]
	c.mu.Unlock()
	ph := parent.Header()
	t := max(uint64(now.Unix()), chain.MedianTime(ph, c)+1)
	h := execution.ChildHeader(fx.genesis.Config(), ph, execution.ChildOptions{
		Coinbase:   common.BigToAddress(big.NewInt(int64(0x10000 + miner))),
		Time:       t,
		Difficulty: fx.validator.NextDifficulty(ph, anchor),
		GasLimit:   ph.GasLimit,
	})
	txs := fx.txsAt(h.Number.Uint64())
	for _, tx := range txs {
		h.GasUsed += tx.Gas()
	}
	h.GasUsed = min(h.GasUsed, h.GasLimit)
	b := types.NewBlock(h, &types.Body{Transactions: txs, Withdrawals: []*types.Withdrawal{}}, nil, trie.NewStackTrie(nil))
	sealed, err := pow.NewSealer(1).Seal(ctx, b.Header(), uint64(miner)<<32)
	if err != nil {
		return nil, fmt.Errorf("seal block %d: %w", h.Number, err)
	}
	return b.WithSeal(sealed), nil
}

// blockStore keeps one copy of each block for every peer of a run.
type blockStore struct {
	mu     gosync.Mutex
	blocks map[common.Hash]*types.Block
}

func newBlockStore() *blockStore {
	return &blockStore{blocks: make(map[common.Hash]*types.Block)}
}

func (s *blockStore) intern(b *types.Block) *types.Block {
	s.mu.Lock()
	defer s.mu.Unlock()
	if have, ok := s.blocks[b.Hash()]; ok {
		return have
	}
	s.blocks[b.Hash()] = b
	return b
}

func (s *blockStore) get(hash common.Hash) *types.Block {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blocks[hash]
}

// Pool is a peer's transaction pool. When a scenario fills pools, every
// peer but the miners holds the run's pre-signed transactions from the
// start (they reached it by gossip earlier), and a miner hears them over
// the network during the warm-up, through sync's real pooled-transactions
// exchange on connect. That matters for compact relay, which prefills the
// transactions its publisher did not hear from peers, and looks up the
// others among the pool's pending transactions. Otherwise pools start
// empty.
type Pool struct {
	prefilled []*types.Transaction // shared, read-only; nil when empty
	byHash    map[common.Hash]*types.Transaction
	feed      event.Feed

	mu    gosync.Mutex
	heard []*types.Transaction
	known map[common.Hash]*types.Transaction
}

func newPool(fx *Fixture, full bool) *Pool {
	p := &Pool{known: make(map[common.Hash]*types.Transaction)}
	if full {
		p.prefilled, p.byHash = fx.txs, fx.byHash
	}
	return p
}

// AddRemote keeps transactions heard from peers.
func (p *Pool) AddRemote(txs []*types.Transaction) []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, tx := range txs {
		if _, ok := p.known[tx.Hash()]; !ok {
			p.known[tx.Hash()] = tx
			p.heard = append(p.heard, tx)
		}
	}
	return make([]error, len(txs))
}

// Heard is how many transactions the pool took from peers.
func (p *Pool) Heard() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.heard)
}

// Get returns a transaction the pool holds, or nil.
func (p *Pool) Get(hash common.Hash) *types.Transaction {
	if tx, ok := p.byHash[hash]; ok {
		return tx
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.known[hash]
}

// Pending is every transaction the pool holds, under one sender (the
// fixture's).
func (p *Pool) Pending(*big.Int) map[common.Address][]*types.Transaction {
	p.mu.Lock()
	txs := append(slices.Clip(p.prefilled), p.heard...)
	p.mu.Unlock()
	if len(txs) == 0 {
		return nil
	}
	return map[common.Address][]*types.Transaction{{}: txs}
}

// SubscribeNewTxs never fires: the simulation publishes no transactions.
func (p *Pool) SubscribeNewTxs(ch chan<- txpool.NewTxsEvent) event.Subscription {
	return p.feed.Subscribe(ch)
}
