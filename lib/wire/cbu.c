/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Strict, bounded use of libcbor for integer-keyed maps. libcbor accepts indefinite
 * lengths and duplicate keys, and allocates a container's claimed size up front;
 * writ's formats allow none of that, so the raw bytes are walked once, and refused,
 * before libcbor sees them.
 */
#include <stdlib.h>
#include <string.h>

#include "wire/cbu.h"

#define CBU_MAX_DEPTH 8
#define CBU_MAX_PAIRS 32 /* writ's maps have at most 19 keys; this keeps key checks linear */

/* Walk the raw encoding before libcbor sees it: every length and count must fit in
 * the bytes that remain, no indefinite lengths, no tags, no floats, no reserved
 * additional-information values; map keys are unsigned integers, unique, and a map
 * holds at most CBU_MAX_PAIRS pairs. Returns the bytes consumed by one item or a
 * negative writ_err. */
/* The value of a well-formed unsigned-integer head at p. */
static uint64_t key_value(const uint8_t *p)
{
	uint8_t ai = p[0] & 31;
	uint64_t v = 0;
	size_t i;

	if (ai < 24)
		return ai;
	for (i = 0; i < ((size_t)1 << (ai - 24)); i++)
		v = v << 8 | p[1 + i];
	return v;
}

static long wellformed(const uint8_t *p, size_t len, int depth)
{
	uint8_t major, ai;
	uint64_t arg = 0;
	size_t hdr = 1, i, off;

	if (len < 1 || depth > CBU_MAX_DEPTH)
		return WRIT_E_FORMAT;
	major = p[0] >> 5;
	ai = p[0] & 31;
	if (ai < 24) {
		arg = ai;
	} else if (ai <= 27) {
		size_t n = (size_t)1 << (ai - 24);
		if (len < 1 + n)
			return WRIT_E_FORMAT;
		for (i = 0; i < n; i++)
			arg = arg << 8 | p[1 + i];
		hdr += n;
	} else {
		return WRIT_E_FORMAT; /* reserved or indefinite */
	}
	switch (major) {
	case 0: case 1:
		return (long)hdr;
	case 2: case 3:
		if (arg > len - hdr)
			return WRIT_E_FORMAT;
		return (long)(hdr + arg);
	case 4:
		/* each element takes at least one byte */
		if (arg > len - hdr)
			return WRIT_E_FORMAT;
		off = hdr;
		for (i = 0; i < arg; i++) {
			long n = wellformed(p + off, len - off, depth + 1);
			if (n < 0)
				return n;
			off += (size_t)n;
		}
		return (long)off;
	case 5: {
		uint64_t keys[CBU_MAX_PAIRS];
		if (arg > CBU_MAX_PAIRS || arg > (len - hdr) / 2)
			return WRIT_E_FORMAT;
		off = hdr;
		for (i = 0; i < arg; i++) {
			long n;
			size_t j;
			if (off >= len || p[off] >> 5 != 0)
				return WRIT_E_FORMAT; /* input ended, or a key that is not an unsigned integer */
			n = wellformed(p + off, len - off, depth + 1);
			if (n < 0)
				return n;
			keys[i] = key_value(p + off);
			for (j = 0; j < i; j++)
				if (keys[j] == keys[i])
					return WRIT_E_FORMAT; /* duplicate key */
			off += (size_t)n;
			n = wellformed(p + off, len - off, depth + 1);
			if (n < 0)
				return n;
			off += (size_t)n;
		}
		return (long)off;
	}
	case 7:
		/* false, true, null only */
		return (ai >= 20 && ai <= 22) ? (long)hdr : WRIT_E_FORMAT;
	default:
		return WRIT_E_FORMAT; /* tags */
	}
}

int cbu_load_map(const uint8_t *buf, size_t len, cbor_item_t **ret_map)
{
	struct cbor_load_result res;
	cbor_item_t *it;

	if (!buf || len == 0)
		return WRIT_E_FORMAT;
	if (len > CBU_MAX_INPUT)
		return WRIT_E_TOOBIG;
	if (wellformed(buf, len, 0) != (long)len)
		return WRIT_E_FORMAT;
	it = cbor_load(buf, len, &res);
	if (!it)
		return res.error.code == CBOR_ERR_MEMERROR ? WRIT_E_NOMEM : WRIT_E_FORMAT;
	if (res.read != len || cbor_typeof(it) != CBOR_TYPE_MAP) {
		cbor_decref(&it);
		return WRIT_E_FORMAT;
	}
	*ret_map = it;
	return 0;
}

cbor_item_t *cbu_get(const cbor_item_t *map, uint64_t key)
{
	struct cbor_pair *p;
	size_t i, n;

	if (!map || cbor_typeof(map) != CBOR_TYPE_MAP)
		return NULL;
	p = cbor_map_handle(map);
	n = cbor_map_size(map);
	for (i = 0; i < n; i++)
		if (cbor_typeof(p[i].key) == CBOR_TYPE_UINT && cbor_get_int(p[i].key) == key)
			return p[i].value;
	return NULL;
}

