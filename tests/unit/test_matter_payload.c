/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lib/matter onboarding payload and SPAKE2+ verifier against the Matter SDK's public
 * vectors, read line by line from tests/vectors/matter-sdk-payload-vectors.txt and
 * matter-sdk-spake2p-vectors.txt (their origin is noted in each line; found through
 * WRIT_SRC): every QR string, manual code, base38 pair and forbidden passcode, the bit
 * layout oracle, and every verifier. [SRC] verifiers come verbatim from SDK sources and
 * must match; [CALC] ones were computed by an independent re-implementation and are
 * unverified: they are checked too and counted separately. Plus edge cases and garbage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "matter/payload.h"
#include "matter/spake2p.h"

static FILE *open_vec(const char *name)
{
	const char *src = getenv("WRIT_SRC");
	char path[1024];
	FILE *f;

	if (!src)
		src = ".";
	assert_true(snprintf(path, sizeof(path), "%s/tests/vectors/%s", src, name) < (int)sizeof(path));
	f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s (set WRIT_SRC to the source tree)", path);
	return f;
}

static int unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s), i;

	if (n % 2 || n / 2 > cap)
		return -1;
	for (i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return (int)(n / 2);
}

/* ---- onboarding payload vectors ---- */

static void check_payload_line(const char *line, unsigned *n_qr, unsigned *n_manual)
{
	unsigned vid, pid, flow, disc, pass, caps = 0;
	char caps_s[8], qr_s[64], man_s[64], digits[MATTER_MANUAL_BUFSZ];
	struct matter_payload p, back;
	char qr[MATTER_QR_BUFSZ], manual[MATTER_MANUAL_BUFSZ];
	size_t k = 0, i;

	if (strstr(line, "(no QR)")) {
		/* "(no QR), digits+check": the QR field is two tokens */
		assert_int_equal(sscanf(line, "%u %u %u %7s %u %u -> (no QR), %63s", &vid, &pid, &flow, caps_s, &disc,
					&pass, man_s),
				 7);
		qr_s[0] = '\0';
	} else {
		assert_int_equal(sscanf(line, "%u %u %u %7s %u %u -> %63s %63s", &vid, &pid, &flow, caps_s, &disc,
					&pass, qr_s, man_s),
				 8);
	}
	if (strcmp(caps_s, "-") != 0)
		caps = (unsigned)strtoul(caps_s, NULL, 10);
	p = (struct matter_payload){ (uint16_t)vid, (uint16_t)pid, (uint8_t)flow, (uint8_t)caps, (uint16_t)disc, pass };
	if (qr_s[0]) {
		size_t ql = strlen(qr_s);

		if (qr_s[ql - 1] == ',')
			qr_s[ql - 1] = '\0';
		assert_int_equal(matter_qr_encode(&p, qr), 0);
		assert_string_equal(qr, qr_s);
		assert_int_equal(matter_qr_decode(qr_s, &back), 0);
		assert_int_equal(back.vid, p.vid);
		assert_int_equal(back.pid, p.pid);
		assert_int_equal(back.flow, p.flow);
		assert_int_equal(back.caps, p.caps);
		assert_int_equal(back.discriminator, p.discriminator);
		assert_int_equal(back.passcode, p.passcode);
		(*n_qr)++;
	}
	for (i = 0; man_s[i] && k + 1 < sizeof(digits); i++)
		if (man_s[i] != '+')
			digits[k++] = man_s[i];
	digits[k] = '\0';
	assert_int_equal(matter_manual_encode(&p, manual), 0);
	assert_string_equal(manual, digits);
	assert_true(matter_manual_check(manual));
	(*n_manual)++;
}

static void check_base38_pair(char *pair, unsigned *n)
{
	char in[64], out[64], enc[128];
	uint8_t bytes[64], dec[64];
	int len;

	if (sscanf(pair, " \"%63[^\"]\" -> %63s", in, out) == 2) {
		len = (int)strlen(in);
		memcpy(bytes, in, (size_t)len);
	} else {
		assert_int_equal(sscanf(pair, " %63s -> %63s", in, out), 2);
		len = unhex(in, bytes, sizeof(bytes));
		assert_true(len > 0);
	}
	assert_int_equal(matter_base38_encode(bytes, (size_t)len, enc, sizeof(enc)), (int)strlen(out));
	assert_string_equal(enc, out);
	assert_int_equal(matter_base38_decode(out, strlen(out), dec, sizeof(dec)), len);
	assert_memory_equal(dec, bytes, (size_t)len);
	(*n)++;
}

