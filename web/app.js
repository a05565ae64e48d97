// app.js - the webmail page: login form (with the interface language),
// folder list with unread counts and folder create/rename/delete/empty,
// message list (paged, sortable, searchable, unread/flagged filters),
// reading pane with attachment downloads, reply / reply all / forward,
// compose (plain or simple rich text, attachments, drafts, address
// completion) and settings (name, language, time zone, signature,
// password). Text is always inserted
// with textContent, never as HTML; HTML mail is shown only in the
// sandboxed frame, loaded from its own URL that the node serves with a
// CSP sandbox (no script runs, nothing remote loads).
import * as api from "./api.js";
import { apply, language, setLanguage, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const PAGE = 50;
const state = { folder: "INBOX", offset: 0, total: 0, sort: "date", current: null, folders: [],
  q: "", field: "q", filter: "", me: null, tz: "", signature: "", loginLang: null, compose: null };

function show(el, on) { el.hidden = !on; }
function status(msg) { $("status").textContent = msg || ""; }

function folderLabel(name) {
  const k = "folder_" + name;
  const s = t(k);
  return s === k ? name : s;
}

function fmtDate(unix) {
  if (unix == null) return "";
  try {
    return new Date(unix * 1000).toLocaleString(language(), state.tz ? { timeZone: state.tz } : {});
  } catch {
    return new Date(unix * 1000).toLocaleString(language());
  }
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
    b.addEventListener("click", () => guarded(() => openFolder(f.name)));
    nav.append(b);
    const o = document.createElement("option");
    o.value = f.name;
    o.textContent = folderLabel(f.name);
    move.append(o);
  }
  const cur = folders.find((f) => f.name === state.folder);
  show($("empty-folder"), !!cur && (cur.special_use === "\\Trash" || cur.special_use === "\\Junk"));
}

