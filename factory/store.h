/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-factory's store: one SQLite file (STATE/factory.db) in WAL mode with
 * synchronous=FULL, foreign keys on, and a schema version in `meta`. Every write is one
 * transaction, so a crash leaves either all of an operation or none of it. One
 * connection, serialized by a mutex: every function may be called from any thread.
 *
 * Errors: WRIT_E_IO when SQLite cannot write (disk full, read-only, I/O error: the
 * line must stop), WRIT_E_NOTFOUND, WRIT_E_EXISTS, WRIT_E_AUTH (unknown token or
 * code), WRIT_E_REVOKED, WRIT_E_STATE (a DAC request for this device is in progress).
 */
#ifndef WRIT_FACTORY_STORE_H
#define WRIT_FACTORY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "factory/record.h"
#include "wire/bundle.h"

#define STORE_SCHEMA_VERSION 3 /* 2: dacs.record_ok; 3: cloud_writs; older versions are upgraded on open */

struct store;

/* Open (create=1: create the schema; the file must not hold one yet) STATE/factory.db.
 * *ret is freed with store_close (accepts NULL). */
WRIT_MUST_CHECK int store_open(const char *path, int create, struct store **ret);
void store_close(struct store *s);

/* meta key/value (factory id, OEM key). */
WRIT_MUST_CHECK int store_meta_set(struct store *s, const char *key, const char *value);
WRIT_MUST_CHECK int store_meta_get(struct store *s, const char *key, char *out, size_t cap);

/* A write probe: 0 if a transaction can be committed right now. */
WRIT_MUST_CHECK int store_writable(struct store *s);

/* Stations and tokens. Codes and tokens are given as their SHA-256 only. */
WRIT_MUST_CHECK int store_station_add(struct store *s, const char *name, const char *line,
				      const uint8_t code_sha[32], int64_t *ret_id);
/* Calls fn for each station; a line per station. */
WRIT_MUST_CHECK int store_station_list(struct store *s, void (*fn)(void *arg, int64_t id, const char *name,
								   const char *line, int enrolled, int revoked),
				       void *arg);
/* Calls fn for each enrolled, unrevoked station with the time of the last DAC it asked
 * for (0: none yet): when the factory last saw it work. */
WRIT_MUST_CHECK int store_station_seen(struct store *s, void (*fn)(void *arg, int64_t id, const char *name,
								   const char *line, int64_t last_dac),
				       void *arg);
WRIT_MUST_CHECK int store_station_revoke(struct store *s, int64_t id);
/* Redeem a one-time code: it must be pending and made for name/line. Stores the
 * token's hash and clears the code. WRIT_E_AUTH for an unknown or used code,
 * WRIT_E_SCOPE when name/line differ from `station add`. */
WRIT_MUST_CHECK int store_enrol(struct store *s, const uint8_t code_sha[32], const char *name, const char *line,
				const uint8_t token_sha[32], int64_t *ret_station);
WRIT_MUST_CHECK int store_token_add(struct store *s, const char *role, int64_t station, const uint8_t token_sha[32]);

struct store_auth {
	int mes;          /* role mes (else station) */
	int64_t station;  /* station id, role station */
	char name[65], line[65];
};
/* Find the token whose hash is token_sha, comparing every row in constant time.
 * WRIT_E_AUTH unknown, WRIT_E_REVOKED revoked. */
WRIT_MUST_CHECK int store_auth(struct store *s, const uint8_t token_sha[32], struct store_auth *ret);

/* Bundles (metadata; the firmware lives in STATE/firmware/HEX). */
WRIT_MUST_CHECK int store_bundle_put(struct store *s, const struct bundle *b);
/* By version digest, or (digest NULL) the newest bundle of product. ret->firmware is NULL. */
WRIT_MUST_CHECK int store_bundle_get(struct store *s, const uint8_t *digest, const char *product, struct bundle *ret);

/* DAC notes. begin: a durable intent for (writ, uid); WRIT_E_STATE if one is being
 * asked; if the device already received a DAC for the key whose SHA-256 (hex) is
 * csr_sha, *ret_dup is set and *ret_note names it (the answer can be repeated from the
 * note; a note not recorded ok moves to the requesting station in the same
 * transaction, logged); WRIT_E_REPLAY if it received one for another key.
 * *ret_retake: an 'unknown' note is asked again (pass it to store_dac_abort). */
struct store_dac {
	int64_t id;
	char writ[33], uid[33], hsm_id[65], dac_serial[25], dac_sha256[65];
	uint64_t hsm_seq, device_serial;
	int64_t station;
	int issued, recorded;
	int record_ok;       /* recorded, and the record that closed it is "ok" */
	uint64_t record_seq; /* the record that closed it, once recorded */
	uint8_t *dac, *pai; /* malloc'd in store_dac_get; free with store_dac_clear */
	size_t dac_len, pai_len;
};
WRIT_MUST_CHECK int store_dac_begin(struct store *s, const char *writ, const char *uid, int64_t station,
				    const char *csr_sha, int64_t *ret_note, int *ret_dup, int *ret_retake);
WRIT_MUST_CHECK int store_dac_issued(struct store *s, int64_t note, const struct store_dac *d);
/* The HSM refused: forget the intent (no state change); a retaken note (retake=1)
 * goes back to 'unknown' instead. */
