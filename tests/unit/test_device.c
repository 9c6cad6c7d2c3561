/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libwrit-device driven through an in-memory PAL with frames built by the wdp codec,
 * and OpenSSL on the host side as the independent implementation (device/devsim/
 * hostsim.c): it issues a DAC for the chip's CSR as a PAI, checks the CSR and the
 * ENC_BINDING, wraps secrets and signs firmware. Every command's happy path; every
 * malformed, truncated, oversized, out-of-order and replayed request with its status,
 * and no change to storage (byte snapshots of the PAL before and after); RNG health
 * failures; storage failures; LOCK and everything refused after it; GET_CSR (the same key
 * again, for a station that resumes a chip). Secure debug (test_debug_*, run with the
 * argument "debug"): unlock, lock, reset and session end, and each refusal on its own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/wdp.h"
#include "hostsim.h"
#include "mempal.h"
#include "wdev.h"

struct resp {
	uint16_t status;
	uint32_t seq;
	size_t len;
	uint8_t payload[WDP_PAYLOAD_MAX];
	size_t raw_len;
	uint8_t raw[WDP_FRAME_MAX];
};

struct fx {
	struct mempal m;
	struct wdev_pal pal;
	struct wdev_ctx dev;
	uint32_t seq;
	uint8_t uid[16];
	uint8_t csr[WDP_CSR_MAX];
	size_t csr_len;
	uint8_t att_pub[65], enc_pub[65], binding[72];
	size_t blen;
	EVP_PKEY *pai_key, *sb_key;
	uint8_t pai[WDP_CERT_MAX], dac[WDP_CERT_MAX];
	size_t pai_len, dac_len;
	uint8_t sb_pub[65], sb_hash[32], dbg_hash[32];
	struct resp r;
};

static const uint8_t test_uid[16] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
				      0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10 };

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);

	assert_non_null(f);
	memcpy(f->uid, test_uid, 16);
	assert_int_equal(mempal_init(&f->m, f->uid), 0);
	f->m.rng_mode = MEMPAL_RNG_DETERMINISTIC;
	f->m.now = 1700000000;
	mempal_bind(&f->m, &f->pal);
	assert_int_equal(wdev_init(&f->dev, &f->pal, "writ-test"), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	wdev_free(&f->dev);
	mempal_free(&f->m);
	EVP_PKEY_free(f->pai_key);
	EVP_PKEY_free(f->sb_key);
	free(f);
	return 0;
}

/* Send raw bytes; collect the one response they produce (0 if none). */
static int send_raw(struct fx *f, const uint8_t *in, size_t n, struct resp *r)
{
	uint8_t out[WDP_FRAME_MAX];
	size_t got = 0;

	r->raw_len = 0;
	while (n > 0) {
		size_t used = 0, ol = 0;
		assert_int_equal(wdev_process(&f->dev, in, n, &used, out, sizeof out, &ol), 0);
		assert_true(used <= n);
		in += used;
		n -= used;
		if (ol) {
			struct wdp_frame fr;
			assert_int_equal(got, 0); /* one response per test exchange */
			assert_int_equal(wdp_frame_decode(out, ol, &fr), 0);
			r->status = fr.code;
			r->seq = fr.seq;
			r->len = fr.len;
			memcpy(r->payload, fr.payload, fr.len);
			memcpy(r->raw, out, ol);
			r->raw_len = ol;
			got = 1;
		}
		if (!used && !ol)
			break;
	}
	return (int)got;
}

static int xfer_seq(struct fx *f, uint16_t code, uint32_t seq, const uint8_t *pl, size_t len)
{
	uint8_t fr[WDP_FRAME_MAX];
	size_t n;

	assert_int_equal(wdp_frame_encode(code, seq, pl, len, fr, sizeof fr, &n), 0);
	assert_int_equal(send_raw(f, fr, n, &f->r), 1);
	assert_int_equal(f->r.seq, seq);
	return f->r.status;
}

/* Next request in the session. */
static int xfer(struct fx *f, uint16_t code, const uint8_t *pl, size_t len)
{
	return xfer_seq(f, code, ++f->seq, pl, len);
}

/* Find TLV `type` in the last response. */
static const uint8_t *rtlv(struct fx *f, uint16_t type, size_t *ret_len)
{
	size_t off = 0;

	while (off + 4 <= f->r.len) {
		uint16_t t = wdp_get_u16(f->r.payload + off), l = wdp_get_u16(f->r.payload + off + 2);
		assert_true(off + 4 + l <= f->r.len);
		if (t == type) {
			*ret_len = l;
			return f->r.payload + off + 4;
		}
		off += 4u + l;
	}
	return NULL;
}

/* A refused request: expect `want`, a DETAIL, and byte-identical storage. */
static void refuse(struct fx *f, uint16_t code, const uint8_t *pl, size_t len, int want)
{
	uint8_t *a, *b;
	size_t an, bn, dl;
	unsigned commits = f->m.commits;

	assert_int_equal(mempal_snapshot(&f->m, &a, &an), 0);
	assert_int_equal(xfer(f, code, pl, len), want);
	assert_non_null(rtlv(f, WDP_T_DETAIL, &dl));
	assert_int_equal(mempal_snapshot(&f->m, &b, &bn), 0);
	assert_int_equal(an, bn);
	assert_memory_equal(a, b, an);
	assert_int_equal(f->m.commits, commits);
	free(a);
	free(b);
}

/* TLV payload builder. */
struct pl {
	uint8_t b[WDP_PAYLOAD_MAX];
	struct wdp_tlv_writer w;
	size_t len;
};
static void pl_init(struct pl *p)
{
	wdp_tlv_init(&p->w, p->b, sizeof p->b);
}
static size_t pl_done(struct pl *p)
{
	assert_int_equal(wdp_tlv_finish(&p->w, &p->len), 0);
	return p->len;
}

static uint32_t status_flags(struct fx *f)
{
	size_t n;
	const uint8_t *v;

	assert_int_equal(xfer(f, WDP_CMD_STATUS, NULL, 0), WDP_S_OK);
	v = rtlv(f, WDP_T_STATE, &n);
	assert_non_null(v);
	assert_int_equal(n, 4);
	return wdp_get_u32(v);
}

/* ---- flow steps (each checks its own happy path) ---- */

static void do_discover(struct fx *f)
{
	const uint8_t *v;
	size_t n;

	f->seq = 1000;
	assert_int_equal(xfer_seq(f, WDP_CMD_DISCOVER, f->seq, NULL, 0), WDP_S_OK);
	assert_non_null(v = rtlv(f, WDP_T_PROTO_VERSION, &n));
	assert_int_equal(wdp_get_u16(v), 1);
	assert_non_null(v = rtlv(f, WDP_T_UID, &n));
	assert_int_equal(n, 16);
	assert_memory_equal(v, f->uid, 16);
	assert_non_null(v = rtlv(f, WDP_T_CHIP_FAMILY, &n));
	assert_int_equal(n, 9);
	assert_memory_equal(v, "writ-test", 9);
	assert_non_null(v = rtlv(f, WDP_T_MAX_PAYLOAD, &n));
	assert_int_equal(wdp_get_u32(v), WDP_PAYLOAD_MAX);
	assert_non_null(rtlv(f, WDP_T_LIFECYCLE, &n));
	assert_non_null(rtlv(f, WDP_T_STATE, &n));
}

static void do_genkeys(struct fx *f)
{
	const uint8_t *v;
	size_t n;

	assert_int_equal(xfer(f, WDP_CMD_GENERATE_KEYS, NULL, 0), WDP_S_OK);
	assert_non_null(v = rtlv(f, WDP_T_CSR, &n));
	memcpy(f->csr, v, n);
	f->csr_len = n;
	assert_non_null(v = rtlv(f, WDP_T_ENC_PUB, &n));
	assert_int_equal(n, 65);
	memcpy(f->enc_pub, v, 65);
	assert_non_null(v = rtlv(f, WDP_T_ENC_BINDING, &n));
	memcpy(f->binding, v, n);
	f->blen = n;
	/* OpenSSL: proof of possession, CN = UID hex, the binding under the CSR's key */
	assert_int_equal(hs_check_csr(f->csr, f->csr_len, f->uid, f->att_pub), 0);
	assert_int_equal(hs_check_binding(f->att_pub, f->uid, f->enc_pub, f->binding, f->blen), 0);
	assert_memory_not_equal(f->att_pub, f->enc_pub, 65);
}

static void make_pai(struct fx *f)
{
	if (!f->pai_key) {
		f->pai_key = hs_key_new(NULL);
		assert_non_null(f->pai_key);
		assert_int_equal(hs_make_pai(f->pai_key, "writ test PAI", f->pai, sizeof f->pai, &f->pai_len), 0);
	}
}

static size_t chain_payload(struct pl *p, const uint8_t *dac, size_t dl, const uint8_t *pai, size_t pl_)
{
	pl_init(p);
	wdp_tlv_put(&p->w, WDP_T_DAC, dac, dl);
	wdp_tlv_put(&p->w, WDP_T_PAI, pai, pl_);
	return pl_done(p);
}

static void do_chain(struct fx *f)
{
	struct pl p;

	make_pai(f);
	assert_int_equal(hs_issue_dac(f->pai_key, NULL, f->pai, f->pai_len, f->csr, f->csr_len, f->dac, sizeof f->dac,
				      &f->dac_len),
			 0);
	assert_int_equal(xfer(f, WDP_CMD_STORE_CHAIN, p.b, chain_payload(&p, f->dac, f->dac_len, f->pai, f->pai_len)),
			 WDP_S_OK);
}

static void do_fd(struct fx *f)
{
	struct pl p;
	uint8_t blob[WDP_FACTORY_DATA_MAX];
	size_t n;

	assert_int_equal(hs_make_wfd(f->dac, f->dac_len, f->pai, f->pai_len, blob, sizeof blob, &n), 0);
	pl_init(&p);
	wdp_tlv_put(&p.w, WDP_T_FACTORY_DATA, blob, n);
	assert_int_equal(xfer(f, WDP_CMD_STORE_FACTORY_DATA, p.b, pl_done(&p)), WDP_S_OK);
}

static size_t otp_payload(struct pl *p, const uint8_t sb[32], const uint8_t dbg[32])
{
	pl_init(p);
	wdp_tlv_put(&p->w, WDP_T_SB_KEY_HASH, sb, 32);
	wdp_tlv_put(&p->w, WDP_T_DEBUG_ROOT_HASH, dbg, 32);
	return pl_done(p);
}

static void do_otp(struct fx *f)
{
	struct pl p;

	if (!f->sb_key) {
		f->sb_key = hs_key_new(f->sb_pub);
		assert_non_null(f->sb_key);
		assert_int_equal(hs_sha256(f->sb_pub, 65, f->sb_hash), 0);
		memset(f->dbg_hash, 0x42, 32);
	}
	assert_int_equal(xfer(f, WDP_CMD_BURN_OTP, p.b, otp_payload(&p, f->sb_hash, f->dbg_hash)), WDP_S_OK);
}

static size_t begin_payload(struct pl *p, uint32_t version, uint32_t size, const uint8_t pub[65])
{
	pl_init(p);
	wdp_tlv_put_u32(&p->w, WDP_T_FW_VERSION, version);
	wdp_tlv_put_u32(&p->w, WDP_T_FW_SIZE, size);
	wdp_tlv_put(&p->w, WDP_T_SB_PUBKEY, pub, 65);
	return pl_done(p);
}

static size_t chunk_payload(struct pl *p, uint32_t off, const uint8_t *d, size_t n)
{
	pl_init(p);
	wdp_tlv_put_u32(&p->w, WDP_T_FW_OFFSET, off);
	wdp_tlv_put(&p->w, WDP_T_FW_DATA, d, n);
	return pl_done(p);
}

static size_t end_payload(struct pl *p, const uint8_t sig[64])
{
	pl_init(p);
	wdp_tlv_put(&p->w, WDP_T_FW_SIGNATURE, sig, 64);
	return pl_done(p);
}

static uint8_t *make_image(size_t n, uint8_t salt)
{
	uint8_t *img = malloc(n);

	assert_non_null(img);
	for (size_t i = 0; i < n; i++)
		img[i] = (uint8_t)(i * 31u + salt);
	return img;
}

static void send_image(struct fx *f, const uint8_t *img, size_t n)
{
	struct pl p;

	for (size_t off = 0; off < n; off += WDP_FW_CHUNK_MAX) {
		size_t k = n - off < WDP_FW_CHUNK_MAX ? n - off : WDP_FW_CHUNK_MAX;
		assert_int_equal(xfer(f, WDP_CMD_FW_CHUNK, p.b, chunk_payload(&p, (uint32_t)off, img + off, k)), WDP_S_OK);
	}
}

static void do_fw(struct fx *f, uint32_t version, size_t n)
{
	struct pl p;
	uint8_t sig[64];
	uint8_t *img = make_image(n, (uint8_t)version);
	const uint8_t *v;
	size_t vl;

	assert_int_equal(hs_sign_fw(f->sb_key, version, img, n, sig), 0);
	assert_int_equal(xfer(f, WDP_CMD_FW_BEGIN, p.b, begin_payload(&p, version, (uint32_t)n, f->sb_pub)), WDP_S_OK);
	send_image(f, img, n);
	assert_int_equal(xfer(f, WDP_CMD_FW_END, p.b, end_payload(&p, sig)), WDP_S_OK);
	assert_non_null(v = rtlv(f, WDP_T_FW_VERSION, &vl));
	assert_int_equal(wdp_get_u32(v), version);
	free(img);
}

