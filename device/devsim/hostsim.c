/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OpenSSL host stand-in of hostsim.h: written from docs/device-protocol.md, sharing
 * no code with the chip side beyond constants (the WFD1 CRC comes from zlib).
 */
#include "hostsim.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <zlib.h>

EVP_PKEY *hs_key_new(uint8_t pub65[65])
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	size_t n = 0;

	if (k && pub65 &&
	    (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub65, 65, &n) != 1 || n != 65)) {
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
}

EVP_PKEY *hs_pub_from_raw(const uint8_t pub65[65])
{
	static const uint8_t spki_hdr[26] = { 0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
					      0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
					      0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00 };
	uint8_t der[91];
	const uint8_t *p = der;

	memcpy(der, spki_hdr, 26);
	memcpy(der + 26, pub65, 65);
	return d2i_PUBKEY(NULL, &p, sizeof der);
}

int hs_sha256(const void *p, size_t n, uint8_t out[32])
{
	return EVP_Digest(p, n, out, NULL, EVP_sha256(), NULL) == 1 ? 0 : -1;
}

static int cert_der(X509 *x, uint8_t *out, size_t cap, size_t *ret_len)
{
	int n = i2d_X509(x, NULL);
	uint8_t *p = out;

	if (n <= 0 || (size_t)n > cap || i2d_X509(x, &p) != n)
		return -1;
	*ret_len = (size_t)n;
	return 0;
}

static int cert_common(X509 *x, long serial)
{
	return X509_set_version(x, 2) == 1 && ASN1_INTEGER_set(X509_get_serialNumber(x), serial) == 1 &&
			       X509_gmtime_adj(X509_getm_notBefore(x), -3600) && X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 3650)
		       ? 0
		       : -1;
}

int hs_make_pai(EVP_PKEY *key, const char *cn, uint8_t *out, size_t cap, size_t *ret_len)
{
	X509 *x = X509_new();
	X509_NAME *nm = X509_NAME_new();
	X509_EXTENSION *ext = NULL;
	int err = -1;

	if (!x || !nm || cert_common(x, 1) != 0 ||
	    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_set_subject_name(x, nm) != 1 || X509_set_issuer_name(x, nm) != 1 || X509_set_pubkey(x, key) != 1)
		goto out;
	ext = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
	if (!ext || X509_add_ext(x, ext, -1) != 1 || X509_sign(x, key, EVP_sha256()) <= 0)
		goto out;
	err = cert_der(x, out, cap, ret_len);
out:
	X509_EXTENSION_free(ext);
	X509_NAME_free(nm);
	X509_free(x);
	return err;
}

static int raw_pub(EVP_PKEY *k, uint8_t pub65[65])
{
	size_t n = 0;

	return EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub65, 65, &n) == 1 && n == 65
		       ? 0
		       : -1;
}

int hs_check_csr(const uint8_t *csr, size_t n, const uint8_t uid[16], uint8_t pub65[65])
{
	const uint8_t *p = csr;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)n);
	EVP_PKEY *pk;
	char cn[64], want[33];
	int err = -1;

	for (int i = 0; i < 16; i++) {
		static const char hx[] = "0123456789ABCDEF";
		want[2 * i] = hx[uid[i] >> 4];
		want[2 * i + 1] = hx[uid[i] & 15];
	}
	want[32] = '\0';
	if (!req || p != csr + n)
		goto out;
	pk = X509_REQ_get0_pubkey(req);
	if (!pk || X509_REQ_verify(req, pk) != 1 || raw_pub(pk, pub65) != 0)
		goto out;
	if (X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, cn, sizeof cn) != 32 ||
	    strcmp(cn, want) != 0)
		goto out;
	err = 0;
out:
	X509_REQ_free(req);
	return err;
}

int hs_issue_dac(EVP_PKEY *pai_key, EVP_PKEY *sign_with, const uint8_t *pai, size_t pai_len, const uint8_t *csr,
		 size_t csr_len, uint8_t *out, size_t cap, size_t *ret_len)
{
	const uint8_t *p = csr, *q = pai;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)csr_len);
	X509 *ca = d2i_X509(NULL, &q, (long)pai_len);
	X509 *x = X509_new();
	EVP_PKEY *pk;
	int err = -1;

	if (!req || !ca || !x || cert_common(x, 2) != 0)
		goto out;
	pk = X509_REQ_get0_pubkey(req);
	if (!pk || X509_REQ_verify(req, pk) != 1 || X509_set_subject_name(x, X509_REQ_get_subject_name(req)) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1 || X509_set_pubkey(x, pk) != 1 ||
	    X509_sign(x, sign_with ? sign_with : pai_key, EVP_sha256()) <= 0)
		goto out;
	err = cert_der(x, out, cap, ret_len);
