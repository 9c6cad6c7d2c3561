/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device-protocol driver of writ-station: lib/chip's driver and resumable flow
 * (docs/device-protocol.md) behind struct station_driver, for writ-devsim and for real
 * chips on a UART. See driver.h.
 */
#include "station/driver.h"

#include <stdio.h>
#include <string.h>

static int wdp_open(const char *addr, const struct station_driver_opts *o, void **ret, char *err, size_t cap)
{
	struct chip_opts co = { 5000, 3 };
	struct chip *c = NULL;
	int rc;

	if (o && o->timeout_ms > 0)
		co.timeout_ms = o->timeout_ms;
	if (o && o->retries >= 0)
		co.retries = o->retries;
	rc = chip_new(addr, &co, &c);
	if (rc < 0) {
		snprintf(err, cap, "bad chip address \"%s\" (unix:PATH, tcp:HOST:PORT, tty:PATH)", addr);
		return rc;
	}
	*ret = c;
	return 0;
}

static void wdp_close(void *h)
{
	chip_close(h);
}

static int wdp_identify(void *h, struct chip_info *ret, char *err, size_t cap)
{
	int rc = chip_connect(h, ret);

	if (rc < 0)
		snprintf(err, cap, "%s", chip_last_detail(h));
	return rc;
}

static int wdp_provision(void *h, const struct chip_recipe *r, const struct chip_hsm_ops *ops,
			 struct chip_result *ret)
{
	return chip_provision(h, r, ops, ret, NULL, NULL);
}

static int wdp_status(void *h, struct chip_info *ret, char *err, size_t cap)
{
	int rc = chip_connected(h) ? 0 : chip_connect(h, NULL);

	if (rc == 0)
		rc = chip_status(h, ret);
	if (rc < 0)
		snprintf(err, cap, "%s", chip_last_detail(h));
	return rc;
}

static double wdp_wait_seconds(void *h)
{
	struct chip_stats s;

	chip_get_stats(h, &s);
	return s.wait_s;
}

static const char *const wdp_schemes[] = { "unix:", "tcp:", "tty:", "pty:", NULL };

const struct station_driver station_driver_wdp = {
	.name = "wdp",
	.schemes = wdp_schemes,
	.open = wdp_open,
	.close = wdp_close,
	.identify = wdp_identify,
	.provision = wdp_provision,
	.status = wdp_status,
	.wait_seconds = wdp_wait_seconds,
};

static const struct station_driver *const drivers[] = { &station_driver_wdp, NULL };

const struct station_driver *station_driver_for(const char *addr)
{
	for (size_t i = 0; drivers[i]; i++)
		for (size_t k = 0; drivers[i]->schemes[k]; k++)
			if (strncmp(addr, drivers[i]->schemes[k], strlen(drivers[i]->schemes[k])) == 0)
				return drivers[i];
	return NULL;
}
