/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request bodies: one JSON object, no duplicate keys, only the fields an endpoint
 * names, each of its type, the required ones present. Plus the small value checks
 * every handler uses (names, hex, base64).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/cloud.h"
#include "factory/api_json.h"
#include "host/file.h"

static int type_ok(json_t *v, enum jtype t)
{
	switch (t) {
	case JV_STR: return json_is_string(v);
	case JV_INT: return json_is_integer(v);
	case JV_ARR: return json_is_array(v);
	case JV_OBJ: return json_is_object(v);
	case JV_BOOL: return json_is_boolean(v);
	}
	return 0;
}

static const char *type_name(enum jtype t)
{
	static const char *const n[] = { "", "a string", "an integer", "an array", "an object", "true or false" };
	return n[t];
}

int jreq(struct call *k, const struct jfield *f, size_t n, json_t **ret)
{
	json_error_t je;
	json_t *o, *v;
	const char *key;
	size_t i;

	if (k->body_len && memchr(k->body, 0, k->body_len))
		return fail(k, 400, "bad_request", "the body holds a NUL byte"), WRIT_E_FORMAT;
	o = json_loadb(k->body_len ? k->body : "{}", k->body_len ? k->body_len : 2, JSON_REJECT_DUPLICATES, &je);
	if (!o)
		return fail(k, 400, "bad_request", "the body is not JSON: %s", je.text), WRIT_E_FORMAT;
	if (!json_is_object(o)) {
		json_decref(o);
		return fail(k, 400, "bad_request", "the body must be one JSON object"), WRIT_E_FORMAT;
	}
	json_object_foreach(o, key, v) {
		for (i = 0; i < n; i++)
			if (!strcmp(f[i].name, key))
				break;
		if (i == n) {
			fail(k, 400, "bad_request", "unknown field \"%.64s\" (docs/cloud-api.md lists the fields)", key);
			json_decref(o);
			return WRIT_E_FORMAT;
		}
		if (!type_ok(v, f[i].type)) {
			fail(k, 400, "bad_request", "field \"%s\" must be %s", f[i].name, type_name(f[i].type));
			json_decref(o);
			return WRIT_E_FORMAT;
		}
		if (f[i].type == JV_STR && (strlen(json_string_value(v)) != json_string_length(v))) {
			fail(k, 400, "bad_request", "field \"%s\" holds a NUL character", f[i].name);
			json_decref(o);
			return WRIT_E_FORMAT;
		}
	}
	for (i = 0; i < n; i++) {
		if (f[i].required && !json_object_get(o, f[i].name)) {
			fail(k, 400, "bad_request", "field \"%s\" is required", f[i].name);
			json_decref(o);
			return WRIT_E_FORMAT;
		}
	}
	*ret = o;
	return 0;
}

const char *jstr(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

int64_t jint(json_t *o, const char *name, int64_t dflt)
{
	json_t *v = json_object_get(o, name);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

int name_ok(const char *s)
{
	size_t i;

	if (!s || !s[0])
		return 0;
	for (i = 0; s[i]; i++) {
		if (i >= CLOUD_NAME_MAX)
			return 0;
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return 0;
	}
	return 1;
}

int hex_ok(const char *s, size_t nbytes)
{
	size_t i;

	if (!s || strlen(s) != 2 * nbytes)
		return 0;
	for (i = 0; s[i]; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

json_t *hexj(const uint8_t *p, size_t n)
{
	char *s = malloc(2 * n + 1);
	json_t *v;

	if (!s)
		return NULL;
	hex_encode(p, n, s);
	v = json_string(s);
	free(s);
	return v;
}

json_t *b64j(const uint8_t *p, size_t n)
{
	char *s = malloc(4 * ((n + 2) / 3) + 1);
	json_t *v;

	if (!s)
		return NULL;
	fj_b64_encode(p, n, s, 0);
	v = json_string(s);
	free(s);
	return v;
}

int b64_decode_alloc(const char *s, size_t max, uint8_t **ret, size_t *ret_len)
{
	size_t n = strlen(s), cap = n / 4 * 3 + 3;
	uint8_t *buf;
	int err;

	if (n / 4 * 3 > max + 3)
		return WRIT_E_TOOBIG;
	if (!(buf = malloc(cap ? cap : 1)))
		return WRIT_E_NOMEM;
	err = fj_b64_decode(s, n, buf, cap, ret_len);
	if (err < 0 || *ret_len > max) {
		free(buf);
		return err < 0 ? err : WRIT_E_TOOBIG;
	}
	*ret = buf;
	return 0;
}
