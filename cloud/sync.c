/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The factory's side of the cloud (docs/cloud-api.md "Factory sync"): writs and
 * bundles pulled, HSM journals and factory records pushed. A journal run is verified
 * with lib/wire/jseg.c against the HSM's enrolled identity key and the stored cursor,
 * and only its signed prefix is stored, with the per-batch counts, in one transaction
 * that also moves the cursor (a conditional UPDATE, so two concurrent pushes of the
 * same run cannot both apply). A fork or a forgery is refused and raised as an alert.
 */
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/ct.h"
#include "cloud/cloud.h"
#include "factory/record.h"
#include "host/file.h"
#include "host/log.h"
#include "wire/dbgcred.h"
#include "wire/jseg.h"
#include "wire/writ.h"

#define SYNC_WRITS_PAGE 100
#define SYNC_RECORDS_MAX 4096
#define INSERT_CHUNK 100

int cloud_add_hsm(struct call *k);

struct alert {
	int64_t now, org_id, factory_id, hsm_pk;
	const char *kind, *detail;
};

/* Close the key's open alert once its window is over, then insert a new open row or
 * fold into the open one. The unique index alerts_open (schema.c) makes the upsert
 * atomic on both engines: two instances raising the same key at once make one row and
 * count both, and the close is under the same row lock on PostgreSQL (its UPDATE waits
 * for, and re-reads, a concurrent close) and the same write lock on SQLite. */
static int tx_alert(struct call *k, void *arg)
{
	const struct alert *a = arg;
	int err;

	err = db_exec(k->db,
		      "UPDATE alerts SET closed = ? WHERE org_id = ? AND factory_id = ? AND hsm_pk = ? AND kind = ?"
		      " AND closed = 0 AND time <= ?",
		      (struct db_param[]){ DB_I(a->now), DB_I(a->org_id), DB_I(a->factory_id), DB_I(a->hsm_pk),
					   DB_T(a->kind), DB_I(a->now - ALERT_WINDOW_S) },
		      6, NULL);
	if (err < 0)
		return err;
	return db_exec(k->db,
		       "INSERT INTO alerts (time, org_id, factory_id, hsm_pk, kind, detail, occurrences, last_seen,"
		       " last_detail, closed) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, 0)"
		       " ON CONFLICT (org_id, factory_id, hsm_pk, kind) WHERE closed = 0 DO UPDATE SET"
		       " occurrences = alerts.occurrences + 1,"
		       " last_detail = CASE WHEN excluded.last_seen >= alerts.last_seen THEN excluded.last_detail"
		       " ELSE alerts.last_detail END,"
		       " last_seen = CASE WHEN excluded.last_seen > alerts.last_seen THEN excluded.last_seen"
		       " ELSE alerts.last_seen END",
		       (struct db_param[]){ DB_I(a->now), DB_I(a->org_id), DB_I(a->factory_id), DB_I(a->hsm_pk),
					    DB_T(a->kind), DB_T(a->detail), DB_I(a->now), DB_T(a->detail) },
		       8, NULL);
}

void alert_raise(struct call *k, int64_t org_id, int64_t factory_id, int64_t hsm_pk, const char *kind,
		 const char *fmt, ...)
{
	char detail[512];
	struct alert a;
	va_list ap;

	va_start(ap, fmt);
	(void)!vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	log_msg(LOG_LVL_WARN, "alert %s: %s", kind, detail);
	a = (struct alert){ .now = now_s(), .org_id = org_id, .factory_id = factory_id, .hsm_pk = hsm_pk,
			    .kind = kind, .detail = detail };
	if (in_tx(k, tx_alert, &a) < 0)
		log_msg(LOG_LVL_ERROR, "alert %s could not be stored: %s", kind, db_errmsg(k->db));
}

static int64_t factory_oem(struct call *k)
{
	struct db_res *r = NULL;
	int64_t oem = 0;

	if (db_query(k->db, "SELECT oem_id FROM factories WHERE id = ?", (struct db_param[]){ DB_I(k->who.factory_id) }, 1,
		     &r) == 0 && db_rows(r) == 1)
		oem = db_int(r, 0, 0);
	db_res_free(r);
	return oem;
}

/* The factory's own queues, as it reports them with the writ feed: all three counts or
 * none (an older factory); each a decimal 0..2^53. Kept per factory for GET /v1/factories.
 * 1 when the request was answered (refused), else 0. */
int queue_args(struct call *k, long long v[3], int *ret_given)
{
	static const char *const names[3] = { "queued_records", "queued_journal", "queued_telemetry" };
	int i, given = 0;

	*ret_given = 0;
	for (i = 0; i < 3; i++) {
		const char *a = query_arg(k, names[i]);
		char *end;
		if (!a)
			continue;
		given++;
		errno = 0;
		v[i] = strtoll(a, &end, 10);
		if (!a[0] || *end || errno || v[i] < 0 || v[i] > (1LL << 53) || strspn(a, "0123456789") != strlen(a))
			return fail(k, 400, "bad_request", "%s: a count (0..2^53)", names[i]), WRIT_E_FORMAT;
	}
	if (given && given != 3)
		return fail(k, 400, "bad_request", "queued_records, queued_journal and queued_telemetry go together"),
		       WRIT_E_FORMAT;
	*ret_given = given;
	return 0;
}

static int note_queues(struct call *k)
{
	long long v[3];
	int given = 0;

	if (queue_args(k, v, &given) < 0)
		return 1;
	if (!given)
		return 0;
	(void)!db_exec(k->db,
		       "INSERT INTO factory_queues (factory_id, records, journal, telemetry, at) VALUES (?, ?, ?, ?, ?)"
		       " ON CONFLICT (factory_id) DO UPDATE SET records = excluded.records, journal = excluded.journal,"
		       " telemetry = excluded.telemetry, at = excluded.at",
		       (struct db_param[]){ DB_I(k->who.factory_id), DB_I(v[0]), DB_I(v[1]), DB_I(v[2]), DB_I(now_s()) }, 5,
		       NULL);
	return 0;
}

static int sync_writs(struct call *k)
{
	const char *since = query_arg(k, "since");
	struct db_res *r = NULL;
	json_t *list;
	long long n = since ? strtoll(since, NULL, 10) : 0;
	int64_t next = n;
	size_t i, len;
	int err;

	if (n < 0)
		return fail(k, 400, "bad_request", "since: a writ feed position (>= 0)");
	if (note_queues(k))
		return 0; /* refused: answered */
	err = db_query(k->db,
		       "SELECT w.seq, w.writ_id, h.hsm_id, w.kind, w.version_digest, w.sealed FROM writs w"
		       " JOIN hsms h ON h.id = w.hsm_pk WHERE w.factory_id = ? AND w.seq > ? ORDER BY w.seq LIMIT 100",
		       (struct db_param[]){ DB_I(k->who.factory_id), DB_I(n) }, 2, &r);
	if (err < 0)
		return fail_db(k, err, "writs");
	list = json_array();
	for (i = 0; i < db_rows(r); i++) {
		const uint8_t *sealed = db_blob(r, i, 5, &len);
		json_array_append_new(list, json_pack("{s:I, s:o, s:o, s:I, s:o, s:o}", "seq", (json_int_t)db_int(r, i, 0),
						      "id", hexj(db_blob(r, i, 1, &len), 16), "hsm",
						      hexj(db_blob(r, i, 2, &len), 32), "kind", (json_int_t)db_int(r, i, 3),
						      "version_digest", hexj(db_blob(r, i, 4, &len), 32), "sealed",
						      b64j(sealed, db_blob(r, i, 5, &len) ? len : 0)));
		next = db_int(r, i, 0);
	}
	db_res_free(r);
	(void)!db_exec(k->db, "UPDATE factories SET last_contact = ? WHERE id = ?",
		       (struct db_param[]){ DB_I(now_s()), DB_I(k->who.factory_id) }, 2, NULL);
	return answer(k, 200, json_pack("{s:o, s:I}", "writs", list, "next", (json_int_t)next));
}

