/* SPDX-License-Identifier: Apache-2.0 */
/*
 * COSE_Sign1 (ES256) and COSE_Encrypt (ECDH-ES + HKDF-256, A256GCM) for writ, per RFC
 * 9052/9053. CBOR is written and read by a tiny bounded codec in this file rather than
 * libcbor: writ's COSE objects have one fixed shape, and a reader that only knows that
 * shape can reject everything else (indefinite lengths, non-shortest heads, floats and
 * simple values, unknown or duplicate header labels, trailing bytes) without building a
 * tree on the heap. The reader never recurses and never allocates; every length it
 * takes from the input is checked against the bytes that remain before it is used.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "base/ct.h"
#include "crypto/cose.h"
#include "base/cborh.h"
#include "crypto/ec.h"

#define COSE_TAG_SIGN1 18
#define COSE_TAG_ENCRYPT 96

#define COSE_HDR_ALG 1
#define COSE_HDR_KID 4
#define COSE_HDR_IV 5
#define COSE_HDR_EPK (-1)

#define COSE_KEY_KTY 1
#define COSE_KEY_CRV (-1)
#define COSE_KEY_X (-2)
#define COSE_KEY_Y (-3)
#define COSE_KTY_EC2 2
#define COSE_CRV_P256 1

#define COSE_ALG_ES256 (-7)
#define COSE_ALG_ECDH_ES_HKDF_256 (-25)
#define COSE_ALG_A256GCM 3

#define GCM_IV_LEN 12
#define GCM_TAG_LEN 16
#define CEK_LEN 32

/* Upper bounds of everything but the payload / ciphertext in the objects we write. */
#define SIGN1_OVERHEAD 128
#define ENCRYPT_OVERHEAD 256

enum {
	CBOR_UINT = 0,
	CBOR_NINT = 1,
	CBOR_BSTR = 2,
	CBOR_TSTR = 3,
	CBOR_ARRAY = 4,
	CBOR_MAP = 5,
	CBOR_TAG = 6,
	CBOR_SIMPLE = 7,
};

/* Serialized headers that never vary: {1: -7} prefix, {1: 3}, {1: -25}. */
static const uint8_t body_protected_a256gcm[] = { 0xa1, 0x01, 0x03 };
static const uint8_t recipient_protected_ecdhes[] = { 0xa1, 0x01, 0x38, 0x18 };

/* ---- writer ----------------------------------------------------------------------- */

/* Writes into a buffer of fixed capacity; an overflow sets err and writes nothing more. */
struct cw {
	uint8_t *buf;
	size_t len;
	size_t cap;
	int err;
};

static void cw_put(struct cw *w, const void *data, size_t n)
{
	if (w->err || n > w->cap - w->len) {
		w->err = WRIT_E_TOOBIG;
		return;
	}
	if (n)
		memcpy(w->buf + w->len, data, n);
	w->len += n;
}

/* Shortest-form head of a data item (RFC 8949 §4.2.1). */
static void cw_head(struct cw *w, unsigned major, uint64_t val)
{
	uint8_t h[CBOR_HEAD_MAX];

	cw_put(w, h, cbor_head_encode(h, major, val));
}

static void cw_int(struct cw *w, int64_t v)
{
	if (v >= 0)
		cw_head(w, CBOR_UINT, (uint64_t)v);
	else
		cw_head(w, CBOR_NINT, (uint64_t)(-1 - v));
}

static void cw_bstr(struct cw *w, const void *data, size_t n)
{
	cw_head(w, CBOR_BSTR, n);
	cw_put(w, data, n);
}

static void cw_tstr(struct cw *w, const char *s)
{
	size_t n = strlen(s);

	cw_head(w, CBOR_TSTR, n);
	cw_put(w, s, n);
}

/* Reserve n bytes to be filled in later (a ciphertext); NULL on overflow. */
static uint8_t *cw_reserve(struct cw *w, size_t n)
{
	uint8_t *p;

	if (w->err || n > w->cap - w->len) {
		w->err = WRIT_E_TOOBIG;
		return NULL;
	}
	p = w->buf + w->len;
	w->len += n;
	return p;
}

/* ---- reader ----------------------------------------------------------------------- */

struct cr {
	const uint8_t *p;
	size_t len;
	size_t off;
};

static void cr_init(struct cr *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
}

/* One head. Only definite, shortest-form heads; reserved and indefinite forms are
 * malformed for us, as are all major-7 items (floats, simple values, break). */
