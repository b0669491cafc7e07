package wallet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"reflect"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
)

// ErrBadABI marks an ABI or bytecode file, or arguments, that do not fit.
var ErrBadABI = errors.New("bad contract ABI or arguments")

// Contract is a contract's ABI and, for deployment, its bytecode.
type Contract struct {
	ABI      abi.ABI
	Bytecode []byte
}

// LoadContract reads an ABI file — a JSON ABI array, or a compiler artifact
// object with an "abi" field (and "bytecode", "bin" or
// "evm.bytecode.object") — and, if bytecode is given, the bytecode: a hex
// string or a file holding one. Bytecode in the artifact is used when
// bytecode is empty.
func LoadContract(abiFile, bytecode string) (*Contract, error) {
	c := &Contract{}
	if abiFile != "" {
		data, err := os.ReadFile(abiFile)
		if err != nil {
			return nil, fmt.Errorf("%w: read ABI: %w", ErrBadABI, err)
		}
		abiJSON, code, err := splitArtifact(data)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBadABI, abiFile, err)
		}
		if c.ABI, err = abi.JSON(bytes.NewReader(abiJSON)); err != nil {
			return nil, fmt.Errorf("%w: %s is not a JSON ABI: %w", ErrBadABI, abiFile, err)
		}
		c.Bytecode = code
	}
	if bytecode != "" {
		code, err := parseBytecode(bytecode)
		if err != nil {
			return nil, err
		}
		c.Bytecode = code
	}
	return c, nil
}

// splitArtifact returns the ABI array and any bytecode of an ABI file.
func splitArtifact(data []byte) (json.RawMessage, []byte, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return trimmed, nil, nil
	}
	var art struct {
		ABI      json.RawMessage `json:"abi"`
		Bytecode any             `json:"bytecode"`
		Bin      string          `json:"bin"`
		EVM      struct {
			Bytecode struct {
				Object string `json:"object"`
			} `json:"bytecode"`
		} `json:"evm"`
	}
	if err := json.Unmarshal(trimmed, &art); err != nil {
		return nil, nil, fmt.Errorf("want a JSON ABI array or an artifact object with \"abi\": %w", err)
	}
	if len(art.ABI) == 0 {
		return nil, nil, errors.New(`the artifact has no "abi" field`)
	}
	code := art.EVM.Bytecode.Object
	if code == "" {
		code = art.Bin
	}
	switch b := art.Bytecode.(type) {
	case string:
		code = b
	case map[string]any: // {"object": "0x…"} as some tools write it
		if o, ok := b["object"].(string); ok {
			code = o
		}
	}
	var out []byte
	if code != "" {
		var err error
		if out, err = hexutil.Decode(ensure0x(strings.TrimSpace(code))); err != nil {
			return nil, nil, fmt.Errorf("artifact bytecode is not hex: %w", err)
		}
	}
	return art.ABI, out, nil
}

func ensure0x(s string) string {
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		return s
	}
	return "0x" + s
}

