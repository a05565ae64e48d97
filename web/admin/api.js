// api.js - the admin JSON API (/api/v1, docs/api.md), the same one mailctl
// uses. Login trades the admin name and password for a session token
// (POST /api/v1/session); the token lives only in this module's memory and
// goes out as "Authorization: Bearer" - a header the browser never adds by
// itself, so another site cannot make requests in this session (no CSRF),
// and nothing is left in storage after the tab closes. A reload asks for
// the password again.
const BASE = "/api/v1";
let token = null;
let onExpired = () => {};

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export function setExpiredHandler(fn) { onExpired = fn; }

async function call(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = "Bearer " + token;
  const r = await fetch(BASE + path, {
    method, headers, credentials: "omit", cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status === 204) return null;
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    if (r.status === 401 && token && path !== "/session") {
      token = null;
      onExpired();
    }
    throw new ApiError(r.status, data.error || r.statusText);
  }
  return data;
}

const seg = (s) => encodeURIComponent(s);
const qs = (o) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null && v !== "") p.set(k, v);
  const s = p.toString();
  return s ? "?" + s : "";
};

export async function login(name, password) {
  const s = await call("POST", "/session", { name, password });
  token = s.token;
  delete s.token;
  return s;
}
export async function logout() {
  try { await call("DELETE", "/session"); } finally { token = null; }
}

export const status = () => call("GET", "/status");
export const cluster = () => call("GET", "/cluster");
export const nodes = () => call("GET", "/nodes");
export const drainNode = (n) => call("POST", `/nodes/${seg(n)}/drain`);

export const domains = () => call("GET", "/domains");
export const addDomain = (name) => call("POST", "/domains", { name });
export const delDomain = (name) => call("DELETE", `/domains/${seg(name)}`);
export const addDomainAlias = (name, alias) => call("POST", `/domains/${seg(name)}/aliases`, { alias });
export const delDomainAlias = (name, alias) => call("DELETE", `/domains/${seg(name)}/aliases/${seg(alias)}`);
export const dkim = (name) => call("GET", `/domains/${seg(name)}/dkim`);
export const newDkim = (name) => call("POST", `/domains/${seg(name)}/dkim`, {});
export const delDkim = (name) => call("DELETE", `/domains/${seg(name)}/dkim`);
export const userPrefs = (a) => call("GET", `/users/${seg(a)}/prefs`);
export const setUserPrefs = (a, prefs) => call("PUT", `/users/${seg(a)}/prefs`, prefs);
export const domainPrefs = (name) => call("GET", `/domains/${seg(name)}/prefs`);
export const setDomainPrefs = (name, prefs) => call("PUT", `/domains/${seg(name)}/prefs`, prefs);

export const users = ({ domain, search, offset = 0, limit = 50, usage = 0 } = {}) =>
  call("GET", "/users" + qs({ domain, search, offset, limit, usage: usage ? 1 : undefined }));
export const user = (a) => call("GET", `/users/${seg(a)}`);
export const addUser = (u) => call("POST", "/users", u);
export const patchUser = (a, fields) => call("PATCH", `/users/${seg(a)}`, fields);
export const delUser = (a) => call("DELETE", `/users/${seg(a)}`);
export const moveUser = (a, node) => call("POST", `/users/${seg(a)}/move`, { node, wait: false });

export const aliases = (domain) => call("GET", "/aliases" + qs({ domain }));
export const addAlias = (address, targets) => call("POST", "/aliases", { address, targets });
export const delAlias = (a) => call("DELETE", `/aliases/${seg(a)}`);

export const groups = (domain) => call("GET", "/groups" + qs({ domain }));
export const addGroup = (address, name) => call("POST", "/groups", { address, name });
export const delGroup = (a) => call("DELETE", `/groups/${seg(a)}`);
export const addMember = (g, member) => call("POST", `/groups/${seg(g)}/members`, { member });
export const delMember = (g, m) => call("DELETE", `/groups/${seg(g)}/members/${seg(m)}`);

export const admins = () => call("GET", "/admins");
export const addAdmin = (a) => call("POST", "/admins", a);
export const adminPassword = (name, password) => call("PATCH", `/admins/${seg(name)}`, { password });
export const delAdmin = (name) => call("DELETE", `/admins/${seg(name)}`);

export const blocked = () => call("GET", "/security/blocked");
export const release = (key) => call("DELETE", `/security/blocked/${seg(key)}`);
export const quarantine = (a) => call("GET", `/users/${seg(a)}/quarantine`);
export const releaseHeld = (a, uid) => call("POST", `/users/${seg(a)}/quarantine/${uid}/release`);
export const delHeld = (a, uid) => call("DELETE", `/users/${seg(a)}/quarantine/${uid}`);

export const queue = () => call("GET", "/queue");
export const retryQueue = (id) => call("POST", `/queue/${seg(id)}/retry`);
export const delQueue = (id) => call("DELETE", `/queue/${seg(id)}`);
