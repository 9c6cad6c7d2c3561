/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The token side of lib/tls: GnuTLS's PKCS#11 set-up with the PIN kept in locked memory,
 * key URLs, key generation with a CSR (lib/p11 + lib/crypto, so the key is created
 * non-extractable exactly as every other writ key), and certificates issued with
 * GnuTLS's X.509 writer whose signature the token makes (gnutls_x509_crt_privkey_sign).
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/pkcs11.h>
#include <gnutls/x509.h>

#include "base/ct.h"
#include "crypto/csr.h"
#include "p11/p11.h"
#include "tls/tls_int.h"

struct tls_global tls_g = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int pin_cb(void *user, int attempt, const char *token_url, const char *token_label, unsigned flags,
		  char *pin, size_t pin_max)
{
	size_t n;

	if (attempt > 0 || !tls_g.have_pin)
		return -1; /* never retry a wrong PIN: the token would lock */
	n = strlen(tls_g.pin);
	if (n + 1 > pin_max)
		return -1;
	memcpy(pin, tls_g.pin, n + 1);
	return 0;
}

int tls_p11_setup(const char *module, const char *pin)
{
	int r;

	if (tls_g.p11_ready)
		return 0;
	if (!module)
		module = WRIT_DEFAULT_P11_MODULE;
	if (strlen(module) >= sizeof(tls_g.module) || (pin && strlen(pin) >= sizeof(tls_g.pin)))
		return WRIT_E_TOOBIG;
	(void)mlock(tls_g.pin, sizeof(tls_g.pin)); /* best effort: RLIMIT_MEMLOCK may refuse */
	memcpy(tls_g.module, module, strlen(module) + 1);
	if (pin) {
		memcpy(tls_g.pin, pin, strlen(pin) + 1);
		tls_g.have_pin = 1;
	}
	if ((r = gnutls_global_init()) < 0)
		return WRIT_E_CRYPTO;
	if ((r = gnutls_pkcs11_init(GNUTLS_PKCS11_FLAG_MANUAL, NULL)) < 0 ||
	    (r = gnutls_pkcs11_add_provider(tls_g.module, NULL)) < 0) {
		fprintf(stderr, "tls: cannot load the PKCS#11 module %s for GnuTLS: %s\n", module, gnutls_strerror(r));
		return WRIT_E_TOKEN;
	}
	gnutls_pkcs11_set_pin_function(pin_cb, NULL);
	tls_g.p11_ready = 1;
	return 0;
}

