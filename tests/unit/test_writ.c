/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of lib/wire/writ.c: the scope codec against an independent CBOR builder
 * kept in this file (byte-exact canonical form, every semantic rule, every way a strict
 * decoder must refuse input), and seal/open over real COSE with in-memory keys (wrong
 * recipient, unpinned signer, a scope naming another signer, corrupted bytes).
 * Run with no argument for the tests. Two helper modes feed the docs and the fuzzer:
 *   test_writ --example        print a production and a revocation scope in CBOR
 *                              diagnostic notation (docs/writ-format.md)
 *   test_writ --seeds DIR      write fuzz seeds (encoded, signed and sealed writs)
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "base/ct.h"
#include "crypto/cose.h"
#include "crypto/ec.h"
#include "wire/dbgcred.h"
#include "wire/writ.h"

/* ---- an independent CBOR builder: the canonical form written out by hand ---- */

#define TB_CAP 8192

struct tb {
	uint8_t b[TB_CAP];
	size_t n;
};

static void tb_raw(struct tb *t, const void *p, size_t n)
{
	assert_true(n <= TB_CAP - t->n);
	if (n)
		memcpy(t->b + t->n, p, n);
	t->n += n;
}

static void tb_byte(struct tb *t, uint8_t b)
{
	tb_raw(t, &b, 1);
}

static void tb_head(struct tb *t, unsigned major, uint64_t v)
{
	uint8_t mt = (uint8_t)(major << 5);
	int i;

	if (v < 24) {
		tb_byte(t, (uint8_t)(mt + v));
	} else if (v < 0x100) {
		tb_byte(t, mt + 24);
		tb_byte(t, (uint8_t)v);
	} else if (v < 0x10000) {
		tb_byte(t, mt + 25);
		for (i = 1; i >= 0; i--)
			tb_byte(t, (uint8_t)(v >> (8 * i)));
	} else if (v < 0x100000000ull) {
		tb_byte(t, mt + 26);
		for (i = 3; i >= 0; i--)
			tb_byte(t, (uint8_t)(v >> (8 * i)));
	} else {
		tb_byte(t, mt + 27);
		for (i = 7; i >= 0; i--)
			tb_byte(t, (uint8_t)(v >> (8 * i)));
	}
}

static void tb_int(struct tb *t, int64_t v)
{
	if (v < 0)
		tb_head(t, 1, (uint64_t)(-1 - v));
	else
		tb_head(t, 0, (uint64_t)v);
}

static void tb_bstr(struct tb *t, const void *p, size_t n)
{
	tb_head(t, 2, n);
	tb_raw(t, p, n);
}

static void tb_tstr(struct tb *t, const char *s, size_t n)
{
	tb_head(t, 3, n);
	tb_raw(t, s, n);
}

/* A scope as a list of (key, value) encodings that tests can edit before encoding. */
#define MAP_MAX 24
#define VAL_CAP 2048

struct entry {
	struct tb key;
	struct tb val;
};

struct map {
	struct entry e[MAP_MAX];
	size_t n;
};

static struct map *map_new(void)
{
	struct map *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	return m;
}

static struct tb *map_val(struct map *m, unsigned key)
{
	struct tb *v;

	assert_true(key >= 1 && key <= m->n);
	v = &m->e[key - 1].val;
	v->n = 0;
	return v;
}

static void map_from_scope(struct map *m, const struct writ_scope *s)
{
	size_t i;
	struct tb *v;

	m->n = 19;
	for (i = 0; i < 19; i++) {
		m->e[i].key.n = 0;
		tb_head(&m->e[i].key, 0, i + 1);
	}
	tb_bstr(map_val(m, WRIT_K_ID), s->id, WRIT_ID_LEN);
	tb_head(map_val(m, WRIT_K_KIND), 0, s->kind);
	tb_bstr(map_val(m, WRIT_K_ISSUER), s->issuer_kid, WRIT_KEYID_LEN);
	tb_tstr(map_val(m, WRIT_K_PRODUCT), s->product, strnlen(s->product, sizeof(s->product)));
	tb_head(map_val(m, WRIT_K_VID), 0, s->vid);
	tb_head(map_val(m, WRIT_K_PID), 0, s->pid);
	tb_bstr(map_val(m, WRIT_K_VERSION), s->version_digest, WRIT_DIGEST_LEN);
	tb_tstr(map_val(m, WRIT_K_FACTORY), s->factory, strnlen(s->factory, sizeof(s->factory)));
	tb_bstr(map_val(m, WRIT_K_HSM), s->hsm_id, WRIT_KEYID_LEN);
	tb_head(map_val(m, WRIT_K_QUANTITY), 0, s->quantity);
	v = map_val(m, WRIT_K_SERIALS);
	tb_head(v, 4, 2);
	tb_head(v, 0, s->serial_first);
	tb_head(v, 0, s->serial_last);
	tb_int(map_val(m, WRIT_K_NOT_BEFORE), s->not_before);
	tb_int(map_val(m, WRIT_K_NOT_AFTER), s->not_after);
	tb_head(map_val(m, WRIT_K_OPS), 0, s->ops);
	tb_bstr(map_val(m, WRIT_K_FIRMWARE), s->firmware_digest, WRIT_DIGEST_LEN);
	tb_bstr(map_val(m, WRIT_K_PAI), s->pai, s->pai_len);
	v = map_val(m, WRIT_K_REVOKES);
	tb_head(v, 4, s->n_revokes);
	for (i = 0; i < s->n_revokes && i < WRIT_MAX_REVOKES; i++)
		tb_bstr(v, s->revokes[i], WRIT_ID_LEN);
	tb_int(map_val(m, WRIT_K_ISSUED_AT), s->issued_at);
	tb_head(map_val(m, WRIT_K_DAC_DAYS), 0, s->dac_days);
}

static void map_remove(struct map *m, size_t idx)
{
	assert_true(idx < m->n);
	memmove(&m->e[idx], &m->e[idx + 1], (m->n - idx - 1) * sizeof(m->e[0]));
	m->n--;
}

/* Insert an entry at idx with a raw key and value encoding. */
static void map_insert(struct map *m, size_t idx, const void *key, size_t key_len, const void *val,
		       size_t val_len)
{
	assert_true(m->n < MAP_MAX && idx <= m->n);
	memmove(&m->e[idx + 1], &m->e[idx], (m->n - idx) * sizeof(m->e[0]));
	m->e[idx].key.n = 0;
	m->e[idx].val.n = 0;
	tb_raw(&m->e[idx].key, key, key_len);
	tb_raw(&m->e[idx].val, val, val_len);
	m->n++;
}

static void map_encode(const struct map *m, struct tb *out, bool indefinite)
{
	size_t i;

	out->n = 0;
	if (indefinite)
		tb_byte(out, 0xbf);
	else
		tb_head(out, 5, m->n);
	for (i = 0; i < m->n; i++) {
		tb_raw(out, m->e[i].key.b, m->e[i].key.n);
		tb_raw(out, m->e[i].val.b, m->e[i].val.n);
	}
	if (indefinite)
		tb_byte(out, 0xff);
}

/* Decode what the map encodes; on failure check that *ret was left alone. */
static int map_decode(const struct map *m, struct writ_scope *ret)
{
	static struct tb enc;
	struct writ_scope guard;
	int r;

	map_encode(m, &enc, false);
	memset(ret, 0xA5, sizeof(*ret));
	memcpy(&guard, ret, sizeof(guard));
	r = writ_scope_decode(enc.b, enc.n, ret);
	if (r < 0)
		assert_memory_equal(ret, &guard, sizeof(guard));
	return r;
}

/* ---- sample scopes ---- */

static void fill_bytes(uint8_t *p, size_t n, uint8_t seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + 7 * i);
}

static void copy_name(char dst[WRIT_NAME_MAX + 1], const char *src)
{
	size_t n = strlen(src);

	assert_true(n <= WRIT_NAME_MAX);
	memset(dst, 0, WRIT_NAME_MAX + 1);
	memcpy(dst, src, n);
}

/* Values chosen so every head size (1, 2, 3, 5 and 9 bytes) and both integer signs
 * occur somewhere. */
static void sample_production(struct writ_scope *s)
{
	memset(s, 0, sizeof(*s));
	fill_bytes(s->id, sizeof(s->id), 0x10);
	s->kind = WRIT_KIND_PRODUCTION;
	fill_bytes(s->issuer_kid, sizeof(s->issuer_kid), 0x20);
	copy_name(s->product, "acme.bulb-v2_EU");
	s->vid = 0xFFF1;
	s->pid = 0x8000;
	fill_bytes(s->version_digest, sizeof(s->version_digest), 0x30);
	copy_name(s->factory, "shenzhen-3");
	fill_bytes(s->hsm_id, sizeof(s->hsm_id), 0x40);
	s->quantity = 10000;
	s->serial_first = 5000000000ull;
	s->serial_last = 5000000000ull + 19999;
	s->not_before = 1767225600; /* 2026-01-01 */
	s->not_after = 1798761600;  /* 2027-01-01 */
	s->ops = WRIT_OP_ISSUE_DAC | WRIT_OP_WRAP_SECRET;
	fill_bytes(s->firmware_digest, sizeof(s->firmware_digest), 0x50);
	s->pai_len = 300;
	fill_bytes(s->pai, s->pai_len, 0x60);
	s->n_revokes = 2;
	fill_bytes(s->revokes[0], WRIT_ID_LEN, 0x70);
	fill_bytes(s->revokes[1], WRIT_ID_LEN, 0x80);
	s->issued_at = 1767139200;
	s->dac_days = 3650;
}

