// domains.js - the domains the admin may see (a domain admin: its own),
// with user counts and domain aliases. System admins add and delete
// domains and domain aliases (mail to x@ALIAS goes to x@DOMAIN); a domain
// that still has users, aliases or groups is refused (409, shown). The
// limits panel (#/domains?limits=D) edits the domain's preferences in the
// directory (GET/PUT /domains/D/prefs): send limits per hour and day for
// each of its users, and sender allow and block lists.
import * as api from "./api.js";
import { attempt, confirmAction, errorBox, h, table, time } from "./dom.js";
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

const LIMIT_KEYS = ["send_messages_per_hour", "send_recipients_per_hour", "send_messages_per_day",
  "send_recipients_per_day"];
const LIST_KEYS = ["sender_allow", "sender_block"];

async function limitsPanel(ctx, domain) {
  let prefs;
  try {
    prefs = await api.domainPrefs(domain);
  } catch (e) {
    return h("div", { class: "panel", id: "limits" }, h("h2", {}, t("limits_of", { domain })), errorBox(e));
  }
  const inputs = {};
  for (const k of LIMIT_KEYS)
    inputs[k] = h("input", { id: "l-" + k, value: prefs[k] ?? "", placeholder: t("node_default"), size: 10, inputmode: "numeric" });
  for (const k of LIST_KEYS)
    inputs[k] = h("textarea", { id: "l-" + k, rows: 3, cols: 40 }, prefs[k] ?? "");
  return h("form", {
    class: "panel form", id: "limits",
    onsubmit: async (ev) => {
      ev.preventDefault();
      const body = {};
      for (const [k, el] of Object.entries(inputs)) {
        const v = el.value.trim();
        if (v !== (prefs[k] ?? "")) body[k] = v === "" ? null : v; // empty: back to the default
      }
      if (!Object.keys(body).length) return;
      if (await attempt(() => api.setDomainPrefs(domain, body), t("saved"))) ctx.refresh();
    },
  }, h("h2", {}, t("limits_of", { domain })),
  h("p", { class: "muted" }, t("limits_help")),
  h("div", { class: "row" }, LIMIT_KEYS.map((k) => h("label", {}, h("span", {}, t("pref_" + k)), inputs[k]))),
  h("div", { class: "row" }, LIST_KEYS.map((k) => h("label", {}, h("span", {}, t("pref_" + k)), inputs[k]))),
  h("div", { class: "row" }, h("button", { type: "submit", id: "l-save" }, t("save")),
    h("a", { href: "#/domains" }, t("close"))));
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
