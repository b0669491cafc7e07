package chain

import (
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/lru"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/event"
	gparams "github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/triedb"
	"github.com/ethereum/go-ethereum/triedb/pathdb"

	"github.com/peerchain/peerchain/internal/chaindb"
	"github.com/peerchain/peerchain/internal/execution"
	"github.com/peerchain/peerchain/internal/params"
)

// Config configures a Chain.
type Config struct {
	// Genesis is the chain's genesis. Required.
	Genesis *params.Genesis
	// DB is the peer's database. Required; the caller closes it after
	// Chain.Close.
	DB *chaindb.DB
	// Logger receives chain events. Default: discarded.
	Logger *slog.Logger
	// Now is the local clock (future-timestamp rule). Default: time.Now.
	Now func() time.Time
	// StateHistory is how many recent blocks keep reverse state diffs, the
	// limit of a reorg's depth. Default 90,000.
	StateHistory uint64
	// TrieCacheBytes is the clean trie node cache. Default 32 MiB.
	TrieCacheBytes int
	// StateCacheBytes is the clean flat state cache. Default 32 MiB.
	StateCacheBytes int
	// WriteBufferBytes is how much flattened state is buffered in memory
	// before it is written to disk. Default 64 MiB.
	WriteBufferBytes int
	// FlushInterval writes the whole state to disk every this many blocks,
	// bounding how many blocks a restart after a crash re-executes (state
	// in memory layers is lost by a crash). Default 1024; negative turns
	// periodic flushing off.
	FlushInterval int
	// NoSync skips the fsync of each head change (benchmarks only: a power
	// loss may then lose recent blocks, a process crash still cannot).
	NoSync bool
	// ProofWindow is how many recent blocks keep their state readable and
	// provable (StateAtBlock, TriesAtBlock: eth_getProof, eth_call and the
	// account queries at a block) after it leaves the in-memory layers:
	// pathdb then keeps trie node history for that many blocks and indexes
	// the state and trie node histories. 0 (the default) keeps the plain
	// behaviour: the states of the last 128 blocks, plus the persisted
	// one, and no history index. A window below 128 is raised to 128 (the
	// memory layers serve that many anyway); StateHistory is raised to at
	// least the window.
	ProofWindow uint64
	// OnInsert, if set, is called after every InsertBlock with what it did
	// and its timings (observe.go), on the inserting goroutine with no
	// lock held: it must be quick (a metrics update). Default none.
	OnInsert func(InsertStats)
}

