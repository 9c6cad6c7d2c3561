/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lib/crypto/x509.c outside the Matter rules: PKCS#10 CSR parsing with its proof of
 * possession (CSRs made here by OpenSSL and by writ's own csr_build_sign; P-384, RSA and
 * SHA-384 refused as unsupported; tampering, truncation at every length, trailing bytes,
 * oversize and random garbage refused without crashing), PEM/DER certificate decoding,
 * and public-key extraction checked against the SDK vector's published key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "crypto/csr.h"
#include "crypto/ec.h"
#include "crypto/x509.h"

#define VEC "tests/vectors/matter-sdk-certs"

struct blob {
	uint8_t *p;
	size_t n;
};

static EVP_PKEY *key_ec(const char *curve)
{
	EVP_PKEY *k = EVP_EC_gen(curve);

	assert_non_null(k);
	return k;
}

static EVP_PKEY *key_rsa(void)
{
	EVP_PKEY *k = EVP_RSA_gen(2048);

	assert_non_null(k);
	return k;
}

static void key_point(EVP_PKEY *k, uint8_t pub[WRIT_P256_PUB_LEN])
{
	size_t len = 0;

	assert_int_equal(EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pub, WRIT_P256_PUB_LEN, &len),
			 1);
	assert_int_equal(len, WRIT_P256_PUB_LEN);
}

/* A CSR made by OpenSSL: subject CN=cn, signed with md; pad_attr adds an attribute of
 * that many bytes (to grow the CSR). pem selects the output form. */
static struct blob make_csr(EVP_PKEY *k, const EVP_MD *md, const char *cn, size_t pad_attr, int pem)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	struct blob b = { 0 };
	unsigned char *der = NULL;
	int len;

	assert_true(req && n);
	assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_REQ_set_subject_name(req, n), 1);
	assert_int_equal(X509_REQ_set_pubkey(req, k), 1);
	if (pad_attr) {
		unsigned char *pad = malloc(pad_attr);

		assert_non_null(pad);
		memset(pad, 'p', pad_attr);
		assert_int_equal(X509_REQ_add1_attr_by_NID(req, NID_pkcs9_unstructuredName, MBSTRING_ASC, pad,
							   (int)pad_attr),
				 1);
		free(pad);
	}
	assert_true(X509_REQ_sign(req, k, md) > 0);
	if (pem) {
		BIO *bio = BIO_new(BIO_s_mem());
		char *data = NULL;
		long dlen;

		assert_non_null(bio);
		assert_int_equal(PEM_write_bio_X509_REQ(bio, req), 1);
		dlen = BIO_get_mem_data(bio, &data);
		assert_true(dlen > 0);
		b.p = malloc((size_t)dlen);
		assert_non_null(b.p);
		memcpy(b.p, data, (size_t)dlen);
		b.n = (size_t)dlen;
		BIO_free(bio);
	} else {
		len = i2d_X509_REQ(req, &der);
		assert_true(len > 0);
		b.p = malloc((size_t)len);
		assert_non_null(b.p);
		memcpy(b.p, der, (size_t)len);
		b.n = (size_t)len;
		OPENSSL_free(der);
	}
	X509_NAME_free(n);
	X509_REQ_free(req);
	return b;
}

static void test_csr_valid(void **state)
{
	EVP_PKEY *k = key_ec("P-256");
	uint8_t want[WRIT_P256_PUB_LEN], got[WRIT_P256_PUB_LEN];
	struct blob der = make_csr(k, EVP_sha256(), "device 0001", 0, 0);
	struct blob pem = make_csr(k, EVP_sha256(), "device 0001", 0, 1);

	(void)state;
	key_point(k, want);
	memset(got, 0, sizeof(got));
	assert_int_equal(x509_csr_parse_verify(der.p, der.n, got), 0);
	assert_memory_equal(got, want, sizeof(want));
	memset(got, 0, sizeof(got));
	assert_int_equal(x509_csr_parse_verify(pem.p, pem.n, got), 0);
	assert_memory_equal(got, want, sizeof(want));
	free(der.p);
	free(pem.p);
	EVP_PKEY_free(k);
}

