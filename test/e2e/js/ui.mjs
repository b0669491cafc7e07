// Drives the peer's web UI in headless Chromium (Debian's, through
// playwright-core) against a running devnet: a wallet created in the
// browser receives coins from a dev account and sends some on; the
// transaction is seen mined in another peer's UI; a contract compiled with
// solc is deployed from its artifact and called through its forms, with a
// revert string and a custom error decoded. Every page is screenshot at
// desktop and phone widths and checked with axe-core; any console error
// fails the run. Prints one JSON line with what it saw.
// Usage: node ui.mjs PEER0_URL PEER1_URL SCREENSHOT_DIR
import { chromium } from "playwright-core";
import solc from "solc";
import { Wallet } from "ethers";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const [peer0, peer1, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const require = createRequire(import.meta.url);
const axePath = require.resolve("axe-core/axe.min.js");
const DEV0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const T = 90_000; // a step's deadline: mining on a shared 2-core machine

const SOURCE = `// SPDX-License-Identifier: MIT
pragma solidity ^0.8.0;
contract Box {
    uint256 public value;
    error TooBig(uint256 given, uint256 limit);
    event Stored(address indexed who, uint256 value);
    function store(uint256 v) external {
        if (v > 100) revert TooBig(v, 100);
        value = v;
        emit Stored(msg.sender, v);
    }
    function setPositive(uint256 v) external {
        require(v > 0, "must be positive");
        value = v;
    }
}
`;
const compiled = solc.compile(JSON.stringify({
  language: "Solidity",
  sources: { "Box.sol": { content: SOURCE } },
  settings: { outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } } },
}));
if (JSON.parse(compiled).errors?.some((e) => e.severity === "error")) throw new Error(compiled);

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const problems = [];
const seen = {};
const log = (...a) => console.error(new Date().toISOString().slice(11, 19), ...a);

