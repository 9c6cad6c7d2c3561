/* SPDX-License-Identifier: Apache-2.0 */
/* The shared TPM 2.0 connection of writ-hsmd (tpm.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "host/log.h"
#include "hsm/tpm.h"

struct tpm {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	pthread_mutex_t lock;
	char conf[512];
};

int tpm_open(const char *tcti_conf, struct tpm **ret)
{
	struct tpm *t;
	TSS2_RC rc;

	*ret = NULL;
	if (!tcti_conf)
		tcti_conf = TPM_DEFAULT_TCTI;
	t = calloc(1, sizeof(*t));
	if (!t)
		return WRIT_E_NOMEM;
	pthread_mutex_init(&t->lock, NULL);
	(void)!snprintf(t->conf, sizeof(t->conf), "%s", tcti_conf);
	rc = Tss2_TctiLdr_Initialize(tcti_conf, &t->tcti);
	if (rc != TSS2_RC_SUCCESS) {
		log_error("tpm: no TPM at \"%s\": %s", tcti_conf, Tss2_RC_Decode(rc));
		tpm_close(t);
		return WRIT_E_NOTFOUND;
	}
	rc = Esys_Initialize(&t->esys, t->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		log_error("tpm: ESAPI initialisation failed: %s", Tss2_RC_Decode(rc));
		tpm_close(t);
		return WRIT_E_NOTFOUND;
	}
	*ret = t;
	return 0;
}

void tpm_close(struct tpm *t)
{
	if (!t)
		return;
	if (t->esys)
		Esys_Finalize(&t->esys);
	if (t->tcti)
		Tss2_TctiLdr_Finalize(&t->tcti);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

ESYS_CONTEXT *tpm_esys(struct tpm *t)
{
	return t->esys;
}

void tpm_lock(struct tpm *t)
{
	pthread_mutex_lock(&t->lock);
}

void tpm_unlock(struct tpm *t)
{
	pthread_mutex_unlock(&t->lock);
}

const char *tpm_tcti(const struct tpm *t)
{
	return t->conf;
}
