package rpc

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
)

// Limits of log queries.
const (
	maxTopics       = 4
	maxSubTopics    = 1000
	maxLogAddresses = 1000
)

// FilterQuery is the filter object of eth_getLogs, eth_newFilter and the
// logs subscription.
type FilterQuery struct {
	BlockHash *common.Hash
	FromBlock *gethrpc.BlockNumber
	ToBlock   *gethrpc.BlockNumber
	Addresses []common.Address
	// Topics[i] lists the accepted values at position i; empty accepts any.
	Topics [][]common.Hash
}

// UnmarshalJSON accepts go-ethereum's filter object: "address" is one
// address or a list, "topics" a list of null, a topic, or a list of topics.
func (q *FilterQuery) UnmarshalJSON(data []byte) error {
	var raw struct {
		BlockHash *common.Hash         `json:"blockHash"`
		FromBlock *gethrpc.BlockNumber `json:"fromBlock"`
		ToBlock   *gethrpc.BlockNumber `json:"toBlock"`
		Address   json.RawMessage      `json:"address"`
		Topics    []json.RawMessage    `json:"topics"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if raw.BlockHash != nil && (raw.FromBlock != nil || raw.ToBlock != nil) {
		return errors.New("cannot specify both BlockHash and FromBlock/ToBlock, choose one or the other")
	}
	*q = FilterQuery{BlockHash: raw.BlockHash, FromBlock: raw.FromBlock, ToBlock: raw.ToBlock}
	if len(raw.Address) > 0 && string(raw.Address) != "null" {
		var one common.Address
		if err := json.Unmarshal(raw.Address, &one); err == nil {
			q.Addresses = []common.Address{one}
		} else {
			var many []common.Address
			if err := json.Unmarshal(raw.Address, &many); err != nil {
				return fmt.Errorf("invalid address in filter: want an address or a list of addresses: %w", err)
			}
			if len(many) > maxLogAddresses {
				return fmt.Errorf("filter has %d addresses, at most %d", len(many), maxLogAddresses)
			}
			q.Addresses = many
		}
	}
	if len(raw.Topics) > maxTopics {
		return fmt.Errorf("filter has %d topic positions, at most %d", len(raw.Topics), maxTopics)
	}
	q.Topics = make([][]common.Hash, len(raw.Topics))
	for i, t := range raw.Topics {
		if len(t) == 0 || string(t) == "null" {
			continue
		}
		var one common.Hash
		if err := json.Unmarshal(t, &one); err == nil {
			q.Topics[i] = []common.Hash{one}
			continue
		}
		var many []*common.Hash
		if err := json.Unmarshal(t, &many); err != nil {
			return fmt.Errorf("invalid topic at position %d: want null, a 32-byte hash or a list of them: %w", i, err)
		}
		if len(many) > maxSubTopics {
			return fmt.Errorf("topic position %d lists %d topics, at most %d", i, len(many), maxSubTopics)
		}
		for _, h := range many {
			if h == nil { // a null inside the list accepts anything
				q.Topics[i] = nil
				break
			}
			q.Topics[i] = append(q.Topics[i], *h)
		}
	}
	return nil
}

// matches reports whether log l passes the address and topic criteria.
func (q *FilterQuery) matches(l *types.Log) bool {
	if len(q.Addresses) > 0 {
		found := false
		for _, a := range q.Addresses {
			if a == l.Address {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if len(q.Topics) > len(l.Topics) {
		return false
	}
	for i, options := range q.Topics {
		if len(options) == 0 {
			continue
		}
		found := false
		for _, t := range options {
			if t == l.Topics[i] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// queryBloom is a query's addresses and topics as bloom bit positions,
// hashed once, so that testing a block's bloom hashes nothing: the events
// loop tests every filter against every new block.
type queryBloom struct {
	addrs  []bloomBits   // any of them; none accepts any
	topics [][]bloomBits // per position, any of them; none accepts any
}

// bloomBits are the three bits a value sets in a bloom (go-ethereum's
// bloomValues).
type bloomBits [3]struct {
	i uint16
	v byte
}

func newBloomBits(data []byte) bloomBits {
	h := crypto.Keccak256(data)
	var b bloomBits
	for k := range b {
		b[k].v = 1 << (h[2*k+1] & 7)
		b[k].i = uint16(types.BloomByteLength - 1 - int(binary.BigEndian.Uint16(h[2*k:])&0x7ff)>>3)
	}
	return b
}

func (b *bloomBits) in(bloom *types.Bloom) bool {
	for _, x := range b {
		if bloom[x.i]&x.v != x.v {
			return false
		}
	}
	return true
}

func (q *FilterQuery) bloom() *queryBloom {
	qb := &queryBloom{}
	for _, a := range q.Addresses {
		qb.addrs = append(qb.addrs, newBloomBits(a[:]))
	}
	for _, options := range q.Topics {
		var bits []bloomBits
		for _, t := range options {
			bits = append(bits, newBloomBits(t[:]))
		}
		qb.topics = append(qb.topics, bits)
	}
	return qb
}

// matches reports whether a block's bloom may hold matching logs.
func (qb *queryBloom) matches(bloom *types.Bloom) bool {
	anyIn := func(options []bloomBits) bool {
		if len(options) == 0 {
			return true
		}
		for i := range options {
			if options[i].in(bloom) {
				return true
			}
		}
		return false
	}
	if !anyIn(qb.addrs) {
		return false
	}
	for _, options := range qb.topics {
		if !anyIn(options) {
			return false
		}
	}
	return true
}

// blockLogs returns the logs of a block that match q (with removed set).
// A block whose header bloom cannot match is provably empty and is not
// read; for any other, all its receipts are (a light peer checks them
// against the header's receipts root, so a withheld log is detected).
func (api *ethAPI) blockLogs(ctx context.Context, h *types.Header, q *FilterQuery, qb *queryBloom, removed bool) ([]*types.Log, error) {
	if !qb.matches(&h.Bloom) {
		return nil, nil
	}
	b, err := api.b.Data.Block(ctx, h)
	if err != nil || b == nil {
		return nil, fmt.Errorf("logs of block %d: %w", h.Number, orMissing(err))
	}
	receipts, err := api.b.Data.Receipts(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("logs of block %d: %w", h.Number, err)
	}
	var out []*types.Log
	for _, r := range receipts {
		for _, l := range r.Logs {
			if q.matches(l) {
				cp := *l
				cp.Removed = removed
				out = append(out, &cp)
			}
		}
	}
	return out, nil
}

// resolveRange turns the query's block tags into numbers.
func (api *ethAPI) resolveRange(q *FilterQuery) (uint64, uint64, error) {
	head := api.b.Chain.CurrentHeader().Number.Uint64()
	resolve := func(n *gethrpc.BlockNumber, def uint64) (uint64, error) {
		if n == nil {
			return def, nil
		}
		switch *n {
		case gethrpc.LatestBlockNumber, gethrpc.PendingBlockNumber:
			return head, nil
		case gethrpc.EarliestBlockNumber:
			return 0, nil
		case gethrpc.SafeBlockNumber, gethrpc.FinalizedBlockNumber:
			return api.headerByNumber(*n).Number.Uint64(), nil
		}
		if *n < 0 {
			return 0, fmt.Errorf("invalid block number %d", *n)
		}
		return uint64(*n), nil
	}
	from, err := resolve(q.FromBlock, head)
	if err != nil {
		return 0, 0, err
	}
	to, err := resolve(q.ToBlock, head)
	if err != nil {
		return 0, 0, err
	}
	if to > head {
		to = head
	}
	if from > to && !(q.FromBlock != nil && uint64(*q.FromBlock) > head) {
		return 0, 0, errors.New("invalid block range params")
	}
	return from, to, nil
}

// GetLogs is eth_getLogs.
func (api *ethAPI) GetLogs(ctx context.Context, q FilterQuery) ([]*types.Log, error) {
	return heavy(ctx, api, "eth_getLogs", func(ctx context.Context) ([]*types.Log, error) {
		return api.getLogs(ctx, &q)
	})
}

// getLogs scans the query's blocks until done or ctx ends.
func (api *ethAPI) getLogs(ctx context.Context, q *FilterQuery) ([]*types.Log, error) {
	qb := q.bloom()
	if q.BlockHash != nil {
		h := api.b.Chain.GetHeaderByHash(*q.BlockHash)
		if h == nil {
			return nil, errors.New("unknown block")
		}
		logs, err := api.blockLogs(ctx, h, q, qb, false)
		if err != nil {
			return nil, err
		}
		return nonNil(logs), nil
	}
	from, to, err := api.resolveRange(q)
	if err != nil {
		return nil, err
	}
	if from > to {
		return []*types.Log{}, nil
	}
	if span := to - from + 1; span > api.cfg.LogRange {
		return nil, fmt.Errorf("block range %d (%d to %d) exceeds the node's limit of %d blocks (--rpc.logrange)", span, from, to, api.cfg.LogRange)
	}
	var out []*types.Log
	for n := from; n <= to; n++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("log query of blocks %d to %d stopped at block %d: %w", from, to, n, err)
		}
		h := api.b.Chain.GetHeaderByNumber(n)
		if h == nil {
			break
		}
		logs, err := api.blockLogs(ctx, h, q, qb, false)
		if err != nil {
			return nil, err
		}
		out = append(out, logs...)
		if len(out) > api.cfg.LogResults {
			return nil, fmt.Errorf("query returned more than %d results; narrow the block range or the filter (--rpc.logresults)", api.cfg.LogResults)
		}
	}
	return nonNil(out), nil
}

func nonNil(l []*types.Log) []*types.Log {
	if l == nil {
		return []*types.Log{}
	}
	return l
}
