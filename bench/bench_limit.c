/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_limit: the ceilings writ-hsmd's DAC rate is measured against, on this machine
 * and in the same run as the benchmark. A DAC costs one CSR check (parse + ECDSA
 * verify, done in process with OpenSSL) and one ECDSA signature by the PAI key in the
 * token, so the SoftHSM-backed limit is 1 / (1/csr_verify_rate + 1/softhsm_sign_rate)
 * with each rate the best of 1 and 2 threads. For reference it also times raw OpenSSL
 * P-256 sign and verify. The token is SoftHSM2 (SOFTHSM2_CONF from the environment), a
 * token labelled "writ-bench-limit" created on first use with the PINs in
 * $WRIT_HSM_SO_PIN / $WRIT_HSM_PIN, signing with lib/p11 exactly as writ-hsmd does.
 * Prints key=value lines.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#include "base/ct.h"
#include "crypto/csr.h"
#include "crypto/ec.h"
#include "crypto/x509.h"
#include "p11/p11.h"

#define TOKEN "writ-bench-limit"
#define KEY "bench-sign"
#define MAX_THREADS 2

/* One unit of work; returns 0, or negative to stop the run with an error. */
typedef int (*op_fn)(void *arg);

struct run {
	op_fn fn;
	void *arg;
	atomic_int stop;
	atomic_int failed;
	atomic_uint_fast64_t ops;
	pthread_barrier_t go;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run_thread(void *vr)
{
	struct run *r = vr;
	uint64_t n = 0;

	pthread_barrier_wait(&r->go);
	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		if (r->fn(r->arg) < 0) {
			atomic_store(&r->failed, 1);
			break;
		}
		n++;
	}
	atomic_fetch_add(&r->ops, n);
	return NULL;
}

/* Operations per second of fn over threads threads for about seconds s; negative if an
 * operation failed. */
static double measure(op_fn fn, void *arg, unsigned threads, double seconds)
{
	pthread_t th[MAX_THREADS];
	struct timespec ts = { .tv_sec = (time_t)seconds,
			       .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9) };
	struct run r;
	double t0, t1;
	unsigned i;

	memset(&r, 0, sizeof(r));
	r.fn = fn;
	r.arg = arg;
	if (pthread_barrier_init(&r.go, NULL, threads + 1) != 0)
		return -1;
	for (i = 0; i < threads; i++) {
		if (pthread_create(&th[i], NULL, run_thread, &r) != 0) {
			fprintf(stderr, "bench_limit: cannot start a thread\n");
			exit(1); /* the started threads wait at the barrier */
		}
	}
	pthread_barrier_wait(&r.go);
	t0 = now_s();
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	atomic_store(&r.stop, 1);
	for (i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	t1 = now_s();
	pthread_barrier_destroy(&r.go);
	if (atomic_load(&r.failed))
		return -1;
	return (double)atomic_load(&r.ops) / (t1 - t0);
}

/* ---- raw OpenSSL ECDSA P-256 over a fixed digest (one thread) ---- */

struct raw {
	EVP_PKEY_CTX *sctx, *vctx;
	uint8_t digest[32];
	uint8_t sig[80], scratch[80]; /* sig: a valid signature of digest; scratch: output */
	size_t sig_len;
};

static int raw_sign(void *arg)
{
	struct raw *r = arg;
	size_t len = sizeof(r->scratch);

	return EVP_PKEY_sign(r->sctx, r->scratch, &len, r->digest, sizeof(r->digest)) == 1 ? 0 : WRIT_E_CRYPTO;
}

static int raw_verify(void *arg)
{
	struct raw *r = arg;

	return EVP_PKEY_verify(r->vctx, r->sig, r->sig_len, r->digest, sizeof(r->digest)) == 1 ? 0 : WRIT_E_CRYPTO;
}

static int raw_pair(void *arg)
{
	struct raw *r = arg;
	size_t len = sizeof(r->scratch);

	if (EVP_PKEY_sign(r->sctx, r->scratch, &len, r->digest, sizeof(r->digest)) != 1)
		return WRIT_E_CRYPTO;
	return EVP_PKEY_verify(r->vctx, r->scratch, len, r->digest, sizeof(r->digest)) == 1 ? 0 : WRIT_E_CRYPTO;
}

static int bench_openssl(double seconds)
{
	struct raw r;
	EVP_PKEY *k = EVP_EC_gen("prime256v1");
	double s, v, p;
	int err = WRIT_E_CRYPTO;

	memset(&r, 0, sizeof(r));
	memset(r.digest, 0x5a, sizeof(r.digest));
	r.sig_len = sizeof(r.sig);
	if (!k || !(r.sctx = EVP_PKEY_CTX_new(k, NULL)) || !(r.vctx = EVP_PKEY_CTX_new(k, NULL)) ||
	    EVP_PKEY_sign_init(r.sctx) != 1 || EVP_PKEY_verify_init(r.vctx) != 1 ||
	    EVP_PKEY_sign(r.sctx, r.sig, &r.sig_len, r.digest, sizeof(r.digest)) != 1)
		goto out;
	s = measure(raw_sign, &r, 1, seconds);
	v = measure(raw_verify, &r, 1, seconds);
	p = measure(raw_pair, &r, 1, seconds);
	if (s < 0 || v < 0 || p < 0)
		goto out;
	printf("openssl_ecdsa_p256_sign_per_s=%.0f\n", s);
	printf("openssl_ecdsa_p256_verify_per_s=%.0f\n", v);
	printf("openssl_ecdsa_p256_sign_verify_pairs_per_s=%.0f\n", p);
	err = 0;
out:
	EVP_PKEY_CTX_free(r.sctx);
	EVP_PKEY_CTX_free(r.vctx);
	EVP_PKEY_free(k);
	return err;
}

