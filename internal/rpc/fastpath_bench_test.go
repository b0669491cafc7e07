package rpc

import (
	"bytes"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ethereum/go-ethereum/core/types"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/chain/chaintest"
	"github.com/peerchain/peerchain/internal/txpool"
)

// BenchmarkHandler measures the handler alone (no network) on the hot
// methods, through the fast path and through go-ethereum's path.
func BenchmarkHandler(b *testing.B) {
	bodies := map[string]string{
		"blockNumber": `{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}`,
		"getBalance":  `{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0x00000000000000000000000000000000000a2a2a","latest"]}`,
		"call":        `{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{"to":"0x00000000000000000000000000000000000a2a2a","data":"0x"},"latest"]}`,
	}
	for _, fast := range []bool{true, false} {
		srv := newBenchServer(b)
		if !fast {
			srv.fast = nil
		}
		h := srv.Handler()
		for name, body := range bodies {
			label := "geth/"
			if fast {
				label = "fast/"
			}
			b.Run(label+name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8545/", bytes.NewReader([]byte(body)))
					r.Header.Set("Content-Type", "application/json")
					r.RemoteAddr = "127.0.0.1:1234"
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					if w.Code != http.StatusOK {
						b.Fatalf("%d %s", w.Code, w.Body)
					}
				}
			})
		}
	}
}

func newBenchServer(b *testing.B) *Server {
	ce := chaintest.New(b, chaingen.GenesisOptions{Alloc: types.GenesisAlloc{
		answerAddr: {Code: answerCode, Balance: new(big.Int)},
	}})
	p, err := txpool.New(txpool.Config{Chain: ce.Chain})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := NewServer(Config{Addr: "127.0.0.1:0"}, Backend{Chain: ce.Chain, Pool: LocalPool(p)})
	if err != nil {
		b.Fatal(err)
	}
	return srv
}
