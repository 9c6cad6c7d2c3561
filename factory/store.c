/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SQLite store of writ-factory (store.h). SQLite's result codes are translated into
 * writ_err here and nowhere else: SQLITE_FULL, SQLITE_IOERR*, SQLITE_READONLY,
 * SQLITE_CANTOPEN and SQLITE_CORRUPT become WRIT_E_IO (the daemon answers 503),
 * constraint violations WRIT_E_EXISTS.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "base/ct.h"
#include "factory/store.h"
#include "host/file.h"
#include "host/log.h"

struct store {
	sqlite3 *db;
	pthread_mutex_t lock;
};

/* Schema 3: the writs pulled from writ-cloud, kept until loaded (or refused), so a
 * restart neither pulls them again nor forgets one the HSM did not take yet. */
#define CLOUD_WRITS_SQL \
	"CREATE TABLE cloud_writs(seq INTEGER PRIMARY KEY, id TEXT NOT NULL, hsm TEXT NOT NULL, kind TEXT NOT NULL," \
	" version_digest TEXT NOT NULL, sealed BLOB NOT NULL," \
	" state TEXT NOT NULL CHECK(state IN ('pending','loaded','refused')), reason TEXT NOT NULL DEFAULT ''," \
	" attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL DEFAULT 0, first_refused INTEGER NOT NULL DEFAULT 0," \
	" received INTEGER NOT NULL, done INTEGER);"

static const char schema[] =
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE stations(id INTEGER PRIMARY KEY, name TEXT NOT NULL, line TEXT NOT NULL,"
	" code_sha256 BLOB UNIQUE, created INTEGER NOT NULL, enrolled INTEGER, revoked INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE tokens(id INTEGER PRIMARY KEY, sha256 BLOB NOT NULL UNIQUE,"
	" role TEXT NOT NULL CHECK(role IN ('station','mes')), station_id INTEGER REFERENCES stations(id),"
	" created INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE bundles(version_digest BLOB PRIMARY KEY, product TEXT NOT NULL, version TEXT NOT NULL,"
	" fw_version INTEGER NOT NULL, firmware_sha256 BLOB NOT NULL, firmware_len INTEGER NOT NULL,"
	" fw_sig BLOB NOT NULL, sb_pub BLOB NOT NULL, debug_root_hash BLOB NOT NULL, settings TEXT NOT NULL,"
	" recipe TEXT NOT NULL, secrets TEXT NOT NULL, iterations INTEGER NOT NULL, has_iterations INTEGER NOT NULL,"
	" serial_prefix TEXT NOT NULL, loaded INTEGER NOT NULL);"
	"CREATE TABLE dacs(id INTEGER PRIMARY KEY, writ TEXT NOT NULL, uid TEXT NOT NULL,"
	" station_id INTEGER REFERENCES stations(id),"
	" state TEXT NOT NULL CHECK(state IN ('asking','issued','recorded','unknown')),"
	" hsm_id TEXT, hsm_seq INTEGER, device_serial INTEGER, dac_serial TEXT, dac_sha256 TEXT, csr_sha256 TEXT,"
	" dac BLOB, pai BLOB, record_seq INTEGER, created INTEGER NOT NULL, record_ok INTEGER, UNIQUE(writ, uid));"
	"CREATE TABLE records(seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, json TEXT NOT NULL,"
	" station_id INTEGER REFERENCES stations(id));"
	"CREATE TABLE webhook_queue(seq INTEGER PRIMARY KEY REFERENCES records(seq),"
	" attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL);"
	CLOUD_WRITS_SQL;

static int xlate(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW: return 0;
	case SQLITE_CONSTRAINT: return WRIT_E_EXISTS;
	case SQLITE_NOMEM: return WRIT_E_NOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return WRIT_E_STATE;
	default: return WRIT_E_IO; /* FULL, IOERR, READONLY, CANTOPEN, CORRUPT, NOTADB ... */
	}
}

static int exec(struct store *s, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		log_debug("store: %s: %s", sql, msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
	}
	return xlate(rc);
}

static int prep(struct store *s, const char *sql, sqlite3_stmt **st)
{
	int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);

	if (rc != SQLITE_OK)
		log_debug("store: prepare %s: %s", sql, sqlite3_errmsg(s->db));
	return xlate(rc);
}

static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : xlate(rc) ? xlate(rc) : WRIT_E_IO;
}

static void lock(struct store *s) { pthread_mutex_lock(&s->lock); }
static void unlock(struct store *s) { pthread_mutex_unlock(&s->lock); }

static int begin(struct store *s) { return exec(s, "BEGIN IMMEDIATE"); }
static int commit(struct store *s)
{
	int err = exec(s, "COMMIT");

	if (err < 0)
		(void)exec(s, "ROLLBACK");
	return err;
}
static void rollback(struct store *s) { (void)exec(s, "ROLLBACK"); }