static void sample_revocation(struct writ_scope *s)
{
	memset(s, 0, sizeof(*s));
	fill_bytes(s->id, sizeof(s->id), 0x90);
	s->kind = WRIT_KIND_REVOCATION;
	fill_bytes(s->issuer_kid, sizeof(s->issuer_kid), 0x20);
	copy_name(s->product, "acme.bulb-v2_EU");
	s->vid = 0xFFF1;
	s->pid = 0x8000;
	fill_bytes(s->version_digest, sizeof(s->version_digest), 0x30);
	copy_name(s->factory, "shenzhen-3");
	fill_bytes(s->hsm_id, sizeof(s->hsm_id), 0x40);
	s->quantity = 0;
	s->serial_first = 0;
	s->serial_last = 0;
	s->not_before = -5; /* before the epoch: negative integers must survive */
	s->not_after = 1798761600;
	s->ops = 0;
	s->pai_len = 0;
	s->n_revokes = 1;
	fill_bytes(s->revokes[0], WRIT_ID_LEN, 0x10);
	s->issued_at = 1767139300;
	s->dac_days = 0;
}

static void assert_scope_equal(const struct writ_scope *a, const struct writ_scope *b)
{
	size_t i;

	assert_memory_equal(a->id, b->id, WRIT_ID_LEN);
	assert_int_equal(a->kind, b->kind);
	assert_memory_equal(a->issuer_kid, b->issuer_kid, WRIT_KEYID_LEN);
	assert_string_equal(a->product, b->product);
	assert_int_equal(a->vid, b->vid);
	assert_int_equal(a->pid, b->pid);
	assert_memory_equal(a->version_digest, b->version_digest, WRIT_DIGEST_LEN);
	assert_string_equal(a->factory, b->factory);
	assert_memory_equal(a->hsm_id, b->hsm_id, WRIT_KEYID_LEN);
	assert_true(a->quantity == b->quantity);
	assert_true(a->serial_first == b->serial_first);
	assert_true(a->serial_last == b->serial_last);
	assert_true(a->not_before == b->not_before);
	assert_true(a->not_after == b->not_after);
	assert_true(a->issued_at == b->issued_at);
	assert_int_equal(a->ops, b->ops);
	assert_memory_equal(a->firmware_digest, b->firmware_digest, WRIT_DIGEST_LEN);
	assert_int_equal(a->pai_len, b->pai_len);
	if (a->pai_len)
		assert_memory_equal(a->pai, b->pai, a->pai_len);
	assert_int_equal(a->dac_days, b->dac_days);
	assert_int_equal(a->n_revokes, b->n_revokes);
	for (i = 0; i < a->n_revokes; i++)
		assert_memory_equal(a->revokes[i], b->revokes[i], WRIT_ID_LEN);
}

/* Encode with the library, compare byte-exact with the independent builder, decode,
 * compare every field. */
static void roundtrip(const struct writ_scope *s)
{
	struct map *m = map_new();
	struct tb *want = calloc(1, sizeof(*want));
	struct writ_scope out;
	uint8_t *enc = NULL;
	size_t enc_len = 0;

	assert_non_null(want);
	assert_int_equal(writ_scope_encode(s, &enc, &enc_len), WRIT_OK);
	map_from_scope(m, s);
	map_encode(m, want, false);
	assert_int_equal(enc_len, want->n);
	assert_memory_equal(enc, want->b, enc_len);

	memset(&out, 0xEE, sizeof(out));
	assert_int_equal(writ_scope_decode(enc, enc_len, &out), WRIT_OK);
	assert_scope_equal(&out, s);
	free(enc);
	free(want);
	free(m);
}

/* ---- encode/decode ---- */

static void test_roundtrip_production(void **state)
{
	struct writ_scope s;
	uint8_t *enc = NULL;
	size_t enc_len = 0;

	sample_production(&s);
	roundtrip(&s);

	/* the first bytes pin the canonical form: map(19), 1: h'10 17 1e ...' */
	assert_int_equal(writ_scope_encode(&s, &enc, &enc_len), WRIT_OK);
	assert_true(enc_len > 4);
	assert_int_equal(enc[0], 0xb3);
	assert_int_equal(enc[1], 0x01);
	assert_int_equal(enc[2], 0x50);
	assert_int_equal(enc[3], 0x10);
	assert_int_equal(enc[4], 0x17);
	free(enc);
}

static void test_roundtrip_revocation(void **state)
{
	struct writ_scope s;

	sample_revocation(&s);
	roundtrip(&s);
}

static void test_roundtrip_edges(void **state)
{
	struct writ_scope s;
	size_t i;

	/* every bound at its maximum */
	sample_production(&s);
	memset(s.product, 'p', WRIT_NAME_MAX);
	s.product[WRIT_NAME_MAX] = '\0';
	memset(s.factory, 'F', WRIT_NAME_MAX);
	s.factory[WRIT_NAME_MAX] = '\0';
	s.pai_len = WRIT_PAI_MAX;
	fill_bytes(s.pai, s.pai_len, 3);
	s.n_revokes = WRIT_MAX_REVOKES;
	for (i = 0; i < WRIT_MAX_REVOKES; i++)
		fill_bytes(s.revokes[i], WRIT_ID_LEN, (uint8_t)i);
	s.serial_first = 0;
	s.serial_last = UINT64_MAX;
	s.quantity = UINT64_MAX;
	s.not_before = INT64_MIN;
	s.not_after = INT64_MAX;
	s.issued_at = INT64_MIN;
	s.vid = 0xFFFF;
	s.pid = 1;
	s.ops = WRIT_OPS_KNOWN & ~(uint32_t)WRIT_OP_DEBUG_UNLOCK; /* that one needs rework rights */
	s.dac_days = UINT32_MAX;
	roundtrip(&s);

	/* quantity exactly the size of the serial range, a one-serial range */
	sample_production(&s);
	s.serial_first = s.serial_last = 77;
	s.quantity = 1;
	roundtrip(&s);
	sample_production(&s);
	s.quantity = s.serial_last - s.serial_first + 1;
	roundtrip(&s);

	/* rework writs carry rework rights: test_rework_rights */

	/* a revocation may carry a PAI and the full set of revokes */
	sample_revocation(&s);
	s.pai_len = 1;
	s.pai[0] = 0x30;
	s.n_revokes = WRIT_MAX_REVOKES;
	roundtrip(&s);

	/* one-character names of each allowed class */
	sample_production(&s);
	copy_name(s.product, "-");
	copy_name(s.factory, "Zz09._-");
	roundtrip(&s);
}

/* Each case breaks one semantic rule; encode must refuse it, and the same bytes built
 * by hand must be refused by the decoder. */
enum { NO_BYTES = 0, HAS_BYTES = 1 };

#define expect_invalid(s, decode_too) expect_invalid_at((s), (decode_too), __LINE__)

static void expect_invalid_at(const struct writ_scope *s, int decode_too, int line)
{
	uint8_t *enc = (uint8_t *)0x1;
	size_t enc_len = 12345;
	struct writ_scope out;
	int r;

	r = writ_scope_encode(s, &enc, &enc_len);
	if (r != WRIT_E_INVAL)
		fail_msg("case at line %d: encode gave %d", line, r);
	assert_ptr_equal(enc, (uint8_t *)0x1);
	assert_int_equal(enc_len, 12345);
	if (decode_too) {
		struct map *m = map_new();

		map_from_scope(m, s);
		r = map_decode(m, &out);
		if (r != WRIT_E_FORMAT)
			fail_msg("case at line %d: decode gave %d", line, r);
		free(m);
	}
}

