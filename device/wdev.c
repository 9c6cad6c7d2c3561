/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libwrit-device: the command dispatcher of the device protocol, the provisioning state
 * machine, the chip's key operations (Mbed TLS) and its persistent record. A command is
 * checked completely (session, lock, TLVs, order, signatures, decryption) before anything
 * is written; then the new record and any OTP bits are written through the PAL and made
 * durable with one commit. If that fails the PAL discards the writes and the record is
 * reloaded, so a refused command leaves the chip exactly as it was.
 */
#include "wdev.h"

#include <string.h>

#include <mbedtls/ecdh.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/gcm.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include "base/ct.h"
#include "base/wdp.h"

static const char binding_prefix[] = "writ enc-key v1";
static const char wrap_info_prefix[] = "writ secret wrap v1";
static const char wrap_aad_prefix[] = "writ-wrap-v1";
static const char fw_prefix[] = "writ fw v1";
#define PREFIX_LEN(s) (sizeof(s) - 1)

/* A command's outcome: the detail is a static string or points into buf. */
struct reply {
	const char *detail;
	char buf[WDP_DETAIL_MAX];
};

#define REFUSE(r, code, why)                                                                       \
	do {                                                                                       \
		(r)->detail = (why);                                                                \
		return (code);                                                                     \
	} while (0)

/* ---------------------------------------------------------------------------------------
 * RNG: the PAL's output is drawn in 32-byte blocks, each health-tested before any byte of
 * it is used. A stuck or repeating source fails (a block that is periodic with a period
 * of 1..16 bytes, one byte value more than 8 times in 32, or a block equal to the
 * previous one, which is remembered only as a digest). Served bytes are wiped from the
 * pool at once; the pool is emptied at the end of every command.
 */
#define RNG_BLOCK 32u

static int rng_refill(struct wdev_ctx *c)
{
	uint8_t b[RNG_BLOCK], d[32], cnt[256];
	int ok = 1;

	memset(cnt, 0, sizeof cnt);
	if (c->pal.rng(c->pal.ctx, b, sizeof b) != 0)
		ok = 0;
	for (size_t p = 1; ok && p <= 16; p <<= 1)
		if (memcmp(b, b + p, sizeof b - p) == 0)
			ok = 0;
	for (size_t i = 0; ok && i < sizeof b; i++)
		if (++cnt[b[i]] > 8)
			ok = 0;
	if (ok && mbedtls_sha256_ret(b, sizeof b, d, 0) != 0)
		ok = 0;
	if (ok && c->rng_have_prev && memcmp(d, c->rng_prev_digest, sizeof d) == 0)
		ok = 0;
	if (ok) {
		memcpy(c->rng_prev_digest, d, sizeof d);
		c->rng_have_prev = 1;
		memcpy(c->rng_block, b, sizeof b);
		c->rng_avail = RNG_BLOCK;
	} else {
		c->rng_failed = 1;
	}
	writ_memzero(b, sizeof b);
	writ_memzero(cnt, sizeof cnt);
	return ok ? 0 : -1;
}

/* The f_rng Mbed TLS calls; p_rng is the context. */
static int rng_cb(void *p_rng, unsigned char *out, size_t n)
{
	struct wdev_ctx *c = p_rng;

	if (c->rng_failed)
		return MBEDTLS_ERR_ECP_RANDOM_FAILED;
	while (n > 0) {
		size_t k, from;

		if (c->rng_avail == 0 && rng_refill(c) != 0)
			return MBEDTLS_ERR_ECP_RANDOM_FAILED;
		k = n < c->rng_avail ? n : c->rng_avail;
		from = RNG_BLOCK - c->rng_avail;
		memcpy(out, c->rng_block + from, k);
		writ_memzero(c->rng_block + from, k);
		c->rng_avail = (uint8_t)(c->rng_avail - k);
		out += k;
		n -= k;
	}
	return 0;
}

static void rng_end_command(struct wdev_ctx *c)
{
	writ_memzero(c->rng_block, sizeof c->rng_block);
	c->rng_avail = 0;
	c->rng_failed = 0;
}

/* An Mbed TLS failure is RNG when the health test tripped, CRYPTO otherwise. */
static int crypto_err(const struct wdev_ctx *c)
{
	return c->rng_failed ? WDEV_E_RNG : WDEV_E_CRYPTO;
}

/* ---------------------------------------------------------------------------------------
 * Helpers: OTP, flags.
 */
static int all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

static int is_locked(const struct wdev_ctx *c)
{
	return (c->otp[WDEV_OTP_FUSE] & WDEV_OTP_FUSE_SECURED) != 0;
}

/* 1 if a secure-debug unlock is active and grants permission bit (docs/device-protocol.md,
 * "What the permissions open"). An unlock that ran out is closed before every command. */
static int dbg_allows(const struct wdev_ctx *c, unsigned bit)
{
	return c->dbg.unlocked && bit < 8 * WDP_DBG_PERMS_LEN &&
	       (c->dbg.perms[WDP_DBG_PERMS_LEN - 1 - bit / 8] >> (bit % 8) & 1) != 0;
}

static int otp_burnt(const struct wdev_ctx *c)
{
	return !all_zero(c->otp + WDEV_OTP_SB_HASH, 32) && !all_zero(c->otp + WDEV_OTP_DEBUG_HASH, 32);
}

static unsigned n_secrets(const struct wdev_ctx *c)
{
	unsigned n = 0;

	for (unsigned i = 0; i < WDEV_MAX_SECRETS; i++)
		n += c->st.secrets[i].label_len != 0;
	return n;
}

static uint32_t state_flags(const struct wdev_ctx *c)
{
	uint32_t f = 0;

	if (c->st.have_keys)
		f |= WDP_F_KEYS;
	if (c->st.have_chain)
		f |= WDP_F_CHAIN;
	if (c->st.have_fd)
		f |= WDP_F_FACTORY_DATA;
	if (n_secrets(c))
		f |= WDP_F_SECRET;
	if (c->st.have_fw)
		f |= WDP_F_FIRMWARE;
	if (otp_burnt(c))
		f |= WDP_F_OTP;
	f |= is_locked(c) ? WDP_F_LOCKED : WDP_F_DEBUG;
	if (c->dbg.unlocked)
		f |= WDP_F_DEBUG_UNLOCKED;
	if (dbg_allows(c, WDP_DBG_PERM_DEBUG))
		f |= WDP_F_DEBUG;
	return f;
}

static uint8_t lifecycle(const struct wdev_ctx *c)
{
	if (is_locked(c))
		return WDP_LC_SECURED;
	if (state_flags(c) & (WDP_F_KEYS | WDP_F_CHAIN | WDP_F_FACTORY_DATA | WDP_F_SECRET | WDP_F_FIRMWARE |
			      WDP_F_OTP))
		return WDP_LC_PROVISIONING;
	return WDP_LC_BLANK;
}

/* ---------------------------------------------------------------------------------------
 * The persistent record in WDEV_AREA_STATE:
 *   "WDS1" ‖ body length u32 ‖ body (TLVs, the codec's encoding) ‖ CRC-32 of all before.
 */
enum {
	S_ATT_PRIV = 0x10,
	S_ATT_PUB = 0x11,
	S_ENC_PRIV = 0x12,
	S_ENC_PUB = 0x13,
	S_BINDING = 0x14,
	S_DAC = 0x20,
	S_PAI = 0x21,
	S_FD = 0x22,
	S_SECRET0 = 0x30, /* label 0x30 + 2i, value 0x31 + 2i */
	S_FW_VERSION = 0x40,
	S_FW_SIZE = 0x41,
	S_FW_SLOT = 0x42,
	S_FW_DIGEST = 0x43,
	S_LOCKED_AT = 0x50,
	S_DEBUG_GEN = 0x51
};
#define REC_HDR 8u
#define REC_BODY_MAX (WDEV_STATE_AREA_SIZE - REC_HDR - 4u)

static const struct wdp_tlv_spec rec_spec[] = {
	{ S_ATT_PRIV, 32, 32, 0 },
	{ S_ATT_PUB, 65, 65, 0 },
	{ S_ENC_PRIV, 32, 32, 0 },
	{ S_ENC_PUB, 65, 65, 0 },
	{ S_BINDING, 8, WDP_BINDING_MAX, 0 },
	{ S_DAC, 1, WDP_CERT_MAX, 0 },
	{ S_PAI, 1, WDP_CERT_MAX, 0 },
	{ S_FD, 1, WDP_FACTORY_DATA_MAX, 0 },
	{ S_SECRET0 + 0, 1, WDP_LABEL_MAX, 0 },
	{ S_SECRET0 + 1, WDP_SECRET_MIN, WDP_SECRET_MAX, 0 },
	{ S_SECRET0 + 2, 1, WDP_LABEL_MAX, 0 },
	{ S_SECRET0 + 3, WDP_SECRET_MIN, WDP_SECRET_MAX, 0 },
	{ S_SECRET0 + 4, 1, WDP_LABEL_MAX, 0 },
	{ S_SECRET0 + 5, WDP_SECRET_MIN, WDP_SECRET_MAX, 0 },
	{ S_SECRET0 + 6, 1, WDP_LABEL_MAX, 0 },
	{ S_SECRET0 + 7, WDP_SECRET_MIN, WDP_SECRET_MAX, 0 },
	{ S_FW_VERSION, 4, 4, 0 },
	{ S_FW_SIZE, 4, 4, 0 },
	{ S_FW_SLOT, 1, 1, 0 },
	{ S_FW_DIGEST, 32, 32, 0 },
	{ S_LOCKED_AT, 8, 8, 0 },
	{ S_DEBUG_GEN, 4, 4, 0 },
};
#define REC_NSPEC (sizeof(rec_spec) / sizeof(rec_spec[0]))
enum { R_ATT_PRIV, R_ATT_PUB, R_ENC_PRIV, R_ENC_PUB, R_BINDING, R_DAC, R_PAI, R_FD, R_SEC0,
       R_FW_VERSION = R_SEC0 + 8, R_FW_SIZE, R_FW_SLOT, R_FW_DIGEST, R_LOCKED_AT, R_DEBUG_GEN };

