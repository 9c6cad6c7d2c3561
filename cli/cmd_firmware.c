/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `writ firmware`: secure-boot signatures of firmware images (docs/device-protocol.md,
 * "Firmware image signature"). `sign` uses the authority token's secure-boot key, which
 * never leaves the token; `verify` needs only the public key (65 bytes, the key whose
 * SHA-256 a chip's OTP holds) and reads the image in chunks, as a chip does.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmds.h"
#include "crypto/fwsig.h"
#include "host/file.h"
#include "p11/p11.h"

struct fopts {
	const char *dir, *pin_file, *in, *out, *pub, *sig;
	long long version;
};

static void usage(FILE *f)
{
	fprintf(f, "usage:\n"
		   "  writ firmware sign   --authority DIR --version V --in IMAGE --out SIG [--pin-file F]\n"
		   "  writ firmware verify --pub HEX|FILE --version V --in IMAGE --sig SIG\n"
		   "  writ firmware upload --product ID --image F --fw-version N (--signature HEX128 |\n"
		   "         --signature-file F | --sign-in-portal)     (writ-cloud; see writ firmware upload --help)\n"
		   "  writ firmware list --product ID                  (writ-cloud)\n"
		   "V is 0..4294967295; IMAGE is 1 byte..4 MiB; SIG is r||s, 64 bytes (raw, or 128 hex digits).\n"
		   "verify exits 0 if the signature is good, 1 if not, 2 on a usage or I/O error.\n");
}

static int parse(int argc, char **argv, struct fopts *o)
{
	static const struct option lo[] = { { "authority", 1, 0, 'a' }, { "version", 1, 0, 'v' }, { "in", 1, 0, 'i' },
					    { "out", 1, 0, 'o' },	{ "pub", 1, 0, 'p' },	  { "sig", 1, 0, 's' },
					    { "pin-file", 1, 0, 'P' },	{ "help", 0, 0, 'h' },	  { 0, 0, 0, 0 } };
	char *end;
	int c;

	o->version = -1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'a': o->dir = optarg; break;
		case 'i': o->in = optarg; break;
		case 'o': o->out = optarg; break;
		case 'p': o->pub = optarg; break;
		case 's': o->sig = optarg; break;
		case 'P': o->pin_file = optarg; break;
		case 'v':
			errno = 0;
			o->version = strtoll(optarg, &end, 10);
			if (errno || *end || end == optarg || o->version < 0 || o->version > 0xffffffffLL) {
				fprintf(stderr, "writ firmware: --version is 0..4294967295\n");
				return -1;
			}
			break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (o->version < 0 || !o->in) {
		fprintf(stderr, "writ firmware: --version and --in are required\n");
		return -1;
	}
	return 0;
}

/* Exactly n bytes (arg_bytes: hex, or a file raw or hex), or a message naming what. */
static int fixed_arg(const char *what, const char *arg, uint8_t *out, size_t n)
{
	size_t len = 0;

	if (arg_bytes(arg, n, n, out, &len) == 0)
		return 0;
	fprintf(stderr, "writ firmware: %s must be %zu bytes (raw file, or %zu hex digits)\n", what, n, 2 * n);
	return -1;
}

static int do_sign(const struct fopts *o)
{
	struct p11_ctx *p11 = NULL;
	struct writ_signer sb;
	uint8_t *img = NULL, sig[WRIT_P256_SIG_LEN];
	size_t len = 0;
	int err;

	if (!o->dir || !o->out) {
		fprintf(stderr, "writ firmware sign: --authority DIR and --out SIG are required\n");
		return 2;
	}
	err = file_read(o->in, FWSIG_IMAGE_MAX, &img, &len);
	if (err < 0 || len == 0) {
		fprintf(stderr, "writ firmware sign: cannot read %s (1 byte to 4 MiB)\n", o->in);
		free(img);
		return 2;
	}
	if (authority_open_signer(o->dir, o->pin_file, "secure-boot", &p11, &sb) < 0) {
		free(img);
		return 1;
	}
	err = fwsig_sign(&sb, (uint32_t)o->version, img, len, sig);
	p11_close(p11);
	free(img);
	if (err < 0) {
		fprintf(stderr, "writ firmware sign: signing failed: %s\n", writ_strerror(err));
		return 1;
	}
	if (file_write_atomic(o->out, sig, sizeof(sig), 0644) < 0) {
		fprintf(stderr, "writ firmware sign: cannot write %s\n", o->out);
		return 2;
	}
	printf("signed %s (version %lld, %zu bytes) with the secure-boot key: %s\n", o->in, o->version, len, o->out);
	return 0;
}

static int do_verify(const struct fopts *o)
{
	uint8_t pub[WRIT_P256_PUB_LEN], sig[WRIT_P256_SIG_LEN], chunk[4096];
	struct fwsig_stream *st = NULL;
	FILE *f = NULL;
	long size;
	size_t n;
	int err;

	if (!o->pub || !o->sig) {
		fprintf(stderr, "writ firmware verify: --pub and --sig are required\n");
		return 2;
	}
	if (fixed_arg("--pub", o->pub, pub, sizeof(pub)) < 0 || fixed_arg("--sig", o->sig, sig, sizeof(sig)) < 0)
		return 2;
	f = fopen(o->in, "rb");
	if (!f || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "writ firmware verify: cannot read %s\n", o->in);
		if (f)
			fclose(f);
		return 2;
	}
	if (size == 0 || (unsigned long)size > FWSIG_IMAGE_MAX) {
		fprintf(stderr, "writ firmware verify: %s is %ld bytes; an image is 1 byte to 4 MiB\n", o->in, size);
		fclose(f);
		return 1;
	}
	if (fwsig_stream_init((uint32_t)o->version, (uint32_t)size, &st) < 0) {
		fclose(f);
		return 2;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (fwsig_stream_update(st, chunk, n) < 0) {
			fwsig_stream_free(st);
			fclose(f);
			fprintf(stderr, "writ firmware verify: %s changed while it was read\n", o->in);
			return 2;
		}
	}
	fclose(f);
	err = fwsig_stream_final(st, pub, sig);
	if (err == WRIT_E_FORMAT) {
		fprintf(stderr, "writ firmware verify: --pub is not a P-256 public key\n");
		return 2;
	}
	if (err < 0) {
		fprintf(stderr, "writ firmware verify: BAD signature for %s version %lld (%s)\n", o->in, o->version,
			writ_strerror(err));
		return 1;
	}
	printf("signature OK: %s version %lld, %ld bytes\n", o->in, o->version, size);
	return 0;
}

int cmd_firmware(int argc, char **argv)
{
	struct fopts o;
	const char *sub;

	memset(&o, 0, sizeof(o));
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	sub = argv[1];
	if (!strcmp(sub, "upload") || !strcmp(sub, "list"))
		return cmd_cloud(argc, argv);
	if (parse(argc - 1, argv + 1, &o) < 0) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(sub, "sign"))
		return do_sign(&o);
	if (!strcmp(sub, "verify"))
		return do_verify(&o);
	fprintf(stderr, "writ firmware: unknown subcommand \"%s\"\n", sub);
	usage(stderr);
	return 2;
}
