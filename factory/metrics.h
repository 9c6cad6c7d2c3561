/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-factory's Prometheus metrics (GET /metrics, docs/operations.md "Metrics"): its
 * own, and its edge HSMs' as their status op reports them (writ-hsmd has no network).
 * The counters are relaxed atomics: counting costs no lock on the DAC path.
 */
#ifndef WRIT_FACTORY_METRICS_H
#define WRIT_FACTORY_METRICS_H

#include <stdint.h>

#include "host/prom.h"

struct factory;

enum fmetrics_op { FM_OP_DAC = 0, FM_OP_WRAP, FM_OP_LOAD, FM_OP_N };

/* The process started (for the sync lag before a first sync). */
void fmetrics_start(void);
/* An HSM refusal (st: its negative status) seen on op. */
void fmetrics_hsm_refusal(enum fmetrics_op op, int st);
/* A bundle refused (by the file drop or the cloud sync). */
void fmetrics_bundle_refused(void);
/* A DAC the HSM issued, asked at t0_ns (prom_now_ns). */
void fmetrics_dac_issued(uint64_t t0_ns);
/* The exposition into b (asks every HSM for its status first). */
void fmetrics_render(struct factory *f, struct prom_buf *b);

#endif
