/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-factory's core: connections to the edge HSMs (a few per HSM, reconnected after
 * a failure), the cache of the writs they hold (refreshed from their status answers),
 * jobs (a runnable writ together with its product-version bundle), loading writs and
 * bundles, and the file drop (docs/factory-api.md, "The file drop").
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/ct.h"
#include "factory/factory.h"
#include "factory/metrics.h"
#include "host/conf.h"
#include "host/file.h"
#include "host/log.h"
#include "wire/cbu.h"
#include "wire/hsmproto.h"
#include "wire/writ.h"

void factory_init(struct factory *f)
{
	size_t i, k;

	pthread_mutex_init(&f->writs_lock, NULL);
	pthread_mutex_init(&f->wake_lock, NULL);
	pthread_cond_init(&f->wake, NULL);
	pthread_mutex_init(&f->cloud.lock, NULL);
	pthread_cond_init(&f->cloud.wake, NULL);
	for (i = 0; i < FACTORY_MAX_HSMS; i++)
		for (k = 0; k < FACTORY_HSM_CONNS; k++) {
			pthread_mutex_init(&f->hsms[i].conns[k].lock, NULL);
			f->hsms[i].conns[k].fd = -1;
		}
}

void factory_fini(struct factory *f)
{
	size_t i, k;

	for (i = 0; i < f->n_hsms; i++)
		for (k = 0; k < FACTORY_HSM_CONNS; k++)
			if (f->hsms[i].conns[k].fd >= 0) {
				close(f->hsms[i].conns[k].fd);
				f->hsms[i].conns[k].fd = -1;
			}
}

/* An idle connection never has anything to read (the HSM answers only requests): if it
 * reads, the HSM closed it (a restart). Reconnect before sending, so that a request
 * that may not be repeated (a DAC) is not lost on it. Under c->lock. */
static void drop_if_closed(struct fhsm_conn *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };

	if (c->fd >= 0 && poll(&p, 1, 0) > 0) {
		close(c->fd);
		c->fd = -1;
	}
}

int factory_hsm_with(struct factory *f, int idx, int (*fn)(int fd, void *arg, char *reason), void *arg,
		     char reason[HSMC_REASON_MAX], int idempotent)
{
	struct fhsm *h = &f->hsms[idx];
	struct fhsm_conn *c = &h->conns[atomic_fetch_add(&h->next, 1) % FACTORY_HSM_CONNS];
	int err = WRIT_E_IO, attempt;

	reason[0] = 0;
	pthread_mutex_lock(&c->lock);
	drop_if_closed(c);
	for (attempt = 0; attempt < 2; attempt++) {
		if (c->fd < 0 && hsmc_connect(h->path, &c->fd) < 0) {
			c->fd = -1;
			err = WRIT_E_IO;
			break;
		}
		err = fn(c->fd, arg, reason);
		if (err != WRIT_E_IO && err != WRIT_E_PROTO)
			break;
		/* the transport failed (or the HSM could not write): a fresh connection next time */
		close(c->fd);
		c->fd = -1;
		if (!idempotent || reason[0])
			break; /* reason set: the HSM answered and refused */
	}
	pthread_mutex_unlock(&c->lock);
	if (err == WRIT_E_IO && !reason[0])
		(void)!snprintf(reason, HSMC_REASON_MAX, "edge HSM %s is unreachable: check that writ-hsmd runs", h->path);
	return err;
}

struct call_arg {
	const cbor_item_t *req;
	cbor_item_t **resp;
	int status; /* the HSM's own status once it answered */
};

/* One request: an answer (accepted or refused) ends the attempts, whatever its status. */
static int call_fn(int fd, void *arg, char *reason)
{
	struct call_arg *a = arg;
	int err = hsmc_call(fd, a->req, a->resp, reason);

	if (!*a->resp)
		return err;
	a->status = err;
	return 0;
}

int factory_hsm_call(struct factory *f, int idx, const cbor_item_t *req, cbor_item_t **ret_resp,
		     char reason[HSMC_REASON_MAX], int idempotent)
{
	struct call_arg a = { req, ret_resp, 0 };
	int err;

	*ret_resp = NULL;
	err = factory_hsm_with(f, idx, call_fn, &a, reason, idempotent);
	return *ret_resp ? a.status : err;
}

