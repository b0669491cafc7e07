package sync

import (
	"context"
	"math/big"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerchain/peerchain/internal/p2p"
)

// adversary is a misbehaving peer in the style of Bitcoin Core's functional
// tests: a real libp2p host on loopback that speaks peerchain's protocols,
// serves a chain of its own choosing and can send anything: lying status,
// stalled or malformed answers, altered blocks, floods. By default it
// answers like an honest peer holding canon; a test replaces any answer
// with a hook.
type adversary struct {
	t       *testing.T
	host    *p2p.Host
	blocks  *p2p.Topic
	compact *p2p.Topic
	txs     *p2p.Topic
	victim  *testPeer

	mu    gosync.Mutex
	canon []*types.Block // served by number; canon[0] is genesis
	// claim, if set, is the status it sends instead of canon's head.
	claim *Status
	// Hooks replacing the honest answers; nil answers honestly.
	onStatus  func(ctx context.Context) ([]byte, error)
	onHeaders func(ctx context.Context, r HeadersRequest) ([]byte, error)
	onBodies  func(ctx context.Context, r HashesRequest) ([]byte, error)
	// onBlockTxn replaces its answer for transactions of a compact block;
	// honestly it serves them from canon and held.
	onBlockTxn func(ctx context.Context, r BlockTxnRequest) ([]byte, error)
	held       []*types.Block // blocks it relays beyond canon

	requests gosync.Map // protocol name → *atomic.Int64
}

// newAdversary starts an adversary that holds canon (which must start at
// the victim's genesis) and dials the victim.
func newAdversary(t *testing.T, victim *testPeer, canon []*types.Block) *adversary {
	t.Helper()
	return newAdversaryWith(t, victim, canon, nil)
}

