/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of writ-factory's pure parts: the product-version bundle codec
 * (lib/wire/bundle.c: round trip, signature, and every kind of garbage a strict decoder
 * must refuse), the record hash chain (factory/record.c) and the JSON request
 * validators (factory/api_json.c).
 *   test_factory --seeds DIR   writes fuzz seeds (a payload, a signed bundle signed by
 *                              the Matter SDK test PAA key, JSON bodies)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/ec.h"
#include "factory/api_json.h"
#include "factory/factory.h"
#include "factory/record.h"
#include "wire/bundle.h"

static uint8_t fw[3000];

static void make_bundle(struct bundle *b)
{
	size_t i;

	memset(b, 0, sizeof(*b));
	for (i = 0; i < sizeof(fw); i++)
		fw[i] = (uint8_t)(i * 7);
	memcpy(b->product, "lamp", 5);
	memcpy(b->version, "1.4.0+rc1", 10);
	b->fw_version = 3;
	b->firmware = fw;
	b->firmware_len = sizeof(fw);
	memset(b->fw_sig, 0x11, sizeof(b->fw_sig));
	memset(b->sb_pub, 0x04, sizeof(b->sb_pub));
	memset(b->debug_root_hash, 0x22, sizeof(b->debug_root_hash));
	memcpy(b->settings, "vendor_id = 0xFFF1\n", 20);
	memcpy(b->secrets[0], "ota-key", 8);
	b->n_secrets = 1;
	bundle_recipe_default(b);
	b->iterations = 2000;
	b->has_iterations = 1;
	memcpy(b->serial_prefix, "LMP", 4);
}

static void test_bundle_roundtrip(void **state)
{
	struct bundle *b = malloc(sizeof(*b)), *d = malloc(sizeof(*d));
	uint8_t *p = NULL, *p2 = NULL;
	size_t n = 0, n2 = 0;

	make_bundle(b);
	assert_int_equal(bundle_payload_encode(b, &p, &n), 0);
	assert_int_equal(bundle_payload_decode(p, n, d), 0);
	assert_string_equal(d->product, "lamp");
	assert_string_equal(d->version, "1.4.0+rc1");
	assert_int_equal(d->firmware_len, sizeof(fw));
	assert_memory_equal(d->firmware, fw, sizeof(fw));
	assert_int_equal(d->n_steps, 12);
	assert_string_equal(d->recipe[5], "secret");
	assert_int_equal(d->iterations, 2000);
	assert_string_equal(d->serial_prefix, "LMP");
	/* canonical: decode then encode gives the same bytes */
	assert_int_equal(bundle_payload_encode(d, &p2, &n2), 0);
	assert_int_equal(n, n2);
	assert_memory_equal(p, p2, n);
	free(p2);
	/* optional keys absent: default iterations */
	b->has_iterations = 0;
	b->n_secrets = 0;
	b->serial_prefix[0] = 0;
	bundle_recipe_default(b);
	free(p);
	assert_int_equal(bundle_payload_encode(b, &p, &n), 0);
	assert_int_equal(bundle_payload_decode(p, n, d), 0);
	assert_int_equal(d->iterations, BUNDLE_ITER_DEFAULT);
	assert_int_equal(d->n_steps, 11);
	free(p);
	free(b);
	free(d);
}

static void test_bundle_recipe(void **state)
{
	struct bundle *b = calloc(1, sizeof(*b));

	assert_int_equal(bundle_recipe_parse("discover,keys,dac,chain,factory-data,otp,firmware,lock,verify,record", b), 0);
	assert_int_equal(b->n_steps, 10);
	assert_int_not_equal(bundle_recipe_parse("discover,dac,keys,chain,factory-data,otp,firmware,lock,verify,record", b), 0);
	assert_int_not_equal(bundle_recipe_parse("discover,keys,dac", b), 0);
	assert_int_not_equal(bundle_recipe_parse("", b), 0);
	assert_int_not_equal(bundle_recipe_parse("discover,,keys", b), 0);
	assert_int_not_equal(bundle_recipe_parse("discover,keys,dac,chain,factory-data,otp,firmware,lock,verify,record,", b), 0);
	assert_int_not_equal(bundle_recipe_parse("discover,keys,dac,chain,factory-data,otp,firmware,lock,verify,record,"
						 "label,label", b), 0);
	free(b);
}

