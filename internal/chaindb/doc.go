// Package chaindb is peerchain's storage: a Pebble v2 key-value store (KV),
// an ethdb.Database view of it for go-ethereum's triedb (DB), and the key
// schema of the chain data with typed readers and writers.
//
// Layout inside one Pebble store:
//
//	"S" + …                  go-ethereum state: trie nodes (path scheme), flat
//	                         state, contract code, state ids and journal
//	"h" num(8) hash          header RLP
//	"b" num(8) hash          body RLP
//	"r" num(8) hash          receipts in storage form
//	"m" num(8) hash          block meta: total difficulty, schedule anchor
//	"n" num(8)               canonical hash at num
//	"H" hash                 number of a known header
//	"l" txhash               canonical tx location: num(8) index(4)
//	"p" txhash               pool journal: an acknowledged pending tx
//	"o" addr num(8) hash[:8] index(4)  address index: the transaction
//	                         touched addr (flags; creator of a created contract)
//	"O" sender nonce(8) hash[:8]  sender index: num(8) index(4) of the tx
//	"peerchain-addrindex-from" first block number the address index holds
//	"peerchain-head"         hash of the head block
//	"peerchain-chain"        genesis hash and chain id of this data dir
//	"peerchain-history-stale" set when a deep reorg rolled the state history
//	                         back while pathdb's history indexes were off
//
// The state's own history (reverse diffs for deep reorgs) lives in
// go-ethereum's freezer files under <datadir>/ancient.
//
// Every writer returns an error; a value that fails to decode is reported as
// ErrCorruption and a missing one as ErrNotFound, so callers can tell them
// apart with errors.Is. chaindb imports no other peerchain package.
package chaindb
