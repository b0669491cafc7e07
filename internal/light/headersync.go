package light

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/peerchain/peerchain/internal/sync"
)

// sourceState is what the light peer knows of one source.
type sourceState struct {
	src     Source
	claim   Claim
	claimed time.Time
	strikes int           // failures in a row
	until   time.Time     // not asked before then (back-off or drop)
	dropped string        // why it was dropped, while it is
	latency time.Duration // of its last head answer
	proven  *big.Int      // the most work its headers have shown, or nil
}

// headerSyncer follows the heaviest header chain any source shows. A
// source's claim only chooses whom to ask: its headers are verified, and a
// source whose headers do not back its claim gets a strike (a back-off
// that doubles), three in a row or one invalid or malformed answer drop it
// for dropFor. One honest source is enough: work cannot be forged.
type headerSyncer struct {
	hc       *HeaderChain
	log      *slog.Logger
	now      func() time.Time
	backoff  time.Duration
	dropFor  time.Duration
	maxHeld  int
	minWork  *big.Int
	interval time.Duration

	mu      gosync.Mutex
	sources []*sourceState
	gone    map[string]*sourceState // records of sources that left
	held    int                     // most headers held before their work was proven
	syncing bool

	// onStored, if set, is told of headers a source served once they are
	// verified and stored (at: when they arrived; catchUp: the sync added
	// more than followRun headers); onDrop of a source dropped, under mu
	// (it must not block or call the syncer).
	onStored func(src Source, headers []*types.Header, hashes []common.Hash, at time.Time, catchUp bool)
	onDrop   func(src Source, why string)
}

const maxStrikes = 3

func (s *headerSyncer) state(src Source) *sourceState {
	for _, st := range s.sources {
		if st.src == src {
			return st
		}
	}
	return nil
}

