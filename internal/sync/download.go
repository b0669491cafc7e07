package sync

import (
	"context"
	"errors"
	"fmt"
	"math/big"
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

// peerFault marks a sync failure that is the sync peer's doing: it did not
// back the work it claimed (no answer in time, a chain lighter than
// claimed, a different chain on the second download, a lie about the
// common ancestor). Each costs the peer a strike.
type peerFault struct{ err error }

func (e *peerFault) Error() string { return e.err.Error() }
func (e *peerFault) Unwrap() error { return e.err }

func fault(err error) error {
	if err == nil {
		return nil
	}
	var pf *peerFault
	if errors.As(err, &pf) {
		return err
	}
	return &peerFault{err}
}

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
		var pf *peerFault
		switch {
		case err == nil:
			s.peers.succeed(p)
		case ctx.Err() != nil:
			return
		case errors.As(err, &pf):
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
// headers up to the point where they outweigh our chain (proveWork), then
// every header to p's head again or from memory, with the bodies fetched
// from several peers and imported in order as they come (download).
func (s *Syncer) syncWith(ctx context.Context, p peer.ID, st peerState) error {
	start := time.Now()
	anc, err := s.findAncestor(ctx, p, st.number)
	if err != nil {
		return fmt.Errorf("find common ancestor: %w", err)
	}
	ours := s.chain.CurrentBlock().NumberU64()
	s.log.Info("Sync started", "peer", p, "ancestor", anc.Number, "ours", ours, "theirs", st.number)
	proof, err := s.proveWork(ctx, p, anc, st.number)
	if err != nil {
		return err
	}
	s.peers.prove(p, proof.hash, proof.number, proof.td)
	s.log.Info("Header chain outweighs ours", "at", proof.number, "td", proof.td, "took", time.Since(start).Round(time.Millisecond))
	s.progress.start(ours, st.number)
	if err := s.download(ctx, p, anc, st.number, proof); err != nil {
		return err
	}
	head := s.chain.CurrentBlock()
	s.log.Info("Sync done", "head", head.NumberU64(), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// findAncestor finds the highest block p and we both have on our canonical
// chains, by binary search. Only a match is believed (a hash cannot be
// forged); a peer that lies about a mismatch only lowers the ancestor, and
// proveWork catches it when it then serves our own block after it.
func (s *Syncer) findAncestor(ctx context.Context, p peer.ID, theirs uint64) (*types.Header, error) {
	hi := min(s.chain.CurrentBlock().NumberU64(), theirs)
	common := func(n uint64) (bool, error) {
		hs, err := s.fetchHeaders(ctx, p, n, 1)
		if err != nil {
			return false, fault(err)
		}
		if len(hs) == 0 {
			return false, fault(fmt.Errorf("the peer claims head %d but has no header %d", theirs, n))
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

// workProof is what proveWork learnt of a peer's chain.
type workProof struct {
	// kept holds every header from the ancestor on when they fit in
	// Config.MaxHeldHeaders, nil otherwise.
	kept []*types.Header
	// checkpoints maps the number of the last header of each response to
	// its hash, up to the proof point: the second download must match.
	checkpoints map[uint64]common.Hash
	// number, hash and td are the header where the chain's total
	// difficulty passed ours and the minimum chain work.
	number uint64
	hash   common.Hash
	td     *big.Int
}

// proveWork downloads and verifies p's headers after anc until their total
// difficulty passes ours (and the minimum chain work), holding at most
// Config.MaxHeldHeaders of them and past that only a checkpoint hash per
// response. A chain that ends first is a claim not backed.
func (s *Syncer) proveWork(ctx context.Context, p peer.ID, anc *types.Header, target uint64) (*workProof, error) {
	v, err := s.chain.NewHeaderVerifier(anc.Hash())
	if err != nil {
		return nil, err
	}
	ourTD := s.chain.CurrentTD()
	proof := &workProof{checkpoints: make(map[uint64]common.Hash)}
	first := anc.Number.Uint64() + 1
	for next := first; next <= target; {
		batch, err := s.fetchHeaders(ctx, p, next, min(maxHeadersPerRequest, target-next+1))
		if err != nil {
			return nil, fault(err)
		}
		if len(batch) == 0 {
			break // its chain ends here
		}
		if next == first {
			// The ancestor search said the chains part after anc: our own
			// block right after it means the peer lied to make us walk
			// back and download what we have.
			if ours, ok := s.chain.GetCanonicalHash(first); ok && ours == batch[0].Hash() {
				return nil, fault(fmt.Errorf("the ancestor search said block %d differs from ours, then the peer served our block %s", first, ours))
			}
		}
		if err := s.verifyHeaders(p, v, batch); err != nil {
			return nil, err
		}
		last := batch[len(batch)-1]
		proof.checkpoints[last.Number.Uint64()] = last.Hash()
		if proof.kept != nil || next == first {
			if len(proof.kept)+len(batch) <= s.cfg.MaxHeldHeaders {
				proof.kept = append(proof.kept, batch...)
				if n := int64(len(proof.kept)); n > s.maxHeld.Load() {
					s.maxHeld.Store(n)
				}
			} else {
				proof.kept = nil
			}
		}
		next += uint64(len(batch))
		if td := v.TD(); td.Cmp(ourTD) > 0 && td.Cmp(s.cfg.MinChainWork) >= 0 {
			proof.number, proof.hash, proof.td = last.Number.Uint64(), last.Hash(), td
			return proof, nil
		}
	}
	return nil, fault(fmt.Errorf("%w: its headers to %d reach total difficulty %v; ours is %v, the minimum chain work %v",
		errNotHeavier, v.Last().Number, v.TD(), ourTD, s.cfg.MinChainWork))
}

// verifyHeaders checks the next headers of p's chain. A header that breaks
// a rule bans p; one from the future (clocks differ) only stops the sync.
func (s *Syncer) verifyHeaders(p peer.ID, v *chain.HeaderVerifier, batch []*types.Header) error {
	err := v.Verify(batch)
	if err == nil {
		return nil
	}
	var re *chain.RuleError
	if errors.As(err, &re) && !re.Permanent() {
		return err
	}
	s.punish(p, fmt.Sprintf("invalid header chain: %v", err))
	return err
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
// proveWork kept them, else fetched again and checked against its
// checkpoints), fetches their bodies in parallel from every peer that may
// have them and imports the blocks in order. At most bodiesInFlight batches
// of bodyBatch blocks are held at any time.
func (s *Syncer) download(ctx context.Context, syncPeer peer.ID, anc *types.Header, target uint64, proof *workProof) error {
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
		emit := func(hs []*types.Header) bool {
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
		streamErr = s.streamHeaders(ctx, syncPeer, anc, target, proof, emit)
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
			}
			imported++
			<-window
		}
		s.progress.maybeLog(s.log)
	}
	return streamErr
}

// streamHeaders hands emit p's verified headers from anc+1 to target in
// order. Up to the proof point they must be the chain proveWork saw.
func (s *Syncer) streamHeaders(ctx context.Context, p peer.ID, anc *types.Header, target uint64, proof *workProof, emit func([]*types.Header) bool) error {
	v, err := s.chain.NewHeaderVerifier(anc.Hash())
	if err != nil {
		return err
	}
	next := anc.Number.Uint64() + 1
	if proof.kept != nil {
		if err := v.Verify(proof.kept); err != nil {
			return err
		}
		if !emit(proof.kept) {
			return ctx.Err()
		}
		next += uint64(len(proof.kept))
	}
	for next <= target {
		batch, err := s.fetchHeaders(ctx, p, next, min(maxHeadersPerRequest, target-next+1))
		if err != nil {
			return fault(err)
		}
		if len(batch) == 0 {
			if next <= proof.number {
				return fault(fmt.Errorf("the peer served headers to %d, then none from %d", proof.number, next))
			}
			return nil // its chain moved since its status: we have the heavier part
		}
		if err := s.verifyHeaders(p, v, batch); err != nil {
			return err
		}
		for _, h := range batch {
			if want, ok := proof.checkpoints[h.Number.Uint64()]; ok && want != h.Hash() {
				return fault(fmt.Errorf("header %d is %s now, the peer served %s before", h.Number, h.Hash(), want))
			}
		}
		if !emit(batch) {
			return ctx.Err()
		}
		next += uint64(len(batch))
	}
	return nil
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