out:
	X509_free(x);
	X509_free(ca);
	X509_REQ_free(req);
	return err;
}

int hs_check_binding(const uint8_t att_pub[65], const uint8_t uid[16], const uint8_t enc_pub[65],
		     const uint8_t *sig, size_t sig_len)
{
	uint8_t msg[15 + 16 + 65];
	EVP_PKEY *k = hs_pub_from_raw(att_pub);
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	int ok;

	memcpy(msg, "writ enc-key v1", 15);
	memcpy(msg + 15, uid, 16);
	memcpy(msg + 31, enc_pub, 65);
	ok = k && m && EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, k) == 1 &&
	     EVP_DigestVerify(m, sig, sig_len, msg, sizeof msg) == 1;
	EVP_MD_CTX_free(m);
	EVP_PKEY_free(k);
	return ok ? 0 : -1;
}

struct bw {
	uint8_t *p;
	size_t cap, len;
	int bad;
};

static void bw_put(struct bw *b, const void *v, size_t n)
{
	if (b->bad || n > b->cap - b->len) {
		b->bad = 1;
		return;
	}
	memcpy(b->p + b->len, v, n);
	b->len += n;
}

static void bw_tlv(struct bw *b, unsigned type, const void *v, size_t n)
{
	uint8_t h[4] = { (uint8_t)(type >> 8), (uint8_t)type, (uint8_t)(n >> 8), (uint8_t)n };

	bw_put(b, h, 4);
	bw_put(b, v, n);
}

int hs_make_wfd(const uint8_t *dac, size_t dac_len, const uint8_t *pai, size_t pai_len, uint8_t *out, size_t cap,
		size_t *ret_len)
{
	struct bw b = { out, cap, 0, 0 };
	uint8_t salt[16], verifier[97], rd[16];
	uLong crc;
	size_t body;

	memset(salt, 0x5a, sizeof salt);
	memset(verifier, 0x11, sizeof verifier);
	verifier[32] = 0x04;
	memset(rd, 0x33, sizeof rd);
	bw_put(&b, "WFD1\0\0", 6);
	bw_tlv(&b, 0x01, "\xff\xf1", 2);
	bw_tlv(&b, 0x02, "\x80\x00", 2);
	bw_tlv(&b, 0x03, "writ", 4);
	bw_tlv(&b, 0x05, "SN-0001", 7);
	bw_tlv(&b, 0x06, "2024-02-29", 10);
	bw_tlv(&b, 0x07, "\x00\x01", 2);
	bw_tlv(&b, 0x09, "\x0f\x00", 2);
	bw_tlv(&b, 0x0A, "\x00\x00\x03\xe8", 4);
	bw_tlv(&b, 0x0B, salt, sizeof salt);
	bw_tlv(&b, 0x0C, verifier, sizeof verifier);
	bw_tlv(&b, 0x0D, rd, sizeof rd);
	bw_tlv(&b, 0x0E, dac, dac_len);
	bw_tlv(&b, 0x0F, pai, pai_len);
	if (b.bad || b.len + 4 > cap)
		return -1;
	body = b.len - 6;
	out[4] = (uint8_t)(body >> 8);
	out[5] = (uint8_t)body;
	crc = crc32(0L, out, (uInt)b.len);
	out[b.len] = (uint8_t)(crc >> 24);
	out[b.len + 1] = (uint8_t)(crc >> 16);
	out[b.len + 2] = (uint8_t)(crc >> 8);
	out[b.len + 3] = (uint8_t)crc;
	*ret_len = b.len + 4;
	return 0;
}

