package sync

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/trie"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/chain/chaingen"
)

// Every test here names its attacker and checks three things: the victim
// keeps following the honest chain, what the attacker sent does not pile
// up in its memory or on its disk, and the attacker is punished while no
// honest peer ever is.

// canonOf returns genesis followed by blocks: what an adversary serves.
func canonOf(p *testPeer, blocks []*types.Block) []*types.Block {
	return append([]*types.Block{p.env.Gen.Genesis()}, blocks...)
}

// swapBody returns b's header with another body: the same hash, other
// contents.
func swapBody(b *types.Block, body types.Body) *types.Block {
	return types.NewBlockWithHeader(b.Header()).WithBody(body)
}

func headIs(p *testPeer, b *types.Block) func() bool {
	return func() bool { return p.env.Chain.CurrentBlock().Hash() == b.Hash() }
}

// The swapper relays an honest block with its body swapped before the
// miner's copy arrives (the class of Bitcoin's CVE-2012-2459). A block's
// hash covers its header only, so the victim must blame the swapper and
// still take the honest block.
func TestSwapperCannotSplitAPeer(t *testing.T) {
	miner := newPeer(t)
	victim := newPeer(t, miner.addr())
	observer := newPeer(t, victim.addr())
	base := genChain(t, miner.env.Gen, miner.env.Gen.Genesis(), 5)
	for _, p := range []*testPeer{miner, victim, observer} {
		insertAll(t, p, base)
	}
	gen := miner.env.Gen
	parent := base[4]
	for _, c := range []struct {
		name    string
		trusted bool // the swapper first earns the record of an author whose blocks became canonical
		swap    func(b *types.Block) *types.Block
	}{
		{"transactions swapped, by a known author", true, func(b *types.Block) *types.Block {
			other, err := gen.Chain(parent, 1, func(bg *chaingen.BlockGen) { bg.Transfer(7, common.HexToAddress("0x5ea1"), big.NewInt(3)) })
			if err != nil {
				t.Fatal(err)
			}
			return swapBody(b, types.Body{Transactions: other[0].Transactions(), Withdrawals: []*types.Withdrawal{}})
		}},
		{"transactions dropped, by a new author", false, func(b *types.Block) *types.Block {
			return swapBody(b, types.Body{Withdrawals: []*types.Withdrawal{}})
		}},
		{"withdrawals list dropped", false, func(b *types.Block) *types.Block {
			return swapBody(b, types.Body{Transactions: b.Transactions()})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			swapper := newAdversary(t, victim, canonOf(victim, base))
			observer.host.Block([]peer.ID{swapper.ID()}) // it reaches the observer only through the victim
			swapper.joined()
			if c.trusted {
				honest := genChain(t, gen, parent, 1)[0]
				insertAll(t, miner, []*types.Block{honest})
				swapper.publishBlock(honest)
				waitFor(t, 20*time.Second, "the swapper's honest block to become the victim's head", headIs(victim, honest))
				if ok, _ := victim.sync.trusted.Get(swapper.ID()); !ok {
					t.Fatal("the swapper did not earn the author record")
				}
				parent = honest
				waitFor(t, 20*time.Second, "the observer to follow", headIs(observer, honest))
			}
			mined := genChain(t, gen, parent, 1)[0]
			if len(mined.Transactions()) == 0 {
				t.Fatal("the mined block needs transactions to swap")
			}
			altered := c.swap(mined)
			if altered.Hash() != mined.Hash() {
				t.Fatal("the swapped block must keep the hash")
			}
			if types.DeriveSha(altered.Transactions(), trie.NewStackTrie(nil)) == mined.TxHash() && altered.Withdrawals() != nil {
				t.Fatal("the swapped body must differ from the header's")
			}
			swapper.publishBlock(altered)
			waitFor(t, 20*time.Second, "the victim to ban the swapper", func() bool { return victim.host.IsBanned(swapper.ID()) })
			if re, bad := victim.env.Chain.IsBad(mined.Hash()); bad {
				t.Fatalf("the honest block was marked bad: %v", re)
			}
			if _, bad := observer.env.Chain.IsBad(mined.Hash()); bad {
				t.Fatal("the altered block was relayed to the observer")
			}
			// The miner's copy arrives: everyone follows it.
			insertAll(t, miner, []*types.Block{mined})
			miner.sync.Broadcast(mined)
			waitFor(t, 20*time.Second, "the victim to take the honest block", headIs(victim, mined))
			waitFor(t, 20*time.Second, "the observer to take the honest block", headIs(observer, mined))
			for _, p := range []*testPeer{victim, observer} {
				if p.host.IsBanned(miner.host.ID()) {
					t.Fatal("the honest miner was banned")
				}
			}
			if victim.host.IsBanned(observer.host.ID()) || observer.host.IsBanned(victim.host.ID()) {
				t.Fatal("an honest relayer was banned")
			}
			parent = mined
		})
	}
}

