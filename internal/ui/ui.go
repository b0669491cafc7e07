// Package ui serves the peer's web UI: the bundle built from web/ (make ui)
// and embedded in the binary, so a peer serves its wallet, explorer and
// network pages with no CDN and no npm at run time. It imports nothing of
// peerchain; the RPC server hands it the requests that are neither JSON-RPC
// nor a WebSocket (rpc.Config.UI).
package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed dist
var dist embed.FS

// asset is one file of the bundle, with its gzip form when that is smaller.
type asset struct {
	body  []byte
	gz    []byte
	ctype string
	etag  string
}

// Handler serves the embedded bundle. Assets under assets/ are served by
// name; any other path gets the page (index.html, or the HTML page of that
// name, e.g. /devnet.html) so that links and reloads work.
type Handler struct {
	files map[string]*asset
	index string
}

// New returns the handler of the embedded bundle, or an error if the bundle
// has no index.html (the binary was built before make ui).
func New() (*Handler, error) {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		return nil, fmt.Errorf("ui bundle: %w", err)
	}
	return newHandler(sub)
}

func newHandler(root fs.FS) (*Handler, error) {
	h := &Handler{files: map[string]*asset{}, index: "index.html"}
	err := fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(root, p)
		if err != nil {
			return fmt.Errorf("ui bundle file %s: %w", p, err)
		}
		sum := sha256.Sum256(body)
		a := &asset{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		a.ctype = mime.TypeByExtension(path.Ext(p))
		if a.ctype == "" {
			a.ctype = http.DetectContentType(body)
		}
		if compressible(a.ctype) && len(body) > 512 {
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
			if _, err := zw.Write(body); err != nil {
				return fmt.Errorf("ui bundle gzip %s: %w", p, err)
			}
			if err := zw.Close(); err != nil {
				return fmt.Errorf("ui bundle gzip %s: %w", p, err)
			}
			if buf.Len() < len(body) {
				a.gz = buf.Bytes()
			}
		}
		h.files[p] = a
		return nil
	})
	if err != nil {
		return nil, err
	}
	if h.files[h.index] == nil {
		return nil, fmt.Errorf("ui bundle has no %s: build it with make ui", h.index)
	}
	return h, nil
}

func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || strings.Contains(ctype, "javascript") ||
		strings.Contains(ctype, "json") || strings.Contains(ctype, "svg")
}

// ServeHTTP answers GET and HEAD; other methods get 405.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "the web UI answers GET and HEAD only", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	a, ok := h.files[name]
	hdr := w.Header()
	switch {
	case ok && strings.HasPrefix(name, "assets/"):
		// Fixed names: revalidate by ETag rather than cache forever.
		hdr.Set("Cache-Control", "no-cache")
	case strings.HasPrefix(name, "assets/"):
		http.NotFound(w, r)
		return
	default:
		if !ok || !strings.HasSuffix(name, ".html") {
			a = h.files[h.index]
		}
		hdr.Set("Cache-Control", "no-cache")
		// The page talks to its own origin only.
		hdr.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
		hdr.Set("X-Frame-Options", "DENY")
	}
	hdr.Set("Content-Type", a.ctype)
	hdr.Set("ETag", a.etag)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Add("Vary", "Accept-Encoding")
	body := a.body
	if a.gz != nil && acceptsGzip(r) {
		hdr.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(enc, "gzip") {
			return true
		}
	}
	return false
}
