/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for libwrit-device's packet decoder and dispatcher: arbitrary bytes
 * go to wdev_process on a chip with an in-memory PAL and a fixed RNG. Before the input,
 * the chip is opened with a DISCOVER at seq 0 so fuzzed frames with seq 1.. reach every
 * command's TLV parser. Responses must always be whole, CRC-correct frames.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/wdp.h"
#include "mempal.h"
#include "wdev.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t uid[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	static struct mempal m;
	static struct wdev_ctx dev;
	static uint8_t out[WDP_FRAME_MAX], hello[16];
	struct wdev_pal pal;
	struct wdp_frame f;
	size_t n, used, ol;

	if (mempal_init(&m, uid) != 0)
		abort();
	m.rng_mode = MEMPAL_RNG_DETERMINISTIC;
	m.now = 1700000000;
	mempal_bind(&m, &pal);
	if (wdev_init(&dev, &pal, "fuzz") != 0)
		abort();
	if (wdp_frame_encode(WDP_CMD_DISCOVER, 0, NULL, 0, hello, sizeof hello, &n) != 0 ||
	    wdev_process(&dev, hello, n, &used, out, sizeof out, &ol) != 0 || ol == 0)
		abort();
	while (size > 0) {
		if (wdev_process(&dev, data, size, &used, out, sizeof out, &ol) != 0 || used > size)
			abort();
		if (ol && wdp_frame_decode(out, ol, &f) != 0)
			abort();
		if (used == 0 && ol == 0)
			abort();
		data += used;
		size -= used;
	}
	wdev_free(&dev);
	mempal_free(&m);
	return 0;
}
