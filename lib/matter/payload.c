/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Matter onboarding payload: base38, the QR bit string, the manual pairing code with
 * its Verhoeff check digit, passcode rules and random generation. Written from the
 * Matter specification's field tables and checked against the SDK's published vectors
 * (tests/vectors/matter-sdk-payload-vectors.txt); no SDK code is used.
 */
#include <string.h>

#include <openssl/rand.h>

#include "base/ct.h"
#include "matter/payload.h"

static const char b38_alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-.";

/* Characters produced per 1, 2 or 3 input bytes. */
static const uint8_t b38_chars_for[4] = { 0, 2, 4, 5 };

int matter_passcode_valid(uint32_t passcode)
{
	if (passcode == 0 || passcode > MATTER_PASSCODE_MAX)
		return 0;
	if (passcode == 12345678u || passcode == 87654321u)
		return 0;
	if (passcode % 11111111u == 0) /* 11111111 .. 88888888 (99999999 is out of range) */
		return 0;
	return 1;
}

int matter_payload_check(const struct matter_payload *p)
{
	if (!p || !matter_passcode_valid(p->passcode) || p->discriminator > MATTER_DISCRIMINATOR_MAX ||
	    p->flow > MATTER_FLOW_MAX || (p->caps & ~MATTER_CAPS_MASK) != 0)
		return WRIT_E_INVAL;
	return 0;
}

int matter_base38_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
	size_t pos = 0, i = 0;

	if (!out || (!in && len))
		return WRIT_E_INVAL;
	/* 5 characters per full 3 bytes, 2 or 4 for a 1- or 2-byte tail. */
	if (len > (cap - 1) / 5 * 3 + 3 || cap == 0)
		return WRIT_E_TOOBIG;
	while (i < len) {
		size_t chunk = len - i < 3 ? len - i : 3, k;
		uint32_t v = 0;

		for (k = 0; k < chunk; k++)
			v |= (uint32_t)in[i + k] << (8 * k);
		if (pos + b38_chars_for[chunk] >= cap)
			return WRIT_E_TOOBIG;
		for (k = 0; k < b38_chars_for[chunk]; k++) {
			out[pos++] = b38_alphabet[v % 38];
			v /= 38;
		}
		i += chunk;
	}
	out[pos] = '\0';
	return (int)pos;
}

static int b38_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	if (c == '-')
		return 36;
	if (c == '.')
		return 37;
	return -1;
}

int matter_base38_decode(const char *s, size_t slen, uint8_t *out, size_t cap)
{
	size_t i = 0, pos = 0;

	if ((!s && slen) || (!out && cap))
		return WRIT_E_INVAL;
	if (slen > 4096)
		return WRIT_E_TOOBIG;
	while (i < slen) {
		size_t nchars = slen - i < 5 ? slen - i : 5, nbytes, k;
		uint64_t v = 0, mul = 1;

		if (nchars == 5)
			nbytes = 3;
		else if (nchars == 4)
			nbytes = 2;
		else if (nchars == 2)
			nbytes = 1;
		else
			return WRIT_E_FORMAT;
		for (k = 0; k < nchars; k++) {
			int d = b38_value(s[i + k]);

			if (d < 0)
				return WRIT_E_FORMAT;
			v += (uint64_t)d * mul;
			mul *= 38;
		}
		if (v >> (8 * nbytes))
			return WRIT_E_FORMAT;
		if (pos + nbytes > cap)
			return WRIT_E_TOOBIG;
		for (k = 0; k < nbytes; k++)
			out[pos++] = (uint8_t)(v >> (8 * k));
		i += nchars;
	}
	return (int)pos;
}

/* The 88-bit payload, least significant bit first: each field is appended above the
 * previous one, and byte 0 holds the lowest 8 bits. */
struct bitbuf {
	uint8_t b[11];
	unsigned pos;
};

static void put_bits(struct bitbuf *bb, uint32_t v, unsigned n)
{
	unsigned k;

	for (k = 0; k < n; k++, bb->pos++)
		if (v & (1u << k))
			bb->b[bb->pos / 8] |= (uint8_t)(1u << (bb->pos % 8));
}

static uint32_t get_bits(const uint8_t *b, unsigned *pos, unsigned n)
{
	uint32_t v = 0;
	unsigned k;

	for (k = 0; k < n; k++, (*pos)++)
		if (b[*pos / 8] & (1u << (*pos % 8)))
			v |= 1u << k;
	return v;
}

