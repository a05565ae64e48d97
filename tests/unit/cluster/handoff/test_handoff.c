/*
 * test_handoff.c - the handoff over real RPC on loopback: a sending
 * handoff ("node1") streams a spool file's message to a serving one
 * ("node2") whose mail store is real. Checks: per-recipient results
 * (delivered, unknown, disabled, homed elsewhere), the stored bytes, one
 * copy when the same handoff is sent again (lost reply), chunks repeated,
 * out of order or from a restarted sender, refusals of bad requests, an
 * unreachable or unknown home giving TEMPFAIL, and partial files removed
 * after the idle timeout and (an earlier run's) at start.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/handoff/handoff.h"
#include "cluster/proto/handoff.pb-c.h"
#include "cluster/rpc/rpc.h"
#include "storage/mailstore/mailstore.h"
#include "tests/support/tls_env.h"
#include "tests/support/uv_wait.h"
#include "tests/unit/storage/directory/dir_test_util.h"

#define WAIT_MS 20000
#define SECRET "handoff-test-secret"
#define PREFIX "MNSPOOL 1\nenvelope that is not part of the message\ndata\n"

static struct {
	char tmp[64];
	uv_loop_t loop;
	struct tls_env env;
	struct directory *dir;
	struct mailstore *ms;
	struct rpc_server *srv;
	struct peer_auth_config sauth, cauth;
	struct rpc_client *raw; /* hand-made chunks */
	struct handoff *home, *origin;
	uint16_t port;
	int delivered_cb; /* on_delivered calls */
	int done;
	/* raw call results */
	int status;
	uint8_t reply[65536];
	size_t reply_len;
} T;

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
on_delivered(const char *user, void *arg)
{
	T.delivered_cb++;
}

static void
apply(const char *line)
{
	struct mn_err err = {0};

	if (dt_apply(T.dir, line, &err) != 0)
		fail_msg("%s: %s", line, err.msg);
}

static uint32_t idle_ms; /* set by setup_short_idle only */

static struct handoff *
make_handoff(const char *name, bool serve)
{
	struct handoff_config hc;
	struct handoff *h;
	struct mn_err err;
	char *dd = xasprintf("%s/%s", T.tmp, name);

	mkdir(dd, 0700);
	memset(&hc, 0, sizeof(hc));
	hc.data_dir = dd;
	hc.node_name = strcmp(name, "home") == 0 ? "node2" : "node1";
	hc.secret = SECRET;
	hc.dir = T.dir;
	hc.ms = serve ? T.ms : NULL;
	hc.max_message_size = 4u << 20;
	hc.serve = serve;
	hc.on_delivered = on_delivered;
	hc.idle_timeout_ms = idle_ms; /* 0: the default (10 min) */
	assert_int_equal(handoff_new(&T.loop, &hc, &h, &err), 0);
	free(dd); /* handoff_new needs data_dir only during the call */
	return h;
}