static int sync_bundle(struct call *k, const char *hex)
{
	struct db_res *r = NULL;
	uint8_t d[32];
	int err;

	if (!hex_ok(hex, 32) || hex_decode(hex, d, 32) < 0)
		return fail(k, 404, "not_found", "no such bundle (its version digest: 64 hex digits)");
	err = db_query(k->db,
		       "SELECT v.bundle FROM versions v WHERE v.digest = ? AND EXISTS (SELECT 1 FROM batches b"
		       " WHERE b.version_id = v.id AND b.factory_id = ?)",
		       (struct db_param[]){ DB_B(d, 32), DB_I(k->who.factory_id) }, 2, &r);
	if (err < 0)
		return fail_db(k, err, "bundle");
	return answer_blob(k, r, "no bundle with that digest for a batch of this factory");
}

/* This factory's HSM by hex id. */
struct hsm_row {
	int64_t pk, next;
	uint8_t id[32], head[32], identity_pub[65];
};

static int hsm_of_factory(struct call *k, const char *hex, struct hsm_row *h)
{
	struct db_res *r = NULL;
	const uint8_t *b;
	size_t len = 0;
	int err;

	if (!hex || !hex_ok(hex, 32) || hex_decode(hex, h->id, 32) < 0)
		return fail(k, 404, "not_found", "no such HSM (64 hex digits)"), WRIT_E_NOTFOUND;
	err = db_query(k->db, "SELECT id, next_seq, head, identity_pub FROM hsms WHERE hsm_id = ? AND factory_id = ?",
		       (struct db_param[]){ DB_B(h->id, 32), DB_I(k->who.factory_id) }, 2, &r);
	if (err < 0)
		return fail_db(k, err, "hsm"), err;
	if (db_rows(r) != 1) {
		db_res_free(r);
		return fail(k, 404, "not_found", "no such HSM enrolled at this factory"), WRIT_E_NOTFOUND;
	}
	h->pk = db_int(r, 0, 0);
	h->next = db_int(r, 0, 1);
	b = db_blob(r, 0, 2, &len);
	memcpy(h->head, b, len == 32 ? 32 : 0);
	b = db_blob(r, 0, 3, &len);
	memcpy(h->identity_pub, b, len == 65 ? 65 : 0);
	db_res_free(r);
	return 0;
}

/* ---- journal ingestion ---- */

struct ev {
	uint64_t seq;
	int64_t time;
	uint32_t type;
	uint8_t hash[32];
	const uint8_t *bytes;
	size_t len;
	struct jentry_body body;
};

struct ingest {
	struct call *k;
	struct hsm_row h;
	int64_t oem_id;
	struct ev *evs;
	size_t n_evs, cap;
	/* tx outputs */
	int moved;            /* the cursor was where we read it */
	char problem[256];    /* a DAC entry that cannot be accounted */
	char debug_problem[256]; /* a JT_DEBUG entry under no rights this portal issued */
	char reprov_problem[256]; /* a JT_REPROVISION entry it cannot account for */
};

static int on_seen(void *ctx, uint64_t seq, const uint8_t hash[32])
{
	struct ingest *g = ctx;
	struct db_res *r = NULL;
	const uint8_t *b;
	size_t len = 0;
	int err, same = 0;

	if ((err = db_query(g->k->db, "SELECT hash FROM journal WHERE hsm_pk = ? AND seq = ?",
			    (struct db_param[]){ DB_I(g->h.pk), DB_I(seq) }, 2, &r)) < 0)
		return err;
	if (db_rows(r) == 1 && (b = db_blob(r, 0, 0, &len)) && len == 32)
		same = writ_ct_memeq(b, hash, 32);
	db_res_free(r);
	return same ? 0 : 1;
}

static int on_event(void *ctx, const struct jseg_event *e)
{
	struct ingest *g = ctx;

	if (g->n_evs == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 256;
		struct ev *n = realloc(g->evs, cap * sizeof(*n));
		if (!n)
			return WRIT_E_NOMEM;
		g->evs = n;
		g->cap = cap;
	}
	g->evs[g->n_evs].seq = e->seq;
	g->evs[g->n_evs].time = e->time;
	g->evs[g->n_evs].type = e->body.type;
	memcpy(g->evs[g->n_evs].hash, e->hash, 32);
	g->evs[g->n_evs].bytes = e->bytes;
	g->evs[g->n_evs].len = e->len;
	g->evs[g->n_evs].body = e->body;
	g->n_evs++;
	return 0;
}

/* A batch this HSM runs, by writ id: cached per ingest. */
struct bcache {
	uint8_t writ_id[16];
	int64_t batch_id, product_id, quantity, produced0, add, reissued, kind;
	int final_set;
};

static struct bcache *batch_of(struct ingest *g, struct bcache *cache, size_t *n, size_t cap, const uint8_t id[16])
{
	struct db_res *r = NULL;
	size_t i;

	for (i = 0; i < *n; i++)
		if (!memcmp(cache[i].writ_id, id, 16))
			return &cache[i];
	if (*n == cap)
		return NULL;
	if (db_query(g->k->db,
		     "SELECT w.kind, b.id, b.product_id, b.quantity, b.produced FROM writs w JOIN batches b ON b.id = w.batch_id"
		     " WHERE w.writ_id = ? AND w.hsm_pk = ?",
		     (struct db_param[]){ DB_B(id, 16), DB_I(g->h.pk) }, 2, &r) < 0 || db_rows(r) != 1) {
		db_res_free(r);
		return NULL;
	}
	memset(&cache[*n], 0, sizeof(cache[*n]));
	memcpy(cache[*n].writ_id, id, 16);
	cache[*n].kind = db_int(r, 0, 0);
	cache[*n].batch_id = db_int(r, 0, 1);
	cache[*n].product_id = db_int(r, 0, 2);
	cache[*n].quantity = db_int(r, 0, 3);
	cache[*n].produced0 = db_int(r, 0, 4);
	db_res_free(r);
	return &cache[(*n)++];
}

