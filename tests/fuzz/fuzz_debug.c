/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the chip's secure-debug certificate and token parser
 * (wdev_dbg_parse) and the DEBUG_UNLOCK command around it. The input's first byte picks
 * how many bytes go to the chain, the rest to the token; the parser must never read
 * outside its inputs and must accept only what it documents. Then the same bytes reach
 * DEBUG_UNLOCK on a chip with a burnt debug root and a live challenge: it must never
 * unlock (nothing here is signed by the root) and must answer a whole frame. Input:
 * chain length u16 (big-endian) ‖ chain ‖ token (seeds/debug: a well-formed pair).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/wdp.h"
#include "mempal.h"
#include "wdev.h"

static void exchange(struct wdev_ctx *dev, uint16_t code, uint32_t seq, const uint8_t *pl, size_t len)
{
	static uint8_t fr[WDP_FRAME_MAX], out[WDP_FRAME_MAX];
	struct wdp_frame f;
	size_t n, used, ol;

	if (wdp_frame_encode(code, seq, pl, len, fr, sizeof fr, &n) != 0 ||
	    wdev_process(dev, fr, n, &used, out, sizeof out, &ol) != 0 || used != n || ol == 0 ||
	    wdp_frame_decode(out, ol, &f) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t uid[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	static struct mempal m;
	static struct wdev_ctx dev;
	static uint8_t pl[WDP_PAYLOAD_MAX];
	struct wdev_dbg_cert certs[WDP_DBG_CHAIN_MAX];
	struct wdev_dbg_token tok;
	struct wdp_tlv_writer w;
	struct wdev_pal pal;
	const char *why = NULL;
	size_t split, n = 0, len;
	uint8_t root_pub[65];

	if (size < 2)
		return 0;
	split = (size_t)data[0] << 8 | data[1];
	data += 2;
	size -= 2;
	if (split > size)
		split = size;
	if (wdev_dbg_parse(data, split, data + split, size - split, certs, &n, &tok, &why) == 0) {
		if (n < 1 || n > WDP_DBG_CHAIN_MAX || split != n * WDP_DBG_CERT_LEN || size - split != WDP_DBG_TOKEN_LEN ||
		    why != NULL)
			abort();
	} else if (why == NULL) {
		abort();
	}
	/* the same bytes through DEBUG_UNLOCK */
	if (mempal_init(&m, uid) != 0)
		abort();
	m.rng_mode = MEMPAL_RNG_DETERMINISTIC;
	m.now = 1700000000;
	memset(m.otp + WDEV_OTP_DEBUG_HASH, 0x5a, 32);
	memcpy(m.otp_c, m.otp, sizeof m.otp);
	mempal_bind(&m, &pal);
	if (wdev_init(&dev, &pal, "fuzz") != 0)
		abort();
	exchange(&dev, WDP_CMD_DISCOVER, 0, NULL, 0);
	exchange(&dev, WDP_CMD_DEBUG_CHALLENGE, 1, NULL, 0);
	memset(root_pub, 0x04, sizeof root_pub);
	wdp_tlv_init(&w, pl, sizeof pl);
	wdp_tlv_put(&w, WDP_T_DEBUG_ROOT_PUB, root_pub, sizeof root_pub);
	wdp_tlv_put(&w, WDP_T_DEBUG_CHAIN, data, split);
	wdp_tlv_put(&w, WDP_T_DEBUG_TOKEN, data + split, size - split);
	if (wdp_tlv_finish(&w, &len) == 0) {
		exchange(&dev, WDP_CMD_DEBUG_UNLOCK, 2, pl, len);
		if (dev.dbg.unlocked)
			abort();
	}
	wdev_free(&dev);
	mempal_free(&m);
	return 0;
}
