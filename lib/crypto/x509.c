/* SPDX-License-Identifier: Apache-2.0 */
/*
 * X.509 for writ: PKCS#10 CSR parsing with proof-of-possession checking, and Matter
 * PAA / PAI / DAC certificate building where the private key never leaves the signer
 * (a token): OpenSSL encodes the TBSCertificate, the signer signs its SHA-256, and the
 * outer Certificate SEQUENCE is assembled here. Signatures on certificates and CSRs are
 * checked on the exact bytes received, split by a small strict DER reader below, so
 * what we verify is what was signed, whatever OpenSSL would re-encode.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/ec.h"
#include "crypto/x509.h"

/* Matter attestation certificates must not exceed this many DER bytes (matter_cert.h
 * repeats it as MATTER_CERT_MAX_DER; x509 does not depend on the Matter module). */
#define X509_MATTER_MAX_DER 600

/* The largest PEM text whose body can decode to max DER bytes: base64 expansion, one
 * line break per 64 characters (CRLF counted) and generous room for the armour lines. */
#define X509_PEM_MAX(max) ((((max) + 2) / 3) * 4 + ((((max) + 2) / 3) * 4 / 64 + 1) * 2 + 160)

/* DER AlgorithmIdentifier for ecdsa-with-SHA256 (1.2.840.10045.4.3.2, no parameters). */
static const uint8_t alg_ecdsa_sha256[] = { 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48,
					    0xce, 0x3d, 0x04, 0x03, 0x02 };

static const char matter_vid_oid[] = "1.3.6.1.4.1.37244.2.1";
static const char matter_pid_oid[] = "1.3.6.1.4.1.37244.2.2";

/* One DER element: tag, content, and the whole encoding (header included). */
struct der_elem {
	uint8_t tag;
	const uint8_t *val;
	size_t len;
	const uint8_t *raw;
	size_t raw_len;
};

/*
 * Read one DER element at *pp, not past end. Only low tag numbers and definite,
 * minimally encoded lengths up to 3 length bytes are accepted: nothing writ reads is
 * larger, and BER leniency is where parsers get confused. Advances *pp on success.
 */
static int der_next(const uint8_t **pp, const uint8_t *end, struct der_elem *ret)
{
	const uint8_t *p = *pp;
	size_t len, nbytes, i;
	uint8_t tag;

	if (p >= end || end - p < 2)
		return WRIT_E_FORMAT;
	tag = *p++;
	if ((tag & 0x1f) == 0x1f)
		return WRIT_E_FORMAT;
	len = *p++;
	if (len & 0x80) {
		nbytes = len & 0x7f;
		if (nbytes == 0 || nbytes > 3 || (size_t)(end - p) < nbytes || p[0] == 0)
			return WRIT_E_FORMAT;
		len = 0;
		for (i = 0; i < nbytes; i++)
			len = (len << 8) | p[i];
		p += nbytes;
		if (len < 0x80)
			return WRIT_E_FORMAT; /* should have used the short form */
	}
	if ((size_t)(end - p) < len)
		return WRIT_E_FORMAT;
	ret->tag = tag;
	ret->val = p;
	ret->len = len;
	ret->raw = *pp;
	ret->raw_len = (size_t)(p - *pp) + len;
	*pp = p + len;
	return 0;
}

/*
 * Split SEQUENCE { tbs SEQUENCE, AlgorithmIdentifier, BIT STRING } occupying exactly
 * der[0..len) into its three parts. Certificates and CSRs share this outer shape.
 */
static int der_split_signed(const uint8_t *der, size_t len, struct der_elem *ret_tbs,
			    struct der_elem *ret_alg, struct der_elem *ret_sig)
{
	const uint8_t *p = der, *end = der + len, *q, *qend;
	struct der_elem outer, tbs, alg, sig;

