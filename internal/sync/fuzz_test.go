package sync

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/chain/chaintest"
	"github.com/peerchain/peerchain/internal/p2p"
	"github.com/peerchain/peerchain/internal/txpool"
)

// The fuzz targets feed arbitrary bytes to every decoder and handler a peer
// exposes to others: gossiped blocks and transactions, each request, each
// response. Whatever comes, the peer answers with an error or a verdict,
// never a crash; and, the invariant that matters, the honest next block
// is never condemned by what a stranger sent first.

type fuzzEnv struct {
	env    *chaintest.Env
	pool   *txpool.Pool
	s      *Syncer
	blocks []*types.Block // imported
	next   *types.Block   // the honest next block, never inserted
	from   peer.ID
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	f.Helper()
	env := chaintest.New(f, genesisOpts)
	pool, err := txpool.New(txpool.Config{Chain: env.Chain})
	if err != nil {
		f.Fatal(err)
	}
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		f.Fatal(err)
	}
	h, err := p2p.New(p2p.Config{Network: NetworkName(env.Genesis.ChainID(), env.Genesis.Hash()), Key: key,
		Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoDHT: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { h.Close() })
	// Rates high enough that the fuzzer, one "peer" sending everything,
	// reaches the checks behind them.
	s, err := New(Config{Host: h, Chain: env.Chain, Pool: pool, RequestRate: 1e12, GossipBlockRate: 1e12, ServeBytesRate: 1e15,
		TxFetchTimeout: 10 * time.Millisecond})
	if err != nil {
		f.Fatal(err)
	}
	blocks, err := env.Gen.Chain(env.Gen.Genesis(), 4, func(b *chaingen.BlockGen) {
		b.Transfer(b.Index()%4, common.HexToAddress("0xf0"), big.NewInt(1))
	})
	if err != nil {
		f.Fatal(err)
	}
	for _, b := range blocks[:3] {
		if _, err := env.Chain.InsertBlock(b); err != nil {
			f.Fatal(err)
		}
	}
	fromKey, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		f.Fatal(err)
	}
	from, err := peer.IDFromPrivateKey(fromKey)
	if err != nil {
		f.Fatal(err)
	}
	return &fuzzEnv{env: env, pool: pool, s: s, blocks: blocks[:3], next: blocks[3], from: from}
}

// check holds the invariants after any input.
func (e *fuzzEnv) check(t *testing.T) {
	if re, bad := e.env.Chain.IsBad(e.next.Hash()); bad {
		t.Fatalf("the honest next block was condemned: %v", re)
	}
	if head := e.env.Chain.CurrentBlock(); head == nil || !e.env.Chain.HasState(head.Root()) {
		t.Fatal("the head lost its state")
	}
}

