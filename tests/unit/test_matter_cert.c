/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Matter attestation profile and chain checks (lib/crypto/matter_cert.c). Known answers
 * come from the Matter SDK's public test certificates (tests/vectors/matter-sdk-certs,
 * see its README.txt): the valid chains A and B, and every commissioner_dut case, driven
 * by its test_case_vector.json so new vectors are picked up. Chains writ builds itself
 * (x509_build_sign with in-memory signers) must pass and agree with OpenSSL's verifier;
 * deliberately broken certificates, built here with plain OpenSSL, must be refused with
 * a reason that names the certificate and the rule.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/ec.h"
#include "crypto/matter_cert.h"
#include "crypto/x509.h"

#define VEC "tests/vectors/matter-sdk-certs"
#define DAY 86400
#define T_2024 ((int64_t)1704067200) /* 2024-01-01T00:00:00Z */

/* ---- helpers ------------------------------------------------------------------- */

static char *vec_path(const char *rel)
{
	const char *src = getenv("WRIT_SRC");
	size_t n;
	char *p;

	if (!src)
		src = ".";
	n = strlen(src) + strlen(VEC) + strlen(rel) + 3;
	p = malloc(n);
	assert_non_null(p);
	assert_true(snprintf(p, n, "%s/%s/%s", src, VEC, rel) < (int)n);
	return p;
}

/* Whole file, or NULL if it does not exist. */
static uint8_t *read_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		return NULL;
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0 && n < 1 << 20);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = 0;
	fclose(f);
	*ret_len = (size_t)n;
	return buf;
}

/* A vector certificate (PEM or DER file) as DER. */
static uint8_t *vec_cert(const char *rel, size_t *ret_len)
{
	char *path = vec_path(rel);
	uint8_t *raw, *der = NULL;
	size_t raw_len = 0;

	raw = read_file(path, &raw_len);
	if (!raw)
		fail_msg("cannot read %s (set WRIT_SRC to the source tree)", path);
	assert_int_equal(x509_to_der(raw, raw_len, &der, ret_len), 0);
	free(raw);
	free(path);
	return der;
}

struct chain {
	uint8_t *paa, *pai, *dac;
	size_t paa_len, pai_len, dac_len;
};

static void chain_free(struct chain *c)
{
	free(c->paa);
	free(c->pai);
	free(c->dac);
	memset(c, 0, sizeof(*c));
}

static int chain_check(const struct chain *c, time_t now, char *reason, size_t cap)
{
	return matter_check_chain(c->paa, c->paa_len, c->pai, c->pai_len, c->dac, c->dac_len, now, reason, cap);
}

static void sha1(const void *data, size_t n, uint8_t out[20])
{
	unsigned int len = 0;

	assert_int_equal(EVP_Digest(data, n, out, &len, EVP_sha1(), NULL), 1);
	assert_int_equal(len, 20);
}

static void assert_reason(const char *reason, const char *want)
{
	if (!strstr(reason, want))
		fail_msg("reason \"%s\" does not contain \"%s\"", reason, want);
}

/* OpenSSL's own verifier (strict X.509) on PAA (trusted) -> PAI -> DAC. */
static int openssl_verify_at(const uint8_t *paa, size_t paa_len, const uint8_t *pai, size_t pai_len,
			     const uint8_t *dac, size_t dac_len, time_t at)
{
	const unsigned char *p;
	X509 *a, *i, *d;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	int ok;

	p = paa;
	a = d2i_X509(NULL, &p, (long)paa_len);
	p = pai;
	i = d2i_X509(NULL, &p, (long)pai_len);
	p = dac;
	d = d2i_X509(NULL, &p, (long)dac_len);
	assert_true(a && i && d && store && ctx && untrusted);
	assert_int_equal(X509_STORE_add_cert(store, a), 1);
	assert_true(sk_X509_push(untrusted, i) > 0);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, d, untrusted), 1);
	X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx), X509_V_FLAG_X509_STRICT);
	if (at)
		X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), at);
	ok = X509_verify_cert(ctx);
	if (ok != 1)
		print_message("openssl: %s\n", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_free(untrusted);
	X509_free(a);
	X509_free(i);
	X509_free(d);
	return ok == 1;
}

static int openssl_verify(const uint8_t *paa, size_t paa_len, const uint8_t *pai, size_t pai_len,
			  const uint8_t *dac, size_t dac_len)
{
	return openssl_verify_at(paa, paa_len, pai, pai_len, dac, dac_len, 0);
}

/* ---- SDK vectors --------------------------------------------------------------- */

static void test_sdk_chain_a(void **state)
{
	struct chain c = { 0 };
	char reason[256] = "";

	(void)state;
	c.paa = vec_cert("Chip-Test-PAA-FFF1-Cert.pem", &c.paa_len);
	c.pai = vec_cert("Chip-Test-PAI-FFF1-8000-Cert.pem", &c.pai_len);
	c.dac = vec_cert("Chip-Test-DAC-FFF1-8000-0000-Cert.pem", &c.dac_len);
	assert_int_equal(c.dac_len, 493); /* README: 493 bytes DER */
	if (chain_check(&c, time(NULL), reason, sizeof(reason)) != 0)
		fail_msg("chain A refused: %s", reason);
	assert_int_equal(chain_check(&c, 0, reason, sizeof(reason)), 0);
	assert_true(openssl_verify(c.paa, c.paa_len, c.pai, c.pai_len, c.dac, c.dac_len));
	/* before the certificates existed (2021-06-28) */
	assert_int_equal(chain_check(&c, (time_t)1600000000, reason, sizeof(reason)), WRIT_E_EXPIRED);
	assert_reason(reason, "not yet valid");
	chain_free(&c);
}

static void test_sdk_chain_b_fallback(void **state)
{
	struct chain c = { 0 };
	char reason[256] = "";

	(void)state;
	c.paa = vec_cert("Chip-Test-PAA-NoVID-Cert.pem", &c.paa_len);
	c.pai = vec_cert("Chip-Test-PAI-FFF2-8004-FB-Cert.pem", &c.pai_len);
	c.dac = vec_cert("Chip-Test-DAC-FFF2-8004-001C-FB-Cert.pem", &c.dac_len);
	if (chain_check(&c, time(NULL), reason, sizeof(reason)) != 0)
		fail_msg("chain B refused: %s", reason);
	assert_true(openssl_verify(c.paa, c.paa_len, c.pai, c.pai_len, c.dac, c.dac_len));
	chain_free(&c);
}