	if (!der || len == 0)
		return WRIT_E_FORMAT;
	if (der_next(&p, end, &outer) < 0 || outer.tag != 0x30 || p != end)
		return WRIT_E_FORMAT;
	q = outer.val;
	qend = outer.val + outer.len;
	if (der_next(&q, qend, &tbs) < 0 || tbs.tag != 0x30)
		return WRIT_E_FORMAT;
	if (der_next(&q, qend, &alg) < 0 || alg.tag != 0x30)
		return WRIT_E_FORMAT;
	if (der_next(&q, qend, &sig) < 0 || sig.tag != 0x03 || q != qend)
		return WRIT_E_FORMAT;
	*ret_tbs = tbs;
	*ret_alg = alg;
	*ret_sig = sig;
	return 0;
}

int x509_verify_signed(const uint8_t *der, size_t len, const uint8_t signer_pub[WRIT_P256_PUB_LEN])
{
	struct der_elem tbs, alg, sig;
	uint8_t digest[32], raw[WRIT_P256_SIG_LEN];
	int err;

	if (!der || !signer_pub)
		return WRIT_E_INVAL;
	err = der_split_signed(der, len, &tbs, &alg, &sig);
	if (err < 0)
		return err;
	if (alg.raw_len != sizeof(alg_ecdsa_sha256) || memcmp(alg.raw, alg_ecdsa_sha256, alg.raw_len) != 0)
		return WRIT_E_UNSUPPORTED;
	/* BIT STRING: first content octet is the unused-bit count, which must be 0 */
	if (sig.len < 1 || sig.val[0] != 0)
		return WRIT_E_BADSIG;
	if (ec_sig_der_to_raw(sig.val + 1, sig.len - 1, raw) < 0)
		return WRIT_E_BADSIG;
	err = ec_sha256(tbs.raw, tbs.raw_len, digest);
	if (err < 0)
		return err;
	err = ec_p256_verify_digest(signer_pub, digest, raw);
	if (err == WRIT_E_FORMAT)
		return WRIT_E_INVAL; /* the caller's key, not the signed object, is bad */
	return err;
}

/* Skip leading ASCII whitespace; 1 if what follows is PEM armour. */
static int looks_like_pem(const uint8_t *in, size_t len)
{
	static const char begin[] = "-----BEGIN ";
	size_t i = 0;

	while (i < len && (in[i] == ' ' || in[i] == '\t' || in[i] == '\r' || in[i] == '\n'))
		i++;
	return len - i >= sizeof(begin) - 1 && memcmp(in + i, begin, sizeof(begin) - 1) == 0;
}

/*
 * Decode one PEM block whose label is one of labels (NULL-terminated) into malloc'd DER
 * of at most der_max bytes. Anything but whitespace after the block is refused.
 */
static int pem_decode(const uint8_t *in, size_t len, const char *const *labels, size_t der_max,
		      uint8_t **ret_der, size_t *ret_len)
{
	BIO *bio = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	uint8_t *out = NULL;
	long dlen = 0;
	char c;
	int err = WRIT_E_FORMAT, found = 0, n;
	size_t i;

	if (len > (size_t)X509_PEM_MAX(der_max))
		return WRIT_E_TOOBIG;
	bio = BIO_new_mem_buf(in, (int)len);
	if (!bio)
		return WRIT_E_NOMEM;
	if (PEM_read_bio(bio, &name, &header, &data, &dlen) != 1)
		goto fail;
	for (i = 0; labels[i]; i++)
		if (strcmp(name, labels[i]) == 0)
			found = 1;
	if (!found || (header && header[0] != '\0') || dlen <= 0)
		goto fail;
	while ((n = BIO_read(bio, &c, 1)) == 1)
		if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
			goto fail; /* trailing data */
	if ((size_t)dlen > der_max) {
		err = WRIT_E_TOOBIG;
		goto fail;
	}
	out = malloc((size_t)dlen);
	if (!out) {
		err = WRIT_E_NOMEM;
		goto fail;
	}
	memcpy(out, data, (size_t)dlen);
	*ret_der = out;
	*ret_len = (size_t)dlen;
	err = 0;
fail:
	ERR_clear_error();
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	BIO_free(bio);
	return err;
}

/* Parse DER that must be exactly one certificate. NULL if it is not. */
static X509 *cert_parse(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x;

	if (!der || len == 0 || len > X509_CERT_MAX)
		return NULL;
	x = d2i_X509(NULL, &p, (long)len);
	if (x && p != der + len) {
		X509_free(x);
		x = NULL;
	}
	if (!x)
		ERR_clear_error();
	return x;
}