static void test_semantic_rules(void **state)
{
	struct writ_scope s;
	static const char *const bad_names[] = { "", "a b", "a/b", "a:b", "caf\xc3\xa9", "x\ty", "a+b", "\x7f" };
	size_t i;

	sample_production(&s);
	s.kind = 0;
	expect_invalid(&s, HAS_BYTES);
	s.kind = 4;
	expect_invalid(&s, HAS_BYTES);
	s.kind = 0x80000001u;
	expect_invalid(&s, HAS_BYTES);

	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		sample_production(&s);
		copy_name(s.product, bad_names[i]);
		expect_invalid(&s, HAS_BYTES);
		sample_production(&s);
		copy_name(s.factory, bad_names[i]);
		expect_invalid(&s, HAS_BYTES);
	}
	/* 65 characters: no room for the terminator in the struct */
	sample_production(&s);
	memset(s.product, 'a', sizeof(s.product));
	expect_invalid(&s, HAS_BYTES);
	sample_production(&s);
	memset(s.factory, 'a', sizeof(s.factory));
	expect_invalid(&s, HAS_BYTES);

	sample_production(&s);
	s.vid = 0;
	expect_invalid(&s, HAS_BYTES);
	sample_production(&s);
	s.pid = 0;
	expect_invalid(&s, HAS_BYTES);

	sample_production(&s);
	s.not_after = s.not_before;
	expect_invalid(&s, HAS_BYTES);
	s.not_after = s.not_before - 1;
	expect_invalid(&s, HAS_BYTES);

	sample_production(&s);
	s.serial_first = s.serial_last + 1;
	expect_invalid(&s, HAS_BYTES);

	/* production */
	sample_production(&s);
	s.quantity = 0;
	expect_invalid(&s, HAS_BYTES);
	sample_production(&s);
	s.quantity = s.serial_last - s.serial_first + 2;
	expect_invalid(&s, HAS_BYTES);
	sample_production(&s);
	s.serial_first = 0;
	s.serial_last = UINT64_MAX - 2; /* a range of 2^64 - 2 serials */
	s.quantity = UINT64_MAX;
	expect_invalid(&s, HAS_BYTES);
	sample_production(&s);
	s.ops = 0;
	expect_invalid(&s, HAS_BYTES);
	s.ops = WRIT_OP_WRAP_SECRET | WRIT_OP_DEBUG_UNLOCK; /* no ISSUE_DAC */
	expect_invalid(&s, HAS_BYTES);
	s.ops = WRIT_OP_ISSUE_DAC | (1u << 3);
	expect_invalid(&s, HAS_BYTES);
	s.ops = WRIT_OP_ISSUE_DAC | 0x80000000u;
	expect_invalid(&s, HAS_BYTES);
	sample_production(&s);
	s.pai_len = 0;
	expect_invalid(&s, HAS_BYTES);
	s.pai_len = WRIT_PAI_MAX + 1;
	expect_invalid(&s, NO_BYTES);
	sample_production(&s);
	s.n_revokes = WRIT_MAX_REVOKES + 1;
	expect_invalid(&s, NO_BYTES);

	/* rework */
	sample_production(&s);
	s.kind = WRIT_KIND_REWORK;
	s.pai_len = 0;
	expect_invalid(&s, HAS_BYTES);
	sample_production(&s);
	s.kind = WRIT_KIND_REWORK;
	s.ops = 1u << 5;
	expect_invalid(&s, HAS_BYTES);

	/* revocation */
	sample_revocation(&s);
	s.quantity = 1;
	expect_invalid(&s, HAS_BYTES);
	sample_revocation(&s);
	s.n_revokes = 0;
	expect_invalid(&s, HAS_BYTES);
	sample_revocation(&s);
	s.ops = 8;
	expect_invalid(&s, HAS_BYTES);
	sample_revocation(&s);
	s.vid = 0;
	expect_invalid(&s, HAS_BYTES);
	sample_revocation(&s);
	s.not_before = s.not_after;
	expect_invalid(&s, HAS_BYTES);

	/* arguments */
	{
		uint8_t *enc;
		size_t enc_len;

		sample_production(&s);
		assert_int_equal(writ_scope_encode(NULL, &enc, &enc_len), WRIT_E_INVAL);
		assert_int_equal(writ_scope_encode(&s, NULL, &enc_len), WRIT_E_INVAL);
		assert_int_equal(writ_scope_encode(&s, &enc, NULL), WRIT_E_INVAL);
		assert_int_equal(writ_scope_decode(NULL, 0, &s), WRIT_E_INVAL);
		assert_int_equal(writ_scope_decode((const uint8_t *)"", 0, NULL), WRIT_E_INVAL);
	}
}

static void test_decode_missing_keys(void **state)
{
	struct writ_scope s, out;
	struct map *m = map_new();
	unsigned k;

	sample_production(&s);
	for (k = 1; k <= 19; k++) {
		map_from_scope(m, &s);
		map_remove(m, k - 1);
		assert_int_equal(m->n, 18);
		assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);
	}
	/* and the empty map */
	m->n = 0;
	assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);
	/* sanity: untouched it decodes */
	map_from_scope(m, &s);
	assert_int_equal(map_decode(m, &out), WRIT_OK);
	assert_scope_equal(&out, &s);
	free(m);
}

/* Type classes of the scope's values. */
enum vtype { T_UINT, T_INT, T_BSTR, T_TSTR, T_ARRAY };

static enum vtype key_type(unsigned k)
{
	switch (k) {
	case WRIT_K_ID:
	case WRIT_K_ISSUER:
	case WRIT_K_VERSION:
	case WRIT_K_HSM:
	case WRIT_K_FIRMWARE:
	case WRIT_K_PAI:
		return T_BSTR;
	case WRIT_K_PRODUCT:
	case WRIT_K_FACTORY:
		return T_TSTR;
	case WRIT_K_SERIALS:
	case WRIT_K_REVOKES:
		return T_ARRAY;
	case WRIT_K_NOT_BEFORE:
	case WRIT_K_NOT_AFTER:
	case WRIT_K_ISSUED_AT:
		return T_INT;
	default:
		return T_UINT;
	}
}

static void test_decode_wrong_types(void **state)
{
	/* one value of every CBOR type; each carries the major types it counts as */
	static const struct {
		const char *what;
		uint8_t b[8];
		size_t n;
		bool uint_, nint, bstr, tstr, array;
	} cands[] = {
		{ "uint 1", { 0x01 }, 1, true, false, false, false, false },
		{ "nint -1", { 0x20 }, 1, false, true, false, false, false },
		{ "bstr h'01'", { 0x41, 0x01 }, 2, false, false, true, false, false },
		{ "tstr \"a\"", { 0x61, 0x61 }, 2, false, false, false, true, false },
		{ "array [1]", { 0x81, 0x01 }, 2, false, false, false, false, true },
		{ "map {1:1}", { 0xa1, 0x01, 0x01 }, 3, false, false, false, false, false },
		{ "tag 1(1)", { 0xc1, 0x01 }, 2, false, false, false, false, false },
		{ "false", { 0xf4 }, 1, false, false, false, false, false },
		{ "true", { 0xf5 }, 1, false, false, false, false, false },
		{ "null", { 0xf6 }, 1, false, false, false, false, false },
		{ "undefined", { 0xf7 }, 1, false, false, false, false, false },
		{ "simple(32)", { 0xf8, 0x20 }, 2, false, false, false, false, false },
		{ "half 1.0", { 0xf9, 0x3c, 0x00 }, 3, false, false, false, false, false },
		{ "float 1.0", { 0xfa, 0x3f, 0x80, 0x00, 0x00 }, 5, false, false, false, false, false },
		{ "break", { 0xff }, 1, false, false, false, false, false },
	};
	struct writ_scope s, out;
	struct map *m = map_new();
	unsigned k;
	size_t i, tried = 0;

	sample_production(&s);
	for (k = 1; k <= 19; k++) {
		enum vtype t = key_type(k);

		for (i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
			bool ok_type = (t == T_UINT && cands[i].uint_) || (t == T_INT && (cands[i].uint_ || cands[i].nint)) ||
				       (t == T_BSTR && cands[i].bstr) || (t == T_TSTR && cands[i].tstr) ||
				       (t == T_ARRAY && cands[i].array);

			if (ok_type)
				continue;
			map_from_scope(m, &s);
			tb_raw(map_val(m, k), cands[i].b, cands[i].n);
			if (map_decode(m, &out) != WRIT_E_FORMAT)
				fail_msg("key %u accepted %s", k, cands[i].what);
			tried++;
		}
	}
	assert_true(tried >= 19 * 10);

	/* wrong element types inside the arrays */
	map_from_scope(m, &s);
	tb_raw(map_val(m, WRIT_K_SERIALS), "\x82\x01\x61\x61", 4);
	assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);
	map_from_scope(m, &s);
	tb_raw(map_val(m, WRIT_K_SERIALS), "\x82\x20\x01", 3);
	assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);
	map_from_scope(m, &s);
	tb_raw(map_val(m, WRIT_K_REVOKES), "\x81\x01", 2);
	assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);
	map_from_scope(m, &s);
	tb_raw(map_val(m, WRIT_K_REVOKES), "\x81\x70" "0123456789abcdef", 18);
	assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);
	free(m);
}