int hs_wrap(const uint8_t uid[16], const uint8_t enc_pub[65], const char *label, const uint8_t *secret, size_t n,
	    uint8_t *out, size_t cap, size_t *ret_len)
{
	EVP_PKEY *eph = NULL, *peer = NULL;
	EVP_PKEY_CTX *dc = NULL, *kc = NULL;
	EVP_CIPHER_CTX *cc = NULL;
	uint8_t z[32], key[32], info[19 + 32], aad[12 + 16 + 32];
	size_t zlen = sizeof z, klen = sizeof key, ll = strlen(label);
	int l = 0, err = -1;

	if (ll > 32 || n < 1 || n > 64 || cap < 65 + 12 + n + 16)
		return -1;
	eph = hs_key_new(out);
	peer = hs_pub_from_raw(enc_pub);
	if (!eph || !peer || RAND_bytes(out + 65, 12) != 1)
		goto out;
	dc = EVP_PKEY_CTX_new(eph, NULL);
	if (!dc || EVP_PKEY_derive_init(dc) != 1 || EVP_PKEY_derive_set_peer(dc, peer) != 1 ||
	    EVP_PKEY_derive(dc, z, &zlen) != 1 || zlen != 32)
		goto out;
	memcpy(info, "writ secret wrap v1", 19);
	memcpy(info + 19, label, ll);
	kc = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	if (!kc || EVP_PKEY_derive_init(kc) != 1 || EVP_PKEY_CTX_set_hkdf_md(kc, EVP_sha256()) != 1 ||
	    EVP_PKEY_CTX_set1_hkdf_salt(kc, uid, 16) != 1 || EVP_PKEY_CTX_set1_hkdf_key(kc, z, 32) != 1 ||
	    EVP_PKEY_CTX_add1_hkdf_info(kc, info, (int)(19 + ll)) != 1 || EVP_PKEY_derive(kc, key, &klen) != 1)
		goto out;
	memcpy(aad, "writ-wrap-v1", 12);
	memcpy(aad + 12, uid, 16);
	memcpy(aad + 28, label, ll);
	cc = EVP_CIPHER_CTX_new();
	if (!cc || EVP_EncryptInit_ex(cc, EVP_aes_256_gcm(), NULL, key, out + 65) != 1 ||
	    EVP_EncryptUpdate(cc, NULL, &l, aad, (int)(28 + ll)) != 1 ||
	    EVP_EncryptUpdate(cc, out + 77, &l, secret, (int)n) != 1 || EVP_EncryptFinal_ex(cc, out + 77 + n, &l) != 1 ||
	    EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_GCM_GET_TAG, 16, out + 77 + n) != 1)
		goto out;
	*ret_len = 65 + 12 + n + 16;
	err = 0;
out:
	OPENSSL_cleanse(z, sizeof z);
	OPENSSL_cleanse(key, sizeof key);
	EVP_CIPHER_CTX_free(cc);
	EVP_PKEY_CTX_free(kc);
	EVP_PKEY_CTX_free(dc);
	EVP_PKEY_free(peer);
	EVP_PKEY_free(eph);
	return err;
}

int hs_sign_fw(EVP_PKEY *sb_key, uint32_t version, const uint8_t *image, size_t size, uint8_t sig[64])
{
	uint8_t hdr[18];

	memcpy(hdr, "writ fw v1", 10);
	for (int i = 0; i < 4; i++) {
		hdr[10 + i] = (uint8_t)(version >> (24 - 8 * i));
		hdr[14 + i] = (uint8_t)((uint32_t)size >> (24 - 8 * i));
	}
	return hs_sign_p256(sb_key, hdr, sizeof hdr, image, size, sig);
}

/* ---- secure debug credentials (docs/device-protocol.md, "Secure debug") ---- */

int hs_sign_p256(EVP_PKEY *key, const uint8_t *a, size_t an, const uint8_t *b, size_t bn, uint8_t sig[64])
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	uint8_t der[80];
	size_t dlen = sizeof der;
	const uint8_t *p = der;
	ECDSA_SIG *es = NULL;
	int err = -1;

	if (!m || EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, key) != 1 || EVP_DigestSignUpdate(m, a, an) != 1 ||
	    (bn && EVP_DigestSignUpdate(m, b, bn) != 1) || EVP_DigestSignFinal(m, der, &dlen) != 1)
		goto out;
	es = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
	if (!es || BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) != 32 ||
	    BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) != 32)
		goto out;
	err = 0;
out:
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(m);
	return err;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

int hs_dbg_cert(EVP_PKEY *issuer, const struct hs_dbg_cert_in *in, const uint8_t subject_pub[65], uint8_t out[209])
{
	memset(out, 0, 209);
	memcpy(out, "WDC1", 4);
	out[4] = 1;
	out[5] = in->role;
	put_be(out + 6, in->vendor_id, 2);
	put_be(out + 8, in->product_id, 2);
	put_be(out + 12, in->key_gen, 4);
	put_be(out + 16, in->not_before, 8);
	put_be(out + 24, in->not_after, 8);
	memcpy(out + 32, in->perms, 16);
	memcpy(out + 48, in->hsm_id, 32);
	memcpy(out + 80, subject_pub, 65);
	return hs_sign_p256(issuer, out, 145, NULL, 0, out + 145);
}

int hs_dbg_token(EVP_PKEY *delegate, const uint8_t uid[16], uint64_t not_before, uint64_t not_after,
		 const uint8_t perms[16], uint32_t session_s, const uint8_t challenge[32], uint8_t out[156])
{
	memset(out, 0, 156);
	memcpy(out, "WDT1", 4);
	out[4] = 1;
	memcpy(out + 8, uid, 16);
	put_be(out + 24, not_before, 8);
	put_be(out + 32, not_after, 8);
	memcpy(out + 40, perms, 16);
	put_be(out + 56, session_s, 4);
	memcpy(out + 60, challenge, 32);
	return hs_sign_p256(delegate, out, 92, challenge, 32, out + 92);
}
