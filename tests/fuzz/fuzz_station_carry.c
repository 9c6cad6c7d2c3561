/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the hand-over reader of writ-station's self-update
 * (station/selfupdate.c, selfupdate_parse_carry): the text one version of the station
 * leaves for the next. Whatever it holds, the reader must not crash; it takes it whole or
 * not at all (the port callback never runs for a text it refuses), and what it takes
 * adds up and names only printable, bounded port addresses.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "station/selfupdate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	size_t ports;
};

static int on_port(void *ctx, const char *addr)
{
	struct seen *s = ctx;
	size_t n = strlen(addr);

	if (n == 0 || n > SELFUPDATE_ADDR_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)addr[i] < 0x20 || (unsigned char)addr[i] > 0x7e)
			abort();
	s->ports++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct selfupdate_carry c, d;
	struct seen s = { 0 };
	size_t lines = 0;
	int rc;

	memset(&c, 0xa5, sizeof c);
	rc = selfupdate_parse_carry((const char *)data, size, &c, on_port, &s);
	if (rc < 0) {
		if (s.ports)
			abort(); /* refused, yet a port was applied */
		return 0;
	}
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	if (c.ok + c.failed + c.already != c.done || c.done > 100000000u || s.ports + 1 != lines)
		abort();
	if (selfupdate_parse_carry((const char *)data, size, &d, NULL, NULL) != 0 || memcmp(&c, &d, sizeof c) != 0)
		abort();
	return 0;
}
