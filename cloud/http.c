/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-cloud's HTTP server (libmicrohttpd, a thread pool): bounded bodies, routing on
 * /v1/<resource>, one store connection per request from the pool, JSON answers and
 * writ's error shape. The handlers live in api_*.c and sync.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <microhttpd.h>

#include "cloud/cloud.h"
#include "cloud/web.h"
#include "host/log.h"
#include "host/prom.h"
#include "cloud/tls.h"
#include "tls/tls.h"

struct cloud_server {
	struct MHD_Daemon *d;
	struct cloud *c;
	unsigned port;
};

struct req {
	char *body;
	size_t len, cap, max;
	int too_big;
	uint64_t t0_ns; /* for the latency metric */
};

int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

int fail(struct call *k, unsigned status, const char *code, const char *fmt, ...)
{
	char msg[CLOUD_WHY_MAX * 2];
	va_list ap;

	va_start(ap, fmt);
	(void)!vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_decref(k->json);
	free(k->bytes);
	k->bytes = NULL;
	k->status = status;
	k->json = json_pack("{s:s, s:s}", "error", msg, "code", code);
	return 0;
}

int fail_db(struct call *k, int err, const char *what)
{
	if (err == WRIT_E_EXISTS)
		return fail(k, 409, "conflict", "%s: it already exists (names are unique)", what);
	log_msg(LOG_LVL_WARN, "store: %s: %s (%s)", what, writ_strerror(err), k->db ? db_errmsg(k->db) : "");
	return fail(k, 503, "unavailable", "%s: the store cannot be reached or is busy; try again", what);
}

int answer_blob(struct call *k, struct db_res *r, const char *not_found)
{
	const uint8_t *b;
	size_t len = 0;

	if (db_rows(r) != 1) {
		db_res_free(r);
		return fail(k, 404, "not_found", "%s", not_found);
	}
	b = db_blob(r, 0, 0, &len);
	if ((k->bytes = malloc(len ? len : 1))) {
		memcpy(k->bytes, b, len);
		k->bytes_len = len;
		k->status = 200;
	}
	db_res_free(r);
	return k->bytes ? 0 : fail(k, 500, "internal", "out of memory");
}

int answer(struct call *k, unsigned status, json_t *o)
{
	json_decref(k->json);
	k->status = status;
	k->json = o;
	if (!o)
		return fail(k, 500, "internal", "out of memory");
	return 0;
}

struct qfind {
	const char *name, *value;
};

static enum MHD_Result qfind_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct qfind *q = cls;

	if (!strcmp(key, q->name)) {
		q->value = value ? value : "";
		return MHD_NO;
	}
	return MHD_YES;
}

const char *query_arg(struct call *k, const char *name)
{
	struct qfind q = { name, NULL };
	size_t i;

	if (!k->conn) {
		for (i = 0; i < k->n_query; i++)
			if (!strcmp(k->query[i][0], name))
				return k->query[i][1];
		return NULL;
	}
	MHD_get_connection_values(k->conn, MHD_GET_ARGUMENT_KIND, qfind_cb, &q);
	return q.value;
}

int in_tx(struct call *k, tx_fn fn, void *arg)
{
	int err = 0, i;

	for (i = 0; i < 8; i++) {
		if ((err = db_begin(k->db)) < 0) {
			if (err == WRIT_E_RETRY)
				continue;
			return err;
		}
		err = fn(k, arg);
		if (err < 0) {
			db_rollback(k->db);
			if (err == WRIT_E_RETRY) {
				struct timespec ts = { 0, (long)(1000000L * (1 + (rand() % 20))) };
				nanosleep(&ts, NULL);
				continue;
			}
			return err;
		}
		if ((err = db_commit(k->db)) == 0)
			return 0;
		db_rollback(k->db);
		if (err != WRIT_E_RETRY)
			return err;
	}
	return err;
}

/* ---- routing ---- */

struct route {
	const char *first; /* the resource after /v1 */
	int (*fn)(struct call *k);
	int open;          /* no authentication */
	size_t max_body;
};

static const struct route routes[] = {
	{ "health", h_health, 1, 0 },
	{ "me", h_me, 0, 0 },
	{ "users", h_users, 0, CLOUD_BODY_MAX },
	{ "tokens", h_tokens, 0, CLOUD_BODY_MAX },
	{ "products", h_products, 0, CLOUD_BULK_MAX },
	{ "factories", h_factories, 0, CLOUD_BODY_MAX },
	{ "enrol", h_enrol, 1, CLOUD_BODY_MAX },
	{ "factory", h_factory_tls, 0, CLOUD_TLS_RENEW_MAX },
	{ "batches", h_batches, 0, CLOUD_BODY_MAX },
	{ "rework", h_rework, 0, CLOUD_BODY_MAX },
	{ "sync", h_sync, 0, CLOUD_BULK_MAX },
	{ "records", h_records, 0, 0 },
	{ "devices", h_devices, 0, 0 },
	{ "alerts", h_alerts, 0, 0 },
	{ "production", h_production, 0, 0 },
	{ "telemetry", h_telemetry, 0, 0 },
	{ "releases", h_releases, 0, 0 },
};

static const struct route *route_for(const char *url)
{
	size_t i, n;

	if (strncmp(url, "/v1/", 4))
		return NULL;
	url += 4;
	n = strcspn(url, "/");
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strlen(routes[i].first) == n && !strncmp(routes[i].first, url, n))
			return &routes[i];
	return NULL;
}

