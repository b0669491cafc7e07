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

// maybeSync starts a sync with the best peer that claims more work than
// ours; see peerTable.best.
func (s *Syncer) maybeSync(ctx context.Context) {
	p, st, ok := s.peers.best(s.chain.CurrentTD())
	if !ok || s.host.IsBanned(p) {
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
		err := s.syncWith(ctx, p, st)
		var (
			sf *SourceFault
			ic *InvalidChainError
		)
		switch {
		case err == nil:
			s.peers.succeed(p)
		case ctx.Err() != nil:
			return
		case errors.As(err, &ic):
			s.punish(p, err.Error())
		case errors.As(err, &sf):
			strikes := s.peers.fail(p)
			s.log.Info("Sync failed: the peer did not back its claim", "peer", p, "claimed td", st.td, "strikes", strikes, "err", err)
			if strikes >= maxStrikes {
				s.punish(p, fmt.Sprintf("claimed total difficulty %v and failed %d syncs in a row: %v", st.td, strikes, err))
			}
		default:
			s.log.Info("Sync stopped", "peer", p, "err", err)
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

// syncWith downloads and imports p's chain: the common ancestor, then the
// headers up to the point where they outweigh our chain (ProveWork), then
// every header to p's head again or from memory, with the bodies fetched
// from several peers and imported in order as they come (download).
func (s *Syncer) syncWith(ctx context.Context, p peer.ID, st peerState) error {
	start := time.Now()
	fetch := func(ctx context.Context, from, count uint64) ([]*types.Header, error) {
		return s.fetchHeaders(ctx, p, from, count)
	}
	anc, err := FindAncestor(ctx, s.chain, fetch, st.number)
	if err != nil {
		return fmt.Errorf("find common ancestor: %w", err)
	}
	ours := s.chain.CurrentBlock().NumberU64()
	s.log.Info("Sync started", "peer", p, "ancestor", anc.Number, "ours", ours, "theirs", st.number)
	proof, err := ProveWork(ctx, s.chain, fetch, anc, st.number, s.cfg.MinChainWork, s.cfg.MaxHeldHeaders, s.noteHeld)
	if err != nil {
		return err
	}
	s.peers.prove(p, proof.Hash(), proof.Number(), proof.TD())
	s.log.Info("Header chain outweighs ours", "at", proof.Number(), "td", proof.TD(), "took", time.Since(start).Round(time.Millisecond))
	s.progress.start(ours, st.number)
	if err := s.download(ctx, p, anc, st.number, proof); err != nil {
		return err
	}
	head := s.chain.CurrentBlock()
	s.log.Info("Sync done", "head", head.NumberU64(), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// noteHeld records the most headers a sync has held before their work was
// proven.
func (s *Syncer) noteHeld(n int) {
	for {
		old := s.maxHeld.Load()
		if int64(n) <= old || s.maxHeld.CompareAndSwap(old, int64(n)) {
			return
		}
	}
}

// fetchHeaders asks p for count canonical headers from start, within the
// header timeout.
func (s *Syncer) fetchHeaders(ctx context.Context, p peer.ID, start, count uint64) ([]*types.Header, error) {
	req, err := encode(&HeadersRequest{Start: start, Count: count})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.HeaderTimeout)
	defer cancel()
	resp, err := s.host.Request(ctx, p, protoHeaders, req, maxHeadersResponse)
	if err != nil {
		if errors.Is(err, p2p.ErrOversized) {
			s.punish(p, err.Error())
		}
		return nil, err
	}
	hs, err := parseHeaders(resp, start, count)
	if err != nil {
		s.punish(p, err.Error())
		return nil, err
	}
	return hs, nil
}

type bodyResult struct {
	idx    int
	blocks []*types.Block
	err    error
}

type bodyJob struct {
	idx     int
	headers []*types.Header
}

// download streams p's headers from anc to target (from memory when
// ProveWork kept them, else fetched again and checked against its
// checkpoints), fetches their bodies in parallel from every peer that may
// have them and imports the blocks in order. At most bodiesInFlight batches
// of bodyBatch blocks are held at any time.
func (s *Syncer) download(ctx context.Context, syncPeer peer.ID, anc *types.Header, target uint64, proof *WorkProof) error {
	var wg gosync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		jobs      = make(chan bodyJob)
		results   = make(chan bodyResult, bodiesInFlight)
		window    = make(chan struct{}, bodiesInFlight)
		done      = make(chan int, 1) // jobs emitted, when the header stream ends
		srcs      = newBodySources()
		streamErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(jobs)
		idx := 0
		emit := func(hs []*types.Header, _ []common.Hash) bool {
			for len(hs) > 0 {
				n := min(bodyBatch, len(hs))
				select {
				case window <- struct{}{}:
				case <-ctx.Done():
					return false
				}
				select {
				case jobs <- bodyJob{idx: idx, headers: hs[:n]}:
				case <-ctx.Done():
					return false
				}
				idx++
				hs = hs[n:]
			}
			return true
		}
		fetch := func(ctx context.Context, from, count uint64) ([]*types.Header, error) {
			return s.fetchHeaders(ctx, syncPeer, from, count)
		}
		streamErr = StreamHeaders(ctx, s.chain, fetch, anc, target, proof, emit)
		done <- idx
	}()
	for w := 0; w < maxBodyWorkers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for j := range jobs {
				blocks, err := s.fetchBodies(ctx, syncPeer, j.headers, w+j.idx, srcs)
				select {
				case results <- bodyResult{idx: j.idx, blocks: blocks, err: err}:
				case <-ctx.Done():
					return
				}
			}
		}(w)
	}
	pending := make(map[int][]*types.Block)
	total := -1 // jobs the stream emitted, once it ended
	for imported := 0; total < 0 || imported < total; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case n := <-done:
			total = n // streamErr is set: done is sent after it
			continue
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
				s.arrivals.Imported(b.Header(), syncPeer, ViaSync)
			}
			imported++
			<-window
		}
		s.progress.maybeLog(s.log)
	}
	return streamErr
}