/* Every invalid bundle struct is refused by the encoder. */
static void test_bundle_encode_invalid(void **state)
{
	struct bundle *b = malloc(sizeof(*b));
	uint8_t *p = NULL;
	size_t n = 0;

	make_bundle(b);
	memcpy(b->product, "la mp", 6);
	assert_int_equal(bundle_payload_encode(b, &p, &n), WRIT_E_INVAL);
	make_bundle(b);
	b->firmware_len = 0;
	assert_int_equal(bundle_payload_encode(b, &p, &n), WRIT_E_INVAL);
	make_bundle(b);
	b->firmware_len = BUNDLE_FW_MAX + 1;
	assert_int_equal(bundle_payload_encode(b, &p, &n), WRIT_E_INVAL);
	make_bundle(b);
	b->iterations = 999;
	assert_int_equal(bundle_payload_encode(b, &p, &n), WRIT_E_INVAL);
	make_bundle(b);
	memcpy(b->secrets[1], "ota-key", 8);
	b->n_secrets = 2;
	assert_int_equal(bundle_payload_encode(b, &p, &n), WRIT_E_INVAL);
	make_bundle(b);
	memcpy(b->secrets[0], "OTA", 4);
	assert_int_equal(bundle_payload_encode(b, &p, &n), WRIT_E_INVAL);
	make_bundle(b);
	b->settings[3] = 0x01;
	assert_int_equal(bundle_payload_encode(b, &p, &n), WRIT_E_INVAL);
	free(b);
}

/* A hand-built payload (independent of the encoder) with a hook to break one thing. */
struct hb {
	uint8_t b[8192];
	size_t n;
};
static void hb_raw(struct hb *h, const void *p, size_t n) { memcpy(h->b + h->n, p, n); h->n += n; }
static void hb_byte(struct hb *h, uint8_t v) { h->b[h->n++] = v; }
static void hb_tstr(struct hb *h, const char *s) { hb_byte(h, (uint8_t)(0x60 + strlen(s))); hb_raw(h, s, strlen(s)); }
static void hb_bstr(struct hb *h, uint8_t fill, size_t n)
{
	if (n < 24) {
		hb_byte(h, (uint8_t)(0x40 + n));
	} else if (n < 256) {
		hb_byte(h, 0x58);
		hb_byte(h, (uint8_t)n);
	} else {
		hb_byte(h, 0x59);
		hb_byte(h, (uint8_t)(n >> 8));
		hb_byte(h, (uint8_t)n);
	}
	memset(h->b + h->n, fill, n);
	h->n += n;
}

enum breakage { OK, B_EXTRA_KEY, B_DUP_KEY, B_MISSING_KEY, B_ORDER, B_LONG_HEAD, B_INDEF, B_SIG_SIZE,
		B_FW_TEXT, B_TRAILING, B_FLOAT, B_NEG_KEY, B_RECIPE_BAD, B_TAG, B_NUL_TEXT, B_EMPTY_FW };

static void build(struct hb *h, enum breakage br)
{
	static const char *steps[] = { "discover", "keys", "dac", "chain", "factory-data", "otp",
				       "firmware", "lock", "verify", "record", "label" };
	size_t i;

	h->n = 0;
	hb_byte(h, br == B_EXTRA_KEY || br == B_DUP_KEY ? 0xaa : br == B_MISSING_KEY ? 0xa8 : 0xa9);
	if (br == B_NEG_KEY) {
		hb_byte(h, 0x20);
	} else {
		hb_byte(h, br == B_LONG_HEAD ? 0x18 : 0x01);
		if (br == B_LONG_HEAD)
			hb_byte(h, 0x01);
	}
	if (br == B_INDEF) {
		hb_byte(h, 0x7f);
		hb_tstr(h, "lamp");
		hb_byte(h, 0xff);
	} else if (br == B_NUL_TEXT) {
		hb_byte(h, 0x64);
		hb_raw(h, "la\0p", 4);
	} else {
		hb_tstr(h, "lamp");
	}
	if (br == B_ORDER) {
		hb_byte(h, 0x03); hb_byte(h, 0x03);
		hb_byte(h, 0x02); hb_tstr(h, "1.0");
	} else {
		hb_byte(h, 0x02); hb_tstr(h, "1.0");
		hb_byte(h, 0x03);
		if (br == B_FLOAT)
			hb_raw(h, "\xf9\x42\x00", 3);
		else
			hb_byte(h, 0x03);
	}
	hb_byte(h, 0x04);
	if (br == B_FW_TEXT)
		hb_tstr(h, "firmware");
	else
		hb_bstr(h, 0xee, br == B_EMPTY_FW ? 0 : 300);
	hb_byte(h, 0x05); hb_bstr(h, 0x11, br == B_SIG_SIZE ? 63 : 64);
	hb_byte(h, 0x06); hb_bstr(h, 0x04, 65);
	if (br != B_MISSING_KEY) {
		hb_byte(h, 0x07); hb_bstr(h, 0x22, 32);
	}
	hb_byte(h, 0x08);
	if (br == B_TAG)
		hb_byte(h, 0xc0);
	hb_tstr(h, "vendor_id = 1");
	hb_byte(h, 0x09);
	hb_byte(h, 0x8b);
	for (i = 0; i < 11; i++)
		hb_tstr(h, br == B_RECIPE_BAD && i == 3 ? "dance" : steps[i]);
	if (br == B_EXTRA_KEY) {
		hb_byte(h, 0x0d); hb_byte(h, 0x01);
	}
	if (br == B_DUP_KEY) {
		hb_byte(h, 0x09); hb_byte(h, 0x81); hb_tstr(h, "discover");
	}
	if (br == B_TRAILING)
		hb_byte(h, 0x00);
}

