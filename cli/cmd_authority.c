/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `writ authority`: a local OEM authority until the cloud portal exists. Its keys sit
 * in its own PKCS#11 token (SoftHSM by default): the writ-signing key, the Matter PAA
 * key, the secure-boot (firmware signing) key and the debug-root key. It certifies an edge HSM's PAI from its enrolment bundle and mints writs
 * with the same library code (lib/wire/writ.c, lib/crypto/x509.c) the portal will use.
 *
 * The authority directory holds only public material and configuration:
 *   authority.conf  (module=, token=), paa.der / paa.pem, writ-signing.pub.pem
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/ct.h"
#include "base/wdp.h"
#include "cli/cmds.h"
#include "crypto/ec.h"
#include "crypto/matter_cert.h"
#include "crypto/x509.h"
#include "host/conf.h"
#include "host/file.h"
#include "p11/p11.h"
#include "crypto/fwsig.h"
#include "wire/authority.h"
#include "wire/bundle.h"
#include "wire/dbgcred.h"
#include "wire/enrol.h"
#include "wire/writ.h"

#define AUTH_TOKEN "writ-authority"
#define KEY_WRIT "writ-signing"
#define KEY_PAA "matter-paa"
#define KEY_SECURE_BOOT "secure-boot"
#define KEY_DEBUG_ROOT "debug-root"
#define MINT_SECRET_FILE_MAX 4096 /* a --secret file larger than this is refused unread */

struct aopts {
	const char *dir, *pin_file, *so_pin_file, *enrolment, *pai, *product, *factory, *out;
	const char *version_digest, *firmware_digest, *cn, *hsm_id;
	long long vid, pid, quantity, serial_first, not_before, not_after, days, dac_days;
	struct token_conf tc;
	const char *revokes[WRIT_MAX_REVOKES];
	size_t n_revokes;
	const char *secrets[WRIT_MAX_SECRETS]; /* LABEL=FILE */
	size_t n_secrets;
	const char *ops, *key;
	int hash;
	/* rework rights */
	const char *rework_perms;
	long long rework_limit, rework_days, session, key_gen;
	const char *devices[WRIT_REWORK_DEVICES_MAX];
	size_t n_devices;
	/* bundle */
	const char *version, *firmware, *settings, *serial_prefix, *recipe;
	long long fw_version, iterations;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage:\n"
		"  writ authority init --dir D [--vid HEX] [--cn NAME] [--token LABEL] [--module SO]\n"
		"  writ authority certify --dir D --enrolment F --vid HEX [--pid HEX] [--days N] --out PAI.der\n"
		"  writ authority mint --dir D --enrolment F --pai PAI.der --product ID --vid HEX --pid HEX\n"
		"         --quantity N --serial-first N [--not-before T] [--not-after T | --days N]\n"
		"         [--version-digest HEX64] [--firmware-digest HEX64] [--dac-days N]\n"
		"         [--revoke WRIT-ID]... [--factory ID] [--hsm-id HEX64]\n"
		"         [--ops issue-dac,wrap-secret,debug-unlock] [--secret LABEL=FILE]... --out WRIT.cose\n"
		"         [--rework PERMS [--rework-limit N] [--rework-days N] [--session S] [--key-gen N]]\n"
		"  writ authority rework --dir D --enrolment F --pai PAI.der --product ID --vid HEX --pid HEX\n"
		"         --rework PERMS [--rework-limit N] [--rework-days N] [--session S] [--key-gen N]\n"
		"         [--device UID-HEX]... [--revoke WRIT-ID]... --out WRIT.cose\n"
		"  writ authority revoke --dir D --enrolment F --revoke WRIT-ID [--revoke ...] --out WRIT.cose\n"
		"  writ authority pubkey --dir D --key writ|paa|secure-boot|debug-root [--hash]\n"
		"  writ authority bundle --dir D --product ID --version NAME --firmware IMG --fw-version V\n"
		"         --settings FILE [--secret LABEL]... [--iterations N] [--serial-prefix P]\n"
		"         [--recipe a,b,c] --out FILE.wbundle\n"
		"  bundle signs IMG with the secure-boot key and the bundle with the writ-signing key, and\n"
		"  prints the version and firmware digests to give to `mint --version-digest --firmware-digest`.\n"
		"--secret: FILE holds the raw secret (16..64 bytes); LABEL is 1..32 of a-z 0-9 -; up to 4.\n"
		"  Secrets need the wrap-secret op (the default ops are issue-dac, plus wrap-secret with\n"
		"  --secret). pubkey prints the 65-byte public key in hex, or with --hash its SHA-256\n"
		"  (what a chip's OTP holds).\n"
		"--rework: rework rights for the HSM's debug delegate (its key is in the enrolment bundle),\n"
		"  certified by the debug root: PERMS is a list of debug, reflash, reprovision (or bit\n"
		"  numbers); --rework-limit unlocks in all (default 10); the rights run from --not-before for\n"
		"  --rework-days (default 90); --session is the longest unlock in seconds (default 3600);\n"
		"  --key-gen the debug key generation (default 1). `rework` makes a rework writ (kind 2, no\n"
		"  quantity) for devices this HSM certified, or for the --device UIDs it names; with\n"
		"  reprovision in PERMS it also grants issue-dac: a new DAC for such a device, its serial\n"
		"  kept (re-provisioning), counted against --rework-limit.\n"
		"The token PIN comes from --pin-file F or $WRIT_AUTHORITY_PIN; creating the token needs an SO\n"
		"PIN from --so-pin-file F or $WRIT_AUTHORITY_SO_PIN. Times are Unix seconds.\n");
}

