/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Production record building, chain checking and CSV export (record.h). jansson
 * serializes with JSON_SORT_KEYS | JSON_COMPACT | JSON_ENSURE_ASCII; since every string
 * is printable ASCII, the only escapes are \" and \\, which every JSON library writes
 * the same way, so the hash can be recomputed independently (the integration test
 * does it in Python).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "crypto/ec.h"
#include "factory/api_json.h"
#include "factory/record.h"
#include "host/file.h"

/* The CSV columns, in the order of docs/factory-api.md. */
static const char *const columns[] = {
	"seq",	   "prev",    "hash",	      "time",	    "factory",	      "line",	  "station", "writ",
	"product", "version", "version_digest", "firmware_version", "uid",     "device_serial", "dac_serial",
	"dac_sha256", "hsm_id", "hsm_seq",    "operation",  "result",	      "step",	  "reason",  "qr",
	"manual",
};

static int ascii_or_empty(const char *s, size_t max)
{
	return !s[0] || fj_printable(s, max);
}

static int canon_hash(json_t *o, char ret_hash[REC_HASH_HEX])
{
	char *s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENSURE_ASCII);
	uint8_t d[32];
	int err;

	if (!s)
		return WRIT_E_NOMEM;
	err = ec_sha256(s, strlen(s), d);
	free(s);
	if (err < 0)
		return err;
	hex_encode(d, sizeof(d), ret_hash);
	return 0;
}

int rec_build(const struct rec_fields *f, uint64_t seq, const char prev[REC_HASH_HEX], char **ret_json,
	      char ret_hash[REC_HASH_HEX])
{
	const char *texts[][2] = {
		{ "factory", f->factory }, { "line", f->line }, { "station", f->station }, { "writ", f->writ },
		{ "product", f->product }, { "version", f->version }, { "version_digest", f->version_digest },
		{ "uid", f->uid }, { "dac_serial", f->dac_serial }, { "dac_sha256", f->dac_sha256 },
		{ "hsm_id", f->hsm_id }, { "step", f->step }, { "reason", f->reason }, { "qr", f->qr },
		{ "manual", f->manual }, { "prev", prev },
	};
	json_t *o = json_object();
	char hash[REC_HASH_HEX], *s = NULL;
	size_t i;
	int err = WRIT_E_NOMEM;

	if (!o)
		return WRIT_E_NOMEM;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		if (!ascii_or_empty(texts[i][1], 256)) {
			err = WRIT_E_INVAL;
			goto out;
		}
		if (json_object_set_new(o, texts[i][0], json_string(texts[i][1])) < 0)
			goto out;
	}
	if (json_object_set_new(o, "seq", json_integer((json_int_t)seq)) < 0 ||
	    json_object_set_new(o, "time", json_integer(f->time)) < 0 ||
	    json_object_set_new(o, "firmware_version", json_integer((json_int_t)f->firmware_version)) < 0 ||
	    json_object_set_new(o, "device_serial", json_integer((json_int_t)f->device_serial)) < 0 ||
	    json_object_set_new(o, "hsm_seq", json_integer((json_int_t)f->hsm_seq)) < 0 ||
	    json_object_set_new(o, "operation", json_string(f->rework ? "rework" : "provision")) < 0 ||
	    json_object_set_new(o, "result", json_string(f->ok ? "ok" : "failed")) < 0)
		goto out;
	if ((err = canon_hash(o, hash)) < 0)
		goto out;
	err = WRIT_E_NOMEM;
	if (json_object_set_new(o, "hash", json_string(hash)) < 0)
		goto out;
	s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENSURE_ASCII);
	if (!s)
		goto out;
	*ret_json = s;
	memcpy(ret_hash, hash, REC_HASH_HEX);
	err = 0;
out:
	json_decref(o);
	return err;
}

static void say(char *why, size_t cap, const char *msg)
{
	if (why && cap)
		(void)!snprintf(why, cap, "%s", msg);
}

int rec_check(const char *json, uint64_t want_seq, const char prev[REC_HASH_HEX], char ret_hash[REC_HASH_HEX],
	      char *why, size_t cap)
{
	json_t *o = json_loads(json, JSON_REJECT_DUPLICATES, NULL), *h, *p, *seq;
	char hash[REC_HASH_HEX], stored[REC_HASH_HEX];
	int err = WRIT_E_JOURNAL;

	if (!o || !json_is_object(o)) {
		say(why, cap, "not a JSON object");
		goto out;
	}
	h = json_object_get(o, "hash");
	p = json_object_get(o, "prev");
	seq = json_object_get(o, "seq");
	if (!json_is_string(h) || json_string_length(h) != 64 || !json_is_string(p) || !json_is_integer(seq)) {
		say(why, cap, "hash, prev or seq missing");
		goto out;
	}
	if ((uint64_t)json_integer_value(seq) != want_seq) {
		say(why, cap, "seq out of order: a record is missing or repeated");
		goto out;
	}
	if (strcmp(json_string_value(p), prev)) {
		say(why, cap, "prev is not the previous record's hash: the chain is broken");
		goto out;
	}
	memcpy(stored, json_string_value(h), REC_HASH_HEX);
	if (json_object_del(o, "hash") < 0 || canon_hash(o, hash) < 0) {
		err = WRIT_E_NOMEM;
		goto out;
	}
	if (strcmp(hash, stored)) {
		say(why, cap, "hash does not match the record: it was altered");
		goto out;
	}
	memcpy(ret_hash, hash, REC_HASH_HEX);
	err = 0;
out:
	json_decref(o);
	return err;
}

const char *rec_csv_header(void)
{
	return "seq,prev,hash,time,factory,line,station,writ,product,version,version_digest,firmware_version,uid,"
	       "device_serial,dac_serial,dac_sha256,hsm_id,hsm_seq,operation,result,step,reason,qr,manual\n";
}

int rec_to_csv(const char *json, char **ret_line)
{
	json_t *o = json_loads(json, 0, NULL), *v;
	size_t i, cap = 2 * strlen(json) + 2 * (sizeof(columns) / sizeof(columns[0])) + 64, len = 0, k;
	char *out, num[32];
	const char *s;
	int err = WRIT_E_FORMAT, inject;

	if (!o)
		return WRIT_E_FORMAT;
	out = malloc(cap);
	if (!out) {
		json_decref(o);
		return WRIT_E_NOMEM;
	}
	for (i = 0; i < sizeof(columns) / sizeof(columns[0]); i++) {
		v = json_object_get(o, columns[i]);
		if (json_is_integer(v)) {
			(void)!snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
			s = num;
			inject = 0;
		} else {
			s = json_is_string(v) ? json_string_value(v) : "";
			/* A text field a spreadsheet would run as a formula gets a leading ' */
			inject = s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r';
		}
		/* RFC 4180: quote every field that holds a comma, quote or newline */
		if (len + 2 * strlen(s) + 5 > cap)
			goto out;
		if (i)
			out[len++] = ',';
		if (inject && !strpbrk(s, ",\"\r\n"))
			out[len++] = '\'';
		if (strpbrk(s, ",\"\r\n")) {
			out[len++] = '"';
			if (inject)
				out[len++] = '\'';
			for (k = 0; s[k]; k++) {
				if (s[k] == '"')
					out[len++] = '"';
				out[len++] = s[k];
			}
			out[len++] = '"';
		} else {
			memcpy(out + len, s, strlen(s));
			len += strlen(s);
		}
	}
	out[len++] = '\n';
	out[len] = 0;
	*ret_line = out;
	out = NULL;
	err = 0;
out:
	free(out);
	json_decref(o);
	return err;
}