static void test_sdk_chain_mixed_refused(void **state)
{
	struct chain c = { 0 };
	char reason[256] = "";

	(void)state;
	/* chain A's PAI and DAC under chain B's PAA: names and signatures do not link */
	c.paa = vec_cert("Chip-Test-PAA-NoVID-Cert.pem", &c.paa_len);
	c.pai = vec_cert("Chip-Test-PAI-FFF1-8000-Cert.pem", &c.pai_len);
	c.dac = vec_cert("Chip-Test-DAC-FFF1-8000-0000-Cert.pem", &c.dac_len);
	assert_int_not_equal(chain_check(&c, 0, reason, sizeof(reason)), 0);
	assert_reason(reason, "PAI: ");
	chain_free(&c);
	/* DAC and PAI swapped */
	c.paa = vec_cert("Chip-Test-PAA-FFF1-Cert.pem", &c.paa_len);
	c.pai = vec_cert("Chip-Test-DAC-FFF1-8000-0000-Cert.pem", &c.pai_len);
	c.dac = vec_cert("Chip-Test-PAI-FFF1-8000-Cert.pem", &c.dac_len);
	assert_int_equal(chain_check(&c, 0, reason, sizeof(reason)), WRIT_E_PROFILE);
	assert_reason(reason, "PAI: basicConstraints cA must be TRUE");
	chain_free(&c);
}

static void test_sdk_vidpid(void **state)
{
	static const struct {
		const char *file;
		int vid, pid;
	} cases[] = {
		{ "Chip-Test-PAA-FFF1-Cert.pem", 0xFFF1, -1 },
		{ "Chip-Test-PAA-NoVID-Cert.pem", -1, -1 },
		{ "Chip-Test-PAI-FFF1-8000-Cert.pem", 0xFFF1, 0x8000 },
		{ "Chip-Test-DAC-FFF1-8000-0000-Cert.pem", 0xFFF1, 0x8000 },
		{ "Chip-Test-PAI-FFF2-8004-FB-Cert.pem", 0xFFF2, 0x8004 },
		{ "Chip-Test-DAC-FFF2-8004-001C-FB-Cert.pem", 0xFFF2, 0x8004 },
		{ "commissioner_dut/struct_dac_vidpid_fallback_encoding_01/dac-Cert.pem", 0xFFF1, 0x00B1 },
	};
	size_t k, len;
	uint8_t *der;
	int vid = 7, pid = 7;

	(void)state;
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		der = vec_cert(cases[k].file, &len);
		assert_int_equal(matter_cert_vidpid(der, len, &vid, &pid), 0);
		assert_int_equal(vid, cases[k].vid);
		assert_int_equal(pid, cases[k].pid);
		free(der);
	}
	der = vec_cert("commissioner_dut/struct_dac_vidpid_fallback_encoding_07/dac-Cert.pem", &len);
	vid = pid = 7;
	assert_int_equal(matter_cert_vidpid(der, len, &vid, &pid), WRIT_E_PROFILE);
	assert_int_equal(vid, 7); /* untouched on failure */
	free(der);
	assert_int_equal(matter_cert_vidpid((const uint8_t *)"junk", 4, &vid, &pid), WRIT_E_FORMAT);
}

static void test_sdk_profiles(void **state)
{
	char reason[256] = "";
	uint8_t *der;
	size_t len;

	(void)state;
	der = vec_cert("Chip-Test-PAA-FFF1-Cert.pem", &len);
	assert_int_equal(matter_cert_check_profile(der, len, X509_PROFILE_PAA, reason, sizeof(reason)), 0);
	assert_int_equal(matter_cert_check_profile(der, len, X509_PROFILE_PAI, reason, sizeof(reason)),
			 WRIT_E_PROFILE);
	assert_reason(reason, "PAI: basicConstraints pathLenConstraint must be 0");
	assert_int_equal(matter_cert_check_profile(der, len, X509_PROFILE_DAC, reason, sizeof(reason)),
			 WRIT_E_PROFILE);
	assert_reason(reason, "DAC: basicConstraints cA must be FALSE");
	/* trailing byte after the certificate */
	{
		uint8_t *longer = malloc(len + 1);

		assert_non_null(longer);
		memcpy(longer, der, len);
		longer[len] = 0;
		assert_int_equal(matter_cert_check_profile(longer, len + 1, X509_PROFILE_PAA, reason, sizeof(reason)),
				 WRIT_E_FORMAT);
		free(longer);
	}
	free(der);
	der = vec_cert("Chip-Test-DAC-FFF1-8000-0000-Cert.pem", &len);
	assert_int_equal(matter_cert_check_profile(der, len, X509_PROFILE_DAC, reason, sizeof(reason)), 0);
	/* a reason that does not fit is cut, never overflowed */
	assert_int_equal(matter_cert_check_profile(der, len, X509_PROFILE_PAI, reason, 8), WRIT_E_PROFILE);
	assert_int_equal(strlen(reason), 7);
	assert_int_equal(matter_cert_check_profile(der, len, X509_PROFILE_PAI, NULL, 0), WRIT_E_PROFILE);
	free(der);
}

/* Minimal reading of the SDK's test_case_vector.json: the string value of key. */
static char *json_string(const char *json, const char *key)
{
	char pat[64];
	const char *p, *end;
	char *out;

	assert_true(snprintf(pat, sizeof(pat), "\"%s\"", key) < (int)sizeof(pat));
	p = strstr(json, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ':')
		p++;
	if (*p != '"') { /* a bare true / false */
		end = p;
		while (*end >= 'a' && *end <= 'z')
			end++;
	} else {
		p++;
		end = strchr(p, '"');
		if (!end)
			return NULL;
	}
	out = strndup(p, (size_t)(end - p));
	assert_non_null(out);
	return out;
}

static uint8_t *unhex(const char *s, size_t *ret_len)
{
	size_t n = strlen(s), i;
	uint8_t *out;

	assert_int_equal(n % 2, 0);
	out = malloc(n / 2 + 1);
	assert_non_null(out);
	for (i = 0; i < n / 2; i++) {
		unsigned int b;

		assert_int_equal(sscanf(s + 2 * i, "%2x", &b), 1);
		out[i] = (uint8_t)b;
	}
	*ret_len = n / 2;
	return out;
}

/* What a refused commissioner_dut case must say, from the SDK's naming of the cases
 * (struct_<cert>_<area>_...). Unknown areas only have to name the certificate. */
