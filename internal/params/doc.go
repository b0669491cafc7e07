// Package params holds the consensus parameters of a peerchain network: the
// Ethereum chain configuration (every EVM fork through Osaka active at
// genesis, no merge), the proof-of-work parameters (target block time,
// difficulty half-life, minimum difficulty, block reward), the embedded dev
// genesis and the loader for custom genesis files in go-ethereum's genesis
// JSON format.
//
// A genesis file is go-ethereum's format with one optional addition, a
// "peerchain" object inside "config":
//
//	{
//	  "config": {
//	    "chainId": 1337,
//	    "peerchain": {
//	      "targetBlockTime": 2,
//	      "difficultyHalfLife": 60,
//	      "minimumDifficulty": "0x10000",
//	      "blockReward": "0x1bc16d674ec80000"
//	    }
//	  },
//	  "difficulty": "0x400000",
//	  "gasLimit": "0x1c9c380",
//	  "alloc": { ... }
//	}
//
// Fork fields may be left out (they are filled with 0); a fork set to a
// non-zero block or time, or any fork after Osaka, is rejected, because
// peerchain's rules (PoW headers carrying every post-London field) assume the
// Osaka rule set from block 0.
//
// params is the bottom of the import graph: it must not import any other
// peerchain package.
package params
