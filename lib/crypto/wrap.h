/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Wrapping a product secret to one chip (docs/device-protocol.md, "Wrapped secret"):
 * an ephemeral P-256 key agrees with the chip's key-agreement key (ENC_PUB), the
 * shared x-coordinate goes through HKDF-SHA256 (salt = the chip's 16-byte UID, info =
 * "writ secret wrap v1" || label) to an AES-256-GCM key, and the secret is sealed with a
 * random nonce under AAD "writ-wrap-v1" || UID || label. The output is
 *   eph_pub (65) || nonce (12) || ciphertext (16..64) || tag (16).
 * writ-hsmd wraps; the unwrap side is here for tests and host tools (the chip has its
 * own, independent implementation). Every intermediate secret (z, key, plaintext copy)
 * is wiped before return, and the ephemeral private key is freed at once.
 */
#ifndef WRIT_CRYPTO_WRAP_H
#define WRIT_CRYPTO_WRAP_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/keyops.h"

#define WRAP_UID_LEN 16
#define WRAP_LABEL_MAX 32
#define WRAP_SECRET_MIN 16
#define WRAP_SECRET_MAX 64
#define WRAP_NONCE_LEN 12
#define WRAP_TAG_LEN 16
#define WRAP_OVERHEAD (WRIT_P256_PUB_LEN + WRAP_NONCE_LEN + WRAP_TAG_LEN) /* 93 */
#define WRAP_MAX (WRAP_OVERHEAD + WRAP_SECRET_MAX)                       /* 157 */

/* 1 if label is 1..32 bytes of [a-z0-9-], 0 otherwise. */
int wrap_label_valid(const char *label, size_t len);

/* Wrap secret (16..64 bytes) for the chip whose key-agreement public key is enc_pub.
 * Writes WRAP_OVERHEAD + secret_len bytes to out (cap bytes; caller-owned) and their
 * count to *ret_len. WRIT_E_INVAL for bad sizes or label, WRIT_E_FORMAT if enc_pub is not
 * a valid P-256 point, WRIT_E_TOOBIG if cap is too small, WRIT_E_CRYPTO otherwise.
 * Nothing is written to out on failure. */
WRIT_MUST_CHECK int wrap_secret_p256(const uint8_t enc_pub[WRIT_P256_PUB_LEN], const uint8_t uid[WRAP_UID_LEN],
				     const char *label, size_t label_len, const uint8_t *secret, size_t secret_len,
				     uint8_t *out, size_t cap, size_t *ret_len);

/* The reverse, with the chip's key-agreement key behind enc (a soft key in tests).
 * Writes the secret to out (cap bytes; caller-owned; the caller wipes it) and its
 * length to *ret_len. WRIT_E_DECRYPT when it does not authenticate (tampered, other
 * UID, other label, other key), WRIT_E_INVAL / WRIT_E_FORMAT for bad sizes. */
WRIT_MUST_CHECK int unwrap_secret_p256(const struct writ_ecdh *enc, const uint8_t uid[WRAP_UID_LEN],
				       const char *label, size_t label_len, const uint8_t *wrapped, size_t wrapped_len,
				       uint8_t *out, size_t cap, size_t *ret_len);

#endif
