/*
 * test_config.c - the node configuration (lib/config.c, SPEC §5): defaults,
 * a full file, comments, sizes, disabled ports, every refusal with its exact
 * "FILE:LINE: reason", loading from disk, and docs/config.md kept equal to
 * config_write_reference().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/xalloc.h"

/* The two required keys; most cases start from this. */
#define MIN "[node]\nname = node1\ndata_dir = /tmp/mn\n"

/* ---- refusals: one named test per case -------------------------------- */

struct refusal {
	const char *name;
	const char *text;
	int code;
	const char *msg;
};

/* One entry per key/case reads better than reflowed fields. */
/* clang-format off */
static const struct refusal refusals[] = {
	{ "unknown_key_names_key_section_and_line",
	    MIN "[listen]\naddress = 127.0.0.1\nsmtp_port = 2525\nsmpt_port = 25\n",
	    MN_EINVAL, "node.ini:7: unknown key 'smpt_port' in [listen]" },
	{ "key_in_wrong_section_is_unknown",
	    MIN "smtp_port = 25\n", MN_EINVAL,
	    "node.ini:4: unknown key 'smtp_port' in [node]" },
	{ "unknown_section_is_refused_at_its_header",
	    "[node]\nname = node1\n[foo]\nbar = 1\n", MN_EINVAL,
	    "node.ini:3: unknown section [foo]" },
	{ "unknown_section_without_keys_is_refused",
	    MIN "[foo]\n", MN_EINVAL, "node.ini:4: unknown section [foo]" },
	{ "key_outside_any_section",
	    "name = node1\n" MIN, MN_EINVAL,
	    "node.ini:1: key 'name' outside any section" },
	{ "port_too_large",
	    MIN "[listen]\n\n\n\n\nsmtp_port = 99999\n", MN_EINVAL,
	    "node.ini:9: smtp_port: '99999' is not a port (0-65535)" },
	{ "port_negative",
	    MIN "[listen]\nimap_port = -1\n", MN_EINVAL,
	    "node.ini:5: imap_port: '-1' is not a port (0-65535)" },
	{ "port_with_junk",
	    MIN "[listen]\nimap_port = 143x\n", MN_EINVAL,
	    "node.ini:5: imap_port: '143x' is not a port (0-65535)" },
	{ "port_empty",
	    MIN "[listen]\nimap_port =\n", MN_EINVAL,
	    "node.ini:5: imap_port: '' is not a port (0-65535)" },
	{ "data_dir_required",
	    "[node]\nname = node1\n", MN_EINVAL,
	    "node.ini:0: [node] data_dir is required" },
	{ "name_required",
	    "[node]\ndata_dir = /tmp/mn\n", MN_EINVAL,
	    "node.ini:0: [node] name is required" },
	{ "empty_name_counts_as_missing",
	    "[node]\nname =\ndata_dir = /tmp/mn\n", MN_EINVAL,
	    "node.ini:0: [node] name is required" },
	{ "empty_file_lacks_required_keys",
	    "", MN_EINVAL, "node.ini:0: [node] name is required" },
	{ "bad_size_suffix",
	    MIN "[smtp]\nmax_message_size = 5MB\n", MN_EINVAL,
	    "node.ini:5: max_message_size: '5MB' is not a size (bytes, or with "
	    "a K, M or G suffix)" },
	{ "size_not_a_number",
	    MIN "[smtp]\nmax_message_size = big\n", MN_EINVAL,
	    "node.ini:5: max_message_size: 'big' is not a size (bytes, or with "
	    "a K, M or G suffix)" },
	{ "size_above_range",
	    MIN "[smtp]\nmax_message_size = 2G\n", MN_EINVAL,
	    "node.ini:5: max_message_size: '2G' is out of range (1K-1G)" },
	{ "size_below_range",
	    MIN "[smtp]\nmax_message_size = 1023\n", MN_EINVAL,
	    "node.ini:5: max_message_size: '1023' is out of range (1K-1G)" },
	{ "node_name_with_blank",
	    "[node]\nname = node 1\n", MN_EINVAL,
	    "node.ini:2: name: 'node 1' is not a node name "
	    "([A-Za-z0-9._-]{1,63})" },
	{ "node_name_with_slash",
	    "[node]\nname = ../x\n", MN_EINVAL,
	    "node.ini:2: name: '../x' is not a node name ([A-Za-z0-9._-]{1,63})" },
	{ "node_name_of_64_chars",
	    "[node]\nname = "
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	    MN_EINVAL,
	    "node.ini:2: name: "
	    "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' "
	    "is not a node name ([A-Za-z0-9._-]{1,63})" },
	{ "duplicate_key",
	    "[node]\nname = node1\ndata_dir = /tmp/mn\nname = node2\n", MN_EINVAL,
	    "node.ini:4: duplicate key 'name' in [node] (first set on line 2)" },
	{ "duplicate_key_in_repeated_section",
	    MIN "[listen]\nsmtp_port = 25\n[node]\n[listen]\nsmtp_port = 26\n",
	    MN_EINVAL,
	    "node.ini:8: duplicate key 'smtp_port' in [listen] (first set on "
	    "line 5)" },
	{ "duplicate_key_even_if_first_was_empty",
	    MIN "[tls]\ncert_file =\ncert_file = /x.pem\n", MN_EINVAL,
	    "node.ini:6: duplicate key 'cert_file' in [tls] (first set on line "
	    "5)" },
	{ "line_without_equals_is_syntax_error",
	    "[node]\nname node1\ndata_dir = /tmp/mn\n", MN_EINVAL,
	    "node.ini:2: syntax error (expected [section], key = value or ; "
	    "comment)" },
	{ "unterminated_section_is_syntax_error",
	    MIN "[listen\n", MN_EINVAL,
	    "node.ini:4: syntax error (expected [section], key = value or ; "
	    "comment)" },
	{ "first_error_wins_syntax_before_unknown_key",
	    MIN "oops\n[listen]\nsmpt_port = 25\n", MN_EINVAL,
	    "node.ini:4: syntax error (expected [section], key = value or ; "
	    "comment)" },
	{ "first_error_wins_unknown_key_before_syntax",
	    MIN "smpt_port = 25\noops\n", MN_EINVAL,
	    "node.ini:4: unknown key 'smpt_port' in [node]" },
	{ "two_services_on_default_port",
	    MIN "[listen]\nimap_port = 2525\n", MN_EINVAL,
	    "node.ini:5: smtp_port and imap_port both use port 2525" },
	{ "two_services_on_same_port_blames_later_line",
	    MIN "[listen]\nhttp_port = 80\nraft_port = 7000\nsmtp_port = 80\n",
	    MN_EINVAL, "node.ini:7: smtp_port and http_port both use port 80" },
	{ "listen_address_must_be_numeric",
	    MIN "[listen]\naddress = localhost\n", MN_EINVAL,
	    "node.ini:5: address: 'localhost' is not a numeric IPv4 or IPv6 "
	    "address" },
	{ "listen_address_with_port_is_refused",
	    MIN "[listen]\naddress = 127.0.0.1:25\n", MN_EINVAL,
	    "node.ini:5: address: '127.0.0.1:25' is not a numeric IPv4 or IPv6 "
	    "address" },
	{ "join_without_port",
	    MIN "[cluster]\njoin = node2.example.test\n", MN_EINVAL,
	    "node.ini:5: join: 'node2.example.test' is not HOST:PORT" },
	{ "join_port_zero",
	    MIN "[cluster]\njoin = 127.0.0.2:0\n", MN_EINVAL,
	    "node.ini:5: join: '127.0.0.2:0' is not HOST:PORT" },
	{ "join_ipv6_needs_brackets",
	    MIN "[cluster]\njoin = ::1:7101\n", MN_EINVAL,
	    "node.ini:5: join: '::1:7101' is not HOST:PORT" },
	{ "join_empty_host",
	    MIN "[cluster]\njoin = :7101\n", MN_EINVAL,
	    "node.ini:5: join: ':7101' is not HOST:PORT" },
	{ "max_connections_zero",
	    MIN "[listen]\nmax_connections = 0\n", MN_EINVAL,
	    "node.ini:5: max_connections: '0' is out of range (1-1000000)" },
	{ "max_connections_not_a_number",
	    MIN "[listen]\nmax_connections = lots\n", MN_EINVAL,
	    "node.ini:5: max_connections: 'lots' is not a number" },
	{ "idle_timeout_above_a_day",
	    MIN "[listen]\nidle_timeout = 86401\n", MN_EINVAL,
	    "node.ini:5: idle_timeout: '86401' is out of range (1-86400)" },
	{ "log_level_unknown",
	    MIN "[log]\nlevel = loud\n", MN_EINVAL,
	    "node.ini:5: level: 'loud' is not a log level (debug, info, warn, "
	    "error)" },
	{ "hostname_with_blank",
	    MIN "hostname = mail example\n", MN_EINVAL,
	    "node.ini:4: hostname: 'mail example' is not a host name" },
	{ "resolver_by_name_is_refused",
	    MIN "[dns]\nresolvers = 127.0.0.53, dns.example.test\n", MN_EINVAL,
	    "node.ini:5: resolvers: '127.0.0.53, dns.example.test' is not a list "
	    "of IP[:PORT] (IPv6 with port: [ADDR]:PORT)" },
	{ "limits_exempt_needs_cidrs",
	    MIN "[limits]\nexempt = 127.0.0.0/8, 10.0.0.0/33\n", MN_EINVAL,
	    "node.ini:5: exempt: '127.0.0.0/8, 10.0.0.0/33' is not a list of IP "
	    "or IP/PREFIX" },
	{ "limits_block_time_above_30_days",
	    MIN "[limits]\nblock_time = 2592001\n", MN_EINVAL,
	    "node.ini:5: block_time: '2592001' is out of range (1-2592000)" },
	{ "control_bytes_are_escaped_in_messages",
	    MIN "[log]\nlevel = a\x01\x1b\n", MN_EINVAL,
	    "node.ini:5: level: 'a\\x01\\x1b' is not a log level (debug, info, "
	    "warn, error)" },
};
/* clang-format on */

