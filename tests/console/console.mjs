// The console in headless Chromium, as a person would use it (run by
// tests/integration/test_console.py, which starts nats-server and batchd
// and prepares cluster "busy" with RUNS runs of "sleeper" on it, the
// first RUNNING and the rest queued). Environment: CONSOLE_URL, SHOTS (the
// screenshots' directory), CHROMIUM, PROFILE, BUSY (the cluster's uuid),
// RUNS, BIG_DEF and BIG_CLUSTER (a job writing BIG_MIB MiB), DOWNLOADS.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { T, SHOTS, step, check, shot, go, typeIn, open, main } from "./browser.mjs";

const BUSY = process.env.BUSY;
const RUNS = Number(process.env.RUNS);

await main(async (browser) => {
  const page = await open(browser);
  step("connected over NATS WebSocket");

  // A definition through the form: first a bad one, refused with the field.
  await go(page, "#/jobs/new", "#jobform");
  await typeIn(page, "[name=name]", "etl");
  await typeIn(page, "[name=description]", "nightly ETL");
  await typeIn(page, "[name=ws_path]", "../elsewhere");
  await typeIn(page, "[name=source_location]", "etl.py");
  await typeIn(page, "[name=args]", "--day 2026-11-24");
  await typeIn(page, "[name=num_retries]", "1");
  await typeIn(page, "[name=timeout]", "5");
  await typeIn(page, "[name=env]", "STAGE=prod");
  await page.focus("[name=args]");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => {
    const e = document.querySelector("[data-field='config.source.workspace.path']");
    return e && e.getAttribute("aria-invalid") && e.closest(".field").querySelector(".ferr");
  }, T);
  const err = await page.$eval("[data-field='config.source.workspace.path']", (e) => e.closest(".field").querySelector(".ferr").textContent);
  check(err.includes("config.source.workspace.path") && err.includes(".."), `field error: ${err}`);
  await shot(page, "job-error.png");
  step(`field error shown: ${err}`);
  await typeIn(page, "[name=ws_path]", "jobs");
  await page.click("#save");
  await page.waitForSelector("#jobs tr[data-name=etl]", T);
  step("definition etl created through the form");

  // A second one from pasted JSON, the shape batchctl accepts.
  await go(page, "#/jobs/new", "#jobform");
  await page.click("details summary");
  await page.$eval("[name=paste]", (e) => {
    e.value = JSON.stringify({ source: { type: "WORKSPACE", definition: { path: "jobs" } }, type: "PYTHON",
      sourceLocation: "etl.py", args: { args: "--pasted" }, retryStrategy: { numRetries: 2, delayBetweenRetries: 1, retryOnTimeout: false },
      timeout: 60, envVars: { STAGE: "test" } });
  });
  await page.click("#fill");
  check(await page.$eval("[name=args]", (e) => e.value) === "--pasted", "pasted args");
  check(await page.$eval("[name=retry_delay]", (e) => e.value) === "1", "pasted delay in minutes");
  await typeIn(page, "[name=name]", "etl-pasted");
  await page.click("#save");
  await page.waitForSelector("#jobs tr[data-name=etl-pasted]", T);
  await shot(page, "jobs.png");
  step("definition etl-pasted created from pasted JSON");

  // Edit keeps the fields: open etl, check them, save.
  await page.click("#jobs tr[data-name=etl] td a");
  await page.waitForFunction(() => document.querySelector("[name=source_location]")?.value === "etl.py", T);
  check(await page.$eval("[name=env]", (e) => e.value) === "STAGE=prod", "edit shows env");
  check(await page.$eval("[name=timeout]", (e) => e.value) === "5", "edit shows timeout");
  await typeIn(page, "[name=description]", "nightly ETL, edited");
  await page.click("#save");
  await page.waitForSelector("#jobs tr[data-name=etl]", T);
  step("definition etl edited");
  await page.$eval("#jobs tr[data-name=etl-pasted]", (tr) => [...tr.querySelectorAll("button")].find((b) => b.textContent === "Delete").click());
  await page.waitForFunction(() => !document.querySelector("#jobs tr[data-name=etl-pasted]") && document.querySelector("#jobs tr[data-name=etl]"), T);
  step("definition etl-pasted deleted");

  // A cluster.
  await go(page, "#/clusters", "#clform");
  await typeIn(page, "#cl-name", "main");
  await page.click("#cl-create");
  await page.waitForSelector("#clusters tr[data-name=main]", T);
  await page.waitForFunction((b) => {
    const tr = document.querySelector(`#clusters tr[data-uuid='${b}']`);
    return tr && Number(tr.children[3].textContent) > 0;
  }, T, BUSY);
  await shot(page, "clusters.png");
  step("cluster main created; busy shows its queue");
  const state = (name) => page.$eval(`#clusters tr[data-name=${name}]`, (tr) => tr.children[2].textContent);
  const press = (name, label) => page.$eval(`#clusters tr[data-name=${name}]`, (tr, l) =>
    [...tr.querySelectorAll("button")].find((b) => b.textContent === l).click(), label);
  await press("main", "Pause");
  await page.waitForFunction(() => document.querySelector("#clusters tr[data-name=main]").children[2].textContent.startsWith("PAUSED"), T);
  await press("main", "Resume");
  await page.waitForFunction(() => document.querySelector("#clusters tr[data-name=main]").children[2].textContent.startsWith("RUNNING"), T);
  check((await state("main")).startsWith("RUNNING"), "main resumed");
  step("cluster main paused and resumed");

  // Submit etl on main and watch it: output while RUNNING, then SUCCEEDED.
  await go(page, "#/runs/new", "#submitform");
  await page.waitForFunction(() => [...document.querySelectorAll("#s-def option")].some((o) => o.textContent === "etl"), T);
  await page.$eval("#s-def", (s) => { s.value = [...s.options].find((o) => o.textContent === "etl").value; });
  await page.$eval("#s-cluster", (s) => { s.value = [...s.options].find((o) => o.textContent.startsWith("main ")).value; });
  await page.click("#s-submit");
  await page.waitForSelector("#runhead", T);
  await page.waitForFunction(() => document.getElementById("log").textContent.includes("step 1"), T);
  const mid = await page.evaluate(() => ({ log: document.getElementById("log").textContent, head: document.getElementById("runhead").textContent }));
  check(mid.head.includes("RUNNING") && !mid.log.includes("step 11"), `output while running: ${JSON.stringify(mid).slice(0, 400)}`);
  step("output appears while the run is RUNNING");
  await page.waitForFunction(() => document.getElementById("runhead").textContent.includes("SUCCEEDED"), { timeout: 60000 });
  await page.waitForFunction(() => document.getElementById("log").textContent.includes("step 11 ['--day', '2026-11-24']"), T);
  await page.waitForFunction(() => document.querySelectorAll("#attempts tbody tr").length === 1 &&
    document.querySelector("#attempts tbody tr").children[3].textContent === "0", T);
  await page.waitForFunction(() => document.querySelector("#events tbody")?.textContent.includes("SUCCEEDED"), T);
  await page.waitForFunction(() => document.getElementById("loginfo").textContent.includes("complete"), T);
  await shot(page, "run.png");
  step("run SUCCEEDED with its output, attempt exit 0, events");
  const cdp = await page.createCDPSession();
  await cdp.send("Browser.setDownloadBehavior", { behavior: "allow", downloadPath: process.env.DOWNLOADS });
  const runUuid = page.url().split("/").pop();
  await page.click("#l-download");
  const file = join(process.env.DOWNLOADS, `${runUuid}.1.stdout.log`);
  for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
  check(existsSync(file) && readFileSync(file, "utf8").split("\n").length === 13, `downloaded ${file}`);
  step("log downloaded");
  await page.select("#l-stream", "STDERR");
  await page.waitForFunction(() => document.getElementById("log").textContent.includes("oops"), T);
  step("stderr shown");

  // A job writing BIG_MIB MiB: followed live, the page keeps a bounded
  // window and goes on drawing frames; at the end it shows the tail.
  await go(page, `#/runs/new?def=${process.env.BIG_DEF}&cluster=${process.env.BIG_CLUSTER}`, "#submitform");
  await page.waitForFunction((d) => document.getElementById("s-def").value === d, T, process.env.BIG_DEF);
  await page.evaluate(() => {
    window.__gaps = [];
    window.__maxText = 0;
    let last = performance.now();
    const f = (t) => {
      window.__gaps.push(t - last);
      last = t;
      const l = document.getElementById("log");
      if (l) window.__maxText = Math.max(window.__maxText, l.textContent.length);
      if (!window.__stop) requestAnimationFrame(f);
    };
    requestAnimationFrame(f);
  });
  await page.click("#s-submit");
  await page.waitForFunction(() => document.getElementById("runhead")?.textContent.includes("SUCCEEDED"), { timeout: 180000 });
  await page.waitForFunction(() => document.getElementById("log").textContent.trimEnd().endsWith("END"), T);
  const big = await page.evaluate(() => {
    window.__stop = true;
    const g = window.__gaps.slice(5);
    return { frames: g.length, maxGap: Math.max(...g), maxText: window.__maxText,
      text: document.getElementById("log").textContent.length, info: document.getElementById("loginfo").textContent };
  });
  const total = Number(process.env.BIG_MIB) * 1048576 + 4;
  step(`big output: ${JSON.stringify(big)}`);
  check(big.maxText <= 262144 && big.text <= 262144 && big.text > 200000, "the log window stays bounded, and full");
  check(big.maxGap < 2000, `frames kept coming (longest gap ${big.maxGap} ms)`);
  check(big.info.includes(`of ${total} (complete)`), `whole stream known: ${big.info}`);
  await page.click("#l-start");
  await page.waitForFunction(() => document.getElementById("log").textContent.startsWith("000000000 "), T);
  await page.click("#l-newer");
  await page.waitForFunction(() => /bytes 131072–393216 /.test(document.getElementById("loginfo").textContent), T);
  await page.click("#l-end");
  await page.waitForFunction(() => document.getElementById("log").textContent.trimEnd().endsWith("END"), T);
  step("the start, newer, and back to the end of the big log");

  // Runs of busy, page by page, with statuses changing live.
  await go(page, `#/runs?cluster=${BUSY}`, "#runs");
  await page.waitForFunction(() => document.querySelectorAll("#runs tbody tr[data-uuid]").length === 50, T);
  const first = await page.$$eval("#runs tbody tr[data-uuid]", (t) => t.map((r) => r.dataset.uuid));
  await page.keyboard.press("]");
  await page.waitForFunction((n) => document.querySelectorAll("#runs tbody tr[data-uuid]").length === n, T, RUNS - 50);
  const second = await page.$$eval("#runs tbody tr[data-uuid]", (t) => t.map((r) => r.dataset.uuid));
  check(!second.some((u) => first.includes(u)), "pages do not overlap");
  check((await page.$eval("#next", (b) => b.disabled)), "last page has no next");
  await page.click("#prev");
  await page.waitForFunction((u) => document.querySelector("#runs tbody tr[data-uuid]")?.dataset.uuid === u, T, first[0]);
  await shot(page, "runs.png");
  step(`paged through ${RUNS} runs: 50 + ${RUNS - 50}`);

  // Cancel a queued run from its page (in a second tab); the first tab's
  // list shows it CANCELLED from the status events alone.
  const queued = first[1];
  check(await page.$eval(`#runs tr[data-uuid='${queued}']`, (r) => r.dataset.status) === "PENDING", "second run queued");
  const tab = await open(browser);
  await go(tab, `#/run/${queued}`, "#runhead");
  await tab.waitForSelector("#qpos", T);
  await tab.waitForSelector("#cancel", T);
  await tab.click("#cancel");
  await tab.waitForFunction(() => document.getElementById("runhead").textContent.includes("CANCELLED"), T);
  await shot(tab, "cancelled.png");
  await tab.close();
  await page.waitForFunction((u) => document.querySelector(`#runs tr[data-uuid='${u}']`)?.dataset.status === "CANCELLED", T, queued);
  step("queued run cancelled; the list changed live");

  // Cancel all on busy, from the Clusters page.
  await go(page, "#/clusters", "#clusters");
  await page.waitForSelector(`#clusters tr[data-uuid='${BUSY}']`, T);
  await page.$eval(`#clusters tr[data-uuid='${BUSY}']`, (tr) => [...tr.querySelectorAll("button")].find((b) => b.textContent === "Cancel all").click());
  await page.waitForFunction((b) => {
    const tr = document.querySelector(`#clusters tr[data-uuid='${b}']`);
    return tr && tr.children[3].textContent === "0" && tr.children[4].textContent === "";
  }, T, BUSY);
  step("cancel all emptied busy");

  // Keyboard: j, c, r move between the pages.
  await page.keyboard.press("j");
  await page.waitForSelector("#jobs", T);
  await page.keyboard.press("r");
  await page.waitForSelector("#runs", T);
  step("keyboard navigation");
});
