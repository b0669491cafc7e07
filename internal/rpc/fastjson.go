package rpc

// A strict scanner for the fast path (fastpath.go): it reads a request
// body the way go-ethereum's codec does (json.go: isBatch, fillMessage)
// but accepts only the plain shape nearly every client sends, and says
// "not sure" (ok false) for anything else, which then takes the
// go-ethereum path. What it accepts is valid JSON (the whole body is
// checked), every key is one of jsonrpc, id, method, params spelled
// exactly so and given once, jsonrpc is "2.0", the method a non-empty
// string without escapes, and the id a number or a string without
// escapes: a call go-ethereum answers, and echoes the id of byte for byte.

// fastCall is one call of a request as the fast path reads it; the slices
// point into the body.
type fastCall struct {
	id     []byte
	method string
	params []byte // nil when absent
}

// scanRequest reads a body of one call or a batch of at most maxBatch
// calls (none: not sure).
func scanRequest(body []byte, maxBatch int, calls []fastCall) (_ []fastCall, batch, ok bool) {
	i := skipSpace(body, 0)
	if i == len(body) {
		return nil, false, false
	}
	if body[i] != '[' {
		c, end, ok := scanCall(body, i)
		if !ok || skipSpace(body, end) != len(body) {
			return nil, false, false
		}
		return append(calls, c), false, true
	}
	i = skipSpace(body, i+1)
	for {
		if len(calls) == maxBatch {
			return nil, true, false
		}
		c, end, ok := scanCall(body, i)
		if !ok {
			return nil, true, false
		}
		calls = append(calls, c)
		next, done, ok := afterElement(body, end, ']')
		if !ok {
			return nil, true, false
		}
		if done {
			if skipSpace(body, next) != len(body) {
				return nil, true, false
			}
			return calls, true, true
		}
		i = next
	}
}

// scanCall reads one call object starting at i and returns where it ends.
func scanCall(b []byte, i int) (c fastCall, end int, ok bool) {
	if i >= len(b) || b[i] != '{' {
		return c, 0, false
	}
	var seen [4]bool
	i = skipSpace(b, i+1)
	for {
		key, next, ok := plainString(b, i)
		if !ok {
			return c, 0, false
		}
		i = skipSpace(b, next)
		if i >= len(b) || b[i] != ':' {
			return c, 0, false
		}
		start := skipSpace(b, i+1)
		end, ok := skipValue(b, start, 0)
		if !ok {
			return c, 0, false
		}
		value := b[start:end]
		var field int
		switch string(key) {
		case "jsonrpc":
			field = 0
			if string(value) != `"2.0"` {
				return c, 0, false
			}
		case "id":
			field = 1
			if !plainID(value) {
				return c, 0, false
			}
			c.id = value
		case "method":
			field = 2
			m, next, ok := plainString(value, 0)
			if !ok || next != len(value) || len(m) == 0 {
				return c, 0, false
			}
			c.method = string(m)
		case "params":
			field = 3
			c.params = value
		default:
			return c, 0, false
		}
		if seen[field] {
			return c, 0, false
		}
		seen[field] = true
		next, done, ok := afterElement(b, end, '}')
		if !ok {
			return c, 0, false
		}
		if done {
			if !seen[0] || !seen[1] || !seen[2] {
				return c, 0, false
			}
			return c, next, true
		}
		i = next
	}
}

// plainID accepts a JSON number or a string without escapes.
func plainID(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	if v[0] == '"' {
		_, next, ok := plainString(v, 0)
		return ok && next == len(v)
	}
	end, ok := skipNumber(v, 0)
	return ok && end == len(v)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reads a string of printable ASCII without escapes at i and
// returns its contents and where it ends.
func plainString(b []byte, i int) (s []byte, end int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// maxDepth bounds the nesting skipValue follows (go-ethereum's
// encoding/json accepts 10,000 levels; deeper input is simply not fast).
const maxDepth = 64

// skipValue checks the JSON value at i (no leading space) and returns
// where it ends.
func skipValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) || depth > maxDepth {
		return 0, false
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '-' || (c >= '0' && c <= '9'):
		return skipNumber(b, i)
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '[':
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, true
		}
		for {
			end, ok := skipValue(b, i, depth+1)
			if !ok {
				return 0, false
			}
			next, done, ok := afterElement(b, end, ']')
			if !ok || done {
				return next, ok
			}
			i = next
		}
	case c == '{':
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1, true
		}
		for {
			end, ok := skipString(b, i)
			if !ok {
				return 0, false
			}
			i = skipSpace(b, end)
			if i >= len(b) || b[i] != ':' {
				return 0, false
			}
			end, ok = skipValue(b, skipSpace(b, i+1), depth+1)
			if !ok {
				return 0, false
			}
			next, done, ok := afterElement(b, end, '}')
			if !ok || done {
				return next, ok
			}
			i = next
		}
	}
	return 0, false
}

func literal(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// skipString checks a JSON string at i: escapes must be valid, control
// characters are not allowed, and other bytes must be printable ASCII (a
// string with other bytes is not fast: encoding/json's rules for invalid
// UTF-8 need not be repeated here).
func skipString(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, true
		case c == '\\':
			j++
			if j >= len(b) {
				return 0, false
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-j < 5 || !isHex(b[j+1]) || !isHex(b[j+2]) || !isHex(b[j+3]) || !isHex(b[j+4]) {
					return 0, false
				}
				j += 4
			default:
				return 0, false
			}
		case c < 0x20 || c >= 0x7f:
			return 0, false
		}
	}
	return 0, false
}

// skipNumber checks a JSON number at i:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func skipNumber(b []byte, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// paramList splits a params value into its elements: absent, null and []
// are no elements; anything but an array is not fast.
func paramList(params []byte, into [][]byte) ([][]byte, bool) {
	if params == nil || string(params) == "null" {
		return into, true
	}
	if len(params) == 0 || params[0] != '[' {
		return nil, false
	}
	i := skipSpace(params, 1)
	if i < len(params) && params[i] == ']' {
		return into, true
	}
	for {
		end, ok := skipValue(params, i, 0)
		if !ok {
			return nil, false
		}
		into = append(into, params[i:end])
		next, done, ok := afterElement(params, end, ']')
		switch {
		case !ok:
			return nil, false
		case done:
			return into, true
		}
		i = next
	}
}

// afterElement reads what follows an array element or an object member
// ending at i: the closing byte (done; next is past it) or a comma (next
// is where the next one starts).
func afterElement(b []byte, i int, closing byte) (next int, done, ok bool) {
	i = skipSpace(b, i)
	switch {
	case i >= len(b):
		return 0, false, false
	case b[i] == closing:
		return i + 1, true, true
	case b[i] == ',':
		return skipSpace(b, i+1), false, true
	}
	return 0, false, false
}

// hexString reads a string of "0x" and exactly n hex digits (n 0: any
// number), returning the digits.
func hexString(v []byte, n int) ([]byte, bool) {
	s, end, ok := plainString(v, 0)
	if !ok || end != len(v) || len(s) < 3 || s[0] != '0' || s[1] != 'x' {
		return nil, false
	}
	s = s[2:]
	if n > 0 && len(s) != n {
		return nil, false
	}
	for _, c := range s {
		if !isHex(c) {
			return nil, false
		}
	}
	return s, true
}
