/*
 * test_recover.c - the mail store's crash safety: mailstore_recover() on a
 * hand-damaged store, and kill -9 of a process delivering in a loop at
 * random moments (seeded; the seed is printed, MN_TEST_SEED replays one),
 * after which every acknowledged message must be there, every index row's
 * body must exist and no unreferenced body may remain.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "storage/mailstore/mailstore_int.h"
#include "tests/unit/storage/mailstore/ms_test_util.h"

#define U1 "alice@example.test"
#define U2 "bob@example.test"

static const char MSG1[] = "Subject: one\r\n\r\nbody one\r\n";
static const char MSG2[] = "Subject: two\r\n\r\nbody two\r\n";

static void
bodies_exec(const char *root, const char *sql)
{
	char *p = xasprintf("%s/bodies.db", root);
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	free(p);
}

static void
hash_hex(const char *msg, char hex[65])
{
	unsigned char md[32];
	unsigned int len = 0;

	EVP_Digest(msg, strlen(msg), md, &len, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
deliver1(struct mailstore *ms, const char *user, const char *msg)
{
	struct mailstore_deliver_result r;
	struct mn_err err;

	assert_int_equal(
	    mailstore_deliver(ms, &user, 1, msg, strlen(msg), 1, NULL, NULL, &r, &err), 0);
	assert_int_equal(r.rc, 0);
}

static void
test_recover_fixes_refs_orphans_and_temps(void **state)
{
	char *root = ms_test_mkroot(), *p, hash1[65] = {0}, hash2[65] = {0};
	struct mailstore_recover_stats st;
	struct mailstore *ms = ms_test_open(root);
	struct mn_err err;
	struct buf b;

	deliver1(ms, U1, MSG1);
	deliver1(ms, U2, MSG2);
	mailstore_close(&ms);
	hash_hex(MSG1, hash1);
	hash_hex(MSG2, hash2);
	/* damage: a count too high, a row without references, a referenced
	 * body without a row, an orphan file, temp leftovers */
	p = xasprintf("UPDATE bodies SET refs = 7 WHERE hash = '%s';"
	              "DELETE FROM bodies WHERE hash = '%s';"
	              "INSERT INTO bodies VALUES('%064d', 3, 2);",
	    hash1, hash2, 0);
	bodies_exec(root, p);
	free(p);
	p = xasprintf("%s/bodies/ab", root);
	mkdir(p, 0700);
	free(p);
	p = xasprintf("%s/bodies/ab/ab%062d", root, 0);
	write_file(p, "orphan");
	free(p);
	p = xasprintf("%s/tmp/body.123.x", root);
	write_file(p, "half a body");
	free(p);
	p = xasprintf("%s/tmp/import.123.x", root);
	mkdir(p, 0700);
	free(p);
	p = xasprintf("%s/tmp/import.123.x/index.db", root);
	write_file(p, "not really");
	free(p);

	ms = ms_test_open(root);
	assert_int_equal(mailstore_recover(ms, &st, &err), 0);
	assert_int_equal(st.users, 2);
	assert_int_equal(st.bodies, 2);
	assert_int_equal(st.refs_fixed, 3);
	assert_int_equal(st.orphans_removed, 1);
	assert_int_equal(st.temps_removed, 2);
	assert_int_equal(st.dangling, 0);
	assert_int_equal(ms_test_count_files(root, "bodies"), 2);
	assert_int_equal(ms_test_count_files(root, "tmp"), 0);
	assert_int_equal(ms_test_bodies_q(root, "SELECT COUNT(*) FROM bodies"), 2);
	assert_int_equal(ms_test_bodies_q(root, "SELECT MAX(refs) FROM bodies"), 1);
	/* a second pass finds nothing to do */
	assert_int_equal(mailstore_recover(ms, &st, &err), 0);
	assert_int_equal(st.refs_fixed + st.orphans_removed + st.temps_removed + st.dangling, 0);

	/* a lost body (not a crash's doing) is reported, not dropped, and a
	 * new copy of the same bytes heals it */
	p = xasprintf("%s/bodies/%.2s/%s", root, hash2, hash2);
	assert_int_equal(unlink(p), 0);
	free(p);
	assert_int_equal(mailstore_recover(ms, &st, &err), 0);
	assert_int_equal(st.dangling, 1);
	buf_init(&b, 0);
	assert_int_equal(mailstore_body_read(ms, U2, "INBOX", 1, 0, 100, &b, &err), MN_EIO);
	deliver1(ms, U1, MSG2);
	assert_int_equal(mailstore_body_read(ms, U2, "INBOX", 1, 0, 100, &b, &err), 0);
	assert_int_equal(b.len, strlen(MSG2));
	buf_fini(&b);
	assert_int_equal(mailstore_recover(ms, &st, &err), 0);
	assert_int_equal(st.dangling, 0);
	assert_int_equal(ms_test_bodies_q(root, "SELECT SUM(refs) FROM bodies"), 3);
	mailstore_close(&ms);
	ms_test_rmroot(root);
}

