/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Matter onboarding payload: the "MT:" QR string (base38 of an 88-bit little-endian
 * bit string), the 11- or 21-digit manual pairing code with its Verhoeff check digit,
 * the passcode rules, and random passcode / discriminator generation. Field layout and
 * rules follow the Matter specification (5.1) as implemented by the Matter SDK's
 * src/setup_payload/; vectors in tests/vectors/matter-sdk-payload-vectors.txt. No
 * function here allocates; every output goes to a caller buffer of stated size.
 */
#ifndef WRIT_MATTER_PAYLOAD_H
#define WRIT_MATTER_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define MATTER_PASSCODE_MAX 99999998u
#define MATTER_DISCRIMINATOR_MAX 0x0FFFu
#define MATTER_FLOW_MAX 2u
/* Discovery capabilities: SoftAP 1, BLE 2, OnNetwork 4, WiFiPAF 8; higher bits reserved. */
#define MATTER_CAPS_MASK 0x0Fu

/* "MT:" + 19 base38 characters + NUL. */
#define MATTER_QR_BUFSZ 24
/* 21 digits + NUL. */
#define MATTER_MANUAL_BUFSZ 22
/* 21 digits + 4 dashes + NUL. */
#define MATTER_MANUAL_FMT_BUFSZ 26

struct matter_payload {
	uint16_t vid;
	uint16_t pid;
	uint8_t flow;          /* 0 standard, 1 user intent, 2 custom */
	uint8_t caps;          /* discovery capabilities bitmask */
	uint16_t discriminator; /* 12-bit long discriminator */
	uint32_t passcode;
};

/* 1 if passcode is a valid Matter setup passcode (1..99999998 and none of 11111111 ..
 * 88888888, 12345678, 87654321), 0 otherwise. */
int matter_passcode_valid(uint32_t passcode);

/* 0 if every field of p is in range (passcode valid, discriminator <= 0xFFF, flow <= 2,
 * no reserved capability bit), WRIT_E_INVAL otherwise. */
WRIT_MUST_CHECK int matter_payload_check(const struct matter_payload *p);

/* Base38 of len bytes into out (cap bytes including the NUL). Returns the string length
 * or WRIT_E_TOOBIG when out is too small. */
WRIT_MUST_CHECK int matter_base38_encode(const uint8_t *in, size_t len, char *out, size_t cap);

/* Decode slen base38 characters into out (cap bytes). Returns the byte count, or
 * WRIT_E_FORMAT for a bad character, a bad length (slen mod 5 of 1 or 3) or a chunk
 * value too large for its byte count, WRIT_E_TOOBIG when out is too small. */
WRIT_MUST_CHECK int matter_base38_decode(const char *s, size_t slen, uint8_t *out, size_t cap);

/* The QR string "MT:..." of p into ret_qr. WRIT_E_INVAL when p is out of range. */
WRIT_MUST_CHECK int matter_qr_encode(const struct matter_payload *p, char ret_qr[MATTER_QR_BUFSZ]);

/* Parse a QR string (no optional TLV data) into *ret. WRIT_E_FORMAT if malformed,
 * WRIT_E_INVAL if it decodes to invalid values (version, passcode, padding). */
WRIT_MUST_CHECK int matter_qr_decode(const char *qr, struct matter_payload *ret);

/* The manual pairing code: 11 digits when flow is 0, 21 when it is not. The code only
 * carries the discriminator's upper 4 bits. */
WRIT_MUST_CHECK int matter_manual_encode(const struct matter_payload *p, char ret_code[MATTER_MANUAL_BUFSZ]);

/* 1 if the digit string (11 or 21 digits) has a correct Verhoeff check digit. */
int matter_manual_check(const char *code);

/* The code grouped for printing: 11 digits as 4-3-4 (3497-011-2332), 21 as 4-3-4-5-5.
 * WRIT_E_INVAL if code is not 11 or 21 digits. */
WRIT_MUST_CHECK int matter_manual_format(const char *code, char ret_fmt[MATTER_MANUAL_FMT_BUFSZ]);

/* Verhoeff check digit ('0'..'9') of n decimal digits, or -1 for a non-digit. */
int matter_verhoeff_digit(const char *digits, size_t n);

/* A random valid passcode from OpenSSL's RAND_bytes, rejection-sampled (uniform over the
 * valid set). WRIT_E_CRYPTO when the RNG fails. */
WRIT_MUST_CHECK int matter_passcode_generate(uint32_t *ret_passcode);

/* A random discriminator, uniform in [lo, hi] (lo <= hi <= 0xFFF; use 0, 0xFFF for any). */
WRIT_MUST_CHECK int matter_discriminator_generate(uint16_t lo, uint16_t hi, uint16_t *ret_discriminator);

#endif
