/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `writ matter ...`: Matter helpers for operators. `check-chain` validates a
 * PAA -> PAI -> DAC chain (PEM or DER files) against the Matter profiles and chain rules
 * in lib/crypto/matter_cert.c: it prints "ok" and exits 0 when the chain is valid,
 * prints the reason to stderr and exits 1 when it is not, and exits 2 when it cannot
 * run (bad usage, unreadable file). The per-device data commands (payload, spake2p,
 * passcode, discriminator, label, factory-data) are thin shells over lib/matter; they
 * exit 1 with the reason on stderr when a value is invalid and 2 on usage errors. See
 * docs/matter-data.md.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <fcntl.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "base/ct.h"
#include "cmds.h"
#include "crypto/matter_cert.h"
#include "crypto/x509.h"
#include "matter/factory.h"
#include "matter/label.h"
#include "matter/payload.h"
#include "matter/spake2p.h"

/* No certificate file writ reads is larger than this (PEM of X509_CERT_MAX DER bytes,
 * with room for comments); refuse bigger ones before reading them. */
#define CERT_FILE_MAX (16 * 1024)

enum { EXIT_VALID = 0, EXIT_INVALID = 1, EXIT_USAGE = 2 };

static void matter_usage(FILE *f)
{
	fprintf(f, "usage: writ matter <subcommand> ...\n"
		   "\n"
		   "  check-chain --paa FILE --pai FILE --dac FILE [--at UNIXTIME]\n"
		   "      Check a Matter attestation chain (PEM or DER files) against the PAA/PAI/DAC\n"
		   "      profiles and chain rules. Prints \"ok\" and exits 0 if valid; prints the\n"
		   "      reason on stderr and exits 1 if not; exits 2 on usage or I/O errors.\n"
		   "      --at UNIXTIME  check validity at this time (default: now; 0 skips time checks)\n"
		   "  payload --vid V --pid P --discriminator D --passcode N [--flow F] [--caps C] [--json]\n"
		   "      QR string and manual pairing code (flow 0 standard, 1 user intent, 2 custom;\n"
		   "      default 0; caps SoftAP 1, BLE 2, OnNetwork 4, WiFiPAF 8; default 4).\n"
		   "  spake2p --passcode N [--salt BASE64] --iterations I [--json]\n"
		   "      SPAKE2+ verifier (w0 || L, base64); a random 32-byte salt when none is given.\n"
		   "  passcode [--json]                 a random valid setup passcode\n"
		   "  discriminator [--range LO-HI] [--json]   a random 12-bit discriminator\n"
		   "  label --qr MT:... --manual CODE --serial S --out FILE.png|FILE.svg\n"
		   "  factory-data --format esp-csv|esp-nvs|nrf-cbor|wfd --in SETTINGS --dac FILE\n"
		   "               --pai FILE [--cd FILE] [--size BYTES] --out FILE\n"
		   "      Factory data for one device from a key=value settings file (docs/matter-data.md).\n"
		   "Numbers are decimal or 0x hex. Invalid values exit 1 with the reason on stderr;\n"
		   "usage errors exit 2.\n");
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

/* ---- per-device Matter data ---- */

struct opt {
	const char *name;
	const char **val; /* NULL for a flag */
	int *flag;
};

/* Parse "--name value" and "--flag" options. Returns 0, or EXIT_USAGE after printing
 * the reason. */
static int parse_opts(const char *cmd, int argc, char **argv, struct opt *opts)
{
	int i;

	for (i = 1; i < argc; i++) {
		struct opt *o;

		for (o = opts; o->name; o++)
			if (strcmp(argv[i], o->name) == 0)
				break;
		if (!o->name) {
			fprintf(stderr, "writ matter %s: unknown argument '%s'\n", cmd, argv[i]);
			matter_usage(stderr);
			return EXIT_USAGE;
		}
		if (o->flag) {
			*o->flag = 1;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "writ matter %s: %s needs a value\n", cmd, argv[i]);
			return EXIT_USAGE;
		}
		if (*o->val) {
			fprintf(stderr, "writ matter %s: %s given twice\n", cmd, argv[i]);
			return EXIT_USAGE;
		}
		*o->val = argv[++i];
	}
	return 0;
}

