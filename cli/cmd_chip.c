/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `writ chip`: talk to chips (real ones on a serial line, or writ-devsim) through the
 * station's chip driver: discover, status, and provision one or many chips in parallel
 * against a writ-hsmd, with a progress line and one JSON record per device. This is the
 * line's tool until writ-station takes jobs from the factory service; the bench uses it.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/ct.h"
#include "chip/chip.h"
#include "chip/provision.h"
#include "cli/cmds.h"
#include "crypto/ec.h"
#include "crypto/fwsig.h"
#include "host/file.h"
#include "station/line.h"

#define MAX_CHIPS 4096
#define MAX_WORKERS 64

static void usage(FILE *f)
{
	fprintf(f,
		"usage:\n"
		"  writ chip discover --connect ADDR\n"
		"  writ chip status   --connect ADDR\n"
		"  writ chip chain    --connect ADDR --cert-dir DIR   (the stored DAC and PAI: DIR/UID.dac.der, pai.der)\n"
		"  writ chip keys     --connect ADDR   (GENERATE_KEYS: new keys, CSR on stdout in hex; a secured chip\n"
		"                     answers it only under a debug unlock with REPROVISION)\n"
		"  writ chip debug challenge|lock|status --connect ADDR\n"
		"  writ chip debug unlock --connect ADDR --root-pub HEX|FILE --chain FILE --token HEX|FILE\n"
		"  writ chip provision (--connect ADDR)... | --connect-dir DIR\n"
		"        --hsm SOCKET --writ ID --settings FILE\n"
		"        --firmware IMG --fw-version V --fw-sig SIG --sb-pub HEX|FILE --debug-root-hash HEX\n"
		"        [--secret LABEL]... [--parallel N] [--serial-prefix P] [--iterations I]\n"
		"        [--records FILE] [--cert-dir DIR] [--no-lock] [--timeout-ms MS]\n"
		"ADDR is unix:PATH, tcp:HOST:PORT or tty:PATH; --connect-dir takes every chip-*.sock in DIR.\n"
		"SIG is r||s (64 bytes raw or 128 hex digits, as `writ firmware sign` writes it).\n"
		"--records appends one JSON line per device; --cert-dir writes UID.dac.der and pai.der.\n"
		"--settings holds the product-level Matter data (see `writ matter factory-data`);\n"
		"serial, passcode, discriminator, salt and rotating-ID are made per device.\n"
		"debug: secure debug (docs/device-protocol.md); --chain holds 1 or 2 raw 209-byte\n"
		"certificates, root-issued first; --token the 156-byte token over the challenge.\n"
		"Exit: 0 every chip provisioned, 1 some failed (one line each on stderr), 2 usage.\n");
}

struct opts {
	const char *addrs[MAX_CHIPS];
	size_t n_addrs;
	const char *hsm, *writ, *settings, *firmware, *fw_sig, *sb_pub, *dbg_hash, *records, *prefix, *cert_dir;
	const char *root_pub, *chain, *token; /* debug unlock */
	const char *labels[CHIP_RECIPE_SECRETS_MAX];
	size_t n_labels;
	unsigned long fw_version, parallel, iterations, timeout_ms;
	int have_version, no_lock;
};

static int parse_ul(const char *s, unsigned long max, unsigned long *ret, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || end == s || *s == '-' || v > max) {
		fprintf(stderr, "writ chip: %s \"%s\" is not a number in 0..%lu\n", what, s, max);
		return -1;
	}
	*ret = v;
	return 0;
}

/* Exactly n bytes (arg_bytes: hex, or a file raw or hex), or a message naming what. */
static int fixed_bytes(const char *arg, uint8_t *out, size_t n, const char *what)
{
	size_t len = 0;

	if (arg_bytes(arg, n, n, out, &len) == 0)
		return 0;
	fprintf(stderr, "writ chip: %s: %s is neither %zu hex digits nor a file of %zu bytes (raw or hex)\n", what,
		arg, 2 * n, n);
	return -1;
}