async function loadMessages() {
  const r = await api.messagesQuery(state.folder, { offset: state.offset, limit: PAGE,
    sort: state.sort, order: state.sort === "date" || state.sort === "size" ? "desc" : "asc",
    q: state.q, field: state.field, unread: state.filter === "unread",
    flagged: state.filter === "flagged" });
  state.total = r.total;
  const body = $("messages").tBodies[0];
  body.replaceChildren();
  // in Sent and Drafts the interesting address is the recipient
  const use = state.folders.find((f) => f.name === state.folder)?.special_use;
  const outgoing = use === "\\Sent" || use === "\\Drafts";
  $("col-addr").textContent = t(outgoing ? "to" : "from");
  for (const m of r.messages) {
    const tr = document.createElement("tr");
    tr.className = m.flags.seen ? "seen" : "unread";
    if (m.flags.flagged) tr.classList.add("flagged");
    tr.dataset.uid = String(m.uid);
    for (const text of [fmtAddr(outgoing ? m.to : m.from), m.subject || t("no_subject"),
      fmtDate(m.date ?? m.internal_date), fmtSize(m.size)]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    tr.addEventListener("click", () => guarded(() => openMessage(m.uid)));
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

// the right pane shows one of: nothing, a message, the composer, settings
function pane(which) {
  show($("reader-empty"), which === "empty");
  show($("reader-msg"), which === "msg");
  show($("composer"), which === "compose");
  show($("settings"), which === "settings");
}

function closeMessage() {
  state.current = null;
  pane("empty");
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
    const link = document.createElement("a");
    link.href = api.partUrl(state.folder, uid, a.part);
    link.download = a.filename || "";
    link.textContent = a.filename || a.content_type;
    li.append(link, ` (${fmtSize(a.size)})`);
    ul.append(li);
  }
  const draft = state.folders.find((f) => f.name === state.folder)?.special_use === "\\Drafts";
  show($("edit-draft"), draft);
  const frame = $("r-html");
  show($("show-images"), m.has_html);
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
  pane("msg");
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
  show($("open-settings"), false);
  $("login-lang").value = language();
  $("who").textContent = "";
  show($("login"), true);
}

async function loadSettings() {
  const s = await api.settings();
  state.tz = s.timezone || "";
  state.signature = s.signature || "";
  if (state.loginLang) {
    // chosen on the login form: that is the user's language from now on
    if (state.loginLang !== s.language) await api.saveSettings({ language: state.loginLang });
    state.loginLang = null;
  } else if (s.language && s.language !== language()) {
    setLanguage(s.language);
    $("lang").value = language();
  }
  return s;
}

async function showMail(s) {
  state.me = s.address;
  $("who").textContent = s.name ? `${s.name} <${s.address}>` : s.address;
  show($("login"), false);
  show($("logout"), true);
  show($("open-settings"), true);
  show($("mail"), true);
  try {
    await loadSettings();
  } catch (e) {
    if (e.status === 401) throw e;
    status(`${t("error")}: ${e.message}`); // settings are not vital for reading mail
  }
  await openFolder("INBOX");
}

// --- compose ---------------------------------------------------------------

// "a@b, Name <c@d>, \"Last, First\" <e@f>" -> entries (commas inside quotes kept)
function splitAddrs(s) {
  const out = [];
  let cur = "", quoted = false;
  for (const ch of s) {
    if (ch === '"') quoted = !quoted;
    if (ch === "," && !quoted) { out.push(cur); cur = ""; continue; }
    cur += ch;
  }
  out.push(cur);
  return out.map((x) => x.trim().replace(/^"([^"]*)"(\s*<)/, "$1$2")).filter((x) => x !== "");
}

function quote(text) {
  return (text || "").replace(/\r\n/g, "\n").replace(/\n+$/, "").split("\n")
    .map((l) => "> " + l).join("\n");
}

function sig() {
  return state.signature ? "\n\n-- \n" + state.signature : "";
}

function openCompose(init = {}) {
  state.compose = { atts: [], in_reply_to: init.in_reply_to || null,
    forward_of: init.forward_of || null, draft_uid: init.draft_uid || null };
  $("c-to").value = (init.to || []).join(", ");
  $("c-cc").value = (init.cc || []).join(", ");
  $("c-bcc").value = (init.bcc || []).join(", ");
  $("c-subject").value = init.subject || "";
  $("c-text").value = init.text ?? sig();
  $("c-html").replaceChildren();
  $("c-rich").checked = false;
  richMode(false);
  $("c-files").value = "";
  renderAtts();
  pane("compose");
  $(init.to && init.to.length ? "c-text" : "c-to").focus();
}

function richMode(on) {
  if (on) {
    // the plain text becomes the start of the rich text (as text, never HTML)
    const div = $("c-html");
    div.replaceChildren();
    for (const line of $("c-text").value.split("\n")) {
      const p = document.createElement("div");
      if (line === "") p.append(document.createElement("br"));
      else p.textContent = line;
      div.append(p);
    }
  } else if ($("c-html").childNodes.length) {
    $("c-text").value = $("c-html").innerText;
  }
  show($("c-text"), !on);
  show($("c-html"), on);
  show($("c-rich-tools"), on);
}

function renderAtts() {
  const ul = $("c-att");
  ul.replaceChildren();
  for (const [i, a] of state.compose.atts.entries()) {
    const li = document.createElement("li");
    const rm = document.createElement("button");
    rm.type = "button";
    rm.textContent = "×";
    rm.addEventListener("click", () => { state.compose.atts.splice(i, 1); renderAtts(); });
    li.append(`${a.filename} (${fmtSize(a.size)}) `, rm);
    ul.append(li);
  }
}

function readFile(f) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ""));
    r.onerror = () => reject(r.error);
    r.readAsDataURL(f);
  });
}

function collect() {
  const c = state.compose;
  const msg = {
    to: splitAddrs($("c-to").value), cc: splitAddrs($("c-cc").value),
    bcc: splitAddrs($("c-bcc").value), subject: $("c-subject").value,
    attachments: c.atts.map(({ filename, content_type, data }) => ({ filename, content_type, data })),
  };
  if ($("c-rich").checked) {
    msg.html = $("c-html").innerHTML;
    msg.text = $("c-html").innerText;
  } else {
    msg.text = $("c-text").value;
  }
  if (c.in_reply_to) msg.in_reply_to = c.in_reply_to;
  if (c.forward_of) msg.forward_of = c.forward_of;
  if (c.draft_uid) msg.draft_uid = c.draft_uid;
  return msg;
}

