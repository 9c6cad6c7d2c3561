/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libwrit-device: the chip side of the device protocol (docs/device-protocol.md). The
 * library parses request frames, enforces the provisioning order, holds the chip's keys
 * and writes its persistent state through a PAL (wdev_pal.h). It is portable C99 in the
 * style of BearSSL: the caller allocates the one context (struct wdev_ctx, statically or
 * on the heap), the library calls no malloc of its own, keeps no globals and no hidden
 * state, and the context holds no pointers into itself, so it may be moved between
 * calls. Mbed TLS 2.28 does the cryptography; note that Mbed TLS allocates its bignums
 * on the heap internally (configure MBEDTLS_PLATFORM_MEMORY with a static pool on an MCU).
 *
 * Errors follow Mbed TLS: 0 on success, a negative WDEV_E_* on failure, where
 * WDEV_E_x = -WDP_S_x, the wire status. No call reads out a private key.
 */
#ifndef WRIT_DEVICE_WDEV_H
#define WRIT_DEVICE_WDEV_H

#include <stddef.h>
#include <stdint.h>

#include "base/wdp.h"
#include "wdev_pal.h"

#include <mbedtls/sha256.h>

#if defined(__GNUC__) || defined(__clang__)
#define WDEV_MUST_CHECK __attribute__((warn_unused_result))
#else
#define WDEV_MUST_CHECK
#endif

enum wdev_err {
	WDEV_OK = 0,
	WDEV_E_FRAME = -WDP_S_FRAME,
	WDEV_E_INTEGRITY = -WDP_S_INTEGRITY,
	WDEV_E_TOO_BIG = -WDP_S_TOO_BIG,
	WDEV_E_UNKNOWN_COMMAND = -WDP_S_UNKNOWN_COMMAND,
	WDEV_E_MALFORMED = -WDP_S_MALFORMED,
	WDEV_E_SEQUENCE = -WDP_S_SEQUENCE,
	WDEV_E_STATE = -WDP_S_STATE,
	WDEV_E_LOCKED = -WDP_S_LOCKED,
	WDEV_E_VERIFY = -WDP_S_VERIFY,
	WDEV_E_MISMATCH = -WDP_S_MISMATCH,
	WDEV_E_RNG = -WDP_S_RNG,
	WDEV_E_STORAGE = -WDP_S_STORAGE,
	WDEV_E_CRYPTO = -WDP_S_CRYPTO,
	WDEV_E_OTP = -WDP_S_OTP,
	WDEV_E_DECRYPT = -WDP_S_DECRYPT,
	WDEV_E_ROLLBACK = -WDP_S_ROLLBACK,
	WDEV_E_DENIED = -WDP_S_DENIED,
	WDEV_E_EXPIRED = -WDP_S_EXPIRED
};

#define WDEV_FW_MAX WDP_FW_MAX
#define WDEV_MAX_SECRETS 4u
#define WDEV_FAMILY_MAX 32u
#define WDEV_P256_PRIV_LEN 32u

/* ---- the context: allocate it, never touch its fields ---- */

struct wdev_secret_slot {
	uint8_t label_len; /* 0: slot empty */
	uint8_t label[WDP_LABEL_MAX];
	uint8_t len;
	uint8_t value[WDP_SECRET_MAX];
};

/* The persistent record (serialized to WDEV_AREA_STATE). */
struct wdev_state {
	uint8_t have_keys, have_chain, have_fd, have_fw;
	uint8_t att_priv[WDEV_P256_PRIV_LEN];
	uint8_t att_pub[WDP_P256_PUB_LEN];
	uint8_t enc_priv[WDEV_P256_PRIV_LEN]; /* wiped at LOCK: no secret can arrive after */
	uint8_t enc_pub[WDP_P256_PUB_LEN];
	uint8_t have_enc_priv;
	uint8_t binding_len;
	uint8_t binding[WDP_BINDING_MAX];
	uint16_t dac_len, pai_len, fd_len;
	uint8_t dac[WDP_CERT_MAX];
	uint8_t pai[WDP_CERT_MAX];
	uint8_t fd[WDP_FACTORY_DATA_MAX];
	struct wdev_secret_slot secrets[WDEV_MAX_SECRETS];
	uint32_t fw_version, fw_size;
	uint8_t fw_slot; /* WDEV_AREA_FW0 or WDEV_AREA_FW1 */
	uint8_t fw_digest[32];
	uint64_t locked_at;
	uint32_t debug_key_gen; /* highest debug key generation seen in a valid chain */
};

