// run.js: one run: its status, queue position, attempts (exit codes,
// resource use), event history, and its stdout and stderr (logview.js),
// all kept current from the status events and the run's LogChunks.
import { call, subscribe } from "./api.js";
import { h, fmtTime, fmtDur, fmtBytes, badge, short, toast, confirmDo } from "./ui.js";
import { onStatus } from "./live.js";
import { TERMINAL } from "./runs.js";
import { LogView, WINDOW } from "./logview.js";

const cpu = (us) => (us ? `${(us / 1e6).toFixed(2)} s` : "");

export function runView(root, params) {
  const uuid = params.uuid;
  const head = h("div.card#runhead");
  const attempts = h("tbody");
  const events = h("tbody");
  const pre = h("pre.log#log", { tabindex: 0, "aria-label": "log" });
  const info = h("span.loginfo#loginfo", { "aria-live": "polite" });
  const attemptSel = h("select#l-attempt", { "aria-label": "Attempt" });
  const streamSel = h("select#l-stream", { "aria-label": "Stream" }, h("option", "STDOUT"), h("option", "STDERR"));
  const follow = h("input#l-follow", { type: "checkbox", checked: true });
  let run = null;
  let seq = 0;
  const view = new LogView(uuid, pre, (st) => {
    if (st.newAttempt) return setAttempt(st.newAttempt);
    follow.checked = st.follow;
    info.textContent = `bytes ${st.start}–${st.end} of ${st.eof ? "" : "≥ "}${st.known}` +
      `${st.eof ? " (complete)" : ""}${st.busy ? " …" : ""}; window ${fmtBytes(WINDOW)}`;
  });
  const btn = (id, label, fn) => h(`button#${id}`, { type: "button", onclick: fn }, label);
  const logs = h("section.card",
    h("div.bar", h("h2", "Output"), attemptSel, streamSel,
      h("label", follow, " Follow (f)"),
      btn("l-start", "Start", () => { view.follow = false; view.from(0); }),
      btn("l-older", "Older", () => { view.follow = false; view.older(); }),
      btn("l-newer", "Newer", () => view.newer()),
      btn("l-end", "End", () => view.setFollow(true)),
      btn("l-download", "Download", download)),
    info, pre);
  root.append(h("h1", "Run ", h("span.mono", uuid)), head, logs,
    h("section.card", h("h2", "Attempts"), h("table.list#attempts", h("thead", h("tr",
      ["#", "Status", "Reason", "Exit", "Signal", "Started", "Finished", "Wall", "User CPU", "System CPU", "Max RSS"].map((t) => h("th", t)))), attempts)),
    h("section.card", h("h2", "Events"), h("table.list#events", h("thead", h("tr",
      ["Seq", "At", "From", "To", "Reason", "Attempt", "Exit"].map((t) => h("th", t)))), events)));

  follow.addEventListener("change", () => view.setFollow(follow.checked));
  const pick = () => view.select(Number(attemptSel.value), streamSel.value);
  attemptSel.addEventListener("change", () => { view.follow = false; pick(); });
  streamSel.addEventListener("change", pick);

  function setAttempt(n) {
    if (![...attemptSel.options].some((o) => Number(o.value) === n)) attemptSel.append(h("option", { value: n }, `attempt ${n}`));
    attemptSel.value = String(n);
    pick();
  }

  async function download() {
    try {
      const b = await view.blob();
      const a = h("a", { href: URL.createObjectURL(b), download: `${uuid}.${view.attempt}.${view.stream.toLowerCase()}.log` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    } catch (e) { toast(e.message, true); }
  }

  function drawHead(r) {
    const kv = (k, v) => [h("dt", k), h("dd", v)];
    head.replaceChildren(h("dl.kv",
      kv("Status", [badge(r.status), " ", r.reason_text]),
      r.status === "PENDING" && r.queue_position ? kv("Queue position", h("span#qpos", r.queue_position)) : null,
      kv("Definition", r.job_definition_uuid ? h("a#defname", { href: `#/jobs/edit/${r.job_definition_uuid}`, title: r.job_definition_uuid }, defName || short(r.job_definition_uuid)) : "SQL"),
      kv("Cluster", [h("a", { href: `#/runs?cluster=${r.cluster_uuid}`, title: r.cluster_uuid }, clName || short(r.cluster_uuid)), r.ephemeral_cluster ? " (ephemeral)" : ""]),
      kv("Type", r.type), kv("Attempt", r.attempt), kv("Exit code", r.exit_code ?? ""),
      kv("Submitted", fmtTime(r.submitted_at_ms)), kv("Started", fmtTime(r.started_at_ms)), kv("Finished", fmtTime(r.finished_at_ms)),
      r.args !== undefined && r.args !== null ? kv("Arguments", r.args) : null,
      kv("Output", fmtBytes(r.log_bytes || 0))),
    TERMINAL.has(r.status) ? "" : h("button.danger#cancel", { onclick: () => confirmDo("Cancel this run?", async () => {
      await call("run.cancel", { uuid });
      toast("Cancelling");
    }) }, "Cancel run"));
    attempts.replaceChildren(...r.attempts.map((a) => h("tr",
      h("td.num", a.attempt), h("td", badge(a.status)), h("td", a.reason_text), h("td.num", a.exit_code ?? ""), h("td.num", a.signal || ""),
      h("td", fmtTime(a.started_at_ms)), h("td", fmtTime(a.finished_at_ms)), h("td", a.usage ? fmtDur(a.usage.wall_ms) : ""),
      h("td", cpu(a.usage?.user_cpu_us)), h("td", cpu(a.usage?.system_cpu_us)), h("td", a.usage?.max_rss_kb ? fmtBytes(a.usage.max_rss_kb * 1024) : ""))));
  }

  let defName = "", clName = "";
  async function names(r) {
    const [d, c] = await Promise.all([
      r.job_definition_uuid ? call("jobdef.get", { uuid: r.job_definition_uuid }).catch(() => null) : null,
      call("cluster.get", { uuid: r.cluster_uuid }).catch(() => null)]);
    defName = d?.job_definition?.name || "";
    clName = c?.cluster?.name || "";
  }

  async function refresh() {
    const [r, e] = await Promise.all([call("run.get", { uuid }), call("run.events", { uuid })]);
    if (!run) await names(r.job_run);
    run = r.job_run;
    drawHead(run);
    events.replaceChildren(...e.events.map((v) => h("tr", h("td.num", v.seq), h("td", fmtTime(v.at_ms)),
      h("td", v.previous_status === "JOB_RUN_STATUS_UNSPECIFIED" ? "" : v.previous_status), h("td", badge(v.status)),
      h("td", v.reason_text), h("td.num", v.attempt || ""), h("td.num", v.exit_code ?? ""))));
    seq = Math.max(seq, ...e.events.map((v) => v.seq));
    for (let n = 1; n <= run.attempt; n++)
      if (![...attemptSel.options].some((o) => Number(o.value) === n)) attemptSel.append(h("option", { value: n }, `attempt ${n}`));
  }

  let timer = null;
  const later = () => { if (!timer) timer = setTimeout(() => { timer = null; refresh().catch(() => {}); }, 200); };
  const off = onStatus((ev) => {
    if (ev.run_uuid === uuid ? ev.seq > seq : run && run.status === "PENDING" && ev.cluster_uuid === run.cluster_uuid) later();
  });
  const sub = subscribe(`logs.${uuid}`, "LogChunk", (c) => view.live(c));
  const keys = (ev) => {
    if (ev.target.closest("input, textarea, select") || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "f") view.setFollow(!view.follow);
  };
  document.addEventListener("keydown", keys);
  refresh().then(() => {
    if (run.attempt > 0) setAttempt(run.attempt);
  }).catch((e) => toast(e.message, true));
  return () => { off(); sub.unsubscribe(); clearTimeout(timer); document.removeEventListener("keydown", keys); view.reset(); };
}
