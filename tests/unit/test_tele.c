/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of line telemetry: the bucket (lib/web/tele.c: counting, histogram
 * percentiles, JSON round trip, every refusal of the strict parser), the station's
 * windows (station/telemetry.c: devices land in the bucket of their time, a window is
 * handed over only once it is over, taken buckets are forgotten) and writ-factory's
 * store (factory/telemetry.c: a replay is counted once, other counts under the same
 * name are refused, nothing of a refused body is kept, the cloud cursor's queue).
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

#include "factory/telemetry.h"
#include "station/telemetry.h"
#include "web/tele.h"

#define NOW 1790000040LL /* a multiple of 60 */

static void test_add(void **state)
{
	struct tele_bucket b;
	uint64_t h[TELE_HIST_N];

	(void)state;
	tele_init(&b, "0123456789abcdef", NOW + 59, 60);
	assert_int_equal(b.start, NOW);
	tele_add(&b, 1, NULL, NULL, 100);
	tele_add(&b, 1, NULL, NULL, 700);
	tele_add(&b, 1, NULL, NULL, 700);
	tele_add(&b, 1, NULL, NULL, 40000);
	tele_add(&b, 0, "lock", "chip refused", 0);
	tele_add(&b, 0, "lock", "chip refused", 0);
	tele_add(&b, 0, "no-such-step", "x\ty", 0);
	assert_int_equal(b.total, 7);
	assert_int_equal(b.ok, 4);
	assert_int_equal(b.fail[tele_step_index("lock")], 2);
	assert_int_equal(b.fail[tele_step_index("other")], 1);
	assert_int_equal(b.n_reasons, 2);
	assert_int_equal(b.reasons[0].n, 2);
	assert_string_equal(b.reasons[1].text, "x?y");
	assert_int_equal(b.cycle_ms_sum, 41500);
	for (size_t i = 0; i < TELE_HIST_N; i++)
		h[i] = b.hist[i];
	assert_int_equal(h[0] + h[2] + h[7], 4);
	assert_int_equal(tele_hist_pct(h, 0.5), 1000);
	assert_int_equal(tele_hist_pct(h, 0.95), 60000);
	assert_int_equal(tele_hist_pct(h, 0.25), 250);
	memset(h, 0, sizeof h);
	assert_int_equal(tele_hist_pct(h, 0.5), 0);
	/* more distinct reasons than kept: counted aside, still summing up */
	for (int i = 0; i < TELE_REASONS_MAX + 3; i++) {
		char why[16];
		snprintf(why, sizeof why, "r%d", i);
		tele_add(&b, 0, "verify", why, 0);
	}
	assert_int_equal(b.n_reasons, TELE_REASONS_MAX);
	assert_int_equal(b.other_reasons, 5);
}

static void test_roundtrip(void **state)
{
	struct tele_bucket b, c;
	char why[200];
	json_t *o;

	(void)state;
	tele_init(&b, "0123456789abcdef", NOW - 120, 60);
	tele_add(&b, 1, NULL, NULL, 1234);
	tele_add(&b, 0, "dac", "HSM: quantity spent", 0);
	o = tele_json(&b);
	assert_non_null(o);
	assert_int_equal(tele_parse(o, NOW, TELE_PAST_MAX, &c, why, sizeof why), 0);
	assert_true(tele_equal(&b, &c));
	c.ok++;
	assert_false(tele_equal(&b, &c));
	json_decref(o);
}

/* b as JSON with one field replaced by the JSON text v (NULL: removed) */
static int parse_with(const struct tele_bucket *b, const char *key, const char *v, char *why, size_t cap)
{
	json_t *o = tele_json(b);
	struct tele_bucket out;
	int rc;

	if (v)
		json_object_set_new(o, key, json_loads(v, JSON_DECODE_ANY, NULL));
	else
		json_object_del(o, key);
	rc = tele_parse(o, NOW, TELE_PAST_MAX, &out, why, cap);
	json_decref(o);
	return rc;
}

static void test_refusals(void **state)
{
	static const struct {
		const char *key, *value;
	} bad[] = {
		{ "run", "\"0123456789ABCDEF\"" }, { "run", "\"0123\"" },      { "run", NULL },
		{ "window", "5" },                 { "window", "7200" },       { "start", "1790000001" },
		{ "start", "-60" },                { "start", "1790000600" },  { "start", "1780000020" },
		{ "total", "-1" },                 { "total", "100001" },      { "total", "\"3\"" },
		{ "ok", "4" },                     { "fail", "{\"lock\": 2}" }, { "fail", "{\"teleport\": 1}" },
		{ "fail", "{\"lock\": -1, \"dac\": 2}" }, { "fail", "[]" },
		{ "reasons", "[{\"step\": \"dac\", \"reason\": \"x\", \"n\": 2}]" },
		{ "reasons", "[{\"step\": \"dac\", \"reason\": \"\", \"n\": 1}]" },
		{ "reasons", "[{\"step\": \"dac\", \"reason\": \"a\\nb\", \"n\": 1}]" },
		{ "reasons", "[{\"step\": \"warp\", \"reason\": \"x\", \"n\": 1}]" },
		{ "reasons", "[{\"step\": \"dac\", \"reason\": \"x\", \"n\": 1, \"extra\": 1}]" },
		{ "other_reasons", "1" },          { "cycle_hist", "[1]" },
		{ "cycle_hist", "[0,0,0,0,0,0,0,0,0,1]" }, { "cycle_ms_sum", "99999999999" },
		{ "surprise", "1" },
	};
	struct tele_bucket b;
	char why[200];

	(void)state;
	tele_init(&b, "0123456789abcdef", NOW - 120, 60);
	tele_add(&b, 1, NULL, NULL, 800);
	tele_add(&b, 1, NULL, NULL, 800);
	tele_add(&b, 0, "dac", "x", 0);
	assert_int_equal(parse_with(&b, "total", "3", why, sizeof why), 0);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why[0] = 0;
		if (parse_with(&b, bad[i].key, bad[i].value, why, sizeof why) != WRIT_E_FORMAT)
			fail_msg("%s = %s was taken", bad[i].key, bad[i].value ? bad[i].value : "(absent)");
		assert_true(why[0] != 0);
	}
	{
		json_t *arr = json_array();
		assert_int_equal(tele_parse(arr, NOW, 0, &b, why, sizeof why), WRIT_E_FORMAT);
		json_decref(arr);
	}
}