/* Split the path after /v1/ into segments (in place in buf). Empty segments refused. */
static int split(char *buf, struct call *k)
{
	char *p = buf, *slash;

	k->n_segs = 0;
	while (*p) {
		if (k->n_segs == CLOUD_SEGS_MAX)
			return -1;
		slash = strchr(p, '/');
		if (slash)
			*slash = 0;
		if (!*p)
			return -1;
		k->segs[k->n_segs++] = p;
		if (!slash)
			break;
		p = slash + 1;
		if (!*p)
			return -1; /* trailing slash */
	}
	return 0;
}

static enum MHD_Result send_call(struct MHD_Connection *conn, struct call *k)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *s = NULL;

	if (k->bytes) {
		r = MHD_create_response_from_buffer(k->bytes_len, k->bytes, MHD_RESPMEM_MUST_FREE);
		k->bytes = NULL;
		if (r)
			MHD_add_response_header(r, "Content-Type",
						k->content_type ? k->content_type : "application/octet-stream");
	} else {
		if (!k->json)
			k->json = json_pack("{s:s, s:s}", "error", "no answer", "code", "internal");
		s = k->json ? json_dumps(k->json, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		if (!s)
			return MHD_NO;
		r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
		if (r)
			MHD_add_response_header(r, "Content-Type", "application/json");
		else
			free(s);
	}
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Cache-Control", "no-store");
	/* an answer is data, never a page: a browser must not sniff, frame or run it */
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
	ret = MHD_queue_response(conn, k->status ? k->status : 500, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result quick(struct MHD_Connection *conn, unsigned status, const char *code, const char *msg)
{
	struct call k;
	enum MHD_Result ret;

	memset(&k, 0, sizeof(k));
	fail(&k, status, code, "%s", msg);
	ret = send_call(conn, &k);
	json_decref(k.json);
	return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
			       const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct cloud_server *s = cls;
	struct req *q = *con_cls;
	const struct route *rt = route_for(url);
	struct call k;
	char path[512];
	enum MHD_Result ret;
	int err;

	if (!q) {
		const char *cl;
		if (!strcmp(url, "/metrics")) /* outside /v1: Prometheus' convention (metrics.c) */
			return (enum MHD_Result)cmetrics_handle(s->c, conn, method);
		if (!rt && strncmp(url, "/v1/", 4) && strcmp(url, "/v1"))
			return web_serve(conn, url, method) == MHD_YES ? MHD_YES : MHD_NO; /* the dashboard */
		if (!rt)
			return quick(conn, 404, "not_found", "no such endpoint (the API lives under /v1/: docs/cloud-api.md)");
		q = calloc(1, sizeof(*q));
		if (!q)
			return MHD_NO;
		q->max = rt->max_body;
		q->t0_ns = prom_now_ns();
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
		if (cl && strtoull(cl, NULL, 10) > q->max)
			q->too_big = 1;
		*con_cls = q;
		return MHD_YES;
	}
	if (*upload_size) {
		if (!q->too_big && q->len + *upload_size <= q->max) {
			if (q->len + *upload_size + 1 > q->cap) {
				size_t cap = q->cap ? q->cap : 4096;
				char *nb;
				while (cap < q->len + *upload_size + 1)
					cap *= 2;
				if (!(nb = realloc(q->body, cap)))
					return MHD_NO;
				q->body = nb;
				q->cap = cap;
			}
			memcpy(q->body + q->len, upload, *upload_size);
			q->len += *upload_size;
			q->body[q->len] = 0;
		} else {
			q->too_big = 1;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (q->too_big)
		return quick(conn, 413, "too_big", "request body too large (docs/cloud-api.md gives each limit)");
	if (strlen(url) >= sizeof(path))
		return quick(conn, 414, "bad_request", "path too long");
	memset(&k, 0, sizeof(k));
	strcpy(path, url + 4);
	if (split(path, &k) < 0) {
		return quick(conn, 404, "not_found", "malformed path");
	}
	k.c = s->c;
	k.method = method;
	k.body = q->body ? q->body : "";
	k.body_len = q->len;
	k.conn = conn;
	if ((err = db_pool_get(s->c->pool, &k.db)) < 0)
		return quick(conn, 503, "unavailable", "the store cannot be reached; try again");
	if (rt->open || ((err = authenticate(&k)) == 0 && (err = cloud_tls_check(&k)) == 0)) {
		if (!k.status)
			rt->fn(&k);
	}
	db_pool_put(s->c->pool, k.db);
	cmetrics_observe(rt->first, &k, q->t0_ns);
	if (!s->c->quiet)
		log_msg(LOG_LVL_DEBUG, "%s %s -> %u", method, url, k.status);
	ret = send_call(conn, &k);
	json_decref(k.json);
	free(k.bytes);
	return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct req *q = *con_cls;

	if (q) {
		free(q->body);
		free(q);
		*con_cls = NULL;
	}
}

int cloud_serve_start(struct cloud *c, const char *host, unsigned port, unsigned threads, struct cloud_server **ret)
{
	struct cloud_server *s = calloc(1, sizeof(*s));
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *info;

	if (!s)
		return WRIT_E_NOMEM;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		free(s);
		return WRIT_E_INVAL;
	}
	s->c = c;
	s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG | tls_server_mhd_flags(),
				(uint16_t)port,
				NULL, NULL, handler, s, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_THREAD_POOL_SIZE,
				threads ? threads : 4, MHD_OPTION_NOTIFY_COMPLETED, completed, s,
				MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_CONNECTION_LIMIT, 512u, MHD_OPTION_ARRAY,
				tls_server_mhd_options(), MHD_OPTION_END);
	if (!s->d) {
		free(s);
		return WRIT_E_IO;
	}
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : port;
	*ret = s;
	return 0;
}

unsigned cloud_serve_port(const struct cloud_server *s)
{
	return s->port;
}

void cloud_serve_stop(struct cloud_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->d);
	free(s);
}
