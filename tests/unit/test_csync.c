/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of writ-factory's sync with writ-cloud, the parts without I/O
 * (factory/csync.c): runs cut by count, by bytes and at checkpoints, JSON string
 * sizes (checked against jansson's own encoder), answer classification, the strict
 * parsers of cursors, push answers and the writ list, the records cursor, the journal
 * span, outage and backoff arithmetic; and the store's side (factory/store.c): the
 * pulled-writ table (pending / loaded / refused, due times, a repeated pull) and the
 * upgrade of a version-2 store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "factory/csync.h"
#include "factory/store.h"
#include "wire/writ.h"

#define S(x) ((const uint8_t *)(x)), strlen(x)

static void test_run_count(void **state)
{
	struct csync_run r;
	size_t i;

	csync_run_init(&r, 10, 3, 1000);
	for (i = 0; i < 3; i++)
		assert_int_equal(csync_run_add(&r, 5), 1);
	assert_int_equal(csync_run_add(&r, 5), 0);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.bytes, 10 + 5 + 6 + 6); /* commas after the first */
}

static void test_run_bytes(void **state)
{
	struct csync_run r;

	/* exactly the limit fits; one byte more does not, and the run is unchanged */
	csync_run_init(&r, 2, 100, 2 + 10 + 11);
	assert_int_equal(csync_run_add(&r, 10), 1);
	assert_int_equal(csync_run_add(&r, 11), 0); /* 2 + 10 + 1 + 11 = 24 > 23 */
	assert_int_equal(csync_run_add(&r, 10), 1); /* 23 */
	assert_int_equal(r.bytes, 23);
	assert_int_equal(csync_run_add(&r, 0), 0);
	assert_int_equal(r.n, 2);
	/* an item that can never fit is refused on an empty run */
	csync_run_init(&r, 2, 100, 10);
	assert_int_equal(csync_run_add(&r, 9), 0);
	assert_int_equal(r.n, 0);
	/* no overflow with absurd costs */
	csync_run_init(&r, 2, 100, CSYNC_BODY_MAX);
	assert_int_equal(csync_run_add(&r, SIZE_MAX), 0);
	assert_int_equal(csync_run_add(&r, SIZE_MAX - 1), 0);
	/* the real limits: 4096 records of 1 KiB are cut by bytes, not by count */
	csync_run_init(&r, 14, CSYNC_RECORD_RUN_MAX, CSYNC_BODY_MAX);
	while (csync_run_add(&r, 1024))
		;
	assert_true(r.n < CSYNC_RECORD_RUN_MAX);
	assert_true(r.bytes <= CSYNC_BODY_MAX);
	assert_true(r.bytes + 1025 > CSYNC_BODY_MAX);
	/* small journal entries are cut by count */
	csync_run_init(&r, 104, CSYNC_JOURNAL_RUN_MAX, CSYNC_BODY_MAX);
	while (csync_run_add(&r, 2 + csync_b64_len(150)))
		;
	assert_int_equal(r.n, CSYNC_JOURNAL_RUN_MAX);
}

static void test_run_cut(void **state)
{
	uint8_t cp[6] = { 0, 1, 0, 0, 1, 0 };

	assert_int_equal(csync_run_cut(cp, 6, 1), 6);     /* the end of what is sent: whole */
	assert_int_equal(csync_run_cut(cp, 6, 0), 5);     /* after the last checkpoint */
	assert_int_equal(csync_run_cut(cp, 4, 0), 2);
	assert_int_equal(csync_run_cut(cp, 1, 0), 1);     /* no checkpoint in it: whole */
	assert_int_equal(csync_run_cut(cp + 1, 1, 0), 1); /* a run of one checkpoint */
	assert_int_equal(csync_run_cut(cp, 0, 0), 0);
	assert_int_equal(csync_run_cut(NULL, 7, 0), 7);   /* records: no checkpoints */
}

static void test_b64_len(void **state)
{
	assert_int_equal(csync_b64_len(0), 0);
	assert_int_equal(csync_b64_len(1), 4);
	assert_int_equal(csync_b64_len(2), 4);
	assert_int_equal(csync_b64_len(3), 4);
	assert_int_equal(csync_b64_len(4), 8);
	assert_int_equal(csync_b64_len(98304), 131072);
}

/* Our JSON string must read back (by jansson) as the same bytes, and for printable
 * ASCII (what the records are) be what jansson writes, byte for byte. */