int store_open(const char *path, int create, struct store **ret)
{
	struct store *s = calloc(1, sizeof(*s));
	int rc, err, v = 0;
	sqlite3_stmt *st = NULL;

	if (!s)
		return WRIT_E_NOMEM;
	pthread_mutex_init(&s->lock, NULL);
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_FULLMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		err = rc == SQLITE_CANTOPEN ? WRIT_E_NOTFOUND : xlate(rc);
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 5000);
	if ((err = exec(s, "PRAGMA journal_mode=WAL")) < 0 || (err = exec(s, "PRAGMA synchronous=FULL")) < 0 ||
	    (err = exec(s, "PRAGMA foreign_keys=ON")) < 0 || (err = exec(s, "PRAGMA temp_store=MEMORY")) < 0 ||
	    (err = exec(s, "PRAGMA journal_size_limit=0")) < 0)
		goto fail;
	if ((err = prep(s, "PRAGMA user_version", &st)) < 0)
		goto fail;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (create) {
		char sql[64];
		if (v != 0) {
			err = WRIT_E_EXISTS;
			goto fail;
		}
		(void)!snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", STORE_SCHEMA_VERSION);
		if ((err = begin(s)) < 0)
			goto fail;
		if ((err = exec(s, schema)) < 0 || (err = exec(s, sql)) < 0) {
			rollback(s);
			goto fail;
		}
		if ((err = commit(s)) < 0)
			goto fail;
	} else if (v >= 1 && v < STORE_SCHEMA_VERSION) {
		/* 1 -> 2: dacs.record_ok, the outcome of the record that closed the note (the
		 * canonical record JSON holds "result":"ok" only for an ok record: any text
		 * field has its quotes escaped). 2 -> 3: cloud_writs. One transaction. */
		if ((err = begin(s)) < 0)
			goto fail;
		if ((v < 2 && (err = exec(s, "ALTER TABLE dacs ADD COLUMN record_ok INTEGER;"
					     "UPDATE dacs SET record_ok = (SELECT instr(r.json, '\"result\":\"ok\"') > 0 "
					     "FROM records r WHERE r.seq = dacs.record_seq) WHERE state = 'recorded';")) < 0) ||
		    (err = exec(s, CLOUD_WRITS_SQL "PRAGMA user_version=3")) < 0) {
			rollback(s);
			goto fail;
		}
		if ((err = commit(s)) < 0)
			goto fail;
		log_info("store %s: schema upgraded from version %d to %d", path, v, STORE_SCHEMA_VERSION);
	} else if (v != STORE_SCHEMA_VERSION) {
		log_error("store %s has schema version %d; this writ-factory reads version %d", path, v,
			  STORE_SCHEMA_VERSION);
		err = WRIT_E_UNSUPPORTED;
		goto fail;
	}
	*ret = s;
	return 0;
fail:
	store_close(s);
	return err;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int store_meta_set(struct store *s, const char *key, const char *value)
{
	sqlite3_stmt *st;
	int err;

	lock(s);
	if ((err = prep(s, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", &st)) == 0) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
		err = step_done(st);
	}
	unlock(s);
	return err;
}

static int copy_text(sqlite3_stmt *st, int col, char *out, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	size_t n = t ? (size_t)sqlite3_column_bytes(st, col) : 0;

	if (n >= cap)
		return WRIT_E_TOOBIG;
	if (n)
		memcpy(out, t, n);
	out[n] = 0;
	return 0;
}

int store_meta_get(struct store *s, const char *key, char *out, size_t cap)
{
	sqlite3_stmt *st;
	int err;

	lock(s);
	if ((err = prep(s, "SELECT value FROM meta WHERE key = ?", &st)) == 0) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		err = sqlite3_step(st) == SQLITE_ROW ? copy_text(st, 0, out, cap) : WRIT_E_NOTFOUND;
		sqlite3_finalize(st);
	}
	unlock(s);
	return err;
}

int store_writable(struct store *s)
{
	int err;

	lock(s);
	err = exec(s, "BEGIN IMMEDIATE; INSERT OR REPLACE INTO meta(key, value) VALUES('probe', 'x'); COMMIT");
	if (err < 0)
		rollback(s);
	unlock(s);
	return err;
}

int store_station_add(struct store *s, const char *name, const char *line, const uint8_t code_sha[32],
		      int64_t *ret_id)
{
	sqlite3_stmt *st;
	int err;

	lock(s);
	if ((err = prep(s, "INSERT INTO stations(name, line, code_sha256, created) VALUES(?, ?, ?, ?)", &st)) == 0) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, line, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 3, code_sha, 32, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (int64_t)time(NULL));
		if ((err = step_done(st)) == 0)
			*ret_id = sqlite3_last_insert_rowid(s->db);
	}
	unlock(s);
	return err;
}

int store_station_list(struct store *s, void (*fn)(void *, int64_t, const char *, const char *, int, int), void *arg)
{
	sqlite3_stmt *st;
	int err;

	lock(s);
	if ((err = prep(s, "SELECT id, name, line, enrolled IS NOT NULL, revoked FROM stations ORDER BY id", &st)) == 0) {
		while (sqlite3_step(st) == SQLITE_ROW)
			fn(arg, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
			   (const char *)sqlite3_column_text(st, 2), sqlite3_column_int(st, 3), sqlite3_column_int(st, 4));
		sqlite3_finalize(st);
	}
	unlock(s);
	return err;
}

int store_station_seen(struct store *s, void (*fn)(void *, int64_t, const char *, const char *, int64_t), void *arg)
{
	sqlite3_stmt *st;
	int err;

	lock(s);
	if ((err = prep(s, "SELECT s.id, s.name, s.line, COALESCE(MAX(d.created), 0) FROM stations s"
			   " LEFT JOIN dacs d ON d.station_id = s.id"
			   " WHERE s.enrolled IS NOT NULL AND s.revoked = 0 GROUP BY s.id ORDER BY s.id",
			&st)) == 0) {
		while (sqlite3_step(st) == SQLITE_ROW)
			fn(arg, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
			   (const char *)sqlite3_column_text(st, 2), sqlite3_column_int64(st, 3));
		sqlite3_finalize(st);
	}
	unlock(s);
	return err;
}

int store_station_revoke(struct store *s, int64_t id)
{
	sqlite3_stmt *st;
	int err;

	lock(s);
	if ((err = begin(s)) < 0)
		goto out;
	if ((err = prep(s, "UPDATE stations SET revoked = 1, code_sha256 = NULL WHERE id = ?", &st)) == 0) {
		sqlite3_bind_int64(st, 1, id);
		err = step_done(st);
	}
	if (!err && sqlite3_changes(s->db) == 0)
		err = WRIT_E_NOTFOUND;
	if (!err && (err = prep(s, "UPDATE tokens SET revoked = 1 WHERE station_id = ?", &st)) == 0) {
		sqlite3_bind_int64(st, 1, id);
		err = step_done(st);
	}
	if (err < 0)
		rollback(s);
	else
		err = commit(s);
out:
	unlock(s);
	return err;
}

