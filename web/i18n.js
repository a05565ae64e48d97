// i18n.js - interface strings of the webmail in English and Simplified
// Chinese. t(key) gives the string of the current language; apply() fills
// every element with a data-i18n attribute. The choice is kept in
// localStorage (XXX: stored per user on the server with the settings page).
const STRINGS = {
  en: {
    title: "Webmail", logout: "Log out", login_title: "Sign in",
    address: "Email address", password: "Password", sign_in: "Sign in",
    sort: "Sort", sort_date: "Date", sort_from: "From", sort_subject: "Subject",
    sort_size: "Size", prev: "Newer", next: "Older", from: "From", to: "To",
    subject: "Subject", date: "Date", size: "Size", no_message: "No message selected",
    flag: "Flag", unflag: "Unflag", mark_unread: "Mark unread", move: "Move",
    delete: "Delete", no_subject: "(no subject)", login_failed: "Wrong address or password.",
    blocked: "Too many failed logins; try again later.", error: "Error",
    attachments: "Attachments", page: "{from}–{to} of {total}", empty: "No messages",
    folder_INBOX: "Inbox", folder_Sent: "Sent", folder_Drafts: "Drafts",
    folder_Trash: "Trash", folder_Junk: "Junk", loading: "Loading…",
  },
  "zh-CN": {
    title: "网页邮箱", logout: "退出", login_title: "登录",
    address: "邮箱地址", password: "密码", sign_in: "登录",
    sort: "排序", sort_date: "日期", sort_from: "发件人", sort_subject: "主题",
    sort_size: "大小", prev: "较新", next: "较旧", from: "发件人", to: "收件人",
    subject: "主题", date: "日期", size: "大小", no_message: "未选择邮件",
    flag: "加星标", unflag: "取消星标", mark_unread: "标为未读", move: "移动",
    delete: "删除", no_subject: "（无主题）", login_failed: "邮箱地址或密码错误。",
    blocked: "登录失败次数过多，请稍后再试。", error: "错误",
    attachments: "附件", page: "第 {from}–{to} 封，共 {total} 封", empty: "没有邮件",
    folder_INBOX: "收件箱", folder_Sent: "已发送", folder_Drafts: "草稿箱",
    folder_Trash: "已删除", folder_Junk: "垃圾邮件", loading: "加载中…",
  },
};

let lang = localStorage.getItem("mn.lang") ||
  (navigator.language && navigator.language.toLowerCase().startsWith("zh") ? "zh-CN" : "en");
if (!STRINGS[lang]) lang = "en";

export function language() { return lang; }

export function setLanguage(l) {
  if (!STRINGS[l]) return;
  lang = l;
  localStorage.setItem("mn.lang", l);
  apply();
}

export function t(key, vars = {}) {
  let s = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  for (const [k, v] of Object.entries(vars)) s = s.replace("{" + k + "}", String(v));
  return s;
}

export function apply(root = document) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
}
