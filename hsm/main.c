/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-hsmd: the edge HSM daemon. `init` creates its keys inside a PKCS#11 token and
 * its journal, and exports the enrolment bundle; `serve` answers the local socket API;
 * `verify-journal` checks a journal offline. PINs come from --pin-file or the
 * environment (WRIT_HSM_PIN, WRIT_HSM_SO_PIN), never from the command line.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/ct.h"
#include "hsm/anchor.h"
#include "crypto/csr.h"
#include "crypto/ec.h"
#include "hsm/hsmd.h"
#include "hsm/journal.h"
#include "hsm/server.h"
#include "hsm/tpm.h"
#include "hsm/tpmkex.h"
#include "host/conf.h"
#include "host/file.h"
#include "host/harden.h"
#include "host/log.h"
#include "host/version.h"
#include "wire/cbu.h"
#include "wire/enrol.h"

#define DEFAULT_TOKEN "writ-hsm"

struct opts {
	const char *state, *pin_file, *so_pin_file, *factory, *oem_key, *socket, *out;
	const char *counter, *tcti; /* rollback anchor: none|tpm, and the TPM's TCTI */
	const char *kex;            /* where the key-agreement key is made: token|tpm */
	long long tolerance, time_offset;
	int no_seccomp;
	struct token_conf tc;
	struct server srv;
};

