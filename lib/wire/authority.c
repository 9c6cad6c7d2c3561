/* SPDX-License-Identifier: Apache-2.0 */
/* The OEM authority's certificate issuance (authority.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/matter_cert.h"
#include "crypto/x509.h"
#include "wire/authority.h"

void authority_serial(const uint8_t rnd[8], uint8_t ret_serial[8])
{
	memcpy(ret_serial, rnd, 8);
	ret_serial[0] = (uint8_t)((ret_serial[0] & 0x3f) | 0x40);
}

int authority_make_paa(const struct writ_signer *paa, const char *cn, int vid, const uint8_t rnd[8], int64_t now,
		       uint8_t **ret, size_t *ret_len)
{
	struct x509_cert_params p;

	memset(&p, 0, sizeof(p));
	p.profile = X509_PROFILE_PAA;
	p.cn = cn;
	p.vid = vid;
	p.pid = -1;
	p.not_before = now - 3600;
	p.not_after = X509_NO_EXPIRY;
	memcpy(p.subject_pub, paa->pub, sizeof(p.subject_pub));
	authority_serial(rnd, p.serial);
	p.serial_len = 8;
	return x509_build_sign(&p, paa, ret, ret_len);
}

int authority_certify_pai(const struct writ_signer *paa, const uint8_t *paa_der, size_t paa_len,
			  const struct enrol_info *info, int vid, int pid, long long days, const uint8_t rnd[8],
			  int64_t now, uint8_t **ret, size_t *ret_len, char *why, size_t cap)
{
	struct x509_cert_params p;
	uint8_t pub[WRIT_P256_PUB_LEN], *der = NULL;
	size_t der_len = 0;
	char cn[96], hex[17];
	int err;

	if (why && cap)
		why[0] = 0;
	if ((err = x509_csr_parse_verify(info->csr, info->csr_len, pub)) < 0) {
		if (why && cap)
			(void)!snprintf(why, cap, "the HSM's PAI CSR does not verify");
		return err;
	}
	if (memcmp(pub, info->pai_pub, sizeof(pub))) {
		if (why && cap)
			(void)!snprintf(why, cap, "the PAI CSR is not for the HSM's PAI key");
		return WRIT_E_SCOPE;
	}
	for (size_t i = 0; i < 8; i++)
		(void)!snprintf(hex + 2 * i, 3, "%02x", info->hsm_id[i]);
	(void)!snprintf(cn, sizeof(cn), "writ PAI %s %s", info->factory, hex);
	cn[64] = 0;
	memset(&p, 0, sizeof(p));
	p.profile = X509_PROFILE_PAI;
	p.cn = cn;
	p.vid = vid;
	p.pid = pid;
	p.not_before = now - 3600;
	p.not_after = days > 0 ? now + days * 86400 : X509_NO_EXPIRY;
	memcpy(p.subject_pub, pub, sizeof(pub));
	p.issuer_der = paa_der;
	p.issuer_len = paa_len;
	authority_serial(rnd, p.serial);
	p.serial_len = 8;
	if ((err = x509_build_sign(&p, paa, &der, &der_len)) < 0)
		return err;
	if ((err = matter_cert_check_profile(der, der_len, X509_PROFILE_PAI, why, cap)) < 0) {
		free(der);
		return err;
	}
	*ret = der;
	*ret_len = der_len;
	return 0;
}