// The same header with another body, inserted first, then the honest
// block: accepted (chain level, no network).
func TestChainTakesHonestBlockAfterSwappedBody(t *testing.T) {
	p := newPeer(t)
	blocks := genChain(t, p.env.Gen, p.env.Gen.Genesis(), 2)
	insertAll(t, p, blocks[:1])
	swapped := swapBody(blocks[1], types.Body{Withdrawals: []*types.Withdrawal{}})
	var re *chain.RuleError
	if _, err := p.env.Chain.InsertBlock(swapped); !errors.As(err, &re) || !re.BodyMismatch() {
		t.Fatalf("swapped body: %v, want a body mismatch", err)
	}
	insertAll(t, p, blocks[1:])
	if !headIs(p, blocks[1])() {
		t.Fatal("the honest block did not become the head")
	}
}

// The liar claims a huge total difficulty and never backs it: it stalls
// header requests, or fails them. The victim must sync from the honest
// peer, ask the liar only a few times, and ban it.
func TestLiarCannotStallSync(t *testing.T) {
	for _, c := range []struct {
		name    string
		headers func(ctx context.Context, r HeadersRequest) ([]byte, error)
	}{
		{"staller", func(ctx context.Context, _ HeadersRequest) ([]byte, error) { return nil, stall(ctx) }},
		{"refuser", func(context.Context, HeadersRequest) ([]byte, error) { return nil, errors.New("no") }},
		{"empty answers", func(context.Context, HeadersRequest) ([]byte, error) { return encode([]*types.Header{}) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			honest := newPeer(t)
			blocks := genChain(t, honest.env.Gen, honest.env.Gen.Genesis(), 40)
			insertAll(t, honest, blocks)
			victim := newPeerWith(t, func(cfg *Config) {
				cfg.HeaderTimeout = time.Second
				cfg.StrikeBackoff = 300 * time.Millisecond
			})
			liar := newAdversary(t, victim, canonOf(victim, nil))
			liar.set(func(a *adversary) {
				a.claim = &Status{Version: protocolVersion, ChainID: 1337, Genesis: victim.env.Chain.Genesis().Hash(),
					Head: common.Hash{0x11}, Number: 1_000_000, TD: new(big.Int).Lsh(big.NewInt(1), 200)}
				a.onHeaders = c.headers
			})
			waitFor(t, 20*time.Second, "the liar's handshake", func() bool { _, ok := victim.sync.peers.get(liar.ID()); return ok })
			// The honest peer arrives after the liar.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := victim.host.Connect(ctx, peerInfo(t, honest)); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			waitFor(t, 30*time.Second, "the victim to sync the honest chain", headIs(victim, blocks[39]))
			t.Logf("synced 40 blocks past the liar in %v; the liar got %d header requests", time.Since(start).Round(time.Millisecond), liar.requestsFor(protoHeaders))
			waitFor(t, 30*time.Second, "the victim to ban the liar", func() bool { return victim.host.IsBanned(liar.ID()) })
			if n := liar.requestsFor(protoHeaders); n > 3*maxStrikes {
				t.Fatalf("the liar got %d header requests, want a few", n)
			}
			if victim.host.IsBanned(honest.host.ID()) {
				t.Fatal("the honest peer was banned")
			}
		})
	}
}

