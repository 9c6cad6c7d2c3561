/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `writ-factory enrol --cloud URL --code CODE` on a site the packages installed: the
 * whole setup in one command, built from the manual steps (cloud_enrol.c's enrol-info
 * and enrol, `writ-hsmd init`, `writ-factory init`). It makes the HSM's PIN files,
 * initialises the edge HSM's token as user writ-hsmd (unless already done), starts
 * writ-hsmd, initialises the factory's store as user writ-factory, enrols the HSM and
 * the factory with the code, keeps the factory token and an mes token for `doctor`,
 * writes /etc/writ/cloud.conf and starts writ-factory. Each step checks what is
 * already there, so running it again after a failure goes on where it stopped (the
 * code is spent only by the enrolment itself).
 *
 * The factory's TLS (docs/operations.md "Install a factory"): PIN files for its own token,
 * kept in a SoftHSM2 store of its own (the edge HSM's is writ-hsmd's alone), the
 * server certificate stations pin the CA of (`writ-factory tls-init`, as writ-factory),
 * and, when the admin dropped the OEM's portal CA into the TLS folder as cloud-ca.pem
 * before enrolling, the client certificate for mutual TLS to writ-cloud (`enrol --tls`).
 *
 * Services: with systemd as PID 1, `systemctl enable --now`; without it (a container,
 * a chroot) the same start wrappers the units run are started directly, detached, as
 * the service's user, with their pid in /run/writ/NAME.pid and their output in
 * /var/log/writ/NAME.log.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/ct.h"
#include "factory/api_json.h"
#include "factory/site.h"
#include "factory/store.h"
#include "factory/tls.h"
#include "host/conf.h"
#include "host/file.h"

int site_conf_get(const char *path, const char *key, char *out, size_t cap)
{
	char line[FACTORY_PATH_MAX + 128];
	size_t klen = strlen(key), n;
	int err = WRIT_E_NOTFOUND;
	FILE *f = fopen(path, "re");

	if (!f)
		return WRIT_E_NOTFOUND;
	while (fgets(line, sizeof(line), f)) {
		char *v = line;
		while (*v == ' ' || *v == '\t')
			v++;
		if (strncmp(v, key, klen) || v[klen] != '=')
			continue;
		v += klen + 1;
		n = strcspn(v, "\r\n");
		v[n] = 0;
		if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
			v[n - 1] = 0;
			v++;
			n -= 2;
		}
		if (n >= cap) {
			err = WRIT_E_TOOBIG;
			continue;
		}
		memcpy(out, v, n + 1);
		err = 0; /* the last assignment wins, as when the shell sources it */
	}
	fclose(f);
	return err;
}

/* Set field from conf_dir/file's key when present; a value too long is an error. */
static int conf_field(const char *conf_dir, const char *file, const char *key, char *field, size_t cap)
{
	char path[FACTORY_PATH_MAX];
	int err;

	if (path_join(path, sizeof(path), conf_dir, file) < 0)
		return WRIT_E_TOOBIG;
	err = site_conf_get(path, key, field, cap);
	if (err == WRIT_E_TOOBIG)
		fprintf(stderr, "writ-factory: %s in %s is too long\n", key, path);
	return err == WRIT_E_NOTFOUND ? 0 : err;
}

