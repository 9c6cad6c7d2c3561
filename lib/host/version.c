/* SPDX-License-Identifier: Apache-2.0 */
/* The version a program reports: VERSION next to its executable, else the built one. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "host/version.h"

#ifndef WRIT_VERSION_STR
#define WRIT_VERSION_STR "0.0.0"
#endif

static char version[33] = WRIT_VERSION_STR;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int version_chars_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n >= sizeof(version))
		return 0;
	for (i = 0; i < n; i++)
		if (!strchr("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.+-", s[i]) || !s[i])
			return 0;
	return 1;
}

static void read_version_file(void)
{
	char exe[4096], path[4096 + 16], buf[64], *slash;
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	size_t n;
	FILE *f;

	if (len <= 0)
		return;
	exe[len] = 0;
	if (!(slash = strrchr(exe, '/')))
		return;
	*slash = 0;
	if (snprintf(path, sizeof(path), "%s/VERSION", exe) >= (int)sizeof(path) || !(f = fopen(path, "re")))
		return;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	n = strcspn(buf, "\r\n"); /* one line; the rest of the file must be empty */
	if (buf[n] && buf[n + strspn(buf + n, "\r\n")])
		return;
	if (version_chars_ok(buf, n)) {
		memcpy(version, buf, n);
		version[n] = 0;
	}
}

const char *host_version(void)
{
	(void)pthread_once(&once, read_version_file);
	return version;
}

void host_version_print(const char *name)
{
	printf("%s %s\n", name, host_version());
}
