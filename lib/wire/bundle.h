/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The product-version bundle (.wbundle, docs/factory-api.md): what a station needs to
 * run a writ besides the HSM (recipe, firmware image and its secure-boot signature,
 * Matter settings), as a canonical CBOR map signed as a COSE_Sign1 (ES256, kid = the
 * writ-signing key id) by the OEM. The factory verifies it offline under the pinned OEM
 * key; the writ pins it by digest (version digest = SHA-256 of the payload bytes).
 *
 * A bundle holds a firmware image of up to 4 MiB, past lib/crypto/cose.c's 1 MiB
 * bound, so this module reads and writes its COSE_Sign1 itself, with the same layout
 * (tag 18, protected header {1: -7, 4: kid}, empty unprotected map, raw r||s) and a
 * hand-written strict CBOR reader: definite lengths only, shortest-form heads, no
 * floats, no tags other than the outer 18, keys in ascending order, no unknown keys, no
 * trailing bytes, every size bounded before use.
 */
#ifndef WRIT_WIRE_BUNDLE_H
#define WRIT_WIRE_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/keyops.h"

#define BUNDLE_MAX (8u * 1024 * 1024)         /* a whole .wbundle */
#define BUNDLE_FW_MAX (4u * 1024 * 1024)      /* firmware image: 1 .. 4 MiB */
#define BUNDLE_NAME_MAX 64                    /* product id, version name */
#define BUNDLE_SETTINGS_MAX (16 * 1024)       /* Matter settings text */
#define BUNDLE_RECIPE_MAX 12                  /* the fixed step list */
#define BUNDLE_STEP_MAX 16                    /* longest step name + NUL */
#define BUNDLE_SECRETS_MAX 4                  /* as many as a writ carries */
#define BUNDLE_LABEL_MAX 32                   /* secret label: 1..32 of [a-z0-9-] */
#define BUNDLE_PREFIX_MAX 12                  /* serial-number prefix: a Matter serial is <= 32 characters, and the device number (up to 20 digits) must fit after it */
#define BUNDLE_ITER_DEFAULT 10000u
#define BUNDLE_ITER_MIN 1000u                 /* Matter's SPAKE2+ PBKDF2 bounds */
#define BUNDLE_ITER_MAX 100000u

/* Payload keys (docs/factory-api.md). */
enum bundle_key {
	BUNDLE_K_PRODUCT = 1, BUNDLE_K_VERSION = 2, BUNDLE_K_FW_VERSION = 3, BUNDLE_K_FIRMWARE = 4,
	BUNDLE_K_FW_SIG = 5, BUNDLE_K_SB_PUB = 6, BUNDLE_K_DEBUG_ROOT = 7, BUNDLE_K_SETTINGS = 8,
	BUNDLE_K_RECIPE = 9, BUNDLE_K_SECRETS = 10, BUNDLE_K_ITERATIONS = 11, BUNDLE_K_SERIAL_PREFIX = 12,
};

struct bundle {
	char product[BUNDLE_NAME_MAX + 1];   /* [A-Za-z0-9._-], as in the writ */
	char version[BUNDLE_NAME_MAX + 1];   /* [A-Za-z0-9._+-] */
	uint32_t fw_version;
	const uint8_t *firmware;             /* not owned: into the decoded buffer, or the caller's */
	size_t firmware_len;                 /* 1..BUNDLE_FW_MAX */
	uint8_t fw_sig[WRIT_P256_SIG_LEN];
	uint8_t sb_pub[WRIT_P256_PUB_LEN];
	uint8_t debug_root_hash[32];
	char settings[BUNDLE_SETTINGS_MAX + 1]; /* 1..16 KiB of printable ASCII, tab, LF, CR */
	size_t n_steps;
	char recipe[BUNDLE_RECIPE_MAX][BUNDLE_STEP_MAX];
	size_t n_secrets;                    /* 0 = key 10 absent */
	char secrets[BUNDLE_SECRETS_MAX][BUNDLE_LABEL_MAX + 1];
	uint32_t iterations;                 /* BUNDLE_ITER_DEFAULT when key 11 is absent */
	int has_iterations;
	char serial_prefix[BUNDLE_PREFIX_MAX + 1]; /* "" = key 12 absent */
	/* filled by decode / verify (and by bundle_sign for the caller's information) */
	uint8_t version_digest[32];          /* SHA-256 of the payload bytes */
	uint8_t firmware_digest[32];         /* SHA-256 of the firmware image */
};

/* 1 if steps[0..n) is a valid recipe: the fixed order discover, keys, dac, chain,
 * factory-data, secret, otp, firmware, lock, verify, record, label, where only secret
 * and label may be left out. */
int bundle_recipe_valid(const char (*steps)[BUNDLE_STEP_MAX], size_t n);

/* Parse "a,b,c" into b->recipe (checked with bundle_recipe_valid). WRIT_E_INVAL if not. */
WRIT_MUST_CHECK int bundle_recipe_parse(const char *list, struct bundle *b);

/* The default recipe (every step; without secret when the bundle has no secrets). */
void bundle_recipe_default(struct bundle *b);

/* Encode b's payload canonically. Validates first (WRIT_E_INVAL). *ret is malloc'd;
 * the caller frees it. */
WRIT_MUST_CHECK int bundle_payload_encode(const struct bundle *b, uint8_t **ret, size_t *ret_len);

/* Decode and validate a payload strictly (WRIT_E_FORMAT, WRIT_E_TOOBIG). ret->firmware
 * points into buf, so buf must outlive ret. Fills both digests. */
WRIT_MUST_CHECK int bundle_payload_decode(const uint8_t *buf, size_t len, struct bundle *ret);

/* Sign b into a .wbundle with signer (kid = its key id). *ret is malloc'd. Also
 * writes b's digests into ret_version_digest / ret_firmware_digest (each may be NULL). */
WRIT_MUST_CHECK int bundle_sign(const struct bundle *b, const struct writ_signer *signer, uint8_t **ret,
				size_t *ret_len, uint8_t ret_version_digest[32], uint8_t ret_firmware_digest[32]);

/* Verify a .wbundle under pinned_pub and decode its payload into ret (whose firmware
 * points into msg: msg must outlive ret). WRIT_E_TOOBIG (> BUNDLE_MAX), WRIT_E_FORMAT,
 * WRIT_E_UNSUPPORTED (alg is not ES256), WRIT_E_BADSIG (signature, or a kid that is
 * not the pinned key's). */
WRIT_MUST_CHECK int bundle_verify(const uint8_t *msg, size_t len, const uint8_t pinned_pub[WRIT_P256_PUB_LEN],
				  struct bundle *ret);

#endif
