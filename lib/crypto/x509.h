/* SPDX-License-Identifier: Apache-2.0 */
/*
 * X.509 for writ: parse a PKCS#10 CSR and check its proof of possession; build a
 * certificate whose signature is made by a writ_signer (i.e. inside a token), following
 * the Matter PAA / PAI / DAC profiles (see docs and matter_cert.h for the checks).
 */
#ifndef WRIT_CRYPTO_X509_H
#define WRIT_CRYPTO_X509_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/keyops.h"

#define X509_CSR_MAX 2048   /* larger CSRs are refused before parsing */
#define X509_CERT_MAX 2048  /* any certificate writ reads */
#define X509_NO_EXPIRY ((int64_t)253402300799) /* 9999-12-31T23:59:59Z */

/* Parse a DER CSR (PEM accepted too), require an EC P-256 key and an ecdsa-with-SHA256
 * self-signature that verifies. Writes the 65-byte public point.
 * WRIT_E_TOOBIG, WRIT_E_FORMAT, WRIT_E_UNSUPPORTED (not P-256 / not ES256),
 * WRIT_E_BADSIG (proof of possession fails). */
WRIT_MUST_CHECK int x509_csr_parse_verify(const uint8_t *csr, size_t len, uint8_t ret_pub[WRIT_P256_PUB_LEN]);

enum x509_profile { X509_PROFILE_PAA = 1, X509_PROFILE_PAI = 2, X509_PROFILE_DAC = 3 };

struct x509_cert_params {
	enum x509_profile profile;
	uint8_t serial[20]; /* big-endian, positive (top bit clear), no leading zero byte */
	size_t serial_len;  /* 1..20 */
	const char *cn;     /* subject commonName, required, <= 64 bytes */
	int vid;            /* Matter VID subject attribute, -1 = absent */
	int pid;            /* Matter PID subject attribute, -1 = absent */
	int64_t not_before; /* Unix seconds */
	int64_t not_after;  /* Unix seconds, or X509_NO_EXPIRY */
	uint8_t subject_pub[WRIT_P256_PUB_LEN];
	/* Issuer certificate (DER); NULL for a self-signed PAA (then the issuer name and
	 * AKI are the subject's own and signer->pub must equal subject_pub). */
	const uint8_t *issuer_der;
	size_t issuer_len;
};

/* Build and sign a certificate: basicConstraints, keyUsage, SKI and AKI (SHA-1 of the
 * 65-byte public point) as the profile requires; signature ecdsa-with-SHA256 made by
 * signer. A PAA or PAI whose signature does not verify (a faulty token) is refused
 * with WRIT_E_CRYPTO; a DAC's signature is left to its receiver to verify
 * (x509_verify_signed against the PAI). *ret_der is malloc'd; caller frees. */
WRIT_MUST_CHECK int x509_build_sign(const struct x509_cert_params *p, const struct writ_signer *signer,
				    uint8_t **ret_der, size_t *ret_len);

/* Decode a certificate that may be PEM or DER into malloc'd DER. */
WRIT_MUST_CHECK int x509_to_der(const uint8_t *in, size_t len, uint8_t **ret_der, size_t *ret_len);

/* The 65-byte public point of a P-256 certificate. */
WRIT_MUST_CHECK int x509_cert_pub(const uint8_t *der, size_t len, uint8_t ret_pub[WRIT_P256_PUB_LEN]);

/* Verify the signature of a signed DER object, SEQUENCE { tbs, AlgorithmIdentifier,
 * BIT STRING } (a certificate or a CSR), over the exact tbs bytes given, with the P-256
 * key signer_pub. 0 if it verifies; WRIT_E_FORMAT if the outer structure is not strict
 * DER, WRIT_E_UNSUPPORTED if the algorithm is not ecdsa-with-SHA256 without parameters,
 * WRIT_E_BADSIG if the signature does not verify, WRIT_E_INVAL for a bad signer_pub. */
WRIT_MUST_CHECK int x509_verify_signed(const uint8_t *der, size_t len, const uint8_t signer_pub[WRIT_P256_PUB_LEN]);

#endif