// The ancestor liar answers the common-ancestor search with headers that
// are not ours, to make the victim walk back to genesis and download its
// own chain again and again. It must be caught before any body is asked
// for.
func TestAncestorLiarIsCaught(t *testing.T) {
	victim := newPeerWith(t, func(cfg *Config) {
		cfg.HeaderTimeout = time.Second
		cfg.StrikeBackoff = 200 * time.Millisecond
	})
	blocks := genChain(t, victim.env.Gen, victim.env.Gen.Genesis(), 100)
	insertAll(t, victim, blocks)
	liar := newAdversary(t, victim, canonOf(victim, blocks))
	td := victim.env.Chain.CurrentTD()
	liar.set(func(a *adversary) {
		a.claim = &Status{Version: protocolVersion, ChainID: 1337, Genesis: victim.env.Chain.Genesis().Hash(),
			Head: common.Hash{0x22}, Number: 120, TD: td.Add(td, big.NewInt(100_000))}
		a.onHeaders = func(_ context.Context, r HeadersRequest) ([]byte, error) {
			hs := a.headers(r)
			if r.Count == 1 && len(hs) == 1 { // the search asks one header at a time
				h := types.CopyHeader(hs[0])
				h.Extra = []byte("not yours")
				hs[0] = h
			}
			return encode(hs)
		}
	})
	waitFor(t, 30*time.Second, "the victim to ban the ancestor liar", func() bool { return victim.host.IsBanned(liar.ID()) })
	if n := liar.requestsFor(protoBodies); n != 0 {
		t.Fatalf("the victim asked the liar for bodies %d times", n)
	}
	if !headIs(victim, blocks[99])() {
		t.Fatal("the victim's head moved")
	}
}

// The long-chain liar serves a long, valid but cheap header chain (minimum
// difficulty, timestamps far apart) while claiming a huge total
// difficulty. The victim must hold a bounded number of headers, fetch no
// body, and ban it.
func TestLongCheapHeaderChainIsBounded(t *testing.T) {
	const held = 256
	victim := newPeerWith(t, func(cfg *Config) {
		cfg.HeaderTimeout = 2 * time.Second
		cfg.StrikeBackoff = 200 * time.Millisecond
		cfg.MaxHeldHeaders = held
	})
	gen := victim.env.Gen
	insertAll(t, victim, genChain(t, gen, gen.Genesis(), 30))
	cheap, err := gen.Chain(gen.Genesis(), 2000, func(b *chaingen.BlockGen) {
		b.Header().Time = b.Header().Time + 3600 // far behind schedule: the difficulty falls to the minimum
	})
	if err != nil {
		t.Fatal(err)
	}
	var cheapTD big.Int
	for _, b := range cheap {
		cheapTD.Add(&cheapTD, b.Difficulty())
	}
	if cheapTD.Cmp(victim.env.Chain.CurrentTD()) >= 0 {
		t.Fatalf("the cheap chain (td %v) must be lighter than the victim's (%v)", &cheapTD, victim.env.Chain.CurrentTD())
	}
	liar := newAdversary(t, victim, canonOf(victim, cheap))
	liar.set(func(a *adversary) {
		a.claim = &Status{Version: protocolVersion, ChainID: 1337, Genesis: victim.env.Chain.Genesis().Hash(),
			Head: cheap[len(cheap)-1].Hash(), Number: uint64(len(cheap)), TD: new(big.Int).Lsh(big.NewInt(1), 100)}
	})
	waitFor(t, 60*time.Second, "the victim to ban the long-chain liar", func() bool { return victim.host.IsBanned(liar.ID()) })
	if n := liar.requestsFor(protoBodies); n != 0 {
		t.Fatalf("the victim asked for %d bodies of a chain that never outweighed its own", n)
	}
	if got := victim.sync.maxHeld.Load(); got > held {
		t.Fatalf("the victim held %d headers at once, the bound is %d", got, held)
	}
	for _, b := range cheap[:10] {
		if victim.env.Chain.HasBlock(b.Hash(), b.NumberU64()) {
			t.Fatalf("cheap block %d stored", b.NumberU64())
		}
	}
	t.Logf("the liar served %d header requests before the ban; at most %d headers held", liar.requestsFor(protoHeaders), victim.sync.maxHeld.Load())
}

