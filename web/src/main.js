// main.js: the console's start: the connection (NATS over WebSocket, with
// credentials asked here and kept only in sessionStorage), the navigation
// and the router (#/jobs, #/clusters, #/runs, #/run/UUID ...).
import { open, close, connection, workspace } from "./api.js";
import { h, toast } from "./ui.js";
import { startLive, stopLive } from "./live.js";
import { jobsView, jobFormView } from "./jobs.js";
import { clustersView } from "./clusters.js";
import { runsView, submitView } from "./runs.js";
import { runView } from "./run.js";

const KEY = "batchd-console";
const main = document.getElementById("main");
const nav = document.getElementById("nav");
const conn = document.getElementById("conn");
const signout = document.getElementById("signout");
let serverConf = {};
let cleanup = null;

const ROUTES = [
  [/^#\/jobs\/new$/, jobFormView],
  [/^#\/jobs\/edit\/([\w-]+)$/, jobFormView, "uuid"],
  [/^#\/jobs$/, jobsView],
  [/^#\/clusters$/, clustersView],
  [/^#\/runs\/new$/, submitView],
  [/^#\/runs$/, runsView],
  [/^#\/run\/([\w-]+)$/, runView, "uuid"],
];

const go = (hash) => { if (location.hash === hash) route(); else location.hash = hash; };

function route() {
  if (!connection()) return;
  const [path, query] = (location.hash || "#/runs").split("?");
  const params = Object.fromEntries(new URLSearchParams(query || ""));
  if (cleanup) cleanup();
  cleanup = null;
  main.replaceChildren();
  for (const a of nav.querySelectorAll("a")) a.toggleAttribute("aria-current", path.startsWith(a.getAttribute("href").replace(/s$/, "")));
  for (const [re, view, name] of ROUTES) {
    const m = path.match(re);
    if (!m) continue;
    if (name) params[name] = m[1];
    cleanup = view(main, params, go) || null;
    main.focus();
    return;
  }
  go("#/runs");
}

function saved() {
  try { return JSON.parse(sessionStorage.getItem(KEY)) || null; } catch { return null; }
}

async function connectWith(c) {
  await close();
  await open(c, serverConf);
  sessionStorage.setItem(KEY, JSON.stringify(c));
  conn.textContent = `${workspace()} @ ${c.url}`;
  nav.hidden = false;
  signout.hidden = false;
  startLive();
  (async () => {
    for await (const s of connection().status()) {
      if (s.type === "disconnect" || s.type === "reconnecting") conn.classList.add("down");
      if (s.type === "reconnect") conn.classList.remove("down");
    }
  })();
  route();
}

function login(message) {
  const c = saved() || {};
  const url = h("input#li-url", { value: c.url || serverConf.nats_ws || "", required: true, placeholder: "ws://127.0.0.1:4223" });
  const ws = h("input#li-ws", { value: c.ws || serverConf.workspace || "default" });
  const user = h("input#li-user", { value: c.user || "", autocomplete: "username" });
  const pass = h("input#li-pass", { type: "password", autocomplete: "current-password" });
  const token = h("input#li-token", { type: "password", autocomplete: "off" });
  const err = h("div.formerr", { role: "alert" }, message || "");
  const form = h("form.card.login#login", err,
    h("label.field", h("span.lbl", "NATS WebSocket URL"), url), h("label.field", h("span.lbl", "Workspace"), ws),
    h("label.field", h("span.lbl", "User"), user), h("label.field", h("span.lbl", "Password"), pass),
    h("label.field", h("span.lbl", "Token"), token, h("small", "credentials, if the server wants them; kept for this browser session only")),
    h("button.primary#li-go", { type: "submit" }, "Connect"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = "Connecting…";
    try {
      await connectWith({ url: url.value, ws: ws.value, user: user.value, pass: pass.value, token: token.value });
    } catch (e) {
      err.textContent = `Cannot connect: ${e.message || e}`;
    }
  });
  nav.hidden = true;
  signout.hidden = true;
  main.replaceChildren(h("h1", "Connect to NATS"), form);
  (url.value ? user : url).focus();
}

async function signOut() {
  sessionStorage.removeItem(KEY);
  if (cleanup) cleanup();
  cleanup = null;
  stopLive();
  await close();
  conn.textContent = "";
  login();
}

document.addEventListener("keydown", (ev) => {
  if (ev.target.closest("input, textarea, select") || ev.ctrlKey || ev.metaKey || ev.altKey || !connection()) return;
  const to = { j: "#/jobs", c: "#/clusters", r: "#/runs", s: "#/runs/new" }[ev.key];
  if (to) { ev.preventDefault(); go(to); }
  if (ev.key === "?") toast("Keys: j jobs, c clusters, r runs, s submit, f follow the log, [ ] pages, Tab moves, Enter acts");
});
window.addEventListener("hashchange", route);
signout.addEventListener("click", signOut);

(async () => {
  try {
    serverConf = await (await fetch("console-config.json")).json();
  } catch { serverConf = {}; }
  const c = saved() || (serverConf.nats_ws ? { url: serverConf.nats_ws, ws: serverConf.workspace } : null);
  if (!c) return login();
  try {
    await connectWith(c);
  } catch (e) {
    login(`Cannot connect: ${e.message || e}`);
  }
})();
