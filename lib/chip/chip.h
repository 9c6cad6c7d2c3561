/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host side of the device protocol (docs/device-protocol.md): the chip driver that
 * programming stations, tests and benchmarks share. It connects to a chip over a Unix
 * socket, TCP or a serial line (a pty or a UART), numbers requests, retries a lost or
 * corrupted exchange with the same sequence number (the chip answers a retransmission
 * from its cache and does not execute it twice), and turns each command into one call.
 *
 * The driver holds no key material: what it carries (CSR, certificates, wrapped
 * secrets, a signed image) is public or encrypted to the chip.
 *
 * Errors: 0 on success, a negative lib/base/err.h code on failure. When the chip refused
 * a request, chip_last_status() is its wire status (WDP_S_*) and chip_last_detail() its
 * reason; after a transport failure chip_last_status() is 0 and the detail says what
 * happened.
 */
#ifndef WRIT_CHIP_CHIP_H
#define WRIT_CHIP_CHIP_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/wdp.h"

struct chip;

struct chip_opts {
	int timeout_ms; /* per exchange; default 5000 */
	int retries;    /* resends of one request after a timeout or INTEGRITY; default 3 */
};

struct chip_info {
	uint16_t proto;
	uint8_t uid[WDP_UID_LEN];
	char family[33];
	uint8_t lifecycle; /* enum wdp_lifecycle */
	uint32_t state;    /* enum wdp_state_flag bits */
	uint32_t max_payload;
	uint32_t fw_version; /* STATUS only */
	/* STATUS only, secure debug: granted permissions and seconds left (zero while
	 * locked; state has WDP_F_DEBUG_UNLOCKED while unlocked), the chip's debug key
	 * generation */
	uint8_t debug_perms[WDP_DBG_PERMS_LEN];
	uint32_t debug_seconds;
	uint32_t debug_key_gen;
};

/*
 * A driver for the chip at addr: "unix:PATH", "tcp:HOST:PORT" (numeric host) or
 * "tty:PATH" / "pty:PATH" (a serial line, set to raw mode). No I/O yet. *ret is
 * malloc'd; free with chip_close. Fails only on a bad argument or no memory.
 */
WRIT_MUST_CHECK int chip_new(const char *addr, const struct chip_opts *opts, struct chip **ret);
void chip_close(struct chip *c); /* accepts NULL */

/* (Re)connect and send DISCOVER, which starts a protocol session; *ret_info (may be
 * NULL) receives its answer. On failure chip_last_detail() says why. */
WRIT_MUST_CHECK int chip_connect(struct chip *c, struct chip_info *ret_info);

/* 1 while a link is up. */
int chip_connected(const struct chip *c);

unsigned chip_last_status(const struct chip *c);
const char *chip_last_detail(const struct chip *c); /* never NULL */
const char *chip_addr(const struct chip *c);

/* Counters since open: exchanges, resends, and seconds spent waiting on the chip. */
struct chip_stats {
	uint64_t exchanges;
	uint64_t resends;
	double wait_s;
};
void chip_get_stats(const struct chip *c, struct chip_stats *ret);

WRIT_MUST_CHECK int chip_status(struct chip *c, struct chip_info *ret);

/* GENERATE_KEYS: csr (cap >= WDP_CSR_MAX), enc_pub, binding (cap >= WDP_BINDING_MAX). */
WRIT_MUST_CHECK int chip_generate_keys(struct chip *c, uint8_t *csr, size_t *csr_len,
				       uint8_t enc_pub[WDP_P256_PUB_LEN], uint8_t *binding,
				       size_t *binding_len);
/* GET_CSR: a fresh CSR over the attestation key the chip already holds (no new keys),
 * with enc_pub and binding; same buffers as chip_generate_keys. The chip answers STATE
 * when it has no keys or already stores a chain. */
WRIT_MUST_CHECK int chip_get_csr(struct chip *c, uint8_t *csr, size_t *csr_len,
				 uint8_t enc_pub[WDP_P256_PUB_LEN], uint8_t *binding, size_t *binding_len);
