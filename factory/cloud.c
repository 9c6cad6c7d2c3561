/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-factory's sync with writ-cloud (docs/factory-api.md, "Sync with writ-cloud";
 * the cloud's side: docs/cloud-api.md, "Factory sync"). One thread, a round right
 * after start and then every interval:
 *
 *   1. pull new writs (GET /v1/sync/writs?since=N, N kept in the store) into the
 *      store, then offer each pending one -- its bundle first when the store lacks it
 *      -- through factory_offer, the code the file drop uses;
 *   2. push each HSM's journal from the cloud's cursor up to a checkpoint asked for
 *      just before (op 7), in runs the cloud accepts whole (each ends at a checkpoint);
 *   3. push the factory's records, exactly the stored texts, from the cloud's cursor.
 *
 * The cloud's cursors are the truth: nothing here remembers what was sent, so a crash
 * or a cut connection at any point is followed by a round that re-reads the cursors
 * and sends what is missing (a repeat is counted as duplicate by the cloud). A round
 * that cannot reach the cloud ends at once; the outage is logged when it starts and
 * when it ends, and the next round comes after a backoff capped at the interval. The
 * stations' API never waits for any of this: the thread shares only the store and
 * the HSM connections with it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/ct.h"
#include "factory/api_json.h"
#include "factory/csync.h"
#include "factory/factory.h"
#include "factory/telemetry.h"
#include "host/file.h"
#include "host/log.h"
#include "web/httpc.h"
#include "wire/cbu.h"
#include "wire/hsmproto.h"
#include "wire/jentry.h"

#define WRITS_ROUND_MAX 100      /* pending writs offered per round */
#define PULL_PAGES_MAX 50        /* writ list pages per round */
#define GAPS_MAX 3               /* 409 gap answers followed per HSM and round */
#define COMPARE_TAIL 64          /* entries sent for the cloud to compare when it is ahead */
#define WINDOW_GIVE_UP (30 * 86400) /* a writ refused for its window this long is refused */


_Static_assert(sizeof(((struct fcloud *)0)->token) == HTTPC_TOKEN_MAX, "the factory token buffer is httpc's");

struct sync {
	struct factory *f;
	struct fcloud *c;
	struct httpc *h;
	int net;          /* this round could not reach the cloud */
	char err[256];    /* this round's first error */
};

/* ---- bookkeeping ---- */

