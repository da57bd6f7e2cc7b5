// jobs.js: the Jobs page (job definitions: list, delete) and the form that
// creates or edits one, field by field or from pasted batchctl JSON.
import { call } from "./api.js";
import { h, field, fmtTime, showError, clearErrors, toast, confirmDo, short } from "./ui.js";
import { pasted, parseEnv, formatEnv } from "./conf.js";

const PAGE = 50;

export function jobsView(root, params) {
  const tokens = [""];
  const body = h("tbody");
  const more = h("div.pager");
  root.append(h("div.bar", h("h1", "Jobs"),
    h("a.button#new-job", { href: "#/jobs/new", accesskey: "n" }, "New definition")),
  h("table.list#jobs", h("thead", h("tr", ["Name", "UUID", "Type", "Source", "Location", "Updated", ""].map((t) => h("th", t)))), body),
  more);

  async function load() {
    const r = await call("jobdef.list", { page_size: PAGE, page_token: tokens[tokens.length - 1] });
    body.replaceChildren(...r.job_definitions.map(row));
    if (!r.job_definitions.length) body.append(h("tr", h("td.empty", { colspan: 7 }, "No job definitions yet.")));
    more.replaceChildren(
      h("button", { disabled: tokens.length < 2, onclick: () => { tokens.pop(); load(); } }, "Previous page"),
      h("button", { disabled: !r.next_page_token, onclick: () => { tokens.push(r.next_page_token); load(); } }, "Next page"));
  }

  function row(d) {
    const c = d.config || {};
    const src = c.source || {};
    const loc = src.workspace?.path ?? src.git?.repo_url ?? src.s3?.bucket_path ?? "";
    return h("tr", { "data-uuid": d.uuid, "data-name": d.name },
      h("td", h("a", { href: `#/jobs/edit/${d.uuid}` }, d.name)),
      h("td.mono", { title: d.uuid }, short(d.uuid)),
      h("td", c.type), h("td", `${src.type} ${loc}`), h("td", c.source_location),
      h("td", fmtTime(d.updated_at_ms)),
      h("td.actions",
        h("a.button", { href: `#/runs/new?def=${d.uuid}` }, "Run"),
        h("a.button", { href: `#/runs?def=${d.uuid}` }, "Runs"),
        h("button.danger", { onclick: () => confirmDo(`Delete job definition ${d.name}?`, async () => {
          await call("jobdef.delete", { uuid: d.uuid });
          toast(`Deleted ${d.name}`);
          load();
        }) }, "Delete")));
  }
  load().catch((e) => toast(e.message, true));
}

// ---------------------------------------------------------------- the form

const num = (name, step) => h("input", { type: "number", min: 0, step: step || 1, name });

function formFields() {
  const f = {
    name: h("input", { name: "name", required: true, autocomplete: "off" }),
    description: h("input", { name: "description" }),
    srcType: h("select", { name: "source_type" }, ["WORKSPACE", "GIT", "S3"].map((t) => h("option", t))),
    wsPath: h("input", { name: "ws_path" }),
    gitUrl: h("input", { name: "git_url" }), gitUser: h("input", { name: "git_user" }),
    gitToken: h("input", { name: "git_token", type: "password", autocomplete: "off" }),
    gitRef: h("input", { name: "git_ref" }),
    s3Path: h("input", { name: "s3_path" }), s3Region: h("input", { name: "s3_region" }),
    type: h("select", { name: "type" }, ["PYTHON", "SQL"].map((t) => h("option", t))),
    location: h("input", { name: "source_location" }),
    args: h("input", { name: "args" }),
    retries: num("num_retries"), delay: num("retry_delay", "any"),
    onTimeout: h("input", { type: "checkbox", name: "retry_on_timeout" }),
    timeout: num("timeout", "any"),
    env: h("textarea", { name: "env", rows: 3, placeholder: "NAME=value, one a line" }),
    inst: h("input", { name: "instance_type" }), workers: num("workers"), version: h("input", { name: "version" }),
    paste: h("textarea", { name: "paste", rows: 6, placeholder: '{"source": {"type": "WORKSPACE", "definition": {"path": "jobs"}}, "type": "PYTHON", "sourceLocation": "etl.py", ...}' }),
  };
  return f;
}

function fill(f, d) {
  const c = d.config || {};
  const s = c.source || {};
  const r = c.retry_strategy || {};
  if (d.name !== undefined) f.name.value = d.name;
  if (d.description !== undefined) f.description.value = d.description;
  f.srcType.value = s.type && s.type !== "SOURCE_TYPE_UNSPECIFIED" ? s.type : "WORKSPACE";
  f.wsPath.value = s.workspace?.path || "";
  f.gitUrl.value = s.git?.repo_url || ""; f.gitUser.value = s.git?.username || "";
  f.gitToken.value = s.git?.token || ""; f.gitRef.value = s.git?.reference || "";
  f.s3Path.value = s.s3?.bucket_path || ""; f.s3Region.value = s.s3?.region || "";
  f.type.value = c.type && c.type !== "JOB_TYPE_UNSPECIFIED" ? c.type : "PYTHON";
  f.location.value = c.source_location || "";
  f.args.value = c.args || "";
  f.retries.value = r.num_retries ?? "";
  f.delay.value = r.retry_delay_seconds !== undefined && r.retry_delay_seconds !== null ? r.retry_delay_seconds / 60 : "";
  f.onTimeout.checked = !!r.auto_retry_on_timeout;
  f.timeout.value = c.timeout_seconds !== undefined && c.timeout_seconds !== null ? c.timeout_seconds / 60 : "";
  f.env.value = formatEnv(c.env);
  const cc = d.cluster_config || {};
  f.inst.value = cc.instance_type || ""; f.workers.value = cc.workers_quantity || ""; f.version.value = cc.version || "";
  showSource(f);
}

