// domains.js - the domains the admin may see (a domain admin: its own),
// with user counts and domain aliases. System admins add and delete
// domains and domain aliases (mail to x@ALIAS goes to x@DOMAIN); a domain
// that still has users, aliases or groups is refused (409, shown).
import * as api from "./api.js";
import { attempt, confirmAction, h, table, time } from "./dom.js";
import { t } from "./i18n.js";
import { labeled } from "./common.js";

export async function render(ctx) {
  const list = await api.domains();
  const system = !ctx.me.domain;
  const out = [h("h1", {}, t("nav_domains"))];
  if (system) {
    const name = h("input", { id: "new-domain", placeholder: "example.org", required: true });
    out.push(h("form", {
      class: "tools", id: "add-domain",
      onsubmit: async (ev) => {
        ev.preventDefault();
        if (await attempt(() => api.addDomain(name.value.trim()), t("domain_added", { name: name.value.trim() })))
          ctx.refresh();
      },
    }, labeled("new_domain", name), h("button", { type: "submit" }, t("add"))));
  }
  out.push(table(["domain", { key: "users", attrs: { class: "num" } }, "domain_aliases", "created", ""],
    list.map((d) => h("tr", { "data-domain": d.name },
      h("td", {}, h("a", { href: "#/users?domain=" + encodeURIComponent(d.name) }, d.name)),
      h("td", { class: "num" }, d.users),
      h("td", {}, d.aliases.map((a) => h("span", { class: "chip" }, a,
        system ? h("button", {
          type: "button", class: "danger", title: t("delete"), "aria-label": t("delete") + " " + a,
          onclick: async () => {
            if (await attempt(() => api.delDomainAlias(d.name, a), t("deleted"))) ctx.refresh();
          },
        }, "×") : null)),
      system ? aliasForm(ctx, d.name) : null),
      h("td", {}, time(d.created_at)),
      h("td", {}, system ? h("button", {
        type: "button", class: "danger",
        onclick: async () => {
          if (!confirmAction(t("confirm_delete", { name: d.name }))) return;
          if (await attempt(() => api.delDomain(d.name), t("deleted"))) ctx.refresh();
        },
      }, t("delete")) : null))),
    { id: "domains" }));
  out.push(h("p", { class: "muted" }, t("domain_limits_note")));
  return out;
}

function aliasForm(ctx, domain) {
  const alias = h("input", { placeholder: t("alias_domain"), size: 16, "aria-label": t("alias_domain") });
  return h("form", {
    class: "row",
    onsubmit: async (ev) => {
      ev.preventDefault();
      if (await attempt(() => api.addDomainAlias(domain, alias.value.trim()), t("added"))) ctx.refresh();
    },
  }, alias, h("button", { type: "submit" }, t("add_alias")));
}
