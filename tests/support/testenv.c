/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test support: throw-away SoftHSM2 environments in temporary directories, guarded
 * recursive removal, and whole-file helpers. See testenv.h for the contracts.
 */
#include "testenv.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef WRIT_DEFAULT_P11_MODULE
#define WRIT_DEFAULT_P11_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#endif

#define TESTENV_PREFIX "writ-test-"
#define TESTENV_READ_MAX (64u << 20)

int testenv_mkdtemp(char *ret_dir, size_t cap)
{
	const char *tmp = getenv("TMPDIR");
	char buf[4096];
	size_t n;
	int k;

	if (!ret_dir)
		return -EINVAL;
	if (!tmp || !*tmp)
		tmp = "/tmp";
	k = snprintf(buf, sizeof(buf), "%s/" TESTENV_PREFIX "XXXXXX", tmp);
	if (k < 0 || (size_t)k >= sizeof(buf))
		return -ENAMETOOLONG;
	if (!mkdtemp(buf))
		return -errno;
	n = strlen(buf);
	if (n >= cap) {
		rmdir(buf);
		return -ENAMETOOLONG;
	}
	memcpy(ret_dir, buf, n + 1);
	return 0;
}

int testenv_write_file(const char *path, const void *data, size_t n)
{
	const uint8_t *p = data;
	ssize_t k;
	int fd, r = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (n > 0) {
		k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			break;
		}
		p += k;
		n -= (size_t)k;
	}
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

int testenv_softhsm(char *ret_dir, size_t cap)
{
	char dir[4096], tokens[4096 + 16], conf_path[4096 + 16], conf[8192 + 128];
	int k, r;

	r = testenv_mkdtemp(dir, sizeof(dir));
	if (r < 0)
		return r;
	k = snprintf(tokens, sizeof(tokens), "%s/tokens", dir);
	if (k < 0 || (size_t)k >= sizeof(tokens)) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	k = snprintf(conf_path, sizeof(conf_path), "%s/softhsm2.conf", dir);
	if (k < 0 || (size_t)k >= sizeof(conf_path)) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	k = snprintf(conf, sizeof(conf),
		     "# written by writ tests/support/testenv.c\n"
		     "directories.tokendir = %s\n"
		     "objectstore.backend = file\n"
		     "log.level = ERROR\n",
		     tokens);
	if (k < 0 || (size_t)k >= sizeof(conf)) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	if (strlen(dir) >= cap) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	if (mkdir(tokens, 0700) < 0) {
		r = -errno;
		goto fail;
	}
	r = testenv_write_file(conf_path, conf, (size_t)k);
	if (r < 0)
		goto fail;
	if (setenv("SOFTHSM2_CONF", conf_path, 1) < 0) {
		r = -errno;
		goto fail;
	}
	memcpy(ret_dir, dir, strlen(dir) + 1);
	return 0;

fail:
	(void)testenv_rmtree(dir);
	return r;
}

const char *testenv_p11_module(void)
{
	const char *m = getenv("WRIT_P11_MODULE");

	return m && *m ? m : WRIT_DEFAULT_P11_MODULE;
}

static int testenv_rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		return rmdir(path) < 0 ? -1 : 0;
	return unlink(path) < 0 ? -1 : 0;
}

int testenv_rmtree(const char *dir)
{
	const char *base;
	size_t n;

	if (!dir || !*dir)
		return -EINVAL;
	n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	base = dir + n;
	while (base > dir && base[-1] != '/')
		base--;
	if ((size_t)(dir + n - base) <= strlen(TESTENV_PREFIX) ||
	    strncmp(base, TESTENV_PREFIX, strlen(TESTENV_PREFIX)) != 0)
		return -EPERM;
	if (nftw(dir, testenv_rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		return errno ? -errno : -EIO;
	return 0;
}

int testenv_read_file(const char *path, uint8_t **ret_buf, size_t *ret_len)
{
	uint8_t *buf = NULL, *nbuf;
	size_t len = 0, cap = 0;
	ssize_t k;
	int fd, r;

	if (!path || !ret_buf || !ret_len)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (cap - len < 4096 + 1) {
			if (cap >= TESTENV_READ_MAX) {
				r = -EFBIG;
				goto fail;
			}
			cap = cap ? cap * 2 : 8192;
			nbuf = realloc(buf, cap);
			if (!nbuf) {
				r = -ENOMEM;
				goto fail;
			}
			buf = nbuf;
		}
		k = read(fd, buf + len, cap - len - 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			goto fail;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	close(fd);
	buf[len] = '\0';
	*ret_buf = buf;
	*ret_len = len;
	return 0;

fail:
	close(fd);
	free(buf);
	return r;
}
