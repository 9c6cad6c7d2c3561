/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rollback-proof quota (issue 8): writ-hsmd anchors its journal's length in a TPM 2.0
 * NV counter (tpm2-tss ESAPI), which nothing on the host can rewind. The binding, the
 * counter's NV index and its value at `init` (the base), sits in the journal's genesis
 * (keys 9 and 10), signed and hash-chained with the rest. The invariant:
 *
 *     counter - base == number of journal entries that are durable
 *
 * is kept by advancing the counter after each group commit's fdatasync and before any
 * waiter (a DAC) is answered. At start a counter behind the journal is a crash between
 * the two steps and is caught up; a counter AHEAD of the journal means the state
 * directory was restored from an older copy, and writ-hsmd refuses to serve. The
 * backend `none` (no keys 9/10) keeps the documented fallback: the cloud's fork alert.
 * docs/threat-model.md, "Rollback-proof quota".
 */
#ifndef WRIT_HSM_ANCHOR_H
#define WRIT_HSM_ANCHOR_H

#include <stdint.h>

#include "base/err.h"
#include "hsm/tpm.h"

#define ANCHOR_DEFAULT_TCTI TPM_DEFAULT_TCTI
/* NV indices writ-hsmd defines: the owner range, 0x0180xxxx by HSM id (a TPM may serve
 * several HSMs) */
#define ANCHOR_NV_BASE 0x01800000u
#define ANCHOR_NV_MASK 0x003fffffu

struct anchor;

/* At init: define a counter NV index at nv_index on the TPM t (tpm.h), bump it
 * once (a counter has no value before its first increment; the TPM then starts it at
 * the highest count it ever held, so a redefined index never goes back) and return its
 * value. WRIT_E_EXISTS if the index is taken, WRIT_E_NOTFOUND if no TPM answers. */
WRIT_MUST_CHECK int anchor_tpm_define(struct tpm *t, uint32_t nv_index, uint64_t *ret_base);

/* At serve: on the TPM t (kept open by the caller until after anchor_free), check the index is a counter, and compare with the journal's
 * `entries` (see above). Catches the counter up when behind; WRIT_E_JOURNAL with a
 * log line when it is ahead (rollback) or below its base (another counter or TPM).
 * *ret is freed with anchor_free (NULL accepted). */
WRIT_MUST_CHECK int anchor_tpm_open(struct tpm *t, uint32_t nv_index, uint64_t base, uint64_t entries,
				    struct anchor **ret);
void anchor_free(struct anchor *a);

/* The journal hook (journal_set_anchor): every entry below next is durable; advance the
 * counter to match before anyone is answered. Non-zero fails the journal for good. */
int anchor_advance(void *a, uint64_t next);

/* The TPM's clock (TPM2_ReadClock): ms the TPM has been powered since it was cleared
 * (it does not advance while the TPM is off), and how often the TPM was reset (power
 * cycle, reboot) and restarted (resume from suspend). Thread safe with anchor_advance.
 * WRIT_E_CLOCK if the TPM does not answer. docs/threat-model.md, "Clock". */
struct anchor_clock {
	uint64_t ms;
	uint32_t reset, restart;
};
WRIT_MUST_CHECK int anchor_clock(struct anchor *a, struct anchor_clock *ret);

/* The counter's value as last read or set, and the base (for logs and tests). */
uint64_t anchor_count(const struct anchor *a);

#endif
