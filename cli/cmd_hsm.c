/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `writ hsm`: a command-line client of writ-hsmd's socket API, for operators and
 * scripts: load a writ, issue a DAC from a CSR, show status, read the journal, have
 * the HSM sign its journal up to now.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cmds.h"
#include "crypto/ec.h"
#include "crypto/x509.h"
#include "host/file.h"
#include "wire/authority.h"
#include "wire/cbu.h"
#include "wire/hsmclient.h"
#include "wire/hsmproto.h"
#include "wire/jentry.h"
#include "wire/writ.h"

struct hopts {
	const char *socket, *writ_id, *csr, *uid, *out, *pai_out, *dac, *enc_pub, *binding, *label;
	const char *challenge, *perms, *op, *chain_out;
	unsigned long long since, max, session;
};

static void usage(FILE *f)
{
	fprintf(f, "usage:\n"
		   "  writ hsm load   --socket S WRIT.cose\n"
		   "  writ hsm issue  --socket S --writ ID --csr CSR.der --uid HEX --out DAC.der [--pai-out PAI.der]\n"
		   "  writ hsm status --socket S\n"
		   "  writ hsm journal --socket S [--since N] [--max N]\n"
		   "  writ hsm checkpoint --socket S\n"
		   "  writ hsm enrolment --socket S --out FILE\n"
		   "  writ hsm wrap   --socket S --writ ID --uid HEX32 --dac DAC.der --enc-pub HEX|FILE\n"
		   "                  --binding HEX|FILE --label L [--out FILE]\n"
		   "  writ hsm debug-token --socket S --writ ID --uid HEX32 --challenge HEX64 --perms LIST\n"
		   "                  [--session SECONDS] [--op debug|reflash|reprovision] --out TOKEN\n"
		   "                  --chain-out CHAIN\n"
		   "wrap prints WRAPPED in hex unless --out is given (then raw bytes).\n"
		   "debug-token has the HSM's debug delegate sign an unlock token for one chip and its\n"
		   "current challenge (from `writ chip debug challenge`) under the writ's rework rights;\n"
		   "--perms is a list of debug, reflash, reprovision or bit numbers; the session defaults\n"
		   "to 600 s and --op to debug (what the record says). TOKEN gets the 156-byte token,\n"
		   "CHAIN the delegate's certificate chain, both raw, for `writ chip debug unlock`.\n"
		   "checkpoint has the HSM sign its journal up to now (nothing is written if nothing\n"
		   "changed) and prints \"checkpoint SEQ next N\".\n");
}

static int parse_u64(const char *s, unsigned long long max, unsigned long long *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || end == s || *s == '-' || v > max) {
		fprintf(stderr, "writ hsm: \"%s\" is not a number in 0..%llu\n", s, max);
		return -1;
	}
	*ret = v;
	return 0;
}

static int parse(int argc, char **argv, struct hopts *o)
{
	static const struct option lo[] = { { "socket", 1, 0, 's' }, { "writ", 1, 0, 'w' }, { "csr", 1, 0, 'c' },
					    { "uid", 1, 0, 'u' },    { "out", 1, 0, 'o' },  { "pai-out", 1, 0, 'p' },
					    { "since", 1, 0, 'S' },  { "max", 1, 0, 'm' },  { "help", 0, 0, 'h' },
					    { "dac", 1, 0, 'd' },    { "enc-pub", 1, 0, 'e' }, { "binding", 1, 0, 'b' },
					    { "label", 1, 0, 'l' }, { "challenge", 1, 0, 'C' }, { "perms", 1, 0, 'P' },
					    { "session", 1, 0, 'T' }, { "op", 1, 0, 'O' }, { "chain-out", 1, 0, 'X' },
					    { 0, 0, 0, 0 } };
	int c;

	o->max = 100;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's': o->socket = optarg; break;
		case 'w': o->writ_id = optarg; break;
		case 'c': o->csr = optarg; break;
		case 'u': o->uid = optarg; break;
		case 'o': o->out = optarg; break;
		case 'p': o->pai_out = optarg; break;
		case 'd': o->dac = optarg; break;
		case 'e': o->enc_pub = optarg; break;
		case 'b': o->binding = optarg; break;
		case 'l': o->label = optarg; break;
		case 'C': o->challenge = optarg; break;
		case 'P': o->perms = optarg; break;
		case 'O': o->op = optarg; break;
		case 'X': o->chain_out = optarg; break;
		case 'T':
			if (parse_u64(optarg, 86400, &o->session) < 0 || o->session == 0) {
				fprintf(stderr, "writ hsm: --session is 1..86400 seconds\n");
				return -1;
			}
			break;
		case 'S':
		case 'm':
			if (parse_u64(optarg, c == 'S' ? UINT64_MAX : HSMP_JOURNAL_BATCH_MAX,
				      c == 'S' ? &o->since : &o->max) < 0)
				return -1;
			break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (!o->socket) {
		fprintf(stderr, "writ hsm: --socket PATH is required (writ-hsmd's socket, e.g. STATE/hsmd.sock)\n");
		return -1;
	}
	return 0;
}

