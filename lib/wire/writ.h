/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The writ: a CBOR map with integer keys (the scope), signed as a COSE_Sign1 (ES256)
 * by the OEM's writ-signing key, then encrypted as a COSE_Encrypt (ECDH-ES + HKDF-256,
 * A256GCM) to one edge HSM's key-agreement key. docs/writ-format.md has the CDDL.
 *
 * This module encodes/decodes the scope strictly (every required key, right types,
 * bounded sizes, no unknown or duplicate keys) and seals/opens the whole writ. It does
 * not judge whether a writ applies here and now: that is writ-hsmd's scope check.
 */
#ifndef WRIT_WIRE_WRIT_H
#define WRIT_WIRE_WRIT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/keyops.h"

#define WRIT_ID_LEN 16
#define WRIT_DIGEST_LEN 32
#define WRIT_NAME_MAX 64    /* product id, factory id: 1..64 bytes of [A-Za-z0-9._-] */
#define WRIT_PAI_MAX 600    /* Matter certificates are at most 600 bytes DER */
#define WRIT_MAX_REVOKES 64
#define WRIT_MAX_SEALED (64 * 1024) /* a sealed writ larger than this is refused */
#define WRIT_QUANTITY_MAX (16u * 1024 * 1024) /* the most devices one writ may allow: writ-hsmd keeps a
                                                per-writ index of issued devices this large */
#define WRIT_MAX_SECRETS 4
#define WRIT_SECRET_LABEL_MAX 32 /* 1..32 bytes of [a-z0-9-], unique within a writ */
#define WRIT_SECRET_MIN 16
#define WRIT_SECRET_MAX 64
#define WRIT_REWORK_DEVICES_MAX 64 /* UIDs a rework writ may name */
#define WRIT_REWORK_LIMIT_MAX 1000000u /* unlocks and re-provisions one writ may allow */
#define WRIT_DBG_CERT_LEN 209     /* a debug certificate (docs/device-protocol.md) */
#define WRIT_DBG_CHAIN_MAX 2      /* an intermediate, then the delegate */
#define WRIT_DBG_UID_LEN 16

enum writ_kind {
	WRIT_KIND_PRODUCTION = 1, /* a production batch */
	WRIT_KIND_REWORK = 2,     /* rework / debug rights */
	WRIT_KIND_REVOCATION = 3, /* only revokes earlier writs */
};

enum writ_op {
	WRIT_OP_ISSUE_DAC = 1u << 0,
	WRIT_OP_WRAP_SECRET = 1u << 1,
	WRIT_OP_DEBUG_UNLOCK = 1u << 2,
};
#define WRIT_OPS_KNOWN (WRIT_OP_ISSUE_DAC | WRIT_OP_WRAP_SECRET | WRIT_OP_DEBUG_UNLOCK)

/* CBOR map keys of the scope (see docs/writ-format.md). */
enum writ_key {
	WRIT_K_ID = 1,
	WRIT_K_KIND = 2,
	WRIT_K_ISSUER = 3,
	WRIT_K_PRODUCT = 4,
	WRIT_K_VID = 5,
	WRIT_K_PID = 6,
	WRIT_K_VERSION = 7,
	WRIT_K_FACTORY = 8,
	WRIT_K_HSM = 9,
	WRIT_K_QUANTITY = 10,
	WRIT_K_SERIALS = 11,
	WRIT_K_NOT_BEFORE = 12,
	WRIT_K_NOT_AFTER = 13,
	WRIT_K_OPS = 14,
	WRIT_K_FIRMWARE = 15,
	WRIT_K_PAI = 16,
	WRIT_K_REVOKES = 17,
	WRIT_K_ISSUED_AT = 18,
	WRIT_K_DAC_DAYS = 19,
	WRIT_K_SECRETS = 20, /* optional: [1*4 [label, value]] */
	WRIT_K_REWORK = 21,  /* optional: rework rights (struct writ_rework) */
};

/* Rework rights (key 21): the edge HSM's debug delegate may sign unlock tokens, and
 * (kind REWORK with WRIT_OP_ISSUE_DAC) re-provision devices, within these bounds. The
 * chain certifies the HSM's delegate key under the OEM's debug root; the writ's
 * signature makes it authoritative for the HSM, the chip checks it against its OTP. */
struct writ_rework {
	int present;                           /* 0 = key 21 absent */
	uint8_t perms[16];                     /* the most a token may ask; ≠ 0 */
	uint32_t key_gen;                      /* debug key generation of the chain */
	int64_t not_before, not_after;         /* when tokens may be signed */
	uint32_t limit;                        /* unlocks + re-provisions, 1..WRIT_REWORK_LIMIT_MAX */
	uint32_t session_max;                  /* longest unlock a token may give, 1..86400 s */
	size_t n_chain;                        /* 1..WRIT_DBG_CHAIN_MAX */
	uint8_t chain[WRIT_DBG_CHAIN_MAX][WRIT_DBG_CERT_LEN];
	size_t n_devices;                      /* 0 = the devices this HSM provisioned */
	uint8_t devices[WRIT_REWORK_DEVICES_MAX][WRIT_DBG_UID_LEN];
};