/* Decimal, or hex with 0x, no sign, no spaces, at most max. */
static int parse_num(const char *s, uint32_t max, uint32_t *ret)
{
	unsigned long long v;
	char *end = NULL;
	int base = 10;

	if (!s || !s[0])
		return -1;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!((s[0] >= '0' && s[0] <= '9') || (base == 16 && ((s[0] >= 'a' && s[0] <= 'f') ||
							     (s[0] >= 'A' && s[0] <= 'F')))))
		return -1;
	if (strlen(s) > 20)
		return -1;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || !end || *end || v > max)
		return -1;
	*ret = (uint32_t)v;
	return 0;
}

static int num_opt(const char *cmd, const char *name, const char *val, uint32_t max, uint32_t *ret)
{
	if (parse_num(val, max, ret) < 0) {
		fprintf(stderr, "writ matter %s: %s '%s' is not a number in 0..%u (decimal or 0x hex)\n", cmd, name,
			val, max);
		return EXIT_INVALID;
	}
	return 0;
}

static int passcode_opt(const char *cmd, const char *val, uint32_t *ret)
{
	uint32_t v;
	size_t i, n = strnlen(val, 16);

	for (i = 0; i < n; i++)
		if (val[i] < '0' || val[i] > '9')
			break;
	if (n == 0 || n > 8 || i != n || parse_num(val, 99999999u, &v) < 0) {
		fprintf(stderr, "writ matter %s: --passcode must be 1..8 decimal digits\n", cmd);
		return EXIT_INVALID;
	}
	if (!matter_passcode_valid(v)) {
		fprintf(stderr,
			"writ matter %s: passcode %08u is not allowed (0, 11111111..99999999 repeats, 12345678, "
			"87654321 and values above 99999998 are forbidden)\n",
			cmd, v);
		return EXIT_INVALID;
	}
	*ret = v;
	return 0;
}

static int cmd_payload(int argc, char **argv)
{
	const char *vid = NULL, *pid = NULL, *disc = NULL, *pc = NULL, *flow = NULL, *caps = NULL;
	int json = 0, r;
	struct opt opts[] = { { "--vid", &vid, NULL },	 { "--pid", &pid, NULL },	  { "--discriminator", &disc, NULL },
			      { "--passcode", &pc, NULL }, { "--flow", &flow, NULL },	  { "--caps", &caps, NULL },
			      { "--json", NULL, &json },   { NULL, NULL, NULL } };
	struct matter_payload p = { 0, 0, 0, 4, 0, 0 };
	char qr[MATTER_QR_BUFSZ], manual[MATTER_MANUAL_BUFSZ], fmt[MATTER_MANUAL_FMT_BUFSZ];
	uint32_t v;

	if ((r = parse_opts("payload", argc, argv, opts)) != 0)
		return r;
	if (!vid || !pid || !disc || !pc) {
		fprintf(stderr, "writ matter payload: --vid, --pid, --discriminator and --passcode are required\n");
		return EXIT_USAGE;
	}
	if ((r = num_opt("payload", "--vid", vid, 0xFFFF, &v)) != 0)
		return r;
	p.vid = (uint16_t)v;
	if ((r = num_opt("payload", "--pid", pid, 0xFFFF, &v)) != 0)
		return r;
	p.pid = (uint16_t)v;
	if ((r = num_opt("payload", "--discriminator", disc, MATTER_DISCRIMINATOR_MAX, &v)) != 0)
		return r;
	p.discriminator = (uint16_t)v;
	if (flow) {
		if ((r = num_opt("payload", "--flow", flow, MATTER_FLOW_MAX, &v)) != 0)
			return r;
		p.flow = (uint8_t)v;
	}
	if (caps) {
		if ((r = num_opt("payload", "--caps", caps, 0xFF, &v)) != 0)
			return r;
		if (v & ~MATTER_CAPS_MASK) {
			fprintf(stderr, "writ matter payload: --caps 0x%x sets reserved bits (known: SoftAP 1, BLE 2, "
					"OnNetwork 4, WiFiPAF 8)\n", v);
			return EXIT_INVALID;
		}
		p.caps = (uint8_t)v;
	}
	if ((r = passcode_opt("payload", pc, &p.passcode)) != 0)
		return r;
	if (matter_qr_encode(&p, qr) < 0 || matter_manual_encode(&p, manual) < 0 ||
	    matter_manual_format(manual, fmt) < 0) {
		fprintf(stderr, "writ matter payload: invalid payload fields\n");
		return EXIT_INVALID;
	}
	if (json)
		printf("{\"qr\": \"%s\", \"manual\": \"%s\"}\n", qr, manual);
	else
		printf("QR code:     %s\nManual code: %s\n", qr, fmt);
	writ_memzero(&p, sizeof(p));
	return EXIT_VALID;
}

