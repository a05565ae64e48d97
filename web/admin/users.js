// users.js - users of one domain or all: search (address or name, on the
// server) and paging (the API pages with offset/limit, so 10,000 users
// cost one page at a time; usage=1 adds the mail store's figures of the
// page's users homed on this node), add, and a side panel per user: quota with
// usage, flags, name, password reset, delete, and (system admins) move to
// another node with its progress (copy, hold, cleanup, then the counts).
import * as api from "./api.js";
import { attempt, confirmAction, errorBox, h, size, sizeInput, table, time, toast } from "./dom.js";
import { t } from "./i18n.js";
import { domainSelect, labeled, prefsForm } from "./common.js";

const PAGE = 50;
const FLAGS = ["disabled", "readonly", "no_external_send", "no_external_receive"];

export async function render(ctx) {
  const p = ctx.params;
  const domain = p.get("domain") || "";
  const search = p.get("search") || "";
  const offset = Math.max(0, parseInt(p.get("offset") || "0", 10) || 0);
  const selected = p.get("user") || "";
  const nav = (o) => ctx.go("users", { domain, search, offset, user: selected, ...o });
  const { select } = await domainSelect(ctx, domain, (d) => nav({ domain: d, offset: 0, user: "" }));

  const q = h("input", { id: "search", type: "search", value: search, placeholder: t("search_hint") });
  const tools = h("form", {
    class: "tools",
    onsubmit: (ev) => { ev.preventDefault(); nav({ search: q.value.trim(), offset: 0 }); },
  }, labeled("domain", select), labeled("search", q), h("button", { type: "submit" }, t("search")),
  h("button", { type: "button", id: "add-user-btn", onclick: () => nav({ user: "+" }) }, t("add_user")));

  let list;
  try {
    // one more than a page: tells whether a next page exists without a count
    list = await api.users({ domain, search, offset, limit: PAGE + 1, usage: true });
  } catch (e) {
    return [h("h1", {}, t("nav_users")), tools, errorBox(e)];
  }
  const more = list.length > PAGE;
  list = list.slice(0, PAGE);
  const rows = list.map((u) => h("tr", {
    "data-user": u.address, class: u.address === selected ? "selected" : "",
    onclick: () => nav({ user: u.address }),
  },
  h("td", {}, h("a", { href: "#", onclick: (ev) => ev.preventDefault() }, u.address)),
  h("td", {}, u.name || ""),
  h("td", {}, u.home_node || "—", u.move_state ? " → " + u.move_to : ""),
  h("td", { class: "num quota" }, size(u.quota_bytes, true)),
  h("td", { class: "usage" }, usageCell(u)),
  h("td", {}, u.flags.map((f) => h("span", { class: "chip" }, t("flag_" + f))))));
  const pager = h("div", { class: "pager" },
    h("button", { type: "button", id: "prev", disabled: offset === 0, onclick: () => nav({ offset: Math.max(0, offset - PAGE) }) }, t("prev")),
    h("span", { id: "page-info" }, list.length ? t("range", { from: offset + 1, to: offset + list.length }) : t("no_users")),
    h("button", { type: "button", id: "next", disabled: !more, onclick: () => nav({ offset: offset + PAGE }) }, t("next")));
  const left = h("div", {}, tools,
    table(["address", "name", "home_node", { key: "quota", attrs: { class: "num" } }, "usage", "flags"], rows, { id: "users" }),
    pager);
  let panel = null;
  if (selected === "+") panel = addPanel(ctx, domain, nav);
  else if (selected) panel = await userPanel(ctx, selected, nav);
  return [h("h1", {}, t("nav_users")), h("div", { class: "split" }, left, panel)];
}

// used bytes (a bar against the quota) and messages; "—" when the
// mailbox is on another node (the API says null there)
function usageCell(u) {
  if (u.used_bytes === null || u.used_bytes === undefined) return h("span", { class: "muted", title: t("usage_elsewhere") }, "—");
  return [u.quota_bytes ? h("meter", { min: 0, max: u.quota_bytes, value: u.used_bytes, high: u.quota_bytes * 0.9 }) : null,
    " " + size(u.used_bytes) + " · " + u.used_messages];
}

