package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/peerchain/peerchain/internal/params"
)

// fakeNode answers the eth_ methods a wallet calls, with the values its
// fields hold, and records what it is sent.
type fakeNode struct {
	mu          sync.Mutex
	chainID     int64
	nonce       uint64
	tip         *big.Int
	baseFee     *big.Int // nil: a pre-London head
	gas         uint64
	balance     *big.Int
	estimateErr error
	sendErr     error
	nullAnswers int    // receipt requests answered null before the receipt
	status      uint64 // of the receipt

	nonceTags    []string
	estimates    []map[string]any
	raw          [][]byte
	receiptCalls int
}

func newFakeNode() *fakeNode {
	return &fakeNode{
		chainID: params.DevChainID,
		nonce:   7,
		tip:     big.NewInt(1_000_000_000),
		baseFee: big.NewInt(875_000_000),
		gas:     21000,
		balance: new(big.Int).Mul(big.NewInt(10000), big.NewInt(1e18)),
		status:  types.ReceiptStatusSuccessful,
	}
}

// serve starts the fake on a loopback port and returns its URL.
func (n *fakeNode) serve(t *testing.T) string {
	t.Helper()
	srv := rpc.NewServer()
	if err := srv.RegisterName("eth", &fakeEth{n}); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { ts.Close(); srv.Stop() })
	return ts.URL
}

type fakeEth struct{ n *fakeNode }

func (e *fakeEth) ChainId() *hexutil.Big { return (*hexutil.Big)(big.NewInt(e.n.chainID)) }

func (e *fakeEth) GetBalance(addr common.Address, block string) *hexutil.Big {
	e.n.mu.Lock()
	defer e.n.mu.Unlock()
	return (*hexutil.Big)(e.n.balance)
}

func (e *fakeEth) GetTransactionCount(addr common.Address, block string) hexutil.Uint64 {
	e.n.mu.Lock()
	defer e.n.mu.Unlock()
	e.n.nonceTags = append(e.n.nonceTags, block)
	return hexutil.Uint64(e.n.nonce)
}

func (e *fakeEth) MaxPriorityFeePerGas() *hexutil.Big { return (*hexutil.Big)(e.n.tip) }

func (e *fakeEth) GetBlockByNumber(number string, full bool) *types.Header {
	return &types.Header{
		Number:     big.NewInt(41),
		Difficulty: big.NewInt(1 << 20),
		GasLimit:   30_000_000,
		Time:       1_700_000_000,
		BaseFee:    e.n.baseFee,
	}
}

func (e *fakeEth) EstimateGas(args map[string]any) (hexutil.Uint64, error) {
	e.n.mu.Lock()
	defer e.n.mu.Unlock()
	e.n.estimates = append(e.n.estimates, args)
	return hexutil.Uint64(e.n.gas), e.n.estimateErr
}

func (e *fakeEth) SendRawTransaction(raw hexutil.Bytes) (common.Hash, error) {
	e.n.mu.Lock()
	defer e.n.mu.Unlock()
	if e.n.sendErr != nil {
		return common.Hash{}, e.n.sendErr
	}
	e.n.raw = append(e.n.raw, raw)
	var tx types.Transaction
	if err := tx.UnmarshalBinary(raw); err != nil {
		return common.Hash{}, err
	}
	return tx.Hash(), nil
}

// GetTransactionReceipt returns raw JSON: a nil *types.Receipt cannot be
// marshalled to null (its MarshalJSON has a value receiver).
func (e *fakeEth) GetTransactionReceipt(hash common.Hash) (json.RawMessage, error) {
	e.n.mu.Lock()
	defer e.n.mu.Unlock()
	e.n.receiptCalls++
	if e.n.receiptCalls <= e.n.nullAnswers {
		return json.RawMessage("null"), nil
	}
	return json.Marshal(&types.Receipt{
		Type:              types.DynamicFeeTxType,
		Status:            e.n.status,
		CumulativeGasUsed: 21000,
		Logs:              []*types.Log{},
		TxHash:            hash,
		GasUsed:           21000,
		EffectiveGasPrice: big.NewInt(1_875_000_000),
		BlockHash:         common.HexToHash("0xb10c"),
		BlockNumber:       big.NewInt(42),
	})
}

