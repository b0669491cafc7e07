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
// light imports chain (the rules), chaindb (the header store), params,
// sync (the download algorithm and the P2P protocols) and p2p; it must not
// import node, miner or txpool.
package light
