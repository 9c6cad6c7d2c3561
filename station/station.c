/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-station: one programming line end to end. `enrol` trades a one-time code for the
 * station's token; `run` fetches a job from writ-factory (recipe, Matter settings,
 * firmware checked against its digest and secure-boot signature before any chip is
 * touched), then provisions chips as they are attached, N at a time: the chip steps
 * through a driver (station/driver.h), DACs and wrapped secrets through the factory
 * (the station never talks to an HSM), then verify (STATUS), record (POST /v1/records,
 * only after verify) and label. A failed device is recorded with its step and reason;
 * the line stops cleanly when the factory says the HSM or its store cannot go on (503)
 * or the job is spent (409).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/ct.h"
#include "crypto/ec.h"
#include "crypto/fwsig.h"
#include "crypto/matter_cert.h"
#include "crypto/x509.h"
#include "host/harden.h"
#include "host/log.h"
#include "host/file.h"
#include "host/version.h"
#include "matter/label.h"
#include "station/driver.h"
#include "station/factory_client.h"
#include "station/line.h"
#include "station/rework.h"
#include "station/selfupdate.h"
#include "station/telemetry.h"

#define MAX_WORKERS 64
#define MAX_PORTS 100000
#define ADDR_MAX 300
#define N_STEPS 13

static const char *const step_names[N_STEPS] = { "discover", "keys",   "dac",    "chain", "factory-data",
						 "secret",   "otp",    "firmware", "lock", "verify",
						 "record",   "label",  "other" };

static volatile sig_atomic_t g_signal;
static char **g_argv;          /* main's, for the exec of a new version */
static struct selfupdate g_su; /* installed under PREFIX/versions/V? */

static void on_signal(int sig)
{
	g_signal = sig;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	nanosleep(&ts, NULL);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage:\n"
		"  writ-station enrol --factory URL (--code-file F | --code -) --name NAME --line LINE --out TOKEN_FILE\n"
		"        [--factory-ca F]\n"
		"  writ-station run --factory URL --token-file F --job WRIT\n"
		"        [--port ADDR]... [--port-dir DIR] [--parallel N] [--count N] [--label-dir DIR] [--once]\n"
		"        [--no-seccomp]   (debugging only: run confines itself once the job is fetched)\n"
		"        [--timeout-ms MS] [--factory-retry-s S] [--factory-ca F] [--telemetry-window S]\n"
		"        [--state DIR] [--update-wait-s S]\n"
		"%s"
		"  writ-station --help | --version   (the version: VERSION next to the program, else the built one)\n"
		"\n"
		"writ-station is the line operator's tool: it takes a job (a writ) from writ-factory and\n"
		"provisions chips one by one or in parallel through a chip driver: keys and CSR on the chip,\n"
		"DAC and wrapped secrets through the factory (a station never talks to an HSM), chain,\n"
		"Matter factory data, firmware, lock, verify, record, label (docs/operations.md).\n"
		"\n"
		"Commands:\n"
		"  enrol   trade a one-time code (from `writ-factory station add`) for the station's token,\n"
		"          written to --out with mode 0600; the token is never shown or logged\n"
		"  run     run a job until --count devices, the job's end (quantity, window, revoked),\n"
		"          --once when every present port is done, or SIGINT/SIGTERM (devices in progress\n"
		"          are finished first). When the factory says an update is pending, the devices in\n"
		"          progress are finished and the line pauses (a progress line says so) until the\n"
		"          factory is back without one, then goes on (docs/releases.md)\n"
		"  rework  reopen one made device under the OEM's rework rights: a debug-unlock token\n"
		"          from writ-factory's edge HSM for the chip's challenge, unlock, the operation\n"
		"          (reflash: new signed firmware through the chip's firmware commands, still\n"
		"          secure-boot checked; debug: the debug port stays open --hold S seconds), lock,\n"
		"          then a rework record (docs/operations.md, \"Rework a device\")\n"
		"\n"
		"Options:\n"
		"  --factory URL         writ-factory's API, e.g. https://factory:8440\n"
		"  --factory-ca F        trust only F (PEM: the factory's TLS CA, its --tls DIR/ca.pem) for an\n"
		"                        https:// factory; without it, the system's CAs\n"
		"  --code-file F         enrol: the file holding the one-time code\n"
		"  --code -              enrol: read the code from stdin (any other value is refused: the\n"
		"                        command line is visible to every user of the host)\n"
		"  --name NAME           enrol: this station's name (as given to station add)\n"
		"  --line LINE           enrol: its production line\n"
		"  --out TOKEN_FILE      enrol: where to write the token (mode 0600)\n"
		"  --token-file F        run: the token enrol wrote (refused when readable by others)\n"
		"  --job WRIT            run: the job's writ id (32 hex digits)\n"
		"  --port ADDR           run: a chip's link, unix:PATH, tcp:HOST:PORT or tty:PATH (repeatable)\n"
		"  --port-dir DIR        run: provision every chip-*.sock appearing in DIR (scanned every\n"
		"                        0.5 s), each once per run\n"
		"  --parallel N          run: chips at a time, 1..%d (default 4)\n"
		"  --count N             run: stop after N devices\n"
		"  --label-dir DIR       run: write UID.png, UID.svg, UID.dac.der and pai.der per device\n"
		"  --once                run: stop when every port present is done\n"
		"  --timeout-ms MS       run: a chip's answer timeout, 100..600000 (default 5000)\n"
		"  --factory-retry-s S   run: retry an unreachable factory with backoff for S seconds,\n"
		"                        0..3600 (default 30)\n"
		"  --telemetry-window S  run: line telemetry per window of S seconds, 10..3600, posted to\n"
		"                        the factory as each window ends (default 60; 0: none)\n"
		"  --state DIR           run: the station's state directory (made if missing): unsent telemetry\n"
		"                        is kept in DIR/telemetry.spool and survives a crash or a restart;\n"
		"                        without it, unsent telemetry is kept in memory only\n"
		"  --update-wait-s S     run: the longest pause for an update of the factory, 1..86400\n"
		"                        (default 1800); then the line stops with an error\n"
		"  --device UID          rework: the chip's UID (32 hex digits)\n"
		"  --debug-root-pub K    rework: the OEM's debug-root public key, hex or a file\n"
		"                        (`writ authority pubkey --key debug-root`); the chain must end there\n"
		"  --op OP               rework: debug, reflash or reprovision (default debug)\n"
		"  --perms LIST          rework: permissions to ask (debug, reflash or bit numbers; default\n"
		"                        the --op's)\n"
		"  --session S           rework: seconds the unlock may last (default 600)\n"
		"  --writ ID             rework: use this writ's rights (default: the factory picks)\n"
		"  --hold S              rework --op debug: seconds to keep the port open before locking\n"
		"  --firmware IMG, --fw-version V, --fw-sig SIG, --sb-pub K\n"
		"                        rework --op reflash: the new image, its version and signature\n"
		"  --help                this page\n"
		"\n"
		"Environment:\n"
		"  WRIT_ENROL_CODE   enrol: the one-time code, when neither --code-file nor --code - is given\n"
		"\n"
		"Files:\n"
		"  TOKEN_FILE        the station's credential (mode 0600): keep it like a password; a\n"
		"                    revoked or lost station is enrolled again with a new code\n"
		"  --label-dir DIR   the labels and certificates of the devices made\n"
		"  --state DIR       telemetry.spool (telemetry the factory has not acknowledged) and\n"
		"                    telemetry.lock (one station per DIR)\n"
		"  PREFIX/current    a station started from PREFIX/versions/V/writ-station (with VERSION\n"
		"                    there) execs the version PREFIX/current names when it changes,\n"
		"                    between devices\n"
		"\n"
		"stderr shows a progress line, one line per failed device (port, UID, step, reason) and a\n"
		"summary; stdout gets the summary as key=value lines for scripts.\n"
		"\n"
		"Exit status:\n"
		"  0 no device failed; 1 some failed or the line stopped on an error (401/403/503 from\n"
		"  the factory, a firmware that does not verify, a pause for an update longer than\n"
		"  --update-wait-s); 2 usage.\n"
		"\n"
		"Example:\n"
		"  writ-station enrol --factory http://factory:8440 --code-file bench-3.code --name bench-3 \\\n"
		"      --line L2 --out /etc/writ/station.token\n"
		"  writ-station run --factory http://factory:8440 --token-file /etc/writ/station.token \\\n"
		"      --job 0123456789abcdef0123456789abcdef --port-dir /run/chips --parallel 8 --label-dir labels/\n",
		station_rework_usage, MAX_WORKERS);
}

static int parse_ul(const char *s, unsigned long min, unsigned long max, unsigned long *ret, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || *s == '-' || v < min || v > max) {
		fprintf(stderr, "writ-station: %s \"%s\" is not a number in %lu..%lu\n", what, s, min, max);
		return -1;
	}
	*ret = v;
	return 0;
}

/* ---- enrol ---- */

