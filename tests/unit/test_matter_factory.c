/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lib/matter factory data: field rules, the WFD1 encoder and its strict parser
 * (round trip, then truncated, oversized, corrupted, reordered, duplicated, unknown and
 * missing TLVs), the settings parser, and the refusals of the ESP/nRF encoders and the
 * label writers. The formats themselves are read back by an independent Python reader
 * in tests/integration/matter_formats.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "matter/factory.h"
#include "matter/label.h"
#include "matter/payload.h"

static void make_fd(struct matter_factory_data *fd)
{
	static const uint8_t salt[16] = "SPAKE2P Key Salt";

	memset(fd, 0, sizeof(*fd));
	fd->vid = 0xFFF1;
	fd->pid = 0x8000;
	memcpy(fd->vendor_name, "Writ Test", 10);
	memcpy(fd->product_name, "Lamp", 5);
	memcpy(fd->serial, "SN-0001", 8);
	memcpy(fd->mfg_date, "2024-02-29", 11);
	fd->hw_ver = 1;
	memcpy(fd->hw_ver_str, "rev A", 6);
	fd->discriminator = 3840;
	fd->spake2p_it = 1000;
	memcpy(fd->salt, salt, 16);
	fd->salt_len = 16;
	assert_int_equal(matter_spake2p_verifier(20202021, salt, 16, 1000, fd->verifier), 0);
	memset(fd->rd_uid, 0xA5, 16);
	fd->rd_uid_len = 16;
	memset(fd->dac, 0x30, 500);
	fd->dac_len = 500;
	memset(fd->pai, 0x31, 480);
	fd->pai_len = 480;
}

static void test_field_rules(void **state)
{
	struct matter_factory_data fd;
	char reason[128];

	(void)state;
	make_fd(&fd);
	assert_int_equal(matter_fd_validate(&fd, reason, sizeof(reason)), 0);
	assert_true(matter_date_valid("2024-02-29", 10));
	assert_false(matter_date_valid("2023-02-29", 10));
	assert_false(matter_date_valid("2100-02-29", 10));
	assert_true(matter_date_valid("2000-02-29", 10));
	assert_false(matter_date_valid("2024-13-01", 10));
	assert_false(matter_date_valid("2024-04-31", 10));
	assert_false(matter_date_valid("2024-4-30x", 10));
	assert_false(matter_date_valid("1999-01-01", 10));
	assert_false(matter_date_valid("2024-01-01", 9));
	assert_true(matter_serial_valid("ABC", 3));
	assert_false(matter_serial_valid("A B", 3));
	assert_false(matter_serial_valid("", 0));
	assert_false(matter_serial_valid("A\x80", 2));
	assert_false(matter_serial_valid("012345678901234567890123456789012", 33));
	assert_true(matter_utf8_valid((const uint8_t *)"caf\xc3\xa9", 5));
	assert_false(matter_utf8_valid((const uint8_t *)"\xc0\xaf", 2));      /* overlong */
	assert_false(matter_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3));  /* surrogate */
	assert_false(matter_utf8_valid((const uint8_t *)"\xc3", 1));          /* truncated */
	assert_false(matter_utf8_valid((const uint8_t *)"a\nb", 3));

	fd.discriminator = 0x1000;
	assert_int_equal(matter_fd_validate(&fd, reason, sizeof(reason)), WRIT_E_INVAL);
	assert_non_null(strstr(reason, "discriminator"));
	make_fd(&fd);
	fd.salt_len = 15;
	assert_int_equal(matter_fd_validate(&fd, NULL, 0), WRIT_E_INVAL);
	make_fd(&fd);
	fd.verifier[50] ^= 1;
	assert_int_equal(matter_fd_validate(&fd, NULL, 0), WRIT_E_INVAL);
	make_fd(&fd);
	fd.dac_len = 601;
	assert_int_equal(matter_fd_validate(&fd, NULL, 0), WRIT_E_INVAL);
	make_fd(&fd);
	fd.include_passcode = 1;
	fd.passcode = 12345678;
	assert_int_equal(matter_fd_validate(&fd, NULL, 0), WRIT_E_INVAL);
	make_fd(&fd);
	memset(fd.serial, 'A', sizeof(fd.serial)); /* not NUL-terminated */
	assert_int_equal(matter_fd_validate(&fd, NULL, 0), WRIT_E_INVAL);
}

