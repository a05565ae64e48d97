/*
 * config.h - the node's INI configuration (SPEC §5), loaded with libinih.
 *
 * Every key is declared once in the key table of config.c (section, name,
 * type, default, range, doc); the table drives parsing, validation and the
 * generated reference docs/config.md. Unknown sections or keys, a key given
 * twice, bad values, missing required keys and two enabled services on one
 * port are refused with "FILE:LINE: reason".
 *
 * Ownership: the strings in struct mn_config belong to it; config_free()
 * releases them. A port of 0 means the service is disabled.
 */
#ifndef MN_LIB_CONFIG_H
#define MN_LIB_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/err.h"

struct mn_config {
	/* [node] */
	char *node_name; /* required; [A-Za-z0-9._-]{1,63} */
	char *data_dir;  /* required */
	char *hostname;  /* default: "localhost" */
	/* [listen] */
	char *listen_address; /* default 127.0.0.1 */
	uint16_t smtp_port, submission_port, smtps_port;
	uint16_t imap_port, imaps_port, pop3_port, pop3s_port;
	uint16_t http_port, https_port, raft_port, rpc_port;
	uint32_t max_connections; /* global connection limit, default 1000 */
	uint32_t idle_timeout_ms; /* default 300000 */
	/* [tls] */
	char *tls_cert_file; /* NULL/empty: self-signed in data_dir/tls */
	char *tls_key_file;
	/* [cluster] */
	char *cluster_join;                  /* NULL: bootstrap */
	char *cluster_secret;                /* NULL: none (single node only) */
	uint32_t cluster_snapshot_threshold; /* Raft entries between snapshots, default 1024 */
	/* [admin] */
	char *admin_initial_password; /* NULL: generated into data_dir/admin-password */
	/* [smtp] */
	uint64_t smtp_max_message_size; /* default 50M */
	uint32_t smtp_max_recipients;   /* per message, default 100 */
	uint32_t smtp_max_errors;       /* protocol errors before disconnect, default 10 */
	uint32_t smtp_max_received;     /* Received: hops before 554 5.4.6, default 50 */
	/* [delivery] */
	uint32_t delivery_queue_lifetime_ms;  /* bounce after, default 5 days */
	uint32_t delivery_retry_min_ms;       /* first retry, default 300 s */
	uint32_t delivery_retry_max_ms;       /* backoff cap, default 3600 s */
	uint32_t delivery_delay_warning_ms;   /* 0: none, default 4 h */
	uint32_t delivery_connect_timeout_ms; /* default 60 s */
	uint32_t delivery_workers;            /* concurrent deliveries, default 8 */
	char *delivery_mx_override;   /* HOST:PORT: every remote domain goes there (tests) */
	char *delivery_relay_host;    /* smarthost */
	uint32_t delivery_relay_port; /* default 587 */
	char *delivery_relay_user;
	char *delivery_relay_password;
	/* [dns] */
	char *dns_resolvers;
	/* [antispam] (node/antispam, docs/anti-spam.md) */
	bool antispam_spf;                   /* default no */
	char *antispam_spf_fail;             /* reject|tag|quarantine, default reject */
	char *antispam_spf_softfail;         /* reject|tag, default tag */
	char *antispam_spf_permerror;        /* reject|tag, default tag */
	char *antispam_spf_temperror;        /* defer|tag, default defer */
	bool antispam_dkim_sign;             /* default yes */
	bool antispam_dkim_verify;           /* default no */
	bool antispam_dmarc;                 /* default no */
	uint32_t antispam_quar_retention_ms; /* default 30 days; 0: forever */
	uint32_t antispam_quar_sweep_ms;     /* default 3600 s */
	uint32_t antispam_quar_digest_ms;    /* default 86400 s; 0: none */
	/* junk|quarantine, default junk */
	char *antispam_dmarc_quarantine;
	char *antispam_dnsbl_zones;           /* NULL: none */
	char *antispam_dbl_zones;             /* NULL: none */
	char *antispam_dnsbl_action;          /* reject|tag, default reject */
	char *antispam_attach_ext;            /* blocked extensions, NULL: none */
	char *antispam_attach_types;          /* blocked MIME types, NULL: none */
	uint32_t antispam_attach_max;         /* attachments per message, 0: unlimited */
	char *antispam_attach_action;         /* reject|quarantine, default reject */
	char *antispam_ptr_check;             /* off|log|tag|reject, default off */
	char *antispam_helo_check;            /* off|log|tag|reject, default off */
	char *antispam_sender_block;          /* addresses and @domains, NULL: none */
	char *antispam_sender_allow;          /* addresses and @domains, NULL: none */
	bool antispam_greylist;               /* default no */
	uint32_t antispam_greylist_delay_ms;  /* default 300 s */
	uint32_t antispam_greylist_window_ms; /* default 2 days */
	uint32_t antispam_greylist_pass_ms;   /* default 30 days */
	/* content scanning (node/antispam/scan.h) */
	char *antispam_spamd_address;      /* IP:PORT, NULL: none */
	char *antispam_rspamd_url;         /* http://IP:PORT[/PATH], NULL: none */
	uint64_t antispam_scan_max_size;   /* default 1M; larger: not scanned */
	uint32_t antispam_scan_timeout_ms; /* default 15000 */
	char *antispam_scan_failure;       /* accept|defer, default accept */
	char *antispam_scan_spam_score;    /* decimal, NULL: the scanner's verdict */
	char *antispam_scan_spam_action;   /* tag|junk|quarantine|reject, default junk */
	char *antispam_scan_reject_score;  /* decimal, NULL: none */
	char *antispam_scan_subject_tag;   /* e.g. "[SPAM]", NULL: none */
	bool antispam_scan_outbound;       /* default no */
	/* [limits] (node/limits.h) */
	uint32_t limits_max_conn_per_ip; /* per service class, default 50 */
	uint32_t limits_conn_per_minute; /* per IP, default 120 */
	uint32_t limits_auth_fail_ip;    /* default 55 */
	uint32_t limits_auth_fail_user;  /* default 20 */
	uint32_t limits_auth_window_ms;  /* default 600 s */
	uint32_t limits_block_ms;        /* default 172800 s */
	char *limits_exempt;             /* CIDR list, NULL: none */
	/* send limits for authenticated submission (node/antispam/sendlimit.h),
	 * [scope][0 hour, 1 day]; 0: unlimited */
	uint32_t send_user_msgs[2], send_user_rcpts[2];
	uint32_t send_domain_msgs[2], send_domain_rcpts[2];
	uint32_t send_system_msgs[2], send_system_rcpts[2];
	/* [http] */
	char *http_web_root; /* NULL: MN_WEB_ROOT, the source tree's web/ */
	/* [log] */
	int log_level; /* enum log_level, default info */
	/* [dev] */
	char *dev_create_domain; /* `make run` sets example.test */
};

