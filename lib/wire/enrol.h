/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The enrolment bundle an edge HSM hands to its OEM: the map {1: identity pub, 2: signed}
 * where signed is a COSE_Sign1 made with the HSM's
 * identity key over the map {1: hsm id, 2: factory, 3: identity pub, 4: key-agreement
 * pub, 5: PAI CSR (DER), 6: created (Unix seconds), 7: PAI pub, ? 8: debug delegate pub}
 * (8 is absent in bundles of HSMs initialised before secure debug existed). The signature proves
 * possession of the identity key; the CSR proves possession of the PAI key.
 */
#ifndef WRIT_WIRE_ENROL_H
#define WRIT_WIRE_ENROL_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/keyops.h"
#include "wire/writ.h"

#define ENROL_MAX (16 * 1024)
#define ENROL_CSR_MAX 2048

struct enrol_info {
	uint8_t hsm_id[WRIT_KEYID_LEN];
	char factory[WRIT_NAME_MAX + 1];
	uint8_t identity_pub[WRIT_P256_PUB_LEN];
	uint8_t kex_pub[WRIT_P256_PUB_LEN];
	uint8_t pai_pub[WRIT_P256_PUB_LEN];
	int has_debug;                          /* 1: debug_pub is set (key 8) */
	uint8_t debug_pub[WRIT_P256_PUB_LEN];   /* the debug delegate key (rework rights) */
	uint8_t csr[ENROL_CSR_MAX];
	size_t csr_len;
	int64_t created;
};

/* Build and sign a bundle (identity must be the key behind info->identity_pub;
 * hsm_id is computed). *ret is malloc'd. */
WRIT_MUST_CHECK int enrol_build(const struct enrol_info *info, const struct writ_signer *identity,
				uint8_t **ret, size_t *ret_len);

/* Parse and verify a bundle: the signature under its own identity key, hsm id = key id
 * of that key, the CSR's proof of possession and that it names the PAI pub, the points
 * on P-256. WRIT_E_FORMAT / WRIT_E_BADSIG / WRIT_E_TOOBIG. */
WRIT_MUST_CHECK int enrol_verify(const uint8_t *in, size_t len, struct enrol_info *ret);

#endif