static int label_ok(const char *s)
{
	size_t i, n = s ? strlen(s) : 0;

	if (n == 0 || n >= TLS_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

int tls_token_pin(const char *who, const char *module, const char *token_label, const char *pin_file,
		  const char *pin_env, const char *so_pin_file, const char *so_pin_env, int create, char ret_pin[128])
{
	const struct p11_pin_source src = { pin_file, pin_env, so_pin_file, so_pin_env };
	struct p11_ctx *ctx = NULL;
	const char *missing = NULL;
	int err;

	err = p11_open_pins(module, token_label, &src, create, &ctx, &missing);
	p11_close(ctx);
	if (missing && !strcmp(missing, "PIN"))
		fprintf(stderr, "%s: no PIN for token \"%s\": give a PIN file or set %s\n", who, token_label, pin_env);
	else if (missing)
		fprintf(stderr, "%s: token \"%s\" does not exist; give an SO PIN file or set %s to create it\n", who,
			token_label, so_pin_env);
	else if (err < 0)
		fprintf(stderr, "%s: cannot open token \"%s\": %s\n", who, token_label, writ_strerror(err));
	if (err < 0)
		return err;
	return p11_pin_load(pin_file, pin_env, ret_pin);
}

int tls_key_url(const char *token_label, const char *key_label, char *out, size_t cap)
{
	if (!label_ok(token_label) || !label_ok(key_label))
		return WRIT_E_INVAL;
	if ((size_t)snprintf(out, cap, "pkcs11:token=%s;object=%s;type=private", token_label, key_label) >= cap)
		return WRIT_E_TOOBIG;
	return 0;
}

int tls_keygen_csr(const char *module, const char *token_label, const char *pin, const char *key_label,
		   const char *cn, uint8_t **ret_csr, size_t *ret_len)
{
	struct p11_ctx *ctx = NULL;
	struct writ_signer s;
	uint8_t pub[WRIT_P256_PUB_LEN];
	int err;

	if (!label_ok(key_label))
		return WRIT_E_INVAL;
	if ((err = p11_open(module, token_label, pin, &ctx)) < 0)
		return err;
	if ((err = p11_keygen_p256(ctx, key_label, P11_USAGE_SIGN, pub)) == 0 && cn &&
	    (err = p11_signer(ctx, key_label, &s)) == 0)
		err = csr_build_sign(cn, &s, ret_csr, ret_len);
	p11_close(ctx);
	return err;
}

int tls_csr_pem(const uint8_t *der, size_t len, char **ret_pem)
{
	gnutls_datum_t in = { (unsigned char *)der, (unsigned)len }, out = { NULL, 0 };

	if (gnutls_pem_base64_encode2("CERTIFICATE REQUEST", &in, &out) < 0)
		return WRIT_E_NOMEM;
	if (!(*ret_pem = malloc(out.size + 1))) {
		gnutls_free(out.data);
		return WRIT_E_NOMEM;
	}
	memcpy(*ret_pem, out.data, out.size);
	(*ret_pem)[out.size] = 0;
	gnutls_free(out.data);
	return 0;
}

int tls_der_fingerprint(const gnutls_datum_t *der, uint8_t ret_fp[32])
{
	return gnutls_hash_fast(GNUTLS_DIG_SHA256, der->data, der->size, ret_fp) < 0 ? WRIT_E_CRYPTO : 0;
}

int tls_pem_fingerprint(const char *pem, uint8_t ret_fp[32])
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t d = { (unsigned char *)pem, (unsigned)strlen(pem) }, der = { NULL, 0 };
	int err = WRIT_E_FORMAT;

	if (gnutls_x509_crt_init(&crt) < 0)
		return WRIT_E_NOMEM;
	if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) >= 0 &&
	    gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der) >= 0)
		err = tls_der_fingerprint(&der, ret_fp);
	gnutls_free(der.data);
	gnutls_x509_crt_deinit(crt);
	return err;
}

/* The CSR's key is ECDSA on P-256 (secp256r1), the only kind writ issues for. */
static int crq_is_p256(gnutls_x509_crq_t crq)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
	gnutls_datum_t x = { NULL, 0 }, y = { NULL, 0 };
	int ok = 0;

	if (gnutls_x509_crq_get_pk_algorithm(crq, NULL) != GNUTLS_PK_ECDSA || gnutls_pubkey_init(&pub) < 0)
		return 0;
	if (gnutls_pubkey_import_x509_crq(pub, crq, 0) >= 0 && gnutls_pubkey_export_ecc_raw(pub, &curve, &x, &y) >= 0)
		ok = curve == GNUTLS_ECC_CURVE_SECP256R1;
	gnutls_free(x.data);
	gnutls_free(y.data);
	gnutls_pubkey_deinit(pub);
	return ok;
}

