/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-cloud: the OEM's portal (docs/cloud-api.md).
 *
 *   writ-cloud init    --db URL [--token LABEL] [--module SO]
 *   writ-cloud org add --db URL --kind oem|odm --name ORG --user NAME [--role ROLE]
 *   writ-cloud serve   --db URL [--listen 127.0.0.1:8443] [--threads N]
 *
 * URL: sqlite:PATH (the embedded default) or postgresql://... (several instances may
 * serve one PostgreSQL). The token's PIN comes from --pin-file F or $WRIT_CLOUD_PIN;
 * `init` creates the token when missing, with an SO PIN from --so-pin-file F or
 * $WRIT_CLOUD_SO_PIN. Nothing secret is ever taken from argv.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/ct.h"
#include "crypto/ec.h"
#include "cloud/cloud.h"
#include "host/harden.h"
#include "cloud/tls.h"
#include "host/log.h"
#include "p11/p11.h"
#include "tls/tls.h"

#define DEFAULT_TOKEN "writ-cloud"

struct opts {
	const char *db, *listen, *pin_file, *so_pin_file, *token, *module, *kind, *name, *user, *role;
	const char *metrics_token_file;
	const char *tls_dir, *hosts; /* --tls DIR, --host (tls-init) */
	int insecure_http;
	unsigned days;
	const char *channel, *version; /* release add */
	unsigned threads;
	int verbose, no_seccomp;
};

