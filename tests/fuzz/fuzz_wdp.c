/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the device protocol codec (lib/base/wdp.c), the code both the
 * chip and the station's driver run on bytes the other side controls. Input: one byte
 * k (0..7 used), k chunk sizes (0 = 4096), then the byte stream, fed to wdp_rx_feed in
 * chunks of those sizes in turn. Every frame event is re-encoded with wdp_frame_encode
 * and must decode back to itself; every payload (and the raw stream) is run through
 * wdp_tlv_parse against the specs the driver and the chip use, and a successful parse
 * must describe the payload exactly: values inside it, lengths within the spec,
 * required types present, and the TLVs re-written in order giving back the same bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/wdp.h"

#define CHECK(x)                   \
	do {                       \
		if (!(x))          \
			abort();   \
	} while (0)

/* DISCOVER's answer, as the driver parses it. */
static const struct wdp_tlv_spec spec_discover[] = {
	{ WDP_T_PROTO_VERSION, 2, 2, 1 }, { WDP_T_UID, 16, 16, 1 },
	{ WDP_T_CHIP_FAMILY, 1, 32, 1 },  { WDP_T_LIFECYCLE, 1, 1, 1 },
	{ WDP_T_MAX_PAYLOAD, 4, 4, 1 },   { WDP_T_STATE, 4, 4, 1 },
};
/* STATUS's answer. */
static const struct wdp_tlv_spec spec_status[] = {
	{ WDP_T_UID, 16, 16, 1 },
	{ WDP_T_LIFECYCLE, 1, 1, 1 },
	{ WDP_T_STATE, 4, 4, 1 },
	{ WDP_T_FW_VERSION, 4, 4, 1 },
};
/* GENERATE_KEYS's answer. */
static const struct wdp_tlv_spec spec_keys[] = {
	{ WDP_T_CSR, 1, WDP_CSR_MAX, 1 },
	{ WDP_T_ENC_PUB, WDP_P256_PUB_LEN, WDP_P256_PUB_LEN, 1 },
	{ WDP_T_ENC_BINDING, 8, WDP_BINDING_MAX, 1 },
};
/* A refusal's DETAIL (optional). */
static const struct wdp_tlv_spec spec_detail[] = { { WDP_T_DETAIL, 0, WDP_DETAIL_MAX, 0 } };
/* FW_CHUNK's request, as the chip parses it. */
static const struct wdp_tlv_spec spec_chunk[] = {
	{ WDP_T_FW_OFFSET, 4, 4, 1 },
	{ WDP_T_FW_DATA, 1, WDP_FW_CHUNK_MAX, 1 },
};
/* Everything optional, lengths 0..max: the loosest spec. */
static const struct wdp_tlv_spec spec_loose[] = {
	{ 0x0000, 0, 0xffff, 0 },         { WDP_T_PROTO_VERSION, 0, 0xffff, 0 },
	{ WDP_T_CSR, 0, 0xffff, 0 },      { WDP_T_DAC, 0, WDP_CERT_MAX, 0 },
	{ WDP_T_FW_DATA, 0, 0xffff, 0 },  { WDP_T_DETAIL, 0, WDP_DETAIL_MAX, 0 },
	{ 0xffff, 0, 0xffff, 0 },
};

struct spec_ref {
	const struct wdp_tlv_spec *spec;
	size_t n;
};

static const struct spec_ref specs[] = {
	{ spec_discover, sizeof spec_discover / sizeof spec_discover[0] },
	{ spec_status, sizeof spec_status / sizeof spec_status[0] },
	{ spec_keys, sizeof spec_keys / sizeof spec_keys[0] },
	{ spec_detail, 1 },
	{ spec_chunk, sizeof spec_chunk / sizeof spec_chunk[0] },
	{ spec_loose, sizeof spec_loose / sizeof spec_loose[0] },
};