int x509_to_der(const uint8_t *in, size_t len, uint8_t **ret_der, size_t *ret_len)
{
	static const char *const labels[] = { "CERTIFICATE", NULL };
	uint8_t *der = NULL;
	size_t der_len = 0;
	X509 *x = NULL;
	int err;

	if (!in || len == 0 || !ret_der || !ret_len)
		return WRIT_E_INVAL;
	if (looks_like_pem(in, len)) {
		err = pem_decode(in, len, labels, X509_CERT_MAX, &der, &der_len);
		if (err < 0)
			return err;
	} else {
		if (len > X509_CERT_MAX)
			return WRIT_E_TOOBIG;
		der = malloc(len);
		if (!der)
			return WRIT_E_NOMEM;
		memcpy(der, in, len);
		der_len = len;
	}
	x = cert_parse(der, der_len);
	if (!x) {
		err = WRIT_E_FORMAT;
		goto fail;
	}
	X509_free(x);
	*ret_der = der;
	*ret_len = der_len;
	return 0;
fail:
	free(der);
	return err;
}

/*
 * The 65-byte point of a SubjectPublicKeyInfo if it is id-ecPublicKey on the named curve
 * prime256v1 with an uncompressed point. WRIT_E_UNSUPPORTED for any other key type,
 * curve or point form; WRIT_E_FORMAT if the point is not on the curve.
 */
static int spki_p256_point(X509_PUBKEY *xpk, uint8_t ret_pub[WRIT_P256_PUB_LEN])
{
	ASN1_OBJECT *alg_obj = NULL;
	const unsigned char *pk = NULL;
	X509_ALGOR *alg = NULL;
	const void *pval = NULL;
	int pklen = 0, ptype = 0;

	if (!xpk || X509_PUBKEY_get0_param(&alg_obj, &pk, &pklen, &alg, xpk) != 1)
		return WRIT_E_FORMAT;
	if (OBJ_obj2nid(alg_obj) != NID_X9_62_id_ecPublicKey)
		return WRIT_E_UNSUPPORTED;
	X509_ALGOR_get0(NULL, &ptype, &pval, alg);
	if (ptype != V_ASN1_OBJECT || OBJ_obj2nid(pval) != NID_X9_62_prime256v1)
		return WRIT_E_UNSUPPORTED;
	if (pklen != WRIT_P256_PUB_LEN || pk[0] != 0x04)
		return WRIT_E_UNSUPPORTED;
	if (ec_p256_check_pub(pk) < 0)
		return WRIT_E_FORMAT;
	memcpy(ret_pub, pk, WRIT_P256_PUB_LEN);
	return 0;
}

int x509_cert_pub(const uint8_t *der, size_t len, uint8_t ret_pub[WRIT_P256_PUB_LEN])
{
	X509 *x;
	int err;

	if (!der || !ret_pub)
		return WRIT_E_INVAL;
	if (len > X509_CERT_MAX)
		return WRIT_E_TOOBIG;
	x = cert_parse(der, len);
	if (!x)
		return WRIT_E_FORMAT;
	err = spki_p256_point(X509_get_X509_PUBKEY(x), ret_pub);
	X509_free(x);
	return err;
}

