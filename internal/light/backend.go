package light

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	gosync "sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/common/lru"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/event"
	gparams "github.com/ethereum/go-ethereum/params"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/execution"
	"github.com/peerchain/peerchain/internal/rpc"
	"github.com/peerchain/peerchain/internal/txpool"
)

// The light peer serves the full peer's JSON-RPC through a second
// implementation of the RPC's narrow interfaces: headers from its
// verified header chain (rpc.Chain), everything they commit to through
// the fetcher, checked (rpc.Data), and transactions forwarded to its
// sources (rpc.Pool). The methods themselves are the full peer's.

// rpcChain is rpc.Chain over the verified header chain.
type rpcChain struct {
	hc      *HeaderChain
	genesis *types.Block
	config  *gparams.ChainConfig
	proc    *execution.Processor
}

func (c *rpcChain) CurrentHeader() *types.Header { return c.hc.CurrentHeader() }
func (c *rpcChain) Genesis() *types.Block        { return c.genesis }
func (c *rpcChain) GetHeader(hash common.Hash, number uint64) *types.Header {
	return c.hc.GetHeader(hash, number)
}
func (c *rpcChain) GetHeaderByHash(hash common.Hash) *types.Header { return c.hc.GetHeaderByHash(hash) }
func (c *rpcChain) GetHeaderByNumber(number uint64) *types.Header {
	return c.hc.GetHeaderByNumber(number)
}
func (c *rpcChain) GetTD(hash common.Hash, number uint64) *big.Int { return c.hc.GetTD(hash, number) }
func (c *rpcChain) IsCanonical(h *types.Header) bool               { return c.hc.IsCanonical(h) }
func (c *rpcChain) Config() *gparams.ChainConfig                   { return c.config }
func (c *rpcChain) Processor() *execution.Processor                { return c.proc }

// SubscribeHeads delivers the header chain's head changes as the RPC's
// head events, with header-only blocks (their bodies come through Data).
func (c *rpcChain) SubscribeHeads(ch chan<- chain.HeadEvent) event.Subscription {
	return event.NewSubscription(func(quit <-chan struct{}) error {
		in := make(chan HeadEvent, 16)
		sub := c.hc.SubscribeHeads(in)
		defer sub.Unsubscribe()
		for {
			select {
			case ev := <-in:
				out := chain.HeadEvent{Block: types.NewBlockWithHeader(ev.Header), TD: ev.TD}
				for _, h := range ev.Added {
					out.Added = append(out.Added, types.NewBlockWithHeader(h))
				}
				for _, h := range ev.Removed {
					out.Removed = append(out.Removed, types.NewBlockWithHeader(h))
				}
				select {
				case ch <- out:
				case <-quit:
					return nil
				}
			case err := <-sub.Err():
				return err
			case <-quit:
				return nil
			}
		}
	})
}

// rpcData is rpc.Data through the fetcher: every answer checked against
// the verified headers.
type rpcData struct {
	f       *fetcher
	readers gosync.Map // *state.StateDB → *proofReader, while in use
	hints   *lru.Cache[string, types.AccessList]
}

// emptyBody reports whether h commits to an empty body (no transactions,
// no uncles, no withdrawals): such a block needs no source.
func emptyBody(h *types.Header) bool {
	return h.TxHash == types.EmptyTxsHash && h.UncleHash == types.EmptyUncleHash &&
		(h.WithdrawalsHash == nil || *h.WithdrawalsHash == types.EmptyWithdrawalsHash)
}

func (d *rpcData) Block(ctx context.Context, h *types.Header) (*types.Block, error) {
	if emptyBody(h) {
		return types.NewBlockWithHeader(h).WithBody(types.Body{Withdrawals: []*types.Withdrawal{}}), nil
	}
	return d.f.Block(ctx, h)
}

func (d *rpcData) Receipts(ctx context.Context, b *types.Block) (types.Receipts, error) {
	if emptyBody(b.Header()) {
		return types.Receipts{}, nil
	}
	if len(b.Transactions()) == 0 { // a header-only block from a head event
		full, err := d.f.Block(ctx, b.Header())
		if err != nil {
			return nil, err
		}
		b = full
	}
	return d.f.Receipts(ctx, b)
}

