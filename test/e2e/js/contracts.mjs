// Compiles an ERC-20 and an event/revert contract with solc-js (default
// settings, as a new user compiles), deploys them on a running peerchain
// peer with ethers v6 and checks what a dApp relies on: transfers and
// balances, logs through eth_getLogs, a polling filter and a WebSocket
// subscription, revert reasons and custom errors, gas estimation, fee
// history and receipts field by field.
//
// Usage: node contracts.mjs HTTP_URL WS_URL
// Prints one JSON line with the addresses for the Go side's checks.
import solc from "solc";
import { ethers } from "ethers";
import assert from "node:assert/strict";

const [httpUrl, wsUrl] = process.argv.slice(2);
const mnemonic = "test test test test test test test test test test test junk";
const provider = new ethers.JsonRpcProvider(httpUrl, undefined, { pollingInterval: 250 });
const account = (i) => ethers.HDNodeWallet.fromPhrase(mnemonic, undefined, `m/44'/60'/0'/0/${i}`).connect(provider);
const deployer = account(8), alice = account(9);

const source = `
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

contract Token {
    string public name = "Peer Token";
    string public symbol = "PEER";
    uint8 public decimals = 18;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    constructor(uint256 supply) {
        totalSupply = supply;
        balanceOf[msg.sender] = supply;
        emit Transfer(address(0), msg.sender, supply);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        require(balanceOf[msg.sender] >= value, "Token: insufficient balance");
        balanceOf[msg.sender] -= value;
        balanceOf[to] += value;
        emit Transfer(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        require(allowance[from][msg.sender] >= value, "Token: allowance exceeded");
        require(balanceOf[from] >= value, "Token: insufficient balance");
        allowance[from][msg.sender] -= value;
        balanceOf[from] -= value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
        return true;
    }
}

contract Emitter {
    uint256 public count;
    event Ping(uint256 indexed n, address indexed from, string note);
    error Refused(uint256 code, string why);

    function ping(string calldata note) external {
        count += 1;
        emit Ping(count, msg.sender, note);
    }

    function fail() external pure {
        revert("Emitter: always fails");
    }

    function refuse(uint256 code) external pure {
        revert Refused(code, "refused on purpose");
    }
}
`;

const out = JSON.parse(solc.compile(JSON.stringify({
  language: "Solidity",
  sources: { "Contracts.sol": { content: source } },
  settings: { outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } } },
})));
for (const e of out.errors ?? []) {
  if (e.severity === "error") throw new Error(e.formattedMessage);
}
const artifact = (name) => out.contracts["Contracts.sol"][name];

const supply = ethers.parseUnits("1000000", 18);
const Token = new ethers.ContractFactory(artifact("Token").abi, artifact("Token").evm.bytecode.object, deployer);
const Emitter = new ethers.ContractFactory(artifact("Emitter").abi, artifact("Emitter").evm.bytecode.object, deployer);
const token = await Token.deploy(supply);
await token.waitForDeployment();
const emitter = await Emitter.deploy();
await emitter.waitForDeployment();
const tokenAddr = await token.getAddress(), emitterAddr = await emitter.getAddress();
assert.notEqual(await provider.getCode(tokenAddr), "0x", "token code");
const deployReceipt = await token.deploymentTransaction().wait();
assert.equal(deployReceipt.contractAddress, tokenAddr, "contractAddress of the deployment receipt");
assert.equal(deployReceipt.to, null, "deployment receipt has no to");

// A WebSocket subscription and a polling filter before anything happens.
const ws = new ethers.WebSocketProvider(wsUrl);
const pingTopic = emitter.interface.getEvent("Ping").topicHash;
const wsLogs = [];
await ws.on({ address: emitterAddr, topics: [pingTopic] }, (log) => wsLogs.push(log));
const filterId = await provider.send("eth_newFilter", [{ address: tokenAddr, fromBlock: "latest" }]);

