package wallet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"
)

// DefaultRPCURL is where a local peerchain node serves JSON-RPC.
const DefaultRPCURL = "http://127.0.0.1:8545"

// ClientConfig says which node a Client talks to and how patiently.
type ClientConfig struct {
	// URL is the node's JSON-RPC endpoint: http://, https://, ws:// or
	// wss://. Default DefaultRPCURL.
	URL string
	// CallTimeout bounds each JSON-RPC call. Default 10s.
	CallTimeout time.Duration
	// PollInterval is how often WaitReceipt asks for a receipt. Default 1s.
	PollInterval time.Duration
	// Logger receives debug records of the calls' results. Default: discard.
	Logger *slog.Logger
}

func (cfg *ClientConfig) withDefaults() (ClientConfig, error) {
	out := *cfg
	if out.URL == "" {
		out.URL = DefaultRPCURL
	}
	if !strings.Contains(out.URL, "://") {
		return out, fmt.Errorf("rpc URL %q: no scheme, want http://, https://, ws:// or wss:// and host:port", out.URL)
	}
	u, err := url.Parse(out.URL)
	if err != nil {
		return out, fmt.Errorf("rpc URL %q: %w", out.URL, err)
	}
	switch u.Scheme {
	case "http", "https", "ws", "wss":
	default:
		return out, fmt.Errorf("rpc URL %q: scheme %q, want http, https, ws or wss", out.URL, u.Scheme)
	}
	if u.Host == "" {
		return out, fmt.Errorf("rpc URL %q: no host", out.URL)
	}
	switch {
	case out.CallTimeout < 0:
		return out, fmt.Errorf("CallTimeout %v: must not be negative", out.CallTimeout)
	case out.CallTimeout == 0:
		out.CallTimeout = 10 * time.Second
	}
	switch {
	case out.PollInterval < 0:
		return out, fmt.Errorf("PollInterval %v: must not be negative", out.PollInterval)
	case out.PollInterval == 0:
		out.PollInterval = time.Second
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	return out, nil
}

// Client is a node's JSON-RPC interface, as a wallet needs it.
type Client struct {
	cfg ClientConfig
	eth *ethclient.Client
}

// Dial connects to the node at cfg.URL and checks that it answers
// eth_chainId; if it does not, the error wraps ErrNodeUnreachable.
func Dial(ctx context.Context, cfg ClientConfig) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
	defer cancel()
	rc, err := rpc.DialContext(dctx, cfg.URL)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("dial %s: %w", cfg.URL, context.Cause(ctx))
		}
		return nil, fmt.Errorf("%w at %s: %w", ErrNodeUnreachable, cfg.URL, err)
	}
	c := &Client{cfg: cfg, eth: ethclient.NewClient(rc)}
	if _, err := c.ChainID(ctx); err != nil {
		c.Close()
		var rpcErr rpc.Error
		if ctx.Err() != nil || errors.Is(err, ErrNodeUnreachable) || errors.As(err, &rpcErr) {
			return nil, err
		}
		// Something answered, but not JSON-RPC (an HTML page, say).
		return nil, fmt.Errorf("%w at %s: not a JSON-RPC node: %w", ErrNodeUnreachable, cfg.URL, err)
	}
	return c, nil
}

// Close ends the connection.
func (c *Client) Close() { c.eth.Close() }

// URL returns the node's URL.
func (c *Client) URL() string { return c.cfg.URL }

// call runs one JSON-RPC call under CallTimeout and classifies its error: a
// JSON-RPC error answer wraps ErrNodeRejected; no connection, an HTTP
// error status or no answer in time wraps ErrNodeUnreachable; the caller's
// own cancellation is returned as it is.
func call[T any](ctx context.Context, c *Client, method string, f func(context.Context) (T, error)) (T, error) {
	cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	v, err := f(cctx)
	if err == nil {
		return v, nil
	}
	var (
		rpcErr  rpc.Error
		httpErr rpc.HTTPError
		urlErr  *url.Error
		netErr  net.Error
	)
	switch {
	case ctx.Err() != nil:
		return v, fmt.Errorf("%s: %w", method, context.Cause(ctx))
	case errors.Is(err, ethereum.NotFound):
		return v, err
	case errors.As(err, &rpcErr):
		return v, fmt.Errorf("%s: %w: %w", method, ErrNodeRejected, err)
	case errors.Is(err, context.DeadlineExceeded):
		return v, fmt.Errorf("%s: %w at %s: no answer within %v", method, ErrNodeUnreachable, c.cfg.URL, c.cfg.CallTimeout)
	case errors.As(err, &httpErr), errors.As(err, &urlErr), errors.As(err, &netErr):
		return v, fmt.Errorf("%s: %w at %s: %w", method, ErrNodeUnreachable, c.cfg.URL, err)
	}
	return v, fmt.Errorf("%s at %s: %w", method, c.cfg.URL, err)
}

