package rpc

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/core/types"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/chain/chaintest"
	"github.com/peerchain/peerchain/internal/txpool"
)

// FuzzRequests sends arbitrary request bodies to the JSON-RPC handler:
// every one gets a JSON-RPC answer (a result or an error object), and no
// method handler may crash (go-ethereum's server would turn a panic into
// "method handler crashed", which fails the test).
func FuzzRequests(f *testing.F) {
	seeds := []string{
		`{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","latest"]}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["0x0",true]}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByHash","params":["0x00",false]}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{"to":"0x0000000000000000000000000000000000000001","data":"0x00"},"latest",{"0x0000000000000000000000000000000000000002":{"code":"0x00","stateDiff":{}}}]}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_estimateGas","params":[{"from":"0x0000000000000000000000000000000000000001","value":"0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"}]}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_getLogs","params":[{"fromBlock":"0x0","toBlock":"latest","address":["0x0000000000000000000000000000000000000001"],"topics":[null,["0x0000000000000000000000000000000000000000000000000000000000000001"]]}]}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0x02f8"]}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_feeHistory","params":["0x400","latest",[1,50,99]]}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_getProof","params":["0x0000000000000000000000000000000000000001",["0x0","0x01"],"latest"]}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_getStorageAt","params":["0x0000000000000000000000000000000000000001","0x123","earliest"]}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_newFilter","params":[{"address":"0x0000000000000000000000000000000000000001"}]}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_getFilterChanges","params":["0x1"]}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_getTransactionByBlockNumberAndIndex","params":["latest","0xffffffff"]}`,
		`[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","id":2,"method":"net_version"}]`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_getBlockReceipts","params":[{"blockHash":"0x00"}]}`,
		`{"jsonrpc":"2.0","id":1,"method":"peerchain_nodeInfo"}`,
		`not json`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	ce := chaintest.New(f, chaingen.GenesisOptions{})
	pool, err := txpool.New(txpool.Config{Chain: ce.Chain})
	if err != nil {
		f.Fatal(err)
	}
	srv, err := NewServer(Config{Addr: "127.0.0.1:0"}, Backend{Chain: ce.Chain, Pool: LocalPool(pool)})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Host = "localhost" // httptest's example.com is not one of the node's names
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		out := rec.Body.Bytes()
		if strings.Contains(string(out), "method handler crashed") {
			t.Fatalf("a method crashed on %q: %s", body, out)
		}
		if rec.Code == http.StatusOK && len(bytes.TrimSpace(out)) > 0 && !json.Valid(out) {
			t.Fatalf("invalid JSON answer to %q: %s", body, out)
		}
	})
}

// FuzzFilterQuery decodes arbitrary filter objects: an error or a query,
// never a crash, and matching a decoded query never panics.
func FuzzFilterQuery(f *testing.F) {
	f.Add([]byte(`{"address":"0x0000000000000000000000000000000000000001","topics":[null,"0x0000000000000000000000000000000000000000000000000000000000000001",[null]]}`))
	f.Add([]byte(`{"blockHash":"0x0000000000000000000000000000000000000000000000000000000000000001","fromBlock":"latest"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var q FilterQuery
		if err := json.Unmarshal(data, &q); err != nil {
			return
		}
		if len(q.Topics) > maxTopics {
			t.Fatalf("%d topic positions accepted", len(q.Topics))
		}
		q.bloom().matches(&types.Bloom{})
	})
}