static void test_payload_vectors(void **state)
{
	FILE *f = open_vec("matter-sdk-payload-vectors.txt");
	char line[512];
	unsigned n_qr = 0, n_manual = 0, n_b38 = 0, n_forbidden = 0, n_oracle = 0;

	(void)state;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "# invalid:", 10) == 0) {
			char *tok, *save = NULL;

			for (tok = strtok_r(line + 10, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
				unsigned long v = strtoul(tok, NULL, 10);

				if (tok[0] < '0' || tok[0] > '9')
					break;
				assert_false(matter_passcode_valid((uint32_t)v));
				n_forbidden++;
			}
			continue;
		}
		if (line[0] == '"' && strchr(line, '"') != strrchr(line, '"')) {
			/* section F: the 88-bit oracle, MSB left, for 12 1 0 1 128 2048 */
			struct matter_payload p = { 12, 1, 0, 1, 128, 2048 };
			char qr[MATTER_QR_BUFSZ], bits[128];
			uint8_t b[11];
			size_t k = 0, i;

			for (i = 1; line[i] && line[i] != '"'; i++)
				if (line[i] == '0' || line[i] == '1')
					bits[k++] = line[i];
			if (k != 88) {
				/* the "Hello World!" base38 line */
				check_base38_pair(line, &n_b38);
				continue;
			}
			assert_int_equal(matter_qr_encode(&p, qr), 0);
			assert_int_equal(matter_base38_decode(qr + 3, strlen(qr + 3), b, sizeof(b)), 11);
			for (i = 0; i < 88; i++)
				assert_int_equal((b[i / 8] >> (i % 8)) & 1, bits[87 - i] - '0');
			n_oracle++;
			continue;
		}
		if (line[0] == '#' || !strstr(line, "->"))
			continue;
		if (strchr(line, ';')) {
			/* section E: "hex -> base38 ; hex -> base38 ..." */
			char *tok, *save = NULL;

			for (tok = strtok_r(line, ";", &save); tok; tok = strtok_r(NULL, ";", &save))
				check_base38_pair(tok, &n_b38);
			continue;
		}
		check_payload_line(line, &n_qr, &n_manual);
	}
	fclose(f);
	print_message("payload vectors: %u QR, %u manual, %u base38, %u forbidden, %u oracle\n", n_qr, n_manual,
		      n_b38, n_forbidden, n_oracle);
	assert_true(n_qr >= 12);
	assert_true(n_manual >= 17);
	assert_true(n_b38 >= 14);
	assert_int_equal(n_forbidden, 12);
	assert_int_equal(n_oracle, 1);
}

/* ---- SPAKE2+ vectors ---- */

