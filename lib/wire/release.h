/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The release manifest of the factory-side programs (docs/releases.md): a canonical
 * CBOR map with integer keys {product, version, channel, created, files: [{name,
 * sha256, size, mode}]} signed as a COSE_Sign1 (ES256, kid = the release key id) by the
 * operator's release key in writ-cloud's token. The files travel next to it; a factory
 * verifies the manifest under its pinned release key, decides whether to take it
 * (release_accept: channel, strictly newer, or exactly the OEM's pin), then checks each
 * file's size and SHA-256 before staging. Decoding is strict: only the canonical
 * encoding (what release_payload_encode writes) is accepted, every size is bounded.
 */
#ifndef WRIT_WIRE_RELEASE_H
#define WRIT_WIRE_RELEASE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/keyops.h"

#define RELEASE_PRODUCT "writ-factory-side"
#define RELEASE_NAME_MAX 64        /* file name: 1..64 of [A-Za-z0-9._-], not starting with '.' */
#define RELEASE_VERSION_MAX 32     /* semver MAJOR.MINOR.PATCH[-PRE] */
#define RELEASE_CHANNEL_MAX 16     /* 1..16 of [a-z0-9-] */
#define RELEASE_FILES_MAX 16
#define RELEASE_FILE_MAX (256ull * 1024 * 1024) /* one file: 0 .. 256 MiB */

/* Payload keys (docs/releases.md). */
enum release_key {
	RELEASE_K_PRODUCT = 1, RELEASE_K_VERSION = 2, RELEASE_K_CHANNEL = 3, RELEASE_K_CREATED = 4,
	RELEASE_K_FILES = 5,
};
enum release_file_key { RELEASE_F_NAME = 1, RELEASE_F_SHA256 = 2, RELEASE_F_SIZE = 3, RELEASE_F_MODE = 4 };

struct release_file {
	char name[RELEASE_NAME_MAX + 1];
	uint8_t sha256[32];
	uint64_t size;  /* 0..RELEASE_FILE_MAX */
	uint32_t mode;  /* permission bits only: 0..0777 */
};

struct release {
	char product[sizeof(RELEASE_PRODUCT)];
	char version[RELEASE_VERSION_MAX + 1];
	char channel[RELEASE_CHANNEL_MAX + 1];
	uint64_t created;  /* seconds since the epoch */
	size_t n_files;    /* 1..RELEASE_FILES_MAX, names unique and in ascending byte order */
	struct release_file files[RELEASE_FILES_MAX];
};

/* 1 if s is a version we accept (semver 2.0 without build metadata), else 0. */
int release_version_ok(const char *s);
/* 1 if s is a valid channel / file name. */
int release_channel_ok(const char *s);
int release_name_ok(const char *s);

/* Semver 2.0 precedence of two valid versions: <0, 0, >0. WRIT_E_INVAL (via *ret_cmp
 * untouched and a negative return) when either is not valid. */
WRIT_MUST_CHECK int release_version_cmp(const char *a, const char *b, int *ret_cmp);

/* Encode r canonically after validating it (WRIT_E_INVAL). *ret is malloc'd. */
WRIT_MUST_CHECK int release_payload_encode(const struct release *r, uint8_t **ret, size_t *ret_len);

/* Decode a payload; WRIT_E_FORMAT unless it is exactly the canonical encoding of a valid
 * release. *ret is written only on success. */
WRIT_MUST_CHECK int release_payload_decode(const uint8_t *p, size_t len, struct release *ret);

/* Sign r into a tagged COSE_Sign1 (kid = signer's key id). *ret is malloc'd. */
WRIT_MUST_CHECK int release_sign(const struct writ_signer *s, const struct release *r, uint8_t **ret, size_t *ret_len);

/* Verify a COSE_Sign1 manifest under the pinned release key and decode it.
 * WRIT_E_BADSIG (signature or kid), WRIT_E_FORMAT / WRIT_E_TOOBIG (malformed). */
WRIT_MUST_CHECK int release_verify(const uint8_t *msg, size_t len, const uint8_t pub[WRIT_P256_PUB_LEN],
				   struct release *ret);

/*
 * Whether a factory on channel `channel`, running `installed` (NULL or "" = nothing
 * known), with the OEM's pin `pin` (NULL or "" = none), takes verified release r.
 * 0 = take it. Otherwise WRIT_E_SCOPE (other product or channel, or not the pinned
 * version), WRIT_E_REPLAY (not newer than installed: a downgrade or the same one),
 * and *ret_reason names the reason in a few words (static string).
 * A pinned version is taken when it differs from the installed one, older or not:
 * the OEM's pin is the one way back.
 */
WRIT_MUST_CHECK int release_accept(const struct release *r, const char *channel, const char *installed,
				   const char *pin, const char **ret_reason);

#endif