static void expected_reason(const char *dir, char *who, size_t who_cap, const char **area)
{
	static const struct {
		const char *tag, *reason;
	} areas[] = {
		{ "_ext_basic", "basicConstraints" },
		{ "_ext_key_usage", "keyUsage" },
		{ "_ext_skid", "subjectKeyIdentifier" },
		{ "_ext_akid", "authorityKeyIdentifier" },
		{ "_sig_algo", "signature algorithm" },
		{ "_vidpid", "VID" },
		{ "_sig_curve", "public key" },
	};
	size_t k;

	who[0] = '\0';
	if (strncmp(dir, "struct_dac_", 11) == 0)
		(void)snprintf(who, who_cap, "DAC: ");
	else if (strncmp(dir, "struct_pai_", 11) == 0)
		(void)snprintf(who, who_cap, "PAI: ");
	*area = NULL;
	for (k = 0; k < sizeof(areas) / sizeof(areas[0]); k++)
		if (strstr(dir, areas[k].tag))
			*area = areas[k].reason;
}

static void test_sdk_commissioner_dut(void **state)
{
	char *dir_path = vec_path("commissioner_dut");
	DIR *dir = opendir(dir_path);
	struct dirent *de;
	int seen = 0, seen_ok = 0, seen_bad = 0;

	(void)state;
	if (!dir)
		fail_msg("cannot open %s (set WRIT_SRC)", dir_path);
	while ((de = readdir(dir))) {
		char rel[512], reason[256] = "", who[16];
		struct chain c = { 0 };
		char *json, *success, *hex;
		const char *area;
		uint8_t *pem_der;
		size_t json_len, pem_len;
		int ok, rc;

		if (de->d_name[0] == '.')
			continue;
		assert_true(snprintf(rel, sizeof(rel), "commissioner_dut/%s/test_case_vector.json", de->d_name) <
			    (int)sizeof(rel));
		{
			char *p = vec_path(rel);

			json = (char *)read_file(p, &json_len);
			free(p);
		}
		if (!json)
			continue;
		success = json_string(json, "is_success_case");
		assert_non_null(success);
		ok = strcmp(success, "true") == 0;
		assert_true(ok || strcmp(success, "false") == 0);

		/* the JSON carries the DER; the PEM files next to it must be the same bytes */
		c.paa = vec_cert("Chip-Test-PAA-FFF1-Cert.pem", &c.paa_len);
		hex = json_string(json, "dac_cert");
		assert_non_null(hex);
		c.dac = unhex(hex, &c.dac_len);
		free(hex);
		hex = json_string(json, "pai_cert");
		assert_non_null(hex);
		c.pai = unhex(hex, &c.pai_len);
		free(hex);
		(void)snprintf(rel, sizeof(rel), "commissioner_dut/%s/dac-Cert.pem", de->d_name);
		{
			char *p = vec_path(rel);
			uint8_t *raw = read_file(p, &pem_len);

			if (raw) {
				assert_int_equal(x509_to_der(raw, pem_len, &pem_der, &pem_len), 0);
				assert_int_equal(pem_len, c.dac_len);
				assert_memory_equal(pem_der, c.dac, pem_len);
				free(pem_der);
				free(raw);
			}
			free(p);
		}

		rc = chain_check(&c, time(NULL), reason, sizeof(reason));
		if (ok && rc != 0)
			fail_msg("%s: valid case refused: %s", de->d_name, reason);
		if (!ok) {
			if (rc == 0)
				fail_msg("%s: invalid case accepted", de->d_name);
			expected_reason(de->d_name, who, sizeof(who), &area);
			if (who[0] && strncmp(reason, who, strlen(who)) != 0)
				fail_msg("%s: reason \"%s\" should start with \"%s\"", de->d_name, reason, who);
			if (area && !strstr(reason, area))
				fail_msg("%s: reason \"%s\" should mention \"%s\"", de->d_name, reason, area);
			print_message("  %s: refused: %s\n", de->d_name, reason);
		}
		seen++;
		seen_ok += ok;
		seen_bad += !ok;
		free(success);
		free(json);
		chain_free(&c);
	}
	closedir(dir);
	free(dir_path);
	assert_true(seen >= 5);
	assert_true(seen_ok >= 1);
	assert_true(seen_bad >= 4);
}

/* ---- chains writ builds -------------------------------------------------------- */

struct built {
	struct ec_soft_key *paa_k, *pai_k, *dac_k;
	struct writ_signer paa_s, pai_s, dac_s;
	struct chain c;
};

static void params_init(struct x509_cert_params *p, enum x509_profile profile, const char *cn, int vid, int pid,
			const uint8_t pub[WRIT_P256_PUB_LEN], uint8_t serial_low)
{
	memset(p, 0, sizeof(*p));
	p->profile = profile;
	p->serial[0] = 0x12;
	p->serial[1] = 0x34;
	p->serial[7] = serial_low;
	p->serial_len = 8;
	p->cn = cn;
	p->vid = vid;
	p->pid = pid;
	p->not_before = T_2024;
	p->not_after = X509_NO_EXPIRY;
	memcpy(p->subject_pub, pub, WRIT_P256_PUB_LEN);
}

/* PAA(vid paa_vid) -> PAI(FFF1, pai_pid) -> DAC(dac_vid, dac_pid). */
static void build_chain(struct built *b, int paa_vid, int pai_pid, int dac_vid, int dac_pid)
{
	struct x509_cert_params p;

	memset(b, 0, sizeof(*b));
	assert_int_equal(ec_soft_key_new(&b->paa_k), 0);
	assert_int_equal(ec_soft_key_new(&b->pai_k), 0);
	assert_int_equal(ec_soft_key_new(&b->dac_k), 0);
	ec_soft_signer(b->paa_k, &b->paa_s);
	ec_soft_signer(b->pai_k, &b->pai_s);
	ec_soft_signer(b->dac_k, &b->dac_s);

	params_init(&p, X509_PROFILE_PAA, "writ test PAA", paa_vid, -1, b->paa_s.pub, 1);
	p.not_before = T_2024 - 10 * DAY;
	assert_int_equal(x509_build_sign(&p, &b->paa_s, &b->c.paa, &b->c.paa_len), 0);

	params_init(&p, X509_PROFILE_PAI, "writ test PAI", 0xFFF1, pai_pid, b->pai_s.pub, 2);
	p.not_before = T_2024 - DAY;
	p.issuer_der = b->c.paa;
	p.issuer_len = b->c.paa_len;
	assert_int_equal(x509_build_sign(&p, &b->paa_s, &b->c.pai, &b->c.pai_len), 0);

	params_init(&p, X509_PROFILE_DAC, "writ test DAC 0001", dac_vid, dac_pid, b->dac_s.pub, 3);
	p.not_after = T_2024 + 365 * DAY;
	p.issuer_der = b->c.pai;
	p.issuer_len = b->c.pai_len;
	assert_int_equal(x509_build_sign(&p, &b->pai_s, &b->c.dac, &b->c.dac_len), 0);
}

