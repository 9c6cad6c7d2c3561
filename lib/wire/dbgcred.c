/* SPDX-License-Identifier: Apache-2.0 */
#include "wire/dbgcred.h"

#include <string.h>

#include "crypto/ec.h"

static void put_be(uint8_t *p, uint64_t v, unsigned n)
{
	while (n--) {
		p[n] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t get_be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | *p++;
	return v;
}

int dbg_is_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	while (n--)
		acc |= *p++;
	return acc == 0;
}

int dbg_perm_has(const uint8_t perms[WDP_DBG_PERMS_LEN], unsigned bit)
{
	return bit < 128 && (perms[15 - bit / 8] >> (bit % 8) & 1);
}

void dbg_perm_set(uint8_t perms[WDP_DBG_PERMS_LEN], unsigned bit)
{
	if (bit < 128)
		perms[15 - bit / 8] |= (uint8_t)(1u << (bit % 8));
}

int dbg_perms_within(const uint8_t want[WDP_DBG_PERMS_LEN], const uint8_t have[WDP_DBG_PERMS_LEN])
{
	uint8_t extra = 0;
	unsigned i;

	for (i = 0; i < WDP_DBG_PERMS_LEN; i++)
		extra |= want[i] & (uint8_t)~have[i];
	return extra == 0;
}

static int cert_fields_valid(const struct dbg_cert *c)
{
	if (c->role != WDP_DBG_ROLE_INTERMEDIATE && c->role != WDP_DBG_ROLE_DELEGATE)
		return 0;
	if (!c->vendor_id || c->not_before >= c->not_after || dbg_is_zero(c->perms, WDP_DBG_PERMS_LEN))
		return 0;
	if (c->role == WDP_DBG_ROLE_DELEGATE && dbg_is_zero(c->hsm_id, WDP_DBG_HSM_ID_LEN))
		return 0;
	return ec_p256_check_pub(c->pub) == 0;
}

int dbg_cert_make(const struct dbg_cert *c, const struct writ_signer *issuer, uint8_t out[WDP_DBG_CERT_LEN])
{
	uint8_t digest[32];
	int err;

	if (!c || !issuer || !out || !cert_fields_valid(c))
		return WRIT_E_INVAL;
	memset(out, 0, WDP_DBG_CERT_LEN);
	memcpy(out, "WDC1", 4);
	out[4] = 1;
	out[5] = c->role;
	put_be(out + 6, c->vendor_id, 2);
	put_be(out + 8, c->product_id, 2);
	put_be(out + 12, c->key_gen, 4);
	put_be(out + 16, c->not_before, 8);
	put_be(out + 24, c->not_after, 8);
	memcpy(out + 32, c->perms, WDP_DBG_PERMS_LEN);
	memcpy(out + 48, c->hsm_id, WDP_DBG_HSM_ID_LEN);
	memcpy(out + 80, c->pub, WRIT_P256_PUB_LEN);
	if ((err = ec_sha256(out, WDP_DBG_CERT_SIGNED, digest)) < 0)
		return err;
	return issuer->sign(issuer->ctx, digest, out + WDP_DBG_CERT_SIGNED);
}

int dbg_cert_parse(const uint8_t in[WDP_DBG_CERT_LEN], struct dbg_cert *ret)
{
	struct dbg_cert c;

	if (!in || !ret)
		return WRIT_E_INVAL;
	if (memcmp(in, "WDC1", 4) || in[4] != 1 || in[10] || in[11])
		return WRIT_E_FORMAT;
	memset(&c, 0, sizeof(c));
	c.role = in[5];
	c.vendor_id = (uint16_t)get_be(in + 6, 2);
	c.product_id = (uint16_t)get_be(in + 8, 2);
	c.key_gen = (uint32_t)get_be(in + 12, 4);
	c.not_before = get_be(in + 16, 8);
	c.not_after = get_be(in + 24, 8);
	memcpy(c.perms, in + 32, WDP_DBG_PERMS_LEN);
	memcpy(c.hsm_id, in + 48, WDP_DBG_HSM_ID_LEN);
	memcpy(c.pub, in + 80, WRIT_P256_PUB_LEN);
	if (!cert_fields_valid(&c))
		return WRIT_E_FORMAT;
	*ret = c;
	return 0;
}

