// Package chain is the block tree of a peer: it validates every block
// fully, keeps the total difficulty of every branch, chooses the heaviest
// chain (first seen wins a tie), reorganises to it at any depth, maintains
// the canonical and transaction indexes, and announces head changes.
//
// Using it:
//
//  1. New opens the chain on a chaindb.DB: a fresh data dir is initialised
//     with the genesis block and state; an existing one is checked to belong
//     to the same genesis, and the head's state is rebuilt by re-running the
//     canonical blocks above the last state that reached disk (after a crash
//     only go-ethereum's in-memory state layers are lost, never blocks).
//  2. InsertBlock validates a block (header rules, PoW, body, then every
//     transaction by executing it on the parent's state) and stores it. A
//     block that makes its branch the heaviest becomes the head; the
//     canonical index, transaction lookups and head pointer change in one
//     synced Pebble batch, together with the pool journal (transactions of
//     dropped blocks are journaled again, included ones leave it), and a
//     HeadEvent lists the blocks added and removed so the pool can
//     re-inject dropped transactions.
//  3. Readers (CurrentBlock, GetHeader, StateAt, …) are safe from any
//     goroutine; the head is read lock-free.
//  4. Close journals the in-memory state layers so the next start needs
//     no re-execution.
//
// State lives in go-ethereum's path-scheme triedb: the last 128 states are
// in memory layers (a reorg within them switches layers), older ones are
// reached by rolling the persisted state back with its history and
// re-executing the new branch (deeper reorgs re-execute).
//
// With Config.ProofWindow, StateAtBlock and TriesAtBlock (eth_getProof,
// eth_call and the account queries at a block) also serve the canonical
// states of the window below the memory layers: pathdb keeps trie node
// history for the window and indexes it and the state history, and its
// historical readers rebuild old trie nodes and values from the persisted
// state and those histories (history.go).
//
// A block that breaks a rule is rejected with a *RuleError naming the rule,
// so the sync layer can tell a misbehaving peer (ban) from a block that is
// merely early or orphaned (keep). chain must not import p2p, sync, rpc,
// miner, txpool or node.
package chain
