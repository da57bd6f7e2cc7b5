// clusters.js: the Clusters page: state, queued runs, the active run;
// create, pause, resume, cancel all of its runs, delete. Refreshed when a
// status event shows a run moving.
import { call } from "./api.js";
import { h, field, showError, clearErrors, toast, confirmDo, short, fmtTime } from "./ui.js";
import { onStatus } from "./live.js";

export function clustersView(root) {
  const tokens = [""];
  const body = h("tbody");
  const pager = h("div.pager");
  const f = {
    name: h("input#cl-name", { autocomplete: "off" }),
    inst: h("input#cl-inst", { value: "local" }),
    workers: h("input#cl-workers", { type: "number", min: 1, value: 1 }),
    version: h("input#cl-version", { value: "3" }),
    auto: h("input#cl-auto", { type: "checkbox", checked: true }),
  };
  const form = h("form.card.inline#clform", { novalidate: true },
    h("div.formerr", { role: "alert" }),
    field("Name", "name", f.name), field("Instance type", "config.instance_type", f.inst),
    field("Workers", "config.workers_quantity", f.workers), field("Version", "config.version", f.version),
    field("Auto resume", "auto_resume", f.auto),
    h("button.primary#cl-create", { type: "submit" }, "Create cluster"));
  root.append(h("div.bar", h("h1", "Clusters")), form,
    h("table.list#clusters", h("thead", h("tr", ["Name", "UUID", "State", "Queued", "Active run", "Instance", "Workers", "Version", "Created", ""].map((t) => h("th", t)))), body),
    pager);

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    try {
      const r = await call("cluster.create", { name: f.name.value, auto_resume: f.auto.checked,
        config: { instance_type: f.inst.value, workers_quantity: Number(f.workers.value || 0), version: f.version.value } });
      toast(`Created cluster ${r.cluster.name}`);
      f.name.value = "";
      load();
    } catch (e) { showError(form, e); }
  });

  async function act(verb, c, what) {
    try {
      await call(verb, { uuid: c.uuid });
      toast(`${what} ${c.name}`);
      load();
    } catch (e) { toast(e.message, true); }
  }

  function row(c) {
    const running = c.state === "RUNNING";
    return h("tr", { "data-uuid": c.uuid, "data-name": c.name },
      h("td", h("a", { href: `#/runs?cluster=${c.uuid}` }, c.name)),
      h("td.mono", { title: c.uuid }, short(c.uuid)),
      h("td", h("span.badge.s-" + (running ? "running" : "paused"), c.state), c.ephemeral ? " ephemeral" : ""),
      h("td.num", c.queued),
      h("td", c.active_run_uuid ? h("a.mono", { href: `#/run/${c.active_run_uuid}` }, short(c.active_run_uuid)) : ""),
      h("td", c.config?.instance_type), h("td.num", c.config?.workers_quantity), h("td", c.config?.version),
      h("td", fmtTime(c.created_at_ms)),
      h("td.actions",
        running ? h("button", { onclick: () => act("cluster.pause", c, "Paused") }, "Pause")
          : h("button", { onclick: () => act("cluster.resume", c, "Resumed") }, "Resume"),
        h("a.button", { href: `#/runs/new?cluster=${c.uuid}` }, "Submit"),
        h("button", { onclick: () => confirmDo(`Cancel every run of cluster ${c.name}?`, async () => {
          const r = await call("run.cancel_all", { cluster_uuids: [c.uuid] });
          toast(`Cancelled ${r.cancelled} run(s) of ${c.name}`);
          load();
        }) }, "Cancel all"),
        h("button.danger", { onclick: () => confirmDo(`Delete cluster ${c.name}?`, () => act("cluster.delete", c, "Deleted")) }, "Delete")));
  }

  async function load() {
    const r = await call("cluster.list", { page_size: 50, page_token: tokens[tokens.length - 1] });
    body.replaceChildren(...r.clusters.map(row));
    if (!r.clusters.length) body.append(h("tr", h("td.empty", { colspan: 10 }, "No clusters yet.")));
    pager.replaceChildren(
      h("button", { disabled: tokens.length < 2, onclick: () => { tokens.pop(); load(); } }, "Previous page"),
      h("button", { disabled: !r.next_page_token, onclick: () => { tokens.push(r.next_page_token); load(); } }, "Next page"));
  }

  let timer = null;
  const off = onStatus(() => {
    if (!timer) timer = setTimeout(() => { timer = null; load().catch(() => {}); }, 500);
  });
  load().catch((e) => toast(e.message, true));
  return () => { off(); clearTimeout(timer); };
}
