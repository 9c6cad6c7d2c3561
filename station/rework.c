/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-station rework: reopen one made device under the OEM's rework rights
 * (docs/operations.md, "Rework a device"). The chip issues a challenge; writ-factory has
 * its edge HSM sign a debug-unlock token for that chip and challenge (the station never
 * sees a key); the chip verifies the token's chain to the debug root hash in its OTP
 * and opens exactly the permissions asked; the station does the operation (a re-flash
 * goes through the chip's firmware commands, which still check the secure-boot
 * signature and refuse a rollback; a re-provisioning, reprov.c, gives the chip new keys,
 * a DAC for them and the version's factory data), locks debug again, checks the chip's STATUS and
 * posts a rework record naming the token's journal entry. One progress line per step;
 * every failure says what to do next, and once a token was signed the failure is
 * recorded too.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/ct.h"
#include "chip/chip.h"
#include "crypto/ec.h"
#include "crypto/fwsig.h"
#include "host/file.h"
#include "station/factory_client.h"
#include "station/reprov.h"
#include "station/rework.h"
#include "wire/authority.h"

#define N_STEPS 7

const char station_rework_usage[] =
	"  writ-station rework --factory URL --token-file F --port ADDR --device UID\n"
	"        --debug-root-pub HEX|FILE [--op debug|reflash|reprovision] [--perms LIST] [--session S]\n"
	"        [--writ ID] [--hold S] [--timeout-ms MS]\n"
	"        [--firmware IMG --fw-version V --fw-sig SIG [--sb-pub HEX|FILE]]   (--op reflash)\n";

struct rw_opts {
	const char *url, *token_file, *port, *device, *root_pub, *op, *perms, *writ;
	const char *firmware, *fw_sig, *sb_pub;
	unsigned long session, hold, fw_version, timeout_ms;
	int have_fw_version;
};

static volatile sig_atomic_t rw_signal;

static void rw_on_signal(int sig)
{
	rw_signal = sig;
}

static void step(int n, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void step(int n, const char *name, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "writ-station rework: [%d/%d] %-8s ", n, N_STEPS, name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#define REWORK_UPDATE_WAIT_S 600

/* Wait (with a progress line) while the factory says "update_pending"; an older factory
 * that does not say, or none answering, is left to the steps to report. 0 to go on, -1
 * when the update did not finish within REWORK_UPDATE_WAIT_S. */
static int wait_no_update(struct factory_client *fc)
{
	struct fc_health h;
	time_t t0 = time(NULL), last = 0;
	int rc, waited = 0;

	for (;;) {
		memset(&h, 0, sizeof(h));
		rc = factory_client_health(fc, &h);
		if (rc == 0 && !h.update_pending) {
			if (waited)
				fprintf(stderr, "writ-station rework: the factory's update is done (version %s): going on\n",
					h.version[0] ? h.version : "unknown");
			return 0;
		}
		if (rc != 0 && !waited)
			return 0; /* no answer before any pause: the steps say why */
		/* pending, or no answer while waiting (the factory restarting) */
		if (time(NULL) - t0 >= REWORK_UPDATE_WAIT_S) {
			fprintf(stderr, "writ-station rework: the factory has had an update pending for %d s: check "
					"`writ-factory update status` on the factory, then run again\n",
				REWORK_UPDATE_WAIT_S);
			return -1;
		}
		if (time(NULL) - last >= 5) {
			fprintf(stderr, "writ-station rework: waiting for the factory's update to finish before touching "
					"the device (%lld s)\n", (long long)(time(NULL) - t0));
			last = time(NULL);
		}
		waited = 1;
		sleep(1);
	}
}

static int parse_num(const char *s, unsigned long min, unsigned long max, unsigned long *ret, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || *s == '-' || v < min || v > max) {
		fprintf(stderr, "writ-station rework: %s \"%s\" is not a number in %lu..%lu\n", what, s, min, max);
		return -1;
	}
	*ret = v;
	return 0;
}

static int fixed_arg(const char *arg, uint8_t *out, size_t n, const char *what)
{
	size_t len = 0;

	if (arg_bytes(arg, n, n, out, &len) == 0)
		return 0;
	fprintf(stderr, "writ-station rework: %s: %s is neither %zu hex digits nor a file of %zu bytes (raw or hex)\n",
		what, arg, 2 * n, n);
	return -1;
}

static int parse_rework(int argc, char **argv, struct rw_opts *o)
{
	static const struct option lo[] = {
		{ "factory", 1, 0, 'f' },    { "token-file", 1, 0, 'T' }, { "port", 1, 0, 'p' },
		{ "device", 1, 0, 'd' },     { "debug-root-pub", 1, 0, 'r' }, { "op", 1, 0, 'o' },
		{ "perms", 1, 0, 'P' },      { "session", 1, 0, 's' },    { "writ", 1, 0, 'w' },
		{ "hold", 1, 0, 'H' },       { "timeout-ms", 1, 0, 't' }, { "firmware", 1, 0, 'F' },
		{ "fw-version", 1, 0, 'v' }, { "fw-sig", 1, 0, 'g' },     { "sb-pub", 1, 0, 'b' },
		{ "help", 0, 0, 'h' },       { 0, 0, 0, 0 }
	};
	int c;

	o->session = 600;
	o->timeout_ms = 5000;
	o->op = "debug";
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'f': o->url = optarg; break;
		case 'T': o->token_file = optarg; break;
		case 'p': o->port = optarg; break;
		case 'd': o->device = optarg; break;
		case 'r': o->root_pub = optarg; break;
		case 'o': o->op = optarg; break;
		case 'P': o->perms = optarg; break;
		case 'w': o->writ = optarg; break;
		case 'F': o->firmware = optarg; break;
		case 'g': o->fw_sig = optarg; break;
		case 'b': o->sb_pub = optarg; break;
		case 's':
			if (parse_num(optarg, 1, WDP_DBG_SESSION_MAX, &o->session, "--session") < 0)
				return -1;
			break;
		case 'H':
			if (parse_num(optarg, 0, WDP_DBG_SESSION_MAX, &o->hold, "--hold") < 0)
				return -1;
			break;
		case 't':
			if (parse_num(optarg, 100, 600000, &o->timeout_ms, "--timeout-ms") < 0)
				return -1;
			break;
		case 'v':
			if (parse_num(optarg, 0, UINT32_MAX, &o->fw_version, "--fw-version") < 0)
				return -1;
			o->have_fw_version = 1;
			break;
		case 'h':
			fputs("usage:\n", stdout);
			fputs(station_rework_usage, stdout);
			exit(0);
		default: return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "writ-station rework: unexpected argument \"%s\"\n", argv[optind]);
		return -1;
	}
	if (!o->url || !o->token_file || !o->port || !o->device || !o->root_pub) {
		fprintf(stderr, "writ-station rework: --factory, --token-file, --port, --device and --debug-root-pub are "
				"required (the debug root's public key: `writ authority pubkey --key debug-root`)\n");
		return -1;
	}
	if (strcmp(o->op, "debug") && strcmp(o->op, "reflash") && strcmp(o->op, "reprovision")) {
		fprintf(stderr, "writ-station rework: --op is debug, reflash or reprovision\n");
		return -1;
	}
	if (!strcmp(o->op, "reflash") && (!o->firmware || !o->fw_sig || !o->have_fw_version)) {
		fprintf(stderr, "writ-station rework: --op reflash needs --firmware, --fw-version and --fw-sig (the image "
				"signed with the secure-boot key)\n");
		return -1;
	}
	if (strcmp(o->op, "reflash") && (o->firmware || o->fw_sig || o->have_fw_version || o->sb_pub)) {
		fprintf(stderr, "writ-station rework: --firmware, --fw-version, --fw-sig and --sb-pub go with --op reflash\n");
		return -1;
	}
	if (o->writ && (strlen(o->writ) != 32 || strspn(o->writ, "0123456789abcdef") != 32)) {
		fprintf(stderr, "writ-station rework: --writ is the 32-hex-digit writ id\n");
		return -1;
	}
	return 0;
}

