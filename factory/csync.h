/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pure parts of writ-factory's sync with writ-cloud (docs/factory-api.md, "Sync
 * with writ-cloud"), apart from the thread that does the I/O (cloud.c) so they can be
 * unit-tested: cutting journal entries and records into runs that fit the cloud's
 * limits (count and bytes of JSON), JSON string sizes, the classification of the
 * cloud's answers, strict parsers of the answers the factory reads (cursors, push
 * answers, the writ list), and the outage / backoff arithmetic. Nothing here does I/O,
 * logs or keeps global state.
 */
#ifndef WRIT_FACTORY_CSYNC_H
#define WRIT_FACTORY_CSYNC_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define CSYNC_BODY_MAX (4u * 1024 * 1024) /* POST /v1/sync/journal and /v1/sync/records */
#define CSYNC_JOURNAL_RUN_MAX 8192u       /* entries per POST /v1/sync/journal */
#define CSYNC_RECORD_RUN_MAX 4096u        /* records per POST /v1/sync/records */
#define CSYNC_WRITS_MAX 100u              /* writs per GET /v1/sync/writs answer */
#define CSYNC_KIND_MAX 32u
#define CSYNC_WRIT_RETRY_MAX 3600u        /* a time-bound refusal is retried at least hourly */

/*
 * A run: items appended while they fit. overhead is the body's fixed text (the JSON
 * around the array); each item costs its own bytes plus one comma after the first.
 * csync_run_add returns 1 when the item was taken, 0 when the run is full (by count or
 * by bytes; the run is unchanged). A first item that does not fit alone is refused
 * too: the caller must report it (no run could ever carry it).
 */
struct csync_run {
	size_t n, bytes, max_items, max_bytes;
};
void csync_run_init(struct csync_run *r, size_t overhead, size_t max_items, size_t max_bytes);
int csync_run_add(struct csync_run *r, size_t cost);

/*
 * The cloud stores a journal run only up to its last checkpoint. A run of n entries
 * that is not the end of what is to be sent (complete == 0) is therefore cut after its
 * last checkpoint (is_cp[i] != 0); with no checkpoint in it, or when complete, it is
 * sent whole. Returns the number of entries to send (1..n for n >= 1; 0 for n == 0).
 */
size_t csync_run_cut(const uint8_t *is_cp, size_t n, int complete);

/* Length of standard base64 with padding of n bytes. */
size_t csync_b64_len(size_t n);
/* s (n bytes) as a JSON string literal, quotes included: `"` and `\` escaped, control
 * bytes and DEL as \u00XX, other bytes as they are (the record texts are printable
 * ASCII). csync_jstr_put writes exactly csync_jstr_len bytes (no NUL) and returns it. */
size_t csync_jstr_len(const char *s, size_t n);
size_t csync_jstr_put(char *out, const char *s, size_t n);

/* What an answer of the cloud means for the sync. */
enum csync_verdict {
	CSYNC_OK = 0,           /* 2xx */
	CSYNC_NET,              /* no answer, or 502/503/504: the cloud is unreachable; retry with backoff */
	CSYNC_GAP,              /* 409 gap: re-read the cursor and resume there */
	CSYNC_FORK,             /* 409 fork: stop pushing this chain; an operator must look */
	CSYNC_BAD,              /* 422: the cloud refuses the content (signature, chain); stop pushing it */
	CSYNC_JOURNAL_FIRST,    /* 409 journal_first: push the journal, then retry */
	CSYNC_AUTH,             /* 401 / 403: the factory token is refused */
	CSYNC_NOTFOUND,         /* 404 */
	CSYNC_REFUSED,          /* any other answer */
};
/* transport: httpc_request's return (0 when an answer arrived). code: the answer's
 * "code" ("" when none). */
enum csync_verdict csync_classify(int transport, long status, const char *code);
const char *csync_verdict_name(enum csync_verdict v);

/* {"next": uint, "hash": hex64 or ""} (a cursor; "" before the first record, as
 * ret_hash ""). ret_hash may be NULL. WRIT_E_FORMAT for anything else (extra fields
 * are ignored). */
WRIT_MUST_CHECK int csync_parse_cursor(const uint8_t *body, size_t len, uint64_t *ret_next, char ret_hash[65]);

/* {"accepted": uint, "next": uint, "duplicate": uint[, "hash": hex64]} */
struct csync_pushed {
	uint64_t accepted, next, duplicate;
};
WRIT_MUST_CHECK int csync_parse_pushed(const uint8_t *body, size_t len, struct csync_pushed *ret);

/* One writ of GET /v1/sync/writs. version_digest is "" when the writ names none (a
 * revocation). sealed is malloc'd (csync_writs_free). */
struct csync_writ {
	uint64_t seq;
	char id[33], hsm[65], kind[CSYNC_KIND_MAX + 1], version_digest[65];
	uint8_t *sealed;
	size_t sealed_len;
};
/*
 * {"writs": [...], "next": N} for a request with since: at most CSYNC_WRITS_MAX writs,
 * seq strictly ascending and > since, next >= the last seq (and >= since); id 32 and
 * hsm 64 hex digits (lowercased here), kind a short printable string or an integer
 * (kept as its decimal text), version_digest 64 hex, null, "" or absent (all zeros,
 * null, "" and absent all read as "": the writ pins no version), sealed
 * standard base64 of 1..64 KiB. *ret (caller frees with csync_writs_free) and *ret_n
 * are written only on success; WRIT_E_FORMAT (or WRIT_E_NOMEM) otherwise, with a
 * reason in why.
 */
WRIT_MUST_CHECK int csync_parse_writs(const uint8_t *body, size_t len, uint64_t since, struct csync_writ **ret,
				      size_t *ret_n, uint64_t *ret_next, char *why, size_t cap);
void csync_writs_free(struct csync_writ *w, size_t n); /* accepts NULL */

/* The records cursor's next (the next seq the cloud expects; 0 or 1 at first) as the
 * since of store_records (records with seq > since). */
uint64_t csync_records_since(uint64_t next);

/* Entries [cursor, checkpoint] of a journal are to be pushed: their number in
 * *ret_count (0 when the cloud has all of them: cursor == checkpoint + 1).
 * WRIT_E_STATE when the cloud is ahead of the checkpoint (cursor > checkpoint + 1: the
 * HSM's journal is not the one the cloud verified). */
WRIT_MUST_CHECK int csync_journal_span(uint64_t cursor, uint64_t checkpoint, uint64_t *ret_count);

/*
 * Outages: csync_outage_fail returns 1 when this failure starts an outage (log it
 * once), 0 while it lasts; csync_outage_ok returns 1 when this success ends one
 * (*ret_since: when it began). csync_backoff: seconds to wait after `fails`
 * consecutive failed rounds: 1, 2, 4 ... capped at interval (interval when fails is 0).
 */
struct csync_outage {
	int down;
	int64_t since;
	unsigned fails;
};
int csync_outage_fail(struct csync_outage *o, int64_t now);
int csync_outage_ok(struct csync_outage *o, int64_t *ret_since);
unsigned csync_backoff(unsigned fails, unsigned interval);

/* Seconds before a writ refused for a time-bound reason (window, clock) is offered
 * again, after `attempts` refusals: 5, 10, 20 ... capped at CSYNC_WRIT_RETRY_MAX. */
unsigned csync_writ_retry(unsigned attempts);

#endif
