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

int cbor_head_decode(const uint8_t *p, size_t len, size_t *off, unsigned flags, unsigned *ret_major,
		     uint64_t *ret_arg)
{
	size_t at = *off, n, i;
	unsigned major, ai;
	uint64_t arg = 0;

	if (at >= len)
		return -1;
	major = p[at] >> 5;
	ai = p[at] & 31u;
	at++;
	if (ai < 24) {
		arg = ai;
	} else if (ai <= 27) {
		n = (size_t)1 << (ai - 24);
		if (n > len - at)
			return -1;
		for (i = 0; i < n; i++)
			arg = arg << 8 | p[at + i];
		at += n;
		/* shortest form: the argument must not fit a smaller head */
		if (!(flags & CBOR_HEAD_ANY_LENGTH) &&
		    ((n == 1 && arg < 24) || (n == 2 && arg <= 0xffu) || (n == 4 && arg <= 0xffffu) ||
		     (n == 8 && arg <= 0xffffffffu)))
			return -1;
	} else {
		return -1; /* 28..30 reserved, 31 indefinite */
	}
	if ((major == 2 || major == 3) && arg > len - at)
		return -1;
	*off = at;
	*ret_major = major;
	*ret_arg = arg;
	return 0;
}
