/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The journal entry of writ-hsmd (docs/writ-format.md, "Journal"), in one place: its
 * writer (canonical CBOR), its reader (strict and bounded, no allocation), its body
 * per type as the CDDL says, and the digest a checkpoint signs. writ-hsmd's journal
 * (hsm/journal.c) writes and reads its file through this; lib/wire/jseg.c verifies
 * runs of entries away from the HSM with it.
 *
 * An entry is the map {1: seq, 2: prev, 3: time, 4: type, 5: body}; a body is a map of
 * unsigned keys 1..JENTRY_BODY_KEY_MAX to unsigned or negative integers, byte strings
 * or text strings. Canonical means: definite lengths, every head in its shortest form,
 * keys in ascending order, nothing after the map.
 */
#ifndef WRIT_WIRE_JENTRY_H
#define WRIT_WIRE_JENTRY_H

#include <stddef.h>
#include <stdint.h>

#include <cbor.h>

#include "base/err.h"
#include "base/keyops.h"
#include "wire/writ.h"

enum journal_type {
	JT_GENESIS = 1,    /* {1 hsm id, 2 factory, 3 identity pub, 4 kex pub, 5 pai pub,
			      6 pinned writ-signing pub, 7 dac serial prefix(4), 8 tolerance,
			      ? 9 TPM NV counter index, 10 its value at init (both or neither:
			      the rollback anchor, hsm/anchor.h)} */
	JT_START = 2,      /* {1 version tstr, [2 TPM clock ms, 3 resetCount, 4 restartCount, 5 host
			      time: the TPM clock anchor]}: a daemon start, anchors trusted time */
	JT_WRIT = 3,       /* {1 writ id, 2 signed writ (COSE_Sign1)}, or for a writ that
			      carries secrets {1 writ id, 3 sealed writ (COSE_Encrypt)} */
	JT_DAC = 4,        /* {1 writ id, 2 index, 3 device uid, 4 device serial,
			      5 DAC serial, 6 SHA-256 of DAC DER, 7 SHA-256 of the device
			      public key (65-byte point; absent in entries of older daemons)} */
	JT_CHECKPOINT = 5, /* {1 signature r||s} */
	JT_WRAP = 6,       /* {1 writ id, 2 device uid(16), 3 label tstr, 4 SHA-256 of DAC DER,
			      5 SHA-256 of ENC_PUB}: a secret wrapped to a chip (never the secret) */
	JT_DEBUG = 8,      /* {1 writ id, 2 device uid(16), 3 permissions(16), 4 session s,
			      5 operation (1 debug, 2 re-flash, 3 re-provision), 6 token
			      not_after, 7 SHA-256 of the token}: a debug-unlock token signed
			      under a writ's rework rights (counts against their limit) */
	JT_REPROVISION = 9, /* {1 rework writ id, 2 the production writ id that made the device,
			       3 device uid, 4 device serial, 5 DAC serial, 6 SHA-256 of DAC DER,
			       7 SHA-256 of the new device public key}: a device re-provisioned
			       under a rework writ (one unit of its rights, no quantity) */
	JT_REISSUE = 7,    /* the body of JT_DAC, 7 required: a DAC again for a device that has
			      one under the writ, for the same key; uses no quantity */
};

#define JOURNAL_MAX_ENTRY (96 * 1024) /* bytes of one entry */
#define JENTRY_BODY_KEY_MAX 15        /* body keys are 1..15 (the CDDL uses 1..8) */
#define JENTRY_UID_MAX 32             /* device UID in a dac entry: 1..32 bytes */
#define JENTRY_WRAP_UID_LEN 16        /* device UID in a wrap entry */
#define JENTRY_VERSION_MAX 64         /* start entry: 1..64 bytes of printable ASCII */
#define JENTRY_SERIAL_LEN 12          /* DAC certificate serial: prefix(4) || u64 counter */

/* jentry_decode flags. JENTRY_LEGACY also accepts heads longer than needed: journals
 * written before the canonical writer hold libcbor's 9-byte integer heads. Only
 * writ-hsmd reading its own file uses it; anything that verifies a journal elsewhere
 * reads strictly. */
#define JENTRY_LEGACY 1u

/* One body value as read: major type 0 (uint, arg = value), 1 (negative, value =
 * -1 - arg), 2 (bstr) or 3 (tstr) with arg bytes at p (into the entry). */
struct jentry_val {
	uint8_t present;
	uint8_t major;
	uint64_t arg;
	const uint8_t *p;
};

/* An entry's envelope. Pointers are into the decoded bytes, valid while they are. */
struct jentry {
	uint64_t seq;
	uint8_t prev[32];
	int64_t time;
	uint32_t type;                /* JT_GENESIS..JT_REPROVISION */
	const uint8_t *body;          /* the body map's encoding */
	size_t body_len;
	struct jentry_val vals[JENTRY_BODY_KEY_MAX + 1]; /* vals[k] is body key k */
};

/* Decode one entry: the envelope with all five keys in order, a known type, seq 0 if
 * and only if the type is genesis, and a body of flat values (see above). Nothing is
 * checked inside the body beyond that: jentry_body_decode does. WRIT_E_TOOBIG for more
 * than JOURNAL_MAX_ENTRY bytes, WRIT_E_FORMAT for anything else; *ret is written only
 * on success. */
