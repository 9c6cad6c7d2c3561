/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the journal entry codec (lib/wire/jentry.c) and of verifying runs of
 * entries away from the HSM (lib/wire/jseg.c). Journals are built here with software
 * keys through jentry_encode, the writer writ-hsmd uses; tests/integration/
 * hsm_checkpoint.sh verifies a journal written by the real writ-hsmd.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/ec.h"
#include "wire/cbu.h"
#include "wire/jseg.h"

#define MAXE 64

/* ---- a journal built in memory ---- */

struct jb {
	struct ec_soft_key *id_key, *other_key;
	struct writ_signer id, other;
	uint8_t hsm_id[32];
	uint8_t head[32];
	uint64_t next;
	int64_t t;
	uint8_t *e[MAXE];
	size_t len[MAXE];
	struct jseg_entry run[MAXE];
};

static const uint8_t WID[16] = { 0x01, 0x93, 0x7f, 0x2a, 0x5c, 0x10, 0x7b, 0x3e,
				 0x9a, 0x41, 0xd2, 0x6f, 0x08, 0xc4, 0x55, 0xe1 };

static void jb_add(struct jb *b, uint32_t type, cbor_item_t *body)
{
	assert_true(b->next < MAXE);
	assert_int_equal(jentry_encode(b->next, b->head, b->t++, type, body, &b->e[b->next], &b->len[b->next]), 0);
	assert_int_equal(ec_sha256(b->e[b->next], b->len[b->next], b->head), 0);
	b->run[b->next].bytes = b->e[b->next];
	b->run[b->next].len = b->len[b->next];
	b->next++;
	cbor_decref(&body);
}

static void jb_checkpoint_by(struct jb *b, const struct writ_signer *s)
{
	uint8_t d[32], sig[64];
	cbor_item_t *m = cbu_new_map(1);

	assert_int_equal(jentry_checkpoint_digest(b->next, b->head, d), 0);
	assert_int_equal(s->sign(s->ctx, d, sig), 0);
	assert_int_equal(cbu_put_bytes(m, 1, sig, 64), 0);
	jb_add(b, JT_CHECKPOINT, m);
}

static void jb_checkpoint(struct jb *b)
{
	jb_checkpoint_by(b, &b->id);
}

static cbor_item_t *genesis_body(const uint8_t id_pub[65], const uint8_t hsm_id[32])
{
	cbor_item_t *g = cbu_new_map(11);
	uint8_t pub[65], prefix[4] = { 0x41, 0x02, 0x03, 0x04 };

	memcpy(pub, id_pub, 65);
	pub[64] ^= 1; /* stands for the other keys: the verifier does not check them */
	assert_int_equal(cbu_put_bytes(g, 1, hsm_id, 32), 0);
	assert_int_equal(cbu_put_text(g, 2, "acme-sz1"), 0);
	assert_int_equal(cbu_put_bytes(g, 3, id_pub, 65), 0);
	assert_int_equal(cbu_put_bytes(g, 4, pub, 65), 0);
	assert_int_equal(cbu_put_bytes(g, 5, pub, 65), 0);
	assert_int_equal(cbu_put_bytes(g, 6, pub, 65), 0);
	assert_int_equal(cbu_put_bytes(g, 7, prefix, 4), 0);
	assert_int_equal(cbu_put_uint(g, 8, 300), 0);
	return g;
}

static cbor_item_t *dac_body(uint64_t index, int with_key)
{
	cbor_item_t *m = cbu_new_map(7);
	uint8_t uid[4] = { 0x0a, 0x0b, 0x0c, (uint8_t)index }, serial[12] = { 0x41, 2, 3, 4 }, h[32];

	serial[11] = (uint8_t)index;
	memset(h, (int)(0x60 + index), sizeof(h));
	/* put in a jumbled order: the writer sorts the keys */
	assert_int_equal(cbu_put_bytes(m, 6, h, 32), 0);
	assert_int_equal(cbu_put_bytes(m, 1, WID, 16), 0);
	assert_int_equal(cbu_put_uint(m, 2, index), 0);
	assert_int_equal(cbu_put_bytes(m, 3, uid, sizeof(uid)), 0);
	assert_int_equal(cbu_put_uint(m, 4, 100000 + index), 0);
	assert_int_equal(cbu_put_bytes(m, 5, serial, 12), 0);
	if (with_key) {
		memset(h, 0x77, sizeof(h));
		assert_int_equal(cbu_put_bytes(m, 7, h, 32), 0);
	}
	return m;
}

static void jb_genesis(struct jb *b, const struct writ_signer *s)
{
	assert_int_equal(ec_keyid(s->pub, b->hsm_id), 0);
	jb_add(b, JT_GENESIS, genesis_body(s->pub, b->hsm_id));
}

/* The standard journal: 0 genesis, 1 checkpoint, 2 start, 3 writ, 4 dac, 5 dac,
 * 6 reissue, 7 wrap, 8 checkpoint, 9 dac, 10 dac (an unsigned tail). */