/* Append "(?, ?, ...)" groups of cols params for rows rows. */
static char *multi_insert(const char *head, size_t cols, size_t rows)
{
	size_t cap = strlen(head) + rows * (cols * 3 + 4) + 1, len, i, c;
	char *s = malloc(cap);

	if (!s)
		return NULL;
	len = (size_t)snprintf(s, cap, "%s", head);
	for (i = 0; i < rows; i++) {
		s[len++] = i ? ',' : ' ';
		s[len++] = '(';
		for (c = 0; c < cols; c++) {
			if (c)
				s[len++] = ',';
			s[len++] = '?';
		}
		s[len++] = ')';
	}
	s[len] = 0;
	return s;
}

/* One JT_REPROVISION entry (docs/writ-format.md, reprovision-body): a device row of kind
 * "reprovision" in the production batch, or g->reprov_problem (an alert) when the rework
 * writ is not one this portal issued to this HSM with reprovision, or the production
 * writ did not make that device at that serial here. */
static int ingest_reprovision(struct ingest *g, const struct ev *e)
{
	const struct jentry_reprovision *d = &e->body.u.reprovision;
	struct db_res *r = NULL;
	const uint8_t *pm;
	uint8_t perms[16] = { 0 };
	size_t len = 0;
	int64_t batch = 0, product = 0, idx = 0, rid = 0;
	char rw[33], pw[33];
	int rights = 0, err;

	hex_encode(d->writ_id, 16, rw);
	hex_encode(d->orig_writ_id, 16, pw);
	if ((err = db_query(g->k->db, "SELECT perms, id FROM reworks WHERE writ_id = ? AND hsm_pk = ?",
			    (struct db_param[]){ DB_B(d->writ_id, 16), DB_I(g->h.pk) }, 2, &r)) < 0)
		return err;
	rights = db_rows(r) == 1 && (pm = db_blob(r, 0, 0, &len)) && len == 16 && dbg_perm_has(pm, DBG_PERM_REPROVISION);
	if (rights)
		rid = db_int(r, 0, 1);
	db_res_free(r);
	r = NULL;
	/* one unit of the rights, as the HSM counts it: a rework event (operation 3, session
	 * 0, the new DAC's SHA-256 where a token's would be) in the device's rework history */
	dbg_perm_set(perms, DBG_PERM_REPROVISION);
	if (d->uid_len == 16 &&
	    (err = db_exec(g->k->db,
			   "INSERT INTO rework_events (hsm_pk, hsm_seq, rework_id, writ_id, uid, perms, operation, session,"
			   " not_after, token_sha256, time) VALUES (?, ?, ?, ?, ?, ?, 3, 0, 0, ?, ?)",
			   (struct db_param[]){ DB_I(g->h.pk), DB_I(e->seq), rid ? DB_I(rid) : DB_N, DB_B(d->writ_id, 16),
						DB_B(d->uid, 16), DB_B(perms, 16), DB_B(d->dac_sha256, 32), DB_I(e->time) },
			   8, NULL)) < 0)
		return err;
	if (!rights) {
		(void)!snprintf(g->reprov_problem, sizeof(g->reprov_problem),
				"seq %llu: a re-provisioned DAC under writ %s, which this portal did not issue to this HSM "
				"with reprovision rights", (unsigned long long)e->seq, rw);
		return 0;
	}
	if ((err = db_query(g->k->db,
			    "SELECT d.batch_id, d.product_id, d.idx FROM devices d JOIN writs w ON w.batch_id = d.batch_id"
			    " AND w.hsm_pk = d.hsm_pk WHERE w.writ_id = ? AND w.kind = 1 AND d.hsm_pk = ? AND d.uid = ?"
			    " AND d.serial = ? ORDER BY d.id LIMIT 1",
			    (struct db_param[]){ DB_B(d->orig_writ_id, 16), DB_I(g->h.pk), DB_B(d->uid, d->uid_len),
						 DB_I((int64_t)d->device_serial) },
			    4, &r)) < 0)
		return err;
	if (db_rows(r) == 1) {
		batch = db_int(r, 0, 0);
		product = db_int(r, 0, 1);
		idx = db_int(r, 0, 2);
	}
	db_res_free(r);
	if (!batch) {
		(void)!snprintf(g->reprov_problem, sizeof(g->reprov_problem),
				"seq %llu: a re-provisioned DAC for serial %llu, which production writ %s did not make "
				"at this HSM", (unsigned long long)e->seq, (unsigned long long)d->device_serial, pw);
		return 0;
	}
	return db_exec(g->k->db,
		       "INSERT INTO devices (hsm_pk, hsm_seq, batch_id, product_id, kind, idx, uid, serial, dac_serial,"
		       " dac_sha256, time) VALUES (?, ?, ?, ?, 'reprovision', ?, ?, ?, ?, ?, ?)",
		       (struct db_param[]){ DB_I(g->h.pk), DB_I(e->seq), DB_I(batch), DB_I(product), DB_I(idx),
					    DB_B(d->uid, d->uid_len), DB_I((int64_t)d->device_serial),
					    DB_B(d->dac_serial, JENTRY_SERIAL_LEN), DB_B(d->dac_sha256, 32), DB_I(e->time) },
		       10, NULL);
}

