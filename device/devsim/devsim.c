/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writ-devsim: simulated chips running libwrit-device. Each chip's OTP and STATE area
 * live in a state file replaced crash-safely at every commit (temp file, fsync, rename,
 * fsync of the directory); its two firmware slots live in FILE.fw0 / FILE.fw1, written in
 * place and fsynced before the state file that references the installed image commits,
 * so small commands never rewrite a megabyte. Chips listen on a Unix socket, TCP on
 * loopback or a pty, serve one connection at a time, and can inject faults (dropped
 * links, corrupted frames, a stuck RNG, torn state writes). See usage().
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <openssl/evp.h>

#include "base/wdp.h"
#include "hostsim.h"
#include "mempal.h"
#include "wdev.h"
#include "host/version.h"

#define STATE_MAGIC "WDSIMST1"
#define STATE_VERSION 1u
/* magic 8 ‖ version u32 ‖ otp ‖ state area ‖ fw_len[2] u32 ‖ SHA-256 of all before */
#define STATE_FILE_LEN (8 + 4 + WDEV_OTP_SIZE + WDEV_STATE_AREA_SIZE + 8 + 32)

static volatile sig_atomic_t g_stop;
static pthread_mutex_t g_out_lock = PTHREAD_MUTEX_INITIALIZER;

struct faults {
	long drop_after; /* 0: off */
	int corrupt_pct;
	int bad_rng;
	int provisioned;
	long crash_at; /* 0: off */
	long time_offset; /* seconds added to the chip's clock */
};

struct chip {
	int index;
	char state_path[PATH_MAX];
	char listen[PATH_MAX + 16];
	struct faults fx;
	uint64_t prng; /* for corrupt= */
	long frames;   /* request frames received (drop-after) */
	long commits;
	int dropped;
	struct mempal m;
	struct wdev_pal pal;
	struct wdev_ctx *dev;
	const char *family;
};

static void usage(FILE *o)
{
	fprintf(o, "usage: writ-devsim --state FILE [--uid HEX] --listen unix:PATH|tcp:127.0.0.1:PORT|pty[:LINK]\n"
		   "       writ-devsim --count N --dir DIR [--listen unix]\n"
		   "       writ-devsim --state FILE --show\n"
		   "       writ-devsim --help | --version   (the version: VERSION next to the program, else the built one)\n"
		   "\n"
		   "writ-devsim simulates chips running libwrit-device, the reference of the device side: each\n"
		   "chip's OTP, state and firmware slots live in files, written crash-safely, and it speaks the\n"
		   "device protocol (docs/device-protocol.md) on a socket or a pty, one connection at a time.\n"
		   "Each chip prints \"ready ADDR\" on stdout when it listens.\n"
		   "\n"
		   "Options:\n"
		   "  --state FILE     one chip, whose state is FILE (created on first use)\n"
		   "  --uid HEX        a new chip's 16-byte UID (32 hex digits, not all zero; default random)\n"
		   "  --listen ADDR    unix:PATH, tcp:127.0.0.1:PORT or pty[:LINK] (a pseudo-terminal, as a\n"
		   "                   serial line; LINK is a symlink made to it)\n"
		   "  --count N        N chips (1..1024) in DIR: DIR/chip-I.state, listening on DIR/chip-I.sock\n"
		   "  --dir DIR        where --count keeps its chips\n"
		   "  --show           print one chip's state (UID, lifecycle, flags, firmware, labels, debug)\n"
		   "  --family NAME    the chip family the chip reports (default writ-devsim)\n"
		   "  --seed N         seed of the fault injection's pseudo-random choices (default 1)\n"
		   "  --time-offset S  the chip's clock runs S seconds from the host's (tests of debug windows)\n"
		   "  --fault F        inject a fault (repeatable):\n"
		   "                     drop-after=N   drop the link after the N-th request frame\n"
		   "                     corrupt=PCT    flip one bit in PCT %% of the answers\n"
		   "                     bad-rng        the RNG fails its health test (no key is made)\n"
		   "                     provisioned    provision and lock itself at its first start (a chip made elsewhere)\n"
		   "                     crash-at=N     die in the middle of the N-th state commit\n"
		   "  --help           this page\n"
		   "\n"
		   "Files:\n"
		   "  FILE (or DIR/chip-I.state)   the OTP and state area, replaced atomically at each commit\n"
		   "  FILE.fw0, FILE.fw1           the two firmware slots\n"
		   "\n"
		   "Exit status:\n"
		   "  0 stopped by SIGTERM/SIGINT (--show: printed); 1 a chip could not start or its state file\n"
		   "  is damaged; 2 usage.\n"
		   "\n"
		   "Example:\n"
		   "  writ-devsim --count 50 --dir chips &      # 50 chips on chips/chip-*.sock\n"
		   "  writ chip discover --connect unix:chips/chip-0.sock\n"
		   "  writ-devsim --state chips/chip-0.state --show\n");
}