/* GET_CHAIN: the stored DAC and PAI (buffers of WDP_CERT_MAX bytes). */
WRIT_MUST_CHECK int chip_get_chain(struct chip *c, uint8_t *dac, size_t *dac_len, uint8_t *pai,
				   size_t *pai_len);
WRIT_MUST_CHECK int chip_get_enc_key(struct chip *c, uint8_t enc_pub[WDP_P256_PUB_LEN],
				     uint8_t *binding, size_t *binding_len);
WRIT_MUST_CHECK int chip_store_chain(struct chip *c, const uint8_t *dac, size_t dac_len,
				     const uint8_t *pai, size_t pai_len);
WRIT_MUST_CHECK int chip_store_factory_data(struct chip *c, const uint8_t *blob, size_t len);
WRIT_MUST_CHECK int chip_store_secret(struct chip *c, const char *label, const uint8_t *wrapped,
				      size_t len);
WRIT_MUST_CHECK int chip_burn_otp(struct chip *c, const uint8_t sb_key_hash[32],
				  const uint8_t debug_root_hash[32]);

/* Firmware transfer: FW_BEGIN, chunks of at most the chip's payload limit, FW_END.
 * progress (may be NULL) is called after each chunk with bytes sent so far. */
typedef void (*chip_progress_fn)(void *ctx, size_t done, size_t total);
WRIT_MUST_CHECK int chip_firmware(struct chip *c, uint32_t version,
				  const uint8_t sb_pub[WDP_P256_PUB_LEN], const uint8_t *image,
				  size_t len, const uint8_t sig[64], chip_progress_fn progress,
				  void *progress_ctx);
WRIT_MUST_CHECK int chip_lock(struct chip *c, uint8_t *ret_lifecycle);

/*
 * Secure debug (docs/device-protocol.md, "Secure debug").
 * chip_debug_challenge: DEBUG_CHALLENGE; the chip's UID (may be NULL) and a fresh
 * 32-byte challenge, which replaces any earlier one. chip_debug_unlock: DEBUG_UNLOCK with
 * the debug root's public key, chain_len bytes of certificates (1 or 2 of
 * WDP_DBG_CERT_LEN, root-issued first, delegate last) and a token signed over the
 * challenge; *ret (may be NULL) gets the granted permissions, the session's seconds and
 * the chip's key generation. Any attempt consumes the challenge. chip_debug_lock ends an
 * unlock (OK when none is active). Nothing here is secret.
 */
struct chip_debug {
	uint8_t perms[WDP_DBG_PERMS_LEN];
	uint32_t seconds;
	uint32_t key_gen;
};
WRIT_MUST_CHECK int chip_debug_challenge(struct chip *c, uint8_t uid[WDP_UID_LEN],
					 uint8_t challenge[WDP_DBG_CHALLENGE_LEN]);
WRIT_MUST_CHECK int chip_debug_unlock(struct chip *c, const uint8_t root_pub[WDP_P256_PUB_LEN],
				      const uint8_t *chain, size_t chain_len,
				      const uint8_t token[WDP_DBG_TOKEN_LEN], struct chip_debug *ret);
WRIT_MUST_CHECK int chip_debug_lock(struct chip *c);

/* One raw exchange, for tests and tools: send a request with these TLVs, receive the
 * answer. Returns the chip's wire status (>= 0) or a negative transport error;
 * *ret_payload_len bytes of TLVs are copied into payload_out (cap bytes). */
WRIT_MUST_CHECK int chip_exchange(struct chip *c, uint16_t command, const uint8_t *payload,
				  size_t len, uint8_t *payload_out, size_t cap,
				  size_t *ret_payload_len);

/* Human name of a STATE flag set, e.g. "keys,chain,otp" into buf. */
const char *chip_state_str(uint32_t state, char *buf, size_t cap);

#endif
