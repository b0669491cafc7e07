//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rlp"
	lpeer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/p2p"
)

// testChain writes a genesis file and an RLP file of n blocks with
// transactions on it, built offline with cheap proof of work.
func testChain(t *testing.T, n int) (genesisFile, chainFile string) {
	t.Helper()
	g, err := chaingen.Genesis(chaingen.GenesisOptions{Accounts: 8})
	if err != nil {
		t.Fatal(err)
	}
	gen, err := chaingen.New(g)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := gen.Chain(gen.Genesis(), n, func(b *chaingen.BlockGen) {
		b.Transfer(b.Index()%8, common.BigToAddress(big.NewInt(int64(0x10000+b.Index()))), big.NewInt(1))
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	genesisFile, chainFile = filepath.Join(dir, "genesis.json"), filepath.Join(dir, "chain.rlp")
	data, err := g.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(genesisFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(chainFile)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for _, b := range blocks {
		if err := rlp.Encode(w, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return genesisFile, chainFile
}

// p2pPeer is a peer with a known identity and P2P port on loopback.
type p2pPeer struct {
	*peer
	p2pAddr string
}

func newP2PPeer(t *testing.T, genesis string, extra ...string) *p2pPeer {
	t.Helper()
	return newKeyedPeer(t, append([]string{"--genesis", genesis}, extra...)...)
}

// newKeyedPeer is a peer whose key is made up front (so its multiaddr is
// known before it starts), listening for P2P on a free loopback port.
func newKeyedPeer(t *testing.T, args ...string) *p2pPeer {
	t.Helper()
	listen := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freePort(t))
	p := newPeer(t)
	key, err := p2p.LoadOrCreateKey(filepath.Join(p.datadir, "p2p", "key"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := lpeer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p.args = append([]string{"--p2p", listen}, args...)
	return &p2pPeer{peer: p, p2pAddr: listen + "/p2p/" + id.String()}
}

func importChain(t *testing.T, p *p2pPeer, genesis, file string) {
	t.Helper()
	out, err := exec.Command(p.bin, "import", "--genesis", genesis, "--datadir", p.datadir, file).CombinedOutput()
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
}

func headOf(t *testing.T, c *ethclient.Client) (uint64, common.Hash) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h, err := c.HeaderByNumber(ctx, nil)
	if err != nil {
		return 0, common.Hash{}
	}
	return h.Number.Uint64(), h.Hash()
}

// TestLateJoinerKilledMidSync: a new peer syncs a 2,000-block chain with
// transactions from two peers, is killed with SIGKILL in the middle of the
// sync, re-verifies, restarts, completes and then follows the head a miner
// extends.
func TestLateJoinerKilledMidSync(t *testing.T) {
	const length = 2000
	genesis, chainFile := testChain(t, length)
	a := newP2PPeer(t, genesis, "--mine", "--miner.coinbase", "0x000000000000000000000000000000000000c0de")
	b := newP2PPeer(t, genesis)
	importChain(t, a, genesis, chainFile)
	importChain(t, b, genesis, chainFile)
	b.args = append(b.args, "--bootnodes", a.p2pAddr)
	a.start()
	b.start()
	ca, cb := a.client(), b.client()

	late := newP2PPeer(t, genesis, "--bootnodes", a.p2pAddr+","+b.p2pAddr)
	late.start()
	cl := late.client()
	deadline := time.Now().Add(2 * time.Minute)
	sawProgress := false
	for {
		n, _ := headOf(t, cl)
		if !sawProgress {
			if p, err := cl.SyncProgress(context.Background()); err == nil && p != nil && p.HighestBlock >= length && p.CurrentBlock > 0 {
				sawProgress = true
				t.Logf("eth_syncing: current %d, highest %d", p.CurrentBlock, p.HighestBlock)
			}
		}
		if n >= 300 && n <= length-300 && sawProgress {
			t.Logf("killing the late joiner mid-sync at block %d", n)
			break
		}
		if n > length-300 || time.Now().After(deadline) {
			t.Fatalf("late joiner at %d: missed the mid-sync window", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	late.kill()
	if out, err := exec.Command(late.bin, "verify", "--genesis", genesis, "--datadir", late.datadir).CombinedOutput(); err != nil {
		t.Fatalf("chain of the killed peer does not verify: %v\n%s", err, out)
	} else {
		t.Log(strings.TrimSpace(string(out)))
	}
	late.start()
	cl = late.client()
	waitAgree := func(what string) uint64 {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			na, ha := headOf(t, ca)
			nl, hl := headOf(t, cl)
			if na >= length && ha == hl {
				return na
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: miner at %d, late joiner at %d", what, na, nl)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	at := waitAgree("sync after restart")
	t.Logf("late joiner agrees with the miner at block %d", at)
	// It follows the head as the miner extends it.
	deadline = time.Now().Add(time.Minute)
	for {
		if n, _ := headOf(t, ca); n >= at+3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the miner did not extend the chain")
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitAgree("following the head")
	if n, _ := headOf(t, cb); n < length {
		t.Fatalf("second source peer at %d", n)
	}
}
