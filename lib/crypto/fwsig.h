/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Firmware image signatures (docs/device-protocol.md, "Firmware image signature"): the
 * OEM's secure-boot key signs SHA-256("writ fw v1" || version u32be || size u32be ||
 * image) with ECDSA P-256; the signature is raw r || s (64 bytes). Signing goes through
 * a struct writ_signer, so the key may sit in a token (the authority's "secure-boot"
 * key) or in memory (tests). Verification can stream, as a chip does while chunks
 * arrive, so nobody needs the whole image in memory.
 */
#ifndef WRIT_CRYPTO_FWSIG_H
#define WRIT_CRYPTO_FWSIG_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/keyops.h"

#define FWSIG_IMAGE_MAX (4u * 1024 * 1024) /* WDEV_FW_MAX: 1..4 MiB */

/* The 32-byte digest that is signed. WRIT_E_INVAL for size 0 or > FWSIG_IMAGE_MAX. */
WRIT_MUST_CHECK int fwsig_digest(uint32_t version, const uint8_t *image, size_t size, uint8_t ret_digest[32]);

/* Sign image (size bytes) as firmware version `version`; writes r || s. */
WRIT_MUST_CHECK int fwsig_sign(const struct writ_signer *signer, uint32_t version, const uint8_t *image, size_t size,
			       uint8_t ret_sig[WRIT_P256_SIG_LEN]);

/* 0 if sig is the secure-boot signature of image under pub; WRIT_E_BADSIG if not,
 * WRIT_E_FORMAT for a bad key, WRIT_E_INVAL for a bad size. */
WRIT_MUST_CHECK int fwsig_verify(const uint8_t pub[WRIT_P256_PUB_LEN], uint32_t version, const uint8_t *image,
				 size_t size, const uint8_t sig[WRIT_P256_SIG_LEN]);

/* Streaming verification: init with the declared version and size, update with the
 * image in order (any chunking), final checks that exactly size bytes came and the
 * signature verifies. The context is malloc'd by init and freed by final (always) or
 * fwsig_stream_free (to abandon; accepts NULL). update returns WRIT_E_TOOBIG past size. */
struct fwsig_stream;
WRIT_MUST_CHECK int fwsig_stream_init(uint32_t version, uint32_t size, struct fwsig_stream **ret);
WRIT_MUST_CHECK int fwsig_stream_update(struct fwsig_stream *s, const uint8_t *chunk, size_t n);
WRIT_MUST_CHECK int fwsig_stream_final(struct fwsig_stream *s, const uint8_t pub[WRIT_P256_PUB_LEN],
				       const uint8_t sig[WRIT_P256_SIG_LEN]);
void fwsig_stream_free(struct fwsig_stream *s);

#endif
