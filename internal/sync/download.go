package sync

import (
	"context"
	"errors"
	"fmt"
	gosync "sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/p2p"
)

const (
	bodyBatch      = 64 // blocks per bodies request
	bodiesInFlight = 16 // batches fetched ahead of the importer
	maxBodyWorkers = 4
)

var errNotHeavier = errors.New("peer's chain is not heavier than ours")

// maybeSync starts a sync with the heaviest peer when it outweighs us.
func (s *Syncer) maybeSync(ctx context.Context) {
	p, st, ok := s.peers.best()
	if !ok || st.td.Cmp(s.chain.CurrentTD()) <= 0 {
		return
	}
	s.mu.Lock()
	if s.mu.syncing {
		s.mu.Unlock()
		return
	}
	s.mu.syncing = true
	s.mu.Unlock()
	go func() {
		defer func() {
			s.mu.Lock()
			s.mu.syncing = false
			s.mu.Unlock()
			s.progress.stop()
		}()
		if err := s.syncWith(ctx, p, st); err != nil && ctx.Err() == nil {
			s.log.Info("Sync stopped", "peer", p, "err", err)
			if errors.Is(err, errNotHeavier) {
				s.peers.remove(p) // until its next status says otherwise
			}
		}
		s.kick()
	}()
}

// Syncing reports whether a sync is running.
func (s *Syncer) Syncing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.syncing
}

// syncWith downloads and imports p's chain: the common ancestor, then every
// header to p's head verified as one chain, then the bodies from several
// peers at once, imported in order.
func (s *Syncer) syncWith(ctx context.Context, p peer.ID, st peerState) error {
	start := time.Now()
	anc, err := s.findAncestor(ctx, p, st.number)
	if err != nil {
		return fmt.Errorf("find common ancestor: %w", err)
	}
	ours := s.chain.CurrentBlock().NumberU64()
	s.log.Info("Sync started", "peer", p, "ancestor", anc.Number, "ours", ours, "theirs", st.number)
	s.progress.start(ours, st.number)
	v, err := s.chain.NewHeaderVerifier(anc.Hash())
	if err != nil {
		return err
	}
	var headers []*types.Header
	for next := anc.Number.Uint64() + 1; next <= st.number; {
		batch, err := s.fetchHeaders(ctx, p, next, min(maxHeadersPerRequest, st.number-next+1))
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			break // its chain moved; take what we have
		}
		if err := v.Verify(batch); err != nil {
			var re *chain.RuleError
			if errors.As(err, &re) && !re.Permanent() {
				return err
			}
			s.punish(p, fmt.Sprintf("invalid header chain: %v", err))
			return err
		}
		headers = append(headers, batch...)
		next += uint64(len(batch))
	}
	if v.TD().Cmp(s.chain.CurrentTD()) <= 0 {
		return fmt.Errorf("%w: %d headers reach total difficulty %v, ours is %v", errNotHeavier, len(headers), v.TD(), s.chain.CurrentTD())
	}
	s.log.Info("Header chain verified", "headers", len(headers), "td", v.TD(), "took", time.Since(start).Round(time.Millisecond))
	if err := s.fetchAndImport(ctx, p, headers); err != nil {
		return err
	}
	head := s.chain.CurrentBlock()
	s.log.Info("Sync done", "head", head.NumberU64(), "blocks", len(headers), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// findAncestor finds the highest block p and we both have on our
// canonical chains, by binary search.
func (s *Syncer) findAncestor(ctx context.Context, p peer.ID, theirs uint64) (*types.Header, error) {
	hi := min(s.chain.CurrentBlock().NumberU64(), theirs)
	common := func(n uint64) (bool, error) {
		hs, err := s.fetchHeaders(ctx, p, n, 1)
		if err != nil {
			return false, err
		}
		if len(hs) == 0 {
			return false, nil
		}
		ours, ok := s.chain.GetCanonicalHash(n)
		return ok && ours == hs[0].Hash(), nil
	}
	ok, err := common(hi)
	if err != nil {
		return nil, err
	}
	if !ok {
		lo := uint64(0) // genesis: checked by the handshake
		for lo+1 < hi {
			mid := lo + (hi-lo)/2
			c, err := common(mid)
			if err != nil {
				return nil, err
			}
			if c {
				lo = mid
			} else {
				hi = mid
			}
		}
		hi = lo
	}
	h := s.chain.GetHeaderByNumber(hi)
	if h == nil {
		return nil, fmt.Errorf("canonical header %d missing", hi)
	}
	return h, nil
}

// fetchHeaders asks p for count canonical headers from start.
func (s *Syncer) fetchHeaders(ctx context.Context, p peer.ID, start, count uint64) ([]*types.Header, error) {
	req, err := encode(&HeadersRequest{Start: start, Count: count})
	if err != nil {
		return nil, err
	}
	resp, err := s.host.Request(ctx, p, protoHeaders, req, maxHeadersResponse)
	if err != nil {
		if errors.Is(err, p2p.ErrOversized) {
			s.punish(p, err.Error())
		}
		return nil, err
	}
	var hs []*types.Header
	if err := decode(resp, &hs, "headers"); err != nil {
		s.punish(p, err.Error())
		return nil, err
	}
	if uint64(len(hs)) > count {
		err := fmt.Errorf("%d headers for a request of %d", len(hs), count)
		s.punish(p, err.Error())
		return nil, err
	}
	for i, h := range hs {
		if h.Number == nil || h.Number.Uint64() != start+uint64(i) {
			err := fmt.Errorf("header %d of a response from %d is numbered %v", i, start, h.Number)
			s.punish(p, err.Error())
			return nil, err
		}
	}
	return hs, nil
}

type bodyResult struct {
	idx    int
	blocks []*types.Block
	err    error
}

// fetchAndImport downloads the bodies of headers in parallel from every
// peer that has them and imports the blocks in order.
func (s *Syncer) fetchAndImport(ctx context.Context, syncPeer peer.ID, headers []*types.Header) error {
	if len(headers) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := (len(headers) + bodyBatch - 1) / bodyBatch
	var (
		next    int
		nextMu  gosync.Mutex
		results = make(chan bodyResult, bodiesInFlight)
		window  = make(chan struct{}, bodiesInFlight)
		wg      gosync.WaitGroup
	)
	take := func() (int, bool) {
		nextMu.Lock()
		defer nextMu.Unlock()
		if next >= batches {
			return 0, false
		}
		next++
		return next - 1, true
	}
	workers := min(maxBodyWorkers, batches)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				select {
				case window <- struct{}{}:
				case <-ctx.Done():
					return
				}
				idx, ok := take()
				if !ok {
					<-window
					return
				}
				lo, hi := idx*bodyBatch, min((idx+1)*bodyBatch, len(headers))
				blocks, err := s.fetchBodies(ctx, syncPeer, headers[lo:hi], w+idx)
				select {
				case results <- bodyResult{idx: idx, blocks: blocks, err: err}:
				case <-ctx.Done():
					return
				}
			}
		}(w)
	}
	defer wg.Wait()
	pending := make(map[int][]*types.Block)
	for imported := 0; imported < batches; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r := <-results:
			if r.err != nil {
				return r.err
			}
			pending[r.idx] = r.blocks
		}
		for blocks, ok := pending[imported]; ok; blocks, ok = pending[imported] {
			delete(pending, imported)
			for _, b := range blocks {
				if _, err := s.chain.InsertBlock(b); err != nil && !errors.Is(err, chain.ErrKnownBlock) {
					var re *chain.RuleError
					if errors.As(err, &re) && re.Permanent() {
						s.punish(syncPeer, fmt.Sprintf("served an invalid chain: %v", err))
					}
					return fmt.Errorf("import block %d: %w", b.NumberU64(), err)
				}
				s.progress.imported(b.NumberU64(), len(b.Transactions()))
			}
			imported++
			<-window
		}
		s.progress.maybeLog(s.log)
	}
	return nil
}