static int num(const char *s, int base, long long min, long long max, long long *ret)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, base);
	if (errno || *end || end == s || v < min || v > max) {
		fprintf(stderr, "writ authority: \"%s\" is not a number in %lld..%lld\n", s, min, max);
		return -1;
	}
	*ret = v;
	return 0;
}

static int parse(int argc, char **argv, struct aopts *o)
{
	static const struct option lo[] = {
		{ "dir", 1, 0, 'd' },	     { "module", 1, 0, 'm' },	{ "token", 1, 0, 't' },
		{ "pin-file", 1, 0, 'p' },   { "so-pin-file", 1, 0, 'P' }, { "enrolment", 1, 0, 'e' },
		{ "pai", 1, 0, 'a' },	     { "product", 1, 0, 'r' },	{ "out", 1, 0, 'o' },
		{ "version-digest", 1, 0, 'V' }, { "firmware-digest", 1, 0, 'F' }, { "cn", 1, 0, 'c' },
		{ "vid", 1, 0, 'v' },	     { "pid", 1, 0, 'i' },	{ "quantity", 1, 0, 'q' },
		{ "serial-first", 1, 0, 's' }, { "not-before", 1, 0, 'b' }, { "not-after", 1, 0, 'A' },
		{ "days", 1, 0, 'D' },	     { "dac-days", 1, 0, 'C' }, { "revoke", 1, 0, 'R' },
		{ "factory", 1, 0, 'f' },    { "hsm-id", 1, 0, 'H' },	{ "secret", 1, 0, 'S' },
		{ "ops", 1, 0, 'O' },	     { "key", 1, 0, 'k' },	{ "hash", 0, 0, 'x' },
		{ "version", 1, 0, 1000 },   { "firmware", 1, 0, 1001 }, { "fw-version", 1, 0, 1002 },
		{ "settings", 1, 0, 1003 },  { "iterations", 1, 0, 1004 }, { "serial-prefix", 1, 0, 1005 },
		{ "recipe", 1, 0, 1006 },
		{ "rework", 1, 0, 1007 },     { "rework-limit", 1, 0, 1008 }, { "rework-days", 1, 0, 1009 },
		{ "session", 1, 0, 1010 },    { "key-gen", 1, 0, 1011 },	{ "device", 1, 0, 1012 },
		{ "help", 0, 0, 'h' },	     { 0, 0, 0, 0 }
	};
	int c;

	o->vid = o->pid = o->not_before = o->not_after = o->days = -1;
	o->quantity = o->serial_first = -1;
	o->fw_version = o->iterations = -1;
	o->rework_limit = o->rework_days = o->session = o->key_gen = -1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd': o->dir = optarg; break;
		case 'm': o->tc.module = optarg; break;
		case 't': o->tc.token = optarg; break;
		case 'p': o->pin_file = optarg; break;
		case 'P': o->so_pin_file = optarg; break;
		case 'e': o->enrolment = optarg; break;
		case 'a': o->pai = optarg; break;
		case 'r': o->product = optarg; break;
		case 'o': o->out = optarg; break;
		case 'V': o->version_digest = optarg; break;
		case 'F': o->firmware_digest = optarg; break;
		case 'c': o->cn = optarg; break;
		case 'f': o->factory = optarg; break;
		case 'H': o->hsm_id = optarg; break;
		case 'v': if (num(optarg, 16, 1, 0xfffe, &o->vid) < 0) return -1; break;
		case 'i': if (num(optarg, 16, 1, 0xffff, &o->pid) < 0) return -1; break;
		case 'q': if (num(optarg, 10, 1, 1LL << 40, &o->quantity) < 0) return -1; break;
		case 's': if (num(optarg, 10, 0, 1LL << 62, &o->serial_first) < 0) return -1; break;
		case 'b': if (num(optarg, 10, 0, 1LL << 40, &o->not_before) < 0) return -1; break;
		case 'A': if (num(optarg, 10, 0, 1LL << 40, &o->not_after) < 0) return -1; break;
		case 'D': if (num(optarg, 10, 1, 36500, &o->days) < 0) return -1; break;
		case 'C': if (num(optarg, 10, 1, 36500, &o->dac_days) < 0) return -1; break;
		case 'R':
			if (o->n_revokes >= WRIT_MAX_REVOKES) {
				fprintf(stderr, "writ authority: at most %d --revoke\n", WRIT_MAX_REVOKES);
				return -1;
			}
			o->revokes[o->n_revokes++] = optarg;
			break;
		case 'S':
			if (o->n_secrets >= WRIT_MAX_SECRETS) {
				fprintf(stderr, "writ authority: at most %d --secret\n", WRIT_MAX_SECRETS);
				return -1;
			}
			o->secrets[o->n_secrets++] = optarg;
			break;
		case 'O': o->ops = optarg; break;
		case 'k': o->key = optarg; break;
		case 'x': o->hash = 1; break;
		case 1000: o->version = optarg; break;
		case 1001: o->firmware = optarg; break;
		case 1002: if (num(optarg, 10, 0, 0xffffffffLL, &o->fw_version) < 0) return -1; break;
		case 1003: o->settings = optarg; break;
		case 1004: if (num(optarg, 10, BUNDLE_ITER_MIN, BUNDLE_ITER_MAX, &o->iterations) < 0) return -1; break;
		case 1005: o->serial_prefix = optarg; break;
		case 1006: o->recipe = optarg; break;
		case 1007: o->rework_perms = optarg; break;
		case 1008: if (num(optarg, 10, 1, WRIT_REWORK_LIMIT_MAX, &o->rework_limit) < 0) return -1; break;
		case 1009: if (num(optarg, 10, 1, 36500, &o->rework_days) < 0) return -1; break;
		case 1010: if (num(optarg, 10, 1, WDP_DBG_SESSION_MAX, &o->session) < 0) return -1; break;
		case 1011: if (num(optarg, 10, 0, 0xffffffffLL, &o->key_gen) < 0) return -1; break;
		case 1012:
			if (o->n_devices >= WRIT_REWORK_DEVICES_MAX) {
				fprintf(stderr, "writ authority: at most %d --device\n", WRIT_REWORK_DEVICES_MAX);
				return -1;
			}
			o->devices[o->n_devices++] = optarg;
			break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (!o->dir) {
		fprintf(stderr, "writ authority: --dir D is required\n");
		return -1;
	}
	return 0;
}

