package txpool

import (
	"bufio"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/peerchain/peerchain/internal/chain"
	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/chaindb"
)

// gatedJournal is a journal whose writes wait for a gate when one is set,
// and that records what each write made durable.
type gatedJournal struct {
	inner   Journal
	writing chan int      // receives each write's size as it starts
	gate    chan struct{} // when non-nil, each write waits for a value
	fail    error         // returned by every write when set

	mu      gosync.Mutex
	writes  [][]*types.Transaction
	durable map[common.Hash]bool
}

func (j *gatedJournal) Write(txs []*types.Transaction) error {
	if j.writing != nil {
		j.writing <- len(txs)
	}
	if j.gate != nil {
		<-j.gate
	}
	if j.fail != nil {
		return j.fail
	}
	if err := j.inner.Write(txs); err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.writes = append(j.writes, txs)
	for _, tx := range txs {
		j.durable[tx.Hash()] = true
	}
	return nil
}

func (j *gatedJournal) Delete(h []common.Hash) error        { return j.inner.Delete(h) }
func (j *gatedJournal) Load() ([]*types.Transaction, error) { return j.inner.Load() }

func (j *gatedJournal) isDurable(h common.Hash) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.durable[h]
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (c *committer) queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.open == nil {
		return 0
	}
	return len(c.mu.open.txs)
}