static int serialize(struct wdev_ctx *c, size_t *ret_len)
{
	const struct wdev_state *s = &c->st;
	struct wdp_tlv_writer w;
	size_t body;
	uint8_t t8[8];

	wdp_tlv_init(&w, c->work + REC_HDR, REC_BODY_MAX);
	if (s->have_keys) {
		wdp_tlv_put(&w, S_ATT_PRIV, s->att_priv, 32);
		wdp_tlv_put(&w, S_ATT_PUB, s->att_pub, 65);
		if (s->have_enc_priv)
			wdp_tlv_put(&w, S_ENC_PRIV, s->enc_priv, 32);
		wdp_tlv_put(&w, S_ENC_PUB, s->enc_pub, 65);
		wdp_tlv_put(&w, S_BINDING, s->binding, s->binding_len);
	}
	if (s->have_chain) {
		wdp_tlv_put(&w, S_DAC, s->dac, s->dac_len);
		wdp_tlv_put(&w, S_PAI, s->pai, s->pai_len);
	}
	if (s->have_fd)
		wdp_tlv_put(&w, S_FD, s->fd, s->fd_len);
	for (unsigned i = 0; i < WDEV_MAX_SECRETS; i++) {
		const struct wdev_secret_slot *sl = &s->secrets[i];
		if (!sl->label_len)
			continue;
		wdp_tlv_put(&w, (uint16_t)(S_SECRET0 + 2 * i), sl->label, sl->label_len);
		wdp_tlv_put(&w, (uint16_t)(S_SECRET0 + 2 * i + 1), sl->value, sl->len);
	}
	if (s->have_fw) {
		wdp_tlv_put_u32(&w, S_FW_VERSION, s->fw_version);
		wdp_tlv_put_u32(&w, S_FW_SIZE, s->fw_size);
		wdp_tlv_put_u8(&w, S_FW_SLOT, s->fw_slot);
		wdp_tlv_put(&w, S_FW_DIGEST, s->fw_digest, 32);
	}
	if (s->locked_at) {
		wdp_put_u32(t8, (uint32_t)(s->locked_at >> 32));
		wdp_put_u32(t8 + 4, (uint32_t)s->locked_at);
		wdp_tlv_put(&w, S_LOCKED_AT, t8, 8);
	}
	if (s->debug_key_gen)
		wdp_tlv_put_u32(&w, S_DEBUG_GEN, s->debug_key_gen);
	if (wdp_tlv_finish(&w, &body) != 0) {
		writ_memzero(c->work, sizeof c->work);
		return WDEV_E_STORAGE;
	}
	memcpy(c->work, "WDS1", 4);
	wdp_put_u32(c->work + 4, (uint32_t)body);
	wdp_put_u32(c->work + REC_HDR + body, wdp_crc32(0, c->work, REC_HDR + body));
	*ret_len = REC_HDR + body + 4;
	return 0;
}

/* Read OTP and the record into ctx. A blank area is a blank chip. */
static int load_state(struct wdev_ctx *c)
{
	struct wdp_tlv t[REC_NSPEC];
	struct wdev_state *s = &c->st;
	uint32_t body;
	int err = WDEV_E_STORAGE;

	writ_memzero(s, sizeof *s);
	if (c->pal.otp_read(c->pal.ctx, 0, c->otp, WDEV_OTP_SIZE) != 0)
		return WDEV_E_STORAGE;
	if (c->pal.flash_read(c->pal.ctx, WDEV_AREA_STATE, 0, c->work, REC_HDR) != 0)
		return WDEV_E_STORAGE;
	if (all_zero(c->work, REC_HDR))
		return 0;
	{
		uint8_t acc = 0xFF;
		for (size_t i = 0; i < REC_HDR; i++)
			acc &= c->work[i];
		if (acc == 0xFF)
			return 0;
	}
	body = wdp_get_u32(c->work + 4);
	if (memcmp(c->work, "WDS1", 4) != 0 || body > REC_BODY_MAX)
		return WDEV_E_STORAGE;
	if (c->pal.flash_read(c->pal.ctx, WDEV_AREA_STATE, REC_HDR, c->work + REC_HDR, body + 4u) != 0)
		goto out;
	if (wdp_get_u32(c->work + REC_HDR + body) != wdp_crc32(0, c->work, REC_HDR + body))
		goto out;
	if (wdp_tlv_parse(c->work + REC_HDR, body, rec_spec, REC_NSPEC, t) != 0)
		goto out;
	/* keys: all or nothing (the key-agreement private key is dropped at lock) */
	s->have_keys = t[R_ATT_PRIV].value != NULL;
	if ((t[R_ATT_PUB].value != NULL) != s->have_keys || (t[R_ENC_PUB].value != NULL) != s->have_keys ||
	    (t[R_BINDING].value != NULL) != s->have_keys || (t[R_ENC_PRIV].value && !s->have_keys))
		goto out;
	if (s->have_keys) {
		memcpy(s->att_priv, t[R_ATT_PRIV].value, 32);
		memcpy(s->att_pub, t[R_ATT_PUB].value, 65);
		memcpy(s->enc_pub, t[R_ENC_PUB].value, 65);
		s->binding_len = (uint8_t)t[R_BINDING].len;
		memcpy(s->binding, t[R_BINDING].value, t[R_BINDING].len);
		if (t[R_ENC_PRIV].value) {
			memcpy(s->enc_priv, t[R_ENC_PRIV].value, 32);
			s->have_enc_priv = 1;
		}
	}
	s->have_chain = t[R_DAC].value != NULL;
	if ((t[R_PAI].value != NULL) != s->have_chain || (s->have_chain && !s->have_keys))
		goto out;
	if (s->have_chain) {
		s->dac_len = t[R_DAC].len;
		memcpy(s->dac, t[R_DAC].value, s->dac_len);
		s->pai_len = t[R_PAI].len;
		memcpy(s->pai, t[R_PAI].value, s->pai_len);
	}
	s->have_fd = t[R_FD].value != NULL;
	if (s->have_fd && !s->have_chain)
		goto out;
	if (s->have_fd) {
		s->fd_len = t[R_FD].len;
		memcpy(s->fd, t[R_FD].value, s->fd_len);
	}
	for (unsigned i = 0; i < WDEV_MAX_SECRETS; i++) {
		const struct wdp_tlv *l = &t[R_SEC0 + 2 * i], *v = &t[R_SEC0 + 2 * i + 1];
		if ((l->value != NULL) != (v->value != NULL))
			goto out;
		if (!l->value)
			continue;
		s->secrets[i].label_len = (uint8_t)l->len;
		memcpy(s->secrets[i].label, l->value, l->len);
		s->secrets[i].len = (uint8_t)v->len;
		memcpy(s->secrets[i].value, v->value, v->len);
	}
	s->have_fw = t[R_FW_VERSION].value != NULL;
	if ((t[R_FW_SIZE].value != NULL) != s->have_fw || (t[R_FW_SLOT].value != NULL) != s->have_fw ||
	    (t[R_FW_DIGEST].value != NULL) != s->have_fw)
		goto out;
	if (s->have_fw) {
		s->fw_version = wdp_get_u32(t[R_FW_VERSION].value);
		s->fw_size = wdp_get_u32(t[R_FW_SIZE].value);
		s->fw_slot = t[R_FW_SLOT].value[0];
		memcpy(s->fw_digest, t[R_FW_DIGEST].value, 32);
		if ((s->fw_slot != WDEV_AREA_FW0 && s->fw_slot != WDEV_AREA_FW1) || s->fw_size == 0 ||
		    s->fw_size > WDEV_FW_MAX)
			goto out;
	}
	if (t[R_LOCKED_AT].value)
		s->locked_at = (uint64_t)wdp_get_u32(t[R_LOCKED_AT].value) << 32 |
			       wdp_get_u32(t[R_LOCKED_AT].value + 4);
	if (t[R_DEBUG_GEN].value)
		s->debug_key_gen = wdp_get_u32(t[R_DEBUG_GEN].value);
	err = 0;
out:
	writ_memzero(c->work, sizeof c->work);
	if (err)
		writ_memzero(s, sizeof *s);
	return err;
}

/* After a failed write or commit: drop the PAL's uncommitted writes and reload. */
static void roll_back(struct wdev_ctx *c)
{
	/* the discard drops a transfer's staged chunks too: it cannot complete any more */
	c->fw.active = 0;
	if (c->pal.discard)
		c->pal.discard(c->pal.ctx);
	if (load_state(c) != 0)
		c->broken = 1;
}

/*
 * Write the record (and, if otp_new is not NULL, the OTP bytes that differ from the
 * current ones, refusing to clear any bit), then commit. On failure everything is
 * rolled back and WDEV_E_STORAGE (or WDEV_E_OTP) is returned.
 */
static int persist(struct wdev_ctx *c, const uint8_t *otp_new)
{
	size_t len = 0;
	int err;

	if (otp_new) {
		uint8_t cur[WDEV_OTP_SIZE];
		size_t lo = WDEV_OTP_SIZE, hi = 0;

		if (c->pal.otp_read(c->pal.ctx, 0, cur, sizeof cur) != 0) {
			err = WDEV_E_STORAGE;
			goto fail;
		}
		for (size_t i = 0; i < WDEV_OTP_SIZE; i++) {
			if (cur[i] & (uint8_t)~otp_new[i]) {
				err = WDEV_E_OTP; /* would clear a burnt bit */
				goto fail;
			}
			if (cur[i] != otp_new[i]) {
				if (i < lo)
					lo = i;
				hi = i + 1;
			}
		}
		if (hi > lo && c->pal.otp_write(c->pal.ctx, lo, otp_new + lo, hi - lo) != 0) {
			err = WDEV_E_STORAGE;
			goto fail;
		}
	}
	err = serialize(c, &len);
	if (err)
		goto fail;
	if (c->pal.flash_write(c->pal.ctx, WDEV_AREA_STATE, 0, c->work, len) != 0)
		err = WDEV_E_STORAGE;
	writ_memzero(c->work, len);
	if (err)
		goto fail;
	if (c->pal.commit(c->pal.ctx) != 0) {
		err = WDEV_E_STORAGE;
		goto fail;
	}
	if (otp_new)
		memcpy(c->otp, otp_new, WDEV_OTP_SIZE);
	return 0;
fail:
	roll_back(c);
	return err;
}

/* ---------------------------------------------------------------------------------------
 * Key operations.
 */
static int load_keypair(mbedtls_ecp_keypair *kp, const uint8_t priv[32], const uint8_t *pub)
{
	if (mbedtls_ecp_group_load(&kp->grp, MBEDTLS_ECP_DP_SECP256R1) != 0 ||
	    mbedtls_mpi_read_binary(&kp->d, priv, 32) != 0)
		return -1;
	if (pub && mbedtls_ecp_point_read_binary(&kp->grp, &kp->Q, pub, WDP_P256_PUB_LEN) != 0)
		return -1;
	return 0;
}

static int gen_keypair(struct wdev_ctx *c, uint8_t priv[32], uint8_t pub[65])
{
	mbedtls_ecp_keypair kp;
	size_t olen = 0;
	int err = 0;

	mbedtls_ecp_keypair_init(&kp);
	if (mbedtls_ecp_group_load(&kp.grp, MBEDTLS_ECP_DP_SECP256R1) != 0 ||
	    mbedtls_ecp_gen_keypair(&kp.grp, &kp.d, &kp.Q, rng_cb, c) != 0 ||
	    mbedtls_mpi_write_binary(&kp.d, priv, 32) != 0 ||
	    mbedtls_ecp_point_write_binary(&kp.grp, &kp.Q, MBEDTLS_ECP_PF_UNCOMPRESSED, &olen, pub, 65) != 0 ||
	    olen != 65)
		err = crypto_err(c);
	mbedtls_ecp_keypair_free(&kp); /* zeroizes d */
	return err;
}