int matter_qr_encode(const struct matter_payload *p, char ret_qr[MATTER_QR_BUFSZ])
{
	struct bitbuf bb;
	char tmp[MATTER_QR_BUFSZ];
	int n;

	if (matter_payload_check(p) < 0 || !ret_qr)
		return WRIT_E_INVAL;
	memset(&bb, 0, sizeof(bb));
	put_bits(&bb, 0, 3); /* version */
	put_bits(&bb, p->vid, 16);
	put_bits(&bb, p->pid, 16);
	put_bits(&bb, p->flow, 2);
	put_bits(&bb, p->caps, 8);
	put_bits(&bb, p->discriminator, 12);
	put_bits(&bb, p->passcode, 27);
	put_bits(&bb, 0, 4); /* padding */
	n = matter_base38_encode(bb.b, sizeof(bb.b), tmp, sizeof(tmp));
	writ_memzero(&bb, sizeof(bb));
	if (n < 0)
		return n;
	memcpy(ret_qr, "MT:", 3);
	memcpy(ret_qr + 3, tmp, (size_t)n + 1);
	writ_memzero(tmp, sizeof(tmp));
	return 0;
}

int matter_qr_decode(const char *qr, struct matter_payload *ret)
{
	uint8_t b[11];
	struct matter_payload p;
	unsigned pos = 0;
	size_t len;
	int n, err = WRIT_E_FORMAT;

	if (!qr || !ret)
		return WRIT_E_INVAL;
	len = strnlen(qr, 64);
	/* Only the fixed 19-character form: optional TLV data is not supported here. */
	if (len != 22 || memcmp(qr, "MT:", 3) != 0)
		return WRIT_E_FORMAT;
	n = matter_base38_decode(qr + 3, 19, b, sizeof(b));
	if (n != 11)
		goto out;
	err = WRIT_E_INVAL;
	if (get_bits(b, &pos, 3) != 0)
		goto out;
	p.vid = (uint16_t)get_bits(b, &pos, 16);
	p.pid = (uint16_t)get_bits(b, &pos, 16);
	p.flow = (uint8_t)get_bits(b, &pos, 2);
	p.caps = (uint8_t)get_bits(b, &pos, 8);
	p.discriminator = (uint16_t)get_bits(b, &pos, 12);
	p.passcode = get_bits(b, &pos, 27);
	if (get_bits(b, &pos, 4) != 0 || matter_payload_check(&p) < 0)
		goto out;
	*ret = p;
	err = 0;
out:
	writ_memzero(b, sizeof(b));
	writ_memzero(&p, sizeof(p));
	return err;
}

/* Verhoeff tables: multiplication in the dihedral group D5, the position permutation,
 * and the inverse. */