/* ---- durable files ---- */

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t k = write(fd, b, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, rc;

	if (!slash) {
		dir[0] = '.';
		dir[1] = '\0';
	} else {
		size_t n = (size_t)(slash - path);
		if (n == 0)
			n = 1;
		if (n >= sizeof dir)
			return -1;
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int fw_path(const struct chip *c, int slot, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s.fw%d", c->state_path, slot);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Serialize the pending OTP + STATE and write it atomically; crash-at tears it. */
static int save_state(struct chip *c, const uint8_t *otp, const uint8_t *area)
{
	uint8_t *b = malloc(STATE_FILE_LEN);
	char tmp[PATH_MAX + 8];
	size_t off = 0;
	int fd = -1, rc = -1;

	if (!b || snprintf(tmp, sizeof tmp, "%s.tmp", c->state_path) >= (int)sizeof tmp)
		goto out;
	memcpy(b, STATE_MAGIC, 8);
	off = 8;
	put32(b + off, STATE_VERSION);
	off += 4;
	memcpy(b + off, otp, WDEV_OTP_SIZE);
	off += WDEV_OTP_SIZE;
	memcpy(b + off, area, WDEV_STATE_AREA_SIZE);
	off += WDEV_STATE_AREA_SIZE;
	put32(b + off, (uint32_t)c->m.fw_len[0]);
	put32(b + off + 4, (uint32_t)c->m.fw_len[1]);
	off += 8;
	if (hs_sha256(b, off, b + off) != 0)
		goto out;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	c->commits++;
	if (c->fx.crash_at && c->commits == c->fx.crash_at) {
		/* a torn write: half of the temp file, then the power goes */
		(void)write_all(fd, b, STATE_FILE_LEN / 2);
		(void)fsync(fd);
		_exit(137);
	}
	if (write_all(fd, b, STATE_FILE_LEN) != 0 || fsync(fd) != 0)
		goto out;
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, c->state_path) != 0 || fsync_dir_of(c->state_path) != 0)
		goto out;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(b);
	return rc;
}

/* The PAL commit: firmware slot bytes first (durable), then the state file. */
static int commit_hook(struct mempal *m, void *arg)
{
	struct chip *c = arg;

	for (int s = 0; s < 2; s++) {
		char p[PATH_MAX + 8];
		int fd;

		if (m->dirty_hi[s] == 0)
			continue;
		if (fw_path(c, s, p, sizeof p) != 0)
			return -1;
		fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return -1;
		if (pwrite(fd, m->fw[s] + m->dirty_lo[s], m->dirty_hi[s] - m->dirty_lo[s], (off_t)m->dirty_lo[s]) !=
			    (ssize_t)(m->dirty_hi[s] - m->dirty_lo[s]) ||
		    fdatasync(fd) != 0) {
			close(fd);
			return -1;
		}
		close(fd);
	}
	return save_state(c, m->otp, m->state);
}

/* The PAL's debug port: a simulated chip has none, so it says what a real one would do. */
static void debug_port_hook(void *ctx, int open)
{
	const struct mempal *m = ctx;
	const struct chip *c = m->hook_arg;

	fprintf(stderr, "writ-devsim: %s: debug port %s\n", c ? c->state_path : "chip", open ? "open" : "closed");
}

/* Load FILE into the mempal; 1 if it does not exist, 0 loaded, -1 refused (message). */
static int load_state(struct chip *c)
{
	uint8_t *b = malloc(STATE_FILE_LEN + 1), digest[32];
	const char *why = NULL;
	size_t off;
	ssize_t n;
	int fd, rc = -1;

	if (!b)
		return -1;
	fd = open(c->state_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(b);
		if (errno == ENOENT)
			return 1;
		fprintf(stderr, "writ-devsim: %s: %s\n", c->state_path, strerror(errno));
		return -1;
	}
	n = read(fd, b, STATE_FILE_LEN + 1);
	close(fd);
	if (n != (ssize_t)STATE_FILE_LEN)
		why = "wrong size (truncated or torn)";
	else if (memcmp(b, STATE_MAGIC, 8) != 0)
		why = "bad magic (not a writ-devsim state file)";
	else if (get32(b + 8) != STATE_VERSION)
		why = "unsupported version";
	else if (hs_sha256(b, STATE_FILE_LEN - 32, digest) != 0 || memcmp(digest, b + STATE_FILE_LEN - 32, 32) != 0)
		why = "checksum mismatch";
	if (why) {
		fprintf(stderr, "writ-devsim: %s: corrupt state file: %s; refusing to load it\n", c->state_path, why);
		goto out;
	}
	off = 12;
	memcpy(c->m.otp, b + off, WDEV_OTP_SIZE);
	memcpy(c->m.otp_c, b + off, WDEV_OTP_SIZE);
	off += WDEV_OTP_SIZE;
	memcpy(c->m.state, b + off, WDEV_STATE_AREA_SIZE);
	memcpy(c->m.state_c, b + off, WDEV_STATE_AREA_SIZE);
	off += WDEV_STATE_AREA_SIZE;
	for (int s = 0; s < 2; s++) {
		uint32_t len = get32(b + off + 4 * (size_t)s);
		char p[PATH_MAX + 8];
		if (len == 0)
			continue;
		if (len > WDEV_FW_AREA_SIZE || fw_path(c, s, p, sizeof p) != 0) {
			fprintf(stderr, "writ-devsim: %s: corrupt state file: bad firmware length\n", c->state_path);
			goto out;
		}
		c->m.fw[s] = malloc(WDEV_FW_AREA_SIZE);
		if (!c->m.fw[s])
			goto out;
		memset(c->m.fw[s], 0xFF, WDEV_FW_AREA_SIZE);
		fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "writ-devsim: %s: %s\n", p, strerror(errno));
			goto out;
		}
		n = pread(fd, c->m.fw[s], len, 0);
		close(fd);
		if (n < 0) {
			fprintf(stderr, "writ-devsim: %s: read failed\n", p);
			goto out;
		}
		c->m.fw_len[s] = len;
	}
	rc = 0;