static void test_station_windows(void **state)
{
	struct stele t;
	size_t n = 0;
	char *body;
	json_t *o;

	(void)state;
	assert_int_equal(stele_init(&t, 5), WRIT_E_INVAL);
	assert_int_equal(stele_init(&t, 60), 0);
	assert_int_equal(strlen(t.run), 16);
	stele_note(&t, NOW + 1, 1, NULL, NULL, 900);
	stele_note(&t, NOW + 30, 0, "otp", "blown", 0);
	stele_note(&t, NOW + 61, 1, NULL, NULL, 900);
	stele_note(&t, NOW + 59, 1, NULL, NULL, 900); /* finished late in the first window */
	stele_close(&t, NOW + 59, 0);
	assert_int_equal(t.n_ready, 0);
	stele_close(&t, NOW + 60, 0);
	assert_int_equal(t.n_ready, 1);
	assert_int_equal(t.ready[0].total, 3);
	assert_int_equal(t.ready[0].ok, 2);
	body = stele_body(&t, 64, &n);
	assert_non_null(body);
	assert_int_equal(n, 1);
	o = json_loads(body, 0, NULL);
	assert_int_equal(json_array_size(json_object_get(o, "buckets")), 1);
	json_decref(o);
	free(body);
	stele_taken(&t, 1);
	assert_int_equal(t.n_ready, 0);
	stele_close(&t, NOW + 61, 1); /* the run ends: the open window goes too */
	assert_int_equal(t.n_ready, 1);
	assert_int_equal(t.ready[0].start, NOW + 60);
	stele_free(&t);
	assert_int_equal(stele_init(&t, 0), 0);
	stele_note(&t, NOW, 1, NULL, NULL, 1);
	assert_int_equal(t.n_open, 0);
}