static int dir_path(const struct aopts *o, const char *name, char *out, size_t cap)
{
	return path_join(out, cap, o->dir, name);
}

/* Open the authority's token; create it first when create is set and it is missing. */
static int open_token(struct aopts *o, int create, struct p11_ctx **ret)
{
	const struct p11_pin_source src = { o->pin_file, "WRIT_AUTHORITY_PIN", o->so_pin_file, "WRIT_AUTHORITY_SO_PIN" };
	const char *missing = NULL;
	int err = p11_open_pins(o->tc.module, o->tc.token, &src, create, ret, &missing);

	if (missing && !strcmp(missing, "PIN"))
		fprintf(stderr, "writ authority: no PIN: use --pin-file F or set WRIT_AUTHORITY_PIN\n");
	else if (missing)
		fprintf(stderr, "writ authority: token \"%s\" does not exist; give an SO PIN with "
				"--so-pin-file F or WRIT_AUTHORITY_SO_PIN to create it\n", o->tc.token);
	else if (err < 0)
		fprintf(stderr, "writ authority: cannot open token \"%s\": %s\n", o->tc.token, writ_strerror(err));
	return err;
}

static int write_cert(const char *der_path, const uint8_t *der, size_t len)
{
	return file_write_atomic(der_path, der, len, 0644);
}

/* Generate a non-extractable signing key labelled label unless the token holds one;
 * *added is set when one was made. */
static int ensure_key(struct p11_ctx *p11, const char *label, int *added)
{
	uint8_t pub[WRIT_P256_PUB_LEN];
	int err = p11_find_key(p11, label, pub);

	if (err == 0)
		return 0;
	if (err != WRIT_E_NOTFOUND)
		return err;
	err = p11_keygen_p256(p11, label, P11_USAGE_SIGN, pub);
	if (err == 0)
		*added = 1;
	return err;
}

static int do_init(struct aopts *o)
{
	struct p11_ctx *p11 = NULL;
	struct writ_signer paa;
	uint8_t wpub[WRIT_P256_PUB_LEN], ppub[WRIT_P256_PUB_LEN], rnd[8], *der = NULL;
	size_t der_len = 0;
	char path[4096], *pem = NULL;
	int err, added = 0;

	if (mkdir(o->dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "writ authority: cannot create %s: %s\n", o->dir, strerror(errno));
		return 2;
	}
	if ((err = open_token(o, 1, &p11)) < 0)
		return 1;
	/* An authority made before the secure-boot and debug-root keys existed gets them
	 * on a second init; its writ-signing key and PAA are left alone. */
	err = p11_keygen_p256(p11, KEY_WRIT, P11_USAGE_SIGN, wpub);
	if (err == WRIT_E_EXISTS) {
		if ((err = ensure_key(p11, KEY_SECURE_BOOT, &added)) < 0 || (err = ensure_key(p11, KEY_DEBUG_ROOT, &added)) < 0)
			goto fail;
		if (!added) {
			fprintf(stderr, "writ authority init: %s (this token already holds an authority)\n",
				writ_strerror(WRIT_E_EXISTS));
			err = WRIT_E_EXISTS;
			goto fail;
		}
		printf("authority in %s: added its missing secure-boot / debug-root keys\n", o->dir);
		err = 0;
		goto fail;
	}
	if (err < 0 || (err = p11_keygen_p256(p11, KEY_PAA, P11_USAGE_SIGN, ppub)) < 0 ||
	    (err = ensure_key(p11, KEY_SECURE_BOOT, &added)) < 0 || (err = ensure_key(p11, KEY_DEBUG_ROOT, &added)) < 0) {
		fprintf(stderr, "writ authority init: %s%s\n", writ_strerror(err),
			err == WRIT_E_EXISTS ? " (this token already holds an authority)" : "");
		goto fail;
	}
	if ((err = p11_signer(p11, KEY_PAA, &paa)) < 0 || (err = p11_random(p11, rnd, sizeof(rnd))) < 0 ||
	    (err = authority_make_paa(&paa, o->cn ? o->cn : "writ Matter PAA", o->vid > 0 ? (int)o->vid : -1, rnd,
				      (int64_t)time(NULL), &der, &der_len)) < 0)
		goto fail;
	if ((err = dir_path(o, "paa.der", path, sizeof(path))) < 0 || (err = write_cert(path, der, der_len)) < 0)
		goto fail;
	if ((err = ec_pub_to_pem(wpub, &pem)) < 0 || (err = dir_path(o, "writ-signing.pub.pem", path, sizeof(path))) < 0 ||
	    (err = file_write_atomic(path, pem, strlen(pem), 0644)) < 0)
		goto fail;
	if ((err = dir_path(o, "authority.conf", path, sizeof(path))) < 0 ||
	    (err = token_conf_save(&o->tc, path, WRIT_DEFAULT_P11_MODULE)) < 0)
		goto fail;
	printf("authority ready in %s: paa.der (Matter PAA), writ-signing.pub.pem (pin this in each HSM); "
	       "secure-boot and debug-root keys in the token (see `writ authority pubkey`)\n", o->dir);
	err = 0;
fail:
	if (err < 0)
		fprintf(stderr, "writ authority init: failed: %s\n", writ_strerror(err));
	free(der);
	free(pem);
	p11_close(p11);
	return err < 0 ? 1 : 0;
}

