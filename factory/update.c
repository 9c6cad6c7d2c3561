/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `writ-factory update` and the serve-side hooks (update.h, docs/releases.md).
 *
 * Layout under --prefix P:  P/versions/V/{files of release V, VERSION, release.cose}
 *                           P/current -> versions/V   (the one switch, by rename(2))
 * Progress in --state S:    S/update.json {installed, previous, staged, state, last_error}
 *                           S/update.pending while a staged update waits for stations
 * States: idle, refused, staged, waiting, switching, checking, installed, rolled-back.
 * A run that finds "switching" or "checking" was killed after the switch and before the
 * health check passed: it switches back to the previous version and restarts first.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#include "base/ct.h"
#include "crypto/cose.h"
#include "crypto/ec.h"
#include "factory/api_json.h"
#include "factory/tls.h"
#include "factory/update.h"
#include "host/file.h"
#include "host/log.h"
#include "host/version.h"
#include "web/httpc.h"
#include "wire/release.h"

#ifndef WRIT_VERSION_STR
#define WRIT_VERSION_STR "0.0.0"
#endif

/* ---- serve-side hooks ---- */

static char serve_state[PATH_MAX];
static char running_version[RELEASE_VERSION_MAX + 1] = WRIT_VERSION_STR;
static atomic_llong last_busy;

void update_serve_init(const char *state_dir)
{
	const char *v = host_version(); /* VERSION next to the executable, else the built one */

	(void)!snprintf(serve_state, sizeof(serve_state), "%s", state_dir ? state_dir : "");
	if (release_version_ok(v))
		(void)!snprintf(running_version, sizeof(running_version), "%s", v);
}

const char *update_version(void) { return running_version; }

void update_note_busy(void) { atomic_store(&last_busy, (long long)time(NULL)); }

int update_busy(void)
{
	long long t = atomic_load(&last_busy);

	return t && (long long)time(NULL) - t < UPDATE_BUSY_SECONDS;
}

int update_pending(void)
{
	char p[PATH_MAX + 32];

	if (!serve_state[0] || snprintf(p, sizeof(p), "%s/update.pending", serve_state) >= (int)sizeof(p))
		return 0;
	return access(p, F_OK) == 0;
}

static json_t *read_json(const char *path)
{
	json_error_t e;

	return json_load_file(path, 0, &e);
}

json_t *update_status_json(void)
{
	char p[PATH_MAX + 32];
	json_t *o = NULL, *out;
	const char *keys[] = { "installed", "staged", "state", "last_error" };
	size_t i;

	if (serve_state[0] && snprintf(p, sizeof(p), "%s/update.json", serve_state) < (int)sizeof(p))
		o = read_json(p);
	if (!(out = json_object()))
		return NULL;
	for (i = 0; i < 4; i++) {
		json_t *v = o ? json_object_get(o, keys[i]) : NULL;

		json_object_set_new(out, keys[i], json_string(json_is_string(v) ? json_string_value(v) : ""));
	}
	if (!json_string_length(json_object_get(out, "installed")))
		json_object_set_new(out, "installed", json_string(running_version));
	if (!json_string_length(json_object_get(out, "state")))
		json_object_set_new(out, "state", json_string("idle"));
	json_object_set_new(out, "running", json_string(running_version));
	json_object_set_new(out, "pending", json_boolean(update_pending()));
	json_decref(o);
	return out;
}

int update_pin_release_key(const char *path, const char *pem, const char *who)
{
	uint8_t pub[WRIT_P256_PUB_LEN], *old = NULL;
	size_t old_len = 0;

	if (!pem)
		return 0; /* a cloud without releases yet */
	if (ec_pub_from_pem((const uint8_t *)pem, strlen(pem), pub) < 0) {
		fprintf(stderr, "%s: the cloud's release_pem is not a P-256 public key: ask the cloud's operator "
				"(writ-cloud release key)\n", who);
		return -1;
	}
	if (file_read(path, 4096, &old, &old_len) == 0) {
		int same = old_len == strlen(pem) && !memcmp(old, pem, old_len);

		free(old);
		if (!same)
			fprintf(stderr, "%s: %s pins another release key than the one this cloud signs with: refused, the "
					"pin is kept (the first key pinned wins). If the operator changed keys, check the new "
					"one with them (writ-cloud release key), replace %s by hand and run this again\n",
				who, path, path);
		return same ? 0 : -1;
	}
	if (file_write_atomic(path, pem, strlen(pem), 0644) < 0) {
		fprintf(stderr, "%s: cannot write %s: %s\n", who, path, strerror(errno));
		return -1;
	}
	printf("release-key %s\n", path);
	return 0;
}

