/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Line telemetry buckets: filling one, writing it as JSON, and the strict parser of a
 * peer's bucket. See tele.h.
 */
#include "web/tele.h"

#include <stdio.h>
#include <string.h>

static const char *const steps[TELE_STEPS] = { "discover", "keys",   "dac",    "chain",  "factory-data",
					       "secret",   "otp",    "firmware", "lock", "verify",
					       "record",   "label",  "other" };
static const uint32_t bounds[TELE_HIST_N] = { 250, 500, 1000, 2000, 5000, 10000, 30000, 60000, 300000, UINT32_MAX };

int tele_step_index(const char *name)
{
	for (size_t i = 0; name && i < TELE_STEPS; i++)
		if (!strcmp(name, steps[i]))
			return (int)i;
	return -1;
}

const char *tele_step_name(size_t i)
{
	return i < TELE_STEPS ? steps[i] : "other";
}

uint32_t tele_hist_bound(size_t i)
{
	return i < TELE_HIST_N ? bounds[i] : UINT32_MAX;
}

void tele_init(struct tele_bucket *b, const char run[17], int64_t start, uint32_t window)
{
	memset(b, 0, sizeof *b);
	memcpy(b->run, run, 16);
	b->run[16] = 0;
	if (window < TELE_WINDOW_MIN)
		window = TELE_WINDOW_MIN;
	b->window = window;
	b->start = start - ((start % window) + window) % window;
}

static void reason_copy(char *out, const char *in)
{
	size_t n = 0;

	for (; in && *in && n < TELE_REASON_MAX; in++)
		out[n++] = (*in >= 0x20 && *in < 0x7f) ? *in : '?';
	out[n] = 0;
	if (!n)
		memcpy(out, "unknown", 8);
}

void tele_add(struct tele_bucket *b, int ok, const char *step, const char *reason, uint32_t cycle_ms)
{
	char text[TELE_REASON_MAX + 1];
	int si;
	size_t i;

	b->total++;
	if (ok) {
		b->ok++;
		for (i = 0; i + 1 < TELE_HIST_N && cycle_ms > bounds[i]; i++)
			;
		b->hist[i]++;
		b->cycle_ms_sum += cycle_ms;
		return;
	}
	si = tele_step_index(step);
	if (si < 0)
		si = TELE_STEPS - 1;
	b->fail[si]++;
	reason_copy(text, reason);
	for (i = 0; i < b->n_reasons; i++)
		if (b->reasons[i].step == si && !strcmp(b->reasons[i].text, text)) {
			b->reasons[i].n++;
			return;
		}
	if (b->n_reasons == TELE_REASONS_MAX) {
		b->other_reasons++;
		return;
	}
	b->reasons[b->n_reasons].step = (uint8_t)si;
	memcpy(b->reasons[b->n_reasons].text, text, sizeof text);
	b->reasons[b->n_reasons].n = 1;
	b->n_reasons++;
}

json_t *tele_json(const struct tele_bucket *b)
{
	json_t *o = json_object(), *fail = json_object(), *rs = json_array(), *h = json_array();
	size_t i;

	if (!o || !fail || !rs || !h)
		goto fail;
	for (i = 0; i < TELE_STEPS; i++)
		if (b->fail[i] && json_object_set_new(fail, steps[i], json_integer(b->fail[i])) < 0)
			goto fail;
	for (i = 0; i < b->n_reasons; i++)
		if (json_array_append_new(rs, json_pack("{s:s, s:s, s:I}", "step", steps[b->reasons[i].step], "reason",
							b->reasons[i].text, "n", (json_int_t)b->reasons[i].n)) < 0)
			goto fail;
	for (i = 0; i < TELE_HIST_N; i++)
		if (json_array_append_new(h, json_integer(b->hist[i])) < 0)
			goto fail;
	if (json_object_set_new(o, "run", json_string(b->run)) < 0 ||
	    json_object_set_new(o, "start", json_integer(b->start)) < 0 ||
	    json_object_set_new(o, "window", json_integer(b->window)) < 0 ||
	    json_object_set_new(o, "total", json_integer(b->total)) < 0 ||
	    json_object_set_new(o, "ok", json_integer(b->ok)) < 0 || json_object_set_new(o, "fail", fail) < 0) {
		fail = NULL;
		goto fail;
	}
	fail = NULL;
	if (json_object_set_new(o, "reasons", rs) < 0) {
		rs = NULL;
		goto fail;
	}
	rs = NULL;
	if (json_object_set_new(o, "other_reasons", json_integer(b->other_reasons)) < 0 ||
	    json_object_set_new(o, "cycle_ms_sum", json_integer((json_int_t)b->cycle_ms_sum)) < 0 ||
	    json_object_set_new(o, "cycle_hist", h) < 0) {
		h = NULL;
		goto fail;
	}
	return o;
fail:
	json_decref(fail);
	json_decref(rs);
	json_decref(h);
	json_decref(o);
	return NULL;
}

