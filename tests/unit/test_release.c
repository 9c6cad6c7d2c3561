/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of lib/wire/release.c: the release manifest's round trip, its strict
 * decoder (garbage, truncations, every flipped byte), semver precedence (the examples of
 * semver.org §11), and release_accept's refusals: wrong channel, downgrade, same
 * version, other than the pin.
 *   test_release --seeds DIR KEY_PEM   writes fuzz seeds (a payload, and a manifest signed
 *   by KEY_PEM: the Matter SDK test PAA key that tests/fuzz/fuzz_release.c pins).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <stdio.h>

#include "crypto/ec.h"
#include "wire/release.h"

static void sample(struct release *r, const char *version, const char *channel)
{
	static const char *const names[] = { "writ", "writ-devsim", "writ-factory", "writ-hsmd", "writ-station" };
	size_t i;

	memset(r, 0, sizeof(*r));
	strcpy(r->product, RELEASE_PRODUCT);
	strcpy(r->version, version);
	strcpy(r->channel, channel);
	r->created = 1795000000;
	r->n_files = 5;
	for (i = 0; i < 5; i++) {
		strcpy(r->files[i].name, names[i]);
		memset(r->files[i].sha256, (int)i + 1, 32);
		r->files[i].size = 1000 * (i + 1);
		r->files[i].mode = 0755;
	}
}

static void test_roundtrip_and_verify(void **state)
{
	struct ec_soft_key *k1, *k2;
	struct writ_signer s1, s2;
	struct release r, got;
	uint8_t *msg = NULL, *bad;
	size_t len = 0, i;

	(void)state;
	assert_int_equal(ec_soft_key_new(&k1), 0);
	assert_int_equal(ec_soft_key_new(&k2), 0);
	ec_soft_signer(k1, &s1);
	ec_soft_signer(k2, &s2);
	sample(&r, "1.2.3", "stable");
	assert_int_equal(release_sign(&s1, &r, &msg, &len), 0);
	assert_int_equal(release_verify(msg, len, s1.pub, &got), 0);
	assert_memory_equal(&got, &r, sizeof(r));
	/* the wrong pinned key */
	assert_int_equal(release_verify(msg, len, s2.pub, &got), WRIT_E_BADSIG);
	/* every flipped byte and every truncation is refused */
	bad = malloc(len);
	assert_non_null(bad);
	for (i = 0; i < len; i++) {
		memcpy(bad, msg, len);
		bad[i] ^= 0x01;
		assert_true(release_verify(bad, len, s1.pub, &got) < 0);
		assert_true(release_verify(msg, i, s1.pub, &got) < 0);
	}
	free(bad);
	free(msg);
	ec_soft_key_free(k1);
	ec_soft_key_free(k2);
}

static void test_encode_refuses_invalid(void **state)
{
	struct release r;
	uint8_t *p = NULL;
	size_t n = 0;

	(void)state;
	sample(&r, "1.0.0", "stable");
	strcpy(r.files[1].name, "writ"); /* duplicate */
	assert_int_equal(release_payload_encode(&r, &p, &n), WRIT_E_INVAL);
	sample(&r, "1.0.0", "stable");
	strcpy(r.files[0].name, "../etc/passwd");
	assert_int_equal(release_payload_encode(&r, &p, &n), WRIT_E_INVAL);
	sample(&r, "1.0.0", "stable");
	r.files[0].mode = 04755; /* no setuid */
	assert_int_equal(release_payload_encode(&r, &p, &n), WRIT_E_INVAL);
	sample(&r, "1.0", "stable");
	assert_int_equal(release_payload_encode(&r, &p, &n), WRIT_E_INVAL);
	sample(&r, "1.0.0", "Stable");
	assert_int_equal(release_payload_encode(&r, &p, &n), WRIT_E_INVAL);
	sample(&r, "1.0.0", "stable");
	r.n_files = 0;
	assert_int_equal(release_payload_encode(&r, &p, &n), WRIT_E_INVAL);
}

static void test_decode_garbage(void **state)
{
	static const uint8_t junk[][8] = {
		{ 0xa0 }, { 0x80 }, { 0xff }, { 0xa5, 0x01, 0x61, 0x61 }, { 0xbf, 0xff }, { 0x00 },
	};
	struct release r, got;
	uint8_t *p = NULL, *q;
	size_t n = 0, i;

	(void)state;
	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		assert_true(release_payload_decode(junk[i], 8, &got) < 0);
	assert_true(release_payload_decode(NULL, 0, &got) < 0);
	sample(&r, "2.0.0-rc.1", "beta");
	assert_int_equal(release_payload_encode(&r, &p, &n), 0);
	assert_int_equal(release_payload_decode(p, n, &got), 0);
	assert_memory_equal(&got, &r, sizeof(r));
	q = malloc(n + 1);
	assert_non_null(q);
	memcpy(q, p, n);
	q[n] = 0;
	assert_int_equal(release_payload_decode(q, n + 1, &got), WRIT_E_FORMAT); /* trailing byte */
	for (i = 0; i < n; i++) {
		memcpy(q, p, n);
		q[i] ^= 0x20;
		/* a flipped byte either fails or decodes to something that re-encodes to itself */
		if (release_payload_decode(q, n, &got) == 0) {
			uint8_t *again = NULL;
			size_t again_len = 0;

			assert_int_equal(release_payload_encode(&got, &again, &again_len), 0);
			assert_int_equal(again_len, n);
			assert_memory_equal(again, q, n);
			free(again);
		}
	}
	free(q);
	free(p);
}

