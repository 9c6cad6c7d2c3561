/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The TPM 2.0 NV counter that anchors writ-hsmd's journal (anchor.h): define, check,
 * catch up and advance through tpm2-tss's ESAPI and TCTI loader. The index is a
 * TPM2_NT_COUNTER (only TPM2_NV_Increment changes it) with an empty auth value; its
 * type is checked at every open, so an ordinary index with a written value in its
 * place is refused.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>

#include "host/log.h"
#include "hsm/anchor.h"

struct anchor {
	struct tpm *tpm; /* not owned: the caller closes it after anchor_free */
	ESYS_CONTEXT *esys;
	ESYS_TR nv;
	uint32_t index;
	uint64_t base;
	uint64_t count; /* the counter's value: read at open, then what increments made it */
};

void anchor_free(struct anchor *a)
{
	if (!a)
		return;
	if (a->nv != ESYS_TR_NONE && a->esys) {
		tpm_lock(a->tpm);
		Esys_TR_Close(a->esys, &a->nv);
		tpm_unlock(a->tpm);
	}
	free(a);
}

static int nv_read(struct anchor *a, uint64_t *ret)
{
	TPM2B_MAX_NV_BUFFER *data = NULL;
	uint64_t v = 0;
	TSS2_RC rc;
	int i;

	rc = Esys_NV_Read(a->esys, a->nv, a->nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, 8, 0, &data);
	if (rc != TSS2_RC_SUCCESS || !data || data->size != 8) {
		log_error("tpm: cannot read NV counter 0x%08x: %s", a->index, Tss2_RC_Decode(rc));
		Esys_Free(data);
		return WRIT_E_TOKEN;
	}
	for (i = 0; i < 8; i++)
		v = v << 8 | data->buffer[i];
	Esys_Free(data);
	*ret = v;
	return 0;
}

static int nv_increment(struct anchor *a)
{
	TSS2_RC rc = Esys_NV_Increment(a->esys, a->nv, a->nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);

	if (rc != TSS2_RC_SUCCESS) {
		log_error("tpm: cannot increment NV counter 0x%08x: %s", a->index, Tss2_RC_Decode(rc));
		return WRIT_E_TOKEN;
	}
	return 0;
}

int anchor_tpm_define(struct tpm *t, uint32_t nv_index, uint64_t *ret_base)
{
	TPM2B_AUTH auth = { .size = 0 };
	TPM2B_NV_PUBLIC pub = {
		.nvPublic = {
			.nvIndex = nv_index,
			.nameAlg = TPM2_ALG_SHA256,
			.attributes = (TPM2_NT_COUNTER << TPMA_NV_TPM2_NT_SHIFT) | TPMA_NV_AUTHWRITE | TPMA_NV_AUTHREAD |
				      TPMA_NV_NO_DA,
			.authPolicy = { .size = 0 },
			.dataSize = 8,
		},
	};
	struct anchor *a = calloc(1, sizeof(*a));
	TSS2_RC rc;
	int err;

	if (!a)
		return WRIT_E_NOMEM;
	a->tpm = t;
	a->esys = tpm_esys(t);
	a->nv = ESYS_TR_NONE;
	a->index = nv_index;
	tpm_lock(t);
	rc = Esys_NV_DefineSpace(a->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &auth, &pub,
				 &a->nv);
	if (rc != TSS2_RC_SUCCESS) {
		log_error("tpm: cannot define NV counter 0x%08x: %s", nv_index, Tss2_RC_Decode(rc));
		err = (rc & 0xfff) == TPM2_RC_NV_DEFINED ? WRIT_E_EXISTS : WRIT_E_TOKEN;
		goto out;
	}
	if ((err = nv_increment(a)) < 0 || (err = nv_read(a, ret_base)) < 0)
		goto out;
	err = 0;
out:
	tpm_unlock(t);
	anchor_free(a);
	return err;
}

