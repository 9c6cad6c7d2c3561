/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the chip-facing pieces of the edge HSM: the writ scope's optional
 * secrets (key 20) with every kind of garbage, the op-6 request decoder, the secret
 * wrap (lib/crypto/wrap.c) round trip with soft keys and its failure on any tampered
 * byte, wrong UID or wrong label, and firmware signatures (lib/crypto/fwsig.c), whole
 * and streamed, failing on a wrong version, size, image byte or signature byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/ct.h"
#include "crypto/ec.h"
#include "crypto/fwsig.h"
#include "crypto/wrap.h"
#include "wire/cbu.h"
#include "wire/hsmproto.h"
#include "wire/writ.h"

/* ---- scope secrets ---- */

static void base_scope(struct writ_scope *s)
{
	memset(s, 0, sizeof(*s));
	memset(s->id, 0x11, sizeof(s->id));
	s->kind = WRIT_KIND_PRODUCTION;
	memset(s->issuer_kid, 0x22, sizeof(s->issuer_kid));
	memcpy(s->product, "lamp", 5);
	s->vid = 0xFFF1;
	s->pid = 0x8000;
	memcpy(s->factory, "acme-sz1", 9);
	memset(s->hsm_id, 0x33, sizeof(s->hsm_id));
	s->quantity = 10;
	s->serial_first = 100;
	s->serial_last = 109;
	s->not_before = 1000;
	s->not_after = 2000;
	s->ops = WRIT_OP_ISSUE_DAC | WRIT_OP_WRAP_SECRET;
	s->pai_len = 3;
	memset(s->pai, 0x30, 3);
	s->issued_at = 999;
}

static void add_secret(struct writ_scope *s, const char *label, size_t n, uint8_t fill)
{
	struct writ_secret *x = &s->secrets[s->n_secrets++];

	memcpy(x->label, label, strlen(label) + 1);
	memset(x->value, fill, n);
	x->value_len = n;
}

static void test_scope_secrets_roundtrip(void **state)
{
	struct writ_scope s, d;
	uint8_t *enc = NULL, *enc2 = NULL;
	size_t len = 0, len2 = 0;
	char label32[33];

	(void)state;
	base_scope(&s);
	/* without secrets: 19 keys, key 20 absent */
	assert_int_equal(writ_scope_encode(&s, &enc, &len), 0);
	assert_int_equal(enc[0], 0xb3);
	free(enc);
	memset(label32, 'z', 32);
	label32[32] = 0;
	add_secret(&s, "ota-key", 16, 0xa1);
	add_secret(&s, label32, 64, 0xa2);
	add_secret(&s, "0-9", 32, 0xa3);
	add_secret(&s, "x", 17, 0xa4);
	assert_int_equal(writ_scope_encode(&s, &enc, &len), 0);
	assert_int_equal(enc[0], 0xb4);
	memset(&d, 0xee, sizeof(d));
	assert_int_equal(writ_scope_decode(enc, len, &d), 0);
	assert_int_equal(d.n_secrets, 4);
	assert_string_equal(d.secrets[1].label, label32);
	assert_int_equal(d.secrets[1].value_len, 64);
	assert_int_equal(d.secrets[3].value[16], 0xa4);
	assert_non_null(writ_scope_secret(&d, "0-9", 3));
	assert_null(writ_scope_secret(&d, "0-", 2));
	assert_int_equal(writ_scope_secret(&d, "ota-key", 7)->value[0], 0xa1);
	assert_int_equal(writ_scope_encode(&d, &enc2, &len2), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(enc, enc2, len);
	writ_scope_wipe(&d);
	{
		static const uint8_t zero[sizeof(d)];
		assert_memory_equal(&d, zero, sizeof(d));
	}
	free(enc);
	free(enc2);
}

static void test_scope_secrets_encode_refuses(void **state)
{
	struct writ_scope s;
	uint8_t *enc = NULL;
	size_t len = 0;
	const char *bad_labels[] = { "", "OTA", "ota_key", "ota key", "ota.key",
				     "abcdefghijabcdefghijabcdefghijabc" /* 33 */ };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_labels) / sizeof(bad_labels[0]); i++) {
		base_scope(&s);
		add_secret(&s, bad_labels[i], 16, 1);
		assert_int_equal(writ_scope_encode(&s, &enc, &len), WRIT_E_INVAL);
	}
	base_scope(&s);
	add_secret(&s, "a", 15, 1);
	assert_int_equal(writ_scope_encode(&s, &enc, &len), WRIT_E_INVAL);
	base_scope(&s);
	add_secret(&s, "a", 16, 1);
	s.secrets[0].value_len = 65;
	assert_int_equal(writ_scope_encode(&s, &enc, &len), WRIT_E_INVAL);
	base_scope(&s);
	add_secret(&s, "a", 16, 1);
	add_secret(&s, "a", 16, 2);
	assert_int_equal(writ_scope_encode(&s, &enc, &len), WRIT_E_INVAL);
	base_scope(&s);
	s.n_secrets = 5;
	for (i = 0; i < 4; i++) {
		s.secrets[i].label[0] = (char)('a' + i);
		s.secrets[i].value_len = 16;
	}
	assert_int_equal(writ_scope_encode(&s, &enc, &len), WRIT_E_INVAL);
	/* a revocation carries no secret */
	base_scope(&s);
	s.kind = WRIT_KIND_REVOCATION;
	s.quantity = 0;
	s.n_revokes = 1;
	add_secret(&s, "a", 16, 1);
	assert_int_equal(writ_scope_encode(&s, &enc, &len), WRIT_E_INVAL);
}