static void test_semver(void **state)
{
	/* semver.org §11, ascending */
	static const char *const order[] = { "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
					     "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.9.0",
					     "1.10.0", "1.11.0", "2.0.0", "2.1.0", "2.1.1" };
	size_t i, j;
	int c;

	(void)state;
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		for (j = 0; j < sizeof(order) / sizeof(order[0]); j++) {
			assert_int_equal(release_version_cmp(order[i], order[j], &c), 0);
			assert_int_equal(c, i < j ? -1 : i > j ? 1 : 0);
		}
	assert_false(release_version_ok("01.0.0"));
	assert_false(release_version_ok("1.0.0-01"));
	assert_false(release_version_ok("1.0.0-"));
	assert_false(release_version_ok("1.0.0+build"));
	assert_false(release_version_ok("1.0"));
	assert_false(release_version_ok("v1.0.0"));
	assert_false(release_version_ok("1.0.0-a..b"));
	assert_true(release_version_ok("0.1.0"));
	assert_true(release_version_ok("10.20.30-rc.1-x"));
	assert_true(release_version_cmp("1.0.0", "x", &c) < 0);
}

static void test_accept(void **state)
{
	struct release r;
	const char *why = NULL;

	(void)state;
	sample(&r, "1.2.0", "stable");
	assert_int_equal(release_accept(&r, "stable", "1.1.9", NULL, &why), 0);
	assert_int_equal(release_accept(&r, "stable", NULL, NULL, &why), 0);
	assert_int_equal(release_accept(&r, "beta", "1.1.9", NULL, &why), WRIT_E_SCOPE);
	assert_string_equal(why, "wrong channel");
	assert_int_equal(release_accept(&r, "stable", "1.2.1", NULL, &why), WRIT_E_REPLAY);
	assert_string_equal(why, "downgrade");
	assert_int_equal(release_accept(&r, "stable", "1.2.0", NULL, &why), WRIT_E_REPLAY);
	assert_string_equal(why, "already installed");
	assert_int_equal(release_accept(&r, "stable", "1.2.0-rc.1", NULL, &why), 0);
	/* the OEM's pin: only that version, even an older one */
	assert_int_equal(release_accept(&r, "stable", "1.3.0", "1.2.0", &why), 0);
	assert_int_equal(release_accept(&r, "stable", "1.1.0", "1.1.5", &why), WRIT_E_SCOPE);
	assert_string_equal(why, "not the pinned version");
	assert_int_equal(release_accept(&r, "stable", "1.2.0", "1.2.0", &why), WRIT_E_REPLAY);
}

static int write_seed(const char *dir, const char *name, const uint8_t *p, size_t n)
{
	char path[512];
	FILE *f;
	int ok;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) || !(f = fopen(path, "wb")))
		return 1;
	ok = fwrite(p, 1, n, f) == n;
	return (fclose(f) == 0 && ok) ? 0 : 1;
}

static int seeds(const char *dir, const char *key_pem)
{
	struct ec_soft_key *k = NULL;
	struct writ_signer s;
	struct release r;
	uint8_t *p = NULL, *m = NULL;
	size_t n = 0, mn = 0;
	int rc = 1;

	sample(&r, "1.2.3-rc.1", "stable");
	if (ec_soft_key_from_pem(key_pem, &k) < 0)
		return 1;
	ec_soft_signer(k, &s);
	if (release_payload_encode(&r, &p, &n) == 0 && release_sign(&s, &r, &m, &mn) == 0)
		rc = write_seed(dir, "payload.cbor", p, n) | write_seed(dir, "signed.cose", m, mn);
	free(p);
	free(m);
	ec_soft_key_free(k);
	return rc;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_and_verify), cmocka_unit_test(test_encode_refuses_invalid),
		cmocka_unit_test(test_decode_garbage), cmocka_unit_test(test_semver), cmocka_unit_test(test_accept),
	};
	if (argc == 4 && !strcmp(argv[1], "--seeds"))
		return seeds(argv[2], argv[3]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
