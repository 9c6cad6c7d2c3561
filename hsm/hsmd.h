/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The edge HSM's state and operations, independent of transport: the token, the
 * journal, the writs loaded (rebuilt from the journal at start), and the operations
 * of the socket API. Every refusal returns a negative writ_err and a one-line reason,
 * and is logged.
 */
#ifndef WRIT_HSM_HSMD_H
#define WRIT_HSM_HSMD_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <cbor.h>

#include "base/keyops.h"
#include "hsm/anchor.h"
#include "hsm/journal.h"
#include "p11/p11.h"
#include "wire/hsmproto.h"
#include "wire/writ.h"

#define HSM_KEY_IDENTITY "writ-hsm-identity"
#define HSM_KEY_KEX "writ-hsm-kex"
#define HSM_KEY_PAI "writ-hsm-pai"
#define HSM_KEY_DEBUG "writ-hsm-debug" /* the debug delegate (rework rights, op 8) */
#define HSM_DEBUG_TOKEN_TTL 600        /* seconds a debug token is valid after signing */
#define HSM_DEBUG_SKEW 60              /* a token is valid from this long before now */
#define HSM_MAX_WRITS 1024
#define HSM_MAX_QUANTITY WRIT_QUANTITY_MAX
#define HSM_DEFAULT_TOLERANCE 300 /* seconds the clock may step back */
#define HSM_REASON_MAX 256

#define HSM_KEY_FP_LEN 16 /* bytes of SHA-256(device public key) kept per UID */

/* One device that received a DAC under a writ (a slot of the writ's UID set). 40 bytes;
 * the set holds at most 2 slots per device, so memory stays bounded by the quantity. */
struct hsm_uid {
	uint64_t uid;   /* fingerprint of the UID (8 bytes of SHA-256); 0 empty, 1 tombstone */
	/* fingerprint (8 bytes of SHA-256) of the latest durable DAC this device received,
	 * 0 while its first DAC is not yet durable; a secret wrap names the DAC */
	uint64_t dac;
	uint64_t index; /* its index in the writ: device serial = serial_first + index */
	/* the first HSM_KEY_FP_LEN bytes of SHA-256 of the public key (65-byte uncompressed
	 * point) its DAC certifies; all zero if unknown (a dac entry journalled without it) */
	uint8_t key[HSM_KEY_FP_LEN];
	/* 1 while a re-issue or a re-provisioning of this device is between prepare and
	 * commit: a second one waits (refused, retry), so the key the journal records last
	 * is the key in memory, and an old key cannot slip a DAC past a re-provisioning */
	uint8_t busy;
};

struct hsm_writ {
	struct writ_scope scope;
	uint64_t issued;      /* durable DACs */
	uint64_t reserved;    /* in flight */
	uint8_t *used;        /* bitmap of indices issued or in flight (quantity bits) */
	uint64_t next_free;   /* hint: lowest index that may be free */
	uint64_t reissued;    /* durable re-issues: DACs again for a UID, same key, no quantity */
	uint64_t rework_used; /* durable debug tokens under the writ's rework rights */
	uint64_t rework_reserved; /* in flight */
	int revoked;
	/* open-addressing set of the devices that have a DAC from this writ */
	struct hsm_uid *uids;
	size_t uids_cap, uids_n;
};

struct hsm {
	struct p11_ctx *p11;
	struct writ_signer identity, pai;
	struct writ_signer debug; /* the debug delegate; has_debug 0 on an HSM initialised without it */
	int has_debug;
	struct writ_ecdh kex;
	struct journal *journal;
	pthread_mutex_t lock;
	/* from the genesis entry */
	uint8_t hsm_id[WRIT_KEYID_LEN];
	char factory[WRIT_NAME_MAX + 1];
	uint8_t pinned_pub[WRIT_P256_PUB_LEN];
	uint8_t serial_prefix[4];
	int64_t tolerance;
	/* state rebuilt from the journal */
	struct hsm_writ *writs;
	size_t n_writs;
	uint8_t (*revoked)[WRIT_ID_LEN];
	size_t n_revoked;
	uint64_t next_dac_counter;
	int64_t time_offset; /* test knob: added to the system clock */
	/* the TPM clock bound (--counter tpm; docs/threat-model.md, "Clock"): the host time
	 * and TPM clock of the anchor, kept in every start entry while the TPM was not reset */
	struct anchor *tpm;
	int kex_in_tpm; /* the key-agreement key is a TPM key (--kex tpm, hsm/tpmkex.h) */
	int64_t clock_host;
	struct anchor_clock clock_tpm;
	int start_has_clock; /* the last start entry replayed carried an anchor (below) */
	int64_t start_host;
	struct anchor_clock start_tpm;
};