static int cr_head(struct cr *r, unsigned *ret_major, uint64_t *ret_val)
{
	unsigned major, ai;
	uint64_t v;
	size_t n, i;

	if (r->off >= r->len)
		return WRIT_E_FORMAT;
	major = r->p[r->off] >> 5;
	ai = r->p[r->off] & 0x1f;
	r->off++;
	if (major == CBOR_SIMPLE)
		return WRIT_E_FORMAT;
	if (ai < 24) {
		v = ai;
	} else if (ai <= 27) {
		n = (size_t)1 << (ai - 24);
		if (r->len - r->off < n)
			return WRIT_E_FORMAT;
		v = 0;
		for (i = 0; i < n; i++)
			v = v << 8 | r->p[r->off + i];
		r->off += n;
		if ((n == 1 && v < 24) || (n == 2 && v <= 0xff) || (n == 4 && v <= 0xffff) ||
		    (n == 8 && v <= 0xffffffff))
			return WRIT_E_FORMAT; /* not the shortest form */
	} else {
		return WRIT_E_FORMAT; /* 28..30 reserved, 31 indefinite */
	}
	*ret_major = major;
	*ret_val = v;
	return 0;
}

/* A head of the given major type; its argument in *ret_val. */
static int cr_expect(struct cr *r, unsigned major, uint64_t *ret_val)
{
	unsigned m;
	uint64_t v;
	int err;

	err = cr_head(r, &m, &v);
	if (err < 0)
		return err;
	if (m != major)
		return WRIT_E_FORMAT;
	*ret_val = v;
	return 0;
}

/* The content of a string item (bstr or tstr) whose head was just read, in place. */
static int cr_string_body(struct cr *r, uint64_t n, const uint8_t **ret_p, size_t *ret_n)
{
	if (n > r->len - r->off)
		return WRIT_E_FORMAT;
	*ret_p = r->p + r->off;
	*ret_n = (size_t)n;
	r->off += (size_t)n;
	return 0;
}

static int cr_bstr(struct cr *r, const uint8_t **ret_p, size_t *ret_n)
{
	uint64_t n;
	int err;

	err = cr_expect(r, CBOR_BSTR, &n);
	if (err < 0)
		return err;
	return cr_string_body(r, n, ret_p, ret_n);
}

/* A bstr of exactly n bytes. */
static int cr_bstr_exact(struct cr *r, size_t n, const uint8_t **ret_p)
{
	const uint8_t *p;
	size_t got;
	int err;

	err = cr_bstr(r, &p, &got);
	if (err < 0)
		return err;
	if (got != n)
		return WRIT_E_FORMAT;
	*ret_p = p;
	return 0;
}

/* An integer that fits int64_t (anything larger is malformed for every field we read). */
static int cr_int_body(unsigned major, uint64_t v, int64_t *ret)
{
	if (v > (uint64_t)INT64_MAX)
		return WRIT_E_FORMAT;
	if (major == CBOR_UINT)
		*ret = (int64_t)v;
	else if (major == CBOR_NINT)
		*ret = -1 - (int64_t)v;
	else
		return WRIT_E_FORMAT;
	return 0;
}

static int cr_int(struct cr *r, int64_t *ret)
{
	unsigned m;
	uint64_t v;
	int err;

	err = cr_head(r, &m, &v);
	if (err < 0)
		return err;
	return cr_int_body(m, v, ret);
}

/* An algorithm value (int / tstr, RFC 9052 §3.1). *ret_ok is 1 if it is `want`; any
 * other int or a text name leaves the message well-formed but unsupported. */
static int cr_alg(struct cr *r, int64_t want, int *ret_ok)
{
	const uint8_t *p;
	size_t n;
	unsigned m;
	uint64_t v;
	int64_t alg;
	int err;

	err = cr_head(r, &m, &v);
	if (err < 0)
		return err;
	if (m == CBOR_TSTR) {
		err = cr_string_body(r, v, &p, &n);
		if (err < 0)
			return err;
		*ret_ok = 0;
		return 0;
	}
	err = cr_int_body(m, v, &alg);
	if (err < 0)
		return err;
	*ret_ok = alg == want;
	return 0;
}

/* A map header with exactly n entries. */
static int cr_map_n(struct cr *r, uint64_t n)
{
	uint64_t got;
	int err;

	err = cr_expect(r, CBOR_MAP, &got);
	if (err < 0)
		return err;
	return got == n ? 0 : WRIT_E_FORMAT;
}

