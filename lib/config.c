/*
 * config.c - the node's INI configuration (SPEC §5), parsed with libinih.
 *
 * One static key table (config_keys[] below) says, for every key: section,
 * name, type, default as it would be written in the file, numeric range,
 * where the value lives in struct mn_config, and a one-line doc. That table
 * alone drives parsing, defaults, validation, config_free() and the generated
 * reference docs/config.md (the Postfix postconf.proto / nginx directive
 * table idea), so a key cannot be parsed but undocumented or vice versa.
 *
 * libinih does the INI syntax; we feed it through our own line reader
 * (ini_parse_stream) because the handler API has no line numbers and we
 * want "FILE:LINE: reason" for every refusal. The reader also:
 *   - counts real lines, refusing over-long ones instead of letting inih
 *     split them into two "lines";
 *   - strips leading blanks, so an indented line is never an inih
 *     multi-line continuation (that would silently append to a value);
 *   - strips " ;comment" itself, so behaviour does not depend on how the
 *     distribution built libinih (INI_ALLOW_INLINE_COMMENTS);
 *   - checks "[section]" lines, since inih only reports a section to the
 *     handler when a key follows it.
 */
#include "lib/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <ini.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"

/* A config file is a few dozen lines; anything much larger is a mistake
 * (wrong file), and the limit bounds what the fuzzer can make us hold. */
#define CONFIG_MAX_FILE (64 * 1024)
/* Longest line we accept, and never more than the libinih build allows. */
#define CONFIG_MAX_LINE 1024
/* How much of a user-supplied value or name is echoed in a message. */
#define CONFIG_ECHO_MAX 64

enum config_type {
	CFG_STRING,
	CFG_PORT,     /* uint16_t, 0 disables the service */
	CFG_SIZE,     /* uint64_t bytes, K/M/G suffixes */
	CFG_UINT,     /* uint32_t */
	CFG_SECONDS,  /* written in seconds, stored as uint32_t milliseconds */
	CFG_BOOL,     /* bool */
	CFG_LOGLEVEL, /* int (enum log_level) */
};

#define CFG_REQUIRED 0x1u

/* A string validator returns NULL when the value is fine, else the reason
 * completing "KEY: 'VALUE' ..." (e.g. "is not HOST:PORT"). */
typedef const char *config_check_fn(const char *value);

struct config_key {
	const char *section;
	const char *name;
	enum config_type type;
	const char *def;   /* as written in a file; NULL: unset */
	uint64_t min, max; /* numeric types; for strings unused */
	size_t offset;     /* into struct mn_config */
	unsigned flags;
	config_check_fn *check; /* strings only; may be NULL */
	const char *range_doc;  /* strings: what the validator accepts */
	const char *doc;
};

static config_check_fn check_node_name, check_hostname, check_ip_address, check_join,
    check_resolvers, check_cidr_list, check_action, check_action_defer, check_dmarc_quarantine,
    check_zone_list, check_sender_list, check_host_action, check_attach_action, check_scan_address,
    check_rspamd_url, check_scan_failure, check_score, check_scan_action, check_subject_tag;

#define OFF(field) offsetof(struct mn_config, field)
#define KB 1024ULL
#define MB (1024ULL * 1024)
#define GB (1024ULL * 1024 * 1024)

/* One entry per key/case reads better than reflowed fields. */
/* clang-format off */
#define PORT_KEY(name, def, field, doc) \
	{ "listen", name, CFG_PORT, def, 0, 65535, OFF(field), 0, NULL, NULL, doc }

