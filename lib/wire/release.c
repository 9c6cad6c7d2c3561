/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Release manifests (release.h, docs/releases.md): encode, strict decode, sign, verify,
 * semver precedence and the factory's take-or-refuse rule.
 */
#include <stdlib.h>
#include <string.h>

#include <cbor.h>

#include "crypto/cose.h"
#include "crypto/ec.h"
#include "wire/cbu.h"
#include "wire/release.h"

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

int release_name_ok(const char *s)
{
	size_t i, n = s ? strlen(s) : 0;

	if (n == 0 || n > RELEASE_NAME_MAX || s[0] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

int release_channel_ok(const char *s)
{
	size_t i, n = s ? strlen(s) : 0;

	if (n == 0 || n > RELEASE_CHANNEL_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!is_digit(s[i]) && !(s[i] >= 'a' && s[i] <= 'z') && s[i] != '-')
			return 0;
	return 1;
}

/* A numeric identifier: digits, no leading zero unless "0". Length of it, or 0. */
static size_t num_id(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && is_digit(s[i]))
		i++;
	if (i == 0 || i > 9 || (i > 1 && s[0] == '0'))
		return 0;
	return i;
}

int release_version_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0, i = 0, k, part;

	if (n == 0 || n > RELEASE_VERSION_MAX)
		return 0;
	for (part = 0; part < 3; part++) {
		if (!(k = num_id(s + i, n - i)))
			return 0;
		i += k;
		if (part < 2) {
			if (i >= n || s[i] != '.')
				return 0;
			i++;
		}
	}
	if (i == n)
		return 1;
	if (s[i] != '-')
		return 0;
	/* pre-release: dot-separated non-empty identifiers of [0-9A-Za-z-], numeric ones
	 * without leading zeros */
	for (;;) {
		size_t start = ++i, alpha = 0;

		while (i < n && s[i] != '.') {
			if (!is_alnum(s[i]) && s[i] != '-')
				return 0;
			alpha |= !is_digit(s[i]);
			i++;
		}
		if (i == start || (!alpha && i - start > 1 && s[start] == '0'))
			return 0;
		if (i == n)
			return 1;
	}
}

static unsigned long num_at(const char *s, size_t *i)
{
	unsigned long v = 0;

	while (is_digit(s[*i]))
		v = v * 10 + (unsigned long)(s[(*i)++] - '0');
	return v;
}

int release_version_cmp(const char *a, const char *b, int *ret_cmp)
{
	size_t i = 0, j = 0, part;

	if (!release_version_ok(a) || !release_version_ok(b) || !ret_cmp)
		return WRIT_E_INVAL;
	for (part = 0; part < 3; part++) {
		unsigned long x = num_at(a, &i), y = num_at(b, &j);

		if (x != y) {
			*ret_cmp = x < y ? -1 : 1;
			return 0;
		}
		if (part < 2)
			i++, j++;
	}
	/* a release ranks above any of its pre-releases */
	if (!a[i] || !b[j]) {
		*ret_cmp = (!a[i] && !b[j]) ? 0 : !a[i] ? 1 : -1;
		return 0;
	}
	i++, j++;
	for (;;) {
		size_t ei = i, ej = j;
		int na = 1, nb = 1, c;

		while (a[ei] && a[ei] != '.')
			na &= is_digit(a[ei++]);
		while (b[ej] && b[ej] != '.')
			nb &= is_digit(b[ej++]);
		if (na && nb) {
			/* no leading zeros: longer is larger */
			c = (ei - i) != (ej - j) ? ((ei - i) < (ej - j) ? -1 : 1) : memcmp(a + i, b + j, ei - i);
		} else if (na != nb) {
			c = na ? -1 : 1; /* numeric identifiers rank below alphanumeric ones */
		} else {
			size_t la = ei - i, lb = ej - j;

			c = memcmp(a + i, b + j, la < lb ? la : lb);
			if (!c && la != lb)
				c = la < lb ? -1 : 1;
		}
		if (c) {
			*ret_cmp = c < 0 ? -1 : 1;
			return 0;
		}
		if (!a[ei] || !b[ej]) {
			*ret_cmp = (!a[ei] && !b[ej]) ? 0 : !a[ei] ? -1 : 1;
			return 0;
		}
		i = ei + 1;
		j = ej + 1;
	}
}