static void jb_standard(struct jb *b)
{
	cbor_item_t *m;
	uint8_t uid[16], h[32];

	jb_genesis(b, &b->id);
	jb_checkpoint(b);
	m = cbu_new_map(1);
	assert_int_equal(cbu_put_text(m, 1, "writ-hsmd 0.1"), 0);
	jb_add(b, JT_START, m);
	m = cbu_new_map(2);
	assert_int_equal(cbu_put_bytes(m, 1, WID, 16), 0);
	assert_int_equal(cbu_put_bytes(m, 2, (const uint8_t *)"\xd2\x84signed-writ", 13), 0);
	jb_add(b, JT_WRIT, m);
	jb_add(b, JT_DAC, dac_body(0, 1));
	jb_add(b, JT_DAC, dac_body(1, 0));
	jb_add(b, JT_REISSUE, dac_body(0, 1));
	m = cbu_new_map(5);
	memset(uid, 0x0a, sizeof(uid));
	memset(h, 0x42, sizeof(h));
	assert_int_equal(cbu_put_bytes(m, 1, WID, 16), 0);
	assert_int_equal(cbu_put_bytes(m, 2, uid, 16), 0);
	assert_int_equal(cbu_put_text(m, 3, "ota-key"), 0);
	assert_int_equal(cbu_put_bytes(m, 4, h, 32), 0);
	assert_int_equal(cbu_put_bytes(m, 5, h, 32), 0);
	jb_add(b, JT_WRAP, m);
	jb_checkpoint(b);
	jb_add(b, JT_DAC, dac_body(2, 1));
	jb_add(b, JT_DAC, dac_body(3, 1));
}

static int setup(void **state)
{
	struct jb *b = calloc(1, sizeof(*b));

	assert_non_null(b);
	assert_int_equal(ec_soft_key_new(&b->id_key), 0);
	assert_int_equal(ec_soft_key_new(&b->other_key), 0);
	ec_soft_signer(b->id_key, &b->id);
	ec_soft_signer(b->other_key, &b->other);
	b->t = 1795455176;
	*state = b;
	return 0;
}

static int teardown(void **state)
{
	struct jb *b = *state;
	size_t i;

	for (i = 0; i < b->next; i++)
		free(b->e[i]);
	ec_soft_key_free(b->id_key);
	ec_soft_key_free(b->other_key);
	free(b);
	return 0;
}

/* ---- what the verifier is told ---- */

struct seen_log {
	uint64_t seq[MAXE];
	uint32_t type[MAXE];
	uint8_t hash[MAXE][32];
	struct jentry_body body[MAXE];
	size_t n;
	/* what the caller accepted before, by seq, for seen() */
	uint8_t stored[MAXE][32];
	uint64_t stored_n;
	size_t seen_calls;
	int fail_event_at; /* seq + 1 whose event fails, 0 for none */
};

static int on_event(void *ctx, const struct jseg_event *ev)
{
	struct seen_log *l = ctx;
	uint8_t h[32];

	assert_true(l->n < MAXE);
	assert_int_equal(ec_sha256(ev->bytes, ev->len, h), 0);
	assert_memory_equal(h, ev->hash, 32);
	if (l->fail_event_at && ev->seq + 1 == (uint64_t)l->fail_event_at)
		return WRIT_E_IO;
	l->seq[l->n] = ev->seq;
	l->type[l->n] = ev->body.type;
	memcpy(l->hash[l->n], ev->hash, 32);
	l->body[l->n] = ev->body;
	l->n++;
	return 0;
}

static int on_seen(void *ctx, uint64_t seq, const uint8_t hash[32])
{
	struct seen_log *l = ctx;

	l->seen_calls++;
	if (seq >= l->stored_n)
		return WRIT_E_NOTFOUND;
	return memcmp(l->stored[seq], hash, 32) == 0 ? 0 : 1;
}

static void verifier(const struct jb *b, struct jseg_verifier *v, struct seen_log *l)
{
	memset(v, 0, sizeof(*v));
	memcpy(v->identity_pub, b->id.pub, 65);
	assert_int_equal(ec_keyid(b->id.pub, v->hsm_id), 0);
	v->event = on_event;
	v->ctx = l;
	memset(l, 0, sizeof(*l));
}

/* Store what a verification accepted, as a caller would. */
static void store(struct seen_log *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		memcpy(l->stored[l->seq[i]], l->hash[i], 32);
		l->stored_n = l->seq[i] + 1;
	}
}

/* ---- tests ---- */

