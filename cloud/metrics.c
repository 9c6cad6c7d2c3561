/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-cloud's health and Prometheus metrics (docs/operations.md, "Metrics").
 *
 * GET /metrics serves the text exposition format 0.0.4 to one caller only: whoever
 * holds the metrics token the operator gave `serve --metrics-token-file` (or
 * $WRIT_CLOUD_METRICS_TOKEN). The exposition spans every tenant (batches, factories
 * and alerts of every OEM), so no tenant's API token may read it, whatever its role:
 * tenants see their own data through /v1. Without a metrics token /metrics is off (404).
 *
 * What a request costs: a few relaxed atomic additions (counts by route and status,
 * refusals by code, a latency histogram per route); no lock. What a scrape costs:
 * four aggregate queries on one pooled store connection.
 */
#include <stdio.h>
#include <string.h>

#include <microhttpd.h>

#include "base/ct.h"
#include "cloud/cloud.h"
#include "crypto/ec.h"
#include "host/file.h"
#include "host/log.h"
#include "host/prom.h"

/* The resources under /v1 that are counted on their own; the rest is "other". */
static const char *const routes[] = { "health", "me", "users", "tokens", "products", "factories", "enrol",
				      "batches", "sync", "records", "devices", "alerts", "other" };
#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

static const unsigned statuses[] = { 200, 201, 400, 401, 403, 404, 405, 409, 413, 414, 422, 500, 503, 0 };
#define N_STATUS (sizeof(statuses) / sizeof(statuses[0]))

/* The "code" words of refusals (docs/cloud-api.md); the rest is "other". */
static const char *const codes[] = { "bad_request", "unauthenticated", "forbidden", "not_found", "method",
				     "conflict", "quota", "state", "fork", "gap", "journal_first", "too_big",
				     "bad_signature", "bad_enrolment", "bad_journal", "bad_record", "internal",
				     "unavailable", "other" };
#define N_CODES (sizeof(codes) / sizeof(codes[0]))

static struct {
	atomic_uint_fast64_t requests[N_ROUTES][N_STATUS];
	atomic_uint_fast64_t refusals[N_ROUTES][N_CODES];
	struct prom_hist latency[N_ROUTES];
} m;

static size_t route_idx(const char *route)
{
	size_t i;

	for (i = 0; i + 1 < N_ROUTES; i++)
		if (!strcmp(routes[i], route))
			return i;
	return N_ROUTES - 1;
}

void cmetrics_observe(const char *route, const struct call *k, uint64_t t0_ns)
{
	size_t r = route_idx(route), s, c = N_CODES - 1;
	const char *code;

	for (s = 0; s + 1 < N_STATUS && statuses[s] != k->status; s++)
		;
	atomic_fetch_add_explicit(&m.requests[r][s], 1, memory_order_relaxed);
	if (k->status >= 400) {
		code = k->json ? json_string_value(json_object_get(k->json, "code")) : NULL;
		for (c = 0; code && c + 1 < N_CODES && strcmp(codes[c], code); c++)
			;
		if (!code)
			c = N_CODES - 1;
		atomic_fetch_add_explicit(&m.refusals[r][c], 1, memory_order_relaxed);
	}
	prom_hist_observe(&m.latency[r], prom_latency_bounds, prom_latency_n, prom_now_ns() - t0_ns);
}

