package rpc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// rpcCall is what admission reads of one JSON-RPC call.
type rpcCall struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
}

// answered reports whether the server answers the call: as in
// go-ethereum, a call without a valid id is a notification.
func (c rpcCall) answered() bool {
	return len(c.ID) > 0 && c.ID[0] != '{' && c.ID[0] != '['
}

// parseCalls reads the calls of a request (one message or a batch). What
// is not JSON-RPC reads as no calls or a call without a method: the server
// answers it with its own error.
func parseCalls(body []byte) (calls []rpcCall, batch bool) {
	body = bytes.TrimLeft(body, " \t\r\n")
	if len(body) == 0 || body[0] != '[' {
		var c rpcCall
		if json.Unmarshal(body, &c) != nil {
			return []rpcCall{{}}, false
		}
		return []rpcCall{c}, false
	}
	var elems []json.RawMessage
	if json.Unmarshal(body, &elems) != nil {
		return nil, true
	}
	calls = make([]rpcCall, len(elems))
	for i, e := range elems {
		json.Unmarshal(e, &calls[i]) // a bad element stays zero
	}
	return calls, true
}

// callsCost is what a request costs its client: the sum of its calls'
// costs, at least 1.
func callsCost(calls []rpcCall) int {
	cost := 0
	for _, c := range calls {
		cost += methodCost(c.Method)
	}
	return max(1, cost)
}

// admit counts a request's calls and charges them to its client.
func (s *Server) admit(cl client, calls []rpcCall, transport string) error {
	s.metrics.count(calls, transport, cl.label(), s.cfg.Provider)
	return s.charge(cl, calls)
}

// charge spends the cost of calls (at least 1) from the client's bucket
// on a provider: a *rateError when it holds too little.
func (s *Server) charge(cl client, calls []rpcCall) error {
	return s.chargeCost(cl, callsCost(calls), true)
}

// affordable refuses, before its body is read, a request from a client
// whose bucket does not hold the least a request costs.
func (s *Server) affordable(cl client) error {
	return s.chargeCost(cl, 1, false)
}

func (s *Server) chargeCost(cl client, cost int, spend bool) error {
	if s.clients == nil || (cl.key != nil && cl.key.Unlimited) {
		return nil
	}
	rate, burst, rule := s.cfg.ClientRate, float64(s.cfg.ClientBurst), "--provider.rate, --provider.burst"
	if cl.key != nil {
		rate, burst, rule = cl.key.Rate, float64(cl.key.Burst), "its line in --provider.keys"
	}
	take := s.clients.take
	if !spend {
		take = s.clients.allow
	}
	ok, retry := take(cl.group(), rate, burst, float64(cost))
	if !ok {
		s.metrics.rejectClient(rejectRate, cl.label())
		return &rateError{retry: retry, msg: fmt.Sprintf("rate limit exceeded: %s may spend %s units a second, %s at once (%s), and this request costs %d; retry in %ds",
			cl, strconv.FormatFloat(rate, 'f', -1, 64), strconv.FormatFloat(burst, 'f', -1, 64), rule, cost, retrySeconds(retry))}
	}
	if spend {
		s.metrics.spend(cl.label(), cost)
	}
	return nil
}

// rateError is a request over its client's rate limit: -32005, and over
// HTTP status 429 with Retry-After.
type rateError struct {
	msg   string
	retry time.Duration
}

func (e *rateError) Error() string        { return e.msg }
func (e *rateError) ErrorCode() int       { return errcodeLimit }
func (e *rateError) Is(target error) bool { return target == ErrLimit }
func (e *rateError) ErrorData() any       { return map[string]int{"retryAfter": retrySeconds(e.retry)} }

// retrySeconds is a Retry-After value: whole seconds, at least 1.
func retrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// errorAnswers is the answer that gives every answered call of a request
// the same error: one message, or a batch. It is nil when no call is
// answered (only notifications).
func errorAnswers(calls []rpcCall, batch bool, code int, msg string, data any) []byte {
	type rpcError struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    any    `json:"data,omitempty"`
	}
	type answer struct {
		Version string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   rpcError        `json:"error"`
	}
	var out []answer
	for _, c := range calls {
		if c.answered() {
			out = append(out, answer{"2.0", c.ID, rpcError{code, msg, data}})
		}
	}
	var (
		raw []byte
		err error
	)
	switch {
	case len(out) == 0:
		return nil
	case batch:
		raw, err = json.Marshal(out)
	default:
		raw, err = json.Marshal(out[0])
	}
	if err != nil {
		return nil
	}
	return raw
}

// nullIDError is an error answer that names no call.
func nullIDError(code int, msg string, data any) []byte {
	e := map[string]any{"code": code, "message": msg}
	if data != nil {
		e["data"] = data
	}
	raw, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": nil, "error": e})
	return raw
}

// responseID reads the id of an answer as go-ethereum writes it
// ({"jsonrpc":"2.0","id":...), or of a batch answer's first element.
func responseID(msg []byte) ([]byte, bool) {
	const prefix = `{"jsonrpc":"2.0","id":`
	if len(msg) > 0 && msg[0] == '[' {
		msg = msg[1:]
	}
	if !bytes.HasPrefix(msg, []byte(prefix)) {
		return nil, false
	}
	rest := msg[len(prefix):]
	if len(rest) == 0 {
		return nil, false
	}
	if rest[0] == '"' {
		for i := 1; i < len(rest); i++ {
			switch rest[i] {
			case '\\':
				i++
			case '"':
				return rest[:i+1], true
			}
		}
		return nil, false
	}
	end := bytes.IndexAny(rest, ",}")
	if end <= 0 {
		return nil, false
	}
	return rest[:end], true
}