static void test_valid_run(void **state)
{
	struct jb *b = *state;
	struct jseg_verifier v;
	struct jseg_result r;
	struct jseg_why why;
	struct seen_log l;

	jb_standard(b);
	verifier(b, &v, &l);
	assert_int_equal(jseg_verify(&v, b->run, b->next, &r, &why), 0);
	assert_int_equal(r.duplicates, 0);
	assert_int_equal(r.accepted, 9); /* 0..8: up to the last checkpoint */
	assert_int_equal(r.tail, 2);     /* 9, 10: not signed yet */
	assert_int_equal(r.cursor.next, 9);
	assert_memory_equal(r.cursor.hash, l.hash[8], 32);
	assert_int_equal(why.fault, JSEG_UNSIGNED);
	assert_non_null(strstr(why.text, "9..10"));
	/* the events: in order, nothing of the tail */
	assert_int_equal(l.n, 9);
	assert_int_equal(l.type[0], JT_GENESIS);
	assert_memory_equal(l.body[0].u.genesis.identity_pub, b->id.pub, 65);
	assert_memory_equal(l.body[0].u.genesis.hsm_id, b->hsm_id, 32);
	assert_string_equal(l.body[0].u.genesis.factory, "acme-sz1");
	assert_int_equal(l.body[0].u.genesis.tolerance, 300);
	assert_int_equal(l.type[1], JT_CHECKPOINT);
	assert_int_equal(l.type[2], JT_START);
	assert_string_equal(l.body[2].u.start.version, "writ-hsmd 0.1");
	assert_int_equal(l.type[3], JT_WRIT);
	assert_memory_equal(l.body[3].u.writ.id, WID, 16);
	assert_int_equal(l.body[3].u.writ.sealed, 0);
	assert_int_equal(l.body[3].u.writ.len, 13);
	assert_int_equal(l.type[4], JT_DAC);
	assert_int_equal(l.body[4].u.dac.index, 0);
	assert_int_equal(l.body[4].u.dac.device_serial, 100000);
	assert_int_equal(l.body[4].u.dac.uid_len, 4);
	assert_int_equal(l.body[4].u.dac.has_key, 1);
	assert_int_equal(l.body[4].u.dac.dac_serial[11], 0);
	assert_int_equal(l.body[5].u.dac.index, 1);
	assert_int_equal(l.body[5].u.dac.has_key, 0);
	assert_int_equal(l.type[6], JT_REISSUE);
	assert_int_equal(l.body[6].u.dac.device_serial, 100000);
	assert_int_equal(l.type[7], JT_WRAP);
	assert_string_equal(l.body[7].u.wrap.label, "ota-key");
	assert_int_equal(l.type[8], JT_CHECKPOINT);
	assert_int_equal(l.seq[8], 8);

	/* the next push: the tail again, once signed, continues from the cursor */
	jb_checkpoint(b); /* 11 */
	v.cursor = r.cursor;
	l.n = 0;
	assert_int_equal(jseg_verify(&v, b->run + 9, 3, &r, &why), 0);
	assert_int_equal(r.accepted, 3);
	assert_int_equal(r.tail, 0);
	assert_int_equal(r.cursor.next, 12);
	assert_int_equal(why.fault, JSEG_OK);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.seq[0], 9);
	assert_int_equal(l.body[0].u.dac.index, 2);
}

static void test_no_checkpoint_accepts_nothing(void **state)
{
	struct jb *b = *state;
	struct jseg_verifier v;
	struct jseg_result r;
	struct jseg_why why;
	struct seen_log l;

	jb_standard(b);
	verifier(b, &v, &l);
	assert_int_equal(jseg_verify(&v, b->run, 9, &r, &why), 0);
	/* from the cursor at 9, the run 9..10 carries no checkpoint */
	v.cursor = r.cursor;
	l.n = 0;
	assert_int_equal(jseg_verify(&v, b->run + 9, 2, &r, &why), 0);
	assert_int_equal(r.accepted, 0);
	assert_int_equal(r.tail, 2);
	assert_int_equal(r.cursor.next, 9);
	assert_memory_equal(r.cursor.hash, v.cursor.hash, 32);
	assert_int_equal(why.fault, JSEG_UNSIGNED);
	assert_int_equal(l.n, 0); /* nothing reported */
	/* an empty run is nothing to do */
	assert_int_equal(jseg_verify(&v, b->run, 0, &r, &why), 0);
	assert_int_equal(r.accepted + r.tail + r.duplicates, 0);
	assert_int_equal(why.fault, JSEG_OK);
}

static void expect_refused(struct jb *b, const struct jseg_entry *run, size_t n, int err, enum jseg_fault f,
			   uint64_t seq)
{
	struct jseg_verifier v;
	struct jseg_result r;
	struct jseg_why why;
	struct seen_log l;

	verifier(b, &v, &l);
	memset(&r, 0xa5, sizeof(r));
	assert_int_equal(jseg_verify(&v, run, n, &r, &why), err);
	assert_int_equal(why.fault, f);
	assert_int_equal(why.seq, seq);
	assert_true(strlen(why.text) > 10);
	assert_int_equal(l.n, 0);              /* no event before the whole run verified */
	assert_int_equal(r.accepted, (size_t)0xa5a5a5a5a5a5a5a5ull); /* untouched */
}