// While one synced write is under way, every caller that arrives joins
// the next group: seven concurrent Adds cost two writes, and none returns
// before its transaction is durable.
func TestGroupCommitSharesOneSync(t *testing.T) {
	e := newEnv(t, Config{})
	j := &gatedJournal{inner: DBJournal{DB: e.db}, writing: make(chan int, 8), gate: make(chan struct{}), durable: map[common.Hash]bool{}}
	p, err := New(Config{Chain: e.chain, Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg   gosync.WaitGroup
		errs = make(chan error, 8)
	)
	add := func(tx *types.Transaction) {
		defer wg.Done()
		if err := p.Add([]*types.Transaction{tx})[0]; err != nil {
			errs <- err
			return
		}
		if !j.isDurable(tx.Hash()) {
			errs <- fmt.Errorf("Add of %s returned before its transaction was written", tx.Hash())
		}
	}
	wg.Add(1)
	go add(e.tx(0, 0, gwei, fee(10)))
	if n := <-j.writing; n != 1 {
		t.Fatalf("first write holds %d transactions, want 1", n)
	}
	for i := 1; i < 7; i++ {
		wg.Add(1)
		go add(e.tx(i, 0, gwei, fee(10)))
	}
	waitFor(t, "six queued records", func() bool { return p.commit.queued() == 6 })
	j.gate <- struct{}{}
	if n := <-j.writing; n != 6 {
		t.Fatalf("second write holds %d transactions, want the 6 that queued meanwhile", n)
	}
	j.gate <- struct{}{}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(j.writes) != 2 {
		t.Fatalf("%d synced writes for 7 transactions, want 2", len(j.writes))
	}
	txs, err := e.db.LoadPoolTxs()
	if err != nil || len(txs) != 7 {
		t.Fatalf("journal holds %d transactions (%v), want 7", len(txs), err)
	}
}

// A failed write fails every transaction of its group, and only those.
func TestGroupCommitFailureReachesEveryWaiter(t *testing.T) {
	e := newEnv(t, Config{})
	broken := errors.New("disk on fire")
	j := &gatedJournal{inner: DBJournal{DB: e.db}, fail: broken, durable: map[common.Hash]bool{}}
	p, err := New(Config{Chain: e.chain, Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	bad := e.tx(2, 0, fee(11), fee(10)) // tip above the fee cap
	txs := []*types.Transaction{e.tx(0, 0, gwei, fee(10)), bad, e.tx(1, 0, gwei, fee(10))}
	errs := p.Add(txs)
	for _, i := range []int{0, 2} {
		if !errors.Is(errs[i], broken) || !strings.Contains(errs[i].Error(), "journal transaction") {
			t.Errorf("tx %d: %v, want the journal's error", i, errs[i])
		}
	}
	if errors.Is(errs[1], broken) || errs[1] == nil {
		t.Errorf("invalid tx: %v, want its own rejection", errs[1])
	}
}

// A record still queued when its transaction leaves the pool is never
// written, and a delete waits for a write under way: the journal does not
// resurrect a displaced transaction.
func TestCommitterDeleteOrdersAfterQueuedWrites(t *testing.T) {
	e := newEnv(t, Config{})
	c := newCommitter(DBJournal{DB: e.db})
	a, b := e.tx(0, 0, gwei, fee(10)), e.tx(1, 0, gwei, fee(10))
	ga := c.queue([]*types.Transaction{a})
	if err := c.delete([]common.Hash{a.Hash()}); err != nil {
		t.Fatal(err)
	}
	gb := c.queue([]*types.Transaction{b})
	if ga != gb {
		t.Fatal("the open group changed without a write")
	}
	if err := c.wait(ga); err != nil {
		t.Fatal(err)
	}
	txs, err := e.db.LoadPoolTxs()
	if err != nil {
		t.Fatal(err)
	}
	if len(txs) != 1 || txs[0].Hash() != b.Hash() {
		t.Fatalf("journal holds %d transactions, want only b", len(txs))
	}
}

// Every acknowledged transaction survives kill -9: a child process admits
// transfers from 10 concurrent senders through the journaled pool and
// prints each hash once Add returned; the parent SIGKILLs it mid-stream,
// reopens its database and finds every printed hash in the journal.
func TestAcknowledgedTransactionsSurviveSIGKILL(t *testing.T) {
	if dir := os.Getenv("TXPOOL_CRASH_CHILD_DIR"); dir != "" {
		crashChild(t, dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestAcknowledgedTransactionsSurviveSIGKILL$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TXPOOL_CRASH_CHILD_DIR="+dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[common.Hash]bool{}
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if h, ok := strings.CutPrefix(line, "ack "); ok {
			acked[common.HexToHash(h)] = true
		}
		if len(acked) == 300 && !killed {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	werr := cmd.Wait()
	if !killed {
		t.Fatalf("the child ended after %d acknowledgements before it was killed: %v\n%s", len(acked), werr, stderr.String())
	}
	db, err := chaindb.Open(dir, chaindb.KVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	txs, err := db.LoadPoolTxs()
	if err != nil {
		t.Fatal(err)
	}
	found := map[common.Hash]bool{}
	for _, tx := range txs {
		found[tx.Hash()] = true
	}
	missing := 0
	for h := range acked {
		if !found[h] {
			missing++
		}
	}
	t.Logf("killed after %d acknowledgements; the journal holds %d transactions", len(acked), len(txs))
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged transactions lost by kill -9", missing, len(acked))
	}
}

// crashChild opens a chain and a journaled pool in dir and admits 100
// transfers from each of 10 senders at once, printing each acknowledged
// hash, then waits to be killed.
func crashChild(t *testing.T, dir string) {
	g, err := chaingen.Genesis(chaingen.GenesisOptions{Accounts: 10})
	if err != nil {
		t.Fatal(err)
	}
	db, err := chaindb.Open(dir, chaindb.KVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := chain.New(chain.Config{Genesis: g, DB: db})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{Chain: c, Journal: DBJournal{DB: db}})
	if err != nil {
		t.Fatal(err)
	}
	signer := types.LatestSignerForChainID(big.NewInt(1337))
	var mu gosync.Mutex
	for s := 0; s < 10; s++ {
		go func() {
			for n := uint64(0); n < 100; n++ {
				tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(1337), Nonce: n, GasTipCap: gwei,
					GasFeeCap: fee(10), Gas: 21000, To: &recipient, Value: big.NewInt(1)}), signer, chaingen.Key(s))
				if err != nil {
					fmt.Fprintln(os.Stderr, "sign:", err)
					return
				}
				if err := p.Add([]*types.Transaction{tx})[0]; err != nil {
					fmt.Fprintln(os.Stderr, "add:", err)
					continue
				}
				mu.Lock()
				fmt.Printf("ack %s\n", tx.Hash().Hex())
				mu.Unlock()
			}
		}()
	}
	<-time.After(time.Minute) // the parent kills it long before
}
