/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One SQL interface over SQLite (the embedded default) and PostgreSQL (libpq), so
 * writ-cloud runs the same queries on both. Chosen by the URL given to db_open:
 *
 *   sqlite:PATH                 a SQLite file (WAL, busy timeout, foreign keys on)
 *   postgresql://...  or  postgres://...   any libpq connection URI
 *
 * Queries use `?` placeholders (rewritten to $1, $2 ... for PostgreSQL; a `?` inside a
 * quoted string literal is left alone) and only SQL both engines accept. Parameters are
 * typed: text, 64-bit integer, blob (bytea / BLOB), or NULL. Results are read by row
 * and column with typed getters. A connection is used by one thread at a time; a pool
 * hands connections to the HTTP threads.
 *
 * Transactions: db_begin opens a write transaction (SQLite: BEGIN IMMEDIATE, so two
 * writers never deadlock on an upgrade; PostgreSQL: BEGIN ... READ COMMITTED).
 * Serialization failures and deadlocks (PostgreSQL 40001 / 40P01, SQLite BUSY after
 * the timeout) are reported as WRIT_E_RETRY so the caller can run the transaction
 * again; constraint violations (unique, foreign key, check) as WRIT_E_EXISTS. Every
 * other failure is WRIT_E_IO with the engine's message in db_errmsg().
 *
 * Portable schemas: store blobs in BYTEA columns (PostgreSQL's type; SQLite gives the
 * name NUMERIC affinity, which never converts a blob) and integers in BIGINT. A DB_TEXT
 * parameter whose text is NULL binds SQL NULL. A statement that fails inside a
 * transaction opened by db_begin spoils it on both engines (PostgreSQL aborts it;
 * SQLite would otherwise commit the statements that succeeded): db_commit then rolls
 * it back and returns WRIT_E_STATE, so call db_rollback and run the whole transaction
 * again. A failed db_commit leaves no transaction open.
 */
#ifndef WRIT_DB_DB_H
#define WRIT_DB_DB_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

enum db_kind { DB_SQLITE = 1, DB_POSTGRES = 2 };

enum db_type { DB_NULL = 0, DB_TEXT, DB_INT, DB_BLOB };

struct db_param {
	enum db_type type;
	const char *text;	 /* DB_TEXT: NUL-terminated */
	int64_t i;		 /* DB_INT */
	const uint8_t *blob;	 /* DB_BLOB */
	size_t len;		 /* DB_BLOB */
};

/* Parameter constructors: db_query(db, sql, (struct db_param[]){DB_T("x"), DB_I(3)}, 2, &res) */
#define DB_T(s) ((struct db_param){ .type = DB_TEXT, .text = (s) })
#define DB_I(v) ((struct db_param){ .type = DB_INT, .i = (int64_t)(v) })
#define DB_B(p, n) ((struct db_param){ .type = DB_BLOB, .blob = (p), .len = (n) })
#define DB_N ((struct db_param){ .type = DB_NULL })

struct db;
struct db_res;
struct db_pool;

/* Open a connection. *ret is owned by the caller (db_close). A bad URL is
 * WRIT_E_INVAL; an unreachable server or unopenable file WRIT_E_IO (message in
 * db_errmsg of... nothing: it is logged by db_open with the URL's password masked). */
WRIT_MUST_CHECK int db_open(const char *url, struct db **ret);
void db_close(struct db *db);
enum db_kind db_kind(const struct db *db);
const char *db_errmsg(const struct db *db); /* the last failure's engine message */

/* Run a statement (no result rows expected; rows are discarded). *ret_changes (may be
 * NULL) gets the number of rows inserted/updated/deleted. */
WRIT_MUST_CHECK int db_exec(struct db *db, const char *sql, const struct db_param *params, size_t n,
			    int64_t *ret_changes);
/* Run several `;`-separated statements without parameters (schemas). PostgreSQL runs
 * them as one transaction, SQLite one by one: a script that must be all-or-nothing on
 * both engines says BEGIN ... COMMIT itself. */
WRIT_MUST_CHECK int db_exec_script(struct db *db, const char *sql);
/* Run a query; all rows are fetched into *ret (db_res_free). */
WRIT_MUST_CHECK int db_query(struct db *db, const char *sql, const struct db_param *params, size_t n,
			     struct db_res **ret);

size_t db_rows(const struct db_res *r);
size_t db_cols(const struct db_res *r);
int db_isnull(const struct db_res *r, size_t row, size_t col);
/* Text of a value ("" for NULL); integers come back in decimal. Valid until db_res_free. */
const char *db_text(const struct db_res *r, size_t row, size_t col);
int64_t db_int(const struct db_res *r, size_t row, size_t col); /* 0 for NULL or non-numeric */
/* A blob's bytes (NULL and *len 0 for NULL). Valid until db_res_free. */
const uint8_t *db_blob(const struct db_res *r, size_t row, size_t col, size_t *len);
void db_res_free(struct db_res *r);

/* Transactions. db_rollback is safe to call when no transaction is open. */
WRIT_MUST_CHECK int db_begin(struct db *db);
WRIT_MUST_CHECK int db_commit(struct db *db);
void db_rollback(struct db *db);

/* A fixed-size pool of connections to one URL, opened lazily; db_pool_get blocks until
 * one is free. A connection that failed with WRIT_E_IO is checked (and reopened) when
 * it is next taken, so a database restart heals without restarting the service. */
WRIT_MUST_CHECK int db_pool_new(const char *url, unsigned size, struct db_pool **ret);
WRIT_MUST_CHECK int db_pool_get(struct db_pool *p, struct db **ret);
void db_pool_put(struct db_pool *p, struct db *db);
void db_pool_free(struct db_pool *p); /* every connection must have been put back */

/* The `?` -> `$N` rewriting done for PostgreSQL, exposed for tests and the fuzzer. Each
 * `?` outside a '...' literal, a "..." identifier, a -- comment and a slash-star
 * comment becomes $1, $2 ... in order (E'...' and $$...$$ strings are PostgreSQL-only
 * SQL and are not recognised). *ret is a malloc'd NUL-terminated string the caller
 * frees; *ret_count the number of placeholders. Both written only on success.
 * WRIT_E_TOOBIG above 65535 placeholders (libpq's limit), WRIT_E_NOMEM. */
WRIT_MUST_CHECK int db_sql_to_pg(const char *sql, char **ret, size_t *ret_count);

/* Copy url into out (cap bytes, always NUL-terminated when cap > 0) with any password
 * (postgresql://user:PASSWORD@host, ?password=...) replaced by "***", for logs.
 * Returns 0, or WRIT_E_TOOBIG if out holds only a (still redacted) prefix. */
int db_url_redact(const char *url, char *out, size_t cap);

#endif