static void test_gap_and_order(void **state)
{
	struct jb *b = *state;
	struct jseg_entry run[MAXE];

	jb_standard(b);
	jb_checkpoint(b); /* 11 */
	/* the run starts after the cursor (0) */
	expect_refused(b, b->run + 1, 8, WRIT_E_JOURNAL, JSEG_GAP, 0);
	/* seq 5 missing */
	memcpy(run, b->run, 5 * sizeof(run[0]));
	memcpy(run + 5, b->run + 6, 6 * sizeof(run[0]));
	expect_refused(b, run, 11, WRIT_E_JOURNAL, JSEG_SEQ, 5);
	/* 4 and 5 swapped */
	memcpy(run, b->run, 12 * sizeof(run[0]));
	run[4] = b->run[5];
	run[5] = b->run[4];
	expect_refused(b, run, 12, WRIT_E_JOURNAL, JSEG_SEQ, 4);
}

static void test_flipped_byte(void **state)
{
	struct jb *b = *state;
	uint8_t copy[1024];
	struct jseg_entry run[MAXE];
	size_t off;

	jb_standard(b);
	jb_checkpoint(b);
	memcpy(run, b->run, 12 * sizeof(run[0]));
	assert_true(b->len[4] < sizeof(copy));
	/* a byte in the DAC's digest: it still decodes, but entry 5 no longer chains to it */
	memcpy(copy, b->e[4], b->len[4]);
	copy[b->len[4] - 40] ^= 0x01;
	run[4].bytes = copy;
	expect_refused(b, run, 12, WRIT_E_JOURNAL, JSEG_CHAIN, 5);
	/* a byte of entry 4's prev: it no longer chains to entry 3 */
	memcpy(copy, b->e[4], b->len[4]);
	copy[10] ^= 0x80;
	expect_refused(b, run, 12, WRIT_E_JOURNAL, JSEG_CHAIN, 4);
	/* every byte of entry 4 flipped in turn: always refused, never accepted */
	for (off = 0; off < b->len[4]; off++) {
		struct jseg_verifier v;
		struct jseg_result r;
		struct jseg_why why;
		struct seen_log l;
		int err;
		memcpy(copy, b->e[4], b->len[4]);
		copy[off] ^= 0x20;
		verifier(b, &v, &l);
		err = jseg_verify(&v, run, 12, &r, &why);
		assert_true(err == WRIT_E_FORMAT || err == WRIT_E_JOURNAL);
		assert_int_equal(l.n, 0);
	}
}

static void test_checkpoint_other_key(void **state)
{
	struct jb *b = *state;

	jb_standard(b);
	jb_checkpoint_by(b, &b->other); /* 11: signed by another key */
	expect_refused(b, b->run, 12, WRIT_E_BADSIG, JSEG_SIG, 11);
}

static void test_genesis_other_identity(void **state)
{
	struct jb *b = *state;
	struct jseg_verifier v;
	struct jseg_result r;
	struct jseg_why why;
	struct seen_log l;
	uint8_t kid[32];

	/* a self-consistent journal of another HSM: genesis and checkpoints by its key */
	jb_genesis(b, &b->other);
	jb_checkpoint_by(b, &b->other);
	verifier(b, &v, &l); /* trusts b->id */
	assert_int_equal(jseg_verify(&v, b->run, 2, &r, &why), WRIT_E_JOURNAL);
	assert_int_equal(why.fault, JSEG_GENESIS);
	assert_int_equal(why.seq, 0);
	/* a verifier whose HSM id is not its key's */
	memset(v.hsm_id, 0, 32);
	assert_int_equal(jseg_verify(&v, b->run, 2, &r, &why), WRIT_E_INVAL);
	/* trusting the other key, it verifies */
	memcpy(v.identity_pub, b->other.pub, 65);
	assert_int_equal(ec_keyid(b->other.pub, kid), 0);
	memcpy(v.hsm_id, kid, 32);
	assert_int_equal(jseg_verify(&v, b->run, 2, &r, &why), 0);
	assert_int_equal(r.accepted, 2);
}

static void test_genesis_with_another_key_inside(void **state)
{
	struct jb *b = *state;
	cbor_item_t *g;

	/* the genesis names the trusted key but an HSM id that is not its id */
	memset(b->hsm_id, 0x11, 32);
	g = genesis_body(b->id.pub, b->hsm_id);
	jb_add(b, JT_GENESIS, g);
	jb_checkpoint(b);
	expect_refused(b, b->run, 2, WRIT_E_JOURNAL, JSEG_GENESIS, 0);
}

