package sync

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/trie"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
)

// The reference vectors of the SipHash paper (appendix A): key 00…0f,
// messages 00, 00 01, … of each length.
func TestSipHash24Vectors(t *testing.T) {
	k0 := binary.LittleEndian.Uint64([]byte{0, 1, 2, 3, 4, 5, 6, 7})
	k1 := binary.LittleEndian.Uint64([]byte{8, 9, 10, 11, 12, 13, 14, 15})
	msg := make([]byte, 64)
	for i := range msg {
		msg[i] = byte(i)
	}
	for _, c := range []struct {
		n    int
		want uint64
	}{
		{0, 0x726fdb47dd0e0e31},
		{1, 0x74f839c593dc67fd},
		{8, 0x93f5f5799a932462},
		{15, 0xa129ca6149be45e5},
		{63, 0x958a324ceb064572},
	} {
		if got := siphash24(k0, k1, msg[:c.n]); got != c.want {
			t.Errorf("siphash24 of %d bytes = %#x, want %#x", c.n, got, c.want)
		}
	}
}

// dataTxs signs perSender transactions of size bytes of random calldata
// from each of the first senders accounts, at the nonces of p's head.
func dataTxs(t *testing.T, p *testPeer, senders, perSender, size int) []*types.Transaction {
	t.Helper()
	gen := p.env.Gen
	st, err := p.env.Chain.StateAtBlock(p.env.Chain.CurrentHeader())
	if err != nil {
		t.Fatal(err)
	}
	to := common.HexToAddress("0xda7a")
	var txs []*types.Transaction
	for s := 0; s < senders; s++ {
		nonce := st.GetNonce(chaingen.Addr(s))
		for j := 0; j < perSender; j++ {
			data := make([]byte, size)
			if _, err := crand.Read(data); err != nil {
				t.Fatal(err)
			}
			tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: p.env.Genesis.ChainID(), Nonce: nonce + uint64(j),
				GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(100e9), Gas: 31_000 + 40*uint64(size), To: &to, Data: data}),
				gen.Signer(), chaingen.Key(s))
			if err != nil {
				t.Fatal(err)
			}
			txs = append(txs, tx)
		}
	}
	return txs
}

