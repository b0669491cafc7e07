// Package light is the light peer: it keeps only a verified header chain
// and checks every answer its sources give against it, so that no source
// — a provider's JSON-RPC endpoint or a full peer over P2P — is ever the
// only reason for an answer.
//
// Headers are downloaded with the full peer's headers-first algorithm
// (sync.FindAncestor, ProveWork, StreamHeaders) and verified by every
// header rule (links, fields, difficulty, proof of work, median time); the
// heaviest chain any source shows is followed, so one honest source is
// enough. A source whose headers do not back its claim gets strikes and a
// back-off; one that serves an invalid or malformed chain is dropped for a
// time, with the evidence logged.
//
// It serves the full peer's JSON-RPC (package rpc) through a second
// implementation of the RPC's narrow interfaces: headers from the verified
// header chain, everything they commit to fetched and checked, and
// transactions forwarded to the sources.
//
// light imports chain (the rules), chaindb (the header store), params,
// execution (the local EVM's block context), sync (the download algorithm
// and the P2P protocols), p2p, rpc, and txpool for its event and error
// types; it must not import node or miner.
package light
