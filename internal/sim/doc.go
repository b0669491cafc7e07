// Package sim runs peerchain's real peer-to-peer and sync code — p2p.Host
// (gossipsub, validators, request/response streams, bans) and sync.Syncer
// (handshake, block relay policy, headers-first sync) — on hundreds to
// thousands of simulated peers in one process, in virtual time.
//
// Each simulated peer is a real p2p.Host built by p2p.New with the
// simulated network as its transport (QUIC over go-libp2p's simnet:
// per-peer up and down bandwidth, per-packet latency from a matrix of
// published inter-region round trips, queues), a real sync.Syncer, and an
// in-memory Chain and Pool of this package. The whole run happens inside a
// testing/synctest bubble, so an hour of network time takes as long as the
// CPU needs to move its packets. CPU work is free in virtual time, so the
// Chain charges each peer the time its real work takes (header checks,
// body checks and import per transaction, figures from bench/README.md) as
// virtual sleeps; proof of work and every header rule are checked for real
// (chain.Validator), at a tiny difficulty.
//
// Use:
//
//  1. Describe a run with a Scenario (peers, miners, block time and size,
//     bandwidth, loss, partition, peers going offline, pools full or
//     empty, one seed for everything random).
//  2. Prepare a Fixture outside the bubble (genesis, pre-signed
//     transactions): NewFixture.
//  3. Inside synctest.Test, call Run: it builds the network, mines
//     Scenario.Blocks blocks, waits until every online peer agrees, and
//     returns a Result (when each peer first imported each block, bytes
//     sent, stale blocks).
//  4. Summarise with Result.Summary; WriteReport writes the markdown
//     tables and the SVG plots.
//
// sim is test and benchmark support: only tests import it. It imports
// p2p, sync, chain, execution, pow and params, and nothing above them.
package sim