static void hex_upper(const uint8_t *p, size_t n, char *out)
{
	static const char hx[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 15u];
	}
	out[2 * n] = '\0';
}

/* CSR for the attestation key, CN = UID in hex, written to out[cap]. */
static int make_csr(struct wdev_ctx *c, const uint8_t priv[32], const uint8_t pub[65], uint8_t *out, size_t cap,
		    size_t *ret_len)
{
	mbedtls_pk_context pk;
	mbedtls_x509write_csr csr;
	char subject[3 + 2 * WDP_UID_LEN + 1];
	int n, err = 0;

	memcpy(subject, "CN=", 3);
	hex_upper(c->otp + WDEV_OTP_UID, WDP_UID_LEN, subject + 3);
	mbedtls_pk_init(&pk);
	mbedtls_x509write_csr_init(&csr);
	if (mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
	    load_keypair(mbedtls_pk_ec(pk), priv, pub) != 0) {
		err = WDEV_E_CRYPTO;
		goto out;
	}
	mbedtls_x509write_csr_set_md_alg(&csr, MBEDTLS_MD_SHA256);
	mbedtls_x509write_csr_set_key(&csr, &pk);
	if (mbedtls_x509write_csr_set_subject_name(&csr, subject) != 0) {
		err = WDEV_E_CRYPTO;
		goto out;
	}
	n = mbedtls_x509write_csr_der(&csr, out, cap, rng_cb, c);
	if (n <= 0 || (size_t)n > cap) {
		err = crypto_err(c);
		goto out;
	}
	memmove(out, out + cap - (size_t)n, (size_t)n); /* Mbed TLS writes at the end */
	*ret_len = (size_t)n;
out:
	mbedtls_x509write_csr_free(&csr);
	mbedtls_pk_free(&pk);
	return err;
}

/* ENC_BINDING: ECDSA-SHA256 (DER) by the attestation key over prefix ‖ UID ‖ ENC_PUB. */
static int make_binding(struct wdev_ctx *c, const uint8_t att_priv[32], const uint8_t enc_pub[65],
			uint8_t out[WDP_BINDING_MAX], uint8_t *ret_len)
{
	mbedtls_sha256_context sha;
	mbedtls_ecp_keypair kp;
	uint8_t hash[32], sig[MBEDTLS_ECDSA_MAX_LEN];
	size_t slen = 0;
	int err = 0;

	mbedtls_sha256_init(&sha);
	mbedtls_ecp_keypair_init(&kp);
	if (mbedtls_sha256_starts_ret(&sha, 0) != 0 ||
	    mbedtls_sha256_update_ret(&sha, (const uint8_t *)binding_prefix, PREFIX_LEN(binding_prefix)) != 0 ||
	    mbedtls_sha256_update_ret(&sha, c->otp + WDEV_OTP_UID, WDP_UID_LEN) != 0 ||
	    mbedtls_sha256_update_ret(&sha, enc_pub, WDP_P256_PUB_LEN) != 0 ||
	    mbedtls_sha256_finish_ret(&sha, hash) != 0 || load_keypair(&kp, att_priv, NULL) != 0 ||
	    mbedtls_ecdsa_write_signature(&kp, MBEDTLS_MD_SHA256, hash, 32, sig, &slen, rng_cb, c) != 0 ||
	    slen > WDP_BINDING_MAX) {
		err = crypto_err(c);
		goto out;
	}
	memcpy(out, sig, slen);
	*ret_len = (uint8_t)slen;
out:
	mbedtls_ecp_keypair_free(&kp);
	mbedtls_sha256_free(&sha);
	return err;
}

/* ---------------------------------------------------------------------------------------
 * Commands. Each checks everything, then changes ctx->st and persists, and writes its
 * response TLVs to w. On refusal it returns WDEV_E_* with r->detail set.
 */
static int parse(const struct wdp_frame *f, const struct wdp_tlv_spec *spec, size_t n, struct wdp_tlv *t,
		 struct reply *r)
{
	if (wdp_tlv_parse(f->payload, f->len, spec, n, t) != 0)
		REFUSE(r, WDEV_E_MALFORMED, "TLVs do not match the command");
	return 0;
}

static int parse_empty(const struct wdp_frame *f, struct reply *r)
{
	if (f->len != 0)
		REFUSE(r, WDEV_E_MALFORMED, "this command takes no TLVs");
	return 0;
}

#define CHECK_NOT_LOCKED(c, r)                                                                     \
	do {                                                                                       \
		if (is_locked(c) && dbg_allows(c, WDP_DBG_PERM_REPROVISION))                       \
			REFUSE(r, WDEV_E_LOCKED, "chip is secured (re-provisioning opens keys, chain and factory data only)"); \
		if (is_locked(c))                                                                  \
			REFUSE(r, WDEV_E_LOCKED, "chip is secured");                               \
	} while (0)

/* 1 while a secured chip is being re-provisioned: an active unlock with REPROVISION
 * (docs/device-protocol.md, "What the permissions open"). */
static int reprovisioning(const struct wdev_ctx *c)
{
	return is_locked(c) && dbg_allows(c, WDP_DBG_PERM_REPROVISION);
}

/* The re-provisioning commands (GENERATE_KEYS, STORE_CHAIN, STORE_FACTORY_DATA): on a
 * secured chip only under an active unlock with REPROVISION. OTP, LOCK and secrets stay
 * closed; the lifecycle stays SECURED and the UID never changes. */
#define CHECK_PROVISION_ALLOWED(c, r)                                                              \
	do {                                                                                       \
		if (is_locked(c) && !reprovisioning(c))                                            \
			REFUSE(r, WDEV_E_LOCKED, "chip is secured (a debug unlock with REPROVISION allows new keys and a new chain)"); \
	} while (0)

/* Firmware commands: on a secured chip only under an active unlock with REFLASH; the
 * image is still checked against the secure-boot key in OTP and never rolls back. */
#define CHECK_FW_ALLOWED(c, r)                                                                     \
	do {                                                                                       \
		if (is_locked(c) && !dbg_allows(c, WDP_DBG_PERM_REFLASH))                          \
			REFUSE(r, WDEV_E_LOCKED, "chip is secured (a debug unlock with REFLASH allows firmware)"); \
	} while (0)

static uint32_t dbg_seconds_left(const struct wdev_ctx *c);

static int cmd_discover(struct wdev_ctx *c, const struct wdp_frame *f, struct wdp_tlv_writer *w, struct reply *r)
{
	int err = parse_empty(f, r);

	if (err)
		return err;
	wdp_tlv_put_u16(w, WDP_T_PROTO_VERSION, WDP_PROTO_VERSION);
	wdp_tlv_put(w, WDP_T_UID, c->otp + WDEV_OTP_UID, WDP_UID_LEN);
	wdp_tlv_put(w, WDP_T_CHIP_FAMILY, c->family, c->family_len);
	wdp_tlv_put_u8(w, WDP_T_LIFECYCLE, lifecycle(c));
	wdp_tlv_put_u32(w, WDP_T_MAX_PAYLOAD, WDP_PAYLOAD_MAX);
	wdp_tlv_put_u32(w, WDP_T_STATE, state_flags(c));
	return 0;
}

static int cmd_status(struct wdev_ctx *c, const struct wdp_frame *f, struct wdp_tlv_writer *w, struct reply *r)
{
	int err = parse_empty(f, r);

	if (err)
		return err;
	wdp_tlv_put(w, WDP_T_UID, c->otp + WDEV_OTP_UID, WDP_UID_LEN);
	wdp_tlv_put_u8(w, WDP_T_LIFECYCLE, lifecycle(c));
	wdp_tlv_put_u32(w, WDP_T_STATE, state_flags(c));
	wdp_tlv_put_u32(w, WDP_T_FW_VERSION, c->st.have_fw ? c->st.fw_version : 0);
	wdp_tlv_put(w, WDP_T_DEBUG_PERMS, c->dbg.perms, WDP_DBG_PERMS_LEN);
	wdp_tlv_put_u32(w, WDP_T_DEBUG_SECONDS, dbg_seconds_left(c));
	wdp_tlv_put_u32(w, WDP_T_DEBUG_KEY_GEN, c->st.debug_key_gen);
	return 0;
}

static int cmd_generate_keys(struct wdev_ctx *c, const struct wdp_frame *f, struct wdp_tlv_writer *w,
			     struct reply *r)
{
	uint8_t att_priv[32], att_pub[65], enc_priv[32], enc_pub[65], binding[WDP_BINDING_MAX], blen = 0;
	uint8_t csr[WDP_CSR_MAX];
	size_t csr_len = 0;
	int err;

	CHECK_PROVISION_ALLOWED(c, r);
	if ((err = parse_empty(f, r)) != 0)
		return err;
	/* Re-provisioning replaces the keys; the stored chain and factory data stay until
	 * new ones replace them (the chip keeps its product for the next unlock). */
	if (c->st.have_chain && !reprovisioning(c))
		REFUSE(r, WDEV_E_STATE, "a chain is stored: the keys are fixed");
	err = gen_keypair(c, att_priv, att_pub);
	if (!err)
		err = gen_keypair(c, enc_priv, enc_pub);
	if (!err)
		err = make_csr(c, att_priv, att_pub, csr, sizeof csr, &csr_len);
	if (!err)
		err = make_binding(c, att_priv, enc_pub, binding, &blen);
	if (err) {
		r->detail = err == WDEV_E_RNG ? "RNG failed its health test" : "key generation failed";
		goto out;
	}
	memcpy(c->st.att_priv, att_priv, 32);
	memcpy(c->st.att_pub, att_pub, 65);
	memcpy(c->st.enc_pub, enc_pub, 65);
	memcpy(c->st.binding, binding, blen);
	c->st.binding_len = blen;
	c->st.have_keys = 1;
	/* No secret arrives on a secured chip (as after LOCK): no key-agreement private key. */
	writ_memzero(c->st.enc_priv, sizeof c->st.enc_priv);
	c->st.have_enc_priv = 0;
	if (!is_locked(c)) {
		memcpy(c->st.enc_priv, enc_priv, 32);
		c->st.have_enc_priv = 1;
	}
	if ((err = persist(c, NULL)) != 0) {
		r->detail = "storage failed";
		goto out;
	}
	wdp_tlv_put(w, WDP_T_CSR, csr, csr_len);
	wdp_tlv_put(w, WDP_T_ENC_PUB, enc_pub, 65);
	wdp_tlv_put(w, WDP_T_ENC_BINDING, binding, blen);
out:
	writ_memzero(att_priv, sizeof att_priv);
	writ_memzero(enc_priv, sizeof enc_priv);
	return err;
}

static int cmd_get_enc_key(struct wdev_ctx *c, const struct wdp_frame *f, struct wdp_tlv_writer *w,
			   struct reply *r)
{
	int err = parse_empty(f, r);

	if (err)
		return err;
	if (!c->st.have_keys)
		REFUSE(r, WDEV_E_STATE, "no keys: GENERATE_KEYS first");
	wdp_tlv_put(w, WDP_T_ENC_PUB, c->st.enc_pub, 65);
	wdp_tlv_put(w, WDP_T_ENC_BINDING, c->st.binding, c->st.binding_len);
	return 0;
}

