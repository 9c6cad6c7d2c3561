/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cose_tool: a thin command-line face of lib/crypto/cose.c so that an independent COSE
 * implementation (tests/integration/cose_interop.py, Python cbor2 + cryptography) can
 * check what we make and hand us what it makes. Test-only; private keys come from PEM
 * files holding throwaway keys. On failure it prints "error <code> <name>" on stderr
 * and exits 1, so the caller can assert the exact writ_err.
 *
 *   cose_tool sign    KEY.pem IN OUT   COSE_Sign1 of IN, kid = key id of KEY
 *   cose_tool verify  PUB.hex IN OUT   payload of the verified Sign1 IN
 *   cose_tool kid     IN OUT           kid of the Sign1 IN (32 bytes)
 *   cose_tool encrypt PUB.hex IN OUT   COSE_Encrypt of IN to PUB
 *   cose_tool decrypt KEY.pem IN OUT   plaintext of the COSE_Encrypt IN
 * PUB.hex holds the 65-byte uncompressed point as 130 hex digits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "crypto/cose.h"
#include "crypto/ec.h"

/* Inputs up to twice the COSE bound, so the library's own limit can be exercised. */
#define TOOL_MAX_INPUT (2 * (size_t)COSE_MAX_MESSAGE)

static int read_all(const char *path, uint8_t **ret, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t n;

	if (!f)
		return WRIT_E_IO;
	buf = malloc(TOOL_MAX_INPUT + 1);
	if (!buf) {
		fclose(f);
		return WRIT_E_NOMEM;
	}
	n = fread(buf, 1, TOOL_MAX_INPUT + 1, f);
	if (ferror(f) || n > TOOL_MAX_INPUT) {
		fclose(f);
		free(buf);
		return n > TOOL_MAX_INPUT ? WRIT_E_TOOBIG : WRIT_E_IO;
	}
	fclose(f);
	*ret = buf;
	*ret_len = n;
	return 0;
}

static int write_all(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	int err = 0;

	if (!f)
		return WRIT_E_IO;
	if ((n && fwrite(p, 1, n, f) != n) || fflush(f) != 0)
		err = WRIT_E_IO;
	if (fclose(f) != 0)
		err = WRIT_E_IO;
	return err;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly 130 hex digits, optionally followed by one newline. */
static int read_pub_hex(const char *path, uint8_t ret_pub[WRIT_P256_PUB_LEN])
{
	uint8_t pub[WRIT_P256_PUB_LEN];
	uint8_t *text = NULL;
	size_t len = 0, i;
	int err, hi, lo;

	err = read_all(path, &text, &len);
	if (err < 0)
		return err;
	err = WRIT_E_FORMAT;
	if (len > 0 && text[len - 1] == '\n')
		len--;
	if (len != 2 * WRIT_P256_PUB_LEN)
		goto fail;
	for (i = 0; i < WRIT_P256_PUB_LEN; i++) {
		hi = hexval(text[2 * i]);
		lo = hexval(text[2 * i + 1]);
		if (hi < 0 || lo < 0)
			goto fail;
		pub[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(ret_pub, pub, sizeof(pub));
	err = 0;
fail:
	free(text);
	return err;
}

static int run(int argc, char **argv)
{
	const char *op = argv[1];
	struct ec_soft_key *key = NULL;
	struct writ_signer signer;
	struct writ_ecdh kex;
	uint8_t pub[WRIT_P256_PUB_LEN], kid[WRIT_KEYID_LEN];
	uint8_t *in = NULL, *out = NULL;
	size_t in_len = 0, out_len = 0;
	int err;

	if (strcmp(op, "kid") == 0) {
		if (argc != 4)
			return WRIT_E_INVAL;
		err = read_all(argv[2], &in, &in_len);
		if (err == 0)
			err = cose_sign1_kid(in, in_len, kid);
		if (err == 0)
			err = write_all(argv[3], kid, sizeof(kid));
		free(in);
		return err;
	}
	if (argc != 5)
		return WRIT_E_INVAL;
	err = read_all(argv[3], &in, &in_len);
	if (err < 0)
		return err;

	if (strcmp(op, "sign") == 0) {
		err = ec_soft_key_from_pem(argv[2], &key);
		if (err < 0)
			goto out;
		ec_soft_signer(key, &signer);
		err = ec_keyid(signer.pub, kid);
		if (err < 0)
			goto out;
		err = cose_sign1_sign(&signer, kid, in, in_len, &out, &out_len);
	} else if (strcmp(op, "verify") == 0) {
		err = read_pub_hex(argv[2], pub);
		if (err < 0)
			goto out;
		err = cose_sign1_verify(in, in_len, pub, &out, &out_len);
	} else if (strcmp(op, "encrypt") == 0) {
		err = read_pub_hex(argv[2], pub);
		if (err < 0)
			goto out;
		err = cose_encrypt_ecdhes(pub, in, in_len, &out, &out_len);
	} else if (strcmp(op, "decrypt") == 0) {
		err = ec_soft_key_from_pem(argv[2], &key);
		if (err < 0)
			goto out;
		ec_soft_ecdh(key, &kex);
		err = cose_decrypt_ecdhes(&kex, in, in_len, &out, &out_len);
	} else {
		err = WRIT_E_INVAL;
	}
	if (err < 0)
		goto out;
	err = write_all(argv[4], out, out_len);
out:
	ec_soft_key_free(key);
	free(in);
	free(out);
	return err;
}

int main(int argc, char **argv)
{
	int err;

	if (argc < 2) {
		fprintf(stderr, "usage: cose_tool sign|verify|kid|encrypt|decrypt ...\n");
		return 2;
	}
	err = run(argc, argv);
	if (err < 0) {
		fprintf(stderr, "error %d %s\n", err, writ_strerror(err));
		return 1;
	}
	return 0;
}
