/*
 * test_spool.c - spool files: write/read round trip, state sidecar updates,
 * recovery (tmp removed, lone sidecars dropped, order), and a child killed
 * in the middle of a write leaves no partial file in queue/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/xalloc.h"
#include "node/smtp/parser.h"
#include "storage/spool/spool.h"

static char tmpdir[64];

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	strcpy(tmpdir, "/tmp/mn_spool_XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int
teardown(void **state)
{
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static size_t
count_dir(const char *sub)
{
	char *p = xasprintf("%s/spool/%s", tmpdir, sub);
	DIR *d = opendir(p);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	free(p);
	return n;
}

/* Entries of spool/tmp that are not spare files (tmp/spare.N). */
static size_t
count_tmp_besides_spares(void)
{
	char *p = xasprintf("%s/spool/tmp", tmpdir);
	DIR *d = opendir(p);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && strncmp(de->d_name, "spare.", 6) != 0)
			n++;
	closedir(d);
	free(p);
	return n;
}

static ino_t
inode_of(const char *sub)
{
	char *p = xasprintf("%s/spool/%s", tmpdir, sub);
	struct stat st;

	assert_int_equal(stat(p, &st), 0);
	free(p);
	return st.st_ino;
}

static void
make_env(struct spool *sp, struct spool_env *env)
{
	memset(env, 0, sizeof(*env));
	spool_new_id(sp, env->id);
	env->sender = xstrdup("alice@a.test");
	env->envid = xstrdup("env id+with%odd chars\r\n");
	env->ret = SPOOL_RET_HDRS;
	env->arrival = 1700000000;
	env->smtputf8 = true;
	env->auth_user = xstrdup("alice@a.test");
	env->client_ip = xstrdup("127.0.0.1");
	spool_env_add_rcpt(env, "bob@b.test", "rfc822;Bob@B.test", SMTP_NOTIFY_FAILURE);
	spool_env_add_rcpt(env, "-dash@c.test", NULL, 0);
	spool_env_add_rcpt(env, "", NULL, SMTP_NOTIFY_NEVER);
}

static void
test_write_read_round_trip(void **state)
{
	struct spool *sp;
	struct spool_env env, back;
	struct mn_err err;
	struct buf msg;
	const char prefix[] = "Received: from x\r\n";
	const char body[] = "Subject: hi\r\n\r\nbody\r\n.dot\r\n";

	assert_int_equal(spool_open(tmpdir, &sp, &err), 0);
	make_env(sp, &env);
	assert_int_equal(
	    spool_write(sp, &env, prefix, strlen(prefix), body, strlen(body), &err), 0);
	assert_int_equal(count_dir("queue"), 1);
	assert_int_equal(count_dir("tmp"), 0);

	assert_int_equal(spool_read_env(sp, env.id, &back, &err), 0);
	assert_string_equal(back.id, env.id);
	assert_string_equal(back.sender, "alice@a.test");
	assert_string_equal(back.envid, "env id+with%odd chars\r\n");
	assert_int_equal(back.ret, SPOOL_RET_HDRS);
	assert_int_equal(back.arrival, 1700000000);
	assert_true(back.smtputf8);
	assert_false(back.eightbit);
	assert_string_equal(back.auth_user, "alice@a.test");
	assert_int_equal(back.nrcpts, 3);
	assert_string_equal(back.rcpts[0].address, "bob@b.test");
	assert_string_equal(back.rcpts[0].orcpt, "rfc822;Bob@B.test");
	assert_int_equal(back.rcpts[0].notify, SMTP_NOTIFY_FAILURE);
	assert_string_equal(back.rcpts[1].address, "-dash@c.test");
	assert_null(back.rcpts[1].orcpt);
	assert_string_equal(back.rcpts[2].address, "");
	assert_int_equal(back.msg_size, strlen(prefix) + strlen(body));

	buf_init(&msg, 1 << 20);
	assert_int_equal(spool_read_message(sp, &back, &msg, &err), 0);
	assert_int_equal(msg.len, strlen(prefix) + strlen(body));
	assert_memory_equal(msg.data, prefix, strlen(prefix));
	assert_memory_equal(msg.data + strlen(prefix), body, strlen(body));
	buf_fini(&msg);

	/* the null sender round-trips as "" */
	spool_env_fini(&back);
	free(env.sender);
	env.sender = xstrdup("");
	spool_new_id(sp, env.id);
	assert_int_equal(spool_write(sp, &env, NULL, 0, "x", 1, &err), 0);
	assert_int_equal(spool_read_env(sp, env.id, &back, &err), 0);
	assert_string_equal(back.sender, "");
	assert_null(back.rcpts[1].reply);
	spool_env_fini(&back);

	assert_int_equal(spool_read_env(sp, "0000000000000000FFFF", &back, &err), MN_ENOENT);
	assert_int_equal(spool_read_env(sp, "../x", &back, &err), MN_EINVAL);
	spool_env_fini(&env);
	spool_close(&sp);
}