/* writ's own CSR builder (lib/crypto/csr.c) with an in-memory signer. */
static void test_csr_from_csr_build_sign(void **state)
{
	struct ec_soft_key *k = NULL;
	struct writ_signer s;
	uint8_t *der = NULL, got[WRIT_P256_PUB_LEN];
	size_t len = 0;

	(void)state;
	assert_int_equal(ec_soft_key_new(&k), 0);
	ec_soft_signer(k, &s);
	assert_int_equal(csr_build_sign("writ device", &s, &der, &len), 0);
	assert_int_equal(x509_csr_parse_verify(der, len, got), 0);
	assert_memory_equal(got, s.pub, WRIT_P256_PUB_LEN);
	free(der);
	ec_soft_key_free(k);
}

static void test_csr_tampered(void **state)
{
	EVP_PKEY *k = key_ec("P-256"), *other = key_ec("P-256");
	uint8_t pub[WRIT_P256_PUB_LEN], want[WRIT_P256_PUB_LEN];
	struct blob b = make_csr(k, EVP_sha256(), "device 0002", 0, 0);
	uint8_t *pos;

	(void)state;
	memset(pub, 0xAA, sizeof(pub));
	memcpy(want, pub, sizeof(pub));
	/* last byte of s inside the signature */
	b.p[b.n - 1] ^= 0x01;
	assert_int_equal(x509_csr_parse_verify(b.p, b.n, pub), WRIT_E_BADSIG);
	assert_memory_equal(pub, want, sizeof(pub)); /* untouched on failure */
	b.p[b.n - 1] ^= 0x01;
	/* a byte of the subject inside the signed part */
	pos = memmem(b.p, b.n, "device 0002", 11);
	assert_non_null(pos);
	pos[7] = '9';
	assert_int_equal(x509_csr_parse_verify(b.p, b.n, pub), WRIT_E_BADSIG);
	pos[7] = '0';
	assert_int_equal(x509_csr_parse_verify(b.p, b.n, pub), 0);
	free(b.p);

	/* someone else's key in the CSR, signed by k: no proof of possession */
	{
		X509_REQ *req = X509_REQ_new();
		unsigned char *der = NULL;
		int len;

		assert_non_null(req);
		assert_int_equal(X509_REQ_set_pubkey(req, other), 1);
		assert_true(X509_REQ_sign(req, k, EVP_sha256()) > 0);
		len = i2d_X509_REQ(req, &der);
		assert_true(len > 0);
		assert_int_equal(x509_csr_parse_verify(der, (size_t)len, pub), WRIT_E_BADSIG);
		OPENSSL_free(der);
		X509_REQ_free(req);
	}
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
}

static void test_csr_unsupported(void **state)
{
	EVP_PKEY *p384 = key_ec("P-384"), *p256 = key_ec("P-256"), *rsa = key_rsa();
	uint8_t pub[WRIT_P256_PUB_LEN];
	struct blob b;

	(void)state;
	b = make_csr(p384, EVP_sha384(), "p384", 0, 0);
	assert_int_equal(x509_csr_parse_verify(b.p, b.n, pub), WRIT_E_UNSUPPORTED);
	free(b.p);
	b = make_csr(p384, EVP_sha256(), "p384 sha256", 0, 0);
	assert_int_equal(x509_csr_parse_verify(b.p, b.n, pub), WRIT_E_UNSUPPORTED);
	free(b.p);
	b = make_csr(rsa, EVP_sha256(), "rsa", 0, 0);
	assert_int_equal(x509_csr_parse_verify(b.p, b.n, pub), WRIT_E_UNSUPPORTED);
	free(b.p);
	b = make_csr(rsa, EVP_sha256(), "rsa pem", 0, 1);
	assert_int_equal(x509_csr_parse_verify(b.p, b.n, pub), WRIT_E_UNSUPPORTED);
	free(b.p);
	/* right key, wrong digest */
	b = make_csr(p256, EVP_sha384(), "p256 sha384", 0, 0);
	assert_int_equal(x509_csr_parse_verify(b.p, b.n, pub), WRIT_E_UNSUPPORTED);
	free(b.p);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(rsa);
}