int site_load(const char *conf_dir, struct site *s)
{
	static const struct {
		const char *file, *key, *dflt;
		size_t off, cap;
	} keys[] = {
#define K(file, key, dflt, field) { file, key, dflt, offsetof(struct site, field), sizeof(((struct site *)0)->field) }
		K("hsmd.conf", "WRIT_HSMD_STATE", "/var/lib/writ-hsmd", hsmd_state),
		K("hsmd.conf", "WRIT_HSMD_SOCKET", "/run/writ-hsmd/hsmd.sock", hsmd_socket),
		K("hsmd.conf", "WRIT_HSMD_PIN_FILE", "/etc/writ/hsm.pin", pin_file),
		K("hsmd.conf", "WRIT_HSMD_SO_PIN_FILE", "/etc/writ/hsm.so-pin", so_pin_file),
		K("hsmd.conf", "SOFTHSM2_CONF", "/etc/writ/softhsm2.conf", softhsm_conf),
		K("hsmd.conf", "WRIT_HSMD_INIT_ARGS", "", hsmd_init_args),
		K("factory.conf", "WRIT_FACTORY_STATE", "/var/lib/writ-factory", factory_state),
		K("factory.conf", "WRIT_FACTORY_LISTEN", "0.0.0.0:8440", listen),
		K("factory.conf", "WRIT_FACTORY_CLOUD_TOKEN", "/etc/writ/factory.token", cloud_token),
		K("factory.conf", "WRIT_FACTORY_DOCTOR_TOKEN", "/etc/writ/doctor.token", doctor_token),
		K("factory.conf", "WRIT_FACTORY_TLS_DIR", "/etc/writ/tls", tls_dir),
		K("factory.conf", "WRIT_FACTORY_TLS_PIN_FILE", "/etc/writ/factory-tls.pin", tls_pin_file),
		K("factory.conf", "WRIT_FACTORY_TLS_SO_PIN_FILE", "/etc/writ/factory-tls.so-pin", tls_so_pin_file),
		K("factory.conf", "WRIT_FACTORY_SOFTHSM2_CONF", "/etc/writ/softhsm2-factory.conf", tls_softhsm_conf),
		K("factory.conf", "WRIT_FACTORY_TLS_HOSTS", "", tls_hosts),
		K("factory.conf", "WRIT_UPDATE_RELEASE_KEY", "/etc/writ/release.pem", release_key),
		K("cloud.conf", "WRIT_CLOUD_URL", "", cloud_url),
#undef K
	};
	size_t i;

	memset(s, 0, sizeof(*s));
	if (snprintf(s->conf_dir, sizeof(s->conf_dir), "%s", conf_dir) >= (int)sizeof(s->conf_dir))
		return WRIT_E_TOOBIG;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char *field = (char *)s + keys[i].off;
		(void)!snprintf(field, keys[i].cap, "%s", keys[i].dflt);
		if (conf_field(conf_dir, keys[i].file, keys[i].key, field, keys[i].cap) < 0)
			return WRIT_E_INVAL;
	}
	return 0;
}

/* ---- running things as the services' users ---- */

struct svc_user {
	const char *name;
	uid_t uid;
	gid_t gid;
};

static int lookup_user(const char *name, struct svc_user *u)
{
	struct passwd *pw = getpwnam(name);

	if (!pw) {
		fprintf(stderr, "writ-factory enrol: there is no user %s: install the writ-hsmd and writ-factory "
				"packages (their postinst makes it)\n", name);
		return WRIT_E_NOTFOUND;
	}
	u->name = name;
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	return 0;
}

/* In a child: become u for good (groups first, then gid, then uid). */
static void become(const struct svc_user *u)
{
	if (initgroups(u->name, u->gid) < 0 || setgid(u->gid) < 0 || setuid(u->uid) < 0) {
		fprintf(stderr, "writ-factory enrol: cannot become %s: %s\n", u->name, strerror(errno));
		_exit(127);
	}
}

/*
 * Run argv (argv[0] a path) as u with envp extras ("K=V" or NULL) and wait for it.
 * out (cap bytes, may be NULL) gets its stdout, NUL-terminated; its stderr stays ours.
 * Returns its exit status, or -1 when it could not run.
 */
