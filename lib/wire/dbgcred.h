/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secure-debug credentials, host side (docs/device-protocol.md, "Secure debug"): the
 * 209-byte WDC1 certificate (the debug root or an intermediate certifies a key for a
 * product, a key generation, a window, a permission mask and one edge HSM) and the
 * 156-byte WDT1 token (the delegate key in an edge HSM opens debug on one chip, for one
 * challenge). Signatures are made through a writ_signer, so the keys stay in their
 * tokens. The chip's own parser is wdev_dbg_parse in libwrit-device; this one is what
 * the portal, the authority CLI and writ-hsmd use, and it is as strict.
 */
#ifndef WRIT_WIRE_DBGCRED_H
#define WRIT_WIRE_DBGCRED_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/keyops.h"
#include "base/wdp.h"

/* Permission bits (bit i = byte 15 - i/8, bit i%8 of the 128-bit mask). The chip grants
 * what a token asks, within every certificate's mask; the meaning of each bit is the
 * chip's (docs/device-protocol.md). */
enum dbg_perm {
	DBG_PERM_DEBUG = 0,     /* the debug port: failure analysis */
	DBG_PERM_REFLASH = 8,   /* firmware may be written again (still secure-boot checked) */
	DBG_PERM_REPROVISION = 9, /* keys, certificates and factory data may be written again */
};

struct dbg_cert {
	uint8_t role; /* WDP_DBG_ROLE_INTERMEDIATE or WDP_DBG_ROLE_DELEGATE */
	uint16_t vendor_id, product_id; /* product 0 = every product of the vendor */
	uint32_t key_gen;
	uint64_t not_before, not_after;
	uint8_t perms[WDP_DBG_PERMS_LEN];
	uint8_t hsm_id[WDP_DBG_HSM_ID_LEN]; /* ≠ 0 in a delegate certificate */
	uint8_t pub[WRIT_P256_PUB_LEN];     /* the subject key */
};

struct dbg_token {
	uint8_t uid[16];
	uint64_t not_before, not_after;
	uint8_t perms[WDP_DBG_PERMS_LEN];
	uint32_t session; /* seconds, 1..WDP_DBG_SESSION_MAX */
	uint8_t challenge[WDP_DBG_CHALLENGE_LEN];
};

/* 1 if perms has bit set. */
int dbg_perm_has(const uint8_t perms[WDP_DBG_PERMS_LEN], unsigned bit);
void dbg_perm_set(uint8_t perms[WDP_DBG_PERMS_LEN], unsigned bit);
/* 1 if every bit of want is in have (want ⊆ have). */
int dbg_perms_within(const uint8_t want[WDP_DBG_PERMS_LEN], const uint8_t have[WDP_DBG_PERMS_LEN]);
/* 1 if every byte is zero. */
int dbg_is_zero(const uint8_t *p, size_t n);

/* Encode c and sign it with issuer. WRIT_E_INVAL for fields the format forbids (the
 * chip would refuse them): zero vendor, not_before >= not_after, zero mask, a delegate
 * without hsm_id, a point off the curve, an unknown role. */
WRIT_MUST_CHECK int dbg_cert_make(const struct dbg_cert *c, const struct writ_signer *issuer,
				  uint8_t out[WDP_DBG_CERT_LEN]);
/* Parse one certificate strictly (WRIT_E_FORMAT, the same rules as dbg_cert_make). */
WRIT_MUST_CHECK int dbg_cert_parse(const uint8_t in[WDP_DBG_CERT_LEN], struct dbg_cert *ret);
/* Verify one certificate's signature under issuer_pub (WRIT_E_BADSIG). */
WRIT_MUST_CHECK int dbg_cert_verify(const uint8_t in[WDP_DBG_CERT_LEN], const uint8_t issuer_pub[WRIT_P256_PUB_LEN]);

/* Encode t and sign it with the delegate key: r ‖ s over SHA-256(bytes 0..92 ‖
 * challenge). WRIT_E_INVAL for a zero UID or mask, an empty window, a session out of
 * range. */
WRIT_MUST_CHECK int dbg_token_make(const struct dbg_token *t, const struct writ_signer *delegate,
				   uint8_t out[WDP_DBG_TOKEN_LEN]);
/* Parse a token strictly and verify it under delegate_pub (if not NULL). */
WRIT_MUST_CHECK int dbg_token_parse(const uint8_t in[WDP_DBG_TOKEN_LEN], const uint8_t *delegate_pub,
				    struct dbg_token *ret);

#endif