static void usage(FILE *f)
{
	fprintf(f, "usage:\n"
		   "  writ-hsmd init --state DIR --factory ID --oem-key WRIT-SIGNING-PUB.pem\n"
		   "                 [--token LABEL] [--module PKCS11.so] [--pin-file F] [--so-pin-file F]\n"
		   "                 [--tolerance SECONDS] [--counter none|tpm] [--kex token|tpm]\n"
		   "                 [--tpm-tcti CONF]\n"
		   "  writ-hsmd serve --state DIR [--socket PATH] [--allow-uid UID]... [--allow-gid GID]...\n"
		   "                 [--pin-file F] [--workers N] [--token LABEL] [--module PKCS11.so]\n"
		   "                 [--no-seccomp] [--tpm-tcti CONF]\n"
		   "  writ-hsmd enrolment --state DIR --out FILE\n"
		   "  writ-hsmd verify-journal --state DIR\n"
		   "  writ-hsmd --help | --version   (the version: VERSION next to the program, else the built one)\n"
		   "\n"
		   "writ-hsmd is the edge HSM: the only process that opens the factory's PKCS#11 token. It\n"
		   "verifies writs, signs DACs within their quantity and window, wraps product secrets to\n"
		   "chips and journals everything (docs/hsm-api.md). It has no network: it answers on a\n"
		   "local Unix socket, to writ-factory and the `writ hsm` commands.\n"
		   "\n"
		   "Commands:\n"
		   "  init            create the token if needed, four non-extractable P-256 keys in it\n"
		   "                  (identity, key agreement, PAI, debug delegate), the journal, hsmd.conf and\n"
		   "                  enrolment.cbor (send it to the OEM, or `writ-factory enrol` it)\n"
		   "  serve           verify the journal, then answer on the socket until SIGTERM (which\n"
		   "                  writes a checkpoint)\n"
		   "  enrolment       copy the enrolment bundle to --out\n"
		   "  verify-journal  check the journal's chain and checkpoints offline; prints a summary\n"
		   "\n"
		   "Options:\n"
		   "  --state DIR         the state directory (required)\n"
		   "  --factory ID        init: the factory this HSM belongs to (writs name it)\n"
		   "  --oem-key F.pem     init: the OEM's writ-signing public key, pinned for good\n"
		   "  --token LABEL       the token (default \"%s\"; init records it in hsmd.conf)\n"
		   "  --module SO         the PKCS#11 module (default: the build's SoftHSM; recorded too)\n"
		   "  --pin-file F        the user PIN (first line of F); else $WRIT_HSM_PIN\n"
		   "  --so-pin-file F     init, only to create a missing token; else $WRIT_HSM_SO_PIN\n"
		   "  --tolerance S       init: how far (0..86400 s, default %d) the clock may go back\n"
		   "                      behind the journal's last trusted time before all work stops\n"
		   "  --socket PATH       serve: the socket (default DIR/hsmd.sock, mode 0660)\n"
		   "  --allow-uid UID     serve: also let this user talk to the socket (repeatable; the\n"
		   "                      daemon's own user always may)\n"
		   "  --allow-gid GID     serve: also let this group (repeatable)\n"
		   "  --workers N         serve: worker threads, 1..16 (default: one per CPU)\n"
		   "  --out FILE          enrolment: where to write the bundle\n"
		   "  --counter none|tpm  init: anchor the journal's head in a TPM 2.0 NV counter (tpm: a\n"
		   "                      restored older state directory is refused at start; rollback-proof\n"
		   "                      quota) or not (none, the default: the cloud detects the fork)\n"
		   "  --kex token|tpm     init: where the key-agreement key (writs are sealed to it) is made:\n"
		   "                      in the token (default), or straight in the TPM under the token, for\n"
		   "                      tokens without CKM_ECDH1_DERIVE such as tpm2-pkcs11 1.9 (DIR/kex.tpm)\n"
		   "  --tpm-tcti CONF     the tpm2-tss TCTI (default " ANCHOR_DEFAULT_TCTI "), kept in DIR/tpm.tcti\n"
		   "  --no-seccomp        serve: do not confine the daemon with its seccomp allow-list (no\n"
		   "                      network sockets; anything outside the list kills it); debugging only\n"
		   "  --time-offset S     tests only: shift the daemon's clock by S seconds, as changing\n"
		   "                      the system clock would\n"
		   "  --help              this page\n"
		   "\n"
		   "Environment:\n"
		   "  WRIT_HSM_PIN      the token's user PIN when --pin-file is not given\n"
		   "  WRIT_HSM_SO_PIN   the SO PIN (init of a new token) when --so-pin-file is not given\n"
		   "  WRIT_DEBUG        set (to anything): log at debug level\n"
		   "  SOFTHSM2_CONF     SoftHSM's configuration (where its tokens live)\n"
		   "\n"
		   "Files (in DIR):\n"
		   "  journal          the hash-chained, checkpointed journal: never edit, never restore an\n"
		   "                   older copy while the cloud holds a newer one (a fork)\n"
		   "  hsmd.conf        module and token label\n"
		   "  tpm.tcti         the TPM's TCTI (--counter tpm, --kex tpm)\n"
		   "  kex.tpm          with --kex tpm: the key-agreement key, sealed by and for this TPM\n"
		   "  enrolment.cbor   the public keys and PAI CSR the OEM enrols\n"
		   "  hsmd.sock        the socket while serving\n"
		   "\n"
		   "Logs go to stderr: the journal check at start, each writ loaded, each refusal and why.\n"
		   "\n"
		   "Exit status:\n"
		   "  0 done (serve: stopped by SIGTERM/SIGINT); 1 the token, the journal or the disk\n"
		   "  failed (verify-journal: the journal does not verify); 2 usage.\n"
		   "\n"
		   "Example:\n"
		   "  export WRIT_HSM_PIN=... WRIT_HSM_SO_PIN=...\n"
		   "  writ-hsmd init --state /var/lib/writ-hsmd --factory foxy-sz1 --oem-key oem.pem\n"
		   "  writ-hsmd serve --state /var/lib/writ-hsmd --allow-gid $(getent group writ | cut -d: -f3)\n",
		DEFAULT_TOKEN, HSM_DEFAULT_TOLERANCE);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "state", required_argument, 0, 's' },	 { "module", required_argument, 0, 'm' },
		{ "token", required_argument, 0, 't' },	 { "pin-file", required_argument, 0, 'p' },
		{ "so-pin-file", required_argument, 0, 'P' }, { "factory", required_argument, 0, 'f' },
		{ "oem-key", required_argument, 0, 'k' }, { "socket", required_argument, 0, 'S' },
		{ "out", required_argument, 0, 'o' },	 { "tolerance", required_argument, 0, 'T' },
		{ "allow-uid", required_argument, 0, 'u' }, { "allow-gid", required_argument, 0, 'g' },
		{ "time-offset", required_argument, 0, 'O' }, { "workers", required_argument, 0, 'W' },
		{ "no-seccomp", no_argument, 0, 'N' }, { "help", no_argument, 0, 'h' },
		{ "counter", required_argument, 0, 'C' }, { "tpm-tcti", required_argument, 0, 'X' },
		{ "kex", required_argument, 0, 'K' },
		{ 0, 0, 0, 0 }
	};
	int c;
	char *end;

	o->tolerance = HSM_DEFAULT_TOLERANCE;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's': o->state = optarg; break;
		case 'm': o->tc.module = optarg; break;
		case 't': o->tc.token = optarg; break;
		case 'p': o->pin_file = optarg; break;
		case 'P': o->so_pin_file = optarg; break;
		case 'f': o->factory = optarg; break;
		case 'k': o->oem_key = optarg; break;
		case 'S': o->socket = optarg; break;
		case 'o': o->out = optarg; break;
		case 'N': o->no_seccomp = 1; break;
		case 'C': o->counter = optarg; break;
		case 'X': o->tcti = optarg; break;
		case 'K': o->kex = optarg; break;
		case 'T':
		case 'W':
		case 'O':
		case 'u':
		case 'g': {
			long long v;
			errno = 0;
			v = strtoll(optarg, &end, 10);
			if (errno || *end || end == optarg) {
				fprintf(stderr, "writ-hsmd: %s is not a number\n", optarg);
				return -1;
			}
			if (c == 'T') {
				if (v < 0 || v > 86400) {
					fprintf(stderr, "writ-hsmd: --tolerance must be 0..86400 seconds\n");
					return -1;
				}
				o->tolerance = v;
			} else if (c == 'W') {
				if (v < 1 || v > 16) {
					fprintf(stderr, "writ-hsmd: --workers must be 1..16\n");
					return -1;
				}
				o->srv.workers = (size_t)v;
			} else if (c == 'O') {
				/* a test knob with the same effect as setting the system clock */
				o->time_offset = v;
			} else if (c == 'u' && o->srv.n_allow_uids < 16) {
				o->srv.allow_uids[o->srv.n_allow_uids++] = (uid_t)v;
			} else if (c == 'g' && o->srv.n_allow_gids < 16) {
				o->srv.allow_gids[o->srv.n_allow_gids++] = (gid_t)v;
			}
			break;
		}
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (!o->state) {
		fprintf(stderr, "writ-hsmd: --state DIR is required\n");
		return -1;
	}
	return 0;
}

