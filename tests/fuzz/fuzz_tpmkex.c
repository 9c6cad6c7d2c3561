/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for writ-hsmd's key-agreement key file (STATE/kex.tpm, hsm/tpmkex.h):
 * "WKX1" || TPM2B_PUBLIC || TPM2B_PRIVATE, unmarshalled with tss2-mu and checked for the
 * attributes of a writ-hsmd key before any of it reaches a TPM. A file the parser
 * accepts must marshal back to exactly its bytes (nothing trailing, nothing ignored).
 * Seed: a real kex.tpm made by writ-hsmd init --kex tpm on a throw-away swtpm.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_mu.h>

#include "hsm/tpmkex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
	uint8_t out[8192];
	size_t off = 4;

	if (tpmkex_parse(data, size, &pub, &priv) != 0)
		return 0;
	memcpy(out, "WKX1", 4);
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, out, sizeof(out), &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_PRIVATE_Marshal(&priv, out, sizeof(out), &off) != TSS2_RC_SUCCESS)
		abort();
	if (off != size || memcmp(out, data, size) != 0)
		abort(); /* accepted bytes that do not mean exactly this key */
	return 0;
}
