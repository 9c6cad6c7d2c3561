/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the line telemetry parser (lib/web/tele.c), which every
 * station's POST /v1/telemetry and every factory's POST /v1/sync/telemetry reaches: the
 * input is one bucket's JSON. A bucket it takes must survive tele_json -> tele_parse
 * unchanged (a replay must look like a replay), and its counts must add up.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "web/tele.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tele_bucket b, c;
	uint64_t h[TELE_HIST_N], fsum = 0, hsum = 0;
	char why[200];
	json_t *o = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL), *again;

	if (!o)
		return 0;
	if (tele_parse(o, 1790000040, TELE_PAST_MAX, &b, why, sizeof why) == 0) {
		for (size_t i = 0; i < TELE_STEPS; i++)
			fsum += b.fail[i];
		for (size_t i = 0; i < TELE_HIST_N; i++) {
			h[i] = b.hist[i];
			hsum += b.hist[i];
		}
		if (b.ok > b.total || fsum != (uint64_t)b.total - b.ok || hsum != b.ok)
			abort();
		(void)tele_hist_pct(h, 0.95);
		again = tele_json(&b);
		if (!again || tele_parse(again, 1790000040, TELE_PAST_MAX, &c, why, sizeof why) != 0 || !tele_equal(&b, &c))
			abort();
		json_decref(again);
	}
	json_decref(o);
	return 0;
}
