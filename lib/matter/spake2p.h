/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SPAKE2+ verifier a Matter device stores instead of its passcode (Matter core
 * specification 3.10; the SDK's Spake2pVerifier::Generate): w0 || L, 97 bytes, derived
 * from the passcode with PBKDF2-HMAC-SHA256 over P-256. Also strict base64, which is how
 * salts and verifiers travel in text.
 */
#ifndef WRIT_MATTER_SPAKE2P_H
#define WRIT_MATTER_SPAKE2P_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define MATTER_SPAKE2P_VERIFIER_LEN 97
#define MATTER_SPAKE2P_SALT_MIN 16
#define MATTER_SPAKE2P_SALT_MAX 32
#define MATTER_SPAKE2P_IT_MIN 1000u
#define MATTER_SPAKE2P_IT_MAX 100000u

/* Compute the verifier for passcode (which must be valid, see matter_passcode_valid)
 * with salt (16..32 bytes) and iterations (1000..100000). ret_verifier is written only
 * on success. Every intermediate (the password, ws, w0, w1) is wiped before returning.
 * WRIT_E_INVAL for out-of-range input, WRIT_E_CRYPTO if OpenSSL fails. */
WRIT_MUST_CHECK int matter_spake2p_verifier(uint32_t passcode, const uint8_t *salt, size_t salt_len,
					    uint32_t iterations, uint8_t ret_verifier[MATTER_SPAKE2P_VERIFIER_LEN]);

/* 0 if the 97 bytes are a well-formed verifier: w0 in [0, n) and L a point on P-256;
 * WRIT_E_FORMAT otherwise. */
WRIT_MUST_CHECK int matter_spake2p_verifier_check(const uint8_t v[MATTER_SPAKE2P_VERIFIER_LEN]);

/* Base64 (RFC 4648, with padding, no line breaks) of len bytes into out (cap bytes with
 * the NUL). Returns the string length or WRIT_E_TOOBIG. */
WRIT_MUST_CHECK int matter_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap);

/* Strict base64 decode of slen characters: padded, canonical (unused bits zero), no
 * whitespace. Returns the byte count, WRIT_E_FORMAT if malformed, WRIT_E_TOOBIG if it
 * does not fit in cap. */
WRIT_MUST_CHECK int matter_b64_decode(const char *s, size_t slen, uint8_t *out, size_t cap);

#endif
