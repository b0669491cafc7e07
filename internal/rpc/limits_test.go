package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/chain/chaintest"
	"github.com/peerchain/peerchain/internal/txpool"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// isLimit reports whether err is a JSON-RPC -32005 answer with all of want
// in its message.
func isLimit(err error, want ...string) bool {
	var rerr gethrpc.Error
	if !errors.As(err, &rerr) || rerr.ErrorCode() != errcodeLimit {
		return false
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			return false
		}
	}
	return true
}

// A 2 MB eth_feeHistory asked for ~200,000 percentiles per block; the
// answer is capped as in go-ethereum.
func TestFeeHistoryPercentileLimit(t *testing.T) {
	e := newEnv(t, Config{})
	e.mine(2, func(b *chaingen.BlockGen) { b.Transfer(0, common.HexToAddress("0x01"), big.NewInt(1)) })
	percentiles := make([]float64, 101)
	for i := range percentiles {
		percentiles[i] = float64(i)
	}
	_, jerr := e.call("eth_feeHistory", "0x2", "latest", percentiles)
	if jerr == nil || jerr.Message != "invalid reward percentile: over the query limit 100 (101 requested)" {
		t.Fatalf("101 percentiles: %+v", jerr)
	}
	res, jerr := e.call("eth_feeHistory", "0x2", "latest", percentiles[:100])
	var fh feeHistoryResult
	if jerr != nil || json.Unmarshal(res, &fh) != nil || len(fh.Reward) != 2 || len(fh.Reward[0]) != 100 {
		t.Fatalf("100 percentiles: %.200s %+v", res, jerr)
	}
}

// The events loop tests filters against blocks with precomputed bloom
// bits; they must agree with go-ethereum's bloom.
func TestBloomBitsAgreeWithGoEthereum(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	for i := 0; i < 500; i++ {
		var bloom types.Bloom
		for j := 0; j < r.IntN(40); j++ {
			bloom.Add(random(20))
		}
		in, out := random(32), random(20)
		bloom.Add(in)
		for _, v := range [][]byte{in, out} {
			bits := newBloomBits(v)
			if bits.in(&bloom) != bloom.Test(v) {
				t.Fatalf("%x: bloom bits say %v, go-ethereum says %v", v, bits.in(&bloom), bloom.Test(v))
			}
		}
		q := FilterQuery{Addresses: []common.Address{common.BytesToAddress(out)}, Topics: [][]common.Hash{{common.BytesToHash(in)}}}
		want := types.BloomLookup(bloom, common.BytesToAddress(out)) && types.BloomLookup(bloom, common.BytesToHash(in))
		if got := q.bloom().matches(&bloom); got != want {
			t.Fatalf("query %+v: matches %v, want %v", q, got, want)
		}
	}
}