// run follows the sources until ctx ends.
func (s *headerSyncer) run(ctx context.Context) {
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		s.refresh(ctx)
		if src, claim, ok := s.best(); ok {
			s.syncWith(ctx, src, claim)
			continue // at once: there may be more, or another source
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// refresh asks every source that may be asked for its head, at once.
func (s *headerSyncer) refresh(ctx context.Context) {
	s.mu.Lock()
	now := s.now()
	var ask []*sourceState
	for _, st := range s.sources {
		if !now.Before(st.until) && now.Sub(st.claimed) >= s.interval {
			ask = append(ask, st)
		}
	}
	s.mu.Unlock()
	var wg gosync.WaitGroup
	for _, st := range ask {
		wg.Add(1)
		go func(st *sourceState) {
			defer wg.Done()
			asked := time.Now()
			claim, err := st.src.Head(ctx)
			took := time.Since(asked)
			s.mu.Lock()
			defer s.mu.Unlock()
			st.claimed = s.now()
			if err != nil {
				s.log.Debug("Source head unavailable", "source", st.src.Name(), "err", err)
				return
			}
			st.claim, st.latency = claim, took
		}(st)
	}
	wg.Wait()
}

// best returns the source to sync from: among those claiming more work
// than ours and not backing off, the fewest strikes first, then the
// biggest claim.
func (s *headerSyncer) best() (Source, Claim, bool) {
	ours := s.hc.CurrentTD()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var top *sourceState
	for _, st := range s.sources {
		if st.claim.TD == nil || st.claim.TD.Cmp(ours) <= 0 || now.Before(st.until) {
			continue
		}
		if top == nil || st.strikes < top.strikes || (st.strikes == top.strikes && st.claim.TD.Cmp(top.claim.TD) > 0) {
			top = st
		}
	}
	if top == nil {
		return nil, Claim{}, false
	}
	return top.src, top.claim, true
}

// syncWith downloads and stores src's headers: common ancestor, proof
// that they outweigh ours, then every header to its claimed head.
func (s *headerSyncer) syncWith(ctx context.Context, src Source, claim Claim) {
	s.mu.Lock()
	s.syncing = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.syncing = false
		s.mu.Unlock()
	}()
	start := time.Now()
	fetch := func(ctx context.Context, from, count uint64) ([]*types.Header, error) {
		return src.Headers(ctx, from, count)
	}
	err := func() error {
		anc, err := sync.FindAncestor(ctx, s.hc, fetch, claim.Number)
		if err != nil {
			return err
		}
		proof, err := sync.ProveWork(ctx, s.hc, fetch, anc, claim.Number, s.minWork, s.maxHeld, s.noteHeld)
		if err != nil {
			return err
		}
		// Storing runs beside the download: the next run of headers is
		// fetched and verified while the last one is written.
		type run struct {
			headers []*types.Header
			hashes  []common.Hash
			at      time.Time
		}
		catchUp := claim.Number > anc.Number.Uint64()+followRun
		runs := make(chan run, 2)
		stored := make(chan error, 1)
		var failed atomic.Bool
		go func() {
			var err error
			for r := range runs {
				if err == nil {
					if err = s.hc.insertVerified(r.headers, r.hashes); err != nil {
						failed.Store(true)
					} else {
						last := len(r.headers) - 1
						s.credit(sourceID(src), s.hc.GetTD(r.hashes[last], r.headers[last].Number.Uint64()))
						if s.onStored != nil {
							s.onStored(src, r.headers, r.hashes, r.at, catchUp)
						}
					}
				}
			}
			stored <- err
		}()
		err = sync.StreamHeaders(ctx, s.hc, fetch, anc, claim.Number, proof, func(hs []*types.Header, hashes []common.Hash) bool {
			if failed.Load() {
				return false
			}
			select {
			case runs <- run{hs, hashes, s.now()}:
				return true
			case <-ctx.Done():
				return false
			}
		})
		close(runs)
		if insertErr := <-stored; insertErr != nil {
			return insertErr
		}
		return err
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state(src)
	var (
		sf *sync.SourceFault
		ic *sync.InvalidChainError
	)
	switch {
	case err == nil:
		st.strikes, st.until = 0, time.Time{}
		head := s.hc.CurrentHeader()
		s.log.Debug("Headers synced", "source", src.Name(), "head", head.Number, "took", time.Since(start).Round(time.Millisecond))
	case ctx.Err() != nil:
	case errors.As(err, &ic) || isMalformed(err):
		s.dropLocked(st, fmt.Sprintf("served an invalid or malformed header chain: %v", err))
	case errors.As(err, &sf):
		st.strikes++
		st.until = s.now().Add(s.backoff << min(st.strikes-1, 10))
		s.log.Info("Source did not back its claim", "source", src.Name(), "claimed td", claim.TD, "strikes", st.strikes, "err", err)
		if st.strikes >= maxStrikes {
			s.dropLocked(st, fmt.Sprintf("claimed total difficulty %v and failed %d syncs in a row: %v", claim.TD, st.strikes, err))
		}
	default:
		// Not the source's doing for all we know (a header from the
		// future, a local failure): ask again after a pause.
		st.until = s.now().Add(s.backoff)
		s.log.Warn("Header sync stopped", "source", src.Name(), "err", err)
	}
}

// add starts following a source (a full peer that connected). A source
// that left with strikes or while dropped comes back with them.
func (s *headerSyncer) add(src Source) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &sourceState{src: src}
	if old, ok := s.gone[src.Name()]; ok {
		st.strikes, st.until, st.dropped = old.strikes, old.until, old.dropped
		delete(s.gone, src.Name())
	}
	s.sources = append(s.sources, st)
}

// remove stops following a source (a full peer that left), remembering
// its strikes for a while (at most maxGone sources).
func (s *headerSyncer) remove(match func(Source) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sources = slices.DeleteFunc(s.sources, func(st *sourceState) bool {
		if !match(st.src) {
			return false
		}
		if (st.strikes > 0 || st.dropped != "") && len(s.gone) < maxGone {
			if s.gone == nil {
				s.gone = make(map[string]*sourceState)
			}
			s.gone[st.src.Name()] = st
		}
		return true
	})
}

// maxGone bounds the records kept of sources that left.
const maxGone = 4096

// usable returns the sources not dropped, those without strikes first.
func (s *headerSyncer) usable() []Source {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var good, struck []Source
	for _, st := range s.sources {
		switch {
		case st.dropped != "" && now.Before(st.until):
		case st.strikes > 0:
			struck = append(struck, st.src)
		default:
			good = append(good, st.src)
		}
	}
	return append(good, struck...)
}

// drop stops asking src for dropFor: it answered something a verified
// header contradicts.
func (s *headerSyncer) drop(src Source, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.state(src); st != nil {
		s.dropLocked(st, why)
	}
}

// dropLocked stops asking a source for dropFor, with the evidence logged.
func (s *headerSyncer) dropLocked(st *sourceState, why string) {
	st.dropped = why
	st.until = s.now().Add(s.dropFor)
	st.claim = Claim{}
	s.log.Warn("Dropped a source", "source", st.src.Name(), "for", s.dropFor, "evidence", why)
	if s.onDrop != nil {
		s.onDrop(st.src, why)
	}
}

// credit notes the work of headers that the source id (sourceID) served
// or gossiped and that were verified and stored (td nil: none).
func (s *headerSyncer) credit(id string, td *big.Int) {
	if td == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.sources {
		if sourceID(st.src) == id && (st.proven == nil || td.Cmp(st.proven) > 0) {
			st.proven = td
		}
	}
}

// bestClaim is the highest head claimed by a source in good standing (not
// backing off, without strikes): the target of the header sync.
func (s *headerSyncer) bestClaim() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var best uint64
	for _, st := range s.sources {
		if st.strikes == 0 && !now.Before(st.until) && st.claim.TD != nil {
			best = max(best, st.claim.Number)
		}
	}
	return best
}

func (s *headerSyncer) noteHeld(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held = max(s.held, n)
}

// SourceStatus is one source as the light peer sees it.
type SourceStatus struct {
	Name string
	// ID is a provider's URL or a full peer's peer id; Kind "provider" or
	// "p2p".
	ID, Kind string
	Claim    Claim
	// Proven is the most work its verified headers have shown (nil: none
	// yet); Latency the time its last head answer took.
	Proven  *big.Int
	Latency time.Duration
	Strikes int
	Dropped string // the evidence, while dropped
	Until   time.Time
	src     Source
}

// sourceStatus lists the sources.
func (s *headerSyncer) sourceStatus() []SourceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make([]SourceStatus, 0, len(s.sources))
	for _, st := range s.sources {
		ss := SourceStatus{Name: st.src.Name(), ID: sourceID(st.src), Kind: sourceKind(st.src), Claim: st.claim,
			Latency: st.latency, Strikes: st.strikes, src: st.src}
		if st.proven != nil {
			ss.Proven = new(big.Int).Set(st.proven)
		}
		if now.Before(st.until) {
			ss.Dropped, ss.Until = st.dropped, st.until
		}
		out = append(out, ss)
	}
	return out
}

// sourceID names a source as the network view does: a full peer by its
// peer id (as full peers list their peers), a provider by its URL.
func sourceID(src Source) string {
	if p, ok := src.(*p2pSource); ok {
		return p.p.String()
	}
	return src.Name()
}

// sourceKind is "p2p" for a full peer over P2P, "provider" for a JSON-RPC
// endpoint, "source" for any other.
func sourceKind(src Source) string {
	switch src.(type) {
	case *p2pSource:
		return "p2p"
	case *RPCSource:
		return "provider"
	}
	return "source"
}