static int run_as(const struct svc_user *u, char *const argv[], const char *env, char *out, size_t cap)
{
	int pfd[2] = { -1, -1 }, st = 0;
	size_t got = 0;
	pid_t pid;

	if (out && pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		if (out) {
			close(pfd[0]);
			close(pfd[1]);
		}
		return -1;
	}
	if (pid == 0) {
		if (out)
			dup2(pfd[1], STDOUT_FILENO);
		if (env)
			putenv((char *)env);
		become(u);
		execv(argv[0], argv);
		fprintf(stderr, "writ-factory enrol: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (out) {
		close(pfd[1]);
		for (;;) {
			char drain[256];
			/* past cap, read on (and drop) so that the child never blocks on a full pipe */
			ssize_t r = got < cap - 1 ? read(pfd[0], out + got, cap - 1 - got) : read(pfd[0], drain, sizeof(drain));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			if (got < cap - 1)
				got += (size_t)r;
		}
		out[got] = 0;
		close(pfd[0]);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Run argv as root (systemctl) and wait; its exit status or -1. */
static int run_root(char *const argv[])
{
	int st = 0;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int systemd_booted(void)
{
	struct stat st;

	return lstat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}

/* 1 if /run/writ/NAME.pid names a live process. */
static int pidfile_alive(const char *name)
{
	char path[128], buf[32] = "";
	long pid;
	FILE *f;

	(void)!snprintf(path, sizeof(path), "/run/writ/%s.pid", name);
	if (!(f = fopen(path, "re")))
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	pid = strtol(buf, NULL, 10);
	return pid > 1 && kill((pid_t)pid, 0) == 0;
}

/* With systemd, the daily renewal of the client certificate for writ-cloud
 * (writ-factory-tls-renew.timer); without it, cron runs tls-renew (docs/operations.md). */
static void renew_timer(void)
{
	char *argv[] = { "/bin/systemctl", "enable", "--now", "writ-factory-tls-renew.timer", NULL };

	if (!systemd_booted())
		fprintf(stderr, "writ-factory enrol: no systemd: run writ-factory tls-renew daily (cron) so that the "
				"client certificate for writ-cloud is renewed before it expires\n");
	else if (run_root(argv) != 0)
		fprintf(stderr, "writ-factory enrol: systemctl enable --now writ-factory-tls-renew.timer failed: renew "
				"the client certificate with writ-factory tls-renew before it expires\n");
	else
		fprintf(stderr, "writ-factory enrol: writ-factory-tls-renew.timer enabled (the client certificate is "
				"renewed 30 days before it expires)\n");
}

/*
 * Start service name (writ-hsmd, writ-factory) the way this host runs services.
 * run_dir, when set, is made for it first (owned by u, 0750): systemd makes it from the
 * unit's RuntimeDirectory, the direct start has to.
 */
static int service_start(const char *name, const struct svc_user *u, const char *run_dir)
{
	char unit[64], wrapper[FACTORY_PATH_MAX], log[128], pidpath[128];
	pid_t pid;
	FILE *f;

	(void)!snprintf(unit, sizeof(unit), "%s.service", name);
	if (systemd_booted()) {
		char *argv[] = { "/bin/systemctl", "enable", "--now", unit, NULL };
		if (run_root(argv) != 0) {
			fprintf(stderr, "writ-factory enrol: systemctl enable --now %s failed: see journalctl -u %s\n", unit,
				name);
			return WRIT_E_IO;
		}
		fprintf(stderr, "writ-factory enrol: %s enabled and started (systemd)\n", unit);
		return 0;
	}
	if (pidfile_alive(name)) {
		fprintf(stderr, "writ-factory enrol: %s runs already (/run/writ/%s.pid)\n", name, name);
		return 0;
	}
	if ((mkdir("/run/writ", 0755) < 0 && errno != EEXIST) || (mkdir("/var/log/writ", 0755) < 0 && errno != EEXIST)) {
		fprintf(stderr, "writ-factory enrol: cannot make /run/writ or /var/log/writ: %s\n", strerror(errno));
		return WRIT_E_IO;
	}
	if (run_dir && ((mkdir(run_dir, 0750) < 0 && errno != EEXIST) || chown(run_dir, u->uid, u->gid) < 0 ||
			chmod(run_dir, 0750) < 0)) {
		fprintf(stderr, "writ-factory enrol: cannot make %s: %s\n", run_dir, strerror(errno));
		return WRIT_E_IO;
	}
	(void)!snprintf(wrapper, sizeof(wrapper), "%s/%s-run", SITE_LIBEXEC, name);
	(void)!snprintf(log, sizeof(log), "/var/log/writ/%s.log", name);
	(void)!snprintf(pidpath, sizeof(pidpath), "/run/writ/%s.pid", name);
	pid = fork();
	if (pid < 0)
		return WRIT_E_IO;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640), nul = open("/dev/null", O_RDONLY);
		char *argv[] = { wrapper, NULL };
		if (fd < 0 || nul < 0 || fchown(fd, u->uid, u->gid) < 0)
			_exit(127);
		(void)setsid();
		dup2(nul, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		become(u);
		execv(wrapper, argv);
		_exit(127);
	}
	if (!(f = fopen(pidpath, "we")) || fprintf(f, "%ld\n", (long)pid) < 0 || fclose(f) != 0) {
		fprintf(stderr, "writ-factory enrol: cannot write %s\n", pidpath);
		return WRIT_E_IO;
	}
	fprintf(stderr, "writ-factory enrol: %s started (pid %ld, log %s; no systemd here: start %s again after a "
			"reboot, e.g. with `writ-factory enrol` once more)\n",
		name, (long)pid, log, wrapper);
	return 0;
}

/*
 * The updater's timer (docs/releases.md "The packaged layout"), once the release key is
 * pinned where the updater's configuration expects it: with systemd, `systemctl enable
 * --now`; without, the link `systemctl enable` would make, so that it runs once systemd
 * does, and a word on running the rounds meanwhile. No pin: updates stay off, said why.
 * A failure here is reported but does not fail the enrolment: the site works without.
 */
static void update_timer_enable(const struct site *s)
{
	char unit[FACTORY_PATH_MAX], wants[FACTORY_PATH_MAX];
	struct stat st;

	if (access(s->release_key, R_OK) != 0) {
		fprintf(stderr, "writ-factory enrol: no release key at %s (the cloud has none yet: writ-cloud release "
				"key makes it): automatic updates are off; once its operator gives you the PEM, put it "
				"there and run writ-factory enrol again\n", s->release_key);
		return;
	}
	(void)!snprintf(unit, sizeof(unit), "%s/%s", SITE_UNIT_DIR, SITE_UPDATE_TIMER);
	if (access(unit, R_OK) != 0) {
		fprintf(stderr, "writ-factory enrol: %s is missing: reinstall the writ-factory package for automatic "
				"updates\n", unit);
		return;
	}
	if (systemd_booted()) {
		char *argv[] = { "/bin/systemctl", "enable", "--now", SITE_UPDATE_TIMER, NULL };
		if (run_root(argv) != 0)
			fprintf(stderr, "writ-factory enrol: systemctl enable --now %s failed: automatic updates are off; "
					"see journalctl -u %s\n", SITE_UPDATE_TIMER, SITE_UPDATE_TIMER);
		else
			fprintf(stderr, "writ-factory enrol: automatic updates on (%s, release key %s)\n",
				SITE_UPDATE_TIMER, s->release_key);
		return;
	}
	(void)!snprintf(wants, sizeof(wants), "/etc/systemd/system/timers.target.wants/%s", SITE_UPDATE_TIMER);
	if (lstat(wants, &st) != 0 &&
	    ((mkdir("/etc/systemd", 0755) < 0 && errno != EEXIST) ||
	     (mkdir("/etc/systemd/system", 0755) < 0 && errno != EEXIST) ||
	     (mkdir("/etc/systemd/system/timers.target.wants", 0755) < 0 && errno != EEXIST) || symlink(unit, wants) < 0)) {
		fprintf(stderr, "writ-factory enrol: cannot enable %s (%s): %s\n", SITE_UPDATE_TIMER, wants, strerror(errno));
		return;
	}
	fprintf(stderr, "writ-factory enrol: %s enabled (release key %s); no systemd here: it runs once systemd does, "
			"until then run %s/writ-factory-update-run as root for a round\n",
		SITE_UPDATE_TIMER, s->release_key, SITE_LIBEXEC);
}

/* Wait up to seconds for a Unix socket at path. */
static int wait_socket(const char *path, int seconds)
{
	struct stat st;
	int i;

	for (i = 0; i < seconds * 10; i++) {
		int fd = -1;
		if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && hsmc_connect(path, &fd) == 0) {
			close(fd);
			return 0;
		}
		usleep(100 * 1000);
	}
	return WRIT_E_IO;
}

/* A random PIN into path (0600, owned by u) unless the file exists. */
static int make_pin(const char *path, const struct svc_user *u)
{
	uint8_t raw[18];
	char text[32];
	int fd, err = 0;

	if (access(path, F_OK) == 0)
		return 0;
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return WRIT_E_IO;
	fj_b64_encode(raw, sizeof(raw), text, 1);
	writ_memzero(raw, sizeof(raw));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || dprintf(fd, "%s\n", text) < 0 || fsync(fd) < 0 || fchown(fd, u->uid, u->gid) < 0)
		err = WRIT_E_IO;
	if (fd >= 0)
		close(fd);
	writ_memzero(text, sizeof(text));
	if (err < 0) {
		fprintf(stderr, "writ-factory enrol: cannot write %s: %s\n", path, strerror(errno));
		unlink(path);
	}
	return err;
}

static int exists(const char *dir, const char *name)
{
	char path[FACTORY_PATH_MAX];

	return path_join(path, sizeof(path), dir, name) == 0 && access(path, F_OK) == 0;
}

/* ---- the factory's TLS ---- */

static uid_t chown_uid;
static gid_t chown_gid;

static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return lchown(path, chown_uid, chown_gid) < 0 ? -1 : 0;
}