static int parse_writ(const cbor_item_t *m, int hsm, struct fwrit *w)
{
	uint64_t v;
	int err;

	memset(w, 0, sizeof(*w));
	w->hsm = hsm;
	if ((err = cbu_get_fixed(m, HSMP_W_ID, w->id, 16)) < 0 || (err = cbu_get_uint(m, HSMP_W_KIND, 255, &v)) < 0)
		return err;
	w->kind = (uint32_t)v;
	if ((err = cbu_get_text(m, HSMP_W_PRODUCT, w->product, sizeof(w->product))) < 0 ||
	    (err = cbu_get_uint(m, HSMP_W_QUANTITY, UINT64_MAX, &w->quantity)) < 0 ||
	    (err = cbu_get_uint(m, HSMP_W_ISSUED, UINT64_MAX, &w->issued)) < 0 ||
	    (err = cbu_get_uint(m, HSMP_W_REMAINING, UINT64_MAX, &w->remaining)) < 0 ||
	    (err = cbu_get_int(m, HSMP_W_NOT_BEFORE, &w->not_before)) < 0 ||
	    (err = cbu_get_int(m, HSMP_W_NOT_AFTER, &w->not_after)) < 0 ||
	    (err = cbu_get_uint(m, HSMP_W_REVOKED, 1, &v)) < 0)
		return err;
	w->revoked = (int)v;
	/* keys 14 and 15 (version / firmware digest) come with newer writ-hsmd builds */
	w->has_vd = cbu_get_fixed(m, HSMP_W_VERSION_DIGEST, w->vd, 32) == 0;
	w->has_fd = cbu_get_fixed(m, HSMP_W_FIRMWARE_DIGEST, w->fd, 32) == 0;
	/* keys 17..19 only in writs that carry rework rights */
	w->has_rework = cbu_get_uint(m, HSMP_W_REWORK_LIMIT, UINT32_MAX, &w->rework_limit) == 0 &&
			cbu_get_uint(m, HSMP_W_REWORK_USED, UINT64_MAX, &w->rework_used) == 0 &&
			cbu_get_int(m, HSMP_W_REWORK_NOT_AFTER, &w->rework_not_after) == 0;
	hex_encode(w->id, 16, w->id_hex);
	return 0;
}

int factory_refresh(struct factory *f)
{
	static struct fwrit fresh[FACTORY_MAX_WRITS]; /* guarded by refresh_lock */
	static pthread_mutex_t refresh_lock = PTHREAD_MUTEX_INITIALIZER;
	char reason[HSMC_REASON_MAX];
	size_t i, k, n = 0;
	int answered = 0;
	cbor_item_t *req = cbu_new_map(1), *resp;

	if (!req || cbu_put_uint(req, HSMP_RQ_OP, HSMP_OP_STATUS) < 0) {
		if (req)
			cbor_decref(&req);
		return 0;
	}
	pthread_mutex_lock(&refresh_lock);
	for (i = 0; i < f->n_hsms; i++) {
		uint8_t id[WRIT_KEYID_LEN];
		uint64_t next = 0;
		cbor_item_t *arr;
		int ok = factory_hsm_call(f, (int)i, req, &resp, reason, 1) == 0 && resp &&
			 cbu_get_fixed(resp, HSMP_RS_HSM_ID, id, sizeof(id)) == 0 &&
			 cbu_get_uint(resp, HSMP_RS_SEQ, UINT64_MAX, &next) == 0;
		arr = ok ? cbu_get(resp, HSMP_RS_WRITS) : NULL;
		if (ok && arr && cbor_isa_array(arr)) {
			for (k = 0; k < cbor_array_size(arr) && n < FACTORY_MAX_WRITS; k++) {
				cbor_item_t *m = cbor_array_get(arr, k);
				if (m && cbor_isa_map(m) && parse_writ(m, (int)i, &fresh[n]) == 0)
					n++;
				if (m)
					cbor_decref(&m);
			}
			answered++;
		}
		pthread_mutex_lock(&f->writs_lock);
		if (ok && !f->hsms[i].up)
			log_info("edge HSM %s is up", f->hsms[i].path);
		if (!ok && f->hsms[i].up)
			log_warn("edge HSM %s went away: %s", f->hsms[i].path, reason);
		f->hsms[i].up = ok;
		if (ok) {
			memcpy(f->hsms[i].id, id, sizeof(id));
			hex_encode(id, sizeof(id), f->hsms[i].id_hex);
			f->hsms[i].journal_next = next;
		}
		pthread_mutex_unlock(&f->writs_lock);
		if (resp)
			cbor_decref(&resp);
	}
	pthread_mutex_lock(&f->writs_lock);
	memcpy(f->writs, fresh, n * sizeof(fresh[0]));
	f->n_writs = n;
	pthread_mutex_unlock(&f->writs_lock);
	pthread_mutex_unlock(&refresh_lock);
	cbor_decref(&req);
	return answered;
}

