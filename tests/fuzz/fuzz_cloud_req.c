/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for writ-cloud's request-body checks: jreq (one JSON object, only the
 * named fields, each of its type), then the value checks the handlers apply to what it
 * lets through (names, hex, base64) and the factory-record check the record ingestion
 * runs (rec_check). The first byte picks the field set of one endpoint.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/cloud.h"
#include "factory/record.h"

static const struct jfield sets[][8] = {
	{ { "id", JV_STR, 1 }, { "name", JV_STR, 1 }, { "vid", JV_INT, 1 }, { "pid", JV_INT, 1 }, { "quota", JV_INT, 1 },
	  { "pai_mode", JV_STR, 0 }, { "secure_boot_pub", JV_STR, 0 } },
	{ { "name", JV_STR, 1 }, { "firmware", JV_STR, 1 }, { "settings", JV_STR, 1 }, { "recipe", JV_ARR, 0 },
	  { "iterations", JV_INT, 0 }, { "serial_prefix", JV_STR, 0 } },
	{ { "hsm", JV_STR, 1 }, { "entries", JV_ARR, 1 } },
	{ { "records", JV_ARR, 1 } },
	{ { "code", JV_STR, 1 }, { "enrolment", JV_STR, 1 } },
};
static const size_t n_fields[] = { 7, 6, 2, 1, 2 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct call k;
	json_t *o = NULL, *v;
	const char *key;
	unsigned which;
	char *body, hash[REC_HASH_HEX], why[200];
	uint8_t *bin = NULL;
	size_t len = 0, i;

	if (size < 1)
		return 0;
	which = data[0] % (sizeof(n_fields) / sizeof(n_fields[0]));
	body = malloc(size);
	if (!body)
		return 0;
	memcpy(body, data + 1, size - 1);
	body[size - 1] = 0;
	memset(&k, 0, sizeof(k));
	k.body = body;
	k.body_len = size - 1;
	if (jreq(&k, sets[which], n_fields[which], &o) == 0) {
		json_object_foreach(o, key, v) {
			if (json_is_string(v)) {
				(void)name_ok(json_string_value(v));
				(void)hex_ok(json_string_value(v), 32);
				if (b64_decode_alloc(json_string_value(v), 65536, &bin, &len) == 0)
					free(bin);
				bin = NULL;
			}
		}
		if (which == 3) {
			json_array_foreach(json_object_get(o, "records"), i, v)
				if (json_is_string(v))
					(void)rec_check(json_string_value(v), 1, "0000000000000000000000000000000000000000000000000000000000000000",
							hash, why, sizeof(why));
		}
		json_decref(o);
	}
	json_decref(k.json);
	free(body);
	return 0;
}
