/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The station's side of one device: HSM calls over writ-hsmd's socket and the Matter
 * data computed for the device. See line.h.
 */
#include "station/line.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <stdlib.h>

#include <openssl/x509.h>

#include "base/ct.h"
#include "crypto/matter_cert.h"
#include "crypto/x509.h"
#include "matter/spake2p.h"
#include "wire/hsmclient.h"

int line_open(struct line *l, const char *hsm_socket, const uint8_t writ_id[16],
	      const struct matter_factory_data *base, uint32_t iterations, const char *serial_prefix,
	      char *errbuf, size_t errcap)
{
	int rc = line_init(l, writ_id, base, iterations, serial_prefix, errbuf, errcap);

	if (rc < 0)
		return rc;
	rc = hsmc_connect(hsm_socket, &l->hsm_fd);
	if (rc < 0) {
		snprintf(errbuf, errcap, "cannot reach writ-hsmd at %s (%s); is it running?", hsm_socket,
			 writ_strerror(rc));
		line_close(l);
		return rc;
	}
	return 0;
}

int line_init(struct line *l, const uint8_t writ_id[16], const struct matter_factory_data *base,
	      uint32_t iterations, const char *serial_prefix, char *errbuf, size_t errcap)
{
	memset(l, 0, sizeof *l);
	l->hsm_fd = -1;
	if (serial_prefix && strlen(serial_prefix) > LINE_SERIAL_PREFIX_MAX) {
		snprintf(errbuf, errcap, "serial prefix longer than %d characters", LINE_SERIAL_PREFIX_MAX);
		return WRIT_E_INVAL;
	}
	/* room for at least one digit of the device serial in a Matter serial number */
	if (serial_prefix && strlen(serial_prefix) + 1 > MATTER_SERIAL_MAX) {
		snprintf(errbuf, errcap, "a serial prefix of %zu characters leaves no room for the device serial in a "
			 "Matter serial number (at most %d characters)", strlen(serial_prefix), MATTER_SERIAL_MAX);
		return WRIT_E_INVAL;
	}
	if (iterations < MATTER_SPAKE2P_IT_MIN || iterations > MATTER_SPAKE2P_IT_MAX) {
		snprintf(errbuf, errcap, "SPAKE2+ iterations must be %u..%u", MATTER_SPAKE2P_IT_MIN,
			 MATTER_SPAKE2P_IT_MAX);
		return WRIT_E_INVAL;
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

void line_begin_device(struct line *l)
{
	memset(&l->dev, 0, sizeof l->dev);
	writ_memzero(&l->passcode, sizeof l->passcode);
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
	memcpy(l->pai, d.pai, d.pai_len);
	l->pai_len = d.pai_len;
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

/* The device serial the HSM wrote into a DAC's subject CN ("<product> DAC <serial>",
 * hsm/hsmd.c). Returns 0 and *ret, or WRIT_E_FORMAT. */
static int dac_device_serial(const uint8_t *dac, size_t dac_len, uint64_t *ret)
{
	const unsigned char *p = dac;
	X509 *x = d2i_X509(NULL, &p, (long)dac_len);
	char cn[128];
	const char *tag;
	uint64_t v = 0;
	int n, rc = WRIT_E_FORMAT;

	if (!x || p != dac + dac_len)
		goto out;
	n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
	if (n <= 0 || (size_t)n >= sizeof cn)
		goto out;
	tag = strstr(cn, " DAC ");
	if (!tag || !tag[5])
		goto out;
	for (const char *d = tag + 5; *d; d++) {
		if (*d < '0' || *d > '9' || v > (UINT64_MAX - 9) / 10)
			goto out;
		v = v * 10 + (uint64_t)(*d - '0');
	}
	*ret = v;
	rc = 0;
out:
	X509_free(x);
	return rc;
}

int line_recover_dac(void *ctx, const uint8_t uid[WDP_UID_LEN], const uint8_t *dac, size_t dac_len,
		     const uint8_t *pai, size_t pai_len, struct chip_dac *ret, char *errbuf, size_t errcap)
{
	struct line *l = ctx;
	uint8_t pai_pub[WRIT_P256_PUB_LEN];
	int vid = -1, pid = -1;
	uint64_t serial = 0;

	(void)uid;
	if (dac_len == 0 || dac_len > sizeof ret->dac || pai_len == 0 || pai_len > sizeof ret->pai ||
	    x509_cert_pub(pai, pai_len, pai_pub) < 0 || x509_verify_signed(dac, dac_len, pai_pub) < 0) {
		snprintf(errbuf, errcap, "its DAC does not verify under its PAI");
		return WRIT_E_BADSIG;
	}
	if (l->pai_len && (pai_len != l->pai_len || memcmp(pai, l->pai, pai_len) != 0)) {
		snprintf(errbuf, errcap, "its PAI is not this HSM's");
		return WRIT_E_SCOPE;
	}
	if (matter_cert_vidpid(dac, dac_len, &vid, &pid) < 0 || vid != l->base.vid || pid != l->base.pid) {
		snprintf(errbuf, errcap, "its DAC is not for VID %04X PID %04X", l->base.vid, l->base.pid);
		return WRIT_E_SCOPE;
	}
	if (dac_device_serial(dac, dac_len, &serial) < 0) {
		snprintf(errbuf, errcap, "its DAC names no device serial");
		return WRIT_E_FORMAT;
	}
	memcpy(ret->dac, dac, dac_len);
	ret->dac_len = dac_len;
	memcpy(ret->pai, pai, pai_len);
	ret->pai_len = pai_len;
	ret->serial = serial;
	ret->journal_seq = 0;
	return 0;
}

const struct chip_hsm_ops line_hsm_ops_template = {
	.ctx = NULL,
	.issue_dac = issue_dac,
	.wrap_secret = wrap_secret,
	.factory_data = factory_data,
	.recover_dac = line_recover_dac,
};

void line_hsm_ops(struct line *l, struct chip_hsm_ops *ret)
{
	*ret = line_hsm_ops_template;
	ret->ctx = l;
}

/* The settings without the text of comment lines and of blank lines (their newlines
 * stay, so the parser's line numbers still match the bundle's text): a bundle carries up
 * to BUNDLE_SETTINGS_MAX bytes, the parser takes MATTER_SETTINGS_MAX. *ret is malloc'd. */
static int settings_compact(const char *text, size_t len, char **ret, size_t *ret_len)
{
	char *out = malloc(len + 1);
	size_t off = 0, n = 0;

	if (!out)
		return WRIT_E_NOMEM;
	while (off < len) {
		const char *l = text + off;
		size_t ll = 0, i = 0;
		while (off + ll < len && l[ll] != '\n')
			ll++;
		while (i < ll && (l[i] == ' ' || l[i] == '\t' || l[i] == '\r'))
			i++;
		if (i < ll && l[i] != '#') {
			memcpy(out + n, l, ll);
			n += ll;
		}
		if (off + ll < len)
			out[n++] = '\n';
		off += ll + (off + ll < len);
	}
	out[n] = '\0';
	*ret = out;
	*ret_len = n;
	return 0;
}

int line_settings_parse(const char *text, size_t len, struct matter_factory_data *ret, char *reason, size_t cap)
{
	struct matter_settings ms;
	char *compact = NULL;
	size_t clen = 0;
	int rc;

	if (!text || len > BUNDLE_SETTINGS_MAX) {
		snprintf(reason, cap, "settings larger than %u bytes", (unsigned)BUNDLE_SETTINGS_MAX);
		return WRIT_E_TOOBIG;
	}
	rc = settings_compact(text, len, &compact, &clen);
	if (rc < 0) {
		snprintf(reason, cap, "out of memory");
		return rc;
	}
	/* Per-device fields are made by the line: give the parser placeholders for them. */
	rc = matter_settings_parse(compact, clen, &ms, reason, cap);
	free(compact);
	if (rc == 0) {
		if (!ms.have_serial) {
			memcpy(ms.fd.serial, "0", 2);
			ms.have_serial = 1;
		}
		if (!ms.have_discriminator)
			ms.have_discriminator = 1;
		if (!ms.have_passcode && !ms.have_verifier) {
			ms.fd.passcode = 20202021; /* only to let settings_finish validate; replaced per device */
			ms.have_passcode = 1;
		}
		rc = matter_settings_finish(&ms, reason, cap);
	}
	if (rc == 0)
		*ret = ms.fd;
	matter_fd_clear(&ms.fd);
	return rc;
}
