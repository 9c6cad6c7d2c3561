/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The chip's own strict parser of writ factory data (WFD1, docs/device-protocol.md):
 * written from the document alone, independently of the host's encoder in lib/matter.
 * It checks the frame (magic, length, CRC-32 over everything before it), the TLV walk
 * (ascending, unique, known types, exact lengths) and every value (UTF-8, date, ranges),
 * and reports where the DAC and PAI are so the caller can compare them to the chain.
 */
#include "wdev.h"

#include "base/wdp.h"

enum {
	WFD_VENDOR_ID = 0x01,
	WFD_PRODUCT_ID = 0x02,
	WFD_VENDOR_NAME = 0x03,
	WFD_PRODUCT_NAME = 0x04,
	WFD_SERIAL_NUM = 0x05,
	WFD_MFG_DATE = 0x06,
	WFD_HW_VER = 0x07,
	WFD_HW_VER_STR = 0x08,
	WFD_DISCRIMINATOR = 0x09,
	WFD_SPAKE2P_IT = 0x0A,
	WFD_SPAKE2P_SALT = 0x0B,
	WFD_SPAKE2P_VERIFIER = 0x0C,
	WFD_RD_ID_UID = 0x0D,
	WFD_DAC_CERT = 0x0E,
	WFD_PAI_CERT = 0x0F,
	WFD_CERT_DCLRN = 0x10
};

/* One entry per type, ascending, index = type - 1. */
static const struct wdp_tlv_spec wfd_spec[] = {
	{ WFD_VENDOR_ID, 2, 2, 1 },         { WFD_PRODUCT_ID, 2, 2, 1 },
	{ WFD_VENDOR_NAME, 0, 32, 0 },      { WFD_PRODUCT_NAME, 0, 32, 0 },
	{ WFD_SERIAL_NUM, 1, 32, 1 },       { WFD_MFG_DATE, 10, 10, 1 },
	{ WFD_HW_VER, 2, 2, 1 },            { WFD_HW_VER_STR, 0, 64, 0 },
	{ WFD_DISCRIMINATOR, 2, 2, 1 },     { WFD_SPAKE2P_IT, 4, 4, 1 },
	{ WFD_SPAKE2P_SALT, 16, 32, 1 },    { WFD_SPAKE2P_VERIFIER, 97, 97, 1 },
	{ WFD_RD_ID_UID, 16, 32, 1 },       { WFD_DAC_CERT, 1, WDP_CERT_MAX, 1 },
	{ WFD_PAI_CERT, 1, WDP_CERT_MAX, 1 }, { WFD_CERT_DCLRN, 1, 800, 0 },
};
#define WFD_NSPEC (sizeof(wfd_spec) / sizeof(wfd_spec[0]))
#define WFD_HDR 6u
#define WFD_CRC 4u

/* Well-formed UTF-8: shortest form, no surrogates, nothing above U+10FFFF, no NUL. */
static int utf8_ok(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = p[i];
		size_t k;
		uint32_t cp, min;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			k = 1;
			cp = c & 0x1Fu;
			min = 0x80;
		} else if (c >= 0xE0 && c <= 0xEF) {
			k = 2;
			cp = c & 0x0Fu;
			min = 0x800;
		} else if (c >= 0xF0 && c <= 0xF4) {
			k = 3;
			cp = c & 0x07u;
			min = 0x10000;
		} else {
			return 0;
		}
		if (n - i - 1 < k)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xC0u) != 0x80u)
				return 0;
			cp = cp << 6 | (p[i + j] & 0x3Fu);
		}
		if (cp < min || cp > 0x10FFFFu || (cp >= 0xD800u && cp <= 0xDFFFu))
			return 0;
		i += k + 1;
	}
	return 1;
}

static int digits(const uint8_t *p, size_t n, unsigned *ret)
{
	unsigned v = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		v = v * 10u + (unsigned)(p[i] - '0');
	}
	*ret = v;
	return 1;
}

