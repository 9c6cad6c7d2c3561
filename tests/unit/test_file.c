/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of lib/host/file.c's atomic write: the content and the requested mode land
 * (not the umask's), an existing file is replaced whole, no temp file is left
 * behind, and a symlink planted where a predictable temp name would have been is never
 * followed (the temp name is random and created exclusively).
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_mode_content, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