static void process_metrics(struct cloud *c, struct prom_buf *b)
{
	char st[16];
	size_t r, s;

	prom_family(b, "writ_cloud_start_time_seconds", "gauge", "Unix time this writ-cloud process started.");
	prom_i64(b, "writ_cloud_start_time_seconds", NULL, c->started);
	prom_family(b, "writ_cloud_http_requests_total", "counter",
		    "HTTP requests answered under /v1, by resource (first path segment) and status.");
	for (r = 0; r < N_ROUTES; r++)
		for (s = 0; s < N_STATUS; s++) {
			uint64_t v = atomic_load_explicit(&m.requests[r][s], memory_order_relaxed);
			if (!v)
				continue;
			if (statuses[s])
				(void)!snprintf(st, sizeof(st), "%u", statuses[s]);
			else
				(void)!snprintf(st, sizeof(st), "other");
			prom_u64(b, "writ_cloud_http_requests_total",
				 (const char *const[]){ "route", routes[r], "status", st, NULL }, v);
		}
	prom_family(b, "writ_cloud_refusals_total", "counter",
		    "Requests refused (HTTP 4xx/5xx), by resource and the answer's code: e.g. sync/fork, sync/gap, "
		    "sync/bad_journal, sync/bad_record, products/bad_signature, enrol/bad_enrolment, batches/quota.");
	for (r = 0; r < N_ROUTES; r++)
		for (s = 0; s < N_CODES; s++) {
			uint64_t v = atomic_load_explicit(&m.refusals[r][s], memory_order_relaxed);
			if (v)
				prom_u64(b, "writ_cloud_refusals_total",
					 (const char *const[]){ "route", routes[r], "code", codes[s], NULL }, v);
		}
	prom_family(b, "writ_cloud_http_request_duration_seconds", "histogram",
		    "Time from a request's headers to its answer, by resource.");
	for (r = 0; r < N_ROUTES; r++)
		prom_hist_write(b, "writ_cloud_http_request_duration_seconds", (const char *const[]){ "route", routes[r], NULL },
				&m.latency[r], prom_latency_bounds, prom_latency_n);
}