func dialFake(t *testing.T, n *fakeNode) *Client {
	t.Helper()
	c, err := Dial(context.Background(), ClientConfig{URL: n.serve(t), PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestSendTransfer(t *testing.T) {
	ctx := context.Background()
	node := newFakeNode()
	node.nullAnswers = 2
	c := dialFake(t, node)
	ks, _ := newTestKeystore(t)
	from, err := ks.ImportMnemonic(Mnemonic{Phrase: params.DevMnemonic, Path: IndexPath(0)}, "pw")
	if err != nil {
		t.Fatal(err)
	}
	to := common.HexToAddress(devAddr1)
	value, _ := ParseAmount("1.5")

	tx, err := c.PrepareTransfer(ctx, Transfer{From: from.Address, To: to, Value: value})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := ks.SignTx(from.Address, "pw", tx, tx.ChainId())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(ctx, signed); err != nil {
		t.Fatal(err)
	}
	r, err := c.WaitReceipt(ctx, signed.Hash(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}

	node.mu.Lock()
	defer node.mu.Unlock()
	if len(node.raw) != 1 {
		t.Fatalf("node received %d raw transactions, want 1", len(node.raw))
	}
	var got types.Transaction
	if err := got.UnmarshalBinary(node.raw[0]); err != nil {
		t.Fatalf("raw transaction does not decode: %v", err)
	}
	wantFeeCap := big.NewInt(1_000_000_000 + 2*875_000_000)
	checks := []struct {
		what      string
		got, want any
	}{
		{"type", got.Type(), uint8(types.DynamicFeeTxType)},
		{"chain id", got.ChainId().String(), "1337"},
		{"nonce", got.Nonce(), uint64(7)},
		{"tip", got.GasTipCap().String(), "1000000000"},
		{"fee cap", got.GasFeeCap().String(), wantFeeCap.String()},
		{"gas", got.Gas(), uint64(21000)},
		{"to", *got.To(), to},
		{"value", got.Value().String(), "1500000000000000000"},
		{"hash", got.Hash(), signed.Hash()},
		{"nonce tag", strings.Join(node.nonceTags, ","), "pending"},
		{"receipt requests", node.receiptCalls, 3},
		{"receipt tx", r.TxHash, signed.Hash()},
		{"receipt status", r.Succeeded(), true},
		{"receipt block", r.BlockNumber, uint64(42)},
		{"receipt gas used", r.GasUsed, uint64(21000)},
		{"receipt gas price", r.EffectiveGasPrice.String(), "1875000000"},
		{"receipt fee", r.Fee().String(), "39375000000000"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.what, ch.got, ch.want)
		}
	}
	sender, err := types.Sender(types.LatestSignerForChainID(big.NewInt(params.DevChainID)), &got)
	if err != nil || sender != from.Address {
		t.Errorf("sender = %s (%v), want %s", sender.Hex(), err, from.Address.Hex())
	}
	if len(node.estimates) != 1 {
		t.Fatalf("%d gas estimates, want 1", len(node.estimates))
	}
	est := node.estimates[0]
	if !strings.EqualFold(est["from"].(string), devAddr0) || !strings.EqualFold(est["to"].(string), devAddr1) || est["value"] != "0x14d1120d7b160000" {
		t.Errorf("eth_estimateGas args %v, want from %s to %s value 1.5 ether", est, devAddr0, devAddr1)
	}
}

func TestPrepareTransferErrors(t *testing.T) {
	ctx := context.Background()
	from, to := common.HexToAddress(devAddr0), common.HexToAddress(devAddr1)
	oneEther := big.NewInt(1e18)
	tests := []struct {
		name     string
		setup    func(n *fakeNode)
		value    *big.Int
		sentinel error
		rule     string
	}{
		{"value above balance", func(n *fakeNode) { n.balance = big.NewInt(1e17) }, oneEther,
			ErrInsufficientFunds, "holds 0.1 ether, less than the value 1 ether"},
		{"gas not covered", func(n *fakeNode) { n.balance = oneEther }, oneEther,
			ErrInsufficientFunds, "less than value + gas 21000 × fee cap 2.75 gwei = 1.00005775 ether"},
		{"estimate refused", func(n *fakeNode) { n.estimateErr = errors.New("execution reverted") }, oneEther,
			ErrNodeRejected, "eth_estimateGas: node rejected the call: execution reverted"},
		{"no base fee", func(n *fakeNode) { n.baseFee = nil }, oneEther,
			nil, "latest block 41 at http://127.0.0.1:"},
		{"negative value", func(n *fakeNode) {}, big.NewInt(-1),
			ErrBadAmount, "non-negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node := newFakeNode()
			tt.setup(node)
			c := dialFake(t, node)
			_, err := c.PrepareTransfer(ctx, Transfer{From: from, To: to, Value: tt.value})
			if err == nil || (tt.sentinel != nil && !errors.Is(err, tt.sentinel)) || !strings.Contains(err.Error(), tt.rule) {
				t.Errorf("error = %v, want %v and %q", err, tt.sentinel, tt.rule)
			}
		})
	}
}

func TestSendRejected(t *testing.T) {
	node := newFakeNode()
	node.sendErr = errors.New("nonce too low: next nonce 8, tx nonce 7")
	c := dialFake(t, node)
	to := common.HexToAddress(devAddr1)
	tx := types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(1337), Nonce: 7, Gas: 21000, To: &to, Value: big.NewInt(1), GasTipCap: big.NewInt(1), GasFeeCap: big.NewInt(1)})
	err := c.Send(context.Background(), tx)
	if !errors.Is(err, ErrNodeRejected) || !strings.Contains(err.Error(), "nonce too low") || !strings.Contains(err.Error(), tx.Hash().Hex()) {
		t.Errorf("Send error = %v, want ErrNodeRejected with the node's reason and the hash", err)
	}
}

