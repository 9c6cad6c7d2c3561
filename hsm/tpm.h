/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One connection to a TPM 2.0 (tpm2-tss ESAPI through the TCTI loader), shared by
 * everything writ-hsmd keeps in the TPM: the journal's rollback anchor (anchor.h) and
 * the key-agreement key when the token cannot do ECDH (tpmkex.h). One connection, not
 * one per user: a TPM reached straight over swtpm's socket serves one client at a time.
 * ESAPI contexts are not thread safe: every command runs under tpm_lock.
 */
#ifndef WRIT_HSM_TPM_H
#define WRIT_HSM_TPM_H

#include <tss2/tss2_esys.h>

#include "base/err.h"

#define TPM_DEFAULT_TCTI "device:/dev/tpmrm0"

struct tpm;

/* Connect to the TPM that tcti_conf names (tpm2-tss TCTI loader syntax, e.g.
 * "device:/dev/tpmrm0", "swtpm:path=/run/swtpm.sock", "tabrmd:bus_type=system").
 * WRIT_E_NOTFOUND, with a log line, when nothing answers. */
WRIT_MUST_CHECK int tpm_open(const char *tcti_conf, struct tpm **ret);
void tpm_close(struct tpm *t); /* NULL accepted */

ESYS_CONTEXT *tpm_esys(struct tpm *t);
void tpm_lock(struct tpm *t);
void tpm_unlock(struct tpm *t);
const char *tpm_tcti(const struct tpm *t); /* the TCTI string it was opened with */

#endif
