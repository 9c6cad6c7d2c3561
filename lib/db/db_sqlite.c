/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite engine of lib/db. A connection is opened in WAL mode with synchronous=FULL
 * (a commit that returned has reached the disk: an acknowledged record survives a
 * power cut), a 5 s busy timeout and foreign keys enforced. Parameters are bound by
 * position; result values are copied out row by row so the statement is finalized
 * before db_query returns. SQLite's result codes become writ errors here, once.
 */
#include <stdlib.h>
#include <string.h>

#include "db/db_engine.h"

#define DB_SQLITE_BUSY_MS 5000

/* The writ error for a failed SQLite call; the message is taken from the connection. */
static int sq_fail(struct db *db, int rc)
{
	db_set_err(db, "%s", db->sq ? sqlite3_errmsg(db->sq) : sqlite3_errstr(rc));
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
		return WRIT_E_EXISTS;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return WRIT_E_RETRY;
	case SQLITE_NOMEM:
		return WRIT_E_NOMEM;
	case SQLITE_IOERR:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_CANTOPEN:
		db->broken = 1; /* reopening is worth a try; nothing else is */
		return WRIT_E_IO;
	default:
		return WRIT_E_IO;
	}
}

int dbsq_open(struct db *db, const char *path)
{
	sqlite3_stmt *st = NULL;
	const char *mode;
	int rc;

	rc = sqlite3_open_v2(path, &db->sq, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_extended_result_codes(db->sq, 1);
	sqlite3_busy_timeout(db->sq, DB_SQLITE_BUSY_MS);
	rc = sqlite3_prepare_v2(db->sq, "PRAGMA journal_mode=WAL", -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		goto fail;
	mode = (const char *)sqlite3_column_text(st, 0);
	/* an in-memory database has no journal file and says so */
	if (!mode || (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)) {
		db_set_err(db, "cannot enable WAL (journal_mode is %s)", mode ? mode : "?");
		goto fail_msg;
	}
	sqlite3_finalize(st);
	st = NULL;
	rc = sqlite3_exec(db->sq, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	return 0;
fail:
	(void)sq_fail(db, rc);
fail_msg:
	sqlite3_finalize(st);
	sqlite3_close(db->sq);
	db->sq = NULL;
	return rc == SQLITE_NOMEM ? WRIT_E_NOMEM : WRIT_E_IO;
}

void dbsq_close(struct db *db)
{
	/* every statement is finalized before its call returns, so this cannot be busy */
	sqlite3_close(db->sq);
	db->sq = NULL;
}

static int bind(struct db *db, sqlite3_stmt *st, const struct db_param *params, size_t n)
{
	size_t i;
	int rc, idx;

	for (i = 0; i < n; i++) {
		const struct db_param *p = &params[i];

		idx = (int)i + 1;
		switch (p->type) {
		case DB_NULL:
			rc = sqlite3_bind_null(st, idx);
			break;
		case DB_TEXT:
			if (p->text)
				rc = sqlite3_bind_text64(st, idx, p->text, strlen(p->text), SQLITE_STATIC, SQLITE_UTF8);
			else
				rc = sqlite3_bind_null(st, idx);
			break;
		case DB_INT:
			rc = sqlite3_bind_int64(st, idx, p->i);
			break;
		case DB_BLOB:
			if (!p->blob && p->len > 0) {
				db_set_err(db, "parameter %zu: NULL blob of %zu bytes", i + 1, p->len);
				return WRIT_E_INVAL;
			}
			/* a non-NULL pointer: an empty blob is not SQL NULL */
			rc = sqlite3_bind_blob64(st, idx, p->blob ? (const void *)p->blob : "", p->len, SQLITE_STATIC);
			break;
		default:
			db_set_err(db, "parameter %zu: unknown type %d", i + 1, (int)p->type);
			return WRIT_E_INVAL;
		}
		if (rc == SQLITE_TOOBIG) {
			db_set_err(db, "parameter %zu is too big", i + 1);
			return WRIT_E_TOOBIG;
		}
		if (rc != SQLITE_OK)
			return sq_fail(db, rc);
	}
	return 0;
}

/* Append the current row of st to r, copying every value. */
static int fetch_row(struct db_res *r, sqlite3_stmt *st, size_t *cap)
{
	struct db_cell *row;
	size_t c;

	if (r->cols == 0) {
		r->rows++;
		return 0;
	}
	if (r->rows == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct db_cell *cells;

		if (ncap > SIZE_MAX / sizeof(*cells) / r->cols)
			return WRIT_E_NOMEM;
		cells = realloc(r->cells, ncap * r->cols * sizeof(*cells));
		if (!cells)
			return WRIT_E_NOMEM;
		memset(cells + *cap * r->cols, 0, (ncap - *cap) * r->cols * sizeof(*cells));
		r->cells = cells;
		*cap = ncap;
	}
	row = &r->cells[r->rows * r->cols];
	r->rows++; /* counted now, so db_res_free frees a row cut short */
	for (c = 0; c < r->cols; c++) {
		const void *src;
		int type = sqlite3_column_type(st, (int)c);

		if (type == SQLITE_NULL)
			continue;
		/* integers and reals come back as their text, as PostgreSQL sends them */
		src = type == SQLITE_BLOB ? sqlite3_column_blob(st, (int)c) : sqlite3_column_text(st, (int)c);
		row[c].len = (size_t)sqlite3_column_bytes(st, (int)c);
		if (!src && row[c].len > 0)
			return WRIT_E_NOMEM;
		row[c].p = malloc(row[c].len + 1);
		if (!row[c].p)
			return WRIT_E_NOMEM;
		if (row[c].len > 0)
			memcpy(row[c].p, src, row[c].len);
		row[c].p[row[c].len] = 0;
	}
	return 0;
}

/* Whether the text after a prepared statement holds another statement (PostgreSQL
 * refuses several statements with parameters; so do we, on both engines). */
static int more_statements(struct db *db, const char *tail)
{
	sqlite3_stmt *next = NULL;
	int rc;

	if (!tail || !*tail)
		return 0;
	rc = sqlite3_prepare_v2(db->sq, tail, -1, &next, NULL); /* NULL: only blanks, comments, ';' */
	sqlite3_finalize(next);
	return rc != SQLITE_OK || next != NULL;
}

int dbsq_run(struct db *db, const char *sql, const struct db_param *params, size_t n, struct db_res **ret,
	     int64_t *ret_changes)
{
	sqlite3_stmt *st = NULL;
	struct db_res *res = NULL;
	const char *tail = NULL;
	sqlite3_int64 before;
	size_t cap = 0;
	int rc, err;

	rc = sqlite3_prepare_v2(db->sq, sql, -1, &st, &tail);
	if (rc != SQLITE_OK)
		return sq_fail(db, rc);
	if (more_statements(db, tail)) {
		db_set_err(db, "one statement at a time (db_exec_script runs several)");
		err = WRIT_E_INVAL;
		goto fail;
	}
	if ((size_t)(st ? sqlite3_bind_parameter_count(st) : 0) != n) {
		db_set_err(db, "statement has %d parameters, %zu given", st ? sqlite3_bind_parameter_count(st) : 0, n);
		err = WRIT_E_INVAL;
		goto fail;
	}
	if (st) {
		err = bind(db, st, params, n);
		if (err < 0)
			goto fail;
	}
	if (ret) {
		res = calloc(1, sizeof(*res));
		if (!res) {
			err = WRIT_E_NOMEM;
			goto fail;
		}
		res->kind = DB_SQLITE;
		res->cols = st ? (size_t)sqlite3_column_count(st) : 0;
	}
	before = sqlite3_total_changes64(db->sq);
	while (st && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (res) {
			err = fetch_row(res, st, &cap);
			if (err < 0) {
				db_set_err(db, "out of memory reading a result");
				goto fail;
			}
		}
	}
	if (st && rc != SQLITE_DONE) {
		err = sq_fail(db, rc);
		goto fail;
	}
	if (ret_changes)
		/* sqlite3_changes64 keeps the last INSERT/UPDATE/DELETE's count across other
		 * statements; a statement that changed nothing must say 0 */
		*ret_changes = sqlite3_total_changes64(db->sq) != before ? sqlite3_changes64(db->sq) : 0;
	sqlite3_finalize(st);
	if (ret)
		*ret = res;
	return 0;
fail:
	sqlite3_finalize(st);
	db_res_free(res);
	return err;
}

int dbsq_script(struct db *db, const char *sql)
{
	char *msg = NULL;
	int rc, err;

	rc = sqlite3_exec(db->sq, sql, NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		return 0;
	err = sq_fail(db, rc);
	if (msg)
		db_set_err(db, "%s", msg);
	sqlite3_free(msg);
	return err;
}

void dbsq_rollback(struct db *db)
{
	if (!db->sq || sqlite3_get_autocommit(db->sq))
		return;
	if (sqlite3_exec(db->sq, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
		db->broken = 1;
}

int dbsq_in_tx(struct db *db)
{
	return db->sq && !sqlite3_get_autocommit(db->sq);
}
