/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Strict validators of writ-factory's JSON request bodies (api_json.h). A small table
 * per endpoint names each field, its type and whether it is required; a field not in
 * the table is refused, so is a duplicate (jansson's JSON_REJECT_DUPLICATES), a body
 * with trailing bytes, or a NUL byte anywhere. Strings are checked for length and
 * character set before they are copied.
 */
#include <string.h>

#include <jansson.h>

#include "base/ct.h"
#include "factory/api_json.h"
#include "host/file.h"

enum ftype { F_STR, F_UINT };

struct field {
	const char *name;
	enum ftype type;
	int required;
};

static void say(char *why, size_t cap, const char *msg, const char *name)
{
	if (why && cap)
		(void)!snprintf(why, cap, "%s%s%s", name ? "field \"" : "", name ? name : "", name ? "\": " : "");
	if (why && cap && strlen(why) + 1 < cap)
		(void)!snprintf(why + strlen(why), cap - strlen(why), "%s", msg);
}

int fj_printable(const char *s, size_t max)
{
	size_t i, n = strlen(s);

	if (n < 1 || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* Load body as one object whose keys are all in fields[] with the right JSON types
 * and whose required keys are present. *ret is decref'd by the caller. */
static int load(const char *body, size_t len, size_t max, const struct field *fields, size_t n, json_t **ret,
		char *why, size_t cap)
{
	json_error_t e;
	json_t *root, *v;
	const char *key;
	size_t i;

	if (len > max) {
		say(why, cap, "the body is too large", NULL);
		return WRIT_E_TOOBIG;
	}
	if (!body || len == 0 || memchr(body, 0, len)) {
		say(why, cap, "the body must be one JSON object (no NUL bytes)", NULL);
		return WRIT_E_FORMAT;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
	if (!root) {
		say(why, cap, "malformed JSON: send one JSON object, UTF-8, no duplicate keys", NULL);
		return WRIT_E_FORMAT;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		say(why, cap, "the body must be a JSON object", NULL);
		return WRIT_E_FORMAT;
	}
	json_object_foreach(root, key, v) {
		for (i = 0; i < n; i++)
			if (!strcmp(fields[i].name, key))
				break;
		if (i == n) {
			say(why, cap, "unknown field: see docs/factory-api.md for the fields this endpoint takes", NULL);
			if (why && cap && fj_printable(key, 32))
				(void)!snprintf(why, cap, "unknown field \"%s\": see docs/factory-api.md", key);
			json_decref(root);
			return WRIT_E_FORMAT;
		}
		if ((fields[i].type == F_STR && !json_is_string(v)) ||
		    (fields[i].type == F_UINT && (!json_is_integer(v) || json_integer_value(v) < 0))) {
			say(why, cap, fields[i].type == F_STR ? "must be a string" : "must be a non-negative integer", key);
			json_decref(root);
			return WRIT_E_FORMAT;
		}
	}
	for (i = 0; i < n; i++) {
		if (fields[i].required && !json_object_get(root, fields[i].name)) {
			say(why, cap, "is required", fields[i].name);
			json_decref(root);
			return WRIT_E_FORMAT;
		}
	}
	*ret = root;
	return 0;
}

/* The string field name, or NULL when absent; length-checked to 1..max with no NUL. */
static const char *str(json_t *root, const char *name, size_t max, size_t *ret_len)
{
	json_t *v = json_object_get(root, name);
	size_t n;

	if (!v)
		return NULL;
	n = json_string_length(v);
	if (n > max || memchr(json_string_value(v), 0, n))
		return "";
	*ret_len = n;
	return json_string_value(v);
}

static int get_text(json_t *root, const char *name, size_t max, int printable, char *out, char *why, size_t cap)
{
	size_t n = 0;
	const char *s = str(root, name, max, &n);

	if (!s) {
		out[0] = 0;
		return 0;
	}
	if (!s[0] || (printable && !fj_printable(s, max))) {
		say(why, cap, "must be 1 to the allowed number of printable ASCII characters", name);
		return WRIT_E_FORMAT;
	}
	memcpy(out, s, n + 1);
	return 0;
}

static int get_hex(json_t *root, const char *name, uint8_t *out, size_t n, char *why, size_t cap)
{
	size_t len = 0;
	const char *s = str(root, name, 2 * n, &len);

	if (!s || len != 2 * n || hex_decode(s, out, n) < 0) {
		say(why, cap, n == 16 ? "must be 32 hex digits" : n == 32 ? "must be 64 hex digits" : "must be hex of the right length",
		    name);
		return WRIT_E_FORMAT;
	}
	return 0;
}

static int get_b64(json_t *root, const char *name, size_t min, uint8_t *out, size_t cap_out, size_t *ret_len, char *why,
		   size_t cap)
{
	size_t len = 0;
	const char *s = str(root, name, fj_b64_size(cap_out), &len);

	if (!s || !len || fj_b64_decode(s, len, out, cap_out, ret_len) < 0 || *ret_len < min) {
		say(why, cap, "must be standard base64 of a value of the allowed size", name);
		return WRIT_E_FORMAT;
	}
	return 0;
}

static int all_zero16(const uint8_t p[16])
{
	uint8_t acc = 0;

	for (int i = 0; i < 16; i++)
		acc |= p[i];
	return acc == 0;
}

static uint64_t get_uint(json_t *root, const char *name)
{
	json_t *v = json_object_get(root, name);

	return v ? (uint64_t)json_integer_value(v) : 0;
}

int fj_parse_enrol(const char *body, size_t len, struct fj_enrol *ret, char *why, size_t cap)
{
	static const struct field f[] = { { "code", F_STR, 1 }, { "name", F_STR, 1 }, { "line", F_STR, 1 } };
	json_t *root = NULL;
	int err;

	memset(ret, 0, sizeof(*ret));
	if ((err = load(body, len, FJ_BODY_MAX, f, 3, &root, why, cap)) < 0)
		return err;
	if ((err = get_text(root, "code", FJ_TEXT_MAX, 1, ret->code, why, cap)) < 0 ||
	    (err = get_text(root, "name", FJ_TEXT_MAX, 1, ret->name, why, cap)) < 0 ||
	    (err = get_text(root, "line", FJ_TEXT_MAX, 1, ret->line, why, cap)) < 0)
		writ_memzero(ret, sizeof(*ret));
	json_decref(root);
	return err;
}

int fj_parse_dac(const char *body, size_t len, struct fj_dac *ret, char *why, size_t cap)
{
	static const struct field f[] = { { "uid", F_STR, 1 }, { "csr", F_STR, 1 } };
	json_t *root = NULL;
	int err;

	memset(ret, 0, sizeof(*ret));
	if ((err = load(body, len, FJ_BODY_MAX, f, 2, &root, why, cap)) < 0)
		return err;
	if ((err = get_hex(root, "uid", ret->uid, FJ_UID_LEN, why, cap)) == 0)
		err = get_b64(root, "csr", 16, ret->csr, sizeof(ret->csr), &ret->csr_len, why, cap);
	json_decref(root);
	return err;
}

static int label_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n < 1 || n > FJ_LABEL_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

int fj_parse_wrap(const char *body, size_t len, struct fj_wrap *ret, char *why, size_t cap)
{
	static const struct field f[] = { { "uid", F_STR, 1 },	   { "dac", F_STR, 1 }, { "enc_pub", F_STR, 1 },
					  { "binding", F_STR, 1 }, { "label", F_STR, 1 } };
	json_t *root = NULL;
	int err;

	memset(ret, 0, sizeof(*ret));
	if ((err = load(body, len, FJ_BODY_MAX, f, 5, &root, why, cap)) < 0)
		return err;
	if ((err = get_hex(root, "uid", ret->uid, FJ_UID_LEN, why, cap)) < 0 ||
	    (err = get_b64(root, "dac", 1, ret->dac, sizeof(ret->dac), &ret->dac_len, why, cap)) < 0 ||
	    (err = get_hex(root, "enc_pub", ret->enc_pub, sizeof(ret->enc_pub), why, cap)) < 0 ||
	    (err = get_b64(root, "binding", FJ_BINDING_MIN, ret->binding, sizeof(ret->binding), &ret->binding_len, why,
			   cap)) < 0 ||
	    (err = get_text(root, "label", FJ_LABEL_MAX, 1, ret->label, why, cap)) < 0)
		goto out;
	if (!label_ok(ret->label)) {
		say(why, cap, "must be 1..32 characters of a-z 0-9 -", "label");
		err = WRIT_E_FORMAT;
	}
out:
	json_decref(root);
	return err;
}

static int step_ok(const char *s)
{
	static const char *const steps[] = { "discover", "keys",     "dac",  "chain",  "factory-data", "secret",
					     "otp",	 "firmware", "lock", "verify", "record",	"label" };
	size_t i;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (!strcmp(s, steps[i]))
			return 1;
	return 0;
}

int fj_rework_step(const char *step)
{
	if (!strcmp(step, "rework-debug"))
		return FJ_REWORK_DEBUG;
	if (!strcmp(step, "rework-reflash"))
		return FJ_REWORK_REFLASH;
	if (!strcmp(step, "rework-reprov"))
		return FJ_REWORK_REPROVISION;
	return 0;
}

/* A rework record (docs/factory-api.md, "Rework records"): it names the debug token's
 * journal entry (hsm_id, hsm_seq) instead of a DAC; qr, manual, dac_sha256 and serial
 * are not its business. */
static int parse_rework_record(json_t *root, struct fj_record *ret, char *why, size_t cap)
{
	static const char *const not_here[] = { "dac_sha256", "serial", "qr", "manual" };
	size_t i;

	ret->rework = fj_rework_step(ret->step);
	/* a re-provisioning names its new DAC (POST /v1/rework/{writ}/dac's dac_sha256) */
	if (ret->rework == FJ_REWORK_REPROVISION && json_object_get(root, "dac_sha256")) {
		if (get_hex(root, "dac_sha256", ret->dac_sha256, 32, why, cap) < 0)
			return WRIT_E_FORMAT;
		ret->has_dac = 1;
	}
	for (i = ret->rework == FJ_REWORK_REPROVISION; i < sizeof(not_here) / sizeof(not_here[0]); i++)
		if (json_object_get(root, not_here[i])) {
			say(why, cap, "is not part of a rework record (it names the token's hsm_id and hsm_seq)", not_here[i]);
			return WRIT_E_FORMAT;
		}
	if (!!json_object_get(root, "hsm_id") != !!json_object_get(root, "hsm_seq")) {
		say(why, cap, "hsm_id and hsm_seq go together", NULL);
		return WRIT_E_FORMAT;
	}
	if (json_object_get(root, "hsm_id")) {
		uint8_t id[32];
		if (get_hex(root, "hsm_id", id, 32, why, cap) < 0)
			return WRIT_E_FORMAT;
		hex_encode(id, 32, ret->hsm_id);
		ret->hsm_seq = get_uint(root, "hsm_seq");
		if (ret->hsm_seq == 0) {
			say(why, cap, "must be the debug token's journal seq (> 0)", "hsm_seq");
			return WRIT_E_FORMAT;
		}
		ret->has_hsm = 1;
	}
	ret->device_serial = get_uint(root, "device_serial");
	if (ret->ok && !ret->has_hsm) {
		say(why, cap, "an \"ok\" rework record needs hsm_id and hsm_seq (the debug token's journal entry)", NULL);
		return WRIT_E_FORMAT;
	}
	if (ret->ok && ret->rework == FJ_REWORK_REPROVISION && !ret->has_dac) {
		say(why, cap, "an \"ok\" rework-reprov record needs dac_sha256 (the new DAC)", NULL);
		return WRIT_E_FORMAT;
	}
	if (ret->ok && ret->rework == FJ_REWORK_REFLASH && !ret->has_fw) {
		say(why, cap, "an \"ok\" rework-reflash record needs firmware_version (the new firmware)", NULL);
		return WRIT_E_FORMAT;
	}
	if (!ret->ok && !ret->reason[0]) {
		say(why, cap, "a \"failed\" record needs step and reason", NULL);
		return WRIT_E_FORMAT;
	}
	return 0;
}

int fj_parse_record(const char *body, size_t len, struct fj_record *ret, char *why, size_t cap)
{
	static const struct field f[] = {
		{ "writ", F_STR, 1 },	   { "uid", F_STR, 1 },	   { "result", F_STR, 1 },
		{ "step", F_STR, 0 },	   { "reason", F_STR, 0 }, { "dac_sha256", F_STR, 0 },
		{ "serial", F_UINT, 0 },   { "hsm_seq", F_UINT, 0 }, { "qr", F_STR, 0 },
		{ "manual", F_STR, 0 },	   { "firmware_version", F_UINT, 0 },
		{ "hsm_id", F_STR, 0 },	   { "device_serial", F_UINT, 0 },
	};
	json_t *root = NULL;
	size_t n = 0, i;
	const char *result;
	int err, dacs;

	memset(ret, 0, sizeof(*ret));
	if ((err = load(body, len, FJ_RECORD_BODY_MAX, f, sizeof(f) / sizeof(f[0]), &root, why, cap)) < 0)
		return err;
	err = WRIT_E_FORMAT;
	if (get_hex(root, "writ", ret->writ, 16, why, cap) < 0 || get_hex(root, "uid", ret->uid, FJ_UID_LEN, why, cap) < 0)
		goto out;
	result = str(root, "result", 8, &n);
	if (!result || (strcmp(result, "ok") && strcmp(result, "failed"))) {
		say(why, cap, "must be \"ok\" or \"failed\"", "result");
		goto out;
	}
	ret->ok = !strcmp(result, "ok");
	if (get_text(root, "step", FJ_STEP_MAX, 1, ret->step, why, cap) < 0 ||
	    get_text(root, "reason", FJ_REASON_MAX, 1, ret->reason, why, cap) < 0 ||
	    get_text(root, "qr", FJ_QR_MAX, 1, ret->qr, why, cap) < 0 ||
	    get_text(root, "manual", FJ_MANUAL_MAX, 1, ret->manual, why, cap) < 0)
		goto out;
	if (ret->step[0] && !step_ok(ret->step) && !fj_rework_step(ret->step)) {
		say(why, cap, "is not a recipe or rework step (docs/factory-api.md)", "step");
		goto out;
	}
	if (fj_rework_step(ret->step) && all_zero16(ret->uid)) {
		say(why, cap, "must not be all zero", "uid");
		goto out;
	}
	if (json_object_get(root, "firmware_version")) {
		ret->has_fw = 1;
		ret->firmware_version = get_uint(root, "firmware_version");
		if (ret->firmware_version > 0xffffffffu) {
			say(why, cap, "must fit in 32 bits", "firmware_version");
			goto out;
		}
	}
	if (fj_rework_step(ret->step)) {
		err = parse_rework_record(root, ret, why, cap);
		goto out;
	}
	if (json_object_get(root, "hsm_id") || json_object_get(root, "device_serial")) {
		say(why, cap, "hsm_id and device_serial belong to rework records (step rework-*)", NULL);
		goto out;
	}
	for (i = 0; ret->manual[i]; i++)
		if (ret->manual[i] < '0' || ret->manual[i] > '9') {
			say(why, cap, "must be digits", "manual");
			goto out;
		}
	/* dac_sha256 and serial name a DAC together; hsm_seq may come with them (0 or
	 * absent: the factory takes it from its note). */
	dacs = !!json_object_get(root, "dac_sha256") + !!json_object_get(root, "serial");
	if (dacs == 1 || (dacs == 0 && json_object_get(root, "hsm_seq"))) {
		say(why, cap, "dac_sha256 and serial go together (hsm_seq only with them)", NULL);
		goto out;
	}
	if (dacs == 2) {
		if (get_hex(root, "dac_sha256", ret->dac_sha256, 32, why, cap) < 0)
			goto out;
		ret->has_dac = 1;
		ret->serial = get_uint(root, "serial");
		ret->hsm_seq = json_object_get(root, "hsm_seq") ? get_uint(root, "hsm_seq") : 0;
	}
	if (ret->ok && (!ret->has_dac || !ret->has_fw)) {
		say(why, cap, "an \"ok\" record needs dac_sha256, serial and firmware_version", NULL);
		goto out;
	}
	if (!ret->ok && (!ret->step[0] || !ret->reason[0])) {
		say(why, cap, "a \"failed\" record needs step and reason", NULL);
		goto out;
	}
	err = 0;
out:
	json_decref(root);
	return err;
}

int fj_parse_rework(const char *body, size_t len, struct fj_rework *ret, char *why, size_t cap)
{
	static const struct field f[] = { { "uid", F_STR, 1 },	   { "challenge", F_STR, 1 }, { "perms", F_STR, 1 },
					  { "session", F_UINT, 1 }, { "operation", F_STR, 1 }, { "writ", F_STR, 0 } };
	static const char *const ops[] = { "debug", "reflash", "reprovision" };
	json_t *root = NULL;
	const char *op;
	size_t n = 0, i;
	uint64_t session;
	int err;

	memset(ret, 0, sizeof(*ret));
	if ((err = load(body, len, FJ_BODY_MAX, f, sizeof(f) / sizeof(f[0]), &root, why, cap)) < 0)
		return err;
	err = WRIT_E_FORMAT;
	if (get_hex(root, "uid", ret->uid, FJ_UID_LEN, why, cap) < 0 ||
	    get_hex(root, "challenge", ret->challenge, FJ_DBG_CHALLENGE_LEN, why, cap) < 0 ||
	    get_hex(root, "perms", ret->perms, FJ_DBG_PERMS_LEN, why, cap) < 0)
		goto out;
	if (all_zero16(ret->uid)) {
		say(why, cap, "must not be all zero (a token names one device)", "uid");
		goto out;
	}
	if (all_zero16(ret->perms)) {
		say(why, cap, "must ask for at least one permission", "perms");
		goto out;
	}
	session = get_uint(root, "session");
	if (session < 1 || session > FJ_DBG_SESSION_MAX) {
		say(why, cap, "must be 1..86400 seconds", "session");
		goto out;
	}
	ret->session = (uint32_t)session;
	op = str(root, "operation", 16, &n);
	for (i = 0; op && i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(op, ops[i]))
			ret->operation = (int)i + 1;
	if (!ret->operation) {
		say(why, cap, "must be \"debug\", \"reflash\" or \"reprovision\"", "operation");
		goto out;
	}
	if (json_object_get(root, "writ")) {
		if (get_hex(root, "writ", ret->writ, 16, why, cap) < 0)
			goto out;
		ret->has_writ = 1;
	}
	err = 0;
out:
	json_decref(root);
	return err;
}

/* ---- base64 ---------------------------------------------------------------------- */

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t fj_b64_size(size_t n)
{
	return 4 * ((n + 2) / 3) + 1;
}

void fj_b64_encode(const uint8_t *in, size_t n, char *out, int url)
{
	const char *a = url ? b64_url : b64_std;
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = a[v >> 18];
		out[o++] = a[(v >> 12) & 63];
		out[o++] = a[(v >> 6) & 63];
		out[o++] = a[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = a[v >> 18];
		out[o++] = a[(v >> 12) & 63];
		if (!url) {
			out[o++] = '=';
			out[o++] = '=';
		}
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = a[v >> 18];
		out[o++] = a[(v >> 12) & 63];
		out[o++] = a[(v >> 6) & 63];
		if (!url)
			out[o++] = '=';
	}
	out[o] = 0;
}

static int b64_val(char c)
{
	const char *p = c ? strchr(b64_std, c) : NULL;

	return p ? (int)(p - b64_std) : -1;
}

int fj_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *ret_len)
{
	size_t i, o = 0, pad = 0;

	if (len % 4)
		return WRIT_E_FORMAT;
	if (len && in[len - 1] == '=')
		pad = (len >= 2 && in[len - 2] == '=') ? 2 : 1;
	if ((len / 4) * 3 - pad > cap)
		return WRIT_E_TOOBIG;
	for (i = 0; i < len; i += 4) {
		int v[4], k;
		uint32_t x;
		for (k = 0; k < 4; k++) {
			if (i + 4 == len && k >= 4 - (int)pad) {
				if (in[i + k] != '=')
					return WRIT_E_FORMAT;
				v[k] = 0;
			} else if ((v[k] = b64_val(in[i + k])) < 0) {
				return WRIT_E_FORMAT;
			}
		}
		x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		out[o++] = (uint8_t)(x >> 16);
		if (i + 4 < len || pad < 2)
			out[o++] = (uint8_t)(x >> 8);
		if (i + 4 < len || pad < 1)
			out[o++] = (uint8_t)x;
		/* canonical: the bits the padding drops must be zero */
		if (i + 4 == len && ((pad == 1 && (x & 0xff)) || (pad == 2 && (x & 0xffff))))
			return WRIT_E_FORMAT;
	}
	*ret_len = o;
	return 0;
}
