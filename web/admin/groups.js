// groups.js - distribution groups with their members (users, aliases,
// other groups - no cycles, the API refuses them with 409 - or external
// addresses). The built-in everyone@DOMAIN is kept by the directory and
// cannot be changed here.
import * as api from "./api.js";
import { attempt, errorBox, h, table } from "./dom.js";
import { t } from "./i18n.js";
import { domainSelect, labeled } from "./common.js";

export async function render(ctx) {
  const domain = ctx.params.get("domain") || "";
  const { select, names } = await domainSelect(ctx, domain, (d) => ctx.go("groups", { domain: d }));
  const local = h("input", { id: "g-local", required: true, placeholder: "staff", size: 12 });
  const dom = h("select", { id: "g-domain" }, names.map((n) => h("option", { value: n }, n)));
  if (domain && names.includes(domain)) dom.value = domain;
  const gname = h("input", { id: "g-name", placeholder: "Staff" });
  const add = h("form", {
    class: "tools", id: "add-group",
    onsubmit: async (ev) => {
      ev.preventDefault();
      const address = local.value.trim() + "@" + dom.value;
      if (await attempt(() => api.addGroup(address, gname.value.trim() || undefined), t("added"))) ctx.refresh();
    },
  }, labeled("group", h("span", { class: "row" }, local, "@", dom)), labeled("name", gname),
  h("button", { type: "submit" }, t("add_group")));
  let list;
  try {
    list = await api.groups(domain);
  } catch (e) {
    return [h("h1", {}, t("nav_groups")), h("div", { class: "tools" }, labeled("domain", select)), errorBox(e)];
  }
  const rows = list.map((g) => {
    const member = h("input", { placeholder: "bob@a.test", size: 18, "aria-label": t("add_member") });
    return h("tr", { "data-group": g.address },
      h("td", {}, g.address, g.builtin ? h("span", { class: "muted" }, " (" + t("builtin") + ")") : null),
      h("td", {}, g.name || ""),
      h("td", {}, g.members.map((m) => h("span", { class: "chip" }, m, g.builtin ? null : h("button", {
        type: "button", class: "danger", "aria-label": t("remove") + " " + m,
        onclick: async () => { if (await attempt(() => api.delMember(g.address, m), t("deleted"))) ctx.refresh(); },
      }, "×"))),
      g.builtin ? null : h("form", {
        class: "row",
        onsubmit: async (ev) => {
          ev.preventDefault();
          if (await attempt(() => api.addMember(g.address, member.value.trim()), t("added"))) ctx.refresh();
        },
      }, member, h("button", { type: "submit" }, t("add_member")))),
      h("td", {}, g.builtin ? null : h("button", {
        type: "button", class: "danger",
        onclick: async () => { if (await attempt(() => api.delGroup(g.address), t("deleted"))) ctx.refresh(); },
      }, t("delete"))));
  });
  return [
    h("h1", {}, t("nav_groups")),
    h("div", { class: "tools" }, labeled("domain", select)),
    add,
    list.length ? table(["group", "name", "members", ""], rows, { id: "groups" }) : h("p", { class: "muted" }, t("no_groups")),
  ];
}