out:
	free(b);
	return rc;
}

static int parse_hex(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < 2 * n; i++) {
		char ch = s[i];
		int v = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 :
			ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
		if (v < 0)
			return -1;
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(v << 4);
		else
			out[i / 2] |= (uint8_t)v;
	}
	return 0;
}

/* ---- self-provisioning, for --fault provisioned ---- */

static int sp_xfer(struct chip *c, uint32_t *seq, uint16_t code, const uint8_t *pl, size_t len, uint8_t *resp,
		   size_t *resp_len)
{
	static uint8_t fr[WDP_FRAME_MAX], out[WDP_FRAME_MAX]; /* only at start-up, one chip at a time */
	size_t n, used = 0, ol = 0;
	struct wdp_frame f;

	if (wdp_frame_encode(code, ++*seq, pl, len, fr, sizeof fr, &n) != 0 ||
	    wdev_process(c->dev, fr, n, &used, out, sizeof out, &ol) != 0 || ol == 0 ||
	    wdp_frame_decode(out, ol, &f) != 0 || f.code != 0)
		return -1;
	if (resp) {
		memcpy(resp, f.payload, f.len);
		*resp_len = f.len;
	}
	return 0;
}

static const uint8_t *find_tlv(const uint8_t *p, size_t n, uint16_t type, size_t *ret_len)
{
	size_t off = 0;

	while (off + 4 <= n) {
		uint16_t t = wdp_get_u16(p + off), l = wdp_get_u16(p + off + 2);
		if (off + 4 + l > n)
			return NULL;
		if (t == type) {
			*ret_len = l;
			return p + off + 4;
		}
		off += 4u + l;
	}
	return NULL;
}

static pthread_mutex_t g_sp_lock = PTHREAD_MUTEX_INITIALIZER;

