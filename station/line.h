/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a programming station plugs into the provisioning flow (lib/chip/provision.h):
 * the HSM operations over writ-hsmd's socket (a DAC for the chip's CSR, a product
 * secret wrapped to the chip) and the Matter data computed for each device (serial
 * number, passcode, discriminator, SPAKE2+ verifier, rotating-ID unique ID, the WFD1
 * blob, and the onboarding QR string and manual code for its label).
 *
 * One struct line per worker thread: it owns one HSM connection and is not shared.
 * The passcode of the last device stays in memory only until the next device or
 * line_close, which wipes it; it is never written anywhere by this module.
 */
#ifndef WRIT_STATION_LINE_H
#define WRIT_STATION_LINE_H

#include <stddef.h>
#include <stdint.h>

#include "chip/provision.h"
#include "matter/factory.h"
#include "matter/payload.h"
#include "wire/bundle.h"

/* as long as a bundle may carry (a valid job never fails at the station on it) */
#define LINE_SERIAL_PREFIX_MAX BUNDLE_PREFIX_MAX

struct line_device {
	uint64_t serial;             /* from the HSM, in the writ's range */
	char serial_str[MATTER_SERIAL_MAX + 1];
	char qr[MATTER_QR_BUFSZ];
	char manual[MATTER_MANUAL_BUFSZ];
	uint16_t discriminator;
	uint64_t dac_journal_seq;
};

struct line {
	int hsm_fd;
	uint8_t writ_id[16];
	struct matter_factory_data base; /* product-level fields (vid, pid, names, date, ...) */
	uint32_t iterations;
	uint16_t disc_lo, disc_hi;       /* discriminator range (0..4095 = random) */
	uint8_t caps;                    /* onboarding discovery capabilities */
	char serial_prefix[LINE_SERIAL_PREFIX_MAX + 1];
	struct line_device dev;          /* the device being provisioned */
	uint32_t passcode;               /* wiped at the next device and at close */
	uint8_t pai[WDP_CERT_MAX];       /* the writ's PAI: from the job when the factory sends it,
					  * else the HSM's once a DAC came back; 0 = not known yet */
	size_t pai_len;
};

/* Connect to writ-hsmd at hsm_socket for writ writ_id; base holds the product-level
 * factory data (vid/pid must equal the writ's; DAC/PAI/serial/discriminator are filled
 * per device). Returns 0 or a negative error with a reason in errbuf. */
WRIT_MUST_CHECK int line_open(struct line *l, const char *hsm_socket, const uint8_t writ_id[16],
			      const struct matter_factory_data *base, uint32_t iterations,
			      const char *serial_prefix, char *errbuf, size_t errcap);
void line_close(struct line *l);

/* Like line_open without an HSM connection (hsm_fd -1): for stations whose HSM
 * operations go elsewhere (writ-station, through writ-factory). Only the factory_data
 * callback of line_hsm_ops_template may then be used with l. */
WRIT_MUST_CHECK int line_init(struct line *l, const uint8_t writ_id[16], const struct matter_factory_data *base,
			      uint32_t iterations, const char *serial_prefix, char *errbuf, size_t errcap);

/* Product-level Matter settings text (matter_settings_parse format, up to
 * BUNDLE_SETTINGS_MAX bytes as a bundle allows; comment and blank lines do not count
 * against the parser's MATTER_SETTINGS_MAX) into *ret, with the per-device fields
 * (serial, discriminator, passcode) left to the line. The caller wipes *ret with
 * matter_fd_clear. 0 or a negative error with a reason. */
WRIT_MUST_CHECK int line_settings_parse(const char *text, size_t len, struct matter_factory_data *ret,
					char *reason, size_t cap);

/* chip_hsm_ops.recover_dac for a line: the chain a chip already stores belongs to this
 * job when its DAC verifies under its PAI (this HSM's, once known), carries the job's
 * VID/PID, and names a device serial. ctx is the struct line. */
WRIT_MUST_CHECK int line_recover_dac(void *ctx, const uint8_t uid[WDP_UID_LEN], const uint8_t *dac,
				     size_t dac_len, const uint8_t *pai, size_t pai_len, struct chip_dac *ret,
				     char *errbuf, size_t errcap);

/* Start a new device on this line: forget the last device's Matter data (its codes)
 * and wipe its passcode, so nothing of one device can end up in another's record or
 * label (a resumed chip whose factory data is already stored gets none). */
void line_begin_device(struct line *l);

/* The callbacks for chip_provision; ctx is the struct line. */
extern const struct chip_hsm_ops line_hsm_ops_template;
void line_hsm_ops(struct line *l, struct chip_hsm_ops *ret);

#endif