static void test_decode_out_of_range(void **state)
{
	static const struct {
		unsigned key;
		uint8_t b[10];
		size_t n;
	} cases[] = {
		{ WRIT_K_KIND, { 0x1b, 0, 0, 0, 1, 0, 0, 0, 1 }, 9 },    /* 2^32 + 1 (low 32 bits = 1) */
		{ WRIT_K_VID, { 0x1a, 0x00, 0x01, 0xff, 0xf1 }, 5 },     /* 0x1fff1 */
		{ WRIT_K_PID, { 0x1a, 0x00, 0x01, 0x80, 0x00 }, 5 },     /* 0x18000 */
		{ WRIT_K_OPS, { 0x1b, 0, 0, 0, 1, 0, 0, 0, 3 }, 9 },     /* 2^32 + 3 */
		{ WRIT_K_DAC_DAYS, { 0x1b, 0, 0, 0, 1, 0, 0, 0, 0 }, 9 }, /* 2^32 */
		{ WRIT_K_NOT_BEFORE, { 0x1b, 0x80, 0, 0, 0, 0, 0, 0, 0 }, 9 }, /* 2^63 */
		{ WRIT_K_NOT_BEFORE, { 0x3b, 0x80, 0, 0, 0, 0, 0, 0, 0 }, 9 }, /* -2^63 - 1 */
		{ WRIT_K_NOT_AFTER, { 0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 9 },
		{ WRIT_K_ISSUED_AT, { 0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 9 },
	};
	struct writ_scope s, out;
	struct map *m = map_new();
	size_t i;

	sample_production(&s);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		map_from_scope(m, &s);
		tb_raw(map_val(m, cases[i].key), cases[i].b, cases[i].n);
		if (map_decode(m, &out) != WRIT_E_FORMAT)
			fail_msg("case %zu (key %u) accepted", i, cases[i].key);
	}

	/* the extreme values that are in range do decode */
	map_from_scope(m, &s);
	tb_raw(map_val(m, WRIT_K_ISSUED_AT), "\x3b\x7f\xff\xff\xff\xff\xff\xff\xff", 9);
	assert_int_equal(map_decode(m, &out), WRIT_OK);
	assert_true(out.issued_at == INT64_MIN);
	map_from_scope(m, &s);
	tb_raw(map_val(m, WRIT_K_OPS), "\x03", 1);
	tb_raw(map_val(m, WRIT_K_DAC_DAYS), "\x1a\xff\xff\xff\xff", 5);
	tb_raw(map_val(m, WRIT_K_VID), "\x19\xff\xff", 3);
	assert_int_equal(map_decode(m, &out), WRIT_OK);
	assert_int_equal(out.ops, 3);
	assert_int_equal(out.dac_days, UINT32_MAX);
	assert_int_equal(out.vid, 0xffff);
	free(m);
}

static void test_decode_oversized(void **state)
{
	struct writ_scope s, out;
	struct map *m = map_new();
	uint8_t big[WRIT_PAI_MAX + 1];
	char name[WRIT_NAME_MAX + 2];
	struct tb *v;
	size_t i;

	sample_production(&s);
	memset(big, 0x30, sizeof(big));
	memset(name, 'n', sizeof(name));

	/* fixed-length byte strings one short and one long */
	{
		static const unsigned keys[] = { WRIT_K_ID, WRIT_K_ISSUER, WRIT_K_VERSION, WRIT_K_HSM, WRIT_K_FIRMWARE };
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			size_t want = keys[i] == WRIT_K_ID ? WRIT_ID_LEN : 32;

			map_from_scope(m, &s);
			tb_bstr(map_val(m, keys[i]), big, want + 1);
			assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);
			map_from_scope(m, &s);
			tb_bstr(map_val(m, keys[i]), big, want - 1);
			assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);
			map_from_scope(m, &s);
			tb_bstr(map_val(m, keys[i]), big, 0);
			assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);
		}
	}
	/* names of 65 bytes, and 64 is fine */
	map_from_scope(m, &s);
	tb_tstr(map_val(m, WRIT_K_PRODUCT), name, WRIT_NAME_MAX + 1);
	assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);
	map_from_scope(m, &s);
	tb_tstr(map_val(m, WRIT_K_FACTORY), name, WRIT_NAME_MAX + 1);
	assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);
	map_from_scope(m, &s);
	tb_tstr(map_val(m, WRIT_K_FACTORY), name, WRIT_NAME_MAX);
	assert_int_equal(map_decode(m, &out), WRIT_OK);
	assert_int_equal(strlen(out.factory), WRIT_NAME_MAX);
	/* an embedded NUL must not shorten a name */
	map_from_scope(m, &s);
	tb_tstr(map_val(m, WRIT_K_PRODUCT), "ab\0cd", 5);
	assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);

	/* PAI of 601 bytes */
	map_from_scope(m, &s);
	tb_bstr(map_val(m, WRIT_K_PAI), big, WRIT_PAI_MAX + 1);
	assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);

	/* 65 revokes */
	map_from_scope(m, &s);
	v = map_val(m, WRIT_K_REVOKES);
	tb_head(v, 4, WRIT_MAX_REVOKES + 1);
	for (i = 0; i < WRIT_MAX_REVOKES + 1; i++)
		tb_bstr(v, big, WRIT_ID_LEN);
	assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);
	/* a revoked id of 17 bytes */
	map_from_scope(m, &s);
	v = map_val(m, WRIT_K_REVOKES);
	tb_head(v, 4, 1);
	tb_bstr(v, big, WRIT_ID_LEN + 1);
	assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);

	/* serials with 1 or 3 elements */
	map_from_scope(m, &s);
	tb_raw(map_val(m, WRIT_K_SERIALS), "\x81\x01", 2);
	assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);
	map_from_scope(m, &s);
	tb_raw(map_val(m, WRIT_K_SERIALS), "\x83\x01\x02\x03", 4);
	assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);

	/* a length that claims more than the input holds */
	map_from_scope(m, &s);
	tb_raw(map_val(m, WRIT_K_DAC_DAYS), "\x5b\xff\xff\xff\xff\xff\xff\xff\xf0", 9);
	assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);
	free(m);
}

static void test_decode_structure(void **state)
{
	struct writ_scope s, out;
	struct map *m = map_new();
	struct tb *enc = calloc(1, sizeof(*enc));
	unsigned k;

	assert_non_null(enc);
	sample_production(&s);

	/* duplicate key: each key repeated right after itself, and at the end */
	for (k = 1; k <= 19; k++) {
		map_from_scope(m, &s);
		map_insert(m, k, m->e[k - 1].key.b, m->e[k - 1].key.n, m->e[k - 1].val.b, m->e[k - 1].val.n);
		assert_int_equal(m->n, 20);
		assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);
	}
	map_from_scope(m, &s);
	map_remove(m, 18); /* 18 entries so the count is right and only the duplicate is wrong */
	map_insert(m, 18, "\x01", 1, m->e[0].val.b, m->e[0].val.n);
	assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);

	/* unknown keys: 0, 20, 23, 24, 255, -1, "a", h'01' — at the end and at the start */
	{
		static const struct {
			uint8_t b[3];
			size_t n;
		} keys[] = { { { 0x00 }, 1 }, { { 0x14 }, 1 }, { { 0x17 }, 1 }, { { 0x18, 0x18 }, 2 },
			     { { 0x18, 0xff }, 2 }, { { 0x20 }, 1 }, { { 0x61, 0x61 }, 2 }, { { 0x41, 0x01 }, 2 } };
		size_t i;

		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			map_from_scope(m, &s);
			map_insert(m, m->n, keys[i].b, keys[i].n, "\x00", 1);
			assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);
			map_from_scope(m, &s);
			map_insert(m, 0, keys[i].b, keys[i].n, "\x00", 1);
			assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);
			/* replacing a known key, so the count stays 19 */
			map_from_scope(m, &s);
			m->e[18].key.n = 0;
			tb_raw(&m->e[18].key, keys[i].b, keys[i].n);
			assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);
		}
	}

	/* keys out of canonical order */
	map_from_scope(m, &s);
	{
		struct entry tmp = m->e[3];

		m->e[3] = m->e[4];
		m->e[4] = tmp;
	}
	assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);

	/* a key in a non-shortest head (0x18 0x05 for 5) */
	map_from_scope(m, &s);
	m->e[4].key.n = 0;
	tb_raw(&m->e[4].key, "\x18\x05", 2);
	assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);

	/* non-shortest values: vid 0xfff1 in 4 bytes, kind 1 in 1 extra byte, a 16-byte
	 * string length in 1 extra byte, the map count in 1 extra byte */
	map_from_scope(m, &s);
	tb_raw(map_val(m, WRIT_K_VID), "\x1a\x00\x00\xff\xf1", 5);
	assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);
	map_from_scope(m, &s);
	tb_raw(map_val(m, WRIT_K_KIND), "\x18\x01", 2);
	assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);
	map_from_scope(m, &s);
	tb_raw(map_val(m, WRIT_K_ID), "\x58\x10" "0123456789abcdef", 18);
	assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);
	map_from_scope(m, &s);
	map_encode(m, enc, false);
	{
		struct tb *e2 = calloc(1, sizeof(*e2));

		assert_non_null(e2);
		tb_raw(e2, "\xb8\x13", 2);
		tb_raw(e2, enc->b + 1, enc->n - 1);
		assert_int_equal(writ_scope_decode(e2->b, e2->n, &out), WRIT_E_FORMAT);
		free(e2);
	}

	/* indefinite-length map, byte string, text string, array */
	map_from_scope(m, &s);
	map_encode(m, enc, true);
	assert_int_equal(writ_scope_decode(enc->b, enc->n, &out), WRIT_E_FORMAT);
	map_from_scope(m, &s);
	tb_raw(map_val(m, WRIT_K_ID), "\x5f\x50" "0123456789abcdef" "\xff", 19);
	assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);
	map_from_scope(m, &s);
	tb_raw(map_val(m, WRIT_K_PRODUCT), "\x7f\x61x\xff", 4);
	assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);
	map_from_scope(m, &s);
	tb_raw(map_val(m, WRIT_K_SERIALS), "\x9f\x01\x02\xff", 4);
	assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);
	/* reserved additional information 28..30 */
	map_from_scope(m, &s);
	tb_raw(map_val(m, WRIT_K_DAC_DAYS), "\x1c", 1);
	assert_int_equal(map_decode(m, &out), WRIT_E_FORMAT);

	/* the scope wrapped in a tag, or not a map at all */
	map_from_scope(m, &s);
	map_encode(m, enc, false);
	{
		struct tb *e2 = calloc(1, sizeof(*e2));

		assert_non_null(e2);
		tb_raw(e2, "\xd8\x18", 2);
		tb_raw(e2, enc->b, enc->n);
		assert_int_equal(writ_scope_decode(e2->b, e2->n, &out), WRIT_E_FORMAT);
		e2->n = 0;
		tb_byte(e2, 0x93); /* array(19) */
		tb_raw(e2, enc->b + 1, enc->n - 1);
		assert_int_equal(writ_scope_decode(e2->b, e2->n, &out), WRIT_E_FORMAT);
		free(e2);
	}

	/* trailing bytes: one zero, one more map, a break */
	map_from_scope(m, &s);
	map_encode(m, enc, false);
	assert_int_equal(writ_scope_decode(enc->b, enc->n, &out), WRIT_OK);
	tb_byte(enc, 0x00);
	assert_int_equal(writ_scope_decode(enc->b, enc->n, &out), WRIT_E_FORMAT);
	enc->b[enc->n - 1] = 0xff;
	assert_int_equal(writ_scope_decode(enc->b, enc->n, &out), WRIT_E_FORMAT);
	enc->b[enc->n - 1] = 0xa0;
	assert_int_equal(writ_scope_decode(enc->b, enc->n, &out), WRIT_E_FORMAT);

	/* empty input */
	assert_int_equal(writ_scope_decode(enc->b, 0, &out), WRIT_E_FORMAT);
	free(enc);
	free(m);
}

