/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for what a peer of writ-hsmd controls before any key is used: the
 * socket request decoder, the strict CBOR map loader under it, and the enrolment
 * bundle verifier the OEM authority runs on what an HSM sends it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "wire/cbu.h"
#include "wire/enrol.h"
#include "wire/hsmproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hsmp_request rq;
	struct enrol_info *info;
	cbor_item_t *m = NULL;

	if (hsmp_decode_request(data, size, &rq) == 0) {
		/* what the dispatcher relies on */
		if (rq.op == HSMP_OP_ISSUE_DAC && (rq.uid_len == 0 || rq.uid_len > HSMP_UID_MAX))
			abort();
		if (rq.op == HSMP_OP_WRAP_SECRET &&
		    (rq.uid_len != HSMP_WRAP_UID_LEN || rq.dac_len == 0 || rq.dac_len > HSMP_DAC_MAX || !rq.enc_pub ||
		     rq.binding_len < HSMP_BINDING_MIN || rq.binding_len > HSMP_BINDING_MAX || rq.label_len == 0 ||
		     rq.label_len > HSMP_LABEL_MAX || rq.label[rq.label_len] != 0))
			abort();
		if ((rq.op == HSMP_OP_STATUS || rq.op == HSMP_OP_ENROLMENT || rq.op == HSMP_OP_CHECKPOINT) &&
		    cbor_map_size(rq.root) != 1)
			abort(); /* these take no key but the op */
		hsmp_request_free(&rq);
	}
	if (cbu_load_map(data, size, &m) == 0)
		cbor_decref(&m);
	info = malloc(sizeof(*info));
	if (info) {
		if (enrol_verify(data, size, info) == 0 && info->csr_len > ENROL_CSR_MAX)
			abort();
		free(info);
	}
	return 0;
}
