/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pure parts of the cloud sync (csync.h): run cutting, JSON sizes, answer
 * classification and parsers, backoff arithmetic. The parsers read the cloud's answers
 * strictly where the factory acts on a value (types, ranges, hex, base64) and ignore
 * fields they do not use, so a cloud that adds a field does not stop the sync.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "factory/api_json.h"
#include "factory/csync.h"
#include "wire/writ.h"

void csync_run_init(struct csync_run *r, size_t overhead, size_t max_items, size_t max_bytes)
{
	r->n = 0;
	r->bytes = overhead;
	r->max_items = max_items;
	r->max_bytes = max_bytes;
}

int csync_run_add(struct csync_run *r, size_t cost)
{
	size_t extra = cost + (r->n ? 1 : 0);

	if (r->n >= r->max_items || extra < cost || r->bytes > r->max_bytes || extra > r->max_bytes - r->bytes)
		return 0;
	r->n++;
	r->bytes += extra;
	return 1;
}

size_t csync_run_cut(const uint8_t *is_cp, size_t n, int complete)
{
	size_t i;

	if (complete || !is_cp)
		return n;
	for (i = n; i > 0; i--)
		if (is_cp[i - 1])
			return i;
	return n;
}

size_t csync_b64_len(size_t n)
{
	return 4 * ((n + 2) / 3);
}

static int needs_u(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

size_t csync_jstr_len(const char *s, size_t n)
{
	size_t i, len = 2;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		len += c == '"' || c == '\\' ? 2 : needs_u(c) ? 6 : 1;
	}
	return len;
}

size_t csync_jstr_put(char *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, k = 0;

	out[k++] = '"';
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			out[k++] = '\\';
			out[k++] = (char)c;
		} else if (needs_u(c)) {
			memcpy(out + k, "\\u00", 4);
			out[k + 4] = hex[c >> 4];
			out[k + 5] = hex[c & 15];
			k += 6;
		} else {
			out[k++] = (char)c;
		}
	}
	out[k++] = '"';
	return k;
}

enum csync_verdict csync_classify(int transport, long status, const char *code)
{
	if (transport < 0 || status == 0 || status == 502 || status == 503 || status == 504)
		return CSYNC_NET;
	if (status >= 200 && status <= 299)
		return CSYNC_OK;
	if (status == 401 || status == 403)
		return CSYNC_AUTH;
	if (status == 404)
		return CSYNC_NOTFOUND;
	if (status == 422)
		return CSYNC_BAD;
	if (status == 409 && code) {
		if (!strcmp(code, "gap"))
			return CSYNC_GAP;
		if (!strcmp(code, "fork"))
			return CSYNC_FORK;
		if (!strcmp(code, "journal_first"))
			return CSYNC_JOURNAL_FIRST;
	}
	return CSYNC_REFUSED;
}

const char *csync_verdict_name(enum csync_verdict v)
{
	switch (v) {
	case CSYNC_OK: return "ok";
	case CSYNC_NET: return "unreachable";
	case CSYNC_GAP: return "gap";
	case CSYNC_FORK: return "fork";
	case CSYNC_BAD: return "refused content";
	case CSYNC_JOURNAL_FIRST: return "journal first";
	case CSYNC_AUTH: return "token refused";
	case CSYNC_NOTFOUND: return "not found";
	default: return "refused";
	}
}

static json_t *load_object(const uint8_t *body, size_t len)
{
	json_t *root;

	if (!body || !len || memchr(body, 0, len))
		return NULL;
	root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, NULL);
	if (root && !json_is_object(root)) {
		json_decref(root);
		return NULL;
	}
	return root;
}

static int get_u64(const json_t *o, const char *key, uint64_t *ret)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return WRIT_E_FORMAT;
	*ret = (uint64_t)json_integer_value(v);
	return 0;
}

/* Exactly n hex digits, either case, copied lowercased into out (n + 1 bytes). */
static int get_hex(const char *s, size_t n, char *out)
{
	size_t i;

	if (!s || strlen(s) != n)
		return WRIT_E_FORMAT;
	for (i = 0; i < n; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return WRIT_E_FORMAT;
		out[i] = c;
	}
	out[n] = 0;
	return 0;
}