static void test_factory_store(void **state)
{
	char dir[] = "/tmp/test_tele.XXXXXX", path[64], *body, *other;
	struct tele_bucket b;
	struct ftele *t = NULL;
	json_t *a = NULL, *o;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(ftele_open(dir, &t), 0);
	tele_init(&b, "00000000000000aa", NOW - 120, 60);
	tele_add(&b, 1, NULL, NULL, 800);
	o = json_pack("{s:[o]}", "buckets", tele_json(&b));
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	assert_int_equal(ftele_post(t, "st1", "L1", body, strlen(body), NOW, &a), 200);
	assert_int_equal(json_integer_value(json_object_get(a, "accepted")), 1);
	json_decref(a);
	assert_int_equal(ftele_post(t, "st1", "L1", body, strlen(body), NOW, &a), 200); /* a replay */
	assert_int_equal(json_integer_value(json_object_get(a, "accepted")), 0);
	assert_int_equal(json_integer_value(json_object_get(a, "duplicate")), 1);
	json_decref(a);
	assert_int_equal(ftele_post(t, "st2", "L1", body, strlen(body), NOW, &a), 200); /* another station */
	json_decref(a);
	assert_int_equal(ftele_queued(t), 2);
	/* the same name with other counts: refused, and nothing else of that body kept */
	tele_add(&b, 1, NULL, NULL, 800);
	{
		struct tele_bucket n2;
		tele_init(&n2, "00000000000000bb", NOW - 60, 60);
		o = json_pack("{s:[o, o]}", "buckets", tele_json(&n2), tele_json(&b));
	}
	other = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	assert_int_equal(ftele_post(t, "st1", "L1", other, strlen(other), NOW, &a), 409);
	json_decref(a);
	assert_int_equal(ftele_queued(t), 2);
	assert_int_equal(ftele_post(t, "st1", "L1", "{\"buckets\": 3}", 14, NOW, &a), 400);
	json_decref(a);
	assert_int_equal(ftele_post(t, "st1", "L1", "not json", 8, NOW, &a), 400);
	json_decref(a);
	free(body);
	free(other);
	ftele_close(t);
	snprintf(path, sizeof path, "%s/telemetry.db", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/telemetry.db-wal", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/telemetry.db-shm", dir);
	unlink(path);
	rmdir(dir);
}

static size_t spool_lines(const char *path, char kind)
{
	FILE *f = fopen(path, "r");
	char line[STELE_SPOOL_LINE_MAX + 8];
	size_t n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof line, f))
		n += line[0] == kind;
	fclose(f);
	return n;
}

static void append(const char *path, const char *text)
{
	FILE *f = fopen(path, "a");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	fclose(f);
}

/* The station's spool (station/telemetry.c): every device is on disk before it counts,
 * a restart queues the earlier run's buckets closed, garbage and a torn last line are
 * skipped and counted, and what the factory took leaves the file. */
