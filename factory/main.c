/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-factory: the factory service (docs/factory-api.md). `init` creates the state
 * directory and its store, pinned to the OEM's writ-signing key and a factory id;
 * `serve` connects to the edge HSMs, watches the file drop, answers the stations' HTTP
 * API, feeds the MES webhook and syncs with writ-cloud (--cloud) until SIGTERM;
 * `station add|list|revoke` and `token add` manage who may call the API. One-time
 * codes and tokens are printed once and only their SHA-256 is stored. `enrol-info`,
 * `enrol` and `add-hsm` (cloud_enrol.c) register the factory and its HSMs with
 * writ-cloud.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "base/ct.h"
#include "crypto/ec.h"
#include "factory/api_json.h"
#include "factory/factory.h"
#include "factory/telemetry.h"
#include "factory/metrics.h"
#include "factory/site.h"
#include "factory/update.h"
#include "host/conf.h"
#include "host/file.h"
#include "host/harden.h"
#include "host/log.h"
#include "host/version.h"
#include "factory/tls.h"
#include "web/httpc.h"
#include "wire/writ.h"

struct opts {
	const char *state, *oem_key, *factory, *listen, *drop, *webhook, *name, *line, *role;
	const char *hsm[FACTORY_MAX_HSMS];
	size_t n_hsm;
	struct cloud_cmd cloud; /* --cloud, --code, --code-file, --out, --token-out, --cloud-token-file, --force */
	unsigned sync_interval;
	int no_seccomp;
	struct doctor_opts doctor; /* --conf-dir, --hsmd-state, --factory-url, --min-free-mb, --tolerance, --json */
	struct factory_tls tls; /* --tls DIR and its token (factory/tls.h) */
	int insecure_http;
	long renew_within; /* tls-renew --if-expiring-within DAYS; -1: the default */
};