static int self_provision(struct chip *c)
{
	static uint8_t resp[WDP_PAYLOAD_MAX], pl[WDP_PAYLOAD_MAX], blob[WDP_FACTORY_DATA_MAX];
	uint8_t pai[WDP_CERT_MAX], dac[WDP_CERT_MAX], att[65], sb_pub[65], sb_hash[32], dbg[32], sig[64], img[1024];
	size_t rl, pai_len, dac_len, csr_len, bl, pn;
	const uint8_t *csr;
	EVP_PKEY *pai_key = hs_key_new(NULL), *sb = hs_key_new(sb_pub);
	struct wdp_tlv_writer w;
	uint32_t seq = 0;
	int rc = -1;

	pthread_mutex_lock(&g_sp_lock);
	for (size_t i = 0; i < sizeof img; i++)
		img[i] = (uint8_t)i;
	memset(dbg, 0x44, sizeof dbg);
	if (!pai_key || !sb || hs_make_pai(pai_key, "writ-devsim PAI", pai, sizeof pai, &pai_len) != 0 ||
	    hs_sha256(sb_pub, 65, sb_hash) != 0)
		goto out;
	if (sp_xfer(c, &seq, WDP_CMD_DISCOVER, NULL, 0, NULL, NULL) != 0 ||
	    sp_xfer(c, &seq, WDP_CMD_GENERATE_KEYS, NULL, 0, resp, &rl) != 0 ||
	    !(csr = find_tlv(resp, rl, WDP_T_CSR, &csr_len)) || hs_check_csr(csr, csr_len, c->m.otp, att) != 0 ||
	    hs_issue_dac(pai_key, NULL, pai, pai_len, csr, csr_len, dac, sizeof dac, &dac_len) != 0)
		goto out;
	wdp_tlv_init(&w, pl, sizeof pl);
	wdp_tlv_put(&w, WDP_T_DAC, dac, dac_len);
	wdp_tlv_put(&w, WDP_T_PAI, pai, pai_len);
	if (wdp_tlv_finish(&w, &pn) != 0 || sp_xfer(c, &seq, WDP_CMD_STORE_CHAIN, pl, pn, NULL, NULL) != 0)
		goto out;
	if (hs_make_wfd(dac, dac_len, pai, pai_len, blob, sizeof blob, &bl) != 0)
		goto out;
	wdp_tlv_init(&w, pl, sizeof pl);
	wdp_tlv_put(&w, WDP_T_FACTORY_DATA, blob, bl);
	if (wdp_tlv_finish(&w, &pn) != 0 || sp_xfer(c, &seq, WDP_CMD_STORE_FACTORY_DATA, pl, pn, NULL, NULL) != 0)
		goto out;
	wdp_tlv_init(&w, pl, sizeof pl);
	wdp_tlv_put(&w, WDP_T_SB_KEY_HASH, sb_hash, 32);
	wdp_tlv_put(&w, WDP_T_DEBUG_ROOT_HASH, dbg, 32);
	if (wdp_tlv_finish(&w, &pn) != 0 || sp_xfer(c, &seq, WDP_CMD_BURN_OTP, pl, pn, NULL, NULL) != 0)
		goto out;
	wdp_tlv_init(&w, pl, sizeof pl);
	wdp_tlv_put_u32(&w, WDP_T_FW_VERSION, 1);
	wdp_tlv_put_u32(&w, WDP_T_FW_SIZE, sizeof img);
	wdp_tlv_put(&w, WDP_T_SB_PUBKEY, sb_pub, 65);
	if (wdp_tlv_finish(&w, &pn) != 0 || sp_xfer(c, &seq, WDP_CMD_FW_BEGIN, pl, pn, NULL, NULL) != 0)
		goto out;
	wdp_tlv_init(&w, pl, sizeof pl);
	wdp_tlv_put_u32(&w, WDP_T_FW_OFFSET, 0);
	wdp_tlv_put(&w, WDP_T_FW_DATA, img, sizeof img);
	if (wdp_tlv_finish(&w, &pn) != 0 || sp_xfer(c, &seq, WDP_CMD_FW_CHUNK, pl, pn, NULL, NULL) != 0 ||
	    hs_sign_fw(sb, 1, img, sizeof img, sig) != 0)
		goto out;
	wdp_tlv_init(&w, pl, sizeof pl);
	wdp_tlv_put(&w, WDP_T_FW_SIGNATURE, sig, 64);
	if (wdp_tlv_finish(&w, &pn) != 0 || sp_xfer(c, &seq, WDP_CMD_FW_END, pl, pn, NULL, NULL) != 0 ||
	    sp_xfer(c, &seq, WDP_CMD_LOCK, NULL, 0, NULL, NULL) != 0)
		goto out;
	rc = 0;
out:
	pthread_mutex_unlock(&g_sp_lock);
	EVP_PKEY_free(pai_key);
	EVP_PKEY_free(sb);
	wdev_link_reset(c->dev);
	return rc;
}