static int release_valid(const struct release *r)
{
	size_t i;

	if (!r || strcmp(r->product, RELEASE_PRODUCT) || !release_version_ok(r->version) ||
	    !release_channel_ok(r->channel) || r->n_files == 0 || r->n_files > RELEASE_FILES_MAX)
		return 0;
	for (i = 0; i < r->n_files; i++) {
		const struct release_file *f = &r->files[i];

		if (!release_name_ok(f->name) || f->size > RELEASE_FILE_MAX || f->mode > 0777)
			return 0;
		if (i > 0 && strcmp(r->files[i - 1].name, f->name) >= 0)
			return 0; /* unique, ascending: one canonical order */
	}
	return 1;
}

int release_payload_encode(const struct release *r, uint8_t **ret, size_t *ret_len)
{
	cbor_item_t *m = NULL, *arr = NULL, *fm = NULL;
	size_t i;
	int err = WRIT_E_NOMEM;

	if (!release_valid(r) || !ret || !ret_len)
		return WRIT_E_INVAL;
	if (!(m = cbu_new_map(5)) || !(arr = cbor_new_definite_array(r->n_files)))
		goto fail;
	for (i = 0; i < r->n_files; i++) {
		const struct release_file *f = &r->files[i];

		if (!(fm = cbu_new_map(4)) || cbu_put_text(fm, RELEASE_F_NAME, f->name) < 0 ||
		    cbu_put_bytes(fm, RELEASE_F_SHA256, f->sha256, 32) < 0 ||
		    cbu_put_uint(fm, RELEASE_F_SIZE, f->size) < 0 || cbu_put_uint(fm, RELEASE_F_MODE, f->mode) < 0 ||
		    !cbor_array_push(arr, fm))
			goto fail;
		cbor_decref(&fm); /* the array holds it now; libcbor leaves fm set */
		fm = NULL;
	}
	if (cbu_put_text(m, RELEASE_K_PRODUCT, r->product) < 0 || cbu_put_text(m, RELEASE_K_VERSION, r->version) < 0 ||
	    cbu_put_text(m, RELEASE_K_CHANNEL, r->channel) < 0 || cbu_put_uint(m, RELEASE_K_CREATED, r->created) < 0 ||
	    cbu_put_item(m, RELEASE_K_FILES, arr) < 0)
		goto fail;
	err = cbu_serialize(m, ret, ret_len);
fail:
	if (fm)
		cbor_decref(&fm);
	if (arr)
		cbor_decref(&arr);
	if (m)
		cbor_decref(&m);
	return err;
}

static int decode_file(cbor_item_t *fm, struct release_file *f)
{
	uint64_t mode;

	if (cbor_typeof(fm) != CBOR_TYPE_MAP || cbor_map_size(fm) != 4)
		return WRIT_E_FORMAT;
	if (cbu_get_text(fm, RELEASE_F_NAME, f->name, sizeof(f->name)) < 0 ||
	    cbu_get_fixed(fm, RELEASE_F_SHA256, f->sha256, 32) < 0 ||
	    cbu_get_uint(fm, RELEASE_F_SIZE, RELEASE_FILE_MAX, &f->size) < 0 ||
	    cbu_get_uint(fm, RELEASE_F_MODE, 0777, &mode) < 0)
		return WRIT_E_FORMAT;
	f->mode = (uint32_t)mode;
	return 0;
}

