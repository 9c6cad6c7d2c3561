/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The station's line telemetry (docs/factory-api.md "Telemetry"): each finished device
 * is counted into the bucket of its time window (web/tele.h); a bucket is handed over
 * for POST /v1/telemetry only once its window is over (or the run ends), so what the
 * factory stores never changes afterwards and a repeated post is a replay it counts
 * once. Buckets the factory did not take stay here and go with the next post.
 * Not thread-safe: the caller serializes (writ-station holds its line lock).
 */
#ifndef WRIT_STATION_TELEMETRY_H
#define WRIT_STATION_TELEMETRY_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "web/tele.h"

#define STELE_OPEN_MAX 4     /* windows open at once (devices finish out of order) */
#define STELE_READY_MAX 1440 /* closed buckets kept for the factory (a day of 60 s) */

struct stele {
	char run[17];
	uint32_t window;          /* 0: telemetry off */
	struct tele_bucket open[STELE_OPEN_MAX];
	size_t n_open;
	struct tele_bucket *ready; /* closed, not yet taken by the factory, oldest first */
	size_t n_ready, cap_ready;
	uint64_t dropped;          /* closed buckets given up (ready full) */
};

/* window seconds per bucket (0: off; else TELE_WINDOW_MIN..MAX); a fresh random run id. */
WRIT_MUST_CHECK int stele_init(struct stele *t, uint32_t window);
void stele_free(struct stele *t); /* accepts NULL */
/* One device finished at now (Unix seconds): see tele_add. */
void stele_note(struct stele *t, int64_t now, int ok, const char *step, const char *reason, uint32_t cycle_ms);
/* Close the windows over at now (all of them when final): they become ready. */
void stele_close(struct stele *t, int64_t now, int final);
/* Up to max ready buckets as a POST /v1/telemetry body (malloc'd; NULL when none or out
 * of memory) and their number in *ret_n. */
char *stele_body(const struct stele *t, size_t max, size_t *ret_n);
/* The first n ready buckets were taken by the factory: forget them. */
void stele_taken(struct stele *t, size_t n);

#endif
