/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-hsmd's local socket API (docs/hsm-api.md). Each message is a frame
 * u32be(length) || CBOR map with unsigned integer keys; length <= HSMP_MAX_FRAME.
 * A request names its operation under key 1; a response carries a status (0 or a
 * negative writ_err) under key 1 and, on failure, a one-line reason under key 2.
 */
#ifndef WRIT_WIRE_HSMPROTO_H
#define WRIT_WIRE_HSMPROTO_H

#include <stddef.h>
#include <stdint.h>

#include <cbor.h>

#include "base/err.h"
#include "base/keyops.h"

#define HSMP_MAX_FRAME (128 * 1024)
#define HSMP_UID_MAX 32
#define HSMP_JOURNAL_BATCH_MAX 512
#define HSMP_WRAP_UID_LEN 16   /* a wrap names a chip by its 16-byte UID (device protocol) */
#define HSMP_DAC_MAX 600       /* Matter certificates are at most 600 bytes DER */
#define HSMP_BINDING_MIN 8     /* ECDSA-Sig-Value DER: 8..72 bytes for P-256 */
#define HSMP_BINDING_MAX 72
#define HSMP_LABEL_MAX 32      /* secret label: 1..32 bytes of [a-z0-9-] */
#define HSMP_WRAPPED_MAX (65 + 12 + 64 + 16) /* eph_pub || nonce || ct (<= 64) || tag */

enum hsmp_op {
	HSMP_OP_LOAD_WRIT = 1, /* {2: sealed writ}                       -> {10: writ id} */
	HSMP_OP_ISSUE_DAC = 2, /* {3: writ id, 4: CSR DER, 5: device uid} -> {3,4,5,9,11} */
	HSMP_OP_STATUS = 3,    /* {}                                     -> {6, 9, 12, 13} */
	HSMP_OP_JOURNAL = 4,   /* {6: since seq, 7: max entries}         -> {7, 9} */
	HSMP_OP_ENROLMENT = 5, /* {}                                     -> {8} */
	HSMP_OP_WRAP_SECRET = 6, /* {3: writ id, 5: uid(16), 8: DAC, 9: ENC_PUB, 10: binding,
				    11: label}                              -> {14, 9} */
	HSMP_OP_CHECKPOINT = 7, /* {}: sign the journal up to now       -> {9, 16} */
	HSMP_OP_DEBUG_TOKEN = 8, /* {3: writ id, 5: uid(16), 12: challenge, 13: perms, 14: session,
				    15: operation}                          -> {17, 18, 19, 9} */
};

/* Operation of a debug unlock (op 8), as recorded. */
enum hsmp_debug_op { HSMP_DBG_OP_DEBUG = 1, HSMP_DBG_OP_REFLASH = 2, HSMP_DBG_OP_REPROVISION = 3 };
#define HSMP_DBG_CHALLENGE_LEN 32
#define HSMP_DBG_PERMS_LEN 16
#define HSMP_DBG_TOKEN_LEN 156
#define HSMP_DBG_CERT_LEN 209

enum hsmp_req_key {
	HSMP_RQ_OP = 1,
	HSMP_RQ_WRIT = 2,
	HSMP_RQ_WRIT_ID = 3,
	HSMP_RQ_CSR = 4,
	HSMP_RQ_UID = 5,
	HSMP_RQ_SINCE = 6,
	HSMP_RQ_MAX = 7,
	HSMP_RQ_DAC = 8,      /* bstr 1..600: the chip's DAC (DER) */
	HSMP_RQ_ENC_PUB = 9,  /* bstr 65: the chip's key-agreement public key */
	HSMP_RQ_BINDING = 10, /* bstr 8..72: ENC_BINDING, DER ECDSA signature by the DAC key */
	HSMP_RQ_LABEL = 11,   /* tstr 1..32: the secret's label in the writ */
	HSMP_RQ_CHALLENGE = 12, /* bstr 32: the chip's debug challenge */
	HSMP_RQ_PERMS = 13,   /* bstr 16: the permissions asked */
	HSMP_RQ_SESSION = 14, /* uint 1..86400: seconds the unlock may last */
	HSMP_RQ_DBG_OP = 15,  /* uint: enum hsmp_debug_op */
};

