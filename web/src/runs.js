// runs.js: the Runs page (filtered by status, cluster and definition, a
// page at a time with page tokens, statuses changed live by the status
// events; cancel) and the form that submits a run.
import { call, listAll, enumNames } from "./api.js";
import { h, field, fmtTime, fmtDur, badge, short, toast, showError, clearErrors, confirmDo } from "./ui.js";
import { onStatus } from "./live.js";
import { parseEnv } from "./conf.js";

const PAGE = 50;
export const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);

// uuid -> name of definitions and clusters, for the tables and the pickers.
export async function names() {
  const [defs, cls] = await Promise.all([listAll("jobdef.list", "job_definitions"), listAll("cluster.list", "clusters")]);
  return { defs, cls, def: new Map(defs.map((d) => [d.uuid, d.name])), cl: new Map(cls.map((c) => [c.uuid, c.name])) };
}

const opt = (v, label, sel) => h("option", { value: v, selected: v === sel }, label);

export function runsView(root, params, go) {
  const tokens = [""];
  const rows = new Map();
  const body = h("tbody");
  const pager = h("div.pager");
  const fresh = h("button#fresh", { hidden: true, onclick: () => { tokens.length = 1; load(); } });
  let newCount = 0;
  let nm = { def: new Map(), cl: new Map() };
  const status = h("select#f-status", { "aria-label": "Status" }, opt("", "any status"),
    enumNames("JobRunStatus").slice(1).map((s) => opt(s, s, params.status)));
  const cluster = h("select#f-cluster", { "aria-label": "Cluster" }, opt("", "any cluster"));
  const def = h("select#f-def", { "aria-label": "Definition" }, opt("", "any definition"));
  const filters = h("form.filters", { onchange: () => go(`#/runs?${new URLSearchParams(
    Object.entries({ status: status.value, cluster: cluster.value, def: def.value }).filter(([, v]) => v))}`) },
  status, cluster, def);
  root.append(h("div.bar", h("h1", "Runs"), h("a.button#new-run", { href: "#/runs/new", accesskey: "n" }, "Submit a run")),
    filters, fresh,
    h("table.list#runs", h("thead", h("tr", ["Run", "Status", "Reason", "Definition", "Cluster", "Attempt", "Exit", "Submitted", "Duration", ""].map((t) => h("th", t)))), body),
    pager);

  function cells(tr, r) {
    tr.dataset.status = r.status;
    tr.children[1].replaceChildren(badge(r.status));
    tr.children[2].textContent = r.reason_text || "";
    tr.children[5].textContent = r.attempt || "";
    tr.children[6].textContent = r.exit_code ?? "";
    tr.children[9].replaceChildren(TERMINAL.has(r.status) ? "" : h("button", { onclick: () => confirmDo(`Cancel run ${short(r.uuid)}?`, async () => {
      await call("run.cancel", { uuid: r.uuid });
      toast(`Cancelling ${short(r.uuid)}`);
    }) }, "Cancel"));
  }

  function row(r) {
    const tr = h("tr", { "data-uuid": r.uuid },
      h("td", h("a.mono", { href: `#/run/${r.uuid}` }, short(r.uuid))), h("td"), h("td"),
      h("td", r.job_definition_uuid ? nm.def.get(r.job_definition_uuid) || short(r.job_definition_uuid) : "SQL"),
      h("td", nm.cl.get(r.cluster_uuid) || short(r.cluster_uuid)),
      h("td.num"), h("td.num"), h("td", fmtTime(r.submitted_at_ms)),
      h("td", r.finished_at_ms && r.started_at_ms ? fmtDur(r.finished_at_ms - r.started_at_ms) : ""), h("td.actions"));
    cells(tr, r);
    rows.set(r.uuid, { tr, seq: r.event_seq, r });
    return tr;
  }

  async function load() {
    const r = await call("run.list", { status: params.status || "JOB_RUN_STATUS_UNSPECIFIED",
      cluster_uuid: params.cluster || "", job_definition_uuid: params.def || "",
      page_size: PAGE, page_token: tokens[tokens.length - 1] });
    rows.clear();
    newCount = 0;
    fresh.hidden = true;
    body.replaceChildren(...r.job_runs.map(row));
    if (!r.job_runs.length) body.append(h("tr", h("td.empty", { colspan: 10 }, "No runs.")));
    pager.replaceChildren(h("span", `page ${tokens.length}`),
      h("button#prev", { disabled: tokens.length < 2, onclick: () => { tokens.pop(); load(); } }, "Previous page"),
      h("button#next", { disabled: !r.next_page_token, onclick: () => { tokens.push(r.next_page_token); load(); } }, "Next page"));
  }

  const off = onStatus((ev) => {
    const known = rows.get(ev.run_uuid);
    if (known) {
      if (ev.seq <= known.seq) return;
      known.seq = ev.seq;
      Object.assign(known.r, { status: ev.status, reason_text: ev.reason_text, attempt: ev.attempt });
      if (ev.exit_code !== undefined && ev.exit_code !== null) known.r.exit_code = ev.exit_code;
      cells(known.tr, known.r);
    } else if (ev.seq === 1 && tokens.length === 1 && (!params.cluster || params.cluster === ev.cluster_uuid) &&
        (!params.def || params.def === ev.job_definition_uuid) && (!params.status || params.status === ev.status)) {
      fresh.hidden = false;
      fresh.textContent = `${++newCount} new run(s): show`;
    }
  });
  names().then((n) => {
    nm = n;
    cluster.append(...n.cls.map((c) => opt(c.uuid, c.name, params.cluster)));
    def.append(...n.defs.map((d) => opt(d.uuid, d.name, params.def)));
  }).catch(() => {}).finally(() => load().catch((e) => toast(e.message, true)));
  const keys = (ev) => {
    if (ev.target.closest("input, textarea, select")) return;
    if (ev.key === "]") pager.querySelector("#next")?.click();
    if (ev.key === "[") pager.querySelector("#prev")?.click();
  };
  document.addEventListener("keydown", keys);
  return () => { off(); document.removeEventListener("keydown", keys); };
}