static void test_bundle_decode_garbage(void **state)
{
	struct bundle *d = malloc(sizeof(*d));
	struct hb *h = malloc(sizeof(*h));
	enum breakage br;
	size_t i;

	build(h, OK);
	assert_int_equal(bundle_payload_decode(h->b, h->n, d), 0);
	for (br = B_EXTRA_KEY; br <= B_EMPTY_FW; br++) {
		build(h, br);
		if (bundle_payload_decode(h->b, h->n, d) == 0)
			fail_msg("breakage %d was accepted", (int)br);
	}
	/* every truncation, every single-byte change that keeps the structure */
	build(h, OK);
	for (i = 0; i < h->n; i++)
		assert_int_not_equal(bundle_payload_decode(h->b, i, d), 0);
	for (i = 0; i < h->n; i++) {
		uint8_t keep = h->b[i];
		h->b[i] ^= 0x80;
		(void)!bundle_payload_decode(h->b, h->n, d); /* must not crash; ASan checks reads */
		h->b[i] = keep;
	}
	assert_int_equal(bundle_payload_decode(h->b, BUNDLE_MAX + 1, d), WRIT_E_TOOBIG);
	assert_int_not_equal(bundle_payload_decode((const uint8_t *)"", 0, d), 0);
	free(h);
	free(d);
}

static void test_bundle_sign_verify(void **state)
{
	struct bundle *b = malloc(sizeof(*b)), *d = malloc(sizeof(*d));
	struct ec_soft_key *k = NULL, *k2 = NULL;
	struct writ_signer s, s2;
	uint8_t *msg = NULL, vd[32], fd[32], want[32];
	size_t n = 0, i;

	make_bundle(b);
	assert_int_equal(ec_soft_key_new(&k), 0);
	assert_int_equal(ec_soft_key_new(&k2), 0);
	ec_soft_signer(k, &s);
	ec_soft_signer(k2, &s2);
	assert_int_equal(bundle_sign(b, &s, &msg, &n, vd, fd), 0);
	assert_int_equal(bundle_verify(msg, n, s.pub, d), 0);
	assert_memory_equal(d->version_digest, vd, 32);
	assert_int_equal(ec_sha256(fw, sizeof(fw), want), 0);
	assert_memory_equal(fd, want, 32);
	assert_memory_equal(d->firmware_digest, want, 32);
	/* another key: refused as a signature failure */
	assert_int_equal(bundle_verify(msg, n, s2.pub, d), WRIT_E_BADSIG);
	/* any flipped byte is refused, never accepted */
	for (i = 0; i < n; i += (i < 64 || i > n - 80) ? 1 : 97) {
		msg[i] ^= 0x01;
		assert_int_not_equal(bundle_verify(msg, n, s.pub, d), 0);
		msg[i] ^= 0x01;
	}
	/* truncation and trailing bytes */
	assert_int_not_equal(bundle_verify(msg, n - 1, s.pub, d), 0);
	assert_int_equal(bundle_verify(msg, BUNDLE_MAX + 1, s.pub, d), WRIT_E_TOOBIG);
	/* another algorithm in the protected header */
	msg[6] = 0x38; /* -25 instead of -7 (0x26); the signature would fail anyway */
	assert_int_not_equal(bundle_verify(msg, n, s.pub, d), 0);
	free(msg);
	/* a bundle with a 4 MiB image: past COSE's 1 MiB, still signed and verified */
	{
		uint8_t *big = malloc(BUNDLE_FW_MAX);
		memset(big, 0x5a, BUNDLE_FW_MAX);
		b->firmware = big;
		b->firmware_len = BUNDLE_FW_MAX;
		assert_int_equal(bundle_sign(b, &s, &msg, &n, vd, fd), 0);
		assert_int_equal(bundle_verify(msg, n, s.pub, d), 0);
		assert_int_equal(d->firmware_len, BUNDLE_FW_MAX);
		free(msg);
		free(big);
	}
	ec_soft_key_free(k);
	ec_soft_key_free(k2);
	free(b);
	free(d);
}

/* ---- records ---- */

static void fields(struct rec_fields *f, int ok)
{
	memset(f, 0, sizeof(*f));
	f->time = 1767225600;
	memcpy(f->factory, "acme-sz1", 9);
	memcpy(f->line, "L1", 3);
	memcpy(f->station, "st \"1\" \\", 9);
	memcpy(f->writ, "0123456789abcdef0123456789abcdef", 33);
	memcpy(f->product, "lamp", 5);
	f->ok = ok;
	memcpy(f->step, "keys", 5);
}

