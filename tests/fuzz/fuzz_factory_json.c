/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for writ-factory's JSON request validators (factory/api_json.c),
 * the code every station request body reaches before anything else: the first byte
 * picks the endpoint, the rest is the body. Also the record CSV export over any JSON.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "factory/api_json.h"
#include "factory/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[FJ_WHY_MAX], *body, *csv = NULL;
	union {
		struct fj_enrol e;
		struct fj_dac d;
		struct fj_wrap w;
		struct fj_record r;
		struct fj_rework k;
	} *u;

	if (size < 1)
		return 0;
	u = malloc(sizeof(*u));
	body = malloc(size);
	if (!u || !body) {
		free(u);
		free(body);
		return 0;
	}
	memcpy(body, data + 1, size - 1); /* an exact-size copy: ASan sees any over-read */
	switch (data[0] % 6) {
	case 0: (void)!fj_parse_enrol(body, size - 1, &u->e, why, sizeof(why)); break;
	case 1: (void)!fj_parse_dac(body, size - 1, &u->d, why, sizeof(why)); break;
	case 2: (void)!fj_parse_wrap(body, size - 1, &u->w, why, sizeof(why)); break;
	case 3: (void)!fj_parse_record(body, size - 1, &u->r, why, sizeof(why)); break;
	case 5: (void)!fj_parse_rework(body, size - 1, &u->k, why, sizeof(why)); break;
	default:
		if (size - 1 > 0 && !memchr(body, 0, size - 1) && body[size - 2] != 0) {
			char *s = malloc(size);
			if (s) {
				memcpy(s, body, size - 1);
				s[size - 1] = 0;
				if (rec_to_csv(s, &csv) == 0)
					free(csv);
				free(s);
			}
		}
	}
	free(u);
	free(body);
	return 0;
}