static void built_free(struct built *b)
{
	chain_free(&b->c);
	ec_soft_key_free(b->paa_k);
	ec_soft_key_free(b->pai_k);
	ec_soft_key_free(b->dac_k);
}

static int contains(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
	size_t i;

	for (i = 0; i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return 1;
	return 0;
}

static void test_built_chain_valid(void **state)
{
	/* notAfter 99991231235959Z as GeneralizedTime; notBefore 2024-01-01 as UTCTime */
	static const uint8_t no_expiry[] = { 0x18, 0x0f, '9', '9', '9', '9', '1', '2', '3',
					     '1', '2', '3', '5', '9', '5', '9', 'Z' };
	static const uint8_t nb_2024[] = { 0x17, 0x0d, '2', '4', '0', '1', '0', '1', '0', '0', '0', '0', '0', '0', 'Z' };
	/* VID attribute: OID 1.3.6.1.4.1.37244.2.1, UTF8String "FFF1" */
	static const uint8_t vid_attr[] = { 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0xa2, 0x7c,
					    0x02, 0x01, 0x0c, 0x04, 'F', 'F', 'F', '1' };
	struct built b;
	char reason[256] = "";
	uint8_t pub[WRIT_P256_PUB_LEN], ski[20];
	int vid, pid;

	(void)state;
	build_chain(&b, 0xFFF1, 0x8000, 0xFFF1, 0x8000);
	assert_true(b.c.paa_len <= MATTER_CERT_MAX_DER);
	assert_true(b.c.pai_len <= MATTER_CERT_MAX_DER);
	assert_true(b.c.dac_len <= MATTER_CERT_MAX_DER);
	if (chain_check(&b.c, (time_t)(T_2024 + DAY), reason, sizeof(reason)) != 0)
		fail_msg("built chain refused: %s", reason);
	assert_int_equal(chain_check(&b.c, 0, reason, sizeof(reason)), 0);
	assert_true(openssl_verify_at(b.c.paa, b.c.paa_len, b.c.pai, b.c.pai_len, b.c.dac, b.c.dac_len,
				      (time_t)(T_2024 + DAY)));

	assert_int_equal(x509_cert_pub(b.c.dac, b.c.dac_len, pub), 0);
	assert_memory_equal(pub, b.dac_s.pub, WRIT_P256_PUB_LEN);
	assert_int_equal(matter_cert_vidpid(b.c.dac, b.c.dac_len, &vid, &pid), 0);
	assert_int_equal(vid, 0xFFF1);
	assert_int_equal(pid, 0x8000);
	assert_true(contains(b.c.paa, b.c.paa_len, no_expiry, sizeof(no_expiry)));
	assert_false(contains(b.c.dac, b.c.dac_len, no_expiry, sizeof(no_expiry)));
	assert_true(contains(b.c.pai, b.c.pai_len, vid_attr, sizeof(vid_attr)));
	assert_true(contains(b.c.dac, b.c.dac_len, nb_2024, sizeof(nb_2024)));
	/* SKI is SHA-1 of the 65-byte point */
	sha1(b.dac_s.pub, WRIT_P256_PUB_LEN, ski);
	assert_true(contains(b.c.dac, b.c.dac_len, ski, sizeof(ski)));

	/* time: before the DAC, after the DAC, and a DAC outside its PAI */
	assert_int_equal(chain_check(&b.c, (time_t)(T_2024 - 2 * DAY), reason, sizeof(reason)), WRIT_E_EXPIRED);
	assert_reason(reason, "PAI: not yet valid");
	assert_int_equal(chain_check(&b.c, (time_t)(T_2024 + 400 * DAY), reason, sizeof(reason)), WRIT_E_EXPIRED);
	assert_reason(reason, "DAC: expired");
	built_free(&b);
}

static void test_built_chain_vidpid_rules(void **state)
{
	struct built b;
	char reason[256] = "";

	(void)state;
	/* wrong VID between PAI (FFF1) and DAC */
	build_chain(&b, 0xFFF1, 0x8000, 0xFFF2, 0x8000);
	assert_int_equal(chain_check(&b.c, 0, reason, sizeof(reason)), WRIT_E_PROFILE);
	assert_reason(reason, "DAC: VID FFF2 does not match the PAI's VID FFF1");
	assert_true(openssl_verify_at(b.c.paa, b.c.paa_len, b.c.pai, b.c.pai_len, b.c.dac, b.c.dac_len,
				      (time_t)(T_2024 + DAY)));
	built_free(&b);
	/* PID differs from the PAI's */
	build_chain(&b, 0xFFF1, 0x8000, 0xFFF1, 0x8001);
	assert_int_equal(chain_check(&b.c, 0, reason, sizeof(reason)), WRIT_E_PROFILE);
	assert_reason(reason, "DAC: PID 8001 does not match");
	built_free(&b);
	/* PAI without PID: any DAC PID is fine */
	build_chain(&b, 0xFFF1, -1, 0xFFF1, 0x1234);
	assert_int_equal(chain_check(&b.c, 0, reason, sizeof(reason)), 0);
	built_free(&b);
	/* PAA without VID is fine; PAA with another VID is not */
	build_chain(&b, -1, -1, 0xFFF1, 0x1234);
	assert_int_equal(chain_check(&b.c, 0, reason, sizeof(reason)), 0);
	built_free(&b);
	build_chain(&b, 0xFFF3, -1, 0xFFF1, 0x1234);
	assert_int_equal(chain_check(&b.c, 0, reason, sizeof(reason)), WRIT_E_PROFILE);
	assert_reason(reason, "PAI: VID FFF1 does not match the PAA's VID FFF3");
	built_free(&b);
	/* DAC without PID */
	build_chain(&b, 0xFFF1, -1, 0xFFF1, -1);
	assert_int_equal(chain_check(&b.c, 0, reason, sizeof(reason)), WRIT_E_PROFILE);
	assert_reason(reason, "DAC: must carry a PID");
	built_free(&b);
}

static void test_built_under_sdk_paa(void **state)
{
	struct ec_soft_key *paa_k = NULL, *pai_k = NULL, *dac_k = NULL;
	struct writ_signer paa_s, pai_s, dac_s;
	struct x509_cert_params p;
	struct chain c = { 0 };
	char reason[256] = "", *key = vec_path("Chip-Test-PAA-FFF1-Key.pem");
	uint8_t *paa_pem;
	size_t paa_pem_len;
	char *paa_path = vec_path("Chip-Test-PAA-FFF1-Cert.pem");

	(void)state;
	assert_int_equal(ec_soft_key_from_pem(key, &paa_k), 0);
	assert_int_equal(ec_soft_key_new(&pai_k), 0);
	assert_int_equal(ec_soft_key_new(&dac_k), 0);
	ec_soft_signer(paa_k, &paa_s);
	ec_soft_signer(pai_k, &pai_s);
	ec_soft_signer(dac_k, &dac_s);
	c.paa = vec_cert("Chip-Test-PAA-FFF1-Cert.pem", &c.paa_len);
	paa_pem = read_file(paa_path, &paa_pem_len);
	assert_non_null(paa_pem);

	/* the issuer may be given as PEM too */
	params_init(&p, X509_PROFILE_PAI, "writ PAI", 0xFFF1, -1, pai_s.pub, 9);
	p.issuer_der = paa_pem;
	p.issuer_len = paa_pem_len;
	assert_int_equal(x509_build_sign(&p, &paa_s, &c.pai, &c.pai_len), 0);
	params_init(&p, X509_PROFILE_DAC, "writ DAC", 0xFFF1, 0x8001, dac_s.pub, 10);
	p.issuer_der = c.pai;
	p.issuer_len = c.pai_len;
	assert_int_equal(x509_build_sign(&p, &pai_s, &c.dac, &c.dac_len), 0);
	if (chain_check(&c, time(NULL), reason, sizeof(reason)) != 0)
		fail_msg("chain under the SDK PAA refused: %s", reason);
	assert_true(openssl_verify(c.paa, c.paa_len, c.pai, c.pai_len, c.dac, c.dac_len));

	chain_free(&c);
	free(paa_pem);
	free(paa_path);
	free(key);
	ec_soft_key_free(paa_k);
	ec_soft_key_free(pai_k);
	ec_soft_key_free(dac_k);
}

static void test_build_rejects_bad_params(void **state)
{
	struct ec_soft_key *k1 = NULL, *k2 = NULL;
	struct writ_signer s1, s2;
	struct x509_cert_params p;
	uint8_t *der = (uint8_t *)0x1, *paa = NULL;
	size_t len = 77, paa_len = 0;
	char long_cn[80];

	(void)state;
	assert_int_equal(ec_soft_key_new(&k1), 0);
	assert_int_equal(ec_soft_key_new(&k2), 0);
	ec_soft_signer(k1, &s1);
	ec_soft_signer(k2, &s2);

	params_init(&p, X509_PROFILE_PAA, "PAA", -1, -1, s1.pub, 1);
	assert_int_equal(x509_build_sign(&p, &s2, &der, &len), WRIT_E_INVAL); /* not self-signed */
	p.serial[0] = 0x80;
	assert_int_equal(x509_build_sign(&p, &s1, &der, &len), WRIT_E_INVAL); /* negative */
	p.serial[0] = 0x00;
	assert_int_equal(x509_build_sign(&p, &s1, &der, &len), WRIT_E_INVAL); /* leading zero */
	p.serial[0] = 0x01;
	p.serial_len = 21;
	assert_int_equal(x509_build_sign(&p, &s1, &der, &len), WRIT_E_INVAL);
	p.serial_len = 20;
	memset(long_cn, 'a', sizeof(long_cn) - 1);
	long_cn[65] = '\0';
	p.cn = long_cn;
	assert_int_equal(x509_build_sign(&p, &s1, &der, &len), WRIT_E_INVAL);
	p.cn = "";
	assert_int_equal(x509_build_sign(&p, &s1, &der, &len), WRIT_E_INVAL);
	p.cn = "PAA";
	p.vid = 0x10000;
	assert_int_equal(x509_build_sign(&p, &s1, &der, &len), WRIT_E_INVAL);
	p.vid = -1;
	p.not_after = p.not_before;
	assert_int_equal(x509_build_sign(&p, &s1, &der, &len), WRIT_E_INVAL);
	p.not_after = X509_NO_EXPIRY + 1;
	assert_int_equal(x509_build_sign(&p, &s1, &der, &len), WRIT_E_INVAL);
	p.not_after = X509_NO_EXPIRY;
	p.subject_pub[10] ^= 1; /* not on the curve */
	assert_int_equal(x509_build_sign(&p, &s1, &der, &len), WRIT_E_INVAL);
	assert_true(der == (uint8_t *)0x1 && len == 77); /* outputs untouched */

	/* a 64-byte CN is the maximum and still fits in 600 bytes */
	params_init(&p, X509_PROFILE_PAA, NULL, 0xFFF1, -1, s1.pub, 1);
	long_cn[64] = '\0';
	p.cn = long_cn;
	p.serial_len = 20;
	assert_int_equal(x509_build_sign(&p, &s1, &paa, &paa_len), 0);
	assert_true(paa_len <= MATTER_CERT_MAX_DER);

	/* PAI/DAC need an issuer, and the signer must hold the issuer's key */
	params_init(&p, X509_PROFILE_PAI, "PAI", 0xFFF1, -1, s2.pub, 2);
	assert_int_equal(x509_build_sign(&p, &s1, &der, &len), WRIT_E_INVAL);
	p.issuer_der = paa;
	p.issuer_len = paa_len;
	assert_int_equal(x509_build_sign(&p, &s2, &der, &len), WRIT_E_INVAL);
	p.issuer_len = paa_len - 1;
	assert_int_equal(x509_build_sign(&p, &s1, &der, &len), WRIT_E_FORMAT);

	free(paa);
	ec_soft_key_free(k1);
	ec_soft_key_free(k2);
}

/* A signer whose token "faults": the result must not be a certificate. */
static int bad_sign(void *ctx, const uint8_t digest[32], uint8_t ret_sig[WRIT_P256_SIG_LEN])
{
	(void)ctx;
	(void)digest;
	memset(ret_sig, 0x42, WRIT_P256_SIG_LEN);
	return 0;
}

static int failing_sign(void *ctx, const uint8_t digest[32], uint8_t ret_sig[WRIT_P256_SIG_LEN])
{
	(void)ctx;
	(void)digest;
	(void)ret_sig;
	return WRIT_E_TOKEN;
}

static void test_build_signer_faults(void **state)
{
	struct ec_soft_key *k = NULL;
	struct writ_signer s;
	struct x509_cert_params p;
	uint8_t *der = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(ec_soft_key_new(&k), 0);
	ec_soft_signer(k, &s);
	params_init(&p, X509_PROFILE_PAA, "PAA", -1, -1, s.pub, 1);
	s.sign = bad_sign;
	assert_int_equal(x509_build_sign(&p, &s, &der, &len), WRIT_E_CRYPTO);
	s.sign = failing_sign;
	assert_int_equal(x509_build_sign(&p, &s, &der, &len), WRIT_E_TOKEN);
	assert_null(der);
	ec_soft_key_free(k);
}

/* ---- certificates broken on purpose, built with plain OpenSSL ------------------- */

struct spec {
	enum x509_profile profile;
	const char *cn;
	const char *vid, *pid; /* attribute text, NULL = absent */
	int vid_twice;
	int ca;      /* -1: no basicConstraints */
	int bc_crit;
	long pathlen; /* -1: absent */
	int ku;       /* OpenSSL KU_* bits, -1: no keyUsage */
	int ski, aki;
	const EVP_MD *md;
	long serial;
	int big_ext; /* add a large non-critical extension */
	const char *curve;
};

struct okey {
	EVP_PKEY *pkey;
	uint8_t pub[WRIT_P256_PUB_LEN + 32];
	size_t pub_len;
};

static void okey_new(struct okey *k, const char *curve)
{
	k->pkey = EVP_EC_gen(curve);
	assert_non_null(k->pkey);
	assert_int_equal(EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_PUB_KEY, k->pub, sizeof(k->pub),
							 &k->pub_len),
			 1);
}