static void test_csr_size_and_trailing(void **state)
{
	EVP_PKEY *k = key_ec("P-256");
	uint8_t pub[WRIT_P256_PUB_LEN], *buf;
	struct blob big = make_csr(k, EVP_sha256(), "big", X509_CSR_MAX, 0);
	struct blob big_pem = make_csr(k, EVP_sha256(), "big", X509_CSR_MAX, 1);
	struct blob ok = make_csr(k, EVP_sha256(), "ok", 0, 0);
	struct blob ok_pem = make_csr(k, EVP_sha256(), "ok", 0, 1);

	(void)state;
	/* a real, valid but oversized CSR is refused before it is parsed */
	assert_true(big.n > X509_CSR_MAX);
	assert_int_equal(x509_csr_parse_verify(big.p, big.n, pub), WRIT_E_TOOBIG);
	assert_int_equal(x509_csr_parse_verify(big_pem.p, big_pem.n, pub), WRIT_E_TOOBIG);
	buf = calloc(1, 1 << 20);
	assert_non_null(buf);
	assert_int_equal(x509_csr_parse_verify(buf, X509_CSR_MAX + 1, pub), WRIT_E_TOOBIG);
	assert_int_equal(x509_csr_parse_verify(buf, 1 << 20, pub), WRIT_E_TOOBIG);
	memcpy(buf, "-----BEGIN CERTIFICATE REQUEST-----\n", 36);
	assert_int_equal(x509_csr_parse_verify(buf, 1 << 20, pub), WRIT_E_TOOBIG);

	/* trailing data after DER or PEM */
	memcpy(buf, ok.p, ok.n);
	buf[ok.n] = 0x00;
	assert_int_equal(x509_csr_parse_verify(buf, ok.n + 1, pub), WRIT_E_FORMAT);
	memcpy(buf, ok_pem.p, ok_pem.n);
	memcpy(buf + ok_pem.n, "junk\n", 5);
	assert_int_equal(x509_csr_parse_verify(buf, ok_pem.n + 5, pub), WRIT_E_FORMAT);
	memcpy(buf + ok_pem.n, " \r\n\n", 4); /* whitespace is fine */
	assert_int_equal(x509_csr_parse_verify(buf, ok_pem.n + 4, pub), 0);
	/* a certificate in PEM is not a CSR */
	{
		const char *cert = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";

		assert_int_equal(x509_csr_parse_verify((const uint8_t *)cert, strlen(cert), pub), WRIT_E_FORMAT);
	}
	assert_int_equal(x509_csr_parse_verify(NULL, 10, pub), WRIT_E_INVAL);
	assert_int_equal(x509_csr_parse_verify(ok.p, ok.n, NULL), WRIT_E_INVAL);

	free(buf);
	free(big.p);
	free(big_pem.p);
	free(ok.p);
	free(ok_pem.p);
	EVP_PKEY_free(k);
}