static void test_record_chain(void **state)
{
	struct rec_fields f;
	char prev[REC_HASH_HEX], h1[REC_HASH_HEX], h2[REC_HASH_HEX], chk[REC_HASH_HEX], why[128];
	char *j1 = NULL, *j2 = NULL, *csv = NULL, *p;

	memset(prev, '0', 64);
	prev[64] = 0;
	fields(&f, 1);
	assert_int_equal(rec_build(&f, 1, prev, &j1, h1), 0);
	fields(&f, 0);
	assert_int_equal(rec_build(&f, 2, h1, &j2, h2), 0);
	assert_int_equal(rec_check(j1, 1, prev, chk, why, sizeof(why)), 0);
	assert_string_equal(chk, h1);
	assert_int_equal(rec_check(j2, 2, h1, chk, why, sizeof(why)), 0);
	/* a gap, a broken link, an altered field */
	assert_int_equal(rec_check(j2, 3, h1, chk, why, sizeof(why)), WRIT_E_JOURNAL);
	assert_int_equal(rec_check(j2, 2, prev, chk, why, sizeof(why)), WRIT_E_JOURNAL);
	p = strstr(j2, "\"lamp\"");
	assert_non_null(p);
	p[1] = 'L';
	assert_int_equal(rec_check(j2, 2, h1, chk, why, sizeof(why)), WRIT_E_JOURNAL);
	assert_non_null(strstr(why, "altered"));
	/* CSV quotes what needs quoting */
	assert_int_equal(rec_to_csv(j1, &csv), 0);
	assert_non_null(strstr(csv, "\"st \"\"1\"\" \\\""));
	/* CSV: a text field a spreadsheet would run as a formula gets a leading ' */
	free(csv);
	fields(&f, 0);
	(void)!snprintf(f.reason, sizeof(f.reason), "=cmd|' /C calc'!A0");
	(void)!snprintf(f.qr, sizeof(f.qr), "+1");
	(void)!snprintf(f.manual, sizeof(f.manual), "%s", "");
	(void)!snprintf(f.step, sizeof(f.step), "keys");
	assert_int_equal(rec_build(&f, 3, h2, &p, chk), 0);
	assert_int_equal(rec_to_csv(p, &csv), 0);
	free(p);
	assert_non_null(strstr(csv, ",'=cmd|' /C calc'!A0,'+1,"));
	assert_null(strstr(csv, ",="));
	assert_null(strstr(csv, ",+"));
	/* non-ASCII text cannot enter a record */
	fields(&f, 1);
	f.reason[0] = (char)0xc3;
	f.reason[1] = (char)0xa9;
	assert_int_equal(rec_build(&f, 3, h2, &p, chk), WRIT_E_INVAL);
	free(csv);
	free(j1);
	free(j2);
}

/* ---- JSON validators ---- */

static void test_json_dac(void **state)
{
	struct fj_dac *d = malloc(sizeof(*d));
	char why[FJ_WHY_MAX];
	const char *good = "{\"uid\":\"00112233445566778899aabbccddeeff\",\"csr\":\"MIIBAAAAAAAAAAAAAAAAAAAA\"}";
	const char *bad[] = {
		"", "[]", "{}", "null", "{\"uid\":1,\"csr\":\"AAAA\"}",
		"{\"uid\":\"00112233445566778899aabbccddeeff\"}",
		"{\"uid\":\"00112233445566778899aabbccddeeff\",\"csr\":\"MIIB\",\"x\":1}",
		"{\"uid\":\"00112233445566778899aabbccddeeff\",\"csr\":\"MIIB====\"}",
		"{\"uid\":\"00112233445566778899aabbccddeef\",\"csr\":\"MIIBAAAAAAAAAAAAAAAAAAAA\"}",
		"{\"uid\":\"00112233445566778899aabbccddeegg\",\"csr\":\"MIIBAAAAAAAAAAAAAAAAAAAA\"}",
		"{\"uid\":\"00112233445566778899aabbccddeeff\",\"csr\":\"MIIBAAAAAAAAAAAAAAAAAAAA\"} x",
		"{\"uid\":\"00112233445566778899aabbccddeeff\",\"uid\":\"00112233445566778899aabbccddeeff\",\"csr\":\"MIIB\"}",
		"{\"uid\":\"00112233445566778899aabbccddeeff\",\"csr\":\"MIIBAAAAAAAAAAAAAAA=\"}",
		"{\"uid\":\"00112233445566778899aabbccddeeff\",\"csr\":[1]}",
	};
	size_t i;

	assert_int_equal(fj_parse_dac(good, strlen(good), d, why, sizeof(why)), 0);
	assert_int_equal(d->csr_len, 18);
	assert_int_equal(d->uid[15], 0xff);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (fj_parse_dac(bad[i], strlen(bad[i]), d, why, sizeof(why)) == 0)
			fail_msg("accepted: %s", bad[i]);
	assert_int_equal(fj_parse_dac(good, FJ_BODY_MAX + 1, d, why, sizeof(why)), WRIT_E_TOOBIG);
	free(d);
}