static const struct config_key config_keys[] = {
	{ "node", "name", CFG_STRING, NULL, 0, 0, OFF(node_name), CFG_REQUIRED,
	    check_node_name, "[A-Za-z0-9._-]{1,63}",
	    "unique, stable cluster member name" },
	{ "node", "data_dir", CFG_STRING, NULL, 0, 0, OFF(data_dir),
	    CFG_REQUIRED, NULL, NULL,
	    "directory for the directory db, raft log, mail store, spool and tls" },
	{ "node", "hostname", CFG_STRING, "localhost", 0, 0, OFF(hostname), 0,
	    check_hostname, "host name, 1-253 of [A-Za-z0-9.-]",
	    "SMTP greeting and HELO name" },

	{ "listen", "address", CFG_STRING, "127.0.0.1", 0, 0,
	    OFF(listen_address), 0, check_ip_address, "numeric IPv4 or IPv6",
	    "bind address for every service" },
	PORT_KEY("smtp_port", "2525", smtp_port, "SMTP (MX); standard 25"),
	PORT_KEY("submission_port", "2587", submission_port,
	    "submission (STARTTLS, auth required); standard 587"),
	PORT_KEY("smtps_port", "2465", smtps_port,
	    "SMTPS (implicit TLS); standard 465"),
	PORT_KEY("imap_port", "2143", imap_port, "IMAP (STARTTLS); standard 143"),
	PORT_KEY("imaps_port", "2993", imaps_port, "IMAPS; standard 993"),
	PORT_KEY("pop3_port", "2110", pop3_port, "POP3 (STLS); standard 110"),
	PORT_KEY("pop3s_port", "2995", pop3s_port, "POP3S; standard 995"),
	PORT_KEY("http_port", "6080", http_port, "HTTP (webmail, admin, API)"),
	PORT_KEY("https_port", "6443", https_port, "HTTPS (webmail, admin, API)"),
	PORT_KEY("raft_port", "7100", raft_port, "Raft (cluster consensus)"),
	PORT_KEY("rpc_port", "7101", rpc_port, "node-to-node RPC"),
	{ "listen", "max_connections", CFG_UINT, "1000", 1, 1000000,
	    OFF(max_connections), 0, NULL, NULL,
	    "global limit of client connections" },
	{ "listen", "idle_timeout", CFG_SECONDS, "300", 1, 86400,
	    OFF(idle_timeout_ms), 0, NULL, NULL,
	    "seconds a client connection may stay silent" },

	{ "tls", "cert_file", CFG_STRING, NULL, 0, 0, OFF(tls_cert_file), 0,
	    NULL, NULL,
	    "PEM certificate chain; empty: a self-signed pair is made in data_dir" },
	{ "tls", "key_file", CFG_STRING, NULL, 0, 0, OFF(tls_key_file), 0, NULL,
	    NULL, "PEM private key of cert_file" },

	{ "cluster", "join", CFG_STRING, NULL, 0, 0, OFF(cluster_join), 0,
	    check_join, "HOST:PORT",
	    "empty: bootstrap a new cluster on first start; HOST:RPC_PORT of any "
	    "member: join that cluster" },
	{ "cluster", "secret", CFG_STRING, NULL, 0, 0, OFF(cluster_secret), 0,
	    NULL, NULL, "shared secret every node-to-node connection proves" },
	{ "cluster", "snapshot_threshold", CFG_UINT, "1024", 16, 10000000,
	    OFF(cluster_snapshot_threshold), 0, NULL, NULL,
	    "Raft log entries between directory snapshots (the log keeps as "
	    "many again behind a snapshot for followers catching up)" },

	{ "admin", "initial_password", CFG_STRING, NULL, 0, 0,
	    OFF(admin_initial_password), 0, NULL, NULL,
	    "password of user admin made at bootstrap; empty: generated into "
	    "data_dir/admin-password" },

	{ "smtp", "max_message_size", CFG_SIZE, "50M", 1 * KB, 1 * GB,
	    OFF(smtp_max_message_size), 0, NULL, NULL,
	    "SIZE advertised; per-user limits may be lower" },
	{ "smtp", "max_recipients", CFG_UINT, "100", 1, 100000,
	    OFF(smtp_max_recipients), 0, NULL, NULL,
	    "recipients per message (452 4.5.3 beyond)" },
	{ "smtp", "max_errors", CFG_UINT, "10", 1, 1000, OFF(smtp_max_errors),
	    0, NULL, NULL, "protocol errors in a session before it is closed" },
	{ "smtp", "max_received", CFG_UINT, "50", 1, 1000,
	    OFF(smtp_max_received), 0, NULL, NULL,
	    "Received: headers before a message is refused as looping (554 5.4.6)" },

	{ "delivery", "queue_lifetime", CFG_SECONDS, "432000", 1, 2592000,
	    OFF(delivery_queue_lifetime_ms), 0, NULL, NULL,
	    "seconds a message may wait in the queue before it is bounced" },
	{ "delivery", "retry_min", CFG_SECONDS, "300", 1, 86400,
	    OFF(delivery_retry_min_ms), 0, NULL, NULL,
	    "first retry delay after a temporary failure; doubles each time" },
	{ "delivery", "retry_max", CFG_SECONDS, "3600", 1, 86400,
	    OFF(delivery_retry_max_ms), 0, NULL, NULL, "longest retry delay" },
	{ "delivery", "delay_warning", CFG_SECONDS, "14400", 0, 2592000,
	    OFF(delivery_delay_warning_ms), 0, NULL, NULL,
	    "send a delay notice after this many seconds; 0: never" },
	{ "delivery", "connect_timeout", CFG_SECONDS, "60", 1, 3600,
	    OFF(delivery_connect_timeout_ms), 0, NULL, NULL,
	    "timeout connecting to a remote MX" },
	{ "delivery", "workers", CFG_UINT, "8", 1, 1000, OFF(delivery_workers),
	    0, NULL, NULL, "deliveries in progress at once" },
	{ "delivery", "mx_override", CFG_STRING, NULL, 0, 0,
	    OFF(delivery_mx_override), 0, check_join, "HOST:PORT",
	    "send all remote mail to this host instead of the MX (tests)" },
	{ "delivery", "relay_host", CFG_STRING, NULL, 0, 0,
	    OFF(delivery_relay_host), 0, check_hostname, "host name or IP",
	    "smarthost: send all remote mail through it" },
	{ "delivery", "relay_port", CFG_UINT, "587", 1, 65535,
	    OFF(delivery_relay_port), 0, NULL, NULL, "smarthost port" },
	{ "delivery", "relay_user", CFG_STRING, NULL, 0, 0,
	    OFF(delivery_relay_user), 0, NULL, NULL,
	    "smarthost AUTH user (requires TLS)" },
	{ "delivery", "relay_password", CFG_STRING, NULL, 0, 0,
	    OFF(delivery_relay_password), 0, NULL, NULL,
	    "smarthost AUTH password" },

	{ "dns", "resolvers", CFG_STRING, NULL, 0, 0, OFF(dns_resolvers), 0,
	    check_resolvers, "IP[:PORT] or [IPv6]:PORT, comma or space separated",
	    "empty: /etc/resolv.conf" },

	{ "antispam", "spf", CFG_BOOL, "no", 0, 0, OFF(antispam_spf), 0, NULL,
	    NULL,
	    "check SPF (RFC 7208) of MAIL FROM (HELO for the null sender) on the "
	    "MX listener; authenticated sessions are never checked" },
	{ "antispam", "spf_fail", CFG_STRING, "reject", 0, 0,
	    OFF(antispam_spf_fail), 0, check_action, "reject, tag, quarantine",
	    "SPF fail: reject (550 5.7.23 at MAIL FROM), tag (deliver with the "
	    "result in Authentication-Results) or quarantine (hold in the "
	    "recipient's Quarantine folder)" },
	{ "antispam", "spf_softfail", CFG_STRING, "tag", 0, 0,
	    OFF(antispam_spf_softfail), 0, check_action, "reject, tag, quarantine",
	    "SPF softfail: reject (550 5.7.23), tag or quarantine" },
	{ "antispam", "spf_permerror", CFG_STRING, "tag", 0, 0,
	    OFF(antispam_spf_permerror), 0, check_action, "reject, tag, quarantine",
	    "SPF permerror (broken record): reject (550 5.7.24), tag or quarantine" },
	{ "antispam", "spf_temperror", CFG_STRING, "defer", 0, 0,
	    OFF(antispam_spf_temperror), 0, check_action_defer, "defer, tag",
	    "SPF temperror (DNS failure): defer (451 4.7.24, the client retries) "
	    "or tag" },

	{ "antispam", "dkim_sign", CFG_BOOL, "yes", 0, 0, OFF(antispam_dkim_sign),
	    0, NULL, NULL,
	    "DKIM-sign mail that authenticated users send from a local domain with "
	    "a key (mailctl domain dkim DOMAIN)" },
	{ "antispam", "dkim_verify", CFG_BOOL, "no", 0, 0,
	    OFF(antispam_dkim_verify), 0, NULL, NULL,
	    "verify DKIM signatures of mail arriving on the MX listener (result in "
	    "Authentication-Results)" },
	{ "antispam", "dmarc", CFG_BOOL, "no", 0, 0, OFF(antispam_dmarc), 0, NULL,
	    NULL,
	    "evaluate DMARC (RFC 7489) on the MX listener and apply the From "
	    "domain's policy: reject (550 5.7.1 after DATA), quarantine (Junk); "
	    "verifies DKIM itself, SPF alignment needs spf = yes" },
	{ "antispam", "quarantine_retention", CFG_SECONDS, "2592000", 0, 4000000,
	    OFF(antispam_quar_retention_ms), 0, NULL, NULL,
	    "seconds held mail is kept in a user's Quarantine before it is deleted; "
	    "0: kept until released or deleted" },
	{ "antispam", "quarantine_sweep_interval", CFG_SECONDS, "3600", 1, 86400,
	    OFF(antispam_quar_sweep_ms), 0, NULL, NULL,
	    "seconds between the sweeps that apply quarantine_retention" },
	{ "antispam", "quarantine_digest_interval", CFG_SECONDS, "86400", 0, 2592000,
	    OFF(antispam_quar_digest_ms), 0, NULL, NULL,
	    "seconds between the messages that tell each user about newly held mail "
	    "(checked at each sweep); 0: no digests" },
	{ "antispam", "dmarc_quarantine", CFG_STRING, "junk", 0, 0,
	    OFF(antispam_dmarc_quarantine), 0, check_dmarc_quarantine, "junk, quarantine",
	    "where mail goes whose From domain's DMARC policy says quarantine: the "
	    "recipient's Junk folder or the held Quarantine (mailctl quarantine)" },
	{ "antispam", "dnsbl_zones", CFG_STRING, NULL, 0, 0,
	    OFF(antispam_dnsbl_zones), 0, check_zone_list,
	    "zone names, comma or space separated (at most 16)",
	    "DNS blocklists (RFC 5782) the MX client address is looked up in at MAIL "
	    "FROM; empty: none" },
	{ "antispam", "dbl_zones", CFG_STRING, NULL, 0, 0,
	    OFF(antispam_dbl_zones), 0, check_zone_list,
	    "zone names, comma or space separated (at most 16)",
	    "domain blocklists (RFC 5782 §2.2, e.g. dbl.spamhaus.org) the MAIL FROM "
	    "domain is looked up in on the MX listener; listed: dnsbl_action" },
	{ "antispam", "dnsbl_action", CFG_STRING, "reject", 0, 0,
	    OFF(antispam_dnsbl_action), 0, check_action, "reject, tag, quarantine",
	    "a listed client: reject (554 5.7.1 naming the zone, at every MAIL "
	    "FROM of the session), tag (X-Mailnode-DNSBL header) or quarantine "
	    "(tagged and held in the recipient's Quarantine folder)" },
	{ "antispam", "ptr_check", CFG_STRING, "off", 0, 0, OFF(antispam_ptr_check), 0,
	    check_host_action, "off, log, tag, reject",
	    "forward-confirmed reverse DNS of the MX client at MAIL FROM: log, tag "
	    "(X-Mailnode-Host-Check header) or reject (550 5.7.25)" },
	{ "antispam", "helo_check", CFG_STRING, "off", 0, 0, OFF(antispam_helo_check), 0,
	    check_host_action, "off, log, tag, reject",
	    "the MX client's HELO name must resolve to its address (or be its "
	    "address literal): log, tag (X-Mailnode-Host-Check header) or reject "
	    "(550 5.7.1)" },
	{ "antispam", "attachment_block_extensions", CFG_STRING, NULL, 0, 0,
	    OFF(antispam_attach_ext), 0, NULL, "extensions, comma or space separated",
	    "inbound mail with an attachment whose file name ends in one of these "
	    "(e.g. exe, scr, js) gets attachment_action; empty: none" },
	{ "antispam", "attachment_block_types", CFG_STRING, NULL, 0, 0,
	    OFF(antispam_attach_types), 0, NULL, "MIME types (type/subtype or type/*)",
	    "inbound mail with a part of one of these types gets attachment_action; "
	    "empty: none" },
	{ "antispam", "attachment_max_count", CFG_UINT, "0", 0, 1000,
	    OFF(antispam_attach_max), 0, NULL, NULL,
	    "inbound mail with more attachments gets attachment_action; 0: unlimited" },
	{ "antispam", "attachment_action", CFG_STRING, "reject", 0, 0,
	    OFF(antispam_attach_action), 0, check_attach_action, "reject, quarantine",
	    "reject (554 5.7.1 after DATA, naming the attachment) or quarantine" },
	{ "antispam", "sender_block", CFG_STRING, NULL, 0, 0,
	    OFF(antispam_sender_block), 0, check_sender_list,
	    "addresses and @domains, comma or space separated",
	    "MAIL FROM senders refused on the MX listener (554 5.7.1); an address "
	    "entry beats a @domain entry, block beats allow at the same level" },
	{ "antispam", "sender_allow", CFG_STRING, NULL, 0, 0,
	    OFF(antispam_sender_allow), 0, check_sender_list,
	    "addresses and @domains, comma or space separated",
	    "MAIL FROM senders accepted on the MX listener without the DNSBL, SPF, "
	    "greylisting, DKIM and DMARC checks" },
	{ "antispam", "greylist", CFG_BOOL, "no", 0, 0, OFF(antispam_greylist), 0,
	    NULL, NULL,
	    "greylisting (RFC 6647) of MX recipients: a new (client /24 or /64, "
	    "sender, recipient) triplet gets 451 4.7.1 until it retries after "
	    "greylist_delay" },
	{ "antispam", "greylist_delay", CFG_SECONDS, "300", 1, 86400,
	    OFF(antispam_greylist_delay_ms), 0, NULL, NULL,
	    "seconds a new triplet is deferred" },
	{ "antispam", "greylist_retry_window", CFG_SECONDS, "172800", 1, 2592000,
	    OFF(antispam_greylist_window_ms), 0, NULL, NULL,
	    "seconds after the first attempt within which a retry passes (later: "
	    "deferred again as new)" },
	{ "antispam", "greylist_pass_lifetime", CFG_SECONDS, "2592000", 1, 2592000,
	    OFF(antispam_greylist_pass_ms), 0, NULL, NULL,
	    "seconds a triplet that passed is remembered after its last use" },
	{ "antispam", "spamd_address", CFG_STRING, NULL, 0, 0,
	    OFF(antispam_spamd_address), 0, check_scan_address, "IP:PORT ([IPV6]:PORT)",
	    "a running SpamAssassin spamd that scans inbound MX mail (spamc protocol); "
	    "empty: no spamd" },
	{ "antispam", "rspamd_url", CFG_STRING, NULL, 0, 0,
	    OFF(antispam_rspamd_url), 0, check_rspamd_url, "http://IP:PORT[/PATH]",
	    "a running rspamd (its normal worker) that scans inbound MX mail, POST to PATH "
	    "(default /checkv2); empty: none; not together with spamd_address" },
	{ "antispam", "scan_max_size", CFG_SIZE, "1M", 1 * KB, 64 * MB,
	    OFF(antispam_scan_max_size), 0, NULL, NULL,
	    "larger messages are delivered without a scan (logged)" },
	{ "antispam", "scan_timeout_ms", CFG_UINT, "15000", 100, 600000,
	    OFF(antispam_scan_timeout_ms), 0, NULL, NULL,
	    "milliseconds for a whole scan (connect, request, reply); then scan_failure" },
	{ "antispam", "scan_failure", CFG_STRING, "accept", 0, 0,
	    OFF(antispam_scan_failure), 0, check_scan_failure, "accept, defer",
	    "scanner down, too slow or answering nonsense: accept (deliver unscanned, "
	    "logged) or defer (451 4.7.1 after DATA, the client retries)" },
	{ "antispam", "scan_spam_score", CFG_STRING, NULL, 0, 0,
	    OFF(antispam_scan_spam_score), 0, check_score, "decimal number",
	    "a message scoring at least this is spam; empty: the scanner's own verdict "
	    "(spamd Spam: True; rspamd action reject, add header or rewrite subject)" },
	{ "antispam", "scan_spam_action", CFG_STRING, "junk", 0, 0,
	    OFF(antispam_scan_spam_action), 0, check_scan_action,
	    "tag, junk, quarantine, reject",
	    "spam: tag (X-Spam-Flag: YES only), junk (the recipient's Junk folder), "
	    "quarantine (held) or reject (550 5.7.1 after DATA)" },
	{ "antispam", "scan_reject_score", CFG_STRING, NULL, 0, 0,
	    OFF(antispam_scan_reject_score), 0, check_score, "decimal number",
	    "a message scoring at least this is refused (550 5.7.1) whatever "
	    "scan_spam_action says; empty: never by score" },
	{ "antispam", "scan_subject_tag", CFG_STRING, NULL, 0, 0,
	    OFF(antispam_scan_subject_tag), 0, check_subject_tag,
	    "1 to 32 printable ASCII characters",
	    "put at the start of the Subject of spam that is delivered (tag, junk, "
	    "quarantine), e.g. [SPAM]; empty: the Subject is left alone" },
	{ "antispam", "scan_outbound", CFG_BOOL, "no", 0, 0, OFF(antispam_scan_outbound), 0,
	    NULL, NULL,
	    "also scan mail that authenticated users send: spam is refused (550 5.7.1, "
	    "logged), a stolen account's flood stops at the scanner" },

	{ "limits", "max_conn_per_ip", CFG_UINT, "50", 0, 100000,
	    OFF(limits_max_conn_per_ip), 0, NULL, NULL,
	    "concurrent connections from one IP per service (SMTP, IMAP, POP3, HTTP); 0: unlimited" },
	{ "limits", "conn_per_minute_per_ip", CFG_UINT, "120", 0, 1000000,
	    OFF(limits_conn_per_minute), 0, NULL, NULL,
	    "new connections from one IP per minute, all services; 0: unlimited" },
	{ "limits", "auth_fail_ip", CFG_UINT, "55", 0, 1000000,
	    OFF(limits_auth_fail_ip), 0, NULL, NULL,
	    "failed logins from one IP within auth_window that block the IP; 0: off" },
	{ "limits", "auth_fail_user", CFG_UINT, "20", 0, 1000000,
	    OFF(limits_auth_fail_user), 0, NULL, NULL,
	    "failed logins for one user within auth_window that block the user; 0: off" },
	{ "limits", "auth_window", CFG_SECONDS, "600", 1, 86400,
	    OFF(limits_auth_window_ms), 0, NULL, NULL,
	    "seconds over which failed logins are counted" },
	{ "limits", "block_time", CFG_SECONDS, "172800", 1, 2592000,
	    OFF(limits_block_ms), 0, NULL, NULL,
	    "seconds a blocked IP or user stays blocked (mailctl security blocked release lifts it)" },
	{ "limits", "send_user_messages_per_hour", CFG_UINT, "200", 0, 100000000,
	    OFF(send_user_msgs[0]), 0, NULL, NULL,
	    "messages that one authenticated user may submit per hour (fixed window from the first); 0: unlimited" },
	{ "limits", "send_user_recipients_per_hour", CFG_UINT, "1000", 0, 100000000,
	    OFF(send_user_rcpts[0]), 0, NULL, NULL,
	    "recipients that one authenticated user may submit per hour (fixed window from the first); 0: unlimited" },
	{ "limits", "send_user_messages_per_day", CFG_UINT, "1000", 0, 100000000,
	    OFF(send_user_msgs[1]), 0, NULL, NULL,
	    "messages that one authenticated user may submit per day (fixed window from the first); 0: unlimited" },
	{ "limits", "send_user_recipients_per_day", CFG_UINT, "5000", 0, 100000000,
	    OFF(send_user_rcpts[1]), 0, NULL, NULL,
	    "recipients that one authenticated user may submit per day (fixed window from the first); 0: unlimited" },
	{ "limits", "send_domain_messages_per_hour", CFG_UINT, "0", 0, 100000000,
	    OFF(send_domain_msgs[0]), 0, NULL, NULL,
	    "messages that all users of one domain together may submit per hour (fixed window from the first); 0: unlimited" },
	{ "limits", "send_domain_recipients_per_hour", CFG_UINT, "0", 0, 100000000,
	    OFF(send_domain_rcpts[0]), 0, NULL, NULL,
	    "recipients that all users of one domain together may submit per hour (fixed window from the first); 0: unlimited" },
	{ "limits", "send_domain_messages_per_day", CFG_UINT, "0", 0, 100000000,
	    OFF(send_domain_msgs[1]), 0, NULL, NULL,
	    "messages that all users of one domain together may submit per day (fixed window from the first); 0: unlimited" },
	{ "limits", "send_domain_recipients_per_day", CFG_UINT, "0", 0, 100000000,
	    OFF(send_domain_rcpts[1]), 0, NULL, NULL,
	    "recipients that all users of one domain together may submit per day (fixed window from the first); 0: unlimited" },
	{ "limits", "send_system_messages_per_hour", CFG_UINT, "0", 0, 100000000,
	    OFF(send_system_msgs[0]), 0, NULL, NULL,
	    "messages that all authenticated users of this node together may submit per hour (fixed window from the first); 0: unlimited" },
	{ "limits", "send_system_recipients_per_hour", CFG_UINT, "0", 0, 100000000,
	    OFF(send_system_rcpts[0]), 0, NULL, NULL,
	    "recipients that all authenticated users of this node together may submit per hour (fixed window from the first); 0: unlimited" },
	{ "limits", "send_system_messages_per_day", CFG_UINT, "0", 0, 100000000,
	    OFF(send_system_msgs[1]), 0, NULL, NULL,
	    "messages that all authenticated users of this node together may submit per day (fixed window from the first); 0: unlimited" },
	{ "limits", "send_system_recipients_per_day", CFG_UINT, "0", 0, 100000000,
	    OFF(send_system_rcpts[1]), 0, NULL, NULL,
	    "recipients that all authenticated users of this node together may submit per day (fixed window from the first); 0: unlimited" },
	{ "limits", "exempt", CFG_STRING, NULL, 0, 0, OFF(limits_exempt), 0,
	    check_cidr_list, "IP or IP/PREFIX, comma or space separated",
	    "addresses exempt from the per-IP limits (none by default)" },

	{ "http", "web_root", CFG_STRING, NULL, 0, 0, OFF(http_web_root), 0,
	    NULL, "directory path",
	    "static web UI files served at / (webmail) and /admin/; empty: the "
	    "web/ directory of the source tree the binary was built from" },

	{ "log", "level", CFG_LOGLEVEL, "info", 0, 0, OFF(log_level), 0, NULL,
	    NULL, "least severe level logged" },

	{ "dev", "create_domain", CFG_STRING, NULL, 0, 0, OFF(dev_create_domain),
	    0, check_hostname, "domain name",
	    "development only: create this domain and user admin on first start" },
};
/* clang-format on */

