//go:build e2e

package e2e

import (
	"context"
	"crypto/ecdsa"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/peerchain/peerchain/internal/params"
	"github.com/peerchain/peerchain/internal/wallet"
)

// acked is the set of transactions the peer acknowledged (its
// eth_sendRawTransaction returned the hash), with the recipient each paid.
type acked struct {
	mu  sync.Mutex
	txs map[common.Hash]common.Address
}

func (a *acked) add(h common.Hash, to common.Address) {
	a.mu.Lock()
	a.txs[h] = to
	a.mu.Unlock()
}

func (a *acked) snapshot() map[common.Hash]common.Address {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[common.Hash]common.Address, len(a.txs))
	for h, to := range a.txs {
		out[h] = to
	}
	return out
}

// sendLoop signs and sends transfers of 1 gwei to fresh addresses from
// keys until ctx ends, tolerating a peer that is down.
func sendLoop(ctx context.Context, url string, keys []*ecdsa.PrivateKey, rng *rand.Rand, out *acked) {
	signer := types.LatestSignerForChainID(big.NewInt(params.DevChainID))
	var c *ethclient.Client
	for i := 0; ctx.Err() == nil; i++ {
		if c == nil {
			var err error
			if c, err = ethclient.Dial(url); err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
		}
		key := keys[i%len(keys)]
		from := crypto.PubkeyToAddress(key.PublicKey)
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		nonce, err := c.PendingNonceAt(rctx, from)
		cancel()
		if err != nil {
			c.Close()
			c = nil
			time.Sleep(100 * time.Millisecond)
			continue
		}
		var to common.Address
		for j := range to {
			to[j] = byte(rng.IntN(256))
		}
		tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{
			ChainID: big.NewInt(params.DevChainID), Nonce: nonce, GasTipCap: big.NewInt(1e9),
			GasFeeCap: big.NewInt(100e9), Gas: 21000, To: &to, Value: big.NewInt(1e9),
		}), signer, key)
		if err != nil {
			return
		}
		rctx, cancel = context.WithTimeout(ctx, 2*time.Second)
		err = c.SendTransaction(rctx, tx)
		cancel()
		if err == nil {
			out.add(tx.Hash(), to)
		}
		time.Sleep(time.Duration(20+rng.IntN(60)) * time.Millisecond)
	}
	if c != nil {
		c.Close()
	}
}

// TestCrashRecovery kills a mining peer that is receiving transactions and
// syncing from another mining peer with SIGKILL at random moments
// (CRASH_KILLS times, default 12; `make crash` runs 100). After every kill
// the stored chain must re-verify from genesis, and after every restart the
// head state must be readable and every acknowledged transaction must be
// mined or pending; at the end both peers agree and every acknowledged
// transaction is mined, exactly once.
func TestCrashRecovery(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	kills := 12
	if s := os.Getenv("CRASH_KILLS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("CRASH_KILLS=%q: want a positive number", s)
		}
		kills = n
	}
	t.Logf("seed %d (set CRASH_SEED to replay), %d kills", seed, kills)
	rng := rand.New(rand.NewPCG(seed, 1))

	// The partner mines all along; the victim syncs from it after every
	// restart, mines too, and takes the transactions.
	partner := newDevP2PPeer(t)
	partner.start()
	p := newDevP2PPeer(t, "--bootnodes", partner.p2pAddr)
	var keys []*ecdsa.PrivateKey
	for i := 3; i < 7; i++ {
		k, err := wallet.DevKey(params.DevMnemonic, i)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	sent := &acked{txs: make(map[common.Hash]common.Address)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sendLoop(ctx, p.url(), keys, rand.New(rand.NewPCG(seed, 2)), sent)
	}()
	defer func() { cancel(); wg.Wait() }()

	start := time.Now()
	synced := 0
	for round := 0; round < kills; round++ {
		p.start()
		c := p.client()
		checkRestart(t, c, sent.snapshot(), round)
		before, _ := headOf(t, c)
		time.Sleep(time.Duration(300+rng.IntN(2200)) * time.Millisecond)
		if after, _ := headOf(t, c); after > before {
			synced++
		}
		p.kill()
		verify(t, p.peer)
		c.Close()
	}
	// Last start: every acknowledged transaction gets mined, once, and the
	// two peers agree.
	p.start()
	c := p.client()
	all := sent.snapshot()
	cancel()
	wg.Wait()
	if len(all) < kills {
		t.Fatalf("only %d transactions acknowledged across %d runs: the sender did not get through", len(all), kills)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for h, to := range all {
		for {
			r, err := c.TransactionReceipt(context.Background(), h)
			if err == nil {
				if r.Status != types.ReceiptStatusSuccessful {
					t.Fatalf("transaction %s failed", h)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("acknowledged transaction %s never mined (%v)", h, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		bal, err := c.BalanceAt(context.Background(), to, nil)
		if err != nil {
			t.Fatal(err)
		}
		if bal.Cmp(big.NewInt(1e9)) != 0 {
			t.Fatalf("recipient %s of %s has %v wei, want exactly 1 gwei (lost or applied twice)", to, h, bal)
		}
	}
	cp := partner.client()
	for {
		n, hash := headOf(t, cp)
		if hc, err := c.HeaderByNumber(context.Background(), new(big.Int).SetUint64(n)); err == nil && hc.Hash() == hash {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the peers do not agree: the partner's block %d (%s) is not the victim's", n, hash)
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.stop()
	verify(t, p.peer)
	partner.stop()
	verify(t, partner.peer)
	t.Logf("%d kills in %v (the victim's head moved during %d of its runs), %d acknowledged transactions all mined once, both peers agree and re-verify",
		kills, time.Since(start).Round(time.Second), synced, len(all))
}

// newDevP2PPeer is a --dev peer (it mines) with a known identity and P2P
// port on loopback.
func newDevP2PPeer(t *testing.T, extra ...string) *p2pPeer {
	t.Helper()
	return newKeyedPeer(t, append([]string{"--dev", "--p2p.nodht"}, extra...)...)
}

// checkRestart checks a restarted peer: the head state reads, and every
// acknowledged transaction is mined or pending.
func checkRestart(t *testing.T, c *ethclient.Client, all map[common.Hash]common.Address, round int) {
	t.Helper()
	ctx := context.Background()
	head, err := c.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatalf("round %d: head: %v", round, err)
	}
	if _, err := c.BalanceAt(ctx, common.HexToAddress("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"), head.Number); err != nil {
		t.Fatalf("round %d: head state at %d unreadable: %v", round, head.Number, err)
	}
	for h := range all {
		if _, err := c.TransactionReceipt(ctx, h); err == nil {
			continue
		}
		// Found pending, or mined between the two look-ups (the peer
		// mines right after it starts): either way it is not lost.
		if _, _, err := c.TransactionByHash(ctx, h); err != nil {
			t.Fatalf("round %d: acknowledged transaction %s is neither mined nor pending after restart (err %v)", round, h, err)
		}
	}
	t.Logf("round %d: head %d, %d acknowledged transactions all present", round, head.Number, len(all))
}

// verify re-verifies the stopped peer's chain from genesis.
func verify(t *testing.T, p *peer) {
	t.Helper()
	out, err := exec.Command(p.bin, "verify", "--datadir", p.datadir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "verified") {
		t.Fatalf("chain does not re-verify from genesis: %v\n%s", err, out)
	}
}
