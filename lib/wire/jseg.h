/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Verify a run of writ-hsmd journal entries away from the HSM (the cloud ingesting
 * what a factory pushes): authenticity (checkpoint signatures under the HSM's identity
 * key), completeness (contiguous seqs, every prev the hash of the entry before) and
 * uniqueness (a re-sent entry must be the one accepted before). No token, no files,
 * no allocation. docs/writ-format.md, "Verifying a journal elsewhere".
 *
 * The verifier keeps a cursor per HSM: the seq it expects next and the hash of the
 * entry before it. Only entries up to and including the run's last checkpoint are
 * accepted; the new cursor is just after that checkpoint. What follows it (the
 * unsigned tail) is left for a later run, once the HSM has signed it (op 7,
 * docs/hsm-api.md).
 */
#ifndef WRIT_WIRE_JSEG_H
#define WRIT_WIRE_JSEG_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/keyops.h"
#include "wire/jentry.h"

#define JSEG_MAX_ENTRIES 8192 /* entries in one run; each at most JOURNAL_MAX_ENTRY bytes */
#define JSEG_WHY_MAX 200

/* Where the verifier stands: the next seq it expects and the SHA-256 of entry next-1
 * (for a fresh HSM next = 0 and hash = 32 zero bytes). */
struct jseg_cursor {
	uint64_t next;
	uint8_t hash[32];
};

/* One entry's bytes, exactly as op 4 (journal) returns them. */
struct jseg_entry {
	const uint8_t *bytes;
	size_t len;
};

/* What one accepted entry says; pointers are into the caller's entry bytes. */
struct jseg_event {
	size_t index;           /* its position in the run */
	uint64_t seq;
	int64_t time;
	uint8_t hash[32];       /* SHA-256 of the entry: the prev of the next one */
	const uint8_t *bytes;   /* the entry, as given */
	size_t len;
	struct jentry_body body; /* body.type is the entry type (JT_*) */
};

/* An entry of the run with seq < cursor.next, i.e. sent before. Return 0 if hash is
 * the hash of the entry the caller accepted for seq (a re-send: skipped), 1 if the
 * caller accepted other bytes for seq (a fork: jseg_verify stops with WRIT_E_REPLAY),
 * or a negative writ_err to stop with it. */
typedef int (*jseg_seen_fn)(void *ctx, uint64_t seq, const uint8_t hash[32]);
/* One accepted entry, in seq order, only once the whole run verified. Return 0, or a
 * negative writ_err to stop (jseg_verify returns it). */
typedef int (*jseg_event_fn)(void *ctx, const struct jseg_event *ev);

/* What the caller trusts about this HSM, and how to reach it. */
struct jseg_verifier {
	struct jseg_cursor cursor;
	uint8_t identity_pub[WRIT_P256_PUB_LEN]; /* learnt at enrolment */
	uint8_t hsm_id[WRIT_KEYID_LEN];          /* SHA-256 of identity_pub */
	jseg_seen_fn seen;                       /* may be NULL (see jseg_verify) */
	jseg_event_fn event;                     /* may be NULL */
	void *ctx;
};

struct jseg_result {
	size_t duplicates;         /* run[0, duplicates): seq < cursor.next, the same as accepted before */
	size_t accepted;           /* run[duplicates, +accepted): verified, up to the last checkpoint */
	size_t tail;               /* the rest: after the last checkpoint, not accepted */
	struct jseg_cursor cursor; /* the new cursor (the old one if nothing was accepted) */
};

/* Why a run was refused, or left a tail: the kind, the seq at fault, one line. */
enum jseg_fault {
	JSEG_OK = 0,
	JSEG_UNSIGNED,  /* (success) entries after the last checkpoint were not accepted */
	JSEG_TOOBIG,    /* WRIT_E_TOOBIG: more than JSEG_MAX_ENTRIES, or an entry too long */
	JSEG_FORMAT,    /* WRIT_E_FORMAT: not a canonical entry per the CDDL */
	JSEG_GAP,       /* WRIT_E_JOURNAL: the run starts after the cursor: resume at cursor.next */
	JSEG_SEQ,       /* WRIT_E_JOURNAL: seqs in the run are not contiguous (missing, reordered) */
	JSEG_CHAIN,     /* WRIT_E_JOURNAL: a prev that is not the hash of the entry before */
	JSEG_GENESIS,   /* WRIT_E_JOURNAL: a genesis with another identity key or HSM id */
	JSEG_SIG,       /* WRIT_E_BADSIG: a checkpoint not signed by the identity key */
	JSEG_FORK,      /* WRIT_E_REPLAY: other bytes for a seq accepted before */
	JSEG_STALE,     /* WRIT_E_REPLAY: entries before the cursor that cannot be compared
			   (no seen callback, and the run stops short of cursor.next - 1) */
	JSEG_CALLBACK,  /* a callback's own error */
};
struct jseg_why {
	enum jseg_fault fault;
	uint64_t seq;
	char text[JSEG_WHY_MAX]; /* one line naming the seq; "" when fault is JSEG_OK */
};

/* Verify run[0, n) against v (nothing in v or run is modified).
 *
 * Every entry is decoded strictly (jentry_decode without JENTRY_LEGACY, then
 * jentry_body_decode), its seq is the one before it + 1, its prev the hash of the one
 * before (of the cursor for the entry at cursor.next), a genesis carries v's identity
 * key and HSM id, and every checkpoint verifies under v->identity_pub. Entries with
 * seq < cursor.next must come first and be what was accepted before: seen() is asked
 * about each; without it, they are accepted as re-sent only if they reach entry
 * cursor.next - 1 and its hash is cursor.hash (the chain then proves the others).
 *
 * On success (0): *ret says how far the run was accepted; event() was called for each
 * accepted entry after the whole run verified (never for duplicates or the tail). A
 * run without a checkpoint after the cursor accepts nothing (accepted = 0, fault
 * JSEG_UNSIGNED). On failure nothing was accepted and *ret is untouched; event() may
 * have been called only if it is what failed. *why is written on every return.
 * WRIT_E_INVAL for a verifier whose hsm_id is not the identity key's id or whose
 * cursor at 0 has a non-zero hash. */
WRIT_MUST_CHECK int jseg_verify(const struct jseg_verifier *v, const struct jseg_entry *run, size_t n,
				struct jseg_result *ret, struct jseg_why *why);

#endif
