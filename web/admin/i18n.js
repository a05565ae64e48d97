// i18n.js - interface strings of the web admin in English and Simplified
// Chinese. t(key, {var}) gives the string of the current language (the
// English one, then the key itself, when missing); apply() fills every
// element with a data-i18n attribute. The choice is kept in localStorage
// under "mn.admin.lang" (a preference, not a secret).
const STRINGS = {
  en: {
    title: "mailnode admin", logout: "Log out", login_title: "Administrator sign in",
    admin_name: "Admin name", password: "Password", sign_in: "Sign in",
    login_failed: "Wrong admin name or password.", session_ended: "The session ended; sign in again.",
    error: "Error", failed: "Failed", loading: "Loading…", system_admin: "system admin", you: "you",
    nav_dashboard: "Dashboard", nav_domains: "Domains", nav_users: "Users", nav_aliases: "Aliases",
    nav_groups: "Groups", nav_admins: "Admins", nav_queue: "Mail queue", nav_cluster: "Cluster",
    nav_security: "Blocked logins", kind: "Kind", blocked_key: "IP or name", until: "Blocked until",
    failures: "Failures", kind_ip: "IP address", kind_user: "login name", release: "Release", released: "Released",
    blocked_none: "Nothing is blocked.", blocked_help: "Too many failed logins (IMAP, POP3, SMTP AUTH, webmail, admin) block an IP or a login name on the node that saw them.",
    quarantine: "Quarantine", held_none: "Nothing held.", from: "From", subject: "Subject",
    node: "Node", version: "Version", uptime: "Uptime", disk_free: "Disk free",
    domains: "Domains", users: "Users", aliases: "Aliases", groups: "Groups", messages: "Messages",
    messages_note: "Message counts are those of the mailboxes stored on {node}, refreshed every minute.",
    services: "Services", service: "Service", port: "Port", state: "State",
    svc_listening: "listening", svc_off: "off", svc_running: "running", svc_stopped: "stopped",
    cluster_members: "Cluster members", leader: "Leader", none: "none", role: "Role",
    raft_state: "Raft state", applied_index: "Applied index", commit_index: "Commit index",
    last_contact: "Last contact", unreachable: "unreachable", asked_node: "Answered by",
    role_leader: "leader", role_follower: "follower", role_candidate: "candidate", role_spare: "spare",
    nodes: "Nodes", address: "Address", created: "Created", drain: "Drain", draining: "Draining…",
    drained: "Node {node} drained", confirm_drain: "Move every user away from {node}?",
    domain: "Domain", domain_aliases: "Domain aliases", new_domain: "New domain", add: "Add",
    alias_domain: "alias domain", add_alias: "Add alias", domain_added: "Domain {name} added",
    domain_limits_note: "Per-user limits (quota, message size, flags) are set on the Users page; a domain's send limits and sender lists under Limits.",
    user_limits: "Send limits and sender lists", dkim: "DKIM signing key",
    dkim_none: "No key: mail from this domain is sent unsigned.", dkim_new: "Make a DKIM key",
    dkim_replace: "Replace the key", dkim_made: "New key made: publish the record below",
    dkim_publish: "Publish this TXT record as", confirm_dkim: "Replace the DKIM key of {domain}? The old record stops working.",
    limits: "Limits", limits_of: "Limits of {domain}", node_default: "node default",
    limits_help: "Send limits count per user (0 = unlimited; empty = the default). Sender lists: addresses or @domains, one per line.",
    pref_send_messages_per_hour: "Messages sent per hour", pref_send_recipients_per_hour: "Recipients per hour",
    pref_send_messages_per_day: "Messages sent per day", pref_send_recipients_per_day: "Recipients per day",
    pref_sender_allow: "Always accept from", pref_sender_block: "Always refuse from",
    delete: "Delete", deleted: "Deleted", added: "Added", confirm_delete: "Delete {name}?",
    all_domains: "All domains", search: "Search", search_hint: "address or name",
    add_user: "Add user", prev: "Previous", next: "Next", range: "{from}–{to}", no_users: "No users",
    name: "Name", home_node: "Home node", quota: "Quota", flags: "Flags", unlimited: "unlimited",
    flag_disabled: "disabled", flag_readonly: "read-only", flag_no_external_send: "no external send",
    flag_no_external_receive: "no external receive",
    local_part: "User name", quota_hint: "Quota (e.g. 500M, 2G; 0 = unlimited)",
    quota_messages: "Message quota", max_message_size: "Max message size", user_added: "User {address} added",
    cancel: "Cancel", close: "Close", save: "Save", saved: "Saved", nothing_changed: "Nothing changed",
    usage: "Usage", usage_elsewhere: "The mailbox is on another node: its panel shows the usage.", usage_of: "{used} of {quota}", usage_unlimited: "{used} (no quota)",
    messages_n: "messages: {n}", new_password: "New password", reset_password: "Reset password",
    password_changed: "Password changed", delete_user: "Delete user",
    move: "Move to another node", move_to: "Move", target_node: "Target node",
    no_other_node: "No other active node.", last_move: "Last move",
    move_state_copy: "Copying the mailbox…", move_state_hold: "Holding new mail, catching up…",
    move_state_cleanup: "Cleaning up on the old node…", move_done: "Moved to {node}", move_failed: "The move failed",
    alias: "Alias", targets: "Targets", no_aliases: "No aliases",
    group: "Group", members: "Members", add_group: "Add group", add_member: "Add member",
    remove: "Remove", builtin: "built-in", no_groups: "No groups",
    scope: "Scope", add_admin: "Add admin", set_password: "Set password",
    id: "ID", sender: "Sender", arrival: "Arrival", size: "Size", recipients: "Recipients",
    attempts_n: "{n} attempts", next_attempt: "next", busy: "being delivered", retry: "Retry now",
    retry_scheduled: "Scheduled now", refresh: "Refresh", queue_n: "{n} entries", queue_empty: "The queue is empty.",
    unit_d: "d", unit_h: "h", unit_m: "m", unit_s: "s",
  },
  "zh-CN": {
    title: "mailnode 管理", logout: "退出", login_title: "管理员登录",
    admin_name: "管理员名", password: "密码", sign_in: "登录",
    login_failed: "管理员名或密码错误。", session_ended: "会话已结束，请重新登录。",
    error: "错误", failed: "失败", loading: "加载中…", system_admin: "系统管理员", you: "本人",
    nav_dashboard: "概览", nav_domains: "域名", nav_users: "用户", nav_aliases: "别名",
    nav_groups: "群组", nav_admins: "管理员", nav_queue: "邮件队列", nav_cluster: "集群",
    nav_security: "登录封禁", kind: "类型", blocked_key: "IP 或名称", until: "封禁至",
    failures: "失败次数", kind_ip: "IP 地址", kind_user: "登录名", release: "解除", released: "已解除",
    blocked_none: "没有被封禁的登录。", blocked_help: "登录失败过多（IMAP、POP3、SMTP AUTH、网页邮箱、管理）会在发现的节点上封禁该 IP 或登录名。",
    quarantine: "隔离区", held_none: "没有被隔离的邮件。", from: "发件人", subject: "主题",
    node: "节点", version: "版本", uptime: "运行时间", disk_free: "磁盘可用",
    domains: "域名", users: "用户", aliases: "别名", groups: "群组", messages: "邮件",
    messages_note: "邮件数为存储在 {node} 上的邮箱的统计，每分钟刷新。",
    services: "服务", service: "服务", port: "端口", state: "状态",
    svc_listening: "监听中", svc_off: "关闭", svc_running: "运行中", svc_stopped: "已停止",
    cluster_members: "集群成员", leader: "主节点", none: "无", role: "角色",
    raft_state: "Raft 状态", applied_index: "已应用索引", commit_index: "提交索引",
    last_contact: "最近联系", unreachable: "无法连接", asked_node: "应答节点",
    role_leader: "主节点", role_follower: "从节点", role_candidate: "候选", role_spare: "备用",
    nodes: "节点", address: "地址", created: "创建时间", drain: "迁空", draining: "正在迁空…",
    drained: "节点 {node} 已迁空", confirm_drain: "将所有用户迁出 {node}？",
    domain: "域名", domain_aliases: "域名别名", new_domain: "新域名", add: "添加",
    alias_domain: "别名域名", add_alias: "添加别名", domain_added: "已添加域名 {name}",
    domain_limits_note: "每个用户的限制（配额、邮件大小、标志）在“用户”页面设置；域名的发信限制和发件人名单在“限制”中设置。",
    user_limits: "发信限制和发件人名单", dkim: "DKIM 签名密钥",
    dkim_none: "没有密钥：此域名的邮件不签名发送。", dkim_new: "生成 DKIM 密钥",
    dkim_replace: "更换密钥", dkim_made: "已生成新密钥：请发布下面的记录",
    dkim_publish: "请发布此 TXT 记录，名称为", confirm_dkim: "更换 {domain} 的 DKIM 密钥？旧记录将失效。",
    limits: "限制", limits_of: "{domain} 的限制", node_default: "节点默认",
    limits_help: "发信限制按每个用户计算（0 为不限；留空为默认值）。发件人名单：地址或 @域名，每行一个。",
    pref_send_messages_per_hour: "每小时发信数", pref_send_recipients_per_hour: "每小时收件人数",
    pref_send_messages_per_day: "每天发信数", pref_send_recipients_per_day: "每天收件人数",
    pref_sender_allow: "始终接收来自", pref_sender_block: "始终拒收来自",
    delete: "删除", deleted: "已删除", added: "已添加", confirm_delete: "删除 {name}？",
    all_domains: "全部域名", search: "搜索", search_hint: "地址或姓名",
    add_user: "添加用户", prev: "上一页", next: "下一页", range: "第 {from}–{to} 个", no_users: "没有用户",
    name: "姓名", home_node: "所在节点", quota: "配额", flags: "标志", unlimited: "不限",
    flag_disabled: "已停用", flag_readonly: "只读", flag_no_external_send: "禁止外发",
    flag_no_external_receive: "禁止接收外部邮件",
    local_part: "用户名", quota_hint: "配额（如 500M、2G；0 为不限）",
    quota_messages: "邮件数配额", max_message_size: "单封邮件上限", user_added: "已添加用户 {address}",
    cancel: "取消", close: "关闭", save: "保存", saved: "已保存", nothing_changed: "没有更改",
    usage: "用量", usage_elsewhere: "邮箱在其他节点上：用量见用户详情。", usage_of: "{used} / {quota}", usage_unlimited: "{used}（无配额）",
    messages_n: "{n} 封邮件", new_password: "新密码", reset_password: "重置密码",
    password_changed: "密码已更改", delete_user: "删除用户",
    move: "迁移到其他节点", move_to: "迁移", target_node: "目标节点",
    no_other_node: "没有其他可用节点。", last_move: "上次迁移",
    move_state_copy: "正在复制邮箱…", move_state_hold: "暂存新邮件，正在追平…",
    move_state_cleanup: "正在清理旧节点…", move_done: "已迁移到 {node}", move_failed: "迁移失败",
    alias: "别名", targets: "目标", no_aliases: "没有别名",
    group: "群组", members: "成员", add_group: "添加群组", add_member: "添加成员",
    remove: "移除", builtin: "内置", no_groups: "没有群组",
    scope: "范围", add_admin: "添加管理员", set_password: "设置密码",
    id: "编号", sender: "发件人", arrival: "到达时间", size: "大小", recipients: "收件人",
    attempts_n: "已尝试 {n} 次", next_attempt: "下次", busy: "投递中", retry: "立即重试",
    retry_scheduled: "已安排立即重试", refresh: "刷新", queue_n: "{n} 条", queue_empty: "队列为空。",
    unit_d: "天", unit_h: "时", unit_m: "分", unit_s: "秒",
  },
};

const store = globalThis.localStorage;
let lang = (store && store.getItem("mn.admin.lang")) ||
  (globalThis.navigator && navigator.language && navigator.language.toLowerCase().startsWith("zh") ? "zh-CN" : "en");
if (!STRINGS[lang]) lang = "en";

export const LANGUAGES = Object.keys(STRINGS);
export function language() { return lang; }

export function setLanguage(l) {
  if (!STRINGS[l]) return;
  lang = l;
  if (store) store.setItem("mn.admin.lang", l);
}

export function t(key, vars) {
  if (key === "") return "";
  let s = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return s;
}

// for tests: keys of one language missing in another
export function missing() {
  const out = [];
  for (const l of LANGUAGES)
    for (const k of Object.keys(STRINGS.en)) if (!(k in STRINGS[l])) out.push(l + ":" + k);
  return out;
}

export function apply() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  document.title = t("title");
}
