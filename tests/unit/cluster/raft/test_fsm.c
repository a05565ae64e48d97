/*
 * test_fsm.c - the directory state machine (cluster/raft/fsm.c) on its own
 * and inside libraft 0.15's raft_fixture: three in-memory servers on
 * virtual time, each with its own in-memory directory and dir_fsm. No
 * sockets, no wall clock: the same run every time.
 *
 * Covered: the wire encoding of every DirectoryCommand; apply results and
 * the ownership rules of fsm.h (result pointer, snapshot and restore
 * buffers; ASan/LSan check them); every command type replicated with the
 * proposer's callback seeing the directory's result; identical dumps on
 * every server; the same log applied twice gives byte-identical dumps; a
 * server cut off while the others compact their logs catches up by
 * snapshot install; the leader killed, a new one elected, writes go on;
 * a proposal whose leader lost office fails with MN_ENOLEADER; a server
 * whose database fails stops instead of diverging.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <raft.h>
#include <raft/fixture.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/raft/fsm.h"
#include "tests/unit/storage/directory/dir_test_util.h"

#define N 3
#define MAX_LOG 256
#define WAIT_MS 20000 /* virtual milliseconds */

/* --- commands ------------------------------------------------------------ */

struct script_step {
	const char *line; /* dir_test_util.h language */
	int rc;           /* expected result at the proposer */
};

/* Every DirectoryCommand type at least once, accepted and refused, ending
 * with a directory that has something in every table. */
static const struct script_step script[] = {
    {"domain_add a.test", 0},
    {"domain_add b.test", 0},
    {"domain_add A.test", MN_EEXIST},
    {"dalias_add alias.test a.test", 0},
    {"dalias_add gone.test b.test", 0},
    {"dalias_del gone.test", 0},
    {"dalias_del gone.test", MN_ENOENT},
    {"node_add node1 127.0.0.1 raft_port=7100 rpc_port=7101 id=1", 0},
    {"node_add node2 127.0.0.2 raft_port=7100 rpc_port=7101 id=2 state=joining", 0},
    {"node_add node3 127.0.0.3 id=3", 0},
    {"node_add node4 127.0.0.4 id=3", MN_EEXIST},
    {"node_state node2 active", 0},
    {"node_state node2 asleep", MN_EINVAL},
    {"node_del node3", 0},
    {"user_add bob@a.test name=Bob node=node1 qb=1000 qm=10 max=500 flags=1 exp=2000", 0},
    {"user_add BOB@a.test", MN_EEXIST}, /* duplicate user */
    {"user_add carol@a.test node=node2", 0},
    {"user_add dave@b.test", 0},
    {"user_add x@nope.test", MN_ENOENT},
    {"user_update bob@a.test name=Robert flags=0", 0},
    {"user_update bob@a.test flags=32", MN_EINVAL},
    {"user_move carol@a.test copy target=node1", 0},
    {"user_move carol@a.test flip", MN_ECONFLICT}, /* not holding */
    {"user_move carol@a.test hold", 0},
    {"user_move carol@a.test flip result=ok", 0},
    {"user_move carol@a.test end", 0},
    {"user_del dave@b.test", 0},
    {"user_del dave@b.test", MN_ENOENT},
    {"alias_add info@a.test bob@a.test ext@remote.test", 0},
    {"alias_add tmp@a.test bob@a.test", 0},
    {"alias_del tmp@a.test", 0},
    {"group_add staff@a.test Staff", 0},
    {"group_add team@a.test", 0},
    {"member_add staff@a.test bob@a.test", 0},
    {"member_add staff@a.test team@a.test", 0},
    {"member_add team@a.test staff@a.test", MN_ECONFLICT}, /* cycle */
    {"member_add team@a.test carol@a.test", 0},
    {"member_add team@a.test ext@remote.test", 0},
    {"member_del team@a.test ext@remote.test", 0},
    {"group_add old@b.test", 0},
    {"group_del old@b.test", 0},
    {"admin_add admin", 0},
    {"admin_add boss@a.test domain=a.test", 0},
    {"admin_passwd admin", 0},
    {"admin_add tmp", 0},
    {"admin_del tmp", 0},
    {"admin_del admin", MN_ECONFLICT}, /* last system administrator */
    {"admin_add root", 0},
    {"admin_del admin", 0},
    {"admin_del boss@a.test", 0},
    {"set cluster.name prod", 0},
    {"set tmp.key x", 0},
    {"set tmp.key", 0},
    {"dkim_set a.test s1 rsa-sha256", 0},
    {"dkim_set a.test s2 ed25519-sha256", 0}, /* replaces */
    {"dkim_set nope.test s1 rsa-sha256", MN_ENOENT},
    {"dkim_set b.test Bad! rsa-sha256", MN_EINVAL},
    {"dkim_set b.test s1 rsa-md5", MN_EINVAL},
    {"dkim_del b.test", MN_ENOENT},
    {"domain_add c.test", 0},
    {"dkim_set c.test s1 rsa-sha256", 0},
    {"domain_del c.test", 0},            /* and its key */
    {"domain_del a.test", MN_ECONFLICT}, /* still has users */
    {"pref user bob@a.test language=zh-CN timezone=Asia/Shanghai", 0},
    {"pref domain a.test sender_block=@spam.test", 0},
    {"pref user bob@a.test language=xx", MN_EINVAL},
    {"contact_set bob@a.test alice@x.test Alice", 0},
    {"contact_del bob@a.test alice@x.test", 0},
    {"contact_del bob@a.test alice@x.test", MN_ENOENT},
    {"noop", MN_EINVAL},
};
#define NSCRIPT (sizeof(script) / sizeof(script[0]))