static int cr_array_n(struct cr *r, uint64_t n)
{
	uint64_t got;
	int err;

	err = cr_expect(r, CBOR_ARRAY, &got);
	if (err < 0)
		return err;
	return got == n ? 0 : WRIT_E_FORMAT;
}

static int cr_tag(struct cr *r, uint64_t tag)
{
	uint64_t got;
	int err;

	err = cr_expect(r, CBOR_TAG, &got);
	if (err < 0)
		return err;
	return got == tag ? 0 : WRIT_E_FORMAT;
}

static int cr_end(const struct cr *r)
{
	return r->off == r->len ? 0 : WRIT_E_FORMAT;
}

/* ---- COSE_Sign1 ------------------------------------------------------------------- */

struct sign1_parts {
	const uint8_t *prot; /* serialized protected header (bstr content) */
	size_t prot_len;
	const uint8_t *kid;  /* WRIT_KEYID_LEN bytes */
	const uint8_t *payload;
	size_t payload_len;
	const uint8_t *sig;  /* WRIT_P256_SIG_LEN bytes */
};

/* Protected header: exactly {1: alg, 4: kid}, in either order. */
static int parse_sign1_protected(const uint8_t *p, size_t len, struct sign1_parts *m, int *alg_ok)
{
	struct cr r;
	int64_t label;
	int seen_alg = 0, seen_kid = 0, err;
	unsigned i;

	cr_init(&r, p, len);
	err = cr_map_n(&r, 2);
	if (err < 0)
		return err;
	for (i = 0; i < 2; i++) {
		err = cr_int(&r, &label);
		if (err < 0)
			return err;
		if (label == COSE_HDR_ALG && !seen_alg) {
			seen_alg = 1;
			err = cr_alg(&r, COSE_ALG_ES256, alg_ok);
		} else if (label == COSE_HDR_KID && !seen_kid) {
			seen_kid = 1;
			err = cr_bstr_exact(&r, WRIT_KEYID_LEN, &m->kid);
		} else {
			err = WRIT_E_FORMAT; /* duplicate or unexpected label */
		}
		if (err < 0)
			return err;
	}
	return cr_end(&r);
}

/* Structure first, algorithm second: WRIT_E_UNSUPPORTED only for a well-formed object. */
static int parse_sign1(const uint8_t *msg, size_t len, struct sign1_parts *ret)
{
	struct sign1_parts m;
	struct cr r;
	int alg_ok = 0, err;

	if (!msg)
		return WRIT_E_INVAL;
	if (len > COSE_MAX_MESSAGE)
		return WRIT_E_TOOBIG;
	memset(&m, 0, sizeof(m));
	cr_init(&r, msg, len);
	if ((err = cr_tag(&r, COSE_TAG_SIGN1)) < 0 || (err = cr_array_n(&r, 4)) < 0 ||
	    (err = cr_bstr(&r, &m.prot, &m.prot_len)) < 0)
		return err;
	err = parse_sign1_protected(m.prot, m.prot_len, &m, &alg_ok);
	if (err < 0)
		return err;
	if ((err = cr_map_n(&r, 0)) < 0 || (err = cr_bstr(&r, &m.payload, &m.payload_len)) < 0 ||
	    (err = cr_bstr_exact(&r, WRIT_P256_SIG_LEN, &m.sig)) < 0 || (err = cr_end(&r)) < 0)
		return err;
	if (!alg_ok)
		return WRIT_E_UNSUPPORTED;
	*ret = m;
	return 0;
}

int cose_sign1_tbs_digest(const uint8_t *protected_hdr, size_t protected_len, const uint8_t *payload,
			  size_t payload_len, uint8_t ret_digest[32])
{
	uint8_t head[32], tail[16], digest[32];
	struct cw w1 = { head, 0, sizeof(head), 0 };
	struct cw w2 = { tail, 0, sizeof(tail), 0 };
	EVP_MD_CTX *ctx = NULL;
	unsigned int dlen = 0;
	int err = WRIT_E_CRYPTO;

	if ((!protected_hdr && protected_len) || (!payload && payload_len) || !ret_digest)
		return WRIT_E_INVAL;
	if (protected_len > COSE_MAX_MESSAGE || payload_len > COSE_MAX_MESSAGE)
		return WRIT_E_TOOBIG;

	/* Sig_structure = ["Signature1", body_protected, external_aad = h'', payload],
	 * hashed in pieces so the payload is never copied. */
	cw_head(&w1, CBOR_ARRAY, 4);
	cw_tstr(&w1, "Signature1");
	cw_head(&w1, CBOR_BSTR, protected_len);
	cw_bstr(&w2, NULL, 0);
	cw_head(&w2, CBOR_BSTR, payload_len);
	if (w1.err || w2.err)
		return WRIT_E_CRYPTO; /* cannot happen: sizes are fixed */

	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(ctx, head, w1.len) != 1 ||
	    EVP_DigestUpdate(ctx, protected_hdr, protected_len) != 1 || EVP_DigestUpdate(ctx, tail, w2.len) != 1 ||
	    EVP_DigestUpdate(ctx, payload, payload_len) != 1 || EVP_DigestFinal_ex(ctx, digest, &dlen) != 1 ||
	    dlen != 32)
		goto fail;
	memcpy(ret_digest, digest, 32);
	err = 0;