function replyInit(all) {
  const m = state.current, h = m.headers;
  const me = (state.me || "").toLowerCase();
  const to = (h.reply_to.length ? h.reply_to : h.from).map(fmtAddr);
  const seen = new Set(to.map((x) => x.toLowerCase()));
  const cc = [];
  if (all) {
    for (const a of [...h.to, ...h.cc]) {
      const k = a.address.toLowerCase();
      if (k === me || seen.has(k) || [...seen].some((x) => x.includes("<" + k + ">"))) continue;
      seen.add(k);
      cc.push(fmtAddr(a));
    }
  }
  const subj = h.subject || "";
  const who = h.from[0] ? (h.from[0].name || h.from[0].address) : "";
  return {
    to, cc, subject: /^re:/i.test(subj) ? subj : "Re: " + subj,
    text: sig() + "\n\n" + t("wrote", { date: fmtDate(h.date ?? m.internal_date), name: who }) +
      "\n" + quote(m.text),
    in_reply_to: { folder: state.folder, uid: m.uid },
  };
}

function forwardInit() {
  const m = state.current, h = m.headers;
  const subj = h.subject || "";
  const head = [t("forwarded"), `${t("from")}: ${h.from.map(fmtAddr).join(", ")}`,
    `${t("date")}: ${fmtDate(h.date ?? m.internal_date)}`, `${t("subject")}: ${subj}`,
    `${t("to")}: ${h.to.map(fmtAddr).join(", ")}`].join("\n");
  return {
    subject: /^fwd?:/i.test(subj) ? subj : "Fwd: " + subj,
    text: sig() + "\n\n" + head + "\n\n" + (m.text || ""),
    forward_of: { folder: state.folder, uid: m.uid },
  };
}

let completeTimer = null;
function wireCompletion(input) {
  input.addEventListener("input", () => {
    clearTimeout(completeTimer);
    const v = input.value;
    const cut = v.lastIndexOf(",");
    const head = cut < 0 ? "" : v.slice(0, cut + 1) + " ";
    const q = v.slice(cut + 1).trim();
    if (q.length < 1 || q.includes("<")) return;
    completeTimer = setTimeout(() => guarded(async () => {
      const { addresses } = await api.addresses(q);
      const dl = $("c-addr");
      dl.replaceChildren();
      for (const a of addresses) {
        const o = document.createElement("option");
        o.value = head + (a.name ? `${a.name} <${a.address}>` : a.address);
        dl.append(o);
      }
    }), 150);
  });
}

