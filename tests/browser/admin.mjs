// admin.mjs - drive the web admin (/admin/) in headless Chromium (Debian's
// chromium, through playwright-core): a system admin logs in (a wrong
// password first), sees the dashboard, creates a domain with a domain
// alias, creates a user, changes its quota and sees it in the list, adds
// an alias, a group with a member and a domain admin, looks at the queue,
// releases a blocked login name and looks at the cluster page, switches to Simplified Chinese and back, logs out;
// then a domain admin logs in, sees only its own domain and is refused
// another domain's users (the API's 403 shown on the page), and after its
// password was changed its session ends and it signs in again. A screenshot
// of every page goes to ARTIFACTS. Any console error other than the HTTP
// errors the page handles, or any page error, fails the run.
//
// With MODE=cluster (tests/cluster/test_webadmin_cluster.py) instead: on a
// cluster, the dashboard and the cluster page show every member with its
// disk free and the leader, and a user (MOVE_USER) is moved to another node
// (MOVE_TO) from the user's panel, its progress followed to the end.
//
// Env: ADMIN_URL (http://NODE:6080/admin/), ADMIN_PASSWORD, DADM_NAME,
// DADM_PASSWORD, DADM_NEW_PASSWORD, DADM_DOMAIN, OTHER_DOMAIN, NODE_NAME, ARTIFACTS, CHROMIUM;
// MODE=cluster: ADMIN_URL, ADMIN_PASSWORD, NODES (comma-separated),
// MOVE_USER, MOVE_TO, ARTIFACTS, CHROMIUM. Exit 0 on success.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import path from "node:path";

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error("missing env " + k);
  return v;
};
const artifacts = env("ARTIFACTS", "browser-artifacts");
const TIMEOUT = 20000;
mkdirSync(artifacts, { recursive: true });
const problems = [];

function check(cond, what) {
  if (!cond) throw new Error("check failed: " + what);
}

const browser = await chromium.launch({
  executablePath: env("CHROMIUM", "/usr/bin/chromium"),
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1360, height: 860 } });
  page.setDefaultTimeout(TIMEOUT);
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    // HTTP errors the page shows itself (401 wrong password, 403 refused)
    if (m.text().startsWith("Failed to load resource")) return;
    problems.push("console: " + m.text());
  });
  page.on("pageerror", (e) => problems.push("pageerror: " + e.message));
  page.on("dialog", (d) => d.accept()); // the confirm() before a delete
  const shot = (name) => page.screenshot({ path: path.join(artifacts, name + ".png"), fullPage: true });
  const open = async (hash, ready) => {
    await page.evaluate((h) => { location.hash = h; }, hash);
    await page.waitForSelector(ready);
  };
  const text = (sel) => page.textContent(sel);

  if (env("MODE", "single") === "cluster") await clusterRun(page, shot, open, text);
  else await singleRun(page, shot, open, text);
  if (problems.length) throw new Error(problems.join("\n"));
  console.log("web admin browser test passed (" + env("MODE", "single") + ")");
} catch (e) {
  // what the page showed when it failed, for the report
  for (const p of browser.contexts().flatMap((c) => c.pages())) {
    await p.screenshot({ path: path.join(artifacts, "failed.png"), fullPage: true }).catch(() => {});
    console.error("page text at failure:", (await p.textContent("body").catch(() => "")).slice(0, 2000));
  }
  console.error(e.stack || String(e));
  console.error(problems.join("\n"));
  process.exitCode = 1;
} finally {
  await browser.close();
}