#define WHY(...)                                          \
	do {                                              \
		(void)!snprintf(why, cap, __VA_ARGS__);   \
		return WRIT_E_FORMAT;                     \
	} while (0)

/* A JSON integer in 0..max into *ret. */
static int uint_of(json_t *v, uint64_t max, uint64_t *ret)
{
	json_int_t x;

	if (!json_is_integer(v))
		return -1;
	x = json_integer_value(v);
	if (x < 0 || (uint64_t)x > max)
		return -1;
	*ret = (uint64_t)x;
	return 0;
}

int tele_parse(json_t *o, int64_t now, int64_t past_max, struct tele_bucket *ret, char *why, size_t cap)
{
	static const char *const known[] = { "run", "start", "window", "total", "ok", "fail", "reasons",
					     "other_reasons", "cycle_ms_sum", "cycle_hist" };
	struct tele_bucket b;
	const char *key, *run;
	json_t *v, *f, *rs, *h;
	json_int_t start;
	uint64_t x, fsum = 0, rsum = 0, hsum = 0;
	size_t i;

	memset(&b, 0, sizeof b);
	if (!json_is_object(o))
		WHY("a bucket is a JSON object");
	json_object_foreach(o, key, v) {
		for (i = 0; i < sizeof known / sizeof known[0]; i++)
			if (!strcmp(key, known[i]))
				break;
		if (i == sizeof known / sizeof known[0])
			WHY("unknown field \"%.32s\" in a bucket", key);
	}
	run = json_string_value(json_object_get(o, "run"));
	if (!run || strlen(run) != 16 || strspn(run, "0123456789abcdef") != 16)
		WHY("run: 16 lowercase hex digits");
	memcpy(b.run, run, 17);
	if (uint_of(json_object_get(o, "window"), TELE_WINDOW_MAX, &x) < 0 || x < TELE_WINDOW_MIN)
		WHY("window: seconds, %d..%d", TELE_WINDOW_MIN, TELE_WINDOW_MAX);
	b.window = (uint32_t)x;
	v = json_object_get(o, "start");
	if (!json_is_integer(v) || (start = json_integer_value(v)) < 0 || start % b.window)
		WHY("start: Unix seconds, a multiple of window");
	if (start > now - (int64_t)b.window + TELE_FUTURE_SLACK)
		WHY("start: the bucket ends in the future (check the station's clock)");
	if (past_max > 0 && start < now - past_max)
		WHY("start: the bucket is older than %lld days", (long long)(past_max / 86400));
	b.start = start;
	if (uint_of(json_object_get(o, "total"), TELE_DEVICES_MAX, &x) < 0)
		WHY("total: devices, 0..%u", TELE_DEVICES_MAX);
	b.total = (uint32_t)x;
	if (uint_of(json_object_get(o, "ok"), b.total, &x) < 0)
		WHY("ok: devices, 0..total");
	b.ok = (uint32_t)x;
	f = json_object_get(o, "fail");
	if (!json_is_object(f))
		WHY("fail: an object of step: count");
	json_object_foreach(f, key, v) {
		int si = tele_step_index(key);
		if (si < 0)
			WHY("fail: unknown step \"%.32s\"", key);
		if (uint_of(v, TELE_DEVICES_MAX, &x) < 0)
			WHY("fail.%s: a count, 0..%u", key, TELE_DEVICES_MAX);
		b.fail[si] = (uint32_t)x;
		fsum += x;
	}
	if (fsum != (uint64_t)b.total - b.ok)
		WHY("fail: the failures sum to %llu, total - ok is %u", (unsigned long long)fsum, b.total - b.ok);
	rs = json_object_get(o, "reasons");
	if (!json_is_array(rs) || json_array_size(rs) > TELE_REASONS_MAX)
		WHY("reasons: an array of at most %d", TELE_REASONS_MAX);
	json_array_foreach(rs, i, v) {
		const char *s = json_string_value(json_object_get(v, "reason"));
		int si = tele_step_index(json_string_value(json_object_get(v, "step")));
		if (!json_is_object(v) || json_object_size(v) != 3 || si < 0)
			WHY("reasons[%zu]: {step, reason, n} with a known step", i);
		if (!s || !*s || strlen(s) > TELE_REASON_MAX)
			WHY("reasons[%zu].reason: 1..%d bytes", i, TELE_REASON_MAX);
		for (const char *c = s; *c; c++)
			if (*c < 0x20 || *c >= 0x7f)
				WHY("reasons[%zu].reason: printable ASCII only", i);
		if (uint_of(json_object_get(v, "n"), TELE_DEVICES_MAX, &x) < 0 || x == 0)
			WHY("reasons[%zu].n: a count, 1..%u", i, TELE_DEVICES_MAX);
		if (x > b.fail[si])
			WHY("reasons[%zu]: more failures than step %s has", i, tele_step_name((size_t)si));
		b.reasons[i].step = (uint8_t)si;
		memcpy(b.reasons[i].text, s, strlen(s) + 1);
		b.reasons[i].n = (uint32_t)x;
		rsum += x;
	}
	b.n_reasons = json_array_size(rs);
	if (uint_of(json_object_get(o, "other_reasons"), TELE_DEVICES_MAX, &x) < 0)
		WHY("other_reasons: a count");
	b.other_reasons = (uint32_t)x;
	if (rsum + x != fsum)
		WHY("reasons: they count %llu failures, fail counts %llu", (unsigned long long)(rsum + x),
		    (unsigned long long)fsum);
	h = json_object_get(o, "cycle_hist");
	if (!json_is_array(h) || json_array_size(h) != TELE_HIST_N)
		WHY("cycle_hist: an array of %d counts", TELE_HIST_N);
	json_array_foreach(h, i, v) {
		if (uint_of(v, TELE_DEVICES_MAX, &x) < 0)
			WHY("cycle_hist[%zu]: a count", i);
		b.hist[i] = (uint32_t)x;
		hsum += x;
	}
	if (hsum != b.ok)
		WHY("cycle_hist: it counts %llu devices, ok is %u", (unsigned long long)hsum, b.ok);
	if (uint_of(json_object_get(o, "cycle_ms_sum"), (uint64_t)b.ok * 3600000u, &x) < 0)
		WHY("cycle_ms_sum: milliseconds, at most an hour per ok device");
	b.cycle_ms_sum = x;
	*ret = b;
	return 0;
}