int x509_csr_parse_verify(const uint8_t *csr, size_t len, uint8_t ret_pub[WRIT_P256_PUB_LEN])
{
	static const char *const labels[] = { "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST", NULL };
	struct der_elem tbs, alg, sig;
	uint8_t *der = NULL, pub[WRIT_P256_PUB_LEN];
	const unsigned char *p;
	X509_REQ *req = NULL;
	size_t der_len = 0;
	int err;

	if (!csr || !ret_pub)
		return WRIT_E_INVAL;
	/* bound first: nothing below looks at more than X509_CSR_MAX DER bytes */
	if (looks_like_pem(csr, len)) {
		err = pem_decode(csr, len, labels, X509_CSR_MAX, &der, &der_len);
		if (err < 0)
			return err;
		csr = der;
		len = der_len;
	} else if (len > X509_CSR_MAX) {
		return WRIT_E_TOOBIG;
	}
	err = der_split_signed(csr, len, &tbs, &alg, &sig);
	if (err < 0)
		goto fail;
	err = WRIT_E_FORMAT;
	p = csr;
	req = d2i_X509_REQ(NULL, &p, (long)len);
	if (!req || p != csr + len)
		goto fail;
	if (X509_REQ_get_version(req) != X509_REQ_VERSION_1)
		goto fail;
	err = spki_p256_point(X509_REQ_get_X509_PUBKEY(req), pub);
	if (err < 0)
		goto fail;
	err = x509_verify_signed(csr, len, pub);
	if (err < 0)
		goto fail;
	memcpy(ret_pub, pub, sizeof(pub));
	err = 0;
fail:
	ERR_clear_error();
	X509_REQ_free(req);
	free(der);
	return err;
}

/* SHA-1 of the 65-byte point: the key identifier form the Matter SDK tools use. */
static int key_id_sha1(const uint8_t pub[WRIT_P256_PUB_LEN], uint8_t ret_id[20])
{
	unsigned int n = 0;

	if (EVP_Digest(pub, WRIT_P256_PUB_LEN, ret_id, &n, EVP_sha1(), NULL) != 1 || n != 20)
		return WRIT_E_CRYPTO;
	return 0;
}

/* Append a Matter VID or PID attribute: a UTF8String of 4 uppercase hex digits. */
static int name_add_matter_id(X509_NAME *name, const char *oid, int value)
{
	static const char hex[] = "0123456789ABCDEF";
	ASN1_OBJECT *obj;
	unsigned char txt[4];
	int ok;

	txt[0] = (unsigned char)hex[(value >> 12) & 0xf];
	txt[1] = (unsigned char)hex[(value >> 8) & 0xf];
	txt[2] = (unsigned char)hex[(value >> 4) & 0xf];
	txt[3] = (unsigned char)hex[value & 0xf];
	obj = OBJ_txt2obj(oid, 1);
	if (!obj)
		return WRIT_E_NOMEM;
	ok = X509_NAME_add_entry_by_OBJ(name, obj, V_ASN1_UTF8STRING, txt, sizeof(txt), -1, 0);
	ASN1_OBJECT_free(obj);
	return ok == 1 ? 0 : WRIT_E_CRYPTO;
}

static int check_params(const struct x509_cert_params *p)
{
	size_t cn_len;

	if (p->profile != X509_PROFILE_PAA && p->profile != X509_PROFILE_PAI && p->profile != X509_PROFILE_DAC)
		return WRIT_E_INVAL;
	/* positive, minimal: no leading zero byte, top bit clear, 1..20 octets */
	if (p->serial_len < 1 || p->serial_len > sizeof(p->serial) || p->serial[0] == 0 ||
	    (p->serial[0] & 0x80))
		return WRIT_E_INVAL;
	if (!p->cn)
		return WRIT_E_INVAL;
	cn_len = strnlen(p->cn, 65);
	if (cn_len == 0 || cn_len > 64)
		return WRIT_E_INVAL;
	if (p->vid < -1 || p->vid > 0xffff || p->pid < -1 || p->pid > 0xffff)
		return WRIT_E_INVAL;
	if (p->not_before < 0 || p->not_after <= p->not_before || p->not_after > X509_NO_EXPIRY)
		return WRIT_E_INVAL;
	if (p->profile != X509_PROFILE_PAA && !p->issuer_der)
		return WRIT_E_INVAL;
	if (p->issuer_der && p->issuer_len == 0)
		return WRIT_E_INVAL;
	if (ec_p256_check_pub(p->subject_pub) < 0)
		return WRIT_E_INVAL;
	return 0;
}

/* The time as RFC 5280 wants it: UTCTime up to 2049, GeneralizedTime from 2050
 * (so X509_NO_EXPIRY becomes 99991231235959Z). */
static int set_time(ASN1_TIME *t, int64_t when)
{
	if ((int64_t)(time_t)when != when)
		return WRIT_E_INVAL;
	return ASN1_TIME_set(t, (time_t)when) ? 0 : WRIT_E_INVAL;
}