/* ---- the updater ---- */

struct upd {
	const char *prefix, *state, *cloud, *token_file, *channel, *key_file, *health, *restart;
	struct factory_tls tls; /* --tls DIR: the site's TLS folder (cloud-ca.pem, client.*, ca.pem) */
	int tls_now;            /* the TLS client trusts: 0 nothing set, 1 the cloud, 2 this factory */
	unsigned health_seconds, wait_seconds;
	char token[HTTPC_TOKEN_MAX];
	uint8_t pub[WRIT_P256_PUB_LEN];
	/* update.json */
	char installed[RELEASE_VERSION_MAX + 1], previous[RELEASE_VERSION_MAX + 1], staged[RELEASE_VERSION_MAX + 1];
	char failed[RELEASE_VERSION_MAX + 1]; /* failed its health check here: not taken again */
	char st[16], last_error[256];
};

/* Fault injection for the tests: WRIT_UPDATE_CRASH_AT=staged|switched kills this process
 * (SIGKILL, no cleanup) at that point, as a power cut or kill -9 would. */
static void crash_point(const char *where)
{
	const char *at = getenv("WRIT_UPDATE_CRASH_AT");

	if (at && !strcmp(at, where)) {
		log_warn("update: WRIT_UPDATE_CRASH_AT=%s: killing myself", where);
		raise(SIGKILL);
	}
}

static int path_of(char *out, size_t cap, const char *a, const char *b)
{
	return snprintf(out, cap, "%s/%s", a, b) >= (int)cap ? WRIT_E_TOOBIG : 0;
}

static int save(struct upd *u)
{
	char p[PATH_MAX];
	json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I}", "installed", u->installed, "previous", u->previous,
			      "staged", u->staged, "failed", u->failed, "state", u->st, "last_error", u->last_error, "at",
			      (json_int_t)time(NULL));
	char *s = o ? json_dumps(o, JSON_SORT_KEYS) : NULL;
	int err = s && path_of(p, sizeof(p), u->state, "update.json") == 0 ? file_write_atomic(p, s, strlen(s), 0644)
									     : WRIT_E_NOMEM;

	free(s);
	json_decref(o);
	return err;
}

