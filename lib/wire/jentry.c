/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-hsmd's journal entry (format in jentry.h): a canonical writer over a libcbor
 * body, a hand-written bounded reader (no allocation, no recursion: an entry is a map
 * of five values, the body a map of flat values), the body CDDL per type, and the
 * checkpoint digest.
 */
#include <stdlib.h>
#include <string.h>

#include "base/cborh.h"
#include "crypto/ec.h"
#include "wire/jentry.h"

enum { MAJ_UINT = 0, MAJ_NINT = 1, MAJ_BSTR = 2, MAJ_TSTR = 3, MAJ_ARRAY = 4, MAJ_MAP = 5 };

static const char checkpoint_ctx[] = "writ-journal-checkpoint";

int jentry_checkpoint_digest(uint64_t seq, const uint8_t prev[32], uint8_t ret[32])
{
	uint8_t buf[sizeof(checkpoint_ctx) - 1 + 8 + 32];
	int i;

	memcpy(buf, checkpoint_ctx, sizeof(checkpoint_ctx) - 1);
	for (i = 0; i < 8; i++)
		buf[sizeof(checkpoint_ctx) - 1 + i] = (uint8_t)(seq >> (56 - 8 * i));
	memcpy(buf + sizeof(checkpoint_ctx) - 1 + 8, prev, 32);
	return ec_sha256(buf, sizeof(buf), ret);
}

int jentry_checkpoint_verify(const uint8_t identity_pub[WRIT_P256_PUB_LEN], uint64_t seq, const uint8_t prev[32],
			     const uint8_t sig[WRIT_P256_SIG_LEN])
{
	uint8_t digest[32];
	int err = jentry_checkpoint_digest(seq, prev, digest);

	if (err < 0)
		return err;
	return ec_p256_verify_digest(identity_pub, digest, sig);
}

/* ---- reading ---- */

struct rd {
	const uint8_t *p;
	size_t len, off;
	unsigned flags;
};

/* One head: major type and argument. Definite lengths only; the shortest form unless
 * JENTRY_LEGACY; a string's bytes must fit in what remains (they are not consumed). */
static int get_head(struct rd *r, unsigned *ret_major, uint64_t *ret_arg)
{
	return cbor_head_decode(r->p, r->len, &r->off, r->flags & JENTRY_LEGACY ? CBOR_HEAD_ANY_LENGTH : 0, ret_major,
				ret_arg) < 0
		       ? WRIT_E_FORMAT
		       : 0;
}

static int get_uint(struct rd *r, uint64_t *ret)
{
	unsigned major;

	if (get_head(r, &major, ret) < 0 || major != MAJ_UINT)
		return WRIT_E_FORMAT;
	return 0;
}

/* The key k of a map, in order. */
static int get_key(struct rd *r, uint64_t k)
{
	uint64_t v;

	return get_uint(r, &v) == 0 && v == k ? 0 : WRIT_E_FORMAT;
}

/* The body: a map of at most JENTRY_BODY_KEY_MAX flat values under ascending keys. */
static int get_body(struct rd *r, struct jentry *e)
{
	unsigned major;
	uint64_t n, i, key, last = 0;
	size_t start = r->off;

	if (get_head(r, &major, &n) < 0 || major != MAJ_MAP || n > JENTRY_BODY_KEY_MAX)
		return WRIT_E_FORMAT;
	for (i = 0; i < n; i++) {
		struct jentry_val *v;
		if (get_uint(r, &key) < 0 || key <= last || key > JENTRY_BODY_KEY_MAX)
			return WRIT_E_FORMAT; /* not a key, out of order, repeated or unknown */
		last = key;
		v = &e->vals[key];
		if (get_head(r, &major, &v->arg) < 0 || major > MAJ_TSTR)
			return WRIT_E_FORMAT;
		v->present = 1;
		v->major = (uint8_t)major;
		if (major == MAJ_BSTR || major == MAJ_TSTR) {
			v->p = r->p + r->off;
			r->off += (size_t)v->arg;
		}
	}
	e->body = r->p + start;
	e->body_len = r->off - start;
	return 0;
}