/* The base scope's encoding with key 20 set to the raw CBOR value tail. */
static void with_key20(const uint8_t *tail, size_t n, uint8_t *out, size_t *ret_len, uint8_t map_head, uint8_t key)
{
	struct writ_scope s;
	uint8_t *enc = NULL;
	size_t len = 0;

	base_scope(&s);
	assert_int_equal(writ_scope_encode(&s, &enc, &len), 0);
	assert_true(len + 1 + n <= 4096);
	memcpy(out, enc, len);
	out[0] = map_head;
	out[len] = key;
	memcpy(out + len + 1, tail, n);
	*ret_len = len + 1 + n;
	free(enc);
}

static size_t secret_entry(uint8_t *p, const char *label, size_t label_len, size_t vlen)
{
	size_t n = 0;

	p[n++] = 0x82;
	p[n++] = (uint8_t)(label_len < 24 ? 0x60 | label_len : 0x78);
	if (label_len >= 24)
		p[n++] = (uint8_t)label_len;
	memcpy(p + n, label, label_len);
	n += label_len;
	p[n++] = (uint8_t)(vlen < 24 ? 0x40 | vlen : 0x58);
	if (vlen >= 24)
		p[n++] = (uint8_t)vlen;
	memset(p + n, 0x5a, vlen);
	return n + vlen;
}