#define CODE_MAX 256u

/* The one-time code: the first line of path ("-": stdin), or $WRIT_ENROL_CODE when path
 * is NULL. Printable ASCII, 1..CODE_MAX-1 characters, surrounding blanks and the line
 * end dropped. 0 or -1 with a message; the caller wipes ret. */
static int read_code(const char *path, char ret[CODE_MAX])
{
	char buf[CODE_MAX + 2];
	size_t n = 0, s = 0;
	int rc = 0;

	memset(buf, 0, sizeof buf);
	if (!path) {
		const char *e = getenv("WRIT_ENROL_CODE");
		if (!e || !*e) {
			fprintf(stderr, "writ-station enrol: give the one-time code with --code-file F, --code - (stdin) "
					"or WRIT_ENROL_CODE\n");
			return -1;
		}
		n = strnlen(e, sizeof buf - 1);
		memcpy(buf, e, n);
	} else {
		FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
		if (!f) {
			fprintf(stderr, "writ-station enrol: cannot read the code file %s: %s\n", path, strerror(errno));
			return -1;
		}
		if (!fgets(buf, (int)sizeof buf, f))
			buf[0] = '\0';
		if (f != stdin)
			fclose(f);
		n = strnlen(buf, sizeof buf);
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	while (s < n && (buf[s] == ' ' || buf[s] == '\t'))
		s++;
	if (n - s == 0 || n - s >= CODE_MAX)
		rc = -1;
	for (size_t i = s; rc == 0 && i < n; i++)
		if (buf[i] < 0x21 || buf[i] > 0x7e)
			rc = -1;
	if (rc == 0) {
		memcpy(ret, buf + s, n - s);
		ret[n - s] = '\0';
	} else {
		fprintf(stderr, "writ-station enrol: the one-time code must be one line of 1..%u printable characters\n",
			CODE_MAX - 1);
	}
	writ_memzero(buf, sizeof buf);
	return rc;
}

static int cmd_enrol(int argc, char **argv)
{
	static const struct option lo[] = { { "factory", 1, 0, 'f' }, { "code", 1, 0, 'c' },  { "code-file", 1, 0, 'C' },
					    { "name", 1, 0, 'n' },    { "line", 1, 0, 'l' },  { "out", 1, 0, 'o' },
					    { "help", 0, 0, 'h' },    { "factory-ca", 1, 0, 'A' }, { 0, 0, 0, 0 } };
	const char *url = NULL, *code_src = NULL, *name = NULL, *line = NULL, *out = NULL;
	struct factory_client *fc = NULL;
	char station[FC_STR_MAX], token[FC_TOKEN_MAX], code[CODE_MAX];
	int c, rc, ec = 1, n_src = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'f': url = optarg; break;
		case 'c':
			/* never the code itself on argv: other users of the host see it (ps, /proc) */
			if (strcmp(optarg, "-") != 0) {
				writ_memzero(optarg, strlen(optarg));
				fprintf(stderr, "writ-station enrol: the one-time code is not taken on the command line "
						"(other users see it in ps); use --code-file F, --code - (stdin) or "
						"WRIT_ENROL_CODE; ask for a new code, this one may have been seen\n");
				return 2;
			}
			code_src = optarg;
			n_src++;
			break;
		case 'C': code_src = optarg; n_src++; break;
		case 'n': name = optarg; break;
		case 'l': line = optarg; break;
		case 'o': out = optarg; break;
		case 'A': if (factory_client_trust(optarg) < 0) return 2; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !url || !name || !line || !out || n_src > 1) {
		fprintf(stderr, "writ-station enrol: --factory, --name, --line and --out are required, and the code from "
				"one of --code-file F, --code - or WRIT_ENROL_CODE\n");
		return 2;
	}
	if (factory_client_new(url, NULL, NULL, &fc) < 0) {
		fprintf(stderr, "writ-station: --factory must be http://HOST:PORT\n");
		return 2;
	}
	if (read_code(code_src, code) < 0) {
		factory_client_close(fc);
		return 2;
	}
	rc = factory_client_enrol(fc, code, name, line, station, sizeof station, token);
	if (rc < 0) {
		fprintf(stderr, "writ-station: enrolment refused: %s\n", factory_client_error(fc));
		goto out;
	}
	{
		char line_buf[FC_TOKEN_MAX + 1];
		size_t n = strlen(token);
		memcpy(line_buf, token, n);
		line_buf[n] = '\n';
		rc = file_write_atomic(out, line_buf, n + 1, 0600);
		writ_memzero(line_buf, sizeof line_buf);
	}
	if (rc < 0) {
		fprintf(stderr, "writ-station: cannot write the token to %s (%s); enrol again with a new code\n", out,
			writ_strerror(rc));
		goto out;
	}
	printf("station %s\n", station);
	fprintf(stderr, "writ-station: enrolled as station %s; token in %s (mode 0600)\n", station, out);
	ec = 0;
out:
	writ_memzero(code, sizeof code);
	writ_memzero(token, sizeof token);
	factory_client_close(fc);
	return ec;
}

/* Read the token file: mode 0600 or stricter, one base64url token and a newline. */
int station_read_token(const char *path, char ret[FC_TOKEN_MAX])
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t len = 0, n;
	int rc;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "writ-station: cannot read the token file %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (st.st_mode & 077) {
		fprintf(stderr, "writ-station: the token file %s is readable by others (mode %03o); chmod 600 it\n", path,
			(unsigned)(st.st_mode & 0777));
		return -1;
	}
	rc = file_read(path, FC_TOKEN_MAX + 8, &buf, &len);
	if (rc < 0) {
		fprintf(stderr, "writ-station: cannot read the token file %s (%s)\n", path, writ_strerror(rc));
		return -1;
	}
	n = len;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	rc = (n >= 16 && n < FC_TOKEN_MAX) ? 0 : -1;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		uint8_t ch = buf[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '_' || ch == '='))
			rc = -1;
	}
	if (rc == 0) {
		memcpy(ret, buf, n);
		ret[n] = '\0';
	} else {
		fprintf(stderr, "writ-station: %s does not hold a station token (enrol again)\n", path);
	}
	writ_memzero(buf, len);
	free(buf);
	return rc;
}

/* ---- run ---- */

struct port {
	char addr[ADDR_MAX];
	int state; /* 0 waiting, 1 in progress, 2 done */
};

struct run_opts {
	const char *url, *token_file, *job, *port_dir, *label_dir;
	const char **ports;
	size_t n_ports;
	unsigned long parallel, count, timeout_ms, retry_s, tele_window, update_wait_s;
	const char *state_dir;
	int once, no_seccomp;
};

struct line_run;

struct worker {
	struct line_run *r;
	size_t idx;
	struct factory_client *fc;
	struct line line;
	int have_line;
	const char *step; /* the current device's step (under r->mu) */
	double t_factory;  /* seconds in factory calls for the current device */
};

struct line_run {
	const struct run_opts *o;
	const struct station_driver *forced;
	struct fc_job job;
	uint8_t *fw;
	size_t fw_len;
	struct chip_recipe recipe;
	struct matter_factory_data base;
	uint8_t writ_id[16];
	int do_label;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct port *ports;
	size_t n_ports, cap_ports;
	int no_more_ports; /* --once after the first scan */
	size_t started, done, ok, failed, already, by_step[N_STEPS]; /* already: recorded ok before this run */
	double *dev_t, *dev_over, *dev_chip, *dev_fac;
	size_t n_dev, cap_dev;
	int stop, stop_error;
	char stop_reason[FC_ERR_MAX + 64];
	struct worker w[MAX_WORKERS];
	size_t n_workers;
	double t0, last_print, t_last_done;
	size_t last_bucket;
	int tty;
	int pai_written;
	struct stele tele;       /* under mu */
	size_t tele_posted;      /* buckets the factory took (new or replayed) */
	double tele_next_try;    /* no post before this (after a failed one) */
	/* a factory update (docs/releases.md): no new device while paused (under mu) */
	int paused;
	double pause_t0, upd_next_poll;
	char pause_from[33];     /* the factory's version when the pause began */
	char pause_state[96];    /* what the last poll saw, for the progress line */
	size_t pauses;
	int spool_warned;        /* the spool's failure was logged (main thread) */
	/* a new version of this program in PREFIX/current: no new device, then hand over */
	int reexec, reexec_stop;
	char reexec_to[SELFUPDATE_VERSION_MAX + 1];
	size_t carried_done;     /* devices the previous version made in this run */
};

static void vstop_line(struct line_run *r, int error, const char *fmt, va_list ap)
{
	if (!r->stop) {
		r->stop = 1;
		r->stop_error = error;
		vsnprintf(r->stop_reason, sizeof r->stop_reason, fmt, ap);
	}
	pthread_cond_broadcast(&r->cv);
}

static void stop_line(struct line_run *r, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void stop_line(struct line_run *r, int error, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&r->mu);
	va_start(ap, fmt);
	vstop_line(r, error, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&r->mu);
}

