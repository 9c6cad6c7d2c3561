/* SPDX-License-Identifier: Apache-2.0 */
/* Bounded file reads, atomic durable file writes and hex, for daemons and the CLI. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/file.h"

int file_read(const char *path, size_t max, uint8_t **ret, size_t *ret_len)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;
	int fd, err = WRIT_E_IO;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? WRIT_E_NOTFOUND : WRIT_E_IO;
	if (fstat(fd, &st) < 0)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		err = WRIT_E_INVAL;
		goto fail;
	}
	if ((uint64_t)st.st_size > max) {
		err = WRIT_E_TOOBIG;
		goto fail;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		err = WRIT_E_NOMEM;
		goto fail;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		got += (size_t)n;
	}
	buf[got] = 0;
	close(fd);
	*ret = buf;
	*ret_len = got;
	return 0;
fail:
	free(buf);
	close(fd);
	return err;
}

int file_fsync_dir(const char *path)
{
	char copy[4096];
	int fd, rc;

	if (snprintf(copy, sizeof(copy), "%s", path) >= (int)sizeof(copy))
		return WRIT_E_TOOBIG;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return WRIT_E_IO;
	rc = fsync(fd);
	close(fd);
	return rc < 0 ? WRIT_E_IO : 0;
}

int file_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	char tmp[4096];
	const uint8_t *p = data;
	size_t off = 0;
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp))
		return WRIT_E_TOOBIG;
	/* A fresh name created exclusively (O_EXCL, mode 0600): a file or symlink someone
	 * planted at a predictable temp name can neither be followed nor keep its mode. */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return WRIT_E_IO;
	if (fchmod(fd, (mode_t)mode) < 0)
		goto fail;
	while (off < len) {
		ssize_t n = write(fd, p + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (fsync(fd) < 0)
		goto fail;
	close(fd);
	if (rename(tmp, path) < 0) {
		unlink(tmp);
		return WRIT_E_IO;
	}
	return file_fsync_dir(path);
fail:
	close(fd);
	unlink(tmp);
	return WRIT_E_IO;
}

static int all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return n > 0 && n % 2 == 0;
}

int arg_bytes(const char *arg, size_t min, size_t max, uint8_t *out, size_t *ret_len)
{
	char hex[2 * 256 + 1];
	uint8_t *buf = NULL;
	size_t n = strlen(arg), len = 0;
	int rc = WRIT_E_FORMAT;

	if (max > 256 || min > max)
		return WRIT_E_INVAL;
	if (all_hex(arg, n)) {
		if (n / 2 < min || n / 2 > max || hex_decode(arg, out, n / 2) < 0)
			return WRIT_E_FORMAT;
		*ret_len = n / 2;
		return 0;
	}
	if (file_read(arg, 4 * max + 16, &buf, &len) < 0)
		return WRIT_E_FORMAT;
	if (len >= min && len <= max && !all_hex((const char *)buf, len)) {
		memcpy(out, buf, len);
		*ret_len = len;
		rc = 0;
	} else {
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			len--;
		if (all_hex((const char *)buf, len) && len / 2 >= min && len / 2 <= max) {
			memcpy(hex, buf, len);
			hex[len] = '\0';
			if (hex_decode(hex, out, len / 2) == 0) {
				*ret_len = len / 2;
				rc = 0;
			}
		}
	}
	free(buf);
	return rc;
}

void hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = 0;
}

int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_decode(const char *hex, uint8_t *out, size_t n)
{
	size_t i;

	if (strlen(hex) != 2 * n)
		return WRIT_E_FORMAT;
	for (i = 0; i < n; i++) {
		int hi = hex_nibble(hex[2 * i]), lo = hex_nibble(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return WRIT_E_FORMAT;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