// blockWith builds the block after parent holding txs.
func blockWith(t *testing.T, gen *chaingen.Generator, parent *types.Block, txs []*types.Transaction) *types.Block {
	t.Helper()
	blocks, err := gen.Chain(parent, 1, func(bg *chaingen.BlockGen) {
		for _, tx := range txs {
			bg.AddTx(tx)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return blocks[0]
}

// hold puts txs in p's pool as if a peer had sent them.
func hold(t *testing.T, p *testPeer, txs []*types.Transaction) {
	t.Helper()
	for _, tx := range txs {
		p.sync.fromNet.Add(tx.Hash(), true)
	}
	for i, err := range p.pool.AddRemote(txs) {
		if err != nil {
			t.Fatalf("pool refused transaction %d: %v", i, err)
		}
	}
	waitFor(t, 10*time.Second, "the transactions pending in the pool", func() bool {
		pending := make(map[common.Hash]bool)
		for _, tx := range p.sync.poolTxs() {
			pending[tx.Hash()] = true
		}
		for _, tx := range txs {
			if !pending[tx.Hash()] {
				return false
			}
		}
		return true
	})
}

func TestCompactBlockRoundTrip(t *testing.T) {
	p := newPeer(t)
	txs := dataTxs(t, p, 4, 3, 200)
	b := blockWith(t, p.env.Gen, p.env.Gen.Genesis(), txs)
	prefilled := map[common.Hash]bool{txs[0].Hash(): true, txs[5].Hash(): true, txs[11].Hash(): true}
	cb, err := newCompactBlock(b, 42, func(tx *types.Transaction) bool { return prefilled[tx.Hash()] })
	if err != nil {
		t.Fatal(err)
	}
	data, err := encode(cb)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := parseCompact(data)
	if err != nil {
		t.Fatal(err)
	}
	// The pool holds all but two, and a stranger.
	pool := append([]*types.Transaction{}, txs[1:3]...)
	pool = append(pool, txs[4:10]...)
	pool = append(pool, dataTxs(t, p, 6, 1, 10)[5])
	missing := plan.fill(pool)
	if want := []uint64{3, 10}; len(missing) != 2 || missing[0] != want[0] || missing[1] != want[1] {
		t.Fatalf("missing %v, want %v", missing, want)
	}
	plan.txs[3], plan.txs[10] = txs[3], txs[10]
	rebuilt := plan.block()
	if rebuilt.Hash() != b.Hash() || types.DeriveSha(rebuilt.Transactions(), trie.NewStackTrie(nil)) != b.TxHash() {
		t.Fatal("the rebuilt block is not the block")
	}
	if err := p.env.Chain.VerifyBody(rebuilt); err != nil {
		t.Fatalf("the rebuilt body does not match: %v", err)
	}
	if err := plan.checkAgainst(b); err != nil {
		t.Fatalf("an honest message does not check: %v", err)
	}
	if full, _ := encode(b); len(data) >= len(full) {
		t.Fatalf("compact %d bytes, full %d", len(data), len(full))
	}
	// A short id that names another transaction is caught against the block.
	plan.ids[1] ^= 1
	if err := plan.checkAgainst(b); err == nil || !strings.Contains(err.Error(), "position 1") {
		t.Fatalf("a wrong short id: %v", err)
	}
}

func TestParseCompactRejectsMalformed(t *testing.T) {
	p := newPeer(t)
	txs := dataTxs(t, p, 1, 3, 10)
	b := blockWith(t, p.env.Gen, p.env.Gen.Genesis(), txs)
	honest := func() *CompactBlock {
		cb, err := newCompactBlock(b, 7, func(tx *types.Transaction) bool { return tx.Hash() == txs[1].Hash() })
		if err != nil {
			t.Fatal(err)
		}
		return cb
	}
	for _, c := range []struct {
		name string
		mut  func(cb *CompactBlock)
		want string
	}{
		{"short ids cut", func(cb *CompactBlock) { cb.ShortIDs = cb.ShortIDs[:5] }, "not a multiple"},
		{"prefilled out of range", func(cb *CompactBlock) { cb.Prefilled[0].Index = 3 }, "position 3"},
		{"prefilled repeated", func(cb *CompactBlock) { cb.Prefilled = append(cb.Prefilled, cb.Prefilled[0]) }, "position 1"},
		{"more transactions than gas", func(cb *CompactBlock) {
			cb.Header.GasLimit = 2 * 21_000
		}, "holds at most 2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cb := honest()
			c.mut(cb)
			data, err := encode(cb)
			if err != nil {
				t.Fatal(err)
			}
			_, err = parseCompact(data)
			if !IsMalformed(err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want a malformed compact block (%q)", err, c.want)
			}
		})
	}
	if _, err := parseCompact(mustEncode(t, honest())); err != nil {
		t.Fatalf("the honest message: %v", err)
	}
	// The same layout with a prefilled transaction that does not decode.
	type rawPrefilled struct {
		Index uint64
		Tx    []byte
	}
	cb := honest()
	raw := struct {
		Header      *types.Header
		Nonce       uint64
		ShortIDs    []byte
		Prefilled   []rawPrefilled
		Withdrawals []*types.Withdrawal
	}{cb.Header, cb.Nonce, cb.ShortIDs, []rawPrefilled{{1, []byte{0x02, 0xc0}}}, cb.Withdrawals}
	if _, err := parseCompact(mustEncode(t, raw)); !IsMalformed(err) {
		t.Fatalf("an undecodable prefilled transaction: %v, want a malformed compact block", err)
	}
	raw.Prefilled[0].Tx, _ = txs[1].MarshalBinary()
	if _, err := parseCompact(mustEncode(t, raw)); err != nil {
		t.Fatalf("the raw layout of the honest message: %v", err)
	}
}

// newMesh starts n peers, each dialling all before it, configured by mut,
// and waits until every pair is connected and shares the compact topic.
func newMesh(t *testing.T, n int, mut func(*Config)) []*testPeer {
	t.Helper()
	var peers []*testPeer
	for i := 0; i < n; i++ {
		var boot []string
		for _, p := range peers {
			boot = append(boot, p.addr())
		}
		peers = append(peers, newPeerWith(t, mut, boot...))
	}
	waitFor(t, 30*time.Second, "every peer on the compact topic with every other", func() bool {
		for _, p := range peers {
			if len(p.sync.compact.Peers()) < n-1 || len(p.sync.blocks.Peers()) < n-1 {
				return false
			}
			for _, q := range peers {
				if _, ok := p.sync.peers.get(q.host.ID()); q != p && !ok {
					return false
				}
			}
		}
		return true
	})
	return peers
}

// blockBytes sums the bytes every peer sent on gossip and on the block
// protocols (bodies, blocktxn), by protocol.
func blockBytes(peers []*testPeer) map[string]uint64 {
	out := make(map[string]uint64)
	for _, p := range peers {
		for name, tr := range p.host.ProtocolTraffic() {
			if strings.Contains(name, "meshsub") || name == protoBlockTxn || name == protoBodies {
				out[name] += tr.BytesOut
			}
		}
	}
	return out
}

func total(m map[string]uint64) (n uint64) {
	for _, v := range m {
		n += v
	}
	return n
}

// settled waits until the byte counters (updated by libp2p once a second)
// stop moving and returns them.
func settled(t *testing.T, peers []*testPeer) map[string]uint64 {
	t.Helper()
	last, since := blockBytes(peers), time.Now()
	waitFor(t, 30*time.Second, "the byte counters to settle", func() bool {
		now := blockBytes(peers)
		if total(now) != total(last) {
			last, since = now, time.Now()
		}
		return time.Since(since) > 2500*time.Millisecond
	})
	return last
}

func diff(after, before map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64)
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// propagate has peers[0] broadcast b and returns the bytes it cost every
// peer, by protocol, once it is everyone's head.
func propagate(t *testing.T, peers []*testPeer, b *types.Block) map[string]uint64 {
	t.Helper()
	before := settled(t, peers)
	insertAll(t, peers[0], []*types.Block{b})
	peers[0].sync.Broadcast(b)
	for i, p := range peers {
		waitFor(t, 30*time.Second, "the block at every peer", headIs(p, b))
		if re, bad := p.env.Chain.IsBad(b.Hash()); bad {
			t.Fatalf("peer %d marked the block bad: %v", i, re)
		}
	}
	return diff(settled(t, peers), before)
}

// With the transactions in every pool, a compact block costs the network
// at least 90% fewer bytes than the full block does.
func TestCompactRelayCutsBlockBytes(t *testing.T) {
	const peersN = 4
	cost := make(map[bool]uint64)
	for _, full := range []bool{true, false} {
		name := map[bool]string{true: "full", false: "compact"}[full]
		t.Run(name, func(t *testing.T) {
			peers := newMesh(t, peersN, func(c *Config) { c.FullBlocks = full })
			txs := dataTxs(t, peers[0], 8, 5, 2500) // ~100 KiB
			for _, p := range peers {
				hold(t, p, txs)
			}
			b := blockWith(t, peers[0].env.Gen, peers[0].env.Gen.Genesis(), txs)
			used := propagate(t, peers, b)
			cost[full] = total(used)
			t.Logf("%s relay of a block of %d KiB to %d peers: %d bytes sent in all %v", name, b.Size()>>10, peersN-1, cost[full], used)
			for i, p := range peers[1:] {
				if st := p.sync.CompactStats(); !full && (st.Rebuilt != 1 || st.FromPool != uint64(len(txs)) || st.Fetched != 0) {
					t.Fatalf("peer %d: %+v, want the block rebuilt from its pool", i+1, st)
				}
			}
		})
	}
	if cost[true] == 0 || cost[false] == 0 {
		t.Fatal("a run measured nothing")
	}
	saved := 1 - float64(cost[false])/float64(cost[true])
	t.Logf("compact relay sent %d bytes, full relay %d: %.1f%% fewer", cost[false], cost[true], 100*saved)
	if saved < 0.9 {
		t.Fatalf("compact relay saved %.1f%% of the bytes, want at least 90%%", 100*saved)
	}
}

// With empty pools the miner prefills every transaction: nobody fetches.
// With partial pools a peer fetches exactly what its pool lacks.
func TestCompactRelayEmptyAndPartialPools(t *testing.T) {
	peers := newMesh(t, 3, nil)
	gen := peers[0].env.Gen
	txs := dataTxs(t, peers[0], 4, 3, 1000)
	b := blockWith(t, gen, gen.Genesis(), txs)
	used := propagate(t, peers, b)
	if used[protoBlockTxn] != 0 || used[protoBodies] != 0 {
		t.Fatalf("with empty pools peers fetched: %v", used)
	}
	for i, p := range peers[1:] {
		if st := p.sync.CompactStats(); st.Rebuilt != 1 || st.Prefilled != uint64(len(txs)) || st.Fallbacks != 0 {
			t.Fatalf("peer %d: %+v, want every transaction prefilled", i+1, st)
		}
	}

	more := dataTxs(t, peers[0], 4, 3, 1000)
	hold(t, peers[0], more)
	hold(t, peers[2], more)
	hold(t, peers[1], more[:6]) // the first two senders' transactions
	next := blockWith(t, gen, b, more)
	before := peers[1].sync.CompactStats()
	used = propagate(t, peers, next)
	st := peers[1].sync.CompactStats()
	if got := st.Fetched - before.Fetched; got != 6 || st.Fallbacks != 0 || st.FromPool-before.FromPool != 6 {
		t.Fatalf("the peer missing 6 transactions: %+v (before %+v), want 6 fetched and 6 from its pool", st, before)
	}
	if st2 := peers[2].sync.CompactStats(); st2.Fetched != 0 {
		t.Fatalf("the peer holding every transaction fetched %d", st2.Fetched)
	}
	t.Logf("partial pools: %v bytes", used)
}

// The compact attackers relay an honest block's compact message forged or
// withhold what it needs. Whatever they do, the victim imports the honest
// block, never marks it bad, and punishes the attacker, never the miner.
func TestCompactAttackersCannotStopAnHonestBlock(t *testing.T) {
	miner := newPeer(t)
	victim := newPeerWith(t, func(c *Config) { c.TxFetchTimeout = 500 * time.Millisecond }, miner.addr())
	gen := miner.env.Gen
	parent := gen.Genesis()
	// decoy: a transaction in the victim's pool that no block holds.
	decoy := dataTxs(t, victim, 8, 1, 100)[7]
	hold(t, victim, []*types.Transaction{decoy})
	waitFor(t, 20*time.Second, "the miner on the victim's compact topic", func() bool {
		return len(victim.sync.compact.Peers()) > 0
	})
	idOf := func(cb *CompactBlock, h common.Hash) []byte {
		var buf [8]byte
		k0, k1 := shortIDKeys(cb.Header.Hash(), cb.Nonce)
		binary.LittleEndian.PutUint64(buf[:], shortID(k0, k1, h))
		return buf[:shortIDLen]
	}
	for _, c := range []struct {
		name      string
		poolFull  bool // the victim holds the block's transactions
		prefill   bool
		forge     func(cb *CompactBlock)
		blockTxn  func(a *adversary) func(ctx context.Context, r BlockTxnRequest) ([]byte, error)
		wantBan   bool
		wantStrik bool
		// the rebuilt body fails, so the victim fetches the full body
		wantFallback bool
	}{
		{name: "wrong short ids", poolFull: true, forge: func(cb *CompactBlock) {
			for i := range cb.ShortIDs {
				cb.ShortIDs[i] ^= 0x5a
			}
		}, wantBan: true},
		{name: "colliding short id", poolFull: true, forge: func(cb *CompactBlock) {
			copy(cb.ShortIDs, idOf(cb, decoy.Hash()))
		}, wantBan: true, wantFallback: true},
		{name: "altered prefilled transaction", prefill: true, forge: func(cb *CompactBlock) {
			cb.Prefilled[1].Tx = decoy
		}, wantBan: true, wantFallback: true},
		{name: "withholder stalls", blockTxn: func(*adversary) func(context.Context, BlockTxnRequest) ([]byte, error) {
			return func(ctx context.Context, _ BlockTxnRequest) ([]byte, error) { return nil, stall(ctx) }
		}, wantStrik: true, wantFallback: true},
		{name: "withholder refuses", blockTxn: func(*adversary) func(context.Context, BlockTxnRequest) ([]byte, error) {
			return func(context.Context, BlockTxnRequest) ([]byte, error) { return nil, errors.New("no") }
		}, wantStrik: true, wantFallback: true},
		{name: "withholder serves other transactions", blockTxn: func(a *adversary) func(context.Context, BlockTxnRequest) ([]byte, error) {
			return func(_ context.Context, r BlockTxnRequest) ([]byte, error) {
				resp := a.blockTxn(r)
				enc, err := decoy.MarshalBinary()
				if err != nil {
					return nil, err
				}
				resp.Txs[0] = enc
				return encode(resp)
			}
		}, wantBan: true, wantFallback: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			txs := dataTxs(t, victim, 4, 2, 500)
			mined := blockWith(t, gen, parent, txs)
			insertAll(t, miner, []*types.Block{mined}) // the miner holds it (and serves it) but has not gossiped it
			if c.poolFull {
				hold(t, victim, txs)
			}
			att := newAdversary(t, victim, canonOf(victim, nil))
			att.set(func(a *adversary) { a.held = []*types.Block{mined} })
			if c.blockTxn != nil {
				f := c.blockTxn(att)
				att.set(func(a *adversary) { a.onBlockTxn = f })
			}
			att.joinedCompact()
			cb, err := newCompactBlock(mined, 99, func(*types.Transaction) bool { return c.prefill })
			if err != nil {
				t.Fatal(err)
			}
			if c.forge != nil {
				c.forge(cb)
			}
			strikes, before := victim.sync.peers.strikes(att.ID()), victim.sync.CompactStats()
			att.publishCompact(cb)
			waitFor(t, 20*time.Second, "the victim to import the honest block", headIs(victim, mined))
			if re, bad := victim.env.Chain.IsBad(mined.Hash()); bad {
				t.Fatalf("the honest block was marked bad: %v", re)
			}
			if c.wantBan {
				waitFor(t, 10*time.Second, "the victim to ban the attacker", func() bool { return victim.host.IsBanned(att.ID()) })
			}
			if c.wantStrik {
				if got := victim.sync.peers.strikes(att.ID()); got <= strikes {
					t.Fatalf("the withholder has %d strikes, had %d", got, strikes)
				}
			}
			if victim.host.IsBanned(miner.host.ID()) {
				t.Fatal("the honest miner was banned")
			}
			if got := victim.sync.CompactStats().Fallbacks - before.Fallbacks; got != map[bool]uint64{true: 1, false: 0}[c.wantFallback] {
				t.Fatalf("%d full-body fallbacks, want them only when the rebuilt body fails", got)
			}
			parent = mined
		})
	}
}
