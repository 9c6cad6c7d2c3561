/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The product-version bundle codec (bundle.h): a small strict CBOR reader and writer
 * for exactly the shapes a .wbundle has, the payload validation, and its COSE_Sign1.
 * Written without libcbor so an 8 MiB bundle is read in place, without copies of the
 * firmware, and so that "canonical" can be checked byte by byte: the reader refuses
 * any head that is not in its shortest form, so decode(encode(x)) is the identity and
 * the version digest names exactly one payload.
 */
#include <stdlib.h>
#include <string.h>

#include "base/ct.h"
#include "crypto/ec.h"
#include "wire/bundle.h"
#include "base/cborh.h"

#define MT_UINT 0
#define MT_NINT 1
#define MT_BSTR 2
#define MT_TSTR 3
#define MT_ARRAY 4
#define MT_MAP 5
#define MT_TAG 6
#define COSE_TAG_SIGN1 18
#define PROT_LEN (6 + WRIT_KEYID_LEN) /* a2 01 26 04 58 20 kid */

static const char *const steps_all[BUNDLE_RECIPE_MAX] = {
	"discover", "keys", "dac", "chain", "factory-data", "secret",
	"otp", "firmware", "lock", "verify", "record", "label",
};

/* ---- writer ---------------------------------------------------------------------- */

struct wb {
	uint8_t *p;
	size_t len, cap;
	int err;
};

static void wb_put(struct wb *w, const void *data, size_t n)
{
	if (w->err)
		return;
	if (n > w->cap - w->len) {
		size_t cap = w->cap ? w->cap : 256;
		uint8_t *np;
		while (cap - w->len < n) {
			if (cap > BUNDLE_MAX * 2u) {
				w->err = WRIT_E_TOOBIG;
				return;
			}
			cap *= 2;
		}
		np = realloc(w->p, cap);
		if (!np) {
			w->err = WRIT_E_NOMEM;
			return;
		}
		w->p = np;
		w->cap = cap;
	}
	if (n)
		memcpy(w->p + w->len, data, n);
	w->len += n;
}

static void wb_head(struct wb *w, unsigned major, uint64_t v)
{
	uint8_t h[CBOR_HEAD_MAX];

	wb_put(w, h, cbor_head_encode(h, major, v));
}

static void wb_bstr(struct wb *w, const uint8_t *p, size_t n)
{
	wb_head(w, MT_BSTR, n);
	wb_put(w, p, n);
}

static void wb_tstr(struct wb *w, const char *s)
{
	size_t n = strlen(s);

	wb_head(w, MT_TSTR, n);
	wb_put(w, s, n);
}

/* ---- reader ---------------------------------------------------------------------- */

struct rd {
	const uint8_t *p;
	size_t len, off;
};

/* One head in shortest form; indefinite lengths, simple values and floats refused. */
static int rd_head(struct rd *r, unsigned *ret_major, uint64_t *ret_v)
{
	uint8_t b;
	unsigned ai, i, n;
	uint64_t v = 0;

	if (r->off >= r->len)
		return WRIT_E_FORMAT;
	b = r->p[r->off++];
	*ret_major = b >> 5;
	ai = b & 0x1f;
	if (*ret_major == 7)
		return WRIT_E_FORMAT;
	if (ai < 24) {
		*ret_v = ai;
		return 0;
	}
	if (ai > 27)
		return WRIT_E_FORMAT;
	n = 1u << (ai - 24);
	if (r->len - r->off < n)
		return WRIT_E_FORMAT;
	for (i = 0; i < n; i++)
		v = v << 8 | r->p[r->off++];
	if ((n == 1 && v < 24) || (n == 2 && v <= 0xff) || (n == 4 && v <= 0xffff) || (n == 8 && v <= 0xffffffffu))
		return WRIT_E_FORMAT; /* not the shortest form: not canonical */
	*ret_v = v;
	return 0;
}

static int rd_expect(struct rd *r, unsigned major, uint64_t *ret_v)
{
	unsigned m;
	int err = rd_head(r, &m, ret_v);

	if (err < 0)
		return err;
	return m == major ? 0 : WRIT_E_FORMAT;
}

