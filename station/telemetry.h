/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The station's line telemetry (docs/factory-api.md "Telemetry"): each finished device
 * is counted into the bucket of its time window (web/tele.h); a bucket is handed over
 * for POST /v1/telemetry only once its window is over (or the run ends), so what the
 * factory stores never changes afterwards and a repeated post is a replay it counts
 * once. Buckets the factory did not take stay here and go with the next post.
 * Not thread-safe: the caller serializes (writ-station holds its line lock).
 *
 * With a spool (stele_spool_open, writ-station run --state DIR) they also survive a crash
 * or a restart: DIR/telemetry.spool is a text file of lines
 *     O <bucket JSON>    an open window as it stands after its latest device
 *     B <bucket JSON>    a closed window the factory has not acknowledged yet
 * A later line for the same (run, start) replaces an earlier one. Each device appends
 * one O line (fdatasync before stele_note returns); a window closing and the factory
 * taking buckets rewrite the file (a new file renamed over it, fsynced), so it holds only
 * what is still owed. At start-up every bucket of earlier runs is closed and queued for
 * the factory; a replay of one the factory already took (a crash between its answer and
 * the rewrite) is counted once there, by (station, run, start). A torn last line (a crash
 * mid-append) and damaged lines are skipped and counted, never trusted.
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
	/* the spool (none until stele_spool_open) */
	int spooling, spool_fd, lock_fd;
	int spool_dirty;           /* buckets moved: rewrite rather than append */
	int spool_failed;          /* the last write failed (kept in memory; the next write tries again) */
	char spool_path[4096];
	char spool_err[320];       /* what failed, for the caller's log ("" when nothing) */
};

#define STELE_SPOOL_NAME "telemetry.spool"
#define STELE_SPOOL_LINE_MAX 16384u       /* a bucket's line is at most a few KiB */
#define STELE_SPOOL_FILE_MAX (64u << 20)  /* larger: refused as not ours */

/* What reading a spool found. */
struct stele_spool_stats {
	size_t lines;       /* complete lines read */
	size_t buckets;     /* distinct buckets kept */
	size_t torn;        /* a last line without its newline (a crash while appending) */
	size_t bad;         /* lines skipped: unknown kind, too long, not a valid bucket */
	size_t dropped;     /* buckets beyond what the station keeps (the oldest go) */
	char first_bad[200]; /* the first bad line's number and why ("" when none) */
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

/*
 * Parse a spool image buf[0..len) (need not be NUL-terminated): each complete line is
 * "O " or "B " and one bucket's JSON that tele_parse takes (clock: now); a later line for
 * the same (run, start) replaces an earlier one. Up to cap distinct buckets into out, in
 * the order of their first line (when more, the oldest are dropped and counted), *ret_n.
 * Damaged content is skipped and counted in *st, never an error; WRIT_E_INVAL only for
 * cap == 0.
 */
WRIT_MUST_CHECK int stele_spool_parse(const char *buf, size_t len, int64_t now, struct tele_bucket *out, size_t cap,
				      size_t *ret_n, struct stele_spool_stats *st);
/*
 * Spool t's buckets in dir/telemetry.spool (dir made 0700 if missing; a second station
 * on the same dir is refused by a lock on dir/telemetry.lock): every bucket found there
 * (earlier runs) is queued, closed, for the factory, and the file is rewritten. 0, or a
 * negative error with a message in t->spool_err. After a write failure later on,
 * t->spool_failed is set and spool_err says what; the buckets stay in memory.
 */
WRIT_MUST_CHECK int stele_spool_open(struct stele *t, const char *dir, int64_t now, struct stele_spool_stats *st);

#endif
