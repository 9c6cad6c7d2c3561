/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of lib/db, the same test functions run against SQLite (a fresh file per
 * test) and against PostgreSQL ($WRIT_PG_URL, a private server started by
 * tests/integration/db_pg.sh). Every parameter type read back exactly (NUL and 0xff in
 * blobs, empty text, an 8 MiB blob), RETURNING and change counts, constraint
 * violations as WRIT_E_EXISTS, commit and rollback, a failed statement spoiling its
 * transaction, `?` inside literals and comments left alone, bad SQL with a message,
 * write conflicts as WRIT_E_RETRY, the pool under threads racing on a capped counter,
 * and (PostgreSQL) the pool healing after the server cut its sessions or restarted.
 *
 *   test_db            SQLite, plus PostgreSQL when WRIT_PG_URL is set
 *   test_db sqlite     SQLite only
 *   test_db pg         PostgreSQL only; fails when WRIT_PG_URL is not set
 *
 * With WRIT_PG_RESTART set (a shell command restarting that server, from
 * tests/pg_lib.sh) the PostgreSQL run also restarts the server under a live pool.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "db/db.h"

struct engine {
	const char *name;
	enum db_kind kind;
	char url[1024];
	char dir[256]; /* SQLite: this test's directory */
};

static struct engine eng_sqlite = { "sqlite", DB_SQLITE, "", "" };
static struct engine eng_pg = { "postgresql", DB_POSTGRES, "", "" };
static struct engine *E; /* the engine the running group tests */

#define BIG_BLOB (8u << 20)

static struct db *open_db(void)
{
	struct db *db = NULL;
	int err = db_open(E->url, &db);

	if (err != 0)
		fail_msg("db_open(%s): %d", E->name, err);
	assert_int_equal(db_kind(db), E->kind);
	return db;
}

static void exec_ok(struct db *db, const char *sql)
{
	int err = db_exec(db, sql, NULL, 0, NULL);

	if (err != 0)
		fail_msg("%s: %d %s", sql, err, db_errmsg(db));
}

static void script_ok(struct db *db, const char *sql)
{
	int err = db_exec_script(db, sql);

	if (err != 0)
		fail_msg("script: %d %s", err, db_errmsg(db));
}