int store_token_add(struct store *s, const char *role, int64_t station, const uint8_t token_sha[32])
{
	sqlite3_stmt *st;
	int err;

	lock(s);
	if ((err = prep(s, "INSERT INTO tokens(sha256, role, station_id, created) VALUES(?, ?, ?, ?)", &st)) == 0) {
		sqlite3_bind_blob(st, 1, token_sha, 32, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, role, -1, SQLITE_STATIC);
		if (station > 0)
			sqlite3_bind_int64(st, 3, station);
		else
			sqlite3_bind_null(st, 3);
		sqlite3_bind_int64(st, 4, (int64_t)time(NULL));
		err = step_done(st);
	}
	unlock(s);
	return err;
}

int store_enrol(struct store *s, const uint8_t code_sha[32], const char *name, const char *line,
		const uint8_t token_sha[32], int64_t *ret_station)
{
	sqlite3_stmt *st = NULL;
	int64_t found = 0;
	int err, match_scope = 0;

	lock(s);
	if ((err = begin(s)) < 0)
		goto out;
	/* Every pending code is compared, in constant time, without an early exit. */
	if ((err = prep(s, "SELECT id, code_sha256, name, line FROM stations WHERE code_sha256 IS NOT NULL AND revoked = 0",
			&st)) < 0)
		goto fail;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const void *h = sqlite3_column_blob(st, 1);
		int eq = h && sqlite3_column_bytes(st, 1) == 32 && writ_ct_memeq(h, code_sha, 32);
		if (eq && !found) {
			found = sqlite3_column_int64(st, 0);
			match_scope = !strcmp((const char *)sqlite3_column_text(st, 2), name) &&
				      !strcmp((const char *)sqlite3_column_text(st, 3), line);
		}
	}
	sqlite3_finalize(st);
	if (!found) {
		err = WRIT_E_AUTH;
		goto fail;
	}
	if (!match_scope) {
		err = WRIT_E_SCOPE;
		goto fail;
	}
	if ((err = prep(s, "UPDATE stations SET code_sha256 = NULL, enrolled = ? WHERE id = ?", &st)) < 0)
		goto fail;
	sqlite3_bind_int64(st, 1, (int64_t)time(NULL));
	sqlite3_bind_int64(st, 2, found);
	if ((err = step_done(st)) < 0)
		goto fail;
	if ((err = prep(s, "INSERT INTO tokens(sha256, role, station_id, created) VALUES(?, 'station', ?, ?)", &st)) < 0)
		goto fail;
	sqlite3_bind_blob(st, 1, token_sha, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, found);
	sqlite3_bind_int64(st, 3, (int64_t)time(NULL));
	if ((err = step_done(st)) < 0)
		goto fail;
	if ((err = commit(s)) == 0)
		*ret_station = found;
	goto out;
fail:
	rollback(s);
out:
	unlock(s);
	return err;
}

int store_auth(struct store *s, const uint8_t token_sha[32], struct store_auth *ret)
{
	sqlite3_stmt *st;
	int err, found = 0, revoked = 0;

	memset(ret, 0, sizeof(*ret));
	lock(s);
	if ((err = prep(s, "SELECT t.sha256, t.role, t.station_id, t.revoked, coalesce(s.revoked, 0), "
			   "coalesce(s.name, ''), coalesce(s.line, '') FROM tokens t LEFT JOIN stations s "
			   "ON s.id = t.station_id", &st)) < 0)
		goto out;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const void *h = sqlite3_column_blob(st, 0);
		int eq = h && sqlite3_column_bytes(st, 0) == 32 && writ_ct_memeq(h, token_sha, 32);
		if (eq && !found) {
			found = 1;
			ret->mes = !strcmp((const char *)sqlite3_column_text(st, 1), "mes");
			ret->station = sqlite3_column_int64(st, 2);
			revoked = sqlite3_column_int(st, 3) || sqlite3_column_int(st, 4);
			(void)copy_text(st, 5, ret->name, sizeof(ret->name));
			(void)copy_text(st, 6, ret->line, sizeof(ret->line));
		}
	}
	sqlite3_finalize(st);
	err = !found ? WRIT_E_AUTH : revoked ? WRIT_E_REVOKED : 0;
out:
	unlock(s);
	return err;
}

/* ---- bundles ---- */

static void join_list(const char *base, size_t stride, size_t n, char *out, size_t cap)
{
	size_t i, len = 0;

	out[0] = 0;
	for (i = 0; i < n; i++) {
		const char *item = base + i * stride;
		int w = snprintf(out + len, cap - len, "%s%s", i ? "," : "", item);
		if (w < 0 || (size_t)w >= cap - len)
			return;
		len += (size_t)w;
	}
}

static void split_list(const char *in, char *base, size_t stride, size_t max, size_t *ret_n)
{
	size_t n = 0, len;
	const char *p = in, *end;

	while (*p && n < max) {
		end = strchr(p, ',');
		len = end ? (size_t)(end - p) : strlen(p);
		if (len >= stride)
			len = stride - 1;
		memcpy(base + n * stride, p, len);
		base[n * stride + len] = 0;
		n++;
		p += end ? (size_t)(end - p) + 1 : strlen(p);
	}
	*ret_n = n;
}