func TestWaitReceipt(t *testing.T) {
	ctx := context.Background()
	hash := common.HexToHash("0x1234")

	node := newFakeNode()
	node.status = types.ReceiptStatusFailed
	r, err := dialFake(t, node).WaitReceipt(ctx, hash, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r.Succeeded() || r.BlockNumber != 42 {
		t.Errorf("receipt of a reverted transaction: succeeded %v block %d, want false 42", r.Succeeded(), r.BlockNumber)
	}

	never := newFakeNode()
	never.nullAnswers = 1 << 30
	_, err = dialFake(t, never).WaitReceipt(ctx, hash, 30*time.Millisecond)
	if !errors.Is(err, ErrReceiptTimeout) || !strings.Contains(err.Error(), hash.Hex()) || !strings.Contains(err.Error(), "30ms") {
		t.Errorf("WaitReceipt for a transaction never mined: error %v, want ErrReceiptTimeout naming the hash and 30ms", err)
	}
	// (TestSendTransfer checks the polling: three requests for one receipt.)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = dialFake(t, never).WaitReceipt(cctx, hash, time.Minute)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrReceiptTimeout) {
		t.Errorf("WaitReceipt with a cancelled context: error %v, want context.Canceled", err)
	}
}

func TestDialErrors(t *testing.T) {
	ctx := context.Background()

	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	_, err = Dial(ctx, ClientConfig{URL: closed})
	if !errors.Is(err, ErrNodeUnreachable) || !strings.Contains(err.Error(), "no node reachable at "+closed) {
		t.Errorf("Dial %s: error %v, want ErrNodeUnreachable naming the URL", closed, err)
	}

	// A web server that is not a JSON-RPC node.
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html>hello</html>"))
	}))
	defer web.Close()
	_, err = Dial(ctx, ClientConfig{URL: web.URL})
	if !errors.Is(err, ErrNodeUnreachable) || !strings.Contains(err.Error(), "not a JSON-RPC node") {
		t.Errorf("Dial a web page: error %v, want ErrNodeUnreachable and \"not a JSON-RPC node\"", err)
	}

	// A server answering 404.
	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	_, err = Dial(ctx, ClientConfig{URL: missing.URL})
	if !errors.Is(err, ErrNodeUnreachable) || !strings.Contains(err.Error(), "404") {
		t.Errorf("Dial a 404 server: error %v, want ErrNodeUnreachable and 404", err)
	}

	// A node that does not answer in time.
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(hang)
	_, err = Dial(ctx, ClientConfig{URL: slow.URL, CallTimeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrNodeUnreachable) || !strings.Contains(err.Error(), "no answer within 50ms") {
		t.Errorf("Dial a silent server: error %v, want ErrNodeUnreachable and \"no answer within 50ms\"", err)
	}

	for _, bad := range []struct{ url, rule string }{
		{"127.0.0.1:8545", "scheme"},
		{"ftp://127.0.0.1:8545", `scheme "ftp"`},
		{"http://", "no host"},
	} {
		_, err := Dial(ctx, ClientConfig{URL: bad.url})
		if err == nil || !strings.Contains(err.Error(), bad.rule) || !strings.Contains(err.Error(), bad.url) {
			t.Errorf("Dial(%q): error %v, want the URL and %q", bad.url, err, bad.rule)
		}
	}
}

func TestBalance(t *testing.T) {
	node := newFakeNode()
	node.balance, _ = ParseAmount("12.25")
	b, err := dialFake(t, node).Balance(context.Background(), common.HexToAddress(devAddr0))
	if err != nil {
		t.Fatal(err)
	}
	if b.Wei.String() != "12250000000000000000" || b.Ether() != "12.25" || b.Address.Hex() != devAddr0 {
		t.Errorf("Balance = %s %s wei (%s ether), want %s 12250000000000000000 wei (12.25 ether)", b.Address.Hex(), b.Wei, b.Ether(), devAddr0)
	}
}
