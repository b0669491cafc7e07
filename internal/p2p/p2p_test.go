package p2p

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

var loopback = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}

func newHost(t *testing.T, boot ...string) *Host {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Network: "test", Key: key, Listen: loopback, Bootnodes: boot, BanDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestKeyPersists(t *testing.T) {
	path := t.TempDir() + "/p2p/key"
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equals(k2) {
		t.Fatal("the key changed across loads")
	}
}

func TestGossipStreamsAndBans(t *testing.T) {
	a := newHost(t)
	boot := a.Addrs()[0]
	b, c, d := newHost(t, boot), newHost(t, boot), newHost(t, boot)
	hosts := []*Host{a, b, c, d}
	type rx struct {
		host int
		data string
	}
	var (
		mu  sync.Mutex
		got []rx
	)
	topics := make([]*Topic, len(hosts))
	for i, h := range hosts {
		i := i
		tp, err := h.JoinTopic("msgs", TopicOptions{ContentIDs: true}, func(_ context.Context, from, author peer.ID, data []byte) Verdict {
			if bytes.HasPrefix(data, []byte("bad")) {
				return Reject
			}
			return Accept
		}, func(from, author peer.ID, data []byte) {
			mu.Lock()
			got = append(got, rx{i, string(data)})
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		topics[i] = tp
		if err := h.Start(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every host to see 3 topic peers", func() bool {
		for _, tp := range topics {
			if len(tp.Peers()) < 3 {
				return false
			}
		}
		return true
	})
	if err := topics[1].Publish(context.Background(), []byte("hello")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the message to reach the 3 other hosts", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 3
	})

	// Request/response with a cap.
	for _, h := range hosts {
		h.Handle("echo", 16, func(_ context.Context, _ peer.ID, req []byte) ([]byte, error) {
			if string(req) == "fail" {
				return nil, errors.New("no")
			}
			return append([]byte("re:"), req...), nil
		})
	}
	resp, err := b.Request(context.Background(), c.ID(), "echo", []byte("ping"), 64)
	if err != nil || string(resp) != "re:ping" {
		t.Fatalf("echo: %q %v", resp, err)
	}
	if _, err := b.Request(context.Background(), c.ID(), "echo", []byte("fail"), 64); !errors.Is(err, ErrRemote) {
		t.Fatalf("remote error: %v", err)
	}
	if _, err := b.Request(context.Background(), c.ID(), "echo", []byte("0123456789"), 5); !errors.Is(err, ErrOversized) {
		t.Fatalf("oversized response: %v", err)
	}
	// An oversized request gets the sender banned.
	if _, err := d.Request(context.Background(), c.ID(), "echo", bytes.Repeat([]byte("x"), 100), 64); err == nil {
		t.Fatal("oversized request answered")
	}
	waitFor(t, "c to ban d", func() bool { return c.IsBanned(d.ID()) })
	waitFor(t, "d to be disconnected from c", func() bool {
		for _, p := range c.Peers() {
			if p.ID == d.ID() {
				return false
			}
		}
		return true
	})

	// Partition: a and b refuse c; healing lets them reconnect.
	a.Block([]peer.ID{c.ID()})
	b.Block([]peer.ID{c.ID()})
	c.Block([]peer.ID{a.ID(), b.ID()})
	waitFor(t, "c cut off", func() bool { return c.PeerCount() == 0 })
	a.Unblock()
	b.Unblock()
	c.Unblock()
	waitFor(t, "c reconnected", func() bool { return c.PeerCount() > 0 })
	info := a.Peers()
	if len(info) == 0 || info[0].Since.IsZero() {
		t.Fatalf("peer info %+v", info)
	}
}

// Ended bans are forgotten: a peer seeing many short-lived identities
// misbehave holds only the bans still running.
func TestEndedBansAreForgotten(t *testing.T) {
	h := newHost(t)
	h.cfg.BanDuration = 20 * time.Millisecond
	for i := 0; i < 500; i++ {
		key, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		id, err := peer.IDFromPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		h.Ban(id, "test")
	}
	if n := len(h.Bans()); n == 0 {
		t.Fatal("no ban is running right after 500 bans")
	}
	waitFor(t, "the bans to end", func() bool { return len(h.Bans()) == 0 })
	h.gater.mu.RLock()
	held := len(h.gater.mu.bans)
	h.gater.mu.RUnlock()
	if held != 0 {
		t.Fatalf("%d ended bans still held", held)
	}
}

// FuzzReadFrame: any bytes a stream carries. A frame is read whole or
// refused, never longer than the cap.
func FuzzReadFrame(f *testing.F) {
	var buf bytes.Buffer
	if err := writeFrame(&buf, []byte("hello")); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes(), 16)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 1<<20)
	f.Add([]byte{}, 0)
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		if max < 0 || max > 1<<20 {
			return
		}
		frame, err := readFrame(bufio.NewReader(bytes.NewReader(data)), max)
		if err != nil {
			return
		}
		if len(frame) > max {
			t.Fatalf("read a %d-byte frame with a cap of %d", len(frame), max)
		}
	})
}