static int add_extensions(X509 *x, enum x509_profile profile, const uint8_t ski[20], const uint8_t aki[20])
{
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
	ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
	ASN1_OCTET_STRING *skid = ASN1_OCTET_STRING_new();
	AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
	int err = WRIT_E_NOMEM;

	if (!bc || !ku || !skid || !akid)
		goto fail;
	err = WRIT_E_CRYPTO;
	if (profile == X509_PROFILE_DAC) {
		bc->ca = 0;
		if (ASN1_BIT_STRING_set_bit(ku, 0, 1) != 1) /* digitalSignature */
			goto fail;
	} else {
		bc->ca = 0xff;
		bc->pathlen = ASN1_INTEGER_new();
		if (!bc->pathlen || ASN1_INTEGER_set(bc->pathlen, profile == X509_PROFILE_PAA ? 1 : 0) != 1)
			goto fail;
		if (ASN1_BIT_STRING_set_bit(ku, 5, 1) != 1 || /* keyCertSign */
		    ASN1_BIT_STRING_set_bit(ku, 6, 1) != 1)   /* cRLSign */
			goto fail;
	}
	if (ASN1_OCTET_STRING_set(skid, ski, 20) != 1)
		goto fail;
	akid->keyid = ASN1_OCTET_STRING_new();
	if (!akid->keyid || ASN1_OCTET_STRING_set(akid->keyid, aki, 20) != 1)
		goto fail;
	if (X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) != 1 ||
	    X509_add1_ext_i2d(x, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT) != 1 ||
	    X509_add1_ext_i2d(x, NID_subject_key_identifier, skid, 0, X509V3_ADD_DEFAULT) != 1 ||
	    X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT) != 1)
		goto fail;
	err = 0;
fail:
	BASIC_CONSTRAINTS_free(bc);
	ASN1_BIT_STRING_free(ku);
	ASN1_OCTET_STRING_free(skid);
	AUTHORITY_KEYID_free(akid);
	return err;
}

/* DER header (tag + length) size and writer, for lengths below 64 KiB. */
static size_t der_hdr_len(size_t n)
{
	return n < 0x80 ? 2 : n < 0x100 ? 3 : 4;
}

static uint8_t *der_put_hdr(uint8_t *p, uint8_t tag, size_t n)
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

/*
 * A small cache of parsed issuer certificates. An edge HSM signs every DAC of a writ
 * under the same PAI; parsing it again for each DAC was a fifth of the time a DAC
 * took. Entries are keyed by SHA-256 of the DER and hold a private parsed copy; the
 * caller gets its own reference (X509_up_ref) so an evicted entry stays valid.
 */
#define ISSUER_CACHE 8

static struct issuer_entry {
	uint8_t digest[32];
	X509 *cert;
	uint8_t pub[WRIT_P256_PUB_LEN];
	uint8_t ski[20];
} issuer_cache[ISSUER_CACHE];
static unsigned issuer_next;
static pthread_mutex_t issuer_lock = PTHREAD_MUTEX_INITIALIZER;

