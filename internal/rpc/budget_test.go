package rpc

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
)

var slowAddr = common.HexToAddress("0x00000000000000000000000000000000005105e0")

// loopOverride gives slowAddr code that loops until out of gas or time.
var loopOverride = map[string]any{slowAddr.Hex(): map[string]any{"code": hexutil.Encode(loopCode)}}

// gasGateCode succeeds at once when it starts with at least threshold
// gas and otherwise loops until out of gas: GAS PUSH4 threshold GT
// PUSH1 11 JUMPI STOP ‖ JUMPDEST PUSH1 11 JUMP. Its estimate needs many
// search steps, each failing one burning up to threshold gas.
func gasGateCode(threshold uint32) []byte {
	code := []byte{0x5a, 0x63, 0, 0, 0, 0, 0x11, 0x60, 0x0b, 0x57, 0x00, 0x5b, 0x60, 0x0b, 0x56}
	binary.BigEndian.PutUint32(code[2:], threshold)
	return code
}

type batchAnswer struct {
	ID     int             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *jsonError      `json:"error"`
}

// A batch of slow eth_calls gets one budget: it ends after about
// --rpc.timeout, the calls it did not reach answered -32002 "request timed
// out", instead of running one --rpc.evmtimeout after another.
func TestBatchBudget(t *testing.T) {
	const calls = 40
	budget, evm := time.Second, 250*time.Millisecond
	e := newEnv(t, Config{RequestTimeout: budget, EVMTimeout: evm, GasCap: 1 << 40})
	var batch []map[string]any
	for i := 0; i < calls; i++ {
		batch = append(batch, map[string]any{"jsonrpc": "2.0", "id": i, "method": "eth_call",
			"params": []any{map[string]any{"to": slowAddr}, "latest", loopOverride}})
	}
	body, _ := json.Marshal(batch)
	start := time.Now()
	raw := e.post(body)
	elapsed := time.Since(start)
	var answers []batchAnswer
	if err := json.Unmarshal(raw, &answers); err != nil {
		t.Fatalf("batch answer %.300s: %v", raw, err)
	}
	aborted, timedOut := 0, 0
	for _, a := range answers {
		switch {
		case a.Error == nil:
			t.Fatalf("call %d of an endless loop returned %s", a.ID, a.Result)
		case strings.HasPrefix(a.Error.Message, "execution aborted (timeout = "):
			aborted++
		case a.Error.Code == -32002 && a.Error.Message == "request timed out":
			timedOut++
		default:
			t.Fatalf("call %d: unexpected error %+v", a.ID, a.Error)
		}
	}
	t.Logf("batch of %d endless calls: %v, %d aborted by --rpc.evmtimeout %v, %d timed out by --rpc.timeout %v", calls, elapsed, aborted, evm, timedOut, budget)
	if len(answers) != calls || timedOut == 0 || aborted == 0 {
		t.Fatalf("%d answers, %d aborted, %d timed out", len(answers), aborted, timedOut)
	}
	if elapsed > budget+time.Second {
		t.Fatalf("the batch took %v; its budget is %v (without one, %v)", elapsed, budget, calls*evm)
	}
}

// One slow call ends with the request's budget even when
// --rpc.evmtimeout is longer, and the EVM stops with it (its heavy-call
// slot comes back).
func TestCallStopsWithTheRequest(t *testing.T) {
	budget := 500 * time.Millisecond
	e := newEnv(t, Config{RequestTimeout: budget, EVMTimeout: time.Minute, GasCap: 1 << 40, HeavyLimit: 1})
	start := time.Now()
	_, jerr := e.call("eth_call", map[string]any{"to": slowAddr}, "latest", loopOverride)
	elapsed := time.Since(start)
	if jerr == nil || jerr.Code != -32002 {
		t.Fatalf("endless call: %+v", jerr)
	}
	if elapsed > budget+time.Second {
		t.Fatalf("endless call answered after %v, budget %v", elapsed, budget)
	}
	waitFor(t, 5*time.Second, "the endless call still holds its slot", func() bool { return len(e.srv.eth.gate.slots) == 0 })
}

