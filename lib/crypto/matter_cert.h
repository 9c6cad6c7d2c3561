/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Matter attestation certificate profile checks (PAA, PAI, DAC) and chain validation,
 * as the Matter core specification and the SDK's VerifyAttestationCertificateFormat
 * describe them. A generic X.509 validator accepts certificates Matter forbids; these
 * checks are what reject them.
 */
#ifndef WRIT_CRYPTO_MATTER_CERT_H
#define WRIT_CRYPTO_MATTER_CERT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/err.h"
#include "crypto/x509.h"

#define MATTER_CERT_MAX_DER 600

/* VID/PID of a certificate's subject: the Matter OID attributes, or the legacy
 * "Mvid:XXXX Mpid:XXXX" fallback in the CN when no OID attribute is present.
 * -1 when absent. WRIT_E_PROFILE if an encoding is invalid. */
WRIT_MUST_CHECK int matter_cert_vidpid(const uint8_t *der, size_t len, int *ret_vid, int *ret_pid);

/* Check one certificate against its profile. On failure writes a one-line reason. */
WRIT_MUST_CHECK int matter_cert_check_profile(const uint8_t *der, size_t len, enum x509_profile profile,
					      char *reason, size_t reason_cap);

/* Check the whole chain: each profile, signatures PAA->PAI->DAC, validity at time now
 * (0 = skip time checks), VID/PID rules between the three. 0 if valid; otherwise a
 * negative writ_err and a one-line reason naming the certificate and the rule. */
WRIT_MUST_CHECK int matter_check_chain(const uint8_t *paa, size_t paa_len, const uint8_t *pai, size_t pai_len,
				       const uint8_t *dac, size_t dac_len, time_t now, char *reason,
				       size_t reason_cap);

#endif