static void test_json_record(void **state)
{
	struct fj_record r;
	char why[FJ_WHY_MAX];
	const char *ok = "{\"writ\":\"0123456789abcdef0123456789abcdef\",\"uid\":\"00112233445566778899aabbccddeeff\","
			 "\"result\":\"ok\",\"dac_sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\","
			 "\"serial\":1000,\"hsm_seq\":7,\"firmware_version\":3,\"qr\":\"MT:Y.K9042C00KA0648G00\","
			 "\"manual\":\"34970112332\"}";
	const char *failed = "{\"writ\":\"0123456789abcdef0123456789abcdef\",\"uid\":\"00112233445566778899aabbccddeeff\","
			     "\"result\":\"failed\",\"step\":\"keys\",\"reason\":\"no answer\"}";
	const char *bad[] = {
		"{\"writ\":\"0123456789abcdef0123456789abcdef\",\"uid\":\"00112233445566778899aabbccddeeff\",\"result\":\"ok\"}",
		"{\"writ\":\"0123456789abcdef0123456789abcdef\",\"uid\":\"00112233445566778899aabbccddeeff\",\"result\":\"maybe\","
		"\"step\":\"keys\",\"reason\":\"x\"}",
		"{\"writ\":\"0123456789abcdef0123456789abcdef\",\"uid\":\"00112233445566778899aabbccddeeff\",\"result\":\"failed\","
		"\"step\":\"dance\",\"reason\":\"x\"}",
		"{\"writ\":\"0123456789abcdef0123456789abcdef\",\"uid\":\"00112233445566778899aabbccddeeff\",\"result\":\"failed\","
		"\"step\":\"keys\",\"reason\":\"x\\n\"}",
		"{\"writ\":\"0123456789abcdef0123456789abcdef\",\"uid\":\"00112233445566778899aabbccddeeff\",\"result\":\"failed\","
		"\"step\":\"keys\",\"reason\":\"x\",\"serial\":1}",
		"{\"writ\":\"0123456789abcdef0123456789abcdef\",\"uid\":\"00112233445566778899aabbccddeeff\",\"result\":\"failed\","
		"\"step\":\"keys\",\"reason\":\"x\",\"firmware_version\":-1}",
		"{\"writ\":\"0123456789abcdef0123456789abcdef\",\"uid\":\"00112233445566778899aabbccddeeff\",\"result\":\"failed\","
		"\"step\":\"keys\",\"reason\":\"x\",\"firmware_version\":1.5}",
		"{\"writ\":\"0123456789abcdef0123456789abcdef\",\"uid\":\"00112233445566778899aabbccddeeff\",\"result\":\"failed\","
		"\"step\":\"keys\",\"reason\":\"x\",\"manual\":\"12a\"}",
	};
	size_t i;

	assert_int_equal(fj_parse_record(ok, strlen(ok), &r, why, sizeof(why)), 0);
	assert_true(r.ok && r.has_dac && r.serial == 1000 && r.hsm_seq == 7);
	assert_int_equal(fj_parse_record(failed, strlen(failed), &r, why, sizeof(why)), 0);
	assert_false(r.ok);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (fj_parse_record(bad[i], strlen(bad[i]), &r, why, sizeof(why)) == 0)
			fail_msg("accepted: %s", bad[i]);
	assert_int_equal(fj_parse_record(ok, FJ_RECORD_BODY_MAX + 1, &r, why, sizeof(why)), WRIT_E_TOOBIG);
	/* hsm_seq may be left out of an ok record (the factory takes it from its note), not
	 * dac_sha256 or serial */
	{
		const char *noseq = "{\"writ\":\"0123456789abcdef0123456789abcdef\",\"uid\":\"00112233445566778899aabbccddeeff\","
				    "\"result\":\"ok\",\"dac_sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\","
				    "\"serial\":5,\"firmware_version\":3}";
		const char *seqonly = "{\"writ\":\"0123456789abcdef0123456789abcdef\",\"uid\":\"00112233445566778899aabbccddeeff\","
				      "\"result\":\"failed\",\"step\":\"keys\",\"reason\":\"x\",\"hsm_seq\":1}";
		assert_int_equal(fj_parse_record(noseq, strlen(noseq), &r, why, sizeof(why)), 0);
		assert_true(r.ok && r.has_dac && r.serial == 5 && r.hsm_seq == 0);
		assert_int_not_equal(fj_parse_record(seqonly, strlen(seqonly), &r, why, sizeof(why)), 0);
	}
}

