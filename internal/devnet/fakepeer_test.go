package devnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
)

// The supervisor's tests run this test binary as their peers: with
// fakePeerEnv set it is a fake `peerchain node` that answers the few RPC
// methods the supervisor calls and writes the peer ids it is told to block
// to <datadir>/blocked.json, so a test can see what each peer was told; or
// a fake `peerchain light` that, asked for a balance, compares its first
// provider's eth_getProof answer with its second's and, when they differ,
// logs the first dropped as a real light peer would.
const (
	fakePeerEnv = "PEERCHAIN_DEVNET_FAKE_PEER"
	// fakeFailEnv names a peer that exits at once, as a bad flag would.
	fakeFailEnv = "PEERCHAIN_DEVNET_FAKE_FAIL"
	fakeChainID = 4242
)

func TestMain(m *testing.M) {
	if os.Getenv(fakePeerEnv) != "" {
		os.Exit(fakePeer(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakePeer runs `node|light --datadir D --rpc ADDR ...` until SIGINT or
// SIGTERM.
func fakePeer(args []string) int {
	var dataDir, rpcAddr string
	var providers, boot []string
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--datadir":
			dataDir = args[i+1]
		case "--rpc":
			rpcAddr = args[i+1]
		case "--providers":
			providers = strings.Split(args[i+1], ",")
		case "--bootnodes":
			for _, a := range strings.Split(args[i+1], ",") {
				boot = append(boot, a[strings.LastIndex(a, "/")+1:])
			}
		}
	}
	if len(args) == 0 || (args[0] != "node" && args[0] != "light") || dataDir == "" || rpcAddr == "" {
		fmt.Fprintf(os.Stderr, "fake peer: want node|light --datadir D --rpc ADDR, got %q\n", args)
		return 2
	}
	if os.Getenv(fakeFailEnv) == filepath.Base(dataDir) {
		fmt.Fprintln(os.Stderr, "fake failure: unknown flag --bogus")
		return 3
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	admin := &fakeAdmin{file: filepath.Join(dataDir, "blocked.json"), shapeFile: filepath.Join(dataDir, "shape.json"), blocked: map[string]bool{}}
	// Like a real peer, it starts unshaped.
	if err := os.WriteFile(admin.shapeFile, []byte("{}"), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := admin.save(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	chain := newFakeEth()
	apis := map[string]any{"eth": chain, "net": fakeNet{}, "admin": admin, "fake": chain,
		"peerchain": &fakePeerchain{admin: admin, boot: boot}}
	if args[0] == "light" { // no admin_, and balances checked
		apis = map[string]any{"eth": &fakeLightEth{fakeEth: chain, providers: providers}, "net": fakeNet{}}
	}
	srv := gethrpc.NewServer()
	for ns, api := range apis {
		if err := srv.RegisterName(ns, api); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	ln, err := net.Listen("tcp", rpcAddr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	hs := &http.Server{Handler: srv}
	go func() { <-ctx.Done(); _ = hs.Close() }()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// fakeBlock is a block of a fake peer's chain: what the supervisor reads.
type fakeBlock struct {
	Number     hexutil.Uint64 `json:"number"`
	Hash       common.Hash    `json:"hash"`
	ParentHash common.Hash    `json:"parentHash"`
}

// fakeEth is the fake peer's chain: block 7 (hash 0xabcdef) until a test
// gives it other blocks (fake_setChain).
type fakeEth struct {
	mu     sync.Mutex
	blocks map[common.Hash]fakeBlock
	head   fakeBlock
}

func newFakeEth() *fakeEth {
	head := fakeBlock{Number: 7, Hash: common.HexToHash("0xabcdef")}
	return &fakeEth{blocks: map[common.Hash]fakeBlock{head.Hash: head}, head: head}
}

func (e *fakeEth) BlockNumber() hexutil.Uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.head.Number
}

func (*fakeEth) ChainId() hexutil.Uint64 { return fakeChainID }

func (e *fakeEth) GetBlockByNumber(tag string, full bool) *fakeBlock {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.head
	return &b
}

func (e *fakeEth) GetBlockByHash(h common.Hash, full bool) *fakeBlock {
	e.mu.Lock()
	defer e.mu.Unlock()
	if b, ok := e.blocks[h]; ok {
		return &b
	}
	return nil
}

// SetChain is fake_setChain: the peer learns blocks, the last its head.
func (e *fakeEth) SetChain(blocks []fakeBlock) (bool, error) {
	if len(blocks) == 0 {
		return false, errors.New("no blocks")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, b := range blocks {
		e.blocks[b.Hash] = b
	}
	e.head = blocks[len(blocks)-1]
	return true, nil
}

// fakePeerchain is peerchain_peers: connected to its bootnodes but those
// it was told to block.
type fakePeerchain struct {
	admin *fakeAdmin
	boot  []string
}

func (p *fakePeerchain) Peers() []map[string]string {
	p.admin.mu.Lock()
	defer p.admin.mu.Unlock()
	out := []map[string]string{}
	for _, id := range p.boot {
		if !p.admin.blocked[id] {
			out = append(out, map[string]string{"id": id})
		}
	}
	return out
}

// fakeProof is the fake full peer's eth_getProof answer.
func fakeProof() map[string]any {
	return map[string]any{"address": common.HexToAddress("0x01"), "accountProof": []hexutil.Bytes{{0xf8, 0x51}, {0xe2, 0x10, 0x20}},
		"balance": "0x7", "storageProof": []any{}}
}

func (*fakeEth) GetProof(addr common.Address, keys []string, block string) map[string]any {
	return fakeProof()
}

// fakeLightEth is the fake light peer's eth_.
type fakeLightEth struct {
	*fakeEth
	providers []string
	mu        sync.Mutex
}

// GetBalance asks the first provider for a proof and checks it against the
// second's; a first provider that differs is logged dropped, as a light
// peer logs it (JSON, "Dropped a source", source and evidence).
func (e *fakeLightEth) GetBalance(ctx context.Context, addr common.Address, block string) (hexutil.Uint64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.providers) < 2 {
		return 7, nil
	}
	var answers [2]json.RawMessage
	for i, url := range e.providers[:2] {
		c, err := gethrpc.DialContext(ctx, url)
		if err != nil {
			return 0, err
		}
		err = c.CallContext(ctx, &answers[i], "eth_getProof", addr, []string{}, block)
		c.Close()
		if err != nil {
			return 0, fmt.Errorf("%s: %w", url, err)
		}
	}
	if string(answers[0]) != string(answers[1]) {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Warn(dropMsg, "source", e.providers[0], "for", "10m",
			"evidence", fmt.Sprintf("%s lied about account %s: proof %s, %s proves %s", e.providers[0], addr, answers[0], e.providers[1], answers[1]))
	}
	return 7, nil
}

type fakeNet struct{}

func (fakeNet) PeerCount() hexutil.Uint64 { return 3 }

// fakeAdmin keeps, like a real peer, its blocked set in memory only; it
// writes the shape it is given (admin_setShape) to shapeFile.
type fakeAdmin struct {
	file      string
	shapeFile string
	mu        sync.Mutex
	blocked   map[string]bool
}

func (a *fakeAdmin) SetShape(args map[string]any) (map[string]any, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	data, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	return map[string]any{"text": "fake"}, os.WriteFile(a.shapeFile, data, 0o600)
}

func (a *fakeAdmin) BlockPeers(ids []string) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range ids {
		a.blocked[id] = true
	}
	return true, a.save()
}

func (a *fakeAdmin) UnblockPeers() (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.blocked = map[string]bool{}
	return true, a.save()
}

func (a *fakeAdmin) save() error {
	ids := make([]string, 0, len(a.blocked))
	for id := range a.blocked {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	data, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	tmp := a.file + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, a.file)
}
