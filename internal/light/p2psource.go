package light

import (
	"context"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerchain/peerchain/internal/sync"
)

// p2pSource is a full peer reached over the sync protocols.
type p2pSource struct {
	c *sync.Client
	p peer.ID
}

func (s *p2pSource) Name() string { return "peer " + s.p.String() }

func (s *p2pSource) wrap(err error) error {
	if err == nil {
		return nil
	}
	if sync.IsMalformed(err) {
		return &MalformedError{Source: s.Name(), Err: err}
	}
	return fmt.Errorf("%s: %w", s.Name(), err)
}

func (s *p2pSource) Head(ctx context.Context) (Claim, error) {
	st, err := s.c.Status(ctx, s.p)
	if err != nil {
		return Claim{}, s.wrap(err)
	}
	if st.TD == nil || st.TD.Sign() <= 0 {
		return Claim{}, &MalformedError{Source: s.Name(), Err: fmt.Errorf("total difficulty %v", st.TD)}
	}
	return Claim{Hash: st.Head, Number: st.Number, TD: st.TD}, nil
}

func (s *p2pSource) Headers(ctx context.Context, start, count uint64) ([]*types.Header, error) {
	hs, err := s.c.Headers(ctx, s.p, start, count)
	return hs, s.wrap(err)
}

func (s *p2pSource) Body(ctx context.Context, hash common.Hash) (*types.Body, error) {
	b, err := s.c.Body(ctx, s.p, hash)
	if err != nil {
		return nil, s.wrap(err)
	}
	if b == nil {
		return nil, fmt.Errorf("%s: block %s: %w", s.Name(), hash, ErrNotFound)
	}
	return b, nil
}

func (s *p2pSource) Receipts(ctx context.Context, hash common.Hash) (types.Receipts, error) {
	rs, err := s.c.Receipts(ctx, s.p, hash)
	if err != nil {
		return nil, s.wrap(err)
	}
	if rs == nil {
		return nil, fmt.Errorf("%s: receipts of block %s: %w", s.Name(), hash, ErrNotFound)
	}
	return rs, nil
}

func (s *p2pSource) Proof(ctx context.Context, hash common.Hash, addr common.Address, slots []common.Hash) (*Proof, error) {
	r, err := s.c.Proof(ctx, s.p, hash, addr, slots)
	if err != nil {
		return nil, s.wrap(err)
	}
	return &Proof{Account: r.Account, Storage: r.Storage}, nil
}

func (s *p2pSource) Code(ctx context.Context, hash common.Hash, addr common.Address) ([]byte, error) {
	code, err := s.c.Code(ctx, s.p, hash, addr)
	return code, s.wrap(err)
}

func (s *p2pSource) TxLocation(ctx context.Context, txHash common.Hash) (common.Hash, uint64, error) {
	l, err := s.c.TxLocation(ctx, s.p, txHash)
	if err != nil {
		return common.Hash{}, 0, s.wrap(err)
	}
	if !l.Found {
		return common.Hash{}, 0, fmt.Errorf("%s: transaction %s: %w", s.Name(), txHash, ErrNotFound)
	}
	return l.Block, l.Index, nil
}

func (s *p2pSource) SendTransaction(ctx context.Context, tx *types.Transaction) error {
	return s.wrap(s.c.Publish(ctx, tx))
}

// PendingNonce is not served over P2P.
func (s *p2pSource) PendingNonce(context.Context, common.Address) (uint64, error) {
	return 0, fmt.Errorf("%s: pending nonce: %w", s.Name(), ErrNotFound)
}

// AccessList is not served over P2P.
func (s *p2pSource) AccessList(context.Context, common.Hash, map[string]any) (types.AccessList, error) {
	return nil, fmt.Errorf("%s: access list: %w", s.Name(), ErrNotFound)
}