static void test_json_enrol_wrap(void **state)
{
	struct fj_enrol e;
	struct fj_wrap *w = malloc(sizeof(*w));
	char why[FJ_WHY_MAX], body[1024];
	const char *good = "{\"code\":\"abc\",\"name\":\"st1\",\"line\":\"L1\"}";

	assert_int_equal(fj_parse_enrol(good, strlen(good), &e, why, sizeof(why)), 0);
	assert_string_equal(e.line, "L1");
	assert_int_not_equal(fj_parse_enrol("{\"code\":\"\",\"name\":\"a\",\"line\":\"b\"}", 34, &e, why, sizeof(why)), 0);
	assert_int_not_equal(fj_parse_enrol("{\"code\":\"a\",\"name\":\"a\"}", 23, &e, why, sizeof(why)), 0);
	(void)!snprintf(body, sizeof(body),
			"{\"uid\":\"00112233445566778899aabbccddeeff\",\"dac\":\"MIIB\",\"enc_pub\":\"04%0128d\","
			"\"binding\":\"MAYCAQECAQE=\",\"label\":\"ota-key\"}", 0);
	assert_int_equal(fj_parse_wrap(body, strlen(body), w, why, sizeof(why)), 0);
	assert_int_equal(w->binding_len, 8);
	(void)!snprintf(body, sizeof(body),
			"{\"uid\":\"00112233445566778899aabbccddeeff\",\"dac\":\"MIIB\",\"enc_pub\":\"04%0128d\","
			"\"binding\":\"MAYCAQECAQE=\",\"label\":\"OTA\"}", 0);
	assert_int_not_equal(fj_parse_wrap(body, strlen(body), w, why, sizeof(why)), 0);
	free(w);
}

static void test_b64(void **state)
{
	uint8_t in[5] = { 1, 2, 3, 4, 5 }, out[8];
	char enc[16];
	size_t n, len;

	for (n = 0; n <= 5; n++) {
		fj_b64_encode(in, n, enc, 0);
		assert_int_equal(fj_b64_decode(enc, strlen(enc), out, sizeof(out), &len), 0);
		assert_int_equal(len, n);
		assert_memory_equal(in, out, n);
	}
	assert_int_equal(fj_b64_decode("AAE=", 4, out, 1, &len), WRIT_E_TOOBIG);
	assert_int_equal(fj_b64_decode("AAF=", 4, out, 8, &len), WRIT_E_FORMAT); /* non-zero padding bits */
	assert_int_equal(fj_b64_decode("A=AA", 4, out, 8, &len), WRIT_E_FORMAT);
	assert_int_equal(fj_b64_decode("AA-_", 4, out, 8, &len), WRIT_E_FORMAT);
	fj_b64_encode(in, 2, enc, 1);
	assert_string_equal(enc, "AQI");
}

static int write_seed(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	(void)!snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n) {
		if (f)
			fclose(f);
		return 1;
	}
	return fclose(f) != 0;
}

static int seeds(const char *dir, const char *key_pem)
{
	struct bundle *b = malloc(sizeof(*b));
	struct ec_soft_key *k = NULL;
	struct writ_signer s;
	uint8_t *p = NULL;
	size_t n = 0;
	int rc = 1;

	make_bundle(b);
	if (bundle_payload_encode(b, &p, &n) < 0 || write_seed(dir, "payload.cbor", p, n))
		goto out;
	free(p);
	p = NULL;
	if (ec_soft_key_from_pem(key_pem, &k) < 0)
		goto out;
	ec_soft_signer(k, &s);
	if (bundle_sign(b, &s, &p, &n, NULL, NULL) < 0 || write_seed(dir, "signed.wbundle", p, n))
		goto out;
	rc = 0;
out:
	free(p);
	free(b);
	ec_soft_key_free(k);
	return rc;
}

