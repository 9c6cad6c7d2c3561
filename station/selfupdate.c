/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-station's supervisor for taking a new version of itself between devices. See
 * selfupdate.h.
 */
#include "station/selfupdate.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host/file.h"

#define CARRY_ENV "WRIT_STATION_CARRY_FD"

/* A VERSION file's first line: 1..SELFUPDATE_VERSION_MAX of [0-9A-Za-z.+-]. */
static int read_version(const char *path, char out[SELFUPDATE_VERSION_MAX + 1])
{
	uint8_t *v = NULL;
	size_t n = 0, i;
	int ok;

	if (file_read(path, 256, &v, &n) < 0)
		return 0;
	while (n && (v[n - 1] == '\n' || v[n - 1] == '\r' || v[n - 1] == ' '))
		n--;
	ok = n > 0 && n <= SELFUPDATE_VERSION_MAX;
	for (i = 0; ok && i < n; i++)
		ok = (v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
		     v[i] == '.' || v[i] == '-' || v[i] == '+';
	if (ok) {
		memcpy(out, v, n);
		out[n] = '\0';
	}
	free(v);
	return ok;
}

void selfupdate_detect(struct selfupdate *su)
{
	char exe[PATH_MAX], path[PATH_MAX + 32], *name, *vdir_end, *versions_end;
	struct stat st;
	ssize_t len;

	memset(su, 0, sizeof *su);
	su->carry_fd = -1;
	if ((len = readlink("/proc/self/exe", exe, sizeof exe - 1)) <= 0)
		return;
	exe[len] = '\0';
	/* PREFIX/versions/V/PROGRAM */
	if (!(name = strrchr(exe, '/')) || strlen(name + 1) >= sizeof su->program)
		return;
	*name++ = '\0';
	if (snprintf(path, sizeof path, "%s/VERSION", exe) >= (int)sizeof path || !read_version(path, su->version))
		return;
	if (!(vdir_end = strrchr(exe, '/')))
		return;
	*vdir_end = '\0';
	if (!(versions_end = strrchr(exe, '/')) || strcmp(versions_end + 1, "versions") != 0)
		return;
	*versions_end = '\0';
	if (!exe[0] || snprintf(path, sizeof path, "%s/current", exe) >= (int)sizeof path || lstat(path, &st) < 0 ||
	    !S_ISLNK(st.st_mode))
		return;
	memcpy(su->prefix, exe, strlen(exe) + 1);
	memcpy(su->program, name, strlen(name) + 1);
	su->active = 1;
}

int selfupdate_changed(const struct selfupdate *su, char out[SELFUPDATE_VERSION_MAX + 1])
{
	char path[PATH_MAX + 128];

	if (!su->active)
		return 0;
	if (snprintf(path, sizeof path, "%s/current/VERSION", su->prefix) >= (int)sizeof path ||
	    !read_version(path, out) || !strcmp(out, su->version))
		return 0;
	if (snprintf(path, sizeof path, "%s/current/%s", su->prefix, su->program) >= (int)sizeof path ||
	    access(path, X_OK) < 0)
		return 0;
	return 1;
}

static volatile pid_t line_pid;

static void forward(int sig)
{
	if (line_pid > 0)
		kill(line_pid, sig);
}

/* The supervisor: read the hand-over, wait, exit or exec. Never returns. */
static void supervise(struct selfupdate *su, char **argv, int rfd)
{
	struct sigaction sa;
	char *buf = NULL, path[PATH_MAX + 128], fdtext[16], newv[SELFUPDATE_VERSION_MAX + 1] = "?", scratch[4096];
	size_t len = 0, cap = 0;
	int status, mfd, over = 0;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = forward;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* the line writes the hand-over only as it exits; EOF comes with its exit */
	for (;;) {
		char *dst = scratch;
		size_t room = sizeof scratch;
		ssize_t n;

		if (!over && len == cap) {
			char *nb = cap < SELFUPDATE_CARRY_MAX ? realloc(buf, cap ? 2 * cap : 4096) : NULL;
			if (nb) {
				buf = nb;
				cap = cap ? 2 * cap : 4096;
			} else {
				over = 1; /* read on to EOF, then refuse to go on blind */
			}
		}
		if (!over) {
			dst = buf + len;
			room = cap - len;
		}
		n = read(rfd, dst, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (!over)
			len += (size_t)n;
	}
	close(rfd);
	while (waitpid(line_pid, &status, 0) < 0)
		if (errno != EINTR)
			_exit(1);
	if (WIFSIGNALED(status))
		_exit(128 + WTERMSIG(status));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != SELFUPDATE_EXIT)
		_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
	(void)selfupdate_changed(su, newv);
	if (over) {
		fprintf(stderr, "writ-station: the hand-over to version %s is too large; the devices made so far are "
				"recorded: start writ-station again\n", newv);
		_exit(1);
	}
	if (snprintf(path, sizeof path, "%s/current/%s", su->prefix, su->program) >= (int)sizeof path)
		_exit(1);
	mfd = memfd_create("writ-station-carry", 0); /* no CLOEXEC: the new version reads it */
	if (mfd < 0 || (len && write(mfd, buf, len) != (ssize_t)len) || lseek(mfd, 0, SEEK_SET) < 0 ||
	    snprintf(fdtext, sizeof fdtext, "%d", mfd) >= (int)sizeof fdtext || setenv(CARRY_ENV, fdtext, 1) < 0) {
		fprintf(stderr, "writ-station: cannot hand over to version %s (%s); the devices made so far are "
				"recorded: start writ-station again\n", newv, strerror(errno));
		_exit(1);
	}
	free(buf);
	fprintf(stderr, "writ-station: starting version %s (%s) in place of %s\n", newv, path, su->version);
	execv(path, argv);
	fprintf(stderr, "writ-station: cannot start version %s from %s (%s); the devices made so far are recorded: "
			"point %s/current back at versions/%s or fix the new version, then start writ-station again\n",
		newv, path, strerror(errno), su->prefix, su->version);
	_exit(1);
}

int selfupdate_supervise(struct selfupdate *su, char **argv)
{
	pid_t parent = getpid(), pid;
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return WRIT_E_IO;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return WRIT_E_IO;
	}
	if (pid == 0) {
		close(p[0]);
		/* the line never outlives its supervisor (kill -9 of the station kills both) */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(1);
		su->carry_fd = p[1];
		return 0;
	}
	close(p[1]);
	line_pid = pid;
	supervise(su, argv, p[0]);
	return WRIT_E_IO; /* not reached */
}