func (c *Config) validate() error {
	if c.Genesis == nil {
		return errors.New("chain config: Genesis is required")
	}
	if c.DB == nil {
		return errors.New("chain config: DB is required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.StateHistory == 0 {
		c.StateHistory = 90_000
	}
	if c.ProofWindow > maxProofWindow {
		return fmt.Errorf("chain config: ProofWindow %d is above the limit of %d blocks", c.ProofWindow, uint64(maxProofWindow))
	}
	if c.ProofWindow > 0 && c.ProofWindow < params.StateRetention {
		c.ProofWindow = params.StateRetention
	}
	if c.StateHistory < c.ProofWindow {
		c.StateHistory = c.ProofWindow
	}
	if c.TrieCacheBytes == 0 {
		c.TrieCacheBytes = 32 << 20
	}
	if c.StateCacheBytes == 0 {
		c.StateCacheBytes = 32 << 20
	}
	if c.WriteBufferBytes == 0 {
		c.WriteBufferBytes = 64 << 20
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = 1024
	}
	return nil
}

// HeadEvent announces a new head. Added lists the blocks that became
// canonical, oldest first, ending with Block; Removed lists the blocks that
// left the canonical chain, newest first (empty unless a reorg happened).
type HeadEvent struct {
	Block   *types.Block
	TD      *big.Int
	Added   []*types.Block
	Removed []*types.Block
}

type head struct {
	block *types.Block
	td    *big.Int
}

// Chain is the block tree and canonical chain of one peer.
type Chain struct {
	cfg     Config
	log     *slog.Logger
	genesis *types.Block
	db      *chaindb.DB
	triedb  *triedb.Database
	state   state.Database
	// historic reads states older than the memory layers through pathdb's
	// indexed histories; nil unless Config.ProofWindow is set.
	historic *state.HistoricDB
	proc     *execution.Processor
	val      *Validator

	// mu serialises every mutation: inserts, reorgs, state rebuilds, Close.
	mu struct {
		sync.Mutex
		closed    bool
		lastFlush uint64       // head number at the last full state flush
		timing    insertTiming // the current insert's timings (observe.go)
	}
	// reexecuted counts blocks run again to rebuild lost state.
	reexecuted atomic.Uint64
	// sendMu keeps head events in insertion order without holding mu
	// while subscribers receive them.
	sendMu sync.Mutex
	heads  event.FeedOf[HeadEvent]

	head    atomic.Pointer[head]
	headers *lru.Cache[common.Hash, *types.Header]
	metas   *lru.Cache[common.Hash, *chaindb.BlockMeta]
	bad     *lru.Cache[common.Hash, *RuleError]
}

// New opens the chain stored in cfg.DB, initialising it with the genesis
// on first use. It fails with a clear error when the data dir belongs to
// another chain.
func New(cfg Config) (*Chain, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	pcfg := *pathdb.Defaults
	pcfg.StateHistory = cfg.StateHistory
	pcfg.TrienodeHistory = -1
	pcfg.TrieCleanSize = cfg.TrieCacheBytes
	pcfg.StateCleanSize = cfg.StateCacheBytes
	pcfg.WriteBufferSize = cfg.WriteBufferBytes
	sdb := cfg.DB.StateDB()
	if err := prepareHistory(cfg.DB, sdb, cfg.ProofWindow, cfg.Logger); err != nil {
		return nil, err
	}
	if cfg.ProofWindow > 0 {
		setHistoryConfig(&pcfg, cfg.ProofWindow)
	}
	tdb := triedb.NewDatabase(sdb, &triedb.Config{PathDB: &pcfg})
	codes := state.NewCodeDB(sdb)
	c := &Chain{
		cfg:     cfg,
		log:     cfg.Logger,
		genesis: cfg.Genesis.Block(),
		db:      cfg.DB,
		triedb:  tdb,
		state:   state.NewDatabase(tdb, codes),
		proc:    execution.NewProcessor(cfg.Genesis.Config(), cfg.Genesis.Pow.BlockReward),
		val:     NewValidator(cfg.Genesis, cfg.Now),
		headers: lru.NewCache[common.Hash, *types.Header](4096),
		metas:   lru.NewCache[common.Hash, *chaindb.BlockMeta](4096),
		bad:     lru.NewCache[common.Hash, *RuleError](1024),
	}
	if cfg.ProofWindow > 0 {
		c.historic = state.NewHistoricDatabase(tdb, codes)
	}
	if err := c.open(); err != nil {
		_ = tdb.Close()
		return nil, err
	}
	return c, nil
}

func (c *Chain) open() error {
	info, err := chaindb.ReadChainInfo(c.db)
	switch {
	case errors.Is(err, chaindb.ErrNotFound):
		if err := c.initGenesis(); err != nil {
			return fmt.Errorf("initialise genesis: %w", err)
		}
	case err != nil:
		return err
	case info.Genesis != c.genesis.Hash():
		return fmt.Errorf("data dir holds chain id %v with genesis %s, but this node runs chain id %v with genesis %s: use another --datadir or the matching --genesis",
			info.ChainID, info.Genesis, c.cfg.Genesis.ChainID(), c.genesis.Hash())
	}
	headHash, err := chaindb.ReadHead(c.db)
	if err != nil {
		return fmt.Errorf("load head: %w", err)
	}
	num, err := chaindb.ReadHeaderNumber(c.db, headHash)
	if err != nil {
		return fmt.Errorf("load head: %w", err)
	}
	block, err := chaindb.ReadBlock(c.db, headHash, num)
	if err != nil {
		return fmt.Errorf("load head: %w", err)
	}
	meta, err := chaindb.ReadBlockMeta(c.db, headHash, num)
	if err != nil {
		return fmt.Errorf("load head: %w", err)
	}
	c.head.Store(&head{block: block, td: meta.TD})
	c.mu.lastFlush = num
	if !c.HasState(block.Root()) {
		start := time.Now()
		c.log.Info("Head state not on disk (unclean shutdown); re-executing blocks", "head", num)
		if err := c.ensureState(block.Header()); err != nil {
			return fmt.Errorf("rebuild head state: %w", err)
		}
		c.log.Info("Head state rebuilt", "head", num, "took", time.Since(start).Round(time.Millisecond))
	}
	c.log.Info("Chain loaded", "head", num, "hash", headHash, "td", meta.TD, "genesis", c.genesis.Hash())
	return nil
}

// initGenesis writes the genesis state and block into an empty data dir.
func (c *Chain) initGenesis() error {
	g := c.cfg.Genesis
	statedb, err := state.New(types.EmptyRootHash, c.state)
	if err != nil {
		return err
	}
	root, err := execution.ApplyGenesis(statedb, g.Spec.Alloc)
	if err != nil {
		return fmt.Errorf("commit genesis state: %w", err)
	}
	if root != c.genesis.Root() {
		return fmt.Errorf("genesis state root %s differs from the genesis block's %s", root, c.genesis.Root())
	}
	if err := c.triedb.Commit(root, false); err != nil {
		return fmt.Errorf("persist genesis state: %w", err)
	}
	batch := c.db.NewBatch()
	defer batch.Close()
	hash := c.genesis.Hash()
	meta := &chaindb.BlockMeta{TD: new(big.Int).Set(c.genesis.Difficulty()), Executed: true}
	for _, err := range []error{
		chaindb.WriteBlock(batch, c.genesis),
		chaindb.WriteReceipts(batch, hash, 0, nil),
		chaindb.WriteBlockMeta(batch, hash, 0, meta),
		chaindb.WriteCanonicalHash(batch, 0, hash),
		chaindb.WriteHead(batch, hash),
		chaindb.WriteChainInfo(batch, &chaindb.ChainInfo{Genesis: hash, ChainID: g.ChainID()}),
	} {
		if err != nil {
			return err
		}
	}
	if err := c.writeBatch(batch, true); err != nil {
		return err
	}
	c.log.Info("Initialised data dir with genesis", "hash", hash, "chainid", g.ChainID())
	return nil
}

// writeBatch writes b, synced when sync is set (unless Config.NoSync).
func (c *Chain) writeBatch(b ethdb.Batch, sync bool) error {
	type syncer interface{ WriteSync() error }
	if s, ok := b.(syncer); ok && sync && !c.cfg.NoSync {
		if err := s.WriteSync(); err != nil {
			return fmt.Errorf("write batch: %w", err)
		}
		return nil
	}
	if err := b.Write(); err != nil {
		return fmt.Errorf("write batch: %w", err)
	}
	return nil
}

// Close journals the in-memory state so the next start needs no
// re-execution, and closes the state database. The caller closes the DB.
func (c *Chain) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return nil
	}
	c.mu.closed = true
	var errs []error
	if err := c.triedb.Journal(c.CurrentBlock().Root()); err != nil {
		errs = append(errs, fmt.Errorf("journal state: %w", err))
	}
	if err := c.triedb.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close state: %w", err))
	}
	return errors.Join(errs...)
}