int release_payload_decode(const uint8_t *p, size_t len, struct release *ret)
{
	cbor_item_t *m = NULL, *arr;
	struct release *r;
	uint8_t *again = NULL;
	size_t again_len = 0, i;
	int err;

	if (!ret)
		return WRIT_E_INVAL;
	if (!(r = calloc(1, sizeof(*r))))
		return WRIT_E_NOMEM;
	if ((err = cbu_load_map(p, len, &m)) < 0)
		goto fail;
	err = WRIT_E_FORMAT;
	if (cbor_map_size(m) != 5 || cbu_get_text(m, RELEASE_K_PRODUCT, r->product, sizeof(r->product)) < 0 ||
	    cbu_get_text(m, RELEASE_K_VERSION, r->version, sizeof(r->version)) < 0 ||
	    cbu_get_text(m, RELEASE_K_CHANNEL, r->channel, sizeof(r->channel)) < 0 ||
	    cbu_get_uint(m, RELEASE_K_CREATED, UINT64_MAX, &r->created) < 0)
		goto fail;
	arr = cbu_get(m, RELEASE_K_FILES);
	if (!arr || cbor_typeof(arr) != CBOR_TYPE_ARRAY || !cbor_array_is_definite(arr) ||
	    cbor_array_size(arr) == 0 || cbor_array_size(arr) > RELEASE_FILES_MAX)
		goto fail;
	r->n_files = cbor_array_size(arr);
	for (i = 0; i < r->n_files; i++)
		if (decode_file(cbor_array_handle(arr)[i], &r->files[i]) < 0)
			goto fail;
	if (!release_valid(r))
		goto fail;
	/* only the one canonical encoding: re-encode and compare */
	if ((err = release_payload_encode(r, &again, &again_len)) < 0)
		goto fail;
	err = WRIT_E_FORMAT;
	if (again_len != len || memcmp(again, p, len))
		goto fail;
	*ret = *r;
	err = 0;
fail:
	free(again);
	free(r);
	if (m)
		cbor_decref(&m);
	return err;
}

int release_sign(const struct writ_signer *s, const struct release *r, uint8_t **ret, size_t *ret_len)
{
	uint8_t kid[WRIT_KEYID_LEN], *payload = NULL;
	size_t payload_len = 0;
	int err;

	if (!s || !ret || !ret_len)
		return WRIT_E_INVAL;
	if ((err = ec_keyid(s->pub, kid)) < 0 || (err = release_payload_encode(r, &payload, &payload_len)) < 0)
		return err;
	err = cose_sign1_sign(s, kid, payload, payload_len, ret, ret_len);
	free(payload);
	return err;
}

int release_verify(const uint8_t *msg, size_t len, const uint8_t pub[WRIT_P256_PUB_LEN], struct release *ret)
{
	uint8_t *payload = NULL;
	size_t payload_len = 0;
	int err;

	if (!msg || !pub || !ret)
		return WRIT_E_INVAL;
	if ((err = cose_sign1_verify(msg, len, pub, &payload, &payload_len)) < 0)
		return err;
	err = release_payload_decode(payload, payload_len, ret);
	free(payload);
	return err;
}

int release_accept(const struct release *r, const char *channel, const char *installed, const char *pin,
		   const char **ret_reason)
{
	const char *why = "invalid arguments";
	int cmp = 0, err = WRIT_E_INVAL;

	if (!r || !channel || !ret_reason)
		goto out;
	if (strcmp(r->product, RELEASE_PRODUCT)) {
		why = "not a release of the factory-side programs", err = WRIT_E_SCOPE;
		goto out;
	}
	if (strcmp(r->channel, channel)) {
		why = "wrong channel", err = WRIT_E_SCOPE;
		goto out;
	}
	if (pin && *pin) {
		if (strcmp(r->version, pin)) {
			why = "not the pinned version", err = WRIT_E_SCOPE;
			goto out;
		}
		if (installed && *installed && !strcmp(installed, pin)) {
			why = "the pinned version is installed", err = WRIT_E_REPLAY;
			goto out;
		}
		return 0;
	}
	if (installed && *installed) {
		if (release_version_cmp(r->version, installed, &cmp) < 0) {
			why = "installed version unreadable", err = WRIT_E_INVAL;
			goto out;
		}
		if (cmp < 0) {
			why = "downgrade", err = WRIT_E_REPLAY;
			goto out;
		}
		if (cmp == 0) {
			why = "already installed", err = WRIT_E_REPLAY;
			goto out;
		}
	}
	return 0;
out:
	if (ret_reason)
		*ret_reason = why;
	return err;
}
