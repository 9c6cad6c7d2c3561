/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of lib/host/file.c's atomic write: the content and the requested mode land
 * (not the umask's), an existing file is replaced whole, no temp file is left
 * behind, a symlink planted where a predictable temp name would have been is never
 * followed (the temp name is random and created exclusively); and command-line
 * byte-string arguments (arg_bytes).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "host/file.h"

static char dir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/writ-test-file.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];
	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static size_t entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void test_write_mode_content(void **state)
{
	char path[300], victim[300], planted[320];
	uint8_t *buf = NULL;
	size_t len = 0;
	struct stat st;

	(void)state;
	umask(022);
	snprintf(path, sizeof path, "%s/token", dir);
	assert_int_equal(file_write_atomic(path, "first version", 13, 0600), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(file_write_atomic(path, "second", 6, 0644), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(file_read(path, 100, &buf, &len), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(buf, "second", 6);
	free(buf);
	assert_int_equal(entries(), 1); /* no temp file left */

	/* the old predictable temp name, planted as a symlink to a victim: untouched */
	snprintf(victim, sizeof victim, "%s/victim", dir);
	assert_int_equal(file_write_atomic(victim, "precious", 8, 0600), 0);
	snprintf(planted, sizeof planted, "%s.tmp.%ld", path, (long)getpid());
	assert_int_equal(symlink(victim, planted), 0);
	assert_int_equal(file_write_atomic(path, "third", 5, 0600), 0);
	assert_int_equal(file_read(victim, 100, &buf, &len), 0);
	assert_int_equal(len, 8);
	assert_memory_equal(buf, "precious", 8);
	free(buf);
}

static void put(const char *name, const void *data, size_t len, char *path, size_t cap)
{
	snprintf(path, cap, "%s/%s", dir, name);
	assert_int_equal(file_write_atomic(path, data, len, 0600), 0);
}

/* arg_bytes: hex on the command line, a raw file (even one ending in 0x0a), a hex file
 * with a line break; every wrong length, odd hex, and a missing file refused. */
static void test_arg_bytes(void **state)
{
	uint8_t out[65], raw[65];
	size_t n = 0;
	char path[300];

	(void)state;
	assert_int_equal(arg_bytes("00ff10", 3, 3, out, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(out[1], 0xff);
	assert_int_equal(arg_bytes("00ff1", 3, 3, out, &n), WRIT_E_FORMAT);  /* odd: not hex, no such file */
	assert_int_equal(arg_bytes("00ff10", 4, 8, out, &n), WRIT_E_FORMAT); /* too short */
	assert_int_equal(arg_bytes("00ff10", 1, 2, out, &n), WRIT_E_FORMAT); /* too long */
	for (size_t i = 0; i < sizeof raw; i++)
		raw[i] = (uint8_t)(0x04 + i * 3);
	raw[64] = 0x0a; /* a key that ends in a "newline" byte */
	put("raw.bin", raw, sizeof raw, path, sizeof path);
	assert_int_equal(arg_bytes(path, 65, 65, out, &n), 0);
	assert_int_equal(n, 65);
	assert_memory_equal(out, raw, 65);
	put("hex.txt", "0a0B0c\n", 7, path, sizeof path);
	assert_int_equal(arg_bytes(path, 3, 3, out, &n), 0);
	assert_int_equal(out[1], 0x0b);
	put("short.bin", raw, 64, path, sizeof path);
	assert_int_equal(arg_bytes(path, 65, 65, out, &n), WRIT_E_FORMAT);
	snprintf(path, sizeof path, "%s/missing", dir);
	assert_int_equal(arg_bytes(path, 1, 4, out, &n), WRIT_E_FORMAT);
	assert_int_equal(arg_bytes("00", 1, 300, out, &n), WRIT_E_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_mode_content, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arg_bytes, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