export function submitView(root, params, go) {
  const def = h("select#s-def", { required: true });
  const cluster = h("select#s-cluster", opt("", "a new cluster from the definition's configuration"));
  const override = h("input#s-override", { type: "checkbox" });
  const args = h("input#s-args", { disabled: true });
  override.addEventListener("change", () => { args.disabled = !override.checked; });
  const env = h("textarea#s-env", { rows: 3, placeholder: "NAME=value, one a line" });
  const key = h("input#s-key", { autocomplete: "off" });
  const form = h("form.card#submitform", { novalidate: true }, h("div.formerr", { role: "alert" }),
    field("Job definition", "job_definition_uuid", def), field("Cluster", "cluster_uuid", cluster),
    h("div.field", h("label", override, " Override the arguments"), field("Arguments", "args", args)),
    field("Environment overrides", "env", env), field("Idempotency key (optional)", "idempotency_key", key),
    h("div.bar", h("button.primary#s-submit", { type: "submit" }, "Submit"), h("a.button", { href: "#/runs" }, "Cancel")));
  root.append(h("h1", "Submit a run"), form);
  names().then((n) => {
    def.append(...n.defs.map((d) => opt(d.uuid, d.name, params.def)));
    cluster.append(...n.cls.map((c) => opt(c.uuid, `${c.name} (${c.state}, ${c.queued} queued)`, params.cluster)));
    def.focus();
  }).catch((e) => showError(form, e));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    try {
      const req = { job_definition_uuid: def.value, cluster_uuid: cluster.value, env: parseEnv(env.value, "env"), idempotency_key: key.value };
      if (override.checked) req.args = args.value;
      const r = await call("run.submit", req);
      toast(`Submitted ${short(r.job_run.uuid)}`);
      go(`#/run/${r.job_run.uuid}`);
    } catch (e) { showError(form, e); }
  });
}
