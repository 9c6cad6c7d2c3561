/* SPDX-License-Identifier: Apache-2.0 */
/* The shortest-form CBOR head (see cborh.h). */
#include "base/cborh.h"

size_t cbor_head_encode(uint8_t out[CBOR_HEAD_MAX], unsigned major, uint64_t arg)
{
	size_t n, i;
	unsigned ai;

	if (arg < 24) {
		out[0] = (uint8_t)(major << 5 | (unsigned)arg);
		return 1;
	}
	if (arg <= 0xffu) {
		ai = 24;
		n = 1;
	} else if (arg <= 0xffffu) {
		ai = 25;
		n = 2;
	} else if (arg <= 0xffffffffu) {
		ai = 26;
		n = 4;
	} else {
		ai = 27;
		n = 8;
	}
	out[0] = (uint8_t)(major << 5 | ai);
	for (i = 0; i < n; i++)
		out[1 + i] = (uint8_t)(arg >> (8 * (n - 1 - i)));
	return 1 + n;
}