int tls_cert_info(const char *pem, const uint8_t *csr, size_t csr_len, int64_t *ret_not_after)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_x509_crq_t crq = NULL;
	gnutls_pubkey_t a = NULL, b = NULL;
	gnutls_datum_t d = { (unsigned char *)pem, pem ? (unsigned)strlen(pem) : 0 }, da = { NULL, 0 }, db = { NULL, 0 };
	time_t t;
	int err = WRIT_E_FORMAT;

	if (!pem || strlen(pem) > 64 * 1024 || (csr && csr_len > 4096))
		return WRIT_E_TOOBIG;
	if (gnutls_x509_crt_init(&crt) < 0)
		return WRIT_E_NOMEM;
	if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) < 0 ||
	    (t = gnutls_x509_crt_get_expiration_time(crt)) == (time_t)-1)
		goto out;
	if (csr) {
		gnutls_datum_t c = { (unsigned char *)csr, (unsigned)csr_len };
		if (gnutls_x509_crq_init(&crq) < 0 || gnutls_pubkey_init(&a) < 0 || gnutls_pubkey_init(&b) < 0) {
			err = WRIT_E_NOMEM;
			goto out;
		}
		if (gnutls_x509_crq_import(crq, &c, csr_len > 10 && !memcmp(csr, "-----BEGIN", 10) ? GNUTLS_X509_FMT_PEM
												 : GNUTLS_X509_FMT_DER) < 0 ||
		    gnutls_pubkey_import_x509_crq(a, crq, 0) < 0 || gnutls_pubkey_import_x509(b, crt, 0) < 0 ||
		    gnutls_pubkey_export2(a, GNUTLS_X509_FMT_DER, &da) < 0 ||
		    gnutls_pubkey_export2(b, GNUTLS_X509_FMT_DER, &db) < 0)
			goto out;
		if (da.size != db.size || memcmp(da.data, db.data, da.size)) {
			err = WRIT_E_PROFILE;
			goto out;
		}
	}
	*ret_not_after = (int64_t)t;
	err = 0;
out:
	gnutls_free(da.data);
	gnutls_free(db.data);
	if (a)
		gnutls_pubkey_deinit(a);
	if (b)
		gnutls_pubkey_deinit(b);
	if (crq)
		gnutls_x509_crq_deinit(crq);
	gnutls_x509_crt_deinit(crt);
	return err;
}

static int add_hosts(gnutls_x509_crt_t crt, const char *hosts)
{
	char one[128];
	unsigned char ip[4];
	const char *p = hosts;

	while (*p) {
		size_t n = strcspn(p, ",");
		int r;
		if (n == 0 || n >= sizeof(one))
			return WRIT_E_INVAL;
		memcpy(one, p, n);
		one[n] = 0;
		if (inet_pton(AF_INET, one, ip) == 1)
			r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 4, GNUTLS_FSAN_APPEND);
		else
			r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, one, (unsigned)n,
								 GNUTLS_FSAN_APPEND);
		if (r < 0)
			return WRIT_E_INVAL;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