/* GET_CSR: a fresh CSR for the attestation key the chip already holds, for a host that
 * lost GENERATE_KEYS' answer (a new station process resuming a chip before its chain is
 * stored): the HSM then sees the same key and re-issues the DAC instead of spending
 * another unit. Read-only: the persistent state does not change. */
static int cmd_get_csr(struct wdev_ctx *c, const struct wdp_frame *f, struct wdp_tlv_writer *w, struct reply *r)
{
	uint8_t csr[WDP_CSR_MAX];
	size_t csr_len = 0;
	int err = parse_empty(f, r);

	if (err)
		return err;
	if (!c->st.have_keys)
		REFUSE(r, WDEV_E_STATE, "no keys: GENERATE_KEYS first");
	if (c->st.have_chain && !reprovisioning(c))
		REFUSE(r, WDEV_E_STATE, "a chain is stored: the chip is certified");
	err = make_csr(c, c->st.att_priv, c->st.att_pub, csr, sizeof csr, &csr_len);
	if (err) {
		r->detail = err == WDEV_E_RNG ? "RNG failed its health test" : "CSR signing failed";
		return err;
	}
	wdp_tlv_put(w, WDP_T_CSR, csr, csr_len);
	wdp_tlv_put(w, WDP_T_ENC_PUB, c->st.enc_pub, 65);
	wdp_tlv_put(w, WDP_T_ENC_BINDING, c->st.binding, c->st.binding_len);
	return 0;
}

/* GET_CHAIN: the stored DAC and PAI (public), so a host that lost them (a station that
 * restarted after STORE_CHAIN, or one checking a locked chip) can go on. Read-only; also
 * answers after LOCK. */
static int cmd_get_chain(struct wdev_ctx *c, const struct wdp_frame *f, struct wdp_tlv_writer *w, struct reply *r)
{
	int err = parse_empty(f, r);

	if (err)
		return err;
	if (!c->st.have_chain)
		REFUSE(r, WDEV_E_STATE, "no chain stored");
	wdp_tlv_put(w, WDP_T_DAC, c->st.dac, c->st.dac_len);
	wdp_tlv_put(w, WDP_T_PAI, c->st.pai, c->st.pai_len);
	return 0;
}

/* Parse exactly one DER certificate (no trailing bytes). */
static int parse_cert(mbedtls_x509_crt *crt, const uint8_t *der, size_t n)
{
	return mbedtls_x509_crt_parse_der(crt, der, n) == 0 && crt->raw.len == n ? 0 : -1;
}

static int check_chain(struct wdev_ctx *c, const uint8_t *dac, size_t dac_len, const uint8_t *pai, size_t pai_len,
		       struct reply *r)
{
	mbedtls_x509_crt d, p;
	uint8_t pub[65], hash[32];
	size_t olen = 0;
	int err = 0;

	mbedtls_x509_crt_init(&d);
	mbedtls_x509_crt_init(&p);
	if (parse_cert(&d, dac, dac_len) != 0) {
		r->detail = "DAC does not parse";
		err = WDEV_E_MALFORMED;
		goto out;
	}
	if (parse_cert(&p, pai, pai_len) != 0) {
		r->detail = "PAI does not parse";
		err = WDEV_E_MALFORMED;
		goto out;
	}
	if (mbedtls_pk_get_type(&d.pk) != MBEDTLS_PK_ECKEY ||
	    mbedtls_pk_ec(d.pk)->grp.id != MBEDTLS_ECP_DP_SECP256R1 ||
	    mbedtls_ecp_point_write_binary(&mbedtls_pk_ec(d.pk)->grp, &mbedtls_pk_ec(d.pk)->Q,
					   MBEDTLS_ECP_PF_UNCOMPRESSED, &olen, pub, sizeof pub) != 0 ||
	    olen != 65 || !writ_ct_memeq(pub, c->st.att_pub, 65)) {
		r->detail = "DAC key is not the attestation key";
		err = WDEV_E_MISMATCH;
		goto out;
	}
	if (d.issuer_raw.len != p.subject_raw.len ||
	    memcmp(d.issuer_raw.p, p.subject_raw.p, d.issuer_raw.len) != 0) {
		r->detail = "DAC issuer is not the PAI";
		err = WDEV_E_VERIFY;
		goto out;
	}
	if (d.sig_md != MBEDTLS_MD_SHA256 || d.sig_pk != MBEDTLS_PK_ECDSA ||
	    !mbedtls_pk_can_do(&p.pk, MBEDTLS_PK_ECDSA) ||
	    mbedtls_sha256_ret(d.tbs.p, d.tbs.len, hash, 0) != 0 ||
	    mbedtls_pk_verify(&p.pk, MBEDTLS_MD_SHA256, hash, 32, d.sig.p, d.sig.len) != 0) {
		r->detail = "DAC signature does not verify under the PAI";
		err = WDEV_E_VERIFY;
		goto out;
	}
out:
	mbedtls_x509_crt_free(&d);
	mbedtls_x509_crt_free(&p);
	return err;
}

static int cmd_store_chain(struct wdev_ctx *c, const struct wdp_frame *f, struct wdp_tlv_writer *w,
			   struct reply *r)
{
	static const struct wdp_tlv_spec spec[] = { { WDP_T_DAC, 1, WDP_CERT_MAX, 1 },
						    { WDP_T_PAI, 1, WDP_CERT_MAX, 1 } };
	struct wdp_tlv t[2];
	int err;

	(void)w;
	CHECK_PROVISION_ALLOWED(c, r);
	if ((err = parse(f, spec, 2, t, r)) != 0)
		return err;
	if (!c->st.have_keys)
		REFUSE(r, WDEV_E_STATE, "no keys: GENERATE_KEYS first");
	if (c->st.have_chain) {
		if (t[0].len == c->st.dac_len && t[1].len == c->st.pai_len &&
		    memcmp(t[0].value, c->st.dac, t[0].len) == 0 && memcmp(t[1].value, c->st.pai, t[1].len) == 0)
			return 0; /* the same chain again: nothing to do */
		if (!reprovisioning(c)) /* re-provisioning: a chain for the new key replaces it */
			REFUSE(r, WDEV_E_STATE, "another chain is already stored");
	}
	if ((err = check_chain(c, t[0].value, t[0].len, t[1].value, t[1].len, r)) != 0)
		return err;
	memcpy(c->st.dac, t[0].value, t[0].len);
	c->st.dac_len = t[0].len;
	memcpy(c->st.pai, t[1].value, t[1].len);
	c->st.pai_len = t[1].len;
	c->st.have_chain = 1;
	if ((err = persist(c, NULL)) != 0)
		r->detail = "storage failed";
	return err;
}

static int cmd_store_factory_data(struct wdev_ctx *c, const struct wdp_frame *f, struct wdp_tlv_writer *w,
				  struct reply *r)
{
	static const struct wdp_tlv_spec spec[] = { { WDP_T_FACTORY_DATA, 1, WDP_FACTORY_DATA_MAX, 1 } };
	struct wdp_tlv t[1];
	const uint8_t *dac = NULL, *pai = NULL;
	size_t dac_len = 0, pai_len = 0;
	int err;

	(void)w;
	CHECK_PROVISION_ALLOWED(c, r);
	if ((err = parse(f, spec, 1, t, r)) != 0)
		return err;
	if (!c->st.have_chain)
		REFUSE(r, WDEV_E_STATE, "no chain: STORE_CHAIN first");
	if (wdev_wfd_check(t[0].value, t[0].len, &dac, &dac_len, &pai, &pai_len) != 0)
		REFUSE(r, WDEV_E_MALFORMED, "factory data does not parse (WFD1)");
	if (dac_len != c->st.dac_len || pai_len != c->st.pai_len || memcmp(dac, c->st.dac, dac_len) != 0 ||
	    memcmp(pai, c->st.pai, pai_len) != 0)
		REFUSE(r, WDEV_E_MISMATCH, "factory data DAC/PAI differ from the stored chain");
	memcpy(c->st.fd, t[0].value, t[0].len);
	c->st.fd_len = t[0].len;
	c->st.have_fd = 1;
	if ((err = persist(c, NULL)) != 0)
		r->detail = "storage failed";
	return err;
}

static int label_ok(const uint8_t *p, size_t n)
{
	if (n < 1 || n > WDP_LABEL_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '-'))
			return 0;
	return 1;
}

/* Unwrap WRAPPED (docs/device-protocol.md) into pt; *ret_len is the secret's length. */
static int unwrap(struct wdev_ctx *c, const uint8_t *label, size_t label_len, const uint8_t *wr, size_t wr_len,
		  uint8_t pt[WDP_SECRET_MAX], size_t *ret_len, struct reply *r)
{
	const size_t ct_len = wr_len - WDP_WRAP_OVERHEAD;
	const uint8_t *eph = wr, *nonce = wr + 65, *ct = wr + 65 + 12, *tag = wr + 65 + 12 + ct_len;
	mbedtls_ecp_group grp;
	mbedtls_ecp_point q;
	mbedtls_mpi d, z;
	mbedtls_gcm_context gcm;
	uint8_t zb[32], key[32];
	uint8_t info[PREFIX_LEN(wrap_info_prefix) + WDP_LABEL_MAX];
	uint8_t aad[PREFIX_LEN(wrap_aad_prefix) + WDP_UID_LEN + WDP_LABEL_MAX];
	int err = 0, rc;

	mbedtls_ecp_group_init(&grp);
	mbedtls_ecp_point_init(&q);
	mbedtls_mpi_init(&d);
	mbedtls_mpi_init(&z);
	mbedtls_gcm_init(&gcm);
	if (mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1) != 0) {
		err = WDEV_E_CRYPTO;
		goto out;
	}
	if (mbedtls_ecp_point_read_binary(&grp, &q, eph, 65) != 0 || mbedtls_ecp_check_pubkey(&grp, &q) != 0) {
		r->detail = "ephemeral key is not a P-256 point";
		err = WDEV_E_DECRYPT;
		goto out;
	}
	if (mbedtls_mpi_read_binary(&d, c->st.enc_priv, 32) != 0 ||
	    mbedtls_ecdh_compute_shared(&grp, &z, &q, &d, rng_cb, c) != 0 ||
	    mbedtls_mpi_write_binary(&z, zb, sizeof zb) != 0) {
		err = crypto_err(c);
		r->detail = err == WDEV_E_RNG ? "RNG failed its health test" : "ECDH failed";
		goto out;
	}
	memcpy(info, wrap_info_prefix, PREFIX_LEN(wrap_info_prefix));
	memcpy(info + PREFIX_LEN(wrap_info_prefix), label, label_len);
	memcpy(aad, wrap_aad_prefix, PREFIX_LEN(wrap_aad_prefix));
	memcpy(aad + PREFIX_LEN(wrap_aad_prefix), c->otp + WDEV_OTP_UID, WDP_UID_LEN);
	memcpy(aad + PREFIX_LEN(wrap_aad_prefix) + WDP_UID_LEN, label, label_len);
	if (mbedtls_hkdf(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), c->otp + WDEV_OTP_UID, WDP_UID_LEN, zb,
			 sizeof zb, info, PREFIX_LEN(wrap_info_prefix) + label_len, key, sizeof key) != 0 ||
	    mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, 256) != 0) {
		err = WDEV_E_CRYPTO;
		r->detail = "key derivation failed";
		goto out;
	}
	rc = mbedtls_gcm_auth_decrypt(&gcm, ct_len, nonce, 12, aad,
				      PREFIX_LEN(wrap_aad_prefix) + WDP_UID_LEN + label_len, tag, 16, ct, pt);
	if (rc != 0) {
		writ_memzero(pt, WDP_SECRET_MAX);
		r->detail = "wrapped secret does not authenticate";
		err = WDEV_E_DECRYPT;
		goto out;
	}
	*ret_len = ct_len;