static int tx_ingest(struct call *k, void *arg)
{
	struct ingest *g = arg;
	struct bcache cache[64];
	struct db_param *p = NULL;
	size_t n_cache = 0, i, j, rows, np;
	int64_t changes = 0, max_cp_time = 0;
	char *sql = NULL;
	int err = 0;

	g->moved = 0;
	g->problem[0] = 0;
	g->debug_problem[0] = 0;
	g->reprov_problem[0] = 0;
	if (!g->n_evs)
		return 0;
	/* the cursor moves from where it was read, or someone else got there first */
	err = db_exec(k->db, "UPDATE hsms SET next_seq = ?, head = ?, last_contact = ? WHERE id = ? AND next_seq = ?",
		      (struct db_param[]){ DB_I(g->evs[g->n_evs - 1].seq + 1), DB_B(g->evs[g->n_evs - 1].hash, 32),
					   DB_I(now_s()), DB_I(g->h.pk), DB_I(g->h.next) },
		      5, &changes);
	if (err < 0)
		return err;
	if (!changes)
		return WRIT_E_STATE;
	g->moved = 1;
	if (!(p = calloc(INSERT_CHUNK * 13, sizeof(*p))))
		return WRIT_E_NOMEM;
	/* the raw entries, for audit */
	for (i = 0; i < g->n_evs && !err; i += rows) {
		rows = g->n_evs - i < INSERT_CHUNK ? g->n_evs - i : INSERT_CHUNK;
		np = 0;
		for (j = 0; j < rows; j++) {
			const struct ev *e = &g->evs[i + j];
			p[np++] = DB_I(g->h.pk);
			p[np++] = DB_I(e->seq);
			p[np++] = DB_B(e->hash, 32);
			p[np++] = DB_I(e->type);
			p[np++] = DB_I(e->time);
			p[np++] = DB_B(e->bytes, e->len);
		}
		free(sql);
		if (!(sql = multi_insert("INSERT INTO journal (hsm_pk, seq, hash, type, time, entry) VALUES", 6, rows)))
			err = WRIT_E_NOMEM;
		else
			err = db_exec(k->db, sql, p, np, NULL);
	}
	/* devices: one per dac / reissue entry, in order; batch counts */
	rows = 0;
	np = 0;
	for (i = 0; i <= g->n_evs && !err; i++) {
		const struct ev *e = i < g->n_evs ? &g->evs[i] : NULL;
		struct bcache *b = NULL;

		if (e && e->type == JT_CHECKPOINT && e->time > max_cp_time)
			max_cp_time = e->time;
		if (e && e->type == JT_WRIT) {
			b = batch_of(g, cache, &n_cache, 64, e->body.u.writ.id);
			if (b && b->kind == 3 && !b->final_set) {
				/* the HSM acknowledged the revocation: its count for the batch is final */
				struct bcache *prod = NULL;
				struct db_res *r = NULL;
				if (db_query(k->db, "SELECT writ_id FROM batches WHERE id = ?", (struct db_param[]){ DB_I(b->batch_id) },
					     1, &r) == 0 && db_rows(r) == 1) {
					size_t len = 0;
					prod = batch_of(g, cache, &n_cache, 64, db_blob(r, 0, 0, &len));
				}
				db_res_free(r);
				b->final_set = 1;
				if (prod) {
					int64_t final = prod->produced0 + prod->add;
					err = db_exec(k->db,
						      "UPDATE batches SET state = 'revoked', final_count = ? WHERE id = ? AND state = 'revoking'",
						      (struct db_param[]){ DB_I(final), DB_I(prod->batch_id) }, 2, &changes);
					if (!err && changes)
						err = db_exec(k->db, "UPDATE products SET allocated = allocated - ? WHERE id = ?",
							      (struct db_param[]){ DB_I(prod->quantity - final), DB_I(prod->product_id) },
							      2, NULL);
				}
			}
			continue;
		}
		if (e && e->type != JT_DAC && e->type != JT_REISSUE)
			continue;
		if (e) {
			const struct jentry_dac *d = &e->body.u.dac;
			b = batch_of(g, cache, &n_cache, 64, d->writ_id);
			if (!b || b->kind != 1) {
				char hex[33];
				hex_encode(d->writ_id, 16, hex);
				(void)!snprintf(g->problem, sizeof(g->problem),
						"seq %llu: a DAC under writ %s, which this portal did not issue to this HSM",
						(unsigned long long)e->seq, hex);
				continue;
			}
			if (e->type == JT_DAC)
				b->add++;
			else
				b->reissued++;
			p[np++] = DB_I(g->h.pk);
			p[np++] = DB_I(e->seq);
			p[np++] = DB_I(b->batch_id);
			p[np++] = DB_I(b->product_id);
			p[np++] = DB_T(e->type == JT_DAC ? "dac" : "reissue");
			p[np++] = DB_I(d->index);
			p[np++] = DB_B(d->uid, d->uid_len);
			p[np++] = DB_I(d->device_serial);
			p[np++] = DB_B(d->dac_serial, JENTRY_SERIAL_LEN);
			p[np++] = DB_B(d->dac_sha256, 32);
			p[np++] = DB_I(e->time);
			rows++;
		}
		if (rows && (rows == INSERT_CHUNK || !e)) {
			free(sql);
			sql = multi_insert("INSERT INTO devices (hsm_pk, hsm_seq, batch_id, product_id, kind, idx, uid, serial,"
					   " dac_serial, dac_sha256, time) VALUES", 11, rows);
			err = sql ? db_exec(k->db, sql, p, np, NULL) : WRIT_E_NOMEM;
			rows = 0;
			np = 0;
		}
	}
	for (i = 0; i < n_cache && !err; i++) {
		if (!cache[i].add && !cache[i].reissued)
			continue;
		err = db_exec(k->db, "UPDATE batches SET produced = produced + ?, reissued = reissued + ? WHERE id = ?",
			      (struct db_param[]){ DB_I(cache[i].add), DB_I(cache[i].reissued), DB_I(cache[i].batch_id) }, 3,
			      NULL);
		if (!err)
			err = db_exec(k->db, "UPDATE products SET produced = produced + ? WHERE id = ?",
				      (struct db_param[]){ DB_I(cache[i].add), DB_I(cache[i].product_id) }, 2, NULL);
	}
	/* rework: each debug-unlock token the HSM signed, against the rights it used; a
	 * revocation of rights the HSM loaded ends them */
	for (i = 0; i < g->n_evs && !err; i++) {
		const struct ev *e = &g->evs[i];
		if (e->type == JT_WRIT) {
			err = db_exec(k->db, "UPDATE reworks SET state = 'revoked' WHERE revocation_id = ? AND hsm_pk = ?"
					     " AND state = 'revoking'",
				      (struct db_param[]){ DB_B(e->body.u.writ.id, 16), DB_I(g->h.pk) }, 2, NULL);
		} else if (e->type == JT_DEBUG) {
			const struct jentry_debug *d = &e->body.u.debug;
			struct db_res *r = NULL;
			int64_t rid = 0;
			size_t len = 0;
			const uint8_t *pm;
			if ((err = db_query(k->db, "SELECT id, perms FROM reworks WHERE writ_id = ? AND hsm_pk = ?",
					    (struct db_param[]){ DB_B(d->writ_id, 16), DB_I(g->h.pk) }, 2, &r)) < 0)
				break;
			if (db_rows(r) == 1 && (pm = db_blob(r, 0, 1, &len)) && len == 16 && dbg_perms_within(d->perms, pm))
				rid = db_int(r, 0, 0);
			db_res_free(r);
			if (!rid) {
				char hex[33];
				hex_encode(d->writ_id, 16, hex);
				(void)!snprintf(g->debug_problem, sizeof(g->debug_problem),
						"seq %llu: a debug-unlock token under writ %s, which this portal did not issue "
						"to this HSM with those rework rights",
						(unsigned long long)e->seq, hex);
			}
			err = db_exec(k->db,
				      "INSERT INTO rework_events (hsm_pk, hsm_seq, rework_id, writ_id, uid, perms, operation,"
				      " session, not_after, token_sha256, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
				      (struct db_param[]){ DB_I(g->h.pk), DB_I(e->seq), rid ? DB_I(rid) : DB_N,
							   DB_B(d->writ_id, 16), DB_B(d->uid, 16), DB_B(d->perms, 16),
							   DB_I(d->operation), DB_I(d->session), DB_I(d->not_after),
							   DB_B(d->token_sha256, 32), DB_I(e->time) },
				      11, NULL);
		}
	}
	/* re-provisioning: the device's new DAC, a new row after its old ones (which stay, its
	 * history), never production: only under rights this portal issued to this HSM with
	 * reprovision, for a device the production writ named made here at that serial */
	for (i = 0; i < g->n_evs && !err; i++) {
		if (g->evs[i].type == JT_REPROVISION)
			err = ingest_reprovision(g, &g->evs[i]);
	}
	/* A batch whose window the HSM's signed clock has passed can produce no more: its
	 * unused units go back to the quota. */
	if (!err && max_cp_time) {
		struct db_res *r = NULL;
		err = db_query(k->db, "SELECT id, product_id, quantity - produced FROM batches WHERE hsm_pk = ? AND state = 'active'"
				      " AND not_after <= ?",
			       (struct db_param[]){ DB_I(g->h.pk), DB_I(max_cp_time) }, 2, &r);
		for (i = 0; !err && i < db_rows(r); i++) {
			err = db_exec(k->db, "UPDATE batches SET state = 'expired', final_count = produced WHERE id = ?",
				      (struct db_param[]){ DB_I(db_int(r, i, 0)) }, 1, NULL);
			if (!err)
				err = db_exec(k->db, "UPDATE products SET allocated = allocated - ? WHERE id = ?",
					      (struct db_param[]){ DB_I(db_int(r, i, 2)), DB_I(db_int(r, i, 1)) }, 2, NULL);
		}
		db_res_free(r);
	}
	free(sql);
	free(p);
	return err;
}