#define NREFUSALS (sizeof(refusals) / sizeof(refusals[0]))

static void
test_refusal(void **state)
{
	const struct refusal *r = *state;
	struct mn_config cfg;
	struct mn_err err;

	mn_err_clear(&err);
	assert_int_equal(config_load_string("node.ini", r->text, &cfg, &err), r->code);
	assert_int_equal(err.code, r->code);
	assert_string_equal(err.msg, r->msg);
	/* A refused load leaves defaults and nothing allocated. */
	assert_null(cfg.node_name);
	assert_null(cfg.hostname);
	assert_int_equal(cfg.smtp_port, 2525);
	config_free(&cfg);
}

static void
test_line_too_long(void **state)
{
	char text[4096];
	struct mn_config cfg;
	struct mn_err err;
	int n;

	n = snprintf(text, sizeof(text), MIN "[cluster]\nsecret = ");
	memset(text + n, 'x', 3000);
	strcpy(text + n + 3000, "\n");
	assert_int_equal(config_load_string("node.ini", text, &cfg, &err), MN_EINVAL);
	/* The exact maximum depends on how libinih was built; the form does
	 * not. */
	assert_true(strncmp(err.msg, "node.ini:5: line too long (max ", 31) == 0);
	config_free(&cfg);
}

static void
test_long_comments_are_fine(void **state)
{
	char text[4096];
	struct mn_config cfg;
	struct mn_err err;
	int n;

	n = snprintf(text, sizeof(text), "# ");
	memset(text + n, 'x', 1000);
	n += 1000;
	n += snprintf(text + n, sizeof(text) - (size_t)n, "\n" MIN "[cluster]\nsecret = s ; ");
	memset(text + n, 'y', 1000);
	strcpy(text + n + 1000, "\n");
	assert_int_equal(config_load_string("node.ini", text, &cfg, &err), 0);
	assert_string_equal(cfg.cluster_secret, "s");
	config_free(&cfg);
}

