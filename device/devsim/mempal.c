/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The in-memory PAL of mempal.h: pending and committed copies of OTP and the STATE area,
 * firmware slots written in place (the library only writes the slot that is not
 * installed), test switches for the RNG, the clock and failing storage.
 */
#include "mempal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

int mempal_init(struct mempal *m, const uint8_t uid[16])
{
	if (!m || !uid)
		return -1;
	memset(m, 0, sizeof *m);
	memcpy(m->otp + WDEV_OTP_UID, uid, 16);
	memcpy(m->otp_c, m->otp, sizeof m->otp);
	m->rng_seed = 0x9E3779B97F4A7C15ull;
	return 0;
}

void mempal_free(struct mempal *m)
{
	if (!m)
		return;
	free(m->fw[0]);
	free(m->fw[1]);
	m->fw[0] = m->fw[1] = NULL;
}

static int p_rng(void *ctx, uint8_t *out, size_t n)
{
	struct mempal *m = ctx;

	switch (m->rng_mode) {
	case MEMPAL_RNG_OS:
		while (n > 0) {
			ssize_t k = getrandom(out, n, 0);
			if (k <= 0)
				return -1;
			out += k;
			n -= (size_t)k;
		}
		return 0;
	case MEMPAL_RNG_DETERMINISTIC:
	case MEMPAL_RNG_REPEAT: {
		uint64_t st = m->rng_mode == MEMPAL_RNG_REPEAT ? 42 : m->rng_seed;
		for (size_t i = 0; i < n; i++) { /* splitmix64, one byte per step */
			uint64_t z = (st += 0x9E3779B97F4A7C15ull);
			z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
			z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
			out[i] = (uint8_t)(z ^ (z >> 31));
		}
		if (m->rng_mode == MEMPAL_RNG_DETERMINISTIC)
			m->rng_seed = st;
		return 0;
	}
	case MEMPAL_RNG_STUCK:
		for (size_t i = 0; i < n; i++)
			out[i] = (i & 1) ? 0xA5 : 0x5A;
		return 0;
	}
	return -1;
}

static int p_time(void *ctx, uint64_t *ret)
{
	struct mempal *m = ctx;

	*ret = m->now ? m->now : (uint64_t)((int64_t)time(NULL) + m->time_offset);
	return 0;
}

static int p_otp_read(void *ctx, size_t off, uint8_t *out, size_t n)
{
	struct mempal *m = ctx;

	if (off > WDEV_OTP_SIZE || n > WDEV_OTP_SIZE - off)
		return -1;
	memcpy(out, m->otp + off, n);
	return 0;
}

static int p_otp_write(void *ctx, size_t off, const uint8_t *in, size_t n)
{
	struct mempal *m = ctx;

	if (m->fail_writes || off > WDEV_OTP_SIZE || n > WDEV_OTP_SIZE - off)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (m->otp[off + i] & (uint8_t)~in[i])
			return -1; /* OTP bits never clear */
	for (size_t i = 0; i < n; i++)
		m->otp[off + i] |= in[i];
	return 0;
}

static int slot_of(enum wdev_area a)
{
	return a == WDEV_AREA_FW0 ? 0 : a == WDEV_AREA_FW1 ? 1 : -1;
}

static int p_flash_read(void *ctx, enum wdev_area area, size_t off, uint8_t *out, size_t n)
{
	struct mempal *m = ctx;
	int s;

	if (area == WDEV_AREA_STATE) {
		if (off > WDEV_STATE_AREA_SIZE || n > WDEV_STATE_AREA_SIZE - off)
			return -1;
		memcpy(out, m->state + off, n);
		return 0;
	}
	if ((s = slot_of(area)) < 0 || off > WDEV_FW_AREA_SIZE || n > WDEV_FW_AREA_SIZE - off)
		return -1;
	if (!m->fw[s])
		memset(out, 0xFF, n);
	else
		memcpy(out, m->fw[s] + off, n);
	return 0;
}