/* Open (or create) the chip's state and start libwrit-device on it. */
static int chip_open(struct chip *c, const uint8_t *uid_opt, int create)
{
	uint8_t uid[16];
	int st, err;

	if (uid_opt)
		memcpy(uid, uid_opt, 16);
	else
		do {
			if (getrandom(uid, sizeof uid, 0) != (ssize_t)sizeof uid)
				return -1;
		} while (uid[0] == 0 && uid[1] == 0); /* never all zero */
	if (mempal_init(&c->m, uid) != 0)
		return -1;
	c->m.rng_mode = c->fx.bad_rng ? MEMPAL_RNG_STUCK : MEMPAL_RNG_OS;
	st = load_state(c);
	if (st < 0)
		return -1;
	if (st == 1 && !create) {
		fprintf(stderr, "writ-devsim: %s: no such state file\n", c->state_path);
		return -1;
	}
	if (st == 0 && uid_opt && memcmp(c->m.otp, uid_opt, 16) != 0)
		fprintf(stderr, "writ-devsim: %s: --uid ignored, the state file has its own UID\n", c->state_path);
	mempal_bind(&c->m, &c->pal);
	c->pal.debug_port = debug_port_hook;
	c->m.time_offset = c->fx.time_offset;
	c->m.commit_hook = commit_hook;
	c->m.hook_arg = c;
	if (st == 1 && save_state(c, c->m.otp, c->m.state) != 0) {
		fprintf(stderr, "writ-devsim: %s: cannot write: %s\n", c->state_path, strerror(errno));
		return -1;
	}
	c->dev = malloc(sizeof *c->dev);
	if (!c->dev)
		return -1;
	err = wdev_init(c->dev, &c->pal, c->family);
	if (err) {
		fprintf(stderr, "writ-devsim: %s: the chip refuses its storage (%s)\n", c->state_path,
			wdp_status_name((unsigned)-err));
		return -1;
	}
	if (st == 1 && c->fx.provisioned) {
		enum mempal_rng keep = c->m.rng_mode;
		c->m.rng_mode = MEMPAL_RNG_OS; /* an earlier, healthy life */
		if (self_provision(c) != 0) {
			fprintf(stderr, "writ-devsim: %s: self-provisioning failed\n", c->state_path);
			return -1;
		}
		c->m.rng_mode = keep;
	}
	return 0;
}

static void chip_close(struct chip *c)
{
	if (c->dev) {
		wdev_free(c->dev);
		free(c->dev);
		c->dev = NULL;
	}
	mempal_free(&c->m);
}

/* ---- transports ---- */