int anchor_tpm_open(struct tpm *t, uint32_t nv_index, uint64_t base, uint64_t entries, struct anchor **ret)
{
	TPM2B_NV_PUBLIC *pub = NULL;
	TPM2B_NAME *name = NULL;
	struct anchor *a = calloc(1, sizeof(*a));
	TSS2_RC rc;
	int err;

	if (!a)
		return WRIT_E_NOMEM;
	a->tpm = t;
	a->esys = tpm_esys(t);
	a->nv = ESYS_TR_NONE;
	a->index = nv_index;
	a->base = base;
	tpm_lock(t);
	rc = Esys_TR_FromTPMPublic(a->esys, nv_index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &a->nv);
	if (rc != TSS2_RC_SUCCESS) {
		log_error("tpm: the journal is anchored in NV counter 0x%08x, which this TPM (\"%s\") lacks: %s",
			  nv_index, tpm_tcti(t), Tss2_RC_Decode(rc));
		tpm_unlock(t);
		err = WRIT_E_JOURNAL;
		goto fail;
	}
	rc = Esys_NV_ReadPublic(a->esys, a->nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, &name);
	if (rc != TSS2_RC_SUCCESS || !pub ||
	    ((pub->nvPublic.attributes & TPMA_NV_TPM2_NT_MASK) >> TPMA_NV_TPM2_NT_SHIFT) != TPM2_NT_COUNTER ||
	    pub->nvPublic.dataSize != 8) {
		log_error("tpm: NV index 0x%08x is not a monotonic counter: refusing it", nv_index);
		tpm_unlock(t);
		err = WRIT_E_JOURNAL;
		goto fail;
	}
	err = nv_read(a, &a->count);
	tpm_unlock(t);
	if (err < 0)
		goto fail;
	if (a->count < base) {
		log_error("tpm: NV counter 0x%08x reads %llu, below the base %llu the journal recorded: another TPM "
			  "or counter; refusing to serve", nv_index, (unsigned long long)a->count,
			  (unsigned long long)base);
		err = WRIT_E_JOURNAL;
		goto fail;
	}
	if (a->count - base > entries) {
		log_error("tpm: ROLLBACK: the TPM counter says %llu journal entries were made, the journal holds %llu: "
			  "this state directory was restored from an older copy; refusing to serve (the units "
			  "it forgets were spent)", (unsigned long long)(a->count - base), (unsigned long long)entries);
		err = WRIT_E_JOURNAL;
		goto fail;
	}
	if (a->count - base < entries)
		log_info("tpm: counter %llu entries behind the journal (a stop between fsync and increment): catching up",
			 (unsigned long long)(entries - (a->count - base)));
	if ((err = anchor_advance(a, entries)) < 0)
		goto fail;
	log_info("tpm: journal anchored in NV counter 0x%08x (value %llu, base %llu, %llu entries)", nv_index,
		 (unsigned long long)a->count, (unsigned long long)base, (unsigned long long)entries);
	Esys_Free(pub);
	Esys_Free(name);
	*ret = a;
	return 0;
fail:
	Esys_Free(pub);
	Esys_Free(name);
	anchor_free(a);
	return err;
}

int anchor_advance(void *ctx, uint64_t next)
{
	struct anchor *a = ctx;
	int err;

	if (a->count - a->base > next)
		return WRIT_E_JOURNAL; /* cannot happen while this process owns the journal */
	tpm_lock(a->tpm);
	while (a->count - a->base < next) {
		if ((err = nv_increment(a)) < 0) {
			tpm_unlock(a->tpm);
			return err;
		}
		a->count++;
	}
	tpm_unlock(a->tpm);
	return 0;
}

int anchor_clock(struct anchor *a, struct anchor_clock *ret)
{
	TPMS_TIME_INFO *t = NULL;
	TSS2_RC rc;

	if (!a || !ret)
		return WRIT_E_INVAL;
	tpm_lock(a->tpm);
	rc = Esys_ReadClock(a->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &t);
	tpm_unlock(a->tpm);
	if (rc != TSS2_RC_SUCCESS || !t) {
		log_error("tpm: TPM2_ReadClock failed: %s", Tss2_RC_Decode(rc));
		Esys_Free(t);
		return WRIT_E_CLOCK;
	}
	ret->ms = t->clockInfo.clock;
	ret->reset = t->clockInfo.resetCount;
	ret->restart = t->clockInfo.restartCount;
	Esys_Free(t);
	return 0;
}

uint64_t anchor_count(const struct anchor *a)
{
	return a ? a->count : 0;
}