static void spec_default(struct spec *s, enum x509_profile profile)
{
	memset(s, 0, sizeof(*s));
	s->profile = profile;
	s->cn = profile == X509_PROFILE_PAA ? "O PAA" : profile == X509_PROFILE_PAI ? "O PAI" : "O DAC";
	s->vid = "FFF1";
	s->pid = profile == X509_PROFILE_PAA ? NULL : "8000";
	s->ca = profile != X509_PROFILE_DAC;
	s->bc_crit = 1;
	s->pathlen = profile == X509_PROFILE_PAA ? 1 : profile == X509_PROFILE_PAI ? 0 : -1;
	s->ku = profile == X509_PROFILE_DAC ? KU_DIGITAL_SIGNATURE : KU_KEY_CERT_SIGN | KU_CRL_SIGN;
	s->ski = 1;
	s->aki = 1;
	s->md = EVP_sha256();
	s->serial = 1000 + profile;
	s->curve = "P-256";
}

static void add_attr(X509_NAME *n, const char *oid, const char *text)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);

	assert_non_null(obj);
	assert_int_equal(X509_NAME_add_entry_by_OBJ(n, obj, V_ASN1_UTF8STRING, (const unsigned char *)text,
						    (int)strlen(text), -1, 0),
			 1);
	ASN1_OBJECT_free(obj);
}