static const char *fault_code(enum jseg_fault f)
{
	switch (f) {
	case JSEG_GAP: return "gap";
	case JSEG_FORK: return "fork";
	case JSEG_STALE: return "fork";
	case JSEG_TOOBIG: return "too_big";
	default: return "bad_journal";
	}
}

int journal_req(struct call *k, json_t **ret)
{
	static const struct jfield f[] = { { "hsm", JV_STR, 1 }, { "entries", JV_ARR, 1 } };

	*ret = NULL;
	return jreq(k, f, 2, ret) < 0 ? WRIT_E_FORMAT : 0;
}

int journal_entries(struct call *k, json_t *arr, struct jseg_entry **ret_run, uint8_t ***ret_bufs)
{
	struct jseg_entry *run = NULL;
	uint8_t **bufs = NULL;
	size_t n = json_array_size(arr), i, len;
	json_t *it;

	*ret_run = NULL;
	*ret_bufs = NULL;
	if (n > JSEG_MAX_ENTRIES)
		return fail(k, 413, "too_big", "at most %d entries per push", JSEG_MAX_ENTRIES), WRIT_E_FORMAT;
	run = calloc(n ? n : 1, sizeof(*run));
	bufs = calloc(n ? n : 1, sizeof(*bufs));
	if (!run || !bufs) {
		fail(k, 500, "internal", "out of memory");
		goto refused;
	}
	json_array_foreach(arr, i, it) {
		if (!json_is_string(it) || b64_decode_alloc(json_string_value(it), JOURNAL_MAX_ENTRY, &bufs[i], &len) < 0) {
			fail(k, 400, "bad_request", "entries[%zu]: a journal entry in standard base64", i);
			goto refused;
		}
		run[i].bytes = bufs[i];
		run[i].len = len;
	}
	*ret_run = run;
	*ret_bufs = bufs;
	return 0;
refused:
	for (i = 0; bufs && i < n; i++)
		free(bufs[i]);
	free(bufs);
	free(run);
	return WRIT_E_FORMAT;
}

static int sync_journal(struct call *k)
{
	struct jseg_verifier v;
	struct jseg_result res;
	struct jseg_why why;
	struct jseg_entry *run = NULL;
	uint8_t **bufs = NULL;
	struct ingest g;
	json_t *o = NULL, *arr;
	size_t n = 0, i;
	int err;

	memset(&g, 0, sizeof(g));
	if (journal_req(k, &o) < 0)
		return 0;
	if (hsm_of_factory(k, jstr(o, "hsm"), &g.h) < 0)
		goto out;
	arr = json_object_get(o, "entries");
	n = json_array_size(arr);
	if (journal_entries(k, arr, &run, &bufs) < 0)
		goto out;
	g.k = k;
	g.oem_id = factory_oem(k);
	memset(&v, 0, sizeof(v));
	v.cursor.next = (uint64_t)g.h.next;
	memcpy(v.cursor.hash, g.h.head, 32);
	memcpy(v.identity_pub, g.h.identity_pub, 65);
	memcpy(v.hsm_id, g.h.id, 32);
	v.seen = on_seen;
	v.event = on_event;
	v.ctx = &g;
	memset(&res, 0, sizeof(res));
	err = jseg_verify(&v, run, n, &res, &why);
	if (err < 0) {
		if (why.fault == JSEG_GAP) {
			json_t *a = json_pack("{s:s, s:s, s:I, s:o}", "error", why.text, "code", "gap", "next",
					      (json_int_t)g.h.next, "hash", hexj(g.h.head, 32));
			answer(k, 409, a);
		} else if (why.fault == JSEG_FORK || why.fault == JSEG_STALE) {
			alert_raise(k, g.oem_id, k->who.factory_id, g.h.pk, "fork",
				    "HSM %02x%02x%02x%02x…: %s (two journals with one history: a restored or cloned HSM state)",
				    g.h.id[0], g.h.id[1], g.h.id[2], g.h.id[3], why.text);
			fail(k, 409, "fork", "%s: refused and raised as an alert", why.text);
		} else if (why.fault == JSEG_CALLBACK) {
			fail_db(k, err, "journal");
		} else {
			alert_raise(k, g.oem_id, k->who.factory_id, g.h.pk, "bad_journal", "HSM %02x%02x%02x%02x…: %s",
				    g.h.id[0], g.h.id[1], g.h.id[2], g.h.id[3], why.text);
			fail(k, why.fault == JSEG_TOOBIG ? 413 : 422, fault_code(why.fault), "%s: refused and raised as an alert",
			     why.text);
		}
		goto out;
	}
	/* the genesis must pin this OEM's writ-signing key */
	for (i = 0; i < g.n_evs; i++) {
		uint8_t pub[WRIT_P256_PUB_LEN];
		if (g.evs[i].type == JT_GENESIS && keys_pub(k->db, g.oem_id, KEY_WRIT, pub) == 0 &&
		    memcmp(pub, g.evs[i].body.u.genesis.oem_pub, sizeof(pub)))
			alert_raise(k, g.oem_id, k->who.factory_id, g.h.pk, "wrong_pin",
				    "the HSM pinned another writ-signing key than this OEM's: it will refuse every writ");
	}
	err = in_tx(k, tx_ingest, &g);
	if (err == WRIT_E_STATE || (!err && g.n_evs && !g.moved)) {
		fail(k, 409, "gap", "another push moved this HSM's cursor meanwhile: read it again and resume");
		goto out;
	}
	if (err < 0) {
		if (err == WRIT_E_EXISTS)
			fail(k, 409, "conflict", "a DAC entry exceeds its batch's quantity or repeats: refused");
		else
			fail_db(k, err, "journal");
		goto out;
	}
	if (g.problem[0])
		alert_raise(k, g.oem_id, k->who.factory_id, g.h.pk, "unknown_writ", "%s", g.problem);
	if (g.debug_problem[0])
		alert_raise(k, g.oem_id, k->who.factory_id, g.h.pk, "bad_debug", "%s", g.debug_problem);
	if (g.reprov_problem[0])
		alert_raise(k, g.oem_id, k->who.factory_id, g.h.pk, "bad_reprovision", "%s", g.reprov_problem);
	answer(k, 200, json_pack("{s:I, s:I, s:I, s:I, s:o}", "accepted", (json_int_t)res.accepted, "duplicate",
				 (json_int_t)res.duplicates, "tail", (json_int_t)res.tail, "next",
				 (json_int_t)res.cursor.next, "hash", hexj(res.cursor.hash, 32)));
out:
	for (i = 0; bufs && i < n; i++)
		free(bufs[i]);
	free(bufs);
	free(run);
	free(g.evs);
	json_decref(o);
	return 0;
}