// A long chain that does outweigh ours is downloaded past the held-headers
// bound: verified once keeping checkpoints, then again against them.
func TestHeavierChainBeyondHeldHeadersSyncs(t *testing.T) {
	source := newPeer(t)
	blocks := genChain(t, source.env.Gen, source.env.Gen.Genesis(), 700)
	insertAll(t, source, blocks)
	victim := newPeerWith(t, func(cfg *Config) { cfg.MaxHeldHeaders = 100 }, source.addr())
	waitFor(t, 60*time.Second, "the victim to sync 700 blocks", headIs(victim, blocks[699]))
	if got := victim.sync.maxHeld.Load(); got > 100 {
		t.Fatalf("held %d headers, the bound is 100", got)
	}
}

// The forker gossips a cheap fork off genesis (the dev chain lets a forker
// pick its own block-1 anchor): lighter than the victim's chain by far, so
// it is neither stored nor relayed, and its author earns no record. A
// competing block at the head's height is stored but not relayed.
func TestLowWorkForkIsNotStoredOrRelayed(t *testing.T) {
	victim := newPeer(t)
	observer := newPeer(t, victim.addr())
	gen := victim.env.Gen
	honest := genChain(t, gen, gen.Genesis(), 20)
	for _, p := range []*testPeer{victim, observer} {
		insertAll(t, p, honest)
	}
	fork, err := gen.Chain(gen.Genesis(), 10, func(b *chaingen.BlockGen) { b.SetExtra([]byte("fork")) })
	if err != nil {
		t.Fatal(err)
	}
	forker := newAdversary(t, victim, canonOf(victim, honest))
	observer.host.Block([]peer.ID{forker.ID()})
	forker.joined()
	for _, b := range fork {
		forker.publishBlock(b)
	}
	// A sibling of the head: a race, near enough in work to keep.
	sibling, err := gen.Chain(honest[18], 1, func(b *chaingen.BlockGen) { b.SetExtra([]byte("sibling")) })
	if err != nil {
		t.Fatal(err)
	}
	forker.publishBlock(sibling[0])
	waitFor(t, 20*time.Second, "the victim to store the competing sibling", func() bool {
		return victim.env.Chain.HasBlock(sibling[0].Hash(), sibling[0].NumberU64())
	})
	for _, b := range fork {
		if victim.env.Chain.HasBlock(b.Hash(), b.NumberU64()) {
			t.Fatalf("the victim stored cheap fork block %d", b.NumberU64())
		}
	}
	for _, b := range append(fork, sibling[0]) {
		if observer.env.Chain.HasBlock(b.Hash(), b.NumberU64()) {
			t.Fatalf("the victim relayed side block %d (%s)", b.NumberU64(), b.Hash())
		}
	}
	if ok, _ := victim.sync.trusted.Get(forker.ID()); ok {
		t.Fatal("side blocks earned the forker an author record")
	}
	if victim.host.IsBanned(forker.ID()) {
		t.Fatal("a lighter chain is no offence: the forker was banned")
	}
	if !headIs(victim, honest[19])() {
		t.Fatal("the victim left the honest chain")
	}
}

