package node

import (
	"context"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/rpc"
)

// runNode starts a node and returns a client and a stop function that
// waits for a clean shutdown.
func runNode(t *testing.T, cfg Config) (*ethclient.Client, func()) {
	t.Helper()
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx, ready) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("node stopped at start: %v", err)
	}
	c, err := ethclient.Dial("http://" + n.RPCAddr())
	if err != nil {
		t.Fatal(err)
	}
	return c, func() {
		c.Close()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("node run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("node did not stop within 20s")
		}
	}
}

func TestNodeMinesAndRestarts(t *testing.T) {
	g, err := chaingen.Genesis(chaingen.GenesisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	coinbase := common.HexToAddress("0xc0ffee0000000000000000000000000000000002")
	cfg := Config{DataDir: dir, Genesis: g, Mine: true, RPC: rpc.Config{Addr: "127.0.0.1:0"}, P2P: testP2P}
	cfg.Miner.Coinbase = coinbase
	c, stop := runNode(t, cfg)
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	var height uint64
	for height < 3 {
		if time.Now().After(deadline) {
			t.Fatal("no 3 blocks within 20s")
		}
		height, _ = c.BlockNumber(ctx)
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	// Restart without mining: the chain is where it was.
	cfg.Mine = false
	c, stop = runNode(t, cfg)
	defer stop()
	h, err := c.BlockNumber(ctx)
	if err != nil || h < height {
		t.Fatalf("after restart at %d, want ≥ %d (%v)", h, height, err)
	}
	bal, err := c.BalanceAt(ctx, coinbase, nil)
	if err != nil || bal.Cmp(new(big.Int).Mul(big.NewInt(int64(h)), big.NewInt(2e18))) != 0 {
		t.Fatalf("coinbase balance %v after %d empty blocks (%v)", bal, h, err)
	}
}

func TestDataDirOfAnotherChain(t *testing.T) {
	dir := t.TempDir()
	_, stop := runNode(t, Config{DataDir: dir, RPC: rpc.Config{Addr: "127.0.0.1:0"}, P2P: testP2P})
	stop()
	g, err := chaingen.Genesis(chaingen.GenesisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(Config{DataDir: dir, Genesis: g, RPC: rpc.Config{Addr: "127.0.0.1:0"}, P2P: testP2P})
	if err == nil || !strings.Contains(err.Error(), "data dir holds chain id 1337 with genesis") {
		t.Fatalf("opening a dev data dir with another genesis: %v", err)
	}
}

func TestDataDirInUse(t *testing.T) {
	dir := t.TempDir()
	_, stop := runNode(t, Config{DataDir: dir, RPC: rpc.Config{Addr: "127.0.0.1:0"}, P2P: testP2P})
	defer stop()
	_, err := New(Config{DataDir: dir, RPCDisabled: true, P2P: testP2P})
	if err == nil || !strings.Contains(err.Error(), "in use by another peerchain process") {
		t.Fatalf("second node on the same data dir: %v", err)
	}
}

var testP2P = P2PConfig{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoDHT: true}