fail:
	EVP_MD_CTX_free(ctx);
	return err;
}

int cose_sign1_sign(const struct writ_signer *signer, const uint8_t kid[WRIT_KEYID_LEN], const uint8_t *payload,
		    size_t payload_len, uint8_t **ret_msg, size_t *ret_len)
{
	uint8_t prot[64], digest[32], sig[WRIT_P256_SIG_LEN];
	struct cw p = { prot, 0, sizeof(prot), 0 };
	struct cw w = { NULL, 0, 0, 0 };
	int err;

	if (!signer || !signer->sign || !kid || (!payload && payload_len) || !ret_msg || !ret_len)
		return WRIT_E_INVAL;
	if (payload_len > COSE_MAX_MESSAGE - SIGN1_OVERHEAD)
		return WRIT_E_TOOBIG; /* the result must stay readable by cose_sign1_verify */

	cw_head(&p, CBOR_MAP, 2);
	cw_int(&p, COSE_HDR_ALG);
	cw_int(&p, COSE_ALG_ES256);
	cw_int(&p, COSE_HDR_KID);
	cw_bstr(&p, kid, WRIT_KEYID_LEN);
	if (p.err)
		return WRIT_E_CRYPTO;

	err = cose_sign1_tbs_digest(prot, p.len, payload, payload_len, digest);
	if (err < 0)
		return err;
	err = signer->sign(signer->ctx, digest, sig);
	if (err < 0)
		return err;

	w.cap = payload_len + SIGN1_OVERHEAD;
	w.buf = malloc(w.cap);
	if (!w.buf)
		return WRIT_E_NOMEM;
	cw_head(&w, CBOR_TAG, COSE_TAG_SIGN1);
	cw_head(&w, CBOR_ARRAY, 4);
	cw_bstr(&w, prot, p.len);
	cw_head(&w, CBOR_MAP, 0);
	cw_bstr(&w, payload, payload_len);
	cw_bstr(&w, sig, sizeof(sig));
	if (w.err) {
		free(w.buf);
		return WRIT_E_CRYPTO;
	}
	*ret_msg = w.buf;
	*ret_len = w.len;
	return 0;
}

int cose_sign1_kid(const uint8_t *msg, size_t len, uint8_t ret_kid[WRIT_KEYID_LEN])
{
	struct sign1_parts m;
	int err;

	if (!ret_kid)
		return WRIT_E_INVAL;
	err = parse_sign1(msg, len, &m);
	if (err < 0)
		return err;
	memcpy(ret_kid, m.kid, WRIT_KEYID_LEN);
	return 0;
}

int cose_sign1_verify(const uint8_t *msg, size_t len, const uint8_t pub[WRIT_P256_PUB_LEN], uint8_t **ret_payload,
		      size_t *ret_payload_len)
{
	struct sign1_parts m;
	uint8_t keyid[WRIT_KEYID_LEN], digest[32];
	uint8_t *out;
	int err;

	if (!pub || !ret_payload || !ret_payload_len)
		return WRIT_E_INVAL;
	err = parse_sign1(msg, len, &m);
	if (err < 0)
		return err;
	err = ec_keyid(pub, keyid);
	if (err < 0)
		return err;
	if (!writ_ct_memeq(keyid, m.kid, WRIT_KEYID_LEN))
		return WRIT_E_BADSIG;
	err = cose_sign1_tbs_digest(m.prot, m.prot_len, m.payload, m.payload_len, digest);
	if (err < 0)
		return err;
	err = ec_p256_verify_digest(pub, digest, m.sig);
	if (err < 0)
		return err;

	out = malloc(m.payload_len ? m.payload_len : 1);
	if (!out)
		return WRIT_E_NOMEM;
	if (m.payload_len)
		memcpy(out, m.payload, m.payload_len);
	*ret_payload = out;
	*ret_payload_len = m.payload_len;
	return 0;
}