static int cmd_init(struct opts *o)
{
	const struct p11_pin_source src = { o->pin_file, "WRIT_HSM_PIN", o->so_pin_file, "WRIT_HSM_SO_PIN" };
	const char *missing = NULL, *lacks;
	char path[4096], cn[96];
	uint8_t oem_pub[WRIT_P256_PUB_LEN], id_pub[WRIT_P256_PUB_LEN], kex_pub[WRIT_P256_PUB_LEN];
	uint8_t pai_pub[WRIT_P256_PUB_LEN], debug_pub[WRIT_P256_PUB_LEN], prefix[4], hsm_id[WRIT_KEYID_LEN], *pem = NULL,
		*bundle = NULL, *csr = NULL;
	uint32_t nv = 0;
	uint64_t nv_base = 0;
	int tpm, kex_tpm;
	struct tpm *tpmc = NULL;
	char pin[P11_PIN_MAX], kpath[4096];
	size_t pem_len = 0, bundle_len = 0, csr_len = 0;
	struct p11_ctx *p11 = NULL;
	struct writ_signer identity, pai_signer;
	struct enrol_info *info = NULL;
	cbor_item_t *g = NULL;
	char hex[2 * WRIT_KEYID_LEN + 1];
	int err;

	if (!o->factory || !o->oem_key) {
		fprintf(stderr, "writ-hsmd init: --factory and --oem-key are required\n");
		return 2;
	}
	if (!writ_name_valid(o->factory)) {
		fprintf(stderr, "writ-hsmd init: factory id must be 1..64 characters of A-Z a-z 0-9 . _ -\n");
		return 2;
	}
	if (o->counter && strcmp(o->counter, "none") && strcmp(o->counter, "tpm")) {
		fprintf(stderr, "writ-hsmd init: --counter is none or tpm\n");
		return 2;
	}
	tpm = o->counter && !strcmp(o->counter, "tpm");
	if (o->kex && strcmp(o->kex, "token") && strcmp(o->kex, "tpm")) {
		fprintf(stderr, "writ-hsmd init: --kex is token or tpm\n");
		return 2;
	}
	kex_tpm = o->kex && !strcmp(o->kex, "tpm");
	if (!o->tc.token)
		o->tc.token = DEFAULT_TOKEN;
	err = file_read(o->oem_key, 4096, &pem, &pem_len);
	if (err < 0 || ec_pub_from_pem(pem, pem_len, oem_pub) < 0) {
		fprintf(stderr, "writ-hsmd init: cannot read a P-256 public key from %s (export it with "
				"`writ authority export-key`)\n", o->oem_key);
		free(pem);
		return 2;
	}
	free(pem);
	if (mkdir(o->state, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "writ-hsmd init: cannot create %s: %s\n", o->state, strerror(errno));
		return 2;
	}
	if (path_join(path, sizeof(path), o->state, "journal") < 0 || access(path, F_OK) == 0) {
		fprintf(stderr, "writ-hsmd init: %s already exists: this state directory belongs to an "
				"initialised HSM\n", path);
		return 2;
	}
	err = p11_open_pins(o->tc.module, o->tc.token, &src, 1, &p11, &missing);
	if (missing && !strcmp(missing, "PIN")) {
		fprintf(stderr, "writ-hsmd init: no user PIN: use --pin-file F or set WRIT_HSM_PIN\n");
		return 2;
	}
	if (missing) {
		fprintf(stderr, "writ-hsmd init: token \"%s\" does not exist; to create it give an SO PIN "
				"with --so-pin-file F or WRIT_HSM_SO_PIN\n", o->tc.token);
		return 2;
	}
	if (err < 0) {
		fprintf(stderr, "writ-hsmd init: cannot open token \"%s\": %s\n", o->tc.token, writ_strerror(err));
		return 1;
	}
	if ((lacks = p11_lacks(p11, P11_USAGE_SIGN | (kex_tpm ? 0 : P11_USAGE_DERIVE)))) {
		/* writs are sealed to the HSM's ECDH key: without ECDH none could be opened */
		fprintf(stderr, "writ-hsmd init: token \"%s\": %s; writ-hsmd needs P-256 key generation, "
				"ECDSA, ECDH (writs are sealed to the HSM) and random bytes from its token%s\n",
			o->tc.token, lacks,
			kex_tpm ? "" : " (a token without ECDH on a TPM: --kex tpm makes the key-agreement key in "
				       "the TPM itself)");
		err = WRIT_E_UNSUPPORTED;
		goto fail;
	}
	if (tpm || kex_tpm) {
		if ((err = tpm_open(o->tcti ? o->tcti : ANCHOR_DEFAULT_TCTI, &tpmc)) < 0) {
			fprintf(stderr, "writ-hsmd init: no TPM answers at \"%s\" (--tpm-tcti)\n",
				o->tcti ? o->tcti : ANCHOR_DEFAULT_TCTI);
			goto fail;
		}
	}
	if (kex_tpm) {
		/* the key's authorisation comes from the user PIN (hsm/tpmkex.h) */
		if (harden_mlock(pin, sizeof(pin)) < 0)
			log_warn("cannot lock the PIN buffer in RAM (RLIMIT_MEMLOCK); going on");
		if (p11_pin_load(o->pin_file, "WRIT_HSM_PIN", pin) < 0 ||
		    path_join(kpath, sizeof(kpath), o->state, TPMKEX_FILE) < 0) {
			fprintf(stderr, "writ-hsmd init: no user PIN: use --pin-file F or set WRIT_HSM_PIN\n");
			err = WRIT_E_AUTH;
			goto fail;
		}
		err = tpmkex_create(tpmc, pin, kpath, kex_pub);
		writ_memzero(pin, sizeof(pin));
		if (err < 0) {
			fprintf(stderr, "writ-hsmd init: cannot make the key-agreement key in the TPM: %s\n",
				writ_strerror(err));
			goto fail;
		}
	}
	if ((err = p11_keygen_p256(p11, HSM_KEY_IDENTITY, P11_USAGE_SIGN, id_pub)) < 0 ||
	    (!kex_tpm && (err = p11_keygen_p256(p11, HSM_KEY_KEX, P11_USAGE_DERIVE, kex_pub)) < 0) ||
	    (err = p11_keygen_p256(p11, HSM_KEY_PAI, P11_USAGE_SIGN, pai_pub)) < 0 ||
	    (err = p11_keygen_p256(p11, HSM_KEY_DEBUG, P11_USAGE_SIGN, debug_pub)) < 0) {
		fprintf(stderr, "writ-hsmd init: key generation failed: %s%s\n", writ_strerror(err),
			err == WRIT_E_EXISTS ? " (the token already holds writ-hsmd keys: use a fresh token)" : "");
		goto fail;
	}
	if ((err = p11_signer(p11, HSM_KEY_IDENTITY, &identity)) < 0 || (err = p11_signer(p11, HSM_KEY_PAI, &pai_signer)) < 0 ||
	    (err = p11_random(p11, prefix, sizeof(prefix))) < 0 || (err = ec_keyid(id_pub, hsm_id)) < 0)
		goto fail;
	prefix[0] = (uint8_t)((prefix[0] & 0x3f) | 0x40); /* positive, no leading zero octet */
	if (tpm) {
		/* the counter this HSM's journal is anchored in; its index and value go into
		 * the genesis, signed with the rest (hsm/anchor.h) */
		nv = ANCHOR_NV_BASE | (((uint32_t)hsm_id[0] << 16 | (uint32_t)hsm_id[1] << 8 | hsm_id[2]) & ANCHOR_NV_MASK);
		err = anchor_tpm_define(tpmc, nv, &nv_base);
		if (err < 0) {
			fprintf(stderr, "writ-hsmd init: cannot define the TPM NV counter 0x%08x: %s\n", nv,
				writ_strerror(err));
			goto fail;
		}
	}
	err = WRIT_E_NOMEM;
	g = cbu_new_map(8 + (tpm ? 2 : 0) + (kex_tpm ? 1 : 0));
	if (!g || cbu_put_bytes(g, 1, hsm_id, sizeof(hsm_id)) < 0 || cbu_put_text(g, 2, o->factory) < 0 ||
	    cbu_put_bytes(g, 3, id_pub, sizeof(id_pub)) < 0 || cbu_put_bytes(g, 4, kex_pub, sizeof(kex_pub)) < 0 ||
	    cbu_put_bytes(g, 5, pai_pub, sizeof(pai_pub)) < 0 || cbu_put_bytes(g, 6, oem_pub, sizeof(oem_pub)) < 0 ||
	    cbu_put_bytes(g, 7, prefix, sizeof(prefix)) < 0 || cbu_put_uint(g, 8, (uint64_t)o->tolerance) < 0 ||
	    (tpm && (cbu_put_uint(g, 9, nv) < 0 || cbu_put_uint(g, 10, nv_base) < 0)) ||
	    (kex_tpm && cbu_put_text(g, 11, "tpm") < 0))
		goto fail;
	err = journal_create(path, g, (int64_t)time(NULL) + o->time_offset, &identity);
	if (err < 0) {
		fprintf(stderr, "writ-hsmd init: cannot create the journal %s: %s\n", path, writ_strerror(err));
		goto fail;
	}
	info = calloc(1, sizeof(*info));
	if (!info) {
		err = WRIT_E_NOMEM;
		goto fail;
	}
	hex_encode(hsm_id, 8, hex);
	(void)!snprintf(cn, sizeof(cn), "writ-hsmd %s PAI", hex); /* 26 bytes */
	if ((err = csr_build_sign(cn, &pai_signer, &csr, &csr_len)) < 0 || csr_len > sizeof(info->csr))
		goto fail;
	memcpy(info->csr, csr, csr_len);
	info->csr_len = csr_len;
	memcpy(info->identity_pub, id_pub, sizeof(id_pub));
	memcpy(info->kex_pub, kex_pub, sizeof(kex_pub));
	memcpy(info->pai_pub, pai_pub, sizeof(pai_pub));
	memcpy(info->debug_pub, debug_pub, sizeof(debug_pub));
	info->has_debug = 1;
	(void)!snprintf(info->factory, sizeof(info->factory), "%s", o->factory);
	info->created = (int64_t)time(NULL);
	if ((err = enrol_build(info, &identity, &bundle, &bundle_len)) < 0)
		goto fail;
	if ((err = path_join(path, sizeof(path), o->state, "enrolment.cbor")) < 0 ||
	    (err = file_write_atomic(path, bundle, bundle_len, 0644)) < 0)
		goto fail;
	if ((err = path_join(path, sizeof(path), o->state, "hsmd.conf")) < 0 ||
	    (err = token_conf_save(&o->tc, path, WRIT_DEFAULT_P11_MODULE)) < 0)
		goto fail;
	if (tpm || kex_tpm) {
		const char *t = o->tcti ? o->tcti : ANCHOR_DEFAULT_TCTI;
		if ((err = path_join(path, sizeof(path), o->state, "tpm.tcti")) < 0 ||
		    (err = file_write_atomic(path, t, strlen(t), 0600)) < 0)
			goto fail;
	}
	hex_encode(hsm_id, WRIT_KEYID_LEN, hex);
	printf("hsm-id %s\nfactory %s\nenrolment %s/enrolment.cbor\n", hex, o->factory, o->state);
	if (tpm)
		printf("counter tpm nv 0x%08x base %llu\n", nv, (unsigned long long)nv_base);
	else
		printf("counter none\n");
	printf("kex %s\n", kex_tpm ? "tpm" : "token");
	fprintf(stderr, "writ-hsmd: initialised; give %s/enrolment.cbor to the OEM to certify this HSM's PAI\n",
		o->state);
	err = 0;
fail:
	if (err < 0)
		fprintf(stderr, "writ-hsmd init: failed: %s\n", writ_strerror(err));
	if (g)
		cbor_decref(&g);
	free(csr);
	free(bundle);
	free(info);
	writ_memzero(pin, sizeof(pin));
	p11_close(p11);
	tpm_close(tpmc);
	return err < 0 ? 1 : 0;
}