static int cmd_spake2p(int argc, char **argv)
{
	const char *pc = NULL, *salt_s = NULL, *it_s = NULL;
	int json = 0, r, n;
	struct opt opts[] = { { "--passcode", &pc, NULL },	{ "--salt", &salt_s, NULL },
			      { "--iterations", &it_s, NULL }, { "--json", NULL, &json },
			      { NULL, NULL, NULL } };
	uint8_t salt[64], ver[MATTER_SPAKE2P_VERIFIER_LEN];
	char salt_b64[64], ver_b64[160];
	uint32_t passcode = 0, it;
	size_t salt_len;

	if ((r = parse_opts("spake2p", argc, argv, opts)) != 0)
		return r;
	if (!pc || !it_s) {
		fprintf(stderr, "writ matter spake2p: --passcode and --iterations are required\n");
		return EXIT_USAGE;
	}
	if ((r = passcode_opt("spake2p", pc, &passcode)) != 0)
		return r;
	if (parse_num(it_s, 0xFFFFFFFFu, &it) < 0 || it < MATTER_SPAKE2P_IT_MIN || it > MATTER_SPAKE2P_IT_MAX) {
		fprintf(stderr, "writ matter spake2p: --iterations must be 1000..100000\n");
		return EXIT_INVALID;
	}
	if (salt_s) {
		n = matter_b64_decode(salt_s, strnlen(salt_s, 1024), salt, sizeof(salt));
		if (n < 0) {
			fprintf(stderr, "writ matter spake2p: --salt is not valid base64\n");
			return EXIT_INVALID;
		}
		if (n < MATTER_SPAKE2P_SALT_MIN || n > MATTER_SPAKE2P_SALT_MAX) {
			fprintf(stderr, "writ matter spake2p: --salt decodes to %d bytes; 16..32 are required\n", n);
			return EXIT_INVALID;
		}
		salt_len = (size_t)n;
	} else {
		salt_len = MATTER_SPAKE2P_SALT_MAX;
		if (RAND_bytes(salt, (int)salt_len) != 1) {
			fprintf(stderr, "writ matter spake2p: the random generator failed\n");
			return EXIT_USAGE;
		}
	}
	r = matter_spake2p_verifier(passcode, salt, salt_len, it, ver);
	passcode = 0;
	if (r < 0) {
		fprintf(stderr, "writ matter spake2p: cannot compute the verifier: %s\n", writ_strerror(r));
		return EXIT_INVALID;
	}
	if (matter_b64_encode(ver, sizeof(ver), ver_b64, sizeof(ver_b64)) < 0 ||
	    matter_b64_encode(salt, salt_len, salt_b64, sizeof(salt_b64)) < 0)
		return EXIT_USAGE;
	if (json && salt_s)
		printf("{\"verifier\": \"%s\"}\n", ver_b64);
	else if (json)
		printf("{\"salt\": \"%s\", \"verifier\": \"%s\"}\n", salt_b64, ver_b64);
	else
		printf("salt:       %s\niterations: %u\nverifier:   %s\n", salt_b64, it, ver_b64);
	writ_memzero(ver, sizeof(ver));
	return EXIT_VALID;
}

static int cmd_passcode(int argc, char **argv)
{
	int json = 0, r;
	struct opt opts[] = { { "--json", NULL, &json }, { NULL, NULL, NULL } };
	uint32_t v;

	if ((r = parse_opts("passcode", argc, argv, opts)) != 0)
		return r;
	if (matter_passcode_generate(&v) < 0) {
		fprintf(stderr, "writ matter passcode: the random generator failed\n");
		return EXIT_USAGE;
	}
	if (json)
		printf("{\"passcode\": %u}\n", v);
	else
		printf("%08u\n", v);
	v = 0;
	return EXIT_VALID;
}