static void note_err(struct sync *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_err(struct sync *s, const char *fmt, ...)
{
	va_list ap;

	if (s->err[0])
		return;
	va_start(ap, fmt);
	(void)vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
}

static void meta_u64_set(struct factory *f, const char *key, uint64_t v)
{
	char buf[24];

	(void)!snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	if (store_meta_set(f->store, key, buf) < 0)
		log_debug("cloud: cannot keep %s in the store", key);
}

static uint64_t meta_u64_get(struct factory *f, const char *key)
{
	char buf[24], *end;
	unsigned long long v;

	if (store_meta_get(f->store, key, buf, sizeof(buf)) < 0)
		return 0;
	v = strtoull(buf, &end, 10);
	return *end ? 0 : (uint64_t)v;
}

/* One request. NET is noted for the round (the caller stops); any other failure is
 * returned with the cloud's message in httpc_error. */
static enum csync_verdict call(struct sync *s, const char *method, const char *path, const void *body, size_t len)
{
	int err = httpc_request(s->h, method, path, body, len, body ? "application/json" : NULL);
	enum csync_verdict v;

	if (err == WRIT_E_TOOBIG || err == WRIT_E_INVAL)
		v = CSYNC_REFUSED;
	else
		v = csync_classify(err, err < 0 ? 0 : httpc_status(s->h), err < 0 ? "" : httpc_code(s->h));
	if (v == CSYNC_NET) {
		s->net = 1;
		if (err < 0)
			note_err(s, "%s", httpc_error(s->h));
		else
			note_err(s, "%s %s: HTTP %ld %s", method, path, httpc_status(s->h), httpc_error(s->h));
	} else if (v == CSYNC_AUTH && !strcmp(httpc_code(s->h), "client_cert")) {
		note_err(s, "the cloud refuses the factory's TLS client certificate (HTTP %ld %s): check --tls DIR "
			    "(docs/operations.md \"TLS\")", httpc_status(s->h), httpc_error(s->h));
	} else if (v == CSYNC_AUTH) {
		note_err(s, "the cloud refuses the factory token (HTTP %ld %s): check --cloud-token-file",
			 httpc_status(s->h), httpc_error(s->h));
	}
	return v;
}

static const uint8_t *answer(struct sync *s, size_t *len)
{
	return httpc_body(s->h, len);
}

/* ---- 1. writs ---- */

static void queued(struct factory *f, uint64_t *ret_records, uint64_t *ret_journal);

static void pull_writs(struct sync *s)
{
	uint64_t since = meta_u64_get(s->f, "cloud_writs_since"), next, qr = 0, qj = 0;
	char path[160], why[160];
	int page;

	/* the writ feed also tells the cloud what waits here (as of the last push), so the
	 * portal can show a factory's queue (docs/cloud-api.md, GET /v1/factories) */
	queued(s->f, &qr, &qj);

	for (page = 0; page < PULL_PAGES_MAX && !atomic_load(&s->f->stop); page++) {
		struct csync_writ *w = NULL;
		const uint8_t *body;
		size_t i, n = 0, len = 0;
		enum csync_verdict v;

		(void)!snprintf(path, sizeof(path), "/v1/sync/writs?since=%llu&queued_records=%llu&queued_journal=%llu"
				"&queued_telemetry=%llu", (unsigned long long)since, (unsigned long long)qr,
				(unsigned long long)qj, (unsigned long long)(s->f->tele ? ftele_queued(s->f->tele) : 0));
		if ((v = call(s, "GET", path, NULL, 0)) != CSYNC_OK) {
			if (v != CSYNC_NET)
				note_err(s, "GET %s: HTTP %ld %s", path, httpc_status(s->h), httpc_error(s->h));
			return;
		}
		body = answer(s, &len);
		if (csync_parse_writs(body, len, since, &w, &n, &next, why, sizeof(why)) < 0) {
			note_err(s, "the cloud's writ list is malformed: %s", why);
			return;
		}
		for (i = 0; i < n; i++) {
			struct store_cloud_writ x;
			memset(&x, 0, sizeof(x));
			x.seq = w[i].seq;
			memcpy(x.id, w[i].id, sizeof(x.id));
			memcpy(x.hsm, w[i].hsm, sizeof(x.hsm));
			memcpy(x.kind, w[i].kind, sizeof(x.kind));
			memcpy(x.version_digest, w[i].version_digest, sizeof(x.version_digest));
			x.sealed = w[i].sealed;
			x.sealed_len = w[i].sealed_len;
			if (store_cloud_writ_add(s->f->store, &x) < 0) {
				note_err(s, "the store cannot keep the writs pulled from the cloud");
				csync_writs_free(w, n);
				return;
			}
			log_info("cloud: writ seq %llu (%s, kind %s) for HSM %.16s… pulled", (unsigned long long)x.seq, x.id,
				 x.kind, x.hsm);
		}
		csync_writs_free(w, n);
		if (next > since) {
			meta_u64_set(s->f, "cloud_writs_since", next);
			since = next;
		}
		if (n < CSYNC_WRITS_MAX)
			return;
	}
}

/* 0 when the bundle of digest (hex) is in the store now; FOFFER_RETRY / _REFUSED with
 * a reason otherwise. *ret_timed: the cloud answered but gave no bundle (e.g. 404):
 * worth asking again, but less often. */
static int ensure_bundle(struct sync *s, const char *digest_hex, char reason[HSMC_REASON_MAX], int *ret_timed)
{
	uint8_t digest[32];
	char path[96], what[120], out[65];
	const uint8_t *body;
	size_t len = 0;
	enum csync_verdict v;
	int r;

	if (hex_decode(digest_hex, digest, sizeof(digest)) < 0) {
		(void)!snprintf(reason, HSMC_REASON_MAX, "malformed version digest");
		return FOFFER_REFUSED;
	}
	if (store_bundle_has(s->f->store, digest) == 0)
		return 0;
	(void)!snprintf(path, sizeof(path), "/v1/sync/bundles/%s", digest_hex);
	v = call(s, "GET", path, NULL, 0);
	if (v != CSYNC_OK) {
		(void)!snprintf(reason, HSMC_REASON_MAX, "its bundle %.16s… could not be fetched (%s: HTTP %ld %s)",
				digest_hex, csync_verdict_name(v), httpc_status(s->h), httpc_error(s->h));
		*ret_timed = v != CSYNC_NET;
		return FOFFER_RETRY;
	}
	body = answer(s, &len);
	(void)!snprintf(what, sizeof(what), "cloud: bundle %.16s…", digest_hex);
	r = factory_offer(s->f, 0, NULL, body, len, what, reason, out, NULL);
	if (r == FOFFER_LOADED && strcmp(out, digest_hex)) {
		(void)!snprintf(reason, HSMC_REASON_MAX, "the cloud sent the bundle of version %.16s… for %.16s…", out,
				digest_hex);
		log_error("cloud: %s", reason);
		return FOFFER_REFUSED;
	}
	if (r == FOFFER_REFUSED) {
		char why[HSMC_REASON_MAX];
		memcpy(why, reason, sizeof(why));
		(void)!snprintf(reason, HSMC_REASON_MAX, "its bundle was refused: %.200s", why);
	}
	return r; /* refusals are logged with their writ */
}

/* A pending writ stays pending: with a new reason (logged when it changed), after a
 * time-bound refusal (timed: attempts and first_refused move on), offered again at
 * next_at. */
static void writ_wait(struct sync *s, const struct store_cloud_writ *w, const char *reason, int timed, int64_t now)
{
	unsigned attempts = timed ? w->attempts + 1 : w->attempts;
	int64_t first = timed && !w->first_refused ? now : w->first_refused;
	int64_t next_at = timed ? now + (int64_t)csync_writ_retry(attempts) : 0;

	if (timed)
		log_warn("cloud: writ seq %llu (%s) waits, offered again in %u s: %s", (unsigned long long)w->seq, w->id,
			 csync_writ_retry(attempts), reason);
	else if (strcmp(w->reason, reason))
		log_warn("cloud: writ seq %llu (%s) waits: %s", (unsigned long long)w->seq, w->id, reason);
	if (store_cloud_writ_set(s->f->store, w->seq, "pending", reason, attempts, next_at, first) < 0)
		note_err(s, "the store cannot write");
}

static void load_writs(struct sync *s)
{
	struct store_cloud_writ *w = NULL;
	int64_t now = (int64_t)time(NULL);
	size_t i, n = 0;

	if (store_cloud_writs_due(s->f->store, now, WRITS_ROUND_MAX, &w, &n) < 0) {
		note_err(s, "the store cannot be read");
		return;
	}
	for (i = 0; i < n && !s->net && !atomic_load(&s->f->stop); i++) {
		char reason[HSMC_REASON_MAX] = "", what[120], out[65];
		int r = 0, err = 0, timed = 0;

		if (w[i].version_digest[0])
			r = ensure_bundle(s, w[i].version_digest, reason, &timed);
		if (r == FOFFER_RETRY && timed && w[i].first_refused && now - w[i].first_refused >= WINDOW_GIVE_UP)
			r = FOFFER_REFUSED; /* the cloud has not had its bundle for 30 days */
		if (r == FOFFER_RETRY) {
			writ_wait(s, &w[i], reason, timed, now);
			continue;
		}
		if (r == FOFFER_REFUSED) {
			log_error("cloud: writ seq %llu (%s) refused: %s", (unsigned long long)w[i].seq, w[i].id, reason);
			if (store_cloud_writ_set(s->f->store, w[i].seq, "refused", reason, w[i].attempts, 0, w[i].first_refused) < 0)
				note_err(s, "the store cannot write");
			continue;
		}
		(void)!snprintf(what, sizeof(what), "cloud: writ seq %llu (%s)", (unsigned long long)w[i].seq, w[i].id);
		r = factory_offer(s->f, 1, w[i].hsm, w[i].sealed, w[i].sealed_len, what, reason, out, &err);
		if (r == FOFFER_LOADED) {
			if (strcmp(out, w[i].id))
				log_warn("cloud: writ seq %llu: the cloud named it %s, the HSM loaded it as %s",
					 (unsigned long long)w[i].seq, w[i].id, out);
			if (store_cloud_writ_set(s->f->store, w[i].seq, "loaded", "", w[i].attempts, 0, w[i].first_refused) < 0)
				note_err(s, "the store cannot write");
		} else if (r == FOFFER_RETRY) {
			writ_wait(s, &w[i], reason, 0, now);
		} else if ((err == WRIT_E_EXPIRED || err == WRIT_E_CLOCK) &&
			   (!w[i].first_refused || now - w[i].first_refused < WINDOW_GIVE_UP)) {
			/* not valid yet, or the clock: time may cure it; offered again, less often */
			writ_wait(s, &w[i], reason, 1, now);
		} else {
			log_warn("cloud: writ seq %llu (%s) refused: %s", (unsigned long long)w[i].seq, w[i].id, reason);
			if (store_cloud_writ_set(s->f->store, w[i].seq, "refused", reason, w[i].attempts, 0,
						 w[i].first_refused) < 0)
				note_err(s, "the store cannot write");
		}
	}
	store_cloud_writs_free(w, n);
}

/* ---- 2. journals ---- */

struct entries {
	uint8_t **p;
	size_t *len;
	uint8_t *is_cp;
	size_t n, cap;
};

static void entries_clear(struct entries *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		free(e->p[i]);
	e->n = 0;
}

static void entries_free(struct entries *e)
{
	entries_clear(e);
	free(e->p);
	free(e->len);
	free(e->is_cp);
	memset(e, 0, sizeof(*e));
}

static int entries_push(struct entries *e, const uint8_t *p, size_t len, int is_cp)
{
	if (e->n == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 512;
		uint8_t **np = realloc(e->p, cap * sizeof(*np));
		size_t *nl;
		uint8_t *nc;
		if (!np)
			return WRIT_E_NOMEM;
		e->p = np;
		if (!(nl = realloc(e->len, cap * sizeof(*nl))))
			return WRIT_E_NOMEM;
		e->len = nl;
		if (!(nc = realloc(e->is_cp, cap)))
			return WRIT_E_NOMEM;
		e->is_cp = nc;
		e->cap = cap;
	}
	if (!(e->p[e->n] = malloc(len ? len : 1)))
		return WRIT_E_NOMEM;
	memcpy(e->p[e->n], p, len);
	e->len[e->n] = len;
	e->is_cp[e->n] = (uint8_t)is_cp;
	e->n++;
	return 0;
}

struct cp_args {
	uint64_t next, checkpoint;
};

static int cp_fn(int fd, void *arg, char *reason)
{
	struct cp_args *a = arg;

	return hsmc_checkpoint(fd, &a->next, &a->checkpoint, reason);
}

struct export_args {
	uint64_t since, max;
	cbor_item_t *entries;
};

static int export_fn(int fd, void *arg, char *reason)
{
	struct export_args *a = arg;

	return hsmc_journal(fd, a->since, a->max, &a->entries, NULL, reason);
}

/* Export entries [since, last] of HSM idx into e (appending) while the run r takes
 * them; *ret_full: the run is full (or the next entry does not fit). An HSM answer
 * that would not fit one frame closes the connection: the batch is halved. */
static int export_run(struct factory *f, int idx, uint64_t since, uint64_t last, struct entries *e, struct csync_run *r,
		      int *ret_full, char reason[HSMC_REASON_MAX])
{
	uint64_t seq = since, max = HSMP_JOURNAL_BATCH_MAX;
	int err = 0;

	*ret_full = 0;
	while (seq <= last && !*ret_full) {
		struct export_args a = { seq, last - seq + 1 < max ? last - seq + 1 : max, NULL };
		size_t i, got;

		err = factory_hsm_with(f, idx, export_fn, &a, reason, 1);
		if ((err == WRIT_E_IO || err == WRIT_E_PROTO) && !reason[0] && max > 1) {
			max /= 2;
			continue;
		}
		if (err < 0)
			return err;
		got = cbor_array_size(a.entries);
		if (!got) {
			cbor_decref(&a.entries);
			(void)!snprintf(reason, HSMC_REASON_MAX, "the HSM exported no entry at seq %llu",
					(unsigned long long)seq);
			return WRIT_E_PROTO;
		}
		for (i = 0; i < got && seq <= last; i++, seq++) {
			cbor_item_t *b = cbor_array_handle(a.entries)[i], *m = NULL;
			uint64_t eseq = UINT64_MAX, type = 0;
			size_t len = cbor_bytestring_length(b);

			if (cbu_load_map(cbor_bytestring_handle(b), len, &m) < 0) {
				err = WRIT_E_PROTO;
			} else {
				if (cbu_get_uint(m, 1, UINT64_MAX, &eseq) < 0 || eseq != seq || cbu_get_uint(m, 4, 255, &type) < 0)
					err = WRIT_E_PROTO;
				cbor_decref(&m);
			}
			if (err < 0) {
				(void)!snprintf(reason, HSMC_REASON_MAX, "the HSM exported a malformed entry at seq %llu",
						(unsigned long long)seq);
				break;
			}
			if (!csync_run_add(r, 2 + csync_b64_len(len))) {
				*ret_full = 1;
				break;
			}
			if ((err = entries_push(e, cbor_bytestring_handle(b), len, type == JT_CHECKPOINT)) < 0)
				break;
		}
		cbor_decref(&a.entries);
		if (err < 0)
			return err;
	}
	return 0;
}

/* {"hsm":"ID","entries":["b64",...]} of the first n entries of e. */
static char *journal_body(const char *hsm, const struct entries *e, size_t n, size_t *ret_len)
{
	size_t i, cap = 40 + 64, k;
	char *b;

	for (i = 0; i < n; i++)
		cap += 3 + csync_b64_len(e->len[i]);
	if (!(b = malloc(cap + 1)))
		return NULL;
	k = (size_t)snprintf(b, cap + 1, "{\"hsm\":\"%s\",\"entries\":[", hsm);
	for (i = 0; i < n; i++) {
		if (i)
			b[k++] = ',';
		b[k++] = '"';
		fj_b64_encode(e->p[i], e->len[i], b + k, 0);
		k += csync_b64_len(e->len[i]);
		b[k++] = '"';
	}
	b[k++] = ']';
	b[k++] = '}';
	b[k] = 0;
	*ret_len = k;
	return b;
}

static void set_journal_cursor(struct sync *s, int idx, const char *hsm, uint64_t next)
{
	char key[96];

	pthread_mutex_lock(&s->c->lock);
	memcpy(s->c->journal[idx].hsm, hsm, 65);
	s->c->journal[idx].next = next;
	pthread_mutex_unlock(&s->c->lock);
	(void)!snprintf(key, sizeof(key), "cloud_journal_next:%s", hsm);
	meta_u64_set(s->f, key, next);
}

static int read_journal_cursor(struct sync *s, int idx, const char *hsm, uint64_t *ret)
{
	char path[120];
	const uint8_t *body;
	size_t len = 0;
	enum csync_verdict v;

	(void)!snprintf(path, sizeof(path), "/v1/sync/hsms/%s/cursor", hsm);
	v = call(s, "GET", path, NULL, 0);
	if (v == CSYNC_NOTFOUND) {
		if (!s->c->journal[idx].not_enrolled)
			log_error("cloud: edge HSM %s is not enrolled with writ-cloud: its journal is not pushed (enrol it with "
				  "writ-factory add-hsm)", hsm);
		s->c->journal[idx].not_enrolled = 1;
		note_err(s, "edge HSM %.16s… is not enrolled with the cloud", hsm);
		return WRIT_E_NOTFOUND;
	}
	if (v != CSYNC_OK) {
		if (v != CSYNC_NET)
			note_err(s, "GET %s: HTTP %ld %s", path, httpc_status(s->h), httpc_error(s->h));
		return WRIT_E_IO;
	}
	s->c->journal[idx].not_enrolled = 0;
	body = answer(s, &len);
	if (csync_parse_cursor(body, len, ret, NULL) < 0) {
		note_err(s, "the cloud's journal cursor of HSM %.16s… is malformed", hsm);
		return WRIT_E_PROTO;
	}
	set_journal_cursor(s, idx, hsm, *ret);
	return 0;
}

static void journal_stop(struct sync *s, int idx, const char *hsm, enum csync_verdict v)
{
	pthread_mutex_lock(&s->c->lock);
	s->c->journal[idx].stopped = 1;
	pthread_mutex_unlock(&s->c->lock);
	log_error("cloud: THE CLOUD REFUSED THE JOURNAL OF EDGE HSM %s (%s: HTTP %ld %s). Its journal is no longer "
		  "pushed: an operator must compare the HSM's journal (writ hsm journal) with the cloud's alert; "
		  "restart writ-factory to try again", hsm, csync_verdict_name(v), httpc_status(s->h), httpc_error(s->h));
}

static void push_journal(struct sync *s, int idx)
{
	struct factory *f = s->f;
	struct entries e;
	char hsm[65], reason[HSMC_REASON_MAX];
	struct cp_args cpa = { 0, 0 };
	uint64_t cursor = 0, cp = 0, count;
	int up, gaps = 0, stopped;

	pthread_mutex_lock(&f->writs_lock);
	up = f->hsms[idx].up;
	memcpy(hsm, f->hsms[idx].id_hex, sizeof(hsm));
	pthread_mutex_unlock(&f->writs_lock);
	if (!up || !hsm[0])
		return; /* the HSM is away (the status refresh logs it): next round */
	pthread_mutex_lock(&s->c->lock);
	if (strcmp(s->c->journal[idx].hsm, hsm))
		s->c->journal[idx].stopped = 0; /* another HSM behind this socket now */
	stopped = s->c->journal[idx].stopped;
	pthread_mutex_unlock(&s->c->lock);
	if (stopped) {
		note_err(s, "the journal of edge HSM %.16s… is not pushed: the cloud refused it (see the log)", hsm);
		return;
	}
	if (read_journal_cursor(s, idx, hsm, &cursor) < 0)
		return;
	/* Always asked (the status cached by the refresh may be a second old, and a record
	 * must not reach the cloud before its DAC): the HSM writes a checkpoint only when
	 * something was appended since the last one, so an idle journal does not grow. */
	if (factory_hsm_with(f, idx, cp_fn, &cpa, reason, 1) < 0) {
		note_err(s, "edge HSM %.16s… made no checkpoint: %s", hsm, reason);
		return;
	}
	cp = cpa.checkpoint;
	if (csync_journal_span(cursor, cp, &count) < 0) {
		/* The cloud has more of this journal than the HSM signed: its state was restored
		 * from a backup, or it is another HSM's. Its latest entries are sent anyway: the
		 * cloud compares what it has stored and refuses other bytes as a fork, with an
		 * alert (then the push stops below). */
		note_err(s, "the cloud has %llu entries of edge HSM %.16s…, whose latest checkpoint is %llu: its "
			 "journal is not the one the cloud verified (a restored state?)", (unsigned long long)cursor, hsm,
			 (unsigned long long)cp);
		cursor = cp + 1 > COMPARE_TAIL ? cp + 1 - COMPARE_TAIL : 0;
	}
	memset(&e, 0, sizeof(e));
	while (cursor <= cp && !atomic_load(&f->stop)) {
		struct csync_run r;
		struct csync_pushed p;
		enum csync_verdict v;
		const uint8_t *body;
		size_t n, len = 0, blen = 0;
		char *json;
		int full;

		entries_clear(&e);
		csync_run_init(&r, 40 + 64, CSYNC_JOURNAL_RUN_MAX, CSYNC_BODY_MAX);
		if (export_run(f, idx, cursor, cp, &e, &r, &full, reason) < 0) {
			note_err(s, "cannot read the journal of edge HSM %.16s…: %s", hsm, reason);
			break;
		}
		if (!e.n) {
			note_err(s, "journal entry %llu of edge HSM %.16s… is too large for one push", (unsigned long long)cursor,
				 hsm);
			break;
		}
		n = csync_run_cut(e.is_cp, e.n, cursor + e.n > cp);
		if (!(json = journal_body(hsm, &e, n, &blen))) {
			note_err(s, "out of memory");
			break;
		}
		v = call(s, "POST", "/v1/sync/journal", json, blen);
		free(json);
		if (v == CSYNC_GAP && ++gaps <= GAPS_MAX) {
			log_info("cloud: journal of HSM %.16s…: gap at %llu; resuming at the cloud's cursor", hsm,
				 (unsigned long long)cursor);
			if (read_journal_cursor(s, idx, hsm, &cursor) < 0)
				break;
			continue;
		}
		if (v == CSYNC_FORK || v == CSYNC_BAD) {
			journal_stop(s, idx, hsm, v);
			note_err(s, "the cloud refused the journal of edge HSM %.16s… (%s)", hsm, csync_verdict_name(v));
			break;
		}
		if (v != CSYNC_OK) {
			if (v != CSYNC_NET)
				note_err(s, "POST /v1/sync/journal: HTTP %ld %s", httpc_status(s->h), httpc_error(s->h));
			break;
		}
		body = answer(s, &len);
		if (csync_parse_pushed(body, len, &p) < 0) {
			note_err(s, "the cloud's answer to a journal push is malformed");
			break;
		}
		set_journal_cursor(s, idx, hsm, p.next);
		if (p.next <= cursor) {
			note_err(s, "the cloud took none of %zu journal entries of edge HSM %.16s… from %llu", n, hsm,
				 (unsigned long long)cursor);
			break;
		}
		log_debug("cloud: journal of HSM %.16s…: %llu accepted, %llu duplicate, next %llu", hsm,
			  (unsigned long long)p.accepted, (unsigned long long)p.duplicate, (unsigned long long)p.next);
		cursor = p.next;
	}
	entries_free(&e);
}

static void push_journals(struct sync *s)
{
	size_t i;

	for (i = 0; i < s->f->n_hsms && !s->net && !atomic_load(&s->f->stop); i++)
		push_journal(s, (int)i);
}

/* ---- 3. records ---- */

struct recrun {
	struct csync_run r;
	char *buf;
	size_t len, cap;
	uint64_t last;
};

static int rec_take(void *arg, uint64_t seq, const char *json)
{
	struct recrun *rr = arg;
	size_t n = strlen(json), cost = csync_jstr_len(json, n);

	if (!csync_run_add(&rr->r, cost))
		return 1; /* full: stop here */
	if (rr->len + cost + 8 > rr->cap) { /* room for a comma and the closing "]}" */
		size_t cap = rr->cap;
		char *nb;
		while (cap < rr->len + cost + 8)
			cap *= 2;
		if (!(nb = realloc(rr->buf, cap)))
			return WRIT_E_NOMEM;
		rr->buf = nb;
		rr->cap = cap;
	}
	if (rr->r.n > 1)
		rr->buf[rr->len++] = ',';
	rr->len += csync_jstr_put(rr->buf + rr->len, json, n);
	rr->last = seq;
	return 0;
}

static void set_records_cursor(struct sync *s, uint64_t next)
{
	pthread_mutex_lock(&s->c->lock);
	s->c->records_next = next;
	pthread_mutex_unlock(&s->c->lock);
	meta_u64_set(s->f, "cloud_records_next", next);
}

static int read_records_cursor(struct sync *s, uint64_t *ret)
{
	const uint8_t *body;
	size_t len = 0;
	enum csync_verdict v = call(s, "GET", "/v1/sync/records/cursor", NULL, 0);

	if (v != CSYNC_OK) {
		if (v != CSYNC_NET)
			note_err(s, "GET /v1/sync/records/cursor: HTTP %ld %s", httpc_status(s->h), httpc_error(s->h));
		return WRIT_E_IO;
	}
	body = answer(s, &len);
	if (csync_parse_cursor(body, len, ret, NULL) < 0) {
		note_err(s, "the cloud's record cursor is malformed");
		return WRIT_E_PROTO;
	}
	set_records_cursor(s, *ret);
	return 0;
}

static void push_records(struct sync *s)
{
	static const char head[] = "{\"records\":[", tail[] = "]}";
	uint64_t next = 0, last = 0;
	int journal_again = 0, gaps = 0;

	if (store_records_last(s->f->store, &last) < 0) {
		note_err(s, "the store cannot be read");
		return;
	}
	if (read_records_cursor(s, &next) < 0)
		return;
	while (csync_records_since(next) < last && !atomic_load(&s->f->stop)) {
		struct recrun rr;
		struct csync_pushed p;
		enum csync_verdict v;
		const uint8_t *body;
		size_t len = 0;
		int err;

		memset(&rr, 0, sizeof(rr));
		csync_run_init(&rr.r, sizeof(head) - 1 + sizeof(tail) - 1, CSYNC_RECORD_RUN_MAX, CSYNC_BODY_MAX);
		rr.cap = 65536;
		if (!(rr.buf = malloc(rr.cap))) {
			note_err(s, "out of memory");
			return;
		}
		memcpy(rr.buf, head, sizeof(head) - 1);
		rr.len = sizeof(head) - 1;
		err = store_records(s->f->store, csync_records_since(next), CSYNC_RECORD_RUN_MAX, rec_take, &rr);
		if (err < 0 || !rr.r.n) {
			if (err < 0)
				note_err(s, "the store cannot be read");
			else
				note_err(s, "record %llu does not fit a push", (unsigned long long)csync_records_since(next) + 1);
			free(rr.buf);
			return;
		}
		memcpy(rr.buf + rr.len, tail, sizeof(tail)); /* with its NUL */
		rr.len += sizeof(tail) - 1;
		v = call(s, "POST", "/v1/sync/records", rr.buf, rr.len);
		free(rr.buf);
		if (v == CSYNC_JOURNAL_FIRST && !journal_again) {
			journal_again = 1; /* a record names a DAC the cloud has not verified yet */
			push_journals(s);
			if (s->net)
				return;
			continue;
		}
		if (v == CSYNC_GAP && ++gaps <= GAPS_MAX) {
			if (read_records_cursor(s, &next) < 0)
				return;
			continue;
		}
		if (v == CSYNC_FORK || v == CSYNC_BAD) {
			log_error("cloud: THE CLOUD REFUSED THE FACTORY'S RECORDS from seq %llu (%s: HTTP %ld %s): an operator "
				  "must look", (unsigned long long)csync_records_since(next) + 1, csync_verdict_name(v),
				  httpc_status(s->h), httpc_error(s->h));
			note_err(s, "the cloud refused the records (%s)", csync_verdict_name(v));
			return;
		}
		if (v != CSYNC_OK) {
			if (v != CSYNC_NET)
				note_err(s, "POST /v1/sync/records: HTTP %ld %s", httpc_status(s->h), httpc_error(s->h));
			return;
		}
		body = answer(s, &len);
		if (csync_parse_pushed(body, len, &p) < 0) {
			note_err(s, "the cloud's answer to a record push is malformed");
			return;
		}
		set_records_cursor(s, p.next);
		if (p.next <= next) {
			note_err(s, "the cloud took none of the records from %llu", (unsigned long long)next);
			return;
		}
		next = p.next;
	}
}

/* ---- 4. line telemetry (telemetry.c) ---- */

static int stopping(void *arg)
{
	return atomic_load(&((struct factory *)arg)->stop);
}

static void push_telemetry(struct sync *s)
{
	char err[256] = "";
	int v = ftele_push(s->f->tele, s->h, stopping, s->f, err, sizeof(err));

	if (v == CSYNC_NET)
		s->net = 1;
	if (v)
		note_err(s, "%s", err);
}

/* ---- the thread ---- */

/* Records and journal entries not in the cloud yet, as far as the last cursors say. */
static void queued(struct factory *f, uint64_t *ret_records, uint64_t *ret_journal)
{
	uint64_t last = 0, j = 0;
	size_t i;

	(void)!store_records_last(f->store, &last);
	pthread_mutex_lock(&f->writs_lock);
	pthread_mutex_lock(&f->cloud.lock);
	*ret_records = last > csync_records_since(f->cloud.records_next) ? last - csync_records_since(f->cloud.records_next) : 0;
	for (i = 0; i < f->n_hsms; i++) {
		uint64_t head = f->hsms[i].journal_next, cur = 0;
		if (!f->hsms[i].id_hex[0])
			continue;
		if (!strcmp(f->cloud.journal[i].hsm, f->hsms[i].id_hex))
			cur = f->cloud.journal[i].next;
		j += head > cur ? head - cur : 0;
	}
	pthread_mutex_unlock(&f->cloud.lock);
	pthread_mutex_unlock(&f->writs_lock);
	*ret_journal = j;
}

json_t *cloud_status_json(struct factory *f)
{
	uint64_t qr = 0, qj = 0, pending = 0, refused = 0;
	json_t *o, *stopped = json_array();
	size_t i;

	if (!f->cloud.url || !stopped) {
		json_decref(stopped);
		return json_null();
	}
	queued(f, &qr, &qj);
	(void)!store_cloud_writ_counts(f->store, &pending, &refused);
	pthread_mutex_lock(&f->cloud.lock);
	for (i = 0; i < f->n_hsms; i++)
		if (f->cloud.journal[i].stopped)
			json_array_append_new(stopped, json_string(f->cloud.journal[i].hsm));
	o = json_pack("{s:s,s:o,s:o,s:o,s:I,s:I,s:b,s:o,s:I,s:I,s:o}", "url", f->cloud.url, "last_ok",
		      f->cloud.last_ok ? json_integer(f->cloud.last_ok) : json_null(), "last_error",
		      f->cloud.last_error[0] ? json_string(f->cloud.last_error) : json_null(), "last_error_at",
		      f->cloud.last_error_at ? json_integer(f->cloud.last_error_at) : json_null(), "queued_records",
		      (json_int_t)qr, "queued_journal", (json_int_t)qj, "reachable", !f->cloud.down, "journal_stopped",
		      stopped, "writs_pending", (json_int_t)pending, "writs_refused", (json_int_t)refused, "down_since",
		      f->cloud.down && f->cloud.down_since ? json_integer(f->cloud.down_since) : json_null());
	pthread_mutex_unlock(&f->cloud.lock);
	if (o && f->tele)
		json_object_set_new(o, "queued_telemetry", json_integer((json_int_t)ftele_queued(f->tele)));
	return o ? o : json_null();
}

void cloud_wake(struct factory *f)
{
	pthread_mutex_lock(&f->cloud.lock);
	pthread_cond_broadcast(&f->cloud.wake);
	pthread_mutex_unlock(&f->cloud.lock);
}

static void wait_s(struct factory *f, unsigned seconds)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += seconds;
	pthread_mutex_lock(&f->cloud.lock);
	if (!atomic_load(&f->stop))
		pthread_cond_timedwait(&f->cloud.wake, &f->cloud.lock, &ts);
	pthread_mutex_unlock(&f->cloud.lock);
}

