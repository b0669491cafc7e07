package light

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
)

var (
	// returns storage slot 1: PUSH1 1 SLOAD PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
	slotCode = common.FromHex("60015460005260206000f3")
	slotAddr = common.HexToAddress("0x00000000000000000000000000000000005107")
	// logs topic 0x11…: PUSH1 42 PUSH1 0 MSTORE PUSH32 topic PUSH1 32 PUSH1 0 LOG1 STOP
	logTopic = common.HexToHash("0x1111111111111111111111111111111111111111111111111111111111111111")
	logCode  = append(append(common.FromHex("602a6000527f"), logTopic[:]...), common.FromHex("60206000a100")...)
	logAddr  = common.HexToAddress("0x000000000000000000000000000000000000106")
)

// callerCode STATICCALLs slotAddr and returns what it returned:
// PUSH1 32 PUSH1 0 PUSH1 0 PUSH1 0 PUSH20 slotAddr GAS STATICCALL POP
// PUSH1 32 PUSH1 0 RETURN.
var (
	callerCode = append(append(common.FromHex("602060006000600073"), slotAddr.Bytes()...), common.FromHex("5afa5060206000f3")...)
	callerAddr = common.HexToAddress("0x00000000000000000000000000000000000ca11e")
)

var stateGenesis = chaingen.GenesisOptions{Accounts: 4, Alloc: types.GenesisAlloc{
	slotAddr:   {Code: slotCode, Balance: big.NewInt(7), Storage: map[common.Hash]common.Hash{common.BigToHash(big.NewInt(1)): common.HexToHash("0xbeef")}},
	logAddr:    {Code: logCode, Balance: new(big.Int)},
	callerAddr: {Code: callerCode, Balance: new(big.Int)},
}}

// lyingProxy forwards every call to an honest provider and alters the
// answers of some methods: the relayer who alters what it forwards.
type lyingProxy struct {
	honest *gethrpc.Client
	alter  map[string]func(json.RawMessage) json.RawMessage
	url    string
	mu     struct {
		sync.Mutex
		calls []string // method and outcome, for a failing test's log
	}
}

func (p *lyingProxy) note(call string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.mu.calls) < 200 {
		p.mu.calls = append(p.mu.calls, call)
	}
}

func (p *lyingProxy) calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.mu.calls)
}

type proxyService struct {
	p  *lyingProxy
	ns string
}

func (s *proxyService) forward(ctx context.Context, method string, args ...any) (json.RawMessage, error) {
	var raw json.RawMessage
	if err := s.p.honest.CallContext(ctx, &raw, s.ns+"_"+method, args...); err != nil {
		s.p.note(fmt.Sprintf("%s_%s: %v", s.ns, method, err))
		return nil, err
	}
	if f := s.p.alter[s.ns+"_"+method]; f != nil {
		raw = f(raw)
		s.p.note(s.ns + "_" + method + ": altered")
	} else {
		s.p.note(s.ns + "_" + method)
	}
	return raw, nil
}

type proxyEth struct{ proxyService }
type proxyPeerchain struct{ proxyService }