/* Loaded, a production writ, not revoked, in its window: a station may fetch it. */
static int fetchable(const struct fwrit *w, int64_t now)
{
	return w->kind == WRIT_KIND_PRODUCTION && !w->revoked && now >= w->not_before && now <= w->not_after;
}

int factory_runnable(const struct fwrit *w, int64_t now)
{
	return fetchable(w, now) && w->remaining > 0;
}

/* The bundle of writ w: by the version digest the HSM reports (key 14), checking the
 * firmware digest (key 15). From an older writ-hsmd that reports neither, or for a
 * writ that pins no version (digest all zero), the newest bundle of the writ's
 * product: a fallback, logged once. */
static int job_bundle(struct factory *f, const struct fwrit *w, struct bundle *b)
{
	static const uint8_t zero[32];
	int err;

	if (w->has_vd && !writ_ct_memeq(w->vd, zero, 32)) {
		if ((err = store_bundle_get(f->store, w->vd, NULL, b)) < 0)
			return err;
		if (w->has_fd && !writ_ct_memeq(w->fd, b->firmware_digest, 32)) {
			log_warn("writ %s: the bundle's firmware digest differs from the writ's: not runnable", w->id_hex);
			return WRIT_E_SCOPE;
		}
		return strcmp(b->product, w->product) ? WRIT_E_SCOPE : 0;
	}
	if (!atomic_exchange(&f->warned_fallback, 1))
		log_warn("writ %s names no version digest (or writ-hsmd does not report it): matching its bundle by "
			 "product id only; mint writs with --version-digest", w->id_hex);
	return store_bundle_get(f->store, NULL, w->product, b);
}

int factory_job(struct factory *f, const char *id_hex, int mode, struct fjob *ret)
{
	int64_t now = (int64_t)time(NULL);
	size_t i;
	int found = 0;

	pthread_mutex_lock(&f->writs_lock);
	for (i = 0; i < f->n_writs; i++)
		if (!strcmp(f->writs[i].id_hex, id_hex) &&
		    (mode == FJOB_LOADED || (mode == FJOB_FETCHABLE && fetchable(&f->writs[i], now)) ||
		     (mode == FJOB_RUNNABLE && factory_runnable(&f->writs[i], now)))) {
			ret->w = f->writs[i];
			found = 1;
			break;
		}
	pthread_mutex_unlock(&f->writs_lock);
	if (!found)
		return WRIT_E_NOTFOUND;
	return job_bundle(f, &ret->w, &ret->b) < 0 ? WRIT_E_NOTFOUND : 0;
}

int factory_writ(struct factory *f, const char *id_hex, struct fwrit *ret)
{
	size_t i;
	int err = WRIT_E_NOTFOUND;

	pthread_mutex_lock(&f->writs_lock);
	for (i = 0; i < f->n_writs; i++)
		if (!strcmp(f->writs[i].id_hex, id_hex)) {
			*ret = f->writs[i];
			err = 0;
			break;
		}
	pthread_mutex_unlock(&f->writs_lock);
	return err;
}

/* Rights that look usable now (the HSM has the last word). */
static int rework_usable(const struct fwrit *w, int64_t now)
{
	return !w->revoked && now < w->rework_not_after && w->rework_used < w->rework_limit;
}

/* Sort order of factory_rework_writs: negative if a comes first. */
static int rework_before(const struct fwrit *a, const struct fwrit *b, const char *product, int64_t now)
{
	int au = rework_usable(a, now), bu = rework_usable(b, now);
	int ar = a->kind == WRIT_KIND_REWORK, br = b->kind == WRIT_KIND_REWORK;
	int ap = product && !strcmp(a->product, product), bp = product && !strcmp(b->product, product);

	if (au != bu)
		return bu - au;
	if (ar != br)
		return br - ar;
	if (ap != bp)
		return bp - ap;
	return a->not_before > b->not_before ? -1 : a->not_before < b->not_before;
}

