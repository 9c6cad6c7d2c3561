/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the writ parsers: every input goes to writ_scope_decode (and,
 * when it decodes, must re-encode to exactly the same bytes, since only the canonical
 * form is accepted), to writ_verify_signed under a fixed pinned key, and to writ_open
 * with a fixed key-agreement key. The pinned key is the public key of the Matter SDK
 * test PAA (tests/vectors/matter-sdk-certs/Chip-Test-PAA-FFF1-Key.pem) and the
 * key-agreement key is the SDK test DAC key, so the committed seeds (written by
 * `test_writ --seeds`) verify and open, and mutations start from a valid writ.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/ec.h"
#include "wire/writ.h"

#ifndef WRIT_FUZZ_VECTORS
#define WRIT_FUZZ_VECTORS "tests/vectors/matter-sdk-certs"
#endif

static const uint8_t pinned_pub[WRIT_P256_PUB_LEN] = {
	0x04, 0xb6, 0xcb, 0x63, 0x72, 0x88, 0x7f, 0x29, 0x28, 0xf5, 0xba, 0xc8, 0x1a, 0xa9, 0xd9, 0x3a, 0xe2,
	0x43, 0x1c, 0xad, 0xa9, 0xd7, 0x9e, 0x24, 0x2f, 0x65, 0x17, 0x7e, 0xf9, 0xce, 0xd9, 0x32, 0xa2, 0x8e,
	0xcd, 0x03, 0xba, 0xaf, 0x6a, 0x8f, 0xca, 0x18, 0x4a, 0x1a, 0x50, 0x35, 0x42, 0x96, 0x0d, 0x45, 0x3f,
	0x30, 0x3f, 0x1f, 0x19, 0x42, 0x1d, 0x75, 0x1e, 0x8f, 0x8f, 0x1a, 0x9a, 0x9b, 0x75,
};

/* Created once and kept for the whole run (reachable, so not a leak). */
static struct ec_soft_key *kex_key;
static struct writ_ecdh kex;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* without the test vectors, a fresh key still exercises every refusal path */
	if (ec_soft_key_from_pem(WRIT_FUZZ_VECTORS "/Chip-Test-DAC-FFF1-8000-0000-Key.pem", &kex_key) < 0 &&
	    ec_soft_key_new(&kex_key) < 0)
		abort();
	ec_soft_ecdh(kex_key, &kex);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct writ_scope s;
	uint8_t *enc = NULL, *signed_msg = NULL;
	size_t enc_len = 0, signed_len = 0;

	if (writ_scope_decode(data, size, &s) == WRIT_OK) {
		if (writ_scope_encode(&s, &enc, &enc_len) != WRIT_OK || enc_len != size || memcmp(enc, data, size) != 0)
			abort(); /* accepted a non-canonical form, or lost information */
		free(enc);
	}
	if (writ_verify_signed(data, size, pinned_pub, &s) == WRIT_OK) {
		if (s.pai_len > WRIT_PAI_MAX || s.n_revokes > WRIT_MAX_REVOKES || s.n_secrets > WRIT_MAX_SECRETS)
			abort();
	}
	if (writ_open(data, size, &kex, pinned_pub, &s, &signed_msg, &signed_len) == WRIT_OK) {
		if (!signed_msg || signed_len == 0 || signed_len > size)
			abort();
		free(signed_msg);
	}
	return 0;
}
