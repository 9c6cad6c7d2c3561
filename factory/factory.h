/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-factory's shared state and the pieces of the daemon (docs/factory-api.md):
 * core.c (edge-HSM connections, the writ cache, jobs, bundles, the file drop),
 * http.c (the station / MES API over libmicrohttpd), webhook.c (the MES webhook
 * thread). The store (store.h) is the only durable state besides the firmware files
 * in STATE/firmware/ (named by their SHA-256).
 */
#ifndef WRIT_FACTORY_FACTORY_H
#define WRIT_FACTORY_FACTORY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cbor.h>
#include <jansson.h>

#include "base/err.h"
#include "base/keyops.h"
#include "factory/store.h"
#include "wire/bundle.h"
#include "wire/hsmclient.h"

#define FACTORY_MAX_HSMS 8
#define FACTORY_HSM_CONNS 4   /* connections per HSM, so DACs run in parallel */
#define FACTORY_MAX_WRITS 512
#define FACTORY_PATH_MAX 4096

struct fhsm_conn {
	pthread_mutex_t lock;
	int fd; /* -1 when not connected */
};

struct fhsm {
	char path[FACTORY_PATH_MAX];
	struct fhsm_conn conns[FACTORY_HSM_CONNS];
	atomic_uint next;
	/* under factory.writs_lock: */
	int up;
	uint8_t id[WRIT_KEYID_LEN];
	char id_hex[2 * WRIT_KEYID_LEN + 1];
	uint64_t journal_next;
};

/* One writ as an HSM's status reports it. */
struct fwrit {
	uint8_t id[16];
	char id_hex[33];
	int hsm;                       /* index into factory.hsms */
	char product[65];
	uint32_t kind;
	uint64_t quantity, issued, remaining;
	int64_t not_before, not_after;
	int revoked;
	int has_vd, has_fd;            /* status keys 14 / 15 (newer writ-hsmd) */
	uint8_t vd[32], fd[32];
	int has_rework;                /* status keys 17..19: the writ carries rework rights */
	uint64_t rework_limit, rework_used;
	int64_t rework_not_after;
};

/* The sync with writ-cloud (cloud.c); url NULL when not configured. */
struct fcloud {
	const char *url;
	unsigned interval;                 /* seconds between rounds */
	char token[256];                   /* the factory token; wiped when the thread ends */
	pthread_mutex_t lock;              /* guards what follows: the status reads it */
	pthread_cond_t wake;
	int64_t last_ok;                   /* end of the last round without error; 0: never */
	char last_error[256];              /* the latest round's first error, "" when none */
	int64_t last_error_at;
	int down;                          /* the cloud is unreachable since down_since */
	int64_t down_since;
	uint64_t records_next;             /* the cloud's record cursor, as last seen */
	struct {
		char hsm[65];              /* the HSM id the cursor is of, "" before one was read */
		uint64_t next;             /* the cloud's journal cursor of that HSM */
		int stopped;               /* fork / 422: no more pushes until a restart */
		int not_enrolled;          /* the cloud does not know this HSM (logged once; the
					      sync thread's own: not under lock) */
	} journal[FACTORY_MAX_HSMS];
};

struct ftele;

struct factory {
	struct store *store;
	char state[FACTORY_PATH_MAX];
	char factory_id[65];
	uint8_t oem_pub[WRIT_P256_PUB_LEN];
	struct fhsm hsms[FACTORY_MAX_HSMS];
	size_t n_hsms;
	const char *drop;    /* NULL: no file drop */
	const char *webhook; /* NULL: no webhook */
	pthread_mutex_t writs_lock;
	struct fwrit writs[FACTORY_MAX_WRITS];
	size_t n_writs;
	atomic_int stop;
	atomic_int warned_fallback;
	pthread_mutex_t wake_lock; /* webhook wake-up */
	pthread_cond_t wake;
	struct fcloud cloud;
	struct ftele *tele; /* line telemetry (telemetry.c); NULL: not kept */
};

/* A runnable job: the writ and its bundle (bundle.firmware is NULL). */
struct fjob {
	struct fwrit w;
	struct bundle b;
};

/* core.c */
void factory_init(struct factory *f);
void factory_fini(struct factory *f); /* closes HSM connections; not the store */
/* Ask every HSM for its status and rebuild the writ cache. Returns the number of HSMs
 * that answered. */
int factory_refresh(struct factory *f);
/* Modes of factory_job: any loaded writ; loaded, production, not revoked and in its
 * window (a spent job stays fetchable so a restarted station can finish its last
 * devices); fetchable with quantity left. */
enum { FJOB_LOADED = 0, FJOB_RUNNABLE = 1, FJOB_FETCHABLE = 2 };
/* The job for writ id (hex), from the cache as of the last refresh. WRIT_E_NOTFOUND:
 * not loaded, no bundle, or not in mode's state now. *ret is caller-allocated. */
WRIT_MUST_CHECK int factory_job(struct factory *f, const char *id_hex, int mode, struct fjob *ret);
/* 1 if w may be asked for DACs now (fetchable, quantity left). */
int factory_runnable(const struct fwrit *w, int64_t now);
/* A copy of loaded writ id_hex from the cache (any kind, any state); WRIT_E_NOTFOUND. */
WRIT_MUST_CHECK int factory_writ(struct factory *f, const char *id_hex, struct fwrit *ret);
/* The writs with rework rights, best first, into ret (cap entries; returns how many):
 * those that look usable (not revoked, rights' window not ended, limit not reached)
 * before the others, then rework writs (kind 2) before production writs, then writs for
 * product (may be NULL: unknown) before others, then the newest (latest not_before).
 * The HSM decides the rest (named devices, devices it certified, masks, its own
 * clock), so a caller tries them in this order and reports the first one's refusal. */