static int issuer_lookup(const uint8_t *der, size_t len, X509 **ret, uint8_t ret_pub[WRIT_P256_PUB_LEN],
			 uint8_t ret_ski[20])
{
	const ASN1_OCTET_STRING *ski;
	struct issuer_entry e, *slot;
	uint8_t digest[32];
	unsigned i;
	int err;

	err = ec_sha256(der, len, digest);
	if (err < 0)
		return err;
	pthread_mutex_lock(&issuer_lock);
	for (i = 0; i < ISSUER_CACHE; i++) {
		slot = &issuer_cache[i];
		if (slot->cert && memcmp(slot->digest, digest, 32) == 0 && X509_up_ref(slot->cert) == 1) {
			*ret = slot->cert;
			memcpy(ret_pub, slot->pub, WRIT_P256_PUB_LEN);
			memcpy(ret_ski, slot->ski, 20);
			pthread_mutex_unlock(&issuer_lock);
			return 0;
		}
	}
	pthread_mutex_unlock(&issuer_lock);

	memset(&e, 0, sizeof(e));
	memcpy(e.digest, digest, 32);
	e.cert = cert_parse(der, len);
	if (!e.cert)
		return WRIT_E_FORMAT;
	err = spki_p256_point(X509_get_X509_PUBKEY(e.cert), e.pub);
	if (err < 0)
		goto fail;
	err = WRIT_E_PROFILE;
	ski = X509_get0_subject_key_id(e.cert);
	if (!ski || ASN1_STRING_length(ski) != 20)
		goto fail;
	memcpy(e.ski, ASN1_STRING_get0_data(ski), 20);
	err = WRIT_E_CRYPTO;
	if (X509_up_ref(e.cert) != 1) /* one reference for the cache, one for the caller */
		goto fail;
	pthread_mutex_lock(&issuer_lock);
	slot = &issuer_cache[issuer_next++ % ISSUER_CACHE];
	X509_free(slot->cert);
	*slot = e;
	pthread_mutex_unlock(&issuer_lock);
	*ret = e.cert;
	memcpy(ret_pub, e.pub, WRIT_P256_PUB_LEN);
	memcpy(ret_ski, e.ski, 20);
	return 0;
fail:
	X509_free(e.cert);
	return err;
}