func (e *proxyEth) GetBlockByNumber(ctx context.Context, n json.RawMessage, full bool) (json.RawMessage, error) {
	return e.forward(ctx, "getBlockByNumber", n, full)
}
func (e *proxyEth) GetProof(ctx context.Context, a json.RawMessage, k json.RawMessage, b json.RawMessage) (json.RawMessage, error) {
	return e.forward(ctx, "getProof", a, k, b)
}
func (e *proxyEth) GetCode(ctx context.Context, a json.RawMessage, b json.RawMessage) (json.RawMessage, error) {
	return e.forward(ctx, "getCode", a, b)
}
func (e *proxyEth) GetTransactionByHash(ctx context.Context, h json.RawMessage) (json.RawMessage, error) {
	return e.forward(ctx, "getTransactionByHash", h)
}
func (e *proxyEth) Call(ctx context.Context, c json.RawMessage, b json.RawMessage) (json.RawMessage, error) {
	return e.forward(ctx, "call", c, b)
}
func (e *proxyEth) CreateAccessList(ctx context.Context, c json.RawMessage, b json.RawMessage) (json.RawMessage, error) {
	return e.forward(ctx, "createAccessList", c, b)
}
func (e *proxyEth) GetTransactionCount(ctx context.Context, a json.RawMessage, b json.RawMessage) (json.RawMessage, error) {
	return e.forward(ctx, "getTransactionCount", a, b)
}
func (p *proxyPeerchain) GetRawHeaders(ctx context.Context, s, c json.RawMessage) (json.RawMessage, error) {
	return p.forward(ctx, "getRawHeaders", s, c)
}
func (p *proxyPeerchain) GetRawBlock(ctx context.Context, h json.RawMessage) (json.RawMessage, error) {
	return p.forward(ctx, "getRawBlock", h)
}
func (p *proxyPeerchain) GetRawReceipts(ctx context.Context, h json.RawMessage) (json.RawMessage, error) {
	return p.forward(ctx, "getRawReceipts", h)
}

func newLyingProxy(t *testing.T, honestURL string, alter map[string]func(json.RawMessage) json.RawMessage) *lyingProxy {
	t.Helper()
	c, err := gethrpc.Dial(honestURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &lyingProxy{honest: c, alter: alter}
	srv := gethrpc.NewServer()
	if err := srv.RegisterName("eth", &proxyEth{proxyService{p, "eth"}}); err != nil {
		t.Fatal(err)
	}
	if err := srv.RegisterName("peerchain", &proxyPeerchain{proxyService{p, "peerchain"}}); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Stop(); c.Close() })
	p.url = hs.URL
	return p
}

// flipLastNode alters one byte of the last node of a proof list in an
// eth_getProof answer.
func flipLastNode(field string) func(json.RawMessage) json.RawMessage {
	return func(raw json.RawMessage) json.RawMessage {
		var m map[string]json.RawMessage
		_ = json.Unmarshal(raw, &m)
		switch field {
		case "accountProof":
			var nodes []hexutil.Bytes
			_ = json.Unmarshal(m["accountProof"], &nodes)
			nodes[len(nodes)-1][len(nodes[len(nodes)-1])-1] ^= 1
			m["accountProof"], _ = json.Marshal(nodes)
		case "storageProof":
			var sps []map[string]json.RawMessage
			_ = json.Unmarshal(m["storageProof"], &sps)
			var nodes []hexutil.Bytes
			_ = json.Unmarshal(sps[0]["proof"], &nodes)
			nodes[len(nodes)-1][len(nodes[len(nodes)-1])-1] ^= 1
			sps[0]["proof"], _ = json.Marshal(nodes)
			m["storageProof"], _ = json.Marshal(sps)
		}
		out, _ := json.Marshal(m)
		return out
	}
}

