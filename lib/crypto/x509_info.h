/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a person reads about a certificate: subject, issuer, serial, validity and the
 * SHA-256 of its DER. For display (the dashboard's certificate chain); it checks the
 * encoding, not the signature or the profile (x509.h and matter_cert.h do those).
 */
#ifndef WRIT_CRYPTO_X509_INFO_H
#define WRIT_CRYPTO_X509_INFO_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define X509_INFO_NAME_MAX 256

struct x509_info {
	char subject[X509_INFO_NAME_MAX];  /* RFC 2253 text, cut at X509_INFO_NAME_MAX - 1 */
	char issuer[X509_INFO_NAME_MAX];
	char serial[41];                   /* lowercase hex, at most 20 bytes */
	int64_t not_before, not_after;     /* Unix seconds (not_after 253402300799: no expiry) */
	uint8_t sha256[32];                /* of the DER as given */
};

/* Parse one DER certificate (at most 4096 bytes, nothing after it) into *ret.
 * WRIT_E_INVAL for NULL, WRIT_E_TOOBIG, WRIT_E_FORMAT for anything that is not a
 * certificate with a serial of at most 20 bytes; *ret is written only on success. */
WRIT_MUST_CHECK int x509_info_parse(const uint8_t *der, size_t len, struct x509_info *ret);

#endif
