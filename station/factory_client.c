/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The writ-factory API client over libcurl (transport, keep-alive, timeouts, a size cap
 * on every answer) and jansson (strict reading of every answer). See factory_client.h.
 */
#include "station/factory_client.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/ct.h"
#include "tls/tls.h"
#include "host/file.h"
#include "matter/spake2p.h"

struct factory_client {
	CURL *h;
	struct curl_slist *hdrs;
	char base[256];
	char auth[FC_TOKEN_MAX + 32]; /* "Authorization: Bearer ..." ; wiped at close */
	int have_token;
	long connect_timeout_ms, timeout_ms;
	uint8_t *buf; /* answer body */
	size_t len, cap, max;
	int over;
	long http;
	double secs;
	char err[FC_ERR_MAX];
	char code[FC_CODE_MAX]; /* the last error answer's "code", "" when none */
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int factory_client_trust(const char *ca_file)
{
	const struct tls_client_conf cc = { ca_file, NULL, NULL };

	if (access(ca_file, R_OK) < 0 || tls_client_setup(&cc) < 0) {
		fprintf(stderr, "writ-station: cannot use --factory-ca %s\n", ca_file);
		return WRIT_E_IO;
	}
	return 0;
}

static int seterr(struct factory_client *fc, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int seterr(struct factory_client *fc, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fc->err, sizeof fc->err, fmt, ap);
	va_end(ap);
	return rc;
}

int factory_client_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : WRIT_E_NOMEM;
}

int factory_client_new(const char *base_url, const char *token, const struct fc_opts *opts,
		       struct factory_client **ret)
{
	struct factory_client *fc;
	size_t n;

	if (!base_url || !ret)
		return WRIT_E_INVAL;
	n = strlen(base_url);
	while (n > 0 && base_url[n - 1] == '/')
		n--;
	if (n == 0 || n >= sizeof fc->base ||
	    (strncmp(base_url, "http://", 7) != 0 && strncmp(base_url, "https://", 8) != 0))
		return WRIT_E_INVAL;
	if (token && (strlen(token) == 0 || strlen(token) >= FC_TOKEN_MAX))
		return WRIT_E_INVAL;
	fc = calloc(1, sizeof *fc);
	if (!fc)
		return WRIT_E_NOMEM;
	memcpy(fc->base, base_url, n);
	fc->base[n] = '\0';
	fc->connect_timeout_ms = opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 3000;
	fc->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : 30000;
	fc->h = curl_easy_init();
	if (!fc->h) {
		free(fc);
		return WRIT_E_NOMEM;
	}
	if (token) {
		int w = snprintf(fc->auth, sizeof fc->auth, "Authorization: Bearer %s", token);
		if (w < 0 || (size_t)w >= sizeof fc->auth) {
			factory_client_close(fc);
			return WRIT_E_INVAL;
		}
		fc->have_token = 1;
	}
	*ret = fc;
	return 0;
}

void factory_client_close(struct factory_client *fc)
{
	if (!fc)
		return;
	if (fc->h)
		curl_easy_cleanup(fc->h);
	/* curl_slist_append copied the header strings: wipe those copies too */
	for (struct curl_slist *s = fc->hdrs; s; s = s->next)
		writ_memzero(s->data, strlen(s->data));
	curl_slist_free_all(fc->hdrs);
	writ_memzero(fc->auth, sizeof fc->auth);
	free(fc->buf);
	free(fc);
}

const char *factory_client_error(const struct factory_client *fc)
{
	return fc && fc->err[0] ? fc->err : "no error";
}

long factory_client_http(const struct factory_client *fc)
{
	return fc ? fc->http : 0;
}

const char *factory_client_code(const struct factory_client *fc)
{
	return fc ? fc->code : "";
}

enum fc_verdict factory_client_verdict(const struct factory_client *fc, int rc, int record_call)
{
	long http = fc ? fc->http : 0;

	if (rc >= 0)
		return FC_DEVICE;
	if (rc == WRIT_E_IO && http == 503)
		return FC_FACTORY_DOWN;
	if (rc == WRIT_E_IO && http == 0)
		return FC_RETRY;
	if (rc == WRIT_E_QUOTA || rc == WRIT_E_EXPIRED || rc == WRIT_E_REVOKED)
		return http == 409 ? FC_JOB_ENDED : FC_DEVICE;
	if (rc == WRIT_E_AUTH) {
		/* a record's 403: that device's DAC went to another station, not the credential */
		if (record_call && http == 403)
			return FC_DEVICE;
		return http == 401 || http == 403 || http == 0 ? FC_STATION : FC_DEVICE;
	}
	return FC_DEVICE;
}

double factory_client_seconds(const struct factory_client *fc)
{
	return fc ? fc->secs : 0;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct factory_client *fc = ud;
	size_t n = size * nmemb;

	if (n > fc->max - fc->len) {
		fc->over = 1;
		return 0; /* aborts the transfer */
	}
	if (fc->len + n + 1 > fc->cap) {
		size_t nc = fc->cap ? fc->cap : 4096;
		uint8_t *nb;
		while (nc < fc->len + n + 1)
			nc *= 2;
		if (nc > fc->max + 1)
			nc = fc->max + 1;
		nb = realloc(fc->buf, nc);
		if (!nb)
			return 0;
		fc->buf = nb;
		fc->cap = nc;
	}
	memcpy(fc->buf + fc->len, p, n);
	fc->len += n;
	fc->buf[fc->len] = '\0';
	return n;
}