// Polling filters are capped per client (one IP over HTTP, one WebSocket
// connection) and in all; subscriptions per connection and in all. A
// WebSocket's filters go with it.
func TestFilterAndSubscriptionLimits(t *testing.T) {
	e := newEnv(t, Config{Filters: 6, FiltersPerClient: 4, Subscriptions: 5, SubscriptionsPerConn: 2})
	for i := 0; i < 4; i++ {
		if _, jerr := e.call("eth_newBlockFilter"); jerr != nil {
			t.Fatal(jerr)
		}
	}
	_, jerr := e.call("eth_newFilter", map[string]any{})
	if jerr == nil || jerr.Code != errcodeLimit || !strings.Contains(jerr.Message, "client 127.0.0.1: 4 installed") || !strings.Contains(jerr.Message, "--rpc.clientfilters") {
		t.Fatalf("fifth filter of one IP: %+v", jerr)
	}
	ws := e.dialWS()
	var id string
	for i := 0; i < 2; i++ {
		if err := ws.Call(&id, "eth_newFilter", map[string]any{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ws.Call(&id, "eth_newPendingTransactionFilter"); !isLimit(err, "6 installed", "--rpc.filters") {
		t.Fatalf("seventh filter of the node: %v", err)
	}
	ws.Close()
	waitFor(t, 10*time.Second, "the closed WebSocket's filters are still installed", func() bool {
		n, _ := e.srv.eth.events.counts()
		return n == 4
	})

	var conns []*gethrpc.Client
	subscribe := func(c *gethrpc.Client) error {
		sub, err := c.EthSubscribe(context.Background(), make(chan any, 16), "newHeads")
		if err == nil {
			t.Cleanup(sub.Unsubscribe)
		}
		return err
	}
	for i := 0; i < 3; i++ {
		conns = append(conns, e.dialWS())
	}
	for _, c := range conns[:2] {
		for i := 0; i < 2; i++ {
			if err := subscribe(c); err != nil {
				t.Fatal(err)
			}
		}
		if err := subscribe(c); !isLimit(err, "2 open", "--rpc.ws.subscriptions") {
			t.Fatalf("third subscription of a connection: %v", err)
		}
	}
	if err := subscribe(conns[2]); err != nil {
		t.Fatal(err)
	}
	if err := subscribe(conns[2]); !isLimit(err, "5 open", "--rpc.subscriptions") {
		t.Fatalf("sixth subscription of the node: %v", err)
	}
}

func (e *env) dialWS() *gethrpc.Client {
	e.t.Helper()
	c, err := gethrpc.Dial("ws://" + e.srv.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(c.Close)
	return c
}

// When delivery falls a whole queue behind, the filters that missed
// events are dropped ("filter not found": clients recreate them) rather
// than answering as if nothing happened; others keep working.
func TestEventQueueOverflowDropsFilters(t *testing.T) {
	ce := chaintest.New(t, chaingen.GenesisOptions{})
	pool, err := txpool.New(txpool.Config{Chain: ce.Chain})
	if err != nil {
		t.Fatal(err)
	}
	// Not started: nothing delivers, as when delivery is stuck.
	srv, err := NewServer(Config{Addr: "127.0.0.1:0"}, Backend{Chain: ce.Chain, Pool: LocalPool(pool)})
	if err != nil {
		t.Fatal(err)
	}
	api, ev, ctx := srv.eth, srv.eth.events, context.Background()
	blocks, err := api.NewBlockFilter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pending, err := api.NewPendingTransactionFilter(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	genesis := ce.Chain.Genesis()
	head := chain.HeadEvent{Block: genesis, Added: []*types.Block{genesis}}
	for i := 0; i <= maxQueuedEvents; i++ {
		ev.enqueue(queued{head: &head})
	}
	ev.drain(ctx)
	if _, err := api.GetFilterChanges(blocks); !errors.Is(err, errFilterNotFound) {
		t.Fatalf("block filter that missed events: %v, want %v", err, errFilterNotFound)
	}
	if changes, err := api.GetFilterChanges(pending); err != nil || len(changes.([]common.Hash)) != 0 {
		t.Fatalf("pending filter (lost nothing): %v %v", changes, err)
	}
	blocks, err = api.NewBlockFilter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ev.enqueue(queued{head: &head})
	ev.drain(ctx)
	if changes, err := api.GetFilterChanges(blocks); err != nil || len(changes.([]common.Hash)) != 1 {
		t.Fatalf("recreated block filter: %v %v", changes, err)
	}
}

// Undelivered events of all filters together are bounded: the filters
// holding the most (never polled, here) go first; a polled one stays,
// although the attacker's filters were installed after it.
func TestFilterBacklogBudget(t *testing.T) {
	ce := chaintest.New(t, chaingen.GenesisOptions{})
	pool, err := txpool.New(txpool.Config{Chain: ce.Chain})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(Config{Addr: "127.0.0.1:0", Filters: 100, FiltersPerClient: 100}, Backend{Chain: ce.Chain, Pool: LocalPool(pool)})
	if err != nil {
		t.Fatal(err)
	}
	api, ev, ctx := srv.eth, srv.eth.events, context.Background()
	var ids []gethrpc.ID
	for i := 0; i < 50; i++ {
		id, err := api.NewPendingTransactionFilter(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	honest := ids[0]
	if _, err := api.GetFilterChanges(honest); err != nil {
		t.Fatal(err)
	}
	txs := make([]*types.Transaction, maxPending)
	for i := range txs {
		txs[i] = types.NewTx(&types.LegacyTx{Nonce: uint64(i)})
	}
	for round := 0; round < 3; round++ {
		ev.enqueue(queued{txs: txs})
		ev.drain(ctx)
		changes, err := api.GetFilterChanges(honest)
		if err != nil || len(changes.([]common.Hash)) != maxPending {
			t.Fatalf("round %d: the polled filter got %v, %v", round, len(changes.([]common.Hash)), err)
		}
	}
	ev.mu.Lock()
	buffered, left := ev.mu.buffered, len(ev.mu.filters)
	ev.mu.Unlock()
	if buffered > maxBuffered || left >= 50 || left < maxBuffered*9/10/maxPending {
		t.Fatalf("%d events buffered in %d filters, want at most %d", buffered, left, maxBuffered)
	}
	if _, err := api.GetFilterChanges(ids[1]); !errors.Is(err, errFilterNotFound) {
		t.Fatalf("the first never-polled filter: %v, want it dropped", err)
	}
}

// Heavy calls wait for a slot, then get "server busy" shortly before
// their budget ends; cheap calls are not held up.
func TestHeavyCallsWaitThenBusy(t *testing.T) {
	e := newEnv(t, Config{HeavyLimit: 1, RequestTimeout: time.Second})
	e.srv.eth.gate.slots <- struct{}{} // a long call holds the only slot
	if _, jerr := e.call("eth_blockNumber"); jerr != nil {
		t.Fatal(jerr)
	}
	start := time.Now()
	_, jerr := e.call("eth_call", map[string]any{"to": answerAddr}, "latest")
	waited := time.Since(start)
	if jerr == nil || jerr.Code != errcodeLimit || !strings.Contains(jerr.Message, "server busy: eth_call waited") || !strings.Contains(jerr.Message, "--rpc.heavylimit") {
		t.Fatalf("eth_call with every slot taken: %+v", jerr)
	}
	if waited < 800*time.Millisecond || waited > 3*time.Second {
		t.Fatalf("eth_call gave up after %v; want about the 1s budget", waited)
	}
	if _, jerr := e.call("eth_getLogs", map[string]any{}); jerr == nil || !strings.Contains(jerr.Message, "server busy: eth_getLogs") {
		t.Fatalf("eth_getLogs with every slot taken: %+v", jerr)
	}
	<-e.srv.eth.gate.slots
	if res, jerr := e.call("eth_call", map[string]any{"to": answerAddr}, "latest"); jerr != nil {
		t.Fatalf("eth_call with a free slot: %s %+v", res, jerr)
	}
}