/* Build and sign with OpenSSL. issuer NULL = self-signed by key. */
static uint8_t *ossl_cert(const struct spec *s, const struct okey *key, X509 *issuer, const struct okey *issuer_key,
			  size_t *ret_len)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	uint8_t ski[20];
	unsigned char *der = NULL;
	uint8_t *out;
	int len;

	assert_true(x && n);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), s->serial), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)s->cn, -1, -1, 0),
			 1);
	if (s->vid)
		add_attr(n, "1.3.6.1.4.1.37244.2.1", s->vid);
	if (s->vid_twice)
		add_attr(n, "1.3.6.1.4.1.37244.2.1", s->vid);
	if (s->pid)
		add_attr(n, "1.3.6.1.4.1.37244.2.2", s->pid);
	assert_int_equal(X509_set_subject_name(x, n), 1);
	assert_int_equal(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n), 1);
	assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), (time_t)T_2024));
	assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), (time_t)X509_NO_EXPIRY));
	assert_int_equal(X509_set_pubkey(x, key->pkey), 1);

	if (s->ca >= 0) {
		BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();

		bc->ca = s->ca ? 0xff : 0;
		if (s->pathlen >= 0) {
			bc->pathlen = ASN1_INTEGER_new();
			assert_int_equal(ASN1_INTEGER_set(bc->pathlen, s->pathlen), 1);
		}
		assert_int_equal(X509_add1_ext_i2d(x, NID_basic_constraints, bc, s->bc_crit, 0), 1);
		BASIC_CONSTRAINTS_free(bc);
	}
	if (s->ku >= 0) {
		ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
		int bit;

		/* OpenSSL's KU_* values are the first two DER bytes, MSB first */
		for (bit = 0; bit < 9; bit++) {
			int mask = bit < 8 ? (0x80 >> bit) : 0x8000;

			if (s->ku & mask)
				assert_int_equal(ASN1_BIT_STRING_set_bit(ku, bit, 1), 1);
		}
		assert_int_equal(X509_add1_ext_i2d(x, NID_key_usage, ku, 1, 0), 1);
		ASN1_BIT_STRING_free(ku);
	}
	sha1(key->pub, key->pub_len, ski);
	if (s->ski) {
		ASN1_OCTET_STRING *o = ASN1_OCTET_STRING_new();

		assert_int_equal(ASN1_OCTET_STRING_set(o, ski, 20), 1);
		assert_int_equal(X509_add1_ext_i2d(x, NID_subject_key_identifier, o, 0, 0), 1);
		ASN1_OCTET_STRING_free(o);
	}
	if (s->aki) {
		AUTHORITY_KEYID *a = AUTHORITY_KEYID_new();
		const ASN1_OCTET_STRING *isk = issuer ? X509_get0_subject_key_id(issuer) : NULL;

		a->keyid = ASN1_OCTET_STRING_new();
		if (isk)
			assert_int_equal(ASN1_OCTET_STRING_set(a->keyid, ASN1_STRING_get0_data(isk), 20), 1);
		else
			assert_int_equal(ASN1_OCTET_STRING_set(a->keyid, ski, 20), 1);
		assert_int_equal(X509_add1_ext_i2d(x, NID_authority_key_identifier, a, 0, 0), 1);
		AUTHORITY_KEYID_free(a);
	}
	if (s->big_ext) {
		ASN1_IA5STRING *c = ASN1_IA5STRING_new();
		char text[200];

		memset(text, 'x', sizeof(text));
		assert_int_equal(ASN1_STRING_set(c, text, sizeof(text)), 1);
		assert_int_equal(X509_add1_ext_i2d(x, NID_netscape_comment, c, 0, 0), 1);
		ASN1_IA5STRING_free(c);
	}
	assert_true(X509_sign(x, issuer_key ? issuer_key->pkey : key->pkey, s->md) > 0);
	len = i2d_X509(x, &der);
	assert_true(len > 0);
	out = malloc((size_t)len);
	assert_non_null(out);
	memcpy(out, der, (size_t)len);
	*ret_len = (size_t)len;
	OPENSSL_free(der);
	X509_NAME_free(n);
	X509_free(x);
	return out;
}