static void jstr_same(const char *s, size_t n, int printable)
{
	json_t *j = json_stringn(s, n), *back;
	char *ref = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
	char *out = malloc(csync_jstr_len(s, n) + 1);
	size_t k;

	assert_non_null(ref);
	assert_non_null(out);
	k = csync_jstr_put(out, s, n);
	out[k] = 0;
	assert_int_equal(k, csync_jstr_len(s, n));
	if (printable)
		assert_string_equal(out, ref);
	back = json_loadb(out, k, JSON_DECODE_ANY, NULL);
	assert_true(json_is_string(back));
	assert_int_equal(json_string_length(back), n);
	assert_memory_equal(json_string_value(back), s, n);
	json_decref(back);
	free(ref);
	free(out);
	json_decref(j);
}

static void test_jstr(void **state)
{
	char all[128];
	size_t i;

	jstr_same("", 0, 1);
	{
		static const char q[] = "{\"seq\":1,\"reason\":\"a \\\"quoted\\\" \\\\ path\"}";
		jstr_same(q, sizeof(q) - 1, 1);
	}
	for (i = 0x20; i < 0x7f; i++)
		all[i - 0x20] = (char)i;
	jstr_same(all, 0x7f - 0x20, 1);
	for (i = 1; i < sizeof(all); i++)
		all[i - 1] = (char)i;
	jstr_same(all, sizeof(all) - 1, 0);
	assert_int_equal(csync_jstr_len("ab\"c\\", 5), 2 + 3 + 2 + 2);
	assert_int_equal(csync_jstr_len("\x01\x7f", 2), 2 + 12);
}

static void test_classify(void **state)
{
	assert_int_equal(csync_classify(-3, 0, ""), CSYNC_NET);
	assert_int_equal(csync_classify(0, 0, ""), CSYNC_NET);
	assert_int_equal(csync_classify(0, 503, "unavailable"), CSYNC_NET);
	assert_int_equal(csync_classify(0, 502, ""), CSYNC_NET);
	assert_int_equal(csync_classify(0, 504, ""), CSYNC_NET);
	assert_int_equal(csync_classify(0, 200, ""), CSYNC_OK);
	assert_int_equal(csync_classify(0, 201, ""), CSYNC_OK);
	assert_int_equal(csync_classify(0, 409, "gap"), CSYNC_GAP);
	assert_int_equal(csync_classify(0, 409, "fork"), CSYNC_FORK);
	assert_int_equal(csync_classify(0, 409, "journal_first"), CSYNC_JOURNAL_FIRST);
	assert_int_equal(csync_classify(0, 409, "conflict"), CSYNC_REFUSED);
	assert_int_equal(csync_classify(0, 409, NULL), CSYNC_REFUSED);
	assert_int_equal(csync_classify(0, 422, "bad_signature"), CSYNC_BAD);
	assert_int_equal(csync_classify(0, 401, "unauthenticated"), CSYNC_AUTH);
	assert_int_equal(csync_classify(0, 403, "forbidden"), CSYNC_AUTH);
	assert_int_equal(csync_classify(0, 404, "not_found"), CSYNC_NOTFOUND);
	assert_int_equal(csync_classify(0, 413, "too_big"), CSYNC_REFUSED);
	assert_int_equal(csync_classify(0, 500, "internal"), CSYNC_REFUSED);
	assert_string_equal(csync_verdict_name(CSYNC_FORK), "fork");
}

