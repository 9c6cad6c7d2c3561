/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The engine-neutral half of lib/db: choosing the engine from the URL, the statement
 * and transaction calls (which keep the "a failed statement spoils the transaction"
 * rule identical on both engines), reading results, the `?` -> `$N` rewriting for
 * PostgreSQL, password redaction for logs, and the connection pool.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_engine.h"
#include "host/log.h"

/* libpq's protocol carries the parameter count in 16 bits. */
#define DB_PG_MAX_PARAMS 65535

void db_set_err(struct db *db, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	/* a long engine message is cut: it is for humans */
	(void)vsnprintf(db->err, sizeof(db->err), fmt, ap);
	va_end(ap);
	n = strlen(db->err);
	while (n > 0 && (db->err[n - 1] == '\n' || db->err[n - 1] == ' '))
		db->err[--n] = 0;
}

static int is_pg_url(const char *url)
{
	return strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0;
}

int db_open(const char *url, struct db **ret)
{
	struct db *db;
	char shown[512];
	int err;

	if (!url || !ret)
		return WRIT_E_INVAL;
	db = calloc(1, sizeof(*db));
	if (!db)
		return WRIT_E_NOMEM;
	if (strncmp(url, "sqlite:", 7) == 0 && url[7]) {
		db->kind = DB_SQLITE;
		err = dbsq_open(db, url + 7);
	} else if (is_pg_url(url)) {
		db->kind = DB_POSTGRES;
		err = dbpg_open(db, url);
	} else {
		db_set_err(db, "not a sqlite:PATH or postgresql:// URL");
		err = WRIT_E_INVAL;
	}
	if (err < 0) {
		(void)db_url_redact(url, shown, sizeof(shown));
		log_debug("db: cannot open %s: %s", shown, db->err);
		free(db); /* the engine closed what it had opened */
		return err;
	}
	*ret = db;
	return 0;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	if (db->kind == DB_SQLITE)
		dbsq_close(db);
	else
		dbpg_close(db);
	free(db);
}

enum db_kind db_kind(const struct db *db)
{
	return db->kind;
}

const char *db_errmsg(const struct db *db)
{
	return db ? db->err : "";
}

static int run(struct db *db, const char *sql, const struct db_param *params, size_t n, struct db_res **ret,
	       int64_t *ret_changes)
{
	int err;

	if (!db || !sql || (n > 0 && !params))
		return WRIT_E_INVAL;
	db->err[0] = 0;
	if (db->kind == DB_SQLITE)
		err = dbsq_run(db, sql, params, n, ret, ret_changes);
	else
		err = dbpg_run(db, sql, params, n, ret, ret_changes);
	if (err < 0 && db->in_tx)
		db->tx_failed = 1;
	return err;
}

int db_exec(struct db *db, const char *sql, const struct db_param *params, size_t n, int64_t *ret_changes)
{
	return run(db, sql, params, n, NULL, ret_changes);
}

int db_query(struct db *db, const char *sql, const struct db_param *params, size_t n, struct db_res **ret)
{
	if (!ret)
		return WRIT_E_INVAL;
	return run(db, sql, params, n, ret, NULL);
}

int db_exec_script(struct db *db, const char *sql)
{
	int err;

	if (!db || !sql)
		return WRIT_E_INVAL;
	db->err[0] = 0;
	err = db->kind == DB_SQLITE ? dbsq_script(db, sql) : dbpg_script(db, sql);
	if (err < 0 && db->in_tx)
		db->tx_failed = 1;
	return err;
}

int db_begin(struct db *db)
{
	int err;

	if (!db)
		return WRIT_E_INVAL;
	if (db->in_tx) {
		db_set_err(db, "a transaction is already open");
		return WRIT_E_STATE;
	}
	/* SQLite: take the write lock now, so two writers never deadlock on an upgrade */
	err = run(db, db->kind == DB_SQLITE ? "BEGIN IMMEDIATE" : "BEGIN ISOLATION LEVEL READ COMMITTED", NULL, 0,
		  NULL, NULL);
	if (err < 0)
		return err;
	db->in_tx = 1;
	db->tx_failed = 0;
	return 0;
}

void db_rollback(struct db *db)
{
	if (!db)
		return;
	if (db->kind == DB_SQLITE)
		dbsq_rollback(db);
	else
		dbpg_rollback(db);
	db->in_tx = 0;
	db->tx_failed = 0;
}

int db_commit(struct db *db)
{
	int err;

	if (!db)
		return WRIT_E_INVAL;
	if (db->tx_failed) {
		db_rollback(db);
		db_set_err(db, "a statement of the transaction failed: rolled back, not committed");
		return WRIT_E_STATE;
	}
	db->err[0] = 0;
	if (db->kind == DB_SQLITE)
		err = dbsq_run(db, "COMMIT", NULL, 0, NULL, NULL);
	else
		err = dbpg_commit(db);
	if (err < 0)
		db_rollback(db); /* SQLite keeps a transaction whose COMMIT was busy */
	db->in_tx = 0;
	db->tx_failed = 0;
	return err;
}

