// Sends coins between two dev accounts on a running peerchain peer with
// ethers v6 and checks balances, the receipt and the transaction, field by
// field. Usage: node transfer.mjs http://127.0.0.1:8545
import { ethers } from "ethers";
import assert from "node:assert/strict";

const url = process.argv[2];
const mnemonic = "test test test test test test test test test test test junk";
const provider = new ethers.JsonRpcProvider(url, undefined, { pollingInterval: 250 });
const account = (i) => ethers.HDNodeWallet.fromPhrase(mnemonic, undefined, `m/44'/60'/0'/0/${i}`).connect(provider);

const net = await provider.getNetwork();
assert.equal(net.chainId, 1337n, "chain id");

async function transfer(from, to, value, overrides) {
  const [fromBefore, toBefore] = await Promise.all([provider.getBalance(from.address), provider.getBalance(to.address)]);
  const tx = await from.sendTransaction({ to: to.address, value, ...overrides });
  const receipt = await tx.wait(1, 60_000);
  assert.equal(receipt.status, 1, "receipt status");
  assert.equal(receipt.from, from.address, "receipt from");
  assert.equal(receipt.to, to.address, "receipt to");
  assert.equal(receipt.hash, tx.hash, "receipt hash");
  assert.equal(receipt.gasUsed, 21000n, "gas used of a transfer");
  assert.equal(receipt.cumulativeGasUsed >= receipt.gasUsed, true, "cumulative gas");
  assert.equal(receipt.logs.length, 0, "no logs");
  assert.equal(receipt.contractAddress, null, "no contract address");

  const block = await provider.getBlock(receipt.blockNumber);
  assert.equal(block.hash, receipt.blockHash, "block hash of the receipt");
  assert.ok(block.transactions.includes(tx.hash), "block lists the transaction");
  assert.ok(block.difficulty > 0n, "proof-of-work block has a difficulty");
  const price = receipt.gasPrice;
  if (overrides.type === 2) {
    assert.equal(price, block.baseFeePerGas + tx.maxPriorityFeePerGas < tx.maxFeePerGas ? block.baseFeePerGas + tx.maxPriorityFeePerGas : tx.maxFeePerGas, "effective gas price");
  } else {
    assert.equal(price, tx.gasPrice, "legacy gas price");
  }

  const got = await provider.getTransaction(tx.hash);
  assert.equal(got.blockNumber, receipt.blockNumber, "transaction block number");
  assert.equal(got.from, from.address, "transaction from");
  assert.equal(got.value, value, "transaction value");
  assert.equal(got.type, overrides.type, "transaction type");
  assert.equal(got.chainId, 1337n, "transaction chain id");

  // Balances at the receipt's block: exact, whatever was mined after it.
  const [fromAfter, toAfter] = await Promise.all([
    provider.getBalance(from.address, receipt.blockNumber),
    provider.getBalance(to.address, receipt.blockNumber),
  ]);
  assert.equal(toAfter, toBefore + value, "recipient balance");
  assert.equal(fromAfter, fromBefore - value - receipt.gasUsed * price, "sender balance");
  return { hash: tx.hash, block: receipt.blockNumber, gasPrice: price.toString() };
}

const a = account(1), b = account(2);
const results = [];
results.push(await transfer(a, b, ethers.parseEther("1.5"), { type: 2 }));
results.push(await transfer(b, a, ethers.parseEther("0.25"), { type: 0 }));
const nonce = await provider.getTransactionCount(a.address, "latest");
assert.ok(nonce >= 1, "nonce advanced");

// The node's own accounts (--dev unlocks the dev accounts): eth_accounts,
// eth_sendTransaction and personal_sign through ethers' JsonRpcSigner.
const accounts = await provider.send("eth_accounts", []);
assert.equal(accounts.length, 20, "dev accounts unlocked");
assert.equal(ethers.getAddress(accounts[5]), account(5).address, "account order follows the mnemonic");
const signer = await provider.getSigner(5);
const before = await provider.getBalance(account(6).address);
const sent = await signer.sendTransaction({ to: account(6).address, value: ethers.parseEther("0.5") });
const sentRc = await sent.wait(1, 60_000);
assert.equal(sentRc.status, 1, "node-signed transaction succeeded");
assert.equal(await provider.getBalance(account(6).address, sentRc.blockNumber), before + ethers.parseEther("0.5"), "node-signed transfer arrived");
const sig = await signer.signMessage("hello peerchain");
assert.equal(ethers.verifyMessage("hello peerchain", sig), account(5).address, "personal_sign signature recovers the account");
console.log(JSON.stringify({ ok: true, results }));
