/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-cloud internals (docs/cloud-api.md). The service keeps no state outside its store
 * (lib/db: SQLite or PostgreSQL) and its PKCS#11 token, so several instances can share
 * one PostgreSQL. Every handler gets a struct call: the request (method, path segments,
 * query, body) and the authenticated caller, and answers with one JSON object or bytes.
 */
#ifndef WRIT_CLOUD_CLOUD_H
#define WRIT_CLOUD_CLOUD_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"
#include "base/keyops.h"
#include "db/db.h"

#define CLOUD_BODY_MAX (64u * 1024u)
#define CLOUD_BULK_MAX (4u * 1024u * 1024u + 64u * 1024u) /* firmware, journal and record pushes */
#define CLOUD_NAME_MAX 64
#define CLOUD_WHY_MAX 256
#define CLOUD_SEGS_MAX 8
#define CLOUD_CODE_TTL (24 * 3600)

struct p11_ctx;

struct cloud {
	struct db_pool *pool;
	const char *db_url;
	enum db_kind kind;
	/* the token holding every OEM org's authority keys; one operation at a time */
	struct p11_ctx *p11;
	pthread_mutex_t p11_lock;
	int quiet;
	/* GET /metrics (metrics.c): the SHA-256 of the operator's metrics token */
	uint8_t metrics_sha[32];
	int metrics_on;
	int64_t started;
};

enum role { ROLE_NONE = 0, ROLE_OEM_ADMIN, ROLE_OEM_SECURITY, ROLE_ODM_ENGINEER, ROLE_FACTORY };

struct caller {
	int64_t token_id;
	int64_t user_id;         /* 0 for a factory credential */
	int64_t org_id;          /* the user's org; for a factory: its ODM */
	int64_t factory_id;      /* factory credentials only */
	enum role role;
	int oem;                 /* the caller's org is an OEM */
	char user[CLOUD_NAME_MAX + 1];
	char org[CLOUD_NAME_MAX + 1];
};

struct call {
	struct cloud *c;
	struct db *db;
	const char *method;
	const char *segs[CLOUD_SEGS_MAX]; /* path segments after /v1 */
	size_t n_segs;
	const char *body;
	size_t body_len;
	struct MHD_Connection *conn;
	struct caller who;
	/* without a connection (tests/fuzz/fuzz_cloud_req.c): the query's arguments as
	 * n_query name/value pairs, already split and decoded, for query_arg */
	const char *const (*query)[2];
	size_t n_query;
	char tls_fp[65];           /* a factory caller over TLS: its client certificate's SHA-256 (hex) */
	/* the answer */
	unsigned status;
	json_t *json;              /* or */
	uint8_t *bytes;            /* malloc'd octet-stream answer */
	size_t bytes_len;
	const char *content_type;  /* of bytes; default application/octet-stream */
};

/* Role names as in the API. */
const char *role_name(enum role r);
enum role role_parse(const char *s);