static void provision_all(struct fx *f)
{
	do_discover(f);
	do_genkeys(f);
	do_chain(f);
	do_fd(f);
	do_otp(f);
	do_fw(f, 1, 10000);
}

/* ---- tests ---- */

static void test_discover_status(void **state)
{
	struct fx *f = *state;
	const uint8_t *v;
	size_t n;

	do_discover(f);
	assert_non_null(v = rtlv(f, WDP_T_LIFECYCLE, &n));
	assert_int_equal(v[0], WDP_LC_BLANK);
	assert_non_null(v = rtlv(f, WDP_T_STATE, &n));
	assert_int_equal(wdp_get_u32(v), WDP_F_DEBUG);
	assert_int_equal(xfer(f, WDP_CMD_STATUS, NULL, 0), WDP_S_OK);
	assert_non_null(v = rtlv(f, WDP_T_UID, &n));
	assert_memory_equal(v, f->uid, 16);
	assert_non_null(v = rtlv(f, WDP_T_FW_VERSION, &n));
	assert_int_equal(wdp_get_u32(v), 0);
	assert_int_equal(f->m.commits, 0); /* reading commits nothing */
}

static void test_sequence(void **state)
{
	struct fx *f = *state;
	uint8_t raw[WDP_FRAME_MAX], csr1[WDP_CSR_MAX];
	size_t raw_len, csr1_len, n;
	unsigned commits;

	/* Before DISCOVER there is no session. */
	f->seq = 0;
	refuse(f, WDP_CMD_STATUS, NULL, 0, WDP_S_SEQUENCE);
	do_discover(f);
	/* GENERATE_KEYS resent with the same seq: the cached answer, not new keys. */
	do_genkeys(f);
	memcpy(raw, f->r.raw, f->r.raw_len);
	raw_len = f->r.raw_len;
	memcpy(csr1, f->csr, f->csr_len);
	csr1_len = f->csr_len;
	commits = f->m.commits;
	assert_int_equal(xfer_seq(f, WDP_CMD_GENERATE_KEYS, f->seq, NULL, 0), WDP_S_OK);
	assert_int_equal(f->r.raw_len, raw_len);
	assert_memory_equal(f->r.raw, raw, raw_len);
	assert_int_equal(f->m.commits, commits);
	/* The same seq with a different request is not a retransmission. */
	{
		uint8_t *a, *b;
		size_t an, bn;
		assert_int_equal(mempal_snapshot(&f->m, &a, &an), 0);
		assert_int_equal(xfer_seq(f, WDP_CMD_STATUS, f->seq, NULL, 0), WDP_S_SEQUENCE);
		/* skipping ahead and going back */
		assert_int_equal(xfer_seq(f, WDP_CMD_GENERATE_KEYS, f->seq + 2, NULL, 0), WDP_S_SEQUENCE);
		assert_int_equal(xfer_seq(f, WDP_CMD_GENERATE_KEYS, f->seq - 1, NULL, 0), WDP_S_SEQUENCE);
		assert_int_equal(xfer_seq(f, WDP_CMD_GENERATE_KEYS, 0, NULL, 0), WDP_S_SEQUENCE);
		assert_int_equal(mempal_snapshot(&f->m, &b, &bn), 0);
		assert_int_equal(an, bn);
		assert_memory_equal(a, b, an);
		free(a);
		free(b);
	}
	/* The cached answer is still the GENERATE_KEYS one. */
	assert_int_equal(xfer_seq(f, WDP_CMD_GENERATE_KEYS, f->seq, NULL, 0), WDP_S_OK);
	assert_memory_equal(f->r.raw, raw, raw_len);
	/* A new GENERATE_KEYS replaces the keys. */
	do_genkeys(f);
	assert_false(f->csr_len == csr1_len && memcmp(f->csr, csr1, csr1_len) == 0);
	/* DISCOVER at any seq starts a new session there. */
	assert_int_equal(xfer_seq(f, WDP_CMD_DISCOVER, 7, NULL, 0), WDP_S_OK);
	f->seq = 7;
	assert_int_equal(xfer(f, WDP_CMD_STATUS, NULL, 0), WDP_S_OK);
	/* seq wraps around */
	assert_int_equal(xfer_seq(f, WDP_CMD_DISCOVER, 0xFFFFFFFFu, NULL, 0), WDP_S_OK);
	assert_int_equal(xfer_seq(f, WDP_CMD_STATUS, 0, NULL, 0), WDP_S_OK);
	(void)n;
	/* A link reset drops the session. */
	wdev_link_reset(&f->dev);
	f->seq = 0;
	refuse(f, WDP_CMD_STATUS, NULL, 0, WDP_S_SEQUENCE);
}

static void test_generate_keys(void **state)
{
	struct fx *f = *state;
	const uint8_t *v;
	size_t n;
	struct wdev_info info;

	do_discover(f);
	refuse(f, WDP_CMD_GET_ENC_KEY, NULL, 0, WDP_S_STATE);
	do_genkeys(f);
	assert_int_equal(status_flags(f), WDP_F_KEYS | WDP_F_DEBUG);
	assert_int_equal(xfer(f, WDP_CMD_GET_ENC_KEY, NULL, 0), WDP_S_OK);
	assert_non_null(v = rtlv(f, WDP_T_ENC_PUB, &n));
	assert_memory_equal(v, f->enc_pub, 65);
	assert_non_null(v = rtlv(f, WDP_T_ENC_BINDING, &n));
	assert_int_equal(n, f->blen);
	assert_memory_equal(v, f->binding, n);
	assert_int_equal(wdev_info(&f->dev, &info), 0);
	assert_int_equal(info.lifecycle, WDP_LC_PROVISIONING);
	/* A tampered binding or another UID does not verify (the check is real). */
	f->binding[f->blen - 1] ^= 1;
	assert_int_not_equal(hs_check_binding(f->att_pub, f->uid, f->enc_pub, f->binding, f->blen), 0);
	f->binding[f->blen - 1] ^= 1;
	f->uid[0] ^= 1;
	assert_int_not_equal(hs_check_binding(f->att_pub, f->uid, f->enc_pub, f->binding, f->blen), 0);
	f->uid[0] ^= 1;
	/* Keys survive a restart; no private key is in any response (checked by type). */
	wdev_free(&f->dev);
	assert_int_equal(wdev_init(&f->dev, &f->pal, "writ-test"), 0);
	do_discover(f);
	assert_int_equal(xfer(f, WDP_CMD_GET_ENC_KEY, NULL, 0), WDP_S_OK);
	assert_non_null(v = rtlv(f, WDP_T_ENC_PUB, &n));
	assert_memory_equal(v, f->enc_pub, 65);
}

/* GET_CSR: a fresh CSR over the key GENERATE_KEYS made (OpenSSL reads the key out of
 * it), the same ENC_PUB and binding; STATE without keys and once a chain is stored;
 * never a change to storage. */
static size_t snap(struct fx *f, uint8_t **ret)
{
	size_t n;

	assert_int_equal(mempal_snapshot(&f->m, ret, &n), 0);
	return n;
}

/* GET_CHAIN: STATE without a chain; afterwards the stored DAC and PAI byte for byte,
 * also after LOCK; it takes no TLVs and writes nothing. */
static void test_get_chain(void **state)
{
	struct fx *f = *state;
	const uint8_t *v;
	size_t n;
	unsigned commits;
	struct pl p;

	do_discover(f);
	refuse(f, WDP_CMD_GET_CHAIN, NULL, 0, WDP_S_STATE);
	do_genkeys(f);
	refuse(f, WDP_CMD_GET_CHAIN, NULL, 0, WDP_S_STATE);
	do_chain(f);
	for (int round = 0; round < 2; round++) {
		commits = f->m.commits;
		assert_int_equal(xfer(f, WDP_CMD_GET_CHAIN, NULL, 0), WDP_S_OK);
		assert_int_equal(f->m.commits, commits);
		assert_non_null(v = rtlv(f, WDP_T_DAC, &n));
		assert_int_equal(n, f->dac_len);
		assert_memory_equal(v, f->dac, n);
		assert_non_null(v = rtlv(f, WDP_T_PAI, &n));
		assert_int_equal(n, f->pai_len);
		assert_memory_equal(v, f->pai, n);
		if (round == 0) {
			do_fd(f);
			do_otp(f);
			do_fw(f, 1, 5000);
			assert_int_equal(xfer(f, WDP_CMD_LOCK, NULL, 0), WDP_S_OK);
		}
	}
	pl_init(&p);
	wdp_tlv_put(&p.w, WDP_T_UID, f->uid, 16);
	refuse(f, WDP_CMD_GET_CHAIN, p.b, pl_done(&p), WDP_S_MALFORMED);
}

static void test_get_csr(void **state)
{
	struct fx *f = *state;
	uint8_t pub[65], *a, *b;
	size_t n, an, bn;
	const uint8_t *v;
	unsigned commits;
	struct pl p;

	do_discover(f);
	refuse(f, WDP_CMD_GET_CSR, NULL, 0, WDP_S_STATE); /* no keys yet */
	do_genkeys(f);
	for (int round = 0; round < 2; round++) {
		commits = f->m.commits;
		an = snap(f, &a);
		assert_int_equal(xfer(f, WDP_CMD_GET_CSR, NULL, 0), WDP_S_OK);
		bn = snap(f, &b);
		assert_int_equal(an, bn);
		assert_memory_equal(a, b, an); /* nothing written */
		assert_int_equal(f->m.commits, commits);
		free(a);
		free(b);
		assert_non_null(v = rtlv(f, WDP_T_CSR, &n));
		assert_true(n <= WDP_CSR_MAX);
		/* OpenSSL: proof of possession, CN = UID, and the key is GENERATE_KEYS' key */
		memset(pub, 0, sizeof pub);
		assert_int_equal(hs_check_csr(v, n, f->uid, pub), 0);
		assert_memory_equal(pub, f->att_pub, 65);
		/* (signed now, the chip stores no CSR; with RFC 6979 ECDSA the bytes may equal
		 * GENERATE_KEYS' CSR, so only the key is compared) */
		assert_non_null(v = rtlv(f, WDP_T_ENC_PUB, &n));
		assert_int_equal(n, 65);
		assert_memory_equal(v, f->enc_pub, 65);
		assert_non_null(v = rtlv(f, WDP_T_ENC_BINDING, &n));
		assert_int_equal(n, f->blen);
		assert_memory_equal(v, f->binding, n);
		assert_int_equal(status_flags(f), WDP_F_KEYS | WDP_F_DEBUG);
		/* after a restart (a new station finds the chip as it was) the key is the same */
		wdev_free(&f->dev);
		assert_int_equal(wdev_init(&f->dev, &f->pal, "writ-test"), 0);
		do_discover(f);
	}
	/* takes no TLVs */
	pl_init(&p);
	wdp_tlv_put(&p.w, WDP_T_UID, f->uid, 16);
	refuse(f, WDP_CMD_GET_CSR, p.b, pl_done(&p), WDP_S_MALFORMED);
	/* a DAC for the GET_CSR's CSR is storable: same key */
	assert_int_equal(xfer(f, WDP_CMD_GET_CSR, NULL, 0), WDP_S_OK);
	assert_non_null(v = rtlv(f, WDP_T_CSR, &n));
	memcpy(f->csr, v, n);
	f->csr_len = n;
	do_chain(f);
	/* with a chain stored: STATE, nothing changes */
	refuse(f, WDP_CMD_GET_CSR, NULL, 0, WDP_S_STATE);
	do_fd(f);
	do_otp(f);
	do_fw(f, 1, 5000);
	assert_int_equal(xfer(f, WDP_CMD_LOCK, NULL, 0), WDP_S_OK);
	refuse(f, WDP_CMD_GET_CSR, NULL, 0, WDP_S_STATE); /* locked: still STATE, not a write */
}