func (d *rpcData) Transaction(ctx context.Context, hash common.Hash) (*chain.TxLookup, error) {
	l, err := d.f.Transaction(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &chain.TxLookup{Tx: l.Tx, BlockHash: l.Block.Hash(), Number: l.Block.NumberU64(), Index: l.Index}, nil
}

func (d *rpcData) State(ctx context.Context, h *types.Header) (*state.StateDB, func() error, error) {
	st, r, err := d.f.stateAt(ctx, h)
	if err != nil {
		return nil, nil, err
	}
	d.readers.Store(st, r)
	return st, func() error {
		d.readers.Delete(st)
		return r.Err()
	}, nil
}

// hintTimeout bounds a request for a hint (an access list): short, since
// the answer only saves round trips.
const hintTimeout = 2 * time.Second

// PrefetchCall proves, before a call runs, what it is known to read: the
// sender's and the receiver's accounts and the receiver's code, and —
// asked of a source at the same time, as a hint only — the other accounts
// and slots of its eth_createAccessList. What the hint misses is still
// fetched on demand, and every read is proven either way.
func (d *rpcData) PrefetchCall(ctx context.Context, st *state.StateDB, h *types.Header, args rpc.CallArgs) {
	v, ok := d.readers.Load(st)
	if !ok {
		return
	}
	r := v.(*proofReader)
	call := map[string]any{}
	var known types.AccessList
	if args.From != nil {
		call["from"] = *args.From
		known = append(known, types.AccessTuple{Address: *args.From, StorageKeys: []common.Hash{}})
	}
	if args.To != nil {
		call["to"] = *args.To
		known = append(known, types.AccessTuple{Address: *args.To, StorageKeys: []common.Hash{}})
	}
	if args.Input != nil {
		call["input"] = *args.Input
	} else if args.Data != nil {
		call["input"] = *args.Data
	}
	if args.Value != nil {
		call["value"] = args.Value
	}
	var wg gosync.WaitGroup
	wg.Add(2)
	go func() { // the hint, then what it names
		defer wg.Done()
		key := h.Hash().Hex() + fmt.Sprint(call)
		if hint, ok := d.hints.Get(key); ok {
			r.prefetch(hint)
			return
		}
		for _, src := range d.f.sources.usable() {
			hctx, cancel := context.WithTimeout(ctx, hintTimeout)
			hint, err := src.AccessList(hctx, h.Hash(), call)
			cancel()
			if err == nil {
				d.hints.Add(key, hint)
				r.prefetch(hint)
				return
			}
		}
	}()
	go func() { // what is known without a hint
		defer wg.Done()
		r.prefetch(known)
		if args.To != nil {
			if acct, err := r.Account(*args.To); err == nil && acct != nil {
				r.Code(*args.To, common.BytesToHash(acct.CodeHash))
			}
		}
	}()
	wg.Wait()
}

func (d *rpcData) Proof(ctx context.Context, h *types.Header, addr common.Address, slots []common.Hash) (*chain.AccountProof, error) {
	return d.f.Proof(ctx, h, addr, slots)
}

// ProofWindow is 0: a light peer serves what its sources can prove.
func (d *rpcData) ProofWindow() uint64 { return 0 }

// rpcPool is rpc.Pool for a light peer: transactions go to every usable
// source, and the light peer remembers what it sent so that the pending
// nonce and eth_getTransactionByHash see them before they are mined.
type rpcPool struct {
	f       *fetcher
	timeout time.Duration
	feed    event.FeedOf[txpool.NewTxsEvent]

	mu   gosync.Mutex
	sent map[common.Hash]sentTx
}

type sentTx struct {
	tx   *types.Transaction
	from common.Address
	at   time.Time
}

// maxSent bounds the transactions remembered; sentLifetime how long.
const (
	maxSent      = 4096
	sentLifetime = time.Hour
)

// Add sends each transaction to every usable source; it is accepted when
// one of them takes it. When all refuse, the first refusal is the answer
// (a source's pool error, such as "nonce too low").
func (p *rpcPool) Add(ctx context.Context, txs []*types.Transaction) []error {
	errs := make([]error, len(txs))
	var accepted []*types.Transaction
	for i, tx := range txs {
		from, err := types.Sender(types.LatestSigner(p.f.config), tx)
		if err != nil {
			errs[i] = fmt.Errorf("%w: %v", txpool.ErrInvalidSender, err)
			continue
		}
		var refusals []string
		ok := false
		for _, src := range p.f.sources.usable() {
			sctx, cancel := context.WithTimeout(ctx, p.timeout)
			err := src.SendTransaction(sctx, tx)
			cancel()
			if err == nil || strings.Contains(err.Error(), txpool.ErrAlreadyKnown.Error()) {
				ok = true
				continue
			}
			refusals = append(refusals, err.Error())
		}
		if !ok {
			if len(refusals) == 0 {
				errs[i] = fmt.Errorf("transaction %s: %w: no usable source", tx.Hash(), ErrUnprovable)
			} else {
				errs[i] = errors.New(trimSource(refusals[0]))
			}
			continue
		}
		p.remember(tx, from)
		accepted = append(accepted, tx)
	}
	if len(accepted) > 0 {
		p.feed.Send(txpool.NewTxsEvent{Txs: accepted})
	}
	return errs
}

// trimSource keeps a source's own error text (what a wallet matches on)
// without the transport prefix.
func trimSource(msg string) string {
	if i := strings.LastIndex(msg, "eth_sendRawTransaction: "); i >= 0 {
		return msg[i+len("eth_sendRawTransaction: "):]
	}
	return msg
}

func (p *rpcPool) remember(tx *types.Transaction, from common.Address) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for h, s := range p.sent {
		if now.Sub(s.at) > sentLifetime {
			delete(p.sent, h)
		}
	}
	if len(p.sent) < maxSent {
		p.sent[tx.Hash()] = sentTx{tx: tx, from: from, at: now}
	}
}

