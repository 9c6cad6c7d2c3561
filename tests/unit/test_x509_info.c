/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lib/crypto/x509_info.c: the fields the dashboard shows of a PAI or PAA, checked on the
 * Matter SDK's public test PAI (values as `openssl x509 -nameopt RFC2253` prints them);
 * truncation at every length, every byte flipped, trailing bytes, oversize input and
 * random garbage are refused (or parsed) without a crash and without writing *ret.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "crypto/x509.h"
#include "crypto/x509_info.h"

static uint8_t *pai_der(size_t *ret_len)
{
	char path[1024];
	uint8_t pem[4096], *der = NULL;
	const char *src = getenv("WRIT_SRC");
	FILE *f;
	size_t n;

	assert_non_null(src);
	assert_true(snprintf(path, sizeof(path), "%s/tests/vectors/matter-sdk-certs/Chip-Test-PAI-FFF1-8000-Cert.pem",
			     src) < (int)sizeof(path));
	assert_non_null(f = fopen(path, "rb"));
	n = fread(pem, 1, sizeof(pem), f);
	fclose(f);
	assert_int_equal(x509_to_der(pem, n, &der, ret_len), 0);
	return der;
}

static void test_sdk_pai(void **state)
{
	struct x509_info xi;
	uint8_t sha[32];
	size_t len;
	uint8_t *der = pai_der(&len);

	assert_int_equal(x509_info_parse(der, len, &xi), 0);
	assert_string_equal(xi.subject, "1.3.6.1.4.1.37244.2.2=#0C0438303030,1.3.6.1.4.1.37244.2.1=#0C0446464631,"
					"CN=Matter Test PAI");
	assert_non_null(strstr(xi.issuer, "CN=Matter Test PAA"));
	assert_string_equal(xi.serial, "3e6ce6509ad840cd");
	assert_int_equal(xi.not_before, 1624890223);  /* 2021-06-28 14:23:43 UTC */
	assert_int_equal(xi.not_after, 253402300799); /* 9999-12-31 23:59:59 UTC: no expiry */
	assert_int_equal(EVP_Digest(der, len, sha, NULL, EVP_sha256(), NULL), 1);
	assert_memory_equal(xi.sha256, sha, 32);
	free(der);
}

static void test_garbage(void **state)
{
	struct x509_info xi, untouched;
	uint8_t big[4097], *buf;
	size_t len, i, bit;
	uint8_t *der = pai_der(&len);

	memset(&untouched, 0x5a, sizeof(untouched));
	assert_int_equal(x509_info_parse(NULL, 10, &xi), WRIT_E_INVAL);
	assert_int_equal(x509_info_parse(der, len, NULL), WRIT_E_INVAL);
	memset(big, 0x30, sizeof(big));
	assert_int_equal(x509_info_parse(big, sizeof(big), &xi), WRIT_E_TOOBIG);
	/* every truncation */
	for (i = 0; i < len; i++) {
		xi = untouched;
		assert_int_equal(x509_info_parse(der, i, &xi), WRIT_E_FORMAT);
		assert_memory_equal(&xi, &untouched, sizeof(xi));
	}
	/* a trailing byte */
	assert_non_null(buf = malloc(len + 1));
	memcpy(buf, der, len);
	buf[len] = 0;
	assert_int_equal(x509_info_parse(buf, len + 1, &xi), WRIT_E_FORMAT);
	/* every byte flipped, one bit each: parse or refuse, never crash; text stays printable */
	for (i = 0; i < len; i++) {
		for (bit = 0; bit < 8; bit += 3) {
			memcpy(buf, der, len);
			buf[i] ^= (uint8_t)(1u << bit);
			if (x509_info_parse(buf, len, &xi) == 0) {
				size_t k;
				for (k = 0; xi.subject[k]; k++)
					assert_true((unsigned char)xi.subject[k] >= 0x20 && xi.subject[k] != 0x7f);
			}
		}
	}
	free(buf);
	/* random garbage */
	srand(7);
	for (i = 0; i < 2000; i++) {
		size_t n = (size_t)(rand() % 600);
		size_t k;
		for (k = 0; k < n; k++)
			big[k] = (uint8_t)rand();
		if (i % 2)
			big[0] = 0x30;
		(void)!x509_info_parse(big, n, &xi);
	}
	free(der);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sdk_pai),
		cmocka_unit_test(test_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