static void test_decode_truncated(void **state)
{
	struct writ_scope s, out, guard;
	uint8_t *enc = NULL, *cut;
	size_t enc_len = 0, n;
	int kind;

	for (kind = 0; kind < 2; kind++) {
		if (kind == 0)
			sample_production(&s);
		else
			sample_revocation(&s);
		assert_int_equal(writ_scope_encode(&s, &enc, &enc_len), WRIT_OK);
		for (n = 0; n < enc_len; n++) {
			/* a fresh allocation of exactly n bytes lets ASan see any over-read */
			cut = malloc(n ? n : 1);
			assert_non_null(cut);
			memcpy(cut, enc, n);
			memset(&out, 0x5A, sizeof(out));
			memcpy(&guard, &out, sizeof(out));
			if (writ_scope_decode(cut, n, &out) != WRIT_E_FORMAT)
				fail_msg("prefix of %zu/%zu bytes not refused", n, enc_len);
			assert_memory_equal(&out, &guard, sizeof(out));
			free(cut);
		}
		free(enc);
		enc = NULL;
	}
}

/* ---- seal / open ---- */

struct keys {
	struct ec_soft_key *issuer_k, *other_k, *kex_k, *kex2_k;
	struct writ_signer issuer, other;
	struct writ_ecdh kex, kex2;
	uint8_t issuer_kid[WRIT_KEYID_LEN], other_kid[WRIT_KEYID_LEN];
};

static int keys_setup(void **state)
{
	struct keys *k = calloc(1, sizeof(*k));

	if (!k || ec_soft_key_new(&k->issuer_k) < 0 || ec_soft_key_new(&k->other_k) < 0 ||
	    ec_soft_key_new(&k->kex_k) < 0 || ec_soft_key_new(&k->kex2_k) < 0)
		return -1;
	ec_soft_signer(k->issuer_k, &k->issuer);
	ec_soft_signer(k->other_k, &k->other);
	ec_soft_ecdh(k->kex_k, &k->kex);
	ec_soft_ecdh(k->kex2_k, &k->kex2);
	if (ec_keyid(k->issuer.pub, k->issuer_kid) < 0 || ec_keyid(k->other.pub, k->other_kid) < 0)
		return -1;
	*state = k;
	return 0;
}

static int keys_teardown(void **state)
{
	struct keys *k = *state;

	if (k) {
		ec_soft_key_free(k->issuer_k);
		ec_soft_key_free(k->other_k);
		ec_soft_key_free(k->kex_k);
		ec_soft_key_free(k->kex2_k);
		free(k);
	}
	return 0;
}

static void test_seal_open_roundtrip(void **state)
{
	struct keys *k = *state;
	struct writ_scope s, before, out, out2, want;
	uint8_t *sealed = NULL, *signed_msg = NULL;
	size_t sealed_len = 0, signed_len = 0;
	uint8_t kid[WRIT_KEYID_LEN];
	int kind;

	for (kind = 0; kind < 2; kind++) {
		if (kind == 0)
			sample_production(&s);
		else
			sample_revocation(&s);
		memset(s.issuer_kid, 0xEE, sizeof(s.issuer_kid)); /* seal must overwrite it */
		memcpy(&before, &s, sizeof(s));
		assert_int_equal(writ_seal(&s, &k->issuer, k->kex.pub, &sealed, &sealed_len), WRIT_OK);
		assert_memory_equal(&s, &before, sizeof(s)); /* the caller's scope is not touched */
		assert_true(sealed_len > 100 && sealed_len <= WRIT_MAX_SEALED);
		/* COSE_Encrypt: tag 96 (0xd8 0x60) and an array of 4 */
		assert_int_equal(sealed[0], 0xd8);
		assert_int_equal(sealed[1], 0x60);
		assert_int_equal(sealed[2], 0x84);

		memcpy(&want, &s, sizeof(s));
		memcpy(want.issuer_kid, k->issuer_kid, WRIT_KEYID_LEN);

		memset(&out, 0, sizeof(out));
		assert_int_equal(writ_open(sealed, sealed_len, &k->kex, k->issuer.pub, &out, &signed_msg, &signed_len),
				 WRIT_OK);
		assert_scope_equal(&out, &want);
		assert_non_null(signed_msg);
		/* COSE_Sign1: tag 18 (0xd2) and an array of 4, kid = issuer's key id */
		assert_int_equal(signed_msg[0], 0xd2);
		assert_int_equal(signed_msg[1], 0x84);
		assert_int_equal(cose_sign1_kid(signed_msg, signed_len, kid), WRIT_OK);
		assert_memory_equal(kid, k->issuer_kid, WRIT_KEYID_LEN);

		/* the journalled Sign1 verifies on its own to the same scope */
		memset(&out2, 0, sizeof(out2));
		assert_int_equal(writ_verify_signed(signed_msg, signed_len, k->issuer.pub, &out2), WRIT_OK);
		assert_scope_equal(&out2, &want);

		/* ret_signed is optional */
		memset(&out2, 0, sizeof(out2));
		assert_int_equal(writ_open(sealed, sealed_len, &k->kex, k->issuer.pub, &out2, NULL, NULL), WRIT_OK);
		assert_scope_equal(&out2, &want);

		free(sealed);
		free(signed_msg);
		sealed = signed_msg = NULL;
	}

	/* an invalid scope is not sealed */
	sample_production(&s);
	s.quantity = 0;
	sealed = (uint8_t *)0x1;
	assert_int_equal(writ_seal(&s, &k->issuer, k->kex.pub, &sealed, &sealed_len), WRIT_E_INVAL);
	assert_ptr_equal(sealed, (uint8_t *)0x1);
	assert_int_equal(writ_seal(NULL, &k->issuer, k->kex.pub, &sealed, &sealed_len), WRIT_E_INVAL);
	assert_int_equal(writ_seal(&s, NULL, k->kex.pub, &sealed, &sealed_len), WRIT_E_INVAL);
}

/* The largest scope there can be: every string and list at its bound, every integer
 * in its longest head. Its sizes are fixed (ES256 signatures are raw r||s), so they
 * pin the bounds given in docs/writ-format.md. */
static void sample_maximal(struct writ_scope *s)
{
	size_t i;

	sample_production(s);
	memset(s->product, 'p', WRIT_NAME_MAX);
	s->product[WRIT_NAME_MAX] = '\0';
	memset(s->factory, 'f', WRIT_NAME_MAX);
	s->factory[WRIT_NAME_MAX] = '\0';
	s->vid = s->pid = 0xffff;
	s->serial_first = 0x100000000ull;
	s->serial_last = UINT64_MAX;
	s->quantity = 0x100000000ull;
	s->not_before = INT64_MIN;
	s->not_after = INT64_MAX;
	s->issued_at = INT64_MIN;
	s->ops = WRIT_OPS_KNOWN & ~(uint32_t)WRIT_OP_DEBUG_UNLOCK; /* that one needs rework rights */
	s->dac_days = UINT32_MAX;
	s->pai_len = WRIT_PAI_MAX;
	fill_bytes(s->pai, WRIT_PAI_MAX, 1);
	s->n_revokes = WRIT_MAX_REVOKES;
	for (i = 0; i < WRIT_MAX_REVOKES; i++)
		fill_bytes(s->revokes[i], WRIT_ID_LEN, (uint8_t)(i * 3));
}

static void test_sizes(void **state)
{
	struct keys *k = *state;
	struct writ_scope s, out;
	uint8_t *enc = NULL, *sealed = NULL, *signed_msg = NULL;
	size_t enc_len = 0, sealed_len = 0, signed_len = 0;

	sample_maximal(&s);
	assert_int_equal(writ_scope_encode(&s, &enc, &enc_len), WRIT_OK);
	assert_int_equal(enc_len, 2066);
	assert_int_equal(writ_seal(&s, &k->issuer, k->kex.pub, &sealed, &sealed_len), WRIT_OK);
	assert_int_equal(sealed_len, 2339);
	assert_int_equal(writ_open(sealed, sealed_len, &k->kex, k->issuer.pub, &out, &signed_msg, &signed_len),
			 WRIT_OK);
	assert_int_equal(signed_len, 2178);
	memcpy(s.issuer_kid, k->issuer_kid, WRIT_KEYID_LEN);
	assert_scope_equal(&out, &s);
	free(enc);
	free(sealed);
	free(signed_msg);
}

static void seal_sample(struct keys *k, uint8_t **ret, size_t *ret_len)
{
	struct writ_scope s;

	sample_production(&s);
	assert_int_equal(writ_seal(&s, &k->issuer, k->kex.pub, ret, ret_len), WRIT_OK);
}

static void test_open_wrong_kex(void **state)
{
	struct keys *k = *state;
	struct writ_scope out, guard;
	uint8_t *sealed = NULL, *signed_msg = (uint8_t *)0x1;
	size_t sealed_len = 0, signed_len = 7;

	seal_sample(k, &sealed, &sealed_len);
	memset(&out, 0x3C, sizeof(out));
	memcpy(&guard, &out, sizeof(out));
	assert_int_equal(writ_open(sealed, sealed_len, &k->kex2, k->issuer.pub, &out, &signed_msg, &signed_len),
			 WRIT_E_DECRYPT);
	assert_memory_equal(&out, &guard, sizeof(out));
	assert_ptr_equal(signed_msg, (uint8_t *)0x1);
	assert_int_equal(signed_len, 7);

	/* a kex that claims the right public key but holds another private key */
	{
		struct writ_ecdh liar = k->kex2;

		memcpy(liar.pub, k->kex.pub, WRIT_P256_PUB_LEN);
		assert_int_equal(writ_open(sealed, sealed_len, &liar, k->issuer.pub, &out, NULL, NULL),
				 WRIT_E_DECRYPT);
	}
	free(sealed);
}