static int wfd(const struct matter_factory_data *fd, uint8_t *out)
{
	return matter_wfd_encode(fd, out, MATTER_WFD_MAX);
}

/* Field-by-field equality (strings up to their NUL, binaries up to their length). */
static void assert_fd_equal(const struct matter_factory_data *a, const struct matter_factory_data *b)
{
	assert_int_equal(a->vid, b->vid);
	assert_int_equal(a->pid, b->pid);
	assert_string_equal(a->vendor_name, b->vendor_name);
	assert_string_equal(a->product_name, b->product_name);
	assert_string_equal(a->serial, b->serial);
	assert_string_equal(a->mfg_date, b->mfg_date);
	assert_int_equal(a->hw_ver, b->hw_ver);
	assert_string_equal(a->hw_ver_str, b->hw_ver_str);
	assert_int_equal(a->discriminator, b->discriminator);
	assert_int_equal(a->spake2p_it, b->spake2p_it);
	assert_int_equal(a->salt_len, b->salt_len);
	assert_memory_equal(a->salt, b->salt, a->salt_len);
	assert_memory_equal(a->verifier, b->verifier, sizeof(a->verifier));
	assert_int_equal(a->rd_uid_len, b->rd_uid_len);
	assert_memory_equal(a->rd_uid, b->rd_uid, a->rd_uid_len);
	assert_int_equal(a->dac_len, b->dac_len);
	assert_memory_equal(a->dac, b->dac, a->dac_len);
	assert_int_equal(a->pai_len, b->pai_len);
	assert_memory_equal(a->pai, b->pai, a->pai_len);
	assert_int_equal(a->cd_len, b->cd_len);
	if (a->cd_len)
		assert_memory_equal(a->cd, b->cd, a->cd_len);
}

/* Rewrite the length and CRC after a test edits the TLVs. */
static void reseal(uint8_t *b, size_t len)
{
	uint32_t crc;

	b[4] = (uint8_t)((len - 10) >> 8);
	b[5] = (uint8_t)(len - 10);
	crc = (uint32_t)crc32(0L, b, (uInt)(len - 4));
	b[len - 4] = (uint8_t)(crc >> 24);
	b[len - 3] = (uint8_t)(crc >> 16);
	b[len - 2] = (uint8_t)(crc >> 8);
	b[len - 1] = (uint8_t)crc;
}