/* Reading what the genesis keeps in a TPM during a read-only journal open. */
struct anchor_genesis {
	uint64_t nv, base;
	int kex_tpm;
};

static int anchor_genesis_cb(void *ctx, const struct journal_entry *e)
{
	struct anchor_genesis *g = ctx;
	char kex[8];

	if (e->type != JT_GENESIS)
		return 0;
	if (cbu_get_uint(e->body, 9, 0xffffffffu, &g->nv) == 0 && cbu_get_uint(e->body, 10, UINT64_MAX, &g->base) < 0)
		return WRIT_E_JOURNAL;
	if (cbu_get_text(e->body, 11, kex, sizeof(kex)) == 0) {
		if (strcmp(kex, "tpm"))
			return WRIT_E_JOURNAL;
		g->kex_tpm = 1;
	}
	return 0;
}

/*
 * What the genesis keeps in a TPM: the rollback anchor (hsm/anchor.h) and the
 * key-agreement key (hsm/tpmkex.h), opened BEFORE hsm_open: the journal is opened
 * read-only here, so a refused start writes nothing. (hsm_open appends a start entry;
 * if a refused start could do that, restarting a restored copy often enough would
 * lengthen it up to the counter.) 0 with *ret_tpm NULL for a journal that uses no TPM;
 * 1 when the journal does not verify (logged: serve refuses to start).
 * The key-agreement key's authorisation comes from pin.
 */
