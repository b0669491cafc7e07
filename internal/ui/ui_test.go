package ui

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func TestEmbeddedBundle(t *testing.T) {
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"index.html", "assets/app.js", "assets/app.css"} {
		if h.files[p] == nil {
			t.Errorf("embedded bundle lacks %s", p)
		}
	}
}

func get(t *testing.T, h http.Handler, path string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestServe(t *testing.T) {
	page := "<!doctype html><title>x</title>" + strings.Repeat("<p>peer</p>", 100)
	h, err := newHandler(fstest.MapFS{
		"index.html":     {Data: []byte(page)},
		"devnet.html":    {Data: []byte("<!doctype html><title>devnet</title>")},
		"assets/app.js":  {Data: []byte(strings.Repeat("console.log(1);", 100))},
		"assets/app.css": {Data: []byte("body{}")},
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path, ctype, bodyHas string
		status               int
	}{
		{"/", "text/html; charset=utf-8", "<title>x</title>", 200},
		{"/some/route", "text/html; charset=utf-8", "<title>x</title>", 200},
		{"/devnet.html", "text/html; charset=utf-8", "devnet", 200},
		{"/assets/app.js", "text/javascript; charset=utf-8", "console.log", 200},
		{"/assets/app.css", "text/css; charset=utf-8", "body{}", 200},
		{"/assets/missing.js", "", "", 404},
		{"/../../etc/passwd", "text/html; charset=utf-8", "<title>x</title>", 200},
	}
	for _, c := range cases {
		res := get(t, h, c.path, nil)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != c.status {
			t.Errorf("GET %s: status %d, want %d", c.path, res.StatusCode, c.status)
			continue
		}
		if c.status != 200 {
			continue
		}
		if got := res.Header.Get("Content-Type"); got != c.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", c.path, got, c.ctype)
		}
		if !strings.Contains(string(body), c.bodyHas) {
			t.Errorf("GET %s: body %.60q lacks %q", c.path, body, c.bodyHas)
		}
		if res.Header.Get("ETag") == "" {
			t.Errorf("GET %s: no ETag", c.path)
		}
	}

	// Revalidation answers 304.
	etag := get(t, h, "/assets/app.js", nil).Header.Get("ETag")
	if res := get(t, h, "/assets/app.js", map[string]string{"If-None-Match": etag}); res.StatusCode != http.StatusNotModified {
		t.Errorf("GET with If-None-Match %s: status %d, want 304", etag, res.StatusCode)
	}

	// gzip when asked, the same bytes after decompression.
	res := get(t, h, "/assets/app.js", map[string]string{"Accept-Encoding": "br, gzip"})
	if res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Accept-Encoding gzip: Content-Encoding %q", res.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if string(plain) != strings.Repeat("console.log(1);", 100) {
		t.Errorf("gzip body differs from the asset")
	}

	// Only GET and HEAD.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}")))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: status %d, want 405", rec.Code)
	}
}

func TestNoIndex(t *testing.T) {
	if _, err := newHandler(fstest.MapFS{"assets/app.js": {Data: []byte("x")}}); err == nil {
		t.Fatal("a bundle without index.html was accepted")
	}
}
