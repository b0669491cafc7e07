// Drives the devnet page in headless Chromium (Debian's, through
// playwright-core) against a running 3-peer devnet whose peers all mine:
// kill peer2 with its button and see it marked down within 2 s; restart it
// and see it back at the others' head; partition {peer0, peer1} | {peer2}
// and see the fork drawn as two branches; heal and see the reorg with its
// depth. Screenshots at 1280 and 390 wide, axe-core (no serious or
// critical findings) and no console errors. Prints one JSON line.
// Usage: node devnet_ui.mjs PAGE_URL SCREENSHOT_DIR
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const [pageURL, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const require = createRequire(import.meta.url);
const axePath = require.resolve("axe-core/axe.min.js");
const T = 120_000; // mining on a shared 2-core machine

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const problems = [];
const seen = { screenshots: [] };
const log = (...a) => console.error(new Date().toISOString().slice(11, 19), ...a);

async function open(width, height) {
  // bypassCSP only so that axe-core can be injected; the page itself runs
  // under the bundle's CSP.
  const ctx = await browser.newContext({ viewport: { width, height }, bypassCSP: true });
  const p = await ctx.newPage();
  p.on("console", (m) => m.type() === "error" && problems.push(`console error (${width}px): ${m.text()}`));
  p.on("pageerror", (e) => problems.push(`page error (${width}px): ${e.message}`));
  p.setDefaultTimeout(T);
  await p.goto(pageURL);
  await p.locator('[data-test="conn"].live').waitFor();
  return p;
}

const el = (p, test) => p.locator(`[data-test="${test}"]`);
const head = async (p, name) => ({
  number: Number(await el(p, `head-${name}`).getAttribute("data-number")),
  hash: await el(p, `head-${name}`).getAttribute("data-hash"),
});

// check screenshots p, runs axe-core on it and checks it fits its width.
async function check(p, name) {
  const w = p.viewportSize().width;
  const file = join(shots, `devnet-${name}-${w}.png`);
  await p.screenshot({ path: file, fullPage: true });
  seen.screenshots.push(file);
  await p.addScriptTag({ path: axePath });
  const res = await p.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  for (const v of res.violations) {
    if (v.impact === "serious" || v.impact === "critical") {
      problems.push(`axe ${v.impact} on ${name} (${w}px): ${v.id}: ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join("; ")}`);
    }
  }
  if (await p.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1)) {
    problems.push(`${name} (${w}px) scrolls sideways`);
  }
}

try {
  const p = await open(1280, 900);
  const phone = await open(390, 844);
  // Every peer up with a head past genesis.
  await p.waitForFunction(() => ["peer0", "peer1", "peer2"].every((n) =>
    document.querySelector(`[data-test="state-${n}"]`)?.textContent === "up" &&
    Number(document.querySelector(`[data-test="head-${n}"]`)?.getAttribute("data-number")) > 0));
  log("every peer up");
  await check(p, "start");
  await check(phone, "start");

  // Kill peer2 through its button: marked down within 2 s.
  let t0 = Date.now();
  await el(p, "kill-peer2").click();
  await p.waitForFunction(() =>
    document.querySelector('[data-test="state-peer2"]')?.textContent === "down" &&
    document.querySelector('[data-test="node-peer2"]')?.getAttribute("data-alive") === "false", null, { timeout: 5000 });
  seen.downMs = Date.now() - t0;
  log(`peer2 marked down after ${seen.downMs} ms`);
  await phone.locator('[data-test="state-peer2"]', { hasText: "down" }).waitFor({ timeout: 5000 });
  await check(p, "down");
  await check(phone, "down");

  // Restart: back at the head the others have.
  t0 = Date.now();
  await el(p, "restart-peer2").click();
  await el(p, "state-peer2").filter({ hasText: /^up$/ }).waitFor();
  for (;;) {
    const [a, b, c] = [await head(p, "peer0"), await head(p, "peer1"), await head(p, "peer2")];
    if (c.number > 0 && (c.hash === a.hash || c.hash === b.hash) && c.number >= Math.min(a.number, b.number)) break;
    if (Date.now() - t0 > T) throw new Error(`peer2 not back at the head: ${JSON.stringify([a, b, c])}`);
    await p.waitForTimeout(250);
  }
  seen.restartBackMs = Date.now() - t0;
  log(`peer2 back at the head after ${seen.restartBackMs} ms`);

  // Partition {peer0, peer1} | {peer2}: the fork drawn as two branches,
  // each side having mined past the partition.
  await el(p, "side-peer0").selectOption("0");
  await el(p, "side-peer1").selectOption("0");
  await el(p, "side-peer2").selectOption("1");
  await el(p, "partition").click();
  await p.locator('[data-test="partition-state"][data-partitioned="true"]').waitFor();
  const at = { left: (await head(p, "peer0")).number, right: (await head(p, "peer2")).number };
  const reorgsBefore = await el(p, "reorg").count();
  log("partitioned at", at);
  await p.waitForFunction((at) => {
    const n = (name) => Number(document.querySelector(`[data-test="head-${name}"]`)?.getAttribute("data-number"));
    const forks = Number(document.querySelector('[data-test="tree"]')?.getAttribute("data-forks"));
    return forks >= 2 && n("peer0") > at.left && n("peer2") > at.right;
  }, at, { timeout: 180_000, polling: 250 });
  seen.forks = Number(await el(p, "tree").getAttribute("data-forks"));
  seen.lanes = Number(await el(p, "tree").getAttribute("data-lanes"));
  seen.forkText = await el(p, "fork-summary").textContent();
  log(`fork drawn: ${seen.forks} branches, ${seen.lanes} lanes`);
  await phone.locator('[data-test="tree"][data-forks="2"]').waitFor();
  await check(p, "fork");
  await check(phone, "fork");

  // Heal: the lighter side reorganises; the reorg is listed with its depth
  // and the tree is one chain again.
  await el(p, "heal").click();
  await p.locator('[data-test="partition-state"][data-partitioned="false"]').waitFor();
  await p.waitForFunction((before) =>
    document.querySelectorAll('[data-test="reorg"]').length > before &&
    document.querySelector('[data-test="tree"]')?.getAttribute("data-forks") === "1", reorgsBefore, { timeout: 180_000, polling: 250 });
  const r = el(p, "reorg").first();
  seen.reorg = { peer: await r.getAttribute("data-peer"), depth: Number(await r.getAttribute("data-depth")), text: await r.textContent() };
  log("reorg shown:", seen.reorg.text);
  await check(p, "healed");
  await check(phone, "healed");
} catch (e) {
  problems.push(`step failed: ${e.stack ?? e}`);
} finally {
  await browser.close();
}
console.log(JSON.stringify({ ...seen, problems }));
process.exit(problems.length ? 1 : 0);