static int cmd_discriminator(int argc, char **argv)
{
	const char *range = NULL;
	int json = 0, r;
	struct opt opts[] = { { "--range", &range, NULL }, { "--json", NULL, &json }, { NULL, NULL, NULL } };
	uint32_t lo = 0, hi = MATTER_DISCRIMINATOR_MAX;
	uint16_t d;

	if ((r = parse_opts("discriminator", argc, argv, opts)) != 0)
		return r;
	if (range) {
		const char *dash = strchr(range, '-');
		char a[16], b[16];
		size_t la;

		if (!dash || (la = (size_t)(dash - range)) == 0 || la >= sizeof(a) ||
		    strlen(dash + 1) >= sizeof(b)) {
			fprintf(stderr, "writ matter discriminator: --range wants LO-HI, e.g. 0-4095\n");
			return EXIT_INVALID;
		}
		memcpy(a, range, la);
		a[la] = '\0';
		memcpy(b, dash + 1, strlen(dash + 1) + 1);
		if (parse_num(a, MATTER_DISCRIMINATOR_MAX, &lo) < 0 || parse_num(b, MATTER_DISCRIMINATOR_MAX, &hi) < 0 ||
		    lo > hi) {
			fprintf(stderr, "writ matter discriminator: --range LO-HI needs 0 <= LO <= HI <= 4095\n");
			return EXIT_INVALID;
		}
	}
	if (matter_discriminator_generate((uint16_t)lo, (uint16_t)hi, &d) < 0) {
		fprintf(stderr, "writ matter discriminator: the random generator failed\n");
		return EXIT_USAGE;
	}
	if (json)
		printf("{\"discriminator\": %u}\n", d);
	else
		printf("%u\n", d);
	return EXIT_VALID;
}

/* Write len bytes to path (created with mode, truncated). 0 or -errno. */
static int write_out(const char *path, const void *buf, size_t len, mode_t mode)
{
	const uint8_t *p = buf;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0)
		return -errno;
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? -errno : -EIO;

			close(fd);
			return e;
		}
		p += n;
		len -= (size_t)n;
	}
	if (close(fd) < 0)
		return -errno;
	return 0;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int cmd_label(int argc, char **argv)
{
	const char *qr = NULL, *manual = NULL, *serial = NULL, *out = NULL;
	struct opt opts[] = { { "--qr", &qr, NULL },	     { "--manual", &manual, NULL }, { "--serial", &serial, NULL },
			      { "--out", &out, NULL },	     { NULL, NULL, NULL } };
	struct matter_payload p;
	char digits[MATTER_MANUAL_BUFSZ];
	uint8_t *buf = NULL;
	size_t len = 0, i, k = 0;
	int r, svg;

	if ((r = parse_opts("label", argc, argv, opts)) != 0)
		return r;
	if (!qr || !manual || !serial || !out) {
		fprintf(stderr, "writ matter label: --qr, --manual, --serial and --out are required\n");
		return EXIT_USAGE;
	}
	svg = ends_with(out, ".svg");
	if (!svg && !ends_with(out, ".png")) {
		fprintf(stderr, "writ matter label: --out must end in .png or .svg\n");
		return EXIT_USAGE;
	}
	if (matter_qr_decode(qr, &p) < 0) {
		fprintf(stderr, "writ matter label: --qr is not a valid Matter QR string (MT: + 19 base38 characters)\n");
		return EXIT_INVALID;
	}
	writ_memzero(&p, sizeof(p));
	/* accept the code with or without its dashes */
	for (i = 0; manual[i]; i++) {
		if (manual[i] == '-')
			continue;
		if (k + 1 >= sizeof(digits))
			break;
		digits[k++] = manual[i];
	}
	digits[k] = '\0';
	if (manual[i] || !matter_manual_check(digits)) {
		fprintf(stderr, "writ matter label: --manual must be 11 or 21 digits with a valid check digit\n");
		return EXIT_INVALID;
	}
	if (!matter_serial_valid(serial, strnlen(serial, 64)) || strnlen(serial, 64) > MATTER_SERIAL_MAX) {
		fprintf(stderr, "writ matter label: --serial must be 1..32 printable ASCII characters without spaces\n");
		return EXIT_INVALID;
	}
	if (!svg && !matter_label_font_covers(serial)) {
		fprintf(stderr, "writ matter label: the PNG font draws only 0-9, A-Z and - : . / _ + #; use an SVG "
				"label for this serial\n");
		return EXIT_INVALID;
	}
	if (svg)
		r = matter_label_svg(qr, digits, serial, (char **)&buf, &len);
	else
		r = matter_label_png(qr, digits, serial, &buf, &len);
	if (r < 0) {
		fprintf(stderr, "writ matter label: cannot draw the label: %s\n", writ_strerror(r));
		return EXIT_INVALID;
	}
	r = write_out(out, buf, len, 0644);
	free(buf);
	if (r < 0) {
		fprintf(stderr, "writ matter label: %s: %s\n", out, strerror(-r));
		return EXIT_USAGE;
	}
	return EXIT_VALID;
}

