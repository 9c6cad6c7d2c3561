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
#include "wire/writ.h"

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

/*
 * Rework rights for an edge HSM (writ scope key 21): the debug root (root) certifies the
 * HSM's debug delegate key (debug_pub, from its enrolment bundle) for hsm_id, the
 * product (vid, pid), key generation key_gen, the permission mask perms and the window
 * [not_before, not_after); the rights grant the same, with limit unlocks and sessions
 * of at most session_max s. Devices are added by the caller (ret->devices). The writ
 * using them must set WRIT_OP_DEBUG_UNLOCK. WRIT_E_INVAL for values the format refuses.
 */
WRIT_MUST_CHECK int authority_rework_rights(const struct writ_signer *root, const uint8_t hsm_id[WRIT_KEYID_LEN],
					    const uint8_t debug_pub[WRIT_P256_PUB_LEN], uint16_t vid, uint16_t pid,
					    uint32_t key_gen, const uint8_t perms[16], int64_t not_before,
					    int64_t not_after, uint32_t limit, uint32_t session_max,
					    struct writ_rework *ret);

/* Parse a permission list "debug,reflash,reprovision" (names of enum dbg_perm, or bit
 * numbers 0..127) into a mask. WRIT_E_INVAL for an unknown name or an empty list. */
WRIT_MUST_CHECK int authority_parse_perms(const char *list, uint8_t ret_perms[16]);

#endif