// The spammer gossips blocks the victim cannot place. Proof of work is
// checked first, so a block without it bans the spammer even when its
// parent is unknown; blocks with work but unknown parents cost one status
// request per few seconds, not one each; past the gossip rate the spammer
// is banned for flooding; a block from the future is ignored, not stored
// and not punished.
func TestGossipSpamCostsTheSpammer(t *testing.T) {
	victim := newPeer(t)
	gen := victim.env.Gen
	base := genChain(t, gen, gen.Genesis(), 3)
	insertAll(t, victim, base)
	orphan := func(i int) *types.Block {
		h := types.CopyHeader(base[2].Header())
		h.ParentHash = common.BigToHash(big.NewInt(int64(1000 + i)))
		h.Number = big.NewInt(int64(50 + i))
		sealed, err := gen.Seal(h) // the test genesis's minimum difficulty is 1: cheap work
		if err != nil {
			t.Fatal(err)
		}
		return types.NewBlockWithHeader(sealed).WithBody(types.Body{Withdrawals: []*types.Withdrawal{}})
	}

	t.Run("no proof of work", func(t *testing.T) {
		spammer := newAdversary(t, victim, canonOf(victim, base))
		spammer.joined()
		h := orphan(0).Header()
		h.Difficulty = new(big.Int).Lsh(big.NewInt(1), 60)
		spammer.publishBlock(types.NewBlockWithHeader(h))
		waitFor(t, 20*time.Second, "the victim to ban the spammer", func() bool { return victim.host.IsBanned(spammer.ID()) })
	})
	t.Run("unknown parents, then a flood", func(t *testing.T) {
		spammer := newAdversary(t, victim, canonOf(victim, base))
		spammer.joined()
		before := spammer.requestsFor(protoStatus)
		for i := 1; i <= 30; i++ {
			spammer.publishBlock(orphan(i))
		}
		time.Sleep(time.Second) // let them be validated (nothing to wait on: ignored messages leave no trace)
		if n := spammer.requestsFor(protoStatus) - before; n > 2 {
			t.Fatalf("30 orphan blocks cost the victim %d status requests", n)
		}
		if victim.host.IsBanned(spammer.ID()) {
			t.Fatal("orphans within the rate are no offence")
		}
		for i := 31; i <= 1000 && !victim.host.IsBanned(spammer.ID()); i++ {
			spammer.publishBlock(orphan(i))
		}
		waitFor(t, 20*time.Second, "the victim to ban the flooder", func() bool { return victim.host.IsBanned(spammer.ID()) })
	})
	t.Run("from the future", func(t *testing.T) {
		spammer := newAdversary(t, victim, canonOf(victim, base))
		spammer.joined()
		future, err := gen.Chain(base[2], 1, func(b *chaingen.BlockGen) { b.Header().Time = uint64(time.Now().Unix() + 120) })
		if err != nil {
			t.Fatal(err)
		}
		spammer.publishBlock(future[0])
		time.Sleep(time.Second)
		if victim.env.Chain.HasBlock(future[0].Hash(), future[0].NumberU64()) {
			t.Fatal("a block from the future was stored")
		}
		if _, bad := victim.env.Chain.IsBad(future[0].Hash()); bad {
			t.Fatal("a block from the future was marked bad: it may become valid")
		}
		if victim.host.IsBanned(spammer.ID()) {
			t.Fatal("a block from the future is no offence (clocks differ)")
		}
	})
}