size_t db_rows(const struct db_res *r)
{
	return r ? r->rows : 0;
}

size_t db_cols(const struct db_res *r)
{
	return r ? r->cols : 0;
}

static int in_range(const struct db_res *r, size_t row, size_t col)
{
	return r && row < r->rows && col < r->cols;
}

int db_isnull(const struct db_res *r, size_t row, size_t col)
{
	if (!in_range(r, row, col))
		return 1;
	if (r->kind == DB_SQLITE)
		return r->cells[row * r->cols + col].p == NULL;
	return PQgetisnull(r->pg, (int)row, (int)col);
}

const char *db_text(const struct db_res *r, size_t row, size_t col)
{
	const unsigned char *p;

	if (!in_range(r, row, col))
		return "";
	if (r->kind == DB_POSTGRES)
		return PQgetvalue(r->pg, (int)row, (int)col); /* "" for NULL */
	p = r->cells[row * r->cols + col].p;
	return p ? (const char *)p : "";
}

int64_t db_int(const struct db_res *r, size_t row, size_t col)
{
	const char *s = db_text(r, row, col);
	char *end;
	long long v;

	if (!*s)
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return 0;
	return (int64_t)v;
}

const uint8_t *db_blob(const struct db_res *r, size_t row, size_t col, size_t *len)
{
	const struct db_cell *c;

	*len = 0;
	if (!in_range(r, row, col))
		return NULL;
	if (r->kind == DB_POSTGRES)
		return dbpg_blob(r, row, col, len);
	c = &r->cells[row * r->cols + col];
	*len = c->len;
	return c->p;
}

void db_res_free(struct db_res *r)
{
	size_t i;

	if (!r)
		return;
	if (r->kind == DB_SQLITE) {
		for (i = 0; i < r->rows * r->cols; i++)
			free(r->cells[i].p);
	} else {
		for (i = 0; r->cells && i < r->rows * r->cols; i++)
			if (r->cells[i].p)
				PQfreemem(r->cells[i].p);
		PQclear(r->pg);
	}
	free(r->cells);
	free(r);
}

/* End of a quoted string or identifier starting at s (the quote). A doubled quote is
 * an escaped one: it ends this scan and starts the next, which gives the same result. */
static size_t skip_quoted(const char *s)
{
	const char *e = strchr(s + 1, *s);

	return e ? (size_t)(e + 1 - s) : strlen(s);
}

/* End of a slash-star comment starting at s; PostgreSQL nests them. */
static size_t skip_block_comment(const char *s)
{
	size_t i = 2, depth = 1;

	while (s[i] && depth > 0) {
		if (s[i] == '/' && s[i + 1] == '*') {
			depth++;
			i += 2;
		} else if (s[i] == '*' && s[i + 1] == '/') {
			depth--;
			i += 2;
		} else {
			i++;
		}
	}
	return i;
}

/* One pass of the `?` -> `$N` rewriting: count the placeholders and the output length,
 * and write the output too when out is not NULL (it then has room for the length the
 * counting pass returned, plus the NUL). */
static size_t pg_rewrite(const char *sql, char *out, size_t *ret_count)
{
	size_t o = 0, count = 0, len;
	const char *s = sql;
	char num[24];

	while (*s) {
		if (*s == '?') {
			count++;
			len = (size_t)snprintf(num, sizeof(num), "$%zu", count);
			if (out)
				memcpy(out + o, num, len);
			o += len;
			s++;
			continue;
		}
		if (*s == '\'' || *s == '"')
			len = skip_quoted(s);
		else if (s[0] == '-' && s[1] == '-')
			len = strchr(s, '\n') ? (size_t)(strchr(s, '\n') + 1 - s) : strlen(s);
		else if (s[0] == '/' && s[1] == '*')
			len = skip_block_comment(s);
		else
			len = 1;
		if (out)
			memcpy(out + o, s, len);
		o += len;
		s += len;
	}
	*ret_count = count;
	return o;
}

int db_sql_to_pg(const char *sql, char **ret, size_t *ret_count)
{
	size_t count, len;
	char *out;

	if (!sql || !ret)
		return WRIT_E_INVAL;
	len = pg_rewrite(sql, NULL, &count);
	if (count > DB_PG_MAX_PARAMS)
		return WRIT_E_TOOBIG;
	out = malloc(len + 1);
	if (!out)
		return WRIT_E_NOMEM;
	(void)pg_rewrite(sql, out, &count);
	out[len] = 0;
	*ret = out;
	if (ret_count)
		*ret_count = count;
	return 0;
}

struct sbuf {
	char *p;
	size_t cap, len;
	int cut;
};

