// app.js - the web admin shell: login, the page links, the language switch
// and a hash router (#/users?domain=a.test) that hands the view to one page
// module at a time. A domain administrator gets no links to the
// system-only pages (admins, queue, cluster) and the API refuses them
// anyway (403).
import * as api from "./api.js";
import { apply, language, setLanguage, t } from "./i18n.js";
import { errorBox, h } from "./dom.js";
import * as dashboard from "./dashboard.js";
import * as domains from "./domains.js";
import * as users from "./users.js";
import * as aliases from "./aliases.js";
import * as groups from "./groups.js";
import * as admins from "./admins.js";
import * as queue from "./queue.js";
import * as cluster from "./cluster.js";
import * as security from "./security.js";

const PAGES = { dashboard, domains, users, aliases, groups, admins, queue, security, cluster };
const $ = (id) => document.getElementById(id);
let me = null;
let rendering = 0;

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [page, query] = raw.split("?");
  return { page: PAGES[page] ? page : "dashboard", params: new URLSearchParams(query || "") };
}

export function go(page, params = {}) {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== ""));
  const s = q.toString();
  const target = "#/" + page + (s ? "?" + s : "");
  if (location.hash === target) route();
  else location.hash = target;
}

async function route() {
  if (!me) return;
  const { page, params } = parseHash();
  const view = $("view");
  const mine = ++rendering;
  for (const a of document.querySelectorAll("#nav a"))
    a.classList.toggle("current", a.dataset.page === page);
  view.replaceChildren(h("p", { class: "muted" }, t("loading")));
  view.dataset.page = page;
  const ctx = { me, params, go, refresh: route, stale: () => mine !== rendering };
  try {
    const content = await PAGES[page].render(ctx);
    if (mine !== rendering) return; // the admin went elsewhere meanwhile
    view.replaceChildren(...[content].flat());
  } catch (e) {
    if (mine !== rendering || !me) return;
    view.replaceChildren(h("h1", {}, t("nav_" + page)), errorBox(e));
  }
  view.dataset.ready = page;
}

function showLogin() {
  me = null;
  $("nav").hidden = true;
  $("view").hidden = true;
  $("logout").hidden = true;
  $("who").textContent = "";
  $("login").hidden = false;
  $("toast").hidden = true;
  $("password").value = "";
  $("name").focus();
}

function showApp() {
  $("login").hidden = true;
  $("login-error").textContent = "";
  $("nav").hidden = false;
  $("view").hidden = false;
  $("logout").hidden = false;
  $("who").textContent = me.domain ? `${me.name} (${me.domain})` : `${me.name} (${t("system_admin")})`;
  for (const a of document.querySelectorAll("#nav a[data-system]")) a.hidden = !!me.domain;
  route();
}

$("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("login-error").textContent = "";
  try {
    me = await api.login($("name").value.trim(), $("password").value);
    $("password").value = "";
    showApp();
  } catch (e) {
    $("login-error").textContent = e.status === 401 ? t("login_failed") : t("error") + ": " + e.message;
  }
});

$("logout").addEventListener("click", async () => {
  await api.logout().catch(() => {});
  // the next admin starts on the dashboard (an expired session keeps its page)
  history.replaceState(null, "", location.pathname);
  showLogin();
});

$("lang").addEventListener("change", () => {
  setLanguage($("lang").value);
  apply();
  if (me) showApp();
});

api.setExpiredHandler(() => {
  showLogin();
  $("login-error").textContent = t("session_ended");
});

window.addEventListener("hashchange", route);
$("lang").value = language();
apply();
showLogin();
