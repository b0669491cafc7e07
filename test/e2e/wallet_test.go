//go:build e2e

package e2e

import (
	"context"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/peerchain/peerchain/internal/params"
)

// TestWalletCLI imports a dev account into a keystore with the CLI and
// sends ether through a running peer, checking the balance moved.
func TestWalletCLI(t *testing.T) {
	p := newPeer(t, "--dev")
	p.start()
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("correct horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ks := filepath.Join(dir, "keys")
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(p.bin, append([]string{"wallet", "--keystore", ks, "--rpc", p.url()}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("wallet %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("import", "--mnemonic", params.DevMnemonic, "--index", "5", "--password-file", pw, "--lightkdf")
	if out := run("list"); !strings.Contains(out, "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc") {
		t.Fatalf("list does not show dev account 5:\n%s", out)
	}
	to := common.HexToAddress("0x000000000000000000000000000000000000bEEF")
	out := run("send", "--from", "0", "--to", to.Hex(), "--value", "1.5", "--password-file", pw)
	t.Log(strings.TrimSpace(out))
	bal, err := p.client().BalanceAt(context.Background(), to, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := new(big.Int).Mul(big.NewInt(15), big.NewInt(1e17)); bal.Cmp(want) != 0 {
		t.Fatalf("recipient balance %v, want %v", bal, want)
	}
	if out := run("balance", to.Hex()); !strings.Contains(out, "1.5 ether") {
		t.Fatalf("balance output:\n%s", out)
	}
}

const walletTokenSource = `// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;
contract Coin {
    mapping(address => uint256) public balanceOf;
    event Sent(address indexed from, address indexed to, uint256 amount);
    constructor(uint256 supply) { balanceOf[msg.sender] = supply; }
    function send(address to, uint256 amount) external {
        require(balanceOf[msg.sender] >= amount, "Coin: not enough");
        balanceOf[msg.sender] -= amount;
        balanceOf[to] += amount;
        emit Sent(msg.sender, to, amount);
    }
}
`

// TestWalletDeployAndCall compiles a contract with solc-js, deploys it with
// `peerchain wallet deploy`, reads it and sends to it with `wallet call`.
func TestWalletDeployAndCall(t *testing.T) {
	p := newPeer(t, "--dev")
	p.start()
	dir := t.TempDir()
	src := filepath.Join(dir, "Coin.sol")
	if err := os.WriteFile(src, []byte(walletTokenSource), 0o600); err != nil {
		t.Fatal(err)
	}
	artifact := filepath.Join(dir, "Coin.json")
	if err := os.WriteFile(artifact, []byte(runNode(t, time.Minute, "compile.mjs", src, "Coin")), 0o600); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ks := filepath.Join(dir, "keys")
	wallet := func(args ...string) (string, error) {
		out, err := exec.Command(p.bin, append([]string{"wallet", "--keystore", ks, "--rpc", p.url()}, args...)...).CombinedOutput()
		return string(out), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := wallet(args...)
		if err != nil {
			t.Fatalf("wallet %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	must("import", "--mnemonic", params.DevMnemonic, "--index", "6", "--password-file", pw, "--lightkdf")
	out := must("deploy", "--from", "0", "--abi", artifact, "--arg", "1000", "--password-file", pw)
	i := strings.Index(out, "Contract:")
	if i < 0 {
		t.Fatalf("deploy printed no contract address:\n%s", out)
	}
	coin := strings.TrimSpace(out[i+len("Contract:"):])
	coin = strings.Fields(coin)[0]
	holder := "0x976EA74026E726554dB657fA54763abd0C3a0aa9" // dev account 6
	if out := must("call", "--to", coin, "--abi", artifact, "--method", "balanceOf", "--arg", holder); !strings.Contains(out, "= 1000") {
		t.Fatalf("balanceOf after deploy:\n%s", out)
	}
	friend := "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955"
	out = must("call", "--to", coin, "--abi", artifact, "--method", "send", "--arg", friend, "--arg", "250", "--from", "0", "--password-file", pw)
	if !strings.Contains(out, "Event:") || !strings.Contains(out, "Sent") {
		t.Fatalf("send printed no Sent event:\n%s", out)
	}
	if out := must("call", "--to", coin, "--abi", artifact, "--method", "balanceOf", "--arg", friend); !strings.Contains(out, "= 250") {
		t.Fatalf("balanceOf of the friend:\n%s", out)
	}
	out, err := wallet("call", "--to", coin, "--abi", artifact, "--method", "send", "--arg", friend, "--arg", "1000000", "--from", "0", "--password-file", pw)
	if err == nil || !strings.Contains(out, "Coin: not enough") {
		t.Fatalf("an overspending send: %v\n%s", err, out)
	}
	out, err = wallet("call", "--to", coin, "--abi", artifact, "--method", "send", "--arg", "not-an-address", "--arg", "1", "--from", "0")
	if err == nil || !strings.Contains(out, "argument 1 (address") {
		t.Fatalf("a bad address argument: %v\n%s", err, out)
	}
}
