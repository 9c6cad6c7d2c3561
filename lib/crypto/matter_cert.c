/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Matter attestation certificate profiles (PAA, PAI, DAC) and PAA -> PAI -> DAC chain
 * validation. A plain X.509 validator accepts certificates Matter forbids (a DAC with
 * cA TRUE, ecdsa-with-SHA1, a PAI with pathLen 1, lowercase "Mvid:" fallback...); the
 * rules here follow the Matter core specification section 6.2.2 as the SDK enforces
 * them (VerifyAttestationCertificateFormat, the attestation verifier's VID/PID rules),
 * and every failure is reported as "<CERT>: <rule>" so an operator can act on it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/ec.h"
#include "crypto/matter_cert.h"

/* DER content octets of the Matter VID / PID attribute OIDs, 1.3.6.1.4.1.37244.2.{1,2} */
static const uint8_t oid_matter_vid[] = { 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0xa2, 0x7c, 0x02, 0x01 };
static const uint8_t oid_matter_pid[] = { 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0xa2, 0x7c, 0x02, 0x02 };

/* The legacy fallback looks only at the first 64 bytes of a CN, as the SDK does. */
#define MATTER_CN_SCAN_MAX 64
#define MATTER_SERIAL_MAX 20

/* keyUsage bits (RFC 5280 numbering) */
#define MKU_DIGITAL_SIGNATURE (1u << 0)
#define MKU_KEY_CERT_SIGN (1u << 5)
#define MKU_CRL_SIGN (1u << 6)
#define MKU_BEYOND_DECIPHER_ONLY (1u << 9) /* any bit past decipherOnly */

/* One parsed certificate of a chain: its DER, the OpenSSL view and what we derived. */
struct mcert {
	const char *name; /* "PAA", "PAI", "DAC" */
	uint8_t *der;
	size_t len;
	X509 *x;
	int vid, pid;
	uint8_t pub[WRIT_P256_PUB_LEN];
};

/* Write "<who>: <message>" into reason (if any; a reason that does not fit is cut, it
 * is only for people) and return err. */
__attribute__((format(printf, 5, 6))) static int why(char *reason, size_t cap, int err, const char *who,
						     const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	if (!reason || cap == 0)
		return err;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	(void)snprintf(reason, cap, "%s: %s", who, msg);
	return err;
}

static const char *profile_name(enum x509_profile profile)
{
	switch (profile) {
	case X509_PROFILE_PAA:
		return "PAA";
	case X509_PROFILE_PAI:
		return "PAI";
	case X509_PROFILE_DAC:
		return "DAC";
	}
	return "certificate";
}

/* Exactly 4 uppercase hex digits -> 0..0xFFFF; -1 otherwise. */
static int upper_hex4(const unsigned char *s, size_t n)
{
	int v = 0;
	size_t i;

	if (n != 4)
		return -1;
	for (i = 0; i < 4; i++) {
		v <<= 4;
		if (s[i] >= '0' && s[i] <= '9')
			v |= s[i] - '0';
		else if (s[i] >= 'A' && s[i] <= 'F')
			v |= s[i] - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/*
 * Find prefix followed by 4 uppercase hex digits in cn[0..n). The first full match wins.
 * 1 found (value in *ret), 0 prefix absent, -1 prefix present but never followed by a
 * valid value (an ambiguous or broken encoding, refused).
 */
static int cn_find_hex_after(const unsigned char *cn, size_t n, const char *prefix, int *ret)
{
	size_t plen = strlen(prefix), i;
	int seen = 0, v;

	for (i = 0; i + plen <= n; i++) {
		if (memcmp(cn + i, prefix, plen) != 0)
			continue;
		seen = 1;
		if (n - i - plen < 4)
			break;
		v = upper_hex4(cn + i + plen, 4);
		if (v >= 0) {
			*ret = v;
			return 1;
		}
	}
	return seen ? -1 : 0;
}

static int obj_is(const ASN1_OBJECT *obj, const uint8_t *oid, size_t oid_len)
{
	return OBJ_length(obj) == oid_len && memcmp(OBJ_get0_data(obj), oid, oid_len) == 0;
}

/*
 * VID/PID of the subject of x. The Matter OID attributes win; the CN fallback is used
 * only when neither OID attribute is present (and its errors only matter then).
 */
static int subject_vidpid(const X509 *x, int *ret_vid, int *ret_pid, char *reason, size_t cap, const char *who)
{
	const X509_NAME *name = X509_get_subject_name(x);
	int vid = -1, pid = -1, cn_vid = -1, cn_pid = -1, cn_bad = 0, cn_seen = 0;
	int i, n, r, v, *slot;
	const char *what;

	if (!name)
		return why(reason, cap, WRIT_E_PROFILE, who, "subject name missing");
	n = X509_NAME_entry_count(name);
	for (i = 0; i < n; i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
		const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(e);
		const ASN1_STRING *val = X509_NAME_ENTRY_get_data(e);
		const unsigned char *s = ASN1_STRING_get0_data(val);
		size_t len = (size_t)ASN1_STRING_length(val);

		if (obj_is(obj, oid_matter_vid, sizeof(oid_matter_vid)) ||
		    obj_is(obj, oid_matter_pid, sizeof(oid_matter_pid))) {
			int is_vid = obj_is(obj, oid_matter_vid, sizeof(oid_matter_vid));

			what = is_vid ? "VID" : "PID";
			slot = is_vid ? &vid : &pid;
			if (*slot >= 0)
				return why(reason, cap, WRIT_E_PROFILE, who, "more than one Matter %s attribute in subject",
					   what);
			if (ASN1_STRING_type(val) != V_ASN1_UTF8STRING)
				return why(reason, cap, WRIT_E_PROFILE, who, "Matter %s attribute must be a UTF8String",
					   what);
			v = upper_hex4(s, len);
			if (v < 0)
				return why(reason, cap, WRIT_E_PROFILE, who,
					   "Matter %s attribute must be exactly 4 uppercase hex digits", what);
			*slot = v;
		} else if (OBJ_obj2nid(obj) == NID_commonName && !cn_seen && !cn_bad) {
			size_t scan = len < MATTER_CN_SCAN_MAX ? len : MATTER_CN_SCAN_MAX;

			r = cn_find_hex_after(s, scan, "Mvid:", &cn_vid);
			if (r < 0)
				cn_bad = 1;
			r = cn_find_hex_after(s, scan, "Mpid:", &cn_pid);
			if (r < 0)
				cn_bad = 1;
			cn_seen = cn_vid >= 0 || cn_pid >= 0;
		}
	}
	if (vid < 0 && pid < 0) {
		if (cn_bad)
			return why(reason, cap, WRIT_E_PROFILE, who,
				   "VID/PID fallback in CN: Mvid:/Mpid: must be followed by 4 uppercase hex digits");
		vid = cn_vid;
		pid = cn_pid;
	}
	*ret_vid = vid;
	*ret_pid = pid;
	return 0;
}

/* Parse DER that must be exactly one certificate; NULL if not. */
static X509 *parse_exact(const uint8_t *der, size_t len)
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

int matter_cert_vidpid(const uint8_t *der, size_t len, int *ret_vid, int *ret_pid)
{
	int vid, pid, err;
	X509 *x;

	if (!der || !ret_vid || !ret_pid)
		return WRIT_E_INVAL;
	if (len > X509_CERT_MAX)
		return WRIT_E_TOOBIG;
	x = parse_exact(der, len);
	if (!x)
		return WRIT_E_FORMAT;
	err = subject_vidpid(x, &vid, &pid, NULL, 0, "");
	X509_free(x);
	if (err < 0)
		return err;
	*ret_vid = vid;
	*ret_pid = pid;
	return 0;
}

/* Extension bookkeeping for the profile check. */
struct ext_seen {
	int count;
	int critical;
	X509_EXTENSION *ext;
};

static int check_serial(const X509 *x, char *reason, size_t cap, const char *who)
{
	const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
	const unsigned char *d;
	size_t n, i, content;
	int nonzero = 0;

	if (!serial || ASN1_STRING_type(serial) != V_ASN1_INTEGER)
		return why(reason, cap, WRIT_E_PROFILE, who, "serial number must be positive");
	d = ASN1_STRING_get0_data(serial);
	n = (size_t)ASN1_STRING_length(serial);
	for (i = 0; i < n; i++)
		nonzero |= d[i];
	if (!nonzero)
		return why(reason, cap, WRIT_E_PROFILE, who, "serial number must be positive");
	/* DER content octets: the magnitude plus a 0x00 pad when its top bit is set */
	content = n + ((d[0] & 0x80) ? 1 : 0);
	if (content > MATTER_SERIAL_MAX)
		return why(reason, cap, WRIT_E_PROFILE, who, "serial number longer than %d octets",
			   MATTER_SERIAL_MAX);
	return 0;
}

static int check_sigalg(const X509 *x, char *reason, size_t cap, const char *who)
{
	const X509_ALGOR *outer = NULL, *inner = X509_get0_tbs_sigalg(x);
	const ASN1_OBJECT *obj = NULL;
	const ASN1_BIT_STRING *sig = NULL;
	char name[64];
	int ptype = 0;

	X509_get0_signature(&sig, &outer, x);
	if (!outer || !inner)
		return why(reason, cap, WRIT_E_PROFILE, who, "signature algorithm missing");
	X509_ALGOR_get0(&obj, &ptype, NULL, outer);
	if (OBJ_obj2nid(obj) != NID_ecdsa_with_SHA256 || ptype != V_ASN1_UNDEF) {
		if (OBJ_obj2txt(name, sizeof(name), obj, 0) <= 0)
			(void)snprintf(name, sizeof(name), "unknown");
		return why(reason, cap, WRIT_E_PROFILE, who,
			   "signature algorithm must be ecdsa-with-SHA256 without parameters (found %s)", name);
	}
	if (X509_ALGOR_cmp(outer, inner) != 0)
		return why(reason, cap, WRIT_E_PROFILE, who,
			   "signature algorithm in TBSCertificate differs from the outer one");
	return 0;
}

static int check_basic_constraints(X509_EXTENSION *ext, enum x509_profile profile, char *reason, size_t cap,
				   const char *who)
{
	BASIC_CONSTRAINTS *bc = X509V3_EXT_d2i(ext);
	int64_t pathlen = -1;
	int err = 0, ca;

	if (!bc) {
		ERR_clear_error();
		return why(reason, cap, WRIT_E_PROFILE, who, "basicConstraints is malformed");
	}
	ca = bc->ca != 0;
	if (bc->pathlen && (ASN1_INTEGER_get_int64(&pathlen, bc->pathlen) != 1 || pathlen < 0)) {
		err = why(reason, cap, WRIT_E_PROFILE, who, "basicConstraints pathLenConstraint is invalid");
		goto out;
	}
	switch (profile) {
	case X509_PROFILE_DAC:
		if (ca)
			err = why(reason, cap, WRIT_E_PROFILE, who, "basicConstraints cA must be FALSE");
		else if (bc->pathlen)
			err = why(reason, cap, WRIT_E_PROFILE, who, "basicConstraints pathLenConstraint must be absent");
		break;
	case X509_PROFILE_PAI:
		if (!ca)
			err = why(reason, cap, WRIT_E_PROFILE, who, "basicConstraints cA must be TRUE");
		else if (!bc->pathlen || pathlen != 0)
			err = why(reason, cap, WRIT_E_PROFILE, who, "basicConstraints pathLenConstraint must be 0");
		break;
	case X509_PROFILE_PAA:
		if (!ca)
			err = why(reason, cap, WRIT_E_PROFILE, who, "basicConstraints cA must be TRUE");
		else if (bc->pathlen && pathlen != 1)
			err = why(reason, cap, WRIT_E_PROFILE, who,
				  "basicConstraints pathLenConstraint must be absent or 1");
		break;
	}
out:
	BASIC_CONSTRAINTS_free(bc);
	return err;
}

static int check_key_usage(X509_EXTENSION *ext, enum x509_profile profile, char *reason, size_t cap,
			   const char *who)
{
	ASN1_BIT_STRING *ku = X509V3_EXT_d2i(ext);
	unsigned int bits = 0;
	int i, nbits, err = 0;

	if (!ku) {
		ERR_clear_error();
		return why(reason, cap, WRIT_E_PROFILE, who, "keyUsage is malformed");
	}
	nbits = ASN1_STRING_length(ku) * 8;
	for (i = 0; i < nbits; i++)
		if (ASN1_BIT_STRING_get_bit(ku, i))
			bits |= i < 9 ? (1u << i) : MKU_BEYOND_DECIPHER_ONLY;
	if (profile == X509_PROFILE_DAC) {
		if (bits != MKU_DIGITAL_SIGNATURE)
			err = why(reason, cap, WRIT_E_PROFILE, who, "keyUsage must be exactly digitalSignature");
	} else {
		if ((bits & (MKU_KEY_CERT_SIGN | MKU_CRL_SIGN)) != (MKU_KEY_CERT_SIGN | MKU_CRL_SIGN))
			err = why(reason, cap, WRIT_E_PROFILE, who, "keyUsage must include keyCertSign and cRLSign");
		else if (bits & ~(MKU_KEY_CERT_SIGN | MKU_CRL_SIGN | MKU_DIGITAL_SIGNATURE))
			err = why(reason, cap, WRIT_E_PROFILE, who,
				  "keyUsage may only have keyCertSign, cRLSign and digitalSignature");
	}
	ASN1_BIT_STRING_free(ku);
	return err;
}

static int check_key_ids(struct ext_seen *ski, struct ext_seen *aki, enum x509_profile profile, char *reason,
			 size_t cap, const char *who)
{
	ASN1_OCTET_STRING *skid;
	AUTHORITY_KEYID *akid;
	int len;

	if (ski->count == 0)
		return why(reason, cap, WRIT_E_PROFILE, who, "subjectKeyIdentifier extension missing");
	if (ski->critical)
		return why(reason, cap, WRIT_E_PROFILE, who, "subjectKeyIdentifier must not be critical");
	skid = X509V3_EXT_d2i(ski->ext);
	if (!skid) {
		ERR_clear_error();
		return why(reason, cap, WRIT_E_PROFILE, who, "subjectKeyIdentifier is malformed");
	}
	len = ASN1_STRING_length(skid);
	ASN1_OCTET_STRING_free(skid);
	if (len != 20)
		return why(reason, cap, WRIT_E_PROFILE, who, "subjectKeyIdentifier must be 20 bytes (is %d)", len);

	if (aki->count == 0) {
		if (profile == X509_PROFILE_PAA)
			return 0;
		return why(reason, cap, WRIT_E_PROFILE, who, "authorityKeyIdentifier extension missing");
	}
	if (aki->critical)
		return why(reason, cap, WRIT_E_PROFILE, who, "authorityKeyIdentifier must not be critical");
	akid = X509V3_EXT_d2i(aki->ext);
	if (!akid) {
		ERR_clear_error();
		return why(reason, cap, WRIT_E_PROFILE, who, "authorityKeyIdentifier is malformed");
	}
	len = akid->keyid ? ASN1_STRING_length(akid->keyid) : -1;
	AUTHORITY_KEYID_free(akid);
	if (len != 20)
		return why(reason, cap, WRIT_E_PROFILE, who, "authorityKeyIdentifier keyIdentifier must be 20 bytes");
	return 0;
}

static int check_extensions(X509 *x, enum x509_profile profile, char *reason, size_t cap, const char *who)
{
	struct ext_seen bc = { 0 }, ku = { 0 }, ski = { 0 }, aki = { 0 }, *slot;
	int i, n = X509_get_ext_count(x), err;

	for (i = 0; i < n; i++) {
		X509_EXTENSION *ext = X509_get_ext(x, i);
		int crit = X509_EXTENSION_get_critical(ext) > 0;

		switch (OBJ_obj2nid(X509_EXTENSION_get_object(ext))) {
		case NID_basic_constraints:
			slot = &bc;
			break;
		case NID_key_usage:
			slot = &ku;
			break;
		case NID_subject_key_identifier:
			slot = &ski;
			break;
		case NID_authority_key_identifier:
			slot = &aki;
			break;
		default:
			/* extensions Matter allows (extendedKeyUsage, AIA, ...) are ignored, but a
			 * critical extension we do not understand must not be */
			if (crit && !X509_supported_extension(ext))
				return why(reason, cap, WRIT_E_PROFILE, who, "unsupported critical extension");
			continue;
		}
		if (slot->count++ > 0)
			return why(reason, cap, WRIT_E_PROFILE, who, "extension present more than once");
		slot->critical = crit;
		slot->ext = ext;
	}

	if (bc.count == 0)
		return why(reason, cap, WRIT_E_PROFILE, who, "basicConstraints extension missing");
	if (!bc.critical)
		return why(reason, cap, WRIT_E_PROFILE, who, "basicConstraints must be critical");
	err = check_basic_constraints(bc.ext, profile, reason, cap, who);
	if (err < 0)
		return err;
	if (ku.count == 0)
		return why(reason, cap, WRIT_E_PROFILE, who, "keyUsage extension missing");
	if (!ku.critical)
		return why(reason, cap, WRIT_E_PROFILE, who, "keyUsage must be critical");
	err = check_key_usage(ku.ext, profile, reason, cap, who);
	if (err < 0)
		return err;
	return check_key_ids(&ski, &aki, profile, reason, cap, who);
}

/* The subject key as a 65-byte point if it is id-ecPublicKey on prime256v1, given
 * uncompressed and on the curve. Read from the parsed certificate: parsing again
 * (x509_cert_pub) would double the cost of the slowest step, OpenSSL's d2i_X509. */
static int subject_p256_point(const X509 *x, uint8_t ret_pub[WRIT_P256_PUB_LEN])
{
	ASN1_OBJECT *alg_obj = NULL;
	const unsigned char *pk = NULL;
	X509_ALGOR *alg = NULL;
	const void *pval = NULL;
	int pklen = 0, ptype = 0;

	if (X509_PUBKEY_get0_param(&alg_obj, &pk, &pklen, &alg, X509_get_X509_PUBKEY(x)) != 1 ||
	    OBJ_obj2nid(alg_obj) != NID_X9_62_id_ecPublicKey)
		return WRIT_E_UNSUPPORTED;
	X509_ALGOR_get0(NULL, &ptype, &pval, alg);
	if (ptype != V_ASN1_OBJECT || OBJ_obj2nid(pval) != NID_X9_62_prime256v1 || pklen != WRIT_P256_PUB_LEN ||
	    pk[0] != 0x04 || ec_p256_check_pub(pk) < 0)
		return WRIT_E_UNSUPPORTED;
	memcpy(ret_pub, pk, WRIT_P256_PUB_LEN);
	return 0;
}

/* All single-certificate rules; fills c->vid, c->pid, c->pub. */
static int check_one(struct mcert *c, enum x509_profile profile, char *reason, size_t cap)
{
	const char *who = c->name;
	const ASN1_TIME *nb, *na;
	int err;

	if (c->len > MATTER_CERT_MAX_DER)
		return why(reason, cap, WRIT_E_PROFILE, who, "DER encoding is %zu bytes, more than %d", c->len,
			   MATTER_CERT_MAX_DER);
	if (X509_get_version(c->x) != X509_VERSION_3)
		return why(reason, cap, WRIT_E_PROFILE, who, "must be an X.509 v3 certificate");
	err = check_serial(c->x, reason, cap, who);
	if (err < 0)
		return err;
	err = check_sigalg(c->x, reason, cap, who);
	if (err < 0)
		return err;
	err = subject_p256_point(c->x, c->pub);
	if (err < 0)
		return why(reason, cap, WRIT_E_PROFILE, who, "public key must be an uncompressed EC P-256 point");
	nb = X509_get0_notBefore(c->x);
	na = X509_get0_notAfter(c->x);
	if (!nb || !na || ASN1_TIME_check(nb) != 1 || ASN1_TIME_check(na) != 1)
		return why(reason, cap, WRIT_E_PROFILE, who, "validity times are malformed");
	if (ASN1_TIME_compare(nb, na) > 0)
		return why(reason, cap, WRIT_E_PROFILE, who, "notBefore is after notAfter");
	err = check_extensions(c->x, profile, reason, cap, who);
	if (err < 0)
		return err;
	err = subject_vidpid(c->x, &c->vid, &c->pid, reason, cap, who);
	if (err < 0)
		return err;
	switch (profile) {
	case X509_PROFILE_PAA:
		if (c->pid >= 0)
			return why(reason, cap, WRIT_E_PROFILE, who, "must not carry a PID");
		break;
	case X509_PROFILE_PAI:
		if (c->vid < 0)
			return why(reason, cap, WRIT_E_PROFILE, who, "must carry a VID");
		break;
	case X509_PROFILE_DAC:
		if (c->vid < 0)
			return why(reason, cap, WRIT_E_PROFILE, who, "must carry a VID");
		if (c->pid < 0)
			return why(reason, cap, WRIT_E_PROFILE, who, "must carry a PID");
		break;
	}
	ERR_clear_error();
	return 0;
}

static void mcert_clear(struct mcert *c)
{
	X509_free(c->x);
	free(c->der);
	c->x = NULL;
	c->der = NULL;
}

/* Decode (PEM or DER) and parse; the reason names the certificate on failure. */
static int mcert_load(struct mcert *c, const char *name, const uint8_t *in, size_t len, char *reason, size_t cap)
{
	int err;

	c->name = name;
	c->vid = c->pid = -1;
	if (!in || len == 0)
		return why(reason, cap, WRIT_E_INVAL, name, "certificate missing");
	err = x509_to_der(in, len, &c->der, &c->len);
	if (err == WRIT_E_TOOBIG)
		return why(reason, cap, err, name, "certificate larger than %d bytes", X509_CERT_MAX);
	if (err == WRIT_E_NOMEM)
		return why(reason, cap, err, name, "out of memory");
	if (err < 0)
		return why(reason, cap, WRIT_E_FORMAT, name, "not a DER or PEM X.509 certificate");
	c->x = parse_exact(c->der, c->len);
	if (!c->x)
		return why(reason, cap, WRIT_E_FORMAT, name, "not a DER or PEM X.509 certificate");
	return 0;
}

int matter_cert_check_profile(const uint8_t *der, size_t len, enum x509_profile profile, char *reason,
			      size_t reason_cap)
{
	struct mcert c = { 0 };
	int err;

	if (!der || (profile != X509_PROFILE_PAA && profile != X509_PROFILE_PAI && profile != X509_PROFILE_DAC))
		return WRIT_E_INVAL;
	c.name = profile_name(profile);
	if (len > X509_CERT_MAX)
		return why(reason, reason_cap, WRIT_E_TOOBIG, c.name, "certificate larger than %d bytes",
			   X509_CERT_MAX);
	c.x = parse_exact(der, len);
	if (!c.x)
		return why(reason, reason_cap, WRIT_E_FORMAT, c.name, "not a DER X.509 certificate");
	c.der = malloc(len);
	if (!c.der) {
		err = WRIT_E_NOMEM;
		goto out;
	}
	memcpy(c.der, der, len);
	c.len = len;
	err = check_one(&c, profile, reason, reason_cap);
out:
	mcert_clear(&c);
	return err;
}

/* 1 if the two optional octet strings are present and equal. */
static int same_octets(const ASN1_OCTET_STRING *a, const ASN1_OCTET_STRING *b)
{
	return a && b && ASN1_OCTET_STRING_cmp(a, b) == 0;
}

/* The AKI keyIdentifier of child equals the SKI of issuer. */
static int key_ids_link(X509 *child, X509 *issuer)
{
	return same_octets(X509_get0_authority_key_id(child), X509_get0_subject_key_id(issuer));
}

static int check_validity_at(const struct mcert *c, time_t now, char *reason, size_t cap)
{
	if (ASN1_TIME_cmp_time_t(X509_get0_notBefore(c->x), now) > 0)
		return why(reason, cap, WRIT_E_EXPIRED, c->name, "not yet valid (notBefore is in the future)");
	if (ASN1_TIME_cmp_time_t(X509_get0_notAfter(c->x), now) < 0)
		return why(reason, cap, WRIT_E_EXPIRED, c->name, "expired (notAfter has passed)");
	return 0;
}

/* The child must have been issued while its issuer was valid (as the SDK's
 * IsCertificateValidAtIssuance): issuer.notBefore <= child.notBefore <= issuer.notAfter. */
static int check_issued_within(const struct mcert *child, const struct mcert *issuer, char *reason, size_t cap)
{
	const ASN1_TIME *nb = X509_get0_notBefore(child->x);

	if (ASN1_TIME_compare(nb, X509_get0_notBefore(issuer->x)) < 0 ||
	    ASN1_TIME_compare(nb, X509_get0_notAfter(issuer->x)) > 0)
		return why(reason, cap, WRIT_E_EXPIRED, child->name, "notBefore lies outside the %s's validity period",
			   issuer->name);
	return 0;
}

static int check_signature(const struct mcert *c, const struct mcert *issuer, char *reason, size_t cap)
{
	int err = x509_verify_signed(c->der, c->len, issuer->pub);

	if (err == 0)
		return 0;
	if (err == WRIT_E_BADSIG || err == WRIT_E_UNSUPPORTED || err == WRIT_E_FORMAT)
		return why(reason, cap, WRIT_E_BADSIG, c->name, "signature does not verify with the %s's key",
			   issuer->name);
	return why(reason, cap, err, c->name, "signature check failed (%s)", writ_strerror(err));
}

int matter_check_chain(const uint8_t *paa, size_t paa_len, const uint8_t *pai, size_t pai_len, const uint8_t *dac,
		       size_t dac_len, time_t now, char *reason, size_t reason_cap)
{
	struct mcert a = { 0 }, i = { 0 }, d = { 0 };
	int err;

	if (reason && reason_cap)
		reason[0] = '\0';
	if ((err = mcert_load(&a, "PAA", paa, paa_len, reason, reason_cap)) < 0 ||
	    (err = mcert_load(&i, "PAI", pai, pai_len, reason, reason_cap)) < 0 ||
	    (err = mcert_load(&d, "DAC", dac, dac_len, reason, reason_cap)) < 0)
		goto out;

	if ((err = check_one(&a, X509_PROFILE_PAA, reason, reason_cap)) < 0 ||
	    (err = check_one(&i, X509_PROFILE_PAI, reason, reason_cap)) < 0 ||
	    (err = check_one(&d, X509_PROFILE_DAC, reason, reason_cap)) < 0)
		goto out;

	/* names and key identifiers link the chain */
	err = WRIT_E_PROFILE;
	if (X509_NAME_cmp(X509_get_issuer_name(a.x), X509_get_subject_name(a.x)) != 0) {
		err = why(reason, reason_cap, err, "PAA", "must be self-issued (issuer name differs from subject)");
		goto out;
	}
	if (X509_NAME_cmp(X509_get_issuer_name(i.x), X509_get_subject_name(a.x)) != 0) {
		err = why(reason, reason_cap, err, "PAI", "issuer name does not match the PAA's subject");
		goto out;
	}
	if (X509_NAME_cmp(X509_get_issuer_name(d.x), X509_get_subject_name(i.x)) != 0) {
		err = why(reason, reason_cap, err, "DAC", "issuer name does not match the PAI's subject");
		goto out;
	}
	if (X509_get0_authority_key_id(a.x) && !key_ids_link(a.x, a.x)) {
		err = why(reason, reason_cap, err, "PAA", "authorityKeyIdentifier differs from its own subjectKeyIdentifier");
		goto out;
	}
	if (!key_ids_link(i.x, a.x)) {
		err = why(reason, reason_cap, err, "PAI", "authorityKeyIdentifier does not match the PAA's subjectKeyIdentifier");
		goto out;
	}
	if (!key_ids_link(d.x, i.x)) {
		err = why(reason, reason_cap, err, "DAC", "authorityKeyIdentifier does not match the PAI's subjectKeyIdentifier");
		goto out;
	}

	if ((err = check_signature(&a, &a, reason, reason_cap)) < 0 ||
	    (err = check_signature(&i, &a, reason, reason_cap)) < 0 ||
	    (err = check_signature(&d, &i, reason, reason_cap)) < 0)
		goto out;

	if (now != 0 && ((err = check_validity_at(&a, now, reason, reason_cap)) < 0 ||
			 (err = check_validity_at(&i, now, reason, reason_cap)) < 0 ||
			 (err = check_validity_at(&d, now, reason, reason_cap)) < 0))
		goto out;
	if ((err = check_issued_within(&i, &a, reason, reason_cap)) < 0 ||
	    (err = check_issued_within(&d, &i, reason, reason_cap)) < 0)
		goto out;

	/* VID/PID between the three (Matter core spec 6.2.2.x; SDK attestation verifier) */
	err = WRIT_E_PROFILE;
	if (i.vid != d.vid) {
		err = why(reason, reason_cap, err, "DAC", "VID %04X does not match the PAI's VID %04X",
			  (unsigned)d.vid, (unsigned)i.vid);
		goto out;
	}
	if (i.pid >= 0 && i.pid != d.pid) {
		err = why(reason, reason_cap, err, "DAC", "PID %04X does not match the PAI's PID %04X",
			  (unsigned)d.pid, (unsigned)i.pid);
		goto out;
	}
	if (a.vid >= 0 && a.vid != i.vid) {
		err = why(reason, reason_cap, err, "PAI", "VID %04X does not match the PAA's VID %04X",
			  (unsigned)i.vid, (unsigned)a.vid);
		goto out;
	}
	err = 0;
out:
	ERR_clear_error();
	mcert_clear(&a);
	mcert_clear(&i);
	mcert_clear(&d);
	return err;
}
