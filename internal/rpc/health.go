package rpc

import (
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"time"
)

// PeerWork is an optional capability of a Network: the most total
// difficulty a connected peer claims (nil without peers). /health reports
// how far it is ahead of ours.
type PeerWork interface {
	BestPeerTD() *big.Int
}

// healthReport is the answer of GET /health.
type healthReport struct {
	// Healthy is the status: 200 when true, 503 otherwise.
	Healthy bool `json:"healthy"`
	// Synced: no sync running and the head is fresh.
	Synced  bool   `json:"synced"`
	Syncing bool   `json:"syncing"`
	Peers   int    `json:"peers"`
	Head    uint64 `json:"headNumber"`
	// HeadAge is how old the head block's timestamp is, in seconds.
	HeadAge float64 `json:"headAgeSeconds"`
	// Lag is the best peer's claimed total difficulty minus ours, 0 if
	// none claims more. A claim costs nothing, so it is reported and
	// never decides the status: a lying peer could otherwise take every
	// provider out of its load balancer.
	Lag     *big.Int `json:"lag"`
	Reasons []string `json:"reasons,omitempty"`
}

// health judges whether this node should receive traffic: no sync
// running, at least HealthMinPeers peers, and a head younger than
// HealthMaxHeadAge.
func (s *Server) health(now time.Time) healthReport {
	head := s.eth.b.Chain.CurrentHeader()
	rep := healthReport{Head: head.Number.Uint64(), Lag: new(big.Int)}
	if t := time.Unix(int64(head.Time), 0); now.After(t) {
		rep.HeadAge = now.Sub(t).Round(time.Millisecond).Seconds()
	}
	if n := s.eth.b.Net; n != nil {
		rep.Peers = n.PeerCount()
		if st, ok := n.Syncing(); ok {
			rep.Syncing = true
			rep.Reasons = append(rep.Reasons, fmt.Sprintf("syncing: at block %d of %d", st.Current, st.Highest))
		}
		if pw, ok := n.(PeerWork); ok {
			if best := pw.BestPeerTD(); best != nil {
				if td := s.eth.b.Chain.GetTD(head.Hash(), head.Number.Uint64()); td != nil && best.Cmp(td) > 0 {
					rep.Lag.Sub(best, td)
				}
			}
		}
	}
	if rep.Peers < s.cfg.HealthMinPeers {
		rep.Reasons = append(rep.Reasons, fmt.Sprintf("%d peers, fewer than %d (--provider.minpeers)", rep.Peers, s.cfg.HealthMinPeers))
	}
	stale := rep.HeadAge > s.cfg.HealthMaxHeadAge.Seconds()
	if stale {
		rep.Reasons = append(rep.Reasons, fmt.Sprintf("head block %d is %.0fs old, older than %v (--provider.maxheadage)", rep.Head, rep.HeadAge, s.cfg.HealthMaxHeadAge))
	}
	rep.Synced = !rep.Syncing && !stale
	rep.Healthy = len(rep.Reasons) == 0
	return rep
}

// serveHealth answers GET /health for load balancers: 200 when healthy,
// 503 with the reasons otherwise; the body is the report as JSON.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	rep := s.health(time.Now())
	body, err := json.Marshal(rep)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !rep.Healthy {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	if r.Method != http.MethodHead {
		w.Write(append(body, '\n'))
	}
}
