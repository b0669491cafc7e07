package sync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerchain/peerchain/internal/p2p"
)

// Client is a light peer's side of the sync protocols: it asks full peers
// for headers, bodies, receipts, proofs, code and transaction locations,
// answers their handshakes as a light peer (Status.Light: never synced
// from), hears gossiped blocks and publishes transactions. It checks
// answers for form only: checking them against verified headers is the
// light peer's business.
type Client struct {
	host    *p2p.Host
	status  func() *Status
	timeout time.Duration
	txs     *p2p.Topic
}

// ClientConfig configures a Client.
type ClientConfig struct {
	// Host is the light peer's libp2p host. Required.
	Host *p2p.Host
	// Status returns the light peer's status (its verified head); Light
	// is set by the client. Required.
	Status func() *Status
	// OnPeer is called with each full peer that completed the handshake,
	// and OnGone when it leaves. Optional.
	OnPeer func(p peer.ID, st *Status)
	OnGone func(p peer.ID)
	// OnBlock receives gossiped blocks (the light peer checks their
	// headers; it relays nothing). Optional.
	OnBlock func(from peer.ID, b *types.Block)
	// Timeout bounds one request. Default 10s.
	Timeout time.Duration
}

// NewClient registers the handshake and joins the gossip topics.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Host == nil || cfg.Status == nil {
		return nil, errors.New("sync client config: Host and Status are required")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	c := &Client{host: cfg.Host, timeout: cfg.Timeout}
	c.status = func() *Status {
		st := *cfg.Status()
		st.Version, st.Light = protocolVersion, true
		return &st
	}
	cfg.Host.Handle(protoStatus, maxStatusBytes, func(context.Context, peer.ID, []byte) ([]byte, error) {
		return encode(c.status())
	})
	cfg.Host.Handle(protoPooled, maxRequestBytes, func(context.Context, peer.ID, []byte) ([]byte, error) {
		return encode([]common.Hash{})
	})
	ignore := func(context.Context, peer.ID, peer.ID, []byte) p2p.Verdict { return p2p.Ignore }
	blocks := func(_ context.Context, from, _ peer.ID, data []byte) p2p.Verdict {
		if cfg.OnBlock != nil && len(data) <= maxBlockMessage {
			b := new(types.Block)
			if decode(data, b, "block") == nil {
				cfg.OnBlock(from, b)
			}
		}
		return p2p.Ignore // a light peer cannot validate a block: it relays none
	}
	if _, err := cfg.Host.JoinTopic(topicBlocks, p2p.TopicOptions{ContentIDs: true}, blocks, func(peer.ID, peer.ID, []byte) {}); err != nil {
		return nil, err
	}
	self := cfg.Host.ID()
	txs := func(ctx context.Context, from, author peer.ID, data []byte) p2p.Verdict {
		if from == self {
			return p2p.Accept // our own: publish it
		}
		return ignore(ctx, from, author, data)
	}
	var err error
	if c.txs, err = cfg.Host.JoinTopic(topicTxs, p2p.TopicOptions{}, txs, func(peer.ID, peer.ID, []byte) {}); err != nil {
		return nil, err
	}
	cfg.Host.OnPeer(func(p peer.ID) {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
		defer cancel()
		st, err := c.Status(ctx, p)
		if err != nil || st.Light || st.Genesis != c.status().Genesis || st.ChainID != c.status().ChainID {
			return
		}
		if cfg.OnPeer != nil {
			cfg.OnPeer(p, st)
		}
	}, func(p peer.ID) {
		if cfg.OnGone != nil {
			cfg.OnGone(p)
		}
	})
	return c, nil
}

