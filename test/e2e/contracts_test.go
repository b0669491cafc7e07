//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/ethclient/gethclient"
	"github.com/ethereum/go-ethereum/ethdb/memorydb"
	"github.com/ethereum/go-ethereum/rlp"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/ethereum/go-ethereum/trie"
)

type contractsResult struct {
	OK       bool           `json:"ok"`
	Token    common.Address `json:"token"`
	Emitter  common.Address `json:"emitter"`
	Alice    common.Address `json:"alice"`
	Deployer common.Address `json:"deployer"`
	Block    uint64         `json:"block"`
}

func runContracts(t *testing.T, httpURL string) contractsResult {
	t.Helper()
	wsURL := "ws" + strings.TrimPrefix(httpURL, "http")
	out := runNode(t, 4*time.Minute, "contracts.mjs", httpURL, wsURL)
	var res contractsResult
	line := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	if err := json.Unmarshal([]byte(line), &res); err != nil || !res.OK {
		t.Fatalf("contracts script did not report success (%v):\n%s", err, out)
	}
	return res
}

// aliceBalanceSlot is the storage slot of balanceOf[alice] in Token:
// balanceOf is the fifth state variable (slot 4).
func aliceBalanceSlot(alice common.Address) common.Hash {
	return crypto.Keccak256Hash(common.LeftPadBytes(alice.Bytes(), 32), common.LeftPadBytes([]byte{4}, 32))
}

var tokenAmount, _ = new(big.Int).SetString("1234500000000000000000", 10)

// TestContractsWithEthersAndSolc runs the solc + ethers script on a dev
// peer, then verifies an eth_getProof of the token's storage against the
// block's state root.
func TestContractsWithEthersAndSolc(t *testing.T) {
	p := newPeer(t, "--dev")
	p.start()
	res := runContracts(t, p.url())
	rc, err := gethrpc.Dial(p.url())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	ec := ethclient.NewClient(rc)
	header, err := ec.HeaderByNumber(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	slot := aliceBalanceSlot(res.Alice)
	proof, err := gethclient.New(rc).GetProof(context.Background(), res.Token, []string{slot.Hex()}, header.Number)
	if err != nil {
		t.Fatal(err)
	}
	db := memorydb.New()
	for _, n := range proof.AccountProof {
		b := common.FromHex(n)
		if err := db.Put(crypto.Keccak256(b), b); err != nil {
			t.Fatal(err)
		}
	}
	val, err := trie.VerifyProof(header.Root, crypto.Keccak256(res.Token.Bytes()), db)
	if err != nil || val == nil {
		t.Fatalf("account proof of the token does not verify against state root %s: %v", header.Root, err)
	}
	var acc types.StateAccount
	if err := rlp.DecodeBytes(val, &acc); err != nil {
		t.Fatal(err)
	}
	if acc.Root != proof.StorageHash {
		t.Fatalf("proved storage root %s, answer says %s", acc.Root, proof.StorageHash)
	}
	sdb := memorydb.New()
	for _, n := range proof.StorageProof[0].Proof {
		b := common.FromHex(n)
		if err := sdb.Put(crypto.Keccak256(b), b); err != nil {
			t.Fatal(err)
		}
	}
	sval, err := trie.VerifyProof(acc.Root, crypto.Keccak256(slot.Bytes()), sdb)
	if err != nil {
		t.Fatal(err)
	}
	var stored []byte
	if err := rlp.DecodeBytes(sval, &stored); err != nil {
		t.Fatal(err)
	}
	if new(big.Int).SetBytes(stored).Cmp(tokenAmount) != 0 || proof.StorageProof[0].Value.Cmp(tokenAmount) != 0 {
		t.Fatalf("proved balance %x, answered %v, want %v", stored, proof.StorageProof[0].Value, tokenAmount)
	}
	t.Logf("token %s: balance of %s proved against state root %s at block %d", res.Token, res.Alice, header.Root.TerminalString(), header.Number)
}

// TestContractsOnDevnet runs the same script against one peer of a 3-peer
// devnet: the contracts and their state are the same on every peer.
func TestContractsOnDevnet(t *testing.T) {
	// One miner: a second one would reorganise blocks under the script's
	// reads (e.g. a balance read right after a receipt).
	d := startDevnet(t, 3, 1)
	st := d.state()
	res := runContracts(t, st.Peers[2].RPC)
	balanceOf := append(common.FromHex("70a08231"), common.LeftPadBytes(res.Alice.Bytes(), 32)...)
	count := common.FromHex("06661abd")
	var want []byte
	waitUntil(t, 60*time.Second, "the same token and emitter state on every peer", func() bool {
		var codes [][]byte
		for _, p := range st.Peers {
			c := d.client(p.Name)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			code, err1 := c.CodeAt(ctx, res.Token, nil)
			bal, err2 := c.CallContract(ctx, callMsg(res.Token, balanceOf), nil)
			n, err3 := c.CallContract(ctx, callMsg(res.Emitter, count), nil)
			cancel()
			if err1 != nil || err2 != nil || err3 != nil || len(code) == 0 {
				return false
			}
			if new(big.Int).SetBytes(bal).Cmp(tokenAmount) != 0 || new(big.Int).SetBytes(n).Int64() != 2 {
				return false
			}
			codes = append(codes, code)
		}
		want = codes[0]
		for _, c := range codes[1:] {
			if string(c) != string(want) {
				return false
			}
		}
		return true
	})
	t.Logf("token %s and emitter %s answer the same on all three peers", res.Token, res.Emitter)
}

func callMsg(to common.Address, data []byte) ethereum.CallMsg {
	return ethereum.CallMsg{To: &to, Data: data}
}