// Token: estimate, send with the estimate, check the receipt field by field.
assert.equal(await token.name(), "Peer Token");
assert.equal(await token.balanceOf(deployer.address), supply, "initial balance");
const amount = ethers.parseUnits("1234.5", 18);
const gas = await token.transfer.estimateGas(alice.address, amount);
assert.ok(gas > 21000n && gas < 100000n, `estimate ${gas}`);
const tx = await token.transfer(alice.address, amount, { gasLimit: gas });
const rc = await tx.wait();
assert.equal(rc.status, 1, "status");
assert.equal(rc.type, 2, "type");
assert.equal(rc.from, deployer.address, "from");
assert.equal(rc.to, tokenAddr, "to");
assert.equal(rc.contractAddress, null, "contractAddress");
assert.ok(rc.gasUsed <= gas && rc.gasUsed > 21000n, `gasUsed ${rc.gasUsed} within the estimate ${gas}`);
assert.ok(rc.cumulativeGasUsed >= rc.gasUsed, "cumulativeGasUsed");
const block = await provider.getBlock(rc.blockHash);
assert.equal(rc.blockNumber, block.number, "blockNumber of the receipt's block");
assert.equal(rc.gasPrice, block.baseFeePerGas + tx.maxPriorityFeePerGas < tx.maxFeePerGas ? block.baseFeePerGas + tx.maxPriorityFeePerGas : tx.maxFeePerGas, "effectiveGasPrice");
assert.notEqual(rc.logsBloom, ethers.ZeroHash.padEnd(514, "0"), "logsBloom set");
assert.equal(rc.logs.length, 1, "one log");
const ev = token.interface.parseLog(rc.logs[0]);
assert.equal(ev.name, "Transfer");
assert.equal(ev.args.from, deployer.address);
assert.equal(ev.args.to, alice.address);
assert.equal(ev.args.value, amount);
assert.equal(rc.logs[0].index, 0, "log index");
assert.equal(rc.logs[0].transactionHash, tx.hash, "log transaction hash");
assert.equal(await token.balanceOf(alice.address), amount, "alice balance");
assert.equal(await token.balanceOf(deployer.address), supply - amount, "deployer balance");

// Emitter: events through eth_getLogs, the filter and the subscription.
const p1 = await (await emitter.ping("hello")).wait();
const p2 = await (await emitter.connect(alice).ping("again")).wait();
// From block 0: on a devnet with two miners a reorg may move a transaction.
const logs = await provider.getLogs({ address: emitterAddr, topics: [pingTopic], fromBlock: 0, toBlock: "latest" });
assert.equal(logs.length, 2, "getLogs count");
const parsed = logs.map((l) => emitter.interface.parseLog(l));
assert.deepEqual(parsed.map((p) => [p.args.n, p.args.from, p.args.note]), [[1n, deployer.address, "hello"], [2n, alice.address, "again"]]);
const byFrom = await provider.getLogs({ address: emitterAddr, topics: [pingTopic, null, ethers.zeroPadValue(alice.address, 32)], fromBlock: 0 });
assert.equal(byFrom.length, 1, "getLogs by the indexed sender");
// Filters and subscriptions report a reorg's dropped logs with removed set
// (as go-ethereum does); what stands is what was added and not removed.
const standing = (ls) => {
  const m = new Map();
  for (const l of ls) {
    const k = `${l.transactionHash}:${l.index ?? l.logIndex}`;
    if (l.removed) m.delete(k); else m.set(k, l);
  }
  return [...m.values()];
};
const changes = standing(await provider.send("eth_getFilterChanges", [filterId]));
assert.equal(changes.length, 1, "filter changes: the token transfer");
assert.equal(token.interface.parseLog(changes[0]).args.value, amount);
for (let i = 0; i < 100 && standing(wsLogs).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
const pings = standing(wsLogs).map((l) => emitter.interface.parseLog(l).args.note).sort();
assert.deepEqual(pings, ["again", "hello"], "WebSocket subscription delivered both pings");
assert.equal(await emitter.count(), 2n);

// Reverts: the reason string and a custom error, from eth_call and eth_estimateGas.
await assert.rejects(emitter.fail.staticCall(), (e) => e.code === "CALL_EXCEPTION" && e.reason === "Emitter: always fails");
await assert.rejects(emitter.fail.estimateGas(), (e) => e.code === "CALL_EXCEPTION" && e.reason === "Emitter: always fails");
await assert.rejects(emitter.refuse.staticCall(7), (e) => e.revert?.name === "Refused" && e.revert.args[0] === 7n && e.revert.args[1] === "refused on purpose");
await assert.rejects(token.connect(alice).transfer.staticCall(deployer.address, supply), (e) => e.reason === "Token: insufficient balance");

// Fee history.
const fh = await provider.send("eth_feeHistory", ["0x4", "latest", [25, 75]]);
assert.equal(fh.baseFeePerGas.length, 5, "baseFeePerGas has the next block too");
assert.equal(fh.gasUsedRatio.length, 4);
assert.equal(fh.reward.length, 4);
for (const r of fh.gasUsedRatio) assert.ok(r >= 0 && r <= 1, `gasUsedRatio ${r}`);
const latest = await provider.getBlock("latest");
assert.equal(BigInt(fh.baseFeePerGas[3]), latest.baseFeePerGas, "base fee of the newest block");
assert.equal(BigInt(fh.oldestBlock), BigInt(latest.number - 3), "oldestBlock");

ws.destroy();
console.log(JSON.stringify({ ok: true, token: tokenAddr, emitter: emitterAddr, alice: alice.address, deployer: deployer.address, block: rc.blockNumber }));
