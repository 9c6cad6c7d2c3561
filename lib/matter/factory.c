/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Matter factory data: field validation, writ's WFD1 blob (encoder and the host's
 * strict parser, per docs/device-protocol.md "Writ factory data"), and the key=value
 * settings file `writ matter factory-data` reads. The vendor encodings live in
 * esp_nvs.c and nrf_cbor.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>
#include <zlib.h>

#include "base/ct.h"
#include "matter/factory.h"
#include "matter/payload.h"

static void set_reason(char *reason, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_reason(char *reason, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (!reason || cap == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(reason, cap, fmt, ap); /* truncation of a message is harmless */
	va_end(ap);
}

void matter_fd_clear(struct matter_factory_data *fd)
{
	if (fd)
		writ_memzero(fd, sizeof(*fd));
}

int matter_date_valid(const char *s, size_t len)
{
	static const uint8_t mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned y = 0, m, d, i;

	if (!s || len != MATTER_DATE_LEN || s[4] != '-' || s[7] != '-')
		return 0;
	for (i = 0; i < MATTER_DATE_LEN; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return 0;
	for (i = 0; i < 4; i++)
		y = y * 10 + (unsigned)(s[i] - '0');
	m = (unsigned)(s[5] - '0') * 10 + (unsigned)(s[6] - '0');
	d = (unsigned)(s[8] - '0') * 10 + (unsigned)(s[9] - '0');
	if (y < 2000 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return 0;
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 0;
	return 1;
}

int matter_serial_valid(const char *s, size_t len)
{
	size_t i;

	if (!s || len < 1 || len > MATTER_SERIAL_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7E)
			return 0;
	return 1;
}

int matter_utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;

	if (!s && len)
		return 0;
	while (i < len) {
		uint8_t c = s[i];
		uint32_t cp;
		size_t n, k;

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7F)
				return 0;
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			n = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (len - i <= n)
			return 0;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		/* overlong forms, surrogates, beyond U+10FFFF, C1 controls */
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		    (cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0x80 && cp < 0xA0))
			return 0;
		i += n + 1;
	}
	return 1;
}

static int str_ok(const char *s, size_t arrsz, size_t min, size_t max)
{
	size_t n = strnlen(s, arrsz);

	return n < arrsz && n >= min && n <= max && matter_utf8_valid((const uint8_t *)s, n);
}

int matter_fd_validate(const struct matter_factory_data *fd, char *reason, size_t cap)
{
	if (!fd) {
		set_reason(reason, cap, "no factory data");
		return WRIT_E_INVAL;
	}
	if (!str_ok(fd->vendor_name, sizeof(fd->vendor_name), 0, MATTER_NAME_MAX)) {
		set_reason(reason, cap, "vendor name: at most %d bytes of UTF-8 without control characters",
			   MATTER_NAME_MAX);
		return WRIT_E_INVAL;
	}
	if (!str_ok(fd->product_name, sizeof(fd->product_name), 0, MATTER_NAME_MAX)) {
		set_reason(reason, cap, "product name: at most %d bytes of UTF-8 without control characters",
			   MATTER_NAME_MAX);
		return WRIT_E_INVAL;
	}
	if (strnlen(fd->serial, sizeof(fd->serial)) >= sizeof(fd->serial) ||
	    !matter_serial_valid(fd->serial, strlen(fd->serial))) {
		set_reason(reason, cap, "serial number: 1..%d printable ASCII characters, no spaces",
			   MATTER_SERIAL_MAX);
		return WRIT_E_INVAL;
	}
	if (strnlen(fd->mfg_date, sizeof(fd->mfg_date)) != MATTER_DATE_LEN ||
	    !matter_date_valid(fd->mfg_date, MATTER_DATE_LEN)) {
		set_reason(reason, cap, "manufacturing date: a real date as YYYY-MM-DD (year >= 2000)");
		return WRIT_E_INVAL;
	}
	if (!str_ok(fd->hw_ver_str, sizeof(fd->hw_ver_str), 0, MATTER_HW_VER_STR_MAX)) {
		set_reason(reason, cap, "hardware version string: at most %d bytes of UTF-8", MATTER_HW_VER_STR_MAX);
		return WRIT_E_INVAL;
	}
	if (fd->discriminator > MATTER_DISCRIMINATOR_MAX) {
		set_reason(reason, cap, "discriminator %u is above 4095", fd->discriminator);
		return WRIT_E_INVAL;
	}
	if (fd->spake2p_it < MATTER_SPAKE2P_IT_MIN || fd->spake2p_it > MATTER_SPAKE2P_IT_MAX) {
		set_reason(reason, cap, "SPAKE2+ iterations %u outside 1000..100000", fd->spake2p_it);
		return WRIT_E_INVAL;
	}
	if (fd->salt_len < MATTER_SPAKE2P_SALT_MIN || fd->salt_len > MATTER_SPAKE2P_SALT_MAX) {
		set_reason(reason, cap, "SPAKE2+ salt must be 16..32 bytes");
		return WRIT_E_INVAL;
	}
	if (matter_spake2p_verifier_check(fd->verifier) < 0) {
		set_reason(reason, cap, "SPAKE2+ verifier is not w0 || L on P-256");
		return WRIT_E_INVAL;
	}
	if (fd->rd_uid_len < MATTER_RD_UID_MIN || fd->rd_uid_len > MATTER_RD_UID_MAX) {
		set_reason(reason, cap, "rotating device id unique id must be 16..32 bytes");
		return WRIT_E_INVAL;
	}
	if (fd->dac_len < 1 || fd->dac_len > MATTER_CERT_MAX || fd->pai_len < 1 || fd->pai_len > MATTER_CERT_MAX) {
		set_reason(reason, cap, "DAC and PAI must be 1..%d bytes of DER", MATTER_CERT_MAX);
		return WRIT_E_INVAL;
	}
	if (fd->cd_len > MATTER_CD_MAX) {
		set_reason(reason, cap, "certification declaration above %d bytes", MATTER_CD_MAX);
		return WRIT_E_INVAL;
	}
	if (fd->include_passcode && !matter_passcode_valid(fd->passcode)) {
		set_reason(reason, cap, "passcode is not a valid Matter passcode");
		return WRIT_E_INVAL;
	}
	return 0;
}

int matter_rd_uid_generate(uint8_t *ret_uid, size_t len)
{
	if (!ret_uid || len < MATTER_RD_UID_MIN || len > MATTER_RD_UID_MAX)
		return WRIT_E_INVAL;
	if (RAND_bytes(ret_uid, (int)len) != 1)
		return WRIT_E_CRYPTO;
	return 0;
}

/* ---- WFD1 ---- */

enum {
	WFD_VENDOR_ID = 0x01,
	WFD_PRODUCT_ID,
	WFD_VENDOR_NAME,
	WFD_PRODUCT_NAME,
	WFD_SERIAL_NUM,
	WFD_MFG_DATE,
	WFD_HW_VER,
	WFD_HW_VER_STR,
	WFD_DISCRIMINATOR,
	WFD_SPAKE2P_IT,
	WFD_SPAKE2P_SALT,
	WFD_SPAKE2P_VERIFIER,
	WFD_RD_ID_UID,
	WFD_DAC_CERT,
	WFD_PAI_CERT,
	WFD_CERT_DCLRN, /* 0x10 */
	WFD_TYPE_LAST = WFD_CERT_DCLRN,
};

#define WFD_HDR 6 /* "WFD1" + u16 length */
#define WFD_CRC 4

struct wbuf {
	uint8_t *p;
	size_t cap, len;
	int overflow;
};

static void wb_put(struct wbuf *w, const void *data, size_t n)
{
	if (w->overflow || n > w->cap - w->len) {
		w->overflow = 1;
		return;
	}
	if (n)
		memcpy(w->p + w->len, data, n);
	w->len += n;
}

static void wb_u16(struct wbuf *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	wb_put(w, b, 2);
}

static void wb_u32(struct wbuf *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	wb_put(w, b, 4);
}

static void wfd_tlv(struct wbuf *w, uint16_t type, const void *v, size_t n)
{
	wb_u16(w, type);
	wb_u16(w, (uint16_t)n);
	wb_put(w, v, n);
}

static void wfd_tlv_u16(struct wbuf *w, uint16_t type, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	wfd_tlv(w, type, b, 2);
}

int matter_wfd_encode(const struct matter_factory_data *fd, uint8_t *out, size_t cap)
{
	struct wbuf w = { out, cap, 0, 0 };
	uint8_t it[4];
	uint32_t crc;
	size_t n;

	if (matter_fd_validate(fd, NULL, 0) < 0 || !out)
		return WRIT_E_INVAL;
	wb_put(&w, "WFD1", 4);
	wb_u16(&w, 0); /* patched below */
	wfd_tlv_u16(&w, WFD_VENDOR_ID, fd->vid);
	wfd_tlv_u16(&w, WFD_PRODUCT_ID, fd->pid);
	if ((n = strlen(fd->vendor_name)) > 0)
		wfd_tlv(&w, WFD_VENDOR_NAME, fd->vendor_name, n);
	if ((n = strlen(fd->product_name)) > 0)
		wfd_tlv(&w, WFD_PRODUCT_NAME, fd->product_name, n);
	wfd_tlv(&w, WFD_SERIAL_NUM, fd->serial, strlen(fd->serial));
	wfd_tlv(&w, WFD_MFG_DATE, fd->mfg_date, MATTER_DATE_LEN);
	wfd_tlv_u16(&w, WFD_HW_VER, fd->hw_ver);
	if ((n = strlen(fd->hw_ver_str)) > 0)
		wfd_tlv(&w, WFD_HW_VER_STR, fd->hw_ver_str, n);
	wfd_tlv_u16(&w, WFD_DISCRIMINATOR, fd->discriminator);
	it[0] = (uint8_t)(fd->spake2p_it >> 24);
	it[1] = (uint8_t)(fd->spake2p_it >> 16);
	it[2] = (uint8_t)(fd->spake2p_it >> 8);
	it[3] = (uint8_t)fd->spake2p_it;
	wfd_tlv(&w, WFD_SPAKE2P_IT, it, 4);
	wfd_tlv(&w, WFD_SPAKE2P_SALT, fd->salt, fd->salt_len);
	wfd_tlv(&w, WFD_SPAKE2P_VERIFIER, fd->verifier, MATTER_SPAKE2P_VERIFIER_LEN);
	wfd_tlv(&w, WFD_RD_ID_UID, fd->rd_uid, fd->rd_uid_len);
	wfd_tlv(&w, WFD_DAC_CERT, fd->dac, fd->dac_len);
	wfd_tlv(&w, WFD_PAI_CERT, fd->pai, fd->pai_len);
	if (fd->cd_len)
		wfd_tlv(&w, WFD_CERT_DCLRN, fd->cd, fd->cd_len);
	if (w.overflow)
		return WRIT_E_TOOBIG;
	n = w.len - WFD_HDR;
	out[4] = (uint8_t)(n >> 8);
	out[5] = (uint8_t)n;
	crc = (uint32_t)crc32(0L, out, (uInt)w.len);
	wb_u32(&w, crc);
	if (w.overflow)
		return WRIT_E_TOOBIG;
	return (int)w.len;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Copy a string TLV into a NUL-terminated field after checking its length. */
static int wfd_str(char *dst, size_t dstsz, const uint8_t *v, uint16_t n, size_t min, size_t max)
{
	if (n < min || n > max || n >= dstsz)
		return WRIT_E_FORMAT;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

static int wfd_bin(uint8_t *dst, size_t *ret_len, const uint8_t *v, uint16_t n, size_t min, size_t max)
{
	if (n < min || n > max)
		return WRIT_E_FORMAT;
	memcpy(dst, v, n);
	*ret_len = n;
	return 0;
}

int matter_wfd_parse(const uint8_t *buf, size_t len, struct matter_factory_data *ret)
{
	struct matter_factory_data *fd = NULL, tmp;
	const uint32_t required = 1u << WFD_VENDOR_ID | 1u << WFD_PRODUCT_ID | 1u << WFD_SERIAL_NUM |
				  1u << WFD_MFG_DATE | 1u << WFD_HW_VER | 1u << WFD_DISCRIMINATOR |
				  1u << WFD_SPAKE2P_IT | 1u << WFD_SPAKE2P_SALT | 1u << WFD_SPAKE2P_VERIFIER |
				  1u << WFD_RD_ID_UID | 1u << WFD_DAC_CERT | 1u << WFD_PAI_CERT;
	uint32_t seen = 0;
	size_t tlv_len, off;
	unsigned last = 0;
	int err = WRIT_E_FORMAT;

	if (!buf || !ret)
		return WRIT_E_INVAL;
	if (len > MATTER_WFD_MAX)
		return WRIT_E_TOOBIG;
	if (len < WFD_HDR + WFD_CRC || memcmp(buf, "WFD1", 4) != 0)
		return WRIT_E_FORMAT;
	tlv_len = rd16(buf + 4);
	if (tlv_len != len - WFD_HDR - WFD_CRC)
		return WRIT_E_FORMAT;
	if ((uint32_t)crc32(0L, buf, (uInt)(len - WFD_CRC)) != rd32(buf + len - WFD_CRC))
		return WRIT_E_FORMAT;

	fd = &tmp;
	memset(fd, 0, sizeof(*fd));
	off = WFD_HDR;
	while (off < WFD_HDR + tlv_len) {
		const uint8_t *v;
		uint16_t type, n;

		if (WFD_HDR + tlv_len - off < 4)
			goto out;
		type = rd16(buf + off);
		n = rd16(buf + off + 2);
		off += 4;
		if (n > WFD_HDR + tlv_len - off)
			goto out;
		v = buf + off;
		off += n;
		if (type <= last || type > WFD_TYPE_LAST)
			goto out; /* out of order, repeated, or unknown */
		last = type;
		seen |= 1u << type;
		switch (type) {
		case WFD_VENDOR_ID:
		case WFD_PRODUCT_ID:
		case WFD_HW_VER:
		case WFD_DISCRIMINATOR:
			if (n != 2)
				goto out;
			if (type == WFD_VENDOR_ID)
				fd->vid = rd16(v);
			else if (type == WFD_PRODUCT_ID)
				fd->pid = rd16(v);
			else if (type == WFD_HW_VER)
				fd->hw_ver = rd16(v);
			else
				fd->discriminator = rd16(v);
			break;
		case WFD_VENDOR_NAME:
			if (wfd_str(fd->vendor_name, sizeof(fd->vendor_name), v, n, 1, MATTER_NAME_MAX) < 0)
				goto out;
			break;
		case WFD_PRODUCT_NAME:
			if (wfd_str(fd->product_name, sizeof(fd->product_name), v, n, 1, MATTER_NAME_MAX) < 0)
				goto out;
			break;
		case WFD_SERIAL_NUM:
			if (wfd_str(fd->serial, sizeof(fd->serial), v, n, 1, MATTER_SERIAL_MAX) < 0)
				goto out;
			break;
		case WFD_MFG_DATE:
			if (wfd_str(fd->mfg_date, sizeof(fd->mfg_date), v, n, MATTER_DATE_LEN, MATTER_DATE_LEN) < 0)
				goto out;
			break;
		case WFD_HW_VER_STR:
			if (wfd_str(fd->hw_ver_str, sizeof(fd->hw_ver_str), v, n, 1, MATTER_HW_VER_STR_MAX) < 0)
				goto out;
			break;
		case WFD_SPAKE2P_IT:
			if (n != 4)
				goto out;
			fd->spake2p_it = rd32(v);
			break;
		case WFD_SPAKE2P_SALT:
			if (wfd_bin(fd->salt, &fd->salt_len, v, n, MATTER_SPAKE2P_SALT_MIN, MATTER_SPAKE2P_SALT_MAX) < 0)
				goto out;
			break;
		case WFD_SPAKE2P_VERIFIER:
			if (n != MATTER_SPAKE2P_VERIFIER_LEN)
				goto out;
			memcpy(fd->verifier, v, n);
			break;
		case WFD_RD_ID_UID:
			if (wfd_bin(fd->rd_uid, &fd->rd_uid_len, v, n, MATTER_RD_UID_MIN, MATTER_RD_UID_MAX) < 0)
				goto out;
			break;
		case WFD_DAC_CERT:
			if (wfd_bin(fd->dac, &fd->dac_len, v, n, 1, MATTER_CERT_MAX) < 0)
				goto out;
			break;
		case WFD_PAI_CERT:
			if (wfd_bin(fd->pai, &fd->pai_len, v, n, 1, MATTER_CERT_MAX) < 0)
				goto out;
			break;
		case WFD_CERT_DCLRN:
			if (wfd_bin(fd->cd, &fd->cd_len, v, n, 1, MATTER_CD_MAX) < 0)
				goto out;
			break;
		default:
			goto out;
		}
	}
	if ((seen & required) != required)
		goto out;
	/* value rules (dates, ranges, UTF-8, verifier on the curve) */
	if (matter_fd_validate(fd, NULL, 0) < 0)
		goto out;
	*ret = *fd;
	err = 0;
out:
	writ_memzero(&tmp, sizeof(tmp));
	return err;
}

/* ---- settings ---- */

static int parse_uint(const char *s, size_t n, uint32_t max, uint32_t *ret)
{
	uint64_t v = 0;
	size_t i = 0;
	unsigned base = 10;

	if (n == 0 || n > 12)
		return -1;
	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	}
	for (; i < n; i++) {
		char c = s[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return -1;
		v = v * base + d;
		if (v > max)
			return -1;
	}
	*ret = (uint32_t)v;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int parse_hex(const char *s, size_t n, uint8_t *out, size_t min, size_t max, size_t *ret_len)
{
	size_t i;

	if (n % 2 || n / 2 < min || n / 2 > max)
		return -1;
	for (i = 0; i < n / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*ret_len = n / 2;
	return 0;
}

static int set_str(char *dst, size_t dstsz, const char *v, size_t n)
{
	if (n >= dstsz)
		return -1;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

enum setting_key {
	K_VENDOR_ID,
	K_PRODUCT_ID,
	K_VENDOR_NAME,
	K_PRODUCT_NAME,
	K_SERIAL_NUM,
	K_MFG_DATE,
	K_HW_VER,
	K_HW_VER_STR,
	K_DISCRIMINATOR,
	K_PASSCODE,
	K_ITERATIONS,
	K_SALT,
	K_VERIFIER,
	K_RD_UID,
	K_INCLUDE_PASSCODE,
	K_COUNT
};

static const char *const setting_names[K_COUNT] = {
	"vendor_id",     "product_id",	   "vendor_name",	 "product_name",     "serial_num",
	"mfg_date",	 "hw_ver",	   "hw_ver_str",	 "discriminator",    "passcode",
	"spake2p_iterations", "spake2p_salt", "spake2p_verifier", "rd_id_uid", "include_passcode",
};

/* Apply one "key = value". Returns 0 or -1 (reason set). */
static int apply_setting(struct matter_settings *s, unsigned k, const char *v, size_t n, unsigned line, char *reason,
			 size_t cap)
{
	struct matter_factory_data *fd = &s->fd;
	uint32_t u;
	size_t blen;
	int r;

	switch (k) {
	case K_VENDOR_ID:
	case K_PRODUCT_ID:
	case K_HW_VER:
		if (parse_uint(v, n, 0xFFFF, &u) < 0)
			goto bad_num;
		if (k == K_VENDOR_ID) {
			fd->vid = (uint16_t)u;
			s->have_vid = 1;
		} else if (k == K_PRODUCT_ID) {
			fd->pid = (uint16_t)u;
			s->have_pid = 1;
		} else {
			fd->hw_ver = (uint16_t)u;
			s->have_hw_ver = 1;
		}
		return 0;
	case K_DISCRIMINATOR:
		if (parse_uint(v, n, MATTER_DISCRIMINATOR_MAX, &u) < 0)
			goto bad_num;
		fd->discriminator = (uint16_t)u;
		s->have_discriminator = 1;
		return 0;
	case K_PASSCODE:
		if (parse_uint(v, n, MATTER_PASSCODE_MAX, &u) < 0 || !matter_passcode_valid(u)) {
			set_reason(reason, cap, "line %u: passcode is not a valid Matter passcode", line);
			return -1;
		}
		fd->passcode = u;
		s->have_passcode = 1;
		return 0;
	case K_ITERATIONS:
		if (parse_uint(v, n, MATTER_SPAKE2P_IT_MAX, &u) < 0 || u < MATTER_SPAKE2P_IT_MIN)
			goto bad_num;
		fd->spake2p_it = u;
		s->have_iterations = 1;
		return 0;
	case K_VENDOR_NAME:
	case K_PRODUCT_NAME:
	case K_HW_VER_STR:
		r = k == K_VENDOR_NAME	? set_str(fd->vendor_name, sizeof(fd->vendor_name), v, n)
		    : k == K_PRODUCT_NAME ? set_str(fd->product_name, sizeof(fd->product_name), v, n)
					  : set_str(fd->hw_ver_str, sizeof(fd->hw_ver_str), v, n);
		if (r < 0 || !matter_utf8_valid((const uint8_t *)v, n)) {
			set_reason(reason, cap, "line %u: %s is too long or not UTF-8", line, setting_names[k]);
			return -1;
		}
		return 0;
	case K_SERIAL_NUM:
		if (!matter_serial_valid(v, n) || set_str(fd->serial, sizeof(fd->serial), v, n) < 0) {
			set_reason(reason, cap, "line %u: serial_num must be 1..32 printable ASCII characters", line);
			return -1;
		}
		s->have_serial = 1;
		return 0;
	case K_MFG_DATE:
		if (!matter_date_valid(v, n) || set_str(fd->mfg_date, sizeof(fd->mfg_date), v, n) < 0) {
			set_reason(reason, cap, "line %u: mfg_date must be a real date YYYY-MM-DD", line);
			return -1;
		}
		s->have_date = 1;
		return 0;
	case K_SALT:
		r = matter_b64_decode(v, n, fd->salt, sizeof(fd->salt));
		if (r < MATTER_SPAKE2P_SALT_MIN) {
			set_reason(reason, cap, "line %u: spake2p_salt must be base64 of 16..32 bytes", line);
			return -1;
		}
		fd->salt_len = (size_t)r;
		s->have_salt = 1;
		return 0;
	case K_VERIFIER:
		r = matter_b64_decode(v, n, fd->verifier, sizeof(fd->verifier));
		if (r != MATTER_SPAKE2P_VERIFIER_LEN || matter_spake2p_verifier_check(fd->verifier) < 0) {
			set_reason(reason, cap, "line %u: spake2p_verifier must be base64 of a 97-byte verifier", line);
			return -1;
		}
		s->have_verifier = 1;
		return 0;
	case K_RD_UID:
		if (parse_hex(v, n, fd->rd_uid, MATTER_RD_UID_MIN, MATTER_RD_UID_MAX, &blen) < 0) {
			set_reason(reason, cap, "line %u: rd_id_uid must be hex of 16..32 bytes", line);
			return -1;
		}
		fd->rd_uid_len = blen;
		s->have_rd_uid = 1;
		return 0;
	case K_INCLUDE_PASSCODE:
		if (n == 3 && memcmp(v, "yes", 3) == 0)
			fd->include_passcode = 1;
		else if (n == 2 && memcmp(v, "no", 2) == 0)
			fd->include_passcode = 0;
		else {
			set_reason(reason, cap, "line %u: include_passcode is yes or no", line);
			return -1;
		}
		return 0;
	default:
		break;
	}
	return -1;
bad_num:
	set_reason(reason, cap, "line %u: %s: number out of range or malformed", line, setting_names[k]);
	return -1;
}

int matter_settings_parse(const char *text, size_t len, struct matter_settings *ret, char *reason, size_t cap)
{
	unsigned seen[K_COUNT] = { 0 };
	size_t off = 0;
	unsigned line = 0;

	if (!text || !ret)
		return WRIT_E_INVAL;
	memset(ret, 0, sizeof(*ret));
	if (len > MATTER_SETTINGS_MAX) {
		set_reason(reason, cap, "settings larger than %d bytes", MATTER_SETTINGS_MAX);
		return WRIT_E_TOOBIG;
	}
	while (off < len) {
		const char *l = text + off, *eq, *k, *v;
		size_t ll = 0, kn, vn, i;
		unsigned key;

		while (off + ll < len && l[ll] != '\n')
			ll++;
		off += ll + (off + ll < len);
		line++;
		for (i = 0; i < ll; i++)
			if (l[i] == '\0') {
				set_reason(reason, cap, "line %u: NUL byte", line);
				goto fail;
			}
		while (ll && is_space(*l)) {
			l++;
			ll--;
		}
		while (ll && is_space(l[ll - 1]))
			ll--;
		if (ll == 0 || l[0] == '#')
			continue;
		eq = memchr(l, '=', ll);
		if (!eq) {
			set_reason(reason, cap, "line %u: expected key = value", line);
			goto fail;
		}
		k = l;
		kn = (size_t)(eq - l);
		while (kn && is_space(k[kn - 1]))
			kn--;
		v = eq + 1;
		vn = ll - (size_t)(v - l);
		while (vn && is_space(*v)) {
			v++;
			vn--;
		}
		for (key = 0; key < K_COUNT; key++)
			if (strlen(setting_names[key]) == kn && memcmp(setting_names[key], k, kn) == 0)
				break;
		if (key == K_COUNT) {
			set_reason(reason, cap, "line %u: unknown key '%.*s'", line, (int)(kn > 32 ? 32 : kn), k);
			goto fail;
		}
		if (seen[key]++) {
			set_reason(reason, cap, "line %u: %s given twice", line, setting_names[key]);
			goto fail;
		}
		if (apply_setting(ret, key, v, vn, line, reason, cap) < 0)
			goto fail;
	}
	return 0;
fail:
	matter_fd_clear(&ret->fd);
	return WRIT_E_INVAL;
}

int matter_settings_finish(struct matter_settings *s, char *reason, size_t cap)
{
	struct matter_factory_data *fd;
	uint8_t v[MATTER_SPAKE2P_VERIFIER_LEN];
	int err;

	if (!s)
		return WRIT_E_INVAL;
	fd = &s->fd;
	if (!s->have_vid || !s->have_pid || !s->have_serial || !s->have_date || !s->have_hw_ver ||
	    !s->have_discriminator) {
		set_reason(reason, cap,
			   "vendor_id, product_id, serial_num, mfg_date, hw_ver and discriminator are required");
		return WRIT_E_INVAL;
	}
	if (!s->have_passcode && !s->have_verifier) {
		set_reason(reason, cap, "give passcode (and optionally spake2p_salt) or spake2p_verifier + spake2p_salt");
		return WRIT_E_INVAL;
	}
	if (fd->include_passcode && !s->have_passcode) {
		set_reason(reason, cap, "include_passcode = yes needs passcode");
		return WRIT_E_INVAL;
	}
	if (!s->have_iterations)
		fd->spake2p_it = 10000;
	if (!s->have_salt) {
		if (s->have_verifier) {
			set_reason(reason, cap, "spake2p_verifier needs the spake2p_salt it was made with");
			return WRIT_E_INVAL;
		}
		if (RAND_bytes(fd->salt, MATTER_SPAKE2P_SALT_MAX) != 1)
			return WRIT_E_CRYPTO;
		fd->salt_len = MATTER_SPAKE2P_SALT_MAX;
		s->have_salt = 1;
	}
	if (!s->have_rd_uid) {
		err = matter_rd_uid_generate(fd->rd_uid, MATTER_RD_UID_MIN);
		if (err < 0)
			return err;
		fd->rd_uid_len = MATTER_RD_UID_MIN;
		s->have_rd_uid = 1;
	}
	if (s->have_passcode) {
		err = matter_spake2p_verifier(fd->passcode, fd->salt, fd->salt_len, fd->spake2p_it, v);
		if (err < 0) {
			set_reason(reason, cap, "cannot compute the SPAKE2+ verifier");
			return err;
		}
		if (s->have_verifier && !writ_ct_memeq(v, fd->verifier, sizeof(v))) {
			writ_memzero(v, sizeof(v));
			set_reason(reason, cap, "spake2p_verifier does not match passcode, salt and iterations");
			return WRIT_E_INVAL;
		}
		memcpy(fd->verifier, v, sizeof(v));
		writ_memzero(v, sizeof(v));
		s->have_verifier = 1;
		if (!fd->include_passcode)
			fd->passcode = 0; /* not needed any more */
	}
	/* certificates come later from files; check the rest with placeholders */
	{
		struct matter_factory_data chk = *fd;

		if (!chk.dac_len)
			chk.dac_len = 1;
		if (!chk.pai_len)
			chk.pai_len = 1;
		err = matter_fd_validate(&chk, reason, cap);
		matter_fd_clear(&chk);
	}
	return err;
}