/* ---- factory records ---- */

struct rec_in {
	const char *text;
	int64_t seq;
	char hash[REC_HASH_HEX];
	int ok;
	uint8_t hsm_id[32], dac_sha[32];
	int64_t hsm_seq;
	int dup;
	int rework;             /* an ok rework record: matches a JT_DEBUG entry, not a DAC */
	int64_t op;             /* its operation (JT_DEBUG key 5) */
	uint8_t uid[16], writ[16];
	int reprov_dac;         /* an ok rework-reprov record naming its new DAC (dac_sha) */
};

struct rec_tx {
	struct rec_in *r;
	size_t n;
	int64_t next0;
	char head0[REC_HASH_HEX];
	int64_t missing_at;   /* out: a record ahead of the journal */
	int64_t bad_at;       /* out: a rework record the verified journal contradicts */
	int moved;
};

/* The first ok record of rows [from, to) whose device the cloud has not verified. */
static int64_t first_missing(struct call *k, struct rec_tx *t, const int64_t *pk, size_t from, size_t to)
{
	struct db_res *r = NULL;
	size_t i;
	int found;

	for (i = from; i < to; i++) {
		struct rec_in *x = &t->r[i];
		if (x->dup || !x->ok || x->rework)
			continue;
		found = pk[i] && db_query(k->db, "SELECT 1 FROM devices WHERE hsm_pk = ? AND hsm_seq = ? AND dac_sha256 = ?",
					  (struct db_param[]){ DB_I(pk[i]), DB_I(x->hsm_seq), DB_B(x->dac_sha, 32) }, 3,
					  &r) == 0 && db_rows(r) == 1;
		db_res_free(r);
		r = NULL;
		if (!found)
			return x->seq;
	}
	return t->r[from].seq;
}

/*
 * Store the new records (in multi-row statements: one round trip per INSERT_CHUNK rows,
 * which is what PostgreSQL's speed depends on) and attach each ok record to its device;
 * an ok record whose device the verified journal does not hold stops everything
 * (WRIT_E_NOTFOUND, t->missing_at). Then the factory's record position moves, only from
 * where it was read.
 */
static int tx_records(struct call *k, void *arg)
{
	struct rec_tx *t = arg;
	struct db_param *p = NULL;
	struct db_res *r = NULL;
	int64_t changes = 0, *pk = NULL;
	size_t i, j, last = 0, rows, np, ok_rows, n_hsm = 0;
	char *sql = NULL;
	int err = 0, any = 0;

	t->missing_at = -1;
	t->bad_at = -1;
	t->moved = 0;
	if (!(p = calloc(INSERT_CHUNK * 5, sizeof(*p))) || !(pk = calloc(t->n ? t->n : 1, sizeof(*pk)))) {
		err = WRIT_E_NOMEM;
		goto out;
	}
	/* the factory's HSMs, once: an ok record names its HSM by id */
	if ((err = db_query(k->db, "SELECT id, hsm_id FROM hsms WHERE factory_id = ?",
			    (struct db_param[]){ DB_I(k->who.factory_id) }, 1, &r)) < 0)
		goto out;
	n_hsm = db_rows(r);
	for (i = 0; i < t->n; i++) {
		if (t->r[i].dup)
			continue;
		any = 1;
		last = i;
		for (j = 0; t->r[i].ok && j < n_hsm; j++) {
			size_t len = 0;
			const uint8_t *id = db_blob(r, j, 1, &len);
			if (len == 32 && !memcmp(id, t->r[i].hsm_id, 32))
				pk[i] = db_int(r, j, 0);
		}
	}
	db_res_free(r);
	r = NULL;
	if (!any)
		goto out;
	for (i = 0; i < t->n && !err; i += rows) {
		rows = t->n - i < INSERT_CHUNK ? t->n - i : INSERT_CHUNK;
		/* the records themselves */
		np = 0;
		for (j = i; j < i + rows; j++) {
			if (t->r[j].dup)
				continue;
			p[np++] = DB_I(k->who.factory_id);
			p[np++] = DB_I(t->r[j].seq);
			p[np++] = DB_T(t->r[j].hash);
			p[np++] = DB_T(t->r[j].text);
		}
		if (np) {
			free(sql);
			sql = multi_insert("INSERT INTO frecords (factory_id, seq, hash, record) VALUES", 4, np / 4);
			if (!sql || (err = db_exec(k->db, sql, p, np, NULL)) < 0) {
				err = sql ? err : WRIT_E_NOMEM;
				break;
			}
		}
		/* rework records: each names the JT_DEBUG entry (HSM, seq, device, writ, operation)
		 * of the token it used; a journal that is in and says otherwise is a forgery */
		for (j = i; j < i + rows && !err; j++) {
			struct rec_in *x = &t->r[j];
			if (x->dup || !x->ok || !x->rework)
				continue;
			if (!pk[j]) {
				t->bad_at = x->seq;
				err = WRIT_E_JOURNAL;
				goto out;
			}
			err = db_exec(k->db,
				      "UPDATE rework_events SET record_seq = ?, record = ? WHERE hsm_pk = ? AND hsm_seq = ? AND uid = ?"
				      " AND writ_id = ? AND operation = ? AND record_seq IS NULL",
				      (struct db_param[]){ DB_I(x->seq), DB_T(x->text), DB_I(pk[j]), DB_I(x->hsm_seq),
							   DB_B(x->uid, 16), DB_B(x->writ, 16), DB_I(x->op) },
				      7, &changes);
			if (err == 0 && !changes) {
				int ahead = 1;
				if (db_query(k->db, "SELECT next_seq FROM hsms WHERE id = ?", (struct db_param[]){ DB_I(pk[j]) }, 1,
					     &r) == 0 && db_rows(r) == 1)
					ahead = db_int(r, 0, 0) <= x->hsm_seq;
				db_res_free(r);
				r = NULL;
				if (ahead) {
					t->missing_at = x->seq;
					err = WRIT_E_NOTFOUND;
				} else {
					t->bad_at = x->seq;
					err = WRIT_E_JOURNAL;
				}
				goto out;
			}
			/* a re-provisioning's record also goes with its device row (JT_REPROVISION),
			 * when that part of the journal is in */
			if (!err && x->reprov_dac)
				err = db_exec(k->db,
					      "UPDATE devices SET record_seq = ?, record = ? WHERE hsm_pk = ? AND kind = 'reprovision'"
					      " AND uid = ? AND dac_sha256 = ? AND record_seq IS NULL",
					      (struct db_param[]){ DB_I(x->seq), DB_T(x->text), DB_I(pk[j]), DB_B(x->uid, 16),
								   DB_B(x->dac_sha, 32) },
					      5, NULL);
		}
		if (err < 0)
			break;
		/* their devices */
		np = 0;
		ok_rows = 0;
		for (j = i; j < i + rows; j++) {
			struct rec_in *x = &t->r[j];
			if (x->dup || !x->ok || x->rework)
				continue;
			if (!pk[j]) {
				t->missing_at = x->seq;
				err = WRIT_E_NOTFOUND;
				goto out;
			}
			p[np++] = DB_I(x->seq);
			p[np++] = DB_T(x->text);
			p[np++] = DB_I(pk[j]);
			p[np++] = DB_I(x->hsm_seq);
			p[np++] = DB_B(x->dac_sha, 32);
			ok_rows++;
		}
		if (!ok_rows)
			continue;
		free(sql);
		if (!(sql = malloc(256 + ok_rows * 80))) { /* a row: 66 characters */
			err = WRIT_E_NOMEM;
			break;
		}
		{
			size_t len = (size_t)sprintf(sql, "UPDATE devices SET record_seq = v.column1, record = v.column2 FROM (VALUES");
			for (j = 0; j < ok_rows; j++)
				len += (size_t)sprintf(sql + len, "%s(CAST(? AS BIGINT), ?, CAST(? AS BIGINT), CAST(? AS BIGINT), ?)",
						       j ? ", " : " ");
			(void)sprintf(sql + len, ") AS v WHERE devices.hsm_pk = v.column3 AND devices.hsm_seq = v.column4"
						 " AND devices.dac_sha256 = v.column5");
		}
		if ((err = db_exec(k->db, sql, p, np, &changes)) < 0)
			break;
		if (changes != (int64_t)ok_rows) {
			t->missing_at = first_missing(k, t, pk, i, i + rows);
			err = WRIT_E_NOTFOUND;
			break;
		}
	}
	if (err < 0)
		goto out;
	err = db_exec(k->db, "UPDATE factories SET rec_next = ?, rec_hash = ?, last_contact = ? WHERE id = ? AND rec_next = ?",
		      (struct db_param[]){ DB_I(t->r[last].seq + 1), DB_T(t->r[last].hash), DB_I(now_s()),
					   DB_I(k->who.factory_id), DB_I(t->next0) },
		      5, &changes);
	if (err == 0 && !changes)
		err = WRIT_E_STATE;
	if (err == 0)
		t->moved = 1;
out:
	db_res_free(r);
	free(sql);
	free(pk);
	free(p);
	return err;
}

