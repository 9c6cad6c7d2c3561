/* SPDX-License-Identifier: Apache-2.0 */
/*
 * P-256 and SHA-256 helpers over OpenSSL 3 that every other crypto module uses:
 * digests, key ids, public-key verification of raw r||s signatures, and conversion
 * between raw and DER ECDSA signatures. Also an in-memory OpenSSL signer/ECDH key for
 * tests and for ephemeral keys only; long-term keys live in a PKCS#11 token (lib/p11).
 */
#ifndef WRIT_CRYPTO_EC_H
#define WRIT_CRYPTO_EC_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/keyops.h"

/* SHA-256 of n bytes. */
WRIT_MUST_CHECK int ec_sha256(const void *data, size_t n, uint8_t ret_digest[32]);

/* PBKDF2-HMAC-SHA256 (RFC 8018) of a password: ret_len bytes. */
WRIT_MUST_CHECK int ec_pbkdf2_sha256(const void *pass, size_t pass_len, const uint8_t *salt, size_t salt_len,
				     unsigned iterations, uint8_t *ret, size_t ret_len);

/* n bytes from OpenSSL's CSPRNG (WRIT_E_CRYPTO if it is not seeded). */
WRIT_MUST_CHECK int ec_random(uint8_t *buf, size_t n);

/* SHA-1 of n bytes (only for X.509 key identifiers, which Matter defines with it). */
WRIT_MUST_CHECK int ec_sha1(const void *data, size_t n, uint8_t ret_digest[20]);

/* writ's key id: SHA-256 of the 65-byte uncompressed public point. */
WRIT_MUST_CHECK int ec_keyid(const uint8_t pub[WRIT_P256_PUB_LEN], uint8_t ret_kid[WRIT_KEYID_LEN]);

/* 0 if pub is a valid uncompressed point on P-256, WRIT_E_FORMAT otherwise. */
WRIT_MUST_CHECK int ec_p256_check_pub(const uint8_t pub[WRIT_P256_PUB_LEN]);

/* Verify a raw r||s ECDSA P-256 signature over a SHA-256 digest.
 * 0 if valid, WRIT_E_BADSIG if not, WRIT_E_FORMAT for a bad key. */
WRIT_MUST_CHECK int ec_p256_verify_digest(const uint8_t pub[WRIT_P256_PUB_LEN], const uint8_t digest[32],
					  const uint8_t sig[WRIT_P256_SIG_LEN]);

/* Convert raw r||s to DER ECDSA-Sig-Value. *ret_der is malloc'd; caller frees. */
WRIT_MUST_CHECK int ec_sig_raw_to_der(const uint8_t sig[WRIT_P256_SIG_LEN], uint8_t **ret_der, size_t *ret_len);
/* Convert a DER ECDSA-Sig-Value to raw r||s (rejects r or s longer than 32 bytes). */
WRIT_MUST_CHECK int ec_sig_der_to_raw(const uint8_t *der, size_t len, uint8_t ret_sig[WRIT_P256_SIG_LEN]);

/* A P-256 public key as PEM SubjectPublicKeyInfo text and back. *ret_pem is malloc'd
 * and NUL-terminated. */
WRIT_MUST_CHECK int ec_pub_to_pem(const uint8_t pub[WRIT_P256_PUB_LEN], char **ret_pem);
WRIT_MUST_CHECK int ec_pub_from_pem(const uint8_t *pem, size_t len, uint8_t ret_pub[WRIT_P256_PUB_LEN]);

/* In-memory P-256 key (OpenSSL). For tests and ephemeral keys only. */
struct ec_soft_key;
WRIT_MUST_CHECK int ec_soft_key_new(struct ec_soft_key **ret);
/* Load from PEM private key (tests with public test vectors only). */
WRIT_MUST_CHECK int ec_soft_key_from_pem(const char *pem_path, struct ec_soft_key **ret);
void ec_soft_key_free(struct ec_soft_key *k); /* accepts NULL */
/* Fill a signer / ECDH view backed by k; valid while k lives. */
void ec_soft_signer(struct ec_soft_key *k, struct writ_signer *ret);
void ec_soft_ecdh(struct ec_soft_key *k, struct writ_ecdh *ret);

#endif