int x509_build_sign(const struct x509_cert_params *p, const struct writ_signer *signer, uint8_t **ret_der,
		    size_t *ret_len)
{
	uint8_t ski[20], aki[20], digest[32], raw_sig[WRIT_P256_SIG_LEN];
	uint8_t issuer_pub[WRIT_P256_PUB_LEN];
	uint8_t *issuer_pem_der = NULL, *sig_der = NULL, *out = NULL, *w;
	unsigned char *tbs = NULL, *penc = NULL;
	const uint8_t *issuer_der = NULL;
	size_t issuer_der_len = 0, sig_len = 0, bits_len, body_len, total;
	X509 *x = NULL, *issuer = NULL;
	X509_NAME *subject = NULL;
	X509_ALGOR *tbs_alg;
	BIGNUM *serial_bn = NULL;
	int err, tbs_len;

	if (!p || !signer || !signer->sign || !ret_der || !ret_len)
		return WRIT_E_INVAL;
	err = check_params(p);
	if (err < 0)
		return err;
	err = key_id_sha1(p->subject_pub, ski);
	if (err < 0)
		return err;

	/* the issuer: its subject becomes our issuer name, its SKI our AKI, and the signer
	 * must hold its key, or the result would not verify */
	if (p->issuer_der) {
		/* DER is parsed once, here (x509_to_der would parse it a second time) */
		issuer_der = p->issuer_der;
		issuer_der_len = p->issuer_len;
		if (looks_like_pem(p->issuer_der, p->issuer_len)) {
			err = x509_to_der(p->issuer_der, p->issuer_len, &issuer_pem_der, &issuer_der_len);
			if (err < 0)
				goto fail;
			issuer_der = issuer_pem_der;
		}
		err = issuer_lookup(issuer_der, issuer_der_len, &issuer, issuer_pub, aki);
		if (err < 0)
			goto fail;
		err = WRIT_E_INVAL;
		if (memcmp(issuer_pub, signer->pub, WRIT_P256_PUB_LEN) != 0)
			goto fail;
	} else {
		err = WRIT_E_INVAL;
		if (memcmp(p->subject_pub, signer->pub, WRIT_P256_PUB_LEN) != 0)
			goto fail;
		memcpy(aki, ski, sizeof(aki));
	}

	err = WRIT_E_NOMEM;
	x = X509_new();
	subject = X509_NAME_new();
	serial_bn = BN_bin2bn(p->serial, (int)p->serial_len, NULL);
	if (!x || !subject || !serial_bn)
		goto fail;
	err = WRIT_E_CRYPTO;
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    !BN_to_ASN1_INTEGER(serial_bn, X509_get_serialNumber(x)))
		goto fail;

	err = WRIT_E_INVAL; /* OpenSSL refuses a CN that is not valid UTF-8 */
	if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, (const unsigned char *)p->cn, -1, -1,
				       0) != 1)
		goto fail;
	if (p->vid >= 0 && (err = name_add_matter_id(subject, matter_vid_oid, p->vid)) < 0)
		goto fail;
	if (p->pid >= 0 && (err = name_add_matter_id(subject, matter_pid_oid, p->pid)) < 0)
		goto fail;
	err = WRIT_E_CRYPTO;
	if (X509_set_subject_name(x, subject) != 1 ||
	    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject) != 1)
		goto fail;

	err = set_time(X509_getm_notBefore(x), p->not_before);
	if (err < 0)
		goto fail;
	err = set_time(X509_getm_notAfter(x), p->not_after);
	if (err < 0)
		goto fail;

	/* The SPKI is set from its parts: id-ecPublicKey, prime256v1 and the point
	 * (checked by check_params). Going through an EVP_PKEY (d2i_PUBKEY +
	 * X509_set_pubkey) encodes the same bytes but runs OpenSSL 3's decoder and key
	 * import, which cost more than the rest of this function together. */
	err = WRIT_E_NOMEM;
	penc = OPENSSL_memdup(p->subject_pub, WRIT_P256_PUB_LEN);
	if (!penc)
		goto fail;
	err = WRIT_E_CRYPTO;
	if (X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
				   OBJ_nid2obj(NID_X9_62_prime256v1), penc, WRIT_P256_PUB_LEN) != 1)
		goto fail;
	penc = NULL; /* owned by x now */

	err = add_extensions(x, p->profile, ski, aki);
	if (err < 0)
		goto fail;

	/* OpenSSL has no setter for the TBS signature field outside X509_sign(), which
	 * wants the private key; the object is ours and mutable, so set it in place. */
	err = WRIT_E_CRYPTO;
	tbs_alg = (X509_ALGOR *)X509_get0_tbs_sigalg(x);
	if (!tbs_alg || X509_ALGOR_set0(tbs_alg, OBJ_nid2obj(NID_ecdsa_with_SHA256), V_ASN1_UNDEF, NULL) != 1)
		goto fail;
	tbs_len = i2d_re_X509_tbs(x, &tbs);
	if (tbs_len <= 0)
		goto fail;

	err = ec_sha256(tbs, (size_t)tbs_len, digest);
	if (err < 0)
		goto fail;
	err = signer->sign(signer->ctx, digest, raw_sig);
	if (err < 0)
		goto fail;
	/* a faulty token must not make us emit a certificate that does not verify */
	err = ec_p256_verify_digest(signer->pub, digest, raw_sig);
	if (err < 0) {
		err = WRIT_E_CRYPTO;
		goto fail;
	}
	err = ec_sig_raw_to_der(raw_sig, &sig_der, &sig_len);
	if (err < 0)
		goto fail;

	/* Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue } */
	bits_len = 1 + sig_len;
	body_len = (size_t)tbs_len + sizeof(alg_ecdsa_sha256) + der_hdr_len(bits_len) + bits_len;
	total = der_hdr_len(body_len) + body_len;
	err = WRIT_E_TOOBIG;
	if (total > X509_MATTER_MAX_DER)
		goto fail;
	err = WRIT_E_NOMEM;
	out = malloc(total);
	if (!out)
		goto fail;
	w = der_put_hdr(out, 0x30, body_len);
	memcpy(w, tbs, (size_t)tbs_len);
	w += tbs_len;
	memcpy(w, alg_ecdsa_sha256, sizeof(alg_ecdsa_sha256));
	w += sizeof(alg_ecdsa_sha256);
	w = der_put_hdr(w, 0x03, bits_len);
	*w++ = 0x00; /* no unused bits */
	memcpy(w, sig_der, sig_len);

	*ret_der = out;
	*ret_len = total;
	out = NULL;
	err = 0;
fail:
	ERR_clear_error();
	free(out);
	free(sig_der);
	OPENSSL_free(tbs);
	OPENSSL_free(penc);
	BN_free(serial_bn);
	X509_NAME_free(subject);
	X509_free(x);
	X509_free(issuer);
	free(issuer_pem_der);
	return err;
}
