/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test support shared by unit and integration tests: a throw-away SoftHSM2 environment
 * (a fresh temporary directory with its own softhsm2.conf and token directory, selected
 * through SOFTHSM2_CONF), recursive removal of such directories, and whole-file reads.
 * Link the static library "writ_testenv" (defined in tests/unit/p11.cmake). Not for
 * production code: these helpers change the process environment and abort nothing.
 *
 * Typical use:
 *	char dir[256];
 *	assert_int_equal(testenv_softhsm(dir, sizeof(dir)), 0);
 *	assert_int_equal(p11_token_init(testenv_p11_module(), "tok", "so-pin", "1234"), 0);
 *	...
 *	testenv_rmtree(dir);
 *
 * SoftHSM reads SOFTHSM2_CONF when the module is initialised, i.e. when the first
 * p11_ctx (or p11_token_init) of the process loads it; lib/p11 finalises the module when
 * the last one is closed. So: call testenv_softhsm() while no p11_ctx is open, and close
 * every p11_ctx before switching to a new environment.
 */
#ifndef WRIT_TESTS_TESTENV_H
#define WRIT_TESTS_TESTENV_H

#include <stddef.h>
#include <stdint.h>

/* Create a fresh directory "writ-test-XXXXXX" under $TMPDIR (or /tmp) and write its
 * absolute path, NUL-terminated, to ret_dir (cap bytes). Written only on success.
 * Returns 0 or a negative errno-style value (-ENAMETOOLONG if cap is too small). */
int testenv_mkdtemp(char *ret_dir, size_t cap);

/* testenv_mkdtemp() plus DIR/tokens, DIR/softhsm2.conf (directories.tokendir =
 * DIR/tokens, objectstore.backend = file, log.level = ERROR) and
 * setenv("SOFTHSM2_CONF", DIR/softhsm2.conf). The caller removes DIR with
 * testenv_rmtree(). Returns 0 or a negative errno-style value; on failure nothing is
 * left behind and the environment is unchanged. */
int testenv_softhsm(char *ret_dir, size_t cap);

/* The PKCS#11 module tests should load: $WRIT_P11_MODULE (set by CTest) if set, else
 * the build's WRIT_DEFAULT_P11_MODULE. Never NULL; the string is not to be freed. */
const char *testenv_p11_module(void);

/* Remove dir and everything below it, without following symlinks. As a guard against
 * a wrong argument it only removes directories whose last path component starts with
 * "writ-test-" (i.e. made by testenv_mkdtemp); anything else gives -EPERM.
 * Returns 0 or a negative errno-style value. */
int testenv_rmtree(const char *dir);

/* Read the whole file at path into a malloc'd buffer with a NUL appended (not counted
 * in *ret_len), so text files can be used as C strings. The caller frees *ret_buf.
 * Out-parameters are written only on success. Returns 0 or a negative errno-style value
 * (-EFBIG above 64 MiB). */
int testenv_read_file(const char *path, uint8_t **ret_buf, size_t *ret_len);

/* Write n bytes to path (created or truncated, mode 0600). Returns 0 or negative errno. */
int testenv_write_file(const char *path, const void *data, size_t n);

#endif
