package p2p

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// StreamTimeout bounds one request/response exchange.
const StreamTimeout = 30 * time.Second

// Errors of request/response exchanges.
var (
	// ErrOversized: the other side sent more than the protocol's cap. A
	// peer that does so misbehaves.
	ErrOversized = errors.New("message over the size cap")
	// ErrRemote: the other side answered with an error.
	ErrRemote = errors.New("peer answered with an error")
)

// RequestHandler answers one request from a peer.
type RequestHandler func(ctx context.Context, from peer.ID, req []byte) ([]byte, error)

const (
	statusOK  = 0
	statusErr = 1
)

// Handle serves the network-namespaced protocol name: one request of at
// most maxReq bytes, one response. A peer sending an oversized request is
// banned.
func (h *Host) Handle(name string, maxReq int, handler RequestHandler) {
	pid := protocol.ID(h.Proto(name))
	h.h.SetStreamHandler(pid, func(s network.Stream) {
		defer s.Close()
		from := s.Conn().RemotePeer()
		_ = s.SetDeadline(time.Now().Add(StreamTimeout))
		req, err := readFrame(bufio.NewReader(s), maxReq)
		if err != nil {
			if errors.Is(err, ErrOversized) {
				h.Ban(from, fmt.Sprintf("oversized %s request: %v", name, err))
			}
			_ = s.Reset()
			return
		}
		ctx, cancel := context.WithTimeout(h.ctx, StreamTimeout)
		defer cancel()
		if h.shaper.hold(ctx, dirIn, len(req), false) != nil {
			_ = s.Reset()
			return
		}
		resp, herr := handler(ctx, from, req)
		status := byte(statusOK)
		if herr != nil {
			status, resp = statusErr, []byte(herr.Error())
		}
		if h.shaper.hold(ctx, dirOut, len(resp)+1, false) != nil {
			_ = s.Reset()
			return
		}
		if _, err := s.Write([]byte{status}); err != nil {
			_ = s.Reset()
			return
		}
		if err := writeFrame(s, resp); err != nil {
			_ = s.Reset()
		}
	})
}

// Request sends req on protocol name to p and returns the response, at most
// maxResp bytes. ErrOversized means p broke the protocol's cap.
func (h *Host) Request(ctx context.Context, p peer.ID, name string, req []byte, maxResp int) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, StreamTimeout)
	defer cancel()
	if err := h.shaper.hold(ctx, dirOut, len(req), false); err != nil {
		return nil, fmt.Errorf("send %s request to %s: %w", name, p, err)
	}
	s, err := h.h.NewStream(ctx, p, protocol.ID(h.Proto(name)))
	if err != nil {
		return nil, fmt.Errorf("open %s stream to %s: %w", name, p, err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	if err := writeFrame(s, req); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("send %s request to %s: %w", name, p, err)
	}
	if err := s.CloseWrite(); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("send %s request to %s: %w", name, p, err)
	}
	r := bufio.NewReader(s)
	status, err := r.ReadByte()
	if err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("read %s response from %s: %w", name, p, err)
	}
	resp, err := readFrame(r, maxResp)
	if err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("read %s response from %s: %w", name, p, err)
	}
	if err := h.shaper.hold(ctx, dirIn, len(resp)+1, false); err != nil {
		return nil, fmt.Errorf("read %s response from %s: %w", name, p, err)
	}
	if status != statusOK {
		return nil, fmt.Errorf("%w: %s: %s", ErrRemote, name, truncate(string(resp), 200))
	}
	return resp, nil
}

func writeFrame(w io.Writer, data []byte) error {
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(data)))
	if _, err := w.Write(hdr[:n]); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

func readFrame(r *bufio.Reader, max int) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("%w: %d bytes, cap %d", ErrOversized, n, max)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