#define NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

/* Parse state shared by the line reader and the inih handler. */
struct config_parse {
	const char *name; /* file name used in messages */
	const char *text;
	size_t pos;
	int lineno;
	struct mn_config *cfg;
	int set_line[NKEYS]; /* line each key was set on; 0: not set */
	bool failed;         /* stop at the first error: it is the one to read */
	int err_line;        /* line of that error; 0: not on one line */
	int err_code;
	char err_reason[MN_ERR_MSG_MAX];
};

static void parse_fail(struct config_parse *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
parse_fail(struct config_parse *p, int line, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return;
	p->failed = true;
	p->err_line = line;
	p->err_code = MN_EINVAL;
	va_start(ap, fmt);
	vsnprintf(p->err_reason, sizeof(p->err_reason), fmt, ap);
	va_end(ap);
}

/* echo - printable, shortened copy of file text for a message. */
static const char *
echo(char *out, size_t outlen, const char *s)
{
	size_t len = strlen(s);

	if (len > CONFIG_ECHO_MAX)
		len = CONFIG_ECHO_MAX;
	return log_escape(out, outlen, s, len);
}

static const char *type_names[] = {
    [CFG_STRING] = "string",
    [CFG_PORT] = "port",
    [CFG_SIZE] = "size",
    [CFG_UINT] = "integer",
    [CFG_SECONDS] = "seconds",
    [CFG_BOOL] = "bool",
    [CFG_LOGLEVEL] = "log level",
};

static bool
section_known(const char *section)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(config_keys[i].section, section) == 0)
			return true;
	return false;
}

