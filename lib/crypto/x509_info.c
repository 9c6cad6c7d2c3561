/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A certificate's fields as text for display (x509_info.h). OpenSSL parses; the result
 * is bounded and plain (no control characters), so a caller may put it in JSON as is.
 */
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "crypto/x509_info.h"

#define X509_INFO_DER_MAX 4096

static int name_text(const X509_NAME *name, char *out, size_t cap)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n, i;

	if (!b)
		return WRIT_E_NOMEM;
	/* RFC 2253 with UTF-8 kept as is but control characters escaped */
	if (X509_NAME_print_ex(b, name, 0, (XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB)) < 0) {
		BIO_free(b);
		return WRIT_E_FORMAT;
	}
	n = BIO_read(b, out, (int)cap - 1);
	BIO_free(b);
	if (n < 0)
		n = 0;
	out[n] = 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = '?';
	return 0;
}

static int time_unix(const ASN1_TIME *t, int64_t *ret)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return WRIT_E_FORMAT;
	*ret = (int64_t)timegm(&tm);
	return 0;
}

int x509_info_parse(const uint8_t *der, size_t len, struct x509_info *ret)
{
	const unsigned char *p = der;
	struct x509_info out;
	X509 *x = NULL;
	const ASN1_INTEGER *sn;
	BIGNUM *bn = NULL;
	char *hex = NULL;
	int err = WRIT_E_FORMAT;
	size_t i;

	if (!der || !ret)
		return WRIT_E_INVAL;
	if (len > X509_INFO_DER_MAX)
		return WRIT_E_TOOBIG;
	memset(&out, 0, sizeof(out));
	if (!len || !(x = d2i_X509(NULL, &p, (long)len)) || (size_t)(p - der) != len)
		goto out;
	if ((err = name_text(X509_get_subject_name(x), out.subject, sizeof(out.subject))) < 0 ||
	    (err = name_text(X509_get_issuer_name(x), out.issuer, sizeof(out.issuer))) < 0)
		goto out;
	err = WRIT_E_FORMAT;
	if (!(sn = X509_get0_serialNumber(x)) || !(bn = ASN1_INTEGER_to_BN(sn, NULL)) || BN_num_bytes(bn) > 20 ||
	    !(hex = BN_bn2hex(bn)) || strlen(hex) >= sizeof(out.serial))
		goto out;
	for (i = 0; hex[i]; i++)
		out.serial[i] = (char)(hex[i] >= 'A' && hex[i] <= 'F' ? hex[i] - 'A' + 'a' : hex[i]);
	if (time_unix(X509_get0_notBefore(x), &out.not_before) < 0 || time_unix(X509_get0_notAfter(x), &out.not_after) < 0)
		goto out;
	if (EVP_Digest(der, len, out.sha256, NULL, EVP_sha256(), NULL) != 1) {
		err = WRIT_E_CRYPTO;
		goto out;
	}
	*ret = out;
	err = 0;
out:
	OPENSSL_free(hex);
	BN_free(bn);
	X509_free(x);
	return err;
}
