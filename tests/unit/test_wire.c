/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the peer-facing decoders in lib/wire other than the writ itself: the
 * strict CBOR map loader (cbu), writ-hsmd's request decoder (hsmproto) and the
 * enrolment bundle an HSM sends its OEM (enrol). Each gets valid input, then garbage:
 * malformed, truncated, oversized, duplicated, tampered, re-signed by another key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/csr.h"
#include "crypto/ec.h"
#include "wire/cbu.h"
#include "wire/enrol.h"
#include "wire/hsmproto.h"

/* ---- cbu ---- */

static void test_cbu_accepts_strict_map(void **state)
{
	/* {1: 7, 2: h'0102', 3: "ab", 4: [1, -1]} */
	static const uint8_t ok[] = { 0xa4, 0x01, 0x07, 0x02, 0x42, 0x01, 0x02, 0x03, 0x62, 'a', 'b',
				      0x04, 0x82, 0x01, 0x20 };
	cbor_item_t *m = NULL;
	uint64_t u;
	int64_t i;
	char t[8];
	const uint8_t *b;
	size_t n;

	(void)state;
	assert_int_equal(cbu_load_map(ok, sizeof(ok), &m), 0);
	assert_int_equal(cbu_get_uint(m, 1, 100, &u), 0);
	assert_int_equal(u, 7);
	assert_int_equal(cbu_get_uint(m, 1, 6, &u), WRIT_E_FORMAT); /* above max */
	assert_int_equal(cbu_get_int(m, 1, &i), 0);
	assert_int_equal(i, 7);
	assert_int_equal(cbu_get_bytes(m, 2, 2, 2, &b, &n), 0);
	assert_memory_equal(b, "\x01\x02", 2);
	assert_int_equal(cbu_get_bytes(m, 2, 3, 9, &b, &n), WRIT_E_FORMAT);
	assert_int_equal(cbu_get_text(m, 3, t, sizeof(t)), 0);
	assert_string_equal(t, "ab");
	assert_int_equal(cbu_get_text(m, 3, t, 2), WRIT_E_FORMAT); /* no room for NUL */
	assert_int_equal(cbu_get_text(m, 2, t, sizeof(t)), WRIT_E_FORMAT); /* wrong type */
	assert_int_equal(cbu_get_uint(m, 9, 100, &u), WRIT_E_NOTFOUND);
	cbor_decref(&m);
}

static void test_cbu_refuses_garbage(void **state)
{
	static const struct {
		const char *what;
		uint8_t b[12];
		size_t n;
	} bad[] = {
		{ "not a map", { 0x81, 0x01 }, 2 },
		{ "duplicate key", { 0xa2, 0x01, 0x01, 0x01, 0x02 }, 5 },
		{ "duplicate key, non-shortest", { 0xa2, 0x01, 0x01, 0x18, 0x01, 0x02 }, 6 },
		{ "text key", { 0xa1, 0x61, 'a', 0x01 }, 4 },
		{ "negative key", { 0xa1, 0x20, 0x01 }, 3 },
		{ "indefinite map", { 0xbf, 0x01, 0x01, 0xff }, 4 },
		{ "indefinite bytes", { 0xa1, 0x01, 0x5f, 0x41, 0x00, 0xff }, 6 },
		{ "tag", { 0xa1, 0x01, 0xc1, 0x01 }, 4 },
		{ "float", { 0xa1, 0x01, 0xf9, 0x3c, 0x00 }, 5 },
		{ "reserved ai", { 0xa1, 0x01, 0x1c }, 3 },
		{ "bytes longer than input", { 0xa1, 0x01, 0x5a, 0xff, 0xff, 0xff, 0xff }, 7 },
		{ "map claims 2^32 pairs", { 0xba, 0xff, 0xff, 0xff, 0xff, 0x01 }, 6 },
		{ "trailing byte", { 0xa1, 0x01, 0x01, 0x00 }, 4 },
		{ "truncated", { 0xa2, 0x01, 0x01 }, 3 },
		/* found by fuzz_hsmproto: a value eats the bytes the next key should be in */
		{ "input ends before a key", { 0xa2, 0x01, 0x42, 0x00, 0x00 }, 5 },
	};
	uint8_t deep[64], big[2 + 3 * 40];
	size_t off;
	cbor_item_t *m = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* an exactly sized heap copy, so a read past the end is caught under ASan */
		uint8_t *copy = malloc(bad[i].n);
		int err;
		assert_non_null(copy);
		memcpy(copy, bad[i].b, bad[i].n);
		err = cbu_load_map(copy, bad[i].n, &m);
		free(copy);
		if (err != WRIT_E_FORMAT)
			fail_msg("%s: got %d", bad[i].what, err);
	}
	/* nesting deeper than the limit */
	deep[0] = 0xa1;
	deep[1] = 0x01;
	memset(deep + 2, 0x81, sizeof(deep) - 3);
	deep[sizeof(deep) - 1] = 0x01;
	assert_int_equal(cbu_load_map(deep, sizeof(deep), &m), WRIT_E_FORMAT);
	/* more pairs than any writ map has */
	big[0] = 0xb8;
	big[1] = 40;
	for (i = 0, off = 2; i < 40; i++) { /* 40 distinct keys */
		if (i >= 24)
			big[off++] = 0x18;
		big[off++] = (uint8_t)i;
		big[off++] = 0x00;
	}
	assert_int_equal(cbu_load_map(big, off, &m), WRIT_E_FORMAT);
	big[1] = 32; /* the same map cut to 32 pairs is fine */
	assert_int_equal(cbu_load_map(big, 2 + 24 * 2 + 8 * 3, &m), 0);
	cbor_decref(&m);
	assert_int_equal(cbu_load_map(NULL, 0, &m), WRIT_E_FORMAT);
}