func (c *Client) request(ctx context.Context, p peer.ID, proto string, req any, maxResp int) ([]byte, error) {
	data, err := encode(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return c.host.Request(ctx, p, proto, data, maxResp)
}

// Status asks p for its status.
func (c *Client) Status(ctx context.Context, p peer.ID) (*Status, error) {
	resp, err := c.request(ctx, p, protoStatus, c.status(), maxStatusBytes)
	if err != nil {
		return nil, err
	}
	return parseStatus(resp)
}

// Headers asks p for count canonical headers from start.
func (c *Client) Headers(ctx context.Context, p peer.ID, start, count uint64) ([]*types.Header, error) {
	count = min(count, maxHeadersPerRequest)
	resp, err := c.request(ctx, p, protoHeaders, &HeadersRequest{Start: start, Count: count}, maxHeadersResponse)
	if err != nil {
		return nil, err
	}
	return parseHeaders(resp, start, count)
}

// Body asks p for the body of one block; nil when p lacks it.
func (c *Client) Body(ctx context.Context, p peer.ID, hash common.Hash) (*types.Body, error) {
	resp, err := c.request(ctx, p, protoBodies, &HashesRequest{Hashes: []common.Hash{hash}}, maxBodiesResponse)
	if err != nil {
		return nil, err
	}
	var r BodiesResponse
	if err := decode(resp, &r, "bodies"); err != nil {
		return nil, err
	}
	if len(r.Bodies) > 1 {
		return nil, &errMalformed{what: "bodies", err: fmt.Errorf("%d bodies for one hash", len(r.Bodies))}
	}
	if len(r.Bodies) == 0 || r.Bodies[0] == nil {
		return nil, nil
	}
	return r.Bodies[0], nil
}

// Receipts asks p for the receipts of one block; nil when p lacks them.
func (c *Client) Receipts(ctx context.Context, p peer.ID, hash common.Hash) (types.Receipts, error) {
	resp, err := c.request(ctx, p, protoReceipts, &HashesRequest{Hashes: []common.Hash{hash}}, maxReceiptsResponse)
	if err != nil {
		return nil, err
	}
	var r ReceiptsResponse
	if err := decode(resp, &r, "receipts"); err != nil {
		return nil, err
	}
	if len(r.Receipts) > 1 {
		return nil, &errMalformed{what: "receipts", err: fmt.Errorf("receipts of %d blocks for one hash", len(r.Receipts))}
	}
	if len(r.Receipts) == 0 {
		return nil, nil
	}
	out := make(types.Receipts, len(r.Receipts[0]))
	for i, enc := range r.Receipts[0] {
		rc := new(types.Receipt)
		if err := rc.UnmarshalBinary(enc); err != nil {
			return nil, &errMalformed{what: "receipts", err: fmt.Errorf("receipt %d: %w", i, err)}
		}
		out[i] = rc
	}
	return out, nil
}

// Proof asks p for the proof of an account and slots after a block.
func (c *Client) Proof(ctx context.Context, p peer.ID, block common.Hash, addr common.Address, slots []common.Hash) (*ProofResponse, error) {
	if len(slots) > maxProofSlots {
		return nil, fmt.Errorf("%d slots, at most %d per proof request", len(slots), maxProofSlots)
	}
	resp, err := c.request(ctx, p, protoProof, &ProofRequest{Block: block, Address: addr, Slots: slots}, maxProofResponse)
	if err != nil {
		return nil, err
	}
	var r ProofResponse
	if err := decode(resp, &r, "proof"); err != nil {
		return nil, err
	}
	if len(r.Storage) != len(slots) {
		return nil, &errMalformed{what: "proof", err: fmt.Errorf("%d storage proofs for %d slots", len(r.Storage), len(slots))}
	}
	return &r, nil
}

// Code asks p for an account's code after a block.
func (c *Client) Code(ctx context.Context, p peer.ID, block common.Hash, addr common.Address) ([]byte, error) {
	resp, err := c.request(ctx, p, protoCode, &CodeRequest{Block: block, Address: addr}, maxCodeResponse)
	if err != nil {
		return nil, err
	}
	var code []byte
	if err := decode(resp, &code, "code"); err != nil {
		return nil, err
	}
	return code, nil
}

// TxLocation asks p where a transaction is on its canonical chain.
func (c *Client) TxLocation(ctx context.Context, p peer.ID, hash common.Hash) (TxLocation, error) {
	resp, err := c.request(ctx, p, protoTxLoc, hash, maxStatusBytes)
	if err != nil {
		return TxLocation{}, err
	}
	var l TxLocation
	if err := decode(resp, &l, "transaction location"); err != nil {
		return TxLocation{}, err
	}
	return l, nil
}

// Publish gossips a signed transaction.
func (c *Client) Publish(ctx context.Context, tx *types.Transaction) error {
	data, err := tx.MarshalBinary()
	if err != nil {
		return fmt.Errorf("encode transaction: %w", err)
	}
	return c.txs.Publish(ctx, data)
}