/* ---- COSE_Encrypt ----------------------------------------------------------------- */

struct encrypt_parts {
	const uint8_t *body_prot;
	size_t body_prot_len;
	const uint8_t *iv;     /* GCM_IV_LEN bytes */
	const uint8_t *ct;     /* ciphertext || tag */
	size_t ct_len;
	const uint8_t *rprot;  /* recipient's serialized protected header */
	size_t rprot_len;
	uint8_t epk[WRIT_P256_PUB_LEN];
	const uint8_t *kid;
	size_t kid_len;
};

/* A protected header that is exactly {1: alg}. */
static int parse_alg_only(const uint8_t *p, size_t len, int64_t want, int *alg_ok)
{
	struct cr r;
	int64_t label;
	int err;

	cr_init(&r, p, len);
	if ((err = cr_map_n(&r, 1)) < 0 || (err = cr_int(&r, &label)) < 0)
		return err;
	if (label != COSE_HDR_ALG)
		return WRIT_E_FORMAT;
	if ((err = cr_alg(&r, want, alg_ok)) < 0)
		return err;
	return cr_end(&r);
}

/* COSE_Key {1: 2, -1: 1, -2: x, -3: y} (EC2, P-256, uncompressed), any order. */
static int parse_epk(struct cr *r, uint8_t epk[WRIT_P256_PUB_LEN], int *ok)
{
	const uint8_t *x = NULL, *y = NULL;
	int64_t label, v;
	unsigned i, seen = 0, bit;
	int err;

	if ((err = cr_map_n(r, 4)) < 0)
		return err;
	for (i = 0; i < 4; i++) {
		if ((err = cr_int(r, &label)) < 0)
			return err;
		switch (label) {
		case COSE_KEY_KTY: bit = 1; break;
		case COSE_KEY_CRV: bit = 2; break;
		case COSE_KEY_X: bit = 4; break;
		case COSE_KEY_Y: bit = 8; break;
		default: return WRIT_E_FORMAT;
		}
		if (seen & bit)
			return WRIT_E_FORMAT;
		seen |= bit;
		if (label == COSE_KEY_KTY || label == COSE_KEY_CRV) {
			if ((err = cr_int(r, &v)) < 0)
				return err;
			if (v != (label == COSE_KEY_KTY ? COSE_KTY_EC2 : COSE_CRV_P256))
				*ok = 0;
		} else {
			err = cr_bstr_exact(r, 32, label == COSE_KEY_X ? &x : &y);
			if (err < 0)
				return err;
		}
	}
	epk[0] = 0x04;
	memcpy(epk + 1, x, 32);
	memcpy(epk + 33, y, 32);
	return 0;
}

/* Recipient unprotected header: exactly {-1: COSE_Key, 4: kid}, either order. */
static int parse_recipient_unprotected(struct cr *r, struct encrypt_parts *m, int *ok)
{
	int64_t label;
	int seen_epk = 0, seen_kid = 0, err;
	unsigned i;

	if ((err = cr_map_n(r, 2)) < 0)
		return err;
	for (i = 0; i < 2; i++) {
		if ((err = cr_int(r, &label)) < 0)
			return err;
		if (label == COSE_HDR_EPK && !seen_epk) {
			seen_epk = 1;
			err = parse_epk(r, m->epk, ok);
		} else if (label == COSE_HDR_KID && !seen_kid) {
			seen_kid = 1;
			err = cr_bstr(r, &m->kid, &m->kid_len);
			if (err == 0 && (m->kid_len == 0 || m->kid_len > COSE_MAX_KID))
				err = WRIT_E_FORMAT;
		} else {
			err = WRIT_E_FORMAT;
		}
		if (err < 0)
			return err;
	}
	return 0;
}