static void
test_file_too_large(void **state)
{
	size_t n = 70 * 1024;
	char *text = xmalloc(n + 1);
	struct mn_config cfg;
	struct mn_err err;

	memset(text, '\n', n);
	text[n] = '\0';
	assert_int_equal(config_load_string("node.ini", text, &cfg, &err), MN_EINVAL);
	assert_string_equal(err.msg, "node.ini:0: file too large (max 65536 bytes)");
	free(text);
}

/* ---- accepted files ---------------------------------------------------- */

static void
test_defaults(void **state)
{
	struct mn_config cfg;

	config_defaults(&cfg);
	assert_null(cfg.node_name);
	assert_null(cfg.data_dir);
	assert_null(cfg.hostname); /* string defaults come with config_load */
	assert_null(cfg.listen_address);
	assert_int_equal(cfg.smtp_port, 2525);
	assert_int_equal(cfg.submission_port, 2587);
	assert_int_equal(cfg.smtps_port, 2465);
	assert_int_equal(cfg.imap_port, 2143);
	assert_int_equal(cfg.imaps_port, 2993);
	assert_int_equal(cfg.pop3_port, 2110);
	assert_int_equal(cfg.pop3s_port, 2995);
	assert_int_equal(cfg.http_port, 6080);
	assert_int_equal(cfg.https_port, 6443);
	assert_int_equal(cfg.raft_port, 7100);
	assert_int_equal(cfg.rpc_port, 7101);
	assert_int_equal(cfg.max_connections, 1000);
	assert_int_equal(cfg.idle_timeout_ms, 300000);
	assert_true(cfg.smtp_max_message_size == 50ULL * 1024 * 1024);
	assert_int_equal(cfg.log_level, LOG_INFO);
	config_free(&cfg);
}

