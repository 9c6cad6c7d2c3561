/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The station's side of one device: HSM calls over writ-hsmd's socket and the Matter
 * data computed for the device. See line.h.
 */
#include "station/line.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/ct.h"
#include "matter/spake2p.h"
#include "wire/hsmclient.h"

int line_open(struct line *l, const char *hsm_socket, const uint8_t writ_id[16],
	      const struct matter_factory_data *base, uint32_t iterations, const char *serial_prefix,
	      char *errbuf, size_t errcap)
{
	int rc;

	memset(l, 0, sizeof *l);
	l->hsm_fd = -1;
	if (serial_prefix && strlen(serial_prefix) > LINE_SERIAL_PREFIX_MAX) {
		snprintf(errbuf, errcap, "serial prefix longer than %d characters", LINE_SERIAL_PREFIX_MAX);
		return WRIT_E_INVAL;
	}
	if (iterations < MATTER_SPAKE2P_IT_MIN || iterations > MATTER_SPAKE2P_IT_MAX) {
		snprintf(errbuf, errcap, "SPAKE2+ iterations must be %u..%u", MATTER_SPAKE2P_IT_MIN,
			 MATTER_SPAKE2P_IT_MAX);
		return WRIT_E_INVAL;
	}
	rc = hsmc_connect(hsm_socket, &l->hsm_fd);
	if (rc < 0) {
		snprintf(errbuf, errcap, "cannot reach writ-hsmd at %s (%s); is it running?", hsm_socket,
			 writ_strerror(rc));
		return rc;
	}
	memcpy(l->writ_id, writ_id, 16);
	l->base = *base;
	l->iterations = iterations;
	l->disc_lo = 0;
	l->disc_hi = 0xfff;
	l->caps = 2; /* BLE, what a fresh device advertises */
	if (serial_prefix)
		memcpy(l->serial_prefix, serial_prefix, strlen(serial_prefix) + 1);
	return 0;
}

void line_close(struct line *l)
{
	if (!l)
		return;
	if (l->hsm_fd >= 0)
		close(l->hsm_fd);
	l->hsm_fd = -1;
	writ_memzero(&l->passcode, sizeof l->passcode);
	matter_fd_clear(&l->base);
}

static int issue_dac(void *ctx, const uint8_t uid[WDP_UID_LEN], const uint8_t *csr, size_t csr_len,
		     struct chip_dac *ret, char *errbuf, size_t errcap)
{
	struct line *l = ctx;
	struct hsmc_dac d;
	char reason[HSMC_REASON_MAX] = "";
	int rc;

	memset(&d, 0, sizeof d);
	rc = hsmc_issue_dac(l->hsm_fd, l->writ_id, csr, csr_len, uid, WDP_UID_LEN, &d, reason);
	if (rc < 0) {
		snprintf(errbuf, errcap, "%s", reason[0] ? reason : writ_strerror(rc));
		return rc;
	}
	if (d.dac_len > sizeof ret->dac || d.pai_len > sizeof ret->pai) {
		hsmc_dac_free(&d);
		snprintf(errbuf, errcap, "the HSM returned a certificate larger than 600 bytes");
		return WRIT_E_PROTO;
	}
	memcpy(ret->dac, d.dac, d.dac_len);
	ret->dac_len = d.dac_len;
	memcpy(ret->pai, d.pai, d.pai_len);
	ret->pai_len = d.pai_len;
	ret->serial = d.device_serial;
	ret->journal_seq = d.seq;
	hsmc_dac_free(&d);
	return 0;
}

static int wrap_secret(void *ctx, const uint8_t uid[WDP_UID_LEN], const struct chip_dac *dac,
		       const uint8_t enc_pub[WDP_P256_PUB_LEN], const uint8_t *binding, size_t binding_len,
		       const char *label, uint8_t *out, size_t cap, size_t *ret_len, char *errbuf,
		       size_t errcap)
{
	struct line *l = ctx;
	char reason[HSMC_REASON_MAX] = "";
	int rc = hsmc_wrap_secret(l->hsm_fd, l->writ_id, uid, dac->dac, dac->dac_len, enc_pub, binding,
				  binding_len, label, out, cap, ret_len, NULL, reason);

	if (rc < 0)
		snprintf(errbuf, errcap, "%s", reason[0] ? reason : writ_strerror(rc));
	return rc;
}

