/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of lib/host/prom.c, the Prometheus text exposition writer: label values and
 * HELP text escaped as format 0.0.4 says (and nothing else escaped), a histogram's
 * buckets cumulative with +Inf equal to _count whatever the observations, the sum in
 * seconds, and the escape helper's bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "host/prom.h"

static void test_escape(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(prom_escape_label("a\"b\\c\nd", out, sizeof(out)), 10);
	assert_string_equal(out, "a\\\"b\\\\c\\nd");
	assert_int_equal(prom_escape_label("plain-text_1.2", out, sizeof(out)), 14);
	assert_string_equal(out, "plain-text_1.2");
	assert_int_equal(prom_escape_label("\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"", out, sizeof(out)), WRIT_E_TOOBIG);
}

static void test_family_and_samples(void **state)
{
	struct prom_buf b;

	(void)state;
	prom_init(&b);
	prom_family(&b, "x_total", "counter", "a \\ help\nline with \"quotes\"");
	prom_u64(&b, "x_total", (const char *const[]){ "path", "we\"ird\\p", "k", NULL, NULL }, 7);
	prom_i64(&b, "y", NULL, -3);
	assert_false(b.oom);
	assert_string_equal(b.p, "# HELP x_total a \\\\ help\\nline with \"quotes\"\n"
				 "# TYPE x_total counter\n"
				 "x_total{path=\"we\\\"ird\\\\p\",k=\"\"} 7\n"
				 "y -3\n");
	prom_free(&b);
	prom_free(&b); /* a freed buffer may be freed again */
}

static void test_histogram(void **state)
{
	static struct prom_hist h;
	static const double bounds[] = { 0.001, 0.01, 0.1 };
	struct prom_buf b;

	(void)state;
	prom_hist_observe(&h, bounds, 3, 500000);     /* 0.5 ms */
	prom_hist_observe(&h, bounds, 3, 1000000);    /* exactly 1 ms: le="0.001" */
	prom_hist_observe(&h, bounds, 3, 50000000);   /* 50 ms */
	prom_hist_observe(&h, bounds, 3, 3000000000); /* 3 s: +Inf only */
	prom_init(&b);
	prom_hist_write(&b, "d_seconds", (const char *const[]){ "route", "sync", NULL }, &h, bounds, 3);
	assert_false(b.oom);
	assert_string_equal(b.p, "d_seconds_bucket{route=\"sync\",le=\"0.001\"} 2\n"
				 "d_seconds_bucket{route=\"sync\",le=\"0.01\"} 2\n"
				 "d_seconds_bucket{route=\"sync\",le=\"0.1\"} 3\n"
				 "d_seconds_bucket{route=\"sync\",le=\"+Inf\"} 4\n"
				 "d_seconds_sum{route=\"sync\"} 3.051500\n"
				 "d_seconds_count{route=\"sync\"} 4\n");
	prom_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_family_and_samples),
		cmocka_unit_test(test_histogram),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
