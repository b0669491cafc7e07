package light

import (
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"runtime"
	"slices"
	gosync "sync"
	"sync/atomic"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/lru"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/event"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/chaindb"
	"github.com/peerchain/peerchain/internal/params"
)

// ErrUnknownParent: a header's parent is not stored; fetch it first.
var ErrUnknownParent = errors.New("unknown parent header")

// HeadEvent announces a new head of the header chain. Added lists the
// headers that became canonical, oldest first, ending with the head;
// Removed those that left the canonical chain, newest first.
type HeadEvent struct {
	Header  *types.Header
	TD      *big.Int
	Added   []*types.Header
	Removed []*types.Header
}

type headState struct {
	header *types.Header
	td     *big.Int
}

// HeaderChain is a light peer's verified header chain: every header is
// checked by the consensus rules (link, fields, difficulty, proof of work,
// median time) before it is stored on disk with its total difficulty, and
// the canonical chain is the heaviest, the first seen on a tie. Only a
// small cache of headers is held in memory.
type HeaderChain struct {
	kv      ethdb.KeyValueStore
	val     *chain.Validator
	genesis *types.Header
	log     *slog.Logger

	mu      gosync.Mutex // serialises inserts and reorgs
	head    atomic.Pointer[headState]
	headers *lru.Cache[common.Hash, *types.Header]
	metas   *lru.Cache[common.Hash, *chaindb.BlockMeta]
	feed    event.FeedOf[HeadEvent]
}

// OpenHeaderChain opens the header chain stored in kv, writing genesis's
// header into an empty store; a store of another chain is refused.
func OpenHeaderChain(kv ethdb.KeyValueStore, g *params.Genesis, val *chain.Validator, log *slog.Logger) (*HeaderChain, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	gh := g.Block().Header()
	hc := &HeaderChain{
		kv: kv, val: val, genesis: gh, log: log,
		headers: lru.NewCache[common.Hash, *types.Header](2048),
		metas:   lru.NewCache[common.Hash, *chaindb.BlockMeta](2048),
	}
	info, err := chaindb.ReadChainInfo(kv)
	switch {
	case errors.Is(err, chaindb.ErrNotFound):
		batch := kv.NewBatch()
		hash := gh.Hash()
		for _, err := range []error{
			chaindb.WriteHeader(batch, gh, hash),
			chaindb.WriteBlockMeta(batch, hash, 0, &chaindb.BlockMeta{TD: new(big.Int).Set(gh.Difficulty)}),
			chaindb.WriteCanonicalHash(batch, 0, hash),
			chaindb.WriteHead(batch, hash),
			chaindb.WriteChainInfo(batch, &chaindb.ChainInfo{Genesis: hash, ChainID: g.ChainID()}),
		} {
			if err != nil {
				return nil, err
			}
		}
		if err := batch.Write(); err != nil {
			return nil, fmt.Errorf("write the genesis header: %w", err)
		}
	case err != nil:
		return nil, err
	case info.Genesis != gh.Hash():
		return nil, fmt.Errorf("data dir holds the headers of chain id %v with genesis %s, but this light peer runs chain id %v with genesis %s: use another --datadir or the matching --genesis",
			info.ChainID, info.Genesis, g.ChainID(), gh.Hash())
	}
	headHash, err := chaindb.ReadHead(kv)
	if err != nil {
		return nil, fmt.Errorf("load head header: %w", err)
	}
	head := hc.GetHeaderByHash(headHash)
	if head == nil {
		return nil, fmt.Errorf("head header %s missing", headHash)
	}
	meta, err := hc.meta(head)
	if err != nil {
		return nil, fmt.Errorf("load head header: %w", err)
	}
	hc.head.Store(&headState{header: head, td: meta.TD})
	return hc, nil
}

// Genesis returns the genesis header.
func (hc *HeaderChain) Genesis() *types.Header { return hc.genesis }

// CurrentHeader returns the head.
func (hc *HeaderChain) CurrentHeader() *types.Header { return hc.head.Load().header }

// CurrentTD returns the head's total difficulty.
func (hc *HeaderChain) CurrentTD() *big.Int { return new(big.Int).Set(hc.head.Load().td) }

// SubscribeHeads delivers a HeadEvent for every head change. Subscribers
// must keep reading.
func (hc *HeaderChain) SubscribeHeads(ch chan<- HeadEvent) event.Subscription {
	return hc.feed.Subscribe(ch)
}

// GetHeader returns a stored header, or nil.
func (hc *HeaderChain) GetHeader(hash common.Hash, number uint64) *types.Header {
	if h, ok := hc.headers.Get(hash); ok {
		if h.Number.Uint64() != number {
			return nil
		}
		return h
	}
	h, err := chaindb.ReadHeader(hc.kv, hash, number)
	if err != nil {
		if !errors.Is(err, chaindb.ErrNotFound) {
			hc.log.Error("Read header failed", "number", number, "hash", hash, "err", err)
		}
		return nil
	}
	hc.headers.Add(hash, h)
	return h
}