/* Give dir and everything under it to u: the enrolment runs as root and adds the TLS
 * client key to writ-factory's token store. */
static int chown_tree(const char *dir, const struct svc_user *u)
{
	chown_uid = u->uid;
	chown_gid = u->gid;
	if (nftw(dir, chown_one, 16, FTW_PHYS) < 0) {
		fprintf(stderr, "writ-factory enrol: cannot give %s to %s: %s\n", dir, u->name, strerror(errno));
		return WRIT_E_IO;
	}
	return 0;
}

/* The token store folder (directories.tokendir) a SoftHSM2 configuration file names. */
static int softhsm_tokendir(const char *conf, char *out, size_t cap)
{
	char line[FACTORY_PATH_MAX + 64];
	int err = WRIT_E_NOTFOUND;
	FILE *f = fopen(conf, "re");

	if (!f)
		return WRIT_E_NOTFOUND;
	while (err < 0 && fgets(line, sizeof(line), f)) {
		char *v = line, *eq;
		size_t n;
		while (*v == ' ' || *v == '\t')
			v++;
		if (strncmp(v, "directories.tokendir", 20) || !(eq = strchr(v, '=')))
			continue;
		for (v = eq + 1; *v == ' ' || *v == '\t'; v++)
			;
		n = strcspn(v, " \t\r\n");
		if (n == 0 || n >= cap)
			continue;
		memcpy(out, v, n);
		out[n] = 0;
		err = 0;
	}
	fclose(f);
	return err;
}