/* The one integer a query returns (it must return exactly one row). */
static int64_t scalar(struct db *db, const char *sql, const struct db_param *params, size_t n)
{
	struct db_res *res = NULL;
	int64_t v;
	int err = db_query(db, sql, params, n, &res);

	if (err != 0)
		fail_msg("%s: %d %s", sql, err, db_errmsg(db));
	assert_int_equal(db_rows(res), 1);
	v = db_int(res, 0, 0);
	db_res_free(res);
	return v;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed | 1;
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

static const char *const schema = "CREATE TABLE t (id BIGINT PRIMARY KEY, s TEXT, i BIGINT, b BYTEA, u TEXT UNIQUE);"
				  "CREATE TABLE parent (id BIGINT PRIMARY KEY);"
				  "CREATE TABLE child (id BIGINT PRIMARY KEY, parent BIGINT NOT NULL REFERENCES parent(id),"
				  " qty BIGINT CHECK (qty >= 0));"
				  "CREATE TABLE counter (id BIGINT PRIMARY KEY, n BIGINT NOT NULL, lim BIGINT NOT NULL);";

static int setup(void **state)
{
	struct db *db = NULL;
	int err;

	(void)state;
	if (E->kind == DB_SQLITE) {
		snprintf(E->dir, sizeof(E->dir), "/tmp/writ-test-db.XXXXXX");
		if (!mkdtemp(E->dir))
			return -1;
		if (snprintf(E->url, sizeof(E->url), "sqlite:%s/writ.db", E->dir) >= (int)sizeof(E->url))
			return -1;
	}
	if (db_open(E->url, &db) != 0)
		return -1;
	/* PostgreSQL: one server for the whole run, so start each test from nothing */
	err = db_exec_script(db, "DROP TABLE IF EXISTS child; DROP TABLE IF EXISTS parent;"
				 "DROP TABLE IF EXISTS t; DROP TABLE IF EXISTS counter;");
	if (err == 0)
		err = db_exec_script(db, schema);
	if (err != 0)
		fprintf(stderr, "setup: %s\n", db_errmsg(db));
	db_close(db);
	return err == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	if (E->kind != DB_SQLITE)
		return 0;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", E->dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_types_roundtrip(void **state)
{
	static const char *ins = "INSERT INTO t (id, s, i, b) VALUES (?, ?, ?, ?)";
	uint8_t all[256], *big = malloc(BIG_BLOB);
	struct db *db = open_db();
	struct db_res *res = NULL;
	const uint8_t *p;
	int64_t ch = -1;
	size_t i, len;

	(void)state;
	assert_non_null(big);
	for (i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)i; /* NUL first, 0xff last */
	fill(big, BIG_BLOB, 42);

	assert_int_equal(db_exec(db, ins, (struct db_param[]){ DB_I(1), DB_T("hello"), DB_I(INT64_MAX), DB_B(all, 256) },
				 4, &ch),
			 0);
	assert_int_equal(ch, 1);
	assert_int_equal(db_exec(db, ins, (struct db_param[]){ DB_I(2), DB_T(""), DB_I(INT64_MIN), DB_B(all, 0) }, 4, &ch),
			 0);
	assert_int_equal(ch, 1);
	assert_int_equal(db_exec(db, ins, (struct db_param[]){ DB_I(3), DB_N, DB_N, DB_N }, 4, &ch), 0);
	assert_int_equal(db_exec(db, ins,
				 (struct db_param[]){ DB_I(4), DB_T("h\xc3\xa9llo 'it''s' ?"), DB_I(-1), DB_B(big, BIG_BLOB) },
				 4, &ch),
			 0);
	assert_int_equal(db_exec(db, ins, (struct db_param[]){ DB_I(5), DB_T(NULL), DB_I(0), DB_B(NULL, 0) }, 4, NULL), 0);

	assert_int_equal(db_query(db, "SELECT id, s, i, b FROM t ORDER BY id", NULL, 0, &res), 0);
	assert_int_equal(db_rows(res), 5);
	assert_int_equal(db_cols(res), 4);

	assert_int_equal(db_int(res, 0, 0), 1);
	assert_string_equal(db_text(res, 0, 1), "hello");
	assert_int_equal(db_int(res, 0, 2), INT64_MAX);
	assert_string_equal(db_text(res, 0, 2), "9223372036854775807"); /* decimal on both */
	p = db_blob(res, 0, 3, &len);
	assert_int_equal(len, 256);
	assert_memory_equal(p, all, 256);
	assert_ptr_equal(db_blob(res, 0, 3, &len), p); /* stable until db_res_free */

	assert_false(db_isnull(res, 1, 1));
	assert_string_equal(db_text(res, 1, 1), "");
	assert_int_equal(db_int(res, 1, 2), INT64_MIN);
	assert_false(db_isnull(res, 1, 3));
	p = db_blob(res, 1, 3, &len);
	assert_non_null(p); /* an empty blob is not NULL */
	assert_int_equal(len, 0);

	for (i = 1; i < 4; i++)
		assert_true(db_isnull(res, 2, i));
	assert_string_equal(db_text(res, 2, 1), "");
	assert_int_equal(db_int(res, 2, 2), 0);
	len = 99;
	assert_null(db_blob(res, 2, 3, &len));
	assert_int_equal(len, 0);

	assert_string_equal(db_text(res, 3, 1), "h\xc3\xa9llo 'it''s' ?");
	assert_int_equal(db_int(res, 3, 2), -1);
	p = db_blob(res, 3, 3, &len);
	assert_int_equal(len, BIG_BLOB);
	assert_memory_equal(p, big, BIG_BLOB);

	assert_true(db_isnull(res, 4, 1)); /* DB_T(NULL) binds NULL */
	assert_false(db_isnull(res, 4, 2));
	assert_int_equal(db_int(res, 4, 2), 0);
	assert_non_null(db_blob(res, 4, 3, &len));
	assert_int_equal(len, 0);

	/* out of range: harmless defaults */
	assert_true(db_isnull(res, 5, 0));
	assert_string_equal(db_text(res, 0, 4), "");
	assert_null(db_blob(res, 9, 9, &len));
	assert_int_equal(db_int(res, 0, 1), 0); /* "hello" is not a number */
	db_res_free(res);
	db_res_free(NULL);

	/* a blob parameter compared in a WHERE clause finds its row */
	assert_int_equal(scalar(db, "SELECT id FROM t WHERE b = ?", (struct db_param[]){ DB_B(all, 256) }, 1), 1);
	free(big);
	db_close(db);
}

static void test_returning_and_changes(void **state)
{
	struct db *db = open_db();
	struct db_res *res = NULL;
	int64_t ch = -1;
	int i;

	(void)state;
	for (i = 1; i <= 3; i++) {
		struct db_param p[] = { DB_I(i), DB_I(10 * i) };

		assert_int_equal(db_exec(db, "INSERT INTO t (id, i) VALUES (?, ?)", p, 2, &ch), 0);
		assert_int_equal(ch, 1);
	}
	assert_int_equal(db_exec(db, "UPDATE t SET i = i + 1 WHERE id >= ?", (struct db_param[]){ DB_I(2) }, 1, &ch), 0);
	assert_int_equal(ch, 2);
	/* statements that change no row say 0, not the previous statement's count */
	assert_int_equal(db_exec(db, "SELECT * FROM t", NULL, 0, &ch), 0); /* rows discarded */
	assert_int_equal(ch, 0);
	assert_int_equal(db_exec(db, "UPDATE t SET i = i + 1 WHERE id = 1", NULL, 0, &ch), 0);
	assert_int_equal(db_exec(db, "CREATE TABLE extra (x BIGINT)", NULL, 0, &ch), 0);
	assert_int_equal(ch, 0);
	assert_int_equal(db_exec(db, "DELETE FROM t WHERE id = ?", (struct db_param[]){ DB_I(99) }, 1, &ch), 0);
	assert_int_equal(ch, 0);
	assert_int_equal(db_exec(db, "DROP TABLE extra", NULL, 0, &ch), 0);
	assert_int_equal(ch, 0);

	assert_int_equal(db_query(db, "INSERT INTO t (id, s) VALUES (?, ?) RETURNING id, s",
				  (struct db_param[]){ DB_I(7), DB_T("seven") }, 2, &res),
			 0);
	assert_int_equal(db_rows(res), 1);
	assert_int_equal(db_cols(res), 2);
	assert_int_equal(db_int(res, 0, 0), 7);
	assert_string_equal(db_text(res, 0, 1), "seven");
	db_res_free(res);

	assert_int_equal(db_query(db, "UPDATE t SET i = i * 2 WHERE id <= ? RETURNING i", (struct db_param[]){ DB_I(2) }, 1,
				  &res),
			 0);
	assert_int_equal(db_rows(res), 2);
	assert_int_equal(db_int(res, 0, 0) + db_int(res, 1, 0), 22 + 42);
	db_res_free(res);

	assert_int_equal(db_query(db, "DELETE FROM t WHERE id = 7 RETURNING s", NULL, 0, &res), 0);
	assert_int_equal(db_rows(res), 1);
	assert_string_equal(db_text(res, 0, 0), "seven");
	db_res_free(res);
	/* RETURNING through db_exec: rows dropped, changes counted */
	assert_int_equal(db_exec(db, "DELETE FROM t WHERE id <= 2 RETURNING id", NULL, 0, &ch), 0);
	assert_int_equal(ch, 2);
	assert_int_equal(scalar(db, "SELECT count(*) FROM t", NULL, 0), 1);

	assert_int_equal(db_query(db, "SELECT id FROM t WHERE id > 100", NULL, 0, &res), 0);
	assert_int_equal(db_rows(res), 0);
	assert_int_equal(db_cols(res), 1);
	db_res_free(res);
	db_close(db);
}

static void test_constraints(void **state)
{
	struct db *db = open_db();

	(void)state;
	exec_ok(db, "INSERT INTO t (id, u) VALUES (1, 'serial-1')");
	/* primary key and UNIQUE */
	assert_int_equal(db_exec(db, "INSERT INTO t (id, u) VALUES (1, 'other')", NULL, 0, NULL), WRIT_E_EXISTS);
	assert_true(strlen(db_errmsg(db)) > 0);
	assert_int_equal(db_exec(db, "INSERT INTO t (id, u) VALUES (?, ?)", (struct db_param[]){ DB_I(2), DB_T("serial-1") }, 2,
				 NULL),
			 WRIT_E_EXISTS);
	/* foreign key (SQLite: only with foreign_keys=ON), NOT NULL, CHECK */
	assert_int_equal(db_exec(db, "INSERT INTO child (id, parent, qty) VALUES (1, 42, 1)", NULL, 0, NULL), WRIT_E_EXISTS);
	exec_ok(db, "INSERT INTO parent (id) VALUES (42)");
	assert_int_equal(db_exec(db, "INSERT INTO child (id, parent, qty) VALUES (1, NULL, 1)", NULL, 0, NULL), WRIT_E_EXISTS);
	assert_int_equal(db_exec(db, "INSERT INTO child (id, parent, qty) VALUES (1, 42, -1)", NULL, 0, NULL), WRIT_E_EXISTS);
	exec_ok(db, "INSERT INTO child (id, parent, qty) VALUES (1, 42, 1)");
	assert_int_equal(db_exec(db, "DELETE FROM parent WHERE id = 42", NULL, 0, NULL), WRIT_E_EXISTS);
	/* the connection is still good */
	assert_int_equal(scalar(db, "SELECT count(*) FROM t", NULL, 0), 1);
	assert_int_equal(scalar(db, "SELECT count(*) FROM child", NULL, 0), 1);
	db_close(db);
}

static void test_transactions(void **state)
{
	struct db *db = open_db(), *other = open_db();

	(void)state;
	db_rollback(db); /* none open: harmless */

	assert_int_equal(db_begin(db), 0);
	assert_int_equal(db_begin(db), WRIT_E_STATE);
	exec_ok(db, "INSERT INTO t (id) VALUES (1)");
	assert_int_equal(scalar(db, "SELECT count(*) FROM t", NULL, 0), 1);
	db_rollback(db);
	assert_int_equal(scalar(db, "SELECT count(*) FROM t", NULL, 0), 0);

	assert_int_equal(db_begin(db), 0);
	exec_ok(db, "INSERT INTO t (id) VALUES (2)");
	exec_ok(db, "INSERT INTO t (id) VALUES (3)");
	assert_int_equal(db_commit(db), 0);
	assert_int_equal(scalar(other, "SELECT count(*) FROM t", NULL, 0), 2); /* visible elsewhere */

	/* a failed statement spoils the transaction on both engines */
	assert_int_equal(db_begin(db), 0);
	exec_ok(db, "INSERT INTO t (id) VALUES (4)");
	assert_int_equal(db_exec(db, "INSERT INTO t (id) VALUES (2)", NULL, 0, NULL), WRIT_E_EXISTS);
	assert_int_equal(db_commit(db), WRIT_E_STATE);
	assert_int_equal(scalar(other, "SELECT count(*) FROM t", NULL, 0), 2);
	assert_int_equal(scalar(db, "SELECT count(*) FROM t WHERE id = 4", NULL, 0), 0);

	/* and the connection works normally afterwards */
	assert_int_equal(db_begin(db), 0);
	exec_ok(db, "INSERT INTO t (id) VALUES (5)");
	assert_int_equal(db_commit(db), 0);
	assert_int_equal(scalar(other, "SELECT count(*) FROM t", NULL, 0), 3);
	db_close(other);
	db_close(db);
}

static void test_placeholders(void **state)
{
	struct db *db = open_db();
	struct db_res *res = NULL;

	(void)state;
	assert_int_equal(db_query(db, "SELECT 'it''s ?' AS a, ? AS b, 'x?y' AS c, ? AS d /* ? */ -- what?\n",
				  (struct db_param[]){ DB_T("one"), DB_I(2) }, 2, &res),
			 0);
	assert_int_equal(db_cols(res), 4);
	assert_string_equal(db_text(res, 0, 0), "it's ?");
	assert_string_equal(db_text(res, 0, 1), "one");
	assert_string_equal(db_text(res, 0, 2), "x?y");
	assert_int_equal(db_int(res, 0, 3), 2);
	db_res_free(res);

	exec_ok(db, "INSERT INTO t (id, s) VALUES (1, 'why?')");
	assert_int_equal(scalar(db, "SELECT id FROM t WHERE s = 'why?' AND id = ?", (struct db_param[]){ DB_I(1) }, 1), 1);

	/* parameter count must match the placeholders, on both engines */
	assert_int_equal(db_exec(db, "INSERT INTO t (id, s) VALUES (?, ?)", (struct db_param[]){ DB_I(9) }, 1, NULL),
			 WRIT_E_INVAL);
	assert_int_equal(db_exec(db, "INSERT INTO t (id) VALUES (9)", (struct db_param[]){ DB_I(9) }, 1, NULL), WRIT_E_INVAL);
	assert_int_equal(scalar(db, "SELECT count(*) FROM t", NULL, 0), 1);
	db_close(db);
}

static void test_bad_sql(void **state)
{
	struct db *db = open_db();
	struct db_res *res = (struct db_res *)&res; /* must not be written on failure */

	(void)state;
	assert_int_equal(db_exec(db, "SELEC 1", NULL, 0, NULL), WRIT_E_IO);
	assert_non_null(strstr(db_errmsg(db), "syntax error"));
	assert_int_equal(db_query(db, "SELECT nope FROM missing_table", NULL, 0, &res), WRIT_E_IO);
	assert_non_null(strstr(db_errmsg(db), "missing_table"));
	assert_ptr_equal(res, (struct db_res *)&res);
	/* one statement per call; several go through db_exec_script */
	assert_true(db_exec(db, "INSERT INTO t (id) VALUES (1); INSERT INTO t (id) VALUES (2)", NULL, 0, NULL) < 0);
	assert_int_equal(scalar(db, "SELECT count(*) FROM t; -- trailing comment", NULL, 0), 0);
	script_ok(db, "INSERT INTO t (id) VALUES (1); INSERT INTO t (id) VALUES (2);");
	assert_int_equal(scalar(db, "SELECT count(*) FROM t", NULL, 0), 2);
	assert_int_equal(db_exec_script(db, "INSERT INTO t (id) VALUES (3); BOGUS;"), WRIT_E_IO);
	assert_true(strlen(db_errmsg(db)) > 0);
	assert_int_equal(db_exec(db, NULL, NULL, 0, NULL), WRIT_E_INVAL);
	assert_int_equal(db_exec(db, "SELECT 1", NULL, 1, NULL), WRIT_E_INVAL);
	assert_int_equal(db_exec(db, "SELECT ?", (struct db_param[]){ { .type = (enum db_type)77 } }, 1, NULL),
			 WRIT_E_INVAL);
	db_close(db);
}

/* B read under an old snapshot, A changed the row, B writes it: a conflict to retry. */
static void test_retry_conflict(void **state)
{
	struct db *a = open_db(), *b = open_db();
	int64_t ch = 0;

	(void)state;
	exec_ok(a, "INSERT INTO t (id, i) VALUES (1, 0)");
	exec_ok(b, E->kind == DB_SQLITE ? "BEGIN" : "BEGIN ISOLATION LEVEL REPEATABLE READ");
	assert_int_equal(scalar(b, "SELECT i FROM t WHERE id = 1", NULL, 0), 0);
	assert_int_equal(db_exec(a, "UPDATE t SET i = 1 WHERE id = 1", NULL, 0, &ch), 0);
	assert_int_equal(ch, 1);
	assert_int_equal(db_exec(b, "UPDATE t SET i = 2 WHERE id = 1", NULL, 0, NULL), WRIT_E_RETRY);
	db_rollback(b);
	/* run again: it goes through */
	assert_int_equal(db_begin(b), 0);
	assert_int_equal(db_exec(b, "UPDATE t SET i = i + 10 WHERE id = 1", NULL, 0, &ch), 0);
	assert_int_equal(ch, 1);
	assert_int_equal(db_commit(b), 0);
	assert_int_equal(scalar(a, "SELECT i FROM t WHERE id = 1", NULL, 0), 11);

	if (E->kind == DB_SQLITE) {
		/* db_begin takes the write lock at once: a second writer waits out the busy
		 * timeout (5 s) and is told to retry, instead of deadlocking later */
		assert_int_equal(db_begin(a), 0);
		assert_int_equal(db_begin(b), WRIT_E_RETRY);
		db_rollback(a);
		assert_int_equal(db_begin(b), 0);
		db_rollback(b);
	}
	db_close(a);
	db_close(b);
}

struct deadlock_arg {
	int first, second;
	pthread_barrier_t *barrier;
	int err;
	char msg[256];
};

static void *deadlock_thread(void *p)
{
	struct deadlock_arg *a = p;
	struct db *db = NULL;
	int err;

	a->err = db_open(E->url, &db);
	if (a->err == 0)
		a->err = db_begin(db);
	if (a->err == 0)
		a->err = db_exec(db, "UPDATE t SET i = i + 1 WHERE id = ?", (struct db_param[]){ DB_I(a->first) }, 1, NULL);
	pthread_barrier_wait(a->barrier);
	if (a->err == 0)
		a->err = db_exec(db, "UPDATE t SET i = i + 1 WHERE id = ?", (struct db_param[]){ DB_I(a->second) }, 1, NULL);
	if (a->err == 0)
		a->err = db_commit(db);
	err = a->err;
	if (err != 0) {
		snprintf(a->msg, sizeof(a->msg), "%s", db ? db_errmsg(db) : "");
		db_rollback(db);
	}
	db_close(db);
	return NULL;
}

/* PostgreSQL: two transactions locking two rows in opposite orders; the server breaks
 * the deadlock (40P01) and that side hears WRIT_E_RETRY. */
static void test_pg_deadlock(void **state)
{
	struct deadlock_arg args[2] = { { 1, 2, NULL, 0, "" }, { 2, 1, NULL, 0, "" } };
	pthread_barrier_t barrier;
	pthread_t th[2];
	struct db *db;
	int i;

	(void)state;
	if (E->kind != DB_POSTGRES)
		skip();
	db = open_db();
	exec_ok(db, "INSERT INTO t (id, i) VALUES (1, 0), (2, 0)");
	assert_int_equal(pthread_barrier_init(&barrier, NULL, 2), 0);
	for (i = 0; i < 2; i++) {
		args[i].barrier = &barrier;
		assert_int_equal(pthread_create(&th[i], NULL, deadlock_thread, &args[i]), 0);
	}
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&barrier);
	if (!((args[0].err == 0 && args[1].err == WRIT_E_RETRY) || (args[1].err == 0 && args[0].err == WRIT_E_RETRY)))
		fail_msg("deadlock: %d (%s) / %d (%s)", args[0].err, args[0].msg, args[1].err, args[1].msg);
	assert_non_null(strstr(args[args[0].err ? 0 : 1].msg, "40P01"));
	assert_int_equal(scalar(db, "SELECT sum(i) FROM t", NULL, 0), 2); /* only the winner's */
	db_close(db);
}

#define N_THREADS 8
#define N_ITERS 40
#define N_POOL 4
#define LIMIT 200

struct counter_arg {
	struct db_pool *pool;
	pthread_mutex_t *mu;
	unsigned char *seen; /* LIMIT + 1 flags: which values this run's updates produced */
	int ok, retries, dups, err;
	char msg[256];
};

static void *counter_thread(void *p)
{
	struct counter_arg *a = p;
	struct db_res *res;
	struct db *db;
	int64_t got;
	int k, err;

	for (k = 0; k < N_ITERS && a->err == 0; k++) {
		for (;;) {
			got = 0;
			err = db_pool_get(a->pool, &db);
			if (err != 0) {
				a->err = err;
				break;
			}
			err = db_begin(db);
			if (err == 0)
				err = db_query(db, "UPDATE counter SET n = n + 1 WHERE id = 1 AND n + 1 <= lim RETURNING n", NULL,
					       0, &res);
			if (err == 0) {
				got = db_rows(res) == 1 ? db_int(res, 0, 0) : 0;
				db_res_free(res);
				err = db_commit(db);
			} else {
				db_rollback(db);
			}
			if (err != 0)
				snprintf(a->msg, sizeof(a->msg), "%s", db_errmsg(db));
			db_pool_put(a->pool, db);
			if (err == WRIT_E_RETRY) {
				a->retries++;
				continue;
			}
			if (err != 0) {
				a->err = err;
				break;
			}
			if (got > 0) { /* committed: this value is ours */
				a->ok++;
				pthread_mutex_lock(a->mu);
				if (got > LIMIT || a->seen[got])
					a->dups++;
				else
					a->seen[got] = 1;
				pthread_mutex_unlock(a->mu);
			}
			break;
		}
	}
	return NULL;
}

/* More threads than pooled connections race on a capped counter: never past the cap,
 * every committed increment counted exactly once. */
static void test_pool_counter(void **state)
{
	struct counter_arg args[N_THREADS];
	unsigned char seen[LIMIT + 1] = { 0 };
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_t th[N_THREADS];
	struct db_pool *pool = NULL;
	struct db *db = open_db();
	int i, ok = 0, retries = 0;

	(void)state;
	assert_int_equal(db_exec(db, "INSERT INTO counter (id, n, lim) VALUES (1, 0, ?)", (struct db_param[]){ DB_I(LIMIT) },
				 1, NULL),
			 0);
	assert_int_equal(db_pool_new(E->url, N_POOL, &pool), 0);
	for (i = 0; i < N_THREADS; i++) {
		memset(&args[i], 0, sizeof(args[i]));
		args[i].pool = pool;
		args[i].mu = &mu;
		args[i].seen = seen;
		assert_int_equal(pthread_create(&th[i], NULL, counter_thread, &args[i]), 0);
	}
	for (i = 0; i < N_THREADS; i++)
		pthread_join(th[i], NULL);
	db_pool_free(pool);
	for (i = 0; i < N_THREADS; i++) {
		if (args[i].err != 0)
			fail_msg("thread %d: %d %s", i, args[i].err, args[i].msg);
		assert_int_equal(args[i].dups, 0);
		ok += args[i].ok;
		retries += args[i].retries;
	}
	print_message("%s: %d increments committed, %d retries\n", E->name, ok, retries);
	assert_true(N_THREADS * N_ITERS > LIMIT); /* the cap is really reached */
	assert_int_equal(ok, LIMIT);
	assert_int_equal(scalar(db, "SELECT n FROM counter WHERE id = 1", NULL, 0), LIMIT);
	for (i = 1; i <= LIMIT; i++)
		assert_int_equal(seen[i], 1);
	db_close(db);
}

static void test_pool_basics(void **state)
{
	struct db_pool *pool = NULL;
	struct db *a = NULL, *b = NULL, *c = NULL;

	(void)state;
	assert_int_equal(db_pool_new(E->url, 0, &pool), WRIT_E_INVAL);
	assert_int_equal(db_pool_new("mysql://x", 2, &pool), WRIT_E_INVAL);
	assert_int_equal(db_pool_new(E->url, 2, &pool), 0);
	assert_int_equal(db_pool_get(pool, &a), 0);
	assert_int_equal(db_pool_get(pool, &b), 0);
	assert_ptr_not_equal(a, b);
	db_pool_put(pool, a);
	assert_int_equal(db_pool_get(pool, &c), 0);
	assert_ptr_equal(c, a); /* an idle connection is reused, not reopened */

	/* a connection put back inside a transaction comes back without it */
	assert_int_equal(db_begin(c), 0);
	exec_ok(c, "INSERT INTO t (id) VALUES (1)");
	db_pool_put(pool, c);
	assert_int_equal(db_pool_get(pool, &c), 0);
	assert_int_equal(db_begin(c), 0);
	assert_int_equal(scalar(c, "SELECT count(*) FROM t", NULL, 0), 0);
	assert_int_equal(db_commit(c), 0);
	db_pool_put(pool, c);
	db_pool_put(pool, b);
	db_pool_put(pool, NULL);
	db_pool_free(pool);
	db_pool_free(NULL);
}

/* SQLite: the settings durability and integrity rest on, on every connection. */
static void test_sqlite_settings(void **state)
{
	struct db *db;
	struct db_res *res = NULL;

	(void)state;
	if (E->kind != DB_SQLITE)
		skip();
	db = open_db();
	assert_int_equal(db_query(db, "PRAGMA journal_mode", NULL, 0, &res), 0);
	assert_string_equal(db_text(res, 0, 0), "wal");
	db_res_free(res);
	assert_int_equal(scalar(db, "PRAGMA synchronous", NULL, 0), 2); /* FULL */
	assert_int_equal(scalar(db, "PRAGMA foreign_keys", NULL, 0), 1);
	assert_int_equal(scalar(db, "PRAGMA busy_timeout", NULL, 0), 5000);
	db_close(db);
}

static int64_t backend_pid(struct db *db)
{
	return scalar(db, "SELECT pg_backend_pid()", NULL, 0);
}

static void terminate(int64_t pid)
{
	struct db *killer = open_db();
	struct db_res *res = NULL;

	/* the timeout makes the call wait until the session is really gone */
	assert_int_equal(db_query(killer, "SELECT pg_terminate_backend(CAST(? AS integer), 5000)",
				  (struct db_param[]){ DB_I(pid) }, 1, &res),
			 0);
	assert_string_equal(db_text(res, 0, 0), "t");
	db_res_free(res);
	db_close(killer);
}

/* PostgreSQL: the server ends a pooled session (pg_terminate_backend); the pool notices
 * when handing it out, or after the caller's statement failed on it. */
static void test_pg_pool_heals(void **state)
{
	struct db_pool *pool = NULL;
	struct db *db = NULL;
	int64_t pid, pid2;

	(void)state;
	if (E->kind != DB_POSTGRES)
		skip();
	assert_int_equal(db_pool_new(E->url, 1, &pool), 0);

	/* ended while idle in the pool: the next get already hands out a new session */
	assert_int_equal(db_pool_get(pool, &db), 0);
	pid = backend_pid(db);
	db_pool_put(pool, db);
	terminate(pid);
	assert_int_equal(db_pool_get(pool, &db), 0);
	pid2 = backend_pid(db);
	assert_true(pid2 != pid);

	/* ended while the caller holds it: that statement fails, the next get heals */
	terminate(pid2);
	assert_int_equal(db_exec(db, "SELECT 1", NULL, 0, NULL), WRIT_E_IO);
	assert_true(strlen(db_errmsg(db)) > 0);
	db_pool_put(pool, db);
	assert_int_equal(db_pool_get(pool, &db), 0);
	pid = backend_pid(db);
	assert_true(pid != pid2);
	exec_ok(db, "INSERT INTO t (id) VALUES (1)");
	db_pool_put(pool, db);
	db_pool_free(pool);
}

/* PostgreSQL: a real server restart (pg_ctl restart -m fast) under a live pool. */
static void test_pg_restart(void **state)
{
	const char *restart = getenv("WRIT_PG_RESTART");
	struct db *held[3], *db;
	struct db_pool *pool = NULL;
	int i;

	(void)state;
	if (E->kind != DB_POSTGRES || !restart || !*restart)
		skip();
	assert_int_equal(db_pool_new(E->url, 3, &pool), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(db_pool_get(pool, &held[i]), 0);
		exec_ok(held[i], "INSERT INTO counter (id, n, lim) VALUES (1, 0, 100) ON CONFLICT (id) DO NOTHING");
	}
	for (i = 1; i < 3; i++)
		db_pool_put(pool, held[i]);

	assert_int_equal(system(restart), 0);

	/* the held session died with the old server */
	assert_int_equal(db_exec(held[0], "UPDATE counter SET n = n + 1", NULL, 0, NULL), WRIT_E_IO);
	db_pool_put(pool, held[0]);
	/* every later get works at the first statement */
	for (i = 0; i < 6; i++) {
		assert_int_equal(db_pool_get(pool, &db), 0);
		exec_ok(db, "UPDATE counter SET n = n + 1");
		db_pool_put(pool, db);
	}
	assert_int_equal(db_pool_get(pool, &db), 0);
	assert_int_equal(scalar(db, "SELECT n FROM counter", NULL, 0), 6);
	db_pool_put(pool, db);
	db_pool_free(pool);
}

/* Engine-independent: the placeholder rewriter, URL handling, password masking. */
static void test_sql_to_pg(void **state)
{
	static const struct {
		const char *in, *out;
		size_t n;
	} cases[] = {
		{ "SELECT ?", "SELECT $1", 1 },
		{ "INSERT INTO t VALUES (?,?,?)", "INSERT INTO t VALUES ($1,$2,$3)", 3 },
		{ "SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1", 1 },
		{ "SELECT \"a?\" FROM t WHERE x = ?", "SELECT \"a?\" FROM t WHERE x = $1", 1 },
		{ "SELECT ? -- ?\n, ?", "SELECT $1 -- ?\n, $2", 2 },
		{ "SELECT /* ? /* ? */ ? */ ?", "SELECT /* ? /* ? */ ? */ $1", 1 },
		{ "SELECT 'unterminated ?", "SELECT 'unterminated ?", 0 },
		{ "", "", 0 },
	};
	char many[3 * 70000 + 1], *out = NULL;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(db_sql_to_pg(cases[i].in, &out, &n), 0);
		assert_string_equal(out, cases[i].out);
		assert_int_equal(n, cases[i].n);
		free(out);
	}
	for (i = 0; i < 65535; i++)
		memcpy(many + 2 * i, "?,", 2);
	many[2 * 65535] = 0;
	assert_int_equal(db_sql_to_pg(many, &out, &n), 0);
	assert_int_equal(n, 65535);
	assert_non_null(strstr(out, ",$65535,"));
	free(out);
	many[2 * 65535] = '?';
	many[2 * 65535 + 1] = 0;
	assert_int_equal(db_sql_to_pg(many, &out, &n), WRIT_E_TOOBIG);
}