static void test_chain(void **state)
{
	struct fx *f = *state;
	struct pl p;
	uint8_t old_csr[WDP_CSR_MAX], other_dac[WDP_CERT_MAX], junk[100];
	size_t old_len, other_len;
	EVP_PKEY *rogue;

	do_discover(f);
	make_pai(f);
	/* STORE_CHAIN before keys */
	refuse(f, WDP_CMD_STORE_CHAIN, p.b, chain_payload(&p, f->pai, f->pai_len, f->pai, f->pai_len), WDP_S_STATE);
	do_genkeys(f);
	memcpy(old_csr, f->csr, f->csr_len);
	old_len = f->csr_len;
	do_genkeys(f); /* replaces the keys: a DAC for the old CSR no longer matches */
	assert_int_equal(hs_issue_dac(f->pai_key, NULL, f->pai, f->pai_len, old_csr, old_len, other_dac,
				      sizeof other_dac, &other_len),
			 0);
	refuse(f, WDP_CMD_STORE_CHAIN, p.b, chain_payload(&p, other_dac, other_len, f->pai, f->pai_len),
	       WDP_S_MISMATCH);
	/* A DAC not signed by the PAI's key */
	rogue = hs_key_new(NULL);
	assert_int_equal(hs_issue_dac(f->pai_key, rogue, f->pai, f->pai_len, f->csr, f->csr_len, other_dac,
				      sizeof other_dac, &other_len),
			 0);
	EVP_PKEY_free(rogue);
	refuse(f, WDP_CMD_STORE_CHAIN, p.b, chain_payload(&p, other_dac, other_len, f->pai, f->pai_len),
	       WDP_S_VERIFY);
	/* Garbage, a truncated DAC, trailing bytes */
	memset(junk, 0x30, sizeof junk);
	refuse(f, WDP_CMD_STORE_CHAIN, p.b, chain_payload(&p, junk, sizeof junk, f->pai, f->pai_len),
	       WDP_S_MALFORMED);
	assert_int_equal(hs_issue_dac(f->pai_key, NULL, f->pai, f->pai_len, f->csr, f->csr_len, f->dac, sizeof f->dac,
				      &f->dac_len),
			 0);
	refuse(f, WDP_CMD_STORE_CHAIN, p.b, chain_payload(&p, f->dac, f->dac_len - 1, f->pai, f->pai_len),
	       WDP_S_MALFORMED);
	memcpy(other_dac, f->dac, f->dac_len);
	other_dac[f->dac_len] = 0;
	refuse(f, WDP_CMD_STORE_CHAIN, p.b, chain_payload(&p, other_dac, f->dac_len + 1, f->pai, f->pai_len),
	       WDP_S_MALFORMED);
	refuse(f, WDP_CMD_STORE_CHAIN, p.b, chain_payload(&p, f->dac, f->dac_len, junk, sizeof junk),
	       WDP_S_MALFORMED);
	/* The DAC's signature tampered */
	memcpy(other_dac, f->dac, f->dac_len);
	other_dac[f->dac_len - 3] ^= 0x01;
	refuse(f, WDP_CMD_STORE_CHAIN, p.b, chain_payload(&p, other_dac, f->dac_len, f->pai, f->pai_len),
	       WDP_S_VERIFY);
	/* The real one, then the same again (OK), then another (STATE) */
	assert_int_equal(xfer(f, WDP_CMD_STORE_CHAIN, p.b, chain_payload(&p, f->dac, f->dac_len, f->pai, f->pai_len)),
			 WDP_S_OK);
	assert_int_equal(status_flags(f), WDP_F_KEYS | WDP_F_CHAIN | WDP_F_DEBUG);
	{
		unsigned c = f->m.commits;
		assert_int_equal(
			xfer(f, WDP_CMD_STORE_CHAIN, p.b, chain_payload(&p, f->dac, f->dac_len, f->pai, f->pai_len)),
			WDP_S_OK);
		assert_int_equal(f->m.commits, c);
	}
	assert_int_equal(hs_issue_dac(f->pai_key, NULL, f->pai, f->pai_len, f->csr, f->csr_len, other_dac,
				      sizeof other_dac, &other_len),
			 0); /* same key, new certificate (new signature) */
	refuse(f, WDP_CMD_STORE_CHAIN, p.b, chain_payload(&p, other_dac, other_len, f->pai, f->pai_len), WDP_S_STATE);
	/* GENERATE_KEYS after the chain */
	refuse(f, WDP_CMD_GENERATE_KEYS, NULL, 0, WDP_S_STATE);
}

static void wfd_put_crc(uint8_t *b, size_t n)
{
	wdp_put_u32(b + n - 4, wdp_crc32(0, b, n - 4));
}

static void test_factory_data(void **state)
{
	struct fx *f = *state;
	struct pl p;
	uint8_t blob[WDP_FACTORY_DATA_MAX], bad[WDP_FACTORY_DATA_MAX];
	size_t n;
	const uint8_t *d, *q;
	size_t dl, ql;

	do_discover(f);
	do_genkeys(f);
	make_pai(f);
	assert_int_equal(hs_issue_dac(f->pai_key, NULL, f->pai, f->pai_len, f->csr, f->csr_len, f->dac, sizeof f->dac,
				      &f->dac_len),
			 0);
	assert_int_equal(hs_make_wfd(f->dac, f->dac_len, f->pai, f->pai_len, blob, sizeof blob, &n), 0);
	/* the parser on its own */
	assert_int_equal(wdev_wfd_check(blob, n, &d, &dl, &q, &ql), 0);
	assert_int_equal(dl, f->dac_len);
	assert_memory_equal(d, f->dac, dl);
	assert_int_equal(ql, f->pai_len);
	for (size_t k = 0; k < n; k++) /* every truncation */
		assert_int_equal(wdev_wfd_check(blob, k, NULL, NULL, NULL, NULL), WDEV_E_MALFORMED);
	for (size_t i = 0; i < n * 8; i += 7) { /* bit flips: the CRC catches them */
		memcpy(bad, blob, n);
		bad[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_int_equal(wdev_wfd_check(bad, n, NULL, NULL, NULL, NULL), WDEV_E_MALFORMED);
	}
	/* value checks behind a valid CRC: date, discriminator, iterations */
	{
		static const struct {
			const char *find;
			size_t flen;
			const char *repl;
		} cases[] = {
			{ "2024-02-29", 10, "2023-02-29" }, { "2024-02-29", 10, "2024-13-01" },
			{ "2024-02-29", 10, "2024/02/29" }, { "\x0f\x00", 2, "\x10\x00" },
			{ "\x00\x00\x03\xe8", 4, "\x00\x00\x03\xe7" }, { "SN-0001", 7, "SN-\xff\x30\x30\x31" },
		};
		for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
			uint8_t *hit = NULL;
			memcpy(bad, blob, n);
			for (size_t i = 0; i + cases[c].flen <= n && !hit; i++)
				if (memcmp(bad + i, cases[c].find, cases[c].flen) == 0)
					hit = bad + i;
			assert_non_null(hit);
			memcpy(hit, cases[c].repl, cases[c].flen);
			wfd_put_crc(bad, n);
			assert_int_equal(wdev_wfd_check(bad, n, NULL, NULL, NULL, NULL), WDEV_E_MALFORMED);
		}
		/* the untouched blob with its CRC recomputed still passes */
		memcpy(bad, blob, n);
		wfd_put_crc(bad, n);
		assert_int_equal(wdev_wfd_check(bad, n, NULL, NULL, NULL, NULL), 0);
		/* length field off by one */
		wdp_put_u16(bad + 4, (uint16_t)(wdp_get_u16(bad + 4) + 1));
		wfd_put_crc(bad, n);
		assert_int_equal(wdev_wfd_check(bad, n, NULL, NULL, NULL, NULL), WDEV_E_MALFORMED);
		/* magic */
		memcpy(bad, blob, n);
		bad[3] = '2';
		wfd_put_crc(bad, n);
		assert_int_equal(wdev_wfd_check(bad, n, NULL, NULL, NULL, NULL), WDEV_E_MALFORMED);
		/* a required field missing (drop VENDOR_ID: the first TLV, 6 bytes) */
		memcpy(bad, blob, 6);
		memcpy(bad + 6, blob + 12, n - 12);
		wdp_put_u16(bad + 4, (uint16_t)(n - 16));
		wfd_put_crc(bad, n - 6);
		assert_int_equal(wdev_wfd_check(bad, n - 6, NULL, NULL, NULL, NULL), WDEV_E_MALFORMED);
	}
	/* STORE_FACTORY_DATA before the chain */
	pl_init(&p);
	wdp_tlv_put(&p.w, WDP_T_FACTORY_DATA, blob, n);
	refuse(f, WDP_CMD_STORE_FACTORY_DATA, p.b, pl_done(&p), WDP_S_STATE);
	do_chain(f);
	/* malformed blob */
	memcpy(bad, blob, n);
	bad[10] ^= 1;
	pl_init(&p);
	wdp_tlv_put(&p.w, WDP_T_FACTORY_DATA, bad, n);
	refuse(f, WDP_CMD_STORE_FACTORY_DATA, p.b, pl_done(&p), WDP_S_MALFORMED);
	/* DAC/PAI that are not the stored ones (the PAI in the DAC's place) */
	assert_int_equal(hs_make_wfd(f->pai, f->pai_len, f->pai, f->pai_len, bad, sizeof bad, &dl), 0);
	pl_init(&p);
	wdp_tlv_put(&p.w, WDP_T_FACTORY_DATA, bad, dl);
	refuse(f, WDP_CMD_STORE_FACTORY_DATA, p.b, pl_done(&p), WDP_S_MISMATCH);
	do_fd(f);
	do_fd(f); /* may be replaced until lock */
	assert_int_equal(status_flags(f), WDP_F_KEYS | WDP_F_CHAIN | WDP_F_FACTORY_DATA | WDP_F_DEBUG);
}

static size_t secret_payload(struct pl *p, const char *label, const uint8_t *w, size_t n)
{
	pl_init(p);
	wdp_tlv_put(&p->w, WDP_T_SECRET_LABEL, label, strlen(label));
	wdp_tlv_put(&p->w, WDP_T_WRAPPED, w, n);
	return pl_done(p);
}

static void test_secret(void **state)
{
	struct fx *f = *state;
	struct pl p;
	uint8_t secret[32], w[WDP_WRAP_OVERHEAD + WDP_SECRET_MAX + 1]; /* +1: the oversize case */
	size_t n;
	struct wdev_info info;

	for (size_t i = 0; i < sizeof secret; i++)
		secret[i] = (uint8_t)(0xC0 + i);
	do_discover(f);
	memset(w, 1, sizeof w);
	refuse(f, WDP_CMD_STORE_SECRET, p.b, secret_payload(&p, "wifi", w, 65 + 12 + 16 + 16), WDP_S_STATE);
	do_genkeys(f);
	assert_int_equal(hs_wrap(f->uid, f->enc_pub, "wifi-psk", secret, sizeof secret, w, sizeof w, &n), 0);
	/* wrong label (AAD and info differ), tampered bytes, wrong UID, garbage point */
	refuse(f, WDP_CMD_STORE_SECRET, p.b, secret_payload(&p, "wifi-psx", w, n), WDP_S_DECRYPT);
	for (size_t i = 64; i < n; i += 13) {
		w[i] ^= 0x80;
		refuse(f, WDP_CMD_STORE_SECRET, p.b, secret_payload(&p, "wifi-psk", w, n), WDP_S_DECRYPT);
		w[i] ^= 0x80;
	}
	{
		uint8_t other_uid[16], w2[sizeof w];
		size_t n2;
		memcpy(other_uid, f->uid, 16);
		other_uid[15] ^= 1;
		assert_int_equal(hs_wrap(other_uid, f->enc_pub, "wifi-psk", secret, sizeof secret, w2, sizeof w2, &n2), 0);
		refuse(f, WDP_CMD_STORE_SECRET, p.b, secret_payload(&p, "wifi-psk", w2, n2), WDP_S_DECRYPT);
		memcpy(w2, w, n);
		w2[1] ^= 0x55; /* not on the curve */
		refuse(f, WDP_CMD_STORE_SECRET, p.b, secret_payload(&p, "wifi-psk", w2, n), WDP_S_DECRYPT);
	}
	/* labels: bad characters, too long; WRAPPED too short / long */
	refuse(f, WDP_CMD_STORE_SECRET, p.b, secret_payload(&p, "Wifi", w, n), WDP_S_MALFORMED);
	refuse(f, WDP_CMD_STORE_SECRET, p.b, secret_payload(&p, "wi fi", w, n), WDP_S_MALFORMED);
	refuse(f, WDP_CMD_STORE_SECRET, p.b, secret_payload(&p, "abcdefghijklmnopqrstuvwxyz0123456", w, n),
	       WDP_S_MALFORMED);
	refuse(f, WDP_CMD_STORE_SECRET, p.b, secret_payload(&p, "wifi-psk", w, WDP_WRAP_OVERHEAD + 15),
	       WDP_S_MALFORMED);
	refuse(f, WDP_CMD_STORE_SECRET, p.b, secret_payload(&p, "wifi-psk", w, WDP_WRAP_OVERHEAD + 65),
	       WDP_S_MALFORMED);
	/* accepted; the chip holds exactly the plaintext */
	assert_int_equal(xfer(f, WDP_CMD_STORE_SECRET, p.b, secret_payload(&p, "wifi-psk", w, n)), WDP_S_OK);
	assert_int_equal(f->dev.st.secrets[0].len, sizeof secret);
	assert_memory_equal(f->dev.st.secrets[0].value, secret, sizeof secret);
	assert_true(status_flags(f) & WDP_F_SECRET);
	/* the same label replaces; 4 labels at most; 16- and 64-byte secrets */
	secret[0] ^= 0xFF;
	assert_int_equal(hs_wrap(f->uid, f->enc_pub, "wifi-psk", secret, 16, w, sizeof w, &n), 0);
	assert_int_equal(xfer(f, WDP_CMD_STORE_SECRET, p.b, secret_payload(&p, "wifi-psk", w, n)), WDP_S_OK);
	assert_int_equal(f->dev.st.secrets[0].len, 16);
	assert_memory_equal(f->dev.st.secrets[0].value, secret, 16);
	{
		static const char *const labels[] = { "a", "b-2", "c3" };
		uint8_t big[64];
		memset(big, 0x77, sizeof big);
		for (int i = 0; i < 3; i++) {
			assert_int_equal(hs_wrap(f->uid, f->enc_pub, labels[i], big, sizeof big, w, sizeof w, &n), 0);
			assert_int_equal(xfer(f, WDP_CMD_STORE_SECRET, p.b, secret_payload(&p, labels[i], w, n)), WDP_S_OK);
		}
		assert_int_equal(hs_wrap(f->uid, f->enc_pub, "fifth", big, sizeof big, w, sizeof w, &n), 0);
		refuse(f, WDP_CMD_STORE_SECRET, p.b, secret_payload(&p, "fifth", w, n), WDP_S_STATE);
	}
	assert_int_equal(wdev_info(&f->dev, &info), 0);
	assert_int_equal(info.n_labels, 4);
	assert_string_equal(info.labels[0], "wifi-psk");
	assert_string_equal(info.labels[3], "c3");
}