int jentry_decode(const uint8_t *buf, size_t len, unsigned flags, struct jentry *ret)
{
	struct rd r = { .p = buf, .len = len, .off = 0, .flags = flags };
	struct jentry e;
	unsigned major;
	uint64_t n, v;

	if (!buf || len == 0)
		return WRIT_E_FORMAT;
	if (len > JOURNAL_MAX_ENTRY)
		return WRIT_E_TOOBIG;
	memset(&e, 0, sizeof(e));
	if (get_head(&r, &major, &n) < 0 || major != MAJ_MAP || n != 5)
		return WRIT_E_FORMAT;
	if (get_key(&r, 1) < 0 || get_uint(&r, &e.seq) < 0)
		return WRIT_E_FORMAT;
	if (get_key(&r, 2) < 0 || get_head(&r, &major, &n) < 0 || major != MAJ_BSTR || n != 32)
		return WRIT_E_FORMAT;
	memcpy(e.prev, buf + r.off, 32);
	r.off += 32;
	if (get_key(&r, 3) < 0 || get_head(&r, &major, &v) < 0 || (major != MAJ_UINT && major != MAJ_NINT) ||
	    v > (uint64_t)INT64_MAX)
		return WRIT_E_FORMAT;
	e.time = major == MAJ_UINT ? (int64_t)v : -1 - (int64_t)v;
	if (get_key(&r, 4) < 0 || get_uint(&r, &v) < 0 || v < JT_GENESIS || v > JT_REPROVISION)
		return WRIT_E_FORMAT;
	e.type = (uint32_t)v;
	if (get_key(&r, 5) < 0 || get_body(&r, &e) < 0)
		return WRIT_E_FORMAT;
	if (r.off != len)
		return WRIT_E_FORMAT; /* trailing bytes */
	if ((e.seq == 0) != (e.type == JT_GENESIS))
		return WRIT_E_FORMAT;
	*ret = e;
	return 0;
}

/* ---- the body per type ---- */

static int val_bytes(const struct jentry *e, unsigned key, size_t min, size_t max, const uint8_t **ret,
		     size_t *ret_len)
{
	const struct jentry_val *v = &e->vals[key];

	if (!v->present || v->major != MAJ_BSTR || v->arg < min || v->arg > max)
		return WRIT_E_FORMAT;
	*ret = v->p;
	*ret_len = (size_t)v->arg;
	return 0;
}

static int val_fixed(const struct jentry *e, unsigned key, uint8_t *out, size_t n)
{
	const uint8_t *p;
	size_t len;

	if (val_bytes(e, key, n, n, &p, &len) < 0)
		return WRIT_E_FORMAT;
	memcpy(out, p, n);
	return 0;
}

static int val_uint(const struct jentry *e, unsigned key, uint64_t max, uint64_t *ret)
{
	const struct jentry_val *v = &e->vals[key];

	if (!v->present || v->major != MAJ_UINT || v->arg > max)
		return WRIT_E_FORMAT;
	*ret = v->arg;
	return 0;
}

/* A text string of 1..cap-1 bytes without NUL, NUL-terminated into out; the caller
 * checks the character set. */
static int val_text(const struct jentry *e, unsigned key, char *out, size_t cap)
{
	const struct jentry_val *v = &e->vals[key];

	if (!v->present || v->major != MAJ_TSTR || v->arg == 0 || v->arg >= cap || memchr(v->p, 0, (size_t)v->arg))
		return WRIT_E_FORMAT;
	memcpy(out, v->p, (size_t)v->arg);
	out[v->arg] = 0;
	return 0;
}

/* 1 if the body holds exactly the keys in mask (bit k = key k). */
static int keys_are(const struct jentry *e, unsigned mask)
{
	unsigned k, have = 0;

	for (k = 1; k <= JENTRY_BODY_KEY_MAX; k++)
		if (e->vals[k].present)
			have |= 1u << k;
	return have == mask;
}

#define K(k) (1u << (k))

static int printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return 0;
	return 1;
}