static void test_csr_truncated_and_flipped(void **state)
{
	EVP_PKEY *k = key_ec("P-256");
	struct blob der = make_csr(k, EVP_sha256(), "truncate me", 0, 0);
	struct blob pem = make_csr(k, EVP_sha256(), "truncate me", 0, 1);
	uint8_t pub[WRIT_P256_PUB_LEN];
	size_t i;

	(void)state;
	/* each prefix in its own exact-size buffer, so ASan sees any over-read */
	for (i = 0; i < der.n; i++) {
		uint8_t *t = malloc(i ? i : 1);

		assert_non_null(t);
		memcpy(t, der.p, i);
		assert_true(x509_csr_parse_verify(t, i, pub) < 0);
		free(t);
	}
	for (i = 0; i < pem.n - 1; i++) { /* the last byte is a newline */
		uint8_t *t = malloc(i ? i : 1);

		assert_non_null(t);
		memcpy(t, pem.p, i);
		if (x509_csr_parse_verify(t, i, pub) == 0)
			fail_msg("PEM truncated to %zu of %zu bytes accepted", i, pem.n);
		free(t);
	}
	/* every byte flipped: some check always notices */
	for (i = 0; i < der.n; i++) {
		der.p[i] ^= 0x01;
		if (x509_csr_parse_verify(der.p, der.n, pub) == 0)
			fail_msg("CSR with byte %zu flipped accepted", i);
		der.p[i] ^= 0x01;
	}
	assert_int_equal(x509_csr_parse_verify(der.p, der.n, pub), 0);
	free(der.p);
	free(pem.p);
	EVP_PKEY_free(k);
}

static void test_csr_garbage(void **state)
{
	uint8_t buf[X509_CSR_MAX], pub[WRIT_P256_PUB_LEN];
	size_t i, n, j;

	(void)state;
	srand(4242);
	for (i = 0; i < 3000; i++) {
		n = (size_t)rand() % sizeof(buf);
		for (j = 0; j < n; j++)
			buf[j] = (uint8_t)rand();
		if ((i % 3) == 1 && n > 4) { /* plausible outer SEQUENCE header */
			buf[0] = 0x30;
			buf[1] = 0x82;
			buf[2] = (uint8_t)((n - 4) >> 8);
			buf[3] = (uint8_t)(n - 4);
		} else if ((i % 3) == 2 && n > 40) {
			memcpy(buf, "-----BEGIN CERTIFICATE REQUEST-----\n", 36);
		}
		assert_true(x509_csr_parse_verify(buf, n, pub) < 0);
	}
}

static char *vec_path(const char *rel)
{
	const char *src = getenv("WRIT_SRC");
	size_t n;
	char *p;

	if (!src)
		src = ".";
	n = strlen(src) + strlen(VEC) + strlen(rel) + 3;
	p = malloc(n);
	assert_non_null(p);
	assert_true(snprintf(p, n, "%s/%s/%s", src, VEC, rel) < (int)n);
	return p;
}

static struct blob read_vec(const char *rel)
{
	char *path = vec_path(rel);
	FILE *f = fopen(path, "rb");
	struct blob b = { 0 };
	long n;