static void test_otp(void **state)
{
	struct fx *f = *state;
	struct pl p;
	uint8_t other[32], zero[32];
	unsigned c;

	do_discover(f);
	memset(zero, 0, sizeof zero);
	memset(other, 0x99, sizeof other);
	f->sb_key = hs_key_new(f->sb_pub);
	assert_int_equal(hs_sha256(f->sb_pub, 65, f->sb_hash), 0);
	memset(f->dbg_hash, 0x42, 32);
	refuse(f, WDP_CMD_BURN_OTP, p.b, otp_payload(&p, zero, f->dbg_hash), WDP_S_MALFORMED);
	do_otp(f);
	assert_memory_equal(f->m.otp_c + WDEV_OTP_SB_HASH, f->sb_hash, 32);
	assert_true(status_flags(f) & WDP_F_OTP);
	c = f->m.commits;
	do_otp(f); /* the same values: OK, nothing written */
	assert_int_equal(f->m.commits, c);
	refuse(f, WDP_CMD_BURN_OTP, p.b, otp_payload(&p, other, f->dbg_hash), WDP_S_OTP);
	refuse(f, WDP_CMD_BURN_OTP, p.b, otp_payload(&p, f->sb_hash, other), WDP_S_OTP);
}

static void test_firmware(void **state)
{
	struct fx *f = *state;
	struct pl p;
	uint8_t sig[64], other_pub[65];
	const size_t n = 3 * WDP_FW_CHUNK_MAX + 123;
	uint8_t *img = make_image(n, 5);
	EVP_PKEY *other;
	const uint8_t *v;
	size_t vl;

	do_discover(f);
	other = hs_key_new(other_pub);
	/* FW before OTP */
	refuse(f, WDP_CMD_FW_BEGIN, p.b, begin_payload(&p, 5, (uint32_t)n, other_pub), WDP_S_STATE);
	refuse(f, WDP_CMD_FW_CHUNK, p.b, chunk_payload(&p, 0, img, 10), WDP_S_STATE);
	refuse(f, WDP_CMD_FW_END, p.b, end_payload(&p, img), WDP_S_STATE);
	do_otp(f);
	refuse(f, WDP_CMD_FW_BEGIN, p.b, begin_payload(&p, 5, (uint32_t)n, other_pub), WDP_S_VERIFY);
	refuse(f, WDP_CMD_FW_BEGIN, p.b, begin_payload(&p, 5, 0, f->sb_pub), WDP_S_MALFORMED);
	refuse(f, WDP_CMD_FW_BEGIN, p.b, begin_payload(&p, 5, WDEV_FW_MAX + 1, f->sb_pub), WDP_S_TOO_BIG);
	assert_int_equal(xfer(f, WDP_CMD_FW_BEGIN, p.b, begin_payload(&p, 5, (uint32_t)n, f->sb_pub)), WDP_S_OK);
	refuse(f, WDP_CMD_FW_CHUNK, p.b, chunk_payload(&p, 1, img, 10), WDP_S_SEQUENCE);
	refuse(f, WDP_CMD_FW_END, p.b, end_payload(&p, img), WDP_S_STATE); /* incomplete */
	assert_int_equal(xfer(f, WDP_CMD_FW_CHUNK, p.b, chunk_payload(&p, 0, img, WDP_FW_CHUNK_MAX)), WDP_S_OK);
	refuse(f, WDP_CMD_FW_CHUNK, p.b, chunk_payload(&p, 0, img, 10), WDP_S_SEQUENCE); /* replayed offset */
	assert_int_equal(xfer(f, WDP_CMD_FW_CHUNK,
			      p.b, chunk_payload(&p, WDP_FW_CHUNK_MAX, img + WDP_FW_CHUNK_MAX, WDP_FW_CHUNK_MAX)),
			 WDP_S_OK);
	assert_int_equal(xfer(f, WDP_CMD_FW_CHUNK, p.b,
			      chunk_payload(&p, 2 * WDP_FW_CHUNK_MAX, img + 2 * WDP_FW_CHUNK_MAX, WDP_FW_CHUNK_MAX)),
			 WDP_S_OK);
	/* past FW_SIZE */
	refuse(f, WDP_CMD_FW_CHUNK, p.b, chunk_payload(&p, 3 * WDP_FW_CHUNK_MAX, img, 124), WDP_S_TOO_BIG);
	assert_int_equal(xfer(f, WDP_CMD_FW_CHUNK, p.b, chunk_payload(&p, 3 * WDP_FW_CHUNK_MAX, img + 3 * WDP_FW_CHUNK_MAX, 123)),
			 WDP_S_OK);
	/* signed by another key; then a tampered signature; then the image signed with a
	 * different version: all VERIFY and the transfer survives them */
	assert_int_equal(hs_sign_fw(other, 5, img, n, sig), 0);
	refuse(f, WDP_CMD_FW_END, p.b, end_payload(&p, sig), WDP_S_VERIFY);
	assert_int_equal(hs_sign_fw(f->sb_key, 6, img, n, sig), 0);
	refuse(f, WDP_CMD_FW_END, p.b, end_payload(&p, sig), WDP_S_VERIFY);
	assert_int_equal(hs_sign_fw(f->sb_key, 5, img, n, sig), 0);
	sig[40] ^= 1;
	refuse(f, WDP_CMD_FW_END, p.b, end_payload(&p, sig), WDP_S_VERIFY);
	sig[40] ^= 1;
	assert_int_equal(status_flags(f) & WDP_F_FIRMWARE, 0);
	assert_int_equal(xfer(f, WDP_CMD_FW_END, p.b, end_payload(&p, sig)), WDP_S_OK);
	assert_non_null(v = rtlv(f, WDP_T_FW_VERSION, &vl));
	assert_int_equal(wdp_get_u32(v), 5);
	assert_true(status_flags(f) & WDP_F_FIRMWARE);
	assert_memory_equal(f->m.fw[0], img, n); /* first image in slot 0 */
	/* a transfer in progress leaves the installed image (and its slot) alone */
	assert_int_equal(xfer(f, WDP_CMD_FW_BEGIN, p.b, begin_payload(&p, 7, (uint32_t)n, f->sb_pub)), WDP_S_OK);
	assert_int_equal(xfer(f, WDP_CMD_FW_CHUNK, p.b, chunk_payload(&p, 0, img, 100)), WDP_S_OK);
	assert_memory_equal(f->m.fw[0], img, n);
	assert_int_equal(xfer(f, WDP_CMD_STATUS, NULL, 0), WDP_S_OK);
	assert_non_null(v = rtlv(f, WDP_T_FW_VERSION, &vl));
	assert_int_equal(wdp_get_u32(v), 5);
	/* rollback, equal version allowed; FW_BEGIN abandons the transfer */
	refuse(f, WDP_CMD_FW_BEGIN, p.b, begin_payload(&p, 4, (uint32_t)n, f->sb_pub), WDP_S_ROLLBACK);
	do_fw(f, 5, 5000);
	assert_int_equal(f->dev.st.fw_slot, WDEV_AREA_FW1);
	do_fw(f, 9, 100);
	assert_int_equal(f->dev.st.fw_slot, WDEV_AREA_FW0);
	refuse(f, WDP_CMD_FW_BEGIN, p.b, begin_payload(&p, 8, 10, f->sb_pub), WDP_S_ROLLBACK);
	/* chunks without a transfer */
	refuse(f, WDP_CMD_FW_CHUNK, p.b, chunk_payload(&p, 0, img, 10), WDP_S_STATE);
	EVP_PKEY_free(other);
	free(img);
}

static void test_lock(void **state)
{
	struct fx *f = *state;
	struct pl p;
	size_t dl, n;
	const uint8_t *d;
	uint8_t w[WDP_WRAP_OVERHEAD + 64], secret[16];

	do_discover(f);
	refuse(f, WDP_CMD_LOCK, NULL, 0, WDP_S_STATE);
	d = rtlv(f, WDP_T_DETAIL, &dl);
	assert_int_equal(dl, strlen("missing: chain factory-data otp firmware"));
	assert_memory_equal(d, "missing: chain factory-data otp firmware", dl);
	do_genkeys(f);
	do_chain(f);
	do_fd(f);
	refuse(f, WDP_CMD_LOCK, NULL, 0, WDP_S_STATE);
	d = rtlv(f, WDP_T_DETAIL, &dl);
	assert_memory_equal(d, "missing: otp firmware", dl);
	do_otp(f);
	refuse(f, WDP_CMD_LOCK, NULL, 0, WDP_S_STATE);
	do_fw(f, 3, 4321);
	assert_int_equal(xfer(f, WDP_CMD_LOCK, NULL, 0), WDP_S_OK);
	d = rtlv(f, WDP_T_LIFECYCLE, &dl);
	assert_non_null(d);
	assert_int_equal(d[0], WDP_LC_SECURED);
	assert_true(f->m.otp_c[WDEV_OTP_FUSE] & WDEV_OTP_FUSE_SECURED);
	assert_int_equal(status_flags(f),
			 WDP_F_KEYS | WDP_F_CHAIN | WDP_F_FACTORY_DATA | WDP_F_FIRMWARE | WDP_F_OTP | WDP_F_LOCKED);
	/* every write command is LOCKED, well-formed or not */
	memset(secret, 1, sizeof secret);
	assert_int_equal(hs_wrap(f->uid, f->enc_pub, "late", secret, sizeof secret, w, sizeof w, &n), 0);
	refuse(f, WDP_CMD_GENERATE_KEYS, NULL, 0, WDP_S_LOCKED);
	refuse(f, WDP_CMD_STORE_CHAIN, p.b, chain_payload(&p, f->dac, f->dac_len, f->pai, f->pai_len), WDP_S_LOCKED);
	pl_init(&p);
	wdp_tlv_put(&p.w, WDP_T_FACTORY_DATA, "x", 1);
	refuse(f, WDP_CMD_STORE_FACTORY_DATA, p.b, pl_done(&p), WDP_S_LOCKED);
	refuse(f, WDP_CMD_STORE_SECRET, p.b, secret_payload(&p, "late", w, n), WDP_S_LOCKED);
	refuse(f, WDP_CMD_FW_BEGIN, p.b, begin_payload(&p, 9, 10, f->sb_pub), WDP_S_LOCKED);
	refuse(f, WDP_CMD_FW_CHUNK, p.b, chunk_payload(&p, 0, secret, 10), WDP_S_LOCKED);
	refuse(f, WDP_CMD_FW_END, p.b, end_payload(&p, w), WDP_S_LOCKED);
	refuse(f, WDP_CMD_BURN_OTP, p.b, otp_payload(&p, f->sb_hash, f->dbg_hash), WDP_S_LOCKED);
	refuse(f, WDP_CMD_LOCK, NULL, 0, WDP_S_LOCKED);
	refuse(f, WDP_CMD_GENERATE_KEYS, (const uint8_t *)"junk", 4, WDP_S_LOCKED);
	/* reads still answer; the key-agreement private key is gone */
	assert_int_equal(xfer(f, WDP_CMD_GET_ENC_KEY, NULL, 0), WDP_S_OK);
	assert_false(f->dev.st.have_enc_priv);
	/* and all of it survives a restart */
	wdev_free(&f->dev);
	assert_int_equal(wdev_init(&f->dev, &f->pal, "writ-test"), 0);
	do_discover(f);
	d = rtlv(f, WDP_T_LIFECYCLE, &dl);
	assert_int_equal(d[0], WDP_LC_SECURED);
	refuse(f, WDP_CMD_GENERATE_KEYS, NULL, 0, WDP_S_LOCKED);
}

