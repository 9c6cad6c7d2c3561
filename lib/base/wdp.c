/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device protocol's frame and TLV codec: CRC-32, frame encode/decode, a resyncing
 * stream receiver, and a strict TLV parser driven by a per-message spec. Shared by the
 * chip (device/) and the station's driver (lib/chip/); see wdp.h and
 * docs/device-protocol.md.
 */
#include "base/wdp.h"

#include <string.h>

static const char *const status_names[WDP_S_MAX_ + 1] = {
	"OK",        "FRAME",    "INTEGRITY", "TOO_BIG", "UNKNOWN_COMMAND", "MALFORMED",
	"SEQUENCE",  "STATE",    "LOCKED",    "VERIFY",  "MISMATCH",        "RNG",
	"STORAGE",   "CRYPTO",   "OTP",       "DECRYPT", "ROLLBACK",
	"DENIED",    "EXPIRED",
};

const char *wdp_status_name(unsigned status)
{
	return status <= WDP_S_MAX_ ? status_names[status] : "UNKNOWN";
}

/* Bitwise CRC-32 with a 16-entry table: small enough for a boot ROM, fast enough for
 * 4 KiB frames. */
uint32_t wdp_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
	static const uint32_t t[16] = {
		0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u,
		0x4db26158u, 0x5005713cu, 0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu,
		0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu,
	};
	crc = ~crc;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		crc = (crc >> 4) ^ t[crc & 15u];
		crc = (crc >> 4) ^ t[crc & 15u];
	}
	return ~crc;
}

void wdp_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void wdp_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

uint16_t wdp_get_u16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

uint32_t wdp_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int wdp_frame_encode(uint16_t code, uint32_t seq, const uint8_t *payload, size_t len,
		     uint8_t *out, size_t cap, size_t *ret_len)
{
	if (len > WDP_PAYLOAD_MAX || cap < WDP_HDR_LEN + WDP_CRC_LEN ||
	    len > cap - WDP_HDR_LEN - WDP_CRC_LEN)
		return -WDP_S_TOO_BIG;
	out[0] = WDP_MAGIC0;
	out[1] = WDP_MAGIC1;
	wdp_put_u16(out + 2, code);
	wdp_put_u32(out + 4, seq);
	wdp_put_u32(out + 8, (uint32_t)len);
	if (len)
		memmove(out + WDP_HDR_LEN, payload, len);
	wdp_put_u32(out + WDP_HDR_LEN + len, wdp_crc32(0, out, WDP_HDR_LEN + len));
	*ret_len = WDP_HDR_LEN + len + WDP_CRC_LEN;
	return 0;
}

int wdp_frame_decode(const uint8_t *buf, size_t n, struct wdp_frame *ret)
{
	uint32_t len;

	if (n < WDP_HDR_LEN + WDP_CRC_LEN || buf[0] != WDP_MAGIC0 || buf[1] != WDP_MAGIC1)
		return -WDP_S_FRAME;
	len = wdp_get_u32(buf + 8);
	if (len > WDP_PAYLOAD_MAX)
		return -WDP_S_TOO_BIG;
	if (n != WDP_HDR_LEN + len + WDP_CRC_LEN)
		return -WDP_S_FRAME;
	if (wdp_get_u32(buf + WDP_HDR_LEN + len) != wdp_crc32(0, buf, WDP_HDR_LEN + len))
		return -WDP_S_INTEGRITY;
	ret->code = wdp_get_u16(buf + 2);
	ret->seq = wdp_get_u32(buf + 4);
	ret->len = len;
	ret->payload = buf + WDP_HDR_LEN;
	return 0;
}

void wdp_rx_init(struct wdp_rx *rx)
{
	rx->have = 0;
	rx->need = 0;
	rx->skipped = 0;
}

/* Drop the first k buffered bytes, then any bytes up to the next possible magic. */
static void rx_drop(struct wdp_rx *rx, size_t k)
{
	size_t i = k;

	while (i < rx->have && rx->buf[i] != WDP_MAGIC0)
		i++;
	rx->skipped += (uint32_t)(i - k);
	memmove(rx->buf, rx->buf + i, rx->have - i);
	rx->have -= i;
	rx->need = 0;
}

int wdp_rx_feed(struct wdp_rx *rx, const uint8_t *in, size_t n, size_t *ret_used,
		struct wdp_frame *ret_frame)
{
	size_t used = 0;

