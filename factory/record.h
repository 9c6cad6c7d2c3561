/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Production records of writ-factory (docs/factory-api.md, "Production records"): one
 * JSON object per device outcome, numbered from 1 and hash-chained. The canonical form
 * that is hashed is the record without "hash", serialized with keys sorted bytewise,
 * no whitespace, ASCII only (every string field is printable ASCII, so any JSON
 * library's "sort keys, compact separators" output is the same bytes), integers plain.
 * hash = lowercase hex SHA-256 of that; prev = the previous record's hash, 64 zeros for
 * seq 1.
 */
#ifndef WRIT_FACTORY_RECORD_H
#define WRIT_FACTORY_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define REC_HASH_HEX 65
#define REC_JSON_MAX (8 * 1024)

struct rec_fields {
	int64_t time;
	char factory[65], line[65], station[65];
	char writ[33], product[65], version[65], version_digest[65];
	uint64_t firmware_version;
	char uid[33];
	uint64_t device_serial;
	char dac_serial[25], dac_sha256[65], hsm_id[65];
	uint64_t hsm_seq;
	int ok;                          /* result "ok" / "failed" */
	int rework;                      /* operation "rework" (never production), else "provision" */
	char step[17], reason[257], qr[257], manual[33];
};

/* The record seq chained after prev (64 hex digits) as JSON with its hash: *ret_json
 * is malloc'd (caller frees), ret_hash gets the 64 hex digits. WRIT_E_INVAL for a
 * field that is not printable ASCII. */
WRIT_MUST_CHECK int rec_build(const struct rec_fields *f, uint64_t seq, const char prev[REC_HASH_HEX],
			      char **ret_json, char ret_hash[REC_HASH_HEX]);

/* Check one stored record: its hash matches its content, its seq is want_seq and its
 * prev is prev. 0, or WRIT_E_JOURNAL with a reason in why. */
WRIT_MUST_CHECK int rec_check(const char *json, uint64_t want_seq, const char prev[REC_HASH_HEX],
			      char ret_hash[REC_HASH_HEX], char *why, size_t cap);

/* The CSV header line (with its newline) and one record as a CSV line (malloc'd). */
const char *rec_csv_header(void);
WRIT_MUST_CHECK int rec_to_csv(const char *json, char **ret_line);

#endif
