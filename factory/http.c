/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-factory's HTTP/JSON API (docs/factory-api.md) on libmicrohttpd, one thread per
 * connection so a handler may wait for an HSM or an fsync without holding anyone
 * else up. A body is bounded before it is read: a Content-Length over the endpoint's
 * limit is answered 413 at once; a chunked body that grows past it is discarded and
 * answered 413. Tokens are checked by their SHA-256 against every stored hash in
 * constant time. A DAC reaches a station only after its note is durable in the store.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "base/ct.h"
#include "crypto/ec.h"
#include "crypto/x509.h"
#include "factory/api_json.h"
#include "factory/factory.h"
#include "factory/telemetry.h"
#include "factory/metrics.h"
#include "factory/update.h"
#include "host/file.h"
#include "host/log.h"
#include "tls/tls.h"
#include "wire/cbu.h"
#include "wire/hsmproto.h"
#include "wire/writ.h"

#define TOKEN_BYTES 32
#define HTTP_TOO_LARGE 413
#define CODE_TEXT_MAX 128
#define RECORDS_LIMIT_MAX 10000
#define MSG_STORE "the factory store cannot write (disk full or read-only?): free space in the state directory, " \
		  "then retry; the line must stop until then"

struct http_server {
	struct MHD_Daemon *d;
	struct factory *f;
};

struct req {
	char *body;
	size_t len, cap, limit;
	int too_big;
};

/* ---- responses ---- */

static enum MHD_Result send_buf(struct MHD_Connection *c, unsigned status, char *buf, size_t len, const char *type)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!r) {
		free(buf);
		return MHD_NO;
	}
	(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	if (!s)
		return MHD_NO;
	return send_buf(c, status, s, strlen(s), "application/json");
}

/* Every error answer: {"error": text for a person, "code": a word for a program}
 * (docs/factory-api.md, "Error codes"). */
static enum MHD_Result send_errc(struct MHD_Connection *c, unsigned status, const char *code, const char *msg)
{
	return send_json(c, status, json_pack("{s:s,s:s}", "error", msg, "code", code));
}

/* The default code of a status, for answers that have no more specific one. */
static const char *status_code(unsigned status)
{
	switch (status) {
	case MHD_HTTP_BAD_REQUEST: return "invalid";
	case MHD_HTTP_UNAUTHORIZED: return "auth";
	case MHD_HTTP_FORBIDDEN: return "forbidden";
	case MHD_HTTP_NOT_FOUND: return "unknown";
	case MHD_HTTP_METHOD_NOT_ALLOWED: return "method";
	case MHD_HTTP_CONFLICT: return "refused";
	case 413: return "too_large";
	case MHD_HTTP_SERVICE_UNAVAILABLE: return "unavailable";
	default: return "internal";
	}
}

static enum MHD_Result send_err(struct MHD_Connection *c, unsigned status, const char *msg)
{
	return send_errc(c, status, status_code(status), msg);
}

/* A response holding a secret (an enrolment token): wiped when MHD is done with it. */
struct secret_buf {
	size_t len;
	char data[];
};

static void secret_free(void *cls)
{
	struct secret_buf *b = cls;

	writ_memzero(b->data, b->len);
	free(b);
}