function wire() {
  $("lang").value = language();
  $("lang").addEventListener("change", (e) => {
    setLanguage(e.target.value);
    $("login-lang").value = language();
    $("s-lang").value = language();
    $("s-msg").textContent = "";
    if (!$("mail").hidden) guarded(() => Promise.all([loadFolders(), loadMessages(),
      api.saveSettings({ language: language() })]));
  });
  $("login-lang").addEventListener("change", (e) => {
    setLanguage(e.target.value);
    $("lang").value = language();
    state.loginLang = language();
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
  $("add-contact").addEventListener("click", () => guarded(async () => {
    const f = state.current.headers.from[0];
    if (!f) return;
    await api.addContact(f.address, f.name || "");
    status(t("contact_added"));
  }));
  // remote images of this one message, on request (web bugs otherwise)
  $("show-images").addEventListener("click", () => {
    $("r-html").src = api.htmlUrl(state.folder, state.current.uid) + "?remote_images=1";
    show($("show-images"), false);
  });
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(async () => {
      state.q = $("search").value.trim();
      state.field = $("search-in").value;
      state.filter = $("filter").value;
      state.offset = 0;
      await loadMessages();
    });
  });
  $("filter").addEventListener("change", () => $("search-form").requestSubmit());
  // folders
  $("folder-create").addEventListener("click", () => guarded(async () => {
    const name = $("folder-name").value.trim();
    await api.createFolder(name);
    $("folder-name").value = "";
    await openFolder(name);
    status(t("folder_done"));
  }));
  $("folder-rename").addEventListener("click", () => guarded(async () => {
    const name = $("folder-name").value.trim();
    await api.renameFolder(state.folder, name);
    $("folder-name").value = "";
    await openFolder(name);
    status(t("folder_done"));
  }));
  $("folder-delete").addEventListener("click", () => guarded(async () => {
    if (!window.confirm(t("confirm_delete_folder"))) return;
    await api.deleteFolder(state.folder);
    await openFolder("INBOX");
    status(t("folder_done"));
  }));
  $("empty-folder").addEventListener("click", () => guarded(async () => {
    await api.emptyFolder(state.folder);
    await openFolder(state.folder);
    status(t("folder_done"));
  }));
  // compose
  $("compose").addEventListener("click", () => openCompose());
  $("reply").addEventListener("click", () => openCompose(replyInit(false)));
  $("reply-all").addEventListener("click", () => openCompose(replyInit(true)));
  $("forward").addEventListener("click", () => openCompose(forwardInit()));
  $("edit-draft").addEventListener("click", () => {
    const m = state.current, h = m.headers;
    openCompose({ to: h.to.map(fmtAddr), cc: h.cc.map(fmtAddr), bcc: h.bcc.map(fmtAddr),
      subject: h.subject || "", text: m.text || "", draft_uid: m.uid });
  });
  for (const id of ["c-to", "c-cc", "c-bcc"]) wireCompletion($(id));
  $("c-rich").addEventListener("change", (e) => richMode(e.target.checked));
  const exec = (cmd) => () => { $("c-html").focus(); document.execCommand(cmd); };
  $("c-bold").addEventListener("click", exec("bold"));
  $("c-italic").addEventListener("click", exec("italic"));
  $("c-list").addEventListener("click", exec("insertUnorderedList"));
  $("c-files").addEventListener("change", (e) => guarded(async () => {
    for (const f of e.target.files) {
      state.compose.atts.push({ filename: f.name, content_type: f.type || "application/octet-stream",
        size: f.size, data: await readFile(f) });
    }
    e.target.value = "";
    renderAtts();
  }));
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(async () => {
      await api.send(collect());
      state.compose = null;
      closeMessage();
      await Promise.all([loadFolders(), loadMessages()]);
      status(t("sent"));
    });
  });
  $("c-save").addEventListener("click", () => guarded(async () => {
    const r = await api.saveDraft(collect());
    state.compose.draft_uid = r.uid;
    await loadFolders();
    status(t("draft_saved"));
  }));
  $("c-cancel").addEventListener("click", () => { state.compose = null; closeMessage(); });
  // settings
  $("open-settings").addEventListener("click", () => guarded(async () => {
    const s = await loadSettings();
    $("s-name").value = s.name || "";
    $("s-lang").value = s.language || language();
    $("s-tz").value = s.timezone || "";
    $("s-sig").value = s.signature || "";
    $("s-msg").textContent = "";
    const dl = $("s-tz-list");
    if (!dl.childElementCount && Intl.supportedValuesOf) {
      for (const z of Intl.supportedValuesOf("timeZone")) {
        const o = document.createElement("option");
        o.value = z;
        dl.append(o);
      }
    }
    pane("settings");
  }));
  $("settings").addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(async () => {
      const s = await api.saveSettings({ name: $("s-name").value, language: $("s-lang").value,
        timezone: $("s-tz").value.trim(), signature: $("s-sig").value });
      state.tz = s.timezone || "";
      state.signature = s.signature || "";
      setLanguage(s.language);
      $("lang").value = language();
      $("who").textContent = s.name ? `${s.name} <${state.me}>` : state.me;
      $("s-msg").textContent = t("saved");
      await loadMessages();
    });
  });
  $("s-pw").addEventListener("click", () => guarded(async () => {
    $("s-msg").textContent = "";
    try {
      await api.changePassword($("s-cur").value, $("s-new").value);
    } catch (err) {
      if (err.status === 400 || err.status === 403) { $("s-msg").textContent = err.message; return; }
      throw err;
    }
    $("s-cur").value = $("s-new").value = "";
    $("s-msg").textContent = t("password_changed");
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