	if (!f)
		fail_msg("cannot open %s (set WRIT_SRC)", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	b.p = malloc((size_t)n);
	assert_non_null(b.p);
	assert_int_equal(fread(b.p, 1, (size_t)n, f), (size_t)n);
	b.n = (size_t)n;
	fclose(f);
	free(path);
	return b;
}

static void test_cert_der_and_pub(void **state)
{
	/* dac_public_key from commissioner_dut/struct_dac_ext_basic_ca_wrong/test_case_vector.json */
	static const char want_hex[] = "0445b4b2be47ed9b260dcb3e7083b62d826a65d798f5173daae437d43a44ebc471"
				       "cdfa6f77259262643041936522f0ec35c84a3eb9589ed95279eba9afa8d81bbd";
	struct blob pem = read_vec("commissioner_dut/struct_dac_ext_basic_ca_wrong/dac-Cert.pem");
	uint8_t want[WRIT_P256_PUB_LEN], got[WRIT_P256_PUB_LEN], *der = NULL, *der2 = NULL, *junk;
	size_t len = 0, len2 = 0, i;

	(void)state;
	for (i = 0; i < WRIT_P256_PUB_LEN; i++) {
		unsigned int b;

		assert_int_equal(sscanf(want_hex + 2 * i, "%2x", &b), 1);
		want[i] = (uint8_t)b;
	}
	assert_int_equal(x509_to_der(pem.p, pem.n, &der, &len), 0);
	assert_int_equal(der[0], 0x30);
	assert_int_equal(x509_cert_pub(der, len, got), 0);
	assert_memory_equal(got, want, sizeof(want));
	/* DER in, same DER out */
	assert_int_equal(x509_to_der(der, len, &der2, &len2), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(der2, der, len);
	free(der2);

	/* refusals */
	junk = malloc(len + 1);
	assert_non_null(junk);
	memcpy(junk, der, len);
	junk[len] = 0;
	assert_int_equal(x509_to_der(junk, len + 1, &der2, &len2), WRIT_E_FORMAT);
	assert_int_equal(x509_cert_pub(junk, len + 1, got), WRIT_E_FORMAT);
	assert_int_equal(x509_to_der(junk, len - 1, &der2, &len2), WRIT_E_FORMAT);
	free(junk);
	junk = calloc(1, X509_CERT_MAX + 1);
	assert_non_null(junk);
	assert_int_equal(x509_to_der(junk, X509_CERT_MAX + 1, &der2, &len2), WRIT_E_TOOBIG);
	free(junk);
	assert_int_equal(x509_to_der((const uint8_t *)"hello", 5, &der2, &len2), WRIT_E_FORMAT);
	free(der);
	free(pem.p);
}

static void test_verify_signed(void **state)
{
	struct blob paa_pem = read_vec("Chip-Test-PAA-FFF1-Cert.pem");
	struct blob pai_pem = read_vec("Chip-Test-PAI-FFF1-8000-Cert.pem");
	struct blob sha1_pem = read_vec("commissioner_dut/struct_dac_sig_algo_ecdsa_with_sha1/dac-Cert.pem");
	uint8_t *paa = NULL, *pai = NULL, *sha1 = NULL, paa_pub[WRIT_P256_PUB_LEN], pai_pub[WRIT_P256_PUB_LEN];
	size_t paa_len, pai_len, sha1_len;

	(void)state;
	assert_int_equal(x509_to_der(paa_pem.p, paa_pem.n, &paa, &paa_len), 0);
	assert_int_equal(x509_to_der(pai_pem.p, pai_pem.n, &pai, &pai_len), 0);
	assert_int_equal(x509_to_der(sha1_pem.p, sha1_pem.n, &sha1, &sha1_len), 0);
	assert_int_equal(x509_cert_pub(paa, paa_len, paa_pub), 0);
	assert_int_equal(x509_cert_pub(pai, pai_len, pai_pub), 0);
	assert_int_equal(x509_verify_signed(paa, paa_len, paa_pub), 0);
	assert_int_equal(x509_verify_signed(pai, pai_len, paa_pub), 0);
	assert_int_equal(x509_verify_signed(pai, pai_len, pai_pub), WRIT_E_BADSIG);
	assert_int_equal(x509_verify_signed(sha1, sha1_len, pai_pub), WRIT_E_UNSUPPORTED);
	assert_int_equal(x509_verify_signed(pai, pai_len - 1, paa_pub), WRIT_E_FORMAT);
	paa_pub[5] ^= 1;
	assert_int_equal(x509_verify_signed(pai, pai_len, paa_pub), WRIT_E_INVAL);
	free(paa);
	free(pai);
	free(sha1);
	free(paa_pem.p);
	free(pai_pem.p);
	free(sha1_pem.p);
}

/* A token that returns a wrong signature: the real signature with one bit flipped. */
struct faulty {
	struct writ_signer real;
};

static int faulty_sign(void *ctx, const uint8_t digest[32], uint8_t ret_sig[WRIT_P256_SIG_LEN])
{
	struct faulty *f = ctx;
	int err = f->real.sign(f->real.ctx, digest, ret_sig);

	ret_sig[40] ^= 0x01;
	return err;
}

static void test_faulty_signer(void **state)
{
	struct ec_soft_key *ca, *dev;
	struct writ_signer good, bad, d;
	struct faulty f;
	struct x509_cert_params p;
	uint8_t *paa = NULL, *out = NULL;
	size_t paa_len = 0, out_len = 0;

	(void)state;
	assert_int_equal(ec_soft_key_new(&ca), 0);
	assert_int_equal(ec_soft_key_new(&dev), 0);
	ec_soft_signer(ca, &good);
	ec_soft_signer(dev, &d);
	f.real = good;
	bad = good;
	bad.sign = faulty_sign;
	bad.ctx = &f;
	memset(&p, 0, sizeof(p));
	p.profile = X509_PROFILE_PAA;
	p.serial[0] = 0x11;
	p.serial_len = 1;
	p.cn = "PAA";
	p.vid = 0xFFF1;
	p.pid = -1;
	p.not_before = 1700000000;
	p.not_after = X509_NO_EXPIRY;
	memcpy(p.subject_pub, good.pub, WRIT_P256_PUB_LEN);
	/* a CA certificate from a faulty token is refused */
	assert_int_equal(x509_build_sign(&p, &bad, &out, &out_len), WRIT_E_CRYPTO);
	assert_int_equal(x509_build_sign(&p, &good, &paa, &paa_len), 0);
	/* a DAC is built, and its receiver's check catches the fault */
	p.profile = X509_PROFILE_DAC;
	p.cn = "DAC";
	p.pid = 0x8000;
	memcpy(p.subject_pub, d.pub, WRIT_P256_PUB_LEN);
	p.issuer_der = paa;
	p.issuer_len = paa_len;
	assert_int_equal(x509_build_sign(&p, &bad, &out, &out_len), 0);
	assert_int_equal(x509_verify_signed(out, out_len, good.pub), WRIT_E_BADSIG);
	free(out);
	assert_int_equal(x509_build_sign(&p, &good, &out, &out_len), 0);
	assert_int_equal(x509_verify_signed(out, out_len, good.pub), 0);
	free(out);
	free(paa);
	ec_soft_key_free(ca);
	ec_soft_key_free(dev);
}

/* A CSR made on a chip by Mbed TLS 2.28 (libwrit-device, tests/vectors/mbedtls-2.28-csr.der):
 * its signatureAlgorithm carries an explicit NULL parameter. The CSR parser accepts it
 * (it is what MCUs ship); the strict check used for certificates does not. */
static void test_csr_mbedtls_null_params(void **state)
{
	struct blob b = read_vec("../mbedtls-2.28-csr.der");
	uint8_t pub[WRIT_P256_PUB_LEN];

	(void)state;
	assert_int_equal(x509_csr_parse_verify(b.p, b.n, pub), 0);
	assert_int_equal(pub[0], 0x04);
	assert_int_equal(x509_verify_signed(b.p, b.n, pub), WRIT_E_UNSUPPORTED);
	b.p[b.n - 5] ^= 1; /* a flipped signature byte still fails */
	assert_int_not_equal(x509_csr_parse_verify(b.p, b.n, pub), 0);
	free(b.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_faulty_signer),
		cmocka_unit_test(test_csr_valid),
		cmocka_unit_test(test_csr_mbedtls_null_params),
		cmocka_unit_test(test_csr_from_csr_build_sign),
		cmocka_unit_test(test_csr_tampered),
		cmocka_unit_test(test_csr_unsupported),
		cmocka_unit_test(test_csr_size_and_trailing),
		cmocka_unit_test(test_csr_truncated_and_flipped),
		cmocka_unit_test(test_csr_garbage),
		cmocka_unit_test(test_cert_der_and_pub),
		cmocka_unit_test(test_verify_signed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