WRIT_MUST_CHECK int store_dac_abort(struct store *s, int64_t note, int retake);
/* The answer is unknown (transport failed): keep the note as 'unknown'. */
WRIT_MUST_CHECK int store_dac_unknown(struct store *s, int64_t note);
WRIT_MUST_CHECK int store_dac_get(struct store *s, const char *writ, const char *uid, struct store_dac *ret);
void store_dac_clear(struct store_dac *d);
/* The writ (32 hex digits) and device serial of the latest DAC issued here to uid (32
 * hex digits), for rework: which product the device is. WRIT_E_NOTFOUND if none. */
WRIT_MUST_CHECK int store_dac_find_uid(struct store *s, const char *uid, char ret_writ[33], uint64_t *ret_serial);
/* Mark every 'asking' note 'unknown' (at start: no request is in flight). */
WRIT_MUST_CHECK int store_dac_recover(struct store *s, int *ret_n);

/* Append a record (and, when queue is set, its webhook queue entry) in one
 * transaction. With a note (>0), in the same transaction: an ok record closes it if it
 * is station's and issued or recorded by a failed record (re-pointed, record_ok=1),
 * else nothing is written: WRIT_E_EXISTS with the earlier ok record's seq in *ret_seq
 * (a duplicate), WRIT_E_SCOPE (another station's note). A failed record closes an
 * issued note of station; otherwise it is appended naming no DAC (f's DAC fields are
 * cleared). Returns the seq in *ret_seq. */
WRIT_MUST_CHECK int store_record_append(struct store *s, struct rec_fields *f, int64_t station, int64_t note,
					int queue, uint64_t *ret_seq);
/* The PAI (DER) of the first DAC noted under writ: WRIT_E_NOTFOUND before one. */
WRIT_MUST_CHECK int store_writ_pai(struct store *s, const char *writ, uint8_t *out, size_t cap, size_t *ret_len);
/* MES tokens: list (id, role, station, created, revoked) and revoke (role mes only;
 * WRIT_E_NOTFOUND for another id). */
WRIT_MUST_CHECK int store_token_list(struct store *s, void (*fn)(void *arg, int64_t id, const char *role,
								 int64_t station, int64_t created, int revoked),
				     void *arg);
WRIT_MUST_CHECK int store_token_revoke(struct store *s, int64_t id);

/* Records with seq > since, oldest first, at most limit; fn gets each JSON. */
WRIT_MUST_CHECK int store_records(struct store *s, uint64_t since, uint64_t limit,
				  int (*fn)(void *arg, uint64_t seq, const char *json), void *arg);
WRIT_MUST_CHECK int store_counts(struct store *s, uint64_t *ret_records, uint64_t *ret_queue, uint64_t *ret_pending);
/* The DAC notes per writ and state (asking, issued, recorded, unknown): fn once per pair,
 * under the store's lock (fn must not call the store). */
WRIT_MUST_CHECK int store_dac_counts(struct store *s, void (*fn)(void *arg, const char *writ, const char *state,
								  uint64_t n), void *arg);

/* Whether a bundle with this version digest is stored: 0, or WRIT_E_NOTFOUND. */
WRIT_MUST_CHECK int store_bundle_has(struct store *s, const uint8_t digest[32]);
/* The seq of the last record (0 when there is none). */
WRIT_MUST_CHECK int store_records_last(struct store *s, uint64_t *ret_seq);

/*
 * Writs pulled from writ-cloud (cloud.c). A writ is added 'pending' (a seq already
 * kept is left as it is: a repeated pull is harmless), then marked 'loaded' or
 * 'refused' with the HSM's reason, or left 'pending' with a reason and a time before
 * which it is not offered again.
 */
struct store_cloud_writ {
	uint64_t seq;
	char id[33], hsm[65], kind[33], version_digest[65]; /* version_digest "" for none */
	uint8_t *sealed; /* malloc'd by store_cloud_writs_due; store_cloud_writs_free */
	size_t sealed_len;
	unsigned attempts;     /* time-bound refusals so far */
	int64_t first_refused; /* time of the first of them, 0 for none */
	char reason[257];      /* the last reason it was not loaded, "" for none */
};
WRIT_MUST_CHECK int store_cloud_writ_add(struct store *s, const struct store_cloud_writ *w);
/* Pending writs due at now, oldest seq first, at most max: *ret is malloc'd (free it
 * with store_cloud_writs_free), written only on success. */
WRIT_MUST_CHECK int store_cloud_writs_due(struct store *s, int64_t now, size_t max, struct store_cloud_writ **ret,
					  size_t *ret_n);
void store_cloud_writs_free(struct store_cloud_writ *w, size_t n); /* accepts NULL */
/* state: "pending", "loaded" or "refused". */
WRIT_MUST_CHECK int store_cloud_writ_set(struct store *s, uint64_t seq, const char *state, const char *reason,
					 unsigned attempts, int64_t next_at, int64_t first_refused);
WRIT_MUST_CHECK int store_cloud_writ_counts(struct store *s, uint64_t *ret_pending, uint64_t *ret_refused);

/* Webhook queue: the oldest entry due at now (WRIT_E_NOTFOUND if none). */
WRIT_MUST_CHECK int store_queue_next(struct store *s, int64_t now, uint64_t *ret_seq, char **ret_json,
				     unsigned *ret_attempts);
WRIT_MUST_CHECK int store_queue_done(struct store *s, uint64_t seq);
WRIT_MUST_CHECK int store_queue_retry(struct store *s, uint64_t seq, unsigned attempts, int64_t next_at);

#endif