static void usage(FILE *f)
{
	fprintf(f, "usage:\n"
		   "  writ-cloud init    --db URL [--token LABEL] [--module SO] [--pin-file F] [--so-pin-file F]\n"
		   "  writ-cloud org add --db URL --kind oem|odm --name ORG --user NAME [--role ROLE]\n"
		   "                     [--token LABEL] [--module SO] [--pin-file F]\n"
		   "  writ-cloud serve   --db URL [--listen HOST:PORT] [--threads N] [--verbose] [--no-seccomp]\n"
		   "                     [--token LABEL] [--module SO] [--pin-file F] [--metrics-token-file F]\n"
		   "                     (--tls DIR | --insecure-http)\n"
		   "  writ-cloud tls-init --tls DIR --host NAME[,NAME|IP]... [--days N] [--token LABEL] [--pin-file F]\n"
		   "  writ-cloud tls-revoke --db URL --name FACTORY\n"
		   "  writ-cloud release add --db URL --channel C --version V FILE... [--token LABEL] [--pin-file F]\n"
		   "  writ-cloud release key [--token LABEL] [--module SO] [--pin-file F]\n"
		   "  writ-cloud --help\n"
		   "\n"
		   "writ-cloud is the OEM's portal: organisations, products, versions, batches and their writs,\n"
		   "factory and edge-HSM enrolment, and the verified journals and records that come back\n"
		   "(docs/cloud-api.md). It keeps no state outside its store and its PKCS#11 token.\n"
		   "\n"
		   "Commands:\n"
		   "  init      create the store's schema, and the token when it does not exist yet\n"
		   "  org add   add an organisation and its first user; prints that user's API token once\n"
		   "            (the store keeps only its hash). An OEM's first user is oem-admin (or\n"
		   "            --role oem-security), an ODM's odm-engineer. An OEM gets its authority keys\n"
		   "            (writ signing, PAA, debug root, secure boot) made in the token.\n"
		   "  serve     answer the API under /v1 and GET /metrics until SIGTERM or SIGINT\n"
		   "  tls-init  make the portal TLS CA in the token (once: DIR/ca.pem) and a new server key and\n"
		   "            certificate (each time: this is the rotation; serve switches at its next handshake)\n"
		   "  tls-revoke  revoke every client certificate of a factory (its requests get 401 at once)\n"
		   "\n"
		   "Options:\n"
		   "  --db URL            sqlite:PATH (embedded) or postgresql://... (several instances may\n"
		   "                      serve one PostgreSQL); also $WRIT_CLOUD_DB\n"
		   "  --token LABEL       the PKCS#11 token holding every OEM's authority keys (default \"%s\")\n"
		   "  --module SO         the PKCS#11 module (default: the build's SoftHSM)\n"
		   "  --pin-file F        the token's user PIN (first line of F); else $WRIT_CLOUD_PIN\n"
		   "  --so-pin-file F     init only, to create a missing token; else $WRIT_CLOUD_SO_PIN\n"
		   "  --kind oem|odm      org add: the organisation's kind\n"
		   "  --name ORG          org add: its name (1..64 of A-Z a-z 0-9 . _ -)\n"
		   "  --user NAME         org add: its first user's name\n"
		   "  --role ROLE         org add: oem-admin or oem-security (OEM), odm-engineer (ODM)\n"
		   "  --listen HOST:PORT  serve: the IPv4 address and port (default 127.0.0.1:8443; port 0 picks\n"
		   "                      one and prints it)\n"
		   "  --tls DIR           serve: HTTPS (TLS 1.2/1.3) with DIR/server.pem and the key whose pkcs11: URL\n"
		   "                      is in DIR/server.key; factory credentials must also present a client\n"
		   "                      certificate issued by DIR/ca.pem at enrolment (docs/operations.md \"TLS\")\n"
		   "  --insecure-http     serve: plain HTTP, for development; refused unless --listen is loopback\n"
		   "  --host NAMES        tls-init: the names / IPv4 addresses clients use (comma-separated)\n"
		   "  --days N            tls-init: the server certificate's validity (default 90)\n"
		   "  --threads N         serve: worker threads, 1..256 (default 8); the store pool has N+2\n"
		   "  --metrics-token-file F  serve: enable GET /metrics (Prometheus text) for callers that send\n"
		   "                      Authorization: Bearer <the first line of F> (16..128 characters);\n"
		   "                      else $WRIT_CLOUD_METRICS_TOKEN; neither: /metrics answers 404. No\n"
		   "                      tenant's API token can read /metrics: it spans every tenant.\n"
		   "  --verbose           serve: log every request at debug level\n"
		   "  --no-seccomp        serve: do not confine the process with its seccomp allow-list\n"
		   "                      (debugging only; the filter is installed once the store, the\n"
		   "                      token and the socket are open)\n"
		   "  --help              this page\n"
		   "\n"
		   "Environment:\n"
		   "  WRIT_CLOUD_DB             the store URL when --db is not given\n"
		   "  WRIT_CLOUD_PIN            the token's user PIN when --pin-file is not given\n"
		   "  WRIT_CLOUD_SO_PIN         the token's SO PIN (init) when --so-pin-file is not given\n"
		   "  WRIT_CLOUD_METRICS_TOKEN  the metrics token when --metrics-token-file is not given\n"
		   "  SOFTHSM2_CONF             SoftHSM's configuration (where its tokens live)\n"
		   "\n"
		   "Files:\n"
		   "  the SQLite file of --db sqlite:PATH (with its -wal and -shm files): back it up with\n"
		   "  sqlite3 PATH \".backup COPY\"; the token (SoftHSM: its token directory) must be backed up\n"
		   "  with it, or the OEMs' authority keys are lost.\n"
		   "\n"
		   "Logs go to stderr (\"writ-cloud: LEVEL: message\"); `serve` prints its URL on stdout.\n"
		   "\n"
		   "Exit status:\n"
		   "  0 done (serve: stopped by a signal); 1 the store or the token failed (the reason is on\n"
		   "  stderr); 2 usage.\n"
		   "\n"
		   "Example:\n"
		   "  export WRIT_CLOUD_PIN=... WRIT_CLOUD_SO_PIN=...\n"
		   "  writ-cloud init --db sqlite:/var/lib/writ-cloud/cloud.db\n"
		   "  writ-cloud org add --db sqlite:/var/lib/writ-cloud/cloud.db --kind oem --name acme --user alice >alice.token\n"
		   "  openssl rand -hex 32 >/etc/writ/metrics.token\n"
		   "  writ-cloud tls-init --tls /etc/writ/tls --host portal.example\n"
		   "  writ-cloud serve --db sqlite:/var/lib/writ-cloud/cloud.db --listen 0.0.0.0:8443 --tls /etc/writ/tls \\\n"
		   "      --metrics-token-file /etc/writ/metrics.token\n",
		DEFAULT_TOKEN);
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "db", required_argument, 0, 'd' },	  { "listen", required_argument, 0, 'l' },
		{ "pin-file", required_argument, 0, 'p' }, { "so-pin-file", required_argument, 0, 's' },
		{ "token", required_argument, 0, 't' },	  { "module", required_argument, 0, 'm' },
		{ "kind", required_argument, 0, 'k' },	  { "name", required_argument, 0, 'n' },
		{ "user", required_argument, 0, 'u' },	  { "role", required_argument, 0, 'r' },
		{ "threads", required_argument, 0, 'T' }, { "verbose", no_argument, 0, 'v' },
		{ "metrics-token-file", required_argument, 0, 'M' },
		{ "no-seccomp", no_argument, 0, 'N' },
		{ "tls", required_argument, 0, 'S' },	  { "insecure-http", no_argument, 0, 'I' },
		{ "host", required_argument, 0, 'O' },   { "days", required_argument, 0, 'D' },
		{ "channel", required_argument, 0, 'R' }, { "version", required_argument, 0, 'V' },
		{ "help", no_argument, 0, 'h' },	  { 0, 0, 0, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->listen = "127.0.0.1:8443";
	o->token = DEFAULT_TOKEN;
	o->threads = 8;
	o->db = getenv("WRIT_CLOUD_DB");
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd': o->db = optarg; break;
		case 'l': o->listen = optarg; break;
		case 'p': o->pin_file = optarg; break;
		case 's': o->so_pin_file = optarg; break;
		case 't': o->token = optarg; break;
		case 'm': o->module = optarg; break;
		case 'k': o->kind = optarg; break;
		case 'n': o->name = optarg; break;
		case 'u': o->user = optarg; break;
		case 'r': o->role = optarg; break;
		case 'T': o->threads = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'v': o->verbose = 1; break;
		case 'M': o->metrics_token_file = optarg; break;
		case 'N': o->no_seccomp = 1; break;
		case 'S': o->tls_dir = optarg; break;
		case 'I': o->insecure_http = 1; break;
		case 'O': o->hosts = optarg; break;
		case 'D': o->days = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'R': o->channel = optarg; break;
		case 'V': o->version = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (!o->db && o->tls_dir && o->hosts) /* tls-init needs no store */
		o->db = "";
	if (!o->db) {
		fprintf(stderr, "writ-cloud: --db URL (or $WRIT_CLOUD_DB) is required: sqlite:PATH or postgresql://...\n");
		return -1;
	}
	if (o->threads < 1 || o->threads > 256) {
		fprintf(stderr, "writ-cloud: --threads 1..256\n");
		return -1;
	}
	return 0;
}