// fetchBodies gets the bodies of headers from peers that have them,
// spreading batches over peers by seed and retrying with the next peer on
// failure. A body that does not match its header bans the peer that sent
// it.
func (s *Syncer) fetchBodies(ctx context.Context, syncPeer peer.ID, headers []*types.Header, seed int) ([]*types.Block, error) {
	last := headers[len(headers)-1].Number.Uint64()
	candidates := s.peers.withAtLeast(last)
	if len(candidates) == 0 {
		candidates = []peer.ID{syncPeer}
	}
	out := make([]*types.Block, 0, len(headers))
	for attempt := 0; attempt < 2*len(candidates)+2 && len(out) < len(headers); attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := candidates[(seed+attempt)%len(candidates)]
		if s.host.IsBanned(p) {
			continue
		}
		rest := headers[len(out):]
		hashes := make([]common.Hash, len(rest))
		for i, h := range rest {
			hashes[i] = h.Hash()
		}
		req, err := encode(&HashesRequest{Hashes: hashes})
		if err != nil {
			return nil, err
		}
		resp, err := s.host.Request(ctx, p, protoBodies, req, maxBodiesResponse)
		if err != nil {
			if errors.Is(err, p2p.ErrOversized) {
				s.punish(p, err.Error())
			}
			continue
		}
		var r BodiesResponse
		if err := decode(resp, &r, "bodies"); err != nil {
			s.punish(p, err.Error())
			continue
		}
		if len(r.Bodies) > len(rest) {
			s.punish(p, fmt.Sprintf("%d bodies for %d hashes", len(r.Bodies), len(rest)))
			continue
		}
		for i, body := range r.Bodies {
			if body == nil {
				break
			}
			b := types.NewBlockWithHeader(rest[i]).WithBody(*body)
			if err := s.chain.VerifyBody(b); err != nil {
				s.punish(p, fmt.Sprintf("body of block %d does not match its header: %v", b.NumberU64(), err))
				break
			}
			out = append(out, b)
		}
	}
	if len(out) < len(headers) {
		return nil, fmt.Errorf("bodies of blocks %d..%d unavailable from %d peers", headers[len(out)].Number, last, len(candidates))
	}
	return out, nil
}