WRIT_MUST_CHECK int jentry_decode(const uint8_t *buf, size_t len, unsigned flags, struct jentry *ret);

/* What a body says, per type (docs/writ-format.md CDDL). */
struct jentry_genesis {
	uint8_t hsm_id[WRIT_KEYID_LEN];      /* SHA-256 of identity_pub */
	char factory[WRIT_NAME_MAX + 1];
	uint8_t identity_pub[WRIT_P256_PUB_LEN];
	uint8_t kex_pub[WRIT_P256_PUB_LEN];
	uint8_t pai_pub[WRIT_P256_PUB_LEN];
	uint8_t oem_pub[WRIT_P256_PUB_LEN];  /* the pinned writ-signing key */
	uint8_t serial_prefix[4];
	uint32_t tolerance;                  /* seconds, <= 86400 */
	uint32_t anchor_nv;                  /* TPM NV counter index; 0: no anchor */
	uint64_t anchor_base;                /* the counter's value at init */
	int kex_tpm;                         /* the key-agreement key is a TPM key (--kex tpm) */
};
struct jentry_start {
	char version[JENTRY_VERSION_MAX + 1];
};
struct jentry_writ {
	uint8_t id[WRIT_ID_LEN];
	const uint8_t *msg;                  /* into the entry */
	size_t len;
	int sealed; /* 0: the signed COSE_Sign1 (writ_verify_signed under the OEM key);
		       1: the sealed COSE_Encrypt to the HSM (a writ that carries secrets) */
};
struct jentry_dac { /* JT_DAC and JT_REISSUE */
	uint8_t writ_id[WRIT_ID_LEN];
	uint64_t index;
	uint8_t uid[JENTRY_UID_MAX];
	size_t uid_len;
	uint64_t device_serial;
	uint8_t dac_serial[JENTRY_SERIAL_LEN];
	uint8_t dac_sha256[32];
	uint8_t key_sha256[32];
	int has_key; /* key 7 present (always in a reissue) */
};
struct jentry_wrap {
	uint8_t writ_id[WRIT_ID_LEN];
	uint8_t uid[JENTRY_WRAP_UID_LEN];
	char label[WRIT_SECRET_LABEL_MAX + 1];
	uint8_t dac_sha256[32];
	uint8_t enc_pub_sha256[32];
};
struct jentry_checkpoint {
	uint8_t sig[WRIT_P256_SIG_LEN];
};
struct jentry_reprovision {
	uint8_t writ_id[WRIT_ID_LEN];  /* the rework writ */
	uint8_t orig_writ_id[WRIT_ID_LEN];
	uint8_t uid[JENTRY_UID_MAX];
	size_t uid_len;
	uint64_t device_serial;
	uint8_t dac_serial[JENTRY_SERIAL_LEN];
	uint8_t dac_sha256[32];
	uint8_t key_sha256[32];
};
struct jentry_debug {
	uint8_t writ_id[WRIT_ID_LEN];
	uint8_t uid[JENTRY_WRAP_UID_LEN];
	uint8_t perms[16];
	uint32_t session;
	uint32_t operation; /* 1..3 */
	int64_t not_after;
	uint8_t token_sha256[32];
};
struct jentry_body {
	uint32_t type;
	union {
		struct jentry_genesis genesis;
		struct jentry_start start;
		struct jentry_writ writ;
		struct jentry_dac dac; /* JT_DAC, JT_REISSUE */
		struct jentry_wrap wrap;
		struct jentry_checkpoint checkpoint;
		struct jentry_debug debug;
		struct jentry_reprovision reprovision;
	} u;
};

/* Check e's body strictly against the CDDL of its type (exactly its keys, types,
 * sizes and character sets) and fill *ret. WRIT_E_FORMAT otherwise. */
WRIT_MUST_CHECK int jentry_body_decode(const struct jentry *e, struct jentry_body *ret);

/* Encode entry {seq, prev, time, type, body} canonically. body is a map with unsigned
 * keys 1..JENTRY_BODY_KEY_MAX, each once, of unsigned/negative integers and definite
 * byte/text strings (written in ascending key order whatever its order); its content
 * is the caller's (jentry_body_decode says whether it follows the CDDL). *ret is
 * malloc'd. WRIT_E_INVAL for a body the reader would refuse, WRIT_E_TOOBIG above
 * JOURNAL_MAX_ENTRY. */
WRIT_MUST_CHECK int jentry_encode(uint64_t seq, const uint8_t prev[32], int64_t time, uint32_t type,
				  const cbor_item_t *body, uint8_t **ret, size_t *ret_len);

/* The digest a checkpoint at seq signs: SHA-256("writ-journal-checkpoint" ||
 * u64be(seq) || prev), prev being the hash of entry seq - 1. */
WRIT_MUST_CHECK int jentry_checkpoint_digest(uint64_t seq, const uint8_t prev[32], uint8_t ret[32]);

/* 0 if sig (r||s) is identity_pub's signature of checkpoint seq over prev;
 * WRIT_E_BADSIG if not, WRIT_E_FORMAT for a key that is not a P-256 point. */
WRIT_MUST_CHECK int jentry_checkpoint_verify(const uint8_t identity_pub[WRIT_P256_PUB_LEN], uint64_t seq,
					     const uint8_t prev[32], const uint8_t sig[WRIT_P256_SIG_LEN]);

#endif