/* 1 when the host of a HOST:PORT listen address, copied to out, is one the server
 * certificate must name besides the defaults (not 0.0.0.0, not 127.0.0.1). */
static int listen_host(const char *listen, char *out, size_t cap)
{
	const char *colon = strrchr(listen, ':');
	size_t n = colon ? (size_t)(colon - listen) : 0;

	if (n == 0 || n >= cap)
		return 0;
	memcpy(out, listen, n);
	out[n] = 0;
	return strcmp(out, "0.0.0.0") != 0 && strcmp(out, "127.0.0.1") != 0;
}

/*
 * The factory's TLS folder and token, as writ-factory: PIN files, the token's store,
 * then tls-init unless the folder has a server certificate already. Sets the options
 * of factory/tls.h for `enrol --tls` when the folder holds cloud-ca.pem (*ret_mtls = 1).
 */
static int site_tls(struct site *s, const struct svc_user *fu, const char *self, int *ret_mtls)
{
	char env[FACTORY_PATH_MAX + 16], tokendir[FACTORY_PATH_MAX], hosts[1024], name[256] = "", ip[64];
	char server[FACTORY_PATH_MAX];
	struct factory_tls t = { 0 };
	struct stat st;

	*ret_mtls = 0;
	if (softhsm_tokendir(s->tls_softhsm_conf, tokendir, sizeof(tokendir)) < 0) {
		fprintf(stderr, "writ-factory enrol: %s gives no directories.tokendir (the factory's TLS token store): "
				"reinstall the writ-factory package\n", s->tls_softhsm_conf);
		return WRIT_E_NOTFOUND;
	}
	/* the package's postinst makes both; a site installed before TLS may lack them */
	if ((mkdir(tokendir, 0700) < 0 && errno != EEXIST) || (mkdir(s->tls_dir, 0755) < 0 && errno != EEXIST) ||
	    stat(s->tls_dir, &st) < 0 || (st.st_uid != fu->uid && chown(s->tls_dir, fu->uid, fu->gid) < 0) ||
	    chown_tree(tokendir, fu) < 0) {
		fprintf(stderr, "writ-factory enrol: cannot make %s or %s for writ-factory: %s\n", tokendir, s->tls_dir,
			strerror(errno));
		return WRIT_E_IO;
	}
	if (make_pin(s->tls_pin_file, fu) < 0 || make_pin(s->tls_so_pin_file, fu) < 0)
		return WRIT_E_IO;
	if (!exists(s->tls_dir, "server.pem")) {
		char *argv[] = { (char *)self, "tls-init", "--tls", s->tls_dir, "--host", hosts, "--tls-pin-file",
				 s->tls_pin_file, "--tls-so-pin-file", s->tls_so_pin_file, NULL };
		int n;
		if (gethostname(name, sizeof(name) - 1) < 0 || !name[0])
			(void)!snprintf(name, sizeof(name), "localhost");
		if (!listen_host(s->listen, ip, sizeof(ip)))
			ip[0] = 0;
		n = snprintf(hosts, sizeof(hosts), "%s,localhost,127.0.0.1%s%s%s%s", name, ip[0] ? "," : "", ip,
			     s->tls_hosts[0] ? "," : "", s->tls_hosts);
		if (n < 0 || n >= (int)sizeof(hosts))
			return WRIT_E_TOOBIG;
		(void)!snprintf(env, sizeof(env), "SOFTHSM2_CONF=%s", s->tls_softhsm_conf);
		if (run_as(fu, argv, env, NULL, 0) != 0) {
			fprintf(stderr, "writ-factory enrol: writ-factory tls-init failed (above)\n");
			return WRIT_E_IO;
		}
		fprintf(stderr, "writ-factory enrol: the factory's TLS server certificate is made for %s; stations pin "
				"%s/ca.pem (writ-station --factory-ca)\n", hosts, s->tls_dir);
	} else {
		fprintf(stderr, "writ-factory enrol: the factory's TLS is set up already (%s/server.pem)\n", s->tls_dir);
	}
	if (path_join(server, sizeof(server), s->tls_dir, "cloud-ca.pem") == 0 && access(server, R_OK) == 0) {
		/* the enrolment, in this process as root, makes the client key in the same token */
		if (setenv("SOFTHSM2_CONF", s->tls_softhsm_conf, 1) < 0)
			return WRIT_E_IO;
		t.dir = s->tls_dir;
		t.pin_file = s->tls_pin_file;
		t.so_pin_file = s->tls_so_pin_file;
		factory_tls_options(&t);
		*ret_mtls = 1;
	}
	return 0;
}

