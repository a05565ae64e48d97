// webmail.mjs - drive the webmail page in headless Chromium (Debian's
// chromium, through playwright-core): log in, read a plain message and an
// HTML message delivered over SMTP, check that the HTML mail's script did
// not run and its remote image was never requested, switch to Simplified
// Chinese, log out. Screenshots go to ARTIFACTS. Any console error (a CSP
// violation of our own page included) or page error fails the run.
//
// Env: WEBMAIL_URL, WEBMAIL_USER, WEBMAIL_PASSWORD, PLAIN_SUBJECT,
// HTML_SUBJECT, REMOTE_URL (the image the HTML mail points at), ARTIFACTS,
// CHROMIUM (default /usr/bin/chromium). Exit 0 on success.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import path from "node:path";

const env = (k, d) => process.env[k] ?? d;
const url = env("WEBMAIL_URL");
const artifacts = env("ARTIFACTS", "browser-artifacts");
const remote = env("REMOTE_URL");
const TIMEOUT = 20000;

mkdirSync(artifacts, { recursive: true });
const problems = [];
const requests = [];
const mailBlocked = []; // what the mail frame's sandbox and CSP refused

const browser = await chromium.launch({
  executablePath: env("CHROMIUM", "/usr/bin/chromium"),
  // root in a container: Chromium's own sandbox needs user namespaces
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout(TIMEOUT);
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    // expected: HTTP errors the page handles (401 before login, the wrong
    // password) are logged by Chromium as failed loads
    if (m.text().startsWith("Failed to load resource")) return;
    if (m.text().includes("/html'") || m.text().includes(remote)) {
      mailBlocked.push(m.text());
      return;
    }
    problems.push("console: " + m.text());
  });
  page.on("pageerror", (e) => problems.push("pageerror: " + e.message));
  // only requests that completed: CSP-blocked ones never reach the network
  page.on("requestfinished", (r) => requests.push(r.url()));
  const shot = (name) => page.screenshot({ path: path.join(artifacts, name + ".png"), fullPage: true });

  await page.goto(url);
  await page.selectOption("#lang", "en");
  await page.waitForSelector("#login:not([hidden])");
  await shot("01-login");
  await page.fill("#address", env("WEBMAIL_USER"));
  await page.fill("#password", "wrong-password");
  await page.click("#login button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#login-error").textContent !== "");
  await page.fill("#password", env("WEBMAIL_PASSWORD"));
  await page.click("#login button[type=submit]");
  await page.waitForSelector("#mail:not([hidden])");
  await page.waitForSelector("#login", { state: "hidden" });
  const row = page.locator("#messages tbody tr", { hasText: env("PLAIN_SUBJECT") });
  await row.waitFor();
  await shot("02-inbox");

  await row.click();
  await page.waitForFunction((s) => document.querySelector("#r-subject").textContent === s,
    env("PLAIN_SUBJECT"));
  const text = await page.textContent("#r-text");
  if (!text.includes("plain body for the browser")) problems.push("plain text not shown: " + text);
  await shot("03-plain");

  const htmlRow = page.locator("#messages tbody tr", { hasText: env("HTML_SUBJECT") });
  await htmlRow.click();
  await page.waitForSelector("#r-html:not([hidden])");
  const frame = page.frameLocator("#r-html");
  await frame.locator("#greeting").waitFor();
  const greeting = await frame.locator("#greeting").textContent();
  if (greeting !== "Hello from HTML") problems.push("HTML part not shown: " + greeting);
  const pwned = await frame.locator("body").getAttribute("data-pwned");
  if (pwned !== null) problems.push("a script in the HTML mail ran");
  await shot("04-html");

  await page.selectOption("#lang", "zh-CN");
  await page.waitForFunction(() => document.querySelector("#logout").textContent === "退出");
  const inbox = await page.textContent("#folders");
  if (!inbox.trim().startsWith("收件箱")) problems.push("INBOX not first or not translated: " + inbox);
  await page.waitForFunction(() => document.querySelector("#page").textContent.includes("共"));
  await shot("05-zh-CN");

  await page.click("#logout");
  await page.waitForSelector("#login:not([hidden])");
  await page.waitForSelector("#mail", { state: "hidden" });
  await page.selectOption("#lang", "en");

  if (requests.some((u) => u.startsWith(remote))) problems.push("remote image was requested");
  if (!mailBlocked.some((t) => t.includes("Blocked script execution")))
    problems.push("no sign of the mail's script being blocked: " + mailBlocked.join(" | "));
  if (!mailBlocked.some((t) => t.includes(remote)))
    problems.push("no sign of the remote image being blocked: " + mailBlocked.join(" | "));
  const foreign = requests.filter((u) => !u.startsWith(new URL(url).origin));
  if (foreign.length) problems.push("requests off the node: " + foreign.join(", "));
} catch (e) {
  problems.push("failed: " + (e.stack || e));
} finally {
  await browser.close();
}
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log("ok");