static enum MHD_Result send_secret_json(struct MHD_Connection *c, unsigned status, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	struct secret_buf *b = NULL;
	struct MHD_Response *r;
	enum MHD_Result ret;
	size_t n;

	json_decref(o); /* jansson does not wipe: the token string is also copied below */
	if (!s)
		return MHD_NO;
	n = strlen(s);
	b = malloc(sizeof(*b) + n);
	if (!b) {
		writ_memzero(s, n);
		free(s);
		return MHD_NO;
	}
	b->len = n;
	memcpy(b->data, s, n);
	writ_memzero(s, n);
	free(s);
	r = MHD_create_response_from_buffer_with_free_callback_cls(n, b->data, secret_free, b);
	if (!r) {
		secret_free(b);
		return MHD_NO;
	}
	(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- auth ---- */

enum role { ROLE_NONE, ROLE_STATION, ROLE_MES, ROLE_ANY };

/* 0 and *auth filled, or a response was queued (*ret set) and a negative value. */
static int authenticate(struct factory *f, struct MHD_Connection *c, enum role need, struct store_auth *auth,
			enum MHD_Result *ret)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	uint8_t sha[32];
	size_t n;
	int err;

	if (!h || strncmp(h, "Bearer ", 7) || (n = strlen(h + 7)) == 0 || n > CODE_TEXT_MAX) {
		*ret = send_err(c, MHD_HTTP_UNAUTHORIZED, "no bearer token: send Authorization: Bearer TOKEN (enrol the "
							  "station, or make an mes token with writ-factory token add)");
		return -1;
	}
	if (ec_sha256(h + 7, n, sha) < 0) {
		*ret = send_err(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot hash the token");
		return -1;
	}
	err = store_auth(f->store, sha, auth);
	if (err == WRIT_E_AUTH) {
		*ret = send_err(c, MHD_HTTP_UNAUTHORIZED, "unknown token: enrol this station again with a new one-time "
							  "code (writ-factory station add)");
		return -1;
	}
	if (err == WRIT_E_REVOKED && auth->mes) {
		*ret = send_err(c, MHD_HTTP_UNAUTHORIZED, "this mes token was revoked (writ-factory token revoke): make a "
							  "new one with writ-factory token add --role mes");
		return -1;
	}
	if (err == WRIT_E_REVOKED) {
		*ret = send_err(c, MHD_HTTP_FORBIDDEN, "this station or token was revoked: ask the factory operator");
		return -1;
	}
	if (err < 0) {
		*ret = send_errc(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store", "the factory store cannot be read: check the state "
										    "directory");
		return -1;
	}
	if ((need == ROLE_STATION && auth->mes) || (need == ROLE_MES && !auth->mes)) {
		*ret = send_err(c, MHD_HTTP_FORBIDDEN, need == ROLE_STATION ? "this endpoint is for enrolled stations; an "
									     "mes token may only read records and status"
									   : "this endpoint is for the mes role (writ-factory "
									     "token add --role mes)");
		return -1;
	}
	return 0;
}

/* ---- helpers ---- */

static json_t *hexj(const uint8_t *p, size_t n)
{
	char buf[2 * 128 + 1];

	if (n > 128)
		return NULL;
	hex_encode(p, n, buf);
	return json_string(buf);
}

static json_t *b64j(const uint8_t *p, size_t n)
{
	char *buf = malloc(fj_b64_size(n));
	json_t *s;

	if (!buf)
		return NULL;
	fj_b64_encode(p, n, buf, 0);
	s = json_string(buf);
	free(buf);
	return s;
}

/* A job; detail adds the bundle's fields and (pai non-NULL) the writ's PAI. */
static json_t *job_json(const struct fjob *j, int detail, const uint8_t *pai, size_t pai_len)
{
	json_t *o = json_object(), *recipe = json_array(), *labels;
	size_t i;

	if (!o || !recipe) {
		json_decref(o);
		json_decref(recipe);
		return NULL;
	}
	for (i = 0; i < j->b.n_steps; i++)
		json_array_append_new(recipe, json_string(j->b.recipe[i]));
	json_object_set_new(o, "writ", json_string(j->w.id_hex));
	json_object_set_new(o, "product", json_string(j->w.product));
	json_object_set_new(o, "version", json_string(j->b.version));
	json_object_set_new(o, "version_digest", hexj(j->b.version_digest, 32));
	json_object_set_new(o, "quantity", json_integer((json_int_t)j->w.quantity));
	json_object_set_new(o, "issued", json_integer((json_int_t)j->w.issued));
	json_object_set_new(o, "remaining", json_integer((json_int_t)j->w.remaining));
	json_object_set_new(o, "not_before", json_integer(j->w.not_before));
	json_object_set_new(o, "not_after", json_integer(j->w.not_after));
	json_object_set_new(o, "recipe", recipe);
	json_object_set_new(o, "runnable", json_boolean(factory_runnable(&j->w, (int64_t)time(NULL))));
	json_object_set_new(o, "update_pending", json_boolean(update_pending())); /* finish the device, then pause */
	if (!detail)
		return o;
	if (pai)
		json_object_set_new(o, "pai", b64j(pai, pai_len));
	labels = json_array();
	for (i = 0; labels && i < j->b.n_secrets; i++)
		json_array_append_new(labels, json_string(j->b.secrets[i]));
	json_object_set_new(o, "settings", json_string(j->b.settings));
	json_object_set_new(o, "secret_labels", labels);
	json_object_set_new(o, "fw_version", json_integer(j->b.fw_version));
	json_object_set_new(o, "fw_sig", hexj(j->b.fw_sig, sizeof(j->b.fw_sig)));
	json_object_set_new(o, "sb_pub", hexj(j->b.sb_pub, sizeof(j->b.sb_pub)));
	json_object_set_new(o, "debug_root_hash", hexj(j->b.debug_root_hash, 32));
	json_object_set_new(o, "iterations", json_integer(j->b.iterations));
	json_object_set_new(o, "serial_prefix", json_string(j->b.serial_prefix));
	json_object_set_new(o, "firmware_sha256", hexj(j->b.firmware_digest, 32));
	json_object_set_new(o, "firmware_size", json_integer((json_int_t)j->b.firmware_len));
	return o;
}

static void add_job(void *arg, const struct fjob *j)
{
	json_t *o = job_json(j, 0, NULL, 0);

	if (o)
		json_array_append_new(arg, o);
}

/* Look a job up, refreshing the HSM status once if the cache does not know it. */
static int find_job(struct factory *f, const char *id, int mode, struct fjob *j)
{
	if (factory_job(f, id, mode, j) == 0)
		return 0;
	(void)factory_refresh(f);
	return factory_job(f, id, mode, j);
}

static const char *msg_nojob = "unknown job: the writ is not loaded in an edge HSM here, is outside its window or "
			       "revoked, or has no product-version bundle; see GET /v1/jobs";

/* ---- handlers ---- */

static enum MHD_Result h_enrol(struct factory *f, struct MHD_Connection *c, struct req *q)
{
	struct fj_enrol e;
	uint8_t code_sha[32], tok[TOKEN_BYTES], tok_sha[32];
	char why[FJ_WHY_MAX], tok_text[64];
	int64_t station = 0;
	enum MHD_Result ret;
	int err;

	if (fj_parse_enrol(q->body, q->len, &e, why, sizeof(why)) < 0)
		return send_err(c, MHD_HTTP_BAD_REQUEST, why);
	if (ec_sha256(e.code, strlen(e.code), code_sha) < 0 || getrandom(tok, sizeof(tok), 0) != (ssize_t)sizeof(tok)) {
		writ_memzero(&e, sizeof(e));
		return send_err(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot make a token");
	}
	fj_b64_encode(tok, sizeof(tok), tok_text, 1);
	err = ec_sha256(tok_text, strlen(tok_text), tok_sha);
	if (!err)
		err = store_enrol(f->store, code_sha, e.name, e.line, tok_sha, &station);
	writ_memzero(tok, sizeof(tok));
	if (err == WRIT_E_AUTH)
		ret = send_err(c, MHD_HTTP_UNAUTHORIZED, "unknown or already used one-time code: make a new one with "
							 "writ-factory station add");
	else if (err == WRIT_E_SCOPE)
		ret = send_err(c, MHD_HTTP_FORBIDDEN, "this code was made for another station name or line: use the name "
						      "and line given to writ-factory station add");
	else if (err < 0)
		ret = send_errc(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store", MSG_STORE);
	else {
		log_info("station %lld (%s, line %s) enrolled", (long long)station, e.name, e.line);
		ret = send_secret_json(c, MHD_HTTP_OK, json_pack("{s:I,s:s}", "station", (json_int_t)station, "token", tok_text));
	}
	writ_memzero(tok_text, sizeof(tok_text));
	writ_memzero(&e, sizeof(e));
	return ret;
}

static enum MHD_Result h_jobs(struct factory *f, struct MHD_Connection *c)
{
	json_t *arr = json_array();

	(void)factory_refresh(f);
	factory_jobs(f, add_job, arr);
	return send_json(c, MHD_HTTP_OK, json_pack("{s:o}", "jobs", arr));
}

/* A job a station may fetch: loaded, in its window, not revoked, quantity left or not
 * (a restarted station finishes and records its last devices of a spent job). */
static enum MHD_Result h_job(struct factory *f, struct MHD_Connection *c, const char *id)
{
	struct fjob *j = malloc(sizeof(*j));
	uint8_t *pai = malloc(HSMP_DAC_MAX);
	size_t pai_len = 0;
	enum MHD_Result ret;

	if (!j || !pai) {
		free(j);
		free(pai);
		return MHD_NO;
	}
	(void)factory_refresh(f);
	if (factory_job(f, id, FJOB_FETCHABLE, j) < 0) {
		ret = send_err(c, MHD_HTTP_NOT_FOUND, msg_nojob);
	} else {
		/* the PAI the HSM gave with this writ's first noted DAC (none before one) */
		int have_pai = store_writ_pai(f->store, id, pai, HSMP_DAC_MAX, &pai_len) == 0 && pai_len > 0;
		ret = send_json(c, MHD_HTTP_OK, job_json(j, 1, have_pai ? pai : NULL, pai_len));
	}
	free(pai);
	free(j);
	return ret;
}

static enum MHD_Result h_firmware(struct factory *f, struct MHD_Connection *c, const char *id)
{
	struct fjob *j = malloc(sizeof(*j));
	struct MHD_Response *r;
	char path[FACTORY_PATH_MAX];
	struct stat st;
	enum MHD_Result ret;
	int fd = -1;

	if (!j)
		return MHD_NO;
	if (find_job(f, id, FJOB_FETCHABLE, j) < 0) {
		free(j);
		return send_err(c, MHD_HTTP_NOT_FOUND, msg_nojob);
	}
	if (factory_firmware_path(f, j->b.firmware_digest, path, sizeof(path)) < 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0 || (size_t)st.st_size != j->b.firmware_len) {
		if (fd >= 0)
			close(fd);
		free(j);
		log_error("firmware file %s is missing or has the wrong size: load the bundle again", path);
		return send_err(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the firmware image is missing from the state directory: "
								 "drop the bundle again");
	}
	free(j);
	r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
	if (!r) {
		close(fd);
		return MHD_NO;
	}
	(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* An HSM refusal as an HTTP status: the request's own fault (a bad CSR, an invalid
 * argument such as an all-zero UID) is 400, the HSM's I/O trouble 503, every other
 * refusal (quantity, window, scope, revoked, replay) 409. */
static unsigned hsm_status_http(int st)
{
	switch (st) {
	case WRIT_E_INVAL:
	case WRIT_E_FORMAT:
	case WRIT_E_TOOBIG:
	case WRIT_E_BADSIG:
	case WRIT_E_UNSUPPORTED:
	case WRIT_E_PROTO: return MHD_HTTP_BAD_REQUEST;
	case WRIT_E_IO: return MHD_HTTP_SERVICE_UNAVAILABLE;
	default: return MHD_HTTP_CONFLICT;
	}
}

/* The "code" of an HSM refusal. */
static const char *hsm_status_code(int st)
{
	switch (st) {
	case WRIT_E_QUOTA: return "quota";
	case WRIT_E_EXPIRED:
	case WRIT_E_CLOCK: return "window";
	case WRIT_E_REVOKED: return "revoked";
	case WRIT_E_SCOPE: return "scope";
	case WRIT_E_REPLAY: return "replay";
	case WRIT_E_STATE: return "busy";
	default: return status_code(hsm_status_http(st));
	}
}

static enum MHD_Result send_hsm_err(struct MHD_Connection *c, int st, const char *reason)
{
	return send_errc(c, hsm_status_http(st), hsm_status_code(st), reason[0] ? reason : writ_strerror(st));
}

static enum MHD_Result dac_answer(struct MHD_Connection *c, const struct store_dac *d)
{
	return send_json(c, MHD_HTTP_OK,
			 json_pack("{s:o,s:o,s:I,s:s,s:I,s:s,s:s}", "dac", b64j(d->dac, d->dac_len), "pai",
				   b64j(d->pai, d->pai_len), "serial", (json_int_t)d->device_serial, "dac_serial",
				   d->dac_serial, "hsm_seq", (json_int_t)d->hsm_seq, "dac_sha256", d->dac_sha256, "hsm_id",
				   d->hsm_id));
}

static enum MHD_Result h_dac(struct factory *f, struct MHD_Connection *c, struct req *q, const char *id,
			     const struct store_auth *a)
{
	struct fj_dac *r = malloc(sizeof(*r));
	struct fjob *j = malloc(sizeof(*j));
	struct store_dac d;
	cbor_item_t *req = NULL, *resp = NULL;
	char why[FJ_WHY_MAX], reason[HSMC_REASON_MAX], uid[33], csr_hex[65];
	uint8_t csr_sha[32], dac_sha[32], dac_serial[12], key[WRIT_P256_PUB_LEN];
	const uint8_t *dac = NULL, *pai = NULL;
	size_t dac_len = 0, pai_len = 0;
	uint64_t serial = 0, seq = 0, t0;
	int64_t note = 0;
	int dup = 0, retake = 0, err, st;
	enum MHD_Result ret;

	memset(&d, 0, sizeof(d));
	if (!r || !j) {
		ret = MHD_NO;
		goto out;
	}
	if (fj_parse_dac(q->body, q->len, r, why, sizeof(why)) < 0) {
		ret = send_err(c, MHD_HTTP_BAD_REQUEST, why);
		goto out;
	}
	/* A loaded writ with its bundle; whether it still allows a DAC (window, quantity,
	 * revocation) is the HSM's to say, with its own reason. */
	if (find_job(f, id, FJOB_LOADED, j) < 0) {
		ret = send_err(c, MHD_HTTP_NOT_FOUND, msg_nojob);
		goto out;
	}
	hex_encode(r->uid, sizeof(r->uid), uid);
	/* The device's key, not the CSR's bytes, names a repeated request: an ECDSA CSR
	 * differs every time it is signed. A CSR that does not verify is the station's
	 * fault and costs nothing (the HSM checks it again). */
	err = x509_csr_parse_verify(r->csr, r->csr_len, key);
	if (err < 0) {
		ret = send_err(c, MHD_HTTP_BAD_REQUEST, err == WRIT_E_UNSUPPORTED ? "the CSR's key is not EC P-256 signed with "
										    "ECDSA-SHA256"
							: err == WRIT_E_BADSIG ? "the CSR's signature (proof of possession) "
										 "does not verify"
									       : "the CSR is not a DER PKCS#10 request");
		goto out;
	}
	if (ec_sha256(key, sizeof(key), csr_sha) < 0) {
		ret = MHD_NO;
		goto out;
	}
	hex_encode(csr_sha, 32, csr_hex);
	/* 1. the intent, durably, before the HSM is asked: a full disk stops here */
	err = store_dac_begin(f->store, id, uid, a->station, csr_hex, &note, &dup, &retake);
	if (err == WRIT_E_STATE) {
		ret = send_errc(c, MHD_HTTP_CONFLICT, "busy", "a DAC request for this device is in progress: wait for its "
							      "answer");
		goto out;
	}
	if (err == WRIT_E_REPLAY) {
		ret = send_errc(c, MHD_HTTP_CONFLICT, "replay", "this device already received a DAC under this writ for "
								"another key: record it as failed and set it aside");
		goto out;
	}
	if (err < 0) {
		log_error("DAC for %s under writ %s refused: the store cannot write (%s)", uid, id, writ_strerror(err));
		ret = send_errc(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store", MSG_STORE);
		goto out;
	}
	if (dup) { /* the same device key asks again: repeat the noted answer */
		if (store_dac_get(f->store, id, uid, &d) < 0 || !d.dac || !d.pai) {
			ret = send_err(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the noted DAC cannot be read back from the store");
			goto out;
		}
		ret = dac_answer(c, &d);
		goto out;
	}
	/* 2. the HSM */
	req = cbu_new_map(4);
	if (!req || cbu_put_uint(req, HSMP_RQ_OP, HSMP_OP_ISSUE_DAC) < 0 || cbu_put_bytes(req, HSMP_RQ_WRIT_ID, j->w.id, 16) < 0 ||
	    cbu_put_bytes(req, HSMP_RQ_CSR, r->csr, r->csr_len) < 0 || cbu_put_bytes(req, HSMP_RQ_UID, r->uid, 16) < 0) {
		(void)!store_dac_abort(f->store, note, retake);
		ret = MHD_NO;
		goto out;
	}
	t0 = prom_now_ns();
	st = factory_hsm_call(f, j->w.hsm, req, &resp, reason, 0);
	if (resp && st == 0)
		fmetrics_dac_issued(t0);
	else if (resp)
		fmetrics_hsm_refusal(FM_OP_DAC, st);
	if (!resp) {
		/* The HSM may or may not have issued: the note stays, as 'unknown'. */
		(void)!store_dac_unknown(f->store, note);
		log_error("DAC for %s under writ %s: %s", uid, id, reason);
		ret = send_err(c, MHD_HTTP_SERVICE_UNAVAILABLE, reason);
		goto out;
	}
	if (st < 0) {
		if (store_dac_abort(f->store, note, retake) < 0)
			log_warn("DAC for %s: cannot forget the refused request's note", uid);
		log_warn("DAC for %s under writ %s refused by the HSM: %s", uid, id, reason);
		ret = send_hsm_err(c, st, reason);
		goto out;
	}
	if (cbu_get_bytes(resp, HSMP_RS_DAC, 1, HSMP_DAC_MAX, &dac, &dac_len) < 0 ||
	    cbu_get_bytes(resp, HSMP_RS_PAI, 1, HSMP_DAC_MAX, &pai, &pai_len) < 0 ||
	    cbu_get_uint(resp, HSMP_RS_SERIAL, UINT64_MAX, &serial) < 0 || cbu_get_uint(resp, HSMP_RS_SEQ, UINT64_MAX, &seq) < 0 ||
	    cbu_get_fixed(resp, HSMP_RS_DAC_SERIAL, dac_serial, sizeof(dac_serial)) < 0 || ec_sha256(dac, dac_len, dac_sha) < 0) {
		(void)!store_dac_unknown(f->store, note);
		log_error("DAC for %s under writ %s: the HSM's answer is malformed", uid, id);
		ret = send_err(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the edge HSM's answer is malformed: check writ-hsmd's version");
		goto out;
	}
	/* 3. the note of what was issued, durably, before the station sees it */
	d.issued = 1;
	d.hsm_seq = seq;
	d.device_serial = serial;
	d.dac = (uint8_t *)dac;
	d.dac_len = dac_len;
	d.pai = (uint8_t *)pai;
	d.pai_len = pai_len;
	pthread_mutex_lock(&f->writs_lock);
	memcpy(d.hsm_id, f->hsms[j->w.hsm].id_hex, sizeof(d.hsm_id));
	pthread_mutex_unlock(&f->writs_lock);
	hex_encode(dac_serial, sizeof(dac_serial), d.dac_serial);
	hex_encode(dac_sha, 32, d.dac_sha256);
	err = store_dac_issued(f->store, note, &d);
	if (err < 0) {
		/* The HSM counted this DAC; its journal has it. Say so loudly: the operator
		 * reconciles from the HSM journal (writ hsm journal) once the disk is fixed. */
		log_error("DAC ISSUED BUT NOT NOTED (%s): writ %s uid %s hsm %s hsm_seq %llu device_serial %llu "
			  "dac_serial %s dac_sha256 %s: not released to the station",
			  writ_strerror(err), id, uid, d.hsm_id, (unsigned long long)seq, (unsigned long long)serial,
			  d.dac_serial, d.dac_sha256);
		ret = send_errc(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store", MSG_STORE);
		d.dac = d.pai = NULL;
		goto out;
	}
	ret = dac_answer(c, &d);
	d.dac = d.pai = NULL; /* they point into resp */
out:
	store_dac_clear(&d);
	if (req)
		cbor_decref(&req);
	if (resp)
		cbor_decref(&resp);
	free(r);
	free(j);
	return ret;
}

static enum MHD_Result h_wrap(struct factory *f, struct MHD_Connection *c, struct req *q, const char *id)
{
	struct fj_wrap *r = malloc(sizeof(*r));
	struct fjob *j = malloc(sizeof(*j));
	cbor_item_t *req = NULL, *resp = NULL;
	char why[FJ_WHY_MAX], reason[HSMC_REASON_MAX];
	const uint8_t *wrapped;
	size_t wrapped_len;
	enum MHD_Result ret;
	int st;

	if (!r || !j) {
		ret = MHD_NO;
		goto out;
	}
	if (fj_parse_wrap(q->body, q->len, r, why, sizeof(why)) < 0) {
		ret = send_err(c, MHD_HTTP_BAD_REQUEST, why);
		goto out;
	}
	if (find_job(f, id, FJOB_LOADED, j) < 0) {
		ret = send_err(c, MHD_HTTP_NOT_FOUND, msg_nojob);
		goto out;
	}
	req = cbu_new_map(7);
	if (!req || cbu_put_uint(req, HSMP_RQ_OP, HSMP_OP_WRAP_SECRET) < 0 || cbu_put_bytes(req, HSMP_RQ_WRIT_ID, j->w.id, 16) < 0 ||
	    cbu_put_bytes(req, HSMP_RQ_UID, r->uid, 16) < 0 || cbu_put_bytes(req, HSMP_RQ_DAC, r->dac, r->dac_len) < 0 ||
	    cbu_put_bytes(req, HSMP_RQ_ENC_PUB, r->enc_pub, 65) < 0 ||
	    cbu_put_bytes(req, HSMP_RQ_BINDING, r->binding, r->binding_len) < 0 || cbu_put_text(req, HSMP_RQ_LABEL, r->label) < 0) {
		ret = MHD_NO;
		goto out;
	}
	st = factory_hsm_call(f, j->w.hsm, req, &resp, reason, 0);
	if (!resp) {
		ret = send_err(c, MHD_HTTP_SERVICE_UNAVAILABLE, reason);
	} else if (st < 0) {
		fmetrics_hsm_refusal(FM_OP_WRAP, st);
		ret = send_hsm_err(c, st, reason);
	} else if (cbu_get_bytes(resp, HSMP_RS_WRAPPED, 1, HSMP_WRAPPED_MAX, &wrapped, &wrapped_len) < 0) {
		ret = send_err(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the edge HSM's answer is malformed");
	} else {
		ret = send_json(c, MHD_HTTP_OK, json_pack("{s:o}", "wrapped", b64j(wrapped, wrapped_len)));
	}
out:
	if (req)
		cbor_decref(&req);
	if (resp)
		cbor_decref(&resp);
	free(r);
	free(j);
	return ret;
}

/* A rework record (docs/factory-api.md, "Rework records"): any loaded writ with rework
 * rights; it names the debug token's journal entry, closes no DAC note and never
 * counts as production (operation "rework"). */
static enum MHD_Result h_record_rework(struct factory *f, struct MHD_Connection *c, const struct fj_record *r,
				       const struct store_auth *a)
{
	struct rec_fields *rf = calloc(1, sizeof(*rf));
	struct fwrit w;
	struct fjob *j = malloc(sizeof(*j));
	char writ[33];
	uint64_t seq = 0;
	enum MHD_Result ret;
	int err;

	if (!rf || !j) {
		ret = MHD_NO;
		goto out;
	}
	hex_encode(r->writ, 16, writ);
	if (factory_writ(f, writ, &w) < 0) {
		ret = send_err(c, MHD_HTTP_NOT_FOUND, "unknown writ: no edge HSM here holds it");
		goto out;
	}
	if (!w.has_rework) {
		ret = send_errc(c, MHD_HTTP_BAD_REQUEST, "mismatch", "this writ carries no rework rights: a rework record "
								     "names the writ its debug token was signed under");
		goto out;
	}
	rf->time = (int64_t)time(NULL);
	(void)!snprintf(rf->factory, sizeof(rf->factory), "%s", f->factory_id);
	(void)!snprintf(rf->line, sizeof(rf->line), "%s", a->line);
	(void)!snprintf(rf->station, sizeof(rf->station), "%s", a->name);
	memcpy(rf->writ, writ, sizeof(rf->writ));
	(void)!snprintf(rf->product, sizeof(rf->product), "%s", w.product);
	if (w.kind == WRIT_KIND_PRODUCTION && factory_job(f, writ, FJOB_LOADED, j) == 0) { /* its version */
		(void)!snprintf(rf->version, sizeof(rf->version), "%s", j->b.version);
		hex_encode(j->b.version_digest, 32, rf->version_digest);
	}
	rf->firmware_version = r->has_fw ? r->firmware_version : 0;
	hex_encode(r->uid, 16, rf->uid);
	rf->device_serial = r->device_serial;
	memcpy(rf->hsm_id, r->hsm_id, sizeof(rf->hsm_id));
	rf->hsm_seq = r->hsm_seq;
	if (r->has_dac) /* rework-reprov: the new DAC */
		hex_encode(r->dac_sha256, 32, rf->dac_sha256);
	rf->ok = r->ok;
	rf->rework = 1;
	memcpy(rf->step, r->step, sizeof(rf->step));
	memcpy(rf->reason, r->reason, sizeof(rf->reason));
	err = store_record_append(f->store, rf, a->station, 0, f->webhook != NULL, &seq);
	if (err < 0) {
		log_error("rework record for %s under writ %s (%s) NOT stored: %s", rf->uid, writ, r->ok ? "ok" : "failed",
			  writ_strerror(err));
		ret = send_errc(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store", MSG_STORE);
		goto out;
	}
	webhook_kick(f);
	ret = send_json(c, MHD_HTTP_OK, json_pack("{s:I}", "seq", (json_int_t)seq));
out:
	free(rf);
	free(j);
	return ret;
}

static enum MHD_Result h_record(struct factory *f, struct MHD_Connection *c, struct req *q, const struct store_auth *a)
{
	struct fj_record *r = malloc(sizeof(*r));
	struct fjob *j = malloc(sizeof(*j));
	struct rec_fields *rf = calloc(1, sizeof(*rf));
	struct store_dac d;
	char why[FJ_WHY_MAX], writ[33], uid[33], sha[65];
	uint64_t seq = 0;
	int64_t note = 0;
	enum MHD_Result ret;
	int err;

	memset(&d, 0, sizeof(d));
	if (!r || !j || !rf) {
		ret = MHD_NO;
		goto out;
	}
	if (fj_parse_record(q->body, q->len, r, why, sizeof(why)) < 0) {
		ret = send_err(c, MHD_HTTP_BAD_REQUEST, why);
		goto out;
	}
	if (r->rework) {
		ret = h_record_rework(f, c, r, a);
		goto out;
	}
	hex_encode(r->writ, 16, writ);
	hex_encode(r->uid, 16, uid);
	if (find_job(f, writ, FJOB_LOADED, j) < 0) {
		ret = send_err(c, MHD_HTTP_NOT_FOUND, "unknown writ: no edge HSM here holds it, or it has no bundle");
		goto out;
	}
	err = store_dac_get(f->store, writ, uid, &d);
	if (err < 0 && err != WRIT_E_NOTFOUND) {
		ret = send_errc(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store", "the factory store cannot be read: check the state directory");
		goto out;
	}
	if (r->ok) {
		if (err == WRIT_E_NOTFOUND || !d.issued) {
			ret = send_errc(c, MHD_HTTP_NOT_FOUND, "no_dac", "no DAC was issued to this device under this writ by "
									 "this factory: an ok record needs one (POST .../dac first)");
			goto out;
		}
		hex_encode(r->dac_sha256, 32, sha);
		/* hsm_seq 0 (or none): a restarted station that read the chain back from the
		 * chip does not know it; dac_sha256 and serial name the DAC, the note the rest. */
		if (strcmp(sha, d.dac_sha256) || (r->hsm_seq != 0 && r->hsm_seq != d.hsm_seq) ||
		    r->serial != d.device_serial) {
			ret = send_errc(c, MHD_HTTP_BAD_REQUEST, "mismatch", "dac_sha256, serial or hsm_seq differ from the DAC "
									     "this factory issued to this device");
			goto out;
		}
		if (r->firmware_version != j->b.fw_version) {
			ret = send_errc(c, MHD_HTTP_BAD_REQUEST, "mismatch", "firmware_version differs from the job's bundle "
									     "(fw_version): the device runs other firmware");
			goto out;
		}
		if (d.station != a->station) {
			ret = send_errc(c, MHD_HTTP_FORBIDDEN, "station", "this device's DAC went to another station: that "
									  "station records it (or asks for the DAC again to resume)");
			goto out;
		}
		if (d.record_ok) { /* a retry after a lost answer: the same record, not a second one */
			ret = send_json(c, MHD_HTTP_OK, json_pack("{s:I,s:b}", "seq", (json_int_t)d.record_seq, "duplicate", 1));
			goto out;
		}
	}
	rf->time = (int64_t)time(NULL);
	(void)!snprintf(rf->factory, sizeof(rf->factory), "%s", f->factory_id);
	(void)!snprintf(rf->line, sizeof(rf->line), "%s", a->line);
	(void)!snprintf(rf->station, sizeof(rf->station), "%s", a->name);
	memcpy(rf->writ, writ, sizeof(rf->writ));
	(void)!snprintf(rf->product, sizeof(rf->product), "%s", j->w.product);
	(void)!snprintf(rf->version, sizeof(rf->version), "%s", j->b.version);
	hex_encode(j->b.version_digest, 32, rf->version_digest);
	rf->firmware_version = r->has_fw ? r->firmware_version : j->b.fw_version;
	memcpy(rf->uid, uid, sizeof(rf->uid));
	/* An ok record closes its note (or re-points one a failed record closed); a failed
	 * record closes an open note of its own station only. A failed record from another
	 * station is kept, naming no DAC, and leaves the note to the station that has it. */
	if (!r->ok && d.issued && !d.recorded && d.station != a->station) {
		log_warn("failed record for %s under writ %s from station %lld: its DAC note is station %lld's; recorded "
			 "without closing the note", uid, writ, (long long)a->station, (long long)d.station);
	} else if (r->ok || (d.issued && !d.recorded)) {
		note = d.id;
		rf->device_serial = d.device_serial;
		memcpy(rf->dac_serial, d.dac_serial, sizeof(rf->dac_serial));
		memcpy(rf->dac_sha256, d.dac_sha256, sizeof(rf->dac_sha256));
		memcpy(rf->hsm_id, d.hsm_id, sizeof(rf->hsm_id));
		rf->hsm_seq = d.hsm_seq;
	}
	rf->ok = r->ok;
	memcpy(rf->step, r->step, sizeof(rf->step));
	memcpy(rf->reason, r->reason, sizeof(rf->reason));
	memcpy(rf->qr, r->qr, sizeof(rf->qr));
	memcpy(rf->manual, r->manual, sizeof(rf->manual));
	err = store_record_append(f->store, rf, a->station, note, f->webhook != NULL, &seq);
	if (err == WRIT_E_EXISTS) { /* another ok record for this device closed the note first */
		ret = send_json(c, MHD_HTTP_OK, json_pack("{s:I,s:b}", "seq", (json_int_t)seq, "duplicate", 1));
		goto out;
	}
	if (err == WRIT_E_SCOPE) {
		ret = send_errc(c, MHD_HTTP_FORBIDDEN, "station", "this device's DAC went to another station: that station "
								  "records it (or asks for the DAC again to resume)");
		goto out;
	}
	if (err < 0) {
		log_error("record for %s under writ %s (%s) NOT stored: %s", uid, writ, r->ok ? "ok" : "failed",
			  writ_strerror(err));
		ret = send_errc(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store", MSG_STORE);
		goto out;
	}
	webhook_kick(f);
	ret = send_json(c, MHD_HTTP_OK, json_pack("{s:I}", "seq", (json_int_t)seq));
out:
	store_dac_clear(&d);
	free(r);
	free(j);
	free(rf);
	return ret;
}

/* ---- rework: debug-unlock tokens (docs/factory-api.md, "Rework") ---- */

#define REWORK_CANDIDATES 32

/* A refusal that names the writ rather than the request: another writ may do. */
static int rework_try_next(int st)
{
	return st == WRIT_E_SCOPE || st == WRIT_E_QUOTA || st == WRIT_E_EXPIRED || st == WRIT_E_REVOKED ||
	       st == WRIT_E_NOTFOUND || st == WRIT_E_UNSUPPORTED;
}

/* The token, chain, window end and seq of an op 8 answer into o; WRIT_E_PROTO if the
 * answer is not what docs/hsm-api.md says. */
static int rework_answer(const cbor_item_t *resp, json_t *o)
{
	const uint8_t *tok;
	size_t tok_len, i, n;
	uint8_t chain[2 * HSMP_DBG_CERT_LEN];
	char hex[2 * 2 * HSMP_DBG_CERT_LEN + 1];
	cbor_item_t *arr = cbu_get(resp, HSMP_RS_CHAIN);
	int64_t na;
	uint64_t seq;

	if (cbu_get_bytes(resp, HSMP_RS_TOKEN, HSMP_DBG_TOKEN_LEN, HSMP_DBG_TOKEN_LEN, &tok, &tok_len) < 0 ||
	    cbu_get_int(resp, HSMP_RS_NOT_AFTER, &na) < 0 || cbu_get_uint(resp, HSMP_RS_SEQ, UINT64_MAX, &seq) < 0 ||
	    seq == 0 || !arr || !cbor_isa_array(arr) || (n = cbor_array_size(arr)) < 1 || n > 2)
		return WRIT_E_PROTO;
	for (i = 0; i < n; i++) {
		cbor_item_t *c = cbor_array_get(arr, i);
		int ok = c && cbor_isa_bytestring(c) && cbor_bytestring_is_definite(c) &&
			 cbor_bytestring_length(c) == HSMP_DBG_CERT_LEN;
		if (ok)
			memcpy(chain + i * HSMP_DBG_CERT_LEN, cbor_bytestring_handle(c), HSMP_DBG_CERT_LEN);
		if (c)
			cbor_decref(&c);
		if (!ok)
			return WRIT_E_PROTO;
	}
	hex_encode(tok, tok_len, hex);
	if (json_object_set_new(o, "token", json_string(hex)) < 0 ||
	    json_object_set_new(o, "not_after", json_integer((json_int_t)na)) < 0 ||
	    json_object_set_new(o, "hsm_seq", json_integer((json_int_t)seq)) < 0)
		return WRIT_E_NOMEM;
	hex_encode(chain, n * HSMP_DBG_CERT_LEN, hex);
	if (json_object_set_new(o, "chain", json_string(hex)) < 0)
		return WRIT_E_NOMEM;
	return 0;
}

static enum MHD_Result h_rework_token(struct factory *f, struct MHD_Connection *c, struct req *q)
{
	static const char *const op_names[] = { "", "debug", "reflash", "reprovision" };
	struct fj_rework r;
	struct fwrit *cand = malloc(REWORK_CANDIDATES * sizeof(*cand)), known;
	char why[FJ_WHY_MAX], reason[HSMC_REASON_MAX], first_reason[HSMC_REASON_MAX], uid[33], id[33], known_writ[33];
	char hsm_id[65];
	const char *product = NULL;
	cbor_item_t *req = NULL, *resp = NULL;
	json_t *o = NULL;
	uint64_t serial = 0;
	size_t i, n;
	enum MHD_Result ret;
	int st, first = 0;

	first_reason[0] = 0;
	if (!cand)
		return MHD_NO;
	if (fj_parse_rework(q->body, q->len, &r, why, sizeof(why)) < 0) {
		ret = send_err(c, MHD_HTTP_BAD_REQUEST, why);
		goto out;
	}
	hex_encode(r.uid, 16, uid);
	/* the device's product, when this factory made it */
	st = store_dac_find_uid(f->store, uid, known_writ, &serial);
	if (st < 0 && st != WRIT_E_NOTFOUND) {
		ret = send_errc(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store", "the factory store cannot be read: check the state "
									    "directory");
		goto out;
	}
	(void)factory_refresh(f); /* the rights' use as the HSMs count it now */
	if (st == 0 && factory_writ(f, known_writ, &known) == 0)
		product = known.product;
	if (r.has_writ) {
		hex_encode(r.writ, 16, id);
		if (factory_writ(f, id, &cand[0]) < 0) {
			ret = send_errc(c, MHD_HTTP_NOT_FOUND, "unknown", "unknown writ: no edge HSM here holds it (load it, "
									  "or leave \"writ\" out to let the factory choose)");
			goto out;
		}
		n = 1;
	} else {
		n = factory_rework_writs(f, product, (int64_t)time(NULL), cand, REWORK_CANDIDATES);
		if (n == 0) {
			ret = send_errc(c, MHD_HTTP_NOT_FOUND, "no_rework", "no writ loaded here carries rework rights: load "
									   "a rework writ (writ authority rework) or a production "
									   "writ minted with --rework");
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		req = cbu_new_map(7);
		if (!req || cbu_put_uint(req, HSMP_RQ_OP, HSMP_OP_DEBUG_TOKEN) < 0 ||
		    cbu_put_bytes(req, HSMP_RQ_WRIT_ID, cand[i].id, 16) < 0 || cbu_put_bytes(req, HSMP_RQ_UID, r.uid, 16) < 0 ||
		    cbu_put_bytes(req, HSMP_RQ_CHALLENGE, r.challenge, sizeof(r.challenge)) < 0 ||
		    cbu_put_bytes(req, HSMP_RQ_PERMS, r.perms, sizeof(r.perms)) < 0 ||
		    cbu_put_uint(req, HSMP_RQ_SESSION, r.session) < 0 ||
		    cbu_put_uint(req, HSMP_RQ_DBG_OP, (uint64_t)r.operation) < 0) {
			ret = MHD_NO;
			goto out;
		}
		/* not idempotent: a token the HSM signed is counted even if its answer is lost */
		st = factory_hsm_call(f, cand[i].hsm, req, &resp, reason, 0);
		cbor_decref(&req);
		if (!resp) {
			ret = send_errc(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", reason);
			goto out;
		}
		if (st == 0) {
			pthread_mutex_lock(&f->writs_lock);
			memcpy(hsm_id, f->hsms[cand[i].hsm].id_hex, sizeof(hsm_id));
			pthread_mutex_unlock(&f->writs_lock);
			o = json_pack("{s:s,s:s,s:I,s:s}", "writ", cand[i].id_hex, "hsm_id", hsm_id, "device_serial",
				      (json_int_t)serial, "operation", op_names[r.operation]);
			if (!o || rework_answer(resp, o) < 0) {
				log_error("rework token for %s under writ %s: the edge HSM's answer is malformed (the unlock "
					  "is counted and journalled)", uid, cand[i].id_hex);
				ret = send_err(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the edge HSM's answer is malformed");
				goto out;
			}
			log_info("rework token (%s) for device %s under writ %s, journal seq %lld", op_names[r.operation],
				 uid, cand[i].id_hex, (long long)json_integer_value(json_object_get(o, "hsm_seq")));
			ret = send_json(c, MHD_HTTP_OK, o);
			o = NULL;
			goto out;
		}
		cbor_decref(&resp);
		if (!first) {
			first = st;
			memcpy(first_reason, reason, sizeof(first_reason));
		}
		if (!rework_try_next(st))
			break;
	}
	ret = send_hsm_err(c, first, first_reason);
out:
	if (req)
		cbor_decref(&req);
	if (resp)
		cbor_decref(&resp);
	json_decref(o);
	free(cand);
	return ret;
}

/* POST /v1/rework/{writ}/dac: re-provisioning (docs/factory-api.md, "Re-provisioning").
 * The edge HSM issues a new DAC for the key in the CSR under the rework writ (op 2 under a
 * kind 2 writ: one unit of the rights, never production quantity, journalled as
 * `reprovision`, the device serial kept). Not idempotent and not retried: each DAC the
 * HSM signs is counted. No DAC note: the station's rework-reprov record names the DAC. */
static enum MHD_Result h_rework_dac(struct factory *f, struct MHD_Connection *c, struct req *q, const char *id)
{
	struct fj_dac *r = malloc(sizeof(*r));
	struct fwrit w;
	struct store_dac d;
	cbor_item_t *req = NULL, *resp = NULL;
	char why[FJ_WHY_MAX], reason[HSMC_REASON_MAX], uid[33], prod[33] = "";
	uint8_t dac_sha[32], dac_serial[12], key[WRIT_P256_PUB_LEN];
	const uint8_t *dac = NULL, *pai = NULL;
	size_t dac_len = 0, pai_len = 0;
	uint64_t serial = 0, seq = 0, old_serial = 0;
	enum MHD_Result ret;
	int err, st;

	memset(&d, 0, sizeof(d));
	if (!r)
		return MHD_NO;
	if (fj_parse_dac(q->body, q->len, r, why, sizeof(why)) < 0) {
		ret = send_err(c, MHD_HTTP_BAD_REQUEST, why);
		goto out;
	}
	(void)factory_refresh(f); /* a rework writ loaded at the HSM since */
	if (factory_writ(f, id, &w) < 0) {
		ret = send_errc(c, MHD_HTTP_NOT_FOUND, "unknown", "unknown writ: no edge HSM here holds it (load the rework "
								  "writ: writ-factory load)");
		goto out;
	}
	if (w.kind != WRIT_KIND_REWORK) {
		ret = send_errc(c, MHD_HTTP_BAD_REQUEST, "mismatch", "not a rework writ: a production writ's DACs come from "
								     "POST /v1/jobs/{writ}/dac");
		goto out;
	}
	err = x509_csr_parse_verify(r->csr, r->csr_len, key);
	if (err < 0) {
		ret = send_err(c, MHD_HTTP_BAD_REQUEST, err == WRIT_E_BADSIG ? "the CSR's signature (proof of possession) does "
									       "not verify"
									     : "the CSR is not a DER PKCS#10 request for an "
									       "EC P-256 key");
		goto out;
	}
	hex_encode(r->uid, sizeof(r->uid), uid);
	/* the production writ this factory made the device under: the station's factory
	 * data comes from its job (version settings); unknown here is not a refusal, the
	 * HSM decides whether it made the device */
	st = store_dac_find_uid(f->store, uid, prod, &old_serial);
	if (st < 0 && st != WRIT_E_NOTFOUND) {
		ret = send_errc(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store", "the factory store cannot be read: check the state "
									    "directory");
		goto out;
	}
	if (st < 0)
		prod[0] = 0;
	req = cbu_new_map(4);
	if (!req || cbu_put_uint(req, HSMP_RQ_OP, HSMP_OP_ISSUE_DAC) < 0 || cbu_put_bytes(req, HSMP_RQ_WRIT_ID, w.id, 16) < 0 ||
	    cbu_put_bytes(req, HSMP_RQ_CSR, r->csr, r->csr_len) < 0 || cbu_put_bytes(req, HSMP_RQ_UID, r->uid, 16) < 0) {
		ret = MHD_NO;
		goto out;
	}
	st = factory_hsm_call(f, w.hsm, req, &resp, reason, 0);
	if (!resp) {
		log_error("re-provisioning DAC for %s under rework writ %s: %s (whether the HSM issued is in its journal)",
			  uid, id, reason);
		ret = send_errc(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", reason);
		goto out;
	}
	if (st < 0) {
		fmetrics_hsm_refusal(FM_OP_DAC, st);
		log_warn("re-provisioning DAC for %s under rework writ %s refused by the HSM: %s", uid, id, reason);
		ret = send_hsm_err(c, st, reason);
		goto out;
	}
	if (cbu_get_bytes(resp, HSMP_RS_DAC, 1, HSMP_DAC_MAX, &dac, &dac_len) < 0 ||
	    cbu_get_bytes(resp, HSMP_RS_PAI, 1, HSMP_DAC_MAX, &pai, &pai_len) < 0 ||
	    cbu_get_uint(resp, HSMP_RS_SERIAL, UINT64_MAX, &serial) < 0 || cbu_get_uint(resp, HSMP_RS_SEQ, UINT64_MAX, &seq) < 0 ||
	    cbu_get_fixed(resp, HSMP_RS_DAC_SERIAL, dac_serial, sizeof(dac_serial)) < 0 || ec_sha256(dac, dac_len, dac_sha) < 0) {
		log_error("re-provisioning DAC for %s under rework writ %s: the HSM's answer is malformed (it is counted and "
			  "journalled)", uid, id);
		ret = send_err(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the edge HSM's answer is malformed: check writ-hsmd's version");
		goto out;
	}
	d.hsm_seq = seq;
	d.device_serial = serial;
	d.dac = (uint8_t *)dac;
	d.dac_len = dac_len;
	d.pai = (uint8_t *)pai;
	d.pai_len = pai_len;
	pthread_mutex_lock(&f->writs_lock);
	memcpy(d.hsm_id, f->hsms[w.hsm].id_hex, sizeof(d.hsm_id));
	pthread_mutex_unlock(&f->writs_lock);
	hex_encode(dac_serial, sizeof(dac_serial), d.dac_serial);
	hex_encode(dac_sha, 32, d.dac_sha256);
	log_info("re-provisioned device %s (serial %llu) under rework writ %s: DAC %s, journal seq %llu", uid,
		 (unsigned long long)serial, id, d.dac_serial, (unsigned long long)seq);
	ret = send_json(c, MHD_HTTP_OK,
			json_pack("{s:o,s:o,s:I,s:s,s:I,s:s,s:s,s:s,s:s}", "dac", b64j(d.dac, d.dac_len), "pai",
				  b64j(d.pai, d.pai_len), "serial", (json_int_t)d.device_serial, "dac_serial", d.dac_serial,
				  "hsm_seq", (json_int_t)d.hsm_seq, "dac_sha256", d.dac_sha256, "hsm_id", d.hsm_id, "writ",
				  id, "production_writ", prod));
	d.dac = d.pai = NULL; /* they point into resp */
out:
	store_dac_clear(&d);
	if (req)
		cbor_decref(&req);
	if (resp)
		cbor_decref(&resp);
	free(r);
	return ret;
}

struct rec_out {
	char *buf;
	size_t len, cap;
	int csv;
};

static int out_put(struct rec_out *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		char *nb;
		while (cap < o->len + n + 1)
			cap *= 2;
		nb = realloc(o->buf, cap);
		if (!nb)
			return WRIT_E_NOMEM;
		o->buf = nb;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = 0;
	return 0;
}

static int rec_emit(void *arg, uint64_t seq, const char *json)
{
	struct rec_out *o = arg;
	char *line = NULL;
	int err;

	if (!o->csv)
		return out_put(o, json, strlen(json)) < 0 ? WRIT_E_NOMEM : out_put(o, "\n", 1);
	if ((err = rec_to_csv(json, &line)) < 0)
		return err;
	err = out_put(o, line, strlen(line));
	free(line);
	return err;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;
	size_t i;

	if (!s || !*s || strlen(s) > 19)
		return -1;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*ret = v;
	return 0;
}

static enum MHD_Result count_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	int *bad = cls;

	if (strcmp(key, "since") && strcmp(key, "limit") && strcmp(key, "format"))
		*bad = 1;
	return MHD_YES;
}

static enum MHD_Result h_records_get(struct factory *f, struct MHD_Connection *c)
{
	const char *since_s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since");
	const char *limit_s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
	const char *format = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format");
	struct rec_out o = { 0 };
	uint64_t since = 0, limit = 1000;
	int bad = 0, err;

	(void)MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, count_arg, &bad);
	if (bad || (since_s && parse_u64(since_s, INT64_MAX, &since) < 0) ||
	    (limit_s && (parse_u64(limit_s, RECORDS_LIMIT_MAX, &limit) < 0 || limit == 0)) ||
	    (format && strcmp(format, "jsonl") && strcmp(format, "csv")))
		return send_err(c, MHD_HTTP_BAD_REQUEST, "query: since=N (default 0), limit=1..10000 (default 1000), "
							 "format=jsonl|csv; nothing else");
	o.csv = format && !strcmp(format, "csv");
	if (o.csv && out_put(&o, rec_csv_header(), strlen(rec_csv_header())) < 0) {
		free(o.buf);
		return MHD_NO;
	}
	err = store_records(f->store, since, limit, rec_emit, &o);
	if (err < 0) {
		free(o.buf);
		return send_errc(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store", "the factory store cannot be read: check the state directory");
	}
	if (!o.buf) {
		o.buf = strdup("");
		if (!o.buf)
			return MHD_NO;
	}
	return send_buf(c, MHD_HTTP_OK, o.buf, o.len, o.csv ? "text/csv" : "application/x-ndjson");
}

static enum MHD_Result h_status(struct factory *f, struct MHD_Connection *c)
{
	json_t *hsms = json_array(), *jobs = json_array();
	uint64_t records = 0, queue = 0, pending = 0;
	size_t i;

	(void)factory_refresh(f);
	factory_jobs(f, add_job, jobs);
	pthread_mutex_lock(&f->writs_lock);
	for (i = 0; hsms && i < f->n_hsms; i++)
		json_array_append_new(hsms, json_pack("{s:s,s:b,s:s,s:I}", "socket", f->hsms[i].path, "up", f->hsms[i].up,
						      "id", f->hsms[i].up ? f->hsms[i].id_hex : "", "journal_next",
						      (json_int_t)f->hsms[i].journal_next));
	pthread_mutex_unlock(&f->writs_lock);
	if (store_counts(f->store, &records, &queue, &pending) < 0) {
		json_decref(hsms);
		json_decref(jobs);
		return send_errc(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store", "the factory store cannot be read: check the state directory");
	}
	return send_json(c, MHD_HTTP_OK,
			 json_pack("{s:s,s:o,s:o,s:I,s:I,s:I,s:b,s:o,s:o}", "factory", f->factory_id, "hsms", hsms, "jobs", jobs,
				   "records", (json_int_t)records, "queue", (json_int_t)queue, "dacs_open",
				   (json_int_t)pending, "store_writable", store_writable(f->store) == 0, "cloud",
				   cloud_status_json(f), "update", update_status_json()));
}

/* Open: 200 when the store can write and at least one edge HSM answers, else 503 with
 * what is wrong (for a load balancer or systemd; nothing the factory makes is in it).
 * "update_pending" is what a paused writ-station polls: it does not count as a job in
 * progress ("busy"), so a waiting station never holds an update up. */
static enum MHD_Result h_health(struct factory *f, struct MHD_Connection *c)
{
	size_t i, up = 0;
	int writable = store_writable(f->store) == 0;

	(void)factory_refresh(f);
	pthread_mutex_lock(&f->writs_lock);
	for (i = 0; i < f->n_hsms; i++)
		up += f->hsms[i].up != 0;
	pthread_mutex_unlock(&f->writs_lock);
	return send_json(c, writable && up ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
			 json_pack("{s:s,s:b,s:I,s:I,s:s,s:b,s:b}", "status", writable && up ? "ok" : "degraded",
				   "store_writable", writable, "hsms_up", (json_int_t)up, "hsms", (json_int_t)f->n_hsms,
				   "version", update_version(), "busy", update_busy(), "update_pending", update_pending()));
}

/* The mes role (the factory's read role) only: a station has no business here. */
static enum MHD_Result h_metrics(struct factory *f, struct MHD_Connection *c)
{
	struct prom_buf b;

	prom_init(&b);
	fmetrics_render(f, &b);
	if (b.oom || !b.p) {
		prom_free(&b);
		return send_err(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	}
	return send_buf(c, MHD_HTTP_OK, b.p, b.len, PROM_CONTENT_TYPE);
}

/* ---- routing ---- */

static int is_writ_id(const char *s, size_t n)
{
	size_t i;

	if (n != 32)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static size_t body_limit(const char *method, const char *url)
{
	return !strcmp(method, "POST") && !strcmp(url, "/v1/records") ? FJ_RECORD_BODY_MAX : FJ_BODY_MAX;
}

static enum MHD_Result dispatch(struct factory *f, struct MHD_Connection *c, const char *url, const char *method,
				struct req *q)
{
	int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
	struct store_auth a;
	enum MHD_Result ret;
	char id[33];
	const char *rest;

	if (q->too_big)
		return send_err(c, HTTP_TOO_LARGE, "the body is too large (64 KiB, 16 KiB for records)");
	if (!strcmp(url, "/v1/stations/enrol")) {
		if (!post)
			return send_err(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
		return h_enrol(f, c, q);
	}
	if (!strcmp(url, "/v1/health")) {
		if (!get)
			return send_err(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
		return h_health(f, c);
	}
	if (!strcmp(url, "/metrics")) {
		if (!get)
			return send_err(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
		if (authenticate(f, c, ROLE_MES, &a, &ret) < 0)
			return ret;
		return h_metrics(f, c);
	}
	if (!strcmp(url, "/v1/status")) {
		if (!get)
			return send_err(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
		if (authenticate(f, c, ROLE_ANY, &a, &ret) < 0)
			return ret;
		return h_status(f, c);
	}
	if (!strcmp(url, "/v1/records")) {
		if (!get && !post)
			return send_err(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET (mes) or POST (station)");
		if (authenticate(f, c, get ? ROLE_MES : ROLE_STATION, &a, &ret) < 0)
			return ret;
		return get ? h_records_get(f, c) : h_record(f, c, q, &a);
	}
	if (!strcmp(url, "/v1/telemetry")) {
		json_t *o = NULL;
		unsigned st;
		if (!post)
			return send_err(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
		if (authenticate(f, c, ROLE_STATION, &a, &ret) < 0)
			return ret;
		if (!f->tele)
			return send_errc(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store", "the telemetry store is not open");
		st = ftele_post(f->tele, a.name, a.line, q->body, q->len, (int64_t)time(NULL), &o);
		return send_json(c, st, o);
	}
	if (!strcmp(url, "/v1/rework/token")) {
		if (!post)
			return send_err(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
		if (authenticate(f, c, ROLE_STATION, &a, &ret) < 0)
			return ret;
		return h_rework_token(f, c, q);
	}
	if (!strncmp(url, "/v1/rework/", 11) && strcmp(url, "/v1/rework/token")) {
		const char *p = url + 11;
		size_t n = strcspn(p, "/");
		if (!is_writ_id(p, n) || strcmp(p + n, "/dac"))
			return send_err(c, MHD_HTTP_NOT_FOUND, "no such endpoint: see docs/factory-api.md");
		if (!post)
			return send_err(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
		if (authenticate(f, c, ROLE_STATION, &a, &ret) < 0)
			return ret;
		memcpy(id, p, 32);
		id[32] = 0;
		return h_rework_dac(f, c, q, id);
	}
	if (!strcmp(url, "/v1/jobs")) {
		if (!get)
			return send_err(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
		if (authenticate(f, c, ROLE_STATION, &a, &ret) < 0)
			return ret;
		return h_jobs(f, c);
	}
	if (!strncmp(url, "/v1/jobs/", 9)) {
		const char *p = url + 9;
		size_t n = strcspn(p, "/");
		rest = p + n;
		if (!is_writ_id(p, n))
			return send_err(c, MHD_HTTP_NOT_FOUND, "unknown job: a writ id is 32 lowercase hex digits");
		memcpy(id, p, 32);
		id[32] = 0;
		if (!*rest || !strcmp(rest, "/firmware")) {
			if (!get)
				return send_err(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
		} else if (!strcmp(rest, "/dac") || !strcmp(rest, "/wrap")) {
			if (!post)
				return send_err(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
		} else {
			return send_err(c, MHD_HTTP_NOT_FOUND, "no such endpoint: see docs/factory-api.md");
		}
		if (authenticate(f, c, ROLE_STATION, &a, &ret) < 0)
			return ret;
		update_note_busy(); /* update.c: a job is in progress */
		if (!*rest)
			return h_job(f, c, id);
		if (!strcmp(rest, "/firmware"))
			return h_firmware(f, c, id);
		if (!strcmp(rest, "/dac"))
			return h_dac(f, c, q, id, &a);
		return h_wrap(f, c, q, id);
	}
	return send_err(c, MHD_HTTP_NOT_FOUND, "no such endpoint: see docs/factory-api.md");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			       const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct http_server *hs = cls;
	struct req *q = *con_cls;

	if (!q) {
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		uint64_t n = 0;

		q = calloc(1, sizeof(*q));
		if (!q)
			return MHD_NO;
		q->limit = body_limit(method, url);
		*con_cls = q;
		if (cl && (parse_u64(cl, UINT64_MAX / 2, &n) < 0 || n > q->limit)) {
			/* refused before a byte of the body is read */
			q->too_big = 1;
			return send_err(c, HTTP_TOO_LARGE, "the body is too large (64 KiB, 16 KiB for records)");
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (q->too_big || n > q->limit - q->len) {
			q->too_big = 1; /* a chunked body past the limit: discard, answer 413 */
			return MHD_YES;
		}
		if (q->len + n + 1 > q->cap) {
			size_t cap = q->len + n + 1 > 4096 ? q->limit + 1 : 4096;
			char *nb = realloc(q->body, cap);
			if (!nb)
				return MHD_NO;
			q->body = nb;
			q->cap = cap;
		}
		memcpy(q->body + q->len, upload_data, n);
		q->len += n;
		q->body[q->len] = 0;
		return MHD_YES;
	}
	return dispatch(hs->f, c, url, method, q);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct req *q = *con_cls;

	if (!q)
		return;
	if (q->body) {
		writ_memzero(q->body, q->len); /* an enrolment code may be in it */
		free(q->body);
	}
	free(q);
	*con_cls = NULL;
}

int http_start(struct factory *f, const char *host, unsigned port, struct http_server **ret)
{
	struct http_server *hs = calloc(1, sizeof(*hs));
	struct sockaddr_in sa;

	if (!hs)
		return WRIT_E_NOMEM;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		log_error("--listen %s: give an IPv4 address and a port, e.g. 127.0.0.1:8440", host);
		free(hs);
		return WRIT_E_INVAL;
	}
	hs->f = f;
	hs->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG |
					 tls_server_mhd_flags(), 0,
				 NULL, NULL, handler, hs, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				 MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_CONNECTION_LIMIT, 256u,
				 MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_ARRAY, tls_server_mhd_options(),
				 MHD_OPTION_END);
	if (!hs->d) {
		log_error("cannot listen on %s:%u: %s", host, port, strerror(errno));
		free(hs);
		return WRIT_E_IO;
	}
	*ret = hs;
	return 0;
}

void http_stop(struct http_server *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}
