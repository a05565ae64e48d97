// aliases.js - address aliases of a domain (info@a.test -> one or more
// targets, local or external): list, add, delete.
import * as api from "./api.js";
import { attempt, errorBox, h, table } from "./dom.js";
import { t } from "./i18n.js";
import { domainSelect, labeled, splitList } from "./common.js";

export async function render(ctx) {
  const domain = ctx.params.get("domain") || "";
  const { select, names } = await domainSelect(ctx, domain, (d) => ctx.go("aliases", { domain: d }));
  const local = h("input", { id: "a-local", required: true, placeholder: "info", size: 12 });
  const dom = h("select", { id: "a-domain" }, names.map((n) => h("option", { value: n }, n)));
  if (domain && names.includes(domain)) dom.value = domain;
  const targets = h("input", { id: "a-targets", required: true, placeholder: "bob@a.test, eve@example.org", size: 32 });
  const add = h("form", {
    class: "tools", id: "add-alias",
    onsubmit: async (ev) => {
      ev.preventDefault();
      const address = local.value.trim() + "@" + dom.value;
      if (await attempt(() => api.addAlias(address, splitList(targets.value)), t("added"))) ctx.refresh();
    },
  }, labeled("alias", h("span", { class: "row" }, local, "@", dom)), labeled("targets", targets),
  h("button", { type: "submit" }, t("add_alias")));
  let list;
  try {
    list = await api.aliases(domain);
  } catch (e) {
    return [h("h1", {}, t("nav_aliases")), h("div", { class: "tools" }, labeled("domain", select)), errorBox(e)];
  }
  return [
    h("h1", {}, t("nav_aliases")),
    h("div", { class: "tools" }, labeled("domain", select)),
    add,
    list.length ? table(["alias", "targets", ""], list.map((a) => h("tr", { "data-alias": a.address },
      h("td", {}, a.address),
      h("td", {}, a.targets.map((x) => h("span", { class: "chip" }, x))),
      h("td", {}, h("button", {
        type: "button", class: "danger",
        onclick: async () => { if (await attempt(() => api.delAlias(a.address), t("deleted"))) ctx.refresh(); },
      }, t("delete"))))), { id: "aliases" }) : h("p", { class: "muted" }, t("no_aliases")),
  ];
}
