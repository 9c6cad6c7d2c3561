/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one CBOR head encoder the writers share (COSE, the writ scope, bundles, Nordic
 * factory data): major type + argument in the shortest form (RFC 8949 §4.2.1), as
 * deterministic encoding requires; and the one head decoder of the strict hand-written
 * readers (the writ scope, journal entries). Portable C99, no allocation.
 */
#ifndef WRIT_BASE_CBORH_H
#define WRIT_BASE_CBORH_H

#include <stddef.h>
#include <stdint.h>

#define CBOR_HEAD_MAX 9

/* Write the head of major type major (0..7) with argument arg into out; returns its
 * length (1, 2, 3, 5 or 9). */
size_t cbor_head_encode(uint8_t out[CBOR_HEAD_MAX], unsigned major, uint64_t arg);

#define CBOR_HEAD_ANY_LENGTH 1u /* accept an argument longer than needed (legacy writers) */

/*
 * Read one head at p[*off] (len bytes in all): its major type and argument, and advance
 * *off past it. Refused (-1, *off unchanged): no byte left, additional information 28..31
 * (reserved, or an indefinite length), an argument that does not fit in what remains or
 * is not in its shortest form (unless flags has CBOR_HEAD_ANY_LENGTH), and for a byte or
 * text string (majors 2, 3) a length longer than what remains after the head (the bytes
 * themselves are not consumed). 0 on success.
 */
int cbor_head_decode(const uint8_t *p, size_t len, size_t *off, unsigned flags, unsigned *ret_major,
		     uint64_t *ret_arg);

#endif