// Genesis returns the genesis block.
func (c *Chain) Genesis() *types.Block { return c.genesis }

// Config returns the Ethereum chain configuration.
func (c *Chain) Config() *gparams.ChainConfig { return c.cfg.Genesis.Config() }

// GenesisSpec returns the checked genesis.
func (c *Chain) GenesisSpec() *params.Genesis { return c.cfg.Genesis }

// Processor returns the block processor (for the miner and eth_call).
func (c *Chain) Processor() *execution.Processor { return c.proc }

// Validator returns the consensus rule checker.
func (c *Chain) Validator() *Validator { return c.val }

// CurrentBlock returns the head block.
func (c *Chain) CurrentBlock() *types.Block { return c.head.Load().block }

// CurrentHeader returns the head header.
func (c *Chain) CurrentHeader() *types.Header { return c.head.Load().block.Header() }

// CurrentTD returns the total difficulty of the head.
func (c *Chain) CurrentTD() *big.Int { return new(big.Int).Set(c.head.Load().td) }

// SubscribeHeads delivers a HeadEvent for every head change. Subscribers
// must keep reading, and must not call InsertBlock from the goroutine
// that reads the channel.
func (c *Chain) SubscribeHeads(ch chan<- HeadEvent) event.Subscription {
	return c.heads.Subscribe(ch)
}

