/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the chip's WFD1 factory-data parser (wdev_wfd_check): it must
 * never read past the input, and whatever it accepts must point inside the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "wdev.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *dac = NULL, *pai = NULL;
	size_t dl = 0, pl = 0;

	if (wdev_wfd_check(data, size, &dac, &dl, &pai, &pl) == 0) {
		if (dac < data || dac + dl > data + size || pai < data || pai + pl > data + size || !dl || !pl)
			abort();
	}
	return 0;
}