int cbu_get_uint(const cbor_item_t *map, uint64_t key, uint64_t max, uint64_t *ret)
{
	cbor_item_t *v = cbu_get(map, key);
	uint64_t x;

	if (!v)
		return WRIT_E_NOTFOUND;
	if (cbor_typeof(v) != CBOR_TYPE_UINT)
		return WRIT_E_FORMAT;
	x = cbor_get_int(v);
	if (x > max)
		return WRIT_E_FORMAT;
	*ret = x;
	return 0;
}

int cbu_get_int(const cbor_item_t *map, uint64_t key, int64_t *ret)
{
	cbor_item_t *v = cbu_get(map, key);
	uint64_t x;

	if (!v)
		return WRIT_E_NOTFOUND;
	x = cbor_get_int(v);
	if (x > (uint64_t)INT64_MAX)
		return WRIT_E_FORMAT;
	if (cbor_typeof(v) == CBOR_TYPE_UINT)
		*ret = (int64_t)x;
	else if (cbor_typeof(v) == CBOR_TYPE_NEGINT)
		*ret = -1 - (int64_t)x;
	else
		return WRIT_E_FORMAT;
	return 0;
}

int cbu_get_bytes(const cbor_item_t *map, uint64_t key, size_t min, size_t max, const uint8_t **ret,
		  size_t *ret_len)
{
	cbor_item_t *v = cbu_get(map, key);
	size_t n;

	if (!v)
		return WRIT_E_NOTFOUND;
	if (cbor_typeof(v) != CBOR_TYPE_BYTESTRING || !cbor_bytestring_is_definite(v))
		return WRIT_E_FORMAT;
	n = cbor_bytestring_length(v);
	if (n < min || n > max)
		return WRIT_E_FORMAT;
	*ret = cbor_bytestring_handle(v);
	*ret_len = n;
	return 0;
}

int cbu_get_fixed(const cbor_item_t *map, uint64_t key, uint8_t *out, size_t n)
{
	const uint8_t *p;
	size_t len;
	int err = cbu_get_bytes(map, key, n, n, &p, &len);

	if (err < 0)
		return err;
	memcpy(out, p, n);
	return 0;
}

int cbu_get_text(const cbor_item_t *map, uint64_t key, char *out, size_t cap)
{
	cbor_item_t *v = cbu_get(map, key);
	size_t n;

	if (!v)
		return WRIT_E_NOTFOUND;
	if (cbor_typeof(v) != CBOR_TYPE_STRING || !cbor_string_is_definite(v))
		return WRIT_E_FORMAT;
	n = cbor_string_length(v);
	if (n + 1 > cap || memchr(cbor_string_handle(v), 0, n))
		return WRIT_E_FORMAT;
	memcpy(out, cbor_string_handle(v), n);
	out[n] = 0;
	return 0;
}

cbor_item_t *cbu_new_map(size_t n)
{
	return cbor_new_definite_map(n);
}

/* Adds key -> value, consuming the caller's reference to value. */
static int put_owned(cbor_item_t *map, uint64_t key, cbor_item_t *value)
{
	cbor_item_t *k = cbor_build_uint64(key);
	bool ok;

	if (!k || !value) {
		if (k)
			cbor_decref(&k);
		if (value)
			cbor_decref(&value);
		return WRIT_E_NOMEM;
	}
	ok = cbor_map_add(map, (struct cbor_pair){ .key = cbor_move(k), .value = cbor_move(value) });
	return ok ? 0 : WRIT_E_NOMEM;
}

int cbu_put_uint(cbor_item_t *map, uint64_t key, uint64_t v)
{
	return put_owned(map, key, cbor_build_uint64(v));
}

int cbu_put_int(cbor_item_t *map, uint64_t key, int64_t v)
{
	if (v >= 0)
		return put_owned(map, key, cbor_build_uint64((uint64_t)v));
	return put_owned(map, key, cbor_build_negint64((uint64_t)(-1 - v)));
}

int cbu_put_bytes(cbor_item_t *map, uint64_t key, const uint8_t *p, size_t n)
{
	static const uint8_t empty[1];

	return put_owned(map, key, cbor_build_bytestring(n ? p : empty, n));
}

int cbu_put_text(cbor_item_t *map, uint64_t key, const char *s)
{
	return put_owned(map, key, cbor_build_string(s));
}

int cbu_put_item(cbor_item_t *map, uint64_t key, cbor_item_t *value)
{
	return put_owned(map, key, cbor_incref(value));
}

int cbu_serialize(const cbor_item_t *item, uint8_t **ret, size_t *ret_len)
{
	unsigned char *buf = NULL;
	size_t cap = 0, n;

	n = cbor_serialize_alloc(item, &buf, &cap);
	if (n == 0 || !buf) {
		free(buf);
		return WRIT_E_NOMEM;
	}
	*ret = buf;
	*ret_len = n;
	return 0;
}