/* ---- the CSR check writ-hsmd makes for every DAC ---- */

struct csr {
	uint8_t *der;
	size_t len;
};

static int csr_verify(void *arg)
{
	const struct csr *c = arg;
	uint8_t pub[WRIT_P256_PUB_LEN];

	return x509_csr_parse_verify(c->der, c->len, pub);
}

static double best_of(op_fn fn, void *arg, const char *name, double seconds)
{
	double best = -1;
	unsigned t;

	for (t = 1; t <= MAX_THREADS; t++) {
		double r = measure(fn, arg, t, seconds);
		if (r < 0)
			return -1;
		printf("%s_threads_%u=%.0f\n", name, t, r);
		if (r > best)
			best = r;
	}
	printf("%s=%.0f\n", name, best);
	return best;
}

static double bench_csr(double seconds)
{
	struct ec_soft_key *k = NULL;
	struct writ_signer s;
	struct csr c = { 0 };
	double r = -1;

	if (ec_soft_key_new(&k) < 0)
		return -1;
	ec_soft_signer(k, &s);
	if (csr_build_sign("bench device", &s, &c.der, &c.len) == 0)
		r = best_of(csr_verify, &c, "csr_verify_per_s", seconds);
	free(c.der);
	ec_soft_key_free(k);
	return r;
}

/* ---- the token signature writ-hsmd asks for every DAC ---- */

static int token_sign(void *arg)
{
	const struct writ_signer *s = arg;
	uint8_t digest[32], sig[WRIT_P256_SIG_LEN];

	memset(digest, 0xa5, sizeof(digest));
	return s->sign(s->ctx, digest, sig);
}

static double bench_softhsm(double seconds)
{
	const char *module = getenv("WRIT_P11_MODULE");
	char pin[P11_PIN_MAX], so_pin[P11_PIN_MAX];
	uint8_t pub[WRIT_P256_PUB_LEN];
	struct p11_ctx *ctx = NULL;
	struct writ_signer s;
	double r = -1;
	int err;

	if (module && !module[0])
		module = NULL;
	if (p11_pin_load(NULL, "WRIT_HSM_PIN", pin) < 0) {
		fprintf(stderr, "bench_limit: set WRIT_HSM_PIN (and WRIT_HSM_SO_PIN for a new token)\n");
		return -1;
	}
	err = p11_open(module, TOKEN, pin, &ctx);
	if (err == WRIT_E_NOTFOUND && p11_pin_load(NULL, "WRIT_HSM_SO_PIN", so_pin) == 0) {
		err = p11_token_init(module, TOKEN, so_pin, pin);
		writ_memzero(so_pin, sizeof(so_pin));
		if (!err)
			err = p11_open(module, TOKEN, pin, &ctx);
	}
	writ_memzero(pin, sizeof(pin));
	if (err < 0) {
		fprintf(stderr, "bench_limit: cannot open token %s: %s\n", TOKEN, writ_strerror(err));
		return -1;
	}
	err = p11_keygen_p256(ctx, KEY, P11_USAGE_SIGN, pub);
	if ((err == 0 || err == WRIT_E_EXISTS) && p11_signer(ctx, KEY, &s) == 0)
		r = best_of(token_sign, &s, "softhsm_sign_per_s", seconds);
	else
		fprintf(stderr, "bench_limit: cannot make a signing key: %s\n", writ_strerror(err));
	p11_close(ctx);
	return r;
}

int main(int argc, char **argv)
{
	double seconds = 2, csr, sign;
	char *end;

	if (argc == 3 && !strcmp(argv[1], "--seconds")) {
		errno = 0;
		seconds = strtod(argv[2], &end);
		if (errno || *end || end == argv[2] || seconds < 0.1 || seconds > 60) {
			fprintf(stderr, "bench_limit: --seconds takes 0.1..60\n");
			return 2;
		}
	} else if (argc != 1) {
		fprintf(stderr, "usage: bench_limit [--seconds S]   (each figure is timed for S seconds)\n");
		return 2;
	}
	if (bench_openssl(seconds) < 0) {
		fprintf(stderr, "bench_limit: OpenSSL ECDSA failed\n");
		return 1;
	}
	csr = bench_csr(seconds);
	if (csr <= 0) {
		fprintf(stderr, "bench_limit: CSR verification failed\n");
		return 1;
	}
	sign = bench_softhsm(seconds);
	if (sign <= 0)
		return 1;
	printf("softhsm_limit_dacs_per_s=%.0f\n", 1.0 / (1.0 / csr + 1.0 / sign));
	return 0;
}
