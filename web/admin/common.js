// common.js - pieces several pages share: the domain chooser (only the
// domains the admin may see: the API lists a domain admin's own) and
// form-reading helpers.
import * as api from "./api.js";
import { h } from "./dom.js";
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
