// app.js - the webmail page: login form, folder list with unread counts,
// message list (paged, sortable), reading pane. Text is always inserted
// with textContent, never as HTML; HTML mail is shown only in the
// sandboxed frame, loaded from its own URL that the node serves with a
// CSP sandbox (no script runs, nothing remote loads).
import * as api from "./api.js";
import { apply, language, setLanguage, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const PAGE = 50;
const state = { folder: "INBOX", offset: 0, total: 0, sort: "date", current: null, folders: [] };

function show(el, on) { el.hidden = !on; }
function status(msg) { $("status").textContent = msg || ""; }

function folderLabel(name) {
  const k = "folder_" + name;
  const s = t(k);
  return s === k ? name : s;
}

function fmtDate(unix) {
  if (unix == null) return "";
  return new Date(unix * 1000).toLocaleString(language());
}

function fmtSize(n) {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KB";
  return (n / 1024 / 1024).toFixed(1) + " MB";
}

function fmtAddr(a) {
  if (!a) return "";
  return a.name ? `${a.name} <${a.address}>` : a.address;
}

async function loadFolders() {
  const { folders } = await api.folders();
  // INBOX first, then the special folders in a fixed order, then the rest by name
  const SPECIAL = ["INBOX", "Drafts", "Sent", "Junk", "Trash"];
  const rank = (f) => (SPECIAL.includes(f.name) ? SPECIAL.indexOf(f.name) : SPECIAL.length);
  folders.sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
  state.folders = folders;
  const nav = $("folders");
  nav.replaceChildren();
  const move = $("move-to");
  move.replaceChildren();
  for (const f of folders) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "folder" + (f.name === state.folder ? " current" : "");
    b.dataset.folder = f.name;
    b.textContent = folderLabel(f.name);
    if (f.unseen > 0) {
      const c = document.createElement("span");
      c.className = "unseen";
      c.textContent = String(f.unseen);
      b.append(" ", c);
    }
    b.addEventListener("click", () => openFolder(f.name));
    nav.append(b);
    const o = document.createElement("option");
    o.value = f.name;
    o.textContent = folderLabel(f.name);
    move.append(o);
  }
}

async function loadMessages() {
  const r = await api.messages(state.folder, { offset: state.offset, limit: PAGE, sort: state.sort,
    order: state.sort === "date" || state.sort === "size" ? "desc" : "asc" });
  state.total = r.total;
  const body = $("messages").tBodies[0];
  body.replaceChildren();
  for (const m of r.messages) {
    const tr = document.createElement("tr");
    tr.className = m.flags.seen ? "seen" : "unread";
    if (m.flags.flagged) tr.classList.add("flagged");
    tr.dataset.uid = String(m.uid);
    for (const text of [fmtAddr(m.from), m.subject || t("no_subject"),
      fmtDate(m.date ?? m.internal_date), fmtSize(m.size)]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    tr.addEventListener("click", () => openMessage(m.uid));
    body.append(tr);
  }
  $("page").textContent = r.total === 0 ? t("empty")
    : t("page", { from: r.offset + 1, to: r.offset + r.messages.length, total: r.total });
  $("prev").disabled = state.offset === 0;
  $("next").disabled = state.offset + PAGE >= r.total;
}

async function openFolder(name) {
  state.folder = name;
  state.offset = 0;
  closeMessage();
  await Promise.all([loadFolders(), loadMessages()]);
}

function closeMessage() {
  state.current = null;
  show($("reader-msg"), false);
  show($("reader-empty"), true);
  $("r-html").removeAttribute("src");
}

async function openMessage(uid) {
  const m = await api.message(state.folder, uid);
  state.current = m;
  $("r-subject").textContent = m.headers.subject || t("no_subject");
  $("r-from").textContent = m.headers.from.map(fmtAddr).join(", ");
  $("r-to").textContent = m.headers.to.map(fmtAddr).join(", ");
  $("r-date").textContent = fmtDate(m.headers.date ?? m.internal_date);
  $("flag").textContent = t(m.flags.flagged ? "unflag" : "flag");
  const ul = $("r-attachments");
  ul.replaceChildren();
  for (const a of m.attachments) {
    const li = document.createElement("li");
    li.textContent = `${a.filename || a.content_type} (${fmtSize(a.size)})`;
    ul.append(li);
  }
  const frame = $("r-html");
  if (m.has_html) {
    frame.src = api.htmlUrl(state.folder, uid);
    show(frame, true);
    show($("r-text"), false);
  } else {
    frame.removeAttribute("src");
    show(frame, false);
    $("r-text").textContent = m.text ?? "";
    show($("r-text"), true);
  }
  show($("reader-empty"), false);
  show($("reader-msg"), true);
  if (!m.flags.seen) {
    await api.setFlags(state.folder, uid, { seen: true });
    await Promise.all([loadFolders(), loadMessages()]);
  }
}

async function guarded(fn) {
  try {
    status("");
    await fn();
  } catch (e) {
    if (e.status === 401) return showLogin();
    status(`${t("error")}: ${e.message}`);
  }
}

function showLogin() {
  show($("mail"), false);
  show($("logout"), false);
  $("who").textContent = "";
  show($("login"), true);
}

async function showMail(s) {
  $("who").textContent = s.address;
  show($("login"), false);
  show($("logout"), true);
  show($("mail"), true);
  await openFolder("INBOX");
}

function wire() {
  $("lang").value = language();
  $("lang").addEventListener("change", (e) => {
    setLanguage(e.target.value);
    if (!$("mail").hidden) guarded(() => Promise.all([loadFolders(), loadMessages()]));
  });
  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    $("login-error").textContent = "";
    guarded(async () => {
      try {
        const s = await api.login($("address").value.trim(), $("password").value);
        $("password").value = "";
        await showMail(s);
      } catch (err) {
        if (err.status === 401 || err.status === 403 || err.status === 400) {
          $("login-error").textContent = err.status === 401 ? t("login_failed") : err.message;
          return;
        }
        throw err;
      }
    });
  });
  $("logout").addEventListener("click", () => guarded(async () => { await api.logout(); showLogin(); }));
  $("sort").addEventListener("change", (e) => guarded(async () => {
    state.sort = e.target.value; state.offset = 0; await loadMessages();
  }));
  $("prev").addEventListener("click", () => guarded(async () => {
    state.offset = Math.max(0, state.offset - PAGE); await loadMessages();
  }));
  $("next").addEventListener("click", () => guarded(async () => {
    state.offset += PAGE; await loadMessages();
  }));
  $("flag").addEventListener("click", () => guarded(async () => {
    const m = state.current;
    const r = await api.setFlags(state.folder, m.uid, { flagged: !m.flags.flagged });
    m.flags = r.flags;
    $("flag").textContent = t(m.flags.flagged ? "unflag" : "flag");
    await loadMessages();
  }));
  $("unread").addEventListener("click", () => guarded(async () => {
    await api.setFlags(state.folder, state.current.uid, { seen: false });
    closeMessage();
    await Promise.all([loadFolders(), loadMessages()]);
  }));
  $("move").addEventListener("click", () => guarded(async () => {
    await api.move(state.folder, state.current.uid, $("move-to").value);
    closeMessage();
    await Promise.all([loadFolders(), loadMessages()]);
  }));
  $("delete").addEventListener("click", () => guarded(async () => {
    await api.remove(state.folder, state.current.uid);
    closeMessage();
    await Promise.all([loadFolders(), loadMessages()]);
  }));
}

async function start() {
  apply();
  wire();
  try {
    await showMail(await api.session());
  } catch {
    showLogin();
  }
}

start();
