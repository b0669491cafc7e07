package rpc

import (
	"net/http"
	"strings"
	"testing"
)

// The UI handler gets GET and HEAD requests that are not JSON-RPC, behind
// the Host check; JSON-RPC POSTs and WebSockets from the page's own origin
// still pass, and /health stays the RPC's.
func TestUIRouting(t *testing.T) {
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<title>ui " + r.URL.Path + "</title>"))
	})
	e := newEnvWith(t, Config{UI: ui}, nil)
	host := e.srv.Addr().String()
	origin := "http://" + host
	base := e.url
	for _, p := range []string{"/", "/assets/app.js", "/devnet.html"} {
		e.url = base + p
		status, body, _ := e.rawRequest(http.MethodGet, host, nil, "")
		if status != http.StatusOK || body != "<title>ui "+p+"</title>" {
			t.Errorf("GET %s: %d %q, want the UI's page", p, status, body)
		}
		if status, _, _ := e.rawRequest(http.MethodGet, "attacker.example", nil, ""); status != http.StatusForbidden {
			t.Errorf("GET %s with a foreign Host: %d, want 403", p, status)
		}
	}
	e.url = base + "/health"
	if status, body, _ := e.rawRequest(http.MethodGet, host, nil, ""); strings.Contains(body, "<title>") || status == http.StatusForbidden {
		t.Errorf("GET /health went to the UI or was refused: %d %q", status, body)
	}
	e.url = base + "/"
	status, body, _ := e.rawRequest(http.MethodPost, host, map[string]string{"Origin": origin}, chainIDRequest)
	if status != http.StatusOK || !strings.Contains(body, `"result"`) {
		t.Errorf("the page's own POST: %d %q", status, body)
	}
	if status := e.wsUpgrade(host, origin); status != http.StatusSwitchingProtocols {
		t.Errorf("the page's own WebSocket: %d, want 101", status)
	}
	if status, _, _ := e.rawRequest(http.MethodPost, host, map[string]string{"Origin": "http://attacker.example"}, chainIDRequest); status != http.StatusForbidden {
		t.Errorf("a foreign page's POST: %d, want 403", status)
	}
}