static void set_state(struct upd *u, const char *st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_state(struct upd *u, const char *st, const char *fmt, ...)
{
	va_list ap;

	(void)!snprintf(u->st, sizeof(u->st), "%s", st);
	if (fmt) {
		va_start(ap, fmt);
		(void)!vsnprintf(u->last_error, sizeof(u->last_error), fmt, ap);
		va_end(ap);
	}
	if (save(u) < 0)
		log_error("update: cannot write %s/update.json", u->state);
}

static void load(struct upd *u)
{
	char p[PATH_MAX];
	json_t *o;
	const char *v;

	if (path_of(p, sizeof(p), u->state, "update.json") < 0 || !(o = read_json(p)))
		return;
#define GET(field, key)                                                                          \
	if ((v = json_string_value(json_object_get(o, key))))                                     \
		(void)!snprintf(u->field, sizeof(u->field), "%s", v);
	GET(previous, "previous") GET(failed, "failed") GET(staged, "staged") GET(st, "state") GET(last_error, "last_error")
#undef GET
	json_decref(o);
}

/* The version PREFIX/current points at ("" when none). */
static void current_version(struct upd *u, char out[RELEASE_VERSION_MAX + 1])
{
	char p[PATH_MAX], link[PATH_MAX];
	ssize_t n;

	out[0] = 0;
	if (path_of(p, sizeof(p), u->prefix, "current") < 0 || (n = readlink(p, link, sizeof(link) - 1)) <= 0)
		return;
	link[n] = 0;
	if (!strncmp(link, "versions/", 9) && release_version_ok(link + 9))
		memcpy(out, link + 9, strlen(link + 9) + 1); /* release_version_ok bounded it */
}

/* Point PREFIX/current at versions/V: a new symlink renamed over the old one. */
static int switch_to(struct upd *u, const char *v)
{
	char tmp[PATH_MAX], cur[PATH_MAX], target[64 + RELEASE_VERSION_MAX];

	if (path_of(tmp, sizeof(tmp), u->prefix, "current.new") < 0 || path_of(cur, sizeof(cur), u->prefix, "current") < 0)
		return WRIT_E_TOOBIG;
	(void)!snprintf(target, sizeof(target), "versions/%s", v);
	(void)unlink(tmp);
	if (symlink(target, tmp) < 0 || rename(tmp, cur) < 0 || file_fsync_dir(u->prefix) < 0) {
		log_error("update: cannot switch %s to %s: %s", cur, target, strerror(errno));
		return WRIT_E_IO;
	}
	log_info("update: %s -> %s", cur, target);
	return 0;
}

static int restart(struct upd *u)
{
	const char *cmd = u->restart;
	pid_t pid;
	int status;

	if (!cmd) {
		if (access("/usr/bin/systemctl", X_OK) == 0 || access("/bin/systemctl", X_OK) == 0)
			cmd = "systemctl restart writ-hsmd.service writ-factory.service";
		else {
			log_warn("update: no --restart command and no systemctl: the services keep running the old programs");
			return 0;
		}
	}
	log_info("update: restarting the services: %s", cmd);
	if ((pid = fork()) < 0)
		return WRIT_E_IO;
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return WRIT_E_IO;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		log_error("update: the restart command failed (status %d)", status);
		return WRIT_E_IO;
	}
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* GET the health URL: 1 healthy (200 and, when it says, running version want), 0 not;
 * *busy = the factory's "busy". */
/*
 * With --tls, the TLS client trusts the portal CA (cloud-ca.pem, with the factory's
 * client certificate: mutual TLS) for the cloud, or the factory's own CA (ca.pem) for
 * the health URL: lib/tls keeps one client configuration per process, and the
 * updater's requests to each are never in flight at once.
 */
static int tls_use(struct upd *u, int self)
{
	if (!u->tls.dir || u->tls_now == (self ? 2 : 1))
		return 0;
	if ((self ? factory_tls_self() : factory_tls_client()) < 0)
		return -1;
	u->tls_now = self ? 2 : 1;
	return 0;
}

static int health_once(struct upd *u, const char *want, int *busy, char *why, size_t why_cap)
{
	const char *url = u->health;
	struct httpc_opts ho = { 1000, 3000, 64 * 1024 };
	struct httpc *h = NULL;
	const char *path = strstr(url, "://") ? strchr(strstr(url, "://") + 3, '/') : NULL;
	char base[256];
	json_t *o = NULL;
	const char *v;
	int ok = 0;

	*busy = 0;
	if (!path || (size_t)(path - url) >= sizeof(base)) {
		(void)!snprintf(why, why_cap, "bad health URL");
		return 0;
	}
	memcpy(base, url, (size_t)(path - url));
	base[path - url] = 0;
	if (tls_use(u, 1) < 0) {
		(void)!snprintf(why, why_cap, "no TLS for %s (--tls %s)", url, u->tls.dir);
		return 0;
	}
	if (httpc_new(base, NULL, &ho, &h) < 0)
		return 0;
	if (httpc_json(h, "GET", path, NULL, &o) < 0) {
		(void)!snprintf(why, why_cap, "no answer from %s", url);
	} else if (httpc_status(h) != 200) {
		(void)!snprintf(why, why_cap, "%s answered %ld", url, httpc_status(h));
	} else {
		*busy = o && json_is_true(json_object_get(o, "busy"));
		v = o ? json_string_value(json_object_get(o, "version")) : NULL;
		if (want && v && strcmp(v, want))
			(void)!snprintf(why, why_cap, "running version %s, not %s", v, want);
		else
			ok = 1;
	}
	json_decref(o);
	httpc_free(h);
	return ok;
}

/* Healthy within u->health_seconds? */
static int health_check(struct upd *u, const char *want, char *why, size_t cap)
{
	time_t end = time(NULL) + u->health_seconds;
	int busy;

	if (!u->health)
		return 1;
	do {
		if (health_once(u, want, &busy, why, cap))
			return 1;
		sleep_ms(200);
	} while (time(NULL) < end);
	return 0;
}

static void pending_file(struct upd *u, int on);
static void prune(struct upd *u);

/* Every way out of here ends the update: the stations' pause (update.pending) with it. */
static int rollback(struct upd *u, const char *why)
{
	char hw[200];

	log_error("update: %s; rolling back to %s", why, u->previous[0] ? u->previous : "(nothing)");
	if (!u->previous[0]) {
		set_state(u, "failed", "%s; no previous version to roll back to", why);
		pending_file(u, 0);
		return 4;
	}
	if (switch_to(u, u->previous) < 0 || restart(u) < 0) {
		set_state(u, "failed", "%s; the rollback failed too", why);
		pending_file(u, 0);
		return 1;
	}
	hw[0] = 0;
	(void)!health_check(u, u->previous, hw, sizeof(hw));
	(void)!snprintf(u->installed, sizeof(u->installed), "%s", u->previous);
	set_state(u, "rolled-back", "%.200s", why);
	pending_file(u, 0);
	log_info("update: rolled back to %s", u->previous);
	return 4;
}

/* A run that died after the switch: go back (the new version was never found healthy). */
static int recover(struct upd *u)
{
	char cur[RELEASE_VERSION_MAX + 1];

	if (strcmp(u->st, "switching") && strcmp(u->st, "checking"))
		return 0;
	current_version(u, cur);
	if (strcmp(cur, u->staged) || !u->previous[0]) {
		/* the switch did not happen: the old version still runs */
		set_state(u, "staged", "an earlier update stopped before the switch");
		pending_file(u, 0); /* apply() sets it again while it waits */
		return 0;
	}
	return rollback(u, "an earlier update stopped between the switch and the health check");
}

static int refuse(struct upd *u, const char *v, const char *why)
{
	log_error("update: release %s refused: %s", v ? v : "?", why);
	set_state(u, "refused", "%s: %s", v ? v : "release", why);
	return 3;
}

static int hex_eq(const uint8_t a[32], const uint8_t b[32]) { return memcmp(a, b, 32) == 0; }

static int rm_tree(const char *dir)
{
	pid_t pid;
	int status;

	if ((pid = fork()) < 0)
		return WRIT_E_IO;
	if (pid == 0) {
		execl("/bin/rm", "rm", "-rf", "--", dir, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return WRIT_E_IO;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : WRIT_E_IO;
}

/* Download, check and write every file of r into PREFIX/versions/V. */
static int stage(struct upd *u, struct httpc *h, const struct release *r, const uint8_t *manifest, size_t mlen)
{
	char dir[PATH_MAX], tmpdir[PATH_MAX], p[PATH_MAX + 80], url[512], vs[RELEASE_VERSION_MAX + 2];
	const uint8_t *body;
	uint8_t d[32];
	size_t i, n;
	int rc;

	if (snprintf(dir, sizeof(dir), "%s/versions/%s", u->prefix, r->version) >= (int)sizeof(dir) ||
	    snprintf(tmpdir, sizeof(tmpdir), "%s/versions/.stage-%s", u->prefix, r->version) >= (int)sizeof(tmpdir))
		return 1;
	(void)!snprintf(p, sizeof(p), "%s/versions", u->prefix);
	(void)mkdir(p, 0755);
	(void)rm_tree(tmpdir);
	if (mkdir(tmpdir, 0755) < 0) {
		set_state(u, "failed", "cannot make %s: %s", tmpdir, strerror(errno));
		return 1;
	}
	for (i = 0; i < r->n_files; i++) {
		const struct release_file *f = &r->files[i];

		(void)!snprintf(url, sizeof(url), "/v1/releases/%s/%s/files/%s", r->channel, r->version, f->name);
		if (httpc_request(h, "GET", url, NULL, 0, NULL) < 0 || httpc_status(h) != 200) {
			set_state(u, "failed", "%s: download of %s failed (%ld %s)", r->version, f->name, httpc_status(h),
				  httpc_error(h));
			(void)rm_tree(tmpdir);
			return 1;
		}
		body = httpc_body(h, &n);
		if (n != f->size || ec_sha256(body, n, d) < 0 || !hex_eq(d, f->sha256)) {
			(void)rm_tree(tmpdir);
			return refuse(u, r->version, n != f->size ? "a file's size differs from the manifest"
								   : "a file's SHA-256 differs from the manifest");
		}
		(void)!snprintf(p, sizeof(p), "%s/%s", tmpdir, f->name);
		if (file_write_atomic(p, body, n, f->mode) < 0) {
			set_state(u, "failed", "cannot write %s", p);
			(void)rm_tree(tmpdir);
			return 1;
		}
	}
	(void)!snprintf(vs, sizeof(vs), "%s\n", r->version);
	(void)!snprintf(p, sizeof(p), "%s/VERSION", tmpdir);
	rc = file_write_atomic(p, vs, strlen(vs), 0644);
	(void)!snprintf(p, sizeof(p), "%s/release.cose", tmpdir);
	if (rc < 0 || file_write_atomic(p, manifest, mlen, 0644) < 0 || file_fsync_dir(tmpdir) < 0) {
		set_state(u, "failed", "cannot write into %s", tmpdir);
		(void)rm_tree(tmpdir);
		return 1;
	}
	if (strcmp(r->version, u->installed))
		(void)rm_tree(dir); /* a half-staged or refused earlier copy, never the running one */
	if (rename(tmpdir, dir) < 0) {
		set_state(u, "failed", "cannot rename %s: %s", tmpdir, strerror(errno));
		return 1;
	}
	(void)!snprintf(p, sizeof(p), "%s/versions", u->prefix);
	(void)!file_fsync_dir(p);
	(void)!snprintf(u->staged, sizeof(u->staged), "%s", r->version);
	set_state(u, "staged", "%s", "");
	log_info("update: %s staged in %s (%zu files verified)", r->version, dir, r->n_files);
	return 0;
}

/* Fetch what the cloud offers, verify and stage it. 0 staged, 10 nothing new, else an exit status. */
static int fetch(struct upd *u)
{
	struct httpc *h = NULL;
	json_t *o = NULL;
	char path[128];
	const char *m64, *offered, *why;
	uint8_t *manifest = NULL;
	size_t mlen = 0;
	struct release *r = NULL;
	int rc = 1, err, pinned;

	struct httpc_opts ho = { 3000, 300000, RELEASE_FILE_MAX + 1 }; /* a whole file in one answer */

	if (tls_use(u, 0) < 0) {
		set_state(u, u->st[0] ? u->st : "idle", "no TLS to the cloud (--tls %s): see the message above", u->tls.dir);
		return 1;
	}

	if (httpc_new(u->cloud, u->token, &ho, &h) < 0)
		return 1;
	(void)!snprintf(path, sizeof(path), "/v1/releases/latest?channel=%s", u->channel);
	if (httpc_json(h, "GET", path, NULL, &o) < 0) {
		set_state(u, u->st[0] ? u->st : "idle", "the cloud is unreachable: %s", httpc_error(h));
		goto out;
	}
	if (httpc_status(h) == 404) {
		log_info("update: no release on channel %s", u->channel);
		rc = 10;
		goto out;
	}
	if (httpc_status(h) != 200 || !o) {
		set_state(u, u->st[0] ? u->st : "idle", "GET %s: %ld %s", path, httpc_status(h), httpc_error(h));
		goto out;
	}
	offered = json_string_value(json_object_get(o, "version"));
	m64 = json_string_value(json_object_get(o, "manifest"));
	pinned = json_is_true(json_object_get(o, "pinned"));
	if (offered && m64 && strlen(m64) <= 4 * ((COSE_MAX_MESSAGE + 2) / 3) && (manifest = malloc(strlen(m64) + 1)) &&
	    fj_b64_decode(m64, strlen(m64), manifest, strlen(m64) + 1, &mlen) < 0)
		mlen = 0;
	if (!offered || !m64 || !manifest || !mlen) {
		rc = refuse(u, offered, "the cloud's answer is malformed");
		goto out;
	}
	if (!(r = calloc(1, sizeof(*r))))
		goto out;
	if ((err = release_verify(manifest, mlen, u->pub, r)) < 0) {
		rc = refuse(u, offered, err == WRIT_E_BADSIG ? "bad signature (not the pinned release key)"
							     : "malformed manifest");
		goto out;
	}
	if (u->failed[0] && !strcmp(r->version, u->failed)) {
		rc = refuse(u, offered, "it failed its health check here and was rolled back");
		goto out;
	}
	if (strcmp(r->version, offered)) {
		rc = refuse(u, offered, "the signed version differs from the offered one");
		goto out;
	}
	if (release_accept(r, u->channel, u->installed, pinned ? r->version : NULL, &why) < 0) {
		if (!strcmp(why, "already installed") || !strcmp(why, "the pinned version is installed")) {
			log_info("update: %s is installed, nothing to do", r->version);
			rc = 10;
		} else {
			rc = refuse(u, r->version, why);
		}
		goto out;
	}
	log_info("update: release %s (channel %s%s) verified", r->version, r->channel, pinned ? ", pinned by the OEM" : "");
	rc = stage(u, h, r, manifest, mlen);
out:
	free(r);
	free(manifest);
	json_decref(o);
	httpc_free(h);
	return rc;
}

static void pending_file(struct upd *u, int on)
{
	char p[PATH_MAX];

	if (path_of(p, sizeof(p), u->state, "update.pending") < 0)
		return;
	if (on)
		(void)!file_write_atomic(p, u->staged, strlen(u->staged), 0644);
	else
		(void)unlink(p);
}

/* Apply the staged version: wait for the stations, switch, restart, check. */
static int apply(struct upd *u)
{
	char why[200];
	time_t end = time(NULL) + u->wait_seconds;
	int busy = 0, logged = 0;

	if (!u->staged[0] || !strcmp(u->staged, u->installed))
		return 0;
	pending_file(u, 1);
	while (u->health) {
		why[0] = 0;
		(void)health_once(u, NULL, &busy, why, sizeof(why));
		if (!busy)
			break;
		if (!logged++) {
			set_state(u, "waiting", "%s", "");
			log_info("update: %s waits: a station has a job in progress", u->staged);
		}
		if (time(NULL) >= end) {
			pending_file(u, 0); /* let the stations work on; the next run asks again */
			set_state(u, "staged", "the stations stayed busy for %u s; will try again", u->wait_seconds);
			return 1;
		}
		sleep_ms(500);
	}
	crash_point("staged");
	(void)!snprintf(u->previous, sizeof(u->previous), "%s", u->installed);
	set_state(u, "switching", "%s", "");
	if (switch_to(u, u->staged) < 0) {
		set_state(u, "staged", "the switch failed");
		pending_file(u, 0);
		return 1;
	}
	set_state(u, "checking", "%s", "");
	crash_point("switched");
	/* update.pending stays until the new version passed its health check (or the old one
	 * is back): a paused station resumes only on a factory that will keep running */
	why[0] = 0;
	if (restart(u) < 0) {
		(void)!snprintf(why, sizeof(why), "the restart of %s failed", u->staged);
		return rollback(u, why);
	}
	if (!health_check(u, u->staged, why, sizeof(why))) {
		char w2[240];

		(void)!snprintf(w2, sizeof(w2), "%s failed its health check: %s", u->staged, why);
		(void)!snprintf(u->failed, sizeof(u->failed), "%s", u->staged);
		return rollback(u, w2);
	}
	(void)!snprintf(u->installed, sizeof(u->installed), "%s", u->staged);
	set_state(u, "installed", "%s", "");
	pending_file(u, 0);
	log_info("update: %s installed and healthy", u->installed);
	prune(u);
	return 0;
}

/* After an install: remove the version folders this updater staged (they hold
 * release.cose) other than the installed and the previous one, so PREFIX/versions does
 * not grow by one per release. Folders it did not stage (a package's, one made by hand)
 * and staging leftovers are never touched; a pin to a removed version stages it again. */
static void prune(struct upd *u)
{
	char dir[PATH_MAX], p[PATH_MAX];
	struct dirent *e;
	struct stat st;
	DIR *d;

	if (path_of(dir, sizeof(dir), u->prefix, "versions") < 0 || !(d = opendir(dir)))
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || !strcmp(e->d_name, u->installed) || !strcmp(e->d_name, u->previous))
			continue;
		if (snprintf(p, sizeof(p), "%s/%s/release.cose", dir, e->d_name) >= (int)sizeof(p) ||
		    lstat(p, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) >= (int)sizeof(p))
			continue;
		if (rm_tree(p) < 0)
			log_warn("update: cannot remove the old version %s (remove it by hand)", p);
		else
			log_info("update: removed old version %s (keeping %s and %s)", e->d_name, u->installed,
				 u->previous);
	}
	closedir(d);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: writ-factory update run|check|apply|status --prefix P --state DIR\n"
		   "           [--cloud URL --cloud-token-file F --release-key PEM] [--channel stable]\n"
		   "           [--health URL] [--health-seconds 30] [--wait-seconds 3600] [--restart CMD]\n"
		   "           [--tls DIR [--tls-pin-file F]]\n"
		   "  check  fetch, verify and stage the release writ-cloud offers (latest of the channel, or the OEM's pin)\n"
		   "  apply  switch to the staged release between jobs, restart, health-check, roll back on failure\n"
		   "  run    check, then apply\n"
		   "  status print STATE/update.json\n"
		   "  --tls DIR  the site's TLS folder (writ-factory enrol made it): the cloud is trusted with\n"
		   "             DIR/cloud-ca.pem and the client certificate DIR/client.* (its key in the factory's\n"
		   "             TLS token: --tls-pin-file, SOFTHSM2_CONF), an https --health URL with DIR/ca.pem\n"
		   "Packaged sites run it from writ-factory-update.timer with /etc/writ/factory.conf's WRIT_UPDATE_*.\n"
		   "See docs/releases.md.\n");
}