static void round_end(struct sync *s, struct csync_outage *o)
{
	int64_t now = (int64_t)time(NULL), since = 0;
	uint64_t qr = 0, qj = 0;

	if (s->net) {
		if (csync_outage_fail(o, now)) {
			queued(s->f, &qr, &qj);
			log_warn("cloud: %s unreachable since %lld (%s); %llu records and %llu journal entries queued: "
				 "retrying with backoff, production goes on", s->c->url, (long long)now, s->err,
				 (unsigned long long)qr, (unsigned long long)qj);
		}
	} else if (csync_outage_ok(o, &since)) {
		log_info("cloud: %s reachable again after %lld s", s->c->url, (long long)(now - since));
	}
	pthread_mutex_lock(&s->c->lock);
	s->c->down = o->down;
	s->c->down_since = o->down ? o->since : 0;
	if (s->err[0]) {
		if (!s->net && strcmp(s->c->last_error, s->err))
			log_warn("cloud: %s", s->err);
		memcpy(s->c->last_error, s->err, sizeof(s->c->last_error));
		s->c->last_error_at = now;
	} else {
		s->c->last_ok = now;
		s->c->last_error[0] = 0;
	}
	pthread_mutex_unlock(&s->c->lock);
}

/* For an HSM seen for the first time (or another one behind its socket), the cloud's
 * cursor as last seen before a restart, for the status until the cloud answers. */