struct hsm_dac_result {
	uint8_t *dac;          /* malloc'd DER */
	size_t dac_len;
	uint64_t device_serial;
	uint8_t dac_serial[12];
	uint64_t seq;
	int reissued;          /* 1: a re-issue (same UID, same key): no quantity was used */
};

/* Open the token and the journal, verify and replay it. With tpm (the journal's
 * rollback anchor, NULL without one) the host clock is also bound to the TPM's: a start
 * with the clock ahead of it beyond the tolerance is refused (WRIT_E_CLOCK). kex: the
 * key-agreement key when it is not the token's (a TPM key, hsm/tpmkex.h), else NULL;
 * the token then needs no ECDH. */
int hsm_open(struct hsm *h, const char *state_dir, const char *module, const char *token, const char *pin,
	     int64_t time_offset, struct anchor *tpm, const struct writ_ecdh *kex);
void hsm_close(struct hsm *h);

int64_t hsm_now(const struct hsm *h);

int hsm_load_writ(struct hsm *h, const uint8_t *sealed, size_t len, uint8_t ret_id[WRIT_ID_LEN], char *reason);

/* A DAC signed and counted in memory but not yet journalled: it must not leave the
 * HSM before hsm_dac_commit made its entry durable. */
#define HSM_COMMIT_MAX 64
struct hsm_dac_pending {
	struct hsm_writ *writ;
	uint64_t index, uid_fp, dac_fp;
	int reissue;         /* journalled as JT_REISSUE; commit counts no quantity */
	int reprovision;     /* under a rework writ: JT_REPROVISION, one unit of its rights */
	size_t slot;         /* reissue / reprovision: the device's slot (busy until commit) */
	struct hsm_writ *orig; /* reprovision: the production writ that made the device */
	uint8_t key[HSM_KEY_FP_LEN]; /* the new key's fingerprint */
	cbor_item_t *body;   /* the journal entry's body */
	int64_t now;
	struct hsm_dac_result result; /* result.dac is malloc'd; result.seq set by commit */
};

/* Check the request and the writ, reserve an index, build and sign the DAC. On
 * success *ret must be passed to hsm_dac_commit (or submit, wait, finish). Under a
 * rework writ (kind 2 granting ISSUE_DAC) it re-provisions instead: a device this HSM
 * certified for the product under a production writ (and named by the rights, if they
 * name devices) gets a DAC for whatever key its CSR carries, with its device serial
 * kept, inside the rights' window and limit (one unit each), journalled as
 * JT_REPROVISION; the device's record in its production writ then names the new key
 * and DAC. Otherwise a UID that already has a durable DAC under the writ gets a DAC
 * again (a re-issue: the same device serial, a new certificate serial, no quantity
 * used, journalled as JT_REISSUE) if and only if the CSR carries the same public key as
 * its first DAC; another key is WRIT_E_REPLAY. */
int hsm_dac_prepare(struct hsm *h, const uint8_t id[WRIT_ID_LEN], const uint8_t *csr, size_t csr_len,
		    const uint8_t *uid, size_t uid_len, struct hsm_dac_pending *ret, char *reason);

/* Journal up to HSM_COMMIT_MAX prepared DACs with one wait for durability. On success
 * every result may be released; on failure none may (their DACs are freed, and they
 * stay counted). */
int hsm_dac_commit(struct hsm *h, struct hsm_dac_pending *const *pending, size_t n, char *reason);