/* ---- answers (http.c) ---- */
/* Set an error answer; returns 0 so handlers can `return fail(...)`. */
int fail(struct call *k, unsigned status, const char *code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The usual answer to a store failure: 503 for WRIT_E_IO/RETRY, 409 for EXISTS. */
int fail_db(struct call *k, int err, const char *what);
int answer(struct call *k, unsigned status, json_t *o); /* takes o */
/* 200 with the one row's first column (a blob) as the raw body; 404 with not_found when
 * r has no row (or more than one). Takes r. */
int answer_blob(struct call *k, struct db_res *r, const char *not_found);
const char *query_arg(struct call *k, const char *name); /* NULL when absent */

/* ---- request bodies (jreq.c) ---- */
enum jtype { JV_STR = 1, JV_INT, JV_ARR, JV_OBJ, JV_BOOL };
struct jfield {
	const char *name;
	enum jtype type;
	int required;
};
/* Parse the call's body as one JSON object with only these fields (types checked,
 * required ones present). On refusal answers 400 and returns WRIT_E_FORMAT. */
WRIT_MUST_CHECK int jreq(struct call *k, const struct jfield *f, size_t n, json_t **ret);
const char *jstr(json_t *o, const char *name);             /* NULL when absent */
int64_t jint(json_t *o, const char *name, int64_t dflt);
int name_ok(const char *s);                                 /* 1..64 of [A-Za-z0-9._-] */
int hex_ok(const char *s, size_t nbytes);                   /* exactly 2*nbytes hex digits */
json_t *hexj(const uint8_t *p, size_t n);
json_t *b64j(const uint8_t *p, size_t n);
/* Decode standard base64 (padding required) into a malloc'd buffer of at most max bytes. */
WRIT_MUST_CHECK int b64_decode_alloc(const char *s, size_t max, uint8_t **ret, size_t *ret_len);
int64_t now_s(void);

/* ---- tokens and authorization (auth.c) ---- */
/* Fill k->who from the Authorization header. 0, or an answered 401. */
WRIT_MUST_CHECK int authenticate(struct call *k);
/* Make a random API token "wc_..." (out holds 64 bytes) and its SHA-256. */
WRIT_MUST_CHECK int token_make(char out[64], uint8_t hash[32]);
/* 1 when the caller's role is one of the given (ROLE_NONE-terminated list). */
int role_in(const struct call *k, ...);
/* Answer 403 naming the roles that may; returns 0. */
int forbid(struct call *k, const char *who_may);

/* A product row the caller may see: 0 and *ret filled, or an answered 404. */
struct product {
	int64_t id, oem_id, vid, pid, quota, allocated, produced, next_serial;
	char name[CLOUD_NAME_MAX + 1];
	char title[CLOUD_NAME_MAX * 2 + 1];
	char pai_mode[16];
	uint8_t sb_pub[WRIT_P256_PUB_LEN];
	int has_sb_pub;
	int64_t debug_gen;         /* debug key generation of rework rights minted now */
	char rework_policy[256];   /* JSON of what an ODM's batch may ask ("" = nothing) */
};
WRIT_MUST_CHECK int product_visible(struct call *k, const char *name, struct product *ret);
/* The caller is the product's OEM (any OEM role of that org). */
int product_is_own_oem(const struct call *k, const struct product *p);

/* ---- the authority keys of each OEM org (keys.c) ---- */
enum org_key { KEY_WRIT = 0, KEY_PAA, KEY_DEBUG_ROOT, KEY_SECURE_BOOT, KEY_COUNT };
/* Create the org's four keys in the token and its PAA certificate (into org_keys). */
WRIT_MUST_CHECK int keys_create_org(struct cloud *c, struct db *db, int64_t org_id, const char *org_name);
/* Public key of one of the org's keys. */
WRIT_MUST_CHECK int keys_pub(struct db *db, int64_t org_id, enum org_key key, uint8_t pub[WRIT_P256_PUB_LEN]);
WRIT_MUST_CHECK int keys_paa_der(struct db *db, int64_t org_id, uint8_t **ret, size_t *ret_len);
/* Run fn(signer, arg) with the org's key as a signer, under the token lock. */
typedef int (*keys_sign_fn)(const struct writ_signer *signer, void *arg);
WRIT_MUST_CHECK int keys_with_signer(struct cloud *c, int64_t org_id, enum org_key key, keys_sign_fn fn, void *arg);
WRIT_MUST_CHECK int keys_random(struct cloud *c, uint8_t *buf, size_t n);

/* ---- rework (api_rework.c) ---- */
/* A rework request as the API takes it ({perms, limit, days, session[, devices]}),
 * checked. */
struct rework_req {
	uint8_t perms[16];
	char perms_text[64];       /* normalised, e.g. "debug,reflash" */
	int64_t limit, days, session;
	size_t n_devices;
	uint8_t devices[64][16];
};
/* Parse o's rework fields (devices only when allow_devices) into *ret; answers 400 and
 * returns WRIT_E_FORMAT on refusal. what names the object in messages. */
WRIT_MUST_CHECK int rework_req_parse(struct call *k, json_t *o, int allow_devices, const char *what,
				     struct rework_req *ret);
/* Rights for one HSM, certified by the OEM's debug root at the product's generation,
 * into s->rework (and s->ops). 409 answered for an HSM without a debug key. */
struct writ_scope;
WRIT_MUST_CHECK int rework_mint_rights(struct call *k, const struct product *p, int64_t hsm_pk,
				       const uint8_t hsm_id[32], const struct rework_req *q, int64_t not_before,
				       struct writ_scope *s);
/* Store rights just minted (in the caller's transaction); *ret_id the reworks row. */
WRIT_MUST_CHECK int rework_store(struct call *k, const struct writ_scope *s, int64_t product_id, int64_t factory_id,
				 int64_t hsm_pk, int64_t batch_id, const struct rework_req *q, int64_t *ret_id);
/* The PAI for (product, HSM), certified in portal mode when needed (api_batch.c). */
WRIT_MUST_CHECK int batch_pai_for(struct call *k, const struct product *p, int64_t hsm_pk, const uint8_t hsm_id[32],
				  const char *factory, uint8_t **ret, size_t *ret_len);
int h_rework(struct call *k);
/* A device's rework history (by UID within one product), as a JSON array. */
json_t *rework_history(struct call *k, int64_t product_id, const uint8_t *uid, size_t uid_len);
int product_debug_rotate(struct call *k, struct product *p);
int product_rework_policy(struct call *k, struct product *p);

/* ---- alerts (sync.c) ---- */
/* A repeat folds into the open alert of its key for this long after the alert's first
 * occurrence (docs/cloud-api.md "Records, devices, alerts"). */
#define ALERT_WINDOW_S (24 * 3600)
/* Record an alert for the OEM org, in a transaction of its own (call it outside any:
 * it must outlive a refusal). A repeat of the key (org, factory, HSM, kind) within 24 h
 * of the key's open alert's first occurrence folds into that row (occurrences + 1,
 * last_seen, last_detail); a store failure is logged, not returned. */
void alert_raise(struct call *k, int64_t org_id, int64_t factory_id, int64_t hsm_pk, const char *kind,
		 const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* ---- schema (schema.c) ---- */
WRIT_MUST_CHECK int schema_create(struct db *db);

/* ---- releases of the factory-side programs (api_release.c, docs/releases.md) ---- */
WRIT_MUST_CHECK int release_schema(struct db *db);
/* The operator's release key in the token (made non-extractable on first use). */
WRIT_MUST_CHECK int release_key(struct cloud *c, uint8_t ret_pub[WRIT_P256_PUB_LEN]);
/* Sign and store a release of the files at paths[0..n) (`writ-cloud release add`). */
WRIT_MUST_CHECK int release_add(struct cloud *c, struct db *db, const char *channel, const char *version,
				char *const *paths, size_t n);
int h_releases(struct call *k);
/* The release key's public half as PEM (malloc'd), WRIT_E_NOTFOUND before one exists:
 * the enrolment answer carries it for the factory to pin. */
WRIT_MUST_CHECK int release_pub_pem(struct cloud *c, char **ret_pem);
/* PUT /v1/factories/{f}/release-pin for factory factory_id of OEM oem_id. */
int release_pin(struct call *k, int64_t factory_id, int64_t oem_id);

/*
 * ---- request parsing ----
 * Each endpoint that takes a body (or query arguments) parses it in one function: its
 * field table through jreq, then the checks of the values that need no store. The
 * handler calls it where it did before (so the order of refusals is unchanged) and
 * tests/fuzz/fuzz_cloud_req.c calls every one of them. Each returns 0 with *ret (the
 * body, the caller decrefs) and its outputs filled, or WRIT_E_FORMAT having answered
 * the refusal (400, or the status the endpoint gives), *ret then NULL.
 */
struct bundle;
struct matter_settings;
struct enrol_info;
struct tele_push;
/* api_org.c: POST /v1/users {name, role} (the role one the caller may add); POST
 * /v1/tokens {label}. */
WRIT_MUST_CHECK int user_req(struct call *k, json_t **ret);
WRIT_MUST_CHECK int token_req(struct call *k, json_t **ret);
/* api_product.c: POST /v1/products (*ret_has_sb: secure_boot_pub given, into sb);
 * POST .../invites {odm}; POST .../versions into b (product, version, settings, prefix,
 * iterations, recipe), ms and fw_sha, checked against p's VID/PID; POST
 * .../approve|reject {reason}; the firmware upload's fw_version= and body size. */
WRIT_MUST_CHECK int product_req(struct call *k, uint8_t sb[WRIT_P256_PUB_LEN], int *ret_has_sb, json_t **ret);
WRIT_MUST_CHECK int invite_req(struct call *k, json_t **ret);
WRIT_MUST_CHECK int version_req(struct call *k, const struct product *p, struct bundle *b, struct matter_settings *ms,
				uint8_t fw_sha[32], json_t **ret);
WRIT_MUST_CHECK int decide_req(struct call *k, int approve, json_t **ret);
WRIT_MUST_CHECK int firmware_args(struct call *k, uint32_t *ret_version);
/* api_factory.c: POST /v1/factories {id, odm}; POST /v1/enrol (by_code: {code,
 * enrolment, tls_csr?}, the code's hash into code_hash; refused 401 for a code of the
 * wrong shape) and POST /v1/sync/hsms ({enrolment}): the bundle verified into *ret_info
 * (malloc'd, the caller frees; 422 when it does not verify); PUT .../pai/{hsm} {pai}:
 * the DER into *ret_der (malloc'd). */
WRIT_MUST_CHECK int factory_req(struct call *k, json_t **ret);
WRIT_MUST_CHECK int enrol_req(struct call *k, int by_code, uint8_t ret_code_hash[32], struct enrol_info **ret_info,
			      json_t **ret);
WRIT_MUST_CHECK int pai_req(struct call *k, uint8_t **ret_der, size_t *ret_len, json_t **ret);
/* api_release.c: PUT /v1/factories/{f}/release-pin {version: V | ""}. */
WRIT_MUST_CHECK int release_pin_req(struct call *k, json_t **ret);
/* api_rework.c: PUT .../rework-policy ({perms: []} is none: *ret_none); POST
 * /v1/rework: the body, then (after the product is found) its rights and HSM id. */
WRIT_MUST_CHECK int rework_policy_req(struct call *k, struct rework_req *q, int *ret_none, json_t **ret);
WRIT_MUST_CHECK int grant_req(struct call *k, json_t **ret);
WRIT_MUST_CHECK int grant_values(struct call *k, json_t *o, struct rework_req *q, uint8_t hsm_id[32]);
/* api_batch.c: POST /v1/batches: the body, then (after the product is found) its values. */
struct batch_req {
	int64_t quantity, not_before, not_after, dac_days;
	uint8_t hsm_id[32];
	struct rework_req *rework; /* malloc'd when the body asks rework rights, else NULL */
};
WRIT_MUST_CHECK int batch_req(struct call *k, json_t **ret);
WRIT_MUST_CHECK int batch_values(struct call *k, json_t *o, struct batch_req *ret);
/* sync.c: POST /v1/sync/journal {hsm, entries}: the body, then its entries decoded
 * (run[i] points into bufs[i], both malloc'd: the caller frees bufs[0..n) and both);
 * POST /v1/sync/records {records} (at most SYNC_RECORDS_MAX); the writ feed's
 * queued_*= counts (*ret_given 0, or 3 with v filled). */
struct jseg_entry;
WRIT_MUST_CHECK int journal_req(struct call *k, json_t **ret);
WRIT_MUST_CHECK int journal_entries(struct call *k, json_t *arr, struct jseg_entry **ret_run, uint8_t ***ret_bufs);
WRIT_MUST_CHECK int records_req(struct call *k, json_t **ret);
WRIT_MUST_CHECK int queue_args(struct call *k, long long v[3], int *ret_given);
/* tls.c: POST /v1/factory/tls/renew {csr} (PEM). */
WRIT_MUST_CHECK int renew_req(struct call *k, json_t **ret);
/* api_telemetry.c: POST /v1/sync/telemetry {buckets}, each bucket checked (tele_parse)
 * into *ret (tele_push_free); GET /v1/telemetry's arguments. */
WRIT_MUST_CHECK int telemetry_req(struct call *k, struct tele_push **ret);
void tele_push_free(struct tele_push *t);
WRIT_MUST_CHECK int telemetry_args(struct call *k, int64_t now, const char **ret_factory, const char **ret_line,
				   int64_t *ret_since, int64_t *ret_until);
/* api_dash.c: GET /v1/production's since= and bucket=. */
WRIT_MUST_CHECK int production_args(struct call *k, long long now, long long *ret_since, long long *ret_bucket);
/* api_read.c: GET /v1/records' arguments. */
struct records_args {
	const char *product, *batch, *format;
	long long since, limit;
	uint8_t batch_id[16];
};
WRIT_MUST_CHECK int records_args(struct call *k, struct records_args *ret);

/* ---- handlers ---- */
int h_health(struct call *k);
int h_me(struct call *k);
int h_users(struct call *k);
int h_tokens(struct call *k);
int h_products(struct call *k);
int h_firmware(struct call *k);
int h_versions(struct call *k);
int h_pai(struct call *k);
int h_factories(struct call *k);
int h_enrol(struct call *k);
int h_batches(struct call *k);
int h_sync(struct call *k);
int h_records(struct call *k);
int h_devices(struct call *k);
int h_alerts(struct call *k);
int h_production(struct call *k);
int h_telemetry(struct call *k);
/* POST /v1/sync/telemetry (api_telemetry.c), from h_sync */
int telemetry_sync(struct call *k);

/* ---- metrics (metrics.c) ---- */
/* Count one answered /v1 request (route: its first path segment) and its latency since
 * t0_ns (prom_now_ns). Lock-free. */
void cmetrics_observe(const char *route, const struct call *k, uint64_t t0_ns);
/* Answer GET /metrics on conn (an enum MHD_Result). */
int cmetrics_handle(struct cloud *c, struct MHD_Connection *conn, const char *method);
/* Enable /metrics for callers presenting token (16..128 characters); keeps its hash. */
WRIT_MUST_CHECK int cmetrics_set_token(struct cloud *c, const char *token);

/* ---- the server (http.c) ---- */
struct cloud_server;
WRIT_MUST_CHECK int cloud_serve_start(struct cloud *c, const char *host, unsigned port, unsigned threads,
				      struct cloud_server **ret);
unsigned cloud_serve_port(const struct cloud_server *s);
void cloud_serve_stop(struct cloud_server *s);

/* Run fn in a transaction, retrying on WRIT_E_RETRY a few times. */
typedef int (*tx_fn)(struct call *k, void *arg);
WRIT_MUST_CHECK int in_tx(struct call *k, tx_fn fn, void *arg);

#endif