/* A product secret the HSM may wrap to devices (WRIT_OP_WRAP_SECRET). Only ever in
 * cleartext in the memory of writ-hsmd (the writ is encrypted to it) and of the
 * authority that mints it: wipe with writ_scope_wipe, never log it. */
struct writ_secret {
	char label[WRIT_SECRET_LABEL_MAX + 1]; /* NUL-terminated */
	uint8_t value[WRIT_SECRET_MAX];
	size_t value_len;                      /* WRIT_SECRET_MIN..WRIT_SECRET_MAX */
};

struct writ_scope {
	uint8_t id[WRIT_ID_LEN];
	uint32_t kind;                         /* enum writ_kind */
	uint8_t issuer_kid[WRIT_KEYID_LEN];    /* key id of the signing key */
	char product[WRIT_NAME_MAX + 1];       /* NUL-terminated */
	uint16_t vid, pid;                     /* Matter VID/PID; DACs take these */
	uint8_t version_digest[WRIT_DIGEST_LEN]; /* product-version digest */
	char factory[WRIT_NAME_MAX + 1];       /* NUL-terminated */
	uint8_t hsm_id[WRIT_KEYID_LEN];        /* key id of the HSM identity key */
	uint64_t quantity;                     /* how many devices; 0 for revocation */
	uint64_t serial_first, serial_last;    /* device serial-number range, inclusive */
	int64_t not_before, not_after;         /* Unix seconds, not_before < not_after */
	int64_t issued_at;                     /* Unix seconds */
	uint32_t ops;                          /* enum writ_op bits */
	uint8_t firmware_digest[WRIT_DIGEST_LEN];
	uint8_t pai[WRIT_PAI_MAX];             /* PAI certificate DER for this HSM */
	size_t pai_len;                        /* 0 only for revocation writs */
	uint32_t dac_days;                     /* DAC validity in days; 0 = no expiry */
	size_t n_revokes;
	uint8_t revokes[WRIT_MAX_REVOKES][WRIT_ID_LEN];
	size_t n_secrets;                      /* 0..WRIT_MAX_SECRETS; 0 = key 20 absent */
	struct writ_secret secrets[WRIT_MAX_SECRETS];
	struct writ_rework rework;
};

/* Wipe a scope (its secrets included) with writ_memzero. Accepts NULL. Every holder of
 * a decoded scope calls it before the memory is freed or goes out of scope. */
void writ_scope_wipe(struct writ_scope *s);

/* The secret labelled label (len bytes) in s, or NULL. The pointer is into s. */
const struct writ_secret *writ_scope_secret(const struct writ_scope *s, const char *label, size_t len);

/* 1 if label (len bytes) is a valid secret label: 1..32 bytes of [a-z0-9-]. */
int writ_secret_label_valid(const char *label, size_t len);

/* 1 if s is a valid product or factory id: 1..64 bytes of [A-Za-z0-9._-], NUL-terminated
 * within WRIT_NAME_MAX + 1 bytes; 0 otherwise. */
int writ_name_valid(const char *s);

/* Encode the scope as canonical CBOR (keys in ascending order). Validates first:
 * WRIT_E_INVAL for a scope that would not decode. *ret is malloc'd; it holds the
 * secrets in clear if the scope has any, so the caller wipes it before free. */
WRIT_MUST_CHECK int writ_scope_encode(const struct writ_scope *s, uint8_t **ret, size_t *ret_len);

/* Decode and validate a scope. Strict: WRIT_E_FORMAT for anything unexpected. */
WRIT_MUST_CHECK int writ_scope_decode(const uint8_t *cbor, size_t len, struct writ_scope *ret);

/* Sign the scope with issuer (kid = issuer's key id, written into s->issuer_kid of the
 * encoded copy) and encrypt to the HSM's key-agreement key. *ret is malloc'd. */
WRIT_MUST_CHECK int writ_seal(const struct writ_scope *s, const struct writ_signer *issuer,
			      const uint8_t hsm_kex_pub[WRIT_P256_PUB_LEN], uint8_t **ret, size_t *ret_len);

/* Decrypt with kex, verify the COSE_Sign1 under the pinned issuer key, decode the
 * scope, and check that the scope's issuer_kid names the pinned key.
 * On success also returns the signed COSE_Sign1 bytes (malloc'd) if ret_signed is not
 * NULL, so the caller can journal exactly what was authorized.
 * WRIT_E_TOOBIG, WRIT_E_FORMAT, WRIT_E_DECRYPT, WRIT_E_BADSIG (including "signed by a
 * key that is not pinned"). */
WRIT_MUST_CHECK int writ_open(const uint8_t *in, size_t len, const struct writ_ecdh *kex,
			      const uint8_t pinned_pub[WRIT_P256_PUB_LEN], struct writ_scope *ret,
			      uint8_t **ret_signed, size_t *ret_signed_len);

/* Verify an already-decrypted COSE_Sign1 writ (e.g. from the journal) and decode it. */
WRIT_MUST_CHECK int writ_verify_signed(const uint8_t *signed_msg, size_t len,
				       const uint8_t pinned_pub[WRIT_P256_PUB_LEN], struct writ_scope *ret);

#endif
