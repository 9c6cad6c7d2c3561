/* SPDX-License-Identifier: Apache-2.0 */
/*
 * P-256 / SHA-256 helpers over OpenSSL 3: digests, key ids, raw-signature verification,
 * raw <-> DER ECDSA signature conversion, and an in-memory key for tests and ephemeral
 * use. Public keys travel as 65-byte uncompressed points everywhere in writ.
 *
 * The per-certificate hot paths (point check, signature verification, digests) use
 * OpenSSL's EC_GROUP / EC_KEY / ECDSA_SIG objects and digests fetched once, not the
 * EVP_PKEY import path: in OpenSSL 3.0 importing a key through the provider layer
 * costs more than the verification itself, and writ-hsmd checks two signatures per
 * DAC. EC_KEY is deprecated in 3.0 but present and supported through the 3.x series;
 * the deprecation warnings are silenced for this file only.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/obj_mac.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/buffer.h>
#include <openssl/pem.h>

#include "base/ct.h"
#include "crypto/ec.h"

struct ec_soft_key {
	EVP_PKEY *pkey;
	uint8_t pub[WRIT_P256_PUB_LEN];
};

/* Fetched once per process and shared read-only by every thread. */
static EC_GROUP *p256;
static EVP_MD *md_sha256, *md_sha1;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
/* Each thread's verification key object: EC_KEY_set_group copies the whole group
 * (Montgomery tables included), so it is done once per thread, not per signature. */
static pthread_key_t verify_key;

static void free_verify_key(void *k)
{
	EC_KEY_free(k);
}

static void fetch_all(void)
{
	p256 = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
	if (pthread_key_create(&verify_key, free_verify_key) != 0) {
		EC_GROUP_free(p256);
		p256 = NULL; /* fetched() reports the failure */
	}
}

static int fetched(void)
{
	return pthread_once(&fetch_once, fetch_all) == 0 && p256 && md_sha256 && md_sha1;
}

/* md points at one of the fetched digests; it is read only after the fetch ran. */
static int digest(EVP_MD *const *md, const void *data, size_t n, uint8_t *out, unsigned want)
{
	unsigned int len = 0;

	if (!data && n)
		return WRIT_E_INVAL;
	if (!fetched() || EVP_Digest(data, n, out, &len, *md, NULL) != 1 || len != want)
		return WRIT_E_CRYPTO;
	return 0;
}

int ec_random(uint8_t *buf, size_t n)
{
	return n > INT_MAX || RAND_bytes(buf, (int)n) != 1 ? WRIT_E_CRYPTO : 0;
}

int ec_sha256(const void *data, size_t n, uint8_t ret_digest[32])
{
	return digest(&md_sha256, data, n, ret_digest, 32);
}

int ec_pbkdf2_sha256(const void *pass, size_t pass_len, const uint8_t *salt, size_t salt_len, unsigned iterations,
		     uint8_t *ret, size_t ret_len)
{
	if (pass_len > INT_MAX || salt_len > INT_MAX || ret_len > INT_MAX || iterations == 0 || iterations > INT_MAX)
		return WRIT_E_INVAL;
	if (PKCS5_PBKDF2_HMAC(pass, (int)pass_len, salt, (int)salt_len, (int)iterations, EVP_sha256(), (int)ret_len,
			      ret) != 1)
		return WRIT_E_CRYPTO;
	return 0;
}

int ec_sha1(const void *data, size_t n, uint8_t ret_digest[20])
{
	return digest(&md_sha1, data, n, ret_digest, 20);
}

/* The point pub decoded; NULL if it is not an uncompressed point on P-256
 * (EC_POINT_oct2point checks that the point is on the curve; P-256's cofactor is 1, so
 * that is the whole validity check). */
static EC_POINT *pub_to_point(const uint8_t pub[WRIT_P256_PUB_LEN])
{
	EC_POINT *pt;

	if (pub[0] != 0x04 || !fetched())
		return NULL;
	pt = EC_POINT_new(p256);
	if (pt && EC_POINT_oct2point(p256, pt, pub, WRIT_P256_PUB_LEN, NULL) != 1) {
		EC_POINT_free(pt);
		pt = NULL;
	}
	return pt;
}

/* This thread's EC_KEY, now holding pub; NULL if pub is not a valid point. Owned by
 * the thread: do not free. */
static EC_KEY *pub_to_eckey(const uint8_t pub[WRIT_P256_PUB_LEN])
{
	EC_POINT *pt = pub_to_point(pub);
	EC_KEY *k;

	if (!pt)
		return NULL;
	k = pthread_getspecific(verify_key);
	if (!k) {
		k = EC_KEY_new();
		if (!k || EC_KEY_set_group(k, p256) != 1 || pthread_setspecific(verify_key, k) != 0) {
			EC_KEY_free(k);
			k = NULL;
		}
	}
	if (k && EC_KEY_set_public_key(k, pt) != 1)
		k = NULL;
	EC_POINT_free(pt);
	return k;
}