/* The JT_DEBUG operation a factory record's step names (docs/cloud-api.md, "Rework
 * records"), 0 for a step that is not rework. */
static int64_t rework_step(const char *step)
{
	if (!step)
		return 0;
	if (!strcmp(step, "rework-debug"))
		return 1;
	if (!strcmp(step, "rework-reflash"))
		return 2;
	if (!strcmp(step, "rework-reprov"))
		return 3;
	return 0;
}

int records_req(struct call *k, json_t **ret)
{
	static const struct jfield f[] = { { "records", JV_ARR, 1 } };
	json_t *o = NULL;

	*ret = NULL;
	if (jreq(k, f, 1, &o) < 0)
		return WRIT_E_FORMAT;
	if (json_array_size(json_object_get(o, "records")) > SYNC_RECORDS_MAX) {
		json_decref(o);
		return fail(k, 413, "too_big", "at most %d records per push", SYNC_RECORDS_MAX), WRIT_E_FORMAT;
	}
	*ret = o;
	return 0;
}

static int sync_records(struct call *k)
{
	struct rec_tx t;
	struct db_res *r = NULL;
	json_t *o = NULL, *arr, *it, *rec = NULL;
	char prev[REC_HASH_HEX], why[200], fname[WRIT_NAME_MAX + 1] = "";
	size_t i, n, dups = 0;
	int64_t expect;
	int err;

	memset(&t, 0, sizeof(t));
	if (records_req(k, &o) < 0)
		return 0;
	arr = json_object_get(o, "records");
	n = json_array_size(arr);
	if ((err = db_query(k->db, "SELECT rec_next, rec_hash, name FROM factories WHERE id = ?",
			    (struct db_param[]){ DB_I(k->who.factory_id) }, 1, &r)) < 0 || db_rows(r) != 1) {
		fail_db(k, err < 0 ? err : WRIT_E_IO, "records");
		goto out;
	}
	t.next0 = db_int(r, 0, 0);
	(void)!snprintf(t.head0, sizeof(t.head0), "%s", db_text(r, 0, 1));
	(void)!snprintf(fname, sizeof(fname), "%s", db_text(r, 0, 2));
	db_res_free(r);
	r = NULL;
	if (!(t.r = calloc(n ? n : 1, sizeof(*t.r)))) {
		fail(k, 500, "internal", "out of memory");
		goto out;
	}
	t.n = n;
	/* the factory's chain starts with prev = 64 zeros (docs/factory-api.md) */
	if (t.next0 == 1)
		memset(prev, '0', 64), prev[64] = 0;
	else
		(void)!snprintf(prev, sizeof(prev), "%s", t.head0);
	expect = t.next0;
	json_array_foreach(arr, i, it) {
		struct rec_in *x = &t.r[i];
		json_t *v;
		if (!json_is_string(it) || json_string_length(it) > 16384) {
			fail(k, 400, "bad_request", "records[%zu]: a record's JSON text (<= 16 KiB)", i);
			goto out;
		}
		x->text = json_string_value(it);
		json_decref(rec);
		rec = json_loads(x->text, JSON_REJECT_DUPLICATES, NULL);
		v = rec ? json_object_get(rec, "seq") : NULL;
		if (!json_is_integer(v)) {
			fail(k, 422, "bad_record", "records[%zu]: not a factory record", i);
			goto out;
		}
		x->seq = json_integer_value(v);
		if (x->seq < t.next0) {
			/* sent before: must be what was stored */
			const char *h = jstr(rec, "hash");
			err = db_query(k->db, "SELECT hash FROM frecords WHERE factory_id = ? AND seq = ?",
				       (struct db_param[]){ DB_I(k->who.factory_id), DB_I(x->seq) }, 2, &r);
			if (err < 0) {
				fail_db(k, err, "records");
				goto out;
			}
			if (db_rows(r) != 1 || !h || strcmp(db_text(r, 0, 0), h) || i != dups) {
				db_res_free(r);
				r = NULL;
				alert_raise(k, factory_oem(k), k->who.factory_id, 0, "fork",
					    "factory %s: record %lld differs from the one accepted before", fname,
					    (long long)x->seq);
				fail(k, 409, "fork", "record %lld differs from the one accepted before: refused and raised as an "
						     "alert", (long long)x->seq);
				goto out;
			}
			db_res_free(r);
			r = NULL;
			x->dup = 1;
			dups++;
			continue;
		}
		if (x->seq != expect) {
			if (i == dups && x->seq > expect) {
				/* writ-factory always pushes from the cursor it has just read (a retry
				 * starts at or below it: duplicates); records past it are missing or out
				 * of order. A concurrent push that got there first is the other 409 gap,
				 * from tx_records, and is no alert. */
				alert_raise(k, factory_oem(k), k->who.factory_id, 0, "reordered",
					    "factory %s: records pushed from %lld while the cloud's position is %lld (missing or "
					    "out of order)", fname, (long long)x->seq, (long long)expect);
				answer(k, 409, json_pack("{s:s, s:s, s:I, s:s}", "error", "the records start after the cloud's "
											  "position: resume there",
							 "code", "gap", "next", (json_int_t)t.next0, "hash", t.head0));
				goto out;
			}
		}
		if (rec_check(x->text, (uint64_t)expect, prev, x->hash, why, sizeof(why)) < 0) {
			alert_raise(k, factory_oem(k), k->who.factory_id, 0, "bad_record", "factory %s: record %lld: %s", fname,
				    (long long)x->seq, why);
			fail(k, 422, "bad_record", "record %lld: %s: refused and raised as an alert", (long long)x->seq, why);
			goto out;
		}
		if (!jstr(rec, "factory") || strcmp(jstr(rec, "factory"), fname)) {
			const char *other = jstr(rec, "factory");
			alert_raise(k, factory_oem(k), k->who.factory_id, 0, "bad_record", "factory %s: record %lld names %s%s",
				    fname, (long long)x->seq, name_ok(other) ? "factory " : "another factory",
				    name_ok(other) ? other : "");
			fail(k, 422, "bad_record", "record %lld names another factory: refused and raised as an alert",
			     (long long)x->seq);
			goto out;
		}
		x->ok = jstr(rec, "result") && !strcmp(jstr(rec, "result"), "ok");
		x->op = rework_step(jstr(rec, "step"));
		if (x->ok && x->op) {
			const char *hid = jstr(rec, "hsm_id"), *uid = jstr(rec, "uid"), *wid = jstr(rec, "writ");
			if (!hex_ok(hid, 32) || !hex_ok(uid, 16) || !hex_ok(wid, 16) || hex_decode(hid, x->hsm_id, 32) < 0 ||
			    hex_decode(uid, x->uid, 16) < 0 || hex_decode(wid, x->writ, 16) < 0 ||
			    !json_is_integer(json_object_get(rec, "hsm_seq"))) {
				fail(k, 422, "bad_record", "record %lld: an ok rework record names its HSM, hsm_seq, writ and "
							   "device UID (16 bytes)", (long long)x->seq);
				goto out;
			}
			x->rework = 1;
			x->hsm_seq = json_integer_value(json_object_get(rec, "hsm_seq"));
			if (x->op == 3 && hex_ok(jstr(rec, "dac_sha256"), 32) &&
			    hex_decode(jstr(rec, "dac_sha256"), x->dac_sha, 32) == 0)
				x->reprov_dac = 1;
		} else if (x->ok) {
			const char *hid = jstr(rec, "hsm_id"), *dh = jstr(rec, "dac_sha256");
			if (!hex_ok(hid, 32) || !hex_ok(dh, 32) || hex_decode(hid, x->hsm_id, 32) < 0 ||
			    hex_decode(dh, x->dac_sha, 32) < 0 || !json_is_integer(json_object_get(rec, "hsm_seq"))) {
				fail(k, 422, "bad_record", "record %lld: an ok record names its HSM, hsm_seq and DAC hash",
				     (long long)x->seq);
				goto out;
			}
			x->hsm_seq = json_integer_value(json_object_get(rec, "hsm_seq"));
		}
		memcpy(prev, x->hash, REC_HASH_HEX);
		expect++;
	}
	err = in_tx(k, tx_records, &t);
	if (err == WRIT_E_JOURNAL) {
		alert_raise(k, factory_oem(k), k->who.factory_id, 0, "bad_record",
			    "factory %s: rework record %lld names no debug-unlock token the HSM journalled (HSM, seq, "
			    "device, writ and operation must match)", fname, (long long)t.bad_at);
		fail(k, 422, "bad_record", "rework record %lld matches no debug-unlock entry of the verified journal: "
					   "refused and raised as an alert", (long long)t.bad_at);
		goto out;
	}
	if (err == WRIT_E_NOTFOUND) {
		fail(k, 409, "journal_first", "record %lld names a DAC the cloud has not verified yet: push the HSM journal "
					      "first, then the records", (long long)t.missing_at);
		goto out;
	}
	if (err == WRIT_E_STATE) {
		fail(k, 409, "gap", "another push moved the record position meanwhile: read it again and resume");
		goto out;
	}
	if (err < 0) {
		fail_db(k, err, "records");
		goto out;
	}
	answer(k, 200, json_pack("{s:I, s:I, s:I}", "accepted", (json_int_t)(n - dups), "duplicate", (json_int_t)dups,
				 "next", (json_int_t)expect));
out:
	json_decref(rec);
	db_res_free(r);
	free(t.r);
	json_decref(o);
	return 0;
}