static int add_dir(struct opts *o, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	static char names[MAX_CHIPS][300];

	if (!d) {
		fprintf(stderr, "writ chip: cannot open %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (strncmp(e->d_name, "chip-", 5) != 0 || len < 6 || strcmp(e->d_name + len - 5, ".sock") != 0)
			continue;
		if (o->n_addrs >= MAX_CHIPS) {
			closedir(d);
			fprintf(stderr, "writ chip: more than %d chips\n", MAX_CHIPS);
			return -1;
		}
		int w = snprintf(names[o->n_addrs], sizeof names[0], "unix:%s/%s", dir, e->d_name);
		if (w < 0 || (size_t)w >= sizeof names[0]) {
			closedir(d);
			fprintf(stderr, "writ chip: path too long in %s\n", dir);
			return -1;
		}
		o->addrs[o->n_addrs] = names[o->n_addrs];
		o->n_addrs++;
	}
	closedir(d);
	return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "connect", 1, 0, 'c' },   { "connect-dir", 1, 0, 'C' }, { "hsm", 1, 0, 's' },
		{ "writ", 1, 0, 'w' },      { "settings", 1, 0, 'S' },    { "firmware", 1, 0, 'f' },
		{ "fw-version", 1, 0, 'v' }, { "fw-sig", 1, 0, 'g' },     { "sb-pub", 1, 0, 'b' },
		{ "debug-root-hash", 1, 0, 'd' }, { "secret", 1, 0, 'l' }, { "parallel", 1, 0, 'p' },
		{ "serial-prefix", 1, 0, 'P' }, { "iterations", 1, 0, 'i' }, { "records", 1, 0, 'r' },
		{ "no-lock", 0, 0, 'n' },   { "cert-dir", 1, 0, 'D' },   { "timeout-ms", 1, 0, 't' },  { "help", 0, 0, 'h' },
		{ "root-pub", 1, 0, 'R' },  { "chain", 1, 0, 'K' },      { "token", 1, 0, 'T' },
		{ 0, 0, 0, 0 }
	};
	int c;

	o->iterations = 10000;
	o->timeout_ms = 5000;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (o->n_addrs >= MAX_CHIPS)
				return -1;
			o->addrs[o->n_addrs++] = optarg;
			break;
		case 'C':
			if (add_dir(o, optarg) < 0)
				return -1;
			break;
		case 's': o->hsm = optarg; break;
		case 'w': o->writ = optarg; break;
		case 'S': o->settings = optarg; break;
		case 'f': o->firmware = optarg; break;
		case 'g': o->fw_sig = optarg; break;
		case 'b': o->sb_pub = optarg; break;
		case 'd': o->dbg_hash = optarg; break;
		case 'r': o->records = optarg; break;
		case 'P': o->prefix = optarg; break;
		case 'D': o->cert_dir = optarg; break;
		case 'n': o->no_lock = 1; break;
		case 'R': o->root_pub = optarg; break;
		case 'K': o->chain = optarg; break;
		case 'T': o->token = optarg; break;
		case 'l':
			if (o->n_labels >= CHIP_RECIPE_SECRETS_MAX) {
				fprintf(stderr, "writ chip: at most %d --secret\n", CHIP_RECIPE_SECRETS_MAX);
				return -1;
			}
			o->labels[o->n_labels++] = optarg;
			break;
		case 'v':
			if (parse_ul(optarg, 0xffffffffUL, &o->fw_version, "--fw-version") < 0)
				return -1;
			o->have_version = 1;
			break;
		case 'p':
			if (parse_ul(optarg, MAX_WORKERS, &o->parallel, "--parallel") < 0)
				return -1;
			break;
		case 'i':
			if (parse_ul(optarg, 100000, &o->iterations, "--iterations") < 0)
				return -1;
			break;
		case 't':
			if (parse_ul(optarg, 600000, &o->timeout_ms, "--timeout-ms") < 0)
				return -1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "writ chip: unexpected argument \"%s\"\n", argv[optind]);
		return -1;
	}
	return 0;
}