int site_enrol(struct cloud_cmd *o, const char *conf_dir)
{
	char factory[65] = "", pem[FACTORY_PATH_MAX], self[FACTORY_PATH_MAX], env[FACTORY_PATH_MAX + 16];
	char tok[512], line[1200], run_dir[FACTORY_PATH_MAX], *slash;
	struct svc_user hu, fu;
	struct site s;
	ssize_t n;
	int err, mtls = 0;

	if (geteuid() != 0) {
		fprintf(stderr, "writ-factory enrol: the site setup runs as root (it makes users' files and starts "
				"services); for the manual steps give --hsm SOCKET --token-out FILE\n");
		return 2;
	}
	if (!o->cloud) {
		fprintf(stderr, "writ-factory enrol: --cloud URL is required\n");
		return 2;
	}
	if (site_load(conf_dir, &s) < 0 || lookup_user("writ-hsmd", &hu) < 0 || lookup_user("writ-factory", &fu) < 0)
		return 1;
	/* the socket's folder: systemd makes it (RuntimeDirectory), a direct start must */
	(void)!snprintf(run_dir, sizeof(run_dir), "%s", s.hsmd_socket);
	if ((slash = strrchr(run_dir, '/')) && slash != run_dir)
		*slash = 0;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = 0;
	/* the factory's TLS first: local, and the portal CA is needed from the first request */
	if (site_tls(&s, &fu, self, &mtls) < 0)
		return 1;
	if (s.cloud_url[0] && access(s.cloud_token, F_OK) == 0) {
		fprintf(stderr, "writ-factory enrol: this site is enrolled already with %s (%s/cloud.conf); starting "
				"its services\n", s.cloud_url, conf_dir);
		if (service_start("writ-hsmd", &hu, run_dir) < 0 || service_start("writ-factory", &fu, NULL) < 0)
			return 1;
		update_timer_enable(&s);
		return 0;
	}

	/* 1. the OEM's writ-signing key, and the factory id the code is for (the code is
	 *    only looked up, not spent). A run that stopped after the enrolment (the code
	 *    is spent) goes on from what it left: the key, the store's factory id. */
	if (path_join(pem, sizeof(pem), conf_dir, "oem-writ-signing.pem") < 0)
		return 2;
	if (access(s.cloud_token, F_OK) == 0 && access(pem, F_OK) == 0) {
		char db[FACTORY_PATH_MAX];
		struct store *st = NULL;
		if (!exists(s.hsmd_state, "journal") || path_join(db, sizeof(db), s.factory_state, "factory.db") < 0 ||
		    store_open(db, 0, &st) < 0 || store_meta_get(st, "factory", factory, sizeof(factory)) < 0) {
			fprintf(stderr, "writ-factory enrol: %s exists but the HSM or the factory's store is missing: this "
					"site is half made; ask the OEM to revoke its token and for a new code, then remove "
					"%s and run this again\n", s.cloud_token, s.cloud_token);
			store_close(st);
			return 1;
		}
		store_close(st);
		fprintf(stderr, "writ-factory enrol: enrolled already as factory %s; finishing the setup\n", factory);
	} else {
		struct cloud_cmd info = *o;
		info.cmd = "enrol";
		info.out = pem;
		info.release_out = s.release_key; /* where the updater's configuration expects it */
		info.force = 1;
		info.site = 1;
		info.ret_factory = factory;
		if (cloud_cmd_enrol_info(&info) != 0)
			return 1;
		fprintf(stderr, "writ-factory enrol: the code is for factory %s\n", factory);
	}

	/* 2. the edge HSM: PINs, token and keys (as writ-hsmd), then the service */
	if (make_pin(s.pin_file, &hu) < 0 || make_pin(s.so_pin_file, &hu) < 0)
		return 1;
	if (!exists(s.hsmd_state, "journal")) {
		char *argv[12 + 16 + 1] = { "/usr/bin/writ-hsmd", "init", "--state", s.hsmd_state, "--factory", factory,
					    "--oem-key", pem, "--pin-file", s.pin_file, "--so-pin-file", s.so_pin_file };
		size_t argc = 12;
		char *w, *save = NULL;
		/* WRIT_HSMD_INIT_ARGS: words separated by blanks, as the shell would split them */
		for (w = strtok_r(s.hsmd_init_args, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
			if (argc >= 12 + 16) {
				fprintf(stderr, "writ-factory enrol: WRIT_HSMD_INIT_ARGS has more than 16 words\n");
				return 2;
			}
			argv[argc++] = w;
		}
		argv[argc] = NULL;
		(void)!snprintf(env, sizeof(env), "SOFTHSM2_CONF=%s", s.softhsm_conf);
		if (run_as(&hu, argv, env, NULL, 0) != 0) {
			fprintf(stderr, "writ-factory enrol: writ-hsmd init failed (above); nothing was sent to the cloud: "
					"fix it and run this command again\n");
			return 1;
		}
		fprintf(stderr, "writ-factory enrol: the edge HSM's keys are made in its token (%s)\n", s.hsmd_state);
	} else {
		fprintf(stderr, "writ-factory enrol: the edge HSM is initialised already (%s/journal)\n", s.hsmd_state);
	}
	if (service_start("writ-hsmd", &hu, run_dir) < 0)
		return 1;
	if (wait_socket(s.hsmd_socket, 30) < 0) {
		fprintf(stderr, "writ-factory enrol: writ-hsmd does not answer at %s after 30 s: see its log "
				"(journalctl -u writ-hsmd or /var/log/writ/writ-hsmd.log)\n", s.hsmd_socket);
		return 1;
	}

	/* 3. the factory's store (as writ-factory) */
	if (!exists(s.factory_state, "factory.db")) {
		char *argv[] = { self, "init", "--state", s.factory_state, "--oem-key", pem, "--factory", factory, NULL };
		if (run_as(&fu, argv, NULL, NULL, 0) != 0)
			return 1;
	}

	/* 4. enrol the HSM and the factory: this spends the code */
	if (access(s.cloud_token, F_OK) != 0) {
		struct cloud_cmd e = *o;
		e.cmd = "enrol";
		e.hsm = s.hsmd_socket;
		e.token_out = s.cloud_token;
		e.site = 1;
		if ((err = cloud_cmd_enrol(&e)) != 0)
			return err;
		if (mtls) {
			char tokendir[FACTORY_PATH_MAX], client[FACTORY_PATH_MAX];
			/* the client key went into writ-factory's token store, client.* into the
			 * TLS folder, both made by root: give them to the service */
			if (softhsm_tokendir(s.tls_softhsm_conf, tokendir, sizeof(tokendir)) < 0 ||
			    chown_tree(tokendir, &fu) < 0)
				return 1;
			if (path_join(client, sizeof(client), s.tls_dir, "client.key") < 0 ||
			    chown(client, fu.uid, fu.gid) < 0 ||
			    path_join(client, sizeof(client), s.tls_dir, "client.pem") < 0 ||
			    chown(client, fu.uid, fu.gid) < 0) {
				fprintf(stderr, "writ-factory enrol: cannot give %s/client.* to writ-factory: %s\n",
					s.tls_dir, strerror(errno));
				return 1;
			}
		}
	}
	if (chown(s.cloud_token, fu.uid, fu.gid) < 0) {
		fprintf(stderr, "writ-factory enrol: cannot give %s to writ-factory: %s\n", s.cloud_token, strerror(errno));
		return 1;
	}

	/* 5. an mes token for doctor, readable by root only */
	if (access(s.doctor_token, F_OK) != 0) {
		char *argv[] = { self, "token", "add", "--state", s.factory_state, "--role", "mes", NULL };
		size_t len;
		err = run_as(&fu, argv, NULL, tok, sizeof(tok));
		len = strcspn(tok, "\r\n");
		tok[len] = '\n';
		if (err != 0 || len < 16 || file_write_atomic(s.doctor_token, tok, len + 1, 0600) < 0)
			fprintf(stderr, "writ-factory enrol: no token for writ-factory doctor (%s); doctor will not see the "
					"service's status\n", s.doctor_token);
		writ_memzero(tok, sizeof(tok));
	}

	/* 6. the cloud's URL for the service, then the service */
	{
		char path[FACTORY_PATH_MAX];
		int len = snprintf(line, sizeof(line),
				   "# written by writ-factory enrol: the cloud this factory is enrolled with\n"
				   "WRIT_CLOUD_URL=%s\n",
				   o->cloud);
		if (len >= (int)sizeof(line) || path_join(path, sizeof(path), conf_dir, "cloud.conf") < 0 ||
		    file_write_atomic(path, line, (size_t)len, 0644) < 0) {
			fprintf(stderr, "writ-factory enrol: cannot write %s/cloud.conf\n", conf_dir);
			return 1;
		}
	}
	if (service_start("writ-factory", &fu, NULL) < 0)
		return 1;
	if (mtls)
		renew_timer();
	update_timer_enable(&s);
	printf("site ready: factory %s, edge HSM at %s, enrolled with %s%s\n", factory, s.hsmd_socket, o->cloud,
	       mtls ? " (mutual TLS)" : "");
	fprintf(stderr, "stations: https://THIS-HOST:%s with writ-station --factory-ca (a copy of %s/ca.pem)\n",
		strrchr(s.listen, ':') ? strrchr(s.listen, ':') + 1 : "8440", s.tls_dir);
	fprintf(stderr, "next: add a station (writ-factory station add --state %s --name N --line L); check the site "
			"with writ-factory doctor\n",
		s.factory_state);
	return 0;
}