/* The tenants' production, from the store. */
static int store_metrics(struct db *db, struct prom_buf *b)
{
	struct db_res *r = NULL;
	char id[65], fid[65];
	const uint8_t *p;
	size_t i, len;
	int err;

	err = db_query(db,
		       "SELECT o.name, p.name, b.writ_id, f.name, b.quantity, b.produced, b.reissued"
		       " FROM batches b JOIN products p ON p.id = b.product_id JOIN orgs o ON o.id = p.oem_id"
		       " JOIN factories f ON f.id = b.factory_id ORDER BY b.id",
		       NULL, 0, &r);
	if (err < 0)
		return err;
	prom_family(b, "writ_cloud_batch_devices", "gauge",
		    "Devices of a batch verified into the portal (signed journal entries), by OEM, product, batch "
		    "(writ id) and factory.");
	for (i = 0; i < db_rows(r); i++) {
		p = db_blob(r, i, 2, &len);
		hex_encode(p, len <= 16 ? len : 16, id);
		prom_i64(b, "writ_cloud_batch_devices",
			 (const char *const[]){ "oem", db_text(r, i, 0), "product", db_text(r, i, 1), "batch", id, "factory",
						db_text(r, i, 3), NULL },
			 db_int(r, i, 5));
	}
	prom_family(b, "writ_cloud_batch_quantity", "gauge", "The quantity a batch's writ allows.");
	for (i = 0; i < db_rows(r); i++) {
		p = db_blob(r, i, 2, &len);
		hex_encode(p, len <= 16 ? len : 16, id);
		prom_i64(b, "writ_cloud_batch_quantity",
			 (const char *const[]){ "oem", db_text(r, i, 0), "product", db_text(r, i, 1), "batch", id, "factory",
						db_text(r, i, 3), NULL },
			 db_int(r, i, 4));
	}
	db_res_free(r);
	r = NULL;

	err = db_query(db,
		       "SELECT o.name, f.name, f.last_contact FROM factories f JOIN orgs o ON o.id = f.oem_id ORDER BY f.id",
		       NULL, 0, &r);
	if (err < 0)
		return err;
	prom_family(b, "writ_cloud_factory_last_contact_seconds", "gauge",
		    "Unix time of a factory's last authenticated sync call (0: never), by OEM and factory.");
	for (i = 0; i < db_rows(r); i++)
		prom_i64(b, "writ_cloud_factory_last_contact_seconds",
			 (const char *const[]){ "oem", db_text(r, i, 0), "factory", db_text(r, i, 1), NULL }, db_int(r, i, 2));
	db_res_free(r);
	r = NULL;

	err = db_query(db,
		       "SELECT o.name, f.name, h.hsm_id, h.next_seq, h.last_contact"
		       " FROM hsms h JOIN factories f ON f.id = h.factory_id JOIN orgs o ON o.id = f.oem_id ORDER BY h.id",
		       NULL, 0, &r);
	if (err < 0)
		return err;
	prom_family(b, "writ_cloud_hsm_journal_next", "gauge",
		    "The next journal seq the portal expects from an edge HSM (entries verified so far).");
	for (i = 0; i < db_rows(r); i++) {
		p = db_blob(r, i, 2, &len);
		hex_encode(p, len <= 32 ? len : 32, fid);
		prom_i64(b, "writ_cloud_hsm_journal_next",
			 (const char *const[]){ "oem", db_text(r, i, 0), "factory", db_text(r, i, 1), "hsm", fid, NULL },
			 db_int(r, i, 3));
	}
	prom_family(b, "writ_cloud_hsm_last_contact_seconds", "gauge",
		    "Unix time an edge HSM's journal was last pushed (0: never).");
	for (i = 0; i < db_rows(r); i++) {
		p = db_blob(r, i, 2, &len);
		hex_encode(p, len <= 32 ? len : 32, fid);
		prom_i64(b, "writ_cloud_hsm_last_contact_seconds",
			 (const char *const[]){ "oem", db_text(r, i, 0), "factory", db_text(r, i, 1), "hsm", fid, NULL },
			 db_int(r, i, 4));
	}
	db_res_free(r);
	r = NULL;

	err = db_query(db,
		       "SELECT o.name, a.kind, SUM(a.occurrences) FROM alerts a JOIN orgs o ON o.id = a.org_id"
		       " GROUP BY o.name, a.kind ORDER BY o.name, a.kind",
		       NULL, 0, &r);
	if (err < 0)
		return err;
	prom_family(b, "writ_cloud_alerts_total", "counter",
		    "Alerts raised for an OEM, by kind: every occurrence, those folded into one alert included.");
	for (i = 0; i < db_rows(r); i++)
		prom_i64(b, "writ_cloud_alerts_total", (const char *const[]){ "oem", db_text(r, i, 0), "kind", db_text(r, i, 1), NULL },
			 db_int(r, i, 2));
	db_res_free(r);
	return 0;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type, char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result refuse(struct MHD_Connection *conn, unsigned status, const char *code, const char *msg)
{
	json_t *o = json_pack("{s:s, s:s}", "error", msg, "code", code);
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(o);
	if (!s)
		return MHD_NO;
	return reply(conn, status, "application/json", s, strlen(s));
}

int cmetrics_handle(struct cloud *c, struct MHD_Connection *conn, const char *method)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	struct prom_buf b;
	struct db *db = NULL;
	uint8_t sha[32];
	int err;

	if (!c->metrics_on)
		return refuse(conn, 404, "not_found",
			      "metrics are off: start writ-cloud serve with --metrics-token-file F (docs/operations.md)");
	if (strcmp(method, "GET"))
		return refuse(conn, 405, "method", "GET /metrics");
	if (!h || strncmp(h, "Bearer ", 7) || strlen(h + 7) > 128 || ec_sha256(h + 7, strlen(h + 7), sha) < 0 ||
	    !writ_ct_memeq(sha, c->metrics_sha, 32))
		return refuse(conn, 401, "unauthenticated",
			      "send Authorization: Bearer METRICS-TOKEN (the operator's --metrics-token-file); "
			      "tenants' API tokens cannot read /metrics: it spans every tenant");
	if ((err = db_pool_get(c->pool, &db)) < 0)
		return refuse(conn, 503, "unavailable", "the store cannot be reached; try again");
	prom_init(&b);
	process_metrics(c, &b);
	err = store_metrics(db, &b);
	db_pool_put(c->pool, db);
	if (err < 0)
		log_warn("metrics: the store did not answer: %s", writ_strerror(err));
	prom_family(&b, "writ_cloud_store_up", "gauge", "1 when the store answered this scrape's queries.");
	prom_i64(&b, "writ_cloud_store_up", NULL, err < 0 ? 0 : 1);
	if (b.oom) {
		prom_free(&b);
		return refuse(conn, 500, "internal", "out of memory");
	}
	return reply(conn, 200, PROM_CONTENT_TYPE, b.p, b.len);
}

int cmetrics_set_token(struct cloud *c, const char *token)
{
	size_t n = token ? strlen(token) : 0;

	if (n < 16 || n > 128)
		return WRIT_E_INVAL;
	if (ec_sha256(token, n, c->metrics_sha) < 0)
		return WRIT_E_CRYPTO;
	c->metrics_on = 1;
	return 0;
}