static void usage(FILE *f)
{
	fprintf(f, "usage:\n"
		   "  writ-factory init  --state DIR --oem-key writ-signing.pub.pem --factory ID\n"
		   "  writ-factory serve --state DIR --listen HOST:PORT --hsm SOCKET [--hsm SOCKET]...\n"
		   "                     [--drop DIR] [--webhook URL]\n"
		   "                     [--cloud URL --cloud-token-file FILE [--sync-interval SECONDS]]\n"
		   "                     [--no-seccomp]   (debugging only: serve confines itself otherwise)\n"
		   "                     (--tls DIR [--tls-token LABEL] | --insecure-http)\n"
		   "  writ-factory tls-init --tls DIR --host NAME[,NAME|IP]... [--days N]   (new server key + cert)\n"
		   "  writ-factory tls-renew --tls DIR --cloud URL --cloud-token-file FILE\n"
		   "                     [--if-expiring-within DAYS] [--force]   (new client key + cert, no restart)\n"
		   "  writ-factory station add --state DIR --name N --line L   (prints a one-time code)\n"
		   "  writ-factory station list --state DIR\n"
		   "  writ-factory station revoke --state DIR ID\n"
		   "  writ-factory token add --state DIR --role mes            (prints a token once)\n"
		   "  writ-factory token list --state DIR\n"
		   "  writ-factory token revoke --state DIR ID                 (an mes token: 401 from now on)\n"
		   "  writ-factory enrol-info --cloud URL (--code CODE | --code-file F) --out oem-writ-signing.pem [--force]\n"
		   "  writ-factory enrol --cloud URL (--code CODE | --code-file F) --hsm SOCKET --token-out FILE [--force]\n"
		   "                     [--tls DIR]   (with cloud-ca.pem in DIR: also get the TLS client certificate)\n"
		   "  writ-factory enrol --cloud URL (--code CODE | --code-file F) [--conf-dir /etc/writ]\n"
		   "                     (as root, on a site the packages installed: the whole setup)\n"
		   "  writ-factory add-hsm --cloud URL --cloud-token-file FILE --hsm SOCKET\n"
		   "  writ-factory doctor [--json] [--conf-dir /etc/writ] [--state DIR] [--hsm SOCKET] [--hsmd-state DIR]\n"
		   "                     [--cloud URL] [--factory-url URL --factory-token-file F] [--min-free-mb N]\n"
		   "                     [--tolerance SECONDS]\n"
		   "  writ-factory update run|check|apply|status --prefix P --state DIR ...  (signed releases:\n"
		   "                     writ-factory update --help, docs/releases.md)\n"
		   "  writ-factory --help | --version   (the version: VERSION next to the program, else the built one)\n"
		   "\n"
		   "writ-factory is the factory service: it loads writs and product-version bundles into its\n"
		   "edge HSMs (from writ-cloud, or a drop directory / USB stick), serves the stations' HTTP\n"
		   "API (jobs, firmware, DACs and wrapped secrets through the HSMs, records), feeds the MES\n"
		   "and syncs records and HSM journals to writ-cloud through any outage (docs/factory-api.md).\n"
		   "\n"
		   "Commands:\n"
		   "  init        create DIR and its store, pinned to the OEM's key and the factory id\n"
		   "  serve       run until SIGTERM/SIGINT; GET /v1/health (open) and GET /metrics (mes token)\n"
		   "  station     add a station (a one-time code for `writ-station enrol`), list, revoke\n"
		   "  token       add, list or revoke an mes token (reads records, status and /metrics)\n"
		   "  enrol-info  fetch the OEM's writ-signing key for an enrolment code (for writ-hsmd init),\n"
		   "              and pin the cloud's release key as release.pem next to --out (never over\n"
		   "              a different one: refused; docs/releases.md)\n"
		   "  enrol       register this factory and its first HSM with writ-cloud; writes the\n"
		   "              factory's cloud token (mode 0600) to --token-out\n"
		   "              Without --hsm and --token-out, as root on a site the Debian packages\n"
		   "              installed, enrol is the whole setup: it makes the PINs, initialises\n"
		   "              the edge HSM's token, starts writ-hsmd, initialises the store, enrols,\n"
		   "              writes --conf-dir/cloud.conf and starts writ-factory (docs/operations.md);\n"
		   "              it pins the cloud's release key where factory.conf's WRIT_UPDATE_RELEASE_KEY\n"
		   "              says (default /etc/writ/release.pem; never over a different one) and\n"
		   "              enables the updater, writ-factory-update.timer (docs/releases.md)\n"
		   "  add-hsm     register another HSM of an enrolled factory\n"
		   "  doctor      check a site end to end: HSM socket and journal, clock, cloud, the\n"
		   "              service's status and queues, disk, stations, updates; says what to do\n"
		   "  tls-init    make DIR's factory CA (once) and a new server key and certificate (each time:\n"
		   "              this is also the rotation; a running serve switches at its next handshake)\n"
		   "  tls-renew   renew the client certificate writ-cloud issued at enrolment: a new key in\n"
		   "              the TLS token, its CSR sent over the current mutual-TLS connection, the new\n"
		   "              client.pem/client.key written atomically; a running serve uses them from its\n"
		   "              next request and the portal then retires the old certificate. Does nothing\n"
		   "              unless the current one expires within --if-expiring-within DAYS (default 30;\n"
		   "              --force: now): run it daily (writ-factory-tls-renew.timer)\n"
		   "\n"
		   "Options:\n"
		   "  --state DIR              the state directory (factory.db, firmware/)\n"
		   "  --oem-key F.pem          init: the OEM's writ-signing public key (bundles verify under it)\n"
		   "  --factory ID             init: this factory's id, as the OEM registered it\n"
		   "  --listen HOST:PORT       serve: IPv4 address and port of the API (HTTPS with --tls)\n"
		   "  --tls DIR                TLS (docs/operations.md \"TLS\"): serve with DIR/server.pem +\n"
		   "                           server.key (tls-init); talk to --cloud trusting DIR/cloud-ca.pem with\n"
		   "                           the client certificate DIR/client.pem that `enrol --tls DIR` got\n"
		   "  --tls-token LABEL        the factory's own PKCS#11 token for its TLS keys (default\n"
		   "                           \"writ-factory-tls\"; never the edge HSM's token)\n"
		   "  --tls-module SO          its PKCS#11 module (default: the build's SoftHSM)\n"
		   "  --tls-pin-file F         its user PIN (else $WRIT_FACTORY_TLS_PIN)\n"
		   "  --tls-so-pin-file F      its SO PIN, to create it (else $WRIT_FACTORY_TLS_SO_PIN)\n"
		   "  --host NAMES             tls-init: the names / IPv4 addresses stations use (comma-separated)\n"
		   "  --days N                 tls-init: the server certificate's validity (default 90)\n"
		   "  --if-expiring-within DAYS  tls-renew: renew only when the client certificate expires\n"
		   "                           within DAYS days (default 30)\n"
		   "  --insecure-http          serve: plain HTTP, for development; refused unless --listen is a\n"
		   "                           loopback address (127.0.0.0/8)\n"
		   "  --hsm SOCKET             a writ-hsmd socket (serve: up to %d; enrol, add-hsm: one)\n"
		   "  --drop DIR               serve: load *.writ and *.wbundle dropped here (moved to done/ or\n"
		   "                           refused/ with NAME.reason)\n"
		   "  --webhook URL            serve: POST each record to the MES, retried with backoff\n"
		   "  --cloud URL              writ-cloud's URL (serve: sync; enrol-info, enrol, add-hsm)\n"
		   "  --cloud-token-file FILE  the factory's cloud token that `enrol` wrote\n"
		   "  --sync-interval S        serve: seconds between sync rounds, 1..86400 (default 5)\n"
		   "  --code CODE              the one-time enrolment code (prefer --code-file: argv is public)\n"
		   "  --code-file F            a file holding the enrolment code\n"
		   "  --out F                  enrol-info: where to write the OEM's key (PEM)\n"
		   "  --token-out F            enrol: where to write the factory's cloud token (0600)\n"
		   "  --force                  overwrite an existing --out / --token-out file; tls-renew: now\n"
		   "  --name N, --line L       station add: the station's name and line\n"
		   "  --role mes               token add: the role (mes is the only one)\n"
		   "  --conf-dir DIR           enrol (site mode), doctor: the settings folder (default /etc/writ)\n"
		   "  --hsmd-state DIR         doctor: writ-hsmd's state folder (its journal is verified)\n"
		   "  --factory-url URL        doctor: the running service's URL\n"
		   "  --factory-token-file F   doctor: an mes token for its status\n"
		   "  --min-free-mb N          doctor: warn below N MiB free in the state folders\n"
		   "  --tolerance S            doctor: the clock skew (s) accepted against the journal and cloud\n"
		   "  --json                   doctor: one JSON object instead of text\n"
		   "  --no-seccomp             serve: do not install the seccomp allow-list (debugging only)\n"
		   "  --help                   this page\n"
		   "\n"
		   "Environment:\n"
		   "  WRIT_DEBUG   set (to anything): log at debug level\n"
		   "  WRIT_FACTORY_TLS_PIN, WRIT_FACTORY_TLS_SO_PIN   the TLS token's PINs (see --tls-pin-file)\n"
		   "\n"
		   "Files:\n"
		   "  DIR/factory.db   the SQLite store (stations, tokens, bundles, DAC notes, records, queues);\n"
		   "                   back it up with sqlite3 DIR/factory.db \".backup COPY\" while serving\n"
		   "  DIR/firmware/    firmware images by SHA-256\n"
		   "  --tls DIR        ca.pem, server.pem, server.key, client.pem, client.key (pkcs11: URLs of\n"
		   "                   keys in the TLS token: the keys never leave it), cloud-ca.pem\n"
		   "\n"
		   "Logs go to stderr (\"writ-factory: LEVEL: message\"): HSMs up and down, writs and bundles\n"
		   "loaded or refused, every HSM refusal, sync outages, and \"DAC ISSUED BUT NOT NOTED\".\n"
		   "\n"
		   "Exit status:\n"
		   "  0 done (serve: stopped by a signal); 1 failed (the store, the cloud refused, ...: the\n"
		   "  reason is on stderr); 2 usage. doctor: 0 all good, 1 warnings, 2 failures, 3 usage.\n"
		   "\n"
		   "Example:\n"
		   "  writ-factory init --state /var/lib/writ-factory --oem-key oem.pem --factory foxy-sz1\n"
		   "  writ-factory tls-init --tls /etc/writ/tls --host factory.lan,10.0.0.5\n"
		   "  writ-factory serve --state /var/lib/writ-factory --listen 10.0.0.5:8440 --tls /etc/writ/tls \\\n"
		   "      --hsm /var/lib/writ-hsmd/hsmd.sock --drop /srv/writ-drop \\\n"
		   "      --cloud https://portal.example:8443 --cloud-token-file /etc/writ/factory.token\n"
		   "  writ-factory token add --state /var/lib/writ-factory --role mes >mes.token\n",
		FACTORY_MAX_HSMS);
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "state", 1, 0, 's' },	 { "oem-key", 1, 0, 'k' }, { "factory", 1, 0, 'f' }, { "listen", 1, 0, 'l' },
		{ "hsm", 1, 0, 'H' },	 { "drop", 1, 0, 'd' },	   { "webhook", 1, 0, 'w' }, { "name", 1, 0, 'n' },
		{ "line", 1, 0, 'L' },	 { "role", 1, 0, 'r' },	   { "help", 0, 0, 'h' },    { "cloud", 1, 0, 'C' },
		{ "code", 1, 0, 'c' },	 { "code-file", 1, 0, 'F' }, { "out", 1, 0, 'o' }, { "token-out", 1, 0, 'T' },
		{ "cloud-token-file", 1, 0, 't' }, { "sync-interval", 1, 0, 'i' }, { "force", 0, 0, 'x' },
		{ "no-seccomp", 0, 0, 'N' },
		{ "conf-dir", 1, 0, 'D' }, { "hsmd-state", 1, 0, 'S' }, { "factory-url", 1, 0, 'U' },
		{ "factory-token-file", 1, 0, 'K' }, { "min-free-mb", 1, 0, 'M' }, { "tolerance", 1, 0, 'O' },
		{ "json", 0, 0, 'j' },
		{ "tls", 1, 0, 256 }, { "tls-token", 1, 0, 257 }, { "tls-module", 1, 0, 258 },
		{ "tls-pin-file", 1, 0, 259 }, { "tls-so-pin-file", 1, 0, 260 }, { "host", 1, 0, 261 },
		{ "days", 1, 0, 262 }, { "insecure-http", 0, 0, 263 }, { "if-expiring-within", 1, 0, 264 },
		{ 0, 0, 0, 0 }
	};
	char *end;
	long v;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's': o->state = optarg; break;
		case 'k': o->oem_key = optarg; break;
		case 'f': o->factory = optarg; break;
		case 'l': o->listen = optarg; break;
		case 'd': o->drop = optarg; break;
		case 'w': o->webhook = optarg; break;
		case 'n': o->name = optarg; break;
		case 'L': o->line = optarg; break;
		case 'r': o->role = optarg; break;
		case 'C': o->cloud.cloud = optarg; break;
		case 'c': o->cloud.code = optarg; break;
		case 'F': o->cloud.code_file = optarg; break;
		case 'o': o->cloud.out = optarg; break;
		case 'T': o->cloud.token_out = optarg; break;
		case 't': o->cloud.token_file = optarg; break;
		case 'x': o->cloud.force = 1; break;
		case 'D': o->doctor.conf_dir = optarg; break;
		case 'S': o->doctor.hsmd_state = optarg; break;
		case 'U': o->doctor.factory_url = optarg; break;
		case 'K': o->doctor.factory_token_file = optarg; break;
		case 'j': o->doctor.json = 1; break;
		case 'M':
		case 'O':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || v < 1 || v > 100000000) {
				fprintf(stderr, "writ-factory: --%s is a positive number\n", c == 'M' ? "min-free-mb" : "tolerance");
				return -1;
			}
			if (c == 'M')
				o->doctor.min_free_mb = v;
			else
				o->doctor.tolerance = v;
			break;
		case 'i':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || v < 1 || v > 86400) {
				fprintf(stderr, "writ-factory: --sync-interval is 1..86400 seconds\n");
				return -1;
			}
			o->sync_interval = (unsigned)v;
			break;
		case 'H':
			if (o->n_hsm >= FACTORY_MAX_HSMS) {
				fprintf(stderr, "writ-factory: at most %d --hsm\n", FACTORY_MAX_HSMS);
				return -1;
			}
			o->hsm[o->n_hsm++] = optarg;
			break;
		case 'N': o->no_seccomp = 1; break;
		case 256: o->tls.dir = optarg; break;
		case 257: o->tls.token = optarg; break;
		case 258: o->tls.module = optarg; break;
		case 259: o->tls.pin_file = optarg; break;
		case 260: o->tls.so_pin_file = optarg; break;
		case 261: o->tls.hosts = optarg; break;
		case 262: o->tls.days = (unsigned)strtoul(optarg, NULL, 10); break;
		case 263: o->insecure_http = 1; break;
		case 264:
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 0 || v > 3650) {
				fprintf(stderr, "writ-factory: --if-expiring-within takes 0..3650 days\n");
				return -1;
			}
			o->renew_within = v;
			break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	return 0;
}

