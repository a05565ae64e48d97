// admins.js - administrator accounts (system admins only): system admins
// (domain empty) and domain admins (one domain each); add, set password,
// delete. The last system admin cannot be deleted (409, shown).
import * as api from "./api.js";
import { attempt, confirmAction, h, table } from "./dom.js";
import { t } from "./i18n.js";
import { labeled } from "./common.js";

export async function render(ctx) {
  const [list, doms] = await Promise.all([api.admins(), api.domains()]);
  const name = h("input", { id: "ad-name", required: true, size: 14 });
  const pw = h("input", { id: "ad-password", type: "password", required: true, autocomplete: "new-password" });
  const dom = h("select", { id: "ad-domain" }, h("option", { value: "" }, t("system_admin")),
    doms.map((d) => h("option", { value: d.name }, d.name)));
  const add = h("form", {
    class: "tools", id: "add-admin",
    onsubmit: async (ev) => {
      ev.preventDefault();
      const body = { name: name.value.trim(), password: pw.value };
      if (dom.value) body.domain = dom.value;
      if (await attempt(() => api.addAdmin(body), t("added"))) ctx.refresh();
    },
  }, labeled("admin_name", name), labeled("password", pw), labeled("scope", dom), h("button", { type: "submit" }, t("add_admin")));
  const rows = list.map((a) => {
    const npw = h("input", { type: "password", size: 12, autocomplete: "new-password", "aria-label": t("new_password") });
    return h("tr", { "data-admin": a.name },
      h("td", {}, a.name, a.name === ctx.me.name ? h("span", { class: "muted" }, " (" + t("you") + ")") : null),
      h("td", {}, a.domain || t("system_admin")),
      h("td", {}, h("form", {
        class: "row",
        onsubmit: async (ev) => {
          ev.preventDefault();
          if (await attempt(() => api.adminPassword(a.name, npw.value), t("password_changed"))) npw.value = "";
        },
      }, npw, h("button", { type: "submit" }, t("set_password")))),
      h("td", {}, h("button", {
        type: "button", class: "danger",
        onclick: async () => {
          if (!confirmAction(t("confirm_delete", { name: a.name }))) return;
          if (await attempt(() => api.delAdmin(a.name), t("deleted"))) ctx.refresh();
        },
      }, t("delete"))));
  });
  return [h("h1", {}, t("nav_admins")), add, table(["admin_name", "scope", "password", ""], rows, { id: "admins" })];
}