static int load_enrolment(const struct aopts *o, struct enrol_info *info)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int err;

	if (!o->enrolment) {
		fprintf(stderr, "writ authority: --enrolment F (the HSM's enrolment.cbor) is required\n");
		return WRIT_E_INVAL;
	}
	err = file_read(o->enrolment, ENROL_MAX, &buf, &len);
	if (!err)
		err = enrol_verify(buf, len, info);
	free(buf);
	if (err < 0)
		fprintf(stderr, "writ authority: enrolment bundle %s is not valid: %s\n", o->enrolment,
			writ_strerror(err));
	return err;
}

static int do_certify(struct aopts *o)
{
	struct enrol_info *info = calloc(1, sizeof(*info));
	struct p11_ctx *p11 = NULL;
	struct writ_signer paa;
	uint8_t *paa_der = NULL, *der = NULL, rnd[8];
	size_t paa_len = 0, der_len = 0;
	char path[4096], why[200], hex[17];
	int err = WRIT_E_INVAL;

	if (!info)
		return 1;
	if (o->vid < 0 || !o->out) {
		fprintf(stderr, "writ authority certify: --vid and --out are required\n");
		goto fail;
	}
	if ((err = load_enrolment(o, info)) < 0)
		goto fail;
	if ((err = dir_path(o, "paa.der", path, sizeof(path))) < 0 ||
	    (err = file_read(path, X509_CERT_MAX, &paa_der, &paa_len)) < 0) {
		fprintf(stderr, "writ authority: no paa.der in %s: run writ authority init\n", o->dir);
		goto fail;
	}
	if ((err = open_token(o, 0, &p11)) < 0 || (err = p11_signer(p11, KEY_PAA, &paa)) < 0 ||
	    (err = p11_random(p11, rnd, sizeof(rnd))) < 0)
		goto fail;
	err = authority_certify_pai(&paa, paa_der, paa_len, info, (int)o->vid, o->pid > 0 ? (int)o->pid : -1, o->days,
				    rnd, (int64_t)time(NULL), &der, &der_len, why, sizeof(why));
	if (err < 0) {
		fprintf(stderr, "writ authority certify: cannot certify this HSM's PAI: %s\n", why[0] ? why : writ_strerror(err));
		goto fail;
	}
	hex_encode(info->hsm_id, 8, hex);
	if ((err = write_cert(o->out, der, der_len)) < 0)
		goto fail;
	printf("PAI for HSM %s… at factory %s written to %s\n", hex, info->factory, o->out);
	err = 0;
fail:
	free(info);
	free(paa_der);
	free(der);
	p11_close(p11);
	return err < 0 ? 1 : 0;
}

static int parse_id(const char *hex, uint8_t out[WRIT_ID_LEN])
{
	if (hex_decode(hex, out, WRIT_ID_LEN) < 0) {
		fprintf(stderr, "writ authority: writ id \"%s\" is not 32 hex digits\n", hex);
		return -1;
	}
	return 0;
}

/* --ops a,b,c into a bit set. Default: issue-dac, and wrap-secret when --secret is given. */
static int mint_ops(const struct aopts *o, uint32_t *ret)
{
	static const struct { const char *name; uint32_t bit; } names[] = {
		{ "issue-dac", WRIT_OP_ISSUE_DAC },
		{ "wrap-secret", WRIT_OP_WRAP_SECRET },
		{ "debug-unlock", WRIT_OP_DEBUG_UNLOCK },
	};
	const char *p = o->ops, *end;
	uint32_t ops = 0;
	size_t i, n;

	if (!p) {
		*ret = WRIT_OP_ISSUE_DAC | (o->n_secrets ? WRIT_OP_WRAP_SECRET : 0);
		return 0;
	}
	while (*p) {
		end = strchr(p, ',');
		n = end ? (size_t)(end - p) : strlen(p);
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strlen(names[i].name) == n && !strncmp(names[i].name, p, n))
				break;
		if (i == sizeof(names) / sizeof(names[0])) {
			fprintf(stderr, "writ authority mint: --ops takes issue-dac, wrap-secret, debug-unlock "
					"(comma-separated)\n");
			return WRIT_E_INVAL;
		}
		ops |= names[i].bit;
		p += n;
		if (*p == ',')
			p++;
	}
	if (o->n_secrets && !(ops & WRIT_OP_WRAP_SECRET)) {
		fprintf(stderr, "writ authority mint: --secret needs the wrap-secret op in --ops\n");
		return WRIT_E_INVAL;
	}
	*ret = ops;
	return 0;
}

