/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside lib/db: the connection and result structures shared by the common part
 * (db.c) and the two engines (db_sqlite.c, db_pg.c), and the calls db.c makes into an
 * engine. Not installed, not included outside lib/db.
 */
#ifndef WRIT_DB_DB_ENGINE_H
#define WRIT_DB_DB_ENGINE_H

#include <libpq-fe.h>
#include <sqlite3.h>

#include "db/db.h"

struct db {
	enum db_kind kind;
	int broken;    /* the connection is unusable: the pool reopens it */
	int in_tx;     /* db_begin opened a transaction not yet committed or rolled back */
	int tx_failed; /* a statement failed inside that transaction */
	sqlite3 *sq;
	PGconn *pg;
	char err[512];
};

/* One value copied out of SQLite (p NUL-terminated, NULL for SQL NULL), or one bytea
 * value PostgreSQL sent as text and db_blob decoded (p from PQunescapeBytea). */
struct db_cell {
	unsigned char *p;
	size_t len;
	int decoded; /* PostgreSQL cache: p is valid (possibly NULL for NULL) */
};

struct db_res {
	enum db_kind kind;
	size_t rows, cols;
	/* SQLite: rows * cols values. PostgreSQL: the bytea decode cache, allocated with
	 * the result when it has a bytea column, else NULL. */
	struct db_cell *cells;
	PGresult *pg;
};

/* Record the engine's message of the last failure (printf-style). */
void db_set_err(struct db *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Each engine: open into a zeroed db, close, run one statement (ret NULL: discard the
 * rows; ret_changes may be NULL), run a script, roll back an open transaction, say
 * whether a transaction is open. Errors as in db.h. */
int dbsq_open(struct db *db, const char *path);
void dbsq_close(struct db *db);
int dbsq_run(struct db *db, const char *sql, const struct db_param *params, size_t n, struct db_res **ret,
	     int64_t *ret_changes);
int dbsq_script(struct db *db, const char *sql);
void dbsq_rollback(struct db *db);
int dbsq_in_tx(struct db *db);

int dbpg_open(struct db *db, const char *url);
void dbpg_close(struct db *db);
int dbpg_run(struct db *db, const char *sql, const struct db_param *params, size_t n, struct db_res **ret,
	     int64_t *ret_changes);
int dbpg_script(struct db *db, const char *sql);
int dbpg_commit(struct db *db);
void dbpg_rollback(struct db *db);
int dbpg_in_tx(struct db *db);
/* Whether an idle connection still works, checked without a round trip (reads what
 * the server may have sent, e.g. its shutdown notice and the end of the stream). */
int dbpg_alive(struct db *db);
/* db_blob of a PostgreSQL result. */
const uint8_t *dbpg_blob(const struct db_res *r, size_t row, size_t col, size_t *len);

#endif