/* What to do about a chip's refusal of DEBUG_UNLOCK. */
static const char *unlock_hint(unsigned st)
{
	switch (st) {
	case WDP_S_VERIFY:
		return "the token or chain does not verify to this chip's debug root: check --debug-root-pub "
		       "(`writ authority pubkey --key debug-root`) and that the rights come from this OEM";
	case WDP_S_MISMATCH: return "the token is for another device or product: check --device and the writ's product";
	case WDP_S_SEQUENCE:
		return "the chip's challenge changed meanwhile (another host talked to it, or it was reset): run again";
	case WDP_S_ROLLBACK:
		return "the chip has seen a newer debug key generation: ask the OEM for rework rights of the current "
		       "generation";
	case WDP_S_EXPIRED:
		return "outside the certificate's or token's window: check the chip's clock and the rights' window "
		       "(writ hsm status)";
	case WDP_S_DENIED:
		return "the permissions asked go beyond the rights' mask: ask for fewer (--perms) or for wider rights";
	case WDP_S_STATE: return "the chip cannot verify (no debug root in OTP, no clock or no factory data)";
	default: return "see the chip's detail";
	}
}

struct rw_run {
	struct rw_opts *o;
	struct factory_client *fc;
	uint8_t uid[WDP_UID_LEN];
	struct fc_rework tok;
	int have_tok;
	const char *step_name; /* the record's step */
};