static void test_wfd_roundtrip(void **state)
{
	struct matter_factory_data fd, back;
	uint8_t b[MATTER_WFD_MAX];
	int n;

	(void)state;
	make_fd(&fd);
	n = wfd(&fd, b);
	assert_true(n > 0);
	assert_memory_equal(b, "WFD1", 4);
	assert_int_equal(matter_wfd_parse(b, (size_t)n, &back), 0);
	assert_fd_equal(&back, &fd);

	/* optional fields absent, CD present, everything at its maximum */
	fd.vendor_name[0] = fd.product_name[0] = fd.hw_ver_str[0] = '\0';
	memset(fd.cd, 0x42, MATTER_CD_MAX);
	fd.cd_len = MATTER_CD_MAX;
	fd.dac_len = fd.pai_len = MATTER_CERT_MAX;
	fd.salt_len = 32;
	fd.rd_uid_len = 32;
	assert_int_equal(matter_spake2p_verifier(20202021, fd.salt, 32, 1000, fd.verifier), 0);
	n = wfd(&fd, b);
	assert_true(n > 0);
	assert_int_equal(matter_wfd_parse(b, (size_t)n, &back), 0);
	assert_fd_equal(&back, &fd);
	memset(fd.vendor_name, 'V', MATTER_NAME_MAX);
	memset(fd.product_name, 'P', MATTER_NAME_MAX);
	memset(fd.hw_ver_str, 'H', MATTER_HW_VER_STR_MAX);
	memset(fd.serial, 'S', MATTER_SERIAL_MAX);
	n = wfd(&fd, b);
	assert_true(n > 0 && n <= MATTER_WFD_MAX);
	assert_int_equal(matter_wfd_parse(b, (size_t)n, &back), 0);
	assert_fd_equal(&back, &fd);
	assert_int_equal(matter_wfd_encode(&fd, b, (size_t)n - 1), WRIT_E_TOOBIG);

	/* the passcode never goes into WFD1 */
	make_fd(&fd);
	fd.include_passcode = 1;
	fd.passcode = 20202021;
	n = wfd(&fd, b);
	assert_int_equal(matter_wfd_parse(b, (size_t)n, &back), 0);
	assert_int_equal(back.include_passcode, 0);
	assert_int_equal(back.passcode, 0);
}

static void test_wfd_garbage(void **state)
{
	struct matter_factory_data fd, back;
	uint8_t b[MATTER_WFD_MAX + 16], c[MATTER_WFD_MAX + 16];
	int n, i;

	(void)state;
	make_fd(&fd);
	n = wfd(&fd, b);
	assert_true(n > 0);
	/* every truncation */
	for (i = 0; i < n; i++)
		assert_int_equal(matter_wfd_parse(b, (size_t)i, &back), WRIT_E_FORMAT);
	/* oversized */
	assert_int_equal(matter_wfd_parse(b, MATTER_WFD_MAX + 1, &back), WRIT_E_TOOBIG);
	/* trailing byte */
	memcpy(c, b, (size_t)n);
	c[n] = 0;
	assert_int_equal(matter_wfd_parse(c, (size_t)n + 1, &back), WRIT_E_FORMAT);
	/* every single-bit flip is caught (CRC or structure) */
	for (i = 0; i < n; i++) {
		memcpy(c, b, (size_t)n);
		c[i] ^= 0x01;
		assert_int_not_equal(matter_wfd_parse(c, (size_t)n, &back), 0);
	}
	/* bad magic */
	memcpy(c, b, (size_t)n);
	c[3] = '2';
	assert_int_equal(matter_wfd_parse(c, (size_t)n, &back), WRIT_E_FORMAT);
	/* unknown type 0x11 appended (valid CRC) */
	memcpy(c, b, (size_t)n - 4);
	memcpy(c + n - 4, "\x00\x11\x00\x01\x00", 5);
	reseal(c, (size_t)n + 5);
	assert_int_equal(matter_wfd_parse(c, (size_t)n + 5, &back), WRIT_E_FORMAT);
	/* a repeated last type (cert declaration twice) */
	memcpy(c, b, (size_t)n - 4);
	memcpy(c + n - 4, "\x00\x10\x00\x01\x00\x00\x10\x00\x01\x00", 10);
	reseal(c, (size_t)n + 10);
	assert_int_equal(matter_wfd_parse(c, (size_t)n + 10, &back), WRIT_E_FORMAT);
	/* one CD is fine with a fresh CRC */
	memcpy(c, b, (size_t)n - 4);
	memcpy(c + n - 4, "\x00\x10\x00\x01\x00", 5);
	reseal(c, (size_t)n + 5);
	assert_int_equal(matter_wfd_parse(c, (size_t)n + 5, &back), 0);
	/* out of order: swap VENDOR_ID and PRODUCT_ID types */
	memcpy(c, b, (size_t)n);
	assert_int_equal(c[7], 0x01);
	c[7] = 0x02;
	c[13] = 0x01;
	reseal(c, (size_t)n);
	assert_int_equal(matter_wfd_parse(c, (size_t)n, &back), WRIT_E_FORMAT);
	/* missing required: drop VENDOR_ID (first TLV, 6 bytes) */
	memcpy(c, b, 6);
	memcpy(c + 6, b + 12, (size_t)n - 12);
	reseal(c, (size_t)n - 6);
	assert_int_equal(matter_wfd_parse(c, (size_t)n - 6, &back), WRIT_E_FORMAT);
	/* a TLV length running past the end */
	memcpy(c, b, (size_t)n);
	c[9] = 0xFF;
	reseal(c, (size_t)n);
	assert_int_equal(matter_wfd_parse(c, (size_t)n, &back), WRIT_E_FORMAT);
	/* a u16 with the wrong width */
	memcpy(c, b, (size_t)n);
	c[9] = 3;
	reseal(c, (size_t)n);
	assert_int_equal(matter_wfd_parse(c, (size_t)n, &back), WRIT_E_FORMAT);
	/* values out of range: discriminator 0x1000, a bad date */
	fd.discriminator = 0xFFF;
	n = wfd(&fd, b);
	for (i = 6; i + 4 < n; i++)
		if (b[i] == 0 && b[i + 1] == 0x09 && b[i + 2] == 0 && b[i + 3] == 2)
			break;
	memcpy(c, b, (size_t)n);
	c[i + 4] = 0x10;
	c[i + 5] = 0x00;
	reseal(c, (size_t)n);
	assert_int_equal(matter_wfd_parse(c, (size_t)n, &back), WRIT_E_FORMAT);
	make_fd(&fd);
	memcpy(fd.mfg_date, "2024-02-29", 11);
	n = wfd(&fd, b);
	memcpy(c, b, (size_t)n);
	for (i = 0; i + 10 <= n; i++)
		if (memcmp(c + i, "2024-02-29", 10) == 0)
			break;
	memcpy(c + i, "2023-02-29", 10);
	reseal(c, (size_t)n);
	assert_int_equal(matter_wfd_parse(c, (size_t)n, &back), WRIT_E_FORMAT);
	/* empty and NULL */
	assert_int_equal(matter_wfd_parse(b, 0, &back), WRIT_E_FORMAT);
	assert_int_equal(matter_wfd_parse(NULL, 10, &back), WRIT_E_INVAL);
}

