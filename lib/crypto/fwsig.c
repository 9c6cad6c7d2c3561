/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Firmware image signatures: one SHA-256 over a fixed context string, the version and
 * size (big-endian u32 each) and the image, signed by a writ_signer and verified with
 * the public key alone. The context string keeps a firmware signature from ever being
 * mistaken for any other signature the same key could make.
 */
#include "crypto/fwsig.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "crypto/ec.h"

static const char fw_ctx[] = "writ fw v1";

struct fwsig_stream {
	EVP_MD_CTX *md;
	uint32_t size, seen;
};

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void fwsig_stream_free(struct fwsig_stream *s)
{
	if (!s)
		return;
	EVP_MD_CTX_free(s->md);
	free(s);
}

int fwsig_stream_init(uint32_t version, uint32_t size, struct fwsig_stream **ret)
{
	struct fwsig_stream *s;
	uint8_t hdr[8];

	if (!ret || size == 0 || size > FWSIG_IMAGE_MAX)
		return WRIT_E_INVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return WRIT_E_NOMEM;
	s->size = size;
	s->md = EVP_MD_CTX_new();
	put_u32(hdr, version);
	put_u32(hdr + 4, size);
	if (!s->md || EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(s->md, fw_ctx, sizeof(fw_ctx) - 1) != 1 || EVP_DigestUpdate(s->md, hdr, sizeof(hdr)) != 1) {
		fwsig_stream_free(s);
		return WRIT_E_CRYPTO;
	}
	*ret = s;
	return 0;
}

int fwsig_stream_update(struct fwsig_stream *s, const uint8_t *chunk, size_t n)
{
	if (!s || (!chunk && n))
		return WRIT_E_INVAL;
	if (n > (size_t)(s->size - s->seen))
		return WRIT_E_TOOBIG;
	if (n && EVP_DigestUpdate(s->md, chunk, n) != 1)
		return WRIT_E_CRYPTO;
	s->seen += (uint32_t)n;
	return 0;
}

/* Finish the digest; the stream is freed whatever happens. */
static int stream_digest(struct fwsig_stream *s, uint8_t d[32])
{
	unsigned dl = 0;
	int err = 0;

	if (s->seen != s->size)
		err = WRIT_E_INVAL;
	else if (EVP_DigestFinal_ex(s->md, d, &dl) != 1 || dl != 32)
		err = WRIT_E_CRYPTO;
	fwsig_stream_free(s);
	return err;
}

int fwsig_stream_final(struct fwsig_stream *s, const uint8_t pub[WRIT_P256_PUB_LEN],
		       const uint8_t sig[WRIT_P256_SIG_LEN])
{
	uint8_t d[32];
	int err;

	if (!s)
		return WRIT_E_INVAL;
	if (!pub || !sig) {
		fwsig_stream_free(s);
		return WRIT_E_INVAL;
	}
	err = stream_digest(s, d);
	if (err < 0)
		return err;
	return ec_p256_verify_digest(pub, d, sig);
}

int fwsig_digest(uint32_t version, const uint8_t *image, size_t size, uint8_t ret_digest[32])
{
	struct fwsig_stream *s = NULL;
	int err;

	if (!image || !ret_digest || size == 0 || size > FWSIG_IMAGE_MAX)
		return WRIT_E_INVAL;
	err = fwsig_stream_init(version, (uint32_t)size, &s);
	if (err < 0)
		return err;
	err = fwsig_stream_update(s, image, size);
	if (err < 0) {
		fwsig_stream_free(s);
		return err;
	}
	return stream_digest(s, ret_digest);
}

int fwsig_sign(const struct writ_signer *signer, uint32_t version, const uint8_t *image, size_t size,
	       uint8_t ret_sig[WRIT_P256_SIG_LEN])
{
	uint8_t d[32], sig[WRIT_P256_SIG_LEN];
	int err;

	if (!signer || !signer->sign || !ret_sig)
		return WRIT_E_INVAL;
	err = fwsig_digest(version, image, size, d);
	if (err < 0)
		return err;
	err = signer->sign(signer->ctx, d, sig);
	if (err < 0)
		return err;
	/* a faulty token must not hand out a signature no chip will accept */
	err = ec_p256_verify_digest(signer->pub, d, sig);
	if (err < 0)
		return WRIT_E_CRYPTO;
	memcpy(ret_sig, sig, sizeof(sig));
	return 0;
}

int fwsig_verify(const uint8_t pub[WRIT_P256_PUB_LEN], uint32_t version, const uint8_t *image, size_t size,
		 const uint8_t sig[WRIT_P256_SIG_LEN])
{
	uint8_t d[32];
	int err;

	if (!pub || !sig)
		return WRIT_E_INVAL;
	err = fwsig_digest(version, image, size, d);
	if (err < 0)
		return err;
	return ec_p256_verify_digest(pub, d, sig);
}
