/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for x509_csr_parse_verify: arbitrary bytes (DER, PEM, oversized)
 * must be refused or yield a P-256 point, never crash, leak or read out of bounds.
 * Seeds: tests/fuzz/seeds/csr (valid and unsupported CSRs in DER and PEM).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t pub[WRIT_P256_PUB_LEN];
	uint8_t *copy;
	int err;

	/* an exact-size heap copy, so any over-read is caught by ASan */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	if (size)
		memcpy(copy, data, size);
	err = x509_csr_parse_verify(copy, size, pub);
	if (err == 0 && pub[0] != 0x04)
		abort(); /* an accepted CSR always yields an uncompressed point */
	if (err > 0)
		abort();
	free(copy);
	return 0;
}
