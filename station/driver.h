/* SPDX-License-Identifier: Apache-2.0 */
/*
 * How writ-station drives one kind of programming hardware. A driver turns "provision
 * the chip at this address with this recipe" into whatever the hardware needs: the
 * device protocol over a Unix socket, TCP or a UART (station_driver_wdp, which wraps
 * lib/chip), or a JTAG/SWD probe that runs a vendor flashing tool per step (see
 * docs/station-drivers.md for how to add one). The station owns everything around a
 * device that does not depend on the hardware: the job, the HSM operations through the
 * factory (the struct chip_hsm_ops callbacks it hands in), verification against the
 * recipe, the record and the label.
 *
 * Contract for every driver:
 *  - open() does no I/O that can harm a chip; close() accepts NULL and frees the handle.
 *  - provision() is resumable: it asks the chip what it holds and does only what is
 *    missing, so a rerun after a failure or a station crash continues where the chip
 *    stands. It refuses (WRIT_E_EXISTS) a chip that was locked before it started, and
 *    fills ret->uid as soon as it knows the chip's identity (so even a failure can be
 *    recorded against the UID). It calls ops->step on entering each step, takes DACs
 *    and wrapped secrets only from ops (the driver never talks to an HSM and never
 *    sees key material), and reports the step and reason of a failure in ret.
 *  - status() reads back what the chip holds, for the station's verify step.
 *  - wait_seconds() is the time spent waiting on the hardware since open (the line's
 *    own overhead is measured as wall time minus this).
 * A handle is used by one thread at a time. Errors follow lib/base/err.h.
 */
#ifndef WRIT_STATION_DRIVER_H
#define WRIT_STATION_DRIVER_H

#include <stddef.h>

#include "chip/chip.h"
#include "chip/provision.h"

struct station_driver_opts {
	int timeout_ms; /* per exchange with the chip; 0 = the driver's default */
	int retries;    /* resends of one exchange; < 0 = the driver's default */
};

struct station_driver {
	const char *name;
	/* address prefixes this driver takes, NULL-terminated ("unix:", "tcp:", ...) */
	const char *const *schemes;
	/* A handle for the chip at addr in *ret (the driver's, freed by close). No chip
	 * I/O yet. 0 or a negative error with a reason in err. */
	int (*open)(const char *addr, const struct station_driver_opts *o, void **ret, char *err, size_t cap);
	void (*close)(void *h);
	/* Connect and identify: UID, lifecycle, state flags. */
	int (*identify)(void *h, struct chip_info *ret, char *err, size_t cap);
	/* Run the recipe's chip steps (discover .. lock), resumably; see the contract. */
	int (*provision)(void *h, const struct chip_recipe *r, const struct chip_hsm_ops *ops,
			 struct chip_result *ret);
	/* What the chip holds now (STATUS): lifecycle, flags, firmware version. */
	int (*status)(void *h, struct chip_info *ret, char *err, size_t cap);
	double (*wait_seconds)(void *h);
};

/* The device-protocol driver (lib/chip): unix:, tcp:, tty:, pty:. */
extern const struct station_driver station_driver_wdp;

/* The driver whose scheme prefixes addr, or NULL. */
const struct station_driver *station_driver_for(const char *addr);

#endif