/* A payload for each command with one TLV too many / missing / mis-sized / extra bytes. */
static void test_malformed(void **state)
{
	struct fx *f = *state;
	struct pl p;
	uint8_t buf[WDP_PAYLOAD_MAX], fr[WDP_FRAME_MAX];
	size_t n;
	struct resp r;
	static const uint16_t all[] = { WDP_CMD_DISCOVER, WDP_CMD_STATUS, WDP_CMD_GENERATE_KEYS,
					WDP_CMD_GET_ENC_KEY, WDP_CMD_GET_CSR, WDP_CMD_STORE_CHAIN, WDP_CMD_STORE_FACTORY_DATA,
					WDP_CMD_STORE_SECRET, WDP_CMD_FW_BEGIN, WDP_CMD_FW_CHUNK,
					WDP_CMD_FW_END, WDP_CMD_BURN_OTP, WDP_CMD_LOCK };

	do_discover(f);
	do_genkeys(f);
	memset(buf, 0x11, sizeof buf);
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		uint16_t c = all[i];
		if (c == WDP_CMD_DISCOVER)
			continue;
		/* a DETAIL TLV (responses only) */
		pl_init(&p);
		wdp_tlv_put(&p.w, WDP_T_DETAIL, "hi", 2);
		refuse(f, c, p.b, pl_done(&p), WDP_S_MALFORMED);
		/* 3 stray bytes */
		refuse(f, c, buf, 3, WDP_S_MALFORMED);
		/* a TLV whose length runs past the payload */
		wdp_put_u16(buf, 0x0020);
		wdp_put_u16(buf + 2, 100);
		refuse(f, c, buf, 50, WDP_S_MALFORMED);
		/* an unknown type */
		pl_init(&p);
		wdp_tlv_put(&p.w, 0x7777, "x", 1);
		refuse(f, c, p.b, pl_done(&p), WDP_S_MALFORMED);
		memset(buf, 0x11, 4);
	}
	/* missing required TLVs */
	refuse(f, WDP_CMD_STORE_CHAIN, NULL, 0, WDP_S_MALFORMED);
	pl_init(&p);
	wdp_tlv_put(&p.w, WDP_T_DAC, buf, 10);
	refuse(f, WDP_CMD_STORE_CHAIN, p.b, pl_done(&p), WDP_S_MALFORMED);
	refuse(f, WDP_CMD_STORE_FACTORY_DATA, NULL, 0, WDP_S_MALFORMED);
	refuse(f, WDP_CMD_STORE_SECRET, NULL, 0, WDP_S_MALFORMED);
	refuse(f, WDP_CMD_FW_BEGIN, NULL, 0, WDP_S_MALFORMED);
	refuse(f, WDP_CMD_FW_CHUNK, NULL, 0, WDP_S_MALFORMED);
	refuse(f, WDP_CMD_FW_END, NULL, 0, WDP_S_MALFORMED);
	refuse(f, WDP_CMD_BURN_OTP, NULL, 0, WDP_S_MALFORMED);
	/* wrong lengths */
	pl_init(&p);
	wdp_tlv_put(&p.w, WDP_T_SB_KEY_HASH, buf, 31);
	wdp_tlv_put(&p.w, WDP_T_DEBUG_ROOT_HASH, buf, 32);
	refuse(f, WDP_CMD_BURN_OTP, p.b, pl_done(&p), WDP_S_MALFORMED);
	pl_init(&p);
	wdp_tlv_put(&p.w, WDP_T_FW_SIGNATURE, buf, 65);
	refuse(f, WDP_CMD_FW_END, p.b, pl_done(&p), WDP_S_MALFORMED);
	pl_init(&p);
	wdp_tlv_put_u32(&p.w, WDP_T_FW_OFFSET, 0);
	wdp_tlv_put(&p.w, WDP_T_FW_DATA, buf, WDP_FW_CHUNK_MAX + 1);
	refuse(f, WDP_CMD_FW_CHUNK, p.b, pl_done(&p), WDP_S_MALFORMED);
	pl_init(&p);
	wdp_tlv_put(&p.w, WDP_T_DAC, buf, WDP_CERT_MAX + 1);
	wdp_tlv_put(&p.w, WDP_T_PAI, buf, 10);
	refuse(f, WDP_CMD_STORE_CHAIN, p.b, pl_done(&p), WDP_S_MALFORMED);
	/* types out of order, and a duplicate */
	{
		uint8_t q[64];
		size_t k = 0;
		wdp_put_u16(q + k, WDP_T_DEBUG_ROOT_HASH);
		wdp_put_u16(q + k + 2, 0);
		k += 4;
		wdp_put_u16(q + k, WDP_T_SB_KEY_HASH);
		wdp_put_u16(q + k + 2, 0);
		k += 4;
		refuse(f, WDP_CMD_BURN_OTP, q, k, WDP_S_MALFORMED);
		wdp_put_u16(q, WDP_T_FW_SIGNATURE);
		wdp_put_u16(q + 2, 0);
		wdp_put_u16(q + 4, WDP_T_FW_SIGNATURE);
		wdp_put_u16(q + 6, 0);
		refuse(f, WDP_CMD_FW_END, q, 8, WDP_S_MALFORMED);
	}
	/* payloads on commands that take none */
	refuse(f, WDP_CMD_STATUS, buf, 4, WDP_S_MALFORMED);
	refuse(f, WDP_CMD_LOCK, buf, 1, WDP_S_MALFORMED);
	/* unknown commands */
	refuse(f, 0x0000, NULL, 0, WDP_S_UNKNOWN_COMMAND);
	refuse(f, 0x1234, NULL, 0, WDP_S_UNKNOWN_COMMAND);
	refuse(f, 0xFFFF, buf, 8, WDP_S_UNKNOWN_COMMAND);
	/* a refused request is cached like any other: its resend gets the same answer */
	assert_int_equal(xfer_seq(f, 0xFFFF, f->seq, buf, 8), WDP_S_UNKNOWN_COMMAND);

	/* frame level: a bad CRC is INTEGRITY with seq 0 and the session is untouched */
	{
		uint8_t *a, *b;
		size_t an, bn;
		assert_int_equal(mempal_snapshot(&f->m, &a, &an), 0);
		assert_int_equal(wdp_frame_encode(WDP_CMD_GENERATE_KEYS, f->seq + 1, NULL, 0, fr, sizeof fr, &n), 0);
		fr[n - 1] ^= 1;
		assert_int_equal(send_raw(f, fr, n, &r), 1);
		assert_int_equal(r.status, WDP_S_INTEGRITY);
		assert_int_equal(r.seq, 0);
		/* a header announcing 4097 bytes: TOO_BIG, then the receiver resyncs */
		assert_int_equal(wdp_frame_encode(WDP_CMD_STATUS, f->seq + 1, NULL, 0, fr, sizeof fr, &n), 0);
		wdp_put_u32(fr + 8, WDP_PAYLOAD_MAX + 1);
		assert_int_equal(send_raw(f, fr, 12, &r), 1);
		assert_int_equal(r.status, WDP_S_TOO_BIG);
		/* garbage before a frame, and a frame split byte by byte */
		assert_int_equal(send_raw(f, (const uint8_t *)"\x00garbageW\x01", 10, &r), 0);
		assert_int_equal(wdp_frame_encode(WDP_CMD_STATUS, f->seq + 1, NULL, 0, fr, sizeof fr, &n), 0);
		for (size_t i = 0; i + 1 < n; i++)
			assert_int_equal(send_raw(f, fr + i, 1, &r), 0);
		assert_int_equal(send_raw(f, fr + n - 1, 1, &r), 1);
		assert_int_equal(r.status, WDP_S_OK);
		f->seq++;
		/* truncated: no answer at all until the rest arrives; the link reset drops it */
		assert_int_equal(wdp_frame_encode(WDP_CMD_GENERATE_KEYS, f->seq + 1, NULL, 0, fr, sizeof fr, &n), 0);
		assert_int_equal(send_raw(f, fr, n - 2, &r), 0);
		wdev_link_reset(&f->dev);
		assert_int_equal(mempal_snapshot(&f->m, &b, &bn), 0);
		assert_int_equal(an, bn);
		assert_memory_equal(a, b, an);
		free(a);
		free(b);
	}
	/* two frames in one buffer: one response per call, rest left for the next */
	{
		uint8_t two[2 * 16], out[WDP_FRAME_MAX];
		size_t n1, n2, used, ol;
		do_discover(f);
		assert_int_equal(wdp_frame_encode(WDP_CMD_STATUS, f->seq + 1, NULL, 0, two, sizeof two, &n1), 0);
		assert_int_equal(wdp_frame_encode(WDP_CMD_STATUS, f->seq + 2, NULL, 0, two + n1, sizeof two - n1, &n2), 0);
		assert_int_equal(wdev_process(&f->dev, two, n1 + n2, &used, out, sizeof out, &ol), 0);
		assert_int_equal(used, n1);
		assert_true(ol > 0);
		assert_int_equal(wdev_process(&f->dev, two + used, n2, &used, out, sizeof out, &ol), 0);
		assert_int_equal(used, n2);
		assert_true(ol > 0);
		assert_int_equal(wdev_process(&f->dev, two, n1, &used, out, 100, &ol), WDEV_E_TOO_BIG);
	}
}

static void test_rng_health(void **state)
{
	struct fx *f = *state;
	struct wdev_info info;

	do_discover(f);
	f->m.rng_mode = MEMPAL_RNG_STUCK;
	refuse(f, WDP_CMD_GENERATE_KEYS, NULL, 0, WDP_S_RNG);
	f->m.rng_mode = MEMPAL_RNG_REPEAT; /* random-looking, but the same block every time */
	refuse(f, WDP_CMD_GENERATE_KEYS, NULL, 0, WDP_S_RNG);
	assert_int_equal(wdev_info(&f->dev, &info), 0);
	assert_int_equal(info.flags & WDP_F_KEYS, 0);
	/* a good RNG again works */
	f->m.rng_mode = MEMPAL_RNG_DETERMINISTIC;
	do_genkeys(f);
	/* STORE_SECRET draws for ECDH blinding: a stuck RNG refuses it too */
	{
		struct pl p;
		uint8_t secret[16], w[WDP_WRAP_OVERHEAD + 16];
		size_t n;
		memset(secret, 3, sizeof secret);
		assert_int_equal(hs_wrap(f->uid, f->enc_pub, "k", secret, sizeof secret, w, sizeof w, &n), 0);
		f->m.rng_mode = MEMPAL_RNG_STUCK;
		refuse(f, WDP_CMD_STORE_SECRET, p.b, secret_payload(&p, "k", w, n), WDP_S_RNG);
		f->m.rng_mode = MEMPAL_RNG_DETERMINISTIC;
		assert_int_equal(xfer(f, WDP_CMD_STORE_SECRET, p.b, secret_payload(&p, "k", w, n)), WDP_S_OK);
	}
}

static void test_storage_failure(void **state)
{
	struct fx *f = *state;
	struct pl p;
	uint8_t *a, *b;
	size_t an, bn;

	do_discover(f);
	do_genkeys(f);
	make_pai(f);
	assert_int_equal(hs_issue_dac(f->pai_key, NULL, f->pai, f->pai_len, f->csr, f->csr_len, f->dac, sizeof f->dac,
				      &f->dac_len),
			 0);
	chain_payload(&p, f->dac, f->dac_len, f->pai, f->pai_len);
	assert_int_equal(mempal_snapshot(&f->m, &a, &an), 0);
	f->m.fail_commit_in = 1;
	assert_int_equal(xfer(f, WDP_CMD_STORE_CHAIN, p.b, p.len), WDP_S_STORAGE);
	f->m.fail_writes = 1;
	assert_int_equal(xfer(f, WDP_CMD_STORE_CHAIN, p.b, p.len), WDP_S_STORAGE);
	f->m.fail_writes = 0;
	assert_int_equal(mempal_snapshot(&f->m, &b, &bn), 0);
	assert_int_equal(an, bn);
	assert_memory_equal(a, b, an);
	free(a);
	free(b);
	assert_int_equal(status_flags(f) & WDP_F_CHAIN, 0); /* RAM agrees with storage */
	assert_int_equal(xfer(f, WDP_CMD_STORE_CHAIN, p.b, p.len), WDP_S_OK);
	/* a corrupt record is refused at start */
	wdev_free(&f->dev);
	f->m.state_c[20] ^= 1;
	f->m.state[20] ^= 1;
	assert_int_equal(wdev_init(&f->dev, &f->pal, "writ-test"), WDEV_E_STORAGE);
	f->m.state_c[20] ^= 1;
	f->m.state[20] ^= 1;
	assert_int_equal(wdev_init(&f->dev, &f->pal, "writ-test"), 0);
	/* no UID, bad arguments */
	{
		struct mempal m2;
		struct wdev_pal pal2;
		static const uint8_t zero[16];
		struct wdev_ctx *d2 = malloc(sizeof *d2);
		assert_non_null(d2);
		assert_int_equal(mempal_init(&m2, zero), 0);
		mempal_bind(&m2, &pal2);
		assert_int_equal(wdev_init(d2, &pal2, "x"), WDEV_E_STORAGE);
		assert_int_equal(mempal_init(&m2, test_uid), 0);
		assert_int_equal(wdev_init(d2, &pal2, ""), WDEV_E_MALFORMED);
		assert_int_equal(wdev_init(d2, &pal2, "123456789012345678901234567890123"), WDEV_E_MALFORMED);
		pal2.commit = NULL;
		assert_int_equal(wdev_init(d2, &pal2, "x"), WDEV_E_MALFORMED);
		wdev_free(d2);
		wdev_free(NULL);
		free(d2);
	}
}

static void test_full_flow_and_restart(void **state)
{
	struct fx *f = *state;
	struct wdev_info info;

	provision_all(f);
	assert_int_equal(xfer(f, WDP_CMD_LOCK, NULL, 0), WDP_S_OK);
	wdev_free(&f->dev);
	/* wdev_free wiped the context */
	{
		static const uint8_t zero[sizeof f->dev.st.att_priv];
		assert_memory_equal(f->dev.st.att_priv, zero, sizeof zero);
	}
	assert_int_equal(wdev_init(&f->dev, &f->pal, "writ-test"), 0);
	assert_int_equal(wdev_info(&f->dev, &info), 0);
	assert_int_equal(info.lifecycle, WDP_LC_SECURED);
	assert_int_equal(info.fw_version, 1);
	assert_int_equal(info.fw_size, 10000);
	assert_memory_equal(info.uid, f->uid, 16);
}


/* ---- secure debug (label "debug": the test_debug CTest entry runs test_debug_*) ---- */

struct dbg {
	EVP_PKEY *root, *inter, *deleg, *other;
	uint8_t root_pub[65], inter_pub[65], deleg_pub[65], other_pub[65];
	struct hs_dbg_cert_in ci, cd;
	int two;                /* chain with the intermediate */
	uint8_t chain[2 * WDP_DBG_CERT_LEN];
	size_t chain_len;
	uint8_t uid[16], perms[16];
	uint64_t nb, na;
	uint32_t session;
	uint8_t chal[32], token[WDP_DBG_TOKEN_LEN];
};

static struct dbg *dbg_new(struct fx *f)
{
	struct dbg *d = calloc(1, sizeof *d);

