/* SPDX-License-Identifier: Apache-2.0 */
/* The OEM authority's certificate issuance (authority.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/matter_cert.h"
#include "crypto/x509.h"
#include "wire/authority.h"
#include "wire/dbgcred.h"

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

int authority_rework_rights(const struct writ_signer *root, const uint8_t hsm_id[WRIT_KEYID_LEN],
			    const uint8_t debug_pub[WRIT_P256_PUB_LEN], uint16_t vid, uint16_t pid, uint32_t key_gen,
			    const uint8_t perms[16], int64_t not_before, int64_t not_after, uint32_t limit,
			    uint32_t session_max, struct writ_rework *ret)
{
	struct dbg_cert c;
	struct writ_rework w;
	int err;

	if (!root || !hsm_id || !debug_pub || !perms || !ret || not_before < 0 || not_before >= not_after ||
	    limit < 1 || limit > WRIT_REWORK_LIMIT_MAX || session_max < 1 || session_max > WDP_DBG_SESSION_MAX)
		return WRIT_E_INVAL;
	memset(&c, 0, sizeof(c));
	c.role = WDP_DBG_ROLE_DELEGATE;
	c.vendor_id = vid;
	c.product_id = pid;
	c.key_gen = key_gen;
	c.not_before = (uint64_t)not_before;
	c.not_after = (uint64_t)not_after;
	memcpy(c.perms, perms, sizeof(c.perms));
	memcpy(c.hsm_id, hsm_id, sizeof(c.hsm_id));
	memcpy(c.pub, debug_pub, sizeof(c.pub));
	memset(&w, 0, sizeof(w));
	if ((err = dbg_cert_make(&c, root, w.chain[0])) < 0)
		return err;
	w.present = 1;
	w.n_chain = 1;
	memcpy(w.perms, perms, sizeof(w.perms));
	w.key_gen = key_gen;
	w.not_before = not_before;
	w.not_after = not_after;
	w.limit = limit;
	w.session_max = session_max;
	*ret = w;
	return 0;
}

int authority_parse_perms(const char *list, uint8_t ret_perms[16])
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = { { "debug", DBG_PERM_DEBUG }, { "reflash", DBG_PERM_REFLASH }, { "reprovision", DBG_PERM_REPROVISION } };
	uint8_t m[16] = { 0 };
	const char *p = list;

	if (!list || !*list || !ret_perms)
		return WRIT_E_INVAL;
	while (*p) {
		size_t n = strcspn(p, ","), i;
		int found = 0;

		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			if (strlen(names[i].name) == n && !strncmp(p, names[i].name, n)) {
				dbg_perm_set(m, names[i].bit);
				found = 1;
			}
		}
		if (!found) {
			unsigned v = 0;
			size_t k;

			if (n == 0 || n > 3)
				return WRIT_E_INVAL;
			for (k = 0; k < n; k++) {
				if (p[k] < '0' || p[k] > '9')
					return WRIT_E_INVAL;
				v = v * 10 + (unsigned)(p[k] - '0');
			}
			if (v > 127)
				return WRIT_E_INVAL;
			dbg_perm_set(m, v);
		}
		p += n;
		if (*p == ',' && *++p == 0)
			return WRIT_E_INVAL; /* a trailing comma */
	}
	memcpy(ret_perms, m, sizeof(m));
	return 0;
}