static void check_tlvs(const uint8_t *p, size_t n)
{
	static uint8_t again[WDP_PAYLOAD_MAX + 70000];
	struct wdp_tlv t[8];

	for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
		const struct wdp_tlv_spec *spec = specs[s].spec;
		struct wdp_tlv_writer w;
		size_t len = 0;

		if (wdp_tlv_parse(p, n, spec, specs[s].n, t) != 0)
			continue;
		wdp_tlv_init(&w, again, sizeof again);
		for (size_t i = 0; i < specs[s].n; i++) {
			if (!t[i].value) {
				CHECK(!spec[i].required);
				CHECK(t[i].len == 0);
				continue;
			}
			CHECK(t[i].value >= p + 4 && t[i].value <= p + n);
			CHECK(t[i].len <= (size_t)(p + n - t[i].value));
			CHECK(t[i].len >= spec[i].min_len && t[i].len <= spec[i].max_len);
			wdp_tlv_put(&w, spec[i].type, t[i].value, t[i].len);
		}
		/* a strict parse leaves nothing out: writing the TLVs again gives the input */
		CHECK(wdp_tlv_finish(&w, &len) == 0);
		CHECK(len == n);
		CHECK(n == 0 || memcmp(again, p, n) == 0);
	}
}

static void check_frame(const struct wdp_rx *rx, const struct wdp_frame *f)
{
	static uint8_t out[WDP_FRAME_MAX];
	struct wdp_frame g;
	size_t n = 0;

	CHECK(f->len <= WDP_PAYLOAD_MAX);
	CHECK(f->payload == rx->buf + WDP_HDR_LEN);
	CHECK(wdp_frame_encode(f->code, f->seq, f->payload, f->len, out, sizeof out, &n) == 0);
	CHECK(n == WDP_HDR_LEN + f->len + WDP_CRC_LEN);
	CHECK(wdp_frame_decode(out, n, &g) == 0);
	CHECK(g.code == f->code && g.seq == f->seq && g.len == f->len);
	CHECK(f->len == 0 || memcmp(g.payload, f->payload, f->len) == 0);
	/* the frame as received had the same bytes: same header, same CRC */
	CHECK(memcmp(out, rx->buf, n) == 0);
	check_tlvs(f->payload, f->len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wdp_rx rx;
	size_t steps[7], n_steps, off, si = 0, total = 0;
	int first_event = -1, zero_used = 0;
	struct wdp_frame first = { 0 }, whole;
	static uint8_t first_payload[WDP_PAYLOAD_MAX];

	if (size < 1)
		return 0;
	n_steps = data[0] & 7u;
	if (n_steps > 6 || size < 1 + n_steps)
		return 0;
	for (size_t i = 0; i < n_steps; i++)
		steps[i] = data[1 + i] ? data[1 + i] : 4096;
	off = 1 + n_steps;
	data += off;
	size -= off;

	check_tlvs(data, size);

	wdp_rx_init(&rx);
	off = 0;
	while (off < size) {
		size_t chunk = n_steps ? steps[si++ % n_steps] : size;
		if (chunk > size - off)
			chunk = size - off;
		const uint8_t *p = data + off;
		size_t left = chunk;
		while (left > 0) {
			struct wdp_frame f;
			size_t used = (size_t)-1;
			int ev = wdp_rx_feed(&rx, p, left, &used, &f);

			CHECK(used <= left);
			CHECK(rx.have <= WDP_FRAME_MAX && rx.need <= WDP_FRAME_MAX);
			CHECK(ev >= WDP_RX_MORE && ev <= WDP_RX_TOO_BIG);
			if (ev == WDP_RX_MORE)
				CHECK(used == left);
			/* two events in a row that consume nothing: the receiver is stuck */
			zero_used = used == 0 ? zero_used + 1 : 0;
			CHECK(zero_used < 2);
			if (first_event < 0 && ev != WDP_RX_MORE) {
				first_event = ev;
				if (ev == WDP_RX_FRAME) {
					first = f;
					memcpy(first_payload, f.payload, f.len);
				}
			}
			if (ev == WDP_RX_FRAME)
				check_frame(&rx, &f);
			p += used;
			left -= used;
			total += used;
		}
		off += chunk;
	}
	CHECK(total == size);
	/* Whatever the splits: an input that is exactly one valid frame is that frame. */
	if (wdp_frame_decode(data, size, &whole) == 0) {
		CHECK(first_event == WDP_RX_FRAME);
		CHECK(first.code == whole.code && first.seq == whole.seq && first.len == whole.len);
		CHECK(whole.len == 0 || memcmp(first_payload, whole.payload, whole.len) == 0);
	}
	return 0;
}