/* --- kill -9 ------------------------------------------------------------------- */

#define CRASH_USERS 4
#define CRASH_ITERATIONS 20
#define IMP "imported@example.test"

static const char *const crash_users[CRASH_USERS] = {
    "c0@example.test", "c1@example.test", "c2@example.test", "c3@other.test"};

struct ack {
	uint32_t user;
	uint32_t uid;
};

static uint64_t
rnd(uint64_t *s)
{
	/* xorshift64*: small, seedable, the same on every machine */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static int
buf_write_cb(void *arg, const void *data, size_t len)
{
	return buf_append(arg, data, len);
}

struct reader {
	const uint8_t *data;
	size_t len, pos;
};

static ssize_t
reader_cb(void *arg, void *out, size_t len)
{
	struct reader *r = arg;
	size_t k = r->len - r->pos < len ? r->len - r->pos : len;

	memcpy(out, r->data + r->pos, k);
	r->pos += k;
	return (ssize_t)k;
}

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if ((x) != 0) {                                                                    \
			fprintf(stderr, "child: %s failed: %s\n", #x, err.msg);                    \
			_exit(3);                                                                  \
		}                                                                                  \
	} while (0)

/* The victim: store mail and acknowledge each stored copy on fd. INBOX
 * messages are never removed, so every acknowledged one must survive. */
static void __attribute__((noreturn)) child_loop(const char *root, uint64_t seed, int fd)
{
	struct mailstore *ms = NULL;
	struct mn_err err;

	mn_err_clear(&err);
	CHECK(mailstore_open(root, &ms, &err));
	for (uint64_t n = 0;; n++) {
		uint64_t op = rnd(&seed) % 12;
		const char *u = crash_users[rnd(&seed) % CRASH_USERS];

		if (op < 7) {
			const char *to[CRASH_USERS];
			struct mailstore_deliver_result res[CRASH_USERS];
			uint32_t idx[CRASH_USERS];
			size_t k = 0;
			/* few distinct bodies: new ones and shared ones */
			char *msg = xasprintf("Subject: %llu\r\n\r\n%0*d\r\n",
			    (unsigned long long)(rnd(&seed) % 8), (int)(rnd(&seed) % 5000), 0);

			for (uint32_t i = 0; i < CRASH_USERS; i++) {
				if (k == 0 || rnd(&seed) % 2) {
					idx[k] = i;
					to[k++] = crash_users[i];
				}
			}
			CHECK(mailstore_deliver(
			    ms, to, k, msg, strlen(msg), (int64_t)n, NULL, NULL, res, &err));
			for (size_t i = 0; i < k; i++) {
				struct ack a = {idx[i], res[i].uid};

				if (res[i].rc != 0)
					_exit(4);
				if (write(fd, &a, sizeof(a)) != sizeof(a))
					_exit(5);
			}
			free(msg);
		} else if (op < 9) {
			struct mailstore_folder_info fi;

			CHECK(mailstore_folder_status(ms, u, "INBOX", &fi, &err));
			CHECK(mailstore_copy(ms, u, "INBOX",
			    (uint32_t[]){fi.uidnext - 1, fi.uidnext - 2}, 2, "Trash", NULL, NULL,
			    &err));
			CHECK(mailstore_flags_store(ms, u, "Trash", (uint32_t[]){1, 2, 3, 4, 5}, 5,
			    MAILSTORE_FLAGS_ADD, MAILSTORE_SEEN, (const char *[]){"kw"}, 1, 0, NULL,
			    NULL, NULL, &err));
			mailstore_folder_info_fini(&fi);
		} else if (op < 10) {
			CHECK(mailstore_expunge(ms, u, "Trash", NULL, 0, false, NULL, NULL, &err));
		} else if (op < 11) {
			/* may exist: an earlier child died before deleting it */
			int rc = mailstore_folder_create(ms, u, "Tmp/Sub", NULL, &err);

			CHECK(rc == MN_EEXIST ? 0 : rc);
			CHECK(mailstore_copy(ms, u, "Trash", (uint32_t[]){1, 2, 3, 4, 5, 6, 7, 8},
			    8, "Tmp/Sub", NULL, NULL, &err));
			CHECK(mailstore_move(
			    ms, u, "Tmp/Sub", (uint32_t[]){1, 2}, 2, "Junk", NULL, &err));
			CHECK(mailstore_folder_delete(ms, u, "Tmp/Sub", &err));
			CHECK(mailstore_folder_delete(ms, u, "Tmp", &err));
		} else if (!mailstore_user_exists(ms, u)) {
			continue; /* nothing to export yet */
		} else if (mailstore_user_exists(ms, IMP)) {
			CHECK(mailstore_user_delete(ms, IMP, &err));
		} else {
			struct buf b;
			struct reader r;

			buf_init(&b, 0);
			CHECK(mailstore_export(ms, u, buf_write_cb, &b, &err));
			r = (struct reader){b.data, b.len, 0};
			CHECK(mailstore_import(ms, IMP, reader_cb, &r, &err));
			buf_fini(&b);
		}
	}
}

/* Everything below ROOT/users must be backed by bodies, and the reverse. */
static void
check_store(const char *root, const struct ack *acks, size_t nacks)
{
	struct mailstore_recover_stats st;
	struct mailstore *ms = ms_test_open(root);
	struct mn_err err;
	uint64_t rows = 0;

	assert_int_equal(mailstore_recover(ms, &st, &err), 0);
	assert_int_equal(st.dangling, 0);
	/* a second pass must find it exact */
	assert_int_equal(mailstore_recover(ms, &st, &err), 0);
	assert_int_equal(st.refs_fixed, 0);
	assert_int_equal(st.orphans_removed, 0);
	assert_int_equal(st.temps_removed, 0);
	assert_int_equal(st.dangling, 0);
	assert_int_equal(ms_test_count_files(root, "bodies"), st.bodies);
	assert_int_equal(ms_test_count_files(root, "tmp"), 0);

	for (size_t i = 0; i < CRASH_USERS + 1; i++) {
		const char *u = i < CRASH_USERS ? crash_users[i] : IMP;
		struct mailstore_folder_info *fl = NULL;
		size_t nf = 0;

		if (!mailstore_user_exists(ms, u))
			continue;
		assert_int_equal(mailstore_folder_list(ms, u, &fl, &nf, &err), 0);
		for (size_t f = 0; f < nf; f++) {
			struct mailstore_msg *m = NULL;
			size_t nm = 0;

			assert_int_equal(
			    mailstore_msg_list(ms, u, fl[f].name, 0, &m, &nm, &err), 0);
			for (size_t k = 0; k < nm; k++) {
				int fd;
				uint64_t size;

				assert_int_equal(mailstore_body_open(
				                     ms, u, fl[f].name, m[k].uid, &fd, &size, &err),
				    0);
				assert_true(size == m[k].size);
				close(fd);
				assert_true(m[k].uid < fl[f].uidnext);
				assert_true(m[k].modseq <= fl[f].highestmodseq);
			}
			if (strcmp(fl[f].name, "INBOX") == 0 && i < CRASH_USERS) {
				/* every acknowledged delivery is there */
				for (size_t a = 0; a < nacks; a++) {
					bool found = false;

					if (acks[a].user != i)
						continue;
					for (size_t k = 0; k < nm && !found; k++)
						found = m[k].uid == acks[a].uid;
					if (!found)
						fprintf(stderr, "lost: user %u uid %u\n",
						    acks[a].user, acks[a].uid);
					assert_true(found);
				}
			}
			rows += nm;
			mailstore_msg_list_free(&m, nm);
		}
		mailstore_folder_list_free(&fl, nf);
	}
	assert_int_equal(ms_test_bodies_q(root, "SELECT COALESCE(SUM(refs), 0)"
	                                        " FROM bodies"),
	    rows);
	mailstore_close(&ms);
}

static void
test_kill9_at_random_moments(void **state)
{
	char *root = ms_test_mkroot();
	const char *env = getenv("MN_TEST_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
	struct ack *acks = NULL;
	size_t nacks = 0, cap = 0;
	struct mailstore *ms = ms_test_open(root);

	mailstore_close(&ms);
	fprintf(stderr,
	    "test_kill9_at_random_moments: seed=%llu"
	    " (MN_TEST_SEED replays)\n",
	    (unsigned long long)seed);
	if (seed == 0)
		seed = 1;
	for (int it = 0; it < CRASH_ITERATIONS; it++) {
		uint64_t s = seed + (uint64_t)it * 7919;
		uint64_t want = 1 + rnd(&s) % 60, spin = rnd(&s) % 2000000;
		size_t got = 0;
		int p[2], status;
		pid_t pid;

		assert_int_equal(pipe(p), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			child_loop(root, s ^ 0x9e3779b97f4a7c15ULL, p[1]);
		}
		close(p[1]);
		for (;;) {
			struct ack a;
			ssize_t r = read(p[0], &a, sizeof(a));

			if (r < 0 && errno == EINTR)
				continue;
			if (r != sizeof(a))
				break; /* the child died on its own: fails below */
			if (nacks == cap) {
				cap = cap ? cap * 2 : 256;
				acks = xrealloc(acks, cap * sizeof(*acks));
			}
			acks[nacks++] = a;
			if (++got >= want)
				break;
		}
		/* land the kill somewhere inside the next operation */
		for (volatile uint64_t i = 0; i < spin; i++)
			;
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFSIGNALED(status))
			fprintf(stderr, "child exited with %d\n", WEXITSTATUS(status));
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		/* acknowledgements written before the kill still count */
		for (;;) {
			struct ack a;

			if (read(p[0], &a, sizeof(a)) != sizeof(a))
				break;
			if (nacks == cap) {
				cap *= 2;
				acks = xrealloc(acks, cap * sizeof(*acks));
			}
			acks[nacks++] = a;
		}
		close(p[0]);
		check_store(root, acks, nacks);
	}
	assert_true(nacks > 0);
	free(acks);
	ms_test_rmroot(root);
}

/* --- every crash point ---------------------------------------------------------- */

static void
ack(int fd, uint32_t user, uint32_t uid)
{
	struct ack a = {user, uid};

	if (write(fd, &a, sizeof(a)) != sizeof(a))
		_exit(5);
}

/* A fixed workload touching every path that adds or drops references;
 * messages acknowledged on fd stay in INBOX to the end. */
static void __attribute__((noreturn)) workload(const char *root, int fd)
{
	static const char A1[] = "Subject: a1\r\n\r\nkept\r\n";
	static const char B1[] = "Subject: b1\r\n\r\nexpunged later\r\n";
	static const char A2[] = "Subject: a2\r\n\r\nappended\r\n";
	static const char A3[] = "Subject: a3\r\n\r\nlast\r\n";
	const char *xyz[] = {crash_users[0], crash_users[1], crash_users[3]};
	const char *x = crash_users[0], *y = crash_users[1], *z = crash_users[3];
	struct mailstore_deliver_result res[3];
	struct mailstore *ms = NULL;
	struct mn_err err;
	uint32_t uid;
	struct buf b;
	struct reader r;

	mn_err_clear(&err);
	CHECK(mailstore_open(root, &ms, &err));
	CHECK(mailstore_deliver(ms, xyz, 3, A1, strlen(A1), 1, NULL, NULL, res, &err));
	ack(fd, 0, res[0].uid);
	ack(fd, 1, res[1].uid);
	ack(fd, 3, res[2].uid);
	CHECK(mailstore_deliver(ms, xyz, 2, B1, strlen(B1), 2, NULL, NULL, res, &err));
	CHECK(mailstore_append(ms, x, "INBOX", A2, strlen(A2), MAILSTORE_SEEN,
	    (const char *[]){"kw"}, 1, 3, NULL, &uid, NULL, &err));
	ack(fd, 0, uid);
	CHECK(mailstore_copy(ms, x, "INBOX", (uint32_t[]){1, 2}, 2, "Trash", NULL, NULL, &err));
	CHECK(mailstore_flags_store(ms, x, "INBOX", (uint32_t[]){1, 3}, 2, MAILSTORE_FLAGS_ADD,
	    MAILSTORE_FLAGGED, NULL, 0, 0, NULL, NULL, NULL, &err));
	CHECK(mailstore_expunge(ms, x, "INBOX", (uint32_t[]){2}, 1, false, NULL, NULL, &err));
	CHECK(mailstore_expunge(ms, y, "INBOX", (uint32_t[]){2}, 1, false, NULL, NULL, &err));
	CHECK(mailstore_expunge(ms, x, "Trash", NULL, 0, false, NULL, NULL, &err));
	CHECK(mailstore_folder_create(ms, x, "Tmp/Sub", NULL, &err));
	CHECK(mailstore_copy(ms, x, "INBOX", (uint32_t[]){1, 3}, 2, "Tmp/Sub", NULL, NULL, &err));
	CHECK(mailstore_move(ms, x, "Tmp/Sub", (uint32_t[]){1}, 1, "Junk", NULL, &err));
	CHECK(mailstore_folder_rename(ms, x, "Tmp", "Old/Tmp", &err));
	CHECK(mailstore_folder_delete(ms, x, "Old/Tmp/Sub", &err));
	buf_init(&b, 0);
	CHECK(mailstore_export(ms, x, buf_write_cb, &b, &err));
	r = (struct reader){b.data, b.len, 0};
	CHECK(mailstore_import(ms, IMP, reader_cb, &r, &err));
	buf_fini(&b);
	CHECK(mailstore_user_delete(ms, IMP, &err));
	CHECK(mailstore_deliver(ms, &z, 1, A3, strlen(A3), 4, NULL, NULL, res, &err));
	ack(fd, 3, res[0].uid);
	mailstore_close(&ms);
	_exit(0);
}

static void
test_kill9_at_every_durable_step(void **state)
{
	bool finished = false;
	long k;

	for (k = 1; !finished && k < 2000; k++) {
		char *root = ms_test_mkroot();
		struct ack acks[16];
		size_t nacks = 0;
		int p[2], status;
		pid_t pid;

		assert_int_equal(pipe(p), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			ms_crash_countdown = k;
			workload(root, p[1]);
		}
		close(p[1]);
		while (nacks < 16 && read(p[0], &acks[nacks], sizeof(acks[0])) == sizeof(acks[0]))
			nacks++;
		close(p[0]);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (WIFEXITED(status)) {
			assert_int_equal(WEXITSTATUS(status), 0);
			assert_int_equal(nacks, 5);
			finished = true;
		} else {
			assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		}
		check_store(root, acks, nacks);
		ms_test_rmroot(root);
	}
	assert_true(finished);
	fprintf(stderr, "test_kill9_at_every_durable_step: %ld crash points\n", k - 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_recover_fixes_refs_orphans_and_temps),
	    cmocka_unit_test(test_kill9_at_every_durable_step),
	    cmocka_unit_test(test_kill9_at_random_moments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