static int open_token(struct opts *o, int create, struct p11_ctx **ret)
{
	const struct p11_pin_source src = { o->pin_file, "WRIT_CLOUD_PIN", o->so_pin_file, "WRIT_CLOUD_SO_PIN" };
	const char *missing = NULL;
	int err = p11_open_pins(o->module, o->token, &src, create, ret, &missing);

	if (missing && !strcmp(missing, "PIN"))
		fprintf(stderr, "writ-cloud: no token PIN: use --pin-file F or set WRIT_CLOUD_PIN\n");
	else if (missing)
		fprintf(stderr, "writ-cloud: token \"%s\" does not exist; give an SO PIN (--so-pin-file F or "
				"WRIT_CLOUD_SO_PIN) to create it\n", o->token);
	else if (err < 0)
		fprintf(stderr, "writ-cloud: cannot open token \"%s\": %s\n", o->token, writ_strerror(err));
	return err;
}

static int do_init(struct opts *o)
{
	struct p11_ctx *p11 = NULL;
	struct db *db = NULL;
	int err;

	if ((err = open_token(o, 1, &p11)) < 0)
		return 1;
	p11_close(p11);
	if ((err = db_open(o->db, &db)) < 0) {
		fprintf(stderr, "writ-cloud init: cannot open the store: %s\n", writ_strerror(err));
		return 1;
	}
	err = schema_create(db);
	if (err < 0)
		fprintf(stderr, "writ-cloud init: cannot create the schema: %s\n", db_errmsg(db));
	else
		printf("writ-cloud store ready (%s), token \"%s\"\n", db_kind(db) == DB_POSTGRES ? "postgresql" : "sqlite",
		       o->token);
	db_close(db);
	return err < 0 ? 1 : 0;
}

/* `org add`: run through the same call path as the API, without HTTP. */
struct org_add {
	struct opts *o;
	int oem;
	enum role role;
	int64_t org_id;
	char token[64];
};