static int decode_dac(const struct jentry *e, struct jentry_dac *d)
{
	const uint8_t *uid;

	if (!keys_are(e, K(1) | K(2) | K(3) | K(4) | K(5) | K(6) | K(7)) &&
	    (e->type == JT_REISSUE || !keys_are(e, K(1) | K(2) | K(3) | K(4) | K(5) | K(6))))
		return WRIT_E_FORMAT;
	if (val_fixed(e, 1, d->writ_id, WRIT_ID_LEN) < 0 || val_uint(e, 2, UINT64_MAX, &d->index) < 0 ||
	    val_bytes(e, 3, 1, JENTRY_UID_MAX, &uid, &d->uid_len) < 0 ||
	    val_uint(e, 4, UINT64_MAX, &d->device_serial) < 0 ||
	    val_fixed(e, 5, d->dac_serial, JENTRY_SERIAL_LEN) < 0 || val_fixed(e, 6, d->dac_sha256, 32) < 0)
		return WRIT_E_FORMAT;
	memcpy(d->uid, uid, d->uid_len);
	d->has_key = e->vals[7].present;
	if (d->has_key && val_fixed(e, 7, d->key_sha256, 32) < 0)
		return WRIT_E_FORMAT;
	return 0;
}

int jentry_body_decode(const struct jentry *e, struct jentry_body *ret)
{
	struct jentry_body b;
	uint64_t tol;
	int err = WRIT_E_FORMAT;

	memset(&b, 0, sizeof(b));
	b.type = e->type;
	switch (e->type) {
	case JT_GENESIS: {
		struct jentry_genesis *g = &b.u.genesis;
		unsigned gk = K(1) | K(2) | K(3) | K(4) | K(5) | K(6) | K(7) | K(8);
		uint64_t nv = 0;
		char kex[8];
		/* 9+10: the TPM rollback anchor; 11: "tpm" when the key-agreement key is a TPM key */
		if ((!keys_are(e, gk) && !keys_are(e, gk | K(9) | K(10)) && !keys_are(e, gk | K(11)) &&
		     !keys_are(e, gk | K(9) | K(10) | K(11))) ||
		    (e->vals[11].present && (val_text(e, 11, kex, sizeof(kex)) < 0 || strcmp(kex, "tpm"))) ||
		    (e->vals[9].present && (val_uint(e, 9, 0xffffffffu, &nv) < 0 || nv == 0 ||
					    val_uint(e, 10, UINT64_MAX, &g->anchor_base) < 0)) ||
		    val_fixed(e, 1, g->hsm_id, sizeof(g->hsm_id)) < 0 ||
		    val_text(e, 2, g->factory, sizeof(g->factory)) < 0 || !writ_name_valid(g->factory) ||
		    val_fixed(e, 3, g->identity_pub, WRIT_P256_PUB_LEN) < 0 ||
		    val_fixed(e, 4, g->kex_pub, WRIT_P256_PUB_LEN) < 0 ||
		    val_fixed(e, 5, g->pai_pub, WRIT_P256_PUB_LEN) < 0 ||
		    val_fixed(e, 6, g->oem_pub, WRIT_P256_PUB_LEN) < 0 ||
		    val_fixed(e, 7, g->serial_prefix, sizeof(g->serial_prefix)) < 0 || (g->serial_prefix[0] & 0x80) ||
		    val_uint(e, 8, 86400, &tol) < 0)
			goto out;
		g->tolerance = (uint32_t)tol;
		g->anchor_nv = (uint32_t)nv;
		g->kex_tpm = e->vals[11].present;
		break;
	}
	case JT_START: {
		/* 2..5: the TPM clock anchor (TPM clock ms, resetCount, restartCount, host time) */
		uint64_t v;
		if ((!keys_are(e, K(1)) && !keys_are(e, K(1) | K(2) | K(3) | K(4) | K(5))) ||
		    val_text(e, 1, b.u.start.version, sizeof(b.u.start.version)) < 0 || !printable(b.u.start.version) ||
		    (e->vals[2].present &&
		     (val_uint(e, 2, UINT64_MAX, &v) < 0 || val_uint(e, 3, UINT32_MAX, &v) < 0 ||
		      val_uint(e, 4, UINT32_MAX, &v) < 0 || val_uint(e, 5, INT64_MAX, &v) < 0)))
			goto out;
		break;
	}
	case JT_WRIT: {
		struct jentry_writ *w = &b.u.writ;
		w->sealed = e->vals[3].present;
		if (!keys_are(e, K(1) | K(w->sealed ? 3 : 2)) || val_fixed(e, 1, w->id, WRIT_ID_LEN) < 0 ||
		    val_bytes(e, w->sealed ? 3 : 2, 1, WRIT_MAX_SEALED, &w->msg, &w->len) < 0)
			goto out;
		break;
	}
	case JT_DAC:
	case JT_REISSUE:
		if (decode_dac(e, &b.u.dac) < 0)
			goto out;
		break;
	case JT_CHECKPOINT:
		if (!keys_are(e, K(1)) || val_fixed(e, 1, b.u.checkpoint.sig, WRIT_P256_SIG_LEN) < 0)
			goto out;
		break;
	case JT_WRAP: {
		struct jentry_wrap *w = &b.u.wrap;
		if (!keys_are(e, K(1) | K(2) | K(3) | K(4) | K(5)) || val_fixed(e, 1, w->writ_id, WRIT_ID_LEN) < 0 ||
		    val_fixed(e, 2, w->uid, JENTRY_WRAP_UID_LEN) < 0 || val_text(e, 3, w->label, sizeof(w->label)) < 0 ||
		    !writ_secret_label_valid(w->label, strlen(w->label)) || val_fixed(e, 4, w->dac_sha256, 32) < 0 ||
		    val_fixed(e, 5, w->enc_pub_sha256, 32) < 0)
			goto out;
		break;
	}
	case JT_REPROVISION: {
		struct jentry_reprovision *r = &b.u.reprovision;
		const uint8_t *uid;
		if (!keys_are(e, K(1) | K(2) | K(3) | K(4) | K(5) | K(6) | K(7)) ||
		    val_fixed(e, 1, r->writ_id, WRIT_ID_LEN) < 0 || val_fixed(e, 2, r->orig_writ_id, WRIT_ID_LEN) < 0 ||
		    val_bytes(e, 3, 1, JENTRY_UID_MAX, &uid, &r->uid_len) < 0 ||
		    val_uint(e, 4, UINT64_MAX, &r->device_serial) < 0 ||
		    val_fixed(e, 5, r->dac_serial, JENTRY_SERIAL_LEN) < 0 || val_fixed(e, 6, r->dac_sha256, 32) < 0 ||
		    val_fixed(e, 7, r->key_sha256, 32) < 0)
			goto out;
		memcpy(r->uid, uid, r->uid_len);
		break;
	}
	case JT_DEBUG: {
		struct jentry_debug *d = &b.u.debug;
		uint64_t session, op, na;
		if (!keys_are(e, K(1) | K(2) | K(3) | K(4) | K(5) | K(6) | K(7)) ||
		    val_fixed(e, 1, d->writ_id, WRIT_ID_LEN) < 0 || val_fixed(e, 2, d->uid, JENTRY_WRAP_UID_LEN) < 0 ||
		    val_fixed(e, 3, d->perms, sizeof(d->perms)) < 0 || val_uint(e, 4, 86400, &session) < 0 ||
		    session < 1 || val_uint(e, 5, 3, &op) < 0 || op < 1 || val_uint(e, 6, INT64_MAX, &na) < 0 ||
		    val_fixed(e, 7, d->token_sha256, 32) < 0)
			goto out;
		d->session = (uint32_t)session;
		d->operation = (uint32_t)op;
		d->not_after = (int64_t)na;
		break;
	}
	default:
		goto out;
	}
	*ret = b;
	err = 0;
out:
	return err;
}

