// Package pow is peerchain's proof of work: the seal hash, the PoW check, the
// ASERT difficulty rule and a multi-threaded sealer.
//
//	sealHash = keccak256(RLP(header without nonce and mix digest))
//	powHash  = SHA-256(SHA-256(sealHash ‖ nonce as 8 big-endian bytes))
//	valid   ⇔ powHash as a big-endian integer ≤ 2^256 / difficulty
//
// The difficulty rule is absolutely scheduled ASERT (the aserti3-2d integer
// approximation Bitcoin Cash uses): block 1 anchors the schedule, and every
// later block's difficulty is the genesis difficulty times 2 to the power
// (how far the parent is ahead of its scheduled time) / half-life. Anchoring
// at block 1 rather than genesis lets an embedded genesis with an old
// timestamp start mining at its genesis difficulty instead of at the floor.
//
// Everything here is deterministic and free of I/O except Sealer, which owns
// its worker goroutines for the length of one Seal call. pow imports no
// other peerchain package.
package pow
