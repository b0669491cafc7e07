// The browser side shared by the page checks (light_ui.mjs,
// network_ui.mjs): Debian's Chromium through playwright-core, pages that
// collect console errors, axe-core's serious and critical findings, and
// screenshots. Everything that goes wrong lands in `problems`.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

/** The per-step timeout of the page checks. */
export const T = 90_000;

/** Logs to stderr with the time of day. */
export const log = (...a) => console.error(new Date().toISOString().slice(11, 19), ...a);

/** The elements with a data-test attribute. */
export const el = (page, test) => page.locator(`[data-test="${test}"]`);

/**
 * Starts headless Chromium; screenshots go to shots. Returns the browser,
 * the problems list, what was seen (seen.screenshots counts), and
 * newPage / axe / shoot bound to them.
 */
export async function startBrowser(shots) {
  mkdirSync(shots, { recursive: true });
  const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const problems = [];
  const seen = { screenshots: 0 };

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

  return { browser, problems, seen, newPage, axe, shoot };
}