int tls_cert_issue(const struct tls_issue *p, char **ret_pem, uint8_t ret_fp[32])
{
	gnutls_x509_crt_t crt = NULL, ca = NULL;
	gnutls_x509_crq_t crq = NULL;
	gnutls_privkey_t cakey = NULL, subkey = NULL;
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t d, out = { NULL, 0 }, der = { NULL, 0 };
	uint8_t serial[16];
	unsigned usage;
	int err = WRIT_E_CRYPTO, r;

	if (!p->cn || !p->ca_key_url || (!p->csr && !p->subject_key_url))
		return WRIT_E_INVAL;
	if (gnutls_x509_crt_init(&crt) < 0 || gnutls_privkey_init(&cakey) < 0 || gnutls_pubkey_init(&pub) < 0) {
		err = WRIT_E_NOMEM;
		goto out;
	}
	if ((r = gnutls_privkey_import_url(cakey, p->ca_key_url, 0)) < 0) {
		err = WRIT_E_TOKEN;
		goto out;
	}
	if (p->csr) {
		d.data = (unsigned char *)p->csr;
		d.size = (unsigned)p->csr_len;
		if (p->csr_len > 4096 || gnutls_x509_crq_init(&crq) < 0) {
			err = WRIT_E_TOOBIG;
			goto out;
		}
		if (gnutls_x509_crq_import(crq, &d, p->csr_len > 10 && !memcmp(p->csr, "-----BEGIN", 10)
							   ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER) < 0) {
			err = WRIT_E_FORMAT;
			goto out;
		}
		if (gnutls_x509_crq_verify(crq, 0) < 0) {
			err = WRIT_E_BADSIG;
			goto out;
		}
		if (p->p256_only && !crq_is_p256(crq)) {
			err = WRIT_E_UNSUPPORTED;
			goto out;
		}
		if (gnutls_x509_crt_set_crq(crt, crq) < 0)
			goto out;
	} else {
		if (gnutls_privkey_init(&subkey) < 0 || gnutls_privkey_import_url(subkey, p->subject_key_url, 0) < 0 ||
		    gnutls_pubkey_import_privkey(pub, subkey, 0, 0) < 0) {
			err = WRIT_E_TOKEN;
			goto out;
		}
		if (gnutls_x509_crt_set_pubkey(crt, pub) < 0)
			goto out;
	}
	/* our name for the subject, never the CSR's */
	gnutls_x509_crt_set_dn(crt, "", NULL);
	if (gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, p->cn, (unsigned)strlen(p->cn)) < 0 ||
	    gnutls_x509_crt_set_version(crt, 3) < 0)
		goto out;
	if (gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)) < 0)
		goto out;
	serial[0] &= 0x7f;
	serial[0] |= 0x01;
	if (gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)) < 0 ||
	    gnutls_x509_crt_set_activation_time(crt, (time_t)p->not_before) < 0 ||
	    gnutls_x509_crt_set_expiration_time(crt, (time_t)p->not_after) < 0 ||
	    gnutls_x509_crt_set_basic_constraints(crt, p->is_ca ? 1 : 0, p->is_ca ? 0 : -1) < 0)
		goto out;
	usage = p->is_ca ? GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN | GNUTLS_KEY_DIGITAL_SIGNATURE
			 : GNUTLS_KEY_DIGITAL_SIGNATURE;
	if (gnutls_x509_crt_set_key_usage(crt, usage) < 0)
		goto out;
	if (!p->is_ca && gnutls_x509_crt_set_key_purpose_oid(crt, p->client ? GNUTLS_KP_TLS_WWW_CLIENT
									: GNUTLS_KP_TLS_WWW_SERVER, 0) < 0)
		goto out;
	if (p->hosts && (err = add_hosts(crt, p->hosts)) < 0)
		goto out;
	err = WRIT_E_CRYPTO;
	{
		unsigned char kid[64];
		size_t kid_len = sizeof(kid);
		if (gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA1, kid, &kid_len) >= 0)
			(void)gnutls_x509_crt_set_subject_key_id(crt, kid, kid_len);
	}
	if (p->ca_cert_pem) {
		d.data = (unsigned char *)p->ca_cert_pem;
		d.size = (unsigned)strlen(p->ca_cert_pem);
		if (gnutls_x509_crt_init(&ca) < 0 || gnutls_x509_crt_import(ca, &d, GNUTLS_X509_FMT_PEM) < 0) {
			err = WRIT_E_FORMAT;
			goto out;
		}
		r = gnutls_x509_crt_privkey_sign(crt, ca, cakey, GNUTLS_DIG_SHA256, 0);
	} else {
		r = gnutls_x509_crt_privkey_sign(crt, crt, cakey, GNUTLS_DIG_SHA256, 0);
	}
	if (r < 0) {
		err = WRIT_E_TOKEN;
		goto out;
	}
	if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out) < 0 ||
	    gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der) < 0)
		goto out;
	if (ret_fp && (err = tls_der_fingerprint(&der, ret_fp)) < 0)
		goto out;
	if (!(*ret_pem = malloc(out.size + 1))) {
		err = WRIT_E_NOMEM;
		goto out;
	}
	memcpy(*ret_pem, out.data, out.size);
	(*ret_pem)[out.size] = 0;
	err = 0;
out:
	gnutls_free(out.data);
	gnutls_free(der.data);
	if (crq)
		gnutls_x509_crq_deinit(crq);
	if (ca)
		gnutls_x509_crt_deinit(ca);
	if (crt)
		gnutls_x509_crt_deinit(crt);
	if (cakey)
		gnutls_privkey_deinit(cakey);
	if (subkey)
		gnutls_privkey_deinit(subkey);
	if (pub)
		gnutls_pubkey_deinit(pub);
	return err;
}

int tls_host_is_loopback(const char *host)
{
	struct in_addr a;

	if (!host || inet_pton(AF_INET, host, &a) != 1)
		return 0;
	return (ntohl(a.s_addr) >> 24) == 127;
}
