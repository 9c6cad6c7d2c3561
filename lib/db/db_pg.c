/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PostgreSQL engine of lib/db, on libpq. Statements go out with PQexecParams after
 * the `?` -> `$N` rewriting: text parameters untyped (the server infers the type),
 * integers as int8 text, blobs as binary bytea. Results come back as text and are kept
 * as the PGresult; a bytea value is decoded from its "\x..." text when db_blob first
 * asks for it. SQLSTATEs become writ errors here, once; a connection that the server
 * closed or that failed at the protocol level is marked broken for the pool to reopen.
 */
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_engine.h"

/* Type OIDs from the server's catalog (src/include/catalog/pg_type.dat); stable. */
#define PG_OID_BYTEA 17
#define PG_OID_INT8 20

/* Notices (e.g. "table does not exist, skipping") are not errors; libpq would print
 * them on stderr, and library code does not write there. */
static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

int dbpg_open(struct db *db, const char *url)
{
	/* our defaults first: the URL's own settings, expanded from "dbname", win */
	static const char *const keys[] = { "client_encoding", "connect_timeout", "dbname", NULL };
	const char *values[] = { "UTF8", "10", url, NULL };

	db->pg = PQconnectdbParams(keys, values, 1);
	if (!db->pg) {
		db_set_err(db, "out of memory");
		return WRIT_E_NOMEM;
	}
	if (PQstatus(db->pg) != CONNECTION_OK) {
		db_set_err(db, "%s", PQerrorMessage(db->pg));
		PQfinish(db->pg);
		db->pg = NULL;
		return WRIT_E_IO;
	}
	PQsetNoticeProcessor(db->pg, quiet, NULL);
	return 0;
}

void dbpg_close(struct db *db)
{
	PQfinish(db->pg);
	db->pg = NULL;
}

static int is_state(const char *state, const char *want)
{
	return state && strcmp(state, want) == 0;
}

/* The writ error for a failed statement; res may be NULL (libpq out of memory). */
static int pg_fail(struct db *db, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (msg)
		db_set_err(db, "%s (SQLSTATE %s)", msg, state ? state : "?");
	else if (res && *PQresultErrorMessage(res))
		db_set_err(db, "%s", PQresultErrorMessage(res));
	else
		db_set_err(db, "%s", PQerrorMessage(db->pg));
	/* class 08: connection exception; 57P01..03: the server is shutting down or
	 * restarting and has ended (or refuses) this session */
	if (PQstatus(db->pg) != CONNECTION_OK || (state && strncmp(state, "08", 2) == 0) ||
	    is_state(state, "57P01") || is_state(state, "57P02") || is_state(state, "57P03")) {
		db->broken = 1;
		return WRIT_E_IO;
	}
	if (state && strncmp(state, "23", 2) == 0) /* integrity constraint violation */
		return WRIT_E_EXISTS;
	if (is_state(state, "40001") || is_state(state, "40P01")) /* serialization, deadlock */
		return WRIT_E_RETRY;
	return WRIT_E_IO;
}

static int ok_status(const PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	return res && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY);
}

/* Rows changed by an INSERT/UPDATE/DELETE (with or without RETURNING); 0 otherwise. */
static int64_t changes(PGresult *res)
{
	const char *n = PQcmdTuples(res);

	if (strncmp(PQcmdStatus(res), "SELECT", 6) == 0 || !*n)
		return 0;
	return (int64_t)strtoll(n, NULL, 10);
}

static int wrap(PGresult *pg, struct db_res **ret)
{
	struct db_res *r = calloc(1, sizeof(*r));
	size_t c, cells = 0;

	if (!r)
		return WRIT_E_NOMEM;
	r->kind = DB_POSTGRES;
	r->rows = (size_t)PQntuples(pg);
	r->cols = (size_t)PQnfields(pg);
	for (c = 0; c < r->cols; c++)
		if (PQftype(pg, (int)c) == PG_OID_BYTEA)
			cells = r->rows * r->cols;
	if (cells > 0) {
		r->cells = calloc(cells, sizeof(*r->cells));
		if (!r->cells) {
			free(r);
			return WRIT_E_NOMEM;
		}
	}
	r->pg = pg;
	*ret = r;
	return 0;
}