int h_sync(struct call *k)
{
	struct hsm_row h;

	if (k->who.role != ROLE_FACTORY)
		return forbid(k, "a factory credential");
	if (k->body_len > CLOUD_BODY_MAX && !(k->n_segs == 2 && (!strcmp(k->segs[1], "journal") ||
								 !strcmp(k->segs[1], "records"))))
		return fail(k, 413, "too_big", "request body too large");
	if (k->n_segs == 2 && !strcmp(k->segs[1], "writs") && !strcmp(k->method, "GET"))
		return sync_writs(k);
	if (k->n_segs == 3 && !strcmp(k->segs[1], "bundles") && !strcmp(k->method, "GET"))
		return sync_bundle(k, k->segs[2]);
	if (k->n_segs == 4 && !strcmp(k->segs[1], "hsms") && !strcmp(k->segs[3], "cursor") && !strcmp(k->method, "GET")) {
		if (hsm_of_factory(k, k->segs[2], &h) < 0)
			return 0;
		return answer(k, 200, json_pack("{s:I, s:o}", "next", (json_int_t)h.next, "hash", hexj(h.head, 32)));
	}
	if (k->n_segs == 2 && !strcmp(k->segs[1], "hsms") && !strcmp(k->method, "POST"))
		return cloud_add_hsm(k);
	if (k->n_segs == 2 && !strcmp(k->segs[1], "journal") && !strcmp(k->method, "POST"))
		return sync_journal(k);
	if (k->n_segs == 3 && !strcmp(k->segs[1], "records") && !strcmp(k->segs[2], "cursor") && !strcmp(k->method, "GET")) {
		struct db_res *r = NULL;
		int err = db_query(k->db, "SELECT rec_next, rec_hash FROM factories WHERE id = ?",
				   (struct db_param[]){ DB_I(k->who.factory_id) }, 1, &r);
		if (err < 0 || db_rows(r) != 1) {
			db_res_free(r);
			return fail_db(k, err < 0 ? err : WRIT_E_IO, "records");
		}
		answer(k, 200, json_pack("{s:I, s:s}", "next", (json_int_t)db_int(r, 0, 0), "hash", db_text(r, 0, 1)));
		db_res_free(r);
		return 0;
	}
	if (k->n_segs == 2 && !strcmp(k->segs[1], "records") && !strcmp(k->method, "POST"))
		return sync_records(k);
	if (k->n_segs == 2 && !strcmp(k->segs[1], "telemetry") && !strcmp(k->method, "POST"))
		return telemetry_sync(k);
	return fail(k, 404, "not_found", "no such sync endpoint (docs/cloud-api.md \"Factory sync\")");
}