static int open_store(const struct opts *o, struct store **ret)
{
	char path[FACTORY_PATH_MAX];
	int err;

	if (path_join(path, sizeof(path), o->state, "factory.db") < 0)
		return WRIT_E_TOOBIG;
	err = store_open(path, 0, ret);
	if (err < 0)
		fprintf(stderr, "writ-factory: cannot open the store %s: %s%s\n", path, writ_strerror(err),
			err == WRIT_E_NOTFOUND ? " (run writ-factory init first)" : "");
	return err;
}

static int cmd_init(struct opts *o)
{
	uint8_t *pem = NULL, pub[WRIT_P256_PUB_LEN];
	size_t pem_len = 0;
	char path[FACTORY_PATH_MAX], hex[2 * WRIT_P256_PUB_LEN + 1];
	struct store *s = NULL;
	int err;

	if (!o->oem_key || !o->factory) {
		fprintf(stderr, "writ-factory init: --oem-key and --factory are required\n");
		return 2;
	}
	if (!writ_name_valid(o->factory)) {
		fprintf(stderr, "writ-factory init: the factory id is 1..64 characters of A-Z a-z 0-9 . _ -\n");
		return 2;
	}
	if (file_read(o->oem_key, 4096, &pem, &pem_len) < 0 || ec_pub_from_pem(pem, pem_len, pub) < 0) {
		fprintf(stderr, "writ-factory init: cannot read a P-256 public key from %s (the OEM's "
				"writ-signing.pub.pem)\n", o->oem_key);
		free(pem);
		return 2;
	}
	free(pem);
	if (mkdir(o->state, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "writ-factory init: cannot create %s: %s\n", o->state, strerror(errno));
		return 1;
	}
	if (path_join(path, sizeof(path), o->state, "firmware") < 0 || (mkdir(path, 0700) < 0 && errno != EEXIST)) {
		fprintf(stderr, "writ-factory init: cannot create %s/firmware\n", o->state);
		return 1;
	}
	if (path_join(path, sizeof(path), o->state, "factory.db") < 0)
		return 2;
	if (access(path, F_OK) == 0) {
		fprintf(stderr, "writ-factory init: %s already exists: this state directory is in use\n", path);
		return 1;
	}
	if ((err = store_open(path, 1, &s)) < 0) {
		fprintf(stderr, "writ-factory init: cannot create the store %s: %s\n", path, writ_strerror(err));
		return 1;
	}
	hex_encode(pub, sizeof(pub), hex);
	if ((err = store_meta_set(s, "factory", o->factory)) < 0 || (err = store_meta_set(s, "oem_pub", hex)) < 0) {
		fprintf(stderr, "writ-factory init: cannot write the store: %s\n", writ_strerror(err));
		store_close(s);
		return 1;
	}
	store_close(s);
	printf("factory %s ready in %s; bundles must be signed by the pinned OEM key %.16s…\n", o->factory, o->state, hex);
	return 0;
}