struct wdev_ctx {
	struct wdev_pal pal;
	uint8_t family[WDEV_FAMILY_MAX];
	uint8_t family_len;
	uint8_t ready;  /* wdev_init succeeded */
	uint8_t broken; /* storage could not be reloaded after a failed commit */
	uint8_t otp[WDEV_OTP_SIZE];
	struct wdev_state st;
	/* firmware transfer in progress (RAM only: a reset abandons it) */
	struct {
		uint8_t active;
		uint8_t slot;
		uint32_t version, size, received;
		uint8_t sb_pub[WDP_P256_PUB_LEN];
		mbedtls_sha256_context sha;
	} fw;
	/* RNG: one health-tested block at a time, and a digest of the previous block */
	uint8_t rng_block[32];
	uint8_t rng_avail;
	uint8_t rng_failed;
	uint8_t rng_have_prev;
	uint8_t rng_prev_digest[32];
	/* secure debug (RAM only: a reset, i.e. a new wdev_init, locks debug again) */
	struct {
		uint8_t unlocked;
		uint8_t perms[WDP_DBG_PERMS_LEN];
		uint64_t until; /* Unix seconds at which the unlock ends */
		uint8_t have_chal;
		uint8_t chal[WDP_DBG_CHALLENGE_LEN];
		/* SHA-256 of the last challenge consumed by DEBUG_UNLOCK and of the last one a
		 * new DEBUG_CHALLENGE superseded: only to name the refusal (replay / stale) */
		uint8_t have_used, have_stale;
		uint8_t used_digest[32], stale_digest[32];
		uint8_t port_known, port_open; /* what the PAL's debug_port hook was last told */
	} dbg;
	/* session and the cached last response */
	uint8_t have_session;
	uint32_t last_seq;
	uint16_t last_code;
	uint32_t last_len, last_crc;
	size_t resp_len;
	uint8_t resp[WDP_FRAME_MAX];
	struct wdp_rx rx;
	uint8_t payload[WDP_PAYLOAD_MAX];   /* response payload being built */
	uint8_t work[WDEV_STATE_AREA_SIZE]; /* serialized state record; wiped after use */
};

/* ---- calls ---- */

/*
 * Initialise ctx (caller-allocated, any contents) for the chip described by pal (copied;
 * pal->ctx must stay valid until wdev_free) and load the persistent state through it.
 * family is the CHIP_FAMILY string DISCOVER reports (1..32 bytes, copied). Returns 0, or
 * WDEV_E_STORAGE (unreadable or corrupt state, no UID in OTP), WDEV_E_MALFORMED (bad
 * arguments). On failure ctx holds no secret and needs no wdev_free (it is harmless).
 */
WDEV_MUST_CHECK int wdev_init(struct wdev_ctx *ctx, const struct wdev_pal *pal, const char *family);

/* Wipe every key and secret held in ctx. ctx may be NULL. Afterwards ctx is invalid
 * until the next wdev_init. Storage is not touched. */
void wdev_free(struct wdev_ctx *ctx);

/*
 * Feed received bytes in[n] to the chip. Consumes bytes until one response is ready or
 * in[] is used up: *ret_used says how many bytes were consumed, *ret_out_len how many
 * response bytes were written to out (0 if none yet). Call again with the rest of in[]
 * until it is consumed, sending each response as it comes. cap must be at least
 * WDP_FRAME_MAX. Protocol errors are answered on the wire, not returned: the result is 0,
 * or WDEV_E_TOO_BIG (cap too small), WDEV_E_MALFORMED (ctx not initialised), and then
 * nothing was consumed.
 */
WDEV_MUST_CHECK int wdev_process(struct wdev_ctx *ctx, const uint8_t *in, size_t n, size_t *ret_used,
				 uint8_t *out, size_t cap, size_t *ret_out_len);