/* Printable ASCII of s (at most cap-1 bytes) into out: a peer's message is shown, but no
 * control character of it reaches a terminal. */
static void clean_copy(char *out, size_t cap, const char *s)
{
	size_t i = 0;

	for (; *s && i + 1 < cap; s++)
		out[i++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	out[i] = '\0';
}

/* A 409 by the factory's code; without one (an older factory) it ends the job, as before. */
static int map_409(const char *code)
{
	if (!strcmp(code, "replay"))
		return WRIT_E_REPLAY;
	if (!strcmp(code, "busy"))
		return WRIT_E_STATE;
	if (!strcmp(code, "scope"))
		return WRIT_E_SCOPE;
	if (!strcmp(code, "window"))
		return WRIT_E_EXPIRED;
	if (!strcmp(code, "revoked"))
		return WRIT_E_REVOKED;
	return WRIT_E_QUOTA; /* "quota", none, or a code this station does not know */
}

static int map_status(long st, const char *code)
{
	switch (st) {
	case 400:
	case 413:
		return WRIT_E_INVAL;
	case 401:
	case 403:
		return WRIT_E_AUTH;
	case 404:
		return WRIT_E_NOTFOUND;
	case 409:
		return map_409(code);
	case 503:
		return WRIT_E_IO;
	default:
		return WRIT_E_PROTO;
	}
}

/*
 * One request. body (may be NULL) is a JSON text; max bounds the answer. On 2xx the
 * answer is in fc->buf/fc->len (NUL-terminated). Otherwise a negative error with the
 * factory's {"error": ...} message (or what happened) in fc->err.
 */
static int request(struct factory_client *fc, const char *method, const char *path, const char *body, size_t max,
		   int auth)
{
	char url[512], curl_err[CURL_ERROR_SIZE] = "";
	struct curl_slist *h = NULL;
	CURLcode cc;
	double t0 = now_s();
	int w;

	fc->len = 0;
	fc->over = 0;
	fc->http = 0;
	fc->err[0] = '\0';
	fc->code[0] = '\0';
	fc->max = max;
	w = snprintf(url, sizeof url, "%s%s", fc->base, path);
	if (w < 0 || (size_t)w >= sizeof url)
		return seterr(fc, WRIT_E_INVAL, "URL too long");
	if (!fc->hdrs) {
		/* built once, kept for the handle's life (the token line is wiped at close) */
		h = curl_slist_append(h, "Accept: application/json");
		if (h)
			h = curl_slist_append(h, "Expect:");
		if (h && fc->have_token)
			h = curl_slist_append(h, fc->auth);
		if (!h)
			return seterr(fc, WRIT_E_NOMEM, "out of memory");
		fc->hdrs = h;
	}
	curl_easy_reset(fc->h);
	if (tls_client_apply(fc->h) < 0) /* lib/tls: TLS 1.2+, the pinned factory certificate */
		return seterr(fc, WRIT_E_UNSUPPORTED, "TLS set-up failed");
	if (auth && !fc->have_token)
		return seterr(fc, WRIT_E_AUTH, "no station token");
	/* The enrolment request carries no token: a one-line list without it. */
	struct curl_slist enrol_hdrs[2] = { { (char *)"Accept: application/json", &enrol_hdrs[1] },
					    { (char *)"Expect:", NULL } };
	curl_easy_setopt(fc->h, CURLOPT_URL, url);
	curl_easy_setopt(fc->h, CURLOPT_HTTPHEADER, auth ? fc->hdrs : enrol_hdrs);
	curl_easy_setopt(fc->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(fc->h, CURLOPT_CONNECTTIMEOUT_MS, fc->connect_timeout_ms);
	curl_easy_setopt(fc->h, CURLOPT_TIMEOUT_MS, fc->timeout_ms);
	curl_easy_setopt(fc->h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(fc->h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(fc->h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(fc->h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(fc->h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max);
	curl_easy_setopt(fc->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(fc->h, CURLOPT_WRITEDATA, fc);
	curl_easy_setopt(fc->h, CURLOPT_ERRORBUFFER, curl_err);
	if (body) {
		curl_easy_setopt(fc->h, CURLOPT_POST, 1L);
		curl_easy_setopt(fc->h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(fc->h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(fc->h, CURLOPT_CUSTOMREQUEST, method);
	}
	if (body) {
		/* JSON bodies: one more header for this request only */
		static const char ct[] = "Content-Type: application/json";
		struct curl_slist *last = auth ? fc->hdrs : enrol_hdrs;
		struct curl_slist extra = { (char *)ct, NULL };
		while (last->next)
			last = last->next;
		last->next = &extra;
		cc = curl_easy_perform(fc->h);
		last->next = NULL;
	} else {
		cc = curl_easy_perform(fc->h);
	}
	curl_easy_setopt(fc->h, CURLOPT_ERRORBUFFER, NULL);
	fc->secs += now_s() - t0;
	curl_easy_getinfo(fc->h, CURLINFO_RESPONSE_CODE, &fc->http);
	if (fc->over || cc == CURLE_FILESIZE_EXCEEDED)
		return seterr(fc, WRIT_E_PROTO, "the factory's answer to %s %s is larger than %zu bytes", method, path,
			      max);
	if (cc != CURLE_OK) {
		fc->http = 0;
		return seterr(fc, WRIT_E_IO, "cannot reach the factory at %s (%s)", fc->base,
			      curl_err[0] ? curl_err : curl_easy_strerror(cc));
	}
	if (fc->http >= 200 && fc->http < 300) {
		if (!fc->buf) {
			fc->buf = malloc(1);
			if (!fc->buf)
				return seterr(fc, WRIT_E_NOMEM, "out of memory");
			fc->cap = 1;
		}
		fc->buf[fc->len] = '\0';
		return 0;
	}
	{
		char msg[FC_ERR_MAX - 64] = "";
		json_t *j = fc->len ? json_loadb((const char *)fc->buf, fc->len, JSON_REJECT_DUPLICATES, NULL) : NULL;
		json_t *e = json_is_object(j) ? json_object_get(j, "error") : NULL;
		json_t *k = json_is_object(j) ? json_object_get(j, "code") : NULL;
		if (json_is_string(e))
			clean_copy(msg, sizeof msg, json_string_value(e));
		else
			snprintf(msg, sizeof msg, "no error message");
		/* the code: a short lower-case word; anything else is taken as no code */
		if (json_is_string(k) && json_string_length(k) > 0 && json_string_length(k) < sizeof fc->code) {
			const char *ks = json_string_value(k);
			size_t i, n = json_string_length(k);
			for (i = 0; i < n; i++)
				if (!((ks[i] >= 'a' && ks[i] <= 'z') || ks[i] == '_' || ks[i] == '-'))
					break;
			if (i == n)
				memcpy(fc->code, ks, n + 1);
		}
		json_decref(j);
		if (fc->code[0])
			return seterr(fc, map_status(fc->http, fc->code), "factory: %s %s: HTTP %ld (%s): %s", method, path,
				      fc->http, fc->code, msg);
		return seterr(fc, map_status(fc->http, fc->code), "factory: %s %s: HTTP %ld: %s", method, path, fc->http,
			      msg);
	}
}

/* ---- strict reading of answers ---- */

static json_t *parse_answer(struct factory_client *fc, const char *what, int *rc)
{
	json_error_t je;
	json_t *j = json_loadb((const char *)fc->buf, fc->len, JSON_REJECT_DUPLICATES, &je);

	if (!j) {
		*rc = seterr(fc, WRIT_E_PROTO, "the factory's answer to %s is not JSON (%.80s)", what, je.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		*rc = seterr(fc, WRIT_E_PROTO, "the factory's answer to %s is not a JSON object", what);
		return NULL;
	}
	*rc = 0;
	return j;
}

static int get_str(struct factory_client *fc, json_t *o, const char *key, size_t minlen, size_t maxlen,
		   char *out, size_t cap, const char *what)
{
	json_t *v = json_object_get(o, key);
	size_t n;

	if (!json_is_string(v))
		return seterr(fc, WRIT_E_PROTO, "the factory's answer to %s: \"%s\" is %s, want a string", what, key,
			      v ? "of the wrong type" : "missing");
	n = json_string_length(v);
	if (n < minlen || n > maxlen || n >= cap || strlen(json_string_value(v)) != n)
		return seterr(fc, WRIT_E_PROTO, "the factory's answer to %s: \"%s\" has %zu characters, want %zu..%zu",
			      what, key, n, minlen, maxlen);
	memcpy(out, json_string_value(v), n + 1);
	return 0;
}

static int get_uint(struct factory_client *fc, json_t *o, const char *key, uint64_t max, uint64_t *ret,
		    const char *what)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
		return seterr(fc, WRIT_E_PROTO, "the factory's answer to %s: \"%s\" is %s, want an integer 0..%llu",
			      what, key, v ? "out of range or of the wrong type" : "missing", (unsigned long long)max);
	*ret = (uint64_t)json_integer_value(v);
	return 0;
}

static int get_int(struct factory_client *fc, json_t *o, const char *key, int64_t *ret, const char *what)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		return seterr(fc, WRIT_E_PROTO, "the factory's answer to %s: \"%s\" is %s, want an integer", what, key,
			      v ? "of the wrong type" : "missing");
	*ret = (int64_t)json_integer_value(v);
	return 0;
}

static int get_hex(struct factory_client *fc, json_t *o, const char *key, uint8_t *out, size_t n, const char *what)
{
	char hex[2 * 128 + 1];

	if (n > 128)
		return WRIT_E_INVAL;
	if (get_str(fc, o, key, 2 * n, 2 * n, hex, sizeof hex, what) < 0)
		return WRIT_E_PROTO;
	if (hex_decode(hex, out, n) < 0)
		return seterr(fc, WRIT_E_PROTO, "the factory's answer to %s: \"%s\" is not hex", what, key);
	return 0;
}

static int get_b64(struct factory_client *fc, json_t *o, const char *key, uint8_t *out, size_t cap, size_t *ret_len,
		   const char *what)
{
	json_t *v = json_object_get(o, key);
	int n;

	if (!json_is_string(v))
		return seterr(fc, WRIT_E_PROTO, "the factory's answer to %s: \"%s\" is %s, want base64", what, key,
			      v ? "of the wrong type" : "missing");
	if (json_string_length(v) > 4 * ((cap + 2) / 3))
		return seterr(fc, WRIT_E_PROTO, "the factory's answer to %s: \"%s\" is longer than %zu bytes", what,
			      key, cap);
	n = matter_b64_decode(json_string_value(v), json_string_length(v), out, cap);
	if (n <= 0)
		return seterr(fc, WRIT_E_PROTO, "the factory's answer to %s: \"%s\" is not canonical base64 of 1..%zu bytes",
			      what, key, cap);
	*ret_len = (size_t)n;
	return 0;
}

static int valid_writ(const char *writ)
{
	uint8_t id[16];
	return writ && strlen(writ) == 32 && hex_decode(writ, id, 16) == 0;
}

/* json_dumps with a check; the caller frees. */
static char *dump(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

/* POST req (consumed; NULL: out of memory) as JSON to path, with the station's token; on
 * 0 the parsed answer is in *ret (the caller decrefs it). */
static int post_json(struct factory_client *fc, const char *path, json_t *req, const char *what, json_t **ret)
{
	char *body = dump(req);
	int rc;

	*ret = NULL;
	if (!body)
		return seterr(fc, WRIT_E_NOMEM, "out of memory");
	rc = request(fc, "POST", path, body, FC_JSON_MAX, 1);
	free(body);
	if (rc < 0)
		return rc;
	*ret = parse_answer(fc, what, &rc);
	return *ret ? 0 : rc;
}

int factory_client_telemetry(struct factory_client *fc, const char *body, uint64_t *ret_accepted,
			     uint64_t *ret_duplicate)
{
	static const char what[] = "POST telemetry";
	uint64_t acc = 0, dup = 0;
	json_t *a;
	int rc;

	if (!body)
		return seterr(fc, WRIT_E_INVAL, "no telemetry");
	rc = request(fc, "POST", "/v1/telemetry", body, FC_JSON_MAX, 1);
	if (rc < 0)
		return rc;
	if (!(a = parse_answer(fc, what, &rc)))
		return rc;
	if ((rc = get_uint(fc, a, "accepted", UINT32_MAX, &acc, what)) == 0 &&
	    (rc = get_uint(fc, a, "duplicate", UINT32_MAX, &dup, what)) == 0) {
		*ret_accepted = acc;
		*ret_duplicate = dup;
	}
	json_decref(a);
	return rc;
}

int factory_client_health(struct factory_client *fc, struct fc_health *ret)
{
	json_t *a, *v, *p;
	struct fc_health h;
	int rc;

	memset(&h, 0, sizeof h);
	rc = request(fc, "GET", "/v1/health", NULL, FC_JSON_MAX, 0);
	if (rc < 0)
		return rc;
	if (!(a = parse_answer(fc, "GET health", &rc)))
		return rc;
	p = json_object_get(a, "update_pending");
	v = json_object_get(a, "version");
	if (p && !json_is_boolean(p)) {
		rc = seterr(fc, WRIT_E_PROTO, "the factory's answer to GET health: \"update_pending\" is not a boolean");
	} else if (v && (!json_is_string(v) || json_string_length(v) >= sizeof h.version ||
			 strlen(json_string_value(v)) != json_string_length(v))) {
		rc = seterr(fc, WRIT_E_PROTO, "the factory's answer to GET health: \"version\" is not a short string");
	} else {
		h.update_pending = json_is_true(p);
		if (v)
			memcpy(h.version, json_string_value(v), json_string_length(v) + 1);
		*ret = h;
	}
	json_decref(a);
	return rc;
}

int factory_client_enrol(struct factory_client *fc, const char *code, const char *name, const char *line,
			 char *ret_station, size_t station_cap, char ret_token[FC_TOKEN_MAX])
{
	json_t *req = json_pack("{s:s, s:s, s:s}", "code", code, "name", name, "line", line), *a;
	char *body = req ? dump(req) : NULL;
	char station[FC_STR_MAX], token[FC_TOKEN_MAX];
	int rc;

	if (!body)
		return seterr(fc, WRIT_E_NOMEM, "out of memory");
	rc = request(fc, "POST", "/v1/stations/enrol", body, FC_JSON_MAX, 0);
	writ_memzero(body, strlen(body)); /* the one-time code */
	free(body);
	if (rc < 0)
		return rc;
	a = parse_answer(fc, "enrol", &rc);
	if (!a)
		return rc;
	/* the station id: a number (writ-factory's) or a string */
	if (json_is_integer(json_object_get(a, "station")) && json_integer_value(json_object_get(a, "station")) >= 0)
		snprintf(station, sizeof station, "%lld", (long long)json_integer_value(json_object_get(a, "station")));
	else
		rc = get_str(fc, a, "station", 1, FC_STR_MAX - 1, station, sizeof station, "enrol");
	if (rc == 0 &&
	    (rc = get_str(fc, a, "token", 16, FC_TOKEN_MAX - 1, token, sizeof token, "enrol")) == 0) {
		if (strlen(station) >= station_cap) {
			rc = seterr(fc, WRIT_E_PROTO, "station id too long");
		} else {
			memcpy(ret_station, station, strlen(station) + 1);
			memcpy(ret_token, token, strlen(token) + 1);
		}
	}
	json_decref(a); /* jansson frees the token's copy; our buffer is wiped below */
	writ_memzero(token, sizeof token);
	writ_memzero(fc->buf, fc->len);
	return rc;
}

void fc_job_free(struct fc_job *j)
{
	if (!j)
		return;
	free(j->settings);
	j->settings = NULL;
}

static const char *const known_steps[] = { "discover", "keys", "dac", "chain", "factory-data", "secret",
					   "otp", "firmware", "lock", "verify", "record", "label" };

int factory_client_job(struct factory_client *fc, const char *writ, struct fc_job *ret)
{
	static const char what[] = "GET job";
	struct fc_job j;
	char path[96], tmp[2 * 65 + 1];
	json_t *a, *v;
	uint64_t u;
	int rc;

	memset(&j, 0, sizeof j);
	if (!valid_writ(writ))
		return seterr(fc, WRIT_E_INVAL, "a writ id is 32 hex digits");
	snprintf(path, sizeof path, "/v1/jobs/%s", writ);
	if ((rc = request(fc, "GET", path, NULL, FC_JSON_MAX, 1)) < 0)
		return rc;
	if (!(a = parse_answer(fc, what, &rc)))
		return rc;
	if ((rc = get_str(fc, a, "writ", 32, 32, j.writ, sizeof j.writ, what)) < 0 ||
	    (rc = get_str(fc, a, "product", 1, FC_STR_MAX - 1, j.product, sizeof j.product, what)) < 0 ||
	    (rc = get_str(fc, a, "version", 1, FC_STR_MAX - 1, j.version, sizeof j.version, what)) < 0 ||
	    (rc = get_uint(fc, a, "quantity", UINT32_MAX, &j.quantity, what)) < 0 ||
	    (rc = get_uint(fc, a, "issued", UINT32_MAX, &j.issued, what)) < 0 ||
	    (rc = get_uint(fc, a, "remaining", UINT32_MAX, &j.remaining, what)) < 0 ||
	    (rc = get_int(fc, a, "not_before", &j.not_before, what)) < 0 ||
	    (rc = get_int(fc, a, "not_after", &j.not_after, what)) < 0 ||
	    (rc = get_uint(fc, a, "fw_version", UINT32_MAX, &u, what)) < 0)
		goto out;
	j.fw_version = (uint32_t)u;
	if (strcmp(j.writ, writ) != 0 && strcasecmp(j.writ, writ) != 0) {
		rc = seterr(fc, WRIT_E_PROTO, "the factory answered with another job (%s)", j.writ);
		goto out;
	}
	if ((rc = get_hex(fc, a, "fw_sig", j.fw_sig, 64, what)) < 0 ||
	    (rc = get_hex(fc, a, "sb_pub", j.sb_pub, 65, what)) < 0 ||
	    (rc = get_hex(fc, a, "debug_root_hash", j.debug_root_hash, 32, what)) < 0 ||
	    (rc = get_hex(fc, a, "firmware_sha256", j.firmware_sha256, 32, what)) < 0)
		goto out;
	(void)tmp;
	j.update_pending = json_is_true(json_object_get(a, "update_pending")); /* absent: an older factory */
	v = json_object_get(a, "iterations");
	if (v) {
		if ((rc = get_uint(fc, a, "iterations", MATTER_SPAKE2P_IT_MAX, &u, what)) < 0)
			goto out;
		j.iterations = (uint32_t)u;
	} else {
		j.iterations = 10000;
	}
	v = json_object_get(a, "serial_prefix");
	if (v && !json_is_null(v) && (rc = get_str(fc, a, "serial_prefix", 0, FC_PREFIX_MAX, j.serial_prefix,
						   sizeof j.serial_prefix, what)) < 0)
		goto out;
	/* the writ's PAI (a newer factory): a chain read back from a chip is compared with it */
	v = json_object_get(a, "pai");
	if (v && !json_is_null(v) && (rc = get_b64(fc, a, "pai", j.pai, sizeof j.pai, &j.pai_len, what)) < 0)
		goto out;
	/* the recipe: known steps, in the fixed order, each at most once */
	v = json_object_get(a, "recipe");
	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > FC_RECIPE_MAX) {
		rc = seterr(fc, WRIT_E_PROTO, "the factory's answer to %s: \"recipe\" is not a list of 1..%u steps", what,
			    FC_RECIPE_MAX);
		goto out;
	}
	{
		size_t next = 0;
		for (size_t i = 0; i < json_array_size(v); i++) {
			json_t *s = json_array_get(v, i);
			size_t k;
			if (!json_is_string(s)) {
				rc = seterr(fc, WRIT_E_PROTO, "the factory's answer to %s: a recipe step is not a string", what);
				goto out;
			}
			for (k = next; k < sizeof known_steps / sizeof known_steps[0]; k++)
				if (strcmp(json_string_value(s), known_steps[k]) == 0)
					break;
			if (k == sizeof known_steps / sizeof known_steps[0]) {
				char step[40];
				clean_copy(step, sizeof step, json_string_value(s));
				rc = seterr(fc, WRIT_E_PROTO,
					    "the recipe step \"%s\" is unknown, repeated or out of order; this station knows "
					    "discover, keys, dac, chain, factory-data, secret, otp, firmware, lock, verify, "
					    "record, label in that order", step);
				goto out;
			}
			memcpy(j.recipe[j.n_recipe++], known_steps[k], strlen(known_steps[k]) + 1);
			next = k + 1;
		}
	}
	v = json_object_get(a, "secret_labels");
	if (v && !json_is_null(v)) {
		if (!json_is_array(v) || json_array_size(v) > FC_LABELS_MAX) {
			rc = seterr(fc, WRIT_E_PROTO, "the factory's answer to %s: \"secret_labels\" is not a list of at most %u labels",
				    what, FC_LABELS_MAX);
			goto out;
		}
		for (size_t i = 0; i < json_array_size(v); i++) {
			json_t *s = json_array_get(v, i);
			if (!json_is_string(s) || json_string_length(s) < 1 || json_string_length(s) > WDP_LABEL_MAX ||
			    strlen(json_string_value(s)) != json_string_length(s)) {
				rc = seterr(fc, WRIT_E_PROTO, "the factory's answer to %s: a secret label is not 1..%u characters",
					    what, WDP_LABEL_MAX);
				goto out;
			}
			memcpy(j.secret_labels[j.n_secret_labels++], json_string_value(s), json_string_length(s) + 1);
		}
	}
	v = json_object_get(a, "settings");
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > FC_SETTINGS_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		rc = seterr(fc, WRIT_E_PROTO, "the factory's answer to %s: \"settings\" is not a text of 1..%u bytes", what,
			    (unsigned)FC_SETTINGS_MAX);
		goto out;
	}
	j.settings = strdup(json_string_value(v));
	if (!j.settings) {
		rc = seterr(fc, WRIT_E_NOMEM, "out of memory");
		goto out;
	}
	j.settings_len = json_string_length(v);
	*ret = j;
	memset(&j, 0, sizeof j);
	rc = 0;
out:
	fc_job_free(&j);
	json_decref(a);
	return rc;
}

int factory_client_firmware(struct factory_client *fc, const char *writ, uint8_t **ret_image, size_t *ret_len)
{
	char path[96];
	uint8_t *img;
	int rc;

	if (!valid_writ(writ))
		return seterr(fc, WRIT_E_INVAL, "a writ id is 32 hex digits");
	snprintf(path, sizeof path, "/v1/jobs/%s/firmware", writ);
	if ((rc = request(fc, "GET", path, NULL, FC_FW_MAX, 1)) < 0)
		return rc;
	if (fc->len == 0)
		return seterr(fc, WRIT_E_PROTO, "the factory sent an empty firmware image");
	img = malloc(fc->len);
	if (!img)
		return seterr(fc, WRIT_E_NOMEM, "out of memory");
	memcpy(img, fc->buf, fc->len);
	*ret_image = img;
	*ret_len = fc->len;
	/* do not keep 4 MiB per worker */
	free(fc->buf);
	fc->buf = NULL;
	fc->cap = fc->len = 0;
	return 0;
}

/* A DAC answer's serial and hsm_seq: JSON integers (a decimal string is accepted too,
 * for 64-bit values beyond what a JSON number carries exactly). */
static int get_u64(struct factory_client *fc, json_t *o, const char *key, uint64_t *ret, const char *what)
{
	json_t *v = json_object_get(o, key);

	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		uint64_t x = 0;
		size_t n = json_string_length(v);
		if (n == 0 || n > 20)
			goto bad;
		for (size_t i = 0; i < n; i++) {
			if (s[i] < '0' || s[i] > '9' || x > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
				goto bad;
			x = x * 10 + (uint64_t)(s[i] - '0');
		}
		*ret = x;
		return 0;
	}
	return get_uint(fc, o, key, UINT64_MAX, ret, what);
bad:
	return seterr(fc, WRIT_E_PROTO, "the factory's answer to %s: \"%s\" is not a decimal number", what, key);
}

/* POST {uid, csr} to path (the DAC endpoints of jobs and of rework writs); the parsed
 * answer in *ret_answer (the caller decrefs it). */
static int post_csr(struct factory_client *fc, const char *what, const char *path, const uint8_t uid[WDP_UID_LEN],
		    const uint8_t *csr, size_t csr_len, json_t **ret_answer)
{
	char uidhex[2 * WDP_UID_LEN + 1], csr64[4 * ((WDP_CSR_MAX + 2) / 3) + 1];

	if (csr_len == 0 || csr_len > WDP_CSR_MAX)
		return seterr(fc, WRIT_E_INVAL, "bad DAC request");
	hex_encode(uid, WDP_UID_LEN, uidhex);
	if (matter_b64_encode(csr, csr_len, csr64, sizeof csr64) < 0)
		return seterr(fc, WRIT_E_INVAL, "CSR too large");
	return post_json(fc, path, json_pack("{s:s, s:s}", "uid", uidhex, "csr", csr64), what, ret_answer);
}

/* The DAC fields both DAC answers carry. */
static int get_dac(struct factory_client *fc, json_t *a, struct chip_dac *d, const char *what)
{
	int rc;

	if ((rc = get_b64(fc, a, "dac", d->dac, sizeof d->dac, &d->dac_len, what)) == 0 &&
	    (rc = get_b64(fc, a, "pai", d->pai, sizeof d->pai, &d->pai_len, what)) == 0 &&
	    (rc = get_u64(fc, a, "serial", &d->serial, what)) == 0)
		rc = get_u64(fc, a, "hsm_seq", &d->journal_seq, what);
	return rc;
}

int factory_client_dac(struct factory_client *fc, const char *writ, const uint8_t uid[WDP_UID_LEN],
		       const uint8_t *csr, size_t csr_len, struct chip_dac *ret)
{
	static const char what[] = "POST dac";
	char path[96];
	struct chip_dac d;
	json_t *a = NULL;
	int rc;

	if (!valid_writ(writ))
		return seterr(fc, WRIT_E_INVAL, "bad DAC request");
	(void)!snprintf(path, sizeof path, "/v1/jobs/%s/dac", writ);
	if ((rc = post_csr(fc, what, path, uid, csr, csr_len, &a)) < 0)
		return rc;
	memset(&d, 0, sizeof d);
	if ((rc = get_dac(fc, a, &d, what)) == 0)
		*ret = d;
	json_decref(a);
	return rc;
}

int factory_client_wrap(struct factory_client *fc, const char *writ, const uint8_t uid[WDP_UID_LEN],
			const uint8_t *dac, size_t dac_len, const uint8_t enc_pub[WDP_P256_PUB_LEN],
			const uint8_t *binding, size_t binding_len, const char *label, uint8_t *out, size_t cap,
			size_t *ret_len)
{
	static const char what[] = "POST wrap";
	char path[96], uidhex[2 * WDP_UID_LEN + 1], pubhex[2 * WDP_P256_PUB_LEN + 1];
	char dac64[4 * ((WDP_CERT_MAX + 2) / 3) + 1], bind64[4 * ((WDP_BINDING_MAX + 2) / 3) + 1];
	json_t *a;
	size_t n;
	int rc;

	if (!valid_writ(writ) || dac_len == 0 || dac_len > WDP_CERT_MAX || binding_len == 0 ||
	    binding_len > WDP_BINDING_MAX || !label || strlen(label) == 0 || strlen(label) > WDP_LABEL_MAX)
		return seterr(fc, WRIT_E_INVAL, "bad wrap request");
	hex_encode(uid, WDP_UID_LEN, uidhex);
	hex_encode(enc_pub, WDP_P256_PUB_LEN, pubhex);
	if (matter_b64_encode(dac, dac_len, dac64, sizeof dac64) < 0 ||
	    matter_b64_encode(binding, binding_len, bind64, sizeof bind64) < 0)
		return seterr(fc, WRIT_E_INVAL, "bad wrap request");
	snprintf(path, sizeof path, "/v1/jobs/%s/wrap", writ);
	rc = post_json(fc, path,
		       json_pack("{s:s, s:s, s:s, s:s, s:s}", "uid", uidhex, "dac", dac64, "enc_pub", pubhex, "binding",
				 bind64, "label", label),
		       what, &a);
	if (rc < 0)
		return rc;
	rc = get_b64(fc, a, "wrapped", out, cap, &n, what);
	if (rc == 0)
		*ret_len = n;
	json_decref(a);
	return rc;
}

int factory_client_record(struct factory_client *fc, const struct fc_record *r, uint64_t *ret_seq, int *ret_duplicate)
{
	static const char what[] = "POST record";
	char uidhex[2 * WDP_UID_LEN + 1], dh[65];
	json_t *req, *a;
	uint64_t seq;
	int rc;

	if (!valid_writ(r->writ))
		return seterr(fc, WRIT_E_INVAL, "bad record");
	hex_encode(r->uid, WDP_UID_LEN, uidhex);
	req = json_pack("{s:s, s:s, s:s, s:I}", "writ", r->writ, "uid", uidhex, "result", r->ok ? "ok" : "failed",
			"firmware_version", (json_int_t)r->firmware_version);
	if (!req)
		return seterr(fc, WRIT_E_NOMEM, "out of memory");
	if (!r->ok) {
		json_object_set_new(req, "step", json_string(r->step && r->step[0] ? r->step : "unknown"));
		/* a chip's or HSM's reason may hold anything: keep it printable and bounded */
		char reason[241]; /* the factory takes at most 256 */
		clean_copy(reason, sizeof reason, r->reason && r->reason[0] ? r->reason : "unknown");
		json_object_set_new(req, "reason", json_string(reason));
	}
	if (r->have_dac) {
		hex_encode(r->dac_sha256, 32, dh);
		json_object_set_new(req, "dac_sha256", json_string(dh));
		json_object_set_new(req, "serial", json_integer((json_int_t)r->serial));
		json_object_set_new(req, "hsm_seq", json_integer((json_int_t)r->hsm_seq));
	}
	if (r->qr && r->qr[0])
		json_object_set_new(req, "qr", json_string(r->qr));
	if (r->manual && r->manual[0])
		json_object_set_new(req, "manual", json_string(r->manual));
	if ((rc = post_json(fc, "/v1/records", req, what, &a)) < 0)
		return rc;
	rc = get_u64(fc, a, "seq", &seq, what);
	if (rc == 0 && json_object_get(a, "duplicate") && !json_is_boolean(json_object_get(a, "duplicate")))
		rc = seterr(fc, WRIT_E_PROTO, "the factory's answer to %s: \"duplicate\" is not a boolean", what);
	if (rc == 0 && ret_seq)
		*ret_seq = seq;
	if (rc == 0 && ret_duplicate)
		*ret_duplicate = json_is_true(json_object_get(a, "duplicate"));
	json_decref(a);
	return rc;
}

/* A hex string field of exactly n bytes (n up to FC_DBG_CHAIN_MAX), or, with n_alt, of
 * n or n_alt bytes; *ret_len the length found. */
static int get_hex_long(struct factory_client *fc, json_t *o, const char *key, uint8_t *out, size_t n, size_t n_alt,
			size_t *ret_len, const char *what)
{
	json_t *v = json_object_get(o, key);
	const char *s;
	size_t len;

	if (!json_is_string(v))
		return seterr(fc, WRIT_E_PROTO, "the factory's answer to %s: \"%s\" is %s, want a hex string", what, key,
			      v ? "of the wrong type" : "missing");
	s = json_string_value(v);
	len = json_string_length(v);
	if ((len != 2 * n && (!n_alt || len != 2 * n_alt)) || memchr(s, 0, len) || hex_decode(s, out, len / 2) < 0)
		return seterr(fc, WRIT_E_PROTO, "the factory's answer to %s: \"%s\" is not hex of the right length", what,
			      key);
	*ret_len = len / 2;
	return 0;
}

int factory_client_rework_token(struct factory_client *fc, const uint8_t uid[WDP_UID_LEN],
				const uint8_t challenge[WDP_DBG_CHALLENGE_LEN], const uint8_t perms[WDP_DBG_PERMS_LEN],
				uint32_t session, const char *operation, const char *writ, struct fc_rework *ret)
{
	static const char what[] = "POST rework/token";
	char uidhex[2 * WDP_UID_LEN + 1], chalhex[2 * WDP_DBG_CHALLENGE_LEN + 1], permhex[2 * WDP_DBG_PERMS_LEN + 1];
	struct fc_rework r;
	json_t *req, *a;
	size_t n;
	int rc;

	if ((writ && !valid_writ(writ)) || !operation || session < 1 || session > WDP_DBG_SESSION_MAX)
		return seterr(fc, WRIT_E_INVAL, "bad rework request");
	memset(&r, 0, sizeof r);
	hex_encode(uid, WDP_UID_LEN, uidhex);
	hex_encode(challenge, WDP_DBG_CHALLENGE_LEN, chalhex);
	hex_encode(perms, WDP_DBG_PERMS_LEN, permhex);
	req = json_pack("{s:s, s:s, s:s, s:I, s:s}", "uid", uidhex, "challenge", chalhex, "perms", permhex, "session",
			(json_int_t)session, "operation", operation);
	if (req && writ)
		json_object_set_new(req, "writ", json_string(writ));
	if ((rc = post_json(fc, "/v1/rework/token", req, what, &a)) < 0)
		return rc;
	if ((rc = get_hex_long(fc, a, "token", r.token, WDP_DBG_TOKEN_LEN, 0, &n, what)) == 0 &&
	    (rc = get_hex_long(fc, a, "chain", r.chain, WDP_DBG_CERT_LEN, 2 * WDP_DBG_CERT_LEN, &r.chain_len, what)) == 0 &&
	    (rc = get_str(fc, a, "writ", 32, 32, r.writ, sizeof r.writ, what)) == 0 &&
	    (rc = get_str(fc, a, "hsm_id", 64, 64, r.hsm_id, sizeof r.hsm_id, what)) == 0 &&
	    (rc = get_u64(fc, a, "hsm_seq", &r.hsm_seq, what)) == 0 &&
	    (rc = get_u64(fc, a, "device_serial", &r.device_serial, what)) == 0 &&
	    (rc = get_int(fc, a, "not_after", &r.not_after, what)) == 0) {
		if (!valid_writ(r.writ) || r.hsm_seq == 0)
			rc = seterr(fc, WRIT_E_PROTO, "the factory's answer to %s: bad \"writ\" or \"hsm_seq\"", what);
		else
			*ret = r;
	}
	json_decref(a);
	return rc;
}

int factory_client_rework_record(struct factory_client *fc, const struct fc_rework_record *r, uint64_t *ret_seq)
{
	static const char what[] = "POST record";
	char uidhex[2 * WDP_UID_LEN + 1], reason[241];
	json_t *req, *a;
	uint64_t seq;
	int rc;

	if (!valid_writ(r->writ) || !r->step)
		return seterr(fc, WRIT_E_INVAL, "bad record");
	hex_encode(r->uid, WDP_UID_LEN, uidhex);
	req = json_pack("{s:s, s:s, s:s, s:s, s:I}", "writ", r->writ, "uid", uidhex, "result", r->ok ? "ok" : "failed",
			"step", r->step, "device_serial", (json_int_t)r->device_serial);
	if (!req)
		return seterr(fc, WRIT_E_NOMEM, "out of memory");
	if (!r->ok) {
		clean_copy(reason, sizeof reason, r->reason && r->reason[0] ? r->reason : "unknown");
		json_object_set_new(req, "reason", json_string(reason));
	}
	if (r->hsm_id && r->hsm_id[0]) {
		json_object_set_new(req, "hsm_id", json_string(r->hsm_id));
		json_object_set_new(req, "hsm_seq", json_integer((json_int_t)r->hsm_seq));
	}
	if (r->have_fw)
		json_object_set_new(req, "firmware_version", json_integer((json_int_t)r->firmware_version));
	if (r->have_dac) {
		char sha[65];
		hex_encode(r->dac_sha256, 32, sha);
		json_object_set_new(req, "dac_sha256", json_string(sha));
	}
	if ((rc = post_json(fc, "/v1/records", req, what, &a)) < 0)
		return rc;
	rc = get_u64(fc, a, "seq", &seq, what);
	if (rc == 0 && ret_seq)
		*ret_seq = seq;
	json_decref(a);
	return rc;
}

int factory_client_rework_dac(struct factory_client *fc, const char *writ, const uint8_t uid[WDP_UID_LEN],
			      const uint8_t *csr, size_t csr_len, struct fc_reprov *ret)
{
	static const char what[] = "POST rework dac";
	char path[96];
	struct fc_reprov *d;
	json_t *a = NULL;
	int rc;

	if (!valid_writ(writ))
		return seterr(fc, WRIT_E_INVAL, "bad DAC request");
	(void)!snprintf(path, sizeof path, "/v1/rework/%s/dac", writ);
	if ((rc = post_csr(fc, what, path, uid, csr, csr_len, &a)) < 0)
		return rc;
	if (!(d = calloc(1, sizeof *d))) {
		json_decref(a);
		return seterr(fc, WRIT_E_NOMEM, "out of memory");
	}
	if ((rc = get_dac(fc, a, &d->dac, what)) == 0 &&
	    (rc = get_hex(fc, a, "dac_sha256", d->dac_sha256, 32, what)) == 0 &&
	    (rc = get_str(fc, a, "dac_serial", 24, 24, d->dac_serial, sizeof d->dac_serial, what)) == 0 &&
	    (rc = get_str(fc, a, "production_writ", 0, 32, d->production_writ, sizeof d->production_writ, what)) == 0)
		*ret = *d;
	free(d);
	json_decref(a);
	return rc;
}
