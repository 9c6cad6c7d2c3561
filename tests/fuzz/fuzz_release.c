/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the release manifest (lib/wire/release.c): every input goes to
 * release_payload_decode (a decoded one must re-encode to exactly the same bytes) and
 * to release_verify under a fixed pinned key (the Matter SDK test PAA's public key, as
 * in fuzz_bundle.c); a decoded release also goes through release_accept.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/release.h"

static const uint8_t pinned_pub[WRIT_P256_PUB_LEN] = {
	0x04, 0xb6, 0xcb, 0x63, 0x72, 0x88, 0x7f, 0x29, 0x28, 0xf5, 0xba, 0xc8, 0x1a, 0xa9, 0xd9, 0x3a, 0xe2,
	0x43, 0x1c, 0xad, 0xa9, 0xd7, 0x9e, 0x24, 0x2f, 0x65, 0x17, 0x7e, 0xf9, 0xce, 0xd9, 0x32, 0xa2, 0x8e,
	0xcd, 0x03, 0xba, 0xaf, 0x6a, 0x8f, 0xca, 0x18, 0x4a, 0x1a, 0x50, 0x35, 0x42, 0x96, 0x0d, 0x45, 0x3f,
	0x30, 0x3f, 0x1f, 0x19, 0x42, 0x1d, 0x75, 0x1e, 0x8f, 0x8f, 0x1a, 0x9a, 0x9b, 0x75,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct release *r = malloc(sizeof(*r));
	uint8_t *again = NULL;
	size_t again_len = 0;
	const char *why;

	if (!r)
		return 0;
	if (release_payload_decode(data, size, r) == 0) {
		if (release_payload_encode(r, &again, &again_len) != 0 || again_len != size || memcmp(again, data, size))
			abort();
		free(again);
		(void)!release_accept(r, "stable", "1.0.0", NULL, &why);
		(void)!release_accept(r, "beta", NULL, "0.1.0", &why);
	}
	(void)!release_verify(data, size, pinned_pub, r);
	free(r);
	return 0;
}
