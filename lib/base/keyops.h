/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Abstract private-key operations. Code that needs a signature or an ECDH shared secret
 * (COSE, X.509 building, journal checkpoints) takes one of these and never sees the key:
 * lib/p11 provides token-backed implementations, tests may provide OpenSSL-backed ones.
 * This header has no dependencies so crypto and p11 stay independent of each other.
 */
#ifndef WRIT_BASE_KEYOPS_H
#define WRIT_BASE_KEYOPS_H

#include <stddef.h>
#include <stdint.h>

#define WRIT_P256_PUB_LEN 65 /* uncompressed point 04 || X || Y */
#define WRIT_P256_SIG_LEN 64 /* raw r || s, 32 bytes each */
#define WRIT_KEYID_LEN 32    /* key id = SHA-256 of the 65-byte public point */

/* An ECDSA P-256 signer. sign() signs a 32-byte SHA-256 digest and writes r||s.
 * Returns 0 or a negative writ_err. The signer does not own ctx. */
struct writ_signer {
	int (*sign)(void *ctx, const uint8_t digest[32], uint8_t ret_sig[WRIT_P256_SIG_LEN]);
	void *ctx;
	uint8_t pub[WRIT_P256_PUB_LEN];
};

/* An ECDH P-256 key agreement. derive() writes the 32-byte shared X coordinate; the
 * caller must wipe it with writ_memzero after use. Returns 0 or a negative writ_err. */
struct writ_ecdh {
	int (*derive)(void *ctx, const uint8_t peer_pub[WRIT_P256_PUB_LEN], uint8_t ret_z[32]);
	void *ctx;
	uint8_t pub[WRIT_P256_PUB_LEN];
};

#endif