static const struct config_key *
key_find(const char *section, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(config_keys[i].section, section) == 0 &&
		    strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

/* ---- value checks ---------------------------------------------------- */

static bool
all_chars_in(const char *s, size_t len, const char *extra)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		        (c != '\0' && strchr(extra, c))))
			return false;
	}
	return true;
}

static const char *
check_node_name(const char *v)
{
	size_t len = strlen(v);

	if (len > 63 || !all_chars_in(v, len, "._-"))
		return "is not a node name ([A-Za-z0-9._-]{1,63})";
	return NULL;
}

static const char *
check_hostname(const char *v)
{
	size_t len = strlen(v);

	/* It goes into protocol greetings verbatim: no blanks, no CR/LF. */
	if (len > 253 || v[0] == '.' || v[0] == '-' || !all_chars_in(v, len, ".-"))
		return "is not a host name";
	return NULL;
}

static bool
ip_numeric(const char *s, size_t len, int *family_out)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	unsigned char addr[sizeof(struct in6_addr)];

	if (len == 0 || len >= sizeof(tmp))
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (inet_pton(AF_INET, tmp, addr) == 1) {
		*family_out = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, tmp, addr) == 1) {
		*family_out = AF_INET6;
		return true;
	}
	return false;
}

static bool
port_valid(const char *s, size_t len)
{
	char tmp[8];
	uint64_t v;

	if (len == 0 || len >= sizeof(tmp))
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	return parse_u64(tmp, 1, 65535, &v) == 0;
}

