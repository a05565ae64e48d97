// dashboard.js - the node answering (version, uptime, disk free), the
// counts of domains, users, aliases, groups and stored messages (a domain
// admin's own domain only), the services with their ports and state, and,
// for system admins, every cluster member with its role, state, the leader
// and its applied index (GET /status, GET /cluster).
import * as api from "./api.js";
import { duration, h, size, table } from "./dom.js";
import { t } from "./i18n.js";

const card = (key, value, id) => h("div", { class: "card", id },
  h("div", { class: "k" }, t(key)), h("div", { class: "v" }, value));

export async function render(ctx) {
  const st = await api.status();
  const c = st.counts;
  const disk = st.disk;
  const out = [
    h("h1", {}, t("nav_dashboard")),
    h("div", { class: "cards" },
      card("node", st.node, "d-node"),
      card("version", st.version, "d-version"),
      card("uptime", duration(st.uptime_s), "d-uptime"),
      card("disk_free", disk ? `${size(disk.free_bytes)} / ${size(disk.total_bytes)}` : "—", "d-disk"),
      card("domains", c.domains, "d-domains"),
      card("users", c.users, "d-users"),
      card("aliases", c.aliases, "d-aliases"),
      card("groups", c.groups, "d-groups"),
      card("messages", c.messages === null ? "…" : `${c.messages} (${size(c.message_bytes)})`, "d-messages")),
    h("p", { class: "muted" }, t("messages_note", { node: st.node })),
  ];
  if (st.services) {
    out.push(h("h2", {}, t("services")), table(["service", { key: "port", attrs: { class: "num" } }, "state"],
      st.services.map((s) => h("tr", {},
        h("td", {}, s.name), h("td", { class: "num" }, s.port || "—"),
        h("td", { class: s.state === "off" || s.state === "stopped" ? "muted" : "state-ok" }, t("svc_" + s.state)))),
      { id: "services" }));
  }
  if (!ctx.me.domain) {
    const cl = await api.cluster();
    out.push(h("h2", {}, t("cluster_members")),
      h("p", {}, t("leader") + ": ", h("strong", { id: "d-leader" }, cl.leader || t("none"))),
      membersTable(cl, st));
  }
  return out;
}

// shared with the cluster page
export function membersTable(cl, st) {
  return table(["node", "role", "state", "raft_state", { key: "applied_index", attrs: { class: "num" } },
    { key: "commit_index", attrs: { class: "num" } }, "last_contact", "disk_free"],
  cl.members.map((m) => h("tr", { "data-node": m.name },
    h("td", {}, m.name, m.name === cl.leader ? h("span", { class: "chip" }, " ★ " + t("leader")) : null),
    h("td", {}, t("role_" + m.role)),
    h("td", {}, m.state),
    h("td", { class: m.reachable === false ? "state-bad" : "" },
      m.reachable === false ? t("unreachable") + (m.error ? ": " + m.error : "") : (m.raft_state || "—")),
    h("td", { class: "num" }, m.applied_index ?? "—"),
    h("td", { class: "num" }, m.commit_index ?? "—"),
    h("td", {}, m.last_contact_ms === null || m.last_contact_ms === undefined ? "—" : m.last_contact_ms + " ms"),
    h("td", {}, m.disk_free_bytes !== undefined && m.disk_free_bytes !== null ? size(m.disk_free_bytes)
      : st && st.node === m.name && st.disk ? size(st.disk.free_bytes) : "—"))),
  { id: "members" });
}
