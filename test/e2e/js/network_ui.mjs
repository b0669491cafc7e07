// Checks the Network and Node pages of a running 2-peer devnet in headless
// Chromium (Debian's, through playwright-core): the Network page lists the
// other peer with bytes moved both ways, the propagation histogram counts
// gossiped blocks with p50/p95, the fork tree shows the head; the Node page
// shows version, uptime and disk use. Both pages are screenshot at 1280 and
// 390 wide and checked with axe-core (no serious or critical finding); any
// console error fails the run. Prints one JSON line with what it saw.
// Usage: node network_ui.mjs PEER_URL OTHER_PEER_ID SCREENSHOT_DIR
import { T, el, log, startBrowser } from "./browser.mjs";

const [peerURL, otherID, shots] = process.argv.slice(2);
const { browser, problems, seen, newPage, axe, shoot } = await startBrowser(shots);

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