static void seed_hints(struct factory *f)
{
	char ids[FACTORY_MAX_HSMS][65];
	size_t i, n;

	pthread_mutex_lock(&f->writs_lock);
	n = f->n_hsms;
	for (i = 0; i < n; i++)
		memcpy(ids[i], f->hsms[i].id_hex, 65);
	pthread_mutex_unlock(&f->writs_lock);
	for (i = 0; i < n; i++) {
		char key[96];
		uint64_t hint;
		int seen;
		pthread_mutex_lock(&f->cloud.lock);
		seen = !ids[i][0] || !strcmp(f->cloud.journal[i].hsm, ids[i]);
		pthread_mutex_unlock(&f->cloud.lock);
		if (seen)
			continue;
		(void)!snprintf(key, sizeof(key), "cloud_journal_next:%.64s", ids[i]);
		hint = meta_u64_get(f, key);
		pthread_mutex_lock(&f->cloud.lock);
		memcpy(f->cloud.journal[i].hsm, ids[i], 65);
		f->cloud.journal[i].next = hint;
		f->cloud.journal[i].stopped = 0;
		f->cloud.journal[i].not_enrolled = 0;
		pthread_mutex_unlock(&f->cloud.lock);
	}
}

void *cloud_main(void *arg)
{
	struct factory *f = arg;
	struct httpc_opts opts = { .connect_timeout_ms = 5000, .timeout_ms = 120000,
				   .max_answer = BUNDLE_MAX + 64 * 1024 };
	struct csync_outage o = { 0, 0, 0 };
	struct sync s;
	int err;

	memset(&s, 0, sizeof(s));
	s.f = f;
	s.c = &f->cloud;
	err = httpc_new(f->cloud.url, f->cloud.token, &opts, &s.h);
	writ_memzero(f->cloud.token, sizeof(f->cloud.token));
	if (err < 0) {
		log_error("cloud: cannot use %s (%s): no sync", f->cloud.url, writ_strerror(err));
		return NULL;
	}
	/* the last cursors seen, for the status until the cloud answers */
	{
		uint64_t hint = meta_u64_get(f, "cloud_records_next");
		pthread_mutex_lock(&f->cloud.lock);
		f->cloud.records_next = hint;
		pthread_mutex_unlock(&f->cloud.lock);
	}
	log_info("cloud: syncing with %s every %u s", f->cloud.url, f->cloud.interval);
	while (!atomic_load(&f->stop)) {
		s.net = 0;
		s.err[0] = 0;
		seed_hints(f);
		pull_writs(&s);
		if (!s.net)
			load_writs(&s);
		if (!s.net)
			push_journals(&s);
		if (!s.net)
			push_records(&s);
		if (!s.net && f->tele)
			push_telemetry(&s);
		round_end(&s, &o);
		wait_s(f, csync_backoff(o.fails, f->cloud.interval));
	}
	httpc_free(s.h);
	return NULL;
}
