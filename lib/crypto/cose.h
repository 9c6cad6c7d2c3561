/* SPDX-License-Identifier: Apache-2.0 */
/*
 * COSE (RFC 9052/9053) as writ uses it:
 *  - COSE_Sign1 (tag 18), ES256 (alg -7), key id (label 4) in the protected header,
 *    empty external AAD.
 *  - COSE_Encrypt (tag 96) with one recipient: ECDH-ES + HKDF-256 (alg -25) on P-256,
 *    content encryption A256GCM (alg 3), ephemeral key (label -1, COSE_Key EC2) and
 *    recipient key id (label 4) in the recipient's unprotected header, 12-byte IV
 *    (label 5) in the body's unprotected header. KDF context per RFC 9053 §5.2 with
 *    empty PartyU/PartyV identities.
 * Decoders are strict: definite lengths, exact structure, bounded sizes.
 * All outputs are malloc'd; the caller frees them with free().
 */
#ifndef WRIT_CRYPTO_COSE_H
#define WRIT_CRYPTO_COSE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/keyops.h"

#define COSE_MAX_MESSAGE (1024 * 1024) /* any COSE object writ accepts */
#define COSE_MAX_KID 64                /* longest recipient kid cose_decrypt_ecdhes_kid takes */

/* Sign payload into a tagged COSE_Sign1 with kid in the protected header. */
WRIT_MUST_CHECK int cose_sign1_sign(const struct writ_signer *signer, const uint8_t kid[WRIT_KEYID_LEN],
				    const uint8_t *payload, size_t payload_len, uint8_t **ret_msg,
				    size_t *ret_len);

/* Read the kid of a COSE_Sign1 without verifying (to choose a key). */
WRIT_MUST_CHECK int cose_sign1_kid(const uint8_t *msg, size_t len, uint8_t ret_kid[WRIT_KEYID_LEN]);

/* Verify a COSE_Sign1 under pub. On success *ret_payload (malloc'd) holds the payload.
 * WRIT_E_FORMAT for malformed input, WRIT_E_UNSUPPORTED for alg != ES256,
 * WRIT_E_BADSIG for a bad signature or a kid that is not pub's key id. */
WRIT_MUST_CHECK int cose_sign1_verify(const uint8_t *msg, size_t len, const uint8_t pub[WRIT_P256_PUB_LEN],
				      uint8_t **ret_payload, size_t *ret_payload_len);

/* Encrypt plaintext to the recipient's P-256 public key (kid = its key id). */
WRIT_MUST_CHECK int cose_encrypt_ecdhes(const uint8_t recipient_pub[WRIT_P256_PUB_LEN],
					const uint8_t *pt, size_t pt_len, uint8_t **ret_msg, size_t *ret_len);

/* Decrypt a COSE_Encrypt addressed to the key behind kex (kid must match kex->pub).
 * The plaintext is malloc'd; WRIT_E_DECRYPT when the tag does not verify.
 * Also: WRIT_E_TOOBIG (len > COSE_MAX_MESSAGE), WRIT_E_FORMAT (malformed, or an
 * ephemeral key that is not a point on P-256), WRIT_E_UNSUPPORTED (other algorithms,
 * key type or curve), WRIT_E_NOTFOUND (the recipient kid is not kex->pub's key id:
 * the message is for another key; no key agreement was attempted). */
WRIT_MUST_CHECK int cose_decrypt_ecdhes(const struct writ_ecdh *kex, const uint8_t *msg, size_t len,
					uint8_t **ret_pt, size_t *ret_len);

/* As cose_decrypt_ecdhes, but the recipient kid must equal kid[0..kid_len) (1 to
 * COSE_MAX_KID bytes) instead of kex->pub's key id. For COSE objects made by others with
 * their own kid scheme, e.g. the published RFC 9052 / COSE WG example vectors. */
WRIT_MUST_CHECK int cose_decrypt_ecdhes_kid(const struct writ_ecdh *kex, const uint8_t *kid, size_t kid_len,
					    const uint8_t *msg, size_t len, uint8_t **ret_pt, size_t *ret_len);

/* SHA-256 of the Sig_structure ["Signature1", protected, h'', payload] (RFC 9052 §4.4)
 * that cose_sign1_sign signs; protected_hdr is the serialized protected header (the
 * content of its bstr). Exposed for known-answer tests against published vectors. */
WRIT_MUST_CHECK int cose_sign1_tbs_digest(const uint8_t *protected_hdr, size_t protected_len,
					  const uint8_t *payload, size_t payload_len, uint8_t ret_digest[32]);

#endif