static void test_urls(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "postgresql://writ:s3cr3t@db.example:5432/writ?sslmode=require",
		  "postgresql://writ:***@db.example:5432/writ?sslmode=require" },
		{ "postgres://u:p@ss@h/d", "postgres://u:***@h/d" },
		{ "postgresql:///writ?host=/run/pg&password=hunter2&user=w",
		  "postgresql:///writ?host=/run/pg&password=***&user=w" },
		{ "postgresql://u@h/d?password=x", "postgresql://u@h/d?password=***" },
		{ "sqlite:/var/lib/writ/cloud.db", "sqlite:/var/lib/writ/cloud.db" },
	};
	struct db *db = (struct db *)&db;
	char out[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(db_url_redact(cases[i].in, out, sizeof(out)), 0);
		assert_string_equal(out, cases[i].out);
	}
	assert_int_equal(db_url_redact("postgresql://u:secret-password@host/db", out, 12), WRIT_E_TOOBIG);
	assert_string_equal(out, "postgresql:");
	assert_int_equal(db_url_redact("postgresql://u:secret@host/db", out, 20), WRIT_E_TOOBIG);
	assert_null(strstr(out, "secret"));

	assert_int_equal(db_open("mysql://x", &db), WRIT_E_INVAL);
	assert_int_equal(db_open("sqlite:", &db), WRIT_E_INVAL);
	assert_int_equal(db_open(NULL, &db), WRIT_E_INVAL);
	assert_int_equal(db_open("sqlite:/nonexistent-dir-writ/x.db", &db), WRIT_E_IO);
	assert_int_equal(db_open("postgresql://u:pw@/d?host=/nonexistent-dir-writ", &db), WRIT_E_IO);
	assert_ptr_equal(db, (struct db *)&db); /* untouched on failure */
	db_close(NULL);
}