size_t factory_rework_writs(struct factory *f, const char *product, int64_t now, struct fwrit *ret, size_t cap)
{
	size_t i, j, n = 0;

	pthread_mutex_lock(&f->writs_lock);
	for (i = 0; i < f->n_writs && cap > 0; i++) {
		const struct fwrit *w = &f->writs[i];
		if (!w->has_rework)
			continue;
		/* insertion sort keeping the best cap: a handful of writs carry rights */
		if (n == cap && rework_before(w, &ret[n - 1], product, now) >= 0)
			continue;
		j = n < cap ? n++ : n - 1;
		for (; j > 0 && rework_before(w, &ret[j - 1], product, now) < 0; j--)
			ret[j] = ret[j - 1];
		ret[j] = *w;
	}
	pthread_mutex_unlock(&f->writs_lock);
	return n;
}

void factory_jobs(struct factory *f, void (*fn)(void *arg, const struct fjob *j), void *arg)
{
	struct fjob *j = malloc(sizeof(*j));
	char ids[FACTORY_MAX_WRITS][33];
	size_t i, n = 0;

	if (!j)
		return;
	pthread_mutex_lock(&f->writs_lock);
	for (i = 0; i < f->n_writs; i++)
		memcpy(ids[n++], f->writs[i].id_hex, 33);
	pthread_mutex_unlock(&f->writs_lock);
	for (i = 0; i < n; i++)
		if (factory_job(f, ids[i], FJOB_RUNNABLE, j) == 0)
			fn(arg, j);
	free(j);
}

/* The index of the HSM whose id is id_hex (as its status last said), or -1. */
static int hsm_index(struct factory *f, const char *id_hex)
{
	size_t i;
	int found = -1;

	pthread_mutex_lock(&f->writs_lock);
	for (i = 0; i < f->n_hsms && found < 0; i++)
		if (f->hsms[i].id_hex[0] && !strcmp(f->hsms[i].id_hex, id_hex))
			found = (int)i;
	pthread_mutex_unlock(&f->writs_lock);
	return found;
}

int factory_load_writ(struct factory *f, const char *hsm_id, const uint8_t *buf, size_t len,
		      char reason[HSMC_REASON_MAX], char ret_id[33])
{
	cbor_item_t *req = cbu_new_map(2), *resp = NULL;
	uint8_t id[16];
	size_t i, lo = 0, hi = f->n_hsms;
	int err = WRIT_E_IO, any = 0, unreachable = 0, refused = 0, decrypt = 0;

	reason[0] = 0;
	if (hsm_id) {
		int k = hsm_index(f, hsm_id);
		if (k < 0) {
			(void)!snprintf(reason, HSMC_REASON_MAX, "edge HSM %.16s… that the writ is for is not connected to "
					"this factory (not among --hsm, or it has not answered yet)", hsm_id);
			if (req)
				cbor_decref(&req);
			return WRIT_E_IO;
		}
		lo = (size_t)k;
		hi = lo + 1;
	}
	if (len > WRIT_MAX_SEALED) {
		(void)!snprintf(reason, HSMC_REASON_MAX, "a sealed writ is at most %d bytes", WRIT_MAX_SEALED);
		if (req)
			cbor_decref(&req);
		return WRIT_E_TOOBIG;
	}
	if (!req || cbu_put_uint(req, HSMP_RQ_OP, HSMP_OP_LOAD_WRIT) < 0 || cbu_put_bytes(req, HSMP_RQ_WRIT, buf, len) < 0) {
		if (req)
			cbor_decref(&req);
		return WRIT_E_NOMEM;
	}
	/* Only an HSM that answered may judge; "decrypt" means "not mine". When no HSM took
	 * it, some were unreachable and every one that answered said "decrypt", the right
	 * HSM may be among the unreachable: transient (WRIT_E_IO). */
	for (i = lo; i < hi; i++) {
		char r[HSMC_REASON_MAX];
		int e = factory_hsm_call(f, (int)i, req, &resp, r, 1);
		if (!resp) {
			unreachable++;
			continue; /* unreachable: another HSM may hold it, or retry later */
		}
		any = 1;
		if (e == 0 && cbu_get_fixed(resp, HSMP_RS_WRIT_ID, id, 16) == 0) {
			hex_encode(id, 16, ret_id);
			cbor_decref(&resp);
			cbor_decref(&req);
			return 0;
		}
		cbor_decref(&resp);
		if (e == WRIT_E_DECRYPT) {
			if (!refused && !decrypt) {
				err = WRIT_E_DECRYPT;
				memcpy(reason, r, HSMC_REASON_MAX);
			}
			decrypt = 1;
		} else if (!refused) {
			/* The HSM it is encrypted to refused it: that one's judgement stands. */
			refused = 1;
			err = e < 0 ? e : WRIT_E_PROTO;
			memcpy(reason, r, HSMC_REASON_MAX);
		}
	}
	cbor_decref(&req);
	if (!any) {
		(void)!snprintf(reason, HSMC_REASON_MAX, "no edge HSM answered: the writ stays in the drop until one does");
		return WRIT_E_IO;
	}
	if (!refused && unreachable) {
		(void)!snprintf(reason, HSMC_REASON_MAX, "no reachable edge HSM can decrypt the writ and %d did not answer: "
				"it stays in the drop until they do", unreachable);
		return WRIT_E_IO;
	}
	return err;
}