out:
	writ_memzero(zb, sizeof zb);
	writ_memzero(key, sizeof key);
	mbedtls_gcm_free(&gcm);
	mbedtls_mpi_free(&z);
	mbedtls_mpi_free(&d);
	mbedtls_ecp_point_free(&q);
	mbedtls_ecp_group_free(&grp);
	return err;
}

static int cmd_store_secret(struct wdev_ctx *c, const struct wdp_frame *f, struct wdp_tlv_writer *w,
			    struct reply *r)
{
	static const struct wdp_tlv_spec spec[] = {
		{ WDP_T_SECRET_LABEL, 1, WDP_LABEL_MAX, 1 },
		{ WDP_T_WRAPPED, WDP_WRAP_OVERHEAD + WDP_SECRET_MIN, WDP_WRAP_OVERHEAD + WDP_SECRET_MAX, 1 },
	};
	struct wdp_tlv t[2];
	uint8_t pt[WDP_SECRET_MAX];
	size_t pt_len = 0;
	int err, slot = -1;

	(void)w;
	CHECK_NOT_LOCKED(c, r);
	if ((err = parse(f, spec, 2, t, r)) != 0)
		return err;
	if (!label_ok(t[0].value, t[0].len))
		REFUSE(r, WDEV_E_MALFORMED, "label must be 1..32 of [a-z0-9-]");
	if (!c->st.have_keys || !c->st.have_enc_priv)
		REFUSE(r, WDEV_E_STATE, "no key-agreement key: GENERATE_KEYS first");
	for (unsigned i = 0; i < WDEV_MAX_SECRETS && slot < 0; i++)
		if (c->st.secrets[i].label_len == t[0].len &&
		    memcmp(c->st.secrets[i].label, t[0].value, t[0].len) == 0)
			slot = (int)i;
	for (unsigned i = 0; i < WDEV_MAX_SECRETS && slot < 0; i++)
		if (c->st.secrets[i].label_len == 0)
			slot = (int)i;
	if (slot < 0)
		REFUSE(r, WDEV_E_STATE, "all 4 secret slots are taken");
	if ((err = unwrap(c, t[0].value, t[0].len, t[1].value, t[1].len, pt, &pt_len, r)) != 0)
		return err;
	{
		struct wdev_secret_slot *s = &c->st.secrets[slot];
		writ_memzero(s, sizeof *s);
		s->label_len = (uint8_t)t[0].len;
		memcpy(s->label, t[0].value, t[0].len);
		s->len = (uint8_t)pt_len;
		memcpy(s->value, pt, pt_len);
	}
	writ_memzero(pt, sizeof pt);
	if ((err = persist(c, NULL)) != 0)
		r->detail = "storage failed";
	return err;
}

static int cmd_fw_begin(struct wdev_ctx *c, const struct wdp_frame *f, struct wdp_tlv_writer *w, struct reply *r)
{
	static const struct wdp_tlv_spec spec[] = { { WDP_T_FW_VERSION, 4, 4, 1 },
						    { WDP_T_FW_SIZE, 4, 4, 1 },
						    { WDP_T_SB_PUBKEY, 65, 65, 1 } };
	struct wdp_tlv t[3];
	uint8_t hash[32], hdr[8];
	uint32_t version, size;
	mbedtls_ecp_group grp;
	mbedtls_ecp_point q;
	int err, bad;

	(void)w;
	CHECK_FW_ALLOWED(c, r);
	if ((err = parse(f, spec, 3, t, r)) != 0)
		return err;
	version = wdp_get_u32(t[0].value);
	size = wdp_get_u32(t[1].value);
	if (size == 0)
		REFUSE(r, WDEV_E_MALFORMED, "FW_SIZE is 0");
	if (size > WDEV_FW_MAX)
		REFUSE(r, WDEV_E_TOO_BIG, "FW_SIZE above 4 MiB");
	if (!otp_burnt(c))
		REFUSE(r, WDEV_E_STATE, "OTP not burnt: BURN_OTP first");
	if (mbedtls_sha256_ret(t[2].value, 65, hash, 0) != 0)
		REFUSE(r, WDEV_E_CRYPTO, "SHA-256 failed");
	if (!writ_ct_memeq(hash, c->otp + WDEV_OTP_SB_HASH, 32))
		REFUSE(r, WDEV_E_VERIFY, "SB_PUBKEY does not match the OTP hash");
	mbedtls_ecp_group_init(&grp);
	mbedtls_ecp_point_init(&q);
	bad = mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1) != 0 ||
	      mbedtls_ecp_point_read_binary(&grp, &q, t[2].value, 65) != 0 || mbedtls_ecp_check_pubkey(&grp, &q) != 0;
	mbedtls_ecp_point_free(&q);
	mbedtls_ecp_group_free(&grp);
	if (bad)
		REFUSE(r, WDEV_E_VERIFY, "SB_PUBKEY is not a P-256 point");
	if (c->st.have_fw && version < c->st.fw_version)
		REFUSE(r, WDEV_E_ROLLBACK, "FW_VERSION below the installed version");
	/* A new transfer replaces one in progress. */
	mbedtls_sha256_free(&c->fw.sha);
	mbedtls_sha256_init(&c->fw.sha);
	wdp_put_u32(hdr, version);
	wdp_put_u32(hdr + 4, size);
	if (mbedtls_sha256_starts_ret(&c->fw.sha, 0) != 0 ||
	    mbedtls_sha256_update_ret(&c->fw.sha, (const uint8_t *)fw_prefix, PREFIX_LEN(fw_prefix)) != 0 ||
	    mbedtls_sha256_update_ret(&c->fw.sha, hdr, 8) != 0) {
		c->fw.active = 0;
		REFUSE(r, WDEV_E_CRYPTO, "SHA-256 failed");
	}
	c->fw.active = 1;
	c->fw.slot = (uint8_t)(c->st.have_fw && c->st.fw_slot == WDEV_AREA_FW0 ? WDEV_AREA_FW1 : WDEV_AREA_FW0);
	c->fw.version = version;
	c->fw.size = size;
	c->fw.received = 0;
	memcpy(c->fw.sb_pub, t[2].value, 65);
	return 0;
}

static int cmd_fw_chunk(struct wdev_ctx *c, const struct wdp_frame *f, struct wdp_tlv_writer *w, struct reply *r)
{
	static const struct wdp_tlv_spec spec[] = { { WDP_T_FW_OFFSET, 4, 4, 1 },
						    { WDP_T_FW_DATA, 1, WDP_FW_CHUNK_MAX, 1 } };
	struct wdp_tlv t[2];
	int err;

	(void)w;
	CHECK_FW_ALLOWED(c, r);
	if ((err = parse(f, spec, 2, t, r)) != 0)
		return err;
	if (!c->fw.active)
		REFUSE(r, WDEV_E_STATE, "no firmware transfer: FW_BEGIN first");
	if (wdp_get_u32(t[0].value) != c->fw.received)
		REFUSE(r, WDEV_E_SEQUENCE, "FW_OFFSET is not the bytes received so far");
	if (t[1].len > c->fw.size - c->fw.received)
		REFUSE(r, WDEV_E_TOO_BIG, "chunk goes past FW_SIZE");
	/* Written to the inactive slot without a commit: a transfer lives until reset, so its
	 * bytes need to be durable only when FW_END installs the image, and that commit
	 * makes them so (one flush per image instead of one per chunk). */
	if (c->pal.flash_write(c->pal.ctx, (enum wdev_area)c->fw.slot, c->fw.received, t[1].value, t[1].len) != 0) {
		c->fw.active = 0;
		if (c->pal.discard)
			c->pal.discard(c->pal.ctx);
		REFUSE(r, WDEV_E_STORAGE, "firmware slot write failed");
	}
	if (mbedtls_sha256_update_ret(&c->fw.sha, t[1].value, t[1].len) != 0) {
		c->fw.active = 0;
		REFUSE(r, WDEV_E_CRYPTO, "SHA-256 failed");
	}
	c->fw.received += t[1].len;
	return 0;
}

static int cmd_fw_end(struct wdev_ctx *c, const struct wdp_frame *f, struct wdp_tlv_writer *w, struct reply *r)
{
	static const struct wdp_tlv_spec spec[] = { { WDP_T_FW_SIGNATURE, 64, 64, 1 } };
	struct wdp_tlv t[1];
	mbedtls_sha256_context sha;
	mbedtls_ecp_group grp;
	mbedtls_ecp_point q;
	mbedtls_mpi sr, ss;
	uint8_t hash[32];
	int err, ok;

	CHECK_FW_ALLOWED(c, r);
	if ((err = parse(f, spec, 1, t, r)) != 0)
		return err;
	if (!c->fw.active)
		REFUSE(r, WDEV_E_STATE, "no firmware transfer: FW_BEGIN first");
	if (c->fw.received != c->fw.size)
		REFUSE(r, WDEV_E_STATE, "image incomplete");
	sha = c->fw.sha; /* finish a copy: a bad signature leaves the transfer as it was */
	ok = mbedtls_sha256_finish_ret(&sha, hash) == 0;
	mbedtls_sha256_free(&sha);
	mbedtls_ecp_group_init(&grp);
	mbedtls_ecp_point_init(&q);
	mbedtls_mpi_init(&sr);
	mbedtls_mpi_init(&ss);
	ok = ok && mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1) == 0 &&
	     mbedtls_ecp_point_read_binary(&grp, &q, c->fw.sb_pub, 65) == 0 &&
	     mbedtls_mpi_read_binary(&sr, t[0].value, 32) == 0 && mbedtls_mpi_read_binary(&ss, t[0].value + 32, 32) == 0 &&
	     mbedtls_ecdsa_verify(&grp, hash, 32, &q, &sr, &ss) == 0;
	mbedtls_mpi_free(&ss);
	mbedtls_mpi_free(&sr);
	mbedtls_ecp_point_free(&q);
	mbedtls_ecp_group_free(&grp);
	if (!ok)
		REFUSE(r, WDEV_E_VERIFY, "firmware signature does not verify");
	c->st.have_fw = 1;
	c->st.fw_version = c->fw.version;
	c->st.fw_size = c->fw.size;
	c->st.fw_slot = c->fw.slot;
	memcpy(c->st.fw_digest, hash, 32);
	if ((err = persist(c, NULL)) != 0) {
		r->detail = "storage failed";
		return err;
	}
	c->fw.active = 0;
	mbedtls_sha256_free(&c->fw.sha);
	wdp_tlv_put_u32(w, WDP_T_FW_VERSION, c->st.fw_version);
	return 0;
}