int tele_equal(const struct tele_bucket *a, const struct tele_bucket *b)
{
	if (strcmp(a->run, b->run) || a->start != b->start || a->window != b->window || a->total != b->total ||
	    a->ok != b->ok || a->n_reasons != b->n_reasons || a->other_reasons != b->other_reasons ||
	    a->cycle_ms_sum != b->cycle_ms_sum || memcmp(a->fail, b->fail, sizeof a->fail) ||
	    memcmp(a->hist, b->hist, sizeof a->hist))
		return 0;
	for (size_t i = 0; i < a->n_reasons; i++)
		if (a->reasons[i].step != b->reasons[i].step || a->reasons[i].n != b->reasons[i].n ||
		    strcmp(a->reasons[i].text, b->reasons[i].text))
			return 0;
	return 1;
}

uint32_t tele_hist_pct(const uint64_t *hist, double p)
{
	uint64_t n = 0, want, acc = 0;
	size_t i;

	for (i = 0; i < TELE_HIST_N; i++)
		n += hist[i];
	if (!n)
		return 0;
	want = (uint64_t)(p * (double)n + 0.999999);
	if (want < 1)
		want = 1;
	for (i = 0; i < TELE_HIST_N; i++) {
		acc += hist[i];
		if (acc >= want)
			return bounds[i];
	}
	return bounds[TELE_HIST_N - 1];
}