int store_bundle_put(struct store *s, const struct bundle *b)
{
	char recipe[BUNDLE_RECIPE_MAX * BUNDLE_STEP_MAX], secrets[BUNDLE_SECRETS_MAX * (BUNDLE_LABEL_MAX + 2)];
	sqlite3_stmt *st;
	int err;

	join_list(&b->recipe[0][0], BUNDLE_STEP_MAX, b->n_steps, recipe, sizeof(recipe));
	join_list(&b->secrets[0][0], BUNDLE_LABEL_MAX + 1, b->n_secrets, secrets, sizeof(secrets));
	lock(s);
	if ((err = prep(s, "INSERT OR IGNORE INTO bundles VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", &st)) == 0) {
		sqlite3_bind_blob(st, 1, b->version_digest, 32, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, b->product, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, b->version, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, b->fw_version);
		sqlite3_bind_blob(st, 5, b->firmware_digest, 32, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, (int64_t)b->firmware_len);
		sqlite3_bind_blob(st, 7, b->fw_sig, sizeof(b->fw_sig), SQLITE_STATIC);
		sqlite3_bind_blob(st, 8, b->sb_pub, sizeof(b->sb_pub), SQLITE_STATIC);
		sqlite3_bind_blob(st, 9, b->debug_root_hash, sizeof(b->debug_root_hash), SQLITE_STATIC);
		sqlite3_bind_text(st, 10, b->settings, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 11, recipe, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 12, secrets, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 13, b->iterations);
		sqlite3_bind_int(st, 14, b->has_iterations);
		sqlite3_bind_text(st, 15, b->serial_prefix, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 16, (int64_t)time(NULL));
		err = step_done(st);
	}
	unlock(s);
	return err;
}

static int blob(sqlite3_stmt *st, int col, uint8_t *out, size_t n)
{
	if ((size_t)sqlite3_column_bytes(st, col) != n || !sqlite3_column_blob(st, col))
		return WRIT_E_FORMAT;
	memcpy(out, sqlite3_column_blob(st, col), n);
	return 0;
}

int store_bundle_get(struct store *s, const uint8_t *digest, const char *product, struct bundle *b)
{
	sqlite3_stmt *st;
	char buf[BUNDLE_RECIPE_MAX * BUNDLE_STEP_MAX + 1];
	int err;

	memset(b, 0, sizeof(*b));
	lock(s);
	err = prep(s, digest ? "SELECT * FROM bundles WHERE version_digest = ?"
			     : "SELECT * FROM bundles WHERE product = ? ORDER BY loaded DESC, rowid DESC LIMIT 1", &st);
	if (err < 0)
		goto out;
	if (digest)
		sqlite3_bind_blob(st, 1, digest, 32, SQLITE_STATIC);
	else
		sqlite3_bind_text(st, 1, product, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		err = WRIT_E_NOTFOUND;
	} else if ((err = blob(st, 0, b->version_digest, 32)) == 0 &&
		   (err = copy_text(st, 1, b->product, sizeof(b->product))) == 0 &&
		   (err = copy_text(st, 2, b->version, sizeof(b->version))) == 0 &&
		   (err = blob(st, 4, b->firmware_digest, 32)) == 0 &&
		   (err = blob(st, 6, b->fw_sig, sizeof(b->fw_sig))) == 0 &&
		   (err = blob(st, 7, b->sb_pub, sizeof(b->sb_pub))) == 0 &&
		   (err = blob(st, 8, b->debug_root_hash, sizeof(b->debug_root_hash))) == 0 &&
		   (err = copy_text(st, 9, b->settings, sizeof(b->settings))) == 0 &&
		   (err = copy_text(st, 10, buf, sizeof(buf))) == 0) {
		b->fw_version = (uint32_t)sqlite3_column_int64(st, 3);
		b->firmware_len = (size_t)sqlite3_column_int64(st, 5);
		split_list(buf, &b->recipe[0][0], BUNDLE_STEP_MAX, BUNDLE_RECIPE_MAX, &b->n_steps);
		if ((err = copy_text(st, 11, buf, sizeof(buf))) == 0)
			split_list(buf, &b->secrets[0][0], BUNDLE_LABEL_MAX + 1, BUNDLE_SECRETS_MAX, &b->n_secrets);
		b->iterations = (uint32_t)sqlite3_column_int64(st, 12);
		b->has_iterations = sqlite3_column_int(st, 13);
		if (!err)
			err = copy_text(st, 14, b->serial_prefix, sizeof(b->serial_prefix));
	}
	sqlite3_finalize(st);
out:
	unlock(s);
	return err;
}

/* ---- DAC notes ---- */

int store_dac_begin(struct store *s, const char *writ, const char *uid, int64_t station, const char *csr_sha,
		    int64_t *ret_note, int *ret_dup, int *ret_retake)
{
	sqlite3_stmt *st;
	int err, move = 0;
	int64_t from = 0;

	*ret_dup = 0;
	*ret_retake = 0;
	lock(s);
	if ((err = begin(s)) < 0)
		goto out;
	if ((err = prep(s, "SELECT id, state, csr_sha256, coalesce(station_id, 0), coalesce(record_ok, 0) FROM dacs "
			   "WHERE writ = ? AND uid = ?", &st)) < 0)
		goto fail;
	sqlite3_bind_text(st, 1, writ, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, uid, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *state = (const char *)sqlite3_column_text(st, 1);
		const char *csr = (const char *)sqlite3_column_text(st, 2);
		int64_t id = sqlite3_column_int64(st, 0);
		from = sqlite3_column_int64(st, 3);
		if (!strcmp(state, "asking")) {
			err = WRIT_E_STATE;
		} else if (!strcmp(state, "unknown")) {
			*ret_note = id; /* retake an interrupted request: the HSM decides */
			*ret_retake = 1;
		} else if (csr && !strcmp(csr, csr_sha)) {
			*ret_note = id;
			*ret_dup = 1;
			/* Another station resumes a device whose DAC is not recorded ok (its
			 * first station crashed, or recorded it failed): the note follows the
			 * device, so the resuming station may record it. */
			move = from != station &&
			       (!strcmp(state, "issued") || (!strcmp(state, "recorded") && !sqlite3_column_int(st, 4)));
		} else {
			err = WRIT_E_REPLAY;
		}
		sqlite3_finalize(st);
		if (err < 0 || (*ret_dup && !move))
			goto fail; /* nothing to write */
		if (*ret_dup) {
			if ((err = prep(s, "UPDATE dacs SET station_id = ? WHERE id = ?", &st)) < 0)
				goto fail;
			sqlite3_bind_int64(st, 1, station);
			sqlite3_bind_int64(st, 2, *ret_note);
			if ((err = step_done(st)) < 0 || (err = commit(s)) < 0)
				goto fail_dup;
			log_info("DAC note of uid %s under writ %s moved from station %lld to station %lld (resumed there)", uid,
				 writ, (long long)from, (long long)station);
			goto out;
		}
		if ((err = prep(s, "UPDATE dacs SET state = 'asking', station_id = ?, csr_sha256 = ? WHERE id = ?", &st)) < 0)
			goto fail;
		sqlite3_bind_int64(st, 1, station);
		sqlite3_bind_text(st, 2, csr_sha, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, *ret_note);
		if ((err = step_done(st)) < 0)
			goto fail;
	} else {
		sqlite3_finalize(st);
		if ((err = prep(s, "INSERT INTO dacs(writ, uid, station_id, state, csr_sha256, created) "
				   "VALUES(?, ?, ?, 'asking', ?, ?)", &st)) < 0)
			goto fail;
		sqlite3_bind_text(st, 1, writ, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, uid, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, station);
		sqlite3_bind_text(st, 4, csr_sha, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, (int64_t)time(NULL));
		if ((err = step_done(st)) < 0)
			goto fail;
		*ret_note = sqlite3_last_insert_rowid(s->db);
	}
	err = commit(s);
	goto out;
fail_dup:
	*ret_dup = 0;
fail:
	rollback(s);
out:
	unlock(s);
	return err;
}

