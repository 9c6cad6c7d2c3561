/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lib/wire/dbgcred: the host side of the secure-debug credentials. What it makes, the
 * chip's own parser (wdev_dbg_parse in libwrit-device, written separately) reads back
 * field for field, and its signatures verify under OpenSSL-held keys; every field rule
 * is refused on both sides; any flipped byte is caught by the parser or the signature.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/ec.h"
#include "wdev.h"
#include "wire/authority.h"
#include "wire/dbgcred.h"

struct keys {
	struct ec_soft_key *root_k, *deleg_k;
	struct writ_signer root, deleg;
};

static int setup(void **state)
{
	struct keys *k = calloc(1, sizeof(*k));

	if (!k || ec_soft_key_new(&k->root_k) < 0 || ec_soft_key_new(&k->deleg_k) < 0)
		return -1;
	ec_soft_signer(k->root_k, &k->root);
	ec_soft_signer(k->deleg_k, &k->deleg);
	*state = k;
	return 0;
}

static int teardown(void **state)
{
	struct keys *k = *state;

	ec_soft_key_free(k->root_k);
	ec_soft_key_free(k->deleg_k);
	free(k);
	return 0;
}

static void sample_cert(struct dbg_cert *c, const struct keys *k)
{
	memset(c, 0, sizeof(*c));
	c->role = WDP_DBG_ROLE_DELEGATE;
	c->vendor_id = 0xFFF1;
	c->product_id = 0x8000;
	c->key_gen = 7;
	c->not_before = 1767225600;
	c->not_after = 1798761600;
	dbg_perm_set(c->perms, DBG_PERM_DEBUG);
	dbg_perm_set(c->perms, DBG_PERM_REFLASH);
	memset(c->hsm_id, 0x42, sizeof(c->hsm_id));
	memcpy(c->pub, k->deleg.pub, sizeof(c->pub));
}

static void sample_token(struct dbg_token *t)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < sizeof(t->uid); i++)
		t->uid[i] = (uint8_t)(0xa0 + i);
	t->not_before = 1767225600;
	t->not_after = 1767225600 + 600;
	dbg_perm_set(t->perms, DBG_PERM_REFLASH);
	t->session = 900;
	for (i = 0; i < sizeof(t->challenge); i++)
		t->challenge[i] = (uint8_t)(i * 5 + 1);
}

static void test_perm_bits(void **state)
{
	uint8_t m[16] = { 0 }, n[16] = { 0 };

	(void)state;
	dbg_perm_set(m, 0);
	dbg_perm_set(m, 9);
	dbg_perm_set(m, 127);
	assert_int_equal(m[15], 0x01);
	assert_int_equal(m[14], 0x02);
	assert_int_equal(m[0], 0x80);
	assert_true(dbg_perm_has(m, 9) && !dbg_perm_has(m, 8) && !dbg_perm_has(m, 128));
	dbg_perm_set(n, 9);
	assert_true(dbg_perms_within(n, m));
	dbg_perm_set(n, 8);
	assert_false(dbg_perms_within(n, m));
	assert_int_equal(authority_parse_perms("debug,reflash,127", n), 0);
	assert_true(dbg_perm_has(n, 0) && dbg_perm_has(n, 8) && dbg_perm_has(n, 127) && !dbg_perm_has(n, 9));
	assert_int_equal(authority_parse_perms("", n), WRIT_E_INVAL);
	assert_int_equal(authority_parse_perms("debug,", n), WRIT_E_INVAL);
	assert_int_equal(authority_parse_perms("debug,,reflash", n), WRIT_E_INVAL);
	assert_int_equal(authority_parse_perms("jtag", n), WRIT_E_INVAL);
	assert_int_equal(authority_parse_perms("128", n), WRIT_E_INVAL);
	assert_int_equal(authority_parse_perms("-1", n), WRIT_E_INVAL);
	assert_int_equal(authority_parse_perms("0001", n), WRIT_E_INVAL);
}