enum hsmp_resp_key {
	HSMP_RS_STATUS = 1,     /* int: 0 or negative writ_err */
	HSMP_RS_REASON = 2,     /* tstr */
	HSMP_RS_DAC = 3,        /* bstr: DAC DER */
	HSMP_RS_PAI = 4,        /* bstr: PAI DER */
	HSMP_RS_SERIAL = 5,     /* uint: device serial number */
	HSMP_RS_WRITS = 6,      /* [* writ status map] */
	HSMP_RS_ENTRIES = 7,    /* [* bstr journal entry] */
	HSMP_RS_ENROLMENT = 8,  /* bstr: enrolment bundle */
	HSMP_RS_SEQ = 9,        /* uint: journal seq of this operation / next seq */
	HSMP_RS_WRIT_ID = 10,   /* bstr16 */
	HSMP_RS_DAC_SERIAL = 11, /* bstr: certificate serial number */
	HSMP_RS_HSM_ID = 12,    /* bstr32 */
	HSMP_RS_FACTORY = 13,   /* tstr */
	HSMP_RS_WRAPPED = 14,   /* bstr: WRAPPED (docs/device-protocol.md) */
	HSMP_RS_REISSUED = 15,  /* uint 1, op 2 only when the DAC is a re-issue (no quantity used) */
	HSMP_RS_CHECKPOINT = 16, /* uint: seq of the latest checkpoint (op 7) */
	HSMP_RS_TOKEN = 17,     /* bstr 156: the debug token (op 8) */
	HSMP_RS_CHAIN = 18,     /* [1*2 bstr 209]: the delegate's certificate chain (op 8) */
	HSMP_RS_NOT_AFTER = 19, /* int: the token's not_after (op 8) */
};

/* Keys of a writ status map in HSMP_RS_WRITS. */
enum hsmp_writ_key {
	HSMP_W_ID = 1, HSMP_W_KIND = 2, HSMP_W_PRODUCT = 3, HSMP_W_QUANTITY = 4,
	HSMP_W_ISSUED = 5, HSMP_W_REMAINING = 6, HSMP_W_NOT_BEFORE = 7, HSMP_W_NOT_AFTER = 8,
	HSMP_W_REVOKED = 9, HSMP_W_VID = 10, HSMP_W_PID = 11, HSMP_W_SERIAL_FIRST = 12,
	HSMP_W_SERIAL_LAST = 13,
	HSMP_W_VERSION_DIGEST = 14,  /* bstr 32: the writ's product-version digest */
	HSMP_W_FIRMWARE_DIGEST = 15, /* bstr 32: the writ's firmware digest */
	HSMP_W_REISSUED = 16,        /* uint: DACs re-issued (same UID, same key; no quantity) */
	HSMP_W_REWORK_LIMIT = 17,    /* uint: rework rights' limit; only in writs that carry them */
	HSMP_W_REWORK_USED = 18,     /* uint: unlocks signed under them (durable + in flight) */
	HSMP_W_REWORK_NOT_AFTER = 19, /* int: end of the rework rights' window */
};

/* Send one frame; 0 or WRIT_E_IO. */
WRIT_MUST_CHECK int hsmp_send(int fd, const uint8_t *msg, size_t len);
/* Receive one frame into malloc'd memory. 0 on success, 1 on clean EOF before a frame,
 * WRIT_E_TOOBIG for a frame over max, WRIT_E_IO/WRIT_E_PROTO otherwise. */
WRIT_MUST_CHECK int hsmp_recv(int fd, size_t max, uint8_t **ret, size_t *ret_len);



/* A decoded request; the pointers point into root, released by hsmp_request_free. */
struct hsmp_request {
	uint32_t op;
	const uint8_t *writ;
	size_t writ_len;
	uint8_t writ_id[16];
	const uint8_t *csr;
	size_t csr_len;
	const uint8_t *uid;
	size_t uid_len;
	uint64_t since, max;
	const uint8_t *dac;          /* op 6 */
	size_t dac_len;
	const uint8_t *enc_pub;      /* WRIT_P256_PUB_LEN bytes */
	const uint8_t *binding;
	size_t binding_len;
	char label[HSMP_LABEL_MAX + 1]; /* NUL-terminated, charset checked by the HSM */
	size_t label_len;
	uint8_t challenge[HSMP_DBG_CHALLENGE_LEN]; /* op 8 */
	uint8_t perms[HSMP_DBG_PERMS_LEN];
	uint32_t session, dbg_op;
	cbor_item_t *root;
};

/* Decode and validate a request strictly: the op is known, exactly the keys that op
 * takes are present with the right types and sizes. WRIT_E_PROTO otherwise. */
WRIT_MUST_CHECK int hsmp_decode_request(const uint8_t *buf, size_t len, struct hsmp_request *ret);
void hsmp_request_free(struct hsmp_request *r); /* accepts a zeroed request */

#endif
