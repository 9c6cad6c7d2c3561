/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signed releases of the factory-side programs, the factory's half (docs/releases.md).
 * `writ-factory update` is a separate process (writ-factory serve runs under a seccomp
 * allow-list without fork/exec): it fetches the release writ-cloud offers this factory,
 * verifies it under the pinned release key, stages it under PREFIX/versions/V, waits
 * until no station has a job in progress, switches PREFIX/current atomically, restarts
 * the services and health-checks them; a failed or interrupted update is rolled back.
 * Its progress is in STATE/update.json, which writ-factory serve shows in GET /v1/status.
 *
 * The few hooks writ-factory serve calls: its running version, a station's activity
 * (which defines "a job in progress"), and whether an update waits (told to stations
 * in the job answer, so they finish the device at hand and pause).
 */
#ifndef WRIT_FACTORY_UPDATE_H
#define WRIT_FACTORY_UPDATE_H

#include <jansson.h>

#define UPDATE_BUSY_SECONDS 10 /* a station active this recently has a job in progress */

/* `writ-factory update ...` (argv[0] = "update"). Exit status: 0 done or nothing to do,
 * 2 usage, 3 refused (signature, channel, downgrade, files), 4 applied and rolled back,
 * 1 other failures. */
int update_main(int argc, char **argv);

/* Once at start (before seccomp): the running version is the VERSION file next to the
 * executable (what a release install writes), else the version built in. */
void update_serve_init(const char *state_dir);
const char *update_version(void);

/* A station fetched a job, its firmware, or asked for a DAC / wrap: now. */
void update_note_busy(void);
/* 1 when a station was active within UPDATE_BUSY_SECONDS. */
int update_busy(void);
/* 1 when an update is staged and waits for the stations (STATE/update.pending exists). */
int update_pending(void);
/* STATE/update.json as an object {installed, staged, state, last_error}; never NULL
 * unless out of memory. */
json_t *update_status_json(void);

/* enrol-info and the site's enrol (who: the command, for messages): pin the release key
 * of the enrolment answer (PEM text, may be NULL: a cloud without one) in path. An
 * existing, different pin is kept and the call fails (the first key pinned wins; change
 * it by hand). 0, or -1 (said on stderr, with what to do). */
int update_pin_release_key(const char *path, const char *pem, const char *who);

#endif