/* ---- writing ---- */

struct wr {
	uint8_t *p; /* NULL: only count */
	size_t len;
};

static void put(struct wr *w, const void *p, size_t n)
{
	if (w->p && n)
		memcpy(w->p + w->len, p, n);
	w->len += n;
}

static void put_head(struct wr *w, unsigned major, uint64_t arg)
{
	uint8_t h[CBOR_HEAD_MAX];

	put(w, h, cbor_head_encode(h, major, arg));
}

/* The body's pairs in ascending key order (idx[0..n)), after checking every key and
 * value is one the reader takes. */
static int body_order(const cbor_item_t *body, size_t idx[JENTRY_BODY_KEY_MAX], size_t *ret_n)
{
	struct cbor_pair *p;
	size_t n, i, j;

	if (!body || !cbor_isa_map(body) || !cbor_map_is_definite(body))
		return WRIT_E_INVAL;
	n = cbor_map_size(body);
	if (n > JENTRY_BODY_KEY_MAX)
		return WRIT_E_INVAL;
	p = cbor_map_handle(body);
	for (i = 0; i < n; i++) {
		const cbor_item_t *k = p[i].key, *v = p[i].value;
		uint64_t key;
		if (cbor_typeof(k) != CBOR_TYPE_UINT || (key = cbor_get_int(k)) < 1 || key > JENTRY_BODY_KEY_MAX)
			return WRIT_E_INVAL;
		switch (cbor_typeof(v)) {
		case CBOR_TYPE_UINT:
		case CBOR_TYPE_NEGINT:
			break;
		case CBOR_TYPE_BYTESTRING:
			if (!cbor_bytestring_is_definite(v))
				return WRIT_E_INVAL;
			break;
		case CBOR_TYPE_STRING:
			if (!cbor_string_is_definite(v))
				return WRIT_E_INVAL;
			break;
		default:
			return WRIT_E_INVAL;
		}
		/* insertion sort by key; equal keys are refused */
		for (j = i; j > 0; j--) {
			uint64_t other = cbor_get_int(p[idx[j - 1]].key);
			if (other == key)
				return WRIT_E_INVAL;
			if (other < key)
				break;
			idx[j] = idx[j - 1];
		}
		idx[j] = i;
	}
	*ret_n = n;
	return 0;
}