/* A byte or text string of min..max bytes; points into the input. */
static int rd_str(struct rd *r, unsigned major, size_t min, size_t max, const uint8_t **ret, size_t *ret_len)
{
	uint64_t n;
	int err = rd_expect(r, major, &n);

	if (err < 0)
		return err;
	if (n > r->len - r->off)
		return WRIT_E_FORMAT;
	if (n < min || n > max)
		return n > max ? WRIT_E_TOOBIG : WRIT_E_FORMAT;
	*ret = r->p + r->off;
	*ret_len = (size_t)n;
	r->off += (size_t)n;
	return 0;
}

static int rd_fixed(struct rd *r, uint8_t *out, size_t n)
{
	const uint8_t *p;
	size_t len;
	int err = rd_str(r, MT_BSTR, n, n, &p, &len);

	if (err == WRIT_E_TOOBIG)
		err = WRIT_E_FORMAT;
	if (err < 0)
		return err;
	memcpy(out, p, n);
	return 0;
}

/* A text string into out (cap bytes with the NUL); no NUL bytes inside. */
static int rd_text(struct rd *r, size_t min, char *out, size_t cap)
{
	const uint8_t *p;
	size_t len;
	int err = rd_str(r, MT_TSTR, min, cap - 1, &p, &len);

	if (err == WRIT_E_TOOBIG)
		err = WRIT_E_FORMAT;
	if (err < 0)
		return err;
	if (memchr(p, 0, len))
		return WRIT_E_FORMAT;
	memcpy(out, p, len);
	out[len] = 0;
	return 0;
}

/* ---- validation ------------------------------------------------------------------ */

static int chars_ok(const char *s, size_t min, size_t max, const char *extra)
{
	size_t n = strlen(s), i;

	if (n < min || n > max)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr(extra, c)))
			return 0;
	}
	return 1;
}

static int label_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n < 1 || n > BUNDLE_LABEL_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

static int settings_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n < 1 || n > BUNDLE_SETTINGS_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n' || c == '\r'))
			return 0;
	}
	return 1;
}

int bundle_recipe_valid(const char (*steps)[BUNDLE_STEP_MAX], size_t n)
{
	size_t i, k = 0;

	if (n < 1 || n > BUNDLE_RECIPE_MAX)
		return 0;
	for (i = 0; i < BUNDLE_RECIPE_MAX; i++) {
		if (k < n && !strcmp(steps[k], steps_all[i])) {
			k++;
			continue;
		}
		if (strcmp(steps_all[i], "secret") && strcmp(steps_all[i], "label"))
			return 0; /* a mandatory step is missing or out of order */
	}
	return k == n;
}

int bundle_recipe_parse(const char *list, struct bundle *b)
{
	const char *p = list, *end;
	size_t n = 0, len;

	if (!list || !*list)
		return WRIT_E_INVAL;
	while (*p) {
		end = strchr(p, ',');
		len = end ? (size_t)(end - p) : strlen(p);
		if (n >= BUNDLE_RECIPE_MAX || len == 0 || len >= BUNDLE_STEP_MAX)
			return WRIT_E_INVAL;
		memcpy(b->recipe[n], p, len);
		b->recipe[n][len] = 0;
		n++;
		p += len;
		if (*p == ',' && !*++p)
			return WRIT_E_INVAL;
	}
	if (!bundle_recipe_valid((const char(*)[BUNDLE_STEP_MAX])b->recipe, n))
		return WRIT_E_INVAL;
	b->n_steps = n;
	return 0;
}

void bundle_recipe_default(struct bundle *b)
{
	size_t i;

	b->n_steps = 0;
	for (i = 0; i < BUNDLE_RECIPE_MAX; i++) {
		if (!b->n_secrets && !strcmp(steps_all[i], "secret"))
			continue;
		memcpy(b->recipe[b->n_steps++], steps_all[i], strlen(steps_all[i]) + 1);
	}
}

static int bundle_valid(const struct bundle *b)
{
	size_t i, k;

	if (!chars_ok(b->product, 1, BUNDLE_NAME_MAX, "._-") || !chars_ok(b->version, 1, BUNDLE_NAME_MAX, "._+-") ||
	    !b->firmware || b->firmware_len < 1 || b->firmware_len > BUNDLE_FW_MAX || !settings_ok(b->settings))
		return 0;
	for (i = 0; i < b->n_steps && i < BUNDLE_RECIPE_MAX; i++)
		if (!memchr(b->recipe[i], 0, BUNDLE_STEP_MAX))
			return 0;
	if (!bundle_recipe_valid(b->recipe, b->n_steps) || b->n_secrets > BUNDLE_SECRETS_MAX)
		return 0;
	for (i = 0; i < b->n_secrets; i++) {
		if (!memchr(b->secrets[i], 0, sizeof(b->secrets[i])) || !label_ok(b->secrets[i]))
			return 0;
		for (k = 0; k < i; k++)
			if (!strcmp(b->secrets[i], b->secrets[k]))
				return 0;
	}
	if (b->has_iterations && (b->iterations < BUNDLE_ITER_MIN || b->iterations > BUNDLE_ITER_MAX))
		return 0;
	if (b->serial_prefix[0] && !chars_ok(b->serial_prefix, 1, BUNDLE_PREFIX_MAX, "._-"))
		return 0;
	return 1;
}

