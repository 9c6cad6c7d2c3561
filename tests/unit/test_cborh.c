/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shared CBOR head encoder (lib/base/cborh.c) against RFC 8949 Appendix A's
 * unsigned-integer examples and the boundaries of each head length.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/cborh.h"

static void expect(unsigned major, uint64_t arg, const uint8_t *want, size_t n)
{
	uint8_t h[CBOR_HEAD_MAX];

	assert_int_equal(cbor_head_encode(h, major, arg), n);
	assert_memory_equal(h, want, n);
}

static void test_rfc8949_examples(void **state)
{
	(void)state;
	/* RFC 8949, Appendix A */
	expect(0, 0, (const uint8_t *)"\x00", 1);
	expect(0, 23, (const uint8_t *)"\x17", 1);
	expect(0, 24, (const uint8_t *)"\x18\x18", 2);
	expect(0, 100, (const uint8_t *)"\x18\x64", 2);
	expect(0, 1000, (const uint8_t *)"\x19\x03\xe8", 3);
	expect(0, 1000000, (const uint8_t *)"\x1a\x00\x0f\x42\x40", 5);
	expect(0, 1000000000000ull, (const uint8_t *)"\x1b\x00\x00\x00\xe8\xd4\xa5\x10\x00", 9);
	expect(0, UINT64_MAX, (const uint8_t *)"\x1b\xff\xff\xff\xff\xff\xff\xff\xff", 9);
	expect(1, 9, (const uint8_t *)"\x29", 1); /* -10 */
	expect(2, 4, (const uint8_t *)"\x44", 1); /* h'01020304' */
	/* boundaries of each length, other major types */
	expect(3, 255, (const uint8_t *)"\x78\xff", 2);
	expect(4, 256, (const uint8_t *)"\x99\x01\x00", 3);
	expect(5, 65535, (const uint8_t *)"\xb9\xff\xff", 3);
	expect(5, 65536, (const uint8_t *)"\xba\x00\x01\x00\x00", 5);
	expect(6, 0xffffffffu, (const uint8_t *)"\xda\xff\xff\xff\xff", 5);
	expect(7, 0x100000000ull, (const uint8_t *)"\xfb\x00\x00\x00\x01\x00\x00\x00\x00", 9);
}

/* decode(bytes) with flags: 0 and what was read, or -1 with the offset untouched */
static int dec(const char *b, size_t n, unsigned flags, unsigned *major, uint64_t *arg, size_t *off)
{
	*off = 0;
	return cbor_head_decode((const uint8_t *)b, n, off, flags, major, arg);
}

static void test_decode(void **state)
{
	unsigned major, m2;
	uint64_t arg, a2;
	size_t off;
	uint8_t h[CBOR_HEAD_MAX];
	uint64_t samples[] = { 0, 23, 24, 255, 256, 65535, 65536, 0xffffffffu, 0x100000000ull, UINT64_MAX };
	size_t i, n;

	(void)state;
	/* every head the encoder writes reads back (strings: none follow, so only lengths 0) */
	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		n = cbor_head_encode(h, 0, samples[i]);
		off = 0;
		assert_int_equal(cbor_head_decode(h, n, &off, 0, &m2, &a2), 0);
		assert_int_equal(off, n);
		assert_int_equal(m2, 0);
		assert_true(a2 == samples[i]);
	}
	assert_int_equal(dec("\x43\x01\x02\x03", 4, 0, &major, &arg, &off), 0);
	assert_int_equal(major, 2);
	assert_int_equal(arg, 3);
	assert_int_equal(off, 1);
	/* refusals leave the offset alone */
	assert_int_equal(dec("", 0, 0, &major, &arg, &off), -1);
	assert_int_equal(off, 0);
	assert_int_equal(dec("\x18\x17", 2, 0, &major, &arg, &off), -1);           /* 23 in a 2-byte head */
	assert_int_equal(dec("\x19\x00\xff", 3, 0, &major, &arg, &off), -1);       /* 255 in 3 bytes */
	assert_int_equal(dec("\x1a\x00\x00\xff\xff", 5, 0, &major, &arg, &off), -1);
	assert_int_equal(dec("\x1b\x00\x00\x00\x00\xff\xff\xff\xff", 9, 0, &major, &arg, &off), -1);
	assert_int_equal(dec("\x1c", 1, 0, &major, &arg, &off), -1);               /* reserved */
	assert_int_equal(dec("\x5f", 1, 0, &major, &arg, &off), -1);               /* indefinite */
	assert_int_equal(dec("\x19\x01", 2, 0, &major, &arg, &off), -1);           /* argument cut */
	assert_int_equal(dec("\x44\x01\x02\x03", 4, 0, &major, &arg, &off), -1);   /* string past the end */
	assert_int_equal(dec("\x7a\xff\xff\xff\xff", 5, 0, &major, &arg, &off), -1);
	assert_int_equal(off, 0);
	/* a legacy writer's long head is accepted only when asked */
	assert_int_equal(dec("\x1b\x00\x00\x00\x00\x00\x00\x00\x05", 9, CBOR_HEAD_ANY_LENGTH, &major, &arg, &off), 0);
	assert_int_equal(arg, 5);
	assert_int_equal(off, 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_rfc8949_examples), cmocka_unit_test(test_decode) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