static void test_spake2p_vectors(void **state)
{
	FILE *f = open_vec("matter-sdk-spake2p-vectors.txt");
	char line[1024], section[16] = "";
	unsigned n_src = 0, n_calc = 0, n_pbkdf2 = 0, n_hex = 0;
	uint8_t last_v[MATTER_SPAKE2P_VERIFIER_LEN];
	int have_last = 0;

	(void)state;
	while (fgets(line, sizeof(line), f)) {
		char a[128], b[128], out[256], tag[16] = "";
		unsigned it, dk;

		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "## ", 3) == 0) {
			(void)sscanf(line + 3, "%15s", section);
			continue;
		}
		if (line[0] == '#')
			continue;
		if (sscanf(line, "%127s | %127s | %u | %u -> %255s", a, b, &it, &dk, out) == 5) {
			/* PBKDF2 primitive vector (checks the OpenSSL primitive we build on) */
			uint8_t want[64], got[64];
			int n = unhex(out, want, sizeof(want));

			assert_int_equal(n, (int)dk);
			assert_int_equal(PKCS5_PBKDF2_HMAC(a, (int)strlen(a), (const uint8_t *)b, (int)strlen(b), (int)it,
							   EVP_sha256(), (int)dk, got),
					 1);
			assert_memory_equal(got, want, dk);
			n_pbkdf2++;
			continue;
		}
		if (sscanf(line, "%127s | %127s | %u -> %255s %15s", a, b, &it, out, tag) >= 4) {
			uint8_t salt[64], want[128], got[MATTER_SPAKE2P_VERIFIER_LEN];
			int sl = matter_b64_decode(b, strlen(b), salt, sizeof(salt));
			int wl = matter_b64_decode(out, strlen(out), want, sizeof(want));

			assert_true(sl >= 16);
			assert_int_equal(wl, MATTER_SPAKE2P_VERIFIER_LEN);
			assert_int_equal(
				matter_spake2p_verifier((uint32_t)strtoul(a, NULL, 10), salt, (size_t)sl, it, got), 0);
			assert_memory_equal(got, want, sizeof(got));
			assert_int_equal(matter_spake2p_verifier_check(got), 0);
			memcpy(last_v, got, sizeof(got));
			have_last = 1;
			if (strstr(line, "[CALC]"))
				n_calc++;
			else
				n_src++;
			continue;
		}
		/* hex detail lines of the vector above: w0 [SRC], L [SRC], whole hex [SRC] */
		if (have_last && (sscanf(line, " w0 [SRC]: %255s", out) == 1 || sscanf(line, " L [SRC]: %255s", out) == 1 ||
				  sscanf(line, " L   [SRC]: %255s", out) == 1 || sscanf(line, " hex [SRC]: %255s", out) == 1)) {
			uint8_t want[128];
			int n = unhex(out, want, sizeof(want));

			if (n == 32)
				assert_memory_equal(last_v, want, 32);
			else if (n == 65)
				assert_memory_equal(last_v + 32, want, 65);
			else {
				assert_int_equal(n, MATTER_SPAKE2P_VERIFIER_LEN);
				assert_memory_equal(last_v, want, (size_t)n);
			}
			n_hex++;
		}
	}
	fclose(f);
	print_message("spake2p vectors: %u [SRC] verified, %u [CALC] (unverified upstream) matched, %u PBKDF2, %u hex\n",
		      n_src, n_calc, n_pbkdf2, n_hex);
	assert_int_equal(n_src, 4);
	assert_int_equal(n_calc, 3);
	assert_int_equal(n_pbkdf2, 5);
	assert_true(n_hex >= 2);
}

/* ---- edge cases and garbage ---- */