/*
 * hostport_valid - "HOST:PORT", "[IPV6]:PORT", or with !port_required also
 * "HOST" and a bare IPv6 address. With !names only numeric addresses.
 */
static bool
hostport_valid(const char *s, size_t len, bool port_required, bool names)
{
	const char *colon;
	int family;

	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		size_t rest;

		if (close == NULL || !ip_numeric(s + 1, (size_t)(close - s - 1), &family) ||
		    family != AF_INET6)
			return false;
		rest = len - (size_t)(close - s) - 1;
		if (rest == 0)
			return !port_required;
		return close[1] == ':' && port_valid(close + 2, rest - 1);
	}
	if (ip_numeric(s, len, &family))
		return !port_required; /* a bare address, IPv4 or IPv6 */
	colon = memchr(s, ':', len);
	if (colon == NULL) {
		if (port_required || !names)
			return false;
		return len <= 253 && all_chars_in(s, len, ".-_");
	}
	if (memchr(colon + 1, ':', len - (size_t)(colon - s) - 1) != NULL)
		return false; /* IPv6 with a port must use brackets */
	if (!port_valid(colon + 1, len - (size_t)(colon - s) - 1))
		return false;
	len = (size_t)(colon - s);
	if (ip_numeric(s, len, &family))
		return family == AF_INET;
	return names && len > 0 && len <= 253 && all_chars_in(s, len, ".-_");
}

static const char *
check_ip_address(const char *v)
{
	int family;

	if (!ip_numeric(v, strlen(v), &family))
		return "is not a numeric IPv4 or IPv6 address";
	return NULL;
}

static const char *
check_join(const char *v)
{
	if (!hostport_valid(v, strlen(v), true, true))
		return "is not HOST:PORT";
	return NULL;
}

static const char *
check_resolvers(const char *v)
{
	const char *p = v;

	/* A resolver cannot be found by name: numeric addresses only. */
	while (*p != '\0') {
		size_t n;

		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (n == 0)
			break;
		if (!hostport_valid(p, n, false, false))
			return "is not a list of IP[:PORT] (IPv6 with port: "
			       "[ADDR]:PORT)";
		p += n;
	}
	return NULL;
}

/* what to do with a bad check result (node/antispam) */
static const char *
check_action(const char *v)
{
	return strcmp(v, "reject") == 0 || strcmp(v, "tag") == 0 || strcmp(v, "quarantine") == 0
	           ? NULL
	           : "is not one of reject, tag, quarantine";
}