// Every answer the light peer takes is checked against its verified
// headers; each kind of lie is caught every time, the liar is dropped with
// the evidence, and the answer comes from the honest source.
func TestFetcherCatchesEveryLie(t *testing.T) {
	p := newProvider(t, stateGenesis)
	gen := p.env.Gen
	blocks := p.extend(t, 12, func(b *chaingen.BlockGen) {
		b.Transfer(b.Index()%4, common.HexToAddress("0x77"), big.NewInt(1))
		tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(1337), Nonce: b.Nonce(chaingen.Addr(3)),
			GasTipCap: big.NewInt(1e9), GasFeeCap: new(big.Int).Add(b.BaseFee(), big.NewInt(2e9)), Gas: 100_000, To: &logAddr}), gen.Signer(), chaingen.Key(3))
		if err != nil {
			t.Fatal(err)
		}
		b.AddTx(tx)
	})
	target := blocks[2] // deep enough below the head for withholding to count
	logTx := target.Transactions()[1]
	newCode := append([]byte{}, slotCode...)
	newCode[0] = 0x61
	cases := []struct {
		name  string
		alter map[string]func(json.RawMessage) json.RawMessage
		check func(t *testing.T, l *Light)
	}{
		{"a wrong balance", map[string]func(json.RawMessage) json.RawMessage{"eth_getProof": flipLastNode("accountProof")}, func(t *testing.T, l *Light) {
			acct, _, err := l.fetch.Account(context.Background(), target.Header(), slotAddr, nil)
			if err != nil || acct == nil || acct.Balance.Uint64() != 7 {
				t.Fatalf("account: %+v, %v", acct, err)
			}
		}},
		{"a forged storage slot", map[string]func(json.RawMessage) json.RawMessage{"eth_getProof": flipLastNode("storageProof")}, func(t *testing.T, l *Light) {
			_, vals, err := l.fetch.Account(context.Background(), target.Header(), slotAddr, []common.Hash{common.BigToHash(big.NewInt(1))})
			if err != nil || vals[0] != common.HexToHash("0xbeef") {
				t.Fatalf("slot: %v, %v", vals, err)
			}
		}},
		{"wrong code", map[string]func(json.RawMessage) json.RawMessage{"eth_getCode": func(json.RawMessage) json.RawMessage {
			out, _ := json.Marshal(hexutil.Bytes(newCode))
			return out
		}}, func(t *testing.T, l *Light) {
			code, err := l.fetch.Code(context.Background(), target.Header(), slotAddr, crypto.Keccak256Hash(slotCode))
			if err != nil || string(code) != string(slotCode) {
				t.Fatalf("code %x, %v", code, err)
			}
		}},
		{"a block body not in the chain", map[string]func(json.RawMessage) json.RawMessage{"peerchain_getRawBlock": func(json.RawMessage) json.RawMessage {
			enc, _ := rlp.EncodeToBytes(types.NewBlockWithHeader(target.Header()).WithBody(types.Body{Transactions: blocks[5].Transactions(), Withdrawals: []*types.Withdrawal{}}))
			out, _ := json.Marshal(hexutil.Bytes(enc))
			return out
		}}, func(t *testing.T, l *Light) {
			b, err := l.fetch.Block(context.Background(), target.Header())
			if err != nil || b.Transactions()[0].Hash() != target.Transactions()[0].Hash() {
				t.Fatalf("block: %v", err)
			}
		}},
		{"a receipt list missing a log", map[string]func(json.RawMessage) json.RawMessage{"peerchain_getRawReceipts": func(raw json.RawMessage) json.RawMessage {
			var encs []hexutil.Bytes
			_ = json.Unmarshal(raw, &encs)
			r := new(types.Receipt)
			_ = r.UnmarshalBinary(encs[1])
			r.Logs = nil
			encs[1], _ = r.MarshalBinary()
			out, _ := json.Marshal(encs)
			return out
		}}, func(t *testing.T, l *Light) {
			b, err := l.fetch.Block(context.Background(), target.Header())
			if err != nil {
				t.Fatal(err)
			}
			rs, err := l.fetch.Receipts(context.Background(), b)
			if err != nil || len(rs[1].Logs) != 1 || rs[1].Logs[0].Topics[0] != logTopic {
				t.Fatalf("receipts: %v", err)
			}
		}},
		{"not found for an existing transaction", map[string]func(json.RawMessage) json.RawMessage{"eth_getTransactionByHash": func(json.RawMessage) json.RawMessage {
			return json.RawMessage("null")
		}}, func(t *testing.T, l *Light) {
			found, err := l.fetch.Transaction(context.Background(), logTx.Hash())
			if err != nil || found.Block.Hash() != target.Hash() || found.Index != 1 {
				t.Fatalf("transaction: %+v, %v", found, err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lie := newLyingProxy(t, p.url, c.alter)
			// The liar is asked first.
			l := startLight(t, Config{Providers: []string{lie.url, p.url}, Genesis: mustGenesis(t, stateGenesis)})
			waitFor(t, 20*time.Second, "the light peer to sync", headIs(l, blocks[11]))
			// The liar is asked first while it is in good standing; on a
			// loaded machine header sync may give it a strike (a slow
			// answer), which puts it last until it answers well again.
			waitFor(t, 20*time.Second, "the liar in good standing", func() bool {
				for _, s := range l.Sources() {
					if s.Name == lie.url {
						return s.Strikes == 0 && s.Dropped == ""
					}
				}
				return false
			})
			for i := 0; i < 3; i++ { // the truth every time
				c.check(t, l)
			}
			dropped := false
			for _, s := range l.Sources() {
				if s.Name == lie.url && s.Dropped != "" {
					dropped = true
					t.Logf("evidence: %s", s.Dropped)
				}
				if s.Name == p.url && s.Dropped != "" {
					t.Fatalf("the honest provider was dropped: %s", s.Dropped)
				}
			}
			if !dropped {
				for _, s := range l.Sources() {
					t.Logf("source %s: strikes %d, claim %d, dropped %q", s.Name, s.Strikes, s.Claim.Number, s.Dropped)
				}
				t.Logf("the liar is %s; it was asked: %v", lie.url, lie.calls())
				t.Fatal("the liar was not dropped")
			}
		})
	}
}

// With only a liar to ask, the light peer answers with an error, never
// with the lie.
func TestOnlyLiarsGiveAnError(t *testing.T) {
	p := newProvider(t, stateGenesis)
	blocks := p.extend(t, 3, nil)
	lie := newLyingProxy(t, p.url, map[string]func(json.RawMessage) json.RawMessage{"eth_getProof": flipLastNode("accountProof")})
	l := startLight(t, Config{Providers: []string{lie.url}, Genesis: mustGenesis(t, stateGenesis)})
	waitFor(t, 20*time.Second, "the light peer to sync", headIs(l, blocks[2]))
	_, _, err := l.fetch.Account(context.Background(), blocks[2].Header(), slotAddr, nil)
	if !errors.Is(err, ErrUnprovable) || !strings.Contains(err.Error(), "lied") {
		t.Fatalf("got %v, want an unprovable answer naming the lie", err)
	}
}

// The state a call runs on reads proven accounts, storage and code.
func TestProvenState(t *testing.T) {
	p := newProvider(t, stateGenesis)
	blocks := p.extend(t, 2, nil)
	l := startLight(t, Config{Providers: []string{p.url}, Genesis: mustGenesis(t, stateGenesis)})
	waitFor(t, 20*time.Second, "the light peer to sync", headIs(l, blocks[1]))
	st, r, err := l.fetch.stateAt(context.Background(), blocks[1].Header())
	if err != nil {
		t.Fatal(err)
	}
	if bal := st.GetBalance(slotAddr); bal.Uint64() != 7 {
		t.Fatalf("balance %v", bal)
	}
	if v := st.GetState(slotAddr, common.BigToHash(big.NewInt(1))); v != common.HexToHash("0xbeef") {
		t.Fatalf("slot %s", v)
	}
	if code := st.GetCode(slotAddr); string(code) != string(slotCode) {
		t.Fatalf("code %x", code)
	}
	if bal := st.GetBalance(common.HexToAddress("0xdead00")); bal.Sign() != 0 {
		t.Fatalf("an absent account has balance %v", bal)
	}
	// Storage of accounts with an empty storage trie (a contract that
	// stores nothing, an externally owned account): proven empty.
	if v := st.GetState(logAddr, common.Hash{}); v != (common.Hash{}) {
		t.Fatalf("slot of a contract without storage: %s", v)
	}
	if v := st.GetState(chaingen.Addr(1), common.Hash{1}); v != (common.Hash{}) {
		t.Fatalf("slot of an account: %s", v)
	}
	for _, s := range l.Sources() {
		if s.Dropped != "" {
			t.Fatalf("an honest source was dropped: %s", s.Dropped)
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
}