static int send_all(int fd, const uint8_t *p, size_t n, int is_sock)
{
	while (n > 0) {
		ssize_t k = is_sock ? send(fd, p, n, MSG_NOSIGNAL) : write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static uint64_t prng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Serve one link until EOF, an error, a drop fault or a stop. Returns 0. */
static int serve_link(struct chip *c, int fd, int is_sock)
{
	static const size_t bufsz = 8192;
	uint8_t *in = malloc(bufsz), *out = malloc(WDP_FRAME_MAX);
	struct wdp_rx *rx = malloc(sizeof *rx); /* mirrors the chip's receiver, for drop-after */

	if (!in || !out || !rx)
		goto out;
	wdp_rx_init(rx);
	wdev_link_reset(c->dev);
	while (!g_stop) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		ssize_t n;
		size_t off = 0;
		int pr = poll(&pfd, 1, 200);

		if (pr < 0 && errno != EINTR)
			break;
		if (pr <= 0)
			continue;
		n = read(fd, in, bufsz);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break; /* EOF (or, on a pty, EIO with no client: keep the caller's loop) */
		while (off < (size_t)n) {
			struct wdp_frame f;
			size_t used = 0, fed = 0;
			int ev = wdp_rx_feed(rx, in + off, (size_t)n - off, &used, &f);

			if (ev == WDP_RX_FRAME && c->fx.drop_after && !c->dropped && ++c->frames == c->fx.drop_after) {
				c->dropped = 1;
				goto out; /* close before answering: the request is not executed */
			}
			while (fed < used) {
				size_t u = 0, ol = 0;
				if (wdev_process(c->dev, in + off + fed, used - fed, &u, out, WDP_FRAME_MAX, &ol) != 0)
					goto out;
				fed += u;
				if (ol) {
					if (c->fx.corrupt_pct && (int)(prng_next(&c->prng) % 100) < c->fx.corrupt_pct) {
						uint64_t bit = prng_next(&c->prng) % (ol * 8);
						out[bit / 8] ^= (uint8_t)(1u << (bit % 8));
					}
					if (send_all(fd, out, ol, is_sock) != 0)
						goto out;
				}
				if (!u && !ol)
					break;
			}
			off += used;
		}
	}
out:
	free(in);
	free(out);
	free(rx);
	return 0;
}

static void announce(const char *addr)
{
	pthread_mutex_lock(&g_out_lock);
	printf("ready %s\n", addr);
	fflush(stdout);
	pthread_mutex_unlock(&g_out_lock);
}

static int serve_socket(struct chip *c, int lfd, int is_unix)
{
	while (!g_stop) {
		struct pollfd pfd = { lfd, POLLIN, 0 };
		int pr = poll(&pfd, 1, 200), cfd;

		if (pr <= 0)
			continue;
		cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0)
			continue;
		serve_link(c, cfd, 1);
		close(cfd);
	}
	(void)is_unix;
	return 0;
}

static int run_unix(struct chip *c, const char *path)
{
	struct sockaddr_un sa;
	int fd;
	char addr[PATH_MAX + 8];

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa.sun_path) {
		fprintf(stderr, "writ-devsim: socket path too long: %s\n", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	(void)unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 4) != 0) {
		fprintf(stderr, "writ-devsim: unix:%s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	snprintf(addr, sizeof addr, "unix:%s", path);
	announce(addr);
	serve_socket(c, fd, 1);
	close(fd);
	(void)unlink(path);
	return 0;
}

static int run_tcp(struct chip *c, const char *spec)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	const char *colon = strrchr(spec, ':');
	char host[64], addr[96];
	char *end;
	long port;
	int fd, one = 1;

	if (!colon || (size_t)(colon - spec) >= sizeof host) {
		fprintf(stderr, "writ-devsim: bad tcp address: %s\n", spec);
		return -1;
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	if (errno || *end || end == colon + 1 || port < 0 || port > 65535 || inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "writ-devsim: bad tcp address: %s\n", spec);
		return -1;
	}
	sa.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 4) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
		fprintf(stderr, "writ-devsim: tcp:%s: %s\n", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	snprintf(addr, sizeof addr, "tcp:%s:%u", host, (unsigned)ntohs(sa.sin_port));
	announce(addr);
	serve_socket(c, fd, 0);
	close(fd);
	return 0;
}

static int run_pty(struct chip *c, const char *link)
{
	struct termios t;
	char name[128], addr[160];
	int m, s;

	m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0 || ptsname_r(m, name, sizeof name) != 0) {
		fprintf(stderr, "writ-devsim: pty: %s\n", strerror(errno));
		return -1;
	}
	/* Hold the slave open so the master never sees a hang-up between clients, and make
	 * the line raw: no echo, no line editing, 8-bit clean. */
	s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0 || tcgetattr(s, &t) != 0) {
		fprintf(stderr, "writ-devsim: %s: %s\n", name, strerror(errno));
		close(m);
		return -1;
	}
	cfmakeraw(&t);
	if (tcsetattr(s, TCSANOW, &t) != 0) {
		fprintf(stderr, "writ-devsim: %s: %s\n", name, strerror(errno));
		close(s);
		close(m);
		return -1;
	}
	if (link && *link) {
		(void)unlink(link);
		if (symlink(name, link) != 0) {
			fprintf(stderr, "writ-devsim: symlink %s: %s\n", link, strerror(errno));
			close(s);
			close(m);
			return -1;
		}
	}
	snprintf(addr, sizeof addr, "pty:%s", name);
	announce(addr);
	while (!g_stop)
		serve_link(c, m, 0); /* returns on a drop fault or stop; the line stays */
	if (link && *link)
		(void)unlink(link);
	close(s);
	close(m);
	return 0;
}

