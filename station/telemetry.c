/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The station's telemetry buckets: open windows, closed ones waiting for the factory,
 * and their spool on disk. See telemetry.h.
 */
#include "station/telemetry.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/file.h"

static void spool_append(struct stele *t, const struct tele_bucket *b);
static void spool_rewrite(struct stele *t);

int stele_init(struct stele *t, uint32_t window)
{
	uint8_t r[8];

	memset(t, 0, sizeof *t);
	if (window && (window < TELE_WINDOW_MIN || window > TELE_WINDOW_MAX))
		return WRIT_E_INVAL;
	if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
		return WRIT_E_IO;
	hex_encode(r, sizeof r, t->run);
	t->window = window;
	return 0;
}

void stele_free(struct stele *t)
{
	if (!t)
		return;
	if (t->spooling) {
		if (t->spool_fd >= 0)
			close(t->spool_fd);
		if (t->lock_fd >= 0)
			close(t->lock_fd); /* drops the lock */
		t->spooling = 0;
	}
	free(t->ready);
	t->ready = NULL;
	t->n_ready = t->cap_ready = 0;
}

static void make_ready(struct stele *t, size_t i)
{
	if (t->n_ready == STELE_READY_MAX) {
		/* the factory has been away for long: the oldest goes */
		memmove(t->ready, t->ready + 1, (t->n_ready - 1) * sizeof *t->ready);
		t->n_ready--;
		t->dropped++;
	}
	if (t->n_ready == t->cap_ready) {
		size_t nc = t->cap_ready ? 2 * t->cap_ready : 16;
		struct tele_bucket *nb;
		if (nc > STELE_READY_MAX)
			nc = STELE_READY_MAX;
		nb = realloc(t->ready, nc * sizeof *nb);
		if (!nb) {
			t->dropped++;
			goto out;
		}
		t->ready = nb;
		t->cap_ready = nc;
	}
	t->ready[t->n_ready++] = t->open[i];
out:
	t->spool_dirty = 1;
	memmove(t->open + i, t->open + i + 1, (t->n_open - i - 1) * sizeof *t->open);
	t->n_open--;
}

void stele_close(struct stele *t, int64_t now, int final)
{
	size_t i = 0;

	while (i < t->n_open) {
		if (final || t->open[i].start + (int64_t)t->open[i].window <= now)
			make_ready(t, i);
		else
			i++;
	}
	if (t->spool_dirty)
		spool_rewrite(t);
}

void stele_note(struct stele *t, int64_t now, int ok, const char *step, const char *reason, uint32_t cycle_ms)
{
	int64_t start;
	size_t i;

	if (!t->window)
		return;
	start = now - now % t->window;
	for (i = 0; i < t->n_open; i++)
		if (t->open[i].start == start)
			break;
	if (i == t->n_open) {
		if (t->n_open == STELE_OPEN_MAX)
			make_ready(t, 0); /* the oldest (buckets open in time order) */
		i = t->n_open++;
		tele_init(&t->open[i], t->run, start, t->window);
	}
	tele_add(&t->open[i], ok, step, reason, cycle_ms);
	if (t->spool_dirty)
		spool_rewrite(t);
	else
		spool_append(t, &t->open[i]);
}

char *stele_body(const struct stele *t, size_t max, size_t *ret_n)
{
	json_t *o = json_object(), *a = json_array();
	size_t i, n = t->n_ready < max ? t->n_ready : max;
	char *s = NULL;

	*ret_n = 0;
	if (!o || !a || !n || json_object_set(o, "buckets", a) < 0)
		goto out;
	for (i = 0; i < n; i++)
		if (json_array_append_new(a, tele_json(&t->ready[i])) < 0)
			goto out;
	s = json_dumps(o, JSON_COMPACT);
	if (s)
		*ret_n = n;
out:
	json_decref(a);
	json_decref(o);
	return s;
}

void stele_taken(struct stele *t, size_t n)
{
	if (n > t->n_ready)
		n = t->n_ready;
	memmove(t->ready, t->ready + n, (t->n_ready - n) * sizeof *t->ready);
	t->n_ready -= n;
	if (n)
		spool_rewrite(t);
}

/* ---- the spool ---- */