/* A random secret as base64url text (nbytes of entropy); wiped by the caller. */
static int random_text(size_t nbytes, char *out, uint8_t ret_sha[32])
{
	uint8_t raw[32];

	if (nbytes > sizeof(raw) || getrandom(raw, nbytes, 0) != (ssize_t)nbytes)
		return WRIT_E_IO;
	fj_b64_encode(raw, nbytes, out, 1);
	writ_memzero(raw, sizeof(raw));
	return ec_sha256(out, strlen(out), ret_sha);
}

static void print_station(void *arg, int64_t id, const char *name, const char *line, int enrolled, int revoked)
{
	printf("%lld\t%s\t%s\t%s\n", (long long)id, name, line, revoked ? "revoked" : enrolled ? "enrolled" : "pending");
}

static int cmd_station(struct opts *o, const char *sub, int argc, char **argv)
{
	struct store *s = NULL;
	char code[64];
	uint8_t sha[32];
	int64_t id = 0;
	int err, rc = 1;

	if (open_store(o, &s) < 0)
		return 1;
	if (!strcmp(sub, "add")) {
		if (!o->name || !o->line || !fj_printable(o->name, FJ_TEXT_MAX) || !fj_printable(o->line, FJ_TEXT_MAX)) {
			fprintf(stderr, "writ-factory station add: --name and --line (1..64 printable characters) are required\n");
			rc = 2;
		} else if ((err = random_text(16, code, sha)) < 0 || (err = store_station_add(s, o->name, o->line, sha, &id)) < 0) {
			fprintf(stderr, "writ-factory station add: %s\n", writ_strerror(err));
		} else {
			printf("station %lld\ncode %s\n", (long long)id, code);
			fprintf(stderr, "give the code to station \"%s\" on line \"%s\": it enrols once with POST "
					"/v1/stations/enrol\n", o->name, o->line);
			rc = 0;
		}
		writ_memzero(code, sizeof(code));
	} else if (!strcmp(sub, "list")) {
		printf("id\tname\tline\tstate\n");
		rc = store_station_list(s, print_station, NULL) < 0;
	} else if (!strcmp(sub, "revoke")) {
		char *end;
		long long v;
		errno = 0;
		v = optind < argc ? strtoll(argv[optind], &end, 10) : 0;
		if (optind >= argc || errno || *end || v <= 0) {
			fprintf(stderr, "writ-factory station revoke: give the station id (see station list)\n");
			rc = 2;
		} else if ((err = store_station_revoke(s, v)) < 0) {
			fprintf(stderr, "writ-factory station revoke: %s\n",
				err == WRIT_E_NOTFOUND ? "no such station (see station list)" : writ_strerror(err));
		} else {
			printf("station %lld revoked: its token is refused from now on\n", v);
			rc = 0;
		}
	} else {
		fprintf(stderr, "writ-factory station: add, list or revoke\n");
		rc = 2;
	}
	store_close(s);
	return rc;
}