// Malformed and oversized messages, and floods of requests, ban their
// sender.
func TestMalformedOversizedAndFloodingPeersAreBanned(t *testing.T) {
	victim := newPeerWith(t, func(cfg *Config) { cfg.HeaderTimeout = 2 * time.Second })
	gen := victim.env.Gen
	base := genChain(t, gen, gen.Genesis(), 3)
	insertAll(t, victim, base)
	longer := genChain(t, gen, base[2], 3)
	for _, c := range []struct {
		name  string
		setup func(a *adversary)
		act   func(a *adversary)
	}{
		{"malformed gossip block", nil, func(a *adversary) {
			a.joined()
			a.publish([]byte{0xde, 0xad, 0xbe, 0xef})
		}},
		{"oversized status", func(a *adversary) {
			a.onStatus = func(context.Context) ([]byte, error) { return make([]byte, maxStatusBytes+1), nil }
		}, nil},
		{"malformed status", func(a *adversary) {
			a.onStatus = func(context.Context) ([]byte, error) { return []byte{0xc1, 0xff}, nil }
		}, nil},
		{"malformed headers", func(a *adversary) {
			a.canon = canonOf(victim, append(base, longer...))
			a.onHeaders = func(context.Context, HeadersRequest) ([]byte, error) { return []byte{0xf8, 0xff, 0x00}, nil }
		}, nil},
		{"more headers than asked", func(a *adversary) {
			a.canon = canonOf(victim, append(base, longer...))
			a.onHeaders = func(_ context.Context, r HeadersRequest) ([]byte, error) {
				hs := a.headers(HeadersRequest{Start: r.Start, Count: r.Count})
				return encode(append(hs, hs...))
			}
		}, nil},
		{"oversized request", nil, func(a *adversary) {
			a.connected()
			_, _ = a.host.Request(context.Background(), victim.host.ID(), protoHeaders, make([]byte, maxRequestBytes+1), 1<<20)
		}},
		{"request flood", nil, func(a *adversary) {
			a.connected()
			req, _ := encode(a.status())
			for i := 0; i < 400 && !victim.host.IsBanned(a.ID()); i++ {
				_, _ = a.host.Request(context.Background(), victim.host.ID(), protoStatus, req, maxStatusBytes)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := newAdversaryWith(t, victim, canonOf(victim, base), c.setup)
			if c.act != nil {
				c.act(a)
			}
			waitFor(t, 30*time.Second, fmt.Sprintf("the victim to ban the sender of a %s", c.name), func() bool { return victim.host.IsBanned(a.ID()) })
		})
	}
}

// The bandwidth hog asks for the same bodies again and again. What it gets
// per second is bounded by the serving budget, not by how fast it asks.
func TestBodiesHogGetsItsBudget(t *testing.T) {
	const rate = 64 << 10
	victim := newPeerWith(t, func(cfg *Config) { cfg.ServeBytesRate = rate })
	gen := victim.env.Gen
	blocks, err := gen.Chain(gen.Genesis(), 64, func(b *chaingen.BlockGen) {
		for i := 0; i < 8; i++ {
			b.Transfer(i, common.BigToAddress(big.NewInt(int64(b.Index()))), big.NewInt(1))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	insertAll(t, victim, blocks)
	hashes := make([]common.Hash, len(blocks))
	var all int
	for i, b := range blocks {
		hashes[i] = b.Hash()
		all += int(b.Size())
	}
	hog := newAdversary(t, victim, canonOf(victim, blocks))
	hog.connected()
	req, err := encode(&HashesRequest{Hashes: hashes})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got := 0
	for i := 0; i < 40; i++ {
		resp, err := hog.host.Request(context.Background(), victim.host.ID(), protoBodies, req, maxBodiesResponse)
		if err != nil {
			t.Fatal(err)
		}
		got += len(resp)
		time.Sleep(25 * time.Millisecond) // 40 requests/s: under the request rate, over the byte budget
	}
	elapsed := time.Since(start).Seconds()
	bound := 2*rate + int(rate*elapsed) + all // burst, refill, and one response that ran into debt
	t.Logf("the hog asked for %d KB in %.1fs and got %d KB (budget %d KB/s, bound %d KB)", 40*all>>10, elapsed, got>>10, rate>>10, bound>>10)
	if got > bound {
		t.Fatalf("the hog got %d bytes, the budget allows %d", got, bound)
	}
	if victim.host.IsBanned(hog.ID()) {
		t.Fatal("asking within the request rate is no offence")
	}
}

// With a minimum chain work (a real network's known honest work), a chain
// below it is neither downloaded nor stored, however it is offered, and
// its peer is treated as one whose claim did not hold; a chain above it
// syncs and relays as usual.
func TestMinChainWork(t *testing.T) {
	source := newPeer(t)
	blocks := genChain(t, source.env.Gen, source.env.Gen.Genesis(), 20)
	insertAll(t, source, blocks)
	td := source.env.Chain.CurrentTD()
	strict := newPeerWith(t, func(cfg *Config) {
		cfg.MinChainWork = new(big.Int).Mul(td, big.NewInt(10))
		cfg.HeaderTimeout = time.Second
		cfg.StrikeBackoff = 200 * time.Millisecond
	}, source.addr())
	enough := newPeerWith(t, func(cfg *Config) { cfg.MinChainWork = td }, source.addr())
	waitFor(t, 30*time.Second, "the peer whose minimum the chain meets to sync", headIs(enough, blocks[19]))
	next := genChain(t, source.env.Gen, blocks[19], 1)
	insertAll(t, source, next)
	source.sync.Broadcast(next[0])
	waitFor(t, 20*time.Second, "the next block to reach the peer whose minimum the chain meets", headIs(enough, next[0]))
	waitFor(t, 30*time.Second, "the strict peer to give up on the light chain", func() bool {
		return strict.host.IsBanned(source.host.ID())
	})
	if n := strict.env.Chain.CurrentBlock().NumberU64(); n != 0 {
		t.Fatalf("a chain below the minimum chain work was imported to %d", n)
	}
	for _, b := range append(blocks[:3], next...) {
		if strict.env.Chain.HasBlock(b.Hash(), b.NumberU64()) {
			t.Fatalf("block %d of a chain below the minimum chain work was stored", b.NumberU64())
		}
	}
}
