/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `writ-factory doctor`: checks a site end to end and says, per check, what is wrong
 * and what to do (docs/operations.md, "Check a site"). It looks at the real things: the
 * edge HSM answers on its socket; its journal verifies (`writ-hsmd verify-journal`,
 * the HSM's own verifier); the clock against the journal's last time and the cloud's
 * Date header; the cloud reachable, and the factory's own view of it (since when it is
 * not) and its queues through GET /v1/status; free space where the state lives; the
 * stations the store knows. Exit 0 all good, 1 warnings, 2 failures; --json for tools.
 * It only reads: nothing it does changes the site.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "base/ct.h"
#include "factory/site.h"
#include "factory/store.h"
#include "host/conf.h"
#include "tls/tls.h"
#include "web/httpc.h"
#include "wire/cbu.h"
#include "wire/hsmproto.h"

enum { DOC_OK = 0, DOC_WARN = 1, DOC_FAIL = 2 };
#define DOC_MAX 24

struct doc_check {
	const char *name;
	int level;
	char msg[512], advice[512];
};

struct doctor {
	struct doc_check c[DOC_MAX];
	size_t n;
	int64_t now;
	int64_t journal_time; /* -1: unknown */
};

static void __attribute__((format(printf, 5, 6)))
add(struct doctor *d, const char *name, int level, const char *advice, const char *fmt, ...)
{
	struct doc_check *c;
	va_list ap;

	if (d->n >= DOC_MAX)
		return;
	c = &d->c[d->n++];
	c->name = name;
	c->level = level;
	va_start(ap, fmt);
	(void)!vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	(void)!snprintf(c->advice, sizeof(c->advice), "%s", advice ? advice : "");
}

static void ago(int64_t secs, char *out, size_t cap)
{
	if (secs < 120)
		(void)!snprintf(out, cap, "%lld s", (long long)secs);
	else if (secs < 7200)
		(void)!snprintf(out, cap, "%lld min", (long long)(secs / 60));
	else
		(void)!snprintf(out, cap, "%lld h", (long long)(secs / 3600));
}

static void utc(int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
		(void)!snprintf(out, cap, "%lld", (long long)t);
}

static void check_hsm(struct doctor *d, const char *sock)
{
	cbor_item_t *req = cbu_new_map(1), *resp = NULL;
	char reason[HSMC_REASON_MAX] = "";
	int fd = -1, err;

	if (!req || cbu_put_uint(req, HSMP_RQ_OP, HSMP_OP_STATUS) < 0) {
		err = WRIT_E_NOMEM;
	} else if ((err = hsmc_connect(sock, &fd)) == 0) {
		err = hsmc_call(fd, req, &resp, reason);
	}
	if (!err) {
		size_t writs = 0;
		cbor_item_t *w = cbu_get(resp, HSMP_RS_WRITS);
		if (w && cbor_isa_array(w))
			writs = cbor_array_size(w);
		add(d, "hsm", DOC_OK, NULL, "writ-hsmd answers at %s (%zu writs loaded)", sock, writs);
	} else if (fd < 0) {
		add(d, "hsm", DOC_FAIL,
		    "start it: systemctl start writ-hsmd (its log: journalctl -u writ-hsmd, or /var/log/writ/writ-hsmd.log "
		    "where writ-factory enrol started it); the lines stop while it is down",
		    "the edge HSM does not answer at %s", sock);
	} else {
		add(d, "hsm", DOC_FAIL, "read writ-hsmd's log: it says why (docs/operations.md, \"When something is wrong\")",
		    "the edge HSM at %s refuses its status: %s", sock, reason[0] ? reason : writ_strerror(err));
	}
	if (fd >= 0)
		close(fd);
	if (req)
		cbor_decref(&req);
	if (resp)
		cbor_decref(&resp);
}

