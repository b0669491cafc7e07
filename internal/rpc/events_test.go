package rpc

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
)

// stallerWS is a WebSocket client that subscribes and then never reads
// its socket again.
type stallerWS struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func dialStaller(t *testing.T, addr string) *stallerWS {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	w := &stallerWS{t: t, conn: conn, br: bufio.NewReader(conn)}
	resp, err := http.ReadResponse(w.br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("staller upgrade: %v %v", resp, err)
	}
	return w
}

// send writes one masked text frame (a zero mask key leaves the payload
// as is).
func (w *stallerWS) send(msg string) {
	w.t.Helper()
	frame := []byte{0x81}
	switch n := len(msg); {
	case n < 126:
		frame = append(frame, 0x80|byte(n))
	default:
		frame = append(frame, 0x80|126, byte(n>>8), byte(n))
	}
	frame = append(frame, 0, 0, 0, 0)
	if _, err := w.conn.Write(append(frame, msg...)); err != nil {
		w.t.Fatal(err)
	}
}

// read reads one unfragmented frame from the server.
func (w *stallerWS) read() (string, error) {
	var head [2]byte
	if _, err := io.ReadFull(w.br, head[:]); err != nil {
		return "", err
	}
	n := uint64(head[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(w.br, ext[:]); err != nil {
			return "", err
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(w.br, ext[:]); err != nil {
			return "", err
		}
		n = binary.BigEndian.Uint64(ext[:])
	}
	payload := make([]byte, n)
	_, err := io.ReadFull(w.br, payload)
	return string(payload), err
}

// subscribe asks for a catch-all logs subscription and returns the answer.
func (w *stallerWS) subscribe(id int) string {
	w.t.Helper()
	w.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"eth_subscribe","params":["logs",{}]}`, id))
	if err := w.conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		w.t.Fatal(err)
	}
	msg, err := w.read()
	if err != nil {
		w.t.Fatal(err)
	}
	return msg
}

// disconnected drains what the server sent and reports whether it then
// closed the connection.
func (w *stallerWS) disconnected(within time.Duration) error {
	if err := w.conn.SetReadDeadline(time.Now().Add(within)); err != nil {
		return err
	}
	for {
		if _, err := w.read(); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "connection reset") {
				return nil
			}
			return fmt.Errorf("still connected: %w", err)
		}
	}
}

// callTx signs a call from test key k.
func callTx(t *testing.T, e *env, k int, nonce uint64, to common.Address, gas uint64, data []byte) *types.Transaction {
	t.Helper()
	tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(1337), Nonce: nonce, GasTipCap: big.NewInt(1e9),
		GasFeeCap: big.NewInt(100e9), Gas: gas, To: &to, Data: data}), e.gen.Signer(), chaingen.Key(k))
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// logBlocks prepares n blocks on the chain's head, each with 2,000 logs
// from logSpamAddr and one from logAddr.
func (e *env) logBlocks(t *testing.T, n int) []*types.Block {
	t.Helper()
	blocks, err := e.gen.Chain(e.chain.CurrentBlock(), n, func(b *chaingen.BlockGen) {
		b.AddTx(callTx(t, e, 0, b.Nonce(chaingen.Addr(0)), logSpamAddr, 1_000_000, nil))
		b.AddTx(callTx(t, e, 1, b.Nonce(chaingen.Addr(1)), logAddr, 100_000, []byte(fmt.Sprintf("block %d", b.Number()))))
	})
	if err != nil {
		t.Fatal(err)
	}
	return blocks
}

// The attacker installs every polling filter the node allows, all
// matching every log, and opens WebSocket subscriptions it never reads
// (the staller). Blocks with 2,000 logs each must still go in at full
// speed; the limits answer with errors; the staller is disconnected;
// the honest poller and subscriber get every one of their logs.
//
// Before the events loop was split, this stopped the chain: every head
// ran, under one lock, one GetReceipts of a 2,000-log block per filter,
// the head channel (64) filled, and the chain's Send, which waits for
// every subscriber, held InsertBlock.
func TestFiltersCannotStopTheChain(t *testing.T) {
	const (
		maxFilters = 500
		nBlocks    = 100
		stallers   = 3
		subsPer    = 3
	)
	e := newEnv(t, Config{Filters: maxFilters, FiltersPerClient: maxFilters, SubscriptionsPerConn: subsPer})
	blocks := e.logBlocks(t, nBlocks)
	ctx := context.Background()

	// The honest: a polling filter and a subscription on logAddr.
	honest, jerr := e.call("eth_newFilter", map[string]any{"address": logAddr})
	if jerr != nil {
		t.Fatal(jerr)
	}
	ws, err := ethclient.Dial("ws://" + e.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	subLogs := make(chan types.Log, nBlocks+10)
	sub, err := ws.SubscribeFilterLogs(ctx, ethereum.FilterQuery{Addresses: []common.Address{logAddr}}, subLogs)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	// The attacker fills the filter table with catch-all filters.
	for installed := 1; installed < maxFilters; {
		n := min(100, maxFilters-installed)
		var batch []map[string]any
		for i := 0; i < n; i++ {
			batch = append(batch, map[string]any{"jsonrpc": "2.0", "id": i, "method": "eth_newFilter", "params": []any{map[string]any{}}})
		}
		body, _ := json.Marshal(batch)
		var answers []batchAnswer
		if err := json.Unmarshal(e.post(body), &answers); err != nil {
			t.Fatal(err)
		}
		for _, a := range answers {
			if a.Error != nil {
				t.Fatalf("filter %d: %+v", installed, a.Error)
			}
			installed++
		}
	}
	if _, jerr := e.call("eth_newFilter", map[string]any{}); jerr == nil || jerr.Code != errcodeLimit || !strings.Contains(jerr.Message, "--rpc.filters") {
		t.Fatalf("filter %d: %+v, want the filter limit", maxFilters+1, jerr)
	}
	var stalled []*stallerWS
	for i := 0; i < stallers; i++ {
		w := dialStaller(t, e.srv.Addr().String())
		for j := 0; j < subsPer; j++ {
			if answer := w.subscribe(j); !strings.Contains(answer, `"result":"0x`) {
				t.Fatalf("staller %d subscription %d: %s", i, j, answer)
			}
		}
		if answer := w.subscribe(subsPer); !strings.Contains(answer, "--rpc.ws.subscriptions") || !strings.Contains(answer, "-32005") {
			t.Fatalf("staller %d subscription %d: %s, want the per-connection limit", i, subsPer, answer)
		}
		stalled = append(stalled, w) // and never reads again
	}

	var (
		start   = time.Now()
		slowest time.Duration
		polled  []types.Log
	)
	poll := func() {
		res, jerr := e.call("eth_getFilterChanges", json.RawMessage(honest))
		var logs []types.Log
		if jerr != nil || json.Unmarshal(res, &logs) != nil {
			t.Fatalf("honest poll: %.200s %+v", res, jerr)
		}
		polled = append(polled, logs...)
	}
	for i, b := range blocks {
		t0 := time.Now()
		if _, err := e.chain.InsertBlock(b); err != nil {
			t.Fatal(err)
		}
		d := time.Since(t0)
		slowest = max(slowest, d)
		if d > 3*time.Second {
			t.Fatalf("InsertBlock of block %d took %v: filters and subscribers are holding up the chain", b.NumberU64(), d)
		}
		if i%10 == 9 {
			poll()
		}
	}
	total := time.Since(start)
	t.Logf("%d blocks of 2,001 logs inserted in %v (slowest %v) with %d catch-all filters and %d stalled subscriptions", nBlocks, total, slowest, maxFilters-1, stallers*subsPer)
	if total > 60*time.Second {
		t.Fatalf("%d blocks took %v", nBlocks, total)
	}

	// The honest poller gets every log of logAddr (once delivery catches up).
	waitFor(t, 30*time.Second, "the honest filter did not get its logs", func() bool {
		poll()
		return len(polled) >= nBlocks
	})
	for i, l := range polled {
		if l.Address != logAddr || l.BlockNumber != blocks[i].NumberU64() || string(l.Data) != fmt.Sprintf("block %d", l.BlockNumber) {
			t.Fatalf("honest log %d: %+v", i, l)
		}
	}
	for i := 0; i < nBlocks; i++ {
		select {
		case l := <-subLogs:
			if l.BlockNumber != blocks[i].NumberU64() {
				t.Fatalf("honest subscription log %d from block %d", i, l.BlockNumber)
			}
		case err := <-sub.Err():
			t.Fatalf("the honest subscriber was dropped: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatalf("honest subscription: %d of %d logs", i, nBlocks)
		}
	}
	for i, w := range stalled {
		if err := w.disconnected(30 * time.Second); err != nil {
			t.Fatalf("staller %d: %v", i, err)
		}
	}
	filters, subs := e.srv.eth.events.counts()
	if filters > maxFilters || subs != 1 {
		t.Fatalf("%d filters (limit %d) and %d subscriptions (want only the honest one) left", filters, maxFilters, subs)
	}
}
