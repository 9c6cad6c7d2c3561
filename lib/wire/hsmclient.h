/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Client side of writ-hsmd's socket API, shared by the CLI, the factory service, tests
 * and benchmarks. Each call sends one request and reads one response on a connected
 * socket. Returns the response status (0 or a negative writ_err); on refusal the
 * HSM's reason is copied into reason.
 */
#ifndef WRIT_WIRE_HSMCLIENT_H
#define WRIT_WIRE_HSMCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <cbor.h>

#include "base/err.h"
#include "wire/hsmproto.h"

#define HSMC_REASON_MAX 256

WRIT_MUST_CHECK int hsmc_connect(const char *socket_path, int *ret_fd);

/* Send req (a map) and receive the response map (*ret_resp, caller decrefs; set even on
 * refusal). Transport failures return WRIT_E_IO / WRIT_E_PROTO with *ret_resp NULL. */
WRIT_MUST_CHECK int hsmc_call(int fd, const cbor_item_t *req, cbor_item_t **ret_resp, char *reason);

WRIT_MUST_CHECK int hsmc_load_writ(int fd, const uint8_t *writ, size_t len, uint8_t ret_id[16], char *reason);

struct hsmc_dac {
	uint8_t *dac, *pai; /* malloc'd DER */
	size_t dac_len, pai_len;
	uint64_t device_serial, seq;
	int reissued; /* 1: the HSM re-issued this device's DAC (same UID and key, no quantity) */
};
WRIT_MUST_CHECK int hsmc_issue_dac(int fd, const uint8_t id[16], const uint8_t *csr, size_t csr_len,
				   const uint8_t *uid, size_t uid_len, struct hsmc_dac *ret, char *reason);
void hsmc_dac_free(struct hsmc_dac *d);

/* Op 6: ask for the writ's secret `label` wrapped to one chip. uid is the chip's
 * 16-byte UID, dac its DER certificate (<= 600 bytes), enc_pub its key-agreement key,
 * binding its ENC_BINDING (DER ECDSA, 8..72 bytes), label a NUL-terminated string. The
 * wrapped bytes (<= HSMP_WRAPPED_MAX) are copied into ret_wrapped (cap bytes,
 * caller-owned) and the journal seq of the wrap into *ret_seq (may be NULL).
 * WRIT_E_INVAL for arguments the HSM would refuse as a protocol violation. */
WRIT_MUST_CHECK int hsmc_wrap_secret(int fd, const uint8_t id[16], const uint8_t uid[16], const uint8_t *dac,
				     size_t dac_len, const uint8_t enc_pub[65], const uint8_t *binding,
				     size_t binding_len, const char *label, uint8_t *ret_wrapped, size_t cap,
				     size_t *ret_len, uint64_t *ret_seq, char *reason);

/* Op 7: have the HSM sign its journal up to now (a checkpoint is written only if an
 * entry was appended since the last one; calling it again is cheap). *ret_next is the
 * next journal seq, *ret_checkpoint the seq of the latest checkpoint: entries up to it
 * are signed. Either pointer may be NULL. */
WRIT_MUST_CHECK int hsmc_checkpoint(int fd, uint64_t *ret_next, uint64_t *ret_checkpoint, char *reason);

/* Op 8: a debug-unlock token for the chip uid and its challenge, under writ id's rework
 * rights (docs/hsm-api.md). On success the token (HSMP_DBG_TOKEN_LEN bytes) and the
 * delegate's chain (*ret_n_chain certificates of HSMP_DBG_CERT_LEN bytes, at most 2,
 * concatenated into ret_chain) are copied out; *ret_not_after is the token's end and
 * *ret_seq its journal seq (either may be NULL). */
struct hsmc_debug {
	uint8_t token[HSMP_DBG_TOKEN_LEN];
	uint8_t chain[2 * HSMP_DBG_CERT_LEN];
	size_t n_chain;
	int64_t not_after;
	uint64_t seq;
};
WRIT_MUST_CHECK int hsmc_debug_token(int fd, const uint8_t id[16], const uint8_t uid[16],
				     const uint8_t challenge[HSMP_DBG_CHALLENGE_LEN],
				     const uint8_t perms[HSMP_DBG_PERMS_LEN], uint32_t session, uint32_t operation,
				     struct hsmc_debug *ret, char *reason);

/* Op 4: up to max (1..HSMP_JOURNAL_BATCH_MAX) durable journal entries from seq since.
 * *ret_entries is a CBOR array of byte strings, each one entry's bytes (the caller
 * decrefs it); *ret_next (may be NULL) is the next journal seq. WRIT_E_INVAL for a max
 * the HSM would refuse, WRIT_E_PROTO for an answer that is not such an array. */
WRIT_MUST_CHECK int hsmc_journal(int fd, uint64_t since, uint64_t max, cbor_item_t **ret_entries,
				 uint64_t *ret_next, char *reason);

#endif