static int run_chip(struct chip *c)
{
	if (strncmp(c->listen, "unix:", 5) == 0)
		return run_unix(c, c->listen + 5);
	if (strncmp(c->listen, "tcp:", 4) == 0)
		return run_tcp(c, c->listen + 4);
	if (strcmp(c->listen, "pty") == 0)
		return run_pty(c, NULL);
	if (strncmp(c->listen, "pty:", 4) == 0)
		return run_pty(c, c->listen + 4);
	fprintf(stderr, "writ-devsim: unknown --listen %s\n", c->listen);
	return -1;
}

static void *chip_thread(void *arg)
{
	struct chip *c = arg;

	if (run_chip(c) != 0)
		g_stop = 1;
	return NULL;
}

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static int parse_long(const char *s, long lo, long hi, long *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*ret = v;
	return 0;
}

static int show(struct chip *c)
{
	struct wdev_info in;
	static const char *const lc[] = { "blank", "provisioning", "secured" };
	static const char *const fl[] = { "keys", "chain", "factory-data", "secret", "firmware", "otp", "locked", "debug" };

	if (chip_open(c, NULL, 0) != 0 || wdev_info(c->dev, &in) != 0)
		return 1;
	printf("uid: ");
	for (int i = 0; i < 16; i++)
		printf("%02X", in.uid[i]);
	printf("\nlifecycle: %s\nflags: 0x%02" PRIx32, lc[in.lifecycle <= 2 ? in.lifecycle : 0], in.flags);
	for (int i = 0; i < 8; i++)
		if (in.flags & (1u << i))
			printf(" %s", fl[i]);
	if (in.flags & WDP_F_DEBUG_UNLOCKED)
		printf(" debug-unlocked");
	printf("\nfw_version: %" PRIu32 "\nfw_size: %" PRIu32 "\nlabels:", in.fw_version, in.fw_size);
	for (unsigned i = 0; i < in.n_labels; i++)
		printf(" %s", in.labels[i]);
	/* A secure-debug unlock lives in one process's RAM: a chip opened here (like a
	 * devsim restart) is always debug-locked. The key generation is persistent. */
	printf("\ndebug: %s", in.debug_unlocked ? "unlocked" : "locked");
	if (in.debug_unlocked) {
		printf(" perms=");
		for (unsigned i = 0; i < WDP_DBG_PERMS_LEN; i++)
			printf("%02x", in.debug_perms[i]);
		printf(" seconds_left=%" PRIu32, in.debug_seconds_left);
	}
	printf("\ndebug_key_gen: %" PRIu32 "\n", in.debug_key_gen);
	return 0;
}

