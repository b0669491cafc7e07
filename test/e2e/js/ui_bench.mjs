// The web UI's responsiveness benchmark, driven by bench/ui_test.go
// (BenchmarkUI). It opens the peer's UI in headless Chromium and measures,
// on the live pages, the frame intervals (requestAnimationFrame), the main
// thread's long tasks and the time from a click on a nav link to the page's
// content: first on a quiet chain (the baseline), then while the Go side
// imports 20 blocks/s with 1,000 transactions in the pool. Then it keeps the
// page open for the given duration, moving between the live pages every
// 30 s, and samples the JS heap after a forced garbage collection.
//
// Protocol with the Go side: it prints "IDLE_DONE" when the baseline is
// measured (the Go side then starts the blocks), reads nothing, and prints
// one line "RESULT <json>" at the end. Errors go to stderr with exit 1.
//
// usage: node ui_bench.mjs URL DURATION_SECONDS SCREENSHOT_DIR
import { chromium } from 'playwright-core';

const [url, durationArg, shotDir] = process.argv.slice(2);
if (!url || !durationArg) {
  console.error('usage: node ui_bench.mjs URL DURATION_SECONDS [SCREENSHOT_DIR]');
  process.exit(2);
}
const duration = Number(durationArg) * 1000;
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

// The live pages and what shows that each has its data.
const pages = [
  { name: 'home', hash: '#/', ready: '[data-test="block-row"]' },
  { name: 'node', hash: '#/node', ready: '[data-test="node-version"]' },
  { name: 'network', hash: '#/network', ready: '[data-test="page-network"]' },
  { name: 'charts', hash: '#/charts', ready: '[data-test="page-charts"] svg' },
];

function quantile(xs, q) {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

const browser = await chromium.launch({
  executablePath: chromiumPath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--enable-precise-memory-info'],
});
const errors = [];
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('HeapProfiler.enable');
  await cdp.send('Performance.enable');

  // Long tasks are collected by the page itself from the start.
  await page.addInitScript(() => {
    window.__long = [];
    new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push(e.duration); })
      .observe({ type: 'longtask', buffered: true });
  });
  await page.goto(url + '/#/', { waitUntil: 'load' });
  await page.locator(pages[0].ready).first().waitFor({ timeout: 30000 });

  async function frames(ms) {
    await page.evaluate(() => { window.__long = []; });
    const deltas = await page.evaluate((ms) => new Promise((resolve) => {
      const out = [];
      let last = performance.now();
      const end = last + ms;
      function tick(t) {
        out.push(t - last);
        last = t;
        if (t < end) requestAnimationFrame(tick); else resolve(out);
      }
      requestAnimationFrame(tick);
    }), ms);
    const long = await page.evaluate(() => window.__long);
    return {
      frames: deltas.length,
      p50: quantile(deltas, 0.5),
      p95: quantile(deltas, 0.95),
      max: Math.max(...deltas),
      janky: deltas.filter((d) => d > 50).length,
      longTasks: long.length,
      blockedMs: long.reduce((s, d) => s + Math.max(0, d - 50), 0),
    };
  }

  // navigate goes to p by clicking its nav link when there is one (the
  // way a person does), and returns the ms until its content is shown.
  async function navigate(p) {
    const t0 = Date.now();
    const link = page.locator(`nav a[href="${p.hash}"]`).first();
    if (await link.count()) await link.click(); else await page.evaluate((h) => { location.hash = h; }, p.hash);
    // A locator, not waitForSelector: an ElementHandle would keep the
    // page's old DOM alive after it is left, and count as a leak.
    await page.locator(p.ready).first().waitFor({ timeout: 30000 });
    return Date.now() - t0;
  }

  async function measureAll(label) {
    const out = {};
    for (const p of pages) {
      const navMs = await navigate(p);
      await page.waitForTimeout(1000);
      out[p.name] = { navMs, ...(await frames(3000)) };
      if (shotDir) await page.screenshot({ path: `${shotDir}/ui-bench-${label}-${p.name}.png` });
    }
    return out;
  }

  async function heap() {
    await cdp.send('HeapProfiler.collectGarbage');
    const u = await cdp.send('Runtime.getHeapUsage');
    const m = await cdp.send('Performance.getMetrics');
    const nodes = m.metrics.find((x) => x.name === 'Nodes')?.value ?? 0;
    const live = await page.evaluate(() => document.getElementsByTagName('*').length);
    const listeners = m.metrics.find((x) => x.name === 'JSEventListeners')?.value ?? 0;
    return { usedMB: u.usedSize / (1 << 20), nodes, live, listeners };
  }

  const idle = await measureAll('idle');
  console.log('IDLE_DONE');
  // Let the blocks start and the pool fill.
  await page.waitForTimeout(5000);
  const load = await measureAll('load');

  // Memory over the duration: the pages are moved through every 30 s and
  // the heap sampled on the home page (the liveliest) after a GC.
  await navigate(pages[0]);
  const samples = [];
  const start = Date.now();
  let i = 0;
  samples.push({ t: 0, ...(await heap()) });
  while (Date.now() - start < duration) {
    await page.waitForTimeout(Math.min(30000, Math.max(0, duration - (Date.now() - start))));
    for (const p of pages.slice(1)) { await navigate(p); await page.waitForTimeout(500); }
    await navigate(pages[0]);
    await page.waitForTimeout(500);
    samples.push({ t: (Date.now() - start) / 1000, ...(await heap()) });
    i++;
  }
  const end = await frames(3000);
  const head = await page.locator('[data-test="head"]').first().textContent();
  console.log('RESULT ' + JSON.stringify({ idle, load, samples, end, head, errors }));
} catch (e) {
  console.error(e && e.stack ? e.stack : String(e));
  process.exitCode = 1;
} finally {
  await browser.close();
}