static void test_scope_secrets_decode_garbage(void **state)
{
	uint8_t tail[1024], buf[4096];
	struct writ_scope d;
	size_t n, len, i;
	const char l33[] = "abcdefghijabcdefghijabcdefghijabc";

	(void)state;
#define EXPECT(head, key, want)                                                    \
	do {                                                                       \
		with_key20(tail, n, buf, &len, head, key);                         \
		memset(&d, 0x77, sizeof(d));                                       \
		assert_int_equal(writ_scope_decode(buf, len, &d), want);           \
		if (want == 0)                                                     \
			writ_scope_wipe(&d);                                       \
	} while (0)
	/* valid: one secret */
	tail[0] = 0x81;
	n = 1 + secret_entry(tail + 1, "ota-key", 7, 16);
	EXPECT(0xb4, 0x14, 0);
	/* map says 19 but key 20 follows: trailing bytes */
	EXPECT(0xb3, 0x14, WRIT_E_FORMAT);
	/* key 21 */
	EXPECT(0xb4, 0x15, WRIT_E_FORMAT);
	/* empty list */
	tail[0] = 0x80;
	n = 1;
	EXPECT(0xb4, 0x14, WRIT_E_FORMAT);
	/* five secrets */
	tail[0] = 0x85;
	n = 1;
	for (i = 0; i < 5; i++) {
		char l[2] = { (char)('a' + i), 0 };
		n += secret_entry(tail + n, l, 1, 16);
	}
	EXPECT(0xb4, 0x14, WRIT_E_FORMAT);
	/* duplicate label */
	tail[0] = 0x82;
	n = 1 + secret_entry(tail + 1, "dup", 3, 16);
	n += secret_entry(tail + n, "dup", 3, 20);
	EXPECT(0xb4, 0x14, WRIT_E_FORMAT);
	/* label 33 bytes, 0 bytes, capital, underscore, NUL */
	tail[0] = 0x81;
	n = 1 + secret_entry(tail + 1, l33, 33, 16);
	EXPECT(0xb4, 0x14, WRIT_E_FORMAT);
	n = 1 + secret_entry(tail + 1, "", 0, 16);
	EXPECT(0xb4, 0x14, WRIT_E_FORMAT);
	n = 1 + secret_entry(tail + 1, "Ota", 3, 16);
	EXPECT(0xb4, 0x14, WRIT_E_FORMAT);
	n = 1 + secret_entry(tail + 1, "ota_k", 5, 16);
	EXPECT(0xb4, 0x14, WRIT_E_FORMAT);
	n = 1 + secret_entry(tail + 1, "ot\0a", 4, 16);
	EXPECT(0xb4, 0x14, WRIT_E_FORMAT);
	/* value 15 and 65 bytes; 16 and 64 are fine */
	n = 1 + secret_entry(tail + 1, "v", 1, 15);
	EXPECT(0xb4, 0x14, WRIT_E_FORMAT);
	n = 1 + secret_entry(tail + 1, "v", 1, 65);
	EXPECT(0xb4, 0x14, WRIT_E_FORMAT);
	n = 1 + secret_entry(tail + 1, "v", 1, 64);
	EXPECT(0xb4, 0x14, 0);
	/* wrong types: label as bstr, value as tstr, entry of 3, entry not an array,
	 * secrets as a map, as a bstr */
	n = 1 + secret_entry(tail + 1, "v", 1, 16);
	tail[2] = 0x41; /* label bstr */
	EXPECT(0xb4, 0x14, WRIT_E_FORMAT);
	n = 1 + secret_entry(tail + 1, "v", 1, 16);
	tail[4] = 0x70; /* value tstr(16) */
	EXPECT(0xb4, 0x14, WRIT_E_FORMAT);
	n = 1 + secret_entry(tail + 1, "v", 1, 16);
	tail[1] = 0x83;
	EXPECT(0xb4, 0x14, WRIT_E_FORMAT);
	n = 1 + secret_entry(tail + 1, "v", 1, 16);
	tail[1] = 0xa1; /* {label: value} */
	EXPECT(0xb4, 0x14, WRIT_E_FORMAT);
	tail[0] = 0xa1;
	n = 1 + secret_entry(tail + 1, "v", 1, 16) - 1; /* map {tstr: bstr} */
	memmove(tail + 1, tail + 2, n - 1);
	EXPECT(0xb4, 0x14, WRIT_E_FORMAT);
	tail[0] = 0x50;
	memset(tail + 1, 1, 16);
	n = 17;
	EXPECT(0xb4, 0x14, WRIT_E_FORMAT);
	/* non-shortest length of the value */
	tail[0] = 0x81;
	n = 1 + secret_entry(tail + 1, "v", 1, 16);
	memmove(tail + 6, tail + 5, 16);
	tail[4] = 0x58;
	tail[5] = 16;
	n++;
	EXPECT(0xb4, 0x14, WRIT_E_FORMAT);
	/* truncated */
	n = 1 + secret_entry(tail + 1, "v", 1, 16) - 1;
	EXPECT(0xb4, 0x14, WRIT_E_FORMAT);
#undef EXPECT
}

/* ---- op 6 request decoder ---- */

static void test_hsmproto_wrap(void **state)
{
	struct hsmp_request rq;
	uint8_t id[16] = { 1 }, uid[16] = { 2 }, dac[300] = { 0x30 }, pub[65] = { 4 }, bind[70] = { 0x30 };
	uint8_t *buf = NULL;
	size_t len = 0;
	int v;

	(void)state;
	for (v = 0; v < 7; v++) {
		cbor_item_t *m = cbu_new_map(v == 6 ? 8 : 7);
		assert_int_equal(cbu_put_uint(m, HSMP_RQ_OP, HSMP_OP_WRAP_SECRET), 0);
		assert_int_equal(cbu_put_bytes(m, HSMP_RQ_WRIT_ID, id, 16), 0);
		assert_int_equal(cbu_put_bytes(m, HSMP_RQ_UID, uid, v == 1 ? 15 : 16), 0);
		assert_int_equal(cbu_put_bytes(m, HSMP_RQ_DAC, dac, v == 2 ? 0 : sizeof(dac)), 0);
		assert_int_equal(cbu_put_bytes(m, HSMP_RQ_ENC_PUB, pub, v == 3 ? 64 : 65), 0);
		assert_int_equal(cbu_put_bytes(m, HSMP_RQ_BINDING, bind, v == 4 ? 7 : 70), 0);
		assert_int_equal(cbu_put_text(m, HSMP_RQ_LABEL, v == 5 ? "" : "ota-key"), 0);
		if (v == 6)
			assert_int_equal(cbu_put_uint(m, HSMP_RQ_CSR, 1), 0);
		assert_int_equal(cbu_serialize(m, &buf, &len), 0);
		cbor_decref(&m);
		memset(&rq, 0, sizeof(rq));
		if (v == 0) {
			assert_int_equal(hsmp_decode_request(buf, len, &rq), 0);
			assert_int_equal(rq.op, HSMP_OP_WRAP_SECRET);
			assert_int_equal(rq.uid_len, 16);
			assert_int_equal(rq.dac_len, sizeof(dac));
			assert_int_equal(rq.binding_len, 70);
			assert_string_equal(rq.label, "ota-key");
			assert_int_equal(rq.label_len, 7);
			hsmp_request_free(&rq);
		} else {
			assert_int_equal(hsmp_decode_request(buf, len, &rq), WRIT_E_PROTO);
		}
		free(buf);
	}
}

