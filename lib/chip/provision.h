/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Provisioning one chip from start to lock, resumably: the order of the device protocol
 * (keys + CSR → DAC → chain → factory data → secrets → OTP → firmware → lock), driven
 * by what the chip reports in STATUS, so a chip that dropped its link, was reset or was
 * killed mid-way is picked up where it stands instead of being started over.
 *
 * The HSM side is a set of callbacks (the station calls writ-hsmd through the factory
 * service; tests and benches call it directly), so this file knows no transport but the
 * chip's. It never sees key material: DACs and wrapped secrets are public or encrypted
 * to the chip.
 */
#ifndef WRIT_CHIP_PROVISION_H
#define WRIT_CHIP_PROVISION_H

#include <stddef.h>
#include <stdint.h>

#include "chip/chip.h"

struct chip_dac {
	uint8_t dac[WDP_CERT_MAX];
	size_t dac_len;
	uint8_t pai[WDP_CERT_MAX];
	size_t pai_len;
	uint64_t serial;      /* device serial number from the writ's range */
	uint64_t journal_seq; /* the HSM journal entry of this DAC */
};

struct chip_hsm_ops {
	void *ctx;
	/* Issue a DAC for the CSR. 0 or a negative error (detail in errbuf). */
	int (*issue_dac)(void *ctx, const uint8_t uid[WDP_UID_LEN], const uint8_t *csr,
			 size_t csr_len, struct chip_dac *ret, char *errbuf, size_t errcap);
	/* Wrap the secret `label` to the chip's key-agreement key. */
	int (*wrap_secret)(void *ctx, const uint8_t uid[WDP_UID_LEN], const struct chip_dac *dac,
			   const uint8_t enc_pub[WDP_P256_PUB_LEN], const uint8_t *binding,
			   size_t binding_len, const char *label, uint8_t *out, size_t cap,
			   size_t *ret_len, char *errbuf, size_t errcap);
	/* Optional (may be NULL): the chip already stores a chain this run did not get from
	 * the HSM (a station that restarted after STORE_CHAIN, or a locked chip). Check that
	 * dac/pai belong to this job (the PAI, the VID/PID, the device serial in the DAC) and
	 * fill *ret (journal_seq 0 when unknown). Without it such a chip is refused. */
	int (*recover_dac)(void *ctx, const uint8_t uid[WDP_UID_LEN], const uint8_t *dac, size_t dac_len,
			   const uint8_t *pai, size_t pai_len, struct chip_dac *ret, char *errbuf,
			   size_t errcap);
	/* Optional (may be NULL): the flow enters a step ("discover", "keys", "dac", "chain",
	 * "factory-data", "secret", "otp", "firmware", "lock"), for progress lines and for
	 * naming the step a failure happened in. */
	void (*step)(void *ctx, const char *name);
	/* Build the chip's factory data blob (WFD1) for this device. */
	int (*factory_data)(void *ctx, const uint8_t uid[WDP_UID_LEN], const struct chip_dac *dac,
			    uint8_t *out, size_t cap, size_t *ret_len, char *errbuf, size_t errcap);
};

#define CHIP_RECIPE_SECRETS_MAX 4

struct chip_recipe {
	uint32_t fw_version;
	const uint8_t *fw;  /* the image, fw_len bytes */
	size_t fw_len;
	uint8_t fw_sig[64]; /* secure-boot signature, r ‖ s */
	uint8_t sb_pub[WDP_P256_PUB_LEN];
	uint8_t sb_key_hash[32];     /* burnt into OTP: SHA-256(sb_pub) */
	uint8_t debug_root_hash[32]; /* burnt into OTP */
	const char *secret_labels[CHIP_RECIPE_SECRETS_MAX];
	size_t n_secrets;
	int lock;        /* lock at the end (production: always) */
	int reconnects;  /* reconnect attempts after a dropped link (backoff 0.1 s doubling to 2 s); 6 when < 0 */
};

struct chip_result {
	uint8_t uid[WDP_UID_LEN];
	struct chip_dac dac;
	int dac_issued;      /* a DAC was issued in this run */
	int dac_recovered;   /* ret->dac was read back from the chip (GET_CHAIN) */
	unsigned reconnects; /* links re-established */
	double t_total, t_chip, t_hsm; /* seconds: all, waiting on the chip, in HSM calls */
	const char *failed_step;  /* on failure: the step it failed in (static string) */
	char err[384];       /* on failure: what went wrong and what to do */
};

/*
 * Provision the chip behind c (connected or not). Returns 0 when the recipe completed
 * (and the chip is locked if r->lock), WRIT_E_EXISTS when the chip was already locked
 * before we started (then, with ops->recover_dac, ret->dac holds its chain when it
 * belongs to this job and ret->dac_recovered is set), or another negative error with
 * ret->err set. progress (may be
 * NULL) reports the firmware transfer.
 */
WRIT_MUST_CHECK int chip_provision(struct chip *c, const struct chip_recipe *r,
				   const struct chip_hsm_ops *ops, struct chip_result *ret,
				   chip_progress_fn progress, void *progress_ctx);

#endif
