/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The writ scope codec and the seal/open layering around it. The scope is small, fixed
 * in shape and security-critical, so it is written and read by a tiny bounded CBOR
 * codec of our own rather than a general one: the encoder emits exactly one canonical
 * form (RFC 8949 §4.2.1: shortest heads, definite lengths, integer keys ascending), and
 * the decoder accepts exactly that form and nothing else, reading straight from the
 * input with no allocation. Sealing signs the encoded scope into a COSE_Sign1 and
 * encrypts that to the edge HSM; opening undoes it in the opposite order and checks
 * that the writ was signed by, and names, the pinned issuer key.
 */
#include "wire/writ.h"
#include "base/cborh.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/ct.h"
#include "crypto/cose.h"
#include "crypto/ec.h"
#include "wire/dbgcred.h"

/* Upper bound of an encoded scope: a valid one is at most 2472 bytes (every field at
 * its maximum, four secrets of 32-byte labels and 64-byte values included, see
 * docs/writ-format.md); the buffer is rounded up from there. */
#define WRIT_SCOPE_ENC_MAX 5120 /* + rework rights: 2 certificates, 64 UIDs (about 1.6 KiB) */
#define WRIT_N_KEYS 19                                      /* required keys 1..19 */
#define WRIT_ALL_KEYS (((uint32_t)1 << (WRIT_N_KEYS + 1)) - 2) /* bits 1..19 */
#define WRIT_KEY_MAX WRIT_K_REWORK                          /* 20, 21 are optional */

enum {
	CBOR_UINT = 0,
	CBOR_NINT = 1,
	CBOR_BSTR = 2,
	CBOR_TSTR = 3,
	CBOR_ARRAY = 4,
	CBOR_MAP = 5,
};

/* ---- semantic validation, shared by encode and decode ---- */

