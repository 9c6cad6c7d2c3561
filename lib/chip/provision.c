/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One chip, start to lock, resumable after a dropped link or a chip reset: each pass
 * asks the chip what it already holds (STATUS) and does only what is missing. What the
 * station learnt in an earlier pass (the DAC, the key-agreement key, which secrets were
 * confirmed) is kept in struct job across passes. A chip with keys but no chain and no
 * DAC in hand (a new station process resuming it) is asked for a CSR over its existing
 * key (GET_CSR), so the HSM re-issues its DAC at no cost. See provision.h.
 */
#include "chip/provision.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct job {
	int have_dac;
	int have_enc;
	int started;
	int locked_by_us;
	uint8_t enc_pub[WDP_P256_PUB_LEN];
	uint8_t binding[WDP_BINDING_MAX];
	size_t binding_len;
	int secret_done[CHIP_RECIPE_SECRETS_MAX];
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(struct chip_result *ret, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ret->err, sizeof ret->err, fmt, ap);
	va_end(ap);
	return rc;
}

static int chip_fail(struct chip *c, struct chip_result *ret, int rc, const char *step)
{
	return fail(ret, rc, "%s: %s", step, chip_last_detail(c));
}

static void step(const struct chip_hsm_ops *ops, struct chip_result *ret, const char *name)
{
	ret->failed_step = name;
	if (ops->step)
		ops->step(ops->ctx, name);
}

/* Read the chain the chip stores and have the station check it belongs to this job. */
static int recover(struct chip *c, const struct chip_hsm_ops *ops, struct job *j, struct chip_result *ret,
		   const uint8_t uid[WDP_UID_LEN])
{
	uint8_t dac[WDP_CERT_MAX], pai[WDP_CERT_MAX];
	size_t dac_len = 0, pai_len = 0;
	char err[256] = "";
	int rc = chip_get_chain(c, dac, &dac_len, pai, &pai_len);

	if (rc < 0)
		return chip_fail(c, ret, rc, "read chain");
	rc = ops->recover_dac(ops->ctx, uid, dac, dac_len, pai, pai_len, &ret->dac, err, sizeof err);
	if (rc < 0) {
		/* nothing of a refused chain may look like this job's DAC to the caller */
		memset(&ret->dac, 0, sizeof ret->dac);
		return fail(ret, rc, "the chip holds a chain that is not this job's: %s; set it aside", err);
	}
	ret->dac.journal_seq = 0; /* read back: the HSM journal entry is not known here */
	j->have_dac = 1;
	ret->dac_recovered = 1;
	return 0;
}

static int pass(struct chip *c, const struct chip_recipe *r, const struct chip_hsm_ops *ops,
		struct job *j, struct chip_result *ret, chip_progress_fn progress, void *pctx)
{
	struct chip_info st;
	char hsm_err[256] = "";
	double t;
	int rc;

	step(ops, ret, "discover");
	rc = chip_status(c, &st);
	if (rc < 0)
		return chip_fail(c, ret, rc, "status");
	if (!j->started) {
		j->started = 1;
		memcpy(ret->uid, st.uid, WDP_UID_LEN);
		if (st.state & WDP_F_LOCKED) {
			/* Say whose it is when we can: a station that died between lock and
			 * record finds its own device here. */
			if (ops->recover_dac && (st.state & WDP_F_CHAIN) && recover(c, ops, j, ret, st.uid) == 0)
				return fail(ret, WRIT_E_EXISTS,
					    "the chip is already provisioned and locked under this job (serial %llu)",
					    (unsigned long long)ret->dac.serial);
			return fail(ret, WRIT_E_EXISTS,
				    "the chip is already provisioned and locked; set it aside (rework needs a rework writ)");
		}
	} else if (memcmp(ret->uid, st.uid, WDP_UID_LEN) != 0) {
		return fail(ret, WRIT_E_SCOPE,
			    "another chip answered after reconnecting; put the original chip back and retry");
	}
	if ((st.state & WDP_F_LOCKED) && j->locked_by_us)
		return 0;

	/* Identity: keys on the chip, a DAC from the HSM, the chain back on the chip. */
	if (!(st.state & WDP_F_CHAIN)) {
		if (!j->have_dac) {
			uint8_t csr[WDP_CSR_MAX];
			step(ops, ret, "keys");
			size_t csr_len;
			/* Keys but no chain, and no DAC in hand: an earlier run (this process before
			 * a dropped link, or a station that died) may have been given a DAC for this
			 * key already. Ask for a CSR over the same key, so the HSM re-issues that
			 * DAC without spending quantity; new keys would be refused as a clone. A
			 * chip too old to know GET_CSR gets new keys, as before. */
			rc = WRIT_E_NOTFOUND;
			if (st.state & WDP_F_KEYS) {
				rc = chip_get_csr(c, csr, &csr_len, j->enc_pub, j->binding, &j->binding_len);
				if (rc < 0 && chip_last_status(c) != WDP_S_UNKNOWN_COMMAND)
					return chip_fail(c, ret, rc, "read CSR");
			}
			if (rc < 0) {
				rc = chip_generate_keys(c, csr, &csr_len, j->enc_pub, j->binding, &j->binding_len);
				if (rc < 0)
					return chip_fail(c, ret, rc, "generate keys");
			}
			j->have_enc = 1;
			step(ops, ret, "dac");
			t = now_s();
			rc = ops->issue_dac(ops->ctx, st.uid, csr, csr_len, &ret->dac, hsm_err, sizeof hsm_err);
			ret->t_hsm += now_s() - t;
			if (rc < 0)
				return fail(ret, rc, "DAC: %s", hsm_err);
			j->have_dac = 1;
			ret->dac_issued = 1;
		}
		step(ops, ret, "chain");
		rc = chip_store_chain(c, ret->dac.dac, ret->dac.dac_len, ret->dac.pai, ret->dac.pai_len);
		if (rc < 0)
			return chip_fail(c, ret, rc, "store chain");
	} else if (!j->have_dac && ops->recover_dac) {
		step(ops, ret, "chain");
		rc = recover(c, ops, j, ret, st.uid);
		if (rc < 0)
			return rc;
	} else if (!j->have_dac) {
		return fail(ret, WRIT_E_STATE,
			    "the chip holds a certificate chain from an earlier run this station does not know; "
			    "finish it with the station that started it, or set it aside");
	}