static int parse_encrypt(const uint8_t *msg, size_t len, struct encrypt_parts *ret)
{
	struct encrypt_parts m;
	struct cr r;
	const uint8_t *rct;
	size_t rct_len;
	int64_t label;
	int ok = 1, alg_ok = 0, err;

	if (!msg)
		return WRIT_E_INVAL;
	if (len > COSE_MAX_MESSAGE)
		return WRIT_E_TOOBIG;
	memset(&m, 0, sizeof(m));
	cr_init(&r, msg, len);

	/* 96([protected {1: 3}, {5: iv}, ciphertext, [recipient]]) */
	if ((err = cr_tag(&r, COSE_TAG_ENCRYPT)) < 0 || (err = cr_array_n(&r, 4)) < 0 ||
	    (err = cr_bstr(&r, &m.body_prot, &m.body_prot_len)) < 0)
		return err;
	if ((err = parse_alg_only(m.body_prot, m.body_prot_len, COSE_ALG_A256GCM, &alg_ok)) < 0)
		return err;
	ok &= alg_ok;
	if ((err = cr_map_n(&r, 1)) < 0 || (err = cr_int(&r, &label)) < 0)
		return err;
	if (label != COSE_HDR_IV)
		return WRIT_E_FORMAT;
	if ((err = cr_bstr_exact(&r, GCM_IV_LEN, &m.iv)) < 0 || (err = cr_bstr(&r, &m.ct, &m.ct_len)) < 0)
		return err;
	if (m.ct_len < GCM_TAG_LEN)
		return WRIT_E_FORMAT;

	/* recipients: [[protected {1: -25}, {-1: epk, 4: kid}, h'']] */
	if ((err = cr_array_n(&r, 1)) < 0 || (err = cr_array_n(&r, 3)) < 0 ||
	    (err = cr_bstr(&r, &m.rprot, &m.rprot_len)) < 0)
		return err;
	if ((err = parse_alg_only(m.rprot, m.rprot_len, COSE_ALG_ECDH_ES_HKDF_256, &alg_ok)) < 0)
		return err;
	ok &= alg_ok;
	if ((err = parse_recipient_unprotected(&r, &m, &ok)) < 0)
		return err;
	if ((err = cr_bstr(&r, &rct, &rct_len)) < 0)
		return err;
	if (rct_len != 0)
		return WRIT_E_FORMAT; /* direct key agreement carries no wrapped key */
	if ((err = cr_end(&r)) < 0)
		return err;
	if (!ok)
		return WRIT_E_UNSUPPORTED;
	*ret = m;
	return 0;
}

/* CEK = HKDF-SHA-256(salt = none, IKM = z, info = COSE_KDF_Context, L = 32), with
 * COSE_KDF_Context = [AlgorithmID 3, PartyU [nil, nil, nil], PartyV [nil, nil, nil],
 * SuppPubInfo [256, recipient protected]] (RFC 9053 §5.1, §5.2). */
static int derive_cek(const uint8_t z[32], const uint8_t *rprot, size_t rprot_len, uint8_t ret_cek[CEK_LEN])
{
	static const uint8_t nil3[] = { 0x83, 0xf6, 0xf6, 0xf6 };
	uint8_t info[64], cek[CEK_LEN];
	struct cw w = { info, 0, sizeof(info), 0 };
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[4];
	int err = WRIT_E_CRYPTO;

	cw_head(&w, CBOR_ARRAY, 4);
	cw_int(&w, COSE_ALG_A256GCM);
	cw_put(&w, nil3, sizeof(nil3));
	cw_put(&w, nil3, sizeof(nil3));
	cw_head(&w, CBOR_ARRAY, 2);
	cw_int(&w, CEK_LEN * 8);
	cw_bstr(&w, rprot, rprot_len);
	if (w.err)
		return WRIT_E_FORMAT;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, 32);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, w.len);
	params[3] = OSSL_PARAM_construct_end();
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (!kdf)
		goto fail;
	kctx = EVP_KDF_CTX_new(kdf);
	if (!kctx || EVP_KDF_derive(kctx, cek, sizeof(cek), params) != 1)
		goto fail;
	memcpy(ret_cek, cek, CEK_LEN);
	err = 0;
fail:
	writ_memzero(cek, sizeof(cek));
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return err;
}

/* AAD = Enc_structure ["Encrypt", body protected, external_aad = h'']. */
static int enc_structure(const uint8_t *body_prot, size_t body_prot_len, uint8_t *buf, size_t cap, size_t *ret_len)
{
	struct cw w = { buf, 0, cap, 0 };

	cw_head(&w, CBOR_ARRAY, 3);
	cw_tstr(&w, "Encrypt");
	cw_bstr(&w, body_prot, body_prot_len);
	cw_bstr(&w, NULL, 0);
	if (w.err)
		return WRIT_E_FORMAT;
	*ret_len = w.len;
	return 0;
}

