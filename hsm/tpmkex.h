/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HSM's key-agreement key in a TPM 2.0, for tokens without CKM_ECDH1_DERIVE
 * (`writ-hsmd init --kex tpm`; Debian 12's tpm2-pkcs11 1.9 is one). Writs are sealed to
 * this key (COSE ECDH-ES, docs/writ-format.md), so a token that cannot do ECDH cannot
 * serve writ-hsmd alone; the TPM underneath can (TPM2_ECDH_ZGen).
 *
 * The key is a P-256 decrypt key made by TPM2_Create under a primary key of the owner
 * hierarchy (regenerated at each start from the same template, nothing persistent), so
 * it is fixedTPM, fixedParent, sensitiveDataOrigin: it was born in the TPM and cannot
 * leave it. What the state directory keeps (STATE/kex.tpm) is its public area and its
 * private area encrypted by that primary: loadable only into this TPM. Its
 * authorisation value is derived from the token's user PIN (SHA-256 of a label and the
 * PIN), so the file and access to the TPM are not enough to use it. Its public key is
 * the one in the journal's genesis and the enrolment bundle; a mismatch is refused.
 *
 * File: "WKX1" || TPM2B_PUBLIC || TPM2B_PRIVATE (TPM marshalling, tss2-mu).
 */
#ifndef WRIT_HSM_TPMKEX_H
#define WRIT_HSM_TPMKEX_H

#include <stdint.h>

#include "base/err.h"
#include "base/keyops.h"
#include "hsm/tpm.h"

#define TPMKEX_FILE "kex.tpm"

struct tpmkex;

/* At init: make the key in the TPM, write its file to path (0600, atomically), return
 * its public key (0x04 || X || Y). */
WRIT_MUST_CHECK int tpmkex_create(struct tpm *t, const char *pin, const char *path,
				  uint8_t ret_pub[WRIT_P256_PUB_LEN]);

/* At serve: read path, check the key's attributes, load it under the primary. The TPM
 * must stay open until tpmkex_free. WRIT_E_FORMAT for a file that is not a writ-hsmd
 * key-agreement key, WRIT_E_AUTH when the TPM refuses the authorisation (another PIN). */
WRIT_MUST_CHECK int tpmkex_load(struct tpm *t, const char *pin, const char *path, struct tpmkex **ret);

/* The key as a writ_ecdh (keyops.h): derive runs TPM2_ECDH_ZGen under the TPM's lock. */
void tpmkex_ecdh(struct tpmkex *k, struct writ_ecdh *ret);
void tpmkex_free(struct tpmkex *k); /* NULL accepted */

/* The file format alone (no TPM): 0 if buf is a well-formed key-agreement key file
 * whose public area is an unrestricted P-256 decrypt key born in a TPM (for the fuzz
 * harness and the loader). */
WRIT_MUST_CHECK int tpmkex_parse(const uint8_t *buf, size_t len, TPM2B_PUBLIC *ret_pub, TPM2B_PRIVATE *ret_priv);

#endif