	assert_non_null(d);
	assert_non_null(d->root = hs_key_new(d->root_pub));
	assert_non_null(d->inter = hs_key_new(d->inter_pub));
	assert_non_null(d->deleg = hs_key_new(d->deleg_pub));
	assert_non_null(d->other = hs_key_new(d->other_pub));
	/* burn the real debug root hash */
	assert_non_null(f->sb_key = hs_key_new(f->sb_pub));
	assert_int_equal(hs_sha256(f->sb_pub, 65, f->sb_hash), 0);
	assert_int_equal(hs_sha256(d->root_pub, 65, f->dbg_hash), 0);
	provision_all(f);
	assert_int_equal(xfer(f, WDP_CMD_LOCK, NULL, 0), WDP_S_OK);
	d->ci.role = WDP_DBG_ROLE_INTERMEDIATE;
	d->ci.vendor_id = 0xFFF1;
	d->ci.key_gen = 1;
	d->ci.not_before = f->m.now - 1000;
	d->ci.not_after = f->m.now + 100000;
	memset(d->ci.perms, 0xFF, 16);
	d->cd = d->ci;
	d->cd.role = WDP_DBG_ROLE_DELEGATE;
	d->cd.product_id = 0x8000;
	memset(d->cd.perms, 0, 16);
	d->cd.perms[15] = 0x0F;
	memset(d->cd.hsm_id, 0xAA, 32);
	d->two = 1;
	memcpy(d->uid, f->uid, 16);
	memset(d->perms, 0, 16);
	d->perms[15] = 0x03;
	d->nb = f->m.now - 10;
	d->na = f->m.now + 600;
	d->session = 300;
	return d;
}

static void dbg_free(struct dbg *d)
{
	EVP_PKEY_free(d->root);
	EVP_PKEY_free(d->inter);
	EVP_PKEY_free(d->deleg);
	EVP_PKEY_free(d->other);
	free(d);
}

static void dbg_build_chain(struct dbg *d)
{
	if (d->two) {
		assert_int_equal(hs_dbg_cert(d->root, &d->ci, d->inter_pub, d->chain), 0);
		assert_int_equal(hs_dbg_cert(d->inter, &d->cd, d->deleg_pub, d->chain + WDP_DBG_CERT_LEN), 0);
		d->chain_len = 2 * WDP_DBG_CERT_LEN;
	} else {
		assert_int_equal(hs_dbg_cert(d->root, &d->cd, d->deleg_pub, d->chain), 0);
		d->chain_len = WDP_DBG_CERT_LEN;
	}
}

static void dbg_challenge(struct fx *f, struct dbg *d)
{
	const uint8_t *v;
	size_t n;

	assert_int_equal(xfer(f, WDP_CMD_DEBUG_CHALLENGE, NULL, 0), WDP_S_OK);
	assert_non_null(v = rtlv(f, WDP_T_UID, &n));
	assert_memory_equal(v, f->uid, 16);
	assert_non_null(v = rtlv(f, WDP_T_DEBUG_CHALLENGE, &n));
	assert_int_equal(n, 32);
	memcpy(d->chal, v, 32);
}

static void dbg_sign_token(struct dbg *d)
{
	assert_int_equal(hs_dbg_token(d->deleg, d->uid, d->nb, d->na, d->perms, d->session, d->chal, d->token), 0);
}

static size_t dbg_payload(struct pl *p, const uint8_t *root_pub, const uint8_t *chain, size_t chain_len,
			  const uint8_t *token, size_t token_len)
{
	pl_init(p);
	wdp_tlv_put(&p->w, WDP_T_DEBUG_ROOT_PUB, root_pub, 65);
	wdp_tlv_put(&p->w, WDP_T_DEBUG_CHAIN, chain, chain_len);
	wdp_tlv_put(&p->w, WDP_T_DEBUG_TOKEN, token, token_len);
	return pl_done(p);
}

/* A refused DEBUG_UNLOCK: want status and a DETAIL containing why; storage byte-equal,
 * no commit, debug still locked. */
static void dbg_refuse_pl(struct fx *f, const uint8_t *pl, size_t len, int want, const char *why)
{
	char detail[WDP_DETAIL_MAX + 1];
	const uint8_t *v;
	size_t n;

	refuse(f, WDP_CMD_DEBUG_UNLOCK, pl, len, want);
	assert_non_null(v = rtlv(f, WDP_T_DETAIL, &n));
	memcpy(detail, v, n);
	detail[n] = '\0';
	if (why && !strstr(detail, why))
		fail_msg("detail \"%s\" does not contain \"%s\"", detail, why);
	assert_false(f->dev.dbg.unlocked);
	assert_false(status_flags(f) & WDP_F_DEBUG_UNLOCKED);
}

/* Fresh challenge, chain and token from d's fields, then expect a refusal. */
static void dbg_refuse(struct fx *f, struct dbg *d, int want, const char *why)
{
	struct pl p;

	dbg_build_chain(d);
	dbg_challenge(f, d);
	dbg_sign_token(d);
	dbg_refuse_pl(f, p.b, dbg_payload(&p, d->root_pub, d->chain, d->chain_len, d->token, sizeof d->token), want,
		      why);
}

static void dbg_unlock_ok(struct fx *f, struct dbg *d)
{
	struct pl p;
	const uint8_t *v;
	size_t n;

	dbg_build_chain(d);
	dbg_challenge(f, d);
	dbg_sign_token(d);
	assert_int_equal(xfer(f, WDP_CMD_DEBUG_UNLOCK, p.b,
			      dbg_payload(&p, d->root_pub, d->chain, d->chain_len, d->token, sizeof d->token)),
			 WDP_S_OK);
	assert_non_null(v = rtlv(f, WDP_T_DEBUG_PERMS, &n));
	assert_memory_equal(v, d->perms, 16);
	assert_non_null(v = rtlv(f, WDP_T_DEBUG_SECONDS, &n));
	assert_int_equal(wdp_get_u32(v), d->session);
}

static int debug_setup(void **state)
{
	return setup(state);
}

static void test_debug_unlock_lock_reset(void **state)
{
	struct fx *f = *state;
	struct dbg *d = dbg_new(f);
	struct wdev_info info;
	const uint8_t *v;
	size_t n;
	uint8_t *a, *b;
	size_t an, bn;

	assert_false(status_flags(f) & WDP_F_DEBUG);
	dbg_unlock_ok(f, d);
	assert_int_equal(status_flags(f) & (WDP_F_DEBUG | WDP_F_DEBUG_UNLOCKED), WDP_F_DEBUG | WDP_F_DEBUG_UNLOCKED);
	assert_non_null(v = rtlv(f, WDP_T_DEBUG_PERMS, &n));
	assert_int_equal(v[15], 0x03);
	assert_non_null(v = rtlv(f, WDP_T_DEBUG_SECONDS, &n));
	assert_int_equal(wdp_get_u32(v), 300);
	assert_non_null(v = rtlv(f, WDP_T_DEBUG_KEY_GEN, &n));
	assert_int_equal(wdp_get_u32(v), 1);
	assert_int_equal(wdev_info(&f->dev, &info), 0);
	assert_true(info.debug_unlocked);
	assert_int_equal(info.debug_key_gen, 1);
	/* an explicit lock ends it */
	assert_int_equal(xfer(f, WDP_CMD_DEBUG_LOCK, NULL, 0), WDP_S_OK);
	assert_false(status_flags(f) & (WDP_F_DEBUG | WDP_F_DEBUG_UNLOCKED));
	assert_int_equal(xfer(f, WDP_CMD_DEBUG_LOCK, NULL, 0), WDP_S_OK); /* idempotent */
	/* one certificate (delegate issued by the root) works too; no write: same generation */
	d->two = 0;
	assert_int_equal(mempal_snapshot(&f->m, &a, &an), 0);
	dbg_unlock_ok(f, d);
	assert_int_equal(mempal_snapshot(&f->m, &b, &bn), 0);
	assert_int_equal(an, bn);
	assert_memory_equal(a, b, an);
	free(a);
	free(b);
	/* the session runs out with the PAL clock */
	f->m.now += 299;
	assert_true(status_flags(f) & WDP_F_DEBUG_UNLOCKED);
	assert_non_null(v = rtlv(f, WDP_T_DEBUG_SECONDS, &n));
	assert_int_equal(wdp_get_u32(v), 1);
	f->m.now += 1;
	assert_false(status_flags(f) & WDP_F_DEBUG_UNLOCKED);
	/* a reset ends it; the key generation is persistent */
	f->m.now -= 300;
	d->two = 1;
	dbg_unlock_ok(f, d);
	wdev_free(&f->dev);
	assert_int_equal(wdev_init(&f->dev, &f->pal, "writ-test"), 0);
	assert_int_equal(wdev_info(&f->dev, &info), 0);
	assert_false(info.debug_unlocked);
	assert_int_equal(info.debug_key_gen, 1);
	do_discover(f);
	assert_false(status_flags(f) & WDP_F_DEBUG_UNLOCKED);
	/* the session never outlives the token's window */
	d->na = f->m.now + 100;
	dbg_build_chain(d);
	dbg_challenge(f, d);
	dbg_sign_token(d);
	{
		struct pl p;
		assert_int_equal(xfer(f, WDP_CMD_DEBUG_UNLOCK, p.b,
				      dbg_payload(&p, d->root_pub, d->chain, d->chain_len, d->token, sizeof d->token)),
				 WDP_S_OK);
	}
	assert_non_null(v = rtlv(f, WDP_T_DEBUG_SECONDS, &n));
	assert_int_equal(wdp_get_u32(v), 100);
	dbg_free(d);
}

static void test_debug_other_uid(void **state)
{
	struct fx *f = *state;
	struct dbg *d = dbg_new(f);

	d->uid[0] ^= 1;
	dbg_refuse(f, d, WDP_S_MISMATCH, "another device");
	dbg_free(d);
}

static void test_debug_zero_uid(void **state)
{
	struct fx *f = *state;
	struct dbg *d = dbg_new(f);

	memset(d->uid, 0, 16);
	dbg_refuse(f, d, WDP_S_MALFORMED, "all-zero UID");
	dbg_free(d);
}

static void test_debug_replay(void **state)
{
	struct fx *f = *state;
	struct dbg *d = dbg_new(f);
	struct pl p;
	size_t len;

	dbg_unlock_ok(f, d);
	assert_int_equal(xfer(f, WDP_CMD_DEBUG_LOCK, NULL, 0), WDP_S_OK);
	len = dbg_payload(&p, d->root_pub, d->chain, d->chain_len, d->token, sizeof d->token);
	dbg_refuse_pl(f, p.b, len, WDP_S_SEQUENCE, "replayed");
	/* with a new challenge live, the old token is still a replay (and consumes it) */
	dbg_challenge(f, d);
	dbg_refuse_pl(f, p.b, len, WDP_S_SEQUENCE, "replayed");
	/* one attempt per challenge: a refused attempt consumes it too */
	dbg_challenge(f, d);
	{
		uint8_t bad[WDP_DBG_TOKEN_LEN];
		struct pl q;
		dbg_sign_token(d);
		memcpy(bad, d->token, sizeof bad);
		bad[100] ^= 1;
		dbg_refuse_pl(f, q.b, dbg_payload(&q, d->root_pub, d->chain, d->chain_len, bad, sizeof bad),
			      WDP_S_VERIFY, "token signature");
		dbg_refuse_pl(f, q.b, dbg_payload(&q, d->root_pub, d->chain, d->chain_len, d->token, sizeof d->token),
			      WDP_S_SEQUENCE, "replayed");
	}
	/* and without any challenge */
	wdev_free(&f->dev);
	assert_int_equal(wdev_init(&f->dev, &f->pal, "writ-test"), 0);
	do_discover(f);
	dbg_refuse_pl(f, p.b, len, WDP_S_SEQUENCE, "DEBUG_CHALLENGE first");
	dbg_free(d);
}

static void test_debug_stale_challenge(void **state)
{
	struct fx *f = *state;
	struct dbg *d = dbg_new(f);
	struct pl p;

	dbg_build_chain(d);
	dbg_challenge(f, d);
	dbg_sign_token(d); /* for the first challenge */
	{
		uint8_t first[32];
		memcpy(first, d->chal, 32);
		dbg_challenge(f, d); /* a second one supersedes it */
		assert_memory_not_equal(first, d->chal, 32);
	}
	dbg_refuse_pl(f, p.b, dbg_payload(&p, d->root_pub, d->chain, d->chain_len, d->token, sizeof d->token),
		      WDP_S_SEQUENCE, "stale challenge");
	dbg_free(d);
}

static void test_debug_delegate_expired(void **state)
{
	struct fx *f = *state;
	struct dbg *d = dbg_new(f);

	d->cd.not_after = f->m.now;
	dbg_refuse(f, d, WDP_S_EXPIRED, "delegate certificate expired");
	dbg_free(d);
}

static void test_debug_delegate_not_yet_valid(void **state)
{
	struct fx *f = *state;
	struct dbg *d = dbg_new(f);

	d->cd.not_before = f->m.now + 1;
	dbg_refuse(f, d, WDP_S_EXPIRED, "delegate certificate not yet valid");
	d->cd.not_before = f->m.now - 10;
	d->ci.not_after = f->m.now - 1;
	dbg_refuse(f, d, WDP_S_EXPIRED, "intermediate expired");
	dbg_free(d);
}

static void test_debug_token_expired(void **state)
{
	struct fx *f = *state;
	struct dbg *d = dbg_new(f);

	d->nb = f->m.now - 100;
	d->na = f->m.now;
	dbg_refuse(f, d, WDP_S_EXPIRED, "token expired");
	dbg_free(d);
}

