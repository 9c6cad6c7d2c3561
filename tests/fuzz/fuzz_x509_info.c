/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for x509_info_parse (what the dashboard shows of a PAI or PAA):
 * arbitrary bytes are refused or give bounded, NUL-terminated, printable text; never a
 * crash, a leak or an over-read. Seeds: the Matter certificates of seeds/matter_cert.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/x509_info.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void printable(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	if (n == cap)
		abort(); /* not terminated */
	while (n--)
		if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct x509_info xi;
	uint8_t *copy;
	int err;

	/* an exact-size heap copy, so any over-read is caught by ASan */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	if (size)
		memcpy(copy, data, size);
	err = x509_info_parse(copy, size, &xi);
	if (err > 0)
		abort();
	if (err == 0) {
		printable(xi.subject, sizeof(xi.subject));
		printable(xi.issuer, sizeof(xi.issuer));
		printable(xi.serial, sizeof(xi.serial));
	}
	free(copy);
	return 0;
}