int store_dac_issued(struct store *s, int64_t note, const struct store_dac *d)
{
	sqlite3_stmt *st;
	int err;

	lock(s);
	if ((err = prep(s, "UPDATE dacs SET state = 'issued', hsm_id = ?, hsm_seq = ?, device_serial = ?, "
			   "dac_serial = ?, dac_sha256 = ?, dac = ?, pai = ? WHERE id = ? AND state = 'asking'", &st)) == 0) {
		sqlite3_bind_text(st, 1, d->hsm_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (int64_t)d->hsm_seq);
		sqlite3_bind_int64(st, 3, (int64_t)d->device_serial);
		sqlite3_bind_text(st, 4, d->dac_serial, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, d->dac_sha256, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 6, d->dac, (int)d->dac_len, SQLITE_STATIC);
		sqlite3_bind_blob(st, 7, d->pai, (int)d->pai_len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 8, note);
		err = step_done(st);
		if (!err && sqlite3_changes(s->db) != 1)
			err = WRIT_E_STATE;
	}
	unlock(s);
	return err;
}

static int dac_set(struct store *s, int64_t note, const char *sql)
{
	sqlite3_stmt *st;
	int err;

	lock(s);
	if ((err = prep(s, sql, &st)) == 0) {
		sqlite3_bind_int64(st, 1, note);
		err = step_done(st);
	}
	unlock(s);
	return err;
}

int store_dac_abort(struct store *s, int64_t note, int retake)
{
	/* A retaken 'unknown' note goes back to 'unknown': the interrupted request may have
	 * been issued (the HSM's refusal of the retry does not say it was not). */
	return dac_set(s, note, retake ? "UPDATE dacs SET state = 'unknown' WHERE id = ? AND state = 'asking'"
				       : "DELETE FROM dacs WHERE id = ? AND state = 'asking'");
}

int store_dac_unknown(struct store *s, int64_t note)
{
	return dac_set(s, note, "UPDATE dacs SET state = 'unknown' WHERE id = ? AND state = 'asking'");
}

int store_dac_recover(struct store *s, int *ret_n)
{
	int err;

	lock(s);
	err = exec(s, "UPDATE dacs SET state = 'unknown' WHERE state = 'asking'");
	*ret_n = err ? 0 : sqlite3_changes(s->db);
	unlock(s);
	return err;
}

int store_dac_get(struct store *s, const char *writ, const char *uid, struct store_dac *d)
{
	sqlite3_stmt *st;
	int err;

	memset(d, 0, sizeof(*d));
	lock(s);
	if ((err = prep(s, "SELECT id, state, coalesce(hsm_id,''), coalesce(hsm_seq,0), coalesce(device_serial,0), "
			   "coalesce(dac_serial,''), coalesce(dac_sha256,''), dac, coalesce(station_id,0), pai, "
			   "coalesce(record_seq,0), coalesce(record_ok,0) FROM dacs "
			   "WHERE writ = ? AND uid = ?", &st)) < 0)
		goto out;
	sqlite3_bind_text(st, 1, writ, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, uid, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		err = WRIT_E_NOTFOUND;
	} else {
		const char *state = (const char *)sqlite3_column_text(st, 1);
		d->id = sqlite3_column_int64(st, 0);
		d->issued = !strcmp(state, "issued") || !strcmp(state, "recorded");
		d->recorded = !strcmp(state, "recorded");
		d->hsm_seq = (uint64_t)sqlite3_column_int64(st, 3);
		d->device_serial = (uint64_t)sqlite3_column_int64(st, 4);
		d->station = sqlite3_column_int64(st, 8);
		d->record_seq = (uint64_t)sqlite3_column_int64(st, 10);
		d->record_ok = d->recorded && sqlite3_column_int(st, 11);
		(void)!snprintf(d->writ, sizeof(d->writ), "%s", writ);
		(void)!snprintf(d->uid, sizeof(d->uid), "%s", uid);
		if ((err = copy_text(st, 2, d->hsm_id, sizeof(d->hsm_id))) == 0 &&
		    (err = copy_text(st, 5, d->dac_serial, sizeof(d->dac_serial))) == 0 &&
		    (err = copy_text(st, 6, d->dac_sha256, sizeof(d->dac_sha256))) == 0 && sqlite3_column_bytes(st, 7) > 0) {
			d->dac_len = (size_t)sqlite3_column_bytes(st, 7);
			d->dac = malloc(d->dac_len);
			if (!d->dac)
				err = WRIT_E_NOMEM;
			else
				memcpy(d->dac, sqlite3_column_blob(st, 7), d->dac_len);
		}
		if (!err && sqlite3_column_bytes(st, 9) > 0) {
			d->pai_len = (size_t)sqlite3_column_bytes(st, 9);
			d->pai = malloc(d->pai_len);
			if (!d->pai)
				err = WRIT_E_NOMEM;
			else
				memcpy(d->pai, sqlite3_column_blob(st, 9), d->pai_len);
		}
	}
	sqlite3_finalize(st);
out:
	unlock(s);
	return err;
}

