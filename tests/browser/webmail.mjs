// webmail.mjs - drive the webmail page in headless Chromium (Debian's
// chromium, through playwright-core): log in, read a plain message and an
// HTML message delivered over SMTP, check that the HTML mail's script did
// not run (a window flag it would set stays unset, the frame's DOM is
// untouched) and its remote image was never requested (request listener);
// add the plain message's sender to the contacts and see address
// completion offer it; compose rich text with a Chinese-named attachment
// and send it to SEND_TO; reply to the plain message; create a Chinese-named folder and
// move a message there; delete one (to Trash); settings; switch to
// Simplified Chinese (stored per user); log out. A screenshot of each page
// goes to SCREENSHOTS. Any console error (a CSP violation of our own page
// included) or page error fails the run. The pytest checks what arrived.
//
// Env: WEBMAIL_URL, WEBMAIL_USER, WEBMAIL_PASSWORD, PLAIN_SUBJECT,
// HTML_SUBJECT, REMOTE_URL (the image the HTML mail points at), SEND_TO,
// SCREENSHOTS, CHROMIUM (default /usr/bin/chromium). Exit 0 on success.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import path from "node:path";

const env = (k, d) => process.env[k] ?? d;
const url = env("WEBMAIL_URL");
const artifacts = env("SCREENSHOTS", "screenshots");
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
  page.on("dialog", (d) => d.accept()); // "delete this folder?"
  const statusIs = (key) => page.waitForFunction((k) => document.querySelector("#status").textContent === k, key);
  const openRow = async (subject) => {
    const r = page.locator("#messages tbody tr", { hasText: subject });
    await r.first().click();
    await page.waitForFunction((s) => document.querySelector("#r-subject").textContent === s, subject);
  };
  const openFolder = async (name) => {
    await page.click(`#folders button[data-folder="${name}"]`);
    await page.waitForSelector(`#folders button.current[data-folder="${name}"]`);
  };

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
  if (await page.evaluate(() => window.pwned !== undefined || window.top.pwned !== undefined))
    problems.push("the HTML mail's script set a window flag");
  await shot("04-html");

  // the plain message's sender into the contacts; completion offers it
  await openRow(env("PLAIN_SUBJECT"));
  await page.click("#add-contact");
  await statusIs("Added to contacts.");

  // compose: rich text, a Chinese-named attachment, to another user
  await page.click("#compose");
  await page.waitForSelector("#composer:not([hidden])");
  await page.locator("#c-to").pressSequentially(env("SEND_TO").slice(0, 2));
  await page.waitForFunction((want) => [...document.querySelectorAll("#c-addr option")]
    .some((o) => o.value === want), env("SEND_TO"));
  await page.fill("#c-to", env("SEND_TO"));
  await page.fill("#c-subject", "browser 你好");
  await page.check("#c-rich");
  await page.click("#c-html");
  await page.keyboard.type("Hello from ");
  await page.click("#c-bold");
  await page.keyboard.type("Chromium");
  await page.setInputFiles("#c-files", { name: "报告.txt", mimeType: "text/plain",
    buffer: Buffer.from("attachment body 附件\n") });
  await page.waitForFunction(() => document.querySelector("#c-att").textContent.includes("报告.txt"));
  await shot("06-compose");
  await page.click("#c-send");
  await page.waitForSelector("#composer", { state: "hidden" });
  await page.waitForFunction(() => document.querySelector("#status").textContent !== "");
  const sentStatus = await page.textContent("#status");
  if (sentStatus !== "Message sent.") problems.push("send: " + sentStatus);

  // reply all leaves ourselves out; then a plain reply to the plain
  // message (its sender is a local user)
  await openRow(env("PLAIN_SUBJECT"));
  await page.click("#reply-all");
  await page.waitForSelector("#composer:not([hidden])");
  if ((await page.inputValue("#c-to")) !== "Fred <fred@wm.test>" || (await page.inputValue("#c-cc")) !== "")
    problems.push("reply all: to " + (await page.inputValue("#c-to")) + " cc " + (await page.inputValue("#c-cc")));
  await page.click("#c-cancel");
  await page.waitForSelector("#composer", { state: "hidden" });
  await openRow(env("PLAIN_SUBJECT"));
  await page.click("#reply");
  await page.waitForSelector("#composer:not([hidden])");
  const quoted = await page.inputValue("#c-text");
  if (!quoted.includes("> plain body for the browser")) problems.push("reply does not quote: " + quoted);
  if ((await page.inputValue("#c-subject")) !== "Re: " + env("PLAIN_SUBJECT")) problems.push("reply subject");
  await page.click("#c-text");
  await page.keyboard.press("Control+Home");
  await page.keyboard.type("Thanks, got it.");
  await shot("07-reply");
  await page.click("#c-send");
  await statusIs("Message sent.");

  // a Chinese-named folder; move the plain message there
  await page.fill("#folder-name", "项目");
  await page.click("#folder-create");
  await page.waitForSelector('#folders button.current[data-folder="项目"]');
  await openFolder("INBOX");
  await openRow(env("PLAIN_SUBJECT"));
  await page.selectOption("#move-to", "项目");
  await page.click("#move");
  await page.waitForSelector("#reader-msg", { state: "hidden" });
  await openFolder("项目");
  await page.locator("#messages tbody tr", { hasText: env("PLAIN_SUBJECT") }).waitFor();
  await shot("08-folder");

  // delete: the HTML message goes to Trash
  await openFolder("INBOX");
  await openRow(env("HTML_SUBJECT"));
  await page.click("#delete");
  await page.waitForSelector("#reader-msg", { state: "hidden" });
  await openFolder("Trash");
  await page.locator("#messages tbody tr", { hasText: env("HTML_SUBJECT") }).waitFor();
  await page.waitForSelector("#empty-folder:not([hidden])");
  await shot("09-trash");

  // a draft: saved, found in Drafts, opened again in the composer
  await page.click("#compose");
  await page.waitForSelector("#composer:not([hidden])");
  await page.fill("#c-to", "fred@wm.test");
  await page.fill("#c-subject", "draft from the browser");
  await page.click("#c-save");
  await statusIs("Draft saved.");
  await page.click("#c-cancel");
  await openFolder("Drafts");
  await openRow("draft from the browser");
  await page.waitForSelector("#edit-draft:not([hidden])");
  await page.click("#edit-draft");
  await page.waitForSelector("#composer:not([hidden])");
  if ((await page.inputValue("#c-to")) !== "fred@wm.test") problems.push("draft To not restored");
  await page.click("#c-cancel");

  // Sent holds both messages
  await openFolder("Sent");
  await page.locator("#messages tbody tr", { hasText: "browser 你好" }).waitFor();
  await page.locator("#messages tbody tr", { hasText: "Re: " + env("PLAIN_SUBJECT") }).waitFor();

  // search
  await openFolder("Sent");
  await page.fill("#search", "你好");
  await page.click("#search-form button[type=submit]");
  await page.waitForFunction(() => document.querySelectorAll("#messages tbody tr").length === 1);
  await shot("10-search");
  // in the text: the reply's quote of the plain message
  await page.selectOption("#search-in", "body");
  await page.fill("#search", "plain body for the browser");
  await page.click("#search-form button[type=submit]");
  await page.waitForFunction(() => {
    const rows = document.querySelectorAll("#messages tbody tr");
    return rows.length === 1 && rows[0].textContent.includes("Re: ");
  });
  await page.selectOption("#search-in", "q");
  await page.fill("#search", "");
  await page.click("#search-form button[type=submit]");

  // settings: signature and time zone
  await page.click("#open-settings");
  await page.waitForSelector("#settings:not([hidden])");
  await page.fill("#s-sig", "Dora\nwm.test");
  await page.fill("#s-tz", "Asia/Shanghai");
  await page.click("#s-save");
  await page.waitForFunction(() => document.querySelector("#s-msg").textContent === "Saved.");
  await shot("11-settings");

  await page.selectOption("#lang", "zh-CN");
  await page.waitForFunction(() => document.querySelector("#logout").textContent === "退出");
  await page.waitForFunction(() => document.querySelector("#folders").textContent.includes("收件箱"));
  const inbox = await page.textContent("#folders");
  if (!inbox.trim().startsWith("收件箱")) problems.push("INBOX not first or not translated: " + inbox);
  await page.waitForFunction(() => document.querySelector("#page").textContent.includes("共"));
  await page.waitForFunction(() => document.querySelector("#compose").textContent === "写邮件");
  await shot("12-zh-CN");

  await page.click("#logout");
  await page.waitForSelector("#login:not([hidden])");
  await page.waitForSelector("#mail", { state: "hidden" });

  // the language is the user's, not the browser's: a browser that shows
  // the login page in English gets the stored Chinese after login
  await page.evaluate(() => localStorage.setItem("mn.lang", "en"));
  await page.reload();
  await page.waitForSelector("#login:not([hidden])");
  if ((await page.textContent("#login h1")) !== "Sign in") problems.push("login page not in English");
  await page.fill("#address", env("WEBMAIL_USER"));
  await page.fill("#password", env("WEBMAIL_PASSWORD"));
  await page.click("#login button[type=submit]");
  await page.waitForSelector("#mail:not([hidden])");
  await page.waitForFunction(() => document.querySelector("#logout").textContent === "退出");
  await page.click("#logout");
  await page.waitForSelector("#login:not([hidden])");
  // chosen on the login form: stored for the user (the pytest checks "en")
  await page.selectOption("#login-lang", "en");
  await page.fill("#address", env("WEBMAIL_USER"));
  await page.fill("#password", env("WEBMAIL_PASSWORD"));
  await page.click("#login button[type=submit]");
  await page.waitForSelector("#mail:not([hidden])");
  await page.waitForFunction(() => document.querySelector("#compose").textContent === "Compose");
  await page.waitForFunction(() => document.querySelector("#page").textContent === "No messages");
  await page.click("#logout");
  await page.waitForSelector("#login:not([hidden])");

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
