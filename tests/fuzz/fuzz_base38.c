/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for lib/matter's base38 decoder and QR-string parser: any input must
 * be refused cleanly or decode to something that encodes back to exactly the input
 * (base38 and the QR bit layout are bijections on what the decoders accept).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "matter/payload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[4096];
	char *s, back[8192];
	struct matter_payload p;
	char qr[MATTER_QR_BUFSZ];
	int n;

	if (size > 4096)
		return 0;
	n = matter_base38_decode((const char *)data, size, out, sizeof(out));
	if (n >= 0) {
		if (matter_base38_encode(out, (size_t)n, back, sizeof(back)) != (int)size ||
		    memcmp(back, data, size) != 0)
			abort();
	}
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (matter_qr_decode(s, &p) == 0) {
		if (matter_qr_encode(&p, qr) != 0 || strcmp(qr, s) != 0)
			abort();
	}
	free(s);
	return 0;
}