static void test_debug_token_not_yet_valid(void **state)
{
	struct fx *f = *state;
	struct dbg *d = dbg_new(f);

	d->nb = f->m.now + 5;
	dbg_refuse(f, d, WDP_S_EXPIRED, "token not yet valid");
	dbg_free(d);
}

static void test_debug_permission_outside_mask(void **state)
{
	struct fx *f = *state;
	struct dbg *d = dbg_new(f);

	d->perms[15] = 0x13; /* bit 4 is not in the delegate's 0x0F: refused, not reduced */
	dbg_refuse(f, d, WDP_S_DENIED, "outside");
	/* the intermediate's mask counts too (masks are ANDed) */
	d->perms[15] = 0x03;
	d->ci.perms[15] = 0x01;
	dbg_refuse(f, d, WDP_S_DENIED, "outside");
	dbg_free(d);
}

static void test_debug_chain_order(void **state)
{
	struct fx *f = *state;
	struct dbg *d = dbg_new(f);
	uint8_t swapped[2 * WDP_DBG_CERT_LEN];
	struct pl p;

	dbg_build_chain(d);
	memcpy(swapped, d->chain + WDP_DBG_CERT_LEN, WDP_DBG_CERT_LEN);
	memcpy(swapped + WDP_DBG_CERT_LEN, d->chain, WDP_DBG_CERT_LEN);
	dbg_challenge(f, d);
	dbg_sign_token(d);
	dbg_refuse_pl(f, p.b, dbg_payload(&p, d->root_pub, swapped, sizeof swapped, d->token, sizeof d->token),
		      WDP_S_VERIFY, "wrong chain order");
	/* two delegates, or an intermediate alone, are out of order too */
	d->ci = d->cd;
	dbg_refuse(f, d, WDP_S_VERIFY, "wrong chain order");
	dbg_free(d);
}

static void test_debug_wrong_root(void **state)
{
	struct fx *f = *state;
	struct dbg *d = dbg_new(f);
	struct pl p;

	/* a root key whose hash is not the one in OTP */
	dbg_build_chain(d);
	dbg_challenge(f, d);
	dbg_sign_token(d);
	dbg_refuse_pl(f, p.b, dbg_payload(&p, d->other_pub, d->chain, d->chain_len, d->token, sizeof d->token),
		      WDP_S_VERIFY, "debug root in OTP");
	/* the OTP root's key presented, but the chain was issued by another root */
	{
		EVP_PKEY *k = d->root;
		d->root = d->other;
		dbg_build_chain(d);
		d->root = k;
	}
	dbg_challenge(f, d);
	dbg_sign_token(d);
	dbg_refuse_pl(f, p.b, dbg_payload(&p, d->root_pub, d->chain, d->chain_len, d->token, sizeof d->token),
		      WDP_S_VERIFY, "intermediate certificate signature");
	/* a token signed by a key that is not the delegate's */
	{
		EVP_PKEY *k = d->deleg;
		d->deleg = d->other;
		dbg_refuse(f, d, WDP_S_VERIFY, "token signature");
		d->deleg = k;
	}
	dbg_free(d);
}

static void test_debug_product(void **state)
{
	struct fx *f = *state;
	struct dbg *d = dbg_new(f);

	d->cd.product_id = 0x8001;
	dbg_refuse(f, d, WDP_S_MISMATCH, "another product");
	d->cd.product_id = 0;
	d->ci.vendor_id = 0xFFF2;
	dbg_refuse(f, d, WDP_S_MISMATCH, "another product");
	dbg_free(d);
}

static void test_debug_key_generation(void **state)
{
	struct fx *f = *state;
	struct dbg *d = dbg_new(f);
	struct wdev_info info;

	d->ci.key_gen = d->cd.key_gen = 3;
	dbg_unlock_ok(f, d);
	assert_int_equal(xfer(f, WDP_CMD_DEBUG_LOCK, NULL, 0), WDP_S_OK);
	/* the newer generation is persisted: after a reset, older delegates are refused */
	wdev_free(&f->dev);
	assert_int_equal(wdev_init(&f->dev, &f->pal, "writ-test"), 0);
	assert_int_equal(wdev_info(&f->dev, &info), 0);
	assert_int_equal(info.debug_key_gen, 3);
	do_discover(f);
	d->ci.key_gen = d->cd.key_gen = 2;
	dbg_refuse(f, d, WDP_S_ROLLBACK, "older debug key generation");
	d->two = 0;
	dbg_refuse(f, d, WDP_S_ROLLBACK, "older debug key generation");
	/* one generation per chain */
	d->two = 1;
	d->cd.key_gen = 3;
	dbg_refuse(f, d, WDP_S_MALFORMED, "mixed key generations");
	d->ci.key_gen = 3;
	dbg_unlock_ok(f, d);
	dbg_free(d);
}

static void test_debug_tamper_every_byte(void **state)
{
	struct fx *f = *state;
	struct dbg *d = dbg_new(f);
	uint8_t all[65 + 2 * WDP_DBG_CERT_LEN + WDP_DBG_TOKEN_LEN];
	const size_t total = sizeof all;
	struct pl p;

	dbg_build_chain(d);
	for (size_t i = 0; i < total; i++) {
		dbg_challenge(f, d);
		dbg_sign_token(d);
		memcpy(all, d->root_pub, 65);
		memcpy(all + 65, d->chain, d->chain_len);
		memcpy(all + 65 + d->chain_len, d->token, sizeof d->token);
		all[i] ^= (uint8_t)(1u << (i % 8));
		assert_int_not_equal(xfer(f, WDP_CMD_DEBUG_UNLOCK, p.b,
					  dbg_payload(&p, all, all + 65, d->chain_len, all + 65 + d->chain_len,
						      sizeof d->token)),
				     WDP_S_OK);
		assert_false(f->dev.dbg.unlocked);
	}
	/* the untampered credentials still work */
	dbg_unlock_ok(f, d);
	dbg_free(d);
}

static void test_debug_malformed(void **state)
{
	struct fx *f = *state;
	struct dbg *d = dbg_new(f);
	uint8_t big[3 * WDP_DBG_CERT_LEN], tok[WDP_DBG_TOKEN_LEN + 1];
	struct pl p;

	dbg_build_chain(d);
	dbg_challenge(f, d);
	dbg_sign_token(d);
	dbg_refuse_pl(f, NULL, 0, WDP_S_MALFORMED, "TLVs");
	dbg_refuse_pl(f, p.b, dbg_payload(&p, d->root_pub, d->chain, d->chain_len - 1, d->token, sizeof d->token),
		      WDP_S_MALFORMED, "bad length");
	dbg_refuse_pl(f, p.b, dbg_payload(&p, d->root_pub, d->chain, d->chain_len, d->token, sizeof d->token - 1),
		      WDP_S_MALFORMED, "TLVs");
	memcpy(tok, d->token, sizeof d->token);
	tok[WDP_DBG_TOKEN_LEN] = 0;
	dbg_refuse_pl(f, p.b, dbg_payload(&p, d->root_pub, d->chain, d->chain_len, tok, sizeof tok), WDP_S_MALFORMED,
		      "TLVs");
	memcpy(big, d->chain, d->chain_len);
	memcpy(big + d->chain_len, d->chain, WDP_DBG_CERT_LEN);
	dbg_refuse_pl(f, p.b, dbg_payload(&p, d->root_pub, big, sizeof big, d->token, sizeof d->token),
		      WDP_S_MALFORMED, "TLVs");
	/* bad magic, bad role, an extra TLV */
	big[0] = 'X';
	dbg_refuse_pl(f, p.b, dbg_payload(&p, d->root_pub, big, d->chain_len, d->token, sizeof d->token),
		      WDP_S_MALFORMED, "magic");
	memcpy(big, d->chain, d->chain_len);
	big[5] = 7;
	dbg_refuse_pl(f, p.b, dbg_payload(&p, d->root_pub, big, d->chain_len, d->token, sizeof d->token),
		      WDP_S_MALFORMED, "role");
	pl_init(&p);
	wdp_tlv_put(&p.w, WDP_T_DEBUG_ROOT_PUB, d->root_pub, 65);
	wdp_tlv_put(&p.w, WDP_T_DEBUG_CHAIN, d->chain, d->chain_len);
	wdp_tlv_put(&p.w, WDP_T_DEBUG_TOKEN, d->token, sizeof d->token);
	wdp_tlv_put(&p.w, WDP_T_DEBUG_PERMS, d->perms, 16);
	dbg_refuse_pl(f, p.b, pl_done(&p), WDP_S_MALFORMED, "TLVs");
	/* a session longer than allowed, and an empty request */
	d->session = WDP_DBG_SESSION_MAX + 1;
	dbg_refuse(f, d, WDP_S_MALFORMED, "out of range");
	d->session = 300;
	memset(d->perms, 0, 16);
	dbg_refuse(f, d, WDP_S_MALFORMED, "out of range");
	refuse(f, WDP_CMD_DEBUG_CHALLENGE, (const uint8_t *)"junk", 4, WDP_S_MALFORMED);
	refuse(f, WDP_CMD_DEBUG_LOCK, (const uint8_t *)"junk", 4, WDP_S_MALFORMED);
	/* reserved bytes must read 0 (ADAC S_ADAC_016): refused as a format error before
	 * any signature is looked at */
	d->session = 300;
	d->perms[15] = 0x03;
	for (size_t k = 5; k < 8; k++) {
		dbg_build_chain(d);
		dbg_challenge(f, d);
		dbg_sign_token(d);
		memcpy(tok, d->token, sizeof d->token);
		tok[k] = 0x01;
		dbg_refuse_pl(f, p.b, dbg_payload(&p, d->root_pub, d->chain, d->chain_len, tok, WDP_DBG_TOKEN_LEN),
			      WDP_S_MALFORMED, "debug token");
	}
	for (size_t k = 10; k < 12; k++) {
		memcpy(big, d->chain, d->chain_len);
		big[k] = 0x01;
		dbg_challenge(f, d);
		dbg_sign_token(d);
		dbg_refuse_pl(f, p.b, dbg_payload(&p, d->root_pub, big, d->chain_len, d->token, sizeof d->token),
			      WDP_S_MALFORMED, "debug certificate");
	}
	dbg_free(d);
}

static void test_debug_needs_root(void **state)
{
	struct fx *f = *state;
	uint8_t z[WDP_DBG_CERT_LEN + WDP_DBG_TOKEN_LEN + 65];
	struct pl p;

	do_discover(f);
	refuse(f, WDP_CMD_DEBUG_CHALLENGE, NULL, 0, WDP_S_STATE);
	memset(z, 0, sizeof z);
	refuse(f, WDP_CMD_DEBUG_UNLOCK, p.b,
	       dbg_payload(&p, z, z + 65, WDP_DBG_CERT_LEN, z + 65 + WDP_DBG_CERT_LEN, WDP_DBG_TOKEN_LEN),
	       WDP_S_STATE);
}

/* ---- what the permissions open (docs/device-protocol.md, "What the permissions open") ---- */

static int port_calls, port_open;

static void count_port(void *ctx, int open)
{
	(void)ctx;
	port_calls++;
	port_open = open;
}

/* A refusal whose DETAIL contains why. */
static void refuse_detail(struct fx *f, uint16_t code, const uint8_t *pl, size_t len, int want, const char *why)
{
	char detail[WDP_DETAIL_MAX + 1];
	const uint8_t *v;
	size_t n;

	refuse(f, code, pl, len, want);
	assert_non_null(v = rtlv(f, WDP_T_DETAIL, &n));
	memcpy(detail, v, n);
	detail[n] = '\0';
	if (!strstr(detail, why))
		fail_msg("detail \"%s\" does not contain \"%s\"", detail, why);
}

static void set_perm(uint8_t perms[16], unsigned bit)
{
	perms[15 - bit / 8] |= (uint8_t)(1u << (bit % 8));
}

/* FW_BEGIN of version v on a secured chip: the status only. */
static int fw_begin(struct fx *f, uint32_t version, size_t n)
{
	struct pl p;

	return xfer(f, WDP_CMD_FW_BEGIN, p.b, begin_payload(&p, version, (uint32_t)n, f->sb_pub));
}

static void test_debug_perm_debug_port(void **state)
{
	struct fx *f = *state;
	struct dbg *d;

	/* the hook follows the chip: open while it is not secured */
	f->pal.debug_port = count_port;
	wdev_free(&f->dev);
	assert_int_equal(wdev_init(&f->dev, &f->pal, "writ-test"), 0);
	port_calls = 0;
	d = dbg_new(f); /* provisions and locks */
	assert_int_equal(port_open, 0);
	assert_int_equal(port_calls, 2); /* told open at the first command, closed by LOCK */
	/* an unlock without DEBUG: unlocked, the port stays closed */
	memset(d->perms, 0, 16);
	set_perm(d->perms, 1);
	dbg_unlock_ok(f, d);
	assert_int_equal(status_flags(f) & (WDP_F_DEBUG | WDP_F_DEBUG_UNLOCKED), WDP_F_DEBUG_UNLOCKED);
	assert_int_equal(port_open, 0);
	assert_int_equal(port_calls, 2);
	/* with DEBUG: open; DEBUG_LOCK closes it */
	memset(d->perms, 0, 16);
	set_perm(d->perms, WDP_DBG_PERM_DEBUG);
	dbg_unlock_ok(f, d);
	assert_int_equal(port_open, 1);
	assert_true(status_flags(f) & WDP_F_DEBUG);
	assert_int_equal(xfer(f, WDP_CMD_DEBUG_LOCK, NULL, 0), WDP_S_OK);
	assert_int_equal(port_open, 0);
	assert_false(status_flags(f) & WDP_F_DEBUG);
	/* the session's end closes it (at the next command) */
	dbg_unlock_ok(f, d);
	assert_int_equal(port_open, 1);
	f->m.now += d->session;
	assert_false(status_flags(f) & WDP_F_DEBUG);
	assert_int_equal(port_open, 0);
	f->m.now -= d->session;
	/* a reset: closed from the first command on */
	dbg_unlock_ok(f, d);
	assert_int_equal(port_open, 1);
	wdev_free(&f->dev);
	assert_int_equal(wdev_init(&f->dev, &f->pal, "writ-test"), 0);
	do_discover(f);
	assert_int_equal(port_open, 0);
	assert_false(status_flags(f) & WDP_F_DEBUG);
	dbg_free(d);
}