static int cmd_burn_otp(struct wdev_ctx *c, const struct wdp_frame *f, struct wdp_tlv_writer *w, struct reply *r)
{
	static const struct wdp_tlv_spec spec[] = { { WDP_T_SB_KEY_HASH, 32, 32, 1 },
						    { WDP_T_DEBUG_ROOT_HASH, 32, 32, 1 } };
	static const size_t off[2] = { WDEV_OTP_SB_HASH, WDEV_OTP_DEBUG_HASH };
	struct wdp_tlv t[2];
	uint8_t next[WDEV_OTP_SIZE];
	int err, change = 0;

	(void)w;
	CHECK_NOT_LOCKED(c, r);
	if ((err = parse(f, spec, 2, t, r)) != 0)
		return err;
	if (all_zero(t[0].value, 32) || all_zero(t[1].value, 32))
		REFUSE(r, WDEV_E_MALFORMED, "an all-zero hash cannot be burnt");
	memcpy(next, c->otp, sizeof next);
	for (int i = 0; i < 2; i++) {
		if (all_zero(c->otp + off[i], 32)) {
			memcpy(next + off[i], t[i].value, 32);
			change = 1;
		} else if (!writ_ct_memeq(c->otp + off[i], t[i].value, 32)) {
			REFUSE(r, WDEV_E_OTP, "OTP already burnt with other values");
		}
	}
	if (!change)
		return 0; /* the same values again: resumable */
	if ((err = persist(c, next)) != 0)
		r->detail = err == WDEV_E_OTP ? "OTP refuses the write" : "storage failed";
	return err;
}

static int cmd_lock(struct wdev_ctx *c, const struct wdp_frame *f, struct wdp_tlv_writer *w, struct reply *r)
{
	uint8_t next[WDEV_OTP_SIZE];
	uint64_t now = 0;
	size_t n = 0;
	int err;

	CHECK_NOT_LOCKED(c, r);
	if ((err = parse_empty(f, r)) != 0)
		return err;
	{
		static const char *const what[4] = { " chain", " factory-data", " otp", " firmware" };
		const int missing[4] = { !c->st.have_chain, !c->st.have_fd, !otp_burnt(c), !c->st.have_fw };
		int any = 0;

		memcpy(r->buf, "missing:", 8);
		n = 8;
		for (int i = 0; i < 4; i++) {
			size_t k = strlen(what[i]);
			if (!missing[i])
				continue;
			any = 1;
			memcpy(r->buf + n, what[i], k);
			n += k;
		}
		r->buf[n] = '\0';
		if (any)
			REFUSE(r, WDEV_E_STATE, r->buf);
	}
	if (c->pal.time(c->pal.ctx, &now) != 0)
		now = 0;
	memcpy(next, c->otp, sizeof next);
	next[WDEV_OTP_FUSE] |= WDEV_OTP_FUSE_SECURED;
	/* No secret can arrive after lock: the key-agreement private key goes. */
	writ_memzero(c->st.enc_priv, sizeof c->st.enc_priv);
	c->st.have_enc_priv = 0;
	c->st.locked_at = now ? now : 1;
	if ((err = persist(c, next)) != 0) {
		r->detail = "storage failed";
		return err;
	}
	c->fw.active = 0;
	wdp_tlv_put_u8(w, WDP_T_LIFECYCLE, WDP_LC_SECURED);
	return 0;
}

/* ---------------------------------------------------------------------------------------
 * Secure debug (docs/device-protocol.md, "Secure debug"): ADAC-style. DEBUG_CHALLENGE
 * issues a single-use random challenge; DEBUG_UNLOCK verifies root (hash in OTP) ->
 * [intermediate] -> delegate -> token over that challenge, checks every scope field and
 * opens debug in RAM only; DEBUG_LOCK, a reset or the session's end closes it. The only
 * persistent effect is the debug key generation, which only grows.
 */
static const char dbg_cert_magic[4] = { 'W', 'D', 'C', '1' };
static const char dbg_token_magic[4] = { 'W', 'D', 'T', '1' };

static uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)wdp_get_u32(p) << 32 | wdp_get_u32(p + 4);
}

static int dbg_parse_cert(const uint8_t *p, struct wdev_dbg_cert *c, const char **why)
{
	if (memcmp(p, dbg_cert_magic, 4) != 0 || p[4] != 1) {
		*why = "debug certificate: bad magic or version";
		return WDEV_E_MALFORMED;
	}
	memset(c, 0, sizeof *c);
	c->role = p[5];
	c->vendor_id = wdp_get_u16(p + 6);
	c->product_id = wdp_get_u16(p + 8);
	c->key_gen = wdp_get_u32(p + 12);
	c->not_before = get_u64(p + 16);
	c->not_after = get_u64(p + 24);
	memcpy(c->perms, p + 32, WDP_DBG_PERMS_LEN);
	memcpy(c->hsm_id, p + 48, WDP_DBG_HSM_ID_LEN);
	c->pub = p + 80;
	c->signed_part = p;
	c->sig = p + WDP_DBG_CERT_SIGNED;
	if (c->role != WDP_DBG_ROLE_INTERMEDIATE && c->role != WDP_DBG_ROLE_DELEGATE) {
		*why = "debug certificate: unknown role";
		return WDEV_E_MALFORMED;
	}
	if (p[10] != 0 || p[11] != 0 || c->vendor_id == 0 || c->not_after <= c->not_before || c->pub[0] != 0x04 ||
	    all_zero(c->perms, WDP_DBG_PERMS_LEN)) {
		*why = "debug certificate: a field is out of range";
		return WDEV_E_MALFORMED;
	}
	if (c->role == WDP_DBG_ROLE_DELEGATE && all_zero(c->hsm_id, WDP_DBG_HSM_ID_LEN)) {
		*why = "delegate certificate names no HSM";
		return WDEV_E_MALFORMED;
	}
	return 0;
}

int wdev_dbg_parse(const uint8_t *chain, size_t chain_len, const uint8_t *token, size_t token_len,
		   struct wdev_dbg_cert ret_certs[WDP_DBG_CHAIN_MAX], size_t *ret_n, struct wdev_dbg_token *ret_token,
		   const char **ret_detail)
{
	const char *why = "debug credentials: bad length";
	size_t n;
	int err = WDEV_E_MALFORMED;

	if (!ret_certs || !ret_n || !ret_token || !chain || !token)
		goto out;
	if (chain_len == 0 || chain_len % WDP_DBG_CERT_LEN != 0 || chain_len / WDP_DBG_CERT_LEN > WDP_DBG_CHAIN_MAX ||
	    token_len != WDP_DBG_TOKEN_LEN)
		goto out;
	n = chain_len / WDP_DBG_CERT_LEN;
	for (size_t i = 0; i < n; i++)
		if ((err = dbg_parse_cert(chain + i * WDP_DBG_CERT_LEN, &ret_certs[i], &why)) != 0)
			goto out;
	err = WDEV_E_MALFORMED;
	if (n == 2 && ret_certs[0].key_gen != ret_certs[1].key_gen) {
		why = "debug chain: mixed key generations";
		goto out;
	}
	if (memcmp(token, dbg_token_magic, 4) != 0 || token[4] != 1 || token[5] != 0 || token[6] != 0 ||
	    token[7] != 0) {
		why = "debug token: bad magic or version";
		goto out;
	}
	memset(ret_token, 0, sizeof *ret_token);
	memcpy(ret_token->uid, token + 8, WDP_UID_LEN);
	ret_token->not_before = get_u64(token + 24);
	ret_token->not_after = get_u64(token + 32);
	memcpy(ret_token->perms, token + 40, WDP_DBG_PERMS_LEN);
	ret_token->session_s = wdp_get_u32(token + 56);
	ret_token->challenge = token + 60;
	ret_token->signed_part = token;
	ret_token->sig = token + WDP_DBG_TOKEN_SIGNED;
	if (all_zero(ret_token->uid, WDP_UID_LEN)) {
		why = "debug token: all-zero UID (wildcard) refused";
		goto out;
	}
	if (ret_token->not_after <= ret_token->not_before || all_zero(ret_token->perms, WDP_DBG_PERMS_LEN) ||
	    ret_token->session_s == 0 || ret_token->session_s > WDP_DBG_SESSION_MAX) {
		why = "debug token: a field is out of range";
		goto out;
	}
	*ret_n = n;
	err = 0;
out:
	if (ret_detail)
		*ret_detail = err ? why : NULL;
	return err;
}

/* ECDSA P-256 verify of r ‖ s over hash with an uncompressed public key. 0 = valid. */
static int p256_verify(const uint8_t pub[65], const uint8_t hash[32], const uint8_t sig[64])
{
	mbedtls_ecp_group grp;
	mbedtls_ecp_point q;
	mbedtls_mpi sr, ss;
	int ok;

	mbedtls_ecp_group_init(&grp);
	mbedtls_ecp_point_init(&q);
	mbedtls_mpi_init(&sr);
	mbedtls_mpi_init(&ss);
	ok = mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1) == 0 &&
	     mbedtls_ecp_point_read_binary(&grp, &q, pub, 65) == 0 && mbedtls_ecp_check_pubkey(&grp, &q) == 0 &&
	     mbedtls_mpi_read_binary(&sr, sig, 32) == 0 && mbedtls_mpi_read_binary(&ss, sig + 32, 32) == 0 &&
	     mbedtls_ecdsa_verify(&grp, hash, 32, &q, &sr, &ss) == 0;
	mbedtls_mpi_free(&ss);
	mbedtls_mpi_free(&sr);
	mbedtls_ecp_point_free(&q);
	mbedtls_ecp_group_free(&grp);
	return ok ? 0 : -1;
}

static int dbg_now(const struct wdev_ctx *c, uint64_t *ret)
{
	*ret = 0;
	return c->pal.time(c->pal.ctx, ret) == 0 && *ret != 0 ? 0 : -1;
}

static void dbg_close(struct wdev_ctx *c)
{
	/* A firmware transfer a REFLASH unlock allowed on a secured chip ends with it. */
	if (c->dbg.unlocked && is_locked(c) && c->fw.active) {
		c->fw.active = 0;
		mbedtls_sha256_free(&c->fw.sha);
		mbedtls_sha256_init(&c->fw.sha);
	}
	c->dbg.unlocked = 0;
	c->dbg.until = 0;
	writ_memzero(c->dbg.perms, sizeof c->dbg.perms);
}

/* End an unlock whose session ran out (or when the clock is gone). */
static void dbg_expire(struct wdev_ctx *c)
{
	uint64_t now;

	if (c->dbg.unlocked && (dbg_now(c, &now) != 0 || now >= c->dbg.until))
		dbg_close(c);
}

