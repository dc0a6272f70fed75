// Page-level test of the demo: opens it in headless Chromium (WebGPU on SwiftShader when there is
// no GPU), waits for the verdict, checks it says PASS and saves a screenshot.
//   node web/page-test.mjs URL SCREENSHOT.png      (tools/web-test.sh serves the page and runs this)
// Env: CHROMIUM (default /usr/bin/chromium), PAGE_TIMEOUT_S (default 300).
import { chromium } from "playwright-core";

const [url = "http://127.0.0.1:8123/", shot = "web-demo.png"] = process.argv.slice(2);
const timeout = 1000 * Number(process.env.PAGE_TIMEOUT_S || 300);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox", "--enable-unsafe-webgpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
  ],
});
let failed = false;
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  const problems = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(String(e)));
  const t0 = Date.now();
  await page.goto(url);
  await page.waitForSelector("#verdict:not([data-status=running])", { timeout });
  const status = await page.getAttribute("#verdict", "data-status");
  const text = (await page.textContent("#verdict")).trim();
  const rows = await page.locator("#out table").nth(2).locator("tr").count();
  console.log(`page: ${status} after ${((Date.now() - t0) / 1000).toFixed(1)} s: ${text}`);
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`page: screenshot saved to ${shot}`);
  if (status !== "pass" || !text.startsWith("PASS")) {
    failed = true;
    console.error("page: the demo did not pass");
  }
  if (rows < 7) {
    failed = true;
    console.error(`page: expected a row per matrix of the built-in file (6), found ${rows - 1}`);
  }
  if (problems.length) {
    failed = true;
    console.error("page: console errors:\n  " + problems.join("\n  "));
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