static void test_payload_edges(void **state)
{
	struct matter_payload p = { 0xFFFF, 0xFFFF, 2, 0x0F, 0xFFF, MATTER_PASSCODE_MAX }, back;
	char qr[MATTER_QR_BUFSZ], manual[MATTER_MANUAL_BUFSZ], fmt[MATTER_MANUAL_FMT_BUFSZ];

	(void)state;
	assert_int_equal(matter_qr_encode(&p, qr), 0);
	assert_int_equal(strlen(qr), 22);
	assert_int_equal(matter_qr_decode(qr, &back), 0);
	assert_memory_equal(&back, &p, sizeof(p));
	assert_int_equal(matter_manual_encode(&p, manual), 0);
	assert_int_equal(strlen(manual), 21);
	assert_int_equal(matter_manual_format(manual, fmt), 0);
	assert_int_equal(strlen(fmt), 25);

	p = (struct matter_payload){ 0, 0, 0, 4, 3840, 20202021 };
	assert_int_equal(matter_manual_encode(&p, manual), 0);
	assert_int_equal(matter_manual_format(manual, fmt), 0);
	assert_string_equal(fmt, "3497-011-2332");

	/* out of range fields */
	p.discriminator = 0x1000;
	assert_int_equal(matter_qr_encode(&p, qr), WRIT_E_INVAL);
	assert_int_equal(matter_manual_encode(&p, manual), WRIT_E_INVAL);
	p.discriminator = 1;
	p.flow = 3;
	assert_int_equal(matter_qr_encode(&p, qr), WRIT_E_INVAL);
	p.flow = 0;
	p.caps = 0x10;
	assert_int_equal(matter_qr_encode(&p, qr), WRIT_E_INVAL);
	p.caps = 4;
	p.passcode = 0;
	assert_int_equal(matter_qr_encode(&p, qr), WRIT_E_INVAL);
	p.passcode = 99999999;
	assert_int_equal(matter_qr_encode(&p, qr), WRIT_E_INVAL);
	p.passcode = 100000000;
	assert_int_equal(matter_qr_encode(&p, qr), WRIT_E_INVAL);
	assert_true(matter_passcode_valid(1));
	assert_true(matter_passcode_valid(MATTER_PASSCODE_MAX));
	assert_false(matter_passcode_valid(87654321));

	/* QR garbage */
	assert_int_equal(matter_qr_decode("MT:00000CQM00KA0648G0", &back), WRIT_E_FORMAT);  /* short */
	assert_int_equal(matter_qr_decode("MT:00000CQM00KA0648G000", &back), WRIT_E_FORMAT); /* long */
	assert_int_equal(matter_qr_decode("XT:00000CQM00KA0648G00", &back), WRIT_E_FORMAT);
	assert_int_equal(matter_qr_decode("MT:00000cQM00KA0648G00", &back), WRIT_E_FORMAT); /* lowercase */
	assert_int_equal(matter_qr_decode("MT:00000CQM00KA0648G0!", &back), WRIT_E_FORMAT);
	assert_int_equal(matter_qr_decode("MT:.....CQM00KA0648G00", &back), WRIT_E_FORMAT); /* chunk overflow */
	assert_int_equal(matter_qr_decode("MT:00000000000000000000", &back), WRIT_E_FORMAT);
	assert_int_equal(matter_qr_decode("MT:0000000000000000000", &back), WRIT_E_INVAL); /* passcode 0 */
	assert_int_equal(matter_qr_decode("MT:10000CQM00KA0648G00", &back), WRIT_E_INVAL); /* version 1 */

	/* manual code garbage */
	assert_false(matter_manual_check("34970112331"));
	assert_false(matter_manual_check("3497011233"));
	assert_false(matter_manual_check("3497011233a"));
	assert_false(matter_manual_check("44970112332"));
	assert_int_equal(matter_manual_format("1234", fmt), WRIT_E_INVAL);
	assert_int_equal(matter_manual_format("3497011233x", fmt), WRIT_E_INVAL);
}

static void test_base38_garbage(void **state)
{
	uint8_t out[16];
	char s[8];

	(void)state;
	assert_int_equal(matter_base38_decode("a0", 2, out, sizeof(out)), WRIT_E_FORMAT);
	assert_int_equal(matter_base38_decode("A!", 2, out, sizeof(out)), WRIT_E_FORMAT);
	assert_int_equal(matter_base38_decode("A", 1, out, sizeof(out)), WRIT_E_FORMAT);
	assert_int_equal(matter_base38_decode("A00", 3, out, sizeof(out)), WRIT_E_FORMAT);
	assert_int_equal(matter_base38_decode("..", 2, out, sizeof(out)), WRIT_E_FORMAT);     /* > 0xFF */
	assert_int_equal(matter_base38_decode("....", 4, out, sizeof(out)), WRIT_E_FORMAT);   /* > 0xFFFF */
	assert_int_equal(matter_base38_decode(".....", 5, out, sizeof(out)), WRIT_E_FORMAT);  /* > 0xFFFFFF */
	assert_int_equal(matter_base38_decode("PLS18", 5, out, 2), WRIT_E_TOOBIG);
	assert_int_equal(matter_base38_decode("", 0, out, sizeof(out)), 0);
	assert_int_equal(matter_base38_decode("A0\0", 3, out, sizeof(out)), WRIT_E_FORMAT);
	/* maximal chunks decode */
	assert_int_equal(matter_base38_decode("PLS18", 5, out, sizeof(out)), 3);
	assert_int_equal(matter_base38_encode((const uint8_t *)"\xff\xff\xff", 3, s, 5), WRIT_E_TOOBIG);
	assert_int_equal(matter_base38_encode((const uint8_t *)"\xff\xff\xff", 3, s, 6), 5);
}

