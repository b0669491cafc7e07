// Package e2e holds the end-to-end tests of peerchain: real peer processes
// started from the built binary, real clients (ethers and solc from npm,
// go-ethereum's ethclient), crash and restart scenarios. They run with the
// e2e build tag (make e2e); every network address they touch is on
// loopback.
package e2e
