// What the console's browser tests share: headless Chromium (Debian's, by
// puppeteer-core from web/node_modules), pages watched for errors and for
// requests that leave 127.0.0.1, steps, checks, and the failure report.
// Environment: CONSOLE_URL, SHOTS (screenshots), CHROMIUM, PROFILE.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "..", "..", "web", "package.json"));
const puppeteer = require("puppeteer-core");

export const URL_ = process.env.CONSOLE_URL;
export const SHOTS = process.env.SHOTS;
export const T = { timeout: 30000 };
const failures = [];
const t0 = Date.now();

export function step(what) { console.log(`console: ${((Date.now() - t0) / 1000).toFixed(1)}s ${what}`); }

export function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

// A screenshot under SHOTS, without the passing message at the bottom.
export async function shot(page, name) {
  await page.evaluate(() => { document.getElementById("toast").textContent = ""; });
  await page.screenshot({ path: join(SHOTS, name) });
}

export async function go(page, hash, sel) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.waitForSelector(sel, T);
}

export async function typeIn(page, sel, value) {
  await page.$eval(sel, (e) => { e.value = ""; });
  await page.type(sel, value);
}

// A new page of ctx (a browser or a browser context) at the console,
// watched: errors, and any request that is not to 127.0.0.1, fail the test.
export async function open(ctx, waitFor = "#nav:not([hidden])") {
  const page = await ctx.newPage();
  page.on("dialog", (d) => d.accept());
  page.on("pageerror", (e) => failures.push(`page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") failures.push(`console error: ${m.text()}`); });
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (u.protocol !== "blob:" && u.protocol !== "data:" && u.hostname !== "127.0.0.1")
      failures.push(`request to ${r.url()}`);
  });
  await page.goto(URL_, { waitUntil: "load" });
  if (waitFor) await page.waitForSelector(waitFor, T);
  return page;
}

// Run test(browser) in a fresh headless Chromium; print the outcome.
export async function main(test) {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    userDataDir: process.env.PROFILE,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--disable-default-apps", "--disable-extensions", "--metrics-recording-only",
      "--no-default-browser-check", "--window-size=1400,1000"],
    defaultViewport: { width: 1400, height: 1000 },
  });
  try {
    await test(browser);
    check(failures.length === 0, failures.join("\n"));
    console.log("console: all steps passed");
  } catch (e) {
    console.log(`console: FAILED: ${e.message}\n${failures.join("\n")}`);
    for (const p of await browser.pages()) {
      console.log(`page ${p.url()}:\n${await p.evaluate(() => document.body.innerText).catch(() => "?")}`);
      await p.screenshot({ path: join(SHOTS, "failure.png") }).catch(() => {});
    }
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}
