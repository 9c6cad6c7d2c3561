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

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_rfc8949_examples) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
