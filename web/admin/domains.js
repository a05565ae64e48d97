// domains.js - the domains the admin may see (a domain admin: its own),
// with user counts and domain aliases. System admins add and delete
// domains and domain aliases (mail to x@ALIAS goes to x@DOMAIN); a domain
// that still has users, aliases or groups is refused (409, shown). The
// limits panel (#/domains?limits=D) edits the domain's preferences in the
// directory (GET/PUT /domains/D/prefs): send limits per hour and day for
// each of its users, and sender allow and block lists; and shows its DKIM
// key's DNS record.
import * as api from "./api.js";
import { attempt, confirmAction, errorBox, h, table, time } from "./dom.js";
import { t } from "./i18n.js";
import { labeled, prefsForm } from "./common.js";

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
      h("td", {}, h("a", { href: "#/domains?limits=" + encodeURIComponent(d.name), class: "limits-link" }, t("limits")),
        " ", system ? h("button", {
        type: "button", class: "danger",
        onclick: async () => {
          if (!confirmAction(t("confirm_delete", { name: d.name }))) return;
          if (await attempt(() => api.delDomain(d.name), t("deleted"))) ctx.refresh();
        },
      }, t("delete")) : null))),
    { id: "domains" }));
  out.push(h("p", { class: "muted" }, t("domain_limits_note")));
  const which = ctx.params.get("limits");
  if (which) out.push(await limitsPanel(ctx, which));
  return out;
}

async function limitsPanel(ctx, domain) {
  const title = h("h2", {}, t("limits_of", { domain }));
  let prefs;
  try {
    prefs = await api.domainPrefs(domain);
  } catch (e) {
    return h("div", { class: "panel", id: "limits" }, title, errorBox(e));
  }
  const form = prefsForm("l", prefs, async (body) => {
    await api.setDomainPrefs(domain, body);
    ctx.refresh();
  });
  return h("div", { class: "panel", id: "limits" }, title, form,
    h("h2", {}, t("dkim")), await dkimPart(ctx, domain),
    h("p", {}, h("a", { href: "#/domains" }, t("close"))));
}

// the domain's DKIM key (RFC 6376): the TXT record to publish; system
// admins make a new key or remove it (GET/POST/DELETE /domains/D/dkim)
async function dkimPart(ctx, domain) {
  let key = null;
  try {
    key = await api.dkim(domain);
  } catch (e) {
    if (e.status !== 404) return errorBox(e);
  }
  const system = !ctx.me.domain;
  const make = system ? h("button", {
    type: "button", id: "dkim-new",
    onclick: async () => {
      if (key && !confirmAction(t("confirm_dkim", { domain }))) return;
      if (await attempt(() => api.newDkim(domain), t("dkim_made"))) ctx.refresh();
    },
  }, key ? t("dkim_replace") : t("dkim_new")) : null;
  if (!key) return h("div", { id: "dkim" }, h("p", { class: "muted" }, t("dkim_none")), make);
  return h("div", { id: "dkim" },
    h("p", {}, t("dkim_publish"), " ", h("code", {}, key.dns_name), " (" + key.algorithm + ", " + time(key.created_at) + ")"),
    h("pre", { class: "dns" }, key.dns_txt),
    h("div", { class: "row" }, make, system ? h("button", {
      type: "button", class: "danger",
      onclick: async () => {
        if (!confirmAction(t("confirm_delete", { name: key.dns_name }))) return;
        if (await attempt(() => api.delDkim(domain), t("deleted"))) ctx.refresh();
      },
    }, t("delete")) : null));
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