/* POST /v1/rework/token and rework records: every field a station controls. */
static void test_json_rework(void **state)
{
#define W "\"writ\":\"0123456789abcdef0123456789abcdef\","
#define U "\"uid\":\"00112233445566778899aabbccddeeff\","
#define C "\"challenge\":\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\","
#define P "\"perms\":\"00000000000000000000000000000101\","
#define H "\"hsm_id\":\"aa00000000000000000000000000000000000000000000000000000000000000\","
	struct fj_rework k;
	struct fj_record r;
	char why[FJ_WHY_MAX], *big;
	const char *good = "{" U C P "\"session\":600,\"operation\":\"reflash\"}";
	const char *with_writ = "{" U C P W "\"session\":1,\"operation\":\"debug\"}";
	const char *bad[] = {
		"", "{", "[]", "null", "{" U C P "\"session\":600}",                        /* missing */
		"{" U C P "\"session\":600,\"operation\":\"reflash\",\"x\":1}",              /* unknown field */
		"{" U U C P "\"session\":600,\"operation\":\"reflash\"}",                    /* duplicate */
		"{\"uid\":\"00000000000000000000000000000000\"," C P "\"session\":1,\"operation\":\"debug\"}", /* zero UID */
		"{\"uid\":\"0011223344556677\"," C P "\"session\":1,\"operation\":\"debug\"}",  /* short UID */
		"{\"uid\":\"00112233445566778899aabbccddeeff00\"," C P "\"session\":1,\"operation\":\"debug\"}", /* long */
		"{\"uid\":\"zz112233445566778899aabbccddeeff\"," C P "\"session\":1,\"operation\":\"debug\"}", /* non-hex */
		"{" U "\"challenge\":\"0001\"," P "\"session\":1,\"operation\":\"debug\"}",   /* short challenge */
		"{" U C "\"perms\":\"00000000000000000000000000000000\",\"session\":1,\"operation\":\"debug\"}", /* none */
		"{" U C "\"perms\":\"0101\",\"session\":1,\"operation\":\"debug\"}",
		"{" U C P "\"session\":0,\"operation\":\"debug\"}",
		"{" U C P "\"session\":86401,\"operation\":\"debug\"}",
		"{" U C P "\"session\":-1,\"operation\":\"debug\"}",
		"{" U C P "\"session\":\"600\",\"operation\":\"debug\"}",
		"{" U C P "\"session\":1,\"operation\":\"dance\"}",
		"{" U C P "\"session\":1,\"operation\":\"debug\",\"writ\":\"0123\"}",
		"{" U C P "\"session\":1,\"operation\":\"debug\"} x",                          /* trailing bytes */
	};
	const char *rec_ok = "{" W U "\"result\":\"ok\",\"step\":\"rework-reflash\"," H "\"hsm_seq\":9,"
			     "\"device_serial\":0,\"firmware_version\":2}";
	const char *rec_failed = "{" W U "\"result\":\"failed\",\"step\":\"rework-debug\",\"reason\":\"the HSM refused\"}";
	const char *rec_bad[] = {
		"{" W U "\"result\":\"ok\",\"step\":\"rework-reflash\",\"firmware_version\":2}",            /* no hsm */
		"{" W U "\"result\":\"ok\",\"step\":\"rework-reflash\"," H "\"hsm_seq\":9}",                /* no fw */
		"{" W U "\"result\":\"ok\",\"step\":\"rework-debug\"," H "\"hsm_seq\":0}",                  /* seq 0 */
		"{" W U "\"result\":\"ok\",\"step\":\"rework-debug\"," H "}",                               /* no seq */
		"{" W U "\"result\":\"ok\",\"step\":\"rework-debug\",\"hsm_id\":\"aa\",\"hsm_seq\":1}",
		"{" W U "\"result\":\"ok\",\"step\":\"rework-debug\"," H "\"hsm_seq\":1,\"serial\":1,"
		"\"dac_sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\"}", /* DAC fields */
		"{" W U "\"result\":\"ok\",\"step\":\"rework-debug\"," H "\"hsm_seq\":1,\"qr\":\"MT:x\"}",
		"{" W U "\"result\":\"failed\",\"step\":\"rework-debug\"}",                                 /* no reason */
		"{" W "\"uid\":\"00000000000000000000000000000000\",\"result\":\"failed\",\"step\":\"rework-debug\","
		"\"reason\":\"x\"}",
		"{" W U "\"result\":\"failed\",\"step\":\"rework-dance\",\"reason\":\"x\"}",
		"{" W U "\"result\":\"failed\",\"step\":\"keys\",\"reason\":\"x\"," H "\"hsm_seq\":1}", /* hsm_id: rework only */
		"{" W U "\"result\":\"failed\",\"step\":\"keys\",\"reason\":\"x\",\"device_serial\":1}",
	};
	size_t i;

	(void)state;
	assert_int_equal(fj_parse_rework(good, strlen(good), &k, why, sizeof(why)), 0);
	assert_int_equal(k.operation, FJ_REWORK_REFLASH);
	assert_int_equal(k.session, 600);
	assert_int_equal(k.perms[15], 1);
	assert_int_equal(k.perms[14], 1);
	assert_false(k.has_writ);
	assert_int_equal(fj_parse_rework(with_writ, strlen(with_writ), &k, why, sizeof(why)), 0);
	assert_true(k.has_writ && k.writ[0] == 0x01 && k.operation == FJ_REWORK_DEBUG);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (fj_parse_rework(bad[i], strlen(bad[i]), &k, why, sizeof(why)) == 0)
			fail_msg("accepted: %s", bad[i]);
	assert_non_null(big = calloc(1, FJ_BODY_MAX + 2));
	memset(big, ' ', FJ_BODY_MAX + 1);
	assert_int_equal(fj_parse_rework(big, FJ_BODY_MAX + 1, &k, why, sizeof(why)), WRIT_E_TOOBIG);
	free(big);
	assert_int_equal(fj_parse_record(rec_ok, strlen(rec_ok), &r, why, sizeof(why)), 0);
	assert_true(r.ok && r.rework == FJ_REWORK_REFLASH && r.has_hsm && r.hsm_seq == 9 && r.firmware_version == 2);
	assert_string_equal(r.hsm_id, "aa00000000000000000000000000000000000000000000000000000000000000");
	assert_int_equal(fj_parse_record(rec_failed, strlen(rec_failed), &r, why, sizeof(why)), 0);
	assert_true(!r.ok && r.rework == FJ_REWORK_DEBUG && !r.has_hsm);
	for (i = 0; i < sizeof(rec_bad) / sizeof(rec_bad[0]); i++)
		if (fj_parse_record(rec_bad[i], strlen(rec_bad[i]), &r, why, sizeof(why)) == 0)
			fail_msg("accepted: %s", rec_bad[i]);
#undef W
#undef U
#undef C
#undef P
#undef H
}