/* unpack_line - the line packed (time t) and unpacked again; caller frees
 * with mailnode__directory_command__free_unpacked. */
static Mailnode__DirectoryCommand *
unpack_line(const char *line, int64_t t)
{
	size_t len;
	uint8_t *p = dt_pack(line, t, &len);
	Mailnode__DirectoryCommand *c = mailnode__directory_command__unpack(NULL, len, p);

	free(p);
	assert_non_null(c);
	return c;
}

/* --- encoding -------------------------------------------------------------- */

/* The bytes of one command, pinned: field numbers are part of the replicated
 * log's format (a renumbering would make old logs mean something else). */
static void
test_encoding_is_pinned(void **state)
{
	static const uint8_t want[] = {0x08, 0xe8, 0x07, /* time = 1000 */
	    0x12, 0x04, 't', 'e', 's', 't',              /* origin = "test" */
	    0x52, 0x08,                                  /* domain_add (10) */
	    0x0a, 0x06, 'a', '.', 't', 'e', 's', 't'};   /* name = "a.test" */
	size_t len;
	uint8_t *p = dt_pack("domain_add a.test", 1000, &len);

	assert_int_equal(len, sizeof(want));
	assert_memory_equal(p, want, sizeof(want));
	free(p);
}

/* Every command type of the script survives pack -> unpack -> pack
 * byte for byte, with its case and key fields intact. */
static void
test_encoding_every_command_round_trips(void **state)
{
	bool seen[128] = {false};
	size_t ncases = 0;

	for (size_t i = 0; i < NSCRIPT; i++) {
		size_t len;
		uint8_t *p = dt_pack(script[i].line, 1000 + (int64_t)i, &len);
		Mailnode__DirectoryCommand *c = mailnode__directory_command__unpack(NULL, len, p);
		uint8_t *again;

		assert_non_null(c);
		assert_true(c->has_time);
		assert_int_equal(c->time, 1000 + (int64_t)i);
		assert_string_equal(c->origin, "test");
		assert_int_equal(mailnode__directory_command__get_packed_size(c), len);
		again = xmalloc(len ? len : 1);
		assert_int_equal(mailnode__directory_command__pack(c, again), len);
		assert_memory_equal(again, p, len);
		assert_true((unsigned)c->cmd_case < 128);
		if (!seen[c->cmd_case] && c->cmd_case != MAILNODE__DIRECTORY_COMMAND__CMD__NOT_SET)
			ncases++;
		seen[c->cmd_case] = true;
		free(again);
		mailnode__directory_command__free_unpacked(c, NULL);
		free(p);
	}
	/* every member of the oneof (25 in directory.proto), plus the empty one */
	assert_int_equal(ncases, mailnode__directory_command__descriptor.n_fields - 2);
	assert_int_equal(ncases, 25);
	assert_true(seen[MAILNODE__DIRECTORY_COMMAND__CMD__NOT_SET]);

	/* key fields of a few, decoded */
	{
		Mailnode__DirectoryCommand *c =
		    unpack_line("user_add bob@a.test name=Bob node=node1 qb=1000 qm=10 max=500 "
		                "flags=1 exp=2000",
		        7);

		assert_int_equal(c->cmd_case, MAILNODE__DIRECTORY_COMMAND__CMD_USER_ADD);
		assert_string_equal(c->user_add->address, "bob@a.test");
		assert_string_equal(c->user_add->home_node, "node1");
		assert_true(c->user_add->has_quota_bytes);
		assert_int_equal(c->user_add->quota_bytes, 1000);
		assert_int_equal(c->user_add->expires_at, 2000);
		mailnode__directory_command__free_unpacked(c, NULL);
		c = unpack_line("alias_add info@a.test bob@a.test ext@remote.test", 7);
		assert_int_equal(c->alias_add->n_targets, 2);
		assert_string_equal(c->alias_add->targets[1], "ext@remote.test");
		mailnode__directory_command__free_unpacked(c, NULL);
		c = unpack_line("set tmp.key", 7);
		assert_int_equal(c->cmd_case, MAILNODE__DIRECTORY_COMMAND__CMD_SETTING_SET);
		assert_null(c->setting_set->value); /* absent value: delete */
		mailnode__directory_command__free_unpacked(c, NULL);
	}
}

/* --- the fsm alone ---------------------------------------------------------- */

static int
fsm_apply_line(struct dir_fsm *fsm, const char *line, void **result)
{
	struct raft_buffer buf;
	uint8_t *p = dt_pack(line, 1000, &buf.len);
	int rv;

	buf.base = p;
	rv = fsm->raft.apply(&fsm->raft, &buf, result);
	free(p);
	return rv;
}

