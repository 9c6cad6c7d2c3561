/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-station's client of the writ-factory HTTP API (docs/factory-api.md): enrolment,
 * the job and its firmware, the HSM operations the factory performs for the station (a
 * DAC for a chip's CSR, a product secret wrapped to a chip) and production records. One
 * struct factory_client per worker thread: it owns one libcurl easy handle (keep-alive,
 * so a worker reuses its connection), is not shared, and holds the station's bearer
 * token, which it wipes at close and never logs.
 *
 * The factory is a peer, not part of the station: every answer is bounded in size
 * (64 KiB for JSON, 4 MiB for the firmware image) before it is read, parsed strictly
 * (an object; every expected field present with its type and size; base64 and hex
 * canonical), and a malformed answer is an error with a clear message, never a crash.
 *
 * Errors: 0 on success, a negative lib/base/err.h code on failure, with
 * factory_client_error() saying what went wrong and factory_client_http() the HTTP
 * status (0 when no answer came) and factory_client_code() the factory's
 * machine-readable "code" of an error answer ("" when it sent none). Mapping: transport
 * failure or 503 -> WRIT_E_IO (the line must stop or wait), 400/413 -> WRIT_E_INVAL,
 * 401/403 -> WRIT_E_AUTH, 404 -> WRIT_E_NOTFOUND, 409 by its code: "quota" ->
 * WRIT_E_QUOTA, "window" -> WRIT_E_EXPIRED, "revoked" -> WRIT_E_REVOKED (the job
 * ended), "replay" -> WRIT_E_REPLAY, "busy" -> WRIT_E_STATE, "scope" -> WRIT_E_SCOPE
 * (this device only); a 409 without a code or with another code (an older factory)
 * -> WRIT_E_QUOTA, as before codes existed. An answer that does not parse ->
 * WRIT_E_PROTO. factory_client_verdict() says what a failed call means for the line.
 */
#ifndef WRIT_STATION_FACTORY_CLIENT_H
#define WRIT_STATION_FACTORY_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "chip/provision.h"
#include "wire/bundle.h"

#define FC_JSON_MAX (64u * 1024u)    /* largest JSON answer read */
#define FC_FW_MAX (4u * 1024u * 1024u) /* largest firmware image read */
#define FC_TOKEN_MAX 128u            /* a token is 43 characters; files may add a newline */
#define FC_ERR_MAX 512u
#define FC_RECIPE_MAX 16u
#define FC_LABELS_MAX CHIP_RECIPE_SECRETS_MAX
#define FC_STR_MAX 128u
#define FC_CODE_MAX 32u              /* an error answer's "code", NUL included */
#define FC_SETTINGS_MAX BUNDLE_SETTINGS_MAX /* what a bundle may carry */
#define FC_PREFIX_MAX BUNDLE_PREFIX_MAX

struct factory_client;

/* Once per process, before any thread uses a client (libcurl's global state). */
WRIT_MUST_CHECK int factory_client_global_init(void);

struct fc_opts {
	long connect_timeout_ms; /* default 3000 */
	long timeout_ms;         /* whole request; default 30000 */
};

/*
 * A client for the factory at base_url ("http://HOST:PORT", no trailing path) with the
 * bearer token (NUL-terminated; copied and wiped at close; may be NULL for enrolment
 * only). *ret is malloc'd; free with factory_client_close. No I/O yet.
 */
/* Trust only ca_file (PEM: the factory's TLS CA, or its certificate) for https:// factory
 * URLs, for every client of the process; TLS 1.2 at least. Said on stderr on failure. */
WRIT_MUST_CHECK int factory_client_trust(const char *ca_file);

WRIT_MUST_CHECK int factory_client_new(const char *base_url, const char *token, const struct fc_opts *opts,
				       struct factory_client **ret);
void factory_client_close(struct factory_client *fc); /* accepts NULL; wipes the token */

const char *factory_client_error(const struct factory_client *fc); /* never NULL */
long factory_client_http(const struct factory_client *fc);
const char *factory_client_code(const struct factory_client *fc); /* "" when none; never NULL */

/* What a failed call (rc < 0, the client's last request) means for the line. */
enum fc_verdict {
	FC_DEVICE = 0,   /* this device fails (with the reason); the line goes on */
	FC_RETRY,        /* no answer at all: retry with backoff, then stop the line */
	FC_JOB_ENDED,    /* 409 quota / window / revoked (or a 409 without a code) */
	FC_STATION,      /* the factory refused this station's credential: stop the line */
	FC_FACTORY_DOWN, /* 503: the HSM or the factory's store cannot go on: stop the line */
};
/* record_call: the request was POST /v1/records, where a 403 is about that device's
 * record (its DAC went to another station), not the credential. */
enum fc_verdict factory_client_verdict(const struct factory_client *fc, int rc, int record_call);

/* POST /v1/stations/enrol. ret_station (cap bytes) receives the station id and
 * ret_token (cap FC_TOKEN_MAX) the token; the caller wipes ret_token after use. */
WRIT_MUST_CHECK int factory_client_enrol(struct factory_client *fc, const char *code, const char *name,
					 const char *line, char *ret_station, size_t station_cap,
					 char ret_token[FC_TOKEN_MAX]);

/* A job (GET /v1/jobs/{writ}). Strings are NUL-terminated; settings is malloc'd and
 * freed by fc_job_free (which accepts a zeroed struct). */
struct fc_job {
	char writ[33];
	char product[FC_STR_MAX];
	char version[FC_STR_MAX];
	uint64_t quantity, issued, remaining;
	int64_t not_before, not_after;
	char recipe[FC_RECIPE_MAX][16];
	size_t n_recipe;
	char *settings;
	size_t settings_len;
	char secret_labels[FC_LABELS_MAX][33];
	size_t n_secret_labels;
	uint32_t fw_version;
	uint8_t fw_sig[64];
	uint8_t sb_pub[65];
	uint8_t debug_root_hash[32];
	uint32_t iterations;
	char serial_prefix[FC_PREFIX_MAX + 1];
	uint8_t firmware_sha256[32];
	uint8_t pai[WDP_CERT_MAX]; /* the writ's PAI (DER) when the factory sends "pai" */
	size_t pai_len;            /* 0: not sent (an older factory) */
	int update_pending;        /* the factory waits to update: finish the device at hand, pause */
};
void fc_job_free(struct fc_job *j);

WRIT_MUST_CHECK int factory_client_job(struct factory_client *fc, const char *writ, struct fc_job *ret);

/* GET /v1/jobs/{writ}/firmware: the image in *ret_image (malloc'd, the caller frees),
 * 1 .. FC_FW_MAX bytes. */
WRIT_MUST_CHECK int factory_client_firmware(struct factory_client *fc, const char *writ, uint8_t **ret_image,
					    size_t *ret_len);

/* POST /v1/jobs/{writ}/dac: a DAC for the chip uid's CSR. ret is written on success. */
WRIT_MUST_CHECK int factory_client_dac(struct factory_client *fc, const char *writ, const uint8_t uid[WDP_UID_LEN],
				       const uint8_t *csr, size_t csr_len, struct chip_dac *ret);

/* POST /v1/jobs/{writ}/wrap: the secret `label` wrapped to the chip's key-agreement key,
 * into out (cap bytes), *ret_len its length. */
WRIT_MUST_CHECK int factory_client_wrap(struct factory_client *fc, const char *writ, const uint8_t uid[WDP_UID_LEN],
					const uint8_t *dac, size_t dac_len, const uint8_t enc_pub[WDP_P256_PUB_LEN],
					const uint8_t *binding, size_t binding_len, const char *label, uint8_t *out,
					size_t cap, size_t *ret_len);

/* One production record (POST /v1/records). Absent optional strings are NULL or "";
 * dac_sha256/serial/hsm_seq are sent only when have_dac; hsm_seq is 0 when the DAC was
 * read back from the chip (the factory then matches its note by dac_sha256 and serial). */
struct fc_record {
	const char *writ;
	uint8_t uid[WDP_UID_LEN];
	int ok;
	const char *step;   /* failed: the step */
	const char *reason; /* failed: why */
	int have_dac;
	uint8_t dac_sha256[32];
	uint64_t serial, hsm_seq;
	const char *qr, *manual;
	uint32_t firmware_version;
};
/* *ret_duplicate (may be NULL) is set when the factory answered that this record was
 * already taken ("duplicate": true: the device was recorded ok before). */
WRIT_MUST_CHECK int factory_client_record(struct factory_client *fc, const struct fc_record *r, uint64_t *ret_seq,
					  int *ret_duplicate);

/* POST /v1/telemetry with body (a {"buckets": [...]} JSON text, web/tele.h): the
 * buckets the factory took new and those it already had (a replay). Not retried here:
 * the caller keeps the buckets and posts them again later (idempotent). */
WRIT_MUST_CHECK int factory_client_telemetry(struct factory_client *fc, const char *body, uint64_t *ret_accepted,
					     uint64_t *ret_duplicate);

/* GET /v1/health (no token sent): what a station paused for an update polls. 0 when the
 * factory answered 200 (up: its store writes and an edge HSM answers); WRIT_E_IO when it
 * gave no answer (restarting) or 503 (degraded); WRIT_E_PROTO for a malformed answer.
 * ret is written on success: update_pending (false when an older factory does not say)
 * and the version the factory runs ("" when it does not say). */
struct fc_health {
	int update_pending;
	char version[33];
};
WRIT_MUST_CHECK int factory_client_health(struct factory_client *fc, struct fc_health *ret);

/* POST /v1/rework/token: a debug-unlock token for the chip uid and its challenge
 * (docs/factory-api.md, "Rework"). operation is "debug", "reflash" or "reprovision";
 * writ (may be NULL) names the writ to use, else the factory chooses. Not retried: a
 * token the HSM signed is counted even when its answer is lost. */
#define FC_DBG_CHAIN_MAX (2u * WDP_DBG_CERT_LEN)
struct fc_rework {
	uint8_t token[WDP_DBG_TOKEN_LEN];
	uint8_t chain[FC_DBG_CHAIN_MAX];
	size_t chain_len; /* 1 or 2 certificates */
	char writ[33];
	char hsm_id[65];
	uint64_t hsm_seq, device_serial;
	int64_t not_after;
};
WRIT_MUST_CHECK int factory_client_rework_token(struct factory_client *fc, const uint8_t uid[WDP_UID_LEN],
						const uint8_t challenge[WDP_DBG_CHALLENGE_LEN],
						const uint8_t perms[WDP_DBG_PERMS_LEN], uint32_t session,
						const char *operation, const char *writ, struct fc_rework *ret);

/* POST /v1/rework/{writ}/dac: re-provisioning, a new DAC for the chip uid's CSR under
 * the rework writ (docs/factory-api.md, "Re-provisioning"). ret is written on success:
 * the DAC (serial = the device's kept serial, journal_seq the HSM's reprovision entry),
 * dac_sha256 and the production writ the factory made the device under ("" if it does
 * not know). Not retried: each DAC the HSM signs spends one unit of the rights. */
struct fc_reprov {
	struct chip_dac dac;
	uint8_t dac_sha256[32];
	char dac_serial[25];
	char production_writ[33];
};
WRIT_MUST_CHECK int factory_client_rework_dac(struct factory_client *fc, const char *writ,
					      const uint8_t uid[WDP_UID_LEN], const uint8_t *csr, size_t csr_len,
					      struct fc_reprov *ret);

/* A rework record (POST /v1/records, docs/factory-api.md "Rework records"). */
struct fc_rework_record {
	const char *writ;
	uint8_t uid[WDP_UID_LEN];
	int ok;
	const char *step;   /* "rework-debug" | "rework-reflash" | "rework-reprov" */
	const char *reason; /* failed: why */
	const char *hsm_id; /* "" or NULL: no token was signed */
	uint64_t hsm_seq, device_serial;
	int have_fw;
	uint32_t firmware_version;
	int have_dac;           /* "rework-reprov": the new DAC's SHA-256 */
	uint8_t dac_sha256[32];
};
WRIT_MUST_CHECK int factory_client_rework_record(struct factory_client *fc, const struct fc_rework_record *r,
						 uint64_t *ret_seq);

/* Seconds spent inside HTTP requests since open (for the line's time accounting). */
double factory_client_seconds(const struct factory_client *fc);

#endif