/* ---- payload --------------------------------------------------------------------- */

int bundle_payload_encode(const struct bundle *b, uint8_t **ret, size_t *ret_len)
{
	struct wb w = { 0 };
	size_t i, n = 9;

	if (!b || !ret || !ret_len || !bundle_valid(b))
		return WRIT_E_INVAL;
	n += (b->n_secrets > 0) + (b->has_iterations != 0) + (b->serial_prefix[0] != 0);
	wb_head(&w, MT_MAP, n);
	wb_head(&w, MT_UINT, BUNDLE_K_PRODUCT);
	wb_tstr(&w, b->product);
	wb_head(&w, MT_UINT, BUNDLE_K_VERSION);
	wb_tstr(&w, b->version);
	wb_head(&w, MT_UINT, BUNDLE_K_FW_VERSION);
	wb_head(&w, MT_UINT, b->fw_version);
	wb_head(&w, MT_UINT, BUNDLE_K_FIRMWARE);
	wb_bstr(&w, b->firmware, b->firmware_len);
	wb_head(&w, MT_UINT, BUNDLE_K_FW_SIG);
	wb_bstr(&w, b->fw_sig, sizeof(b->fw_sig));
	wb_head(&w, MT_UINT, BUNDLE_K_SB_PUB);
	wb_bstr(&w, b->sb_pub, sizeof(b->sb_pub));
	wb_head(&w, MT_UINT, BUNDLE_K_DEBUG_ROOT);
	wb_bstr(&w, b->debug_root_hash, sizeof(b->debug_root_hash));
	wb_head(&w, MT_UINT, BUNDLE_K_SETTINGS);
	wb_tstr(&w, b->settings);
	wb_head(&w, MT_UINT, BUNDLE_K_RECIPE);
	wb_head(&w, MT_ARRAY, b->n_steps);
	for (i = 0; i < b->n_steps; i++)
		wb_tstr(&w, b->recipe[i]);
	if (b->n_secrets) {
		wb_head(&w, MT_UINT, BUNDLE_K_SECRETS);
		wb_head(&w, MT_ARRAY, b->n_secrets);
		for (i = 0; i < b->n_secrets; i++)
			wb_tstr(&w, b->secrets[i]);
	}
	if (b->has_iterations) {
		wb_head(&w, MT_UINT, BUNDLE_K_ITERATIONS);
		wb_head(&w, MT_UINT, b->iterations);
	}
	if (b->serial_prefix[0]) {
		wb_head(&w, MT_UINT, BUNDLE_K_SERIAL_PREFIX);
		wb_tstr(&w, b->serial_prefix);
	}
	if (w.err) {
		free(w.p);
		return w.err;
	}
	*ret = w.p;
	*ret_len = w.len;
	return 0;
}

static int rd_text_array(struct rd *r, size_t max_items, size_t cap, char *out, size_t *ret_n)
{
	uint64_t n, i;
	int err = rd_expect(r, MT_ARRAY, &n);

	if (err < 0)
		return err;
	if (n < 1 || n > max_items)
		return WRIT_E_FORMAT;
	for (i = 0; i < n; i++)
		if ((err = rd_text(r, 1, out + i * cap, cap)) < 0)
			return err;
	*ret_n = (size_t)n;
	return 0;
}

