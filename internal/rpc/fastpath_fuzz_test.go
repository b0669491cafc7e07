package rpc

import (
	"bufio"
	"bytes"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/chain/chaintest"
	"github.com/peerchain/peerchain/internal/txpool"
)

// FuzzFastPath sends arbitrary bodies through the fast path and through
// go-ethereum's path on the same chain: the answers must be the same
// byte for byte, and whenever the fast scanner reads a body, the calls it
// gives admission (rate limits, metrics) must be those parseCalls reads.
func FuzzFastPath(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}`,
		`{"jsonrpc":"2.0","id":"x","method":"eth_chainId","params":[]}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0x0000000000000000000000000000000000000077","latest"]}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_getTransactionCount","params":["0x0000000000000000000000000000000000000077","0x1"]}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{"to":"0x00000000000000000000000000000000000a2a2a","data":"0x"},"latest"]}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["0x1",true]}`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_getTransactionReceipt","params":["0x0000000000000000000000000000000000000000000000000000000000000001"]}`,
		`[{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"},{"jsonrpc":"2.0","id":2,"method":"net_version"}]`,
		` [ {"jsonrpc":"2.0","id":-1.5e3,"method":"eth_blockNumber","params":null} ] `,
		`{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0x0000000000000000000000000000000000000077",{"blockNumber":"0x1"}]}`,
	} {
		f.Add([]byte(s))
	}
	ce := chaintest.New(f, chaingen.GenesisOptions{Alloc: types.GenesisAlloc{answerAddr: {Code: answerCode, Balance: new(big.Int)}}})
	blocks, err := ce.Gen.Chain(ce.Chain.CurrentBlock(), 3, func(b *chaingen.BlockGen) {
		b.Transfer(0, common.HexToAddress("0x77"), big.NewInt(1))
	})
	if err != nil {
		f.Fatal(err)
	}
	for _, b := range blocks {
		if _, err := ce.Chain.InsertBlock(b); err != nil {
			f.Fatal(err)
		}
	}
	pool, err := txpool.New(txpool.Config{Chain: ce.Chain})
	if err != nil {
		f.Fatal(err)
	}
	var handlers [2]http.Handler
	for i := range handlers {
		srv, err := NewServer(Config{Addr: "127.0.0.1:0", BatchItems: 10}, Backend{Chain: ce.Chain, Pool: LocalPool(pool)})
		if err != nil {
			f.Fatal(err)
		}
		if i == 1 {
			srv.fast = nil
		}
		handlers[i] = srv.Handler()
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if fcalls, batch, ok := scanRequest(body, 10, nil); ok {
			calls, wantBatch := parseCalls(body)
			if batch != wantBatch || len(calls) != len(fcalls) {
				t.Fatalf("%q: scanned %d calls (batch %v), parseCalls %d (batch %v)", body, len(fcalls), batch, len(calls), wantBatch)
			}
			for i, c := range fcalls {
				if c.method != calls[i].Method || !bytes.Equal(c.id, calls[i].ID) {
					t.Fatalf("%q: call %d scanned as %s %s, parseCalls %s %s", body, i, c.method, c.id, calls[i].Method, calls[i].ID)
				}
			}
		}
		var answers [2]*httptest.ResponseRecorder
		for i, h := range handlers {
			r := httptest.NewRequest(http.MethodPost, "http://localhost/", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			answers[i] = httptest.NewRecorder()
			h.ServeHTTP(answers[i], r)
		}
		f, s := answers[0], answers[1]
		if f.Code != s.Code || !bytes.Equal(f.Body.Bytes(), s.Body.Bytes()) || !equalHeaders(f.Header(), s.Header()) {
			t.Fatalf("%q:\nfast path: %d %v %s\ngo-ethereum: %d %v %s", body, f.Code, f.Header(), f.Body, s.Code, s.Header(), s.Body)
		}
	})
}

// FuzzConnHead reads arbitrary request heads: whatever the connection
// server's parser accepts, net/http reads the same way (method, target,
// Host, headers, length).
func FuzzConnHead(f *testing.F) {
	for _, s := range []string{
		"POST / HTTP/1.1\r\nHost: localhost:8545\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n",
		"POST /key?x=1 HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\nX-Forwarded-For: 1.2.3.4, 5.6.7.8\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nAccept:   */*  \r\nAccept: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	common := newCommonHeaders()
	f.Fuzz(func(t *testing.T, raw []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(raw), maxHead)
		head, _, ok := readHead(br, nil, 0)
		if !ok {
			return
		}
		r, ok := parseHead(&http.Request{}, head, "127.0.0.1:1", common)
		if !ok {
			return
		}
		want, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(append(slices.Clip(head), "\r\n"...))))
		if err != nil {
			t.Fatalf("%q: the connection server reads it, net/http does not: %v", head, err)
		}
		if r.Method != want.Method || r.RequestURI != want.RequestURI || r.URL.String() != want.URL.String() || r.Host != want.Host ||
			r.ContentLength != want.ContentLength || !equalHeaders(r.Header, want.Header) {
			t.Fatalf("%q: connection server %s %s %s %d %v; net/http %s %s %s %d %v", head, r.Method, r.URL, r.Host, r.ContentLength, r.Header,
				want.Method, want.URL, want.Host, want.ContentLength, want.Header)
		}
	})
}