static void test_settings(void **state)
{
	static const char good[] = "# a device\n"
				   "vendor_id = 0xFFF1\n"
				   "product_id = 32768\n"
				   "vendor_name = Writ Test, Inc.\n"
				   "product_name = Lamp\n"
				   "serial_num = SN-0001\n"
				   "mfg_date = 2024-06-01\n"
				   "hw_ver = 1\n"
				   "hw_ver_str = rev A\n"
				   "  discriminator=3840  \n"
				   "\n"
				   "passcode = 20202021\n"
				   "spake2p_iterations = 1000\n"
				   "spake2p_salt = U1BBS0UyUCBLZXkgU2FsdA==\n"
				   "rd_id_uid = 00112233445566778899aabbccddeeff\n";
	static const char *bad[] = {
		"vendor_id = 65536\n",
		"vendor_id = -1\n",
		"vendor_id = 1\nvendor_id = 2\n",
		"colour = red\n",
		"vendor_id\n",
		"discriminator = 4096\n",
		"passcode = 11111111\n",
		"passcode = 123456789\n",
		"spake2p_iterations = 999\n",
		"spake2p_salt = c2hvcnQ=\n",
		"spake2p_salt = not base64!\n",
		"spake2p_verifier = AAAA\n",
		"rd_id_uid = 0011\n",
		"rd_id_uid = zz112233445566778899aabbccddeeff\n",
		"mfg_date = 2024-02-30\n",
		"serial_num = has space\n",
		"vendor_name = 0123456789012345678901234567890123\n",
		"include_passcode = maybe\n",
	};
	struct matter_settings st;
	char reason[200];
	size_t i;
	uint8_t v[MATTER_SPAKE2P_VERIFIER_LEN];

	(void)state;
	assert_int_equal(matter_settings_parse(good, strlen(good), &st, reason, sizeof(reason)), 0);
	assert_int_equal(matter_settings_finish(&st, reason, sizeof(reason)), 0);
	assert_int_equal(st.fd.vid, 0xFFF1);
	assert_int_equal(st.fd.discriminator, 3840);
	assert_string_equal(st.fd.vendor_name, "Writ Test, Inc.");
	assert_int_equal(st.fd.rd_uid_len, 16);
	assert_int_equal(st.fd.passcode, 0); /* dropped once the verifier is made */
	assert_int_equal(matter_spake2p_verifier(20202021, (const uint8_t *)"SPAKE2P Key Salt", 16, 1000, v), 0);
	assert_memory_equal(st.fd.verifier, v, sizeof(v));
	matter_fd_clear(&st.fd);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		reason[0] = '\0';
		assert_int_equal(matter_settings_parse(bad[i], strlen(bad[i]), &st, reason, sizeof(reason)), WRIT_E_INVAL);
		assert_true(reason[0] != '\0');
		assert_non_null(strstr(reason, "line 1") ? reason : strstr(reason, "line 2"));
	}
	/* missing required keys, verifier without salt, too large, NUL byte */
	assert_int_equal(matter_settings_parse("vendor_id = 1\n", 14, &st, reason, sizeof(reason)), 0);
	assert_int_equal(matter_settings_finish(&st, reason, sizeof(reason)), WRIT_E_INVAL);
	{
		static char big[MATTER_SETTINGS_MAX + 2];

		memset(big, '#', sizeof(big));
		assert_int_equal(matter_settings_parse(big, sizeof(big), &st, reason, sizeof(reason)), WRIT_E_TOOBIG);
	}
	assert_int_equal(matter_settings_parse("hw_ver = 1\0x\n", 13, &st, reason, sizeof(reason)), WRIT_E_INVAL);

	/* verifier given with a passcode that does not match */
	{
		static const char mism[] =
			"vendor_id = 1\nproduct_id = 1\nserial_num = A\nmfg_date = 2024-01-01\nhw_ver = 1\n"
			"discriminator = 1\npasscode = 20202022\nspake2p_iterations = 1000\n"
			"spake2p_salt = U1BBS0UyUCBLZXkgU2FsdA==\n"
			"spake2p_verifier = uWFwqugDNGiEck/po7KHwwMwwqZgN10XuyBajPGuyzUEV/iree4lOrao5GuwnlQ65CJzbeUB49s31EH+"
			"NEkg0JVI5MGCQGMMT/SRPFNRODm3wH/MBiehuFc6FJ/NH6Rmzw==\n";

		assert_int_equal(matter_settings_parse(mism, strlen(mism), &st, reason, sizeof(reason)), 0);
		assert_int_equal(matter_settings_finish(&st, reason, sizeof(reason)), WRIT_E_INVAL);
		assert_non_null(strstr(reason, "does not match"));
	}
}