// bodySources remembers, for one download, the peers that failed to serve
// bodies, so later batches ask them last.
type bodySources struct {
	mu     gosync.Mutex
	failed map[peer.ID]bool
}

func newBodySources() *bodySources { return &bodySources{failed: make(map[peer.ID]bool)} }

func (b *bodySources) fail(p peer.ID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failed[p] = true
}

// order puts the peers that have not failed first.
func (b *bodySources) order(ps []peer.ID) []peer.ID {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]peer.ID, 0, len(ps))
	for _, p := range ps {
		if !b.failed[p] {
			out = append(out, p)
		}
	}
	for _, p := range ps {
		if b.failed[p] {
			out = append(out, p)
		}
	}
	return out
}

// fetchBodies gets the bodies of headers: blocks already stored are read
// locally, the rest are asked of peers that may have them, spread by seed,
// retrying with the next peer on failure. A body that does not match its
// header bans the peer that sent it.
func (s *Syncer) fetchBodies(ctx context.Context, syncPeer peer.ID, headers []*types.Header, seed int, srcs *bodySources) ([]*types.Block, error) {
	out := make([]*types.Block, 0, len(headers))
	for _, h := range headers {
		b := s.chain.GetBlock(h.Hash(), h.Number.Uint64())
		if b == nil {
			break
		}
		out = append(out, b)
	}
	if len(out) == len(headers) {
		return out, nil
	}
	last := headers[len(headers)-1].Number.Uint64()
	candidates := s.peers.withAtLeast(last)
	if len(candidates) == 0 {
		candidates = []peer.ID{syncPeer}
	}
	if n := len(candidates); n > 1 {
		rot := seed % n
		candidates = append(candidates[rot:], candidates[:rot]...)
	}
	candidates = srcs.order(candidates)
	for attempt := 0; attempt < 2*len(candidates) && len(out) < len(headers); attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := candidates[attempt%len(candidates)]
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
		rctx, cancel := context.WithTimeout(ctx, s.cfg.BodyTimeout)
		resp, err := s.host.Request(rctx, p, protoBodies, req, maxBodiesResponse)
		cancel()
		if err != nil {
			if errors.Is(err, p2p.ErrOversized) {
				s.punish(p, err.Error())
			}
			srcs.fail(p)
			continue
		}
		blocks, err := parseBodies(resp, rest)
		if err != nil {
			s.punish(p, err.Error())
			continue
		}
		if len(blocks) == 0 {
			srcs.fail(p) // it lacks them (another branch) or is over its budget
			continue
		}
		for _, b := range blocks {
			if err := s.chain.VerifyBody(b); err != nil {
				s.punish(p, fmt.Sprintf("served a body for block %d that fails its checks: %v", b.NumberU64(), err))
				break
			}
			out = append(out, b)
		}
	}
	if len(out) < len(headers) {
		return nil, fault(fmt.Errorf("bodies of blocks %d..%d unavailable from %d peers", headers[len(out)].Number, last, len(candidates)))
	}
	return out, nil
}