// ChainID asks the node for its chain id (eth_chainId).
func (c *Client) ChainID(ctx context.Context) (*big.Int, error) {
	return call(ctx, c, "eth_chainId", c.eth.ChainID)
}

// Balance is an account's balance at the node's latest block.
type Balance struct {
	Address common.Address
	Wei     *big.Int
}

// Ether is the balance in ether, exact: "1.5".
func (b Balance) Ether() string { return FormatEther(b.Wei) }

// Balance asks the node for the balance of addr at its latest block.
func (c *Client) Balance(ctx context.Context, addr common.Address) (Balance, error) {
	wei, err := call(ctx, c, "eth_getBalance", func(ctx context.Context) (*big.Int, error) {
		return c.eth.BalanceAt(ctx, addr, nil)
	})
	if err != nil {
		return Balance{}, err
	}
	return Balance{Address: addr, Wei: wei}, nil
}

// Transfer is a value transfer between two accounts.
type Transfer struct {
	From, To common.Address
	Value    *big.Int // wei
}

// PrepareTransfer builds the unsigned EIP-1559 transaction of t from what
// the node reports; see PrepareTx.
func (c *Client) PrepareTransfer(ctx context.Context, t Transfer) (*types.Transaction, error) {
	to := t.To
	return c.PrepareTx(ctx, TxRequest{From: t.From, To: &to, Value: t.Value})
}

// TxRequest is a transaction to prepare: a transfer, a contract call (Data
// set) or a deployment (To nil, Data the init code).
type TxRequest struct {
	From  common.Address
	To    *common.Address
	Value *big.Int // wei; nil means 0
	Data  []byte
}

// PrepareTx builds the unsigned EIP-1559 transaction of r from what the
// node reports: chain id (eth_chainId), the sender's pending nonce
// (eth_getTransactionCount "pending"), tip (eth_maxPriorityFeePerGas), fee
// cap = tip + 2 × the latest block's base fee (room for the base fee to
// rise for a few full blocks) and gas (eth_estimateGas, which also reports
// a revert with its reason). It refuses, with ErrInsufficientFunds, a
// transaction the sender's balance cannot pay for at the fee cap.
func (c *Client) PrepareTx(ctx context.Context, r TxRequest) (*types.Transaction, error) {
	value := r.Value
	if value == nil {
		value = new(big.Int)
	}
	if value.Sign() < 0 {
		return nil, fmt.Errorf("%w %v: a value is a non-negative number of wei", ErrBadAmount, value)
	}
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return nil, err
	}
	nonce, err := call(ctx, c, "eth_getTransactionCount", func(ctx context.Context) (uint64, error) {
		return c.eth.PendingNonceAt(ctx, r.From)
	})
	if err != nil {
		return nil, err
	}
	tip, err := call(ctx, c, "eth_maxPriorityFeePerGas", c.eth.SuggestGasTipCap)
	if err != nil {
		return nil, err
	}
	head, err := call(ctx, c, "eth_getBlockByNumber", func(ctx context.Context) (*types.Header, error) {
		return c.eth.HeaderByNumber(ctx, nil)
	})
	if err != nil {
		return nil, err
	}
	if head.BaseFee == nil {
		return nil, fmt.Errorf("latest block %v at %s has no base fee: the node does not run EIP-1559", head.Number, c.cfg.URL)
	}
	feeCap := new(big.Int).Add(tip, new(big.Int).Mul(head.BaseFee, big.NewInt(2)))
	balance, err := c.Balance(ctx, r.From)
	if err != nil {
		return nil, err
	}
	if balance.Wei.Cmp(value) < 0 {
		return nil, fmt.Errorf("%w: %s holds %s ether, less than the value %s ether", ErrInsufficientFunds, r.From.Hex(), balance.Ether(), FormatEther(value))
	}
	gas, err := call(ctx, c, "eth_estimateGas", func(ctx context.Context) (uint64, error) {
		return c.eth.EstimateGas(ctx, ethereum.CallMsg{From: r.From, To: r.To, Value: value, Data: r.Data})
	})
	if err != nil {
		return nil, withRevertReason(err)
	}
	maxCost := new(big.Int).Mul(feeCap, new(big.Int).SetUint64(gas))
	maxCost.Add(maxCost, value)
	if balance.Wei.Cmp(maxCost) < 0 {
		return nil, fmt.Errorf("%w: %s holds %s ether, less than value + gas %d × fee cap %s gwei = %s ether",
			ErrInsufficientFunds, r.From.Hex(), balance.Ether(), gas, FormatGwei(feeCap), FormatEther(maxCost))
	}
	tx := types.NewTx(&types.DynamicFeeTx{
		ChainID:   chainID,
		Nonce:     nonce,
		GasTipCap: tip,
		GasFeeCap: feeCap,
		Gas:       gas,
		To:        r.To,
		Value:     new(big.Int).Set(value),
		Data:      r.Data,
	})
	c.cfg.Logger.Debug("Prepared transaction", "from", r.From, "to", r.To, "value", value, "data", len(r.Data),
		"chainid", chainID, "nonce", nonce, "gas", gas, "tip", tip, "feecap", feeCap, "basefee", head.BaseFee)
	return tx, nil
}

