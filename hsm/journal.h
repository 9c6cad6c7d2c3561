/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-hsmd's journal: an append-only, hash-chained file of CBOR entries, durable
 * before any result leaves the HSM, with checkpoints signed by the HSM identity key.
 *
 * File: a sequence of frames  u32be(len) || entry || check(4), then zeros reserved for
 * the next frames (a zero len with only zeros after it ends the journal), where entry is the CBOR
 * map {1: seq, 2: prev-hash, 3: time, 4: type, 5: body} and check is the first four
 * bytes of SHA-256(entry). seq starts at 0 (the genesis entry) and has no gaps;
 * prev-hash is SHA-256 of the previous entry's bytes (32 zero bytes for genesis).
 * A checkpoint's body holds an ES256 signature by the identity key (from the genesis
 * entry) over SHA-256("writ-journal-checkpoint" || u64be(seq) || prev-hash).
 *
 * Opening verifies everything. A final frame that is incomplete or fails its check is a
 * torn write and is zeroed (and reported); anything else that does not verify makes
 * the open fail with WRIT_E_JOURNAL, and nothing is repaired.
 *
 * Appends are group-committed: concurrent callers share one write + fdatasync, and
 * each caller returns only once its own entry is on disk.
 */
#ifndef WRIT_HSM_JOURNAL_H
#define WRIT_HSM_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include <cbor.h>

#include "base/err.h"
#include "base/keyops.h"
#include "wire/jentry.h"

/* The entry types (JT_*) and JOURNAL_MAX_ENTRY: wire/jentry.h, the one reader and
 * writer of the entry format. */
#define JOURNAL_CHECKPOINT_EVERY 1024

struct journal;

struct journal_entry {
	uint64_t seq;
	int64_t time;
	uint32_t type;
	const cbor_item_t *body; /* the body map; valid during the callback only */
	uint8_t hash[32];
};

/* Called for each verified entry in order while opening. Non-zero stops the open. */
typedef int (*journal_replay_fn)(void *ctx, const struct journal_entry *e);

struct journal_open_info {
	uint64_t entries;      /* entries that verified */
	uint64_t torn_bytes;   /* bytes of a torn tail, zeroed at open (0 if none) */
	uint64_t checkpoints;  /* signed checkpoints that verified */
	int64_t max_time;      /* the latest time any entry recorded */
};

/* Create a new journal at path (must not exist) with a genesis entry and a first
 * checkpoint signed by signer (whose pub must equal the genesis identity pub). */
WRIT_MUST_CHECK int journal_create(const char *path, const cbor_item_t *genesis_body, int64_t now,
				   const struct writ_signer *signer);

/* Open and verify. signer may be NULL for read-only use (no appends). */
WRIT_MUST_CHECK int journal_open(const char *path, const struct writ_signer *signer, journal_replay_fn fn,
				 void *ctx, struct journal **ret, struct journal_open_info *ret_info);
void journal_close(struct journal *j); /* accepts NULL; appends a checkpoint if possible */

/* Append one entry (the body is serialized; the caller keeps its reference) and wait
 * until it is durable. Thread-safe. WRIT_E_IO if the disk failed: from then on every
 * append fails and the daemon must restart. *ret_seq may be NULL. */
WRIT_MUST_CHECK int journal_append(struct journal *j, uint32_t type, int64_t now, const cbor_item_t *body,
				   uint64_t *ret_seq);

/* Append n entries of one type in order, with one wait for durability (group commit
 * within the caller's own batch). ret_seqs (may be NULL) receives each entry's seq. On
 * failure some entries may be on disk: the caller must count them all and release none. */
WRIT_MUST_CHECK int journal_append_many(struct journal *j, uint32_t type, int64_t now, cbor_item_t *const *bodies,
					size_t n, uint64_t *ret_seqs);

/* As journal_append_many, with each entry's type in types[i]. */
WRIT_MUST_CHECK int journal_append_typed(struct journal *j, const uint32_t *types, int64_t now,
					 cbor_item_t *const *bodies, size_t n, uint64_t *ret_seqs);

/* The first half of journal_append_typed: queue the entries (their seqs are assigned,
 * the chain extends) without waiting for the disk. *ret_last is the seq of the last
 * entry queued, or JOURNAL_NONE if none was. Entries queued become durable with the
 * next group commit, whoever leads it; journal_wait(*ret_last) waits for that. On
 * failure some entries may have been queued: the caller must count them all and
 * release none. */
#define JOURNAL_NONE UINT64_MAX
WRIT_MUST_CHECK int journal_enqueue_typed(struct journal *j, const uint32_t *types, int64_t now,
					  cbor_item_t *const *bodies, size_t n, uint64_t *ret_seqs,
					  uint64_t *ret_last);

/* Wait until every entry up to seq is durable, leading a group commit if nobody is.
 * WRIT_E_IO if the journal failed. */
WRIT_MUST_CHECK int journal_wait(struct journal *j, uint64_t seq);

/* Append a signed checkpoint and wait until durable. */
WRIT_MUST_CHECK int journal_checkpoint(struct journal *j, int64_t now);

/* Sign the journal up to now: append a checkpoint if, and only if, any entry was
 * appended since the last one, and wait until the latest checkpoint is durable.
 * Returns 1 if it wrote one, 0 if there was nothing to sign, or a negative error;
 * *ret_next is the next durable seq and *ret_checkpoint the latest checkpoint's seq. */
WRIT_MUST_CHECK int journal_checkpoint_now(struct journal *j, int64_t now, uint64_t *ret_next,
					   uint64_t *ret_checkpoint);

/* Durable entries: next sequence number, and the latest time recorded. */
/* Called by the commit leader after each batch is on disk and before anyone waiting for
 * it is answered, with the new durable length (every seq below next). Non-zero fails the
 * journal like a disk error. Set once, before serving; fn NULL removes it. */
typedef int (*journal_anchor_fn)(void *ctx, uint64_t next);
void journal_set_anchor(struct journal *j, journal_anchor_fn fn, void *ctx);

uint64_t journal_next_seq(struct journal *j);
int64_t journal_max_time(struct journal *j);

/* Raw entries (CBOR bytes) with seq in [since, since+max) that are durable, as a
 * CBOR array of byte strings. *ret is released with cbor_decref. */
WRIT_MUST_CHECK int journal_export(struct journal *j, uint64_t since, uint64_t max, cbor_item_t **ret);

#endif
