package sync

import (
	"context"
	"errors"
	"math/big"
	gosync "sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/chain/chaintest"
	"github.com/peerchain/peerchain/internal/p2p"
	"github.com/peerchain/peerchain/internal/txpool"
)

var loopback = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}

type testPeer struct {
	env  *chaintest.Env
	pool *txpool.Pool
	host *p2p.Host
	sync *Syncer
}

var genesisOpts = chaingen.GenesisOptions{Accounts: 8}

// newPeer starts a full peer (chain, pool, libp2p host, syncer) on loopback.
func newPeer(t *testing.T, boot ...string) *testPeer {
	t.Helper()
	return newPeerWith(t, nil, boot...)
}

// newPeerWith is newPeer with the sync configuration changed by mut.
func newPeerWith(t *testing.T, mut func(*Config), boot ...string) *testPeer {
	t.Helper()
	env := chaintest.New(t, genesisOpts)
	pool, err := txpool.New(txpool.Config{Chain: env.Chain})
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := p2p.New(p2p.Config{
		Network: NetworkName(env.Genesis.ChainID(), env.Genesis.Hash()), Key: key,
		Listen: loopback, Bootnodes: boot, BanDuration: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Host: h, Chain: env.Chain, Pool: pool}
	if mut != nil {
		mut(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg gosync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = s.Run(ctx) }()
	go func() { defer wg.Done(); _ = pool.Run(ctx) }()
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); wg.Wait(); h.Close() })
	return &testPeer{env: env, pool: pool, host: h, sync: s}
}

func (p *testPeer) addr() string { return p.host.Addrs()[0] }

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func insertAll(t *testing.T, p *testPeer, blocks []*types.Block) {
	t.Helper()
	for _, b := range blocks {
		if _, err := p.env.Chain.InsertBlock(b); err != nil && !errors.Is(err, chain.ErrKnownBlock) {
			t.Fatalf("insert %d: %v", b.NumberU64(), err)
		}
	}
}