async function clusterRun(page, shot, open, text) {
  const nodes = env("NODES").split(",");
  await page.goto(env("ADMIN_URL"));
  await page.selectOption("#lang", "en");
  await page.waitForSelector("#login:not([hidden])");
  await page.fill("#name", "admin");
  await page.fill("#password", env("ADMIN_PASSWORD"));
  await page.click("#login button[type=submit]");
  await page.waitForSelector("#view[data-ready=dashboard] #members");
  for (const n of nodes) {
    const row = `#members tr[data-node="${n}"]`;
    check(/\d+(\.\d)? [KMGT]iB/.test(await text(row + " td:last-child")), "disk free of " + n);
    check((await text(row)).includes("active"), n + " active");
  }
  check(nodes.includes(await text("#d-leader")), "a leader");
  await shot("c1-dashboard");
  await open("#/cluster", "#view[data-ready=cluster] #nodes");
  check((await page.$$("#members tbody tr")).length === nodes.length, "every member listed");
  check((await page.$$("#nodes tbody tr")).length === nodes.length, "every node listed");
  await shot("c2-cluster");
  const user = env("MOVE_USER");
  await open("#/users?user=" + encodeURIComponent(user), "#view[data-ready=users] #move-user");
  await page.selectOption("#m-node", env("MOVE_TO"));
  await page.click("#move-user button[type=submit]");
  await page.waitForSelector("#m-progress.state-ok", { timeout: 60000 });
  check((await text("#m-progress")).includes("Moved to " + env("MOVE_TO")), "move finished");
  check((await text("#e-home")) === env("MOVE_TO"), "new home in the panel");
  await shot("c3-user-moved");
  await open("#/users?search=" + encodeURIComponent(user.split("@")[0]), `tr[data-user="${user}"]`);
  check((await text(`tr[data-user="${user}"]`)).includes(env("MOVE_TO")), "new home in the list");
}

