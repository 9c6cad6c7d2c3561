/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-factory's metrics (metrics.h). The event counters live here as atomics; the
 * gauges are read at scrape time from where they already are: the HSMs' status (one
 * status op per HSM, as GET /v1/status does), the store's counts, and the sync
 * thread's status (cloud_status_json).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "factory/factory.h"
#include "factory/metrics.h"

static const char *const ops[FM_OP_N] = { "dac", "wrap", "load" };

/* HSM statuses by name; the rest is "other". */
static const struct {
	int st;
	const char *name;
} reasons[] = {
	{ WRIT_E_QUOTA, "quota" },	{ WRIT_E_EXPIRED, "window" },	  { WRIT_E_CLOCK, "clock" },
	{ WRIT_E_REVOKED, "revoked" },	{ WRIT_E_SCOPE, "scope" },	  { WRIT_E_REPLAY, "replay" },
	{ WRIT_E_STATE, "busy" },	{ WRIT_E_BADSIG, "signature" },	  { WRIT_E_DECRYPT, "decrypt" },
	{ WRIT_E_NOTFOUND, "not_found" }, { WRIT_E_FORMAT, "format" },	  { WRIT_E_TOOBIG, "too_big" },
	{ WRIT_E_UNSUPPORTED, "unsupported" }, { WRIT_E_EXISTS, "exists" }, { WRIT_E_IO, "io" },
};
#define N_REASONS (sizeof(reasons) / sizeof(reasons[0]) + 1)

static struct {
	atomic_uint_fast64_t refusals[FM_OP_N][N_REASONS];
	atomic_uint_fast64_t bundles_refused;
	atomic_int_fast64_t started;
	struct prom_hist dac;
} m;

void fmetrics_start(void)
{
	atomic_store(&m.started, (int_fast64_t)time(NULL));
}

void fmetrics_hsm_refusal(enum fmetrics_op op, int st)
{
	size_t i;

	for (i = 0; i + 1 < N_REASONS && reasons[i].st != st; i++)
		;
	if ((unsigned)op < FM_OP_N)
		atomic_fetch_add_explicit(&m.refusals[op][i], 1, memory_order_relaxed);
}

void fmetrics_bundle_refused(void)
{
	atomic_fetch_add_explicit(&m.bundles_refused, 1, memory_order_relaxed);
}

void fmetrics_dac_issued(uint64_t t0_ns)
{
	prom_hist_observe(&m.dac, prom_latency_bounds, prom_latency_n, prom_now_ns() - t0_ns);
}

static void dac_count(void *arg, const char *writ, const char *state, uint64_t n)
{
	prom_u64(arg, "writ_factory_dacs", (const char *const[]){ "writ", writ, "state", state, NULL }, n);
}

/* A number of the sync status object, or -1 when absent / null. */
static int64_t jnum(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : json_is_boolean(v) ? json_is_true(v) : -1;
}

static void sync_metrics(struct factory *f, struct prom_buf *b)
{
	json_t *c = cloud_status_json(f);
	int64_t now = (int64_t)time(NULL), last;

	if (!json_is_object(c)) {
		json_decref(c);
		return; /* no --cloud: nothing to say about sync */
	}
	last = jnum(c, "last_ok");
	prom_family(b, "writ_factory_sync_last_success_seconds", "gauge",
		    "Unix time of the end of the last sync round with writ-cloud without error (0: none yet).");
	prom_i64(b, "writ_factory_sync_last_success_seconds", NULL, last > 0 ? last : 0);
	prom_family(b, "writ_factory_sync_lag_seconds", "gauge",
		    "Seconds since the last sync round without error (since the service started when none yet).");
	prom_i64(b, "writ_factory_sync_lag_seconds", NULL, now - (last > 0 ? last : (int64_t)atomic_load(&m.started)));
	prom_family(b, "writ_factory_sync_reachable", "gauge", "1 when writ-cloud answered the latest round.");
	prom_i64(b, "writ_factory_sync_reachable", NULL, jnum(c, "reachable") > 0);
	prom_family(b, "writ_factory_sync_queued_records", "gauge", "Production records not yet accepted by writ-cloud.");
	prom_i64(b, "writ_factory_sync_queued_records", NULL, jnum(c, "queued_records"));
	prom_family(b, "writ_factory_sync_queued_journal_entries", "gauge",
		    "Edge-HSM journal entries not yet accepted by writ-cloud (all HSMs).");
	prom_i64(b, "writ_factory_sync_queued_journal_entries", NULL, jnum(c, "queued_journal"));
	prom_family(b, "writ_factory_sync_writs_pending", "gauge", "Writs pulled from writ-cloud, not yet loaded.");
	prom_i64(b, "writ_factory_sync_writs_pending", NULL, jnum(c, "writs_pending"));
	prom_family(b, "writ_factory_sync_writs_refused", "gauge", "Writs pulled from writ-cloud that an HSM refused.");
	prom_i64(b, "writ_factory_sync_writs_refused", NULL, jnum(c, "writs_refused"));
	prom_family(b, "writ_factory_sync_journal_stopped", "gauge",
		    "Edge HSMs whose journal writ-cloud refused (fork, does not verify): no more pushes until a restart.");
	prom_i64(b, "writ_factory_sync_journal_stopped", NULL, (int64_t)json_array_size(json_object_get(c, "journal_stopped")));
	json_decref(c);
}

