package devnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/peerchain/peerchain/internal/ui"
)

var errNoBlock = errors.New("no such block")

// The devnet page's HTTP API, served on 127.0.0.1 only:
//
//	GET  /                 the page
//	GET  /api/state        WebState
//	GET  /api/events       Server-Sent Events: "state" (a whole WebState
//	                       when it changed), "head", "reorg", "down", "up",
//	                       "partition", "heal", "fault" (WebEvent)
//	POST /api/kill         {"name": "peer2"}
//	POST /api/restart      {"name": "peer2"}
//	POST /api/partition    {"groups": [["peer0","peer1"],["peer2"]]}
//	POST /api/heal
//	POST /api/fault        {"name": "peer2", "kind": "delay", "args": ["200ms", "20ms"]}
//
// A command answers 204, or 400 with the error as plain text. Every
// request must name the supervisor in its Host (127.0.0.1, localhost or
// [::1]), so that a page of another site re-pointing its name here (DNS
// rebinding) gets 403; a POST from a browser must come from the page
// itself (its Origin), so that another site's page cannot drive the
// devnet (CSRF).
func (s *Supervisor) webHandler(t *tracker) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.servePage)
	mux.HandleFunc("GET /assets/", s.servePage)
	mux.HandleFunc("GET /api/state", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(t.state())
	})
	mux.HandleFunc("GET /api/events", func(w http.ResponseWriter, r *http.Request) { serveEvents(w, r, t) })
	type nameReq struct {
		Name string `json:"name"`
	}
	mux.HandleFunc("POST /api/kill", func(w http.ResponseWriter, r *http.Request) {
		var req nameReq
		if err := decodeBody(r, &req); err != nil {
			reply(w, err)
			return
		}
		reply(w, s.Kill(req.Name))
	})
	mux.HandleFunc("POST /api/restart", func(w http.ResponseWriter, r *http.Request) {
		var req nameReq
		if err := decodeBody(r, &req); err != nil {
			reply(w, err)
			return
		}
		reply(w, s.Restart(r.Context(), req.Name))
	})
	mux.HandleFunc("POST /api/partition", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Groups [][]string `json:"groups"`
		}
		if err := decodeBody(r, &req); err != nil {
			reply(w, err)
			return
		}
		reply(w, s.Partition(r.Context(), req.Groups))
	})
	mux.HandleFunc("POST /api/fault", func(w http.ResponseWriter, r *http.Request) {
		var req FaultRequest
		if err := decodeBody(r, &req); err != nil {
			reply(w, err)
			return
		}
		reply(w, s.SetFault(r.Context(), req))
	})
	mux.HandleFunc("POST /api/heal", func(w http.ResponseWriter, r *http.Request) {
		reply(w, s.Heal(r.Context()))
	})
	return guardLocal(mux)
}

// decodeBody reads a JSON request body of at most 64 KiB into v.
func decodeBody(r *http.Request, v any) error {
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(v); err != nil {
		return fmt.Errorf("%s: want a JSON object body: %w", r.URL.Path, err)
	}
	return nil
}

// localHost reports whether host (a Host header or URL host, with or
// without a port) names this machine's loopback.
func localHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return host == "127.0.0.1" || host == "::1" || strings.EqualFold(host, "localhost")
}

// guardLocal refuses, with 403, a request whose Host is not loopback, and
// a state-changing request whose Origin is another site than the Host it
// is sent to.
func guardLocal(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !localHost(r.Host) {
			http.Error(w, fmt.Sprintf("host %q refused: the devnet page answers only 127.0.0.1, localhost or [::1]", r.Host), http.StatusForbidden)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if origin := r.Header.Get("Origin"); origin != "" {
				u, err := url.Parse(origin)
				if err != nil || u.Scheme != "http" || !strings.EqualFold(u.Host, r.Host) {
					http.Error(w, fmt.Sprintf("origin %q refused: only the devnet page itself (http://%s) may act on the devnet", origin, r.Host), http.StatusForbidden)
					return
				}
			}
			if ct := r.Header.Get("Content-Type"); r.ContentLength != 0 && !strings.HasPrefix(ct, "application/json") {
				http.Error(w, fmt.Sprintf("content type %q refused: send application/json", ct), http.StatusUnsupportedMediaType)
				return
			}
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// serveEvents streams the tracker's messages as Server-Sent Events,
// starting with the state now, until the client leaves.
func serveEvents(w http.ResponseWriter, r *http.Request, t *tracker) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch, st, cancel := t.subscribe()
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	data, err := json.Marshal(st)
	if err != nil {
		return
	}
	if _, err := w.Write(sseMessage("state", data)); err != nil {
		return
	}
	flusher.Flush()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case m := <-ch:
			if _, err := w.Write(m); err != nil {
				return
			}
			flusher.Flush()
		case <-keepalive.C:
			if _, err := io.WriteString(w, ": keepalive\n\n"); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}

// servePage serves the devnet page (devnet.html of the web UI's embedded
// bundle) at / and its assets.
func (s *Supervisor) servePage(w http.ResponseWriter, r *http.Request) {
	if s.page == nil {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, fallbackPage)
		return
	}
	if r.URL.Path == "/" {
		r = r.Clone(r.Context())
		r.URL.Path = "/" + pageFile
	}
	s.page.ServeHTTP(w, r)
}

// hasPage reports whether the bundle has the devnet page: for an HTML
// file it lacks, the UI's handler answers with its index.html.
func hasPage(h http.Handler) bool {
	etag := func(path string) string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, path, nil))
		return rec.Header().Get("ETag")
	}
	page := etag("/" + pageFile)
	return page != "" && page != etag("/index.html")
}

// pageFile is the devnet page in the web UI's bundle.
const pageFile = "devnet.html"

// newPageHandler returns the handler of the embedded bundle, or nil (and
// the reason logged) when it carries no devnet page.
func newPageHandler(log *slog.Logger) http.Handler {
	h, err := ui.New()
	if err == nil && !hasPage(h) {
		err = fmt.Errorf("the web UI bundle has no %s: build it with make ui", pageFile)
	}
	if err != nil {
		log.Warn("Serving the devnet API without its page", "err", err)
		return nil
	}
	return h
}

// fallbackPage is served when the binary carries no built page.
const fallbackPage = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>peerchain devnet</title></head>
<body><main><h1>peerchain devnet</h1><p>This binary carries no devnet page; the API is at <a href="/api/state">/api/state</a>.</p></main></body></html>`

// listenPage opens the page's listener on 127.0.0.1:port.
func listenPage(port int) (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return nil, fmt.Errorf("the devnet page cannot listen on 127.0.0.1:%d (--ui.port): %w", port, err)
	}
	return ln, nil
}

// servePageAPI serves the page and its API on ln, with the tracker's
// polling, until ctx ends; the function it returns waits for both to stop.
func (s *Supervisor) servePageAPI(ctx context.Context, ln net.Listener, t *tracker) func() {
	srv := &http.Server{
		Handler:           s.webHandler(t),
		ReadHeaderTimeout: 5 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("The devnet page", "err", err)
		}
	}()
	tracked := make(chan struct{})
	go func() { defer close(tracked); t.run(ctx) }()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-served
		<-tracked
	}
}
