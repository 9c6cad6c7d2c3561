/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one CBOR head encoder the writers share (COSE, the writ scope, bundles, Nordic
 * factory data): major type + argument in the shortest form (RFC 8949 §4.2.1), as
 * deterministic encoding requires. Portable C99, no allocation.
 */
#ifndef WRIT_BASE_CBORH_H
#define WRIT_BASE_CBORH_H

#include <stddef.h>
#include <stdint.h>

#define CBOR_HEAD_MAX 9

/* Write the head of major type major (0..7) with argument arg into out; returns its
 * length (1, 2, 3, 5 or 9). */
size_t cbor_head_encode(uint8_t out[CBOR_HEAD_MAX], unsigned major, uint64_t arg);

#endif