static int tx_org_add(struct call *k, void *arg)
{
	struct org_add *a = arg;
	struct db_res *r = NULL;
	uint8_t hash[32];
	int64_t uid;
	int err;

	err = db_query(k->db, "INSERT INTO orgs (name, kind, created) VALUES (?, ?, ?) RETURNING id",
		       (struct db_param[]){ DB_T(a->o->name), DB_T(a->oem ? "oem" : "odm"), DB_I(now_s()) }, 3, &r);
	if (err < 0)
		return err;
	a->org_id = db_int(r, 0, 0);
	db_res_free(r);
	r = NULL;
	if (a->oem && (err = keys_create_org(k->c, k->db, a->org_id, a->o->name)) < 0)
		return err;
	err = db_query(k->db, "INSERT INTO users (org_id, name, role, created) VALUES (?, ?, ?, ?) RETURNING id",
		       (struct db_param[]){ DB_I(a->org_id), DB_T(a->o->user), DB_T(role_name(a->role)), DB_I(now_s()) }, 4,
		       &r);
	if (err < 0)
		return err;
	uid = db_int(r, 0, 0);
	db_res_free(r);
	if ((err = token_make(a->token, hash)) < 0)
		return err;
	return db_exec(k->db, "INSERT INTO tokens (user_id, label, hash, created) VALUES (?, 'first', ?, ?)",
		       (struct db_param[]){ DB_I(uid), DB_B(hash, 32), DB_I(now_s()) }, 3, NULL);
}

static int do_org_add(struct opts *o)
{
	struct cloud c;
	struct call k;
	struct org_add a;
	int err;

	memset(&a, 0, sizeof(a));
	a.o = o;
	if (!o->kind || (strcmp(o->kind, "oem") && strcmp(o->kind, "odm")) || !name_ok(o->name) || !name_ok(o->user)) {
		fprintf(stderr, "writ-cloud org add: --kind oem|odm, --name ORG and --user NAME (1..64 of A-Z a-z 0-9 . _ -)\n");
		return 2;
	}
	a.oem = !strcmp(o->kind, "oem");
	a.role = o->role ? role_parse(o->role) : a.oem ? ROLE_OEM_ADMIN : ROLE_ODM_ENGINEER;
	if (a.oem ? (a.role != ROLE_OEM_ADMIN && a.role != ROLE_OEM_SECURITY) : a.role != ROLE_ODM_ENGINEER) {
		fprintf(stderr, "writ-cloud org add: an OEM's user is oem-admin or oem-security; an ODM's odm-engineer\n");
		return 2;
	}
	memset(&c, 0, sizeof(c));
	memset(&k, 0, sizeof(k));
	pthread_mutex_init(&c.p11_lock, NULL);
	if (a.oem && open_token(o, 0, &c.p11) < 0)
		return 1;
	if ((err = db_open(o->db, &k.db)) < 0) {
		fprintf(stderr, "writ-cloud org add: cannot open the store: %s\n", writ_strerror(err));
		p11_close(c.p11);
		return 1;
	}
	k.c = &c;
	err = in_tx(&k, tx_org_add, &a);
	if (err == WRIT_E_EXISTS)
		fprintf(stderr, "writ-cloud org add: an organisation named \"%s\" exists\n", o->name);
	else if (err < 0)
		fprintf(stderr, "writ-cloud org add: failed: %s %s\n", writ_strerror(err), db_errmsg(k.db));
	else {
		printf("%s\n", a.token);
		fprintf(stderr, "%s organisation %s with user %s (%s); the line above is the user's API token, shown once\n",
			a.oem ? "OEM" : "ODM", o->name, o->user, role_name(a.role));
	}
	writ_memzero(a.token, sizeof(a.token));
	db_close(k.db);
	p11_close(c.p11);
	return err < 0 ? 1 : 0;
}

/* `release add` signs a release of the factory-side programs with the operator's
 * release key and stores it; `release key` prints that key's public half (PEM) for
 * the factories to pin (docs/releases.md). */
