/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The secret wrap of docs/device-protocol.md: ECDH P-256 with a fresh ephemeral key,
 * HKDF-SHA256, AES-256-GCM. Written against the specification only; the chip side
 * (device/) implements the same bytes independently, and a Python test checks both
 * against a third implementation. Every buffer that held z, the derived key or a
 * plaintext copy is wiped on every path out.
 */
#include "crypto/wrap.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "base/ct.h"
#include "crypto/ec.h"

static const char info_prefix[] = "writ secret wrap v1"; /* HKDF info prefix */
static const char aad_prefix[] = "writ-wrap-v1";         /* GCM AAD prefix */

#define KEY_LEN 32
#define INFO_MAX (sizeof(info_prefix) - 1 + WRAP_LABEL_MAX)
#define AAD_MAX (sizeof(aad_prefix) - 1 + WRAP_UID_LEN + WRAP_LABEL_MAX)

int wrap_label_valid(const char *label, size_t len)
{
	size_t i;

	if (!label || len < 1 || len > WRAP_LABEL_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		char c = label[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return 0;
	}
	return 1;
}

/* key = HKDF-SHA256(salt = uid, ikm = z, info = "writ secret wrap v1" || label, 32). */
static int derive_key(const uint8_t z[32], const uint8_t uid[WRAP_UID_LEN], const char *label, size_t label_len,
		      uint8_t ret_key[KEY_LEN])
{
	uint8_t info[INFO_MAX];
	size_t info_len = sizeof(info_prefix) - 1 + label_len;
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[5];
	int err = WRIT_E_CRYPTO;

	memcpy(info, info_prefix, sizeof(info_prefix) - 1);
	memcpy(info + sizeof(info_prefix) - 1, label, label_len);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)uid, WRAP_UID_LEN);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, 32);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, info_len);
	params[4] = OSSL_PARAM_construct_end();
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (!kdf)
		goto fail;
	kctx = EVP_KDF_CTX_new(kdf);
	if (!kctx || EVP_KDF_derive(kctx, ret_key, KEY_LEN, params) != 1)
		goto fail;
	err = 0;
fail:
	EVP_KDF_CTX_free(kctx); /* clears its copy of the key material */
	EVP_KDF_free(kdf);
	return err;
}

static size_t build_aad(const uint8_t uid[WRAP_UID_LEN], const char *label, size_t label_len, uint8_t aad[AAD_MAX])
{
	size_t n = sizeof(aad_prefix) - 1;

	memcpy(aad, aad_prefix, n);
	memcpy(aad + n, uid, WRAP_UID_LEN);
	memcpy(aad + n + WRAP_UID_LEN, label, label_len);
	return n + WRAP_UID_LEN + label_len;
}

/* AES-256-GCM over n (<= WRAP_SECRET_MAX) bytes; tag is written (enc) or checked. */
static int gcm(int enc, const uint8_t key[KEY_LEN], const uint8_t nonce[WRAP_NONCE_LEN], const uint8_t *aad,
	       size_t aad_len, const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[WRAP_TAG_LEN])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t fin[16];
	int outl = 0, err = WRIT_E_CRYPTO;

	if (!ctx)
		return WRIT_E_NOMEM;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, WRAP_NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)aad_len) != 1 ||
	    EVP_CipherUpdate(ctx, out, &outl, in, (int)n) != 1 || (size_t)outl != n)
		goto fail;
	if (enc) {
		if (EVP_CipherFinal_ex(ctx, fin, &outl) != 1 ||
		    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, WRAP_TAG_LEN, tag) != 1)
			goto fail;
	} else {
		if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, WRAP_TAG_LEN, tag) != 1)
			goto fail;
		if (EVP_CipherFinal_ex(ctx, fin, &outl) != 1) {
			err = WRIT_E_DECRYPT;
			goto fail;
		}
	}
	err = 0;
fail:
	EVP_CIPHER_CTX_free(ctx); /* clears the expanded key schedule */
	return err;
}

