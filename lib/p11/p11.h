/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one PKCS#11 layer of writ. It loads a module (SoftHSM2 by default, any PKCS#11
 * module by configuration), selects a token by label, logs in as user, generates P-256
 * key pairs that are token objects, CKA_SENSITIVE and not CKA_EXTRACTABLE, and offers
 * signing (CKM_ECDSA over a digest), ECDH (CKM_ECDH1_DERIVE) and random bytes.
 * CK_RV is translated to writ_err here and nowhere else.
 *
 * Thread safety: a p11_ctx keeps a pool of sessions (at most 32, fewer if the token says
 * so; further callers wait for one); the signer/ECDH views, p11_random, p11_find_key and
 * p11_keygen_p256 may be called from several threads at once. p11_close may not.
 * If the token closes all sessions (device removed), the login is lost and operations fail
 * with WRIT_E_AUTH or WRIT_E_TOKEN until the ctx is closed and opened again.
 * PINs come from a file or the environment, never from argv, and are wiped after login.
 */
#ifndef WRIT_P11_P11_H
#define WRIT_P11_P11_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/keyops.h"

#define P11_PIN_MAX 128
#define P11_LABEL_MAX 32

enum p11_usage {
	P11_USAGE_SIGN = 1,   /* CKA_SIGN on the private key */
	P11_USAGE_DERIVE = 2, /* CKA_DERIVE on the private key */
};

struct p11_ctx;

/* Read a PIN: from the file at pin_file if not NULL (first line, no newline), else from
 * the environment variable env_name. WRIT_E_NOTFOUND when neither is set (an empty
 * variable counts as unset; a missing file too), WRIT_E_FORMAT for an empty first line
 * or a NUL byte, WRIT_E_TOOBIG above P11_PIN_MAX - 1 bytes, WRIT_E_IO otherwise.
 * ret_pin is NUL-terminated and written only on success; the caller wipes it. */
WRIT_MUST_CHECK int p11_pin_load(const char *pin_file, const char *env_name, char ret_pin[P11_PIN_MAX]);

/* Initialise a token with label in the first slot that has no initialised token, set
 * its SO PIN and user PIN. WRIT_E_EXISTS if a token with that label already exists. */
WRIT_MUST_CHECK int p11_token_init(const char *module_path, const char *label, const char *so_pin,
				   const char *user_pin);

/* Load module_path (NULL = WRIT_DEFAULT_P11_MODULE), find the token labelled
 * token_label, log in as user with pin. *ret is freed with p11_close. lib/p11 wipes its
 * own copy of pin; the caller wipes pin. WRIT_E_NOTFOUND for a module that does not load
 * or an unknown token, WRIT_E_AUTH for a wrong PIN. Several contexts may open the same
 * token in one process: PKCS#11 login is per application, so later ones have their PIN
 * compared with the one that logged in; WRIT_E_STATE if code outside lib/p11 logged in. */
WRIT_MUST_CHECK int p11_open(const char *module_path, const char *token_label, const char *pin,
			     struct p11_ctx **ret);
/* Accepts NULL; invalidates every view. No operation on ctx may be in progress. */
void p11_close(struct p11_ctx *ctx);

/* Where a program's PINs come from: a file given on its command line, else its
 * environment variable (p11_pin_load). The SO PIN is read only to create a token. */
struct p11_pin_source {
	const char *pin_file, *pin_env;
	const char *so_pin_file, *so_pin_env;
};

/* Load the user PIN, open the token; with create set and no such token, load the SO PIN
 * and initialise the token first. Every PIN copy is wiped. WRIT_E_AUTH with *ret_missing
 * set to "PIN" or "SO PIN" when that one could not be loaded (the caller tells the user
 * where it is looked for); otherwise p11_open's and p11_token_init's errors. */
WRIT_MUST_CHECK int p11_open_pins(const char *module_path, const char *token_label, const struct p11_pin_source *src,
				  int create, struct p11_ctx **ret, const char **ret_missing);

/* Generate a P-256 key pair named label (CKA_LABEL on both halves; CKA_ID = key id).
 * WRIT_E_EXISTS if a private key with that label exists. */
WRIT_MUST_CHECK int p11_keygen_p256(struct p11_ctx *ctx, const char *label, unsigned usage,
				    uint8_t ret_pub[WRIT_P256_PUB_LEN]);

/* Find the key pair named label and return its public point. WRIT_E_NOTFOUND if there
 * is none, WRIT_E_FORMAT if CKA_ID is not the key id of the public point. */
WRIT_MUST_CHECK int p11_find_key(struct p11_ctx *ctx, const char *label, uint8_t ret_pub[WRIT_P256_PUB_LEN]);

/* A signer / ECDH view of the key named label; valid until p11_close, owned by ctx.
 * WRIT_E_UNSUPPORTED if the key was not generated with that usage. */
WRIT_MUST_CHECK int p11_signer(struct p11_ctx *ctx, const char *label, struct writ_signer *ret);
WRIT_MUST_CHECK int p11_ecdh(struct p11_ctx *ctx, const char *label, struct writ_ecdh *ret);

/* What the token in ctx lacks for keys of usage (P11_USAGE_* bits; 0 = only key
 * generation and random bytes): NULL if nothing, else a static sentence naming the first
 * missing piece, "this token lacks CKM_ECDH1_DERIVE (ECDH key derivation)". Found once at
 * p11_open from C_GetMechanismList / C_GetMechanismInfo (the flag writ uses each mechanism
 * for) and the token's CKF_RNG flag. p11_keygen_p256, p11_signer, p11_ecdh and p11_random
 * return WRIT_E_UNSUPPORTED for what the token lacks, without asking it; callers print
 * p11_lacks' sentence. */
const char *p11_lacks(const struct p11_ctx *ctx, unsigned usage);

/* n random bytes from the token's generator. WRIT_E_UNSUPPORTED without CKF_RNG. */
WRIT_MUST_CHECK int p11_random(struct p11_ctx *ctx, uint8_t *buf, size_t n);

#endif