	for (;;) {
		/* Look for the magic at the start of the buffer. */
		if (rx->have >= 1 && rx->buf[0] != WDP_MAGIC0) {
			rx->skipped++;
			rx_drop(rx, 1);
			continue;
		}
		if (rx->have >= 2 && rx->buf[1] != WDP_MAGIC1) {
			rx->skipped++;
			rx_drop(rx, 1);
			continue;
		}
		if (rx->need == 0 && rx->have >= WDP_HDR_LEN) {
			uint32_t len = wdp_get_u32(rx->buf + 8);
			if (len > WDP_PAYLOAD_MAX) {
				rx_drop(rx, 2);
				*ret_used = used;
				return WDP_RX_TOO_BIG;
			}
			rx->need = WDP_HDR_LEN + len + WDP_CRC_LEN;
		}
		if (rx->need != 0 && rx->have == rx->need) {
			size_t whole = rx->need;
			rx->need = 0;
			rx->have = 0;
			*ret_used = used;
			if (wdp_frame_decode(rx->buf, whole, ret_frame) != 0)
				return WDP_RX_INTEGRITY;
			return WDP_RX_FRAME;
		}
		if (used == n)
			break;
		/* Take as many bytes as the current stage needs, no more. */
		size_t want = rx->need ? rx->need - rx->have
				       : (rx->have < 2 ? 1 : WDP_HDR_LEN - rx->have);
		if (want > n - used)
			want = n - used;
		memcpy(rx->buf + rx->have, in + used, want);
		rx->have += want;
		used += want;
	}
	*ret_used = used;
	return WDP_RX_MORE;
}

void wdp_tlv_init(struct wdp_tlv_writer *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->err = 0;
	w->last_type = -1;
}

void wdp_tlv_put(struct wdp_tlv_writer *w, uint16_t type, const void *value, size_t n)
{
	if (w->err)
		return;
	if ((int32_t)type <= w->last_type) {
		w->err = -WDP_S_MALFORMED;
		return;
	}
	if (n > 0xffffu || w->cap - w->len < 4 || n > w->cap - w->len - 4) {
		w->err = -WDP_S_TOO_BIG;
		return;
	}
	wdp_put_u16(w->buf + w->len, type);
	wdp_put_u16(w->buf + w->len + 2, (uint16_t)n);
	if (n)
		memmove(w->buf + w->len + 4, value, n);
	w->len += 4 + n;
	w->last_type = type;
}

void wdp_tlv_put_u8(struct wdp_tlv_writer *w, uint16_t type, uint8_t v)
{
	wdp_tlv_put(w, type, &v, 1);
}

void wdp_tlv_put_u16(struct wdp_tlv_writer *w, uint16_t type, uint16_t v)
{
	uint8_t b[2];
	wdp_put_u16(b, v);
	wdp_tlv_put(w, type, b, 2);
}

void wdp_tlv_put_u32(struct wdp_tlv_writer *w, uint16_t type, uint32_t v)
{
	uint8_t b[4];
	wdp_put_u32(b, v);
	wdp_tlv_put(w, type, b, 4);
}

int wdp_tlv_finish(const struct wdp_tlv_writer *w, size_t *ret_len)
{
	if (w->err)
		return w->err;
	*ret_len = w->len;
	return 0;
}

int wdp_tlv_parse(const uint8_t *p, size_t n, const struct wdp_tlv_spec *spec, size_t n_spec,
		  struct wdp_tlv *ret)
{
	size_t off = 0, si = 0;

	for (size_t i = 0; i < n_spec; i++) {
		ret[i].len = 0;
		ret[i].value = NULL;
	}
	while (off < n) {
		uint16_t type, len;

		if (n - off < 4)
			return -WDP_S_MALFORMED;
		type = wdp_get_u16(p + off);
		len = wdp_get_u16(p + off + 2);
		if (len > n - off - 4)
			return -WDP_S_MALFORMED;
		/* Ascending order makes "each at most once" and "known type" one walk. */
		while (si < n_spec && spec[si].type < type)
			si++;
		if (si == n_spec || spec[si].type != type || ret[si].value != NULL)
			return -WDP_S_MALFORMED;
		if (len < spec[si].min_len || len > spec[si].max_len)
			return -WDP_S_MALFORMED;
		ret[si].len = len;
		ret[si].value = p + off + 4;
		si++;
		off += 4u + len;
	}
	for (size_t i = 0; i < n_spec; i++)
		if (spec[i].required && ret[i].value == NULL)
			return -WDP_S_MALFORMED;
	return 0;
}
