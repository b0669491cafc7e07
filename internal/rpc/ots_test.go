package rpc

import (
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
)

func (e *env) result(v any, method string, params ...any) {
	e.t.Helper()
	raw, jerr := e.call(method, params...)
	if jerr != nil {
		e.t.Fatalf("%s: %d %s", method, jerr.Code, jerr.Message)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		e.t.Fatalf("%s: %v in %s", method, err, raw)
	}
}

func TestOtsOnAFullPeer(t *testing.T) {
	e := newEnv(t, Config{})
	var transfer, reverted *types.Transaction
	e.mine(1, func(b *chaingen.BlockGen) {
		transfer = b.Transfer(0, chaingen.Addr(1), big.NewInt(1000))
		reverted = callTx(t, e, 0, 1, revertAddr, 100_000, nil)
		b.AddTx(reverted)
	})
	e.mine(2, func(b *chaingen.BlockGen) { b.Transfer(2, chaingen.Addr(3), big.NewInt(1)) })

	var level int
	e.result(&level, "ots_getApiLevel")
	if level != 8 {
		t.Fatalf("api level %d", level)
	}
	var out hexutil.Bytes
	e.result(&out, "ots_getTransactionError", reverted.Hash())
	if !strings.Contains(string(out), "nope") || len(out) != 100 {
		t.Fatalf("revert data %x", out)
	}
	e.result(&out, "ots_getTransactionError", transfer.Hash())
	if len(out) != 0 {
		t.Fatalf("a successful transaction's error is %x", out)
	}
	var trace []struct {
		Type   string         `json:"type"`
		Depth  int            `json:"depth"`
		To     common.Address `json:"to"`
		Output hexutil.Bytes  `json:"output"`
	}
	e.result(&trace, "ots_traceTransaction", reverted.Hash())
	if len(trace) != 1 || trace[0].Type != "CALL" || trace[0].To != revertAddr || len(trace[0].Output) != 100 {
		t.Fatalf("trace %+v", trace)
	}
	var search struct {
		Txs       []struct{ Hash common.Hash } `json:"txs"`
		Receipts  []map[string]any             `json:"receipts"`
		FirstPage bool                         `json:"firstPage"`
		LastPage  bool                         `json:"lastPage"`
	}
	e.result(&search, "ots_searchTransactionsBefore", chaingen.Addr(0), 0, 1)
	if len(search.Txs) != 2 || search.Txs[0].Hash != reverted.Hash() || !search.FirstPage || !search.LastPage || search.Receipts[1]["timestamp"] == nil {
		t.Fatalf("search before: %+v", search)
	}
	e.result(&search, "ots_searchTransactionsAfter", revertAddr, 0, 5)
	if len(search.Txs) != 1 || search.Txs[0].Hash != reverted.Hash() || !search.FirstPage || !search.LastPage {
		t.Fatalf("search after: %+v", search)
	}
	e.result(&search, "ots_searchTransactionsBefore", chaingen.Addr(0), 1, 5)
	if len(search.Txs) != 0 || search.FirstPage || !search.LastPage {
		t.Fatalf("search before block 1: %+v", search)
	}
	var hash *common.Hash
	e.result(&hash, "ots_getTransactionBySenderAndNonce", chaingen.Addr(0), "0x1")
	if hash == nil || *hash != reverted.Hash() {
		t.Fatalf("sender 0 nonce 1: %v", hash)
	}
	e.result(&hash, "ots_getTransactionBySenderAndNonce", chaingen.Addr(0), "0x2")
	if hash != nil {
		t.Fatalf("sender 0 nonce 2: %v", hash)
	}
	var details struct {
		Block     map[string]any `json:"block"`
		Issuance  map[string]any `json:"issuance"`
		TotalFees *hexutil.Big   `json:"totalFees"`
	}
	e.result(&details, "ots_getBlockDetails", "0x1")
	if details.Block["transactionCount"] != float64(2) || details.Block["logsBloom"] != nil || details.Block["transactions"] != nil ||
		details.TotalFees.ToInt().Sign() <= 0 || details.Issuance["blockReward"] == "0x0" {
		t.Fatalf("block details %+v", details)
	}
	var page struct {
		Fullblock struct {
			Transactions []struct{ Input hexutil.Bytes } `json:"transactions"`
		} `json:"fullblock"`
		Receipts []map[string]any `json:"receipts"`
	}
	e.result(&page, "ots_getBlockTransactions", "0x1", 1, 1)
	if len(page.Fullblock.Transactions) != 1 || len(page.Receipts) != 1 || page.Receipts[0]["logs"] != nil || page.Receipts[0]["status"] != "0x0" {
		t.Fatalf("block transactions page 1: %+v", page)
	}
	var has bool
	e.result(&has, "ots_hasCode", revertAddr, "latest")
	if !has {
		t.Fatal("the revert contract has no code")
	}
	e.result(&has, "ots_hasCode", chaingen.Addr(0), "latest")
	if has {
		t.Fatal("an account has code")
	}
	if _, jerr := e.call("ots_searchTransactionsBefore", chaingen.Addr(0), 0, 100_000); jerr == nil || !strings.Contains(jerr.Message, "page size") {
		t.Fatalf("a huge page: %+v", jerr)
	}
}

// headersOnly is a chain without the address index, as a light peer's.
type headersOnly struct{ Chain }

func TestOtsWithoutIndexIsAClearError(t *testing.T) {
	e := newEnvWith(t, Config{}, func(b *Backend) {
		b.Data = LocalData(b.Chain.(FullChain))
		b.Chain = headersOnly{b.Chain}
	})
	for _, m := range []string{"ots_getApiLevel", "ots_getTransactionError", "ots_searchTransactionsBefore"} {
		var params []any
		switch m {
		case "ots_getTransactionError":
			params = []any{common.Hash{}}
		case "ots_searchTransactionsBefore":
			params = []any{chaingen.Addr(0), 0, 5}
		}
		if _, jerr := e.call(m, params...); jerr == nil || !strings.Contains(jerr.Message, "light peer") {
			t.Fatalf("%s on a peer without the index: %+v", m, jerr)
		}
	}
}