/* The same with r->mu held. */
static void stop_line_locked(struct line_run *r, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void stop_line_locked(struct line_run *r, int error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vstop_line(r, error, fmt, ap);
	va_end(ap);
}

static int add_port(struct line_run *r, const char *addr)
{
	for (size_t i = 0; i < r->n_ports; i++)
		if (strcmp(r->ports[i].addr, addr) == 0)
			return 0;
	if (strlen(addr) >= ADDR_MAX || r->n_ports >= MAX_PORTS)
		return -1;
	if (r->n_ports == r->cap_ports) {
		size_t nc = r->cap_ports ? 2 * r->cap_ports : 64;
		struct port *np = realloc(r->ports, nc * sizeof *np);
		if (!np)
			return -1;
		r->ports = np;
		r->cap_ports = nc;
	}
	memcpy(r->ports[r->n_ports].addr, addr, strlen(addr) + 1);
	r->ports[r->n_ports].state = 0;
	r->n_ports++;
	return 1;
}

/* Every chip-*.sock in the port dir that is not known yet becomes a waiting port. */
static void scan_dir(struct line_run *r)
{
	DIR *d;
	struct dirent *e;
	int added = 0;

	if (!r->o->port_dir)
		return;
	d = opendir(r->o->port_dir);
	if (!d)
		return;
	pthread_mutex_lock(&r->mu);
	while ((e = readdir(d)) != NULL) {
		char addr[ADDR_MAX];
		size_t len = strlen(e->d_name);
		int w;
		if (strncmp(e->d_name, "chip-", 5) != 0 || len < 6 || strcmp(e->d_name + len - 5, ".sock") != 0)
			continue;
		w = snprintf(addr, sizeof addr, "unix:%s/%s", r->o->port_dir, e->d_name);
		if (w < 0 || (size_t)w >= sizeof addr)
			continue;
		if (add_port(r, addr) > 0)
			added = 1;
	}
	closedir(d);
	if (added)
		pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

static const char *step_of(const char *s)
{
	for (size_t i = 0; i + 1 < N_STEPS; i++)
		if (s && strcmp(s, step_names[i]) == 0)
			return step_names[i];
	return step_names[N_STEPS - 1];
}

static size_t step_index(const char *s)
{
	for (size_t i = 0; i + 1 < N_STEPS; i++)
		if (s && strcmp(s, step_names[i]) == 0)
			return i;
	return N_STEPS - 1;
}

/* under r->mu */
static void progress(struct line_run *r, int final)
{
	double t = now_s(), el = t - r->t0;
	size_t target = r->o->count ? r->o->count : r->o->once ? r->n_ports : (size_t)r->job.remaining;
	/* already: no quantity; carried: the job's remaining counts them already */
	size_t handled = r->o->count || r->o->once ? r->done : r->done - r->already - r->carried_done;
	size_t remaining = target > handled ? target - handled : 0;
	const char *cur = NULL;
	size_t busy = 0;

	if (!final && !r->tty) {
		size_t bucket = target ? (10 * r->done) / target : 0;
		if (bucket == r->last_bucket && t - r->last_print < (r->paused ? 2.0 : 5.0))
			return;
		r->last_bucket = bucket;
	}
	if (!final && r->tty && t - r->last_print < 0.1)
		return;
	r->last_print = t;
	for (size_t i = 0; i < r->n_workers; i++)
		if (r->w[i].step) {
			busy++;
			if (!cur)
				cur = r->w[i].step;
		}
	if (r->paused && !final)
		fprintf(stderr, "%sline: paused for an update of the factory for %.0f s (%s); done %zu, failed %zu, "
				"remaining %zu; %zu busy finishing%s", r->tty ? "\r" : "", t - r->pause_t0, r->pause_state,
			r->done, r->failed, remaining, busy, r->tty ? "\033[K" : "\n");
	else
		fprintf(stderr, "%sline: done %zu, failed %zu, remaining %zu; %.2f devices/s; %zu busy%s%s%s",
			r->tty ? "\r" : "", r->done, r->failed, remaining, el > 0 ? (double)r->ok / el : 0.0, busy,
			cur ? ", now: " : "", cur ? cur : "", r->tty && !final ? "\033[K" : "\n");
	fflush(stderr);
}

static void note_step(void *ctx, const char *name)
{
	struct worker *w = ctx;

	pthread_mutex_lock(&w->r->mu);
	w->step = step_of(name);
	if (w->r->tty)
		progress(w->r, 0);
	pthread_mutex_unlock(&w->r->mu);
}

/*
 * A factory call that got no answer at all (the factory restarting, a cable) is retried
 * with backoff for up to --factory-retry-s; a 503 (HSM unreachable, store full) stops
 * the line at once with the factory's message; a 409 with the code quota, window or
 * revoked (or without a code: an older factory) ends the job; a 401, or a 403 outside
 * records, means the credential and stops the line. Everything else (409 replay, busy,
 * scope; a record's 403; 400, 404) fails only this device, with the factory's reason.
 * Returns 1 to retry, 0 to give up with rc.
 */
static int should_retry(struct worker *w, int rc, double t_first, int *attempt, int record_call)
{
	struct line_run *r = w->r;

	switch (factory_client_verdict(w->fc, rc, record_call)) {
	case FC_FACTORY_DOWN:
		stop_line(r, 1, "the factory cannot go on: %s", factory_client_error(w->fc));
		return 0;
	case FC_JOB_ENDED:
		stop_line(r, 0, "the job ended: %s", factory_client_error(w->fc));
		return 0;
	case FC_STATION:
		stop_line(r, 1, "the factory refused this station: %s", factory_client_error(w->fc));
		return 0;
	case FC_RETRY:
		if (now_s() - t_first < (double)r->o->retry_s && !g_signal) {
			double b = 0.2 * (double)(1 << (*attempt < 4 ? *attempt : 4));
			(*attempt)++;
			sleep_s(b);
			return 1;
		}
		stop_line(r, 1, "%s (for %lu s)", factory_client_error(w->fc), r->o->retry_s);
		return 0;
	case FC_DEVICE:
	default:
		return 0;
	}
}

static int cb_issue_dac(void *ctx, const uint8_t uid[WDP_UID_LEN], const uint8_t *csr, size_t csr_len,
			struct chip_dac *ret, char *errbuf, size_t errcap)
{
	struct worker *w = ctx;
	uint8_t csr_pub[WRIT_P256_PUB_LEN], dac_pub[WRIT_P256_PUB_LEN], pai_pub[WRIT_P256_PUB_LEN];
	double t0 = now_s(), t;
	int rc, attempt = 0, vid = -1, pid = -1;

	do {
		t = now_s();
		rc = factory_client_dac(w->fc, w->r->job.writ, uid, csr, csr_len, ret);
		w->t_factory += now_s() - t;
	} while (rc < 0 && should_retry(w, rc, t0, &attempt, 0));
	if (rc < 0) {
		snprintf(errbuf, errcap, "%s", factory_client_error(w->fc));
		return rc;
	}
	/* The HSM does not re-verify its DACs; the receiver does before a chip sees one:
	 * it certifies the chip's key, under the PAI, for this product. */
	if (x509_csr_parse_verify(csr, csr_len, csr_pub) < 0 || x509_cert_pub(ret->dac, ret->dac_len, dac_pub) < 0 ||
	    x509_cert_pub(ret->pai, ret->pai_len, pai_pub) < 0 ||
	    x509_verify_signed(ret->dac, ret->dac_len, pai_pub) < 0 ||
	    !writ_ct_memeq(csr_pub, dac_pub, WRIT_P256_PUB_LEN) ||
	    matter_cert_vidpid(ret->dac, ret->dac_len, &vid, &pid) < 0 || vid != w->r->base.vid ||
	    pid != w->r->base.pid) {
		snprintf(errbuf, errcap,
			 "the DAC from the factory does not certify this chip's key under its PAI for VID %04X PID %04X; "
			 "not stored on the chip", w->r->base.vid, w->r->base.pid);
		return WRIT_E_PROTO;
	}
	/* the writ's PAI, when the job named it, is the only one a DAC may chain to */
	if (w->r->job.pai_len &&
	    (ret->pai_len != w->r->job.pai_len || memcmp(ret->pai, w->r->job.pai, ret->pai_len) != 0)) {
		snprintf(errbuf, errcap, "the DAC from the factory chains to a PAI that is not the job's; not stored on the "
			 "chip");
		return WRIT_E_PROTO;
	}
	memcpy(w->line.pai, ret->pai, ret->pai_len); /* a chain read back later must carry it */
	w->line.pai_len = ret->pai_len;
	return 0;
}

static int cb_wrap(void *ctx, const uint8_t uid[WDP_UID_LEN], const struct chip_dac *dac,
		   const uint8_t enc_pub[WDP_P256_PUB_LEN], const uint8_t *binding, size_t binding_len, const char *label,
		   uint8_t *out, size_t cap, size_t *ret_len, char *errbuf, size_t errcap)
{
	struct worker *w = ctx;
	double t0 = now_s(), t;
	int rc, attempt = 0;

	do {
		t = now_s();
		rc = factory_client_wrap(w->fc, w->r->job.writ, uid, dac->dac, dac->dac_len, enc_pub, binding, binding_len,
					 label, out, cap, ret_len);
		w->t_factory += now_s() - t;
	} while (rc < 0 && should_retry(w, rc, t0, &attempt, 0));
	if (rc < 0)
		snprintf(errbuf, errcap, "%s", factory_client_error(w->fc));
	return rc;
}

static int cb_factory_data(void *ctx, const uint8_t uid[WDP_UID_LEN], const struct chip_dac *dac, uint8_t *out,
			   size_t cap, size_t *ret_len, char *errbuf, size_t errcap)
{
	struct worker *w = ctx;

	return line_hsm_ops_template.factory_data(&w->line, uid, dac, out, cap, ret_len, errbuf, errcap);
}

static int cb_recover_dac(void *ctx, const uint8_t uid[WDP_UID_LEN], const uint8_t *dac, size_t dac_len,
			  const uint8_t *pai, size_t pai_len, struct chip_dac *ret, char *errbuf, size_t errcap)
{
	struct worker *w = ctx;

	return line_recover_dac(&w->line, uid, dac, dac_len, pai, pai_len, ret, errbuf, errcap);
}

static int write_file(const char *dir, const char *name, const char *ext, const void *data, size_t len)
{
	char path[4096];
	int n = snprintf(path, sizeof path, "%s/%s%s", dir, name, ext);

	if (n < 0 || (size_t)n >= sizeof path)
		return WRIT_E_TOOBIG;
	return file_write_atomic(path, data, len, 0644);
}

/* The label step: PNG and SVG labels, the DAC (and the PAI once) next to them. */
static int make_label(struct worker *w, const char *uidhex, const struct chip_dac *dac, char *err, size_t cap)
{
	struct line_run *r = w->r;
	uint8_t *png = NULL;
	char *svg = NULL;
	size_t png_len = 0, svg_len = 0;
	int rc;

	rc = write_file(r->o->label_dir, uidhex, ".dac.der", dac->dac, dac->dac_len);
	if (rc == 0 && !__atomic_load_n(&r->pai_written, __ATOMIC_ACQUIRE)) {
		rc = write_file(r->o->label_dir, "pai", ".der", dac->pai, dac->pai_len);
		__atomic_store_n(&r->pai_written, 1, __ATOMIC_RELEASE);
	}
	if (rc < 0) {
		snprintf(err, cap, "cannot write the DAC into %s (%s)", r->o->label_dir, writ_strerror(rc));
		return rc;
	}
	if (!r->do_label)
		return 0;
	if (!w->line.dev.qr[0]) {
		snprintf(err, cap, "no label: the chip's factory data was stored by an earlier run and its passcode is not "
			 "kept, so this station has no onboarding codes for it (DAC written to %s)", r->o->label_dir);
		return WRIT_E_STATE;
	}
	rc = matter_label_png(w->line.dev.qr, w->line.dev.manual, w->line.dev.serial_str, &png, &png_len);
	if (rc == 0)
		rc = matter_label_svg(w->line.dev.qr, w->line.dev.manual, w->line.dev.serial_str, &svg, &svg_len);
	if (rc < 0) {
		snprintf(err, cap, "label: %s", writ_strerror(rc));
		goto out;
	}
	if ((rc = write_file(r->o->label_dir, uidhex, ".png", png, png_len)) < 0 ||
	    (rc = write_file(r->o->label_dir, uidhex, ".svg", svg, svg_len)) < 0)
		snprintf(err, cap, "cannot write the label into %s (%s)", r->o->label_dir, writ_strerror(rc));
out:
	free(png);
	free(svg);
	return rc;
}

/* The verify step: every flag the recipe sets, locked and secured, nothing else
 * (no debug), and the firmware version of the job. */
static int verify_chip(struct line_run *r, const struct station_driver *drv, void *h, char *err, size_t cap)
{
	struct chip_info st;
	uint32_t want = WDP_F_KEYS | WDP_F_CHAIN | WDP_F_FACTORY_DATA | WDP_F_OTP | WDP_F_FIRMWARE | WDP_F_LOCKED;
	char have_s[128], want_s[128], why[256] = "";
	int rc;

	if (r->recipe.n_secrets > 0)
		want |= WDP_F_SECRET;
	rc = drv->status(h, &st, why, sizeof why);
	if (rc < 0) {
		snprintf(err, cap, "verify: cannot read the chip's status (%s)", why);
		return rc;
	}
	if (st.state != want || st.lifecycle != WDP_LC_SECURED || st.fw_version != r->recipe.fw_version) {
		snprintf(err, cap, "verify: the chip holds %s, lifecycle %u, firmware %u; want %s, secured, firmware %u",
			 chip_state_str(st.state, have_s, sizeof have_s), st.lifecycle, st.fw_version,
			 chip_state_str(want, want_s, sizeof want_s), r->recipe.fw_version);
		return WRIT_E_STATE;
	}
	return 0;
}

/* *ret_already: the factory had this ok record before this run (a duplicate answer to
 * the first attempt; a duplicate after a retry is this run's own record). */
static int post_record(struct worker *w, const struct fc_record *rec, int *ret_already, char *err, size_t cap)
{
	double t0 = now_s(), t;
	uint64_t seq = 0;
	int rc, attempt = 0, dup = 0;

	do {
		t = now_s();
		rc = factory_client_record(w->fc, rec, &seq, &dup);
		w->t_factory += now_s() - t;
	} while (rc < 0 && should_retry(w, rc, t0, &attempt, 1));
	if (rc < 0)
		snprintf(err, cap, "record: %s", factory_client_error(w->fc));
	*ret_already = rc == 0 && dup && attempt == 0;
	return rc;
}

static int uid_known(const uint8_t uid[WDP_UID_LEN])
{
	static const uint8_t zero[WDP_UID_LEN];
	return memcmp(uid, zero, WDP_UID_LEN) != 0;
}

static void one_device(struct worker *w, const char *addr)
{
	struct line_run *r = w->r;
	const struct station_driver *drv = r->forced ? r->forced : station_driver_for(addr);
	struct station_driver_opts dopts = { (int)r->o->timeout_ms, -1 };
	struct chip_hsm_ops ops = {
		.ctx = w, .issue_dac = cb_issue_dac, .wrap_secret = cb_wrap, .step = note_step,
		.factory_data = cb_factory_data, .recover_dac = cb_recover_dac,
	};
	struct chip_result *res = calloc(1, sizeof *res);
	struct fc_record rec;
	void *h = NULL;
	char err[512] = "", uidhex[2 * WDP_UID_LEN + 1] = "-";
	const char *fstep = NULL;
	double t0 = now_s(), wait0 = 0, wait1 = 0;
	int rc, recorded = 0, label_failed = 0, resumed_locked = 0, already = 0;

	w->t_factory = 0;
	memset(&rec, 0, sizeof rec);
	/* nothing of the previous device may reach this one's record or label (a chip
	 * resumed past its factory data gets no onboarding codes from this run) */
	line_begin_device(&w->line);
	if (!res) {
		snprintf(err, sizeof err, "out of memory");
		fstep = "other";
		rc = WRIT_E_NOMEM;
		goto done;
	}
	if (!drv) {
		snprintf(err, sizeof err, "no driver for the address %s", addr);
		fstep = "discover";
		rc = WRIT_E_INVAL;
		goto done;
	}
	rc = drv->open(addr, &dopts, &h, err, sizeof err);
	if (rc < 0) {
		fstep = "discover";
		goto done;
	}
	wait0 = drv->wait_seconds(h);
	rc = drv->provision(h, &r->recipe, &ops, res);
	if (uid_known(res->uid))
		hex_encode(res->uid, WDP_UID_LEN, uidhex);
	if (rc == WRIT_E_EXISTS && res->dac_recovered && res->dac.dac_len > 0) {
		/* Locked, and its chain reads back as this job's: the station that provisioned it
		 * died between lock and record. Verify it as a fresh one; then it is recorded ok
		 * (hsm_seq 0: the factory matches its note by dac_sha256 and serial). */
		resumed_locked = 1;
		note_step(w, "verify");
		rc = verify_chip(r, drv, h, err, sizeof err);
		if (rc < 0)
			fstep = "verify";
	} else if (rc == WRIT_E_EXISTS) {
		fstep = "discover";
		snprintf(err, sizeof err, "%s", res->err);
	} else if (rc < 0) {
		fstep = res->failed_step ? res->failed_step : "discover";
		snprintf(err, sizeof err, "%s", res->err[0] ? res->err : writ_strerror(rc));
	} else {
		note_step(w, "verify");
		rc = verify_chip(r, drv, h, err, sizeof err);
		if (rc < 0)
			fstep = "verify";
	}
	wait1 = drv->wait_seconds(h);

	/* record: only now, after verify, is a device recorded as done; a failed device is
	 * recorded as failed with its step and reason (when we know which chip it was) */
	memcpy(rec.uid, res->uid, WDP_UID_LEN);
	rec.writ = r->job.writ;
	rec.ok = rc == 0;
	rec.step = fstep ? step_of(fstep) : NULL;
	if (rec.step && !strcmp(rec.step, "other"))
		rec.step = "discover"; /* the record takes recipe steps only */
	rec.reason = err;
	rec.firmware_version = r->recipe.fw_version;
	if (res->dac.dac_len > 0) {
		rec.have_dac = 1;
		rec.serial = res->dac.serial;
		rec.hsm_seq = res->dac.journal_seq;
		if (ec_sha256(res->dac.dac, res->dac.dac_len, rec.dac_sha256) < 0)
			rec.have_dac = 0;
	}
	if (rc == 0 && w->line.dev.qr[0]) {
		rec.qr = w->line.dev.qr;
		rec.manual = w->line.dev.manual;
	}
	pthread_mutex_lock(&r->mu);
	int line_down = r->stop && r->stop_error;
	pthread_mutex_unlock(&r->mu);
	if (uid_known(res->uid) && !(rc < 0 && line_down)) {
		char rerr[FC_ERR_MAX + 16] = "";
		note_step(w, "record");
		if (post_record(w, &rec, &already, rerr, sizeof rerr) == 0) {
			recorded = 1;
			already = already && rc == 0 && !res->dac_issued;
		} else if (rc == 0) {
			rc = WRIT_E_IO;
			fstep = "record";
			/* bounded: the factory's message is cut to leave room for what to do */
			snprintf(err, sizeof err, "%.400s; the chip is locked but NOT recorded: keep it aside and report "
				 "its UID", rerr);
		}
	}
	if (rc == 0 && !already && r->o->label_dir) {
		note_step(w, "label");
		if (make_label(w, uidhex, &res->dac, err, sizeof err) < 0) {
			label_failed = 1;
			fstep = "label";
		}
	}
done:
	pthread_mutex_lock(&r->mu);
	w->step = NULL;
	r->done++;
	r->t_last_done = now_s();
	if (rc == 0 && already) {
		/* done before this run: not a new device */
		r->already++;
		if (r->tty)
			fputc('\n', stderr);
		fprintf(stderr, "writ-station: %s uid %s: already provisioned and recorded ok under this job%s\n", addr,
			uidhex, resumed_locked ? " (locked)" : "");
	} else if (rc == 0 && !label_failed) {
		r->ok++;
		stele_note(&r->tele, (int64_t)time(NULL), 1, NULL, NULL, (uint32_t)((now_s() - t0) * 1000.0));
		if (resumed_locked) {
			if (r->tty)
				fputc('\n', stderr);
			fprintf(stderr, "writ-station: %s uid %s: locked but not recorded by an earlier run; verified and "
					"recorded ok now (serial %llu)\n", addr, uidhex, (unsigned long long)res->dac.serial);
		}
	} else {
		r->failed++;
		r->by_step[step_index(fstep)]++;
		stele_note(&r->tele, (int64_t)time(NULL), 0, step_of(fstep), err, 0);
		if (r->tty)
			fputc('\n', stderr);
		fprintf(stderr, "writ-station: %s uid %s failed at %s: %s%s\n", addr, uidhex, step_of(fstep), err,
			rc < 0 && uid_known(res ? res->uid : rec.uid) && !recorded ? " (not recorded)" : "");
	}
	if ((rc == 0 && !already) || label_failed) {
		/* per-device timing only for devices that went all the way */
		if (r->n_dev == r->cap_dev) {
			size_t nc = r->cap_dev ? 2 * r->cap_dev : 256;
			double *a = realloc(r->dev_t, nc * sizeof *a), *b, *c2, *d;
			if (a)
				r->dev_t = a;
			b = a ? realloc(r->dev_over, nc * sizeof *b) : NULL;
			if (b)
				r->dev_over = b;
			c2 = b ? realloc(r->dev_chip, nc * sizeof *c2) : NULL;
			if (c2)
				r->dev_chip = c2;
			d = c2 ? realloc(r->dev_fac, nc * sizeof *d) : NULL;
			if (d) {
				r->dev_fac = d;
				r->cap_dev = nc;
			}
		}
		if (r->n_dev < r->cap_dev) {
			double tt = now_s() - t0, cw = wait1 - wait0;
			r->dev_t[r->n_dev] = tt;
			r->dev_chip[r->n_dev] = cw;
			r->dev_over[r->n_dev] = tt - cw;
			r->dev_fac[r->n_dev] = w->t_factory;
			r->n_dev++;
		}
	}
	progress(r, 0);
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	if (h)
		drv->close(h);
	free(res);
}

static int finished_locked(struct line_run *r)
{
	if (r->stop || g_signal)
		return 1;
	if (r->o->count && r->started >= r->o->count)
		return 1;
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct line_run *r = w->r;

	for (;;) {
		struct port *p = NULL;
		char addr[ADDR_MAX];

		pthread_mutex_lock(&r->mu);
		for (;;) {
			if (finished_locked(r))
				break;
			/* paused for an update: the device at hand was finished, no new one starts */
			for (size_t i = 0; !r->paused && !r->reexec && i < r->n_ports; i++)
				if (r->ports[i].state == 0) {
					p = &r->ports[i];
					break;
				}
			if (p || (r->no_more_ports && !r->paused && !r->reexec))
				break;
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 200000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&r->cv, &r->mu, &ts);
		}
		if (!p) {
			pthread_mutex_unlock(&r->mu);
			break;
		}
		p->state = 1;
		r->started++;
		memcpy(addr, p->addr, sizeof addr);
		w->step = "discover";
		size_t pi = (size_t)(p - r->ports);
		pthread_mutex_unlock(&r->mu);
		one_device(w, addr);
		pthread_mutex_lock(&r->mu);
		r->ports[pi].state = 2; /* ports may have moved (realloc): index, not pointer */
		pthread_mutex_unlock(&r->mu);
	}
	return NULL;
}

/* Post the closed telemetry buckets (all of them when final) to the factory, outside
 * the line lock; called by the main thread only. Buckets not taken stay for the next
 * call; a failure waits 5 s before the next try (the final flush tries a few times). */
static void post_telemetry(struct line_run *r, struct factory_client *fc, int final)
{
	for (int round = 0; round < (final ? 3 : 1);) {
		uint64_t acc = 0, dup = 0;
		size_t n = 0;
		char *body;
		int rc;

		pthread_mutex_lock(&r->mu);
		stele_close(&r->tele, (int64_t)time(NULL), final);
		if (r->tele.spool_failed != r->spool_warned) {
			r->spool_warned = r->tele.spool_failed;
			if (r->spool_warned)
				log_warn("telemetry: %s; unsent telemetry is kept in memory only (lost if the station "
					 "stops) until the spool can be written: free space in --state or fix its permissions",
					 r->tele.spool_err);
			else
				log_info("telemetry: the spool %s is written again", r->tele.spool_path);
		}
		body = (final || now_s() >= r->tele_next_try) ? stele_body(&r->tele, TELE_BUCKETS_MAX, &n) : NULL;
		pthread_mutex_unlock(&r->mu);
		if (!body)
			return;
		rc = factory_client_telemetry(fc, body, &acc, &dup);
		free(body);
		pthread_mutex_lock(&r->mu);
		if (rc == 0) {
			stele_taken(&r->tele, n);
			r->tele_posted += n;
		} else {
			r->tele_next_try = now_s() + 5;
		}
		pthread_mutex_unlock(&r->mu);
		if (rc < 0) {
			log_warn("telemetry: the factory did not take %zu buckets (%s); kept for the next try", n,
				 factory_client_error(fc));
			round++;
			if (final && round < 3)
				sleep(1);
		}
	}
}

static void pause_line(struct line_run *r, const char *why, const char *version)
{
	size_t busy = 0;

	for (size_t i = 0; i < r->n_workers; i++)
		busy += r->w[i].step != NULL;
	r->paused = 1;
	r->pause_t0 = now_s();
	r->upd_next_poll = r->pause_t0 + 1.0;
	snprintf(r->pause_from, sizeof r->pause_from, "%s", version);
	snprintf(r->pause_state, sizeof r->pause_state, "update pending");
	if (r->tty)
		fputc('\n', stderr);
	fprintf(stderr, "writ-station: paused for an update: %s (factory version %s); finishing the %zu device%s in "
			"progress, taking no new one until the factory is back without an update pending\n", why,
		version[0] ? version : "unknown", busy, busy == 1 ? "" : "s");
}

/*
 * The factory says "update_pending" while `writ-factory update` waits to switch versions
 * and until the new version passed its health check (docs/releases.md): the line
 * finishes the devices at hand and starts no new one. GET /v1/health (which does not
 * count as a job in progress, so a paused station never holds the update up) every 2 s
 * while working, every 1 s while paused. No answer while paused is the factory
 * restarting: wait and ask again, for at most --update-wait-s in all, then stop the line
 * with what to do. Main thread only.
 */
static void update_poll(struct line_run *r, struct factory_client *fc)
{
	struct fc_health h;
	char newv[SELFUPDATE_VERSION_MAX + 1];
	double t = now_s();
	int rc, changed;

	if (t < r->upd_next_poll)
		return;
	pthread_mutex_lock(&r->mu);
	int paused = r->paused;
	pthread_mutex_unlock(&r->mu);
	rc = factory_client_health(fc, &h);
	changed = selfupdate_changed(&g_su, newv); /* only under PREFIX/versions/V */
	t = now_s();
	pthread_mutex_lock(&r->mu);
	r->upd_next_poll = t + (paused ? 1.0 : 2.0);
	if (!paused) {
		if (rc == 0 && h.update_pending)
			pause_line(r, "the factory has an update pending", h.version);
	} else if (rc == 0 && !h.update_pending) {
		r->paused = 0;
		r->pauses++;
		if (r->tty)
			fputc('\n', stderr);
		fprintf(stderr, "writ-station: the update is over: the factory runs version %s (was %s); %s after %.0f s "
				"paused\n", h.version[0] ? h.version : "unknown", r->pause_from[0] ? r->pause_from : "unknown",
			changed ? "not resuming: this station was updated too" : "resuming", t - r->pause_t0);
		pthread_cond_broadcast(&r->cv);
	} else {
		if (rc == 0)
			snprintf(r->pause_state, sizeof r->pause_state, "update pending, factory %s",
				 h.version[0] ? h.version : "up");
		else
			snprintf(r->pause_state, sizeof r->pause_state, "factory not answering: restarting?");
		if (t - r->pause_t0 >= (double)r->o->update_wait_s)
			stop_line_locked(r, 1, "paused for an update of the factory for %lu s and it is still %s "
				     "(--update-wait-s); the devices made are recorded. Ask the factory's operator to check "
				     "`writ-factory update status` (a run killed mid-update leaves update.pending until the "
				     "next `writ-factory update run`) and GET /v1/health, then start this station again",
				     r->o->update_wait_s, rc == 0 ? "updating" : "not answering");
	}
	/* in the same critical section as a resume: no worker takes a device in between */
	if (changed && !r->paused && !r->reexec) {
		size_t busy = 0;

		for (size_t i = 0; i < r->n_workers; i++)
			busy += r->w[i].step != NULL;
		r->reexec = 1;
		snprintf(r->reexec_to, sizeof r->reexec_to, "%s", newv);
		if (r->tty)
			fputc('\n', stderr);
		fprintf(stderr, "writ-station: version %s of writ-station is installed in %s/current (this is %s): "
				"finishing the %zu device%s in progress, then starting it\n", newv, g_su.prefix,
			g_su.version, busy, busy == 1 ? "" : "s");
	}
	pthread_mutex_unlock(&r->mu);
}

/* Devices counted in the queued buckets (for the start-up line). */
static uint64_t spool_devices(const struct stele *t)
{
	uint64_t n = 0;

	for (size_t i = 0; i < t->n_ready; i++)
		n += t->ready[i].total;
	return n;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof *v, cmp_d);
	i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

/* Fetch the job and its firmware and check them before any chip is touched. */
static int prepare(struct line_run *r, struct factory_client *fc)
{
	const struct run_opts *o = r->o;
	uint8_t digest[32];
	char reason[256] = "";
	int rc, has_secret = 0;

	rc = factory_client_job(fc, o->job, &r->job);
	if (rc < 0) {
		fprintf(stderr, "writ-station: cannot get job %s: %s\n", o->job, factory_client_error(fc));
		return rc == WRIT_E_INVAL && factory_client_http(fc) == 0 ? 2 : 1;
	}
	if (hex_decode(r->job.writ, r->writ_id, 16) < 0)
		return 1;
	for (size_t i = 0; i < r->job.n_recipe; i++) {
		if (!strcmp(r->job.recipe[i], "secret"))
			has_secret = 1;
		if (!strcmp(r->job.recipe[i], "label"))
			r->do_label = 1;
	}
	{
		static const char *const must[] = { "discover", "keys", "dac", "chain", "factory-data", "otp",
						     "firmware", "lock", "verify", "record" };
		for (size_t k = 0; k < sizeof must / sizeof must[0]; k++) {
			size_t i;
			for (i = 0; i < r->job.n_recipe; i++)
				if (!strcmp(r->job.recipe[i], must[k]))
					break;
			if (i == r->job.n_recipe) {
				fprintf(stderr, "writ-station: the job's recipe lacks the step \"%s\"; this station only "
						"leaves out secret and label\n", must[k]);
				return 1;
			}
		}
	}
	if (line_settings_parse(r->job.settings, r->job.settings_len, &r->base, reason, sizeof reason) < 0) {
		fprintf(stderr, "writ-station: the job's Matter settings: %s\n", reason);
		return 1;
	}
	rc = factory_client_firmware(fc, o->job, &r->fw, &r->fw_len);
	if (rc < 0) {
		fprintf(stderr, "writ-station: cannot get the job's firmware: %s\n", factory_client_error(fc));
		return 1;
	}
	if (ec_sha256(r->fw, r->fw_len, digest) < 0 || !writ_ct_memeq(digest, r->job.firmware_sha256, 32)) {
		fprintf(stderr, "writ-station: the firmware image from the factory does not match the job's SHA-256; "
				"no chip was touched\n");
		return 1;
	}
	if (fwsig_verify(r->job.sb_pub, r->job.fw_version, r->fw, r->fw_len, r->job.fw_sig) != 0) {
		fprintf(stderr, "writ-station: the firmware (version %u) is not signed by the job's secure-boot key; "
				"no chip was touched\n", r->job.fw_version);
		return 1;
	}
	r->recipe.fw = r->fw;
	r->recipe.fw_len = r->fw_len;
	r->recipe.fw_version = r->job.fw_version;
	memcpy(r->recipe.fw_sig, r->job.fw_sig, 64);
	memcpy(r->recipe.sb_pub, r->job.sb_pub, WDP_P256_PUB_LEN);
	memcpy(r->recipe.debug_root_hash, r->job.debug_root_hash, 32);
	if (ec_sha256(r->recipe.sb_pub, WDP_P256_PUB_LEN, r->recipe.sb_key_hash) < 0)
		return 1;
	if (has_secret) {
		for (size_t i = 0; i < r->job.n_secret_labels; i++)
			r->recipe.secret_labels[i] = r->job.secret_labels[i];
		r->recipe.n_secrets = r->job.n_secret_labels;
	}
	r->recipe.lock = 1;
	r->recipe.reconnects = -1;
	if (r->job.update_pending)
		pause_line(r, "the job's answer says an update of the factory is pending", "");
	if (r->job.remaining == 0) {
		/* A chip that already holds one of this job's DACs (locked but not recorded, or
		 * stopped mid-way) can still be finished; a new one ends the job (409 quota). */
		fprintf(stderr, "writ-station: job %s has no quantity left (%llu of %llu issued): only chips that already "
				"hold one of its DACs can be finished\n", r->job.writ, (unsigned long long)r->job.issued,
			(unsigned long long)r->job.quantity);
	}
	return 0;
}

/*
 * The hand-over to the next version of this program (station/selfupdate.h): one line
 * "writ-station-carry 1 DONE OK FAILED ALREADY PAUSES", then "port ADDR" per port
 * finished in this run. Returns SELFUPDATE_EXIT, or 1 when it cannot be written.
 */
static int hand_over(struct line_run *r)
{
	char line[ADDR_MAX + 16];
	int fd = g_su.carry_fd, n, ok = fd >= 0;

	n = snprintf(line, sizeof line, "writ-station-carry 1 %zu %zu %zu %zu %zu\n", r->done, r->ok, r->failed,
		     r->already, r->pauses);
	ok = ok && n > 0 && (size_t)n < sizeof line && write(fd, line, (size_t)n) == n;
	for (size_t i = 0; ok && i < r->n_ports; i++) {
		int printable = strlen(r->ports[i].addr) <= SELFUPDATE_ADDR_MAX;

		for (const char *c = r->ports[i].addr; printable && *c; c++)
			printable = *c >= 0x20 && *c <= 0x7e;
		if (r->ports[i].state != 2 || !printable)
			continue; /* (an odd name: the new version meets that chip again, as already recorded) */
		n = snprintf(line, sizeof line, "port %s\n", r->ports[i].addr);
		ok = n > 0 && (size_t)n < sizeof line && write(fd, line, (size_t)n) == n;
	}
	if (fd >= 0)
		close(fd);
	g_su.carry_fd = -1;
	if (!ok) {
		fprintf(stderr, "writ-station: cannot hand over to version %s; the devices made so far are recorded: start "
				"writ-station again (it recognises them)\n", r->reexec_to);
		return 1;
	}
	fprintf(stderr, "writ-station: %zu devices so far (ok %zu, failed %zu); handing over to version %s\n", r->done,
		r->ok, r->failed, r->reexec_to);
	return SELFUPDATE_EXIT;
}

static int carry_port(void *ctx, const char *addr)
{
	struct line_run *r = ctx;

	if (add_port(r, addr) < 0)
		return WRIT_E_INVAL;
	for (size_t i = 0; i < r->n_ports; i++)
		if (!strcmp(r->ports[i].addr, addr))
			r->ports[i].state = 2; /* finished by the previous version: not taken again */
	return 0;
}

/* What the previous version handed over (hand_over's text): its counts, and its
 * finished ports, which this run does not take again. -1 with a message when malformed. */
static int apply_carry(struct line_run *r, const char *text)
{
	struct selfupdate_carry c;

	if (selfupdate_parse_carry(text, strlen(text), &c, carry_port, r) < 0) {
		fprintf(stderr, "writ-station: the hand-over from the previous version is malformed; start writ-station "
				"again (devices already recorded are recognised)\n");
		return -1;
	}
	r->done += c.done;
	r->started += c.done;
	r->ok += c.ok;
	r->failed += c.failed;
	r->already += c.already;
	r->pauses += c.pauses;
	r->carried_done = c.done - c.already;
	fprintf(stderr, "writ-station: version %s goes on where the previous one stopped: %zu devices done (ok %zu, failed "
			"%zu)\n", g_su.active ? g_su.version : "?", c.done, c.ok, c.failed);
	return 0;
}

static int parse_run(int argc, char **argv, struct run_opts *o)
{
	static const struct option lo[] = {
		{ "factory", 1, 0, 'f' },  { "token-file", 1, 0, 'T' }, { "job", 1, 0, 'j' },
		{ "port", 1, 0, 'p' },     { "port-dir", 1, 0, 'D' },   { "parallel", 1, 0, 'n' },
		{ "count", 1, 0, 'c' },    { "label-dir", 1, 0, 'L' },  { "once", 0, 0, 'o' },
		{ "timeout-ms", 1, 0, 't' }, { "factory-retry-s", 1, 0, 'R' }, { "help", 0, 0, 'h' },
		{ "no-seccomp", 0, 0, 'N' }, { "telemetry-window", 1, 0, 'W' },
		{ "factory-ca", 1, 0, 'A' }, { "update-wait-s", 1, 0, 'U' }, { "state", 1, 0, 'S' },
		{ 0, 0, 0, 0 }
	};
	int c;

	o->parallel = 4;
	o->timeout_ms = 5000;
	o->retry_s = 30;
	o->tele_window = 60;
	o->update_wait_s = 1800;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'f': o->url = optarg; break;
		case 'T': o->token_file = optarg; break;
		case 'A': if (factory_client_trust(optarg) < 0) return -1; break;
		case 'j': o->job = optarg; break;
		case 'D': o->port_dir = optarg; break;
		case 'L': o->label_dir = optarg; break;
		case 'o': o->once = 1; break;
		case 'N': o->no_seccomp = 1; break;
		case 'p':
			if (o->n_ports >= MAX_PORTS)
				return -1;
			o->ports[o->n_ports++] = optarg;
			break;
		case 'n':
			if (parse_ul(optarg, 1, MAX_WORKERS, &o->parallel, "--parallel") < 0)
				return -1;
			break;
		case 'c':
			if (parse_ul(optarg, 1, 100000000, &o->count, "--count") < 0)
				return -1;
			break;
		case 't':
			if (parse_ul(optarg, 100, 600000, &o->timeout_ms, "--timeout-ms") < 0)
				return -1;
			break;
		case 'W':
			if (parse_ul(optarg, 0, TELE_WINDOW_MAX, &o->tele_window, "--telemetry-window") < 0)
				return -1;
			if (o->tele_window && o->tele_window < TELE_WINDOW_MIN) {
				fprintf(stderr, "writ-station: --telemetry-window is 0 or %d..%d\n", TELE_WINDOW_MIN,
					TELE_WINDOW_MAX);
				return -1;
			}
			break;
		case 'R':
			if (parse_ul(optarg, 0, 3600, &o->retry_s, "--factory-retry-s") < 0)
				return -1;
			break;
		case 'U':
			if (parse_ul(optarg, 1, 86400, &o->update_wait_s, "--update-wait-s") < 0)
				return -1;
			break;
		case 'S': o->state_dir = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "writ-station: unexpected argument \"%s\"\n", argv[optind]);
		return -1;
	}
	if (!o->url || !o->token_file || !o->job || (o->n_ports == 0 && !o->port_dir)) {
		fprintf(stderr, "writ-station run: --factory, --token-file, --job and --port or --port-dir are required\n");
		return -1;
	}
	if (strlen(o->job) != 32) {
		fprintf(stderr, "writ-station: --job is the 32-hex-digit writ id\n");
		return -1;
	}
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	static struct run_opts o;
	static struct line_run r;
	struct factory_client *fc = NULL, *hc = NULL;
	char *carry = NULL;
	char token[FC_TOKEN_MAX] = "";
	pthread_t th[MAX_WORKERS];
	size_t nw = 0;
	int ec = 1;

	memset(&o, 0, sizeof o);
	memset(&r, 0, sizeof r);
	o.ports = calloc((size_t)argc + 1, sizeof *o.ports);
	if (!o.ports)
		return 1;
	if (parse_run(argc, argv, &o) < 0) {
		free(o.ports);
		return 2;
	}
	r.o = &o;
	selfupdate_detect(&g_su);
	if (selfupdate_take_carry(&carry) < 0) {
		fprintf(stderr, "writ-station: the hand-over from the previous version cannot be read; start writ-station "
				"again (devices already recorded are recognised)\n");
		free(o.ports);
		return 1;
	}
	if (g_su.active) {
		/* before the token, the spool or libcurl: the supervisor holds none of them */
		if (selfupdate_supervise(&g_su, g_argv) < 0) {
			log_warn("cannot start the supervisor: this run will not take a new version of writ-station");
			g_su.active = 0;
		} else {
			fprintf(stderr, "writ-station: version %s in %s/versions (a new version in %s/current is taken "
					"between devices)\n", g_su.version, g_su.prefix, g_su.prefix);
		}
	}
	if (stele_init(&r.tele, (uint32_t)o.tele_window) < 0) {
		free(carry);
		free(o.ports);
		return 1;
	}
	if (o.state_dir) {
		struct stele_spool_stats ss;

		if (stele_spool_open(&r.tele, o.state_dir, (int64_t)time(NULL), &ss) < 0) {
			fprintf(stderr, "writ-station: telemetry spool: %s\n", r.tele.spool_err);
			stele_free(&r.tele);
			free(carry);
			free(o.ports);
			return 1;
		}
		if (ss.bad || ss.torn || ss.dropped)
			fprintf(stderr, "writ-station: telemetry spool %s: skipped %zu damaged line%s%s%s and %zu torn last "
					"line%s (a crash while writing)%s; the %zu valid bucket%s are kept\n",
				r.tele.spool_path, ss.bad, ss.bad == 1 ? "" : "s", ss.first_bad[0] ? ", first " : "",
				ss.first_bad, ss.torn, ss.torn == 1 ? "" : "s", ss.dropped ? ", dropped the oldest beyond "
				"the 1440 kept" : "", ss.buckets, ss.buckets == 1 ? "" : "s");
		if (ss.buckets)
			fprintf(stderr, "writ-station: telemetry spool %s: %zu bucket%s of earlier runs (%llu devices) queued "
					"for the factory\n", r.tele.spool_path, ss.buckets, ss.buckets == 1 ? "" : "s",
				(unsigned long long)spool_devices(&r.tele));
	}
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.cv, NULL);
	for (size_t i = 0; i < o.n_ports; i++) {
		if (!station_driver_for(o.ports[i])) {
			fprintf(stderr, "writ-station: no driver for the port \"%s\" (unix:PATH, tcp:HOST:PORT, tty:PATH)\n",
				o.ports[i]);
			ec = 2;
			goto out;
		}
		if (add_port(&r, o.ports[i]) < 0) {
			ec = 2;
			goto out;
		}
	}
	if (carry) {
		int bad = apply_carry(&r, carry) < 0;

		free(carry);
		carry = NULL;
		if (bad)
			goto out;
	}
	if (o.port_dir) {
		DIR *d = opendir(o.port_dir);
		if (!d) {
			fprintf(stderr, "writ-station: cannot open --port-dir %s: %s\n", o.port_dir, strerror(errno));
			ec = 2;
			goto out;
		}
		closedir(d);
	}
	if (o.label_dir) {
		struct stat st;
		if (stat(o.label_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
			fprintf(stderr, "writ-station: --label-dir %s is not a directory\n", o.label_dir);
			ec = 2;
			goto out;
		}
	}
	if (station_read_token(o.token_file, token) < 0)
		goto out;
	if (factory_client_global_init() < 0) {
		fprintf(stderr, "writ-station: libcurl initialisation failed\n");
		goto out;
	}
	{
		struct fc_opts fo = { 3000, 30000 }, ho = { 1000, 3000 };
		/* the update poll's own client: short timeouts, so a hung factory never holds up
		 * the main loop (progress, telemetry, signals) for long */
		if (factory_client_new(o.url, token, &fo, &fc) < 0 || factory_client_new(o.url, NULL, &ho, &hc) < 0) {
			fprintf(stderr, "writ-station: --factory must be http://HOST:PORT\n");
			ec = 2;
			goto out;
		}
		ec = prepare(&r, fc);
		if (ec != 0)
			goto out;
		ec = 1;
		nw = o.parallel;
		for (size_t i = 0; i < nw; i++) {
			r.w[i].r = &r;
			r.w[i].idx = i;
			if (factory_client_new(o.url, token, &fo, &r.w[i].fc) < 0 ||
			    line_init(&r.w[i].line, r.writ_id, &r.base, r.job.iterations, r.job.serial_prefix, r.stop_reason,
				      sizeof r.stop_reason) < 0) {
				fprintf(stderr, "writ-station: cannot set up worker %zu: %s\n", i, r.stop_reason);
				nw = i + 1;
				r.n_workers = nw;
				goto out;
			}
			r.w[i].have_line = 1;
			/* the writ's PAI from the job: a chain read back is always compared with it */
			if (r.job.pai_len) {
				memcpy(r.w[i].line.pai, r.job.pai, r.job.pai_len);
				r.w[i].line.pai_len = r.job.pai_len;
			}
		}
		r.n_workers = nw;
	}
	writ_memzero(token, sizeof token); /* each client holds its own copy, wiped at close */
	/* start-up is over (job, firmware and recipe fetched and checked); confine the line */
	if (harden_seccomp(HARDEN_PROFILE_NET, o.no_seccomp) < 0)
		goto out;
	{
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_signal;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sa.sa_handler = SIG_IGN;
		sigaction(SIGPIPE, &sa, NULL);
	}
	r.tty = isatty(2);
	r.t0 = now_s();
	r.last_print = r.t0;
	fprintf(stderr, "writ-station: job %s (%s %s): %llu of %llu left; firmware %u (%zu bytes, signature ok); "
			"%zu workers\n", r.job.writ, r.job.product, r.job.version, (unsigned long long)r.job.remaining,
		(unsigned long long)r.job.quantity, r.job.fw_version, r.fw_len, nw);
	scan_dir(&r);
	if (o.once) {
		pthread_mutex_lock(&r.mu);
		r.no_more_ports = 1;
		pthread_mutex_unlock(&r.mu);
	}
	{
		size_t started = 0;
		for (size_t i = 0; i < nw; i++) {
			if (pthread_create(&th[i], NULL, worker_main, &r.w[i]) != 0) {
				stop_line(&r, 1, "cannot start a worker thread");
				break;
			}
			started++;
		}
		/* the main thread scans for new ports and keeps the progress line alive */
		for (;;) {
			int all_idle;
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 500000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			/* wakes at once when a device finishes (workers broadcast), else every 0.5 s */
			pthread_mutex_lock(&r.mu);
			pthread_cond_timedwait(&r.cv, &r.mu, &ts);
			pthread_mutex_unlock(&r.mu);
			if (!o.once)
				scan_dir(&r);
			pthread_mutex_lock(&r.mu);
			if (g_signal && !r.stop) {
				r.stop = 1;
				snprintf(r.stop_reason, sizeof r.stop_reason, "stopped by signal %d", (int)g_signal);
				pthread_cond_broadcast(&r.cv);
			}
			if (o.count && r.done >= o.count)
				r.stop = 1;
			all_idle = 1;
			for (size_t i = 0; i < r.n_ports; i++)
				if (r.ports[i].state != 2)
					all_idle = 0;
			if (o.once && all_idle)
				r.stop = 1;
			if (r.reexec && !r.stop) {
				size_t busy = 0;
				for (size_t i = 0; i < r.n_workers; i++)
					busy += r.w[i].step != NULL;
				if (busy == 0) /* between devices: hand over to the new version */
					r.stop = r.reexec_stop = 1;
			}
			progress(&r, 0);
			int stop = r.stop;
			if (stop)
				pthread_cond_broadcast(&r.cv);
			pthread_mutex_unlock(&r.mu);
			post_telemetry(&r, fc, 0);
			if (stop)
				break;
			update_poll(&r, hc);
		}
		for (size_t i = 0; i < started; i++)
			pthread_join(th[i], NULL);
	}
	pthread_mutex_lock(&r.mu);
	progress(&r, 1);
	pthread_mutex_unlock(&r.mu);
	post_telemetry(&r, fc, 1);
	if (r.reexec_stop && !r.stop_error && !g_signal) {
		ec = hand_over(&r);
		goto out;
	}
	{
		/* the rate over the time devices were worked on (to the last one's end) */
		double el = (r.t_last_done > r.t0 ? r.t_last_done : now_s()) - r.t0;
		double rate = el > 0 ? (double)r.ok / el : 0;
		double p50 = pct(r.dev_t, r.n_dev, 0.5), p99 = pct(r.dev_t, r.n_dev, 0.99);
		double o50 = pct(r.dev_over, r.n_dev, 0.5), c50 = pct(r.dev_chip, r.n_dev, 0.5);
		double f50 = pct(r.dev_fac, r.n_dev, 0.5);
		char fails[512] = "";
		size_t off = 0;
		for (size_t i = 0; i < N_STEPS; i++)
			if (r.by_step[i] && off < sizeof fails) {
				int w = snprintf(fails + off, sizeof fails - off, "%s%s %zu", off ? ", " : "", step_names[i],
						 r.by_step[i]);
				if (w > 0)
					off += (size_t)w;
			}
		if (r.stop_reason[0])
			fprintf(stderr, "writ-station: line stopped: %s\n", r.stop_reason);
		fprintf(stderr,
			"writ-station: %zu devices: ok %zu, already recorded %zu, failed %zu%s%s%s in %.2f s: %.2f devices/s; "
			"per device p50 %.0f ms, p99 %.0f ms (chip %.0f ms, factory %.0f ms, station %.0f ms at p50)\n",
			r.done, r.ok, r.already, r.failed, off ? " (" : "", fails, off ? ")" : "", el, rate, 1000 * p50,
			1000 * p99, 1000 * c50, 1000 * f50, 1000 * o50);
		/* "already" last: scripts read the first fields as before */
		printf("devices=%zu ok=%zu failed=%zu seconds=%.3f devices_per_s=%.3f p50_ms=%.2f p99_ms=%.2f "
		       "chip_wait_p50_ms=%.2f factory_p50_ms=%.2f overhead_p50_ms=%.2f already=%zu telemetry_run=%s "
		       "telemetry_posted=%zu telemetry_unsent=%zu update_pauses=%zu\n",
		       r.done, r.ok, r.failed, el, rate, 1000 * p50, 1000 * p99, 1000 * c50, 1000 * f50, 1000 * o50,
		       r.already, r.tele.window ? r.tele.run : "-", r.tele_posted,
		       r.tele.n_ready + r.tele.n_open + (size_t)r.tele.dropped, r.pauses);
		if (r.tele.n_ready || r.tele.dropped)
			fprintf(stderr, "writ-station: telemetry: %zu buckets of run %s not delivered to the factory\n",
				r.tele.n_ready + (size_t)r.tele.dropped, r.tele.run);
		ec = (r.failed == 0 && !r.stop_error) ? 0 : 1;
	}
out:
	writ_memzero(token, sizeof token);
	free(carry);
	for (size_t i = 0; i < r.n_workers; i++) {
		factory_client_close(r.w[i].fc);
		if (r.w[i].have_line)
			line_close(&r.w[i].line);
	}
	factory_client_close(fc);
	factory_client_close(hc);
	fc_job_free(&r.job);
	matter_fd_clear(&r.base);
	free(r.fw);
	free(r.ports);
	free(r.dev_t);
	free(r.dev_over);
	free(r.dev_chip);
	free(r.dev_fac);
	stele_free(&r.tele);
	free(o.ports);
	pthread_cond_destroy(&r.cv);
	pthread_mutex_destroy(&r.mu);
	return ec;
}

int main(int argc, char **argv)
{
	log_init("writ-station", LOG_LVL_INFO);
	harden_process();
	g_argv = argv;
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "--version")) { /* host/version.h */
		host_version_print("writ-station");
		return 0;
	}
	if (!strcmp(argv[1], "enrol"))
		return cmd_enrol(argc - 1, argv + 1);
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "rework"))
		return station_cmd_rework(argc - 1, argv + 1);
	fprintf(stderr, "writ-station: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
