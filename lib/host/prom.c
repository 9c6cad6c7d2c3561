/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus text exposition format 0.0.4 (prom.h). Only what writ's daemons emit:
 * counters, gauges and histograms with integer or duration values. Escaping follows the
 * format: in a label value a backslash, a double quote and a newline become \\, \" and
 * \n; in HELP text a backslash and a newline.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host/prom.h"

const double prom_latency_bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
const size_t prom_latency_n = sizeof(prom_latency_bounds) / sizeof(prom_latency_bounds[0]);

void prom_init(struct prom_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void prom_free(struct prom_buf *b)
{
	if (!b)
		return;
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void put(struct prom_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;
		while (cap < b->len + n + 1)
			cap *= 2;
		if (!(p = realloc(b->p, cap))) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void puts_(struct prom_buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void putf(struct prom_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct prom_buf *b, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		b->oom = 1; /* never: only numbers go through here */
	else
		put(b, tmp, (size_t)n);
}

/* Escape s; quote=1 for a label value (also "), 0 for HELP text. */
static void put_escaped(struct prom_buf *b, const char *s, int quote)
{
	for (; s && *s; s++) {
		if (*s == '\\')
			puts_(b, "\\\\");
		else if (*s == '\n')
			puts_(b, "\\n");
		else if (quote && *s == '"')
			puts_(b, "\\\"");
		else
			put(b, s, 1);
	}
}

int prom_escape_label(const char *in, char *out, size_t cap)
{
	struct prom_buf b;
	int n;

	prom_init(&b);
	put_escaped(&b, in, 1);
	if (b.oom || b.len + 1 > cap) {
		n = b.oom ? WRIT_E_NOMEM : WRIT_E_TOOBIG;
		prom_free(&b);
		return n;
	}
	memcpy(out, b.p ? b.p : "", b.len + 1);
	n = (int)b.len;
	prom_free(&b);
	return n;
}

void prom_family(struct prom_buf *b, const char *name, const char *type, const char *help)
{
	puts_(b, "# HELP ");
	puts_(b, name);
	puts_(b, " ");
	put_escaped(b, help, 0);
	puts_(b, "\n# TYPE ");
	puts_(b, name);
	puts_(b, " ");
	puts_(b, type);
	puts_(b, "\n");
}

/* name{l1="v1",...,extra="v"} ; extra may be NULL */
static void put_series(struct prom_buf *b, const char *name, const char *const *labels, const char *extra_k,
		       const char *extra_v)
{
	size_t i;
	int any = 0;

	puts_(b, name);
	for (i = 0; labels && labels[i]; i += 2) {
		puts_(b, any ? "," : "{");
		puts_(b, labels[i]);
		puts_(b, "=\"");
		put_escaped(b, labels[i + 1], 1);
		puts_(b, "\"");
		any = 1;
	}
	if (extra_k) {
		puts_(b, any ? "," : "{");
		puts_(b, extra_k);
		puts_(b, "=\"");
		puts_(b, extra_v);
		puts_(b, "\"");
		any = 1;
	}
	if (any)
		puts_(b, "}");
	puts_(b, " ");
}

void prom_u64(struct prom_buf *b, const char *name, const char *const *labels, uint64_t v)
{
	put_series(b, name, labels, NULL, NULL);
	putf(b, "%llu\n", (unsigned long long)v);
}

void prom_i64(struct prom_buf *b, const char *name, const char *const *labels, int64_t v)
{
	put_series(b, name, labels, NULL, NULL);
	putf(b, "%lld\n", (long long)v);
}

void prom_hist_observe(struct prom_hist *h, const double *bounds, size_t n, uint64_t ns)
{
	double s = (double)ns / 1e9;
	size_t i;

	if (n > PROM_HIST_MAX)
		n = PROM_HIST_MAX;
	for (i = 0; i < n && s > bounds[i]; i++)
		;
	atomic_fetch_add_explicit(&h->bucket[i < n ? i : PROM_HIST_MAX], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, ns / 1000, memory_order_relaxed);
}

void prom_hist_write(struct prom_buf *b, const char *name, const char *const *labels, const struct prom_hist *h,
		     const double *bounds, size_t n)
{
	char series[128], le[32];
	uint64_t cum = 0, sum_us;
	size_t i;

	if (n > PROM_HIST_MAX)
		n = PROM_HIST_MAX;
	if ((size_t)snprintf(series, sizeof(series), "%s_bucket", name) >= sizeof(series)) {
		b->oom = 1;
		return;
	}
	/* The buckets are read one by one while others may add: count is taken as the
	 * cumulative total written, so _count always equals the +Inf bucket. */
	for (i = 0; i <= n; i++) {
		cum += atomic_load_explicit(&h->bucket[i < n ? i : PROM_HIST_MAX], memory_order_relaxed);
		if (i < n)
			(void)!snprintf(le, sizeof(le), "%g", bounds[i]);
		else
			(void)!snprintf(le, sizeof(le), "+Inf");
		put_series(b, series, labels, "le", le);
		putf(b, "%llu\n", (unsigned long long)cum);
	}
	sum_us = atomic_load_explicit(&h->sum_us, memory_order_relaxed);
	(void)!snprintf(series, sizeof(series), "%s_sum", name);
	put_series(b, series, labels, NULL, NULL);
	putf(b, "%llu.%06llu\n", (unsigned long long)(sum_us / 1000000), (unsigned long long)(sum_us % 1000000));
	(void)!snprintf(series, sizeof(series), "%s_count", name);
	put_series(b, series, labels, NULL, NULL);
	putf(b, "%llu\n", (unsigned long long)cum);
}

uint64_t prom_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