static void
test_state_updates(void **state)
{
	struct spool *sp;
	struct spool_env env, back;
	struct mn_err err;

	assert_int_equal(spool_open(tmpdir, &sp, &err), 0);
	make_env(sp, &env);
	assert_int_equal(spool_write(sp, &env, NULL, 0, "m\r\n", 3, &err), 0);

	env.rcpts[0].state = SPOOL_RCPT_DELIVERED;
	env.rcpts[1].state = SPOOL_RCPT_PENDING;
	env.rcpts[1].attempts = 3;
	env.rcpts[1].next_attempt = 1700000600;
	env.rcpts[1].reply = xstrdup("451 4.3.0 try later\r\nsecond line");
	env.rcpts[1].remote_mta = xstrdup("mx.c.test");
	env.rcpts[2].state = SPOOL_RCPT_FAILED;
	env.rcpts[2].bounced = true;
	{
		struct spool_rcpt *r =
		    spool_env_add_rcpt(&env, "carol@a.test", "rfc822;x@a.test", 0);

		r->local = r->final = true;
		r->state = SPOOL_RCPT_INFLIGHT;
	}
	env.delay_warned = true;
	assert_int_equal(spool_save_state(sp, &env, &err), 0);
	assert_int_equal(count_dir("queue"), 2);

	assert_int_equal(spool_read_env(sp, env.id, &back, &err), 0);
	assert_true(back.delay_warned);
	assert_int_equal(back.nrcpts, 4);
	assert_int_equal(back.rcpts[0].state, SPOOL_RCPT_DELIVERED);
	assert_int_equal(back.rcpts[1].attempts, 3);
	assert_int_equal(back.rcpts[1].next_attempt, 1700000600);
	assert_string_equal(back.rcpts[1].reply, "451 4.3.0 try later\r\nsecond line");
	assert_string_equal(back.rcpts[1].remote_mta, "mx.c.test");
	assert_int_equal(back.rcpts[2].state, SPOOL_RCPT_FAILED);
	assert_true(back.rcpts[2].bounced);
	assert_false(back.rcpts[1].bounced);
	assert_int_equal(back.rcpts[3].state, SPOOL_RCPT_INFLIGHT);
	assert_true(back.rcpts[3].local);
	assert_true(back.rcpts[3].final);
	assert_string_equal(back.rcpts[3].address, "carol@a.test");
	/* the envelope's own fields are still read from the message file */
	assert_string_equal(back.sender, "alice@a.test");
	assert_int_equal(back.msg_size, 3);
	spool_env_fini(&back);

	/* a second save replaces the first */
	env.rcpts[3].state = SPOOL_RCPT_DELIVERED;
	assert_int_equal(spool_save_state(sp, &env, &err), 0);
	assert_int_equal(spool_read_env(sp, env.id, &back, &err), 0);
	assert_int_equal(back.rcpts[3].state, SPOOL_RCPT_DELIVERED);
	spool_env_fini(&back);

	assert_int_equal(spool_remove(sp, env.id, &err), 0);
	assert_int_equal(count_dir("queue"), 0);
	assert_int_equal(spool_read_env(sp, env.id, &back, &err), MN_ENOENT);
	spool_env_fini(&env);
	spool_close(&sp);
}

static void
write_file(const char *rel, const char *text)
{
	char *p = xasprintf("%s/spool/%s", tmpdir, rel);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(p);
}

