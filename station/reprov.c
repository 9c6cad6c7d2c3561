/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Re-provisioning one made device (writ-station rework --op reprovision): on a secured
 * chip that an unlock with REPROVISION opened, the chip makes new keys; writ-factory has
 * its edge HSM issue a DAC for the new key under the rework writ (one unit of the rework
 * rights, no production quantity, the device serial kept); the station builds the
 * version's factory data exactly as `writ-station run` does (line.c, from the job of the
 * production writ that made the device) and stores chain and factory data. The keys
 * never leave the chip; the station never holds a signing key.
 */
#include "station/reprov.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/ct.h"
#include "host/file.h"
#include "station/line.h"

static void progress(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void progress(const char *name, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "writ-station rework:       %-8s ", name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* What to do about the factory's refusal of a re-provisioning DAC. */
static const char *dac_hint(struct factory_client *fc)
{
	const char *code = factory_client_code(fc);

	if (!strcmp(code, "mismatch"))
		return "the token was signed under a production writ: re-provisioning needs a rework writ with "
		       "reprovision rights (writ authority rework --rework reprovision); give it with --writ";
	if (!strcmp(code, "scope"))
		return "the rework writ does not allow it (no DAC issuance, a device it does not name, or one this "
		       "factory's HSM never made): ask the OEM for a rework writ with reprovision for this device";
	if (!strcmp(code, "quota"))
		return "the rework rights are spent: ask the OEM for new rights";
	if (!strcmp(code, "window") || !strcmp(code, "revoked"))
		return "the rework rights are outside their window or revoked: ask the OEM for new rights";
	return "run again once writ-factory answers";
}

int station_reprovision(struct chip *c, struct factory_client *fc, const char *rework_writ,
			const uint8_t uid[WDP_UID_LEN], uint64_t expect_serial, struct reprov_result *ret,
			int *ret_dac_issued, char *why, size_t cap)
{
	uint8_t csr[WDP_CSR_MAX], enc_pub[WDP_P256_PUB_LEN], binding[WDP_BINDING_MAX], wid[16];
	uint8_t *blob = NULL;
	size_t csr_len = 0, binding_len = 0, blob_len = 0;
	struct fc_reprov *d = calloc(1, sizeof *d);
	struct fc_job *job = calloc(1, sizeof *job);
	struct line *l = calloc(1, sizeof *l);
	struct matter_factory_data *base = calloc(1, sizeof *base);
	char reason[256] = "";
	int rc = -1;

	*ret_dac_issued = 0;
	if (!d || !job || !l || !base || !(blob = malloc(WDP_FACTORY_DATA_MAX))) {
		(void)!snprintf(why, cap, "out of memory");
		goto out;
	}
	l->hsm_fd = -1;
	/* 1: new keys on the chip; the old attestation key is gone */
	if (chip_generate_keys(c, csr, &csr_len, enc_pub, binding, &binding_len) < 0) {
		unsigned st = chip_last_status(c);
		(void)snprintf(why, cap, "the chip refuses new keys: %s (%s); %s", wdp_status_name(st), chip_last_detail(c),
			       st == WDP_S_LOCKED ? "the unlock does not carry REPROVISION: ask with --perms reprovision "
						    "under rights that grant it"
						  : "run again");
		goto out;
	}
	progress("keys", "new attestation key on the chip, CSR of %zu bytes", csr_len);
	/* 2: the DAC, under the rework writ */
	if (factory_client_rework_dac(fc, rework_writ, uid, csr, csr_len, d) < 0) {
		(void)snprintf(why, cap, "writ-factory did not give a DAC (HTTP %ld %s): %s\n  %s; the chip holds new keys "
			       "and its old chain until a re-provisioning completes",
			       factory_client_http(fc), factory_client_code(fc), factory_client_error(fc), dac_hint(fc));
		goto out;
	}
	*ret_dac_issued = 1;
	ret->serial = d->dac.serial;
	ret->dac_hsm_seq = d->dac.journal_seq;
	memcpy(ret->dac_sha256, d->dac_sha256, 32);
	memcpy(ret->dac_serial, d->dac_serial, sizeof ret->dac_serial);
	memcpy(ret->production_writ, d->production_writ, sizeof ret->production_writ);
	progress("dac", "DAC %s for device serial %llu under rework writ %s, journal seq %llu", d->dac_serial,
		 (unsigned long long)d->dac.serial, rework_writ, (unsigned long long)d->dac.journal_seq);
	if (expect_serial && d->dac.serial != expect_serial) {
		(void)snprintf(why, cap, "the DAC names device serial %llu, the factory's records %llu: not stored; report "
			       "it (the HSM journal has the DAC)", (unsigned long long)d->dac.serial,
			       (unsigned long long)expect_serial);
		goto out;
	}
	/* 3: the version's factory data, from the production writ's job, as `run` builds it */
	if (!d->production_writ[0] || hex_decode(d->production_writ, wid, sizeof wid) < 0) {
		(void)snprintf(why, cap, "writ-factory has no record of the production writ that made this device: its "
			       "factory data cannot be built here; re-provision it at the factory that made it");
		goto out;
	}
	if (factory_client_job(fc, d->production_writ, job) < 0) {
		(void)snprintf(why, cap, "the job of production writ %s: %s; load that writ's bundle at writ-factory "
			       "(writ-factory load), then run again", d->production_writ, factory_client_error(fc));
		goto out;
	}
	if (line_settings_parse(job->settings, job->settings_len, base, reason, sizeof reason) < 0 ||
	    line_init(l, wid, base, job->iterations, job->serial_prefix, reason, sizeof reason) < 0 ||
	    line_hsm_ops_template.factory_data(l, uid, &d->dac, blob, WDP_FACTORY_DATA_MAX, &blob_len, reason,
					       sizeof reason) < 0) {
		(void)snprintf(why, cap, "the factory data for version %s: %s", job->version, reason);
		goto out;
	}
	/* 4: chain and factory data; the chip checks that the DAC certifies its new key */
	if (chip_store_chain(c, d->dac.dac, d->dac.dac_len, d->dac.pai, d->dac.pai_len) < 0 ||
	    chip_store_factory_data(c, blob, blob_len) < 0) {
		unsigned st = chip_last_status(c);
		(void)snprintf(why, cap, "the chip refuses the %s: %s (%s); run again (a new unlock, new keys)",
			       st == WDP_S_MISMATCH ? "chain or factory data" : "store", wdp_status_name(st),
			       chip_last_detail(c));
		goto out;
	}
	memcpy(ret->qr, l->dev.qr, sizeof ret->qr);
	memcpy(ret->manual, l->dev.manual, sizeof ret->manual);
	progress("stored", "chain and factory data of version %s stored (serial %s, new onboarding code %s)",
		 job->version, l->dev.serial_str, l->dev.qr);
	rc = 0;
out:
	if (l)
		line_close(l);
	if (base)
		matter_fd_clear(base);
	if (job)
		fc_job_free(job);
	free(blob);
	free(job);
	free(base);
	free(l);
	free(d);
	return rc;
}
