// queue.js - the delivery queue of the node answering (system admins):
// each entry with its recipients' states, attempts, next attempt and last
// reply; retry now, or delete (no bounce).
import * as api from "./api.js";
import { attempt, confirmAction, h, size, table, time } from "./dom.js";
import { t } from "./i18n.js";

export async function render(ctx) {
  const list = await api.queue();
  const rows = list.map((e) => h("tr", { "data-queue": e.id },
    h("td", {}, h("code", {}, e.id)),
    h("td", {}, e.sender || "<>"),
    h("td", {}, time(e.arrival)),
    h("td", { class: "num" }, size(e.size)),
    h("td", {}, e.loading ? t("loading") : e.rcpts ? e.rcpts.map((r) => h("div", {},
      `${r.address}: ${r.state}, ${t("attempts_n", { n: r.attempts })}`,
      r.next_attempt ? ", " + t("next_attempt") + " " + time(r.next_attempt) : "",
      r.reply ? h("div", { class: "muted" }, r.reply) : null)) : t("busy")),
    h("td", {},
      h("button", { type: "button", onclick: async () => { if (await attempt(() => api.retryQueue(e.id), t("retry_scheduled"))) ctx.refresh(); } }, t("retry")),
      " ",
      h("button", {
        type: "button", class: "danger",
        onclick: async () => {
          if (!confirmAction(t("confirm_delete", { name: e.id }))) return;
          if (await attempt(() => api.delQueue(e.id), t("deleted"))) ctx.refresh();
        },
      }, t("delete")))));
  return [
    h("h1", {}, t("nav_queue")),
    h("div", { class: "tools" }, h("button", { type: "button", id: "q-refresh", onclick: () => ctx.refresh() }, t("refresh")),
      h("span", { class: "muted" }, t("queue_n", { n: list.length }))),
    list.length ? table(["id", "sender", "arrival", { key: "size", attrs: { class: "num" } }, "recipients", ""], rows, { id: "queue" })
      : h("p", { class: "muted", id: "queue-empty" }, t("queue_empty")),
  ];
}