// parseBytecode takes a hex string or a file holding one.
func parseBytecode(s string) ([]byte, error) {
	text := s
	if !strings.HasPrefix(s, "0x") {
		if data, err := os.ReadFile(s); err == nil {
			text = strings.TrimSpace(string(data))
		}
	}
	code, err := hexutil.Decode(ensure0x(text))
	if err != nil {
		return nil, fmt.Errorf("%w: bytecode %q: neither hex nor a file holding hex: %w", ErrBadABI, truncate(s, 40), err)
	}
	if len(code) == 0 {
		return nil, fmt.Errorf("%w: bytecode is empty", ErrBadABI)
	}
	return code, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// DeployData is the init code with the constructor arguments appended.
func (c *Contract) DeployData(args []string) ([]byte, error) {
	if len(c.Bytecode) == 0 {
		return nil, fmt.Errorf("%w: no bytecode to deploy (give --bytecode or an artifact that has one)", ErrBadABI)
	}
	vals, err := convertArgs(c.ABI.Constructor.Inputs, args, "constructor")
	if err != nil {
		return nil, err
	}
	packed, err := c.ABI.Pack("", vals...)
	if err != nil {
		return nil, fmt.Errorf("%w: constructor arguments: %w", ErrBadABI, err)
	}
	return append(append([]byte{}, c.Bytecode...), packed...), nil
}

// Method returns a method by name, with a clear error listing the ABI's
// methods when it is missing.
func (c *Contract) Method(name string) (abi.Method, error) {
	m, ok := c.ABI.Methods[name]
	if !ok {
		names := make([]string, 0, len(c.ABI.Methods))
		for n := range c.ABI.Methods {
			names = append(names, n)
		}
		return abi.Method{}, fmt.Errorf("%w: no method %q in the ABI (methods: %s)", ErrBadABI, name, strings.Join(names, ", "))
	}
	return m, nil
}

// CallData is the calldata of method with args.
func (c *Contract) CallData(method string, args []string) ([]byte, error) {
	m, err := c.Method(method)
	if err != nil {
		return nil, err
	}
	vals, err := convertArgs(m.Inputs, args, method)
	if err != nil {
		return nil, err
	}
	data, err := c.ABI.Pack(method, vals...)
	if err != nil {
		return nil, fmt.Errorf("%w: %s arguments: %w", ErrBadABI, method, err)
	}
	return data, nil
}

// FormatOutput decodes a method's return data as "name (type) = value"
// lines.
func (c *Contract) FormatOutput(method string, data []byte) ([]string, error) {
	m, err := c.Method(method)
	if err != nil {
		return nil, err
	}
	vals, err := m.Outputs.Unpack(data)
	if err != nil {
		return nil, fmt.Errorf("%w: decode %s output %s: %w", ErrBadABI, method, hexutil.Encode(data), err)
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		name := m.Outputs[i].Name
		if name == "" {
			name = fmt.Sprintf("out%d", i)
		}
		out[i] = fmt.Sprintf("%s (%s) = %s", name, m.Outputs[i].Type.String(), formatValue(v))
	}
	return out, nil
}

func formatValue(v any) string {
	switch x := v.(type) {
	case common.Address:
		return x.Hex()
	case []byte:
		return hexutil.Encode(x)
	case *big.Int:
		return x.String()
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Array && rv.Type().Elem().Kind() == reflect.Uint8 {
		b := make([]byte, rv.Len())
		reflect.Copy(reflect.ValueOf(b), rv)
		return hexutil.Encode(b)
	}
	if data, err := json.Marshal(v); err == nil {
		return string(data)
	}
	return fmt.Sprint(v)
}

// convertArgs turns command-line strings into the Go values the ABI
// packer wants, one per input.
func convertArgs(inputs abi.Arguments, args []string, what string) ([]any, error) {
	if len(args) != len(inputs) {
		sig := make([]string, len(inputs))
		for i, in := range inputs {
			sig[i] = in.Type.String()
		}
		return nil, fmt.Errorf("%w: %s takes %d arguments (%s), got %d", ErrBadABI, what, len(inputs), strings.Join(sig, ", "), len(args))
	}
	out := make([]any, len(args))
	for i, a := range args {
		v, err := convertArg(inputs[i].Type, a)
		if err != nil {
			return nil, fmt.Errorf("%w: %s argument %d (%s %s) %q: %w", ErrBadABI, what, i+1, inputs[i].Type.String(), inputs[i].Name, a, err)
		}
		out[i] = v
	}
	return out, nil
}

func convertArg(t abi.Type, s string) (any, error) {
	var raw any = s
	if t.T == abi.SliceTy || t.T == abi.ArrayTy || t.T == abi.TupleTy {
		if err := json.Unmarshal([]byte(s), &raw); err != nil {
			return nil, fmt.Errorf("want a JSON array: %w", err)
		}
	}
	rv, err := convertValue(t, raw)
	if err != nil {
		return nil, err
	}
	return rv.Interface(), nil
}

// convertValue builds a reflect value of t's Go type from a string or a
// decoded JSON value.
func convertValue(t abi.Type, raw any) (reflect.Value, error) {
	str := func() (string, error) {
		switch x := raw.(type) {
		case string:
			return x, nil
		case float64:
			return new(big.Float).SetFloat64(x).Text('f', 0), nil
		case bool:
			return fmt.Sprint(x), nil
		}
		return "", fmt.Errorf("want a string or number, got %T", raw)
	}
	switch t.T {
	case abi.AddressTy:
		s, err := str()
		if err != nil {
			return reflect.Value{}, err
		}
		a, err := ParseAddress(s)
		if err != nil {
			return reflect.Value{}, err
		}
		return reflect.ValueOf(a), nil
	case abi.BoolTy:
		s, err := str()
		if err != nil {
			return reflect.Value{}, err
		}
		switch strings.ToLower(s) {
		case "true", "1":
			return reflect.ValueOf(true), nil
		case "false", "0":
			return reflect.ValueOf(false), nil
		}
		return reflect.Value{}, errors.New("want true or false")
	case abi.StringTy:
		s, err := str()
		if err != nil {
			return reflect.Value{}, err
		}
		return reflect.ValueOf(s), nil
	case abi.BytesTy:
		s, err := str()
		if err != nil {
			return reflect.Value{}, err
		}
		b, err := hexutil.Decode(ensure0x(s))
		if err != nil {
			return reflect.Value{}, fmt.Errorf("want hex: %w", err)
		}
		return reflect.ValueOf(b), nil
	case abi.FixedBytesTy:
		s, err := str()
		if err != nil {
			return reflect.Value{}, err
		}
		b, err := hexutil.Decode(ensure0x(s))
		if err != nil {
			return reflect.Value{}, fmt.Errorf("want hex: %w", err)
		}
		if len(b) != t.Size {
			return reflect.Value{}, fmt.Errorf("want %d bytes, got %d", t.Size, len(b))
		}
		v := reflect.New(t.GetType()).Elem()
		reflect.Copy(v, reflect.ValueOf(b))
		return v, nil
	case abi.IntTy, abi.UintTy:
		s, err := str()
		if err != nil {
			return reflect.Value{}, err
		}
		n, ok := new(big.Int).SetString(strings.ReplaceAll(s, "_", ""), 0)
		if !ok {
			return reflect.Value{}, errors.New("want an integer (decimal or 0x hex)")
		}
		if t.T == abi.UintTy && n.Sign() < 0 {
			return reflect.Value{}, errors.New("want a non-negative integer")
		}
		bits := t.Size
		if t.T == abi.IntTy {
			bits--
		}
		if n.BitLen() > bits {
			return reflect.Value{}, fmt.Errorf("does not fit %s", t.String())
		}
		goType := t.GetType()
		if goType == reflect.TypeOf((*big.Int)(nil)) {
			return reflect.ValueOf(n), nil
		}
		v := reflect.New(goType).Elem()
		if t.T == abi.UintTy {
			v.SetUint(n.Uint64())
		} else {
			v.SetInt(n.Int64())
		}
		return v, nil
	case abi.SliceTy, abi.ArrayTy:
		list, ok := raw.([]any)
		if !ok {
			return reflect.Value{}, fmt.Errorf("want a list, got %T", raw)
		}
		if t.T == abi.ArrayTy && len(list) != t.Size {
			return reflect.Value{}, fmt.Errorf("want %d elements, got %d", t.Size, len(list))
		}
		var v reflect.Value
		if t.T == abi.SliceTy {
			v = reflect.MakeSlice(t.GetType(), len(list), len(list))
		} else {
			v = reflect.New(t.GetType()).Elem()
		}
		for i, e := range list {
			ev, err := convertValue(*t.Elem, e)
			if err != nil {
				return reflect.Value{}, fmt.Errorf("element %d: %w", i, err)
			}
			v.Index(i).Set(ev)
		}
		return v, nil
	}
	return reflect.Value{}, fmt.Errorf("arguments of type %s are not supported on the command line", t.String())
}