static uint32_t dbg_seconds_left(const struct wdev_ctx *c)
{
	uint64_t now, left;

	if (!c->dbg.unlocked || dbg_now(c, &now) != 0 || now >= c->dbg.until)
		return 0;
	left = c->dbg.until - now;
	return left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
}

static int cmd_debug_challenge(struct wdev_ctx *c, const struct wdp_frame *f, struct wdp_tlv_writer *w,
			       struct reply *r)
{
	uint8_t chal[WDP_DBG_CHALLENGE_LEN];
	int err;

	if ((err = parse_empty(f, r)) != 0)
		return err;
	if (all_zero(c->otp + WDEV_OTP_DEBUG_HASH, 32))
		REFUSE(r, WDEV_E_STATE, "no debug root in OTP: BURN_OTP first");
	if (rng_cb(c, chal, sizeof chal) != 0)
		REFUSE(r, WDEV_E_RNG, "RNG failed its health test");
	if (c->dbg.have_chal) { /* superseded: a token made for it is stale from now on */
		if (mbedtls_sha256_ret(c->dbg.chal, sizeof c->dbg.chal, c->dbg.stale_digest, 0) != 0) {
			writ_memzero(chal, sizeof chal);
			REFUSE(r, WDEV_E_CRYPTO, "SHA-256 failed");
		}
		c->dbg.have_stale = 1;
	}
	memcpy(c->dbg.chal, chal, sizeof chal);
	c->dbg.have_chal = 1;
	wdp_tlv_put(w, WDP_T_UID, c->otp + WDEV_OTP_UID, WDP_UID_LEN);
	wdp_tlv_put(w, WDP_T_DEBUG_CHALLENGE, chal, sizeof chal);
	writ_memzero(chal, sizeof chal);
	return 0;
}

/* The window check of one certificate or the token. */
static int dbg_window(uint64_t now, uint64_t nb, uint64_t na, const char *early, const char *late, struct reply *r)
{
	if (now < nb)
		REFUSE(r, WDEV_E_EXPIRED, early);
	if (now >= na)
		REFUSE(r, WDEV_E_EXPIRED, late);
	return 0;
}

/* Everything DEBUG_UNLOCK checks, in order; chal is the challenge this attempt consumed
 * (NULL if none was live). Writes nothing. */
static int dbg_verify(struct wdev_ctx *c, const struct wdp_tlv *t, const uint8_t *chal, int had_used,
		      const uint8_t used_prev[32], struct wdev_dbg_token *tok, uint32_t *ret_max_gen,
		      struct reply *r)
{
	struct wdev_dbg_cert cert[WDP_DBG_CHAIN_MAX];
	mbedtls_sha256_context sha;
	const char *why = NULL;
	const uint8_t *issuer;
	uint8_t hash[32];
	uint16_t vid = 0, pid = 0;
	uint64_t now;
	uint32_t max_gen = 0;
	size_t n = 0;
	int err;

	if ((err = wdev_dbg_parse(t[1].value, t[1].len, t[2].value, t[2].len, cert, &n, tok, &why)) != 0)
		REFUSE(r, err, why);
	if (dbg_now(c, &now) != 0)
		REFUSE(r, WDEV_E_STATE, "chip has no clock: cannot check validity windows");
	if (!c->st.have_fd || wdev_wfd_product(c->st.fd, c->st.fd_len, &vid, &pid) != 0)
		REFUSE(r, WDEV_E_STATE, "no factory data: the chip's product is unknown");
	/* the challenge: the one live now, else say why not */
	if (!chal || !writ_ct_memeq(chal, tok->challenge, WDP_DBG_CHALLENGE_LEN)) {
		if (mbedtls_sha256_ret(tok->challenge, WDP_DBG_CHALLENGE_LEN, hash, 0) != 0)
			REFUSE(r, WDEV_E_CRYPTO, "SHA-256 failed");
		if (had_used && writ_ct_memeq(hash, used_prev, 32))
			REFUSE(r, WDEV_E_SEQUENCE, "replayed token: its challenge was already used");
		if (c->dbg.have_stale && writ_ct_memeq(hash, c->dbg.stale_digest, 32))
			REFUSE(r, WDEV_E_SEQUENCE, "stale challenge: a newer one was issued since");
		REFUSE(r, WDEV_E_SEQUENCE, chal ? "token is not for the current challenge"
						: "no challenge: DEBUG_CHALLENGE first");
	}
	if (!writ_ct_memeq(tok->uid, c->otp + WDEV_OTP_UID, WDP_UID_LEN))
		REFUSE(r, WDEV_E_MISMATCH, "token is for another device UID");
	/* the chain, in order, from the root whose hash is in OTP */
	if (mbedtls_sha256_ret(t[0].value, WDP_P256_PUB_LEN, hash, 0) != 0)
		REFUSE(r, WDEV_E_CRYPTO, "SHA-256 failed");
	if (!writ_ct_memeq(hash, c->otp + WDEV_OTP_DEBUG_HASH, 32))
		REFUSE(r, WDEV_E_VERIFY, "chain does not end at the debug root in OTP");
	for (size_t i = 0; i < n; i++)
		if (cert[i].role != (i + 1 == n ? WDP_DBG_ROLE_DELEGATE : WDP_DBG_ROLE_INTERMEDIATE))
			REFUSE(r, WDEV_E_VERIFY, "wrong chain order: root-issued first, delegate last");
	issuer = t[0].value;
	for (size_t i = 0; i < n; i++) {
		if (mbedtls_sha256_ret(cert[i].signed_part, WDP_DBG_CERT_SIGNED, hash, 0) != 0)
			REFUSE(r, WDEV_E_CRYPTO, "SHA-256 failed");
		if (p256_verify(issuer, hash, cert[i].sig) != 0)
			REFUSE(r, WDEV_E_VERIFY, i + 1 == n ? "delegate certificate signature does not verify"
							    : "intermediate certificate signature does not verify");
		issuer = cert[i].pub;
	}
	mbedtls_sha256_init(&sha);
	err = mbedtls_sha256_starts_ret(&sha, 0) != 0 ||
	      mbedtls_sha256_update_ret(&sha, tok->signed_part, WDP_DBG_TOKEN_SIGNED) != 0 ||
	      mbedtls_sha256_update_ret(&sha, tok->challenge, WDP_DBG_CHALLENGE_LEN) != 0 ||
	      mbedtls_sha256_finish_ret(&sha, hash) != 0;
	mbedtls_sha256_free(&sha);
	if (err)
		REFUSE(r, WDEV_E_CRYPTO, "SHA-256 failed");
	if (p256_verify(issuer, hash, tok->sig) != 0)
		REFUSE(r, WDEV_E_VERIFY, "token signature does not verify under the delegate key");
	/* scope: product, key generation, windows, permissions (a request beyond any mask is
	 * refused, never reduced) */
	for (size_t i = 0; i < n; i++) {
		if (cert[i].vendor_id != vid || (cert[i].product_id != 0 && cert[i].product_id != pid))
			REFUSE(r, WDEV_E_MISMATCH, "certificate is for another product");
		if (cert[i].key_gen < c->st.debug_key_gen)
			REFUSE(r, WDEV_E_ROLLBACK, "older debug key generation: revoked on this chip");
		if (cert[i].key_gen > max_gen)
			max_gen = cert[i].key_gen;
		if ((err = dbg_window(now, cert[i].not_before, cert[i].not_after,
				      i + 1 == n ? "delegate certificate not yet valid" : "intermediate not yet valid",
				      i + 1 == n ? "delegate certificate expired" : "intermediate expired", r)) != 0)
			return err;
	}
	if ((err = dbg_window(now, tok->not_before, tok->not_after, "token not yet valid", "token expired", r)) != 0)
		return err;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < WDP_DBG_PERMS_LEN; k++)
			if (tok->perms[k] & (uint8_t)~cert[i].perms[k])
				REFUSE(r, WDEV_E_DENIED, "requested permission outside a certificate's mask");
	*ret_max_gen = max_gen;
	return 0;
}

static int cmd_debug_unlock(struct wdev_ctx *c, const struct wdp_frame *f, struct wdp_tlv_writer *w,
			    struct reply *r)
{
	static const struct wdp_tlv_spec spec[] = {
		{ WDP_T_DEBUG_ROOT_PUB, WDP_P256_PUB_LEN, WDP_P256_PUB_LEN, 1 },
		{ WDP_T_DEBUG_CHAIN, WDP_DBG_CERT_LEN, WDP_DBG_CERT_LEN * WDP_DBG_CHAIN_MAX, 1 },
		{ WDP_T_DEBUG_TOKEN, WDP_DBG_TOKEN_LEN, WDP_DBG_TOKEN_LEN, 1 },
	};
	struct wdp_tlv t[3];
	struct wdev_dbg_token tok;
	uint8_t chal[WDP_DBG_CHALLENGE_LEN], used_prev[32];
	const int had_chal = c->dbg.have_chal, had_used = c->dbg.have_used;
	uint32_t max_gen = 0, old_gen = c->st.debug_key_gen;
	uint64_t now = 0;
	int err;

	/* One attempt per challenge: consume it first, whatever follows. */
	memcpy(chal, c->dbg.chal, sizeof chal);
	memcpy(used_prev, c->dbg.used_digest, sizeof used_prev);
	if (had_chal) {
		if (mbedtls_sha256_ret(chal, sizeof chal, c->dbg.used_digest, 0) != 0)
			memset(c->dbg.used_digest, 0xFF, sizeof c->dbg.used_digest);
		c->dbg.have_used = 1;
	}
	writ_memzero(c->dbg.chal, sizeof c->dbg.chal);
	c->dbg.have_chal = 0;
	if ((err = parse(f, spec, 3, t, r)) != 0)
		goto out;
	if (all_zero(c->otp + WDEV_OTP_DEBUG_HASH, 32)) {
		r->detail = "no debug root in OTP: BURN_OTP first";
		err = WDEV_E_STATE;
		goto out;
	}
	if ((err = dbg_verify(c, t, had_chal ? chal : NULL, had_used, used_prev, &tok, &max_gen, r)) != 0)
		goto out;
	if (dbg_now(c, &now) != 0) {
		r->detail = "chip has no clock";
		err = WDEV_E_STATE;
		goto out;
	}
	if (max_gen > old_gen) { /* a newer generation revokes every older delegate */
		c->st.debug_key_gen = max_gen;
		if ((err = persist(c, NULL)) != 0) {
			c->st.debug_key_gen = old_gen;
			r->detail = "storage failed";
			goto out;
		}
	}
	c->dbg.unlocked = 1;
	memcpy(c->dbg.perms, tok.perms, sizeof c->dbg.perms);
	c->dbg.until = now + tok.session_s < tok.not_after ? now + tok.session_s : tok.not_after;
	wdp_tlv_put(w, WDP_T_DEBUG_PERMS, c->dbg.perms, WDP_DBG_PERMS_LEN);
	wdp_tlv_put_u32(w, WDP_T_DEBUG_SECONDS, dbg_seconds_left(c));
	wdp_tlv_put_u32(w, WDP_T_DEBUG_KEY_GEN, c->st.debug_key_gen);
out:
	writ_memzero(chal, sizeof chal);
	return err;
}