int dbg_cert_verify(const uint8_t in[WDP_DBG_CERT_LEN], const uint8_t issuer_pub[WRIT_P256_PUB_LEN])
{
	uint8_t digest[32];
	int err;

	if (!in || !issuer_pub)
		return WRIT_E_INVAL;
	if ((err = ec_sha256(in, WDP_DBG_CERT_SIGNED, digest)) < 0)
		return err;
	return ec_p256_verify_digest(issuer_pub, digest, in + WDP_DBG_CERT_SIGNED) < 0 ? WRIT_E_BADSIG : 0;
}

static int token_fields_valid(const struct dbg_token *t)
{
	return !dbg_is_zero(t->uid, sizeof(t->uid)) && t->not_before < t->not_after &&
	       !dbg_is_zero(t->perms, WDP_DBG_PERMS_LEN) && t->session >= 1 && t->session <= WDP_DBG_SESSION_MAX;
}

static int token_digest(const uint8_t tok[WDP_DBG_TOKEN_LEN], uint8_t digest[32])
{
	uint8_t m[WDP_DBG_TOKEN_SIGNED + WDP_DBG_CHALLENGE_LEN];

	memcpy(m, tok, WDP_DBG_TOKEN_SIGNED);
	memcpy(m + WDP_DBG_TOKEN_SIGNED, tok + 60, WDP_DBG_CHALLENGE_LEN);
	return ec_sha256(m, sizeof(m), digest);
}

int dbg_token_make(const struct dbg_token *t, const struct writ_signer *delegate, uint8_t out[WDP_DBG_TOKEN_LEN])
{
	uint8_t digest[32];
	int err;

	if (!t || !delegate || !out || !token_fields_valid(t))
		return WRIT_E_INVAL;
	memset(out, 0, WDP_DBG_TOKEN_LEN);
	memcpy(out, "WDT1", 4);
	out[4] = 1;
	memcpy(out + 8, t->uid, 16);
	put_be(out + 24, t->not_before, 8);
	put_be(out + 32, t->not_after, 8);
	memcpy(out + 40, t->perms, WDP_DBG_PERMS_LEN);
	put_be(out + 56, t->session, 4);
	memcpy(out + 60, t->challenge, WDP_DBG_CHALLENGE_LEN);
	if ((err = token_digest(out, digest)) < 0)
		return err;
	return delegate->sign(delegate->ctx, digest, out + WDP_DBG_TOKEN_SIGNED);
}

int dbg_token_parse(const uint8_t in[WDP_DBG_TOKEN_LEN], const uint8_t *delegate_pub, struct dbg_token *ret)
{
	struct dbg_token t;
	uint8_t digest[32];
	int err;

	if (!in || !ret)
		return WRIT_E_INVAL;
	if (memcmp(in, "WDT1", 4) || in[4] != 1 || in[5] || in[6] || in[7])
		return WRIT_E_FORMAT;
	memset(&t, 0, sizeof(t));
	memcpy(t.uid, in + 8, 16);
	t.not_before = get_be(in + 24, 8);
	t.not_after = get_be(in + 32, 8);
	memcpy(t.perms, in + 40, WDP_DBG_PERMS_LEN);
	t.session = (uint32_t)get_be(in + 56, 4);
	memcpy(t.challenge, in + 60, WDP_DBG_CHALLENGE_LEN);
	if (!token_fields_valid(&t))
		return WRIT_E_FORMAT;
	if (delegate_pub) {
		if ((err = token_digest(in, digest)) < 0)
			return err;
		if (ec_p256_verify_digest(delegate_pub, digest, in + WDP_DBG_TOKEN_SIGNED) < 0)
			return WRIT_E_BADSIG;
	}
	*ret = t;
	return 0;
}