static void test_cursor(void **state)
{
	static const char h[] = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
	char body[256], hash[65];
	uint64_t next = 99;

	(void)!snprintf(body, sizeof(body), "{\"next\": 17, \"hash\": \"%s\", \"extra\": true}", h);
	assert_int_equal(csync_parse_cursor(S(body), &next, hash), 0);
	assert_int_equal(next, 17);
	assert_string_equal(hash, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
	assert_int_equal(csync_parse_cursor(S("{\"next\": 1, \"hash\": \"\"}"), &next, hash), 0); /* the first record */
	assert_int_equal(next, 1);
	assert_string_equal(hash, "");
	next = 5;
	assert_int_equal(csync_parse_cursor(S("{\"next\": -1, \"hash\": \"\"}"), &next, NULL), WRIT_E_FORMAT);
	assert_int_equal(csync_parse_cursor(S("{\"next\": 1.5, \"hash\": \"\"}"), &next, NULL), WRIT_E_FORMAT);
	assert_int_equal(csync_parse_cursor(S("{\"next\": \"1\", \"hash\": \"\"}"), &next, NULL), WRIT_E_FORMAT);
	assert_int_equal(csync_parse_cursor(S("{\"next\": 1}"), &next, NULL), WRIT_E_FORMAT);
	assert_int_equal(csync_parse_cursor(S("{\"next\": 1, \"hash\": \"abc\"}"), &next, NULL), WRIT_E_FORMAT);
	assert_int_equal(csync_parse_cursor(S("{\"next\": 1, \"next\": 2, \"hash\": \"\"}"), &next, NULL), WRIT_E_FORMAT);
	assert_int_equal(csync_parse_cursor(S("[1]"), &next, NULL), WRIT_E_FORMAT);
	assert_int_equal(csync_parse_cursor(S("{\"next\": 1, \"hash\": \"\"} x"), &next, NULL), WRIT_E_FORMAT);
	assert_int_equal(csync_parse_cursor((const uint8_t *)"{\"next\":1,\"hash\":\"\"}\0", 21, &next, NULL),
			 WRIT_E_FORMAT);
	assert_int_equal(csync_parse_cursor(NULL, 0, &next, NULL), WRIT_E_FORMAT);
	assert_int_equal(next, 5); /* untouched on refusal */
}

static void test_pushed(void **state)
{
	struct csync_pushed p;

	assert_int_equal(csync_parse_pushed(S("{\"accepted\":3,\"duplicate\":2,\"tail\":0,\"next\":40,\"hash\":"
					      "\"0000000000000000000000000000000000000000000000000000000000000000\"}"),
					    &p), 0);
	assert_int_equal(p.accepted, 3);
	assert_int_equal(p.duplicate, 2);
	assert_int_equal(p.next, 40);
	assert_int_equal(csync_parse_pushed(S("{\"accepted\":3,\"duplicate\":0,\"next\":4}"), &p), 0); /* records */
	assert_int_equal(csync_parse_pushed(S("{\"accepted\":3,\"next\":4}"), &p), WRIT_E_FORMAT);
	assert_int_equal(csync_parse_pushed(S("{\"accepted\":3,\"duplicate\":0,\"next\":4,\"hash\":\"zz\"}"), &p),
			 WRIT_E_FORMAT);
}

static char *writs_body(const char *items, uint64_t next)
{
	size_t cap = strlen(items) + 64;
	char *b = malloc(cap);

	assert_non_null(b);
	assert_true(snprintf(b, cap, "{\"writs\":[%s],\"next\":%llu}", items, (unsigned long long)next) < (int)cap);
	return b;
}

#define ID32 "0123456789abcdef0123456789ABCDEF"
#define H64 "aa00000000000000000000000000000000000000000000000000000000000001"
#define VD64 "bb00000000000000000000000000000000000000000000000000000000000002"
#define Z64 "0000000000000000000000000000000000000000000000000000000000000000"

static void test_writs(void **state)
{
	struct csync_writ *w = NULL;
	size_t n = 0;
	uint64_t next = 0;
	char why[160], *b;

	b = writs_body("{\"seq\":5,\"id\":\"" ID32 "\",\"hsm\":\"" H64 "\",\"kind\":1,\"version_digest\":\"" VD64
		       "\",\"sealed\":\"AAEC\"},"
		       "{\"seq\":9,\"id\":\"" ID32 "\",\"hsm\":\"" H64 "\",\"kind\":\"revocation\",\"version_digest\":\"" Z64
		       "\",\"sealed\":\"/w==\"},"
		       "{\"seq\":10,\"id\":\"" ID32 "\",\"hsm\":\"" H64 "\",\"kind\":2,\"version_digest\":null,"
		       "\"sealed\":\"AA==\"}",
		       12);
	assert_int_equal(csync_parse_writs(S(b), 4, &w, &n, &next, why, sizeof(why)), 0);
	free(b);
	assert_int_equal(n, 3);
	assert_int_equal(next, 12);
	assert_int_equal(w[0].seq, 5);
	assert_string_equal(w[0].id, "0123456789abcdef0123456789abcdef"); /* lowercased */
	assert_string_equal(w[0].kind, "1");
	assert_string_equal(w[0].version_digest, VD64);
	assert_int_equal(w[0].sealed_len, 3);
	assert_int_equal(w[0].sealed[2], 2);
	assert_string_equal(w[1].kind, "revocation");
	assert_string_equal(w[1].version_digest, ""); /* all zeros: pins no version */
	assert_string_equal(w[2].version_digest, "");
	csync_writs_free(w, n);

	/* an empty page */
	w = NULL;
	assert_int_equal(csync_parse_writs(S("{\"writs\":[],\"next\":7}"), 7, &w, &n, &next, why, sizeof(why)), 0);
	assert_int_equal(n, 0);
	assert_int_equal(next, 7);
	csync_writs_free(w, n);

	/* refusals: each leaves *ret untouched */
	w = NULL;
	n = 77;
	b = writs_body("{\"seq\":4,\"id\":\"" ID32 "\",\"hsm\":\"" H64 "\",\"kind\":1,\"sealed\":\"AA==\"}", 4);
	assert_int_equal(csync_parse_writs(S(b), 4, &w, &n, &next, why, sizeof(why)), WRIT_E_FORMAT); /* not after since */
	free(b);
	b = writs_body("{\"seq\":6,\"id\":\"" ID32 "\",\"hsm\":\"" H64 "\",\"kind\":1,\"sealed\":\"AA==\"},"
		       "{\"seq\":6,\"id\":\"" ID32 "\",\"hsm\":\"" H64 "\",\"kind\":1,\"sealed\":\"AA==\"}", 6);
	assert_int_equal(csync_parse_writs(S(b), 0, &w, &n, &next, why, sizeof(why)), WRIT_E_FORMAT); /* not ascending */
	free(b);
	b = writs_body("{\"seq\":6,\"id\":\"" ID32 "\",\"hsm\":\"" H64 "\",\"kind\":1,\"sealed\":\"AA==\"}", 5);
	assert_int_equal(csync_parse_writs(S(b), 0, &w, &n, &next, why, sizeof(why)), WRIT_E_FORMAT); /* next < seq */
	free(b);
	b = writs_body("{\"seq\":6,\"id\":\"0123\",\"hsm\":\"" H64 "\",\"kind\":1,\"sealed\":\"AA==\"}", 6);
	assert_int_equal(csync_parse_writs(S(b), 0, &w, &n, &next, why, sizeof(why)), WRIT_E_FORMAT);
	free(b);
	b = writs_body("{\"seq\":6,\"id\":\"" ID32 "\",\"hsm\":\"" H64 "\",\"kind\":1,\"sealed\":\"A*==\"}", 6);
	assert_int_equal(csync_parse_writs(S(b), 0, &w, &n, &next, why, sizeof(why)), WRIT_E_FORMAT);
	free(b);
	b = writs_body("{\"seq\":6,\"id\":\"" ID32 "\",\"hsm\":\"" H64 "\",\"kind\":1,\"sealed\":\"\"}", 6);
	assert_int_equal(csync_parse_writs(S(b), 0, &w, &n, &next, why, sizeof(why)), WRIT_E_FORMAT);
	free(b);
	b = writs_body("{\"seq\":6,\"id\":\"" ID32 "\",\"hsm\":\"" H64 "\",\"kind\":[],\"sealed\":\"AA==\"}", 6);
	assert_int_equal(csync_parse_writs(S(b), 0, &w, &n, &next, why, sizeof(why)), WRIT_E_FORMAT);
	free(b);
	b = writs_body("{\"seq\":6,\"id\":\"" ID32 "\",\"hsm\":\"" H64 "\",\"kind\":1,\"version_digest\":\"bb\","
		       "\"sealed\":\"AA==\"}", 6);
	assert_int_equal(csync_parse_writs(S(b), 0, &w, &n, &next, why, sizeof(why)), WRIT_E_FORMAT);
	free(b);
	assert_null(w);
	assert_int_equal(n, 77);

	/* more than 100 writs, and a sealed writ over 64 KiB */
	{
		size_t i, cap = 101 * 200 + 64;
		char *items = malloc(cap), *big;
		items[0] = 0;
		for (i = 0; i < 101; i++)
			(void)!snprintf(items + strlen(items), cap - strlen(items),
					"%s{\"seq\":%zu,\"id\":\"" ID32 "\",\"hsm\":\"" H64 "\",\"kind\":1,\"sealed\":\"AA==\"}",
					i ? "," : "", i + 1);
		b = writs_body(items, 101);
		assert_int_equal(csync_parse_writs(S(b), 0, &w, &n, &next, why, sizeof(why)), WRIT_E_FORMAT);
		free(b);
		free(items);
		{
			static const char head[] = "{\"seq\":1,\"id\":\"" ID32 "\",\"hsm\":\"" H64 "\",\"kind\":1,\"sealed\":\"";
			size_t k = sizeof(head) - 1, b64 = csync_b64_len(WRIT_MAX_SEALED + 3);
			big = malloc(k + b64 + 3);
			assert_non_null(big);
			memcpy(big, head, k);
			memset(big + k, 'A', b64);
			memcpy(big + k + b64, "\"}", 3);
		}
		b = writs_body(big, 1);
		assert_int_equal(csync_parse_writs(S(b), 0, &w, &n, &next, why, sizeof(why)), WRIT_E_FORMAT);
		free(b);
		free(big);
	}
	assert_null(w);
}

static void test_cursors(void **state)
{
	uint64_t c = 0;

	assert_int_equal(csync_records_since(0), 0); /* nothing yet (0 or 1 both mean: from record 1) */
	assert_int_equal(csync_records_since(1), 0);
	assert_int_equal(csync_records_since(41), 40);
	assert_int_equal(csync_journal_span(0, 1, &c), 0); /* genesis and its checkpoint */
	assert_int_equal(c, 2);
	assert_int_equal(csync_journal_span(10, 20, &c), 0);
	assert_int_equal(c, 11);
	assert_int_equal(csync_journal_span(21, 20, &c), 0); /* up to date */
	assert_int_equal(c, 0);
	c = 5;
	assert_int_equal(csync_journal_span(22, 20, &c), WRIT_E_STATE); /* the cloud is ahead */
	assert_int_equal(csync_journal_span(0, UINT64_MAX, &c), WRIT_E_STATE);
	assert_int_equal(c, 5);
}

static void test_outage(void **state)
{
	struct csync_outage o = { 0, 0, 0 };
	int64_t since = 0;

	assert_int_equal(csync_backoff(o.fails, 5), 5);
	assert_int_equal(csync_outage_fail(&o, 1000), 1); /* logged once ... */
	assert_int_equal(csync_backoff(o.fails, 5), 1);
	assert_int_equal(csync_outage_fail(&o, 1001), 0); /* ... not every round */
	assert_int_equal(csync_backoff(o.fails, 5), 2);
	assert_int_equal(csync_outage_fail(&o, 1003), 0);
	assert_int_equal(csync_backoff(o.fails, 5), 4);
	assert_int_equal(csync_outage_fail(&o, 1007), 0);
	assert_int_equal(csync_backoff(o.fails, 5), 5); /* capped at the interval */
	assert_int_equal(o.since, 1000);
	assert_int_equal(csync_outage_ok(&o, &since), 1);
	assert_int_equal(since, 1000);
	assert_int_equal(csync_outage_ok(&o, &since), 0);
	assert_int_equal(csync_backoff(o.fails, 5), 5);
	for (unsigned i = 0; i < 200; i++)
		(void)csync_outage_fail(&o, 2000);
	assert_int_equal(csync_backoff(o.fails, 3600), 3600);
	assert_int_equal(csync_backoff(0, 0), 1);
	assert_int_equal(csync_writ_retry(1), 5);
	assert_int_equal(csync_writ_retry(2), 10);
	assert_int_equal(csync_writ_retry(5), 80);
	assert_int_equal(csync_writ_retry(12), CSYNC_WRIT_RETRY_MAX);
	assert_int_equal(csync_writ_retry(1000), CSYNC_WRIT_RETRY_MAX);
}

/* ---- the store's side ---- */

static char dir[] = "/tmp/writ-test-csync.XXXXXX";

static void store_path(char *out, size_t cap)
{
	(void)!snprintf(out, cap, "%s/factory.db", dir);
}

static void test_store_writs(void **state)
{
	struct store *s = NULL;
	struct store_cloud_writ w, *due = NULL;
	uint8_t sealed[3] = { 1, 2, 3 }, digest[32];
	uint64_t pending = 9, refused = 9, last = 9;
	size_t n = 0;
	char path[256];

	store_path(path, sizeof(path));
	unlink(path);
	assert_int_equal(store_open(path, 1, &s), 0);
	memset(&w, 0, sizeof(w));
	memcpy(w.id, "0123456789abcdef0123456789abcdef", 33);
	memcpy(w.hsm, H64, 65);
	memcpy(w.kind, "1", 2);
	memcpy(w.version_digest, VD64, 65);
	w.sealed = sealed;
	w.sealed_len = sizeof(sealed);
	for (w.seq = 1; w.seq <= 3; w.seq++)
		assert_int_equal(store_cloud_writ_add(s, &w), 0);
	w.seq = 2;
	w.sealed_len = 1;
	assert_int_equal(store_cloud_writ_add(s, &w), 0); /* pulled again: kept as it was */
	assert_int_equal(store_cloud_writ_counts(s, &pending, &refused), 0);
	assert_int_equal(pending, 3);
	assert_int_equal(refused, 0);
	assert_int_equal(store_cloud_writs_due(s, 100, 10, &due, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(due[1].seq, 2);
	assert_int_equal(due[1].sealed_len, 3);
	assert_memory_equal(due[1].sealed, sealed, 3);
	assert_string_equal(due[1].version_digest, VD64);
	store_cloud_writs_free(due, n);
	assert_int_equal(store_cloud_writ_set(s, 1, "loaded", "", 0, 0, 0), 0);
	assert_int_equal(store_cloud_writ_set(s, 2, "refused", "writ for another HSM", 0, 0, 0), 0);
	assert_int_equal(store_cloud_writ_set(s, 3, "pending", "not valid before 200", 1, 150, 100), 0);
	assert_int_equal(store_cloud_writ_set(s, 4, "loaded", "", 0, 0, 0), WRIT_E_NOTFOUND);
	assert_int_equal(store_cloud_writ_set(s, 1, "bogus", "", 0, 0, 0), WRIT_E_EXISTS); /* CHECK constraint */
	assert_int_equal(store_cloud_writs_due(s, 149, 10, &due, &n), 0);
	assert_int_equal(n, 0); /* not due before 150 */
	store_cloud_writs_free(due, n);
	assert_int_equal(store_cloud_writs_due(s, 150, 10, &due, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(due[0].seq, 3);
	assert_int_equal(due[0].attempts, 1);
	assert_int_equal(due[0].first_refused, 100);
	assert_string_equal(due[0].reason, "not valid before 200");
	store_cloud_writs_free(due, n);
	assert_int_equal(store_cloud_writ_counts(s, &pending, &refused), 0);
	assert_int_equal(pending, 1);
	assert_int_equal(refused, 1);
	memset(digest, 0xbb, sizeof(digest));
	assert_int_equal(store_bundle_has(s, digest), WRIT_E_NOTFOUND);
	assert_int_equal(store_records_last(s, &last), 0);
	assert_int_equal(last, 0);
	store_close(s);
	/* the table and its rows survive a reopen */
	assert_int_equal(store_open(path, 0, &s), 0);
	assert_int_equal(store_cloud_writ_counts(s, &pending, &refused), 0);
	assert_int_equal(pending + refused, 2);
	store_close(s);
	unlink(path);
}

/* A version-2 store (as writ-factory before the cloud sync made it) is upgraded. */
static void test_store_upgrade(void **state)
{
	struct store *s = NULL;
	uint64_t pending = 9, refused = 9;
	sqlite3 *db;
	sqlite3_stmt *st;
	char path[256];
	int v = 0;

	store_path(path, sizeof(path));
	unlink(path);
	assert_int_equal(store_open(path, 1, &s), 0);
	store_close(s);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE cloud_writs; PRAGMA user_version=2", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(path, 0, &s), 0);
	assert_int_equal(store_cloud_writ_counts(s, &pending, &refused), 0);
	assert_int_equal(pending, 0);
	store_close(s);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_int_equal(v, STORE_SCHEMA_VERSION);
	unlink(path);
}

static int setup(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char path[256];

	store_path(path, sizeof(path));
	unlink(path);
	(void)!snprintf(path, sizeof(path), "%s/factory.db-wal", dir);
	unlink(path);
	(void)!snprintf(path, sizeof(path), "%s/factory.db-shm", dir);
	unlink(path);
	return rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_count),   cmocka_unit_test(test_run_bytes), cmocka_unit_test(test_run_cut),
		cmocka_unit_test(test_b64_len),	    cmocka_unit_test(test_jstr),      cmocka_unit_test(test_classify),
		cmocka_unit_test(test_cursor),	    cmocka_unit_test(test_pushed),    cmocka_unit_test(test_writs),
		cmocka_unit_test(test_cursors),	    cmocka_unit_test(test_outage),    cmocka_unit_test(test_store_writs),
		cmocka_unit_test(test_store_upgrade),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