static X509 *as_x509(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);

	assert_non_null(x);
	return x;
}

/* Build PAA -> PAI -> DAC from three specs and return matter_check_chain's verdict. */
static int ossl_chain(const struct spec *sa, const struct spec *si, const struct spec *sd, char *reason, size_t cap)
{
	struct okey ka, ki, kd;
	struct chain c = { 0 };
	X509 *xa, *xi;
	int rc;

	okey_new(&ka, "P-256");
	okey_new(&ki, "P-256");
	okey_new(&kd, sd->curve);
	c.paa = ossl_cert(sa, &ka, NULL, NULL, &c.paa_len);
	xa = as_x509(c.paa, c.paa_len);
	c.pai = ossl_cert(si, &ki, xa, &ka, &c.pai_len);
	xi = as_x509(c.pai, c.pai_len);
	c.dac = ossl_cert(sd, &kd, xi, &ki, &c.dac_len);
	reason[0] = '\0';
	rc = chain_check(&c, 0, reason, cap);
	X509_free(xa);
	X509_free(xi);
	EVP_PKEY_free(ka.pkey);
	EVP_PKEY_free(ki.pkey);
	EVP_PKEY_free(kd.pkey);
	chain_free(&c);
	return rc;
}

static void test_openssl_mutations(void **state)
{
	struct spec a, i, d;
	char reason[256];

	(void)state;
#define RESET()                                                                                                        \
	do {                                                                                                           \
		spec_default(&a, X509_PROFILE_PAA);                                                                    \
		spec_default(&i, X509_PROFILE_PAI);                                                                    \
		spec_default(&d, X509_PROFILE_DAC);                                                                    \
	} while (0)
#define EXPECT_REFUSED(want)                                                                                           \
	do {                                                                                                           \
		assert_int_not_equal(ossl_chain(&a, &i, &d, reason, sizeof(reason)), 0);                               \
		assert_reason(reason, want);                                                                           \
		RESET();                                                                                               \
	} while (0)

	/* the unmutated chain is valid: the mutations below are what breaks it */
	RESET();
	if (ossl_chain(&a, &i, &d, reason, sizeof(reason)) != 0)
		fail_msg("baseline refused: %s", reason);

	d.vid = "FFF2";
	EXPECT_REFUSED("DAC: VID FFF2 does not match the PAI's VID FFF1");
	i.pathlen = 1;
	EXPECT_REFUSED("PAI: basicConstraints pathLenConstraint must be 0");
	i.pathlen = -1;
	EXPECT_REFUSED("PAI: basicConstraints pathLenConstraint must be 0");
	d.ca = 1;
	EXPECT_REFUSED("DAC: basicConstraints cA must be FALSE");
	d.pathlen = 0;
	EXPECT_REFUSED("DAC: basicConstraints pathLenConstraint must be absent");
	d.vid = "fff1";
	EXPECT_REFUSED("DAC: Matter VID attribute must be exactly 4 uppercase hex digits");
	i.pid = "80000";
	EXPECT_REFUSED("PAI: Matter PID attribute must be exactly 4 uppercase hex digits");
	d.vid_twice = 1;
	EXPECT_REFUSED("DAC: more than one Matter VID attribute");
	d.ski = 0;
	EXPECT_REFUSED("DAC: subjectKeyIdentifier extension missing");
	i.ski = 0;
	EXPECT_REFUSED("PAI: subjectKeyIdentifier extension missing");
	d.aki = 0;
	EXPECT_REFUSED("DAC: authorityKeyIdentifier extension missing");
	d.md = EVP_sha1();
	EXPECT_REFUSED("DAC: signature algorithm must be ecdsa-with-SHA256");
	i.md = EVP_sha384();
	EXPECT_REFUSED("PAI: signature algorithm must be ecdsa-with-SHA256");
	d.ca = -1;
	EXPECT_REFUSED("DAC: basicConstraints extension missing");
	i.bc_crit = 0;
	EXPECT_REFUSED("PAI: basicConstraints must be critical");
	d.ku = KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT;
	EXPECT_REFUSED("DAC: keyUsage must be exactly digitalSignature");
	d.ku = -1;
	EXPECT_REFUSED("DAC: keyUsage extension missing");
	i.ku = KU_KEY_CERT_SIGN;
	EXPECT_REFUSED("PAI: keyUsage must include keyCertSign and cRLSign");
	a.ku = KU_KEY_CERT_SIGN | KU_CRL_SIGN | KU_NON_REPUDIATION;
	EXPECT_REFUSED("PAA: keyUsage may only have");
	a.pathlen = 2;
	EXPECT_REFUSED("PAA: basicConstraints pathLenConstraint must be absent or 1");
	a.pid = "8000";
	EXPECT_REFUSED("PAA: must not carry a PID");
	a.vid = "FFF4";
	EXPECT_REFUSED("PAI: VID FFF1 does not match the PAA's VID FFF4");
	i.vid = NULL;
	i.pid = NULL;
	EXPECT_REFUSED("PAI: must carry a VID");
	d.curve = "P-384";
	EXPECT_REFUSED("DAC: public key must be an uncompressed EC P-256 point");
	d.serial = -5;
	EXPECT_REFUSED("DAC: serial number must be positive");
	d.big_ext = 1;
	EXPECT_REFUSED("DAC: DER encoding is");

	/* allowed variations */
	a.pathlen = -1; /* PAA pathLen absent */
	a.vid = NULL;   /* PAA without VID */
	a.aki = 0;      /* PAA without AKI */
	i.ku = KU_KEY_CERT_SIGN | KU_CRL_SIGN | KU_DIGITAL_SIGNATURE;
	if (ossl_chain(&a, &i, &d, reason, sizeof(reason)) != 0)
		fail_msg("allowed variations refused: %s", reason);
	RESET();
#undef EXPECT_REFUSED
#undef RESET
}