void fmetrics_render(struct factory *f, struct prom_buf *b)
{
	uint64_t records = 0, queue = 0, pending = 0;
	size_t i, k;
	int store_ok;

	(void)factory_refresh(f);
	prom_family(b, "writ_factory_start_time_seconds", "gauge", "Unix time this writ-factory process started.");
	prom_i64(b, "writ_factory_start_time_seconds", NULL, (int64_t)atomic_load(&m.started));

	pthread_mutex_lock(&f->writs_lock);
	prom_family(b, "writ_factory_hsm_up", "gauge", "1 when the edge HSM answered its status just now, by socket.");
	for (i = 0; i < f->n_hsms; i++)
		prom_i64(b, "writ_factory_hsm_up",
			 (const char *const[]){ "socket", f->hsms[i].path, "hsm", f->hsms[i].up ? f->hsms[i].id_hex : "", NULL },
			 f->hsms[i].up);
	prom_family(b, "writ_hsm_journal_next", "gauge", "An edge HSM's next journal seq (entries written so far).");
	for (i = 0; i < f->n_hsms; i++)
		if (f->hsms[i].up)
			prom_u64(b, "writ_hsm_journal_next", (const char *const[]){ "hsm", f->hsms[i].id_hex, NULL },
				 f->hsms[i].journal_next);
	/* devices per batch, as the HSM that enforces the quantity counts them */
	prom_family(b, "writ_hsm_writ_issued", "gauge",
		    "DACs an edge HSM issued under a writ (durable; one unit of quantity each), by HSM, writ and product.");
	for (k = 0; k < f->n_writs; k++)
		prom_u64(b, "writ_hsm_writ_issued",
			 (const char *const[]){ "hsm", f->hsms[f->writs[k].hsm].id_hex, "writ", f->writs[k].id_hex, "product",
						f->writs[k].product, NULL },
			 f->writs[k].issued);
	prom_family(b, "writ_hsm_writ_quantity", "gauge", "The quantity a writ loaded in an edge HSM allows.");
	for (k = 0; k < f->n_writs; k++)
		prom_u64(b, "writ_hsm_writ_quantity",
			 (const char *const[]){ "hsm", f->hsms[f->writs[k].hsm].id_hex, "writ", f->writs[k].id_hex, "product",
						f->writs[k].product, NULL },
			 f->writs[k].quantity);
	prom_family(b, "writ_hsm_writ_remaining", "gauge", "Units of a writ's quantity left.");
	for (k = 0; k < f->n_writs; k++)
		prom_u64(b, "writ_hsm_writ_remaining",
			 (const char *const[]){ "hsm", f->hsms[f->writs[k].hsm].id_hex, "writ", f->writs[k].id_hex, "product",
						f->writs[k].product, NULL },
			 f->writs[k].remaining);
	prom_family(b, "writ_hsm_writ_revoked", "gauge", "1 when a loaded writ was revoked.");
	for (k = 0; k < f->n_writs; k++)
		prom_i64(b, "writ_hsm_writ_revoked",
			 (const char *const[]){ "hsm", f->hsms[f->writs[k].hsm].id_hex, "writ", f->writs[k].id_hex, "product",
						f->writs[k].product, NULL },
			 f->writs[k].revoked != 0);
	pthread_mutex_unlock(&f->writs_lock);

	prom_family(b, "writ_factory_hsm_refusals_total", "counter",
		    "Refusals an edge HSM answered to this factory, by operation (dac, wrap, load) and reason.");
	for (i = 0; i < FM_OP_N; i++)
		for (k = 0; k < N_REASONS; k++) {
			uint64_t v = atomic_load_explicit(&m.refusals[i][k], memory_order_relaxed);
			if (v)
				prom_u64(b, "writ_factory_hsm_refusals_total",
					 (const char *const[]){ "op", ops[i], "reason",
								k + 1 < N_REASONS ? reasons[k].name : "other", NULL },
					 v);
		}
	prom_family(b, "writ_factory_bundles_refused_total", "counter",
		    "Product-version bundles refused (signature, format, size), from the drop or the cloud.");
	prom_u64(b, "writ_factory_bundles_refused_total", NULL, atomic_load_explicit(&m.bundles_refused, memory_order_relaxed));
	prom_family(b, "writ_factory_dac_issue_duration_seconds", "histogram",
		    "Time writ-factory waited for its edge HSM to issue a DAC (request sent to answer read), issued ones only.");
	prom_hist_write(b, "writ_factory_dac_issue_duration_seconds", NULL, &m.dac, prom_latency_bounds, prom_latency_n);

	prom_family(b, "writ_factory_dacs", "gauge",
		    "DAC notes in the factory's store by writ and state (asking, issued, recorded, unknown).");
	store_ok = store_dac_counts(f->store, dac_count, b) == 0 && store_counts(f->store, &records, &queue, &pending) == 0;
	if (store_ok) {
		prom_family(b, "writ_factory_records", "gauge", "Production records in the factory's store.");
		prom_u64(b, "writ_factory_records", NULL, records);
		prom_family(b, "writ_factory_webhook_queue", "gauge", "Records waiting for the MES webhook.");
		prom_u64(b, "writ_factory_webhook_queue", NULL, queue);
		prom_family(b, "writ_factory_dacs_open", "gauge", "DACs asked or issued but not yet recorded by a station.");
		prom_u64(b, "writ_factory_dacs_open", NULL, pending);
	}
	prom_family(b, "writ_factory_store_up", "gauge", "1 when the store could be read and written just now.");
	prom_i64(b, "writ_factory_store_up", NULL, store_ok && store_writable(f->store) == 0);
	sync_metrics(f, b);
}