	if (!(st.state & WDP_F_FACTORY_DATA)) {
		uint8_t fd[WDP_FACTORY_DATA_MAX];
		size_t fd_len;
		step(ops, ret, "factory-data");
		rc = ops->factory_data(ops->ctx, st.uid, &ret->dac, fd, sizeof fd, &fd_len, hsm_err,
				       sizeof hsm_err);
		if (rc < 0)
			return fail(ret, rc, "factory data: %s", hsm_err);
		rc = chip_store_factory_data(c, fd, fd_len);
		if (rc < 0)
			return chip_fail(c, ret, rc, "store factory data");
	}

	for (size_t i = 0; i < r->n_secrets; i++) {
		uint8_t wrapped[WDP_WRAP_OVERHEAD + WDP_SECRET_MAX];
		size_t wlen;
		if (j->secret_done[i])
			continue;
		step(ops, ret, "secret");
		if (!j->have_enc) {
			rc = chip_get_enc_key(c, j->enc_pub, j->binding, &j->binding_len);
			if (rc < 0)
				return chip_fail(c, ret, rc, "read key-agreement key");
			j->have_enc = 1;
		}
		t = now_s();
		rc = ops->wrap_secret(ops->ctx, st.uid, &ret->dac, j->enc_pub, j->binding, j->binding_len,
				      r->secret_labels[i], wrapped, sizeof wrapped, &wlen, hsm_err,
				      sizeof hsm_err);
		ret->t_hsm += now_s() - t;
		if (rc < 0)
			return fail(ret, rc, "wrap secret %s: %s", r->secret_labels[i], hsm_err);
		rc = chip_store_secret(c, r->secret_labels[i], wrapped, wlen);
		if (rc < 0)
			return chip_fail(c, ret, rc, "store secret");
		j->secret_done[i] = 1;
	}

	if (!(st.state & WDP_F_OTP)) {
		step(ops, ret, "otp");
		rc = chip_burn_otp(c, r->sb_key_hash, r->debug_root_hash);
		if (rc < 0)
			return chip_fail(c, ret, rc, "burn OTP");
	}

	if (r->fw_len > 0 && (!(st.state & WDP_F_FIRMWARE) || st.fw_version != r->fw_version)) {
		step(ops, ret, "firmware");
		rc = chip_firmware(c, r->fw_version, r->sb_pub, r->fw, r->fw_len, r->fw_sig, progress, pctx);
		if (rc < 0)
			return chip_fail(c, ret, rc, "firmware");
	}

	if (r->lock) {
		uint8_t lc = 0;
		step(ops, ret, "lock");
		rc = chip_lock(c, &lc);
		if (rc < 0)
			return chip_fail(c, ret, rc, "lock");
		if (lc != WDP_LC_SECURED)
			return fail(ret, WRIT_E_PROTO, "lock: the chip did not report the secured state");
		j->locked_by_us = 1;
	}
	return 0;
}

int chip_provision(struct chip *c, const struct chip_recipe *r, const struct chip_hsm_ops *ops,
		   struct chip_result *ret, chip_progress_fn progress, void *progress_ctx)
{
	struct job j;
	struct chip_stats s0, s1;
	double t0 = now_s();
	int max_reconnects = r->reconnects < 0 ? 6 : r->reconnects;
	int rc;

	if (r->n_secrets > CHIP_RECIPE_SECRETS_MAX)
		return WRIT_E_INVAL;
	memset(ret, 0, sizeof *ret);
	memset(&j, 0, sizeof j);
	chip_get_stats(c, &s0);
	/* A chip that is not there yet (being seated, rebooting) and a link that drops later
	 * are the same to a line: connect again with backoff, then resume from STATUS. */
	rc = chip_connected(c) ? 0 : chip_connect(c, NULL);
	for (;;) {
		int connect_failed = rc < 0;

		if (!connect_failed) {
			rc = pass(c, r, ops, &j, ret, progress, progress_ctx);
			if (rc != WRIT_E_IO || chip_last_status(c) != 0)
				break;
		} else if (chip_last_status(c) != 0) {
			(void)chip_fail(c, ret, rc, "connect"); /* the chip answered and refused */
			break;
		}
		if ((int)ret->reconnects >= max_reconnects) {
			if (connect_failed)
				(void)chip_fail(c, ret, rc, ret->reconnects ? "reconnect" : "connect");
			break;
		}
		/* 0.1 s, 0.2 s, 0.4 s ... at most 2 s: long enough for a chip to reboot */
		long ms = 100L << (ret->reconnects < 5 ? ret->reconnects : 5);
		struct timespec backoff = { (ms > 2000 ? 2000 : ms) / 1000, ((ms > 2000 ? 2000 : ms) % 1000) * 1000000L };
		ret->reconnects++;
		nanosleep(&backoff, NULL);
		rc = chip_connect(c, NULL);
	}
	chip_get_stats(c, &s1);
	ret->t_total = now_s() - t0;
	ret->t_chip = s1.wait_s - s0.wait_s;
	if (rc == 0) {
		ret->err[0] = '\0';
		ret->failed_step = NULL;
	}
	return rc;
}