static void test_vendor_refusals(void **state)
{
	struct matter_factory_data fd;
	uint8_t *buf = NULL;
	char *csv = NULL;
	size_t len = 0;

	(void)state;
	make_fd(&fd);
	assert_int_equal(matter_esp_nvs(&fd, MATTER_NVS_DEFAULT_SIZE, &buf, &len), 0);
	assert_int_equal(len, MATTER_NVS_DEFAULT_SIZE);
	free(buf);
	assert_int_equal(matter_esp_nvs(&fd, 0x6001, &buf, &len), WRIT_E_INVAL);
	assert_int_equal(matter_esp_nvs(&fd, 0x1000, &buf, &len), WRIT_E_INVAL);
	/* Every field at its bound still fits the smallest partition (0x3000: two data
	 * pages + the reserved one), so WRIT_E_TOOBIG cannot happen with today's bounds;
	 * the last page must stay erased. */
	fd.dac_len = fd.pai_len = MATTER_CERT_MAX;
	fd.cd_len = MATTER_CD_MAX;
	memset(fd.vendor_name, 'V', MATTER_NAME_MAX);
	memset(fd.product_name, 'P', MATTER_NAME_MAX);
	memset(fd.hw_ver_str, 'H', MATTER_HW_VER_STR_MAX);
	fd.rd_uid_len = MATTER_RD_UID_MAX;
	assert_int_equal(matter_esp_nvs(&fd, 0x3000, &buf, &len), 0);
	{
		size_t i;

		for (i = 0x2000; i < 0x3000; i++)
			assert_int_equal(buf[i], 0xFF);
	}
	free(buf);
	assert_int_equal(matter_esp_csv(&fd, &csv, &len), 0);
	assert_non_null(strstr(csv, "chip-factory,namespace,,\n"));
	assert_non_null(strstr(csv, "discriminator,data,u32,3840\n"));
	assert_null(strstr(csv, "pin-code"));
	assert_null(strstr(csv, "dac-key"));
	free(csv);

	make_fd(&fd);
	assert_int_equal(matter_nrf_cbor(&fd, &buf, &len), 0);
	free(buf);
	fd.hw_ver_str[0] = '\0';
	assert_int_equal(matter_nrf_cbor(&fd, &buf, &len), WRIT_E_INVAL);
	make_fd(&fd);
	fd.vid = 65525;
	assert_int_equal(matter_nrf_cbor(&fd, &buf, &len), WRIT_E_INVAL);
	make_fd(&fd);
	fd.pid = 0;
	assert_int_equal(matter_nrf_cbor(&fd, &buf, &len), WRIT_E_INVAL);
	make_fd(&fd);
	fd.salt_len = 40;
	assert_int_equal(matter_nrf_cbor(&fd, &buf, &len), WRIT_E_INVAL);
	assert_int_equal(matter_esp_csv(&fd, &csv, &len), WRIT_E_INVAL);
	assert_int_equal(matter_esp_nvs(&fd, MATTER_NVS_DEFAULT_SIZE, &buf, &len), WRIT_E_INVAL);
}