static int do_release(struct opts *o, const char *sub, char **files, size_t n)
{
	struct cloud c;
	struct db *db = NULL;
	uint8_t pub[WRIT_P256_PUB_LEN];
	char *pem = NULL;
	int err;

	memset(&c, 0, sizeof(c));
	pthread_mutex_init(&c.p11_lock, NULL);
	if (open_token(o, 0, &c.p11) < 0)
		return 1;
	if (!strcmp(sub, "key")) {
		if ((err = release_key(&c, pub)) == 0 && (err = ec_pub_to_pem(pub, &pem)) == 0)
			fputs(pem, stdout);
		else
			fprintf(stderr, "writ-cloud release key: %s\n", writ_strerror(err));
		free(pem);
		p11_close(c.p11);
		return err < 0 ? 1 : 0;
	}
	if ((err = db_open(o->db, &db)) < 0 || (err = schema_create(db)) < 0) {
		fprintf(stderr, "writ-cloud release add: cannot open the store: %s\n", writ_strerror(err));
		db_close(db);
		p11_close(c.p11);
		return 1;
	}
	err = release_add(&c, db, o->channel, o->version, files, n);
	if (err == 0)
		fprintf(stderr, "writ-cloud release add: %s on channel %s signed and published (%zu files)\n", o->version,
			o->channel, n);
	else if (err != WRIT_E_INVAL && err != WRIT_E_EXISTS)
		fprintf(stderr, "writ-cloud release add: failed: %s %s\n", writ_strerror(err), db_errmsg(db));
	db_close(db);
	p11_close(c.p11);
	return err < 0 ? 1 : 0;
}

/* The metrics token: the first line of --metrics-token-file F, else $WRIT_CLOUD_METRICS_TOKEN.
 * 0 when none is given (metrics off), 1 when set, -1 on a refusal (said on stderr). */
static int metrics_token(struct opts *o, struct cloud *c)
{
	char buf[160];
	const char *env = getenv("WRIT_CLOUD_METRICS_TOKEN");
	FILE *f;
	int err;

	buf[0] = 0;
	if (o->metrics_token_file) {
		if (!(f = fopen(o->metrics_token_file, "r"))) {
			fprintf(stderr, "writ-cloud serve: cannot read --metrics-token-file %s\n", o->metrics_token_file);
			return -1;
		}
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		fclose(f);
		buf[strcspn(buf, "\r\n")] = 0;
	} else if (env && *env) {
		(void)!snprintf(buf, sizeof(buf), "%s", env);
	} else {
		return 0;
	}
	err = cmetrics_set_token(c, buf);
	writ_memzero(buf, sizeof(buf));
	if (err < 0) {
		fprintf(stderr, "writ-cloud serve: the metrics token must be 16..128 characters (e.g. openssl rand -hex 32)\n");
		return -1;
	}
	return 1;
}

/* lib/tls gets the portal token's PIN: GnuTLS uses the TLS keys by pkcs11: URL. */
static int tls_serve_pin(struct opts *o)
{
	char pin[P11_PIN_MAX];
	int err;

	if ((err = p11_pin_load(o->pin_file, "WRIT_CLOUD_PIN", pin)) < 0) {
		fprintf(stderr, "writ-cloud: no token PIN for TLS: use --pin-file F or set WRIT_CLOUD_PIN\n");
		return err;
	}
	err = tls_p11_setup(o->module, pin);
	writ_memzero(pin, sizeof(pin));
	return err;
}