int csync_parse_cursor(const uint8_t *body, size_t len, uint64_t *ret_next, char ret_hash[65])
{
	json_t *root = load_object(body, len);
	char hash[65];
	uint64_t next;
	int err = WRIT_E_FORMAT;

	if (!root)
		return WRIT_E_FORMAT;
	/* hash: "" is what the cloud answers before the first record */
	if (get_u64(root, "next", &next) == 0 && json_is_string(json_object_get(root, "hash")) &&
	    (!json_string_length(json_object_get(root, "hash")) ||
	     get_hex(json_string_value(json_object_get(root, "hash")), 64, hash) == 0)) {
		if (!json_string_length(json_object_get(root, "hash")))
			hash[0] = 0;
		*ret_next = next;
		if (ret_hash)
			memcpy(ret_hash, hash, 65);
		err = 0;
	}
	json_decref(root);
	return err;
}

int csync_parse_pushed(const uint8_t *body, size_t len, struct csync_pushed *ret)
{
	json_t *root = load_object(body, len), *h;
	struct csync_pushed p;
	char hash[65];
	int err = WRIT_E_FORMAT;

	if (!root)
		return WRIT_E_FORMAT;
	h = json_object_get(root, "hash");
	if (get_u64(root, "accepted", &p.accepted) == 0 && get_u64(root, "next", &p.next) == 0 &&
	    get_u64(root, "duplicate", &p.duplicate) == 0 && (!h || get_hex(json_string_value(h), 64, hash) == 0)) {
		*ret = p;
		err = 0;
	}
	json_decref(root);
	return err;
}

void csync_writs_free(struct csync_writ *w, size_t n)
{
	size_t i;

	if (!w)
		return;
	for (i = 0; i < n; i++)
		free(w[i].sealed);
	free(w);
}

static int parse_writ(const json_t *o, struct csync_writ *w, char *why, size_t cap)
{
	const json_t *kind = json_object_get(o, "kind"), *vd = json_object_get(o, "version_digest");
	const char *sealed = json_string_value(json_object_get(o, "sealed"));
	size_t slen;

	if (!json_is_object(o) || get_u64(o, "seq", &w->seq) < 0) {
		(void)!snprintf(why, cap, "a writ without a seq");
		return WRIT_E_FORMAT;
	}
	if (get_hex(json_string_value(json_object_get(o, "id")), 32, w->id) < 0 ||
	    get_hex(json_string_value(json_object_get(o, "hsm")), 64, w->hsm) < 0) {
		(void)!snprintf(why, cap, "writ seq %llu: id (32 hex) or hsm (64 hex) malformed", (unsigned long long)w->seq);
		return WRIT_E_FORMAT;
	}
	if (json_is_integer(kind) && json_integer_value(kind) >= 0) {
		(void)!snprintf(w->kind, sizeof(w->kind), "%lld", (long long)json_integer_value(kind));
	} else if (json_is_string(kind) && fj_printable(json_string_value(kind), CSYNC_KIND_MAX)) {
		(void)!snprintf(w->kind, sizeof(w->kind), "%s", json_string_value(kind));
	} else {
		(void)!snprintf(why, cap, "writ seq %llu: kind malformed", (unsigned long long)w->seq);
		return WRIT_E_FORMAT;
	}
	w->version_digest[0] = 0;
	if (vd && !json_is_null(vd) && !(json_is_string(vd) && !json_string_length(vd)) &&
	    get_hex(json_string_value(vd), 64, w->version_digest) < 0) {
		(void)!snprintf(why, cap, "writ seq %llu: version_digest malformed", (unsigned long long)w->seq);
		return WRIT_E_FORMAT;
	}
	if (!strcmp(w->version_digest, "0000000000000000000000000000000000000000000000000000000000000000"))
		w->version_digest[0] = 0; /* pins no version (a revocation) */
	slen = sealed ? strlen(sealed) : 0;
	if (!slen || slen > csync_b64_len(WRIT_MAX_SEALED)) {
		(void)!snprintf(why, cap, "writ seq %llu: sealed missing or larger than 64 KiB", (unsigned long long)w->seq);
		return WRIT_E_FORMAT;
	}
	w->sealed = malloc(slen);
	if (!w->sealed)
		return WRIT_E_NOMEM;
	if (fj_b64_decode(sealed, slen, w->sealed, slen < WRIT_MAX_SEALED ? slen : WRIT_MAX_SEALED, &w->sealed_len) < 0 || !w->sealed_len) {
		(void)!snprintf(why, cap, "writ seq %llu: sealed is not standard base64", (unsigned long long)w->seq);
		return WRIT_E_FORMAT;
	}
	return 0;
}