static void test_resend(void **state)
{
	struct jb *b = *state;
	struct jseg_verifier v;
	struct jseg_result r;
	struct jseg_why why;
	struct seen_log l;

	jb_standard(b);
	verifier(b, &v, &l);
	assert_int_equal(jseg_verify(&v, b->run, b->next, &r, &why), 0);
	store(&l);
	v.cursor = r.cursor; /* 9 */

	/* the same entries again: idempotent, without and with seen() */
	l.n = 0;
	assert_int_equal(jseg_verify(&v, b->run, 9, &r, &why), 0);
	assert_int_equal(r.duplicates, 9);
	assert_int_equal(r.accepted, 0);
	assert_int_equal(r.cursor.next, 9);
	assert_int_equal(l.n, 0);
	v.seen = on_seen;
	assert_int_equal(jseg_verify(&v, b->run + 3, 6, &r, &why), 0);
	assert_int_equal(r.duplicates, 6);
	assert_int_equal(l.seen_calls, 6);
	/* an overlap: 5..8 again, then 9..11 new */
	jb_checkpoint(b); /* 11 */
	assert_int_equal(jseg_verify(&v, b->run + 5, 7, &r, &why), 0);
	assert_int_equal(r.duplicates, 4);
	assert_int_equal(r.accepted, 3);
	assert_int_equal(r.cursor.next, 12);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.seq[0], 9);
	/* without seen(), entries that stop short of the cursor cannot be compared */
	v.seen = NULL;
	assert_int_equal(jseg_verify(&v, b->run + 2, 4, &r, &why), WRIT_E_REPLAY);
	assert_int_equal(why.fault, JSEG_STALE);
	assert_int_equal(why.seq, 2);
}

/* jb_add with a copy of another journal's entry (for a fork sharing a prefix). */
static void jb_copy(struct jb *to, const struct jb *from, uint64_t seq)
{
	assert_int_equal(to->next, seq);
	to->e[seq] = malloc(from->len[seq]);
	assert_non_null(to->e[seq]);
	memcpy(to->e[seq], from->e[seq], from->len[seq]);
	to->len[seq] = from->len[seq];
	to->run[seq].bytes = to->e[seq];
	to->run[seq].len = to->len[seq];
	assert_int_equal(ec_sha256(to->e[seq], to->len[seq], to->head), 0);
	to->next++;
}

static void test_fork(void **state)
{
	struct jb *b = *state;
	struct jb f;
	struct jseg_verifier v;
	struct jseg_result r;
	struct jseg_why why;
	struct seen_log l;
	uint64_t i;

	jb_standard(b);
	verifier(b, &v, &l);
	assert_int_equal(jseg_verify(&v, b->run, 9, &r, &why), 0);
	store(&l);
	v.cursor = r.cursor; /* 9 */

	/* another history, signed by the same key: 0..3 shared, then other DACs */
	memset(&f, 0, sizeof(f));
	f.id = b->id;
	f.t = 1795455176;
	for (i = 0; i < 4; i++)
		jb_copy(&f, b, i);
	jb_add(&f, JT_DAC, dac_body(7, 1));
	jb_add(&f, JT_DAC, dac_body(8, 1));
	jb_checkpoint(&f); /* 6 */
	jb_add(&f, JT_DAC, dac_body(9, 1));
	jb_checkpoint(&f); /* 8 */
	jb_add(&f, JT_DAC, dac_body(10, 1));
	jb_checkpoint(&f); /* 10 */
	/* on its own (a fresh cursor) it verifies: it is a real, signed history */
	{
		struct jseg_verifier v0;
		struct seen_log l0;
		verifier(b, &v0, &l0);
		assert_int_equal(jseg_verify(&v0, f.run, f.next, &r, &why), 0);
		assert_int_equal(r.accepted, 11);
	}
	/* with seen(): entry 4 is not the one accepted */
	v.seen = on_seen;
	l.n = 0;
	assert_int_equal(jseg_verify(&v, f.run + 3, 8, &r, &why), WRIT_E_REPLAY);
	assert_int_equal(why.fault, JSEG_FORK);
	assert_int_equal(why.seq, 4);
	assert_int_equal(l.n, 0);
	/* without seen(): entry 8 (the cursor's) has another hash */
	v.seen = NULL;
	assert_int_equal(jseg_verify(&v, f.run + 3, 8, &r, &why), WRIT_E_REPLAY);
	assert_int_equal(why.fault, JSEG_FORK);
	assert_int_equal(why.seq, 8);
	/* and the fork's entry 9 does not continue the cursor's chain */
	assert_int_equal(jseg_verify(&v, f.run + 9, 2, &r, &why), WRIT_E_JOURNAL);
	assert_int_equal(why.fault, JSEG_CHAIN);
	for (i = 0; i < f.next; i++)
		free(f.e[i]);
}

