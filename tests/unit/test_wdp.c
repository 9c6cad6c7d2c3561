/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the device protocol codec (lib/base/wdp.c): the CRC-32 check value,
 * frames encoded and decoded, a stream receiver fed garbage, split and corrupted
 * frames, and the strict TLV parser against every kind of malformed payload.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/wdp.h"

static void test_crc32_check_value(void **state)
{
	(void)state;
	/* The standard CRC-32 check value of "123456789". */
	assert_int_equal(wdp_crc32(0, (const uint8_t *)"123456789", 9), 0xcbf43926u);
	/* Chained calls give the same result as one call. */
	uint32_t c = wdp_crc32(0, (const uint8_t *)"1234", 4);
	assert_int_equal(wdp_crc32(c, (const uint8_t *)"56789", 5), 0xcbf43926u);
}

static void test_frame_roundtrip(void **state)
{
	uint8_t buf[WDP_FRAME_MAX], pl[WDP_PAYLOAD_MAX];
	struct wdp_frame f;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof pl; i++)
		pl[i] = (uint8_t)(i * 7);
	assert_int_equal(wdp_frame_encode(0x0041, 77, pl, sizeof pl, buf, sizeof buf, &n), 0);
	assert_int_equal(n, WDP_FRAME_MAX);
	assert_int_equal(wdp_frame_decode(buf, n, &f), 0);
	assert_int_equal(f.code, 0x0041);
	assert_int_equal(f.seq, 77);
	assert_int_equal(f.len, sizeof pl);
	assert_memory_equal(f.payload, pl, sizeof pl);
	/* Too large a payload, too small an output. */
	assert_int_equal(wdp_frame_encode(1, 1, pl, WDP_PAYLOAD_MAX + 1, buf, sizeof buf, &n),
			 -WDP_S_TOO_BIG);
	assert_int_equal(wdp_frame_encode(1, 1, pl, 10, buf, 20, &n), -WDP_S_TOO_BIG);
	/* Every single-bit flip of an empty frame is refused. */
	assert_int_equal(wdp_frame_encode(2, 5, NULL, 0, buf, sizeof buf, &n), 0);
	for (size_t i = 0; i < n * 8; i++) {
		buf[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_int_not_equal(wdp_frame_decode(buf, n, &f), 0);
		buf[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	assert_int_equal(wdp_frame_decode(buf, n, &f), 0);
	/* Truncated and with trailing bytes. */
	for (size_t k = 0; k < n; k++)
		assert_int_not_equal(wdp_frame_decode(buf, k, &f), 0);
	buf[n] = 0;
	assert_int_equal(wdp_frame_decode(buf, n + 1, &f), -WDP_S_FRAME);
	/* A header announcing more than the maximum. */
	wdp_put_u32(buf + 8, WDP_PAYLOAD_MAX + 1);
	assert_int_equal(wdp_frame_decode(buf, n, &f), -WDP_S_TOO_BIG);
}

/* Feed a stream in pieces of `step` bytes; collect events. */
static int feed_all(struct wdp_rx *rx, const uint8_t *s, size_t n, size_t step, int *events,
		    int max_events, uint32_t *seqs)
{
	int ne = 0;
	size_t off = 0;

	while (off < n) {
		size_t chunk = n - off < step ? n - off : step, used = 0;
		const uint8_t *p = s + off;
		while (chunk > 0) {
			struct wdp_frame f;
			int ev = wdp_rx_feed(rx, p, chunk, &used, &f);
			assert_true(used <= chunk);
			p += used;
			chunk -= used;
			off += used;
			if (ev != WDP_RX_MORE) {
				assert_true(ne < max_events);
				seqs[ne] = ev == WDP_RX_FRAME ? f.seq : 0;
				events[ne++] = ev;
			} else {
				assert_int_equal(chunk, 0);
			}
		}
	}
	return ne;
}

static void test_rx_stream(void **state)
{
	static uint8_t stream[4 * WDP_FRAME_MAX];
	static struct wdp_rx rx;
	size_t len = 0, n;
	uint8_t pl[300];
	int events[16];
	uint32_t seqs[16];

	(void)state;
	memset(pl, 0xA5, sizeof pl);
	/* garbage, frame 1, a frame with a bad CRC, "W" noise, an oversized header, frame 2 */
	memcpy(stream, "\x00\x57zz\x44", 5);
	len = 5;
	assert_int_equal(wdp_frame_encode(1, 1, pl, sizeof pl, stream + len, sizeof stream - len, &n), 0);
	len += n;
	assert_int_equal(wdp_frame_encode(1, 2, pl, 10, stream + len, sizeof stream - len, &n), 0);
	stream[len + 14] ^= 1;
	len += n;
	stream[len++] = 'W';
	stream[len++] = 'W';
	memcpy(stream + len, "WD\x00\x01\x00\x00\x00\x09\xff\xff\xff\xff", 12);
	len += 12;
	assert_int_equal(wdp_frame_encode(2, 3, NULL, 0, stream + len, sizeof stream - len, &n), 0);
	len += n;

	for (size_t step = 1; step <= 4096; step = step * 3 + 1) {
		int ne;
		wdp_rx_init(&rx);
		ne = feed_all(&rx, stream, len, step, events, 16, seqs);
		assert_int_equal(ne, 4);
		assert_int_equal(events[0], WDP_RX_FRAME);
		assert_int_equal(seqs[0], 1);
		assert_int_equal(events[1], WDP_RX_INTEGRITY);
		assert_int_equal(events[2], WDP_RX_TOO_BIG);
		assert_int_equal(events[3], WDP_RX_FRAME);
		assert_int_equal(seqs[3], 3);
		assert_true(rx.skipped >= 5);
	}
}

static const struct wdp_tlv_spec spec[] = {
	{ 0x0002, 16, 16, 1 },
	{ 0x0003, 1, 32, 0 },
	{ 0x0040, 4, 4, 1 },
};

static void test_tlv(void **state)
{
	uint8_t buf[128], uid[16];
	struct wdp_tlv_writer w;
	struct wdp_tlv t[3];
	size_t n;

	(void)state;
	memset(uid, 0x11, sizeof uid);
	wdp_tlv_init(&w, buf, sizeof buf);
	wdp_tlv_put(&w, 0x0002, uid, sizeof uid);
	wdp_tlv_put_u32(&w, 0x0040, 0xdeadbeef);
	assert_int_equal(wdp_tlv_finish(&w, &n), 0);
	assert_int_equal(n, 4 + 16 + 4 + 4);
	assert_int_equal(wdp_tlv_parse(buf, n, spec, 3, t), 0);
	assert_memory_equal(t[0].value, uid, 16);
	assert_null(t[1].value);
	assert_int_equal(wdp_get_u32(t[2].value), 0xdeadbeef);

	/* every truncation fails */
	for (size_t k = 0; k < n; k++)
		assert_int_equal(wdp_tlv_parse(buf, k, spec, 3, t), -WDP_S_MALFORMED);
	/* a trailing byte fails */
	buf[n] = 0;
	assert_int_equal(wdp_tlv_parse(buf, n + 1, spec, 3, t), -WDP_S_MALFORMED);
	/* wrong length */
	wdp_tlv_init(&w, buf, sizeof buf);
	wdp_tlv_put(&w, 0x0002, uid, 15);
	wdp_tlv_put_u32(&w, 0x0040, 1);
	assert_int_equal(wdp_tlv_finish(&w, &n), 0);
	assert_int_equal(wdp_tlv_parse(buf, n, spec, 3, t), -WDP_S_MALFORMED);
	/* unknown type */
	wdp_tlv_init(&w, buf, sizeof buf);
	wdp_tlv_put(&w, 0x0002, uid, 16);
	wdp_tlv_put_u8(&w, 0x0004, 1);
	wdp_tlv_put_u32(&w, 0x0040, 1);
	assert_int_equal(wdp_tlv_finish(&w, &n), 0);
	assert_int_equal(wdp_tlv_parse(buf, n, spec, 3, t), -WDP_S_MALFORMED);
	/* missing required */
	wdp_tlv_init(&w, buf, sizeof buf);
	wdp_tlv_put(&w, 0x0002, uid, 16);
	assert_int_equal(wdp_tlv_finish(&w, &n), 0);
	assert_int_equal(wdp_tlv_parse(buf, n, spec, 3, t), -WDP_S_MALFORMED);
	/* duplicate and out of order (hand-made: the writer refuses both) */
	memcpy(buf, "\x00\x40\x00\x04\x00\x00\x00\x01\x00\x02\x00\x10", 12);
	memcpy(buf + 12, uid, 16);
	assert_int_equal(wdp_tlv_parse(buf, 28, spec, 3, t), -WDP_S_MALFORMED);
	memcpy(buf, "\x00\x40\x00\x04\x00\x00\x00\x01\x00\x40\x00\x04\x00\x00\x00\x01", 16);
	assert_int_equal(wdp_tlv_parse(buf, 16, spec, 3, t), -WDP_S_MALFORMED);
	/* the writer's own refusals */
	wdp_tlv_init(&w, buf, sizeof buf);
	wdp_tlv_put_u32(&w, 0x0040, 1);
	wdp_tlv_put(&w, 0x0002, uid, 16);
	assert_int_equal(wdp_tlv_finish(&w, &n), -WDP_S_MALFORMED);
	wdp_tlv_init(&w, buf, 10);
	wdp_tlv_put(&w, 0x0002, uid, 16);
	assert_int_equal(wdp_tlv_finish(&w, &n), -WDP_S_TOO_BIG);
}

static void test_status_names(void **state)
{
	(void)state;
	assert_string_equal(wdp_status_name(WDP_S_OK), "OK");
	assert_string_equal(wdp_status_name(WDP_S_ROLLBACK), "ROLLBACK");
	assert_string_equal(wdp_status_name(999), "UNKNOWN");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32_check_value), cmocka_unit_test(test_frame_roundtrip),
		cmocka_unit_test(test_rx_stream),         cmocka_unit_test(test_tlv),
		cmocka_unit_test(test_status_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