static void
test_minimal_file_gets_defaults(void **state)
{
	struct mn_config cfg;
	struct mn_err err;

	assert_int_equal(config_load_string("node.ini", MIN, &cfg, &err), 0);
	assert_string_equal(cfg.node_name, "node1");
	assert_string_equal(cfg.data_dir, "/tmp/mn");
	assert_string_equal(cfg.hostname, "localhost");
	assert_string_equal(cfg.listen_address, "127.0.0.1");
	assert_int_equal(cfg.smtp_port, 2525);
	assert_int_equal(cfg.rpc_port, 7101);
	assert_int_equal(cfg.idle_timeout_ms, 300000);
	assert_null(cfg.tls_cert_file);
	assert_null(cfg.tls_key_file);
	assert_null(cfg.cluster_join);
	assert_null(cfg.cluster_secret);
	assert_null(cfg.admin_initial_password);
	assert_null(cfg.dns_resolvers);
	assert_null(cfg.dev_create_domain);
	assert_int_equal(cfg.limits_max_conn_per_ip, 50);
	assert_int_equal(cfg.limits_conn_per_minute, 120);
	assert_int_equal(cfg.limits_auth_fail_ip, 55);
	assert_int_equal(cfg.limits_auth_fail_user, 20);
	assert_int_equal(cfg.limits_auth_window_ms, 600000);
	assert_int_equal(cfg.limits_block_ms, 172800000u);
	assert_null(cfg.limits_exempt);
	config_free(&cfg);
	assert_null(cfg.node_name);
	config_free(&cfg); /* twice is harmless */
}

static const char full_file[] =
    "; mailnode node configuration (SPEC §5 example, every key set)\n"
    "[node]\n"
    "name = node1                 ; unique, stable cluster member name\n"
    "data_dir = ./var/node1       ; directory db, raft log, mail store\n"
    "hostname = mail1.example.test ; SMTP greeting / HELO name\n"
    "[listen]\n"
    "address = ::1\n"
    "smtp_port = 25\n"
    "submission_port = 587\n"
    "smtps_port = 465\n"
    "imap_port = 143\n"
    "imaps_port = 993\n"
    "pop3_port = 110\n"
    "pop3s_port = 995\n"
    "http_port = 8080\n"
    "https_port = 8443\n"
    "raft_port = 7200\n"
    "rpc_port = 7201\n"
    "max_connections = 5000\n"
    "idle_timeout = 60\n"
    "[tls]\n"
    "cert_file = /etc/mailnode/cert.pem\n"
    "key_file = /etc/mailnode/key.pem\n"
    "[cluster]\n"
    "join = [::1]:7101\n"
    "secret = s3cr3t;not-a-comment\n"
    "[admin]\n"
    "initial_password = hunter2\n"
    "[smtp]\n"
    "max_message_size = 25M\n"
    "[dns]\n"
    "resolvers = 127.0.0.53:5353, [::1]:53 127.0.0.1\n"
    "[limits]\n"
    "max_conn_per_ip = 3\n"
    "exempt = 127.0.1.0/24 ::1\n"
    "[log]\n"
    "level = debug\n"
    "[dev]\n"
    "create_domain = example.test\n";

