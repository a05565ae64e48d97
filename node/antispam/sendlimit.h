/*
 * sendlimit.h - send limits for authenticated submission (issue 8,
 * FEATURES §17 "sending rate limits", §16.1 mass-mailing detection):
 * messages and recipients per hour and per day, counted per user, per
 * domain (of the user) and for the whole node.
 *
 * Windows are fixed, not sliding: an account's hour (day) window starts
 * with its first counted message and ends 3600 (86400) s later; the next
 * message after that starts a new window with zero counts. So one alert
 * per account per window is well defined: sendlimit_check reports
 * alert=true the first time an account hits any limit in its current
 * window of that length, never again until the window ends.
 *
 * Counting happens when a message is queued (sendlimit_count); the check
 * (sendlimit_check) asks whether one more message, or more recipients,
 * fit. Transactions of the same account running at the same time may
 * overshoot by what they carry (checked before either is counted).
 *
 * Counts are in memory, per node (a restart or another node of the cluster
 * starts from zero). Memory is bounded: at most max_tracked accounts and
 * domains; beyond that, entries whose windows have ended are dropped, and
 * if none has ended the new key is not tracked (fails open, logged once).
 *
 * Threads: loop thread only. Time from cfg.now_ms (epoch ms; NULL: real).
 */
#ifndef MN_NODE_ANTISPAM_SENDLIMIT_H
#define MN_NODE_ANTISPAM_SENDLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sendlimit_scope {
	SENDLIMIT_USER,
	SENDLIMIT_DOMAIN,
	SENDLIMIT_SYSTEM,
	SENDLIMIT_NSCOPE,
};

enum sendlimit_window {
	SENDLIMIT_HOUR,
	SENDLIMIT_DAY,
	SENDLIMIT_NWINDOW,
};

#define SENDLIMIT_DEFAULT_MAX_TRACKED 65536
#define SENDLIMIT_MAX_KEY 255

struct sendlimit_caps {
	uint32_t msgs[SENDLIMIT_NWINDOW];  /* 0: unlimited */
	uint32_t rcpts[SENDLIMIT_NWINDOW]; /* 0: unlimited */
};

/* sendlimit_override_fn - per-account caps (the directory's user and
 * domain preferences send_messages_per_hour ...): caps comes filled with
 * the node's defaults for scope (SENDLIMIT_USER: key is the address;
 * SENDLIMIT_DOMAIN: the domain); replace the ones the account sets. Called
 * on every check and count, on the loop thread. */
typedef void sendlimit_override_fn(
    void *arg, enum sendlimit_scope scope, const char *key, struct sendlimit_caps *caps);

struct sendlimit_config {
	struct sendlimit_caps caps[SENDLIMIT_NSCOPE];
	sendlimit_override_fn *override; /* NULL: the caps above for everyone */
	void *override_arg;
	size_t max_tracked; /* 0: SENDLIMIT_DEFAULT_MAX_TRACKED */
	uint64_t (*now_ms)(void *arg);
	void *clock_arg;
};

/* What was reached, for the reply and the alert. */
struct sendlimit_hit {
	enum sendlimit_scope scope;
	enum sendlimit_window window;
	bool rcpts;                      /* recipients (else messages) */
	uint32_t limit;                  /* the cap reached */
	uint32_t used;                   /* counted so far in the window */
	char key[SENDLIMIT_MAX_KEY + 1]; /* user address, domain or "" */
	bool alert;                      /* first hit of this account in its window */
};

struct sendlimit;

struct sendlimit *sendlimit_new(const struct sendlimit_config *cfg);
void sendlimit_free(struct sendlimit **sl);

/* sendlimit_enabled - some cap is set (false for NULL). */
bool sendlimit_enabled(const struct sendlimit *sl);

/* sendlimit_check - would msgs more messages carrying rcpts more
 * recipients from user (an address: its domain is the part after '@') fit
 * every cap? true: yes. false: *hit says which cap (user before domain
 * before system, hour before day, messages before recipients). */
bool sendlimit_check(struct sendlimit *sl, const char *user, uint32_t msgs, uint32_t rcpts,
    struct sendlimit_hit *hit);

/* sendlimit_count - a message from user with rcpts recipients was queued. */
void sendlimit_count(struct sendlimit *sl, const char *user, uint32_t rcpts);

/* sendlimit_describe - "user bob@x.test may send 100 messages per hour"
 * (domain: "domain x.test may send ...", system: "this server sends at
 * most ..."). */
void sendlimit_describe(const struct sendlimit_hit *h, char *out, size_t outsz);

/* sendlimit_alert_build - the alert to the postmaster of user's domain
 * (RFC 5322 text with CRLF, null envelope sender meant; Auto-Submitted,
 * RFC 3834): *rcpt_out gets "postmaster@DOMAIN". Both xmalloc'd. now is
 * epoch seconds (the Date: field). */
char *sendlimit_alert_build(const struct sendlimit_hit *h, const char *hostname, const char *user,
    const char *ip, const char *msgid, int64_t now, char **rcpt_out);

/* sendlimit_tracked - entries held (tests). */
size_t sendlimit_tracked(const struct sendlimit *sl);

#endif