static void
test_fsm_apply_result_points_into_fsm(void **state)
{
	struct directory *d = dt_open();
	struct dir_fsm fsm;
	struct raft_buffer junk = {.base = (void *)"\xff\xff\xff", .len = 3};
	void *res = (void *)1;

	dir_fsm_init(&fsm, d);
	assert_int_equal(fsm.raft.version, 1);
	assert_ptr_equal(fsm.raft.data, &fsm);

	assert_int_equal(fsm_apply_line(&fsm, "domain_add a.test", &res), 0);
	assert_ptr_equal(res, &fsm.last);
	assert_int_equal(fsm.last.rc, 0);
	assert_string_equal(fsm.last.msg, "");

	/* a refusal is an applied entry, with the reason */
	assert_int_equal(fsm_apply_line(&fsm, "domain_add a.test", &res), 0);
	assert_ptr_equal(res, &fsm.last);
	assert_int_equal(fsm.last.rc, MN_EEXIST);
	assert_string_equal(fsm.last.msg, "domain a.test already exists");

	/* so is an entry that does not decode (every node sees the same bytes) */
	assert_int_equal(fsm.raft.apply(&fsm.raft, &junk, &res), 0);
	assert_int_equal(fsm.last.rc, MN_EPARSE);
	assert_int_equal(fsm.applied, 3);
	assert_int_equal(fsm.refused, 2);
	assert_int_equal(fsm.fatal, 0);

	/* dir_fsm_result_take: the proposer's view */
	{
		struct mn_err err;

		assert_int_equal(dir_fsm_result_take(0, res, &err), MN_EPARSE);
		assert_string_equal(err.msg, "directory command does not unpack");
		fsm.last.rc = 0;
		assert_int_equal(dir_fsm_result_take(0, res, &err), 0);
		assert_string_equal(err.msg, "");
		assert_int_equal(dir_fsm_result_take(0, NULL, &err), MN_ETEMP);
		assert_int_equal(
		    dir_fsm_result_take(RAFT_LEADERSHIPLOST, NULL, &err), MN_ENOLEADER);
		assert_int_equal(dir_fsm_result_take(RAFT_NOTLEADER, NULL, &err), MN_ENOLEADER);
		assert_int_equal(dir_fsm_result_take(RAFT_SHUTDOWN, NULL, &err), MN_ECLOSED);
		assert_int_equal(dir_fsm_result_take(RAFT_IOERR, NULL, NULL), MN_ETEMP);
	}
	dir_fsm_fini(&fsm);
	directory_close(&d);
}

/* A database failure is not a refusal: apply reports RAFT_IOERR, the entry
 * does not count, the directory is unchanged. */