static const uint8_t vh_d[10][10] = {
	{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, { 1, 2, 3, 4, 0, 6, 7, 8, 9, 5 }, { 2, 3, 4, 0, 1, 7, 8, 9, 5, 6 },
	{ 3, 4, 0, 1, 2, 8, 9, 5, 6, 7 }, { 4, 0, 1, 2, 3, 9, 5, 6, 7, 8 }, { 5, 9, 8, 7, 6, 0, 4, 3, 2, 1 },
	{ 6, 5, 9, 8, 7, 1, 0, 4, 3, 2 }, { 7, 6, 5, 9, 8, 2, 1, 0, 4, 3 }, { 8, 7, 6, 5, 9, 3, 2, 1, 0, 4 },
	{ 9, 8, 7, 6, 5, 4, 3, 2, 1, 0 },
};
static const uint8_t vh_p[8][10] = {
	{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, { 1, 5, 7, 6, 2, 8, 3, 0, 9, 4 }, { 5, 8, 0, 3, 7, 9, 6, 1, 4, 2 },
	{ 8, 9, 1, 6, 0, 4, 3, 5, 2, 7 }, { 9, 4, 5, 3, 1, 2, 6, 8, 7, 0 }, { 4, 2, 8, 6, 5, 7, 3, 9, 0, 1 },
	{ 2, 7, 9, 3, 8, 0, 6, 4, 1, 5 }, { 7, 0, 4, 6, 9, 1, 3, 2, 5, 8 },
};
static const uint8_t vh_inv[10] = { 0, 4, 3, 2, 1, 5, 6, 7, 8, 9 };

int matter_verhoeff_digit(const char *digits, size_t n)
{
	unsigned c = 0;
	size_t i;

	/* Walk right to left; the check digit will take position 0, so data starts at 1. */
	for (i = 0; i < n; i++) {
		char ch = digits[n - 1 - i];

		if (ch < '0' || ch > '9')
			return -1;
		c = vh_d[c][vh_p[(i + 1) % 8][ch - '0']];
	}
	return '0' + vh_inv[c];
}

int matter_manual_check(const char *code)
{
	size_t n;
	int d;

	if (!code)
		return 0;
	n = strnlen(code, MATTER_MANUAL_BUFSZ);
	if (n != 11 && n != 21)
		return 0;
	d = matter_verhoeff_digit(code, n - 1);
	return d >= 0 && d == code[n - 1];
}

static void put_dec(char *out, uint32_t v, unsigned width)
{
	while (width--) {
		out[width] = (char)('0' + v % 10);
		v /= 10;
	}
}

int matter_manual_encode(const struct matter_payload *p, char ret_code[MATTER_MANUAL_BUFSZ])
{
	char code[MATTER_MANUAL_BUFSZ];
	unsigned vid_pid_present, short_disc;
	size_t n;
	int check;

	if (matter_payload_check(p) < 0 || !ret_code)
		return WRIT_E_INVAL;
	vid_pid_present = p->flow != 0;
	short_disc = p->discriminator >> 8; /* the upper 4 of the 12 bits */
	/* digit 1: vid_pid_present (bit 2), short discriminator bits 3..2 */
	put_dec(code, (vid_pid_present << 2) | (short_disc >> 2), 1);
	/* digits 2-6: short discriminator bits 1..0 above the passcode's low 14 bits */
	put_dec(code + 1, ((short_disc & 3u) << 14) | (p->passcode & 0x3FFFu), 5);
	/* digits 7-10: the passcode's upper 13 bits */
	put_dec(code + 6, p->passcode >> 14, 4);
	n = 10;
	if (vid_pid_present) {
		put_dec(code + 10, p->vid, 5);
		put_dec(code + 15, p->pid, 5);
		n = 20;
	}
	check = matter_verhoeff_digit(code, n);
	code[n] = (char)check;
	code[n + 1] = '\0';
	memcpy(ret_code, code, n + 2);
	writ_memzero(code, sizeof(code));
	return 0;
}

int matter_manual_format(const char *code, char ret_fmt[MATTER_MANUAL_FMT_BUFSZ])
{
	static const uint8_t groups11[] = { 4, 3, 4 }, groups21[] = { 4, 3, 4, 5, 5 };
	const uint8_t *g;
	size_t n, ng, i, k, in = 0, out = 0;

	if (!code || !ret_fmt)
		return WRIT_E_INVAL;
	n = strnlen(code, MATTER_MANUAL_BUFSZ);
	if (n == 11) {
		g = groups11;
		ng = sizeof(groups11);
	} else if (n == 21) {
		g = groups21;
		ng = sizeof(groups21);
	} else {
		return WRIT_E_INVAL;
	}
	for (i = 0; i < n; i++)
		if (code[i] < '0' || code[i] > '9')
			return WRIT_E_INVAL;
	for (i = 0; i < ng; i++) {
		if (i)
			ret_fmt[out++] = '-';
		for (k = 0; k < g[i]; k++)
			ret_fmt[out++] = code[in++];
	}
	ret_fmt[out] = '\0';
	return 0;
}

int matter_passcode_generate(uint32_t *ret_passcode)
{
	unsigned tries;

	if (!ret_passcode)
		return WRIT_E_INVAL;
	/* 27-bit candidates; about 75% fall in range, so 200 tries all failing means the
	 * RNG is broken, not unlucky. */
	for (tries = 0; tries < 200; tries++) {
		uint8_t r[4];
		uint32_t v;

		if (RAND_bytes(r, sizeof(r)) != 1)
			return WRIT_E_CRYPTO;
		v = ((uint32_t)r[0] | (uint32_t)r[1] << 8 | (uint32_t)r[2] << 16 | (uint32_t)r[3] << 24) & 0x07FFFFFFu;
		writ_memzero(r, sizeof(r));
		if (matter_passcode_valid(v)) {
			*ret_passcode = v;
			v = 0;
			return 0;
		}
	}
	return WRIT_E_CRYPTO;
}

int matter_discriminator_generate(uint16_t lo, uint16_t hi, uint16_t *ret_discriminator)
{
	uint32_t span, mask = 0;
	unsigned tries;

	if (!ret_discriminator || lo > hi || hi > MATTER_DISCRIMINATOR_MAX)
		return WRIT_E_INVAL;
	span = (uint32_t)hi - lo; /* 0..4095 */
	while (mask < span)
		mask = (mask << 1) | 1;
	for (tries = 0; tries < 200; tries++) {
		uint8_t r[2];
		uint32_t v;

		if (RAND_bytes(r, sizeof(r)) != 1)
			return WRIT_E_CRYPTO;
		v = ((uint32_t)r[0] | (uint32_t)r[1] << 8) & mask;
		if (v <= span) {
			*ret_discriminator = (uint16_t)(lo + v);
			return 0;
		}
	}
	return WRIT_E_CRYPTO;
}
