// security.js - logins blocked by the login-failure throttling of the node
// answering (system admins; GET/DELETE /security/blocked): IPs and names
// with their failure count and the end of the block; Release lifts one.
import * as api from "./api.js";
import { attempt, h, table } from "./dom.js";
import { t } from "./i18n.js";

export async function render(ctx) {
  const list = await api.blocked();
  return [
    h("h1", {}, t("nav_security")),
    h("p", { class: "muted" }, t("blocked_help")),
    list.length ? table(["kind", "blocked_key", "until", { key: "failures", attrs: { class: "num" } }, ""],
      list.map((b) => h("tr", { "data-blocked": b.key },
        h("td", {}, t("kind_" + b.kind)), h("td", {}, b.key), h("td", {}, b.until),
        h("td", { class: "num" }, b.failures),
        h("td", {}, h("button", {
          type: "button",
          onclick: async () => { if (await attempt(() => api.release(b.key), t("released"))) ctx.refresh(); },
        }, t("release"))))), { id: "blocked" })
      : h("p", { id: "blocked-none" }, t("blocked_none")),
  ];
}