/* AES-256-GCM in one shot; out receives n bytes (+ the tag when encrypting). */
static int gcm(int enc, const uint8_t key[CEK_LEN], const uint8_t iv[GCM_IV_LEN], const uint8_t *aad, size_t aad_len,
	       const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[GCM_TAG_LEN])
{
	EVP_CIPHER_CTX *ctx;
	int outl = 0, err = WRIT_E_CRYPTO;

	if (n > COSE_MAX_MESSAGE || aad_len > 256)
		return WRIT_E_TOOBIG;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return WRIT_E_NOMEM;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, GCM_IV_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, key, iv, enc) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)aad_len) != 1)
		goto fail;
	if (n && (EVP_CipherUpdate(ctx, out, &outl, in, (int)n) != 1 || (size_t)outl != n))
		goto fail;
	if (enc) {
		if (EVP_CipherFinal_ex(ctx, out + n, &outl) != 1 ||
		    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN, tag) != 1)
			goto fail;
	} else {
		if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN, tag) != 1)
			goto fail;
		if (EVP_CipherFinal_ex(ctx, out + n, &outl) != 1) {
			err = WRIT_E_DECRYPT;
			goto fail;
		}
	}
	err = 0;
fail:
	EVP_CIPHER_CTX_free(ctx);
	return err;
}

int cose_encrypt_ecdhes(const uint8_t recipient_pub[WRIT_P256_PUB_LEN], const uint8_t *pt, size_t pt_len,
			uint8_t **ret_msg, size_t *ret_len)
{
	struct ec_soft_key *eph = NULL;
	struct writ_ecdh eview;
	uint8_t kid[WRIT_KEYID_LEN], epk[WRIT_P256_PUB_LEN], z[32], cek[CEK_LEN], iv[GCM_IV_LEN];
	uint8_t aad[64], tag[GCM_TAG_LEN];
	uint8_t *ct;
	size_t aad_len = 0;
	struct cw w = { NULL, 0, 0, 0 };
	int err;

	if (!recipient_pub || (!pt && pt_len) || !ret_msg || !ret_len)
		return WRIT_E_INVAL;
	if (pt_len > COSE_MAX_MESSAGE - ENCRYPT_OVERHEAD)
		return WRIT_E_TOOBIG; /* the result must stay readable by cose_decrypt_ecdhes */
	if ((err = ec_p256_check_pub(recipient_pub)) < 0 || (err = ec_keyid(recipient_pub, kid)) < 0)
		return err;

	/* Ephemeral key: lives only for this one agreement. */
	err = ec_soft_key_new(&eph);
	if (err < 0)
		return err;
	ec_soft_ecdh(eph, &eview);
	memcpy(epk, eview.pub, sizeof(epk));
	err = eview.derive(eview.ctx, recipient_pub, z);
	ec_soft_key_free(eph);
	eph = NULL;
	if (err < 0)
		goto fail;
	err = derive_cek(z, recipient_protected_ecdhes, sizeof(recipient_protected_ecdhes), cek);
	writ_memzero(z, sizeof(z));
	if (err < 0)
		goto fail;
	if (RAND_bytes(iv, sizeof(iv)) != 1) {
		err = WRIT_E_CRYPTO;
		goto fail;
	}
	err = enc_structure(body_protected_a256gcm, sizeof(body_protected_a256gcm), aad, sizeof(aad), &aad_len);
	if (err < 0)
		goto fail;

	w.cap = pt_len + ENCRYPT_OVERHEAD;
	w.buf = malloc(w.cap);
	if (!w.buf) {
		err = WRIT_E_NOMEM;
		goto fail;
	}
	cw_head(&w, CBOR_TAG, COSE_TAG_ENCRYPT);
	cw_head(&w, CBOR_ARRAY, 4);
	cw_bstr(&w, body_protected_a256gcm, sizeof(body_protected_a256gcm));
	cw_head(&w, CBOR_MAP, 1);
	cw_int(&w, COSE_HDR_IV);
	cw_bstr(&w, iv, sizeof(iv));
	cw_head(&w, CBOR_BSTR, pt_len + GCM_TAG_LEN);
	ct = cw_reserve(&w, pt_len + GCM_TAG_LEN);
	cw_head(&w, CBOR_ARRAY, 1);
	cw_head(&w, CBOR_ARRAY, 3);
	cw_bstr(&w, recipient_protected_ecdhes, sizeof(recipient_protected_ecdhes));
	cw_head(&w, CBOR_MAP, 2);
	cw_int(&w, COSE_HDR_EPK);
	cw_head(&w, CBOR_MAP, 4);
	cw_int(&w, COSE_KEY_KTY);
	cw_int(&w, COSE_KTY_EC2);
	cw_int(&w, COSE_KEY_CRV);
	cw_int(&w, COSE_CRV_P256);
	cw_int(&w, COSE_KEY_X);
	cw_bstr(&w, epk + 1, 32);
	cw_int(&w, COSE_KEY_Y);
	cw_bstr(&w, epk + 33, 32);
	cw_int(&w, COSE_HDR_KID);
	cw_bstr(&w, kid, sizeof(kid));
	cw_bstr(&w, NULL, 0);
	if (w.err || !ct) {
		err = WRIT_E_CRYPTO; /* cannot happen: ENCRYPT_OVERHEAD covers the headers */
		goto fail;
	}
	err = gcm(1, cek, iv, aad, aad_len, pt, pt_len, ct, tag);
	if (err < 0)
		goto fail;
	memcpy(ct + pt_len, tag, GCM_TAG_LEN);

	*ret_msg = w.buf;
	*ret_len = w.len;
	w.buf = NULL;
	err = 0;
fail:
	if (w.buf) {
		writ_memzero(w.buf, w.cap);
		free(w.buf);
	}
	writ_memzero(z, sizeof(z));
	writ_memzero(cek, sizeof(cek));
	return err;
}