static void test_open_unpinned_signer(void **state)
{
	struct keys *k = *state;
	struct writ_scope s, out, guard;
	uint8_t *sealed = NULL, *enc = NULL, *sig = NULL, *ct = NULL;
	size_t sealed_len = 0, enc_len = 0, sig_len = 0, ct_len = 0;

	memset(&out, 0x3C, sizeof(out));
	memcpy(&guard, &out, sizeof(out));

	/* sealed by another key, opened with the issuer pinned */
	sample_production(&s);
	assert_int_equal(writ_seal(&s, &k->other, k->kex.pub, &sealed, &sealed_len), WRIT_OK);
	assert_int_equal(writ_open(sealed, sealed_len, &k->kex, k->issuer.pub, &out, NULL, NULL), WRIT_E_BADSIG);
	assert_memory_equal(&out, &guard, sizeof(out));
	/* and it opens when that other key is the pinned one */
	assert_int_equal(writ_open(sealed, sealed_len, &k->kex, k->other.pub, &out, NULL, NULL), WRIT_OK);
	assert_memory_equal(out.issuer_kid, k->other_kid, WRIT_KEYID_LEN);
	free(sealed);
	memcpy(&out, &guard, sizeof(out));

	/* another key signs but claims the pinned kid in the header and in the scope */
	sample_production(&s);
	memcpy(s.issuer_kid, k->issuer_kid, WRIT_KEYID_LEN);
	assert_int_equal(writ_scope_encode(&s, &enc, &enc_len), WRIT_OK);
	assert_int_equal(cose_sign1_sign(&k->other, k->issuer_kid, enc, enc_len, &sig, &sig_len), WRIT_OK);
	assert_int_equal(writ_verify_signed(sig, sig_len, k->issuer.pub, &out), WRIT_E_BADSIG);
	assert_int_equal(cose_encrypt_ecdhes(k->kex.pub, sig, sig_len, &ct, &ct_len), WRIT_OK);
	assert_int_equal(writ_open(ct, ct_len, &k->kex, k->issuer.pub, &out, NULL, NULL), WRIT_E_BADSIG);
	assert_memory_equal(&out, &guard, sizeof(out));
	free(enc);
	free(sig);
	free(ct);
	enc = sig = ct = NULL;

	/* the pinned key signs, but the scope names another signer */
	sample_production(&s);
	memcpy(s.issuer_kid, k->other_kid, WRIT_KEYID_LEN);
	assert_int_equal(writ_scope_encode(&s, &enc, &enc_len), WRIT_OK);
	assert_int_equal(cose_sign1_sign(&k->issuer, k->issuer_kid, enc, enc_len, &sig, &sig_len), WRIT_OK);
	assert_int_equal(writ_verify_signed(sig, sig_len, k->issuer.pub, &out), WRIT_E_BADSIG);
	assert_int_equal(cose_encrypt_ecdhes(k->kex.pub, sig, sig_len, &ct, &ct_len), WRIT_OK);
	assert_int_equal(writ_open(ct, ct_len, &k->kex, k->issuer.pub, &out, NULL, NULL), WRIT_E_BADSIG);
	assert_memory_equal(&out, &guard, sizeof(out));
	free(enc);
	free(sig);
	free(ct);
	enc = sig = ct = NULL;

	/* correctly signed and encrypted, but the payload is not a valid scope */
	assert_int_equal(cose_sign1_sign(&k->issuer, k->issuer_kid, (const uint8_t *)"\xa0", 1, &sig, &sig_len),
			 WRIT_OK);
	assert_int_equal(writ_verify_signed(sig, sig_len, k->issuer.pub, &out), WRIT_E_FORMAT);
	assert_int_equal(cose_encrypt_ecdhes(k->kex.pub, sig, sig_len, &ct, &ct_len), WRIT_OK);
	assert_int_equal(writ_open(ct, ct_len, &k->kex, k->issuer.pub, &out, NULL, NULL), WRIT_E_FORMAT);
	assert_memory_equal(&out, &guard, sizeof(out));
	free(sig);
	free(ct);
}

static void test_open_bounds(void **state)
{
	struct keys *k = *state;
	struct writ_scope out;
	uint8_t *big = calloc(1, WRIT_MAX_SEALED + 1);
	uint8_t *sealed = NULL;
	size_t sealed_len = 0, n;

	assert_non_null(big);
	assert_int_equal(writ_open(big, WRIT_MAX_SEALED + 1, &k->kex, k->issuer.pub, &out, NULL, NULL),
			 WRIT_E_TOOBIG);
	assert_int_equal(writ_verify_signed(big, WRIT_MAX_SEALED + 1, k->issuer.pub, &out), WRIT_E_TOOBIG);
	assert_int_equal(writ_verify_signed(big, 16, k->issuer.pub, &out), WRIT_E_FORMAT);
	assert_int_equal(writ_open(big, 16, &k->kex, k->issuer.pub, &out, NULL, NULL), WRIT_E_FORMAT);
	assert_int_equal(writ_open(NULL, 0, &k->kex, k->issuer.pub, &out, NULL, NULL), WRIT_E_INVAL);
	assert_int_equal(writ_open(big, 16, NULL, k->issuer.pub, &out, NULL, NULL), WRIT_E_INVAL);
	assert_int_equal(writ_open(big, 16, &k->kex, NULL, &out, NULL, NULL), WRIT_E_INVAL);
	free(big);

	/* every truncation of a sealed writ fails */
	seal_sample(k, &sealed, &sealed_len);
	for (n = 0; n < sealed_len; n++) {
		uint8_t *cut = malloc(n ? n : 1);

		assert_non_null(cut);
		memcpy(cut, sealed, n);
		if (writ_open(cut, n, &k->kex, k->issuer.pub, &out, NULL, NULL) >= 0)
			fail_msg("truncated to %zu of %zu opened", n, sealed_len);
		free(cut);
	}
	free(sealed);
}

static bool expected_tamper_error(int r)
{
	return r == WRIT_E_FORMAT || r == WRIT_E_DECRYPT || r == WRIT_E_BADSIG || r == WRIT_E_UNSUPPORTED;
}

/* xorshift64*, seeded, so a failure is reproducible */
static uint64_t rng_next(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545F4914F6CDD1Dull;
}

static void test_open_tampered(void **state)
{
	struct keys *k = *state;
	struct writ_scope out, guard;
	uint8_t *sealed = NULL, *copy;
	size_t sealed_len = 0, i;
	uint64_t rng = 0x9E3779B97F4A7C15ull;
	int r, counts[3] = { 0, 0, 0 };

	seal_sample(k, &sealed, &sealed_len);
	copy = malloc(sealed_len);
	assert_non_null(copy);
	memset(&out, 0x3C, sizeof(out));
	memcpy(&guard, &out, sizeof(out));

	/* every byte, lowest bit flipped */
	for (i = 0; i < sealed_len; i++) {
		memcpy(copy, sealed, sealed_len);
		copy[i] ^= 0x01;
		r = writ_open(copy, sealed_len, &k->kex, k->issuer.pub, &out, NULL, NULL);
		if (!expected_tamper_error(r))
			fail_msg("flip at %zu/%zu gave %d", i, sealed_len, r);
		assert_memory_equal(&out, &guard, sizeof(out));
		counts[r == WRIT_E_FORMAT ? 0 : r == WRIT_E_DECRYPT ? 1 : 2]++;
	}
	/* 600 random offsets with random non-zero masks */
	for (i = 0; i < 600; i++) {
		size_t at = (size_t)(rng_next(&rng) % sealed_len);
		uint8_t mask = (uint8_t)(rng_next(&rng) % 255 + 1);

		memcpy(copy, sealed, sealed_len);
		copy[at] ^= mask;
		r = writ_open(copy, sealed_len, &k->kex, k->issuer.pub, &out, NULL, NULL);
		if (!expected_tamper_error(r))
			fail_msg("mask %02x at %zu/%zu gave %d", mask, at, sealed_len, r);
		assert_memory_equal(&out, &guard, sizeof(out));
	}
	/* the ciphertext is most of the writ, so most flips reach the GCM tag check */
	assert_true(counts[1] > (int)sealed_len / 2);

	/* and the untouched copy still opens */
	memcpy(copy, sealed, sealed_len);
	assert_int_equal(writ_open(copy, sealed_len, &k->kex, k->issuer.pub, &out, NULL, NULL), WRIT_OK);
	free(copy);
	free(sealed);
}

static void test_signed_tampered(void **state)
{
	struct keys *k = *state;
	struct writ_scope out, guard;
	uint8_t *sealed = NULL, *signed_msg = NULL, *copy;
	size_t sealed_len = 0, signed_len = 0, i;
	int r;

	seal_sample(k, &sealed, &sealed_len);
	assert_int_equal(writ_open(sealed, sealed_len, &k->kex, k->issuer.pub, &out, &signed_msg, &signed_len),
			 WRIT_OK);
	copy = malloc(signed_len);
	assert_non_null(copy);
	memset(&out, 0x3C, sizeof(out));
	memcpy(&guard, &out, sizeof(out));
	for (i = 0; i < signed_len; i++) {
		memcpy(copy, signed_msg, signed_len);
		copy[i] ^= 0x80;
		r = writ_verify_signed(copy, signed_len, k->issuer.pub, &out);
		if (!expected_tamper_error(r))
			fail_msg("flip at %zu/%zu of the Sign1 gave %d", i, signed_len, r);
		assert_memory_equal(&out, &guard, sizeof(out));
	}
	free(copy);
	free(signed_msg);
	free(sealed);
}