static void test_truncated_and_noncanonical(void **state)
{
	struct jb *b = *state;
	struct jseg_entry run[MAXE];
	uint8_t buf[1024], *legacy = NULL;
	size_t n, legacy_len = 0;
	struct jentry e;
	cbor_item_t *m;

	jb_standard(b);
	memcpy(run, b->run, 9 * sizeof(run[0]));
	/* every truncation of entry 4 */
	for (n = 0; n < b->len[4]; n++) {
		run[4].len = n;
		expect_refused(b, run, 9, WRIT_E_FORMAT, JSEG_FORMAT, 4);
	}
	run[4].len = b->len[4];
	/* a trailing byte */
	memcpy(buf, b->e[4], b->len[4]);
	buf[b->len[4]] = 0;
	run[4].bytes = buf;
	run[4].len = b->len[4] + 1;
	expect_refused(b, run, 9, WRIT_E_FORMAT, JSEG_FORMAT, 4);
	/* seq 4 in a longer head than needed (0x18 0x04 for 0x04): same meaning, not canonical */
	assert_int_equal(b->e[4][0], 0xa5);
	assert_int_equal(b->e[4][1], 0x01);
	assert_int_equal(b->e[4][2], 0x04);
	buf[0] = 0xa5;
	buf[1] = 0x01;
	buf[2] = 0x18;
	buf[3] = 0x04;
	memcpy(buf + 4, b->e[4] + 3, b->len[4] - 3);
	run[4].len = b->len[4] + 1;
	assert_int_equal(jentry_decode(buf, run[4].len, JENTRY_LEGACY, &e), 0);
	assert_int_equal(e.seq, 4);
	expect_refused(b, run, 9, WRIT_E_FORMAT, JSEG_FORMAT, 4);
	/* an indefinite-length body map */
	assert_int_equal(jentry_decode(b->e[2], b->len[2], 0, &e), 0);
	memcpy(buf, b->e[2], b->len[2]);
	buf[e.body - b->e[2]] = 0xbf;
	assert_int_equal(jentry_decode(buf, b->len[2], JENTRY_LEGACY, &e), WRIT_E_FORMAT);
	/* what libcbor writes (9-byte integer heads), as journals before the canonical
	 * writer hold: writ-hsmd still reads it (legacy), a verifier elsewhere does not */
	m = cbu_new_map(5);
	assert_int_equal(cbu_put_uint(m, 1, 2), 0);
	assert_int_equal(cbu_put_bytes(m, 2, b->head, 32), 0);
	assert_int_equal(cbu_put_int(m, 3, 1000), 0);
	assert_int_equal(cbu_put_uint(m, 4, JT_START), 0);
	{
		cbor_item_t *body = cbu_new_map(1);
		assert_int_equal(cbu_put_text(body, 1, "writ-hsmd 0.1"), 0);
		assert_int_equal(cbu_put_item(m, 5, body), 0);
		cbor_decref(&body);
	}
	assert_int_equal(cbu_serialize(m, &legacy, &legacy_len), 0);
	cbor_decref(&m);
	assert_int_equal(legacy[1], 0x1b); /* a 9-byte head for key 1 */
	assert_int_equal(jentry_decode(legacy, legacy_len, 0, &e), WRIT_E_FORMAT);
	assert_int_equal(jentry_decode(legacy, legacy_len, JENTRY_LEGACY, &e), 0);
	assert_int_equal(e.seq, 2);
	assert_int_equal(e.time, 1000);
	assert_int_equal(e.type, JT_START);
	free(legacy);
}

static void test_oversized(void **state)
{
	struct jb *b = *state;
	struct jseg_entry *run = calloc(JSEG_MAX_ENTRIES + 1, sizeof(*run));
	struct jseg_entry big[2];
	size_t i;

	assert_non_null(run);
	jb_standard(b);
	for (i = 0; i < JSEG_MAX_ENTRIES + 1; i++)
		run[i] = b->run[0];
	expect_refused(b, run, JSEG_MAX_ENTRIES + 1, WRIT_E_TOOBIG, JSEG_TOOBIG, 0);
	free(run);
	big[0] = b->run[0];
	big[1].bytes = b->e[1];
	big[1].len = JOURNAL_MAX_ENTRY + 1;
	expect_refused(b, big, 2, WRIT_E_TOOBIG, JSEG_TOOBIG, 1);
}

static void test_event_failure_and_bad_verifier(void **state)
{
	struct jb *b = *state;
	struct jseg_verifier v;
	struct jseg_result r;
	struct jseg_why why;
	struct seen_log l;

	jb_standard(b);
	verifier(b, &v, &l);
	l.fail_event_at = 4; /* seq 3 */
	memset(&r, 0, sizeof(r));
	assert_int_equal(jseg_verify(&v, b->run, b->next, &r, &why), WRIT_E_IO);
	assert_int_equal(why.fault, JSEG_CALLBACK);
	assert_int_equal(why.seq, 3);
	assert_int_equal(r.accepted, 0);
	/* a cursor at 0 with a hash */
	l.fail_event_at = 0;
	v.cursor.hash[0] = 1;
	assert_int_equal(jseg_verify(&v, b->run, b->next, &r, &why), WRIT_E_INVAL);
}

/* ---- the entry codec on its own ---- */