static void
test_full_file(void **state)
{
	struct mn_config cfg;
	struct mn_err err;

	assert_int_equal(config_load_string("node.ini", full_file, &cfg, &err), 0);
	assert_string_equal(cfg.node_name, "node1");
	assert_string_equal(cfg.data_dir, "./var/node1");
	assert_string_equal(cfg.hostname, "mail1.example.test");
	assert_string_equal(cfg.listen_address, "::1");
	assert_int_equal(cfg.smtp_port, 25);
	assert_int_equal(cfg.submission_port, 587);
	assert_int_equal(cfg.smtps_port, 465);
	assert_int_equal(cfg.imap_port, 143);
	assert_int_equal(cfg.imaps_port, 993);
	assert_int_equal(cfg.pop3_port, 110);
	assert_int_equal(cfg.pop3s_port, 995);
	assert_int_equal(cfg.http_port, 8080);
	assert_int_equal(cfg.https_port, 8443);
	assert_int_equal(cfg.raft_port, 7200);
	assert_int_equal(cfg.rpc_port, 7201);
	assert_int_equal(cfg.max_connections, 5000);
	assert_int_equal(cfg.idle_timeout_ms, 60000);
	assert_string_equal(cfg.tls_cert_file, "/etc/mailnode/cert.pem");
	assert_string_equal(cfg.tls_key_file, "/etc/mailnode/key.pem");
	assert_string_equal(cfg.cluster_join, "[::1]:7101");
	assert_string_equal(cfg.cluster_secret, "s3cr3t;not-a-comment");
	assert_string_equal(cfg.admin_initial_password, "hunter2");
	assert_true(cfg.smtp_max_message_size == 25ULL * 1024 * 1024);
	assert_string_equal(cfg.dns_resolvers, "127.0.0.53:5353, [::1]:53 127.0.0.1");
	assert_int_equal(cfg.limits_max_conn_per_ip, 3);
	assert_string_equal(cfg.limits_exempt, "127.0.1.0/24 ::1");
	assert_int_equal(cfg.log_level, LOG_DEBUG);
	assert_string_equal(cfg.dev_create_domain, "example.test");
	config_free(&cfg);
}

static void
test_comments_and_layout(void **state)
{
	static const char text[] = "\xEF\xBB\xBF# hash comment\r\n"
	                           "; semicolon comment\r\n"
	                           "\r\n"
	                           "[node] ; inline comment on a section\r\n"
	                           "   name=node-1.a_b\t; tab before the comment\r\n"
	                           "\tdata_dir =  /srv/mail dir  \r\n"
	                           "[cluster]\r\n"
	                           "secret = a ;b\r\n"
	                           "  join = 127.0.0.2:7101\r\n";
	struct mn_config cfg;
	struct mn_err err;

	assert_int_equal(config_load_string("node.ini", text, &cfg, &err), 0);
	assert_string_equal(cfg.node_name, "node-1.a_b");
	/* Inner blanks stay, outer ones go. */
	assert_string_equal(cfg.data_dir, "/srv/mail dir");
	assert_string_equal(cfg.cluster_secret, "a");
	/* An indented line is a key, never a continuation of `secret`. */
	assert_string_equal(cfg.cluster_join, "127.0.0.2:7101");
	config_free(&cfg);
}