// genChain builds n blocks with a transfer or two in each, on gen.
func genChain(t *testing.T, gen *chaingen.Generator, parent *types.Block, n int) []*types.Block {
	t.Helper()
	blocks, err := gen.Chain(parent, n, func(b *chaingen.BlockGen) {
		b.Transfer(b.Index()%4, common.BigToAddress(big.NewInt(int64(0x1000+b.Index()))), big.NewInt(1))
		if b.Index()%3 == 0 {
			b.Transfer(4+b.Index()%4, common.HexToAddress("0x77"), big.NewInt(2))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return blocks
}

func TestFourPeersConvergeAndRelay(t *testing.T) {
	a := newPeer(t)
	peers := []*testPeer{a, newPeer(t, a.addr()), newPeer(t, a.addr()), newPeer(t, a.addr())}
	blocks := genChain(t, peers[0].env.Gen, peers[0].env.Gen.Genesis(), 30)
	insertAll(t, a, blocks)
	head := blocks[29].Hash()
	start := time.Now()
	defer func() { t.Logf("converged in %v", time.Since(start)) }()
	waitFor(t, 60*time.Second, "all peers at block 30", func() bool {
		for _, p := range peers {
			if p.env.Chain.CurrentBlock().Hash() != head {
				return false
			}
		}
		return true
	})
	// A transaction submitted to one peer reaches every pool.
	tx, err := a.env.Gen.Transfer(chaingen.Key(5), peers[3].pool.PendingNonce(chaingen.Addr(5)), common.HexToAddress("0x99"), big.NewInt(1), blocks[29].BaseFee())
	if err != nil {
		t.Fatal(err)
	}
	if err := peers[3].pool.Add([]*types.Transaction{tx})[0]; err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the transaction in every pool", func() bool {
		for _, p := range peers {
			if p.pool.Get(tx.Hash()) == nil {
				return false
			}
		}
		return true
	})
	// A block mined by one peer and broadcast becomes everyone's head.
	next, err := a.env.Gen.Chain(blocks[29], 1, func(b *chaingen.BlockGen) { b.AddTx(tx) })
	if err != nil {
		t.Fatal(err)
	}
	insertAll(t, peers[2], next)
	peers[2].sync.Broadcast(next[0])
	waitFor(t, 30*time.Second, "the broadcast block everywhere", func() bool {
		for _, p := range peers {
			if p.env.Chain.CurrentBlock().Hash() != next[0].Hash() {
				return false
			}
		}
		return true
	})
	waitFor(t, 10*time.Second, "the mined transaction to leave every pool", func() bool {
		for _, p := range peers {
			if p.pool.Get(tx.Hash()) != nil {
				return false
			}
		}
		return true
	})
}

func TestLateJoinerSyncsFromSeveralPeers(t *testing.T) {
	const length = 2000
	a := newPeer(t)
	b, c := newPeer(t, a.addr()), newPeer(t, a.addr())
	blocks := genChain(t, a.env.Gen, a.env.Gen.Genesis(), length)
	for _, p := range []*testPeer{a, b, c} {
		insertAll(t, p, blocks)
	}
	start := time.Now()
	late := newPeer(t, a.addr(), b.addr(), c.addr())
	waitFor(t, 3*time.Minute, "the late joiner to sync 2000 blocks", func() bool {
		return late.env.Chain.CurrentBlock().Hash() == blocks[length-1].Hash()
	})
	t.Logf("synced %d blocks in %v", length, time.Since(start).Round(time.Millisecond))
	served := 0
	for _, p := range []*testPeer{a, b, c} {
		if n := p.sync.bodiesServed.Load(); n > 0 {
			served++
			t.Logf("peer %s served %d bodies", p.host.ID(), n)
		}
	}
	if served < 2 {
		t.Fatalf("bodies came from %d peer(s), want several", served)
	}
	// Then it follows the head.
	next := genChain(t, a.env.Gen, blocks[length-1], 2)
	for _, blk := range next {
		insertAll(t, b, []*types.Block{blk})
		b.sync.Broadcast(blk)
	}
	waitFor(t, 30*time.Second, "the late joiner to follow the head", func() bool {
		return late.env.Chain.CurrentBlock().Hash() == next[1].Hash()
	})
}

// attacker is a bare libp2p host that answers the handshake like a peer of
// the victim's chain but relays anything on the block topic.
func newAttacker(t *testing.T, victim *testPeer) (*p2p.Host, *p2p.Topic) {
	network := NetworkName(victim.env.Genesis.ChainID(), victim.env.Genesis.Hash())
	boot := victim.addr()
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := p2p.New(p2p.Config{Network: network, Key: key, Listen: loopback, Bootnodes: []string{boot}, NoDHT: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	h.Handle(protoStatus, maxStatusBytes, func(context.Context, peer.ID, []byte) ([]byte, error) {
		return encode(victim.sync.status())
	})
	topic, err := h.JoinTopic(topicBlocks, p2p.TopicOptions{ContentIDs: true}, func(context.Context, peer.ID, peer.ID, []byte) p2p.Verdict { return p2p.Accept },
		func(peer.ID, peer.ID, []byte) {})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	return h, topic
}

func TestInvalidBlocksAreBannedAndNotRelayed(t *testing.T) {
	victim := newPeer(t)
	others := []*testPeer{newPeer(t, victim.addr()), newPeer(t, victim.addr())}
	base := genChain(t, victim.env.Gen, victim.env.Gen.Genesis(), 5)
	for _, p := range append(others, victim) {
		insertAll(t, p, base)
	}
	gen := victim.env.Gen
	valid := genChain(t, gen, base[4], 1)[0]

	cases := []struct {
		name  string
		block func() *types.Block
	}{
		{"bad proof of work", func() *types.Block {
			h := valid.Header()
			for n := uint64(0); ; n++ {
				h.Nonce = types.EncodeNonce(n)
				if victim.env.Chain.VerifyHeader(h) != nil {
					return valid.WithSeal(h)
				}
			}
		}},
		{"valid proof of work, wrong state root", func() *types.Block {
			h := valid.Header()
			h.Root = common.Hash{0xba, 0xd}
			b, err := gen.Reseal(valid, h)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			att, topic := newAttacker(t, victim)
			waitFor(t, 20*time.Second, "the attacker to join the topic", func() bool { return len(topic.Peers()) > 0 })
			bad := c.block()
			data, err := encode(bad)
			if err != nil {
				t.Fatal(err)
			}
			if err := topic.Publish(context.Background(), data); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 20*time.Second, "the victim to ban the attacker", func() bool { return victim.host.IsBanned(att.ID()) })
			// Give a relay time to happen, then check nobody else saw it.
			time.Sleep(500 * time.Millisecond)
			for i, o := range others {
				if _, seen := o.env.Chain.IsBad(bad.Hash()); seen || o.env.Chain.HasBlock(bad.Hash(), bad.NumberU64()) {
					t.Fatalf("peer %d received the invalid block", i)
				}
			}
			if victim.env.Chain.HasBlock(bad.Hash(), bad.NumberU64()) {
				t.Fatal("the victim stored the invalid block")
			}
		})
	}
	t.Run("oversized request", func(t *testing.T) {
		att, _ := newAttacker(t, victim)
		waitFor(t, 20*time.Second, "the attacker to connect", func() bool { return att.PeerCount() > 0 })
		_, _ = att.Request(context.Background(), victim.host.ID(), protoHeaders, make([]byte, maxRequestBytes+1), 1<<20)
		waitFor(t, 20*time.Second, "the victim to ban the attacker", func() bool { return victim.host.IsBanned(att.ID()) })
	})
	// The honest peers still agree and still take valid blocks.
	insertAll(t, victim, []*types.Block{valid})
	victim.sync.Broadcast(valid)
	waitFor(t, 20*time.Second, "the valid block everywhere", func() bool {
		for _, o := range others {
			if o.env.Chain.CurrentBlock().Hash() != valid.Hash() {
				return false
			}
		}
		return true
	})
}
