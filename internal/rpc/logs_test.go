package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/ethdb/memorydb"
	"github.com/ethereum/go-ethereum/rlp"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/ethereum/go-ethereum/trie"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
)

var (
	// emits LOG2(topic0=logTopic, topic1=caller) with the calldata as data:
	// CALLDATASIZE PUSH0 PUSH0 CALLDATACOPY CALLER PUSH32 topic CALLDATASIZE PUSH0 LOG2 STOP
	logTopic = common.HexToHash("0x1111111111111111111111111111111111111111111111111111111111111111")
	logCode  = append(append(common.FromHex("365f5f37337f"), logTopic[:]...), common.FromHex("365fa200")...)
)

func TestLogsFiltersAndSubscriptions(t *testing.T) {
	e := newEnv(t, Config{LogRange: 50})
	ctx := context.Background()
	ws, err := ethclient.Dial("ws://" + e.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	heads := make(chan *types.Header, 16)
	hsub, err := ws.SubscribeNewHead(ctx, heads)
	if err != nil {
		t.Fatal(err)
	}
	defer hsub.Unsubscribe()
	logsCh := make(chan types.Log, 16)
	lsub, err := ws.SubscribeFilterLogs(ctx, ethereum.FilterQuery{Addresses: []common.Address{deployAddr(t)}}, logsCh)
	if err != nil {
		t.Fatal(err)
	}
	defer lsub.Unsubscribe()
	var pendingHashes []common.Hash
	rawWS, err := gethrpc.Dial("ws://" + e.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer rawWS.Close()
	pendingCh := make(chan common.Hash, 16)
	psub, err := rawWS.EthSubscribe(ctx, pendingCh, "newPendingTransactions")
	if err != nil {
		t.Fatal(err)
	}
	defer psub.Unsubscribe()

	blockFilter, jerr := e.call("eth_newBlockFilter")
	if jerr != nil {
		t.Fatal(jerr)
	}
	logFilter, jerr := e.call("eth_newFilter", map[string]any{"fromBlock": "0x0", "address": deployAddr(t), "topics": []any{logTopic}})
	if jerr != nil {
		t.Fatal(jerr)
	}

	// Block 1 deploys the log contract; blocks 2 and 3 call it.
	deploy := e.deployTx(t)
	if err := e.pool.Add([]*types.Transaction{deploy})[0]; err != nil {
		t.Fatal(err)
	}
	select {
	case h := <-pendingCh:
		pendingHashes = append(pendingHashes, h)
	case <-time.After(10 * time.Second):
		t.Fatal("no pending transaction notification")
	}
	if pendingHashes[0] != deploy.Hash() {
		t.Fatalf("pending notification %s, want %s", pendingHashes[0], deploy.Hash())
	}
	e.mine(1, func(b *chaingen.BlockGen) { b.AddTx(deploy) })
	call1 := signCall(t, e, 1, 0, []byte("first"))
	call2 := signCall(t, e, 2, 0, []byte("second"))
	e.mine(1, func(b *chaingen.BlockGen) { b.AddTx(call1) })
	e.mine(1, func(b *chaingen.BlockGen) { b.AddTx(call2) })

	for i := 1; i <= 3; i++ {
		select {
		case h := <-heads:
			if h.Number.Uint64() != uint64(i) {
				t.Fatalf("newHeads #%d: block %v", i, h.Number)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no newHeads notification for block %d", i)
		}
	}
	for i, want := range []string{"first", "second"} {
		select {
		case l := <-logsCh:
			if string(l.Data) != want || l.Topics[0] != logTopic || l.Topics[1] != common.BytesToHash(chaingen.Addr(i+1).Bytes()) || l.BlockNumber != uint64(i+2) {
				t.Fatalf("log subscription #%d: %+v", i, l)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no log notification %d", i)
		}
	}
	// Polling filters.
	var hashes []common.Hash
	res, jerr := e.call("eth_getFilterChanges", json.RawMessage(blockFilter))
	if jerr != nil || json.Unmarshal(res, &hashes) != nil || len(hashes) != 3 {
		t.Fatalf("block filter changes: %s %v", res, jerr)
	}
	var logs []types.Log
	res, jerr = e.call("eth_getFilterChanges", json.RawMessage(logFilter))
	if jerr != nil || json.Unmarshal(res, &logs) != nil || len(logs) != 2 {
		t.Fatalf("log filter changes: %s %v", res, jerr)
	}
	res, _ = e.call("eth_getFilterChanges", json.RawMessage(logFilter))
	if string(res) != "[]" {
		t.Fatalf("second poll not empty: %s", res)
	}
	res, jerr = e.call("eth_getFilterLogs", json.RawMessage(logFilter))
	if jerr != nil || json.Unmarshal(res, &logs) != nil || len(logs) != 2 {
		t.Fatalf("filter logs: %s %v", res, jerr)
	}
	if res, _ := e.call("eth_uninstallFilter", json.RawMessage(logFilter)); string(res) != "true" {
		t.Fatalf("uninstall: %s", res)
	}
	if _, jerr := e.call("eth_getFilterChanges", json.RawMessage(logFilter)); jerr == nil || jerr.Message != "filter not found" {
		t.Fatalf("uninstalled filter: %+v", jerr)
	}

	// eth_getLogs: topic by sender, block range, hash, limits.
	got, err := e.ec.FilterLogs(ctx, ethereum.FilterQuery{FromBlock: big.NewInt(0), Topics: [][]common.Hash{{logTopic}, {common.BytesToHash(chaingen.Addr(2).Bytes())}}})
	if err != nil || len(got) != 1 || string(got[0].Data) != "second" {
		t.Fatalf("logs by second topic: %v %v", got, err)
	}
	got, err = e.ec.FilterLogs(ctx, ethereum.FilterQuery{FromBlock: big.NewInt(2), ToBlock: big.NewInt(2)})
	if err != nil || len(got) != 1 || got[0].TxHash != call1.Hash() || got[0].Index != 0 {
		t.Fatalf("logs of block 2: %v %v", got, err)
	}
	bh := e.chain.GetBlockByNumber(3).Hash()
	got, err = e.ec.FilterLogs(ctx, ethereum.FilterQuery{BlockHash: &bh})
	if err != nil || len(got) != 1 || got[0].BlockHash != bh {
		t.Fatalf("logs by block hash: %v %v", got, err)
	}
	e.mine(60, nil)
	if _, jerr := e.call("eth_getLogs", map[string]any{"fromBlock": "0x0", "toBlock": "latest"}); jerr == nil || !strings.Contains(jerr.Message, "exceeds the node's limit of 50 blocks") {
		t.Fatalf("range over the limit: %+v", jerr)
	}
	if _, jerr := e.call("eth_getLogs", map[string]any{"blockHash": bh, "fromBlock": "0x1"}); jerr == nil {
		t.Fatal("blockHash with fromBlock accepted")
	}
	if _, jerr := e.call("eth_getLogs", map[string]any{"topics": []any{1, 2, 3, 4, 5}}); jerr == nil || jerr.Code != -32602 {
		t.Fatalf("five topic positions: %+v", jerr)
	}
}

// deployAddr is where test key 0's first contract lands.
func deployAddr(t *testing.T) common.Address {
	return crypto.CreateAddress(chaingen.Addr(0), 0)
}

// deployTx deploys logCode from key 0: initcode copies the runtime to memory
// and returns it.
func (e *env) deployTx(t *testing.T) *types.Transaction {
	t.Helper()
	// PUSH1 len PUSH1 12 PUSH0 CODECOPY PUSH1 len PUSH0 RETURN ‖ runtime
	n := byte(len(logCode))
	init := append([]byte{0x60, n, 0x60, 10, 0x5f, 0x39, 0x60, n, 0x5f, 0xf3}, logCode...)
	tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(1337), Nonce: 0, GasTipCap: big.NewInt(1e9),
		GasFeeCap: big.NewInt(100e9), Gas: 200_000, Data: init}), e.gen.Signer(), chaingen.Key(0))
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func signCall(t *testing.T, e *env, k int, nonce uint64, data []byte) *types.Transaction {
	t.Helper()
	to := deployAddr(t)
	tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(1337), Nonce: nonce, GasTipCap: big.NewInt(int64(1e9) * int64(k)),
		GasFeeCap: big.NewInt(100e9), Gas: 100_000, To: &to, Data: data}), e.gen.Signer(), chaingen.Key(k))
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func TestFeeHistory(t *testing.T) {
	e := newEnv(t, Config{})
	e.mine(3, func(b *chaingen.BlockGen) {
		b.Transfer(0, common.HexToAddress("0x01"), big.NewInt(1))
		b.Transfer(1, common.HexToAddress("0x01"), big.NewInt(1))
	})
	fh, err := e.ec.FeeHistory(context.Background(), 4, nil, []float64{10, 90})
	if err != nil {
		t.Fatal(err)
	}
	if fh.OldestBlock.Uint64() != 0 || len(fh.BaseFee) != 5 || len(fh.GasUsedRatio) != 4 || len(fh.Reward) != 4 {
		t.Fatalf("fee history shape: oldest %v, %d base fees, %d ratios, %d rewards", fh.OldestBlock, len(fh.BaseFee), len(fh.GasUsedRatio), len(fh.Reward))
	}
	for i := 1; i <= 3; i++ {
		b := e.chain.GetBlockByNumber(uint64(i))
		if fh.BaseFee[i].Cmp(b.BaseFee()) != 0 || fh.GasUsedRatio[i] != float64(b.GasUsed())/float64(b.GasLimit()) {
			t.Fatalf("block %d: base fee %v ratio %v", i, fh.BaseFee[i], fh.GasUsedRatio[i])
		}
		// chaingen tips 1 gwei
		if fh.Reward[i][0].Int64() != 1e9 || fh.Reward[i][1].Int64() != 1e9 {
			t.Fatalf("block %d rewards %v", i, fh.Reward[i])
		}
	}
	if _, jerr := e.call("eth_feeHistory", "0x2", "latest", []float64{50, 10}); jerr == nil || !strings.Contains(jerr.Message, "ascending") {
		t.Fatalf("descending percentiles: %+v", jerr)
	}
	if _, jerr := e.call("eth_feeHistory", "0x2", "latest", []float64{101}); jerr == nil || !strings.Contains(jerr.Message, "invalid reward percentile") {
		t.Fatalf("percentile over 100: %+v", jerr)
	}
}