static void test_b64(void **state)
{
	uint8_t out[8];
	char s[16];

	(void)state;
	assert_int_equal(matter_b64_decode("QQ==", 4, out, sizeof(out)), 1);
	assert_int_equal(matter_b64_decode("QR==", 4, out, sizeof(out)), WRIT_E_FORMAT); /* non-canonical */
	assert_int_equal(matter_b64_decode("QQ=", 3, out, sizeof(out)), WRIT_E_FORMAT);
	assert_int_equal(matter_b64_decode("Q===", 4, out, sizeof(out)), WRIT_E_FORMAT);
	assert_int_equal(matter_b64_decode("QQ=A", 4, out, sizeof(out)), WRIT_E_FORMAT);
	assert_int_equal(matter_b64_decode("QQ==QQ==", 8, out, sizeof(out)), WRIT_E_FORMAT);
	assert_int_equal(matter_b64_decode("Q Q=", 4, out, sizeof(out)), WRIT_E_FORMAT);
	assert_int_equal(matter_b64_decode("QUJD", 4, out, 2), WRIT_E_TOOBIG);
	assert_int_equal(matter_b64_encode((const uint8_t *)"AB", 2, s, sizeof(s)), 4);
	assert_string_equal(s, "QUI=");
	assert_int_equal(matter_b64_encode((const uint8_t *)"AB", 2, s, 4), WRIT_E_TOOBIG);
}

static void test_spake2p_limits(void **state)
{
	uint8_t salt[33] = { 0 }, v[MATTER_SPAKE2P_VERIFIER_LEN];

	(void)state;
	assert_int_equal(matter_spake2p_verifier(20202021, salt, 15, 1000, v), WRIT_E_INVAL);
	assert_int_equal(matter_spake2p_verifier(20202021, salt, 33, 1000, v), WRIT_E_INVAL);
	assert_int_equal(matter_spake2p_verifier(20202021, salt, 16, 999, v), WRIT_E_INVAL);
	assert_int_equal(matter_spake2p_verifier(20202021, salt, 16, 100001, v), WRIT_E_INVAL);
	assert_int_equal(matter_spake2p_verifier(11111111, salt, 16, 1000, v), WRIT_E_INVAL);
	assert_int_equal(matter_spake2p_verifier(0, salt, 16, 1000, v), WRIT_E_INVAL);
	assert_int_equal(matter_spake2p_verifier(1, salt, 32, 1000, v), 0);
	assert_int_equal(matter_spake2p_verifier_check(v), 0);
	v[40] ^= 1; /* L off the curve */
	assert_int_equal(matter_spake2p_verifier_check(v), WRIT_E_FORMAT);
	memset(v, 0xFF, 32); /* w0 >= n */
	v[40] ^= 1;
	assert_int_equal(matter_spake2p_verifier_check(v), WRIT_E_FORMAT);
}

static void test_generators(void **state)
{
	unsigned i;
	uint16_t d;
	uint32_t pc;

	(void)state;
	for (i = 0; i < 2000; i++) {
		assert_int_equal(matter_passcode_generate(&pc), 0);
		assert_true(matter_passcode_valid(pc));
	}
	for (i = 0; i < 500; i++) {
		assert_int_equal(matter_discriminator_generate(0, 0xFFF, &d), 0);
		assert_true(d <= 0xFFF);
		assert_int_equal(matter_discriminator_generate(100, 110, &d), 0);
		assert_true(d >= 100 && d <= 110);
	}
	assert_int_equal(matter_discriminator_generate(5, 5, &d), 0);
	assert_int_equal(d, 5);
	assert_int_equal(matter_discriminator_generate(6, 5, &d), WRIT_E_INVAL);
	assert_int_equal(matter_discriminator_generate(0, 0x1000, &d), WRIT_E_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_payload_vectors), cmocka_unit_test(test_spake2p_vectors),
		cmocka_unit_test(test_payload_edges),	cmocka_unit_test(test_base38_garbage),
		cmocka_unit_test(test_b64),		cmocka_unit_test(test_spake2p_limits),
		cmocka_unit_test(test_generators),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
