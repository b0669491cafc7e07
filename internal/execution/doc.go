// Package execution applies a block's transactions to a state, as Ethereum
// does, using go-ethereum's EVM and state transition (core.ApplyTransaction's
// family) without its proof-of-stake block processor.
//
// A block runs in this order:
//
//  1. the EIP-2935 system call records the parent hash in the block-hash
//     history contract;
//  2. each transaction runs (senders recovered in parallel beforehand); the
//     priority fee goes to the coinbase and the base fee is burned, by the
//     state transition itself;
//  3. the fixed block reward is credited to the coinbase;
//  4. the receipts root, the logs bloom and the state root are computed.
//
// The EVM block context sets Random to the header's mix digest: go-ethereum
// enables Shanghai and later rules only then, so PUSH0, MCOPY, transient
// storage, CLZ and the Osaka precompiles work on PoW headers. Blob
// transactions are refused before they reach the EVM.
//
// Execution is deterministic and does no I/O of its own beyond the state
// reads it makes; it imports params only.
package execution