function showSource(f) {
  for (const [t, el] of [["WORKSPACE", f.wsBox], ["GIT", f.gitBox], ["S3", f.s3Box]])
    el.hidden = f.srcType.value !== t;
}

// The form's values as {description, config, cluster_config|null}.
function read(f) {
  const t = f.srcType.value;
  const source = { type: t };
  if (t === "WORKSPACE") source.workspace = { path: f.wsPath.value };
  if (t === "GIT") source.git = { repo_url: f.gitUrl.value, username: f.gitUser.value, token: f.gitToken.value, reference: f.gitRef.value };
  if (t === "S3") source.s3 = { bucket_path: f.s3Path.value, region: f.s3Region.value };
  const retry = {};
  if (f.retries.value !== "") retry.num_retries = Number(f.retries.value);
  if (f.delay.value !== "") retry.retry_delay_seconds = Math.round(Number(f.delay.value) * 60);
  retry.auto_retry_on_timeout = f.onTimeout.checked;
  const config = { source, type: f.type.value, source_location: f.location.value, args: f.args.value,
    retry_strategy: retry, env: parseEnv(f.env.value, "config.env") };
  if (f.timeout.value !== "") config.timeout_seconds = Math.round(Number(f.timeout.value) * 60);
  const any = f.inst.value || f.workers.value || f.version.value;
  const cluster_config = any ? { instance_type: f.inst.value, workers_quantity: Number(f.workers.value || 0), version: f.version.value } : null;
  return { description: f.description.value, config, cluster_config };
}

export function jobFormView(root, params, go) {
  const uuid = params.uuid;
  const f = formFields();
  f.wsBox = h("fieldset.sub", h("legend", "Workspace"), field("Path in the workspace", "config.source.workspace.path", f.wsPath));
  f.gitBox = h("fieldset.sub", h("legend", "Git"),
    field("Repository URL", "config.source.git.repo_url", f.gitUrl), field("Username", "config.source.git.username", f.gitUser),
    field("Access token", "config.source.git.token", f.gitToken), field("Reference", "config.source.git.reference", f.gitRef, "branch, tag or commit; empty: the default branch"));
  f.s3Box = h("fieldset.sub", h("legend", "S3"),
    field("Bucket path", "config.source.s3.bucket_path", f.s3Path, "bucket/key/prefix"), field("Region", "config.source.s3.region", f.s3Region));
  f.srcType.addEventListener("change", () => showSource(f));
  const form = h("form.card#jobform", { novalidate: true },
    h("div.formerr", { role: "alert" }),
    field("Name", "name", f.name), field("Description", "description", f.description),
    h("fieldset", h("legend", "Configuration"),
      field("Source type", "config.source.type", f.srcType), f.wsBox, f.gitBox, f.s3Box,
      field("Type", "config.type", f.type),
      field("Source location", "config.source_location", f.location, "the .py or .sql file, relative to the source"),
      field("Arguments", "config.args", f.args, "split like a shell splits words"),
      h("fieldset.sub", h("legend", "Retry strategy"),
        field("Number of retries", "config.retry_strategy.num_retries", f.retries, "default 0"),
        field("Retry delay (minutes)", "config.retry_strategy.retry_delay_seconds", f.delay, "default 1"),
        field("Auto retry on timeout", "config.retry_strategy.auto_retry_on_timeout", f.onTimeout)),
      field("Timeout (minutes)", "config.timeout_seconds", f.timeout, "per attempt; default 60"),
      field("Environment variables", "config.env", f.env)),
    h("fieldset", h("legend", "Default cluster configuration (optional)"),
      field("Instance type", "cluster_config.instance_type", f.inst),
      field("Workers quantity", "cluster_config.workers_quantity", f.workers),
      field("Version", "cluster_config.version", f.version)),
    h("div.bar", h("button.primary#save", { type: "submit" }, uuid ? "Save" : "Create"),
      h("a.button", { href: "#/jobs" }, "Cancel")));
  const pasteBox = h("details.card", h("summary", "Paste the JSON batchctl accepts"),
    field("Configuration JSON", "", f.paste),
    h("button#fill", { type: "button", onclick: () => {
      try { fill(f, Object.assign(read(f), { name: f.name.value }, pasted(f.paste.value))); clearErrors(form); toast("Form filled from the JSON"); } catch (e) { showError(form, e); }
    } }, "Fill the form"));
  root.append(h("h1", uuid ? "Edit job definition" : "New job definition"), pasteBox, form);
  fill(f, {});

  if (uuid) {
    f.name.disabled = true;
    call("jobdef.get", { uuid }).then((r) => fill(f, r.job_definition)).catch((e) => showError(form, e));
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    try {
      const v = read(f);
      let r;
      if (uuid) {
        const req = { uuid, description: v.description, config: v.config };
        if (v.cluster_config) req.cluster_config = v.cluster_config;
        else req.clear_cluster_config = true;
        r = await call("jobdef.update", req);
      } else {
        const req = { name: f.name.value, description: v.description, config: v.config };
        if (v.cluster_config) req.cluster_config = v.cluster_config;
        r = await call("jobdef.create", req);
      }
      toast(`Saved ${r.job_definition.name}`);
      go("#/jobs");
    } catch (e) {
      showError(form, e);
    }
  });
  f.name.focus();
}