/* --secret LABEL=FILE: read each file (16..64 raw bytes) into the scope. The buffers
 * that held a secret are wiped. */
static int mint_secrets(const struct aopts *o, struct writ_scope *s)
{
	size_t i, k, label_len, len = 0;
	uint8_t *buf = NULL;
	const char *eq;

	for (i = 0; i < o->n_secrets; i++) {
		struct writ_secret *x = &s->secrets[i];
		eq = strchr(o->secrets[i], '=');
		label_len = eq ? (size_t)(eq - o->secrets[i]) : 0;
		if (!eq || !writ_secret_label_valid(o->secrets[i], label_len)) {
			fprintf(stderr, "writ authority mint: --secret LABEL=FILE, LABEL 1..%d characters of a-z 0-9 -\n",
				WRIT_SECRET_LABEL_MAX);
			return WRIT_E_INVAL;
		}
		memcpy(x->label, o->secrets[i], label_len);
		x->label[label_len] = 0;
		for (k = 0; k < i; k++) {
			if (!strcmp(s->secrets[k].label, x->label)) {
				fprintf(stderr, "writ authority mint: secret label \"%s\" given twice\n", x->label);
				return WRIT_E_INVAL;
			}
		}
		if (file_read(eq + 1, MINT_SECRET_FILE_MAX, &buf, &len) < 0 || len < WRIT_SECRET_MIN ||
		    len > WRIT_SECRET_MAX) {
			fprintf(stderr, "writ authority mint: secret file %s must hold %d..%d bytes\n", eq + 1,
				WRIT_SECRET_MIN, WRIT_SECRET_MAX);
			if (buf) {
				writ_memzero(buf, len);
				free(buf);
			}
			return WRIT_E_INVAL;
		}
		memcpy(x->value, buf, len);
		x->value_len = len;
		writ_memzero(buf, len);
		free(buf);
		buf = NULL;
	}
	s->n_secrets = o->n_secrets;
	return 0;
}

/* Mint a production (revocation=0) or revocation (revocation=1) writ. */
/* Rework rights from the options into s (the writ's window and ids already set). */
static int mint_rework(const struct aopts *o, struct p11_ctx *p11, const struct enrol_info *info,
		       struct writ_scope *s)
{
	struct writ_signer root;
	uint8_t perms[16];
	int64_t nb = s->not_before, na;
	size_t i;
	int err;

	if (authority_parse_perms(o->rework_perms, perms) < 0) {
		fprintf(stderr, "writ authority: --rework takes debug, reflash, reprovision or bit numbers "
				"0..127, comma-separated\n");
		return WRIT_E_INVAL;
	}
	if (!info->has_debug) {
		fprintf(stderr, "writ authority: this HSM's enrolment bundle has no debug delegate key (it was "
				"initialised before secure debug existed): rework rights cannot be granted to it\n");
		return WRIT_E_INVAL;
	}
	if ((err = p11_signer(p11, KEY_DEBUG_ROOT, &root)) < 0) {
		fprintf(stderr, "writ authority: no debug-root key in the token (%s): run `writ authority init` "
				"again to add it\n", writ_strerror(err));
		return err;
	}
	na = nb + (o->rework_days > 0 ? o->rework_days : 90) * 86400;
	err = authority_rework_rights(&root, s->hsm_id, info->debug_pub, s->vid, s->pid,
				      (uint32_t)(o->key_gen >= 0 ? o->key_gen : 1), perms, nb, na,
				      (uint32_t)(o->rework_limit > 0 ? o->rework_limit : 10),
				      (uint32_t)(o->session > 0 ? o->session : 3600), &s->rework);
	if (err < 0) {
		fprintf(stderr, "writ authority: cannot make rework rights: %s\n", writ_strerror(err));
		return err;
	}
	for (i = 0; i < o->n_devices; i++) {
		if (strlen(o->devices[i]) != 2 * WRIT_DBG_UID_LEN ||
		    hex_decode(o->devices[i], s->rework.devices[i], WRIT_DBG_UID_LEN) < 0) {
			fprintf(stderr, "writ authority: --device is a 16-byte UID in hex (32 digits)\n");
			return WRIT_E_INVAL;
		}
	}
	s->rework.n_devices = o->n_devices;
	s->ops |= WRIT_OP_DEBUG_UNLOCK;
	return 0;
}