// Call runs a read-only call at the latest block (eth_call) and returns
// its output; a revert comes back as an error with the reason decoded.
func (c *Client) Call(ctx context.Context, from common.Address, to common.Address, data []byte) ([]byte, error) {
	out, err := call(ctx, c, "eth_call", func(ctx context.Context) ([]byte, error) {
		return c.eth.CallContract(ctx, ethereum.CallMsg{From: from, To: &to, Data: data}, nil)
	})
	if err != nil {
		return nil, withRevertReason(err)
	}
	return out, nil
}

// withRevertReason adds the decoded revert reason (Error(string)) to a
// node's revert error when it carries revert data.
func withRevertReason(err error) error {
	var de interface{ ErrorData() interface{} }
	if !errors.As(err, &de) {
		return err
	}
	s, ok := de.ErrorData().(string)
	if !ok {
		return err
	}
	data, derr := hexutil.Decode(s)
	if derr != nil {
		return err
	}
	if reason, uerr := abi.UnpackRevert(data); uerr == nil {
		return fmt.Errorf("%w (revert reason: %q)", err, reason)
	}
	return fmt.Errorf("%w (revert data %s)", err, s)
}

// Send submits a signed transaction (eth_sendRawTransaction). A node that
// refuses it (nonce too low, fee too low, ...) gives an error wrapping
// ErrNodeRejected with the node's reason.
func (c *Client) Send(ctx context.Context, tx *types.Transaction) error {
	_, err := call(ctx, c, "eth_sendRawTransaction", func(ctx context.Context) (struct{}, error) {
		return struct{}{}, c.eth.SendTransaction(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("send transaction %s: %w", tx.Hash().Hex(), err)
	}
	c.cfg.Logger.Debug("Sent transaction", "hash", tx.Hash(), "nonce", tx.Nonce())
	return nil
}

// Receipt is the outcome of a mined transaction.
type Receipt struct {
	TxHash      common.Hash
	Status      uint64 // types.ReceiptStatusSuccessful (1) or types.ReceiptStatusFailed (0)
	BlockNumber uint64
	BlockHash   common.Hash
	GasUsed     uint64
	// EffectiveGasPrice is what the sender paid per gas: base fee + tip,
	// at most the fee cap.
	EffectiveGasPrice *big.Int
	// ContractAddress is set when the transaction created a contract.
	ContractAddress common.Address
	// Logs are the events the transaction emitted.
	Logs []*types.Log
}

// Succeeded reports whether the transaction ran to completion.
func (r *Receipt) Succeeded() bool { return r.Status == types.ReceiptStatusSuccessful }

// Fee is what the sender paid for gas: GasUsed × EffectiveGasPrice.
func (r *Receipt) Fee() *big.Int {
	if r.EffectiveGasPrice == nil {
		return new(big.Int)
	}
	return new(big.Int).Mul(r.EffectiveGasPrice, new(big.Int).SetUint64(r.GasUsed))
}

// WaitReceipt asks for the receipt of hash every PollInterval until the node
// has one or timeout passes; then the error wraps ErrReceiptTimeout (the
// transaction may still be mined later).
func (c *Client) WaitReceipt(ctx context.Context, hash common.Hash, timeout time.Duration) (*Receipt, error) {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ticker := time.NewTicker(c.cfg.PollInterval)
	defer ticker.Stop()
	for {
		r, err := call(wctx, c, "eth_getTransactionReceipt", func(ctx context.Context) (*types.Receipt, error) {
			return c.eth.TransactionReceipt(ctx, hash)
		})
		if err == nil {
			return newReceipt(hash, r), nil
		}
		if wctx.Err() == nil && !errors.Is(err, ethereum.NotFound) {
			return nil, fmt.Errorf("receipt of %s: %w", hash.Hex(), err)
		}
		select {
		case <-wctx.Done():
			if ctx.Err() != nil {
				return nil, fmt.Errorf("receipt of %s: %w", hash.Hex(), context.Cause(ctx))
			}
			return nil, fmt.Errorf("%w: transaction %s not mined within %v (it may still be; look it up later)", ErrReceiptTimeout, hash.Hex(), timeout)
		case <-ticker.C:
		}
	}
}

func newReceipt(hash common.Hash, r *types.Receipt) *Receipt {
	out := &Receipt{
		TxHash:            hash,
		Status:            r.Status,
		BlockHash:         r.BlockHash,
		GasUsed:           r.GasUsed,
		EffectiveGasPrice: r.EffectiveGasPrice,
		ContractAddress:   r.ContractAddress,
		Logs:              r.Logs,
	}
	if r.BlockNumber != nil {
		out.BlockNumber = r.BlockNumber.Uint64()
	}
	return out
}