int cose_decrypt_ecdhes_kid(const struct writ_ecdh *kex, const uint8_t *kid, size_t kid_len, const uint8_t *msg,
			    size_t len, uint8_t **ret_pt, size_t *ret_len)
{
	struct encrypt_parts m;
	uint8_t z[32], cek[CEK_LEN], aad[64], tag[GCM_TAG_LEN];
	uint8_t *pt = NULL;
	size_t aad_len = 0, pt_len = 0;
	int err;

	if (!kex || !kex->derive || !kid || kid_len == 0 || kid_len > COSE_MAX_KID || !ret_pt || !ret_len)
		return WRIT_E_INVAL;
	memset(z, 0, sizeof(z));
	memset(cek, 0, sizeof(cek));
	err = parse_encrypt(msg, len, &m);
	if (err < 0)
		goto fail;
	if (m.kid_len != kid_len || !writ_ct_memeq(m.kid, kid, kid_len)) {
		err = WRIT_E_NOTFOUND;
		goto fail;
	}
	/* An off-curve point would turn ECDH into an oracle on the private key. */
	err = ec_p256_check_pub(m.epk);
	if (err < 0)
		goto fail;
	err = enc_structure(m.body_prot, m.body_prot_len, aad, sizeof(aad), &aad_len);
	if (err < 0)
		goto fail;

	err = kex->derive(kex->ctx, m.epk, z);
	if (err < 0)
		goto fail;
	err = derive_cek(z, m.rprot, m.rprot_len, cek);
	writ_memzero(z, sizeof(z));
	if (err < 0)
		goto fail;

	pt_len = m.ct_len - GCM_TAG_LEN;
	pt = malloc(pt_len ? pt_len : 1);
	if (!pt) {
		err = WRIT_E_NOMEM;
		goto fail;
	}
	memcpy(tag, m.ct + pt_len, GCM_TAG_LEN);
	err = gcm(0, cek, m.iv, aad, aad_len, m.ct, pt_len, pt, tag);
	if (err < 0)
		goto fail;

	*ret_pt = pt;
	*ret_len = pt_len;
	pt = NULL;
	err = 0;
fail:
	if (pt) {
		/* unauthenticated plaintext never leaves this function */
		writ_memzero(pt, pt_len);
		free(pt);
	}
	writ_memzero(z, sizeof(z));
	writ_memzero(cek, sizeof(cek));
	return err;
}

int cose_decrypt_ecdhes(const struct writ_ecdh *kex, const uint8_t *msg, size_t len, uint8_t **ret_pt,
			size_t *ret_len)
{
	uint8_t keyid[WRIT_KEYID_LEN];
	int err;

	if (!kex)
		return WRIT_E_INVAL;
	err = ec_keyid(kex->pub, keyid);
	if (err < 0)
		return err;
	return cose_decrypt_ecdhes_kid(kex, keyid, sizeof(keyid), msg, len, ret_pt, ret_len);
}