int store_dac_find_uid(struct store *s, const char *uid, char ret_writ[33], uint64_t *ret_serial)
{
	sqlite3_stmt *st;
	int err;

	lock(s);
	if ((err = prep(s, "SELECT writ, coalesce(device_serial, 0) FROM dacs WHERE uid = ? AND state IN ('issued', "
			   "'recorded') ORDER BY id DESC LIMIT 1", &st)) < 0)
		goto out;
	sqlite3_bind_text(st, 1, uid, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		err = WRIT_E_NOTFOUND;
	} else if ((err = copy_text(st, 0, ret_writ, 33)) == 0) {
		*ret_serial = (uint64_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
out:
	unlock(s);
	return err;
}

void store_dac_clear(struct store_dac *d)
{
	if (!d)
		return;
	free(d->dac);
	free(d->pai);
	d->dac = d->pai = NULL;
	d->dac_len = d->pai_len = 0;
}

/* ---- records ---- */

/* Close note with record seq, inside the caller's transaction. An ok record closes a
 * note of this station that is issued, or recorded by a failed record (it is then
 * re-pointed to the ok record); a failed record closes only an issued note of this
 * station. Returns 1 when closed, 0 when not, or an error. */
static int note_close(struct store *s, int64_t note, int64_t station, int ok, uint64_t seq)
{
	sqlite3_stmt *st;
	int err;

	if ((err = prep(s, ok ? "UPDATE dacs SET state = 'recorded', record_seq = ?, record_ok = 1 WHERE id = ? AND "
				"station_id = ? AND (state = 'issued' OR (state = 'recorded' AND coalesce(record_ok, 0) = 0))"
			      : "UPDATE dacs SET state = 'recorded', record_seq = ?, record_ok = 0 WHERE id = ? AND "
				"station_id = ? AND state = 'issued'", &st)) < 0)
		return err;
	sqlite3_bind_int64(st, 1, (int64_t)seq);
	sqlite3_bind_int64(st, 2, note);
	sqlite3_bind_int64(st, 3, station);
	if ((err = step_done(st)) < 0)
		return err;
	return sqlite3_changes(s->db) == 1;
}

int store_record_append(struct store *s, struct rec_fields *f, int64_t station, int64_t note, int queue,
			uint64_t *ret_seq)
{
	char prev[REC_HASH_HEX], hash[REC_HASH_HEX], *json = NULL;
	sqlite3_stmt *st;
	uint64_t seq = 1;
	int err, closed;

	memset(prev, '0', 64);
	prev[64] = 0;
	lock(s);
	if ((err = begin(s)) < 0)
		goto out;
	if ((err = prep(s, "SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1", &st)) < 0)
		goto fail;
	if (sqlite3_step(st) == SQLITE_ROW) {
		seq = (uint64_t)sqlite3_column_int64(st, 0) + 1;
		err = copy_text(st, 1, prev, sizeof(prev));
	}
	sqlite3_finalize(st);
	if (err < 0)
		goto fail;
	/* The note first, in this transaction: of two ok records for one device, posted at
	 * once, only one closes it; the other is answered as the duplicate it is. */
	if (note > 0) {
		if ((closed = note_close(s, note, station, f->ok, seq)) < 0) {
			err = closed;
			goto fail;
		}
		if (!closed && f->ok) {
			int rec_ok = 0;
			if ((err = prep(s, "SELECT coalesce(record_seq, 0), state = 'recorded' AND coalesce(record_ok, 0) = 1 "
					   "FROM dacs WHERE id = ?", &st)) < 0)
				goto fail;
			sqlite3_bind_int64(st, 1, note);
			if (sqlite3_step(st) == SQLITE_ROW) {
				*ret_seq = (uint64_t)sqlite3_column_int64(st, 0);
				rec_ok = sqlite3_column_int(st, 1);
			}
			sqlite3_finalize(st);
			err = rec_ok ? WRIT_E_EXISTS : WRIT_E_SCOPE;
			goto fail;
		}
		if (!closed) { /* a failed record that may not close the note: it names no DAC */
			f->device_serial = 0;
			f->hsm_seq = 0;
			f->dac_serial[0] = f->dac_sha256[0] = f->hsm_id[0] = 0;
		}
	}
	if ((err = rec_build(f, seq, prev, &json, hash)) < 0)
		goto fail;
	if ((err = prep(s, "INSERT INTO records(seq, hash, json, station_id) VALUES(?, ?, ?, ?)", &st)) < 0)
		goto fail;
	sqlite3_bind_int64(st, 1, (int64_t)seq);
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, json, -1, SQLITE_STATIC);
	if (station > 0)
		sqlite3_bind_int64(st, 4, station);
	else
		sqlite3_bind_null(st, 4);
	if ((err = step_done(st)) < 0)
		goto fail;
	if (queue) {
		if ((err = prep(s, "INSERT INTO webhook_queue(seq, next_at) VALUES(?, 0)", &st)) < 0)
			goto fail;
		sqlite3_bind_int64(st, 1, (int64_t)seq);
		if ((err = step_done(st)) < 0)
			goto fail;
	}
	if ((err = commit(s)) == 0)
		*ret_seq = seq;
	goto out;
fail:
	rollback(s);
out:
	unlock(s);
	free(json);
	return err;
}

int store_writ_pai(struct store *s, const char *writ, uint8_t *out, size_t cap, size_t *ret_len)
{
	sqlite3_stmt *st;
	int err;

	lock(s);
	if ((err = prep(s, "SELECT pai FROM dacs WHERE writ = ? AND pai IS NOT NULL AND length(pai) > 0 "
			   "ORDER BY id LIMIT 1", &st)) == 0) {
		sqlite3_bind_text(st, 1, writ, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_ROW)
			err = WRIT_E_NOTFOUND;
		else if ((size_t)sqlite3_column_bytes(st, 0) > cap)
			err = WRIT_E_TOOBIG;
		else {
			*ret_len = (size_t)sqlite3_column_bytes(st, 0);
			memcpy(out, sqlite3_column_blob(st, 0), *ret_len);
		}
		sqlite3_finalize(st);
	}
	unlock(s);
	return err;
}

int store_token_list(struct store *s, void (*fn)(void *, int64_t, const char *, int64_t, int64_t, int), void *arg)
{
	sqlite3_stmt *st;
	int err;

	lock(s);
	if ((err = prep(s, "SELECT id, role, coalesce(station_id, 0), created, revoked FROM tokens ORDER BY id", &st)) == 0) {
		while (sqlite3_step(st) == SQLITE_ROW)
			fn(arg, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
			   sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3), sqlite3_column_int(st, 4));
		sqlite3_finalize(st);
	}
	unlock(s);
	return err;
}

