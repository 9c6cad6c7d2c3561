/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the COSE decoders in lib/crypto/cose.c. Every input goes to
 * cose_sign1_kid, cose_sign1_verify (under the fixed public key "11" of the RFC 9052 /
 * COSE WG examples) and cose_decrypt_ecdhes / cose_decrypt_ecdhes_kid (with the fixed
 * COSE WG example key "meriadoc.brandybuck@buckland.example"), so seeds made for those
 * keys reach signature checking and AES-GCM. The seeds in tests/fuzz/seeds/cose were made
 * with tests/integration/cose_tool: sign1-* by `sign` with key "11" (PEM of the published
 * d), encrypt-* by `encrypt` to meriadoc's public key, plus the COSE WG
 * p256-hkdf-256-02 example re-tagged 96. Besides memory errors the harness checks that
 * the answers agree with each other.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/cose.h"
#include "crypto/ec.h"

/* cose-wg/Examples key "11" (sign1-tests), public point. */
static const uint8_t key11_pub[WRIT_P256_PUB_LEN] = {
	0x04, 0xba, 0xc5, 0xb1, 0x1c, 0xad, 0x8f, 0x99, 0xf9, 0xc7, 0x2b, 0x05, 0xcf, 0x4b, 0x9e, 0x26, 0xd2,
	0x44, 0xdc, 0x18, 0x9f, 0x74, 0x52, 0x28, 0x25, 0x5a, 0x21, 0x9a, 0x86, 0xd6, 0xa0, 0x9e, 0xff, 0x20,
	0x13, 0x8b, 0xf8, 0x2d, 0xc1, 0xb6, 0xd5, 0x62, 0xbe, 0x0f, 0xa5, 0x4a, 0xb7, 0x80, 0x4a, 0x3a, 0x64,
	0xb6, 0xd7, 0x2c, 0xcf, 0xed, 0x6b, 0x6f, 0xb6, 0xed, 0x28, 0xbb, 0xfc, 0x11, 0x7e,
};

/* cose-wg/Examples ecdh-direct-examples key "meriadoc.brandybuck@buckland.example". */
static const char meriadoc_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgr/kHyZ+a06rmxM3y\n"
	"ESK84r1otSg+aQcVStkRhA+iCM+hRANCAARl7aWhJXfCuugpQ3/jOHAaEKqjdeG7\n"
	"W13hCN5DnAhVHR5S7XVwEWP3+eQN3580Gz3JuoYK9+DKfKfp7s0AhNGc\n"
	"-----END PRIVATE KEY-----\n";
static const char meriadoc_kid[] = "meriadoc.brandybuck@buckland.example";

static struct ec_soft_key *kex_key;
static struct writ_ecdh kex;
static uint8_t key11_kid[WRIT_KEYID_LEN];

static void setup_once(void)
{
	char path[] = "/tmp/writ-fuzz-cose-XXXXXX";
	size_t n = strlen(meriadoc_pem);
	int fd;

	if (kex_key)
		return;
	fd = mkstemp(path);
	if (fd < 0 || write(fd, meriadoc_pem, n) != (ssize_t)n)
		abort();
	close(fd);
	if (ec_soft_key_from_pem(path, &kex_key) < 0)
		abort();
	unlink(path);
	ec_soft_ecdh(kex_key, &kex);
	if (ec_keyid(key11_pub, key11_kid) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t kid[WRIT_KEYID_LEN];
	uint8_t *out = NULL, *out2 = NULL;
	size_t out_len = 0, out2_len = 0;
	int r_kid, r_ver, r_dec, r_dec2;

	setup_once();

	r_kid = cose_sign1_kid(data, size, kid);
	r_ver = cose_sign1_verify(data, size, key11_pub, &out, &out_len);
	if (r_ver == 0) {
		/* verified: the kid reader must agree, and the payload lies inside the input */
		if (r_kid != 0 || memcmp(kid, key11_kid, sizeof(kid)) != 0 || out_len >= size)
			abort();
	} else if (out) {
		abort(); /* ret_* written on failure */
	}
	if (r_kid != 0 && r_ver != r_kid)
		abort(); /* a structural failure is the same failure for both readers */
	free(out);
	out = NULL;

	r_dec = cose_decrypt_ecdhes(&kex, data, size, &out, &out_len);
	r_dec2 = cose_decrypt_ecdhes_kid(&kex, (const uint8_t *)meriadoc_kid, strlen(meriadoc_kid), data, size, &out2,
					 &out2_len);
	if ((r_dec == 0 && out_len + 16 > size) || (r_dec2 == 0 && out2_len + 16 > size))
		abort();
	if (r_dec == 0 && r_dec2 == 0)
		abort(); /* one kid cannot be both */
	if ((r_dec != 0 && out) || (r_dec2 != 0 && out2))
		abort();
	free(out);
	free(out2);
	return 0;
}