static int p_flash_write(void *ctx, enum wdev_area area, size_t off, const uint8_t *in, size_t n)
{
	struct mempal *m = ctx;
	int s;

	if (m->fail_writes)
		return -1;
	if (area == WDEV_AREA_STATE) {
		if (off > WDEV_STATE_AREA_SIZE || n > WDEV_STATE_AREA_SIZE - off)
			return -1;
		memcpy(m->state + off, in, n);
		m->state_dirty = 1;
		return 0;
	}
	if ((s = slot_of(area)) < 0 || off > WDEV_FW_AREA_SIZE || n > WDEV_FW_AREA_SIZE - off)
		return -1;
	if (!m->fw[s]) {
		m->fw[s] = malloc(WDEV_FW_AREA_SIZE);
		if (!m->fw[s])
			return -1;
		memset(m->fw[s], 0xFF, WDEV_FW_AREA_SIZE);
	}
	memcpy(m->fw[s] + off, in, n);
	if (off + n > m->fw_len[s])
		m->fw_len[s] = off + n;
	if (m->dirty_hi[s] == 0 || off < m->dirty_lo[s])
		m->dirty_lo[s] = off;
	if (off + n > m->dirty_hi[s])
		m->dirty_hi[s] = off + n;
	return 0;
}

static int p_commit(void *ctx)
{
	struct mempal *m = ctx;

	if (m->fail_commit_in > 0 && --m->fail_commit_in == 0)
		return -1;
	if (m->commit_hook && m->commit_hook(m, m->hook_arg) != 0)
		return -1;
	memcpy(m->otp_c, m->otp, sizeof m->otp);
	memcpy(m->state_c, m->state, sizeof m->state);
	m->state_dirty = 0;
	m->dirty_lo[0] = m->dirty_hi[0] = m->dirty_lo[1] = m->dirty_hi[1] = 0;
	m->commits++;
	return 0;
}

static void p_discard(void *ctx)
{
	struct mempal *m = ctx;

	memcpy(m->otp, m->otp_c, sizeof m->otp);
	memcpy(m->state, m->state_c, sizeof m->state);
	m->state_dirty = 0;
	m->dirty_lo[0] = m->dirty_hi[0] = m->dirty_lo[1] = m->dirty_hi[1] = 0;
}

void mempal_bind(struct mempal *m, struct wdev_pal *pal)
{
	memset(pal, 0, sizeof *pal);
	pal->ctx = m;
	pal->rng = p_rng;
	pal->time = p_time;
	pal->otp_read = p_otp_read;
	pal->otp_write = p_otp_write;
	pal->flash_read = p_flash_read;
	pal->flash_write = p_flash_write;
	pal->commit = p_commit;
	pal->discard = p_discard;
}

int mempal_snapshot(const struct mempal *m, uint8_t **ret, size_t *ret_len)
{
	size_t n = 2 * sizeof m->otp_c + 2 * sizeof m->state_c + 2 * sizeof(size_t) + m->fw_len[0] + m->fw_len[1];
	uint8_t *p = malloc(n), *q;

	if (!p)
		return -1;
	q = p;
	memcpy(q, m->otp, sizeof m->otp); /* pending too: a refused command leaves none */
	q += sizeof m->otp;
	memcpy(q, m->state, sizeof m->state);
	q += sizeof m->state;
	memcpy(q, m->otp_c, sizeof m->otp_c);
	q += sizeof m->otp_c;
	memcpy(q, m->state_c, sizeof m->state_c);
	q += sizeof m->state_c;
	memcpy(q, m->fw_len, 2 * sizeof(size_t));
	q += 2 * sizeof(size_t);
	for (int s = 0; s < 2; s++) {
		if (m->fw_len[s])
			memcpy(q, m->fw[s], m->fw_len[s]);
		q += m->fw_len[s];
	}
	*ret = p;
	*ret_len = n;
	return 0;
}
