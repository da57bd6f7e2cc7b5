// ui.js: small DOM helpers, formats, and batchd's errors shown beside the
// field they name.

// h("tag.class#id", {attrs, onclick: fn}, ...children)
export function h(spec, attrs, ...kids) {
  const m = spec.match(/^([a-z0-9]+)?((?:[.#][\w-]+)*)$/i);
  const el = document.createElement(m[1] || "div");
  for (const p of (m[2] || "").match(/[.#][\w-]+/g) || [])
    p[0] === "." ? el.classList.add(p.slice(1)) : (el.id = p.slice(1));
  if (attrs !== null && attrs !== undefined && attrs !== false &&
      (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    kids.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, kids);
  return el;
}

function append(el, kids) {
  for (const k of kids) {
    if (k === null || k === undefined || k === false) continue;
    if (Array.isArray(k)) append(el, k);
    else el.append(k instanceof Node ? k : String(k));
  }
}

export function fmtTime(ms) {
  if (!ms) return "";
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function fmtDur(ms) {
  if (ms === null || ms === undefined || ms < 0) return "";
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  const u = ["KiB", "MiB", "GiB", "TiB"];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
  return `${n.toFixed(n < 10 ? 1 : 0)} ${u[i]}`;
}

// UUIDs begin with their time (v7): the tail tells them apart.
export const short = (uuid) => (uuid ? "…" + uuid.slice(-12) : "");

export const badge = (status) => h("span.badge.s-" + String(status).toLowerCase(), status);

// A transient message at the bottom of the page (role=status).
export function toast(msg, bad) {
  const t = document.getElementById("toast");
  t.textContent = msg;
  t.className = bad ? "bad" : "";
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.textContent = ""), 6000);
}

export function clearErrors(form) {
  for (const e of form.querySelectorAll(".ferr")) e.remove();
  for (const e of form.querySelectorAll("[aria-invalid]")) e.removeAttribute("aria-invalid");
  const top = form.querySelector(".formerr");
  if (top) top.textContent = "";
}

// Show err (an ApiError or any Error) in form: at the top, and beside the
// input whose data-field is the error's field or the longest prefix of it
// ("config.env[A]" goes to "config.env").
export function showError(form, err) {
  clearErrors(form);
  const top = form.querySelector(".formerr");
  const msg = err.code ? `${err.code}: ${err.message}` : String(err.message || err);
  if (top) top.textContent = msg;
  if (!err.field) return null;
  let best = null;
  for (const el of form.querySelectorAll("[data-field]")) {
    const f = el.dataset.field;
    if (err.field === f || err.field.startsWith(f + ".") || err.field.startsWith(f + "[")) {
      if (!best || f.length > best.dataset.field.length) best = el;
    }
  }
  if (!best) return null;
  best.setAttribute("aria-invalid", "true");
  const note = h("span.ferr", { role: "alert" }, `${err.field}: ${err.message}`);
  const box = best.closest(".field");
  if (box) box.append(note);
  else best.after(note);
  best.focus();
  return note;
}

// A labelled input: field(label, data-field, input element, hint)
export function field(label, name, input, hint) {
  if (name) input.dataset.field = name;
  return h("label.field", h("span.lbl", label), input, hint ? h("small", hint) : null);
}

export async function confirmDo(what, fn) {
  if (!window.confirm(what)) return;
  try { await fn(); } catch (e) { toast(e.message, true); }
}