static bool name_ok(const char *s, size_t n)
{
	size_t i;

	if (n < 1 || n > WRIT_NAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static bool cstr_name_ok(const char *s)
{
	/* the struct field is WRIT_NAME_MAX + 1 bytes and must hold a terminator */
	size_t n = strnlen(s, WRIT_NAME_MAX + 1);

	return n <= WRIT_NAME_MAX && name_ok(s, n);
}

int writ_name_valid(const char *s)
{
	return s && cstr_name_ok(s);
}

int writ_secret_label_valid(const char *label, size_t len)
{
	size_t i;

	if (!label || len < 1 || len > WRIT_SECRET_LABEL_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		char c = label[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return 0;
	}
	return 1;
}

void writ_scope_wipe(struct writ_scope *s)
{
	if (s)
		writ_memzero(s, sizeof(*s));
}

const struct writ_secret *writ_scope_secret(const struct writ_scope *s, const char *label, size_t len)
{
	size_t i;

	if (!s || !label)
		return NULL;
	for (i = 0; i < s->n_secrets && i < WRIT_MAX_SECRETS; i++) {
		const struct writ_secret *x = &s->secrets[i];
		if (strnlen(x->label, sizeof(x->label)) == len && memcmp(x->label, label, len) == 0)
			return x;
	}
	return NULL;
}

/* Secrets: 0..4, labels valid, NUL-terminated and unique, values 16..64 bytes. */
static bool secrets_valid(const struct writ_scope *s)
{
	size_t i, k, n;

	if (s->n_secrets > WRIT_MAX_SECRETS)
		return false;
	for (i = 0; i < s->n_secrets; i++) {
		const struct writ_secret *x = &s->secrets[i];
		n = strnlen(x->label, sizeof(x->label));
		if (n > WRIT_SECRET_LABEL_MAX || !writ_secret_label_valid(x->label, n))
			return false;
		if (x->value_len < WRIT_SECRET_MIN || x->value_len > WRIT_SECRET_MAX)
			return false;
		for (k = 0; k < i; k++)
			if (strcmp(s->secrets[k].label, x->label) == 0)
				return false;
	}
	return true;
}

/* Rework rights: bounded, and a chain that certifies, for this product and this HSM, at
 * least what the rights grant: the intermediate (if any) first, the delegate last, one
 * key generation, the rights' mask and window inside every certificate's. Signatures
 * are the chip's to check (it holds the root's hash); the writ's signature vouches for
 * the chain to the HSM. */
static bool rework_valid(const struct writ_scope *s)
{
	const struct writ_rework *w = &s->rework;
	size_t i, k;

	if (!w->present)
		return !(s->ops & WRIT_OP_DEBUG_UNLOCK);
	if (!(s->ops & WRIT_OP_DEBUG_UNLOCK) || dbg_is_zero(w->perms, sizeof(w->perms)))
		return false;
	if (w->not_before >= w->not_after || w->not_before < 0)
		return false;
	if (w->limit < 1 || w->limit > WRIT_REWORK_LIMIT_MAX || w->session_max < 1 ||
	    w->session_max > WDP_DBG_SESSION_MAX)
		return false;
	if (w->n_chain < 1 || w->n_chain > WRIT_DBG_CHAIN_MAX || w->n_devices > WRIT_REWORK_DEVICES_MAX)
		return false;
	for (i = 0; i < w->n_chain; i++) {
		struct dbg_cert c;
		uint8_t want = i + 1 == w->n_chain ? WDP_DBG_ROLE_DELEGATE : WDP_DBG_ROLE_INTERMEDIATE;

		if (dbg_cert_parse(w->chain[i], &c) < 0 || c.role != want || c.key_gen != w->key_gen ||
		    c.vendor_id != s->vid || (c.product_id && c.product_id != s->pid) ||
		    !dbg_perms_within(w->perms, c.perms) || (uint64_t)w->not_before < c.not_before ||
		    (uint64_t)w->not_after > c.not_after)
			return false;
		if (want == WDP_DBG_ROLE_DELEGATE && memcmp(c.hsm_id, s->hsm_id, WRIT_KEYID_LEN))
			return false;
	}
	for (i = 0; i < w->n_devices; i++) {
		if (dbg_is_zero(w->devices[i], WRIT_DBG_UID_LEN))
			return false;
		for (k = 0; k < i; k++)
			if (!memcmp(w->devices[k], w->devices[i], WRIT_DBG_UID_LEN))
				return false; /* one UID once */
	}
	return true;
}

/* The rules a scope obeys whichever side of the wire it is on. */
static bool scope_valid(const struct writ_scope *s)
{
	if (s->kind != WRIT_KIND_PRODUCTION && s->kind != WRIT_KIND_REWORK && s->kind != WRIT_KIND_REVOCATION)
		return false;
	if (!cstr_name_ok(s->product) || !cstr_name_ok(s->factory))
		return false;
	if (s->vid == 0 || s->pid == 0)
		return false;
	if (s->not_before >= s->not_after)
		return false;
	if (s->serial_first > s->serial_last)
		return false;
	/* an operation bit nobody defined is never granted, whatever the kind */
	if (s->ops & ~(uint32_t)WRIT_OPS_KNOWN)
		return false;
	if (s->pai_len > WRIT_PAI_MAX || s->n_revokes > WRIT_MAX_REVOKES)
		return false;
	if (s->kind != WRIT_KIND_REVOCATION && s->pai_len == 0)
		return false;
	if (!secrets_valid(s))
		return false;
	if (!rework_valid(s))
		return false;

	switch (s->kind) {
	case WRIT_KIND_PRODUCTION:
		/* quantity - 1 <= last - first avoids overflow of the range size */
		if (s->quantity < 1 || s->quantity - 1 > s->serial_last - s->serial_first)
			return false;
		if (!(s->ops & WRIT_OP_ISSUE_DAC))
			return false;
		break;
	case WRIT_KIND_REVOCATION:
		/* a revocation grants nothing, so it carries no secret either */
		if (s->quantity != 0 || s->n_revokes < 1 || s->n_secrets != 0 || s->rework.present)
			return false;
		break;
	case WRIT_KIND_REWORK:
		/* rework rights only: unlocks, and re-provisioning (a DAC again for a device
		 * made before, new key allowed) when ISSUE_DAC is granted; never new devices */
		if (s->quantity != 0 || !s->rework.present || s->n_secrets != 0 ||
		    (s->ops & ~(uint32_t)(WRIT_OP_DEBUG_UNLOCK | WRIT_OP_ISSUE_DAC)))
			return false;
		break;
	default:
		return false;
	}
	return true;
}

/* ---- canonical encoder into a caller-supplied bounded buffer ---- */

struct cbor_out {
	uint8_t *buf;
	size_t cap;
	size_t len;
	bool overflow;
};

static void put_bytes(struct cbor_out *w, const void *p, size_t n)
{
	if (w->overflow || n > w->cap - w->len) {
		w->overflow = true;
		return;
	}
	if (n > 0)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
}

/* A head in its shortest form (RFC 8949 §4.2.1). */
static void put_head(struct cbor_out *w, unsigned major, uint64_t arg)
{
	uint8_t h[CBOR_HEAD_MAX];

	put_bytes(w, h, cbor_head_encode(h, major, arg));
}

static void put_int(struct cbor_out *w, int64_t v)
{
	if (v >= 0)
		put_head(w, CBOR_UINT, (uint64_t)v);
	else
		put_head(w, CBOR_NINT, (uint64_t)(-(v + 1)));
}

static void put_bstr(struct cbor_out *w, const uint8_t *p, size_t n)
{
	put_head(w, CBOR_BSTR, n);
	put_bytes(w, p, n);
}

static void put_tstr(struct cbor_out *w, const char *s)
{
	size_t n = strnlen(s, WRIT_NAME_MAX + 1);

	put_head(w, CBOR_TSTR, n);
	put_bytes(w, s, n);
}

static void put_scope(struct cbor_out *w, const struct writ_scope *s)
{
	size_t i;

	put_head(w, CBOR_MAP, WRIT_N_KEYS + (s->n_secrets ? 1 : 0) + (s->rework.present ? 1 : 0));
	put_head(w, CBOR_UINT, WRIT_K_ID);
	put_bstr(w, s->id, WRIT_ID_LEN);
	put_head(w, CBOR_UINT, WRIT_K_KIND);
	put_head(w, CBOR_UINT, s->kind);
	put_head(w, CBOR_UINT, WRIT_K_ISSUER);
	put_bstr(w, s->issuer_kid, WRIT_KEYID_LEN);
	put_head(w, CBOR_UINT, WRIT_K_PRODUCT);
	put_tstr(w, s->product);
	put_head(w, CBOR_UINT, WRIT_K_VID);
	put_head(w, CBOR_UINT, s->vid);
	put_head(w, CBOR_UINT, WRIT_K_PID);
	put_head(w, CBOR_UINT, s->pid);
	put_head(w, CBOR_UINT, WRIT_K_VERSION);
	put_bstr(w, s->version_digest, WRIT_DIGEST_LEN);
	put_head(w, CBOR_UINT, WRIT_K_FACTORY);
	put_tstr(w, s->factory);
	put_head(w, CBOR_UINT, WRIT_K_HSM);
	put_bstr(w, s->hsm_id, WRIT_KEYID_LEN);
	put_head(w, CBOR_UINT, WRIT_K_QUANTITY);
	put_head(w, CBOR_UINT, s->quantity);
	put_head(w, CBOR_UINT, WRIT_K_SERIALS);
	put_head(w, CBOR_ARRAY, 2);
	put_head(w, CBOR_UINT, s->serial_first);
	put_head(w, CBOR_UINT, s->serial_last);
	put_head(w, CBOR_UINT, WRIT_K_NOT_BEFORE);
	put_int(w, s->not_before);
	put_head(w, CBOR_UINT, WRIT_K_NOT_AFTER);
	put_int(w, s->not_after);
	put_head(w, CBOR_UINT, WRIT_K_OPS);
	put_head(w, CBOR_UINT, s->ops);
	put_head(w, CBOR_UINT, WRIT_K_FIRMWARE);
	put_bstr(w, s->firmware_digest, WRIT_DIGEST_LEN);
	put_head(w, CBOR_UINT, WRIT_K_PAI);
	put_bstr(w, s->pai, s->pai_len);
	put_head(w, CBOR_UINT, WRIT_K_REVOKES);
	put_head(w, CBOR_ARRAY, s->n_revokes);
	for (i = 0; i < s->n_revokes; i++)
		put_bstr(w, s->revokes[i], WRIT_ID_LEN);
	put_head(w, CBOR_UINT, WRIT_K_ISSUED_AT);
	put_int(w, s->issued_at);
	put_head(w, CBOR_UINT, WRIT_K_DAC_DAYS);
	put_head(w, CBOR_UINT, s->dac_days);
	if (s->n_secrets) {
		put_head(w, CBOR_UINT, WRIT_K_SECRETS);
		put_head(w, CBOR_ARRAY, s->n_secrets);
		for (i = 0; i < s->n_secrets; i++) {
			put_head(w, CBOR_ARRAY, 2);
			put_tstr(w, s->secrets[i].label);
			put_bstr(w, s->secrets[i].value, s->secrets[i].value_len);
		}
	}
	if (s->rework.present) {
		const struct writ_rework *r = &s->rework;

		put_head(w, CBOR_UINT, WRIT_K_REWORK);
		put_head(w, CBOR_MAP, r->n_devices ? 8 : 7);
		put_head(w, CBOR_UINT, 1);
		put_bstr(w, r->perms, sizeof(r->perms));
		put_head(w, CBOR_UINT, 2);
		put_head(w, CBOR_UINT, r->key_gen);
		put_head(w, CBOR_UINT, 3);
		put_int(w, r->not_before);
		put_head(w, CBOR_UINT, 4);
		put_int(w, r->not_after);
		put_head(w, CBOR_UINT, 5);
		put_head(w, CBOR_UINT, r->limit);
		put_head(w, CBOR_UINT, 6);
		put_head(w, CBOR_UINT, r->session_max);
		put_head(w, CBOR_UINT, 7);
		put_head(w, CBOR_ARRAY, r->n_chain);
		for (i = 0; i < r->n_chain; i++)
			put_bstr(w, r->chain[i], WRIT_DBG_CERT_LEN);
		if (r->n_devices) {
			put_head(w, CBOR_UINT, 8);
			put_head(w, CBOR_ARRAY, r->n_devices);
			for (i = 0; i < r->n_devices; i++)
				put_bstr(w, r->devices[i], WRIT_DBG_UID_LEN);
		}
	}
}

int writ_scope_encode(const struct writ_scope *s, uint8_t **ret, size_t *ret_len)
{
	uint8_t tmp[WRIT_SCOPE_ENC_MAX];
	struct cbor_out w = { .buf = tmp, .cap = sizeof(tmp) };
	uint8_t *out = NULL;
	int r;

	if (!s || !ret || !ret_len)
		return WRIT_E_INVAL;
	if (!scope_valid(s))
		return WRIT_E_INVAL;

	put_scope(&w, s);
	if (w.overflow) {
		/* cannot happen for a valid scope: the bound covers every field at its max */
		r = WRIT_E_TOOBIG;
		goto fail;
	}
	out = malloc(w.len);
	if (!out) {
		r = WRIT_E_NOMEM;
		goto fail;
	}
	memcpy(out, tmp, w.len);
	*ret = out;
	*ret_len = w.len;
	r = WRIT_OK;
fail:
	writ_memzero(tmp, sizeof(tmp));
	return r;
}

/* ---- strict decoder: accepts only what put_scope emits ---- */

struct cbor_in {
	const uint8_t *p;
	size_t len;
	size_t off;
};

/* Read one head. Only majors 0-5 exist in a scope; tags, floats and simple values are
 * refused here, as are indefinite lengths, reserved additional info and any argument
 * not in its shortest form. */
static int get_head(struct cbor_in *r, unsigned *ret_major, uint64_t *ret_arg)
{
	size_t at = r->off;

	if (at < r->len && (r->p[at] >> 5) > CBOR_MAP) {
		r->off++;
		return WRIT_E_FORMAT;
	}
	return cbor_head_decode(r->p, r->len, &r->off, 0, ret_major, ret_arg) < 0 ? WRIT_E_FORMAT : WRIT_OK;
}

static int get_uint(struct cbor_in *r, uint64_t max, uint64_t *ret)
{
	unsigned major;
	uint64_t v;

	if (get_head(r, &major, &v) < 0 || major != CBOR_UINT || v > max)
		return WRIT_E_FORMAT;
	*ret = v;
	return WRIT_OK;
}

static int get_int(struct cbor_in *r, int64_t *ret)
{
	unsigned major;
	uint64_t v;

	if (get_head(r, &major, &v) < 0 || (major != CBOR_UINT && major != CBOR_NINT) ||
	    v > (uint64_t)INT64_MAX)
		return WRIT_E_FORMAT;
	*ret = major == CBOR_UINT ? (int64_t)v : -1 - (int64_t)v;
	return WRIT_OK;
}

/* A string of the given major whose length is min..max; *ret_p points into the input. */
static int get_string(struct cbor_in *r, unsigned want, size_t min, size_t max, const uint8_t **ret_p,
		      size_t *ret_n)
{
	unsigned major;
	uint64_t n;

	if (get_head(r, &major, &n) < 0 || major != want || n < min || n > max || n > r->len - r->off)
		return WRIT_E_FORMAT;
	*ret_p = r->p + r->off;
	*ret_n = (size_t)n;
	r->off += (size_t)n;
	return WRIT_OK;
}

static int get_bstr_exact(struct cbor_in *r, uint8_t *out, size_t n)
{
	const uint8_t *p;
	size_t got;

	if (get_string(r, CBOR_BSTR, n, n, &p, &got) < 0)
		return WRIT_E_FORMAT;
	memcpy(out, p, n);
	return WRIT_OK;
}

static int get_name(struct cbor_in *r, char out[WRIT_NAME_MAX + 1])
{
	const uint8_t *p;
	size_t n;

	if (get_string(r, CBOR_TSTR, 1, WRIT_NAME_MAX, &p, &n) < 0)
		return WRIT_E_FORMAT;
	/* checked on the raw bytes, so an embedded NUL cannot shorten the name */
	if (!name_ok((const char *)p, n))
		return WRIT_E_FORMAT;
	memcpy(out, p, n);
	out[n] = '\0';
	return WRIT_OK;
}

static int get_array_head(struct cbor_in *r, uint64_t min, uint64_t max, size_t *ret_n)
{
	unsigned major;
	uint64_t n;

	if (get_head(r, &major, &n) < 0 || major != CBOR_ARRAY || n < min || n > max)
		return WRIT_E_FORMAT;
	*ret_n = (size_t)n;
	return WRIT_OK;
}

/* Key 21: a map with keys 1..7 required in order, 8 (devices) only when non-empty. */
static int get_rework(struct cbor_in *r, struct writ_rework *w)
{
	unsigned major;
	uint64_t count, key, v;
	size_t n, i;

	if (get_head(r, &major, &count) < 0 || major != CBOR_MAP || (count != 7 && count != 8))
		return WRIT_E_FORMAT;
	for (key = 1; key <= count; key++) {
		uint64_t k;

		if (get_uint(r, 8, &k) < 0 || k != key)
			return WRIT_E_FORMAT;
		switch (key) {
		case 1:
			if (get_bstr_exact(r, w->perms, sizeof(w->perms)) < 0)
				return WRIT_E_FORMAT;
			break;
		case 2:
		case 5:
		case 6:
			if (get_uint(r, UINT32_MAX, &v) < 0)
				return WRIT_E_FORMAT;
			if (key == 2)
				w->key_gen = (uint32_t)v;
			else if (key == 5)
				w->limit = (uint32_t)v;
			else
				w->session_max = (uint32_t)v;
			break;
		case 3:
		case 4:
			if (get_int(r, key == 3 ? &w->not_before : &w->not_after) < 0)
				return WRIT_E_FORMAT;
			break;
		case 7:
			if (get_array_head(r, 1, WRIT_DBG_CHAIN_MAX, &n) < 0)
				return WRIT_E_FORMAT;
			for (i = 0; i < n; i++)
				if (get_bstr_exact(r, w->chain[i], WRIT_DBG_CERT_LEN) < 0)
					return WRIT_E_FORMAT;
			w->n_chain = n;
			break;
		default: /* 8 */
			if (get_array_head(r, 1, WRIT_REWORK_DEVICES_MAX, &n) < 0)
				return WRIT_E_FORMAT;
			for (i = 0; i < n; i++)
				if (get_bstr_exact(r, w->devices[i], WRIT_DBG_UID_LEN) < 0)
					return WRIT_E_FORMAT;
			w->n_devices = n;
			break;
		}
	}
	w->present = 1;
	return WRIT_OK;
}

static int get_value(struct cbor_in *r, unsigned key, struct writ_scope *s)
{
	const uint8_t *p;
	uint64_t v;
	size_t n, i;

	switch (key) {
	case WRIT_K_ID:
		return get_bstr_exact(r, s->id, WRIT_ID_LEN);
	case WRIT_K_KIND:
		if (get_uint(r, UINT32_MAX, &v) < 0)
			return WRIT_E_FORMAT;
		s->kind = (uint32_t)v;
		return WRIT_OK;
	case WRIT_K_ISSUER:
		return get_bstr_exact(r, s->issuer_kid, WRIT_KEYID_LEN);
	case WRIT_K_PRODUCT:
		return get_name(r, s->product);
	case WRIT_K_VID:
	case WRIT_K_PID:
		if (get_uint(r, UINT16_MAX, &v) < 0)
			return WRIT_E_FORMAT;
		if (key == WRIT_K_VID)
			s->vid = (uint16_t)v;
		else
			s->pid = (uint16_t)v;
		return WRIT_OK;
	case WRIT_K_VERSION:
		return get_bstr_exact(r, s->version_digest, WRIT_DIGEST_LEN);
	case WRIT_K_FACTORY:
		return get_name(r, s->factory);
	case WRIT_K_HSM:
		return get_bstr_exact(r, s->hsm_id, WRIT_KEYID_LEN);
	case WRIT_K_QUANTITY:
		return get_uint(r, UINT64_MAX, &s->quantity);
	case WRIT_K_SERIALS:
		if (get_array_head(r, 2, 2, &n) < 0 || get_uint(r, UINT64_MAX, &s->serial_first) < 0 ||
		    get_uint(r, UINT64_MAX, &s->serial_last) < 0)
			return WRIT_E_FORMAT;
		return WRIT_OK;
	case WRIT_K_NOT_BEFORE:
		return get_int(r, &s->not_before);
	case WRIT_K_NOT_AFTER:
		return get_int(r, &s->not_after);
	case WRIT_K_OPS:
		if (get_uint(r, UINT32_MAX, &v) < 0)
			return WRIT_E_FORMAT;
		s->ops = (uint32_t)v;
		return WRIT_OK;
	case WRIT_K_FIRMWARE:
		return get_bstr_exact(r, s->firmware_digest, WRIT_DIGEST_LEN);
	case WRIT_K_PAI:
		if (get_string(r, CBOR_BSTR, 0, WRIT_PAI_MAX, &p, &n) < 0)
			return WRIT_E_FORMAT;
		if (n > 0)
			memcpy(s->pai, p, n);
		s->pai_len = n;
		return WRIT_OK;
	case WRIT_K_REVOKES:
		if (get_array_head(r, 0, WRIT_MAX_REVOKES, &n) < 0)
			return WRIT_E_FORMAT;
		for (i = 0; i < n; i++)
			if (get_bstr_exact(r, s->revokes[i], WRIT_ID_LEN) < 0)
				return WRIT_E_FORMAT;
		s->n_revokes = n;
		return WRIT_OK;
	case WRIT_K_ISSUED_AT:
		return get_int(r, &s->issued_at);
	case WRIT_K_DAC_DAYS:
		if (get_uint(r, UINT32_MAX, &v) < 0)
			return WRIT_E_FORMAT;
		s->dac_days = (uint32_t)v;
		return WRIT_OK;
	case WRIT_K_SECRETS:
		/* present only when there is at least one: an empty list would give one
		 * meaning two encodings */
		if (get_array_head(r, 1, WRIT_MAX_SECRETS, &n) < 0)
			return WRIT_E_FORMAT;
		for (i = 0; i < n; i++) {
			struct writ_secret *x = &s->secrets[i];
			size_t k, m;
			if (get_array_head(r, 2, 2, &m) < 0 ||
			    get_string(r, CBOR_TSTR, 1, WRIT_SECRET_LABEL_MAX, &p, &m) < 0 ||
			    !writ_secret_label_valid((const char *)p, m))
				return WRIT_E_FORMAT;
			memcpy(x->label, p, m);
			x->label[m] = '\0';
			for (k = 0; k < i; k++)
				if (strcmp(s->secrets[k].label, x->label) == 0)
					return WRIT_E_FORMAT; /* duplicate label */
			if (get_string(r, CBOR_BSTR, WRIT_SECRET_MIN, WRIT_SECRET_MAX, &p, &m) < 0)
				return WRIT_E_FORMAT;
			memcpy(x->value, p, m);
			x->value_len = m;
		}
		s->n_secrets = n;
		return WRIT_OK;
	case WRIT_K_REWORK:
		return get_rework(r, &s->rework);
	default:
		return WRIT_E_FORMAT;
	}
}

int writ_scope_decode(const uint8_t *cbor, size_t len, struct writ_scope *ret)
{
	struct cbor_in r = { .p = cbor, .len = len };
	struct writ_scope s;
	uint32_t seen = 0;
	uint64_t key, prev = 0, count, i;
	unsigned major;
	int rc = WRIT_E_FORMAT;

	if (!cbor || !ret)
		return WRIT_E_INVAL;
	memset(&s, 0, sizeof(s));
	if (len > WRIT_SCOPE_ENC_MAX)
		goto fail;

	/* keys 1..19 are required, 20 (secrets) and 21 (rework rights) optional, none may
	 * repeat: the count is exact */
	if (get_head(&r, &major, &count) < 0 || major != CBOR_MAP || count < WRIT_N_KEYS || count > WRIT_N_KEYS + 2)
		goto fail;
	for (i = 0; i < count; i++) {
		/* unknown keys (including negative or text keys) are refused, never skipped */
		if (get_uint(&r, WRIT_KEY_MAX, &key) < 0 || key == 0)
			goto fail;
		if (seen & (uint32_t)1 << key)
			goto fail; /* duplicate */
		/* canonical order: one byte string per scope, so one signature per meaning */
		if (key <= prev)
			goto fail;
		seen |= (uint32_t)1 << key;
		prev = key;
		if (get_value(&r, (unsigned)key, &s) < 0)
			goto fail;
	}
	if ((seen & WRIT_ALL_KEYS) != WRIT_ALL_KEYS || r.off != r.len)
		goto fail;
	if (!scope_valid(&s))
		goto fail;

	memcpy(ret, &s, sizeof(s));
	rc = WRIT_OK;
fail:
	writ_memzero(&s, sizeof(s));
	return rc;
}

/* ---- sealing and opening ---- */

static void wipe_free(uint8_t *p, size_t n)
{
	if (p) {
		writ_memzero(p, n);
		free(p);
	}
}

int writ_seal(const struct writ_scope *s, const struct writ_signer *issuer,
	      const uint8_t hsm_kex_pub[WRIT_P256_PUB_LEN], uint8_t **ret, size_t *ret_len)
{
	struct writ_scope copy;
	uint8_t kid[WRIT_KEYID_LEN];
	uint8_t *enc = NULL, *sig = NULL, *out = NULL;
	size_t enc_len = 0, sig_len = 0, out_len = 0;
	int r;

	if (!s || !issuer || !issuer->sign || !hsm_kex_pub || !ret || !ret_len)
		return WRIT_E_INVAL;

	memcpy(&copy, s, sizeof(copy));
	r = ec_keyid(issuer->pub, kid);
	if (r < 0)
		goto fail;
	memcpy(copy.issuer_kid, kid, sizeof(kid));

	r = writ_scope_encode(&copy, &enc, &enc_len);
	if (r < 0)
		goto fail;
	r = cose_sign1_sign(issuer, kid, enc, enc_len, &sig, &sig_len);
	if (r < 0)
		goto fail;
	r = cose_encrypt_ecdhes(hsm_kex_pub, sig, sig_len, &out, &out_len);
	if (r < 0)
		goto fail;
	if (out_len > WRIT_MAX_SEALED) {
		/* writ_open would refuse it; do not hand out what cannot be opened */
		r = WRIT_E_TOOBIG;
		goto fail;
	}

	*ret = out;
	*ret_len = out_len;
	out = NULL;
	r = WRIT_OK;
fail:
	free(out);
	wipe_free(sig, sig_len);
	wipe_free(enc, enc_len);
	writ_memzero(&copy, sizeof(copy));
	return r;
}

int writ_verify_signed(const uint8_t *signed_msg, size_t len, const uint8_t pinned_pub[WRIT_P256_PUB_LEN],
		       struct writ_scope *ret)
{
	struct writ_scope s;
	uint8_t pinned_kid[WRIT_KEYID_LEN], kid[WRIT_KEYID_LEN];
	uint8_t *payload = NULL;
	size_t payload_len = 0;
	int r;

	if (!signed_msg || !pinned_pub || !ret)
		return WRIT_E_INVAL;
	memset(&s, 0, sizeof(s));
	if (len > WRIT_MAX_SEALED) {
		r = WRIT_E_TOOBIG;
		goto fail;
	}

	r = ec_keyid(pinned_pub, pinned_kid);
	if (r < 0)
		goto fail;
	r = cose_sign1_kid(signed_msg, len, kid);
	if (r < 0)
		goto fail;
	/* signed by an unpinned key: refuse before spending a verification on it */
	if (!writ_ct_memeq(kid, pinned_kid, sizeof(kid))) {
		r = WRIT_E_BADSIG;
		goto fail;
	}
	r = cose_sign1_verify(signed_msg, len, pinned_pub, &payload, &payload_len);
	if (r < 0)
		goto fail;
	r = writ_scope_decode(payload, payload_len, &s);
	if (r < 0)
		goto fail;
	/* the scope names its signer too, so a payload lifted into another key's Sign1
	 * does not pass as that key's writ */
	if (!writ_ct_memeq(s.issuer_kid, pinned_kid, sizeof(pinned_kid))) {
		r = WRIT_E_BADSIG;
		goto fail;
	}

	memcpy(ret, &s, sizeof(s));
	r = WRIT_OK;
fail:
	wipe_free(payload, payload_len);
	writ_memzero(&s, sizeof(s));
	return r;
}

int writ_open(const uint8_t *in, size_t len, const struct writ_ecdh *kex,
	      const uint8_t pinned_pub[WRIT_P256_PUB_LEN], struct writ_scope *ret, uint8_t **ret_signed,
	      size_t *ret_signed_len)
{
	struct writ_scope s;
	uint8_t *pt = NULL;
	size_t pt_len = 0;
	int r;

	if (!in || !kex || !kex->derive || !pinned_pub || !ret || (ret_signed && !ret_signed_len))
		return WRIT_E_INVAL;
	memset(&s, 0, sizeof(s));
	if (len > WRIT_MAX_SEALED) {
		r = WRIT_E_TOOBIG;
		goto fail;
	}

	r = cose_decrypt_ecdhes(kex, in, len, &pt, &pt_len);
	/* addressed to another key-agreement key: to this HSM it is simply undecryptable */
	if (r == WRIT_E_NOTFOUND)
		r = WRIT_E_DECRYPT;
	if (r < 0)
		goto fail;
	r = writ_verify_signed(pt, pt_len, pinned_pub, &s);
	if (r < 0)
		goto fail;

	memcpy(ret, &s, sizeof(s));
	if (ret_signed) {
		*ret_signed = pt;
		*ret_signed_len = pt_len;
		pt = NULL;
	}
	r = WRIT_OK;
fail:
	wipe_free(pt, pt_len);
	writ_memzero(&s, sizeof(s));
	return r;
}
