/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Matter factory data of one device, held in one fixed-size struct, and its
 * encodings: writ's own WFD1 blob (docs/device-protocol.md, with a strict parser), the
 * ESP-IDF mfg CSV and NVS partition image (namespace "chip-factory"), and Nordic's nRF
 * Connect CBOR map. The struct never holds a DAC private key; the passcode goes into an
 * image only when include_passcode is set, and never into WFD1. See docs/matter-data.md.
 * Nothing here allocates except where a function says *ret_buf is malloc'd.
 */
#ifndef WRIT_MATTER_FACTORY_H
#define WRIT_MATTER_FACTORY_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "matter/spake2p.h"

#define MATTER_NAME_MAX 32      /* vendor / product name, bytes of UTF-8 */
#define MATTER_SERIAL_MAX 32
#define MATTER_HW_VER_STR_MAX 64
#define MATTER_DATE_LEN 10      /* "YYYY-MM-DD" */
#define MATTER_RD_UID_MIN 16
#define MATTER_RD_UID_MAX 32
#define MATTER_CERT_MAX 600     /* DAC / PAI DER */
#define MATTER_CD_MAX 800       /* certification declaration */
#define MATTER_NVS_PAGE 4096
#define MATTER_NVS_DEFAULT_SIZE 0x6000
#define MATTER_NVS_MAX_SIZE (1024 * 1024)

/* Everything is inline; strings are NUL-terminated. A zero-length optional field is
 * absent. */
struct matter_factory_data {
	uint16_t vid;
	uint16_t pid;
	char vendor_name[MATTER_NAME_MAX + 1];   /* optional */
	char product_name[MATTER_NAME_MAX + 1];  /* optional */
	char serial[MATTER_SERIAL_MAX + 1];      /* 1..32 printable ASCII (0x21..0x7E) */
	char mfg_date[MATTER_DATE_LEN + 1];      /* "YYYY-MM-DD", a real calendar date */
	uint16_t hw_ver;
	char hw_ver_str[MATTER_HW_VER_STR_MAX + 1]; /* optional */
	uint16_t discriminator;                  /* <= 0xFFF */
	uint32_t spake2p_it;                     /* 1000..100000 */
	uint8_t salt[MATTER_SPAKE2P_SALT_MAX];
	size_t salt_len;                         /* 16..32 */
	uint8_t verifier[MATTER_SPAKE2P_VERIFIER_LEN];
	uint8_t rd_uid[MATTER_RD_UID_MAX];
	size_t rd_uid_len;                       /* 16..32 */
	uint8_t dac[MATTER_CERT_MAX];
	size_t dac_len;                          /* 1..600 */
	uint8_t pai[MATTER_CERT_MAX];
	size_t pai_len;                          /* 1..600 */
	uint8_t cd[MATTER_CD_MAX];
	size_t cd_len;                           /* 0 = absent */
	uint32_t passcode;                       /* used only when include_passcode */
	int include_passcode;                    /* ESP "pin-code" / nRF "passcode"; never WFD1 */
};

/* Wipe *fd (it holds the passcode when include_passcode is set). NULL is allowed. */
void matter_fd_clear(struct matter_factory_data *fd);

/* 0 if every field is within its bound (see the struct), WRIT_E_INVAL otherwise. When
 * reason is not NULL, a short English reason is written to it (cap bytes). */
WRIT_MUST_CHECK int matter_fd_validate(const struct matter_factory_data *fd, char *reason, size_t cap);

/* 1 if s (exactly len bytes) is a valid "YYYY-MM-DD" Gregorian date (year 2000..9999). */
int matter_date_valid(const char *s, size_t len);
/* 1 if s (len bytes) is 1..32 printable ASCII characters without spaces. */
int matter_serial_valid(const char *s, size_t len);
/* 1 if s (len bytes) is well-formed UTF-8 without control characters. */
int matter_utf8_valid(const uint8_t *s, size_t len);

