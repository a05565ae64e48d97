// i18n.js - interface strings of the webmail in English and Simplified
// Chinese. t(key) gives the string of the current language; apply() fills
// every element with a data-i18n attribute. The choice is kept in
// localStorage for the login page, and per user on the server (settings):
// after login the user's stored language wins, unless it was just chosen
// on the login form (then that choice is stored).
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
    language: "Language", settings: "Settings", compose: "Compose", folder_name: "Folder name",
    folder_create: "New folder", folder_rename: "Rename folder", folder_delete: "Delete folder",
    empty_trash: "Empty this folder", search: "Search", filter_all: "All", filter_unread: "Unread",
    filter_flagged: "Flagged", search_go: "Search", reply: "Reply", reply_all: "Reply all",
    forward: "Forward", edit_draft: "Edit draft", cc: "Cc", bcc: "Bcc", rich_text: "Rich text",
    send: "Send", save_draft: "Save draft", cancel: "Cancel", display_name: "Display name",
    timezone: "Time zone", signature: "Signature", save: "Save",
    change_password: "Change password", current_password: "Current password",
    new_password: "New password", sent: "Message sent.", draft_saved: "Draft saved.",
    saved: "Saved.", password_changed: "Password changed.", download: "Download",
    wrote: "On {date}, {name} wrote:", forwarded: "---------- Forwarded message ----------",
    confirm_delete_folder: "Delete the folder and its messages?", folder_done: "Done.",
    show_images: "Show remote images", search_headers: "From, to, subject",
    search_body: "Message text", add_contact: "Add sender to contacts",
    contact_added: "Added to contacts.",
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
    language: "语言", settings: "设置", compose: "写邮件", folder_name: "文件夹名称",
    folder_create: "新建文件夹", folder_rename: "重命名文件夹", folder_delete: "删除文件夹",
    empty_trash: "清空此文件夹", search: "搜索", filter_all: "全部", filter_unread: "未读",
    filter_flagged: "星标", search_go: "搜索", reply: "回复", reply_all: "全部回复",
    forward: "转发", edit_draft: "编辑草稿", cc: "抄送", bcc: "密送", rich_text: "富文本",
    send: "发送", save_draft: "存草稿", cancel: "取消", display_name: "显示名称",
    timezone: "时区", signature: "签名", save: "保存",
    change_password: "修改密码", current_password: "当前密码",
    new_password: "新密码", sent: "邮件已发送。", draft_saved: "草稿已保存。",
    saved: "已保存。", password_changed: "密码已修改。", download: "下载",
    wrote: "{date}，{name} 写道：", forwarded: "---------- 转发的邮件 ----------",
    confirm_delete_folder: "删除该文件夹及其中的邮件？", folder_done: "完成。",
    show_images: "显示远程图片", search_headers: "发件人、收件人、主题",
    search_body: "正文", add_contact: "将发件人加入联系人",
    contact_added: "已加入联系人。",
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
  for (const el of root.querySelectorAll("[data-i18n-placeholder]"))
    el.placeholder = t(el.dataset.i18nPlaceholder);
}
