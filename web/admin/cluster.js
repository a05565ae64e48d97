// cluster.js - the cluster as the node answering sees it (GET /cluster:
// every member's own Raft figures, asked over the node links) and the node
// table (GET /nodes: state, address, users homed there) with drain.
import * as api from "./api.js";
import { attempt, confirmAction, h, table, time } from "./dom.js";
import { t } from "./i18n.js";
import { membersTable } from "./dashboard.js";

export async function render(ctx) {
  const [cl, nodes, st] = await Promise.all([api.cluster(), api.nodes(), api.status()]);
  return [
    h("h1", {}, t("nav_cluster")),
    h("div", { class: "cards" },
      h("div", { class: "card" }, h("div", { class: "k" }, t("leader")), h("div", { class: "v", id: "c-leader" }, cl.leader || t("none"))),
      h("div", { class: "card" }, h("div", { class: "k" }, t("commit_index")), h("div", { class: "v" }, cl.commit_index)),
      h("div", { class: "card" }, h("div", { class: "k" }, t("asked_node")), h("div", { class: "v" }, cl.node || st.node))),
    h("h2", {}, t("cluster_members")),
    membersTable(cl, st),
    h("h2", {}, t("nodes")),
    table(["node", "address", "state", { key: "users", attrs: { class: "num" } }, "created", ""],
      nodes.map((n) => h("tr", {},
        h("td", {}, n.name), h("td", {}, `${n.address} (raft ${n.raft_port}, rpc ${n.rpc_port})`),
        h("td", {}, n.state), h("td", { class: "num" }, n.users), h("td", {}, time(n.created_at)),
        h("td", {}, n.state === "active" ? h("button", {
          class: "danger", type: "button",
          onclick: async (ev) => {
            if (!confirmAction(t("confirm_drain", { node: n.name }))) return;
            ev.target.disabled = true;
            ev.target.textContent = t("draining");
            await attempt(() => api.drainNode(n.name), t("drained", { node: n.name }));
            ctx.refresh();
          },
        }, t("drain")) : null))),
      { id: "nodes" }),
  ];
}