/* "K <bucket JSON>\n" (malloc'd, NUL-terminated) or NULL when out of memory. */
static char *spool_line(char kind, const struct tele_bucket *b, size_t *ret_len)
{
	json_t *o = tele_json(b);
	char *j = o ? json_dumps(o, JSON_COMPACT) : NULL, *line = NULL;
	size_t n;

	json_decref(o);
	if (!j)
		return NULL;
	n = strlen(j);
	if (n + 4 <= STELE_SPOOL_LINE_MAX && (line = malloc(n + 4))) {
		line[0] = kind;
		line[1] = ' ';
		memcpy(line + 2, j, n);
		line[n + 2] = '\n';
		line[n + 3] = '\0';
		*ret_len = n + 3;
	}
	free(j);
	return line;
}

static void spool_fail(struct stele *t, const char *what, int err)
{
	t->spool_failed = 1;
	snprintf(t->spool_err, sizeof t->spool_err, "cannot %s %.200s (%.60s)", what, t->spool_path,
		 err ? strerror(err) : "out of memory");
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One O line, durable before the device counts as noted. After an earlier failure the
 * whole file is rewritten instead (an append after a short write would follow garbage). */
static void spool_append(struct stele *t, const struct tele_bucket *b)
{
	size_t n = 0;
	char *line;

	if (!t->spooling)
		return;
	if (t->spool_failed || t->spool_fd < 0) {
		spool_rewrite(t);
		return;
	}
	if (!(line = spool_line('O', b, &n))) {
		spool_fail(t, "append to", 0);
		return;
	}
	if (write_all(t->spool_fd, line, n) < 0 || fdatasync(t->spool_fd) < 0)
		spool_fail(t, "append to", errno);
	free(line);
}

/* The file anew: B lines for the closed buckets, O lines for the open ones. */
static void spool_rewrite(struct stele *t)
{
	char *buf = NULL, *line;
	size_t len = 0, cap = 0, n, i, total = t->n_ready + t->n_open;
	int err;

	t->spool_dirty = 0;
	if (!t->spooling)
		return;
	for (i = 0; i < total; i++) {
		line = spool_line(i < t->n_ready ? 'B' : 'O', i < t->n_ready ? &t->ready[i] : &t->open[i - t->n_ready], &n);
		if (!line)
			goto oom;
		if (len + n + 1 > cap) {
			size_t nc = 2 * (len + n + 1) + 4096;
			char *nb = realloc(buf, nc);
			if (!nb) {
				free(line);
				goto oom;
			}
			buf = nb;
			cap = nc;
		}
		memcpy(buf + len, line, n);
		len += n;
		free(line);
	}
	if ((err = file_write_atomic(t->spool_path, buf ? buf : "", len, 0600)) < 0) {
		spool_fail(t, "rewrite", EIO);
		free(buf);
		return;
	}
	free(buf);
	if (t->spool_fd >= 0)
		close(t->spool_fd);
	t->spool_fd = open(t->spool_path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (t->spool_fd < 0) {
		spool_fail(t, "open", errno);
		return;
	}
	t->spool_failed = 0;
	t->spool_err[0] = '\0';
	return;
oom:
	free(buf);
	spool_fail(t, "rewrite", 0);
}

static void note_bad(struct stele_spool_stats *st, size_t line_no, const char *why)
{
	st->bad++;
	if (!st->first_bad[0])
		snprintf(st->first_bad, sizeof st->first_bad, "line %zu: %s", line_no, why);
}

int stele_spool_parse(const char *buf, size_t len, int64_t now, struct tele_bucket *out, size_t cap, size_t *ret_n,
		      struct stele_spool_stats *st)
{
	size_t off = 0, n = 0, line_no = 0;

	memset(st, 0, sizeof *st);
	*ret_n = 0;
	if (!cap)
		return WRIT_E_INVAL;
	while (off < len) {
		const char *p = buf + off, *nl = memchr(p, '\n', len - off);
		size_t ll = nl ? (size_t)(nl - p) : len - off, i;
		struct tele_bucket b;
		char why[160];
		json_error_t je;
		json_t *o;

		off += ll + (nl ? 1 : 0);
		line_no++;
		if (!nl) {
			st->torn++; /* cut short by a crash while appending */
			break;
		}
		st->lines++;
		if (ll < 4 || (p[0] != 'O' && p[0] != 'B') || p[1] != ' ') {
			note_bad(st, line_no, "not an O or B line");
			continue;
		}
		if (ll > STELE_SPOOL_LINE_MAX) {
			note_bad(st, line_no, "too long");
			continue;
		}
		if (!(o = json_loadb(p + 2, ll - 2, JSON_REJECT_DUPLICATES, &je))) {
			snprintf(why, sizeof why, "not JSON (%.80s)", je.text);
			note_bad(st, line_no, why);
			continue;
		}
		/* an open window may end up to a window after now; the file is ours, but read
		 * as a peer's: every count is checked */
		if (tele_parse(o, now + TELE_WINDOW_MAX, TELE_PAST_MAX + TELE_WINDOW_MAX, &b, why, sizeof why) < 0) {
			json_decref(o);
			note_bad(st, line_no, why);
			continue;
		}
		json_decref(o);
		for (i = 0; i < n; i++)
			if (out[i].start == b.start && !strcmp(out[i].run, b.run))
				break;
		if (i < n) {
			out[i] = b; /* the later line replaces the earlier */
			continue;
		}
		if (n == cap) {
			memmove(out, out + 1, (n - 1) * sizeof *out);
			n--;
			st->dropped++;
		}
		out[n++] = b;
	}
	st->buckets = n;
	*ret_n = n;
	return 0;
}

int stele_spool_open(struct stele *t, const char *dir, int64_t now, struct stele_spool_stats *st)
{
	char lock[4096 + 32];
	uint8_t *img = NULL;
	size_t len = 0, n = 0, cap = STELE_READY_MAX, i;
	struct tele_bucket *got = NULL;
	int rc;

	memset(st, 0, sizeof *st);
	t->spool_fd = t->lock_fd = -1;
	if (snprintf(t->spool_path, sizeof t->spool_path, "%s/%s", dir, STELE_SPOOL_NAME) >= (int)sizeof t->spool_path ||
	    snprintf(lock, sizeof lock, "%s/telemetry.lock", dir) >= (int)sizeof lock) {
		snprintf(t->spool_err, sizeof t->spool_err, "--state %.100s: the path is too long", dir);
		return WRIT_E_TOOBIG;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(t->spool_err, sizeof t->spool_err, "cannot make the state directory %.100s (%s)", dir,
			 strerror(errno));
		return WRIT_E_IO;
	}
	t->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (t->lock_fd < 0) {
		snprintf(t->spool_err, sizeof t->spool_err, "cannot open %.120s (%s)", lock, strerror(errno));
		return WRIT_E_IO;
	}
	if (flock(t->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(t->spool_err, sizeof t->spool_err, "another writ-station run uses the state directory %.100s; "
			 "give each station its own --state", dir);
		close(t->lock_fd);
		t->lock_fd = -1;
		return WRIT_E_STATE;
	}
	rc = file_read(t->spool_path, STELE_SPOOL_FILE_MAX, &img, &len);
	if (rc == WRIT_E_NOTFOUND) {
		rc = 0;
	} else if (rc < 0) {
		snprintf(t->spool_err, sizeof t->spool_err, "cannot read %.120s (%s)%s", t->spool_path, writ_strerror(rc),
			 rc == WRIT_E_TOOBIG ? ": larger than any spool writ-station writes; move it aside" : "");
		goto fail;
	} else if (!(got = calloc(cap, sizeof *got))) {
		rc = WRIT_E_NOMEM;
		snprintf(t->spool_err, sizeof t->spool_err, "out of memory");
		goto fail;
	} else if ((rc = stele_spool_parse((const char *)img, len, now, got, cap, &n, st)) < 0) {
		goto fail;
	}
	/* earlier runs are over: their windows are closed, and owed to the factory */
	for (i = 0; i < n; i++) {
		if (t->n_ready == t->cap_ready) {
			struct tele_bucket *nb = realloc(t->ready, cap * sizeof *nb);
			if (!nb) {
				rc = WRIT_E_NOMEM;
				snprintf(t->spool_err, sizeof t->spool_err, "out of memory");
				goto fail;
			}
			t->ready = nb;
			t->cap_ready = cap;
		}
		t->ready[t->n_ready++] = got[i];
	}
	t->spooling = 1;
	spool_rewrite(t);
	if (t->spool_failed) {
		rc = WRIT_E_IO;
		t->spooling = 0;
		goto fail;
	}
	free(got);
	free(img);
	return 0;
fail:
	free(got);
	free(img);
	if (t->spool_fd >= 0)
		close(t->spool_fd);
	close(t->lock_fd);
	t->spool_fd = t->lock_fd = -1;
	return rc;
}
