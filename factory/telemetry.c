/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-factory's line telemetry: the stations' buckets stored in STATE/telemetry.db and
 * pushed to writ-cloud from a durable cursor. See telemetry.h.
 */
#include "factory/telemetry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "factory/csync.h"
#include "web/httpc.h"
#include "web/tele.h"

#define PUSH_RUN 32 /* buckets per POST /v1/sync/telemetry: 32 of at most ~1.5 KiB fit 64 KiB */

struct ftele {
	sqlite3 *db;
	pthread_mutex_t mu;
};

static const char schema[] =
	"PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
	"CREATE TABLE IF NOT EXISTS tele (seq INTEGER PRIMARY KEY AUTOINCREMENT, station TEXT NOT NULL,"
	" run TEXT NOT NULL, start INTEGER NOT NULL, item TEXT NOT NULL, UNIQUE (station, run, start));"
	"CREATE TABLE IF NOT EXISTS tele_meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
	"INSERT OR IGNORE INTO tele_meta (k, v) VALUES ('cloud_sent', 0);";

int ftele_open(const char *state_dir, struct ftele **ret)
{
	struct ftele *t = calloc(1, sizeof *t);
	char path[4096];

	if (!t)
		return WRIT_E_NOMEM;
	if (snprintf(path, sizeof path, "%s/telemetry.db", state_dir) >= (int)sizeof path) {
		free(t);
		return WRIT_E_INVAL;
	}
	if (sqlite3_open_v2(path, &t->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) !=
		    SQLITE_OK ||
	    sqlite3_busy_timeout(t->db, 5000) != SQLITE_OK || sqlite3_exec(t->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_close(t->db);
		free(t);
		return WRIT_E_IO;
	}
	pthread_mutex_init(&t->mu, NULL);
	*ret = t;
	return 0;
}

void ftele_close(struct ftele *t)
{
	if (!t)
		return;
	sqlite3_close(t->db);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

static json_t *err_json(const char *code, const char *msg)
{
	return json_pack("{s:s, s:s}", "error", msg, "code", code);
}

/* The stored item of (station, run, start) into *ret (malloc'd), or WRIT_E_NOTFOUND. */
static int item_get(struct ftele *t, const char *station, const char *run, int64_t start, char **ret)
{
	sqlite3_stmt *st = NULL;
	int rc = WRIT_E_IO, s;

	if (sqlite3_prepare_v2(t->db, "SELECT item FROM tele WHERE station = ? AND run = ? AND start = ?", -1, &st,
			       NULL) != SQLITE_OK)
		return WRIT_E_IO;
	sqlite3_bind_text(st, 1, station, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, run, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, start);
	s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		const char *t0 = (const char *)sqlite3_column_text(st, 0);
		*ret = t0 ? strdup(t0) : NULL;
		rc = *ret ? 0 : WRIT_E_NOMEM;
	} else if (s == SQLITE_DONE) {
		rc = WRIT_E_NOTFOUND;
	}
	sqlite3_finalize(st);
	return rc;
}

/* 1 when the stored item's bucket equals b. */
static int same_bucket(const char *item, const struct tele_bucket *b)
{
	json_t *o = json_loads(item, 0, NULL);
	struct tele_bucket sb;
	char why[8];
	int eq = 0;

	/* stored buckets were checked when they came; only their content matters here */
	if (o && tele_parse(json_object_get(o, "bucket"), b->start + b->window, 0, &sb, why, sizeof why) == 0)
		eq = tele_equal(&sb, b);
	json_decref(o);
	return eq;
}

unsigned ftele_post(struct ftele *t, const char *station, const char *line, const char *body, size_t len,
		    int64_t now, json_t **ret)
{
	struct tele_bucket *bs = NULL;
	json_t *o = NULL, *arr, *v;
	char why[200] = "", msg[256];
	size_t i, n, accepted = 0, dup = 0;
	unsigned status = 400;

	if (len > TELE_BODY_MAX) {
		*ret = err_json("too_big", "the body is larger than 64 KiB");
		return 413;
	}
	o = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, NULL);
	arr = json_object_get(o, "buckets");
	if (!json_is_object(o) || json_object_size(o) != 1 || !json_is_array(arr) || !(n = json_array_size(arr)) ||
	    n > TELE_BUCKETS_MAX) {
		(void)!snprintf(msg, sizeof msg, "the body is {\"buckets\": [1..%d buckets]} (docs/factory-api.md)",
				TELE_BUCKETS_MAX);
		*ret = err_json("bad_request", msg);
		goto out;
	}
	if (!(bs = calloc(n, sizeof *bs))) {
		status = 503;
		*ret = err_json("nomem", "out of memory");
		goto out;
	}
	json_array_foreach(arr, i, v) {
		if (tele_parse(v, now, TELE_PAST_MAX, &bs[i], why, sizeof why) < 0) {
			(void)!snprintf(msg, sizeof msg, "buckets[%zu]: %s", i, why);
			*ret = err_json("bad_request", msg);
			goto out;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(bs[j].run, bs[i].run) && bs[j].start == bs[i].start) {
				(void)!snprintf(msg, sizeof msg, "buckets[%zu]: the same run and start as buckets[%zu]", i, j);
				*ret = err_json("bad_request", msg);
				goto out;
			}
	}
	pthread_mutex_lock(&t->mu);
	status = 503;
	if (sqlite3_exec(t->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		pthread_mutex_unlock(&t->mu);
		*ret = err_json("store", "the telemetry store cannot be written");
		goto out;
	}
	for (i = 0; i < n; i++) {
		char *old = NULL, *item;
		sqlite3_stmt *st = NULL;
		json_t *it;
		int rc = item_get(t, station, bs[i].run, bs[i].start, &old);

		if (rc == 0) {
			int eq = same_bucket(old, &bs[i]);
			free(old);
			if (!eq) {
				status = 409;
				(void)!snprintf(msg, sizeof msg, "buckets[%zu]: this station already sent run %s start %lld with "
								 "other counts", i, bs[i].run, (long long)bs[i].start);
				*ret = err_json("conflict", msg);
				goto rollback;
			}
			dup++;
			continue;
		}
		if (rc != WRIT_E_NOTFOUND) {
			*ret = err_json("store", "the telemetry store cannot be read");
			goto rollback;
		}
		it = json_pack("{s:s, s:s, s:o}", "station", station, "line", line, "bucket", tele_json(&bs[i]));
		item = it ? json_dumps(it, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(it);
		if (!item || sqlite3_prepare_v2(t->db, "INSERT INTO tele (station, run, start, item) VALUES (?, ?, ?, ?)", -1,
						&st, NULL) != SQLITE_OK) {
			free(item);
			*ret = err_json("store", "the telemetry store cannot be written");
			goto rollback;
		}
		sqlite3_bind_text(st, 1, station, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, bs[i].run, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, bs[i].start);
		sqlite3_bind_text(st, 4, item, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		free(item);
		if (rc != SQLITE_DONE) {
			*ret = err_json("store", "the telemetry store cannot be written");
			goto rollback;
		}
		accepted++;
	}
	if (sqlite3_exec(t->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		*ret = err_json("store", "the telemetry store cannot be written");
		goto rollback;
	}
	pthread_mutex_unlock(&t->mu);
	status = 200;
	*ret = json_pack("{s:I, s:I}", "accepted", (json_int_t)accepted, "duplicate", (json_int_t)dup);
	goto out;
rollback:
	(void)sqlite3_exec(t->db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_unlock(&t->mu);
out:
	free(bs);
	json_decref(o);
	return status;
}

uint64_t ftele_queued(struct ftele *t)
{
	sqlite3_stmt *st = NULL;
	int64_t n = 0;

	if (!t)
		return 0;
	pthread_mutex_lock(&t->mu);
	if (sqlite3_prepare_v2(t->db, "SELECT count(*) FROM tele WHERE seq > (SELECT v FROM tele_meta WHERE k = 'cloud_sent')",
			       -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&t->mu);
	return (uint64_t)n;
}

/* The next run after the cursor as a body {"buckets":[items]}; *ret_last its last seq
 * (0: nothing to push). */
static int next_run(struct ftele *t, char **ret, int64_t *ret_last)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	int64_t last = 0;
	int rc = 0, s;

	if (!buf)
		return WRIT_E_NOMEM;
	len = (size_t)snprintf(buf, cap, "{\"buckets\":[");
	pthread_mutex_lock(&t->mu);
	if (sqlite3_prepare_v2(t->db, "SELECT seq, item FROM tele WHERE seq > (SELECT v FROM tele_meta WHERE k = 'cloud_sent')"
				      " ORDER BY seq LIMIT ?", -1, &st, NULL) != SQLITE_OK) {
		rc = WRIT_E_IO;
		goto out;
	}
	sqlite3_bind_int(st, 1, PUSH_RUN);
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		const char *item = (const char *)sqlite3_column_text(st, 1);
		size_t n;

		if (!item) {
			rc = WRIT_E_NOMEM;
			goto out;
		}
		n = strlen(item);
		if (len + n + 4 > cap) {
			char *nb;
			while (len + n + 4 > cap)
				cap *= 2;
			if (!(nb = realloc(buf, cap))) {
				rc = WRIT_E_NOMEM;
				goto out;
			}
			buf = nb;
		}
		if (last)
			buf[len++] = ',';
		memcpy(buf + len, item, n);
		len += n;
		last = sqlite3_column_int64(st, 0);
	}
	if (s != SQLITE_DONE)
		rc = WRIT_E_IO;
	memcpy(buf + len, "]}", 3);
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&t->mu);
	if (rc < 0 || !last) {
		free(buf);
		*ret_last = 0;
		return rc;
	}
	*ret = buf;
	*ret_last = last;
	return 0;
}

static int sent_set(struct ftele *t, int64_t seq)
{
	sqlite3_stmt *st = NULL;
	int rc = WRIT_E_IO;

	pthread_mutex_lock(&t->mu);
	if (sqlite3_prepare_v2(t->db, "UPDATE tele_meta SET v = ? WHERE k = 'cloud_sent' AND v < ?", -1, &st, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_int64(st, 1, seq);
		sqlite3_bind_int64(st, 2, seq);
		if (sqlite3_step(st) == SQLITE_DONE)
			rc = 0;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&t->mu);
	return rc;
}

int ftele_push(struct ftele *t, struct httpc *h, int (*stop)(void *arg), void *arg, char *err, size_t cap)
{
	while (!stop(arg)) {
		char *body = NULL;
		int64_t last = 0;
		enum csync_verdict v;
		int rc = next_run(t, &body, &last);

		if (rc < 0) {
			(void)!snprintf(err, cap, "the telemetry store cannot be read");
			return CSYNC_REFUSED;
		}
		if (!last)
			return 0;
		rc = httpc_request(h, "POST", "/v1/sync/telemetry", body, strlen(body), "application/json");
		free(body);
		v = rc == WRIT_E_TOOBIG || rc == WRIT_E_INVAL ? CSYNC_REFUSED
			: csync_classify(rc, rc < 0 ? 0 : httpc_status(h), rc < 0 ? "" : httpc_code(h));
		if (v != CSYNC_OK) {
			(void)!snprintf(err, cap, "POST /v1/sync/telemetry: HTTP %ld %s", httpc_status(h), httpc_error(h));
			return (int)v;
		}
		/* acknowledged: the cloud holds every bucket up to last (it dedups a repeat) */
		if (sent_set(t, last) < 0) {
			(void)!snprintf(err, cap, "the telemetry cursor cannot be written");
			return CSYNC_REFUSED;
		}
	}
	return 0;
}