static int carry_num(const char **p, const char *end, size_t *ret)
{
	size_t v = 0, digits = 0;

	if (*p >= end || **p != ' ')
		return -1;
	(*p)++;
	while (*p < end && **p >= '0' && **p <= '9' && digits < 10) {
		v = v * 10 + (size_t)(**p - '0');
		(*p)++;
		digits++;
	}
	if (!digits || (*p < end && **p >= '0' && **p <= '9') || v > 100000000u)
		return -1;
	*ret = v;
	return 0;
}

/* One pass; port NULL: check only. */
static int carry_pass(const char *text, size_t len, struct selfupdate_carry *c,
		      int (*port)(void *ctx, const char *addr), void *ctx)
{
	static const char head[] = "writ-station-carry 1";
	const char *p = text, *end = text + len;
	char addr[SELFUPDATE_ADDR_MAX + 1];

	if (len < sizeof head - 1 || memcmp(p, head, sizeof head - 1) != 0)
		return WRIT_E_FORMAT;
	p += sizeof head - 1;
	if (carry_num(&p, end, &c->done) < 0 || carry_num(&p, end, &c->ok) < 0 || carry_num(&p, end, &c->failed) < 0 ||
	    carry_num(&p, end, &c->already) < 0 || carry_num(&p, end, &c->pauses) < 0 || p >= end || *p++ != '\n' ||
	    c->ok + c->failed + c->already != c->done)
		return WRIT_E_FORMAT;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n;

		if (!nl || nl - p < 6 || memcmp(p, "port ", 5) != 0)
			return WRIT_E_FORMAT;
		n = (size_t)(nl - p) - 5;
		if (n > SELFUPDATE_ADDR_MAX)
			return WRIT_E_FORMAT;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)p[5 + i] < 0x20 || (unsigned char)p[5 + i] > 0x7e)
				return WRIT_E_FORMAT;
		memcpy(addr, p + 5, n);
		addr[n] = '\0';
		if (port) {
			int rc = port(ctx, addr);
			if (rc < 0)
				return rc;
		}
		p = nl + 1;
	}
	return 0;
}

int selfupdate_parse_carry(const char *text, size_t len, struct selfupdate_carry *ret,
			   int (*port)(void *ctx, const char *addr), void *ctx)
{
	struct selfupdate_carry c;
	int rc;

	memset(&c, 0, sizeof c);
	if ((rc = carry_pass(text, len, &c, NULL, NULL)) < 0)
		return rc;
	if (port && (rc = carry_pass(text, len, &c, port, ctx)) < 0)
		return rc;
	*ret = c;
	return 0;
}

int selfupdate_take_carry(char **ret_text)
{
	const char *e = getenv(CARRY_ENV);
	char *end, *buf = NULL;
	size_t len = 0, cap = 0;
	long fd;

	*ret_text = NULL;
	if (!e)
		return 0;
	errno = 0;
	fd = strtol(e, &end, 10);
	unsetenv(CARRY_ENV);
	if (errno || *end || end == e || fd < 3 || fd > 65535)
		return WRIT_E_INVAL;
	for (;;) {
		ssize_t n;

		if (len + 1 >= cap) {
			char *nb = cap < SELFUPDATE_CARRY_MAX ? realloc(buf, cap ? 2 * cap : 4096) : NULL;
			if (!nb) {
				free(buf);
				close((int)fd);
				return WRIT_E_TOOBIG;
			}
			buf = nb;
			cap = cap ? 2 * cap : 4096;
		}
		n = read((int)fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			close((int)fd);
			return WRIT_E_IO;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close((int)fd);
	buf[len] = '\0';
	*ret_text = buf;
	return 0;
}