static int fail_msg(const char *what, int err, const char *reason)
{
	fprintf(stderr, "writ hsm %s: refused: %s%s%s\n", what, writ_strerror(err), reason && reason[0] ? ": " : "",
		reason ? reason : "");
	return 1;
}

static int do_wrap(int fd, const struct hopts *o)
{
	uint8_t id[WRIT_ID_LEN], uid[HSMP_WRAP_UID_LEN], enc_pub[WRIT_P256_PUB_LEN], binding[HSMP_BINDING_MAX];
	uint8_t wrapped[HSMP_WRAPPED_MAX], *dac = NULL;
	char reason[HSMC_REASON_MAX], hex[2 * HSMP_WRAPPED_MAX + 1];
	size_t dac_len = 0, n = 0, binding_len = 0, wlen = 0;
	uint64_t seq = 0;
	int err, rc = 2;

	if (!o->writ_id || !o->uid || !o->dac || !o->enc_pub || !o->binding || !o->label ||
	    hex_decode(o->writ_id, id, sizeof(id)) < 0) {
		fprintf(stderr, "writ hsm wrap: --writ ID (32 hex), --uid, --dac, --enc-pub, --binding and --label "
				"are required\n");
		return 2;
	}
	if (hex_decode(o->uid, uid, sizeof(uid)) < 0) {
		fprintf(stderr, "writ hsm wrap: --uid is the chip's 16-byte UID in hex (32 digits)\n");
		return 2;
	}
	if (strlen(o->label) < 1 || strlen(o->label) > HSMP_LABEL_MAX) {
		fprintf(stderr, "writ hsm wrap: --label is 1..%d characters\n", HSMP_LABEL_MAX);
		return 2;
	}
	if (arg_bytes(o->enc_pub, WRIT_P256_PUB_LEN, WRIT_P256_PUB_LEN, enc_pub, &n) < 0) {
		fprintf(stderr, "writ hsm wrap: --enc-pub must be %d bytes, in hex or in a file\n", WRIT_P256_PUB_LEN);
		return 2;
	}
	if (arg_bytes(o->binding, HSMP_BINDING_MIN, HSMP_BINDING_MAX, binding, &binding_len) < 0) {
		fprintf(stderr, "writ hsm wrap: --binding must be %d..%d bytes, in hex or in a file\n", HSMP_BINDING_MIN,
			HSMP_BINDING_MAX);
		return 2;
	}
	if (file_read(o->dac, X509_CERT_MAX, &dac, &dac_len) < 0 || dac_len == 0 || dac_len > HSMP_DAC_MAX) {
		fprintf(stderr, "writ hsm wrap: cannot read a DAC (DER, at most %d bytes) from %s\n", HSMP_DAC_MAX,
			o->dac);
		free(dac);
		return 2;
	}
	err = hsmc_wrap_secret(fd, id, uid, dac, dac_len, enc_pub, binding, binding_len, o->label, wrapped,
			       sizeof(wrapped), &wlen, &seq, reason);
	free(dac);
	if (err) {
		rc = fail_msg("wrap", err, reason);
		goto out;
	}
	if (o->out) {
		if (file_write_atomic(o->out, wrapped, wlen, 0644) < 0) {
			fprintf(stderr, "writ hsm wrap: cannot write %s\n", o->out);
			rc = 1;
			goto out;
		}
		printf("wrapped %zu bytes, journal seq %llu\n", wlen, (unsigned long long)seq);
	} else {
		hex_encode(wrapped, wlen, hex);
		printf("%s\n", hex);
	}
	rc = 0;
out:
	return rc;
}