static void test_debug_perm_reflash(void **state)
{
	struct fx *f = *state;
	struct dbg *d = dbg_new(f);
	struct wdev_info info;
	struct pl p;
	uint8_t sig[64], *img;

	/* locked: no firmware */
	refuse_detail(f, WDP_CMD_FW_BEGIN, p.b, begin_payload(&p, 2, 5000, f->sb_pub), WDP_S_LOCKED, "REFLASH");
	/* an unlock without REFLASH (DEBUG only) changes nothing for firmware */
	memset(d->perms, 0, 16);
	set_perm(d->perms, WDP_DBG_PERM_DEBUG);
	dbg_unlock_ok(f, d);
	refuse_detail(f, WDP_CMD_FW_BEGIN, p.b, begin_payload(&p, 2, 5000, f->sb_pub), WDP_S_LOCKED, "REFLASH");
	/* REFLASH beyond the delegate's mask (0x0F: bits 0..3): DENIED, never reduced */
	assert_int_equal(xfer(f, WDP_CMD_DEBUG_LOCK, NULL, 0), WDP_S_OK);
	memset(d->perms, 0, 16);
	set_perm(d->perms, WDP_DBG_PERM_REFLASH);
	dbg_refuse(f, d, WDP_S_DENIED, "mask");
	set_perm(d->cd.perms, WDP_DBG_PERM_REFLASH);
	/* with REFLASH: newer signed firmware installs */
	dbg_unlock_ok(f, d);
	assert_false(status_flags(f) & WDP_F_DEBUG); /* REFLASH alone does not open the port */
	do_fw(f, 2, 5000);
	assert_int_equal(wdev_info(&f->dev, &info), 0);
	assert_int_equal(info.fw_version, 2);
	assert_int_equal(info.fw_size, 5000);
	/* still secure-boot checked: a bad signature and a rollback are refused */
	img = make_image(3000, 3);
	assert_int_equal(hs_sign_fw(f->sb_key, 3, img, 3000, sig), 0);
	sig[10] ^= 1;
	assert_int_equal(fw_begin(f, 3, 3000), WDP_S_OK);
	send_image(f, img, 3000);
	refuse(f, WDP_CMD_FW_END, p.b, end_payload(&p, sig), WDP_S_VERIFY);
	refuse(f, WDP_CMD_FW_BEGIN, p.b, begin_payload(&p, 1, 3000, f->sb_pub), WDP_S_ROLLBACK);
	/* other writes stay refused */
	refuse_detail(f, WDP_CMD_GENERATE_KEYS, NULL, 0, WDP_S_LOCKED, "secured");
	/* DEBUG_LOCK ends it, and abandons a transfer in progress */
	assert_int_equal(fw_begin(f, 3, 3000), WDP_S_OK);
	assert_int_equal(xfer(f, WDP_CMD_DEBUG_LOCK, NULL, 0), WDP_S_OK);
	refuse_detail(f, WDP_CMD_FW_CHUNK, p.b, chunk_payload(&p, 0, img, 100), WDP_S_LOCKED, "REFLASH");
	dbg_unlock_ok(f, d);
	refuse_detail(f, WDP_CMD_FW_CHUNK, p.b, chunk_payload(&p, 0, img, 100), WDP_S_STATE, "FW_BEGIN first");
	/* the session's end */
	f->m.now += d->session;
	refuse(f, WDP_CMD_FW_BEGIN, p.b, begin_payload(&p, 3, 3000, f->sb_pub), WDP_S_LOCKED);
	f->m.now -= d->session;
	/* a reset */
	dbg_unlock_ok(f, d);
	wdev_free(&f->dev);
	assert_int_equal(wdev_init(&f->dev, &f->pal, "writ-test"), 0);
	do_discover(f);
	refuse(f, WDP_CMD_FW_BEGIN, p.b, begin_payload(&p, 3, 3000, f->sb_pub), WDP_S_LOCKED);
	/* what was installed under the unlock survives it */
	assert_int_equal(wdev_info(&f->dev, &info), 0);
	assert_int_equal(info.fw_version, 2);
	assert_true(info.flags & WDP_F_LOCKED);
	free(img);
	dbg_free(d);
}

/* A STORE_FACTORY_DATA payload for the chain in f. */
static size_t fd_payload(struct fx *f, struct pl *p)
{
	uint8_t blob[WDP_FACTORY_DATA_MAX];
	size_t n;

	assert_int_equal(hs_make_wfd(f->dac, f->dac_len, f->pai, f->pai_len, blob, sizeof blob, &n), 0);
	pl_init(p);
	wdp_tlv_put(&p->w, WDP_T_FACTORY_DATA, blob, n);
	return pl_done(p);
}

/* GET_CHAIN answers dac (dac_len bytes). */
static void chain_is(struct fx *f, const uint8_t *dac, size_t dac_len)
{
	const uint8_t *v;
	size_t n;

	assert_int_equal(xfer(f, WDP_CMD_GET_CHAIN, NULL, 0), WDP_S_OK);
	assert_non_null(v = rtlv(f, WDP_T_DAC, &n));
	assert_int_equal(n, dac_len);
	assert_memory_equal(v, dac, n);
}

/* Every re-provisioning command answers LOCKED naming REPROVISION. */
static void reprov_closed(struct fx *f)
{
	struct pl p;

	refuse_detail(f, WDP_CMD_GENERATE_KEYS, NULL, 0, WDP_S_LOCKED, "REPROVISION");
	refuse_detail(f, WDP_CMD_STORE_CHAIN, p.b, chain_payload(&p, f->dac, f->dac_len, f->pai, f->pai_len),
		      WDP_S_LOCKED, "REPROVISION");
	refuse_detail(f, WDP_CMD_STORE_FACTORY_DATA, p.b, fd_payload(f, &p), WDP_S_LOCKED, "REPROVISION");
	refuse_detail(f, WDP_CMD_GET_CSR, NULL, 0, WDP_S_STATE, "certified");
}

static void test_debug_perm_reprovision(void **state)
{
	struct fx *f = *state;
	struct dbg *d = dbg_new(f);
	struct wdev_info info;
	struct pl p;
	uint8_t old_pub[65], old_dac[WDP_CERT_MAX], old_csr[WDP_CSR_MAX], wr[WDP_WRAP_OVERHEAD + WDP_SECRET_MIN] = { 0 };
	const uint8_t *v;
	size_t n, old_len = f->dac_len, old_csr_len;

	memcpy(old_pub, f->att_pub, 65);
	memcpy(old_dac, f->dac, f->dac_len);
	/* secured, no unlock: closed */
	reprov_closed(f);
	/* an unlock without the bit (DEBUG and bit 1) changes nothing for provisioning */
	dbg_unlock_ok(f, d);
	reprov_closed(f);
	assert_int_equal(xfer(f, WDP_CMD_DEBUG_LOCK, NULL, 0), WDP_S_OK);
	/* REPROVISION beyond the delegate's mask: DENIED */
	memset(d->perms, 0, 16);
	set_perm(d->perms, WDP_DBG_PERM_REPROVISION);
	dbg_refuse(f, d, WDP_S_DENIED, "mask");
	set_perm(d->cd.perms, WDP_DBG_PERM_REPROVISION);
	dbg_unlock_ok(f, d);
	/* never OTP, LOCK, secrets or firmware: REPROVISION is not REFLASH */
	refuse_detail(f, WDP_CMD_BURN_OTP, p.b, otp_payload(&p, f->sb_hash, f->dbg_hash), WDP_S_LOCKED,
		      "keys, chain and factory data only");
	refuse_detail(f, WDP_CMD_LOCK, NULL, 0, WDP_S_LOCKED, "keys, chain and factory data only");
	refuse_detail(f, WDP_CMD_STORE_SECRET, p.b, secret_payload(&p, "wifi", wr, sizeof wr), WDP_S_LOCKED,
		      "keys, chain and factory data only");
	refuse(f, WDP_CMD_FW_BEGIN, p.b, begin_payload(&p, 2, 3000, f->sb_pub), WDP_S_LOCKED);
	/* under REPROVISION GET_CSR answers for the key the chip holds, chain or not */
	assert_int_equal(xfer(f, WDP_CMD_GET_CSR, NULL, 0), WDP_S_OK);
	memcpy(old_csr, f->csr, f->csr_len);
	old_csr_len = f->csr_len;
	/* new keys: the old attestation key is replaced; the chain stays until a new one */
	do_genkeys(f);
	assert_memory_not_equal(f->att_pub, old_pub, 65);
	assert_true(status_flags(f) & WDP_F_CHAIN);
	/* GET_CSR: a CSR for the new key */
	assert_int_equal(xfer(f, WDP_CMD_GET_CSR, NULL, 0), WDP_S_OK);
	{
		uint8_t pub[65];
		assert_non_null(v = rtlv(f, WDP_T_CSR, &n));
		assert_int_equal(hs_check_csr(v, n, f->uid, pub), 0);
		assert_memory_equal(pub, f->att_pub, 65);
	}
	/* a DAC for another key is refused; a chain for the new key replaces the old */
	{
		uint8_t other[WDP_CERT_MAX];
		size_t ol = 0;
		assert_int_equal(hs_issue_dac(f->pai_key, NULL, f->pai, f->pai_len, old_csr, old_csr_len, other,
					      sizeof other, &ol), 0);
		refuse_detail(f, WDP_CMD_STORE_CHAIN, p.b, chain_payload(&p, other, ol, f->pai, f->pai_len),
			      WDP_S_MISMATCH, "not the attestation key");
	}
	do_chain(f);
	chain_is(f, f->dac, f->dac_len);
	assert_memory_not_equal(f->dac, old_dac, old_len < f->dac_len ? old_len : f->dac_len);
	/* factory data must carry the new chain */
	{
		uint8_t keep[WDP_CERT_MAX];
		size_t kl = f->dac_len;
		memcpy(keep, f->dac, kl);
		memcpy(f->dac, old_dac, old_len);
		f->dac_len = old_len;
		refuse(f, WDP_CMD_STORE_FACTORY_DATA, p.b, fd_payload(f, &p), WDP_S_MISMATCH);
		memcpy(f->dac, keep, kl);
		f->dac_len = kl;
	}
	do_fd(f);
	/* the UID stays, the lifecycle stays SECURED */
	assert_int_equal(wdev_info(&f->dev, &info), 0);
	assert_memory_equal(info.uid, f->uid, 16);
	assert_int_equal(info.lifecycle, WDP_LC_SECURED);
	assert_true(info.flags & WDP_F_LOCKED);
	/* DEBUG_LOCK: secured as before */
	assert_int_equal(xfer(f, WDP_CMD_DEBUG_LOCK, NULL, 0), WDP_S_OK);
	reprov_closed(f);
	/* the session's end */
	dbg_unlock_ok(f, d);
	f->m.now += d->session;
	reprov_closed(f);
	f->m.now -= d->session;
	/* a reset: closed, and the new identity survives it */
	dbg_unlock_ok(f, d);
	wdev_free(&f->dev);
	assert_int_equal(wdev_init(&f->dev, &f->pal, "writ-test"), 0);
	do_discover(f);
	reprov_closed(f);
	chain_is(f, f->dac, f->dac_len);
	assert_int_equal(wdev_info(&f->dev, &info), 0);
	assert_int_equal(info.lifecycle, WDP_LC_SECURED);
	/* the kept factory data still names the product: the next unlock verifies */
	dbg_unlock_ok(f, d);
	dbg_free(d);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_discover_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generate_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_csr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_factory_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secret, setup, teardown),
		cmocka_unit_test_setup_teardown(test_otp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_firmware, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rng_health, setup, teardown),
		cmocka_unit_test_setup_teardown(test_storage_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_flow_and_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_unlock_lock_reset, debug_setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_other_uid, debug_setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_zero_uid, debug_setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_replay, debug_setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_stale_challenge, debug_setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_delegate_expired, debug_setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_delegate_not_yet_valid, debug_setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_token_expired, debug_setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_token_not_yet_valid, debug_setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_permission_outside_mask, debug_setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_chain_order, debug_setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_wrong_root, debug_setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_product, debug_setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_key_generation, debug_setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_tamper_every_byte, debug_setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_malformed, debug_setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_needs_root, debug_setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_perm_debug_port, debug_setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_perm_reflash, debug_setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_perm_reprovision, debug_setup, teardown),
	};

	/* `test_device debug` runs the secure-debug tests alone (CTest: test_debug, label
	 * debug); without an argument everything else runs */
	if (argc > 1 && strcmp(argv[1], "debug") == 0)
		cmocka_set_test_filter("test_debug_*");
	else
		cmocka_set_skip_filter("test_debug_*");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
