/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lib/p11 against a real SoftHSM2 token in a throw-away directory: token set-up and its
 * errors, login errors, key generation and the attributes the private half must carry
 * (checked with raw PKCS#11 calls made here, since lib/p11 offers no way to read them),
 * signatures verified by lib/crypto, ECDH agreeing with an in-memory OpenSSL peer,
 * signing and deriving from many threads at once, random bytes, and PIN loading.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <p11-kit/pkcs11.h>

#include "base/ct.h"
#include "crypto/ec.h"
#include "p11/p11.h"
#include "testenv.h"

#define TOKEN "writ-test-token"
#define SO_PIN "so-secret-0"
#define USER_PIN "user-1234"

struct fixture {
	char dir[512];
	struct p11_ctx *ctx;
};

static int setup_env(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (testenv_softhsm(f->dir, sizeof(f->dir)) < 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

/* A fresh environment with one initialised token, opened. */
static int setup_token(void **state)
{
	struct fixture *f;

	if (setup_env(state) < 0)
		return -1;
	f = *state;
	if (p11_token_init(testenv_p11_module(), TOKEN, SO_PIN, USER_PIN) < 0)
		return -1;
	if (p11_open(testenv_p11_module(), TOKEN, USER_PIN, &f->ctx) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	p11_close(f->ctx);
	if (testenv_rmtree(f->dir) < 0)
		return -1;
	free(f);
	return 0;
}

/* A digest that depends on seed. Safe off the main thread (no cmocka assertion). */
static int make_digest(uint8_t d[32], unsigned seed)
{
	uint8_t msg[16];
	unsigned i;

	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(seed >> (8 * (i % 4))) ^ (uint8_t)i;
	return ec_sha256(msg, sizeof(msg), d);
}

static void fill_digest(uint8_t d[32], unsigned seed)
{
	assert_int_equal(make_digest(d, seed), 0);
}

/* ---- token and login ---------------------------------------------------------------- */

static void test_token_init(void **state)
{
	const char *mod = testenv_p11_module();
	struct p11_ctx *ctx = NULL;

	(void)state;
	assert_int_equal(p11_token_init(mod, TOKEN, SO_PIN, USER_PIN), 0);
	assert_int_equal(p11_token_init(mod, TOKEN, SO_PIN, USER_PIN), WRIT_E_EXISTS);
	/* a second token goes to the next free slot */
	assert_int_equal(p11_token_init(mod, "writ-second", SO_PIN, USER_PIN), 0);
	assert_int_equal(p11_token_init(mod, "writ-second", SO_PIN, USER_PIN), WRIT_E_EXISTS);
	/* labels are 1..32 bytes */
	assert_int_equal(p11_token_init(mod, "", SO_PIN, USER_PIN), WRIT_E_INVAL);
	assert_int_equal(p11_token_init(mod, "0123456789abcdef0123456789abcdefX", SO_PIN, USER_PIN), WRIT_E_INVAL);
	assert_int_equal(p11_token_init(mod, "x", SO_PIN, NULL), WRIT_E_INVAL);

	assert_int_equal(p11_open(mod, "writ-second", USER_PIN, &ctx), 0);
	assert_non_null(ctx);
	p11_close(ctx);
	p11_close(NULL);
}

static void test_open_errors(void **state)
{
	const char *mod = testenv_p11_module();
	struct p11_ctx *ctx = NULL, *other = NULL;
	uint8_t pub[WRIT_P256_PUB_LEN], pub2[WRIT_P256_PUB_LEN], d[32], sig[WRIT_P256_SIG_LEN];
	struct writ_signer sg;

	(void)state;
	assert_int_equal(p11_token_init(mod, TOKEN, SO_PIN, USER_PIN), 0);
	assert_int_equal(p11_open(mod, TOKEN, "wrong-pin", &ctx), WRIT_E_AUTH);
	assert_null(ctx);
	assert_int_equal(p11_open(mod, TOKEN, "1", &ctx), WRIT_E_AUTH); /* CKR_PIN_LEN_RANGE */
	assert_int_equal(p11_open(mod, "no-such-token", USER_PIN, &ctx), WRIT_E_NOTFOUND);
	assert_int_equal(p11_open("/nonexistent/libnothing.so", TOKEN, USER_PIN, &ctx), WRIT_E_NOTFOUND);
	assert_int_equal(p11_open(mod, TOKEN, "", &ctx), WRIT_E_INVAL);
	assert_null(ctx);

	assert_int_equal(p11_open(mod, TOKEN, USER_PIN, &ctx), 0);
	/* the token is logged in for the whole process now; a second context of the same
	 * token still has its PIN checked */
	assert_int_equal(p11_open(mod, TOKEN, "wrong-pin", &other), WRIT_E_AUTH);
	assert_null(other);
	assert_int_equal(p11_open(mod, TOKEN, USER_PIN "x", &other), WRIT_E_AUTH);
	assert_int_equal(p11_open(mod, TOKEN, USER_PIN, &other), 0);
	assert_int_equal(p11_keygen_p256(ctx, "k", P11_USAGE_SIGN, pub), 0);
	/* closing one context leaves the other logged in */
	p11_close(ctx);
	ctx = NULL;
	assert_int_equal(p11_find_key(other, "k", pub2), 0);
	assert_memory_equal(pub, pub2, sizeof(pub));
	assert_int_equal(p11_signer(other, "k", &sg), 0);
	fill_digest(d, 7);
	assert_int_equal(sg.sign(sg.ctx, d, sig), 0);
	assert_int_equal(ec_p256_verify_digest(pub, d, sig), 0);
	p11_close(other);
	/* with nobody logged in, the token checks the PIN again */
	assert_int_equal(p11_open(mod, TOKEN, "wrong-pin", &ctx), WRIT_E_AUTH);
	assert_int_equal(p11_open(mod, TOKEN, USER_PIN, &ctx), 0);
	assert_int_equal(p11_find_key(ctx, "k", pub2), 0);
	p11_close(ctx);
}

/* ---- keys --------------------------------------------------------------------------- */

static void test_keygen(void **state)
{
	struct fixture *f = *state;
	uint8_t pub[WRIT_P256_PUB_LEN], pub2[WRIT_P256_PUB_LEN], again[WRIT_P256_PUB_LEN];
	struct writ_signer sg;
	struct writ_ecdh dh;

	assert_int_equal(p11_keygen_p256(f->ctx, "identity", P11_USAGE_SIGN, pub), 0);
	assert_int_equal(pub[0], 0x04);
	assert_int_equal(ec_p256_check_pub(pub), 0);
	assert_int_equal(p11_keygen_p256(f->ctx, "identity", P11_USAGE_SIGN, pub2), WRIT_E_EXISTS);
	assert_int_equal(p11_keygen_p256(f->ctx, "identity", P11_USAGE_DERIVE, pub2), WRIT_E_EXISTS);

	assert_int_equal(p11_keygen_p256(f->ctx, "agreement", P11_USAGE_DERIVE, pub2), 0);
	assert_memory_not_equal(pub, pub2, sizeof(pub));
	assert_int_equal(p11_keygen_p256(f->ctx, "bad-usage", 0, pub2), WRIT_E_INVAL);
	assert_int_equal(p11_keygen_p256(f->ctx, "bad-usage", 4, pub2), WRIT_E_INVAL);
	assert_int_equal(p11_keygen_p256(f->ctx, "", P11_USAGE_SIGN, pub2), WRIT_E_INVAL);

	assert_int_equal(p11_find_key(f->ctx, "identity", again), 0);
	assert_memory_equal(again, pub, sizeof(pub));
	assert_int_equal(p11_find_key(f->ctx, "missing", again), WRIT_E_NOTFOUND);
	assert_int_equal(p11_signer(f->ctx, "missing", &sg), WRIT_E_NOTFOUND);

	/* a view only for the usage the key was made for */
	assert_int_equal(p11_signer(f->ctx, "identity", &sg), 0);
	assert_memory_equal(sg.pub, pub, sizeof(pub));
	assert_int_equal(p11_ecdh(f->ctx, "identity", &dh), WRIT_E_UNSUPPORTED);
	assert_int_equal(p11_signer(f->ctx, "agreement", &sg), WRIT_E_UNSUPPORTED);

	/* token objects survive closing and reopening */
	p11_close(f->ctx);
	f->ctx = NULL;
	assert_int_equal(p11_open(testenv_p11_module(), TOKEN, USER_PIN, &f->ctx), 0);
	assert_int_equal(p11_find_key(f->ctx, "identity", again), 0);
	assert_memory_equal(again, pub, sizeof(pub));
	assert_int_equal(p11_keygen_p256(f->ctx, "identity", P11_USAGE_SIGN, pub2), WRIT_E_EXISTS);
}

/* Raw PKCS#11 access for checks lib/p11 deliberately cannot make. dlopen of a loaded
 * module returns the same instance, which p11_ctx keeps initialised; a new session of
 * this application shares the login. */
struct raw {
	void *dl;
	CK_FUNCTION_LIST_PTR fl;
	CK_SESSION_HANDLE s;
};

static void raw_open(struct raw *r)
{
	CK_C_GetFunctionList get_fl;
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16, i;
	CK_TOKEN_INFO ti;
	CK_UTF8CHAR want[32];
	CK_RV rv;

	memset(want, ' ', sizeof(want));
	memcpy(want, TOKEN, strlen(TOKEN));
	r->dl = dlopen(testenv_p11_module(), RTLD_NOW | RTLD_LOCAL);
	assert_non_null(r->dl);
	get_fl = (CK_C_GetFunctionList)dlsym(r->dl, "C_GetFunctionList");
	assert_non_null(get_fl);
	assert_int_equal(get_fl(&r->fl), CKR_OK);
	rv = r->fl->C_Initialize(NULL);
	assert_true(rv == CKR_CRYPTOKI_ALREADY_INITIALIZED); /* p11_ctx owns the module */
	assert_int_equal(r->fl->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
	for (i = 0; i < n; i++) {
		assert_int_equal(r->fl->C_GetTokenInfo(slots[i], &ti), CKR_OK);
		if (memcmp(ti.label, want, sizeof(want)) == 0)
			break;
	}
	assert_true(i < n);
	assert_int_equal(r->fl->C_OpenSession(slots[i], CKF_SERIAL_SESSION, NULL, NULL, &r->s), CKR_OK);
}

static void raw_close(struct raw *r)
{
	assert_int_equal(r->fl->C_CloseSession(r->s), CKR_OK);
	dlclose(r->dl); /* no C_Finalize: the module belongs to the p11_ctx */
}

static CK_OBJECT_HANDLE raw_find(struct raw *r, CK_OBJECT_CLASS cls, const char *label)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE h[2];
	CK_ULONG n = 0;

	assert_int_equal(r->fl->C_FindObjectsInit(r->s, t, 2), CKR_OK);
	assert_int_equal(r->fl->C_FindObjects(r->s, h, 2, &n), CKR_OK);
	assert_int_equal(r->fl->C_FindObjectsFinal(r->s), CKR_OK);
	assert_int_equal(n, 1);
	return h[0];
}

static CK_BBOOL raw_bool(struct raw *r, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL b = 0x55;
	CK_ATTRIBUTE a = { type, &b, sizeof(b) };

	assert_int_equal(r->fl->C_GetAttributeValue(r->s, h, &a, 1), CKR_OK);
	return b;
}

static void test_private_key_attributes(void **state)
{
	struct fixture *f = *state;
	uint8_t pub[WRIT_P256_PUB_LEN], kid[WRIT_KEYID_LEN], id[64], secret[128], point[80];
	CK_OBJECT_HANDLE priv, pubh;
	CK_ATTRIBUTE a;
	struct raw r;
	CK_RV rv;

	assert_int_equal(p11_keygen_p256(f->ctx, "identity", P11_USAGE_SIGN, pub), 0);
	assert_int_equal(ec_keyid(pub, kid), 0);
	raw_open(&r);

	priv = raw_find(&r, CKO_PRIVATE_KEY, "identity");
	assert_int_equal(raw_bool(&r, priv, CKA_TOKEN), CK_TRUE);
	assert_int_equal(raw_bool(&r, priv, CKA_PRIVATE), CK_TRUE);
	assert_int_equal(raw_bool(&r, priv, CKA_SENSITIVE), CK_TRUE);
	assert_int_equal(raw_bool(&r, priv, CKA_EXTRACTABLE), CK_FALSE);
	assert_int_equal(raw_bool(&r, priv, CKA_ALWAYS_SENSITIVE), CK_TRUE);
	assert_int_equal(raw_bool(&r, priv, CKA_NEVER_EXTRACTABLE), CK_TRUE);
	assert_int_equal(raw_bool(&r, priv, CKA_SIGN), CK_TRUE);
	assert_int_equal(raw_bool(&r, priv, CKA_DERIVE), CK_FALSE);

	/* the private value cannot be read, neither its length nor its bytes */
	a = (CK_ATTRIBUTE){ CKA_VALUE, NULL, 0 };
	rv = r.fl->C_GetAttributeValue(r.s, priv, &a, 1);
	assert_int_equal(rv, CKR_ATTRIBUTE_SENSITIVE);
	assert_true(a.ulValueLen == CK_UNAVAILABLE_INFORMATION);
	memset(secret, 0, sizeof(secret));
	a = (CK_ATTRIBUTE){ CKA_VALUE, secret, sizeof(secret) };
	rv = r.fl->C_GetAttributeValue(r.s, priv, &a, 1);
	assert_int_equal(rv, CKR_ATTRIBUTE_SENSITIVE);
	assert_true(a.ulValueLen == CK_UNAVAILABLE_INFORMATION);

	/* CKA_ID on both halves is the key id of the public point */
	a = (CK_ATTRIBUTE){ CKA_ID, id, sizeof(id) };
	assert_int_equal(r.fl->C_GetAttributeValue(r.s, priv, &a, 1), CKR_OK);
	assert_int_equal(a.ulValueLen, WRIT_KEYID_LEN);
	assert_memory_equal(id, kid, WRIT_KEYID_LEN);
	pubh = raw_find(&r, CKO_PUBLIC_KEY, "identity");
	assert_int_equal(raw_bool(&r, pubh, CKA_TOKEN), CK_TRUE);
	a = (CK_ATTRIBUTE){ CKA_ID, id, sizeof(id) };
	assert_int_equal(r.fl->C_GetAttributeValue(r.s, pubh, &a, 1), CKR_OK);
	assert_int_equal(a.ulValueLen, WRIT_KEYID_LEN);
	assert_memory_equal(id, kid, WRIT_KEYID_LEN);
	/* and CKA_EC_POINT is the DER OCTET STRING around it */
	a = (CK_ATTRIBUTE){ CKA_EC_POINT, point, sizeof(point) };
	assert_int_equal(r.fl->C_GetAttributeValue(r.s, pubh, &a, 1), CKR_OK);
	assert_int_equal(a.ulValueLen, 67);
	assert_int_equal(point[0], 0x04);
	assert_int_equal(point[1], 0x41);
	assert_memory_equal(point + 2, pub, sizeof(pub));

	raw_close(&r);
}

/* ---- operations --------------------------------------------------------------------- */

static void test_sign_verify(void **state)
{
	struct fixture *f = *state;
	uint8_t pub[WRIT_P256_PUB_LEN], d[32], sig[WRIT_P256_SIG_LEN], sig2[WRIT_P256_SIG_LEN];
	struct writ_signer sg;

	assert_int_equal(p11_keygen_p256(f->ctx, "identity", P11_USAGE_SIGN, pub), 0);
	assert_int_equal(p11_signer(f->ctx, "identity", &sg), 0);
	assert_memory_equal(sg.pub, pub, sizeof(pub));
	fill_digest(d, 1);
	assert_int_equal(sg.sign(sg.ctx, d, sig), 0);
	assert_int_equal(ec_p256_verify_digest(pub, d, sig), 0);
	/* ECDSA is randomised; both signatures verify */
	assert_int_equal(sg.sign(sg.ctx, d, sig2), 0);
	assert_memory_not_equal(sig, sig2, sizeof(sig));
	assert_int_equal(ec_p256_verify_digest(pub, d, sig2), 0);
	/* and not over another digest */
	d[0] ^= 1;
	assert_int_equal(ec_p256_verify_digest(pub, d, sig), WRIT_E_BADSIG);
}

static void test_ecdh(void **state)
{
	struct fixture *f = *state;
	uint8_t pub[WRIT_P256_PUB_LEN], bad[WRIT_P256_PUB_LEN];
	uint8_t z_token[32], z_soft[32], z_again[32], zero[32];
	struct ec_soft_key *peer = NULL;
	struct writ_ecdh tok, soft;

	assert_int_equal(p11_keygen_p256(f->ctx, "agreement", P11_USAGE_DERIVE, pub), 0);
	assert_int_equal(p11_ecdh(f->ctx, "agreement", &tok), 0);
	assert_memory_equal(tok.pub, pub, sizeof(pub));
	assert_int_equal(ec_soft_key_new(&peer), 0);
	ec_soft_ecdh(peer, &soft);

	assert_int_equal(tok.derive(tok.ctx, soft.pub, z_token), 0);
	assert_int_equal(soft.derive(soft.ctx, tok.pub, z_soft), 0);
	assert_memory_equal(z_token, z_soft, sizeof(z_token));
	memset(zero, 0, sizeof(zero));
	assert_memory_not_equal(z_token, zero, sizeof(zero));
	assert_int_equal(tok.derive(tok.ctx, soft.pub, z_again), 0);
	assert_memory_equal(z_token, z_again, sizeof(z_token));

	/* a point not on the curve, and a compressed-point prefix, are refused */
	memcpy(bad, soft.pub, sizeof(bad));
	bad[64] ^= 1;
	assert_true(tok.derive(tok.ctx, bad, z_again) < 0);
	bad[0] = 0x02;
	assert_int_equal(tok.derive(tok.ctx, bad, z_again), WRIT_E_FORMAT);

	/* no derived secret object stays behind in the token */
	{
		struct raw r;
		CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
		CK_ATTRIBUTE t = { CKA_CLASS, &cls, sizeof(cls) };
		CK_OBJECT_HANDLE h[4];
		CK_ULONG n = 0;

		raw_open(&r);
		assert_int_equal(r.fl->C_FindObjectsInit(r.s, &t, 1), CKR_OK);
		assert_int_equal(r.fl->C_FindObjects(r.s, h, 4, &n), CKR_OK);
		assert_int_equal(r.fl->C_FindObjectsFinal(r.s), CKR_OK);
		assert_int_equal(n, 0);
		raw_close(&r);
	}

	writ_memzero(z_token, sizeof(z_token));
	writ_memzero(z_soft, sizeof(z_soft));
	writ_memzero(z_again, sizeof(z_again));
	ec_soft_key_free(peer);
}

#define N_THREADS 16
#define N_SIGS 200

struct worker {
	pthread_t tid;
	unsigned idx;
	struct writ_signer sg;
	struct writ_ecdh dh;
	const uint8_t *z_expected;
	const uint8_t *peer_pub;
	int failures;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint8_t d[32], sig[WRIT_P256_SIG_LEN], z[32];
	unsigned i;

	for (i = 0; i < N_SIGS; i++) {
		if (make_digest(d, w->idx * 100000u + i) != 0)
			w->failures++;
		if (w->sg.sign(w->sg.ctx, d, sig) != 0 || ec_p256_verify_digest(w->sg.pub, d, sig) != 0)
			w->failures++;
		/* every tenth operation an ECDH on the same pool of sessions */
		if (i % 10 == 0) {
			if (w->dh.derive(w->dh.ctx, w->peer_pub, z) != 0 || !writ_ct_memeq(z, w->z_expected, 32))
				w->failures++;
			writ_memzero(z, sizeof(z));
		}
	}
	return NULL;
}

static void test_concurrent_sign(void **state)
{
	struct fixture *f = *state;
	uint8_t pub[WRIT_P256_PUB_LEN], z[32];
	struct ec_soft_key *peer = NULL;
	struct writ_ecdh soft, tok;
	struct worker w[N_THREADS];
	unsigned i;

	assert_int_equal(p11_keygen_p256(f->ctx, "identity", P11_USAGE_SIGN, pub), 0);
	assert_int_equal(p11_keygen_p256(f->ctx, "agreement", P11_USAGE_DERIVE, pub), 0);
	assert_int_equal(p11_ecdh(f->ctx, "agreement", &tok), 0);
	assert_int_equal(ec_soft_key_new(&peer), 0);
	ec_soft_ecdh(peer, &soft);
	assert_int_equal(soft.derive(soft.ctx, tok.pub, z), 0);

	memset(w, 0, sizeof(w));
	for (i = 0; i < N_THREADS; i++) {
		w[i].idx = i;
		/* views obtained concurrently too would be fine; here each thread has its own */
		assert_int_equal(p11_signer(f->ctx, "identity", &w[i].sg), 0);
		assert_int_equal(p11_ecdh(f->ctx, "agreement", &w[i].dh), 0);
		w[i].z_expected = z;
		w[i].peer_pub = soft.pub;
	}
	for (i = 0; i < N_THREADS; i++)
		assert_int_equal(pthread_create(&w[i].tid, NULL, worker_main, &w[i]), 0);
	for (i = 0; i < N_THREADS; i++)
		assert_int_equal(pthread_join(w[i].tid, NULL), 0);
	for (i = 0; i < N_THREADS; i++)
		assert_int_equal(w[i].failures, 0);
	writ_memzero(z, sizeof(z));
	ec_soft_key_free(peer);
}

static void test_random(void **state)
{
	struct fixture *f = *state;
	uint8_t a[32], b[32], zero[32], big[10000];
	size_t i, nz = 0;

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	memset(zero, 0, sizeof(zero));
	assert_int_equal(p11_random(f->ctx, a, sizeof(a)), 0);
	assert_int_equal(p11_random(f->ctx, b, sizeof(b)), 0);
	assert_memory_not_equal(a, zero, sizeof(a));
	assert_memory_not_equal(b, zero, sizeof(b));
	assert_memory_not_equal(a, b, sizeof(a));
	memset(big, 0, sizeof(big));
	assert_int_equal(p11_random(f->ctx, big, sizeof(big)), 0); /* more than one chunk */
	for (i = sizeof(big) - 64; i < sizeof(big); i++)
		nz += big[i] != 0;
	assert_true(nz > 32);
	assert_int_equal(p11_random(f->ctx, NULL, 0), 0);
	assert_int_equal(p11_random(NULL, a, sizeof(a)), WRIT_E_INVAL);
}

/* ---- PINs --------------------------------------------------------------------------- */

static void write_text(const char *dir, const char *name, const char *text, char *ret_path, size_t cap)
{
	int k = snprintf(ret_path, cap, "%s/%s", dir, name);

	assert_true(k > 0 && (size_t)k < cap);
	assert_int_equal(testenv_write_file(ret_path, text, strlen(text)), 0);
}

static void test_pin_load(void **state)
{
	struct fixture *f = *state;
	char pin[P11_PIN_MAX], path[700], longpin[P11_PIN_MAX + 8];
	uint8_t *buf = NULL;
	size_t len = 0;

	write_text(f->dir, "pin1", "1234\n", path, sizeof(path));
	assert_int_equal(p11_pin_load(path, NULL, pin), 0);
	assert_string_equal(pin, "1234");
	/* the file wins over the environment; only the first line counts; CRLF too */
	setenv("WRIT_TEST_PIN", "from-env", 1);
	write_text(f->dir, "pin2", "abcd\r\nsecond line\n", path, sizeof(path));
	assert_int_equal(p11_pin_load(path, "WRIT_TEST_PIN", pin), 0);
	assert_string_equal(pin, "abcd");
	write_text(f->dir, "pin3", "no-newline", path, sizeof(path));
	assert_int_equal(p11_pin_load(path, NULL, pin), 0);
	assert_string_equal(pin, "no-newline");
	assert_int_equal(testenv_read_file(path, &buf, &len), 0);
	assert_int_equal(len, 10);
	assert_string_equal((char *)buf, "no-newline");
	free(buf);

	assert_int_equal(p11_pin_load(NULL, "WRIT_TEST_PIN", pin), 0);
	assert_string_equal(pin, "from-env");
	unsetenv("WRIT_TEST_PIN");

	/* missing everywhere */
	memcpy(pin, "untouched", sizeof("untouched"));
	assert_int_equal(p11_pin_load(NULL, "WRIT_TEST_PIN", pin), WRIT_E_NOTFOUND);
	assert_int_equal(p11_pin_load(NULL, NULL, pin), WRIT_E_NOTFOUND);
	snprintf(path, sizeof(path), "%s/no-such-file", f->dir);
	assert_int_equal(p11_pin_load(path, NULL, pin), WRIT_E_NOTFOUND);
	assert_string_equal(pin, "untouched");

	/* empty and oversized */
	write_text(f->dir, "empty", "\n", path, sizeof(path));
	assert_int_equal(p11_pin_load(path, NULL, pin), WRIT_E_FORMAT);
	memset(longpin, 'x', sizeof(longpin) - 1);
	longpin[sizeof(longpin) - 1] = '\0';
	write_text(f->dir, "long", longpin, path, sizeof(path));
	assert_int_equal(p11_pin_load(path, NULL, pin), WRIT_E_TOOBIG);
	longpin[P11_PIN_MAX - 1] = '\n'; /* exactly P11_PIN_MAX - 1 characters fit */
	write_text(f->dir, "fits", longpin, path, sizeof(path));
	assert_int_equal(p11_pin_load(path, NULL, pin), 0);
	assert_int_equal(strlen(pin), P11_PIN_MAX - 1);
	writ_memzero(pin, sizeof(pin));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_token_init, setup_env, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup_env, teardown),
		cmocka_unit_test_setup_teardown(test_keygen, setup_token, teardown),
		cmocka_unit_test_setup_teardown(test_private_key_attributes, setup_token, teardown),
		cmocka_unit_test_setup_teardown(test_sign_verify, setup_token, teardown),
		cmocka_unit_test_setup_teardown(test_ecdh, setup_token, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_sign, setup_token, teardown),
		cmocka_unit_test_setup_teardown(test_random, setup_token, teardown),
		cmocka_unit_test_setup_teardown(test_pin_load, setup_env, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
