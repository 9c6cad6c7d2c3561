/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A bounded, growing byte buffer private to lib/matter's encoders. The bound is fixed
 * at init; appending past it sets a sticky error instead of growing. The owner frees
 * p with free() (or takes it over) once done.
 */
#ifndef WRIT_MATTER_DBUF_H
#define WRIT_MATTER_DBUF_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/ct.h"
#include "base/err.h"

struct dbuf {
	uint8_t *p;
	size_t len, cap, max;
	int err; /* 0, WRIT_E_NOMEM or WRIT_E_TOOBIG; sticky */
};

static inline void dbuf_init(struct dbuf *b, size_t max)
{
	b->p = NULL;
	b->len = b->cap = 0;
	b->max = max;
	b->err = 0;
}

static inline void dbuf_put(struct dbuf *b, const void *data, size_t n)
{
	if (b->err)
		return;
	if (n > b->max - b->len) {
		b->err = WRIT_E_TOOBIG;
		return;
	}
	if (b->len + n > b->cap) {
		size_t ncap = b->cap ? b->cap : 256;
		uint8_t *np;

		while (ncap < b->len + n)
			ncap *= 2;
		if (ncap > b->max)
			ncap = b->max;
		np = realloc(b->p, ncap);
		if (!np) {
			b->err = WRIT_E_NOMEM;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
}

static inline void dbuf_byte(struct dbuf *b, uint8_t c)
{
	dbuf_put(b, &c, 1);
}

static inline void dbuf_str(struct dbuf *b, const char *s)
{
	dbuf_put(b, s, strlen(s));
}

static inline void dbuf_free(struct dbuf *b)
{
	if (b->p)
		writ_memzero(b->p, b->cap);
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

#endif