static void test_station_spool(void **state)
{
	char tmpl[] = "/tmp/writ-tele-spool-XXXXXX", path[256], line[2048];
	const char *dir = NULL;
	struct stele t, t2, t3;
	struct stele_spool_stats st;
	struct tele_bucket out[2];
	char *body, *dirp;
	size_t n = 0;
	json_t *o;

	(void)state;
	{
		const char *td = getenv("TMPDIR");
		static char buf[512];
		if (td && *td && snprintf(buf, sizeof buf, "%s/writ-tele-spool-XXXXXX", td) < (int)sizeof buf)
			dirp = mkdtemp(buf);
		else
			dirp = mkdtemp(tmpl);
	}
	assert_non_null(dirp);
	dir = dirp;
	snprintf(path, sizeof path, "%s/%s", dir, STELE_SPOOL_NAME);
	assert_int_equal(stele_init(&t, 60), 0);
	assert_int_equal(stele_spool_open(&t, dir, NOW, &st), 0);
	assert_int_equal(st.buckets + st.bad + st.torn, 0);
	stele_note(&t, NOW + 1, 1, NULL, NULL, 900);
	stele_note(&t, NOW + 2, 0, "otp", "blown", 0);
	stele_note(&t, NOW + 3, 1, NULL, NULL, 900);
	assert_int_equal(t.spool_failed, 0);
	assert_int_equal(spool_lines(path, 'O'), 3); /* one line per device, each durable */
	/* a second station on the same directory is refused */
	assert_int_equal(stele_init(&t2, 60), 0);
	assert_int_equal(stele_spool_open(&t2, dir, NOW, &st), WRIT_E_STATE);
	assert_non_null(strstr(t2.spool_err, "another writ-station"));
	stele_free(&t2);
	/* the station dies here (no close of its windows); garbage and a torn line follow */
	stele_free(&t);
	append(path, "B {\"run\": \"0123\n");                /* line 4: not JSON */
	append(path, "X hello\n");                          /* line 5: unknown kind */
	o = tele_json(&t.open[0]);
	json_object_set_new(o, "ok", json_integer(3));      /* counts that do not add up */
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	snprintf(line, sizeof line, "O %s\n", body);
	free(body);
	append(path, line);                                 /* line 6: refused by tele_parse */
	append(path, "O {\"run\": \"01234567");             /* torn: no newline */
	/* the restart: the earlier run's window is queued, closed, with its 3 devices */
	assert_int_equal(stele_init(&t3, 60), 0);
	assert_string_not_equal(t3.run, t.run);
	assert_int_equal(stele_spool_open(&t3, dir, NOW + 5, &st), 0);
	assert_int_equal(st.buckets, 1);
	assert_int_equal(st.bad, 3);
	assert_int_equal(st.torn, 1);
	assert_int_equal(st.lines, 6);
	assert_non_null(strstr(st.first_bad, "line 4"));
	assert_int_equal(t3.n_ready, 1);
	assert_string_equal(t3.ready[0].run, t.run);
	assert_int_equal(t3.ready[0].total, 3);
	assert_int_equal(t3.ready[0].ok, 2);
	assert_int_equal(spool_lines(path, 'B'), 1); /* rewritten: only what is owed */
	assert_int_equal(spool_lines(path, 'O'), 0);
	/* a device of the new run, then the factory takes the old bucket */
	stele_note(&t3, NOW + 6, 1, NULL, NULL, 500);
	body = stele_body(&t3, 64, &n);
	assert_int_equal(n, 1);
	free(body);
	stele_taken(&t3, 1);
	assert_int_equal(spool_lines(path, 'B'), 0);
	assert_int_equal(spool_lines(path, 'O'), 1);
	stele_close(&t3, NOW + 60, 0); /* its window is over: a B line */
	assert_int_equal(spool_lines(path, 'B'), 1);
	assert_int_equal(spool_lines(path, 'O'), 0);
	stele_free(&t3);
	/* the parser alone: a later line replaces, cap drops the oldest, cap 0 refused */
	{
		struct tele_bucket a, b;
		char img[4096], *ja, *jb;
		json_t *oa, *ob;
		int w;

		tele_init(&a, "00000000000000aa", NOW, 60);
		tele_init(&b, "00000000000000bb", NOW, 60);
		oa = tele_json(&a);
		tele_add(&a, 1, NULL, NULL, 10);
		ob = tele_json(&b);
		ja = json_dumps(oa, JSON_COMPACT);
		jb = json_dumps(ob, JSON_COMPACT);
		json_decref(oa);
		oa = tele_json(&a);
		body = json_dumps(oa, JSON_COMPACT);
		w = snprintf(img, sizeof img, "O %s\nB %s\nB %s\n", ja, jb, body);
		assert_true(w > 0 && (size_t)w < sizeof img);
		assert_int_equal(stele_spool_parse(img, (size_t)w, NOW, out, 2, &n, &st), 0);
		assert_int_equal(n, 2);
		assert_string_equal(out[0].run, "00000000000000aa");
		assert_int_equal(out[0].total, 1); /* the later line won */
		assert_int_equal(stele_spool_parse(img, (size_t)w, NOW, out, 1, &n, &st), 0);
		assert_int_equal(n, 1);
		assert_int_equal(st.dropped, 2); /* aa dropped for bb, bb for the later aa */
		assert_int_equal(stele_spool_parse(img, (size_t)w, NOW, out, 0, &n, &st), WRIT_E_INVAL);
		assert_int_equal(stele_spool_parse("", 0, NOW, out, 2, &n, &st), 0);
		assert_int_equal(n, 0);
		json_decref(oa);
		json_decref(ob);
		free(ja);
		free(jb);
		free(body);
	}
	unlink(path);
	snprintf(path, sizeof path, "%s/telemetry.lock", dir);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add),           cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_refusals),      cmocka_unit_test(test_station_windows),
		cmocka_unit_test(test_factory_store), cmocka_unit_test(test_station_spool),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