static void print_token(void *arg, int64_t id, const char *role, int64_t station, int64_t created, int revoked)
{
	(void)arg;
	printf("%lld\t%s\t%lld\t%lld\t%s\n", (long long)id, role, (long long)station, (long long)created,
	       revoked ? "revoked" : "active");
}

static int cmd_token(struct opts *o, const char *sub, int argc, char **argv)
{
	struct store *s = NULL;
	char tok[64];
	uint8_t sha[32];
	int err, rc = 1;

	if (!strcmp(sub, "list") || !strcmp(sub, "revoke")) {
		char *end;
		long long v = 0;
		if (!strcmp(sub, "revoke")) {
			errno = 0;
			v = optind < argc ? strtoll(argv[optind], &end, 10) : 0;
			if (optind >= argc || errno || *end || v <= 0) {
				fprintf(stderr, "writ-factory token revoke: give the token id (see token list)\n");
				return 2;
			}
		}
		if (open_store(o, &s) < 0)
			return 1;
		if (!strcmp(sub, "list")) {
			printf("id\trole\tstation\tcreated\tstate\n");
			rc = store_token_list(s, print_token, NULL) < 0;
		} else if ((err = store_token_revoke(s, v)) < 0) {
			fprintf(stderr, "writ-factory token revoke: %s\n",
				err == WRIT_E_NOTFOUND ? "no such mes token (see token list; a station's token is revoked "
							 "with station revoke)"
						       : writ_strerror(err));
		} else {
			printf("token %lld revoked: it is refused (401) from now on\n", v);
			rc = 0;
		}
		store_close(s);
		return rc;
	}
	if (strcmp(sub, "add") || !o->role || strcmp(o->role, "mes")) {
		fprintf(stderr, "writ-factory token add --role mes (stations get theirs by enrolling), token list, "
				"token revoke ID\n");
		return 2;
	}
	if (open_store(o, &s) < 0)
		return 1;
	if ((err = random_text(32, tok, sha)) < 0 || (err = store_token_add(s, "mes", 0, sha)) < 0) {
		fprintf(stderr, "writ-factory token add: %s\n", writ_strerror(err));
	} else {
		printf("%s\n", tok);
		fprintf(stderr, "mes token made: it is shown only now; it may read records and status (token list shows "
				"its id)\n");
		rc = 0;
	}
	writ_memzero(tok, sizeof(tok));
	store_close(s);
	return rc;
}

