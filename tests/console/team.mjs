// The console as a team's user of configs/nats-isolation.conf (run by
// tests/integration/test_console.py): with only the permissions that file
// gives user TEAM (publish to its workspace's verbs, subscribe to its
// events and its _INBOX.TEAM. inboxes), it creates a cluster and a
// definition, submits a run and sees it SUCCEEDED with its output.
import { T, step, shot, typeIn, go, open, main } from "./browser.mjs";

const TEAM = process.env.TEAM;

await main(async (browser) => {
  const page = await open(browser, "#login");
  await typeIn(page, "#li-ws", TEAM);
  await typeIn(page, "#li-user", TEAM);
  await typeIn(page, "#li-pass", process.env.TEAM_PASS);
  await page.click("#li-go");
  await page.waitForSelector("#nav:not([hidden])", T);
  step(`connected as ${TEAM}`);
  await go(page, "#/clusters", "#clform");
  await typeIn(page, "#cl-name", "a1");
  await page.click("#cl-create");
  await page.waitForSelector("#clusters tr[data-name=a1]", T);
  await go(page, "#/jobs/new", "#jobform");
  await typeIn(page, "[name=name]", "hello");
  await typeIn(page, "[name=ws_path]", "jobs");
  await typeIn(page, "[name=source_location]", "hello.py");
  await page.click("#save");
  await page.waitForSelector("#jobs tr[data-name=hello]", T);
  step("cluster and definition created");
  await go(page, "#/runs/new", "#submitform");
  await page.waitForFunction(() => document.querySelectorAll("#s-cluster option").length === 2 &&
    document.querySelectorAll("#s-def option").length === 1, T);
  await page.$eval("#s-cluster", (s) => { s.value = s.options[1].value; });
  await page.click("#s-submit");
  await page.waitForFunction(() => document.getElementById("runhead")?.textContent.includes("SUCCEEDED"), T);
  await page.waitForFunction(() => document.getElementById("log").textContent.includes("hello from the console"), T);
  await shot(page, "team.png");
  step("run SUCCEEDED with its output, from the status and log events");
});