static int do_debug_token(int fd, const struct hopts *o)
{
	static const char *const ops[] = { "debug", "reflash", "reprovision" };
	uint8_t id[WRIT_ID_LEN], uid[HSMP_WRAP_UID_LEN], chal[HSMP_DBG_CHALLENGE_LEN], perms[HSMP_DBG_PERMS_LEN];
	char reason[HSMC_REASON_MAX] = "";
	struct hsmc_debug d;
	uint32_t op = 0, i;
	int err;

	if (!o->writ_id || !o->uid || !o->challenge || !o->perms || !o->out || !o->chain_out) {
		fprintf(stderr, "writ hsm debug-token: --writ, --uid, --challenge, --perms, --out and --chain-out "
				"are required\n");
		return 2;
	}
	if (strlen(o->writ_id) != 2 * WRIT_ID_LEN || hex_decode(o->writ_id, id, sizeof(id)) < 0 ||
	    strlen(o->uid) != 2 * sizeof(uid) || hex_decode(o->uid, uid, sizeof(uid)) < 0 ||
	    strlen(o->challenge) != 2 * sizeof(chal) || hex_decode(o->challenge, chal, sizeof(chal)) < 0) {
		fprintf(stderr, "writ hsm debug-token: --writ is 32 hex digits, --uid 32, --challenge 64\n");
		return 2;
	}
	if (authority_parse_perms(o->perms, perms) < 0) {
		fprintf(stderr, "writ hsm debug-token: --perms takes debug, reflash, reprovision or bit numbers "
				"0..127, comma-separated\n");
		return 2;
	}
	for (i = 0; i < 3; i++)
		if (!strcmp(o->op ? o->op : "debug", ops[i]))
			op = i + 1;
	if (!op) {
		fprintf(stderr, "writ hsm debug-token: --op is debug, reflash or reprovision\n");
		return 2;
	}
	err = hsmc_debug_token(fd, id, uid, chal, perms, o->session ? (uint32_t)o->session : 600, op, &d, reason);
	if (err)
		return fail_msg("debug-token", err, reason);
	if (file_write_atomic(o->out, d.token, sizeof(d.token), 0644) < 0 ||
	    file_write_atomic(o->chain_out, d.chain, d.n_chain * HSMP_DBG_CERT_LEN, 0644) < 0) {
		fprintf(stderr, "writ hsm debug-token: cannot write %s or %s\n", o->out, o->chain_out);
		return 1;
	}
	printf("seq %llu not-after %lld chain %zu\n", (unsigned long long)d.seq, (long long)d.not_after, d.n_chain);
	return 0;
}

static int do_status(int fd)
{
	cbor_item_t *req = cbu_new_map(1), *resp = NULL, *arr;
	char reason[HSMC_REASON_MAX], hex[2 * WRIT_ID_LEN + 1], factory[WRIT_NAME_MAX + 1] = "";
	uint64_t seq = 0;
	size_t i;
	int err;

	if (!req || cbu_put_uint(req, HSMP_RQ_OP, HSMP_OP_STATUS) < 0)
		return 1;
	err = hsmc_call(fd, req, &resp, reason);
	cbor_decref(&req);
	if (err) {
		if (resp)
			cbor_decref(&resp);
		return fail_msg("status", err, reason);
	}
	(void)!cbu_get_uint(resp, HSMP_RS_SEQ, UINT64_MAX, &seq);
	(void)!cbu_get_text(resp, HSMP_RS_FACTORY, factory, sizeof(factory));
	printf("factory %s, journal entries %llu\n", factory, (unsigned long long)seq);
	arr = cbu_get(resp, HSMP_RS_WRITS);
	for (i = 0; arr && cbor_isa_array(arr) && i < cbor_array_size(arr); i++) {
		cbor_item_t *w = cbor_array_handle(arr)[i];
		uint8_t id[WRIT_ID_LEN];
		char product[WRIT_NAME_MAX + 1] = "";
		uint64_t q = 0, iss = 0, rem = 0, rev = 0, reiss = 0, rlim = 0, rused = 0;
		int64_t rna = 0;
		char rw[96] = "";
		uint8_t vd[WRIT_DIGEST_LEN] = { 0 }, fwd[WRIT_DIGEST_LEN] = { 0 };
		char vdh[2 * WRIT_DIGEST_LEN + 1], fdh[2 * WRIT_DIGEST_LEN + 1];
		int64_t nb = 0, na = 0;
		if (cbu_get_fixed(w, HSMP_W_ID, id, sizeof(id)) < 0)
			continue;
		(void)!cbu_get_text(w, HSMP_W_PRODUCT, product, sizeof(product));
		(void)!cbu_get_uint(w, HSMP_W_QUANTITY, UINT64_MAX, &q);
		(void)!cbu_get_uint(w, HSMP_W_ISSUED, UINT64_MAX, &iss);
		(void)!cbu_get_uint(w, HSMP_W_REMAINING, UINT64_MAX, &rem);
		(void)!cbu_get_uint(w, HSMP_W_REVOKED, 1, &rev);
		(void)!cbu_get_int(w, HSMP_W_NOT_BEFORE, &nb);
		(void)!cbu_get_int(w, HSMP_W_NOT_AFTER, &na);
		(void)!cbu_get_uint(w, HSMP_W_REISSUED, UINT64_MAX, &reiss);
		(void)!cbu_get_fixed(w, HSMP_W_VERSION_DIGEST, vd, sizeof(vd));
		(void)!cbu_get_fixed(w, HSMP_W_FIRMWARE_DIGEST, fwd, sizeof(fwd));
		if (cbu_get_uint(w, HSMP_W_REWORK_LIMIT, UINT64_MAX, &rlim) == 0 &&
		    cbu_get_uint(w, HSMP_W_REWORK_USED, UINT64_MAX, &rused) == 0 &&
		    cbu_get_int(w, HSMP_W_REWORK_NOT_AFTER, &rna) == 0)
			(void)!snprintf(rw, sizeof(rw), " rework %llu/%llu until %lld", (unsigned long long)rused,
					(unsigned long long)rlim, (long long)rna);
		hex_encode(id, sizeof(id), hex);
		hex_encode(vd, sizeof(vd), vdh);
		hex_encode(fwd, sizeof(fwd), fdh);
		/* re-issues, version and firmware digests go last: scripts match the front */
		printf("writ %s product %s quantity %llu issued %llu remaining %llu window %lld..%lld reissued %llu "
		       "version %s firmware %s%s%s\n", hex, product, (unsigned long long)q, (unsigned long long)iss,
		       (unsigned long long)rem, (long long)nb, (long long)na, (unsigned long long)reiss, vdh, fdh, rw,
		       rev ? " REVOKED" : "");
	}
	cbor_decref(&resp);
	return 0;
}