/* What dbgcred makes, the chip's parser reads back field for field. */
static void test_chip_reads_what_host_makes(void **state)
{
	struct keys *k = *state;
	struct dbg_cert c, back;
	struct dbg_token t, tback;
	uint8_t cert[WDP_DBG_CERT_LEN], tok[WDP_DBG_TOKEN_LEN];
	struct wdev_dbg_cert wc[WDP_DBG_CHAIN_MAX];
	struct wdev_dbg_token wt;
	const char *detail = NULL;
	size_t n = 0;

	sample_cert(&c, k);
	sample_token(&t);
	assert_int_equal(dbg_cert_make(&c, &k->root, cert), 0);
	assert_int_equal(dbg_token_make(&t, &k->deleg, tok), 0);
	assert_int_equal(wdev_dbg_parse(cert, sizeof(cert), tok, sizeof(tok), wc, &n, &wt, &detail), 0);
	assert_int_equal(n, 1);
	assert_int_equal(wc[0].role, c.role);
	assert_int_equal(wc[0].vendor_id, c.vendor_id);
	assert_int_equal(wc[0].product_id, c.product_id);
	assert_int_equal(wc[0].key_gen, c.key_gen);
	assert_int_equal(wc[0].not_before, c.not_before);
	assert_int_equal(wc[0].not_after, c.not_after);
	assert_memory_equal(wc[0].perms, c.perms, 16);
	assert_memory_equal(wc[0].hsm_id, c.hsm_id, 32);
	assert_memory_equal(wc[0].pub, c.pub, 65);
	assert_memory_equal(wt.uid, t.uid, 16);
	assert_int_equal(wt.not_before, t.not_before);
	assert_int_equal(wt.not_after, t.not_after);
	assert_memory_equal(wt.perms, t.perms, 16);
	assert_int_equal(wt.session_s, t.session);
	assert_memory_equal(wt.challenge, t.challenge, 32);
	/* and our own parser, with the signatures */
	assert_int_equal(dbg_cert_parse(cert, &back), 0);
	assert_memory_equal(&back, &c, sizeof(c));
	assert_int_equal(dbg_cert_verify(cert, k->root.pub), 0);
	assert_int_equal(dbg_cert_verify(cert, k->deleg.pub), WRIT_E_BADSIG);
	assert_int_equal(dbg_token_parse(tok, k->deleg.pub, &tback), 0);
	assert_memory_equal(&tback, &t, sizeof(t));
	assert_int_equal(dbg_token_parse(tok, k->root.pub, &tback), WRIT_E_BADSIG);
}

/* Any single flipped bit is refused: by the parser, or by a signature. */
static void test_every_bit(void **state)
{
	struct keys *k = *state;
	struct dbg_cert c, back;
	struct dbg_token t, tback;
	uint8_t cert[WDP_DBG_CERT_LEN], tok[WDP_DBG_TOKEN_LEN];
	size_t i;
	int b;

	sample_cert(&c, k);
	sample_token(&t);
	assert_int_equal(dbg_cert_make(&c, &k->root, cert), 0);
	assert_int_equal(dbg_token_make(&t, &k->deleg, tok), 0);
	for (i = 0; i < sizeof(cert); i++) {
		for (b = 0; b < 8; b++) {
			cert[i] ^= (uint8_t)(1u << b);
			assert_true(dbg_cert_parse(cert, &back) < 0 || dbg_cert_verify(cert, k->root.pub) < 0);
			cert[i] ^= (uint8_t)(1u << b);
		}
	}
	for (i = 0; i < sizeof(tok); i++) {
		for (b = 0; b < 8; b++) {
			tok[i] ^= (uint8_t)(1u << b);
			assert_true(dbg_token_parse(tok, k->deleg.pub, &tback) < 0);
			tok[i] ^= (uint8_t)(1u << b);
		}
	}
	assert_int_equal(dbg_token_parse(tok, k->deleg.pub, &tback), 0);
}

