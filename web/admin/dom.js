// dom.js - small helpers to build the pages without innerHTML: every text
// from the API goes in through textContent, so an address or a name can
// never become markup.
import { t } from "./i18n.js";

// h("td", {class: "num", onclick: fn}, child, "text", ...)
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function table(headers, rows, attrs = {}) {
  return h("table", { class: "grid", ...attrs },
    h("thead", {}, h("tr", {}, headers.map((x) =>
      typeof x === "string" ? h("th", {}, t(x)) : h("th", x.attrs, t(x.key))))),
    h("tbody", {}, rows));
}

// sizes: bytes -> "1.5 MiB"; "unlimited" for 0 where asked
export function size(n, zeroUnlimited = false) {
  if (n === null || n === undefined) return "—";
  if (zeroUnlimited && n === 0) return t("unlimited");
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return (i === 0 ? String(v) : v.toFixed(v < 10 ? 1 : 0)) + " " + u[i];
}

// the quota as the API takes it back: "100M" for exact multiples
export function sizeInput(n) {
  if (!n) return "0";
  for (const [s, m] of [["G", 1 << 30], ["M", 1 << 20], ["K", 1 << 10]])
    if (n % m === 0) return n / m + s;
  return String(n);
}

export function time(unix) {
  if (!unix) return "—";
  return new Date(unix * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

export function duration(s) {
  const d = Math.floor(s / 86400), hh = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return (d ? d + t("unit_d") + " " : "") + (d || hh ? hh + t("unit_h") + " " : "") + m + t("unit_m") + " " + (s % 60) + t("unit_s");
}

let toastTimer = null;
export function toast(msg, bad = false) {
  const el = document.getElementById("toast");
  el.textContent = msg;
  el.classList.toggle("bad", bad);
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, bad ? 6000 : 2500);
}

// run an API action; show its error (status and reason) instead of throwing
export async function attempt(fn, okMsg) {
  try {
    const r = await fn();
    if (okMsg) toast(okMsg);
    return r === undefined || r === null ? true : r; // 204: no body, still done
  } catch (e) {
    toast(t("failed") + ": " + (e.status ? e.status + " " : "") + e.message, true);
    return undefined;
  }
}

export function errorBox(e) {
  return h("p", { class: "error", role: "alert", "data-status": e.status || "" },
    (e.status ? e.status + " " : "") + e.message);
}

export function confirmAction(msg) { return window.confirm(msg); }
