/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for lib/db's `?` -> `$N` rewriting (db_sql_to_pg), which scans
 * quoted literals, quoted identifiers and comments. Input: the SQL text (cut at the
 * first NUL). Checked: the output is the input with exactly `count` placeholders
 * replaced (its length says so), and rewriting the output again finds nothing and
 * changes nothing, since `$N` is never a quote or a comment marker and so the scan
 * sees the same literals and comments.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"

#define CHECK(x)                   \
	do {                       \
		if (!(x))          \
			abort();   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *sql, *out = NULL, *again = NULL;
	size_t count = 0, count2 = 1, extra = 0, k;
	char num[24];

	sql = malloc(size + 1);
	if (!sql)
		return 0;
	memcpy(sql, data, size);
	sql[size] = 0;
	if (db_sql_to_pg(sql, &out, &count) == 0) {
		for (k = 1; k <= count; k++)
			extra += (size_t)snprintf(num, sizeof(num), "$%zu", k) - 1;
		CHECK(strlen(out) == strlen(sql) + extra);
		CHECK(db_sql_to_pg(out, &again, &count2) == 0);
		CHECK(count2 == 0);
		CHECK(strcmp(again, out) == 0);
		free(again);
		free(out);
	} else {
		CHECK(strchr(sql, '?') != NULL); /* only too many placeholders fail */
	}
	free(sql);
	return 0;
}
