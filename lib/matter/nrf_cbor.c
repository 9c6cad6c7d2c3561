/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Nordic nRF Connect factory data: one definite-length CBOR map with text-string keys,
 * as the SDK's scripts/tools/nrfconnect/nrfconnect_generate_partition.py makes it from
 * the JSON of nrfconnect_factory_data.schema: integers stay integers, every string
 * becomes a byte string (UTF-8 text encoded, "hex:" values decoded). Deliberate
 * deviation: the schema requires dac_key, and we never write it (the DAC key is made on
 * the chip and never leaves it). Integers and lengths use the shortest CBOR encoding.
 */
#include <string.h>

#include "base/ct.h"
#include "base/cborh.h"
#include "matter/dbuf.h"
#include "matter/factory.h"

#define NRF_FACTORY_DATA_VERSION 1 /* FACTORY_DATA_VERSION of the SDK generator */
#define NRF_VENDOR_ID_MAX 65524     /* the schema's maximum */

static void cbor_head(struct dbuf *b, uint8_t major, uint64_t v)
{
	uint8_t h[CBOR_HEAD_MAX];

	dbuf_put(b, h, cbor_head_encode(h, major, v));
}

static void cbor_key(struct dbuf *b, const char *k)
{
	cbor_head(b, 3, strlen(k));
	dbuf_str(b, k);
}

static void kv_uint(struct dbuf *b, const char *k, uint64_t v)
{
	cbor_key(b, k);
	cbor_head(b, 0, v);
}

static void kv_bytes(struct dbuf *b, const char *k, const void *v, size_t n)
{
	cbor_key(b, k);
	cbor_head(b, 2, n);
	dbuf_put(b, v, n);
}

int matter_nrf_cbor(const struct matter_factory_data *fd, uint8_t **ret_buf, size_t *ret_len)
{
	struct dbuf b;
	unsigned count = 16;

	if (!ret_buf || !ret_len || matter_fd_validate(fd, NULL, 0) < 0)
		return WRIT_E_INVAL;
	/* what the schema requires beyond our own rules */
	if (!fd->vendor_name[0] || !fd->product_name[0] || !fd->hw_ver_str[0] || fd->vid > NRF_VENDOR_ID_MAX ||
	    fd->pid < 1)
		return WRIT_E_INVAL;
	if (fd->include_passcode)
		count++;
	dbuf_init(&b, 8192);
	cbor_head(&b, 5, count);
	kv_uint(&b, "version", NRF_FACTORY_DATA_VERSION);
	kv_bytes(&b, "sn", fd->serial, strlen(fd->serial));
	kv_uint(&b, "vendor_id", fd->vid);
	kv_uint(&b, "product_id", fd->pid);
	kv_bytes(&b, "vendor_name", fd->vendor_name, strlen(fd->vendor_name));
	kv_bytes(&b, "product_name", fd->product_name, strlen(fd->product_name));
	kv_bytes(&b, "date", fd->mfg_date, MATTER_DATE_LEN);
	kv_uint(&b, "hw_ver", fd->hw_ver);
	kv_bytes(&b, "hw_ver_str", fd->hw_ver_str, strlen(fd->hw_ver_str));
	kv_bytes(&b, "rd_uid", fd->rd_uid, fd->rd_uid_len);
	kv_bytes(&b, "dac_cert", fd->dac, fd->dac_len);
	kv_bytes(&b, "pai_cert", fd->pai, fd->pai_len);
	if (fd->include_passcode)
		kv_uint(&b, "passcode", fd->passcode);
	kv_uint(&b, "spake2_it", fd->spake2p_it);
	kv_bytes(&b, "spake2_salt", fd->salt, fd->salt_len);
	kv_bytes(&b, "spake2_verifier", fd->verifier, MATTER_SPAKE2P_VERIFIER_LEN);
	kv_uint(&b, "discriminator", fd->discriminator);
	if (b.err) {
		int err = b.err;

		dbuf_free(&b);
		return err;
	}
	*ret_buf = b.p;
	*ret_len = b.len;
	return 0;
}
