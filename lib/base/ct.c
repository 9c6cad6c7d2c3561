/* SPDX-License-Identifier: Apache-2.0 */
/* Constant-time compare and secure zero, portable C99 with no OS calls. */
#include "base/ct.h"

int writ_ct_memeq(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a;
	const volatile unsigned char *y = b;
	unsigned char acc = 0;
	size_t i;

	for (i = 0; i < n; i++)
		acc |= (unsigned char)(x[i] ^ y[i]);
	/* acc is 0 iff equal; map to 1/0 without a data-dependent branch */
	return (int)(1 & ((unsigned)(acc - 1) >> 8));
}

void writ_memzero(void *p, size_t n)
{
	volatile unsigned char *v = p;
	size_t i;

	for (i = 0; i < n; i++)
		v[i] = 0;
	/* a compiler barrier: the zeroed memory counts as read from here on */
	__asm__ __volatile__("" : : "r"(p) : "memory");
}