// Get returns a transaction this light peer sent and has not seen mined.
func (p *rpcPool) Get(hash common.Hash) *types.Transaction {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.sent[hash]; ok {
		return s.tx
	}
	return nil
}

// PendingNonce is the account's next nonce counting pending transactions:
// at least its proven nonce at the head plus the run of consecutive nonces
// this light peer sent above it, or more when a majority of the sources
// that answer say so (pending transactions sit in the sources' pools,
// which nobody can prove, so no single source decides).
func (p *rpcPool) PendingNonce(ctx context.Context, addr common.Address) (uint64, error) {
	acct, _, err := p.f.Account(ctx, p.f.hc.CurrentHeader(), addr, nil)
	if err != nil {
		return 0, err
	}
	var proven uint64
	if acct != nil {
		proven = acct.Nonce
	}
	nonce := proven
	p.mu.Lock()
	pending := make(map[uint64]bool)
	for h, s := range p.sent {
		if s.from != addr {
			continue
		}
		if s.tx.Nonce() < proven {
			delete(p.sent, h) // mined (or replaced): forget it
			continue
		}
		pending[s.tx.Nonce()] = true
	}
	p.mu.Unlock()
	for pending[nonce] {
		nonce++
	}
	if m, ok := p.majorityNonce(ctx, addr, proven); ok && m > nonce {
		nonce = m
	}
	return nonce, nil
}

// majorityNonce asks every usable source for the account's pending nonce
// and returns the value more than half of those that answered agree on,
// ignoring answers below the proven nonce (provably stale or false).
func (p *rpcPool) majorityNonce(ctx context.Context, addr common.Address, proven uint64) (uint64, bool) {
	votes := make(map[uint64]int)
	answered := 0
	for _, src := range p.f.sources.usable() {
		sctx, cancel := context.WithTimeout(ctx, p.timeout)
		n, err := src.PendingNonce(sctx, addr)
		cancel()
		if err != nil || n < proven {
			continue
		}
		answered++
		votes[n]++
	}
	for n, v := range votes {
		if 2*v > answered {
			return n, true
		}
	}
	return 0, false
}

func (p *rpcPool) SubscribeNewTxs(ch chan<- txpool.NewTxsEvent) event.Subscription {
	return p.feed.Subscribe(ch)
}

// rpcNet is rpc.Network for a light peer: its sources stand for peers.
type rpcNet struct{ l *Light }

func (n rpcNet) PeerCount() int  { return len(n.l.sync.usable()) }
func (n rpcNet) Listening() bool { return n.l.host != nil }

// Peers lists the sources: kind, head claim and the work their headers
// proved, strikes, and while dropped the evidence and the drop's end; the
// latency of the last head answer and the bytes moved.
func (n rpcNet) Peers() []rpc.PeerInfo {
	out := []rpc.PeerInfo{}
	for _, s := range n.l.Sources() {
		info := rpc.PeerInfo{ID: s.ID, Direction: "source", Kind: s.Kind, Strikes: s.Strikes,
			LatencyMs: float64(s.Latency.Microseconds()) / 1000}
		if s.Claim.TD != nil {
			info.Head = &rpc.PeerHeadInfo{Hash: s.Claim.Hash, Number: hexutil.Uint64(s.Claim.Number), TotalDifficulty: (*hexutil.Big)(s.Claim.TD),
				ProvenTotalDifficulty: (*hexutil.Big)(s.Proven)}
		}
		if s.Dropped != "" {
			info.Evidence, info.DroppedUntil = s.Dropped, s.Until.UTC().Format(time.RFC3339)
		}
		n.traffic(s.src, &info)
		out = append(out, info)
	}
	return out
}

func (n rpcNet) NodeInfo() rpc.NodeInfo {
	info := rpc.NodeInfo{}
	if n.l.host != nil {
		info.ID, info.Listen, info.Banned = n.l.host.ID().String(), n.l.host.Addrs(), len(n.l.host.Bans())
	}
	for _, s := range n.l.Sources() {
		if s.Dropped != "" {
			info.Banned++
		}
	}
	return info
}

func (n rpcNet) Syncing() (rpc.SyncStatus, bool) {
	n.l.sync.mu.Lock()
	syncing := n.l.sync.syncing
	var highest uint64
	for _, st := range n.l.sync.sources {
		highest = max(highest, st.claim.Number)
	}
	n.l.sync.mu.Unlock()
	if !syncing {
		return rpc.SyncStatus{}, false
	}
	cur := n.l.hc.CurrentHeader().Number.Uint64()
	return rpc.SyncStatus{Current: cur, Highest: max(highest, cur)}, true
}

func (n rpcNet) AddPeer(addr string) error {
	if n.l.host == nil {
		return errors.New("this light peer runs without peer-to-peer networking (give --bootnodes)")
	}
	return n.l.addPeer(addr)
}

func (n rpcNet) BlockPeers([]string) error {
	return errors.New("a light peer does not block peers")
}

func (n rpcNet) UnblockPeers() {}