int ec_keyid(const uint8_t pub[WRIT_P256_PUB_LEN], uint8_t ret_kid[WRIT_KEYID_LEN])
{
	return ec_sha256(pub, WRIT_P256_PUB_LEN, ret_kid);
}

/* A public EVP_PKEY from a 65-byte point; NULL if the point is not on P-256. */
static EVP_PKEY *pub_to_pkey(const uint8_t pub[WRIT_P256_PUB_LEN])
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM params[3];

	if (pub[0] != 0x04)
		return NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pub, WRIT_P256_PUB_LEN);
	params[2] = OSSL_PARAM_construct_end();
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
		goto out;
	}
	/* fromdata decodes the point; make sure it is on the curve. The quick check (not
	 * infinity, coordinates in range, on the curve) is the whole check for P-256: its
	 * cofactor is 1, so every such point has the group's prime order, and the full
	 * check's extra n*Q = O scalar multiplication (the cost of a signature) adds nothing. */
	EVP_PKEY_CTX_free(ctx);
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (!ctx || EVP_PKEY_public_check_quick(ctx) != 1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
out:
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

int ec_p256_check_pub(const uint8_t pub[WRIT_P256_PUB_LEN])
{
	EC_POINT *pt = pub_to_point(pub);

	if (!pt)
		return WRIT_E_FORMAT;
	EC_POINT_free(pt);
	return 0;
}

int ec_sig_raw_to_der(const uint8_t sig[WRIT_P256_SIG_LEN], uint8_t **ret_der, size_t *ret_len)
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL);
	BIGNUM *v = BN_bin2bn(sig + 32, 32, NULL);
	unsigned char *der = NULL;
	int len, err = WRIT_E_CRYPTO;

	if (!s || !r || !v || ECDSA_SIG_set0(s, r, v) != 1)
		goto fail;
	r = v = NULL; /* owned by s now */
	len = i2d_ECDSA_SIG(s, &der);
	if (len <= 0)
		goto fail;
	/* the header promises memory the caller releases with free() */
	*ret_der = malloc((size_t)len);
	if (!*ret_der) {
		err = WRIT_E_NOMEM;
		goto fail;
	}
	memcpy(*ret_der, der, (size_t)len);
	*ret_len = (size_t)len;
	err = 0;
fail:
	OPENSSL_free(der);
	BN_free(r);
	BN_free(v);
	ECDSA_SIG_free(s);
	return err;
}

int ec_sig_der_to_raw(const uint8_t *der, size_t len, uint8_t ret_sig[WRIT_P256_SIG_LEN])
{
	const unsigned char *p = der;
	ECDSA_SIG *s;
	const BIGNUM *r, *v;
	uint8_t out[WRIT_P256_SIG_LEN];
	int err = WRIT_E_FORMAT;

	if (!der || len == 0 || len > 80)
		return WRIT_E_FORMAT;
	s = d2i_ECDSA_SIG(NULL, &p, (long)len);
	if (!s)
		return WRIT_E_FORMAT;
	if (p != der + len)
		goto fail; /* trailing bytes */
	ECDSA_SIG_get0(s, &r, &v);
	if (BN_num_bytes(r) > 32 || BN_num_bytes(v) > 32 ||
	    BN_bn2binpad(r, out, 32) != 32 || BN_bn2binpad(v, out + 32, 32) != 32)
		goto fail;
	memcpy(ret_sig, out, sizeof(out));
	err = 0;
fail:
	ECDSA_SIG_free(s);
	return err;
}

int ec_p256_verify_digest(const uint8_t pub[WRIT_P256_PUB_LEN], const uint8_t digest32[32],
			  const uint8_t sig[WRIT_P256_SIG_LEN])
{
	EC_KEY *k = pub_to_eckey(pub);
	ECDSA_SIG *s = NULL;
	BIGNUM *r = NULL, *v = NULL;
	int err = WRIT_E_CRYPTO, rc;

	if (!k)
		return WRIT_E_FORMAT;
	s = ECDSA_SIG_new();
	r = BN_bin2bn(sig, 32, NULL);
	v = BN_bin2bn(sig + 32, 32, NULL);
	if (!s || !r || !v || ECDSA_SIG_set0(s, r, v) != 1)
		goto out;
	r = v = NULL; /* owned by s */
	rc = ECDSA_do_verify(digest32, 32, s, k);
	err = rc == 1 ? 0 : WRIT_E_BADSIG; /* -1: r or s out of range, also a bad signature */
out:
	BN_free(r);
	BN_free(v);
	ECDSA_SIG_free(s);
	ERR_clear_error();
	return err;
}

static int soft_fill_pub(struct ec_soft_key *k)
{
	size_t len = 0;

	if (EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_PUB_KEY, k->pub, sizeof(k->pub), &len) != 1 ||
	    len != WRIT_P256_PUB_LEN || k->pub[0] != 0x04)
		return WRIT_E_CRYPTO;
	return 0;
}