static int open_tpm(struct opts *o, const char *pin, struct tpm **ret_tpm, struct anchor **ret,
		    struct tpmkex **ret_kex)
{
	struct anchor_genesis g = { 0, 0, 0 };
	struct journal_open_info info;
	struct journal *j = NULL;
	uint8_t *tcti_file = NULL;
	size_t tl = 0;
	char path[4096];
	const char *tcti = o->tcti;
	int err;

	*ret = NULL;
	*ret_tpm = NULL;
	*ret_kex = NULL;
	if (path_join(path, sizeof(path), o->state, "journal") < 0)
		return WRIT_E_INVAL;
	err = journal_open(path, NULL, anchor_genesis_cb, &g, &j, &info);
	journal_close(j);
	if (err < 0) {
		/* journal_open logged where and why */
		log_error("journal %s does not verify (%s): refusing to start", path, writ_strerror(err));
		return 1;
	}
	if (!g.nv)
		log_info("rollback anchor: none (a restored state directory is caught only by the cloud's fork alert)");
	if (!g.nv && !g.kex_tpm)
		return 0;
	if (!tcti && path_join(path, sizeof(path), o->state, "tpm.tcti") == 0 &&
	    file_read(path, 512, &tcti_file, &tl) == 0)
		tcti = (const char *)tcti_file;
	err = tpm_open(tcti ? tcti : ANCHOR_DEFAULT_TCTI, ret_tpm);
	free(tcti_file);
	if (err < 0) {
		log_error("this HSM keeps its %s in a TPM, and none answers: check --tpm-tcti / %s/tpm.tcti",
			  g.nv ? "rollback anchor" : "key-agreement key", o->state);
		return err;
	}
	if (g.kex_tpm) {
		if ((err = path_join(path, sizeof(path), o->state, TPMKEX_FILE)) < 0 ||
		    (err = tpmkex_load(*ret_tpm, pin, path, ret_kex)) < 0)
			goto fail;
		log_info("key-agreement key: in the TPM (%s)", TPMKEX_FILE);
	}
	if (g.nv && (err = anchor_tpm_open(*ret_tpm, (uint32_t)g.nv, g.base, info.entries, ret)) < 0)
		goto fail;
	return 0;
fail:
	tpmkex_free(*ret_kex);
	*ret_kex = NULL;
	tpm_close(*ret_tpm);
	*ret_tpm = NULL;
	return err;
}