/* hsm_dac_commit in three steps, for a caller that does other work while the disk
 * syncs (the server's committer): submit queues the entries in the journal without
 * waiting (*ret_last: the seq to wait for; each result.seq is set); wait waits until
 * that seq is durable; finish counts the DACs and, only if err is 0 (the submit's and
 * the wait's results), lets them be released; on failure it frees every DAC and
 * answers with the reason. finish must follow every submit with the same n that
 * was not refused with WRIT_E_INVAL. */
int hsm_dac_submit(struct hsm *h, struct hsm_dac_pending *const *pending, size_t n, uint64_t *ret_last);
int hsm_dac_wait(struct hsm *h, uint64_t last);
int hsm_dac_finish(struct hsm *h, struct hsm_dac_pending *const *pending, size_t n, int err, char *reason);
/* Wrap the writ's secret `label` to one chip (op 6, docs/hsm-api.md): the writ is
 * loaded, not revoked, in its window and grants WRIT_OP_WRAP_SECRET; it holds label;
 * dac verifies under this HSM's PAI and is a DAC this HSM issued to uid under the
 * writ (the latest, or an earlier one: all certify the key kept for uid); binding is the DAC key's ECDSA-SHA256 DER signature over "writ enc-key v1" ||
 * uid || enc_pub; enc_pub is a P-256 point. The wrap is journalled (writ id, uid,
 * label, DAC and ENC_PUB digests; never the secret) and durable before the result is
 * returned. Writes HSMP_WRAPPED_MAX bytes at most to ret_wrapped (caller-owned) and
 * the journal seq to *ret_seq. Refusals are logged and journal nothing. */
int hsm_wrap_secret(struct hsm *h, const uint8_t id[WRIT_ID_LEN], const uint8_t uid[HSMP_WRAP_UID_LEN],
		    const uint8_t *dac, size_t dac_len, const uint8_t enc_pub[WRIT_P256_PUB_LEN],
		    const uint8_t *binding, size_t binding_len, const char *label, size_t label_len,
		    uint8_t ret_wrapped[HSMP_WRAPPED_MAX], size_t *ret_len, uint64_t *ret_seq, char *reason);

/* Op 8: sign a debug-unlock token (docs/hsm-api.md) for the chip uid and its current
 * challenge, under the rework rights of writ id: the writ is loaded, not revoked, and
 * carries rights; now is inside their window; perms ⊆ their mask; session ≤ their
 * session_max; the device is named by the rights, or (none named) received a durable DAC
 * from this HSM under a production writ for the same product; the rights' limit is not
 * reached. The token (valid HSM_DEBUG_SKEW s before now until HSM_DEBUG_TOKEN_TTL s
 * after, within the rights' window) is journalled (JT_DEBUG) and durable before it is
 * returned, with the delegate's chain from the writ. */
struct hsm_debug_result {
	uint8_t token[HSMP_DBG_TOKEN_LEN];
	uint8_t chain[WRIT_DBG_CHAIN_MAX][WRIT_DBG_CERT_LEN];
	size_t n_chain;
	int64_t not_after;
	uint64_t seq;
};
int hsm_debug_token(struct hsm *h, const uint8_t id[WRIT_ID_LEN], const uint8_t uid[HSMP_WRAP_UID_LEN],
		    const uint8_t challenge[HSMP_DBG_CHALLENGE_LEN], const uint8_t perms[HSMP_DBG_PERMS_LEN],
		    uint32_t session, uint32_t operation, struct hsm_debug_result *ret, char *reason);

/* Op 7: sign the journal up to now. A checkpoint is written (durably) if, and only if,
 * an entry was appended since the last one; either way *ret_next is the next journal
 * seq and *ret_checkpoint the seq of the latest checkpoint, durable. A checkpoint
 * authorizes nothing, so it is written even while the clock is behind the journal. */
int hsm_checkpoint(struct hsm *h, uint64_t *ret_next, uint64_t *ret_checkpoint, char *reason);

/* Build the status array (HSMP_RS_WRITS). */
int hsm_status(struct hsm *h, cbor_item_t **ret);
/* The PAI certificate of a loaded writ (DER, copied into out of cap bytes). */
int hsm_writ_pai(struct hsm *h, const uint8_t id[WRIT_ID_LEN], uint8_t *out, size_t cap, size_t *ret_len);

#endif