/* ---- wrap / unwrap ---- */

static void test_wrap_roundtrip_and_tamper(void **state)
{
	struct ec_soft_key *chip = NULL, *other = NULL;
	struct writ_ecdh enc, enc_other;
	uint8_t uid[16], uid2[16], secret[64], w[WRAP_MAX], w2[WRAP_MAX], out[64];
	size_t wl = 0, wl2 = 0, ol = 0, i, sl;

	(void)state;
	assert_int_equal(ec_soft_key_new(&chip), 0);
	assert_int_equal(ec_soft_key_new(&other), 0);
	ec_soft_ecdh(chip, &enc);
	ec_soft_ecdh(other, &enc_other);
	for (i = 0; i < 16; i++)
		uid[i] = uid2[i] = (uint8_t)(i + 1);
	uid2[15] ^= 1;
	for (i = 0; i < sizeof(secret); i++)
		secret[i] = (uint8_t)(0x80 + i);
	for (sl = WRAP_SECRET_MIN; sl <= WRAP_SECRET_MAX; sl += 16) {
		assert_int_equal(wrap_secret_p256(enc.pub, uid, "ota-key", 7, secret, sl, w, sizeof(w), &wl), 0);
		assert_int_equal(wl, WRAP_OVERHEAD + sl);
		assert_int_equal(unwrap_secret_p256(&enc, uid, "ota-key", 7, w, wl, out, sizeof(out), &ol), 0);
		assert_int_equal(ol, sl);
		assert_memory_equal(out, secret, sl);
	}
	sl = 32;
	assert_int_equal(wrap_secret_p256(enc.pub, uid, "ota-key", 7, secret, sl, w, sizeof(w), &wl), 0);
	/* two wraps differ (fresh ephemeral key and nonce) */
	assert_int_equal(wrap_secret_p256(enc.pub, uid, "ota-key", 7, secret, sl, w2, sizeof(w2), &wl2), 0);
	assert_int_equal(wl, wl2);
	assert_memory_not_equal(w, w2, 65);
	assert_memory_not_equal(w + 65, w2 + 65, 12);
	/* any byte flipped */
	for (i = 0; i < wl; i++) {
		memcpy(w2, w, wl);
		w2[i] ^= 0x01;
		assert_true(unwrap_secret_p256(&enc, uid, "ota-key", 7, w2, wl, out, sizeof(out), &ol) < 0);
	}
	/* truncated or extended */
	assert_true(unwrap_secret_p256(&enc, uid, "ota-key", 7, w, wl - 1, out, sizeof(out), &ol) < 0);
	memcpy(w2, w, wl);
	w2[wl] = 0;
	assert_true(unwrap_secret_p256(&enc, uid, "ota-key", 7, w2, wl + 1, out, sizeof(out), &ol) < 0);
	/* wrong UID, label, key */
	assert_int_equal(unwrap_secret_p256(&enc, uid2, "ota-key", 7, w, wl, out, sizeof(out), &ol), WRIT_E_DECRYPT);
	assert_int_equal(unwrap_secret_p256(&enc, uid, "ota-kez", 7, w, wl, out, sizeof(out), &ol), WRIT_E_DECRYPT);
	assert_int_equal(unwrap_secret_p256(&enc, uid, "ota-ke", 6, w, wl, out, sizeof(out), &ol), WRIT_E_DECRYPT);
	assert_int_equal(unwrap_secret_p256(&enc_other, uid, "ota-key", 7, w, wl, out, sizeof(out), &ol),
			 WRIT_E_DECRYPT);
	/* bad arguments */
	assert_int_equal(wrap_secret_p256(enc.pub, uid, "ota-key", 7, secret, 15, w, sizeof(w), &wl), WRIT_E_INVAL);
	assert_int_equal(wrap_secret_p256(enc.pub, uid, "ota-key", 7, secret, 65, w, sizeof(w), &wl), WRIT_E_INVAL);
	assert_int_equal(wrap_secret_p256(enc.pub, uid, "OTA", 3, secret, 16, w, sizeof(w), &wl), WRIT_E_INVAL);
	assert_int_equal(wrap_secret_p256(enc.pub, uid, "", 0, secret, 16, w, sizeof(w), &wl), WRIT_E_INVAL);
	assert_int_equal(wrap_secret_p256(enc.pub, uid, "ota-key", 7, secret, 32, w, 124, &wl), WRIT_E_TOOBIG);
	memcpy(w2, enc.pub, 65);
	w2[64] ^= 1;
	assert_int_equal(wrap_secret_p256(w2, uid, "ota-key", 7, secret, 16, w, sizeof(w), &wl), WRIT_E_FORMAT);
	ec_soft_key_free(chip);
	ec_soft_key_free(other);
}