/* The link was (re)connected: drop any half-received frame and the session (the host
 * sends DISCOVER first). A firmware transfer in progress is kept. */
void wdev_link_reset(struct wdev_ctx *ctx);

/* What writ-devsim --show and tests print: nothing secret. */
struct wdev_info {
	uint8_t uid[WDP_UID_LEN];
	uint8_t lifecycle; /* enum wdp_lifecycle */
	uint32_t flags;    /* enum wdp_state_flag */
	uint32_t fw_version, fw_size;
	unsigned n_labels;
	char labels[WDEV_MAX_SECRETS][WDP_LABEL_MAX + 1];
	uint8_t debug_unlocked;                  /* 1 while a secure-debug unlock is active */
	uint8_t debug_perms[WDP_DBG_PERMS_LEN];  /* granted permissions (zero when locked) */
	uint32_t debug_seconds_left;
	uint32_t debug_key_gen;                  /* persisted minimum delegate generation */
};
/* Fill *ret from an initialised ctx. Returns 0 or WDEV_E_MALFORMED. */
WDEV_MUST_CHECK int wdev_info(const struct wdev_ctx *ctx, struct wdev_info *ret);

/*
 * Strictly check a writ factory data (WFD1) blob: magic, length, CRC, TLV order and
 * lengths, every value's type and range, required fields. On success, *ret_dac and
 * *ret_pai (each may be NULL) point into blob at the DAC_CERT and PAI_CERT values, with
 * their lengths. Returns 0 or WDEV_E_MALFORMED. Reads no more than n bytes.
 */
WDEV_MUST_CHECK int wdev_wfd_check(const uint8_t *blob, size_t n, const uint8_t **ret_dac, size_t *ret_dac_len,
				   const uint8_t **ret_pai, size_t *ret_pai_len);

/* The VENDOR_ID and PRODUCT_ID of a WFD1 blob (checked as wdev_wfd_check does).
 * Returns 0 or WDEV_E_MALFORMED. */
WDEV_MUST_CHECK int wdev_wfd_product(const uint8_t *blob, size_t n, uint16_t *ret_vid, uint16_t *ret_pid);

/* A parsed debug certificate or token (docs/device-protocol.md, "Secure debug"). */
struct wdev_dbg_cert {
	uint8_t role; /* enum wdp_dbg_role */
	uint16_t vendor_id, product_id;
	uint32_t key_gen;
	uint64_t not_before, not_after;
	uint8_t perms[WDP_DBG_PERMS_LEN];
	uint8_t hsm_id[WDP_DBG_HSM_ID_LEN];
	const uint8_t *pub;    /* 65 bytes, into the input */
	const uint8_t *signed_part; /* WDP_DBG_CERT_SIGNED bytes */
	const uint8_t *sig;    /* r ‖ s */
};
struct wdev_dbg_token {
	uint8_t uid[WDP_UID_LEN];
	uint64_t not_before, not_after;
	uint8_t perms[WDP_DBG_PERMS_LEN];
	uint32_t session_s;
	const uint8_t *challenge; /* 32 bytes, into the input */
	const uint8_t *signed_part; /* WDP_DBG_TOKEN_SIGNED bytes */
	const uint8_t *sig;
};

/*
 * Strictly parse a debug certificate chain (1..WDP_DBG_CHAIN_MAX certificates of
 * WDP_DBG_CERT_LEN bytes, concatenated) and a token (WDP_DBG_TOKEN_LEN bytes): magic,
 * version, role, reserved bytes, field ranges. Signatures, scope and time are NOT
 * checked here (DEBUG_UNLOCK does that). ret_certs receives *ret_n entries; pointers go
 * into the inputs. Returns 0 or WDEV_E_MALFORMED; *ret_detail (may be NULL) names the
 * problem. Reads no more than the given lengths.
 */
WDEV_MUST_CHECK int wdev_dbg_parse(const uint8_t *chain, size_t chain_len, const uint8_t *token, size_t token_len,
				   struct wdev_dbg_cert ret_certs[WDP_DBG_CHAIN_MAX], size_t *ret_n,
				   struct wdev_dbg_token *ret_token, const char **ret_detail);

#endif