function addPanel(ctx, domain, nav) {
  const local = h("input", { id: "u-local", required: true, placeholder: "bob" });
  const dom = h("input", { id: "u-domain", required: true, value: domain || ctx.me.domain || "" });
  const name = h("input", { id: "u-name" });
  const pw = h("input", { id: "u-password", type: "password", required: true, autocomplete: "new-password" });
  const quota = h("input", { id: "u-quota", placeholder: "100M", size: 8 });
  return h("form", {
    class: "panel form", id: "add-user",
    onsubmit: async (ev) => {
      ev.preventDefault();
      const address = local.value.trim() + "@" + dom.value.trim();
      const body = { address, password: pw.value };
      if (name.value.trim()) body.name = name.value.trim();
      if (quota.value.trim()) body.quota = quota.value.trim();
      if (await attempt(() => api.addUser(body), t("user_added", { address })))
        nav({ user: address, domain: dom.value.trim(), search: "", offset: 0 });
    },
  }, h("h2", {}, t("add_user")),
  h("div", { class: "row" }, labeled("local_part", local), h("span", {}, "@"), labeled("domain", dom)),
  labeled("name", name), labeled("password", pw), labeled("quota_hint", quota),
  h("div", { class: "row" }, h("button", { type: "submit" }, t("add")),
    h("button", { type: "button", onclick: () => nav({ user: "" }) }, t("cancel"))));
}

async function userPanel(ctx, address, nav) {
  let u;
  try {
    u = await api.user(address);
  } catch (e) {
    return h("div", { class: "panel", id: "user-panel" }, h("h2", {}, address), errorBox(e));
  }
  const name = h("input", { id: "e-name", value: u.name || "" });
  const quota = h("input", { id: "e-quota", value: sizeInput(u.quota_bytes), size: 8 });
  const qmsg = h("input", { id: "e-qmsg", value: u.quota_messages, size: 8, inputmode: "numeric" });
  const maxsize = h("input", { id: "e-maxsize", value: sizeInput(u.max_message_size), size: 8 });
  const flags = FLAGS.map((f) => h("input", { type: "checkbox", value: f, checked: u.flags.includes(f), id: "e-flag-" + f }));
  const usage = u.quota_bytes
    ? [h("meter", { id: "e-usage", min: 0, max: u.quota_bytes, value: u.used_bytes, high: u.quota_bytes * 0.9 }),
      " ", t("usage_of", { used: size(u.used_bytes), quota: size(u.quota_bytes) })]
    : [t("usage_unlimited", { used: size(u.used_bytes) })];
  const edit = h("form", {
    class: "form", id: "edit-user",
    onsubmit: async (ev) => {
      ev.preventDefault();
      const body = {};
      if (name.value !== (u.name || "")) body.name = name.value;
      if (quota.value.trim() !== sizeInput(u.quota_bytes)) body.quota = quota.value.trim();
      if (qmsg.value.trim() !== String(u.quota_messages)) body.quota_messages = qmsg.value.trim();
      if (maxsize.value.trim() !== sizeInput(u.max_message_size)) body.max_message_size = maxsize.value.trim();
      const fl = flags.filter((c) => c.checked).map((c) => c.value);
      if (fl.join() !== u.flags.join()) body.flags = fl;
      if (!Object.keys(body).length) { toast(t("nothing_changed")); return; }
      if (await attempt(() => api.patchUser(address, body), t("saved"))) ctx.refresh();
    },
  },
  labeled("name", name),
  h("div", { class: "row" }, labeled("quota_hint", quota), labeled("quota_messages", qmsg), labeled("max_message_size", maxsize)),
  h("div", { class: "flags" }, flags.map((c) => h("label", {}, c, t("flag_" + c.value)))),
  h("div", { class: "row" }, h("button", { type: "submit", id: "e-save" }, t("save"))));

  const pw = h("input", { id: "e-password", type: "password", autocomplete: "new-password", required: true });
  const reset = h("form", {
    class: "row", id: "reset-password",
    onsubmit: async (ev) => {
      ev.preventDefault();
      if (await attempt(() => api.patchUser(address, { password: pw.value }), t("password_changed"))) pw.value = "";
    },
  }, labeled("new_password", pw), h("button", { type: "submit" }, t("reset_password")));

  const parts = [
    h("h2", {}, address),
    h("p", { class: "muted" }, t("home_node") + ": ", h("strong", { id: "e-home" }, u.home_node || "—"),
      " · " + t("created") + ": " + time(u.created_at)),
    h("p", { id: "e-usage-line" }, t("usage") + ": ", ...usage, " · ", t("messages_n", { n: u.used_messages })),
    edit, h("h2", {}, t("password")), reset,
  ];
  // the user's own send limits and sender lists (directory preferences)
  try {
    const prefs = await api.userPrefs(address);
    parts.push(h("h2", {}, t("user_limits")), prefsForm("up", prefs, (body) => api.setUserPrefs(address, body)));
  } catch (e) {
    parts.push(errorBox(e));
  }
  parts.push(h("h2", {}, t("quarantine")), await quarantinePart(ctx, address));
  if (!ctx.me.domain) parts.push(h("h2", {}, t("move")), await moveForm(ctx, u));
  parts.push(h("div", { class: "row" },
    h("button", {
      type: "button", class: "danger", id: "e-delete",
      onclick: async () => {
        if (!confirmAction(t("confirm_delete", { name: address }))) return;
        if (await attempt(() => api.delUser(address), t("deleted"))) nav({ user: "" });
      },
    }, t("delete_user")),
    h("button", { type: "button", onclick: () => nav({ user: "" }) }, t("close"))));
  return h("div", { class: "panel", id: "user-panel" }, parts);
}

