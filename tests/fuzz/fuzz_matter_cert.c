/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the Matter certificate checks on arbitrary bytes:
 * matter_cert_vidpid and matter_cert_check_profile for each profile. They must refuse
 * or accept without crashing, leaking or reading out of bounds, and keep their promises
 * (VID/PID in range, a reason written on every refusal, never overflowed).
 * Seeds: tests/fuzz/seeds/matter_cert (the SDK's public test certificates, DER).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/matter_cert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum x509_profile profiles[] = { X509_PROFILE_PAA, X509_PROFILE_PAI, X509_PROFILE_DAC };
	char reason[64 + 1];
	uint8_t *copy;
	size_t i;
	int vid = -7, pid = -7, err;

	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	if (size)
		memcpy(copy, data, size);
	err = matter_cert_vidpid(copy, size, &vid, &pid);
	if (err == 0 && (vid < -1 || vid > 0xffff || pid < -1 || pid > 0xffff))
		abort();
	for (i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++) {
		memset(reason, 'x', sizeof(reason));
		err = matter_cert_check_profile(copy, size, profiles[i], reason, sizeof(reason) - 1);
		if (reason[sizeof(reason) - 1] != 'x')
			abort(); /* wrote past the capacity it was given */
		if (err < 0 && (reason[0] == 'x' || memchr(reason, '\0', sizeof(reason) - 1) == NULL))
			abort(); /* a refusal always comes with a terminated reason */
	}
	free(copy);
	return 0;
}