int store_token_revoke(struct store *s, int64_t id)
{
	sqlite3_stmt *st;
	int err;

	lock(s);
	if ((err = prep(s, "UPDATE tokens SET revoked = 1 WHERE id = ? AND role = 'mes'", &st)) == 0) {
		sqlite3_bind_int64(st, 1, id);
		err = step_done(st);
		if (!err && sqlite3_changes(s->db) != 1)
			err = WRIT_E_NOTFOUND;
	}
	unlock(s);
	return err;
}

int store_records(struct store *s, uint64_t since, uint64_t limit, int (*fn)(void *, uint64_t, const char *),
		  void *arg)
{
	sqlite3_stmt *st;
	int err;

	lock(s);
	if ((err = prep(s, "SELECT seq, json FROM records WHERE seq > ? ORDER BY seq LIMIT ?", &st)) == 0) {
		sqlite3_bind_int64(st, 1, (int64_t)since);
		sqlite3_bind_int64(st, 2, (int64_t)limit);
		while (!err && sqlite3_step(st) == SQLITE_ROW)
			err = fn(arg, (uint64_t)sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1));
		sqlite3_finalize(st);
	}
	unlock(s);
	return err;
}

int store_counts(struct store *s, uint64_t *ret_records, uint64_t *ret_queue, uint64_t *ret_pending)
{
	sqlite3_stmt *st;
	int err;

	lock(s);
	if ((err = prep(s, "SELECT (SELECT count(*) FROM records), (SELECT count(*) FROM webhook_queue), "
			   "(SELECT count(*) FROM dacs WHERE state IN ('asking','issued','unknown'))", &st)) == 0) {
		if (sqlite3_step(st) == SQLITE_ROW) {
			*ret_records = (uint64_t)sqlite3_column_int64(st, 0);
			*ret_queue = (uint64_t)sqlite3_column_int64(st, 1);
			*ret_pending = (uint64_t)sqlite3_column_int64(st, 2);
		} else {
			err = WRIT_E_IO;
		}
		sqlite3_finalize(st);
	}
	unlock(s);
	return err;
}

int store_dac_counts(struct store *s, void (*fn)(void *arg, const char *writ, const char *state, uint64_t n),
		     void *arg)
{
	sqlite3_stmt *st;
	int err, rc;

	lock(s);
	if ((err = prep(s, "SELECT writ, state, count(*) FROM dacs GROUP BY writ, state ORDER BY writ, state", &st)) == 0) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			fn(arg, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
			   (uint64_t)sqlite3_column_int64(st, 2));
		if (rc != SQLITE_DONE)
			err = WRIT_E_IO;
		sqlite3_finalize(st);
	}
	unlock(s);
	return err;
}

int store_queue_next(struct store *s, int64_t now, uint64_t *ret_seq, char **ret_json, unsigned *ret_attempts)
{
	sqlite3_stmt *st;
	int err;

	lock(s);
	if ((err = prep(s, "SELECT q.seq, q.attempts, r.json FROM webhook_queue q JOIN records r ON r.seq = q.seq "
			   "WHERE q.next_at <= ? ORDER BY q.seq LIMIT 1", &st)) == 0) {
		sqlite3_bind_int64(st, 1, now);
		if (sqlite3_step(st) == SQLITE_ROW) {
			*ret_seq = (uint64_t)sqlite3_column_int64(st, 0);
			*ret_attempts = (unsigned)sqlite3_column_int(st, 1);
			*ret_json = strdup((const char *)sqlite3_column_text(st, 2));
			err = *ret_json ? 0 : WRIT_E_NOMEM;
		} else {
			err = WRIT_E_NOTFOUND;
		}
		sqlite3_finalize(st);
	}
	unlock(s);
	return err;
}

int store_queue_done(struct store *s, uint64_t seq)
{
	return dac_set(s, (int64_t)seq, "DELETE FROM webhook_queue WHERE seq = ?");
}

int store_queue_retry(struct store *s, uint64_t seq, unsigned attempts, int64_t next_at)
{
	sqlite3_stmt *st;
	int err;

	lock(s);
	if ((err = prep(s, "UPDATE webhook_queue SET attempts = ?, next_at = ? WHERE seq = ?", &st)) == 0) {
		sqlite3_bind_int(st, 1, (int)attempts);
		sqlite3_bind_int64(st, 2, next_at);
		sqlite3_bind_int64(st, 3, (int64_t)seq);
		err = step_done(st);
	}
	unlock(s);
	return err;
}

/* ---- cloud sync ---- */