/* Load a PEM or DER certificate file into dst (at most MATTER_CERT_MAX bytes of DER). */
static int load_cert_der(const char *opt, const char *path, uint8_t *dst, size_t *ret_len)
{
	uint8_t *raw = NULL, *der = NULL;
	size_t raw_len = 0, der_len = 0;
	int err;

	err = read_small_file(path, CERT_FILE_MAX, &raw, &raw_len);
	if (err < 0) {
		fprintf(stderr, "writ matter factory-data: %s %s: %s\n", opt, path, strerror(-err));
		return EXIT_USAGE;
	}
	err = x509_to_der(raw, raw_len, &der, &der_len);
	free(raw);
	if (err < 0) {
		fprintf(stderr, "writ matter factory-data: %s %s: not a PEM or DER certificate\n", opt, path);
		return EXIT_INVALID;
	}
	if (der_len > MATTER_CERT_MAX) {
		fprintf(stderr, "writ matter factory-data: %s %s: %zu bytes of DER, Matter allows %d\n", opt, path,
			der_len, MATTER_CERT_MAX);
		free(der);
		return EXIT_INVALID;
	}
	memcpy(dst, der, der_len);
	*ret_len = der_len;
	free(der);
	return 0;
}

static int cmd_factory_data(int argc, char **argv)
{
	const char *format = NULL, *in = NULL, *dac = NULL, *pai = NULL, *cd = NULL, *size_s = NULL, *out = NULL;
	struct opt opts[] = { { "--format", &format, NULL }, { "--in", &in, NULL },	    { "--dac", &dac, NULL },
			      { "--pai", &pai, NULL },	     { "--cd", &cd, NULL },	    { "--size", &size_s, NULL },
			      { "--out", &out, NULL },	     { NULL, NULL, NULL } };
	struct matter_settings *st = NULL;
	char reason[256];
	uint8_t *text = NULL, *buf = NULL;
	size_t text_len = 0, len = 0;
	uint32_t part_size = MATTER_NVS_DEFAULT_SIZE;
	int r, ret = EXIT_USAGE, vid = -1, pid = -1;

	if ((r = parse_opts("factory-data", argc, argv, opts)) != 0)
		return r;
	if (!format || !in || !dac || !pai || !out) {
		fprintf(stderr, "writ matter factory-data: --format, --in, --dac, --pai and --out are required\n");
		return EXIT_USAGE;
	}
	if (strcmp(format, "esp-csv") && strcmp(format, "esp-nvs") && strcmp(format, "nrf-cbor") &&
	    strcmp(format, "wfd")) {
		fprintf(stderr, "writ matter factory-data: --format is one of esp-csv, esp-nvs, nrf-cbor, wfd\n");
		return EXIT_USAGE;
	}
	if (size_s && (parse_num(size_s, MATTER_NVS_MAX_SIZE, &part_size) < 0 || part_size % MATTER_NVS_PAGE ||
		       part_size < 3 * MATTER_NVS_PAGE)) {
		fprintf(stderr, "writ matter factory-data: --size must be a multiple of 4096 in 0x3000..0x%x\n",
			MATTER_NVS_MAX_SIZE);
		return EXIT_INVALID;
	}
	st = calloc(1, sizeof(*st));
	if (!st)
		return EXIT_USAGE;
	r = read_small_file(in, MATTER_SETTINGS_MAX, &text, &text_len);
	if (r < 0) {
		fprintf(stderr, "writ matter factory-data: --in %s: %s\n", in, r == -EFBIG ? "too large" : strerror(-r));
		goto out;
	}
	ret = EXIT_INVALID;
	reason[0] = '\0';
	if (matter_settings_parse((const char *)text, text_len, st, reason, sizeof(reason)) < 0 ||
	    matter_settings_finish(st, reason, sizeof(reason)) < 0) {
		fprintf(stderr, "writ matter factory-data: %s: %s\n", in, reason[0] ? reason : "invalid settings");
		goto out;
	}
	if ((r = load_cert_der("--dac", dac, st->fd.dac, &st->fd.dac_len)) != 0 ||
	    (r = load_cert_der("--pai", pai, st->fd.pai, &st->fd.pai_len)) != 0) {
		ret = r;
		goto out;
	}
	if (matter_cert_check_profile(st->fd.dac, st->fd.dac_len, X509_PROFILE_DAC, reason, sizeof(reason)) < 0 ||
	    matter_cert_vidpid(st->fd.dac, st->fd.dac_len, &vid, &pid) < 0) {
		fprintf(stderr, "writ matter factory-data: --dac: %s\n", reason);
		goto out;
	}
	if (vid != st->fd.vid || pid != st->fd.pid) {
		fprintf(stderr, "writ matter factory-data: the DAC is for VID 0x%04X PID 0x%04X, the settings say "
				"0x%04X 0x%04X\n", (unsigned)vid, (unsigned)pid, st->fd.vid, st->fd.pid);
		goto out;
	}
	if (cd) {
		uint8_t *cdb = NULL;
		size_t cdl = 0;

		r = read_small_file(cd, MATTER_CD_MAX, &cdb, &cdl);
		if (r < 0 || cdl == 0) {
			fprintf(stderr, "writ matter factory-data: --cd %s: %s\n", cd,
				r == -EFBIG ? "larger than 800 bytes" : r < 0 ? strerror(-r) : "empty");
			free(cdb);
			goto out;
		}
		memcpy(st->fd.cd, cdb, cdl);
		st->fd.cd_len = cdl;
		free(cdb);
	}
	if (matter_fd_validate(&st->fd, reason, sizeof(reason)) < 0) {
		fprintf(stderr, "writ matter factory-data: %s\n", reason);
		goto out;
	}
	if (strcmp(format, "wfd") == 0) {
		buf = malloc(MATTER_WFD_MAX);
		r = buf ? matter_wfd_encode(&st->fd, buf, MATTER_WFD_MAX) : WRIT_E_NOMEM;
		if (r >= 0) {
			len = (size_t)r;
			r = 0;
		}
	} else if (strcmp(format, "esp-csv") == 0) {
		r = matter_esp_csv(&st->fd, (char **)&buf, &len);
	} else if (strcmp(format, "esp-nvs") == 0) {
		r = matter_esp_nvs(&st->fd, part_size, &buf, &len);
	} else {
		r = matter_nrf_cbor(&st->fd, &buf, &len);
	}
	if (r < 0) {
		if (r == WRIT_E_TOOBIG)
			fprintf(stderr, "writ matter factory-data: the data does not fit in %u bytes (--size)\n", part_size);
		else if (strcmp(format, "nrf-cbor") == 0 && r == WRIT_E_INVAL)
			fprintf(stderr, "writ matter factory-data: Nordic's schema needs vendor_name, product_name, "
					"hw_ver_str, vendor_id <= 65524 and product_id >= 1\n");
		else
			fprintf(stderr, "writ matter factory-data: cannot encode: %s\n", writ_strerror(r));
		goto out;
	}
	r = write_out(out, buf, len, st->fd.include_passcode ? 0600 : 0644);
	if (r < 0) {
		fprintf(stderr, "writ matter factory-data: %s: %s\n", out, strerror(-r));
		ret = EXIT_USAGE;
		goto out;
	}
	ret = EXIT_VALID;
out:
	if (buf)
		writ_memzero(buf, len);
	free(buf);
	if (text)
		writ_memzero(text, text_len);
	free(text);
	if (st)
		matter_fd_clear(&st->fd);
	free(st);
	return ret;
}

int cmd_matter(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} subs[] = {
		{ "check-chain", cmd_check_chain },   { "payload", cmd_payload },
		{ "spake2p", cmd_spake2p },	      { "passcode", cmd_passcode },
		{ "discriminator", cmd_discriminator }, { "label", cmd_label },
		{ "factory-data", cmd_factory_data },
	};
	size_t i;
	int j;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		matter_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_VALID;
	}
	/* `writ matter SUB --help`: the one page covers every subcommand */
	for (j = 2; j < argc; j++)
		if (strcmp(argv[j], "--help") == 0 || strcmp(argv[j], "-h") == 0) {
			matter_usage(stdout);
			return EXIT_VALID;
		}
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "writ matter: unknown subcommand '%s'\n", argv[1]);
	matter_usage(stderr);
	return EXIT_USAGE;
}