static void
test_recover(void **state)
{
	struct spool *sp;
	struct spool_env a, b, back;
	struct mn_err err;
	char **ids;
	size_t n;

	assert_int_equal(spool_open(tmpdir, &sp, &err), 0);
	make_env(sp, &a);
	make_env(sp, &b);
	assert_int_equal(spool_write(sp, &b, NULL, 0, "b", 1, &err), 0);
	assert_int_equal(spool_write(sp, &a, NULL, 0, "a", 1, &err), 0);
	write_file("tmp/00000000000000000001", "partial");
	write_file("queue/00000000000000000002.state", "MNSTATE 1\nend\n");
	/* a damaged sidecar is an error on read, not a guess */
	write_file("queue/00000000000000000003", "MNSPOOL 1\nid 00000000000000000003\n"
	                                         "sender %\ndata\nmsg");
	write_file("queue/00000000000000000003.state", "MNSTATE 1\nwarned 0\n");

	assert_int_equal(spool_recover(sp, &ids, &n, &err), 0);
	assert_int_equal(count_dir("tmp"), 0);
	assert_int_equal(n, 3);
	assert_string_equal(ids[0], "00000000000000000003");
	assert_string_equal(ids[1], a.id); /* oldest first: a's ID was made first */
	assert_string_equal(ids[2], b.id);
	assert_int_equal(spool_read_env(sp, ids[0], &back, &err), MN_EPARSE);
	assert_int_equal(spool_read_env(sp, ids[1], &back, &err), 0);
	assert_int_equal(back.nrcpts, 3);
	spool_env_fini(&back);
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	assert_int_equal(count_dir("queue"), 4); /* lone sidecar removed, 3 + its sidecar kept */
	spool_env_fini(&a);
	spool_env_fini(&b);
	spool_close(&sp);
}

static void
test_bad_envelopes_refused(void **state)
{
	static const char *bad[] = {
	    "", "MNSPOOL 2\nid 00000000000000000009\nsender %\ndata\n",
	    "MNSPOOL 1\nid 00000000000000000009\nsender %\n", /* no data line */
	    "MNSPOOL 1\nid 00000000000000000009\ndata\n",     /* no sender */
	    "MNSPOOL 1\nid 00000000000000000009\nsender %\nbogus 1\ndata\n",
	    "MNSPOOL 1\nid 00000000000000000009\nsender %4\ndata\n",  /* short escape */
	    "MNSPOOL 1\nid 00000000000000000009\nsender %00\ndata\n", /* NUL */
	    "MNSPOOL 1\nid 00000000000000000009\nsender %\nrcpt 9 0 0 0 0 0 0 a - - -\ndata\n",
	    "MNSPOOL 1\nid 00000000000000000009\nsender %\nrcpt 0 0 0 0 0 0 0 a - -\ndata\n",
	    "MNSPOOL 1\nid 00000000000000000008\nsender %\ndata\n", /* id mismatch */
	};
	struct spool *sp;
	struct spool_env back;
	struct mn_err err;

	assert_int_equal(spool_open(tmpdir, &sp, &err), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file("queue/00000000000000000009", bad[i]);
		assert_int_equal(
		    spool_read_env(sp, "00000000000000000009", &back, &err), MN_EPARSE);
	}
	spool_close(&sp);
}

/* A child writes a big message and is killed at some moment; whatever the
 * moment, queue/ holds either nothing or the whole file. */
static void
test_kill_mid_write(void **state)
{
	size_t big = 8u << 20;
	char *data = xmalloc(big);

	memset(data, 'x', big);
	for (int round = 0; round < 6; round++) {
		struct spool *sp;
		struct spool_env env;
		struct mn_err err;
		char **ids;
		size_t n;
		int fds[2];
		pid_t pid;
		char c;

		assert_int_equal(spool_open(tmpdir, &sp, &err), 0);
		make_env(sp, &env);
		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			(void)!write(fds[1], "s", 1);
			for (;;) {
				spool_new_id(sp, env.id);
				spool_write(sp, &env, NULL, 0, data, big, &err);
			}
		}
		close(fds[1]);
		assert_int_equal(read(fds[0], &c, 1), 1);
		close(fds[0]);
		/* vary the moment: a few writes in, by polling the tmp dir */
		for (int k = 0; k < round * 2000; k++)
			(void)count_dir("tmp");
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);

		assert_int_equal(spool_recover(sp, &ids, &n, &err), 0);
		for (size_t i = 0; i < n; i++) {
			struct spool_env back;

			assert_int_equal(spool_read_env(sp, ids[i], &back, &err), 0);
			assert_int_equal(back.msg_size, big);
			assert_int_equal(spool_remove(sp, ids[i], &err), 0);
			spool_env_fini(&back);
			free(ids[i]);
		}
		free(ids);
		assert_int_equal(count_tmp_besides_spares(), 0);
		spool_env_fini(&env);
		spool_close(&sp);
	}
	free(data);
}