static int do_tls_init(struct opts *o)
{
	char pin[P11_PIN_MAX];
	int rc;

	if (p11_pin_load(o->pin_file, "WRIT_CLOUD_PIN", pin) < 0) {
		fprintf(stderr, "writ-cloud tls-init: no token PIN: use --pin-file F or set WRIT_CLOUD_PIN\n");
		return 1;
	}
	rc = cloud_tls_cmd_init(o->tls_dir, o->module, o->token, pin, o->hosts, o->days);
	writ_memzero(pin, sizeof(pin));
	return rc;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int do_serve(struct opts *o)
{
	struct cloud c;
	struct cloud_server *s = NULL;
	struct db *db = NULL;
	char host[64];
	const char *colon = strrchr(o->listen, ':');
	unsigned port;
	int err;

	if (!colon || (size_t)(colon - o->listen) >= sizeof(host)) {
		fprintf(stderr, "writ-cloud serve: --listen HOST:PORT\n");
		return 2;
	}
	memcpy(host, o->listen, (size_t)(colon - o->listen));
	host[colon - o->listen] = 0;
	port = (unsigned)strtoul(colon + 1, NULL, 10);
	if (!o->tls_dir && !(o->insecure_http && tls_host_is_loopback(host))) {
		fprintf(stderr, "writ-cloud serve: give --tls DIR (docs/operations.md \"TLS\"); plain HTTP only with "
				"--insecure-http on a loopback address (127.0.0.0/8), for development\n");
		return 2;
	}
	memset(&c, 0, sizeof(c));
	pthread_mutex_init(&c.p11_lock, NULL);
	c.quiet = !o->verbose;
	c.started = now_s();
	if (metrics_token(o, &c) < 0)
		return 2;
	if (open_token(o, 0, &c.p11) < 0)
		return 1;
	if ((err = db_open(o->db, &db)) < 0 || (err = schema_create(db)) < 0) {
		fprintf(stderr, "writ-cloud serve: the store is not reachable or not initialised: %s %s (run writ-cloud init)\n",
			writ_strerror(err), db ? db_errmsg(db) : "");
		db_close(db);
		p11_close(c.p11);
		return 1;
	}
	c.kind = db_kind(db);
	if (o->tls_dir && (tls_serve_pin(o) < 0 || cloud_tls_serve_setup(db, o->tls_dir) < 0)) {
		db_close(db);
		p11_close(c.p11);
		return 1;
	}
	db_close(db);
	if ((err = db_pool_new(o->db, o->threads + 2, &c.pool)) < 0) {
		fprintf(stderr, "writ-cloud serve: store pool: %s\n", writ_strerror(err));
		p11_close(c.p11);
		return 1;
	}
	c.db_url = o->db;
	if ((err = cloud_serve_start(&c, host, port, o->threads, &s)) < 0) {
		fprintf(stderr, "writ-cloud serve: cannot listen on %s: %s\n", o->listen, writ_strerror(err));
		db_pool_free(c.pool);
		p11_close(c.p11);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	/* start-up is over: token open, store reachable, listening */
	if (harden_seccomp(HARDEN_PROFILE_NET, o->no_seccomp) < 0) {
		cloud_serve_stop(s);
		db_pool_free(c.pool);
		p11_close(c.p11);
		return 1;
	}
	printf("writ-cloud listening on %s://%s:%u (%s store)\n", o->tls_dir ? "https" : "http", host, cloud_serve_port(s),
	       c.kind == DB_POSTGRES ? "postgresql" : "sqlite");
	fflush(stdout);
	while (!stop)
		pause();
	cloud_serve_stop(s);
	db_pool_free(c.pool);
	tls_cleanup();
	p11_close(c.p11);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	const char *cmd;

	log_init("writ-cloud", LOG_LVL_INFO);
	harden_process();
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "org")) {
		if (argc >= 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
			usage(stdout);
			return 0;
		}
		if (argc < 3 || strcmp(argv[2], "add")) {
			usage(stderr);
			return 2;
		}
		if (parse(argc - 2, argv + 2, &o) < 0)
			return 2;
		return do_org_add(&o);
	}
	if (!strcmp(cmd, "release")) {
		if (argc >= 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
			usage(stdout);
			return 0;
		}
		if (argc < 3 || (strcmp(argv[2], "add") && strcmp(argv[2], "key"))) {
			usage(stderr);
			return 2;
		}
		if (!getenv("WRIT_CLOUD_DB") && !strcmp(argv[2], "key"))
			setenv("WRIT_CLOUD_DB", "unused", 0); /* the key needs no store */
		if (parse(argc - 2, argv + 2, &o) < 0)
			return 2;
		return do_release(&o, argv[2], argv + 2 + optind, (size_t)(argc - 2 - optind));
	}
	if (parse(argc - 1, argv + 1, &o) < 0)
		return 2;
	if (o.verbose)
		log_init("writ-cloud", LOG_LVL_DEBUG);
	if (!strcmp(cmd, "init"))
		return do_init(&o);
	if (!strcmp(cmd, "serve"))
		return do_serve(&o);
	if (!strcmp(cmd, "tls-init"))
		return do_tls_init(&o);
	if (!strcmp(cmd, "tls-revoke"))
		return cloud_tls_cmd_revoke(o.db, o.name);
	fprintf(stderr, "writ-cloud: unknown command \"%s\"\n", cmd);
	usage(stderr);
	return 2;
}
