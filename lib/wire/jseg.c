/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Verification of a run of journal entries outside the HSM (contract in jseg.h). Two
 * passes over the run: the first checks everything and finds the last checkpoint, the
 * second reports the accepted entries, so a caller never hears of an entry that a
 * later fault in the run would have refused. Nothing is allocated: the second pass
 * decodes and hashes again rather than keep per-entry state.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "crypto/ec.h"
#include "wire/jseg.h"

static int fault(struct jseg_why *why, int err, enum jseg_fault f, uint64_t seq, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int fault(struct jseg_why *why, int err, enum jseg_fault f, uint64_t seq, const char *fmt, ...)
{
	va_list ap;

	why->fault = f;
	why->seq = seq;
	va_start(ap, fmt);
	(void)!vsnprintf(why->text, sizeof(why->text), fmt, ap);
	va_end(ap);
	return err;
}

static int all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	size_t i;

	for (i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* The genesis names the HSM the verifier knows, and is consistent in itself. */
static int genesis_ok(const struct jseg_verifier *v, const struct jentry_genesis *g, struct jseg_why *why)
{
	uint8_t kid[WRIT_KEYID_LEN];

	if (memcmp(g->identity_pub, v->identity_pub, WRIT_P256_PUB_LEN) != 0)
		return fault(why, WRIT_E_JOURNAL, JSEG_GENESIS, 0, "genesis (seq 0) carries another identity key than "
			     "the one this HSM enrolled with");
	if (memcmp(g->hsm_id, v->hsm_id, WRIT_KEYID_LEN) != 0 || ec_keyid(g->identity_pub, kid) < 0 ||
	    memcmp(kid, g->hsm_id, WRIT_KEYID_LEN) != 0)
		return fault(why, WRIT_E_JOURNAL, JSEG_GENESIS, 0, "genesis (seq 0) names another HSM id than "
			     "SHA-256 of its identity key");
	return 0;
}

/* Decode entry i of the run strictly; hash it. */
static int read_entry(const struct jseg_entry *in, size_t i, uint64_t expect, struct jentry *e,
		      struct jentry_body *b, uint8_t hash[32], struct jseg_why *why)
{
	int err;

	if (in->len > JOURNAL_MAX_ENTRY)
		return fault(why, WRIT_E_TOOBIG, JSEG_TOOBIG, expect, "entry %zu of the run (seq %llu expected) is "
			     "%zu bytes, over %d", i, (unsigned long long)expect, in->len, JOURNAL_MAX_ENTRY);
	err = jentry_decode(in->bytes, in->len, 0, e);
	if (err < 0)
		return fault(why, WRIT_E_FORMAT, JSEG_FORMAT, expect, "entry %zu of the run (seq %llu expected) is "
			     "not a canonical journal entry", i, (unsigned long long)expect);
	if (jentry_body_decode(e, b) < 0)
		return fault(why, WRIT_E_FORMAT, JSEG_FORMAT, e->seq, "entry %llu (type %u) has a body that does "
			     "not follow the CDDL", (unsigned long long)e->seq, e->type);
	if (ec_sha256(in->bytes, in->len, hash) < 0)
		return fault(why, WRIT_E_CRYPTO, JSEG_FORMAT, e->seq, "SHA-256 failed");
	return 0;
}

int jseg_verify(const struct jseg_verifier *v, const struct jseg_entry *run, size_t n, struct jseg_result *ret,
		struct jseg_why *why)
{
	struct jentry e;
	struct jentry_body b;
	struct jseg_result res;
	uint8_t hash[32], prev_hash[32], kid[WRIT_KEYID_LEN];
	uint64_t first = 0, seq = 0, next;
	size_t i, first_new = n, last_cp = SIZE_MAX;
	int err;

	memset(why, 0, sizeof(*why));
	memset(&res, 0, sizeof(res));
	if (!v || (!run && n))
		return fault(why, WRIT_E_INVAL, JSEG_OK, 0, "no verifier or no entries");
	next = v->cursor.next;
	if (ec_p256_check_pub(v->identity_pub) < 0 || ec_keyid(v->identity_pub, kid) < 0 ||
	    memcmp(kid, v->hsm_id, WRIT_KEYID_LEN) != 0)
		return fault(why, WRIT_E_INVAL, JSEG_OK, next, "the verifier's HSM id is not the id of its identity key");
	if (next == 0 && !all_zero(v->cursor.hash, 32))
		return fault(why, WRIT_E_INVAL, JSEG_OK, 0, "a cursor at seq 0 has the hash of no entry (32 zeros)");
	if (n > JSEG_MAX_ENTRIES)
		return fault(why, WRIT_E_TOOBIG, JSEG_TOOBIG, next, "a run of %zu entries exceeds %d (from seq %llu)",
			     n, JSEG_MAX_ENTRIES, (unsigned long long)next);

	/* pass 1: everything, in order */
	for (i = 0; i < n; i++) {
		uint64_t expect = i == 0 ? next : seq + 1;
		err = read_entry(&run[i], i, expect, &e, &b, hash, why);
		if (err < 0)
			return err;
		if (i == 0 && e.seq > next)
			return fault(why, WRIT_E_JOURNAL, JSEG_GAP, next, "the run starts at seq %llu but seq %llu is "
				     "next: resend from %llu", (unsigned long long)e.seq, (unsigned long long)next,
				     (unsigned long long)next);
		if (i > 0 && e.seq != expect)
			return fault(why, WRIT_E_JOURNAL, JSEG_SEQ, expect, "entry %zu of the run has seq %llu where %llu "
				     "was expected (an entry missing or out of order)", i, (unsigned long long)e.seq,
				     (unsigned long long)expect);
		seq = e.seq;
		if (i == 0)
			first = seq;
		if (i > 0 && memcmp(e.prev, prev_hash, 32) != 0)
			return fault(why, WRIT_E_JOURNAL, JSEG_CHAIN, seq, "entry %llu does not chain to entry %llu (its "
				     "prev is not that entry's hash)", (unsigned long long)seq, (unsigned long long)seq - 1);
		if (i == 0 && seq == next && memcmp(e.prev, v->cursor.hash, 32) != 0)
			return fault(why, WRIT_E_JOURNAL, JSEG_CHAIN, seq, "entry %llu does not chain to the cursor (the "
				     "hash of entry %llu accepted before)", (unsigned long long)seq,
				     (unsigned long long)seq - 1);
		if (e.type == JT_GENESIS && (err = genesis_ok(v, &b.u.genesis, why)) < 0)
			return err;
		if (e.type == JT_CHECKPOINT &&
		    jentry_checkpoint_verify(v->identity_pub, seq, e.prev, b.u.checkpoint.sig) < 0)
			return fault(why, WRIT_E_BADSIG, JSEG_SIG, seq, "checkpoint %llu is not signed by this HSM's "
				     "identity key", (unsigned long long)seq);
		if (seq < next) {
			/* sent before: it must be what was accepted */
			if (seq == next - 1 && memcmp(hash, v->cursor.hash, 32) != 0)
				return fault(why, WRIT_E_REPLAY, JSEG_FORK, seq, "entry %llu differs from the one accepted "
					     "before (or an entry before it does): a fork", (unsigned long long)seq);
			if (v->seen) {
				err = v->seen(v->ctx, seq, hash);
				if (err == 1)
					return fault(why, WRIT_E_REPLAY, JSEG_FORK, seq, "entry %llu differs from the "
						     "one accepted before for that seq: a fork", (unsigned long long)seq);
				if (err != 0)
					return fault(why, err < 0 ? err : WRIT_E_INVAL, JSEG_CALLBACK, seq, "seen(%llu) "
						     "failed: %s", (unsigned long long)seq, writ_strerror(err));
			}
		} else {
			if (first_new == n)
				first_new = i;
			if (e.type == JT_CHECKPOINT) {
				last_cp = i;
				res.cursor.next = seq + 1;
				memcpy(res.cursor.hash, hash, 32);
			}
		}
		memcpy(prev_hash, hash, 32);
	}
	if (first_new > 0 && !v->seen && first + first_new - 1 != next - 1)
		return fault(why, WRIT_E_REPLAY, JSEG_STALE, first, "entries %llu..%llu were sent before and stop "
			     "short of seq %llu: they cannot be compared with what was accepted",
			     (unsigned long long)first, (unsigned long long)(first + first_new - 1),
			     (unsigned long long)next - 1);

	res.duplicates = first_new;
	if (last_cp == SIZE_MAX) {
		res.cursor = v->cursor;
		res.tail = n - first_new;
		if (res.tail)
			(void)fault(why, 0, JSEG_UNSIGNED, next, "entries %llu..%llu follow no checkpoint: not accepted "
				    "(ask the HSM for a checkpoint, op 7)", (unsigned long long)next,
				    (unsigned long long)seq);
		*ret = res;
		return 0;
	}
	res.accepted = last_cp - first_new + 1;
	res.tail = n - last_cp - 1;
	if (res.tail)
		(void)fault(why, 0, JSEG_UNSIGNED, res.cursor.next, "entries %llu..%llu follow the last checkpoint "
			    "(%llu): not accepted yet", (unsigned long long)res.cursor.next, (unsigned long long)seq,
			    (unsigned long long)res.cursor.next - 1);

	/* pass 2: report what was accepted */
	for (i = first_new; v->event && i <= last_cp; i++) {
		struct jseg_event ev;
		err = read_entry(&run[i], i, first + i, &e, &ev.body, ev.hash, why);
		if (err < 0)
			return err; /* the bytes changed under us */
		ev.index = i;
		ev.seq = e.seq;
		ev.time = e.time;
		ev.bytes = run[i].bytes;
		ev.len = run[i].len;
		err = v->event(v->ctx, &ev);
		if (err != 0)
			return fault(why, err < 0 ? err : WRIT_E_INVAL, JSEG_CALLBACK, e.seq, "event(%llu) failed: %s",
				     (unsigned long long)e.seq, writ_strerror(err));
	}
	*ret = res;
	return 0;
}