static const char *
check_dmarc_quarantine(const char *v)
{
	return strcmp(v, "junk") == 0 || strcmp(v, "quarantine") == 0
	           ? NULL
	           : "is not one of junk, quarantine";
}

static const char *
check_action_defer(const char *v)
{
	return strcmp(v, "defer") == 0 || strcmp(v, "tag") == 0 ? NULL : "is not one of defer, tag";
}

/* DNSBL zones: host names, comma or space separated */
static const char *
check_zone_list(const char *v)
{
	const char *p = v;
	unsigned n = 0;

	while (*p != '\0') {
		char zone[256];
		size_t len;

		p += strspn(p, ", \t");
		len = strcspn(p, ", \t");
		if (len == 0)
			break;
		if (len >= sizeof(zone) || ++n > 16)
			return "is not a list of at most 16 zone names";
		memcpy(zone, p, len);
		zone[len] = '\0';
		if (check_hostname(zone) != NULL || strchr(zone, '.') == NULL)
			return "is not a list of zone names";
		p += len;
	}
	return NULL;
}

/* attachment filters (node/antispam/attach.h) */
static const char *
check_attach_action(const char *v)
{
	return strcmp(v, "reject") == 0 || strcmp(v, "quarantine") == 0
	           ? NULL
	           : "is not one of reject, quarantine";
}

/* PTR and HELO checks (node/antispam/hostcheck.h) */
static const char *
check_host_action(const char *v)
{
	return strcmp(v, "off") == 0 || strcmp(v, "log") == 0 || strcmp(v, "tag") == 0 ||
	               strcmp(v, "reject") == 0
	           ? NULL
	           : "is not one of off, log, tag, reject";
}

/* sender lists: "local@domain" or "@domain", comma or space separated */
static const char *
check_sender_list(const char *v)
{
	const char *p = v;
	unsigned n = 0;

	while (*p != '\0') {
		size_t len;
		const char *at;

		p += strspn(p, ", \t");
		len = strcspn(p, ", \t");
		if (len == 0)
			break;
		at = memchr(p, '@', len);
		if (len > 254 || ++n > 10000 || at == NULL || at + 1 == p + len ||
		    memchr(at + 1, '@', (size_t)(p + len - at - 1)) != NULL)
			return "is not a list of addresses or @domains";
		p += len;
	}
	return NULL;
}

/* content scanners (node/antispam/scan.h): numeric addresses only */
static const char *
check_scan_address(const char *v)
{
	int family;

	if (!hostport_valid(v, strlen(v), true, false) || ip_numeric(v, strlen(v), &family))
		return "is not IP:PORT";
	return NULL;
}

static const char *
check_rspamd_url(const char *v)
{
	const char *hp = v + 7, *slash;
	size_t len;
	int family;

	if (strncmp(v, "http://", 7) != 0)
		return "is not http://IP:PORT[/PATH]";
	slash = strchr(hp, '/');
	len = slash != NULL ? (size_t)(slash - hp) : strlen(hp);
	if (!hostport_valid(hp, len, true, false) || ip_numeric(hp, len, &family) ||
	    (slash != NULL && (strlen(slash) > 100 || strpbrk(slash, " \t?#") != NULL)))
		return "is not http://IP:PORT[/PATH]";
	return NULL;
}

static const char *
check_scan_failure(const char *v)
{
	return strcmp(v, "accept") == 0 || strcmp(v, "defer") == 0 ? NULL
	                                                           : "is not one of accept, defer";
}

static const char *
check_scan_action(const char *v)
{
	return strcmp(v, "tag") == 0 || strcmp(v, "junk") == 0 || strcmp(v, "quarantine") == 0 ||
	               strcmp(v, "reject") == 0
	           ? NULL
	           : "is not one of tag, junk, quarantine, reject";
}

/* text put in front of a Subject: printable ASCII, no line breaks */
static const char *
check_subject_tag(const char *v)
{
	size_t n = strlen(v);

	if (n > 32)
		return "is longer than 32 characters";
	for (size_t i = 0; i < n; i++)
		if (v[i] < 0x20 || v[i] > 0x7e)
			return "is not printable ASCII";
	return NULL;
}

/* a score: "-1", "5", "7.5" (the scanners' own notation) */
static const char *
check_score(const char *v)
{
	size_t i = 0, digits = 0;

	if (v[i] == '-')
		i++;
	for (; v[i] >= '0' && v[i] <= '9'; i++)
		digits++;
	if (v[i] == '.')
		for (i++; v[i] >= '0' && v[i] <= '9'; i++)
			digits++;
	return v[i] == '\0' && digits > 0 && digits <= 9 ? NULL : "is not a decimal number";
}

/* IPv4 or IPv6 address with an optional /PREFIX (node/limits.c uses it) */
static const char *
check_cidr_list(const char *v)
{
	const char *p = v;

	while (*p != '\0') {
		char item[64], *slash, *end;
		unsigned char addr[16];
		unsigned long prefix, max = 32;
		size_t n;

		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (n == 0)
			break;
		if (n >= sizeof(item))
			return "is not a list of IP or IP/PREFIX";
		memcpy(item, p, n);
		item[n] = '\0';
		if ((slash = strchr(item, '/')) != NULL)
			*slash = '\0';
		if (inet_pton(AF_INET, item, addr) != 1) {
			if (inet_pton(AF_INET6, item, addr) != 1)
				return "is not a list of IP or IP/PREFIX";
			max = 128;
		}
		if (slash != NULL) {
			if (slash[1] < '0' || slash[1] > '9')
				return "is not a list of IP or IP/PREFIX";
			prefix = strtoul(slash + 1, &end, 10);
			if (*end != '\0' || prefix > max)
				return "is not a list of IP or IP/PREFIX";
		}
		p += n;
	}
	return NULL;
}