int dbpg_run(struct db *db, const char *sql, const struct db_param *params, size_t n, struct db_res **ret,
	     int64_t *ret_changes)
{
	const char **values = NULL;
	int *lengths = NULL, *formats = NULL;
	Oid *types = NULL;
	char (*ints)[24] = NULL;
	PGresult *res = NULL;
	char *q = NULL;
	size_t i, count;
	int err;

	err = db_sql_to_pg(sql, &q, &count);
	if (err < 0) {
		db_set_err(db, "%s", err == WRIT_E_TOOBIG ? "more than 65535 placeholders" : "out of memory");
		return err;
	}
	if (count != n) {
		db_set_err(db, "statement has %zu parameters, %zu given", count, n);
		err = WRIT_E_INVAL;
		goto out;
	}
	if (n > 0) {
		values = calloc(n, sizeof(*values));
		lengths = calloc(n, sizeof(*lengths));
		formats = calloc(n, sizeof(*formats));
		types = calloc(n, sizeof(*types));
		ints = calloc(n, sizeof(*ints));
		if (!values || !lengths || !formats || !types || !ints) {
			db_set_err(db, "out of memory");
			err = WRIT_E_NOMEM;
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		const struct db_param *p = &params[i];

		switch (p->type) {
		case DB_NULL:
			break;
		case DB_TEXT:
			values[i] = p->text; /* NULL text is SQL NULL */
			break;
		case DB_INT:
			(void)snprintf(ints[i], sizeof(ints[i]), "%" PRId64, p->i);
			values[i] = ints[i];
			types[i] = PG_OID_INT8;
			break;
		case DB_BLOB:
			if ((!p->blob && p->len > 0) || p->len > INT_MAX) {
				db_set_err(db, "parameter %zu: bad blob of %zu bytes", i + 1, p->len);
				err = p->len > INT_MAX ? WRIT_E_TOOBIG : WRIT_E_INVAL;
				goto out;
			}
			values[i] = p->blob ? (const char *)p->blob : ""; /* empty, not NULL */
			lengths[i] = (int)p->len;
			formats[i] = 1;
			types[i] = PG_OID_BYTEA;
			break;
		default:
			db_set_err(db, "parameter %zu: unknown type %d", i + 1, (int)p->type);
			err = WRIT_E_INVAL;
			goto out;
		}
	}
	res = PQexecParams(db->pg, q, (int)n, types, values, lengths, formats, 0);
	if (!ok_status(res)) {
		err = pg_fail(db, res);
		goto out;
	}
	if (ret_changes)
		*ret_changes = changes(res);
	if (ret) {
		err = wrap(res, ret);
		if (err < 0) {
			db_set_err(db, "out of memory");
			goto out;
		}
		res = NULL; /* owned by *ret now */
	}
	err = 0;
out:
	PQclear(res);
	free(ints);
	free(types);
	free(formats);
	free(lengths);
	free(values);
	free(q);
	return err;
}

int dbpg_script(struct db *db, const char *sql)
{
	PGresult *res = PQexec(db->pg, sql); /* several statements, one implicit transaction */
	int err = ok_status(res) ? 0 : pg_fail(db, res);

	PQclear(res);
	return err;
}

int dbpg_commit(struct db *db)
{
	PGresult *res = PQexec(db->pg, "COMMIT");
	int err = 0;

	if (!ok_status(res)) {
		err = pg_fail(db, res);
	} else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		/* the server answers COMMIT of an aborted transaction with ROLLBACK */
		db_set_err(db, "the transaction had failed and was rolled back");
		err = WRIT_E_STATE;
	}
	PQclear(res);
	return err;
}

void dbpg_rollback(struct db *db)
{
	PGTransactionStatusType ts = PQtransactionStatus(db->pg);
	PGresult *res;

	if (ts == PQTRANS_IDLE)
		return;
	if (ts != PQTRANS_INTRANS && ts != PQTRANS_INERROR) {
		db->broken = 1; /* the connection is gone, or busy with something we did not send */
		return;
	}
	res = PQexec(db->pg, "ROLLBACK");
	if (!ok_status(res))
		db->broken = 1;
	PQclear(res);
}

int dbpg_in_tx(struct db *db)
{
	PGTransactionStatusType ts = PQtransactionStatus(db->pg);

	return ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR;
}

int dbpg_alive(struct db *db)
{
	struct pollfd pfd = { .fd = PQsocket(db->pg), .events = POLLIN };
	PGnotify *note;
	int i;

	if (PQstatus(db->pg) != CONNECTION_OK || pfd.fd < 0)
		return 0;
	/* An idle session has nothing to read unless the server ended it: then there is
	 * its FATAL message (57P01 on a shutdown or pg_terminate_backend) and the end of
	 * the stream. PQconsumeInput reads what has arrived without blocking, one chunk a
	 * call; reading the end turns the status to CONNECTION_BAD. Bounded, in case the
	 * server keeps sending notices. */
	for (i = 0; i < 8 && poll(&pfd, 1, 0) > 0; i++) {
		if (!PQconsumeInput(db->pg) || PQstatus(db->pg) != CONNECTION_OK)
			return 0;
		while ((note = PQnotifies(db->pg)) != NULL)
			PQfreemem(note);
	}
	return PQtransactionStatus(db->pg) == PQTRANS_IDLE;
}

const uint8_t *dbpg_blob(const struct db_res *r, size_t row, size_t col, size_t *len)
{
	struct db_cell *c;
	size_t n = 0;

	*len = 0;
	if (PQgetisnull(r->pg, (int)row, (int)col))
		return NULL;
	if (PQftype(r->pg, (int)col) != PG_OID_BYTEA) {
		*len = (size_t)PQgetlength(r->pg, (int)row, (int)col);
		return (const uint8_t *)PQgetvalue(r->pg, (int)row, (int)col);
	}
	/* decoded once and kept in the result, so the pointer lives until db_res_free */
	c = &r->cells[row * r->cols + col];
	if (!c->decoded) {
		c->p = PQunescapeBytea((const unsigned char *)PQgetvalue(r->pg, (int)row, (int)col), &n);
		if (!c->p)
			return NULL;
		c->len = n;
		c->decoded = 1;
	}
	*len = c->len;
	return c->p;
}
