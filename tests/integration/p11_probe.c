/* SPDX-License-Identifier: Apache-2.0 */
/*
 * p11_probe: what writ needs from a PKCS#11 token, exercised through lib/p11 on a real
 * module (SoftHSM2 or tpm2-pkcs11), confined as writ-hsmd is: the token is opened, then
 * writ-hsmd's seccomp allow-list is installed (unless --no-seccomp), then everything
 * else runs under it. Used by hsm_p11.sh.
 *
 *   p11_probe --module SO --token LABEL [--create] [--no-seccomp]
 *
 * PINs from WRIT_HSM_PIN / WRIT_HSM_SO_PIN. Prints one line per capability:
 *   lacks sign|derive|none <p11_lacks sentence or "-">
 *   keygen sign ok                 a P-256 signing pair generated, found again by label
 *   sign ok                        ECDSA over a digest, verified with OpenSSL
 *   threads ok                     4 threads x 8 signatures, each verified
 *   random ok                      64 bytes from C_GenerateRandom, not all zero
 *   keygen derive ok | <error>     an ECDH pair (WRIT_E_UNSUPPORTED when lacking)
 *   ecdh ok | <error>              a shared secret equal to OpenSSL's
 * Exit 0 when every line was printed (capabilities the token lacks included), 1 when
 * something the token claims to support failed.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/ct.h"
#include "base/err.h"
#include "crypto/ec.h"
#include "host/harden.h"
#include "p11/p11.h"

#define THREADS 4
#define PER_THREAD 8

static struct writ_signer signer;
static int thread_failures;
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

static void *sign_loop(void *arg)
{
	uint8_t digest[32], sig[WRIT_P256_SIG_LEN];
	int i, bad = 0, err;

	for (i = 0; i < PER_THREAD; i++) {
		memset(digest, (int)((uintptr_t)arg * 16 + (uintptr_t)i), sizeof(digest));
		if ((err = signer.sign(signer.ctx, digest, sig)) < 0 ||
		    (err = ec_p256_verify_digest(signer.pub, digest, sig)) < 0) {
			fprintf(stderr, "p11_probe: thread %u, signature %d: %s\n", (unsigned)(uintptr_t)arg, i,
				writ_strerror(err));
			bad++;
		}
	}
	pthread_mutex_lock(&fail_lock);
	thread_failures += bad;
	pthread_mutex_unlock(&fail_lock);
	return NULL;
}

static void lacks_line(struct p11_ctx *p11, const char *name, unsigned usage)
{
	const char *l = p11_lacks(p11, usage);

	printf("lacks %s %s\n", name, l ? l : "-");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "module", required_argument, 0, 'm' }, { "token", required_argument, 0, 't' },
		{ "create", no_argument, 0, 'c' },	 { "no-seccomp", no_argument, 0, 'N' },
		{ 0, 0, 0, 0 },
	};
	const struct p11_pin_source src = { NULL, "WRIT_HSM_PIN", NULL, "WRIT_HSM_SO_PIN" };
	const char *module = NULL, *token = NULL, *missing = NULL;
	int create = 0, no_seccomp = 0, c, err, failed = 0, i;
	uint8_t pub[WRIT_P256_PUB_LEN], pub2[WRIT_P256_PUB_LEN], digest[32], sig[WRIT_P256_SIG_LEN], rnd[64];
	uint8_t z[32], z2[32];
	pthread_t th[THREADS];
	struct writ_ecdh ecdh, peer;
	struct ec_soft_key *peer_key = NULL;
	struct p11_ctx *p11 = NULL;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': module = optarg; break;
		case 't': token = optarg; break;
		case 'c': create = 1; break;
		case 'N': no_seccomp = 1; break;
		default: return 2;
		}
	}
	if (!module || !token) {
		fprintf(stderr, "usage: p11_probe --module SO --token LABEL [--create] [--no-seccomp]\n");
		return 2;
	}
	err = p11_open_pins(module, token, &src, create, &p11, &missing);
	if (err < 0) {
		fprintf(stderr, "p11_probe: cannot open token \"%s\": %s%s%s\n", token, writ_strerror(err),
			missing ? ": no " : "", missing ? missing : "");
		return 1;
	}
	if (harden_seccomp(HARDEN_PROFILE_HSMD, no_seccomp) < 0) {
		fprintf(stderr, "p11_probe: cannot install the seccomp filter\n");
		p11_close(p11);
		return 1;
	}
	lacks_line(p11, "none", 0);
	lacks_line(p11, "sign", P11_USAGE_SIGN);
	lacks_line(p11, "derive", P11_USAGE_DERIVE);

	err = p11_keygen_p256(p11, "probe-sign", P11_USAGE_SIGN, pub);
	if (err == 0)
		err = p11_find_key(p11, "probe-sign", pub2);
	if (err == 0 && memcmp(pub, pub2, sizeof(pub)) != 0)
		err = WRIT_E_FORMAT;
	printf("keygen sign %s\n", err < 0 ? writ_strerror(err) : "ok");
	failed |= err < 0 && !p11_lacks(p11, P11_USAGE_SIGN);

	if (err == 0 && (err = p11_signer(p11, "probe-sign", &signer)) == 0) {
		memset(digest, 0x5a, sizeof(digest));
		err = signer.sign(signer.ctx, digest, sig);
		if (err == 0)
			err = ec_p256_verify_digest(signer.pub, digest, sig);
		printf("sign %s\n", err < 0 ? writ_strerror(err) : "ok");
		failed |= err < 0;
		for (i = 0; i < THREADS; i++)
			if (pthread_create(&th[i], NULL, sign_loop, (void *)(uintptr_t)i) != 0)
				return 1;
		for (i = 0; i < THREADS; i++)
			pthread_join(th[i], NULL);
		printf("threads %s\n", thread_failures ? "failed" : "ok");
		failed |= thread_failures != 0;
	}

	memset(rnd, 0, sizeof(rnd));
	err = p11_random(p11, rnd, sizeof(rnd));
	memset(z2, 0, sizeof(z2));
	if (err == 0 && writ_ct_memeq(rnd, rnd + 32, 32) && writ_ct_memeq(rnd, z2, 32))
		err = WRIT_E_CRYPTO;
	printf("random %s\n", err < 0 ? writ_strerror(err) : "ok");
	failed |= err < 0 && !p11_lacks(p11, 0);

	err = p11_keygen_p256(p11, "probe-kex", P11_USAGE_DERIVE, pub);
	printf("keygen derive %s\n", err < 0 ? writ_strerror(err) : "ok");
	failed |= err < 0 && !p11_lacks(p11, P11_USAGE_DERIVE);
	/* asked even when the keygen failed: lib/p11 must answer, not crash */
	c = p11_ecdh(p11, "probe-kex", &ecdh);
	if (err == 0 || c == WRIT_E_UNSUPPORTED)
		err = c;
	if (err == 0 && (err = ec_soft_key_new(&peer_key)) == 0) {
		ec_soft_ecdh(peer_key, &peer);
		if ((err = ecdh.derive(ecdh.ctx, peer.pub, z)) == 0 && (err = peer.derive(peer.ctx, ecdh.pub, z2)) == 0 &&
		    !writ_ct_memeq(z, z2, sizeof(z)))
			err = WRIT_E_CRYPTO;
	}
	printf("ecdh %s\n", err < 0 ? writ_strerror(err) : "ok");
	failed |= err < 0 && !p11_lacks(p11, P11_USAGE_DERIVE);
	ec_soft_key_free(peer_key);
	writ_memzero(z, sizeof(z));
	writ_memzero(z2, sizeof(z2));

	p11_close(p11);
	return failed ? 1 : 0;
}
