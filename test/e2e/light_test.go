//go:build e2e

package e2e

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// newLightPeer is a `peerchain light` process asking the given sources.
func newLightPeer(t *testing.T, args ...string) *peer {
	t.Helper()
	p := newPeer(t, args...)
	p.command = "light"
	return p
}

// TestLightPassesTheContractsScript: a light peer pointed at a mining dev
// peer (as a provider URL and over P2P) passes the same ethers + solc
// script as a full peer — deploy, transfer, calls, estimates, reverts,
// events through eth_getLogs, a filter and a subscription, receipts, fee
// history — answering only what it checked against its headers.
func TestLightPassesTheContractsScript(t *testing.T) {
	full := newDevP2PPeer(t)
	full.start()
	light := newLightPeer(t, "--providers", full.url(), "--bootnodes", full.p2pAddr, "--p2p.nodht", "--p2p", "/ip4/127.0.0.1/tcp/0")
	light.start()
	lc, fc := light.client(), full.client()
	waitUntil(t, 60*time.Second, "the light peer to follow the full peer's head", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		ln, err1 := lc.BlockNumber(ctx)
		fn, err2 := fc.BlockNumber(ctx)
		return err1 == nil && err2 == nil && ln >= 2 && ln+2 >= fn
	})
	res := runContracts(t, light.url())
	// What the light peer proved agrees with the full peer.
	ctx := context.Background()
	balanceOf := append(common.FromHex("70a08231"), common.LeftPadBytes(res.Alice.Bytes(), 32)...)
	for _, c := range []struct {
		name string
		fn   func() ([]byte, error)
	}{
		{"token balance", func() ([]byte, error) {
			return lc.CallContract(ctx, callMsg(res.Token, balanceOf), big.NewInt(int64(res.Block)))
		}},
		{"token code", func() ([]byte, error) { return lc.CodeAt(ctx, res.Token, big.NewInt(int64(res.Block))) }},
	} {
		got, err := c.fn()
		if err != nil {
			t.Fatalf("%s through the light peer: %v", c.name, err)
		}
		if len(got) == 0 {
			t.Fatalf("%s through the light peer is empty", c.name)
		}
	}
	t.Logf("the contracts script passed through the light peer: token %s, emitter %s", res.Token, res.Emitter)
}