func mustEncode(tb testing.TB, v any) []byte {
	tb.Helper()
	data, err := encode(v)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// FuzzGossipBlock: any bytes on the block topic.
func FuzzGossipBlock(f *testing.F) {
	e := newFuzzEnv(f)
	f.Add(mustEncode(f, e.blocks[2]))
	f.Add(mustEncode(f, swapBody(e.next, types.Body{Withdrawals: []*types.Withdrawal{}})))
	f.Add(mustEncode(f, swapBody(e.next, types.Body{Transactions: e.next.Transactions()})))
	f.Add(mustEncode(f, swapBody(e.next, types.Body{Transactions: e.blocks[1].Transactions(), Withdrawals: []*types.Withdrawal{}})))
	f.Add([]byte{0xc0})
	f.Fuzz(func(t *testing.T, data []byte) {
		e.s.validateBlock(context.Background(), e.from, e.from, data)
		e.check(t)
	})
}

// FuzzCompactBlock: any bytes on the compact block topic. The forwarder
// is no peer, so a rebuild has the message and the pool only (fetches
// fail); the honest next block's transactions are in the pool.
func FuzzCompactBlock(f *testing.F) {
	e := newFuzzEnv(f)
	for i, err := range e.pool.AddRemote(e.next.Transactions()) {
		if err != nil {
			f.Fatalf("pool refused transaction %d: %v", i, err)
		}
	}
	for _, prefill := range []bool{true, false} {
		cb, err := newCompactBlock(e.next, 1, func(*types.Transaction) bool { return prefill })
		if err != nil {
			f.Fatal(err)
		}
		// Not the honest message itself, which would be imported at once.
		cb.ShortIDs = append(cb.ShortIDs, 1, 2, 3, 4, 5, 6)
		f.Add(mustEncode(f, cb))
	}
	other, err := newCompactBlock(swapBody(e.next, types.Body{Transactions: e.blocks[1].Transactions(), Withdrawals: []*types.Withdrawal{}}), 2,
		func(*types.Transaction) bool { return true })
	if err != nil {
		f.Fatal(err)
	}
	f.Add(mustEncode(f, other))
	f.Add([]byte{0xc0})
	f.Fuzz(func(t *testing.T, data []byte) {
		e.s.validateCompact(context.Background(), e.from, e.from, data)
		e.check(t)
	})
}

// FuzzGossipTx: any bytes on the transaction topic.
func FuzzGossipTx(f *testing.F) {
	e := newFuzzEnv(f)
	for _, b := range e.blocks {
		for _, tx := range b.Transactions() {
			data, err := tx.MarshalBinary()
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	tx, err := e.env.Gen.Transfer(chaingen.Key(5), 0, common.HexToAddress("0xf1"), big.NewInt(1), e.blocks[2].BaseFee())
	if err != nil {
		f.Fatal(err)
	}
	data, err := tx.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte{0x02, 0xc0})
	f.Fuzz(func(t *testing.T, data []byte) {
		e.s.validateTx(context.Background(), e.from, e.from, data)
		e.check(t)
	})
}

// FuzzRequests: any request on each protocol (the first byte picks it).
// An answer that is not an error decodes as that protocol's response.
func FuzzRequests(f *testing.F) {
	e := newFuzzEnv(f)
	hashes := []common.Hash{e.blocks[0].Hash(), e.blocks[2].Hash(), {0x1}}
	f.Add(byte(0), mustEncode(f, e.s.status()))
	f.Add(byte(1), mustEncode(f, &HeadersRequest{Start: 1, Count: 3}))
	f.Add(byte(1), mustEncode(f, &HeadersRequest{Start: ^uint64(0) - 1, Count: ^uint64(0)}))
	f.Add(byte(2), mustEncode(f, &HashesRequest{Hashes: hashes}))
	f.Add(byte(3), mustEncode(f, &HashesRequest{Hashes: hashes}))
	f.Add(byte(4), []byte{})
	f.Add(byte(5), mustEncode(f, &BlockTxnRequest{Hash: e.blocks[2].Hash(), Indexes: []uint64{0}}))
	f.Add(byte(5), mustEncode(f, &BlockTxnRequest{Hash: e.blocks[2].Hash(), Indexes: []uint64{0, 1 << 40}}))
	f.Fuzz(func(t *testing.T, which byte, req []byte) {
		ctx := context.Background()
		switch which % 6 {
		case 0:
			if resp, err := e.s.handleStatus(ctx, e.from, req); err == nil {
				if _, err := parseStatus(resp); err != nil {
					t.Fatalf("our status answer does not parse: %v", err)
				}
			}
		case 1:
			if resp, err := e.s.handleHeaders(ctx, e.from, req); err == nil {
				var r HeadersRequest
				if decode(req, &r, "") == nil {
					if _, err := parseHeaders(resp, r.Start, min(r.Count, maxHeadersPerRequest)); err != nil {
						t.Fatalf("our headers answer does not parse: %v", err)
					}
				}
			}
		case 2:
			if resp, err := e.s.handleBodies(ctx, e.from, req); err == nil && len(resp) > maxBodiesResponse {
				t.Fatalf("bodies answer of %d bytes, over the cap", len(resp))
			}
		case 3:
			if resp, err := e.s.handleTxs(ctx, e.from, req); err == nil {
				if _, err := parseTxs(resp, maxTxsPerRequest); err != nil {
					t.Fatalf("our transactions answer does not parse: %v", err)
				}
			}
		case 4:
			if resp, err := e.s.handlePooled(ctx, e.from, req); err == nil {
				if _, err := parsePooled(resp); err != nil {
					t.Fatalf("our pooled answer does not parse: %v", err)
				}
			}
		case 5:
			if resp, err := e.s.handleBlockTxn(ctx, e.from, req); err == nil {
				var r BlockTxnRequest
				if decode(req, &r, "") == nil {
					if txs, err := parseTxs(resp, len(r.Indexes)); err != nil || (len(txs) != 0 && len(txs) != len(r.Indexes)) {
						t.Fatalf("our blocktxn answer does not parse or is partial: %d transactions for %d positions, %v", len(txs), len(r.Indexes), err)
					}
				}
			}
		}
		e.check(t)
	})
}

// FuzzResponses: any response to each request we make (the first byte
// picks which), taken as far as sync takes it: headers are verified as a
// chain, bodies checked against their headers.
func FuzzResponses(f *testing.F) {
	e := newFuzzEnv(f)
	headers := []*types.Header{e.blocks[1].Header(), e.blocks[2].Header(), e.next.Header()}
	bodies := &BodiesResponse{}
	for _, b := range []*types.Block{e.blocks[1], e.blocks[2], e.next} {
		bodies.Bodies = append(bodies.Bodies, b.Body())
	}
	f.Add(byte(0), mustEncode(f, e.s.status()))
	f.Add(byte(1), mustEncode(f, headers))
	f.Add(byte(2), mustEncode(f, bodies))
	f.Add(byte(2), mustEncode(f, &BodiesResponse{Bodies: []*types.Body{e.blocks[0].Body(), e.blocks[0].Body(), e.blocks[0].Body()}}))
	f.Add(byte(3), mustEncode(f, &TxsResponse{Txs: [][]byte{{0x02, 0xc0}}}))
	f.Add(byte(4), mustEncode(f, []common.Hash{{0x1}}))
	f.Fuzz(func(t *testing.T, which byte, resp []byte) {
		switch which % 5 {
		case 0:
			if st, err := parseStatus(resp); err == nil {
				_ = e.s.checkStatus(st)
			}
		case 1:
			hs, err := parseHeaders(resp, 2, 3)
			if err != nil {
				return
			}
			v, err := e.env.Chain.NewHeaderVerifier(e.blocks[0].Hash())
			if err != nil {
				t.Fatal(err)
			}
			_ = v.Verify(hs)
		case 2:
			blocks, err := parseBodies(resp, headers)
			if err != nil {
				return
			}
			for _, b := range blocks {
				_ = e.env.Chain.VerifyBody(b)
			}
		case 3:
			if txs, err := parseTxs(resp, maxTxsPerRequest); err == nil {
				e.pool.AddRemote(txs)
			}
		case 4:
			_, _ = parsePooled(resp)
		}
		e.check(t)
	})
}