int
config_parse_bool(const char *s, bool *out)
{
	static const char *yes[] = {"yes", "true", "on", "1"};
	static const char *no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < 4; i++) {
		if (ascii_casecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (ascii_casecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return MN_EINVAL;
}

/* ---- storing values ---------------------------------------------------- */

static char **
field_str(struct mn_config *cfg, const struct config_key *k)
{
	return (char **)((char *)cfg + k->offset);
}

/* fmt_size - "50M" rather than 52428800 in docs and messages. */
static void
fmt_size(char *out, size_t outlen, uint64_t v)
{
	if (v != 0 && v % GB == 0)
		snprintf(out, outlen, "%lluG", (unsigned long long)(v / GB));
	else if (v != 0 && v % MB == 0)
		snprintf(out, outlen, "%lluM", (unsigned long long)(v / MB));
	else if (v != 0 && v % KB == 0)
		snprintf(out, outlen, "%lluK", (unsigned long long)(v / KB));
	else
		snprintf(out, outlen, "%llu", (unsigned long long)v);
}

/*
 * key_set - parse `value` for key k into cfg. Returns NULL or the reason
 * (into `why`, completing "KEY: 'VALUE' ...").
 */
static const char *
key_set(
    struct mn_config *cfg, const struct config_key *k, const char *value, char *why, size_t whylen)
{
	void *field = (char *)cfg + k->offset;
	uint64_t v;
	bool b;
	int level;

	switch (k->type) {
	case CFG_STRING: {
		char **sp = field;
		const char *reason;

		free(*sp);
		*sp = NULL;
		if (value[0] == '\0')
			return NULL; /* empty: unset */
		if (k->check != NULL && (reason = k->check(value)) != NULL)
			return reason;
		*sp = xstrdup(value);
		return NULL;
	}
	case CFG_PORT:
		if (parse_u64(value, 0, 65535, &v) != 0)
			return "is not a port (0-65535)";
		*(uint16_t *)field = (uint16_t)v;
		return NULL;
	case CFG_SIZE: {
		char lo[32], hi[32];

		if (parse_size(value, &v) != 0)
			return "is not a size (bytes, or with a K, M or G suffix)";
		if (v < k->min || v > k->max) {
			fmt_size(lo, sizeof(lo), k->min);
			fmt_size(hi, sizeof(hi), k->max);
			snprintf(why, whylen, "is out of range (%s-%s)", lo, hi);
			return why;
		}
		*(uint64_t *)field = v;
		return NULL;
	}
	case CFG_UINT:
	case CFG_SECONDS:
		if (parse_u64(value, 0, UINT64_MAX, &v) != 0)
			return "is not a number";
		if (v < k->min || v > k->max) {
			snprintf(why, whylen, "is out of range (%llu-%llu)",
			    (unsigned long long)k->min, (unsigned long long)k->max);
			return why;
		}
		*(uint32_t *)field = (uint32_t)(k->type == CFG_SECONDS ? v * 1000 : v);
		return NULL;
	case CFG_BOOL:
		if (config_parse_bool(value, &b) != 0)
			return "is not a boolean (yes/no, true/false, on/off, 1/0)";
		*(bool *)field = b;
		return NULL;
	case CFG_LOGLEVEL:
		if ((level = log_parse_level(value)) < 0)
			return "is not a log level (debug, info, warn, error)";
		*(int *)field = level;
		return NULL;
	}
	abort();
}

void
config_defaults(struct mn_config *cfg)
{
	char why[128];

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NKEYS; i++) {
		const struct config_key *k = &config_keys[i];

		/* String defaults are filled in by config_load, so that a
		 * defaults-only struct owns no memory. */
		if (k->def == NULL || k->type == CFG_STRING)
			continue;
		if (key_set(cfg, k, k->def, why, sizeof(why)) != NULL)
			abort(); /* the table's own default is invalid: a bug */
	}
}

void
config_free(struct mn_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < NKEYS; i++) {
		if (config_keys[i].type == CFG_STRING) {
			char **sp = field_str(cfg, &config_keys[i]);

			free(*sp);
			*sp = NULL;
		}
	}
}

/* ---- parsing ----------------------------------------------------------- */

/*
 * config_reader - libinih line source: one real line per call, normalised
 * (see the file comment). Stops the parse (NULL) at the first error.
 */
