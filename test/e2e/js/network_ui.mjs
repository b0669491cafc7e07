// Checks the Network and Node pages of a running 2-peer devnet in headless
// Chromium (Debian's, through playwright-core): the Network page lists the
// other peer with bytes moved both ways, the propagation histogram counts
// gossiped blocks with p50/p95, the fork tree shows the head; the Node page
// shows version, uptime and disk use. Both pages are screenshot at 1280 and
// 390 wide and checked with axe-core (no serious or critical finding); any
// console error fails the run. Prints one JSON line with what it saw.
// Usage: node network_ui.mjs PEER_URL OTHER_PEER_ID SCREENSHOT_DIR
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const [peerURL, otherID, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const require = createRequire(import.meta.url);
const axePath = require.resolve("axe-core/axe.min.js");
const T = 90_000;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const problems = [];
const seen = { screenshots: 0 };
const log = (...a) => console.error(new Date().toISOString().slice(11, 19), ...a);
const el = (page, test) => page.locator(`[data-test="${test}"]`);

async function newPage(viewport) {
  // bypassCSP lets the test inject axe-core; the page itself runs under the peer's CSP.
  const ctx = await browser.newContext({ viewport, bypassCSP: true });
  const page = await ctx.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error on ${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error on ${page.url()}: ${e.message}`));
  page.setDefaultTimeout(T);
  return page;
}

async function axe(page, name) {
  await page.addScriptTag({ path: axePath });
  const res = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
  for (const v of res.violations) {
    if (v.impact === "serious" || v.impact === "critical") {
      problems.push(`axe ${name}: ${v.impact} ${v.id}: ${v.help} (${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join("; ")})`);
    }
  }
}

async function shoot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  seen.screenshots++;
}

try {
  for (const [w, h] of [[1280, 800], [390, 844]]) {
    const page = await newPage({ width: w, height: h });
    await page.goto(peerURL + "/#/network");
    const row = page.locator(`[data-test="peer-row"][data-peer="${otherID}"]`);
    await row.waitFor();
    // Bytes move both ways and gossiped blocks reach the histogram.
    await page.waitForFunction((id) => {
      const r = document.querySelector(`[data-test="peer-row"][data-peer="${id}"]`);
      if (!r) return false;
      const v = (t) => Number(r.querySelector(`[data-test="${t}"]`)?.getAttribute("data-value") ?? 0);
      return v("peer-bytes-in") > 0 && v("peer-bytes-out") > 0;
    }, otherID, { timeout: T });
    await page.waitForFunction(() => Number(document.querySelector('[data-test="propagation-blocks"]')?.getAttribute("data-value") ?? 0) >= 2, null, { timeout: T });
    seen.bytesIn = await row.locator('[data-test="peer-bytes-in"]').getAttribute("data-value");
    seen.bytesOut = await row.locator('[data-test="peer-bytes-out"]').getAttribute("data-value");
    seen.propagated = await el(page, "propagation-blocks").getAttribute("data-value");
    seen.p50 = await el(page, "propagation-p50").innerText();
    seen.p95 = await el(page, "propagation-p95").innerText();
    seen.bars = await el(page, "histogram-bar").count();
    seen.direction = await row.locator('[data-test="peer-direction"]').innerText();
    await el(page, "fork-svg").waitFor();
    await page.locator('[data-test="network-live"]', { hasText: "live" }).waitFor();
    await axe(page, `network@${w}`);
    await shoot(page, `network-${w}`);

    await page.goto(peerURL + "/#/node");
    await el(page, "node-version").waitFor();
    await page.waitForFunction(() => Number(document.querySelector('[data-test="node-disk"]')?.getAttribute("data-value") ?? 0) > 0, null, { timeout: T });
    seen.version = await el(page, "node-version").innerText();
    seen.uptime = await el(page, "node-uptime").innerText();
    seen.disk = await el(page, "node-disk").innerText();
    seen.peers = await el(page, "node-peers").innerText();
    seen.eta = await el(page, "sync-eta").innerText();
    await axe(page, `node@${w}`);
    await shoot(page, `node-${w}`);
    log(`checked at ${w}px`);
    await page.context().close();
  }
} catch (e) {
  problems.push(`failed: ${e.message}`);
} finally {
  await browser.close();
}
console.log(JSON.stringify({ ...seen, problems }));
process.exit(problems.length ? 1 : 0);
