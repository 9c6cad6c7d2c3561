/* SPDX-License-Identifier: Apache-2.0 */
/* Enrolment bundles: build (in writ-hsmd) and verify (in the OEM authority / portal). */
#include <stdlib.h>
#include <string.h>

#include "crypto/cose.h"
#include "crypto/ec.h"
#include "crypto/x509.h"
#include "wire/cbu.h"
#include "wire/enrol.h"

int enrol_build(const struct enrol_info *info, const struct writ_signer *identity, uint8_t **ret, size_t *ret_len)
{
	uint8_t hsm_id[WRIT_KEYID_LEN], *payload = NULL, *signed_msg = NULL;
	size_t payload_len = 0, signed_len = 0;
	cbor_item_t *m = cbu_new_map(info && info->has_debug ? 8 : 7), *outer = NULL;
	int err = WRIT_E_NOMEM;

	if (!m)
		return WRIT_E_NOMEM;
	if (memcmp(identity->pub, info->identity_pub, WRIT_P256_PUB_LEN) != 0 || !writ_name_valid(info->factory) ||
	    info->csr_len == 0 || info->csr_len > ENROL_CSR_MAX) {
		err = WRIT_E_INVAL;
		goto out;
	}
	err = ec_keyid(info->identity_pub, hsm_id);
	if (err < 0)
		goto out;
	err = WRIT_E_NOMEM;
	if (cbu_put_bytes(m, 1, hsm_id, sizeof(hsm_id)) < 0 || cbu_put_text(m, 2, info->factory) < 0 ||
	    cbu_put_bytes(m, 3, info->identity_pub, WRIT_P256_PUB_LEN) < 0 ||
	    cbu_put_bytes(m, 4, info->kex_pub, WRIT_P256_PUB_LEN) < 0 ||
	    cbu_put_bytes(m, 5, info->csr, info->csr_len) < 0 || cbu_put_int(m, 6, info->created) < 0 ||
	    cbu_put_bytes(m, 7, info->pai_pub, WRIT_P256_PUB_LEN) < 0 ||
	    (info->has_debug && cbu_put_bytes(m, 8, info->debug_pub, WRIT_P256_PUB_LEN) < 0))
		goto out;
	err = cbu_serialize(m, &payload, &payload_len);
	if (err < 0)
		goto out;
	err = cose_sign1_sign(identity, hsm_id, payload, payload_len, &signed_msg, &signed_len);
	if (err < 0)
		goto out;
	err = WRIT_E_NOMEM;
	outer = cbu_new_map(2);
	if (!outer || cbu_put_bytes(outer, 1, info->identity_pub, WRIT_P256_PUB_LEN) < 0 ||
	    cbu_put_bytes(outer, 2, signed_msg, signed_len) < 0)
		goto out;
	err = cbu_serialize(outer, ret, ret_len);
out:
	free(payload);
	free(signed_msg);
	if (outer)
		cbor_decref(&outer);
	cbor_decref(&m);
	return err;
}

int enrol_verify(const uint8_t *in, size_t len, struct enrol_info *ret)
{
	struct enrol_info info;
	uint8_t kid[WRIT_KEYID_LEN], id[WRIT_KEYID_LEN], csr_pub[WRIT_P256_PUB_LEN];
	uint8_t *payload = NULL;
	size_t payload_len = 0, signed_len = 0;
	const uint8_t *csr, *signed_msg;
	uint8_t pub2[WRIT_P256_PUB_LEN];
	cbor_item_t *m = NULL, *outer = NULL;
	int err;

	if (len > ENROL_MAX)
		return WRIT_E_TOOBIG;
	memset(&info, 0, sizeof(info));
	/* The bundle is self-signed: take the identity key from the outer map, verify the
	 * signature under it, then check that the signed payload names the same key. */
	err = cbu_load_map(in, len, &outer);
	if (err < 0)
		return err;
	err = WRIT_E_FORMAT;
	if (cbor_map_size(outer) != 2 || cbu_get_fixed(outer, 1, info.identity_pub, WRIT_P256_PUB_LEN) < 0 ||
	    cbu_get_bytes(outer, 2, 1, ENROL_MAX, &signed_msg, &signed_len) < 0)
		goto out;
	err = cose_sign1_kid(signed_msg, signed_len, kid);
	if (err < 0)
		goto out;
	err = cose_sign1_verify(signed_msg, signed_len, info.identity_pub, &payload, &payload_len);
	if (err < 0)
		goto out;
	err = cbu_load_map(payload, payload_len, &m);
	if (err < 0)
		goto out;
	err = WRIT_E_FORMAT;
	info.has_debug = cbor_map_size(m) == 8;
	if ((cbor_map_size(m) != 7 && !info.has_debug) || cbu_get_fixed(m, 1, info.hsm_id, WRIT_KEYID_LEN) < 0 ||
	    cbu_get_text(m, 2, info.factory, sizeof(info.factory)) < 0 || !writ_name_valid(info.factory) ||
	    cbu_get_fixed(m, 3, pub2, WRIT_P256_PUB_LEN) < 0 ||
	    memcmp(pub2, info.identity_pub, WRIT_P256_PUB_LEN) != 0 ||
	    cbu_get_fixed(m, 4, info.kex_pub, WRIT_P256_PUB_LEN) < 0 ||
	    cbu_get_bytes(m, 5, 1, ENROL_CSR_MAX, &csr, &info.csr_len) < 0 || cbu_get_int(m, 6, &info.created) < 0 ||
	    cbu_get_fixed(m, 7, info.pai_pub, WRIT_P256_PUB_LEN) < 0 ||
	    (info.has_debug && cbu_get_fixed(m, 8, info.debug_pub, WRIT_P256_PUB_LEN) < 0))
		goto out;
	memcpy(info.csr, csr, info.csr_len);
	if (ec_keyid(info.identity_pub, id) < 0 || memcmp(id, info.hsm_id, WRIT_KEYID_LEN) != 0 ||
	    memcmp(kid, id, WRIT_KEYID_LEN) != 0)
		goto out;
	if (ec_p256_check_pub(info.kex_pub) < 0 || ec_p256_check_pub(info.pai_pub) < 0 ||
	    (info.has_debug && ec_p256_check_pub(info.debug_pub) < 0))
		goto out;
	err = x509_csr_parse_verify(info.csr, info.csr_len, csr_pub);
	if (err < 0)
		goto out;
	if (memcmp(csr_pub, info.pai_pub, WRIT_P256_PUB_LEN) != 0) {
		err = WRIT_E_FORMAT;
		goto out;
	}
	*ret = info;
	err = 0;
out:
	free(payload);
	if (m)
		cbor_decref(&m);
	if (outer)
		cbor_decref(&outer);
	return err;
}