/* Post the outcome; a failed one names the reason; rp (may be NULL) the new DAC of a
 * re-provisioning. 0 or -1 (said on stderr). */
static int post_rp(struct rw_run *r, int ok, const char *reason, int have_fw, uint32_t fw_version,
		   const struct reprov_result *rp);
static int post(struct rw_run *r, int ok, const char *reason, int have_fw, uint32_t fw_version)
{
	return post_rp(r, ok, reason, have_fw, fw_version, NULL);
}

static int post_rp(struct rw_run *r, int ok, const char *reason, int have_fw, uint32_t fw_version,
		   const struct reprov_result *rp)
{
	struct fc_rework_record rec;
	uint64_t seq = 0;
	int rc;

	memset(&rec, 0, sizeof rec);
	rec.writ = r->have_tok ? r->tok.writ : r->o->writ;
	if (!rec.writ) /* nothing was signed and no writ named: nothing to record against */
		return 0;
	memcpy(rec.uid, r->uid, WDP_UID_LEN);
	rec.ok = ok;
	rec.step = r->step_name;
	rec.reason = reason;
	if (r->have_tok) {
		rec.hsm_id = r->tok.hsm_id;
		rec.hsm_seq = r->tok.hsm_seq;
		rec.device_serial = r->tok.device_serial;
	}
	rec.have_fw = have_fw;
	rec.firmware_version = fw_version;
	if (rp) {
		rec.have_dac = 1;
		memcpy(rec.dac_sha256, rp->dac_sha256, 32);
		rec.device_serial = rp->serial;
	}
	rc = factory_client_rework_record(r->fc, &rec, &seq);
	if (rc < 0) {
		fprintf(stderr, "writ-station rework: the record was NOT stored: %s; post it again when writ-factory is back "
				"(the HSM journal has the token at seq %llu)\n", factory_client_error(r->fc),
			(unsigned long long)rec.hsm_seq);
		return -1;
	}
	step(7, "record", "%s record seq %llu (writ %s, token journal seq %llu)", ok ? "ok" : "failed",
	     (unsigned long long)seq, rec.writ, (unsigned long long)rec.hsm_seq);
	return 0;
}