func TestGetProofVerifies(t *testing.T) {
	e := newEnv(t, Config{})
	deploy := e.deployTx(t)
	e.mine(1, func(b *chaingen.BlockGen) { b.AddTx(deploy) })
	// Store something: answerAddr has no storage; use the EIP-2935 history
	// contract, which stored the genesis hash at slot 0.
	hist := common.HexToAddress("0x0000F90827F1C53a10cb7A02335B175320002935")
	var p accountProof
	res, jerr := e.call("eth_getProof", hist, []string{"0x0", "0x5"}, "latest")
	if jerr != nil {
		t.Fatal(jerr)
	}
	if err := json.Unmarshal(res, &p); err != nil {
		t.Fatal(err)
	}
	root := e.chain.CurrentBlock().Root()
	db := memorydb.New()
	for _, n := range p.AccountProof {
		b := hexutil.MustDecode(n)
		db.Put(crypto.Keccak256(b), b)
	}
	val, err := trie.VerifyProof(root, crypto.Keccak256(hist.Bytes()), db)
	if err != nil || val == nil {
		t.Fatalf("account proof does not verify: %v", err)
	}
	var acc types.StateAccount
	if err := rlp.DecodeBytes(val, &acc); err != nil {
		t.Fatal(err)
	}
	if acc.Root != p.StorageHash || acc.Nonce != uint64(p.Nonce) || !bytes.Equal(acc.CodeHash, p.CodeHash[:]) {
		t.Fatalf("proof account %+v differs from the answer %+v", acc, p)
	}
	sdb := memorydb.New()
	for _, n := range p.StorageProof[0].Proof {
		b := hexutil.MustDecode(n)
		sdb.Put(crypto.Keccak256(b), b)
	}
	sval, err := trie.VerifyProof(p.StorageHash, crypto.Keccak256(common.Hash{}.Bytes()), sdb)
	if err != nil || len(sval) == 0 {
		t.Fatalf("storage proof of slot 0 does not verify: %v", err)
	}
	var stored []byte
	if err := rlp.DecodeBytes(sval, &stored); err != nil || common.BytesToHash(stored) != e.chain.Genesis().Hash() {
		t.Fatalf("slot 0 holds %x, want the genesis hash", stored)
	}
	if p.StorageProof[0].Value.ToInt().Cmp(e.chain.Genesis().Hash().Big()) != 0 {
		t.Fatalf("value of slot 0 %v", p.StorageProof[0].Value)
	}
	// A missing account proves its absence.
	res, jerr = e.call("eth_getProof", common.HexToAddress("0xabcdef"), []string{}, "latest")
	if jerr != nil || json.Unmarshal(res, &p) != nil {
		t.Fatal(jerr)
	}
	db = memorydb.New()
	for _, n := range p.AccountProof {
		b := hexutil.MustDecode(n)
		db.Put(crypto.Keccak256(b), b)
	}
	if val, err := trie.VerifyProof(root, crypto.Keccak256(common.HexToAddress("0xabcdef").Bytes()), db); err != nil || val != nil {
		t.Fatalf("absence proof: %x %v", val, err)
	}
}