static void test_body_cddl(void **state)
{
	struct jb *b = *state;
	struct jentry e;
	struct jentry_body body;
	uint8_t *buf = NULL, zero[32] = { 0 }, big[65];
	size_t len = 0;
	cbor_item_t *m, *arr;

	(void)b;
	memset(big, 4, sizeof(big));
	/* a checkpoint body with a signature of 63 bytes */
	m = cbu_new_map(1);
	assert_int_equal(cbu_put_bytes(m, 1, big, 63), 0);
	assert_int_equal(jentry_encode(5, zero, 1, JT_CHECKPOINT, m, &buf, &len), 0);
	cbor_decref(&m);
	assert_int_equal(jentry_decode(buf, len, 0, &e), 0);
	assert_int_equal(jentry_body_decode(&e, &body), WRIT_E_FORMAT);
	free(buf);
	/* a dac body without key 6 */
	m = dac_body(1, 1);
	{
		struct cbor_pair *p = cbor_map_handle(m);
		cbor_decref(&p[0].value); /* key 6 was put first */
		p[0].value = cbor_build_uint8(1);
	}
	assert_int_equal(jentry_encode(5, zero, 1, JT_DAC, m, &buf, &len), 0);
	cbor_decref(&m);
	assert_int_equal(jentry_decode(buf, len, 0, &e), 0);
	assert_int_equal(jentry_body_decode(&e, &body), WRIT_E_FORMAT);
	free(buf);
	/* a reissue must carry the key digest */
	m = dac_body(1, 0);
	assert_int_equal(jentry_encode(5, zero, 1, JT_REISSUE, m, &buf, &len), 0);
	assert_int_equal(jentry_decode(buf, len, 0, &e), 0);
	assert_int_equal(jentry_body_decode(&e, &body), WRIT_E_FORMAT);
	free(buf);
	/* … while a dac need not */
	assert_int_equal(jentry_encode(5, zero, 1, JT_DAC, m, &buf, &len), 0);
	cbor_decref(&m);
	assert_int_equal(jentry_decode(buf, len, 0, &e), 0);
	assert_int_equal(jentry_body_decode(&e, &body), 0);
	assert_int_equal(body.u.dac.has_key, 0);
	free(buf);
	/* a writ body with both 2 and 3 */
	m = cbu_new_map(3);
	assert_int_equal(cbu_put_bytes(m, 1, WID, 16), 0);
	assert_int_equal(cbu_put_bytes(m, 2, big, 10), 0);
	assert_int_equal(cbu_put_bytes(m, 3, big, 10), 0);
	assert_int_equal(jentry_encode(5, zero, 1, JT_WRIT, m, &buf, &len), 0);
	cbor_decref(&m);
	assert_int_equal(jentry_decode(buf, len, 0, &e), 0);
	assert_int_equal(jentry_body_decode(&e, &body), WRIT_E_FORMAT);
	free(buf);
	/* a factory with a byte outside the name alphabet */
	m = genesis_body(b->id.pub, zero);
	{
		struct cbor_pair *p = cbor_map_handle(m);
		cbor_decref(&p[1].value);
		p[1].value = cbor_build_string("acme sz1");
	}
	assert_int_equal(jentry_encode(0, zero, 1, JT_GENESIS, m, &buf, &len), 0);
	cbor_decref(&m);
	assert_int_equal(jentry_decode(buf, len, 0, &e), 0);
	assert_int_equal(jentry_body_decode(&e, &body), WRIT_E_FORMAT);
	free(buf);

	/* what the writer refuses: what the reader would */
	m = cbu_new_map(1);
	assert_int_equal(cbu_put_uint(m, 16, 1), 0); /* key out of range */
	assert_int_equal(jentry_encode(5, zero, 1, JT_START, m, &buf, &len), WRIT_E_INVAL);
	cbor_decref(&m);
	m = cbu_new_map(2);
	assert_int_equal(cbu_put_uint(m, 1, 1), 0);
	assert_int_equal(cbu_put_uint(m, 1, 2), 0); /* a duplicate key */
	assert_int_equal(jentry_encode(5, zero, 1, JT_START, m, &buf, &len), WRIT_E_INVAL);
	cbor_decref(&m);
	m = cbu_new_map(1);
	arr = cbor_new_definite_array(0);
	assert_int_equal(cbu_put_item(m, 1, arr), 0); /* nested */
	cbor_decref(&arr);
	assert_int_equal(jentry_encode(5, zero, 1, JT_START, m, &buf, &len), WRIT_E_INVAL);
	assert_int_equal(jentry_encode(0, zero, 1, JT_START, m, &buf, &len), WRIT_E_INVAL); /* seq 0 not genesis */
	cbor_decref(&m);
	/* an entry over JOURNAL_MAX_ENTRY */
	{
		uint8_t *huge = calloc(1, JOURNAL_MAX_ENTRY);
		assert_non_null(huge);
		m = cbu_new_map(2);
		assert_int_equal(cbu_put_bytes(m, 1, WID, 16), 0);
		assert_int_equal(cbu_put_bytes(m, 2, huge, JOURNAL_MAX_ENTRY), 0);
		assert_int_equal(jentry_encode(5, zero, 1, JT_WRIT, m, &buf, &len), WRIT_E_TOOBIG);
		cbor_decref(&m);
		free(huge);
	}
	/* negative time */
	m = cbu_new_map(1);
	assert_int_equal(cbu_put_text(m, 1, "v"), 0);
	assert_int_equal(jentry_encode(5, zero, -5, JT_START, m, &buf, &len), 0);
	cbor_decref(&m);
	assert_int_equal(jentry_decode(buf, len, 0, &e), 0);
	assert_int_equal(e.time, -5);
	free(buf);
}