static void
test_fsm_apply_database_failure_is_fatal(void **state)
{
	struct directory *d = dt_open();
	struct dir_fsm fsm;
	void *res = (void *)1;
	char *before, *after;

	dir_fsm_init(&fsm, d);
	assert_int_equal(fsm_apply_line(&fsm, "domain_add a.test", &res), 0);
	before = directory_dump(d);
	assert_int_equal(
	    sqlite3_exec(directory_db(d), "PRAGMA query_only=1", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(fsm_apply_line(&fsm, "domain_add b.test", &res), RAFT_IOERR);
	assert_null(res);
	assert_int_equal(fsm.fatal, MN_EDB);
	assert_int_equal(fsm.applied, 1);
	assert_int_equal(
	    sqlite3_exec(directory_db(d), "PRAGMA query_only=0", NULL, NULL, NULL), SQLITE_OK);
	after = directory_dump(d);
	assert_string_equal(before, after);
	free(before);
	free(after);
	dir_fsm_fini(&fsm);
	directory_close(&d);
}

/* snapshot -> restore into a fresh directory gives the same dump; the
 * buffers are raft_malloc'd (ASan would catch a free() mismatch only with a
 * custom heap, so check ownership: restore frees on success, not on
 * failure). */
static void
test_fsm_snapshot_restore_round_trip(void **state)
{
	struct directory *a = dt_open(), *b = dt_open();
	struct dir_fsm fa, fb;
	struct raft_buffer *bufs = NULL, junk;
	unsigned n = 0;
	char *da, *db, *db2;
	void *res;

	dir_fsm_init(&fa, a);
	dir_fsm_init(&fb, b);
	for (size_t i = 0; i < NSCRIPT; i++)
		assert_int_equal(fsm_apply_line(&fa, script[i].line, &res), 0);
	assert_int_equal(fsm_apply_line(&fb, "domain_add other.test", &res), 0);

	assert_int_equal(fa.raft.snapshot(&fa.raft, &bufs, &n), 0);
	assert_int_equal(n, 1);
	assert_non_null(bufs);
	assert_true(bufs[0].len > 0);
	assert_int_equal(fa.snapshots, 1);

	/* a damaged image is refused; the buffer stays the caller's (raft's) */
	junk.len = bufs[0].len;
	junk.base = raft_malloc(junk.len);
	memcpy(junk.base, bufs[0].base, junk.len);
	memset((uint8_t *)junk.base + 1024, 0xa5, junk.len > 4096 ? 2048 : junk.len - 1024);
	db = directory_dump(b);
	assert_int_equal(fb.raft.restore(&fb.raft, &junk), RAFT_CORRUPT);
	assert_non_null(junk.base);
	assert_int_equal(fb.restores, 0);
	db2 = directory_dump(b);
	assert_string_equal(db, db2);
	free(db);
	free(db2);
	raft_free(junk.base);

	/* the real one replaces b's content and is freed by restore */
	assert_int_equal(fb.raft.restore(&fb.raft, &bufs[0]), 0);
	assert_int_equal(fb.restores, 1);
	raft_free(bufs); /* the array stays raft's, as in snapshotRestore */
	da = directory_dump(a);
	db = directory_dump(b);
	assert_string_equal(da, db);
	assert_non_null(strstr(db, "bob@a.test"));
	assert_null(strstr(db, "other.test"));
	free(da);
	free(db);

	/* the restored directory keeps working as a state machine */
	assert_int_equal(fsm_apply_line(&fb, "user_add zoe@a.test", &res), 0);
	assert_int_equal(fb.last.rc, 0);

	dir_fsm_fini(&fa);
	dir_fsm_fini(&fb);
	directory_close(&a);
	directory_close(&b);
}

/* --- the fixture ------------------------------------------------------------- */

struct cluster {
	struct raft_fixture f;
	struct directory *dir[N];
	struct dir_fsm fsm[N];
	raft_index last_index; /* of the latest committed proposal */
	int64_t clock;         /* command time, advanced per proposal */
	/* every committed proposal, in log order, for the determinism check */
	struct raft_buffer log[MAX_LOG];
	size_t nlog;
};

struct proposal {
	struct raft_apply req;
	bool done;
	int status;
	int rc;
	char msg[MN_ERR_MSG_MAX];
	const struct dir_fsm *watch; /* if set: its applied count at callback time */
	uint64_t applied_at_cb;
};

static void
proposal_cb(struct raft_apply *req, int status, void *result)
{
	struct proposal *p = req->data;
	struct mn_err err;

	assert_false(p->done); /* exactly once */
	p->status = status;
	p->rc = dir_fsm_result_take(status, result, &err);
	memcpy(p->msg, err.msg, sizeof(p->msg));
	if (p->watch)
		p->applied_at_cb = p->watch->applied;
	p->done = true;
}

static bool
proposal_done(struct raft_fixture *f, void *arg)
{
	return ((struct proposal *)arg)->done;
}

/* cluster_alloc - three servers, not started: bootstrap or persisted state
 * is up to the caller */
static struct cluster *
cluster_alloc(unsigned threshold, unsigned trailing)
{
	struct cluster *c = xcalloc(1, sizeof(*c));

	assert_int_equal(raft_fixture_initialize(&c->f), 0);
	for (unsigned i = 0; i < N; i++) {
		struct raft *r;

		c->dir[i] = dt_open();
		dir_fsm_init(&c->fsm[i], c->dir[i]);
		assert_int_equal(raft_fixture_grow(&c->f, &c->fsm[i].raft), 0);
		r = raft_fixture_get(&c->f, i);
		raft_set_snapshot_threshold(r, threshold);
		raft_set_snapshot_trailing(r, trailing);
	}
	c->clock = 1000;
	return c;
}

/* cluster_start - start every server and elect server 0 */
static void
cluster_start(struct cluster *c)
{
	assert_int_equal(raft_fixture_start(&c->f), 0);
	raft_fixture_elect(&c->f, 0);
	assert_int_equal(raft_fixture_leader_index(&c->f), 0);
}

/* cluster_new - a freshly bootstrapped cluster led by server 0 */
static struct cluster *
cluster_new(unsigned threshold, unsigned trailing)
{
	struct cluster *c = cluster_alloc(threshold, trailing);
	struct raft_configuration conf;

	assert_int_equal(raft_fixture_configuration(&c->f, N, &conf), 0);
	assert_int_equal(raft_fixture_bootstrap(&c->f, &conf), 0);
	raft_configuration_close(&conf);
	cluster_start(c);
	return c;
}

static void
cluster_free(struct cluster *c)
{
	raft_fixture_close(&c->f);
	for (unsigned i = 0; i < N; i++) {
		dir_fsm_fini(&c->fsm[i]);
		directory_close(&c->dir[i]);
	}
	for (size_t i = 0; i < c->nlog; i++)
		free(c->log[i].base);
	free(c);
}

/* cluster_leader - the live server in leader state with the highest term,
 * or N. (raft_fixture_leader_index also wants every connected server to
 * have acknowledged the leader, and still names a killed leader.) */
static unsigned
cluster_leader(struct cluster *c)
{
	unsigned best = N;

	for (unsigned i = 0; i < N; i++) {
		struct raft *r = raft_fixture_get(&c->f, i);

		if (!raft_fixture_alive(&c->f, i) || raft_state(r) != RAFT_LEADER)
			continue;
		if (best == N || r->current_term > raft_fixture_get(&c->f, best)->current_term)
			best = i;
	}
	return best;
}

/* cluster_wait - step until p's callback has fired */
static void
cluster_wait(struct cluster *c, struct proposal *p)
{
	assert_true(raft_fixture_step_until(&c->f, proposal_done, p, WAIT_MS));
}

/* cluster_commit - p (whose entry is data/len) was accepted: record it */
static int
cluster_commit(struct cluster *c, struct proposal *p, const void *data, size_t len, char *msg_out)
{
	cluster_wait(c, p);
	assert_int_equal(p->status, 0);
	assert_true(p->req.index > c->last_index);
	c->last_index = p->req.index;
	assert_true(c->nlog < MAX_LOG);
	c->log[c->nlog].base = xmemdup(data, len ? len : 1);
	c->log[c->nlog].len = len;
	c->nlog++;
	if (msg_out)
		memcpy(msg_out, p->msg, MN_ERR_MSG_MAX);
	return p->rc;
}

/* cluster_propose - propose line through the current leader with
 * dir_fsm_propose, wait for the callback; the result code. */
static int
cluster_propose(struct cluster *c, const char *line, char *msg_out)
{
	unsigned l = cluster_leader(c);
	Mailnode__DirectoryCommand *cmd;
	struct proposal p = {0};
	struct mn_err err;
	size_t len;
	uint8_t *packed;
	int rc;

	assert_true(l < N);
	cmd = unpack_line(line, c->clock++);
	p.req.data = &p;
	assert_int_equal(
	    dir_fsm_propose(raft_fixture_get(&c->f, l), &p.req, cmd, proposal_cb, &err), 0);
	len = mailnode__directory_command__get_packed_size(cmd);
	packed = xmalloc(len ? len : 1);
	mailnode__directory_command__pack(cmd, packed);
	mailnode__directory_command__free_unpacked(cmd, NULL);
	rc = cluster_commit(c, &p, packed, len, msg_out);
	free(packed);
	return rc;
}

/* cluster_propose_raw - propose bytes as they are (raft_apply directly) */
static int
cluster_propose_raw(struct cluster *c, const void *data, size_t len)
{
	unsigned l = cluster_leader(c);
	struct proposal p = {0};
	struct raft_buffer buf;

	assert_true(l < N);
	buf.base = raft_malloc(len);
	memcpy(buf.base, data, len);
	buf.len = len;
	p.req.data = &p;
	assert_int_equal(raft_apply(raft_fixture_get(&c->f, l), &p.req, &buf, 1, proposal_cb), 0);
	return cluster_commit(c, &p, data, len, NULL);
}

/* cluster_sync - step until every server in mask has applied last_index */
static void
cluster_sync(struct cluster *c, unsigned mask)
{
	for (unsigned i = 0; i < N; i++)
		if (mask & (1u << i))
			assert_true(
			    raft_fixture_step_until_applied(&c->f, i, c->last_index, WAIT_MS));
}

/* assert_same_dumps - the directories of every server in mask are
 * byte-identical; returns one dump (caller frees). */
static char *
assert_same_dumps(struct cluster *c, unsigned mask)
{
	char *first = NULL;

	for (unsigned i = 0; i < N; i++) {
		char *d;

		if (!(mask & (1u << i)))
			continue;
		d = directory_dump(c->dir[i]);
		assert_non_null(d);
		if (first == NULL) {
			first = d;
			continue;
		}
		assert_string_equal(first, d);
		free(d);
	}
	return first;
}

#define ALL 7u

/* leader_other - a live server other than *arg is leader */
static bool
leader_other(struct raft_fixture *f, void *arg)
{
	unsigned old = *(unsigned *)arg;

	for (unsigned i = 0; i < N; i++) {
		struct raft *r = raft_fixture_get(f, i);

		if (i != old && raft_fixture_alive(f, i) && raft_state(r) == RAFT_LEADER)
			return true;
	}
	return false;
}

/* replay - apply the recorded log to a fresh directory through a fresh
 * dir_fsm; its dump (caller frees). */
static char *
replay(const struct cluster *c)
{
	struct directory *d = dt_open();
	struct dir_fsm fsm;
	char *dump;

	dir_fsm_init(&fsm, d);
	for (size_t i = 0; i < c->nlog; i++) {
		void *res = NULL;

		assert_int_equal(fsm.raft.apply(&fsm.raft, &c->log[i], &res), 0);
		assert_ptr_equal(res, &fsm.last);
	}
	assert_int_equal(fsm.applied, c->nlog);
	dump = directory_dump(d);
	dir_fsm_fini(&fsm);
	directory_close(&d);
	return dump;
}

static void
test_cluster_every_command_replicated(void **state)
{
	struct cluster *c = cluster_new(1024, 128);
	char msg[MN_ERR_MSG_MAX];
	size_t refused = 0;
	char *dump, *r1, *r2;

	for (size_t i = 0; i < NSCRIPT; i++) {
		int rc = cluster_propose(c, script[i].line, msg);

		if (rc != script[i].rc)
			fail_msg(
			    "\"%s\": got %d (%s), want %d", script[i].line, rc, msg, script[i].rc);
		if (rc != 0) {
			assert_true(msg[0] != '\0');
			refused++;
		}
		if (strcmp(script[i].line, "user_add BOB@a.test") == 0)
			assert_string_equal(msg, "user bob@a.test already exists");
	}
	/* bytes that are no DirectoryCommand: refused, on every node alike */
	assert_int_equal(cluster_propose_raw(c, "\xff\xff\xff", 3), MN_EPARSE);
	refused++;

	cluster_sync(c, ALL);
	dump = assert_same_dumps(c, ALL);
	assert_non_null(strstr(dump, "\"bob@a.test\""));
	assert_non_null(strstr(dump, "\"Robert\""));
	assert_non_null(strstr(dump, "\"prod\""));
	assert_null(strstr(dump, "dave@b.test"));
	for (unsigned i = 0; i < N; i++) {
		/* every server applied every entry and refused the same ones */
		assert_int_equal(c->fsm[i].applied, NSCRIPT + 1);
		assert_int_equal(c->fsm[i].refused, refused);
		assert_int_equal(c->fsm[i].last.rc, MN_EPARSE);
		assert_int_equal(c->fsm[i].restores, 0);
		assert_int_equal(c->fsm[i].fatal, 0);
		assert_int_equal(raft_last_applied(raft_fixture_get(&c->f, i)), c->last_index);
	}

	/* determinism: the same log applied twice gives byte-identical dumps,
	 * identical to the replicas' */
	r1 = replay(c);
	r2 = replay(c);
	assert_string_equal(r1, r2);
	assert_string_equal(r1, dump);
	free(r1);
	free(r2);
	free(dump);
	cluster_free(c);
}

/* Many proposals in flight at once: the leader applies them in one go, and
 * each callback still sees its own entry's result (raft calls it right
 * after that entry's apply, before the next overwrites fsm->last). */
static void
test_cluster_batched_proposals_get_their_own_results(void **state)
{
	static const struct script_step batch[] = {
	    {"domain_add a.test", 0},
	    {"domain_add a.test", MN_EEXIST},
	    {"user_add bob@a.test", 0},
	    {"user_add bob@a.test", MN_EEXIST},
	    {"user_del nobody@a.test", MN_ENOENT},
	    {"member_add staff@a.test bob@a.test", MN_ENOENT},
	    {"group_add staff@a.test", 0},
	    {"member_add staff@a.test bob@a.test", 0},
	    {"member_add staff@a.test staff@a.test", MN_ECONFLICT},
	    {"node_add n1 bad/addr", MN_EINVAL},
	    {"set cluster.name x", 0},
	};
	enum { NB = sizeof(batch) / sizeof(batch[0]) };
	struct cluster *c = cluster_new(1024, 128);
	struct proposal p[NB];
	struct mn_err err;
	char *dump;

	memset(p, 0, sizeof(p));
	for (size_t i = 0; i < NB; i++) {
		Mailnode__DirectoryCommand *cmd = unpack_line(batch[i].line, c->clock++);

		p[i].req.data = &p[i];
		p[i].watch = &c->fsm[0];
		assert_int_equal(
		    dir_fsm_propose(raft_fixture_get(&c->f, 0), &p[i].req, cmd, proposal_cb, &err),
		    0);
		mailnode__directory_command__free_unpacked(cmd, NULL);
	}
	cluster_wait(c, &p[NB - 1]);
	for (size_t i = 0; i < NB; i++) {
		assert_true(p[i].done);
		assert_int_equal(p[i].status, 0);
		if (p[i].rc != batch[i].rc)
			fail_msg("\"%s\": got %d (%s), want %d", batch[i].line, p[i].rc, p[i].msg,
			    batch[i].rc);
		/* called right after its own apply, not after a later one */
		assert_int_equal(p[i].applied_at_cb, i + 1);
		if (i > 0)
			assert_int_equal(p[i].req.index, p[i - 1].req.index + 1);
	}
	c->last_index = p[NB - 1].req.index;
	cluster_sync(c, ALL);
	dump = assert_same_dumps(c, ALL);
	assert_non_null(strstr(dump, "\"staff@a.test\""));
	free(dump);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(c->fsm[i].refused, 6);
	cluster_free(c);
}

/* Server 2 is cut off (its links saturated both ways) while the others go
 * on and compact their logs past what it has; once healed it cannot get
 * entries any more and must install a snapshot. */
static void
test_cluster_lagging_server_catches_up_by_snapshot(void **state)
{
	struct cluster *c = cluster_new(8, 2);
	char name[64];
	raft_index cut_at;
	char *dump;

	for (size_t i = 0; i < 12; i++)
		assert_int_equal(cluster_propose(c, script[i].line, NULL), script[i].rc);
	cluster_sync(c, ALL);
	assert_int_equal(c->fsm[2].restores, 0);
	cut_at = raft_last_applied(raft_fixture_get(&c->f, 2));

	for (unsigned i = 0; i < 2; i++) {
		raft_fixture_saturate(&c->f, i, 2);
		raft_fixture_saturate(&c->f, 2, i);
	}
	for (unsigned i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "domain_add d%u.test", i);
		assert_int_equal(cluster_propose(c, name, NULL), 0);
	}
	cluster_sync(c, 3u);
	/* the majority compacted; the cut-off server saw none of it */
	assert_true(c->fsm[0].snapshots >= 1);
	assert_true(c->fsm[1].snapshots >= 1);
	assert_true(raft_fixture_get(&c->f, 0)->log.offset > cut_at);
	assert_int_equal(raft_last_applied(raft_fixture_get(&c->f, 2)), cut_at);

	for (unsigned i = 0; i < 2; i++) {
		raft_fixture_desaturate(&c->f, i, 2);
		raft_fixture_desaturate(&c->f, 2, i);
	}
	/* whoever leads after the heal, server 2 is brought up to date */
	assert_true(raft_fixture_step_until_has_leader(&c->f, WAIT_MS));
	cluster_sync(c, ALL);
	assert_true(c->fsm[2].restores >= 1);
	assert_int_equal(c->fsm[0].restores, 0);
	dump = assert_same_dumps(c, ALL);
	assert_non_null(strstr(dump, "d39.test"));
	free(dump);

	/* and it goes on applying entries after the snapshot */
	assert_int_equal(cluster_propose(c, "user_add late@a.test", NULL), 0);
	cluster_sync(c, ALL);
	dump = assert_same_dumps(c, ALL);
	assert_non_null(strstr(dump, "late@a.test"));
	free(dump);

	/* the snapshot-installed replica equals a replay of the whole log */
	{
		char *r = replay(c);
		char *d2 = directory_dump(c->dir[2]);

		assert_string_equal(r, d2);
		free(r);
		free(d2);
	}
	cluster_free(c);
}

/* The leader dies: the other two elect a new one and writes go on; the old
 * leader, revived, catches up. */
static void
test_cluster_leader_killed_writes_continue(void **state)
{
	struct cluster *c = cluster_new(16, 4);
	unsigned leader;
	char *dump;

	for (size_t i = 0; i < 20; i++)
		assert_int_equal(cluster_propose(c, script[i].line, NULL), script[i].rc);
	cluster_sync(c, ALL);

	raft_fixture_kill(&c->f, 0);
	/* the fixture still reports the dead leader until another wins */
	leader = 0;
	assert_true(raft_fixture_step_until(&c->f, leader_other, &leader, WAIT_MS));
	leader = cluster_leader(c);
	assert_true(leader == 1 || leader == 2);
	for (size_t i = 20; i < NSCRIPT; i++)
		assert_int_equal(cluster_propose(c, script[i].line, NULL), script[i].rc);
	cluster_sync(c, 6u);
	dump = assert_same_dumps(c, 6u);
	assert_non_null(strstr(dump, "\"prod\""));
	free(dump);
	assert_true(raft_last_applied(raft_fixture_get(&c->f, 0)) < c->last_index);

	raft_fixture_revive(&c->f, 0);
	cluster_sync(c, ALL);
	dump = assert_same_dumps(c, ALL);
	{
		char *r = replay(c);

		assert_string_equal(r, dump);
		free(r);
	}
	free(dump);
	cluster_free(c);
}

/* A leader that cannot reach anyone loses office before its entry commits:
 * the proposer hears MN_ENOLEADER (and here the entry is never applied).
 * A follower refuses proposals at once; raft_close calls back pending
 * ones. */
static void
test_cluster_leadership_lost_fails_the_proposal(void **state)
{
	struct cluster *c = cluster_new(1024, 128);
	Mailnode__DirectoryCommand *cmd;
	struct proposal p = {0};
	struct mn_err err;
	char *dump;

	assert_int_equal(cluster_propose(c, "domain_add a.test", NULL), 0);
	cluster_sync(c, ALL);
	raft_fixture_saturate(&c->f, 0, 1);
	raft_fixture_saturate(&c->f, 0, 2);

	cmd = unpack_line("domain_add lost.test", c->clock++);
	p.req.data = &p;
	assert_int_equal(
	    dir_fsm_propose(raft_fixture_get(&c->f, 0), &p.req, cmd, proposal_cb, &err), 0);
	mailnode__directory_command__free_unpacked(cmd, NULL);
	cluster_wait(c, &p);
	/* 0 hears no acknowledgement and steps down (check quorum) */
	assert_int_equal(p.status, RAFT_LEADERSHIPLOST);
	assert_int_equal(p.rc, MN_ENOLEADER);
	assert_int_not_equal(raft_state(raft_fixture_get(&c->f, 0)), RAFT_LEADER);

	/* The entry is still in server 0's log: had 0 won the next election
	 * it would have committed after all (MN_ENOLEADER means "unknown").
	 * Here 1 or 2 wins while 0 is still unheard and commits its own entry
	 * at that index, which replaces 0's when the link heals. */
	{
		unsigned old = 0;

		assert_true(raft_fixture_step_until(&c->f, leader_other, &old, WAIT_MS));
	}
	assert_int_equal(cluster_propose(c, "domain_add b.test", NULL), 0);
	raft_fixture_desaturate(&c->f, 0, 1);
	raft_fixture_desaturate(&c->f, 0, 2);
	cluster_sync(c, ALL);
	dump = assert_same_dumps(c, ALL);
	assert_null(strstr(dump, "lost.test"));
	assert_non_null(strstr(dump, "b.test"));
	free(dump);

	/* not the leader: refused at once, nothing leaks */
	{
		unsigned f = (cluster_leader(c) + 1) % N;
		struct proposal q = {0};

		cmd = unpack_line("domain_add never.test", 1);
		q.req.data = &q;
		assert_int_equal(
		    dir_fsm_propose(raft_fixture_get(&c->f, f), &q.req, cmd, proposal_cb, &err),
		    MN_ENOLEADER);
		mailnode__directory_command__free_unpacked(cmd, NULL);
		assert_false(q.done);
	}

	/* closing raft with a proposal in flight still calls back, once */
	{
		struct proposal q = {0};

		cmd = unpack_line("domain_add closing.test", 1);
		q.req.data = &q;
		assert_int_equal(dir_fsm_propose(raft_fixture_get(&c->f, cluster_leader(c)), &q.req,
		                     cmd, proposal_cb, &err),
		    0);
		mailnode__directory_command__free_unpacked(cmd, NULL);
		cluster_free(c);
		/* libraft 0.15 says "leadership lost", not RAFT_SHUTDOWN */
		assert_true(q.done);
		assert_int_equal(q.status, RAFT_LEADERSHIPLOST);
		assert_int_equal(q.rc, MN_ENOLEADER);
	}
}

/* A follower whose database fails stops (RAFT_UNAVAILABLE) rather than
 * skip the entry; the other two keep the cluster writable. */
static void
test_cluster_database_failure_stops_the_server(void **state)
{
	struct cluster *c = cluster_new(1024, 128);
	char *before, *after, *dump;

	assert_int_equal(cluster_propose(c, "domain_add a.test", NULL), 0);
	cluster_sync(c, ALL);
	before = directory_dump(c->dir[2]);
	assert_int_equal(
	    sqlite3_exec(directory_db(c->dir[2]), "PRAGMA query_only=1", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(cluster_propose(c, "domain_add b.test", NULL), 0);
	assert_true(raft_fixture_step_until_state_is(&c->f, 2, RAFT_UNAVAILABLE, WAIT_MS));
	assert_int_equal(raft_last_applied(raft_fixture_get(&c->f, 2)), c->last_index - 1);
	assert_int_equal(c->fsm[2].fatal, MN_EDB);
	assert_int_equal(c->fsm[2].applied, 1);
	after = directory_dump(c->dir[2]);
	assert_string_equal(before, after);

	assert_int_equal(cluster_propose(c, "domain_add c.test", NULL), 0);
	cluster_sync(c, 3u);
	dump = assert_same_dumps(c, 3u);
	assert_non_null(strstr(dump, "c.test"));
	free(dump);
	free(before);
	free(after);
	cluster_free(c);
}

/* A restart as raft sees it: each server comes up with a persisted snapshot
 * (taken by a dir_fsm) and the log entries after it, over an empty
 * directory. raft restores the snapshot at start, then re-applies the
 * tail once a new-term entry commits it; every server ends with the
 * directory a replay of the whole log gives. */
static void
test_cluster_restart_restores_snapshot_and_replays_log(void **state)
{
	struct cluster *c = cluster_alloc(1024, 128);
	struct directory *src = dt_open();
	struct dir_fsm sfsm;
	const size_t k = 20;                 /* commands inside the snapshot */
	const raft_index snap_index = k + 1; /* entry 1 was the bootstrap configuration */
	char *dump;

	dir_fsm_init(&sfsm, src);
	for (size_t i = 0; i < NSCRIPT; i++) {
		size_t len;
		uint8_t *p = dt_pack(script[i].line, c->clock++, &len);
		void *res;
		struct raft_buffer b = {.base = p, .len = len};

		assert_true(c->nlog < MAX_LOG);
		c->log[c->nlog++] = b; /* the whole log, for the replay below */
		if (i < k)
			assert_int_equal(sfsm.raft.apply(&sfsm.raft, &b, &res), 0);
	}

	for (unsigned s = 0; s < N; s++) {
		/* the fixture's in-memory disk owns all of this from here */
		struct raft_snapshot *snap = raft_calloc(1, sizeof(*snap));

		assert_non_null(snap);
		snap->index = snap_index;
		snap->term = 1;
		assert_int_equal(raft_fixture_configuration(&c->f, N, &snap->configuration), 0);
		snap->configuration_index = 1;
		assert_int_equal(sfsm.raft.snapshot(&sfsm.raft, &snap->bufs, &snap->n_bufs), 0);
		raft_fixture_set_snapshot(&c->f, s, snap);
		raft_fixture_set_term(&c->f, s, 1);
		for (size_t i = k; i < NSCRIPT; i++) {
			struct raft_entry e = {.term = 1, .type = RAFT_COMMAND};

			e.buf.len = c->log[i].len;
			e.buf.base = raft_malloc(e.buf.len);
			memcpy(e.buf.base, c->log[i].base, e.buf.len);
			raft_fixture_add_entry(&c->f, s, &e);
		}
	}
	c->last_index = snap_index + (NSCRIPT - k);

	cluster_start(c);
	/* restored at start, before anything else was applied */
	for (unsigned s = 0; s < N; s++) {
		assert_int_equal(c->fsm[s].restores, 1);
		assert_int_equal(raft_last_applied(raft_fixture_get(&c->f, s)), snap_index);
	}
	dump = assert_same_dumps(c, ALL);
	{
		char *want = directory_dump(src);

		assert_string_equal(dump, want);
		free(want);
	}
	free(dump);

	/* entries of the old term commit with the first one of the new term */
	assert_int_equal(cluster_propose(c, "domain_add after.test", NULL), 0);
	assert_int_equal(c->last_index, snap_index + (NSCRIPT - k) + 1);
	cluster_sync(c, ALL);
	for (unsigned s = 0; s < N; s++) {
		assert_int_equal(c->fsm[s].applied, NSCRIPT - k + 1);
		assert_int_equal(c->fsm[s].fatal, 0);
	}
	dump = assert_same_dumps(c, ALL);
	assert_non_null(strstr(dump, "after.test"));
	assert_non_null(strstr(dump, "\"prod\""));
	{
		char *r = replay(c);

		assert_string_equal(r, dump);
		free(r);
	}
	free(dump);
	dir_fsm_fini(&sfsm);
	directory_close(&src);
	cluster_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encoding_is_pinned),
	    cmocka_unit_test(test_encoding_every_command_round_trips),
	    cmocka_unit_test(test_fsm_apply_result_points_into_fsm),
	    cmocka_unit_test(test_fsm_apply_database_failure_is_fatal),
	    cmocka_unit_test(test_fsm_snapshot_restore_round_trip),
	    cmocka_unit_test(test_cluster_every_command_replicated),
	    cmocka_unit_test(test_cluster_batched_proposals_get_their_own_results),
	    cmocka_unit_test(test_cluster_lagging_server_catches_up_by_snapshot),
	    cmocka_unit_test(test_cluster_leader_killed_writes_continue),
	    cmocka_unit_test(test_cluster_leadership_lost_fails_the_proposal),
	    cmocka_unit_test(test_cluster_database_failure_stops_the_server),
	    cmocka_unit_test(test_cluster_restart_restores_snapshot_and_replays_log),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