static int do_journal(int fd, const struct hopts *o)
{
	cbor_item_t *req = cbu_new_map(3), *resp = NULL, *arr;
	char reason[HSMC_REASON_MAX];
	size_t i;
	int err;

	if (!req || cbu_put_uint(req, HSMP_RQ_OP, HSMP_OP_JOURNAL) < 0 || cbu_put_uint(req, HSMP_RQ_SINCE, o->since) < 0 ||
	    cbu_put_uint(req, HSMP_RQ_MAX, o->max) < 0)
		return 1;
	err = hsmc_call(fd, req, &resp, reason);
	cbor_decref(&req);
	if (err) {
		if (resp)
			cbor_decref(&resp);
		return fail_msg("journal", err, reason);
	}
	arr = cbu_get(resp, HSMP_RS_ENTRIES);
	for (i = 0; arr && cbor_isa_array(arr) && i < cbor_array_size(arr); i++) {
		cbor_item_t *b = cbor_array_handle(arr)[i];
		struct jentry e;
		uint8_t h[32];
		char hex[65];
		/* as writ-hsmd reads its own file: older entries have longer integer heads */
		if (!cbor_isa_bytestring(b) ||
		    jentry_decode(cbor_bytestring_handle(b), cbor_bytestring_length(b), JENTRY_LEGACY, &e) < 0)
			continue;
		if (ec_sha256(cbor_bytestring_handle(b), cbor_bytestring_length(b), h) == 0) {
			hex_encode(h, 8, hex);
			printf("%llu type=%u time=%lld hash=%s…\n", (unsigned long long)e.seq, e.type, (long long)e.time,
			       hex);
		}
	}
	cbor_decref(&resp);
	return 0;
}