/* The rollback anchor in the genesis (issue 8): keys 9 and 10 together, or neither. */
static void test_genesis_anchor(void **state)
{
	struct jb *b = *state;
	struct jentry e;
	struct jentry_body body;
	uint8_t *buf = NULL, zero[32] = { 0 };
	size_t len = 0;
	cbor_item_t *m;
	static const struct {
		int put9, put10;
		uint64_t nv;
		int want;
	} cases[] = {
		{ 0, 0, 0, 0 },                         /* no anchor: backend none */
		{ 1, 1, 0x01812345, 0 },                /* a TPM NV counter and its base */
		{ 1, 0, 0x01812345, WRIT_E_FORMAT },    /* an index without its base */
		{ 0, 1, 0, WRIT_E_FORMAT },             /* a base without an index */
		{ 1, 1, 0, WRIT_E_FORMAT },             /* index 0 */
		{ 1, 1, 0x100000000ull, WRIT_E_FORMAT }, /* not a 32-bit TPM handle */
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		m = genesis_body(b->id.pub, zero);
		if (cases[i].put9)
			assert_int_equal(cbu_put_uint(m, 9, cases[i].nv), 0);
		if (cases[i].put10)
			assert_int_equal(cbu_put_uint(m, 10, 77), 0);
		assert_int_equal(jentry_encode(0, zero, 1, JT_GENESIS, m, &buf, &len), 0);
		cbor_decref(&m);
		assert_int_equal(jentry_decode(buf, len, 0, &e), 0);
		assert_int_equal(jentry_body_decode(&e, &body), cases[i].want);
		if (cases[i].want == 0) {
			assert_int_equal(body.u.genesis.anchor_nv, (uint32_t)cases[i].nv);
			assert_int_equal(body.u.genesis.anchor_base, cases[i].put10 ? 77 : 0);
		}
		free(buf);
	}
}

/* Where the key-agreement key is (issue 8, --kex tpm): key 11 is "tpm" or absent. */
static void test_genesis_kex(void **state)
{
	struct jb *b = *state;
	struct jentry e;
	struct jentry_body body;
	uint8_t *buf = NULL, zero[32] = { 0 };
	size_t len = 0;
	cbor_item_t *m;
	static const struct {
		const char *kex; /* NULL: absent */
		int anchor, want, want_tpm;
	} cases[] = {
		{ NULL, 0, 0, 0 },            /* the token's key */
		{ "tpm", 0, 0, 1 },           /* a TPM key */
		{ "tpm", 1, 0, 1 },           /* a TPM key and the TPM anchor */
		{ "token", 0, WRIT_E_FORMAT, 0 }, /* the default is never spelt out */
		{ "TPM", 0, WRIT_E_FORMAT, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		m = genesis_body(b->id.pub, zero);
		if (cases[i].anchor) {
			assert_int_equal(cbu_put_uint(m, 9, 0x01812345), 0);
			assert_int_equal(cbu_put_uint(m, 10, 5), 0);
		}
		if (cases[i].kex)
			assert_int_equal(cbu_put_text(m, 11, cases[i].kex), 0);
		assert_int_equal(jentry_encode(0, zero, 1, JT_GENESIS, m, &buf, &len), 0);
		cbor_decref(&m);
		assert_int_equal(jentry_decode(buf, len, 0, &e), 0);
		assert_int_equal(jentry_body_decode(&e, &body), cases[i].want);
		if (cases[i].want == 0)
			assert_int_equal(body.u.genesis.kex_tpm, cases[i].want_tpm);
		free(buf);
	}
	/* a number where the text belongs */
	m = genesis_body(b->id.pub, zero);
	assert_int_equal(cbu_put_uint(m, 11, 1), 0);
	assert_int_equal(jentry_encode(0, zero, 1, JT_GENESIS, m, &buf, &len), 0);
	cbor_decref(&m);
	assert_int_equal(jentry_decode(buf, len, 0, &e), 0);
	assert_int_equal(jentry_body_decode(&e, &body), WRIT_E_FORMAT);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_valid_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_genesis_kex, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_checkpoint_accepts_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gap_and_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flipped_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_other_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_genesis_other_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_genesis_with_another_key_inside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fork, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_and_noncanonical, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_failure_and_bad_verifier, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_cddl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_genesis_anchor, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