func TestConfigAndOverrides(t *testing.T) {
	e := newEnv(t, Config{})
	var cfg configResult
	res, jerr := e.call("eth_config")
	if jerr != nil || json.Unmarshal(res, &cfg) != nil || cfg.Current == nil {
		t.Fatalf("eth_config: %s %v", res, jerr)
	}
	if cfg.Current.ChainID.ToInt().Int64() != 1337 || cfg.Current.Precompiles["P256VERIFY"] == (common.Address{}) ||
		len(cfg.Current.SystemContracts) != 1 || cfg.Next != nil || len(cfg.Current.ForkID) != 4 {
		t.Fatalf("eth_config: %s", res)
	}
	// Override the code of an empty account with the answer contract.
	target := common.HexToAddress("0x0000000000000000000000000000000000c0ffee")
	res, jerr = e.call("eth_call", map[string]any{"to": target}, "latest", map[string]any{target.Hex(): map[string]any{"code": hexutil.Encode(answerCode)}})
	if jerr != nil || new(big.Int).SetBytes(hexutil.MustDecode(strings.Trim(string(res), `"`))).Int64() != 42 {
		t.Fatalf("call with a code override: %s %v", res, jerr)
	}
	if _, jerr := e.call("eth_call", map[string]any{"to": target}, "latest", map[string]any{target.Hex(): map[string]any{"state": map[string]string{}, "stateDiff": map[string]string{}}}); jerr == nil || !strings.Contains(jerr.Message, "both 'state' and 'stateDiff'") {
		t.Fatalf("state and stateDiff together: %+v", jerr)
	}
	poor := common.HexToAddress("0x0000000000000000000000000000000000000bad")
	gas, jerr := e.call("eth_estimateGas", map[string]any{"from": poor, "to": target, "value": "0x10", "maxFeePerGas": "0x3b9aca00"}, "latest",
		map[string]any{poor.Hex(): map[string]any{"balance": "0xde0b6b3a7640000"}})
	if jerr != nil || string(gas) != `"0x5208"` {
		t.Fatalf("estimate with a balance override: %s %+v", gas, jerr)
	}
}