/* ---- helper modes: diagnostic notation for the docs, seeds for the fuzzer ---- */

static const char *const key_names[] = {
	NULL,	     "id",	    "kind",    "issuer",   "product",	"vid",	     "pid",
	"version",   "factory",	    "hsm",     "quantity", "serials",	"not_before", "not_after",
	"ops",	     "firmware",    "pai",     "revokes",  "issued_at", "dac_days",
};

/* Print one data item of our own (well-formed) output in RFC 8949 §8 notation. */
static size_t diag_item(FILE *f, const uint8_t *p, size_t len, size_t off, int depth)
{
	unsigned major, ai;
	uint64_t arg = 0, i;
	size_t n;

	assert_true(off < len);
	major = p[off] >> 5;
	ai = p[off] & 0x1f;
	off++;
	if (ai < 24) {
		arg = ai;
	} else {
		n = (size_t)1 << (ai - 24);
		assert_true(n <= len - off);
		for (i = 0; i < n; i++)
			arg = arg << 8 | p[off + i];
		off += n;
	}
	switch (major) {
	case 0:
		fprintf(f, "%llu", (unsigned long long)arg);
		break;
	case 1:
		if (arg == UINT64_MAX)
			fprintf(f, "-18446744073709551616");
		else
			fprintf(f, "-%llu", (unsigned long long)arg + 1);
		break;
	case 2:
		fprintf(f, "h'");
		for (i = 0; i < arg; i++)
			fprintf(f, "%02x", p[off + i]);
		fprintf(f, "'");
		off += arg;
		break;
	case 3:
		fprintf(f, "\"%.*s\"", (int)arg, (const char *)p + off);
		off += arg;
		break;
	case 4:
		fprintf(f, "[");
		for (i = 0; i < arg; i++) {
			if (i)
				fprintf(f, ", ");
			off = diag_item(f, p, len, off, depth + 1);
		}
		fprintf(f, "]");
		break;
	case 5:
		fprintf(f, "{\n");
		for (i = 0; i < arg; i++) {
			size_t key_off = off;

			fprintf(f, "%*s", 2 * (depth + 1), "");
			off = diag_item(f, p, len, off, depth + 1);
			fprintf(f, ": ");
			off = diag_item(f, p, len, off, depth + 1);
			fprintf(f, "%s", i + 1 < arg ? "," : "");
			if (depth == 0 && p[key_off] >= 1 && p[key_off] <= 19)
				fprintf(f, "  / %s /", key_names[p[key_off]]);
			fprintf(f, "\n");
		}
		fprintf(f, "%*s}", 2 * depth, "");
		break;
	default:
		fail_msg("unexpected major type %u", major);
	}
	return off;
}

static void print_hex(FILE *f, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		fprintf(f, "%02x%s", p[i], (i + 1) % 32 == 0 || i + 1 == n ? "\n" : "");
}

/* The Matter SDK's test PAI (tests/vectors) as DER, so the example carries a real one. */
static void load_test_pai(struct writ_scope *s)
{
	const char *src = getenv("WRIT_SRC");
	char path[1024];
	FILE *f;
	X509 *x;
	unsigned char *der = NULL;
	int n;

	if (!src)
		src = ".";
	if ((size_t)snprintf(path, sizeof(path), "%s/tests/vectors/matter-sdk-certs/Chip-Test-PAI-FFF1-8000-Cert.pem",
			     src) >= sizeof(path))
		fail_msg("path too long");
	f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s (set WRIT_SRC)", path);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	n = i2d_X509(x, &der);
	assert_true(n > 0 && n <= WRIT_PAI_MAX);
	memcpy(s->pai, der, (size_t)n);
	s->pai_len = (size_t)n;
	OPENSSL_free(der);
	X509_free(x);
}

static void example_scopes(struct writ_scope *prod, struct writ_scope *rev)
{
	static const uint8_t id[WRIT_ID_LEN] = { 0x01, 0x93, 0x7f, 0x2a, 0x5c, 0x10, 0x7b, 0x3e,
						 0x9a, 0x41, 0xd2, 0x6f, 0x08, 0xc4, 0x55, 0xe1 };
	uint8_t digest[32];

	sample_production(prod);
	memcpy(prod->id, id, sizeof(id));
	assert_int_equal(ec_sha256("acme.bulb-v2_EU version 2.4.0", 29, digest), WRIT_OK);
	memcpy(prod->version_digest, digest, 32);
	assert_int_equal(ec_sha256("firmware image bytes", 20, digest), WRIT_OK);
	memcpy(prod->firmware_digest, digest, 32);
	prod->quantity = 10000;
	prod->serial_first = 100000;
	prod->serial_last = 109999;
	prod->ops = WRIT_OP_ISSUE_DAC | WRIT_OP_WRAP_SECRET;
	prod->n_revokes = 0;
	load_test_pai(prod);

	sample_revocation(rev);
	memcpy(rev->version_digest, prod->version_digest, 32);
	memcpy(rev->revokes[0], id, sizeof(id));
	rev->not_before = 1767139300;
	rev->not_after = 1798675300;
}

static int load_key(const char *name, struct ec_soft_key **ret)
{
	const char *src = getenv("WRIT_SRC");
	char path[1024];

	if (!src)
		src = ".";
	if ((size_t)snprintf(path, sizeof(path), "%s/tests/vectors/matter-sdk-certs/%s", src, name) >= sizeof(path))
		return WRIT_E_INVAL;
	return ec_soft_key_from_pem(path, ret);
}

static int mode_example(void)
{
	struct writ_scope prod, rev;
	struct writ_scope *scopes[2] = { &prod, &rev };
	struct ec_soft_key *issuer_k = NULL;
	struct writ_signer issuer;
	uint8_t kid[WRIT_KEYID_LEN];
	uint8_t *enc = NULL;
	size_t enc_len = 0;
	int i;

	example_scopes(&prod, &rev);
	/* the issuer in the example is the Matter SDK's public test PAA key */
	if (load_key("Chip-Test-PAA-FFF1-Key.pem", &issuer_k) < 0)
		return 1;
	ec_soft_signer(issuer_k, &issuer);
	if (ec_keyid(issuer.pub, kid) < 0)
		return 1;
	for (i = 0; i < 2; i++) {
		memcpy(scopes[i]->issuer_kid, kid, sizeof(kid));
		if (writ_scope_encode(scopes[i], &enc, &enc_len) < 0)
			return 1;
		printf("%s scope, %zu bytes:\n", i == 0 ? "production" : "revocation", enc_len);
		diag_item(stdout, enc, enc_len, 0, 0);
		printf("\nhex:\n");
		print_hex(stdout, enc, enc_len);
		printf("\n");
		free(enc);
		enc = NULL;
	}
	ec_soft_key_free(issuer_k);
	return 0;
}

