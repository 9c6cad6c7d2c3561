/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for writ-cloud's request parsing: every JSON body the API takes and
 * every endpoint's query arguments go through the parse function its handler calls
 * (cloud/cloud.h, "request parsing": the handler's own field table through jreq, then
 * the checks of the values that need no store), and what they let through through the
 * checks that follow (the factory records' rec_check). The first byte picks the
 * endpoint, the second the caller (OEM or ODM, and the role: user_req's answer depends
 * on it); the rest is the body, or for a query endpoint the query string, split on '&'
 * and '=' and percent-decoded here as libmicrohttpd does before query_arg sees it. No
 * store is opened: a parse function that reached one would crash on k->db == NULL.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/cloud.h"
#include "factory/record.h"
#include "host/file.h"
#include "matter/factory.h"
#include "wire/bundle.h"
#include "wire/enrol.h"
#include "wire/jseg.h"

enum ep {
	EP_USER, EP_TOKEN, EP_PRODUCT, EP_INVITE, EP_VERSION, EP_APPROVE, EP_REJECT, EP_FACTORY, EP_ENROL, EP_SYNC_HSM,
	EP_PAI, EP_RELEASE_PIN, EP_REWORK_POLICY, EP_REWORK_GRANT, EP_BATCH, EP_JOURNAL, EP_RECORDS, EP_TLS_RENEW,
	EP_TELEMETRY_PUSH,
	/* query arguments */
	EP_Q_FIRMWARE, EP_Q_WRITS, EP_Q_TELEMETRY, EP_Q_PRODUCTION, EP_Q_RECORDS,
	EP_COUNT
};

#define QUERY_MAX 16

/* %XX decoded in place (an incomplete escape stays as is), as MHD_http_unescape does. */
static void unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '%' && hex_nibble(s[1]) >= 0 && hex_nibble(s[2]) >= 0) {
			*w++ = (char)(hex_nibble(s[1]) * 16 + hex_nibble(s[2]));
			s += 2;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/* "a=1&b=%41" into name/value pairs (a name without '=' has the value ""). A decoded
 * NUL ends a value early, as it does for the C string libmicrohttpd hands over. */
static size_t split_query(char *q, const char *pairs[QUERY_MAX][2])
{
	size_t n = 0;
	char *p = q, *amp, *eq;

	while (p && *p && n < QUERY_MAX) {
		amp = strchr(p, '&');
		if (amp)
			*amp = '\0';
		eq = strchr(p, '=');
		if (eq)
			*eq = '\0';
		unescape(p);
		if (eq)
			unescape(eq + 1);
		pairs[n][0] = p;
		pairs[n][1] = eq ? eq + 1 : "";
		n++;
		p = amp ? amp + 1 : NULL;
	}
	return n;
}

static void records(json_t *o)
{
	char hash[REC_HASH_HEX], why[200];
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(o, "records"), i, v)
		if (json_is_string(v))
			(void)rec_check(json_string_value(v), 1,
					"0000000000000000000000000000000000000000000000000000000000000000", hash, why,
					sizeof(why));
}