/* A random rotating-device-ID unique ID of len bytes (16..32) from RAND_bytes. */
WRIT_MUST_CHECK int matter_rd_uid_generate(uint8_t *ret_uid, size_t len);

/* --- writ factory data (WFD1) --- */

/* Largest WFD1 blob: header, every TLV at its maximum, CRC. */
#define MATTER_WFD_MAX 2600

/* Encode fd as WFD1 into out (cap bytes). Returns the length, WRIT_E_INVAL if fd does not
 * validate, WRIT_E_TOOBIG if cap is too small. The passcode is never written. */
WRIT_MUST_CHECK int matter_wfd_encode(const struct matter_factory_data *fd, uint8_t *out, size_t cap);

/* Parse a WFD1 blob strictly (magic, length, CRC, ascending unique known types, exact
 * lengths and ranges, required fields, nothing left over) into *ret, which is written
 * only on success (include_passcode 0). WRIT_E_FORMAT for a malformed blob,
 * WRIT_E_TOOBIG when len > MATTER_WFD_MAX. */
WRIT_MUST_CHECK int matter_wfd_parse(const uint8_t *buf, size_t len, struct matter_factory_data *ret);

/* --- ESP-IDF --- */

/* The mfg CSV (key,type,encoding,value) for nvs_partition_gen.py, NUL-terminated in
 * *ret_csv (malloc'd, the caller frees). Binary values are inline hex2bin. */
WRIT_MUST_CHECK int matter_esp_csv(const struct matter_factory_data *fd, char **ret_csv, size_t *ret_len);

/* The NVS partition image (version 2 pages) of part_size bytes (a multiple of 4096,
 * 0x3000..MATTER_NVS_MAX_SIZE) in *ret_buf (malloc'd, the caller frees). The last page
 * is left erased for NVS's own use. WRIT_E_TOOBIG if the data does not fit. */
WRIT_MUST_CHECK int matter_esp_nvs(const struct matter_factory_data *fd, size_t part_size, uint8_t **ret_buf,
				   size_t *ret_len);

/* --- Nordic nRF Connect --- */

/* One CBOR map per scripts/tools/nrfconnect/nrfconnect_factory_data.schema (text keys,
 * strings and binaries as byte strings), without dac_key, in *ret_buf (malloc'd, the
 * caller frees). WRIT_E_INVAL when fd misses something that schema requires (names,
 * hw_ver_str, vendor_id <= 65524, product_id >= 1). */
WRIT_MUST_CHECK int matter_nrf_cbor(const struct matter_factory_data *fd, uint8_t **ret_buf, size_t *ret_len);

/* --- settings input of `writ matter factory-data` --- */

/* What a settings file says besides the factory data itself. */
struct matter_settings {
	struct matter_factory_data fd;
	int have_passcode, have_salt, have_verifier, have_rd_uid, have_iterations;
	int have_vid, have_pid, have_serial, have_date, have_hw_ver, have_discriminator;
};

#define MATTER_SETTINGS_MAX 8192

/* Parse "key = value" lines ('#' comments, blank lines; every key at most once; unknown
 * keys refused) into *ret (fully overwritten). Keys: vendor_id, product_id, vendor_name,
 * product_name, serial_num, mfg_date, hw_ver, hw_ver_str, discriminator, passcode,
 * spake2p_iterations, spake2p_salt (base64), spake2p_verifier (base64), rd_id_uid (hex),
 * include_passcode (yes|no). On failure a reason naming the line is written to reason.
 * The caller wipes *ret with matter_fd_clear(&ret->fd). */
WRIT_MUST_CHECK int matter_settings_parse(const char *text, size_t len, struct matter_settings *ret, char *reason,
					  size_t cap);

/* Complete parsed settings: default iterations (10000), random salt (32 bytes) and
 * rd_id_uid (16 bytes) when absent, the verifier computed from the passcode (or checked
 * against it when both are given). Then validates everything except the certificates. */
WRIT_MUST_CHECK int matter_settings_finish(struct matter_settings *s, char *reason, size_t cap);

#endif