/* ---- hsmproto ---- */

static size_t encode(cbor_item_t *m, uint8_t *out, size_t cap)
{
	uint8_t *buf = NULL;
	size_t n = 0;

	assert_int_equal(cbu_serialize(m, &buf, &n), 0);
	assert_true(n <= cap);
	memcpy(out, buf, n);
	free(buf);
	cbor_decref(&m);
	return n;
}

static void test_hsmproto_requests(void **state)
{
	uint8_t buf[256], id[16] = { 1 }, uid[4] = { 9, 9, 9, 9 };
	struct hsmp_request rq;
	cbor_item_t *m;
	size_t n, cut;

	(void)state;
	m = cbu_new_map(4);
	assert_int_equal(cbu_put_uint(m, HSMP_RQ_OP, HSMP_OP_ISSUE_DAC), 0);
	assert_int_equal(cbu_put_bytes(m, HSMP_RQ_WRIT_ID, id, 16), 0);
	assert_int_equal(cbu_put_bytes(m, HSMP_RQ_CSR, (const uint8_t *)"csr", 3), 0);
	assert_int_equal(cbu_put_bytes(m, HSMP_RQ_UID, uid, 4), 0);
	n = encode(m, buf, sizeof(buf));
	assert_int_equal(hsmp_decode_request(buf, n, &rq), 0);
	assert_int_equal(rq.op, HSMP_OP_ISSUE_DAC);
	assert_int_equal(rq.uid_len, 4);
	assert_memory_equal(rq.writ_id, id, 16);
	hsmp_request_free(&rq);
	for (cut = 0; cut < n; cut++)
		assert_int_equal(hsmp_decode_request(buf, cut, &rq), WRIT_E_PROTO);

	/* a key the op does not take */
	m = cbu_new_map(2);
	assert_int_equal(cbu_put_uint(m, HSMP_RQ_OP, HSMP_OP_STATUS), 0);
	assert_int_equal(cbu_put_uint(m, HSMP_RQ_SINCE, 1), 0);
	n = encode(m, buf, sizeof(buf));
	assert_int_equal(hsmp_decode_request(buf, n, &rq), WRIT_E_PROTO);
	/* op 7, checkpoint: no key but the op */
	m = cbu_new_map(1);
	assert_int_equal(cbu_put_uint(m, HSMP_RQ_OP, HSMP_OP_CHECKPOINT), 0);
	n = encode(m, buf, sizeof(buf));
	assert_int_equal(hsmp_decode_request(buf, n, &rq), 0);
	assert_int_equal(rq.op, HSMP_OP_CHECKPOINT);
	hsmp_request_free(&rq);
	m = cbu_new_map(2);
	assert_int_equal(cbu_put_uint(m, HSMP_RQ_OP, HSMP_OP_CHECKPOINT), 0);
	assert_int_equal(cbu_put_uint(m, HSMP_RQ_SINCE, 0), 0);
	n = encode(m, buf, sizeof(buf));
	assert_int_equal(hsmp_decode_request(buf, n, &rq), WRIT_E_PROTO);
	/* unknown op */
	m = cbu_new_map(1);
	assert_int_equal(cbu_put_uint(m, HSMP_RQ_OP, 99), 0);
	n = encode(m, buf, sizeof(buf));
	assert_int_equal(hsmp_decode_request(buf, n, &rq), WRIT_E_PROTO);
	/* uid too long */
	m = cbu_new_map(4);
	assert_int_equal(cbu_put_uint(m, HSMP_RQ_OP, HSMP_OP_ISSUE_DAC), 0);
	assert_int_equal(cbu_put_bytes(m, HSMP_RQ_WRIT_ID, id, 16), 0);
	assert_int_equal(cbu_put_bytes(m, HSMP_RQ_CSR, (const uint8_t *)"csr", 3), 0);
	assert_int_equal(cbu_put_bytes(m, HSMP_RQ_UID, buf, HSMP_UID_MAX + 1), 0);
	n = encode(m, buf, sizeof(buf));
	assert_int_equal(hsmp_decode_request(buf, n, &rq), WRIT_E_PROTO);
	/* journal max 0 and above the batch limit */
	m = cbu_new_map(3);
	assert_int_equal(cbu_put_uint(m, HSMP_RQ_OP, HSMP_OP_JOURNAL), 0);
	assert_int_equal(cbu_put_uint(m, HSMP_RQ_SINCE, 0), 0);
	assert_int_equal(cbu_put_uint(m, HSMP_RQ_MAX, HSMP_JOURNAL_BATCH_MAX + 1), 0);
	n = encode(m, buf, sizeof(buf));
	assert_int_equal(hsmp_decode_request(buf, n, &rq), WRIT_E_PROTO);
}