int update_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "prefix", required_argument, 0, 'p' },	 { "state", required_argument, 0, 's' },
		{ "cloud", required_argument, 0, 'C' },		 { "cloud-token-file", required_argument, 0, 't' },
		{ "channel", required_argument, 0, 'c' },	 { "release-key", required_argument, 0, 'k' },
		{ "health", required_argument, 0, 'H' },	 { "health-seconds", required_argument, 0, 'T' },
		{ "wait-seconds", required_argument, 0, 'W' }, { "restart", required_argument, 0, 'r' },
		{ "tls", required_argument, 0, 'L' },		 { "tls-pin-file", required_argument, 0, 'P' },
		{ "help", no_argument, 0, 'h' },		 { 0, 0, 0, 0 },
	};
	struct upd *u = calloc(1, sizeof(*u));
	const char *cmd;
	uint8_t *pem = NULL;
	size_t pem_len = 0;
	int c, rc = 2;

	if (!u)
		return 1;
	u->channel = "stable";
	u->health_seconds = 30;
	u->wait_seconds = 3600;
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		rc = argc < 2 ? 2 : 0;
		goto out;
	}
	cmd = argv[1];
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, "", lo, NULL)) != -1) {
		switch (c) {
		case 'p': u->prefix = optarg; break;
		case 's': u->state = optarg; break;
		case 'C': u->cloud = optarg; break;
		case 't': u->token_file = optarg; break;
		case 'c': u->channel = optarg; break;
		case 'k': u->key_file = optarg; break;
		case 'H': u->health = optarg; break;
		case 'T': u->health_seconds = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'W': u->wait_seconds = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'r': u->restart = optarg; break;
		case 'L': u->tls.dir = optarg; break;
		case 'P': u->tls.pin_file = optarg; break;
		case 'h': usage(stdout); rc = 0; goto out;
		default: usage(stderr); goto out;
		}
	}
	if (!u->prefix || !u->state || !release_channel_ok(u->channel) ||
	    (strcmp(cmd, "run") && strcmp(cmd, "check") && strcmp(cmd, "apply") && strcmp(cmd, "status"))) {
		usage(stderr);
		goto out;
	}
	factory_tls_options(&u->tls);
	load(u);
	current_version(u, u->installed);
	if (!strcmp(cmd, "status")) {
		if (save(u) == 0) {
			char p[PATH_MAX];
			uint8_t *s = NULL;
			size_t n = 0;

			if (path_of(p, sizeof(p), u->state, "update.json") == 0 && file_read(p, 4096, &s, &n) == 0)
				printf("%s\n", (char *)s);
			free(s);
		}
		rc = 0;
		goto out;
	}
	if ((rc = recover(u)) != 0)
		goto out;
	if (strcmp(cmd, "apply")) {
		if (!u->cloud || !u->token_file || !u->key_file) {
			fprintf(stderr, "writ-factory update %s: --cloud, --cloud-token-file and --release-key are required\n", cmd);
			rc = 2;
			goto out;
		}
		if (file_read(u->key_file, 4096, &pem, &pem_len) < 0 || ec_pub_from_pem(pem, pem_len, u->pub) < 0) {
			fprintf(stderr, "writ-factory update: --release-key %s is not a P-256 public key (PEM)\n", u->key_file);
			rc = 2;
			goto out;
		}
		if (httpc_token_load(u->token_file, NULL, u->token) < 0) {
			fprintf(stderr, "writ-factory update: cannot read the factory token from %s\n", u->token_file);
			rc = 2;
			goto out;
		}
		rc = fetch(u);
		if (rc == 10)
			rc = 0;
		else if (rc != 0)
			goto out;
		if (!strcmp(cmd, "check"))
			goto out;
	}
	rc = apply(u);
out:
	free(pem);
	if (u)
		writ_memzero(u->token, sizeof(u->token));
	free(u);
	return rc;
}