/* The rules the format sets are refused when making and when parsing. */
static void test_field_rules(void **state)
{
	struct keys *k = *state;
	struct dbg_cert c, back;
	struct dbg_token t, tback;
	uint8_t cert[WDP_DBG_CERT_LEN], tok[WDP_DBG_TOKEN_LEN];

	sample_cert(&c, k);
	c.role = 3;
	assert_int_equal(dbg_cert_make(&c, &k->root, cert), WRIT_E_INVAL);
	sample_cert(&c, k);
	c.vendor_id = 0;
	assert_int_equal(dbg_cert_make(&c, &k->root, cert), WRIT_E_INVAL);
	sample_cert(&c, k);
	c.not_after = c.not_before;
	assert_int_equal(dbg_cert_make(&c, &k->root, cert), WRIT_E_INVAL);
	sample_cert(&c, k);
	memset(c.perms, 0, sizeof(c.perms));
	assert_int_equal(dbg_cert_make(&c, &k->root, cert), WRIT_E_INVAL);
	sample_cert(&c, k);
	memset(c.hsm_id, 0, sizeof(c.hsm_id));
	assert_int_equal(dbg_cert_make(&c, &k->root, cert), WRIT_E_INVAL);
	c.role = WDP_DBG_ROLE_INTERMEDIATE; /* an intermediate needs no HSM */
	assert_int_equal(dbg_cert_make(&c, &k->root, cert), 0);
	assert_int_equal(dbg_cert_parse(cert, &back), 0);
	sample_cert(&c, k);
	c.pub[64] ^= 1; /* off the curve */
	assert_int_equal(dbg_cert_make(&c, &k->root, cert), WRIT_E_INVAL);
	/* reserved bytes and the version, made by hand */
	sample_cert(&c, k);
	assert_int_equal(dbg_cert_make(&c, &k->root, cert), 0);
	cert[10] = 1;
	assert_int_equal(dbg_cert_parse(cert, &back), WRIT_E_FORMAT);
	cert[10] = 0;
	cert[4] = 2;
	assert_int_equal(dbg_cert_parse(cert, &back), WRIT_E_FORMAT);

	sample_token(&t);
	memset(t.uid, 0, sizeof(t.uid));
	assert_int_equal(dbg_token_make(&t, &k->deleg, tok), WRIT_E_INVAL);
	sample_token(&t);
	t.session = 0;
	assert_int_equal(dbg_token_make(&t, &k->deleg, tok), WRIT_E_INVAL);
	t.session = WDP_DBG_SESSION_MAX + 1;
	assert_int_equal(dbg_token_make(&t, &k->deleg, tok), WRIT_E_INVAL);
	sample_token(&t);
	t.not_after = t.not_before;
	assert_int_equal(dbg_token_make(&t, &k->deleg, tok), WRIT_E_INVAL);
	sample_token(&t);
	memset(t.perms, 0, sizeof(t.perms));
	assert_int_equal(dbg_token_make(&t, &k->deleg, tok), WRIT_E_INVAL);
	sample_token(&t);
	assert_int_equal(dbg_token_make(&t, &k->deleg, tok), 0);
	tok[5] = 1; /* reserved */
	assert_int_equal(dbg_token_parse(tok, NULL, &tback), WRIT_E_FORMAT);
}

/* Rights as the portal and the authority make them. */
static void test_rework_rights(void **state)
{
	struct keys *k = *state;
	struct writ_rework r;
	struct dbg_cert c;
	uint8_t hsm[32], perms[16] = { 0 };

	memset(hsm, 0x11, sizeof(hsm));
	dbg_perm_set(perms, DBG_PERM_DEBUG);
	assert_int_equal(authority_rework_rights(&k->root, hsm, k->deleg.pub, 0xFFF1, 0x8000, 2, perms, 1000, 2000, 5,
						 600, &r),
			 0);
	assert_true(r.present && r.n_chain == 1 && r.limit == 5 && r.session_max == 600 && r.key_gen == 2);
	assert_int_equal(dbg_cert_parse(r.chain[0], &c), 0);
	assert_int_equal(dbg_cert_verify(r.chain[0], k->root.pub), 0);
	assert_true(c.role == WDP_DBG_ROLE_DELEGATE && c.key_gen == 2 && c.not_before == 1000 && c.not_after == 2000);
	assert_memory_equal(c.hsm_id, hsm, 32);
	assert_memory_equal(c.pub, k->deleg.pub, 65);
	assert_memory_equal(c.perms, perms, 16);
	assert_int_equal(authority_rework_rights(&k->root, hsm, k->deleg.pub, 0xFFF1, 0x8000, 2, perms, 2000, 2000, 5,
						 600, &r),
			 WRIT_E_INVAL);
	assert_int_equal(authority_rework_rights(&k->root, hsm, k->deleg.pub, 0xFFF1, 0x8000, 2, perms, 1000, 2000, 0,
						 600, &r),
			 WRIT_E_INVAL);
	assert_int_equal(authority_rework_rights(&k->root, hsm, k->deleg.pub, 0xFFF1, 0x8000, 2, perms, 1000, 2000, 5,
						 86401, &r),
			 WRIT_E_INVAL);
	memset(hsm, 0, sizeof(hsm)); /* a delegate names its HSM */
	assert_int_equal(authority_rework_rights(&k->root, hsm, k->deleg.pub, 0xFFF1, 0x8000, 2, perms, 1000, 2000, 5,
						 600, &r),
			 WRIT_E_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_perm_bits),
		cmocka_unit_test(test_chip_reads_what_host_makes),
		cmocka_unit_test(test_every_bit),
		cmocka_unit_test(test_field_rules),
		cmocka_unit_test(test_rework_rights),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
