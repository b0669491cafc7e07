package devnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to a running devnet through its control socket.
type Client struct {
	http *http.Client
}

// Dial connects to the devnet running in dir.
func Dial(dir string) (*Client, error) {
	path := SocketFile(dir)
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("no running devnet in %s (control socket %s): %w", dir, path, err)
	}
	conn.Close()
	return &Client{http: &http.Client{
		// A restart waits for the peer's RPC, up to the start timeout.
		Timeout: 2 * time.Minute,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}}, nil
}

func (c *Client) post(path string, body any) error {
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode the %s request: %w", path, err)
		}
		r = bytes.NewReader(data)
	}
	resp, err := c.http.Post("http://devnet"+path, "application/json", r)
	if err != nil {
		return fmt.Errorf("devnet control %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
		return errors.New(strings.TrimSpace(string(msg)))
	}
	return nil
}

// Kill kills a peer of the devnet (SIGKILL); it stays down.
func (c *Client) Kill(name string) error { return c.post("/kill/"+url.PathEscape(name), nil) }

// Restart restarts a peer of the devnet and waits until its RPC answers.
func (c *Client) Restart(name string) error { return c.post("/restart/"+url.PathEscape(name), nil) }

// Partition splits the devnet into groups of peer names.
func (c *Client) Partition(groups [][]string) error { return c.post("/partition", groups) }

// Heal lifts a partition.
func (c *Client) Heal() error { return c.post("/heal", nil) }

// Fault changes a peer's delay, loss or bandwidth, or clears them.
func (c *Client) Fault(req FaultRequest) error { return c.post("/fault", req) }

// Status returns every peer's state, head and peer count.
func (c *Client) Status() ([]PeerStatus, error) {
	resp, err := c.http.Get("http://devnet/status")
	if err != nil {
		return nil, fmt.Errorf("devnet control /status: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
		return nil, fmt.Errorf("devnet control /status: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	var out []PeerStatus
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("devnet status: %w", err)
	}
	return out, nil
}
