// api.js - the webmail JSON API (/api/v1/mail, docs/api.md). The session
// is an HttpOnly cookie the browser sends by itself; the CSRF token from
// login (or GET session after a reload) goes in X-CSRF-Token on every
// state-changing call.
const BASE = "/api/v1/mail";
let csrf = null;

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function call(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  const r = await fetch(BASE + path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status === 204) return null;
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(r.status, data.error || r.statusText);
  return data;
}

const seg = (s) => encodeURIComponent(s);

export async function login(address, password) {
  const s = await call("POST", "/login", { address, password });
  csrf = s.csrf_token;
  return s;
}
export async function session() {
  const s = await call("GET", "/session");
  csrf = s.csrf_token;
  return s;
}
export async function logout() { await call("POST", "/logout"); csrf = null; }
export const folders = () => call("GET", "/folders");
export const messages = (folder, { offset = 0, limit = 50, sort = "date", order = "desc" } = {}) =>
  call("GET", `/folders/${seg(folder)}/messages?offset=${offset}&limit=${limit}&sort=${sort}&order=${order}`);
export const message = (folder, uid) => call("GET", `/folders/${seg(folder)}/messages/${uid}`);
export const htmlUrl = (folder, uid) => `${BASE}/folders/${seg(folder)}/messages/${uid}/html`;
export const setFlags = (folder, uid, flags) =>
  call("PATCH", `/folders/${seg(folder)}/messages/${uid}`, flags);
export const move = (folder, uid, to) =>
  call("POST", `/folders/${seg(folder)}/messages/${uid}/move`, { to });
export const remove = (folder, uid) => call("DELETE", `/folders/${seg(folder)}/messages/${uid}`);
export const messagesQuery = (folder, { offset = 0, limit = 50, sort = "date", order = "desc",
  q = "", field = "q", unread = false, flagged = false } = {}) => {
  const p = new URLSearchParams({ offset, limit, sort, order });
  if (q) p.set(["q", "from", "to", "subject", "body"].includes(field) ? field : "q", q);
  if (unread) p.set("unread", "1");
  if (flagged) p.set("flagged", "1");
  return call("GET", `/folders/${seg(folder)}/messages?${p}`);
};
export const partUrl = (folder, uid, part) =>
  `${BASE}/folders/${seg(folder)}/messages/${uid}/parts/${part}`;
export const send = (msg) => call("POST", "/send", msg);
export const saveDraft = (msg) => call("POST", "/drafts", msg);
export const addresses = (q) => call("GET", `/addresses?q=${encodeURIComponent(q)}`);
export const createFolder = (name) => call("POST", "/folders", { name });
export const renameFolder = (folder, name) => call("PATCH", `/folders/${seg(folder)}`, { name });
export const deleteFolder = (folder) => call("DELETE", `/folders/${seg(folder)}`);
export const emptyFolder = (folder) => call("POST", `/folders/${seg(folder)}/empty`);
export const settings = () => call("GET", "/settings");
export const saveSettings = (s) => call("PATCH", "/settings", s);
export const changePassword = (current, password) =>
  call("POST", "/password", { current, password });
export const addContact = (email, name) => call("POST", "/contacts", { email, name });
