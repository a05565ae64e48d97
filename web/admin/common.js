// common.js - pieces several pages share: the domain chooser (only the
// domains the admin may see: the API lists a domain admin's own), the
// preferences form (send limits and sender lists of a domain or a user,
// GET/PUT .../prefs) and form-reading helpers.
import * as api from "./api.js";
import { attempt, h } from "./dom.js";
import { t } from "./i18n.js";

// a <select> of the admin's domains; "" = all (system admins only)
export async function domainSelect(ctx, current, onchange, { all = true } = {}) {
  const list = await api.domains();
  const names = list.map((d) => d.name);
  const sel = h("select", { id: "domain", onchange: () => onchange(sel.value) },
    all && !ctx.me.domain ? h("option", { value: "" }, t("all_domains")) : null,
    names.map((n) => h("option", { value: n }, n)));
  // a domain named in the address bar but not listed is still asked for:
  // the API answers (403 for another domain's admin) and the page shows
  // that; the chooser keeps offering only the admin's own domains
  sel.value = current || (all && !ctx.me.domain ? "" : names[0] || "");
  if (current && !names.includes(current)) sel.selectedIndex = -1;
  return { select: sel, names, list };
}

export function labeled(key, input) {
  return h("label", {}, h("span", {}, t(key)), input);
}

export function splitList(s) {
  return s.split(/[\s,;]+/).map((x) => x.trim()).filter(Boolean);
}

export const LIMIT_KEYS = ["send_messages_per_hour", "send_recipients_per_hour", "send_messages_per_day",
  "send_recipients_per_day"];
export const LIST_KEYS = ["sender_allow", "sender_block"];

// a form of the preferences `prefs` (as GET .../prefs gave them); save(body)
// gets only the changed keys, null for a field emptied (back to the default)
export function prefsForm(id, prefs, save) {
  const inputs = {};
  for (const k of LIMIT_KEYS)
    inputs[k] = h("input", { id: id + "-" + k, value: prefs[k] ?? "", placeholder: t("node_default"), size: 10, inputmode: "numeric" });
  for (const k of LIST_KEYS)
    inputs[k] = h("textarea", { id: id + "-" + k, rows: 3, cols: 36 }, prefs[k] ?? "");
  return h("form", {
    class: "form", id,
    onsubmit: async (ev) => {
      ev.preventDefault();
      const body = {};
      for (const [k, el] of Object.entries(inputs)) {
        const v = el.value.trim();
        if (v !== (prefs[k] ?? "")) body[k] = v === "" ? null : v;
      }
      if (!Object.keys(body).length) return;
      await attempt(() => save(body), t("saved"));
    },
  },
  h("p", { class: "muted" }, t("limits_help")),
  h("div", { class: "row" }, LIMIT_KEYS.map((k) => h("label", {}, h("span", {}, t("pref_" + k)), inputs[k]))),
  h("div", { class: "row" }, LIST_KEYS.map((k) => h("label", {}, h("span", {}, t("pref_" + k)), inputs[k]))),
  h("div", { class: "row" }, h("button", { type: "submit", id: id + "-save" }, t("save"))));
}