/* writ-hsmd next to this program, else on the packages' path. */
static void hsmd_path(char *out, size_t cap)
{
	char self[FACTORY_PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = 0;
		if ((slash = strrchr(self, '/'))) {
			*slash = 0;
			if ((size_t)snprintf(out, cap, "%s/writ-hsmd", self) < cap && access(out, X_OK) == 0)
				return;
		}
	}
	(void)!snprintf(out, cap, "/usr/bin/writ-hsmd");
}

static void check_journal(struct doctor *d, const char *state)
{
	char exe[FACTORY_PATH_MAX], buf[1024], *p;
	size_t got = 0;
	int pfd[2], st = 0;
	pid_t pid;

	d->journal_time = -1;
	if (path_join(buf, sizeof(buf), state, "journal") < 0 || access(buf, R_OK) != 0) {
		add(d, "journal", DOC_FAIL, "run writ-factory doctor as root, or initialise the HSM with writ-factory enrol",
		    "cannot read the HSM journal %s: %s", buf, strerror(errno));
		return;
	}
	hsmd_path(exe, sizeof(exe));
	if (pipe(pfd) < 0 || (pid = fork()) < 0) {
		add(d, "journal", DOC_FAIL, NULL, "cannot run %s: %s", exe, strerror(errno));
		return;
	}
	if (pid == 0) {
		char *argv[] = { exe, "verify-journal", "--state", (char *)state, NULL };
		close(pfd[0]);
		dup2(pfd[1], STDOUT_FILENO);
		dup2(pfd[1], STDERR_FILENO);
		execv(exe, argv);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		ssize_t r = read(pfd[0], buf + got, sizeof(buf) - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || (got += (size_t)r) == sizeof(buf) - 1)
			break;
	}
	buf[got] = 0;
	close(pfd[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && (p = strstr(buf, "journal ok"))) {
		char *l = p;
		l[strcspn(l, "\n")] = 0;
		if ((p = strstr(l, "last time ")))
			d->journal_time = strtoll(p + 10, NULL, 10);
		if (strstr(l, "torn tail"))
			add(d, "journal", DOC_WARN,
			    "an interrupted write (crash, power loss); writ-hsmd cuts it at its next start and released "
			    "nothing from it; if it stays, restart writ-hsmd",
			    "the HSM journal verifies, with a torn tail: %s", l);
		else
			add(d, "journal", DOC_OK, NULL, "the HSM journal verifies: %s", l);
	} else {
		buf[strcspn(buf, "\n")] = 0;
		add(d, "journal", DOC_FAIL,
		    "keep the journal file for investigation, do not delete it; contact the OEM and restore from a verified "
		    "copy (docs/operations.md)",
		    "the HSM journal does not verify: %s", buf[0] ? buf : "writ-hsmd verify-journal failed");
	}
}

/* The cloud's health, with its Date header. */
struct probe {
	int64_t date; /* 0: none */
};

static size_t on_header(char *b, size_t size, size_t n, void *arg)
{
	struct probe *p = arg;
	size_t len = size * n;
	char line[128];

	if (len > 5 && len < sizeof(line) && !strncasecmp(b, "Date:", 5)) {
		memcpy(line, b + 5, len - 5);
		line[len - 5] = 0;
		line[strcspn(line, "\r\n")] = 0;
		p->date = (int64_t)curl_getdate(line, NULL);
		if (p->date < 0)
			p->date = 0;
	}
	return len;
}

static size_t discard(char *b, size_t size, size_t n, void *arg)
{
	(void)b;
	(void)arg;
	return size * n;
}

/* cloud_ca: the portal CA to trust for an https:// cloud (the TLS folder's
 * cloud-ca.pem), or NULL for the system's. */
static void check_cloud(struct doctor *d, const char *cloud, const char *cloud_ca, json_t *fstatus,
			long long tolerance)
{
	char url[1200], when[64], since[32];
	struct probe p = { 0 };
	long code = 0;
	CURLcode rc;
	CURL *c;
	json_t *fc = fstatus ? json_object_get(fstatus, "cloud") : NULL;
	json_int_t last_ok = json_integer_value(json_object_get(fc, "last_ok"));
	json_int_t down_since = json_integer_value(json_object_get(fc, "down_since"));

	if (!cloud || !cloud[0]) {
		add(d, "cloud", DOC_WARN, "enrol the site: writ-factory enrol --cloud URL --code CODE",
		    "no cloud is configured (the site runs from writs and bundles in its file drop only)");
		return;
	}
	if (snprintf(url, sizeof(url), "%s/v1/health", cloud) >= (int)sizeof(url) || !(c = curl_easy_init())) {
		add(d, "cloud", DOC_FAIL, NULL, "cannot check %s", cloud);
		return;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &p);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	if (cloud_ca)
		curl_easy_setopt(c, CURLOPT_CAINFO, cloud_ca);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (rc == CURLE_OK && code > 0) {
		add(d, "cloud", code < 500 ? DOC_OK : DOC_WARN,
		    code < 500 ? NULL : "the cloud answers but is unwell: tell the OEM; production goes on offline",
		    "the cloud %s answers (HTTP %ld)", cloud, code);
	} else {
		const char *why = curl_easy_strerror(rc);
		int64_t from = down_since ? down_since : last_ok;
		if (from) {
			utc(from, when, sizeof(when));
			ago(d->now - from, since, sizeof(since));
			add(d, "cloud", DOC_WARN,
			    "production goes on offline within the writs' windows and records are queued; check the network "
			    "or proxy to the cloud, or ask the OEM whether it is down",
			    "the cloud %s is unreachable (%s); %s %s (%s ago)", cloud, why,
			    down_since ? "the factory lost it at" : "the factory's last good sync was", when, since);
		} else {
			add(d, "cloud", DOC_WARN,
			    "production goes on offline within the writs' windows and records are queued; check the network "
			    "or proxy to the cloud, or ask the OEM whether it is down",
			    "the cloud %s is unreachable (%s); the factory has not synced with it since it started", cloud, why);
		}
	}
	curl_easy_cleanup(c);
	if (p.date) {
		int64_t skew = d->now - p.date, a = skew < 0 ? -skew : skew;
		if (a > tolerance)
			add(d, "clock-cloud", DOC_FAIL, "set the clock right (NTP: timedatectl set-ntp true)",
			    "this host's clock is %lld s %s the cloud's (beyond the tolerance of %lld s)", (long long)a,
			    skew < 0 ? "behind" : "ahead of", tolerance);
		else if (a > 60)
			add(d, "clock-cloud", DOC_WARN, "check NTP (timedatectl)",
			    "this host's clock is %lld s %s the cloud's", (long long)a, skew < 0 ? "behind" : "ahead of");
		else
			add(d, "clock-cloud", DOC_OK, NULL, "the clock agrees with the cloud's (%lld s apart)", (long long)a);
	}
}

/* The client certificate for writ-cloud (mutual TLS), when the TLS folder has one: a
 * warning within 30 days of its expiry (writ-factory-tls-renew.timer should have renewed
 * it), a failure once expired or when client.pem does not go with client.key. */
static void check_client_cert(struct doctor *d, const char *tls_dir)
{
	char cert[FACTORY_PATH_MAX + 16], key[FACTORY_PATH_MAX + 16], when[64], *pem = NULL;
	int64_t not_after = 0, left;
	int err;

	if ((size_t)snprintf(cert, sizeof(cert), "%s/client.pem", tls_dir) >= sizeof(cert) ||
	    (size_t)snprintf(key, sizeof(key), "%s/client.key", tls_dir) >= sizeof(key) || access(key, F_OK) < 0)
		return; /* no mutual TLS here */
	err = tls_client_pair_pem(cert, key, &pem);
	if (err == 0)
		err = tls_cert_info(pem, NULL, 0, &not_after);
	free(pem);
	if (err < 0) {
		add(d, "client-cert", DOC_FAIL, "restore the pair, or enrol again with a new code (docs/operations.md \"TLS\")",
		    "%s: %s", cert, err == WRIT_E_STATE ? "does not go with client.key" : writ_strerror(err));
		return;
	}
	utc(not_after, when, sizeof(when));
	left = not_after - d->now;
	if (left <= 0)
		add(d, "client-cert", DOC_FAIL, "enrol again with a new code: an expired certificate cannot be renewed",
		    "the client certificate for writ-cloud expired %s", when);
	else if (left <= 30 * 86400LL)
		add(d, "client-cert", DOC_WARN,
		    "writ-factory tls-renew (is writ-factory-tls-renew.timer enabled? systemctl list-timers)",
		    "the client certificate for writ-cloud expires %s, in %lld days", when, (long long)(left / 86400));
	else
		add(d, "client-cert", DOC_OK, NULL, "the client certificate for writ-cloud expires %s, in %lld days", when,
		    (long long)(left / 86400));
}

static void check_clock_journal(struct doctor *d, long long tolerance)
{
	char when[64];
	int64_t behind;

	if (d->journal_time < 0)
		return;
	behind = d->journal_time - d->now;
	utc(d->journal_time, when, sizeof(when));
	if (behind > tolerance)
		add(d, "clock-journal", DOC_FAIL,
		    "correct the clock (NTP); the HSM refuses to work with a clock before its journal's last time, and "
		    "resumes as soon as it is right",
		    "the clock reads %lld s before the HSM journal's last entry (%s)", (long long)behind, when);
	else if (behind > 0)
		add(d, "clock-journal", DOC_WARN, "check NTP (timedatectl)",
		    "the clock reads %lld s before the HSM journal's last entry (%s), within the tolerance", (long long)behind,
		    when);
	else
		add(d, "clock-journal", DOC_OK, NULL, "the clock is after the HSM journal's last entry (%s)", when);
}

static void check_disk(struct doctor *d, const char *what, const char *dir, long long min_mb)
{
	struct statvfs v;
	unsigned long long free_mb;

	if (statvfs(dir, &v) < 0) {
		add(d, "disk", DOC_FAIL, "check the state folder and its disk", "cannot look at %s (%s): %s", dir, what,
		    strerror(errno));
		return;
	}
	free_mb = (unsigned long long)v.f_bavail * v.f_frsize / (1024 * 1024);
	if (free_mb < (unsigned long long)min_mb)
		add(d, "disk", DOC_FAIL,
		    "free space there now: with a full disk the HSM releases no DAC and the factory stops the lines",
		    "only %llu MiB free for %s (%s), below %lld MiB", free_mb, what, dir, min_mb);
	else if (free_mb < 2ULL * (unsigned long long)min_mb)
		add(d, "disk", DOC_WARN, "free space there soon", "%llu MiB free for %s (%s), less than twice %lld MiB",
		    free_mb, what, dir, min_mb);
	else
		add(d, "disk", DOC_OK, NULL, "%llu MiB free for %s (%s)", free_mb, what, dir);
}

/* GET /v1/status of the running writ-factory; NULL (and a check) when it does not answer. */
static json_t *factory_status(struct doctor *d, const char *url, const char *token_file)
{
	char token[HTTPC_TOKEN_MAX];
	struct httpc *h = NULL;
	json_t *a = NULL;
	int err;

	if (!token_file || httpc_token_load(token_file, NULL, token) < 0) {
		add(d, "factory", DOC_WARN, "writ-factory enrol makes it; or give --factory-token-file F (an mes token)",
		    "no token to read the factory's status (%s): its queues and cloud view are not checked",
		    token_file ? token_file : "none given");
		return NULL;
	}
	err = httpc_new(url, token, NULL, &h);
	writ_memzero(token, sizeof(token));
	if (err == 0)
		err = httpc_json(h, "GET", "/v1/status", NULL, &a);
	if (err < 0 || httpc_status(h) != 200) {
		if (err < 0)
			add(d, "factory", DOC_FAIL,
			    "start it: systemctl start writ-factory (its log: journalctl -u writ-factory or "
			    "/var/log/writ/writ-factory.log)",
			    "writ-factory does not answer at %s: %s", url, h ? httpc_error(h) : writ_strerror(err));
		else
			add(d, "factory", DOC_FAIL, "the doctor's token was refused: make a new one (writ-factory token add --role mes)",
			    "writ-factory at %s answers HTTP %ld to GET /v1/status", url, httpc_status(h));
		json_decref(a);
		httpc_free(h);
		return NULL;
	}
	httpc_free(h);
	{
		json_t *hsms = json_object_get(a, "hsms"), *hv;
		size_t i, up = 0;
		json_array_foreach(hsms, i, hv)
			up += json_is_true(json_object_get(hv, "up"));
		if (json_array_size(hsms) && up < json_array_size(hsms))
			add(d, "factory", DOC_FAIL, "start writ-hsmd; writ-factory reconnects by itself",
			    "writ-factory at %s answers, but only %zu of its %zu edge HSMs are up", url, up, json_array_size(hsms));
		else
			add(d, "factory", DOC_OK, NULL, "writ-factory answers at %s (%lld records, %zu edge HSMs up)", url,
			    (long long)json_integer_value(json_object_get(a, "records")), up);
	}
	return a;
}

static void check_queues(struct doctor *d, json_t *st)
{
	json_t *fc = json_object_get(st, "cloud");
	long long webhook = json_integer_value(json_object_get(st, "queue"));
	long long recs = json_integer_value(json_object_get(fc, "queued_records"));
	long long jour = json_integer_value(json_object_get(fc, "queued_journal"));
	int reachable = !json_is_false(json_object_get(fc, "reachable"));
	size_t stopped = json_array_size(json_object_get(fc, "journal_stopped"));

	if (stopped)
		add(d, "queue", DOC_FAIL,
		    "the cloud refused the HSM journal (a fork or a gap): do not reset anything; contact the OEM with the "
		    "factory's log",
		    "the journal push to the cloud is stopped for %zu edge HSM(s)", stopped);
	else if ((recs || jour) && !reachable)
		add(d, "queue", DOC_WARN, "they go when the cloud is back; nothing is lost",
		    "%lld records and %lld journal entries wait for the cloud; %lld for the MES webhook", recs, jour, webhook);
	else
		add(d, "queue", DOC_OK, NULL, "%lld records and %lld journal entries wait for the cloud, %lld for the MES webhook",
		    recs, jour, webhook);
}

/* The updater (docs/releases.md), as the service reports it in GET /v1/status "update". */
static void check_update(struct doctor *d, json_t *st, const char *release_key)
{
	json_t *u = json_object_get(st, "update");
	const char *state = json_string_value(json_object_get(u, "state"));
	const char *installed = json_string_value(json_object_get(u, "installed"));
	const char *running = json_string_value(json_object_get(u, "running"));
	const char *why = json_string_value(json_object_get(u, "last_error"));
	int pinned = access(release_key, R_OK) == 0;

	if (!u || !state || !installed || !running)
		return; /* a service from before the updater */
	if (!why)
		why = "";
	if (!strcmp(state, "rolled-back") || !strcmp(state, "failed"))
		add(d, "update", DOC_WARN,
		    "the site runs the version it ran before; see journalctl -u writ-factory-update.service (or update.json "
		    "in the factory's state) and tell the cloud's operator",
		    "the last update %s: %s", !strcmp(state, "failed") ? "failed" : "was rolled back", why);
	else if (!strcmp(state, "refused"))
		add(d, "update", DOC_WARN,
		    "a release the cloud offered was refused (signature, channel or version): the site keeps its version; "
		    "tell the cloud's operator what it says",
		    "the updater refused a release: %s", why);
	else if (strcmp(installed, running))
		add(d, "update", DOC_WARN, "restart the services (systemctl restart writ-hsmd writ-factory)",
		    "version %s is installed but the service runs %s", installed, running);
	else
		add(d, "update", DOC_OK, NULL, "version %s (updater: %s; %s)", running, state,
		    pinned ? "release key pinned" : "no release key pinned: automatic updates off");
}

struct st_count {
	int enrolled, pending, revoked, seen_day;
	int64_t now, last; /* last: the latest DAC of any station */
	char last_name[128];
};

static void count_station(void *arg, int64_t id, const char *name, const char *line, int enrolled, int revoked)
{
	struct st_count *c = arg;

	(void)id;
	(void)name;
	(void)line;
	if (revoked)
		c->revoked++;
	else if (enrolled)
		c->enrolled++;
	else
		c->pending++;
}

static void seen_station(void *arg, int64_t id, const char *name, const char *line, int64_t last_dac)
{
	struct st_count *c = arg;

	(void)id;
	if (last_dac && c->now - last_dac < 86400)
		c->seen_day++;
	if (last_dac > c->last) {
		c->last = last_dac;
		(void)!snprintf(c->last_name, sizeof(c->last_name), "%s (line %s)", name, line);
	}
}

static void check_stations(struct doctor *d, const char *state)
{
	char path[FACTORY_PATH_MAX], since[32];
	struct st_count c = { .now = d->now };
	struct store *s = NULL;

	if (path_join(path, sizeof(path), state, "factory.db") < 0 || access(path, R_OK) != 0 || store_open(path, 0, &s) < 0) {
		add(d, "stations", DOC_FAIL, "initialise the site with writ-factory enrol (or run doctor as root)",
		    "cannot open the factory's store %s", path);
		return;
	}
	if (store_station_list(s, count_station, &c) < 0 || store_station_seen(s, seen_station, &c) < 0) {
		add(d, "stations", DOC_FAIL, NULL, "cannot read the stations from %s", path);
	} else if (!c.enrolled) {
		add(d, "stations", DOC_WARN, "add one: writ-factory station add --name N --line L, then writ-station enrol",
		    "no station is enrolled (%d pending, %d revoked)", c.pending, c.revoked);
	} else if (!c.last) {
		add(d, "stations", DOC_OK, NULL, "%d stations enrolled (%d pending, %d revoked); none has asked for a DAC yet",
		    c.enrolled, c.pending, c.revoked);
	} else {
		ago(d->now - c.last, since, sizeof(since));
		add(d, "stations", DOC_OK, NULL,
		    "%d stations enrolled (%d pending, %d revoked), %d seen working in the last 24 h; the last: %s, %s ago",
		    c.enrolled, c.pending, c.revoked, c.seen_day, c.last_name, since);
	}
	store_close(s);
}

int site_doctor(const struct doctor_opts *o)
{
	static const char *const names[] = { "ok", "WARN", "FAIL" };
	struct doctor *d = calloc(1, sizeof(*d));
	char furl[300], host[256], ca[FACTORY_PATH_MAX], cloud_ca[FACTORY_PATH_MAX];
	int tls, have_cloud_ca;
	const char *hsm, *hstate, *fstate, *cloud, *url, *tokf, *colon;
	long long min_mb = o->min_free_mb > 0 ? o->min_free_mb : 256, tol = o->tolerance > 0 ? o->tolerance : 300;
	json_t *fst = NULL;
	struct site s;
	size_t i;
	int worst = DOC_OK;

	if (!d)
		return 2;
	if (site_load(o->conf_dir ? o->conf_dir : SITE_CONF_DIR, &s) < 0) {
		free(d);
		return 3;
	}
	d->now = (int64_t)time(NULL);
	hsm = o->hsm ? o->hsm : s.hsmd_socket;
	hstate = o->hsmd_state ? o->hsmd_state : s.hsmd_state;
	fstate = o->state ? o->state : s.factory_state;
	cloud = o->cloud ? o->cloud : s.cloud_url;
	tokf = o->factory_token_file ? o->factory_token_file : s.doctor_token;
	/* the service serves TLS when its folder has a server certificate (the start
	 * wrapper's rule): then reach it over https, trusting the factory CA there */
	tls = path_join(ca, sizeof(ca), s.tls_dir, "server.pem") == 0 && access(ca, F_OK) == 0 &&
	      path_join(ca, sizeof(ca), s.tls_dir, "ca.pem") == 0 && access(ca, R_OK) == 0;
	have_cloud_ca = path_join(cloud_ca, sizeof(cloud_ca), s.tls_dir, "cloud-ca.pem") == 0 && access(cloud_ca, R_OK) == 0;
	url = o->factory_url;
	if (!url) {
		colon = strrchr(s.listen, ':');
		(void)!snprintf(host, sizeof(host), "%.*s", colon ? (int)(colon - s.listen) : 0, s.listen);
		(void)!snprintf(furl, sizeof(furl), "%s://%s:%s", tls ? "https" : "http",
				!host[0] || !strcmp(host, "0.0.0.0") ? "127.0.0.1" : host, colon ? colon + 1 : "8440");
		url = furl;
	}
	if (httpc_global_init() < 0) {
		free(d);
		return 2;
	}
	if (tls) {
		const struct tls_client_conf cc = { ca, NULL, NULL };
		if (tls_client_setup(&cc) < 0) {
			fprintf(stderr, "writ-factory doctor: cannot trust %s\n", ca);
			free(d);
			return 2;
		}
	}
	check_hsm(d, hsm);
	check_journal(d, hstate);
	check_clock_journal(d, tol);
	fst = factory_status(d, url, tokf);
	check_cloud(d, cloud, have_cloud_ca ? cloud_ca : NULL, fst, tol);
	check_client_cert(d, s.tls_dir);
	if (fst) {
		check_queues(d, fst);
		check_update(d, fst, s.release_key);
	}
	check_disk(d, "the factory", fstate, min_mb);
	check_disk(d, "the edge HSM", hstate, min_mb);
	check_stations(d, fstate);
	json_decref(fst);

	for (i = 0; i < d->n; i++)
		if (d->c[i].level > worst)
			worst = d->c[i].level;
	if (o->json) {
		json_t *arr = json_array(), *out;
		char *text;
		for (i = 0; i < d->n; i++)
			json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s*}", "check", d->c[i].name, "level",
							     d->c[i].level == DOC_OK	? "ok"
							     : d->c[i].level == DOC_WARN ? "warning"
											   : "failure",
							     "message", d->c[i].msg, "advice",
							     d->c[i].advice[0] ? d->c[i].advice : NULL));
		out = json_pack("{s:s,s:i,s:o}", "result", worst == DOC_OK ? "ok" : worst == DOC_WARN ? "warnings" : "failures",
				"exit", worst, "checks", arr);
		text = out ? json_dumps(out, JSON_INDENT(2)) : NULL;
		if (text)
			printf("%s\n", text);
		free(text);
		json_decref(out);
	} else {
		for (i = 0; i < d->n; i++) {
			printf("%-4s %-13s %s\n", names[d->c[i].level], d->c[i].name, d->c[i].msg);
			if (d->c[i].level != DOC_OK && d->c[i].advice[0])
				printf("     %-13s -> %s\n", "", d->c[i].advice);
		}
		printf("%s\n", worst == DOC_OK	   ? "all good"
			       : worst == DOC_WARN ? "warnings: the site works; see above"
						   : "failures: see above for what to do");
	}
	free(d);
	return worst;
}
