/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An in-memory PAL for libwrit-device (host code, not for MCUs): OTP and the STATE area
 * kept twice (pending writes and the last committed copy) so discard and commit behave
 * like the contract in wdev_pal.h, firmware slots grown on demand, and switches for the
 * tests: a deterministic or stuck RNG, a fixed clock, failing writes or commits. The unit
 * tests and the fuzz harness use it directly; writ-devsim adds a commit hook that writes
 * its files.
 */
#ifndef WRIT_DEVICE_MEMPAL_H
#define WRIT_DEVICE_MEMPAL_H

#include <stddef.h>
#include <stdint.h>

#include "wdev_pal.h"

enum mempal_rng { MEMPAL_RNG_OS = 0, MEMPAL_RNG_DETERMINISTIC = 1, MEMPAL_RNG_STUCK = 2,
		  MEMPAL_RNG_REPEAT = 3 /* the same random-looking bytes on every call */ };

struct mempal {
	uint8_t otp[WDEV_OTP_SIZE], otp_c[WDEV_OTP_SIZE];
	uint8_t state[WDEV_STATE_AREA_SIZE], state_c[WDEV_STATE_AREA_SIZE];
	uint8_t *fw[2];    /* slots FW0, FW1: WDEV_FW_AREA_SIZE each once touched */
	size_t fw_len[2];  /* high-water mark of what was written */
	size_t dirty_lo[2], dirty_hi[2]; /* slot bytes written since the last commit */
	int state_dirty;
	enum mempal_rng rng_mode;
	uint64_t rng_seed;
	uint64_t now; /* 0: the real clock */
	int64_t time_offset; /* added to the real clock (a chip whose RTC is off) */
	int fail_writes;  /* > 0: every flash/otp write fails */
	int fail_commit_in; /* > 0: the n-th commit from now fails */
	unsigned commits;
	/* called by commit before the pending copy becomes the committed one; 0 = ok */
	int (*commit_hook)(struct mempal *m, void *arg);
	void *hook_arg;
};

/* Zero *m and program the UID into OTP. Returns 0, -1 on a bad argument. */
int mempal_init(struct mempal *m, const uint8_t uid[16]);
/* Free the firmware slots. m may be NULL. */
void mempal_free(struct mempal *m);
/* Fill *ret_pal with callbacks over m (m must outlive every use of the PAL). */
void mempal_bind(struct mempal *m, struct wdev_pal *ret_pal);

/* A byte-exact picture of the committed storage, for "no state change" checks. The
 * caller frees *ret with free(). Returns 0 or -1. */
int mempal_snapshot(const struct mempal *m, uint8_t **ret, size_t *ret_len);

#endif