static const char *lc_name(uint8_t lc)
{
	return lc == WDP_LC_BLANK ? "blank" : lc == WDP_LC_PROVISIONING ? "provisioning" :
	       lc == WDP_LC_SECURED ? "secured" : "unknown";
}

static int cmd_info(struct opts *o, int status)
{
	struct chip *c = NULL;
	struct chip_info info;
	struct chip_opts co = { (int)o->timeout_ms, 3 };
	char uid[2 * WDP_UID_LEN + 1], st[128];
	int rc;

	if (o->n_addrs != 1) {
		fprintf(stderr, "writ chip: give exactly one --connect\n");
		return 2;
	}
	if (chip_new(o->addrs[0], &co, &c) < 0)
		return 2;
	rc = chip_connect(c, &info);
	if (rc == 0 && status)
		rc = chip_status(c, &info);
	if (rc < 0) {
		fprintf(stderr, "writ chip: %s\n", chip_last_detail(c));
		chip_close(c);
		return 1;
	}
	hex_encode(info.uid, WDP_UID_LEN, uid);
	printf("uid %s\n", uid);
	if (!status)
		printf("family %s\nprotocol %u\nmax-payload %u\n", info.family, info.proto, info.max_payload);
	printf("lifecycle %s\nstate %s\n", lc_name(info.lifecycle), chip_state_str(info.state, st, sizeof st));
	if (status)
		printf("firmware-version %u\n", info.fw_version);
	chip_close(c);
	return 0;
}

/* ---- secure debug ---- */

static void print_debug(const uint8_t perms[WDP_DBG_PERMS_LEN], uint32_t seconds, uint32_t key_gen)
{
	char hx[2 * WDP_DBG_PERMS_LEN + 1];

	hex_encode(perms, WDP_DBG_PERMS_LEN, hx);
	printf("debug %s\npermissions %s\nseconds-left %u\nkey-generation %u\n", seconds ? "unlocked" : "locked", hx,
	       seconds, key_gen);
}

static int cmd_debug(struct opts *o, const char *verb)
{
	struct chip *c = NULL;
	struct chip_info info;
	struct chip_opts co = { (int)o->timeout_ms, 3 };
	uint8_t root_pub[WDP_P256_PUB_LEN], token[WDP_DBG_TOKEN_LEN], *chain = NULL;
	size_t n = 0, chain_len = 0;
	int rc, unlock = !strcmp(verb, "unlock");

	if (strcmp(verb, "challenge") && !unlock && strcmp(verb, "lock") && strcmp(verb, "status")) {
		fprintf(stderr, "writ chip debug: unknown verb \"%s\"\n", verb);
		return 2;
	}
	if (o->n_addrs != 1) {
		fprintf(stderr, "writ chip: give exactly one --connect\n");
		return 2;
	}
	if (unlock) {
		if (!o->root_pub || !o->chain || !o->token) {
			fprintf(stderr, "writ chip debug unlock: needs --root-pub, --chain and --token\n");
			return 2;
		}
		if (arg_bytes(o->root_pub, WDP_P256_PUB_LEN, WDP_P256_PUB_LEN, root_pub, &n) < 0) {
			fprintf(stderr, "writ chip: --root-pub is not a 65-byte public key\n");
			return 2;
		}
		if (file_read(o->chain, WDP_DBG_CERT_LEN * WDP_DBG_CHAIN_MAX, &chain, &chain_len) < 0) {
			fprintf(stderr, "writ chip: cannot read --chain %s\n", o->chain);
			return 2;
		}
		if (arg_bytes(o->token, WDP_DBG_TOKEN_LEN, WDP_DBG_TOKEN_LEN, token, &n) < 0) {
			fprintf(stderr, "writ chip: --token is not a %u-byte token\n", WDP_DBG_TOKEN_LEN);
			free(chain);
			return 2;
		}
	}
	if (chip_new(o->addrs[0], &co, &c) < 0) {
		free(chain);
		return 2;
	}
	rc = chip_connect(c, NULL);
	if (rc == 0 && !strcmp(verb, "challenge")) {
		uint8_t uid[WDP_UID_LEN], chal[WDP_DBG_CHALLENGE_LEN];
		char hu[2 * WDP_UID_LEN + 1], hc[2 * WDP_DBG_CHALLENGE_LEN + 1];

		rc = chip_debug_challenge(c, uid, chal);
		if (rc == 0) {
			hex_encode(uid, sizeof uid, hu);
			hex_encode(chal, sizeof chal, hc);
			printf("uid %s\nchallenge %s\n", hu, hc);
		}
	} else if (rc == 0 && unlock) {
		struct chip_debug d;

		rc = chip_debug_unlock(c, root_pub, chain, chain_len, token, &d);
		if (rc == 0)
			print_debug(d.perms, d.seconds, d.key_gen);
	} else if (rc == 0 && !strcmp(verb, "lock")) {
		rc = chip_debug_lock(c);
		if (rc == 0)
			printf("debug locked\n");
	} else if (rc == 0) {
		rc = chip_status(c, &info);
		if (rc == 0)
			print_debug(info.debug_perms, info.debug_seconds, info.debug_key_gen);
	}
	if (rc < 0)
		fprintf(stderr, "writ chip: %s\n", chip_last_detail(c));
	chip_close(c);
	free(chain);
	return rc < 0 ? 1 : 0;
}