int factory_firmware_path(struct factory *f, const uint8_t digest[32], char *out, size_t cap)
{
	char hex[65], name[80];

	hex_encode(digest, 32, hex);
	if (snprintf(name, sizeof(name), "firmware/%s", hex) >= (int)sizeof(name))
		return WRIT_E_TOOBIG;
	return path_join(out, cap, f->state, name);
}

int factory_load_bundle(struct factory *f, const uint8_t *buf, size_t len, char reason[HSMC_REASON_MAX],
			char ret_digest[65])
{
	struct bundle *b = malloc(sizeof(*b));
	char path[FACTORY_PATH_MAX];
	int err;

	reason[0] = 0;
	if (!b)
		return WRIT_E_NOMEM;
	err = bundle_verify(buf, len, f->oem_pub, b);
	if (err < 0) {
		(void)!snprintf(reason, HSMC_REASON_MAX, "%s",
				err == WRIT_E_BADSIG ? "the bundle is not signed by the pinned OEM writ-signing key: "
						       "ask the OEM for a bundle made with `writ authority bundle`"
				: err == WRIT_E_TOOBIG ? "the bundle is larger than 8 MiB"
						       : "the bundle is malformed (not a .wbundle of docs/factory-api.md)");
		goto out;
	}
	if ((err = factory_firmware_path(f, b->firmware_digest, path, sizeof(path))) < 0 ||
	    (access(path, F_OK) != 0 && (err = file_write_atomic(path, b->firmware, b->firmware_len, 0644)) < 0)) {
		(void)!snprintf(reason, HSMC_REASON_MAX, "cannot store the firmware image (%s): check free space in the state "
				"directory", writ_strerror(err));
		err = WRIT_E_IO;
		goto out;
	}
	if ((err = store_bundle_put(f->store, b)) < 0) {
		(void)!snprintf(reason, HSMC_REASON_MAX, "the store cannot write (%s): check free space in the state directory",
				writ_strerror(err));
		err = WRIT_E_IO;
		goto out;
	}
	hex_encode(b->version_digest, 32, ret_digest);
	log_info("bundle %s %s loaded (version digest %s, firmware %zu bytes)", b->product, b->version, ret_digest,
		 b->firmware_len);
out:
	free(b);
	return err;
}

/* Move DIR/name into DIR/sub/name; for refusals write DIR/sub/name.reason first. */
static void drop_move(const char *dir, const char *name, const char *sub, const char *why)
{
	char from[FACTORY_PATH_MAX], to[FACTORY_PATH_MAX], rpath[FACTORY_PATH_MAX + 8], subdir[FACTORY_PATH_MAX];

	if (path_join(subdir, sizeof(subdir), dir, sub) < 0 || path_join(from, sizeof(from), dir, name) < 0 ||
	    path_join(to, sizeof(to), subdir, name) < 0)
		return;
	(void)mkdir(subdir, 0755);
	if (why) {
		char line[HSMC_REASON_MAX + 2];
		int n = snprintf(line, sizeof(line), "%s\n", why);
		if (snprintf(rpath, sizeof(rpath), "%s.reason", to) < (int)sizeof(rpath) &&
		    file_write_atomic(rpath, line, n > 0 && (size_t)n < sizeof(line) ? (size_t)n : strlen(line), 0644) < 0)
			log_warn("drop: cannot write %s", rpath);
	}
	if (rename(from, to) < 0 || file_fsync_dir(to) < 0)
		log_error("drop: cannot move %s to %s: %s", from, to, strerror(errno));
}

/* Read a dropped file: never following a symlink, never blocking on a FIFO (both may
 * be swapped in after the directory was listed), a regular file of at most max bytes
 * as fstat says on the opened descriptor. */
