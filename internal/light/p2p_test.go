package light

import (
	"context"
	"errors"
	"math/big"
	gosync "sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/node"
)

// fullPeer runs a real full peer (node) with P2P on loopback.
func fullPeer(t *testing.T, o chaingen.GenesisOptions) *node.Node {
	t.Helper()
	n, err := node.New(node.Config{
		DataDir: t.TempDir(), Genesis: mustGenesis(t, o), RPCDisabled: true,
		P2P: node.P2PConfig{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoDHT: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg gosync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = n.Run(ctx, nil) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return n
}

// A light peer with only full peers over P2P for sources syncs their
// headers and proves what it reads through the light-serving protocols.
func TestLightOverP2P(t *testing.T) {
	full := fullPeer(t, stateGenesis)
	gen, err := chaingen.New(mustGenesis(t, stateGenesis))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := gen.Chain(gen.Genesis(), 20, func(b *chaingen.BlockGen) {
		b.Transfer(b.Index()%4, common.HexToAddress("0x77"), big.NewInt(1))
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if _, err := full.Chain().InsertBlock(b); err != nil && !errors.Is(err, chain.ErrKnownBlock) {
			t.Fatal(err)
		}
	}
	l := startLight(t, Config{Genesis: mustGenesis(t, stateGenesis), P2P: &P2PConfig{Bootnodes: full.P2PAddrs(), NoDHT: true}})
	waitFor(t, 30*time.Second, "the light peer to sync over P2P", headIs(l, blocks[19]))
	ctx := context.Background()
	h := blocks[15].Header()
	acct, vals, err := l.fetch.Account(ctx, h, slotAddr, []common.Hash{common.BigToHash(big.NewInt(1))})
	if err != nil || acct.Balance.Uint64() != 7 || vals[0] != common.HexToHash("0xbeef") {
		t.Fatalf("account over P2P: %+v %v %v", acct, vals, err)
	}
	code, err := l.fetch.Code(ctx, h, slotAddr, crypto.Keccak256Hash(slotCode))
	if err != nil || string(code) != string(slotCode) {
		t.Fatalf("code over P2P: %x %v", code, err)
	}
	b, err := l.fetch.Block(ctx, h)
	if err != nil || b.Hash() != blocks[15].Hash() {
		t.Fatalf("block over P2P: %v", err)
	}
	rs, err := l.fetch.Receipts(ctx, b)
	if err != nil || len(rs) != len(b.Transactions()) {
		t.Fatalf("receipts over P2P: %v", err)
	}
	tx := blocks[9].Transactions()[0]
	found, err := l.fetch.Transaction(ctx, tx.Hash())
	if err != nil || found.Block.Hash() != blocks[9].Hash() {
		t.Fatalf("transaction over P2P: %v", err)
	}
	// A new block arrives by gossip.
	next, err := gen.Chain(blocks[19], 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := full.Chain().InsertBlock(next[0]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the light peer to follow the full peer", headIs(l, next[0]))
	for _, s := range l.Sources() {
		if s.Dropped != "" || s.Strikes > 0 {
			t.Fatalf("an honest full peer was penalised: %+v", s)
		}
	}
}