/* ---- enrolment bundle ---- */

struct keys {
	struct ec_soft_key *id, *kex, *pai;
	struct writ_signer id_s, pai_s;
	struct writ_ecdh kex_e;
};

static void make_info(struct keys *k, struct enrol_info *info)
{
	uint8_t *csr = NULL;
	size_t csr_len = 0;

	assert_int_equal(ec_soft_key_new(&k->id), 0);
	assert_int_equal(ec_soft_key_new(&k->kex), 0);
	assert_int_equal(ec_soft_key_new(&k->pai), 0);
	ec_soft_signer(k->id, &k->id_s);
	ec_soft_signer(k->pai, &k->pai_s);
	ec_soft_ecdh(k->kex, &k->kex_e);
	memset(info, 0, sizeof(*info));
	memcpy(info->identity_pub, k->id_s.pub, WRIT_P256_PUB_LEN);
	memcpy(info->kex_pub, k->kex_e.pub, WRIT_P256_PUB_LEN);
	memcpy(info->pai_pub, k->pai_s.pub, WRIT_P256_PUB_LEN);
	memcpy(info->factory, "acme-sz1", 9);
	assert_int_equal(csr_build_sign("test PAI", &k->pai_s, &csr, &csr_len), 0);
	memcpy(info->csr, csr, csr_len);
	info->csr_len = csr_len;
	info->created = 1795454000;
	free(csr);
}

static void free_keys(struct keys *k)
{
	ec_soft_key_free(k->id);
	ec_soft_key_free(k->kex);
	ec_soft_key_free(k->pai);
}

static void test_enrol_roundtrip_and_tamper(void **state)
{
	struct keys k;
	struct enrol_info *info = malloc(sizeof(*info)), *got = malloc(sizeof(*got));
	uint8_t *b = NULL, id[WRIT_KEYID_LEN];
	size_t n = 0, i, cut;

	(void)state;
	assert_non_null(info);
	assert_non_null(got);
	make_info(&k, info);
	assert_int_equal(enrol_build(info, &k.id_s, &b, &n), 0);
	assert_int_equal(enrol_verify(b, n, got), 0);
	assert_int_equal(ec_keyid(info->identity_pub, id), 0);
	assert_memory_equal(got->hsm_id, id, WRIT_KEYID_LEN);
	assert_string_equal(got->factory, "acme-sz1");
	assert_memory_equal(got->kex_pub, info->kex_pub, WRIT_P256_PUB_LEN);
	assert_memory_equal(got->pai_pub, info->pai_pub, WRIT_P256_PUB_LEN);
	assert_int_equal(got->csr_len, info->csr_len);
	assert_int_equal(got->created, info->created);

	/* every byte flipped: never verifies */
	for (i = 0; i < n; i++) {
		b[i] ^= 0x21;
		if (enrol_verify(b, n, got) == 0)
			fail_msg("flipped byte %zu still verifies", i);
		b[i] ^= 0x21;
	}
	for (cut = 0; cut < n; cut++)
		assert_true(enrol_verify(b, cut, got) < 0);
	assert_int_equal(enrol_verify(b, ENROL_MAX + 1, got), WRIT_E_TOOBIG);
	free(b);
	b = NULL;

	/* signed by a key other than the identity it claims: refused at build and verify */
	assert_int_equal(enrol_build(info, &k.pai_s, &b, &n), WRIT_E_INVAL);
	/* a factory id outside the name rule */
	memcpy(info->factory, "acme sz1", 9);
	assert_int_equal(enrol_build(info, &k.id_s, &b, &n), WRIT_E_INVAL);
	memcpy(info->factory, "acme-sz1", 9);
	/* a CSR for another key than the PAI key it names */
	memcpy(info->pai_pub, info->kex_pub, WRIT_P256_PUB_LEN);
	assert_int_equal(enrol_build(info, &k.id_s, &b, &n), 0);
	assert_true(enrol_verify(b, n, got) < 0);
	free(b);
	free(info);
	free(got);
	free_keys(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cbu_accepts_strict_map),
		cmocka_unit_test(test_cbu_refuses_garbage),
		cmocka_unit_test(test_hsmproto_requests),
		cmocka_unit_test(test_enrol_roundtrip_and_tamper),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