static void test_openssl_cn_fallback(void **state)
{
	struct spec a, i, d;
	char reason[256];

	(void)state;
	spec_default(&a, X509_PROFILE_PAA);
	spec_default(&i, X509_PROFILE_PAI);
	spec_default(&d, X509_PROFILE_DAC);
	/* fallback only: accepted */
	d.vid = d.pid = NULL;
	d.cn = "Acme DAC Mvid:FFF1 Mpid:8000";
	if (ossl_chain(&a, &i, &d, reason, sizeof(reason)) != 0)
		fail_msg("CN fallback refused: %s", reason);
	/* lowercase hex in the fallback: refused */
	d.cn = "Acme DAC Mvid:fff1 Mpid:8000";
	assert_int_not_equal(ossl_chain(&a, &i, &d, reason, sizeof(reason)), 0);
	assert_reason(reason, "DAC: VID/PID fallback in CN");
	/* 3 digits only */
	d.cn = "Acme DAC Mvid:FFF Mpid:8000";
	assert_int_not_equal(ossl_chain(&a, &i, &d, reason, sizeof(reason)), 0);
	assert_reason(reason, "DAC: VID/PID fallback in CN");
	/* a broken fallback is ignored when the OID attributes are present */
	d.vid = "FFF1";
	d.pid = "8000";
	d.cn = "Acme DAC Mvid:fff1";
	if (ossl_chain(&a, &i, &d, reason, sizeof(reason)) != 0)
		fail_msg("OID attributes with ignored CN refused: %s", reason);
	/* and the OID values win over the CN's */
	d.cn = "Acme DAC Mvid:FFF2 Mpid:9999";
	assert_int_equal(ossl_chain(&a, &i, &d, reason, sizeof(reason)), 0);
	/* fallback on the PAI side, mismatching the DAC */
	i.vid = i.pid = NULL;
	i.cn = "PAI Mvid:FFF2";
	d.cn = "DAC";
	assert_int_not_equal(ossl_chain(&a, &i, &d, reason, sizeof(reason)), 0);
	assert_reason(reason, "does not match");
}

static void test_garbage_inputs(void **state)
{
	char reason[256];
	uint8_t *der, buf[700];
	size_t len, k;
	int vid, pid;

	(void)state;
	der = vec_cert("Chip-Test-DAC-FFF1-8000-0000-Cert.pem", &len);
	/* every truncation is refused and never read past */
	for (k = 0; k < len; k++) {
		uint8_t *t = malloc(k ? k : 1);

		assert_non_null(t);
		memcpy(t, der, k);
		assert_true(matter_cert_check_profile(t, k, X509_PROFILE_DAC, reason, sizeof(reason)) < 0);
		assert_true(matter_cert_vidpid(t, k, &vid, &pid) < 0);
		free(t);
	}
	/* every single-bit flip: the profile check may pass (unsigned bytes), but the
	 * chain check sees the signature */
	{
		struct chain c = { 0 };

		c.paa = vec_cert("Chip-Test-PAA-FFF1-Cert.pem", &c.paa_len);
		c.pai = vec_cert("Chip-Test-PAI-FFF1-8000-Cert.pem", &c.pai_len);
		for (k = 0; k < len; k++) {
			c.dac = malloc(len);
			assert_non_null(c.dac);
			memcpy(c.dac, der, len);
			c.dac[k] ^= 0x01;
			c.dac_len = len;
			assert_true(matter_cert_check_profile(c.dac, len, X509_PROFILE_DAC, reason, sizeof(reason)) <= 0);
			assert_true(chain_check(&c, 0, reason, sizeof(reason)) < 0);
			free(c.dac);
			c.dac = NULL;
		}
		chain_free(&c);
	}
	srand(12345);
	for (k = 0; k < 2000; k++) {
		size_t n = (size_t)rand() % sizeof(buf), j;

		for (j = 0; j < n; j++)
			buf[j] = (uint8_t)rand();
		if (k & 1 && n > 4) {
			buf[0] = 0x30; /* look like a SEQUENCE */
			buf[1] = 0x82;
			buf[2] = (uint8_t)((n - 4) >> 8);
			buf[3] = (uint8_t)(n - 4);
		}
		assert_true(matter_cert_check_profile(buf, n, X509_PROFILE_DAC, reason, sizeof(reason)) < 0);
	}
	/* too large */
	{
		uint8_t *big = calloc(1, X509_CERT_MAX + 1);

		assert_non_null(big);
		assert_int_equal(matter_cert_check_profile(big, X509_CERT_MAX + 1, X509_PROFILE_DAC, reason,
							   sizeof(reason)),
				 WRIT_E_TOOBIG);
		free(big);
	}
	assert_int_equal(matter_check_chain(NULL, 0, der, len, der, len, 0, reason, sizeof(reason)), WRIT_E_INVAL);
	assert_reason(reason, "PAA: certificate missing");
	assert_int_equal(matter_check_chain(buf, 10, der, len, der, len, 0, reason, sizeof(reason)), WRIT_E_FORMAT);
	assert_reason(reason, "PAA: not a DER or PEM X.509 certificate");
	free(der);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sdk_chain_a),
		cmocka_unit_test(test_sdk_chain_b_fallback),
		cmocka_unit_test(test_sdk_chain_mixed_refused),
		cmocka_unit_test(test_sdk_vidpid),
		cmocka_unit_test(test_sdk_profiles),
		cmocka_unit_test(test_sdk_commissioner_dut),
		cmocka_unit_test(test_built_chain_valid),
		cmocka_unit_test(test_built_chain_vidpid_rules),
		cmocka_unit_test(test_built_under_sdk_paa),
		cmocka_unit_test(test_build_rejects_bad_params),
		cmocka_unit_test(test_build_signer_faults),
		cmocka_unit_test(test_openssl_mutations),
		cmocka_unit_test(test_openssl_cn_fallback),
		cmocka_unit_test(test_garbage_inputs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