int csync_parse_writs(const uint8_t *body, size_t len, uint64_t since, struct csync_writ **ret, size_t *ret_n,
		      uint64_t *ret_next, char *why, size_t cap)
{
	json_t *root = load_object(body, len), *arr;
	struct csync_writ *w = NULL;
	uint64_t next = 0, last = since;
	size_t i, n = 0;
	int err = WRIT_E_FORMAT;

	(void)!snprintf(why, cap, "not a JSON object with \"writs\" and \"next\"");
	if (!root)
		return WRIT_E_FORMAT;
	arr = json_object_get(root, "writs");
	if (!json_is_array(arr) || get_u64(root, "next", &next) < 0)
		goto out;
	if (json_array_size(arr) > CSYNC_WRITS_MAX) {
		(void)!snprintf(why, cap, "more than %u writs in one answer", CSYNC_WRITS_MAX);
		goto out;
	}
	n = json_array_size(arr);
	w = calloc(n ? n : 1, sizeof(*w));
	if (!w) {
		err = WRIT_E_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((err = parse_writ(json_array_get(arr, i), &w[i], why, cap)) < 0)
			goto out;
		if (w[i].seq <= last) {
			(void)!snprintf(why, cap, "writ seq %llu is not after %llu", (unsigned long long)w[i].seq,
					(unsigned long long)last);
			err = WRIT_E_FORMAT;
			goto out;
		}
		last = w[i].seq;
	}
	if (next < last) {
		(void)!snprintf(why, cap, "next %llu is before the last writ's seq %llu", (unsigned long long)next,
				(unsigned long long)last);
		err = WRIT_E_FORMAT;
		goto out;
	}
	*ret = w;
	*ret_n = n;
	*ret_next = next;
	w = NULL;
	why[0] = 0;
	err = 0;
out:
	csync_writs_free(w, n);
	json_decref(root);
	return err;
}

uint64_t csync_records_since(uint64_t next)
{
	return next ? next - 1 : 0;
}

int csync_journal_span(uint64_t cursor, uint64_t checkpoint, uint64_t *ret_count)
{
	if (checkpoint == UINT64_MAX || cursor > checkpoint + 1)
		return WRIT_E_STATE;
	*ret_count = checkpoint + 1 - cursor;
	return 0;
}

int csync_outage_fail(struct csync_outage *o, int64_t now)
{
	if (o->fails < 64)
		o->fails++;
	if (o->down)
		return 0;
	o->down = 1;
	o->since = now;
	return 1;
}

int csync_outage_ok(struct csync_outage *o, int64_t *ret_since)
{
	int was = o->down;

	if (was && ret_since)
		*ret_since = o->since;
	o->down = 0;
	o->fails = 0;
	return was;
}

unsigned csync_backoff(unsigned fails, unsigned interval)
{
	unsigned d;

	if (!interval)
		interval = 1;
	if (!fails)
		return interval;
	d = fails > 16 ? 1u << 16 : 1u << (fails - 1);
	return d < interval ? d : interval;
}

unsigned csync_writ_retry(unsigned attempts)
{
	unsigned d = attempts > 12 ? CSYNC_WRIT_RETRY_MAX : 5u << (attempts ? attempts - 1 : 0);

	return d < CSYNC_WRIT_RETRY_MAX ? d : CSYNC_WRIT_RETRY_MAX;
}
