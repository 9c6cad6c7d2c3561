/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the product-version bundle (lib/wire/bundle.c): every input
 * goes to bundle_payload_decode (and, when it decodes, must re-encode to exactly the
 * same bytes: only the canonical form is accepted) and to bundle_verify under a fixed
 * pinned key, the public key of the Matter SDK test PAA
 * (tests/vectors/matter-sdk-certs/Chip-Test-PAA-FFF1-Key.pem), which signed the seed
 * written by `test_factory --seeds`, so mutations start from a valid bundle.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/bundle.h"

static const uint8_t pinned_pub[WRIT_P256_PUB_LEN] = {
	0x04, 0xb6, 0xcb, 0x63, 0x72, 0x88, 0x7f, 0x29, 0x28, 0xf5, 0xba, 0xc8, 0x1a, 0xa9, 0xd9, 0x3a, 0xe2,
	0x43, 0x1c, 0xad, 0xa9, 0xd7, 0x9e, 0x24, 0x2f, 0x65, 0x17, 0x7e, 0xf9, 0xce, 0xd9, 0x32, 0xa2, 0x8e,
	0xcd, 0x03, 0xba, 0xaf, 0x6a, 0x8f, 0xca, 0x18, 0x4a, 0x1a, 0x50, 0x35, 0x42, 0x96, 0x0d, 0x45, 0x3f,
	0x30, 0x3f, 0x1f, 0x19, 0x42, 0x1d, 0x75, 0x1e, 0x8f, 0x8f, 0x1a, 0x9a, 0x9b, 0x75,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bundle *b = malloc(sizeof(*b));
	uint8_t *again = NULL;
	size_t again_len = 0;

	if (!b)
		return 0;
	if (bundle_payload_decode(data, size, b) == 0) {
		if (bundle_payload_encode(b, &again, &again_len) != 0 || again_len != size || memcmp(again, data, size))
			abort(); /* decoded but not canonical: the decoder let something through */
		free(again);
	}
	(void)!bundle_verify(data, size, pinned_pub, b);
	free(b);
	return 0;
}