static void put_entry(struct wr *w, uint64_t seq, const uint8_t prev[32], int64_t time, uint32_t type,
		      const cbor_item_t *body, const size_t *idx, size_t n)
{
	struct cbor_pair *p = cbor_map_handle(body);
	size_t i;

	put_head(w, MAJ_MAP, 5);
	put_head(w, MAJ_UINT, 1);
	put_head(w, MAJ_UINT, seq);
	put_head(w, MAJ_UINT, 2);
	put_head(w, MAJ_BSTR, 32);
	put(w, prev, 32);
	put_head(w, MAJ_UINT, 3);
	if (time >= 0)
		put_head(w, MAJ_UINT, (uint64_t)time);
	else
		put_head(w, MAJ_NINT, (uint64_t)(-(time + 1)));
	put_head(w, MAJ_UINT, 4);
	put_head(w, MAJ_UINT, type);
	put_head(w, MAJ_UINT, 5);
	put_head(w, MAJ_MAP, n);
	for (i = 0; i < n; i++) {
		const cbor_item_t *v = p[idx[i]].value;
		put_head(w, MAJ_UINT, cbor_get_int(p[idx[i]].key));
		switch (cbor_typeof(v)) {
		case CBOR_TYPE_UINT:
			put_head(w, MAJ_UINT, cbor_get_int(v));
			break;
		case CBOR_TYPE_NEGINT:
			put_head(w, MAJ_NINT, cbor_get_int(v));
			break;
		case CBOR_TYPE_BYTESTRING:
			put_head(w, MAJ_BSTR, cbor_bytestring_length(v));
			put(w, cbor_bytestring_handle(v), cbor_bytestring_length(v));
			break;
		default: /* CBOR_TYPE_STRING, as body_order checked */
			put_head(w, MAJ_TSTR, cbor_string_length(v));
			put(w, cbor_string_handle(v), cbor_string_length(v));
			break;
		}
	}
}

int jentry_encode(uint64_t seq, const uint8_t prev[32], int64_t time, uint32_t type, const cbor_item_t *body,
		  uint8_t **ret, size_t *ret_len)
{
	size_t idx[JENTRY_BODY_KEY_MAX], n = 0;
	struct wr w = { NULL, 0 };
	int err;

	if (type < JT_GENESIS || type > JT_REPROVISION || (seq == 0) != (type == JT_GENESIS))
		return WRIT_E_INVAL;
	err = body_order(body, idx, &n);
	if (err < 0)
		return err;
	put_entry(&w, seq, prev, time, type, body, idx, n); /* measure */
	if (w.len > JOURNAL_MAX_ENTRY)
		return WRIT_E_TOOBIG;
	w.p = malloc(w.len);
	if (!w.p)
		return WRIT_E_NOMEM;
	*ret_len = w.len;
	w.len = 0;
	put_entry(&w, seq, prev, time, type, body, idx, n);
	*ret = w.p;
	return 0;
}
