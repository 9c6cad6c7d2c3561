/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Building a PKCS#10 CSR whose proof-of-possession signature is made by a writ_signer,
 * so the key may sit in a token (the HSM's PAI key) or on a chip (a device key).
 */
#ifndef WRIT_CRYPTO_CSR_H
#define WRIT_CRYPTO_CSR_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/keyops.h"

/* A DER CSR for signer->pub with subject CN = cn (<= 64 bytes), ecdsa-with-SHA256.
 * *ret_der is malloc'd; caller frees. */
WRIT_MUST_CHECK int csr_build_sign(const char *cn, const struct writ_signer *signer, uint8_t **ret_der,
				   size_t *ret_len);

#endif