static int cmd_serve(struct opts *o)
{
	struct anchor *anchor = NULL;
	struct tpm *tpmc = NULL;
	struct tpmkex *kex = NULL;
	struct writ_ecdh kex_view;
	int precheck;
	char pin[P11_PIN_MAX], path[4096], sock[4096];
	uint8_t *bundle = NULL;
	size_t bundle_len = 0;
	struct hsm *h = NULL;
	int err, rc = 1;

	if (path_join(path, sizeof(path), o->state, "hsmd.conf") < 0)
		return 2;
	token_conf_load(&o->tc, path, DEFAULT_TOKEN);
	if (!o->socket) {
		if (path_join(sock, sizeof(sock), o->state, "hsmd.sock") < 0)
			return 2;
		o->socket = sock;
	}
	if (harden_mlock(pin, sizeof(pin)) < 0)
		log_warn("cannot lock the PIN buffer in RAM (RLIMIT_MEMLOCK); going on");
	if (p11_pin_load(o->pin_file, "WRIT_HSM_PIN", pin) < 0) {
		fprintf(stderr, "writ-hsmd serve: no user PIN: use --pin-file F or set WRIT_HSM_PIN\n");
		return 2;
	}
	precheck = open_tpm(o, pin, &tpmc, &anchor, &kex);
	if (precheck == 1) {
		writ_memzero(pin, sizeof(pin));
		return 1;
	}
	if (precheck < 0) {
		writ_memzero(pin, sizeof(pin));
		fprintf(stderr, "writ-hsmd serve: refusing to serve: what this HSM keeps in its TPM does not open or "
				"agree (see the log above)\n");
		return 1;
	}
	if (kex)
		tpmkex_ecdh(kex, &kex_view);
	h = calloc(1, sizeof(*h));
	if (!h) {
		writ_memzero(pin, sizeof(pin));
		goto out;
	}
	err = hsm_open(h, o->state, o->tc.module, o->tc.token, pin, o->time_offset, anchor, kex ? &kex_view : NULL);
	writ_memzero(pin, sizeof(pin));
	if (err < 0)
		goto out;
	/* the start entry hsm_open appended, and any torn tail it cut, moved the journal */
	if (anchor && anchor_advance(anchor, journal_next_seq(h->journal)) < 0)
		goto out;
	if (anchor)
		journal_set_anchor(h->journal, anchor_advance, anchor);
	/* the loaded writs hold their product secrets in clear: never in swap */
	if (harden_mlock(h->writs, HSM_MAX_WRITS * sizeof(*h->writs)) < 0)
		log_warn("cannot lock the writ table (%zu KiB) in RAM: raise RLIMIT_MEMLOCK (LimitMEMLOCK=); going on",
			 HSM_MAX_WRITS * sizeof(*h->writs) / 1024);
	if (path_join(path, sizeof(path), o->state, "enrolment.cbor") == 0 &&
	    file_read(path, ENROL_MAX, &bundle, &bundle_len) == 0) {
		o->srv.enrolment = bundle;
		o->srv.enrolment_len = bundle_len;
	}
	/* Start-up is over: the token is open, the journal replayed, the files read. From
	 * here the daemon needs files, threads and AF_UNIX sockets (the listener is bound
	 * by server_run under the filter: AF_UNIX is allowed), nothing else. */
	if (harden_seccomp(HARDEN_PROFILE_HSMD, o->no_seccomp) < 0)
		goto out;
	o->srv.hsm = h;
	err = server_run(&o->srv, o->socket);
	rc = err < 0 ? 1 : 0;
out:
	if (h)
		hsm_close(h); /* its closing checkpoint still advances the anchor */
	anchor_free(anchor);
	tpmkex_free(kex);
	tpm_close(tpmc);
	free(h);
	free(bundle);
	return rc;
}