// eth_estimateGas gets one budget for all its search steps, not one per
// step. The same estimate is first timed without a limit; a node whose
// --rpc.evmtimeout is a quarter of that must answer within about it. (Each
// step alone fits in it: the slowest burns the threshold's gas, under a
// quarter of what the whole search burns; one budget per step would let
// the estimate run its full time.)
func TestEstimateGasOneBudget(t *testing.T) {
	const threshold = 8_000_000
	args := map[string]any{"from": common.HexToAddress("0x5e4d"), "to": slowAddr}
	override := map[string]any{slowAddr.Hex(): map[string]any{"code": hexutil.Encode(gasGateCode(threshold))}}

	free := newEnv(t, Config{EVMTimeout: time.Minute, RequestTimeout: time.Minute})
	start := time.Now()
	res, jerr := free.call("eth_estimateGas", args, "latest", override)
	full := time.Since(start)
	var gas hexutil.Uint64
	if jerr != nil || json.Unmarshal(res, &gas) != nil || gas < threshold || gas > threshold*1.02+50_000 {
		t.Fatalf("unhurried estimate: %s %+v", res, jerr)
	}

	budget := full / 4
	tight := newEnv(t, Config{EVMTimeout: budget, RequestTimeout: time.Minute})
	start = time.Now()
	_, jerr = tight.call("eth_estimateGas", args, "latest", override)
	elapsed := time.Since(start)
	t.Logf("estimate: %v and %d gas without a limit; %v with --rpc.evmtimeout %v (%+v)", full, gas, elapsed, budget, jerr)
	// Done within the budget (the machine sped up) or aborted by it.
	if jerr != nil && (!strings.Contains(jerr.Message, "execution aborted") || !strings.Contains(jerr.Message, "for all the runs of the gas estimation")) {
		t.Fatalf("estimate over its budget: %+v", jerr)
	}
	// One budget per step would let it run about its whole unhurried time
	// (four budgets); twice the budget leaves room for a loaded machine
	// (-race at load 10 measured 1.6×).
	if elapsed > budget*2+200*time.Millisecond {
		t.Fatalf("estimate took %v with a budget of %v", elapsed, budget)
	}
}

// The HTTP write timeout (budget + 2s) must not cut WebSocket connections,
// which outlive any request.
func TestWebSocketOutlivesWriteTimeout(t *testing.T) {
	e := newEnv(t, Config{RequestTimeout: 100 * time.Millisecond, GasCap: 1 << 40})
	ws := e.dialWS()
	heads := make(chan *types.Header, 4)
	sub, err := ws.EthSubscribe(context.Background(), heads, "newHeads")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	// Let the server's write deadline for the upgrade request pass: this
	// waits for time itself, not for an event.
	<-time.After(e.srv.http.WriteTimeout + 500*time.Millisecond)
	var n hexutil.Uint64
	if err := ws.Call(&n, "eth_blockNumber"); err != nil {
		t.Fatalf("call on a WebSocket older than the write timeout: %v", err)
	}
	e.mine(1, nil)
	select {
	case h := <-heads:
		if h.Number.Uint64() != 1 {
			t.Fatalf("newHeads: block %v", h.Number)
		}
	case err := <-sub.Err():
		t.Fatalf("subscription ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no newHeads notification on an old WebSocket")
	}
	// Heavy calls over a WebSocket get the request budget too.
	var out hexutil.Bytes
	err = ws.Call(&out, "eth_call", map[string]any{"to": slowAddr}, "latest", loopOverride)
	if err == nil || !strings.Contains(err.Error(), "execution aborted") {
		t.Fatalf("endless call over WebSocket: %v", err)
	}
}