static char *
config_reader(char *str, int num, void *stream)
{
	struct config_parse *p = stream;
	const char *line, *end;
	size_t len, max;

	if (p->failed || p->text[p->pos] == '\0')
		return NULL;
	line = p->text + p->pos;
	end = strchr(line, '\n');
	len = end != NULL ? (size_t)(end - line) : strlen(line);
	p->pos += len + (end != NULL ? 1 : 0);
	p->lineno++;
	if (p->lineno == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
		line += 3; /* UTF-8 byte order mark, as editors on Windows write */
		len -= 3;
	}

	while (len > 0 && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	/* Comments go before the length check, so that long prose in a
	 * comment is never refused. Inline: ';' after a blank, as in the
	 * SPEC §5 example. */
	if (len > 0 && (line[0] == ';' || line[0] == '#'))
		len = 0;
	for (size_t i = 1; i < len; i++) {
		if (line[i] == ';' && (line[i - 1] == ' ' || line[i - 1] == '\t')) {
			len = i;
			break;
		}
	}
	max = CONFIG_MAX_LINE;
	if (num > 2 && (size_t)num - 2 < max)
		max = (size_t)num - 2; /* room for '\n' and NUL */
	if (len > max) {
		parse_fail(p, p->lineno, "line too long (max %zu bytes)", max);
		return NULL;
	}
	if (len > 0 && line[0] == '[') {
		const char *close = memchr(line, ']', len);

		if (close != NULL) {
			char name[CONFIG_MAX_LINE + 1], esc[4 * CONFIG_ECHO_MAX + 1];

			memcpy(name, line + 1, (size_t)(close - line - 1));
			name[close - line - 1] = '\0';
			if (!section_known(name)) {
				parse_fail(p, p->lineno, "unknown section [%s]",
				    echo(esc, sizeof(esc), name));
				return NULL;
			}
		}
	}
	memcpy(str, line, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	return str;
}

static int
config_handler(void *user, const char *section, const char *name, const char *value)
{
	struct config_parse *p = user;
	const struct config_key *k;
	char e1[4 * CONFIG_ECHO_MAX + 1], e2[4 * CONFIG_ECHO_MAX + 1];
	char why[128];
	const char *reason;
	size_t i;

	if (p->failed)
		return 1;
	if (section[0] == '\0') {
		parse_fail(
		    p, p->lineno, "key '%s' outside any section", echo(e1, sizeof(e1), name));
		return 0;
	}
	if ((k = key_find(section, name)) == NULL) {
		if (!section_known(section))
			parse_fail(
			    p, p->lineno, "unknown section [%s]", echo(e2, sizeof(e2), section));
		else
			parse_fail(p, p->lineno, "unknown key '%s' in [%s]",
			    echo(e1, sizeof(e1), name), section);
		return 0;
	}
	i = (size_t)(k - config_keys);
	if (p->set_line[i] != 0) {
		parse_fail(p, p->lineno, "duplicate key '%s' in [%s] (first set on line %d)",
		    k->name, k->section, p->set_line[i]);
		return 0;
	}
	p->set_line[i] = p->lineno;
	if ((reason = key_set(p->cfg, k, value, why, sizeof(why))) != NULL) {
		parse_fail(
		    p, p->lineno, "%s: '%s' %s", k->name, echo(e1, sizeof(e1), value), reason);
		return 0;
	}
	return 1;
}

/* check_whole - rules that span keys, after every line is read. */
static void
check_whole(struct config_parse *p)
{
	struct mn_config *cfg = p->cfg;

	for (size_t i = 0; i < NKEYS; i++) {
		const struct config_key *k = &config_keys[i];

		if ((k->flags & CFG_REQUIRED) && *field_str(cfg, k) == NULL) {
			parse_fail(p, 0, "[%s] %s is required", k->section, k->name);
			return;
		}
	}
	for (size_t i = 0; i < NKEYS; i++) {
		const struct config_key *a = &config_keys[i];
		uint16_t pa;

		if (a->type != CFG_PORT)
			continue;
		pa = *(uint16_t *)((char *)cfg + a->offset);
		if (pa == 0)
			continue;
		for (size_t j = i + 1; j < NKEYS; j++) {
			const struct config_key *b = &config_keys[j];
			int line;

			if (b->type != CFG_PORT || *(uint16_t *)((char *)cfg + b->offset) != pa)
				continue;
			/* Blame the line that set the later of the two. */
			line = p->set_line[i] > p->set_line[j] ? p->set_line[i] : p->set_line[j];
			parse_fail(p, line, "%s and %s both use port %u", a->name, b->name, pa);
			return;
		}
	}
	for (size_t i = 0; i < NKEYS; i++) {
		const struct config_key *k = &config_keys[i];
		char **sp;

		if (k->type != CFG_STRING || k->def == NULL)
			continue;
		sp = field_str(cfg, k);
		if (*sp == NULL)
			*sp = xstrdup(k->def);
	}
}

int
config_load_string(const char *name, const char *text, struct mn_config *cfg, struct mn_err *err)
{
	struct config_parse p;
	int rc;

	memset(&p, 0, sizeof(p));
	p.name = name;
	p.text = text;
	p.cfg = cfg;
	config_defaults(cfg);

	if (strlen(text) > CONFIG_MAX_FILE) {
		parse_fail(&p, 0, "file too large (max %d bytes)", CONFIG_MAX_FILE);
		rc = 0;
	} else {
		rc = ini_parse_stream(config_reader, &p, config_handler, &p);
	}
	if (rc > 0 && (!p.failed || rc < p.err_line)) {
		/* inih found a syntax error before anything we refused. */
		p.failed = false;
		parse_fail(&p, rc, "syntax error (expected [section], key = value or ; comment)");
	} else if (rc < 0 && !p.failed) {
		parse_fail(&p, 0, "cannot parse (inih error %d)", rc);
	}
	if (!p.failed)
		check_whole(&p);
	if (p.failed) {
		config_free(cfg);
		config_defaults(cfg);
		return mn_err_set(err, p.err_code, "%s:%d: %s", name, p.err_line, p.err_reason);
	}
	return 0;
}

int
config_load(const char *path, struct mn_config *cfg, struct mn_err *err)
{
	FILE *f;
	char *text;
	size_t n;
	int rc;

	config_defaults(cfg);
	if ((f = fopen(path, "r")) == NULL)
		return mn_err_set(err, MN_EIO, "%s:0: cannot open: %s", path, strerror(errno));
	/* One byte past the limit, so that config_load_string sees "too
	 * large" rather than a silently cut file. */
	text = xmalloc(CONFIG_MAX_FILE + 2);
	n = fread(text, 1, CONFIG_MAX_FILE + 1, f);
	if (ferror(f)) {
		int e = errno;

		fclose(f);
		free(text);
		return mn_err_set(err, MN_EIO, "%s:0: cannot read: %s", path, strerror(e));
	}
	fclose(f);
	text[n] = '\0';
	if (memchr(text, '\0', n) != NULL) {
		free(text);
		return mn_err_set(
		    err, MN_EINVAL, "%s:0: not a text file (contains NUL bytes)", path);
	}
	rc = config_load_string(path, text, cfg, err);
	free(text);
	return rc;
}

/* ---- reference --------------------------------------------------------- */

static void
write_range(FILE *out, const struct config_key *k)
{
	char lo[32], hi[32];

	switch (k->type) {
	case CFG_STRING:
		fputs(k->range_doc != NULL ? k->range_doc : "any", out);
		break;
	case CFG_PORT:
		fputs("0-65535, 0 disables", out);
		break;
	case CFG_SIZE:
		fmt_size(lo, sizeof(lo), k->min);
		fmt_size(hi, sizeof(hi), k->max);
		fprintf(out, "%s-%s", lo, hi);
		break;
	case CFG_UINT:
	case CFG_SECONDS:
		fprintf(out, "%llu-%llu", (unsigned long long)k->min, (unsigned long long)k->max);
		break;
	case CFG_BOOL:
		fputs("yes/no", out);
		break;
	case CFG_LOGLEVEL:
		fputs("debug, info, warn, error", out);
		break;
	}
}

void
config_write_reference(FILE *out)
{
	const char *section = NULL;

	fputs("# mailnode configuration reference\n"
	      "\n"
	      "<!-- Generated by config_write_reference() in lib/config.c; do not "
	      "edit.\n"
	      "     tests/unit/lib/test_config.c fails when this file is out of "
	      "date. -->\n"
	      "\n"
	      "`mailnode --config FILE` reads an INI file (SPEC §5). Rules:\n"
	      "\n"
	      "- Unknown sections and keys, a key given twice, bad values and "
	      "missing\n"
	      "  required keys refuse the start with `FILE:LINE: reason`.\n"
	      "- `;` or `#` at the start of a line, and `;` after a blank, start "
	      "a comment.\n"
	      "- An empty value leaves a string key unset (its default "
	      "applies).\n"
	      "- Sizes accept K, M and G suffixes (powers of 1024); a bare "
	      "number is bytes.\n"
	      "- A port of 0 disables that service; two enabled services may "
	      "not share a port.\n",
	    out);
	for (size_t i = 0; i < NKEYS; i++) {
		const struct config_key *k = &config_keys[i];

		if (section == NULL || strcmp(section, k->section) != 0) {
			section = k->section;
			fprintf(out,
			    "\n## [%s]\n\n"
			    "| key | type | default | accepted | description |\n"
			    "|---|---|---|---|---|\n",
			    section);
		}
		fprintf(out, "| `%s` | %s | ", k->name, type_names[k->type]);
		if (k->flags & CFG_REQUIRED)
			fputs("**required**", out);
		else if (k->def != NULL)
			fprintf(out, "`%s`", k->def);
		else
			fputs("(unset)", out);
		fputs(" | ", out);
		write_range(out, k);
		fprintf(out, " | %s |\n", k->doc);
	}
}
