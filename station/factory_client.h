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
 * status (0 when no answer came). Mapping: transport failure or 503 -> WRIT_E_IO
 * (the line must stop or wait), 400/413 -> WRIT_E_INVAL, 401/403 -> WRIT_E_AUTH,
 * 404 -> WRIT_E_NOTFOUND, 409 -> WRIT_E_QUOTA (the HSM refused: quantity, window,
 * scope, revocation, replay; the factory's reason is in the error text), an answer
 * that does not parse -> WRIT_E_PROTO.
 */
#ifndef WRIT_STATION_FACTORY_CLIENT_H
#define WRIT_STATION_FACTORY_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "chip/provision.h"

#define FC_JSON_MAX (64u * 1024u)    /* largest JSON answer read */
#define FC_FW_MAX (4u * 1024u * 1024u) /* largest firmware image read */
#define FC_TOKEN_MAX 128u            /* a token is 43 characters; files may add a newline */
#define FC_ERR_MAX 512u
#define FC_RECIPE_MAX 16u
#define FC_LABELS_MAX CHIP_RECIPE_SECRETS_MAX
#define FC_STR_MAX 128u

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
WRIT_MUST_CHECK int factory_client_new(const char *base_url, const char *token, const struct fc_opts *opts,
				       struct factory_client **ret);
void factory_client_close(struct factory_client *fc); /* accepts NULL; wipes the token */

const char *factory_client_error(const struct factory_client *fc); /* never NULL */
long factory_client_http(const struct factory_client *fc);

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
	char serial_prefix[17];
	uint8_t firmware_sha256[32];
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
 * serial/hsm_seq are sent only when have_dac. */
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
WRIT_MUST_CHECK int factory_client_record(struct factory_client *fc, const struct fc_record *r, uint64_t *ret_seq);

/* Seconds spent inside HTTP requests since open (for the line's time accounting). */
double factory_client_seconds(const struct factory_client *fc);

#endif
