/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small strict helpers over libcbor for writ's integer-keyed CBOR maps (journal
 * entries, socket messages, enrolment bundles). Loading is bounded and strict: one
 * definite-length map, unsigned integer keys, no duplicate keys, no indefinite
 * strings or containers anywhere, no trailing bytes. Getters check type and bounds.
 */
#ifndef WRIT_WIRE_CBU_H
#define WRIT_WIRE_CBU_H

#include <stddef.h>
#include <stdint.h>

#include <cbor.h>

#include "base/err.h"

#define CBU_MAX_INPUT (1024 * 1024)

/* Parse buf as one strict map. *ret_map is released with cbor_decref. */
WRIT_MUST_CHECK int cbu_load_map(const uint8_t *buf, size_t len, cbor_item_t **ret_map);

/* Value for key, or NULL. */
cbor_item_t *cbu_get(const cbor_item_t *map, uint64_t key);

/* Typed getters: WRIT_E_NOTFOUND if absent, WRIT_E_FORMAT if wrong type or bounds. */
WRIT_MUST_CHECK int cbu_get_uint(const cbor_item_t *map, uint64_t key, uint64_t max, uint64_t *ret);
WRIT_MUST_CHECK int cbu_get_int(const cbor_item_t *map, uint64_t key, int64_t *ret);
/* Points into the item; valid while the map lives. */
WRIT_MUST_CHECK int cbu_get_bytes(const cbor_item_t *map, uint64_t key, size_t min, size_t max,
				  const uint8_t **ret, size_t *ret_len);
/* Copy exactly n bytes. */
WRIT_MUST_CHECK int cbu_get_fixed(const cbor_item_t *map, uint64_t key, uint8_t *out, size_t n);
/* Copy a text string of at most cap-1 bytes, NUL-terminated, without embedded NULs. */
WRIT_MUST_CHECK int cbu_get_text(const cbor_item_t *map, uint64_t key, char *out, size_t cap);

/* Building: each adds key -> value to a definite map made with cbu_new_map(n). They
 * return WRIT_E_NOMEM on failure (the map keeps whatever was added). */
cbor_item_t *cbu_new_map(size_t n);
WRIT_MUST_CHECK int cbu_put_uint(cbor_item_t *map, uint64_t key, uint64_t v);
WRIT_MUST_CHECK int cbu_put_int(cbor_item_t *map, uint64_t key, int64_t v);
WRIT_MUST_CHECK int cbu_put_bytes(cbor_item_t *map, uint64_t key, const uint8_t *p, size_t n);
WRIT_MUST_CHECK int cbu_put_text(cbor_item_t *map, uint64_t key, const char *s);
/* Takes a reference to value (caller still decrefs its own). */
WRIT_MUST_CHECK int cbu_put_item(cbor_item_t *map, uint64_t key, cbor_item_t *value);

/* Serialize to malloc'd bytes. */
WRIT_MUST_CHECK int cbu_serialize(const cbor_item_t *item, uint8_t **ret, size_t *ret_len);

#endif
