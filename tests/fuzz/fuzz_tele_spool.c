/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for writ-station's telemetry spool reader (station/telemetry.c,
 * stele_spool_parse), which reads DIR/telemetry.spool back after a crash: the input is a
 * whole spool file. Whatever it holds, the reader must not crash, must account for every
 * line (kept, replaced, damaged or torn), and every bucket it keeps must be one the
 * strict bucket parser takes again unchanged after a round trip through JSON.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "station/telemetry.h"
#include "web/tele.h"

#define NOW 1790000040LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tele_bucket out[8];
	struct stele_spool_stats st;
	struct tele_bucket again;
	size_t n = 0, newlines = 0;
	char why[200];

	for (size_t i = 0; i < size; i++)
		newlines += data[i] == '\n';
	if (stele_spool_parse((const char *)data, size, NOW, out, 8, &n, &st) != 0)
		abort();
	if (n != st.buckets || n > 8 || st.lines != newlines || st.torn > 1 ||
	    (st.torn == 1) != (size > 0 && data[size - 1] != '\n') || st.bad > st.lines ||
	    n + st.dropped > st.lines - st.bad)
		abort();
	for (size_t i = 0; i < n; i++) {
		json_t *o = tele_json(&out[i]);

		if (!o || tele_parse(o, NOW + TELE_WINDOW_MAX, TELE_PAST_MAX + TELE_WINDOW_MAX, &again, why, sizeof why) != 0 ||
		    !tele_equal(&out[i], &again))
			abort();
		json_decref(o);
		for (size_t k = 0; k < i; k++)
			if (out[k].start == out[i].start && !strcmp(out[k].run, out[i].run))
				abort(); /* one bucket per (run, start) */
	}
	return 0;
}