// GetHeader returns the header with hash and number, or nil.
func (c *Chain) GetHeader(hash common.Hash, number uint64) *types.Header {
	if h, ok := c.headers.Get(hash); ok {
		if h.Number.Uint64() != number {
			return nil
		}
		return h
	}
	h, err := chaindb.ReadHeader(c.db, hash, number)
	if err != nil {
		if !errors.Is(err, chaindb.ErrNotFound) {
			c.log.Error("Read header failed", "number", number, "hash", hash, "err", err)
		}
		return nil
	}
	c.headers.Add(hash, h)
	return h
}

// GetHeaderByHash returns a stored header, or nil.
func (c *Chain) GetHeaderByHash(hash common.Hash) *types.Header {
	if h, ok := c.headers.Get(hash); ok {
		return h
	}
	num, err := chaindb.ReadHeaderNumber(c.db, hash)
	if err != nil {
		return nil
	}
	return c.GetHeader(hash, num)
}

// GetCanonicalHash returns the canonical hash at number.
func (c *Chain) GetCanonicalHash(number uint64) (common.Hash, bool) {
	if number > c.CurrentBlock().NumberU64() {
		return common.Hash{}, false
	}
	h, err := chaindb.ReadCanonicalHash(c.db, number)
	if err != nil {
		return common.Hash{}, false
	}
	return h, true
}

// GetHeaderByNumber returns the canonical header at number, or nil.
func (c *Chain) GetHeaderByNumber(number uint64) *types.Header {
	hash, ok := c.GetCanonicalHash(number)
	if !ok {
		return nil
	}
	return c.GetHeader(hash, number)
}

// GetBlock returns a stored block, or nil.
func (c *Chain) GetBlock(hash common.Hash, number uint64) *types.Block {
	h := c.GetHeader(hash, number)
	if h == nil {
		return nil
	}
	body, err := chaindb.ReadBody(c.db, hash, number)
	if err != nil {
		return nil
	}
	return types.NewBlockWithHeader(h).WithBody(*body)
}

// GetBlockByHash returns a stored block, or nil.
func (c *Chain) GetBlockByHash(hash common.Hash) *types.Block {
	h := c.GetHeaderByHash(hash)
	if h == nil {
		return nil
	}
	return c.GetBlock(hash, h.Number.Uint64())
}

// GetBlockByNumber returns the canonical block at number, or nil.
func (c *Chain) GetBlockByNumber(number uint64) *types.Block {
	hash, ok := c.GetCanonicalHash(number)
	if !ok {
		return nil
	}
	return c.GetBlock(hash, number)
}

// HasBlock reports whether the block is stored.
func (c *Chain) HasBlock(hash common.Hash, number uint64) bool {
	return c.GetHeader(hash, number) != nil
}

// IsCanonical reports whether the header is on the canonical chain.
func (c *Chain) IsCanonical(h *types.Header) bool {
	hash, ok := c.GetCanonicalHash(h.Number.Uint64())
	return ok && hash == h.Hash()
}

// GetTD returns the total difficulty of a stored block, or nil.
func (c *Chain) GetTD(hash common.Hash, number uint64) *big.Int {
	m, err := c.getMeta(hash, number)
	if err != nil {
		return nil
	}
	return new(big.Int).Set(m.TD)
}

func (c *Chain) getMeta(hash common.Hash, number uint64) (*chaindb.BlockMeta, error) {
	if m, ok := c.metas.Get(hash); ok {
		return m, nil
	}
	m, err := chaindb.ReadBlockMeta(c.db, hash, number)
	if err != nil {
		return nil, err
	}
	c.metas.Add(hash, m)
	return m, nil
}