static void body(struct call *k, enum ep e)
{
	static const struct product lamp = { .id = 1, .oem_id = 1, .vid = 0xfff1, .pid = 0x8000, .name = "lamp" };
	uint8_t sb[WRIT_P256_PUB_LEN], fw_sha[32], code_hash[32], hsm_id[32], *der = NULL, **bufs = NULL;
	struct matter_settings *ms;
	struct enrol_info *info = NULL;
	struct jseg_entry *run = NULL;
	struct tele_push *tp = NULL;
	struct rework_req q;
	struct batch_req br;
	struct bundle *b;
	json_t *o = NULL;
	size_t len = 0, i;
	int has = 0;

	switch (e) {
	case EP_USER: (void)user_req(k, &o); break;
	case EP_TOKEN: (void)token_req(k, &o); break;
	case EP_PRODUCT: (void)product_req(k, sb, &has, &o); break;
	case EP_INVITE: (void)invite_req(k, &o); break;
	case EP_VERSION:
		b = calloc(1, sizeof(*b));
		ms = calloc(1, sizeof(*ms));
		if (b && ms)
			(void)version_req(k, &lamp, b, ms, fw_sha, &o);
		if (ms)
			matter_fd_clear(&ms->fd);
		free(ms);
		free(b);
		break;
	case EP_APPROVE: (void)decide_req(k, 1, &o); break;
	case EP_REJECT: (void)decide_req(k, 0, &o); break;
	case EP_FACTORY: (void)factory_req(k, &o); break;
	case EP_ENROL:
	case EP_SYNC_HSM:
		if (enrol_req(k, e == EP_ENROL, code_hash, &info, &o) == 0)
			free(info);
		break;
	case EP_PAI:
		if (pai_req(k, &der, &len, &o) == 0)
			free(der);
		break;
	case EP_RELEASE_PIN: (void)release_pin_req(k, &o); break;
	case EP_REWORK_POLICY: (void)rework_policy_req(k, &q, &has, &o); break;
	case EP_REWORK_GRANT:
		if (grant_req(k, &o) == 0)
			(void)grant_values(k, o, &q, hsm_id);
		break;
	case EP_BATCH:
		if (batch_req(k, &o) == 0 && batch_values(k, o, &br) == 0)
			free(br.rework);
		break;
	case EP_JOURNAL:
		if (journal_req(k, &o) == 0 && journal_entries(k, json_object_get(o, "entries"), &run, &bufs) == 0) {
			for (i = 0; i < json_array_size(json_object_get(o, "entries")); i++)
				free(bufs[i]);
			free(bufs);
			free(run);
		}
		break;
	case EP_RECORDS:
		if (records_req(k, &o) == 0)
			records(o);
		break;
	case EP_TLS_RENEW: (void)renew_req(k, &o); break;
	case EP_TELEMETRY_PUSH:
		if (telemetry_req(k, &tp) == 0)
			tele_push_free(tp);
		break;
	default: break;
	}
	json_decref(o);
}

static void query(struct call *k, enum ep e)
{
	struct records_args ra;
	const char *f = NULL, *l = NULL;
	long long since = 0, bucket = 0, v[3];
	int64_t s = 0, u = 0;
	uint32_t fw = 0;
	int given = 0;

	switch (e) {
	case EP_Q_FIRMWARE: (void)firmware_args(k, &fw); break;
	case EP_Q_WRITS: (void)queue_args(k, v, &given); break;
	case EP_Q_TELEMETRY: (void)telemetry_args(k, 1790000000, &f, &l, &s, &u); break;
	case EP_Q_PRODUCTION: (void)production_args(k, 1790000000, &since, &bucket); break;
	case EP_Q_RECORDS: (void)records_args(k, &ra); break;
	default: break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *pairs[QUERY_MAX][2];
	struct call k;
	enum ep e;
	char *text;

	if (size < 2)
		return 0;
	e = (enum ep)(data[0] % EP_COUNT);
	text = malloc(size - 1);
	if (!text)
		return 0;
	memcpy(text, data + 2, size - 2);
	text[size - 2] = '\0';
	memset(&k, 0, sizeof(k));
	k.method = "POST";
	k.who.oem = data[1] & 1;
	k.who.role = (enum role)(1 + (data[1] >> 1) % 4);
	k.who.org_id = 1;
	if (e < EP_Q_FIRMWARE) {
		k.body = text;
		k.body_len = size - 2;
		body(&k, e);
	} else {
		/* the firmware upload's body is the image: only its size is checked */
		k.body = (const char *)data;
		k.body_len = size;
		k.n_query = split_query(text, pairs);
		k.query = (const char *const(*)[2])pairs;
		query(&k, e);
	}
	json_decref(k.json);
	free(text);
	return 0;
}