static const char *sbuf_hex(const uint8_t sha[32], char *buf, size_t cap)
{
	if (cap < 65)
		return "";
	hex_encode(sha, 32, buf);
	return buf;
}

static void fw_progress(void *ctx, size_t done, size_t total)
{
	(void)ctx;
	if (done == total || isatty(2))
		fprintf(stderr, "\rwrit-station rework:          firmware %zu / %zu bytes%s", done, total,
			done == total ? "\n" : "");
}

int station_cmd_rework(int argc, char **argv)
{
	static struct rw_opts o;
	struct rw_run r;
	struct chip *c = NULL;
	struct chip_info info;
	struct chip_opts co;
	struct chip_debug dbg;
	uint8_t chal[WDP_DBG_CHALLENGE_LEN], perms[WDP_DBG_PERMS_LEN], root_pub[WDP_P256_PUB_LEN], got_uid[WDP_UID_LEN];
	uint8_t sb_pub[WDP_P256_PUB_LEN], fw_sig[64], *img = NULL;
	char token[FC_TOKEN_MAX] = "", why[FC_ERR_MAX + 256], sbuf[128];
	size_t img_len = 0;
	struct reprov_result rp;
	int reflash, reprov, have_sb = 0, unlocked = 0, ec = 1, rc, issued = 0;

	memset(&o, 0, sizeof o);
	memset(&r, 0, sizeof r);
	if (parse_rework(argc, argv, &o) < 0)
		return 2;
	r.o = &o;
	reflash = !strcmp(o.op, "reflash");
	reprov = !strcmp(o.op, "reprovision");
	r.step_name = reflash ? "rework-reflash" : reprov ? "rework-reprov" : "rework-debug";
	memset(&rp, 0, sizeof rp);
	if (strlen(o.device) != 2 * WDP_UID_LEN || hex_decode(o.device, r.uid, WDP_UID_LEN) < 0) {
		fprintf(stderr, "writ-station rework: --device is the chip's UID, 32 hex digits\n");
		return 2;
	}
	if (fixed_arg(o.root_pub, root_pub, sizeof root_pub, "--debug-root-pub") < 0)
		return 2;
	if (authority_parse_perms(o.perms ? o.perms : o.op, perms) < 0) {
		fprintf(stderr, "writ-station rework: --perms takes debug, reflash, reprovision or bit numbers 0..127, "
				"comma-separated\n");
		return 2;
	}
	if (reprov &&
	    !(perms[WDP_DBG_PERMS_LEN - 1 - WDP_DBG_PERM_REPROVISION / 8] & (1u << (WDP_DBG_PERM_REPROVISION % 8)))) {
		fprintf(stderr, "writ-station rework: --op reprovision needs the reprovision permission in --perms\n");
		return 2;
	}
	if (reflash && !(perms[WDP_DBG_PERMS_LEN - 1 - WDP_DBG_PERM_REFLASH / 8] & (1u << (WDP_DBG_PERM_REFLASH % 8)))) {
		fprintf(stderr, "writ-station rework: --op reflash needs the reflash permission in --perms\n");
		return 2;
	}
	if (reflash) {
		if (fixed_arg(o.fw_sig, fw_sig, sizeof fw_sig, "--fw-sig") < 0)
			return 2;
		if ((rc = file_read(o.firmware, FWSIG_IMAGE_MAX, &img, &img_len)) < 0 || img_len == 0) {
			fprintf(stderr, "writ-station rework: cannot read --firmware %s (%s; at most 4 MiB)\n", o.firmware,
				rc < 0 ? writ_strerror(rc) : "empty");
			free(img);
			return 2;
		}
		if (o.sb_pub) {
			if (fixed_arg(o.sb_pub, sb_pub, sizeof sb_pub, "--sb-pub") < 0)
				goto out_usage;
			have_sb = 1;
		}
	}
	if (station_read_token(o.token_file, token) < 0)
		goto out;
	if (factory_client_global_init() < 0) {
		fprintf(stderr, "writ-station rework: libcurl initialisation failed\n");
		goto out;
	}
	{
		struct fc_opts fo = { 3000, 30000 };
		if (factory_client_new(o.url, token, &fo, &r.fc) < 0) {
			fprintf(stderr, "writ-station rework: --factory must be http://HOST:PORT\n");
			ec = 2;
			goto out;
		}
	}
	writ_memzero(token, sizeof token);
	{
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = rw_on_signal;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sa.sa_handler = SIG_IGN;
		sigaction(SIGPIPE, &sa, NULL);
	}
	/* without --sb-pub, the secure-boot key of --writ's job (a production writ) */
	if (reflash && !have_sb && o.writ) {
		struct fc_job job;
		memset(&job, 0, sizeof job);
		if (factory_client_job(r.fc, o.writ, &job) == 0) {
			memcpy(sb_pub, job.sb_pub, sizeof sb_pub);
			have_sb = 1;
		}
		fc_job_free(&job);
	}
	if (reflash && have_sb && fwsig_verify(sb_pub, (uint32_t)o.fw_version, img, img_len, fw_sig) != 0) {
		fprintf(stderr, "writ-station rework: the firmware's signature does not verify for version %lu under the "
				"secure-boot key: the chip would refuse it; sign it again (writ authority sign-firmware)\n",
			o.fw_version);
		goto out;
	}

	/* a factory about to switch versions (docs/releases.md): rework, like a job, starts
	 * only between updates, so the factory does not restart under a token or a record */
	if (wait_no_update(r.fc) < 0)
		goto out;

	/* 1: the chip */
	co.timeout_ms = (int)o.timeout_ms;
	co.retries = 3;
	if (chip_new(o.port, &co, &c) < 0) {
		fprintf(stderr, "writ-station rework: no driver for the port \"%s\" (unix:PATH, tcp:HOST:PORT, tty:PATH)\n",
			o.port);
		ec = 2;
		goto out;
	}
	if (chip_connect(c, NULL) < 0 || chip_status(c, &info) < 0) {
		fprintf(stderr, "writ-station rework: no chip answers at %s (%s): check the cable or the port, then run "
				"again\n", o.port, chip_last_detail(c));
		goto out;
	}
	if (!writ_ct_memeq(info.uid, r.uid, WDP_UID_LEN)) {
		char h[2 * WDP_UID_LEN + 1];
		hex_encode(info.uid, WDP_UID_LEN, h);
		fprintf(stderr, "writ-station rework: the chip at %s is %s, not --device %s: attach the right device\n",
			o.port, h, o.device);
		goto out;
	}
	step(1, "chip", "%s at %s: %s, firmware %u, debug key generation %u, debug %s", o.device, o.port,
	     chip_state_str(info.state, sbuf, sizeof sbuf), info.fw_version, info.debug_key_gen,
	     (info.state & WDP_F_DEBUG_UNLOCKED) ? "unlocked" : "locked");

	/* 2: a fresh challenge */
	if (chip_debug_challenge(c, got_uid, chal) < 0) {
		fprintf(stderr, "writ-station rework: the chip refuses a debug challenge: %s (%s)\n",
			wdp_status_name(chip_last_status(c)), chip_last_detail(c));
		goto out;
	}
	step(2, "challenge", "fresh challenge from the chip");

	/* 3: the token, signed by the edge HSM through writ-factory */
	rc = factory_client_rework_token(r.fc, r.uid, chal, perms, (uint32_t)o.session, o.op, o.writ, &r.tok);
	if (rc < 0) {
		fprintf(stderr, "writ-station rework: writ-factory did not give a token (HTTP %ld %s): %s\n"
				"  nothing was signed or counted; check the rework rights (`writ hsm status` at the HSM: "
				"window, limit, revoked) or ask the OEM for a rework writ naming this device\n",
			factory_client_http(r.fc), factory_client_code(r.fc), factory_client_error(r.fc));
		(void)snprintf(why, sizeof why, "token refused: %s", factory_client_error(r.fc));
		(void)post(&r, 0, why, 0, 0);
		goto out;
	}
	r.have_tok = 1;
	step(3, "token", "signed under writ %s by HSM %.16s…, journal seq %llu, valid until %lld", r.tok.writ,
	     r.tok.hsm_id, (unsigned long long)r.tok.hsm_seq, (long long)r.tok.not_after);
	if (reflash && !have_sb) { /* the secure-boot key of the writ's job, if it has one */
		struct fc_job job;
		memset(&job, 0, sizeof job);
		if (factory_client_job(r.fc, r.tok.writ, &job) == 0) {
			memcpy(sb_pub, job.sb_pub, sizeof sb_pub);
			have_sb = 1;
		}
		fc_job_free(&job);
		if (!have_sb) {
			fprintf(stderr, "writ-station rework: writ %s has no job here to take the secure-boot key from: give "
					"--sb-pub (`writ authority pubkey --key secure-boot`)\n", r.tok.writ);
			(void)post(&r, 0, "no secure-boot key for the firmware", 0, 0);
			goto out;
		}
		if (fwsig_verify(sb_pub, (uint32_t)o.fw_version, img, img_len, fw_sig) != 0) {
			fprintf(stderr, "writ-station rework: the firmware's signature does not verify under the job's "
					"secure-boot key: sign it again\n");
			(void)post(&r, 0, "firmware signature does not verify", 0, 0);
			goto out;
		}
	}

	/* 4: unlock */
	if (chip_debug_unlock(c, root_pub, r.tok.chain, r.tok.chain_len, r.tok.token, &dbg) < 0) {
		unsigned st = chip_last_status(c);
		fprintf(stderr, "writ-station rework: the chip refuses the unlock: %s (%s)\n  %s\n", wdp_status_name(st),
			chip_last_detail(c), unlock_hint(st));
		(void)snprintf(why, sizeof why, "unlock refused: %s (%s)", wdp_status_name(st), chip_last_detail(c));
		(void)post(&r, 0, why, 0, 0);
		goto out;
	}
	unlocked = 1;
	step(4, "unlock", "debug open for %u s with permissions %s, key generation %u", dbg.seconds, o.perms ? o.perms : o.op,
	     dbg.key_gen);

	/* 5: the operation */
	if (reflash) {
		if (chip_firmware(c, (uint32_t)o.fw_version, sb_pub, img, img_len, fw_sig, fw_progress, NULL) < 0) {
			unsigned st = chip_last_status(c);
			fprintf(stderr, "writ-station rework: the chip refuses the firmware: %s (%s)\n  %s\n",
				wdp_status_name(st), chip_last_detail(c),
				st == WDP_S_ROLLBACK ? "the image is older than the installed one: use a newer version"
				: st == WDP_S_VERIFY ? "the image is not signed by the chip's secure-boot key"
						     : "the previous firmware stays installed; run again");
			(void)snprintf(why, sizeof why, "firmware refused: %s (%s)", wdp_status_name(st), chip_last_detail(c));
			(void)!chip_debug_lock(c);
			(void)post(&r, 0, why, 0, 0);
			goto out;
		}
		step(5, "reflash", "firmware %lu installed (%zu bytes, secure-boot signature checked by the chip)",
		     o.fw_version, img_len);
	} else if (reprov) {
		char rwhy[FC_ERR_MAX + 768];
		if (station_reprovision(c, r.fc, r.tok.writ, r.uid, r.tok.device_serial, &rp, &issued, rwhy,
					sizeof rwhy) < 0) {
			fprintf(stderr, "writ-station rework: %s\n", rwhy);
			(void)snprintf(why, sizeof why, "re-provisioning failed: %.400s", rwhy);
			(void)!chip_debug_lock(c);
			(void)post_rp(&r, 0, why, 0, 0, issued ? &rp : NULL);
			goto out;
		}
		step(5, "reprov", "device serial %llu re-provisioned: new key, DAC %s (sha256 %.16s…), factory data stored",
		     (unsigned long long)rp.serial, rp.dac_serial, sbuf_hex(rp.dac_sha256, sbuf, sizeof sbuf));
	} else {
		unsigned long left = o.hold;
		step(5, "debug", "debug port open%s", o.hold ? "; Ctrl-C ends the session early" : "");
		while (left > 0 && !rw_signal) {
			sleep(1);
			left--;
		}
	}

	/* 6: lock again, and check */
	if (chip_debug_lock(c) < 0 || chip_status(c, &info) < 0) {
		fprintf(stderr, "writ-station rework: the chip did not confirm the lock (%s): reset the device (an unlock "
				"never survives a reset) and check `writ chip debug status`\n", chip_last_detail(c));
		(void)post(&r, 0, "debug lock not confirmed", 0, 0);
		goto out;
	}
	unlocked = 0;
	if (info.state & WDP_F_DEBUG_UNLOCKED) {
		fprintf(stderr, "writ-station rework: the chip still reports debug unlocked after DEBUG_LOCK: reset it\n");
		(void)post(&r, 0, "chip still unlocked after lock", 0, 0);
		goto out;
	}
	if (reprov) { /* the chip holds the new DAC, and is secured */
		uint8_t dac[WDP_CERT_MAX], pai[WDP_CERT_MAX], sha[32];
		size_t dl = 0, pl = 0;
		if (info.lifecycle != WDP_LC_SECURED || chip_get_chain(c, dac, &dl, pai, &pl) < 0 ||
		    ec_sha256(dac, dl, sha) < 0 || !writ_ct_memeq(sha, rp.dac_sha256, 32)) {
			fprintf(stderr, "writ-station rework: the chip does not report the new DAC, secured (%s): run again\n",
				chip_last_detail(c));
			(void)post_rp(&r, 0, "new DAC not confirmed by the chip", 0, 0, &rp);
			goto out;
		}
	}
	if (reflash && info.fw_version != (uint32_t)o.fw_version) {
		fprintf(stderr, "writ-station rework: the chip reports firmware %u, not %lu: run again\n", info.fw_version,
			o.fw_version);
		(void)post(&r, 0, "firmware version not confirmed by STATUS", 0, 0);
		goto out;
	}
	step(6, "lock", "debug locked; chip %s, firmware %u", chip_state_str(info.state, sbuf, sizeof sbuf),
	     info.fw_version);

	/* 7: the record */
	if (post_rp(&r, 1, NULL, reflash, (uint32_t)o.fw_version, reprov ? &rp : NULL) < 0)
		goto out;
	if (reprov) {
		char sha[65];
		hex_encode(rp.dac_sha256, 32, sha);
		printf("device=%s op=%s writ=%s hsm_seq=%llu serial=%llu dac_serial=%s dac_sha256=%s dac_hsm_seq=%llu "
		       "production_writ=%s qr=%s manual=%s\n", o.device, o.op, r.tok.writ,
		       (unsigned long long)r.tok.hsm_seq, (unsigned long long)rp.serial, rp.dac_serial, sha,
		       (unsigned long long)rp.dac_hsm_seq, rp.production_writ, rp.qr, rp.manual);
	} else {
		printf("device=%s op=%s writ=%s hsm_seq=%llu firmware=%u\n", o.device, o.op, r.tok.writ,
		       (unsigned long long)r.tok.hsm_seq, info.fw_version);
	}
	ec = 0;
	goto out;
out_usage:
	ec = 2;
out:
	if (unlocked && c)
		(void)!chip_debug_lock(c);
	writ_memzero(token, sizeof token);
	chip_close(c);
	factory_client_close(r.fc);
	free(img);
	return ec;
}
