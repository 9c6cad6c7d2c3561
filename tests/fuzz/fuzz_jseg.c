/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for what a factory pushes to the cloud: writ-hsmd journal entries,
 * read by lib/wire/jentry.c and verified as a run by lib/wire/jseg.c.
 *
 * Input: frames u32be(length) || entry, up to MAX_RUN of them (the seeds in
 * seeds/jseg are runs of a real writ-hsmd journal). Each entry, and the whole input
 * as one entry, goes through the strict and the legacy decoder; an entry the strict
 * decoder accepts must encode back (jentry_encode) to exactly its bytes: one meaning,
 * one encoding. The run is then verified; the verifier trusts the identity key of the
 * run's genesis if it starts with one (so signed seeds reach the events), otherwise it
 * stands at the first entry's seq and prev with a fixed key. On success the counts add
 * up and the events are the accepted entries, in order.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/ec.h"
#include "wire/jseg.h"

#define MAX_RUN 64

/* The P-256 base point: a valid key nobody signs with. */
static const uint8_t G[WRIT_P256_PUB_LEN] = {
	0x04, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2,
	0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96,
	0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16,
	0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5,
};

struct seen {
	uint64_t first, next;
	size_t n;
	int broken;
};

static int on_event(void *ctx, const struct jseg_event *ev)
{
	struct seen *s = ctx;

	if (s->n && ev->seq != s->next)
		s->broken = 1;
	if (!s->n)
		s->first = ev->seq;
	s->next = ev->seq + 1;
	s->n++;
	return 0;
}

static void add(cbor_item_t *m, uint64_t k, cbor_item_t *v)
{
	cbor_item_t *key = cbor_build_uint64(k);

	if (!key || !v || !cbor_map_add(m, (struct cbor_pair){ .key = cbor_move(key), .value = cbor_move(v) }))
		abort();
}

/* The decoders on one entry; the canonical round trip. */
static void one(const uint8_t *p, size_t len)
{
	struct jentry e, l;
	struct jentry_body b;
	cbor_item_t *body;
	uint8_t *out = NULL;
	size_t out_len = 0;
	unsigned k, n = 0;

	if (jentry_decode(p, len, JENTRY_LEGACY, &l) == 0)
		(void)!jentry_body_decode(&l, &b);
	if (jentry_decode(p, len, 0, &e) != 0)
		return;
	if (jentry_decode(p, len, JENTRY_LEGACY, &l) != 0)
		abort(); /* strict accepted what legacy refused */
	(void)!jentry_body_decode(&e, &b);
	for (k = 1; k <= JENTRY_BODY_KEY_MAX; k++)
		n += e.vals[k].present;
	body = cbor_new_definite_map(n);
	if (!body)
		abort();
	for (k = 1; k <= JENTRY_BODY_KEY_MAX; k++) {
		const struct jentry_val *v = &e.vals[k];
		if (!v->present)
			continue;
		switch (v->major) {
		case 0: add(body, k, cbor_build_uint64(v->arg)); break;
		case 1: add(body, k, cbor_build_negint64(v->arg)); break;
		case 2: add(body, k, cbor_build_bytestring(v->arg ? v->p : (const uint8_t *)"", (size_t)v->arg)); break;
		default: add(body, k, cbor_build_stringn(v->arg ? (const char *)v->p : "", (size_t)v->arg)); break;
		}
	}
	if (jentry_encode(e.seq, e.prev, e.time, e.type, body, &out, &out_len) != 0 || out_len != len ||
	    memcmp(out, p, len) != 0)
		abort();
	free(out);
	cbor_decref(&body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jseg_entry run[MAX_RUN];
	struct jseg_verifier v;
	struct jseg_result r;
	struct jseg_why why;
	struct jentry e;
	struct jentry_body b;
	struct seen s;
	size_t n = 0, off = 0, i;
	int err;

	one(data, size);
	while (n < MAX_RUN && size - off >= 4) {
		size_t len = (size_t)data[off] << 24 | (size_t)data[off + 1] << 16 | (size_t)data[off + 2] << 8 |
			     data[off + 3];
		if (len > size - off - 4)
			break;
		run[n].bytes = data + off + 4;
		run[n].len = len;
		off += 4 + len;
		n++;
	}
	for (i = 0; i < n; i++)
		one(run[i].bytes, run[i].len);

	memset(&v, 0, sizeof(v));
	memset(&s, 0, sizeof(s));
	memcpy(v.identity_pub, G, sizeof(G));
	if (n && jentry_decode(run[0].bytes, run[0].len, 0, &e) == 0) {
		if (e.type == JT_GENESIS && jentry_body_decode(&e, &b) == 0)
			memcpy(v.identity_pub, b.u.genesis.identity_pub, WRIT_P256_PUB_LEN);
		else if (e.seq) {
			v.cursor.next = e.seq;
			memcpy(v.cursor.hash, e.prev, 32);
		}
	}
	if (ec_keyid(v.identity_pub, v.hsm_id) < 0)
		return 0;
	v.event = on_event;
	v.ctx = &s;
	err = jseg_verify(&v, run, n, &r, &why);
	if (err == WRIT_E_INVAL) { /* a genesis key that is not a point */
		memcpy(v.identity_pub, G, sizeof(G));
		if (ec_keyid(v.identity_pub, v.hsm_id) < 0)
			return 0;
		memset(&s, 0, sizeof(s));
		err = jseg_verify(&v, run, n, &r, &why);
	}
	if (err == 0) {
		if (r.duplicates + r.accepted + r.tail != n || s.n != r.accepted || s.broken ||
		    (r.accepted && (s.first != v.cursor.next || r.cursor.next != s.next)) ||
		    (!r.accepted && r.cursor.next != v.cursor.next))
			abort();
	} else if (err != WRIT_E_INVAL && (!why.text[0] || why.fault == JSEG_OK)) {
		abort();
	}
	return 0;
}