/* ---- provisioning many chips ---- */

struct shared {
	const struct opts *o;
	struct chip_recipe recipe;
	struct matter_factory_data base;
	uint8_t writ_id[16];
	pthread_mutex_t lock;
	size_t next, done, ok, failed, already;
	double t_chip, t_hsm, t_total;
	FILE *records;
	double t0;
	int tty;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void progress_line(struct shared *s, int final)
{
	size_t n = s->o->n_addrs;
	double el = now_s() - s->t0;
	double rate = el > 0 ? (double)s->ok / el : 0;

	if (!final && !s->tty && s->done != n && s->done % (n / 10 + 1) != 0)
		return;
	fprintf(stderr, "%sprovisioned %zu/%zu: ok %zu, failed %zu; %.1f devices/s%s", s->tty ? "\r" : "",
		s->done, n, s->ok, s->failed + s->already, rate, (s->tty && !final) ? "" : "\n");
	fflush(stderr);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* The device's DAC (and the PAI) into --cert-dir, and its JSON line into --records (one
 * locked stream write, so lines of parallel workers never interleave). */
static void save_device(struct shared *s, const char *addr, const struct chip_result *r, const struct line *l)
{
	char uid[2 * WDP_UID_LEN + 1], dh[65];
	uint8_t d[32];

	hex_encode(r->uid, WDP_UID_LEN, uid);
	if (ec_sha256(r->dac.dac, r->dac.dac_len, d) < 0)
		memset(d, 0, sizeof d);
	hex_encode(d, 32, dh);
	if (s->o->cert_dir) {
		char path[4096];
		int w1 = snprintf(path, sizeof path, "%s/%s.dac.der", s->o->cert_dir, uid);
		if (w1 < 0 || (size_t)w1 >= sizeof path || file_write_atomic(path, r->dac.dac, r->dac.dac_len, 0644) < 0)
			fprintf(stderr, "writ chip: cannot write %s\n", path);
		w1 = snprintf(path, sizeof path, "%s/pai.der", s->o->cert_dir);
		if (w1 < 0 || (size_t)w1 >= sizeof path || file_write_atomic(path, r->dac.pai, r->dac.pai_len, 0644) < 0)
			fprintf(stderr, "writ chip: cannot write %s\n", path);
	}
	if (s->records) {
		flockfile(s->records);
		fprintf(s->records, "{\"chip\":");
		json_str(s->records, addr);
		fprintf(s->records,
			",\"uid\":\"%s\",\"serial\":%llu,\"serial_number\":\"%s\",\"dac_sha256\":\"%s\","
			"\"hsm_seq\":%llu,\"qr\":\"%s\",\"manual\":\"%s\",\"discriminator\":%u,"
			"\"firmware_version\":%lu,\"reconnects\":%u,\"seconds\":%.4f}\n",
			uid, (unsigned long long)r->dac.serial, l->dev.serial_str, dh,
			(unsigned long long)r->dac.journal_seq, l->dev.qr, l->dev.manual, l->dev.discriminator,
			s->o->fw_version, r->reconnects, r->t_total);
		fflush(s->records);
		funlockfile(s->records);
	}
}

static void *worker(void *arg)
{
	struct shared *s = arg;
	struct line l;
	struct chip_hsm_ops ops;
	char err[256];
	int have_line = 0;

	if (line_open(&l, s->o->hsm, s->writ_id, &s->base, (uint32_t)s->o->iterations, s->o->prefix, err,
		      sizeof err) < 0) {
		fprintf(stderr, "writ chip: %s\n", err);
	} else {
		have_line = 1;
		line_hsm_ops(&l, &ops);
	}
	for (;;) {
		struct chip_opts co = { (int)s->o->timeout_ms, 3 };
		struct chip *c = NULL;
		struct chip_result r;
		size_t i;
		int rc;

		pthread_mutex_lock(&s->lock);
		i = s->next++;
		pthread_mutex_unlock(&s->lock);
		if (i >= s->o->n_addrs)
			break;
		memset(&r, 0, sizeof r);
		if (have_line)
			line_begin_device(&l);
		if (!have_line) {
			rc = WRIT_E_IO;
			snprintf(r.err, sizeof r.err, "no HSM connection");
		} else if ((rc = chip_new(s->o->addrs[i], &co, &c)) < 0) {
			snprintf(r.err, sizeof r.err, "bad chip address");
		} else {
			rc = chip_provision(c, &s->recipe, &ops, &r, NULL, NULL);
		}
		/* Files and the record line first, outside the shared lock: one worker's disk
		 * I/O must not hold up the others. */
		if (rc == 0)
			save_device(s, s->o->addrs[i], &r, &l);
		else
			fprintf(stderr, "%swrit chip: %s: %s\n", s->tty ? "\n" : "", s->o->addrs[i],
				r.err[0] ? r.err : writ_strerror(rc));
		pthread_mutex_lock(&s->lock);
		s->done++;
		s->t_chip += r.t_chip;
		s->t_hsm += r.t_hsm;
		s->t_total += r.t_total;
		if (rc == 0)
			s->ok++;
		else if (rc == WRIT_E_EXISTS)
			s->already++;
		else
			s->failed++;
		progress_line(s, 0);
		pthread_mutex_unlock(&s->lock);
		chip_close(c);
	}
	if (have_line)
		line_close(&l);
	return NULL;
}

static int load_settings(const char *path, struct matter_factory_data *ret)
{
	uint8_t *text = NULL;
	size_t len = 0;
	struct matter_settings ms;
	char reason[256] = "";
	int rc = file_read(path, MATTER_SETTINGS_MAX, &text, &len);

	if (rc < 0) {
		fprintf(stderr, "writ chip: cannot read settings %s (%s)\n", path, writ_strerror(rc));
		return -1;
	}
	/* Per-device fields are made by the line: give the parser placeholders for them. */
	rc = matter_settings_parse((const char *)text, len, &ms, reason, sizeof reason);
	free(text);
	if (rc == 0) {
		if (!ms.have_serial) {
			memcpy(ms.fd.serial, "0", 2);
			ms.have_serial = 1;
		}
		if (!ms.have_discriminator)
			ms.have_discriminator = 1;
		if (!ms.have_passcode && !ms.have_verifier) {
			ms.fd.passcode = 20202021; /* only to let settings_finish validate; replaced per device */
			ms.have_passcode = 1;
		}
		rc = matter_settings_finish(&ms, reason, sizeof reason);
	}
	if (rc < 0) {
		fprintf(stderr, "writ chip: settings %s: %s\n", path, reason);
		matter_fd_clear(&ms.fd);
		return -1;
	}
	*ret = ms.fd;
	matter_fd_clear(&ms.fd);
	return 0;
}

static int cmd_provision(struct opts *o)
{
	struct shared s;
	pthread_t th[MAX_WORKERS];
	uint8_t *fw = NULL;
	size_t fw_len = 0, nw;
	int rc, exit_code = 2;

	memset(&s, 0, sizeof s);
	s.o = o;
	if (o->n_addrs == 0 || !o->hsm || !o->writ || !o->settings || !o->firmware || !o->fw_sig || !o->sb_pub ||
	    !o->dbg_hash || !o->have_version) {
		fprintf(stderr, "writ chip provision: --connect/--connect-dir, --hsm, --writ, --settings, --firmware, "
				"--fw-version, --fw-sig, --sb-pub and --debug-root-hash are required\n");
		return 2;
	}
	if (strlen(o->writ) != 32 || hex_decode(o->writ, s.writ_id, 16) < 0) {
		fprintf(stderr, "writ chip: --writ must be the 32-hex-digit writ id\n");
		return 2;
	}
	if (load_settings(o->settings, &s.base) < 0)
		return 2;
	rc = file_read(o->firmware, WDP_FW_MAX, &fw, &fw_len);
	if (rc < 0 || fw_len == 0) {
		fprintf(stderr, "writ chip: cannot read firmware %s (%s; 1 byte .. 4 MiB)\n", o->firmware,
			rc < 0 ? writ_strerror(rc) : "empty");
		goto out;
	}
	if (fixed_bytes(o->fw_sig, s.recipe.fw_sig, 64, "--fw-sig") < 0 ||
	    fixed_bytes(o->sb_pub, s.recipe.sb_pub, WDP_P256_PUB_LEN, "--sb-pub") < 0 ||
	    fixed_bytes(o->dbg_hash, s.recipe.debug_root_hash, 32, "--debug-root-hash") < 0)
		goto out;
	if (ec_sha256(s.recipe.sb_pub, WDP_P256_PUB_LEN, s.recipe.sb_key_hash) < 0)
		goto out;
	/* Pre-flight: an image the chips would refuse must not cost a single DAC. */
	if (fwsig_verify(s.recipe.sb_pub, (uint32_t)o->fw_version, fw, fw_len, s.recipe.fw_sig) != 0) {
		fprintf(stderr, "writ chip: %s (version %lu) is not signed by the secure-boot key given in --sb-pub; "
				"no chip was touched. Use the image and signature the OEM released for this version.\n",
			o->firmware, o->fw_version);
		goto out;
	}
	s.recipe.fw = fw;
	s.recipe.fw_len = fw_len;
	s.recipe.fw_version = (uint32_t)o->fw_version;
	for (size_t i = 0; i < o->n_labels; i++)
		s.recipe.secret_labels[i] = o->labels[i];
	s.recipe.n_secrets = o->n_labels;
	s.recipe.lock = !o->no_lock;
	s.recipe.reconnects = -1;
	if (o->records) {
		s.records = fopen(o->records, "a");
		if (!s.records) {
			fprintf(stderr, "writ chip: cannot open %s: %s\n", o->records, strerror(errno));
			goto out;
		}
	}
	pthread_mutex_init(&s.lock, NULL);
	s.tty = isatty(2);
	nw = o->parallel ? o->parallel : (o->n_addrs < 16 ? o->n_addrs : 16);
	if (nw > o->n_addrs)
		nw = o->n_addrs;
	s.t0 = now_s();
	for (size_t i = 0; i < nw; i++)
		if (pthread_create(&th[i], NULL, worker, &s) != 0) {
			nw = i;
			break;
		}
	for (size_t i = 0; i < nw; i++)
		pthread_join(th[i], NULL);
	{
		double el = now_s() - s.t0, tot = s.t_total > 0 ? s.t_total : 1;
		double other = s.t_total - s.t_chip - s.t_hsm;
		printf("provisioned %zu of %zu chips (failed %zu, already locked %zu) in %.3f s: %.2f devices/s\n",
		       s.ok, o->n_addrs, s.failed, s.already, el, el > 0 ? (double)s.ok / el : 0.0);
		printf("time share: chip %.1f%% hsm %.1f%% rest %.1f%% (per device: %.1f ms chip, %.1f ms hsm, %.1f ms rest)\n",
		       100 * s.t_chip / tot, 100 * s.t_hsm / tot, 100 * (other < 0 ? 0 : other) / tot,
		       s.done ? 1000 * s.t_chip / (double)s.done : 0, s.done ? 1000 * s.t_hsm / (double)s.done : 0,
		       s.done ? 1000 * (other < 0 ? 0 : other) / (double)s.done : 0);
	}
	exit_code = (s.ok == o->n_addrs) ? 0 : 1;
	pthread_mutex_destroy(&s.lock);
out:
	if (s.records)
		fclose(s.records);
	free(fw);
	matter_fd_clear(&s.base);
	return exit_code;
}

/* `writ chip chain` (GET_CHAIN into --cert-dir) and `writ chip keys` (GENERATE_KEYS). */
static int cmd_chain_keys(struct opts *o, int keys)
{
	struct chip *c = NULL;
	struct chip_info info;
	struct chip_opts co = { (int)o->timeout_ms, 3 };
	uint8_t a[WDP_CERT_MAX], b[WDP_CERT_MAX], enc[WDP_P256_PUB_LEN];
	size_t al = 0, bl = 0;
	char uid[2 * WDP_UID_LEN + 1], path[4096];
	int rc;

	if (o->n_addrs != 1 || (!keys && !o->cert_dir)) {
		fprintf(stderr, "writ chip: give exactly one --connect%s\n", keys ? "" : " and --cert-dir");
		return 2;
	}
	if (chip_new(o->addrs[0], &co, &c) < 0)
		return 2;
	rc = chip_connect(c, &info);
	if (rc == 0)
		rc = keys ? chip_generate_keys(c, a, &al, enc, b, &bl) : chip_get_chain(c, a, &al, b, &bl);
	if (rc < 0) {
		fprintf(stderr, "writ chip: %s: %s\n", wdp_status_name(chip_last_status(c)), chip_last_detail(c));
		chip_close(c);
		return 1;
	}
	chip_close(c);
	if (keys) {
		char *hex = malloc(2 * al + 1);
		if (!hex)
			return 1;
		hex_encode(a, al, hex);
		printf("csr %s\n", hex);
		free(hex);
		return 0;
	}
	hex_encode(info.uid, WDP_UID_LEN, uid);
	rc = snprintf(path, sizeof path, "%s/%s.dac.der", o->cert_dir, uid);
	if (rc < 0 || (size_t)rc >= sizeof path || file_write_atomic(path, a, al, 0644) < 0) {
		fprintf(stderr, "writ chip: cannot write %s\n", path);
		return 1;
	}
	rc = snprintf(path, sizeof path, "%s/pai.der", o->cert_dir);
	if (rc < 0 || (size_t)rc >= sizeof path || file_write_atomic(path, b, bl, 0644) < 0) {
		fprintf(stderr, "writ chip: cannot write %s\n", path);
		return 1;
	}
	printf("uid %s\ndac %zu bytes\npai %zu bytes\n", uid, al, bl);
	return 0;
}

int cmd_chip(int argc, char **argv)
{
	static struct opts o; /* large (the address table); one per process */

	memset(&o, 0, sizeof o);
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    (!strcmp(argv[1], "debug") && argc >= 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h")))) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	/* `writ chip debug VERB --opts`: the verb stands where getopt expects argv[0] */
	if (!strcmp(argv[1], "debug") ? argc < 3 || parse(argc - 2, argv + 2, &o) < 0 : parse(argc - 1, argv + 1, &o) < 0) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "discover"))
		return cmd_info(&o, 0);
	if (!strcmp(argv[1], "status"))
		return cmd_info(&o, 1);
	if (!strcmp(argv[1], "provision"))
		return cmd_provision(&o);
	if (!strcmp(argv[1], "chain") || !strcmp(argv[1], "keys"))
		return cmd_chain_keys(&o, !strcmp(argv[1], "keys"));
	if (!strcmp(argv[1], "debug"))
		return cmd_debug(&o, argv[2]);
	fprintf(stderr, "writ chip: unknown subcommand \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
