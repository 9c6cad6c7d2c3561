/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `writ matter ...`: Matter attestation helpers for operators. `check-chain` validates a
 * PAA -> PAI -> DAC chain (PEM or DER files) against the Matter profiles and chain rules
 * in lib/crypto/matter_cert.c: it prints "ok" and exits 0 when the chain is valid,
 * prints the reason to stderr and exits 1 when it is not, and exits 2 when it cannot
 * run (bad usage, unreadable file).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cmds.h"
#include "crypto/matter_cert.h"

/* No certificate file writ reads is larger than this (PEM of X509_CERT_MAX DER bytes,
 * with room for comments); refuse bigger ones before reading them. */
#define CERT_FILE_MAX (16 * 1024)

enum { EXIT_VALID = 0, EXIT_INVALID = 1, EXIT_USAGE = 2 };

static void matter_usage(FILE *f)
{
	fprintf(f, "usage: writ matter check-chain --paa FILE --pai FILE --dac FILE [--at UNIXTIME]\n"
		   "\n"
		   "  Check a Matter attestation chain (PEM or DER files) against the PAA/PAI/DAC\n"
		   "  profiles and chain rules. Prints \"ok\" and exits 0 if valid; prints the\n"
		   "  reason on stderr and exits 1 if not; exits 2 on usage or I/O errors.\n"
		   "  --at UNIXTIME  check validity at this time (default: now; 0 skips time checks)\n");
}

/* Read a whole regular file of at most max bytes into malloc'd memory. Returns 0 or
 * -errno (-EFBIG when too large); on failure nothing is allocated. */
static int read_small_file(const char *path, size_t max, uint8_t **ret_buf, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	struct stat st;
	size_t n;
	int err;

	if (!f)
		return -errno;
	if (fstat(fileno(f), &st) < 0) {
		err = -errno;
		goto fail;
	}
	err = -EINVAL;
	if (!S_ISREG(st.st_mode))
		goto fail;
	err = -EFBIG;
	if (st.st_size < 0 || (uint64_t)st.st_size > max)
		goto fail;
	err = -ENOMEM;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		goto fail;
	n = fread(buf, 1, (size_t)st.st_size + 1, f);
	err = -EIO;
	if (ferror(f) || n != (size_t)st.st_size)
		goto fail; /* also catches a file that grew while we read it */
	fclose(f);
	*ret_buf = buf;
	*ret_len = n;
	return 0;
fail:
	free(buf);
	fclose(f);
	return err;
}

static int load_cert_file(const char *opt, const char *path, uint8_t **ret_buf, size_t *ret_len)
{
	int err = read_small_file(path, CERT_FILE_MAX, ret_buf, ret_len);

	if (err == -EFBIG)
		fprintf(stderr, "writ matter check-chain: %s %s: larger than %d bytes; pass a single certificate\n",
			opt, path, CERT_FILE_MAX);
	else if (err == -EINVAL)
		fprintf(stderr, "writ matter check-chain: %s %s: not a regular file\n", opt, path);
	else if (err < 0)
		fprintf(stderr, "writ matter check-chain: %s %s: %s; check the path\n", opt, path, strerror(-err));
	if (err == 0 && *ret_len == 0) {
		fprintf(stderr, "writ matter check-chain: %s %s: file is empty; pass a PEM or DER certificate\n", opt,
			path);
		free(*ret_buf);
		*ret_buf = NULL;
		err = -ENODATA;
	}
	return err;
}

/* A Unix time: decimal digits only, no sign, fits in time_t. */
static int parse_unix_time(const char *s, time_t *ret)
{
	unsigned long long v;
	char *end = NULL;

	if (!s || s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || !end || *end != '\0' || v > (unsigned long long)INT64_MAX ||
	    (unsigned long long)(time_t)v != v)
		return -1;
	*ret = (time_t)v;
	return 0;
}

static int cmd_check_chain(int argc, char **argv)
{
	const char *paa = NULL, *pai = NULL, *dac = NULL, *at = NULL;
	uint8_t *paa_buf = NULL, *pai_buf = NULL, *dac_buf = NULL;
	size_t paa_len = 0, pai_len = 0, dac_len = 0;
	char reason[256];
	time_t now;
	int i, ret = EXIT_USAGE, err;

	for (i = 1; i < argc; i++) {
		const char **slot = NULL;

		if (strcmp(argv[i], "--paa") == 0)
			slot = &paa;
		else if (strcmp(argv[i], "--pai") == 0)
			slot = &pai;
		else if (strcmp(argv[i], "--dac") == 0)
			slot = &dac;
		else if (strcmp(argv[i], "--at") == 0)
			slot = &at;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			matter_usage(stdout);
			return EXIT_VALID;
		} else {
			fprintf(stderr, "writ matter check-chain: unknown argument '%s'\n", argv[i]);
			matter_usage(stderr);
			return EXIT_USAGE;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "writ matter check-chain: %s needs a value\n", argv[i]);
			matter_usage(stderr);
			return EXIT_USAGE;
		}
		if (*slot) {
			fprintf(stderr, "writ matter check-chain: %s given twice\n", argv[i]);
			return EXIT_USAGE;
		}
		*slot = argv[++i];
	}
	if (!paa || !pai || !dac) {
		fprintf(stderr, "writ matter check-chain: --paa, --pai and --dac are all required\n");
		matter_usage(stderr);
		return EXIT_USAGE;
	}
	if (at) {
		if (parse_unix_time(at, &now) < 0) {
			fprintf(stderr, "writ matter check-chain: --at wants seconds since 1970 (e.g. %lld), got '%s'\n",
				(long long)time(NULL), at);
			return EXIT_USAGE;
		}
	} else {
		now = time(NULL);
	}

	if (load_cert_file("--paa", paa, &paa_buf, &paa_len) < 0 ||
	    load_cert_file("--pai", pai, &pai_buf, &pai_len) < 0 ||
	    load_cert_file("--dac", dac, &dac_buf, &dac_len) < 0)
		goto out;

	reason[0] = '\0';
	err = matter_check_chain(paa_buf, paa_len, pai_buf, pai_len, dac_buf, dac_len, now, reason, sizeof(reason));
	switch (err) {
	case 0:
		printf("ok\n");
		ret = EXIT_VALID;
		break;
	case WRIT_E_PROFILE:
	case WRIT_E_BADSIG:
	case WRIT_E_EXPIRED:
	case WRIT_E_FORMAT:
	case WRIT_E_TOOBIG:
		fprintf(stderr, "invalid: %s\n", reason[0] ? reason : writ_strerror(err));
		ret = EXIT_INVALID;
		break;
	default:
		fprintf(stderr, "writ matter check-chain: internal error: %s%s%s\n", writ_strerror(err),
			reason[0] ? ": " : "", reason);
		ret = EXIT_USAGE;
		break;
	}
out:
	free(paa_buf);
	free(pai_buf);
	free(dac_buf);
	return ret;
}

int cmd_matter(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		matter_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_VALID;
	}
	if (strcmp(argv[1], "check-chain") == 0)
		return cmd_check_chain(argc - 1, argv + 1);
	fprintf(stderr, "writ matter: unknown subcommand '%s'\n", argv[1]);
	matter_usage(stderr);
	return EXIT_USAGE;
}
