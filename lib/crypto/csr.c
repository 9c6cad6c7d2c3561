/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#10 CSR building with an external signer: OpenSSL encodes the
 * CertificationRequestInfo, the signer signs its SHA-256, and we assemble
 * CertificationRequest ::= SEQUENCE { info, ecdsa-with-SHA256, BIT STRING sig } here.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "crypto/csr.h"
#include "crypto/ec.h"

/* DER AlgorithmIdentifier for ecdsa-with-SHA256 (OID 1.2.840.10045.4.3.2, no params) */
static const uint8_t alg_ecdsa_sha256[] = { 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48,
					    0xce, 0x3d, 0x04, 0x03, 0x02 };

static size_t der_len_size(size_t n)
{
	return n < 0x80 ? 1 : n < 0x100 ? 2 : 3;
}

static uint8_t *der_put_header(uint8_t *p, uint8_t tag, size_t n)
{
	*p++ = tag;
	if (n < 0x80) {
		*p++ = (uint8_t)n;
	} else if (n < 0x100) {
		*p++ = 0x81;
		*p++ = (uint8_t)n;
	} else {
		*p++ = 0x82;
		*p++ = (uint8_t)(n >> 8);
		*p++ = (uint8_t)n;
	}
	return p;
}

static EVP_PKEY *pkey_from_point(const uint8_t pub[WRIT_P256_PUB_LEN])
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM params[3];

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pub, WRIT_P256_PUB_LEN);
	params[2] = OSSL_PARAM_construct_end();
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

int csr_build_sign(const char *cn, const struct writ_signer *signer, uint8_t **ret_der, size_t *ret_len)
{
	X509_REQ *req = NULL;
	X509_NAME *name = NULL;
	EVP_PKEY *pkey = NULL;
	unsigned char *info = NULL;
	uint8_t *sig_der = NULL, *out = NULL, *p;
	uint8_t digest[32], sig[WRIT_P256_SIG_LEN];
	size_t sig_len = 0, bits_len, body_len, total;
	int info_len, err = WRIT_E_CRYPTO;

	if (!cn || !*cn || strlen(cn) > 64 || !signer || !signer->sign)
		return WRIT_E_INVAL;
	pkey = pkey_from_point(signer->pub);
	req = X509_REQ_new();
	name = X509_NAME_new();
	if (!pkey || !req || !name || X509_REQ_set_version(req, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_REQ_set_subject_name(req, name) != 1 || X509_REQ_set_pubkey(req, pkey) != 1)
		goto fail;
	info_len = i2d_re_X509_REQ_tbs(req, &info);
	if (info_len <= 0)
		goto fail;
	err = ec_sha256(info, (size_t)info_len, digest);
	if (err < 0)
		goto fail;
	err = signer->sign(signer->ctx, digest, sig);
	if (err < 0)
		goto fail;
	err = ec_sig_raw_to_der(sig, &sig_der, &sig_len);
	if (err < 0)
		goto fail;
	err = WRIT_E_CRYPTO;
	bits_len = sig_len + 1; /* leading "unused bits" octet */
	body_len = (size_t)info_len + sizeof(alg_ecdsa_sha256) + 1 + der_len_size(bits_len) + bits_len;
	total = 1 + der_len_size(body_len) + body_len;
	out = malloc(total);
	if (!out) {
		err = WRIT_E_NOMEM;
		goto fail;
	}
	p = der_put_header(out, 0x30, body_len);
	memcpy(p, info, (size_t)info_len);
	p += info_len;
	memcpy(p, alg_ecdsa_sha256, sizeof(alg_ecdsa_sha256));
	p += sizeof(alg_ecdsa_sha256);
	p = der_put_header(p, 0x03, bits_len);
	*p++ = 0;
	memcpy(p, sig_der, sig_len);
	p += sig_len;
	if ((size_t)(p - out) != total)
		goto fail;
	*ret_der = out;
	*ret_len = total;
	out = NULL;
	err = 0;
fail:
	free(out);
	free(sig_der);
	OPENSSL_free(info);
	X509_NAME_free(name);
	X509_REQ_free(req);
	EVP_PKEY_free(pkey);
	return err;
}