int bundle_payload_decode(const uint8_t *buf, size_t len, struct bundle *ret)
{
	struct rd r = { buf, len, 0 };
	struct bundle *b = ret;
	uint64_t n, i, key, v, last = 0;
	uint32_t seen = 0;
	const uint8_t *p;
	size_t plen;
	int err;

	if (!buf || !ret)
		return WRIT_E_INVAL;
	if (len > BUNDLE_MAX)
		return WRIT_E_TOOBIG;
	memset(b, 0, sizeof(*b));
	b->iterations = BUNDLE_ITER_DEFAULT;
	if ((err = rd_expect(&r, MT_MAP, &n)) < 0)
		return err;
	if (n < 9 || n > 12)
		return WRIT_E_FORMAT;
	for (i = 0; i < n; i++) {
		if ((err = rd_expect(&r, MT_UINT, &key)) < 0)
			return err;
		if (key <= last || key > BUNDLE_K_SERIAL_PREFIX) /* ascending: canonical, no duplicates */
			return WRIT_E_FORMAT;
		last = key;
		seen |= 1u << key;
		switch (key) {
		case BUNDLE_K_PRODUCT: err = rd_text(&r, 1, b->product, sizeof(b->product)); break;
		case BUNDLE_K_VERSION: err = rd_text(&r, 1, b->version, sizeof(b->version)); break;
		case BUNDLE_K_FW_VERSION:
			err = rd_expect(&r, MT_UINT, &v);
			if (!err && v > 0xffffffffu)
				err = WRIT_E_FORMAT;
			b->fw_version = (uint32_t)v;
			break;
		case BUNDLE_K_FIRMWARE:
			err = rd_str(&r, MT_BSTR, 1, BUNDLE_FW_MAX, &p, &plen);
			b->firmware = p;
			b->firmware_len = plen;
			break;
		case BUNDLE_K_FW_SIG: err = rd_fixed(&r, b->fw_sig, sizeof(b->fw_sig)); break;
		case BUNDLE_K_SB_PUB: err = rd_fixed(&r, b->sb_pub, sizeof(b->sb_pub)); break;
		case BUNDLE_K_DEBUG_ROOT: err = rd_fixed(&r, b->debug_root_hash, sizeof(b->debug_root_hash)); break;
		case BUNDLE_K_SETTINGS: err = rd_text(&r, 1, b->settings, sizeof(b->settings)); break;
		case BUNDLE_K_RECIPE:
			err = rd_text_array(&r, BUNDLE_RECIPE_MAX, BUNDLE_STEP_MAX, &b->recipe[0][0], &b->n_steps);
			break;
		case BUNDLE_K_SECRETS:
			err = rd_text_array(&r, BUNDLE_SECRETS_MAX, BUNDLE_LABEL_MAX + 1, &b->secrets[0][0], &b->n_secrets);
			break;
		case BUNDLE_K_ITERATIONS:
			err = rd_expect(&r, MT_UINT, &v);
			if (!err && (v < BUNDLE_ITER_MIN || v > BUNDLE_ITER_MAX))
				err = WRIT_E_FORMAT;
			b->iterations = (uint32_t)v;
			b->has_iterations = 1;
			break;
		case BUNDLE_K_SERIAL_PREFIX: err = rd_text(&r, 1, b->serial_prefix, sizeof(b->serial_prefix)); break;
		default: err = WRIT_E_FORMAT; break;
		}
		if (err < 0)
			return err == WRIT_E_TOOBIG ? err : WRIT_E_FORMAT;
	}
	if (r.off != r.len || (seen & 0x3fe) != 0x3fe)
		return WRIT_E_FORMAT; /* trailing bytes, or one of the required keys 1..9 missing */
	if (!bundle_valid(b))
		return WRIT_E_FORMAT;
	if ((err = ec_sha256(buf, len, b->version_digest)) < 0 ||
	    (err = ec_sha256(b->firmware, b->firmware_len, b->firmware_digest)) < 0)
		return err;
	return 0;
}

/* ---- COSE_Sign1 ------------------------------------------------------------------ */

static void prot_header(const uint8_t kid[WRIT_KEYID_LEN], uint8_t out[PROT_LEN])
{
	static const uint8_t head[6] = { 0xa2, 0x01, 0x26, 0x04, 0x58, 0x20 };

	memcpy(out, head, sizeof(head));
	memcpy(out + sizeof(head), kid, WRIT_KEYID_LEN);
}

/* SHA-256 of Sig_structure ["Signature1", protected, h'', payload] (RFC 9052 §4.4). */
static int tbs_digest(const uint8_t prot[PROT_LEN], const uint8_t *payload, size_t len, uint8_t ret[32])
{
	struct wb w = { 0 };
	int err;

	wb_head(&w, MT_ARRAY, 4);
	wb_tstr(&w, "Signature1");
	wb_bstr(&w, prot, PROT_LEN);
	wb_bstr(&w, NULL, 0);
	wb_bstr(&w, payload, len);
	if (w.err) {
		free(w.p);
		return w.err;
	}
	err = ec_sha256(w.p, w.len, ret);
	free(w.p);
	return err;
}

