/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What an OEM authority does with its keys, shared by `writ authority` (a local
 * authority in its own token) and writ-cloud (one authority per OEM organisation in the
 * portal's token): make the Matter PAA certificate and certify an edge HSM's PAI from
 * its enrolment bundle's CSR. Minting a writ is writ_seal (lib/wire/writ.h) for both.
 */
#ifndef WRIT_WIRE_AUTHORITY_H
#define WRIT_WIRE_AUTHORITY_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/keyops.h"
#include "wire/enrol.h"

/* A certificate serial: 8 random bytes with the top bits set to 01 (positive, no
 * leading zero byte), from rnd. */
void authority_serial(const uint8_t rnd[8], uint8_t ret_serial[8]);

/* The self-signed Matter PAA for the key behind paa (cn; vid -1 for a PAA without a
 * VID attribute), valid from now - 1 h with no expiry. *ret is malloc'd DER. */
WRIT_MUST_CHECK int authority_make_paa(const struct writ_signer *paa, const char *cn, int vid, const uint8_t rnd[8],
				       int64_t now, uint8_t **ret, size_t *ret_len);

/*
 * Certify the PAI key an enrolment bundle names: the CSR must verify (proof of
 * possession) and carry that key; the PAI gets CN "writ PAI <factory> <hsm id prefix>",
 * vid, pid (-1 = none), validity from now - 1 h to now + days (0 = no expiry), issued by
 * paa_der with paa. The result is checked against the Matter PAI profile (why gets the
 * reason). *ret is malloc'd DER.
 */
WRIT_MUST_CHECK int authority_certify_pai(const struct writ_signer *paa, const uint8_t *paa_der, size_t paa_len,
					  const struct enrol_info *info, int vid, int pid, long long days,
					  const uint8_t rnd[8], int64_t now, uint8_t **ret, size_t *ret_len, char *why,
					  size_t cap);

#endif