/* "YYYY-MM-DD", a real calendar date (Gregorian leap years), year 1970 or later. */
static int date_ok(const uint8_t *p)
{
	static const uint8_t mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned y, m, d;

	if (p[4] != '-' || p[7] != '-' || !digits(p, 4, &y) || !digits(p + 5, 2, &m) ||
	    !digits(p + 8, 2, &d))
		return 0;
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return 0;
	if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return 0;
	return 1;
}

int wdev_wfd_check(const uint8_t *blob, size_t n, const uint8_t **ret_dac, size_t *ret_dac_len,
		   const uint8_t **ret_pai, size_t *ret_pai_len)
{
	struct wdp_tlv t[WFD_NSPEC];
	size_t body;
	uint32_t v32;

	if (!blob || n < WFD_HDR + WFD_CRC || n > WDP_FACTORY_DATA_MAX)
		return WDEV_E_MALFORMED;
	if (blob[0] != 'W' || blob[1] != 'F' || blob[2] != 'D' || blob[3] != '1')
		return WDEV_E_MALFORMED;
	body = wdp_get_u16(blob + 4);
	if (body != n - WFD_HDR - WFD_CRC)
		return WDEV_E_MALFORMED;
	if (wdp_get_u32(blob + WFD_HDR + body) != wdp_crc32(0, blob, WFD_HDR + body))
		return WDEV_E_MALFORMED;
	if (wdp_tlv_parse(blob + WFD_HDR, body, wfd_spec, WFD_NSPEC, t) != 0)
		return WDEV_E_MALFORMED;
	/* strings */
	if ((t[WFD_VENDOR_NAME - 1].value && !utf8_ok(t[WFD_VENDOR_NAME - 1].value, t[WFD_VENDOR_NAME - 1].len)) ||
	    (t[WFD_PRODUCT_NAME - 1].value && !utf8_ok(t[WFD_PRODUCT_NAME - 1].value, t[WFD_PRODUCT_NAME - 1].len)) ||
	    !utf8_ok(t[WFD_SERIAL_NUM - 1].value, t[WFD_SERIAL_NUM - 1].len) ||
	    (t[WFD_HW_VER_STR - 1].value && !utf8_ok(t[WFD_HW_VER_STR - 1].value, t[WFD_HW_VER_STR - 1].len)))
		return WDEV_E_MALFORMED;
	if (!date_ok(t[WFD_MFG_DATE - 1].value))
		return WDEV_E_MALFORMED;
	if (wdp_get_u16(t[WFD_DISCRIMINATOR - 1].value) > 0x0FFFu)
		return WDEV_E_MALFORMED;
	v32 = wdp_get_u32(t[WFD_SPAKE2P_IT - 1].value);
	if (v32 < 1000u || v32 > 100000u)
		return WDEV_E_MALFORMED;
	/* An uncompressed P-256 point L follows the 32-byte w0 in a Matter verifier. */
	if (t[WFD_SPAKE2P_VERIFIER - 1].value[32] != 0x04)
		return WDEV_E_MALFORMED;
	if (ret_dac) {
		*ret_dac = t[WFD_DAC_CERT - 1].value;
		*ret_dac_len = t[WFD_DAC_CERT - 1].len;
	}
	if (ret_pai) {
		*ret_pai = t[WFD_PAI_CERT - 1].value;
		*ret_pai_len = t[WFD_PAI_CERT - 1].len;
	}
	return 0;
}

int wdev_wfd_product(const uint8_t *blob, size_t n, uint16_t *ret_vid, uint16_t *ret_pid)
{
	struct wdp_tlv t[WFD_NSPEC];

	if (!ret_vid || !ret_pid || wdev_wfd_check(blob, n, NULL, NULL, NULL, NULL) != 0)
		return WDEV_E_MALFORMED;
	if (wdp_tlv_parse(blob + WFD_HDR, wdp_get_u16(blob + 4), wfd_spec, WFD_NSPEC, t) != 0)
		return WDEV_E_MALFORMED;
	*ret_vid = wdp_get_u16(t[WFD_VENDOR_ID - 1].value);
	*ret_pid = wdp_get_u16(t[WFD_PRODUCT_ID - 1].value);
	return 0;
}
