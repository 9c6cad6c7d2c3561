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
#include <time.h>

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
/* The same with an explicit NULL parameter. RFC 5758 says the parameters are absent, but
 * Mbed TLS 2.x and 3.x write NULL in the CSRs they make (mbedtls_x509write_csr_der), and
 * that is what MCUs ship: accepted in CSRs only, never in certificates. Found by the
 * chip interop test (tests/integration/chip_flow.sh). */
static const uint8_t alg_ecdsa_sha256_null[] = { 0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48,
						 0xce, 0x3d, 0x04, 0x03, 0x02, 0x05, 0x00 };


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

static int alg_is(const struct der_elem *alg, const uint8_t *want, size_t want_len)
{
	return alg->raw_len == want_len && memcmp(alg->raw, want, want_len) == 0;
}

static int verify_signed(const uint8_t *der, size_t len, const uint8_t signer_pub[WRIT_P256_PUB_LEN],
			 int allow_null_params)
{
	struct der_elem tbs, alg, sig;
	uint8_t digest[32], raw[WRIT_P256_SIG_LEN];
	int err;

	if (!der || !signer_pub)
		return WRIT_E_INVAL;
	err = der_split_signed(der, len, &tbs, &alg, &sig);
	if (err < 0)
		return err;
	if (!alg_is(&alg, alg_ecdsa_sha256, sizeof(alg_ecdsa_sha256)) &&
	    !(allow_null_params && alg_is(&alg, alg_ecdsa_sha256_null, sizeof(alg_ecdsa_sha256_null))))
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

int x509_verify_signed(const uint8_t *der, size_t len, const uint8_t signer_pub[WRIT_P256_PUB_LEN])
{
	return verify_signed(der, len, signer_pub, 0);
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

/* DER of the SubjectPublicKeyInfo writ accepts, up to the point: id-ecPublicKey,
 * prime256v1, a 66-byte BIT STRING holding an uncompressed point. */
static const uint8_t spki_p256_prefix[] = { 0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
					    0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01,
					    0x07, 0x03, 0x42, 0x00 };
static const uint8_t oid_ec_public_key[] = { 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };

/*
 * The point of a DER SubjectPublicKeyInfo element: WRIT_E_UNSUPPORTED for another key
 * type, curve or point form, WRIT_E_FORMAT for a malformed element or a point that is
 * not on the curve.
 */
static int spki_der_point(const struct der_elem *spki, uint8_t ret_pub[WRIT_P256_PUB_LEN])
{
	const uint8_t *q = spki->val, *end = spki->val + spki->len, *r;
	struct der_elem alg, bits, oid;

	if (spki->tag != 0x30 || der_next(&q, end, &alg) < 0 || alg.tag != 0x30 || der_next(&q, end, &bits) < 0 ||
	    bits.tag != 0x03 || q != end)
		return WRIT_E_FORMAT;
	r = alg.val;
	if (der_next(&r, alg.val + alg.len, &oid) < 0 || oid.tag != 0x06)
		return WRIT_E_FORMAT;
	if (oid.raw_len != sizeof(oid_ec_public_key) || memcmp(oid.raw, oid_ec_public_key, oid.raw_len) != 0)
		return WRIT_E_UNSUPPORTED; /* RSA, Ed25519, ... */
	if (spki->raw_len != sizeof(spki_p256_prefix) + WRIT_P256_PUB_LEN ||
	    memcmp(spki->raw, spki_p256_prefix, sizeof(spki_p256_prefix)) != 0)
		return WRIT_E_UNSUPPORTED; /* another curve, explicit parameters, a compressed point */
	if (ec_p256_check_pub(spki->raw + sizeof(spki_p256_prefix)) < 0)
		return WRIT_E_FORMAT;
	memcpy(ret_pub, spki->raw + sizeof(spki_p256_prefix), WRIT_P256_PUB_LEN);
	return 0;
}

/* A Name: SEQUENCE OF SET OF SEQUENCE { OID, value }, every element well-formed DER. */
static int name_check(const struct der_elem *name)
{
	const uint8_t *q = name->val, *end = name->val + name->len;

	if (name->tag != 0x30)
		return WRIT_E_FORMAT;
	while (q < end) {
		struct der_elem set, atv, oid, val;
		const uint8_t *r, *t;
		if (der_next(&q, end, &set) < 0 || set.tag != 0x31 || set.len == 0)
			return WRIT_E_FORMAT;
		for (r = set.val; r < set.val + set.len;) {
			if (der_next(&r, set.val + set.len, &atv) < 0 || atv.tag != 0x30)
				return WRIT_E_FORMAT;
			t = atv.val;
			if (der_next(&t, atv.val + atv.len, &oid) < 0 || oid.tag != 0x06 || oid.len == 0 ||
			    der_next(&t, atv.val + atv.len, &val) < 0 || t != atv.val + atv.len)
				return WRIT_E_FORMAT;
		}
	}
	return 0;
}

/*
 * CertificationRequest (RFC 2986) read with our own DER walker: OpenSSL's d2i path
 * builds a key object through the provider decoders, which cost five times the
 * signature check. Only what writ uses is interpreted (version 0, the key, the
 * signature); the subject and attributes must be well-formed and are otherwise ignored.
 */
int x509_csr_parse_verify(const uint8_t *csr, size_t len, uint8_t ret_pub[WRIT_P256_PUB_LEN])
{
	static const char *const labels[] = { "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST", NULL };
	static const uint8_t version0[] = { 0x02, 0x01, 0x00 };
	struct der_elem tbs, alg, sig, version, subject, spki, attrs;
	uint8_t *der = NULL, pub[WRIT_P256_PUB_LEN];
	const uint8_t *q, *end;
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
	q = tbs.val;
	end = tbs.val + tbs.len;
	if (der_next(&q, end, &version) < 0 || version.raw_len != sizeof(version0) ||
	    memcmp(version.raw, version0, sizeof(version0)) != 0)
		goto fail;
	if (der_next(&q, end, &subject) < 0 || name_check(&subject) < 0)
		goto fail;
	if (der_next(&q, end, &spki) < 0)
		goto fail;
	if (der_next(&q, end, &attrs) < 0 || attrs.tag != 0xa0 || q != end)
		goto fail;
	err = spki_der_point(&spki, pub);
	if (err < 0)
		goto fail;
	err = verify_signed(csr, len, pub, 1);
	if (err < 0)
		goto fail;
	memcpy(ret_pub, pub, sizeof(pub));
	err = 0;
fail:
	free(der);
	return err;
}

/* SHA-1 of the 65-byte point: the key identifier form the Matter SDK tools use. */
static int key_id_sha1(const uint8_t pub[WRIT_P256_PUB_LEN], uint8_t ret_id[20])
{
	return ec_sha1(pub, WRIT_P256_PUB_LEN, ret_id);
}

/* 1 if the n bytes at s are well-formed UTF-8 (no overlong forms, no surrogates, at
 * most U+10FFFF) with no NUL. */
static int utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0, k, more;
	uint32_t cp;

	while (i < n) {
		unsigned char c = s[i++];
		if (c == 0)
			return 0;
		if (c < 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xdf) {
			more = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			more = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			more = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (n - i < more)
			return 0;
		for (k = 0; k < more; k++) {
			if ((s[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i++] & 0x3f);
		}
		if ((more == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (more == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return 0;
	}
	return 1;
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

/*
 * A bounded DER writer. Elements are written into a dbuf; a constructed element is
 * built in its own dbuf and then wrapped. Overflow is sticky and reported once.
 */
#define DBUF_CAP 1024

struct dbuf {
	uint8_t b[DBUF_CAP];
	size_t n;
	int overflow;
};

static void put(struct dbuf *d, const void *p, size_t n)
{
	if (d->overflow || n > DBUF_CAP - d->n) {
		d->overflow = 1;
		return;
	}
	memcpy(d->b + d->n, p, n);
	d->n += n;
}

static void put_tlv(struct dbuf *d, uint8_t tag, const void *val, size_t n)
{
	uint8_t h[4];
	size_t hn = 0;

	h[hn++] = tag;
	if (n < 0x80) {
		h[hn++] = (uint8_t)n;
	} else if (n < 0x100) {
		h[hn++] = 0x81;
		h[hn++] = (uint8_t)n;
	} else {
		h[hn++] = 0x82;
		h[hn++] = (uint8_t)(n >> 8);
		h[hn++] = (uint8_t)n;
	}
	put(d, h, hn);
	put(d, val, n);
}

static void put_wrapped(struct dbuf *d, uint8_t tag, const struct dbuf *inner)
{
	if (inner->overflow)
		d->overflow = 1;
	else
		put_tlv(d, tag, inner->b, inner->n);
}

/* One RelativeDistinguishedName: SET { SEQUENCE { OID, UTF8String } } */
static void put_rdn(struct dbuf *d, const uint8_t *oid, size_t oid_len, const void *text, size_t text_len)
{
	struct dbuf atv = { .n = 0 }, set = { .n = 0 };

	put(&atv, oid, oid_len);
	put_tlv(&atv, 0x0c, text, text_len);
	put_wrapped(&set, 0x30, &atv);
	put_wrapped(d, 0x31, &set);
}

/* RFC 5280 Time: UTCTime up to 2049, GeneralizedTime from 2050 (so X509_NO_EXPIRY is
 * 99991231235959Z). */
static int put_time(struct dbuf *d, int64_t when)
{
	char txt[20];
	struct tm tm;
	time_t t = (time_t)when;
	int n;

	if ((int64_t)t != when || !gmtime_r(&t, &tm))
		return WRIT_E_INVAL;
	if (tm.tm_year + 1900 < 2050)
		n = snprintf(txt, sizeof(txt), "%02d%02d%02d%02d%02d%02dZ", tm.tm_year % 100, tm.tm_mon + 1,
			     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	else
		n = snprintf(txt, sizeof(txt), "%04d%02d%02d%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
			     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (n != 13 && n != 15)
		return WRIT_E_INVAL;
	put_tlv(d, n == 13 ? 0x17 : 0x18, txt, (size_t)n);
	return 0;
}

static void put_matter_id(struct dbuf *d, const uint8_t *oid, size_t oid_len, int value)
{
	static const char hex[] = "0123456789ABCDEF";
	char txt[4];

	txt[0] = hex[(value >> 12) & 0xf];
	txt[1] = hex[(value >> 8) & 0xf];
	txt[2] = hex[(value >> 4) & 0xf];
	txt[3] = hex[value & 0xf];
	put_rdn(d, oid, oid_len, txt, sizeof(txt));
}

/* Extensions in the order the profile checks read them: basicConstraints (critical),
 * keyUsage (critical), subjectKeyIdentifier, authorityKeyIdentifier. */
static void put_extensions(struct dbuf *d, enum x509_profile profile, const uint8_t ski[20], const uint8_t aki[20])
{
	static const uint8_t bc_dac[] = { 0x30, 0x0c, 0x06, 0x03, 0x55, 0x1d, 0x13, 0x01, 0x01, 0xff,
					  0x04, 0x02, 0x30, 0x00 };
	static const uint8_t bc_pai[] = { 0x30, 0x12, 0x06, 0x03, 0x55, 0x1d, 0x13, 0x01, 0x01, 0xff, 0x04,
					  0x08, 0x30, 0x06, 0x01, 0x01, 0xff, 0x02, 0x01, 0x00 };
	static const uint8_t bc_paa[] = { 0x30, 0x12, 0x06, 0x03, 0x55, 0x1d, 0x13, 0x01, 0x01, 0xff, 0x04,
					  0x08, 0x30, 0x06, 0x01, 0x01, 0xff, 0x02, 0x01, 0x01 };
	/* digitalSignature; keyCertSign + cRLSign */
	static const uint8_t ku_dac[] = { 0x30, 0x0e, 0x06, 0x03, 0x55, 0x1d, 0x0f, 0x01, 0x01, 0xff,
					  0x04, 0x04, 0x03, 0x02, 0x07, 0x80 };
	static const uint8_t ku_ca[] = { 0x30, 0x0e, 0x06, 0x03, 0x55, 0x1d, 0x0f, 0x01, 0x01, 0xff,
					 0x04, 0x04, 0x03, 0x02, 0x01, 0x06 };
	static const uint8_t ski_head[] = { 0x30, 0x1d, 0x06, 0x03, 0x55, 0x1d, 0x0e, 0x04, 0x16, 0x04, 0x14 };
	static const uint8_t aki_head[] = { 0x30, 0x1f, 0x06, 0x03, 0x55, 0x1d, 0x23, 0x04,
					    0x18, 0x30, 0x16, 0x80, 0x14 };
	struct dbuf exts = { .n = 0 }, wrap = { .n = 0 };

	if (profile == X509_PROFILE_DAC) {
		put(&exts, bc_dac, sizeof(bc_dac));
		put(&exts, ku_dac, sizeof(ku_dac));
	} else {
		if (profile == X509_PROFILE_PAI)
			put(&exts, bc_pai, sizeof(bc_pai));
		else
			put(&exts, bc_paa, sizeof(bc_paa));
		put(&exts, ku_ca, sizeof(ku_ca));
	}
	put(&exts, ski_head, sizeof(ski_head));
	put(&exts, ski, 20);
	put(&exts, aki_head, sizeof(aki_head));
	put(&exts, aki, 20);
	put_wrapped(&wrap, 0x30, &exts);
	put_wrapped(d, 0xa3, &wrap);
}

/*
 * A small cache of what a certificate builder needs from its issuer: the subject Name
 * (DER), the SKI and the public key. An edge HSM signs every DAC of a writ under the
 * same PAI; parsing it again for each DAC was a fifth of the time a DAC took. Entries
 * are keyed by SHA-256 of the issuer's DER and copied out under the lock.
 */
#define ISSUER_CACHE 8
#define ISSUER_NAME_MAX 512

struct issuer_info {
	uint8_t digest[32];
	uint8_t pub[WRIT_P256_PUB_LEN];
	uint8_t ski[20];
	uint8_t name[ISSUER_NAME_MAX];
	size_t name_len; /* 0 = empty slot */
};

static struct issuer_info issuer_cache[ISSUER_CACHE];
static unsigned issuer_next;
static pthread_mutex_t issuer_lock = PTHREAD_MUTEX_INITIALIZER;

static int issuer_lookup(const uint8_t *der, size_t len, struct issuer_info *ret)
{
	const ASN1_OCTET_STRING *ski;
	struct issuer_info e;
	unsigned char *name = NULL;
	uint8_t digest[32];
	X509 *x = NULL;
	unsigned i;
	int err, n;

	err = ec_sha256(der, len, digest);
	if (err < 0)
		return err;
	pthread_mutex_lock(&issuer_lock);
	for (i = 0; i < ISSUER_CACHE; i++) {
		if (issuer_cache[i].name_len && memcmp(issuer_cache[i].digest, digest, 32) == 0) {
			*ret = issuer_cache[i];
			pthread_mutex_unlock(&issuer_lock);
			return 0;
		}
	}
	pthread_mutex_unlock(&issuer_lock);

	memset(&e, 0, sizeof(e));
	memcpy(e.digest, digest, 32);
	x = cert_parse(der, len);
	if (!x)
		return WRIT_E_FORMAT;
	err = spki_p256_point(X509_get_X509_PUBKEY(x), e.pub);
	if (err < 0)
		goto out;
	err = WRIT_E_PROFILE;
	ski = X509_get0_subject_key_id(x);
	if (!ski || ASN1_STRING_length(ski) != 20)
		goto out;
	memcpy(e.ski, ASN1_STRING_get0_data(ski), 20);
	n = i2d_X509_NAME(X509_get_subject_name(x), &name);
	err = WRIT_E_FORMAT;
	if (n <= 0 || (size_t)n > sizeof(e.name))
		goto out;
	memcpy(e.name, name, (size_t)n);
	e.name_len = (size_t)n;
	pthread_mutex_lock(&issuer_lock);
	issuer_cache[issuer_next++ % ISSUER_CACHE] = e;
	pthread_mutex_unlock(&issuer_lock);
	*ret = e;
	err = 0;
out:
	ERR_clear_error();
	OPENSSL_free(name);
	X509_free(x);
	return err;
}

int x509_build_sign(const struct x509_cert_params *p, const struct writ_signer *signer, uint8_t **ret_der,
		    size_t *ret_len)
{
	static const uint8_t version3[] = { 0xa0, 0x03, 0x02, 0x01, 0x02 };
	static const uint8_t oid_cn[] = { 0x06, 0x03, 0x55, 0x04, 0x03 };
	static const uint8_t oid_vid[] = { 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0xa2, 0x7c, 0x02, 0x01 };
	static const uint8_t oid_pid[] = { 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0xa2, 0x7c, 0x02, 0x02 };
	struct dbuf *tbs = NULL, *body = NULL, *cert = NULL, *tmp = NULL;
	struct issuer_info *issuer = NULL;
	uint8_t ski[20], aki[20], digest[32], raw_sig[WRIT_P256_SIG_LEN];
	uint8_t *issuer_pem_der = NULL, *sig_der = NULL, *out = NULL;
	size_t sig_len = 0, cn_len;
	int err;

	if (!p || !signer || !signer->sign || !ret_der || !ret_len)
		return WRIT_E_INVAL;
	err = check_params(p);
	if (err < 0)
		return err;
	cn_len = strlen(p->cn);
	if (!utf8_ok((const unsigned char *)p->cn, cn_len))
		return WRIT_E_INVAL;
	err = key_id_sha1(p->subject_pub, ski);
	if (err < 0)
		return err;
	tbs = calloc(1, sizeof(*tbs));
	body = calloc(1, sizeof(*body));
	cert = calloc(1, sizeof(*cert));
	tmp = calloc(1, sizeof(*tmp));
	issuer = calloc(1, sizeof(*issuer));
	err = WRIT_E_NOMEM;
	if (!tbs || !body || !cert || !tmp || !issuer)
		goto fail;

	/* the issuer: its subject becomes our issuer name, its SKI our AKI, and the signer
	 * must hold its key, or the result would not verify */
	if (p->issuer_der) {
		const uint8_t *issuer_der = p->issuer_der;
		size_t issuer_der_len = p->issuer_len;
		if (looks_like_pem(p->issuer_der, p->issuer_len)) {
			err = x509_to_der(p->issuer_der, p->issuer_len, &issuer_pem_der, &issuer_der_len);
			if (err < 0)
				goto fail;
			issuer_der = issuer_pem_der;
		}
		err = issuer_lookup(issuer_der, issuer_der_len, issuer);
		if (err < 0)
			goto fail;
		err = WRIT_E_INVAL;
		if (memcmp(issuer->pub, signer->pub, WRIT_P256_PUB_LEN) != 0)
			goto fail;
		memcpy(aki, issuer->ski, sizeof(aki));
	} else {
		err = WRIT_E_INVAL;
		if (memcmp(p->subject_pub, signer->pub, WRIT_P256_PUB_LEN) != 0)
			goto fail;
		memcpy(aki, ski, sizeof(aki));
	}

	/* TBSCertificate */
	put(body, version3, sizeof(version3));
	put_tlv(body, 0x02, p->serial, p->serial_len);
	put(body, alg_ecdsa_sha256, sizeof(alg_ecdsa_sha256));
	/* subject Name, in tmp; it is also the issuer Name of a self-signed PAA */
	put_rdn(tmp, oid_cn, sizeof(oid_cn), p->cn, cn_len);
	if (p->vid >= 0)
		put_matter_id(tmp, oid_vid, sizeof(oid_vid), p->vid);
	if (p->pid >= 0)
		put_matter_id(tmp, oid_pid, sizeof(oid_pid), p->pid);
	if (p->issuer_der)
		put(body, issuer->name, issuer->name_len);
	else
		put_wrapped(body, 0x30, tmp);
	{
		struct dbuf validity = { .n = 0 };
		if ((err = put_time(&validity, p->not_before)) < 0 || (err = put_time(&validity, p->not_after)) < 0)
			goto fail;
		put_wrapped(body, 0x30, &validity);
	}
	put_wrapped(body, 0x30, tmp);
	put(body, spki_p256_prefix, sizeof(spki_p256_prefix));
	put(body, p->subject_pub, WRIT_P256_PUB_LEN);
	put_extensions(body, p->profile, ski, aki);
	put_wrapped(tbs, 0x30, body);
	err = WRIT_E_TOOBIG;
	if (tbs->overflow)
		goto fail;

	err = ec_sha256(tbs->b, tbs->n, digest);
	if (err < 0)
		goto fail;
	err = signer->sign(signer->ctx, digest, raw_sig);
	if (err < 0)
		goto fail;
	/* A CA certificate from a faulty token would break everything under it, so its
	 * signature is checked here. A DAC is checked by whoever receives it (the CLI,
	 * the station) against the PAI before it reaches a device: verifying here too would
	 * cost the HSM as much as the CSR check, on every device. */
	if (p->profile != X509_PROFILE_DAC && ec_p256_verify_digest(signer->pub, digest, raw_sig) < 0) {
		err = WRIT_E_CRYPTO;
		goto fail;
	}
	err = ec_sig_raw_to_der(raw_sig, &sig_der, &sig_len);
	if (err < 0)
		goto fail;

	/* Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue } */
	tmp->n = 0;
	put(tmp, tbs->b, tbs->n);
	put(tmp, alg_ecdsa_sha256, sizeof(alg_ecdsa_sha256));
	{
		struct dbuf bits = { .n = 0 };
		static const uint8_t no_unused_bits = 0;
		put(&bits, &no_unused_bits, 1);
		put(&bits, sig_der, sig_len);
		put_wrapped(tmp, 0x03, &bits);
	}
	put_wrapped(cert, 0x30, tmp);
	err = WRIT_E_TOOBIG;
	if (cert->overflow || cert->n > X509_MATTER_MAX_DER)
		goto fail;
	err = WRIT_E_NOMEM;
	out = malloc(cert->n);
	if (!out)
		goto fail;
	memcpy(out, cert->b, cert->n);
	*ret_der = out;
	*ret_len = cert->n;
	err = 0;
fail:
	free(sig_der);
	free(tbs);
	free(body);
	free(cert);
	free(tmp);
	free(issuer);
	free(issuer_pem_der);
	return err;
}