int ec_soft_key_new(struct ec_soft_key **ret)
{
	struct ec_soft_key *k = calloc(1, sizeof(*k));

	if (!k)
		return WRIT_E_NOMEM;
	/* uncompressed point format is OpenSSL's default for EC keys */
	k->pkey = EVP_EC_gen("prime256v1");
	if (!k->pkey || soft_fill_pub(k) < 0) {
		ec_soft_key_free(k);
		return WRIT_E_CRYPTO;
	}
	*ret = k;
	return 0;
}

int ec_soft_key_from_pem(const char *pem_path, struct ec_soft_key **ret)
{
	struct ec_soft_key *k;
	FILE *f;

	f = fopen(pem_path, "r");
	if (!f)
		return WRIT_E_IO;
	k = calloc(1, sizeof(*k));
	if (!k) {
		fclose(f);
		return WRIT_E_NOMEM;
	}
	k->pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!k->pkey || !EVP_PKEY_is_a(k->pkey, "EC") || soft_fill_pub(k) < 0) {
		ec_soft_key_free(k);
		return WRIT_E_FORMAT;
	}
	*ret = k;
	return 0;
}

void ec_soft_key_free(struct ec_soft_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

static int soft_sign(void *ctx, const uint8_t digest[32], uint8_t ret_sig[WRIT_P256_SIG_LEN])
{
	struct ec_soft_key *k = ctx;
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
	uint8_t der[80];
	size_t der_len = sizeof(der);
	int err = WRIT_E_CRYPTO;

	if (!pctx || EVP_PKEY_sign_init(pctx) != 1 || EVP_PKEY_sign(pctx, der, &der_len, digest, 32) != 1)
		goto out;
	err = ec_sig_der_to_raw(der, der_len, ret_sig);
out:
	EVP_PKEY_CTX_free(pctx);
	return err;
}

static int soft_derive(void *ctx, const uint8_t peer_pub[WRIT_P256_PUB_LEN], uint8_t ret_z[32])
{
	struct ec_soft_key *k = ctx;
	EVP_PKEY *peer = pub_to_pkey(peer_pub);
	EVP_PKEY_CTX *pctx = NULL;
	uint8_t z[32];
	size_t z_len = sizeof(z);
	int err = WRIT_E_CRYPTO;

	if (!peer)
		return WRIT_E_FORMAT;
	pctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
	if (!pctx || EVP_PKEY_derive_init(pctx) != 1 || EVP_PKEY_derive_set_peer(pctx, peer) != 1 ||
	    EVP_PKEY_derive(pctx, z, &z_len) != 1 || z_len != 32)
		goto out;
	memcpy(ret_z, z, 32);
	err = 0;
out:
	writ_memzero(z, sizeof(z));
	EVP_PKEY_CTX_free(pctx);
	EVP_PKEY_free(peer);
	return err;
}

void ec_soft_signer(struct ec_soft_key *k, struct writ_signer *ret)
{
	ret->sign = soft_sign;
	ret->ctx = k;
	memcpy(ret->pub, k->pub, WRIT_P256_PUB_LEN);
}

void ec_soft_ecdh(struct ec_soft_key *k, struct writ_ecdh *ret)
{
	ret->derive = soft_derive;
	ret->ctx = k;
	memcpy(ret->pub, k->pub, WRIT_P256_PUB_LEN);
}

int ec_pub_to_pem(const uint8_t pub[WRIT_P256_PUB_LEN], char **ret_pem)
{
	EVP_PKEY *pkey = pub_to_pkey(pub);
	BIO *bio = NULL;
	BUF_MEM *mem = NULL;
	char *out = NULL;
	int err = WRIT_E_CRYPTO;

	if (!pkey)
		return WRIT_E_FORMAT;
	bio = BIO_new(BIO_s_mem());
	if (!bio || PEM_write_bio_PUBKEY(bio, pkey) != 1)
		goto out;
	BIO_get_mem_ptr(bio, &mem);
	out = malloc(mem->length + 1);
	if (!out) {
		err = WRIT_E_NOMEM;
		goto out;
	}
	memcpy(out, mem->data, mem->length);
	out[mem->length] = 0;
	*ret_pem = out;
	err = 0;
out:
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return err;
}

int ec_pub_from_pem(const uint8_t *pem, size_t len, uint8_t ret_pub[WRIT_P256_PUB_LEN])
{
	BIO *bio;
	EVP_PKEY *pkey = NULL;
	uint8_t pub[WRIT_P256_PUB_LEN];
	char group[32];
	size_t n = 0;
	int err = WRIT_E_FORMAT;

	if (len > 4096)
		return WRIT_E_TOOBIG;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return WRIT_E_NOMEM;
	pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	if (!pkey || !EVP_PKEY_is_a(pkey, "EC") ||
	    EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) != 1 ||
	    strcmp(group, "prime256v1") != 0) {
		err = pkey ? WRIT_E_UNSUPPORTED : WRIT_E_FORMAT;
		goto out;
	}
	if (EVP_PKEY_set_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "uncompressed") != 1 ||
	    EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub), &n) != 1 ||
	    n != WRIT_P256_PUB_LEN)
		goto out;
	memcpy(ret_pub, pub, sizeof(pub));
	err = 0;
out:
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	return err;
}