// newAdversaryWith is newAdversary with its script set by setup before it
// dials the victim.
func newAdversaryWith(t *testing.T, victim *testPeer, canon []*types.Block, setup func(a *adversary)) *adversary {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := victim.env.Genesis
	h, err := p2p.New(p2p.Config{
		Network: NetworkName(g.ChainID(), g.Hash()), Key: key, Listen: loopback,
		Bootnodes: []string{victim.addr()}, NoDHT: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	a := &adversary{t: t, host: h, victim: victim, canon: canon}
	h.Handle(protoStatus, maxStatusBytes, func(ctx context.Context, _ peer.ID, _ []byte) ([]byte, error) {
		a.count(protoStatus)
		a.mu.Lock()
		f := a.onStatus
		a.mu.Unlock()
		if f != nil {
			return f(ctx)
		}
		return encode(a.status())
	})
	h.Handle(protoHeaders, maxRequestBytes, func(ctx context.Context, _ peer.ID, req []byte) ([]byte, error) {
		a.count(protoHeaders)
		var r HeadersRequest
		if err := decode(req, &r, "headers request"); err != nil {
			return nil, err
		}
		a.mu.Lock()
		f := a.onHeaders
		a.mu.Unlock()
		if f != nil {
			return f(ctx, r)
		}
		return encode(a.headers(r))
	})
	h.Handle(protoBodies, maxRequestBytes, func(ctx context.Context, _ peer.ID, req []byte) ([]byte, error) {
		a.count(protoBodies)
		var r HashesRequest
		if err := decode(req, &r, "bodies request"); err != nil {
			return nil, err
		}
		a.mu.Lock()
		f := a.onBodies
		a.mu.Unlock()
		if f != nil {
			return f(ctx, r)
		}
		return encode(a.bodies(r))
	})
	h.Handle(protoBlockTxn, maxRequestBytes, func(ctx context.Context, _ peer.ID, req []byte) ([]byte, error) {
		a.count(protoBlockTxn)
		var r BlockTxnRequest
		if err := decode(req, &r, "blocktxn request"); err != nil {
			return nil, err
		}
		a.mu.Lock()
		f := a.onBlockTxn
		a.mu.Unlock()
		if f != nil {
			return f(ctx, r)
		}
		return encode(a.blockTxn(r))
	})
	h.Handle(protoPooled, maxRequestBytes, func(context.Context, peer.ID, []byte) ([]byte, error) {
		a.count(protoPooled)
		return encode([]common.Hash{})
	})
	h.Handle(protoTxs, maxRequestBytes, func(context.Context, peer.ID, []byte) ([]byte, error) {
		a.count(protoTxs)
		return encode(&TxsResponse{})
	})
	accept := func(context.Context, peer.ID, peer.ID, []byte) p2p.Verdict { return p2p.Accept }
	if a.blocks, err = h.JoinTopic(topicBlocks, p2p.TopicOptions{ContentIDs: true}, accept, func(peer.ID, peer.ID, []byte) {}); err != nil {
		t.Fatal(err)
	}
	if a.compact, err = h.JoinTopic(topicCompact, p2p.TopicOptions{ContentIDs: true}, accept, func(peer.ID, peer.ID, []byte) {}); err != nil {
		t.Fatal(err)
	}
	if a.txs, err = h.JoinTopic(topicTxs, p2p.TopicOptions{}, accept, func(peer.ID, peer.ID, []byte) {}); err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		a.set(setup)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	return a
}

// peerInfo returns what dialling p needs.
func peerInfo(t *testing.T, p *testPeer) peer.AddrInfo {
	t.Helper()
	ai, err := peer.AddrInfoFromString(p.addr())
	if err != nil {
		t.Fatal(err)
	}
	return *ai
}

func (a *adversary) ID() peer.ID { return a.host.ID() }

func (a *adversary) set(f func(a *adversary)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(a)
}

func (a *adversary) count(proto string) {
	c, _ := a.requests.LoadOrStore(proto, new(atomic.Int64))
	c.(*atomic.Int64).Add(1)
}

// requestsFor returns how many requests of a protocol it has received.
func (a *adversary) requestsFor(proto string) int64 {
	c, ok := a.requests.Load(proto)
	if !ok {
		return 0
	}
	return c.(*atomic.Int64).Load()
}

// status is what it claims: claim if set, else canon's head with its real
// total difficulty.
func (a *adversary) status() *Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.claim != nil {
		return a.claim
	}
	head := a.canon[len(a.canon)-1]
	td := new(big.Int)
	for _, b := range a.canon {
		td.Add(td, b.Difficulty())
	}
	return &Status{Version: protocolVersion, ChainID: a.victim.env.Genesis.ChainID().Uint64(), Genesis: a.canon[0].Hash(),
		Head: head.Hash(), Number: head.NumberU64(), TD: td}
}

func (a *adversary) headers(r HeadersRequest) []*types.Header {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*types.Header
	for n := r.Start; n < r.Start+min(r.Count, maxHeadersPerRequest) && n < uint64(len(a.canon)); n++ {
		out = append(out, a.canon[n].Header())
	}
	return out
}

// byHash indexes canon and held; a.mu must be held.
func (a *adversary) byHashLocked() map[common.Hash]*types.Block {
	byHash := make(map[common.Hash]*types.Block, len(a.canon)+len(a.held))
	for _, b := range append(a.canon, a.held...) {
		byHash[b.Hash()] = b
	}
	return byHash
}

func (a *adversary) bodies(r HashesRequest) *BodiesResponse {
	a.mu.Lock()
	defer a.mu.Unlock()
	byHash := a.byHashLocked()
	out := new(BodiesResponse)
	for _, h := range r.Hashes {
		b, ok := byHash[h]
		if !ok {
			break
		}
		out.Bodies = append(out.Bodies, b.Body())
	}
	return out
}

// blockTxn answers honestly for the transactions of a block it holds.
func (a *adversary) blockTxn(r BlockTxnRequest) *TxsResponse {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := new(TxsResponse)
	b, ok := a.byHashLocked()[r.Hash]
	if !ok {
		return out
	}
	for _, i := range r.Indexes {
		if i >= uint64(b.Transactions().Len()) {
			return out
		}
		enc, err := b.Transactions()[i].MarshalBinary()
		if err != nil {
			a.t.Error(err)
			return out
		}
		out.Txs = append(out.Txs, enc)
	}
	return out
}

// publishCompact gossips cb on the compact topic, signed by the adversary.
func (a *adversary) publishCompact(cb *CompactBlock) {
	a.t.Helper()
	data, err := encode(cb)
	if err != nil {
		a.t.Fatal(err)
	}
	if err := a.compact.Publish(context.Background(), data); err != nil {
		a.t.Fatal(err)
	}
}

// joinedCompact waits until the victim and the adversary share the
// compact block topic.
func (a *adversary) joinedCompact() {
	a.t.Helper()
	waitFor(a.t, 20*time.Second, "the adversary to join the victim's compact block topic", func() bool {
		for _, p := range a.compact.Peers() {
			if p == a.victim.host.ID() {
				return true
			}
		}
		return false
	})
}

// publish gossips raw data on the block topic, signed by the adversary.
func (a *adversary) publish(data []byte) {
	a.t.Helper()
	if err := a.blocks.Publish(context.Background(), data); err != nil {
		a.t.Fatal(err)
	}
}

// publishBlock gossips b, signed by the adversary.
func (a *adversary) publishBlock(b *types.Block) {
	a.t.Helper()
	data, err := encode(b)
	if err != nil {
		a.t.Fatal(err)
	}
	a.publish(data)
}

// joined waits until the victim and the adversary share the block topic.
func (a *adversary) joined() {
	a.t.Helper()
	waitFor(a.t, 20*time.Second, "the adversary to join the victim's block topic", func() bool {
		for _, p := range a.blocks.Peers() {
			if p == a.victim.host.ID() {
				return true
			}
		}
		return false
	})
}

// connected waits until the victim has shaken hands with the adversary.
func (a *adversary) connected() {
	a.t.Helper()
	waitFor(a.t, 20*time.Second, "the victim to shake hands with the adversary", func() bool {
		_, ok := a.victim.sync.peers.get(a.host.ID())
		return ok
	})
}

// stall blocks until ctx ends: an answer that never comes.
func stall(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}