int cmd_hsm(int argc, char **argv)
{
	struct hopts o;
	const char *sub;
	char reason[HSMC_REASON_MAX];
	uint8_t *buf = NULL, id[WRIT_ID_LEN], uid[32];
	size_t len = 0, uid_len;
	int fd = -1, err, rc = 1;

	memset(&o, 0, sizeof(o));
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	sub = argv[1];
	if (parse(argc - 1, argv + 1, &o) < 0)
		return 2;
	if (hsmc_connect(o.socket, &fd) < 0) {
		fprintf(stderr, "writ hsm: cannot connect to %s: is writ-hsmd serve running?\n", o.socket);
		return 1;
	}
	if (!strcmp(sub, "load")) {
		char hex[2 * WRIT_ID_LEN + 1];
		if (optind >= argc - 1) {
			fprintf(stderr, "writ hsm load: give the writ file\n");
			goto out;
		}
		if (file_read(argv[optind + 1], WRIT_MAX_SEALED, &buf, &len) < 0) {
			fprintf(stderr, "writ hsm load: cannot read %s (at most %d bytes)\n", argv[optind + 1],
				WRIT_MAX_SEALED);
			goto out;
		}
		err = hsmc_load_writ(fd, buf, len, id, reason);
		if (err) {
			rc = fail_msg("load", err, reason);
			goto out;
		}
		hex_encode(id, sizeof(id), hex);
		printf("%s\n", hex);
		rc = 0;
	} else if (!strcmp(sub, "issue")) {
		struct hsmc_dac d;
		if (!o.writ_id || !o.csr || !o.uid || !o.out || hex_decode(o.writ_id, id, sizeof(id)) < 0) {
			fprintf(stderr, "writ hsm issue: --writ ID (32 hex), --csr, --uid and --out are required\n");
			goto out;
		}
		uid_len = strlen(o.uid) / 2;
		if (uid_len == 0 || uid_len > sizeof(uid) || hex_decode(o.uid, uid, uid_len) < 0) {
			fprintf(stderr, "writ hsm issue: --uid is 1..32 bytes in hex\n");
			goto out;
		}
		if (file_read(o.csr, 8192, &buf, &len) < 0) {
			fprintf(stderr, "writ hsm issue: cannot read %s\n", o.csr);
			goto out;
		}
		err = hsmc_issue_dac(fd, id, buf, len, uid, uid_len, &d, reason);
		if (err) {
			rc = fail_msg("issue", err, reason);
			goto out;
		}
		/* the HSM does not re-verify its own DAC signatures; the receiver does, before
		 * a certificate goes anywhere near a device */
		{
			uint8_t pai_pub[WRIT_P256_PUB_LEN];
			if (x509_cert_pub(d.pai, d.pai_len, pai_pub) < 0 ||
			    x509_verify_signed(d.dac, d.dac_len, pai_pub) < 0) {
				fprintf(stderr, "writ hsm issue: the DAC returned does not verify under its PAI: "
						"not written; do not program this device, report the HSM\n");
				hsmc_dac_free(&d);
				goto out;
			}
		}
		if (file_write_atomic(o.out, d.dac, d.dac_len, 0644) < 0 ||
		    (o.pai_out && file_write_atomic(o.pai_out, d.pai, d.pai_len, 0644) < 0)) {
			fprintf(stderr, "writ hsm issue: cannot write the certificate\n");
			hsmc_dac_free(&d);
			goto out;
		}
		printf("serial %llu seq %llu%s\n", (unsigned long long)d.device_serial, (unsigned long long)d.seq,
		       d.reissued ? " reissued" : "");
		hsmc_dac_free(&d);
		rc = 0;
	} else if (!strcmp(sub, "wrap")) {
		rc = do_wrap(fd, &o);
	} else if (!strcmp(sub, "debug-token")) {
		rc = do_debug_token(fd, &o);
	} else if (!strcmp(sub, "status")) {
		rc = do_status(fd);
	} else if (!strcmp(sub, "journal")) {
		rc = do_journal(fd, &o);
	} else if (!strcmp(sub, "checkpoint")) {
		uint64_t next = 0, cp = 0;
		err = hsmc_checkpoint(fd, &next, &cp, reason);
		if (err) {
			rc = fail_msg("checkpoint", err, reason);
			goto out;
		}
		printf("checkpoint %llu next %llu\n", (unsigned long long)cp, (unsigned long long)next);
		rc = 0;
	} else if (!strcmp(sub, "enrolment")) {
		cbor_item_t *req = cbu_new_map(1), *resp = NULL;
		const uint8_t *b;
		if (!o.out || !req || cbu_put_uint(req, HSMP_RQ_OP, HSMP_OP_ENROLMENT) < 0) {
			fprintf(stderr, "writ hsm enrolment: --out FILE is required\n");
			if (req)
				cbor_decref(&req);
			goto out;
		}
		err = hsmc_call(fd, req, &resp, reason);
		cbor_decref(&req);
		if (!err && (cbu_get_bytes(resp, HSMP_RS_ENROLMENT, 1, 65536, &b, &len) < 0 ||
			     file_write_atomic(o.out, b, len, 0644) < 0))
			err = WRIT_E_IO;
		if (resp)
			cbor_decref(&resp);
		rc = err ? fail_msg("enrolment", err, reason) : 0;
	} else {
		fprintf(stderr, "writ hsm: unknown subcommand \"%s\"\n", sub);
		usage(stderr);
		rc = 2;
	}
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}