// GetHeaderByHash returns a stored header, or nil.
func (hc *HeaderChain) GetHeaderByHash(hash common.Hash) *types.Header {
	if h, ok := hc.headers.Get(hash); ok {
		return h
	}
	num, err := chaindb.ReadHeaderNumber(hc.kv, hash)
	if err != nil {
		return nil
	}
	return hc.GetHeader(hash, num)
}

// GetCanonicalHash returns the canonical hash at number.
func (hc *HeaderChain) GetCanonicalHash(number uint64) (common.Hash, bool) {
	if number > hc.CurrentHeader().Number.Uint64() {
		return common.Hash{}, false
	}
	h, err := chaindb.ReadCanonicalHash(hc.kv, number)
	if err != nil {
		return common.Hash{}, false
	}
	return h, true
}

// GetHeaderByNumber returns the canonical header at number, or nil.
func (hc *HeaderChain) GetHeaderByNumber(number uint64) *types.Header {
	hash, ok := hc.GetCanonicalHash(number)
	if !ok {
		return nil
	}
	return hc.GetHeader(hash, number)
}

// IsCanonical reports whether h is on the canonical chain.
func (hc *HeaderChain) IsCanonical(h *types.Header) bool {
	hash, ok := hc.GetCanonicalHash(h.Number.Uint64())
	return ok && hash == h.Hash()
}

// GetTD returns the total difficulty of a stored header, or nil.
func (hc *HeaderChain) GetTD(hash common.Hash, number uint64) *big.Int {
	h := hc.GetHeader(hash, number)
	if h == nil {
		return nil
	}
	m, err := hc.meta(h)
	if err != nil {
		return nil
	}
	return new(big.Int).Set(m.TD)
}

func (hc *HeaderChain) meta(h *types.Header) (*chaindb.BlockMeta, error) {
	hash := h.Hash()
	if m, ok := hc.metas.Get(hash); ok {
		return m, nil
	}
	m, err := chaindb.ReadBlockMeta(hc.kv, hash, h.Number.Uint64())
	if err != nil {
		return nil, err
	}
	hc.metas.Add(hash, m)
	return m, nil
}

// NewHeaderVerifier starts a run of header checks after the stored header
// hash (sync.HeaderBase).
func (hc *HeaderChain) NewHeaderVerifier(from common.Hash) (*chain.HeaderVerifier, error) {
	start := hc.GetHeaderByHash(from)
	if start == nil {
		return nil, fmt.Errorf("%w %s", ErrUnknownParent, from)
	}
	m, err := hc.meta(start)
	if err != nil {
		return nil, err
	}
	var times []uint64
	for h := start; h != nil && len(times) < params.MedianTimeSpan; {
		times = append(times, h.Time)
		if h.Number.Sign() == 0 {
			break
		}
		h = hc.GetHeader(h.ParentHash, h.Number.Uint64()-1)
	}
	slices.Reverse(times)
	return hc.val.NewHeaderVerifier(start, m.AnchorTime, m.TD, times)
}

// Insert verifies a run of headers, each the child of the one before and
// the first a child of a stored header, and stores them; the canonical
// chain moves to them if they end heavier than the head. Headers already
// stored are skipped. A header that breaks a rule is a *chain.RuleError.
func (hc *HeaderChain) Insert(headers []*types.Header) error {
	for len(headers) > 0 && hc.GetHeader(headers[0].Hash(), headers[0].Number.Uint64()) != nil {
		headers = headers[1:]
	}
	if len(headers) == 0 {
		return nil
	}
	first := headers[0]
	if first.Number == nil || first.Number.Sign() == 0 {
		return fmt.Errorf("header 0 (%s) is not this chain's genesis", first.Hash())
	}
	v, err := hc.NewHeaderVerifier(first.ParentHash)
	if err != nil {
		return err
	}
	hashes, err := v.VerifyHashes(headers)
	if err != nil {
		return err
	}
	return hc.insertVerified(headers, hashes)
}

// insertVerified stores headers, with their hashes, that a verifier
// starting at a stored header has checked, and moves the head to them if
// they end heavier.
func (hc *HeaderChain) insertVerified(headers []*types.Header, hashes []common.Hash) error {
	hc.mu.Lock()
	ev, err := hc.insertLocked(headers, hashes)
	hc.mu.Unlock()
	if err != nil {
		return err
	}
	if ev != nil {
		hc.feed.Send(*ev)
	}
	return nil
}