/* ---- firmware signatures ---- */

static void test_fwsig(void **state)
{
	struct ec_soft_key *k = NULL, *k2 = NULL;
	struct writ_signer sb, sb2;
	struct fwsig_stream *st = NULL;
	uint8_t *img = malloc(10000), sig[64], bad[64];
	size_t i, off;

	(void)state;
	assert_non_null(img);
	for (i = 0; i < 10000; i++)
		img[i] = (uint8_t)(i * 7);
	assert_int_equal(ec_soft_key_new(&k), 0);
	assert_int_equal(ec_soft_key_new(&k2), 0);
	ec_soft_signer(k, &sb);
	ec_soft_signer(k2, &sb2);
	assert_int_equal(fwsig_sign(&sb, 3, img, 10000, sig), 0);
	assert_int_equal(fwsig_verify(sb.pub, 3, img, 10000, sig), 0);
	assert_int_equal(fwsig_verify(sb.pub, 4, img, 10000, sig), WRIT_E_BADSIG);
	assert_int_equal(fwsig_verify(sb.pub, 3, img, 9999, sig), WRIT_E_BADSIG);
	assert_int_equal(fwsig_verify(sb2.pub, 3, img, 10000, sig), WRIT_E_BADSIG);
	img[5000] ^= 1;
	assert_int_equal(fwsig_verify(sb.pub, 3, img, 10000, sig), WRIT_E_BADSIG);
	img[5000] ^= 1;
	for (i = 0; i < 64; i += 7) {
		memcpy(bad, sig, 64);
		bad[i] ^= 0x10;
		assert_true(fwsig_verify(sb.pub, 3, img, 10000, bad) < 0);
	}
	assert_int_equal(fwsig_verify(sb.pub, 3, img, 0, sig), WRIT_E_INVAL);
	assert_int_equal(fwsig_sign(&sb, 3, img, 0, sig), WRIT_E_INVAL);
	/* streamed in odd chunks */
	assert_int_equal(fwsig_stream_init(3, 10000, &st), 0);
	for (off = 0; off < 10000; off += 333)
		assert_int_equal(fwsig_stream_update(st, img + off, off + 333 > 10000 ? 10000 - off : 333), 0);
	assert_int_equal(fwsig_stream_update(st, img, 1), WRIT_E_TOOBIG);
	assert_int_equal(fwsig_stream_final(st, sb.pub, sig), 0);
	/* stream that ends early */
	assert_int_equal(fwsig_stream_init(3, 10000, &st), 0);
	assert_int_equal(fwsig_stream_update(st, img, 9999), 0);
	assert_int_equal(fwsig_stream_final(st, sb.pub, sig), WRIT_E_INVAL);
	/* declared size differs */
	assert_int_equal(fwsig_stream_init(3, 9999, &st), 0);
	assert_int_equal(fwsig_stream_update(st, img, 9999), 0);
	assert_int_equal(fwsig_stream_final(st, sb.pub, sig), WRIT_E_BADSIG);
	assert_int_equal(fwsig_stream_init(3, 0, &st), WRIT_E_INVAL);
	assert_int_equal(fwsig_stream_init(3, FWSIG_IMAGE_MAX + 1, &st), WRIT_E_INVAL);
	fwsig_stream_free(NULL);
	ec_soft_key_free(k);
	ec_soft_key_free(k2);
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scope_secrets_roundtrip),
		cmocka_unit_test(test_scope_secrets_encode_refuses),
		cmocka_unit_test(test_scope_secrets_decode_garbage),
		cmocka_unit_test(test_hsmproto_wrap),
		cmocka_unit_test(test_wrap_roundtrip_and_tamper),
		cmocka_unit_test(test_fwsig),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