static void test_labels(void **state)
{
	uint8_t *png = NULL;
	char *svg = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(matter_label_png("MT:-24J0AFN00KA0648G00", "34970112332", "SN-0001", &png, &len), 0);
	assert_true(len > 100);
	assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
	free(png);
	assert_int_equal(matter_label_svg("MT:-24J0AFN00KA0648G00", "34970112332", "a<b&c", &svg, &len), 0);
	assert_non_null(strstr(svg, "a&lt;b&amp;c"));
	assert_non_null(strstr(svg, "3497-011-2332"));
	free(svg);
	/* refusals: lowercase serial in the PNG font, bad check digit, bad QR */
	assert_int_equal(matter_label_png("MT:-24J0AFN00KA0648G00", "34970112332", "sn-1", &png, &len), WRIT_E_INVAL);
	assert_int_equal(matter_label_png("MT:-24J0AFN00KA0648G00", "34970112331", "SN1", &png, &len), WRIT_E_INVAL);
	assert_int_equal(matter_label_svg("MT:-24J0AFN00KA0648G0", "34970112332", "SN1", &svg, &len), WRIT_E_INVAL);
	assert_int_equal(matter_label_svg("MT:-24J0AFN00KA0648G00", "34970112332", "S N", &svg, &len), WRIT_E_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_field_rules), cmocka_unit_test(test_wfd_roundtrip),
		cmocka_unit_test(test_wfd_garbage), cmocka_unit_test(test_settings),
		cmocka_unit_test(test_vendor_refusals), cmocka_unit_test(test_labels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
