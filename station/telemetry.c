/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The station's telemetry buckets: open windows, closed ones waiting for the factory.
 * See telemetry.h.
 */
#include "station/telemetry.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "host/file.h"

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
}
