/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SPAKE2+ verifier generation with OpenSSL (PBKDF2, BN and EC over P-256) and a strict
 * base64 codec. The algorithm: password = passcode as u32 little-endian; ws =
 * PBKDF2-HMAC-SHA256(password, salt, iterations, 80); w0 = ws[0:40] mod n, w1 =
 * ws[40:80] mod n; L = w1*G; verifier = w0 (32 bytes big-endian) || L (uncompressed).
 */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "base/ct.h"
#include "matter/payload.h"
#include "matter/spake2p.h"

int matter_spake2p_verifier(uint32_t passcode, const uint8_t *salt, size_t salt_len, uint32_t iterations,
			    uint8_t ret_verifier[MATTER_SPAKE2P_VERIFIER_LEN])
{
	uint8_t pw[4], ws[80], out[MATTER_SPAKE2P_VERIFIER_LEN];
	EC_GROUP *group = NULL;
	EC_POINT *L = NULL;
	BN_CTX *ctx = NULL;
	BIGNUM *w0 = NULL, *w1 = NULL, *tmp = NULL;
	int err = WRIT_E_INVAL;

	if (!matter_passcode_valid(passcode) || !salt || salt_len < MATTER_SPAKE2P_SALT_MIN ||
	    salt_len > MATTER_SPAKE2P_SALT_MAX || iterations < MATTER_SPAKE2P_IT_MIN ||
	    iterations > MATTER_SPAKE2P_IT_MAX || !ret_verifier)
		return WRIT_E_INVAL;
	pw[0] = (uint8_t)passcode;
	pw[1] = (uint8_t)(passcode >> 8);
	pw[2] = (uint8_t)(passcode >> 16);
	pw[3] = (uint8_t)(passcode >> 24);

	err = WRIT_E_CRYPTO;
	ctx = BN_CTX_secure_new();
	group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	if (!ctx || !group)
		goto out;
	BN_CTX_start(ctx);
	w0 = BN_CTX_get(ctx);
	w1 = BN_CTX_get(ctx);
	tmp = BN_CTX_get(ctx);
	if (!tmp)
		goto out_ctx;
	if (PKCS5_PBKDF2_HMAC((const char *)pw, sizeof(pw), salt, (int)salt_len, (int)iterations, EVP_sha256(),
			      (int)sizeof(ws), ws) != 1)
		goto out_ctx;
	if (!BN_bin2bn(ws, 40, tmp) || !BN_nnmod(w0, tmp, EC_GROUP_get0_order(group), ctx) ||
	    !BN_bin2bn(ws + 40, 40, tmp) || !BN_nnmod(w1, tmp, EC_GROUP_get0_order(group), ctx))
		goto out_ctx;
	L = EC_POINT_new(group);
	if (!L || !EC_POINT_mul(group, L, w1, NULL, NULL, ctx))
		goto out_ctx;
	if (BN_bn2binpad(w0, out, 32) != 32 ||
	    EC_POINT_point2oct(group, L, POINT_CONVERSION_UNCOMPRESSED, out + 32, 65, ctx) != 65)
		goto out_ctx;
	memcpy(ret_verifier, out, sizeof(out));
	err = 0;
out_ctx:
	if (w0)
		BN_clear(w0);
	if (w1)
		BN_clear(w1);
	if (tmp)
		BN_clear(tmp);
	BN_CTX_end(ctx);
out:
	EC_POINT_free(L);
	EC_GROUP_free(group);
	BN_CTX_free(ctx);
	writ_memzero(pw, sizeof(pw));
	writ_memzero(ws, sizeof(ws));
	writ_memzero(out, sizeof(out));
	return err;
}

int matter_spake2p_verifier_check(const uint8_t v[MATTER_SPAKE2P_VERIFIER_LEN])
{
	EC_GROUP *group = NULL;
	EC_POINT *L = NULL;
	BIGNUM *w0 = NULL;
	int err = WRIT_E_FORMAT;

	if (!v)
		return WRIT_E_INVAL;
	group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	w0 = BN_bin2bn(v, 32, NULL);
	if (!group || !w0) {
		err = WRIT_E_CRYPTO;
		goto out;
	}
	if (BN_cmp(w0, EC_GROUP_get0_order(group)) >= 0 || v[32] != 0x04)
		goto out;
	L = EC_POINT_new(group);
	if (!L) {
		err = WRIT_E_CRYPTO;
		goto out;
	}
	if (EC_POINT_oct2point(group, L, v + 32, 65, NULL) != 1 || EC_POINT_is_at_infinity(group, L))
		goto out;
	err = 0;
out:
	BN_clear_free(w0);
	EC_POINT_free(L);
	EC_GROUP_free(group);
	return err;
}

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int matter_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
	size_t need, i, o = 0;

	if (!out || (!in && len))
		return WRIT_E_INVAL;
	if (len > (SIZE_MAX / 4) - 3)
		return WRIT_E_TOOBIG;
	need = (len + 2) / 3 * 4;
	if (need >= cap || need > 0x7FFFFFFF)
		return WRIT_E_TOOBIG;
	for (i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		size_t rem = len - i;

		if (rem > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (rem > 2)
			v |= in[i + 2];
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = rem > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = rem > 2 ? b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return (int)o;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int matter_b64_decode(const char *s, size_t slen, uint8_t *out, size_t cap)
{
	size_t i, o = 0;

	if ((!s && slen) || (!out && cap))
		return WRIT_E_INVAL;
	if (slen % 4 != 0)
		return WRIT_E_FORMAT;
	if (slen > 0x7FFFFFFF)
		return WRIT_E_TOOBIG;
	for (i = 0; i < slen; i += 4) {
		int d[4], k, pad = 0;
		uint32_t v = 0;

		for (k = 0; k < 4; k++) {
			char c = s[i + k];

			if (c == '=' && i + 4 == slen && k >= 2) {
				d[k] = 0;
				pad++;
				continue;
			}
			if (pad)
				return WRIT_E_FORMAT; /* data after '=' */
			d[k] = b64_value(c);
			if (d[k] < 0)
				return WRIT_E_FORMAT;
		}
		v = (uint32_t)d[0] << 18 | (uint32_t)d[1] << 12 | (uint32_t)d[2] << 6 | (uint32_t)d[3];
		/* canonical: the bits a padded tail does not carry must be zero */
		if ((pad == 1 && (v & 0xFF)) || (pad == 2 && (v & 0xFFFF)))
			return WRIT_E_FORMAT;
		if (o + (size_t)(3 - pad) > cap)
			return WRIT_E_TOOBIG;
		out[o++] = (uint8_t)(v >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(v >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)v;
	}
	return (int)o;
}
