// Checks a light peer's Network and Node pages in headless Chromium
// (Debian's, through playwright-core) on a devnet with a liar: the Network
// page lists its sources with their kind — the honest provider in use with
// a head, the liar dropped with the evidence, also in the dropped-sources
// list — and the verified headers' arrivals with their source; the Node
// page shows version, uptime, the header sync's state and disk use. Both
// pages are screenshot at 1280 and 390 wide and checked with axe-core (no
// serious or critical finding); any console error fails the run. Prints
// one JSON line with what it saw.
// Usage: node light_ui.mjs LIGHT_URL LIAR_URL PROVIDER_URL SCREENSHOT_DIR
import { T, el, log, startBrowser } from "./browser.mjs";

const [lightURL, liarURL, providerURL, shots] = process.argv.slice(2);
const { browser, problems, seen, newPage, axe, shoot } = await startBrowser(shots);

try {
  for (const [w, h] of [[1280, 800], [390, 844]]) {
    const page = await newPage({ width: w, height: h });
    await page.goto(lightURL + "/#/network");
    // The liar is listed dropped, with the evidence; the honest provider
    // is in use with a head.
    const liar = page.locator(`[data-test="source-row"][data-source="${liarURL}"][data-dropped="yes"]`);
    await liar.waitFor();
    const provider = page.locator(`[data-test="source-row"][data-source="${providerURL}"][data-dropped="no"]`);
    await provider.waitFor();
    await page.waitForFunction(
      (url) => document.querySelector(`[data-test="source-row"][data-source="${url}"] [data-test="source-head"] a`) !== null,
      providerURL,
      { timeout: T },
    );
    seen.liarKind = await liar.getAttribute("data-kind");
    seen.liarEvidence = await liar.locator('[data-test="source-evidence"]').innerText();
    seen.providerKind = await provider.getAttribute("data-kind");
    seen.providerHead = await provider.locator('[data-test="source-head"]').innerText();
    // The full peers over P2P join as sources once connected (the page
    // refreshes every 3 s); on a loaded machine that takes a while.
    await page.locator('[data-test="source-row"][data-kind="p2p"]').first().waitFor();
    seen.kinds = await el(page, "source-kind").allInnerTexts();
    // The dropped-sources list names the liar with the same evidence.
    const ban = page.locator(`[data-test="ban-row"][data-peer="${liarURL}"]`);
    await ban.waitFor();
    seen.banReason = await ban.locator('[data-test="ban-reason"]').innerText();
    // Verified headers' arrivals, each with the source it came from.
    await page.waitForFunction(() => document.querySelectorAll('[data-test="arrival-row"]').length >= 2, null, { timeout: T });
    seen.arrivals = await el(page, "arrival-row").count();
    seen.arrivalFrom = await el(page, "arrival-from").allInnerTexts();
    seen.arrivalVia = await el(page, "arrival-via").allInnerTexts();
    await el(page, "fork-svg").waitFor();
    // Pushed over peerchain_subscribe("network"): new headers' arrivals.
    await page.locator('[data-test="network-live"]', { hasText: /live \([1-9]/ }).waitFor();
    seen.live = await el(page, "network-live").innerText();
    await axe(page, `light-network@${w}`);
    await shoot(page, `light-network-${w}`);

    await page.goto(lightURL + "/#/node");
    await el(page, "node-version").waitFor();
    await page.waitForFunction(() => Number(document.querySelector('[data-test="node-disk"]')?.getAttribute("data-value") ?? 0) > 0, null, { timeout: T });
    seen.version = await el(page, "node-version").innerText();
    seen.uptime = await el(page, "node-uptime").innerText();
    seen.disk = await el(page, "node-disk").innerText();
    seen.sources = await el(page, "node-peers").innerText();
    seen.kind = await el(page, "node-mining").innerText();
    seen.syncState = await el(page, "sync-state").innerText();
    seen.syncRate = await el(page, "sync-rate").innerText();
    seen.eta = await el(page, "sync-eta").innerText();
    await axe(page, `light-node@${w}`);
    await shoot(page, `light-node-${w}`);
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