/* Which writ writ-factory asks first for a rework token (factory_rework_writs). */
static void test_rework_order(void **state)
{
	struct factory *f = calloc(1, sizeof(*f));
	struct fwrit out[8];
	static const struct {
		const char *id, *product;
		uint32_t kind;
		int64_t nb, rna;
		uint64_t limit, used;
		int revoked, rights;
	} w[] = {
		{ "a", "lamp", 1, 100, 5000, 10, 0, 0, 1 },  /* production, lamp, older */
		{ "b", "lamp", 1, 200, 5000, 10, 0, 0, 1 },  /* production, lamp, newer */
		{ "c", "fan", 2, 300, 5000, 10, 0, 0, 1 },   /* rework writ, another product */
		{ "d", "lamp", 2, 150, 5000, 10, 0, 0, 1 },  /* rework writ, lamp */
		{ "e", "lamp", 2, 400, 5000, 10, 10, 0, 1 }, /* rework writ, spent */
		{ "f", "lamp", 2, 500, 5000, 10, 0, 1, 1 },  /* revoked */
		{ "g", "lamp", 2, 600, 500, 10, 0, 0, 1 },   /* rights ended */
		{ "h", "lamp", 1, 700, 5000, 10, 0, 0, 0 },  /* no rights */
	};
	char order[16] = "";
	size_t i, n;

	(void)state;
	assert_non_null(f);
	factory_init(f);
	for (i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		struct fwrit *x = &f->writs[i];
		(void)!snprintf(x->id_hex, sizeof(x->id_hex), "%s", w[i].id);
		(void)!snprintf(x->product, sizeof(x->product), "%s", w[i].product);
		x->kind = w[i].kind;
		x->not_before = w[i].nb;
		x->rework_not_after = w[i].rna;
		x->rework_limit = w[i].limit;
		x->rework_used = w[i].used;
		x->revoked = w[i].revoked;
		x->has_rework = w[i].rights;
	}
	f->n_writs = i;
	n = factory_rework_writs(f, "lamp", 1000, out, 8);
	assert_int_equal(n, 7);
	for (i = 0; i < n; i++)
		order[i] = out[i].id_hex[0];
	/* usable first; rework writs before production; the device's product first; newest */
	assert_string_equal(order, "dcbagfe");
	n = factory_rework_writs(f, NULL, 1000, out, 8);
	for (i = 0; i < n; i++)
		order[i] = out[i].id_hex[0];
	assert_string_equal(order, "cdbagfe");
	assert_int_equal(factory_rework_writs(f, "lamp", 1000, out, 2), 2); /* the best two, not the first two */
	assert_string_equal(out[0].id_hex, "d");
	assert_string_equal(out[1].id_hex, "c");
	factory_fini(f);
	free(f);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bundle_roundtrip),    cmocka_unit_test(test_bundle_recipe),
		cmocka_unit_test(test_bundle_encode_invalid), cmocka_unit_test(test_bundle_decode_garbage),
		cmocka_unit_test(test_bundle_sign_verify),  cmocka_unit_test(test_record_chain),
		cmocka_unit_test(test_json_dac),	    cmocka_unit_test(test_json_record), cmocka_unit_test(test_json_rework), cmocka_unit_test(test_rework_order),
		cmocka_unit_test(test_json_enrol_wrap),	    cmocka_unit_test(test_b64),
	};

	if (argc == 4 && !strcmp(argv[1], "--seeds"))
		return seeds(argv[2], argv[3]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