static int write_file(const char *dir, const char *name, const uint8_t *p, size_t n)
{
	char path[1024];
	FILE *f;
	int ok;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -1;
	f = fopen(path, "wb");
	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	ok = fwrite(p, 1, n, f) == n;
	if (fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

/* Seeds for tests/fuzz/fuzz_writ.c: signed by the Matter SDK test PAA key (the
 * harness pins its public key) and sealed to the SDK test DAC key (the harness opens
 * with it). */
static void add_rework(struct writ_scope *s, const struct writ_signer *root, const struct writ_signer *deleg,
		       int with_intermediate);

static int mode_seeds(const char *dir)
{
	struct writ_scope prod, rev;
	struct ec_soft_key *issuer_k = NULL, *kex_k = NULL;
	struct writ_signer issuer;
	struct writ_ecdh kex;
	uint8_t kid[WRIT_KEYID_LEN];
	uint8_t *enc = NULL, *sig = NULL, *sealed = NULL;
	size_t enc_len, sig_len, sealed_len;
	int rc = 1;

	example_scopes(&prod, &rev);
	if (load_key("Chip-Test-PAA-FFF1-Key.pem", &issuer_k) < 0 ||
	    load_key("Chip-Test-DAC-FFF1-8000-0000-Key.pem", &kex_k) < 0)
		goto out;
	ec_soft_signer(issuer_k, &issuer);
	ec_soft_ecdh(kex_k, &kex);
	if (ec_keyid(issuer.pub, kid) < 0)
		goto out;
	memcpy(prod.issuer_kid, kid, sizeof(kid));
	memcpy(rev.issuer_kid, kid, sizeof(kid));

	if (writ_scope_encode(&prod, &enc, &enc_len) < 0 || write_file(dir, "scope-production.cbor", enc, enc_len) < 0)
		goto out;
	if (cose_sign1_sign(&issuer, kid, enc, enc_len, &sig, &sig_len) < 0 ||
	    write_file(dir, "signed-production.cose", sig, sig_len) < 0)
		goto out;
	if (writ_seal(&prod, &issuer, kex.pub, &sealed, &sealed_len) < 0 ||
	    write_file(dir, "sealed-production.cose", sealed, sealed_len) < 0)
		goto out;
	free(enc);
	free(sig);
	free(sealed);
	enc = sig = sealed = NULL;
	if (writ_scope_encode(&rev, &enc, &enc_len) < 0 || write_file(dir, "scope-revocation.cbor", enc, enc_len) < 0)
		goto out;
	if (writ_seal(&rev, &issuer, kex.pub, &sealed, &sealed_len) < 0 ||
	    write_file(dir, "sealed-revocation.cose", sealed, sealed_len) < 0)
		goto out;
	free(enc);
	enc = NULL;
	add_rework(&prod, &issuer, &issuer, 1); /* any keys: the seed exercises the codec */
	if (writ_scope_encode(&prod, &enc, &enc_len) < 0 || write_file(dir, "scope-rework.cbor", enc, enc_len) < 0)
		goto out;
	rc = 0;
out:
	free(enc);
	free(sig);
	free(sealed);
	ec_soft_key_free(issuer_k);
	ec_soft_key_free(kex_k);
	if (rc)
		fprintf(stderr, "writing seeds failed (is WRIT_SRC set?)\n");
	return rc;
}


/* ---- rework rights (key 21) ---- */

/* A delegate certificate (optionally under an intermediate) for s's product and HSM,
 * signed by root; the rights grant DEBUG and REFLASH for the writ's window. */
static void add_rework(struct writ_scope *s, const struct writ_signer *root, const struct writ_signer *deleg,
		       int with_intermediate)
{
	struct writ_rework *w = &s->rework;
	struct dbg_cert c;
	size_t i = 0;

	memset(w, 0, sizeof(*w));
	w->present = 1;
	dbg_perm_set(w->perms, DBG_PERM_DEBUG);
	dbg_perm_set(w->perms, DBG_PERM_REFLASH);
	w->key_gen = 3;
	w->not_before = s->not_before;
	w->not_after = s->not_after;
	w->limit = 10;
	w->session_max = 3600;
	memset(&c, 0, sizeof(c));
	c.vendor_id = s->vid;
	c.product_id = s->pid;
	c.key_gen = 3;
	c.not_before = (uint64_t)s->not_before;
	c.not_after = (uint64_t)s->not_after;
	memset(c.perms, 0xff, sizeof(c.perms));
	if (with_intermediate) {
		c.role = WDP_DBG_ROLE_INTERMEDIATE;
		memcpy(c.pub, root->pub, WRIT_P256_PUB_LEN); /* any key: the chip checks the links */
		assert_int_equal(dbg_cert_make(&c, root, w->chain[i++]), 0);
	}
	c.role = WDP_DBG_ROLE_DELEGATE;
	memcpy(c.hsm_id, s->hsm_id, WRIT_KEYID_LEN);
	memcpy(c.pub, deleg->pub, WRIT_P256_PUB_LEN);
	assert_int_equal(dbg_cert_make(&c, root, w->chain[i++]), 0);
	w->n_chain = i;
	s->ops |= WRIT_OP_DEBUG_UNLOCK;
}

static void rework_roundtrip(const struct writ_scope *s)
{
	struct writ_scope out;
	uint8_t *enc = NULL;
	size_t len = 0;

	assert_int_equal(writ_scope_encode(s, &enc, &len), WRIT_OK);
	assert_int_equal(writ_scope_decode(enc, len, &out), WRIT_OK);
	assert_int_equal(out.rework.present, 1);
	assert_memory_equal(&out.rework, &s->rework, sizeof(s->rework));
	assert_scope_equal(s, &out);
	/* every truncation is refused */
	while (len-- > 0)
		assert_int_equal(writ_scope_decode(enc, len, &out), WRIT_E_FORMAT);
	free(enc);
}

static void expect_rework_invalid_at(const struct writ_scope *s, int line)
{
	uint8_t *enc = NULL;
	size_t len = 0;
	int r = writ_scope_encode(s, &enc, &len);

	if (r != WRIT_E_INVAL) {
		free(enc);
		fail_msg("line %d: encode gave %d, want WRIT_E_INVAL", line, r);
	}
}
#define expect_rework_invalid(s) expect_rework_invalid_at((s), __LINE__)

static void test_rework_rights(void **state)
{
	struct keys *k = *state;
	struct writ_scope s, base;
	struct dbg_cert c;
	size_t i;

	/* a production writ with rework rights, one or two certificates */
	sample_production(&base);
	add_rework(&base, &k->issuer, &k->other, 0);
	rework_roundtrip(&base);
	s = base;
	add_rework(&s, &k->issuer, &k->other, 1);
	rework_roundtrip(&s);
	/* a rework writ naming devices, re-provisioning allowed */
	s = base;
	s.kind = WRIT_KIND_REWORK;
	s.quantity = 0;
	s.ops = WRIT_OP_DEBUG_UNLOCK | WRIT_OP_ISSUE_DAC;
	s.rework.n_devices = WRIT_REWORK_DEVICES_MAX;
	for (i = 0; i < WRIT_REWORK_DEVICES_MAX; i++)
		fill_bytes(s.rework.devices[i], WRIT_DBG_UID_LEN, (uint8_t)(i * 7 + 1));
	rework_roundtrip(&s);

	/* the op without the rights, the rights without the op */
	s = base;
	s.rework.present = 0;
	expect_rework_invalid(&s);
	s = base;
	s.ops &= ~(uint32_t)WRIT_OP_DEBUG_UNLOCK;
	expect_rework_invalid(&s);
	/* a rework writ: no quantity, no secrets, no other op, rights required */
	s = base;
	s.kind = WRIT_KIND_REWORK;
	expect_rework_invalid(&s); /* quantity 10000 */
	s.quantity = 0;
	s.ops |= WRIT_OP_WRAP_SECRET;
	expect_rework_invalid(&s);
	s.ops = WRIT_OP_DEBUG_UNLOCK;
	rework_roundtrip(&s);
	s.rework.present = 0;
	s.ops = 0;
	expect_rework_invalid(&s);
	/* a revocation grants nothing */
	sample_revocation(&s);
	s.rework = base.rework;
	s.ops = WRIT_OP_DEBUG_UNLOCK;
	expect_rework_invalid(&s);
	/* bounds of the rights */
	s = base;
	memset(s.rework.perms, 0, sizeof(s.rework.perms));
	expect_rework_invalid(&s);
	s = base;
	s.rework.not_after = s.rework.not_before;
	expect_rework_invalid(&s);
	s = base;
	s.rework.limit = 0;
	expect_rework_invalid(&s);
	s.rework.limit = WRIT_REWORK_LIMIT_MAX + 1;
	expect_rework_invalid(&s);
	s = base;
	s.rework.session_max = 0;
	expect_rework_invalid(&s);
	s.rework.session_max = WDP_DBG_SESSION_MAX + 1;
	expect_rework_invalid(&s);
	s = base;
	s.rework.n_chain = 0;
	expect_rework_invalid(&s);
	s = base;
	s.rework.n_devices = 2;
	fill_bytes(s.rework.devices[0], WRIT_DBG_UID_LEN, 1);
	memcpy(s.rework.devices[1], s.rework.devices[0], WRIT_DBG_UID_LEN);
	expect_rework_invalid(&s); /* the same UID twice */
	memset(s.rework.devices[1], 0, WRIT_DBG_UID_LEN);
	expect_rework_invalid(&s); /* the all-zero UID */
	/* the rights beyond the chain: more permissions, a wider window, another generation */
	s = base;
	assert_int_equal(dbg_cert_parse(s.rework.chain[0], &c), 0);
	memset(c.perms, 0, sizeof(c.perms));
	c.perms[15] = 0x01; /* DEBUG only */
	assert_int_equal(dbg_cert_make(&c, &k->issuer, s.rework.chain[0]), 0);
	expect_rework_invalid(&s); /* the rights also grant REFLASH */
	s = base;
	s.rework.not_after = s.not_after + 1;
	expect_rework_invalid(&s);
	s = base;
	s.rework.key_gen = 4;
	expect_rework_invalid(&s);
	/* a chain for another HSM, another vendor or product, in the wrong order */
	s = base;
	s.hsm_id[0] ^= 1;
	expect_rework_invalid(&s);
	s = base;
	s.pid ^= 1;
	expect_rework_invalid(&s);
	s = base;
	add_rework(&s, &k->issuer, &k->other, 1);
	memcpy(s.rework.chain[0], base.rework.chain[0], WRIT_DBG_CERT_LEN); /* delegate first */
	expect_rework_invalid(&s);
	s = base;
	s.rework.chain[0][0] = 'X'; /* not a certificate */
	expect_rework_invalid(&s);
	/* the delegate key must be a point on the curve: a tampered key is refused */
	s = base;
	s.rework.chain[0][80 + 10] ^= 0x55;
	expect_rework_invalid(&s);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest codec[] = {
		cmocka_unit_test(test_roundtrip_production),
		cmocka_unit_test(test_roundtrip_revocation),
		cmocka_unit_test(test_roundtrip_edges),
		cmocka_unit_test(test_semantic_rules),
		cmocka_unit_test(test_decode_missing_keys),
		cmocka_unit_test(test_decode_wrong_types),
		cmocka_unit_test(test_decode_out_of_range),
		cmocka_unit_test(test_decode_oversized),
		cmocka_unit_test(test_decode_structure),
		cmocka_unit_test(test_decode_truncated),
	};
	const struct CMUnitTest sealed[] = {
		cmocka_unit_test(test_seal_open_roundtrip),
		cmocka_unit_test(test_open_wrong_kex),
		cmocka_unit_test(test_open_unpinned_signer),
		cmocka_unit_test(test_open_bounds),
		cmocka_unit_test(test_open_tampered),
		cmocka_unit_test(test_signed_tampered),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_rework_rights),
	};
	int failed;

	if (argc == 2 && strcmp(argv[1], "--example") == 0)
		return mode_example();
	if (argc == 3 && strcmp(argv[1], "--seeds") == 0)
		return mode_seeds(argv[2]);
	if (argc != 1) {
		fprintf(stderr, "usage: %s [--example | --seeds DIR]\n", argv[0]);
		return 2;
	}
	failed = cmocka_run_group_tests_name("writ scope codec", codec, NULL, NULL);
	failed += cmocka_run_group_tests_name("writ seal/open", sealed, keys_setup, keys_teardown);
	return failed ? 1 : 0;
}