#define ENGINE_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest common[] = {
		cmocka_unit_test(test_sql_to_pg),
		cmocka_unit_test(test_urls),
	};
	const struct CMUnitTest engine[] = {
		ENGINE_TEST(test_types_roundtrip), ENGINE_TEST(test_returning_and_changes),
		ENGINE_TEST(test_constraints),	   ENGINE_TEST(test_transactions),
		ENGINE_TEST(test_placeholders),	   ENGINE_TEST(test_bad_sql),
		ENGINE_TEST(test_retry_conflict),  ENGINE_TEST(test_pg_deadlock),
		ENGINE_TEST(test_pool_basics),	   ENGINE_TEST(test_pool_counter),
		ENGINE_TEST(test_sqlite_settings), ENGINE_TEST(test_pg_pool_heals),
		ENGINE_TEST(test_pg_restart),
	};
	const char *which = argc > 1 ? argv[1] : "auto";
	const char *pg_url = getenv("WRIT_PG_URL");
	int run_sqlite = strcmp(which, "pg") != 0;
	int run_pg = strcmp(which, "pg") == 0 || (strcmp(which, "auto") == 0 && pg_url && *pg_url);
	int failed = 0;

	if (strcmp(which, "auto") != 0 && strcmp(which, "sqlite") != 0 && strcmp(which, "pg") != 0) {
		fprintf(stderr, "usage: %s [auto|sqlite|pg]\n", argv[0]);
		return 2;
	}
	if (run_pg && (!pg_url || !*pg_url)) {
		fprintf(stderr, "test_db pg: WRIT_PG_URL is not set (tests/pg_lib.sh pg_start sets it)\n");
		return 1;
	}
	failed += cmocka_run_group_tests_name("db_common", common, NULL, NULL);
	if (run_sqlite) {
		E = &eng_sqlite;
		failed += cmocka_run_group_tests_name("db_sqlite", engine, NULL, NULL);
	}
	if (run_pg) {
		if (snprintf(eng_pg.url, sizeof(eng_pg.url), "%s", pg_url) >= (int)sizeof(eng_pg.url)) {
			fprintf(stderr, "test_db: WRIT_PG_URL too long\n");
			return 1;
		}
		E = &eng_pg;
		failed += cmocka_run_group_tests_name("db_postgresql", engine, NULL, NULL);
	}
	return failed ? 1 : 0;
}
