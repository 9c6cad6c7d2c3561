/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `writ-station rework --op reprovision` (reprov.c): the re-provisioning step done on a
 * chip already unlocked with REPROVISION (docs/operations.md, "Rework a device").
 */
#ifndef WRIT_STATION_REPROV_H
#define WRIT_STATION_REPROV_H

#include <stddef.h>
#include <stdint.h>

#include "chip/chip.h"
#include "matter/payload.h"
#include "station/factory_client.h"

struct reprov_result {
	uint8_t dac_sha256[32];
	char dac_serial[25];
	uint64_t serial;       /* the device serial, kept */
	uint64_t dac_hsm_seq;  /* the HSM's reprovision journal entry */
	char production_writ[33];
	char qr[MATTER_QR_BUFSZ];         /* the new onboarding codes (a new passcode): a new label */
	char manual[MATTER_MANUAL_BUFSZ];
};

/* On chip c (unlocked with REPROVISION): new keys, a DAC for the new key from writ-factory
 * under rework_writ, the version's factory data (from the job of the production writ that
 * made the device, built as `writ-station run` builds it), chain and factory data stored.
 * expect_serial: the device serial the token's answer named (0: unknown). Progress on
 * stderr. 0 with *ret complete, or -1 with what went wrong and what to do in why (cap
 * bytes). *ret_dac_issued is 1 once the HSM issued a DAC (a unit of the rights is spent);
 * from then on *ret holds that DAC's fields even on failure (for the failed record). */
int station_reprovision(struct chip *c, struct factory_client *fc, const char *rework_writ,
			const uint8_t uid[WDP_UID_LEN], uint64_t expect_serial, struct reprov_result *ret,
			int *ret_dac_issued, char *why, size_t cap);

#endif
