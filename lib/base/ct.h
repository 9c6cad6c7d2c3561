/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Constant-time comparison and secure wiping. Every secret in writ is compared with
 * writ_ct_memeq and wiped with writ_memzero on every exit path.
 */
#ifndef WRIT_BASE_CT_H
#define WRIT_BASE_CT_H

#include <stddef.h>

/* 1 if the n bytes at a and b are equal, 0 otherwise. Time depends only on n. */
int writ_ct_memeq(const void *a, const void *b, size_t n);

/* Overwrite n bytes at p with zeros in a way the compiler may not elide. p may be NULL
 * when n is 0. */
void writ_memzero(void *p, size_t n);

#endif