int store_bundle_has(struct store *s, const uint8_t digest[32])
{
	sqlite3_stmt *st;
	int err;

	lock(s);
	if ((err = prep(s, "SELECT 1 FROM bundles WHERE version_digest = ?", &st)) == 0) {
		sqlite3_bind_blob(st, 1, digest, 32, SQLITE_STATIC);
		err = sqlite3_step(st) == SQLITE_ROW ? 0 : WRIT_E_NOTFOUND;
		sqlite3_finalize(st);
	}
	unlock(s);
	return err;
}

int store_records_last(struct store *s, uint64_t *ret_seq)
{
	sqlite3_stmt *st;
	int err;

	lock(s);
	if ((err = prep(s, "SELECT coalesce(max(seq), 0) FROM records", &st)) == 0) {
		if (sqlite3_step(st) == SQLITE_ROW)
			*ret_seq = (uint64_t)sqlite3_column_int64(st, 0);
		else
			err = WRIT_E_IO;
		sqlite3_finalize(st);
	}
	unlock(s);
	return err;
}

int store_cloud_writ_add(struct store *s, const struct store_cloud_writ *w)
{
	sqlite3_stmt *st;
	int err;

	lock(s);
	if ((err = prep(s, "INSERT OR IGNORE INTO cloud_writs(seq, id, hsm, kind, version_digest, sealed, state, received) "
			   "VALUES(?, ?, ?, ?, ?, ?, 'pending', ?)", &st)) == 0) {
		sqlite3_bind_int64(st, 1, (int64_t)w->seq);
		sqlite3_bind_text(st, 2, w->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, w->hsm, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, w->kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, w->version_digest, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 6, w->sealed, (int)w->sealed_len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 7, (int64_t)time(NULL));
		err = step_done(st);
	}
	unlock(s);
	return err;
}

void store_cloud_writs_free(struct store_cloud_writ *w, size_t n)
{
	size_t i;

	if (!w)
		return;
	for (i = 0; i < n; i++)
		free(w[i].sealed);
	free(w);
}

int store_cloud_writs_due(struct store *s, int64_t now, size_t max, struct store_cloud_writ **ret, size_t *ret_n)
{
	struct store_cloud_writ *w = calloc(max ? max : 1, sizeof(*w));
	sqlite3_stmt *st;
	size_t n = 0;
	int err;

	if (!w)
		return WRIT_E_NOMEM;
	lock(s);
	if ((err = prep(s, "SELECT seq, id, hsm, kind, version_digest, sealed, attempts, first_refused, reason "
			   "FROM cloud_writs WHERE state = 'pending' AND next_at <= ? ORDER BY seq LIMIT ?", &st)) == 0) {
		sqlite3_bind_int64(st, 1, now);
		sqlite3_bind_int64(st, 2, (int64_t)max);
		while (!err && n < max && sqlite3_step(st) == SQLITE_ROW) {
			struct store_cloud_writ *x = &w[n];
			int len = sqlite3_column_bytes(st, 5);
			x->seq = (uint64_t)sqlite3_column_int64(st, 0);
			if ((err = copy_text(st, 1, x->id, sizeof(x->id))) < 0 ||
			    (err = copy_text(st, 2, x->hsm, sizeof(x->hsm))) < 0 ||
			    (err = copy_text(st, 3, x->kind, sizeof(x->kind))) < 0 ||
			    (err = copy_text(st, 4, x->version_digest, sizeof(x->version_digest))) < 0 ||
			    (err = copy_text(st, 8, x->reason, sizeof(x->reason))) < 0)
				break;
			x->attempts = (unsigned)sqlite3_column_int(st, 6);
			x->first_refused = sqlite3_column_int64(st, 7);
			x->sealed_len = len > 0 ? (size_t)len : 0;
			x->sealed = malloc(x->sealed_len ? x->sealed_len : 1);
			if (!x->sealed) {
				err = WRIT_E_NOMEM;
				break;
			}
			if (x->sealed_len)
				memcpy(x->sealed, sqlite3_column_blob(st, 5), x->sealed_len);
			n++;
		}
		sqlite3_finalize(st);
	}
	unlock(s);
	if (err < 0) {
		store_cloud_writs_free(w, n);
		return err;
	}
	*ret = w;
	*ret_n = n;
	return 0;
}

int store_cloud_writ_set(struct store *s, uint64_t seq, const char *state, const char *reason, unsigned attempts,
			 int64_t next_at, int64_t first_refused)
{
	sqlite3_stmt *st;
	int err;

	lock(s);
	if ((err = prep(s, "UPDATE cloud_writs SET state = ?, reason = ?, attempts = ?, next_at = ?, first_refused = ?, "
			   "done = CASE WHEN ? = 'pending' THEN NULL ELSE ? END WHERE seq = ?", &st)) == 0) {
		sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, reason ? reason : "", -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, attempts);
		sqlite3_bind_int64(st, 4, next_at);
		sqlite3_bind_int64(st, 5, first_refused);
		sqlite3_bind_text(st, 6, state, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 7, (int64_t)time(NULL));
		sqlite3_bind_int64(st, 8, (int64_t)seq);
		err = step_done(st);
		if (!err && sqlite3_changes(s->db) != 1)
			err = WRIT_E_NOTFOUND;
	}
	unlock(s);
	return err;
}

int store_cloud_writ_counts(struct store *s, uint64_t *ret_pending, uint64_t *ret_refused)
{
	sqlite3_stmt *st;
	int err;

	lock(s);
	if ((err = prep(s, "SELECT (SELECT count(*) FROM cloud_writs WHERE state = 'pending'), "
			   "(SELECT count(*) FROM cloud_writs WHERE state = 'refused')", &st)) == 0) {
		if (sqlite3_step(st) == SQLITE_ROW) {
			*ret_pending = (uint64_t)sqlite3_column_int64(st, 0);
			*ret_refused = (uint64_t)sqlite3_column_int64(st, 1);
		} else {
			err = WRIT_E_IO;
		}
		sqlite3_finalize(st);
	}
	unlock(s);
	return err;
}
