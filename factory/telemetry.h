/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-factory's line telemetry (docs/factory-api.md "Telemetry"): POST /v1/telemetry
 * from stations, kept in STATE/telemetry.db (its own SQLite file, so telemetry never
 * waits on the record store's lock), and pushed to writ-cloud's POST
 * /v1/sync/telemetry in seq order from a cursor kept in the same file. A bucket is
 * stored once per (station, run, start): a replay with the same content is answered as
 * a duplicate, one with other content is refused (409). The cloud dedups on the same
 * key, so a push repeated after a lost answer counts nothing twice.
 */
#ifndef WRIT_FACTORY_TELEMETRY_H
#define WRIT_FACTORY_TELEMETRY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"

struct ftele;
struct httpc;

/* Open (creating it when absent) STATE_DIR/telemetry.db; *ret freed with ftele_close
 * (accepts NULL). Thread-safe: one connection under a mutex. */
WRIT_MUST_CHECK int ftele_open(const char *state_dir, struct ftele **ret);
void ftele_close(struct ftele *t);

/* POST /v1/telemetry for station (name, line) authenticated by the caller: the HTTP
 * status and its JSON answer (*ret, new reference; {"accepted","duplicate"} or
 * {"error","code"}). Nothing is stored unless every bucket of the body is valid. */
unsigned ftele_post(struct ftele *t, const char *station, const char *line, const char *body, size_t len,
		    int64_t now, json_t **ret);

/* Push what the cloud has not acknowledged yet: 0 when all is pushed; otherwise a
 * csync verdict (enum csync_verdict, > 0) with a message in err. */
int ftele_push(struct ftele *t, struct httpc *h, int (*stop)(void *arg), void *arg, char *err, size_t cap);
/* Buckets stored and not yet acknowledged by the cloud. */
uint64_t ftele_queued(struct ftele *t);

#endif
