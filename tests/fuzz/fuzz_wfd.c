/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for matter_wfd_parse, the host's strict WFD1 parser: any input must
 * be refused cleanly, and an accepted one must encode back to exactly the same bytes
 * (the format has one encoding per value).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "matter/factory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct matter_factory_data fd;
	static uint8_t back[MATTER_WFD_MAX];
	int n;

	if (matter_wfd_parse(data, size, &fd) != 0)
		return 0;
	n = matter_wfd_encode(&fd, back, sizeof(back));
	if (n < 0 || (size_t)n != size || memcmp(back, data, size) != 0)
		abort();
	return 0;
}