static int drop_read(const char *path, size_t max, uint8_t **ret, size_t *ret_len)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t len = 0, want;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY), err = WRIT_E_IO;

	if (fd < 0)
		return WRIT_E_IO;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 0) {
		err = WRIT_E_FORMAT;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		err = WRIT_E_TOOBIG;
		goto out;
	}
	want = (size_t)st.st_size;
	buf = malloc(want + 1);
	if (!buf) {
		err = WRIT_E_NOMEM;
		goto out;
	}
	while (len <= want) { /* one byte past the size: a file that grew is refused */
		n = read(fd, buf + len, want + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len != want) {
		err = len > want ? WRIT_E_TOOBIG : WRIT_E_IO;
		goto out;
	}
	*ret = buf;
	*ret_len = len;
	buf = NULL;
	err = 0;
out:
	free(buf);
	close(fd);
	return err;
}

static int has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), k = strlen(suf);

	return n > k && !strcmp(s + n - k, suf);
}

int factory_offer(struct factory *f, int is_writ, const char *hsm_id, const uint8_t *buf, size_t len,
		  const char *what, char reason[HSMC_REASON_MAX], char out[65], int *ret_err)
{
	int err;

	out[0] = 0;
	if (len > (is_writ ? (size_t)WRIT_MAX_SEALED : (size_t)BUNDLE_MAX)) {
		(void)!snprintf(reason, HSMC_REASON_MAX, "%s", is_writ ? "a sealed writ is at most 64 KiB"
								       : "a bundle is at most 8 MiB");
		err = WRIT_E_TOOBIG;
	} else if (is_writ) {
		err = factory_load_writ(f, hsm_id, buf, len, reason, out);
	} else {
		err = factory_load_bundle(f, buf, len, reason, out);
	}
	if (ret_err)
		*ret_err = err;
	if (err == WRIT_E_IO)
		return FOFFER_RETRY; /* the HSM or the disk is unavailable: try again later */
	if (err < 0) {
		if (!reason[0])
			(void)!snprintf(reason, HSMC_REASON_MAX, "%s", writ_strerror(err));
		if (is_writ)
			fmetrics_hsm_refusal(FM_OP_LOAD, err);
		else
			fmetrics_bundle_refused();
		return FOFFER_REFUSED;
	}
	log_info("%s loaded (%s %s)", what, is_writ ? "writ" : "bundle", out);
	return FOFFER_LOADED;
}

void factory_drop_scan(struct factory *f)
{
	DIR *d;
	struct dirent *e;
	char path[FACTORY_PATH_MAX], reason[HSMC_REASON_MAX], out[65], what[300];
	struct stat st;

	if (!f->drop || !(d = opendir(f->drop)))
		return;
	while ((e = readdir(d)) != NULL && !atomic_load(&f->stop)) {
		int is_writ = has_suffix(e->d_name, ".writ"), is_bundle = has_suffix(e->d_name, ".wbundle");
		uint8_t *buf = NULL;
		size_t len = 0;
		int err;

		if (e->d_name[0] == '.' || (!is_writ && !is_bundle))
			continue;
		if (path_join(path, sizeof(path), f->drop, e->d_name) < 0 || lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		err = drop_read(path, is_writ ? WRIT_MAX_SEALED : BUNDLE_MAX, &buf, &len);
		if (err == WRIT_E_TOOBIG) {
			log_warn("drop: %s refused: too large", e->d_name);
			drop_move(f->drop, e->d_name, "refused", is_writ ? "a sealed writ is at most 64 KiB"
									 : "a bundle is at most 8 MiB");
			continue;
		}
		if (err < 0) {
			if (err == WRIT_E_FORMAT)
				log_warn("drop: %s skipped: not a regular file", e->d_name);
			continue;
		}
		(void)!snprintf(what, sizeof(what), "drop: %s", e->d_name);
		switch (factory_offer(f, is_writ, NULL, buf, len, what, reason, out, NULL)) {
		case FOFFER_RETRY:
			log_warn("drop: %s left in place: %s", e->d_name, reason);
			break; /* the HSM or the disk is unavailable: try again on the next scan */
		case FOFFER_REFUSED:
			log_warn("drop: %s refused: %s", e->d_name, reason);
			drop_move(f->drop, e->d_name, "refused", reason);
			break;
		default:
			drop_move(f->drop, e->d_name, "done", NULL);
		}
		free(buf);
	}
	closedir(d);
}