int wrap_secret_p256(const uint8_t enc_pub[WRIT_P256_PUB_LEN], const uint8_t uid[WRAP_UID_LEN], const char *label,
		     size_t label_len, const uint8_t *secret, size_t secret_len, uint8_t *out, size_t cap,
		     size_t *ret_len)
{
	struct ec_soft_key *eph = NULL;
	struct writ_ecdh ecdh;
	uint8_t z[32], key[KEY_LEN], aad[AAD_MAX], buf[WRAP_MAX];
	size_t aad_len, total;
	int err;

	if (!enc_pub || !uid || !secret || !out || !ret_len || !wrap_label_valid(label, label_len) ||
	    secret_len < WRAP_SECRET_MIN || secret_len > WRAP_SECRET_MAX)
		return WRIT_E_INVAL;
	total = WRAP_OVERHEAD + secret_len;
	if (cap < total)
		return WRIT_E_TOOBIG;
	if (ec_p256_check_pub(enc_pub) < 0)
		return WRIT_E_FORMAT;

	err = ec_soft_key_new(&eph);
	if (err < 0)
		goto fail;
	ec_soft_ecdh(eph, &ecdh);
	err = ecdh.derive(ecdh.ctx, enc_pub, z);
	memcpy(buf, ecdh.pub, WRIT_P256_PUB_LEN);
	/* the ephemeral private key has done its one job */
	ec_soft_key_free(eph);
	eph = NULL;
	if (err < 0)
		goto fail;
	err = derive_key(z, uid, label, label_len, key);
	if (err < 0)
		goto fail;
	if (RAND_bytes(buf + WRIT_P256_PUB_LEN, WRAP_NONCE_LEN) != 1) {
		err = WRIT_E_CRYPTO;
		goto fail;
	}
	aad_len = build_aad(uid, label, label_len, aad);
	err = gcm(1, key, buf + WRIT_P256_PUB_LEN, aad, aad_len, secret, secret_len,
		  buf + WRIT_P256_PUB_LEN + WRAP_NONCE_LEN, buf + WRIT_P256_PUB_LEN + WRAP_NONCE_LEN + secret_len);
	if (err < 0)
		goto fail;
	memcpy(out, buf, total);
	*ret_len = total;
	err = 0;
fail:
	ec_soft_key_free(eph);
	writ_memzero(z, sizeof(z));
	writ_memzero(key, sizeof(key));
	writ_memzero(buf, sizeof(buf));
	return err;
}

int unwrap_secret_p256(const struct writ_ecdh *enc, const uint8_t uid[WRAP_UID_LEN], const char *label,
		       size_t label_len, const uint8_t *wrapped, size_t wrapped_len, uint8_t *out, size_t cap,
		       size_t *ret_len)
{
	uint8_t z[32], key[KEY_LEN], aad[AAD_MAX], pt[WRAP_SECRET_MAX], tag[WRAP_TAG_LEN];
	size_t aad_len, n;
	int err;

	if (!enc || !enc->derive || !uid || !wrapped || !out || !ret_len || !wrap_label_valid(label, label_len))
		return WRIT_E_INVAL;
	if (wrapped_len < WRAP_OVERHEAD + WRAP_SECRET_MIN || wrapped_len > WRAP_MAX)
		return WRIT_E_FORMAT;
	n = wrapped_len - WRAP_OVERHEAD;
	if (cap < n)
		return WRIT_E_TOOBIG;
	if (ec_p256_check_pub(wrapped) < 0)
		return WRIT_E_FORMAT;

	err = enc->derive(enc->ctx, wrapped, z);
	if (err < 0)
		goto fail;
	err = derive_key(z, uid, label, label_len, key);
	if (err < 0)
		goto fail;
	aad_len = build_aad(uid, label, label_len, aad);
	memcpy(tag, wrapped + WRAP_OVERHEAD - WRAP_TAG_LEN + n, WRAP_TAG_LEN);
	err = gcm(0, key, wrapped + WRIT_P256_PUB_LEN, aad, aad_len, wrapped + WRIT_P256_PUB_LEN + WRAP_NONCE_LEN, n,
		  pt, tag);
	if (err < 0)
		goto fail;
	memcpy(out, pt, n);
	*ret_len = n;
	err = 0;
fail:
	writ_memzero(z, sizeof(z));
	writ_memzero(key, sizeof(key));
	writ_memzero(pt, sizeof(pt));
	return err;
}