size_t factory_rework_writs(struct factory *f, const char *product, int64_t now, struct fwrit *ret, size_t cap);
/* All runnable jobs: calls fn for each. */
void factory_jobs(struct factory *f, void (*fn)(void *arg, const struct fjob *j), void *arg);
/* Send req to HSM idx and receive its answer (hsmc_call's contract). idempotent=1
 * retries once on a fresh connection after a transport failure. */
WRIT_MUST_CHECK int factory_hsm_call(struct factory *f, int idx, const cbor_item_t *req, cbor_item_t **ret_resp,
				     char reason[HSMC_REASON_MAX], int idempotent);
/* Run fn (an hsmc_* call on fd) on one of HSM idx's connections, connecting first when
 * needed. WRIT_E_IO / WRIT_E_PROTO close that connection; idempotent=1 then tries once
 * more on a fresh one unless the HSM gave a reason. Returns fn's result. */
WRIT_MUST_CHECK int factory_hsm_with(struct factory *f, int idx, int (*fn)(int fd, void *arg, char *reason), void *arg,
				     char reason[HSMC_REASON_MAX], int idempotent);
/* Load a sealed writ into the HSM it is encrypted to: hsm_id (64 hex digits) names
 * it, or NULL: each HSM is tried (one that cannot decrypt it says so without trying
 * further keys). 0, WRIT_E_IO when no HSM answered or the named one is not connected
 * (try again later), or the refusal with its reason. */
WRIT_MUST_CHECK int factory_load_writ(struct factory *f, const char *hsm_id, const uint8_t *buf, size_t len,
				      char reason[HSMC_REASON_MAX], char ret_id[33]);
/* Verify a .wbundle under the pinned OEM key, keep its firmware in STATE/firmware/
 * and its metadata in the store. */
WRIT_MUST_CHECK int factory_load_bundle(struct factory *f, const uint8_t *buf, size_t len, char reason[HSMC_REASON_MAX],
					char ret_digest[65]);
/* Offer the bytes of a sealed writ (is_writ) or of a .wbundle, as the file drop and
 * the cloud sync both do: the size bound, the load (factory_load_writ with hsm_id,
 * factory_load_bundle), and the verdict: FOFFER_LOADED (logged as "<what> loaded"),
 * FOFFER_RETRY (an HSM or the store is unavailable: offer it again later) or
 * FOFFER_REFUSED; for these two, reason says why and the caller logs what it does about
 * it. out gets the writ id or the bundle's version digest (hex); *ret_err (may be NULL)
 * the load's error. */
enum { FOFFER_LOADED = 0, FOFFER_RETRY = 1, FOFFER_REFUSED = 2 };
int factory_offer(struct factory *f, int is_writ, const char *hsm_id, const uint8_t *buf, size_t len,
		  const char *what, char reason[HSMC_REASON_MAX], char out[65], int *ret_err);
/* Scan the drop directory once. */
void factory_drop_scan(struct factory *f);
/* STATE/firmware/<hex> */
WRIT_MUST_CHECK int factory_firmware_path(struct factory *f, const uint8_t digest[32], char *out, size_t cap);

/* http.c: start / stop the HTTP server on host:port. */
struct http_server;
WRIT_MUST_CHECK int http_start(struct factory *f, const char *host, unsigned port, struct http_server **ret);
void http_stop(struct http_server *h); /* accepts NULL */

/* cloud.c: the sync thread's body (f->cloud.url set); returns when f->stop is set.
 * cloud_wake makes it start a round now (or notice the stop). */
void *cloud_main(void *arg);
void cloud_wake(struct factory *f);
/* The "cloud" object of GET /v1/status (json null without --cloud); caller decrefs. */
json_t *cloud_status_json(struct factory *f);
/* cloud_enrol.c: writ-factory enrol-info | enrol | add-hsm; each returns the exit code. */
struct cloud_cmd {
	const char *cmd;        /* the command's name, for messages */
	const char *cloud;      /* --cloud URL */
	const char *code, *code_file; /* the one-time enrolment code, or a file holding it */
	const char *out;        /* enrol-info: the PEM file */
	const char *release_out; /* enrol-info: the release key's pin; NULL: release.pem next to out */
	const char *token_out;  /* enrol: the factory token file (0600) */
	const char *token_file; /* add-hsm: the factory token file */
	const char *hsm;        /* the edge HSM's socket */
	int force;              /* overwrite an existing output file */
	int site;               /* called by site_enrol: no hints about the next manual step */
	char *ret_factory;      /* enrol-info: when set, gets the factory id (65 bytes) */
};
int cloud_cmd_enrol_info(const struct cloud_cmd *o);
int cloud_cmd_enrol(const struct cloud_cmd *o);
int cloud_cmd_add_hsm(const struct cloud_cmd *o);

/* webhook.c: the thread's body; returns when f->stop is set. */
void *webhook_main(void *arg);
void webhook_kick(struct factory *f);

#endif
