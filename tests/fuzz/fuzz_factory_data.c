/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for lib/matter's factory-data encoders: a struct matter_factory_data
 * is filled from the input (lengths and contents unchecked, sometimes beyond bounds),
 * then the ESP CSV, ESP NVS, nRF CBOR and WFD1 encoders run. Each must refuse invalid
 * data cleanly and accept valid data (nRF: what its schema allows; NVS: what fits), and
 * WFD1 must parse back to the same fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "matter/factory.h"
#include "matter/payload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static uint8_t good_verifier[MATTER_SPAKE2P_VERIFIER_LEN];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const uint8_t salt[16] = "SPAKE2P Key Salt";

	(void)argc;
	(void)argv;
	if (matter_spake2p_verifier(20202021, salt, 16, 1000, good_verifier) != 0)
		abort();
	return 0;
}

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t take8(struct in *in)
{
	uint8_t v = 0;

	if (in->n) {
		v = *in->p++;
		in->n--;
	}
	return v;
}

static uint16_t take16(struct in *in)
{
	return (uint16_t)(take8(in) | take8(in) << 8);
}

/* Fill up to cap bytes; returns how many the input asked for (may exceed what it had). */
static size_t take_bytes(struct in *in, uint8_t *dst, size_t cap, size_t len)
{
	size_t k = len < cap ? len : cap;

	k = k < in->n ? k : in->n;
	memcpy(dst, in->p, k);
	in->p += k;
	in->n -= k;
	return len;
}

static void take_str(struct in *in, char *dst, size_t arrsz)
{
	size_t len = take8(in) % (arrsz + 4), k;

	memset(dst, 0, arrsz);
	k = take_bytes(in, (uint8_t *)dst, arrsz, len);
	if (k < arrsz)
		dst[k] = '\0'; /* else: deliberately unterminated, validation must refuse */
}

static void check_equal(const struct matter_factory_data *a, const struct matter_factory_data *b)
{
	if (a->vid != b->vid || a->pid != b->pid || strcmp(a->vendor_name, b->vendor_name) ||
	    strcmp(a->product_name, b->product_name) || strcmp(a->serial, b->serial) ||
	    strcmp(a->mfg_date, b->mfg_date) || a->hw_ver != b->hw_ver || strcmp(a->hw_ver_str, b->hw_ver_str) ||
	    a->discriminator != b->discriminator || a->spake2p_it != b->spake2p_it || a->salt_len != b->salt_len ||
	    memcmp(a->salt, b->salt, a->salt_len) || memcmp(a->verifier, b->verifier, sizeof(a->verifier)) ||
	    a->rd_uid_len != b->rd_uid_len || memcmp(a->rd_uid, b->rd_uid, a->rd_uid_len) ||
	    a->dac_len != b->dac_len || memcmp(a->dac, b->dac, a->dac_len) || a->pai_len != b->pai_len ||
	    memcmp(a->pai, b->pai, a->pai_len) || a->cd_len != b->cd_len || memcmp(a->cd, b->cd, a->cd_len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct matter_factory_data fd, back;
	static uint8_t wfd[MATTER_WFD_MAX];
	struct in in = { data, size };
	uint8_t flags, *buf = NULL;
	char *csv = NULL;
	size_t len = 0;
	int valid, r;

	memset(&fd, 0, sizeof(fd));
	flags = take8(&in);
	fd.vid = take16(&in);
	fd.pid = take16(&in);
	take_str(&in, fd.vendor_name, sizeof(fd.vendor_name));
	take_str(&in, fd.product_name, sizeof(fd.product_name));
	take_str(&in, fd.serial, sizeof(fd.serial));
	if (flags & 1)
		memcpy(fd.mfg_date, "2024-02-29", 11);
	else
		take_str(&in, fd.mfg_date, sizeof(fd.mfg_date));
	fd.hw_ver = take16(&in);
	take_str(&in, fd.hw_ver_str, sizeof(fd.hw_ver_str));
	fd.discriminator = take16(&in) & (flags & 2 ? 0x0FFF : 0xFFFF);
	fd.spake2p_it = (uint32_t)take16(&in) * (flags & 4 ? 2u : 1u);
	fd.salt_len = take_bytes(&in, fd.salt, sizeof(fd.salt), take8(&in) % 40);
	if (flags & 8)
		memcpy(fd.verifier, good_verifier, sizeof(good_verifier));
	else
		(void)take_bytes(&in, fd.verifier, sizeof(fd.verifier), sizeof(fd.verifier));
	fd.rd_uid_len = take_bytes(&in, fd.rd_uid, sizeof(fd.rd_uid), take8(&in) % 40);
	fd.dac_len = take_bytes(&in, fd.dac, sizeof(fd.dac), take16(&in) % 700);
	fd.pai_len = take_bytes(&in, fd.pai, sizeof(fd.pai), take16(&in) % 700);
	fd.cd_len = take_bytes(&in, fd.cd, sizeof(fd.cd), take16(&in) % 900);
	fd.include_passcode = (flags & 16) != 0;
	fd.passcode = (uint32_t)take16(&in) << 11 | take16(&in);

	valid = matter_fd_validate(&fd, NULL, 0) == 0;

	r = matter_esp_csv(&fd, &csv, &len);
	if ((r == 0) != valid || (r == 0 && strlen(csv) != len))
		abort();
	free(csv);
	r = matter_esp_nvs(&fd, (size_t)(3 + (flags >> 5)) * MATTER_NVS_PAGE, &buf, &len);
	if ((r == 0 && !valid) || (valid && r != 0 && r != WRIT_E_TOOBIG && r != WRIT_E_NOMEM))
		abort();
	free(buf);
	buf = NULL;
	r = matter_nrf_cbor(&fd, &buf, &len);
	if (r == 0 && !valid)
		abort();
	free(buf);
	r = matter_wfd_encode(&fd, wfd, sizeof(wfd));
	if ((r > 0) != valid)
		abort();
	if (r > 0) {
		if (matter_wfd_parse(wfd, (size_t)r, &back) != 0)
			abort();
		check_equal(&fd, &back);
	}
	return 0;
}