/* mode: 0 production, 1 revocation, 2 rework */
static int do_mint(struct aopts *o, int mode)
{
	int revocation = mode == 1, rework = mode == 2;
	struct enrol_info *info = calloc(1, sizeof(*info));
	struct writ_scope *s = calloc(1, sizeof(*s));
	struct p11_ctx *p11 = NULL;
	struct writ_signer wsign;
	uint8_t *pai = NULL, *sealed = NULL;
	size_t pai_len = 0, sealed_len = 0, i;
	int64_t now = (int64_t)time(NULL);
	char hex[2 * WRIT_ID_LEN + 1];
	int err = WRIT_E_INVAL;

	if (!info || !s)
		goto fail;
	if (!o->out) {
		fprintf(stderr, "writ authority: --out is required\n");
		goto fail;
	}
	if ((err = load_enrolment(o, info)) < 0)
		goto fail;
	err = WRIT_E_INVAL;
	s->kind = revocation ? WRIT_KIND_REVOCATION : rework ? WRIT_KIND_REWORK : WRIT_KIND_PRODUCTION;
	if ((rework && !o->rework_perms) || (revocation && o->rework_perms)) {
		fprintf(stderr, "writ authority: %s\n", rework ? "rework needs --rework PERMS" : "a revocation grants no rework rights");
		goto fail;
	}
	if (o->n_devices && !rework) {
		fprintf(stderr, "writ authority: --device names devices in a rework writ only\n");
		goto fail;
	}
	memcpy(s->hsm_id, info->hsm_id, WRIT_KEYID_LEN);
	memcpy(s->factory, info->factory, sizeof(s->factory));
	/* Overrides exist so an OEM can see (and tests can prove) that an HSM refuses a writ
	 * scoped to another factory or HSM; the writ is still encrypted to this HSM. */
	if (o->factory && snprintf(s->factory, sizeof(s->factory), "%s", o->factory) >= (int)sizeof(s->factory))
		goto fail;
	if (o->hsm_id && hex_decode(o->hsm_id, s->hsm_id, WRIT_KEYID_LEN) < 0) {
		fprintf(stderr, "writ authority: --hsm-id is 64 hex digits\n");
		goto fail;
	}
	s->issued_at = now;
	s->not_before = o->not_before >= 0 ? o->not_before : now - 300;
	s->not_after = o->not_after >= 0 ? o->not_after : s->not_before + (o->days > 0 ? o->days : 30) * 86400;
	for (i = 0; i < o->n_revokes; i++)
		if (parse_id(o->revokes[i], s->revokes[i]) < 0)
			goto fail;
	s->n_revokes = o->n_revokes;
	if (revocation) {
		if (!s->n_revokes) {
			fprintf(stderr, "writ authority revoke: give at least one --revoke WRIT-ID\n");
			goto fail;
		}
		(void)!snprintf(s->product, sizeof(s->product), "%s", o->product ? o->product : "revocation");
		s->vid = (uint16_t)(o->vid > 0 ? o->vid : 0xFFF1);
		s->pid = (uint16_t)(o->pid > 0 ? o->pid : 1);
	} else if (rework) {
		if (!o->product || o->vid < 0 || o->pid < 0 || !o->pai) {
			fprintf(stderr, "writ authority rework: --product, --vid, --pid and --pai are required\n");
			goto fail;
		}
		if (snprintf(s->product, sizeof(s->product), "%s", o->product) >= (int)sizeof(s->product))
			goto fail;
		s->vid = (uint16_t)o->vid;
		s->pid = (uint16_t)o->pid;
		if ((err = file_read(o->pai, X509_CERT_MAX, &pai, &pai_len)) < 0 || pai_len > WRIT_PAI_MAX) {
			fprintf(stderr, "writ authority rework: cannot read a PAI certificate from %s\n", o->pai);
			err = WRIT_E_INVAL;
			goto fail;
		}
		memcpy(s->pai, pai, pai_len);
		s->pai_len = pai_len;
		/* re-provisioning (a new DAC for a device made before) when the rights allow the
		 * chip to be re-provisioned, unless --ops says otherwise */
		if (o->ops) {
			if ((err = mint_ops(o, &s->ops)) < 0)
				goto fail;
			err = WRIT_E_INVAL;
		} else {
			uint8_t perms[16];
			if (authority_parse_perms(o->rework_perms, perms) == 0 && dbg_perm_has(perms, DBG_PERM_REPROVISION))
				s->ops = WRIT_OP_ISSUE_DAC;
		}
	} else {
		if (!o->product || o->vid < 0 || o->pid < 0 || o->quantity < 1 || o->serial_first < 0 || !o->pai) {
			fprintf(stderr, "writ authority mint: --product, --vid, --pid, --quantity, --serial-first "
					"and --pai are required\n");
			goto fail;
		}
		if (snprintf(s->product, sizeof(s->product), "%s", o->product) >= (int)sizeof(s->product)) {
			fprintf(stderr, "writ authority mint: product id longer than %d\n", WRIT_NAME_MAX);
			goto fail;
		}
		s->vid = (uint16_t)o->vid;
		s->pid = (uint16_t)o->pid;
		s->quantity = (uint64_t)o->quantity;
		s->serial_first = (uint64_t)o->serial_first;
		s->serial_last = s->serial_first + s->quantity - 1;
		if ((err = mint_ops(o, &s->ops)) < 0 || (err = mint_secrets(o, s)) < 0)
			goto fail;
		err = WRIT_E_INVAL;
		s->dac_days = o->dac_days > 0 ? (uint32_t)o->dac_days : 0;
		if ((err = file_read(o->pai, X509_CERT_MAX, &pai, &pai_len)) < 0 || pai_len > WRIT_PAI_MAX) {
			fprintf(stderr, "writ authority mint: cannot read a PAI certificate from %s\n", o->pai);
			err = WRIT_E_INVAL;
			goto fail;
		}
		memcpy(s->pai, pai, pai_len);
		s->pai_len = pai_len;
		if ((o->version_digest && hex_decode(o->version_digest, s->version_digest, WRIT_DIGEST_LEN) < 0) ||
		    (o->firmware_digest && hex_decode(o->firmware_digest, s->firmware_digest, WRIT_DIGEST_LEN) < 0)) {
			fprintf(stderr, "writ authority mint: digests are 64 hex digits (SHA-256)\n");
			goto fail;
		}
	}
	if ((err = open_token(o, 0, &p11)) < 0 || (err = p11_signer(p11, KEY_WRIT, &wsign)) < 0 ||
	    (err = p11_random(p11, s->id, WRIT_ID_LEN)) < 0)
		goto fail;
	if (o->rework_perms && (err = mint_rework(o, p11, info, s)) < 0)
		goto fail;
	err = writ_seal(s, &wsign, info->kex_pub, &sealed, &sealed_len);
	if (err < 0) {
		fprintf(stderr, "writ authority: cannot mint this writ: %s (check the scope: window, quantity "
				"within the serial range, names of A-Z a-z 0-9 . _ -)\n", writ_strerror(err));
		goto fail;
	}
	if ((err = file_write_atomic(o->out, sealed, sealed_len, 0644)) < 0)
		goto fail;
	hex_encode(s->id, WRIT_ID_LEN, hex);
	printf("%s\n", hex);
	fprintf(stderr, "writ %s (%s%s) for factory %s written to %s\n", hex,
		revocation ? "revocation" : rework ? "rework" : "production",
		s->rework.present && !rework ? ", with rework rights" : "", s->factory, o->out);
	err = 0;
fail:
	free(info);
	writ_scope_wipe(s);
	free(s);
	free(pai);
	free(sealed);
	p11_close(p11);
	return err < 0 ? 1 : 0;
}