func (hc *HeaderChain) insertLocked(headers []*types.Header, hashes []common.Hash) (*HeadEvent, error) {
	parent := hc.GetHeader(headers[0].ParentHash, headers[0].Number.Uint64()-1)
	if parent == nil {
		return nil, fmt.Errorf("%w %s of header %v", ErrUnknownParent, headers[0].ParentHash, headers[0].Number)
	}
	pm, err := hc.meta(parent)
	if err != nil {
		return nil, err
	}
	td, anchor := new(big.Int).Set(pm.TD), pm.AnchorTime
	metas := make([]*chaindb.BlockMeta, len(headers))
	for i, h := range headers {
		anchor = chain.ChildAnchor(anchor, h.Number.Uint64()-1, h.Time)
		td = new(big.Int).Add(td, h.Difficulty)
		metas[i] = &chaindb.BlockMeta{TD: td, AnchorTime: anchor}
	}
	encHeaders, encMetas, err := encodeAll(headers, metas)
	if err != nil {
		return nil, err
	}
	batch := hc.kv.NewBatchWithSize(len(headers) * 700)
	for i, h := range headers {
		if err := chaindb.WriteHeaderEncoded(batch, hashes[i], h.Number.Uint64(), encHeaders[i]); err != nil {
			return nil, err
		}
		if err := chaindb.WriteBlockMetaEncoded(batch, hashes[i], h.Number.Uint64(), encMetas[i]); err != nil {
			return nil, err
		}
	}
	last := headers[len(headers)-1]
	old := hc.head.Load()
	var ev *HeadEvent
	if td.Cmp(old.td) > 0 {
		var err error
		if ev, err = hc.setHeadLocked(batch, headers, hashes, old); err != nil {
			return nil, err
		}
		ev.TD = new(big.Int).Set(td)
	}
	if err := batch.Write(); err != nil {
		return nil, fmt.Errorf("write headers: %w", err)
	}
	// Only the newest headers go to the caches: a long sync must not push
	// out what the RPC reads near the head for nothing.
	for i := max(0, len(headers)-256); i < len(headers); i++ {
		hc.headers.Add(hashes[i], headers[i])
		hc.metas.Add(hashes[i], metas[i])
	}
	if ev != nil {
		hc.head.Store(&headState{header: last, td: new(big.Int).Set(td)})
	}
	return ev, nil
}

// encodeAll encodes headers and their metas, a long run on every core.
func encodeAll(headers []*types.Header, metas []*chaindb.BlockMeta) ([][]byte, [][]byte, error) {
	encH, encM := make([][]byte, len(headers)), make([][]byte, len(headers))
	errs := make([]error, len(headers))
	one := func(i int) {
		if encH[i], errs[i] = rlp.EncodeToBytes(headers[i]); errs[i] == nil {
			encM[i], errs[i] = rlp.EncodeToBytes(metas[i])
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(headers)/64)
	if workers < 2 {
		for i := range headers {
			one(i)
		}
	} else {
		var wg gosync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < len(headers); i += workers {
					one(i)
				}
			}(w)
		}
		wg.Wait()
	}
	for i, err := range errs {
		if err != nil {
			return nil, nil, fmt.Errorf("encode header %v: %w", headers[i].Number, err)
		}
	}
	return encH, encM, nil
}

// setHeadLocked writes, into batch, the canonical chain ending in the last
// of headers (whose earlier part is stored or in headers).
func (hc *HeaderChain) setHeadLocked(batch ethdb.KeyValueWriter, headers []*types.Header, hashes []common.Hash, old *headState) (*HeadEvent, error) {
	last := headers[len(headers)-1]
	lastHash := hashes[len(hashes)-1]
	if headers[0].ParentHash == old.header.Hash() {
		// The common case: the run extends the head.
		for i, h := range headers {
			if err := chaindb.WriteCanonicalHash(batch, h.Number.Uint64(), hashes[i]); err != nil {
				return nil, err
			}
		}
		if err := chaindb.WriteHead(batch, lastHash); err != nil {
			return nil, err
		}
		return &HeadEvent{Header: last, Added: slices.Clone(headers)}, nil
	}
	pending := make(map[common.Hash]*types.Header, len(headers))
	for i, h := range headers {
		pending[hashes[i]] = h
	}
	lookup := func(hash common.Hash, number uint64) *types.Header {
		if h, ok := pending[hash]; ok {
			return h
		}
		return hc.GetHeader(hash, number)
	}
	// The new branch, newest first, down to the canonical ancestor.
	var added []*types.Header
	h := last
	for !hc.IsCanonical(h) {
		added = append(added, h)
		if h = lookup(h.ParentHash, h.Number.Uint64()-1); h == nil {
			return nil, fmt.Errorf("branch of header %v leaves the stored chain", last.Number)
		}
	}
	ancestor := h.Number.Uint64()
	var removed []*types.Header
	for o := old.header; o.Number.Uint64() > ancestor; {
		removed = append(removed, o)
		if o.Number.Uint64() > last.Number.Uint64() {
			if err := chaindb.DeleteCanonicalHash(batch, o.Number.Uint64()); err != nil {
				return nil, err
			}
		}
		if o = hc.GetHeader(o.ParentHash, o.Number.Uint64()-1); o == nil {
			return nil, errors.New("canonical header missing below the old head")
		}
	}
	slices.Reverse(added)
	for _, a := range added {
		if err := chaindb.WriteCanonicalHash(batch, a.Number.Uint64(), a.Hash()); err != nil {
			return nil, err
		}
	}
	if err := chaindb.WriteHead(batch, lastHash); err != nil {
		return nil, err
	}
	if len(removed) > 0 {
		hc.log.Info("Header chain reorganised", "depth", len(removed), "ancestor", ancestor, "newhead", last.Number)
	}
	return &HeadEvent{Header: last, Added: added, Removed: removed}, nil
}