static void sbuf_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->cap == 0) {
		b->cut = 1;
		return;
	}
	if (n > b->cap - 1 - b->len) {
		n = b->cap - 1 - b->len;
		b->cut = 1;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

int db_url_redact(const char *url, char *out, size_t cap)
{
	struct sbuf b = { out, cap, 0, 0 };
	const char *auth, *auth_end, *at = NULL, *colon, *q, *s, *amp;

	if (cap > 0)
		out[0] = 0;
	if (!url)
		return 0;
	if (!is_pg_url(url)) { /* sqlite:PATH holds no secret */
		sbuf_put(&b, url, strlen(url));
		return b.cut ? WRIT_E_TOOBIG : 0;
	}
	auth = strstr(url, "://") + 3;
	auth_end = auth + strcspn(auth, "/?#");
	for (s = auth; s < auth_end; s++)
		if (*s == '@')
			at = s; /* the last one: an unencoded '@' in a password stays hidden */
	colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	if (colon) {
		sbuf_put(&b, url, (size_t)(colon + 1 - url));
		sbuf_put(&b, "***", 3);
		s = at;
	} else {
		s = url;
	}
	q = strchr(auth_end, '?');
	if (!q) {
		sbuf_put(&b, s, strlen(s));
		return b.cut ? WRIT_E_TOOBIG : 0;
	}
	sbuf_put(&b, s, (size_t)(q + 1 - s));
	for (s = q + 1; *s; s = amp) {
		amp = s + strcspn(s, "&#");
		if (strncmp(s, "password=", 9) == 0 && (size_t)(amp - s) >= 9) {
			sbuf_put(&b, "password=***", 12);
		} else {
			sbuf_put(&b, s, (size_t)(amp - s));
		}
		if (*amp)
			sbuf_put(&b, amp++, 1);
	}
	return b.cut ? WRIT_E_TOOBIG : 0;
}

struct db_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *url;
	unsigned size;
	unsigned lent;	  /* connections handed out (each counts, open or not) */
	unsigned nidle;	  /* open connections waiting in idle[] */
	struct db **idle; /* size slots; nidle + lent <= size */
};

int db_pool_new(const char *url, unsigned size, struct db_pool **ret)
{
	struct db_pool *p;

	if (!url || !ret || size == 0 || (!is_pg_url(url) && strncmp(url, "sqlite:", 7) != 0))
		return WRIT_E_INVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return WRIT_E_NOMEM;
	p->url = strdup(url);
	p->idle = calloc(size, sizeof(*p->idle));
	if (!p->url || !p->idle)
		goto fail;
	if (pthread_mutex_init(&p->mu, NULL) != 0)
		goto fail;
	if (pthread_cond_init(&p->cv, NULL) != 0) {
		pthread_mutex_destroy(&p->mu);
		goto fail;
	}
	p->size = size;
	*ret = p;
	return 0;
fail:
	free(p->idle);
	free(p->url);
	free(p);
	return WRIT_E_NOMEM;
}

/* Whether a connection taken from the idle list can be handed out as it is. */
static int usable(struct db *db)
{
	if (db->broken)
		return 0;
	return db->kind == DB_SQLITE || dbpg_alive(db);
}

int db_pool_get(struct db_pool *p, struct db **ret)
{
	struct db *db = NULL;
	int err;

	if (!p || !ret)
		return WRIT_E_INVAL;
	pthread_mutex_lock(&p->mu);
	while (p->lent == p->size)
		pthread_cond_wait(&p->cv, &p->mu);
	p->lent++;
	if (p->nidle > 0)
		db = p->idle[--p->nidle];
	pthread_mutex_unlock(&p->mu);

	/* checked and (re)opened outside the lock: a slow server blocks only this caller */
	if (db && !usable(db)) {
		log_debug("db: pool connection was broken (%s); reopening", db->err);
		db_close(db);
		db = NULL;
	}
	if (!db) {
		err = db_open(p->url, &db);
		if (err < 0) {
			pthread_mutex_lock(&p->mu);
			p->lent--;
			pthread_cond_signal(&p->cv);
			pthread_mutex_unlock(&p->mu);
			return err;
		}
	}
	*ret = db;
	return 0;
}

void db_pool_put(struct db_pool *p, struct db *db)
{
	if (!p || !db)
		return;
	if (db->in_tx || (db->kind == DB_SQLITE ? dbsq_in_tx(db) : dbpg_in_tx(db)))
		db_rollback(db);
	if (db->broken) {
		db_close(db);
		db = NULL;
	}
	pthread_mutex_lock(&p->mu);
	if (db)
		p->idle[p->nidle++] = db;
	p->lent--;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void db_pool_free(struct db_pool *p)
{
	unsigned i;

	if (!p)
		return;
	for (i = 0; i < p->nidle; i++)
		db_close(p->idle[i]);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->idle);
	free(p->url);
	free(p);
}
