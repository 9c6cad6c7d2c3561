/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-factory's JSON request validators (docs/factory-api.md), kept apart from the
 * HTTP server so they can be unit-tested and fuzzed alone. Each parser takes the raw
 * body, refuses anything but one JSON object with exactly the fields its endpoint
 * takes (unknown, missing, duplicate or mistyped fields, bad sizes or characters), and
 * fills a fixed-size struct: no allocation survives the call. On refusal it returns
 * WRIT_E_FORMAT (or WRIT_E_TOOBIG) and writes a one-line reason into why (cap bytes).
 * Also the base64 / base64url / hex codecs the API uses.
 */
#ifndef WRIT_FACTORY_API_JSON_H
#define WRIT_FACTORY_API_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define FJ_BODY_MAX (64 * 1024)      /* every request body */
#define FJ_RECORD_BODY_MAX (16 * 1024) /* POST /v1/records */
#define FJ_WHY_MAX 200
#define FJ_TEXT_MAX 64               /* names, lines, codes */
#define FJ_CSR_MAX 4096
#define FJ_UID_LEN 16
#define FJ_DAC_MAX 600
#define FJ_BINDING_MIN 8
#define FJ_BINDING_MAX 72
#define FJ_LABEL_MAX 32
#define FJ_REASON_MAX 256
#define FJ_QR_MAX 256
#define FJ_MANUAL_MAX 32
#define FJ_STEP_MAX 16

struct fj_enrol {
	char code[FJ_TEXT_MAX + 1]; /* wiped by the caller after use */
	char name[FJ_TEXT_MAX + 1];
	char line[FJ_TEXT_MAX + 1];
};

struct fj_dac {
	uint8_t uid[FJ_UID_LEN];
	uint8_t csr[FJ_CSR_MAX];
	size_t csr_len;
};

struct fj_wrap {
	uint8_t uid[FJ_UID_LEN];
	uint8_t dac[FJ_DAC_MAX];
	size_t dac_len;
	uint8_t enc_pub[65];
	uint8_t binding[FJ_BINDING_MAX];
	size_t binding_len;
	char label[FJ_LABEL_MAX + 1];
};

struct fj_record {
	uint8_t writ[16];
	uint8_t uid[FJ_UID_LEN];
	int ok;                          /* result: 1 "ok", 0 "failed" */
	char step[FJ_STEP_MAX + 1];      /* "" if absent */
	char reason[FJ_REASON_MAX + 1];  /* "" if absent */
	int has_dac;                     /* dac_sha256 and serial given (required for ok) */
	uint8_t dac_sha256[32];
	uint64_t serial, hsm_seq;        /* hsm_seq 0 when absent or 0: taken from the note */
	char qr[FJ_QR_MAX + 1];
	char manual[FJ_MANUAL_MAX + 1];
	int has_fw;
	uint64_t firmware_version;
	/* a rework record (step "rework-debug" | "rework-reflash" | "rework-reprov") */
	int rework;
	int has_hsm;                     /* hsm_id and hsm_seq given (required for ok) */
	char hsm_id[65];                 /* lowercase hex, "" if absent */
	uint64_t device_serial;          /* 0: not known */
};

/* POST /v1/rework/token */
enum fj_rework_op { FJ_REWORK_DEBUG = 1, FJ_REWORK_REFLASH = 2, FJ_REWORK_REPROVISION = 3 };
#define FJ_DBG_CHALLENGE_LEN 32
#define FJ_DBG_PERMS_LEN 16
#define FJ_DBG_SESSION_MAX 86400
struct fj_rework {
	uint8_t uid[FJ_UID_LEN];         /* never all zero */
	uint8_t challenge[FJ_DBG_CHALLENGE_LEN];
	uint8_t perms[FJ_DBG_PERMS_LEN]; /* never all zero */
	uint32_t session;                /* 1..FJ_DBG_SESSION_MAX */
	int operation;                   /* enum fj_rework_op (the same numbers as the HSM's) */
	int has_writ;
	uint8_t writ[16];
};

WRIT_MUST_CHECK int fj_parse_enrol(const char *body, size_t len, struct fj_enrol *ret, char *why, size_t cap);
WRIT_MUST_CHECK int fj_parse_dac(const char *body, size_t len, struct fj_dac *ret, char *why, size_t cap);
WRIT_MUST_CHECK int fj_parse_wrap(const char *body, size_t len, struct fj_wrap *ret, char *why, size_t cap);
WRIT_MUST_CHECK int fj_parse_record(const char *body, size_t len, struct fj_record *ret, char *why, size_t cap);
WRIT_MUST_CHECK int fj_parse_rework(const char *body, size_t len, struct fj_rework *ret, char *why, size_t cap);
/* The operation a rework record's step names (enum fj_rework_op), 0 for other steps. */
int fj_rework_step(const char *step);

/* Standard base64 with padding. Decode refuses any other character, bad padding or
 * more than cap output bytes; *ret_len is the decoded length. */
WRIT_MUST_CHECK int fj_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *ret_len);
/* Encode n bytes; out must hold 4 * ((n + 2) / 3) + 1 bytes. url=1: base64url, no padding. */
void fj_b64_encode(const uint8_t *in, size_t n, char *out, int url);
/* Size of the encoding of n bytes, with its NUL. */
size_t fj_b64_size(size_t n);

/* 1 if s is 1..max bytes of printable ASCII (0x20..0x7e). */
int fj_printable(const char *s, size_t max);

#endif