static const char *key_label(const char *name)
{
	if (!name)
		return NULL;
	if (!strcmp(name, "writ"))
		return KEY_WRIT;
	if (!strcmp(name, "paa"))
		return KEY_PAA;
	if (!strcmp(name, "secure-boot"))
		return KEY_SECURE_BOOT;
	if (!strcmp(name, "debug-root"))
		return KEY_DEBUG_ROOT;
	return NULL;
}

static int do_pubkey(struct aopts *o)
{
	struct p11_ctx *p11 = NULL;
	uint8_t pub[WRIT_P256_PUB_LEN], d[32];
	char hex[2 * WRIT_P256_PUB_LEN + 1];
	const char *label = key_label(o->key);
	int err;

	if (!label) {
		fprintf(stderr, "writ authority pubkey: --key is writ, paa, secure-boot or debug-root\n");
		return 2;
	}
	if (open_token(o, 0, &p11) < 0)
		return 1;
	err = p11_find_key(p11, label, pub);
	p11_close(p11);
	if (err < 0) {
		fprintf(stderr, "writ authority pubkey: no %s key in the token (%s)%s\n", label, writ_strerror(err),
			err == WRIT_E_NOTFOUND ? ": run writ authority init again to add it" : "");
		return 1;
	}
	if (o->hash) {
		if (ec_sha256(pub, sizeof(pub), d) < 0)
			return 1;
		hex_encode(d, sizeof(d), hex);
	} else {
		hex_encode(pub, sizeof(pub), hex);
	}
	printf("%s\n", hex);
	return 0;
}

/* `writ authority bundle`: the product-version bundle of docs/factory-api.md. The
 * firmware is signed with the secure-boot key, the payload with the writ-signing key;
 * both keys stay in the token. The digests printed go into the writ (mint). */
