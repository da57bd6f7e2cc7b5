// NATS credentials in the console (run by tests/integration/test_console.py
// against a WebSocket listener that wants user NATS_USER, password
// NATS_PASS): asked in the page, refused when wrong, kept in
// sessionStorage only (a reload keeps them, another session does not),
// dropped on sign out.
import { T, step, check, shot, typeIn, open, main } from "./browser.mjs";

await main(async (browser) => {
  const page = await open(browser, "#login");
  check(!(await page.$eval("#nav", (n) => !n.hidden)), "no navigation before connecting");
  await typeIn(page, "#li-user", process.env.NATS_USER);
  await typeIn(page, "#li-pass", "wrong");
  await page.click("#li-go");
  await page.waitForFunction(() => /Cannot connect/.test(document.querySelector("#login .formerr").textContent), T);
  step("a wrong password is refused");
  await typeIn(page, "#li-pass", process.env.NATS_PASS);
  await shot(page, "login.png");
  await page.click("#li-go");
  await page.waitForSelector("#nav:not([hidden])", T);
  await page.waitForSelector("#runs", T);
  step("connected with user and password");
  const kept = await page.evaluate(() => ({ session: sessionStorage.length, local: localStorage.length, cookie: document.cookie }));
  check(kept.session === 1 && kept.local === 0 && kept.cookie === "", `kept only in sessionStorage: ${JSON.stringify(kept)}`);
  await page.reload({ waitUntil: "load" });
  await page.waitForSelector("#nav:not([hidden])", T);
  step("a reload keeps the session");
  const other = await browser.createBrowserContext();
  const page2 = await open(other, "#login");
  check(await page2.$eval("#li-pass", (e) => e.value === ""), "another session is asked again");
  await other.close();
  step("another browser session is asked again");
  await page.click("#signout");
  await page.waitForSelector("#login", T);
  check(await page.evaluate(() => sessionStorage.length === 0), "sign out forgets the credentials");
  step("sign out forgets them");
});