static int split_listen(const char *listen, char *host, size_t cap, unsigned *port)
{
	const char *colon = listen ? strrchr(listen, ':') : NULL;
	char *end;
	long v;

	if (!colon || (size_t)(colon - listen) >= cap || colon == listen)
		return -1;
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = 0;
	errno = 0;
	v = strtol(colon + 1, &end, 10);
	if (errno || *end || v < 0 || v > 65535)
		return -1;
	*port = (unsigned)v;
	return 0;
}

static int cmd_serve(struct opts *o)
{
	struct factory *f = calloc(1, sizeof(*f));
	struct http_server *http = NULL;
	pthread_t webhook_thread, cloud_thread;
	int webhook_started = 0, cloud_started = 0, rc = 1, n, sig, err;
	char host[64], hex[2 * WRIT_P256_PUB_LEN + 1];
	unsigned port = 0;
	sigset_t set;
	size_t i;

	if (!f)
		return 1;
	factory_init(f);
	fmetrics_start();
	if (split_listen(o->listen, host, sizeof(host), &port) < 0 || !o->n_hsm) {
		fprintf(stderr, "writ-factory serve: --listen HOST:PORT and at least one --hsm SOCKET are required\n");
		free(f);
		return 2;
	}
	if (!!o->cloud.cloud != !!o->cloud.token_file) {
		fprintf(stderr, "writ-factory serve: --cloud URL and --cloud-token-file FILE go together\n");
		free(f);
		return 2;
	}
	if ((rc = factory_tls_serve(host, o->insecure_http)) != 0) { /* --tls or --insecure-http (tls.c) */
		free(f);
		return rc;
	}
	rc = 1;
	if (o->cloud.cloud) {
		if ((err = httpc_token_load(o->cloud.token_file, NULL, f->cloud.token)) < 0) {
			fprintf(stderr, "writ-factory serve: cannot read the factory token from %s: %s\n", o->cloud.token_file,
				err == WRIT_E_AUTH ? "the file may be read by others: chmod 600 it" : writ_strerror(err));
			free(f);
			return 2;
		}
		f->cloud.url = o->cloud.cloud;
		f->cloud.interval = o->sync_interval ? o->sync_interval : 5;
	}
	/* Signals go to sigtimedwait in this thread only; every thread made below inherits
	 * the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (open_store(o, &f->store) < 0)
		goto out;
	if (ftele_open(o->state, &f->tele) < 0)
		log_warn("the telemetry store %s/telemetry.db cannot be opened: stations' telemetry is refused", o->state);
	if (store_meta_get(f->store, "factory", f->factory_id, sizeof(f->factory_id)) < 0 ||
	    store_meta_get(f->store, "oem_pub", hex, sizeof(hex)) < 0 || hex_decode(hex, f->oem_pub, sizeof(f->oem_pub)) < 0) {
		log_error("the store in %s lacks its factory id or OEM key: run writ-factory init", o->state);
		goto out;
	}
	if (snprintf(f->state, sizeof(f->state), "%s", o->state) >= (int)sizeof(f->state))
		goto out;
	if (store_dac_recover(f->store, &n) == 0 && n > 0)
		log_warn("%d DAC requests were cut by a stop: their devices may ask again (the HSM decides)", n);
	for (i = 0; i < o->n_hsm; i++) {
		if (snprintf(f->hsms[i].path, sizeof(f->hsms[i].path), "%s", o->hsm[i]) >= (int)sizeof(f->hsms[i].path))
			goto out;
	}
	f->n_hsms = o->n_hsm;
	f->drop = o->drop;
	f->webhook = o->webhook;
	if (f->drop) {
		char sub[FACTORY_PATH_MAX];
		if (path_join(sub, sizeof(sub), f->drop, "done") == 0)
			(void)mkdir(sub, 0755);
		if (path_join(sub, sizeof(sub), f->drop, "refused") == 0)
			(void)mkdir(sub, 0755);
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("libcurl cannot start");
		goto out;
	}
	update_serve_init(f->state); /* update.c: the running version, before seccomp */
	n = factory_refresh(f);
	log_info("factory %s: %d of %zu edge HSMs answer", f->factory_id, n, f->n_hsms);
	factory_drop_scan(f);
	if (http_start(f, host, port, &http) < 0)
		goto out_curl;
	/* start-up is over: store open, HSMs reached, listening; threads made from here on
	 * inherit the filter */
	if (harden_seccomp(HARDEN_PROFILE_NET, o->no_seccomp) < 0)
		goto out_http;
	if (f->webhook) {
		if (pthread_create(&webhook_thread, NULL, webhook_main, f) != 0) {
			log_error("cannot start the webhook thread");
			goto out_http;
		}
		webhook_started = 1;
	}
	if (f->cloud.url) {
		if (pthread_create(&cloud_thread, NULL, cloud_main, f) != 0) {
			log_error("cannot start the cloud sync thread");
			goto out_threads;
		}
		cloud_started = 1;
	}
	log_info("serving on %s:%u (state %s%s%s)", host, port, o->state, f->drop ? ", drop " : "", f->drop ? f->drop : "");
	for (;;) {
		struct timespec ts = { 1, 0 };
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		(void)factory_refresh(f);
		factory_drop_scan(f);
	}
	log_info("stopping on signal %d", sig);
	rc = 0;
out_threads:
	atomic_store(&f->stop, 1);
	if (cloud_started) {
		cloud_wake(f);
		pthread_join(cloud_thread, NULL);
	}
	if (webhook_started) {
		webhook_kick(f);
		pthread_join(webhook_thread, NULL);
	}
out_http:
	http_stop(http);
out_curl:
	curl_global_cleanup();
out:
	writ_memzero(f->cloud.token, sizeof(f->cloud.token));
	factory_fini(f);
	store_close(f->store);
	ftele_close(f->tele);
	free(f);
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o;
	const char *cmd, *sub = NULL;
	int shift = 1;

	memset(&o, 0, sizeof(o));
	o.renew_within = -1;
	log_init("writ-factory", getenv("WRIT_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	harden_process();
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version")) {
		host_version_print("writ-factory");
		return 0;
	}
	if (!strcmp(cmd, "update")) /* update.c: signed releases, a process of its own */
		return update_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "station") || !strcmp(cmd, "token")) {
		if (argc < 3) {
			usage(stderr);
			return 2;
		}
		if (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h")) {
			usage(stdout);
			return 0;
		}
		sub = argv[2];
		shift = 2;
	}
	if (parse(argc - shift, argv + shift, &o) < 0) {
		usage(stderr);
		return !strcmp(cmd, "doctor") ? 3 : 2; /* doctor's 2 means failures found */
	}
	o.cloud.cmd = cmd;
	factory_tls_options(&o.tls);
	if (!strcmp(cmd, "tls-init"))
		return factory_tls_cmd_init();
	if (!strcmp(cmd, "tls-renew"))
		return factory_tls_cmd_renew(o.cloud.cloud, o.cloud.token_file, o.renew_within, o.cloud.force);
	o.cloud.hsm = o.n_hsm ? o.hsm[0] : NULL;
	if (!strcmp(cmd, "enrol-info"))
		return cloud_cmd_enrol_info(&o.cloud);
	if (!strcmp(cmd, "enrol") && !o.n_hsm && !o.cloud.token_out)
		return site_enrol(&o.cloud, o.doctor.conf_dir ? o.doctor.conf_dir : SITE_CONF_DIR);
	if (!strcmp(cmd, "doctor")) {
		o.doctor.state = o.state;
		o.doctor.hsm = o.n_hsm ? o.hsm[0] : NULL;
		o.doctor.cloud = o.cloud.cloud;
		return site_doctor(&o.doctor);
	}
	if (!strcmp(cmd, "enrol") || !strcmp(cmd, "add-hsm")) {
		if (o.n_hsm != 1) {
			fprintf(stderr, "writ-factory %s: give exactly one --hsm SOCKET\n", cmd);
			return 2;
		}
		return !strcmp(cmd, "enrol") ? cloud_cmd_enrol(&o.cloud) : cloud_cmd_add_hsm(&o.cloud);
	}
	if (!o.state) {
		fprintf(stderr, "writ-factory: --state DIR is required\n");
		usage(stderr);
		return 2;
	}
	if (!strcmp(cmd, "init"))
		return cmd_init(&o);
	if (!strcmp(cmd, "serve"))
		return cmd_serve(&o);
	if (!strcmp(cmd, "station"))
		return cmd_station(&o, sub, argc - shift, argv + shift);
	if (!strcmp(cmd, "token"))
		return cmd_token(&o, sub, argc - shift, argv + shift);
	fprintf(stderr, "writ-factory: unknown command %s\n", cmd);
	usage(stderr);
	return 2;
}