static int do_bundle(struct aopts *o)
{
	struct bundle *b = calloc(1, sizeof(*b));
	struct p11_ctx *p11 = NULL;
	struct writ_signer wsign, sb;
	uint8_t *fw = NULL, *settings = NULL, *out = NULL, vd[32], fd[32], dbg[WRIT_P256_PUB_LEN];
	size_t fw_len = 0, settings_len = 0, out_len = 0, i, k;
	char hex[65];
	int err = WRIT_E_INVAL;

	if (!b)
		return 1;
	if (!o->product || !o->version || !o->firmware || o->fw_version < 0 || !o->settings || !o->out) {
		fprintf(stderr, "writ authority bundle: --product, --version, --firmware, --fw-version, --settings "
				"and --out are required\n");
		goto fail;
	}
	if (snprintf(b->product, sizeof(b->product), "%s", o->product) >= (int)sizeof(b->product) ||
	    snprintf(b->version, sizeof(b->version), "%s", o->version) >= (int)sizeof(b->version)) {
		fprintf(stderr, "writ authority bundle: product id and version name are 1..%d characters\n",
			BUNDLE_NAME_MAX);
		goto fail;
	}
	if (file_read(o->firmware, BUNDLE_FW_MAX, &fw, &fw_len) < 0 || fw_len == 0) {
		fprintf(stderr, "writ authority bundle: cannot read a firmware image of 1..%u bytes from %s\n",
			BUNDLE_FW_MAX, o->firmware);
		goto fail;
	}
	if (file_read(o->settings, BUNDLE_SETTINGS_MAX, &settings, &settings_len) < 0 || settings_len == 0 ||
	    memchr(settings, 0, settings_len)) {
		fprintf(stderr, "writ authority bundle: cannot read Matter settings text (1..%d bytes) from %s\n",
			BUNDLE_SETTINGS_MAX, o->settings);
		goto fail;
	}
	memcpy(b->settings, settings, settings_len + 1);
	b->fw_version = (uint32_t)o->fw_version;
	b->firmware = fw;
	b->firmware_len = fw_len;
	if (o->n_secrets > BUNDLE_SECRETS_MAX) {
		fprintf(stderr, "writ authority bundle: at most %d --secret\n", BUNDLE_SECRETS_MAX);
		goto fail;
	}
	for (i = 0; i < o->n_secrets; i++) {
		if (!writ_secret_label_valid(o->secrets[i], strlen(o->secrets[i]))) {
			fprintf(stderr, "writ authority bundle: --secret takes a LABEL (1..%d of a-z 0-9 -), not \"%s\"\n",
				BUNDLE_LABEL_MAX, o->secrets[i]);
			goto fail;
		}
		for (k = 0; k < i; k++)
			if (!strcmp(o->secrets[k], o->secrets[i])) {
				fprintf(stderr, "writ authority bundle: secret label \"%s\" given twice\n", o->secrets[i]);
				goto fail;
			}
		memcpy(b->secrets[i], o->secrets[i], strlen(o->secrets[i]) + 1);
	}
	b->n_secrets = o->n_secrets;
	if (o->iterations > 0) {
		b->iterations = (uint32_t)o->iterations;
		b->has_iterations = 1;
	}
	if (o->serial_prefix &&
	    snprintf(b->serial_prefix, sizeof(b->serial_prefix), "%s", o->serial_prefix) >= (int)sizeof(b->serial_prefix)) {
		fprintf(stderr, "writ authority bundle: --serial-prefix is 1..%d characters\n", BUNDLE_PREFIX_MAX);
		goto fail;
	}
	if (o->recipe) {
		if (bundle_recipe_parse(o->recipe, b) < 0) {
			fprintf(stderr, "writ authority bundle: --recipe lists steps in this order: discover,keys,dac,"
					"chain,factory-data,secret,otp,firmware,lock,verify,record,label (only secret "
					"and label may be left out)\n");
			goto fail;
		}
	} else {
		bundle_recipe_default(b);
	}
	if (authority_open_signer(o->dir, o->pin_file, "writ", &p11, &wsign) < 0)
		goto fail;
	if ((err = p11_signer(p11, KEY_SECURE_BOOT, &sb)) < 0 || (err = p11_find_key(p11, KEY_DEBUG_ROOT, dbg)) < 0) {
		fprintf(stderr, "writ authority bundle: the token lacks the secure-boot or debug-root key (%s): run "
				"writ authority init again to add them\n", writ_strerror(err));
		goto fail;
	}
	memcpy(b->sb_pub, sb.pub, sizeof(b->sb_pub));
	if ((err = ec_sha256(dbg, sizeof(dbg), b->debug_root_hash)) < 0 ||
	    (err = fwsig_sign(&sb, b->fw_version, fw, fw_len, b->fw_sig)) < 0)
		goto fail;
	err = bundle_sign(b, &wsign, &out, &out_len, vd, fd);
	if (err < 0) {
		fprintf(stderr, "writ authority bundle: cannot build the bundle: %s (product and version are "
				"A-Z a-z 0-9 . _ - (+ in versions); settings printable text)\n", writ_strerror(err));
		goto fail;
	}
	if ((err = file_write_atomic(o->out, out, out_len, 0644)) < 0) {
		fprintf(stderr, "writ authority bundle: cannot write %s: %s\n", o->out, writ_strerror(err));
		goto fail;
	}
	hex_encode(vd, sizeof(vd), hex);
	printf("version-digest %s\n", hex);
	hex_encode(fd, sizeof(fd), hex);
	printf("firmware-digest %s\n", hex);
	fprintf(stderr, "bundle %s %s (%zu bytes) written to %s\n", b->product, b->version, out_len, o->out);
	err = 0;
fail:
	free(b);
	free(fw);
	free(settings);
	free(out);
	p11_close(p11);
	return err < 0 ? 1 : 0;
}

int authority_open_signer(const char *dir, const char *pin_file, const char *key, struct p11_ctx **ret_p11,
			  struct writ_signer *ret)
{
	struct aopts o;
	char path[4096];
	const char *label = key_label(key);
	int err;

	if (!label)
		return WRIT_E_INVAL;
	memset(&o, 0, sizeof(o));
	o.dir = dir;
	o.pin_file = pin_file;
	if (dir_path(&o, "authority.conf", path, sizeof(path)) < 0)
		return WRIT_E_TOOBIG;
	token_conf_load(&o.tc, path, AUTH_TOKEN);
	err = open_token(&o, 0, ret_p11);
	if (err < 0)
		return err;
	err = p11_signer(*ret_p11, label, ret);
	if (err < 0) {
		fprintf(stderr, "writ: the authority token has no %s key (%s)%s\n", label, writ_strerror(err),
			err == WRIT_E_NOTFOUND ? ": run writ authority init again to add it" : "");
		p11_close(*ret_p11);
		*ret_p11 = NULL;
	}
	return err;
}

int cmd_authority(int argc, char **argv)
{
	struct aopts o;
	char path[4096];
	const char *sub;

	memset(&o, 0, sizeof(o));
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	sub = argv[1];
	if (parse(argc - 1, argv + 1, &o) < 0) {
		usage(stderr);
		return 2;
	}
	if (dir_path(&o, "authority.conf", path, sizeof(path)) < 0) {
		fprintf(stderr, "writ authority: --dir path too long\n");
		return 2;
	}
	token_conf_load(&o.tc, path, AUTH_TOKEN);
	if (!strcmp(sub, "init"))
		return do_init(&o);
	if (!strcmp(sub, "certify"))
		return do_certify(&o);
	if (!strcmp(sub, "mint"))
		return do_mint(&o, 0);
	if (!strcmp(sub, "revoke"))
		return do_mint(&o, 1);
	if (!strcmp(sub, "rework"))
		return do_mint(&o, 2);
	if (!strcmp(sub, "pubkey"))
		return do_pubkey(&o);
	if (!strcmp(sub, "bundle"))
		return do_bundle(&o);
	fprintf(stderr, "writ authority: unknown subcommand \"%s\"\n", sub);
	usage(stderr);
	return 2;
}