// GetReceipts returns a stored block's receipts with every field derived,
// or nil when the block has none stored (not yet executed).
func (c *Chain) GetReceipts(hash common.Hash, number uint64) types.Receipts {
	block := c.GetBlock(hash, number)
	if block == nil {
		return nil
	}
	receipts, err := chaindb.ReadRawReceipts(c.db, hash, number)
	if err != nil {
		return nil
	}
	if err := receipts.DeriveFields(c.Config(), hash, number, block.Time(), block.BaseFee(), big.NewInt(1), block.Transactions()); err != nil {
		c.log.Error("Derive receipt fields failed", "number", number, "hash", hash, "err", err)
		return nil
	}
	return receipts
}

// TxLookup is where a canonical transaction is.
type TxLookup struct {
	Tx        *types.Transaction
	BlockHash common.Hash
	Number    uint64
	Index     uint64
}

// GetTransaction finds a transaction on the canonical chain.
func (c *Chain) GetTransaction(txHash common.Hash) (*TxLookup, bool) {
	loc, err := chaindb.ReadTxLocation(c.db, txHash)
	if err != nil {
		return nil, false
	}
	hash, ok := c.GetCanonicalHash(loc.Number)
	if !ok {
		return nil, false
	}
	block := c.GetBlock(hash, loc.Number)
	if block == nil || loc.Index >= uint64(len(block.Transactions())) {
		return nil, false
	}
	tx := block.Transactions()[loc.Index]
	if tx.Hash() != txHash {
		return nil, false
	}
	return &TxLookup{Tx: tx, BlockHash: hash, Number: loc.Number, Index: loc.Index}, true
}

// HasState reports whether the state with root is readable now.
func (c *Chain) HasState(root common.Hash) bool {
	_, err := c.triedb.StateReader(root)
	return err == nil
}

// StateAt returns a private, mutable state at root: a memory layer or the
// persisted state, or, with a ProofWindow, an older canonical state that
// pathdb's histories still reach (such a state cannot be committed).
// StateAtBlock also applies the window and names the block in its errors.
func (c *Chain) StateAt(root common.Hash) (*state.StateDB, error) {
	st, err := state.New(root, c.state)
	if err == nil {
		return st, nil
	}
	if c.historic != nil {
		if hst, herr := c.historicStateAt(root); herr == nil {
			return hst, nil
		}
	}
	return nil, fmt.Errorf("%w: %s: %v", ErrStateUnavailable, root, err)
}

// liveStateAt is StateAt without the history: the state blocks execute on.
func (c *Chain) liveStateAt(root common.Hash) (*state.StateDB, error) {
	st, err := state.New(root, c.state)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrStateUnavailable, root, err)
	}
	return st, nil
}

// State returns a private, mutable copy of the head state.
func (c *Chain) State() (*state.StateDB, error) {
	return c.StateAt(c.CurrentBlock().Root())
}

// TrieDB returns the trie database (for proofs).
func (c *Chain) TrieDB() *triedb.Database { return c.triedb }

// SafeBlock returns the canonical block params.SafeDepth below the head.
func (c *Chain) SafeBlock() *types.Block { return c.blockBelowHead(params.SafeDepth) }

// FinalizedBlock returns the canonical block params.FinalizedDepth below the
// head.
func (c *Chain) FinalizedBlock() *types.Block { return c.blockBelowHead(params.FinalizedDepth) }

func (c *Chain) blockBelowHead(depth uint64) *types.Block {
	n := c.CurrentBlock().NumberU64()
	if n < depth {
		return c.genesis
	}
	return c.GetBlockByNumber(n - depth)
}

// NextDifficulty is the difficulty a child of parent must have.
func (c *Chain) NextDifficulty(parent *types.Header) (*big.Int, error) {
	m, err := c.getMeta(parent.Hash(), parent.Number.Uint64())
	if err != nil {
		return nil, err
	}
	return c.val.NextDifficulty(parent, m.AnchorTime), nil
}