/* config_defaults - fill every field with its default. Strings are all
 * NULL, so a defaults-only struct owns no memory (config_free is harmless).
 * Overwrites cfg without freeing: call config_free first when reusing. */
void config_defaults(struct mn_config *cfg);

/* config_load - parse `path` into cfg (defaults first). On success the
 * string keys with a default (hostname, listen_address) are never NULL; the
 * others are NULL when unset or empty. On failure returns MN_EINVAL (bad
 * content) or MN_EIO (cannot open/read) with err->msg = "PATH:LINE: reason"
 * (LINE 0 when the problem is not on one line, e.g. a missing required key)
 * and leaves cfg holding defaults only (nothing allocated). */
int config_load(const char *path, struct mn_config *cfg, struct mn_err *err);

/* config_load_string - same, from memory (fuzzing, tests); `name` is used
 * in messages in place of the path. */
int config_load_string(
    const char *name, const char *text, struct mn_config *cfg, struct mn_err *err);

/* config_free - free the strings (pointers set to NULL); cfg may be NULL. */
void config_free(struct mn_config *cfg);

/* config_parse_bool - yes/no, true/false, on/off, 1/0 (any case); 0 or
 * MN_EINVAL. Used for bool keys. */
int config_parse_bool(const char *s, bool *out);

/* config_write_reference - Markdown reference of every key (docs/config.md). */
void config_write_reference(FILE *out);

#endif