/* A removed entry's file is kept as tmp/spare.N and its inode reused by
 * the next write, with only the new bytes in it; spares survive a restart
 * (recovery keeps them) and are reused then too. */
static void
test_removed_files_are_reused(void **state)
{
	struct spool *sp;
	struct spool_env a, b, c, back;
	struct mn_err err;
	struct buf msg;
	char **ids = NULL;
	size_t n = 0;
	ino_t ino;

	(void)state;
	assert_int_equal(spool_open(tmpdir, &sp, &err), 0);
	assert_int_equal(spool_recover(sp, &ids, &n, &err), 0);
	make_env(sp, &a);
	assert_int_equal(spool_write(sp, &a, NULL, 0, "a long first message", 20, &err), 0);
	{
		char *q = xasprintf("queue/%s", a.id);

		ino = inode_of(q);
		free(q);
	}
	assert_int_equal(spool_remove(sp, a.id, &err), 0);
	assert_int_equal(count_dir("queue"), 0);
	assert_int_equal(count_dir("tmp"), 1);
	assert_int_equal(count_tmp_besides_spares(), 0);

	make_env(sp, &b);
	assert_int_equal(spool_write(sp, &b, NULL, 0, "b", 1, &err), 0);
	assert_int_equal(count_dir("tmp"), 0);
	{
		char *q = xasprintf("queue/%s", b.id);

		assert_true(inode_of(q) == ino);
		free(q);
	}
	buf_init(&msg, 1 << 20);
	assert_int_equal(spool_read_env(sp, b.id, &back, &err), 0);
	assert_int_equal(spool_read_message(sp, &back, &msg, &err), 0);
	assert_int_equal(msg.len, 1);
	assert_memory_equal(msg.data, "b", 1);
	spool_env_fini(&back);
	buf_fini(&msg);

	/* a restart keeps the spare for the next write */
	assert_int_equal(spool_remove(sp, b.id, &err), 0);
	spool_close(&sp);
	assert_int_equal(spool_open(tmpdir, &sp, &err), 0);
	assert_int_equal(spool_recover(sp, &ids, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(count_dir("tmp"), 1);
	make_env(sp, &c);
	assert_int_equal(spool_write(sp, &c, NULL, 0, "c", 1, &err), 0);
	assert_int_equal(count_dir("tmp"), 0);
	assert_int_equal(spool_read_env(sp, c.id, &back, &err), 0);
	assert_int_equal(back.msg_size, 1);
	spool_env_fini(&back);
	assert_int_equal(spool_remove(sp, c.id, &err), 0);
	free(ids);
	spool_env_fini(&a);
	spool_env_fini(&b);
	spool_env_fini(&c);
	spool_close(&sp);
}

static void
test_ids_unique_and_ordered(void **state)
{
	struct spool *sp;
	struct mn_err err;
	char prev[SPOOL_ID_LEN + 1] = "", cur[SPOOL_ID_LEN + 1];

	assert_int_equal(spool_open(tmpdir, &sp, &err), 0);
	for (int i = 0; i < 10000; i++) {
		spool_new_id(sp, cur);
		assert_int_equal(strlen(cur), SPOOL_ID_LEN);
		assert_true(strcmp(prev, cur) < 0);
		memcpy(prev, cur, sizeof(cur));
	}
	spool_close(&sp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_write_read_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_updates, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_removed_files_are_reused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_envelopes_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kill_mid_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ids_unique_and_ordered, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