async function singleRun(page, shot, open, text) {
  // --- system admin ---------------------------------------------------------
  await page.goto(env("ADMIN_URL"));
  await page.selectOption("#lang", "en");
  await page.waitForSelector("#login:not([hidden])");
  await shot("01-login");
  await page.fill("#name", "admin");
  await page.fill("#password", "wrong-password");
  await page.click("#login button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#login-error").textContent !== "");
  check((await text("#login-error")).includes("Wrong"), "wrong password message");
  await page.fill("#password", env("ADMIN_PASSWORD"));
  await page.click("#login button[type=submit]");

  // dashboard: version, uptime, disk, counts, services, members and leader
  await page.waitForSelector("#view[data-ready=dashboard] #members");
  check((await text("#d-version")).includes("0.1.0"), "version on the dashboard");
  check((await text("#d-node")).includes(env("NODE_NAME")), "node name");
  check(/\d/.test(await text("#d-disk")), "disk free");
  check((await text("#services")).includes("http"), "services table");
  check((await text("#d-leader")) === env("NODE_NAME"), "leader on the dashboard");
  check((await text("#members")).includes(env("NODE_NAME")), "member row");
  await shot("02-dashboard");

  // domains: add one, with a domain alias
  await open("#/domains", "#add-domain");
  await page.fill("#new-domain", "shop.test");
  await page.click("#add-domain button[type=submit]");
  await page.waitForSelector('tr[data-domain="shop.test"]');
  await page.fill('tr[data-domain="shop.test"] input', "shop-alias.test");
  await page.click('tr[data-domain="shop.test"] form button[type=submit]');
  await page.waitForSelector('tr[data-domain="shop.test"] .chip:has-text("shop-alias.test")');
  // delete (after the confirm() the page asks): a new domain goes away again
  await page.fill("#new-domain", "gone.test");
  await page.click("#add-domain button[type=submit]");
  await page.click('tr[data-domain="gone.test"] td:last-child button.danger');
  await page.waitForSelector('tr[data-domain="gone.test"]', { state: "detached" });
  // the domain's limits (directory preferences)
  await page.click('tr[data-domain="shop.test"] a.limits-link');
  await page.waitForSelector("#limits #l-send_messages_per_hour");
  await page.fill("#l-send_messages_per_hour", "120");
  await page.fill("#l-sender_block", "spam@junk.test\n@bad.test");
  await page.click("#l-save");
  await page.waitForFunction(() => document.querySelector("#l-sender_block")?.value === "spam@junk.test\n@bad.test" &&
    document.querySelector("#l-send_messages_per_hour")?.value === "120" && !document.querySelector("#toast").hidden);
  // a DKIM key: the page shows the TXT record to publish
  await page.click("#dkim-new");
  await page.waitForSelector('#dkim pre.dns:has-text("v=DKIM1")');
  check((await text("#dkim code")) === "mail._domainkey.shop.test", "DKIM record name");
  await shot("03-domains");

  // users: add one with a quota, then change the quota and see it listed
  await page.click('tr[data-domain="shop.test"] a');
  await page.waitForSelector("#view[data-ready=users] #users");
  await page.click("#add-user-btn");
  await page.waitForSelector("#add-user");
  await page.fill("#u-local", "carol");
  await page.fill("#u-name", "Carol 测试");
  await page.fill("#u-password", "Carol-pw1");
  await page.fill("#u-quota", "100M");
  await page.click("#add-user button[type=submit]");
  await page.waitForSelector('#user-panel h2:has-text("carol@shop.test")');
  await page.waitForSelector('tr[data-user="carol@shop.test"] td.quota:has-text("100 MiB")');
  check((await page.inputValue("#e-quota")) === "100M", "quota in the edit form");
  await page.fill("#e-quota", "250M");
  await page.check("#e-flag-no_external_send");
  await page.click("#e-save");
  await page.waitForSelector('tr[data-user="carol@shop.test"] td.quota:has-text("250 MiB")');
  check((await page.inputValue("#e-quota")) === "250M", "new quota in the edit form");
  check((await text('tr[data-user="carol@shop.test"]')).includes("no external send"), "flag in the list");
  check((await text("#e-usage-line")).includes("250"), "usage line shows the quota");
  check((await text("#held-none")).includes("Nothing held"), "empty quarantine");
  check((await text('tr[data-user="carol@shop.test"] td.usage')).includes("0 B · 0"), "usage in the list");
  // the user's own sender list (directory preferences)
  await page.fill("#up-sender_allow", "friend@remote.test");
  await page.click("#up-save");
  await page.waitForSelector('#toast:not([hidden]):has-text("Saved")');
  // search on the server
  await page.fill("#search", "caro");
  await page.click("#view form.tools button[type=submit]");
  await page.waitForSelector('#page-info:has-text("1–1")');
  await shot("04-users");

  // aliases
  await open("#/aliases?domain=shop.test", "#add-alias");
  await page.fill("#a-local", "info");
  await page.fill("#a-targets", "carol@shop.test");
  await page.click("#add-alias button[type=submit]");
  await page.waitForSelector('tr[data-alias="info@shop.test"]');
  await page.fill("#a-local", "tmp");
  await page.fill("#a-targets", "carol@shop.test");
  await page.click("#add-alias button[type=submit]");
  await page.click('tr[data-alias="tmp@shop.test"] button.danger');
  await page.waitForSelector('tr[data-alias="tmp@shop.test"]', { state: "detached" });
  await shot("05-aliases");

  // groups with a member
  await open("#/groups?domain=shop.test", "#add-group");
  await page.fill("#g-local", "staff");
  await page.fill("#g-name", "Staff");
  await page.click("#add-group button[type=submit]");
  await page.waitForSelector('tr[data-group="staff@shop.test"]');
  await page.fill('tr[data-group="staff@shop.test"] form input', "carol@shop.test");
  await page.click('tr[data-group="staff@shop.test"] form button[type=submit]');
  await page.waitForSelector('tr[data-group="staff@shop.test"] .chip:has-text("carol@shop.test")');
  await shot("06-groups");

  // admins: a domain admin of shop.test
  await open("#/admins", "#add-admin");
  await page.fill("#ad-name", "shopadm");
  await page.fill("#ad-password", "Shop-adm1");
  await page.selectOption("#ad-domain", "shop.test");
  await page.click("#add-admin button[type=submit]");
  await page.waitForSelector('tr[data-admin="shopadm"]');
  await shot("07-admins");

  // queue, blocked logins (the pytest blocked the name "intruder") and cluster
  await open("#/queue", "#q-refresh");
  await shot("08-queue");
  await open("#/security", 'tr[data-blocked="intruder"]');
  await shot("08b-blocked");
  await page.click('tr[data-blocked="intruder"] button');
  await page.waitForSelector("#blocked-none");
  await open("#/cluster", "#view[data-ready=cluster] #nodes");
  check((await text("#c-leader")) === env("NODE_NAME"), "leader on the cluster page");
  check((await text("#members")).includes("leader"), "leader role");
  check((await text("#nodes")).includes("active"), "node table");
  await shot("09-cluster");

  // Simplified Chinese, then back; every English string has its Chinese one
  const untranslated = await page.evaluate(async () => (await import("/admin/i18n.js")).missing());
  check(untranslated.length === 0, "untranslated strings: " + untranslated);
  await page.selectOption("#lang", "zh-CN");
  await page.waitForSelector('#nav a[data-page=users]:has-text("用户")');
  await page.waitForSelector('#view[data-ready=cluster] h1:has-text("集群")');
  await open("#/users?domain=shop.test", 'tr[data-user="carol@shop.test"]');
  check((await text("#view h1")) === "用户", "Chinese page title");
  await shot("10-users-zh");
  await page.selectOption("#lang", "en");
  await page.waitForSelector('#nav a[data-page=users]:has-text("Users")');

  await page.click("#logout");
  await page.waitForSelector("#login:not([hidden])");

  // --- domain admin ---------------------------------------------------------
  await page.fill("#name", env("DADM_NAME"));
  await page.fill("#password", env("DADM_PASSWORD"));
  await page.click("#login button[type=submit]");
  await page.waitForSelector("#view[data-ready=dashboard]");
  check(await page.isHidden("#nav a[data-page=admins]"), "no admins link for a domain admin");
  check(await page.isHidden("#nav a[data-page=cluster]"), "no cluster link for a domain admin");
  check(await page.isHidden("#nav a[data-page=security]"), "no blocked-logins link for a domain admin");
  check((await text("#d-domains")).includes("1"), "one domain counted");
  await shot("11-domain-admin-dashboard");
  await open("#/domains", "#view[data-ready=domains] #domains");
  const shown = await page.$$eval("#domains tbody tr", (rows) => rows.map((r) => r.dataset.domain));
  check(JSON.stringify(shown) === JSON.stringify([env("DADM_DOMAIN")]), "only its own domain: " + shown);
  check(await page.isHidden("#add-domain") || !(await page.$("#add-domain")), "no add-domain form");
  // the domain chooser lists only its domain
  await open("#/users", "#view[data-ready=users] #domain");
  const opts = await page.$$eval("#domain option", (o) => o.map((x) => x.value));
  check(JSON.stringify(opts) === JSON.stringify([env("DADM_DOMAIN")]), "domain chooser: " + opts);
  // another domain named in the address bar: the API refuses, the page says so
  await open("#/users?domain=" + env("OTHER_DOMAIN"), "#view[data-ready=users] .error");
  check((await page.getAttribute("#view .error", "data-status")) === "403", "403 for another domain's users");
  await shot("12-domain-admin-refused");
  await open("#/users?domain=" + env("DADM_DOMAIN") + "&user=" + encodeURIComponent("bob@" + env("OTHER_DOMAIN")),
    "#view[data-ready=users] #user-panel .error");
  check((await page.getAttribute("#user-panel .error", "data-status")) === "403", "403 for another domain's user");
  await open("#/admins", "#view[data-ready=admins] .error");
  check((await page.getAttribute("#view .error", "data-status")) === "403", "403 for the admins page");
  // the session token lives in the page's memory only: no cookie and
  // nothing in storage but the language (a request without the token
  // would get the API's Basic challenge, i.e. the browser's own dialog)
  // a password change ends the session: the next click asks to sign in
  // again (a system admin changes it here, with Basic credentials given
  // explicitly, so no browser dialog), then the page it was on comes back
  const changed = await page.evaluate(async ([name, admin, pw]) => (await fetch(
    "/api/v1/admins/" + encodeURIComponent(name), {
      method: "PATCH",
      headers: { Authorization: "Basic " + btoa("admin:" + admin), "Content-Type": "application/json" },
      body: JSON.stringify({ password: pw }),
    })).status, [env("DADM_NAME"), env("ADMIN_PASSWORD"), env("DADM_NEW_PASSWORD")]);
  check(changed === 200, "password changed: " + changed);
  await page.click("#nav a[data-page=groups]");
  await page.waitForSelector("#login:not([hidden])");
  check((await text("#login-error")).includes("session ended"), "session ended message");
  await page.fill("#name", env("DADM_NAME"));
  await page.fill("#password", env("DADM_NEW_PASSWORD"));
  await page.click("#login button[type=submit]");
  await page.waitForSelector("#view[data-ready=groups]");
  check((await page.context().cookies()).length === 0, "no cookies");
  const stored = await page.evaluate(() => [...Object.keys(localStorage), ...Object.keys(sessionStorage)]);
  check(JSON.stringify(stored) === JSON.stringify(["mn.admin.lang"]), "storage: " + stored);
  await page.click("#logout");
  await page.waitForSelector("#login:not([hidden])");

}
