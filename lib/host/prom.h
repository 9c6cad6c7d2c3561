/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus text exposition (format 0.0.4) for writ's daemons: a growing buffer that
 * families and samples are appended to, with label values and HELP text escaped as the
 * format requires, and a fixed-bucket histogram whose observation is a few relaxed
 * atomic additions (no lock, safe from any thread).
 */
#ifndef WRIT_HOST_PROM_H
#define WRIT_HOST_PROM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define PROM_HIST_MAX 16 /* finite buckets of one histogram */

/* The exposition being built. Zero it (or prom_init) before use; prom_free releases it.
 * An allocation failure is remembered (oom) and later appends do nothing. */
struct prom_buf {
	char *p;
	size_t len, cap;
	int oom;
};

void prom_init(struct prom_buf *b);
void prom_free(struct prom_buf *b); /* accepts a zeroed buffer */

/* "# HELP name help" and "# TYPE name type" (type: counter, gauge, histogram). */
void prom_family(struct prom_buf *b, const char *name, const char *type, const char *help);
/* One sample. labels: NULL, or name/value pairs ending with a NULL name; a NULL value
 * is written as "". */
void prom_u64(struct prom_buf *b, const char *name, const char *const *labels, uint64_t v);
void prom_i64(struct prom_buf *b, const char *name, const char *const *labels, int64_t v);

/* Label value escaping (\\, \", \n) into out (cap bytes, NUL-terminated). Returns the
 * escaped length, or WRIT_E_TOOBIG when it does not fit. */
WRIT_MUST_CHECK int prom_escape_label(const char *in, char *out, size_t cap);

/* A histogram of durations. bounds (seconds, ascending, at most PROM_HIST_MAX) are the
 * buckets' upper bounds; the +Inf bucket is implicit. Static storage zeroed is ready. */
struct prom_hist {
	atomic_uint_fast64_t bucket[PROM_HIST_MAX + 1]; /* not cumulative; the last is +Inf */
	atomic_uint_fast64_t sum_us;
};
extern const double prom_latency_bounds[]; /* 1 ms .. 10 s */
extern const size_t prom_latency_n;

void prom_hist_observe(struct prom_hist *h, const double *bounds, size_t n, uint64_t ns);
/* name_bucket / name_sum / name_count samples; the family line is the caller's. */
void prom_hist_write(struct prom_buf *b, const char *name, const char *const *labels, const struct prom_hist *h,
		     const double *bounds, size_t n);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t prom_now_ns(void);

#endif