static int cmd_enrolment(struct opts *o)
{
	char path[4096];
	uint8_t *bundle = NULL;
	size_t len = 0;
	int err;

	if (!o->out) {
		fprintf(stderr, "writ-hsmd enrolment: --out FILE is required\n");
		return 2;
	}
	if (path_join(path, sizeof(path), o->state, "enrolment.cbor") < 0 || file_read(path, ENROL_MAX, &bundle, &len) < 0) {
		fprintf(stderr, "writ-hsmd enrolment: no bundle in %s: run writ-hsmd init\n", o->state);
		return 1;
	}
	err = file_write_atomic(o->out, bundle, len, 0644);
	free(bundle);
	return err < 0 ? 1 : 0;
}

static int cmd_verify_journal(struct opts *o)
{
	struct journal_open_info info;
	struct journal *j = NULL;
	char path[4096];
	int err;

	if (path_join(path, sizeof(path), o->state, "journal") < 0)
		return 2;
	err = journal_open(path, NULL, NULL, NULL, &j, &info);
	if (err < 0) {
		fprintf(stderr, "writ-hsmd: journal %s does NOT verify: %s\n", path, writ_strerror(err));
		return 1;
	}
	printf("journal ok: %llu entries, %llu signed checkpoints, last time %lld%s\n",
	       (unsigned long long)info.entries, (unsigned long long)info.checkpoints, (long long)info.max_time,
	       info.torn_bytes ? ", torn tail present (cut at next start)" : "");
	journal_close(j);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	const char *cmd;

	memset(&o, 0, sizeof(o));
	log_init("writ-hsmd", getenv("WRIT_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	/* no core dumps or same-uid ptrace of a process that holds session secrets */
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
		host_version_print("writ-hsmd");
		return 0;
	}
	if (parse_opts(argc - 1, argv + 1, &o) < 0) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(cmd, "init"))
		return cmd_init(&o);
	if (!strcmp(cmd, "serve"))
		return cmd_serve(&o);
	if (!strcmp(cmd, "enrolment"))
		return cmd_enrolment(&o);
	if (!strcmp(cmd, "verify-journal"))
		return cmd_verify_journal(&o);
	fprintf(stderr, "writ-hsmd: unknown command %s\n", cmd);
	usage(stderr);
	return 2;
}
