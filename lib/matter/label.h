/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A device label: the onboarding QR code (libqrencode, from the "MT:" string), the manual
 * pairing code grouped for reading (3497-011-2332) and the serial number, as a PNG
 * (libpng; text drawn with our own 5x7 bitmap font) or as an SVG (text as <text>).
 */
#ifndef WRIT_MATTER_LABEL_H
#define WRIT_MATTER_LABEL_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* 1 if every character of s can be drawn by the PNG label font (0-9, A-Z, and
 * - : . / _ + # and space). */
int matter_label_font_covers(const char *s);

/* The PNG label in *ret_buf (malloc'd, the caller frees). qr must parse as a Matter QR
 * string, manual must be an 11- or 21-digit code with a valid check digit, serial must
 * be a valid serial the font can draw. WRIT_E_INVAL otherwise, WRIT_E_NOMEM/IO when
 * libqrencode or libpng fail. */
WRIT_MUST_CHECK int matter_label_png(const char *qr, const char *manual, const char *serial, uint8_t **ret_buf,
				     size_t *ret_len);

/* The same label as SVG text in *ret_svg (malloc'd, NUL-terminated, the caller frees).
 * Any valid serial is accepted (it is XML-escaped). */
WRIT_MUST_CHECK int matter_label_svg(const char *qr, const char *manual, const char *serial, char **ret_svg,
				     size_t *ret_len);

#endif