static void
test_empty_string_value_is_unset(void **state)
{
	struct mn_config cfg;
	struct mn_err err;

	assert_int_equal(config_load_string("node.ini",
	                     MIN "hostname =\n[tls]\ncert_file =\nkey_file = ; none\n"
	                         "[cluster]\njoin =\nsecret =\n[dns]\nresolvers =\n",
	                     &cfg, &err),
	    0);
	assert_string_equal(cfg.hostname, "localhost");
	assert_null(cfg.tls_cert_file);
	assert_null(cfg.tls_key_file);
	assert_null(cfg.cluster_join);
	assert_null(cfg.cluster_secret);
	assert_null(cfg.dns_resolvers);
	config_free(&cfg);
}

static void
test_sizes(void **state)
{
	static const struct {
		const char *value;
		uint64_t bytes;
	} cases[] = {
	    {"1K", 1024},
	    {"1024", 1024},
	    {"512k", 512 * 1024},
	    {"50m", 50ULL << 20},
	    {"1G", 1ULL << 30},
	    {"1073741824", 1ULL << 30},
	    {"4097", 4097},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[256];
		struct mn_config cfg;
		struct mn_err err;

		snprintf(text, sizeof(text), MIN "[smtp]\nmax_message_size = %s\n", cases[i].value);
		assert_int_equal(config_load_string("node.ini", text, &cfg, &err), 0);
		assert_true(cfg.smtp_max_message_size == cases[i].bytes);
		config_free(&cfg);
	}
}

static void
test_ports_zero_disable_and_do_not_conflict(void **state)
{
	static const char text[] = MIN "[listen]\n"
	                               "smtp_port = 0\nsubmission_port = 0\n"
	                               "smtps_port = 0\nimap_port = 0\n"
	                               "imaps_port = 0\npop3_port = 0\n"
	                               "pop3s_port = 0\nhttp_port = 0\n"
	                               "https_port = 0\nraft_port = 0\n"
	                               "rpc_port = 65535\n";
	struct mn_config cfg;
	struct mn_err err;

	assert_int_equal(config_load_string("node.ini", text, &cfg, &err), 0);
	assert_int_equal(cfg.smtp_port, 0);
	assert_int_equal(cfg.submission_port, 0);
	assert_int_equal(cfg.smtps_port, 0);
	assert_int_equal(cfg.imap_port, 0);
	assert_int_equal(cfg.imaps_port, 0);
	assert_int_equal(cfg.pop3_port, 0);
	assert_int_equal(cfg.pop3s_port, 0);
	assert_int_equal(cfg.http_port, 0);
	assert_int_equal(cfg.https_port, 0);
	assert_int_equal(cfg.raft_port, 0);
	assert_int_equal(cfg.rpc_port, 65535);
	config_free(&cfg);
}

static void
test_join_and_resolver_forms(void **state)
{
	static const char *joins[] = {
	    "127.0.0.2:7101",
	    "[::1]:7101",
	    "node2.example.test:7101",
	    "node_2:1",
	};
	static const char *resolvers[] = {
	    "127.0.0.53",
	    "127.0.0.53:5353",
	    "::1",
	    "[::1]:53",
	    "127.0.0.1,127.0.0.2",
	    "127.0.0.1 , [::1]",
	};

	for (size_t i = 0; i < sizeof(joins) / sizeof(joins[0]); i++) {
		char text[256];
		struct mn_config cfg;
		struct mn_err err;

		snprintf(text, sizeof(text), MIN "[cluster]\njoin = %s\n", joins[i]);
		assert_int_equal(config_load_string("node.ini", text, &cfg, &err), 0);
		assert_string_equal(cfg.cluster_join, joins[i]);
		config_free(&cfg);
	}
	for (size_t i = 0; i < sizeof(resolvers) / sizeof(resolvers[0]); i++) {
		char text[256];
		struct mn_config cfg;
		struct mn_err err;

		snprintf(text, sizeof(text), MIN "[dns]\nresolvers = %s\n", resolvers[i]);
		assert_int_equal(config_load_string("node.ini", text, &cfg, &err), 0);
		assert_string_equal(cfg.dns_resolvers, resolvers[i]);
		config_free(&cfg);
	}
}