async function newPage(viewport = { width: 1280, height: 800 }) {
  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error on ${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error on ${page.url()}: ${e.message}`));
  page.setDefaultTimeout(T);
  return page;
}

const el = (page, test) => page.locator(`[data-test="${test}"]`);

try {
  const page = await newPage();
  await page.goto(peer0 + "/#/");
  await el(page, "block-row").first().waitFor();
  await page.locator('[data-test="chain-id"]', { hasText: "chain 1337" }).waitFor();

  // A wallet made in the browser.
  await page.goto(peer0 + "/#/wallet");
  await el(page, "dev-note").waitFor();
  await el(page, "key-mode-new").click();
  await el(page, "key-label").fill("alice");
  await el(page, "key-password").fill("correct horse battery");
  await el(page, "wallet-create").click();
  await page.locator('[data-test="wallet-msg"]', { hasText: "New key created" }).waitFor();
  const alice = await el(page, "account-local").getAttribute("data-address");
  seen.alice = alice;
  log("wallet created", alice);
  // The key is stored encrypted, never in the clear.
  const stored = await page.evaluate(() => localStorage.getItem("peerchain.vault.v1"));
  if (!stored || /"privateKey"|0x[0-9a-f]{64}/i.test(stored)) problems.push(`vault stored in the clear: ${stored?.slice(0, 200)}`);

  // Coins from the dev account, sent through the UI.
  async function sendFrom(address, to, amount) {
    await page.locator(`[data-test^="account-"][data-address="${address}"] [data-test="account-radio"]`).check();
    await page.locator('[data-test="send-from"]', { hasText: address }).waitFor();
    await el(page, "send-to").fill(to);
    await el(page, "send-amount").fill(amount);
    await el(page, "fee-fast").click();
    await el(page, "send-submit").click();
    const status = page.locator('[data-test="send-status"][data-state="mined"], [data-test="send-status"][data-state="failed"], [data-test="send-status"][data-state="error"]');
    await status.waitFor();
    const state = await status.getAttribute("data-state");
    if (state !== "mined") throw new Error(`send ${amount} from ${address} to ${to}: ${state}: ${await status.textContent()}`);
    return status.getAttribute("data-hash");
  }
  seen.fund = await sendFrom(DEV0, alice, "5");
  log("funded alice", seen.fund);
  await page.locator(`[data-test="account-local"] [data-test="account-balance"]`, { hasText: "5 ETH" }).waitFor();

  // Alice sends some on.
  const bob = Wallet.createRandom().address;
  seen.bob = bob;
  seen.send = await sendFrom(alice, bob, "1.25");
  log("alice sent to bob", seen.send);

  // Another peer's UI shows it mined.
  const other = await newPage();
  await other.goto(`${peer1}/#/tx/${seen.send}`);
  await other.locator('[data-test="tx-status"][data-status="success"]').waitFor();
  await other.locator('[data-test="tx-value"]', { hasText: "1.25 ETH" }).waitFor();
  seen.peer1Block = await el(other, "tx-block").textContent();
  log("peer1 shows the transaction mined in", seen.peer1Block);
  await other.context().close();

  // A contract from solc's standard-JSON output, deployed and called.
  await page.goto(peer0 + "/#/contracts");
  await el(page, "artifact-input").fill(compiled);
  await el(page, "deploy-submit").click();
  await page.waitForURL(/#\/contracts\/0x[0-9a-fA-F]{40}$/);
  seen.box = page.url().split("/").pop();
  log("Box deployed at", seen.box);

  async function fn(name, args, wantOk, wantText) {
    const form = el(page, `fn-${name}`);
    for (let i = 0; i < args.length; i++) await el(form, `fn-${name}-arg-${i}`).fill(String(args[i]));
    await el(form, `fn-${name}-submit`).click();
    const res = form.locator(`[data-test="fn-${name}-result"][data-ok="${wantOk}"]`);
    await form.locator(`[data-test="fn-${name}-result"]:not([data-ok="null"])`).waitFor();
    if (!(await res.count())) throw new Error(`${name}(${args}): ${await el(form, `fn-${name}-result`).textContent()}`);
    const text = await res.textContent();
    if (!text.includes(wantText)) throw new Error(`${name}(${args}): ${text}, want ${wantText}`);
    return text;
  }
  const stored42 = await fn("store", [42], true, "Mined in block");
  seen.storeTx = stored42.match(/0x[0-9a-f]{64}/)[0];
  seen.value = await fn("value", [], true, "42");
  seen.customError = await fn("store", [1000], false, "TooBig(1000, 100)");
  seen.revertString = await fn("setPositive", [0], false, "must be positive");
  log("contract calls", seen.value, "|", seen.customError, "|", seen.revertString);

  // The store transaction's log decoded with the deployed ABI.
  await page.goto(`${peer0}/#/tx/${seen.storeTx}`);
  await page.locator('[data-test="tx-logs"]', { hasText: "Stored(" }).waitFor();

  // Every page at desktop and phone widths: screenshot, axe-core, no console errors.
  const routes = [
    ["home", "/#/", "block-row"],
    ["wallet", "/#/wallet", "account-local"],
    ["contracts", "/#/contracts", "known-contracts"],
    ["contract", `/#/contracts/${seen.box}`, "read-functions"],
    ["block", "/#/block/1", "block-fields"],
    ["tx", `/#/tx/${seen.storeTx}`, "tx-status"],
    ["address", `/#/address/${alice}`, "address-balance"],
    ["charts", "/#/charts", "chart-blocktime"],
    ["network", "/#/network", "page-network"],
    ["node", "/#/node", "page-node"],
  ];
  const state = await page.context().storageState();
  const files = [];
  for (const [w, h, tag] of [[1280, 800, "desktop"], [390, 844, "phone"]]) {
    // bypassCSP: the page allows only its own scripts; axe-core is injected by the test.
    const ctx = await browser.newContext({ viewport: { width: w, height: h }, storageState: state, bypassCSP: true });
    const p = await ctx.newPage();
    p.on("console", (m) => m.type() === "error" && problems.push(`console error on ${p.url()}: ${m.text()}`));
    p.on("pageerror", (e) => problems.push(`page error on ${p.url()}: ${e.message}`));
    p.setDefaultTimeout(T);
    for (const [name, route, ready] of routes) {
      await p.goto(peer0 + route);
      await el(p, ready).first().waitFor();
      await p.evaluate(() => document.fonts.ready);
      const file = join(shots, `${name}-${tag}.png`);
      await p.screenshot({ path: file, fullPage: true });
      files.push(file);
      if (!(await p.evaluate(() => typeof window.axe === "object"))) await p.addScriptTag({ path: axePath });
      const res = await p.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
      for (const v of res.violations) {
        if (v.impact === "serious" || v.impact === "critical") {
          problems.push(`axe ${v.impact} on ${name} (${tag}): ${v.id}: ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join("; ")}`);
        }
      }
      const wide = await p.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
      if (wide) problems.push(`${name} (${tag}) scrolls sideways: the layout is wider than ${w}px`);
    }
    await ctx.close();
  }
  seen.screenshots = files.length;
} catch (e) {
  problems.push(`step failed: ${e.stack ?? e}`);
  for (const ctx of browser.contexts()) {
    for (const p of ctx.pages()) {
      const file = join(shots, `failure-${Date.now()}.png`);
      await p.screenshot({ path: file, fullPage: true }).catch(() => {});
      const text = await p.locator("main").innerText().catch(() => "");
      problems.push(`page ${p.url()} at failure (${file}):\n${text.slice(0, 3000)}`);
    }
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify({ ...seen, problems }));
process.exit(problems.length ? 1 : 0);