int main(int argc, char **argv)
{
	const char *state = NULL, *listen_at = NULL, *dir = NULL, *family = "writ-devsim";
	uint8_t uid[16];
	int have_uid = 0, do_show = 0, rc = 0;
	long count = 0, seed = 1;
	struct faults fx;
	struct chip *chips = NULL;
	pthread_t *th = NULL;
	struct sigaction sa;

	memset(&fx, 0, sizeof fx);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--show") == 0) {
			do_show = 1;
			continue;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(a, "--version") == 0) {
			host_version_print("writ-devsim");
			return 0;
		}
		if (!v) {
			usage(stderr);
			return 2;
		}
		i++;
		if (strcmp(a, "--state") == 0)
			state = v;
		else if (strcmp(a, "--listen") == 0)
			listen_at = v;
		else if (strcmp(a, "--dir") == 0)
			dir = v;
		else if (strcmp(a, "--family") == 0 && strlen(v) >= 1 && strlen(v) <= WDEV_FAMILY_MAX)
			family = v;
		else if (strcmp(a, "--uid") == 0 && parse_hex(v, uid, 16) == 0) {
			static const uint8_t z[16];
			if (memcmp(uid, z, 16) == 0) {
				fprintf(stderr, "writ-devsim: the UID must not be all zero\n");
				return 2;
			}
			have_uid = 1;
		} else if (strcmp(a, "--count") == 0 && parse_long(v, 1, 1024, &count) == 0)
			;
		else if (strcmp(a, "--seed") == 0 && parse_long(v, 0, LONG_MAX, &seed) == 0)
			;
		else if (strcmp(a, "--time-offset") == 0 && parse_long(v, -3650L * 86400, 3650L * 86400, &fx.time_offset) == 0)
			;
		else if (strcmp(a, "--fault") == 0) {
			long n;
			if (strncmp(v, "drop-after=", 11) == 0 && parse_long(v + 11, 1, LONG_MAX, &n) == 0)
				fx.drop_after = n;
			else if (strncmp(v, "corrupt=", 8) == 0 && parse_long(v + 8, 0, 100, &n) == 0)
				fx.corrupt_pct = (int)n;
			else if (strcmp(v, "bad-rng") == 0)
				fx.bad_rng = 1;
			else if (strcmp(v, "provisioned") == 0)
				fx.provisioned = 1;
			else if (strncmp(v, "crash-at=", 9) == 0 && parse_long(v + 9, 1, LONG_MAX, &n) == 0)
				fx.crash_at = n;
			else {
				fprintf(stderr, "writ-devsim: unknown fault: %s\n", v);
				return 2;
			}
		} else {
			fprintf(stderr, "writ-devsim: bad option or value: %s %s\n", a, v);
			usage(stderr);
			return 2;
		}
	}
	if (count > 1 && (!dir || state || have_uid)) {
		fprintf(stderr, "writ-devsim: --count N needs --dir DIR (and no --state / --uid)\n");
		return 2;
	}
	if (count <= 1 && !dir && !state) {
		usage(stderr);
		return 2;
	}
	if (count == 0)
		count = 1;
	chips = calloc((size_t)count, sizeof *chips);
	th = calloc((size_t)count, sizeof *th);
	if (!chips || !th)
		return 1;
	for (long i = 0; i < count; i++) {
		struct chip *c = &chips[i];
		int n;
		c->index = (int)i;
		c->fx = fx;
		c->family = family;
		c->prng = (uint64_t)seed * 1000003u + (uint64_t)i;
		if (state)
			n = snprintf(c->state_path, sizeof c->state_path, "%s", state);
		else
			n = snprintf(c->state_path, sizeof c->state_path, "%s/chip-%ld.state", dir, i);
		if (n < 0 || (size_t)n >= sizeof c->state_path)
			return 2;
		if (count > 1 || (dir && !listen_at)) {
			if (listen_at && strcmp(listen_at, "unix") != 0 && strncmp(listen_at, "unix:", 5) != 0) {
				fprintf(stderr, "writ-devsim: only unix sockets with --count\n");
				return 2;
			}
			n = snprintf(c->listen, sizeof c->listen, "unix:%s/chip-%ld.sock", dir, i);
		} else if (listen_at) {
			n = snprintf(c->listen, sizeof c->listen, "%s", listen_at);
		} else if (!do_show) {
			fprintf(stderr, "writ-devsim: --listen is required\n");
			return 2;
		}
		if (n < 0 || (size_t)n >= sizeof c->listen)
			return 2;
	}
	if (do_show) {
		rc = show(&chips[0]);
		chip_close(&chips[0]);
		free(chips);
		free(th);
		return rc;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (long i = 0; i < count; i++)
		if (chip_open(&chips[i], have_uid ? uid : NULL, 1) != 0) {
			for (long j = 0; j <= i; j++)
				chip_close(&chips[j]);
			free(chips);
			free(th);
			return 1;
		}
	for (long i = 0; i < count; i++)
		if (pthread_create(&th[i], NULL, chip_thread, &chips[i]) != 0) {
			g_stop = 1;
			count = i;
			rc = 1;
			break;
		}
	for (long i = 0; i < count; i++)
		pthread_join(th[i], NULL);
	for (long i = 0; i < count; i++)
		chip_close(&chips[i]);
	free(chips);
	free(th);
	return rc;
}