static void
test_log_levels(void **state)
{
	static const struct {
		const char *value;
		int level;
	} cases[] = {
	    {"debug", LOG_DEBUG},
	    {"info", LOG_INFO},
	    {"warn", LOG_WARN},
	    {"error", LOG_ERROR},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[256];
		struct mn_config cfg;
		struct mn_err err;

		snprintf(text, sizeof(text), MIN "[log]\nlevel = %s\n", cases[i].value);
		assert_int_equal(config_load_string("node.ini", text, &cfg, &err), 0);
		assert_int_equal(cfg.log_level, cases[i].level);
		config_free(&cfg);
	}
}

static void
test_parse_bool(void **state)
{
	static const struct {
		const char *in;
		int rc;
		bool out;
	} cases[] = {
	    {"yes", 0, true},
	    {"TRUE", 0, true},
	    {"on", 0, true},
	    {"1", 0, true},
	    {"no", 0, false},
	    {"False", 0, false},
	    {"off", 0, false},
	    {"0", 0, false},
	    {"", MN_EINVAL, false},
	    {"2", MN_EINVAL, false},
	    {"yess", MN_EINVAL, false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool b = !cases[i].out;

		assert_int_equal(config_parse_bool(cases[i].in, &b), cases[i].rc);
		if (cases[i].rc == 0)
			assert_int_equal(b, cases[i].out);
	}
}

/* ---- files on disk ----------------------------------------------------- */

static void
write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void
test_load_from_file(void **state)
{
	char dir[] = "/tmp/mn-test-config-XXXXXX";
	char path[256], missing[256], expect[512];
	struct mn_config cfg;
	struct mn_err err;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/node.ini", dir);
	snprintf(missing, sizeof(missing), "%s/nope.ini", dir);

	write_file(path, full_file, strlen(full_file));
	assert_int_equal(config_load(path, &cfg, &err), 0);
	assert_string_equal(cfg.node_name, "node1");
	assert_int_equal(cfg.http_port, 8080);
	config_free(&cfg);

	/* Messages carry the real path. */
	write_file(path, "[node]\nname = node1\n", 20);
	assert_int_equal(config_load(path, &cfg, &err), MN_EINVAL);
	snprintf(expect, sizeof(expect), "%s:0: [node] data_dir is required", path);
	assert_string_equal(err.msg, expect);

	/* Unreadable: missing file, a directory. */
	assert_int_equal(config_load(missing, &cfg, &err), MN_EIO);
	snprintf(expect, sizeof(expect),
	    "%s:0: cannot open: No such file or "
	    "directory",
	    missing);
	assert_string_equal(err.msg, expect);
	assert_int_equal(config_load(dir, &cfg, &err), MN_EIO);
	snprintf(expect, sizeof(expect), "%s:0: cannot read: Is a directory", dir);
	assert_string_equal(err.msg, expect);

	/* A NUL byte would hide the rest of the file from the parser. */
	write_file(path, MIN "\0[foo]\n", sizeof(MIN) + 6);
	assert_int_equal(config_load(path, &cfg, &err), MN_EINVAL);
	snprintf(expect, sizeof(expect), "%s:0: not a text file (contains NUL bytes)", path);
	assert_string_equal(err.msg, expect);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* ---- generated reference ------------------------------------------------ */

static char *
reference_text(size_t *len_out)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	config_write_reference(f);
	assert_int_equal(fclose(f), 0);
	*len_out = len;
	return text;
}

static void
test_reference_lists_every_key(void **state)
{
	/* Written from SPEC §5, not from the table, so a key missing from
	 * the table fails here. */
	static const char *expect[] = {
	    "## [node]",
	    "| `name` |",
	    "| `data_dir` |",
	    "| `hostname` |",
	    "## [listen]",
	    "| `address` |",
	    "| `smtp_port` |",
	    "| `submission_port` |",
	    "| `smtps_port` |",
	    "| `imap_port` |",
	    "| `imaps_port` |",
	    "| `pop3_port` |",
	    "| `pop3s_port` |",
	    "| `http_port` |",
	    "| `https_port` |",
	    "| `raft_port` |",
	    "| `rpc_port` |",
	    "| `max_connections` |",
	    "| `idle_timeout` |",
	    "## [tls]",
	    "| `cert_file` |",
	    "| `key_file` |",
	    "## [cluster]",
	    "| `join` |",
	    "| `secret` |",
	    "## [admin]",
	    "| `initial_password` |",
	    "## [smtp]",
	    "| `max_message_size` | size | `50M` | 1K-1G |",
	    "## [dns]",
	    "| `resolvers` |",
	    "## [log]",
	    "| `level` | log level | `info` |",
	    "## [dev]",
	    "| `create_domain` |",
	    "| `smtp_port` | port | `2525` | 0-65535, 0 disables |",
	    "| `name` | string | **required** |",
	};
	size_t len;
	char *text = reference_text(&len);

	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
		if (strstr(text, expect[i]) == NULL)
			fail_msg("reference lacks \"%s\"", expect[i]);
	free(text);
}

static char *
read_all(const char *path, size_t *len_out)
{
	FILE *f = fopen(path, "r");
	char *data = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL)
		return NULL;
	do {
		if (cap - len < 4096) {
			cap = cap * 2 + 4096;
			data = xrealloc(data, cap);
		}
		n = fread(data + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	*len_out = len;
	return data;
}

/*
 * docs/config.md must equal config_write_reference(): regenerate it into
 * the build directory and compare. The source tree is found from
 * MN_SOURCE_DIR or else from this file's own (absolute, CMake-given) path.
 */
static void
test_docs_config_md_is_up_to_date(void **state)
{
	static const char self[] = "tests/unit/lib/test_config.c";
	const char *src = getenv("MN_SOURCE_DIR");
	char root[1024], docs[1100];
	size_t gen_len, doc_len;
	char *gen, *doc;
	bool same;
	FILE *f;

	if (src != NULL && src[0] != '\0') {
		snprintf(root, sizeof(root), "%s", src);
	} else {
		size_t n = strlen(__FILE__);

		assert_true(n > sizeof(self) - 1);
		assert_string_equal(__FILE__ + n - (sizeof(self) - 1), self);
		snprintf(root, sizeof(root), "%.*s", (int)(n - sizeof(self)),
		    __FILE__); /* without the trailing '/' */
	}
	snprintf(docs, sizeof(docs), "%s/docs/config.md", root);

	gen = reference_text(&gen_len);
	f = fopen("config.md.generated", "w");
	assert_non_null(f);
	assert_int_equal(fwrite(gen, 1, gen_len, f), gen_len);
	assert_int_equal(fclose(f), 0);

	doc = read_all(docs, &doc_len);
	same = doc != NULL && doc_len == gen_len && memcmp(doc, gen, gen_len) == 0;
	free(doc);
	free(gen);
	if (!same)
		fail_msg("%s is missing or out of date; from the build dir "
		         "regenerate it with: cp config.md.generated %s",
		    docs, docs);
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_minimal_file_gets_defaults),
	    cmocka_unit_test(test_full_file),
	    cmocka_unit_test(test_comments_and_layout),
	    cmocka_unit_test(test_empty_string_value_is_unset),
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_ports_zero_disable_and_do_not_conflict),
	    cmocka_unit_test(test_join_and_resolver_forms),
	    cmocka_unit_test(test_log_levels),
	    cmocka_unit_test(test_parse_bool),
	    cmocka_unit_test(test_line_too_long),
	    cmocka_unit_test(test_long_comments_are_fine),
	    cmocka_unit_test(test_file_too_large),
	    cmocka_unit_test(test_load_from_file),
	    cmocka_unit_test(test_reference_lists_every_key),
	    cmocka_unit_test(test_docs_config_md_is_up_to_date),
	};
	size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);
	struct CMUnitTest tests[sizeof(fixed) / sizeof(fixed[0]) + NREFUSALS];

	/* Every refusal is its own named test, with the case as its state. */
	memcpy(tests, fixed, sizeof(fixed));
	for (size_t i = 0; i < NREFUSALS; i++) {
		tests[nfixed + i] = (struct CMUnitTest){
		    .name = refusals[i].name,
		    .test_func = test_refusal,
		    .initial_state = (void *)&refusals[i],
		};
	}
	return _cmocka_run_group_tests(
	    "config", tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
}