static int cmd_debug_lock(struct wdev_ctx *c, const struct wdp_frame *f, struct wdp_tlv_writer *w, struct reply *r)
{
	int err = parse_empty(f, r);

	(void)w;
	if (err)
		return err;
	dbg_close(c);
	return 0;
}

typedef int (*cmd_fn)(struct wdev_ctx *, const struct wdp_frame *, struct wdp_tlv_writer *, struct reply *);

static cmd_fn find_cmd(uint16_t code)
{
	switch (code) {
	case WDP_CMD_DISCOVER: return cmd_discover;
	case WDP_CMD_STATUS: return cmd_status;
	case WDP_CMD_GENERATE_KEYS: return cmd_generate_keys;
	case WDP_CMD_GET_ENC_KEY: return cmd_get_enc_key;
	case WDP_CMD_GET_CSR: return cmd_get_csr;
	case WDP_CMD_GET_CHAIN: return cmd_get_chain;
	case WDP_CMD_STORE_CHAIN: return cmd_store_chain;
	case WDP_CMD_STORE_FACTORY_DATA: return cmd_store_factory_data;
	case WDP_CMD_STORE_SECRET: return cmd_store_secret;
	case WDP_CMD_FW_BEGIN: return cmd_fw_begin;
	case WDP_CMD_FW_CHUNK: return cmd_fw_chunk;
	case WDP_CMD_FW_END: return cmd_fw_end;
	case WDP_CMD_BURN_OTP: return cmd_burn_otp;
	case WDP_CMD_LOCK: return cmd_lock;
	case WDP_CMD_DEBUG_CHALLENGE: return cmd_debug_challenge;
	case WDP_CMD_DEBUG_UNLOCK: return cmd_debug_unlock;
	case WDP_CMD_DEBUG_LOCK: return cmd_debug_lock;
	default: return NULL;
	}
}

/* ---------------------------------------------------------------------------------------
 * Frames and sessions.
 */

/* Encode a response (status, TLVs already in ctx->payload or a DETAIL) into out. */
static void encode_reply(struct wdev_ctx *c, int err, uint32_t seq, size_t tlv_len, const struct reply *r,
			 uint8_t *out, size_t cap, size_t *ret_len)
{
	size_t len = tlv_len;

	if (err) {
		struct wdp_tlv_writer w;
		const char *d = r && r->detail ? r->detail : wdp_status_name((unsigned)-err);
		size_t dn = strlen(d);

		wdp_tlv_init(&w, c->payload, sizeof c->payload);
		wdp_tlv_put(&w, WDP_T_DETAIL, d, dn > WDP_DETAIL_MAX ? WDP_DETAIL_MAX : dn);
		if (wdp_tlv_finish(&w, &len) != 0)
			len = 0;
	}
	if (wdp_frame_encode((uint16_t)-err, seq, c->payload, len, out, cap, ret_len) != 0)
		*ret_len = 0;
}

/* Tell the PAL whether the debug port is open, when that changed (or was never said). */
static void dbg_port_sync(struct wdev_ctx *c)
{
	const uint8_t open = (uint8_t)(!is_locked(c) || dbg_allows(c, WDP_DBG_PERM_DEBUG));

	if (!c->pal.debug_port || (c->dbg.port_known && c->dbg.port_open == open))
		return;
	c->dbg.port_known = 1;
	c->dbg.port_open = open;
	c->pal.debug_port(c->pal.ctx, open);
}

static void handle_frame_inner(struct wdev_ctx *c, const struct wdp_frame *f, uint8_t *out, size_t cap,
			       size_t *ret_len);

/* Handle one whole, CRC-checked frame; the response goes to out. An unlock whose
 * session ran out is closed first; the debug port follows the result. */
static void handle_frame(struct wdev_ctx *c, const struct wdp_frame *f, uint8_t *out, size_t cap, size_t *ret_len)
{
	dbg_expire(c);
	dbg_port_sync(c);
	handle_frame_inner(c, f, out, cap, ret_len);
	dbg_port_sync(c);
}

static void handle_frame_inner(struct wdev_ctx *c, const struct wdp_frame *f, uint8_t *out, size_t cap, size_t *ret_len)
{
	const uint32_t crc = wdp_get_u32(f->payload + f->len);
	struct wdp_tlv_writer w;
	struct reply r;
	cmd_fn fn;
	size_t tlv_len = 0;
	int err;

	r.detail = NULL;
	r.buf[0] = '\0';
	if (f->code != WDP_CMD_DISCOVER) {
		if (!c->have_session) {
			r.detail = "no session: DISCOVER first";
			encode_reply(c, WDEV_E_SEQUENCE, f->seq, 0, &r, out, cap, ret_len);
			return;
		}
		if (f->seq == c->last_seq) {
			if (f->code == c->last_code && f->len == c->last_len && crc == c->last_crc) {
				memcpy(out, c->resp, c->resp_len); /* retransmission: not executed again */
				*ret_len = c->resp_len;
				return;
			}
			r.detail = "seq reused for a different request";
			encode_reply(c, WDEV_E_SEQUENCE, f->seq, 0, &r, out, cap, ret_len);
			return;
		}
		if (f->seq != c->last_seq + 1u) {
			r.detail = "seq is not last + 1";
			encode_reply(c, WDEV_E_SEQUENCE, f->seq, 0, &r, out, cap, ret_len);
			return;
		}
	}
	fn = find_cmd(f->code);
	wdp_tlv_init(&w, c->payload, sizeof c->payload);
	if (c->broken) {
		r.detail = "storage is unusable";
		err = WDEV_E_STORAGE;
	} else if (!fn) {
		err = WDEV_E_UNKNOWN_COMMAND;
	} else {
		err = fn(c, f, &w, &r);
		if (!err && wdp_tlv_finish(&w, &tlv_len) != 0)
			err = WDEV_E_CRYPTO; /* cannot happen: responses fit by construction */
	}
	rng_end_command(c);
	if (f->code == WDP_CMD_DISCOVER && err) {
		/* a refused DISCOVER starts no session */
		encode_reply(c, err, f->seq, 0, &r, out, cap, ret_len);
		return;
	}
	encode_reply(c, err, f->seq, tlv_len, &r, c->resp, sizeof c->resp, &c->resp_len);
	c->have_session = 1;
	c->last_seq = f->seq;
	c->last_code = f->code;
	c->last_len = f->len;
	c->last_crc = crc;
	memcpy(out, c->resp, c->resp_len);
	*ret_len = c->resp_len;
}

int wdev_process(struct wdev_ctx *ctx, const uint8_t *in, size_t n, size_t *ret_used, uint8_t *out, size_t cap,
		 size_t *ret_out_len)
{
	size_t used = 0;

	if (!ctx || !ctx->ready || (!in && n) || !ret_used || !out || !ret_out_len)
		return WDEV_E_MALFORMED;
	if (cap < WDP_FRAME_MAX)
		return WDEV_E_TOO_BIG;
	*ret_out_len = 0;
	while (used < n) {
		struct wdp_frame f;
		size_t u = 0;
		int ev = wdp_rx_feed(&ctx->rx, in + used, n - used, &u, &f);

		used += u;
		if (ev == WDP_RX_FRAME) {
			handle_frame(ctx, &f, out, cap, ret_out_len);
			break;
		}
		if (ev == WDP_RX_INTEGRITY || ev == WDP_RX_TOO_BIG) {
			struct reply r;
			r.detail = ev == WDP_RX_INTEGRITY ? "CRC mismatch" : "frame length above 4096";
			encode_reply(ctx, ev == WDP_RX_INTEGRITY ? WDEV_E_INTEGRITY : WDEV_E_TOO_BIG, 0, 0, &r, out,
				     cap, ret_out_len);
			break;
		}
		if (u == 0)
			break; /* cannot happen: MORE consumes everything */
	}
	*ret_used = used;
	return 0;
}

void wdev_link_reset(struct wdev_ctx *ctx)
{
	if (!ctx)
		return;
	wdp_rx_init(&ctx->rx);
	ctx->have_session = 0;
	ctx->resp_len = 0;
}

int wdev_init(struct wdev_ctx *ctx, const struct wdev_pal *pal, const char *family)
{
	size_t flen;
	int err;

	if (!ctx || !pal || !family || !pal->rng || !pal->time || !pal->otp_read || !pal->otp_write ||
	    !pal->flash_read || !pal->flash_write || !pal->commit)
		return WDEV_E_MALFORMED;
	flen = strlen(family);
	if (flen < 1 || flen > WDEV_FAMILY_MAX)
		return WDEV_E_MALFORMED;
	memset(ctx, 0, sizeof *ctx);
	ctx->pal = *pal;
	memcpy(ctx->family, family, flen);
	ctx->family_len = (uint8_t)flen;
	mbedtls_sha256_init(&ctx->fw.sha);
	wdp_rx_init(&ctx->rx);
	err = load_state(ctx);
	if (!err && all_zero(ctx->otp + WDEV_OTP_UID, WDP_UID_LEN))
		err = WDEV_E_STORAGE;
	if (err) {
		writ_memzero(ctx, sizeof *ctx);
		return err;
	}
	ctx->ready = 1;
	return 0;
}

void wdev_free(struct wdev_ctx *ctx)
{
	if (!ctx)
		return;
	mbedtls_sha256_free(&ctx->fw.sha);
	writ_memzero(ctx, sizeof *ctx);
}

int wdev_info(const struct wdev_ctx *ctx, struct wdev_info *ret)
{
	unsigned k = 0;

	if (!ctx || !ctx->ready || !ret)
		return WDEV_E_MALFORMED;
	memset(ret, 0, sizeof *ret);
	memcpy(ret->uid, ctx->otp + WDEV_OTP_UID, WDP_UID_LEN);
	ret->lifecycle = lifecycle(ctx);
	ret->flags = state_flags(ctx);
	ret->fw_version = ctx->st.have_fw ? ctx->st.fw_version : 0;
	ret->fw_size = ctx->st.have_fw ? ctx->st.fw_size : 0;
	for (unsigned i = 0; i < WDEV_MAX_SECRETS; i++) {
		const struct wdev_secret_slot *s = &ctx->st.secrets[i];
		if (!s->label_len)
			continue;
		memcpy(ret->labels[k], s->label, s->label_len);
		ret->labels[k][s->label_len] = '\0';
		k++;
	}
	ret->n_labels = k;
	ret->debug_seconds_left = dbg_seconds_left(ctx);
	ret->debug_unlocked = ret->debug_seconds_left != 0;
	if (ret->debug_unlocked)
		memcpy(ret->debug_perms, ctx->dbg.perms, WDP_DBG_PERMS_LEN);
	ret->debug_key_gen = ctx->st.debug_key_gen;
	return 0;
}