int bundle_sign(const struct bundle *b, const struct writ_signer *signer, uint8_t **ret, size_t *ret_len,
		uint8_t ret_version_digest[32], uint8_t ret_firmware_digest[32])
{
	uint8_t *payload = NULL, kid[WRIT_KEYID_LEN], prot[PROT_LEN], digest[32], sig[WRIT_P256_SIG_LEN];
	size_t payload_len = 0;
	struct wb w = { 0 };
	int err;

	if (!b || !signer || !signer->sign || !ret || !ret_len)
		return WRIT_E_INVAL;
	if ((err = bundle_payload_encode(b, &payload, &payload_len)) < 0)
		return err;
	if (payload_len > BUNDLE_MAX - 128) {
		err = WRIT_E_TOOBIG;
		goto out;
	}
	if ((err = ec_keyid(signer->pub, kid)) < 0)
		goto out;
	prot_header(kid, prot);
	if ((err = tbs_digest(prot, payload, payload_len, digest)) < 0 ||
	    (err = signer->sign(signer->ctx, digest, sig)) < 0)
		goto out;
	wb_head(&w, MT_TAG, COSE_TAG_SIGN1);
	wb_head(&w, MT_ARRAY, 4);
	wb_bstr(&w, prot, sizeof(prot));
	wb_head(&w, MT_MAP, 0);
	wb_bstr(&w, payload, payload_len);
	wb_bstr(&w, sig, sizeof(sig));
	if ((err = w.err) < 0)
		goto out;
	if (ret_version_digest && (err = ec_sha256(payload, payload_len, ret_version_digest)) < 0)
		goto out;
	if (ret_firmware_digest && (err = ec_sha256(b->firmware, b->firmware_len, ret_firmware_digest)) < 0)
		goto out;
	*ret = w.p;
	*ret_len = w.len;
	w.p = NULL;
	err = 0;
out:
	free(w.p);
	free(payload);
	return err;
}

int bundle_verify(const uint8_t *msg, size_t len, const uint8_t pinned_pub[WRIT_P256_PUB_LEN], struct bundle *ret)
{
	struct rd r = { msg, len, 0 };
	const uint8_t *prot, *payload, *sig;
	uint8_t kid[WRIT_KEYID_LEN], want[PROT_LEN], digest[32];
	size_t prot_len, payload_len, sig_len;
	uint64_t v;
	int err;

	if (!msg || !pinned_pub || !ret)
		return WRIT_E_INVAL;
	if (len > BUNDLE_MAX)
		return WRIT_E_TOOBIG;
	if (rd_expect(&r, MT_TAG, &v) < 0 || v != COSE_TAG_SIGN1 || rd_expect(&r, MT_ARRAY, &v) < 0 || v != 4 ||
	    rd_str(&r, MT_BSTR, 1, 64, &prot, &prot_len) < 0 || rd_expect(&r, MT_MAP, &v) < 0 || v != 0 ||
	    rd_str(&r, MT_BSTR, 1, BUNDLE_MAX, &payload, &payload_len) < 0 ||
	    rd_str(&r, MT_BSTR, WRIT_P256_SIG_LEN, WRIT_P256_SIG_LEN, &sig, &sig_len) < 0 || r.off != r.len)
		return WRIT_E_FORMAT;
	/* The protected header is exactly {1: alg, 4: kid(32)}; only ES256 is taken. */
	if (prot_len != PROT_LEN || prot[0] != 0xa2 || prot[1] != 0x01 || prot[3] != 0x04 || prot[4] != 0x58 ||
	    prot[5] != 0x20)
		return WRIT_E_FORMAT;
	if (prot[2] != 0x26)
		return WRIT_E_UNSUPPORTED;
	if ((err = ec_keyid(pinned_pub, kid)) < 0)
		return err;
	prot_header(kid, want);
	if (!writ_ct_memeq(want, prot, PROT_LEN))
		return WRIT_E_BADSIG; /* signed by a key that is not the pinned one */
	if ((err = tbs_digest(prot, payload, payload_len, digest)) < 0)
		return err;
	if ((err = ec_p256_verify_digest(pinned_pub, digest, sig)) < 0)
		return err == WRIT_E_BADSIG ? err : WRIT_E_BADSIG;
	return bundle_payload_decode(payload, payload_len, ret);
}
