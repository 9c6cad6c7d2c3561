/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Line telemetry buckets (docs/factory-api.md "Telemetry", schema in
 * docs/telemetry-bucket.schema.json): what one station saw in one time window: devices
 * started and finished ok, failures per provisioning step and by reason, and a histogram
 * of the cycle time of the devices that went all the way. A station fills them
 * (tele_add), writ-factory and writ-cloud take them from peers only through tele_parse,
 * which bounds and cross-checks every number. A bucket is named by (station, run,
 * start): a station posts a bucket only once its window is over (or its run ends), so
 * its content never changes and a replay can be recognised and counted once.
 * Pure: no I/O, no global state; jansson for the JSON.
 */
#ifndef WRIT_WEB_TELE_H
#define WRIT_WEB_TELE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"

#define TELE_STEPS 13            /* the station's steps, in order (tele_step_name) */
#define TELE_HIST_N 10           /* cycle-time histogram buckets (tele_hist_bound) */
#define TELE_REASONS_MAX 8       /* distinct (step, reason) pairs kept per bucket */
#define TELE_REASON_MAX 96       /* bytes of a reason (printable ASCII) */
#define TELE_WINDOW_MIN 10
#define TELE_WINDOW_MAX 3600
#define TELE_DEVICES_MAX 100000u /* devices per bucket */
#define TELE_PAST_MAX (30 * 86400) /* a bucket older than this is refused */
#define TELE_FUTURE_SLACK 300    /* clock skew tolerated for a bucket's end */
#define TELE_BUCKETS_MAX 64      /* buckets per POST */
#define TELE_BODY_MAX (64u * 1024u)

struct tele_reason {
	uint8_t step;
	char text[TELE_REASON_MAX + 1];
	uint32_t n;
};

struct tele_bucket {
	char run[17];             /* 16 lowercase hex digits: one station process run */
	int64_t start;            /* Unix seconds, a multiple of window */
	uint32_t window;          /* seconds */
	uint32_t total, ok;       /* devices finished in the window; those ok */
	uint32_t fail[TELE_STEPS];
	struct tele_reason reasons[TELE_REASONS_MAX];
	size_t n_reasons;
	uint32_t hist[TELE_HIST_N]; /* cycle time of ok devices */
	uint64_t cycle_ms_sum;
	uint32_t other_reasons;   /* failures whose reason did not fit reasons[] */
};

/* The step's index, or -1 for a name that is not one of the station's steps. */
int tele_step_index(const char *name);
const char *tele_step_name(size_t i);
/* Upper bound (ms, inclusive) of histogram bucket i; UINT32_MAX for the last. */
uint32_t tele_hist_bound(size_t i);

/* An empty bucket for window seconds starting at start (rounded down to the window). */
void tele_init(struct tele_bucket *b, const char run[17], int64_t start, uint32_t window);
/* One finished device: ok, or failed at step (unknown names count as "other") with
 * reason (may be NULL). cycle_ms counts only for ok devices. */
void tele_add(struct tele_bucket *b, int ok, const char *step, const char *reason, uint32_t cycle_ms);

/* The bucket as JSON (new reference, NULL when out of memory). */
json_t *tele_json(const struct tele_bucket *b);
/*
 * A bucket from a peer, checked: run 16 hex digits; window TELE_WINDOW_MIN..MAX; start a
 * multiple of window, not ending after now + TELE_FUTURE_SLACK nor starting before
 * now - past_max (a station's bucket: TELE_PAST_MAX; the cloud takes older ones that a
 * long outage held back, down to 0: any); 0 <= ok <= total <= TELE_DEVICES_MAX; failures only for known
 * steps, summing to total - ok; reasons (known step, 1..TELE_REASON_MAX printable
 * bytes, n >= 1) at most TELE_REASONS_MAX and with other_reasons summing to the
 * failures; the histogram summing to ok; no other fields. 0 and *ret, or WRIT_E_FORMAT
 * with a reason in why.
 */
WRIT_MUST_CHECK int tele_parse(json_t *o, int64_t now, int64_t past_max, struct tele_bucket *ret, char *why, size_t cap);
/* Two buckets with the same content (a replay, as opposed to a conflict). */
int tele_equal(const struct tele_bucket *a, const struct tele_bucket *b);
/* The cycle time (ms) below which a fraction p (0..1) of the histogram's devices fall:
 * the upper bound of the bucket that holds that device; 0 when the histogram is empty. */
uint32_t tele_hist_pct(const uint64_t *hist, double p);

#endif