/* The per-device Matter data: a fresh passcode, discriminator, salt and rotating-ID
 * unique ID; the verifier from them; the serial string; the onboarding codes. */
static int factory_data(void *ctx, const uint8_t uid[WDP_UID_LEN], const struct chip_dac *dac,
			uint8_t *out, size_t cap, size_t *ret_len, char *errbuf, size_t errcap)
{
	struct line *l = ctx;
	struct matter_factory_data fd;
	struct matter_payload p;
	int rc, n;

	(void)uid;
	memset(&p, 0, sizeof p);
	fd = l->base;
	memset(&l->dev, 0, sizeof l->dev);
	l->dev.serial = dac->serial;
	l->dev.dac_journal_seq = dac->journal_seq;
	n = snprintf(fd.serial, sizeof fd.serial, "%s%llu", l->serial_prefix, (unsigned long long)dac->serial);
	if (n < 0 || (size_t)n >= sizeof fd.serial) {
		rc = WRIT_E_TOOBIG;
		snprintf(errbuf, errcap, "serial number longer than %d characters", MATTER_SERIAL_MAX);
		goto out;
	}
	memcpy(l->dev.serial_str, fd.serial, (size_t)n + 1);
	if ((rc = matter_passcode_generate(&l->passcode)) < 0 ||
	    (rc = matter_discriminator_generate(l->disc_lo, l->disc_hi, &fd.discriminator)) < 0 ||
	    (rc = matter_rd_uid_generate(fd.rd_uid, 16)) < 0 ||
	    (rc = matter_rd_uid_generate(fd.salt, 32)) < 0) {
		snprintf(errbuf, errcap, "random generation failed (%s)", writ_strerror(rc));
		goto out;
	}
	fd.rd_uid_len = 16;
	fd.salt_len = 32;
	fd.spake2p_it = l->iterations;
	rc = matter_spake2p_verifier(l->passcode, fd.salt, fd.salt_len, fd.spake2p_it, fd.verifier);
	if (rc < 0) {
		snprintf(errbuf, errcap, "SPAKE2+ verifier failed (%s)", writ_strerror(rc));
		goto out;
	}
	memcpy(fd.dac, dac->dac, dac->dac_len);
	fd.dac_len = dac->dac_len;
	memcpy(fd.pai, dac->pai, dac->pai_len);
	fd.pai_len = dac->pai_len;
	fd.include_passcode = 0;
	rc = matter_wfd_encode(&fd, out, cap);
	if (rc < 0) {
		char why[160] = "";
		if (matter_fd_validate(&fd, why, sizeof why) == 0 || !why[0])
			snprintf(why, sizeof why, "%s", writ_strerror(rc));
		snprintf(errbuf, errcap, "factory data: %s", why);
		goto out;
	}
	*ret_len = (size_t)rc;
	p.vid = fd.vid;
	p.pid = fd.pid;
	p.flow = 0;
	p.caps = l->caps;
	p.discriminator = fd.discriminator;
	p.passcode = l->passcode;
	l->dev.discriminator = fd.discriminator;
	if ((rc = matter_qr_encode(&p, l->dev.qr)) < 0 || (rc = matter_manual_encode(&p, l->dev.manual)) < 0) {
		snprintf(errbuf, errcap, "onboarding payload: %s", writ_strerror(rc));
		goto out;
	}
	rc = 0;
out:
	writ_memzero(&p, sizeof p);
	matter_fd_clear(&fd);
	return rc;
}

const struct chip_hsm_ops line_hsm_ops_template = {
	.ctx = NULL,
	.issue_dac = issue_dac,
	.wrap_secret = wrap_secret,
	.factory_data = factory_data,
};

void line_hsm_ops(struct line *l, struct chip_hsm_ops *ret)
{
	*ret = line_hsm_ops_template;
	ret->ctx = l;
}