static int
setup(void **state)
{
	struct mn_err err;
	char *root, *stale;
	struct rpc_server_config sc;
	int fd;

	memset(&T, 0, sizeof(T));
	strcpy(T.tmp, "/tmp/mn_handoff_XXXXXX");
	assert_non_null(mkdtemp(T.tmp));
	assert_int_equal(uv_loop_init(&T.loop), 0);
	assert_int_equal(tls_env_init(&T.env), 0);
	T.dir = dt_open();
	root = xasprintf("%s/mail", T.tmp);
	assert_int_equal(mailstore_open(root, &T.ms, &err), 0);
	free(root);
	T.sauth = (struct peer_auth_config){.secret = SECRET, .node_name = "node2"};
	T.cauth = (struct peer_auth_config){
	    .secret = SECRET, .node_name = "node1", .client_tls = T.env.cli};
	sc = (struct rpc_server_config){
	    .address = "127.0.0.1", .port = 0, .tls = T.env.srv, .auth = &T.sauth};
	assert_int_equal(rpc_server_start(&T.loop, &sc, &T.srv, &err), 0);
	T.port = rpc_server_port(T.srv);
	assert_int_equal(rpc_client_new(&T.loop, &T.cauth, &T.raw), 0);

	/* a partial file of an earlier run, removed by handoff_new */
	stale = xasprintf("%s/home", T.tmp);
	mkdir(stale, 0700);
	free(stale);
	stale = xasprintf("%s/home/handoff", T.tmp);
	mkdir(stale, 0700);
	free(stale);
	stale = xasprintf("%s/home/handoff/0000000000000001AAAA.node1", T.tmp);
	fd = open(stale, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	T.home = make_handoff("home", true);
	assert_int_equal(access(stale, F_OK), -1);
	free(stale);
	T.origin = make_handoff("origin", false);

	apply("domain_add x.test");
	{
		char line[128];

		snprintf(line, sizeof(line), "node_add node2 127.0.0.1 rpc_port=%u state=active",
		    T.port);
		apply(line);
	}
	/* node3: an address where nothing listens */
	apply("node_add node3 127.0.0.1 rpc_port=1 state=active");
	apply("user_add a@x.test node=node2");
	apply("user_add b@x.test node=node2");
	apply("user_add c@x.test node=node3");
	apply("user_add d@x.test node=node2 flags=1");
	apply("user_add q@x.test node=node2 qm=1");
	return 0;
}

/* a short idle timeout, for test_partial_transfer_expires only (other
 * tests must not lose transfers to a slow machine) */
static int
setup_short_idle(void **state)
{
	int rc;

	idle_ms = 300;
	rc = setup(state);
	idle_ms = 0;
	return rc;
}

static int
teardown(void **state)
{
	handoff_stop(T.origin);
	handoff_stop(T.home);
	rpc_client_close(&T.raw);
	rpc_server_stop(&T.srv);
	assert_int_equal(uv_wait_drain(&T.loop, WAIT_MS), 0);
	handoff_free(&T.origin);
	handoff_free(&T.home);
	mailstore_close(&T.ms);
	directory_close(&T.dir);
	tls_env_fini(&T.env);
	nftw(T.tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* --- helpers ------------------------------------------------------------- */

static char *
make_message(size_t size, const char *tag)
{
	char *m = xmalloc(size + 1);
	int n = snprintf(m, size + 1, "Subject: %s\r\n\r\n", tag);

	for (size_t i = (size_t)n; i < size; i++)
		m[i] = (i % 64 == 63) ? '\n' : (char)('a' + i % 26);
	m[size] = '\0';
	return m;
}

/* a spool-like file: some envelope, then the message */
static char *
write_spool(const char *msg, size_t len)
{
	char *path = xasprintf("%s/spool-%zu", T.tmp, len);
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(PREFIX, 1, strlen(PREFIX), f), strlen(PREFIX));
	assert_int_equal(fwrite(msg, 1, len, f), len);
	fclose(f);
	return path;
}

static size_t
inbox(const char *user, struct buf *body_out)
{
	struct mailstore_msg *list = NULL;
	struct mn_err err;
	size_t n = 0;

	if (mailstore_msg_list(T.ms, user, "INBOX", 0, &list, &n, &err) != 0)
		return 0;
	if (body_out != NULL && n > 0)
		assert_int_equal(mailstore_body_read(T.ms, user, "INBOX", list[n - 1].uid, 0,
		                     (size_t)list[n - 1].size, body_out, &err),
		    0);
	mailstore_msg_list_free(&list, n);
	return n;
}

static void
job_done(struct handoff_job *job, void *arg)
{
	T.done++;
}

static bool
done_at_least(void *arg)
{
	return T.done >= *(int *)arg;
}

static void
run_job(struct handoff_job *job, struct handoff *h)
{
	int want = T.done + 1;

	assert_int_equal(handoff_send(h, job, job_done, NULL), 0);
	assert_int_equal(T.done, want - 1); /* never inside handoff_send */
	assert_true(uv_wait_until(&T.loop, done_at_least, &want, WAIT_MS));
}

/* --- tests ----------------------------------------------------------------- */

static void
test_send_results_bytes_and_retry_stores_once(void **state)
{
	size_t len = 600 * 1024; /* three chunks */
	char *msg = make_message(len, "t1");
	char *path = write_spool(msg, len);
	struct handoff_rcpt r[6] = {{.address = "a@x.test"}, {.address = "b@x.test"},
	    {.address = "c@x.test"}, {.address = "d@x.test"}, {.address = "ghost@x.test"},
	    {.address = "A@X.TEST"}};
	struct handoff_job job = {.home = "node2",
	    .spool_id = "0006614CF36E910F0001",
	    .message_path = path,
	    .message_offset = strlen(PREFIX),
	    .size = len,
	    .internal_date = 1700000000,
	    .rcpts = r,
	    .nrcpts = 5};
	struct buf body;

	run_job(&job, T.origin);
	assert_int_equal(r[0].outcome, HANDOFF_RCPT_DELIVERED);
	assert_string_equal(r[0].reply, "250 2.0.0 delivered to INBOX on node2");
	assert_int_equal(r[1].outcome, HANDOFF_RCPT_DELIVERED);
	assert_int_equal(r[2].outcome, HANDOFF_RCPT_NOT_HOME);
	assert_string_equal(r[2].reply, "451 4.4.0 user is homed on node3");
	assert_int_equal(r[3].outcome, HANDOFF_RCPT_PERMFAIL);
	assert_string_equal(r[3].reply, "550 5.2.1 mailbox disabled");
	assert_int_equal(r[4].outcome, HANDOFF_RCPT_PERMFAIL);
	assert_string_equal(r[4].reply, "550 5.1.1 user unknown");
	assert_int_equal(T.delivered_cb, 2);
	buf_init(&body, 4u << 20);
	assert_int_equal(inbox("a@x.test", &body), 1);
	assert_int_equal(body.len, len);
	assert_memory_equal(body.data, msg, len);
	buf_fini(&body);
	assert_int_equal(inbox("b@x.test", NULL), 1);
	assert_int_equal(inbox("c@x.test", NULL), 0);

	/* the reply was lost: the queue sends the same handoff again (and a
	 * differently cased address of the same user) -> no second copy */
	job.nrcpts = 6;
	run_job(&job, T.origin);
	assert_int_equal(r[0].outcome, HANDOFF_RCPT_DELIVERED);
	assert_int_equal(r[1].outcome, HANDOFF_RCPT_DELIVERED);
	assert_int_equal(r[5].outcome, HANDOFF_RCPT_DELIVERED);
	assert_int_equal(inbox("a@x.test", NULL), 1);
	assert_int_equal(inbox("b@x.test", NULL), 1);
	assert_int_equal(T.delivered_cb, 2);

	/* another spool id is another message */
	job.spool_id = "0006614CF36E910F0002";
	job.nrcpts = 1;
	run_job(&job, T.origin);
	assert_int_equal(r[0].outcome, HANDOFF_RCPT_DELIVERED);
	assert_int_equal(inbox("a@x.test", NULL), 2);
	free(msg);
	free(path);
}

static void
test_quota_is_a_permanent_failure(void **state)
{
	char *msg = make_message(1000, "q");
	char *path = write_spool(msg, 1000);
	struct handoff_rcpt r[1] = {{.address = "q@x.test"}};
	struct handoff_job job = {.home = "node2",
	    .spool_id = "00000000000000000001",
	    .message_path = path,
	    .message_offset = strlen(PREFIX),
	    .size = 1000,
	    .rcpts = r,
	    .nrcpts = 1};

	run_job(&job, T.origin);
	assert_int_equal(r[0].outcome, HANDOFF_RCPT_DELIVERED);
	job.spool_id = "00000000000000000002";
	run_job(&job, T.origin);
	assert_int_equal(r[0].outcome, HANDOFF_RCPT_PERMFAIL);
	assert_string_equal(r[0].reply, "552 5.2.2 mailbox full");
	assert_int_equal(inbox("q@x.test", NULL), 1);
	free(msg);
	free(path);
}

static void
test_unreachable_or_unknown_home_tempfails(void **state)
{
	char *msg = make_message(100, "down");
	char *path = write_spool(msg, 100);
	struct handoff_rcpt r[1] = {{.address = "c@x.test"}};
	struct handoff_job job = {.home = "node9",
	    .spool_id = "00000000000000000003",
	    .message_path = path,
	    .message_offset = strlen(PREFIX),
	    .size = 100,
	    .rcpts = r,
	    .nrcpts = 1};

	run_job(&job, T.origin);
	assert_int_equal(r[0].outcome, HANDOFF_RCPT_TEMPFAIL);
	assert_string_equal(r[0].reply, "451 4.4.0 home node node9: not in the node list");
	/* node3 does not listen: noticed within the connect deadline, not the
	 * delivery deadline */
	job.home = "node3";
	uv_update_time(&T.loop);
	uint64_t t0 = uv_now(&T.loop);

	run_job(&job, T.origin);
	assert_int_equal(r[0].outcome, HANDOFF_RCPT_TEMPFAIL);
	assert_true(strncmp(r[0].reply, "451 4.4.1 home node node3: ", 27) == 0);
	assert_true(uv_now(&T.loop) - t0 < HANDOFF_CONNECT_TIMEOUT_MS + 2000);
	free(msg);
	free(path);
}

/* --- raw chunks ------------------------------------------------------------ */

static void
raw_cb(int status, const char *error, const uint8_t *payload, size_t len, void *arg)
{
	T.status = status;
	T.reply_len = len < sizeof(T.reply) ? len : sizeof(T.reply);
	if (payload != NULL)
		memcpy(T.reply, payload, T.reply_len);
	T.done++;
}

/* one HandoffChunk; returns the status, *have_out the reply's have (or
 * UINT64_MAX), *outcome_out the first result's outcome (or -1) */
static int
chunk(const char *origin, const char *home, const char *id, uint64_t off, const char *data,
    size_t dlen, uint64_t total, const char *rcpt, uint64_t *have_out, int *outcome_out)
{
	Mailnode__HandoffChunk m = MAILNODE__HANDOFF_CHUNK__INIT;
	Mailnode__HandoffReply *rep;
	char *rcpts[1] = {(char *)rcpt};
	uint8_t *packed;
	size_t n;
	int want = T.done + 1;

	m.origin = (char *)origin;
	m.home = (char *)home;
	m.spool_id = (char *)id;
	m.offset = off;
	m.total = total;
	if (dlen > 0) {
		m.has_data = 1;
		m.data.data = (uint8_t *)data;
		m.data.len = dlen;
	}
	if (rcpt != NULL) {
		m.has_last = m.last = 1;
		m.n_rcpts = 1;
		m.rcpts = rcpts;
	}
	n = mailnode__handoff_chunk__get_packed_size(&m);
	packed = xmalloc(n);
	mailnode__handoff_chunk__pack(&m, packed);
	assert_int_equal(
	    rpc_client_call(T.raw, "127.0.0.1", T.port, MAILNODE__RPC_METHOD__RPC_HANDOFF_CHUNK,
	        packed, n, 10000, raw_cb, NULL, NULL),
	    0);
	free(packed);
	assert_true(uv_wait_until(&T.loop, done_at_least, &want, WAIT_MS));
	*have_out = UINT64_MAX;
	*outcome_out = -1;
	if (T.status != 0)
		return T.status;
	rep = mailnode__handoff_reply__unpack(NULL, T.reply_len, T.reply);
	assert_non_null(rep);
	*have_out = rep->have;
	if (rep->n_results > 0)
		*outcome_out = rep->results[0]->outcome;
	mailnode__handoff_reply__free_unpacked(rep, NULL);
	return 0;
}

static void
test_chunks_repeated_out_of_order_restarted(void **state)
{
	char *msg = make_message(1000, "raw");
	const char *id = "0000000000000000RAW1";
	uint64_t have;
	int out;
	struct buf body;
	struct {
		uint64_t off;
		size_t len;
		bool last;
		uint64_t want_have;
	} steps[] = {
	    {400, 100, false, 0},   /* unknown transfer, not at 0: start over */
	    {0, 300, false, 300},   /* the start */
	    {0, 300, false, 300},   /* the same chunk again: restart, same bytes */
	    {300, 200, false, 500}, /* next */
	    {300, 200, false, 500}, /* repeated: not where the file ends */
	    {700, 300, true, 500},  /* a gap (lost chunk): go on from 500 */
	    {500, 200, false, 700}, /* the missing one */
	};

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		assert_int_equal(
		    chunk("node1", "node2", id, steps[i].off, msg + steps[i].off, steps[i].len,
		        1000, steps[i].last ? "a@x.test" : NULL, &have, &out),
		    0);
		assert_int_equal(have, steps[i].want_have);
		assert_int_equal(out, -1);
	}
	assert_int_equal(inbox("a@x.test", NULL), 0);
	assert_int_equal(
	    chunk("node1", "node2", id, 700, msg + 700, 300, 1000, "a@x.test", &have, &out), 0);
	assert_int_equal(have, 1000);
	assert_int_equal(out, MAILNODE__HANDOFF_OUTCOME__HANDOFF_DELIVERED);
	buf_init(&body, 4096);
	assert_int_equal(inbox("a@x.test", &body), 1);
	assert_int_equal(body.len, 1000);
	assert_memory_equal(body.data, msg, 1000);
	buf_fini(&body);
	/* the last chunk once more, after the home forgot the transfer */
	assert_int_equal(
	    chunk("node1", "node2", id, 700, msg + 700, 300, 1000, "a@x.test", &have, &out), 0);
	assert_int_equal(have, 0);
	/* the whole message again in one request (a retry): a duplicate */
	assert_int_equal(
	    chunk("node1", "node2", id, 0, msg, 1000, 1000, "a@x.test", &have, &out), 0);
	assert_int_equal(out, MAILNODE__HANDOFF_OUTCOME__HANDOFF_DELIVERED);
	assert_int_equal(inbox("a@x.test", NULL), 1);
	free(msg);
}

static bool
file_gone(void *arg)
{
	return access((const char *)arg, F_OK) != 0;
}

/* a sender that stops halfway leaves a file that goes after the idle
 * timeout; the transfer is then unknown (have 0) */
static void
test_partial_transfer_expires(void **state)
{
	char *msg = make_message(1000, "partial");
	const char *id = "0000000000000000PRT1";
	char *path = xasprintf("%s/home/handoff/%s.node1", T.tmp, id);
	uint64_t have;
	int out;

	assert_int_equal(chunk("node1", "node2", id, 0, msg, 400, 1000, NULL, &have, &out), 0);
	assert_int_equal(have, 400);
	assert_int_equal(access(path, F_OK), 0);
	assert_true(uv_wait_until(&T.loop, file_gone, path, WAIT_MS));
	assert_int_equal(
	    chunk("node1", "node2", id, 400, msg + 400, 600, 1000, "a@x.test", &have, &out), 0);
	assert_int_equal(have, 0);
	assert_int_equal(out, -1);
	assert_int_equal(inbox("a@x.test", NULL), 0);
	free(path);
	free(msg);
}

static void
test_bad_requests_refused(void **state)
{
	static char big[HANDOFF_CHUNK_MAX + 1];
	uint64_t have;
	int out;
	const char *id = "0000000000000000BAD1";

	/* the proven peer is node1: it cannot speak for node3 */
	assert_int_equal(
	    chunk("node3", "node2", id, 0, "x", 1, 1, "a@x.test", &have, &out), MN_EPERM);
	assert_int_equal(
	    chunk("node1", "node9", id, 0, "x", 1, 1, "a@x.test", &have, &out), MN_ECONFLICT);
	assert_int_equal(
	    chunk("node1", "node2", "../../etc", 0, "x", 1, 1, "a@x.test", &have, &out), MN_EPERM);
	assert_int_equal(
	    chunk("node1", "node2", id, 0, big, sizeof(big), 1u << 20, NULL, &have, &out),
	    MN_EINVAL);
	assert_int_equal(
	    chunk("node1", "node2", id, 0, "x", 1, 5u << 20, NULL, &have, &out), MN_ETOOBIG);
	/* last, but short of the total */
	assert_int_equal(
	    chunk("node1", "node2", id, 0, "x", 1, 2, "a@x.test", &have, &out), MN_EINVAL);
	/* data past the total */
	assert_int_equal(chunk("node1", "node2", id, 1, "xy", 2, 2, NULL, &have, &out), MN_EINVAL);
	assert_int_equal(inbox("a@x.test", NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_send_results_bytes_and_retry_stores_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quota_is_a_permanent_failure, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_unreachable_or_unknown_home_tempfails, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_chunks_repeated_out_of_order_restarted, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_partial_transfer_expires, setup_short_idle, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_requests_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