async function moveForm(ctx, u) {
  const nodes = (await api.nodes()).filter((n) => n.state === "active" && n.name !== u.home_node);
  const sel = h("select", { id: "m-node" }, nodes.map((n) => h("option", { value: n.name }, n.name)));
  const progress = h("p", { id: "m-progress", class: "muted progress" },
    u.move_state ? t("move_state_" + u.move_state) : u.move_result ? t("last_move") + ": " + u.move_result : "");
  const btn = h("button", { type: "submit", disabled: !nodes.length || !!u.move_state }, t("move_to"));
  const follow = async () => {
    // poll the user: move_state copy -> hold -> cleanup -> "" (docs/cluster.md)
    for (;;) {
      if (ctx.stale()) return;
      let cur;
      try { cur = await api.user(u.address); } catch (e) { progress.textContent = e.message; return; }
      if (!cur.move_state) {
        const ok = cur.home_node === sel.value;
        progress.textContent = (ok ? t("move_done", { node: cur.home_node }) : t("move_failed")) +
          (cur.move_result ? " — " + cur.move_result : "");
        progress.className = "progress " + (ok ? "state-ok" : "state-bad");
        // the panel and the list row show the new home without a reload
        const home = document.getElementById("e-home");
        if (home) home.textContent = cur.home_node;
        const cell = document.querySelector(`tr[data-user="${CSS.escape(cur.address)}"] td:nth-child(3)`);
        if (cell) cell.textContent = cur.home_node;
        return;
      }
      progress.textContent = t("move_state_" + cur.move_state) + " → " + cur.move_to;
      await new Promise((r) => setTimeout(r, 400));
    }
  };
  if (u.move_state) follow();
  return h("form", {
    class: "row", id: "move-user",
    onsubmit: async (ev) => {
      ev.preventDefault();
      btn.disabled = true;
      if (await attempt(() => api.moveUser(u.address, sel.value))) await follow();
      btn.disabled = false;
    },
  }, nodes.length ? labeled("target_node", sel) : h("span", { class: "muted" }, t("no_other_node")), btn, progress);
}

// mail held by an anti-spam "quarantine" action (the Quarantine folder of
// the user's mailbox on the node answering): release to INBOX or delete
async function quarantinePart(ctx, address) {
  let held;
  try {
    held = await api.quarantine(address);
  } catch (e) {
    return errorBox(e);
  }
  if (!held.length) return h("p", { class: "muted", id: "held-none" }, t("held_none"));
  return table(["from", "subject", { key: "size", attrs: { class: "num" } }, "arrival", ""],
    held.map((m) => h("tr", { "data-uid": m.uid },
      h("td", {}, m.from), h("td", {}, m.subject), h("td", { class: "num" }, size(m.size)),
      h("td", {}, time(m.internal_date)),
      h("td", {},
        h("button", { type: "button", onclick: async () => { if (await attempt(() => api.releaseHeld(address, m.uid), t("released"))) ctx.refresh(); } }, t("release")),
        " ",
        h("button", { type: "button", class: "danger", onclick: async () => { if (await attempt(() => api.delHeld(address, m.uid), t("deleted"))) ctx.refresh(); } }, t("delete"))))),
  { id: "held" });
}
